#!/usr/bin/env python3
"""The official `openai` Python SDK (PyPI) pointed at Parley with `base_url`, as an app
server written for the OpenAI Realtime API would use it: `realtime.calls.create` posts an
aiortc offer with session settings (multipart `sdp` + `session`), the answer connects,
`realtime.calls.hangup` ends the call (twice: it is idempotent), a hang-up of a call that
does not exist raises the SDK's NotFoundError, and the SIP-only `accept` raises its
BadRequestError naming why. Then the browser pattern: `realtime.client_secrets.create`
mints a short-lived `ek_` secret with session settings, a client holding only that secret
creates a call and hangs it up, and once the secret has expired the SDK gets
AuthenticationError (401 invalid_client_secret).

Prints one JSON line; exit 0 when every step did what it should."""

import argparse
import asyncio
import sys
import time

import openai
from aiortc import RTCPeerConnection, RTCSessionDescription

import peers


async def run(url: str, key: str, timeout: float) -> dict:
    peers.pin_ice_to_loopback_if_local(url)
    client = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key=key, max_retries=0, timeout=timeout)
    pc = RTCPeerConnection()
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected":
            connected.set()

    pc.addTrack(peers.ToneTrack(440.0))
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    report = {"sdk": openai.__version__}
    try:
        raw = await asyncio.to_thread(
            client.realtime.calls.with_raw_response.create,
            sdp=pc.localDescription.sdp, session={"type": "realtime", "instructions": "Be brief."})
        location = raw.headers.get("location") or ""
        report["create_status"] = raw.status_code
        report["location"] = location
        call_id = location.rsplit("/", 1)[-1]
        if raw.status_code != 201 or not call_id.startswith("rtc_"):
            return {**report, "reason": f"calls.create answered {raw.status_code} with Location {location!r}"}
        await pc.setRemoteDescription(RTCSessionDescription(sdp=raw.content.decode(), type="answer"))
        try:
            await asyncio.wait_for(connected.wait(), timeout)
        except asyncio.TimeoutError:
            return {**report, "reason": f"the call did not connect within {timeout:.0f} s"}

        try:
            await asyncio.to_thread(client.realtime.calls.accept, call_id, type="realtime")
            return {**report, "reason": "calls.accept of a WebRTC call did not raise"}
        except openai.BadRequestError as error:
            report["accept_error"] = (error.body or {}).get("code") if isinstance(error.body, dict) else str(error.body)
        if report["accept_error"] != "sip_only":
            return {**report, "reason": f"calls.accept raised with code {report['accept_error']!r}, not sip_only"}

        for _ in range(2):
            await asyncio.to_thread(client.realtime.calls.hangup, call_id)
        report["hangup"] = "ok twice"
        try:
            await asyncio.to_thread(client.realtime.calls.hangup, "rtc_000000000000000000000000")
            return {**report, "reason": "hangup of a call that does not exist did not raise"}
        except openai.NotFoundError as error:
            report["missing_error"] = (error.body or {}).get("code") if isinstance(error.body, dict) else str(error.body)
        if report["missing_error"] != "no_such_call":
            return {**report, "reason": f"hangup of a missing call raised {report['missing_error']!r}"}
        return {**report, **await ephemeral(client, url, timeout), "reason": None}
    except Failure as failure:
        return {**report, "reason": str(failure)}
    except openai.APIError as error:
        return {**report, "reason": f"{type(error).__name__}: {error}"}
    finally:
        await pc.close()


class Failure(Exception):
    pass


async def ephemeral(server: openai.OpenAI, url: str, timeout: float) -> dict:
    """Mints a 10 s secret, calls with it, and checks it is refused once expired."""
    minted = await asyncio.to_thread(
        server.realtime.client_secrets.create,
        expires_after={"anchor": "created_at", "seconds": 10},
        session={"type": "realtime", "instructions": "Minted by the app server."})
    report = {"secret_prefix": minted.value[:3], "secret_session_instructions": minted.session.instructions}
    if not minted.value.startswith("ek_") or minted.session.instructions != "Minted by the app server.":
        raise Failure(f"client_secrets.create answered {report}")
    browser = openai.OpenAI(base_url=url.rstrip("/") + "/v1", api_key=minted.value, max_retries=0, timeout=timeout)
    pc = RTCPeerConnection()
    pc.addTrack(peers.ToneTrack(440.0))
    pc.createDataChannel("oai-events")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        raw = await asyncio.to_thread(browser.realtime.calls.with_raw_response.create, sdp=pc.localDescription.sdp)
        if raw.status_code != 201:
            raise Failure(f"a call with the client secret answered {raw.status_code}")
        call_id = (raw.headers.get("location") or "").rsplit("/", 1)[-1]
        await asyncio.to_thread(browser.realtime.calls.hangup, call_id)
        report["call_with_secret"] = "created and hung up"
        # Past its expiry (10 s, plus a second for the clock's granularity) it is refused.
        await asyncio.sleep(max(0.0, minted.expires_at + 1.5 - time.time()))
        try:
            await asyncio.to_thread(browser.realtime.calls.create, sdp=pc.localDescription.sdp)
            raise Failure("a call with an expired client secret was accepted")
        except openai.AuthenticationError as error:
            code = (error.body or {}).get("code") if isinstance(error.body, dict) else str(error.body)
            if code != "invalid_client_secret":
                raise Failure(f"an expired client secret was refused with {code!r}")
            report["expired_secret"] = "401 invalid_client_secret"
    finally:
        await pc.close()
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the transceiver's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", default="parley-interop", help="API key (any value when the server has none)")
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()
    report = asyncio.run(run(args.url, args.key, args.timeout))
    report = {"test": "openai_sdk", "pass": report.get("reason") is None, **report}
    peers.print_json(report)
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
