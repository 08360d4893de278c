#!/bin/bash
# search.sh - search speed at ISP scale, through the frontend (issue 6).
#
#   bench/search.sh [--emails N] [--days D] [--site-emails M] [--state DIR]
#                   [--reload] [--no-build] [--duration S] [--rounds R]
#                   [--warmup W] [--capture C]
#
# bench/gen_mail writes harness-shaped Postfix logs for 8 hosts (2 relays,
# 6 mailbox hosts): N e-mails (default 10,000,000) over D days (default 30)
# ending now, relay hops, bounces with their DSN, deferrals, NOQUEUE rejects.
# Each host's log is shipped by else-send with that host's client certificate
# to an else-backend with its embedded PostgreSQL under DIR (default
# /var/tmp/else-bench-search-N), half a day of log time at a time, every host
# in parallel, so that hosts stay within the correlation's catch-up window
# (catchup=1d) and relay hops link as they do live.  Everything the backend
# stores (lines, flows, email_keys, rollups) is what live ingest stores.
#
# --site-emails M adds a second platform of M e-mails over the same days
# (gen_mail --site 1: hosts s1-relay1 .. s1-mx6, their own queue IDs and
# Message-IDs), also to a state loaded before: gen_mail counts NOQUEUE
# rejects among its e-mails (10%), so --emails 10000000 stores 9M e-mails.
#
# The load is resumable: DIR/progress names the windows already committed (a
# window sent again is harmless: the backend drops lines it has by sequence
# number).  --reload starts from an empty database.  Prints the load rate and
# the database size.  Needs root (embedded PostgreSQL runs as postgres) and
# about 5.5 GB of disk per million e-mails (PostgreSQL data and WAL).
#
# Then it measures through an else-frontend (plain HTTP on loopback) with wrk,
# S seconds each (default 20) after W seconds of the same requests (default
# 3, not counted): p50/p99 of quick search, flow view, address
# search over 7 days, sender substring search over 7 days, the dashboard for
# a day and for 30 days, one client at a time, the two dashboards again as an
# operator who sees one customer domain (user bench-op, made on the first
# run, group cust1.example of gen_mail's data); then requests/s of a mix of
# quick searches and flow views with 4 clients.  The reference in the same
# run: the statements PostgreSQL executed for C seconds (default 10) of those
# mixed requests from one client (logged, bench/search_replay.py: about
# 3,000 requests) replayed by pgbench with 4
# clients straight against the database as else_query (the backend's role), one
# request a transaction, each
# statement prepared once per connection with a generic plan as the backend
# does.  The two alternate, S seconds each, R rounds (default 3): the ratio
# printed is the median of the rounds' ratios, each round's two sides run
# next to each other in time (this machine's speed drifts); pgbench, like
# each wrk run, gets W seconds first that are not counted.  Each round also
# prints the CPU per request of PostgreSQL on either side, which shows whether
# the replay asks PostgreSQL for the work the mix does, and that of
# else-frontend + else-backend.
set -euo pipefail
export LC_ALL=C TZ=UTC
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

emails=10000000 days=30 state= reload=0 build=1 dur=20 site_emails=0 rounds=3 warm=3 capture=10
while [ $# -gt 0 ]; do
	case $1 in
	--emails) emails=$2; shift ;;
	--site-emails) site_emails=$2; shift ;;
	--days) days=$2; shift ;;
	--state) state=$2; shift ;;
	--reload) reload=1 ;;
	--no-build) build=0 ;;
	--duration) dur=$2; shift ;;
	--rounds) rounds=$2; shift ;;
	--warmup) warm=$2; shift ;;
	--capture) capture=$2; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "search.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ $emails =~ ^[0-9]+$ && $emails -ge 1000 ]] || { echo "search.sh: --emails >= 1000" >&2; exit 2; }
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]] || { echo "search.sh: --rounds >= 1" >&2; exit 2; }
[[ $warm =~ ^[0-9]+$ && $warm -ge 1 ]] || { echo "search.sh: --warmup >= 1" >&2; exit 2; }
[[ $capture =~ ^[0-9]+$ && $capture -ge 1 ]] || { echo "search.sh: --capture >= 1" >&2; exit 2; }
[[ $site_emails =~ ^[0-9]+$ ]] || { echo "search.sh: --site-emails N" >&2; exit 2; }
[[ $days =~ ^[0-9]+$ && $days -ge 1 && $days -le 90 ]] || { echo "search.sh: --days 1..90" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "search.sh: run as root (embedded PostgreSQL)" >&2; exit 2; }
# Before the load, not after it (minutes to an hour): the measuring tools.
for t in wrk pgbench bc; do
	command -v "$t" >/dev/null ||
		{ echo "search.sh: $t not found: bash deploy/setup.sh --bench" >&2; exit 2; }
