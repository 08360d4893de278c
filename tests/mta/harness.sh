# shellcheck shell=bash
#
# harness.sh - real-Postfix test harness for ELSE (a library: source it, do not run it)
#
# Starts several independent Postfix instances on loopback, each with its own
# config_directory, queue_directory, data_directory and maillog_file under
# $MTA_OUT/<name>/, drives mail through them and checks what really happened by
# reading their logs. The scenarios themselves live in scenarios.sh; the CLI is
# run-scenarios.sh; the volume generator is gen-volume.sh. README.md documents the
# layout, the JSON record format and the Postfix quirks met on the way.
#
# CONVENTIONS
#   Every function is prefixed mta_. Functions return 0 or 1 and never exit, except
#   mta_die (broken environment at start). A failed check prints "mta: FAIL: ..." on
#   stderr and appends to MTA_ERRORS, so the caller can record it and go on.
#   Waits are bounded polls of a log (from a remembered byte offset) or of a queue,
#   with a timeout (MTA_TIMEOUT seconds) that fails loudly; there are no fixed sleeps.
#
# ENVIRONMENT
#   MTA_PORT_BASE  first TCP port (default 25250); instance k uses BASE+10k .. +9.
#   MTA_TIMEOUT    seconds for one wait (default 30).
#   MTA_VERBOSE    1 = progress messages on stderr (default 1).
#
# SECURITY
#   Runs as root (Postfix needs it to start). Everything it creates is under
#   $MTA_OUT; it never touches /etc/postfix and only ends processes whose
#   environment carries MAIL_CONFIG=<one of its own config directories>.

: "${MTA_PORT_BASE:=25250}"
: "${MTA_TIMEOUT:=30}"
: "${MTA_VERBOSE:=1}"

MTA_OUT=${MTA_OUT:-}
MTA_STARTED=()           # instances this shell started (for mta_stop_all)
MTA_ERRORS=()            # failed checks of the current scenario
declare -A MTA_PORT_OWNER  # TCP port -> instance name (to follow relay= hops)
declare -A MTA_OFF         # instance -> byte offset of its maillog (mta_mark)

# mta_say - progress message on stderr
mta_say() { [ "$MTA_VERBOSE" = 1 ] && printf '%s mta: %s\n' "$(date +%T.%N | cut -c1-12)" "$*" >&2; return 0; }

# mta_die - broken environment: print and exit non-zero
mta_die() { printf 'mta: FATAL: %s\n' "$*" >&2; exit 1; }

# mta_fail - record a failed check of the running scenario; always returns 1
mta_fail() {
    printf 'mta: FAIL: %s\n' "$*" >&2
    MTA_ERRORS+=("$*")
    return 1
}

# mta_re - escape a literal string for use inside an ERE
mta_re() { printf '%s' "$1" | sed -e 's/[][\\.*^$+?(){}|/]/\\&/g'; }

# ---------------------------------------------------------------------------
# Environment checks

