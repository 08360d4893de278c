#!/bin/bash
# e2e.sh - else-collector for real: real Postfix, else-backend with its
# embedded PostgreSQL, mutual TLS with certificates of deploy/else-ca.sh.
#
#   (a) a Postfix instance of tests/mta/harness.sh delivers mail and writes its
#       maillog_file; the collector follows it through `postfix logrotate`
#       (rename + gzip) and a copytruncate: the database holds the three
#       files' lines exactly once, byte for byte, in order.
#   (b) 1,000,000 lines appended to a file while the collector is killed -9
#       and restarted, the backend killed -9 and restarted, PostgreSQL stopped
#       for 3 s, and the connection cut (a relay killed and restarted): every
#       line exactly once (count, distinct seqs, byte-exact digest).
#   (c) a backend whose certificate comes from another CA: the collector
#       refuses it and nothing leaves its spool.
#
# usage: e2e.sh BINDIR   (as root; MTA_PORT_BASE and ELSE_TEST_PORT pick ports)
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/else-col-e2e.XXXXXX)
chmod 755 "$work"
: "${MTA_PORT_BASE:=25850}"
export MTA_PORT_BASE MTA_VERBOSE=0
base=${ELSE_TEST_PORT:-$((26000 + RANDOM % 400 * 4))}
bport=$base       # the backend
pport=$((base + 1)) # the relay that cuts connections
rport=$((base + 2)) # the rogue backend
bpid= cpid= ppid_= rpid= cpid2=

# shellcheck source=../mta/harness.sh
. "$root/tests/mta/harness.sh"

cleanup() {
	for p in $cpid $cpid2 $rpid $ppid_; do kill -9 "$p" 2>/dev/null || true; done
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	"$bin/pg_tool" stop "$work/state" >/dev/null 2>&1 || true
	mta_stop_all >/dev/null 2>&1 || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "collector e2e: FAIL: $*" >&2
	for f in backend.log col-a.log col-b.log col-c.log; do
		[ -f "$work/$f" ] && { echo "--- $f" >&2; tail -15 "$work/$f" >&2; }
	done
	KEEP=1
	echo "collector e2e: kept $work" >&2
	exit 1
}
say() { echo "collector e2e: $*"; }

bash "$root/deploy/else-ca.sh" init "$work/ca" >/dev/null
bash "$root/deploy/else-ca.sh" server "$work/ca" backend >/dev/null
for h in mx1 gen rogue-test; do bash "$root/deploy/else-ca.sh" client "$work/ca" $h >/dev/null; done
chmod 755 "$work/ca"
chmod 644 "$work/ca/ca.crt"

start_backend() {
	local before
	before=$(grep -c "listening on" "$work/backend.log" 2>/dev/null || true)
	"$bin/else-backend" -o state_dir="$work/state" -o listen="tls+tcp://127.0.0.1:$bport" \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/server-backend.pem" \
		-o checkpoint_interval=2s -o metrics_interval=1s -o query_listen= >>"$work/backend.log" 2>&1 &
	bpid=$!
	for _ in $(seq 1 300); do
		[ "$(grep -c "listening on" "$work/backend.log" 2>/dev/null || true)" -gt "${before:-0}" ] && return 0
		kill -0 "$bpid" 2>/dev/null || fail "else-backend exited at start"
		sleep 0.1
	done
	fail "else-backend did not start listening"
}

# start_collector NAME CERTHOST URL SOURCE [-o k=v...]: background, pid in $cpid
start_collector() {
	local name=$1 host=$2 url=$3 src=$4
	shift 4
	"$bin/else-collector" -c /dev/null -o source="$src" -o backend="$url" -o server_name=backend \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/client-$host.pem" \
		-o state_dir="$work/col-$name" -o batch_ms=200 -o poll_ms=50 -o send_timeout=3s \
		-o reconnect_max=1s "$@" >>"$work/col-$name.log" 2>&1 &
	cpid=$!
}

psql_() { psql -h "$work/state/pg/run" -U postgres -d else -At -v ON_ERROR_STOP=1 "$@"; }
stream_count() { # HOST -> lines stored for that host
	psql_ -c "select count(*) from lines l join hosts h on h.id = l.host_id where h.name = '$1'" 2>/dev/null || echo -1
}
wait_count() { # HOST WANT SECONDS
	local n=-1
	for _ in $(seq 1 $(($3 * 5))); do
		n=$(stream_count "$1")
		[ "$n" = "$2" ] && return 0
		sleep 0.2
	done
	fail "$1: $n lines in the database after $3 s, want $2"
}
status() { "$bin/else-collector" -c /dev/null -o state_dir="$work/col-$1" --status 2>/dev/null; }

