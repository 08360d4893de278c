/*
 * be_db_int - what the be_db*.c files share: the handle, statement helpers,
 * binary COPY encoding and text repair.  Not for other modules: libpq's
 * header stays inside be_db (STYLE.md, one adapter per foreign library).
 *
 * Files: be_db.c (connection, errors, transactions), be_db_lookup.c (hosts,
 * streams, event names), be_db_schema.c (bootstrap, migrations, partitions,
 * retention), be_db_copy.c (COPY encoding, lines), be_db_flow.c (flows),
 * be_db_state.c (checkpoints, replay, ingest counter).
 */
#ifndef BE_DB_INT_H
#define BE_DB_INT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "be_db.h"
#include "el_map.h"
#include "el_parse.h"

/*
 * The top lists' refresh (else_stats_top_refresh) holds this advisory lock
 * exclusively, each flows transaction shares it, taken first: otherwise the
 * refresh (the day's dirty mark, then its hot rows) and a writer (hot rows,
 * then the mark) deadlocked, and the writer's whole batch was rolled back and
 * sent again (seen every few minutes in a 10M-e-mail load).
 */
#define BE_DB_LOCK_TOP "4542001"

/*
 * Users' and groups' changes (be_db_auth.c) hold this advisory lock, taken
 * first in their transaction, one at a time: "an enabled admin remains" is
 * then checked against what the others committed.  Otherwise two admins
 * demoting each other at once both passed the check and left none.
 */
#define BE_DB_LOCK_ADMIN "4542002"

/* Output bounds (bytes) for text columns: indexed ones must fit a btree entry. */
#define BE_DB_TEXT_KEY 1024
#define BE_DB_TEXT_LONG 8192
#define BE_DB_TEXT_PROGRAM 128
#define BE_DB_TEXT_QID 64
/* A COPY buffer is sent once it grows past this (same transaction). */
#define BE_DB_COPY_FLUSH ((size_t)16 << 20)
/* Streamed lines go to their open COPY in pieces of about this size. */
#define BE_DB_COPY_CHUNK ((size_t)64 << 10)
/* email_keys rows remembered per generation, two generations (be_db_key_add) */
#define BE_DB_KEYS_GEN 32768
/* addresses rows likewise: an address recurs all day long */
#define BE_DB_ADDRS_GEN 65536
/* Longer keys are not remembered: forged ones would fill the memory. */
#define BE_DB_KEY_REMEMBER 256
/* Postgres timestamps count from 2000-01-01; dates likewise, in days. */
#define BE_DB_PG_EPOCH_US 946684800000000LL
#define BE_DB_PG_EPOCH_DAYS 10957
/* Times are clamped into years 1..9999 so a garbage time never fails a COPY. */
#define BE_DB_TS_MIN_US (-62135596800000000LL)
#define BE_DB_TS_MAX_US (253402300799999999LL)

/* be_db_copybuf - one table's pending binary COPY data */
typedef struct be_db_copybuf {
	el_buf b;
	size_t rows;
} be_db_copybuf;

