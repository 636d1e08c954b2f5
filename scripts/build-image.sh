#!/usr/bin/env bash
# Builds Parley's OCI image on this machine, with no registry: one image for relay and
# transceiver, tagged parley:<git describe> and parley:latest.
#   scripts/build-image.sh [BINARY] [--oci-archive FILE]
# BINARY is a release build linked with the Swift runtime statically (`make release`;
# default .build/release/parley). The root filesystem is Debian (this host's suite), made by
# mmdebstrap from Debian's mirror: only the packages of the libraries BINARY links, found
# with ldd and dpkg, extracted with their dpkg status (so image scanners see them), plus what
# BINARY links from /usr/local (libsrtp2 with the OpenSSL backend, from install-deps.sh).
# No shell, no package manager; runs as 10001:10001. --oci-archive also writes the image
# to FILE for `skopeo copy oci-archive:FILE docker://REGISTRY/parley:TAG` elsewhere.
# Needs root (it re-runs itself with sudo), podman and mmdebstrap (install-deps.sh --image).
set -euo pipefail
[[ $(id -u) -eq 0 ]] || exec sudo "$0" "$@"
cd "$(dirname "$0")/.."

binary=.build/release/parley
oci_archive=
while (($#)); do
    case $1 in
        --oci-archive) oci_archive=${2:?--oci-archive needs a FILE}; shift 2 ;;
        *) binary=$1; shift ;;
    esac
done
for tool in podman mmdebstrap; do
    command -v "$tool" >/dev/null || { echo "build-image: $tool is missing: run scripts/install-deps.sh --image" >&2; exit 1; }
done
[[ -x $binary ]] || { echo "build-image: no binary at $binary: run make release" >&2; exit 1; }
resources=$(dirname "$binary")/parley_ParleyTransceiver.resources  # the demo page (Bundle.module)
[[ -d $resources ]] || { echo "build-image: $resources is missing beside the binary" >&2; exit 1; }

version=$(git describe --tags --always --dirty)
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs

# owner PATH: the Debian package that installed PATH, looked up under both of its usrmerge names.
owner() {
    local path
    for path in "$1" "/usr$1" "${1#/usr}"; do
        # awk reads to the end: quitting early would break dpkg's pipe (SIGPIPE under pipefail).
        dpkg -S "$path" 2>/dev/null | awk -F': ' '!/^diversion/ && !found {sub(/:.*/, "", $1); print $1; found = 1}' \
            | grep . && return 0
    done
    return 1
}

packages=()
local_libraries=()
if ldd "$binary" | grep 'not found'; then
    echo "build-image: $binary links libraries this machine lacks" >&2
    exit 1
fi
for library in $(ldd "$binary" | awk '$2 == "=>" {print $3}'); do
    if [[ $library == /usr/local/* ]]; then
        local_libraries+=("$library")
    elif package=$(owner "$library"); then
        packages+=("$package")
    else
        echo "build-image: $library (linked by $binary) comes from no Debian package and not /usr/local" >&2
        exit 1
    fi
done
include=$(printf '%s\n' "${packages[@]}" | sort -u | paste -sd,)
echo "build-image: Debian $suite with $include; from /usr/local: ${local_libraries[*]:-nothing}"

# extract: the packages (and their dependencies) unpacked, no maintainer scripts, no dpkg
# in the image; the hook records them in dpkg's status file while the .debs are at hand.
mmdebstrap --quiet --variant=extract --include="$include" \
    --extract-hook='for deb in "$1"/var/cache/apt/archives/*.deb; do
        dpkg-deb --field "$deb"; printf "Status: install ok installed\n\n"; done > "$1/var/lib/dpkg/status"' \
    "$suite" "$rootfs" \
    "deb http://deb.debian.org/debian $suite main" \
    "deb http://deb.debian.org/debian $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main"

install -d "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
strip --strip-debug -o "$rootfs/usr/local/bin/parley" "$binary"  # symbols stay, for backtraces
cp -r "$resources" "$rootfs/usr/local/bin/"
for library in "${local_libraries[@]}"; do
    install -D -m 0644 "$library" "$rootfs$library"
done
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nparley:x:10001:10001:parley:/nonexistent:/usr/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nparley:x:10001:\n' > "$rootfs/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
# libc-bin, which owns ld.so.conf, is not in the image; its one line makes ldconfig read
# libc6's ld.so.conf.d, which names /usr/local/lib/<multiarch>.
echo 'include /etc/ld.so.conf.d/*.conf' > "$rootfs/etc/ld.so.conf"
ldconfig -r "$rootfs"

previous=$(podman image inspect --format '{{.Id}}' "parley:$version" parley:latest 2>/dev/null | sort -u || true)
tar --numeric-owner -C "$rootfs" -c . | podman import --quiet \
    --change 'USER=10001:10001' \
    --change 'WORKDIR=/' \
    --change 'ENTRYPOINT=["/usr/local/bin/parley"]' \
    --change 'CMD=["--help"]' \
    --change "LABEL=org.opencontainers.image.title=parley" \
    --change "LABEL=org.opencontainers.image.version=$version" \
    --change "LABEL=org.opencontainers.image.revision=$(git rev-parse HEAD)" \
    --message "parley $version on Debian $suite" \
    - "parley:$version" >/dev/null
podman tag "parley:$version" parley:latest
for image in $previous; do
    # An earlier build these tags moved off, unless another tag names it; a container using it keeps it.
    if [[ $(podman image inspect --format '{{len .RepoTags}}' "$image") == 0 ]]; then
        podman rmi "$image" >/dev/null 2>&1 || true
    fi
done

if [[ -n $oci_archive ]]; then
    rm -f "$oci_archive"
    podman save --quiet --format oci-archive -o "$oci_archive" "parley:$version"
    echo "build-image: wrote $oci_archive"
fi
size=$(podman image inspect --format '{{.Size}}' "parley:$version")
echo "build-image: parley:$version (parley:latest), $((size / 1000000)) MB"
