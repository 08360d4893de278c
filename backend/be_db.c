/*
 * be_db - connection, error mapping, transactions.  See be_db.h for the
 * contract and be_db_int.h for how the module is split.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_int.h"
#include "el_log.h"

/* be_db_log_server - log a server or libpq message, bounded and printable */
static void be_db_log_server(const char *what, const char *state, const char *msg)
{
	char out[4 * 300 + 1];
	size_t n = msg ? strlen(msg) : 0;

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	el_log_printable(out, msg ? msg : "", n, 300);
	el_warn("database: %s: %s%s%s", what, state ? state : "", state ? " " : "", out);
}

/* be_db_notice - server warnings (NOTICEs are off: client_min_messages) */
static void be_db_notice(void *arg, const char *msg)
{
	(void)arg;
	be_db_log_server("server says", NULL, msg);
}

/* be_db_fail - classify a failed statement, log it, release res */
int be_db_fail(be_db *db, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn);
	int rc;

	/*
	 * Class 08 is a connection exception; 57P01..03 are the server going
	 * down (fast shutdown, crash, still starting): the session is over even
	 * when libpq has not noticed yet.
	 */
	if (PQstatus(db->conn) == CONNECTION_BAD ||
	    (state && (strncmp(state, "08", 2) == 0 || strcmp(state, "57P01") == 0 ||
		       strcmp(state, "57P02") == 0 || strcmp(state, "57P03") == 0))) {
		rc = -ECONNRESET;
		db->lost = true;
		db->st.err_conn++;
	} else if (state && strcmp(state, "42501") == 0) {
		rc = -EACCES;
		db->st.err_server++;
	} else if (state && strcmp(state, "55P03") == 0) {
		rc = -EAGAIN; /* lock_timeout */
		db->st.err_server++;
	} else if (state && strcmp(state, "57014") == 0) {
		rc = -ECANCELED; /* statement_timeout (the query service sets one) */
		db->st.err_server++;
	} else {
		rc = -EIO;
		db->st.err_server++;
	}
	if (db->in_tx)
		db->tx_failed = true;
	snprintf(db->err_state, sizeof(db->err_state), "%s", state ? state : "");
	be_db_log_server(what, state, msg && msg[0] ? msg : "connection lost");
	PQclear(res);
	return rc;
}

/* be_db_exec - one parameterised statement; *out gets the result if asked */
int be_db_exec(be_db *db, const char *what, const char *sql, int n, const char *const *vals,
	       const int *lens, const int *fmts, int rfmt, PGresult **out)
{
	PGresult *res;
	ExecStatusType s;

	if (out)
		*out = NULL;
	int rc = be_db_quiet(db);
	if (rc)
		return rc;
	if (db->generic) {
		rc = be_db_simple(db, what, "SET plan_cache_mode = auto");
		if (rc)
			return rc;
		db->generic = false;
	}
	res = PQexecParams(db->conn, sql, n, NULL, vals, lens, fmts, rfmt);
	s = PQresultStatus(res);
	if (res == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK))
		return be_db_fail(db, res, what);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* be_db_gen_name - the prepared statement name of slot */
static void be_db_gen_name(char name[16], int slot)
{
	if (slot < 0 || slot > 31)
		el_panic("be_db_exec_gen: slot %d", slot);
	snprintf(name, 16, "else_g%d", slot);
}

/* be_db_gen_mode - plan_cache_mode for be_db_exec_gen's statements */
static int be_db_gen_mode(be_db *db, const char *what)
{
	int rc;

	if (db->generic)
		return 0;
	rc = be_db_simple(db, what, "SET plan_cache_mode = force_generic_plan");
	if (rc == 0)
		db->generic = true;
	return rc;
}

