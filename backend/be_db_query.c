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
 * the indexed table before joining.  The flow view is in be_db_qflow.c,
 * statistics in be_db_qstats.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_qint.h"
#include "el_json.h"
#include "el_log.h"
#include "el_time.h"

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
int be_dbq_exec(be_db *db, const char *what, const char *sql, int n, const char *const *p,
		PGresult **res)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec(db, what, sql, n, p, NULL, NULL, 0, res);
}

/* be_dbq_gen - run a fixed read with a generic plan (be_db_exec_gen) */
int be_dbq_gen(be_db *db, int slot, const char *what, const char *sql, int n, const char *const *p,
	       PGresult **res)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec_gen(db, slot, what, sql, n, p, NULL, NULL, res);
}

/* be_dbq_row - a MessageRow from columns c..c+BE_DBQ_ROW_NCOLS of row i */
Else__MessageRow *be_dbq_row(el_arena *a, const PGresult *r, int i, int c)
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
	m->n_recipients =
		be_dbq_netstrings(a, PQgetvalue(r, i, c + 7), (size_t)PQgetlength(r, i, c + 7),
				  &m->recipients, BE_DBQ_ROW_RCPTS);
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

/* be_dbq_parse_eid - see be_db_qint.h */
int be_dbq_parse_eid(const char *s, int64_t *out)
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

/* be_dbq_may_qid - could q be a queue ID (no address, Message-ID or space in it)? */
static bool be_dbq_may_qid(const char *q)
{
	return strcspn(q, "@<> \t") == strlen(q);
}

