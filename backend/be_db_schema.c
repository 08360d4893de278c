/*
 * be_db_schema - the database behind ELSE: creating it (embedded cluster),
 * migrating it, making day partitions ahead and dropping expired ones.
 *
 * The partition work itself is SQL (else_partitions_ensure, else_retention
 * in sql/001_init.sql): table names are made there with format('%I'), and
 * the C side passes only dates as parameters.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be_db_int.h"
#include "be_db_sql.h"
#include "el_log.h"

/* Advisory lock keys (any constants; documented in docs/storage.md). */
#define BE_DB_LOCK_MIGRATE "4542000"

/* be_db_date - "YYYY-MM-DD" of a UTC day number */
static void be_db_date(char out[32], int64_t day)
{
	time_t t = (time_t)(day * 86400);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(out, 32, "%04d-%02d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday);
}

/* be_db_day_of - UTC day number of a time in seconds */
static int64_t be_db_day_of(int64_t s)
{
	return s >= 0 ? s / 86400 : (s - 86399) / 86400;
}

/* be_db_migrate - see be_db.h */
int be_db_migrate(be_db *db)
{
	PGresult *res = NULL;
	int newest = 0, rc;
	size_t i;

	if (db == NULL || db->in_tx)
		return -EINVAL;
	rc = be_db_begin(db);
	if (rc)
		return rc;
	rc = be_db_simple(db, "migrate",
			  "SELECT pg_advisory_xact_lock(" BE_DB_LOCK_MIGRATE ");"
			  "CREATE TABLE IF NOT EXISTS schema_migrations ("
			  "version integer PRIMARY KEY, name text NOT NULL, "
			  "applied_at timestamptz NOT NULL DEFAULT now())");
	if (rc == 0)
		rc = be_db_exec(db, "migrate", "SELECT version FROM schema_migrations", 0, NULL,
				NULL, NULL, 0, &res);
	if (rc)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		int v = atoi(PQgetvalue(res, r, 0));
		if (v > newest)
			newest = v;
	}
	for (i = 0; i < be_db_nmigrations && rc == 0; i++) {
		const be_db_migration *m = &be_db_migrations[i];
		bool done = false;
		char vb[16];

		for (int r = 0; r < PQntuples(res) && !done; r++)
			done = atoi(PQgetvalue(res, r, 0)) == m->version;
		if (done)
			continue;
		el_info("database: applying migration %s", m->name);
		rc = be_db_simple(db, m->name, m->sql);
		snprintf(vb, sizeof(vb), "%d", m->version);
		const char *p[2] = { vb, m->name };
		if (rc == 0)
			rc = be_db_exec(
				db, "migrate",
				"INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
				p, NULL, NULL, 0, NULL);
	}
	if (rc)
		goto out;
	if (be_db_nmigrations && newest > be_db_migrations[be_db_nmigrations - 1].version)
		el_warn("database: schema version %d is newer than this ELSE (%d): upgrade ELSE",
			newest, be_db_migrations[be_db_nmigrations - 1].version);
	/*
	 * Every start: roles made by a DBA after the first migration get their
	 * grants.  Each migration that adds tables adds an else_grant_NAME()
	 * function (001 roles, 002 stats, 003 users); all of them run here.
	 */
	rc = be_db_simple(db, "grants",
			  "DO $$ DECLARE f text; BEGIN "
			  "FOR f IN SELECT p.proname FROM pg_proc p "
			  "WHERE p.pronamespace = current_schema()::regnamespace "
			  "AND p.proname LIKE 'else\\_grant\\_%' AND p.pronargs = 0 ORDER BY 1 "
			  "LOOP EXECUTE format('SELECT %I()', f); END LOOP; END $$");
	if (rc == 0)
		rc = be_db_simple(db, "grants", "SELECT else_grant_stats()");
	if (rc == 0)
		rc = be_db_events_load(db);
out:
	PQclear(res);
	if (rc) {
		be_db_rollback(db);
		return rc;
	}
	return be_db_commit(db);
}

