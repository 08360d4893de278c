/*
 * be_qlog - the query service's search log writer: the search history
 * entry and the audit record of every search and flow view, written by one
 * thread on its own connection, many records per statement.
 *
 * A query worker hands its record over (be_qlog_put) and answers at once:
 * the two inserts per request were a third of the database time of a quick
 * search or a flow view (bench/search.sh).  The writer takes what is
 * queued, up to BE_QLOG_BATCH records, writes them in one statement
 * (be_db_auth_search_log) and loops.  A reader of the history or of the
 * audit log first waits for every record put before it (be_qlog_sync), so
 * a user sees their last search.
 *
 * Bounded: at most BE_QLOG_MAX records, and 64 MiB of them, wait; a
 * statement carries at most BE_QLOG_BATCH records and about 4 MiB.  A put
 * on a full queue (the database is down or slower than the searches) waits
 * up to 1 s for room, then drops the record: counted in dropped and
 * logged.  A batch the database refuses is written again record by record,
 * and a record refused alone is dropped and counted.  A lost connection is
 * retried every second.  Records still queued when the backend is killed are lost,
 * like the last ~0.6 s of these asynchronous commits (docs/query.md).
 *
 * OWNERSHIP: be_qlog_put copies its strings.  be_qlog_free writes what is
 * queued (for at most 5 s), stops the thread and closes the connection.
 * ERRORS: be_qlog_new: -ENOMEM, -EAGAIN (thread), the be_db errors of
 * connecting.  be_qlog_sync: -ETIMEDOUT.
 * THREADS: every function but _new/_free may be called from any thread.
 * SECURITY: the strings reach SQL inside one JSON parameter.
 */
#ifndef BE_QLOG_H
#define BE_QLOG_H

#include <stdint.h>

#define BE_QLOG_MAX 20000 /* records waiting at most */
#define BE_QLOG_BATCH 500 /* records per statement at most */

typedef struct be_qlog be_qlog;

/* One search or flow view: its history entry and its audit record. */
typedef struct be_qlog_rec {
	int64_t user_id;
	const char *user, *ip; /* the audit record's user name and client IP */
	const char *action;    /* "search" or "flow" */
	const char *detail;    /* the audit detail (JSON) */
	const char *kind;      /* quick, search, rejects, flow */
	const char *json;      /* the request as JSON, for the history */
	uint32_t results;
} be_qlog_rec;

typedef struct be_qlog_stats {
	uint64_t written, dropped, failed_batches;
	uint32_t queued;
} be_qlog_stats;

/* be_qlog_new - connect to conninfo (role else_query), start the writer; keep: history per user */
int be_qlog_new(be_qlog **out, const char *conninfo, int keep);
void be_qlog_free(be_qlog *l);

/* be_qlog_put - queue a record (copied), stamped with the current time */
void be_qlog_put(be_qlog *l, const be_qlog_rec *r);

/* be_qlog_sync - wait (at most timeout_ms) until everything put before this call is written */
int be_qlog_sync(be_qlog *l, int timeout_ms);

void be_qlog_stats_get(be_qlog *l, be_qlog_stats *st);

#endif
