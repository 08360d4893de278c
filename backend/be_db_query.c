/*
 * be_db_query - the query service's reads of mail data, every one filtered
 * by the caller's scope in SQL (sql/003_users.sql else_visible).  See
 * be_db_query.h.
 *
 * Parameters $1..$4 of every statement are the scope (role, hosts, domains,
 * addresses).  Statements are made of constant fragments chosen by which
 * search fields are set; every value is a parameter.  Following STACK-NOTES:
 * key lookups go through email_keys (one partition instead of all), time
 * bounds are repeated on both sides of joins, and the newest N are taken from
 * the indexed table before joining.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_qint.h"
#include "el_log.h"

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
#define BE_DBQ_ROW_COLS                                                                            \
	"lpad(to_hex(m.email_id), 16, '0'), h.name, m.queue_id, "                                  \
	"(extract(epoch FROM m.first_seen) * 1000000)::bigint, "                                   \
	"(extract(epoch FROM m.last_seen) * 1000000)::bigint, m.status, m.sender, "                \
	"(SELECT string_agg(octet_length(x.rcpt) || ':' || x.rcpt, '' ORDER BY x.idx) FROM "       \
	"(SELECT r.rcpt, r.idx FROM recipients r WHERE r.first_seen = m.first_seen "               \
	"AND r.host_id = m.host_id AND r.queue_id = m.queue_id AND " BE_DBQ_OWN_RCPT               \
	" ORDER BY r.idx LIMIT 20) x), "                                                           \
	"CASE WHEN $1::integer = 3 AND NOT coalesce(lower(m.sender) = ANY ($4::text[]), false) "   \
	"THEN "                                                                                    \
	"(SELECT count(*) FROM recipients r WHERE r.first_seen = m.first_seen "                    \
	"AND r.host_id = m.host_id AND r.queue_id = m.queue_id AND " BE_DBQ_OWN_RCPT               \
	")::integer ELSE m.nrcpt END, m.size, m.message_id, m.client_host, m.client_ip, "          \
	"m.sasl_username"
#define BE_DBQ_ROW_NCOLS 14

/* be_dbq_netstrings - see be_db_qint.h */
size_t be_dbq_netstrings(el_arena *a, const char *s, size_t len, char ***out, size_t max)
{
	size_t n = 0, pos = 0, cap = 0;

	/* Count first: the array is sized once. */
	for (int pass = 0; pass < 2; pass++) {
		n = 0;
		pos = 0;
		while (pos < len && n < max) {
			size_t l = 0, d = 0;
			while (pos + d < len && s[pos + d] >= '0' && s[pos + d] <= '9' && d < 10)
				l = l * 10 + (size_t)(s[pos + d++] - '0');
			if (d == 0 || pos + d >= len || s[pos + d] != ':' || l > len - pos - d - 1)
				break; /* not what the query makes: stop, never read past */
			if (pass == 1)
				(*out)[n] = el_arena_strndup(a, s + pos + d + 1, l);
			n++;
			pos += d + 1 + l;
		}
		if (pass == 0) {
			cap = n;
			*out = el_arena_alloc(a, (cap + 1) * sizeof(char *));
		}
	}
	return n;
}

/* be_dbq_fill - see be_db_qint.h */
size_t be_dbq_fill(el_arena *a, const PGresult *r, const ProtobufCMessageDescriptor *d, void ***out)
{
	const ProtobufCFieldDescriptor *f[64];
	size_t n = (size_t)PQntuples(r);
	int nc = PQnfields(r);

	if (nc > 64)
		el_panic("be_dbq_fill: %d columns", nc);
	for (int c = 0; c < nc; c++) {
		f[c] = protobuf_c_message_descriptor_get_field_by_name(d, PQfname(r, c));
		if (f[c] && f[c]->label == PROTOBUF_C_LABEL_REPEATED)
			f[c] = NULL;
	}
	*out = el_arena_alloc(a, (n + 1) * sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		ProtobufCMessage *m = el_arena_alloc(a, d->sizeof_message);
		protobuf_c_message_init(d, m);
		for (int c = 0; c < nc; c++) {
			char *p = f[c] ? (char *)m + f[c]->offset : NULL;
			int row = (int)i;
			if (p == NULL)
				continue;
			switch (f[c]->type) {
			case PROTOBUF_C_TYPE_STRING:
				*(char **)p = be_dbq_str(a, r, row, c);
				break;
			case PROTOBUF_C_TYPE_INT64:
			case PROTOBUF_C_TYPE_UINT64:
				*(int64_t *)p = be_dbq_i64(r, row, c);
				break;
			case PROTOBUF_C_TYPE_INT32:
			case PROTOBUF_C_TYPE_UINT32:
			case PROTOBUF_C_TYPE_ENUM:
				*(int32_t *)p = (int32_t)be_dbq_i64(r, row, c);
				break;
			case PROTOBUF_C_TYPE_BOOL:
				*(protobuf_c_boolean *)p = be_dbq_bool(r, row, c);
				break;
			case PROTOBUF_C_TYPE_DOUBLE:
				*(double *)p = be_dbq_f64(r, row, c);
				break;
			default:
				el_panic("be_dbq_fill: field %s of an unhandled type", f[c]->name);
			}
		}
		(*out)[i] = m;
	}
	return n;
}

/* be_dbq_scope_params - see be_db_qint.h */
void be_dbq_scope_params(const be_db_scope *sc, char rolebuf[8], const char **p)
{
	snprintf(rolebuf, 8, "%d", sc->role);
	p[0] = rolebuf;
	p[1] = sc->hosts && sc->hosts[0] ? sc->hosts : "{}";
	p[2] = sc->domains && sc->domains[0] ? sc->domains : "{}";
	p[3] = sc->addrs && sc->addrs[0] ? sc->addrs : "{}";
}

/* be_dbq_exec - run a read */
static int be_dbq_exec(be_db *db, const char *what, const char *sql, int n, const char *const *p,
		       PGresult **res)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec(db, what, sql, n, p, NULL, NULL, 0, res);
}

/* be_dbq_gen - run a fixed read with a generic plan (be_db_exec_gen) */
static int be_dbq_gen(be_db *db, int slot, const char *what, const char *sql, int n,
		      const char *const *p, PGresult **res)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec_gen(db, slot, what, sql, n, p, NULL, NULL, res);
}

/* be_dbq_row - a MessageRow from columns c..c+BE_DBQ_ROW_NCOLS of row i */
static Else__MessageRow *be_dbq_row(el_arena *a, const PGresult *r, int i, int c)
{
	Else__MessageRow *m = el_arena_alloc(a, sizeof(*m));

	else__message_row__init(m);
	m->email_id = be_dbq_str(a, r, i, c + 0);
	m->host = be_dbq_str(a, r, i, c + 1);
	m->queue_id = be_dbq_str(a, r, i, c + 2);
	m->first_seen_us = be_dbq_i64(r, i, c + 3);
	m->last_seen_us = be_dbq_i64(r, i, c + 4);
	m->status = be_dbq_str(a, r, i, c + 5);
	m->sender = be_dbq_str(a, r, i, c + 6);
	m->n_recipients = be_dbq_netstrings(a, PQgetvalue(r, i, c + 7),
					    (size_t)PQgetlength(r, i, c + 7), &m->recipients, 20);
	m->nrcpt = (uint32_t)be_dbq_i64(r, i, c + 8);
	m->size = be_dbq_i64(r, i, c + 9);
	m->message_id = be_dbq_str(a, r, i, c + 10);
	m->client_host = be_dbq_str(a, r, i, c + 11);
	m->client_ip = be_dbq_str(a, r, i, c + 12);
	m->sasl_username = be_dbq_str(a, r, i, c + 13);
	m->subject = el_arena_strdup(a, "");
	return m;
}

/* be_dbq_rows - every row of r as MessageRows from column c, at most max */
static size_t be_dbq_rows(el_arena *a, const PGresult *r, int c, size_t max,
			  Else__MessageRow ***out)
{
	size_t n = (size_t)PQntuples(r);

	if (n > max)
		n = max;
	*out = el_arena_alloc(a, (n + 1) * sizeof(**out));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = be_dbq_row(a, r, (int)i, c);
	return n;
}

