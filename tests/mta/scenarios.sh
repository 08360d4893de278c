# shellcheck shell=bash
#
# scenarios.sh - the ELSE mail scenarios run through real Postfix instances
#
# Sourced by run-scenarios.sh after harness.sh. scn_setup builds the topology,
# then each mta_scn_<name> function sends mail, checks what really happened in
# the logs, queues and mailbox files, and adds message/session records with
# scn_msg/scn_session. scn_run wraps one scenario into one JSON line of
# scenarios.jsonl. README.md describes the topology and the record format.
#
# Topology (ports relative to MTA_PORT_BASE = B):
#   mx1  B+0   smtp, short queue IDs; local domains mx1.else.test, sender.test
#        B+1   "strict" smtpd (syslog_name postfix/strict): smtpd_delay_reject=no,
#              client/helo/sender/data/end-of-data access checks, smtpd_timeout=3s
#        B+2   submission smtpd (syslog_name postfix/submission) with
#              content_filter=filter:[127.0.0.1]:B+3
#        B+3   pass-through smtpd, smtpd_proxy_filter=127.0.0.1:B+4 (the "amavis")
#        B+4   reinjection smtpd, content_filter= (new queue ID, orig_queue_id=)
#        B+9   nothing listens: next hop of dead.test (deferred, then expired)
#   mx2  B+10  smtp, long queue IDs; local domains mx2.else.test, remote.test, tls.test
#   mx3  B+20  postscreen in front of smtpd, syslog_name postfix-edge, short queue IDs
# Mail for remote.test goes mx1 -> mx2 (or mx3 -> mx2); tls.test goes mx1 -> mx2
# over the "smtptls" transport (TLS required); mx2 sends sender.test back to mx1.

# shellcheck disable=SC2034 # used by run-scenarios.sh and test_scenarios.sh
SCN_ALL=(relay multi_rcpt unknown_user deferred_then_delivered expired noqueue_rejects
    checks content_filter local_submission starttls postscreen)

SCN_FROM=sender@sender.test
SCN_N=0          # swaks transcript counter
SCN_MSGS=()      # message records of the running scenario
SCN_SESS=()      # session records of the running scenario
SCN_NAME=

scn_ports() {
    P1=$(mta_port 0 0)       # mx1 smtp
    PSTRICT=$(mta_port 0 1)  # mx1 strict smtpd
    PSUB=$(mta_port 0 2)     # mx1 submission with content_filter
    PFILT=$(mta_port 0 3)    # mx1 pass-through proxy smtpd
    PREINJ=$(mta_port 0 4)   # mx1 reinjection smtpd
    PDEAD=$(mta_port 0 9)    # nothing listens
    P2=$(mta_port 1 0)       # mx2 smtp
    P3=$(mta_port 2 0)       # mx3 postscreen
}

