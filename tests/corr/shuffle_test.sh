#!/bin/bash
# shuffle_test.sh - the same lines, interleaved differently across hosts within
# a few seconds (as collectors deliver them), must give the same flows.
#
# usage: shuffle_test.sh ELSE_PARSE DIR [WINDOW_SECONDS] [ROUNDS]
# DIR holds one log per host (DIR/*/maillog or DIR/*.maillog.log).  Each round
# gives every line a sort key = its time + a random delay below WINDOW, kept
# increasing per host (one host's log stays in order, as one collector stream
# does), merges all hosts by that key into one stream, correlates it, and
# compares the flows with those of the time-ordered merge.
set -euo pipefail
bin=$1
dir=$2
win=${3:-3}
rounds=${4:-5}
shopt -s nullglob
logs=("$dir"/*/maillog "$dir"/*.maillog.log)
[ ${#logs[@]} -gt 1 ] || { echo "shuffle_test: need several host logs in $dir" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export TZ=UTC

# norm - flows in a canonical order, so only content is compared
norm() { jq -S -c . "$1" | sort; }

"$bin" --flows --year 2026 "${logs[@]}" >"$tmp/ref.jsonl"
norm "$tmp/ref.jsonl" >"$tmp/ref.norm"
nref=$(wc -l <"$tmp/ref.norm")
[ "$nref" -gt 0 ] || { echo "shuffle_test: no flows" >&2; exit 1; }

for round in $(seq 1 "$rounds"); do
	for f in "${logs[@]}"; do
		awk -v seed="$RANDOM$round" -v win="$win" '
		BEGIN { srand(seed); split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " ");
		        for (i = 1; i <= 12; i++) mon[m[i]] = i; last = 0 }
		{
			split($3, hms, ":");
			t = ((mon[$1] * 31 + $2) * 24 + hms[1]) * 3600 + hms[2] * 60 + hms[3];
			k = t + rand() * win;
			if (k < last) k = last;
			last = k;
			printf "%.6f\t%s\n", k, $0;
		}' "$f"
	done | sort -s -t $'\t' -k1,1n | cut -f2- >"$tmp/shuffled.log"
	"$bin" --flows --year 2026 "$tmp/shuffled.log" >"$tmp/got.jsonl"
	norm "$tmp/got.jsonl" >"$tmp/got.norm"
	if ! cmp -s "$tmp/ref.norm" "$tmp/got.norm"; then
		echo "shuffle_test: round $round: flows differ after shuffling within ${win}s" >&2
		diff "$tmp/ref.norm" "$tmp/got.norm" | head -6 >&2
		exit 1
	fi
done
echo "shuffle_test: $nref flows identical over $rounds shuffles within ${win}s"
