#!/bin/bash
# e2e.sh - the web UI and JSON API end to end, all real: the committed
# real-Postfix harness logs shipped by else-send over NNG/TLS into
# else-backend (ingest + query service, embedded PostgreSQL), two
# else-frontend instances (one plain HTTP, one HTTPS) behind HAProxy, each
# dialing a dead backend URL and the real one.  Through HAProxy:
#   - login, and for every message of tests/data/postfix/scenarios.jsonl a
#     quick search and its flow, checked by check_api.jq (hops, links,
#     each recipient's fate, raw lines);
#   - search, rejects, stats, servers, tail, history, elsectl;
#   - no session, unknown session, ended session and expired session: 401;
#     CSRF missing or wrong, cross-origin: 403; SQL metacharacters and huge
#     values in every field of every read call: refused or harmless, never 5xx;
#   - the frontends' status files (--status) count the calls, and no reply
#     of the backend refused;
#   - a frontend killed with -9: HAProxy goes on with the other;
#   - headless Chromium (playwright-core from npm) logs in, searches,
#     opens a flow, sees the hops, exports CSV, uses the search form, the
#     rejects, servers, history, users and live pages; the screenshots are
#     checked not blank.
#
# usage: e2e.sh BINDIR DATADIR NPMDIR   (NPMDIR: where npm ci puts playwright-core)
# Ports: seven free ones on 127.0.0.1 picked at run time (tests/free_ports.py;
# ELSE_TEST_PORT_RANGE=LO-HI confines them), or FE_PORT_BASE .. +20 when set.
# Needs root (embedded PostgreSQL).
set -euo pipefail
bin=$1
data=$2
npmdir=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -n "${FE_PORT_BASE:-}" ]; then
	P=$FE_PORT_BASE
	ports=("$P" $((P + 1)) $((P + 2)) $((P + 10)) $((P + 11)) $((P + 12)) $((P + 20)))
else
	mapfile -t ports < <(python3 "$root/tests/free_ports.py" 7)