# scn_setup - create the TLS certificate and the three instances, start them
scn_setup() {
    local o=$MTA_OUT p e
    scn_ports
    for p in $P1 $PSTRICT $PSUB $PFILT $PREINJ $PDEAD $P2 $P3; do
        mta_port_free "$p" || mta_die "port 127.0.0.1:$p is busy (set MTA_PORT_BASE to another base)"
    done
    RUN_ID=$(date -u +%Y%m%dT%H%M%S).$$

    mkdir -p "$o/tls" "$o/swaks"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
        -subj "/CN=mx.else.test" -keyout "$o/tls/key.pem" -out "$o/tls/cert.pem" \
        >/dev/null 2>&1 || mta_die "openssl could not make the test certificate"
    chmod 0600 "$o/tls/key.pem"

    # --- mx1: edge relay with local domains, checks, content filter, TLS
    mta_instance_new mx1 "$P1" \
        "mydestination = \$myhostname, localhost, sender.test" \
        "relay_domains = remote.test, tls.test, dead.test" \
        "transport_maps = inline:{remote.test=smtp:[127.0.0.1]:$P2,tls.test=smtptls:[127.0.0.1]:$P2,dead.test=smtp:[127.0.0.1]:$PDEAD}" \
        "smtpd_sender_restrictions = reject_non_fqdn_sender" \
        "header_checks = regexp:$o/mx1/etc/header_checks" \
        "body_checks = regexp:$o/mx1/etc/body_checks" \
        "smtpd_tls_cert_file = $o/tls/cert.pem" \
        "smtpd_tls_key_file = $o/tls/key.pem" \
        "smtpd_tls_security_level = may" \
        "strict_client_restrictions = check_client_access texthash:$o/mx1/etc/client_access" \
        "strict_helo_restrictions = check_helo_access texthash:$o/mx1/etc/helo_access" \
        "strict_sender_restrictions = check_sender_access texthash:$o/mx1/etc/sender_access" \
        "strict_data_restrictions = check_sender_access texthash:$o/mx1/etc/data_access" \
        "strict_eod_restrictions = check_sender_access texthash:$o/mx1/etc/eod_access"
    e=$o/mx1/etc
    cat >"$e/header_checks" <<'EOF'
/^Subject:.*ELSE-HDR-REJECT/  REJECT ELSE test header reject
/^Subject:.*ELSE-HDR-DISCARD/ DISCARD ELSE test header discard
/^Subject:.*ELSE-HDR-HOLD/    HOLD ELSE test header hold
/^Subject:.*ELSE-HDR-WARN/    WARN ELSE test header warn
EOF
    printf '%s\n' '/ELSE-BODY-REJECT/ REJECT ELSE test body reject' >"$e/body_checks"
    printf '%s\n' '127.0.0.3 REJECT ELSE test client reject' >"$e/client_access"
    printf '%s\n' 'bad.helo.test REJECT ELSE test helo reject' >"$e/helo_access"
    printf '%s\n' 'bad.test REJECT ELSE test sender reject' >"$e/sender_access"
    printf '%s\n' 'data-reject@sender.test REJECT ELSE test data reject' >"$e/data_access"
    printf '%s\n' 'eod-reject@sender.test REJECT ELSE test end-of-data reject' >"$e/eod_access"
    mta_alias_file mx1 sender
    mta_alias_file mx1 sender2
    mta_alias_file mx1 postmaster
    mta_alias mx1 MAILER-DAEMON postmaster
    mta_alias mx1 root postmaster
    mta_service mx1 "$PSTRICT" "n - n - - smtpd -o syslog_name=postfix/strict -o smtpd_delay_reject=no -o smtpd_helo_required=yes -o smtpd_timeout=3s -o smtpd_client_restrictions=\$strict_client_restrictions -o smtpd_helo_restrictions=\$strict_helo_restrictions -o smtpd_sender_restrictions=\$strict_sender_restrictions -o smtpd_data_restrictions=\$strict_data_restrictions -o smtpd_end_of_data_restrictions=\$strict_eod_restrictions"
    mta_service mx1 "$PSUB" "n - n - - smtpd -o syslog_name=postfix/submission -o content_filter=filter:[127.0.0.1]:$PFILT"
    mta_service mx1 "$PFILT" "n - n - 4 smtpd -o smtpd_proxy_filter=127.0.0.1:$PREINJ -o smtpd_authorized_xforward_hosts=127.0.0.0/8 -o content_filter= -o smtpd_sender_restrictions="
    mta_service mx1 "$PREINJ" "n - n - 4 smtpd -o content_filter= -o smtpd_authorized_xforward_hosts=127.0.0.0/8 -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks -o smtpd_sender_restrictions= -o mynetworks=127.0.0.0/8"
    mta_unix_service mx1 filter "- - n - 4 smtp -o smtp_send_xforward_command=yes -o smtp_tls_security_level=none"
    mta_unix_service mx1 smtptls "- - n - - smtp -o smtp_tls_security_level=encrypt"

    # --- mx2: final destination, long queue IDs, sends DSNs for sender.test to mx1
    mta_instance_new mx2 "$P2" \
        "enable_long_queue_ids = yes" \
        "mydestination = \$myhostname, localhost, remote.test, tls.test" \
        "transport_maps = inline:{sender.test=smtp:[127.0.0.1]:$P1}" \
        "smtpd_tls_cert_file = $o/tls/cert.pem" \
        "smtpd_tls_key_file = $o/tls/key.pem" \
        "smtpd_tls_security_level = may"
    for p in alice bob carol dave postmaster; do mta_alias_file mx2 "$p"; done
    mta_alias mx2 team "alice, carol"
    mta_alias mx2 ghost nosuchuser-ghost
    mta_alias mx2 MAILER-DAEMON postmaster

    # --- mx3: postscreen in front of smtpd, own syslog_name, relays to mx2
    mta_instance_new mx3 "$P3" \
        "syslog_name = postfix-edge" \
        "postscreen_greet_wait = 1s" \
        "postscreen_greet_action = enforce" \
        "postscreen_access_list = cidr:$o/mx3/etc/postscreen_access" \
        "postscreen_denylist_action = drop" \
        "relay_domains = remote.test, dead.test" \
        "transport_maps = inline:{remote.test=smtp:[127.0.0.1]:$P2,dead.test=smtp:[127.0.0.1]:$PDEAD,sender.test=smtp:[127.0.0.1]:$P1}" \
        "maximal_queue_lifetime = 0" \
        "bounce_queue_lifetime = 0"
    printf '%s\n' '127.0.0.5/32 reject' >"$o/mx3/etc/postscreen_access"
    mta_alias_file mx3 postmaster
    postconf -c "$o/mx3/etc" -M "127.0.0.1:$P3/inet=127.0.0.1:$P3 inet n - n - 1 postscreen" \
        "smtpd/pass=smtpd pass - - n - - smtpd" \
        "dnsblog/unix=dnsblog unix - - n - 0 dnsblog" \
        "tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy" || mta_die "postconf -M mx3"

    jq -n -c --arg b "$MTA_PORT_BASE" --arg o "$o" --argjson p1 "$P1" --argjson p2 "$P2" \
        --argjson p3 "$P3" --argjson ps "$PSTRICT" --argjson psub "$PSUB" \
        --argjson pf "$PFILT" --argjson pr "$PREINJ" '{
        port_base: ($b | tonumber), outdir: $o,
        instances: {
          mx1: {hostname: "mx1.else.test", log_host: "mx1", syslog_name: "postfix",
                long_queue_ids: false, ports: {smtp: $p1, strict: $ps, submission: $psub,
                filter_proxy: $pf, reinject: $pr},
                service_syslog_names: {strict: "postfix/strict", submission: "postfix/submission"}},
          mx2: {hostname: "mx2.else.test", log_host: "mx2", syslog_name: "postfix",
                long_queue_ids: true, ports: {smtp: $p2}},
          mx3: {hostname: "mx3.else.test", log_host: "mx3", syslog_name: "postfix-edge",
                long_queue_ids: false, ports: {postscreen: $p3}}}}' >"$o/instances.json"

    mta_start mx1 mx2 mx3
}

