#!/usr/bin/env bash
# Parley relay vs the plain C forwarder, side by side in one run (docs/relay.md).
#
#   Benchmarks/relay/run.sh OUT_DIR
#
# Needs a release build of parley (swift build -c release --product parley; or PARLEY=path).
# Both forwarders run on core 0 (the relay: one worker, the process confined to core 0 and
# the worker pinning itself there; the C forwarder: both its threads pinned to core 0); the
# blaster and the echo endpoint run on core 1. Both forwarders face the same echo endpoint,
# which returns encapsulated datagrams (8-byte IPv4 header) encapsulated. Every client's
# first datagram is a STUN Binding request carrying a routing token, through either forwarder.
#
# For each case: the highest offered rate (200-byte datagrams) with less than 0.1% round-trip
# loss, by bisection after a saturating probe, relay and C steps interleaved so both see the
# same background load; then round-trip latency at a fixed 50,000 pps. Cases: 1 flow; 1,024
# flows; the same 1,024 flows measured with 100,000 flows in the relay's table.
#
# Scheduling on a shared machine: the driver gives its own session a high weight (autogroup
# nice -20) and runs everything under test at nice -20, so other jobs take little of the two
# cores; the latency runs are at SCHED_FIFO priority 5 (the blaster's sender at 4), as at nice
# -20 other jobs still delay wakeups by milliseconds. Rate searches stay at nice -20: under
# SCHED_FIFO every reply preempts the blaster's sender, batching stops and the load generator
# caps near 55,000 pps. Needs root (autogroup, nice, chrt).
#
# The CPU time each forwarder's process used in every trial is read from /proc (all its
# threads) and turned into nanoseconds per round trip. Everything lands in OUT_DIR: trials.log, summary.tsv, relay.md.
set -euo pipefail

OUT=${1:?usage: run.sh OUT_DIR}
# A session of its own, so the kernel's autogroup scheduling (one share per session, whatever
# the nice values inside) can be given a high weight: on a shared machine the other sessions'
# jobs would otherwise take most of both cores.
if [ "${RELAY_BENCH_SESSION:-}" != 1 ]; then
    RELAY_BENCH_SESSION=1 exec setsid --wait "$0" "$@"
fi
echo -20 > /proc/self/autogroup 2>/dev/null || echo "note: could not raise this session's autogroup weight" >&2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PARLEY=${PARLEY:-$ROOT/.build/release/parley}
BLASTER=$ROOT/Benchmarks/udp-blaster/blaster
FORWARDER=$ROOT/Benchmarks/c-forwarder/forwarder
[ -x "$PARLEY" ] || { echo "no $PARLEY: swift build -c release --product parley" >&2; exit 1; }
"$ROOT/Benchmarks/udp-blaster/build.sh"
"$ROOT/Benchmarks/c-forwarder/build.sh"

SIZE=200
TRIAL_SECONDS=${TRIAL_SECONDS:-1}
LATENCY_RATE=${LATENCY_RATE:-50000}
LATENCY_SECONDS=${LATENCY_SECONDS:-2}
TABLE_FLOWS=${TABLE_FLOWS:-100000}
STEPS=${STEPS:-6}
IP=127.0.0.77
ECHO=$IP:47301
ECHO_PLAIN=$IP:47306
RELAY=$IP:47302
RELAY_INTERNAL=$IP:47303
ADMIN=$IP:47304
CFWD=$IP:47305
# Fixed client addresses, so every trial of a case reuses the same flows; the C forwarder's
# clients use other ports (+2000), so a late reply from one forwarder never counts for the other.
ONE_FLOW_BIND=127.0.0.78:24000
MANY_FLOWS_BIND=127.0.0.79:24000
MANY=1024
TABLE_BIND=127.0.10.1               # the 100,000-flow filler: 10,000 clients per IP from here

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
STARTED=$(date +%s)
: > "$OUT/trials.log"
printf 'case\tforwarder\tmax_pps\tcpu_ns_per_round_trip\tp50_us\tp99_us\n' > "$OUT/summary.tsv"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# Within the session, everything under test runs at nice -20; the relay's threads are reniced
# one by one (its worker is started from a dispatch pool thread, which does not keep it).
RUN="nice -n -20"
$RUN taskset -c 1 "$BLASTER" echo --listen "$ECHO" --encap --cpu 1 > "$OUT/echo.log" & PIDS+=($!)
$RUN taskset -c 1 "$BLASTER" echo --listen "$ECHO_PLAIN" --cpu 1 > "$OUT/echo-plain.log" & PIDS+=($!)
$RUN taskset -c 0 "$FORWARDER" --listen "$CFWD" --to "$ECHO" --encap --cpu 0 > "$OUT/forwarder.log" & CPID=$!; PIDS+=($CPID)
$RUN taskset -c 0 "$PARLEY" relay --workers 1 --public "$RELAY" --internal "$RELAY_INTERNAL" --admin "$ADMIN" \
    --flow-idle-timeout 900 --max-flows-per-worker 120000 --new-flows-per-second 1000000 --new-flow-burst 1000000 \
    --log-level warning > "$OUT/relay.log" 2>&1 & RPID=$!; PIDS+=($RPID)
