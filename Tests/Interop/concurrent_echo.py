#!/usr/bin/env python3
"""Many simultaneous aiortc calls, each sending its own tone (base + index * step Hz). Each
call must get its own tone back as the dominant frequency (within 20 Hz), and the energy
at every other call's frequency must be at least 20 dB below its own: no crossed streams.
Prints one JSON summary line; exit 0 when every call passes, 1 otherwise."""

import argparse
import asyncio
import concurrent.futures
import sys
import time

import peers

FREQUENCY_TOLERANCE_HZ = 20.0
ISOLATION_DB = 20.0


def check(call: peers.EchoCall, all_frequencies: list) -> dict:
    """Per-call verdict with the isolation measurement."""
    verdict = {"pass": False, "reason": None, **call.summary()}
    if call.error:
        verdict["reason"] = call.error
        return verdict
    frequencies, power = peers.spectrum(call.samples)
    own = peers.band_level_db(frequencies, power, call.frequency)
    others = [(f, peers.band_level_db(frequencies, power, f)) for f in all_frequencies if f != call.frequency]
    loudest_other, loudest_level = max(others, key=lambda pair: pair[1]) if others else (None, float("-inf"))
    verdict["isolation_db"] = round(own - loudest_level, 1) if others else None
    verdict["loudest_other_hz"] = loudest_other
    if abs(call.dominant_hz - call.frequency) > FREQUENCY_TOLERANCE_HZ:
        verdict["reason"] = f"dominant frequency {call.dominant_hz:.1f} Hz, sent {call.frequency:.1f} Hz"
    elif others and own - loudest_level < ISOLATION_DB:
        verdict["reason"] = (f"energy at {loudest_other:.0f} Hz (another call's tone) is only "
                             f"{own - loudest_level:.1f} dB below this call's own tone")
    elif call.delete_status != 204:
        verdict["reason"] = f"DELETE returned {call.delete_status}, expected 204"
    else:
        verdict["pass"] = True
    return verdict


async def run(url: str, calls: int, base: float, step: float, seconds: float, timeout: float) -> dict:
    pinned = peers.pin_ice_to_loopback_if_local(url)
    asyncio.get_running_loop().set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=calls + 4))
    frequencies = [base + index * step for index in range(calls)]
    started = time.monotonic()
    results = await asyncio.gather(*(peers.echo_call(url, f, seconds, timeout) for f in frequencies))
    verdicts = [check(call, frequencies) for call in results]
    failures = [v for v in verdicts if not v["pass"]]

    def worst(key, pick):
        values = [v[key] for v in verdicts if v.get(key) is not None]
        return pick(values) if values else None

    return {
        "test": "concurrent_echo", "pass": not failures, "calls": calls, "passed": calls - len(failures),
        "ice_pinned_to_loopback": pinned, "wall_seconds": round(time.monotonic() - started, 1),
        "max_post_ms": worst("post_ms", max), "max_dtls_connected_ms": worst("dtls_connected_ms", max),
        "max_first_audio_ms": worst("first_audio_ms", max), "min_isolation_db": worst("isolation_db", min),
        "failures": [{"frequency": v["frequency"], "reason": v["reason"]} for v in failures],
        "calls_detail": verdicts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument("--calls", type=int, default=20, help="number of simultaneous calls")
    parser.add_argument("--base", type=float, default=400.0, help="first call's tone, Hz")
    parser.add_argument("--step", type=float, default=60.0, help="tone spacing between calls, Hz")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of echo to record per call")
    parser.add_argument("--timeout", type=float, default=40.0, help="limit for each call, seconds")
    parser.add_argument("--detail", action="store_true", help="keep per-call details in the JSON")
    args = parser.parse_args()
    if args.calls < 1 or args.step <= 2 * FREQUENCY_TOLERANCE_HZ:
        parser.error("--calls must be at least 1 and --step above 40 Hz")
    report = asyncio.run(run(args.url, args.calls, args.base, args.step, args.seconds, args.timeout))
    if not args.detail:
        report.pop("calls_detail")
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
