#!/bin/bash
# query_e2e.sh - else-backend as it runs: the embedded PostgreSQL, the ingest
# listener and the query service (query_listen).  The first admin is made
# with --create-admin (which leaves no PostgreSQL running behind it), the
# harness logs go in through else-send, and query_client, a frontend with a
# certificate of the ELSE CA, logs in and finds them with a quick search over
# mutual TLS.  Refusals on the way: a short password, a wrong one, a
# collector's certificate in place of a frontend's.  Then a load with many
# senders on one host: the top lists are refreshed within about a minute
# (sql/015), which takes this test a minute.
#
# usage: query_e2e.sh BINDIR DATADIR    (BINDIR: build/bin; DATADIR: tests/data/postfix)
# Needs root (the embedded PostgreSQL runs as user postgres).  Ports: two free
# ones on 127.0.0.1 picked at run time (tests/free_ports.py;
# ELSE_TEST_PORT_RANGE=LO-HI confines them), or ELSE_TEST_PORT and the next.
set -euo pipefail
bin=$1
data=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -n "${ELSE_TEST_PORT:-}" ]; then
	ports=("$ELSE_TEST_PORT" $((ELSE_TEST_PORT + 1)))
else
	mapfile -t ports < <(python3 "$root/tests/free_ports.py" 2)
