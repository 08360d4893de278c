/*
 * test_db - be_db and be_pg against a real PostgreSQL (never a mock).
 *
 * tests/pg/with_pg.sh starts an embedded cluster for the whole binary and
 * exports its conninfo in ELSE_TEST_PG; every test makes a database of its
 * own there, so tests are independent and run in parallel.  The tests that
 * restart or kill PostgreSQL start a cluster of their own with be_pg_start.
 *
 * The checks read the tables with libpq directly, not through be_db: the
 * adapter is what is under test.  (STYLE.md keeps libpq-fe.h inside be_db;
 * tests are not shipped code, and a test that trusted be_db to read back
 * what be_db wrote would prove little.)
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "be_corr.h"
#include "be_corr_int.h"
#include "be_db.h"
#include "be_db_int.h"
#include "be_db_sql.h"
#include "be_ingest.h"
#include "be_pg.h"
#include "el_parse.h"

static char td_ci[8192]; /* conninfo of this test's database */
static char td_dbname[64];

/* td_env - the shared cluster's conninfo; without one the test fails */
static const char *td_env(void)
{
	const char *ci = getenv("ELSE_TEST_PG");

	if (ci == NULL || ci[0] == '\0')
		cr_assert_fail("ELSE_TEST_PG not set: run through tests/pg/with_pg.sh");
	return ci;
}

/* td_pq_ci - a libpq connection, asserted */
static PGconn *td_pq_ci(const char *ci)
{
	PGconn *c = PQconnectdb(ci);

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect %s: %s", ci, PQerrorMessage(c));
	return c;
}

/* td_pq - a libpq connection to this test's database */
static PGconn *td_pq(void)
{
	return td_pq_ci(td_ci);
}

/* td_ok - run a statement, assert success */
static void td_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);

	cr_assert(s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK, "%s: %s", sql,
		  PQresultErrorMessage(r));
	PQclear(r);
}

/* td_i64 - first value of a one-value query */
static long long td_i64(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long v;

	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
	cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
	v = PQgetisnull(r, 0, 0) ? -1 : atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

/* td_str - first value of a one-value query, copied */
static void td_str(PGconn *c, const char *sql, char *out, size_t cap)
{
	PGresult *r = PQexec(c, sql);

	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
	cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
	snprintf(out, cap, "%s", PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
	PQclear(r);
}

/* td_newdb - a fresh database for this test; td_ci gets its conninfo */
static void td_newdb(void)
{
	const char *ci = td_env();
	static unsigned n;
	char sql[128];
	PGconn *c = td_pq_ci(ci);

	snprintf(td_dbname, sizeof(td_dbname), "else_t_%d_%u", (int)getpid(), n++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", td_dbname);
	td_ok(c, sql);
	PQfinish(c);
	snprintf(td_ci, sizeof(td_ci), "%s dbname=%s", ci, td_dbname);
}

/* td_open - a be_db on a fresh, migrated database */
static be_db *td_open(void)
{
	be_db *db;

	td_newdb();
	cr_assert_eq(be_db_open(&db, td_ci), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	return db;
}

/* td_day - "YYYYMMDD" of now + days */
static void td_day(char *out, size_t cap, int64_t now, int days)
{
	time_t t = (time_t)(now + (int64_t)days * 86400);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, cap, "%Y%m%d", &tm);
}

/* td_line - a line for host h */
static be_db_line td_line(int32_t h, int32_t stream, uint64_t seq, int64_t ts_us, el_span raw)
{
	be_db_line l;

	memset(&l, 0, sizeof(l));
	l.ts_us = ts_us;
	l.host_id = h;
	l.stream_no = stream;
	l.seq = seq;
	l.program = EL_SPAN_LIT("postfix/smtpd");
	l.queue_id = EL_SPAN_LIT("4Fabc123");
	l.event = EL_EV_CLIENT;
	l.pid = 1234;
	l.raw = raw;
	return l;
}

/*
 * td_addresses_off - rows by which addresses (sql/018) differs from the days'
 * senders and recipients of the flow tables: missing ones, and with exact,
 * ones no row has.
 */
static long long td_addresses_off(PGconn *c, bool exact)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM (SELECT (first_seen AT TIME ZONE 'UTC')::date AS d, 4 AS k, "
		 "lower(sender) AS a FROM messages WHERE sender <> '' UNION SELECT (first_seen AT "
		 "TIME ZONE 'UTC')::date, 5, lower(rcpt) FROM recipients WHERE rcpt <> '') w "
		 "FULL JOIN addresses x ON x.day = w.d AND x.kind = w.k AND x.addr = w.a "
		 "WHERE x.addr IS NULL%s",
		 exact ? " OR w.a IS NULL" : "");
	return td_i64(c, sql);
}

/* ---- schema ---- */

Test(db_schema, migrate_twice_is_a_noop, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	long long tables, mig;
	int v = -1;

	cr_assert_eq(be_db_schema_version(db, &v), 0);
	cr_assert_eq(v, be_db_migrations[be_db_nmigrations - 1].version);
	mig = td_i64(c, "SELECT count(*) FROM schema_migrations");
	tables = td_i64(
		c, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace");
	cr_assert_eq(mig, (long long)be_db_nmigrations);
	cr_assert_eq(be_db_migrate(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM schema_migrations"), mig);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM pg_class WHERE relnamespace = "
			       "'public'::regnamespace"),
		     tables);
	/* Event names were registered once, not once per migrate. */
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM event_names"), EL_EV__COUNT);
	cr_assert_eq(td_i64(c, "SELECT max(id) FROM event_names"), EL_EV__COUNT);
	PQfinish(c);
	be_db_close(db);
}

/*
 * Upgrading to 018 fills addresses from the mail already stored: the days
 * with a partition and those in DEFAULT; the trigrams move to addresses.
 */
Test(db_schema, migration_018_fills_the_addresses_of_stored_mail, .timeout = 120)
{
	be_db *db;

	td_newdb();
	PGconn *c = td_pq();
	td_ok(c, "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT "
		 "NULL, applied_at timestamptz NOT NULL DEFAULT now())");
	for (size_t i = 0; i < be_db_nmigrations && be_db_migrations[i].version < 18; i++) {
		char sql[256];
		td_ok(c, be_db_migrations[i].sql);
		snprintf(sql, sizeof(sql), "INSERT INTO schema_migrations VALUES (%d, '%s')",
			 be_db_migrations[i].version, be_db_migrations[i].name);
		td_ok(c, sql);
	}
	cr_assert_eq(td_i64(c, "SELECT (to_regclass('addresses') IS NULL)::int"), 1);
	/* Two days with partitions, one without (DEFAULT), mixed case, a bounce. */
	td_ok(c, "SELECT else_partitions_ensure('2026-11-20', '2026-11-21')");
	td_ok(c, "INSERT INTO hosts (name) VALUES ('mx1')");
	td_ok(c,
	      "INSERT INTO messages (first_seen, last_seen, email_id, host_id, queue_id, status, "
	      "sender) SELECT t, t, i, 1, 'Q' || i, 'sent', s FROM (VALUES "
	      "(1, timestamptz '2026-11-20 23:59:59+00', 'Ann@X.example'), "
	      "(2, '2026-11-21 00:00:00+00', 'ann@x.example'), "
	      "(3, '2026-11-21 10:00:00+00', ''), "
	      "(4, '2026-09-01 10:00:00+00', 'old@y.example')) v(i, t, s)");
	td_ok(c, "INSERT INTO recipients (first_seen, email_id, host_id, idx, attempts, queue_id, "
		 "rcpt, status) SELECT m.first_seen, m.email_id, 1, 0, 1, m.queue_id, "
		 "'Bob+' || m.email_id || '@z.example', 'sent' FROM messages m");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages_default"), 1);
	cr_assert_eq(be_db_open(&db, td_ci), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	cr_assert_eq(td_addresses_off(c, true), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses"), 3 + 4);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses_default"), 2);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses_p20261121 WHERE kind = 4 AND "
			       "addr = 'ann@x.example'"),
		     1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM pg_indexes WHERE indexname IN "
			       "('messages_sender_trgm', 'recipients_rcpt_trgm')"),
		     0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM pg_indexes WHERE indexname IN "
			       "('addresses_sender_trgm', 'addresses_rcpt_trgm')"),
		     2);
	PQfinish(c);
	be_db_close(db);
}

Test(db_schema, empty_database_has_version_zero)
{
	be_db *db;
	int v = -1;

	td_newdb();
	cr_assert_eq(be_db_open(&db, td_ci), 0);
	cr_assert_eq(be_db_schema_version(db, &v), 0);
	cr_assert_eq(v, 0);
	be_db_close(db);
}