# mta_require - check the tools the harness needs; die with the install line if not
mta_require() {
    local t missing=()
    for t in postfix postconf postqueue postsuper sendmail swaks smtp-source jq openssl ss runuser timeout; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    [ ${#missing[@]} -eq 0 ] ||
        mta_die "missing tools: ${missing[*]} (apt-get install postfix swaks libnet-ssleay-perl jq openssl)"
    [ "$(id -u)" = 0 ] || mta_die "must run as root (Postfix instances need it)"
    swaks --support 2>&1 | grep -q "=== TLS supported" ||
        mta_die "swaks has no TLS support: apt-get install libnet-ssleay-perl"
    id nobody >/dev/null 2>&1 || mta_die "user nobody missing (local(8) delivers to files as default_privs=nobody)"
    id postfix >/dev/null 2>&1 || mta_die "user postfix missing"
}

# mta_init OUTDIR - create (or reuse an empty) output directory and remember it
mta_init() {
    local out=$1
    mkdir -p "$out" || mta_die "cannot create $out"
    MTA_OUT=$(cd "$out" && pwd)
    # local(8) writes mailbox files as nobody: every parent must be searchable.
    chmod 0755 "$MTA_OUT"
    runuser -u nobody -- test -x "$MTA_OUT" ||
        mta_die "$MTA_OUT is not searchable by user nobody (local(8) delivers as nobody): use another OUTDIR"
}

# mta_port K J - port J of instance slot K (BASE + 10K + J)
mta_port() { echo $((MTA_PORT_BASE + 10 * $1 + $2)); }

# mta_port_free PORT - true if nothing listens on 127.0.0.1:PORT
mta_port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# ---------------------------------------------------------------------------
# Instances

mta_dir() { echo "$MTA_OUT/$1"; }
mta_etc() { echo "$MTA_OUT/$1/etc"; }
mta_maillog() { echo "$MTA_OUT/$1/maillog"; }

# mta_instance_new NAME PORT [main.cf settings...] - create config, queue, data dirs
#   The smtp/inet service is bound to 127.0.0.1:PORT; every service runs without
#   chroot; logging goes to $MTA_OUT/NAME/maillog. Extra "name = value" settings are
#   applied with postconf -e after the base ones.
mta_instance_new() {
    local name=$1 port=$2 d etc
    shift 2
    d=$(mta_dir "$name")
    etc=$d/etc
    [ -e "$d" ] && mta_die "instance directory $d already exists: use a fresh OUTDIR"
    mkdir -p "$etc" "$d/queue" "$d/data" "$d/mail" "$d/spool" || mta_die "mkdir under $d"
    chown root:root "$d/queue"       # queue_directory: root-owned before start
    chown postfix "$d/data"          # data_directory: master locks it as postfix
    chown nobody "$d/mail"           # local(8) delivers to files as default_privs
    cp /etc/postfix/master.cf "$etc/master.cf"
    cat >"$etc/main.cf" <<EOF
# Generated by tests/mta/harness.sh for instance $name. Throwaway.
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
myhostname = $name.else.test
mydomain = else.test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
maillog_file = $d/maillog
maillog_file_prefixes = $d
smtp_dns_support_level = disabled
alias_maps = texthash:$etc/aliases
alias_database =
local_recipient_maps = \$alias_maps
mail_spool_directory = $d/spool
biff = no
mydestination = \$myhostname, localhost
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_tls_loglevel = 1
smtp_tls_loglevel = 1
EOF
    # postconf -M/-F edit master.cf in place.
    postconf -c "$etc" -F "smtp/inet/service = 127.0.0.1:$port" || mta_die "postconf -F service ($name)"
    postconf -c "$etc" -F '*/*/chroot = n' || mta_die "postconf -F chroot ($name)"
    if [ $# -gt 0 ]; then
        postconf -c "$etc" -e "$@" || mta_die "postconf -e ($name): $*"
    fi
    : >"$etc/aliases"
    MTA_PORT_OWNER[$port]=$name
    mta_say "instance $name: $etc (smtp 127.0.0.1:$port)"
}

# mta_conf NAME "name = value"... - change main.cf of a created instance
mta_conf() { local name=$1; shift; postconf -c "$(mta_etc "$name")" -e "$@" || mta_fail "postconf -e $name: $*"; }

# mta_service NAME PORT ENTRY - add an inet service 127.0.0.1:PORT to master.cf
#   ENTRY is the rest of the master.cf line after "type", e.g.
#   "n - n - - smtpd -o smtpd_delay_reject=no".
mta_service() {
    local name=$1 port=$2 entry=$3
    postconf -c "$(mta_etc "$name")" -M "127.0.0.1:$port/inet=127.0.0.1:$port inet $entry" ||
        mta_die "postconf -M $name $port"
    MTA_PORT_OWNER[$port]=$name
}

# mta_unix_service NAME SERVICE ENTRY - add or replace a unix service in master.cf
mta_unix_service() {
    local name=$1 svc=$2 entry=$3
    postconf -c "$(mta_etc "$name")" -M "$svc/unix=$svc unix $entry" || mta_die "postconf -M $name $svc"
}

# mta_alias NAME KEY VALUE - add a local alias (texthash format: "key value")
mta_alias() { printf '%s\t%s\n' "$2" "$3" >>"$(mta_etc "$1")/aliases"; }

# mta_alias_file NAME USER - alias USER to the file $MTA_OUT/NAME/mail/USER
mta_alias_file() { mta_alias "$1" "$2" "$(mta_dir "$1")/mail/$2"; }

# mta_mailbox NAME USER - path of the mailbox file of USER on NAME
mta_mailbox() { echo "$(mta_dir "$1")/mail/$2"; }

# mta_procs NAME - pids of processes whose environment says MAIL_CONFIG=<etc of NAME>
mta_procs() {
    local etc
    etc=$(mta_etc "$1")
    grep -lzxF "MAIL_CONFIG=$etc" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
    return 0
}

# mta_start NAME... - start instances (in parallel); returns once their ports accept
mta_start() {
    local name etc port pids=() rc=0 i
    for name in "$@"; do
        postfix -c "$(mta_etc "$name")" start >/dev/null 2>&1 &
        pids+=($!)
    done
    i=0
    for name in "$@"; do
        wait "${pids[$i]}" || rc=1
        i=$((i + 1))
        case " ${MTA_STARTED[*]} " in *" $name "*) ;; *) MTA_STARTED+=("$name") ;; esac
    done
    if [ $rc != 0 ]; then
        for name in "$@"; do tail -n 10 "$(mta_maillog "$name")" | sed "s/^/    $name: /" >&2; done
        mta_die "postfix start failed for $* (logs above)"
    fi
    # postfix start returns when master has bound its sockets; check it anyway.
    for name in "$@"; do
        etc=$(mta_etc "$name")
        for port in $(postconf -c "$etc" -M 2>/dev/null | awk '$2 == "inet" {print $1}'); do
            port=${port##*:}
            mta_port_free "$port" && mta_die "$name: nothing listens on 127.0.0.1:$port after start"
        done
        mta_say "started $name"
    done
    return 0
}

# mta_stop NAME - stop an instance and wait until none of its processes is left
mta_stop() {
    local name=$1 etc i pids
    etc=$(mta_etc "$name")
    [ -d "$etc" ] || return 0
    if [ -n "$(mta_procs "$name")" ]; then
        postfix -c "$etc" stop >/dev/null 2>&1 || mta_say "postfix stop $name returned non-zero"
    fi
    # postfix stop waits for master; its children may still be exiting. Bounded poll.
    for ((i = 0; i < 100; i++)); do
        pids=$(mta_procs "$name")
        [ -z "$pids" ] && { mta_say "stopped $name"; return 0; }
        sleep 0.1
    done
    mta_say "$name: processes left after stop, killing: $pids"
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null
    return 1
}

# mta_stop_all - stop every instance started by this shell (used by the EXIT trap)
mta_stop_all() {
    local n pids=()
    for n in "${MTA_STARTED[@]}"; do
        mta_stop "$n" &
        pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n"; done
    MTA_STARTED=()
}

# mta_trap - stop all instances on exit, interrupt or error of the calling script
mta_trap() {
    trap 'mta_stop_all' EXIT
    trap 'mta_say "interrupted"; exit 130' INT TERM
}

# ---------------------------------------------------------------------------
# Logs: every search starts at a remembered byte offset, never at a fixed sleep.

# mta_size NAME - current size in bytes of the maillog of NAME
mta_size() { stat -c %s "$(mta_maillog "$1")" 2>/dev/null || echo 0; }

# mta_mark [NAME...] - remember the current end of the maillogs (all started if none)
mta_mark() {
    local n
    [ $# -eq 0 ] && set -- "${MTA_STARTED[@]}"
    for n in "$@"; do MTA_OFF[$n]=$(mta_size "$n"); done
}

# mta_since NAME - log lines of NAME written after its mark
mta_since() { tail -c +$((${MTA_OFF[$1]:-0} + 1)) "$(mta_maillog "$1")" 2>/dev/null; }

# mta_grep NAME ERE - matching lines since the mark (no waiting)
mta_grep() { mta_since "$1" | grep -E -- "$2"; }

# mta_wait NAME ERE [TIMEOUT] - wait for a matching line since the mark; print it
mta_wait() {
    local name=$1 re=$2 t=${3:-$MTA_TIMEOUT} line i n
    n=$((t * 10))
    for ((i = 0; i <= n; i++)); do
        line=$(mta_since "$name" | grep -E -m1 -- "$re") && { printf '%s\n' "$line"; return 0; }
        sleep 0.1
    done
    printf 'mta: timeout (%ss) waiting in %s log for /%s/; log since mark:\n' "$t" "$name" "$re" >&2
    mta_since "$name" | tail -n 25 | sed 's/^/    /' >&2
    mta_fail "timeout waiting in $name log for /$re/"
}

# mta_wait_removed NAME QID - wait for "QID: removed" (message left the queue)
mta_wait_removed() { mta_wait "$1" ": $2: removed\$" >/dev/null; }

# ---------------------------------------------------------------------------
# Queues

# mta_queue_json NAME - postqueue -j output (one JSON object per message)
mta_queue_json() { postqueue -c "$(mta_etc "$1")" -j 2>/dev/null; }

# mta_queue_of NAME QID - which queue (hold, deferred, active, ...) holds QID, or empty
mta_queue_of() { mta_queue_json "$1" | jq -r --arg q "$2" 'select(.queue_id == $q) | .queue_name'; }

# mta_wait_queue NAME QID QUEUE - wait until QID sits in queue QUEUE
mta_wait_queue() {
    local i n=$((MTA_TIMEOUT * 10))
    for ((i = 0; i <= n; i++)); do
        [ "$(mta_queue_of "$1" "$2")" = "$3" ] && return 0
        sleep 0.1
    done
    mta_fail "$1: $2 never reached the $3 queue"
}

# mta_wait_empty NAME... - wait until the queues of all NAMEs are empty at once
mta_wait_empty() {
    local i n=$((MTA_TIMEOUT * 10)) x busy
    for ((i = 0; i <= n; i++)); do
        busy=
        for x in "$@"; do [ -n "$(mta_queue_json "$x")" ] && busy="$busy $x"; done
        [ -z "$busy" ] && return 0
        sleep 0.1
    done
    for x in $busy; do mta_queue_json "$x" | sed "s/^/    $x: /" >&2; done
    mta_fail "queues not empty after ${MTA_TIMEOUT}s:$busy"
}

# ---------------------------------------------------------------------------
# Submitting mail

# mta_swaks TRANSCRIPT EXPECT_RC PORT swaks-args... - run swaks against 127.0.0.1:PORT
#   The full transcript goes to TRANSCRIPT; a different exit code than EXPECT_RC is a
#   failed check. Prints the queue ID from "250 ... queued as QID" (may be empty).
mta_swaks() {
    local tr=$1 want=$2 port=$3 rc
    shift 3
    mkdir -p "$(dirname "$tr")"
    timeout 60 swaks --server 127.0.0.1 --port "$port" --timeout 30 "$@" >"$tr" 2>&1
    rc=$?
    if [ "$rc" != "$want" ]; then
        sed 's/^/    /' "$tr" | tail -n 30 >&2
        mta_fail "swaks to port $port exited $rc, expected $want (transcript $tr)"
        return 1
    fi
    grep -oE 'queued as [0-9A-Za-z]+' "$tr" | tail -n 1 | cut -d' ' -f3
    return 0
}

# mta_last_reply TRANSCRIPT - the server's last reply before swaks sent QUIT
#   (the reply that decided the transaction: "250 ... queued as", or the refusal)
mta_last_reply() {
    awk '/^ *<[-~*]+ +[0-9][0-9][0-9][ -]/ { r = $0 }
         /^ *[-~*]+> +QUIT/ { q = r }
         END { print (q != "" ? q : r) }' "$1" | sed -E 's/^ *<[-~*]+ +//'
}

# mta_smtp_read FD - read one (multi-line) SMTP reply from FD; print its last line
mta_smtp_read() {
    local fd=$1 line
    while IFS= read -r -t "$MTA_TIMEOUT" -u "$fd" line; do
        line=${line%$'\r'}
        [[ $line =~ ^[0-9]{3}\  ]] && { printf '%s\n' "$line"; return 0; }
        [[ $line =~ ^[0-9]{3}- ]] || { printf '%s\n' "$line"; return 1; }
    done
    return 1
}

# ---------------------------------------------------------------------------
# Following a message through the instances

# mta_rcpt_lines NAME QID ADDR - final delivery lines of ADDR (to= or orig_to=) for QID
mta_rcpt_lines() {
    local a q
    a=$(mta_re "$2: ")
    q=$(mta_re "$3")
    mta_grep "$1" ": $a(to=<$q>|to=<[^>]*>, orig_to=<$q>), .*status=(sent|bounced|expired)"
}

# mta_follow NAME QID ADDR MID - follow ADDR of message QID from NAME to its end
#   Waits for "QID: removed" at each hop, reads the final status lines, and follows
#   "queued as NEXT" to the instance owning the relay port. Prints one JSON object:
#   {"address","status":"delivered|bounced|expired","path":[{instance,queue_id}],
#    "final_instance","final_queue_id","delivered_to":[{address,file}],"detail"}.
#   A delivered message must have landed in a file that contains <MID>.
mta_follow() {
    local inst=$1 qid=$2 addr=$3 mid=$4 path='[]' lines line relay port next status
    local dto='[]' f to detail hops=0
    while :; do
        hops=$((hops + 1))
        [ $hops -gt 6 ] && { mta_fail "follow $addr: too many hops"; return 1; }
        path=$(jq -c --arg i "$inst" --arg q "$qid" '. + [{instance: $i, queue_id: $q}]' <<<"$path")
        mta_wait_removed "$inst" "$qid" || return 1
        lines=$(mta_rcpt_lines "$inst" "$qid" "$addr")
        if [ -z "$lines" ]; then
            # An expired message may end with a from= line and no to= line.
            line=$(mta_grep "$inst" ": $qid: from=<[^>]*>, status=(force-)?expired") ||
                { mta_fail "$inst: no final status line for $addr in $qid"; return 1; }
            status=expired
            detail=${line#*status=}
            break
        fi
        line=$(head -n 1 <<<"$lines")
        status=$(sed -E 's/.*, status=([a-z]+).*/\1/' <<<"$line")
        relay=$(sed -E 's/.*, relay=([^,]+),.*/\1/' <<<"$line")
        detail=$(sed -E 's/.*, status=[a-z]+ //' <<<"$line")
        if [ "$status" = sent ] && [[ $relay =~ ^[^,]*\[127\.0\.0\.1\]:([0-9]+)$ ]]; then
            port=${BASH_REMATCH[1]}
            next=$(grep -oE 'queued as [0-9A-Za-z]+\)' <<<"$line" | tr -d ')' | cut -d' ' -f3)
            [ -n "$next" ] || { mta_fail "$inst: no 'queued as' in: $line"; return 1; }
            inst=${MTA_PORT_OWNER[$port]:-}
            [ -n "$inst" ] || { mta_fail "relay port $port belongs to no instance: $line"; return 1; }
            qid=$next
            continue
        fi
        break
    done
    case $status in
    sent)
        status=delivered
        while IFS= read -r line; do
            to=$(sed -E 's/.*: to=<([^>]*)>.*/\1/' <<<"$line")
            f=$(sed -nE 's/.*\(delivered to file: (.*)\)$/\1/p' <<<"$line")
            [ -n "$f" ] || { mta_fail "$inst: $addr sent but not to a file: $line"; return 1; }
            grep -qF "<$mid>" "$f" || { mta_fail "$f does not contain <$mid>"; return 1; }
            dto=$(jq -c --arg a "$to" --arg f "$f" '. + [{address: $a, file: $f}]' <<<"$dto")
        done <<<"$lines"
        ;;
    bounced | expired) ;;
    *) mta_fail "$inst: unexpected status '$status' for $addr: $line"; return 1 ;;
    esac
    jq -n -c --arg a "$addr" --arg s "$status" --argjson p "$path" --arg fin "$inst" \
        --arg fq "$qid" --argjson d "$dto" --arg x "$detail" \
        '{address: $a, status: $s, path: $p, final_instance: $fin, final_queue_id: $fq,
          delivered_to: $d, detail: $x}'
}

