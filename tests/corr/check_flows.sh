#!/bin/bash
# check_flows.sh - correlate real harness logs and check every scenario's story.
#
# usage: check_flows.sh ELSE_PARSE DIR
# DIR holds one maillog per instance (DIR/*/maillog or DIR/*.maillog.log) and
# DIR/scenarios.jsonl.  Prints each failed check; exits 1 if any.
set -euo pipefail
bin=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
logs=("$dir"/*/maillog "$dir"/*.maillog.log)
[ ${#logs[@]} -gt 0 ] || { echo "check_flows: no logs in $dir" >&2; exit 1; }
flows=$(mktemp)
trap 'rm -f "$flows"' EXIT
TZ=UTC "$bin" --flows "${logs[@]}" >"$flows"
nscen=$(jq -s 'map(select(.ok)) | length' "$dir/scenarios.jsonl")
[ "$nscen" -gt 0 ] || { echo "check_flows: no successful scenarios in $dir" >&2; exit 1; }
fails=$(jq -n -r --slurpfile flows "$flows" --slurpfile scen "$dir/scenarios.jsonl" -f "$here/check_flows.jq")
nflows=$(wc -l <"$flows")
if [ -n "$fails" ]; then
	echo "$fails" | sed 's/^/check_flows: FAIL: /' >&2
	echo "check_flows: $(echo "$fails" | wc -l) failed checks over $nscen scenarios, $nflows flows" >&2
	exit 1
fi
echo "check_flows: $nscen scenarios, $nflows flows: every story as recorded"
