#!/usr/bin/env bash
# Installs what Parley needs on a Debian machine, idempotently.
#   scripts/install-deps.sh          build and demo: C libraries
#   scripts/install-deps.sh --image  also the release build's libcurl and the image tools: podman, runc, mmdebstrap
#   scripts/install-deps.sh --test   also the above and the test peers: Chromium, chromedriver, a Python venv with aiortc
set -euo pipefail
cd "$(dirname "$0")/.."
sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)

# libsrtp2 itself is built below from Debian's source package; dpkg-dev unpacks it.
packages=(libssl-dev libopus-dev pkg-config gcc make dpkg-dev)
# A release build links Foundation statically, and with it FoundationNetworking's libcurl.
image_packages=(libcurl4-openssl-dev podman runc mmdebstrap)
case "${1:-}" in
    --image) packages+=("${image_packages[@]}") ;;
    --test) packages+=("${image_packages[@]}" chromium chromium-driver python3-venv redis-server nftables) ;;
esac

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's binary libsrtp2 is built against NSS, whose per-packet cost grows with the number
# of live sessions and whose per-session state is larger (BENCHMARKS.md, "SRTP crypto
# backend"). Parley links the same Debian
# source (patches applied) built with libsrtp2's OpenSSL backend, into /usr/local: the build
# finds it through pkg-config, the loader searches /usr/local before the system directories.
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
srtp_stamp=/usr/local/share/parley/libsrtp2-openssl.suite
multiarch=$(gcc -print-multiarch)
if [[ "$(cat "$srtp_stamp" 2>/dev/null)" != "$suite" || ! -e /usr/local/lib/$multiarch/libsrtp2.so.1 ]]; then
    echo "building libsrtp2 from Debian $suite's source with the OpenSSL crypto backend"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    # A private deb-src list, so the machine's apt sources stay as they are.
    mkdir -p "$work/apt/lists/partial"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
        > "$work/apt/sources.list"
    apt_private=(-o "Dir::Etc::sourcelist=$work/apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent
                 -o "Dir::State::Lists=$work/apt/lists" -o APT::Sandbox::User=root)
    apt-get "${apt_private[@]}" update -qq
    (cd "$work" && apt-get "${apt_private[@]}" source -qq libsrtp2 >/dev/null)
    source_dir=$(find "$work" -maxdepth 1 -type d -name 'libsrtp*' | head -1)
    (cd "$source_dir" \
        && ./configure -q --enable-openssl --prefix=/usr/local --libdir="/usr/local/lib/$multiarch" >/dev/null \
        && make -s -j"$(nproc)" shared_library >/dev/null)
    (cd "$source_dir" && "${sudo_cmd[@]}" make -s install >/dev/null)
    "${sudo_cmd[@]}" rm -f "/usr/local/lib/$multiarch/libsrtp2.a"
    "${sudo_cmd[@]}" ldconfig
    "${sudo_cmd[@]}" mkdir -p "$(dirname "$srtp_stamp")"
    echo "$suite" | "${sudo_cmd[@]}" tee "$srtp_stamp" >/dev/null
    rm -rf "$work"
    trap - EXIT
fi
# awk reads to the end: quitting early would break ldconfig's pipe (SIGPIPE under pipefail).
loaded=$(ldconfig -p | awk '/libsrtp2\.so\.1 / && !found {print $NF; found = 1}')
if [[ "$loaded" != /usr/local/* ]]; then
    echo "install-deps: the loader resolves libsrtp2.so.1 to '$loaded', not the OpenSSL build in /usr/local" >&2
    exit 1
fi

# venv DIR REQUIREMENTS WHAT: a Python venv with REQUIREMENTS, rebuilt only when they change.
venv() {
    local dir=$1 requirements=$2 what=$3
    local stamp=$dir/.requirements.sha256
    local wanted
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    if [[ ! -x $dir/bin/python || "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]]; then
        echo "preparing $what in $dir"
        /usr/bin/python3 -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements"
        echo "$wanted" > "$stamp"
    fi
}

if [[ "${1:-}" == "--test" ]]; then
    venv .venv Tests/Interop/requirements.txt "the Python test peers"
    venv .venv-manifests deploy/kubernetes/validate-requirements.txt "the manifest checkers"
fi