for _ in $(seq 100); do curl -sf "http://$ADMIN/readyz" > /dev/null && break; sleep 0.1; done
curl -sf "http://$ADMIN/readyz" > /dev/null || { echo "relay did not become ready" >&2; cat "$OUT/relay.log" >&2; exit 1; }
for task in /proc/$RPID/task/*; do renice -n -20 -p "${task##*/}" > /dev/null; done
TOKEN=$("$PARLEY" token issue --transceiver "$ECHO")

flows_in_table() { curl -sf "http://$ADMIN/metrics" | awk '$1 == "parley_relay_flows" { printf "%d", $2 }'; }

# CPU nanoseconds used so far by every thread of a process.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ sum += $1 } END { printf "%.0f", sum }'; }

# trial LABEL TARGET PID RATE CLIENTS BIND SECONDS: one blaster run; sets PPS LOSS P50 P99 NS_PER_RT,
# OK (under 0.1% loss at the offered rate) and SHORT (the blaster could not send 98% of the rate).
trial() {
    local label=$1 target=$2 pid=$3 rate=$4 clients=$5 bind=$6 seconds=$7 before after line
    [ "$target" = "$CFWD" ] && bind=${bind%:*}:$(( ${bind##*:} + 2000 ))
    before=$(cpu_ns "$pid")
    line=$($RUN taskset -c 1 "$BLASTER" send --target "$target" --size $SIZE --rate "$rate" --clients "$clients" \
        --seconds "$seconds" --bind "$bind" --token "$TOKEN" --cpu 1,1) || line="failed: clients not established"
    after=$(cpu_ns "$pid")
    read -r PPS LOSS P50 P99 NS_PER_RT OK SHORT < <(echo "$line" | awk -v cpu=$((after - before)) -v rate="$rate" '{
        v["recv_pps"] = 0; v["send_pps"] = 0; v["loss"] = "100%"; v["p50_us"] = -1; v["p99_us"] = -1
        for (i = 1; i < NF; i++) v[$i] = $(i + 1); loss = v["loss"]; sub("%", "", loss)
        ns = v["received"] > 0 ? cpu / v["received"] : 0; short = v["send_pps"] < 0.98 * rate; ok = loss + 0 < 0.1 && !short
        printf "%.0f %s %s %s %.0f %d %d\n", v["recv_pps"], loss, v["p50_us"], v["p99_us"], ns, ok, short }')
    printf '%s\t%s\toffered %s\t%s\tcpu_ns_per_round_trip %s\n' "$label" "$(basename "$target")" "$rate" "$line" "$NS_PER_RT" >> "$OUT/trials.log"
}

# What stopped the last trial: the load generator falling short of the offered rate, or loss.
limit_of_trial() { if [ "$SHORT" = 1 ]; then echo "load generator"; else echo loss; fi; }

# search CASE CLIENTS BIND: bisection for the highest rate with < 0.1% loss, relay and C forwarder
# step by step. Sets RELAY_MAX C_MAX (round trips per second received in that trial), their CPU
# ns per round trip, and RELAY_LIMIT C_LIMIT: what failed the lowest failing rate, "loss" at the
# forwarder or the "load generator" falling short of the offered rate.
search() {
    local name=$1 clients=$2 bind=$3 which rate
    declare -A low high best_pps best_ns limit
    declare -A target=([relay]=$RELAY [c]=$CFWD) pid=([relay]=$RPID [c]=$CPID)
    for which in relay c; do
        trial "$name probe" "${target[$which]}" "${pid[$which]}" 400000 "$clients" "$bind" "$TRIAL_SECONDS"
        low[$which]=$((PPS / 2)); high[$which]=$((PPS * 6 / 5)); best_pps[$which]=0; best_ns[$which]=$NS_PER_RT
        limit[$which]=$(limit_of_trial)
    done
    for _ in $(seq "$STEPS"); do
        for which in relay c; do
            rate=$(( (low[$which] + high[$which]) / 2 ))
            trial "$name search" "${target[$which]}" "${pid[$which]}" $rate "$clients" "$bind" "$TRIAL_SECONDS"
            if [ "$OK" = 1 ]; then
                low[$which]=$rate; best_pps[$which]=$PPS; best_ns[$which]=$NS_PER_RT
            else
                high[$which]=$rate; limit[$which]=$(limit_of_trial)
            fi
        done
    done
    RELAY_MAX=${best_pps[relay]}; C_MAX=${best_pps[c]}; RELAY_NS=${best_ns[relay]}; C_NS=${best_ns[c]}
    RELAY_LIMIT=${limit[relay]}; C_LIMIT=${limit[c]}
}

# scheduling fifo|normal: every thread of the forwarders and echo endpoints to SCHED_FIFO
# priority 5 (latency runs: nothing of nice 0 delays a wakeup), or back to nice -20.
scheduling() {
    local pid task
    for pid in "${PIDS[@]}"; do
        for task in /proc/"$pid"/task/*; do
            if [ "$1" = fifo ]; then chrt -f -p 5 "${task##*/}" > /dev/null
            else chrt -o -p 0 "${task##*/}" > /dev/null; renice -n -20 -p "${task##*/}" > /dev/null; fi
        done
    done
    if [ "$1" = fifo ]; then RUN="chrt -f 5"; else RUN="nice -n -20"; fi
}

# latency CASE CLIENTS BIND: round trip at LATENCY_RATE through each forwarder, at SCHED_FIFO
# (the blaster's sender sleeps between batches at this rate).
latency() {
    local name=$1 clients=$2 bind=$3 direct
    scheduling fifo
    # No forwarder: the blaster straight to a plain echo endpoint, the floor under the round trip.
    direct=$($RUN taskset -c 1 "$BLASTER" send --target "$ECHO_PLAIN" --size $SIZE --rate "$LATENCY_RATE" \
        --clients "$clients" --seconds "$LATENCY_SECONDS" --bind "${bind%:*}:$(( ${bind##*:} + 4000 ))" --cpu 1,1)
    echo "$name direct latency	$direct" >> "$OUT/trials.log"
    read -r DIRECT_P50 DIRECT_P99 < <(echo "$direct" | awk '{ for (i = 1; i < NF; i++) v[$i] = $(i + 1); print v["p50_us"], v["p99_us"] }')
    trial "$name latency" "$RELAY" $RPID "$LATENCY_RATE" "$clients" "$bind" "$LATENCY_SECONDS"
    RELAY_P50=$P50; RELAY_P99=$P99; RELAY_LOSS=$LOSS
    trial "$name latency" "$CFWD" $CPID "$LATENCY_RATE" "$clients" "$bind" "$LATENCY_SECONDS"
    C_P50=$P50; C_P99=$P99; C_LOSS=$LOSS
    scheduling normal
}

declare -A RESULT LIMITS
measure() {
    local name=$1 clients=$2 bind=$3 flows
    search "$name" "$clients" "$bind"
    latency "$name" "$clients" "$bind"
    flows=$(flows_in_table)
    RESULT[$name]="$RELAY_MAX $C_MAX $RELAY_NS $C_NS $RELAY_P50 $RELAY_P99 $C_P50 $C_P99 $DIRECT_P50 $DIRECT_P99 $flows"
    LIMITS[$name]="relay: ${RELAY_LIMIT}; C: ${C_LIMIT}"
    printf '%s\trelay\t%s\t%s\t%s\t%s\n%s\tc-forwarder\t%s\t%s\t%s\t%s\n' "$name" "$RELAY_MAX" "$RELAY_NS" "$RELAY_P50" "$RELAY_P99" \
        "$name" "$C_MAX" "$C_NS" "$C_P50" "$C_P99" >> "$OUT/summary.tsv"
    echo "$name: relay $RELAY_MAX pps ($RELAY_NS ns/rt, p50 $RELAY_P50 p99 $RELAY_P99 us)," \
        "C $C_MAX pps ($C_NS ns/rt, p50 $C_P50 p99 $C_P99 us), flows in table $flows"
}

measure "1 flow" 1 "$ONE_FLOW_BIND"
measure "1024 flows" $MANY "$MANY_FLOWS_BIND"
FILL=$((TABLE_FLOWS - $(flows_in_table)))
FILL_LINE=$($RUN taskset -c 1 "$BLASTER" flows --target "$RELAY" --token "$TOKEN" --count "$FILL" --bind "$TABLE_BIND" --cpu 1)
echo "fill	$FILL_LINE" >> "$OUT/trials.log"
echo "table filled: $FILL_LINE; flows in table $(flows_in_table)"
measure "1024 of 100k flows" $MANY "$MANY_FLOWS_BIND"
curl -sf "http://$ADMIN/metrics" > "$OUT/metrics.txt" || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - STARTED ))

