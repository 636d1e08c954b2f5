#!/usr/bin/env bash
# Builds Parley's image (scripts/build-image.sh) and runs it as Kubernetes would
# (deploy/kubernetes): a relay and a transceiver in containers of the one image, as user
# 10001, read-only root filesystem with no tmpfs, no capabilities, no-new-privileges, routing
# keys from a read-only file mount. Checks the libraries the image loads, both /readyz, the
# demo page, an aiortc call through the relay, and on SIGTERM: the relay's /readyz at 503
# while it drains, then both exit 0 within their bounds. Host network on loopback, free
# ports; every container it starts is removed by id, whatever happens.
#   scripts/image-test.sh [BINARY]     (make image-test; BINARY: the release build)
# Skips, saying so, where podman is not installed (scripts/install-deps.sh --test installs it).
set -euo pipefail
if ! command -v podman >/dev/null; then
    echo "image-test: SKIPPED: podman is not installed (scripts/install-deps.sh --test installs it)"
    exit 0
fi
[[ $(id -u) -eq 0 ]] || exec sudo "$0" "$@"
cd "$(dirname "$0")/.."
binary=${1:-.build/release/parley}
python=.venv/bin/python
[[ -x $python ]] || { echo "image-test: no $python: run scripts/install-deps.sh --test" >&2; exit 1; }

scripts/build-image.sh "$binary"
image=parley:$(git describe --tags --always --dirty)

# crun 1.8 refuses hosts with hybrid cgroups (v1 controllers beside a v2 mount), which this
# machine kind has; runc runs there and everywhere else. Explicit ulimits: podman's defaults
# for root raise them, which a runtime without CAP_SYS_RESOURCE (a nested container) may not.
podman=(podman --runtime runc)
work=$(mktemp -d)
containers=()
cleanup() {
    ((${#containers[@]})) && "${podman[@]}" rm --force --time 0 "${containers[@]}" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# A real key, as the Secret would hold it; world-readable like a Secret volume's files.
printf '1:%s\n' "$(head -c 32 /dev/urandom | base64)" > "$work/routing-keys"
chmod 0644 "$work/routing-keys"
read -r relay_public relay_backbone relay_admin transceiver_http transceiver_udp < <("$python" Benchmarks/free_ports.py 5)

# start NAME ARG...: runs the image with ARG... as Kubernetes' securityContext does; prints the id.
start() {
    local name=$1; shift
    "${podman[@]}" run --detach --pull never --network host \
        --user 10001:10001 --read-only --read-only-tmpfs=false --cap-drop ALL --security-opt no-new-privileges \
        --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
        --volume "$work/routing-keys:/etc/parley/routing-keys:ro" \
        --name "parley-image-test-$name-$$" "$image" "$@"
}

# status URL: the HTTP status of a GET, or 000 when nothing answers.
status() {
    "$python" - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
except urllib.error.HTTPError as error:
    print(error.code)
except OSError:
    print("000")
PY
}

failures=()
passed=0
check() {
    local name=$1; shift
    if "$@"; then echo "PASS $name"; passed=$((passed + 1)); else echo "FAIL $name"; failures+=("$name"); fi
}

# loads_own_libsrtp: every library resolves inside the image, libsrtp2 to the OpenSSL build.
loads_own_libsrtp() {
    local loaded
    loaded=$("${podman[@]}" run --rm --pull never --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
        --entrypoint /lib64/ld-linux-x86-64.so.2 "$image" --list /usr/local/bin/parley)
    ! grep 'not found' <<<"$loaded" && grep -q 'libsrtp2.so.1 => /usr/local/lib/' <<<"$loaded"
}

# ready ID URL: /readyz answers 200 within 30 s while container ID runs.
ready() {
    local id=$1 url=$2
    for _ in $(seq 150); do
        [[ $(status "$url") == 200 ]] && return 0
        [[ $("${podman[@]}" inspect --format '{{.State.Running}}' "$id") == true ]] || break
        sleep 0.2
    done
    "${podman[@]}" logs "$id" | tail -20
    return 1
}

# draining URL: /readyz answers 503 within 5 s.
draining() {
    for _ in $(seq 25); do
        [[ $(status "$1") == 503 ]] && return 0
        sleep 0.2
    done
    return 1
}

# exits_cleanly ID LIMIT: container ID exits with 0 within LIMIT seconds.
exits_cleanly() {
    local id=$1 limit=$2 code
    code=$(timeout "$limit" "${podman[@]}" wait "$id") || { echo "still running after $limit s"; return 1; }
    [[ $code == 0 ]] || { echo "exit code $code"; "${podman[@]}" logs "$id" | tail -20; return 1; }
}

check "the image runs as 10001:10001" test "$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")" == 10001:10001
check "in the image every library resolves, libsrtp2 to the OpenSSL build in /usr/local" loads_own_libsrtp

relay=$(start relay relay --public "127.0.0.1:$relay_public" --internal "127.0.0.1:$relay_backbone" \
    --admin "127.0.0.1:$relay_admin" --keys /etc/parley/routing-keys --workers 1 --drain-seconds 2)
containers+=("$relay")
transceiver=$(start transceiver transceiver --http "127.0.0.1:$transceiver_http" --udp "127.0.0.1:$transceiver_udp" \
    --shards 1 --advertise "127.0.0.1:$relay_public" --relay 127.0.0.1 --keys /etc/parley/routing-keys \
    --backend echo --drain-seconds 5)
containers+=("$transceiver")
url=http://127.0.0.1:$transceiver_http

check "relay /readyz is 200" ready "$relay" "http://127.0.0.1:$relay_admin/readyz"
check "transceiver /readyz is 200" ready "$transceiver" "$url/readyz"
check "transceiver serves the demo page" grep -q '<title>Parley demo' <("$python" -c "import urllib.request; print(urllib.request.urlopen('$url/', timeout=5).read().decode())")
check "aiortc call through the relay echoes its tone" \
    timeout 60 "$python" Tests/Interop/tone_echo.py --url "$url" --freq 1000 --seconds 2

"${podman[@]}" kill --signal TERM "$relay" >/dev/null
check "relay /readyz is 503 after SIGTERM, while it drains" draining "http://127.0.0.1:$relay_admin/readyz"
check "relay exits 0 within its drain (2 s) + 5 s" exits_cleanly "$relay" 7
"${podman[@]}" kill --signal TERM "$transceiver" >/dev/null
check "transceiver with no live calls exits 0 within 5 s of SIGTERM" exits_cleanly "$transceiver" 5

echo "image-test: $passed passed, ${#failures[@]} failed"
((${#failures[@]} == 0))
