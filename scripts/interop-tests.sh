#!/usr/bin/env bash
# Real peers against real transceivers on loopback: aiortc calls (one tone, then 20 at
# once), headless Chromium on the demo page, the demo in a namespace where UDP to the relay is
# dropped (Chromium over ICE-TCP, then over UDP once allowed), hostile datagrams against an echo transceiver;
# against one that requires an API key: headless Chromium on a page of another origin holding
# only an ephemeral client secret, and the official openai SDK (calls, client secrets); the
# SDK's sideband joining a built-in-agent call (instructions, a tool-call round trip); a
# sideband and a hangup sent to one transceiver for a call another owns, forwarded to it;
# Chromium pressing DTMF keys that reach the example backend;
# voice-agent scenarios (turn, barge-in, events) against a built-in-agent transceiver; the
# example WebSocket backend answering a turn, then killed mid-call; relay scenarios; abuse of the
# signaling port; a UDP flood; misbehaving WebSocket backends; the load generator; a short soak
# (agent calls redialling through the relay and a lossy path); a 2-shard transceiver behind a
# relay; then every session must be gone. Starts everything on free ports and stops it by PID, whatever happens.
set -uo pipefail
cd "$(dirname "$0")/.."
parley=${1:-.build/debug/parley}
python=.venv/bin/python
workdir=$(mktemp -d)

# Free ports: HTTP and UDP for five transceivers, then one for the example backend.
read -r http_port udp_port agent_http_port agent_udp_port ws_http_port ws_udp_port keyed_http_port keyed_udp_port owner_http_port owner_udp_port backend_port < <("$python" - <<'PY'
import socket
held = []
for kind in ["tcp", "udp"] * 5 + ["tcp"]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    held.append(sock)
print(*(sock.getsockname()[1] for sock in held))
PY
)
url="http://127.0.0.1:$http_port"
agent_url="http://127.0.0.1:$agent_http_port"
ws_url="http://127.0.0.1:$ws_http_port"
keyed_url="http://127.0.0.1:$keyed_http_port"
owner_url="http://127.0.0.1:$owner_http_port"
api_key="sk-parley-interop"

declare -A pid_of=()  # name -> PID of what this script started
cleanup() {
    for started in "${pid_of[@]}"; do kill "$started" 2>/dev/null && wait "$started" 2>/dev/null; done
    rm -rf "$workdir"
}
trap cleanup EXIT