Test(db_schema, partitions_ahead_and_default, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int64_t now = (int64_t)time(NULL);
	char d[16], sql[256], where[64];
	long long n1;
	int32_t h;

	cr_assert_eq(be_db_partitions(db, now, 3), 0);
	for (int k = -1; k <= 3; k++) {
		td_day(d, sizeof(d), now, k);
		const char *tabs[] = { "lines", "messages", "recipients", "rejects", "addresses" };
		for (size_t i = 0; i < 5; i++) {
			snprintf(sql, sizeof(sql),
				 "SELECT (to_regclass('%s_p%s') IS NOT NULL)::int", tabs[i], d);
			cr_assert_eq(td_i64(c, sql), 1, "%s_p%s missing", tabs[i], d);
		}
	}
	td_day(d, sizeof(d), now, 4);
	snprintf(sql, sizeof(sql), "SELECT (to_regclass('lines_p%s') IS NOT NULL)::int", d);
	cr_assert_eq(td_i64(c, sql), 0);
	n1 = td_i64(c, "SELECT count(*) FROM pg_inherits");
	cr_assert_eq(be_db_partitions(db, now, 3), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM pg_inherits"), n1, "not idempotent");

	/* Far future and ancient lines go to DEFAULT without failing the batch. */
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_begin(db), 0);
	be_db_line l = td_line(h, 1, 1, 5680281600000000LL /* 2150-01-01 */, EL_SPAN_LIT("a"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	l = td_line(h, 1, 2, 31536000000000LL /* 1971-01-01 */, EL_SPAN_LIT("b"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	l = td_line(h, 1, 3, INT64_MAX, EL_SPAN_LIT("c")); /* beyond PostgreSQL: clamped */
	cr_assert_eq(be_db_line_add(db, &l), 0);
	l = td_line(h, 1, 4, now * 1000000, EL_SPAN_LIT("d"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_commit(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines_default"), 3);
	td_day(d, sizeof(d), now, 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM lines_p%s", d);
	cr_assert_eq(td_i64(c, sql), 1);

	/* Making the partition of a day that has rows in DEFAULT moves them. */
	td_ok(c, "INSERT INTO addresses (day, kind, addr) VALUES ('2150-01-01', 4, 'a@b')");
	td_ok(c, "SELECT else_partitions_ensure('2150-01-01', '2150-01-01')");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses_p21500101"), 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses_default"), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines_default"), 2);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines_p21500101"), 1);
	snprintf(where, sizeof(where), "%s", "tableoid = 'lines_p21500101'::regclass");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM lines WHERE %s AND raw = 'a'", where);
	cr_assert_eq(td_i64(c, sql), 1);
	PQfinish(c);
	be_db_close(db);
}

Test(db_schema, retention_drops_old_partitions_only, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int64_t now = (int64_t)time(NULL), old = now - 120 * 86400;
	char d[16], sql[256];
	int dropped = -1;
	int32_t h;

	cr_assert_eq(be_db_partitions(db, old, 2), 0); /* old-1 .. old+2 */
	cr_assert_eq(be_db_partitions(db, now, 2), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	be_db_line l = td_line(h, 1, 1, old * 1000000, EL_SPAN_LIT("old"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	l = td_line(h, 1, 2, now * 1000000, EL_SPAN_LIT("new"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	l = td_line(h, 1, 3, 31536000000000LL, EL_SPAN_LIT("ancient"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_lines_flush(db), 0); /* in a transaction of its own */
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 3);

	cr_assert_eq(be_db_retention(db, now, 90, &dropped), 0);
	/* 4 old days x 5 tables; the old email_keys months end long before. */
	cr_assert_geq(dropped, 20);
	td_day(d, sizeof(d), old, 0);
	snprintf(sql, sizeof(sql), "SELECT (to_regclass('lines_p%s') IS NOT NULL)::int", d);
	cr_assert_eq(td_i64(c, sql), 0);
	for (int k = -1; k <= 2; k++) {
		td_day(d, sizeof(d), now, k);
		snprintf(sql, sizeof(sql), "SELECT (to_regclass('messages_p%s') IS NOT NULL)::int",
			 d);
		cr_assert_eq(td_i64(c, sql), 1);
	}
	cr_assert_eq(td_i64(c, "SELECT (to_regclass('lines_default') IS NOT NULL)::int"), 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines WHERE raw = 'new'"), 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines WHERE raw = 'ancient'"), 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines WHERE raw = 'old'"), 0);
	/* The current email_keys month stays. */
	cr_assert_geq(td_i64(c, "SELECT count(*) FROM pg_inherits WHERE inhparent = "
				"'email_keys'::regclass"),
		      2);
	cr_assert_eq(be_db_retention(db, now, 90, &dropped), 0);
	cr_assert_eq(dropped, 0);
	cr_assert_eq(be_db_retention(db, now, 0, NULL), -EINVAL);
	PQfinish(c);
	be_db_close(db);
}

Test(db_schema, retention_gives_up_on_a_lock_held_too_long, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int64_t now = (int64_t)time(NULL), old = now - 120 * 86400;
	int dropped = -1;

	cr_assert_eq(be_db_partitions(db, old, 0), 0);
	/* A long search holds the parent; DROP of a partition must not queue forever. */
	td_ok(c, "BEGIN");
	td_ok(c, "SELECT count(*) FROM lines");
	cr_assert_eq(be_db_retention(db, now, 90, &dropped), -EAGAIN);
	td_ok(c, "COMMIT");
	cr_assert_eq(be_db_retention(db, now, 90, &dropped), 0);
	cr_assert_gt(dropped, 0);
	PQfinish(c);
	be_db_close(db);
}

/* ---- lines ---- */

Test(db_lines, copy_round_trip_keeps_every_byte, .timeout = 120)
{
	static const char raw1[] =
		"Nov 22 13:52:07 mx1 postfix/smtpd[1]: x\0y \xff\xfe\xc3\x28 \\N\t\n";
	static const char prog[] = "post\xff"
				   "fix\0/smtpd";
	be_db *db = td_open();
	PGconn *c = td_pq();
	int64_t now = (int64_t)time(NULL) * 1000000 + 123456;
	PGresult *r;
	int32_t h, sno;
	uint64_t committed;

	cr_assert_eq(be_db_partitions(db, now / 1000000, 1), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1.example"), &h), 0);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("/var/log/mail.log"), &sno, &committed),
		     0);
	be_db_line l = td_line(h, sno, 7, now, el_span_make(raw1, sizeof(raw1) - 1));
	l.program = el_span_make(prog, sizeof(prog) - 1);
	l.event = 999; /* out of range: stored as unparsed */
	cr_assert_eq(be_db_line_add(db, &l), 0);
	l = td_line(h, sno, 8, now, EL_SPAN_LIT(""));
	l.program = (el_span){ NULL, 0 };
	l.queue_id = (el_span){ NULL, 0 };
	l.pid = 0;
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_lines_pending(db), 2);
	cr_assert_eq(be_db_commit(db), 0);
	cr_assert_eq(be_db_lines_pending(db), 0);

	r = PQexecParams(c,
			 "SELECT raw, program, queue_id, pid, seq, ingest_seq, "
			 "extract(epoch from ts)::numeric * 1000000, e.name "
			 "FROM lines JOIN event_names e ON e.id = lines.event ORDER BY seq",
			 0, NULL, NULL, NULL, NULL, 1);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
	cr_assert_eq(PQntuples(r), 2);
	cr_assert_eq(PQgetlength(r, 0, 0), (int)sizeof(raw1) - 1);
	cr_assert(memcmp(PQgetvalue(r, 0, 0), raw1, sizeof(raw1) - 1) == 0);
	/* Text columns: invalid bytes read as Latin-1, NUL as U+FFFD. */
	cr_assert_str_eq(PQgetvalue(r, 0, 1), "post\xc3\xbf"
					      "fix\xef\xbf\xbd/smtpd");
	cr_assert_str_eq(PQgetvalue(r, 0, 2), "4Fabc123");
	cr_assert_eq(PQgetlength(r, 1, 0), 0);
	cr_assert(!PQgetisnull(r, 1, 0));
	cr_assert(PQgetisnull(r, 1, 1));
	cr_assert(PQgetisnull(r, 1, 2));
	cr_assert(PQgetisnull(r, 1, 3));
	PQclear(r);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines l JOIN event_names e ON e.id = l.event "
			       "WHERE e.name = 'unparsed' AND seq = 7"),
		     1);
	cr_assert_eq(td_i64(c, "SELECT (extract(epoch from ts) * 1000000)::bigint % 1000000 "
			       "FROM lines WHERE seq = 7"),
		     123456);
	cr_assert_eq(td_i64(c, "SELECT min(ingest_seq) FROM lines"), 1);
	cr_assert_eq(td_i64(c, "SELECT max(ingest_seq) FROM lines"), 2);
	uint64_t last = 0;
	cr_assert_eq(be_db_last_ingest_seq(db, &last), 0);
	cr_assert_eq(last, 2);
	be_db_stats st;
	be_db_get_stats(db, &st);
	cr_assert_eq(st.lines_copied, 2);
	cr_assert_geq(st.text_repaired, 1);
	PQfinish(c);
	be_db_close(db);
}

Test(db_lines, bad_arguments)
{
	be_db *db = td_open();
	be_db_line l = td_line(1, 1, (uint64_t)INT64_MAX + 1, 0, EL_SPAN_LIT("x"));
	uint64_t seq;

	cr_assert_eq(be_db_line_add(db, &l), -EINVAL);
	l = td_line(0, 1, 1, 0, EL_SPAN_LIT("x"));
	cr_assert_eq(be_db_line_add(db, &l), -EINVAL);
	l = td_line(1, 1, 1, 0, (el_span){ NULL, 3 });
	cr_assert_eq(be_db_line_add(db, &l), -EINVAL);
	cr_assert_eq(be_db_stream_get(db, 1, EL_SPAN_LIT("s"), NULL, &seq), -EINVAL, "outside tx");
	cr_assert_eq(be_db_commit(db), -EINVAL);
	cr_assert_eq(be_db_rollback(db), 0);
	cr_assert_eq(be_db_partitions(db, 0, 400), -EINVAL);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT(""), &l.host_id), -EINVAL);
	cr_assert_eq(be_db_open(NULL, td_ci), -EINVAL);
	cr_assert_eq(be_db_checkpoint_save(db, 1, NULL, 3), -EINVAL);
	be_db_close(db);
	be_db_close(NULL);
}

Test(db_lines, server_error_is_eio_until_rollback)
{
	be_db *db;
	uint64_t seq;

	td_newdb();
	cr_assert_eq(be_db_open(&db, td_ci), 0);
	/* Not migrated: the table is missing. */
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_checkpoint_save(db, 1, "x", 1), -EIO);
	cr_assert_eq(be_db_last_ingest_seq(db, &seq), -EIO, "aborted transaction");
	cr_assert_eq(be_db_commit(db), -EIO);
	cr_assert_eq(be_db_rollback(db), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	cr_assert_eq(be_db_last_ingest_seq(db, &seq), 0);
	be_db_close(db);
	cr_assert_eq(be_db_open(&db, "host=/nonexistent dbname=x connect_timeout=2"), -ENOTCONN);
}

/* td_plan_mode - the connection's plan_cache_mode, read through be_db_exec */
static void td_plan_mode(be_db *db, char *out, size_t cap)
{
	PGresult *r;

	cr_assert_eq(be_db_exec(db, "show", "SHOW plan_cache_mode", 0, NULL, NULL, NULL, 0, &r), 0);
	snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
}

Test(db_lines, a_rollback_leaves_the_plan_mode_known)
{
	be_db *db;
	PGresult *r;
	char mode[32];

	td_newdb();
	cr_assert_eq(be_db_open(&db, td_ci), 0);
	cr_assert_eq(be_db_exec_gen(db, 0, "one", "SELECT 1", 0, NULL, NULL, NULL, &r), 0);
	PQclear(r);
	/* Custom plans inside a transaction, which then rolls back: PostgreSQL
	 * undoes that SET, and be_db must know it. */
	cr_assert_eq(be_db_begin(db), 0);
	td_plan_mode(db, mode, sizeof(mode));
	cr_assert_str_eq(mode, "auto");
	cr_assert_eq(be_db_rollback(db), 0);
	td_plan_mode(db, mode, sizeof(mode));
	cr_assert_str_eq(mode, "auto", "a statement built per request ran with generic plans");
	be_db_close(db);
}

/* ---- streams and hosts ---- */

Test(db_stream, get_set_and_rollback)
{
	be_db *db = td_open();
	int32_t h, no1 = 0, no2 = 0, hb;
	uint64_t seq = 99;

	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx2"), &hb), 0);
	cr_assert_neq(h, hb);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s1"), &no1, &seq), 0);
	cr_assert_eq(seq, 0);
	cr_assert_gt(no1, 0);
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s1"), 42), 0);
	cr_assert_eq(be_db_commit(db), 0);

	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s1"), &no2, &seq), 0);
	cr_assert_eq(seq, 42);
	cr_assert_eq(no2, no1);
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s1"), 10), 0); /* never backwards */
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s2"), 5), 0);  /* set creates */
	cr_assert_eq(be_db_commit(db), 0);

	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s1"), NULL, &seq), 0);
	cr_assert_eq(seq, 42);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s2"), NULL, &seq), 0);
	cr_assert_eq(seq, 5);
	cr_assert_eq(be_db_stream_get(db, hb, EL_SPAN_LIT("s1"), &no2, &seq), 0);
	cr_assert_eq(seq, 0);
	cr_assert_neq(no2, no1);
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s1"), 50), 0);
	cr_assert_eq(be_db_rollback(db), 0);

	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s1"), NULL, &seq), 0);
	cr_assert_eq(seq, 42, "rolled back");
	cr_assert_eq(be_db_commit(db), 0);
	PGconn *c = td_pq();
	cr_assert_eq(td_i64(c, "SELECT batches FROM streams WHERE stream_id = 's1'"), 2);
	PQfinish(c);
	be_db_close(db);
}

Test(db_stream, begin_and_commit_each_in_one_round_trip)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int32_t h, no1 = 0, no2 = 0;
	uint64_t seq = 99;
	be_db_line l;

	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), 1, NULL), -EINVAL, "outside tx");
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 0, &no1, &seq), 0);
	cr_assert_eq(seq, 0, "a new stream");
	cr_assert_gt(no1, 0);
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 0, NULL, &seq), -EINVAL, "in tx");
	l = td_line(h, no1, 1, (int64_t)time(NULL) * 1000000, EL_SPAN_LIT("one"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), 42, NULL), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 1, "the commit flushed the line");

	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 0, &no2, &seq), 0);
	cr_assert_eq(seq, 42);
	cr_assert_eq(no2, no1);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), 10, NULL),
		     0); /* never backwards */
	cr_assert_eq(td_i64(c, "SELECT committed_seq FROM streams WHERE stream_id = 's1'"), 42);
	cr_assert_eq(td_i64(c, "SELECT batches FROM streams WHERE stream_id = 's1'"), 2);

	/* A failed statement in the transaction: no COMMIT, the transaction is gone. */
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 0, NULL, &seq), 0);
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_exec(db, "test", "SELECT 1 / 0", 0, NULL, NULL, NULL, 0, NULL), -EIO);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), 50, NULL), -EIO);
	/* The stream row gone under the transaction: the update says so, nothing commits. */
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 0, NULL, &seq), 0);
	cr_assert_eq(seq, 42);
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_exec(db, "test", "DELETE FROM streams WHERE stream_id = 's1'", 0, NULL,
				NULL, NULL, 0, NULL),
		     0);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), 50, NULL), -EIO);
	cr_assert_eq(td_i64(c, "SELECT committed_seq FROM streams WHERE stream_id = 's1'"), 42);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 1, "neither batch committed");
	/* The handle goes on. */
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s2"), 0, NULL, &seq), 0);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s2"), 7, NULL), 0);
	cr_assert_eq(td_i64(c, "SELECT committed_seq FROM streams WHERE stream_id = 's2'"), 7);
	PQfinish(c);
	be_db_close(db);
}

/* td_stream_lines - lines from..to of stream no (raw "line SEQ" and 380 x), asserted added */
static void td_stream_lines(be_db *db, int32_t h, int32_t no, uint64_t from, uint64_t to)
{
	char raw[512];
	int64_t now = (int64_t)time(NULL) * 1000000;

	for (uint64_t i = from; i <= to; i++) {
		int n = snprintf(raw, sizeof(raw), "line %llu %0380d", (unsigned long long)i, 0);
		memset(raw + n - 380, 'x', 380);
		be_db_line l = td_line(h, no, i, now + (int64_t)i, el_span_make(raw, (size_t)n));
		cr_assert_eq(be_db_line_add(db, &l), 0, "line %llu", (unsigned long long)i);
	}
}

Test(db_stream, streamed_lines_go_before_the_commit_in_their_reserved_range, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int32_t h, h2, no;
	uint64_t seq;
	be_db_stats st;
	be_db_line l;
	char sql[512];
	const long long n = 2000; /* about 850 KiB: the COPY gets them in several pieces */

	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	long long base = td_i64(c, "SELECT last_seq FROM ingest_counter");
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), (uint64_t)n, &no, &seq), 0);
	cr_assert_eq(seq, 0);
	td_stream_lines(db, h, no, 1, n / 2);
	cr_assert(db->copy_open, "the first pieces opened the COPY");
	/* A statement meanwhile (a host first seen mid-batch) ends that COPY; the rest open another. */
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx-new"), &h2), 0);
	cr_assert(!db->copy_open);
	td_stream_lines(db, h, no, n / 2 + 1, n);
	be_db_get_stats(db, &st);
	cr_assert_gt(st.lines_copied, (uint64_t)n / 2, "sent before the commit: %llu",
		     (unsigned long long)st.lines_copied);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 0, "not visible before the commit");
	l = td_line(h, no, (uint64_t)n + 1, 0, EL_SPAN_LIT("one too many"));
	cr_assert_eq(be_db_line_add(db, &l), -ERANGE);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), (uint64_t)n, NULL), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), n);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM lines WHERE ingest_seq = %lld + seq AND host_id = %d AND "
		 "raw = convert_to('line ' || seq || ' ' || repeat('x', 380), 'UTF8')",
		 base, (int)h);
	cr_assert_eq(td_i64(c, sql), n, "each line whole, numbered in its batch's range, in order");
	cr_assert_eq(td_i64(c, "SELECT last_seq FROM ingest_counter"), base + n);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM hosts WHERE name = 'mx-new'"), 1);

	/* Rolled back with its COPY open: nothing stored, the handle goes on. */
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 1000, &no, &seq), 0);
	cr_assert_eq(seq, (uint64_t)n);
	td_stream_lines(db, h, no, (uint64_t)n + 1, (uint64_t)n + 1000);
	cr_assert(db->copy_open);
	cr_assert_eq(be_db_rollback(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), n);

	/* A line the server refuses mid-COPY: the batch fails whole at its end. */
	td_ok(c, "ALTER TABLE lines ADD CONSTRAINT td_refuse CHECK (seq <> 2100)");
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 1000, &no, &seq), 0);
	td_stream_lines(db, h, no, (uint64_t)n + 1, (uint64_t)n + 1000);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), (uint64_t)n + 1000, NULL), -EIO);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), n);
	cr_assert_eq(td_i64(c, "SELECT committed_seq FROM streams WHERE stream_id = 's1'"), n);
	td_ok(c, "ALTER TABLE lines DROP CONSTRAINT td_refuse");

	/* A batch that adds fewer lines than it reserved (a partial resend) leaves a gap. */
	base = td_i64(c, "SELECT last_seq FROM ingest_counter");
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s1"), 10, &no, &seq), 0);
	td_stream_lines(db, h, no, (uint64_t)n + 6, (uint64_t)n + 10);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s1"), (uint64_t)n + 10, NULL), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), n + 5);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM lines WHERE seq > %lld AND ingest_seq BETWEEN %lld AND %lld",
		 n, base + 1, base + 5);
	cr_assert_eq(td_i64(c, sql), 5, "the first of the range, in order");
	cr_assert_eq(td_i64(c, "SELECT last_seq FROM ingest_counter"), base + 10);
	PQfinish(c);
	be_db_close(db);
}

Test(db_stream, row_lock_serialises_two_ingests)
{
	be_db *db = td_open();
	PGconn *c;
	PGresult *r;
	int32_t h;
	uint64_t seq;

	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s1"), NULL, &seq), 0);
	cr_assert_eq(be_db_commit(db), 0);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s1"), NULL, &seq), 0);
	/* A second ingest of the same stream waits for the first to commit. */
	c = td_pq();
	td_ok(c, "BEGIN");
	td_ok(c, "SET LOCAL lock_timeout = '200ms'");
	r = PQexec(c, "SELECT committed_seq FROM streams WHERE stream_id = 's1' FOR UPDATE");
	cr_assert_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
	cr_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "55P03");
	PQclear(r);
	td_ok(c, "ROLLBACK");
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s1"), 3), 0);
	cr_assert_eq(be_db_commit(db), 0);
	cr_assert_eq(td_i64(c, "SELECT committed_seq FROM streams WHERE stream_id = 's1'"), 3);
	PQfinish(c);
	be_db_close(db);
}

Test(db_stream, host_learned_in_a_rolled_back_transaction_is_forgotten)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int32_t h1, h2;
	char sql[128];

	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("new.example"), &h1), 0);
	cr_assert_eq(be_db_rollback(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM hosts"), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("new.example"), &h2), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM hosts WHERE id = %d", h2);
	cr_assert_eq(td_i64(c, sql), 1, "cached id of a row that was rolled back");
	PQfinish(c);
	be_db_close(db);
}

/* ---- flows ---- */

