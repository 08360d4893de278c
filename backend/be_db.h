/*
 * be_db - the backend's PostgreSQL adapter: schema, bulk writes, reads for
 * ingest bookkeeping and correlation replay.
 *
 * The only module that includes libpq-fe.h (its .c files are be_db*.c).
 * It speaks parameterised SQL and binary COPY only; no SQL text is ever
 * built from input.  The schema lives in sql/NNN_*.sql, embedded into the
 * binary at build time and applied by be_db_migrate(); docs/storage.md
 * describes it.
 *
 * A batch, as the ingest worker writes it (one transaction):
 *
 *     be_db_begin(db);
 *     be_db_stream_get(db, host, stream, &no, &committed);  // locks the stream row
 *     ... skip lines with seq <= committed ...
 *     be_db_line_add(db, &line) ...                          // buffered
 *     be_db_flow_tx(db, corr, tx) / be_db_flow_reject(...)   // buffered
 *     be_db_lines_flush(db);                                 // COPY lines
 *     be_db_flows_flush(db);                                 // upserts
 *     be_db_stream_set(db, host, stream, last_seq);
 *     be_db_checkpoint_save(...)                             // now and then
 *     be_db_commit(db);            // flushes anything still buffered first
 *
 * With the ingest pipeline (be_ingest.h), the worker writes the batch's flows
 * to flow_journal (be_db_journal_add) and ends the batch with
 * be_db_commit_lines() instead (flows stay buffered), and hands the flows to
 * the writer's own handle with be_db_flows_take(), which flushes them there
 * and deletes their journal rows (be_db_journal_done) in one transaction.
 * It streams the lines: be_db_stream_begin reserves their ingest_seq range
 * with the lookup, and the lines go to a COPY open on the connection while
 * the worker parses and correlates the rest of the batch, so PostgreSQL
 * stores them meanwhile.  Four round trips besides the COPY's data:
 *
 *     be_db_stream_begin(db, host, stream, nlines, &no, &committed);
 *                                      // BEGIN + lookup + ingest_seq range
 *     ... be_db_line_add: the COPY opens, lines go as they come ...
 *     ... flows buffered ...
 *     be_db_stream_commit(db, host, stream, last_seq, &journal_id);
 *                     // COPY's end, then journal row + stream update + COMMIT
 *
 * Taking the ingest_counter row lock (be_db_lines_flush, or
 * be_db_stream_begin with lines) holds it until commit: from there on,
 * batch transactions commit one after another, so ingest_seq order is commit
 * order (a replay from a checkpoint misses nothing).  The ingest worker
 * instead reserves blocks (be_db_ingest_reserve) and begins its batches with
 * be_db_stream_begin_at, so that two of them can be open at once; it commits
 * them in ingest_seq order itself.  Lock order is stream rows first, then the counter:
 * always call be_db_stream_get() before flushing (be_db_stream_begin takes
 * both in that order; only a new stream's row is inserted after the counter,
 * which nothing else takes first).
 *
 * OWNERSHIP: a be_db owns its connection and buffers; be_db_close() frees
 * them.  Spans passed in are copied (into the COPY buffers) before the call
 * returns.  Spans handed to the replay callback are valid during the call.
 * ERRORS: 0 or a negative errno:
 *   -EINVAL      bad arguments, or a call out of place (flush outside data);
 *   -EIO         the server refused a statement (constraint, syntax, ...); the
 *                transaction is aborted: call be_db_rollback();
 *   -EACCES      the role lacks a privilege (e.g. else_query writing);
 *   -EAGAIN      a lock was not granted in time (partitions, retention: they
 *                wait at most 10 s, then give up until the next round);
 *   -ECANCELED   a statement ran past statement_timeout (the query service's
 *                connections set one), or see be_db_replay;
 *   -ECONNRESET  the connection was lost during this call.  Inside a
 *                transaction its outcome is unknown (a COMMIT may or may not
 *                have landed): call be_db_rollback(), then be_db_begin()
 *                reconnects, and the stream's committed_seq tells what landed;
 *   -ENOTCONN    the connection is down (lost earlier, or reconnecting failed);
 *   -ENOENT      nothing to load (be_db_checkpoint_load);
 *   -EMSGSIZE    a raw line or a checkpoint over 1 GiB;
 *   -ERANGE      a streamed line past its transaction's ingest_seq range;
 *   -ECANCELED   the replay callback stopped the replay (its own error is
 *                returned instead when negative).
 * A failed flush or commit drops what was buffered: the caller retries the
 * whole batch.  Every server error is logged once with el_warn (SQLSTATE and
 * message).
 * Reconnecting: any call made outside a transaction on a lost connection
 * first tries to reconnect once (be_db_begin() included); inside a
 * transaction, calls fail with -ENOTCONN until be_db_rollback().  Rows
 * buffered outside a transaction survive a reconnect; those buffered inside
 * the lost one are dropped with it.
 * THREADS: a be_db belongs to one thread at a time; use one per worker.
 * SECURITY: log lines and flows are untrusted.  Text columns get valid UTF-8
 * without NUL (invalid bytes are read as Latin-1, as el_json does; NUL becomes
 * U+FFFD) and are bounded in length so no index entry can overflow a btree
 * page and poison a batch; raw lines are stored as bytea, byte for byte.
 */