# ---------------------------------------------------------------------------
# Helpers shared by the scenarios

scn_mid() { echo "else-$1.$RUN_ID@else.test"; }

# scn_swaks EXPECT_RC PORT swaks-args... - swaks with a per-scenario transcript
#   Sets SCN_TR (transcript path) and SCN_Q (queue ID or empty). Not for $(...):
#   the caller needs both variables.
scn_swaks() {
    local rc=$1 port=$2
    shift 2
    SCN_N=$((SCN_N + 1))
    SCN_TR=$MTA_OUT/swaks/$SCN_NAME-$SCN_N.txt
    SCN_Q=$(mta_swaks "$SCN_TR" "$rc" "$port" "$@")
}

# scn_mail EXPECT_RC PORT MID SUBJECT TO [swaks-args...] - swaks with our usual headers
scn_mail() {
    local rc=$1 port=$2 mid=$3 subj=$4 to=$5
    shift 5
    scn_swaks "$rc" "$port" --from "$SCN_FROM" --to "$to" --helo client.else.test \
        --header "Message-Id: <$mid>" --header "Subject: $subj" "$@"
}

# scn_sub INSTANCE PORT METHOD CLIENT QID [TLS] - the submission object of a message
scn_sub() {
    local reply=
    [ -n "${SCN_TR:-}" ] && [ "$3" != sendmail ] && reply=$(mta_last_reply "$SCN_TR")
    mta_obj instance="$1" port:="$2" method="$3" client="$4" queue_id="$5" \
        tls:="${6:-false}" reply="$reply"
}

scn_msg() { local m; m=$(mta_message "$@") || return 1; SCN_MSGS+=("$m"); }
scn_session() { SCN_SESS+=("$(mta_obj "$@")"); }

# scn_need_qid QID WHAT - a submission must have been queued
scn_need_qid() { [ -n "$1" ] || mta_fail "$2: no queue ID in the server reply ($SCN_TR)"; }

# scn_reject_qid LINE - the queue ID (or NOQUEUE) that prefixes a log line; empty if none
scn_reject_qid() { sed -nE 's/^[^]]*\]: ([0-9A-Za-z]+): .*/\1/p' <<<"$1"; }

# scn_session_qid NAME LINE - queue ID the smtpd process of LINE had opened before it
#   (the last "QID: client=" of the same process): a lost session leaves it behind.
scn_session_qid() {
    local tag
    tag=$(sed -nE 's/^.* ([^ ]+\[[0-9]+\]): .*/\1/p' <<<"$2")
    mta_since "$1" | awk -v tag="$tag: " -v stop="$2" '
        $0 == stop { exit }
        index($0, tag) && / [0-9A-Za-z]+: client=/ { q = $0; sub(/^.*\]: /, "", q); sub(/:.*/, "", q) }
        index($0, tag) && / disconnect from / { q = "" }
        END { print q }'
}

# scn_rejected_msg MID SUBJECT TO SUB_JSON LOGLINE - a message refused after DATA
scn_rejected_msg() {
    local r q
    q=$(scn_reject_qid "$5")
    r=$(mta_obj address="$3" expect=rejected status=rejected \
        path:="$(mta_obj instance=mx1 queue_id="$q" | jq -c '[.]')" final_instance=mx1 \
        final_queue_id="$q" delivered_to:='[]' detail="${5#*"$q": }" log="$5")
    scn_msg "$1" "$SCN_FROM" "$2" "$4" "[$r]"
}

# ---------------------------------------------------------------------------
# Scenarios

# relay: swaks -> mx1 -> mx2 -> local(8) file delivery
mta_scn_relay() {
    local mid q r subj="ELSE relay"
    mid=$(scn_mid relay)
    scn_mail 0 "$P1" "$mid" "$subj" alice@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" relay || return 1
    r=$(mta_follow mx1 "$q" alice@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" delivered) || return 1
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]"
}

