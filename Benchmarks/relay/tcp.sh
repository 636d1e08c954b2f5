#!/usr/bin/env bash
# The relay's CPU per forwarded frame over ICE-TCP against UDP, in one run at the same rates.
#
#   Benchmarks/relay/tcp.sh OUT_DIR
#
# Needs a release build of parley (swift build -c release --product parley; or PARLEY=path).
# One relay, `parley relay --workers 1 --tcp-workers 1 --no-pin` with a public UDP port and
# --public-tcp, confined to core 0; `blaster echo --encap` stands in for the transceiver the
# routing token names and, with the blaster, runs on core 1. For each offered rate (RATES,
# round trips per second over CLIENTS clients, SIZE-byte payloads) a UDP trial (`blaster send
# --token`) and a TCP trial (`blaster tcp-send`, RFC 4571 frames on CLIENTS connections), each
# TRIAL_SECONDS long, REPEATS times; every repeat goes over all rates, UDP and TCP alternating
# which goes first.
#
# Per trial: the relay process's CPU time (utime + stime of all its threads, /proc/PID/stat)
# and its forwarded counters from /metrics, before and after; the frames are the relay's own
# count for the trial's transport (both directions: a round trip is two forwarded frames).
# Scheduling as in run.sh: a session of its own with autogroup nice -20 and everything under
# test at nice -20 (needs root; without it the run goes on at normal priority).
# Writes OUT_DIR/tcp.md (method and table) and OUT_DIR/tcp-trials.log (one line per trial).
set -euo pipefail

OUT=${1:?usage: tcp.sh OUT_DIR}
# The kernel's autogroup gives each session one share whatever the nice values inside, so the
# driver takes a session of its own and raises that session's weight (run.sh has the why).
if [ "${RELAY_BENCH_SESSION:-}" != 1 ]; then
    RELAY_BENCH_SESSION=1 exec setsid --wait "$0" "$@"
fi
echo -20 > /proc/self/autogroup 2>/dev/null || echo "note: could not raise this session's autogroup weight" >&2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PARLEY=${PARLEY:-$ROOT/.build/release/parley}
BLASTER=$ROOT/Benchmarks/udp-blaster/blaster
[ -x "$PARLEY" ] || { echo "no $PARLEY: swift build -c release --product parley" >&2; exit 1; }
"$ROOT/Benchmarks/udp-blaster/build.sh"

RATES=${RATES:-10000 20000 40000}
CLIENTS=${CLIENTS:-16}
SIZE=${SIZE:-160}
TRIAL_SECONDS=${TRIAL_SECONDS:-5}
REPEATS=${REPEATS:-3}
IP=127.0.0.87
ECHO=$IP:47501
RELAY_UDP=$IP:47502
RELAY_TCP=$IP:47503
RELAY_INTERNAL=$IP:47504
ADMIN=$IP:47505
UDP_BIND=127.0.0.88:26000     # fixed UDP client addresses: every UDP trial reuses the same flows
TICKS=$(getconf CLK_TCK)

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM
STARTED=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'repeat\trate\ttransport\tns_per_frame\tframes\tcpu_ms\tsend_pps\trecv_pps\tloss_pct\tp50_us\tp99_us\tother_transport_frames\tblaster\n' \
    > "$OUT/tcp-trials.log"

RUN="nice -n -20"
[ "$(id -u)" = 0 ] || RUN=""
$RUN taskset -c 1 "$BLASTER" echo --listen "$ECHO" --encap --cpu 1 > "$OUT/tcp-echo.log" & PIDS+=($!)
$RUN taskset -c 0 "$PARLEY" relay --workers 1 --tcp-workers 1 --no-pin --public "$RELAY_UDP" --public-tcp "$RELAY_TCP" \
    --internal "$RELAY_INTERNAL" --admin "$ADMIN" --max-tcp-connections-per-source 1024 --flow-idle-timeout 900 \
    --log-level warning > "$OUT/tcp-relay.log" 2>&1 & RPID=$!; PIDS+=($RPID)