#ifndef BE_DB_H
#define BE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "be_corr.h"
#include "el_buf.h"
#include "el_span.h"

typedef struct be_db be_db;

/* Default retention (days) and partitions made ahead (days). */
#define BE_DB_KEEP_DAYS_DEFAULT 90
#define BE_DB_STATS_KEEP_DAYS_DEFAULT 400
#define BE_DB_DAYS_AHEAD_DEFAULT 7

/* email_keys.kind; addresses.kind (sql/018) continues them: the rows share a staging */
enum {
	BE_DB_KEY_MESSAGE_ID = 1,
	BE_DB_KEY_QUEUE_ID = 2,
	BE_DB_KEY_EMAIL_ID = 3,
	BE_DB_KEY_SENDER = 4,
	BE_DB_KEY_RCPT = 5
};

/* messages.incomplete bits (docs/flows.md "incomplete") */
enum {
	BE_DB_INC_NO_START = 1,
	BE_DB_INC_NOT_REMOVED = 2,
	BE_DB_INC_EVICTED = 4,
	BE_DB_INC_SESSION_ENDED = 8,
};

/* be_db_line - one raw line, as stored in table lines */
typedef struct be_db_line {
	int64_t ts_us;       /* line time, or receive time; microseconds since the epoch, UTC */
	int32_t host_id;     /* be_db_host_id() */
	int32_t stream_no;   /* be_db_stream_get() */
	uint64_t seq;        /* the stream's sequence number of the line (<= INT64_MAX) */
	uint64_t ingest_seq; /* set by replay; ignored by be_db_line_add() */
	el_span program;     /* len 0: NULL */
	el_span queue_id;    /* len 0: NULL */
	int16_t event;       /* el_event */
	int32_t pid;         /* 0: NULL */
	el_span raw;         /* any bytes */
} be_db_line;

/* be_db_stats - counters for metrics; monotonic over the handle's life (all uint64_t: summed as such) */
typedef struct be_db_stats {
	uint64_t lines_copied;   /* rows committed to COPY lines (per flush) */
	uint64_t copy_bytes;     /* bytes of COPY data sent, all tables */
	uint64_t messages;       /* message rows written */
	uint64_t recipients;     /* recipient rows written */
	uint64_t rejects;        /* reject rows inserted (duplicates not counted) */
	uint64_t flushes;        /* lines + flows flushes */
	uint64_t commits;        /* successful commits */
	uint64_t rollbacks;      /* rollbacks, asked for or forced */
	uint64_t err_server;     /* -EIO / -EACCES */
	uint64_t err_conn;       /* connections lost */
	uint64_t reconnects;     /* successful reconnects */
	uint64_t text_repaired;  /* text values that needed UTF-8 repair or cutting */
	uint64_t flows_upserted; /* flushes that met a row already written: upserts */
	uint64_t keys_upserted;  /* flushes whose plain keys met a key written: ON CONFLICT */
} be_db_stats;

/* Connection and transactions. */
int be_db_open(be_db **out, const char *conninfo);
void be_db_close(be_db *db);
int be_db_reconnect(be_db *db);
bool be_db_connected(const be_db *db);
int be_db_begin(be_db *db);
int be_db_commit(be_db *db);
int be_db_rollback(be_db *db);
/*
 * be_db_commit_lines - flush the lines and COMMIT, keeping the flows
 * buffered (for be_db_flows_take: the ingest pipeline writes them on another
 * connection).  On failure the transaction is rolled back, flows dropped.
 */
int be_db_commit_lines(be_db *db);
/*
 * be_db_async_commit - this connection's commits no longer wait for the WAL
 * flush (synchronous_commit off, kept across reconnects).  Only for work
 * whose loss in a database crash is repaired anyway: the flows writers,
 * whose input stays in flow_journal until a later commit deletes it, and
 * WAL order makes that delete durable only after the flows it follows.
 */
