#!/bin/bash
# e2e.sh - real Postfix logs through else-send, NNG/TLS, else-backend and the
# embedded PostgreSQL: every line stored exactly once across a kill -9 of the
# backend in the middle of a stream and a full resend, and the flows in the
# database are those else-parse --flows finds offline in the same logs.
#
# usage: e2e.sh BINDIR DATADIR    (BINDIR: build/bin; DATADIR: tests/data/postfix)
# Needs root (the embedded PostgreSQL runs as user postgres).  Port: a free one
# on 127.0.0.1 picked at run time (tests/free_ports.py; ELSE_TEST_PORT_RANGE=LO-HI
# confines it), or ELSE_TEST_PORT.
set -euo pipefail
bin=$1
data=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
port=${ELSE_TEST_PORT:-$(python3 "$root/tests/free_ports.py" 1)} || {
	echo "e2e: FAIL: no free port" >&2
	exit 1
}
work=$(mktemp -d /tmp/else-e2e.XXXXXX)
chmod 755 "$work"
url=tls+tcp://127.0.0.1:$port
bpid=

cleanup() {
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	"$bin/pg_tool" stop "$work/state" >/dev/null 2>&1 || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "e2e: FAIL: $*" >&2
	tail -20 "$work/backend.log" >&2 || true
	KEEP=1
	echo "e2e: kept $work" >&2
	exit 1
}

echo "e2e: port $port"
bash "$root/deploy/else-ca.sh" init "$work/ca" >/dev/null
bash "$root/deploy/else-ca.sh" server "$work/ca" backend >/dev/null
for h in mx1 mx2 mx3 clock; do bash "$root/deploy/else-ca.sh" client "$work/ca" $h >/dev/null; done
# The backend drops root for the embedded database's user: the CA certificate
# (public) must stay readable; the private key was loaded before the drop.
chmod 755 "$work/ca"
chmod 644 "$work/ca/ca.crt"

start_backend() {
	# A long linger and idle_flush: no flow is written while a host is still
	# catching up (after the kill, the database outage and the senders' retry
	# backoff), whatever order the three hosts' batches arrive in.  At the end a
	# line from a fourth host, a day later, moves time on and lets them out,
	# as time passing does on a live system.
	local before
	before=$(grep -c "listening on" "$work/backend.log" 2>/dev/null || true)
	"$bin/else-backend" -o state_dir="$work/state" -o listen="$url" -o query_listen= \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/server-backend.pem" \
		-o linger=3600s -o idle_flush=3600s -o checkpoint_interval=1s -o metrics_interval=1s \
		${conf:+-c "$conf"} >>"$work/backend.log" 2>&1 &
	bpid=$!
	for _ in $(seq 1 200); do
		[ "$(grep -c "listening on" "$work/backend.log" 2>/dev/null || true)" -gt "${before:-0}" ] && return 0
		kill -0 "$bpid" 2>/dev/null || fail "else-backend exited at start"
		sleep 0.1
	done
	fail "else-backend did not start listening"
}

send() { # HOST BATCH_LINES
	exec_send "$@"
}
exec_send() {
	"$bin/else-send" --backend "$url" --ca "$work/ca/ca.crt" --cert "$work/ca/client-$1.pem" \
		--server-name backend --stream file:/var/log/mail.log --batch-lines "$2" --timeout 3000 \
		"$data/$1.maillog.log" 2>>"$work/send-$1.log"
}

metric() { jq -r ".$1" "$work/state/run/metrics.json" 2>/dev/null || echo 0; }

start_backend
# Phase 1: mx1 one line per batch; kill -9 the backend in the middle of it.
# (else-send itself in the background, so that its pid is the one killed below)
"$bin/else-send" --backend "$url" --ca "$work/ca/ca.crt" --cert "$work/ca/client-mx1.pem" \
	--server-name backend --stream file:/var/log/mail.log --batch-lines 1 --timeout 3000 \
	--quiet "$data/mx1.maillog.log" >/dev/null 2>&1 &
spid=$!
for _ in $(seq 1 100); do
	[ "$(metric lines_committed)" -ge 20 ] 2>/dev/null && break
	sleep 0.05
