#!/usr/bin/env bash
# Installs what Parley needs on a Debian machine, idempotently.
#   scripts/install-deps.sh          build and demo: C libraries
#   scripts/install-deps.sh --test   also the test peers: Chromium, chromedriver, a Python venv with aiortc
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libssl-dev libsrtp2-dev libopus-dev pkg-config)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(chromium chromium-driver python3-venv redis-server)
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--test" ]]; then
    requirements=Tests/Interop/requirements.txt
    stamp=.venv/.requirements.sha256
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ ! -x .venv/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
        echo "preparing the Python test peers in .venv"
        /usr/bin/python3 -m venv .venv
        .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
        echo "$wanted" > "$stamp"
    fi
fi