int be_db_async_commit(be_db *db);
void be_db_get_stats(const be_db *db, be_db_stats *st);

/* be_db_ping - is a server accepting connections at conninfo (0, -ENOTCONN) */
int be_db_ping(const char *conninfo);

/*
 * be_db_bootstrap - connect with admin_conninfo (a superuser, to an existing
 * database such as "postgres") and create database dbname if it is missing.
 * Used by be_pg_start() for the embedded cluster.  dbname is a plain
 * identifier [a-z_][a-z0-9_]*, else -EINVAL.
 */
int be_db_bootstrap(const char *admin_conninfo, const char *dbname);

/*
 * Schema (run as the schema owner, not as else_ingest: see docs/storage.md).
 * be_db_migrate applies the embedded migrations not yet applied, in one
 * transaction under an advisory lock, then refreshes the roles' grants and
 * the event names.  be_db_partitions makes the day partitions from the UTC
 * day before now_s to days_ahead days after it.  be_db_retention drops the
 * partitions of days older than keep_days (>= 1) before now_s's day; *dropped
 * (may be NULL) gets how many tables went.  Both run in a transaction of
 * their own (unless one is open) and give up with -EAGAIN after waiting 10 s
 * for a lock: call them again later.
 */
int be_db_migrate(be_db *db);
int be_db_schema_version(be_db *db, int *version);
int be_db_partitions(be_db *db, int64_t now_s, int days_ahead);
int be_db_retention(be_db *db, int64_t now_s, int keep_days, int *dropped);
/*
 * be_db_partition_day - the partitions of one UTC day (days since the epoch)
 * and its email_keys month, through else_partition_day() (sql/008), which the
 * else_ingest role may call: rows of that day waiting in DEFAULT move in.
 * Outside a transaction (-EINVAL inside one), in one of its own that leaves
 * buffered lines and flows alone (never flushed, never dropped); -EAGAIN
 * after waiting 2 s for a lock; -EIO for a day the database refuses (more
 * than ten years back or a year ahead).
 */
int be_db_partition_day(be_db *db, int64_t day);

/*
 * be_db_stats_retention - delete the rollup rows (sql/002_stats.sql) of days
 * older than keep_days before now_s's day; *deleted (may be NULL) gets the
 * row count.  Same transaction and lock rules as be_db_retention.
 */
int be_db_stats_retention(be_db *db, int64_t now_s, int keep_days, int64_t *deleted);

/*
 * be_db_stats_top_refresh - new cuts and hot rows of the top lists
 * (sql/006_stats_top.sql) for every day ingest changed since the last
 * refresh, keeping about keep keys per day, kind and host; *days gets the
 * number of days refreshed.  -EINVAL for keep outside 1..100000.
 */
int be_db_stats_top_refresh(be_db *db, int keep, int *days);

/*
 * be_db_stats_top_due - *due (not NULL): a day changed since the last
 * refresh has a (kind, host) group of more than 2 x keep hot keys, as after
 * a large load or early in a busy day (sql/015_stats_top_due.sql): refresh
 * now rather than at the next round.  *due is false on error: -EINVAL for
 * keep outside 1..100000, the be_db errors of the statement.
 */
int be_db_stats_top_due(be_db *db, int keep, bool *due);

/*
 * be_db_stats_top_compact - rewrite stats_top_hot when a large load left it
 * more than min_bytes and mostly empty (sql/012_stats_top_compact.sql);
 * *freed gets the bytes given back, -1 when it was left alone.  Waits at
 * most 2 s for its lock (-EAGAIN: try again later).
 */
int be_db_stats_top_compact(be_db *db, int64_t min_bytes, int64_t *freed);

/*
 * be_db_host_id - the id of host name, inserted if new.  Cached: a cache miss
 * runs SQL, so call it outside a COPY (any time, since COPY only runs inside
 * the flush calls).  Ids learned inside a transaction that rolls back are
 * forgotten.
 */
int be_db_host_id(be_db *db, el_span name, int32_t *id);

/*
 * be_db_stream_get - the stream's number and last committed sequence (0 for
 * a new stream, which is created), locking its row until the transaction
 * ends: two ingests of one stream serialize here.  Inside a transaction only.
 * stream_no may be NULL.  be_db_stream_set records committed_seq (it never
 * moves backwards) and counts the batch.
 */
int be_db_stream_get(be_db *db, int32_t host_id, el_span stream, int32_t *stream_no,
		     uint64_t *committed_seq);
