#!/bin/bash
# run.sh TEST-BINARY [ARGS...] - make fresh certificates in a temporary
# directory (tests/net/certs.sh, i.e. deploy/else-ca.sh), point the test at
# them with ELSE_TEST_CERTS, run it, clean up.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/else-net-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
bash "$here/certs.sh" "$tmp"
export ELSE_TEST_CERTS=$tmp
"$@"
