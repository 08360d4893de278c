#!/bin/bash
# ingest.sh - issue 4 "Speed": lines/s committed by else-backend (correlation
# on), against a plain COPY of the same lines into the same schema and
# against rsyslog + ompgsql inserting the same lines, in one run.
#
#   bench/ingest.sh [--messages N] [--lines N] [--batch N] [--regen]
#                   [--no-build] [--no-rsyslog] [--no-pipeline] [--perf] [--keep]
#                   [--cold-wal] [--rounds R]
#
#   --messages N  size of the real Postfix log (tests/mta/gen-volume.sh, two
#                 hosts, ~12 lines per message; default 20000, made once and
#                 kept in build-bench/bench-data/gen-N/; --regen makes it again)
#   --lines N     repeat that log until the input holds at least N lines
#                 (default 3000000, about 20 s of ingest: a sustained rate, see
#                 "Input" below)
#   --batch N     lines per batch and per transaction (default 5000; in part 1
#                 the mean of the two senders' batches, see below)
#   --no-rsyslog  skip part 3
#   --no-pipeline part 1 with ingest_pipeline=0: each batch's lines and flows
#                 in one transaction (docs/backend.md)
#   --perf        profile else-backend and PostgreSQL during part 1 (perf
#                 record -e cpu-clock) and print the top functions
#   --keep        keep the scratch directory (logs, databases)
#   --cold-wal    skip the WAL warm-up of each cluster (see "WAL" below)
#   --rounds R    run parts 1 and 2 R times (part 3 in the first round only)
#                 and print each round's ratios and their medians: each
#                 round's two rates are neighbours in time, and this
#                 machine's speed drifts by 10-20 % from one minute to the next
#
# Parts, one after the other on the same input:
#  1. else-backend with its embedded PostgreSQL (fresh state directory,
#     default settings but metrics_interval=1s and idle_flush=2s), fed by two
#     else-send processes in parallel over loopback tls+tcp with mutual TLS,
#     one per host identity (certificates vol1 and vol2).  Their batches are
#     sized in proportion to their logs (vol1 2 x BATCH x its share of the
#     lines, vol2 the same; the mean is BATCH), so that both advance the same
#     log time per batch: two collectors shipping in real time stay that close
#     in log time.  Two equal batch sizes would let vol2, the smaller log, run
#     minutes of log time ahead of vol1, and then the engine cannot link most
#     vol1 -> vol2 relay hops (linger 30 s): a different, cheaper correlation
#     workload (checked: hop links in the database against else-parse).
#     Each else-send waits for the ack of a batch, which the backend
#     sends after the COMMIT of its lines, before it sends the next: when
#     both have exited, every line is committed (the flows writer commits
#     their flows and rollups after them: checked once it is quiet).  Rate = lines / (start of both senders ->
#     exit of the later one).  Checked: metrics.json lines_committed and
#     count(*) of lines equal the input.
#  2. bench_db (bench/bench_db.c, bench/db.sh) on the same two files, same
#     line count, same batch, in a fresh embedded cluster (another
#     else-backend state directory, which also runs the migrations): fresh
#     migrated databases, COPY into `lines` with all its indexes, one COPY +
#     COMMIT per batch, one connection.  "text" is a plain text COPY (what
#     psql \copy sends), "binary" a plain binary COPY; "be_db" is ELSE's
#     storage adapter alone (no network, no correlation).
#  3. A private rsyslogd (bench/rsyslog/rsyslog.conf.in) reads both files
#     with imfile and inserts every line with ompgsql's stock template into
#     rsyslog's stock SystemEvents table (bench/rsyslog/schema.sql), in a new
#     database of the same cluster as part 2.  Rate = lines / (start of
#     rsyslogd -> max(ID) equals the input).
#
# Input: gen-volume.sh logs of two hosts (vol1 short queue IDs relays to
# vol2 long queue IDs), repeated R times to reach --lines.  Repetition r is
# shifted forward in time by r * (span of the log + 400 s), both hosts by
# the same amount: time keeps moving forward in each stream, the hop links
# between vol1 and vol2 stay within each repetition, and no repetition can
# link to another (400 s > hop_window 300 s and linger 30 s).  The gap stays
# under catchup (600 s): the host that reaches the next repetition first is
# then ahead by the gap and a little more, and a host further behind than
# catchup no longer holds back the other's completed messages, whose "queued
# as" from it would then find nothing (6,143 of 90,000 hops with 600 s).  Queue IDs
# recur once per repetition, the way short Postfix queue IDs recur on a real
# server.  So the engine does R times the work of one repetition: else-parse
# --flows finds R times the flows of one repetition (printed as a check).
#
# WAL: a backend that has been running reuses its old WAL segments after
# each checkpoint; a fresh cluster creates and zero-fills a new 16 MB file for
# every 16 MB of WAL.  So before parts 1 and 2, each cluster writes 1.5 GB of
# WAL into a table it drops, and checkpoints twice (warm_wal): both parts then
# run as on a backend that has been up for a while.  --cold-wal skips it.
#
# Needs root (the embedded PostgreSQL runs as user postgres; Postfix for
# gen-volume.sh), jq, rsyslog and rsyslog-pgsql (deploy/setup.sh --bench).  Prints
# figures, never fails because a figure is low (STYLE.md, "Performance
# work"); exits non-zero only when a part could not run.  Every process it
# starts is stopped on exit.
set -euo pipefail
export LC_ALL=C TZ=UTC
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