/* be_db_q_quick - see be_db_query.h */
int be_db_q_quick(be_db *db, el_arena *a, const be_db_scope *sc, const char *q, uint32_t limit,
		  Else__SearchReply *out)
{
	char role[8], lim[16];
	const char *p[6];
	PGresult *r;
	int rc;

	be_dbq_scope_params(sc, role, p);
	p[4] = q;
	/* One row over the limit tells that there were more (truncated). */
	snprintf(lim, sizeof(lim), "%u", limit + 1);
	p[5] = lim;
	/*
	 * The key finds the e-mails (at most 1000); kind 3 keys
	 * then give every day each of them has a transaction on, so all its hops
	 * come back.
	 */
	static const char sql[] =
		"WITH k AS (SELECT DISTINCT email_id FROM email_keys "
		"WHERE (kind = 1 AND key IN ($5, '<' || $5 || '>', btrim($5, '<>'))) "
		"OR (kind = 2 AND key = $5) OR (kind = 3 AND key = lower($5)) LIMIT 1000), "
		"d AS (SELECT DISTINCT e.day, e.email_id FROM k JOIN email_keys e ON e.kind = 3 "
		"AND e.key = lpad(to_hex(k.email_id), 16, '0') AND e.email_id = k.email_id) "
		"SELECT " BE_DBQ_ROW_COLS ", (SELECT count(*) FROM k) >= 1000 "
		"FROM d JOIN messages m ON m.email_id = d.email_id "
		"AND m.first_seen >= (d.day::timestamp AT TIME ZONE 'UTC') "
		"AND m.first_seen < ((d.day + 1)::timestamp AT TIME ZONE 'UTC') "
		"JOIN hosts h ON h.id = m.host_id WHERE " BE_DBQ_VISIBLE(
			"m.email_id") " ORDER BY m.first_seen DESC, m.host_id, m.queue_id LIMIT "
				      "$6::integer";
	rc = be_dbq_gen(db, BE_DBQ_G_QUICK, "quick search", sql, 6, p, &r);
	if (rc)
		return rc;
	out->n_rows = be_dbq_rows(a, r, 0, limit, &out->rows);
	out->next_cursor = el_arena_strdup(a, "");
	/* A quick search has no next page: more rows, or more e-mails, are cut. */
	out->truncated = PQntuples(r) > (int)limit ||
			 (PQntuples(r) > 0 && be_dbq_bool(r, 0, BE_DBQ_ROW_NCOLS));
	PQclear(r);
	return 0;
}

/* be_dbq_parse_eid - 16 hex digits into the signed bigint the database stores */
static int be_dbq_parse_eid(const char *s, int64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; s[i]; i++) {
		int c = (unsigned char)s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -EINVAL;
		if (i >= 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	if (i != 16)
		return -EINVAL;
	memcpy(out, &v, sizeof(v));
	return 0;
}

/*
 * The raw lines of one transaction ($1 host id, $2 queue ID) between $3 and
 * $4 (microseconds).  convert_from would fail on invalid UTF-8: bytes >=
 * 0x80 show as Latin-1 then (else_raw_text).
 */
/* clang-format off */
static const char be_dbq_flow_lines_sql[] =
	"SELECT (extract(epoch FROM l.ts) * 1000000)::bigint AS time_us, h.name AS host, "
	"coalesce(l.program, '') AS program, "
	"coalesce(else_raw_text(substring(l.raw FROM 1 FOR 65536)), '') AS text "
	"FROM lines l JOIN hosts h ON h.id = l.host_id "
	"WHERE l.host_id = $1::integer AND l.queue_id = $2 "
	"AND l.ts >= ('epoch'::timestamptz + $3::bigint * interval '1 microsecond') "
	"AND l.ts <= ('epoch'::timestamptz + $4::bigint * interval '1 microsecond') "
	"ORDER BY l.ts, l.ingest_seq LIMIT 1000";
/* clang-format on */

/* be_dbq_reject_row - a RejectRow from columns c.. of BE_DBQ_REJ_COLS */
#define BE_DBQ_REJ_COLS                                                                            \
	BE_DBQ_US("j.ts")                                                                          \
	", h.name, j.event, j.status, j.client_host, j.client_ip, j.helo, "                        \
	"j.sender, j.rcpt, j.stage, j.reject_code, j.reject_dsn, j.reason, "                       \
	"lpad(to_hex(j.email_id), 16, '0'), j.reject_id"
static Else__RejectRow *be_dbq_reject_row(el_arena *a, const PGresult *r, int i)
{
	Else__RejectRow *j = el_arena_alloc(a, sizeof(*j));

	else__reject_row__init(j);
	j->time_us = be_dbq_i64(r, i, 0);
	j->host = be_dbq_str(a, r, i, 1);
	j->event = be_dbq_str(a, r, i, 2);
	j->status = be_dbq_str(a, r, i, 3);
	j->client_host = be_dbq_str(a, r, i, 4);
	j->client_ip = be_dbq_str(a, r, i, 5);
	j->helo = be_dbq_str(a, r, i, 6);
	j->sender = be_dbq_str(a, r, i, 7);
	j->rcpt = be_dbq_str(a, r, i, 8);
	j->stage = be_dbq_str(a, r, i, 9);
	j->reject_code = be_dbq_str(a, r, i, 10);
	j->reject_dsn = be_dbq_str(a, r, i, 11);
	j->reason = be_dbq_str(a, r, i, 12);
	j->email_id = be_dbq_str(a, r, i, 13);
	return j;
}

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
	"AND m.first_seen >= (k.day::timestamp AT TIME ZONE 'UTC') "
	"AND m.first_seen < ((k.day + 1)::timestamp AT TIME ZONE 'UTC') "
	"JOIN hosts h ON h.id = m.host_id AND h.name = $5 "
	"WHERE k.kind = 2 AND k.key = $6 AND " BE_DBQ_VISIBLE("m.email_id") " "
	"ORDER BY CASE WHEN $7::bigint = 0 THEN -" BE_DBQ_US("m.first_seen") " "
	"ELSE abs(" BE_DBQ_US("m.first_seen") " - $7::bigint) END LIMIT 1";

/*
 * Every transaction of e-mail $5, if the caller may see it at all: a
 * MessageRow, then (BE_DBQ_FLOW_*) the hop links, HELO, actions, whether
 * the caller sent it, and the time range of its raw lines.
 */
static const char be_dbq_flow_sql[] =
	"WITH d AS (SELECT DISTINCT day FROM email_keys WHERE kind = 3 AND "
	"key = lpad(to_hex($5::bigint), 16, '0') AND email_id = $5::bigint), "
	"v AS (SELECT " BE_DBQ_VISIBLE("$5::bigint") " AS ok) "
	"SELECT " BE_DBQ_ROW_COLS ", m.host_id, coalesce(ph.name, ''), "
	"coalesce(m.prev_queue_id, ''), coalesce(dh.name, ''), "
	"coalesce(m.dsn_of_queue_id, ''), coalesce(m.helo, ''), "
	"coalesce(m.actions::text, ''), m.incomplete, "
	"(m.sender <> '' AND lower(m.sender) = ANY ($4::text[])), "
	BE_DBQ_US("m.first_seen") " - 60000000, " BE_DBQ_US("m.last_seen") " + 60000000 "
	"FROM d JOIN messages m ON m.email_id = $5::bigint "
	"AND m.first_seen >= (d.day::timestamp AT TIME ZONE 'UTC') "
	"AND m.first_seen < ((d.day + 1)::timestamp AT TIME ZONE 'UTC') "
	"JOIN hosts h ON h.id = m.host_id LEFT JOIN hosts ph ON ph.id = m.prev_host_id "
	"LEFT JOIN hosts dh ON dh.id = m.dsn_of_host_id CROSS JOIN v WHERE v.ok "
	"ORDER BY m.first_seen, m.host_id, m.queue_id LIMIT 200";
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
		q[nq++] = (be_db_genq){ BE_DBQ_G_FLOW_RCPT, "flow recipients", be_dbq_flow_rcpt_sql,
					7, rp[h] };
		lines[h] = sc->role != ELSE__ROLE__ROLE_MAILBOX ||
			   be_dbq_bool(r, i, BE_DBQ_FLOW_OWN_SENDER);
		if (!lines[h])
			continue;
		memcpy(lp[h],
		       (const char *[4]){ hid, qid, PQgetvalue(r, i, BE_DBQ_FLOW_LINES_FROM),
					  PQgetvalue(r, i, BE_DBQ_FLOW_LINES_TO) },
		       sizeof(lp[h]));
		q[nq++] = (be_db_genq){ BE_DBQ_G_LINES, "flow lines", be_dbq_flow_lines_sql, 4,
					lp[h] };
	}
	if ((rc = be_dbq_gen_many(db, q, nq, res)) != 0)
		return rc;
	for (int i = from; i < to; i++) {
		Else__Transaction *t = out->hops[i];

		be_dbq_recipients(a, res[k++], t);
		if (lines[i - from])
			t->n_lines = be_dbq_fill(a, res[k++], &else__raw_line__descriptor,
						 (void ***)&t->lines);
	}
	for (k = 0; k < nq; k++)
		PQclear(res[k]);
	return 0;
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
	rc = be_dbq_gen_many(
		db,
		(const be_db_genq[2]){
			{ BE_DBQ_G_FLOW, "flow", be_dbq_flow_sql, 5, p },
			/* Rejects of this e-mail, visible to the caller row by row. */
			{ BE_DBQ_G_FLOW_REJ, "flow rejects", be_dbq_flow_rej_sql, 5, p },
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
		t->actions_json = be_dbq_str(a, r, i, BE_DBQ_FLOW_ACTIONS);
		t->incomplete = (uint32_t)be_dbq_i64(r, i, BE_DBQ_FLOW_INCOMPLETE);
	}
	for (int i = 0; i < n && rc == 0; i += BE_DBQ_HOPS_AT_ONCE)
		rc = be_dbq_flow_hops(db, a, sc, p, r, i,
				      n - i < BE_DBQ_HOPS_AT_ONCE ? n : i + BE_DBQ_HOPS_AT_ONCE,
				      out);
	PQclear(r);
	if (rc == 0) {
		n = PQntuples(res[1]);
		out->n_rejects = (size_t)n;
		out->rejects = el_arena_alloc(a, ((size_t)n + 1) * sizeof(*out->rejects));
		for (int i = 0; i < n; i++)
			out->rejects[i] = be_dbq_reject_row(a, res[1], i);
	}
	PQclear(res[1]);
	return rc;
}

