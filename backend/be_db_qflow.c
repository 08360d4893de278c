/*
 * be_db_qflow - the flow view of one e-mail (every transaction on every
 * host, its recipients, raw lines and rejects) in two round trips, and the
 * warm-up of the query service's fixed statements.  See be_db_query.h; the
 * scope parameters are those of be_db_query.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_qint.h"

/*
 * The raw lines of one transaction ($1 host id, $2 queue ID) between $3 and
 * $4 (microseconds).  convert_from would fail on invalid UTF-8: bytes >=
 * 0x80 show as Latin-1 then (else_raw_text).
 */
/* clang-format off */
static const char be_dbq_flow_lines_sql[] =
	"SELECT " BE_DBQ_US("l.ts") " AS time_us, h.name AS host, "
	"coalesce(l.program, '') AS program, "
	"coalesce(else_raw_text(substring(l.raw FROM 1 FOR 65536)), '') AS text "
	"FROM lines l JOIN hosts h ON h.id = l.host_id "
	"WHERE l.host_id = $1::integer AND l.queue_id = $2 "
	"AND l.ts >= " BE_DBQ_TS("$3") " AND l.ts <= " BE_DBQ_TS("$4") " "
	"ORDER BY l.ts, l.ingest_seq LIMIT 1000";
/* clang-format on */

/*
 * The recipients of one transaction ($5 host id, $6 queue ID, $7 first_seen):
 * a mailbox user ($1 = 3) gets their own, unless they sent it.
 */
/* clang-format off */
static const char be_dbq_flow_rcpt_sql[] =
	"SELECT r.rcpt, coalesce(r.orig_rcpt, ''), r.status, coalesce(r.dsn, ''), "
	"coalesce(r.relay_host, ''), coalesce(r.relay_ip, ''), "
	"coalesce(r.response, ''), r.attempts, "
	"coalesce(" BE_DBQ_US("r.last_attempt") ", 0), coalesce(r.delay, 0), "
	"else_direction(r.status, r.relay_host, r.relay_ip, r.next_host_id), "
	"coalesce(nh.name, ''), coalesce(r.next_queue_id, '') "
	"FROM recipients r JOIN messages m ON m.first_seen = r.first_seen "
	"AND m.host_id = r.host_id AND m.queue_id = r.queue_id "
	"AND m.first_seen = " BE_DBQ_TS("$7") " "
	"LEFT JOIN hosts nh ON nh.id = r.next_host_id "
	"WHERE r.first_seen = " BE_DBQ_TS("$7") " AND r.host_id = $5::integer "
	"AND r.queue_id = $6 "
	"AND ($1::integer <> 3 OR lower(m.sender) = ANY ($4::text[]) "
	"OR lower(r.rcpt) = ANY ($4::text[]) OR lower(r.orig_rcpt) = ANY ($4::text[])) "
	"AND $2::integer[] IS NOT NULL AND $3::text[] IS NOT NULL "
	"ORDER BY r.idx LIMIT 10000";

/* The rejects of e-mail $5, visible to the caller row by row. */
static const char be_dbq_flow_rej_sql[] =
	"SELECT " BE_DBQ_REJ_COLS " FROM rejects j JOIN hosts h ON h.id = "
	"j.host_id WHERE j.email_id = $5::bigint AND else_reject_visible(" BE_DBQ_SCOPE
	", j.host_id, j.sender, j.rcpt) ORDER BY j.ts LIMIT 1000";
/* clang-format on */

/* clang-format off */
/* The e-mail of host $5's queue ID $6: the lifetime nearest $7 (newest if 0). */
static const char be_dbq_flow_qid_sql[] =
	"SELECT m.email_id FROM email_keys k JOIN messages m ON m.email_id = k.email_id "
	"AND m.queue_id = k.key "
	"AND m.first_seen >= " BE_DBQ_DAY_LO("k.day") " "
	"AND m.first_seen < " BE_DBQ_DAY_HI("k.day") " "
	"JOIN hosts h ON h.id = m.host_id AND h.name = $5 "
	"WHERE k.kind = 2 AND k.key = $6 AND " BE_DBQ_VISIBLE("m.email_id") " "
	"ORDER BY CASE WHEN $7::bigint = 0 THEN -" BE_DBQ_US("m.first_seen") " "
	"ELSE abs(" BE_DBQ_US("m.first_seen") " - $7::bigint) END LIMIT 1";

