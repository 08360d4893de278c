/*
 * be_db_state - what the backend reads back at start: the correlation
 * checkpoint, the lines committed after it (replay), and the ingest counter.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_int.h"
#include "el_log.h"

/* be_db_checkpoint_save - see be_db.h */
int be_db_checkpoint_save(be_db *db, uint64_t ingest_seq, const char *state, size_t len)
{
	char sb[24];
	bool opened;
	int rc;

	if (db == NULL || (len && state == NULL) || ingest_seq > INT64_MAX)
		return -EINVAL;
	if (len > ((size_t)1 << 30))
		return -EMSGSIZE;
	rc = be_db_tx_wrap_begin(db, &opened);
	if (rc)
		return rc;
	snprintf(sb, sizeof(sb), "%" PRIu64, ingest_seq);
	/* A NULL value pointer would be SQL NULL: an empty state is "". */
	const char *p[2] = { sb, len ? state : "" };
	const int lens[2] = { 0, (int)len };
	const int fmts[2] = { 0, 1 };
	rc = be_db_exec(db, "checkpoint save",
			"INSERT INTO corr_checkpoint (ingest_seq, state) VALUES ($1, $2)", 2, p,
			lens, fmts, 0, NULL);
	if (rc == 0)
		rc = be_db_exec(db, "checkpoint save",
				"DELETE FROM corr_checkpoint WHERE id < (SELECT min(id) FROM "
				"(SELECT id FROM corr_checkpoint ORDER BY id DESC LIMIT 3) k)",
				0, NULL, NULL, NULL, 0, NULL);
	return be_db_tx_wrap_end(db, opened, rc);
}

/* be_db_checkpoint_load - see be_db.h */
int be_db_checkpoint_load(be_db *db, uint64_t *ingest_seq, el_buf *state)
{
	PGresult *res = NULL;
	int rc;

	if (db == NULL || ingest_seq == NULL || state == NULL)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc == 0)
		rc = be_db_exec(
			db, "checkpoint load",
			"SELECT ingest_seq, state FROM corr_checkpoint ORDER BY id DESC LIMIT 1", 0,
			NULL, NULL, NULL, 1, &res);
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		rc = -ENOENT;
	} else if (PQgetlength(res, 0, 0) != 8) {
		rc = -EIO;
	} else {
		*ingest_seq = be_db_get_be64(PQgetvalue(res, 0, 0));
		el_buf_add(state, PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1));
	}
	PQclear(res);
	return rc;
}

/* be_db_last_ingest_seq - see be_db.h */
int be_db_last_ingest_seq(be_db *db, uint64_t *seq)
{
	PGresult *res = NULL;
	int rc;

	if (db == NULL || seq == NULL)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc == 0)
		rc = be_db_exec(db, "ingest counter", "SELECT last_seq FROM ingest_counter", 0,
				NULL, NULL, NULL, 0, &res);
	if (rc == 0 && PQntuples(res) != 1)
		rc = -EIO;
	if (rc == 0)
		*seq = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

/* be_db_ingest_reserve - see be_db.h */
int be_db_ingest_reserve(be_db *db, uint64_t n, uint64_t *first)
{
	PGresult *res = NULL;
	char nb[24];
	const char *p[1] = { nb };
	uint64_t last = 0;
	int rc;

	if (db == NULL || first == NULL || n == 0 || n > INT32_MAX)
		return -EINVAL;
	snprintf(nb, sizeof(nb), "%" PRIu64, n);
	rc = be_db_ready(db);
	if (rc == 0)
		rc = be_db_exec(
			db, "reserve ingest_seq",
			"UPDATE ingest_counter SET last_seq = last_seq + $1 RETURNING last_seq", 1,
			p, NULL, NULL, 0, &res);
	if (rc == 0 && PQntuples(res) == 1)
		last = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	if (rc == 0 && last < n)
		rc = -EIO;
	if (rc == 0)
		*first = last - n + 1;
	PQclear(res);
	return rc;
}