/* be_db_q_servers - see be_db_query.h */
int be_db_q_servers(be_db *db, el_arena *a, const be_db_scope *sc, Else__ServersReply *out)
{
	char role[8];
	const char *p[4];
	PGresult *r;
	int rc;

	be_dbq_scope_params(sc, role, p);
	/* lines_today: else_lines_today() (sql/004_lines_today.sql), no row counting. */
	static const char sql[] =
		"SELECT h.id, h.name, (extract(epoch FROM h.first_seen) * 1000000)::bigint "
		"AS first_seen_us, (extract(epoch FROM h.last_seen) * 1000000)::bigint AS "
		"last_seen_us, coalesce((SELECT (extract(epoch FROM max(s.updated_at)) * "
		"1000000)::bigint FROM streams s WHERE s.host_id = h.id), 0) AS last_line_us, "
		"else_lines_today(h.id) AS lines_today "
		"FROM hosts h WHERE ($1::integer = 1 OR ($1::integer = 2 AND h.id = ANY "
		"($2::integer[]))) AND $3::text[] IS NOT NULL AND $4::text[] IS NOT NULL "
		"ORDER BY h.name LIMIT 10000";
	rc = be_dbq_exec(db, "servers", sql, 4, p, &r);
	if (rc)
		return rc;
	out->n_rows = be_dbq_fill(a, r, &else__server_row__descriptor, (void ***)&out->rows);
	PQclear(r);
	return 0;
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
	    (rc = be_dbq_gen_many(
		     db,
		     (const be_db_genq[2]){
			     { BE_DBQ_G_FLOW_RCPT, "flow recipients", be_dbq_flow_rcpt_sql, 7, p },
			     { BE_DBQ_G_LINES, "flow lines", be_dbq_flow_lines_sql, 4, l },
		     },
		     2, r)) == 0) {
		PQclear(r[0]);
		PQclear(r[1]);
	}
	el_arena_fini(&a);
	return rc;
}

/* be_db_q_day_mark - see be_db_query.h */
int be_db_q_day_mark(be_db *owner)
{
	return be_dbq_exec(owner, "day mark", "SELECT else_day_mark()", 0, NULL, NULL);
}

/*
 * be_db_q_tail - see be_db_query.h.  The cursor is "UPDATED_US" of the
 * newest row returned; flows written (or rewritten) after it come next.
 * Only the last two days of transactions are looked at.
 */
int be_db_q_tail(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Tail *t,
		 Else__TailReply *out)
{
	char role[8], lim[16];
	const char *p[6];
	PGresult *r;
	int rc, n;

	be_dbq_scope_params(sc, role, p);
	p[4] = t->cursor && t->cursor[0] ? t->cursor : NULL;
	if (p[4]) {
		for (const char *c = p[4]; *c; c++)
			if (*c < '0' || *c > '9' || c - p[4] > 17)
				return -EINVAL;
	}
	snprintf(lim, sizeof(lim), "%u", t->limit);
	p[5] = lim;
	rc = be_dbq_exec(
		db, "tail",
		"SELECT * FROM (SELECT " BE_DBQ_ROW_COLS ", " BE_DBQ_US(
			"m.updated_at") " AS u "
					"FROM messages m JOIN hosts h ON h.id = m.host_id "
					"WHERE m.first_seen > now() - interval '2 days' "
					"AND ($5::bigint IS NULL OR m.updated_at > " BE_DBQ_TS(
						"$5") ") "
						      "AND " BE_DBQ_VISIBLE(
							      "m.email_id") " "
									    "ORDER BY CASE WHEN "
									    "$5::bigint IS NULL "
									    "THEN m.updated_at END "
									    "DESC, "
									    "m.updated_at, "
									    "m.host_id, m.queue_id "
									    "LIMIT $6::integer) x "
									    "ORDER BY u",
		6, p, &r);
	if (rc)
		return rc;
	n = PQntuples(r);
	out->n_rows = be_dbq_rows(a, r, 0, (size_t)n, &out->rows);
	out->cursor = n ? be_dbq_str(a, r, n - 1, BE_DBQ_ROW_NCOLS)
			: el_arena_strdup(a, p[4] ? p[4] : "");
	PQclear(r);
	return 0;
}

/* A statement under construction: constant SQL fragments, values as parameters. */
typedef struct be_dbq_stmt {
	el_buf sql;
	const char *p[40];
	int n;
	char num[16][24];
	int nnum;
} be_dbq_stmt;

/* be_dbq_param - add a parameter value, return its number as "$N" text into buf */
static int be_dbq_param(be_dbq_stmt *st, const char *v)
{
	st->p[st->n++] = v;
	return st->n;
}

/* be_dbq_num - add a bigint parameter */
static int be_dbq_num(be_dbq_stmt *st, int64_t v)
{
	char *b = st->num[st->nnum++];
	snprintf(b, 24, "%" PRId64, v);
	return be_dbq_param(st, b);
}

/* be_dbq_add - append a fragment; "@" is replaced by "$N" of parameter n */
static void be_dbq_add(be_dbq_stmt *st, const char *frag, int n)
{
	char d[16];
	for (const char *c = frag; *c; c++) {
		if (*c == '@') {
			snprintf(d, sizeof(d), "$%d", n);
			el_buf_add(&st->sql, d, strlen(d));
		} else {
			el_buf_addc(&st->sql, *c);
		}
	}
}

/* be_dbq_match - "expr = $n" / LIKE prefix / LIKE substring, on lower-cased text */
static void be_dbq_match(be_dbq_stmt *st, const char *expr, int n, int mode)
{
	el_buf_add(&st->sql, expr, strlen(expr));
	if (mode == ELSE__MATCH__MATCH_EXACT)
		be_dbq_add(st, " = lower(@)", n);
	else if (mode == ELSE__MATCH__MATCH_PREFIX)
		be_dbq_add(st, " LIKE else_like(lower(@), 1)", n);
	else
		be_dbq_add(st, " LIKE else_like(lower(@), 2)", n);
}

/* be_dbq_set - a non-empty string field */
static bool be_dbq_set(const char *s)
{
	return s && s[0];
}

/* be_dbq_range - default time range: [to - def, to), to = now */
static void be_dbq_range(int64_t from, int64_t to, int64_t now, int64_t def, int64_t *f, int64_t *t)
{
	*t = to ? to : now;
	*f = from ? from : *t - def;
}