messages=20000 target=3000000 batch=5000 regen=0 build=1 do_rsyslog=1 do_perf=0 keep=0 pipeline=1 warm=1
rounds=1 pass=() # pass: the arguments but --rounds, for the rounds
while [ $# -gt 0 ]; do
	[ "$1" = --rounds ] || pass+=("$1")
	case $1 in --messages | --lines | --batch) pass+=("${2:-}") ;; esac
	case $1 in
	--rounds) rounds=$2; shift ;;
	--messages) messages=$2; shift ;;
	--lines) target=$2; shift ;;
	--batch) batch=$2; shift ;;
	--regen) regen=1 ;;
	--no-build) build=0 ;;
	--no-rsyslog) do_rsyslog=0 ;;
	--no-pipeline) pipeline=0 ;;
	--perf) do_perf=1 ;;
	--keep) keep=1 ;;
	--cold-wal) warm=0 ;;
	-h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "ingest.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
for v in "$messages" "$target" "$batch" "$rounds"; do
	[[ $v =~ ^[0-9]+$ && $v -ge 1 ]] || { echo "ingest.sh: numbers must be positive" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "ingest.sh: run as root (embedded PostgreSQL, Postfix)" >&2; exit 2; }

if [ "$rounds" -gt 1 ]; then
	# --rounds R: this script R times, one after the other; the figures of
	# each round from its summary, then the medians.
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	acks=() applied=() copies=()
	for r in $(seq 1 "$rounds"); do
		more=()
		[ "$r" -gt 1 ] && more=(--no-build --no-rsyslog)
		printf '\n##### round %d of %d\n' "$r" "$rounds"
		bash "$0" "${pass[@]}" "${more[@]}" 2>&1 | tee "$out"
		acks+=("$(awk '/^\(1\) else-backend, committed/ { print $(NF - 1) }' "$out")")
		applied+=("$(awk '/until every flow is in its tables/ { print $(NF - 1) }' "$out")")
		copies+=("$(awk '/^    plain COPY, binary/ { print $(NF - 1) }' "$out")")
	done
	median() {
		printf '%s\n' "$@" | sort -g |
			awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
	}
	ra=() rp=()
	printf '\n=== %d rounds: lines/s at the ack, with every flow applied, binary COPY; ratios ===\n' \
		"$rounds"
	for i in "${!acks[@]}"; do
		ra+=("$(awk -v a="${acks[$i]}" -v b="${copies[$i]}" 'BEGIN { printf "%.3f", a / b }')")
		rp+=("$(awk -v a="${applied[$i]}" -v b="${copies[$i]}" 'BEGIN { printf "%.3f", a / b }')")
		printf 'round %d: %8d %8d %8d   %s %s\n' $((i + 1)) "${acks[$i]}" "${applied[$i]}" \
			"${copies[$i]}" "${ra[-1]}" "${rp[-1]}"
	done
	printf 'median:  %8.0f %8.0f %8.0f   %.3f %.3f  (targets: 100,000 lines/s; 0.50 of COPY)\n' \
		"$(median "${acks[@]}")" "$(median "${applied[@]}")" "$(median "${copies[@]}")" \
		"$(median "${ra[@]}")" "$(median "${rp[@]}")"
	exit 0
fi

bdir=$root/build-bench
bin=$bdir/bin
gap=400 # seconds between repetitions (> hop_window, > linger, < catchup)

