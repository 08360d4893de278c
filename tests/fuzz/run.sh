#!/bin/bash
# run.sh - build the libFuzzer targets with clang and run each for a bounded time.
#
# usage: tests/fuzz/run.sh [SECONDS]   (default 60 per target)
# Seeds come from the real logs under tests/data (one line per seed file).
# Crashes are written to build-fuzz/artifacts/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-60}
CC=clang cmake -S . -B build-fuzz -DELSE_FUZZ=ON -DELSE_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz --target fuzz_parse fuzz_frame -j"$(nproc)"

corpus=build-fuzz/corpus/parse
mkdir -p "$corpus" build-fuzz/artifacts
if [ -z "$(ls -A "$corpus")" ]; then
	n=0
	while IFS= read -r -d '' f; do
		while IFS= read -r line && [ $n -lt 4000 ]; do
			printf '%s' "$line" >"$corpus/seed-$n"
			n=$((n + 1))
		done <"$f"
	done < <(find tests/data -name '*.log' -print0 | sort -z)
	echo "fuzz: seeded $n lines"
fi
build-fuzz/bin/fuzz_parse -max_total_time="$secs" -max_len=4096 -timeout=10 \
	-artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 "$corpus" 2>&1 | tail -15
echo "fuzz: parser ran ${secs}s without a crash"

# The collector's syslog TCP framing decoder, seeded with both framings.
corpus=build-fuzz/corpus/frame
mkdir -p "$corpus"
if [ -z "$(ls -A "$corpus")" ]; then
	printf 'AB<13>Nov 22 13:23:01 mx1 postfix/qmgr[1]: ABC: removed\n<14>x\n' >"$corpus/seed-lf"
	printf 'AB52 <13>Nov 22 13:23:01 mx1 postfix/qmgr[1]: ABC: removed5 hello' >"$corpus/seed-oct"
	printf '\x05\x03300 xxxxxxxx' >"$corpus/seed-cut"
fi
build-fuzz/bin/fuzz_frame -max_total_time="$secs" -max_len=4096 -timeout=10 \
	-artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 "$corpus" 2>&1 | tail -15
echo "fuzz: framing decoder ran ${secs}s without a crash"
# The JSON API (issue 6): seeds are the request bodies of docs/api.md.
cmake --build build-fuzz --target fuzz_pbjson -j"$(nproc)"
jcorpus=build-fuzz/corpus/pbjson
mkdir -p "$jcorpus"
if [ -z "$(ls -A "$jcorpus")" ]; then
	n=0
	while IFS= read -r line; do
		printf '%s' "$line" >"$jcorpus/seed-$n"
		n=$((n + 1))
	done < <(sed -n 's/^    POST \/api\/\([a-z_]*\) \(.*\)$/{"\1":\2}/p' docs/api.md)
	echo "fuzz: seeded $n JSON bodies"
fi
build-fuzz/bin/fuzz_pbjson -max_total_time="$secs" -max_len=8192 -timeout=10 \
	-artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 "$jcorpus" 2>&1 | tail -15
echo "fuzz: JSON API ran ${secs}s without a crash"