/*
 * be_dbq_cursor - "FIRST_US.HOST_ID.QID_HEX.SORT_HEX" of the last row: the
 * keyset of the next page.  Parsed strictly; -EINVAL otherwise.
 */
static int be_dbq_cursor_parse(el_arena *a, const char *c, int64_t *us, int64_t *host, char **qid,
			       char **sortv)
{
	const char *p = c;
	char *end;
	char *parts[2];

	*us = strtoll(p, &end, 10);
	if (end == p || *end != '.' || *us < 0)
		return -EINVAL;
	p = end + 1;
	*host = strtoll(p, &end, 10);
	if (end == p || *end != '.' || *host < 0 || *host > INT32_MAX)
		return -EINVAL;
	p = end + 1;
	for (int k = 0; k < 2; k++) {
		const char *e = strchr(p, '.');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if ((k == 0 && !e) || (k == 1 && e) || n % 2 || n > 2048)
			return -EINVAL;
		parts[k] = el_arena_alloc(a, n / 2 + 1);
		for (size_t i = 0; i < n; i += 2) {
			int v = 0;
			for (int j = 0; j < 2; j++) {
				char ch = p[i + j];
				v <<= 4;
				if (ch >= '0' && ch <= '9')
					v |= ch - '0';
				else if (ch >= 'a' && ch <= 'f')
					v |= ch - 'a' + 10;
				else
					return -EINVAL;
			}
			if (v == 0)
				return -EINVAL;
			parts[k][i / 2] = (char)v;
		}
		p += n + (e ? 1 : 0);
	}
	*qid = parts[0];
	*sortv = parts[1];
	return 0;
}

/* be_dbq_hex - s as hex into the arena */
static char *be_dbq_hex(el_arena *a, const char *s)
{
	static const char d[] = "0123456789abcdef";
	size_t n = strlen(s);
	char *o = el_arena_alloc(a, 2 * n + 1);

	for (size_t i = 0; i < n; i++) {
		o[2 * i] = d[(unsigned char)s[i] >> 4];
		o[2 * i + 1] = d[(unsigned char)s[i] & 15];
	}
	return o;
}

/* Where the pieces of a search statement are (parameter numbers, offsets). */
typedef struct be_dbq_pages {
	int pf, pt, pc, ph, pq, plim; /* range, cursor (0: none), LIMIT */
	size_t at_from;               /* "messages m JOIN ..." */
	size_t at_cur, at_cur_end;    /* the cursor's condition (empty: none) */
	size_t at_order;              /* " ORDER BY ..." */
} be_dbq_pages;

/* At most this many statements answer one search (be_dbq_newest, be_dbq_windows). */
#define BE_DBQ_STEPS 3

/*
 * be_dbq_windows - a search newest first, window by window: the newest two
 * hours of the range (from the cursor on), then the rest of the newest day,
 * then the rest of the range, each window only while the page is not full.
 * An index on (key, first_seen) finds every match of the range before the
 * newest can be picked: for an address with thousands of messages a week
 * that is a second, for its newest two hours a few milliseconds.  A window
 * of a day or less also plans on one or two partitions.  The statement is
 * the same; only its range and LIMIT change, and the windows are disjoint
 * and newest first, so the rows and their order are those of the one
 * statement.  rs[0..2] get each window's rows (NULL: not run).
 */
static int be_dbq_windows(be_db *db, be_dbq_stmt *st, const be_dbq_pages *pg, uint32_t want,
			  int64_t from, int64_t top, PGresult **rs)
{
	static const int64_t span[BE_DBQ_STEPS - 1] = { 2 * 3600000000LL, 86400000000LL };
	const char *keep_f = st->p[pg->pf - 1], *keep_t = st->p[pg->pt - 1];
	const char *keep_l = st->p[pg->plim - 1];
	char f[24], t[24], lim[24];
	uint32_t got = 0;
	int rc = 0;

	for (int k = 0; k < BE_DBQ_STEPS && got < want; k++) {
		int64_t lo = k < BE_DBQ_STEPS - 1 && top - span[k] > from ? top - span[k] : from;
		snprintf(f, sizeof(f), "%" PRId64, lo);
		snprintf(lim, sizeof(lim), "%u", want - got);
		st->p[pg->pf - 1] = f;
		st->p[pg->plim - 1] = lim;
		rc = be_dbq_exec(db, "search", st->sql.p, st->n, st->p, &rs[k]);
		if (rc)
			break;
		got += (uint32_t)PQntuples(rs[k]);
		if (lo <= from)
			break;
		/* The next window ends where this one began. */
		snprintf(t, sizeof(t), "%" PRId64, lo);
		st->p[pg->pt - 1] = t;
	}
	st->p[pg->pf - 1] = keep_f;
	st->p[pg->pt - 1] = keep_t;
	st->p[pg->plim - 1] = keep_l;
	return rc;
}

/* The newest messages a substring search reads one by one before its index. */
#define BE_DBQ_NEWEST 20000

/*
 * be_dbq_newest - a substring search, newest first, in two steps.  The
 * trigram index finds every match of the range before the newest can be
 * picked: a substring that thousands of senders share (a domain, "user1")
 * costs seconds that way.  So step 1 reads the newest BE_DBQ_NEWEST messages
 * of the range (past the cursor) in time order and keeps those that match:
 * if that fills the page, done.  Otherwise the matches are rare, and step 2
 * asks the index for the rest, only older than the oldest message step 1
 * read (its key, found by a second read of the time index).  Same rows, same
 * order, same cursor as the one statement; rs[0] and rs[1] (maybe NULL) get
 * the two steps' rows.  want: rows wanted in all (the page + 1).
 */
static int be_dbq_newest(be_db *db, be_dbq_stmt *st, const be_dbq_pages *pg, uint32_t want,
			 PGresult **rs)
{
	static const char order[] = " ORDER BY m.first_seen DESC, m.host_id DESC, m.queue_id DESC";
	const char *sql = st->sql.p;
	el_buf q;
	int rc;

	/* Step 1: FROM (the newest messages of the range, past the cursor) m ... */
	el_buf_init(&q);
	el_buf_add(&q, sql, pg->at_from);
	el_buf_addlit(&q, "(SELECT * FROM messages m WHERE m.first_seen >= ");
	char b[256];
	snprintf(b, sizeof(b), BE_DBQ_TS("$%d") " AND m.first_seen < " BE_DBQ_TS("$%d"), pg->pf,
		 pg->pt);
	el_buf_add(&q, b, strlen(b));
	el_buf_add(&q, sql + pg->at_cur, pg->at_cur_end - pg->at_cur);
	el_buf_add(&q, order, strlen(order));
	snprintf(b, sizeof(b), " LIMIT %d) m", BE_DBQ_NEWEST);
	el_buf_add(&q, b, strlen(b));
	el_buf_add(&q, sql + pg->at_from + strlen("messages m"),
		   strlen(sql) - pg->at_from - strlen("messages m"));
	el_buf_addc(&q, '\0');
	rc = be_dbq_exec(db, "search newest", q.p, st->n, st->p, &rs[0]);
	if (rc || PQntuples(rs[0]) >= (int)want)
		goto out;

	/* The oldest message step 1 read; none: it read the whole range. */
	const char *ep[5] = { st->p[pg->pf - 1], st->p[pg->pt - 1] };
	int en = 2;
	q.len = 0;
	el_buf_addlit(&q,
		      "SELECT " BE_DBQ_US(
			      "m.first_seen") ", m.host_id, m.queue_id "
					      "FROM messages m WHERE m.first_seen >= " BE_DBQ_TS(
						      "$1") " AND "
							    "m.first_seen < " BE_DBQ_TS("$2"));
	if (pg->pc) {
		ep[2] = st->p[pg->pc - 1];
		ep[3] = st->p[pg->ph - 1];
		ep[4] = st->p[pg->pq - 1];
		en = 5;
		el_buf_addlit(&q, " AND (m.first_seen, m.host_id, m.queue_id) < (" BE_DBQ_TS(
					  "$3") ", $4::integer, $5)");
	}
	el_buf_add(&q, order, strlen(order));
	snprintf(b, sizeof(b), " OFFSET %d LIMIT 1", BE_DBQ_NEWEST - 1);
	el_buf_add(&q, b, strlen(b));
	el_buf_addc(&q, '\0');
	PGresult *e = NULL;
	rc = be_dbq_exec(db, "search newest edge", q.p, en, ep, &e);
	if (rc || PQntuples(e) == 0) {
		PQclear(e);
		goto out;
	}

	/* Step 2: the statement, older than that message, for the rows still wanted. */
	char lim[24];
	snprintf(lim, sizeof(lim), "%d", (int)want - PQntuples(rs[0]));
	const char *p2[44];
	int n2 = st->n;
	if (n2 + 3 > (int)(sizeof(p2) / sizeof(p2[0]))) {
		PQclear(e);
		rc = -EINVAL;
		goto out;
	}
	memcpy(p2, st->p, sizeof(p2[0]) * (size_t)n2);
	p2[pg->plim - 1] = lim;
	p2[n2] = PQgetvalue(e, 0, 0);
	p2[n2 + 1] = PQgetvalue(e, 0, 1);
	p2[n2 + 2] = PQgetvalue(e, 0, 2);
	q.len = 0;
	el_buf_add(&q, sql, pg->at_order);
	snprintf(
		b, sizeof(b),
		" AND (m.first_seen, m.host_id, m.queue_id) < (" BE_DBQ_TS("$%d") ", $%d::integer, "
										  "$%d)",
		n2 + 1, n2 + 2, n2 + 3);
	el_buf_add(&q, b, strlen(b));
	el_buf_add(&q, sql + pg->at_order, strlen(sql) - pg->at_order);
	el_buf_addc(&q, '\0');
	rc = be_dbq_exec(db, "search older", q.p, n2 + 3, p2, &rs[1]);
	PQclear(e);
out:
	el_buf_fini(&q);
	return rc;
}