say() { printf '%s ingest: %s\n' "$(date +%T)" "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# --- cleanup: everything this script started -------------------------------
work=
pids=()   # children still running: else-backend, else-send, rsyslogd, perf, sampler
states=() # else-backend state dirs: their cluster is stopped if still up
# reap PID - wait for a child and forget it, so that cleanup never signals a
# pid the system may have given to another process since
reap() {
	local p keep=()
	wait "$1" 2>/dev/null || true
	for p in "${pids[@]}"; do
		[ "$p" = "$1" ] || keep+=("$p")
	done
	pids=("${keep[@]}")
}
cleanup() {
	local p s
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	for s in "${states[@]}"; do
		# A backend that died leaves its cluster running: stop it by its data dir.
		if [ -f "$s/pg/data/postmaster.pid" ]; then
			runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl stop -D "$s/pg/data" \
				-m fast -w -s >/dev/null 2>&1 || true
		fi
	done
	if [ -n "$work" ]; then
		if [ "$keep" = 1 ]; then say "kept $work"; else rm -rf "$work"; fi
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build -----------------------------------------------------------------
if [ "$build" = 1 ]; then
	say "building Release in build-bench/"
	cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >"$bdir.ingest-cmake.log" 2>&1 &&
		cmake --build "$bdir" -j2 --target else-backend else-send else-parse bench_db \
			>>"$bdir.ingest-cmake.log" 2>&1 ||
		{ tail -30 "$bdir.ingest-cmake.log" >&2; die "build failed"; }
	rm -f "$bdir.ingest-cmake.log"
fi
for p in else-backend else-send else-parse bench_db; do
	[ -x "$bin/$p" ] || die "$bin/$p missing (run without --no-build)"
done
command -v jq >/dev/null || die "jq missing (deploy/setup.sh)"

# --- the real log ----------------------------------------------------------
gen=$bdir/bench-data/gen-$messages
if [ "$regen" = 1 ] || ! jq -e .ok "$gen/volume.json" >/dev/null 2>&1; then
	say "making a real Postfix log: gen-volume.sh $messages messages (MTA_PORT_BASE ${MTA_PORT_BASE:-25450})"
	rm -rf "$gen"
	mkdir -p "$bdir/bench-data"
	chmod 755 "$bdir" "$bdir/bench-data"
	MTA_PORT_BASE=${MTA_PORT_BASE:-25450} MTA_VERBOSE=0 bash tests/mta/gen-volume.sh "$gen" "$messages" ||
		die "gen-volume.sh failed"
fi
src1=$gen/vol1/maillog
src2=$gen/vol2/maillog

work=$(mktemp -d /tmp/else-ingest.XXXXXX)
chmod 755 "$work"

# --- the input: R time-shifted repetitions (see the head comment) -----------
# shift_awk: with -v off=SECONDS, every line whose "Mmm dd hh:mm:ss" stamp
# parses (as this year, UTC) gets it moved forward, the rest of the line kept
# byte for byte; with -v mode=span, prints the seconds between the oldest and
# the newest stamp of its input.
year=$(date +%Y)
shift_awk='
BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " ")
	for (i = 1; i <= 12; i++) mon[m[i]] = i }
function ts(s) {
	return mktime(year " " mon[substr(s, 1, 3)] " " (substr(s, 5, 2) + 0) " " \
		substr(s, 8, 2) " " substr(s, 11, 2) " " substr(s, 14, 2))
}
mode == "span" { t = ts($0); if (t > 0) { if (!lo || t < lo) lo = t; if (t > hi) hi = t } next }
{
	if (substr($0, 16, 1) == " " && (substr($0, 1, 3) in mon) && (t = ts($0)) > 0)
		printf "%s%s\n", strftime("%b %e %H:%M:%S", t + off), substr($0, 16)
	else
		print
}
END { if (mode == "span") print hi - lo }'
n1=$(wc -l <"$src1")
n2=$(wc -l <"$src2")
base=$((n1 + n2))
[ "$base" -gt 0 ] || die "empty logs in $gen"
reps=$(((target + base - 1) / base))
span=$( (head -1 "$src1"; tail -1 "$src1"; head -1 "$src2"; tail -1 "$src2") |
	awk -v mode=span -v year="$year" "$shift_awk")
say "input: $base lines x $reps repetitions, each shifted by $((span + gap)) s"
for h in 1 2; do
	src=$src1
	[ $h = 2 ] && src=$src2
	: >"$work/vol$h.log"
	for ((r = 0; r < reps; r++)); do
		if [ $r = 0 ]; then
			cat "$src" >>"$work/vol$h.log"
		else
			awk -v off=$((r * (span + gap))) -v year="$year" "$shift_awk" "$src" >>"$work/vol$h.log"
		fi
	done
done
total=$((reps * base))
lines1=$(wc -l <"$work/vol1.log")
lines2=$(wc -l <"$work/vol2.log")
[ $((lines1 + lines2)) = "$total" ] || die "repeated input has $((lines1 + lines2)) lines, want $total"
bytes=$(cat "$work/vol1.log" "$work/vol2.log" | wc -c)

# Correlation check (not timed): flows of one repetition and of the input,
# and the relay hops linked (messages with a previous hop).
flows_one=$("$bin/else-parse" --flows "$src1" "$src2" | wc -l)
read -r flows_all links_all < <("$bin/else-parse" --flows "$work/vol1.log" "$work/vol2.log" |
	jq -r 'if .prev_hop then 1 else 0 end' | awk '{ n++; l += $1 } END { print n, l }')
