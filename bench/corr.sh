#!/bin/bash
# corr.sh - parse + correlate throughput and memory per open message, one core.
#
# usage: bench/corr.sh [--messages N] [--no-build]
# Uses the two-host real-Postfix volume log that bench/parse.sh makes with
# tests/mta/gen-volume.sh (made here if missing), and prints, in one run:
#   - parse + correlate lines/s over 20 copies of the day (one is too short to time)
#     (target of issue 3: 500,000 lines/s per core), next to the parse-only
#     rate of the same lines (bench_parse) as the reference;
#   - peak heap for 1 and 20 copies (bounded by open messages, not input size);
#   - bytes per open message (no message ever completes).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bdir=$root/build-bench
messages=2000
build=1
while [ $# -gt 0 ]; do
	case $1 in
	--messages) messages=${2:?}; shift 2 ;;
	--no-build) build=0; shift ;;
	*) sed -n '2,11p' "$0" >&2; exit 2 ;;
	esac
done
if [ $build = 1 ]; then
	cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >/dev/null
	cmake --build "$bdir" -j"$(nproc)" --target bench_corr bench_parse >/dev/null
fi
gen=$bdir/bench-data/gen-$messages
if [ ! -s "$gen/vol1/maillog" ]; then
	mkdir -p "$bdir/bench-data"
	MTA_PORT_BASE=${MTA_PORT_BASE:-25450} bash "$root/tests/mta/gen-volume.sh" "$gen" "$messages" >&2
fi
logs=("$gen"/vol1/maillog "$gen"/vol2/maillog)
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)
cat "${logs[@]}" >"$bdir/bench-data/corr-input.log"

echo "== ELSE correlation benchmark, $(date -u +%FT%TZ)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs"
echo "log:     tests/mta/gen-volume.sh $messages (real Postfix, 2 hosts): $(cat "${logs[@]}" | wc -l) lines"
echo
r() { "${pin[@]}" "$bdir/bin/bench_corr" "$@" "${logs[@]}" | sed -n 's/^result: //p'; }
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
one=$(r --copies 1)
many=$(r --copies 20)
open=$(r --copies 1 --open)
ref=$("${pin[@]}" "$bdir/bin/bench_parse" --min-time 1 "$bdir/bench-data/corr-input.log" | sed -n 's/^result: //p')
ref_rate=$(get "$ref" cpu_lines_s)
printf '%-34s %14s %10s %10s\n' "what" "lines/s/core" "vs parse" "vs target"
for row in "parse+correlate, 20 copies:$many"; do
	name=${row%%:*}
	res=${row#*:}
	rate=$(get "$res" cpu_lines_s)
	printf '%-34s %14s %9.2fx %9.2fx\n' "$name" "$rate" "$(echo "$rate / $ref_rate" | bc -l)" \
		"$(echo "$rate / 500000" | bc -l)"
done
printf '%-34s %14s %10s %10s\n' "parse only (bench_parse)" "$ref_rate" "1.00x" "-"
echo
echo "memory (heap held by the engine at its peak of open transactions):"
printf '  %-30s %8s open  %10s bytes\n' "1 copy" "$(get "$one" peak_open)" "$(get "$one" heap_bytes)"
printf '  %-30s %8s open  %10s bytes\n' "20 copies (20x the input)" "$(get "$many" peak_open)" "$(get "$many" heap_bytes)"
po=$(get "$open" peak_open)
hb=$(get "$open" heap_bytes)
printf '  %-30s %8s open  %10s bytes = %d bytes per open message\n' "nothing ever removed" "$po" "$hb" $((hb / po))
