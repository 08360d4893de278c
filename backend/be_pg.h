/*
 * be_pg - the embedded PostgreSQL cluster: with no database configured, the
 * backend runs its own PostgreSQL under its state directory.
 *
 *   STATE_DIR/pg/            owned by the PostgreSQL user, mode 0700
 *   STATE_DIR/pg/data/       the cluster (initdb on first start)
 *   STATE_DIR/pg/run/        its unix socket; no TCP port at all
 *   STATE_DIR/pg/postgresql.log   the server's log
 *   STATE_DIR/pg/pg_ctl.log       output of initdb and pg_ctl
 *
 * be_pg_start() initialises the cluster if needed (initdb never runs as root:
 * as root, PostgreSQL runs as run_as_user, default "postgres"), writes the
 * settings (data/else.conf, rewritten at every start), starts the server
 * with pg_ctl and waits until it accepts connections, creates the database
 * "else", and returns a libpq conninfo for the cluster's superuser (the
 * schema owner: be_db_migrate, partitions, retention).  The ingest and query
 * paths connect as else_ingest and else_query (roles made by the first
 * migration): be_pg_conninfo_role() makes their conninfo.  A server already
 * running on the socket (left by a backend that crashed) is reused; a stale
 * postmaster.pid after a kill -9 does not stop a start.
 *
 * Access control is the socket directory (0700, PostgreSQL's user; root gets
 * through), so local connections use trust authentication.
 *
 * OWNERSHIP: conninfo_out is the caller's buffer.
 * ERRORS: -EINVAL bad arguments (or a state_dir with control characters),
 * -ENAMETOOLONG the socket path exceeds the unix socket limit, -ENOENT the
 * PostgreSQL user or binaries are missing, -EPERM wrong ownership or user,
 * -ENOSPC conninfo_out too small, -EIO initdb/pg_ctl failed (its output is
 * logged), or the be_db errors of creating the database.
 * THREADS: fork/exec.  Call be_pg_start() and be_pg_stop() BEFORE NNG starts
 * any thread (NNG is not fork-safe) and with SIGCHLD not ignored (they wait
 * for their children).  The children close every inherited descriptor.
 * SECURITY: as root, the PostgreSQL processes run as run_as_user, and that
 * user must be able to traverse STATE_DIR (o+x on it and its parents).
 */
#ifndef BE_PG_H
#define BE_PG_H

#include <stdbool.h>
#include <stddef.h>

/* PostgreSQL's programs; ELSE_PG_BINDIR in the environment overrides. */
#ifndef BE_PG_BINDIR
#define BE_PG_BINDIR "/usr/lib/postgresql/15/bin"
#endif

int be_pg_start(const char *state_dir, const char *run_as_user, char *conninfo_out, size_t cap);
/*
 * be_pg_start_ex - be_pg_start, and *started (may be NULL) tells whether
 * this call started the server (false: it was running already, e.g. for the
 * daemon while an administration command runs): stop only what you started.
 */
int be_pg_start_ex(const char *state_dir, const char *run_as_user, char *conninfo_out, size_t cap,
		   bool *started);
int be_pg_stop(const char *state_dir);

/*
 * be_pg_conninfo_role - conninfo with user=role appended (libpq takes the last
 * value of a repeated keyword).  role is a plain identifier.
 */
int be_pg_conninfo_role(const char *conninfo, const char *role, char *out, size_t cap);

#endif