/* be_db_q_quick - see be_db_query.h */
int be_db_q_quick(be_db *db, el_arena *a, const be_db_scope *sc, const char *q, uint32_t limit,
		  Else__SearchReply *out)
{
	char role[8], lim[16];
	const char *p[8];
	int64_t eid;
	PGresult *r;
	int rc;

	be_dbq_scope_params(sc, role, p);
	p[4] = q;
	/* One row over the limit tells that there were more (truncated). */
	snprintf(lim, sizeof(lim), "%u", limit + 1);
	p[5] = lim;
	p[6] = be_dbq_may_qid(q) ? "t" : "f";
	p[7] = be_dbq_parse_eid(q, &eid) == 0 ? "t" : "f";
	/*
	 * The key finds the e-mails (at most 1000); kind 3 keys
	 * then give every day each of them has a transaction on, so all its hops
	 * come back.  Each kind is probed in every monthly partition of
	 * email_keys: a kind the key cannot be ($7, $8: a gate that the
	 * generic plan checks once, before the branch's scans) is not probed:
	 * a Message-ID search saves two index descents per month kept, a cold
	 * read each when that part of the index is not in the cache.  A day's
	 * bounds (lo, hi) are computed once per row of d: written into the
	 * join, each day partition's scan of the generic plan started their
	 * casts and time zone functions at every call (an EXECUTE permission
	 * check each for a role that is not superuser).  The messages of each
	 * day are looked up from d, behind OFFSET 0: joined plainly, the
	 * generic plan could instead read every message in first_seen order
	 * until LIMIT rows matched (it expected thousands of e-mails from k),
	 * which on a freshly loaded 300,000-e-mail state took 95 ms a search
	 * for its one match (bench/search.sh), against 0.3 ms.
	 */
	/* clang-format off */
	static const char sql[] =
		"WITH k AS (SELECT DISTINCT email_id FROM (SELECT email_id FROM email_keys "
		"WHERE kind = 1 AND key IN ($5, '<' || $5 || '>', btrim($5, '<>')) "
		"UNION ALL SELECT email_id FROM email_keys WHERE $7::boolean AND kind = 2 "
		"AND key = $5 UNION ALL SELECT email_id FROM email_keys WHERE $8::boolean "
		"AND kind = 3 AND key = lower($5)) x LIMIT 1000), "
		"d AS (SELECT DISTINCT e.day, e.email_id, " BE_DBQ_DAY_LO("e.day") " AS lo, "
		BE_DBQ_DAY_HI("e.day") " AS hi "
		"FROM k JOIN email_keys e ON e.kind = 3 "
		"AND e.key = lpad(to_hex(k.email_id), 16, '0') AND e.email_id = k.email_id) "
		"SELECT " BE_DBQ_ROW_COLS ", (SELECT count(*) FROM k) >= 1000 "
		"FROM d CROSS JOIN LATERAL (SELECT * FROM messages m WHERE m.email_id = d.email_id "
		"AND m.first_seen >= d.lo AND m.first_seen < d.hi OFFSET 0) m "
		"JOIN hosts h ON h.id = m.host_id WHERE " BE_DBQ_VISIBLE("m.email_id") " "
		"ORDER BY m.first_seen DESC, m.host_id, m.queue_id LIMIT $6::integer";
	/* clang-format on */
	rc = be_dbq_gen(db, BE_DBQ_G_QUICK, "quick search", sql, 8, p, &r);
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

/* be_dbq_reject_row - a RejectRow from columns c.. of BE_DBQ_REJ_COLS */
Else__RejectRow *be_dbq_reject_row(el_arena *a, const PGresult *r, int i)
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

/* be_db_q_day_mark - see be_db_query.h */
int be_db_q_day_mark(be_db *owner)
{
	return be_dbq_exec(owner, "day mark", "SELECT else_day_mark()", 0, NULL, NULL);
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

/*
 * be_dbq_row_cols - BE_DBQ_ROW_COLS for rows whose m.first_seen is within
 * [$pf, $pt): the recipients' subqueries get the range too, and plan on its
 * partitions (4 ms instead of 19 for 7 days of 30).
 */
static void be_dbq_row_cols(be_dbq_stmt *st, int pf, int pt)
{
	char w[256];

	snprintf(
		w, sizeof(w),
		"AND r.first_seen >= " BE_DBQ_TS("$%d") " AND r.first_seen < " BE_DBQ_TS("$%d") " ",
		pf, pt);
	el_buf_addlit(&st->sql, BE_DBQ_ROW_COLS_A);
	el_buf_add(&st->sql, w, strlen(w));
	el_buf_addlit(&st->sql, BE_DBQ_ROW_COLS_B);
	el_buf_add(&st->sql, w, strlen(w));
	el_buf_addlit(&st->sql, BE_DBQ_ROW_COLS_C);
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

/* The UTC day of microseconds parameter @ */
#define BE_DBQ_PDAY "(timestamp 'epoch' + (@)::bigint * interval '1 us')::date"

/*
 * be_dbq_amatch - be_dbq_match on an address, kind BE_DB_KEY_SENDER or
 * BE_DB_KEY_RCPT of sql/018 (0: not one), of rows in [pf, pt).  A substring
 * first finds the addresses of those days that contain it (their trigram
 * index), then the rows by the btree on lower(): the rows have no trigram
 * index of their own.
 */
static void be_dbq_amatch(be_dbq_stmt *st, const char *expr, int kind, int n, int mode, int pf,
			  int pt)
{
	if (mode == ELSE__MATCH__MATCH_SUBSTRING && kind) {
		el_buf_add(&st->sql, expr, strlen(expr));
		el_buf_addlit(&st->sql, " IN (SELECT a.addr FROM addresses a WHERE a.kind = ");
		el_buf_addc(&st->sql, kind == BE_DB_KEY_SENDER ? '4' : '5');
		be_dbq_add(st, " AND a.day >= " BE_DBQ_PDAY, pf);
		be_dbq_add(st, " AND a.day <= " BE_DBQ_PDAY, pt);
		be_dbq_add(st, " AND a.addr LIKE else_like(lower(@), 2)) AND ", n);
	}
	be_dbq_match(st, expr, n, mode);
}

/* be_dbq_set - a non-empty string field */
static bool be_dbq_set(const char *s)
{
	return s && s[0];
}

/* be_dbq_range - default time range: [to - def, to), to = now */
void be_dbq_range(int64_t from, int64_t to, int64_t now, int64_t def, int64_t *f, int64_t *t)
{
	*t = to ? to : now;
	*f = from ? from : *t - def;
}

/* The last microsecond of year 9999: no cursor's time is later. */
#define BE_DBQ_MAX_US 253402300799999999LL

/* be_dbq_is_count - see be_db_qint.h */
bool be_dbq_is_count(const char *s)
{
	size_t n = strspn(s, "0123456789");

	return n >= 1 && n <= 18 && s[n] == '\0';
}

/*
 * be_dbq_cursor - "FIRST_US.HOST_ID.QID_HEX.SORT_HEX" of the last row: the
 * keyset of the next page.  Parsed strictly; -EINVAL otherwise: a time past
 * year 9999 (the time windows add to it), a queue ID or sort value that is
 * not UTF-8 text (PostgreSQL would refuse it: a server error, not the
 * caller's).
 */
static int be_dbq_cursor_parse(el_arena *a, const char *c, int64_t *us, int64_t *host, char **qid,
			       char **sortv)
{
	const char *p = c;
	char *end;
	char *parts[2];

	errno = 0;
	*us = strtoll(p, &end, 10);
	if (end == p || *end != '.' || *us < 0 || errno == ERANGE || *us > BE_DBQ_MAX_US)
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
		parts[k][n / 2] = '\0';
		if (!el_utf8_valid(parts[k], n / 2))
			return -EINVAL;
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

/* be_dbq_cursor_make - the cursor be_dbq_cursor_parse reads (sortv NULL: none) */
static char *be_dbq_cursor_make(el_arena *a, int64_t us, const char *host, const char *qid,
				const char *sortv)
{
	const char *qh = be_dbq_hex(a, qid), *sh = sortv ? be_dbq_hex(a, sortv) : "";
	size_t cap = 48 + strlen(host) + strlen(qh) + strlen(sh);
	char *c = el_arena_alloc(a, cap);

	snprintf(c, cap, "%" PRId64 ".%s.%s.%s", us, host, qh, sh);
	return c;
}

/*
 * be_db_q_tail - see be_db_query.h.  The cursor is "UPDATED_US.HOST_ID.
 * QID_HEX." of the newest row returned (the form of be_dbq_cursor, no sort
 * value); rows written (or rewritten) after it come next, in that order.
 * updated_at alone is not a key: every row of a flows transaction shares
 * it, and a poll that cut a batch there skipped the rest.  A cursor of
 * digits only (UPDATED_US, older frontends) still means "newer than".
 * Only the last two days of transactions are looked at.
 */
int be_db_q_tail(be_db *db, el_arena *a, const be_db_scope *sc, const Else__Tail *t,
		 Else__TailReply *out)
{
	char role[8], lim[16], since[24], ub[24], hb[24];
	const char *p[9] = { NULL };
	int64_t cus = 0, chost = 0;
	char *cqid = NULL, *csort = NULL;
	PGresult *r;
	int rc, n;

	be_dbq_scope_params(sc, role, p);
	if (t->cursor && t->cursor[0] && be_dbq_is_count(t->cursor)) {
		p[4] = t->cursor;
	} else if (t->cursor && t->cursor[0]) {
		if (be_dbq_cursor_parse(a, t->cursor, &cus, &chost, &cqid, &csort) != 0 ||
		    csort[0] != '\0')
			return -EINVAL;
		snprintf(ub, sizeof(ub), "%" PRId64, cus);
		snprintf(hb, sizeof(hb), "%" PRId64, chost);
		p[4] = ub;
		p[7] = hb;
		p[8] = cqid;
	}
	snprintf(lim, sizeof(lim), "%u", t->limit);
	p[5] = lim;
	/* The last two days, a constant for the planner (see BE_DBQ_TS). */
	snprintf(since, sizeof(since), "%" PRId64,
		 el_now_us(CLOCK_REALTIME) - 2 * 86400 * INT64_C(1000000));
	p[6] = since;
/* clang-format off */
#define BE_DBQ_SINCE "AND r.first_seen > " BE_DBQ_TS("$7") " "
#define BE_DBQ_TAIL(order)                                                                         \
	"SELECT * FROM (SELECT " BE_DBQ_ROW_COLS_A BE_DBQ_SINCE BE_DBQ_ROW_COLS_B                  \
	BE_DBQ_SINCE BE_DBQ_ROW_COLS_C ", " BE_DBQ_US("m.updated_at") " AS u, "                    \
	"m.host_id AS th, m.queue_id AS tq "                                                       \
	"FROM messages m JOIN hosts h ON h.id = m.host_id "                                        \
	"WHERE m.first_seen > " BE_DBQ_TS("$7") " "                                                \
	"AND ($5::bigint IS NULL OR ($8::integer IS NULL AND m.updated_at > " BE_DBQ_TS("$5") ") " \
	"OR (m.updated_at, m.host_id, m.queue_id) > (" BE_DBQ_TS("$5") ", $8::integer, $9::text)) " \
	"AND " BE_DBQ_VISIBLE("m.email_id") " ORDER BY " order " LIMIT $6::integer) x "            \
	"ORDER BY u, th, tq"
	/* Both orders read the index messages_updated (sql/016), one backward. */
	static const char newest[] = BE_DBQ_TAIL("m.updated_at DESC, m.host_id DESC, m.queue_id DESC");
	static const char after[] = BE_DBQ_TAIL("m.updated_at, m.host_id, m.queue_id");
/* clang-format on */
#undef BE_DBQ_TAIL
#undef BE_DBQ_SINCE
	rc = be_dbq_exec(db, "tail", p[4] ? after : newest, 9, p, &r);
	if (rc)
		return rc;
	n = PQntuples(r);
	out->n_rows = be_dbq_rows(a, r, 0, (size_t)n, &out->rows);
	out->cursor = n ? be_dbq_cursor_make(a, be_dbq_i64(r, n - 1, BE_DBQ_ROW_NCOLS),
					     PQgetvalue(r, n - 1, BE_DBQ_ROW_NCOLS + 1),
					     PQgetvalue(r, n - 1, BE_DBQ_ROW_NCOLS + 2), NULL)
			: el_arena_strdup(a, t->cursor ? t->cursor : "");
	PQclear(r);
	return 0;
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
	el_buf_addlit(&st.sql, "SELECT ");
	be_dbq_row_cols(&st, pf, pt);
	el_buf_addlit(&st.sql, ", ");
	el_buf_add(&st.sql, sortexpr[sort], strlen(sortexpr[sort]));
	el_buf_addlit(&st.sql, "::text, m.host_id FROM ");
	size_t at_from = st.sql.len;
	be_dbq_add(&st,
		   "messages m JOIN hosts h ON h.id = m.host_id "
		   "WHERE m.first_seen >= " BE_DBQ_TS("@"),
		   pf);
	be_dbq_add(&st, " AND m.first_seen < " BE_DBQ_TS("@"), pt);
	/*
	 * Recipient conditions: (first_seen, host, queue ID) of matching
	 * recipients, same days.  A mailbox user matches only recipients they
	 * may see (BE_DBQ_OWN_R), or recipient=x would tell them whether x got
	 * a message they got: a Bcc, spelt out letter by letter with a prefix.
	 */
	const char *own_r = sc->role == ELSE__ROLE__ROLE_MAILBOX ? " AND " BE_DBQ_OWN_R : "";
#define RCPT_IN(cond)                                                                              \
	do {                                                                                       \
		be_dbq_add(&st,                                                                    \
			   "(m.first_seen, m.host_id, m.queue_id) IN (SELECT r.first_seen, "       \
			   "r.host_id, r.queue_id FROM recipients r WHERE r.first_seen "           \
			   ">= " BE_DBQ_TS("@"),                                                   \
			   pf);                                                                    \
		be_dbq_add(&st, " AND r.first_seen < " BE_DBQ_TS("@") " AND ", pt);                \
		cond;                                                                              \
		el_buf_add(&st.sql, own_r, strlen(own_r));                                         \
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
		bool addr;  /* m1 and x are senders, r a recipient: be_dbq_amatch */
	} names[] = {
		{ offsetof(Else__Search, sender), "lower(m.sender)", NULL, NULL, NULL, true, true },
		{ offsetof(Else__Search, recipient), NULL, NULL, "lower(r.rcpt)", NULL, true,
		  true },
		{ offsetof(Else__Search, address), "lower(m.sender)", NULL, "lower(r.rcpt)",
		  "lower(x.sender)", true, true },
		{ offsetof(Else__Search, domain), "else_domain(m.sender)", NULL,
		  "else_domain(r.rcpt)", "else_domain(x.sender)", true, false },
		{ offsetof(Else__Search, client), "lower(m.client_ip)", "lower(m.client_host)",
		  NULL, NULL, true, false },
		{ offsetof(Else__Search, server), "lower(h.name)", NULL, NULL, NULL, false, false },
		{ offsetof(Else__Search, sasl_username), "lower(m.sasl_username)", NULL, NULL, NULL,
		  true, false },
	};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		const char *v = *(char *const *)((const char *)s + names[k].off);
		int ks = names[k].addr ? BE_DB_KEY_SENDER : 0;
		int kr = names[k].addr ? BE_DB_KEY_RCPT : 0;
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
			be_dbq_amatch(&st, names[k].x, ks, n, mode, pf, pt);
			el_buf_addlit(&st.sql,
				      " UNION ALL SELECT r.first_seen, r.host_id, r.queue_id "
				      "FROM recipients r WHERE r.first_seen >= ");
			be_dbq_add(&st, BE_DBQ_TS("@"), pf);
			be_dbq_add(&st, " AND r.first_seen < " BE_DBQ_TS("@") " AND ", pt);
			be_dbq_amatch(&st, names[k].r, kr, n, mode, pf, pt);
			el_buf_add(&st.sql, own_r, strlen(own_r));
			el_buf_addc(&st.sql, ')');
			continue;
		}
		el_buf_addlit(&st.sql, " AND (");
		if (names[k].m1)
			be_dbq_amatch(&st, names[k].m1, ks, n, mode, pf, pt);
		if (names[k].m2) {
			el_buf_addlit(&st.sql, " OR ");
			be_dbq_match(&st, names[k].m2, n, mode);
		}
		if (names[k].r) {
			if (names[k].m1)
				el_buf_addlit(&st.sql, " OR ");
			RCPT_IN(be_dbq_amatch(&st, names[k].r, kr, n, mode, pf, pt));
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
		if (be_dbq_cursor_parse(a, s->cursor, &cus, &chost, &cqid, &csort) != 0 ||
		    (sort == ELSE__SORT_KEY__SORT_SIZE && !be_dbq_is_count(csort))) {
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
		out->next_cursor = be_dbq_cursor_make(
			a, last->first_seen_us, PQgetvalue(rs[step], si - 1, BE_DBQ_ROW_NCOLS + 1),
			last->queue_id,
			sort == 0 ? NULL : PQgetvalue(rs[step], si - 1, BE_DBQ_ROW_NCOLS));
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