# Per-sender batch sizes: equal log time per batch (see the head comment).
batch1=$(((2 * batch * lines1 + total / 2) / total))
batch2=$(((2 * batch * lines2 + total / 2) / total))
[ "$batch1" -ge 1 ] || batch1=1
[ "$batch2" -ge 1 ] || batch2=1

# --- certificates, ports, helpers --------------------------------------------
bash deploy/else-ca.sh init "$work/ca" >/dev/null
bash deploy/else-ca.sh server "$work/ca" backend >/dev/null
for h in vol1 vol2; do bash deploy/else-ca.sh client "$work/ca" $h >/dev/null; done
# Started as root, else-backend runs as user postgres once it listens, and
# reads the CA at every handshake: the CA certificate must be reachable.
chmod 755 "$work/ca"

free_port() {
	local p
	for _ in $(seq 1 50); do
		p=$((27000 + RANDOM % 2000))
		ss -Hltn "sport = :$p" | grep -q . || { echo $p; return 0; }
	done
	die "no free port"
}

# start_backend STATE PORT - else-backend with an embedded cluster; sets bpid
start_backend() {
	local state=$1 port=$2
	mkdir -p "$state"
	chmod 755 "$state"
	states+=("$state")
	"$bin/else-backend" -o state_dir="$state" -o listen="tls+tcp://127.0.0.1:$port" -o query_listen= \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/server-backend.pem" \
		-o metrics_interval=1s -o idle_flush=2s -o ingest_pipeline=$pipeline >>"$state.log" 2>&1 &
	bpid=$!
	pids+=("$bpid")
	for _ in $(seq 1 600); do
		grep -q "listening on" "$state.log" 2>/dev/null && return 0
		kill -0 "$bpid" 2>/dev/null || { tail -20 "$state.log" >&2; die "else-backend exited at start"; }
		sleep 0.1
	done
	die "else-backend did not start listening"
}

# warm_wal STATE - the cluster's WAL as a running backend's is: a cluster that
# has run through checkpoints reuses its old 16 MB WAL segments, a fresh one
# creates and zero-fills a new file for every 16 MB of WAL (in the first runs of
# session 18, 13 % of the ingest connection's time was WALInitWrite and
# WALInitSync).  Both parts get it, so they compare as they would on a backend
# that has been running; --cold-wal leaves it out.
warm_wal() {
	[ "$warm" = 1 ] || return 0
	psql -h "$1/pg/run" -U postgres -d else -qAt -v ON_ERROR_STOP=1 \
		-c "CREATE TABLE else_bench_warm AS SELECT repeat('x', 1900) AS x FROM generate_series(1, 800000)" \
		-c "DROP TABLE else_bench_warm" -c CHECKPOINT -c "SELECT pg_switch_wal()" -c CHECKPOINT \
		>/dev/null || die "WAL warm-up failed"
	say "WAL warm-up: $(psql -h "$1/pg/run" -U postgres -d else -qAt \
		-c "SELECT count(*) FROM pg_ls_waldir()") segments ready"
}

# stop_backend STATE PID - SIGTERM: final checkpoint, cluster stopped
stop_backend() {
	kill -TERM "$2" 2>/dev/null || true
	reap "$2"
}

# cpu_s PID... - user+sys seconds of these processes (and their waited-for children)
tck=$(getconf CLK_TCK)
cpu_s() {
	local p t=0 f
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		f=$(sed 's/.*) //' "/proc/$p/stat") # fields from 3 on: state ppid ...
		set -- $f
		t=$((t + ${12} + ${13} + ${14} + ${15}))
	done
	awk -v t=$t -v k="$tck" 'BEGIN { printf "%.2f", t / k }'
}
# pg_pids STATE - the postmaster of the cluster and all its children
pg_pids() {
	local pm
	pm=$(head -1 "$1/pg/data/postmaster.pid" 2>/dev/null) || return 0
	echo "$pm"
	ps -o pid= --ppid "$pm" 2>/dev/null | tr -d ' ' || true
}
now() { echo "$EPOCHREALTIME"; }
fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print 0 }'; }
# mfile STATE - the backend's metrics.json (STATE/run/ in newer builds)
mfile() { if [ -f "$1/run/metrics.json" ]; then echo "$1/run/metrics.json"; else echo "$1/metrics.json"; fi; }
metric() { jq -r ".$2 // 0" "$(mfile "$1")" 2>/dev/null || echo 0; }
# child_cpu VAR - user+sys seconds of this shell's waited-for children so far
# (`times` must run in this shell, not in a $(...) subshell)
child_cpu() {
	times >"$work/times.txt"
	printf -v "$1" '%s' "$(awk 'END { split($0, f, /[ ms]+/); printf "%.3f", f[1] * 60 + f[2] + f[3] * 60 + f[4] }' "$work/times.txt")"
}