struct be_db {
	PGconn *conn;
	bool in_tx;     /* between be_db_begin and commit/rollback */
	bool own_tx;    /* a flush opened the transaction itself */
	bool tx_failed; /* a statement failed: only rollback is possible */
	bool lost;      /* the connection is gone */
	bool stage_ready;
	bool async_commit;        /* synchronous_commit off, also after a reconnect */
	unsigned upsert_prepared; /* the flows statements prepared in this session (bits) */
	bool generic;             /* plan_cache_mode is force_generic_plan (be_db_exec_gen) */
	bool generic_at_begin;    /* ... when the transaction began: a rollback undoes a SET */
	uint32_t gen_prepared;    /* be_db_exec_gen slots prepared in this session */
	bool cache_dirty;         /* hosts or events learned in the open transaction */
	el_map hosts;             /* name -> int32_t id (stored in the pointer) */
	bool ev_loaded;
	int16_t ev_id[EL_EV__COUNT]; /* el_event -> event_names.id */
	int16_t *ev_back;            /* event_names.id -> el_event + 1 (0: unknown) */
	int ev_back_n;
	be_db_copybuf lines;
	uint64_t *line_seq_off; /* offsets of each row's ingest_seq value in lines.b */
	size_t line_seq_cap;
	/*
	 * Streamed lines (be_db_stream_begin with a reservation): each line gets
	 * the next ingest_seq of the range reserved at BEGIN as it is added, and
	 * goes to a COPY left open on the connection while the caller works on
	 * (be_db_lines_push).  A statement on the connection meanwhile ends that
	 * COPY first (be_db_quiet); the next lines open another.
	 */
	bool lines_stream;
	bool copy_open; /* a COPY lines is open on the connection */
	uint64_t line_seq_next, line_seq_last;
	be_db_copybuf msg, rcpt, rej, keys;
	int32_t stage_n; /* row order in the staging tables: the newest write wins */
	/* Bytes and rows of msg, rcpt, rej, keys already in flow_journal (be_db_journal_add). */
	size_t jmark[4], jrows[4];
	size_t flows_mark; /* flow rows buffered when the transaction began */
	el_map rej_seen;   /* reject id -> uint32_t count in this flush (be_db_flow.c) */
	/* Rows staged since the last failure, two generations each (be_db_key_add). */
	el_map keys_seen[2];  /* email_keys */
	el_map addrs_seen[2]; /* addresses */
	int64_t keys_today;   /* UTC day the two were last forgotten (be_db_keys_window) */
	int64_t keys_min_day; /* rows of older days are not remembered */
	bool flows_replay;    /* flushes run the upserts only (flow_journal applied again) */
	char err_state[6];    /* SQLSTATE of the last failed statement ("" if none came) */
	be_db_stats st;
};

/* be_db.c, be_db_lookup.c */
int be_db_ready(be_db *db);
int be_db_fail(be_db *db, PGresult *res, const char *what);
int be_db_exec(be_db *db, const char *what, const char *sql, int n, const char *const *vals,
	       const int *lens, const int *fmts, int rfmt, PGresult **out);
int be_db_simple(be_db *db, const char *what, const char *sql);
/*
 * be_db_exec_gen - a fixed statement, prepared once per connection (slot
 * 0..31 names it) and run with a generic plan: planning a statement on the
 * partitioned tables costs more than running it (quick search: 5.9 ms to
 * plan, 0.3 ms to run), and run-time partition pruning keeps a generic plan
 * to the partitions it needs.  be_db_exec switches back to custom plans for
 * the statements built per request.
 */
int be_db_exec_gen(be_db *db, int slot, const char *what, const char *sql, int n,
		   const char *const *vals, const int *lens, const int *fmts, PGresult **out);

/* be_db_genq - one statement of be_db_exec_gen_many or be_db_exec_many */
typedef struct be_db_genq {
	int slot; /* be_db_exec_gen's slot: the statement's name (be_db_exec_gen_many) */
	const char *what, *sql;
	int n;
	const char *const *vals; /* parameters, read during the call only */
	/* be_db_exec_many only: as PQexecParams takes them (NULL, 0: text) */
	const int *lens, *fmts;
	int rfmt;
} be_db_genq;

/* The most statements be_db_exec_gen_many sends at once. */
#define BE_DB_PIPE_MAX 64

/*
 * be_db_exec_gen_many - statements of be_db_exec_gen sent in one round trip
 * (libpq's pipeline mode), each with its own snapshot as if run one after
 * the other.  out[i] gets statement i's result (text format).  On failure
 * (the first one is logged and classified as by be_db_exec) every out[i] is
 * NULL; a connection lost or left out of step with the server is marked
 * lost (-ECONNRESET).
 */
int be_db_exec_gen_many(be_db *db, const be_db_genq *q, int nq, PGresult **out);
/*
 * be_db_exec_many - unnamed statements (as be_db_exec runs them) in one
 * round trip, the same way; slot is not used.  A statement that fails
 * aborts the ones after it, and the transaction if one is open.
 */
