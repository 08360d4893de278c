#!/bin/bash
# parse.sh - parser throughput against its references, on one core, in one run.
#
# usage: bench/parse.sh [--lines N] [--log FILE] [--cpu N] [--min-time SEC] [--no-build]
#                       [--messages N] [--regen]
#
# Builds a Release tree in build-bench/ (never the developers' build/), makes
# a large real log, and measures on the same core, one after the other:
#   bench_parse          el_parse_line into el_rec, from memory
#   bench_parse --json   the same plus el_rec_json into a reused buffer
#   else-parse FILE      the whole program, JSON to /dev/null
#   ref_regex.py         a handful of Python regexes that only count fields
#   pflogsumm            the usual Postfix log summariser (Debian package)
# then prints a table of lines/s per core with the ratios against the
# references and against the targets of issue 2 (2,000,000 lines/s for the
# struct parse, 300,000 lines/s for else-parse with JSON).  Machines are
# noisy: read the ratios, which come from the same run, not the absolutes.
#
# The log: --log FILE, else the real Postfix logs under tests/data/postfix/
# (from the real-Postfix harness), else the merged log of
# tests/mta/gen-volume.sh with --messages N (default 2000; made once, kept in
# build-bench/bench-data/, --regen remakes it), else a harness run left in
# /tmp/r1, else every tests/data/**/*.log.  It is
# repeated until it holds at least --lines lines (default 1,000,000) and
# written to build-bench/bench-data/.  This script only reports: it never
# fails because a figure is low (STYLE.md: no timed assertions).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=$root/build-bench
ddir=$bdir/bench-data
lines=1000000
log=
cpu=0
min_time=2
build=1
messages=2000
regen=0
target_struct=2000000
target_json=300000

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--lines) lines=${2:?}; shift 2 ;;
	--log) log=${2:?}; shift 2 ;;
	--cpu) cpu=${2:?}; shift 2 ;;
	--min-time) min_time=${2:?}; shift 2 ;;
	--messages) messages=${2:?}; shift 2 ;;
	--regen) regen=1; shift ;;
	--no-build) build=0; shift ;;
	-h | --help) usage ;;
	*) echo "parse.sh: unknown argument: $1" >&2; usage ;;
	esac
done
case $lines in '' | *[!0-9]*) echo "parse.sh: --lines: expected a number" >&2; exit 2 ;; esac
case $messages in '' | *[!0-9]*) echo "parse.sh: --messages: expected a number" >&2; exit 2 ;; esac
case $cpu in '' | *[!0-9]*) echo "parse.sh: --cpu: expected a CPU number" >&2; exit 2 ;; esac

say() { echo "parse.sh: $*" >&2; }

# --- build ------------------------------------------------------------------
if [ $build = 1 ]; then
	say "building Release into $bdir"
	cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >"$bdir.cmake.log" 2>&1 ||
		{ cat "$bdir.cmake.log" >&2; exit 1; }
	cmake --build "$bdir" -j2 --target bench_parse else-parse >>"$bdir.cmake.log" 2>&1 ||
		{ cat "$bdir.cmake.log" >&2; exit 1; }
	rm -f "$bdir.cmake.log"
fi
for p in bench_parse else-parse; do
	[ -x "$bdir/bin/$p" ] || { say "missing $bdir/bin/$p (run without --no-build)"; exit 1; }
done

# --- the log ----------------------------------------------------------------
mkdir -p "$ddir"
shopt -s nullglob globstar
sources=()
if [ -n "$log" ]; then
	[ -r "$log" ] || { say "cannot read $log"; exit 1; }
	sources=("$log")
	origin="--log $log"