/* be_db_exec_gen - see be_db_int.h */
int be_db_exec_gen(be_db *db, int slot, const char *what, const char *sql, int n,
		   const char *const *vals, const int *lens, const int *fmts, PGresult **out)
{
	char name[16];
	PGresult *res;
	ExecStatusType s;
	int rc;

	if (out)
		*out = NULL;
	be_db_gen_name(name, slot);
	if ((rc = be_db_quiet(db)) != 0 || (rc = be_db_gen_mode(db, what)) != 0)
		return rc;
	if (!(db->gen_prepared & (1u << slot))) {
		res = PQprepare(db->conn, name, sql, n, NULL);
		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			return be_db_fail(db, res, what);
		PQclear(res);
		db->gen_prepared |= 1u << slot;
	}
	res = PQexecPrepared(db->conn, name, n, vals, lens, fmts, 0);
	s = PQresultStatus(res);
	if (res == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK))
		return be_db_fail(db, res, what);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/*
 * be_db_pipe_lost - a pipeline out of step with the server, or its
 * connection gone: the connection goes (-ECONNRESET unless rc tells an
 * earlier error).
 */
static int be_db_pipe_lost(be_db *db, int rc, const char *what)
{
	if (rc == 0) {
		be_db_log_server(what, NULL,
				 PQerrorMessage(db->conn)[0] ? PQerrorMessage(db->conn)
							     : "pipeline out of step");
		db->st.err_conn++;
		rc = -ECONNRESET;
	}
	if (db->in_tx)
		db->tx_failed = true;
	db->lost = true;
	return rc;
}

/* What a pipeline sent, in order: the results come back the same way. */
enum { BE_DB_PIPE_QUERY, BE_DB_PIPE_PREPARE };

/*
 * be_db_pipe_collect - the results of a pipeline, in send order: one per
 * command (kinds[i]), each followed by a NULL, then the sync point.
 * Statements' results go to out; the first failure gives rc (what follows
 * it is PGRES_PIPELINE_ABORTED).
 */
static int be_db_pipe_collect(be_db *db, const be_db_genq *q, const char *kinds, int nsent,
			      PGresult **out)
{
	PGresult *res;
	int rc = 0, qi = 0;

	for (int i = 0; i < nsent; i++) {
		ExecStatusType s;
		bool ok;

		if ((res = PQgetResult(db->conn)) == NULL)
			return be_db_pipe_lost(db, rc, q[qi].what);
		s = PQresultStatus(res);
		ok = s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
		if (kinds[i] == BE_DB_PIPE_PREPARE && ok)
			db->gen_prepared |= 1u << q[qi].slot;
		if (!ok && rc == 0)
			rc = be_db_fail(db, res, q[qi].what);
		else if (kinds[i] == BE_DB_PIPE_QUERY && ok)
			out[qi] = res;
		else
			PQclear(res);
		if (kinds[i] == BE_DB_PIPE_QUERY)
			qi++;
		if ((res = PQgetResult(db->conn)) != NULL) {
			PQclear(res);
			return be_db_pipe_lost(db, rc, q[0].what);
		}
	}
	res = PQgetResult(db->conn);
	if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		PQclear(res);
		return be_db_pipe_lost(db, rc, q[0].what);
	}
	PQclear(res);
	return rc;
}

/*
 * be_db_pipe_run - q in one round trip: be_db_exec_gen's prepared statements
 * (gen) or unnamed ones with their own parameter and result formats.
 */
