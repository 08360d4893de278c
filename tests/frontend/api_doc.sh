#!/bin/bash
# api_doc.sh ELSECTL DOC - docs/api.md documents exactly the calls of
# proto/query.proto and every request field of each (elsectl reads them from
# the generated descriptors: `elsectl calls`, `elsectl fields CALL`).
set -euo pipefail
ctl=$1
doc=$2
bad=0
mapfile -t calls < <("$ctl" calls | awk '{print $1}')
[ ${#calls[@]} -gt 10 ] || { echo "api_doc: elsectl calls lists ${#calls[@]} calls" >&2; exit 1; }
for c in "${calls[@]}"; do
	# The call's section: from its heading to the next heading.
	sec=$(awk -v h="### POST /api/$c" '$0 == h {on = 1; next} /^##/ {on = 0} on' "$doc")
	if [ -z "$sec" ]; then
		echo "api_doc: $doc has no section for $c" >&2
		bad=1
		continue
	fi
	grep -q "^    POST /api/$c " <<<"$sec" || { echo "api_doc: $c has no example" >&2; bad=1; }
	while read -r f _; do
		grep -q "\`$f\`" <<<"$sec" || { echo "api_doc: $c: field $f undocumented" >&2; bad=1; }
	done < <("$ctl" fields "$c")
done
# No section for a call that does not exist.
while read -r c; do
	printf '%s\n' "${calls[@]}" | grep -qx "$c" || { echo "api_doc: $doc documents unknown call $c" >&2; bad=1; }
done < <(sed -n 's|^### POST /api/\([a-z_]*\)$|\1|p' "$doc")
# Every example body is valid for its call (decoded offline by el_pbjson,
# the frontend's own mapping).
n=0
while read -r c body; do
	"$ctl" check "$c" "$body" >/dev/null || { echo "api_doc: example of $c is invalid: $body" >&2; bad=1; }
	n=$((n + 1))
done < <(sed -n 's|^    POST /api/\([a-z_]*\) \(.*\)$|\1 \2|p' "$doc")
[ $n -ge ${#calls[@]} ] || { echo "api_doc: only $n examples" >&2; bad=1; }
[ $bad = 0 ] && echo "api_doc: ${#calls[@]} calls and their fields documented"
exit $bad
