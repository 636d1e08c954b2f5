#!/usr/bin/env bash
# Real peers against real transceivers on loopback: aiortc calls (one tone, then 20 at
# once), headless Chromium on the demo page, hostile datagrams against an echo transceiver;
# voice-agent scenarios (turn, barge-in, events) against a built-in-agent transceiver; the
# example WebSocket backend answering a turn, then killed mid-call; then every session must
# be gone. Starts everything on free ports and stops it by PID, whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
parley=${1:-.build/debug/parley}
python=.venv/bin/python
workdir=$(mktemp -d)

# Free ports: HTTP and UDP for three transceivers, then one for the example backend.
read -r http_port udp_port agent_http_port agent_udp_port ws_http_port ws_udp_port backend_port < <("$python" - <<'PY'
import socket
held = []
for kind in ["tcp", "udp"] * 3 + ["tcp"]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    held.append(sock)
print(*(sock.getsockname()[1] for sock in held))
PY
)
url="http://127.0.0.1:$http_port"
agent_url="http://127.0.0.1:$agent_http_port"
ws_url="http://127.0.0.1:$ws_http_port"

declare -A pid_of=()  # name -> PID of what this script started
cleanup() {
    for started in "${pid_of[@]}"; do kill "$started" 2>/dev/null && wait "$started" 2>/dev/null; done
    rm -rf "$workdir"
}
trap cleanup EXIT

# start_transceiver NAME HTTP_PORT UDP_PORT BACKEND: starts one and waits for /healthz.
start_transceiver() {
    local name=$1 http=$2 udp=$3 backend=$4
    "$parley" transceiver --http "127.0.0.1:$http" --udp "127.0.0.1:$udp" --backend "$backend" --log-level warning \
        >"$workdir/$name.log" 2>&1 &
    local started=$!
    pid_of[$name]=$started
    for _ in $(seq 100); do
        "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$http/healthz', timeout=1)" 2>/dev/null && return 0
        kill -0 "$started" 2>/dev/null || { echo "$name transceiver exited:"; cat "$workdir/$name.log"; exit 1; }
        sleep 0.1
    done
    echo "$name transceiver not healthy within 10 s"; cat "$workdir/$name.log"; exit 1
}

# metric URL NAME: the value of an unlabelled metric.
metric() { "$python" -c "import sys,urllib.request
for line in urllib.request.urlopen('$1/metrics', timeout=5).read().decode().splitlines():
    if line.startswith('$2 '): print(line.split()[1])"; }

start_transceiver echo "$http_port" "$udp_port" echo
start_transceiver agent "$agent_http_port" "$agent_udp_port" agent

"$python" examples/backend/backend.py --listen "127.0.0.1:$backend_port" >"$workdir/backend.log" 2>&1 &
pid_of[backend]=$!
for _ in $(seq 100); do
    grep -q "listening" "$workdir/backend.log" && break
    kill -0 "${pid_of[backend]}" 2>/dev/null || { echo "example backend exited:"; cat "$workdir/backend.log"; exit 1; }
    sleep 0.1
done
start_transceiver ws "$ws_http_port" "$ws_udp_port" "ws://127.0.0.1:$backend_port"

failures=()
run() {
    local name=$1; shift
    echo "--- $name"
    if "$@"; then echo "PASS $name"; else echo "FAIL $name"; failures+=("$name"); fi
}

run "aiortc tone echo" "$python" Tests/Interop/tone_echo.py --url "$url" --freq 1000 --seconds 3
run "20 concurrent aiortc calls" "$python" Tests/Interop/concurrent_echo.py --url "$url" --calls 20
run "headless Chromium demo page (audio and oai-events)" "$python" Tests/Interop/chromium_demo.py --url "$url/" --require-events
run "hostile datagrams" "$python" Tests/Interop/udp_garbage.py --udp "127.0.0.1:$udp_port" --url "$url"
run "voice agent: session.update" "$python" Tests/Interop/voice_agent.py --url "$agent_url" --scenario events --require-events
run "voice agent: one turn" "$python" Tests/Interop/voice_agent.py --url "$agent_url" --scenario turn --require-events
run "voice agent: barge-in" "$python" Tests/Interop/voice_agent.py --url "$agent_url" --scenario barge-in --require-events
run "example backend: one turn" "$python" Tests/Interop/voice_agent.py --url "$ws_url" --scenario turn --require-events
run "example backend killed mid-call" "$python" Tests/Interop/voice_agent.py --url "$ws_url" \
    --scenario backend-failure --require-events --backend-pid "${pid_of[backend]}"

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
run "relays: through a relay, 2 transceivers, restart with and without Redis, Redis down, hostile input, two clusters" \
    "$python" Tests/Interop/relay_scenarios.py --parley "$parley"
run "load generator: 20 calls for 10 s, no failures, loss under 1%" check_load


for target in "echo $url" "agent $agent_url" "ws $ws_url"; do
    read -r name target_url <<<"$target"
    echo "--- $name: sessions gauge returns to 0"
    sessions=""
    for _ in $(seq 50); do
        sessions=$(metric "$target_url" parley_sessions)
        [[ "$sessions" == "0" || "$sessions" == "0.0" ]] && break
        sleep 0.2
    done
    if [[ "$sessions" == "0" || "$sessions" == "0.0" ]]; then
        echo "PASS $name sessions gauge is 0"
    else
        echo "FAIL $name sessions gauge is $sessions"; failures+=("$name sessions gauge")
    fi
done

# The example backend was killed on purpose; the transceivers must all be alive.
for name in echo agent ws; do
    kill -0 "${pid_of[$name]}" 2>/dev/null || { failures+=("$name transceiver died"); cat "$workdir/$name.log"; }
done
if ((${#failures[@]})); then
    echo "interop failures: ${failures[*]}"
    for name in echo agent ws; do echo "--- $name transceiver log"; tail -30 "$workdir/$name.log"; done
    exit 1
fi
echo "all interop checks passed"