# multi_rcpt: one message, four recipients: two delivered, one alias expanded to two
# mailboxes, one unknown at mx2 (550 at RCPT) -> bounced by mx1 -> DSN delivered on mx1
mta_scn_multi_rcpt() {
    local mid q a r rs=() n line subj="ELSE multi rcpt"
    mid=$(scn_mid multi)
    scn_mail 0 "$P1" "$mid" "$subj" \
        alice@remote.test,bob@remote.test,team@remote.test,nobody-here@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" multi_rcpt || return 1
    for a in alice@remote.test bob@remote.test team@remote.test; do
        r=$(mta_follow mx1 "$q" "$a" "$mid") || return 1
        r=$(mta_rcpt "$r" delivered) || return 1
        rs+=("$r")
    done
    [ "$(jq '.delivered_to | length' <<<"${rs[2]}")" = 2 ] ||
        { mta_fail "team@remote.test should reach 2 mailboxes: ${rs[2]}"; return 1; }
    r=$(mta_follow mx1 "$q" nobody-here@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" bounced) || return 1
    rs+=("$r")
    n=$(mta_dsn mx1 "$q" "$SCN_FROM" "$mid") || return 1
    n=$(mta_rcpt "$n" delivered) || return 1
    line=$(mta_wait mx2 "reject: RCPT from [^ ]+: 550 5\.1\.1 <nobody-here@remote\.test>") || return 1
    scn_session instance=mx2 port:="$P2" client=127.0.0.1 stage=RCPT result=rejected code=550 \
        to=nobody-here@remote.test queue_id="$(scn_reject_qid "$line")" log="$line"
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" \
        "$(printf '%s\n' "${rs[@]}" | jq -s -c .)" "[$n]"
}

# unknown_user: (a) rejected by mx2 at RCPT, bounced by mx1, DSN delivered on mx1;
# (b) accepted by mx2 (alias to a missing user), bounced by local(8) on mx2, DSN
# relayed mx2 -> mx1 and delivered there
mta_scn_unknown_user() {
    local mid q r n line subj="ELSE unknown user"
    mid=$(scn_mid unknown-a)
    scn_mail 0 "$P1" "$mid" "$subj" nobody-here@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" unknown_user || return 1
    r=$(mta_follow mx1 "$q" nobody-here@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" bounced) || return 1
    n=$(mta_dsn mx1 "$q" "$SCN_FROM" "$mid") || return 1
    n=$(mta_rcpt "$n" delivered) || return 1
    line=$(mta_wait mx2 "NOQUEUE: reject: RCPT from [^ ]+: 550 5\.1\.1 <nobody-here@remote\.test>") || return 1
    scn_session instance=mx2 port:="$P2" client=127.0.0.1 stage=RCPT result=rejected code=550 \
        to=nobody-here@remote.test queue_id=NOQUEUE log="$line"
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]" "[$n]"

    mid=$(scn_mid unknown-b)
    subj="ELSE unknown user local"
    scn_mail 0 "$P1" "$mid" "$subj" ghost@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" unknown_user || return 1
    r=$(mta_follow mx1 "$q" ghost@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" bounced) || return 1
    [ "$(jq -r .final_instance <<<"$r")" = mx2 ] || { mta_fail "ghost should bounce on mx2: $r"; return 1; }
    n=$(mta_dsn mx2 "$(jq -r .final_queue_id <<<"$r")" "$SCN_FROM" "$mid") || return 1
    n=$(mta_rcpt "$n" delivered) || return 1
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]" "[$n]"
}

# deferred_then_delivered: mx2 stopped, mx1 defers (connection refused); mx2
# started again, postqueue -f on mx1, delivered
mta_scn_deferred_then_delivered() {
    local mid q r line subj="ELSE deferred"
    mid=$(scn_mid deferred)
    mta_wait_empty mx1 mx2 || return 1
    mta_stop mx2 || return 1
    scn_mail 0 "$P1" "$mid" "$subj" bob@remote.test || { mta_start mx2; return 1; }
    q=$SCN_Q
    scn_need_qid "$q" deferred || { mta_start mx2; return 1; }
    line=$(mta_wait mx1 ": $q: to=<bob@remote\.test>, relay=none, .*status=deferred \(connect to .*Connection refused\)") ||
        { mta_start mx2; return 1; }
    mta_wait_queue mx1 "$q" deferred || { mta_start mx2; return 1; }
    mta_start mx2
    postqueue -c "$(mta_etc mx1)" -f || { mta_fail "postqueue -f failed"; return 1; }
    r=$(mta_follow mx1 "$q" bob@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" deferred-then-delivered) || return 1
    r=$(jq -c --arg l "$line" '. + {deferred: $l}' <<<"$r")
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]"
}

# expired: the next hop of dead.test never answers.
#   (a) on mx1 the deferred message is expired on demand (postsuper -e, then
#       postqueue -i): qmgr logs status=force-expired;
#   (b) on mx3 maximal_queue_lifetime=0: the first failed attempt expires it.
# Both bounces are delivered to the sender on mx1.
mta_scn_expired() {
    local mid q r n subj="ELSE expired" etc
    etc=$(mta_etc mx1)
    mid=$(scn_mid expired-force)
    scn_mail 0 "$P1" "$mid" "$subj" lost@dead.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" expired || return 1
    mta_wait mx1 ": $q: to=<lost@dead\.test>, relay=none, .*status=deferred" >/dev/null || return 1
    mta_wait_queue mx1 "$q" deferred || return 1
    postsuper -c "$etc" -e "$q" 2>/dev/null || { mta_fail "postsuper -e $q failed"; return 1; }
    postqueue -c "$etc" -i "$q" || { mta_fail "postqueue -i $q failed"; return 1; }
    r=$(mta_follow mx1 "$q" lost@dead.test "$mid") || return 1
    r=$(mta_rcpt "$r" expired) || return 1
    n=$(mta_dsn mx1 "$q" "$SCN_FROM" "$mid") || return 1
    n=$(mta_rcpt "$n" delivered) || return 1
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]" "[$n]" || return 1

    # Client 127.0.0.6: postscreen scenario needs 127.0.0.1 and .2 still unknown.
    mid=$(scn_mid expired-lifetime)
    subj="ELSE expired lifetime"
    scn_mail 0 "$P3" "$mid" "$subj" gone@dead.test --local-interface 127.0.0.6 || return 1
    q=$SCN_Q
    scn_need_qid "$q" expired || return 1
    r=$(mta_follow mx3 "$q" gone@dead.test "$mid") || return 1
    r=$(mta_rcpt "$r" expired) || return 1
    n=$(mta_dsn mx3 "$q" "$SCN_FROM" "$mid") || return 1
    n=$(mta_rcpt "$n" delivered) || return 1
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx3 "$P3" smtp 127.0.0.6 "$q")" "[$r]" "[$n]"
}