# ---- report ----
row() {
    local name=$1
    read -r rmax cmax rns cns rp50 rp99 cp50 cp99 dp50 dp99 flows <<< "${RESULT[$name]}"
    awk -v n="$name" -v rmax="$rmax" -v cmax="$cmax" -v rns="$rns" -v cns="$cns" -v rp50="$rp50" -v rp99="$rp99" \
        -v cp50="$cp50" -v cp99="$cp99" -v dp50="$dp50" -v dp99="$dp99" -v flows="$flows" \
        -v limits="${LIMITS[$name]}" 'BEGIN {
        printf "| %s (%d in table) | %d | %d | %.0f%% | %s | %d | %d | %.0f%% | %d / %d (+%d / +%d) | %d / %d (+%d / +%d) |\n",
            n, flows, rmax, cmax, 100 * rmax / cmax, limits, rns, cns, 100 * cns / rns,
            rp50, rp99, rp50 - dp50, rp99 - dp99, cp50, cp99, cp50 - dp50, cp99 - dp99 }'
}
verdict() { awk -v a="$1" -v b="$2" -v goal="$3" 'BEGIN { r = b > 0 ? a / b : 0; met = r >= goal ? "met" : "NOT met"; printf "%.1f%% (%s)", 100 * r, met }'; }
read -r R1 C1 RNS1 CNS1 _ <<< "${RESULT[1 flow]}"
read -r RM CM RNSM CNSM _ <<< "${RESULT[1024 flows]}"
read -r RT CT RNST CNST _ <<< "${RESULT[1024 of 100k flows]}"
{
cat <<EOF
# Parley relay vs plain C forwarder

Generated by \`Benchmarks/relay/run.sh\` on $(date -u +%Y-%m-%dT%H:%MZ) in ${ELAPSED} s.

## Machine

$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores (shared with other jobs: load average
$LOAD_BEFORE before, $LOAD_AFTER after), Linux $(uname -r), loopback only. Parley built with
\`swift build -c release\` ($(git -C "$ROOT" rev-parse --short HEAD)).

## Method

- Rate searches: the driver runs in its own session with autogroup nice -20 and every process
  under test at nice -20, so the machine's other jobs (nice 0, other sessions) take little of
  either core.
- Core 0: the forwarder under test. Relay: \`taskset -c 0 parley relay --workers 1\` (its one
  worker pins itself to core 0; idle timeout 900 s, 120,000-flow table, new-flow limits
  raised). C forwarder: \`forwarder --encap --cpu 0\` (its two threads, in and out, on core 0):
  recvmmsg/sendmmsg in batches of 32, writes and strips the same 8-byte header, no flow table,
  no token check.
- Core 1: \`blaster send\` (sender and receiver thread) and \`blaster echo --encap\`, the one
  echo endpoint both forwarders send to; it returns each encapsulated datagram unchanged, so
  the header sends the reply back to the client.
- Every client's first datagram is a STUN Binding request with a routing token in USERNAME,
  through both forwarders (the relay creates the flow; the C forwarder just forwards it);
  timing starts once every client's request has come back. Client addresses are fixed, so all
  trials of a case reuse the same flows.
- Datagrams of ${SIZE} bytes, each a round trip: client → forwarder → echo → forwarder →
  client. "pps" is round trips per second (each is two datagrams in and two out of the
  forwarder).
- Max rate: a ${TRIAL_SECONDS} s probe offered 400,000 pps, then ${STEPS} bisection steps between half and
  1.2 times what the probe got back, each a ${TRIAL_SECONDS} s trial. A trial passes with under 0.1%
  loss and the blaster sending at least 98% of the offered rate; the figure is the rate received
  in the highest passing trial. "Stopped by" says what failed the next rate up: loss at the
  forwarder, or the load generator (blaster and echo share core 1) falling short of the offered
  rate, in which case the forwarder's own ceiling is higher than the figure. Relay and C steps
  alternate, so both see the same background.
- CPU: the forwarder process's CPU time over the trial (all threads, /proc/PID/task/*/schedstat),
  divided by round trips, at the highest passing rate. The kernel counts softirq time (much of
  the loopback delivery into the receiving socket) apart from any process, so this is the
  forwarder's own share, the part where the two differ; the softirq work is the same datagrams
  for both.
- Latency: ${LATENCY_SECONDS} s at ${LATENCY_RATE} pps, round-trip p50/p99 from send timestamps in the
  payload, with the forwarders, the echo endpoints and the blaster at SCHED_FIFO priority 5 for
  these runs (the blaster's sending thread at 4): at nice -20 the other sessions' jobs still
  delay wakeups by milliseconds, which then decides p99. "Added" is minus the same run with no
  forwarder just before (the blaster straight to a plain echo endpoint, same client count; in
  trials.log); percentiles subtracted, not a percentile of differences.
- 100k case: ${FILL} filler flows (${FILL_LINE}) opened by \`blaster flows\` (one Binding
  request each from ports 20000-29999 of 127.0.10.1, .2, ..., sockets closed
  afterwards; the flows stay in the table for the 900 s idle timeout), on top of the 1,024
  measured flows: the load runs over those 1,024, with the table holding 100,000.

## Results

| case | relay pps | C pps | relay/C | stopped by | relay ns/round trip | C ns/round trip | relay CPU efficiency vs C | relay p50/p99 µs (added) | C p50/p99 µs (added) |
|---|---:|---:|---:|---|---:|---:|---:|---:|---:|
$(row "1 flow")
$(row "1024 flows")
$(row "1024 of 100k flows")

## Goals

- Relay at least 90% of the C forwarder's rate (1 flow): $(verdict "$R1" "$C1" 0.9); by CPU per round
  trip: $(verdict "$CNS1" "$RNS1" 0.9).
- With 100,000 flows in the table, within 10% of the 1-flow figure: $(verdict "$RT" "$R1" 0.9); of the
  1,024-flow figure (same load generator work): $(verdict "$RT" "$RM" 0.9); by CPU per round trip
  against 1 flow: $(verdict "$RNS1" "$RNST" 0.9).

Raw trials: trials.log; per case: summary.tsv; relay counters at the end: metrics.txt.
EOF
} > "$OUT/relay.md"
cat "$OUT/relay.md"
