#!/bin/bash
# privdrop.sh - else-collector started as root with `user` and `group` runs
# as that user with that supplementary group, and still reads a root:adm 0640
# log and writes its state directory.
#
#   (a) user=nobody, group=adm: /proc/PID/status shows Uid and Gid of nobody
#       in all four fields, Groups exactly {nogroup, adm}, no capabilities;
#       every line of the 0640 root:adm log is read, spooled (the state
#       directory, left root-owned by an earlier run as root, was handed
#       over) and acknowledged over mutual TLS by an ingest peer.
#       After a rotation nobody itself opens the new 0640 root:adm file
#       (the first was opened as root, before the drop) and reads it.
#   (b) the same with group empty: the key must then be readable otherwise,
#       and the new file after a rotation cannot be opened (reopen_errors
#       counted, none of its lines read): the group is what grants it.
#   (c) a user that does not exist: refused at start, nothing touched.
#
# The peer is bench_net (be_net with Hello/Auth and mutual TLS, acknowledging
# without a database): this test is about privileges, e2e.sh about storage.
#
# usage: privdrop.sh BINDIR   (as root; ELSE_TEST_PORT picks the port)
set -euo pipefail
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "collector privdrop: FAIL: must run as root (it drops privileges)" >&2; exit 1; }
getent passwd nobody >/dev/null && getent group adm >/dev/null && getent group nogroup >/dev/null ||
	{ echo "collector privdrop: FAIL: needs user nobody and groups adm, nogroup (Debian)" >&2; exit 1; }
work=$(mktemp -d /tmp/else-col-priv.XXXXXX)
chmod 755 "$work" # traversable by nobody; the log below is not readable by it
port=${ELSE_TEST_PORT:-$((27000 + RANDOM % 400 * 2))}
npid= cpid=
cleanup() {
	for p in $cpid $npid; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "collector privdrop: FAIL: $*" >&2
	for f in "$work"/col-*.log "$work/peer.log"; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -10 "$f" >&2; }
	done
	KEEP=1
	echo "collector privdrop: kept $work" >&2
	exit 1
}
say() { echo "collector privdrop: $*"; }

nobody_uid=$(id -u nobody)
nogroup_gid=$(getent group nogroup | cut -d: -f3)
adm_gid=$(getent group adm | cut -d: -f3)

bash "$root/deploy/else-ca.sh" init "$work/ca" >/dev/null
bash "$root/deploy/else-ca.sh" server "$work/ca" backend >/dev/null
bash "$root/deploy/else-ca.sh" client "$work/ca" mx1 >/dev/null
chmod 755 "$work/ca"
chmod 644 "$work/ca/ca.crt"
# The key as docs/collector.md installs it: readable by the service's group.
chgrp adm "$work/ca/client-mx1.pem"
chmod 0640 "$work/ca/client-mx1.pem"

# The log as Debian's rsyslog writes /var/log/mail.log.
mkdir -m 0755 "$work/log"
for i in $(seq 1 500); do
	echo "Nov 22 10:00:00 mx1 postfix/smtp[$i]: 4A1B2C3D$i: to=<u$i@example.net>, status=sent (250 ok)"
done >"$work/log/mail.log"
chown root:adm "$work/log/mail.log"
chmod 0640 "$work/log/mail.log"
# The test can fail: nobody alone cannot read it.
if runuser -u nobody -- cat "$work/log/mail.log" >/dev/null 2>&1; then
	fail "user nobody reads the 0640 root:adm log without adm: the test proves nothing"
fi

"$bin/bench_net" "tls+tcp://127.0.0.1:$port" "$work/ca/ca.crt" "$work/ca/server-backend.pem" 2 \
	>"$work/peer.log" 2>&1 &
npid=$!
for _ in $(seq 1 100); do grep -q port "$work/peer.log" && break; sleep 0.1; done
grep -q port "$work/peer.log" || fail "bench_net did not start"

