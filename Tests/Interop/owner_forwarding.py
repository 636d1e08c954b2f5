#!/usr/bin/env python3
"""Control requests reach the call's owner: a call is made on one transceiver (which names
itself in its call ids, --control-address), then the official `openai` SDK, pointed at
another transceiver of the same cluster (as a load balancer would send it), joins the call's
sideband and hangs it up; both are forwarded to the owner, whose call ends. A call id whose
owner part was altered gets 404 rather than being forwarded.

Prints one JSON line; exit 0 when every step did what it should."""

import argparse
import asyncio
import sys
import time
import urllib.parse

import openai

import peers


class Failure(Exception):
    pass


async def run(owner: str, other: str, timeout: float) -> dict:
    peers.pin_ice_to_loopback_if_local(owner)
    report: dict = {}
    call = peers.AgentCall(owner)
    await call.connect(timeout)
    call_id = call.location.rsplit("/", 1)[-1]
    report["call_id_length"] = len(call_id)
    if len(call_id) <= len("rtc_") + 24:
        raise Failure(f"the owner's call id {call_id} names no owner")
    client = openai.AsyncOpenAI(base_url=other.rstrip("/") + "/v1", api_key="x", max_retries=0, timeout=timeout)
    try:
        async with client.realtime.connect(call_id=call_id) as connection:
            first = await asyncio.wait_for(connection.recv(), timeout)
            report["sideband_via_other"] = first.type
            if first.type != "session.created":
                raise Failure(f"the sideband through the other transceiver began with {first.type}")

        await client.realtime.calls.hangup(call_id)
        ended = await call.wait_ended(timeout)
        report["hangup_via_other"] = "call ended at the owner" if ended else "call still up"
        if not ended:
            raise Failure("a hangup sent to the other transceiver did not end the owner's call")
        await client.realtime.calls.hangup(call_id)  # idempotent, answered by the owner

        forged = call_id[:-1] + ("0" if call_id[-1] != "0" else "1")
        status = await asyncio.to_thread(peers.delete_call, urllib.parse.urljoin(other, "/v1/realtime/calls/" + forged))
        report["forged_owner"] = status
        if status != 404:
            raise Failure(f"a call id with an altered owner got {status}, not 404")
    finally:
        await call.close()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", required=True, help="base URL of the transceiver that owns the call")
    parser.add_argument("--other", required=True, help="base URL of another transceiver of the cluster")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    try:
        report = {"test": "owner_forwarding", "pass": True, **asyncio.run(run(args.owner, args.other, args.timeout))}
    except (Failure, peers.PeerError, openai.OpenAIError) as error:
        report = {"test": "owner_forwarding", "pass": False, "reason": f"{type(error).__name__}: {error}"}
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
