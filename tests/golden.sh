#!/bin/bash
# golden.sh - else-parse output for the real logs under tests/data must match
# the committed expected JSON exactly.
#
# usage: golden.sh ELSE_PARSE [--update]
# Each golden log (tests/data/postfix/*.maillog.log from the real-Postfix
# harness, tests/data/synthetic/*.log) has NAME.expected.jsonl beside it.  With
# --update the expected files are rewritten (review the diff before committing).
# tests/data/postfix/volume-sample.log is bench and fuzz input, not golden.
set -euo pipefail
bin=$1
update=${2:-}
dir=$(cd "$(dirname "$0")/data" && pwd)
export TZ=UTC
fail=0
n=0
while IFS= read -r -d '' log; do
	exp=${log%.log}.expected.jsonl
	[ -e "$exp" ] || [ "$update" = "--update" ] || { echo "golden: $exp is missing" >&2; fail=1; }
	out=$(mktemp)
	"$bin" --year 2026 "$log" >"$out"
	if [ "$update" = "--update" ]; then
		cp "$out" "$exp"
	elif ! diff -u "$exp" "$out" >/dev/null 2>&1; then
		echo "golden: MISMATCH $log" >&2
		diff -u "$exp" "$out" | head -20 >&2 || true
		fail=1
	fi
	# Same number of output lines as input lines, always.
	in_lines=$(wc -l <"$log")
	out_lines=$(wc -l <"$out")
	if [ "$in_lines" != "$out_lines" ]; then
		echo "golden: $log has $in_lines lines but produced $out_lines" >&2
		fail=1
	fi
	rm -f "$out"
	n=$((n + 1))
done < <(find "$dir/postfix" -name '*.maillog.log' -print0 | sort -z
	find "$dir/synthetic" -name '*.log' -print0 | sort -z)
if [ "$n" -eq 0 ]; then
	echo "golden: no logs found under $dir" >&2
	exit 1
fi
echo "golden: $n files checked"
exit $fail
