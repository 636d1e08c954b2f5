#!/usr/bin/env bash
# Call set-up time against its round-trip floor: POST to first echoed audio through the relay,
# on loopback and across a path with a 50 ms round trip made by Benchmarks/impair.
#
#   loadgen --HTTP--> [impair --tcp] --> transceiver (signaling)
#   loadgen --UDP---> [impair --udp] --> relay public --> transceiver (media)
#
# Runs, each on a fresh relay + transceiver (--backend packet-echo, which returns each Opus
# packet: transport only, no codec or agent in the way):
#   loopback   no proxy; the answer's candidate is the relay's public address
#   proxy-0ms  the proxy in the path with no delay: its own cost
#   rtt-50ms   the proxy with 25 ms each way; the transceiver advertises the proxy's UDP
#              address, so media goes client -> proxy -> relay -> transceiver
# Each run: `parley loadgen --no-sped` (the classic handshake; Benchmarks/fast_setup.py
# measures SPED and SNAP) with CALLS calls (default 20) at 2 new calls per second (a call
# is set up in well under 0.5 s, so they do not overlap). Writes OUT_DIR/setup-rtt.md (method,
# floors, median per stage vs floor) and each run's JSON report and logs. About 1.5 minutes.
# As root, every process of a run (relay, transceiver, proxy, loadgen) runs SCHED_FIFO: on a
# shared, busy machine the scheduler otherwise adds tens of ms to loopback stages at random
# (FIFO=0 turns that off; the report says which).
# Usage: Benchmarks/setup_rtt.sh OUT_DIR   (PARLEY: binary, default .build/release/parley)
set -uo pipefail
if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
parley=${PARLEY:-$root/.build/release/parley}
calls=${CALLS:-20}
delay_ms=25
[[ -x "$parley" ]] || { echo "no $parley: swift build -c release --product parley" >&2; exit 1; }
"$root/Benchmarks/impair/build.sh" || exit 1
fifo=()
if [[ $(id -u) == 0 && ${FIFO:-1} != 0 ]]; then fifo=(chrt -f 5); fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    pids=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_ports N: N ports free for both UDP and TCP, below the kernel's ephemeral range.
free_ports() { python3 "$root/Benchmarks/free_ports.py" "$1"; }

wait_http() {
    local url=$1 pid=$2 log=$3 tries=0
    until python3 -c "import urllib.request; urllib.request.urlopen('$url', timeout=1)" 2>/dev/null; do
        tries=$((tries + 1))
        if ((tries >= 150)) || ! kill -0 "$pid" 2>/dev/null; then
            echo "not up: $url; log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
}

# run NAME DELAY_MS|none: one stack, one loadgen run, everything stopped afterwards.
run() {
    local name=$1 delay=$2
    local relay_public relay_internal relay_admin t_http t_udp p_http p_udp
    read -r relay_public relay_internal relay_admin t_http t_udp p_http p_udp < <(free_ports 7)
    local advertise=127.0.0.1:$relay_public url=http://127.0.0.1:$t_http/v1/realtime/calls
    if [[ $delay != none ]]; then
        advertise=127.0.0.1:$p_udp
        url=http://127.0.0.1:$p_http/v1/realtime/calls
    fi
    "${fifo[@]}" "$parley" relay --public "127.0.0.1:$relay_public" --internal "127.0.0.1:$relay_internal" --workers 1 \
        --no-pin --admin "127.0.0.1:$relay_admin" --log-level warning >"$out/$name-relay.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$relay_admin/healthz" $! "$out/$name-relay.log" || return 1
    "${fifo[@]}" "$parley" transceiver --http "127.0.0.1:$t_http" --udp "127.0.0.1:$t_udp" --advertise "$advertise" \
        --relay 127.0.0.1 --backend packet-echo --log-level warning >"$out/$name-transceiver.log" 2>&1 &
    local transceiver=$!
    pids+=($transceiver)
    wait_http "http://127.0.0.1:$t_http/healthz" $transceiver "$out/$name-transceiver.log" || return 1
    if [[ $delay != none ]]; then
        "${fifo[@]}" "$root/Benchmarks/impair/impair" --delay "$delay" \
            --tcp "127.0.0.1:$p_http=127.0.0.1:$t_http" --udp "127.0.0.1:$p_udp=127.0.0.1:$relay_public" \
            2>"$out/$name-impair.log" &
        pids+=($!)
        sleep 0.2
    fi
    echo "--- $name: $calls calls, url $url, candidate $advertise"
    "${fifo[@]}" "$parley" loadgen --url "$url" --sessions "$calls" --ramp 2 --duration 1 --server-pid "$transceiver" \
        --no-sped --json >"$out/$name.json" 2>"$out/$name-loadgen.log"
    local status=$?
    cleanup
    python3 - "$out/$name.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
print(f"calls connected {report['callsConnected']}, failed {report['callsFailed']}")
for stage, values in report["setupMilliseconds"].items():
    print(f"  {stage:<11} p50 {values['p50']:7.1f}  p95 {values['p95']:7.1f}  max {values['max']:7.1f} ms")
PY
    return $status
}

status=0
run loopback none || status=1
run proxy-0ms 0 || status=1
run rtt-50ms "$delay_ms" || status=1

python3 - "$out" "$calls" "$delay_ms" "${#fifo[@]}" <<'PY'
import json, os, platform, sys
out, calls, delay, fifo = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] != "0"
rtt = 2 * delay
# Round trips from the POST, per stage (see the message sequence below).
floors = {"signaling": 2, "ice": 3, "dtls": 4, "firstAudio": 5}
names = {"signaling": "signaling (answer)", "ice": "ICE connected", "dtls": "DTLS connected",
         "firstAudio": "first echoed audio"}