# scn_reject_case RC PORT STAGE CODE CLIENT LOG_ERE swaks-args... - one refused session
scn_reject_case() {
    local rc=$1 port=$2 stage=$3 code=$4 client=$5 re=$6 line q
    shift 6
    scn_swaks "$rc" "$port" "$@" || return 1
    line=$(mta_wait mx1 "$re") || return 1
    scn_session instance=mx1 port:="$port" client="$client" stage="$stage" result=rejected \
        code="$code" queue_id="$(scn_reject_qid "$line")" reply="$(mta_last_reply "$SCN_TR")" \
        log="$line" swaks:="$(mta_strs "$@")"
}

# noqueue_rejects: refusals at every SMTP stage, a lost connection, a timeout and
# improper pipelining; nothing is delivered
mta_scn_noqueue_rejects() {
    local fd line r h="--helo client.else.test"
    # RCPT stage on the main port (smtpd_delay_reject=yes: all restrictions fire at RCPT)
    # shellcheck disable=SC2086
    scn_reject_case 24 "$P1" RCPT 554 127.0.0.2 \
        "NOQUEUE: reject: RCPT from [^ ]+\[127\.0\.0\.2\]: 554 5\.7\.1 <victim@elsewhere\.test>: Relay access denied" \
        --local-interface 127.0.0.2 $h --from "$SCN_FROM" --to victim@elsewhere.test || return 1
    # shellcheck disable=SC2086
    scn_reject_case 24 "$P1" RCPT 550 127.0.0.1 \
        "NOQUEUE: reject: RCPT from [^ ]+: 550 5\.1\.1 <nosuch@sender\.test>: Recipient address rejected: User unknown in local recipient table" \
        $h --from "$SCN_FROM" --to nosuch@sender.test || return 1
    # shellcheck disable=SC2086
    scn_reject_case 24 "$P1" RCPT 504 127.0.0.1 \
        "NOQUEUE: reject: RCPT from [^ ]+: 504 5\.5\.2 <someone@nofqdn>: Sender address rejected: need fully-qualified address" \
        $h --from someone@nofqdn --to alice@remote.test || return 1
    # Earlier stages on the strict port (smtpd_delay_reject=no)
    # shellcheck disable=SC2086
    scn_reject_case 21 "$PSTRICT" CONNECT 554 127.0.0.3 \
        "NOQUEUE: reject: CONNECT from [^ ]+\[127\.0\.0\.3\]: 554 5\.7\.1 .*Client host rejected: ELSE test client reject" \
        --local-interface 127.0.0.3 $h --from "$SCN_FROM" --to alice@remote.test || return 1
    scn_reject_case 22 "$PSTRICT" EHLO 554 127.0.0.1 \
        "NOQUEUE: reject: EHLO from [^ ]+: 554 5\.7\.1 <bad\.helo\.test>: Helo command rejected: ELSE test helo reject" \
        --helo bad.helo.test --from "$SCN_FROM" --to alice@remote.test || return 1
    # shellcheck disable=SC2086
    scn_reject_case 23 "$PSTRICT" MAIL 554 127.0.0.1 \
        "NOQUEUE: reject: MAIL from [^ ]+: 554 5\.7\.1 <spammer@bad\.test>: Sender address rejected: ELSE test sender reject" \
        $h --from spammer@bad.test --to alice@remote.test || return 1
    # shellcheck disable=SC2086
    scn_reject_case 25 "$PSTRICT" DATA 554 127.0.0.1 \
        "reject: DATA from [^ ]+: 554 5\.7\.1 <data-reject@sender\.test>: Sender address rejected: ELSE test data reject" \
        $h --from data-reject@sender.test --to alice@remote.test || return 1
    # shellcheck disable=SC2086
    scn_reject_case 26 "$PSTRICT" END-OF-MESSAGE 554 127.0.0.1 \
        "reject: END-OF-MESSAGE from [^ ]+: 554 5\.7\.1 <eod-reject@sender\.test>: Sender address rejected: ELSE test end-of-data reject" \
        $h --from eod-reject@sender.test --to alice@remote.test || return 1

    # Lost connection: the client hangs up after RCPT (bash /dev/tcp, no QUIT)
    exec {fd}<>"/dev/tcp/127.0.0.1/$P1" || { mta_fail "connect $P1"; return 1; }
    r=$(mta_smtp_read "$fd") && [[ $r == 220* ]] &&
        printf 'EHLO lost.else.test\r\n' >&"$fd" && r=$(mta_smtp_read "$fd") && [[ $r == 250* ]] &&
        printf 'MAIL FROM:<%s>\r\n' "$SCN_FROM" >&"$fd" && r=$(mta_smtp_read "$fd") && [[ $r == 250* ]] &&
        printf 'RCPT TO:<alice@remote.test>\r\n' >&"$fd" && r=$(mta_smtp_read "$fd") && [[ $r == 250* ]]
    local ok=$?
    exec {fd}>&-
    [ $ok = 0 ] || { mta_fail "lost-connection dialogue failed at: $r"; return 1; }
    line=$(mta_wait mx1 "lost connection after RCPT from [^ ]+\[127\.0\.0\.1\]") || return 1
    scn_session instance=mx1 port:="$P1" client=127.0.0.1 stage=RCPT result=lost \
        queue_id="$(scn_session_qid mx1 "$line")" log="$line" helo=lost.else.test \
        from="$SCN_FROM" to=alice@remote.test

    # Timeout: the client says nothing after the greeting (strict port: smtpd_timeout=3s)
    exec {fd}<>"/dev/tcp/127.0.0.1/$PSTRICT" || { mta_fail "connect $PSTRICT"; return 1; }
    r=$(mta_smtp_read "$fd") && [[ $r == 220* ]] && r=$(mta_smtp_read "$fd") && [[ $r == 421* ]]
    ok=$?
    exec {fd}>&-
    [ $ok = 0 ] || { mta_fail "timeout dialogue: expected 220 then 421, got: $r"; return 1; }
    line=$(mta_wait mx1 "timeout after CONNECT from [^ ]+\[127\.0\.0\.1\]") || return 1
    scn_session instance=mx1 port:="$PSTRICT" client=127.0.0.1 stage=CONNECT result=timeout \
        code=421 reply="$r" queue_id=NOQUEUE log="$line"

    # Improper pipelining: HELO (no PIPELINING offered) and MAIL in one write. The bash
    # printf builtin writes line by line (bash line-buffers stdout), so smtpd might
    # see the lines one at a time; env printf (fully buffered) makes one write.
    # (Sending before the greeting is caught only if no idle smtpd is already waiting
    # in accept, so that is not deterministic.)
    exec {fd}<>"/dev/tcp/127.0.0.1/$P1" || { mta_fail "connect $P1"; return 1; }
    r=$(mta_smtp_read "$fd") && [[ $r == 220* ]] &&
        env printf 'HELO pipe.else.test\r\nMAIL FROM:<%s>\r\nQUIT\r\n' "$SCN_FROM" >&"$fd" &&
        r=$(mta_smtp_read "$fd") && [[ $r == 250* ]] && r=$(mta_smtp_read "$fd") && [[ $r == 250* ]] &&
        r=$(mta_smtp_read "$fd") && [[ $r == 221* ]]
    ok=$?
    exec {fd}>&-
    [ $ok = 0 ] || { mta_fail "pipelining dialogue failed at: $r"; return 1; }
    line=$(mta_wait mx1 "improper command pipelining after HELO from [^ ]+\[127\.0\.0\.1\]: MAIL FROM:") || return 1
    scn_session instance=mx1 port:="$P1" client=127.0.0.1 stage=HELO result=pipelining \
        queue_id=NOQUEUE log="$line" helo=pipe.else.test
}