/* be_db_q_search - see be_db_query.h */
int be_db_q_search(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Search *s,
		   int64_t now_us, Else__SearchReply *out)
{
	static const char *sortexpr[] = { "m.first_seen", "lower(m.sender)", "coalesce(m.size, -1)",
					  "m.status" };
	be_dbq_stmt st;
	char role[8];
	int64_t from, to, cus = 0, chost = 0;
	char *cqid = NULL, *csort = NULL;
	uint32_t limit = s->limit ? s->limit : 100;
	int mode = s->match, sort = s->sort, n, pf, pt, rc;
	bool keyed = false; /* a name, Message-ID or queue ID picks the rows */
	const char *dir = s->ascending ? "ASC" : "DESC", *cmp = s->ascending ? ">" : "<";

	if (sort < 0 || sort > 3)
		return -EINVAL;
	memset(&st, 0, sizeof(st));
	el_buf_init(&st.sql);
	be_dbq_scope_params(sc, role, st.p);
	st.n = 4;
	be_dbq_range(s->from_us, s->to_us, now_us, 7 * 86400000000LL, &from, &to);
	pf = be_dbq_num(&st, from);
	pt = be_dbq_num(&st, to);
	be_dbq_add(&st, "SELECT " BE_DBQ_ROW_COLS ", ", 0);
	el_buf_add(&st.sql, sortexpr[sort], strlen(sortexpr[sort]));
	el_buf_addlit(&st.sql, "::text, m.host_id FROM ");
	size_t at_from = st.sql.len;
	be_dbq_add(&st,
		   "messages m JOIN hosts h ON h.id = m.host_id "
		   "WHERE m.first_seen >= " BE_DBQ_TS("@"),
		   pf);
	be_dbq_add(&st, " AND m.first_seen < " BE_DBQ_TS("@"), pt);
	/* Recipient conditions: (first_seen, host, queue ID) of matching recipients, same days. */
#define RCPT_IN(cond)                                                                              \
	do {                                                                                       \
		be_dbq_add(&st,                                                                    \
			   "(m.first_seen, m.host_id, m.queue_id) IN (SELECT r.first_seen, "       \
			   "r.host_id, r.queue_id FROM recipients r WHERE r.first_seen "           \
			   ">= " BE_DBQ_TS("@"),                                                   \
			   pf);                                                                    \
		be_dbq_add(&st, " AND r.first_seen < " BE_DBQ_TS("@") " AND ", pt);                \
		cond;                                                                              \
		el_buf_addc(&st.sql, ')');                                                         \
	} while (0)
	/*
	 * The name fields: each matches one or two expressions of the message
	 * and/or a recipient's (RCPT_IN), with the match mode.
	 */
	static const struct {
		size_t off;
		const char *m1, *m2, *r, *x;
		bool keyed; /* an index finds its few rows (a server has all of its own) */
	} names[] = {
		{ offsetof(Else__Search, sender), "lower(m.sender)", NULL, NULL, NULL, true },
		{ offsetof(Else__Search, recipient), NULL, NULL, "lower(r.rcpt)", NULL, true },
		{ offsetof(Else__Search, address), "lower(m.sender)", NULL, "lower(r.rcpt)",
		  "lower(x.sender)", true },
		{ offsetof(Else__Search, domain), "else_domain(m.sender)", NULL,
		  "else_domain(r.rcpt)", "else_domain(x.sender)", true },
		{ offsetof(Else__Search, client), "lower(m.client_ip)", "lower(m.client_host)",
		  NULL, NULL, true },
		{ offsetof(Else__Search, server), "lower(h.name)", NULL, NULL, NULL, false },
		{ offsetof(Else__Search, sasl_username), "lower(m.sasl_username)", NULL, NULL, NULL,
		  true },
	};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const char *v = *(char *const *)((const char *)s + names[k].off);
		if (!be_dbq_set(v))
			continue;
		if (mode != ELSE__MATCH__MATCH_SUBSTRING && names[k].keyed)
			keyed = true;
		n = be_dbq_param(&st, v);
		if (names[k].x) {
			/*
			 * Sender or recipient: one set of keys from both indexes
			 * (UNION ALL), not "sender = v OR key IN (recipients)",
			 * which PostgreSQL can only answer by reading every
			 * message of the range (1.6 s over 7 days at 1M e-mails
			 * for an address with few messages).
			 */
			be_dbq_add(&st,
				   " AND (m.first_seen, m.host_id, m.queue_id) IN (SELECT "
				   "x.first_seen, "
				   "x.host_id, x.queue_id FROM messages x WHERE x.first_seen "
				   ">= " BE_DBQ_TS("@"),
				   pf);
			be_dbq_add(&st, " AND x.first_seen < " BE_DBQ_TS("@") " AND ", pt);
			be_dbq_match(&st, names[k].x, n, mode);
			el_buf_addlit(&st.sql,
				      " UNION ALL SELECT r.first_seen, r.host_id, r.queue_id "
				      "FROM recipients r WHERE r.first_seen >= ");
			be_dbq_add(&st, BE_DBQ_TS("@"), pf);
			be_dbq_add(&st, " AND r.first_seen < " BE_DBQ_TS("@") " AND ", pt);
			be_dbq_match(&st, names[k].r, n, mode);
			el_buf_addc(&st.sql, ')');
			continue;
		}
		el_buf_addlit(&st.sql, " AND (");
		if (names[k].m1)
			be_dbq_match(&st, names[k].m1, n, mode);
		if (names[k].m2) {
			el_buf_addlit(&st.sql, " OR ");
			be_dbq_match(&st, names[k].m2, n, mode);
		}
		if (names[k].r) {
			if (names[k].m1)
				el_buf_addlit(&st.sql, " OR ");
			RCPT_IN(be_dbq_match(&st, names[k].r, n, mode));
		}
		el_buf_addc(&st.sql, ')');
	}
	if (be_dbq_set(s->status))
		be_dbq_add(&st, " AND m.status = @", be_dbq_param(&st, s->status));
	/* Message-ID and queue ID go through email_keys (sql/005: messages has
	 * no index of its own on them), then messages_email_id. */
	if (be_dbq_set(s->message_id) || be_dbq_set(s->queue_id))
		keyed = true;
	if (be_dbq_set(s->message_id))
		be_dbq_add(
			&st,
			" AND m.email_id IN (SELECT email_id FROM email_keys WHERE kind = 1 "
			"AND key IN (@, btrim(@, '<>'))) AND m.message_id IN (@, btrim(@, '<>'))",
			be_dbq_param(&st, s->message_id));
	if (be_dbq_set(s->queue_id))
		be_dbq_add(&st,
			   " AND m.email_id IN (SELECT email_id FROM email_keys WHERE kind = 2 "
			   "AND key = @) AND m.queue_id = @",
			   be_dbq_param(&st, s->queue_id));
	if (s->min_size)
		be_dbq_add(&st, " AND m.size >= @::bigint", be_dbq_num(&st, s->min_size));
	if (s->max_size)
		be_dbq_add(&st, " AND m.size <= @::bigint", be_dbq_num(&st, s->max_size));
	if (s->direction != ELSE__DIRECTION__DIR_ANY) {
		static const char *dn[] = { "", "local", "relay", "out" };
		n = be_dbq_param(&st, dn[s->direction]);
		el_buf_addlit(&st.sql, " AND ");
		RCPT_IN(be_dbq_add(&st,
				   "else_direction(r.status, r.relay_host, r.relay_ip, "
				   "r.next_host_id) = @",
				   n));
	}
	if (sc->role == ELSE__ROLE__ROLE_MAILBOX) {
		/*
		 * A mailbox user sees the e-mails with their address on some
		 * transaction (else_visible, below, decides row by row).  Asking
		 * the address indexes first, within a week around the range, keeps
		 * a search without a name from calling else_visible on every
		 * message of the range.
		 */
		be_dbq_add(&st,
			   " AND m.email_id IN (SELECT x.email_id FROM messages x WHERE "
			   "x.first_seen >= " BE_DBQ_TS("@") " - interval '7 days'",
			   pf);
		be_dbq_add(
			&st,
			" AND x.first_seen < " BE_DBQ_TS(
				"@") " + interval '7 days' AND "
				     "lower(x.sender) = ANY ($4::text[]) UNION ALL SELECT "
				     "x.email_id "
				     "FROM recipients r JOIN messages x ON x.first_seen = "
				     "r.first_seen AND "
				     "x.host_id = r.host_id AND x.queue_id = r.queue_id WHERE "
				     "(lower(r.rcpt) "
				     "= ANY ($4::text[]) OR lower(r.orig_rcpt) = ANY ($4::text[]))",
			pt);
		be_dbq_add(&st, " AND r.first_seen >= " BE_DBQ_TS("@") " - interval '7 days'", pf);
		be_dbq_add(&st, " AND r.first_seen < " BE_DBQ_TS("@") " + interval '7 days'", pt);
		be_dbq_add(&st, " AND x.first_seen >= " BE_DBQ_TS("@") " - interval '7 days'", pf);
		be_dbq_add(&st, " AND x.first_seen < " BE_DBQ_TS("@") " + interval '7 days')", pt);
	}
	size_t at_cur = st.sql.len, at_cur_end = st.sql.len;
	int pc = 0, ph = 0, pq = 0;
	if (s->cursor && s->cursor[0]) {
		if (be_dbq_cursor_parse(a, s->cursor, &cus, &chost, &cqid, &csort) != 0) {
			el_buf_fini(&st.sql);
			return -EINVAL;
		}
		pc = be_dbq_num(&st, cus);
		ph = be_dbq_num(&st, chost);
		pq = be_dbq_param(&st, cqid);
		int ps = sort != ELSE__SORT_KEY__SORT_TIME ? be_dbq_param(&st, csort) : 0;
		el_buf_addlit(&st.sql, " AND (");
		if (sort != ELSE__SORT_KEY__SORT_TIME) {
			el_buf_add(&st.sql, sortexpr[sort], strlen(sortexpr[sort]));
			el_buf_addlit(&st.sql, ", ");
		}
		el_buf_addlit(&st.sql, "m.first_seen, m.host_id, m.queue_id) ");
		el_buf_add(&st.sql, cmp, 1);
		el_buf_addlit(&st.sql, " (");
		if (sort == ELSE__SORT_KEY__SORT_SIZE)
			be_dbq_add(&st, "@::bigint, ", ps);
		else if (sort != ELSE__SORT_KEY__SORT_TIME)
			be_dbq_add(&st, "@::text, ", ps);
		be_dbq_add(&st, BE_DBQ_TS("@") ", ", pc);
		be_dbq_add(&st, "@::integer, ", ph);
		be_dbq_add(&st, "@)", pq);
		at_cur_end = st.sql.len;
	}
	be_dbq_add(&st, " AND " BE_DBQ_VISIBLE("m.email_id"), 0);
	size_t at_order = st.sql.len;
	el_buf_addlit(&st.sql, " ORDER BY ");
	if (sort != ELSE__SORT_KEY__SORT_TIME) {
		el_buf_add(&st.sql, sortexpr[sort], strlen(sortexpr[sort]));
		el_buf_addc(&st.sql, ' ');
		el_buf_add(&st.sql, dir, strlen(dir));
		el_buf_addlit(&st.sql, ", ");
	}
	/*
	 * Found by a key: the time index must not drive.  PostgreSQL reads
	 * messages newest first through it, hoping to meet the few keys soon,
	 * and walks a million rows when they are old (2.5 s for an address with
	 * two messages in the week at 10M e-mails, 3 ms with the keys first).
	 * An expression it cannot read from an index makes it find the keys,
	 * fetch their messages and sort them: same order.
	 */
	if (keyed && sort == ELSE__SORT_KEY__SORT_TIME)
		el_buf_addlit(&st.sql, "(m.first_seen + interval '0 s') ");
	else
		el_buf_addlit(&st.sql, "m.first_seen ");
	el_buf_add(&st.sql, dir, strlen(dir));
	el_buf_addlit(&st.sql, ", m.host_id ");
	el_buf_add(&st.sql, dir, strlen(dir));
	el_buf_addlit(&st.sql, ", m.queue_id ");
	el_buf_add(&st.sql, dir, strlen(dir));
	int plim = be_dbq_num(&st, (int64_t)limit + 1);
	be_dbq_add(&st, " LIMIT @::integer", plim);
	el_buf_addc(&st.sql, '\0');
	be_dbq_pages pg = { .pf = pf,
			    .pt = pt,
			    .pc = pc,
			    .ph = ph,
			    .pq = pq,
			    .plim = plim,
			    .at_from = at_from,
			    .at_cur = at_cur,
			    .at_cur_end = at_cur_end,
			    .at_order = at_order };
	PGresult *rs[BE_DBQ_STEPS] = { NULL };
	if (sort == ELSE__SORT_KEY__SORT_TIME && !s->ascending) {
		/* Newest first: see be_dbq_newest and be_dbq_windows. */
		if (mode == ELSE__MATCH__MATCH_SUBSTRING)
			rc = be_dbq_newest(db, &st, &pg, limit + 1, rs);
		else
			rc = be_dbq_windows(db, &st, &pg, limit + 1, from, cus ? cus + 1 : to, rs);
	} else {
		rc = be_dbq_exec(db, "search", st.sql.p, st.n, st.p, &rs[0]);
	}
	el_buf_fini(&st.sql);
	/* The rows of the steps, in order: at most limit + 1. */
	int step = 0, si = 0;
	size_t keep = 0;
	n = 0;
	for (int k = 0; k < BE_DBQ_STEPS && rs[k]; k++)
		n += PQntuples(rs[k]);
	if (rc == 0) {
		keep = n > (int)limit ? limit : (size_t)n;
		out->n_rows = keep;
		out->rows = el_arena_alloc(a, (keep + 1) * sizeof(*out->rows));
		for (size_t i = 0; i < keep; i++, si++) {
			while (si >= PQntuples(rs[step])) {
				step++;
				si = 0;
			}
			out->rows[i] = be_dbq_row(a, rs[step], si, 0);
		}
	}
	if (rc == 0 && n > (int)limit) {
		/* The cursor: the key of the page's last row (step, si - 1). */
		Else__MessageRow *last = out->rows[limit - 1];
		const char *sv = PQgetvalue(rs[step], si - 1, BE_DBQ_ROW_NCOLS);
		char *c = el_arena_alloc(a, 64 + 2 * strlen(last->queue_id) + 2 * strlen(sv));
		sprintf(c, "%" PRId64 ".%s.%s.%s", last->first_seen_us,
			PQgetvalue(rs[step], si - 1, BE_DBQ_ROW_NCOLS + 1),
			be_dbq_hex(a, last->queue_id), sort == 0 ? "" : be_dbq_hex(a, sv));
		out->next_cursor = c;
	} else if (rc == 0) {
		out->next_cursor = el_arena_strdup(a, "");
	}
	for (int k = 0; k < BE_DBQ_STEPS; k++)
		PQclear(rs[k]);
	return rc;
}

