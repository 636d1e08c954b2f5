#!/usr/bin/env python3
"""Headless Chromium presses DTMF keys (RTCDTMFSender, RFC 4733 telephone-event in the audio
stream) on a call to a transceiver whose backend is the example WebSocket backend: the
transceiver negotiates telephone-event, reads the keys from SRTP, hands them to the backend
as `parley.dtmf` (backend protocol v2), and the example backend's answer for each key comes
back to the page on `oai-events`.

Prints one JSON line; exit 0 when the page got back every key it pressed, in order."""

import argparse
import sys
import tempfile

import peers
from chromium_demo import WebDriverError, chromium_session

KEYS = "1#9"

SCRIPT = """
const api = arguments[0];
const keys = arguments[1];
const done = arguments[arguments.length - 1];
(async () => {
  const pc = new RTCPeerConnection();
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const sender = pc.addTrack(stream.getAudioTracks()[0], stream);
  const channel = pc.createDataChannel('oai-events');
  const heard = [];
  channel.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === 'parley.dtmf') heard.push(event.key);
  };
  await pc.setLocalDescription(await pc.createOffer());
  const post = await fetch(api + '/v1/realtime/calls', {method: 'POST', body: pc.localDescription.sdp,
    headers: {'Content-Type': 'application/sdp'}});
  const answer = await post.text();
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  const until = async (condition, ms) => {
    const end = Date.now() + ms;
    while (!condition() && Date.now() < end) await new Promise(r => setTimeout(r, 20));
    return condition();
  };
  await until(() => pc.connectionState === 'connected' && channel.readyState === 'open', 10000);
  const canInsert = !!(sender.dtmf && sender.dtmf.canInsertDTMF);
  if (canInsert) sender.dtmf.insertDTMF(keys, 120, 80);
  await until(() => heard.length >= keys.length, 10000);
  const location = post.headers.get('Location');
  if (location) await fetch(new URL(location, api), {method: 'DELETE'});
  pc.close();
  done({post: post.status, negotiated: answer.includes('telephone-event/48000'), canInsert: canInsert, heard: heard.join('')});
})().catch(error => done({error: String(error)}));
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="base URL of a transceiver whose backend is examples/backend")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default="")
    args = parser.parse_args()
    report = {"test": "chromium_dtmf", "api": args.api, "pressed": KEYS}
    reason = ""
    with tempfile.TemporaryDirectory(prefix="parley-dtmf-") as scratch:
        try:
            with chromium_session(args.chromedriver, args.chromium, scratch) as driver:
                driver.in_session("POST", "/timeouts", {"script": 40_000})
                driver.open(args.api.rstrip("/") + "/healthz")
                result = driver.in_session("POST", "/execute/async", {"script": SCRIPT, "args": [args.api.rstrip("/"), KEYS]}, timeout=50)
            report["result"] = result
            if not result or result.get("error"):
                reason = f"the page failed: {result}"
            elif not result.get("negotiated"):
                reason = "the answer did not negotiate telephone-event/48000"
            elif not result.get("canInsert"):
                reason = "Chromium could not insert DTMF on the call"
            elif result.get("heard") != KEYS:
                reason = f"pressed {KEYS!r}, the backend's answers named {result.get('heard')!r}"
        except (WebDriverError, KeyError, TypeError) as error:
            reason = f"webdriver: {error}"
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    sys.exit(main())