# checks: header_checks REJECT/DISCARD/HOLD/WARN, body_checks REJECT; the held
# message is released with postsuper -H + postqueue -i and delivered
mta_scn_checks() {
    local mid q r line etc subj
    etc=$(mta_etc mx1)

    subj="ELSE-HDR-REJECT check"
    mid=$(scn_mid hdr-reject)
    scn_mail 26 "$P1" "$mid" "$subj" alice@remote.test || return 1
    line=$(mta_wait mx1 ": reject: header Subject: $subj from [^;]+; from=<$SCN_FROM> to=<alice@remote\.test> .*: 5\.7\.1 ELSE test header reject") || return 1
    scn_rejected_msg "$mid" "$subj" alice@remote.test "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "")" "$line" || return 1

    subj="ELSE-BODY check"
    mid=$(scn_mid body-reject)
    scn_mail 26 "$P1" "$mid" "$subj" alice@remote.test --body "line one
ELSE-BODY-REJECT here
line three" || return 1
    line=$(mta_wait mx1 ": reject: body ELSE-BODY-REJECT here from [^;]+; from=<$SCN_FROM> .*: 5\.7\.1 ELSE test body reject") || return 1
    scn_rejected_msg "$mid" "$subj" alice@remote.test "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "")" "$line" || return 1

    subj="ELSE-HDR-DISCARD check"
    mid=$(scn_mid hdr-discard)
    scn_mail 0 "$P1" "$mid" "$subj" alice@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" discard || return 1
    line=$(mta_wait mx1 ": $q: discard: header Subject: $subj from ") || return 1
    r=$(mta_obj address=alice@remote.test expect=discarded status=discarded \
        path:="$(mta_obj instance=mx1 queue_id="$q" | jq -c '[.]')" final_instance=mx1 \
        final_queue_id="$q" delivered_to:='[]' detail="${line#*"$q": }" log="$line")
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]" || return 1

    subj="ELSE-HDR-WARN check"
    mid=$(scn_mid hdr-warn)
    scn_mail 0 "$P1" "$mid" "$subj" bob@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" warn || return 1
    mta_wait mx1 ": $q: warning: header Subject: $subj from " >/dev/null || return 1
    r=$(mta_follow mx1 "$q" bob@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" delivered) || return 1
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]" || return 1

    subj="ELSE-HDR-HOLD check"
    mid=$(scn_mid hdr-hold)
    scn_mail 0 "$P1" "$mid" "$subj" carol@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" hold || return 1
    mta_wait mx1 ": $q: hold: header Subject: $subj from " >/dev/null || return 1
    mta_wait_queue mx1 "$q" hold || return 1
    postsuper -c "$etc" -H "$q" 2>/dev/null || { mta_fail "postsuper -H $q"; return 1; }
    mta_wait mx1 "postsuper\[[0-9]+\]: $q: released from hold" >/dev/null || return 1
    postqueue -c "$etc" -i "$q" || { mta_fail "postqueue -i $q"; return 1; }
    r=$(mta_follow mx1 "$q" carol@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" held-then-delivered) || return 1
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q")" "[$r]"
}