# --- machine -----------------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
echo "=== ELSE ingest benchmark (bench/ingest.sh, issue 4 \"Speed\") ==="
echo "machine: ${cpu:-?}, nproc $(nproc), $(uname -sr), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine distorts the figures; compare the ratios)"
echo "PostgreSQL: $(/usr/lib/postgresql/15/bin/postgres --version | sed 's/.*) //'), embedded cluster settings of backend/be_pg.c (fsync on, synchronous_commit on)"
printf 'input: gen-volume.sh %d messages, vol1 %d + vol2 %d = %d lines, x %d repetitions (each +%d s)\n' \
	"$messages" "$n1" "$n2" "$base" "$reps" "$((span + gap))"
printf '       = %d lines (vol1 %d, vol2 %d), %.1f MB; %d lines per batch and per transaction\n' \
	"$total" "$lines1" "$lines2" "$(fdiv "$bytes" 1000000)" "$batch"
printf 'correlation check: else-parse --flows finds %d flows in one repetition, %d in the input (%s x), %d with a relay hop linked\n' \
	"$flows_one" "$flows_all" "$(fdiv "$flows_all" "$flows_one")" "$links_all"
echo

# --- part 1: else-backend ----------------------------------------------------
say "part 1: else-backend, two else-send in parallel"
st1=$work/be
port=$(free_port)
start_backend "$st1" "$port"
be1=$bpid
warm_wal "$st1"
sleep 1 # the first metrics.json
mapfile -t pg1 < <(pg_pids "$st1")
perfpid=
if [ "$do_perf" = 1 ] && command -v perf >/dev/null; then
	perf record -q -e cpu-clock -F 499 -o "$work/perf.data" \
		-p "$(IFS=,; echo "$be1,${pg1[*]}")" >/dev/null 2>&1 &
	perfpid=$!
	pids+=("$perfpid")
	sleep 0.5