/* be_db_q_rejects - see be_db_query.h; cursor "TS_US.REJECT_ID" */
int be_db_q_rejects(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Rejects *q,
		    int64_t now_us, Else__RejectsReply *out)
{
	be_dbq_stmt st;
	char role[8];
	int64_t from, to;
	uint32_t limit = q->limit ? q->limit : 100;
	int n, pf, pt, rc;
	PGresult *r;

	memset(&st, 0, sizeof(st));
	el_buf_init(&st.sql);
	be_dbq_scope_params(sc, role, st.p);
	st.n = 4;
	be_dbq_range(q->from_us, q->to_us, now_us, 7 * 86400000000LL, &from, &to);
	pf = be_dbq_num(&st, from);
	pt = be_dbq_num(&st, to);
	be_dbq_add(&st,
		   "SELECT " BE_DBQ_REJ_COLS " FROM rejects j JOIN hosts h ON h.id = "
		   "j.host_id WHERE j.ts >= " BE_DBQ_TS("@"),
		   pf);
	be_dbq_add(&st, " AND j.ts < " BE_DBQ_TS("@"), pt);
	if (be_dbq_set(q->sender))
		be_dbq_add(&st, " AND lower(j.sender) = lower(@)", be_dbq_param(&st, q->sender));
	if (be_dbq_set(q->recipient))
		be_dbq_add(&st, " AND lower(j.rcpt) = lower(@)", be_dbq_param(&st, q->recipient));
	if (be_dbq_set(q->client))
		be_dbq_add(&st, " AND (j.client_ip = @ OR lower(j.client_host) = lower(@))",
			   be_dbq_param(&st, q->client));
	if (be_dbq_set(q->server))
		be_dbq_add(&st, " AND h.name = @", be_dbq_param(&st, q->server));
	if (be_dbq_set(q->reason))
		be_dbq_add(&st, " AND lower(j.reason) LIKE else_like(lower(@), 2)",
			   be_dbq_param(&st, q->reason));
	if (be_dbq_set(q->event))
		be_dbq_add(&st, " AND j.event = @", be_dbq_param(&st, q->event));
	if (be_dbq_set(q->cursor)) {
		char *end;
		int64_t cts = strtoll(q->cursor, &end, 10), cid;
		const char *p2 = end + 1;
		if (end == q->cursor || *end != '.' || cts < 0) {
			el_buf_fini(&st.sql);
			return -EINVAL;
		}
		cid = strtoll(p2, &end, 10);
		if (end == p2 || *end) {
			el_buf_fini(&st.sql);
			return -EINVAL;
		}
		n = be_dbq_num(&st, cts);
		be_dbq_add(&st, " AND (j.ts, j.reject_id) < (" BE_DBQ_TS("@"), n);
		be_dbq_add(&st, ", @::bigint)", be_dbq_num(&st, cid));
	}
	be_dbq_add(&st,
		   " AND else_reject_visible(" BE_DBQ_SCOPE ", j.host_id, j.sender, j.rcpt) "
		   "ORDER BY j.ts DESC, j.reject_id DESC LIMIT @::integer",
		   be_dbq_num(&st, (int64_t)limit + 1));
	el_buf_addc(&st.sql, '\0');
	rc = be_dbq_exec(db, "rejects", st.sql.p, st.n, st.p, &r);
	el_buf_fini(&st.sql);
	if (rc)
		return rc;
	n = PQntuples(r);
	out->n_rows = (size_t)(n > (int)limit ? (int)limit : n);
	out->rows = el_arena_alloc(a, (out->n_rows + 1) * sizeof(*out->rows));
	for (size_t i = 0; i < out->n_rows; i++)
		out->rows[i] = be_dbq_reject_row(a, r, (int)i);
	if (n > (int)limit) {
		char *c = el_arena_alloc(a, 48);
		snprintf(c, 48, "%" PRId64 ".%s", out->rows[limit - 1]->time_us,
			 PQgetvalue(r, (int)limit - 1, 14));
		out->next_cursor = c;
	} else {
		out->next_cursor = el_arena_strdup(a, "");
	}
	PQclear(r);
	return 0;
}