fi
[ ${#ports[@]} = 2 ] || { echo "query_e2e: FAIL: no free ports" >&2; exit 1; }
port=${ports[0]}
qport=${ports[1]}
work=$(mktemp -d /tmp/else-qe2e.XXXXXX)
chmod 755 "$work"
url=tls+tcp://127.0.0.1:$port
qurl=tls+tcp://127.0.0.1:$qport
bpid=

cleanup() {
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	"$bin/pg_tool" stop "$work/state" >/dev/null 2>&1 || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "query_e2e: FAIL: $*" >&2
	tail -20 "$work/backend.log" >&2 || true
	KEEP=1
	echo "query_e2e: kept $work" >&2
	exit 1
}
pg_running() { [ -f "$work/state/pg/data/postmaster.pid" ]; }
echo "query_e2e: ports: ingest $port, query $qport"

bash "$root/deploy/else-ca.sh" init "$work/ca" >/dev/null
bash "$root/deploy/else-ca.sh" server "$work/ca" backend >/dev/null
for h in mx1 mx2 mx3 relay1 frontend1; do bash "$root/deploy/else-ca.sh" client "$work/ca" $h >/dev/null; done
chmod 755 "$work/ca"
chmod 644 "$work/ca/ca.crt"
cat >"$work/else-backend.conf" <<CONF
state_dir = $work/state
listen = $url
query_listen = $qurl
ca_file = $work/ca/ca.crt
cert_file = $work/ca/server-backend.pem
linger = 0s
idle_flush = 1s
metrics_interval = 1s
CONF

# The first admin: a short password is refused, a good one makes the user;
# neither leaves the embedded PostgreSQL running.
if echo 'short' | "$bin/else-backend" -c "$work/else-backend.conf" --create-admin root \
	>"$work/create.log" 2>&1; then
	fail "a short admin password was accepted"
fi
grep -q "fewer than 10" "$work/create.log" || fail "short password: $(cat "$work/create.log")"
pg_running && fail "--create-admin left PostgreSQL running after an error"
echo 'the admin password' | "$bin/else-backend" -c "$work/else-backend.conf" \
	--create-admin root >"$work/create.log" 2>&1 || fail "--create-admin: $(cat "$work/create.log")"
grep -q "created admin root" "$work/create.log" || fail "no admin made"
pg_running && fail "--create-admin left PostgreSQL running"
echo "query_e2e: admin made, embedded PostgreSQL stopped again"

"$bin/else-backend" -c "$work/else-backend.conf" >"$work/backend.log" 2>&1 &
bpid=$!
for _ in $(seq 1 300); do
	grep -q "query service on" "$work/backend.log" && break
	kill -0 "$bpid" 2>/dev/null || fail "else-backend exited at start"
	sleep 0.1
done
grep -q "query service on" "$work/backend.log" || fail "no query service"
# A running daemon's database survives an administration command.
echo 'another password' | "$bin/else-backend" -c "$work/else-backend.conf" \
	--set-password root >"$work/create.log" 2>&1 || fail "--set-password: $(cat "$work/create.log")"
pg_running || fail "--set-password stopped the running daemon's PostgreSQL"

for h in mx1 mx2 mx3; do
	"$bin/else-send" --backend "$url" --ca "$work/ca/ca.crt" --cert "$work/ca/client-$h.pem" \
		--server-name backend --stream file:/var/log/mail.log --batch-lines 50 \
		--timeout 5000 --quiet "$data/$h.maillog.log" >/dev/null 2>>"$work/send.log" ||
		fail "else-send $h"
done

client() { # USER PASSWORD CERT QUERY
	echo "$2" | "$bin/query_client" "$qurl" "$work/ca/ca.crt" "$3" backend "$1" "$4"
}
fe=$work/ca/client-frontend1.pem
# The flows are written after idle_flush: poll for them.
rows=0
for _ in $(seq 1 100); do
	out=$(client root 'another password' "$fe" alice@remote.test) || true
	rows=$(sed -n 's/^rows \([0-9]*\).*/\1/p' <<<"$out")
	[ "${rows:-0}" -gt 0 ] && break
	sleep 0.2
done
[ "${rows:-0}" -gt 0 ] || fail "quick search found nothing: $out"
grep -q "^row [0-9a-f]\{16\} mx[123] " <<<"$out" || fail "rows: $out"
echo "query_e2e: quick search over TLS found $rows transactions of alice@remote.test"
# A queue ID from that answer finds its transaction again.
qid=$(awk '/^row /{print $4; exit}' <<<"$out")
out=$(client root 'another password' "$fe" "$qid") || fail "quick by queue ID: $out"
grep -q "^row .* $qid " <<<"$out" || fail "queue ID $qid not found: $out"

# Refusals: the old password, a collector's certificate.
if out=$(client root 'the admin password' "$fe" x@y.test); then fail "old password: $out"; fi
grep -q "^login Q_UNAUTHENTICATED" <<<"$out" || fail "old password: $out"
if out=$(client root 'another password' "$work/ca/client-mx1.pem" x@y.test); then
	fail "collector certificate served: $out"
fi
grep -q "^auth Q_PEER_UNAUTHENTICATED" <<<"$out" || fail "collector certificate: $out"
# The query service's counters in metrics.json (rewritten every second).
q_ok='.query.status.ok >= 4 and .query.status.unauthenticated >= 1 and .query.errors.auth >= 1
	and .query.requests > .query.status.ok and .query.replies >= .query.requests'
for _ in $(seq 1 30); do
	jq -e "$q_ok" "$work/state/run/metrics.json" >/dev/null 2>&1 && break
	sleep 0.2
done
jq -e "$q_ok" "$work/state/run/metrics.json" >/dev/null ||
	fail "metrics.json's query counters: $(jq -c .query "$work/state/run/metrics.json")"

# A load of a day with far more senders on one host than the top lists keep
# (100): the day is all hot until its refresh, and a dashboard sums every
# key.  The backend refreshes within about a minute (sql/015), not at its
# next 5-minute round: the cut of relay1's senders shows, and its hot keys
# come down to 100.  The backend started well under a minute ago.
psql_() { psql -h "$work/state/pg/run" -U postgres -d else -At -v ON_ERROR_STOP=1 "$@"; }
"$bin/gen_mail" --host relay1 --emails 4000 --days 1 --end "$(date +%s)" >"$work/relay1.log"
sent=$(date +%s)
"$bin/else-send" --backend "$url" --ca "$work/ca/ca.crt" --cert "$work/ca/client-relay1.pem" \
	--server-name backend --stream file:/var/log/mail.log --batch-lines 2000 \
	--timeout 5000 --quiet "$work/relay1.log" >/dev/null 2>>"$work/send.log" ||
	fail "else-send relay1"
top_sql="FROM stats_top_%s t JOIN hosts h ON h.id = t.host_id WHERE h.name = 'relay1' AND t.kind = 1"
cuts=0
for _ in $(seq 1 150); do
	cuts=$(psql_ -c "SELECT count(*) $(printf "$top_sql" cut)") || fail "psql"
	[ "$cuts" -gt 0 ] && break
	sleep 1
done
[ "$cuts" -gt 0 ] || fail "relay1's senders not refreshed $(($(date +%s) - sent)) s after the load"
keys=$(psql_ -c "SELECT max(n) FROM (SELECT count(*) AS n $(printf "$top_sql" daily) GROUP BY day) x")
hot=$(psql_ -c "SELECT max(n) FROM (SELECT count(*) AS n $(printf "$top_sql" hot) GROUP BY day) x")
[ "$keys" -gt 200 ] || fail "relay1 has $keys senders a day: too few to show the early refresh"
[ "$hot" -le 100 ] || fail "relay1 has $hot hot senders a day after the refresh"
echo "query_e2e: top lists refreshed $(($(date +%s) - sent)) s after a load of $keys senders a day (hot now $hot)"

kill -TERM "$bpid"
wait "$bpid" || fail "else-backend exited with $? on TERM"
bpid=
pg_running && fail "else-backend left PostgreSQL running"
echo "query_e2e: OK"