int be_db_stream_set(be_db *db, int32_t host_id, el_span stream, uint64_t committed_seq);
/*
 * The same in fewer round trips, as the ingest worker runs a batch:
 * be_db_stream_begin is be_db_begin + be_db_stream_get in one (outside a
 * transaction; a failure after BEGIN leaves the transaction open: roll it
 * back); with lines > 0 it also reserves that many ingest_seq (at least the
 * lines the batch will add: skipped ones leave a gap, which is harmless)
 * and streams the transaction's lines (be_db.h's batch above: a line past
 * the reservation gets -ERANGE).  be_db_stream_commit is be_db_stream_set +
 * be_db_commit_lines in one (with journal_id, also be_db_journal_add of the
 * flows buffered since the last journal row: *journal_id gets its id, 0 if
 * there were none), after be_db_stream_get or _begin of the same stream in
 * this transaction (on failure the transaction is rolled back).
 */
int be_db_stream_begin(be_db *db, int32_t host_id, el_span stream, uint64_t lines,
		       int32_t *stream_no, uint64_t *committed_seq);
int be_db_stream_commit(be_db *db, int32_t host_id, el_span stream, uint64_t committed_seq,
			int64_t *journal_id);

/*
 * be_db_ingest_reserve - n ingest_seq values, first..first + n - 1, in a
 * statement of their own (outside a transaction it commits at once): the
 * ingest worker reserves a block and numbers batch after batch from it, so
 * that no batch transaction holds the ingest_counter row and two of them
 * can be open at once (be_ingest.h, "Overlap").  Values never used leave a
 * gap, which is harmless.
 * be_db_stream_begin_at - be_db_stream_begin with the lines numbered from
 * first (a range the caller reserved) instead of a reservation of its own.
 * Whoever numbers lines so must commit its batches in ingest_seq order.
 */
int be_db_ingest_reserve(be_db *db, uint64_t n, uint64_t *first);
int be_db_stream_begin_at(be_db *db, int32_t host_id, el_span stream, uint64_t first,
			  uint64_t lines, int32_t *stream_no, uint64_t *committed_seq);

/*
 * be_db_jcopy - a flow_journal row copied out of a handle's flow buffers,
 * so that another handle's transaction commits it (be_ingest.h, "Overlap":
 * the flows stay on the worker's handle, the batches' transactions run on
 * two others).  be_db_journal_take copies the flows buffered since the last
 * journal row into jc and marks them journaled (be_db_flows_take then moves
 * them); be_db_stream_commit_j is be_db_stream_commit with jc's row as the
 * journal row (none when jc holds no rows).  A failed commit leaves the
 * marks: the caller then drops the flows (be_db_flows_drop) and rebuilds
 * them from the database, as after any failed batch.
 */
typedef struct be_db_jcopy {
	el_buf b;               /* the four tables' rows, one after the other */
	size_t len[4], rows[4]; /* messages, recipients, rejects, keys */
} be_db_jcopy;
int be_db_journal_take(be_db *db, be_db_jcopy *jc);
int be_db_stream_commit_j(be_db *db, int32_t host_id, el_span stream, uint64_t committed_seq,
			  const be_db_jcopy *jc, int64_t *journal_id);

/*
 * Lines: be_db_line_add buffers one line as binary COPY data (flushing by
 * itself past 16 MiB); be_db_lines_flush assigns ingest_seq and COPYs them.
 * Streamed lines (be_db_stream_begin with lines) go out by 64 KiB; the
 * flush ends their COPY.
 * Outside a transaction the flush runs in one of its own.
 */
int be_db_line_add(be_db *db, const be_db_line *l);
int be_db_lines_flush(be_db *db);
size_t be_db_lines_pending(const be_db *db);

/*
 * Flows: be_db_flow_tx / be_db_flow_reject buffer one emitted transaction or
 * reject (call them from the be_corr_out callbacks; the records are copied);
 * be_db_flows_flush COPYs them into temporary staging tables and upserts
 * messages, recipients, email_keys (the newest write wins) and rejects
 * (the first write wins).  Outside a transaction the flush runs in its own.
 */
int be_db_flow_tx(be_db *db, const be_corr *c, const be_tx *t);
int be_db_flow_reject(be_db *db, const be_corr *c, const be_reject *j);
int be_db_flows_flush(be_db *db);
size_t be_db_flows_pending(const be_db *db);

/*
 * be_db_flows_take - move the flows of src that are in flow_journal rows
 * (be_db_stream_commit, be_db_journal_add, be_db_journal_take) into dst
 * (which must have none: -EINVAL), so that another connection writes them:
 * the ingest pipeline encodes flows on the worker's handle and writes them
 * on its own.  Flows buffered after the last journal row stay in src (the
 * batch being read while the one before it commits).  Both handles must be
 * idle in the calling thread for the call.  The host ids in the rows are
 * src's: write them only once src's transaction that made any new host has
 * committed.
 */
