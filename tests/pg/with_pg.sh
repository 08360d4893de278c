#!/bin/bash
# with_pg.sh PG_TOOL CMD [ARGS...] - run CMD against a throwaway PostgreSQL.
#
# Starts an embedded cluster (be_pg, through PG_TOOL = the pg_tool program) in
# a fresh mktemp state directory, exports
#   ELSE_TEST_PG        conninfo of the cluster's database "else" (superuser)
#   ELSE_TEST_PG_STATE  the state directory
#   ELSE_TEST_PG_TOOL   PG_TOOL
# runs CMD, then stops the cluster and removes the directory, whatever CMD
# did.  Exits with CMD's status.  As root the cluster runs as user postgres,
# so the directory is made traversable (755).  KEEP_PG=1 keeps the directory
# (its pg/postgresql.log) for a post-mortem.
set -uo pipefail
if [ $# -lt 2 ]; then
	echo "usage: with_pg.sh PG_TOOL CMD [ARGS...]" >&2
	exit 2
fi
tool=$1
shift
state=$(mktemp -d "${TMPDIR:-/tmp}/else-pg.XXXXXX") || exit 1
chmod 755 "$state"
cleanup() {
	"$tool" stop "$state" >/dev/null || echo "with_pg.sh: stopping the cluster failed" >&2
	if [ "${KEEP_PG:-0}" = 1 ]; then
		echo "with_pg.sh: kept $state" >&2
	else
		rm -rf "$state"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ! conninfo=$("$tool" start "$state"); then
	echo "with_pg.sh: cannot start PostgreSQL in $state" >&2
	cat "$state/pg/postgresql.log" >&2 2>/dev/null
	exit 1
fi
export ELSE_TEST_PG="$conninfo" ELSE_TEST_PG_STATE="$state" ELSE_TEST_PG_TOOL="$tool"
"$@"
