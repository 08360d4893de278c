#!/bin/bash
# demo.sh - build ELSE, run real Postfix instances through every harness
# scenario, and show the e-mails ELSE reconstructs from their logs.
#
# The logs go two ways: offline through else-parse --flows, and for real
# through one else-collector per Postfix host (following its maillog, durable
# spool) over mutual TLS into else-backend with its embedded PostgreSQL,
# whose tables are then queried.
# The backend keeps running afterwards (ELSE_DEMO_STOP=1 stops it).  State
# goes to ${ELSE_STATE:-/var/tmp/else-demo}.
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

# The same logs through the real pipeline: certificates, backend, collectors.
echo
echo "demo: starting else-backend with its own PostgreSQL under $state/backend..."
if [ -f "$state/backend/run/backend.pid" ] && kill -0 "$(cat "$state/backend/run/backend.pid")" 2>/dev/null; then
	kill -TERM "$(cat "$state/backend/run/backend.pid")"
	for _ in $(seq 1 100); do kill -0 "$(cat "$state/backend/run/backend.pid")" 2>/dev/null || break; sleep 0.1; done
fi
rm -rf "$state/backend" "$state/ca"
bash deploy/else-ca.sh init "$state/ca" >/dev/null
bash deploy/else-ca.sh server "$state/ca" backend >/dev/null
chmod 755 "$state/ca"
chmod 644 "$state/ca/ca.crt"
port=${ELSE_DEMO_PORT:-7701}
mkdir -p "$state/backend/run"
build/bin/else-backend -o state_dir="$state/backend" -o listen="tls+tcp://127.0.0.1:$port" \
	-o ca_file="$state/ca/ca.crt" -o cert_file="$state/ca/server-backend.pem" -o idle_flush=3s \
	>"$state/backend.log" 2>&1 &
echo $! >"$state/backend/run/backend.pid"
for _ in $(seq 1 300); do
	grep -q "listening on" "$state/backend.log" && break
	sleep 0.1
done
grep -q "listening on" "$state/backend.log" || { echo "demo: else-backend did not start, see $state/backend.log" >&2; exit 1; }
# One else-collector per Postfix host, following its maillog through the
# durable spool, as on a real mail host.
collectors=()
for f in "$state"/mta/*/maillog; do
	h=$(basename "$(dirname "$f")")
	bash deploy/else-ca.sh client "$state/ca" "$h" >/dev/null
	rm -rf "$state/collector-$h"
	build/bin/else-collector -c /dev/null -o source="file:$f" -o backend="tls+tcp://127.0.0.1:$port" \
		-o ca_file="$state/ca/ca.crt" -o cert_file="$state/ca/client-$h.pem" -o server_name=backend \
		-o state_dir="$state/collector-$h" >"$state/collector-$h.log" 2>&1 &
	collectors+=("$!:$h:$(wc -l <"$f")")
done
for c in "${collectors[@]}"; do
	IFS=: read -r pid h want <<<"$c"
	for _ in $(seq 1 300); do
		got=$(build/bin/else-collector -c /dev/null -o state_dir="$state/collector-$h" --status 2>/dev/null |
			jq -r .lines_acked 2>/dev/null || echo 0)
		[ "${got:-0}" -ge "$want" ] && break
		sleep 0.1
	done
	echo "demo: else-collector of $h shipped ${got:-0} of $want lines (status: build/bin/else-collector -o state_dir=$state/collector-$h --status)"
	kill -TERM "$pid"
	wait "$pid" || true
done
psql_() { psql -h "$state/backend/pg/run" -U postgres -d else -At "$@"; }
for _ in $(seq 1 100); do
	[ "$(psql_ -c "select count(*) from messages" 2>/dev/null || echo 0)" -gt 0 ] && break
	sleep 0.2
done
echo "demo: in PostgreSQL: $(psql_ -c "select count(*) from lines") lines," \
	"$(psql_ -c "select count(*) from messages") message records," \
	"$(psql_ -c "select count(*) from rejects") rejects"
psql_ -c "select '  ' || status || ': ' || count(*) from messages group by status order by count(*) desc"
echo "demo: the relay e-mail, from the database:"
psql_ -c "select '  ' || h.name || '/' || m.queue_id || '  ' || m.status || coalesce('  (from ' || ph.name || '/' || m.prev_queue_id || ')', '')
          from messages m join hosts h on h.id = m.host_id left join hosts ph on ph.id = m.prev_host_id
          where m.email_id = (select email_id from messages where message_id like 'else-relay.%' limit 1)
          order by m.first_seen, h.name"
echo "demo: else-backend runs on 127.0.0.1:$port (state $state/backend, log $state/backend.log);"
echo "demo: its counters: build/bin/else-backend -o state_dir=$state/backend --status"
echo "demo: query it: psql -h $state/backend/pg/run -U postgres else"
if [ "${ELSE_DEMO_STOP:-0}" = 1 ]; then
	pid=$(cat "$state/backend/run/backend.pid")
	kill -TERM "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	echo "demo: else-backend stopped"
fi
