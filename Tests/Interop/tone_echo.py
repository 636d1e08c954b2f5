#!/usr/bin/env python3
"""One aiortc call to Parley's call API: send a tone, check that the echo comes back at the
same frequency (within 20 Hz) and loudness (within 6 dB of what was encoded).
Prints one JSON line; exit 0 on pass, 1 on failure (with "reason")."""

import argparse
import asyncio
import sys
from typing import Optional

import peers

FREQUENCY_TOLERANCE_HZ = 20.0
LEVEL_TOLERANCE_DB = 6.0


def check(call: peers.EchoCall) -> str:
    """Returns why the call failed, or "" when it passed."""
    if call.error:
        return call.error
    if abs(call.dominant_hz - call.frequency) > FREQUENCY_TOLERANCE_HZ:
        return f"dominant frequency {call.dominant_hz:.1f} Hz, sent {call.frequency:.1f} Hz"
    if abs(call.received_rms_dbfs - call.encoded_rms_dbfs) > LEVEL_TOLERANCE_DB:
        return f"received {call.received_rms_dbfs:.1f} dBFS, encoded {call.encoded_rms_dbfs:.1f} dBFS"
    if call.delete_status != 204:
        return f"DELETE returned {call.delete_status}, expected 204"
    return ""


async def run(url: str, frequency: float, seconds: float, timeout: float, all_interfaces: bool,
              headers: Optional[dict] = None) -> dict:
    pinned = False if all_interfaces else peers.pin_ice_to_loopback_if_local(url)
    call = await peers.echo_call(url, frequency, seconds, timeout, headers=headers)
    reason = check(call)
    return {"test": "tone_echo", "pass": not reason, "reason": reason or None,
            "ice_pinned_to_loopback": pinned, **call.summary()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument("--freq", type=float, default=1000.0, help="tone frequency in Hz")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of echo to record")
    parser.add_argument("--timeout", type=float, default=20.0, help="limit for the whole call, seconds")
    parser.add_argument("--all-interfaces", action="store_true",
                        help="let aiortc gather its usual non-loopback addresses even for a loopback server "
                             "(the server then sees checks from another local address)")
    parser.add_argument("--header", action="append", default=[], metavar="NAME:VALUE",
                        help="a header sent with the offer's POST (repeatable)")
    args = parser.parse_args()
    headers = dict(header.split(":", 1) for header in args.header)
    report = asyncio.run(run(args.url, args.freq, args.seconds, args.timeout, args.all_interfaces,
                             {name.strip(): value.strip() for name, value in headers.items()}))
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
