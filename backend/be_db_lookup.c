/*
 * be_db_lookup - the small lookups of a batch: host ids (cached), stream
 * bookkeeping (locked row), and event names (cached).  See be_db.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_int.h"
#include "el_log.h"

/* be_db_param_text - a span as a NUL-terminated, valid UTF-8 parameter */
static int be_db_param_text(el_buf *b, el_span s, size_t max)
{
	if (s.len == 0 || s.p == NULL || s.len > max)
		return -EINVAL;
	b->len = 0;
	be_db_text_repair(b, s.p, s.len, 2 * max);
	el_buf_addc(b, '\0');
	return 0;
}

/* be_db_host_id - see be_db.h */
int be_db_host_id(be_db *db, el_span name, int32_t *id)
{
	static const char sel[] = "SELECT id FROM hosts WHERE name = $1";
	PGresult *res = NULL;
	el_buf nb;
	void *v;
	int rc;

	if (db == NULL || id == NULL || name.len == 0 || name.p == NULL)
		return -EINVAL;
	v = el_map_get(&db->hosts, name);
	if (v) {
		*id = (int32_t)(intptr_t)v;
		return 0;
	}
	el_buf_init(&nb);
	rc = be_db_param_text(&nb, name, 255);
	if (rc == 0)
		rc = be_db_ready(db);
	if (rc)
		goto out;
	const char *p[1] = { nb.p };
	rc = be_db_exec(db, "host lookup", sel, 1, p, NULL, NULL, 0, &res);
	if (rc == 0 && PQntuples(res) == 0) {
		PQclear(res);
		rc = be_db_exec(
			db, "host insert",
			"INSERT INTO hosts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING "
			"RETURNING id",
			1, p, NULL, NULL, 0, &res);
		if (rc == 0 && db->in_tx)
			db->cache_dirty = true;
		if (rc == 0 && PQntuples(res) == 0) {
			PQclear(res);
			rc = be_db_exec(db, "host lookup", sel, 1, p, NULL, NULL, 0, &res);
		}
	}
	if (rc)
		goto out;
	if (PQntuples(res) != 1) {
		rc = -EIO;
		goto out;
	}
	*id = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
	el_map_put(&db->hosts, name, (void *)(intptr_t)*id);
out:
	PQclear(res);
	el_buf_fini(&nb);
	return rc;
}

/*
 * A batch's stream row: committed_seq (never backwards), the batch counted,
 * the host's last_seen touched once a minute.  $1 host id, $2 stream, $3 seq;
 * s returns the row updated.
 */
#define BE_DB_STREAM_UPDATE                                                                        \
	"WITH s AS (UPDATE streams SET committed_seq = greatest(committed_seq, $3::bigint), "      \
	"batches = batches + 1, updated_at = now() WHERE host_id = $1 AND stream_id = $2 "         \
	"RETURNING host_id), h AS (UPDATE hosts SET last_seen = now() WHERE id = $1 "              \
	"AND last_seen < now() - interval '1 minute' AND EXISTS (SELECT FROM s)) "

static const char be_db_stream_sel_sql[] = "SELECT no, committed_seq FROM streams "
					   "WHERE host_id = $1 AND stream_id = $2 FOR UPDATE";

/*
 * be_db_stream_lookup - the stream's row, locked; res is the lookup's
 * result when already made (it is freed here), NULL to make it.  A new
 * stream is inserted, then locked: a concurrent first batch of the same
 * stream waits on our insert and then sees our row.
 */