/* be_db_schema_version - newest applied migration, 0 for an empty database */
int be_db_schema_version(be_db *db, int *version)
{
	PGresult *res = NULL;
	int rc;

	if (db == NULL || version == NULL)
		return -EINVAL;
	*version = 0;
	rc = be_db_ready(db);
	if (rc == 0)
		rc = be_db_exec(db, "schema version",
				"SELECT (to_regclass('schema_migrations') IS NOT NULL)::int", 0,
				NULL, NULL, NULL, 0, &res);
	if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), "1") == 0) {
		PQclear(res);
		rc = be_db_exec(db, "schema version",
				"SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
				NULL, NULL, 0, &res);
		if (rc == 0)
			*version = atoi(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return rc;
}

/*
 * be_db_ddl - run a partition function.  Outside a transaction, in one of its
 * own with a lock timeout: DROP TABLE of a partition queues for an exclusive
 * lock on its parent, and while it waits behind a long search every new
 * ingest batch would queue behind it.  Better to give up (-EAGAIN) and try
 * again at the next round.  That transaction commits without flushing and a
 * failure rolls back only itself: lines and flows buffered on the connection
 * (the ingest pipeline keeps flows waiting there for its writer) are neither
 * written by it nor dropped.  Inside an open transaction it runs as part of
 * it.
 */
static int be_db_ddl(be_db *db, const char *what, const char *lock_timeout, const char *sql, int n,
		     const char *const *p, PGresult **res)
{
	char set[64];
	bool opened;
	int rc = be_db_tx_wrap_begin(db, &opened);

	snprintf(set, sizeof(set), "SET LOCAL lock_timeout = '%s'", lock_timeout);
	if (rc == 0 && opened)
		rc = be_db_simple(db, what, set);
	if (rc == 0)
		rc = be_db_exec(db, what, sql, n, p, NULL, NULL, 0, res);
	if (rc && res && *res) {
		PQclear(*res);
		*res = NULL;
	}
	if (!opened)
		return rc;
	if (rc == 0)
		return be_db_commit_keep(db);
	be_db_rollback(db);
	return rc;
}

/* be_db_partitions - see be_db.h */
int be_db_partitions(be_db *db, int64_t now_s, int days_ahead)
{
	char from[32], to[32];
	int64_t day;
	int rc;

	if (db == NULL || days_ahead < 0 || days_ahead > 366 || now_s < 0 ||
	    now_s > 253402300799LL - 367 * 86400LL)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc)
		return rc;
	day = be_db_day_of(now_s);
	be_db_date(from, day - 1);
	be_db_date(to, day + days_ahead);
	const char *p[2] = { from, to };
	return be_db_ddl(db, "partitions", "10s",
			 "SELECT else_partitions_ensure($1::date, $2::date)", 2, p, NULL);
}

/* be_db_partition_day - see be_db.h */
int be_db_partition_day(be_db *db, int64_t day)
{
	char d[32];
	int rc;

	if (db == NULL || day < 0 || day > 2932896 /* 9999-12-31 */)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc)
		return rc;
	if (db->in_tx)
		return -EINVAL;
	be_db_date(d, day);
	const char *p[1] = { d };
	/*
	 * The batches wait meanwhile, and so do searches and the flows writers:
	 * at most 1.5 s, over PostgreSQL's deadlock_timeout (1 s), so that an
	 * autovacuum of a DEFAULT partition in the way is cancelled for it.
	 */
	return be_db_ddl(db, "partition day", "1500ms", "SELECT else_partition_day($1::date)", 1, p,
			 NULL);
}

/*
 * be_db_purge - run a retention function, "SELECT fn($1::date)", for the day
 * keep_days before now_s's day (before, "YYYY-MM-DD"); *count (may be NULL)
 * gets the integer it returns.
 */
static int be_db_purge(be_db *db, const char *what, const char *sql, int64_t now_s, int keep_days,
		       char before[32], int64_t *count)
{
	PGresult *res = NULL;
	int rc;

	if (count)
		*count = 0;
	if (db == NULL || keep_days < 1 || keep_days > 100000 || now_s < 0 ||
	    now_s > 253402300799LL)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc)
		return rc;
	be_db_date(before, be_db_day_of(now_s) - keep_days);
	const char *p[1] = { before };
	rc = be_db_ddl(db, what, "10s", sql, 1, p, &res);
	if (rc == 0 && count)
		*count = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

