# check_flows.jq - does else-parse --flows tell each harness scenario's story?
#
# Inputs: $flows (array of flow objects), $scen (array of scenario records from
# tests/mta, see tests/mta/README.md).  Output: one string per failed check.

def strip: if . == null then null else ltrimstr("<") | rtrimstr(">") end;
def tx($h; $q): [$flows[] | select(.kind == "message" and .host == $h and .queue_id == $q)];
def rcpt_of($addr): [.recipients[] | select(.to == $addr or .orig_to == $addr)];
def want_rstatus: if . == "bounced" then "bounced" elif . == "expired" then "expired" else "sent" end;

# One message: every hop exists and is linked, final outcomes, one email_id.
def check_message($sname):
  . as $m
  | ($m.message_id | strip) as $mid
  # Postfix never logs the Message-ID of a message a header check rejects
  # early: then find it by its queue ID, or by the Subject the check matched.
  | ([$flows[] | select(.kind == "message" and .message_id == $mid)]) as $by_mid
  | ([$flows[] | select(.kind == "message" and .host == $m.submission.instance
                        and .queue_id == $m.submission.queue_id)]) as $by_qid
  | ([$flows[] | select(.kind == "message" and .host == $m.submission.instance
                        and ([.actions[]?.text // "" | select(contains($m.subject))] | length) > 0)]) as $by_subj
  | (if ($by_mid | length) > 0 then $by_mid elif ($by_qid | length) > 0 then $by_qid else $by_subj end) as $mine
  | (if ($mine | length) == 0 then "\($sname) \($mid): no flow for this message" else empty end),
    (if ([$mine[].email_id] | unique | length) > 1 then "\($sname) \($mid): split over several email_ids \([$mine[].email_id] | unique)" else empty end),
    ($m.recipients[] as $r
     | ($r.path // []) as $p
     | (range(0; $p | length) as $i
        | tx($p[$i].instance; $p[$i].queue_id) as $t
        | if ($t | length) != 1 then "\($sname) \($r.address): hop \($p[$i].instance)/\($p[$i].queue_id) has \($t | length) flows"
          else
            (if $i + 1 < ($p | length) then
               ($t[0] | rcpt_of($r.address)) as $rr
               | if ([$rr[] | select(.next_hop.host == $p[$i + 1].instance and .next_hop.queue_id == $p[$i + 1].queue_id)] | length) == 0
                 then "\($sname) \($r.address): \($p[$i].instance)/\($p[$i].queue_id) not linked to next hop \($p[$i + 1].instance)/\($p[$i + 1].queue_id)"
                 else empty end
             else empty end),
            (if $i > 0 and ($t[0].prev_hop.host != $p[$i - 1].instance or $t[0].prev_hop.queue_id != $p[$i - 1].queue_id)
             then "\($sname) \($r.address): \($p[$i].instance)/\($p[$i].queue_id) prev_hop is \($t[0].prev_hop)" else empty end),
            (if $mine | length > 0 and $t[0].email_id != $mine[0].email_id
             then "\($sname) \($r.address): hop \($p[$i].instance)/\($p[$i].queue_id) has another email_id" else empty end)
          end),
       (if ($r.expect == "rejected" or $r.expect == "discarded") then
          (if ([$mine[] | select(.status == $r.expect)] | length) == 0
           then "\($sname) \($r.address): expected a \($r.expect) transaction, got \([$mine[].status])" else empty end)
        elif ($p | length) > 0 then
          (tx($p[-1].instance; $p[-1].queue_id)) as $last
          | ($r.expect | want_rstatus) as $want
          | if ($last | length) == 1 and ([$last[0] | rcpt_of($r.address)[] | select(.status == $want)] | length) == 0
            then "\($sname) \($r.address): final hop \($p[-1].instance)/\($p[-1].queue_id) recipient status is not \($want): \($last[0] | rcpt_of($r.address) | map(.status))"
            else empty end
        else "\($sname) \($r.address): no path recorded for \($r.expect)" end)),
    ($m.notifications[]? as $n
     | tx($n.instance; $n.queue_id) as $d
     | if ($d | length) != 1 then "\($sname) DSN \($n.instance)/\($n.queue_id): \($d | length) flows"
       elif $d[0].dsn_of.queue_id != $n.for_queue_id then "\($sname) DSN \($n.instance)/\($n.queue_id): dsn_of is \($d[0].dsn_of), want \($n.for_queue_id)"
       elif ($mine | length) > 0 and $d[0].email_id != $mine[0].email_id then "\($sname) DSN \($n.instance)/\($n.queue_id): not in the e-mail of the message it reports on"
       else
         (($n.path // []) as $np | range(1; $np | length) as $i
          | tx($np[$i].instance; $np[$i].queue_id) as $h
          | if ($h | length) != 1 or $h[0].prev_hop.queue_id != $np[$i - 1].queue_id
            then "\($sname) DSN hop \($np[$i].instance)/\($np[$i].queue_id) not linked to \($np[$i - 1].queue_id)" else empty end)
       end);

# One SMTP session outcome: the reject record is there, on its own.
def check_session($sname):
  . as $s
  | if $s.result == "rejected" then
      [$flows[] | select(.kind == "reject" and .host == $s.instance and .reject_code == $s.code and .stage == $s.stage
                         and ($s.to == null or .to == $s.to))] as $j
      | if ($j | length) == 0 then "\($sname): no reject record for \($s.instance) \($s.stage) \($s.code) \($s.to // "")" else empty end
    elif $s.result == "lost" then
      if ([$flows[] | select(.kind == "reject" and .host == $s.instance and .event == "lost_connection" and .stage == $s.stage)] | length) == 0
      then "\($sname): no lost_connection record after \($s.stage)" else empty end
    elif $s.result == "timeout" then
      if ([$flows[] | select(.kind == "reject" and .host == $s.instance and .event == "timeout" and .stage == $s.stage)] | length) == 0
      then "\($sname): no timeout record after \($s.stage)" else empty end
    elif $s.result == "denylisted" then
      if ([$flows[] | select(.kind == "reject" and .host == $s.instance and .client_ip == $s.client and (.reason // "" | test("DENYLISTED")))] | length) == 0
      then "\($sname): no record of the denylisted client \($s.client)" else empty end
    else empty end;

$scen[] | select(.ok) | .scenario as $sname
| (.messages[]? | check_message($sname)), (.sessions[]? | check_session($sname))
