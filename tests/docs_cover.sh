#!/bin/bash
# docs_cover.sh - every event and field key the parser can emit is documented
# in docs/parse.md, so the docs stay true as the parser grows.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
hdr=$root/common/el_parse.h
doc=$root/docs/parse.md
missing=0
names=$(sed -n 's/^[[:space:]]*X([A-Z_]*, "\([a-z_]*\)".*/\1/p' "$hdr" | sort -u)
for n in $names; do
	if ! grep -q "\`$n\`" "$doc"; then
		echo "docs_cover: '$n' is not documented in docs/parse.md" >&2
		missing=1
	fi
done
count=$(echo "$names" | wc -w)
[ "$count" -gt 100 ] || { echo "docs_cover: found only $count names in $hdr" >&2; exit 1; }
echo "docs_cover: $count event and field names documented"
exit $missing