start_backend

# ---------------------------------------------------------------- (a) Postfix
mta_require
mta_init "$work/mta"
mta_instance_new mx1 "$(mta_port 0 0)" "mydestination = \$myhostname, localhost, else.test"
mta_alias_file mx1 user
mta_start mx1
log=$(mta_maillog mx1)
start_collector a mx1 "tls+tcp://127.0.0.1:$bport" "file:$log"
cpid_a=$cpid
send_mail() { # N
	smtp-source -c -m "$1" -s 4 -f sender@client.test -t user@else.test "127.0.0.1:$(mta_port 0 0)" >/dev/null 2>&1 ||
		fail "smtp-source failed"
	mta_wait_empty mx1 || fail "the queue of mx1 did not drain"
}
send_mail 40
sleep 0.5
wait_count mx1 "$(wc -l <"$log")" 30
say "(a) $(stream_count mx1) Postfix lines arrived"

# postfix logrotate: maillog is renamed (maillog.YYYYMMDD-HHMMSS) and gzipped.
postfix -c "$(mta_etc mx1)" logrotate >/dev/null 2>&1 || fail "postfix logrotate"
for _ in $(seq 1 100); do ls "$log".*.gz >/dev/null 2>&1 && break; sleep 0.1; done
rotated=$(ls "$log".*.gz 2>/dev/null | head -1)
[ -n "$rotated" ] || fail "postfix logrotate left no compressed file"
send_mail 40
sleep 0.5
want=$(($(zcat "$rotated" | wc -l) + $(wc -l <"$log")))
wait_count mx1 "$want" 30
say "(a) through postfix logrotate: $want lines"

# copytruncate: copy, then cut the file that Postfix keeps writing.
cp "$log" "$log.1"
: >"$log"
send_mail 40
sleep 0.5
want=$(($(zcat "$rotated" | wc -l) + $(wc -l <"$log.1") + $(wc -l <"$log")))
wait_count mx1 "$want" 30
{ zcat "$rotated"; cat "$log.1" "$log"; } >"$work/mx1.all"
psql_ -c "select encode(string_agg(raw || '\\x0a'::bytea, ''::bytea order by seq), 'base64')
          from lines l join hosts h on h.id = l.host_id where h.name = 'mx1'" |
	base64 -d | cmp -s - "$work/mx1.all" || fail "mx1: the stored lines differ from the three files"
d=$(psql_ -c "select count(*) - count(distinct seq) from lines l join hosts h on h.id = l.host_id where h.name = 'mx1'")
[ "$d" = 0 ] || fail "mx1: $d lines stored twice"
status a >"$work/status-a.json" || fail "--status of collector a failed"
# A rename and a copytruncate: the file source opened the log more than once.
jq -e '.sources[0] | .rotations >= 1 and .files_opened >= 2 and .symlinks_refused == 0
	and .last_read > 0' "$work/status-a.json" >/dev/null ||
	fail "mx1: the status of the source: $(jq -c '.sources[0]' "$work/status-a.json")"
say "(a) every Postfix line once, byte for byte, in order, through a rename and a copytruncate ($want lines)"
kill -TERM "$cpid_a"
wait "$cpid_a" || fail "else-collector did not stop cleanly on SIGTERM"
grep -q "stopped" "$work/col-a.log" || fail "no clean stop in the collector's log"
cpid=
mta_stop_all >/dev/null

# ---------------------------------------------------------------- (b) faults
total=1000000
chunk=20000
gen() { # the generator: $total numbered lines, in chunks, over ~25 s
	local i=0
	while [ $i -lt $total ]; do
		awk -v a=$((i + 1)) -v b=$((i + chunk)) \
			'BEGIN { for (k = a; k <= b; k++) printf "Nov 22 10:%02d:%02d gen app[%d]: line %d of the fault test, padded to a mail log line length ......\n", int(k / 60000) % 60, int(k / 1000) % 60, k % 997, k }' \
			>>"$work/gen.log"
		i=$((i + chunk))
		sleep 0.5
	done
}
python3 "$here/tcp_cut.py" "$pport" "$bport" >"$work/proxy.log" 2>&1 &
ppid_=$!
for _ in $(seq 1 50); do grep -q listening "$work/proxy.log" && break; sleep 0.1; done
: >"$work/gen.log"
gen &
gpid=$!
start_collector b gen "tls+tcp://127.0.0.1:$pport" "file:$work/gen.log" -o fsync_ms=100
t0=$(date +%s)
sleep 3
kill -9 "$cpid"
wait "$cpid" 2>/dev/null || true
say "(b) collector killed with -9 at $(stream_count gen) lines stored"
sleep 0.5
start_collector b gen "tls+tcp://127.0.0.1:$pport" "file:$work/gen.log" -o fsync_ms=100
sleep 3
kill -9 "$bpid"
wait "$bpid" 2>/dev/null || true
bpid=
say "(b) backend killed with -9"
sleep 1
start_backend
sleep 3
"$bin/pg_tool" stop "$work/state" >/dev/null || fail "could not stop PostgreSQL"
say "(b) PostgreSQL stopped for 3 s"
sleep 3
"$bin/pg_tool" start "$work/state" >/dev/null || fail "could not restart PostgreSQL"
sleep 3
kill -9 "$ppid_"
wait "$ppid_" 2>/dev/null || true
say "(b) connection cut (relay killed) for 2 s at $(stream_count gen) lines stored"
sleep 2
python3 "$here/tcp_cut.py" "$pport" "$bport" >"$work/proxy.log" 2>&1 &
ppid_=$!
wait "$gpid"
say "(b) generator done after $(($(date +%s) - t0)) s: $(wc -l <"$work/gen.log") lines in the file"
wait_count gen "$total" 120
read -r n dseq lo hi <<<"$(psql_ -F ' ' -c "select count(*), count(distinct seq), min(seq), max(seq)
	from lines l join hosts h on h.id = l.host_id where h.name = 'gen'")"