int be_db_exec_many(be_db *db, const be_db_genq *q, int nq, PGresult **out);
/*
 * be_db_begin_many - be_db_begin, then q, in one round trip (out as
 * be_db_exec_many).  When q fails the transaction stays open, failed: roll
 * it back.
 * be_db_commit_many - flush the lines (flows stay buffered, as
 * be_db_commit_lines), then q and COMMIT in one round trip.  On failure the
 * transaction is rolled back (flows dropped) and out is all NULL; q's
 * results are only worth reading once the COMMIT succeeded.
 */
int be_db_begin_many(be_db *db, const be_db_genq *q, int nq, PGresult **out);
int be_db_commit_many(be_db *db, const be_db_genq *q, int nq, PGresult **out);
/* be_db_lines_flush_with - be_db_lines_flush with pre sent in its first round trip */
int be_db_lines_flush_with(be_db *db, const be_db_genq *pre, PGresult **pre_out);
int be_db_copy_send(be_db *db, const char *what, const char *sql, be_db_copybuf *cb);
int be_db_copy_start(be_db *db, const char *what, const char *sql);
int be_db_copy_put(be_db *db, const char *what, const char *p, size_t n);
int be_db_copy_finish(be_db *db, const char *what, bool abort);
/* be_db_lines_push - the buffered lines to the open COPY (opened if none); end: end it */
int be_db_lines_push(be_db *db, bool end);
/* be_db_quiet - before any statement: end the streamed lines' open COPY */
static inline int be_db_quiet(be_db *db)
{
	return db->copy_open ? be_db_lines_push(db, true) : 0;
}
int be_db_events_load(be_db *db);
int be_db_commit_keep(be_db *db);
int be_db_tx_wrap_begin(be_db *db, bool *opened);
int be_db_tx_wrap_end(be_db *db, bool opened, int rc);

/* be_db_flow.c */
/* be_db_jrow - the flow_journal row of the flows buffered since the last one */
typedef struct be_db_jrow {
	const char *vals[8];
	int lens[8], fmts[8];
	char nb[4][24];
	size_t rows; /* 0: nothing new to journal */
	be_db_genq q;
} be_db_jrow;
/* be_db_jrow_make - j's statement (valid while the buffers do not change) */
int be_db_jrow_make(be_db *db, be_db_jrow *j);
/* be_db_jrow_of - j's statement for the rows of jc (valid while jc does not change) */
void be_db_jrow_of(const be_db_jcopy *jc, be_db_jrow *j);
/* be_db_jrow_done - the row's id from its insert (res freed); the buffers marked journaled */
int be_db_jrow_done(be_db *db, PGresult *res, int64_t *id);
void be_db_rejects_forget(be_db *db);
void be_db_journal_forget(be_db *db);
void be_db_keys_forget(be_db *db);

/* be_db_copy.c: binary COPY encoding (PostgreSQL's COPY BINARY format) */
void be_db_copy_reset(be_db_copybuf *cb);
void be_db_copy_header(be_db_copybuf *cb);
void be_db_copy_row(be_db_copybuf *cb, int16_t nfields);
/* The length of what be_db_copy_header writes. */
#define BE_DB_COPY_HEADER 19
void be_db_copy_end(be_db_copybuf *cb);
void be_db_copy_null(el_buf *b);
void be_db_copy_i16(el_buf *b, int16_t v);
void be_db_copy_i32(el_buf *b, int32_t v);
void be_db_copy_i64(el_buf *b, int64_t v);
void be_db_copy_f64(el_buf *b, double v);
void be_db_copy_ts(el_buf *b, int64_t unix_us);
void be_db_copy_date(el_buf *b, int64_t unix_days);
void be_db_copy_bytes(el_buf *b, const void *p, size_t n);
void be_db_copy_text(be_db *db, el_buf *b, const char *p, size_t n, size_t max);
void be_db_copy_cstr(be_db *db, el_buf *b, const char *s, size_t max);
void be_db_copy_jsonb(el_buf *b, const el_buf *json);
int64_t be_db_clamp_us(int64_t us);
bool be_db_text_repair(el_buf *out, const char *p, size_t n, size_t max);
uint64_t be_db_get_be64(const char *p);
uint32_t be_db_get_be32(const char *p);

#endif