done
kill -9 "$bpid"
wait "$bpid" 2>/dev/null || true
bpid=
kill "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
echo "e2e: backend killed with -9 in the middle of mx1's stream"

# Phase 2: restart (the database and the correlation state are recovered),
# resend mx1 from its first line, then mx2 and mx3 at the same time.
start_backend
send mx1 5 || fail "resending mx1 failed"
send mx2 1 &
p2=$!
send mx3 1 &
p3=$!
# Meanwhile PostgreSQL goes away for a while: batches are refused (BUSY) or
# time out, the collectors keep them and resend, nothing is lost or doubled.
sleep 0.3
"$bin/pg_tool" stop "$work/state" >/dev/null || fail "could not stop PostgreSQL"
sleep 2
"$bin/pg_tool" start "$work/state" >/dev/null || fail "could not restart PostgreSQL"
echo "e2e: PostgreSQL stopped for 2 s in the middle of mx2's and mx3's streams"
wait $p2 || fail "sending mx2 failed"
wait $p3 || fail "sending mx3 failed"
# The metrics file is rewritten every second: wait for the count to show.
for _ in $(seq 1 50); do
	dup=$(metric lines_duplicate)
	[ "$dup" -ge 20 ] && break
	sleep 0.1
done
[ "$dup" -ge 20 ] || fail "the resent lines of mx1 were not recognised as duplicates ($dup)"

# A collector whose certificate comes from another CA gets nowhere.
bash "$root/deploy/else-ca.sh" init "$work/rogue" >/dev/null
bash "$root/deploy/else-ca.sh" client "$work/rogue" mx1 >/dev/null
if "$bin/else-send" --backend "$url" --ca "$work/ca/ca.crt" --cert "$work/rogue/client-mx1.pem" \
	--server-name backend --stream rogue --timeout 1500 --retries 1 --quiet \
	"$data/mx1.maillog.log" >/dev/null 2>&1; then
	fail "a certificate from another CA was accepted"
fi

psql_() { psql -h "$work/state/pg/run" -U postgres -d else -At -v ON_ERROR_STOP=1 "$@"; }
# Time moves on: one line from another host, a day after the logs (within
# the two days ahead that year inference allows for a year-less timestamp).
echo "Nov 23 10:00:00 clock sshd[1]: time moves on" >"$work/clock.log"
"$bin/else-send" --backend "$url" --ca "$work/ca/ca.crt" --cert "$work/ca/client-clock.pem" \
	--server-name backend --stream file:/var/log/auth.log --timeout 3000 \
	"$work/clock.log" 2>>"$work/send-clock.log" || fail "sending the clock line failed"
want=$(($(cat "$data"/mx{1,2,3}.maillog.log | wc -l) + 1))
got=$(psql_ -c "select count(*) from lines")
[ "$got" = "$want" ] || fail "lines in the database: $got, want $want"
doubles=$(psql_ -c "select count(*) from (select host_id, stream_no, seq from lines group by 1,2,3 having count(*) > 1) d")
[ "$doubles" = 0 ] || fail "$doubles lines stored twice"
rogue=$(psql_ -c "select count(*) from streams s where s.stream_id = 'rogue'" 2>/dev/null || echo 0)
[ "$rogue" = 0 ] || fail "the rogue collector's stream exists"
for h in mx1 mx2 mx3; do
	n=$(psql_ -c "select count(*) from lines l join hosts h on h.id = l.host_id where h.name = '$h'")
	[ "$n" = "$(wc -l <"$data/$h.maillog.log")" ] || fail "$h: $n lines stored"
	# Byte-exact: the raw lines come back as they were sent.
	psql_ -c "select encode(string_agg(raw || '\\x0a'::bytea, ''::bytea order by seq), 'base64')
	          from lines l join hosts h on h.id = l.host_id where h.name = '$h'" |
		base64 -d | cmp -s - "$data/$h.maillog.log" || fail "$h: raw lines differ from the log"
done
echo "e2e: $want lines stored exactly once, byte for byte, after kill -9 and a full resend"

# Wait for the flows: all of them are written in one transaction.
for _ in $(seq 1 250); do
	[ "$(psql_ -c "select count(*) from messages")" -gt 0 ] && break
	sleep 0.2
done
echo "e2e: $(date -u +%T.%N | cut -c1-12) comparing flows" >>"$work/backend.log"

