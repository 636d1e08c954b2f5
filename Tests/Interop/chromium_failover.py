#!/usr/bin/env python3
"""Ingress failover without renegotiation: headless Chromium calls a transceiver whose answer
carries two relays' addresses (`--advertise PRIMARY --advertise SECONDARY`, descending
priority); the call runs through the primary; the primary relay is killed (SIGKILL) mid-call;
the call must go on through the secondary with no new offer or answer, the echoed audio must
come back, and the oai-events data channel must stay open.

Measured from the page (getStats every 20 ms): the selected pair's remote port before and
after, and the audio gap: the longest time in which no new RTP packet arrived, from the kill
until audio flows through the secondary.

aiortc is run the same way for the record, not judged: its ICE agent (aioice) stops checking
once it has nominated a pair, so it never checks the secondary, and it does not move a call
between pairs; when the primary dies its audio stops, and the transceiver ends the call when
consent expires (RFC 7675, 30 s). The report says what it did (packets through each relay,
audio at the end). Prints one JSON line; exit 0 when Chromium's call failed over.

Every process is started on free ports and stopped by PID."""

import argparse
import asyncio
import os
import sys
import tempfile
import time

import chromium_demo
import peers
import relay_scenarios

TRACE_SCRIPT = """
window.failoverTrace = [];
window.failoverTimer = setInterval(async () => {
  const pc = call && call.pc;
  if (!pc) return;
  const report = await pc.getStats();
  let packets = 0, pairId = null;
  report.forEach((stat) => {
    if (stat.type === "inbound-rtp" && stat.kind === "audio") packets = stat.packetsReceived;
    if (stat.type === "transport" && stat.selectedCandidatePairId) pairId = stat.selectedCandidatePairId;
  });
  const pair = pairId && report.get(pairId);
  const remote = pair && report.get(pair.remoteCandidateId);
  window.failoverTrace.push([performance.now(), packets, remote ? remote.port : null]);
}, 20);
return true;
"""


def audio_gap(trace: list, killed_at: float) -> float:
    """The longest stretch (ms) after `killed_at` (page clock) with no new packet, up to the
    first packet that follows it."""
    longest, last_change, last_packets = 0.0, None, None
    for at, packets, _ in trace:
        if last_packets is None or packets != last_packets:
            if last_change is not None and at >= killed_at:
                longest = max(longest, at - max(last_change, killed_at))
            last_change, last_packets = at, packets
    return round(longest, 1)


def aiortc_failover(parley: str) -> dict:
    """The same failover with aiortc as the client: what it does, measured, not judged."""
    with relay_scenarios.Stack(parley) as stack:
        primary_public, primary_backbone, secondary_public, secondary_backbone = relay_scenarios.udp_ports(4)
        primary_admin, secondary_admin = peers.free_port(), peers.free_port()
        primary = stack.relay("primary", primary_public, primary_backbone, primary_admin)
        stack.relay("secondary", secondary_public, secondary_backbone, secondary_admin)
        url = stack.transceiver("transceiver", primary_public, ["--advertise", f"127.0.0.1:{secondary_public}"])
        peers.pin_ice_to_loopback_if_local(url)

        def forwarded(admin: int) -> float:
            return relay_scenarios.metric(f"http://127.0.0.1:{admin}", "parley_relay_packets_forwarded_total")

        before = {}

        def kill() -> None:
            before.update(primary=forwarded(primary_admin), secondary=forwarded(secondary_admin))
            primary.kill()

        result = asyncio.run(relay_scenarios.call_through_restart(url, kill))
        return {"primary_packets_before_kill": before.get("primary"),
                "secondary_packets_before_kill": before.get("secondary"),
                "secondary_packets_at_end": forwarded(secondary_admin), "audio_at_end": result["audio_at_end"]}


def run(parley: str, chromedriver: str, chromium: str, hold: float, timeout: float) -> dict:
    report = {"test": "chromium_failover"}
    with relay_scenarios.Stack(parley) as stack, tempfile.TemporaryDirectory(prefix="parley-failover-") as scratch:
        primary_public, primary_backbone, secondary_public, secondary_backbone = relay_scenarios.udp_ports(4)
        primary = stack.relay("primary", primary_public, primary_backbone, peers.free_port())
        stack.relay("secondary", secondary_public, secondary_backbone, peers.free_port())
        url = stack.transceiver("transceiver", primary_public, ["--advertise", f"127.0.0.1:{secondary_public}"])
        wav = os.path.join(scratch, "tone.wav")
        chromium_demo.write_tone_wav(wav, 440.0, seconds=30)
        with chromium_demo.chromium_session(chromedriver, chromium, scratch,
                                            [f"--use-file-for-fake-audio-capture={wav}"]) as driver:
            result = chromium_demo.drive(driver, url + "/", timeout, require_events=True, min_audio_energy=0.01,
                                         hang_up=False)
            reason = chromium_demo.verdict(result | {"after_hangup": "closed"}, timeout, True, 0.01)
            if reason:
                return peers.report_verdict(report, f"before the failover: {reason}")
            driver.script(TRACE_SCRIPT)
            time.sleep(hold)
            killed_at = driver.script("return performance.now()")
            primary.kill()
            deadline = time.monotonic() + timeout
            trace = []
            while time.monotonic() < deadline:
                time.sleep(0.5)
                trace = driver.script("return window.failoverTrace") or []
                after = [sample for sample in trace if sample[0] > killed_at]
                if after and after[-1][2] == secondary_public and after[-1][1] > after[0][1] + 50:
                    break  # a second of audio through the secondary
            status = driver.script("return window.parleyStatus") or {}
            sctp = driver.script("return call && call.pc.sctp ? call.pc.sctp.state : null")
            driver.script("clearInterval(window.failoverTimer); return true")
            before = [sample for sample in trace if sample[0] <= killed_at]
            after = [sample for sample in trace if sample[0] > killed_at]
            report.update({
                "port_before": before[-1][2] if before else None, "port_after": after[-1][2] if after else None,
                "primary": primary_public, "secondary": secondary_public,
                "packets_after_kill": (after[-1][1] - after[0][1]) if after else 0,
                "audio_gap_ms": audio_gap(trace, killed_at),
                "call_state": status.get("state"), "sctp_state": sctp,
            })
            driver.click("#connect")  # hang up
    reason = None
    if report["port_before"] != report["primary"]:
        reason = f"the call did not start on the primary relay (selected remote port {report['port_before']})"
    elif report["port_after"] != report["secondary"] or report["packets_after_kill"] <= 50:
        reason = (f"no audio through the secondary after the primary died (selected port {report['port_after']}, "
                  f"{report['packets_after_kill']} packets)")
    elif report["call_state"] != "connected" or report["sctp_state"] != "connected":
        reason = "the call or its data channel did not survive the failover"
    report["aiortc_for_the_record"] = aiortc_failover(parley)
    return peers.report_verdict(report, reason)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parley", default=".build/debug/parley", help="the parley binary")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default="")
    parser.add_argument("--hold", type=float, default=2.0, help="seconds of call through the primary before the kill")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()
    return run(os.path.abspath(args.parley), args.chromedriver, args.chromium, args.hold, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
