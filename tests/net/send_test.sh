#!/bin/bash
# send_test.sh ELSE-SEND BENCH-NET DATADIR - else-send against an ack-only
# ingest server (bench_net) over loopback mutual TLS, with the certificates
# of $ELSE_TEST_CERTS (run.sh): every line of the real Postfix logs is
# acknowledged, in several batches; a client of another CA, a wrong server
# name and a missing file make else-send fail with status 1.
set -euo pipefail
send=$1
server=$2
data=$3
c=$ELSE_TEST_CERTS
tmp=$(mktemp -d)
srv_pid=
cleanup() {
	[ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "send_test: FAIL: $*" >&2
	exit 1
}

"$server" tls+tcp://127.0.0.1:0 "$c/ca1/ca.crt" "$c/ca1/server-localhost.pem" 4 \
	>"$tmp/srv.out" 2>"$tmp/srv.err" &
srv_pid=$!
for _ in $(seq 100); do
	grep -q '^port ' "$tmp/srv.out" 2>/dev/null && break
	sleep 0.05
done
port=$(awk '/^port /{print $2}' "$tmp/srv.out")
[ -n "$port" ] || fail "server did not start: $(cat "$tmp/srv.err")"
url=tls+tcp://127.0.0.1:$port

logs=("$data"/mx1.maillog.log "$data"/mx2.maillog.log "$data"/mx3.maillog.log "$data"/volume-sample.log)
want=$(cat "${logs[@]}" | wc -l)
common=(--backend "$url" --server-name localhost --ca "$c/ca1/ca.crt")

out=$("$send" "${common[@]}" --cert "$c/ca1/client-mx1.example.org.pem" --stream file:test \
	--batch-lines 100 "${logs[@]}")
echo "$out"
[[ $out == *" $want lines,"* ]] || fail "expected $want lines"
[[ $out == *"as mx1.example.org"* ]] || fail "identity"
batches=$(sed -E 's/.* ([0-9]+) batches.*/\1/' <<<"$out")
[ "$batches" -eq $(((want + 99) / 100)) ] || fail "batches: $batches"

# --batch-bytes cuts batches by size; stdin works.
out=$(cat "${logs[@]}" | "$send" "${common[@]}" --cert "$c/ca1/client-mx2.example.org.pem" \
	--stream stdin:test --batch-bytes 10000 -)
echo "$out"
[[ $out == *" $want lines,"* ]] || fail "stdin: expected $want lines"
batches=$(sed -E 's/.* ([0-9]+) batches.*/\1/' <<<"$out")
[ "$batches" -gt 20 ] || fail "batch-bytes: only $batches batches"

# Refusals: exit 1, nothing acknowledged.
if "$send" "${common[@]}" --cert "$c/ca2/client-mx1.example.org.pem" --stream x \
	--timeout 1000 --retries 1 "${logs[0]}" >"$tmp/o" 2>&1; then
	fail "client of another CA accepted"
fi
grep -q ' 0 lines,' "$tmp/o" || fail "foreign CA: $(cat "$tmp/o")"
if "$send" --backend "$url" --server-name wrong.example --ca "$c/ca1/ca.crt" \
	--cert "$c/ca1/client-mx1.example.org.pem" --stream x --timeout 1000 --retries 1 \
	"${logs[0]}" >"$tmp/o" 2>&1; then
	fail "wrong server name accepted"
fi
if "$send" "${common[@]}" --cert "$c/ca1/client-mx1.example.org.pem" --stream x \
	"$tmp/no-such-file" >"$tmp/o" 2>&1; then
	fail "missing file accepted"
fi

kill "$srv_pid"
wait "$srv_pid" || true
srv_pid=
cat "$tmp/srv.out"
grep -q "server: .* $((want * 2)) lines" "$tmp/srv.out" || fail "server counted other lines"
echo "send_test: ok"