# mta_dsn_qid NAME QID - queue ID of the non-delivery notification made for QID
mta_dsn_qid() {
    local line
    line=$(mta_wait "$1" ": $2: sender non-delivery notification: [0-9A-Za-z]+$") || return 1
    echo "${line##* }"
}

# ---------------------------------------------------------------------------
# JSON records (jq builds every value; no string pasting)

# mta_obj key=value key:=json ... - print a compact JSON object
mta_obj() {
    local kv args=()
    for kv; do
        if [[ $kv =~ ^([A-Za-z_][A-Za-z0-9_]*):=(.*)$ ]]; then
            args+=(--argjson "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
        elif [[ $kv =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
            args+=(--arg "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
        else
            mta_die "mta_obj: bad argument '$kv'"
        fi
    done
    jq -n -c "${args[@]}" '$ARGS.named'
}

# mta_strs s... - print a JSON array of strings
#   (not jq --args: jq 1.6 still parses options after it, e.g. --local-interface)
mta_strs() { [ $# -eq 0 ] && { echo "[]"; return; }; printf "%s\n" "$@" | jq -R . | jq -s -c .; }

# mta_rcpt FOLLOW_JSON EXPECT - add "expect" to a mta_follow result; check it matches
#   EXPECT is the observed final status the scenario requires; the record keeps both.
mta_rcpt() {
    local got
    got=$(jq -r .status <<<"$1")
    jq -c --arg e "$2" '{address, expect: $e} + .' <<<"$1"
    case "$2" in
    "$got" | held-then-"$got" | deferred-then-"$got") return 0 ;;
    esac
    mta_fail "$(jq -r .address <<<"$1"): expected $2, got $got ($(jq -r .detail <<<"$1"))"
}

# mta_message MID FROM SUBJECT SUBMISSION RCPTS [NOTIFICATIONS] - one message record
#   SUBMISSION is an object, RCPTS and NOTIFICATIONS arrays (JSON). path, hops and
#   queue_ids are derived from the recipients' paths.
mta_message() {
    jq -n -c --arg m "$1" --arg f "$2" --arg s "$3" --argjson sub "$4" --argjson r "$5" \
        --argjson n "${6:-[]}" '
        def uniq: reduce .[] as $x ([]; if any(.[]; . == $x) then . else . + [$x] end);
        ([$sub | select(.queue_id != null and .queue_id != "") | {instance, queue_id}]
          + [$r[] | .path // [] | .[]] | uniq) as $path
        | {message_id: $m, from: $f, subject: $s, submission: $sub,
           hops: [$path[].instance], path: $path,
           queue_ids: (reduce $path[] as $p ({}; .[$p.instance] += [$p.queue_id])),
           recipients: $r, notifications: $n}'
}

# mta_dsn NAME QID SENDER MID [TYPE] - follow the notification made for QID to SENDER
#   Prints a notification object: {type, instance, queue_id, to, status, path, ...}.
mta_dsn() {
    local d f
    d=$(mta_dsn_qid "$1" "$2") || return 1
    f=$(mta_follow "$1" "$d" "$3" "$4") || return 1
    jq -c --arg t "${5:-non-delivery}" --arg i "$1" --arg q "$d" --arg o "$2" \
        '{type: $t, for_queue_id: $o, instance: $i, queue_id: $q, to: .address} + .' <<<"$f"
}