def load(name):
    try:
        return json.load(open(os.path.join(out, f"{name}.json")))
    except (OSError, ValueError):
        return None

runs = {name: load(name) for name in ("loopback", "proxy-0ms", "rtt-50ms")}
def median(name, stage):
    report = runs[name]
    values = report and (report.get("setupMilliseconds") or {}).get(stage)
    return values["p50"] if values else None

def cell(value):
    return "–" if value is None else f"{value:.1f}"

lines = [
    "# Call set-up time against the round-trip floor",
    "",
    f"{platform.system()} {platform.release()}, {os.cpu_count()} shared cores, loopback. "
    f"`Benchmarks/setup_rtt.sh`: per run, {calls} calls by `parley loadgen` (release build) at 2 new calls/s "
    "(each set up in under 0.5 s, so one after another), through `parley relay` (1 worker) to "
    "`parley transceiver --backend packet-echo`. Times are medians in ms from the start of each call "
    "(the POST of the offer; the loadgen binds its UDP socket before), measured by the loadgen. "
    + ("Every process ran SCHED_FIFO (chrt -f 5), so the shared machine's other load stays out of the numbers."
       if fifo else "Ordinary scheduling (FIFO=0): other load on the machine shows in the numbers."),
    "",
    "Runs: **loopback** (no proxy); **proxy 0 ms** (Benchmarks/impair in both paths, no delay: "
    f"its own cost); **RTT {rtt:.0f} ms** (impair, {delay:.0f} ms each way, on the HTTP port and in front of "
    "the relay's public UDP port; the transceiver advertises the proxy's UDP address, so media goes "
    "client → proxy → relay → transceiver; impair also charges a fresh TCP connection its handshake round trip).",
    "",
    "## The floor, from the message sequence (R = round trip)",
    "",
    "- **Signaling, 2 R.** The loadgen opens a fresh TCP connection per request (`Connection: close`, "
    "SignalingClient.send): SYN / SYN-ACK (1 R), then request / response (1 R).",
    "- **ICE, 3 R** (answer + 1 R). Aggressive nomination: the first check carries USE-CANDIDATE; the "
    "ICE-lite server selects on it and answers (check + response).",
    "- **DTLS, 4 R** (ICE + 1 R). The answer says `a=setup:active`, so the server is the DTLS client and "
    "sends its ClientHello on the first valid check, right behind the binding response (no cookie exchange). "
    "Client (DTLS server) answers with ServerHello … ServerHelloDone (+0.5 R to the server); the server "
    "sends Certificate, ClientKeyExchange, CertificateVerify, ChangeCipherSpec, Finished (+0.5 R back); the "
    "client's handshake completes when it has sent its ChangeCipherSpec + Finished: ICE + 1 R.",
    "- **First echoed audio, 5 R** (DTLS + 1 R). The client's first RTP leaves at 4 R, reaches the server "
    "at 4.5 R together with the client's Finished, is echoed back at 5 R. (Audio the server sent first "
    "would also land at 5 R: its handshake ends at 4.5 R.)",
    "",
    "Processing shows on loopback, where the floor is 0.",
    "",
    f"| Stage | floor (R) | loopback | proxy 0 ms | floor at {rtt:.0f} ms | RTT {rtt:.0f} ms | over floor | "
    f"over floor − proxy-0ms |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
]
for stage, trips in floors.items():
    loop, zero, slow = median("loopback", stage), median("proxy-0ms", stage), median("rtt-50ms", stage)
    floor = trips * rtt
    over = None if slow is None else slow - floor
    net = None if over is None or zero is None else over - zero
    lines.append(f"| {names[stage]} | {trips} | {cell(loop)} | {cell(zero)} | {floor:.0f} | {cell(slow)} | "
                 f"{cell(over)} | {cell(net)} |")
lines += ["", "Per stage: \"over floor\" = measured median − floor; the last column also removes what the same "
          "stack costs with the proxy and no delay (processing, not round trips). A stage that took an extra "
          f"round trip would stand {rtt:.0f} ms over its floor.", ""]
for name, report in runs.items():
    if report is None:
        lines.append(f"- {name}: no report")
        continue
    parts = []
    for stage, values in (report.get("setupMilliseconds") or {}).items():
        parts.append(f"{stage} p50 {values['p50']:.1f} / p95 {values['p95']:.1f} / max {values['max']:.1f}")
    drops = ", ".join(f"{reason} {count}" for reason, count in sorted((report.get("drops") or {}).items()))
    lines.append(f"- {name}: {report['callsConnected']} connected, {report['callsFailed']} failed; " + "; ".join(parts)
                 + f"; datagrams the client dropped: {drops or 'none'}")
lines += ["", "Each run's largest first-audio time (about 30 ms over its median) is its first call: libsrtp's "
          "`srtp_init` (cipher self-tests, 12–15 ms here) runs lazily when the first DTLS handshake of a process "
          "completes (SRTPSession.swift, from PeerConnection.drainDTLS), in the loadgen and in a fresh transceiver. "
          "In the loadgen it also holds back the final DTLS flight, already queued, until it returns."]
with open(os.path.join(out, "setup-rtt.md"), "w") as file:
    file.write("\n".join(lines) + "\n")
print("\n".join(lines[-4 - len(floors) - 3:]))
print(f"wrote {os.path.join(out, 'setup-rtt.md')}")
PY
exit $status
