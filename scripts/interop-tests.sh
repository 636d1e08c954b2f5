#!/usr/bin/env bash
# Real peers against a real transceiver on loopback: aiortc calls (one tone, then 20 at
# once), headless Chromium on the demo page, hostile datagrams; then every session must be
# gone. Starts the transceiver on free ports and stops it by PID, whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
parley=${1:-.build/debug/parley}
python=.venv/bin/python
workdir=$(mktemp -d)

read -r http_port udp_port < <("$python" - <<'PY'
import socket
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
print(tcp.getsockname()[1], udp.getsockname()[1])
PY
)
url="http://127.0.0.1:$http_port"

"$parley" transceiver --http "127.0.0.1:$http_port" --udp "127.0.0.1:$udp_port" --backend echo --log-level warning \
    >"$workdir/transceiver.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$workdir"
}
trap cleanup EXIT

metric() { "$python" -c "import sys,urllib.request
for line in urllib.request.urlopen('$url/metrics', timeout=5).read().decode().splitlines():
    if line.startswith('$1 '): print(line.split()[1])"; }

for _ in $(seq 100); do
    "$python" -c "import urllib.request; urllib.request.urlopen('$url/healthz', timeout=1)" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "transceiver exited:"; cat "$workdir/transceiver.log"; exit 1; }
    sleep 0.1
done

failures=()
run() {
    local name=$1; shift
    echo "--- $name"
    if "$@"; then echo "PASS $name"; else echo "FAIL $name"; failures+=("$name"); fi
}

run "aiortc tone echo" "$python" Tests/Interop/tone_echo.py --url "$url" --freq 1000 --seconds 3
run "20 concurrent aiortc calls" "$python" Tests/Interop/concurrent_echo.py --url "$url" --calls 20
run "headless Chromium demo page" "$python" Tests/Interop/chromium_demo.py --url "$url/"
run "hostile datagrams" "$python" Tests/Interop/udp_garbage.py --udp "127.0.0.1:$udp_port" --url "$url"

check_load() {
    "$parley" loadgen --url "$url/v1/realtime/calls" --sessions 20 --ramp 10 --duration 10 --echo-check --json \
        >"$workdir/load.json" || { cat "$workdir/load.json"; return 1; }
    "$python" - "$workdir/load.json" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
packets = report["packets"]
loss = max(packets.get("echoLoss") or 0, packets.get("upstreamLoss") or 0, packets.get("downstreamLoss") or 0)
print(json.dumps({"calls_connected": report["callsConnected"], "calls_failed": report["callsFailed"], "worst_loss": loss}))
sys.exit(0 if report["callsFailed"] == 0 and loss < 0.01 else 1)
PY
}
run "load generator: 20 calls for 10 s, no failures, loss under 1%" check_load

echo "--- sessions gauge returns to 0"
sessions=""
for _ in $(seq 50); do
    sessions=$(metric parley_sessions)
    [[ "$sessions" == "0" || "$sessions" == "0.0" ]] && break
    sleep 0.2
done
if [[ "$sessions" == "0" || "$sessions" == "0.0" ]]; then echo "PASS sessions gauge is 0"; else echo "FAIL sessions gauge is $sessions"; failures+=("sessions gauge"); fi

kill -0 "$pid" 2>/dev/null || { failures+=("transceiver died"); cat "$workdir/transceiver.log"; }
if ((${#failures[@]})); then
    echo "interop failures: ${failures[*]}"
    tail -50 "$workdir/transceiver.log"
    exit 1
fi
echo "all interop checks passed"
