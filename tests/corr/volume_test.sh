#!/bin/bash
# volume_test.sh - hundreds of concurrent messages through real Postfix, mixed
# outcomes: the flows must account for every one, and stay the same when the
# two hosts' lines are interleaved differently.
#
# usage: volume_test.sh ELSE_PARSE [N]   (N messages, default 400; needs root)
# Runs tests/mta/gen-volume.sh (vol1 short queue IDs -> vol2 long queue IDs,
# 10 parallel SMTP sessions), then checks the flows against what it sent:
# delivered mail linked vol1 -> vol2 under one email_id, unknown users
# bounced with their DSN linked, NOQUEUE rejects as records of their own.
set -euo pipefail
bin=$1
n=${2:-400}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d /tmp/else-volume.XXXXXX)
chmod 755 "$out" # local(8) delivers as nobody and must reach the mail spool
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$out"' EXIT
export TZ=UTC

MTA_PORT_BASE=${MTA_PORT_BASE:-26250} MTA_VERBOSE=0 bash "$here/../mta/gen-volume.sh" "$out/v" "$n" >/dev/null
"$bin" --flows --year 2026 "$out/v/vol1/maillog" "$out/v/vol2/maillog" >"$out/flows.jsonl"

fails=$(jq -n -r --slurpfile f "$out/flows.jsonl" --slurpfile v "$out/v/volume.json" '
	$v[0] as $v | $f as $f
	| ([$f[] | select(.kind == "message")]) as $m
	| ([$m[] | {key: "\(.host)/\(.queue_id)", value: .}] | from_entries) as $by
	| ($v.sent.delivered + $v.sent.multi_rcpt_3) as $want_relayed
	# delivered: every vol1 recipient linked to the vol2 transaction that delivered it
	| ([$m[] | select(.host == "vol1" and .from != "" and .status == "delivered"
	        and all(.recipients[]; .next_hop.host == "vol2"))]) as $relayed
	| (if ($relayed | length) != $want_relayed then "relayed: \($relayed | length) linked, want \($want_relayed)" else empty end),
	  ($relayed[] | . as $a | .recipients[] | $by["vol2/\(.next_hop.queue_id)"] as $b
	   | if $b == null then "\($a.queue_id): next hop \(.next_hop.queue_id) has no flow"
	     elif $b.email_id != $a.email_id or $b.prev_hop.queue_id != $a.queue_id then "\($a.queue_id) -> \($b.queue_id): not one e-mail"
	     elif $b.status != "delivered" then "\($b.queue_id): \($b.status) at vol2"
	     else empty end),
	  # unknown users: bounced on vol1, with a DSN in the same e-mail, delivered
	  ([$m[] | select(.host == "vol1" and .status == "bounced")]) as $bounced
	  | (if ($bounced | length) != $v.sent.unknown_user_bounced then "bounced: \($bounced | length), want \($v.sent.unknown_user_bounced)" else empty end),
	    ($bounced[] | . as $a | if (.dsn | length) != 1 then "\(.queue_id): \(.dsn | length) DSNs"
	     else $by["vol1/\(.dsn[0].queue_id)"] as $d
	     | if $d == null or $d.dsn_of.queue_id != $a.queue_id or $d.email_id != $a.email_id or $d.status != "delivered"
	       then "\($a.queue_id): DSN not linked or not delivered" else empty end end),
	  # NOQUEUE rejects, each its own record
	  ([$f[] | select(.kind == "reject" and .host == "vol1" and (.reason // "" | test("Relay access denied")))] | length) as $rd
	  | (if $rd != $v.sent.relay_denied then "relay denied records: \($rd), want \($v.sent.relay_denied)" else empty end),
	  ([$f[] | select(.kind == "reject" and .host == "vol1" and .reject_dsn == "5.1.1")] | length) as $ul
	  | (if $ul != $v.sent.unknown_local_rejected then "unknown local records: \($ul), want \($v.sent.unknown_local_rejected)" else empty end),
	  ([$f[] | select(.kind == "reject" and .host == "vol2" and .reject_dsn == "5.1.1")] | length) as $ur
	  | (if $ur != $v.sent.unknown_user_bounced then "vol2 unknown user records: \($ur), want \($v.sent.unknown_user_bounced)" else empty end),
	  # nothing left half-told
	  ([$m[] | select(.incomplete)] | length) as $inc
	  | (if $inc > 0 then "\($inc) incomplete flows" else empty end)
')
if [ -n "$fails" ]; then
	echo "$fails" | head -20 | sed 's/^/volume_test: FAIL: /' >&2
	exit 1
fi
echo "volume_test: $n messages, $(wc -l <"$out/flows.jsonl") flows, every outcome accounted for"
mkdir -p "$out/hosts"
cp "$out/v/vol1/maillog" "$out/hosts/vol1.maillog.log"
cp "$out/v/vol2/maillog" "$out/hosts/vol2.maillog.log"
bash "$here/shuffle_test.sh" "$bin" "$out/hosts" 3 3