[ "$n $dseq $lo $hi" = "$total $total 1 $total" ] || fail "gen: $n rows, $dseq seqs, $lo..$hi"
dig_db=$(psql_ -c "select md5(string_agg(raw || '\\x0a'::bytea, ''::bytea order by seq))
	from lines l join hosts h on h.id = l.host_id where h.name = 'gen'")
dig_file=$(md5sum <"$work/gen.log" | cut -d' ' -f1)
[ "$dig_db" = "$dig_file" ] || fail "gen: the stored lines differ from the file"
dups=$(jq -r .lines_duplicate "$work/state/run/metrics.json")
say "(b) $n lines, $dseq distinct seqs ($lo..$hi), byte-exact, after kill -9 of collector and backend, a PostgreSQL outage and a cut connection (backend dropped $dups resent lines since its restart)"
status b >"$work/status-b.json" || fail "--status of a running collector failed"
jq -e '.spool.lines == 0 and .streams[0].committed_seq == 1000000' "$work/status-b.json" >/dev/null ||
	fail "status after the run: $(cat "$work/status-b.json")"
kill -TERM "$cpid"
wait "$cpid" || fail "collector b did not stop cleanly"
cpid=
kill -9 "$ppid_"
wait "$ppid_" 2>/dev/null || true
ppid_=

# ---------------------------------------------------------------- (c) rogue backend
bash "$root/deploy/else-ca.sh" init "$work/rogue" >/dev/null
bash "$root/deploy/else-ca.sh" server "$work/rogue" backend >/dev/null
bash "$root/deploy/else-ca.sh" client "$work/rogue" rogue-test >/dev/null
# An ack-everything server with a certificate of another CA (that trusts
# our client certificates too, so only the collector's check can stop it).
cat "$work/rogue/ca.crt" "$work/ca/ca.crt" >"$work/rogue/both.crt"
"$bin/bench_net" "tls+tcp://127.0.0.1:$rport" "$work/rogue/both.crt" "$work/rogue/server-backend.pem" \
	>"$work/rogue.log" 2>&1 &
rpid=$!
for _ in $(seq 1 50); do grep -q "port" "$work/rogue.log" && break; sleep 0.1; done
grep -q "port" "$work/rogue.log" || fail "the rogue backend (bench_net) did not start: $(cat "$work/rogue.log")"
seq 1 500 | sed 's/^/Nov 22 11:00:00 rogue app[1]: secret line /' >"$work/rogue-src.log"
start_collector c rogue-test "tls+tcp://127.0.0.1:$rport" "file:$work/rogue-src.log"
sleep 5
status c >"$work/status-c.json" || fail "--status of collector c"
jq -e '.lines_acked == 0 and .spool.lines == 500 and .errors.timeout >= 1' "$work/status-c.json" >/dev/null ||
	fail "the rogue backend got lines: $(cat "$work/status-c.json")"
kill -TERM "$cpid"
wait "$cpid" || true
cpid=
kill -TERM "$rpid"
wait "$rpid" 2>/dev/null || true
rpid=
grep -q "server: 0 batches, 0 lines" "$work/rogue.log" || fail "the rogue backend says: $(cat "$work/rogue.log")"
say "(c) a backend with another CA's certificate was refused: 0 lines acknowledged, 500 kept in the spool"
kill -TERM "$bpid"
wait "$bpid" || fail "else-backend did not stop cleanly"
bpid=
say "PASS"
