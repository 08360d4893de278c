/*
 * be_db_qint - what the query service's files share (be_db_auth.c,
 * be_db_query.c: searches and rejects, be_db_qflow.c: the flow view,
 * be_db_qstats.c: statistics): the scope parameters, the columns of a row,
 * reading text-format results into reply messages.  Internal to the be_db
 * family.
 */
#ifndef BE_DB_QINT_H
#define BE_DB_QINT_H

#include <stdlib.h>
#include <string.h>

#include "be_db_int.h"
#include "be_db_query.h"

/*
 * SQL pieces: a time as microseconds since 1970, and back from a bigint
 * parameter.  BE_DBQ_TS is immutable (timestamp + interval, then AT TIME
 * ZONE 'UTC'), so a custom plan folds it into a constant and prunes the
 * partitions when it plans.  'epoch'::timestamptz + interval is only stable:
 * PostgreSQL then planned every day's partition of each table of a search
 * and pruned them at run time (planning 17-20 ms of a 0.1 ms search at 10M
 * e-mails).
 */
#define BE_DBQ_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"
#define BE_DBQ_TS(p) "((timestamp 'epoch' + (" p ")::bigint * interval '1 us') AT TIME ZONE 'UTC')"
/* BE_DBQ_XSTR - a numeric macro as SQL text: LIMIT " BE_DBQ_XSTR(N) */
#define BE_DBQ_STR_(x) #x
#define BE_DBQ_XSTR(x) BE_DBQ_STR_(x)
/* The first instant of UTC day d (a date) and of the day after: first_seen >= LO AND < HI. */
#define BE_DBQ_DAY_LO(d) "(" d "::timestamp AT TIME ZONE 'UTC')"
#define BE_DBQ_DAY_HI(d) "((" d " + 1)::timestamp AT TIME ZONE 'UTC')"

/* Slots of be_db_exec_gen (fixed statements with generic plans). */
enum {
	BE_DBQ_G_QUICK,
	BE_DBQ_G_LINES,
	BE_DBQ_G_FLOW_QID,
	BE_DBQ_G_FLOW,
	BE_DBQ_G_FLOW_RCPT,
	BE_DBQ_G_FLOW_REJ,
	BE_DBQ_G_SESSION,
	BE_DBQ_G_SEARCH_LOG
};

/* be_dbq_i64 - a bigint/integer column (NULL: 0) */
static inline int64_t be_dbq_i64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* be_dbq_f64 - a double column (NULL: 0) */
static inline double be_dbq_f64(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? 0 : strtod(PQgetvalue(r, row, col), NULL);
}

/* be_dbq_bool - a boolean column */
static inline int be_dbq_bool(const PGresult *r, int row, int col)
{
	return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}