typedef struct td_flows {
	be_db *db;
	int pass;
	size_t ntx, nrcpt, nrej, nmid;
	int err;
	bool no_rejects; /* count rejects, do not write them (a rewrite of transactions only) */
} td_flows;

static void td_flow_tx(void *arg, const be_corr *c, const be_tx *t)
{
	td_flows *f = arg;
	be_tx copy = *t;

	f->ntx++;
	f->nrcpt += t->nrcpts;
	f->nmid += t->message_id != NULL && t->message_id[0];
	be_rcpt *rc = NULL;
	if (f->pass == 2)
		copy.nlines += 1000; /* the newest write must win */
	if (f->pass == 3) {
		/* A rewrite that moves every rollup key the flow counted in. */
		copy.from = "someone@moved.test";
		copy.size += 7;
		copy.client_ip = "192.0.2.77";
		rc = calloc(t->nrcpts ? t->nrcpts : 1, sizeof(*rc));
		cr_assert_not_null(rc);
		for (uint32_t i = 0; i < t->nrcpts; i++) {
			rc[i] = t->rcpts[i];
			rc[i].to = "rcpt@moved.test";
			rc[i].status = BE_RS_DEFERRED;
			rc[i].response =
				"host mx.moved.test[192.0.2.9] said: 451 4.7.1 try 12345 later";
			rc[i].via = BE_VIA_SMTP;
			memset(&rc[i].next, 0, sizeof(rc[i].next)); /* not linked: out */
		}
		copy.rcpts = rc;
	}
	if (be_db_flow_tx(f->db, c, &copy) != 0)
		f->err++;
	free(rc);
}

static void td_flow_reject(void *arg, const be_corr *c, const be_reject *j)
{
	td_flows *f = arg;

	f->nrej++;
	if (!f->no_rejects && be_db_flow_reject(f->db, c, j) != 0)
		f->err++;
}

/* td_feed - the harness's real Postfix logs through parser and engine into db */
static void td_feed(td_flows *f)
{
	static const char *files[] = { "mx1.maillog.log", "mx2.maillog.log", "mx3.maillog.log",
				       "volume-sample.log" };
	const char *dir = getenv("ELSE_TEST_DATA");
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { td_flow_tx, td_flow_reject, f };
	be_corr *c = be_corr_new(&conf, &out);
	el_parse_ctx ctx;
	el_rec rec;
	char path[4096];

	cr_assert_not_null(dir, "ELSE_TEST_DATA not set");
	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/postfix/%s", dir, files[i]);
		FILE *fp = fopen(path, "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		cr_assert_not_null(fp, "%s", path);
		while ((n = getline(&line, &cap, fp)) > 0) {
			if (line[n - 1] == '\n')
				n--;
			el_parse_line(&ctx, line, (size_t)n, &rec);
			el_span host = el_rec_get(&rec, EL_F_HOST);
			if (host.p == NULL)
				host = EL_SPAN_LIT("unknown");
			be_corr_line(c, host, &rec);
		}
		free(line);
		fclose(fp);
	}
	be_corr_flush(c);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
}

Test(db_flows, upsert_twice_gives_one_row_with_the_latest_content, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	td_flows f = { .db = db, .pass = 1 };
	long long msgs, rcpts, rejs, keys;
	be_db_stats st;

	cr_assert_eq(be_db_partitions(db, 1795000000 /* Nov 2026 */, 30), 0);
	cr_assert_eq(be_db_begin(db), 0);
	td_feed(&f);
	cr_assert_eq(f.err, 0);
	cr_assert_gt(f.ntx, 100);
	cr_assert_gt(f.nrej, 0);
	cr_assert_eq(be_db_flows_pending(db), f.ntx + f.nrej);
	cr_assert_eq(be_db_commit_lines(db), 0);
	/*
	 * Flows waiting on the connection (as the ingest pipeline keeps them
	 * for its writer) are neither written nor dropped by making a day's
	 * partitions, whether that works or fails.
	 */
	cr_assert_eq(be_db_partition_day(db, 1795000000 / 86400 - 40), 0);
	cr_assert_eq(be_db_partition_day(db, 1795000000 / 86400 - 5000), -EIO);
	cr_assert_eq(be_db_flows_pending(db), f.ntx + f.nrej);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 0);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_partition_day(db, 1795000000 / 86400 - 41), -EINVAL);
	cr_assert_eq(be_db_commit(db), 0);
	msgs = td_i64(c, "SELECT count(*) FROM messages");
	rcpts = td_i64(c, "SELECT count(*) FROM recipients");
	rejs = td_i64(c, "SELECT count(*) FROM rejects");
	keys = td_i64(c, "SELECT count(*) FROM email_keys");
	cr_assert_eq(msgs, (long long)f.ntx);
	cr_assert_eq(rcpts, (long long)f.nrcpt);
	cr_assert_eq(rejs, (long long)f.nrej, "every reject is its own row: %lld rows, %zu emitted",
		     rejs, f.nrej);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages_default"), 0);
	be_db_get_stats(db, &st);
	cr_assert_eq(st.messages, f.ntx);
	cr_assert_eq(st.rejects, f.nrej);
	cr_assert_eq(st.flows_upserted, 0, "new flows go in with plain inserts");
	/* Each day's addresses, once: each sender and recipient of the day. */
	long long addrs = td_i64(c, "SELECT count(*) FROM addresses");
	cr_assert_gt(addrs, 10);
	cr_assert_lt(addrs, msgs + rcpts, "an address is written once a day");
	cr_assert_eq(td_addresses_off(c, true), 0);

	/* The same flows again (a replay), newer content: same rows, updated. */
	td_flows g = { .db = db, .pass = 2 };
	td_feed(&g); /* outside a transaction: the flush makes its own */
	cr_assert_eq(g.err, 0);
	cr_assert_eq(be_db_flows_flush(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), msgs);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM recipients"), rcpts);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM rejects"), rejs);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM email_keys"), keys);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses"), addrs);
	cr_assert_eq(td_addresses_off(c, true), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE nlines < 1000"), 0);
	be_db_get_stats(db, &st);
	cr_assert_eq(st.rejects, f.nrej, "duplicates are not counted");
	cr_assert_eq(st.flows_upserted, 1, "the insert met the rows: the upserts wrote them");
	cr_assert_eq(st.keys_upserted, 0, "... and the keys went straight to ON CONFLICT");
	cr_assert_eq(st.messages, 2 * f.ntx, "counted once, by the upserts");

	/* What went in is what the engine said. */
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM messages WHERE status = 'delivered'"), 0);
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM recipients WHERE status = 'sent' AND "
			       "relay_host IS NOT NULL AND attempts > 0 AND delay IS NOT NULL"),
		     0);
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM messages WHERE prev_host_id IS NOT NULL"), 0,
		     "relay hops linked");
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM rejects WHERE status = 'rejected' AND "
			       "reject_code = '554'"),
		     0);
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM messages WHERE sender = ''"), 0,
		     "bounces keep their empty sender");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE actions IS NOT NULL AND "
			       "jsonb_typeof(actions) <> 'array'"),
		     0);
	PQfinish(c);
	be_db_close(db);
}

/*
 * td_stats_lines - run tests/ingest/stats_check.sql: the number of violations
 * it prints; out (may be NULL) gets them, "table|key|stored|want" a line.
 */
