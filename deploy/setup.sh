#!/bin/bash
# setup.sh - install every Debian package ELSE needs to build, test and run.
#
# Idempotent and non-interactive; run as root on Debian 12.  --bench also
# installs what only the benchmarks need (ompgsql for rsyslog).  Postfix is
# preseeded to "No configuration" so no system mail instance starts: the
# test harness runs its own instances under a scratch directory.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "setup.sh: must run as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

PKGS=(
	# build
	build-essential patch cmake pkg-config git ca-certificates
	clang clang-format libclang-rt-14-dev
	# libraries from the design card
	libnng-dev libprotobuf-c-dev protobuf-c-compiler libpq-dev libssl-dev
	libmicrohttpd-dev libcriterion-dev libnanomsg-dev
	# collector: rotated logs compressed by logrotate (path.2.gz); frontend
	# (issue 6): zlib for gzip, libcurl for elsectl, nodejs/npm for the web
	# UI's chart library (uPlot) and the browser test's playwright-core
	zlib1g-dev libcurl4-openssl-dev nodejs
	# real parts the tests run (rsyslog: a private rsyslogd forwards to the
	# collector's syslog listeners in tests/collector)
	rsyslog postgresql postfix swaks libnet-ssleay-perl openssl procps iproute2 psmisc
	# tools the test and bench scripts use
	jq gzip coreutils findutils python3 pflogsumm bc util-linux
	# the web UI test: two frontends behind HAProxy, driven by Chromium
	haproxy chromium fonts-dejavu-core curl
)

# --bench adds what only the benchmarks need: wrk (bench/search.sh) and
# rsyslog + ompgsql, the transport
# ELSE used to rely on (bench/ingest.sh runs it privately with its own config).
if [ "${1:-}" = "--bench" ]; then
	PKGS+=(rsyslog-pgsql wrk)
fi

# Debian's nodejs comes without npm (package npm); a nodejs from elsewhere
# bundles it and conflicts with Debian's npm: ask for npm only when missing.
if ! command -v npm >/dev/null 2>&1; then
	PKGS+=(npm)
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

# The browser-side packages of the web UI (frontend/www) and of its test
# (tests/frontend) from their committed package-lock.json files: the build
# runs `npm ci` into the build tree; doing it once here fills npm's cache, so
# builds and CI find them even when the registry is slow or away.
npm_warm() {
	local here lock tmp
	here=$(cd "$(dirname "$0")/.." && pwd)
	command -v npm >/dev/null 2>&1 || return 0
	for lock in "$here/frontend/www/package-lock.json" "$here/tests/frontend/package-lock.json"; do
		[ -f "$lock" ] || continue
		tmp=$(mktemp -d)
		cp "$(dirname "$lock")/package.json" "$lock" "$tmp/"
		npm ci --prefix "$tmp" --no-audit --no-fund --ignore-scripts --silent ||
			echo "setup.sh: npm ci for $lock failed (the build will retry)" >&2
		rm -rf "$tmp"
	done
}

# ELSE's NNG: Debian's source of the installed libnng-dev, built with one
# task thread (deploy/nng.sh says why).  Without it (no deb-src reachable)
# ELSE builds with the system's libnng: correct, but slower per request.
nng_build() {
	bash "$(dirname "$0")/nng.sh" ||
		echo "setup.sh: deploy/nng.sh failed: ELSE will build with the system's libnng" >&2
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup.sh: all ${#PKGS[@]} packages present"
	npm_warm
	nng_build
	exit 0
fi

echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string else.invalid" | debconf-set-selections
# rsyslog-pgsql would otherwise ask dbconfig-common to create a Syslog database.
echo "rsyslog-pgsql rsyslog-pgsql/dbconfig-install boolean false" | debconf-set-selections

apt_get() {
	# A fresh machine may hold the dpkg lock briefly (unattended jobs): retry.
	local i
	for i in 1 2 3 4 5; do
		if apt-get -o DPkg::Lock::Timeout=120 -y -q "$@"; then
			return 0
		fi
		sleep $((i * 5))
	done
	return 1
}

apt_get update
apt_get install --no-install-recommends "${missing[@]}"

# rsyslog-pgsql drops in an action that ships all syslog to a database named
# Syslog; ELSE's benchmark never wants the system rsyslog to do that.
if [ -f /etc/rsyslog.d/pgsql.conf ] && grep -q ompgsql /etc/rsyslog.d/pgsql.conf; then
	rm -f /etc/rsyslog.d/pgsql.conf
fi

# Debian starts a cluster and a system Postfix when it can; ELSE runs its own
# instances, so keep the packaged ones from holding ports or CPU.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now postfix postgresql haproxy >/dev/null 2>&1 || true
fi
npm_warm
nng_build
echo "setup.sh: installed ${missing[*]}"