fi
[ ${#ports[@]} = 7 ] || { echo "wui-e2e: FAIL: no free ports" >&2; exit 1; }
ingest=tls+tcp://127.0.0.1:${ports[0]}
query=tls+tcp://127.0.0.1:${ports[1]}
dead=tls+tcp://127.0.0.1:${ports[2]} # nothing listens there
fe1=${ports[3]}
fe2=${ports[4]}
fe3=${ports[5]}
hap=${ports[6]}
work=$(mktemp -d /tmp/else-wui.XXXXXX)
chmod 755 "$work"
base=http://127.0.0.1:$hap
pw='correct horse battery staple'
bpid= f1pid= f2pid= hpid= kpid=

cleanup() {
	for p in $kpid $hpid $f1pid $f2pid; do kill -TERM "$p" 2>/dev/null || true; done
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null && wait "$bpid" 2>/dev/null
	"$bin/pg_tool" stop "$work/state" >/dev/null 2>&1 || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "wui-e2e: FAIL: $*" >&2
	for f in backend fe1 fe2 haproxy; do
		echo "--- $f.log" >&2
		tail -15 "$work/$f.log" >&2 2>/dev/null || true
	done
	KEEP=1
	echo "wui-e2e: kept $work" >&2
	exit 1
}
say() { echo "wui-e2e: $*"; }
say "ports: ingest ${ports[0]}, query ${ports[1]}, dead ${ports[2]}, frontends $fe1 $fe2 $fe3, haproxy $hap"

# --- certificates: backend, the HTTPS frontend, collectors, frontends ---------
ca() { bash "$root/deploy/else-ca.sh" "$@" >/dev/null; }
ca init "$work/ca"
ca server "$work/ca" backend
ca server "$work/ca" www
for h in mx1 mx2 mx3 clock frontend-1 frontend-2 notafrontend; do ca client "$work/ca" $h; done
chmod 755 "$work/ca"
chmod 644 "$work/ca/ca.crt"

# --- backend: the first admin, then ingest + query service ------------------------
bopts=(-o state_dir="$work/state" -o listen="$ingest" -o query_listen="$query"
	-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/server-backend.pem"
	-o session_idle=60 -o linger=3600s -o idle_flush=3600s -o metrics_interval=1s)
echo "$pw" | "$bin/else-backend" "${bopts[@]}" --create-admin admin >>"$work/backend.log" 2>&1 ||
	fail "else-backend --create-admin"
"$bin/else-backend" "${bopts[@]}" >>"$work/backend.log" 2>&1 &
bpid=$!
for _ in $(seq 1 300); do
	grep -q "query service on" "$work/backend.log" && grep -q "listening on" "$work/backend.log" && break
	kill -0 "$bpid" 2>/dev/null || fail "else-backend exited at start"
	sleep 0.1
done
grep -q "query service on" "$work/backend.log" || fail "no query service"

# --- the harness logs, and a line a day later that lets the flows out ----------
# The logs were written on one day, and a search without a range looks at the
# last seven: they are shipped as if written yesterday, the clock line now, so
# the windows hold them whatever the date.
yesterday=$(LC_ALL=C date -d yesterday '+%b %e')
for h in mx1 mx2 mx3; do
	[ "$(cut -c1-6 "$data/$h.maillog.log" | sort -u | wc -l)" = 1 ] ||
		fail "$h.maillog.log spans more than one day"
	sed "s/^....../$yesterday/" "$data/$h.maillog.log" >"$work/$h.maillog.log"
	"$bin/else-send" --backend "$ingest" --ca "$work/ca/ca.crt" --cert "$work/ca/client-$h.pem" \
		--server-name backend --stream file:/var/log/mail.log --timeout 5000 --quiet \
		"$work/$h.maillog.log" 2>>"$work/send.log" || fail "else-send $h"
done
echo "$(LC_ALL=C date '+%b %e %T') clock sshd[1]: time moves on" >"$work/clock.log"
"$bin/else-send" --backend "$ingest" --ca "$work/ca/ca.crt" --cert "$work/ca/client-clock.pem" \
	--server-name backend --stream file:/var/log/auth.log --timeout 5000 --quiet \
	"$work/clock.log" 2>>"$work/send.log" || fail "else-send clock"
say "shipped $(cat "$data"/mx{1,2,3}.maillog.log | wc -l) real Postfix log lines of 3 hosts"

# --- two frontends, each dialing a dead backend URL and the real one ------------
feopts=(-c /dev/null -o backend="$dead,$query" -o backend_server_name=backend
	-o ca_file="$work/ca/ca.crt" -o trusted_proxy=127.0.0.1 -o rpc_timeout=10
	-o max_body=64K -o workers=8 -o status_interval=1)
"$bin/else-frontend" "${feopts[@]}" -o listen=127.0.0.1:$fe1 -o status_file="$work/fe1.json" \
	-o cert_file="$work/ca/client-frontend-1.pem" >>"$work/fe1.log" 2>&1 &
f1pid=$!
"$bin/else-frontend" "${feopts[@]}" -o listen=127.0.0.1:$fe2 -o status_file="$work/fe2.json" \
	-o cert_file="$work/ca/client-frontend-2.pem" -o https_cert="$work/ca/server-www.crt" \
	-o https_key="$work/ca/server-www.key" >>"$work/fe2.log" 2>&1 &
f2pid=$!

sed -e "s/@HAP@/$hap/" -e "s/@FE1@/$fe1/" -e "s/@FE2@/$fe2/" -e "s|@CA@|$work/ca/ca.crt|" \
	"$here/haproxy-test.cfg" >"$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db >>"$work/haproxy.log" 2>&1 &
hpid=$!

# --- API helpers -----------------------------------------------------------------
csrf=
# api CALL BODY [curl args...]: status in $code, answer in $work/out.json (jar: $jar)
jar=$work/jar
api() {
	local call=$1 body=$2
	shift 2
	code=$(curl -s -o "$work/out.json" -w '%{http_code}' -b "$jar" -c "$jar" \
		-H 'Content-Type: application/json' ${csrf:+-H "X-CSRF-Token: $csrf"} "$@" \
		--data-binary "$body" "$base/api/$call") || true
}
want() { # CODE WHAT
	[ "$code" = "$1" ] || fail "$2: HTTP $code, want $1: $(head -c 300 "$work/out.json")"
}

for _ in $(seq 1 100); do
	api session_check '{}'
	[ "$code" = 401 ] && break
	sleep 0.2
done
want 401 "session_check without a session (frontends and backend up)"
curl -s --cacert "$work/ca/ca.crt" -o /dev/null -w '%{http_code}' "https://localhost:$fe2/" | grep -q 200 ||
	fail "HTTPS frontend"

# --- login ------------------------------------------------------------------------
curl -s -D "$work/login.h" -o "$work/out.json" -c "$jar" -H 'Content-Type: application/json' \
	--data-binary "{\"user\":\"admin\",\"password\":\"$pw\"}" "$base/api/login" >/dev/null
grep -qi '^HTTP/1.1 200' "$work/login.h" || fail "login: $(head -1 "$work/login.h") $(cat "$work/out.json")"
grep -i '^set-cookie: else_session=[0-9a-f]\{64\}; HttpOnly; SameSite=Strict; Path=/' "$work/login.h" >/dev/null ||
	fail "login cookie: $(grep -i set-cookie "$work/login.h")"
[ "$(jq -r .session "$work/out.json")" = "" ] || fail "the session token reached the page"
csrf=$(jq -r .csrf "$work/out.json")
[ -n "$csrf" ] && [ "$(jq -r .user.role "$work/out.json")" = ROLE_ADMIN ] || fail "login answer"
say "login: HttpOnly SameSite=Strict cookie, CSRF token, admin"

# HTTPS: Secure cookie and HSTS, straight to the HTTPS frontend.
curl -s --cacert "$work/ca/ca.crt" -D "$work/https.h" -o /dev/null -H 'Content-Type: application/json' \
	--data-binary "{\"user\":\"admin\",\"password\":\"$pw\"}" "https://localhost:$fe2/api/login"
grep -qi '^set-cookie: else_session=.*; Secure' "$work/https.h" || fail "HTTPS login cookie without Secure"
grep -qi '^strict-transport-security: max-age=' "$work/https.h" || fail "no HSTS over HTTPS"

# The users' address: from X-Forwarded-For only when the proxy sends it.
# Straight to frontend 1 from 127.0.0.1 (its trusted_proxy): the header counts.
curl -s -o /dev/null -H 'Content-Type: application/json' -H 'X-Forwarded-For: 198.51.100.7' \
	--data-binary "{\"user\":\"admin\",\"password\":\"$pw\"}" "http://127.0.0.1:$fe1/api/login"
# Through HAProxy: a client's own X-Forwarded-For is not believed (HAProxy
# appends the address it saw, and the frontend takes the last entry).
curl -s -o /dev/null -H 'Content-Type: application/json' -H 'X-Forwarded-For: 203.0.113.9' \
	--data-binary "{\"user\":\"admin\",\"password\":\"$pw\"}" "$base/api/login"
api audit '{"limit":50}'
want 200 audit
jq -e '[.entries[] | select(.action == "login" and .client_ip == "198.51.100.7")] | length == 1' \
	"$work/out.json" >/dev/null || fail "the trusted proxy's X-Forwarded-For was not used: $(head -c 600 "$work/out.json")"
jq -e '[.entries[] | select(.client_ip == "203.0.113.9")] | length == 0' "$work/out.json" >/dev/null ||
	fail "a client-supplied X-Forwarded-For was believed"
say "client address from the trusted proxy's X-Forwarded-For only"

# A session to expire: used now, checked at the end (session_idle = 60 s).
jar_exp=$work/jar-exp
curl -s -o /dev/null -c "$jar_exp" -H 'Content-Type: application/json' \
	--data-binary "{\"user\":\"admin\",\"password\":\"$pw\"}" "$base/api/login"
exp_t0=$(date +%s)

# --- wait for the flows, then every scenario's e-mail ---------------------------------
first=$(jq -r 'select(.messages | length > 0) | .messages[0].message_id' "$data/scenarios.jsonl" | head -1)
for _ in $(seq 1 150); do
	api quick "{\"q\":\"$first\"}"
	[ "$code" = 200 ] && [ "$(jq '.rows | length' "$work/out.json")" -gt 0 ] && break
	sleep 0.2
done
want 200 "quick search for $first"
: >"$work/cases.jsonl"
n=0
while IFS= read -r m; do
	mid=$(jq -r '.message.message_id' <<<"$m")
	api quick "$(jq -c -n --arg q "$mid" '{q: $q}')"
	want 200 "quick $mid"
	if [ "$(jq '.rows | length' "$work/out.json")" = 0 ]; then
		# Postfix logs no Message-ID for a message a header check rejects early.
		qid=$(jq -r '.message.queue_ids | to_entries[0].value[0]' <<<"$m")
		api quick "$(jq -c -n --arg q "$qid" '{q: $q}')"
		want 200 "quick $qid"
	fi
	cp "$work/out.json" "$work/rows.json"
	inst=$(jq -r '.message.hops[0]' <<<"$m")
	eid=$(jq -r --arg h "$inst" '[.rows[] | select(.host == $h)][0].email_id // empty' "$work/rows.json")
	[ -n "$eid" ] || fail "no row of $mid on $inst: $(head -c 400 "$work/rows.json")"
	api flow "{\"email_id\":\"$eid\"}"
	want 200 "flow $eid"
	jq -c -n --argjson c "$m" --slurpfile r "$work/rows.json" --slurpfile f "$work/out.json" \
		'$c + {rows: $r[0].rows, flow: $f[0]}' >>"$work/cases.jsonl"
	n=$((n + 1))
done < <(jq -c '.scenario as $s | .messages[] | {scenario: $s, message: .}' "$data/scenarios.jsonl")
bad=$(jq -r -f "$here/check_api.jq" "$work/cases.jsonl")
[ -z "$bad" ] || fail "the API tells these stories wrong:
$bad"
[ "$n" -ge 10 ] || fail "only $n messages checked"
say "$n e-mails of $(wc -l <"$data/scenarios.jsonl") scenarios: quick search + flow tell each story (hops, links, fates, raw lines)"

# JSON answers are gzipped when the client accepts it.
curl -s -D "$work/gz.h" -o "$work/gz.bin" -b "$jar" -H 'Content-Type: application/json' \
	-H 'Accept-Encoding: gzip' -d '{"limit":50}' "$base/api/search"
grep -qi '^content-encoding: gzip' "$work/gz.h" || fail "search answer not gzipped"
gzip -dc "$work/gz.bin" | jq -e '.rows | length > 0' >/dev/null || fail "gzipped answer unreadable"

# --- the other read calls -----------------------------------------------------------
api search '{"sender":"sender@sender.test","limit":5}'
want 200 search
[ "$(jq '.rows | length' "$work/out.json")" = 5 ] && [ -n "$(jq -r .next_cursor "$work/out.json")" ] ||
	fail "search page of 5 with a cursor: $(head -c 300 "$work/out.json")"
cur=$(jq -r .next_cursor "$work/out.json")
api search "{\"sender\":\"sender@sender.test\",\"limit\":5,\"cursor\":\"$cur\"}"
want 200 "search next page"
api search '{"domain":"remote.test","match":"MATCH_SUBSTRING","status":"delivered","sort":"SORT_SIZE"}'
want 200 "search by domain and status"
[ "$(jq '[.rows[] | select(.status != "delivered")] | length' "$work/out.json")" = 0 ] &&
	[ "$(jq '.rows | length' "$work/out.json")" -gt 0 ] || fail "status filter"
api rejects '{}'
want 200 rejects
[ "$(jq '.rows | length' "$work/out.json")" -gt 0 ] || fail "no rejects"
t0=$(jq -s '[.[].rows[].first_seen_us] | min' "$work/cases.jsonl")
api stats "{\"from_us\":$((t0 - 3600000000)),\"to_us\":$((t0 + 2 * 86400000000))}"
want 200 stats
cp "$work/out.json" "$work/stats.json"
api servers '{}'
want 200 servers
for h in mx1 mx2 mx3; do
	jq -e --arg h "$h" '[.rows[] | select(.name == $h)] | length == 1' "$work/out.json" >/dev/null ||
		fail "servers lacks $h"
done
api tail '{"limit":10}'
want 200 tail
api history '{}'
want 200 history
[ "$(jq '.entries | length' "$work/out.json")" -gt 0 ] || fail "no search history"
api user_list '{}'
want 200 user_list
say "search (cursor, filters), rejects, stats, servers, tail, history, users: 200"

# Many requests in flight at once: 96 quick searches, 16 at a time, through
# HAProxy to both frontends (worker pools, NNG context pools).
t1=$(date +%s%N)
seq 1 96 | xargs -P 16 -I@ curl -s -o /dev/null -w '%{http_code}\n' -b "$jar" \
	-H 'Content-Type: application/json' -d "{\"q\":\"$first\"}" "$base/api/quick" >"$work/par.txt"
t2=$(date +%s%N)
[ "$(grep -c '^200$' "$work/par.txt")" = 96 ] || fail "parallel quick searches: $(sort "$work/par.txt" | uniq -c)"
# The same with the cheapest call: what the HTTP and RPC layers cost.
seq 1 96 | xargs -P 16 -I@ curl -s -o /dev/null -w '%{http_code}\n' -b "$jar" \
	-H 'Content-Type: application/json' -d '{}' "$base/api/session_check" >"$work/par.txt"
t3=$(date +%s%N)
[ "$(grep -c '^200$' "$work/par.txt")" = 96 ] || fail "parallel session checks: $(sort "$work/par.txt" | uniq -c)"
say "96 quick searches, 16 in flight (curl processes): all 200 in $(((t2 - t1) / 1000000)) ms; 96 session checks: $(((t3 - t2) / 1000000)) ms"

# --- elsectl -------------------------------------------------------------------------
export ELSECTL_SESSION=$work/ctl-session ELSECTL_URL=$base
ELSECTL_PASSWORD=$pw "$bin/elsectl" login admin | grep -q "logged in as admin" || fail "elsectl login"
[ "$(stat -c %a "$work/ctl-session")" = 600 ] || fail "elsectl session file mode"
"$bin/elsectl" quick "$first" >"$work/ctl.txt" || fail "elsectl quick"
grep -q 'mx1' "$work/ctl.txt" || fail "elsectl quick: $(cat "$work/ctl.txt")"
eid=$(jq -r '.rows[0].email_id' "$work/rows.json")
"$bin/elsectl" flow "$eid" >"$work/ctl.txt" || fail "elsectl flow"
grep -q "^e-mail $eid" "$work/ctl.txt" || fail "elsectl flow: $(head -5 "$work/ctl.txt")"
"$bin/elsectl" --json search sender=sender@sender.test limit=2 | jq -e '.rows | length == 2' >/dev/null ||
	fail "elsectl search --json"
ELSECTL_PASSWORD='op password 1234' "$bin/elsectl" user-put name=op1 role=ROLE_OPERATOR password=- >"$work/ctl.txt" ||
	fail "elsectl user-put"
opid=$(awk '/^id /{print $2}' "$work/ctl.txt")
"$bin/elsectl" users | grep -q 'op1' || fail "elsectl users"
# passwd in op1's own session: the old password in ELSECTL_PASSWORD, the new
# one on stdin (never ELSECTL_PASSWORD again).
export ELSECTL_SESSION=$work/ctl-op1
ELSECTL_PASSWORD='op password 1234' "$bin/elsectl" login op1 >/dev/null || fail "elsectl login op1"
printf 'op password 5678\n' | ELSECTL_PASSWORD='op password 1234' "$bin/elsectl" passwd |
	grep -q "password changed" || fail "elsectl passwd"
ELSECTL_PASSWORD='op password 5678' "$bin/elsectl" login op1 >/dev/null ||
	fail "elsectl passwd: the new password from stdin does not log in"
export ELSECTL_SESSION=$work/ctl-session
"$bin/elsectl" user-delete "$opid" | grep -q deleted || fail "elsectl user-delete"
if "$bin/elsectl" search sendr=x 2>/dev/null; then fail "elsectl accepted an unknown field"; fi
# The tables of the other calls say what their JSON says.
"$bin/elsectl" rejects limit=5 >"$work/ctl.txt" || fail "elsectl rejects"
n=$("$bin/elsectl" --json rejects limit=5 | jq '.rows | length')
[ "$(grep -c '^20[0-9][0-9]-' "$work/ctl.txt")" = "$n" ] && [ "$n" -gt 0 ] &&
	grep -q '^more: cursor=' "$work/ctl.txt" || fail "elsectl rejects: $n rows in JSON: $(cat "$work/ctl.txt")"
"$bin/elsectl" stats from_us=$((t0 - 3600000000)) to_us=$((t0 + 2 * 86400000000)) >"$work/ctl.txt" ||
	fail "elsectl stats"
n=$(jq '[.messages[] | select(.status == "delivered") | .count] | add' "$work/stats.json")
grep -Eq "^TRANSACTIONS +([0-9]+ [a-z_]+, )*$n delivered(,|\$)" "$work/ctl.txt" &&
	grep -q '^TOP SENDERS$' "$work/ctl.txt" || fail "elsectl stats: not $n delivered: $(cat "$work/ctl.txt")"
"$bin/elsectl" servers >"$work/ctl.txt" || fail "elsectl servers"
for h in mx1 mx2 mx3; do
	grep -Eq "^[0-9]+ +$h " "$work/ctl.txt" || fail "elsectl servers lacks $h: $(cat "$work/ctl.txt")"
done
gid=$("$bin/elsectl" group-put name=ctl-group servers=mx1,mx2 domains=remote.test | awk '/^id /{print $2}')
"$bin/elsectl" groups | grep -Eq "^$gid +ctl-group +- +mx1,mx2; remote.test$" ||
	fail "elsectl group-put/groups: $("$bin/elsectl" groups)"
"$bin/elsectl" group-delete "$gid" | grep -q deleted || fail "elsectl group-delete"
"$bin/elsectl" audit limit=50 >"$work/ctl.txt" || fail "elsectl audit"
grep -Eq ' admin +[0-9a-f.:]+ +group_put ' "$work/ctl.txt" || fail "elsectl audit: $(head -5 "$work/ctl.txt")"
"$bin/elsectl" logout
if "$bin/elsectl" whoami 2>/dev/null; then fail "elsectl session after logout"; fi
say "elsectl: login, quick, flow, search, rejects, stats, servers, audit, user-put/users/passwd/user-delete, group-put/groups/group-delete, logout"

# --- security -------------------------------------------------------------------------
nojar() { # CALL BODY [curl args]: without our cookie jar
	local call=$1 body=$2
	shift 2
	code=$(curl -s -o "$work/out.json" -w '%{http_code}' -H 'Content-Type: application/json' "$@" \
		--data-binary "$body" "$base/api/$call") || true
}
nojar search '{}'
want 401 "search without a session"
nojar search '{}' -H "Cookie: else_session=$(printf '%064d' 0)"
want 401 "search with an unknown session"
# An ended session: log in, log out, use it again.
jar2=$work/jar2
curl -s -o "$work/out.json" -c "$jar2" -H 'Content-Type: application/json' \
	--data-binary "{\"user\":\"admin\",\"password\":\"$pw\"}" "$base/api/login"
c2=$(jq -r .csrf "$work/out.json")
tok2=$(awk '$6 == "else_session" {print $7}' "$jar2")
nojar logout '{}' -H "Cookie: else_session=$tok2"
want 403 "logout without the CSRF header"
nojar logout '{}' -H "Cookie: else_session=$tok2" -H "X-CSRF-Token: $(printf '%064d' 1)"
want 403 "logout with a wrong CSRF token"
nojar user_put '{"user":{"name":"evil"},"password":"evil password 1"}' -H "Cookie: else_session=$tok2" \
	-H "X-CSRF-Token: $(printf '%064d' 1)"
want 403 "user_put with a wrong CSRF token"
nojar logout '{}' -H "Cookie: else_session=$tok2" -H "X-CSRF-Token: $c2"
want 200 "logout"
nojar search '{}' -H "Cookie: else_session=$tok2"
want 401 "search with a logged-out session"
api search '{}' -H "Origin: http://evil.example"
want 403 "cross-origin search"
code=$(curl -s -o "$work/out.json" -w '%{http_code}' -b "$jar" -H "Content-Type: text/plain" \
	-H "X-CSRF-Token: $csrf" -d '{}' "$base/api/search") || true
want 415 "text/plain body"
say "no session, unknown session, logged-out session: 401; CSRF missing/wrong, cross-origin: 403"

# SQL metacharacters and huge values in every field of every read call.
huge=$(head -c 5000 /dev/zero | tr '\0' 'A')
meta=("x' OR '1'='1" "'; DROP TABLE messages; --" '%_\\' "\"}{" $'\xc3\x28' "a@b' UNION SELECT NULL--")
checks=0
for call in quick search flow rejects stats tail history audit; do
	while read -r f t; do
		case "$t" in
		string)
			for v in "${meta[@]}"; do
				body=$(jq -c -n --arg f "$f" --arg v "$v" '{($f): $v}' 2>/dev/null) ||
					body="{\"$f\":\"\\u0000\"}"
				api "$call" "$body"
				case "$code" in 200 | 400 | 404) ;; *) fail "$call $f=$v: HTTP $code $(head -c 200 "$work/out.json")" ;; esac
				checks=$((checks + 1))
			done
			api "$call" "{\"$f\":\"$huge\"}"
			case "$code" in 400 | 413) ;; *) fail "$call $f huge: HTTP $code" ;; esac
			;;
		uint32 | int64 | uint64 | int32)
			for v in 99999999999999999999999 -1 1e400 '"1; DROP"'; do
				api "$call" "{\"$f\":$v}"
				case "$code" in 200 | 400) ;; *) fail "$call $f=$v: HTTP $code" ;; esac
				checks=$((checks + 1))
			done
			;;
		*)
			api "$call" "{\"$f\":\"$huge\"}"
			case "$code" in 400 | 413) ;; *) fail "$call $f (a $t) huge: HTTP $code" ;; esac
			;;
		esac
		checks=$((checks + 1))
	done < <("$bin/elsectl" fields "$call")