/*
 * be_db_q_stats - see be_db_query.h.  From the rollups of 002_stats.sql and
 * 006_stats_top.sql only (never a scan of messages), in one statement: a row
 * counts for an operator when its host is one of their servers or its domain
 * one of their domains.  Top lists read stats_top_hot, the keys at or above
 * each day's and host's cut (006_stats_top.sql: what a list may miss), except
 * for readers with no domain in their scope: they read the spans of
 * 011_stats_top_span.sql (weeks per host, and weeks and days over every host
 * for a reader who sees every host) for the days spans cover, and
 * stats_top_hot for the others.
 * Parameters: $1..$4 scope, $5 from, $6 to, $7 'hour'/'day', $8 server,
 * $9 domain, $10 top.  Result rows (sec, t, a, b, n): sec 0 messages, 1
 * recipients, 2 rejects (t the bucket, a status or event, b direction), 3
 * per server (a the name), 4 top lists (t the kind 1..7, a the key).
 */
/*
 * The cardinality test folds away in the plan of a reader without servers
 * (the statement is planned with its values), so that the domain indexes of
 * 013_stats_domain_index.sql can serve the domain condition alone.
 */
#define BE_DBQ_STATS_SCOPE(dom)                                                                    \
	"($8 = '' OR host_id = (SELECT id FROM hosts WHERE name = $8)) "                           \
	"AND ($9 = '' OR " dom " = lower($9)) AND ($1::integer = 1 OR ($1::integer = 2 AND "       \
	"((cardinality($2::integer[]) > 0 AND host_id = ANY ($2::integer[])) OR "                  \
	"(" dom " <> '' AND " dom " = ANY ($3::text[]))))) "
#define BE_DBQ_STATS_WHERE(dom)                                                                    \
	"NOT " BE_DBQ_STATS_HOSTONLY " AND hour >= " BE_DBQ_TS("$5") " AND hour < " BE_DBQ_TS(     \
		"$6") " AND " BE_DBQ_STATS_SCOPE(dom)
/* No domain needed (006_stats_top.sql): the series without the domain do. */
#define BE_DBQ_STATS_HOSTONLY "($9 = '' AND ($1::integer = 1 OR $3::text[] = '{}'))"
#define BE_DBQ_STATS_HWHERE                                                                        \
	BE_DBQ_STATS_HOSTONLY " AND hour >= " BE_DBQ_TS("$5") " AND hour < " BE_DBQ_TS(            \
		"$6") " AND ($8 = '' OR host_id = (SELECT id FROM hosts WHERE name = $8)) "        \
		      "AND ($1::integer = 1 OR ($1::integer = 2 AND host_id = ANY "                \
		      "($2::integer[]))) "