static long long td_stats_lines(PGconn *c, char *out, size_t cap)
{
	const char *dir = getenv("ELSE_TEST_DATA");
	char path[4096];
	el_buf sql;
	PGresult *r;
	long long n;
	size_t used = 0;

	cr_assert_not_null(dir, "ELSE_TEST_DATA not set");
	snprintf(path, sizeof(path), "%s/../ingest/stats_check.sql", dir);
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s", path);
	el_buf_init(&sql);
	char chunk[4096];
	size_t k;
	while ((k = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		el_buf_add(&sql, chunk, k);
	fclose(fp);
	el_buf_addc(&sql, '\0');
	r = PQexec(c, sql.p);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	n = PQntuples(r);
	if (out != NULL && cap > 0)
		out[0] = '\0';
	for (int i = 0; i < PQntuples(r); i++) {
		if (out == NULL && i < 5)
			cr_log_warn("rollup differs: %s %s stored %s want %s", PQgetvalue(r, i, 0),
				    PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
		if (out != NULL && used < cap) {
			int w = snprintf(out + used, cap - used, "%s%s|%s|%s|%s", i ? "\n" : "",
					 PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
					 PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
			used += w > 0 ? (size_t)w : 0;
		}
	}
	PQclear(r);
	el_buf_fini(&sql);
	return n;
}

/* td_stats_diff - rows where the rollups differ from tests/ingest/stats_check.sql */
static long long td_stats_diff(PGconn *c)
{
	return td_stats_lines(c, NULL, 0);
}

Test(db_stats, rollups_follow_rewritten_flows, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	td_flows f = { .db = db, .pass = 1 };
	long long msgs, rcpts;

	cr_assert_eq(be_db_partitions(db, 1795000000 /* Nov 2026 */, 30), 0);
	td_feed(&f);
	cr_assert_eq(f.err, 0);
	cr_assert_eq(be_db_flows_flush(db), 0);
	msgs = td_i64(c, "SELECT count(*) FROM messages");
	rcpts = td_i64(c, "SELECT count(*) FROM recipients");
	cr_assert_gt(msgs, 100);
	cr_assert_eq(td_stats_diff(c), 0, "after the first write");
	cr_assert_eq(td_i64(c, "SELECT sum(messages) FROM stats_msg_hourly"), msgs);
	cr_assert_eq(td_i64(c, "SELECT sum(recipients) FROM stats_rcpt_hourly"), rcpts);
	cr_assert_eq(td_i64(c, "SELECT sum(rejects) FROM stats_reject_hourly"),
		     td_i64(c, "SELECT count(*) FROM rejects"));
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM stats_top_daily WHERE kind = 6"), 0,
		     "reject reasons");
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM recipients WHERE direction = 'local'"), 0);
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM recipients WHERE direction = 'relay'"), 0);

	/*
	 * The same flows again with other senders, sizes, recipients,
	 * statuses: the plain inserts meet the rows, the upserts write them.
	 */
	td_flows g = { .db = db, .pass = 3 };
	be_db_stats st;
	td_feed(&g);
	cr_assert_eq(g.err, 0);
	cr_assert_eq(be_db_flows_flush(db), 0);
	be_db_get_stats(db, &st);
	cr_assert_eq(st.flows_upserted, 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), msgs);
	cr_assert_eq(td_stats_diff(c), 0, "after every flow was rewritten");
	cr_assert_eq(td_i64(c, "SELECT sum(messages) FROM stats_msg_hourly"), msgs);
	cr_assert_eq(td_i64(c, "SELECT sum(messages) FROM stats_msg_hourly "
			       "WHERE sender_domain = 'moved.test'"),
		     msgs, "every message moved to its new sender domain");
	cr_assert_eq(td_addresses_off(c, false), 0, "the new senders and recipients are found");
	cr_assert_eq(td_i64(c, "SELECT sum(recipients) FROM stats_rcpt_hourly WHERE "
			       "rcpt_domain = 'moved.test' AND status = 'deferred' "
			       "AND direction = 'out'"),
		     rcpts);
	cr_assert_eq(
		td_i64(c, "SELECT count(*) FROM stats_top_daily WHERE kind = 7 AND key = "
			  "'host mx.moved.test[<ip>] said: 451 4.7.1 try # later' "
			  "AND count > 0"),
		td_i64(c, "SELECT count(DISTINCT (else_day(first_seen), host_id)) FROM recipients"),
		"deferral reasons normalised into one key per day and host");
	cr_assert_eq(
		td_i64(c, "SELECT count(*) FROM stats_msg_hourly WHERE messages < 0 OR bytes < 0"),
		0);

	/* And back: a replay of the original flows restores the first counts. */
	td_flows h = { .db = db, .pass = 1 };
	td_feed(&h);
	cr_assert_eq(be_db_flows_flush(db), 0);
	cr_assert_eq(td_stats_diff(c), 0, "after writing the originals again");
	cr_assert_eq(td_i64(c, "SELECT coalesce(sum(messages), 0) FROM stats_msg_hourly "
			       "WHERE sender_domain = 'moved.test'"),
		     0);
	PQfinish(c);
	be_db_close(db);
}

/* ---- top lists: heavy keys (sql/006_stats_top.sql) ---- */

#define TD_TOP_DAY_S 1794304800LL /* 2026-11-10 10:00:00 UTC */

/*
 * td_top_msg - message number n of sender s<who>@a.test on host, written by
 * the ingest statement (be_db_flow_tx + flush) as the engine would emit it.
 * Writing the same (host, who0, n) with another sender rewrites that flow.
 */
static void td_top_msg(be_db *db, const be_corr *c, uint16_t host, int who0, int n, int who)
{
	char from[64];
	be_tx t;

	memset(&t, 0, sizeof(t));
	t.host = host;
	snprintf(t.qid, sizeof(t.qid), "A%02d%02d", who0, n);
	t.email_id = (uint64_t)(host * 10000 + who0 * 100 + n);
	t.flags = BE_TX_STARTED | BE_TX_QUEUED | BE_TX_REMOVED;
	t.first_us = (TD_TOP_DAY_S + who0 * 60 + n) * 1000000;
	t.last_us = t.first_us + 1000000;
	snprintf(from, sizeof(from), "s%d@a.test", who);
	t.from = from;
	t.size = 1000;
	t.nlines = 4;
	cr_assert_eq(be_db_flow_tx(db, c, &t), 0);
}

/* td_top_hot - the hot rows, "host:kind:key:count" in order, comma-separated */
static void td_top_hot(PGconn *c, char *out, size_t cap)
{
	td_str(c,
	       "SELECT string_agg(h.name || ':' || t.kind || ':' || t.key || ':' || t.count, ',' "
	       "ORDER BY h.name, t.kind, t.key) FROM stats_top_hot t JOIN hosts h "
	       "ON h.id = t.host_id",
	       out, cap);
}

/* td_top_cut - the cuts, "host:kind:day:cut" in order, comma-separated */
static void td_top_cut(PGconn *c, char *out, size_t cap)
{
	td_str(c,
	       "SELECT string_agg(h.name || ':' || t.kind || ':' || t.day || ':' || t.cut, ',' "
	       "ORDER BY h.name, t.kind) FROM stats_top_cut t JOIN hosts h ON h.id = t.host_id",
	       out, cap);
}

/* td_top_span - the span rows, "days:host:key:count" (host 0 or its name) in order */
static void td_top_span(PGconn *c, char *out, size_t cap)
{
	td_str(c,
	       "SELECT string_agg(t.days || ':' || coalesce(h.name, '0') || ':' || t.key || ':' "
	       "|| t.count, ',' ORDER BY t.days, t.host_id <> 0, h.name, t.kind, t.key) "
	       "FROM stats_top_span t LEFT JOIN hosts h ON h.id = t.host_id",
	       out, cap);
}

/*
 * The refresh keeps K = 3 keys per group: mx1's senders (6 keys) get a cut,
 * every other group (1 key) is exact.  Then the ingest, as the ingest role,
 * adds flows and rewrites others: keys that reach the cut become hot, hot
 * keys follow their exact counts, also below the cut, until the next refresh.
 */
/* td_hot_live - stats_top_hot's rows as the statistics count them (flushed first) */
static long long td_hot_live(PGconn *c)
{
	td_ok(c, "SELECT pg_stat_force_next_flush()");
	td_ok(c, "SELECT 1");
	return td_i64(c, "SELECT pg_stat_get_live_tuples('stats_top_hot'::regclass)");
}

Test(db_stats, top_hot_is_compacted_after_a_large_load, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	int64_t freed = -1;
	char before[4096], after[4096];

	/*
	 * The live-row count is the statistics': an autoanalyze that began
	 * before the delete could report the rows it saw after it.  Off here,
	 * so that the count is the delete's.
	 */
	td_ok(c, "ALTER TABLE stats_top_hot SET (autovacuum_enabled = off)");
	/* A large load's hot rows over 20 days, most deleted by the refresh. */
	td_ok(c, "INSERT INTO stats_top_hot (day, host_id, kind, count, domain, key) "
		 "SELECT '2026-11-01'::date + i % 20, 1 + i % 3, 1, i, 'a.test', 'k' || i "
		 "FROM generate_series(1, 60000) i");
	td_ok(c, "BEGIN");
	td_ok(c, "DELETE FROM stats_top_hot WHERE count % 200 <> 0");
	long long del = td_i64(c, "SELECT txid_current()");
	td_ok(c, "COMMIT");
	cr_assert_eq(td_hot_live(c), 300);
	/*
	 * CLUSTER keeps the rows a transaction still running may see: the other
	 * tests' databases have theirs, and one begun before the delete is in
	 * every snapshot's xmin.  Wait until none is left (up to 60 s).
	 */
	char q[160];
	snprintf(q, sizeof(q), "SELECT (txid_snapshot_xmin(txid_current_snapshot()) > %lld)::int",
		 del);
	for (int i = 0; i < 1200 && td_i64(c, q) != 1; i++)
		usleep(50000);
	cr_assert_eq(td_i64(c, q), 1, "a transaction older than the delete is still running");
	td_str(c,
	       "SELECT md5(string_agg(concat_ws(' ', day, host_id, kind, count, domain, key), ',' "
	       "ORDER BY day, kind, host_id, key)) FROM stats_top_hot",
	       before, sizeof(before));
	long long size = td_i64(c, "SELECT pg_relation_size('stats_top_hot')");
	cr_assert_gt(size, 8 * 150 * 300, "the deleted rows' pages stay");
	/* Under min_bytes: left alone. */
	cr_assert_eq(be_db_stats_top_compact(db, size + 1, &freed), 0);
	cr_assert_eq(freed, -1);
	cr_assert_eq(td_i64(c, "SELECT pg_relation_size('stats_top_hot')"), size);
	/* The ingest holding its lock: refused after the lock timeout, nothing changed. */
	PGconn *c2 = td_pq();
	td_ok(c2, "BEGIN");
	td_ok(c2, "UPDATE stats_top_hot SET count = count WHERE key = 'k400'");
	cr_assert_eq(be_db_stats_top_compact(db, 0, &freed), -EAGAIN);
	cr_assert_eq(freed, -1);
	td_ok(c2, "ROLLBACK");
	PQfinish(c2);
	cr_assert_eq(td_i64(c, "SELECT pg_relation_size('stats_top_hot')"), size);
	/* Over min_bytes, and mostly empty: rewritten, the same rows, the space given back. */
	cr_assert_eq(be_db_stats_top_compact(db, 0, &freed), 0);
	long long now = td_i64(c, "SELECT pg_relation_size('stats_top_hot')");
	cr_assert_eq(freed, size - now);
	cr_assert_lt(now * 8, size, "%lld bytes, were %lld", now, size);
	td_str(c,
	       "SELECT md5(string_agg(concat_ws(' ', day, host_id, kind, count, domain, key), ',' "
	       "ORDER BY day, kind, host_id, key)) FROM stats_top_hot",
	       after, sizeof(after));
	cr_assert_str_eq(after, before);
	/* In key order: a day's rows are on neighbouring pages. */
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM (SELECT day, ctid, lag(day) OVER (ORDER BY "
			       "ctid) AS prev FROM stats_top_hot) x WHERE day < prev"),
		     0);
	/* Not bloated any more: left alone. */
	td_hot_live(c);
	cr_assert_eq(be_db_stats_top_compact(db, 0, &freed), 0);
	cr_assert_eq(freed, -1);
	PQfinish(c);
	be_db_close(db);
}

Test(db_stats, top_hot_follows_ingest_and_refresh, .timeout = 120)
{
	static const int per_sender[] = { 0, 5, 4, 3, 2, 2, 1 }; /* s1..s6 on mx1 */
	be_db *db = td_open(), *ing;
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr *corr = be_corr_new(&conf, &(be_corr_out){ 0 });
	uint16_t mx1, mx2;
	char ci[8300], got[2048], want[2048];
	int days = -1;

	cr_assert_not_null(corr);
	mx1 = be_host_id(corr, EL_SPAN_LIT("mx1"));
	mx2 = be_host_id(corr, EL_SPAN_LIT("mx2"));
	cr_assert_eq(be_db_partitions(db, TD_TOP_DAY_S, 2), 0);
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	PGconn *c = td_pq();

	for (int who = 1; who <= 6; who++)
		for (int n = 1; n <= per_sender[who]; n++)
			td_top_msg(ing, corr, mx1, who, n, who);
	td_top_msg(ing, corr, mx2, 1, 1, 1);
	cr_assert_eq(be_db_flows_flush(ing), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 18);
	/* Never refreshed: no cut, every key is hot, the day is dirty. */
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM stats_top_hot"),
		     td_i64(c, "SELECT count(*) FROM stats_top_daily"));
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM stats_top_hot"), 9);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM stats_top_dirty WHERE day = '2026-11-10'"), 1);
	cr_assert_eq(td_stats_diff(c), 0, "after the first write");
	/* Due early: mx1's 6 senders are more than 2 x 2 hot keys, not more than 2 x 3. */
	bool due = false;
	cr_assert_eq(be_db_stats_top_due(db, 2, &due), 0);
	cr_assert(due);
	cr_assert_eq(be_db_stats_top_due(db, 3, &due), 0);
	cr_assert_not(due);
	cr_assert_eq(be_db_stats_top_due(db, 0, &due), -EINVAL);

	/* Refresh: counts 5 4 3 2 2 1, the 4th key has 2, so the cut is 3. */
	cr_assert_eq(be_db_stats_top_refresh(db, 3, &days), 0);
	cr_assert_eq(days, 1);
	td_top_cut(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:2026-11-10:3");
	td_top_hot(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:s1@a.test:5,mx1:1:s2@a.test:4,mx1:1:s3@a.test:3,"
			      "mx1:3:a.test:17,mx2:1:s1@a.test:1,mx2:3:a.test:1");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM stats_top_dirty"), 0);
	cr_assert_eq(td_stats_diff(c), 0, "after the refresh");
	/* The day is over: its span over every host, and its week's (011). */
	td_str(c,
	       "SELECT string_agg(first || ':' || days || ':' || last, ',' ORDER BY days) "
	       "FROM stats_top_spans",
	       got, sizeof(got));
	cr_assert_str_eq(got, "2026-11-10:1:2026-11-10,2026-11-09:7:2026-11-15");
	td_top_span(c, got, sizeof(got));
	cr_assert_str_eq(got, "1:0:s1@a.test:6,1:0:s2@a.test:4,1:0:s3@a.test:3,1:0:a.test:18,"
			      "7:0:s1@a.test:6,7:0:s2@a.test:4,7:0:s3@a.test:3,7:0:a.test:18,"
			      "7:mx1:s1@a.test:5,7:mx1:s2@a.test:4,7:mx1:s3@a.test:3,"
			      "7:mx1:a.test:17,7:mx2:s1@a.test:1,7:mx2:a.test:1");
	cr_assert_eq(be_db_stats_top_refresh(db, 3, &days), 0);
	cr_assert_eq(days, 0, "nothing changed since");
	/* A day not changed since its refresh is never due, whatever its hot keys. */
	cr_assert_eq(be_db_stats_top_due(db, 1, &due), 0);
	cr_assert_not(due);

	/* New flows: s4 reaches the cut (2 -> 3), hot s1 grows (5 -> 6). */
	td_top_msg(ing, corr, mx1, 4, 3, 4);
	td_top_msg(ing, corr, mx1, 1, 6, 1);
	cr_assert_eq(be_db_flows_flush(ing), 0);
	td_top_hot(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:s1@a.test:6,mx1:1:s2@a.test:4,mx1:1:s3@a.test:3,"
			      "mx1:1:s4@a.test:3,mx1:3:a.test:19,mx2:1:s1@a.test:1,"
			      "mx2:3:a.test:1");
	cr_assert_eq(td_stats_diff(c), 0, "after new flows");
	/* Changed again: 4 hot senders on mx1, due at keep 1, not at keep 2. */
	cr_assert_eq(be_db_stats_top_due(db, 1, &due), 0);
	cr_assert(due);
	cr_assert_eq(be_db_stats_top_due(db, 2, &due), 0);
	cr_assert_not(due);
	/* Rewrites: a flow of s2 and one of s3 now come from s6: hot s2 4 -> 3,
	 * hot s3 3 -> 2 (under the cut, still listed with its exact count), s6
	 * 1 -> 3 (reaches the cut). */
	td_top_msg(ing, corr, mx1, 2, 1, 6);
	td_top_msg(ing, corr, mx1, 3, 1, 6);
	cr_assert_eq(be_db_flows_flush(ing), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 20);
	td_top_hot(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:s1@a.test:6,mx1:1:s2@a.test:3,mx1:1:s3@a.test:2,"
			      "mx1:1:s4@a.test:3,mx1:1:s6@a.test:3,mx1:3:a.test:19,"
			      "mx2:1:s1@a.test:1,mx2:3:a.test:1");
	td_top_cut(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:2026-11-10:3", "the cut waits for the refresh");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM stats_top_dirty WHERE day = '2026-11-10'"), 1);
	cr_assert_eq(td_stats_diff(c), 0, "after rewrites");

	/* The checker sees what the ingest would break. */
	td_ok(c, "BEGIN");
	td_ok(c, "DELETE FROM stats_top_hot WHERE key = 's6@a.test'");
	td_ok(c, "UPDATE stats_top_hot SET count = 4 WHERE key = 's2@a.test'");
	td_ok(c, "UPDATE stats_msg_host_hourly SET bytes = bytes + 1 "
		 "WHERE host_id = (SELECT id FROM hosts WHERE name = 'mx2')");
	cr_assert_eq(td_stats_lines(c, got, sizeof(got)), 3, "%s", got);
	td_ok(c, "ROLLBACK");
	/* A day marked clean without a refresh: s3 is hot under the cut (its
	 * spans, made before the rewrites, would be stale too: left out here,
	 * the span checks have their own case below). */
	td_ok(c, "BEGIN");
	td_ok(c, "DELETE FROM stats_top_dirty");
	td_ok(c, "DELETE FROM stats_top_spans");
	td_stats_lines(c, got, sizeof(got));
	snprintf(want, sizeof(want),
		 "stats_top_hot|2026-11-10 %lld 1 s3@a.test|2 'a.test'|below cut 3",
		 td_i64(c, "SELECT id FROM hosts WHERE name = 'mx1'"));
	cr_assert_str_eq(got, want);
	td_ok(c, "ROLLBACK");

	/* Refresh: counts 6 3 3 3 2 2, the 4th key has 3, so the cut is 4. */
	cr_assert_eq(be_db_stats_top_refresh(db, 3, &days), 0);
	cr_assert_eq(days, 1);
	td_top_cut(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:2026-11-10:4");
	td_top_hot(c, got, sizeof(got));
	cr_assert_str_eq(got, "mx1:1:s1@a.test:6,mx1:3:a.test:19,mx2:1:s1@a.test:1,"
			      "mx2:3:a.test:1");
	cr_assert_eq(td_stats_diff(c), 0, "after the second refresh");
	/* The spans were made again from the new hot rows (4K = 12 keys kept). */
	td_top_span(c, got, sizeof(got));
	cr_assert_str_eq(got, "1:0:s1@a.test:7,1:0:a.test:20,7:0:s1@a.test:7,7:0:a.test:20,"
			      "7:mx1:s1@a.test:6,7:mx1:a.test:19,7:mx2:s1@a.test:1,7:mx2:a.test:1");
	/* The checker sees a span that does not sum the hot rows, or misses a key. */
	td_ok(c, "BEGIN");
	td_ok(c, "UPDATE stats_top_span SET count = 8 WHERE host_id = 0 AND days = 7 "
		 "AND key = 's1@a.test'");
	td_ok(c, "DELETE FROM stats_top_span WHERE days = 1 AND key = 'a.test'");
	cr_assert_eq(td_stats_lines(c, got, sizeof(got)), 2, "%s", got);
	cr_assert_not_null(strstr(got, "stats_top_span|2026-11-09 7 1 0 s1@a.test|8|7"), "%s", got);
	cr_assert_not_null(strstr(got, "stats_top_span|2026-11-10 1 3 0 a.test||20"), "%s", got);
	td_ok(c, "ROLLBACK");
	/*
	 * A cut the refresh cannot have made: with 7, no mx1 sender reaches it and
	 * the other groups have one key, so K would be 1, and K = 1 gives mx1's
	 * senders the cut 1 + 3 (the 2nd count), not 7.
	 */
	td_ok(c, "BEGIN");
	td_ok(c, "UPDATE stats_top_cut SET cut = 7");
	td_stats_lines(c, got, sizeof(got));
	long long id1 = td_i64(c, "SELECT id FROM hosts WHERE name = 'mx1'");
	snprintf(want, sizeof(want),
		 "stats_top_hot|2026-11-10 %lld 1 s1@a.test|6 'a.test'|below cut 7\n"
		 "stats_top_cut|2026-11-10 %lld 1|7|4",
		 id1, id1);
	cr_assert_str_eq(got, want);
	td_ok(c, "ROLLBACK");
	cr_assert_eq(td_stats_diff(c), 0);

	PQfinish(c);
	be_corr_free(corr);
	be_db_close(ing);
	be_db_close(db);
}

/* td_feed_flush - the test logs' flows written (pass 1), in Nov 2026's partitions; their last day */
static long long td_feed_flush(be_db *db, PGconn *c)
{
	td_flows f = { .db = db, .pass = 1 };

	cr_assert_eq(be_db_partitions(db, 1795000000 /* Nov 2026 */, 30), 0);
	td_feed(&f);
	cr_assert_eq(f.err, 0);
	cr_assert_eq(be_db_flows_flush(db), 0);
	return td_i64(c, "SELECT max((first_seen AT TIME ZONE 'UTC')::date - "
			 "date '1970-01-01') FROM messages");
}

/* Messages without their e-mail id key (the flow view finds the days through it). */
#define TD_EMAIL_ID_KEYS_MISSING                                                                   \
	"SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT FROM email_keys k "              \
	"WHERE k.kind = 3 AND k.key = lpad(to_hex(m.email_id), 16, '0') "                          \
	"AND k.day = m.first_seen::date)"

/*
 * The addresses the flows remember as written are forgotten at each new day,
 * and those of days retention may drop are never remembered: a flow of a day
 * dropped meanwhile (the DELETE stands for the drop) is written with them.
 */