TZ=UTC "$bin/else-parse" --flows --year 2026 "$data"/mx{1,2,3}.maillog.log >"$work/offline.jsonl"
jq -S -c 'if .kind == "message" then
	{k: "m", host, queue_id, status, email_id, prev: (.prev_hop // null), dsn_of: (.dsn_of // null),
	 r: ([.recipients[] | {to, orig_to: (.orig_to // null), status, next: (.next_hop // null)}] | sort_by(.to, .orig_to))}
	else {k: "r", host, time, event, status, to: (.to // null), stage: (.stage // null), code: (.reject_code // null)} end' \
	"$work/offline.jsonl" | sort >"$work/offline.norm"
psql_ -c "
select json_build_object('k','m','host',h.name,'queue_id',m.queue_id,'status',m.status,
  'email_id',lpad(to_hex(m.email_id),16,'0'),
  'prev',case when m.prev_queue_id is null then null else json_build_object('host',ph.name,'queue_id',m.prev_queue_id) end,
  'dsn_of',case when m.dsn_of_queue_id is null then null else json_build_object('host',dh.name,'queue_id',m.dsn_of_queue_id) end,
  'r',coalesce((select json_agg(json_build_object('to',r.rcpt,'orig_to',r.orig_rcpt,'status',r.status,
     'next',case when r.next_queue_id is null then null else json_build_object('host',nh.name,'queue_id',r.next_queue_id) end)
     order by r.rcpt, r.orig_rcpt nulls first)
     from recipients r left join hosts nh on nh.id = r.next_host_id
     where r.first_seen = m.first_seen and r.host_id = m.host_id and r.queue_id = m.queue_id), '[]'::json))
from messages m join hosts h on h.id = m.host_id
left join hosts ph on ph.id = m.prev_host_id left join hosts dh on dh.id = m.dsn_of_host_id
union all
select json_build_object('k','r','host',h.name,'time',to_char(j.ts at time zone 'UTC','YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
  'event',j.event,'status',j.status,'to',j.rcpt,'stage',j.stage,'code',j.reject_code)
from rejects j join hosts h on h.id = j.host_id" | jq -S -c . | sort >"$work/db.norm"
if ! diff -u "$work/offline.norm" "$work/db.norm" >"$work/diff.txt"; then
	head -30 "$work/diff.txt" >&2
	fail "the flows in the database differ from else-parse --flows"
fi
echo "e2e: $(wc -l <"$work/db.norm") flows in the database, identical to else-parse --flows"

# Rollups (sql/002_stats.sql, 007) equal the aggregates of the flow tables,
# recomputed independently by stats_check.sql, which also checks the top-list
# invariants of 006 (hot rows exact, every key at or above its cut hot);
# directions follow the daemon.
check_stats() { # WHEN
	psql_ -f "$here/stats_check.sql" >"$work/stats_diff.txt" || fail "stats_check.sql failed"
	if [ -s "$work/stats_diff.txt" ]; then
		head -20 "$work/stats_diff.txt" >&2
		fail "$1: stats_check.sql: $(wc -l <"$work/stats_diff.txt") rollup rows differ from the flow tables or break a top-list invariant"
	fi
	local nm sm nh
	nm=$(psql_ -c "select count(*) from messages")
	sm=$(psql_ -c "select coalesce(sum(messages), 0) from stats_msg_hourly")
	[ "$nm" -gt 0 ] && [ "$sm" = "$nm" ] || fail "$1: stats_msg_hourly counts $sm messages, want $nm"
	# Not vacuous: the series of 007 and the hot rows of 006 are there.
	sm=$(psql_ -c "select coalesce(sum(messages), 0) from stats_msg_host_hourly")
	[ "$sm" = "$nm" ] || fail "$1: stats_msg_host_hourly counts $sm messages, want $nm"
	nh=$(psql_ -c "select count(*) from stats_top_hot where count > 0")
	[ "$nh" -gt 0 ] || fail "$1: stats_top_hot is empty"
}
check_stats "after ingest"
read -r dl dr do_ dn bad < <(psql_ -F' ' -c "select count(*) filter (where direction = 'local'),
	count(*) filter (where direction = 'relay'), count(*) filter (where direction = 'out'),
	count(*) filter (where direction = ''),
	count(*) filter (where (relay_host = 'local' and direction <> 'local')
		or (next_queue_id is not null and direction <> 'relay')
		or (attempts = 0 and direction <> '')) from recipients")
[ "$dl" -gt 0 ] && [ "$dr" -gt 0 ] && [ "$do_" -gt 0 ] && [ "$bad" = 0 ] ||
	fail "recipients.direction: local $dl, relay $dr, out $do_, none $dn, inconsistent $bad"
echo "e2e: rollups equal the flow tables; directions local $dl, relay $dr, out $do_, none $dn"

kill -TERM "$bpid"
wait "$bpid" || fail "else-backend did not exit cleanly on SIGTERM"
bpid=
grep -q "stopped" "$work/backend.log" || fail "no clean stop in the log"
echo "e2e: clean stop on SIGTERM"

# A full replay: without checkpoints the next start feeds every committed
# line to the engine again, which writes every flow again.  Each rewrite must
# take back what the first write added to the rollups.
"$bin/pg_tool" start "$work/state" >/dev/null || fail "could not start PostgreSQL"
before=$(psql_ -c "select sum(messages) || '/' || sum(bytes) from stats_msg_hourly")
upd0=$(psql_ -c "select max(updated_at) from messages")
psql_ -c "delete from corr_checkpoint" >/dev/null
start_backend
for _ in $(seq 1 100); do
	grep -q "recovered correlation state: checkpoint at ingest_seq 0, $want lines replayed" \
		"$work/backend.log" && break
	sleep 0.1
done
grep -q "recovered correlation state: checkpoint at ingest_seq 0, $want lines replayed" \
	"$work/backend.log" || fail "no full replay at restart"
rewritten=$(psql_ -c "select count(*) from messages where updated_at > '$upd0'")
[ "$rewritten" -gt 0 ] || fail "the replay wrote no message again"
check_stats "after a full replay"
after=$(psql_ -c "select sum(messages) || '/' || sum(bytes) from stats_msg_hourly")
[ "$after" = "$before" ] || fail "stats_msg_hourly totals $before before the replay, $after after"
echo "e2e: full replay rewrote $rewritten messages; rollups unchanged and still equal the flow tables"
kill -TERM "$bpid"
wait "$bpid" || fail "else-backend did not exit cleanly on SIGTERM"
bpid=

# SIGHUP.  A file that does not load changes nothing: a running backend
# never falls back to the defaults (which could shorten its retention and
# drop days at the next maintenance).  One that loads applies the live
# settings and names those that need a restart.
conf=$work/backend.conf
printf 'retention = 200d\n' >"$conf"
start_backend
wait_log() { # TEXT WHAT
	for _ in $(seq 1 100); do
		grep -qF -- "$1" "$work/backend.log" && return 0
		sleep 0.1
	done
	fail "$2: no '$1' in the log"
}
printf 'retention = 30d\nretention = 2y\n' >"$conf"
kill -HUP "$bpid"
wait_log "reload of $conf refused, the running settings stay: $conf:2: retention: '2y'" \
	"a bad file at SIGHUP"
for _ in $(seq 1 30); do
	[ "$(metric errors.reload)" = 1 ] && break
	sleep 0.1
done
[ "$(metric errors.reload)" = 1 ] && [ "$(metric reloads)" = 0 ] ||
	fail "metrics after a refused reload: errors.reload $(metric errors.reload), reloads $(metric reloads)"
printf 'retention = 120d\nquery_pool = 8\n' >"$conf"
kill -HUP "$bpid"
wait_log "reloaded $conf: retention 120d, stats_retention 400d, partitions_ahead 7" "a good file at SIGHUP"
wait_log "; changed, taking effect at a restart: query_pool" "a restart-only setting at SIGHUP"
for _ in $(seq 1 30); do
	[ "$(metric reloads)" = 1 ] && break
	sleep 0.1
done
[ "$(metric reloads)" = 1 ] || fail "metrics after a reload: reloads $(metric reloads)"
kill -TERM "$bpid"
wait "$bpid" || fail "else-backend did not exit cleanly on SIGTERM after the reloads"
bpid=
echo "e2e: SIGHUP: a bad file refused with the running settings kept, a good one applied"