for _ in $(seq 100); do curl -sf "http://$ADMIN/readyz" > /dev/null && break; sleep 0.1; done
curl -sf "http://$ADMIN/readyz" > /dev/null || { echo "relay did not become ready" >&2; cat "$OUT/tcp-relay.log" >&2; exit 1; }
# The relay's workers do not keep the nice value it was started with (run.sh): each thread.
if [ -n "$RUN" ]; then for task in /proc/$RPID/task/*; do renice -n -20 -p "${task##*/}" > /dev/null || true; done; fi
TOKEN=$("$PARLEY" token issue --transceiver "$ECHO")

# The relay's CPU time so far, all threads, in clock ticks (fields 14 and 15 of /proc/PID/stat,
# counted past the command name, which is in parentheses).
cpu_ticks() { sed 's/.*) //' /proc/"$1"/stat | awk '{ print $12 + $13 }'; }

# Frames the relay forwarded so far: "UDP TCP", every direction of each.
forwarded() {
    curl -sf "http://$ADMIN/metrics" | awk '
        $1 ~ /^parley_relay_packets_forwarded_total[{]/ { udp += $2 }
        $1 ~ /^parley_relay_tcp_frames_forwarded_total[{]/ { tcp += $2 }
        END { printf "%.0f %.0f\n", udp, tcp }'
}

# trial REPEAT RATE udp|tcp: one blaster run, one line in tcp-trials.log.
trial() {
    local repeat=$1 rate=$2 transport=$3 line udp0 tcp0 udp1 tcp1 cpu0 cpu1 frames other
    read -r udp0 tcp0 < <(forwarded)
    cpu0=$(cpu_ticks "$RPID")
    if [ "$transport" = udp ]; then
        line=$($RUN taskset -c 1 "$BLASTER" send --target "$RELAY_UDP" --token "$TOKEN" --bind "$UDP_BIND" --size "$SIZE" \
            --rate "$rate" --clients "$CLIENTS" --seconds "$TRIAL_SECONDS" --cpu 1,1) || line="failed"
    else
        line=$($RUN taskset -c 1 "$BLASTER" tcp-send --target "$RELAY_TCP" --token "$TOKEN" --size "$SIZE" \
            --rate "$rate" --clients "$CLIENTS" --seconds "$TRIAL_SECONDS" --cpu 1,1) || line="failed"
    fi
    cpu1=$(cpu_ticks "$RPID")
    read -r udp1 tcp1 < <(forwarded)
    if [ "$transport" = udp ]; then frames=$((udp1 - udp0)); other=$((tcp1 - tcp0)); else frames=$((tcp1 - tcp0)); other=$((udp1 - udp0)); fi
    echo "$line" | awk -v OFS='\t' -v repeat="$repeat" -v rate="$rate" -v transport="$transport" -v frames="$frames" \
        -v other="$other" -v ticks=$((cpu1 - cpu0)) -v hz="$TICKS" -v line="$line" '{
        v["send_pps"] = 0; v["recv_pps"] = 0; v["loss"] = "100%"; v["p50_us"] = -1; v["p99_us"] = -1
        for (i = 1; i < NF; i++) v[$i] = $(i + 1); loss = v["loss"]; sub("%", "", loss)
        ns = frames > 0 ? ticks * 1e9 / hz / frames : 0
        print repeat, rate, transport, sprintf("%.0f", ns), frames, ticks * 1000 / hz, v["send_pps"], v["recv_pps"],
            loss, v["p50_us"], v["p99_us"], other, line }' >> "$OUT/tcp-trials.log"
    tail -n 1 "$OUT/tcp-trials.log" | cut -f1-12
}

for repeat in $(seq "$REPEATS"); do
    if [ $((repeat % 2)) = 1 ]; then order="udp tcp"; else order="tcp udp"; fi
    for rate in $RATES; do
        for transport in $order; do trial "$repeat" "$rate" "$transport"; done
    done
done
curl -sf "http://$ADMIN/metrics" > "$OUT/tcp-metrics.txt" || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - STARTED ))