static int be_db_stream_lookup(be_db *db, const char *const p[2], PGresult *res, int32_t *stream_no,
			       uint64_t *committed_seq)
{
	int rc = 0;

	if (res == NULL)
		rc = be_db_exec(db, "stream lookup", be_db_stream_sel_sql, 2, p, NULL, NULL, 0,
				&res);
	if (rc == 0 && PQntuples(res) == 0) {
		PQclear(res);
		res = NULL;
		rc = be_db_exec(db, "stream insert",
				"INSERT INTO streams (host_id, stream_id) VALUES ($1, $2) "
				"ON CONFLICT DO NOTHING",
				2, p, NULL, NULL, 0, NULL);
		if (rc == 0)
			rc = be_db_exec(db, "stream lookup", be_db_stream_sel_sql, 2, p, NULL, NULL,
					0, &res);
	}
	if (rc == 0 && PQntuples(res) != 1)
		rc = -EIO;
	if (rc == 0) {
		if (stream_no)
			*stream_no = (int32_t)strtol(PQgetvalue(res, 0, 0), NULL, 10);
		*committed_seq = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return rc;
}

/* be_db_stream_params - $1, $2 (and $3 if qb) of the stream statements; -EINVAL on a bad name */
static int be_db_stream_params(el_buf *sb, char hb[16], int32_t host_id, el_span stream,
			       char qb[24], uint64_t seq)
{
	snprintf(hb, 16, "%" PRId32, host_id);
	if (qb)
		snprintf(qb, 24, "%" PRIu64, seq);
	return be_db_param_text(sb, stream, 255);
}

/* be_db_stream_get - see be_db.h */
int be_db_stream_get(be_db *db, int32_t host_id, el_span stream, int32_t *stream_no,
		     uint64_t *committed_seq)
{
	char hb[16];
	el_buf sb;
	int rc;

	if (db == NULL || committed_seq == NULL || host_id <= 0 || !db->in_tx)
		return -EINVAL;
	el_buf_init(&sb);
	rc = be_db_stream_params(&sb, hb, host_id, stream, NULL, 0);
	if (rc == 0)
		rc = be_db_ready(db);
	if (rc == 0) {
		const char *p[2] = { hb, sb.p };
		rc = be_db_stream_lookup(db, p, NULL, stream_no, committed_seq);
	}
	el_buf_fini(&sb);
	return rc;
}

/* be_db_stream_begin - see be_db.h */
int be_db_stream_begin(be_db *db, int32_t host_id, el_span stream, uint64_t lines,
		       int32_t *stream_no, uint64_t *committed_seq)
{
	return be_db_stream_begin_at(db, host_id, stream, 0, lines, stream_no, committed_seq);
}

/* be_db_stream_begin_at - see be_db.h; first 0: reserve in the transaction */
int be_db_stream_begin_at(be_db *db, int32_t host_id, el_span stream, uint64_t first,
			  uint64_t lines, int32_t *stream_no, uint64_t *committed_seq)
{
	PGresult *res[2] = { NULL, NULL };
	char hb[16], nb[24];
	el_buf sb;
	int rc;

	if (db == NULL || committed_seq == NULL || host_id <= 0 || db->in_tx || lines > INT32_MAX ||
	    (lines && db->lines.rows) || first > INT64_MAX - lines)
		return -EINVAL;
	bool reserve = lines && first == 0;
	el_buf_init(&sb);
	rc = be_db_stream_params(&sb, hb, host_id, stream, NULL, 0);
	if (rc == 0) {
		const char *p[2] = { hb, sb.p }, *pn[1] = { nb };
		/* Stream row first, then the counter: the lock order of be_db.h. */
		const be_db_genq q[2] = {
			{ 0, "stream lookup", be_db_stream_sel_sql, 2, p, NULL, NULL, 0 },
			{ 0, "reserve ingest_seq",
			  "UPDATE ingest_counter SET last_seq = last_seq + $1 RETURNING last_seq",
			  1, pn, NULL, NULL, 0 },
		};
		snprintf(nb, sizeof(nb), "%" PRIu64, lines);
		rc = be_db_begin_many(db, q, reserve ? 2 : 1, res);
		if (rc == 0 && reserve) {
			uint64_t last = PQntuples(res[1]) == 1
						? strtoull(PQgetvalue(res[1], 0, 0), NULL, 10)
						: 0;
			first = last >= lines ? last - lines + 1 : 0;
			if (first == 0)
				rc = -EIO;
		}
		if (rc == 0 && lines) {
			db->line_seq_next = first;
			db->line_seq_last = first + lines - 1;
			db->lines_stream = true;
		}
		PQclear(res[1]);
		if (rc == 0)
			rc = be_db_stream_lookup(db, p, res[0], stream_no, committed_seq);
		else
			PQclear(res[0]);
	}
	el_buf_fini(&sb);
	return rc;
}

/* be_db_stream_commit - see be_db.h */
int be_db_stream_commit(be_db *db, int32_t host_id, el_span stream, uint64_t committed_seq,
			int64_t *journal_id)
{
	return be_db_stream_commit_j(db, host_id, stream, committed_seq, NULL, journal_id);
}

/* be_db_stream_commit_j - see be_db.h; jc NULL: the journal row from db's own flows */
int be_db_stream_commit_j(be_db *db, int32_t host_id, el_span stream, uint64_t committed_seq,
			  const be_db_jcopy *jc, int64_t *journal_id)
{
	char hb[16], qb[24];
	PGresult *res[2] = { NULL, NULL };
	be_db_jrow j = { .rows = 0 };
	el_buf sb;
	int rc, nq = 0;

	if (db == NULL || host_id <= 0 || committed_seq > INT64_MAX || !db->in_tx)
		return -EINVAL;
	if (journal_id)
		*journal_id = 0;
	el_buf_init(&sb);
	rc = be_db_stream_params(&sb, hb, host_id, stream, qb, committed_seq);
	if (rc == 0 && journal_id && jc)
		be_db_jrow_of(jc, &j);
	else if (rc == 0 && journal_id)
		rc = be_db_jrow_make(db, &j);
	if (rc) {
		be_db_rollback(db);
		goto out;
	}
	const char *p[3] = { hb, sb.p, qb };
	be_db_genq q[2];
	if (j.rows)
		q[nq++] = j.q;
	/*
	 * The row was locked by the lookup in this transaction, so it is there;
	 * were it not, the cast fails and the COMMIT after it does not run.
	 */
	q[nq++] = (be_db_genq){ 0,
				"stream update",
				BE_DB_STREAM_UPDATE
				"SELECT CASE WHEN count(*) = 1 THEN 1 "
				"ELSE ('stream row missing: ' || count(*))::int END FROM s",
				3,
				p,
				NULL,
				NULL,
				0 };
	rc = be_db_commit_many(db, q, nq, res);
	if (rc == 0 && j.rows && jc) {
		/* Committed: only a server gone mad returns no id here. */
		rc = PQntuples(res[0]) == 1 && PQgetlength(res[0], 0, 0) == 8 ? 0 : -EIO;
		if (rc == 0)
			*journal_id = (int64_t)be_db_get_be64(PQgetvalue(res[0], 0, 0));
	} else if (rc == 0 && j.rows) {
		rc = be_db_jrow_done(db, res[0], journal_id);
		res[0] = NULL;
	}
	PQclear(res[0]);
	PQclear(res[1]);
out:
	el_buf_fini(&sb);
	return rc;
}

/* be_db_stream_set - see be_db.h; also touches hosts.last_seen once a minute */
int be_db_stream_set(be_db *db, int32_t host_id, el_span stream, uint64_t committed_seq)
{
	char hb[16], qb[24];
	PGresult *res = NULL;
	el_buf sb;
	int rc;

	if (db == NULL || host_id <= 0 || committed_seq > INT64_MAX)
		return -EINVAL;
	el_buf_init(&sb);
	rc = be_db_stream_params(&sb, hb, host_id, stream, qb, committed_seq);
	if (rc == 0)
		rc = be_db_ready(db);
	if (rc)
		goto out;
	const char *p[3] = { hb, sb.p, qb };
	/*
	 * UPDATE first: an INSERT ... ON CONFLICT would draw a value from the
	 * identity sequence of streams.no on every batch.
	 */
	rc = be_db_exec(db, "stream update", BE_DB_STREAM_UPDATE "SELECT count(*) FROM s", 3, p,
			NULL, NULL, 0, &res);
	if (rc == 0 && strcmp(PQgetvalue(res, 0, 0), "0") == 0)
		rc = be_db_exec(db, "stream insert",
				"INSERT INTO streams (host_id, stream_id, committed_seq, batches) "
				"VALUES ($1, $2, $3, 1) ON CONFLICT (host_id, stream_id) DO UPDATE "
				"SET committed_seq = greatest(streams.committed_seq, "
				"EXCLUDED.committed_seq), batches = streams.batches + 1, "
				"updated_at = now()",
				3, p, NULL, NULL, 0, NULL);
out:
	PQclear(res);
	el_buf_fini(&sb);
	return rc;
}

/* be_db_events_match - fill ev_id/ev_back from SELECT id, name; count misses */
static int be_db_events_match(be_db *db, PGresult *res)
{
	int i, n = PQntuples(res), maxid = 0, missing = 0;

	memset(db->ev_id, 0, sizeof(db->ev_id));
	for (i = 0; i < n; i++) {
		int id = atoi(PQgetvalue(res, i, 0));
		if (id > maxid)
			maxid = id;
	}
	free(db->ev_back);
	db->ev_back = calloc((size_t)maxid + 1, sizeof(*db->ev_back));
	if (db->ev_back == NULL)
		el_panic("be_db: out of memory");
	db->ev_back_n = maxid + 1;
	for (i = 0; i < n; i++) {
		int id = atoi(PQgetvalue(res, i, 0));
		const char *name = PQgetvalue(res, i, 1);
		for (int e = 0; e < EL_EV__COUNT; e++) {
			if (strcmp(el_event_name((el_event)e), name) == 0) {
				db->ev_id[e] = (int16_t)id;
				if (id > 0)
					db->ev_back[id] = (int16_t)(e + 1);
				break;
			}
		}
	}
	for (int e = 0; e < EL_EV__COUNT; e++)
		missing += db->ev_id[e] == 0;
	return missing;
}

/* be_db_events_load - map el_event to event_names ids, adding missing names */
int be_db_events_load(be_db *db)
{
	static const char sel[] = "SELECT id, name FROM event_names";
	PGresult *res = NULL;
	el_buf names;
	int rc;

	rc = be_db_exec(db, "event names", sel, 0, NULL, NULL, NULL, 0, &res);
	if (rc)
		return rc;
	if (be_db_events_match(db, res) == 0)
		goto done;
	PQclear(res);
	res = NULL;
	el_buf_init(&names);
	for (int e = 0; e < EL_EV__COUNT; e++) {
		if (db->ev_id[e])
			continue;
		if (names.len)
			el_buf_addc(&names, ',');
		el_buf_add(&names, el_event_name((el_event)e), strlen(el_event_name((el_event)e)));
	}
	el_buf_addc(&names, '\0');
	const char *p[1] = { names.p };
	/* Only missing names are inserted: each try would use up an identity value. */
	rc = be_db_exec(
		db, "event names",
		"INSERT INTO event_names (name) SELECT x FROM unnest(string_to_array($1, ',')) "
		"AS x WHERE NOT EXISTS (SELECT FROM event_names e WHERE e.name = x) "
		"ON CONFLICT (name) DO NOTHING",
		1, p, NULL, NULL, 0, NULL);
	el_buf_fini(&names);
	if (rc == 0 && db->in_tx)
		db->cache_dirty = true;
	if (rc == 0)
		rc = be_db_exec(db, "event names", sel, 0, NULL, NULL, NULL, 0, &res);
	if (rc)
		return rc;
	if (be_db_events_match(db, res) != 0) {
		PQclear(res);
		return -EIO;
	}
done:
	PQclear(res);
	db->ev_loaded = true;
	return 0;
}
