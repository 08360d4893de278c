#!/bin/bash
# collector.sh - else-collector throughput and CPU: lines read from a file,
# spooled (fsync every 200 ms) and shipped over mutual TLS, and the CPU it
# costs per 10,000 lines/s and at a busy ISP host's steady 500 lines/s.
#
#   bash bench/collector.sh [LINES]   (default 2,000,000; as root for the backend;
#                                      NO_BACKEND=1 skips the real-backend run)
#
# Two peers: bench_net (acknowledges without a database: the collector is
# the bottleneck) and the real else-backend with its embedded PostgreSQL
# (parsing, correlation, COPY: the backend is the bottleneck).  Reference in
# the same run: `cat FILE > /dev/null` and `wc -l` over the same file.
# CPU is utime+stime of the collector from /proc/PID/stat.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
lines=${1:-2000000}
build=${BUILD:-/tmp/build-bench-collector}
work=$(mktemp -d /tmp/else-bench-col.XXXXXX)
chmod 755 "$work"
port=$((33000 + RANDOM % 1000))
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=OFF >/dev/null
cmake --build "$build" -j2 --target else-collector bench_net else-backend >/dev/null
bin=$build/bin
hz=$(getconf CLK_TCK)
echo "machine: $(uname -m) $(uname -r), $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"

bash deploy/else-ca.sh init "$work/ca" >/dev/null
bash deploy/else-ca.sh server "$work/ca" backend >/dev/null
bash deploy/else-ca.sh client "$work/ca" bench >/dev/null
chmod 755 "$work/ca"
chmod 644 "$work/ca/ca.crt"

awk -v n="$lines" 'BEGIN { for (k = 1; k <= n; k++)
	printf "Nov 22 10:%02d:%02d mx1 postfix/smtp[%d]: %010X: to=<user%d@example.net>, relay=mx.example.net[192.0.2.1]:25, delay=0.4, dsn=2.0.0, status=sent (250 ok)\n",
	int(k / 60000) % 60, int(k / 1000) % 60, k % 30000, k, k % 5000 }' >"$work/mail.log"
bytes=$(stat -c %s "$work/mail.log")
echo "input: $lines lines, $((bytes / lines)) bytes/line, $((bytes / 1048576)) MiB"

t0=$(date +%s.%N)
cat "$work/mail.log" >/dev/null
t1=$(date +%s.%N)
wc -l <"$work/mail.log" >/dev/null
t2=$(date +%s.%N)
echo "reference: cat $(echo "$lines / ($t1 - $t0)" | bc) lines/s, wc -l $(echo "$lines / ($t2 - $t1)" | bc) lines/s (page cache)"

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
status_of() { "$bin/else-collector" -c /dev/null -o state_dir="$1" --status 2>/dev/null; }
# acked_of FILE: lines_acked of a status file into ACKED, without a fork
acked_of() {
	local s=
	ACKED=0
	{ read -r s <"$1"; } 2>/dev/null || return 0
	[[ $s =~ \"lines_acked\":([0-9]+) ]] && ACKED=${BASH_REMATCH[1]}
	return 0
}
exec {nap_fd}<> <(:) # read -t on it: a sleep without a fork

# run_collector NAME URL FILE: start, wait until every line of FILE is acked, print figures
run_collector() {
	local name=$1 url=$2 file=$3 want c0 c1 s0 s1 st pid
	want=$(wc -l <"$file")
	"$bin/else-collector" -c /dev/null -o source="file:$file" -o backend="$url" -o server_name=backend \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/client-bench.pem" \
		-o state_dir="$work/col-$name" -o status_ms=100 >"$work/col-$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	s0=$(date +%s.%N)
	# Polled with bash builtins only: a jq and an else-collector --status
	# every 50 ms took a fifth of this 2-core machine from what is measured.
	for _ in $(seq 1 12000); do
		acked_of "$work/col-$name/status.json"
		[ "$ACKED" -ge "$want" ] && break
		read -rt 0.05 -u "$nap_fd" || true
	done
	s1=$(date +%s.%N)
	c1=$(cpu_of "$pid")
	st=$(status_of "$work/col-$name" || true)
	kill -TERM "$pid"
	wait "$pid" || true
	[ "$(jq -r .lines_acked <<<"$st")" -ge "$want" ] || { echo "$name: not all lines acknowledged: $st"; tail -5 "$work/col-$name.log"; return 1; }
	local secs cpus rate
	secs=$(echo "$s1 - $s0" | bc -l)
	cpus=$(echo "$c1 / $hz" | bc -l)
	rate=$(echo "$want / $secs" | bc -l)
	printf "%s: %d lines read, spooled and acknowledged over TLS in %.2f s: %.0f lines/s; collector CPU %.2f s = %.2f cores, %.1f%% of a core per 10,000 lines/s\n" \
		"$name" "$want" "$secs" "$rate" "$cpus" "$(echo "$cpus / $secs" | bc -l)" \
		"$(echo "100 * $cpus / ($want / 10000)" | bc -l)"
}

"$bin/bench_net" "tls+tcp://127.0.0.1:$port" "$work/ca/ca.crt" "$work/ca/server-backend.pem" 4 >"$work/ack.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do grep -q port "$work/ack.log" && break; sleep 0.1; done
run_collector "ack-only peer (bench_net)" "tls+tcp://127.0.0.1:$port" "$work/mail.log"

# Steady 500 lines/s for 20 s: CPU of the collector while it follows the file.
: >"$work/steady.log"
"$bin/else-collector" -c /dev/null -o source="file:$work/steady.log" -o backend="tls+tcp://127.0.0.1:$port" \
	-o server_name=backend -o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/client-bench.pem" \
	-o state_dir="$work/col-steady" >"$work/col-steady.log" 2>&1 &
spid=$!
pids+=("$spid")
sleep 1
c0=$(cpu_of "$spid")
t0=$(date +%s.%N)
head -n 10000 "$work/mail.log" | awk '{ print; fflush(); if (NR % 50 == 0) system("sleep 0.1") }' >>"$work/steady.log"
t1=$(date +%s.%N)
sleep 1
c1=$(cpu_of "$spid")
kill -TERM "$spid"
wait "$spid" || true
printf "steady: 10000 lines at %.0f lines/s over %.1f s: collector CPU %.3f s = %.2f%% of a core\n" \
	"$(echo "10000 / ($t1 - $t0)" | bc -l)" "$(echo "$t1 - $t0" | bc -l)" \
	"$(echo "($c1 - $c0) / $hz" | bc -l)" "$(echo "100 * ($c1 - $c0) / $hz / ($t1 - $t0 + 1)" | bc -l)"

if [ "${NO_BACKEND:-0}" = 1 ]; then
	echo "real backend: skipped (NO_BACKEND=1)"
elif [ "$(id -u)" = 0 ]; then
	"$bin/else-backend" -o state_dir="$work/state" -o listen="tls+tcp://127.0.0.1:$((port + 1))" \
		-o ca_file="$work/ca/ca.crt" -o cert_file="$work/ca/server-backend.pem" -o query_listen= >"$work/backend.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 300); do grep -q "listening on" "$work/backend.log" && break; sleep 0.1; done
	run_collector "real else-backend + PostgreSQL" "tls+tcp://127.0.0.1:$((port + 1))" "$work/mail.log"
else
	echo "real backend: skipped (needs root for the embedded PostgreSQL)"
fi