static int be_db_pipe_run(be_db *db, const be_db_genq *q, int nq, PGresult **out, bool gen)
{
	char name[16], kinds[2 * BE_DB_PIPE_MAX];
	uint32_t sent_prep = db->gen_prepared;
	int rc, nsent = 0, i;

	if (nq < 1 || nq > BE_DB_PIPE_MAX)
		el_panic("be_db_pipe_run: %d statements", nq);
	memset(out, 0, (size_t)nq * sizeof(*out));
	if ((rc = be_db_quiet(db)) != 0)
		return rc;
	/* An unnamed statement is planned per plan_cache_mode too (be_db_exec). */
	rc = gen           ? be_db_gen_mode(db, q[0].what)
	     : db->generic ? be_db_simple(db, q[0].what, "SET plan_cache_mode = auto")
			   : 0;
	if (rc)
		return rc;
	if (!gen)
		db->generic = false;
	if (PQenterPipelineMode(db->conn) != 1)
		return be_db_fail(db, NULL, q[0].what);
	for (i = 0; i < nq; i++) {
		if (!gen) {
			if (PQsendQueryParams(db->conn, q[i].sql, q[i].n, NULL, q[i].vals,
					      q[i].lens, q[i].fmts, q[i].rfmt) != 1)
				break;
			kinds[nsent++] = BE_DB_PIPE_QUERY;
			continue;
		}
		be_db_gen_name(name, q[i].slot);
		if (!(sent_prep & (1u << q[i].slot))) {
			if (PQsendPrepare(db->conn, name, q[i].sql, q[i].n, NULL) != 1)
				break;
			kinds[nsent++] = BE_DB_PIPE_PREPARE;
			sent_prep |= 1u << q[i].slot;
		}
		if (PQsendQueryPrepared(db->conn, name, q[i].n, q[i].vals, NULL, NULL, 0) != 1)
			break;
		kinds[nsent++] = BE_DB_PIPE_QUERY;
	}
	if (PQpipelineSync(db->conn) != 1)
		rc = be_db_pipe_lost(db, 0, q[0].what);
	else
		rc = be_db_pipe_collect(db, q, kinds, nsent, out);
	if (rc == 0 && i < nq) /* a send failed: libpq says why */
		rc = be_db_pipe_lost(db, 0, q[i].what);
	if (!db->lost && PQexitPipelineMode(db->conn) != 1)
		rc = be_db_pipe_lost(db, rc, q[0].what);
	if (rc) {
		for (i = 0; i < nq; i++) {
			PQclear(out[i]);
			out[i] = NULL;
		}
	}
	return rc;
}

/* be_db_exec_gen_many - see be_db_int.h */
int be_db_exec_gen_many(be_db *db, const be_db_genq *q, int nq, PGresult **out)
{
	return be_db_pipe_run(db, q, nq, out, true);
}

/* be_db_exec_many - see be_db_int.h */
int be_db_exec_many(be_db *db, const be_db_genq *q, int nq, PGresult **out)
{
	return be_db_pipe_run(db, q, nq, out, false);
}

/* be_db_simple - a fixed statement (or several) without parameters */
int be_db_simple(be_db *db, const char *what, const char *sql)
{
	int rc = be_db_quiet(db);

	if (rc)
		return rc;
	PGresult *res = PQexec(db->conn, sql);
	ExecStatusType s = PQresultStatus(res);

	if (res == NULL || (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK))
		return be_db_fail(db, res, what);
	PQclear(res);
	return 0;
}

/* be_db_copy_start - sql, a COPY ... FROM STDIN: the server waits for its data */
int be_db_copy_start(be_db *db, const char *what, const char *sql)
{
	PGresult *res = PQexec(db->conn, sql);

	if (PQresultStatus(res) != PGRES_COPY_IN)
		return be_db_fail(db, res, what);
	PQclear(res);
	return 0;
}

/* be_db_copy_put - n bytes of the open COPY's data */
int be_db_copy_put(be_db *db, const char *what, const char *p, size_t n)
{
	static const size_t chunk = 1 << 20;

	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		if (PQputCopyData(db->conn, p + off, (int)k) != 1)
			return be_db_fail(db, NULL, what);
	}
	db->st.copy_bytes += n;
	return 0;
}

/*
 * be_db_copy_finish - end the open COPY (abort: make it fail, after an error
 * here) and read its results, so the connection is usable again.  0 when
 * the server stored the rows; the first error otherwise (logged unless
 * abort).
 */
