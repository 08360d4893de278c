#!/bin/bash
# demo.sh - build ELSE, run real Postfix instances through every harness
# scenario, and show the e-mails ELSE reconstructs from their logs.
#
# Until the backend and web UI land, the demo is offline: the real logs go
# through else-parse --flows, and a summary plus the whole story of a few
# e-mails is printed.  State goes to ${ELSE_STATE:-/var/tmp/else-demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${ELSE_STATE:-/var/tmp/else-demo}

cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
rm -rf "$state/mta"
mkdir -p "$state"
chmod 755 "$state"
echo "demo: running real Postfix (3 instances, 11 scenarios, about a minute)..."
if ! bash tests/mta/run-scenarios.sh "$state/mta" >"$state/mta.log" 2>&1; then
	echo "demo: the Postfix harness failed, see $state/mta.log" >&2
	exit 1
fi
logs=("$state"/mta/*/maillog)
build/bin/else-parse --flows "${logs[@]}" >"$state/flows.jsonl"
echo
echo "demo: $(cat "${logs[@]}" | wc -l) log lines from ${#logs[@]} Postfix hosts became:"
jq -r 'if .kind == "message" then "message \(.status)" else "reject  \(.status) (\(.event))" end' \
	"$state/flows.jsonl" | sort | uniq -c | sort -rn
echo
show() {
	local id
	id=$(jq -r --arg m "$1" 'select(.message_id != null and (.message_id | startswith($m))) | .email_id' \
		"$state/flows.jsonl" | head -1)
	echo "== $2 (email_id $id)"
	jq -r --arg id "$id" 'select(.email_id == $id and .kind == "message")
		| "  \(.host)/\(.queue_id)  from=<\(.from)>  \(.status)"
		  + (if .prev_hop then "  (from \(.prev_hop.host)/\(.prev_hop.queue_id))" else "" end)
		  + (if .dsn_of then "  (bounce report on \(.dsn_of.queue_id))" else "" end),
		  (.recipients[] | "      to=<\(.to)> \(.status) \(.response // "")"
		  + (if .next_hop then " -> \(.next_hop.host)/\(.next_hop.queue_id)" else "" end))' \
		"$state/flows.jsonl"
	echo
}
show else-relay "a message relayed mx1 -> mx2 and delivered"
show else-multi "four recipients: delivered, alias-expanded, and one bounced with its DSN"
show else-filter "through an after-queue content filter"
echo "demo: every flow is in $state/flows.jsonl; the raw logs in $state/mta/*/maillog"
echo "demo: try: build/bin/else-parse --flows $state/mta/*/maillog | jq 'select(.status==\"bounced\")'"
