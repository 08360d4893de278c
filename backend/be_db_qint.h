/*
 * be_db_qint - helpers shared by be_db_auth.c and be_db_query.c: reading
 * text-format results into reply messages.  Internal to the be_db family.
 */
#ifndef BE_DB_QINT_H
#define BE_DB_QINT_H

#include <stdlib.h>
#include <string.h>

#include "be_db_int.h"
#include "be_db_query.h"

/* SQL pieces: a time as microseconds since 1970, and back from a bigint parameter. */
#define BE_DBQ_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"
#define BE_DBQ_TS(p) "('epoch'::timestamptz + (" p ")::bigint * interval '1 microsecond')"

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

#endif