# content_filter: submission port -> filter transport -> pass-through smtpd with
# smtpd_proxy_filter -> reinjection smtpd (new queue ID) -> mx2
mta_scn_content_filter() {
    local mid q r q2 l1 l2 l3 subj="ELSE content filter"
    mid=$(scn_mid filter)
    scn_mail 0 "$PSUB" "$mid" "$subj" dave@remote.test || return 1
    q=$SCN_Q
    scn_need_qid "$q" content_filter || return 1
    r=$(mta_follow mx1 "$q" dave@remote.test "$mid") || return 1
    r=$(mta_rcpt "$r" delivered) || return 1
    q2=$(jq -r '.path[1] | select(.instance == "mx1") | .queue_id' <<<"$r")
    [ -n "$q2" ] || { mta_fail "content filter: second hop is not mx1: $r"; return 1; }
    # The proxy smtpd has no queue file of its own: NOQUEUE, and no QID prefix at all
    # on its proxy-accept line. The reinjection smtpd links both IDs via XFORWARD.
    l1=$(mta_wait mx1 "postfix/smtpd\[[0-9]+\]: NOQUEUE: client=[^ ]+\[127\.0\.0\.1\], orig_queue_id=$q, orig_client=") || return 1
    l2=$(mta_wait mx1 "postfix/smtpd\[[0-9]+\]: proxy-accept: END-OF-MESSAGE: 250 2\.0\.0 Ok: queued as $q2; ") || return 1
    l3=$(mta_wait mx1 "postfix/smtpd\[[0-9]+\]: $q2: client=[^ ]+\[127\.0\.0\.1\], orig_queue_id=$q, orig_client=") || return 1
    r=$(jq -c --arg a "$l1" --arg b "$l2" --arg c "$l3" --arg q "$q" --arg q2 "$q2" \
        '. + {filter: {before_queue_id: $q, after_queue_id: $q2, logs: [$a, $b, $c]}}' <<<"$r")
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$PSUB" smtp 127.0.0.1 "$q")" "[$r]"
}

# local_submission: sendmail -C (postdrop + pickup), one remote and one local recipient
mta_scn_local_submission() {
    local mid q r1 r2 line subj="ELSE local submission" f
    mid=$(scn_mid sendmail)
    f=$MTA_OUT/swaks/local_submission.eml
    printf 'From: <%s>\nTo: <carol@remote.test>, <sender2@sender.test>\nSubject: %s\nMessage-Id: <%s>\n\nsent with sendmail -C\n' \
        "$SCN_FROM" "$subj" "$mid" >"$f"
    sendmail -C "$(mta_etc mx1)" -f "$SCN_FROM" carol@remote.test sender2@sender.test <"$f" ||
        { mta_fail "sendmail -C failed"; return 1; }
    line=$(mta_wait mx1 "postfix/cleanup\[[0-9]+\]: [0-9A-Za-z]+: message-id=<$(mta_re "$mid")>") || return 1
    q=$(scn_reject_qid "$line")
    mta_wait mx1 "postfix/pickup\[[0-9]+\]: $q: uid=0 from=<$SCN_FROM>" >/dev/null || return 1
    r1=$(mta_follow mx1 "$q" carol@remote.test "$mid") || return 1
    r1=$(mta_rcpt "$r1" delivered) || return 1
    r2=$(mta_follow mx1 "$q" sender2@sender.test "$mid") || return 1
    r2=$(mta_rcpt "$r2" delivered) || return 1
    SCN_TR=
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 0 sendmail local "$q")" "[$r1,$r2]"
}

# starttls: swaks -tls into mx1, then mx1 -> mx2 over the smtptls transport (encrypt)
mta_scn_starttls() {
    local mid q r subj="ELSE starttls" l1 l2 l3
    mid=$(scn_mid tls)
    scn_mail 0 "$P1" "$mid" "$subj" dave@tls.test --tls || return 1
    q=$SCN_Q
    scn_need_qid "$q" starttls || return 1
    grep -qE '<~ +250 .*queued as' "$SCN_TR" || { mta_fail "swaks did not use TLS ($SCN_TR)"; return 1; }
    r=$(mta_follow mx1 "$q" dave@tls.test "$mid") || return 1
    r=$(mta_rcpt "$r" delivered) || return 1
    l1=$(mta_wait mx1 "postfix/smtpd\[[0-9]+\]: Anonymous TLS connection established from [^ ]+\[127\.0\.0\.1\]") || return 1
    l2=$(mta_wait mx1 "postfix/smtp\[[0-9]+\]: [A-Za-z]+ TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$P2") || return 1
    l3=$(mta_wait mx2 "postfix/smtpd\[[0-9]+\]: Anonymous TLS connection established from [^ ]+\[127\.0\.0\.1\]") || return 1
    r=$(jq -c --arg a "$l1" --arg b "$l2" --arg c "$l3" '. + {tls_logs: [$a, $b, $c]}' <<<"$r")
    scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx1 "$P1" smtp 127.0.0.1 "$q" true)" "[$r]"
}

