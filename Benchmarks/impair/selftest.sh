#!/usr/bin/env bash
# Self-test of the impairment proxy on loopback: does a round trip through it take the
# configured 2 x DELAY (within 1 ms at the median), does the loss it reports match LOSS, does a
# fresh TCP connection cost 2 round trips and a reused one 1, does it leave nothing behind.
# UDP is measured with Benchmarks/udp-blaster (C, 1 us histogram): 24 flows at 50 packets per
# second each, echoed. With --netns (root), one more check between network namespaces: the
# client and the echo each in their own namespace, linked by veth pairs to this one, where the
# proxy runs; the namespaces (and with them the veths) are deleted at the end.
# Prints one line per check and PASS or FAIL; exit status 1 on any FAIL.
# Usage: Benchmarks/impair/selftest.sh [--netns] [DELAY_MS (default 25)]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
netns=0
if [[ "${1:-}" == "--netns" ]]; then
    netns=1
    shift
fi
delay=${1:-25}
"$here/build.sh" && "$here/../udp-blaster/build.sh" || exit 1
impair=$here/impair
blaster=$here/../udp-blaster/blaster
# As root, the proxy and the measuring tools run SCHED_FIFO so a busy machine's scheduling
# delay does not pass for the proxy's error.
realtime=()
fifo=()
if [[ $(id -u) == 0 ]]; then
    realtime=(--realtime)
    fifo=(chrt -f 10)
fi
logs=$(mktemp -d)

# Ports below the kernel's ephemeral range (32768-60999), so no socket another process opens
# meanwhile can take one between this choice and the bind.
read -r echo_port udp_port tcp_echo_port tcp_port < <(python3 "$here/../free_ports.py" 4)
pids=()
namespaces=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    for name in "${namespaces[@]}"; do ip netns delete "$name" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
failures=0
verdict() { if [[ $1 == 0 ]]; then echo "PASS  $2"; else echo "FAIL  $2"; failures=$((failures + 1)); fi; }
field() { sed -n "s/.* $1 \([0-9.]*\).*/\1/p" <<<"$2"; }

"${fifo[@]}" "$blaster" echo --listen "127.0.0.1:$echo_port" >"$logs/echo.out" 2>&1 &
pids+=($!)
sleep 0.2
blast() { "${fifo[@]}" "$blaster" send --target "127.0.0.1:$1" --size 160 --rate 1200 --clients 24 --seconds "$2"; }

# run_impair LOG ARGS...: starts the proxy, waits until it listens.
run_impair() {
    local log=$1
    shift
    "$impair" "${realtime[@]}" --udp "127.0.0.1:$udp_port=127.0.0.1:$echo_port" \
        --tcp "127.0.0.1:$tcp_port=127.0.0.1:$tcp_echo_port" "$@" 2>"$log" &
    impair_pid=$!
    pids+=("$impair_pid")
    sleep 0.2
}
stop_impair() { kill "$impair_pid"; wait "$impair_pid"; }

direct=$(blast "$echo_port" 2)
echo "      direct loopback: $direct"

