#!/usr/bin/env python3
"""Headless Chromium on a page of another origin calls Parley's API the way a browser app
does: it posts its offer with an SDK's own request header (so the browser sends a CORS
preflight first), reads `Location` from the answer, applies the answer, reads the JSON error
of a DELETE for a call that does not exist, and deletes its call. Every step is the
browser's own CORS enforcement: a header not exposed, or a preflight not allowing the
header, makes the page see null or a network error.

With --server-key (a transceiver that requires keys), the test plays the app server: it
mints an ephemeral client secret with the key and hands the page only that; the page makes
and deletes its call with the secret, and the same API refuses the server key when the
page itself sends it (401 server_key_from_browser).

Prints one JSON line; exit 0 when every step did what it should."""

import argparse
import http.server
import json
import sys
import tempfile
import threading

import peers
from chromium_demo import WebDriverError, chromium_session

PAGE = b"<!doctype html><title>another origin</title><p>An app on another origin.</p>"

SCRIPT = """
const api = arguments[0];
const secret = arguments[1];
const serverKey = arguments[2];
const done = arguments[arguments.length - 1];
const auth = secret ? {'Authorization': 'Bearer ' + secret} : {};
(async () => {
  let pageKey = null;
  if (serverKey) {
    const refused = await fetch(api + '/v1/realtime/calls', {method: 'POST', body: 'v=0',
      headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + serverKey}});
    pageKey = {status: refused.status, code: (await refused.json()).error.code};
  }
  const pc = new RTCPeerConnection();
  pc.addTransceiver('audio', {direction: 'sendrecv'});
  pc.createDataChannel('oai-events');
  await pc.setLocalDescription(await pc.createOffer());
  const post = await fetch(api + '/v1/realtime/calls', {method: 'POST', body: pc.localDescription.sdp,
    headers: {'Content-Type': 'application/sdp', 'X-OpenAI-Agents-SDK': 'parley-interop', ...auth}});
  const location = post.headers.get('Location');
  await pc.setRemoteDescription({type: 'answer', sdp: await post.text()});
  const missing = await fetch(api + '/v1/realtime/calls/rtc_000000000000000000000000', {method: 'DELETE', headers: auth});
  const missingBody = await missing.json();
  const hangup = location ? await fetch(new URL(location, api), {method: 'DELETE', headers: auth}) : null;
  pc.close();
  done({post: post.status, location: location, missing: missing.status, pageKey: pageKey,
        missingCode: missingBody.error && missingBody.error.code, delete: hangup && hangup.status});
})().catch(error => done({error: String(error)}));
"""


class PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def mint_secret(api: str, server_key: str) -> str:
    """The app server's part: an ephemeral client secret minted with the server key."""
    status, _, body = peers.http_request(
        api.rstrip("/") + "/v1/realtime/client_secrets", "POST",
        json.dumps({"expires_after": {"anchor": "created_at", "seconds": 60}}).encode(), "application/json",
        headers={"Authorization": f"Bearer {server_key}"})
    if status != 200:
        raise peers.PeerError(f"minting a client secret answered {status}: {body[:200]!r}")
    return json.loads(body)["value"]


def verdict(result: dict, server_key: str) -> str:
    if result.get("error"):
        return f"the page's calls failed: {result['error']}"
    if result.get("post") != 201:
        return f"POST answered {result.get('post')}"
    if not str(result.get("location") or "").startswith("/v1/realtime/calls/rtc_"):
        return f"the page read Location as {result.get('location')!r}"
    if result.get("missing") != 404 or result.get("missingCode") != "no_such_call":
        return f"the page read the error of a missing call as {result.get('missing')} {result.get('missingCode')!r}"
    if result.get("delete") != 204:
        return f"DELETE of the page's call answered {result.get('delete')}"
    if server_key and result.get("pageKey") != {"status": 401, "code": "server_key_from_browser"}:
        return f"the server key sent by the page was answered {result.get('pageKey')}"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the transceiver's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--chromium", default="")
    parser.add_argument("--server-key", default="", help="the transceiver's API key: the page then gets a client secret only")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = f"http://127.0.0.1:{server.server_address[1]}/"
    report = {"test": "chromium_cross_origin", "page": page, "api": args.api}
    reason = ""
    with tempfile.TemporaryDirectory(prefix="parley-cors-") as scratch:
        try:
            with chromium_session(args.chromedriver, args.chromium, scratch) as driver:
                driver.in_session("POST", "/timeouts", {"script": 30_000})
                driver.open(page)
                secret = mint_secret(args.api, args.server_key) if args.server_key else ""
                report["client_secret"] = bool(secret)
                result = driver.in_session("POST", "/execute/async", {
                    "script": SCRIPT, "args": [args.api.rstrip("/"), secret, args.server_key]}, timeout=40)
            report["result"] = result
            reason = verdict(result or {}, args.server_key)
        except peers.PeerError as error:
            reason = str(error)
        except (WebDriverError, KeyError, TypeError) as error:
            reason = f"webdriver: {error}"
        finally:
            server.shutdown()
    return peers.report_verdict(report, reason)


if __name__ == "__main__":
    sys.exit(main())