done
for call in user_put group_put password_change; do
	while read -r f t; do
		[ "$t" = string ] || continue
		api "$call" "{\"$f\":\"$huge\"}"
		case "$code" in 400 | 413) ;; *) fail "$call $f huge: HTTP $code" ;; esac
		checks=$((checks + 1))
	done < <("$bin/elsectl" fields "$call")
done
# Expect: 100-continue: curl waits for the answer to the headers, so the
# frontend's 413 is read before the body is sent (without it, a close while
# curl still sent was a reset now and then: HTTP 000).
api quick "{\"q\":\"$(head -c 70000 /dev/zero | tr '\0' 'B')\"}" -H 'Expect: 100-continue'
want 413 "a body over max_body"
api session_check '{}'
want 200 "the session still works after the hostile requests"
say "$checks hostile values in every field: no 5xx, huge ones refused"

# --- the frontends' status files: the calls counted, no reply of the backend refused ---
# (at least the 192 parallel calls above; the files are rewritten every second)
fest() { "$bin/else-frontend" "${feopts[@]}" -o status_file="$work/$1.json" --status; }
for _ in $(seq 1 50); do
	n=$(($(fest fe1 | jq .http.api_calls) + $(fest fe2 | jq .http.api_calls)))
	[ $n -ge 192 ] && break
	sleep 0.2