fi
if [ ${#sources[@]} -eq 0 ]; then
	sources=("$root"/tests/data/postfix/*.log)
	origin="tests/data/postfix/*.log (real Postfix, from the harness)"
fi
if [ ${#sources[@]} -eq 0 ] && [ -f "$root/tests/mta/gen-volume.sh" ]; then
	# Real Postfix takes ~10 s per 1,000 messages (~12 lines each): generate
	# once and keep it; --regen makes a fresh one.
	gen=$ddir/gen-$messages
	if [ $regen = 1 ] || [ ! -s "$gen/volume.log" ]; then
		say "no tests/data/postfix/*.log: generating $messages messages with tests/mta/gen-volume.sh"
		rm -rf "$gen"
		# Ports apart from the harness default, so a test run may go on beside us.
		MTA_PORT_BASE=${MTA_PORT_BASE:-25450} bash "$root/tests/mta/gen-volume.sh" "$gen" \
			"$messages" >&2 || say "gen-volume.sh failed"
	fi
	if [ -s "$gen/volume.log" ]; then
		sources=("$gen/volume.log")
		origin="tests/mta/gen-volume.sh $messages (real Postfix, vol1 + vol2 merged)"
	fi
fi
if [ ${#sources[@]} -eq 0 ]; then
	sources=(/tmp/r1/*/maillog)
	origin="/tmp/r1/*/maillog (a harness run)"
fi
if [ ${#sources[@]} -eq 0 ]; then
	sources=("$root"/tests/data/**/*.log)
	origin="tests/data/**/*.log"
fi
[ ${#sources[@]} -gt 0 ] || { say "no log found: pass --log FILE"; exit 1; }

# One unit holding every source byte for byte, each ending in a newline, then
# as many copies as it takes (xargs keeps the number of cat processes small).
unit=$ddir/unit.log
input=$ddir/input.log
for f in "${sources[@]}"; do
	cat "$f"
	[ -z "$(tail -c 1 "$f")" ] || echo
done >"$unit"
unit_lines=$(wc -l <"$unit")
[ "$unit_lines" -gt 0 ] || { say "the log is empty: ${sources[*]}"; exit 1; }
reps=$(((lines + unit_lines - 1) / unit_lines))
[ $reps -ge 1 ] || reps=1
awk -v f="$unit" -v n="$reps" 'BEGIN { for (i = 0; i < n; i++) print f }' |
	xargs -d '\n' cat >"$input"
rm -f "$unit"
total_lines=$(wc -l <"$input")
total_bytes=$(wc -c <"$input")
year=$(date +%Y)

# --- pinning ----------------------------------------------------------------
pin=()
if command -v taskset >/dev/null 2>&1 && taskset -c "$cpu" true 2>/dev/null; then
	pin=(taskset -c "$cpu")
	pinned="CPU $cpu (taskset)"
else
	pinned="not pinned (no taskset, or CPU $cpu unavailable)"
fi

py=$(command -v python3 || true)
pfl=$(command -v pflogsumm || true)
[ -n "$pfl" ] || { [ -x /usr/sbin/pflogsumm ] && pfl=/usr/sbin/pflogsumm; } || true

echo "== ELSE parser benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:  $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs, $(uname -sr)"
echo "tree:     $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown), $(cc --version | head -n 1)"
echo "pinned:   $pinned"
echo "log:      $origin: ${#sources[@]} file(s), $unit_lines lines, x$reps"
echo "input:    $input: $total_lines lines, $total_bytes bytes ($((total_bytes / total_lines)) bytes/line)"

# --- measure ----------------------------------------------------------------
declare -A cpu_ls wall_ls note
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# result_field LINE KEY - the value of KEY= in a "result:" line
result_field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1"; }

# bench_c NAME ARGS... - run bench_parse, keep its result line
bench_c() {
	local name=$1 res
	shift
	say "running bench_parse $*"
	"${pin[@]}" "$bdir/bin/bench_parse" --year "$year" --min-time "$min_time" "$@" "$input" \
		>"$out/$name.txt"
	res=$(grep '^result:' "$out/$name.txt")
	cpu_ls[$name]=$(result_field "$res" cpu_lines_s)
	wall_ls[$name]=$(result_field "$res" wall_lines_s)
	note[$name]="unparsed $(result_field "$res" unparsed)"
}

# timed NAME RUNS CMD... - run CMD (stdout discarded) RUNS times; keep the
# run with the least CPU time (user + sys, children included).
timed() {
	local name=$1 runs=$2 i t w u s best_cpu='' best_wall=''
	shift 2
	for ((i = 1; i <= runs; i++)); do
		say "running $name ($i/$runs)"
		TIMEFORMAT='%3R %3U %3S'
		{ time "${pin[@]}" "$@" >/dev/null 2>"$out/$name.err"; } 2>"$out/$name.time" ||
			{ say "$name failed:"; cat "$out/$name.err" >&2; return 1; }
		read -r w u s <"$out/$name.time"
		t=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.3f", u + s }')
		if [ -z "$best_cpu" ] || awk -v a="$t" -v b="$best_cpu" 'BEGIN { exit !(a < b) }'; then
			best_cpu=$t
			best_wall=$w
		fi
	done
	cpu_ls[$name]=$(awk -v n="$total_lines" -v t="$best_cpu" 'BEGIN { printf "%.0f", n / t }')
	wall_ls[$name]=$(awk -v n="$total_lines" -v t="$best_wall" 'BEGIN { printf "%.0f", n / t }')
	note[$name]="cpu ${best_cpu}s, wall ${best_wall}s, best of $runs"
}

bench_c struct
bench_c json --json
timed else-parse 3 "$bdir/bin/else-parse" --year "$year" "$input"
if [ -n "$py" ]; then
	say "running ref_regex.py"
	"${pin[@]}" "$py" "$root/bench/ref_regex.py" --min-time "$min_time" "$input" >"$out/regex.txt"
	res=$(grep '^result:' "$out/regex.txt")
	cpu_ls[regex]=$(result_field "$res" cpu_lines_s)
	wall_ls[regex]=$(result_field "$res" wall_lines_s)
	note[regex]="$("$py" -c 'import sys; print("python", sys.version.split()[0])')"
else
	note[regex]="python3 not found: run deploy/setup.sh"
fi
if [ -n "$pfl" ]; then
	timed pflogsumm 1 "$pfl" "$input"
	note[pflogsumm]="${note[pflogsumm]}, $(dpkg-query -W -f='${Version}' pflogsumm 2>/dev/null || true)"
else
	note[pflogsumm]="pflogsumm not installed: run deploy/setup.sh"
fi

# --- report -----------------------------------------------------------------
# ratio A B - A / B as "12.3x", or "-" when either is unknown
ratio() {
	if [ -n "${1:-}" ] && [ -n "${2:-}" ]; then
		awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'
	else
		printf -- "-"
	fi
}

echo
printf '%-22s %13s %13s %9s %10s %10s %10s  %s\n' "what" "lines/s/core" "wall lines/s" \
	"MB/s/core" "vs regex" "vs pflogs" "vs target" "notes"
row() {
	local name=$1 label=$2 target=${3:-} c=${cpu_ls[$1]:-} w=${wall_ls[$1]:-} mbs=- vt=-
	if [ -n "$c" ]; then
		mbs=$(awk -v c="$c" -v b="$total_bytes" -v n="$total_lines" \
			'BEGIN { printf "%.1f", c * b / n / 1e6 }')
	fi
	[ -z "$target" ] || vt=$(ratio "$c" "$target")
	printf '%-22s %13s %13s %9s %10s %10s %10s  %s\n' "$label" "${c:--}" "${w:--}" "$mbs" \
		"$(ratio "$c" "${cpu_ls[regex]:-}")" "$(ratio "$c" "${cpu_ls[pflogsumm]:-}")" \
		"$vt" "${note[$name]:-}"
}
row struct "bench_parse (struct)" $target_struct
row json "bench_parse --json"
row else-parse "else-parse >/dev/null" $target_json
row regex "ref_regex.py"
row pflogsumm "pflogsumm"
echo
echo "targets (issue 2): struct >= $target_struct lines/s per core; else-parse JSON >= $target_json lines/s."
echo "lines/s/core = lines / CPU seconds of the process; bench figures are the best of 3 runs of >= ${min_time}s."
for k in struct json; do
	echo
	echo "-- bench_parse ${k}:"
	sed -n '/^machine:/,/^checksum:/p' "$out/$k.txt"
done