/* be_dbq_str - a text column copied into the arena (NULL: "") */
static inline char *be_dbq_str(el_arena *a, const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return el_arena_strdup(a, "");
	return el_arena_strndup(a, PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/*
 * be_dbq_netstrings - split "LEN:BYTES" repeated (octet_length || ':' ||
 * value, aggregated) into at most max strings in the arena.  Values are
 * database text, so they are whatever a log line held: the lengths keep any
 * byte a separator could be.  Returns the count.
 */
size_t be_dbq_netstrings(el_arena *a, const char *s, size_t len, char ***out, size_t max);

/*
 * be_dbq_fill - one message of descriptor d per row of r (an array of n + 1
 * pointers in the arena), each field set from the column of the same name:
 * text into strings (copied into the arena), integers into int/enum fields,
 * booleans, doubles.  Columns without a field of their name are skipped, so
 * a statement names its columns after the reply's fields.  Returns n.
 */
size_t be_dbq_fill(el_arena *a, const PGresult *r, const ProtobufCMessageDescriptor *d,
		   void ***out);

/* be_dbq_scope_params - the four scope parameters into p[0..3] (role in rolebuf) */
void be_dbq_scope_params(const be_db_scope *sc, char rolebuf[8], const char **p);

/*
 * be_dbq_is_count - 1 to 18 decimal digits: a number a caller sent (a cursor's
 * size or id) that PostgreSQL's bigint takes, so a bad one is the caller's
 * error (-EINVAL), never the server's.
 */
bool be_dbq_is_count(const char *s);
/* be_dbq_parse_eid - an e-mail id (16 hex digits) into the signed bigint stored: 0 or -EINVAL */
int be_dbq_parse_eid(const char *s, int64_t *out);

/* The scope parameters $1..$4 of every read (role, hosts, domains, addresses). */
#define BE_DBQ_SCOPE "$1::integer, $2::integer[], $3::text[], $4::text[]"
/* An admin sees everything: no call per row (a custom plan folds the test away). */
#define BE_DBQ_VISIBLE(e) "($1::integer = 1 OR else_visible(" BE_DBQ_SCOPE ", " e "))"

/*
 * The columns of a MessageRow, for messages m joined with hosts h.  A mailbox
 * user sees only their own recipients of a message they did not send (no
 * Bcc leaks to the other recipients), and nrcpt counts only those.
 */
#define BE_DBQ_OWN_RCPT                                                                            \
	"($1::integer <> 3 OR lower(m.sender) = ANY ($4::text[]) OR lower(r.rcpt) = ANY "          \
	"($4::text[]) OR lower(r.orig_rcpt) = ANY ($4::text[]))"
/*
 * A recipient row r a mailbox user may match a search on: one of their
 * own, or one of a message they sent (they wrote its recipients).
 */
#define BE_DBQ_OWN_R                                                                               \
	"(lower(r.rcpt) = ANY ($4::text[]) OR lower(r.orig_rcpt) = ANY ($4::text[]) OR EXISTS "    \
	"(SELECT 1 FROM messages o WHERE o.first_seen = r.first_seen AND o.host_id = r.host_id "   \
	"AND o.queue_id = r.queue_id AND o.sender <> '' AND lower(o.sender) = ANY "                \
	"($4::text[])))"
/*
 * In three parts: a statement that bounds m.first_seen puts the same bounds
 * on r.first_seen between them (be_dbq_row_cols), so that the recipients'
 * subqueries plan on the range's partitions, not on every day's.
 */
#define BE_DBQ_ROW_HEAD                                                                            \
	"lpad(to_hex(m.email_id), 16, '0'), h.name, m.queue_id, "                                  \
	"(extract(epoch FROM m.first_seen) * 1000000)::bigint, "                                   \
	"(extract(epoch FROM m.last_seen) * 1000000)::bigint, m.status, m.sender, "
#define BE_DBQ_ROW_TAIL "m.size, m.message_id, m.client_host, m.client_ip, m.sasl_username"
#define BE_DBQ_ROW_COLS_A                                                                          \
	BE_DBQ_ROW_HEAD                                                                            \
	"(SELECT string_agg(octet_length(x.rcpt) || ':' || x.rcpt, '' ORDER BY x.idx) FROM "       \
	"(SELECT r.rcpt, r.idx FROM recipients r WHERE r.first_seen = m.first_seen "
#define BE_DBQ_ROW_COLS_B                                                                          \
	"AND r.host_id = m.host_id AND r.queue_id = m.queue_id AND " BE_DBQ_OWN_RCPT               \
	" ORDER BY r.idx LIMIT 20) x), "                                                           \
	"CASE WHEN $1::integer = 3 AND NOT coalesce(lower(m.sender) = ANY ($4::text[]), false) "   \
	"THEN "                                                                                    \
	"(SELECT count(*) FROM recipients r WHERE r.first_seen = m.first_seen "
#define BE_DBQ_ROW_COLS_C                                                                          \
	"AND r.host_id = m.host_id AND r.queue_id = m.queue_id AND " BE_DBQ_OWN_RCPT               \
	")::integer ELSE m.nrcpt END, " BE_DBQ_ROW_TAIL
#define BE_DBQ_ROW_COLS BE_DBQ_ROW_COLS_A BE_DBQ_ROW_COLS_B BE_DBQ_ROW_COLS_C
#define BE_DBQ_ROW_NCOLS 14
#define BE_DBQ_ROW_RCPTS 20 /* recipients in a MessageRow: LIMIT 20 in BE_DBQ_ROW_COLS_B */
/*
 * The same columns without the recipients' subqueries (no recipient, and
 * m.nrcpt): for a caller that reads the recipients itself and fills them in
 * (be_dbq_flow_summary).  A statement without them plans, locks and starts
 * no recipients partition.
 */
#define BE_DBQ_ROW_COLS_BARE BE_DBQ_ROW_HEAD "'', m.nrcpt, " BE_DBQ_ROW_TAIL

/* The columns of a RejectRow, for rejects j joined with hosts h. */
#define BE_DBQ_REJ_COLS                                                                            \
	BE_DBQ_US("j.ts")                                                                          \
	", h.name, j.event, j.status, j.client_host, j.client_ip, j.helo, "                        \
	"j.sender, j.rcpt, j.stage, j.reject_code, j.reject_dsn, j.reason, "                       \
	"lpad(to_hex(j.email_id), 16, '0'), j.reject_id"

/* be_dbq_exec - run a read built per request (custom plan) */
int be_dbq_exec(be_db *db, const char *what, const char *sql, int n, const char *const *p,
		PGresult **res);
/* be_dbq_gen - run a fixed read with a generic plan (be_db_exec_gen) */
int be_dbq_gen(be_db *db, int slot, const char *what, const char *sql, int n, const char *const *p,
	       PGresult **res);
/* be_dbq_row - a MessageRow from columns c..c+BE_DBQ_ROW_NCOLS of row i */
Else__MessageRow *be_dbq_row(el_arena *a, const PGresult *r, int i, int c);
/* be_dbq_reject_row - a RejectRow from the BE_DBQ_REJ_COLS of row i */
Else__RejectRow *be_dbq_reject_row(el_arena *a, const PGresult *r, int i);
/* be_dbq_range - default time range: [to - def, to), to = now */
void be_dbq_range(int64_t from, int64_t to, int64_t now, int64_t def, int64_t *f, int64_t *t);

#endif