int be_db_copy_finish(be_db *db, const char *what, bool abort)
{
	PGresult *res;
	int rc = 0;

	if (PQputCopyEnd(db->conn, abort ? "batch abandoned" : NULL) != 1)
		rc = abort ? -EIO : be_db_fail(db, NULL, what);
	/* Read every result, even after a failure. */
	while ((res = PQgetResult(db->conn)) != NULL) {
		if (rc == 0 && !abort && PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = be_db_fail(db, res, what);
			continue;
		}
		PQclear(res);
		if (PQstatus(db->conn) == CONNECTION_BAD)
			break;
	}
	if (abort && db->in_tx)
		db->tx_failed = true;
	return abort && rc == 0 ? -EIO : rc;
}

/* be_db_copy_send - COPY ... FROM STDIN (FORMAT binary) with cb's rows */
int be_db_copy_send(be_db *db, const char *what, const char *sql, be_db_copybuf *cb)
{
	int rc;

	if ((rc = be_db_quiet(db)) != 0 || (rc = be_db_copy_start(db, what, sql)) != 0)
		return rc;
	be_db_copy_end(cb);
	rc = be_db_copy_put(db, what, cb->b.p, cb->b.len);
	int rc2 = be_db_copy_finish(db, what, rc != 0);
	return rc ? rc : rc2;
}

/* be_db_session - per-connection setup after (re)connecting */
static int be_db_session(be_db *db)
{
	const char *enc = PQparameterStatus(db->conn, "server_encoding");

	PQsetNoticeProcessor(db->conn, be_db_notice, NULL);
	db->stage_ready = false;
	db->upsert_prepared = 0;
	db->generic = false;
	db->gen_prepared = 0;
	if (enc == NULL || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)) {
		el_warn("database: server encoding %s: ELSE needs UTF8", enc ? enc : "unknown");
		return -EINVAL;
	}
	if (db->async_commit) {
		int rc = be_db_simple(db, "session setup", "SET synchronous_commit = off");
		if (rc)
			return rc;
	}
	return be_db_simple(db, "session setup", "SET client_min_messages = warning");
}

/* be_db_async_commit - see be_db.h */
int be_db_async_commit(be_db *db)
{
	if (db == NULL || db->in_tx)
		return -EINVAL;
	db->async_commit = true;
	return be_db_simple(db, "session setup", "SET synchronous_commit = off");
}

/* be_db_cache_drop - forget hosts and events (learned in a rolled-back tx) */
static void be_db_cache_drop(be_db *db)
{
	el_map_fini(&db->hosts);
	el_map_init(&db->hosts);
	db->ev_loaded = false;
	free(db->ev_back);
	db->ev_back = NULL;
	db->ev_back_n = 0;
	db->cache_dirty = false;
}

/* be_db_discard - drop every buffered row */
static void be_db_discard(be_db *db)
{
	be_db_copy_reset(&db->lines);
	be_db_copy_reset(&db->msg);
	be_db_copy_reset(&db->rcpt);
	be_db_copy_reset(&db->rej);
	be_db_copy_reset(&db->keys);
	db->stage_n = 0;
	be_db_keys_forget(db);
	be_db_journal_forget(db);
}

/* be_db_flow_rows - every flow row buffered */
static size_t be_db_flow_rows(const be_db *db)
{
	return db->msg.rows + db->rcpt.rows + db->rej.rows + db->keys.rows;
}

/*
 * be_db_discard_tx - drop what the failed transaction buffered: its lines,
 * and the flows if it added any (then all of them: rows cannot be told
 * apart).  Flows buffered before it began and untouched since stay: the
 * ingest pipeline keeps flows of committed batches waiting across a
 * transaction that only found its batch already stored.
 */
static void be_db_discard_tx(be_db *db)
{
	be_db_copy_reset(&db->lines);
	if (be_db_flow_rows(db) != db->flows_mark) {
		be_db_discard(db);
		be_db_rejects_forget(db);
	}
}

