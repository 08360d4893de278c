#!/bin/bash
# net.sh - ingest transport throughput: else-send -> be_net over loopback
# mutual TLS, with a worker that only acknowledges (no PostgreSQL).
#
# usage: bench/net.sh [--lines N] [--batch-lines N] [--batch-bytes N] [--nctx N] [--no-build]
#
# Builds a Release tree in build-bench/ (else-send, bench_net), makes
# certificates with deploy/else-ca.sh, repeats the real Postfix logs of
# tests/data/postfix/*.log to at least --lines lines (default 1,000,000), and
# measures in one run:
#   else-send -> bench_net   lines/s and MB/s of line text, acked batch by batch
#   a plain TLS 1.2 stream (Python ssl = OpenSSL) carrying the same bytes
#                            with the same keys: the reference (no framing,
#                            no protobuf, no acks)
# and prints the ratio.  Machines are noisy: read the ratio.  Never fails on
# a figure (STYLE.md: no timed assertions).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=$root/build-bench
lines=1000000
blines=2000
bbytes=524288
nctx=8
build=1
while [ $# -gt 0 ]; do
	case $1 in
	--lines) lines=${2:?}; shift 2 ;;
	--batch-lines) blines=${2:?}; shift 2 ;;
	--batch-bytes) bbytes=${2:?}; shift 2 ;;
	--nctx) nctx=${2:?}; shift 2 ;;
	--no-build) build=0; shift ;;
	*) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done

if [ $build = 1 ]; then
	cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >/dev/null
	cmake --build "$bdir" -j"$(nproc)" --target else-send bench_net >/dev/null
fi

tmp=$(mktemp -d)
srv=
cleanup() {
	[ -n "$srv" ] && kill "$srv" 2>/dev/null
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

ca=$root/deploy/else-ca.sh
bash "$ca" init "$tmp/ca" >/dev/null
bash "$ca" server "$tmp/ca" localhost >/dev/null
bash "$ca" client "$tmp/ca" bench.example.org >/dev/null

log=$tmp/input.log
: >"$log"
while [ "$(wc -l <"$log")" -lt "$lines" ]; do
	cat "$root"/tests/data/postfix/*.log >>"$log"
done
n=$(wc -l <"$log")
bytes=$(wc -c <"$log")

echo "machine: $(uname -m) $(uname -r), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "input: $n lines, $bytes bytes (tests/data/postfix/*.log repeated)"

"$bdir/bin/bench_net" tls+tcp://127.0.0.1:0 "$tmp/ca/ca.crt" "$tmp/ca/server-localhost.pem" "$nctx" \
	>"$tmp/srv.out" 2>"$tmp/srv.err" &
srv=$!
for _ in $(seq 100); do grep -q '^port ' "$tmp/srv.out" && break; sleep 0.05; done
port=$(awk '/^port /{print $2}' "$tmp/srv.out")

out=$("$bdir/bin/else-send" --backend "tls+tcp://127.0.0.1:$port" --server-name localhost \
	--ca "$tmp/ca/ca.crt" --cert "$tmp/ca/client-bench.example.org.pem" --stream bench \
	--batch-lines "$blines" --batch-bytes "$bbytes" "$log")
echo "$out"
kill "$srv"
wait "$srv" || true
srv=
grep -E '^server' "$tmp/srv.out"
send_s=$(sed -E 's/.* ([0-9.]+) s, .*/\1/' <<<"$out")

# Reference: the same bytes through one TLS 1.2 stream with the same
# certificates (Python's ssl, i.e. OpenSSL, 1 MiB writes, one thread each
# side): what a plain encrypted byte pipe does on this machine.
ref=$(python3 - "$tmp/ca" "$log" <<'PY'
import socket, ssl, sys, threading, time
d, path = sys.argv[1], sys.argv[2]
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
sctx.minimum_version = sctx.maximum_version = ssl.TLSVersion.TLSv1_2
sctx.load_cert_chain(d + "/server-localhost.crt", d + "/server-localhost.key")
sctx.load_verify_locations(d + "/ca.crt")
sctx.verify_mode = ssl.CERT_REQUIRED
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cctx.minimum_version = cctx.maximum_version = ssl.TLSVersion.TLSv1_2
cctx.load_verify_locations(d + "/ca.crt")
cctx.load_cert_chain(d + "/client-bench.example.org.crt", d + "/client-bench.example.org.key")
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
got = [0]
def serve():
    c, _ = ls.accept()
    s = sctx.wrap_socket(c, server_side=True)
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        got[0] += len(b)
    s.close()
t = threading.Thread(target=serve)
t.start()
data = open(path, "rb").read()
c = cctx.wrap_socket(socket.create_connection(ls.getsockname()), server_hostname="localhost")
t0 = time.monotonic()
for i in range(0, len(data), 1 << 20):
    c.sendall(data[i:i + (1 << 20)])
c.shutdown(socket.SHUT_WR)
c.close()
t.join()
dt = time.monotonic() - t0
print(f"{dt:.4f} {got[0]}")
PY
)
ref_s=${ref% *}
ref_bytes=${ref#* }
[ "$ref_bytes" = "$bytes" ] || echo "reference: received $ref_bytes of $bytes bytes"
printf 'reference (one TLS 1.2 stream, OpenSSL): %.3f s, %.0f lines/s, %.1f MB/s\n' "$ref_s" \
	"$(echo "$n / $ref_s" | bc -l)" "$(echo "$bytes / $ref_s / 1000000" | bc -l)"
printf 'else-send -> be_net / reference: %.2f\n' "$(echo "$ref_s / $send_s" | bc -l)"