# 1. Delay alone: median RTT = 2 x DELAY within 1 ms; nothing lost.
run_impair "$logs/delay.log" --delay "$delay" --seed 1
line=$(blast "$udp_port" 4)
stop_impair
p50=$(field p50_us "$line")
echo "      delay $delay ms: $line"
echo "      $(tail -1 "$logs/delay.log")"
error_us=$((p50 - 2 * delay * 1000))
verdict $(( ${error_us#-} <= 1000 ? 0 : 1 )) "UDP median RTT $p50 us vs set $((2 * delay * 1000)) us (error $error_us us)"
verdict $([[ $(field loss "$line") == 0.000 ]] && echo 0 || echo 1) "UDP no loss without --loss"

# 2. Loss 5% per direction: round trip loses 1 - 0.95^2 = 9.75%; the proxy's own count
#    per direction within 1 point of 5% (about 6,000 datagrams each way: 1 sigma is 0.3 points).
run_impair "$logs/loss.log" --delay "$delay" --loss 5 --seed 2
line=$(blast "$udp_port" 5)
stop_impair
counters=$(tail -1 "$logs/loss.log")
echo "      loss 5%: $line"
echo "      $counters"
read -r up_in up_lost down_in down_lost < <(sed -n \
    's/.*to target in \([0-9]*\) out [0-9]* lost \([0-9]*\).*to client in \([0-9]*\) out [0-9]* lost \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$counters")
python3 - "$up_in" "$up_lost" "$down_in" "$down_lost" "$(field loss "$line" | tr -d %)" <<'PY' >"$logs/loss.txt"
import sys
up_in, up_lost, down_in, down_lost = map(int, sys.argv[1:5])
round_trip = float(sys.argv[5])
up, down = 100 * up_lost / up_in, 100 * down_lost / down_in
ok = abs(up - 5) <= 1 and abs(down - 5) <= 1 and abs(round_trip - 9.75) <= 1.5
print(0 if ok else 1, f"loss per direction {up:.2f}% / {down:.2f}% (set 5%), round trip {round_trip:.2f}% (expected 9.75%)")
PY
read -r code text <"$logs/loss.txt"
verdict "$code" "$text"

# 3. Jitter alone keeps the median at 2 x DELAY (uniform +-JITTER, never reordering);
#    --reorder holds the share it was told to (within 1.5 points of 10%).
run_impair "$logs/jitter.log" --delay "$delay" --jitter 5 --seed 3
line=$(blast "$udp_port" 3)
stop_impair
echo "      jitter 5 ms: $line"
echo "      $(tail -1 "$logs/jitter.log")"
p50=$(field p50_us "$line")
error_us=$((p50 - 2 * delay * 1000))
verdict $(( ${error_us#-} <= 1000 ? 0 : 1 )) "UDP median RTT with +-5 ms jitter: $p50 us (error $error_us us)"
run_impair "$logs/reorder.log" --delay "$delay" --reorder 10 --seed 4
line=$(blast "$udp_port" 3)
stop_impair
counters=$(tail -1 "$logs/reorder.log")
echo "      reorder 10%: $line"
echo "      $counters"
read -r up_in up_reordered down_in down_reordered < <(sed -n \
    's/.*to target in \([0-9]*\) out [0-9]* lost [0-9]* reordered \([0-9]*\).*to client in \([0-9]*\) out [0-9]* lost [0-9]* reordered \([0-9]*\).*/\1 \2 \3 \4/p' <<<"$counters")
python3 - "$up_in" "$up_reordered" "$down_in" "$down_reordered" <<'PY' >"$logs/reorder.txt"
import sys
up_in, up_reordered, down_in, down_reordered = map(int, sys.argv[1:5])
up, down = 100 * up_reordered / up_in, 100 * down_reordered / down_in
print(0 if abs(up - 10) <= 1.5 and abs(down - 10) <= 1.5 else 1, f"reordered per direction {up:.2f}% / {down:.2f}% (set 10%, each held 25 ms past its slot)")
PY
read -r code text <"$logs/reorder.txt"
verdict "$code" "$text"

# 4. TCP: a request on a fresh connection costs 2 RTT (handshake + request), the next 1 RTT.
run_impair "$logs/tcp.log" --delay "$delay" --seed 4
"${fifo[@]}" python3 - "$tcp_echo_port" "$tcp_port" "$delay" <<'PY' >"$logs/tcp.txt"
import socket, sys, threading, time
echo_port, proxy_port, delay = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", echo_port))
server.listen()
def serve():
    while True:
        connection, _ = server.accept()
        while data := connection.recv(65536):
            connection.sendall(data)
        connection.close()
threading.Thread(target=serve, daemon=True).start()
fresh, reused = [], []
for _ in range(5):
    start = time.monotonic()
    client = socket.create_connection(("127.0.0.1", proxy_port))
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.sendall(b"x" * 100)
    client.recv(100)
    fresh.append((time.monotonic() - start) * 1000)
    start = time.monotonic()
    client.sendall(b"y" * 100)
    client.recv(100)
    reused.append((time.monotonic() - start) * 1000)
    client.close()
fresh.sort(); reused.sort()
rtt = 2 * delay
ok = abs(fresh[2] - 2 * rtt) <= 1 and abs(reused[2] - rtt) <= 1
print(0 if ok else 1, f"TCP median request time: fresh connection {fresh[2]:.2f} ms (floor {2 * rtt:.0f}), reused {reused[2]:.2f} ms (floor {rtt:.0f})")
PY
stop_impair
read -r code text <"$logs/tcp.txt"
verdict "$code" "$text"
echo "      $(tail -1 "$logs/tcp.log")"

# 5. Leftovers: the proxy is gone and its ports can be bound again at once.
python3 - "$udp_port" "$tcp_port" <<'PY' && verdict 0 "after SIGTERM: process gone, ports free" || verdict 1 "ports still held after SIGTERM"
import socket, sys
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", int(sys.argv[1])))
tcp = socket.socket(); tcp.bind(("127.0.0.1", int(sys.argv[2]))); tcp.listen()
PY
kill -0 "$impair_pid" 2>/dev/null && verdict 1 "impair still running"
# 6. Between network namespaces: client ns --veth-- this ns (proxy) --veth-- server ns.
if ((netns)); then
    net=$(($$ % 200 + 20))
    client_ns=impair-client-$$ server_ns=impair-server-$$
    namespaces=("$client_ns" "$server_ns")
    ip netns add "$client_ns" && ip netns add "$server_ns" || exit 1
    ip link add "ic$$" type veth peer name "icp$$" netns "$client_ns"
    ip link add "is$$" type veth peer name "isp$$" netns "$server_ns"
    ip addr add "10.231.$net.1/30" dev "ic$$" && ip link set "ic$$" up
    ip addr add "10.231.$net.5/30" dev "is$$" && ip link set "is$$" up
    ip -n "$client_ns" addr add "10.231.$net.2/30" dev "icp$$" && ip -n "$client_ns" link set "icp$$" up
    ip -n "$server_ns" addr add "10.231.$net.6/30" dev "isp$$" && ip -n "$server_ns" link set "isp$$" up
    ip netns exec "$server_ns" "${fifo[@]}" "$blaster" echo --listen "10.231.$net.6:$echo_port" >"$logs/ns-echo.out" 2>&1 &
    pids+=($!)
    "$impair" "${realtime[@]}" --udp "10.231.$net.1:$udp_port=10.231.$net.6:$echo_port" --delay "$delay" \
        --loss 5 --seed 5 2>"$logs/ns.log" &
    impair_pid=$!
    pids+=("$impair_pid")
    sleep 0.3
    line=$(ip netns exec "$client_ns" "${fifo[@]}" "$blaster" send --target "10.231.$net.1:$udp_port" \
        --size 160 --rate 1200 --clients 24 --seconds 3)
    stop_impair
    echo "      netns, delay $delay ms, loss 5%: $line"
    echo "      $(tail -1 "$logs/ns.log")"
    p50=$(field p50_us "$line")
    error_us=$((p50 - 2 * delay * 1000))
    loss=$(field loss "$line")
    verdict $(( ${error_us#-} <= 1000 ? 0 : 1 )) "netns: median RTT $p50 us (error $error_us us), round-trip loss $loss% (expected 9.75%)"
fi

rm -rf "$logs"
exit $((failures > 0))
