#!/bin/bash
#
# capture-golden.sh - regenerate tests/data/postfix/ from real Postfix runs
#
# Usage: capture-golden.sh [WORKDIR]   (default /tmp/else-mta-golden)
#
# Runs every scenario into WORKDIR/scenarios and, only if all passed, copies:
#   WORKDIR/scenarios/<inst>/maillog -> tests/data/postfix/<inst>.maillog.log
#   WORKDIR/scenarios/scenarios.jsonl, instances.json -> tests/data/postfix/
# Then runs gen-volume.sh with VOLUME_N messages (default 170, about 2000 lines)
# into WORKDIR/volume and copies its merged log to volume-sample.log (and its
# counts to volume-sample.json). A fixed WORKDIR keeps the paths inside the logs
# (mailbox files) stable from one capture to the next.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data=$(cd "$here/../data" && pwd)/postfix
work=${1:-/tmp/else-mta-golden}
n=${VOLUME_N:-170}

# Remove only what an earlier capture left there.
for d in "$work/scenarios" "$work/volume"; do
    if [ -e "$d" ]; then
        [ -e "$d/instances.json" ] || [ -e "$d/vol1" ] ||
            { echo "capture-golden: $d exists and is not ours; remove it yourself" >&2; exit 1; }
        rm -rf "$d"
    fi
done
mkdir -p "$work" "$data"
chmod 0755 "$work"

"$here/run-scenarios.sh" "$work/scenarios" || { echo "capture-golden: scenarios failed, nothing copied" >&2; exit 1; }
"$here/gen-volume.sh" "$work/volume" "$n" || { echo "capture-golden: gen-volume failed, nothing copied" >&2; exit 1; }

for i in mx1 mx2 mx3; do
    cp "$work/scenarios/$i/maillog" "$data/$i.maillog.log"
done
cp "$work/scenarios/scenarios.jsonl" "$work/scenarios/instances.json" "$data/"
cp "$work/volume/volume.log" "$data/volume-sample.log"
cp "$work/volume/volume.json" "$data/volume-sample.json"
wc -lc "$data"/* >&2
echo "capture-golden: total $(du -sh "$data" | cut -f1) in $data" >&2
