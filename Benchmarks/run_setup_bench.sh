#!/usr/bin/env bash
# Call set-up time, Parley against the Pion echo peer in the same run: starts
# `PARLEY_BINARY transceiver` and Benchmarks/pion-echo on free loopback ports, runs
# Benchmarks/setup_time.py with aiortc and with headless Chromium against each, writes
# OUT_DIR/setup.md (median per stage, Parley / Pion ratio) next to each run's table
# (setup-SERVER-CLIENT.txt) and raw numbers (setup-SERVER-CLIENT.json). Both servers are
# stopped by their PIDs whatever happens.
# Usage: Benchmarks/run_setup_bench.sh [--only-pion] PARLEY_BINARY OUT_DIR
#   --only-pion  start and measure Pion only (PARLEY_BINARY is not run; its column says so)
# Environment: CALLS (counted calls per client and server, default 20), PYTHON (default:
# the repository's .venv/bin/python if present, else python3).
# Exit status: 0 when every call succeeded, 1 otherwise.
set -uo pipefail
only_pion=0
if [[ "${1:-}" == "--only-pion" ]]; then
    only_pion=1
    shift
fi
if [[ $# -ne 2 ]]; then
    echo "usage: $0 [--only-pion] PARLEY_BINARY OUT_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
parley=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)
calls=${CALLS:-20}
python=${PYTHON:-}
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

"$root/Benchmarks/pion-echo/build.sh" "$out/pion-echo" >/dev/null || exit 1

declare -A pid_of=()
bench_pid=""
cleanup() {
    # The running setup_time.py first: on SIGTERM it stops its chromedriver before exiting.
    for pid in $bench_pid "${pid_of[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Four distinct free ports, held open together while they are chosen.
read -r parley_http parley_udp pion_http pion_udp < <("$python" - <<'PY'
import socket
held = [socket.socket(socket.AF_INET, kind) for kind in
        (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_STREAM, socket.SOCK_DGRAM)]
for probe in held:
    probe.bind(("127.0.0.1", 0))
print(*(probe.getsockname()[1] for probe in held))
PY
)

# start NAME HTTP_PORT COMMAND...: runs COMMAND in the background (log in OUT_DIR/NAME.log)
# and waits for its /healthz.
start() {
    local name=$1 port=$2
    shift 2
    "$@" >"$out/$name.log" 2>&1 &
    pid_of[$name]=$!
    local pid=$! tries=0
    until "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" 2>/dev/null; do
        tries=$((tries + 1))
        if ((tries >= 100)) || ! kill -0 "$pid" 2>/dev/null; then
            echo "$name did not come up; its log:" >&2
            cat "$out/$name.log" >&2
            exit 1
        fi
        sleep 0.1
    done
}

servers=(pion)
start pion "$pion_http" "$out/pion-echo" -http "127.0.0.1:$pion_http" -udp "127.0.0.1:$pion_udp" \
    -web "$root/Sources/ParleyTransceiver/Resources"
if ((only_pion == 0)); then
    servers=(parley pion)
    start parley "$parley_http" "$parley" transceiver --http "127.0.0.1:$parley_http" \
        --udp "127.0.0.1:$parley_udp" --backend echo --log-level warning
fi
declare -A urls=([parley]="http://127.0.0.1:$parley_http" [pion]="http://127.0.0.1:$pion_http")

status=0
for client in aiortc chromium; do
    for server in "${servers[@]}"; do
        name="setup-$server-$client"
        echo "--- $server, $client, $calls calls"
        # In the background and waited for, so a signal to this script is handled at once.
        "$python" "$root/Benchmarks/setup_time.py" --url "${urls[$server]}" --client "$client" \
            --calls "$calls" --json >"$out/$name.json" 2>"$out/$name.txt" &
        bench_pid=$!
        wait "$bench_pid" || status=1
        bench_pid=""
        cat "$out/$name.txt"
    done
done
for server in "${servers[@]}"; do
    kill -0 "${pid_of[$server]}" 2>/dev/null || { echo "$server exited during the run" >&2; status=1; }
done

"$python" - "$out" "$calls" "$only_pion" <<'PY'
import json, os, platform, subprocess, sys
out, calls, only_pion = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
stages = ("signaling", "ice", "dtls", "first_audio")

def load(server, client):
    try:
        with open(os.path.join(out, f"setup-{server}-{client}.json")) as file:
            return json.load(file)
    except (OSError, ValueError):
        return None

def package(name):
    result = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True, text=True)
    return result.stdout or "?"

try:
    import aiortc
    aiortc_version = aiortc.__version__
except ImportError:
    aiortc_version = "?"

lines = [
    "# Call set-up time: Parley vs Pion",
    "",
    f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} cores; loopback;"
    f" aiortc {aiortc_version}, Chromium {package('chromium')}, Pion {package('golang-github-pion-webrtc.v3-dev')}.",
    f"Per client and server: {calls} calls one after another, after one warm-up call (Benchmarks/setup_time.py).",
    "Medians in ms from the start of each call, measured at the client (aiortc: the offer's POST;"
    " Chromium: the click on the demo page's Connect). Parley / Pion below 1 means Parley is faster.",
    "",
    "| Client | Stage | Parley | Pion | Parley / Pion |",
    "|---|---|---:|---:|---:|",
]
runs = []
for client in ("aiortc", "chromium"):
    reports = {server: load(server, client) for server in ("parley", "pion")}
    for stage in stages:
        medians = {}
        cells = []
        for server in ("parley", "pion"):
            report = reports[server]
            if server == "parley" and only_pion:
                cells.append("not run")
            elif report is None:
                cells.append("no result")
            else:
                medians[server] = report["stages"][stage]["median_ms"]
                cells.append("–" if medians[server] is None else f"{medians[server]:.1f}")
        parley, pion = medians.get("parley"), medians.get("pion")
        ratio = f"{parley / pion:.2f}" if parley is not None and pion else "–"
        lines.append(f"| {client} | {stage} | {cells[0]} | {cells[1]} | {ratio} |")
    for server, report in reports.items():
        if report is not None:
            runs.append(f"{client} → {server}: {report['succeeded']}/{report['calls']} calls succeeded")
lines += ["", "Calls: " + "; ".join(runs) + ".",
          "Chromium's first audio is when the page's remote track unmutes (its first packet arrived).",
          "", "Each run's median, p95, min and max (setup-SERVER-CLIENT.txt; per call: the .json files):", ""]
for client in ("aiortc", "chromium"):
    for server in ("parley", "pion"):
        path = os.path.join(out, f"setup-{server}-{client}.txt")
        if os.path.exists(path):
            with open(path) as file:
                lines += ["```", file.read().rstrip(), "```", ""]
with open(os.path.join(out, "setup.md"), "w") as file:
    file.write("\n".join(lines).rstrip() + "\n")
print(f"wrote {os.path.join(out, 'setup.md')}")
PY
exit "$status"
