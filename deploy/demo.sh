#!/bin/bash
# demo.sh - ELSE for real on one machine: else-backend with its embedded
# PostgreSQL, one else-collector per Postfix host following that host's
# maillog over mutual TLS, and three real Postfix instances fed with the
# harness's mail scenarios (tests/mta) while the collectors are running, so
# the e-mails arrive in the database as Postfix logs them; an else-frontend
# serves the web UI on http://127.0.0.1:8080/ (user demo, a random password
# written to the state directory).
#
#   bash deploy/demo.sh          run it (as root, after deploy/setup.sh)
#   bash deploy/demo.sh stop     stop what an earlier run left running
#
# The backend, the collectors and the frontend keep running afterwards, for you to look
# at; ELSE_DEMO_STOP=1 stops everything at the end.  State goes to
# ${ELSE_STATE:-/var/tmp/else-demo} (a new run starts it over).  Ports:
# ELSE_DEMO_PORT (backend ingest, default 7701; its query service takes the
# next port), ELSE_DEMO_WEB (the web UI, default 8080), MTA_PORT_BASE (Postfix, default 25250, see tests/mta/README.md).
# The collectors run as user else-collector (created if missing, as in
# docs/collector.md) with the supplementary group adm.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${ELSE_STATE:-/var/tmp/else-demo}
port=${ELSE_DEMO_PORT:-7701}
hosts=(mx1 mx2 mx3) # the instances of tests/mta/scenarios.sh
t0=$SECONDS

# stop_all - stop the backend and collectors of an earlier run (pid files)
stop_all() {
	local f pid
	# (backend/run/backend.pid: where earlier versions of this script kept it)
	for f in "$state"/run/frontend.pid "$state"/run/collector-*.pid "$state"/run/backend.pid \
		"$state"/backend/run/backend.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		# Only our own programs: a stale pid file may name a recycled pid.
		if kill -0 "$pid" 2>/dev/null &&
			grep -qE 'else-(backend|collector|frontend)' "/proc/$pid/cmdline" 2>/dev/null; then
			kill -TERM "$pid"
			for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -f "$f"
	done
}
if [ "${1:-}" = stop ]; then
	stop_all
	echo "demo: stopped"
	exit 0
