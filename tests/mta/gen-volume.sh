#!/bin/bash
#
# gen-volume.sh - produce large real Postfix logs for benchmarks
#
# Usage: gen-volume.sh OUTDIR N
#
# Starts two instances, vol1 (short queue IDs) -> vol2 (long queue IDs), and pushes
# N messages into vol1 with smtp-source, several categories in parallel so their
# log lines interleave:
#   ~85%  delivered           user@vol.test, vol1 -> vol2 -> local(8) to /dev/null
#   ~5%   3 recipients each   user@, 2user@, 3user@vol.test, all delivered
#   ~5%   unknown user        nobody@vol.test: vol2 550 at RCPT, vol1 bounces, DSN
#                             delivered locally on vol1
#   ~4%   relay denied        victim@elsewhere.test: NOQUEUE reject at vol1
#   ~1%   unknown local user  nosuch@sender.test: NOQUEUE reject at vol1
# Then it waits for both queues to drain, checks the counts in the logs, stops
# both instances and leaves:
#   OUTDIR/vol1/maillog, OUTDIR/vol2/maillog  per-instance logs
#   OUTDIR/volume.log                         both merged in time order (a central
#                                             log host's view)
#   OUTDIR/volume.json                        what was sent and what was counted
# Environment: MTA_PORT_BASE (vol1 uses BASE+50, vol2 BASE+60), VOLUME_SESSIONS
# (parallel SMTP sessions for the delivered category, default 10).

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=harness.sh
. "$here/harness.sh"