int be_db_flows_take(be_db *dst, be_db *src);

/*
 * be_db_flows_split - move the recipients, rejects and e-mail keys buffered
 * in src into dst (which must have no flows: -EINVAL): src then flushes only
 * messages, dst only recipients, rejects and keys (the messages statement of
 * the flush, and its two others), so that two connections write one batch's flows
 * at once.  Same rules as be_db_flows_take.
 */
int be_db_flows_split(be_db *dst, be_db *src);

/*
 * be_db_flows_journaled - the transactions and rejects buffered that are in
 * a journal row (what be_db_flows_take moves); be_db_journal_unmarked -
 * whether flow rows were buffered after the last journal row.
 */
size_t be_db_flows_journaled(const be_db *db);
bool be_db_journal_unmarked(const be_db *db);

/* be_db_flows_bytes - bytes of flows buffered (encoded) */
size_t be_db_flows_bytes(const be_db *db);

/*
 * be_db_keys_window - which e-mail keys and addresses be_db_flow_tx may
 * remember as written (it stages each once): at each new UTC day today, or
 * retention, it forgets them all, and it remembers none of a day retention
 * may drop before the next (older than today - retention_days + 1; 0: keep
 * all).
 * Otherwise a flow of a day dropped meanwhile, which goes to the DEFAULT
 * partitions, would be written without its keys.  Without a call, every
 * day is remembered until a failure.
 */
void be_db_keys_window(be_db *db, int64_t today, int retention_days);

/* be_db_flows_drop - forget the flows buffered (the engine will make them again) */
void be_db_flows_drop(be_db *db);

/*
 * The flow journal (sql/010_flow_journal.sql): flows committed in the
 * transaction of the lines they came from, applied later by another
 * connection.
 *
 * be_db_journal_add - inside a transaction: one flow_journal row with the
 * flow rows buffered since the last call (or since the buffers were last
 * emptied); they stay buffered, for be_db_flows_take.  *id gets the row's id,
 * 0 when nothing new was buffered.  -EMSGSIZE over 1 GiB per table.
 * be_db_journal_done - inside a transaction: delete the rows with ids lo..hi
 * (the writer applied their flows in this transaction).
 * be_db_journal_apply - outside a transaction, with no flow buffered: apply
 * every journal row in id order, each in a transaction of its own (upserts,
 * then the row is deleted).  *applied gets the rows applied.  A row the
 * server refuses (-EIO) is logged, counted in *bad, left in the table and
 * passed over; any other failure stops and is returned (call it again).
 */
int be_db_journal_add(be_db *db, int64_t *id);
/* be_db_journal_lines_flush - be_db_journal_add, then be_db_lines_flush: two round trips, not three */
int be_db_journal_lines_flush(be_db *db, int64_t *id);
int be_db_journal_done(be_db *db, int64_t lo, int64_t hi);
int be_db_journal_apply(be_db *db, uint64_t *applied, uint64_t *bad);

/*
 * Correlation checkpoints: the engine's be_corr_dump text as of ingest_seq.
 * Save keeps the newest three.  Load gives the newest; state is appended to
 * the caller's buffer.  -ENOENT when there is none.
 */
int be_db_checkpoint_save(be_db *db, uint64_t ingest_seq, const char *state, size_t len);
int be_db_checkpoint_load(be_db *db, uint64_t *ingest_seq, el_buf *state);

/*
 * be_db_replay - call cb for every line with ingest_seq > after, in
 * ingest_seq order, with its host's name.  Reads through a cursor in a
 * transaction of its own (bounded memory).  cb may feed the correlation
 * engine, i.e. call be_db_flow_tx/_reject and be_db_host_id; it must not
 * begin, commit, roll back or flush.  Flows buffered during the replay stay
 * pending: flush them afterwards.  cb returns 0 to go on; a negative value
 * stops the replay and is returned, a positive one stops it with -ECANCELED
 * (then the buffered flows are dropped).  *count (may be NULL) gets the lines
 * delivered.  Outside a transaction only.
 */
int be_db_replay(be_db *db, uint64_t after,
		 int (*cb)(void *arg, const be_db_line *l, el_span host_name), void *arg,
		 uint64_t *count);

/* be_db_last_ingest_seq - the last ingest_seq handed out (committed) */
int be_db_last_ingest_seq(be_db *db, uint64_t *seq);

#endif
