#!/bin/bash
#
# test_scenarios.sh - ctest entry point: run every mail scenario through real Postfix
#
# Runs run-scenarios.sh into a fresh mktemp directory, then checks that it passed,
# that scenarios.jsonl holds exactly one record per scenario (all "ok"), that each
# instance left a maillog, and that no Postfix process or listening port is left.
# Removes the directory on success; keeps it (and says where) on failure.
# With ELSE_PARSE set (ctest sets it), the run's logs are also correlated and
# every scenario's story checked (tests/corr/check_flows.sh).  Not being root
# or missing packages is a failure: deploy/setup.sh installs them.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "test_scenarios: FAIL: the Postfix harness must run as root" >&2
    exit 1
fi
for t in postfix swaks smtp-source jq; do
    command -v "$t" >/dev/null 2>&1 || { echo "test_scenarios: FAIL: $t is not installed (run deploy/setup.sh)" >&2; exit 1; }
done

# The list of scenarios comes from scenarios.sh itself.
# shellcheck source=scenarios.sh
expected=$(. "$here/scenarios.sh" && printf '%s\n' "${SCN_ALL[@]}")
n_expected=$(wc -l <<<"$expected")

out=$(mktemp -d "${TMPDIR:-/tmp}/else-mta.XXXXXX") || exit 1
fail() {
    echo "test_scenarios: FAIL: $*" >&2
    echo "test_scenarios: output kept in $out" >&2
    exit 1
}

start=$SECONDS
"$here/run-scenarios.sh" "$out" || fail "run-scenarios.sh exited non-zero"
echo "test_scenarios: run took $((SECONDS - start))s" >&2

j=$out/scenarios.jsonl
[ -s "$j" ] || fail "no scenarios.jsonl"
jq -e . "$j" >/dev/null || fail "scenarios.jsonl is not valid JSON lines"
lines=$(wc -l <"$j")
[ "$lines" = "$n_expected" ] || fail "scenarios.jsonl has $lines records, expected $n_expected"
got=$(jq -r .scenario "$j")
[ "$got" = "$expected" ] || fail "scenario records differ from the scenario list: $(tr "\n" " " <<<"$got")"
bad=$(jq -r 'select(.ok != true or (.errors | length) > 0) | .scenario' "$j")
[ -z "$bad" ] || fail "scenarios not ok: $bad"
empty=$(jq -r 'select((.messages | length) + (.sessions | length) == 0) | .scenario' "$j")
[ -z "$empty" ] || fail "scenarios without any message or session record: $empty"
for i in mx1 mx2 mx3; do
    [ -s "$out/$i/maillog" ] || fail "no maillog for $i"
done

# Every recorded (instance, queue ID) and every recorded log line is really in the logs.
while read -r inst qid; do
    grep -qF ": $qid: " "$out/$inst/maillog" || fail "queue ID $qid not in the $inst maillog"
done < <(jq -r '(.messages[] | (.path[], .notifications[].path[])), (.sessions[] | select(.queue_id // "" | test("^[0-9A-Za-z]+$")) | select(.queue_id != "NOQUEUE") | {instance, queue_id}) | "\(.instance) \(.queue_id)"' "$j")
while IFS= read -r inst && IFS= read -r line; do
    grep -qxF -- "$line" "$out/$inst/maillog" || fail "recorded line not in the $inst maillog: $line"
done < <(jq -r '.sessions[] | select(.log) | .instance, .log' "$j")

# Nothing may be left running or listening.
left=$(grep -lzF "MAIL_CONFIG=$out/" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3)
[ -z "$left" ] || fail "Postfix processes left: $left"
ports=$(jq -r '.instances[].ports[]' "$out/instances.json")
for p in $ports; do
    ! ss -Hltn "sport = :$p" | grep -q . || fail "port $p still listening"
done

if [ -n "${ELSE_PARSE:-}" ]; then
    bash "$here/../corr/check_flows.sh" "$ELSE_PARSE" "$out" || fail "the flows do not tell the scenarios' stories"
fi

rm -rf "$out"
echo "test_scenarios: PASS ($n_expected scenarios)" >&2
exit 0