/*
 * Every transaction of e-mail $5, if the caller may see it at all: a
 * MessageRow, then (BE_DBQ_FLOW_*) the hop links, HELO, actions, whether
 * the caller sent it, and the time range of its raw lines: exactly first_seen
 * to last_seen, the times of the first and last lines the correlator gave
 * it.  A line with the same queue ID outside them is another transaction's
 * (Postfix reuses queue IDs; instances on one host share a host id).
 *
 * The recipients' columns of the MessageRow are filled in from the recipients
 * each transaction's own statement reads (be_dbq_flow_summary): without
 * their subqueries, the statement's generic plan holds no recipients
 * partition to lock and start at every call.
 *
 * Messages are read per day of d (LATERAL, OFFSET 0 keeps it from being
 * flattened into a join): the generic plan then prunes to that day's
 * partition at each probe.  As a join it probed the e-mail id index of
 * every day kept (40 index descents, 140 buffers; when cold, 40 reads).
 * The day's bounds come computed from d (see be_db_q_quick).
 */
static const char be_dbq_flow_sql[] =
	"WITH d AS (SELECT DISTINCT day, " BE_DBQ_DAY_LO("day") " AS lo, "
	BE_DBQ_DAY_HI("day") " AS hi FROM email_keys WHERE kind = 3 AND "
	"key = lpad(to_hex($5::bigint), 16, '0') AND email_id = $5::bigint), "
	"v AS (SELECT " BE_DBQ_VISIBLE("$5::bigint") " AS ok) "
	"SELECT " BE_DBQ_ROW_COLS_BARE ", m.host_id, coalesce(ph.name, ''), "
	"coalesce(m.prev_queue_id, ''), coalesce(dh.name, ''), "
	"coalesce(m.dsn_of_queue_id, ''), coalesce(m.helo, ''), "
	"coalesce(m.actions::text, ''), m.incomplete, "
	"(m.sender <> '' AND lower(m.sender) = ANY ($4::text[])), "
	BE_DBQ_US("m.first_seen") ", " BE_DBQ_US("m.last_seen") " "
	"FROM d CROSS JOIN LATERAL (SELECT * FROM messages m0 WHERE m0.email_id = $5::bigint "
	"AND m0.first_seen >= d.lo AND m0.first_seen < d.hi OFFSET 0) m "
	"JOIN hosts h ON h.id = m.host_id LEFT JOIN hosts ph ON ph.id = m.prev_host_id "
	"LEFT JOIN hosts dh ON dh.id = m.dsn_of_host_id CROSS JOIN v WHERE v.ok "
	"ORDER BY m.first_seen, m.host_id, m.queue_id LIMIT " BE_DBQ_XSTR(BE_DB_Q_FLOW_MAX_HOPS);
/* clang-format on */

/* Columns of be_dbq_flow_sql after the MessageRow's. */
enum {
	BE_DBQ_FLOW_HOST_ID = BE_DBQ_ROW_NCOLS,
	BE_DBQ_FLOW_PREV_HOST,
	BE_DBQ_FLOW_PREV_QID,
	BE_DBQ_FLOW_DSN_HOST,
	BE_DBQ_FLOW_DSN_QID,
	BE_DBQ_FLOW_HELO,
	BE_DBQ_FLOW_ACTIONS,
	BE_DBQ_FLOW_INCOMPLETE,
	BE_DBQ_FLOW_OWN_SENDER,
	BE_DBQ_FLOW_LINES_FROM,
	BE_DBQ_FLOW_LINES_TO
};

/* be_dbq_gen_many - fixed reads in one round trip (be_db_exec_gen_many) */
static int be_dbq_gen_many(be_db *db, const be_db_genq *q, int nq, PGresult **out)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec_gen_many(db, q, nq, out);
}

/* be_dbq_recipients - the RecipientRows of rr into t */
static void be_dbq_recipients(el_arena *a, const PGresult *rr, Else__Transaction *t)
{
	int nr = PQntuples(rr);

	t->n_recipients = (size_t)nr;
	t->recipients = el_arena_alloc(a, ((size_t)nr + 1) * sizeof(*t->recipients));
	for (int j = 0; j < nr; j++) {
		Else__RecipientRow *x = el_arena_alloc(a, sizeof(*x));
		else__recipient_row__init(x);
		x->rcpt = be_dbq_str(a, rr, j, 0);
		x->orig_rcpt = be_dbq_str(a, rr, j, 1);
		x->status = be_dbq_str(a, rr, j, 2);
		x->dsn = be_dbq_str(a, rr, j, 3);
		x->relay_host = be_dbq_str(a, rr, j, 4);
		x->relay_ip = be_dbq_str(a, rr, j, 5);
		x->response = be_dbq_str(a, rr, j, 6);
		x->attempts = (uint32_t)be_dbq_i64(rr, j, 7);
		x->last_attempt_us = be_dbq_i64(rr, j, 8);
		x->delay = be_dbq_f64(rr, j, 9);
		x->direction = be_dbq_str(a, rr, j, 10);
		x->next_host = be_dbq_str(a, rr, j, 11);
		x->next_queue_id = be_dbq_str(a, rr, j, 12);
		t->recipients[j] = x;
	}
}

