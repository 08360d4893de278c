#!/bin/bash
# db.sh - COPY rate of raw lines into the lines table (bench/bench_db.c).
#
#   bench/db.sh [--lines N] [--batch N] [--sql STMT] [--no-build] [FILE...]
#
# Builds a Release tree in build-bench/ (bench_db and pg_tool), starts a
# throwaway embedded PostgreSQL (tests/pg/with_pg.sh) and writes N lines
# (default 1,000,000: tests/data/postfix/*.log repeated) three ways: through
# be_db as the ingest path does, plain binary COPY, plain text COPY.
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--no-build) build=0 ;;
	--lines | --batch | --sql) args+=("$1" "$2"); shift ;;
	*) break ;;
	esac
	shift
done
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/data/postfix/*.log)
if [ $build = 1 ]; then
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DELSE_TESTS=ON >/dev/null
	cmake --build build-bench -j"$(nproc)" --target bench_db pg_tool >/dev/null
fi
exec bash tests/pg/with_pg.sh build-bench/bin/pg_tool build-bench/bin/bench_db "${args[@]}" "${files[@]}"
