#!/usr/bin/env bash
# libsrtp2's crypto backend: the OpenSSL build Parley links (scripts/install-deps.sh builds it
# from Debian's source into /usr/local) against Debian's own binary package, which is built
# with NSS. The same program (srtp_cost.c) runs against each library in turn; the loader is
# pointed at Debian's with LD_LIBRARY_PATH. Installs Debian's runtime package libsrtp2-1 for
# the comparison if it is missing.
#
#   Benchmarks/srtp-backend/run.sh OUT_DIR     writes OUT_DIR/srtp-backend.md and .jsonl
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
multiarch=$(gcc -print-multiarch)
debian_dir=/usr/lib/$multiarch
if ! dpkg-query -W -f='${Status}' libsrtp2-1 2>/dev/null | grep -q "install ok installed"; then
    sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends libsrtp2-1 >/dev/null
fi
gcc -O2 -Wall -I/usr/local/include -o "$out/srtp_cost" "$here/srtp_cost.c" -L"/usr/local/lib/$multiarch" -lsrtp2

: > "$out/srtp-backend.jsonl"
for sessions in 1 600; do
    for backend in openssl nss; do
        library_path=()
        [[ $backend == nss ]] && library_path=(env "LD_LIBRARY_PATH=$debian_dir")
        loaded=$("${library_path[@]}" ldd "$out/srtp_cost" | awk '/libsrtp2/{print $3}')
        "${library_path[@]}" taskset -c 0 "$out/srtp_cost" "$sessions" 300000 \
            | python3 -c "import json,sys
for line in sys.stdin:
    row = json.loads(line); row.update(backend=sys.argv[1], library=sys.argv[2]); print(json.dumps(row))" \
                "$backend" "$loaded" >> "$out/srtp-backend.jsonl"
    done
done
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = [json.loads(line) for line in open(os.path.join(out, "srtp-backend.jsonl"))]
cost = {(r["profile"], r["sessions"], r["backend"]): r["microsecondsPerProtectAndUnprotect"] for r in rows}
libraries = {r["backend"]: r["library"] for r in rows}
lines = ["| profile | sessions in turn | OpenSSL build, µs | Debian's NSS build, µs | NSS / OpenSSL |",
         "|---|---:|---:|---:|---:|"]
for profile in ("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"):
    for sessions in (1, 600):
        ours, theirs = cost.get((profile, sessions, "openssl")), cost.get((profile, sessions, "nss"))
        if ours and theirs:
            lines.append(f"| {profile} | {sessions} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}× |")
lines += ["", "One SRTP protect plus one unprotect of an 80-byte payload, 300,000 times, pinned to core 0. "
          f"Libraries: OpenSSL build {libraries.get('openssl')}, Debian's {libraries.get('nss')}."]
open(os.path.join(out, "srtp-backend.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