/* be_db_retention - see be_db.h */
int be_db_retention(be_db *db, int64_t now_s, int keep_days, int *dropped)
{
	char before[32];
	int64_t n;
	int rc = be_db_purge(db, "retention", "SELECT else_retention($1::date)", now_s, keep_days,
			     before, &n);

	if (dropped)
		*dropped = (int)n;
	if (rc == 0 && n > 0)
		el_info("database: retention dropped %lld partitions of days before %s",
			(long long)n, before);
	return rc;
}

/* be_db_stats_retention - see be_db.h */
int be_db_stats_retention(be_db *db, int64_t now_s, int keep_days, int64_t *deleted)
{
	char before[32];

	return be_db_purge(db, "stats retention", "SELECT else_stats_retention($1::date)", now_s,
			   keep_days, before, deleted);
}

/* be_db_top_keep - sql with $1 = keep (1..100000), named what in errors; its row in *res */
static int be_db_top_keep(be_db *db, const char *what, int keep, const char *sql, PGresult **res)
{
	char k[16];
	const char *p[1] = { k };
	int rc;

	if (db == NULL || keep < 1 || keep > 100000)
		return -EINVAL;
	if ((rc = be_db_ready(db)) != 0)
		return rc;
	snprintf(k, sizeof(k), "%d", keep);
	return be_db_ddl(db, what, "10s", sql, 1, p, res);
}

/* be_db_stats_top_refresh - see be_db.h */
int be_db_stats_top_refresh(be_db *db, int keep, int *days)
{
	PGresult *res = NULL;
	int rc;

	if (days)
		*days = 0;
	/* The lock first (OFFSET 0 keeps the subquery apart): see BE_DB_LOCK_TOP. */
	rc = be_db_top_keep(db, "top lists", keep,
			    "SELECT else_stats_top_refresh($1::integer) FROM (SELECT "
			    "pg_advisory_xact_lock(" BE_DB_LOCK_TOP ") OFFSET 0) l",
			    &res);
	if (rc == 0 && days)
		*days = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* be_db_stats_top_due - see be_db.h */
int be_db_stats_top_due(be_db *db, int keep, bool *due)
{
	PGresult *res = NULL;
	int rc = be_db_top_keep(db, "top lists check", keep,
				"SELECT else_stats_top_due($1::integer)", &res);

	*due = rc == 0 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

/* be_db_stats_top_compact - see be_db.h */
int be_db_stats_top_compact(be_db *db, int64_t min_bytes, int64_t *freed)
{
	PGresult *res = NULL;
	char m[24];
	const char *p[1] = { m };
	int rc;

	*freed = -1;
	if (db == NULL || min_bytes < 0)
		return -EINVAL;
	if ((rc = be_db_ready(db)) != 0)
		return rc;
	snprintf(m, sizeof(m), "%lld", (long long)min_bytes);
	rc = be_db_ddl(db, "top lists compaction", "2s",
		       "SELECT else_stats_top_compact($1::bigint)", 1, p, &res);
	if (rc == 0)
		*freed = PQgetisnull(res, 0, 0) ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

/* be_db_ident_ok - a plain lower-case SQL identifier */
static bool be_db_ident_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* be_db_bootstrap - see be_db.h */
int be_db_bootstrap(const char *admin_conninfo, const char *dbname)
{
	PGresult *res = NULL;
	char sql[96];
	be_db *db;
	int rc;

	if (admin_conninfo == NULL || dbname == NULL || !be_db_ident_ok(dbname))
		return -EINVAL;
	rc = be_db_open(&db, admin_conninfo);
	if (rc)
		return rc;
	const char *p[1] = { dbname };
	rc = be_db_exec(db, "bootstrap", "SELECT 1 FROM pg_database WHERE datname = $1", 1, p, NULL,
			NULL, 0, &res);
	if (rc == 0 && PQntuples(res) == 0) {
		/* dbname is a checked identifier, not input: DDL takes no parameters. */
		snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"",
			 dbname); /* "else" is reserved */
		PQclear(res);
		res = PQexec(db->conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			if (st && strcmp(st, "42P04") == 0) /* made meanwhile by another */
				rc = 0;
			else
				rc = be_db_fail(db, res, "create database");
			if (rc)
				res = NULL;
		} else {
			el_info("database: created database %s", dbname);
		}
	}
	PQclear(res);
	be_db_close(db);
	return rc;
}