Test(db_flows, remembered_keys_follow_the_days_retention_keeps, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	long long day = td_feed_flush(db, c);

	cr_assert_eq(td_addresses_off(c, false), 0);
	/*
	 * The same flows again on one day: remembered, not staged again, so
	 * the rows deleted stay away; a new day forgets them, and a day that
	 * retention may drop is never remembered.
	 */
	static const struct {
		int today, retention;
		bool written;
	} step[] = {
		{ 1, 30, true }, { 1, 30, false }, { 2, 30, true }, { 2, 1, true }, { 2, 1, true }
	};
	for (size_t k = 0; k < sizeof(step) / sizeof(step[0]); k++) {
		td_ok(c, "DELETE FROM addresses");
		be_db_keys_window(db, day + step[k].today, step[k].retention);
		td_flows g = { .db = db, .pass = 2 };
		td_feed(&g);
		cr_assert_eq(g.err, 0);
		cr_assert_eq(be_db_flows_flush(db), 0);
		if (step[k].written)
			cr_assert_eq(td_addresses_off(c, false), 0, "step %zu", k);
		else
			cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses"), 0, "step %zu", k);
	}
	PQfinish(c);
	be_db_close(db);
}

Test(db_flows, email_keys_find_the_email, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	char mid[1024], sql[2048], eid[64], qid[64];

	td_feed_flush(db, c);
	td_str(c,
	       "SELECT message_id FROM messages WHERE message_id IS NOT NULL "
	       "ORDER BY first_seen LIMIT 1",
	       mid, sizeof(mid));
	cr_assert(strchr(mid, '\'') == NULL);
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(DISTINCT email_id::text, ',') FROM email_keys "
		 "WHERE kind = 1 AND key = '%s'",
		 mid);
	td_str(c, sql, eid, sizeof(eid));
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(DISTINCT email_id::text, ',') FROM messages "
		 "WHERE message_id = '%s'",
		 mid);
	char want[64];
	td_str(c, sql, want, sizeof(want));
	cr_assert_str_eq(eid, want);
	/* Queue ID and e-mail id keys; the day is the message's day. */
	td_str(c, "SELECT queue_id FROM messages ORDER BY first_seen LIMIT 1", qid, sizeof(qid));
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM email_keys k JOIN messages m ON m.email_id = k.email_id "
		 "AND m.queue_id = k.key AND m.first_seen::date = k.day WHERE k.kind = 2 AND "
		 "k.key = '%s'",
		 qid);
	cr_assert_geq(td_i64(c, sql), 1);
	cr_assert_eq(td_i64(c, TD_EMAIL_ID_KEYS_MISSING), 0);
	PQfinish(c);
	be_db_close(db);
}

/*
 * New rows whose e-mail keys are in the table already (the second hop of an
 * e-mail flushed after be_db_key_add forgot its keys): the rows go in with
 * the plain inserts, and only the keys' statement runs again, with ON
 * CONFLICT DO NOTHING.  Nothing doubled, nothing lost.
 */
Test(db_flows, a_key_written_already_reruns_the_keys_alone, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	long long day = td_feed_flush(db, c);
	be_db_stats st;

	long long msgs = td_i64(c, "SELECT count(*) FROM messages");
	long long rcpts = td_i64(c, "SELECT count(*) FROM recipients");
	long long keys = td_i64(c, "SELECT count(*) FROM email_keys");
	long long addrs = td_i64(c, "SELECT count(*) FROM addresses");
	cr_assert_gt(keys, msgs, "a Message-ID, a queue ID and an e-mail id per e-mail");
	be_db_get_stats(db, &st);
	cr_assert_eq(st.flows_upserted, 0);
	cr_assert_eq(st.keys_upserted, 0);

	/* The rows go, their keys stay; a new day: no key is remembered. */
	td_ok(c, "DELETE FROM recipients; DELETE FROM messages; DELETE FROM rejects");
	be_db_keys_window(db, day + 1, 30);
	td_flows g = { .db = db, .pass = 1 };
	td_feed(&g);
	cr_assert_eq(g.err, 0);
	cr_assert_eq(be_db_flows_flush(db), 0);
	be_db_get_stats(db, &st);
	cr_assert_eq(st.flows_upserted, 0, "the rows went in with the plain inserts");
	cr_assert_eq(st.keys_upserted, 1, "the keys met theirs and ran again with ON CONFLICT");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), msgs);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM recipients"), rcpts);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM email_keys"), keys);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM addresses"), addrs);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM (SELECT kind, key, day, email_id FROM "
			       "email_keys GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d"),
		     0);
	cr_assert_eq(td_i64(c, TD_EMAIL_ID_KEYS_MISSING), 0);
	PQfinish(c);
	be_db_close(db);
}

/* ---- checkpoints and replay ---- */

Test(db_state, checkpoint_save_load_keeps_three)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	uint64_t seq = 0;
	el_buf st;
	char state[32];

	el_buf_init(&st);
	cr_assert_eq(be_db_checkpoint_load(db, &seq, &st), -ENOENT);
	for (int i = 1; i <= 5; i++) {
		int n = snprintf(state, sizeof(state), "state %d", i);
		state[n] = '\0'; /* a NUL inside the state too */
		cr_assert_eq(be_db_checkpoint_save(db, (uint64_t)i * 100, state, (size_t)n + 1), 0);
	}
	cr_assert_eq(be_db_checkpoint_load(db, &seq, &st), 0);
	cr_assert_eq(seq, 500);
	cr_assert_eq(st.len, 8);
	cr_assert(memcmp(st.p, "state 5\0", 8) == 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM corr_checkpoint"), 3);
	cr_assert_eq(be_db_checkpoint_save(db, 600, NULL, 0), 0);
	st.len = 0;
	cr_assert_eq(be_db_checkpoint_load(db, &seq, &st), 0);
	cr_assert_eq(seq, 600);
	cr_assert_eq(st.len, 0);
	el_buf_fini(&st);
	PQfinish(c);
	be_db_close(db);
}

typedef struct td_replay {
	be_db *db; /* when set, the callback looks up a new host (SQL mid-replay) */
	uint64_t last, n, stop_at;
	char hosts[8][32];
	int64_t ts[8];
} td_replay;

static int td_replay_cb(void *arg, const be_db_line *l, el_span host)
{
	td_replay *r = arg;

	cr_assert_gt(l->ingest_seq, r->last, "ingest_seq order");
	r->last = l->ingest_seq;
	if (r->n < 8) {
		snprintf(r->hosts[r->n], sizeof(r->hosts[0]), "%.*s", (int)host.len, host.p);
		r->ts[r->n] = l->ts_us;
	}
	cr_assert_eq(l->event, EL_EV_CLIENT);
	cr_assert_eq(l->pid, 1234);
	cr_assert_eq(l->queue_id.len, 8);
	if (r->db && r->n % 1000 == 999) {
		char name[64];
		int32_t id;
		snprintf(name, sizeof(name), "replay-host-%llu", (unsigned long long)r->n);
		cr_assert_eq(be_db_host_id(r->db, el_span_make(name, strlen(name)), &id), 0);
	}
	r->n++;
	return r->stop_at && r->n == r->stop_at ? 1 : 0;
}

Test(db_state, replay_in_ingest_order)
{
	be_db *db = td_open();
	int64_t now = (int64_t)time(NULL) * 1000000;
	int32_t h1, h2;
	uint64_t n;
	char raw[32];

	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h1), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx2"), &h2), 0);
	for (int b = 0; b < 3; b++) {
		cr_assert_eq(be_db_begin(db), 0);
		for (int i = 0; i < 100; i++) {
			snprintf(raw, sizeof(raw), "line %d/%d", b, i);
			/* Times go backwards: replay follows arrival, not log time. */
			be_db_line l = td_line(i % 2 ? h2 : h1, 1, (uint64_t)(b * 100 + i + 1),
					       now - (b * 100 + i) * 1000000LL,
					       el_span_make(raw, strlen(raw)));
			cr_assert_eq(be_db_line_add(db, &l), 0);
		}
		cr_assert_eq(be_db_commit(db), 0);
	}
	td_replay r;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(be_db_replay(db, 0, td_replay_cb, &r, &n), 0);
	cr_assert_eq(n, 300);
	cr_assert_eq(r.n, 300);
	cr_assert_eq(r.last, 300);
	cr_assert_str_eq(r.hosts[0], "mx1");
	cr_assert_str_eq(r.hosts[1], "mx2");
	cr_assert_eq(r.ts[0], now);
	memset(&r, 0, sizeof(r));
	r.last = 250;
	cr_assert_eq(be_db_replay(db, 250, td_replay_cb, &r, &n), 0);
	cr_assert_eq(n, 50);
	memset(&r, 0, sizeof(r));
	r.stop_at = 10;
	cr_assert_eq(be_db_replay(db, 0, td_replay_cb, &r, &n), -ECANCELED);
	cr_assert_eq(n, 10);
	/* The connection is still good after a stopped replay. */
	uint64_t last;
	cr_assert_eq(be_db_last_ingest_seq(db, &last), 0);
	cr_assert_eq(last, 300);

	/* More lines than one FETCH, and SQL from the callback between FETCHes. */
	cr_assert_eq(be_db_begin(db), 0);
	for (int i = 0; i < 4500; i++) {
		be_db_line l = td_line(h1, 2, (uint64_t)i + 1, now, EL_SPAN_LIT("more"));
		cr_assert_eq(be_db_line_add(db, &l), 0);
	}
	cr_assert_eq(be_db_commit(db), 0);
	memset(&r, 0, sizeof(r));
	r.db = db;
	cr_assert_eq(be_db_replay(db, 0, td_replay_cb, &r, &n), 0);
	cr_assert_eq(n, 4800);
	cr_assert_eq(r.last, 4800);
	PGconn *c = td_pq();
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM hosts WHERE name LIKE 'replay-host-%'"), 4);
	PQfinish(c);
	be_db_close(db);
}

/* ---- past days (sql/008) ---- */

/* td_batch - one batch of lines "TIME mx1 postfix/smtpd[1]: TEXT" through g */
static void td_batch(be_ingest *g, uint64_t first_seq, const int64_t *ts, size_t n)
{
	Else__Line lines[16], *ptrs[16];
	char texts[16][160];
	Else__Batch b = ELSE__BATCH__INIT;
	Else__IngestStatus st;
	uint64_t committed;
	char err[256];

	cr_assert_leq(n, 16);
	for (size_t i = 0; i < n; i++) {
		time_t t = (time_t)ts[i];
		struct tm tm;
		char when[64];
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000000+00:00", &tm);
		snprintf(texts[i], sizeof(texts[i]),
			 "%s mx1 postfix/smtpd[1]: connect from c%zu.example[192.0.2.%zu]", when, i,
			 i + 1);
		else__line__init(&lines[i]);
		lines[i].seq = first_seq + i;
		lines[i].text.data = (uint8_t *)texts[i];
		lines[i].text.len = strlen(texts[i]);
		lines[i].recv_time_us = (int64_t)time(NULL) * 1000000;
		ptrs[i] = &lines[i];
	}
	b.stream_id = "maillog";
	b.batch_seq = first_seq;
	b.first_seq = first_seq;
	b.n_lines = n;
	b.lines = ptrs;
	cr_assert_eq(be_ingest_batch(g, "mx1", &b, &st, &committed, err, sizeof(err)), 0);
	cr_assert_eq(st, ELSE__INGEST_STATUS__STATUS_OK, "%s", err);
	cr_assert_eq(committed, first_seq + n - 1);
}

/* td_rows - rows of lines in partition lines_pYYYYMMDD of now + days (-1: absent) */
static long long td_rows(PGconn *c, int64_t now, int days)
{
	char d[16], sql[160];

	td_day(d, sizeof(d), now, days);
	snprintf(sql, sizeof(sql), "SELECT (to_regclass('lines_p%s') IS NOT NULL)::int", d);
	if (td_i64(c, sql) == 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM lines_p%s", d);
	return td_i64(c, sql);
}

Test(db_days, backfill_lands_in_day_partitions, .timeout = 120)
{
	be_db *db = td_open(), *ing, *q;
	int64_t now = (int64_t)time(NULL);
	char ci[8300], d[16], sql[160];
	be_ingest *g;
	be_ingest_conf ic = { .corr = BE_CORR_CONF_DEFAULT,
			      .checkpoint_us = 1000000000,
			      .idle_us = 1000000000,
			      .retention_days = 90,
			      .ahead_days = 2 };

	cr_assert_eq(be_db_partitions(db, now, 2), 0);
	/* As else-backend runs it: the ingest role, which has no DDL right. */
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	cr_assert_eq(be_ingest_new(&g, ing, &ic), 0);
	PGconn *c = td_pq();
	cr_assert_eq(td_rows(c, now, -10), -1);
	/* A collector backfilling: 10 and 12 days ago, 200 days ago (past retention), now. */
	int64_t ts[] = { now - 10 * 86400,  now - 10 * 86400 + 1, now - 12 * 86400,
			 now - 200 * 86400, now - 10 * 86400 + 2, now };
	td_batch(g, 1, ts, 6);
	cr_assert_eq(td_rows(c, now, -10), 3, "the day's lines moved out of DEFAULT");
	cr_assert_eq(td_rows(c, now, -12), 1);
	cr_assert_eq(td_rows(c, now, 0), 1);
	cr_assert_eq(td_rows(c, now, -200), -1, "no partition past retention");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines_default"), 1);
	td_day(d, sizeof(d), now, -10);
	const char *tabs[] = { "messages", "recipients", "rejects" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(sql, sizeof(sql), "SELECT (to_regclass('%s_p%s') IS NOT NULL)::int",
			 tabs[i], d);
		cr_assert_eq(td_i64(c, sql), 1, "%s_p%s missing", tabs[i], d);
	}
	be_ingest_stats st;
	be_corr_stats cst;
	be_ingest_get_stats(g, &st, &cst);
	/* Each day and the day after it, made before a backfill's next day arrives. */
	cr_assert_eq(st.partition_days, 6, "days made: %llu",
		     (unsigned long long)st.partition_days);
	cr_assert_eq(st.partition_errors, 0);
	cr_assert_eq(td_rows(c, now, -9), 0, "the day after, made empty");
	cr_assert_eq(td_rows(c, now, -11), 0);
	cr_assert_eq(td_rows(c, now, -13), -1, "not the day before");
	/* A day already made is not asked for again. */
	int64_t ts2[] = { now - 10 * 86400 + 5, now - 12 * 86400 + 5, now - 9 * 86400 };
	td_batch(g, 7, ts2, 3);
	be_ingest_get_stats(g, &st, &cst);
	cr_assert_eq(st.partition_days, 7, "the day after -9 only");
	cr_assert_eq(td_rows(c, now, -9), 1, "its line went to its partition");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines_default"), 1);
	cr_assert_eq(td_rows(c, now, -10), 4);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 9);
	be_ingest_free(g);

	/* The database bounds the day; else_query may not call it at all. */
	cr_assert_eq(be_db_partition_day(ing, now / 86400 - 4000), -EIO);
	cr_assert_eq(be_db_partition_day(ing, now / 86400 + 400), -EIO);
	cr_assert_eq(be_db_partition_day(ing, now / 86400 - 30), 0);
	cr_assert_eq(td_rows(c, now, -30), 0);
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_query", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&q, ci), 0);
	cr_assert_eq(be_db_partition_day(q, now / 86400 - 31), -EACCES);
	cr_assert_eq(td_rows(c, now, -31), -1);
	be_db_close(q);
	PQfinish(c);
	be_db_close(ing);
	be_db_close(db);
}