fi
[ $# = 0 ] || { echo "usage: $0 [stop]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "demo: run it as root (Postfix instances, embedded PostgreSQL)" >&2; exit 1; }

echo "demo: building..."
cmake -S . -B build >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
stop_all
mta_pid=
# On failure, stop what this run started (the harness stops its Postfix).
trap 'rc=$?; if [ $rc != 0 ]; then [ -n "$mta_pid" ] && kill -TERM "$mta_pid" 2>/dev/null; stop_all; fi' EXIT
rm -rf "$state/mta" "$state/ca" "$state/backend" "$state"/collector-* "$state/run" "$state"/*.log
mkdir -p "$state/run"
chmod 755 "$state"

# Certificates of one ELSE CA: the backend's, and one per mail host.
bash deploy/else-ca.sh init "$state/ca" >/dev/null
bash deploy/else-ca.sh server "$state/ca" backend >/dev/null
for h in "${hosts[@]}" frontend-demo; do bash deploy/else-ca.sh client "$state/ca" "$h" >/dev/null; done
chmod 755 "$state/ca"
chmod 644 "$state/ca/ca.crt"
# The collectors run as the service user of docs/collector.md, with the
# supplementary group adm (which reads /var/log/mail.log on Debian).
getent passwd else-collector >/dev/null ||
	useradd --system --no-create-home --shell /usr/sbin/nologin else-collector
for h in "${hosts[@]}"; do
	chgrp else-collector "$state/ca/client-$h.pem"
	chmod 0640 "$state/ca/client-$h.pem"
done

echo "demo: starting else-backend with its own PostgreSQL under $state/backend..."
mkdir -p "$state/backend"
# The first administrator of the web UI, with a random password (never a default one).
(umask 077 && openssl rand -base64 15 >"$state/admin-password")
build/bin/else-backend -o state_dir="$state/backend" --create-admin demo <"$state/admin-password" \
	>"$state/backend.log" 2>&1 || { echo "demo: --create-admin failed, see $state/backend.log" >&2; exit 1; }
build/bin/else-backend -o state_dir="$state/backend" -o listen="tls+tcp://127.0.0.1:$port" \
	-o ca_file="$state/ca/ca.crt" -o cert_file="$state/ca/server-backend.pem" -o idle_flush=3s \
	-o query_listen="tls+tcp://127.0.0.1:$((port + 1))" \
	>>"$state/backend.log" 2>&1 &
echo $! >"$state/run/backend.pid"
for _ in $(seq 1 600); do
	grep -q "listening on" "$state/backend.log" && break
	kill -0 "$(cat "$state/run/backend.pid")" 2>/dev/null || break
	sleep 0.1
done
grep -q "listening on" "$state/backend.log" || {
	echo "demo: else-backend did not start, see $state/backend.log" >&2
	exit 1
}

# The web UI: an else-frontend on loopback, plain HTTP (docs/frontend.md for
# HTTPS and HAProxy), calling the backend's query service over mutual TLS.
web=${ELSE_DEMO_WEB:-8080}
build/bin/else-frontend -c /dev/null -o listen="127.0.0.1:$web" \
	-o backend="tls+tcp://127.0.0.1:$((port + 1))" -o backend_server_name=backend \
	-o ca_file="$state/ca/ca.crt" -o cert_file="$state/ca/client-frontend-demo.pem" \
	-o status_file="$state/run/frontend-status.json" >"$state/frontend.log" 2>&1 &
echo $! >"$state/run/frontend.pid"
for _ in $(seq 1 100); do
	curl -s -o /dev/null "http://127.0.0.1:$web/" && break
	sleep 0.1
done
curl -s -o /dev/null "http://127.0.0.1:$web/" || {
	echo "demo: else-frontend did not start, see $state/frontend.log" >&2
	exit 1
}

# One else-collector per mail host, started before Postfix: each follows the
# maillog_file its instance is about to write (a file that does not exist
# yet is waited for), through its durable spool, as on a real mail host.
for h in "${hosts[@]}"; do
	build/bin/else-collector -c /dev/null -o source="file:$state/mta/$h/maillog" \
		-o backend="tls+tcp://127.0.0.1:$port" -o server_name=backend \
		-o ca_file="$state/ca/ca.crt" -o cert_file="$state/ca/client-$h.pem" \
		-o state_dir="$state/collector-$h" -o host="$h" -o user=else-collector -o group=adm >"$state/collector-$h.log" 2>&1 &
	echo $! >"$state/run/collector-$h.pid"
done
echo "demo: ${#hosts[@]} else-collectors running (${hosts[*]}), following $state/mta/*/maillog"

psql_() { psql -h "$state/backend/pg/run" -U postgres -d else -At "$@"; }
db_counts() { # "lines messages rejects" as stored so far
	psql_ -F ' ' -c "select (select count(*) from lines), (select count(*) from messages),
	                        (select count(*) from rejects)" 2>/dev/null || echo "0 0 0"
}
collector_acked() { # HOST -> lines the backend acknowledged to its collector
	build/bin/else-collector -c /dev/null -o state_dir="$state/collector-$1" --status 2>/dev/null |
		jq -r .lines_acked 2>/dev/null || echo 0
}

echo "demo: running real Postfix (3 instances, 11 scenarios, about a minute); what arrives in PostgreSQL:"
t1=$SECONDS
bash tests/mta/run-scenarios.sh "$state/mta" >"$state/mta.log" 2>&1 &
mta_pid=$!
while kill -0 "$mta_pid" 2>/dev/null; do
	for _ in $(seq 1 50); do kill -0 "$mta_pid" 2>/dev/null && sleep 0.1; done
	read -r l m r <<<"$(db_counts)"
	printf "demo:   %3d s  %5d log lines  %4d e-mail records  %3d rejected sessions\n" \
		$((SECONDS - t1)) "$l" "$m" "$r"
done
if ! wait "$mta_pid"; then
	echo "demo: the Postfix harness failed, see $state/mta.log" >&2
	exit 1
fi

# Postfix has stopped: wait until every line it wrote is acknowledged, and
# the backend has flushed the last e-mails (idle_flush).
for h in "${hosts[@]}"; do
	want=$(wc -l <"$state/mta/$h/maillog")
	for _ in $(seq 1 300); do
		got=$(collector_acked "$h")
		[ "${got:-0}" -ge "$want" ] && break
		sleep 0.1
	done
	echo "demo: else-collector of $h: ${got:-0} of the $want lines of its maillog stored"
	[ "${got:-0}" -ge "$want" ] || echo "demo: see $state/collector-$h.log" >&2
done
# The same logs offline (else-parse --flows): the database must come to the
# same e-mail records once the backend has flushed them (idle_flush).
build/bin/else-parse --flows "$state"/mta/*/maillog >"$state/flows.jsonl"
want_m=$(jq -r 'select(.kind == "message") | 1' "$state/flows.jsonl" | wc -l)
for _ in $(seq 1 300); do
	read -r l m r <<<"$(db_counts)"
	[ "$m" -ge "$want_m" ] && break
	sleep 0.1
done
read -r l m r <<<"$(db_counts)"
echo
echo "demo: in PostgreSQL after $((SECONDS - t0)) s: $l log lines from ${#hosts[@]} hosts," \
	"$m e-mail records (one per message per host), $r rejected sessions" \
	"(else-parse --flows offline: $want_m e-mail records)"
psql_ -c "select '  ' || lpad(count(*)::text, 4) || '  ' || status from messages
          group by status order by count(*) desc, status"
# show PATTERN TITLE: one e-mail across hosts, with every recipient's fate
show() {
	echo
	echo "== $2"
	psql_ -c "with f as (
	            select m.first_seen, h.name, m.queue_id, r.idx,
	                   row_number() over (partition by m.host_id, m.queue_id, m.first_seen order by r.idx) as k,
	                   '  ' || h.name || '/' || m.queue_id || '  from=<' || coalesce(m.sender, '') || '>  '
	                   || m.status || coalesce('  (from ' || ph.name || '/' || m.prev_queue_id || ')', '')
	                   || coalesce('  (bounce report on ' || m.dsn_of_queue_id || ')', '') as head,
	                   '      to=<' || r.rcpt || '> ' || r.status || ' ' || coalesce(r.response, '')
	                   || coalesce(' -> ' || nh.name || '/' || r.next_queue_id, '') as rcpt
	            from messages m join hosts h on h.id = m.host_id
	            left join hosts ph on ph.id = m.prev_host_id
	            left join recipients r on r.host_id = m.host_id and r.queue_id = m.queue_id
	                 and r.first_seen = m.first_seen
	            left join hosts nh on nh.id = r.next_host_id
	            where m.email_id = (select email_id from messages where message_id like '$1%' limit 1))
	          select case when k = 1 then head || chr(10) else '' end || coalesce(rcpt, '')
	          from f order by first_seen, name, queue_id, idx" | sed '/^$/d'
}
show else-relay. "a message relayed mx1 -> mx2 and delivered"
show else-multi. "four recipients: delivered, alias-expanded, and one bounced with its DSN"
show else-filter. "through an after-queue content filter"

# The same e-mails through the web UI's JSON API, as the browser asks for them.
jar=$state/run/cookies
curl -s -c "$jar" -o /dev/null -H 'Content-Type: application/json' \
	--data-binary "{\"user\":\"demo\",\"password\":\"$(cat "$state/admin-password")\"}" \
	"http://127.0.0.1:$web/api/login"
found=$(curl -s -b "$jar" -H 'Content-Type: application/json' -d '{"q":"alice@remote.test"}' \
	"http://127.0.0.1:$web/api/quick" | jq '.rows | length')
echo "demo: the web UI's API finds $found transactions of alice@remote.test"
[ "${found:-0}" -gt 0 ] || { echo "demo: the web UI found nothing, see $state/frontend.log" >&2; exit 1; }

echo
echo "demo: the web UI: http://127.0.0.1:$web/  (user demo, password in $state/admin-password)"
echo "demo: done in $((SECONDS - t0)) s.  else-backend: 127.0.0.1:$port (state $state/backend, log $state/backend.log)"
echo "demo: the database: psql -h $state/backend/pg/run -U postgres else"
echo "demo: a collector's status: build/bin/else-collector -c /dev/null -o state_dir=$state/collector-mx1 --status"
echo "demo: the same logs offline: $state/flows.jsonl (build/bin/else-parse --flows $state/mta/*/maillog)"
if [ "${ELSE_DEMO_STOP:-0}" = 1 ]; then
	stop_all
	echo "demo: else-backend, the collectors and the frontend stopped"
else
	echo "demo: still running; stop them with: bash deploy/demo.sh stop"
fi
