#!/bin/bash
# demo.sh - build ELSE, run real Postfix instances through every harness
# scenario, and show what ELSE reads from their logs.
#
# Until the backend and web UI land, the demo is offline: the real logs go
# through else-parse and a summary per event type is printed, then the lines
# of one e-mail as JSON.  State goes to ${ELSE_STATE:-/var/tmp/else-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${ELSE_STATE:-/var/tmp/else-demo}

cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
rm -rf "$state/mta"
mkdir -p "$state"
echo "demo: running real Postfix scenarios (about a minute)..."
bash tests/mta/run-scenarios.sh "$state/mta" >"$state/mta.log" 2>&1 || {
	echo "demo: the Postfix harness failed, see $state/mta.log" >&2
	exit 1
}
cat "$state"/mta/*/maillog >"$state/all.log"
build/bin/else-parse "$state/all.log" >"$state/all.jsonl"
echo
echo "demo: $(wc -l <"$state/all.log") log lines from $(ls -d "$state"/mta/*/maillog | wc -l) Postfix instances"
echo "demo: events found:"
jq -r .event "$state/all.jsonl" | sort | uniq -c | sort -rn
echo
echo "demo: the relay scenario's e-mail on every host, as ELSE parses it:"
mid=$(jq -r 'select(.scenario=="relay") | .message_id' "$state/mta/scenarios.jsonl" | head -1)
qids=$(jq -r --arg m "${mid#<}" 'select(.message_id==($m|rtrimstr(">"))) | .queue_id' "$state/all.jsonl" | sort -u)
for q in $qids; do
	jq -c --arg q "$q" 'select(.queue_id==$q) | del(.raw)' "$state/all.jsonl"
done
echo
echo "demo: full output in $state/all.jsonl"