# start_transceiver NAME HTTP_PORT UDP_PORT BACKEND [OPTION...]: starts one and waits for /healthz.
start_transceiver() {
    local name=$1 http=$2 udp=$3 backend=$4
    "$parley" transceiver --http "127.0.0.1:$http" --udp "127.0.0.1:$udp" --backend "$backend" --log-level warning "${@:5}" \
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
start_transceiver keyed "$keyed_http_port" "$keyed_udp_port" echo --shards 1 --api-key "$api_key"
start_transceiver owner "$owner_http_port" "$owner_udp_port" echo --shards 1 --control-address "127.0.0.1:$owner_http_port"

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
run "headless Chromium with UDP to the relay dropped (nftables, own namespace): ICE-TCP through the relay's TCP port, echoed tone, oai-events; with UDP allowed it picks UDP" \
    "$python" Tests/Interop/chromium_tcp.py --parley "$parley"
run "headless Chromium with SPED and SNAP switched on (DTLS inside the ICE checks, SCTP INIT in the SDP) through the relay: echoed tone and oai-events, the transceiver counts a SPED handshake and a SNAP association; switched off, the classic ones" \
    "$python" Tests/Interop/chromium_fast_setup.py --parley "$parley"
run "headless Chromium on another origin with a client secret: preflight, Location, JSON errors, DELETE, its own server key refused" \
    "$python" Tests/Interop/chromium_cross_origin.py --api "$keyed_url" --server-key "$api_key"
run "official openai SDK: calls.create with session, hangup, SIP-only and missing-call errors, client secrets (call with one, expired one refused)" \
    "$python" Tests/Interop/openai_sdk.py --url "$keyed_url" --key "$api_key"
run "official openai SDK sideband on a live agent call: session.created, instructions, tool-call round trip, close when the call ends" \
    "$python" Tests/Interop/openai_sideband.py --url "$agent_url"
run "control requests reach the owner: the SDK's sideband and hangup sent to another transceiver are forwarded" \
    "$python" Tests/Interop/owner_forwarding.py --owner "$owner_url" --other "$url"
run "hostile datagrams" "$python" Tests/Interop/udp_garbage.py --udp "127.0.0.1:$udp_port" --url "$url"
run "voice agent: session.update" "$python" Tests/Interop/voice_agent.py --url "$agent_url" --scenario events --require-events
run "voice agent: one turn" "$python" Tests/Interop/voice_agent.py --url "$agent_url" --scenario turn --require-events
run "voice agent: barge-in" "$python" Tests/Interop/voice_agent.py --url "$agent_url" --scenario barge-in --require-events
run "example backend: one turn" "$python" Tests/Interop/voice_agent.py --url "$ws_url" --scenario turn --require-events
run "headless Chromium presses DTMF keys: telephone-event negotiated, each key reaches the backend and its answer the page" \
    "$python" Tests/Interop/chromium_dtmf.py --api "$ws_url"
run "example backend killed mid-call" "$python" Tests/Interop/voice_agent.py --url "$ws_url" \
    --scenario backend-failure --require-events --backend-pid "${pid_of[backend]}"

check_load() {
    # 10 full-voice calls: a debug build decodes and encodes every frame, so more would measure
    # the machine's speed rather than the load generator (loss is asserted, not capacity).
    "$parley" loadgen --url "$url/v1/realtime/calls" --sessions 10 --ramp 10 --duration 10 --echo-check --json \
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
run "relays: through a relay, 2 transceivers, restart with and without Redis, Redis down, hostile input, two clusters, two regions over a 40 ms backbone with region steering, a transceiver draining with a live call, key rotation, ICE-TCP (hostile input and a flood during a UDP call, two clusters)" \
    "$python" Tests/Interop/relay_scenarios.py --parley "$parley"
run "ingress failover: headless Chromium's call through the primary of two advertised relays goes on through the secondary when the primary is killed, with no new offer (audio gap measured)" \
    "$python" Tests/Interop/chromium_failover.py --parley "$parley"
run "load generator: 10 calls for 10 s, no failures, loss under 1%" check_load
run "HTTP abuse on the signaling port during an echo call: slowloris (503 at the connection cap, 408, a fresh call still connects), 10 MB bodies (413), a burst of POSTs against unfinished offers (503 too_many_pending_offers, 408); no loss, counters moved" \
    "$python" Tests/Interop/http_abuse.py --parley "$parley"
run "UDP flood at a shard's port (30,000 datagrams/s for 20 s from 127/8 addresses, random bytes and made-up checks) during 3 echo calls: loss under 1%, every datagram counted" \
    "$python" Tests/Interop/udp_flood.py --parley "$parley"
run "WebSocket backend faults: bursty and slow backends keep the echoed audio paced at 20 ms; one that stops reading ends the call with backend_unresponsive within 6 s, memory flat" \
    "$python" Tests/Interop/backend_faults.py --parley "$parley"
run "overload: 150 full-voice calls offered to one shard: those past its limit get 503 overloaded (and /readyz says so), the admitted ones no failure and loss under 1%" \
    "$python" Tests/Interop/overload.py --parley "$parley"

run "soak, short: 20 built-in-agent calls for 50 s through the relay and a lossy path (impair: 2 % loss, 30 ms jitter, 1 % reordering), taking turns and hanging up three ways (DELETE, BYE, vanishing) and redialling: no call fails, every call hears answers, every table of both servers empties, open fds back to baseline" \
    python3 Benchmarks/soak.py --parley "$parley" --calls 20 --minutes 0.84 --shards 1 --lifetime 10-20 \
        --flow-idle-timeout 10 --interval 2 --settle-limit 60 --out "$workdir/soak" --check

# A transceiver with 2 shards behind a relay: one UDP socket per shard (each on a port of
# its own), calls placed on both shards, and every call hears its own tone back.
check_shards() {
    local public internal admin http sockets
    read -r public internal admin http < <("$python" - <<'PY'
import socket
held = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM),
        socket.socket(), socket.socket()]
for sock in held:
    sock.bind(("127.0.0.1", 0))
print(*(sock.getsockname()[1] for sock in held))
PY
)
    "$parley" relay --public "127.0.0.1:$public" --internal "127.0.0.1:$internal" --admin "127.0.0.1:$admin" \
        --workers 1 --no-pin --drain-seconds 0 --log-level warning >"$workdir/shard-relay.log" 2>&1 &
    pid_of[shard-relay]=$!
    "$parley" transceiver --http "127.0.0.1:$http" --udp 127.0.0.1:0 --shards 2 --advertise "127.0.0.1:$public" \
        --relay 127.0.0.1 --backend echo --log-level warning >"$workdir/shards.log" 2>&1 &
    pid_of[shards]=$!
    for _ in $(seq 100); do
        "$python" -c "import urllib.request
urllib.request.urlopen('http://127.0.0.1:$admin/readyz', timeout=1)
urllib.request.urlopen('http://127.0.0.1:$http/healthz', timeout=1)" 2>/dev/null && break
        sleep 0.1
    done
    sockets=$(ss -uanpH | grep -c "pid=${pid_of[shards]},")
    echo "UDP sockets of the 2-shard transceiver: $sockets"
    [[ "$sockets" == 2 ]] || { ss -uanp | grep "pid=${pid_of[shards]},"; return 1; }
    "$parley" loadgen --url "http://127.0.0.1:$http/v1/realtime/calls" --sessions 8 --ramp 8 --duration 4 --echo-check --json \
        >"$workdir/shards.json" || { cat "$workdir/shards.json"; tail -20 "$workdir/shards.log"; return 1; }
    "$python" - "$workdir/shards.json" "http://127.0.0.1:$http" <<'PY'
import json, sys, urllib.request
report = json.load(open(sys.argv[1]))
metrics = urllib.request.urlopen(sys.argv[2] + "/metrics", timeout=5).read().decode()
def shard_value(name, shard):
    prefix = f'{name}{{shard="{shard}"}} '
    return sum(float(line.split()[-1]) for line in metrics.splitlines() if line.startswith(prefix))
created = [shard_value("parley_shard_sessions_created_total", shard) for shard in (0, 1)]
received = [shard_value("parley_shard_packets_received_total", shard) for shard in (0, 1)]
echo = report.get("echoCheck") or {}
print(json.dumps({"calls_connected": report["callsConnected"], "calls_failed": report["callsFailed"],
                  "created_by_shard": created, "received_by_shard": received, "echo_check": echo}))
ok = (report["callsFailed"] == 0 and report["callsConnected"] == 8 and echo.get("passed") == 8
      and all(count >= 3 for count in created) and all(count > 0 for count in received))
sys.exit(0 if ok else 1)
PY
    local status=$? started
    for started in shards shard-relay; do
        kill "${pid_of[$started]}" 2>/dev/null && wait "${pid_of[$started]}" 2>/dev/null
        unset "pid_of[$started]"
    done
    return $status
}
run "2 shards behind a relay: one socket per shard, calls on both, each hears its own tone" check_shards


for target in "echo $url" "agent $agent_url" "ws $ws_url" "keyed $keyed_url" "owner $owner_url"; do
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
for name in echo agent ws keyed owner; do
    kill -0 "${pid_of[$name]}" 2>/dev/null || { failures+=("$name transceiver died"); cat "$workdir/$name.log"; }
done
if ((${#failures[@]})); then
    echo "interop failures: ${failures[*]}"
    for name in echo agent ws keyed owner; do echo "--- $name transceiver log"; tail -30 "$workdir/$name.log"; done
    exit 1
fi
echo "all interop checks passed"