/* be_db_open - see be_db.h */
int be_db_open(be_db **out, const char *conninfo)
{
	/* conninfo is expanded as the dbname keyword; what follows overrides it. */
	const char *kw[] = { "dbname", "fallback_application_name", "client_encoding", NULL };
	const char *val[] = { conninfo, "else", "UTF8", NULL };
	be_db *db;
	int rc;

	if (out == NULL || conninfo == NULL)
		return -EINVAL;
	*out = NULL;
	db = calloc(1, sizeof(*db));
	if (db == NULL)
		return -ENOMEM;
	el_map_init(&db->hosts);
	el_map_init(&db->rej_seen);
	for (int g = 0; g < 2; g++) {
		el_map_init(&db->keys_seen[g]);
		el_map_init(&db->addrs_seen[g]);
	}
	db->keys_min_day = INT64_MIN;
	el_buf_init(&db->lines.b);
	el_buf_init(&db->msg.b);
	el_buf_init(&db->rcpt.b);
	el_buf_init(&db->rej.b);
	el_buf_init(&db->keys.b);
	db->conn = PQconnectdbParams(kw, val, 1);
	if (db->conn == NULL) {
		be_db_close(db);
		return -ENOMEM;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		be_db_log_server("connect", NULL, PQerrorMessage(db->conn));
		be_db_close(db);
		return -ENOTCONN;
	}
	rc = be_db_session(db);
	if (rc) {
		be_db_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

/* be_db_close - see be_db.h */
void be_db_close(be_db *db)
{
	if (db == NULL)
		return;
	if (db->conn)
		PQfinish(db->conn);
	el_map_fini(&db->hosts);
	be_db_rejects_forget(db);
	el_map_fini(&db->rej_seen);
	for (int g = 0; g < 2; g++) {
		el_map_fini(&db->keys_seen[g]);
		el_map_fini(&db->addrs_seen[g]);
	}
	free(db->ev_back);
	free(db->line_seq_off);
	el_buf_fini(&db->lines.b);
	el_buf_fini(&db->msg.b);
	el_buf_fini(&db->rcpt.b);
	el_buf_fini(&db->rej.b);
	el_buf_fini(&db->keys.b);
	free(db);
}

/* be_db_reconnect - see be_db.h; the open transaction, if any, is gone */
int be_db_reconnect(be_db *db)
{
	if (db == NULL)
		return -EINVAL;
	/*
	 * Rows buffered inside the lost transaction go with it.  Rows buffered
	 * outside one (flows handed over by be_db_flows_take, lines for a flush
	 * in its own transaction) were never sent: they stay.
	 */
	if (db->in_tx)
		be_db_discard_tx(db);
	if (db->cache_dirty)
		be_db_cache_drop(db);
	db->in_tx = db->own_tx = db->tx_failed = false;
	db->lines_stream = db->copy_open = false;
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		db->lost = true;
		be_db_log_server("reconnect", NULL, PQerrorMessage(db->conn));
		return -ENOTCONN;
	}
	db->lost = false;
	db->st.reconnects++;
	return be_db_session(db);
}

/* be_db_connected - false once the connection is known to be lost */
bool be_db_connected(const be_db *db)
{
	return db && !db->lost && PQstatus(db->conn) == CONNECTION_OK;
}

/* be_db_ready - may a statement run now (reconnecting outside a transaction) */
int be_db_ready(be_db *db)
{
	if (db->lost)
		return db->in_tx ? -ENOTCONN : be_db_reconnect(db);
	if (db->tx_failed)
		return -EIO;
	return 0;
}

/* be_db_end_tx - local state once the transaction is over, either way */
static void be_db_end_tx(be_db *db, bool committed)
{
	if (!committed) {
		/* PostgreSQL undid a SET plan_cache_mode made in the transaction. */
		db->generic = db->generic_at_begin;
		be_db_discard_tx(db);
		if (db->cache_dirty)
			be_db_cache_drop(db);
		/* Staging tables made in this transaction are gone: make sure. */
		db->stage_ready = false;
	}
	db->in_tx = db->own_tx = db->tx_failed = false;
	db->cache_dirty = false;
	db->lines_stream = db->copy_open = false;
}

/* be_db_tx_open - local state of a transaction just begun */
static void be_db_tx_open(be_db *db)
{
	db->in_tx = true;
	db->tx_failed = false;
	db->cache_dirty = false;
	db->generic_at_begin = db->generic;
	db->flows_mark = be_db_flow_rows(db);
}

/* be_db_begin - see be_db.h */
int be_db_begin(be_db *db)
{
	int rc;

	if (db == NULL || db->in_tx)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc)
		return rc;
	rc = be_db_simple(db, "begin", "BEGIN");
	if (rc == -ECONNRESET) {
		/* An idle connection the server dropped (restart): one more try. */
		rc = be_db_reconnect(db);
		if (rc == 0)
			rc = be_db_simple(db, "begin", "BEGIN");
	}
	if (rc)
		return rc;
	be_db_tx_open(db);
	return 0;
}