# start NAME [-o k=v...]: else-collector in the background, pid in $cpid
start() {
	local name=$1
	shift
	"$bin/else-collector" -c /dev/null -o source="file:$work/log/mail.log" \
		-o backend="tls+tcp://127.0.0.1:$port" -o server_name=backend \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/client-mx1.pem" \
		-o state_dir="$work/state-$name" -o batch_ms=100 -o poll_ms=50 -o status_ms=100 \
		"$@" >"$work/col-$name.log" 2>&1 &
	cpid=$!
}
status() { "$bin/else-collector" -c /dev/null -o state_dir="$work/state-$1" --status 2>/dev/null || true; }
field() { jq -r "$2" <<<"$(status "$1")" 2>/dev/null || echo -1; }
stop() {
	kill -TERM "$cpid"
	wait "$cpid" || fail "else-collector ($1) did not stop cleanly"
	cpid=
}

# rotate FIRST LAST: rename mail.log away, a new root:adm 0640 one with lines FIRST..LAST
rotate() {
	mv "$work/log/mail.log" "$work/log/mail.log.1"
	install -m 0640 -g adm /dev/null "$work/log/mail.log"
	for i in $(seq "$1" "$2"); do
		echo "Nov 22 10:00:02 mx1 postfix/smtp[$i]: 4A1B2C3D$i: to=<u$i@example.net>, status=sent (250 ok)"
	done >>"$work/log/mail.log"
}

# ---------------------------------------------------------------- (a)
# An earlier run as root left the state directory root-owned.
start a0
for _ in $(seq 1 100); do [ "$(field a0 .lines_acked)" = 500 ] && break; sleep 0.1; done
[ "$(field a0 .lines_acked)" = 500 ] || fail "(a) as root: $(field a0 .lines_acked) of 500 acknowledged"
stop a0
mv "$work/state-a0" "$work/state-a"
[ "$(stat -c %U "$work/state-a")" = root ] || fail "(a) the first run did not leave a root-owned state"
# Append lines: the resumed stream ships only the new ones, as nobody.
for i in $(seq 501 600); do
	echo "Nov 22 10:00:01 mx1 postfix/smtp[$i]: 4A1B2C3D$i: to=<u$i@example.net>, status=sent (250 ok)"
done >>"$work/log/mail.log"
touch "$work/before-a"
start a -o user=nobody -o group=adm
for _ in $(seq 1 100); do [ "$(field a .lines_acked)" = 100 ] && break; sleep 0.1; done
[ "$(field a .lines_acked)" = 100 ] || fail "(a) as nobody: $(field a .lines_acked) of the 100 new lines acknowledged"
[ "$(field a '.streams[0].spooled_seq')" = 600 ] || fail "(a) stream at seq $(field a '.streams[0].spooled_seq'), want 600"
st=/proc/$cpid/status
[ "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")" = "$nobody_uid $nobody_uid $nobody_uid $nobody_uid" ] ||
	fail "(a) $(grep ^Uid: "$st")"
[ "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "$st")" = "$nogroup_gid $nogroup_gid $nogroup_gid $nogroup_gid" ] ||
	fail "(a) $(grep ^Gid: "$st")"
