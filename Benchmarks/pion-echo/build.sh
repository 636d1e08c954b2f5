#!/bin/sh
# Builds the Pion echo peer offline against Debian's Go packages (golang-go,
# golang-github-pion-webrtc.v3-dev), in GOPATH mode: the /v3 import path resolves only
# when the program sits inside a GOPATH src directory and has its own go.mod.
# Usage: build.sh OUT_BINARY   (installs nothing; safe to run again)
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_BINARY" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
out_dir=$(cd "$(dirname "$1")" && pwd)
out="$out_dir/$(basename "$1")"
command -v go >/dev/null || { echo "build.sh: go not found (apt-get install golang-go golang-github-pion-webrtc.v3-dev)" >&2; exit 1; }
[ -d /usr/share/gocode/src/github.com/pion/webrtc ] || { echo "build.sh: Pion not found (apt-get install golang-github-pion-webrtc.v3-dev)" >&2; exit 1; }
gopath="$out_dir/pion-echo-gopath"
mkdir -p "$gopath/src"
ln -sfn "$here" "$gopath/src/pionecho"
cd "$gopath/src/pionecho"
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= GOCACHE="$gopath/cache" go build -o "$out" .
echo "built $out"