/* be_db_begin_many - see be_db_int.h */
int be_db_begin_many(be_db *db, const be_db_genq *q, int nq, PGresult **out)
{
	be_db_genq all[BE_DB_PIPE_MAX];
	PGresult *res[BE_DB_PIPE_MAX];
	int rc;

	if (db == NULL || db->in_tx || nq < 0 || nq >= BE_DB_PIPE_MAX)
		return -EINVAL;
	if (nq > 0)
		memset(out, 0, (size_t)nq * sizeof(*out));
	all[0] = (be_db_genq){ 0, "begin", "BEGIN", 0, NULL, NULL, NULL, 0 };
	if (nq > 0)
		memcpy(all + 1, q, (size_t)nq * sizeof(*q));
	for (int attempt = 0;; attempt++) {
		if ((rc = be_db_ready(db)) != 0)
			return rc;
		be_db_tx_open(db); /* a failure in q leaves it open and failed */
		rc = be_db_exec_many(db, all, nq + 1, res);
		if (rc == 0)
			break;
		if (rc != -ECONNRESET)
			return rc;
		be_db_end_tx(db, false);
		/* An idle connection the server dropped (restart): one more try. */
		if (attempt > 0 || (rc = be_db_reconnect(db)) != 0)
			return rc;
	}
	PQclear(res[0]);
	if (nq > 0)
		memcpy(out, res + 1, (size_t)nq * sizeof(*out));
	return 0;
}

/* be_db_commit - flush what is buffered, then COMMIT */
int be_db_commit(be_db *db)
{
	PGresult *res;
	int rc;

	if (db == NULL || !db->in_tx)
		return -EINVAL;
	if (db->lost) {
		be_db_end_tx(db, false);
		return -ENOTCONN;
	}
	rc = db->tx_failed ? -EIO : 0;
	if (rc == 0)
		rc = be_db_lines_flush(db);
	if (rc == 0)
		rc = be_db_flows_flush(db);
	if (rc) {
		be_db_rollback(db);
		return rc;
	}
	res = PQexec(db->conn, "COMMIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = be_db_fail(db, res, "commit");
		be_db_end_tx(db, false);
		return rc;
	}
	/* COMMIT of an aborted transaction succeeds with the tag ROLLBACK. */
	if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
		rc = -EIO;
	PQclear(res);
	be_db_end_tx(db, rc == 0);
	if (rc == 0)
		db->st.commits++;
	else
		db->st.rollbacks++;
	return rc;
}

/* be_db_commit_keep - COMMIT without flushing what is buffered */
int be_db_commit_keep(be_db *db)
{
	int rc;

	if (db->lost) {
		db->in_tx = db->own_tx = db->tx_failed = false;
		return -ENOTCONN;
	}
	rc = db->tx_failed ? -EIO : be_db_simple(db, "commit", "COMMIT");
	if (rc) {
		be_db_rollback(db);
		return rc;
	}
	be_db_end_tx(db, true); /* be_db_simple ended a streamed COPY */
	db->st.commits++;
	return 0;
}

