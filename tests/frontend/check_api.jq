# check_api.jq - does the JSON API tell each harness scenario's story?
#
# Input: one object per message, {scenario, message (the scenarios.jsonl
# message), rows (the quick search answer's rows), flow (the flow answer)}.
# Output: one string per failed check (nothing: all good).

def rcpt_of($addr): [.recipients[] | select(.rcpt == $addr or .orig_rcpt == $addr)];
def want_rstatus: if . == "bounced" then "bounced" elif . == "expired" then "expired" else "sent" end;
def hop($h; $q): [.flow.hops[] | select(.msg.host == $h and .msg.queue_id == $q)];

. as $c
| $c.message as $m
| "\($c.scenario) \($m.message_id)" as $id
| (if ($c.rows | length) == 0 then "\($id): quick search found nothing" else empty end),
  # Every queue ID of the message on every host is in the quick search answer.
  ($m.queue_ids | to_entries[] | .key as $h | .value[] as $q
   | if ([$c.rows[] | select(.host == $h and .queue_id == $q)] | length) == 0
     then "\($id): quick search lacks \($h)/\($q)" else empty end),
  # The flow holds every hop of every recipient's path, linked in order.
  ($m.recipients[] as $r | ($r.path // []) as $p
   | (range(0; $p | length) as $i
      | $c | hop($p[$i].instance; $p[$i].queue_id) as $t
      | if ($t | length) != 1 then "\($id) \($r.address): flow has \($t | length) hops \($p[$i].instance)/\($p[$i].queue_id)"
        elif $i + 1 < ($p | length)
             and ([$t[0] | rcpt_of($r.address)[] | select(.next_host == $p[$i + 1].instance and .next_queue_id == $p[$i + 1].queue_id)] | length) == 0
        then "\($id) \($r.address): \($p[$i].instance)/\($p[$i].queue_id) not linked to \($p[$i + 1].instance)/\($p[$i + 1].queue_id)"
        elif $i > 0 and ($t[0].prev_host != $p[$i - 1].instance or $t[0].prev_queue_id != $p[$i - 1].queue_id)
        then "\($id) \($r.address): \($p[$i].instance)/\($p[$i].queue_id) comes after \($t[0].prev_host)/\($t[0].prev_queue_id)"
        else empty end),
     # Each recipient's fate.
     (if ($r.expect == "rejected" or $r.expect == "discarded") then
        (if ([$c.flow.hops[] | select(.msg.status == $r.expect)] | length) == 0
         then "\($id) \($r.address): no \($r.expect) transaction in \([$c.flow.hops[].msg.status])" else empty end)
      elif ($p | length) > 0 then
        ($c | hop($p[-1].instance; $p[-1].queue_id)) as $last
        | ($r.expect | want_rstatus) as $want
        | if ($last | length) == 1 and ([$last[0] | rcpt_of($r.address)[] | select(.status == $want)] | length) == 0
          then "\($id) \($r.address): final hop status \($last[0] | rcpt_of($r.address) | map(.status)), want \($want)"
          else empty end
      else "\($id) \($r.address): no path in the scenario" end)),
  # The raw lines are there, and they are this hop's.
  ($c.flow.hops[] | select((.lines | length) == 0)
   | "\($id): hop \(.msg.host)/\(.msg.queue_id) has no raw lines"),
  ($c.flow.hops[] | .msg.queue_id as $q | select([.lines[] | select(.text | contains($q))] | length == 0)
   | "\($id): no raw line of hop \(.msg.host) names \($q)")