/* ---- flow journal (sql/010) ---- */

/* td_journal_batch - a batch's flows (f fed) journaled and committed; the row's id */
static int64_t td_journal_batch(be_db *db, td_flows *f)
{
	int64_t id;

	cr_assert_eq(be_db_begin(db), 0);
	td_feed(f);
	cr_assert_eq(be_db_journal_add(db, &id), 0);
	cr_assert_eq(be_db_commit_lines(db), 0);
	return id;
}

Test(db_flows, journal_row_and_lines_in_two_round_trips, .timeout = 120)
{
	be_db *db = td_open();
	PGconn *c = td_pq();
	td_flows f = { .db = db, .pass = 1 };
	int32_t h, no;
	uint64_t seq;
	int64_t id = -1;

	cr_assert_eq(be_db_partitions(db, 1795000000, 30), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_journal_lines_flush(db, &id), -EINVAL, "outside tx");
	/* Lines without new flows: no journal row. */
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s"), 0, &no, &seq), 0);
	be_db_line l = td_line(h, no, 1, 1795000000LL * 1000000, EL_SPAN_LIT("x"));
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_journal_lines_flush(db, &id), 0);
	cr_assert_eq(id, 0);
	cr_assert_eq(be_db_lines_pending(db), 0);
	/* Flows and lines: one row, the lines after it. */
	td_feed(&f);
	cr_assert_eq(f.err, 0);
	l.seq = 2;
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_journal_lines_flush(db, &id), 0);
	cr_assert_gt(id, 0);
	cr_assert_eq(be_db_lines_pending(db), 0);
	int64_t again;
	cr_assert_eq(be_db_journal_add(db, &again), 0);
	cr_assert_eq(again, 0, "the rows are in the journal once");
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s"), 2, NULL), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 2);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 1);
	cr_assert_eq(td_i64(c, "SELECT max(id) FROM flow_journal"), id);
	cr_assert_eq(td_i64(c, "SELECT nmessages FROM flow_journal"), (long long)f.ntx);
	cr_assert_eq(td_i64(c, "SELECT count(DISTINCT ingest_seq) FROM lines"), 2);
	/* As the ingest runs a batch: streamed lines, the journal row with the COMMIT. */
	be_db_flows_drop(db);
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s"), 2, &no, &seq), 0);
	cr_assert_eq(seq, 2);
	l.seq = 3;
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s"), 3, &id), 0);
	cr_assert_eq(id, 0, "no flows, no journal row");
	f.pass++;
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s"), 1, &no, &seq), 0);
	td_feed(&f);
	cr_assert_eq(f.err, 0);
	l.seq = 4;
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s"), 4, &id), 0);
	cr_assert_gt(id, 0);
	cr_assert_eq(be_db_journal_add(db, &again), -EINVAL, "outside tx");
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_journal_add(db, &again), 0);
	cr_assert_eq(again, 0, "the rows are in the journal once");
	cr_assert_eq(be_db_rollback(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 4);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 2);
	cr_assert_eq(td_i64(c, "SELECT max(id) FROM flow_journal"), id);
	cr_assert_eq(td_i64(c, "SELECT committed_seq FROM streams WHERE stream_id = 's'"), 4);
	PQfinish(c);
	be_db_flows_drop(db);
	be_db_close(db);
}

Test(db_flows, a_take_leaves_the_flows_after_the_journal_row_in_their_order, .timeout = 120)
{
	be_db *db = td_open(), *w;
	PGconn *c = td_pq();
	td_flows f = { .db = db, .pass = 1 }, moved = { .db = db, .pass = 3, .no_rejects = true },
		 newest = { .db = db, .pass = 2, .no_rejects = true };
	be_db_jcopy jc = { 0 };

	cr_assert_eq(be_db_open(&w, td_ci), 0);
	cr_assert_eq(be_db_partitions(db, 1795000000, 30), 0);
	/* A batch's flows, journaled; then the next batch's, a rewrite of each flow. */
	td_feed(&f);
	cr_assert_eq(be_db_journal_take(db, &jc), 0);
	cr_assert_eq(jc.rows[0], f.ntx);
	cr_assert_eq(be_db_flows_journaled(db), f.ntx + f.nrej);
	cr_assert(!be_db_journal_unmarked(db));
	td_feed(&moved);
	cr_assert(be_db_journal_unmarked(db));
	cr_assert_eq(be_db_flows_pending(db), 2 * f.ntx + f.nrej);
	/* The take moves the journaled ones only. */
	cr_assert_eq(be_db_flows_take(w, db), 0);
	cr_assert_eq(be_db_flows_pending(w), f.ntx + f.nrej);
	cr_assert_eq(be_db_flows_pending(db), f.ntx);
	cr_assert_eq(be_db_flows_journaled(db), 0);
	cr_assert_eq(be_db_flows_flush(w), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE nlines >= 1000"), 0);
	/* Those left behind are renumbered: a later write of the same flows still wins. */
	td_feed(&newest);
	cr_assert_eq(be_db_flows_pending(db), 2 * f.ntx);
	cr_assert_eq(be_db_flows_flush(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), (long long)f.ntx);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE nlines >= 1000"),
		     (long long)f.ntx);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE sender = 'someone@moved.test'"),
		     0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM recipients WHERE rcpt = 'rcpt@moved.test'"),
		     0);
	cr_assert_eq(td_stats_diff(c), 0);
	el_buf_fini(&jc.b);
	PQfinish(c);
	be_db_close(w);
	be_db_close(db);
}

/* td_writer_job - the writer's way: take, upsert and delete row id in one transaction */
static void td_writer_job(be_db *w, be_db *db, int64_t id)
{
	cr_assert_eq(be_db_flows_take(w, db), 0);
	cr_assert_eq(be_db_begin(w), 0);
	cr_assert_eq(be_db_flows_flush(w), 0);
	cr_assert_eq(be_db_journal_done(w, id, id), 0);
	cr_assert_eq(be_db_commit(w), 0);
}

Test(db_flows, journal_holds_flows_until_applied, .timeout = 120)
{
	be_db *db = td_open(), *w;
	PGconn *c = td_pq();
	/*
	 * The engine writes a reject once; the rewrite writes transactions
	 * only (two identical rejects in one batch are two rows: be_db_reject_nth).
	 */
	td_flows f = { .db = db, .pass = 1 }, g = { .db = db, .pass = 3, .no_rejects = true };
	int64_t id1, id2, id3;
	uint64_t applied, bad;

	cr_assert_eq(be_db_open(&w, td_ci), 0);
	cr_assert_eq(be_db_partitions(db, 1795000000, 30), 0);
	/* Outside a transaction there is nothing to commit it with. */
	cr_assert_eq(be_db_journal_add(db, &id1), -EINVAL);
	/* Two slices in one transaction: pass 1, then a rewrite of every flow. */
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_journal_add(db, &id1), 0);
	cr_assert_eq(id1, 0, "nothing buffered, no row");
	td_feed(&f);
	cr_assert_eq(f.err, 0);
	cr_assert_eq(be_db_journal_add(db, &id1), 0);
	cr_assert_gt(id1, 0);
	cr_assert_eq(be_db_journal_add(db, &id2), 0);
	cr_assert_eq(id2, 0, "the rows are in the journal once");
	td_feed(&g);
	cr_assert_eq(be_db_journal_add(db, &id2), 0);
	cr_assert_gt(id2, id1);
	cr_assert_eq(be_db_commit_lines(db), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 2);
	cr_assert_eq(td_i64(c, "SELECT sum(nmessages) FROM flow_journal"), (long long)(2 * f.ntx));
	cr_assert_eq(td_i64(c, "SELECT sum(nrejects) FROM flow_journal"), (long long)f.nrej);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 0);

	/* A crash: the buffered flows are gone; the journal has them. */
	be_db_flows_drop(db);
	cr_assert_eq(be_db_journal_apply(db, &applied, &bad), 0);
	cr_assert_eq(applied, 2);
	cr_assert_eq(bad, 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), (long long)f.ntx);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM recipients"), (long long)f.nrcpt);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM rejects"), (long long)f.nrej);
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM email_keys"), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE sender <> "
			       "'someone@moved.test'"),
		     0, "the later row wins");
	cr_assert_eq(td_stats_diff(c), 0, "rollups equal the flows: nothing counted twice");
	cr_assert_eq(td_addresses_off(c, false), 0, "the journal carries the days' addresses");
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM addresses WHERE kind = 4 AND "
			       "addr = 'someone@moved.test'"),
		     0);

	/* The writer's way: take, upsert and delete the rows in one transaction. */
	td_flows h = { .db = db, .pass = 2 };
	id3 = td_journal_batch(db, &h);
	cr_assert_gt(id3, id2);
	td_writer_job(w, db, id3);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE nlines < 1000"), 0);
	cr_assert_eq(td_stats_diff(c), 0);

	/*
	 * A failure that is not the rows' (a full disk, said here by a
	 * trigger): nothing is passed over, the rows wait in order for the
	 * next try.  Seen in a bench load that filled the disk: the rows were
	 * passed over, and a later one could be applied before an earlier.
	 */
	td_flows t = { .db = db, .pass = 2 };
	int64_t ida = td_journal_batch(db, &t), idb = td_journal_batch(db, &t);
	cr_assert_gt(idb, ida);
	be_db_flows_drop(db);
	td_ok(c, "CREATE FUNCTION td_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		 "RAISE EXCEPTION 'no space left' USING ERRCODE = '53100'; END $$");
	td_ok(c, "CREATE TRIGGER td_full BEFORE INSERT OR UPDATE ON messages FOR EACH ROW "
		 "EXECUTE FUNCTION td_full()");
	cr_assert_eq(be_db_journal_apply(db, &applied, &bad), -EIO);
	cr_assert_eq(applied, 0);
	cr_assert_eq(bad, 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 2);
	td_ok(c, "DROP TRIGGER td_full ON messages");
	cr_assert_eq(be_db_journal_apply(db, &applied, &bad), 0);
	cr_assert_eq(applied, 2);
	cr_assert_eq(bad, 0);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	cr_assert_eq(td_stats_diff(c), 0);

	/*
	 * A row the database refuses (hand-made here) is left in place and
	 * passed over; the rows after it are applied.
	 */
	td_ok(c, "INSERT INTO flow_journal (messages, nmessages, recipients, nrecipients, "
		 "rejects, nrejects, keys, nkeys) VALUES ('\\x0001ff', 1, '', 0, '', 0, '', 0)");
	td_flows k = { .db = db, .pass = 1 };
	cr_assert_gt(td_journal_batch(db, &k), 0);
	be_db_flows_drop(db);
	cr_assert_eq(be_db_journal_apply(db, &applied, &bad), 0);
	cr_assert_eq(applied, 1);
	cr_assert_eq(bad, 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages WHERE nlines >= 1000"), 0,
		     "the row after the bad one was applied");
	/* The writer deletes the rows of its own flows only. */
	id3 = td_journal_batch(db, &k);
	td_writer_job(w, db, id3);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 1);
	cr_assert_eq(td_stats_diff(c), 0);
	/* Not with flows buffered: they would be written out of order. */
	cr_assert_eq(be_db_begin(db), 0);
	td_feed(&k);
	cr_assert_eq(be_db_commit_lines(db), 0);
	cr_assert_eq(be_db_journal_apply(db, &applied, &bad), -EINVAL);
	PQfinish(c);
	be_db_close(w);
	be_db_close(db);
}

/* td_send_log - a log file of tests/data through g as identity, n lines a batch */
static size_t td_send_log(be_ingest *g, const char *identity, const char *file, size_t per)
{
	const char *dir = getenv("ELSE_TEST_DATA");
	char path[4096], *line = NULL, err[256];
	size_t cap = 0, n = 0, total = 0;
	Else__Line *lines = calloc(per, sizeof(*lines));
	Else__Line **ptrs = calloc(per, sizeof(*ptrs));
	char **texts = calloc(per, sizeof(*texts));
	ssize_t len;

	cr_assert(lines && ptrs && texts);
	snprintf(path, sizeof(path), "%s/postfix/%s", dir, file);
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s", path);
	for (;;) {
		len = getline(&line, &cap, fp);
		if (len > 0) {
			if (line[len - 1] == '\n')
				len--;
			texts[n] = strndup(line, (size_t)len);
			else__line__init(&lines[n]);
			lines[n].seq = total + n + 1;
			lines[n].text.data = (uint8_t *)texts[n];
			lines[n].text.len = (size_t)len;
			lines[n].recv_time_us = (int64_t)time(NULL) * 1000000;
			ptrs[n] = &lines[n];
			n++;
		}
		if (n == per || (len <= 0 && n)) {
			Else__Batch b = ELSE__BATCH__INIT;
			Else__IngestStatus st;
			uint64_t committed;
			b.stream_id = "maillog";
			b.batch_seq = total + 1;
			b.first_seq = total + 1;
			b.n_lines = n;
			b.lines = ptrs;
			cr_assert_eq(
				be_ingest_batch(g, identity, &b, &st, &committed, err, sizeof(err)),
				0);
			cr_assert_eq(st, ELSE__INGEST_STATUS__STATUS_OK, "%s", err);
			total += n;
			for (size_t i = 0; i < n; i++)
				free(texts[i]);
			n = 0;
		}
		if (len <= 0)
			break;
	}
	fclose(fp);
	free(line);
	free(texts);
	free(ptrs);
	free(lines);
	return total;
}

/* td_counts - "messages recipients rejects email_keys" of the database c */
static void td_counts(PGconn *c, char *out, size_t cap)
{
	td_str(c,
	       "SELECT (SELECT count(*) FROM messages) || ' ' || (SELECT count(*) FROM "
	       "recipients) || ' ' || (SELECT count(*) FROM rejects) || ' ' || (SELECT count(*) "
	       "FROM email_keys)",
	       out, cap);
}

/*
 * td_pipeline_held - volume-sample.log through a pipeline ingest into a new
 * database, its flows writers held by lock (a LOCK TABLE statement)
 */
static be_ingest *td_pipeline_held(be_db **db, be_db **ing, PGconn **lk, char *ci, size_t cap,
				   size_t sent, const char *lock)
{
	be_ingest_conf ic = { .corr = BE_CORR_CONF_DEFAULT,
			      .checkpoint_us = 1000000000,
			      .idle_us = 1000000000 };
	be_ingest *g;

	ic.corr.linger_s = 0;
	*db = td_open();
	cr_assert_eq(be_db_partitions(*db, (int64_t)time(NULL), 2), 0);
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, cap), 0);
	ic.flows_conninfo = ci;
	cr_assert_eq(be_db_open(ing, ci), 0);
	cr_assert_eq(be_ingest_new(&g, *ing, &ic), 0);
	*lk = td_pq();
	td_ok(*lk, "BEGIN");
	td_ok(*lk, lock);
	cr_assert_eq(td_send_log(g, "vol", "volume-sample.log", 200), sent);
	return g;
}