/* be_db_commit_lines - see be_db.h */
int be_db_commit_lines(be_db *db)
{
	return be_db_commit_many(db, NULL, 0, NULL);
}

/* be_db_commit_many - see be_db_int.h */
int be_db_commit_many(be_db *db, const be_db_genq *q, int nq, PGresult **out)
{
	be_db_genq all[BE_DB_PIPE_MAX];
	PGresult *res[BE_DB_PIPE_MAX];
	int rc;

	if (db == NULL || !db->in_tx || nq < 0 || nq >= BE_DB_PIPE_MAX)
		return -EINVAL;
	if (nq > 0)
		memset(out, 0, (size_t)nq * sizeof(*out));
	if (db->lost) {
		be_db_end_tx(db, false);
		return -ENOTCONN;
	}
	rc = db->tx_failed ? -EIO : be_db_lines_flush(db);
	if (rc) {
		be_db_rollback(db);
		return rc;
	}
	if (nq > 0)
		memcpy(all, q, (size_t)nq * sizeof(*q));
	all[nq] = (be_db_genq){ 0, "commit", "COMMIT", 0, NULL, NULL, NULL, 0 };
	rc = be_db_exec_many(db, all, nq + 1, res);
	if (rc) {
		/* A statement failed (COMMIT was skipped: roll back), or the connection. */
		be_db_rollback(db);
		return rc;
	}
	/* COMMIT of an aborted transaction succeeds with the tag ROLLBACK. */
	if (strcmp(PQcmdStatus(res[nq]), "COMMIT") != 0) {
		for (int i = 0; i <= nq; i++)
			PQclear(res[i]);
		be_db_end_tx(db, false);
		db->st.rollbacks++;
		return -EIO;
	}
	PQclear(res[nq]);
	if (nq > 0)
		memcpy(out, res, (size_t)nq * sizeof(*out));
	be_db_end_tx(db, true);
	db->st.commits++;
	return 0;
}

/* be_db_rollback - see be_db.h; a no-op outside a transaction */
int be_db_rollback(be_db *db)
{
	bool was;
	int rc = 0;

	if (db == NULL)
		return -EINVAL;
	was = db->in_tx;
	if (db->copy_open && !db->lost)
		be_db_copy_finish(db, "COPY lines", true);
	be_db_end_tx(db, false);
	if (!was)
		return 0;
	db->st.rollbacks++;
	if (!db->lost)
		rc = be_db_simple(db, "rollback", "ROLLBACK");
	return rc == -ECONNRESET ? 0 : rc;
}

/* be_db_tx_wrap_begin - open a transaction for a flush called outside one */
int be_db_tx_wrap_begin(be_db *db, bool *opened)
{
	int rc;

	*opened = false;
	if (db->in_tx)
		return db->lost ? -ENOTCONN : db->tx_failed ? -EIO : 0;
	rc = be_db_begin(db);
	if (rc == 0) {
		*opened = true;
		db->own_tx = true;
	}
	return rc;
}

/* be_db_tx_wrap_end - close what be_db_tx_wrap_begin opened */
int be_db_tx_wrap_end(be_db *db, bool opened, int rc)
{
	if (!opened)
		return rc;
	if (rc) {
		be_db_rollback(db);
		return rc;
	}
	return be_db_commit(db);
}

/* be_db_get_stats - see be_db.h */
void be_db_get_stats(const be_db *db, be_db_stats *st)
{
	*st = db->st;
}

/* be_db_ping - see be_db.h */
int be_db_ping(const char *conninfo)
{
	if (conninfo == NULL)
		return -EINVAL;
	return PQping(conninfo) == PQPING_OK ? 0 : -ENOTCONN;
}