done
: "${state:=/var/tmp/else-bench-search-$emails}"
port=${ELSE_BENCH_PORT:-7811}

bdir=$root/build-bench
bin=$bdir/bin
say() { printf '%s search: %s\n' "$(date +%T)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

backend_pid= frontend_pid=
cleanup() {
	local p
	for p in $frontend_pid $backend_pid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$build" = 1 ]; then
	say "building Release in build-bench/"
	mkdir -p "$bdir"
	cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >"$bdir/search-build.log" 2>&1 &&
		cmake --build "$bdir" -j2 --target else-backend else-send gen_mail else-frontend >>"$bdir/search-build.log" 2>&1 ||
		{ tail -30 "$bdir/search-build.log" >&2; die "build failed"; }
fi
for p in else-backend else-send gen_mail else-frontend; do
	[ -x "$bin/$p" ] || die "$bin/$p missing (run without --no-build)"
done

if [ "$reload" = 1 ]; then
	say "--reload: removing $state"
	rm -rf "$state"
fi
mkdir -p "$state/logs"
chmod 755 "$state"
if [ ! -f "$state/params" ]; then
	# The end of the data is fixed at the first run, so a resumed load
	# continues the same logs.
	echo "emails=$emails days=$days end=$(date +%s)" >"$state/params"
fi
read -r p_emails p_days p_end < <(sed 's/[a-z]*=//g' "$state/params")
[ "$p_emails" = "$emails" ] && [ "$p_days" = "$days" ] ||
	die "$state holds a load of $p_emails e-mails over $p_days days: use --reload or another --state"
# --site-emails: a second platform (gen_mail --site 1), added to a load
# before or later; its size is kept in DIR/site-emails.
if [ -f "$state/site-emails" ]; then
	[ "$site_emails" = 0 ] && site_emails=$(cat "$state/site-emails")
	[ "$(cat "$state/site-emails")" = "$site_emails" ] ||
		die "$state holds a second platform of $(cat "$state/site-emails") e-mails"
elif [ "$site_emails" -gt 0 ]; then
	echo "$site_emails" >"$state/site-emails"
fi
sites=(0)
[ "$site_emails" -gt 0 ] && sites+=(1)
declare -A site_of
for k in "${sites[@]}"; do
	for h in $("$bin/gen_mail" --site "$k" --list-hosts); do
		site_of[$h]=$k
	done
done
if [ ! -f "$state/ca/ca.crt" ]; then
	bash deploy/else-ca.sh init "$state/ca" >/dev/null
	bash deploy/else-ca.sh server "$state/ca" backend >/dev/null
	bash deploy/else-ca.sh client "$state/ca" frontend-bench >/dev/null
	chmod 755 "$state/ca"
	chmod 644 "$state/ca/ca.crt"
fi
for h in "${!site_of[@]}"; do
	[ -f "$state/ca/client-$h.pem" ] || bash deploy/else-ca.sh client "$state/ca" "$h" >/dev/null
done

mkdir -p "$state/backend"
bopts=(-o state_dir="$state/backend" -o listen="tls+tcp://127.0.0.1:$port"
	-o query_listen="tls+tcp://127.0.0.1:$((port + 1))" -o ca_file="$state/ca/ca.crt"
	-o cert_file="$state/ca/server-backend.pem" -o catchup=1d -o max_open=4000000
	-o idle_flush=5s -o retention=400d)
password='bench search password'
if [ ! -f "$state/admin" ]; then
	echo "$password" | "$bin/else-backend" "${bopts[@]}" --create-admin bench >>"$state/backend.log" 2>&1 ||
		die "--create-admin failed, see $state/backend.log"
	touch "$state/admin"
fi
say "starting else-backend (state $state/backend, ports $port and $((port + 1)))"
touch "$state/backend.log"
logmark=$(wc -c <"$state/backend.log")
"$bin/else-backend" "${bopts[@]}" >>"$state/backend.log" 2>&1 &
backend_pid=$!
# Only this start's lines: the log keeps those of earlier runs.  A start
# after a large load first refreshes the top lists of the days it changed
# (minutes at 10M e-mails): wait up to an hour.
listening=0
for _ in $(seq 1 36000); do
	if tail -c +$((logmark + 1)) "$state/backend.log" | grep -q "listening on"; then
		listening=1
		break
	fi
	kill -0 "$backend_pid" 2>/dev/null || die "else-backend exited, see $state/backend.log"
	sleep 0.1
done
[ "$listening" = 1 ] || die "else-backend is not listening after an hour, see $state/backend.log"
psql_() { psql -h "$state/backend/pg/run" -U postgres -d else -At "$@"; }

touch "$state/progress"
declare -A seq
for h in "${!site_of[@]}"; do
	seq[$h]=$(awk -v h="$h" '$1 == "seq" && $2 == h { s = $3 } END { print s + 0 }' "$state/progress")
done
win=43200
start=$((p_end - days * 86400))
t0=$(date +%s.%N)
lines_sent=0
# The first window is short: the engine holds completed transactions back
# only for hosts it has heard of, so every host speaks before the long ones.
# A window's mark: "window W" (site 0), "window W site1" (the second platform).
mark() { if [ "$2" = 0 ]; then echo "window $1"; else echo "window $1 site$2"; fi; }
for ((w = start, wend = start + 300; w < p_end + 3600; w = wend, wend = w + win)); do
	todo=()
	for k in "${sites[@]}"; do
		grep -qx "$(mark "$w" "$k")" "$state/progress" || todo+=("$k")
	done
	[ ${#todo[@]} -gt 0 ] || continue
	pids=() hosts=()
	for h in "${!seq[@]}"; do
		k=${site_of[$h]}
		[[ " ${todo[*]} " == *" $k "* ]] || continue
		hosts+=("$h")
		n=$emails
		[ "$k" = 0 ] || n=$site_emails
		(
			f=$state/logs/$h.log
			"$bin/gen_mail" --site "$k" --host "$h" --emails "$n" --days "$days" \
				--end "$p_end" --from "$w" --to "$wend" >"$f"
			[ -s "$f" ] || exit 0
			"$bin/else-send" --backend "tls+tcp://127.0.0.1:$port" --ca "$state/ca/ca.crt" \
				--cert "$state/ca/client-$h.pem" --server-name backend \
				--stream file:/var/log/mail.log --first-seq $((seq[$h] + 1)) \
				--batch-lines 5000 --retries 1000 --quiet "$f"
		) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p" || die "shipping window $w failed"
	done
	for h in "${hosts[@]}"; do
		n=$(wc -l <"$state/logs/$h.log")
		seq[$h]=$((seq[$h] + n))
		lines_sent=$((lines_sent + n))
		echo "seq $h ${seq[$h]}" >>"$state/progress"
	done
	for k in "${todo[@]}"; do
		mark "$w" "$k" >>"$state/progress"
	done
	say "$(date -u -d "@$w" +%F\ %H:%M) done: $lines_sent lines this run"
done
rm -f "$state/logs"/*.log
# Lingering flows go out once the backend is idle (idle_flush); then wait
# until the ingest has been quiet for 10 s (a start may first replay and
# write flows for a while): measure a quiet database.
sleep 8
quiet=0
for _ in $(seq 1 3600); do
	busy=$(psql_ -c "select count(*) from pg_stat_activity where usename = 'else_ingest' and state = 'active'")
	if [ "$busy" = 0 ]; then quiet=$((quiet + 1)); else quiet=0; fi
	[ "$quiet" -ge 10 ] && break
	sleep 1
done
t1=$(date +%s.%N)
el=$(echo "$t1 - $t0" | bc)
# What is loaded: counted once after the load that changed it, and kept.
# Counting reads the whole database (52 GB at 10M e-mails, twice the RAM):
# done before the measurements it emptied the page cache of what searches
# read, which no search sees in operation.  So it runs after them.
count_loaded() {
	echo "$(psql_ -c "select count(*) from lines") lines," \
		"$(psql_ -c "select count(distinct email_id) from messages") e-mails," \
		"$(psql_ -c "select count(*) from messages") transactions," \
		"$(psql_ -c "select count(*) from recipients") recipients," \
		"$(psql_ -c "select count(*) from rejects") rejects"
}
[ "$lines_sent" -gt 0 ] && rm -f "$state/counts"
if [ -s "$state/counts" ]; then
	say "loaded (counted after the load): $(cat "$state/counts")"
else
	say "loaded: counted after the measurements"
fi
if [ "$lines_sent" -gt 0 ]; then
	say "this run: $lines_sent lines in ${el}s = $(echo "$lines_sent / $el" | bc) lines/s committed"
fi
say "database size: $(psql_ -c "select pg_size_pretty(pg_database_size('else'))")"

# ---------------------------------------------------------------- measure
fport=$((port + 2))
"$bin/else-frontend" -o listen="127.0.0.1:$fport" -o backend="tls+tcp://127.0.0.1:$((port + 1))" \
	-o backend_server_name=backend -o ca_file="$state/ca/ca.crt" \
	-o cert_file="$state/ca/client-frontend-bench.pem" -o workers=16 \
	-o status_file="$state/frontend-status.json" >"$state/frontend.log" 2>&1 &
frontend_pid=$!
fe=http://127.0.0.1:$fport
for _ in $(seq 1 100); do
	curl -s -o /dev/null "$fe/" && break
	sleep 0.1
done
jar=$state/cookies
curl -s -c "$jar" -o /dev/null -H 'Content-Type: application/json' \
	-d "{\"user\":\"bench\",\"password\":\"$password\"}" "$fe/api/login" ||
	die "login failed, see $state/frontend.log"
cookie=$(awk '$6 == "else_session" { print $7 }' "$jar")
[ -n "$cookie" ] || die "no session cookie after login"
# An operator who sees one customer domain (a group with that domain and no
# server), as an ISP's customer logs in: their dashboards read by domain.
csrf=$(curl -s -b "$jar" -H 'Content-Type: application/json' -d '{}' "$fe/api/session_check" | jq -r .csrf)
op_domain=cust1.example
gid=$(curl -s -b "$jar" -H 'Content-Type: application/json' -d '{}' "$fe/api/group_list" |
	jq -r --arg d "$op_domain" '.groups[]? | select(.name == $d) | .id')
if [ -z "$gid" ]; then
	gid=$(curl -s -b "$jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
		-d "{\"group\":{\"name\":\"$op_domain\",\"domains\":[\"$op_domain\"]}}" "$fe/api/group_put" | jq -r .id)
	curl -s -o /dev/null -b "$jar" -H 'Content-Type: application/json' -H "X-CSRF-Token: $csrf" \
		-d "{\"user\":{\"name\":\"bench-op\",\"role\":\"ROLE_OPERATOR\",\"group_ids\":[$gid]},\"password\":\"$password\"}" \
		"$fe/api/user_put"
fi
opjar=$state/cookies-op
curl -s -c "$opjar" -o /dev/null -H 'Content-Type: application/json' \
	-d "{\"user\":\"bench-op\",\"password\":\"$password\"}" "$fe/api/login" ||
	die "operator login failed, see $state/frontend.log"
op_cookie=$(awk '$6 == "else_session" { print $7 }' "$opjar")
[ -n "$op_cookie" ] || die "no session cookie after the operator's login"
now_us=$(($(date +%s) * 1000000))

say "sampling keys"
k=$state/keys
mkdir -p "$k"
# Message-IDs and queue IDs (quick), with the e-mail id (flow, mix).
psql_ -F $'\t' -c "select key, lpad(to_hex(email_id), 16, '0') from email_keys tablesample system (1)
	where kind in (1, 2) order by random() limit 2000" >"$k/quick"
cut -f2 "$k/quick" >"$k/flow"
psql_ -c "select lower(sender) from messages tablesample system (1)
	where first_seen > now() - interval '7 days' and sender like '%@%' order by random() limit 1000" >"$k/address"
psql_ -c "select lower(r.rcpt) from recipients r tablesample system (1)
	where r.first_seen > now() - interval '7 days' order by random() limit 1000" >>"$k/address"
# Substrings: the middle of a sender address ("er123@ext4"), found in the data.
psql_ -c "select substr(lower(sender), 3, 10) from messages tablesample system (1)
	where first_seen > now() - interval '7 days' and length(sender) > 14 order by random() limit 1000" >"$k/substring"
printf 'x\n' >"$k/dash1"
printf 'x\n' >"$k/dash30"
for f in quick flow address substring; do
	[ -s "$k/$f" ] || die "no keys for $f (is the data loaded?)"
done

# run_wrk KIND THREADS CONNECTIONS [KEYS [COOKIE]]: prints "p50_ms p99_ms req_per_s errors"
# Each run follows $warm seconds of the same requests (warm_up), not counted:
# the first requests of a kind after a restart read from disk (bench/README.md).
warm_up() {
	local out=$state/wrk-$1-$3${5:+-op}.txt
	[ "$warm" -gt 0 ] || return 0
	wrk -t"$2" -c"$3" -d"${warm}s" -s bench/search_wrk.lua "$fe" -- \
		"$1" "$k/${4:-$1}" "${5:-$cookie}" "$now_us" >"$out" 2>&1 || die "wrk failed: $(tail -3 "$out")"
}
run_wrk() {
	local out=$state/wrk-$1-$3${5:+-op}.txt
	warm_up "$@"
	wrk -t"$2" -c"$3" -d"${dur}s" --latency -s bench/search_wrk.lua "$fe" -- \
		"$1" "$k/${4:-$1}" "${5:-$cookie}" "$now_us" >"$out" 2>&1 || die "wrk failed: $(tail -3 "$out")"
	awk '
	function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
	$1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
	$1 == "Requests/sec:" { rps = $2 } /Non-2xx/ { err = $NF }
	END { printf "%.1f %.1f %.0f %d\n", p50, p99, rps, err }' "$out"
}

printf '\n%-34s %9s %9s %9s %8s  %s\n' "search (1 client, ${dur}s)" p50_ms p99_ms req/s errors target >&2
for kind in quick flow address substring dash1 dash30; do
	case $kind in
	quick) what="quick search (Message-ID, queue ID)" tgt="p99 < 50 ms" ;;
	flow) what="flow view" tgt="p99 < 50 ms" ;;
	address) what="address search, 7 days" tgt="p99 < 200 ms" ;;
	substring) what="sender substring, 7 days" tgt="p99 < 300 ms" ;;
	dash1) what="dashboard, 1 day" tgt="p99 < 100 ms" ;;
	dash30) what="dashboard, 30 days" tgt="p99 < 300 ms" ;;
	esac
	read -r p50 p99 rps err < <(run_wrk "$kind" 1 1)
	printf '%-34s %9s %9s %9s %8s  %s\n' "$what" "$p50" "$p99" "$rps" "${err:-0}" "$tgt" >&2
done
for kind in dash1 dash30; do
	case $kind in
	dash1) what="dashboard, 1 day, one domain" tgt="p99 < 100 ms" ;;
	dash30) what="dashboard, 30 days, one domain" tgt="p99 < 300 ms" ;;
	esac
	read -r p50 p99 rps err < <(run_wrk "$kind" 1 1 "$kind" "$op_cookie")
	printf '%-34s %9s %9s %9s %8s  %s\n' "$what" "$p50" "$p99" "$rps" "${err:-0}" "$tgt" >&2
done

# The mix through the frontend and PostgreSQL alone on the same statements,
# in alternating rounds: this machine's speed drifts by up to 2x within
# minutes, so each round's ratio compares two neighbouring slices of time.
say "capturing PostgreSQL's statements for the mix"
psql_ -c "alter system set log_min_duration_statement = 0" -c "select pg_reload_conf()" >/dev/null
sleep 1
pglog=$state/backend/pg/postgresql.log
mark=$(wc -c <"$pglog")
wrk -t1 -c1 -d"${capture}s" -s bench/search_wrk.lua "$fe" -- mix "$k/quick" "$cookie" "$now_us" >/dev/null 2>&1
psql_ -c "alter system reset log_min_duration_statement" -c "select pg_reload_conf()" >/dev/null
tail -c +$((mark + 1)) "$pglog" >"$state/mix-statements.log"
rm -rf "$state/replay"
nreq=$(python3 bench/search_replay.py "$state/mix-statements.log" "$state/replay")
[ "$nreq" -gt 10 ] || die "only $nreq requests captured for the replay"
PGOPTIONS="-c client_min_messages=warning" psql_ -v ON_ERROR_STOP=1 -f "$state/replay/params.sql" >/dev/null
# pgbench connects as the query service's role, else_query, as the backend
# does: a superuser skips the permission checks of every partition scan and
# function a generic plan starts, 0.1-0.3 ms of a quick search (session 14).
psql_ -v ON_ERROR_STOP=1 -c "GRANT USAGE ON SCHEMA bench_replay TO else_query" \
	-c "GRANT SELECT ON ALL TABLES IN SCHEMA bench_replay TO else_query" >/dev/null
# The statements prepared once per connection and run with generic plans, as
# the backend runs them: one pgbench script per request shape, weighted by
# its share of the requests (search_replay.py), -M prepared.
fargs=()
while read -r f w; do
	fargs+=(-f "$state/replay/$f@$w")
done <"$state/replay/replay.list"
# CPU per request (ms) of each side, from /proc: PostgreSQL (the postmaster,
# its children, and the children it reaped), else-frontend + else-backend.
# It shows whether the replay asks PostgreSQL for the same work as the mix.
ticks() { # a process gone meanwhile counts 0 (mawk stops at a file it cannot open)
	local p t s=0
	for p; do
		t=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) && s=$((s + ${t:-0}))
	done
	echo "$s"
}
pm=$(head -1 "$state/backend/pg/data/postmaster.pid") clk_tck=$(getconf CLK_TCK)
pg_ticks() { echo $(($(ticks "$pm" $(pgrep -P "$pm")) + $(awk '{ print $16 + $17 }' "/proc/$pm/stat"))); }
per_req() { echo "scale=2; $1 * 1000 / $clk_tck / $2" | bc; }
printf '\n%-34s %9s %9s %9s %8s %6s %s\n' "mix, 4 clients (${dur}s a side)" "frontend" p50_ms p99_ms errors "PG" \
	"  CPU ms/request: PG (mix / PG alone), frontend+backend" >&2
ratios=()
for round in $(seq 1 "$rounds"); do
	warm_up mix 2 4 quick
	mix0=$(pg_ticks) st0=$(ticks "$frontend_pid" "$backend_pid")
	read -r p50 p99 fe_rps err < <(warm=0 run_wrk mix 2 4 quick)
	mix1=$(pg_ticks) st1=$(ticks "$frontend_pid" "$backend_pid")
	pg_kids=$(pgrep -P "$pm" | wc -l)
	# pgbench runs $warm s more, not counted (its fresh connections prepare
	# their statements, as the warm-up does for the mix): its rate is that of
	# its progress reports after $warm s, its CPU from then on.
	PGOPTIONS="-c plan_cache_mode=force_generic_plan" \
		pgbench -n -M prepared -h "$state/backend/pg/run" -U else_query -c 4 -j 2 -P 1 \
		-T $((warm + dur)) "${fargs[@]}" else >"$state/pgbench-$round.txt" 2>&1 &
	pgb=$!
	sleep "$warm"
	rep0=$(pg_ticks)
	wait "$pgb" || die "pgbench failed: $(tail -3 "$state/pgbench-$round.txt")"
	# pgbench's connections count once the postmaster has reaped them.
	for _ in $(seq 1 50); do
		[ "$(pgrep -P "$pm" | wc -l)" -le "$pg_kids" ] && break
		sleep 0.1
	done
	rep1=$(pg_ticks)
	read -r pg_tps pg_n < <(awk -v w="$warm" '$1 == "progress:" && $2 + 0 > w { s += $4; n++ }
		END { printf "%.0f %.0f\n", n ? s / n : 0, s }' "$state/pgbench-$round.txt")
	[ "$pg_tps" -gt 0 ] || die "no progress reports from pgbench after ${warm}s: $state/pgbench-$round.txt"
	fe_n=$(awk '/requests in/ { print $1 }' "$state/wrk-mix-4.txt")
	ratios+=("$(echo "scale=3; $fe_rps / $pg_tps" | bc)")
	printf '%-34s %9s %9s %9s %8s %6s  ratio %.2f  %s / %s, %s\n' "round $round" "$fe_rps" "$p50" "$p99" \
		"${err:-0}" "$pg_tps" "${ratios[-1]}" "$(per_req $((mix1 - mix0)) "$fe_n")" \
		"$(per_req $((rep1 - rep0)) "$pg_n")" "$(per_req $((st1 - st0)) "$fe_n")" >&2
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
printf '%-34s %9.2f  target >= 0.80 (PG: %s requests replayed by pgbench -M prepared)\n' \
	"ratio, median of $rounds rounds" "$median" "$nreq" >&2
if [ ! -s "$state/counts" ]; then
	count_loaded >"$state/counts.tmp" && mv "$state/counts.tmp" "$state/counts"
	say "loaded: $(cat "$state/counts")"
fi
printf '\nmachine: %s, %s cores; %s e-mails (gen_mail count, 10%% of them NOQUEUE rejects) + %s of a second platform over %s days\n' \
	"$(uname -m)" "$(nproc)" "$emails" "$site_emails" "$days" >&2
