#!/bin/sh
# Builds the Pion echo peer, starts it on free loopback ports serving the demo page, runs every
# interop check against it, and stops it (by its PID) whatever happens.
# Usage: Tests/Interop/run_against_pion.sh BUILD_DIR   (from the repository root)
# Exit status: the number of failed checks (0 = all passed).
set -u
if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
build_dir=$(cd "$1" && pwd)
interop="$root/Tests/Interop"

"$root/Benchmarks/pion-echo/build.sh" "$build_dir/pion-echo" || exit 1
http_port=$(python3 -c "import sys; sys.path.insert(0, '$interop'); import peers; print(peers.free_port())")
udp_port=$(python3 -c "import socket, sys; sys.path.insert(0, '$interop'); import peers; print(peers.free_port(socket.SOCK_DGRAM))")
"$build_dir/pion-echo" -http "127.0.0.1:$http_port" -udp "127.0.0.1:$udp_port" -web "$root/Sources/ParleyTransceiver/Resources" \
    >"$build_dir/pion-echo.log" 2>&1 &
pion_pid=$!
trap 'kill "$pion_pid" 2>/dev/null; wait "$pion_pid" 2>/dev/null' EXIT INT TERM

url="http://127.0.0.1:$http_port"
tries=0
until python3 -c "import urllib.request; urllib.request.urlopen('$url/healthz', timeout=1)" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -ge 50 ] || ! kill -0 "$pion_pid" 2>/dev/null; then
        echo "pion-echo did not come up; log:" >&2
        cat "$build_dir/pion-echo.log" >&2
        exit 1
    fi
    sleep 0.1
done

failed=0
run() {
    timeout 120 python3 "$@" || failed=$((failed + 1))
}
run "$interop/tone_echo.py" --url "$url"
run "$interop/concurrent_echo.py" --url "$url" --calls 20
run "$interop/chromium_demo.py" --url "$url/"
run "$interop/udp_garbage.py" --udp "127.0.0.1:$udp_port" --url "$url" --no-metrics
echo "failed checks: $failed"
exit "$failed"