done
[ $n -ge 192 ] || fail "the status files count $n API calls, not 192 or more"
for f in fe1 fe2; do
	fest $f | jq -e '.backend.connected == 1 and .backend.calls > 0 and
		([.backend_errors[]] | add) == 0' >/dev/null ||
		fail "status of $f: $(fest $f)"
done
say "--status of both frontends: $n API calls, backend errors $(fest fe1 | jq -c .backend_errors)"

# --- a frontend certificate without the frontend CN gets nowhere ---------------------------
"$bin/else-frontend" -c /dev/null -o backend="$query" -o backend_server_name=backend \
	-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/client-notafrontend.pem" \
	-o listen=127.0.0.1:$fe3 -o rpc_timeout=3 -o status_file="$work/fe3.json" >>"$work/fe3.log" 2>&1 &
f3pid=$!
for _ in $(seq 1 50); do
	c=$(curl -s -o "$work/out.json" -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' \
		"http://127.0.0.1:$fe3/api/session_check" || true)
	[ "$c" != 000 ] && break
	sleep 0.1
done
# SIGHUP (a reload by habit) is logged and ignored; SIGTERM stops it cleanly.
kill -HUP $f3pid
for _ in $(seq 1 50); do
	grep -q "SIGHUP ignored" "$work/fe3.log" && break
	sleep 0.1
done
grep -q "SIGHUP ignored" "$work/fe3.log" || fail "the frontend did not log the SIGHUP"
kill -0 $f3pid 2>/dev/null || fail "the frontend died on SIGHUP"
kill -TERM $f3pid
wait $f3pid || fail "the frontend did not exit cleanly on SIGTERM"
[ "$c" = 502 ] || fail "a frontend with CN notafrontend: HTTP $c $(cat "$work/out.json")"
say "a client certificate that is not a frontend's: refused by the backend (502); SIGHUP ignored, SIGTERM clean"

# --- headless Chromium ------------------------------------------------------------------
# Our API session must outlive the browser's run (session_idle is 60 s here,
# for the expiry test): keep it in use meanwhile.
(while :; do
	curl -s -o /dev/null -b "$jar" -H 'Content-Type: application/json' -d '{}' "$base/api/session_check"
	sleep 5
done) &
kpid=$!
relay=$(jq -r 'select(.scenario == "relay") | .messages[0].message_id' "$data/scenarios.jsonl")
mkdir -p "$work/shots"
PW_DIR=$npmdir ELSE_PASSWORD=$pw node "$here/wui.cjs" "$base" admin "$work/shots" "$relay" 2 mx1 mx2 \
	>"$work/wui.json" 2>"$work/wui.err" || fail "Chromium: $(cat "$work/wui.err")"
say "Chromium saw: $(cat "$work/wui.json")"
python3 "$here/png_check.py" "$work/shots/1-login.png" 8 >/dev/null || fail "login screenshot blank"
python3 "$here/png_check.py" "$work/shots/2-results.png" 16 >/dev/null || fail "results screenshot blank"
python3 "$here/png_check.py" "$work/shots/3-flow.png" 24 >/dev/null || fail "flow screenshot blank"
python3 "$here/png_check.py" "$work/shots/4-dashboard.png" 16 >/dev/null || fail "dashboard screenshot blank"
python3 "$here/png_check.py" "$work/shots/5-live.png" 16 >/dev/null || fail "live view screenshot blank"
[ -n "${WUI_SHOTS:-}" ] && cp "$work"/shots/*.png "$WUI_SHOTS"/
say "screenshots not blank: $(for f in "$work"/shots/*.png; do python3 "$here/png_check.py" "$f" 1 | sed 's/.*: //'; done | paste -sd ';')"

kill $kpid
wait $kpid 2>/dev/null || true
api session_check '{}'
want 200 "our session after the browser's run"

# --- the backend restarts: the frontends reconnect and prove themselves again ---
kill -TERM "$bpid"
wait "$bpid" 2>/dev/null || true
"$bin/else-backend" "${bopts[@]}" >>"$work/backend.log" 2>&1 &
bpid=$!
for _ in $(seq 1 100); do
	api session_check '{}'
	[ "$code" = 200 ] && break
	sleep 0.2
done
want 200 "session_check after the backend restarted"
for i in 1 2 3 4; do
	api flow "{\"email_id\":\"$eid\"}"
	want 200 "flow $i after the backend restarted"
done
say "backend restarted: both frontends re-authenticated, the session goes on"

# --- no shared state: one frontend killed, the other serves the same session ---------
kill -9 $f1pid
wait $f1pid 2>/dev/null || true
f1pid=
for i in $(seq 1 10); do
	api search '{"limit":1}'
	want 200 "search $i through HAProxy with frontend 1 killed -9"
done
say "frontend 1 killed -9: 10 calls through HAProxy answered by frontend 2 with the same session"

# --- the expired session ----------------------------------------------------------------------
left=$((exp_t0 + 62 - $(date +%s)))
[ $left -gt 0 ] && sleep $left
code=$(curl -s -o "$work/out.json" -w '%{http_code}' -b "$jar_exp" -H 'Content-Type: application/json' \
	-d '{}' "$base/api/session_check")
want 401 "a session idle past session_idle (60 s)"
say "a session idle for 62 s: 401"

# --- last: the dashboard's numbers (the rollups of sql/002_stats.sql, which the
# ingest transaction maintains) cover the logs' day.
jq -e '(.messages | length) > 0 and (.per_server | length) >= 3 and (.top_senders | length) > 0' \
	"$work/stats.json" >/dev/null || fail "stats of the logs' day are empty: $(head -c 300 "$work/stats.json")"
say "stats of the logs' day: $(jq -c '{messages: (.messages | length), per_server}' "$work/stats.json")"
say "all passed"
