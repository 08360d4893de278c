#!/bin/bash
# check_flows_selftest.sh - the scenario checker must be able to fail: without
# one host's log, the hops into that host cannot be linked and the checker
# has to say so.
#
# usage: check_flows_selftest.sh ELSE_PARSE DIR   (DIR as for check_flows.sh)
set -euo pipefail
bin=$1
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
shopt -s nullglob
n=0
for f in "$dir"/*.maillog.log; do
	case $(basename "$f") in
	mx2.*) ;; # the host every relay scenario delivers to
	*) cp "$f" "$tmp/"; n=$((n + 1)) ;;
	esac
done
[ "$n" -gt 0 ] || { echo "check_flows_selftest: no logs in $dir" >&2; exit 1; }
cp "$dir/scenarios.jsonl" "$tmp/"
if out=$(bash "$here/check_flows.sh" "$bin" "$tmp" 2>&1); then
	echo "check_flows_selftest: the checker passed with mx2's log missing" >&2
	exit 1
fi
if ! grep -q "not linked to next hop mx2" <<<"$out"; then
	echo "check_flows_selftest: the checker failed for another reason:" >&2
	echo "$out" | head -5 >&2
	exit 1
fi
echo "check_flows_selftest: the checker fails as it should ($(grep -c FAIL: <<<"$out") checks) without mx2"