/* Both flows statements write the top lists; only writer 0's writes messages. */
#define TD_HOLD_BOTH "LOCK TABLE stats_top_daily IN EXCLUSIVE MODE"
#define TD_HOLD_MSGS "LOCK TABLE messages IN EXCLUSIVE MODE"

/* td_kill_waiters - end the connections waiting on a lock, then release it */
static void td_kill_waiters(PGconn *c, PGconn *lk)
{
	/* The writer gets to the lock once it has staged its flows. */
	for (int i = 0; i < 400; i++) {
		if (td_i64(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
			      "current_database() AND wait_event_type = 'Lock'") > 0)
			break;
		usleep(50000);
	}
	td_ok(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
		 "datname = current_database() AND wait_event_type = 'Lock'");
	td_ok(lk, "ROLLBACK");
	PQfinish(lk);
	for (int i = 0; i < 200; i++) {
		if (td_i64(c, "SELECT count(*) FROM pg_stat_activity WHERE datname = "
			      "current_database() AND wait_event_type = 'Lock'") == 0)
			break;
		usleep(50000);
	}
}

/* td_idle_until - drive the ingest's idle work until done_sql gives non-zero (10 s at most) */
static void td_idle_until(be_ingest *g, PGconn *c, const char *done_sql)
{
	for (int i = 0; i < 200 && td_i64(c, done_sql) == 0; i++) {
		be_ingest_idle(g, (int64_t)time(NULL) * 1000000);
		usleep(50000);
	}
}
#define TD_JOURNAL_EMPTY "SELECT (count(*) = 0)::int FROM flow_journal"

/*
 * td_pipeline_end - after a checkpoint the flows equal the reference's
 * (want) and no rollup counts a row twice; then close g, ing, c and db
 */
static void td_pipeline_end(be_ingest *g, be_db *ing, PGconn *c, be_db *db, const char *want,
			    const char *why)
{
	char got[128];

	cr_assert_eq(be_ingest_checkpoint(g), 0);
	td_counts(c, got, sizeof(got));
	cr_assert_str_eq(got, want);
	cr_assert_eq(td_stats_diff(c), 0, "%s", why);
	be_ingest_free(g);
	be_db_close(ing);
	PQfinish(c);
	be_db_close(db);
}

/*
 * The ingest pipeline: lines and their flows commit together.  Its flows
 * writer is held on a lock and its connection killed, as a crash or a lost
 * connection would; the flows are then in flow_journal, with their lines.
 */
Test(db_ingest, flows_commit_with_their_lines, .timeout = 240)
{
	be_ingest_conf ic = { .corr = BE_CORR_CONF_DEFAULT,
			      .checkpoint_us = 1000000000,
			      .idle_us = 1000000000 };
	char ci[8300], want[128], got[128];
	be_db *db, *ing;
	be_ingest *g;
	be_ingest_stats st;
	be_corr_stats cst;
	PGconn *c, *lk;
	size_t sent;

	/* The reference: one transaction per batch, no writer, no journal. */
	ic.corr.linger_s = 0; /* flows leave the engine within their batch */
	db = td_open();
	cr_assert_eq(be_db_partitions(db, (int64_t)time(NULL), 2), 0);
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	cr_assert_eq(be_ingest_new(&g, ing, &ic), 0);
	sent = td_send_log(g, "vol", "volume-sample.log", 200);
	cr_assert_eq(be_ingest_checkpoint(g), 0);
	be_ingest_free(g);
	be_db_close(ing);
	c = td_pq();
	td_counts(c, want, sizeof(want));
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM messages"), 100, "%s", want);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	PQfinish(c);
	be_db_close(db);

	/* 1. The writer's connection is lost: the worker applies the journal, no replay. */
	g = td_pipeline_held(&db, &ing, &lk, ci, sizeof(ci), sent, TD_HOLD_BOTH);
	c = td_pq();
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), (long long)sent);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 0, "the writer is held");
	long long jrows = td_i64(c, "SELECT count(*) FROM flow_journal");
	cr_assert_gt(jrows, 1);
	td_kill_waiters(c, lk);
	td_idle_until(g, c, TD_JOURNAL_EMPTY);
	be_ingest_get_stats(g, &st, &cst);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	cr_assert_eq(st.flow_jobs_failed, 1, "%llu failed",
		     (unsigned long long)st.flow_jobs_failed);
	cr_assert_eq(st.journal_applied, (uint64_t)jrows);
	cr_assert_eq(st.recoveries, 1, "the engine was not rebuilt: the journal had the flows");
	td_pipeline_end(g, ing, c, db, want, "rollups: nothing counted twice");

	/*
	 * 2. A crash while the writer is held: both connections die and the
	 * process's memory is gone.  What the database holds, lines and
	 * journal, gives the reference's flows; a new start then replays on
	 * top of them without changing a row or a rollup.
	 */
	g = td_pipeline_held(&db, &ing, &lk, ci, sizeof(ci), sent, TD_HOLD_BOTH);
	c = td_pq();
	td_kill_waiters(c, lk);
	td_ok(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
		 "datname = current_database() AND pid <> pg_backend_pid() AND "
		 "usename = 'else_ingest'");
	be_ingest_free(g);
	be_db_close(ing);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), (long long)sent);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 0);
	be_db *other;
	uint64_t applied, bad;
	cr_assert_eq(be_db_open(&other, td_ci), 0);
	cr_assert_eq(be_db_journal_apply(other, &applied, &bad), 0);
	cr_assert_gt(applied, 1);
	be_db_close(other);
	td_counts(c, got, sizeof(got));
	cr_assert_str_eq(got, want, "the journal held every flow of the committed lines");
	cr_assert_eq(td_stats_diff(c), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	ic.flows_conninfo = ci;
	cr_assert_eq(be_ingest_new(&g, ing, &ic), 0);
	td_pipeline_end(g, ing, c, db, want, "rollups after the replay");

	/*
	 * 3. One writer fails, the other commits: writer 0 (messages) is held on
	 * its table and its connection killed, while writer 1 commits the
	 * recipients, rejects and e-mail keys of the same jobs.  Their journal
	 * rows stay, and their upserts write those rows again without counting
	 * them twice.
	 */
	g = td_pipeline_held(&db, &ing, &lk, ci, sizeof(ci), sent, TD_HOLD_MSGS);
	c = td_pq();
	td_idle_until(g, c, "SELECT (count(*) > 0)::int FROM email_keys");
	cr_assert_gt(td_i64(c, "SELECT count(*) FROM email_keys"), 0, "writer 1 committed");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM messages"), 0, "writer 0 is held");
	td_kill_waiters(c, lk);
	td_idle_until(g, c, TD_JOURNAL_EMPTY);
	be_ingest_get_stats(g, &st, &cst);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	cr_assert_eq(st.flow_jobs_failed, 1, "%llu failed",
		     (unsigned long long)st.flow_jobs_failed);
	cr_assert_gt(st.journal_applied, 0);
	td_pipeline_end(g, ing, c, db, want, "rollups: the rows written twice counted once");
}

/* td_log - the lines of a log file of tests/data/postfix */
typedef struct td_log {
	char **text;
	size_t n;
} td_log;

static void td_log_read(td_log *lg, const char *file)
{
	char path[4096], *line = NULL;
	size_t cap = 0, room = 0;
	ssize_t len;

	snprintf(path, sizeof(path), "%s/postfix/%s", getenv("ELSE_TEST_DATA"), file);
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp, "%s", path);
	memset(lg, 0, sizeof(*lg));
	while ((len = getline(&line, &cap, fp)) > 0) {
		if (line[len - 1] == '\n')
			len--;
		if (lg->n == room) {
			room = room ? 2 * room : 1024;
			lg->text = realloc(lg->text, room * sizeof(*lg->text));
			cr_assert_not_null(lg->text);
		}
		lg->text[lg->n++] = strndup(line, (size_t)len);
	}
	fclose(fp);
	free(line);
}

static void td_log_free(td_log *lg)
{
	for (size_t i = 0; i < lg->n; i++)
		free(lg->text[i]);
	free(lg->text);
}

/* td_xbatch - lines [from, from + n) of a log as stream s's lines first_seq.. */
typedef struct td_xbatch {
	Else__Batch b;
	Else__Line *lines, **ptrs;
	char stream[8];
} td_xbatch;

static void td_xbatch_make(td_xbatch *x, const td_log *lg, size_t from, size_t n, int s,
			   uint64_t first_seq)
{
	x->lines = calloc(n, sizeof(*x->lines));
	x->ptrs = calloc(n, sizeof(*x->ptrs));
	cr_assert(x->lines && x->ptrs);
	for (size_t i = 0; i < n; i++) {
		else__line__init(&x->lines[i]);
		x->lines[i].seq = first_seq + i;
		x->lines[i].text.data = (uint8_t *)lg->text[from + i];
		x->lines[i].text.len = strlen(lg->text[from + i]);
		x->lines[i].recv_time_us = (int64_t)time(NULL) * 1000000;
		x->ptrs[i] = &x->lines[i];
	}
	snprintf(x->stream, sizeof(x->stream), "s%d", s);
	else__batch__init(&x->b);
	x->b.stream_id = x->stream;
	x->b.batch_seq = first_seq;
	x->b.first_seq = first_seq;
	x->b.n_lines = n;
	x->b.lines = x->ptrs;
}

static void td_xbatch_free(td_xbatch *x)
{
	free(x->lines);
	free(x->ptrs);
}

/* td_ack - an ack of be_ingest_submit, kept for the test (may come from another thread) */
typedef struct td_ack {
	int count;
	Else__IngestStatus status;
	uint64_t committed;
} td_ack;

static void td_ack_cb(void *tag, Else__IngestStatus status, uint64_t committed_seq,
		      const char *error)
{
	td_ack *a = tag;

	(void)error;
	a->status = status;
	a->committed = committed_seq;
	__atomic_add_fetch(&a->count, 1, __ATOMIC_SEQ_CST);
}

Test(db_ingest, overlapped_batches_commit_in_order_and_fail_together, .timeout = 240)
{
	be_ingest_conf ic = { .corr = BE_CORR_CONF_DEFAULT,
			      .checkpoint_us = 1000000000,
			      .idle_us = 1000000000 };
	enum { PER = 100 };
	char ci[8300], want[128], got[128];
	be_db *db, *ing;
	be_ingest *g;
	td_log lg;
	PGconn *c;
	size_t sent;

	/* The reference: the log as one stream, one transaction per batch. */
	ic.corr.linger_s = 0;
	db = td_open();
	cr_assert_eq(be_db_partitions(db, (int64_t)time(NULL), 2), 0);
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	cr_assert_eq(be_ingest_new(&g, ing, &ic), 0);
	sent = td_send_log(g, "vol", "volume-sample.log", PER);
	cr_assert_eq(be_ingest_checkpoint(g), 0);
	be_ingest_free(g);
	be_db_close(ing);
	c = td_pq();
	td_counts(c, want, sizeof(want));
	PQfinish(c);
	be_db_close(db);

	/*
	 * The same log in batches that take turns between two streams (two
	 * collectors of one host), each submitted before the one before it
	 * has committed, as else-backend does when both wait in its queue.
	 * Batch k's stream update fails once (a trigger), while batch k + 1
	 * is read: both are refused and sent again.
	 */
	td_log_read(&lg, "volume-sample.log");
	cr_assert_eq(lg.n, sent);
	size_t nb = (lg.n + PER - 1) / PER, k = nb / 2;
	cr_assert_gt(nb, 6);
	td_xbatch *x = calloc(nb, sizeof(*x));
	td_ack *acks = calloc(nb + 2, sizeof(*acks));
	cr_assert(x && acks);
	uint64_t next[2] = { 1, 1 };
	for (size_t i = 0; i < nb; i++) {
		size_t n = lg.n - i * PER < PER ? lg.n - i * PER : PER;
		td_xbatch_make(&x[i], &lg, i * PER, n, (int)(i % 2), next[i % 2]);
		next[i % 2] += n;
	}
	db = td_open();
	cr_assert_eq(be_db_partitions(db, (int64_t)time(NULL), 2), 0);
	c = td_pq();
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE td_fail_once (x int); INSERT INTO td_fail_once VALUES (1); "
		 "CREATE FUNCTION td_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
		 "IF NEW.committed_seq = %llu AND EXISTS (SELECT 1 FROM td_fail_once) THEN "
		 "RAISE EXCEPTION 'td: refused' USING ERRCODE = '23514'; END IF; "
		 "RETURN NEW; END $$; "
		 "CREATE TRIGGER td_fail BEFORE UPDATE ON streams FOR EACH ROW "
		 "EXECUTE FUNCTION td_fail(); GRANT SELECT ON td_fail_once TO else_ingest",
		 (unsigned long long)(x[k].b.first_seq + x[k].b.n_lines - 1));
	td_ok(c, sql);
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	ic.flows_conninfo = ci;
	cr_assert_eq(be_ingest_new(&g, ing, &ic), 0);
	size_t overlapped = 0;
	for (size_t i = 0; i < nb; i++) {
		if (be_ingest_busy(g))
			overlapped++;
		cr_assert_eq(be_ingest_submit(g, "vol", &x[i].b, td_ack_cb, &acks[i]), 0);
		if (i == k + 1) {
			/* Both refused; the trigger is gone; the collectors send them again. */
			cr_assert_eq(be_ingest_wait(g), 0);
			cr_assert_eq(__atomic_load_n(&acks[k].count, __ATOMIC_SEQ_CST), 1);
			cr_assert_eq(acks[k].status, ELSE__INGEST_STATUS__STATUS_BUSY);
			cr_assert_eq(acks[k + 1].count, 1);
			cr_assert_eq(acks[k + 1].status, ELSE__INGEST_STATUS__STATUS_BUSY,
				     "a batch read after one that failed fails with it");
			td_ok(c, "DELETE FROM td_fail_once");
			cr_assert_eq(be_ingest_submit(g, "vol", &x[k].b, td_ack_cb, &acks[nb]), 0);
			cr_assert_eq(
				be_ingest_submit(g, "vol", &x[k + 1].b, td_ack_cb, &acks[nb + 1]),
				0);
		}
	}
	cr_assert_eq(be_ingest_wait(g), 0);
	cr_assert_geq(overlapped, nb - 4, "%zu of %zu batches came with one in flight", overlapped,
		      nb);
	for (size_t i = 0; i < nb + 2; i++) {
		if (i == k || i == k + 1)
			continue;
		size_t b = i < nb ? i : k + (i - nb);
		cr_assert_eq(acks[i].count, 1, "batch %zu", i);
		cr_assert_eq(acks[i].status, ELSE__INGEST_STATUS__STATUS_OK, "batch %zu", i);
		cr_assert_eq(acks[i].committed, x[b].b.first_seq + x[b].b.n_lines - 1);
	}
	cr_assert_eq(be_ingest_checkpoint(g), 0);
	be_ingest_stats st;
	be_corr_stats cst;
	be_ingest_get_stats(g, &st, &cst);
	cr_assert_eq(st.lines_committed, (uint64_t)sent);
	cr_assert_eq(st.batches_failed, 2);
	be_ingest_free(g);
	be_db_close(ing);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), (long long)sent);
	cr_assert_eq(td_i64(c, "SELECT count(DISTINCT (stream_no, seq)) FROM lines"),
		     (long long)sent);
	cr_assert_eq(td_i64(c, "SELECT count(DISTINCT ingest_seq) FROM lines"), (long long)sent);
	/* In ingest_seq order, the lines are the log's: batches committed in turn. */
	PGresult *r = PQexec(c, "SELECT convert_from(raw, 'UTF8') FROM lines ORDER BY ingest_seq");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	cr_assert_eq((size_t)PQntuples(r), lg.n);
	for (size_t i = 0; i < lg.n; i++)
		cr_assert_str_eq(PQgetvalue(r, (int)i, 0), lg.text[i], "line %zu", i);
	PQclear(r);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM flow_journal"), 0);
	td_counts(c, got, sizeof(got));
	cr_assert_str_eq(got, want);
	cr_assert_eq(td_stats_diff(c), 0);
	for (size_t i = 0; i < nb; i++)
		td_xbatch_free(&x[i]);
	free(x);
	free(acks);
	td_log_free(&lg);
	PQfinish(c);
	be_db_close(db);
}