# ---- report ----
# column RATE TRANSPORT FIELD: that field of every trial of the rate and transport, one a line.
column() {
    awk -F'\t' -v rate="$1" -v transport="$2" -v field="$3" \
        'NR > 1 && $2 == rate && $3 == transport { print $field }' "$OUT/tcp-trials.log"
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { sort -g | awk 'NR == 1 { low = $1 } { high = $1 } END { print low "-" high }'; }
row() {
    local rate=$1 transport=$2 ns udp_ns ratio
    ns=$(column "$rate" "$transport" 4 | median)
    udp_ns=$(column "$rate" udp 4 | median)
    ratio=-
    [ "$transport" = tcp ] && ratio=$(awk -v a="$ns" -v b="$udp_ns" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '| %s | %s | %s | %s | %s | %s | %s | %s / %s |\n' "$rate" "$transport" "$ns" "$(column "$rate" "$transport" 4 | range)" \
        "$ratio" "$(column "$rate" "$transport" 8 | median)" "$(column "$rate" "$transport" 9 | sort -g | tail -n 1)" \
        "$(column "$rate" "$transport" 10 | median)" "$(column "$rate" "$transport" 11 | median)"
}
{
cat <<EOF
# Relay CPU per forwarded frame: ICE-TCP against UDP

Generated by \`Benchmarks/relay/tcp.sh\` on $(date -u +%Y-%m-%dT%H:%MZ) in ${ELAPSED} s, with
\`$PARLEY\` ($(git -C "$ROOT" rev-parse --short HEAD)).

## Machine

$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores (load average $LOAD_BEFORE before,
$LOAD_AFTER after), Linux $(uname -r), loopback only.

## Method

- Core 0: \`parley relay --workers 1 --tcp-workers 1 --no-pin\` under \`taskset -c 0\`, with a
  public UDP port and \`--public-tcp\`: one UDP worker thread and one TCP worker event loop.
- Core 1: \`blaster echo --encap\`, the transceiver the routing token names (it returns every
  encapsulated datagram unchanged, TCP mark included), and the load: \`blaster send --token\`
  (UDP: ${CLIENTS} client sockets) or \`blaster tcp-send\` (TCP: ${CLIENTS} connections with
  TCP_NODELAY, each frame its own send(), RFC 4571 length before each). Both start every client
  with a Binding request carrying the token and wait for its echo before timing.
- Payloads of ${SIZE} bytes, each a round trip: client → relay → echo → relay → client. Rates are
  offered round trips per second, in total over the clients; each trial ${TRIAL_SECONDS} s. Every rate
  runs ${REPEATS} times for each transport; each repeat goes over all rates, UDP and TCP alternating
  which goes first, so both see the same background.
- ns/frame: the relay process's CPU time over the trial (utime + stime of all its threads from
  /proc/PID/stat, 1/${TICKS} s resolution) divided by the frames the relay forwarded in it, by its own
  counters in /metrics (UDP: \`parley_relay_packets_forwarded_total\`, TCP:
  \`parley_relay_tcp_frames_forwarded_total\`, all directions; a round trip is two). The
  clients' set-up (Binding requests; for TCP the accept) falls inside the trial. Softirq time
  the kernel charges to no process (much of loopback delivery) is not in it.
- Median of the repeats, and their range; TCP/UDP is the median TCP figure over the median UDP one at that rate.
  Achieved: round trips per second received (median); loss: the worst trial; p50/p99:
  round-trip time from the send time in each payload, median of the repeats (200000 means
  200 ms or more, the blaster's last histogram bucket).
- Scheduling: the driver in a session of its own with autogroup nice -20, everything under test
  at nice -20 (the relay's threads reniced one by one).

## Results

| offered rate | transport | relay ns/frame (median) | range | TCP/UDP | achieved rt/s | loss % (worst) | p50 / p99 µs |
|---:|---|---:|---:|---:|---:|---:|---:|
EOF
for rate in $RATES; do row "$rate" udp; row "$rate" tcp; done
cat <<EOF

Every trial: tcp-trials.log; the relay's counters at the end: tcp-metrics.txt.
EOF
} > "$OUT/tcp.md"
cat "$OUT/tcp.md"