/*
 * be_dbq_flow_summary - the recipients' columns of t's MessageRow, which
 * BE_DBQ_ROW_COLS computes in SQL, from t's recipients (the same rows under
 * the same rule, in the same order): the first BE_DBQ_ROW_RCPTS and, for a
 * mailbox user who did not send it (count), how many they see.
 */
static void be_dbq_flow_summary(el_arena *a, Else__Transaction *t, bool count)
{
	Else__MessageRow *m = t->msg;
	size_t n = t->n_recipients < BE_DBQ_ROW_RCPTS ? t->n_recipients : BE_DBQ_ROW_RCPTS;

	m->recipients = el_arena_alloc(a, (n + 1) * sizeof(*m->recipients));
	for (size_t j = 0; j < n; j++)
		m->recipients[j] = t->recipients[j]->rcpt;
	m->n_recipients = n;
	if (count)
		m->nrcpt = (uint32_t)t->n_recipients;
}

/* Transactions whose recipients and lines are read in one round trip. */
#define BE_DBQ_HOPS_AT_ONCE (BE_DB_PIPE_MAX / 2)

/*
 * be_dbq_flow_hops - the recipients and raw lines of transactions [from,
 * to) (rows of r, at most BE_DBQ_HOPS_AT_ONCE) into out->hops, in one round
 * trip.  Raw lines name every recipient: a mailbox user gets them only as
 * the sender.  p: the scope parameters.
 */
static int be_dbq_flow_hops(be_db *db, el_arena *a, const be_db_scope *sc, const char *const *p,
			    const PGresult *r, int from, int to, Else__FlowReply *out)
{
	be_db_genq q[BE_DB_PIPE_MAX];
	PGresult *res[BE_DB_PIPE_MAX];
	const char *rp[BE_DBQ_HOPS_AT_ONCE][7], *lp[BE_DBQ_HOPS_AT_ONCE][4];
	bool lines[BE_DBQ_HOPS_AT_ONCE];
	int nq = 0, k = 0, rc;

	for (int i = from; i < to; i++) {
		const char *hid = PQgetvalue(r, i, BE_DBQ_FLOW_HOST_ID);
		const char *qid = PQgetvalue(r, i, 2), *first = PQgetvalue(r, i, 3);
		int h = i - from;

		memcpy(rp[h], (const char *[7]){ p[0], p[1], p[2], p[3], hid, qid, first },
		       sizeof(rp[h]));
		q[nq++] = (be_db_genq){ .slot = BE_DBQ_G_FLOW_RCPT,
					.what = "flow recipients",
					.sql = be_dbq_flow_rcpt_sql,
					.n = 7,
					.vals = rp[h] };
		lines[h] = sc->role != ELSE__ROLE__ROLE_MAILBOX ||
			   be_dbq_bool(r, i, BE_DBQ_FLOW_OWN_SENDER);
		if (!lines[h])
			continue;
		memcpy(lp[h],
		       (const char *[4]){ hid, qid, PQgetvalue(r, i, BE_DBQ_FLOW_LINES_FROM),
					  PQgetvalue(r, i, BE_DBQ_FLOW_LINES_TO) },
		       sizeof(lp[h]));
		q[nq++] = (be_db_genq){ .slot = BE_DBQ_G_LINES,
					.what = "flow lines",
					.sql = be_dbq_flow_lines_sql,
					.n = 4,
					.vals = lp[h] };
	}
	if ((rc = be_dbq_gen_many(db, q, nq, res)) != 0)
		return rc;
	for (int i = from; i < to; i++) {
		Else__Transaction *t = out->hops[i];

		be_dbq_recipients(a, res[k++], t);
		be_dbq_flow_summary(a, t,
				    sc->role == ELSE__ROLE__ROLE_MAILBOX &&
					    !be_dbq_bool(r, i, BE_DBQ_FLOW_OWN_SENDER));
		if (lines[i - from])
			t->n_lines = be_dbq_fill(a, res[k++], &else__raw_line__descriptor,
						 (void ***)&t->lines);
	}
	for (k = 0; k < nq; k++)
		PQclear(res[k]);
	return 0;
}