groups=$(awk '/^Groups:/ {for (i = 2; i <= NF; i++) print $i}' "$st" | sort -n | tr '\n' ' ')
want=$(printf '%s\n' "$nogroup_gid" "$adm_gid" | sort -n | tr '\n' ' ')
[ "$groups" = "$want" ] || fail "(a) Groups: $groups, want $want"
[ "$(awk '/^CapEff:/ {print $2}' "$st")" = 0000000000000000 ] || fail "(a) $(grep ^CapEff: "$st")"
# Every thread, not only the main one (the readers and the shipper).
for t in /proc/$cpid/task/*; do
	[ "$(awk '/^Uid:/ {print $2}' "$t/status")" = "$nobody_uid" ] || fail "(a) thread $t is not nobody"
done
# The state directory was handed over and is written by nobody.
bad=$(find "$work/state-a" ! -user nobody | head -3)
[ -z "$bad" ] || fail "(a) not owned by nobody: $bad"
[ -n "$(find "$work/state-a/spool" -newer "$work/before-a" -type f)" ] || fail "(a) no spool file written"
grep -q "running as user nobody, group adm" "$work/col-a.log" || fail "(a) no 'running as user' in the log"
# The file was opened as root, before the drop: a rotation makes nobody open
# the new 0640 root:adm file itself, which only adm allows.
rotate 601 650
for _ in $(seq 1 100); do [ "$(field a .lines_acked)" = 150 ] && break; sleep 0.1; done
[ "$(field a .lines_acked)" = 150 ] || fail "(a) after rotation: $(status a)"
[ "$(field a '.sources[0].rotations')" -ge 1 ] || fail "(a) no rotation counted: $(status a)"
[ "$(field a '.sources[0].reopen_errors')" = 0 ] || fail "(a) reopen errors: $(status a)"
stop a
say "(a) as nobody + adm (Uid/Gid $nobody_uid, Groups ${groups% }, no capabilities): the 0640 root:adm log read, also after a rotation, the root-owned state taken over, shipped up to seq 650"

# ---------------------------------------------------------------- (b)
# Its key readable without adm (else it stops at start, which is checked too).
install -m 0640 -g nogroup "$work/ca/client-mx1.pem" "$work/ca/client-nogroup.pem"
"$bin/else-collector" -c /dev/null -o source="file:$work/log/mail.log" \
	-o backend="tls+tcp://127.0.0.1:$port" -o ca_file="$work/ca/ca.crt" \
	-o cert_file="$work/ca/client-mx1.pem" -o state_dir="$work/state-b0" \
	-o user=nobody -o group= >"$work/col-b0.log" 2>&1 && fail "(b) started without access to its key"
grep -q "is not readable by user nobody" "$work/col-b0.log" || fail "(b) $(cat "$work/col-b0.log")"
start b -o user=nobody -o group= -o cert_file="$work/ca/client-nogroup.pem"
# The file opened as root before the drop is read (50 lines)...
for _ in $(seq 1 100); do [ "$(field b .lines_acked)" = 50 ] && break; sleep 0.1; done
[ "$(field b .lines_acked)" = 50 ] || fail "(b) before rotation: $(status b)"
groups=$(awk '/^Groups:/ {for (i = 2; i <= NF; i++) print $i}' "/proc/$cpid/status" | tr '\n' ' ')
[ "$groups" = "$nogroup_gid " ] || fail "(b) Groups: $groups, want only $nogroup_gid"
# ...but the new file after a rotation is not: nobody without adm cannot open it.
rotate 651 670
for _ in $(seq 1 100); do [ "$(field b '.sources[0].reopen_errors')" -gt 0 ] 2>/dev/null && break; sleep 0.1; done
[ "$(field b '.sources[0].reopen_errors')" -gt 0 ] 2>/dev/null || fail "(b) no reopen error without adm: $(status b)"
sleep 1
[ "$(field b .lines_read)" = 50 ] || fail "(b) read $(field b .lines_read) lines, want the 50 before the rotation"
stop b
say "(b) without group adm: a key it cannot read stops it at start; the rotated-in 0640 root:adm log is refused (reopen_errors), none of its lines read"

# ---------------------------------------------------------------- (c)
if "$bin/else-collector" -c /dev/null -o source="file:$work/log/mail.log" \
	-o backend="tls+tcp://127.0.0.1:$port" -o ca_file="$work/ca/ca.crt" \
	-o cert_file="$work/ca/client-mx1.pem" -o state_dir="$work/state-c" \
	-o user=else-no-such-user >"$work/col-c.log" 2>&1; then
	fail "(c) started with a user that does not exist"
fi
grep -q "user else-no-such-user: no such user" "$work/col-c.log" || fail "(c) $(cat "$work/col-c.log")"
[ ! -e "$work/state-c" ] || fail "(c) the state directory was created anyway"
say "(c) an unknown user is refused at start, nothing created"
say "OK"