fi
cb0=$(cpu_s "$be1")
cp0=$(cpu_s "${pg1[@]}")
# Sample last_batch_ms and queue depth every second while the senders run.
# Neither this sampler nor the loop that waits for the senders below starts a
# process while they run: both wait with `read -t` on a pipe nobody writes to
# and read metrics.json with bash's own `read`.  (With a `sleep 0.01` process
# every 10 ms and a jq every second, perf -a counted 5-6 % of the two cores
# in them during part 1, CPU taken from the run being measured; part 2 has
# no such loop.)
exec {tick}<> <(:)
mf=$(mfile "$st1")
( while :; do
	j=
	{ read -r -d '' j <"$mf"; } 2>/dev/null || true
	v=()
	for k in last_batch_ms queue_depth lines_committed; do
		[[ $j =~ \"$k\":([-0-9.e+]+) ]] && v+=("${BASH_REMATCH[1]}") || v+=(null)
	done
	echo "${v[*]}"
	read -r -t 1 -u "$tick" _ || true
done ) >"$work/samples.txt" &
sampler=$!
pids+=("$sampler")
# The senders are children of this shell: their CPU is read with `times`,
# and the loop below notices a backend that dies under them.
child_cpu cs0
t0=$(now)
declare -A sender
for h in vol1 vol2; do
	b=$batch1
	[ $h = vol2 ] && b=$batch2
	"$bin/else-send" --backend "tls+tcp://127.0.0.1:$port" --ca "$work/ca/ca.crt" \
		--cert "$work/ca/client-$h.pem" --server-name backend --stream file:/var/log/mail.log \
		--batch-lines "$b" --batch-bytes $((64 << 20)) --timeout 120000 \
		"$work/$h.log" >"$work/send-$h.out" 2>&1 &
	sender[$!]=$h
	pids+=("$!")
done
# Polled every 10 ms: `wait -n` hung when both senders exited together (bash
# 5.2 reported one of them, then waited on for the backend).
left=2 rc1=0
while [ $left -gt 0 ]; do
	for p in "${!sender[@]}"; do
		kill -0 "$p" 2>/dev/null && continue
		rc=0
		wait "$p" || rc=$?
		[ $rc = 0 ] || rc1=$rc
		unset "sender[$p]"
		reap "$p"
		left=$((left - 1))
	done
	kill -0 "$be1" 2>/dev/null || { tail -5 "$st1.log" >&2; die "else-backend exited during the run"; }
	[ $left = 0 ] || read -r -t 0.01 -u "$tick" _ || true
done
tend=$(now)
child_cpu cs1
cb1=$(cpu_s "$be1")
mapfile -t pg1b < <(pg_pids "$st1")
cp1=$(cpu_s "${pg1b[@]}")
kill "$sampler" 2>/dev/null || true
reap "$sampler"
if [ -n "$perfpid" ]; then
	kill -INT "$perfpid" 2>/dev/null || true
	reap "$perfpid"
fi
[ $rc1 = 0 ] || { cat "$work"/send-*.out >&2; die "else-send failed ($rc1)"; }
t1=$(awk -v a="$t0" -v b="$tend" 'BEGIN { printf "%.3f", b - a }')
r1=$(rate "$total" "$t1")
# The flows writer applies the journal (sql/010) after the last ack: the
# rate with every flow of the batches in its tables too.
t1a=$t1
if [ "$pipeline" = 1 ]; then
	# One connection polls (a psql every 50 ms cost a process and a
	# PostgreSQL backend each, CPU taken from the writers being timed).
	psql -h "$st1/pg/run" -U postgres -d else -Atq -c "DO \$\$ BEGIN
		FOR i IN 1..3000 LOOP
			EXIT WHEN NOT EXISTS (SELECT FROM flow_journal);
			PERFORM pg_sleep(0.05);
		END LOOP; END \$\$" >/dev/null
	t1a=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
fi
r1a=$(rate "$total" "$t1a")
# Wait for metrics.json to show the last commit, and the last flows (idle_flush).
for _ in $(seq 1 100); do
	[ "$(metric "$st1" lines_committed)" -ge "$total" ] && break
	sleep 0.2
done
committed=$(metric "$st1" lines_committed)
# Lingering flows go out idle_flush (2 s) after the last batch: wait until
# the count has not moved for 5 s.
prev=-1 same=0
for _ in $(seq 1 120); do
	sleep 1
	cur=$(($(metric "$st1" flows) + $(metric "$st1" rejects)))
	if [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
	[ $same -ge 5 ] && break
	prev=$cur
done
psql1() { psql -h "$st1/pg/run" -U postgres -d else -At -c "$1"; }
dblines=$(psql1 "select count(*) from lines")
dbflows=$(psql1 "select (select count(*) from messages) + (select count(*) from rejects)")
dblinks=$(psql1 "select count(*) from messages where prev_queue_id is not null")
# The rollups (sql/002_stats.sql) are maintained in the same run: check them.
statsdiff=$(psql -h "$st1/pg/run" -U postgres -d else -At -f tests/ingest/stats_check.sql | wc -l)
statsmsg=$(psql1 "select coalesce(sum(messages), 0) from stats_msg_hourly")
m_unparsed=$(metric "$st1" lines_unparsed)
m_batches=$(metric "$st1" batches)
m_failed=$(metric "$st1" batches_failed)
m_dup=$(metric "$st1" lines_duplicate)
m_ckpt=$(metric "$st1" checkpoints)
m_open=$(metric "$st1" open_messages)
m_upserted=$(metric "$st1" flows_upserted)
m_kupserted=$(metric "$st1" keys_upserted)
read -r bms_avg bms_max qd_max < <(awk 'NF == 3 && $3 > 0 { s += $1; n++; if ($1 > m) m = $1; if ($2 > q) q = $2 }
	END { printf "%.1f %.1f %d\n", n ? s / n : 0, m, q }' "$work/samples.txt")
stop_backend "$st1" "$be1"
cpu_be=$(awk -v a="$cb0" -v b="$cb1" 'BEGIN { printf "%.2f", b - a }')
cpu_pg=$(awk -v a="$cp0" -v b="$cp1" 'BEGIN { printf "%.2f", b - a }')
cpu_send=$(awk -v a="$cs0" -v b="$cs1" 'BEGIN { printf "%.2f", b - a }')
secs_of() { sed -n 's/.* \([0-9.]*\) s, .*/\1/p' "$work/send-$1.out"; }

echo "--- (1) else-backend: 2 x else-send over loopback tls+tcp, correlation on, rollups on, flows writer $([ "$pipeline" = 1 ] && echo on || echo "off (lines and flows in one transaction)"), batches of $batch1 (vol1) and $batch2 (vol2) lines"
printf '    %d lines committed in %s s = %d lines/s (vol1 sender %s s, vol2 sender %s s)\n' \
	"$total" "$t1" "$r1" "$(secs_of vol1)" "$(secs_of vol2)"
printf '    flows applied to their tables (flow_journal empty) %s s after the start = %d lines/s\n' \
	"$t1a" "$r1a"
printf '    CPU over the run: else-backend %s s (%s cores), postgres %s s (%s cores), else-send %s s (%s cores)\n' \
	"$cpu_be" "$(fdiv "$cpu_be" "$t1")" "$cpu_pg" "$(fdiv "$cpu_pg" "$t1")" \
	"$cpu_send" "$(fdiv "$cpu_send" "$t1")"
printf '    per batch (metrics.json, 1 s samples): last_batch_ms mean %s, max %s; max queue depth %s\n' \
	"$bms_avg" "$bms_max" "$qd_max"
printf '    check: metrics lines_committed %s, count(*) lines %s (want %d); batches %s, failed %s, duplicate lines %s, unparsed %s, checkpoints %s\n' \
	"$committed" "$dblines" "$total" "$m_batches" "$m_failed" "$m_dup" "$m_unparsed" "$m_ckpt"
printf '    check: flows in the database (messages + rejects) after idle_flush: %s, still open in the engine: %s (else-parse --flows, which ends every open one at EOF: %d)\n' \
	"$dbflows" "$m_open" "$flows_all"
printf '    flushes that met rows already written and fell back to the upserts (metrics flows_upserted): %s; whose keys alone met keys written and went again with ON CONFLICT (keys_upserted): %s\n' \
	"$m_upserted" "$m_kupserted"
printf '    check: messages with a relay hop linked: %s (else-parse --flows: %d)\n' "$dblinks" "$links_all"
printf '    check: rollups maintained at ingest: %s messages in stats_msg_hourly; rows differing from the flow tables (tests/ingest/stats_check.sql): %s\n' \
	"$statsmsg" "$statsdiff"
if [ -n "$perfpid" ]; then
	echo "    profile (perf record -e cpu-clock; share of all samples of else-backend + postgres):"
	perf report -i "$work/perf.data" --no-children --sort comm --stdio 2>/dev/null |
		grep -E '^ +[0-9]' | sed 's/^ */      /'
	perf report -i "$work/perf.data" --no-children --sort comm,dso,symbol --percent-limit 1.5 \
		--stdio 2>/dev/null | grep -E '^ +[0-9]' | head -30 | sed 's/^/      /'
fi
echo

# --- part 2: plain COPY ------------------------------------------------------
say "part 2: plain COPY (bench_db) in a fresh embedded cluster"
st2=$work/ref
start_backend "$st2" "$(free_port)"
be2=$bpid
warm_wal "$st2"
ref_ci="host=$st2/pg/run port=5432 dbname=else user=postgres"
ELSE_TEST_PG=$ref_ci "$bin/bench_db" --lines "$total" --batch "$batch" \
	"$work/vol1.log" "$work/vol2.log" >"$work/bench_db.out" 2>&1 ||
	{ cat "$work/bench_db.out" >&2; die "bench_db failed"; }
res=$(grep '^result:' "$work/bench_db.out")
kv() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$res"; }
r_text=$(kv text | cut -d. -f1)
r_bin=$(kv binary | cut -d. -f1)
r_bedb=$(kv be_db | cut -d. -f1)
echo "--- (2) plain COPY into lines (same schema and indexes, fresh database each), bench_db:"
grep -E '^(be_db|binary|text) ' "$work/bench_db.out" | sed 's/^/    /'
echo

# --- part 3: rsyslog + ompgsql ----------------------------------------------
r3=0 t3=0 rows3=0 cpu_rs=0 cpu_pg3=0 note3=
if [ "$do_rsyslog" = 1 ]; then
	if ! command -v rsyslogd >/dev/null || [ ! -e /usr/lib/x86_64-linux-gnu/rsyslog/ompgsql.so ]; then
		note3="rsyslog or rsyslog-pgsql not installed (bash deploy/setup.sh --bench)"
	else
		say "part 3: rsyslog imfile -> ompgsql"
		rs=$work/rsyslog
		mkdir -p "$rs/spool"
		psql -h "$st2/pg/run" -U postgres -d else -qAt -c "CREATE DATABASE rsyslog" >/dev/null
		psql -h "$st2/pg/run" -U postgres -d rsyslog -q -v ON_ERROR_STOP=1 -f bench/rsyslog/schema.sql >/dev/null
		sed -e "s|@WORK@|$rs|g" -e "s|@SOCKDIR@|$st2/pg/run|g" -e "s|@DB@|rsyslog|g" \
			-e "s|@LOG1@|$work/vol1.log|g" \
			-e "s|@LOG2@|$work/vol2.log|g" -e "s|@BATCH@|$batch|g" \
			bench/rsyslog/rsyslog.conf.in >"$rs/rsyslog.conf"
		rsyslogd -N1 -f "$rs/rsyslog.conf" >"$rs/check.log" 2>&1 ||
			{ cat "$rs/check.log" >&2; die "rsyslogd rejects $rs/rsyslog.conf"; }
		mapfile -t pg2 < <(pg_pids "$st2")
		cp0=$(cpu_s "${pg2[@]}")
		t0=$(now)
		rsyslogd -n -f "$rs/rsyslog.conf" -i "$rs/rsyslogd.pid" >"$rs/stdout.log" 2>&1 &
		rspid=$!
		pids+=("$rspid")
		last=0 stall=0
		while :; do
			rows3=$(psql -h "$st2/pg/run" -U postgres -d rsyslog -At \
				-c "select coalesce(max(id), 0) from systemevents" 2>/dev/null || echo "$last")
			tnow=$(now)
			[ "$rows3" -ge "$total" ] && break
			if [ "$rows3" = "$last" ]; then stall=$((stall + 1)); else stall=0; fi
			last=$rows3
			if ! kill -0 "$rspid" 2>/dev/null || [ $stall -ge 240 ]; then
				note3="stopped at $rows3 rows (rsyslogd $(kill -0 "$rspid" 2>/dev/null && echo stalled for 60 s || echo exited): see $rs/internal.log"
				break
			fi
			sleep 0.25
		done
		cpu_rs=$(cpu_s "$rspid")
		mapfile -t pg2b < <(pg_pids "$st2")
		cp1=$(cpu_s "${pg2b[@]}")
		cpu_pg3=$(awk -v a="$cp0" -v b="$cp1" 'BEGIN { printf "%.2f", b - a }')
		t3=$(awk -v a="$t0" -v b="$tnow" 'BEGIN { printf "%.3f", b - a }')
		r3=$(rate "$rows3" "$t3")
		kill -TERM "$rspid" 2>/dev/null || true
		reap "$rspid"
		rcount=$(psql -h "$st2/pg/run" -U postgres -d rsyslog -At -c "select count(*) from systemevents")
		echo "--- (3) rsyslog $(rsyslogd -v | awk 'NR == 1 { print $2 }'): imfile -> ompgsql (stock template, one INSERT per line, BEGIN/COMMIT per dequeued batch of <= $batch)"
		printf '    %d rows in %s s = %d lines/s; CPU rsyslogd %s s (%s cores), postgres %s s (%s cores)\n' \
			"$rows3" "$t3" "$r3" "$cpu_rs" "$(fdiv "$cpu_rs" "$t3")" "$cpu_pg3" "$(fdiv "$cpu_pg3" "$t3")"
		printf '    check: count(*) SystemEvents %s (want %d)%s\n' "$rcount" "$total" "${note3:+; $note3}"
		echo
	fi
else
	note3="skipped (--no-rsyslog)"
fi
stop_backend "$st2" "$be2"

# --- summary ----------------------------------------------------------------
ceil=$r_text
[ "${r_bin:-0}" -gt "${ceil:-0}" ] && ceil=$r_bin
echo "=== summary: $total lines, $batch lines per transaction; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ==="
printf '%-52s %12s %14s\n' "" "lines/s" "(1) / this"
printf '%-52s %12d %14s\n' "(1) else-backend, committed, correlation on" "$r1" "1.00"
printf '%-52s %12d %14s\n' "    the same, until every flow is in its tables" "$r1a" "$(fdiv "$r1" "$r1a")"
printf '%-52s %12d %14s\n' "(2) plain COPY, text (psql \\copy)" "$r_text" "$(fdiv "$r1" "$r_text")"
printf '%-52s %12d %14s\n' "    plain COPY, binary" "$r_bin" "$(fdiv "$r1" "$r_bin")"
printf '%-52s %12d %14s\n' "    be_db adapter alone (no network, no correlation)" "$r_bedb" "$(fdiv "$r1" "$r_bedb")"
if [ "$r3" -gt 0 ]; then
	printf '%-52s %12d %14s\n' "(3) rsyslog + ompgsql" "$r3" "$(fdiv "$r1" "$r3")"
else
	printf '%-52s %12s %14s\n' "(3) rsyslog + ompgsql" "n/a" "${note3:-n/a}"
fi
echo "targets (issue 4):"
printf '  committed >= 100,000 lines/s:            %7d lines/s = %s of target  %s\n' "$r1" \
	"$(fdiv "$r1" 100000)" "$([ "$r1" -ge 100000 ] && echo met || echo NOT met)"
printf '  >= 1/2 of plain COPY (faster of the two): (1)/(2) = %s (target >= 0.50)  %s\n' \
	"$(fdiv "$r1" "$ceil")" "$(awk -v a="$r1" -v b="$ceil" 'BEGIN { print (b > 0 && 2 * a >= b) ? "met" : "NOT met" }')"
printf '  the same until the flows are in their tables: %d lines/s, %s of COPY  %s\n' "$r1a" \
	"$(fdiv "$r1a" "$ceil")" "$([ "$r1a" -ge 100000 ] && awk -v a="$r1a" -v b="$ceil" 'BEGIN { exit !(b > 0 && 2 * a >= b) }' && echo met || echo NOT met)"