/* be_dbq_is_hop - is t the transaction host/queue_id */
static bool be_dbq_is_hop(const Else__Transaction *t, const char *host, const char *queue_id)
{
	return host[0] && strcmp(t->msg->host, host) == 0 &&
	       strcmp(t->msg->queue_id, queue_id) == 0;
}

/* be_dbq_origin - the index in in[0..n) of the transaction host/queue_id, -1 if none */
static int be_dbq_origin(Else__Transaction *const *in, size_t n, size_t self, const char *host,
			 const char *queue_id)
{
	for (size_t j = 0; j < n; j++)
		if (j != self && be_dbq_is_hop(in[j], host, queue_id))
			return (int)j;
	return -1;
}

/* be_db_q_flow_order - see be_db_query.h */
void be_db_q_flow_order(Else__Transaction **hops, size_t n)
{
	Else__Transaction *in[BE_DB_Q_FLOW_MAX_HOPS];
	int from[BE_DB_Q_FLOW_MAX_HOPS][2]; /* the hop it came from, the one it bounces */
	bool done[BE_DB_Q_FLOW_MAX_HOPS] = { false };

	if (n < 2 || n > BE_DB_Q_FLOW_MAX_HOPS)
		return;
	memcpy(in, hops, n * sizeof(*in));
	for (size_t i = 0; i < n; i++) {
		from[i][0] = be_dbq_origin(in, n, i, in[i]->prev_host, in[i]->prev_queue_id);
		from[i][1] = be_dbq_origin(in, n, i, in[i]->dsn_of_host, in[i]->dsn_of_queue_id);
	}
	/* Each place takes the earliest hop whose origins are placed. */
	for (size_t k = 0; k < n; k++) {
		size_t pick = n;

		for (size_t i = 0; i < n && pick == n; i++)
			if (!done[i] && (from[i][0] < 0 || done[from[i][0]]) &&
			    (from[i][1] < 0 || done[from[i][1]]))
				pick = i;
		if (pick == n) {
			/*
			 * None: every hop left waits for another hop left.  n steps
			 * back along those links from the earliest end inside a loop.
			 */
			for (pick = 0; done[pick]; pick++)
				;
			for (size_t step = 0; step < n; step++)
				pick = (size_t)(from[pick][0] >= 0 && !done[from[pick][0]]
							? from[pick][0]
							: from[pick][1]);
		}
		done[pick] = true;
		hops[k] = in[pick];
	}
}

/*
 * be_db_q_flow - see be_db_query.h.  Two round trips: the transactions with
 * the rejects, then every transaction's recipients and lines.
 */