#define BE_DBQ_BUCKET BE_DBQ_US("date_trunc($7, hour)")
/* One clause per line: clang-format would split this string a character a line. */
/* clang-format off */
static const char be_dbq_stats_sql[] =
	/* The days of the range, and whether spans may serve (011_stats_top_span.sql). */
	"WITH rg AS (SELECT ("
	BE_DBQ_TS("$5")
	" AT TIME ZONE 'UTC')::date AS f, ("
	BE_DBQ_TS("$6")
	" AT TIME ZONE 'UTC')::date AS l, "
	BE_DBQ_STATS_HOSTONLY
	" AS ho, "
	BE_DBQ_STATS_HOSTONLY
	" AND $8 = '' AND ($1::integer = 1 OR ($1::integer = 2 AND NOT EXISTS "
	"(SELECT 1 FROM hosts WHERE id <> ALL ($2::integer[])))) AS al), "
	/* weeks inside the range with no day changed since their span was made */
	"tw AS (SELECT s.first, s.last FROM stats_top_spans s, rg WHERE rg.ho AND s.days = 7 "
	"AND s.first >= rg.f AND s.last <= rg.l AND NOT EXISTS (SELECT 1 FROM stats_top_dirty d "
	"WHERE d.day BETWEEN s.first AND s.last)), "
	/* then single days over every host, for a reader who sees every host */
	"td AS (SELECT s.first FROM stats_top_spans s, rg WHERE rg.al AND s.days = 1 "
	"AND s.first BETWEEN rg.f AND rg.l AND NOT EXISTS (SELECT 1 FROM tw WHERE s.first "
	"BETWEEN tw.first AND tw.last) AND NOT EXISTS (SELECT 1 FROM stats_top_dirty d "
	"WHERE d.day = s.first)), "
	/* and the hot rows of the other days */
	"hd AS (SELECT g::date AS day FROM rg, generate_series(rg.f, rg.l, interval '1 day') g "
	"WHERE NOT EXISTS (SELECT 1 FROM tw WHERE g::date BETWEEN tw.first AND tw.last) "
	"AND NOT EXISTS (SELECT 1 FROM td WHERE td.first = g::date)) "
	"SELECT sec, t, a, b, n "
	"FROM (SELECT 0 AS sec, "
	BE_DBQ_BUCKET
	" AS t, status AS a, '' AS b, sum(messages)::bigint AS n "
	"FROM stats_msg_host_hourly "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 2, 3 "
	"UNION ALL SELECT 0, "
	BE_DBQ_BUCKET
	", status, '', sum(messages)::bigint "
	"FROM stats_msg_hourly "
	"WHERE "
	BE_DBQ_STATS_WHERE("sender_domain")
	"GROUP BY 2, 3 "
	"UNION ALL SELECT 1, "
	BE_DBQ_BUCKET
	", status, direction, sum(recipients)::bigint "
	"FROM stats_rcpt_host_hourly "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 2, 3, 4 "
	"UNION ALL SELECT 1, "
	BE_DBQ_BUCKET
	", status, direction, sum(recipients)::bigint "
	"FROM stats_rcpt_hourly "
	"WHERE "
	BE_DBQ_STATS_WHERE("rcpt_domain")
	"GROUP BY 2, 3, 4 "
	"UNION ALL SELECT 2, "
	BE_DBQ_BUCKET
	", event, '', sum(rejects)::bigint "
	"FROM stats_reject_host_hourly "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 2, 3 "
	"UNION ALL SELECT 2, "
	BE_DBQ_BUCKET
	", event, '', sum(rejects)::bigint "
	"FROM stats_reject_hourly "
	"WHERE "
	BE_DBQ_STATS_WHERE("rcpt_domain")
	"GROUP BY 2, 3 "
	"UNION ALL (SELECT 3, 0, h.name, '', sum(messages)::bigint "
	"FROM stats_msg_host_hourly s JOIN hosts h ON h.id = s.host_id "
	"WHERE "
	BE_DBQ_STATS_HWHERE
	"GROUP BY 3 "
	"ORDER BY 5 DESC, 3 LIMIT $10::integer) "
	"UNION ALL (SELECT 3, 0, h.name, '', sum(messages)::bigint "
	"FROM stats_msg_hourly s JOIN hosts h ON h.id = s.host_id "
	"WHERE "
	BE_DBQ_STATS_WHERE("sender_domain")
	"GROUP BY 3 "
	"ORDER BY 5 DESC, 3 LIMIT $10::integer) "
	"UNION ALL SELECT 4, kind, key, '', c "
	"FROM (SELECT kind, key, sum(count)::bigint AS c, row_number() OVER (PARTITION BY kind "
	"ORDER BY sum(count) DESC, key) AS rn "
	"FROM (SELECT p.kind, p.key, p.count FROM stats_top_span p JOIN tw ON p.first = tw.first "
	"AND p.days = 7, rg WHERE p.kind BETWEEN 1 AND 7 AND CASE WHEN rg.al THEN p.host_id = 0 "
	"ELSE p.host_id <> 0 AND ($8 = '' OR p.host_id = (SELECT id FROM hosts WHERE name = $8)) "
	"AND ($1::integer = 1 OR ($1::integer = 2 AND p.host_id = ANY ($2::integer[]))) END "
	"UNION ALL SELECT p.kind, p.key, p.count FROM stats_top_span p JOIN td ON "
	"p.first = td.first AND p.days = 1 WHERE p.host_id = 0 AND p.kind BETWEEN 1 AND 7 "
	/* a day at a time (OFFSET 0 keeps the subquery): the plan probes the index */
	"UNION ALL SELECT y.kind, y.key, y.count FROM hd, LATERAL (SELECT kind, key, count "
	"FROM stats_top_hot WHERE day = hd.day AND kind BETWEEN 1 AND 7 AND "
	BE_DBQ_STATS_SCOPE("domain")
	"OFFSET 0) y) z GROUP BY kind, key) x "
	"WHERE rn <= $10::integer AND $4::text[] IS NOT NULL AND $7 <> '') u "
	"ORDER BY sec, t, CASE WHEN sec >= 3 THEN -n END, a, b";
/* clang-format on */

int be_db_q_stats(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Stats *s,
		  int64_t now_us, Else__StatsReply *out)
{
	Else__StatsPoint ***pts[3] = { &out->messages, &out->recipients, &out->rejects };
	size_t *npts[3] = { &out->n_messages, &out->n_recipients, &out->n_rejects };
	/* Section 3 is per_server, 4 + k the top list of kind k (002_stats.sql). */
	Else__TopEntry ***tops[12] = { NULL,
				       NULL,
				       NULL,
				       &out->per_server,
				       NULL,
				       &out->top_senders,
				       &out->top_recipients,
				       &out->top_sender_domains,
				       &out->top_recipient_domains,
				       &out->top_client_ips,
				       &out->top_reject_reasons,
				       &out->top_defer_reasons };
	size_t *ntops[12] = { NULL,
			      NULL,
			      NULL,
			      &out->n_per_server,
			      NULL,
			      &out->n_top_senders,
			      &out->n_top_recipients,
			      &out->n_top_sender_domains,
			      &out->n_top_recipient_domains,
			      &out->n_top_client_ips,
			      &out->n_top_reject_reasons,
			      &out->n_top_defer_reasons };
	size_t cnt[12] = { 0 };
	char role[8], f[24], t[24], top[16];
	const char *p[10];
	int64_t from, to;
	PGresult *r;
	int rc, n;

	be_dbq_scope_params(sc, role, p);
	be_dbq_range(s->from_us, s->to_us, now_us, 86400000000LL, &from, &to);
	snprintf(f, sizeof(f), "%" PRId64, from);
	snprintf(t, sizeof(t), "%" PRId64, to);
	snprintf(top, sizeof(top), "%u", s->top ? s->top : 10);
	p[4] = f;
	p[5] = t;
	p[6] = s->daily ? "day" : "hour";
	p[7] = s->server ? s->server : "";
	p[8] = s->domain ? s->domain : "";
	p[9] = top;
	if ((rc = be_dbq_exec(db, "stats", be_dbq_stats_sql, 10, p, &r)) != 0)
		return rc;
	n = PQntuples(r);
	/* The section of each row: 0..3 as numbered, 4 + kind for the top lists. */
	for (int pass = 0; pass < 2; pass++) {
		size_t at[12] = { 0 };
		for (int i = 0; i < n; i++) {
			int64_t sec = be_dbq_i64(r, i, 0), tv = be_dbq_i64(r, i, 1);
			size_t k = sec == 4 && tv >= 1 && tv <= 7 ? (size_t)(4 + tv) : (size_t)sec;
			if (sec < 0 || sec > 4 || (sec == 4 && k == 4))
				continue; /* not what the statement makes */
			if (pass == 0) {
				cnt[k]++;
			} else if (k < 3) {
				Else__StatsPoint *pt = el_arena_alloc(a, sizeof(*pt));
				else__stats_point__init(pt);
				pt->time_us = tv;
				pt->status = be_dbq_str(a, r, i, 2);
				pt->direction = be_dbq_str(a, r, i, 3);
				pt->count = be_dbq_i64(r, i, 4);
				(*pts[k])[at[k]++] = pt;
			} else {
				Else__TopEntry *e = el_arena_alloc(a, sizeof(*e));
				else__top_entry__init(e);
				e->key = be_dbq_str(a, r, i, 2);
				e->count = be_dbq_i64(r, i, 4);
				(*tops[k])[at[k]++] = e;
			}
		}
		if (pass == 0) {
			for (size_t k = 0; k < 12; k++) {
				if (k < 3) {
					*pts[k] =
						el_arena_alloc(a, (cnt[k] + 1) * sizeof(**pts[k]));
					*npts[k] = cnt[k];
				} else if (k != 4) {
					*tops[k] =
						el_arena_alloc(a, (cnt[k] + 1) * sizeof(**tops[k]));
					*ntops[k] = cnt[k];
				}
			}
		}
	}
	PQclear(r);
	return 0;
}
