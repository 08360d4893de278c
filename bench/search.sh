#!/bin/bash
# search.sh - load an ISP's month of mail into ELSE through the real ingest path
# (issue 6, bench/search: the data the search benchmarks run on).
#
#   bench/search.sh [--emails N] [--days D] [--state DIR] [--reload] [--no-build]
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
# The load is resumable: DIR/progress names the windows already committed (a
# window sent again is harmless: the backend drops lines it has by sequence
# number).  --reload starts from an empty database.  Prints the load rate and
# the database size.  Needs root (embedded PostgreSQL runs as postgres) and
# about 3 GB of disk per million e-mails.
set -euo pipefail
export LC_ALL=C TZ=UTC
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

emails=10000000 days=30 state= reload=0 build=1
while [ $# -gt 0 ]; do
	case $1 in
	--emails) emails=$2; shift ;;
	--days) days=$2; shift ;;
	--state) state=$2; shift ;;
	--reload) reload=1 ;;
	--no-build) build=0 ;;
	-h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "search.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
[[ $emails =~ ^[0-9]+$ && $emails -ge 1000 ]] || { echo "search.sh: --emails >= 1000" >&2; exit 2; }
[[ $days =~ ^[0-9]+$ && $days -ge 1 && $days -le 90 ]] || { echo "search.sh: --days 1..90" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "search.sh: run as root (embedded PostgreSQL)" >&2; exit 2; }
: "${state:=/var/tmp/else-bench-search-$emails}"
port=${ELSE_BENCH_PORT:-7811}

bdir=$root/build-bench
bin=$bdir/bin
say() { printf '%s search: %s\n' "$(date +%T)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

backend_pid=
cleanup() {
	if [ -n "$backend_pid" ]; then
		kill -TERM "$backend_pid" 2>/dev/null || true
		wait "$backend_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$build" = 1 ]; then
	say "building Release in build-bench/"
	mkdir -p "$bdir"
	cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >"$bdir/search-build.log" 2>&1 &&
		cmake --build "$bdir" -j2 --target else-backend else-send gen_mail >>"$bdir/search-build.log" 2>&1 ||
		{ tail -30 "$bdir/search-build.log" >&2; die "build failed"; }
fi
for p in else-backend else-send gen_mail; do
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
if [ ! -f "$state/ca/ca.crt" ]; then
	bash deploy/else-ca.sh init "$state/ca" >/dev/null
	bash deploy/else-ca.sh server "$state/ca" backend >/dev/null
	for h in $("$bin/gen_mail" --list-hosts); do
		bash deploy/else-ca.sh client "$state/ca" "$h" >/dev/null
	done
	chmod 755 "$state/ca"
	chmod 644 "$state/ca/ca.crt"
fi

say "starting else-backend (state $state/backend, port $port)"
mkdir -p "$state/backend"
"$bin/else-backend" -o state_dir="$state/backend" -o listen="tls+tcp://127.0.0.1:$port" \
	-o ca_file="$state/ca/ca.crt" -o cert_file="$state/ca/server-backend.pem" \
	-o catchup=1d -o max_open=4000000 -o idle_flush=5s -o retention=400d \
	>>"$state/backend.log" 2>&1 &
backend_pid=$!
for _ in $(seq 1 600); do
	grep -q "listening on" "$state/backend.log" && break
	kill -0 "$backend_pid" 2>/dev/null || die "else-backend exited, see $state/backend.log"
	sleep 0.1
done
psql_() { psql -h "$state/backend/pg/run" -U postgres -d else -At "$@"; }

touch "$state/progress"
declare -A seq
for h in $("$bin/gen_mail" --list-hosts); do
	seq[$h]=$(awk -v h="$h" '$1 == "seq" && $2 == h { s = $3 } END { print s + 0 }' "$state/progress")
done
win=43200
start=$((p_end - days * 86400))
t0=$(date +%s.%N)
lines_sent=0
# The first window is short: the engine holds completed transactions back
# only for hosts it has heard of, so every host speaks before the long ones.
for ((w = start, wend = start + 300; w < p_end + 3600; w = wend, wend = w + win)); do
	if grep -qx "window $w" "$state/progress"; then
		continue
	fi
	pids=()
	for h in "${!seq[@]}"; do
		(
			f=$state/logs/$h.log
			"$bin/gen_mail" --host "$h" --emails "$emails" --days "$days" --end "$p_end" \
				--from "$w" --to "$wend" >"$f"
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
	for h in "${!seq[@]}"; do
		n=$(wc -l <"$state/logs/$h.log")
		seq[$h]=$((seq[$h] + n))
		lines_sent=$((lines_sent + n))
		echo "seq $h ${seq[$h]}" >>"$state/progress"
	done
	echo "window $w" >>"$state/progress"
	say "$(date -u -d "@$w" +%F\ %H:%M) done: $lines_sent lines this run"
done
rm -f "$state/logs"/*.log
# Lingering flows go out once the backend is idle (idle_flush).
sleep 8
t1=$(date +%s.%N)
el=$(echo "$t1 - $t0" | bc)
say "loaded: $(psql_ -c "select count(*) from lines") lines," \
	"$(psql_ -c "select count(distinct email_id) from messages") e-mails," \
	"$(psql_ -c "select count(*) from messages") transactions," \
	"$(psql_ -c "select count(*) from recipients") recipients," \
	"$(psql_ -c "select count(*) from rejects") rejects"
if [ "$lines_sent" -gt 0 ]; then
	say "this run: $lines_sent lines in ${el}s = $(echo "$lines_sent / $el" | bc) lines/s committed"
fi
say "database size: $(psql_ -c "select pg_size_pretty(pg_database_size('else'))")"