int be_db_q_flow(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Flow *f,
		 Else__FlowReply *out)
{
	char role[8], eidb[24], around[24];
	const char *p[7];
	PGresult *r = NULL, *res[2];
	int64_t eid = 0;
	int rc, n;

	be_dbq_scope_params(sc, role, p);
	if (f->email_id && f->email_id[0]) {
		if (be_dbq_parse_eid(f->email_id, &eid) != 0)
			return -ENOENT;
	} else {
		snprintf(around, sizeof(around), "%" PRId64, f->around_us);
		p[4] = f->host;
		p[5] = f->queue_id;
		p[6] = around;
		rc = be_dbq_gen(db, BE_DBQ_G_FLOW_QID, "flow", be_dbq_flow_qid_sql, 7, p, &r);
		if (rc)
			return rc;
		if (PQntuples(r) != 1) {
			PQclear(r);
			return -ENOENT;
		}
		eid = be_dbq_i64(r, 0, 0);
		PQclear(r);
	}
	snprintf(eidb, sizeof(eidb), "%" PRId64, eid);
	p[4] = eidb;
	rc = be_dbq_gen_many(db,
			     (const be_db_genq[2]){
				     { .slot = BE_DBQ_G_FLOW,
				       .what = "flow",
				       .sql = be_dbq_flow_sql,
				       .n = 5,
				       .vals = p },
				     /* Rejects of this e-mail, visible to the caller row by row. */
				     { .slot = BE_DBQ_G_FLOW_REJ,
				       .what = "flow rejects",
				       .sql = be_dbq_flow_rej_sql,
				       .n = 5,
				       .vals = p },
			     },
			     2, res);
	if (rc)
		return rc;
	r = res[0];
	n = PQntuples(r);
	if (n == 0) {
		PQclear(r);
		PQclear(res[1]);
		return -ENOENT; /* none, or not the caller's: the same answer */
	}
	out->email_id = be_dbq_str(a, r, 0, 0);
	out->n_hops = (size_t)n;
	out->hops = el_arena_alloc(a, ((size_t)n + 1) * sizeof(*out->hops));
	for (int i = 0; i < n; i++) {
		Else__Transaction *t = el_arena_alloc(a, sizeof(*t));

		else__transaction__init(t);
		out->hops[i] = t;
		t->msg = be_dbq_row(a, r, i, 0);
		t->prev_host = be_dbq_str(a, r, i, BE_DBQ_FLOW_PREV_HOST);
		t->prev_queue_id = be_dbq_str(a, r, i, BE_DBQ_FLOW_PREV_QID);
		t->dsn_of_host = be_dbq_str(a, r, i, BE_DBQ_FLOW_DSN_HOST);
		t->dsn_of_queue_id = be_dbq_str(a, r, i, BE_DBQ_FLOW_DSN_QID);
		t->helo = be_dbq_str(a, r, i, BE_DBQ_FLOW_HELO);
		/*
		 * The actions' texts quote recipients (a RCPT-stage HOLD or
		 * reject names its address, a header check its To: or Cc:): a
		 * mailbox user who did not send the message sees none of them,
		 * as they see no raw line of it.
		 */
		t->actions_json = sc->role != ELSE__ROLE__ROLE_MAILBOX ||
						  be_dbq_bool(r, i, BE_DBQ_FLOW_OWN_SENDER)
					  ? be_dbq_str(a, r, i, BE_DBQ_FLOW_ACTIONS)
					  : el_arena_strdup(a, "");
		t->incomplete = (uint32_t)be_dbq_i64(r, i, BE_DBQ_FLOW_INCOMPLETE);
	}
	for (int i = 0; i < n && rc == 0; i += BE_DBQ_HOPS_AT_ONCE)
		rc = be_dbq_flow_hops(db, a, sc, p, r, i,
				      n - i < BE_DBQ_HOPS_AT_ONCE ? n : i + BE_DBQ_HOPS_AT_ONCE,
				      out);
	PQclear(r);
	if (rc == 0) {
		be_db_q_flow_order(out->hops, out->n_hops);
		n = PQntuples(res[1]);
		out->n_rejects = (size_t)n;
		out->rejects = el_arena_alloc(a, ((size_t)n + 1) * sizeof(*out->rejects));
		for (int i = 0; i < n; i++)
			out->rejects[i] = be_dbq_reject_row(a, res[1], i);
	}
	PQclear(res[1]);
	return rc;
}

/* be_db_q_warm - see be_db_query.h */
int be_db_q_warm(be_db *db)
{
	static const be_db_scope admin = { .role = 1 };
	Else__SearchReply sr = ELSE__SEARCH_REPLY__INIT;
	Else__FlowReply fr = ELSE__FLOW_REPLY__INIT;
	Else__Flow f = ELSE__FLOW__INIT;
	el_arena a;
	int rc;

	el_arena_init(&a);
	f.email_id = "0000000000000000";
	rc = be_db_q_quick(db, &a, &admin, "", 1, &sr);
	if (rc == 0)
		rc = be_db_q_flow(db, &a, &admin, &f, &fr);
	/* What a flow runs per transaction found. */
	const char *p[7] = { "1", "{}", "{}", "{}", "0", "", "0" }, *l[4] = { "0", "", "0", "0" };
	PGresult *r[2];
	if ((rc == 0 || rc == -ENOENT) &&
	    (rc = be_dbq_gen_many(db,
				  (const be_db_genq[2]){
					  { .slot = BE_DBQ_G_FLOW_RCPT,
					    .what = "flow recipients",
					    .sql = be_dbq_flow_rcpt_sql,
					    .n = 7,
					    .vals = p },
					  { .slot = BE_DBQ_G_LINES,
					    .what = "flow lines",
					    .sql = be_dbq_flow_lines_sql,
					    .n = 4,
					    .vals = l },
				  },
				  2, r)) == 0) {
		PQclear(r[0]);
		PQclear(r[1]);
	}
	el_arena_fini(&a);
	return rc;
}