/* ---- roles ---- */

Test(db_roles, query_role_reads_and_cannot_write)
{
	be_db *db = td_open(), *q, *ing;
	char ci[8300];
	int32_t h;
	uint64_t seq;

	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_partitions(db, time(NULL), 1), 0);

	/* else_ingest: a whole batch, but no DDL. */
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_ingest", ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_open(&ing, ci), 0);
	cr_assert_eq(be_db_begin(ing), 0);
	cr_assert_eq(be_db_stream_get(ing, h, EL_SPAN_LIT("s"), NULL, &seq), 0);
	be_db_line l = td_line(h, 1, 1, (int64_t)time(NULL) * 1000000, EL_SPAN_LIT("x"));
	cr_assert_eq(be_db_line_add(ing, &l), 0);
	cr_assert_eq(be_db_stream_set(ing, h, EL_SPAN_LIT("s"), 1), 0);
	cr_assert_eq(be_db_checkpoint_save(ing, 1, "s", 1), 0);
	cr_assert_eq(be_db_commit(ing), 0);
	cr_assert_eq(be_db_host_id(ing, EL_SPAN_LIT("mx9"), &h), 0);
	cr_assert_eq(be_db_partitions(ing, time(NULL) + 30 * 86400, 1), -EACCES);
	be_db_close(ing);

	/* else_query: SELECT only. */
	cr_assert_eq(be_pg_conninfo_role(td_ci, "else_query", ci, sizeof(ci)), 0);
	PGconn *c = td_pq_ci(ci);
	char who[64];
	td_str(c, "SELECT current_user", who, sizeof(who));
	cr_assert_str_eq(who, "else_query");
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM lines"), 1);
	cr_assert_eq(td_i64(c, "SELECT count(*) FROM hosts"), 2);
	PQfinish(c);
	cr_assert_eq(be_db_open(&q, ci), 0);
	cr_assert_eq(be_db_host_id(q, EL_SPAN_LIT("mx1"), &h), 0, "reading is allowed");
	cr_assert_eq(be_db_host_id(q, EL_SPAN_LIT("evil"), &h), -EACCES);
	cr_assert_eq(be_db_begin(q), 0);
	l = td_line(h ? h : 1, 1, 1, 0, EL_SPAN_LIT("x"));
	cr_assert_eq(be_db_line_add(q, &l), 0); /* buffered */
	cr_assert_eq(be_db_lines_flush(q), -EACCES);
	cr_assert_eq(be_db_rollback(q), 0);
	cr_assert_eq(be_db_checkpoint_save(q, 1, "x", 1), -EACCES);
	be_db_close(q);
	be_db_close(db);
}

/* ---- text repair (no server needed) ---- */

Test(db_text, repair_makes_valid_bounded_utf8)
{
	el_buf b;

	el_buf_init(&b);
	cr_assert(!be_db_text_repair(&b, "abc \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 15, 100));
	cr_assert_eq(b.len, 15);
	b.len = 0;
	/* Surrogates, overlongs, stray continuation, > U+10FFFF: each byte Latin-1. */
	cr_assert(be_db_text_repair(&b, "\xed\xa0\x80|\xc0\xaf|\x80|\xf4\x90\x80\x80", 13, 100));
	cr_assert_eq(b.len, 23);
	cr_assert(memcmp(b.p, "\xc3\xad\xc2\xa0\xc2\x80|\xc3\x80\xc2\xaf|\xc2\x80|", 15) == 0);
	b.len = 0;
	cr_assert(be_db_text_repair(&b, "a\0b", 3, 100));
	cr_assert_eq(b.len, 5);
	cr_assert(memcmp(b.p,
			 "a\xef\xbf\xbd"
			 "b",
			 5) == 0);
	/* Cut at a character boundary, never inside a sequence. */
	b.len = 0;
	cr_assert(be_db_text_repair(&b, "ab\xe2\x82\xac", 5, 4));
	cr_assert_eq(b.len, 2);
	b.len = 0;
	cr_assert(be_db_text_repair(&b, "abcdef", 6, 4));
	cr_assert_eq(b.len, 4);
	b.len = 0;
	cr_assert(be_db_text_repair(&b, "\xff\xff\xff", 3, 5));
	cr_assert_eq(b.len, 4);
	el_buf_fini(&b);
}

/* ---- an embedded cluster of the test's own: restarts, kill -9 ---- */

/* td_cluster - start a private cluster in a new directory */
static void td_cluster(char *dir, size_t cap, char *ci, size_t cicap)
{
	snprintf(dir, cap, "/tmp/else-pgt.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	chmod(dir, 0755);
	cr_assert_eq(be_pg_start(dir, NULL, ci, cicap), 0, "be_pg_start %s", dir);
}

/* td_cluster_rm - stop it and remove the directory */
static void td_cluster_rm(const char *dir)
{
	char cmd[512];

	be_pg_stop(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

Test(db_conn, lost_connection_is_reported_and_reconnect_works, .timeout = 180)
{
	char dir[64], ci[4096];
	be_db *db;
	int32_t h;
	uint64_t seq;
	be_db_stats st;

	td_cluster(dir, sizeof(dir), ci, sizeof(ci));
	cr_assert_eq(be_db_open(&db, ci), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	cr_assert_eq(be_db_host_id(db, EL_SPAN_LIT("mx1"), &h), 0);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s"), NULL, &seq), 0);
	be_db_line l = td_line(h, 1, 1, (int64_t)time(NULL) * 1000000, EL_SPAN_LIT("x"));
	cr_assert_eq(be_db_line_add(db, &l), 0);

	/* PostgreSQL restarts in the middle of the batch. */
	cr_assert_eq(be_pg_stop(dir), 0);
	cr_assert_eq(be_pg_start(dir, NULL, ci, sizeof(ci)), 0);
	int rc = be_db_lines_flush(db);
	cr_assert(rc == -ECONNRESET || rc == -ENOTCONN, "flush after restart: %d", rc);
	cr_assert(!be_db_connected(db));
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s"), 1), -ENOTCONN);
	cr_assert_eq(be_db_commit(db), -ENOTCONN);
	cr_assert_eq(be_db_rollback(db), 0);
	/* The next batch reconnects, and what was lost was never committed. */
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert(be_db_connected(db));
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s"), NULL, &seq), 0);
	cr_assert_eq(seq, 0);
	cr_assert_eq(be_db_line_add(db, &l), 0);
	cr_assert_eq(be_db_stream_set(db, h, EL_SPAN_LIT("s"), 1), 0);
	cr_assert_eq(be_db_commit(db), 0);

	/* A restart while idle: the next begin reconnects by itself. */
	cr_assert_eq(be_pg_stop(dir), 0);
	cr_assert_eq(be_pg_start(dir, NULL, ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_begin(db), 0);
	cr_assert_eq(be_db_stream_get(db, h, EL_SPAN_LIT("s"), NULL, &seq), 0);
	cr_assert_eq(seq, 1);
	cr_assert_eq(be_db_flows_flush(db), 0);
	cr_assert_eq(be_db_commit(db), 0);
	/* ... and so does the begin sent with the stream lookup. */
	cr_assert_eq(be_pg_stop(dir), 0);
	cr_assert_eq(be_pg_start(dir, NULL, ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_stream_begin(db, h, EL_SPAN_LIT("s"), 0, NULL, &seq), 0);
	cr_assert_eq(seq, 1);
	cr_assert_eq(be_db_stream_commit(db, h, EL_SPAN_LIT("s"), 1, NULL), 0);

	/* Server down: a call outside a transaction says so. */
	cr_assert_eq(be_pg_stop(dir), 0);
	rc = be_db_last_ingest_seq(db, &seq);
	cr_assert(rc == -ECONNRESET || rc == -ENOTCONN, "%d", rc);
	cr_assert_eq(be_db_last_ingest_seq(db, &seq), -ENOTCONN, "reconnect fails: down");
	cr_assert_eq(be_pg_start(dir, NULL, ci, sizeof(ci)), 0);
	cr_assert_eq(be_db_last_ingest_seq(db, &seq), 0);
	cr_assert_eq(seq, 1);
	be_db_get_stats(db, &st);
	cr_assert_geq(st.err_conn, 2);
	cr_assert_geq(st.reconnects, 3);
	be_db_close(db);
	td_cluster_rm(dir);
}

/* td_gen_many - be_db_exec_gen_many of (slot, sql, one parameter) triples */
static int td_gen_many(be_db *db, int nq, const int *slot, const char *const *sql,
		       const char *const *val, PGresult **out)
{
	be_db_genq q[8];

	for (int i = 0; i < nq; i++)
		q[i] = (be_db_genq){ .slot = slot[i],
				     .what = "pipeline test",
				     .sql = sql[i],
				     .n = 1,
				     .vals = &val[i] };
	return be_db_exec_gen_many(db, q, nq, out);
}

Test(db_conn, a_pipeline_fails_whole_and_leaves_the_connection_usable, .timeout = 120)
{
	static const char *const sql[] = { "SELECT $1::integer + 1", "SELECT 10 / $1::integer",
					   "SELECT upper($1::text)" };
	const int slots[] = { 30, 31, 29 };
	PGresult *r[3], *one;
	be_db *db = td_open();
	PGconn *c = td_pq();
	char kill_sql[128];

	/* A division by zero in the middle: nothing comes back, the error is -EIO. */
	cr_assert_eq(td_gen_many(db, 3, slots, sql, (const char *const[]){ "1", "0", "x" }, r),
		     -EIO);
	for (int i = 0; i < 3; i++)
		cr_assert_null(r[i], "result %d kept after a failure", i);
	cr_assert(be_db_connected(db));

	/* The same statements again (prepared or not, as the server has them). */
	cr_assert_eq(td_gen_many(db, 3, slots, sql, (const char *const[]){ "1", "5", "x" }, r), 0);
	cr_assert_str_eq(PQgetvalue(r[0], 0, 0), "2");
	cr_assert_str_eq(PQgetvalue(r[1], 0, 0), "2");
	cr_assert_str_eq(PQgetvalue(r[2], 0, 0), "X");
	for (int i = 0; i < 3; i++)
		PQclear(r[i]);
	/* Statements after a pipeline run one at a time as before. */
	cr_assert_eq(be_db_exec_gen(db, 29, "pipeline test", sql[2], 1,
				    (const char *const[]){ "y" }, NULL, NULL, &one),
		     0);
	cr_assert_str_eq(PQgetvalue(one, 0, 0), "Y");
	PQclear(one);

	/* A statement the server cannot prepare fails the pipeline and is not kept. */
	cr_assert_eq(td_gen_many(db, 2, (const int[]){ 28, 30 },
				 (const char *const[]){ "SELEC $1", sql[0] },
				 (const char *const[]){ "1", "1" }, r),
		     -EIO);
	cr_assert_eq(td_gen_many(db, 1, (const int[]){ 28 }, (const char *const[]){ sql[0] },
				 (const char *const[]){ "41" }, r),
		     0);
	cr_assert_str_eq(PQgetvalue(r[0], 0, 0), "42");
	PQclear(r[0]);

	/* The server ends the session: the pipeline says so, the next one reconnects. */
	snprintf(kill_sql, sizeof(kill_sql), "SELECT pg_terminate_backend(%d)",
		 PQbackendPID(db->conn));
	td_ok(c, kill_sql);
	int rc = td_gen_many(db, 2, slots, sql, (const char *const[]){ "1", "1" }, r);
	cr_assert(rc == -ECONNRESET, "pipeline on a terminated session: %d", rc);
	cr_assert_null(r[0]);
	cr_assert_not(be_db_connected(db));
	cr_assert_eq(be_db_ready(db), 0);
	cr_assert_eq(td_gen_many(db, 2, slots, sql, (const char *const[]){ "1", "2" }, r), 0);
	cr_assert_str_eq(PQgetvalue(r[0], 0, 0), "2");
	cr_assert_str_eq(PQgetvalue(r[1], 0, 0), "5");
	PQclear(r[0]);
	PQclear(r[1]);
	/* The new connection is out of pipeline mode: a statement alone runs. */
	cr_assert_eq(be_db_exec_gen(db, 29, "pipeline test", sql[2], 1,
				    (const char *const[]){ "z" }, NULL, NULL, &one),
		     0);
	cr_assert_str_eq(PQgetvalue(one, 0, 0), "Z");
	PQclear(one);
	PQfinish(c);
	be_db_close(db);
}

Test(db_conn, pg_start_after_kill_9, .timeout = 180)
{
	char dir[64], ci[4096], ci2[4096], path[128], buf[64];
	be_db *db;
	int fd;
	ssize_t n;
	pid_t pid;

	td_cluster(dir, sizeof(dir), ci, sizeof(ci));
	/* A second start finds it running and changes nothing. */
	cr_assert_eq(be_pg_start(dir, NULL, ci2, sizeof(ci2)), 0);
	cr_assert_str_eq(ci, ci2);
	snprintf(path, sizeof(path), "%s/pg/data/postmaster.pid", dir);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	pid = (pid_t)atoi(buf);
	cr_assert_gt(pid, 1);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
		usleep(50000);
	cr_assert_eq(access(path, F_OK), 0, "stale postmaster.pid left behind");
	cr_assert_eq(be_pg_start(dir, NULL, ci2, sizeof(ci2)), 0);
	cr_assert_eq(be_db_open(&db, ci2), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	be_db_close(db);
	td_cluster_rm(dir);
	cr_assert_eq(be_pg_stop(dir), -ENOENT);
}

Test(db_conn, pg_refuses_bad_arguments)
{
	char ci[16];
	char longdir[200];

	cr_assert_eq(be_pg_start(NULL, NULL, ci, sizeof(ci)), -EINVAL);
	cr_assert_eq(be_pg_start("/tmp/x\ny", NULL, ci, sizeof(ci)), -EINVAL);
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	cr_assert_eq(be_pg_start(longdir, NULL, ci, sizeof(ci)), -ENAMETOOLONG);
	if (geteuid() == 0)
		cr_assert_eq(be_pg_start("/tmp/else-none", "no-such-user-else", ci, sizeof(ci)),
			     -ENOENT);
	cr_assert_eq(be_pg_conninfo_role("host=x", "bad role", ci, sizeof(ci)), -EINVAL);
	cr_assert_eq(be_pg_conninfo_role("host=x", "else_query", ci, 5), -ENOSPC);
}