/* be_db_replay_row - decode row i of a binary FETCH of the replay cursor */
static int be_db_replay_row(const be_db *db, const PGresult *res, int i, be_db_line *l,
			    el_span *host)
{
	static const int want[] = { 8, 4, 4, 8, 8, -2, -2, 2, -1, -2, -2 };
	const unsigned char *e;
	int ev;

	if (PQnfields(res) != 11)
		return -EIO;
	for (int f = 0; f < 11; f++) {
		bool null = PQgetisnull(res, i, f);
		if (want[f] >= 0 && (null || PQgetlength(res, i, f) != want[f]))
			return -EIO;
		if (want[f] == -1 && !null && PQgetlength(res, i, f) != 4)
			return -EIO;
	}
	memset(l, 0, sizeof(*l));
	l->ts_us = (int64_t)be_db_get_be64(PQgetvalue(res, i, 0)) + BE_DB_PG_EPOCH_US;
	l->host_id = (int32_t)be_db_get_be32(PQgetvalue(res, i, 1));
	l->stream_no = (int32_t)be_db_get_be32(PQgetvalue(res, i, 2));
	l->seq = be_db_get_be64(PQgetvalue(res, i, 3));
	l->ingest_seq = be_db_get_be64(PQgetvalue(res, i, 4));
	if (!PQgetisnull(res, i, 5))
		l->program = el_span_make(PQgetvalue(res, i, 5), (size_t)PQgetlength(res, i, 5));
	if (!PQgetisnull(res, i, 6))
		l->queue_id = el_span_make(PQgetvalue(res, i, 6), (size_t)PQgetlength(res, i, 6));
	e = (const unsigned char *)PQgetvalue(res, i, 7);
	ev = (int16_t)(e[0] << 8 | e[1]);
	l->event = ev > 0 && ev < db->ev_back_n && db->ev_back[ev] ? (int16_t)(db->ev_back[ev] - 1)
								   : (int16_t)EL_EV_UNPARSED;
	if (!PQgetisnull(res, i, 8))
		l->pid = (int32_t)be_db_get_be32(PQgetvalue(res, i, 8));
	l->raw = el_span_make(PQgetvalue(res, i, 9), (size_t)PQgetlength(res, i, 9));
	*host = el_span_make(PQgetvalue(res, i, 10), (size_t)PQgetlength(res, i, 10));
	return 0;
}

/*
 * be_db_replay - see be_db.h.  A cursor in a transaction of its own, read
 * BE_DB_REPLAY_FETCH rows at a time: memory stays bounded, and between two
 * FETCHes the connection is free, so the callback may feed the correlation
 * engine, whose flows reach be_db_flow_tx (which may look up a host).  The
 * transaction commits without flushing: flows buffered meanwhile stay
 * pending for the caller.
 */
#define BE_DB_REPLAY_FETCH 2000
int be_db_replay(be_db *db, uint64_t after,
		 int (*cb)(void *arg, const be_db_line *l, el_span host_name), void *arg,
		 uint64_t *count)
{
	static const char decl[] =
		"DECLARE else_replay NO SCROLL CURSOR FOR "
		"SELECT l.ts, l.host_id, l.stream_no, l.seq, l.ingest_seq, l.program, l.queue_id, "
		"l.event, l.pid, l.raw, h.name FROM lines l JOIN hosts h ON h.id = l.host_id "
		"WHERE l.ingest_seq > $1 ORDER BY l.ingest_seq";
	char ab[24], fetch[64];
	PGresult *res = NULL;
	uint64_t n = 0;
	int rc, rows;

	if (count)
		*count = 0;
	if (db == NULL || cb == NULL || db->in_tx || after > INT64_MAX)
		return -EINVAL;
	rc = be_db_ready(db);
	if (rc == 0 && !db->ev_loaded)
		rc = be_db_events_load(db);
	if (rc == 0)
		rc = be_db_begin(db);
	if (rc)
		return rc;
	snprintf(ab, sizeof(ab), "%" PRIu64, after);
	snprintf(fetch, sizeof(fetch), "FETCH %d FROM else_replay", BE_DB_REPLAY_FETCH);
	const char *p[1] = { ab };
	rc = be_db_exec(db, "replay", decl, 1, p, NULL, NULL, 0, NULL);
	do {
		if (rc == 0)
			rc = be_db_exec(db, "replay", fetch, 0, NULL, NULL, NULL, 1, &res);
		if (rc)
			break;
		rows = PQntuples(res);
		if (getenv("ELSE_TRACE_REPLAY"))
			el_info("trace: replay fetch after %llu: %d rows",
				(unsigned long long)after, rows);
		for (int i = 0; i < rows && rc == 0; i++) {
			be_db_line l;
			el_span host;
			rc = be_db_replay_row(db, res, i, &l, &host);
			if (rc == 0) {
				rc = cb(arg, &l, host);
				n++;
				if (rc > 0)
					rc = -ECANCELED;
			}
		}
		PQclear(res);
		res = NULL;
	} while (rc == 0 && rows == BE_DB_REPLAY_FETCH);
	if (count)
		*count = n;
	if (rc == 0)
		rc = be_db_commit_keep(db); /* host rows made meanwhile; closes the cursor */
	else
		be_db_rollback(db);
	return rc;
}