if ! { [ $# -eq 2 ] && [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge 20 ]; }; then
    echo "usage: $0 OUTDIR N   (N >= 20 messages)" >&2
    exit 2
fi
out=$1
n=$2
sessions=${VOLUME_SESSIONS:-10}

# Category sizes; "ok" takes the remainder.
n_multi=$((n * 5 / 100))
n_unknown=$((n * 5 / 100))
n_relay=$((n * 4 / 100))
n_local=$((n / 100))
[ "$n_local" -ge 1 ] || n_local=1
n_ok=$((n - n_multi - n_unknown - n_relay - n_local))

mta_require
mta_init "$out"
[ -e "$MTA_OUT/volume.json" ] && mta_die "$MTA_OUT already holds a volume run: use a fresh OUTDIR"
mta_trap
MTA_TIMEOUT=$((60 + n / 20))

V1=$(mta_port 5 0)
V2=$(mta_port 6 0)
for p in $V1 $V2; do
    mta_port_free "$p" || mta_die "port 127.0.0.1:$p is busy (set MTA_PORT_BASE to another base)"
done

# vol1: nobody is in mynetworks, so only vol.test may be relayed (to vol2).
mta_instance_new vol1 "$V1" \
    "mynetworks = 127.0.0.2/32" \
    "mydestination = \$myhostname, localhost, sender.test" \
    "relay_domains = vol.test" \
    "transport_maps = inline:{vol.test=smtp:[127.0.0.1]:$V2}" \
    "default_destination_concurrency_limit = 20"
mta_alias vol1 sender /dev/null
mta_alias vol1 postmaster /dev/null
mta_alias vol1 MAILER-DAEMON postmaster

mta_instance_new vol2 "$V2" \
    "enable_long_queue_ids = yes" \
    "mydestination = \$myhostname, localhost, vol.test" \
    "local_destination_concurrency_limit = 10"
mta_alias vol2 user /dev/null
for i in 1 2 3 4 5 6 7 8 9; do mta_alias vol2 "${i}user" /dev/null; done
mta_alias vol2 postmaster /dev/null

mta_start vol1 vol2
mta_mark vol1 vol2

# src LOG smtp-source-args... - one smtp-source category in the background
src_pids=()
src() {
    local log=$MTA_OUT/smtp-source-$1.txt
    shift
    smtp-source -M volclient.else.test -f sender@sender.test "$@" "127.0.0.1:$V1" >"$log" 2>&1 &
    src_pids+=($!)
}

t0=$(date +%s.%N)
src ok -s "$sessions" -m "$n_ok" -t user@vol.test -S "ELSE volume" -l 512
src multi -s 2 -m "$n_multi" -r 3 -t user@vol.test -S "ELSE volume multi" -l 256
src unknown -s 2 -m "$n_unknown" -t nobody@vol.test -S "ELSE volume unknown" -l 256
src relay -A -s 2 -m "$n_relay" -t victim@elsewhere.test -S "ELSE volume relay"
src local -A -s 1 -m "$n_local" -t nosuch@sender.test -S "ELSE volume local"
rc=0
for p in "${src_pids[@]}"; do wait "$p" || rc=1; done
t1=$(date +%s.%N)
[ $rc = 0 ] || { tail -n 5 "$MTA_OUT"/smtp-source-*.txt >&2; mta_die "smtp-source failed"; }

mta_wait_empty vol1 vol2 || mta_die "queues did not drain"
t2=$(date +%s.%N)
# The last local deliveries may be logged just after the queue file went away:
# wait for the exact count rather than trusting the empty queue alone.
want_local=$((n_ok + 3 * n_multi))
count() { mta_since "$1" | grep -cE -- "$2"; }
for ((i = 0; i < MTA_TIMEOUT * 10; i++)); do
    [ "$(count vol2 'postfix/local\[[0-9]+\]: [0-9A-Za-z]+: to=<[0-9]*user@vol\.test>, .*status=sent')" -ge "$want_local" ] && break
    sleep 0.1
done
mta_stop_all

fail=0
check() { # check WHAT GOT WANT
    if [ "$2" != "$3" ]; then
        echo "gen-volume: FAIL: $1: counted $2, expected $3" >&2
        fail=1
    fi
}
c_local=$(count vol2 'postfix/local\[[0-9]+\]: [0-9A-Za-z]+: to=<[0-9]*user@vol\.test>, .*status=sent')
c_bounced=$(count vol1 ': to=<nobody@vol\.test>, .*status=bounced')
c_dsn=$(count vol1 'sender non-delivery notification: ')
c_relay=$(count vol1 'NOQUEUE: reject: RCPT from .*Relay access denied')
c_unk2=$(count vol2 'NOQUEUE: reject: RCPT from .*<nobody@vol\.test>: Recipient address rejected')
c_unk1=$(count vol1 'NOQUEUE: reject: RCPT from .*<nosuch@sender\.test>: Recipient address rejected')
check "local deliveries on vol2" "$c_local" "$want_local"
check "bounced on vol1" "$c_bounced" "$n_unknown"
check "DSNs on vol1" "$c_dsn" "$n_unknown"
check "relay denied on vol1" "$c_relay" "$n_relay"
check "unknown users rejected by vol2" "$c_unk2" "$n_unknown"
check "unknown local users rejected by vol1" "$c_unk1" "$n_local"

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# One central log: merge the two per-instance logs by timestamp (stable).
sort -m -s -k1,1M -k2,2n -k3,3 "$(mta_maillog vol1)" "$(mta_maillog vol2)" >"$MTA_OUT/volume.log"
lines=$(wc -l <"$MTA_OUT/volume.log")

jq -n --argjson n "$n" --argjson ok "$n_ok" --argjson multi "$n_multi" \
    --argjson unknown "$n_unknown" --argjson relay "$n_relay" --argjson local "$n_local" \
    --argjson c_local "$c_local" --argjson c_bounced "$c_bounced" --argjson c_dsn "$c_dsn" \
    --argjson c_relay "$c_relay" --argjson c_unk1 "$c_unk1" --argjson c_unk2 "$c_unk2" \
    --argjson lines "$lines" --argjson sessions "$sessions" \
    --arg submit_s "$(secs "$t0" "$t1")" --arg drain_s "$(secs "$t0" "$t2")" \
    --argjson v1 "$V1" --argjson v2 "$V2" \
    --argjson ok_run "$([ $fail = 0 ] && echo true || echo false)" '{
    ok: $ok_run, messages: $n, sessions: $sessions, log_lines: $lines,
    sent: {delivered: $ok, multi_rcpt_3: $multi, unknown_user_bounced: $unknown,
           relay_denied: $relay, unknown_local_rejected: $local},
    counted: {local_deliveries_vol2: $c_local, bounced_vol1: $c_bounced, dsn_vol1: $c_dsn,
              relay_denied_vol1: $c_relay, rejected_unknown_vol2: $c_unk2,
              rejected_unknown_local_vol1: $c_unk1},
    seconds: {submit: ($submit_s | tonumber), until_drained: ($drain_s | tonumber)},
    instances: {vol1: {port: '"$V1"', long_queue_ids: false},
                vol2: {port: '"$V2"', long_queue_ids: true}}}' >"$MTA_OUT/volume.json"

echo "gen-volume: $n messages, $lines log lines, drained in $(jq .seconds.until_drained "$MTA_OUT/volume.json")s: $MTA_OUT/volume.log" >&2
exit $fail