# postscreen: a pregreeting client (enforced 550), PASS NEW then PASS OLD from
# 127.0.0.2 (both delivered via mx2), and a denylisted 127.0.0.5 (dropped)
mta_scn_postscreen() {
    local fd r ok line mid q f subj
    # Pregreet from 127.0.0.1: talk before the greeting, then try to send mail.
    exec {fd}<>"/dev/tcp/127.0.0.1/$P3" || { mta_fail "connect $P3"; return 1; }
    printf 'EHLO early.else.test\r\n' >&"$fd"
    # postscreen never completes the "220-" greeting after a pregreet: its dummy SMTP
    # engine answers the early EHLO right after it, so the first reply we read is
    # "220-..." followed by the 250 lines of the EHLO reply.
    r=$(mta_smtp_read "$fd") && [[ $r == 250* ]] &&
        printf 'MAIL FROM:<%s>\r\n' "$SCN_FROM" >&"$fd" && r=$(mta_smtp_read "$fd") && [[ $r == 250* ]] &&
        printf 'RCPT TO:<alice@remote.test>\r\n' >&"$fd" && r=$(mta_smtp_read "$fd") && [[ $r == 550* ]] &&
        printf 'QUIT\r\n' >&"$fd" && r=$(mta_smtp_read "$fd")
    ok=$?
    exec {fd}>&-
    [ $ok = 0 ] || { mta_fail "pregreet dialogue failed at: $r"; return 1; }
    line=$(mta_wait mx3 "postfix-edge/postscreen\[[0-9]+\]: PREGREET [0-9]+ after [0-9.]+ from \[127\.0\.0\.1\]:[0-9]+: EHLO early\.else\.test") || return 1
    scn_session instance=mx3 port:="$P3" client=127.0.0.1 stage=CONNECT result=pregreet log="$line"
    line=$(mta_wait mx3 "postfix-edge/postscreen\[[0-9]+\]: NOQUEUE: reject: RCPT from \[127\.0\.0\.1\]:[0-9]+: 550 5\.5\.1 Protocol error") || return 1
    scn_session instance=mx3 port:="$P3" client=127.0.0.1 stage=RCPT result=rejected code=550 \
        queue_id=NOQUEUE to=alice@remote.test log="$line"

    # A new client passes (PASS NEW), then comes back (PASS OLD).
    for f in NEW OLD; do
        subj="ELSE postscreen pass $f"
        mid=$(scn_mid "postscreen-$f")
        scn_mail 0 "$P3" "$mid" "$subj" alice@remote.test --local-interface 127.0.0.2 || return 1
        q=$SCN_Q
        scn_need_qid "$q" postscreen || return 1
        line=$(mta_wait mx3 "postscreen\[[0-9]+\]: PASS $f \[127\.0\.0\.2\]:[0-9]+") || return 1
        scn_session instance=mx3 port:="$P3" client=127.0.0.2 stage=CONNECT result="pass-${f,,}" log="$line"
        r=$(mta_follow mx3 "$q" alice@remote.test "$mid") || return 1
        r=$(mta_rcpt "$r" delivered) || return 1
        scn_msg "$mid" "$SCN_FROM" "$subj" "$(scn_sub mx3 "$P3" smtp 127.0.0.2 "$q")" "[$r]" || return 1
    done

    # Denylisted client: dropped with 521 before any SMTP.
    scn_swaks 21 "$P3" --local-interface 127.0.0.5 --helo client.else.test \
        --from "$SCN_FROM" --to alice@remote.test || return 1
    line=$(mta_wait mx3 "postscreen\[[0-9]+\]: DENYLISTED \[127\.0\.0\.5\]:[0-9]+") || return 1
    scn_session instance=mx3 port:="$P3" client=127.0.0.5 stage=CONNECT result=denylisted \
        code=521 reply="$(mta_last_reply "$SCN_TR")" log="$line"
}

# ---------------------------------------------------------------------------
# Runner

# scn_run NAME - run one scenario; append exactly one line to scenarios.jsonl
scn_run() {
    local name=$1 t0 t1 ok=true
    SCN_NAME=$name
    SCN_MSGS=()
    SCN_SESS=()
    MTA_ERRORS=()
    SCN_TR=
    t0=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    mta_mark
    mta_say "scenario $name: start"
    if ! "mta_scn_$name"; then
        ok=false
        [ ${#MTA_ERRORS[@]} -eq 0 ] && MTA_ERRORS+=("scenario function failed")
    fi
    # Isolation: nothing may be left in any queue for the next scenario.
    mta_wait_empty "${MTA_STARTED[@]}" || ok=false
    t1=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
    {
        printf '%s\n' "${SCN_MSGS[@]}" | jq -s -c .
        printf '%s\n' "${SCN_SESS[@]}" | jq -s -c .
        if [ ${#MTA_ERRORS[@]} -eq 0 ]; then echo "[]"; else printf "%s\n" "${MTA_ERRORS[@]}" | jq -R . | jq -s -c .; fi
    } | jq -s -c --arg s "$name" --argjson ok "$ok" --arg r "$RUN_ID" --arg t0 "$t0" --arg t1 "$t1" '
        {scenario: $s, ok: $ok, run_id: $r, started: $t0, finished: $t1,
         instances: ([.[0][].hops[], .[1][].instance] | unique),
         messages: .[0], sessions: .[1], errors: .[2]}' >>"$MTA_OUT/scenarios.jsonl"
    if [ "$ok" = true ]; then
        mta_say "scenario $name: PASS"
        return 0
    fi
    mta_say "scenario $name: FAIL"
    return 1
}
