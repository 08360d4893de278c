#!/bin/bash
# nng.sh - build the NNG that ELSE links: Debian's own NNG source package,
# the same version as the installed libnng-dev, built as a static library
# with ONE task thread, into PREFIX (default /opt/else/nng).
#
#   deploy/nng.sh [PREFIX]
#
# Why: NNG completes every aio on a pool of task threads (2 per CPU in
# Debian's build).  One request over tls+tcp goes through about ten aio
# completions per process (poller, TCP, TLS, SP framing, REQ/REP, ctx), and
# with several task threads each hop wakes another sleeping thread: on the
# query path that was ~40 context switches per request in else-frontend and
# as many in else-backend, three quarters of their CPU.  With one task
# thread a hop runs on the thread that finished the previous one
# (docs/backend.md, "NNG's task threads", has the measurements).  Nothing
# in ELSE blocks in an NNG callback, which one task thread requires.
#
# It also applies ELSE's patches to that source, deploy/nng/*.patch, each
# explained in its header:
#   tls-gather.patch  one TLS record per small message instead of three.
#
# The source comes through apt (the machine's own Debian mirrors, as deb-src,
# in a private apt directory: the system's apt configuration is not touched),
# so its signature chain is Debian's.  Idempotent: a stamp in PREFIX records
# the version built.  CMake (common/CMakeLists.txt) uses PREFIX when it
# holds a build and falls back to the system's libnng (Debian's thread count)
# otherwise.
set -euo pipefail

prefix=${1:-/opt/else/nng}
threads=1

ver=$(dpkg-query -W -f='${Version}' libnng-dev 2>/dev/null || true)
if [ -z "$ver" ]; then
	echo "nng.sh: libnng-dev is not installed (run deploy/setup.sh)" >&2
	exit 1
fi
stamp="$prefix/else-nng.stamp"
patches=$(cd "$(dirname "$0")/nng" && pwd)
want="nng $ver taskq_threads=$threads patches=$(cat "$patches"/*.patch | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	echo "nng.sh: $want already in $prefix"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/parts" "$work/lists/partial" "$work/cache/archives/partial" "$work/src"

# deb-src twins of the machine's deb entries (one-line and deb822 formats).
if [ -f /etc/apt/sources.list ]; then
	sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$work/apt/sources.list"
else
	: >"$work/apt/sources.list"
fi
for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
	[ -f "$f" ] || continue
	case "$f" in
	*.sources) sed 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$f" >"$work/apt/parts/$(basename "$f")" ;;
	*.list) sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$work/apt/parts/$(basename "$f")" ;;
	esac
done
apt_src() {
	apt-get -q -o Dir::Etc::SourceList="$work/apt/sources.list" \
		-o Dir::Etc::SourceParts="$work/apt/parts" -o Dir::State::Lists="$work/lists" \
		-o Dir::Cache="$work/cache" -o APT::Sandbox::User=root "$@"
}
ok=0
for i in 1 2 3; do
	if apt_src update >"$work/apt.log" 2>&1 &&
		(cd "$work/src" && apt_src source --download-only "nng=$ver" >>"$work/apt.log" 2>&1); then
		ok=1
		break
	fi
	sleep $((i * 5))
done
if [ "$ok" != 1 ]; then
	tail -5 "$work/apt.log" >&2
	echo "nng.sh: cannot fetch Debian's source of nng $ver; ELSE builds with the system libnng" >&2
	exit 1
fi
# apt checked the files against the signed Sources index; dpkg-source's own
# check of the .dsc signature needs Debian's keyring and only warns without it.
(cd "$work/src" && dpkg-source -q -x nng_*.dsc nng) >"$work/dpkg.log" 2>&1 ||
	{ cat "$work/dpkg.log" >&2; exit 1; }
for p in "$patches"/*.patch; do
	patch -d "$work/src/nng" -p1 --forward --quiet <"$p" >"$work/patch.log" 2>&1 ||
		{ cat "$work/patch.log" >&2; echo "nng.sh: $(basename "$p") does not apply" >&2; exit 1; }
done

cmake -S "$work/src/nng" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS="-fstack-protector-strong -D_FORTIFY_SOURCE=2" \
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF -DNNG_ENABLE_TLS=ON \
	-DNNG_TESTS=OFF -DNNG_TOOLS=OFF -DNNG_ENABLE_NNGCAT=OFF \
	-DNNG_NUM_TASKQ_THREADS="$threads" -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/cmake.log" 2>&1 ||
	{ tail -20 "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j "$(nproc)" >"$work/build.log" 2>&1 ||
	{ tail -20 "$work/build.log" >&2; exit 1; }
rm -rf "$prefix"
cmake --install "$work/build" >/dev/null
echo "$want" >"$stamp"
echo "nng.sh: built $want into $prefix"
