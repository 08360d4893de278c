#!/bin/bash
#
# run-scenarios.sh - run the ELSE mail scenarios through real Postfix instances
#
# Usage: run-scenarios.sh OUTDIR [scenario...]
#
# Starts mx1, mx2 and mx3 under OUTDIR (which must not hold instances already),
# runs the named scenarios (all of them by default) in order, stops every
# instance (also on error or interrupt) and leaves:
#   OUTDIR/<instance>/maillog   the real Postfix logs
#   OUTDIR/scenarios.jsonl      one JSON record per scenario (README.md)
#   OUTDIR/instances.json       ports, host names and queue ID style per instance
#   OUTDIR/swaks/               client transcripts, for debugging
# Exits 0 only if every scenario had the expected outcome.
# Environment: MTA_PORT_BASE (default 25250), MTA_TIMEOUT, MTA_VERBOSE.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=harness.sh
. "$here/harness.sh"
# shellcheck source=scenarios.sh
. "$here/scenarios.sh"

usage() {
    echo "usage: $0 OUTDIR [scenario...]" >&2
    echo "scenarios: ${SCN_ALL[*]}" >&2
    exit 2
}

[ $# -ge 1 ] || usage
case $1 in -h | --help) usage ;; esac
out=$1
shift
if [ $# -eq 0 ]; then
    set -- "${SCN_ALL[@]}"
fi
for s in "$@"; do
    declare -F "mta_scn_$s" >/dev/null || { echo "unknown scenario: $s" >&2; usage; }
done

mta_require
mta_init "$out"
[ -e "$MTA_OUT/scenarios.jsonl" ] && mta_die "$MTA_OUT already holds a run: use a fresh OUTDIR"
mta_trap
start=$SECONDS
scn_setup
: >"$MTA_OUT/scenarios.jsonl"

failed=()
for s in "$@"; do
    scn_run "$s" || failed+=("$s")
done

mta_stop_all
for n in mx1 mx2 mx3; do
    [ -z "$(mta_procs "$n")" ] || failed+=("cleanup:$n")
done

echo "mta: $# scenario(s) in $((SECONDS - start))s, output in $MTA_OUT" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "mta: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "mta: all scenarios passed" >&2
exit 0
