/*
 * be_db_auth - users, sessions, login throttling, groups, the audit log and
 * search history of the query service (sql/003_users.sql).  See
 * be_db_query.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_qint.h"
#include "el_log.h"

/* be_dbq_i64s - decimal text of v into buf */
static const char *be_dbq_i64s(char buf[24], int64_t v)
{
	snprintf(buf, 24, "%" PRId64, v);
	return buf;
}

/* be_dba_exec - be_db_exec in text format after the readiness check */
static int be_dba_exec(be_db *db, const char *what, const char *sql, int n, const char *const *p,
		       PGresult **res)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec(db, what, sql, n, p, NULL, NULL, 0, res);
}

/* be_dba_exec_bin - as be_dba_exec, the parameters with explicit lengths and formats */
static int be_dba_exec_bin(be_db *db, const char *what, const char *sql, int n,
			   const char *const *p, const int *lens, const int *fmts, PGresult **res)
{
	int rc = be_db_ready(db);

	return rc ? rc : be_db_exec(db, what, sql, n, p, lens, fmts, 0, res);
}

/* be_dba_count - the number (first column of the one row) a statement returns */
static int be_dba_count(be_db *db, const char *what, const char *sql, int n, const char *const *p,
			int64_t *count)
{
	PGresult *r;
	int rc = be_dba_exec(db, what, sql, n, p, &r);

	if (rc)
		return rc;
	*count = PQntuples(r) == 1 ? be_dbq_i64(r, 0, 0) : 0;
	PQclear(r);
	return 0;
}

/* be_dba_id - the id of the one row a statement (... RETURNING id) touched; -ENOENT: none */
static int be_dba_id(be_db *db, const char *what, const char *sql, int n, const char *const *p,
		     int64_t *id)
{
	PGresult *r;
	int rc = be_dba_exec(db, what, sql, n, p, &r);

	if (rc)
		return rc;
	rc = PQntuples(r) == 1 ? 0 : -ENOENT;
	if (rc == 0 && id)
		*id = be_dbq_i64(r, 0, 0);
	PQclear(r);
	return rc;
}

/* be_db_auth_setup - see be_db_query.h */
int be_db_auth_setup(be_db *db, int timeout_ms)
{
	char v[24];
	const char *p[1] = { be_dbq_i64s(v, timeout_ms) };

	return be_dba_exec(db, "query setup",
			   "SELECT set_config('statement_timeout', $1, false), "
			   "set_config('synchronous_commit', 'off', false)",
			   1, p, NULL);
}

/* be_db_auth_user_pw - see be_db_query.h */
int be_db_auth_user_pw(be_db *db, const char *name, int64_t *id, int *role, bool *disabled,
		       char *kdf, size_t kdfcap)
{
	const char *p[1] = { name };
	PGresult *r;
	int rc;

	rc = be_dba_exec(db, "login",
			 "SELECT id, role, disabled, password FROM users WHERE name = $1", 1, p,
			 &r);
	if (rc)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -ENOENT;
	}
	*id = be_dbq_i64(r, 0, 0);
	*role = (int)be_dbq_i64(r, 0, 1);
	*disabled = be_dbq_bool(r, 0, 2);
	snprintf(kdf, kdfcap, "%s", PQgetvalue(r, 0, 3));
	PQclear(r);
	return 0;
}

/* be_db_auth_throttle - see be_db_query.h */
int be_db_auth_throttle(be_db *db, const char *name, const char *ip, int64_t window_s,
			int64_t *fails_user, int64_t *fails_ip, int64_t *retry_user_s,
			int64_t *retry_ip_s)
{
	char w[24];
	const char *p[3] = { name, ip, be_dbq_i64s(w, window_s) };
	PGresult *r;
	int rc;

	rc = be_dba_exec(
		db, "throttle",
		"SELECT count(*) FILTER (WHERE kind = 1 AND key = $1), "
		"count(*) FILTER (WHERE kind = 2 AND key = $2), "
		"coalesce(ceil(extract(epoch FROM min(ts) FILTER (WHERE kind = 1 AND key = $1) "
		"+ $3::bigint * interval '1 second' - now())), 0)::bigint, "
		"coalesce(ceil(extract(epoch FROM min(ts) FILTER (WHERE kind = 2 AND key = $2) "
		"+ $3::bigint * interval '1 second' - now())), 0)::bigint "
		"FROM login_failures WHERE ((kind = 1 AND key = $1) OR (kind = 2 AND key = $2)) "
		"AND ts > now() - $3::bigint * interval '1 second'",
		3, p, &r);
	if (rc)
		return rc;
	*fails_user = be_dbq_i64(r, 0, 0);
	*fails_ip = be_dbq_i64(r, 0, 1);
	*retry_user_s = be_dbq_i64(r, 0, 2);
	*retry_ip_s = be_dbq_i64(r, 0, 3);
	PQclear(r);
	return 0;
}

/* be_db_auth_failed - see be_db_query.h */
int be_db_auth_failed(be_db *db, const char *name, const char *ip)
{
	const char *p[2] = { name, ip };

	return be_dba_exec(db, "login failure",
			   "WITH old AS (DELETE FROM login_failures "
			   "WHERE ts < now() - interval '1 day') "
			   "INSERT INTO login_failures (kind, key) VALUES (1, $1), (2, $2)",
			   2, p, NULL);
}

/* be_db_auth_session_new - see be_db_query.h */
int be_db_auth_session_new(be_db *db, int64_t user_id, const uint8_t hash[32], const char *csrf,
			   const char *ip, const char *ua, const char *name)
{
	char id[24];
	const char *p[6] = { be_dbq_i64s(id, user_id), (const char *)hash, csrf, ip, ua, name };
	int lens[6] = { 0, 32, 0, 0, 0, 0 }, fmts[6] = { 0, 1, 0, 0, 0, 0 };

	return be_dba_exec_bin(db, "session",
			       "WITH s AS (INSERT INTO sessions (token_hash, user_id, csrf, "
			       "client_ip, user_agent) "
			       "VALUES ($2, $1::bigint, $3, $4, $5)), "
			       "f AS (DELETE FROM login_failures WHERE kind = 1 AND key = $6) "
			       "UPDATE users SET last_login = now() WHERE id = $1::bigint",
			       6, p, lens, fmts, NULL);
}

/* be_db_auth_session - see be_db_query.h */
int be_db_auth_session(be_db *db, const uint8_t hash[32], int64_t idle_s, int64_t max_s,
		       el_arena *a, be_db_session *s)
{
	char i1[24], i2[24];
	const char *p[3] = { (const char *)hash, be_dbq_i64s(i1, idle_s), be_dbq_i64s(i2, max_s) };
	int lens[3] = { 32, 0, 0 }, fmts[3] = { 1, 0, 0 };
	PGresult *r;
	int rc;

	/*
	 * One statement: read a live session with its user's scope, and slide
	 * its last_used when it is older than a twentieth of the idle time, so
	 * that most requests write nothing (the idle limit then counts from up
	 * to 5 % earlier; expires_us says when).  An expired session is deleted by the next statement.
	 */
	rc = be_db_ready(db);
	if (rc)
		return rc;
	rc = be_db_exec_gen(
		db, BE_DBQ_G_SESSION, "session",
		"WITH s AS (SELECT user_id, csrf, created_at, last_used FROM sessions "
		"WHERE token_hash = $1 AND last_used > now() - $2::bigint * interval '1 second' "
		"AND created_at > now() - $3::bigint * interval '1 second'), "
		"t AS (UPDATE sessions x SET last_used = now() FROM s WHERE x.token_hash = $1 "
		"AND s.last_used < now() - $2::bigint * interval '50 milliseconds') "
		"SELECT u.id, u.name, sc.role, s.csrf, " BE_DBQ_US(
			"least(CASE WHEN s.last_used < now() - $2::bigint * interval '50 "
			"milliseconds' "
			"THEN now() ELSE s.last_used END + $2::bigint * interval '1 second', "
			"s.created_at + $3::bigint * interval '1 second')") ", "
									    "sc.hosts::text, "
									    "sc.domains::text, "
									    "sc.addrs::text "
									    "FROM s JOIN users u "
									    "ON u.id = s.user_id "
									    "CROSS JOIN LATERAL "
									    "else_scope(u.id) sc "
									    "WHERE NOT u.disabled",
		3, p, lens, fmts, &r);
	if (rc)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		rc = be_dba_exec_bin(db, "session",
				     "DELETE FROM sessions WHERE token_hash = $1 OR last_used < "
				     "now() - $2::bigint * interval '1 second' OR created_at < "
				     "now() - $3::bigint * interval '1 second'",
				     3, p, lens, fmts, NULL);
		return rc ? rc : -ENOENT;
	}
	memset(s, 0, sizeof(*s));
	s->user_id = be_dbq_i64(r, 0, 0);
	snprintf(s->name, sizeof(s->name), "%s", PQgetvalue(r, 0, 1));
	s->role = (int)be_dbq_i64(r, 0, 2);
	snprintf(s->csrf, sizeof(s->csrf), "%s", PQgetvalue(r, 0, 3));
	s->expires_us = be_dbq_i64(r, 0, 4);
	s->scope.role = s->role;
	s->scope.hosts = be_dbq_str(a, r, 0, 5);
	s->scope.domains = be_dbq_str(a, r, 0, 6);
	s->scope.addrs = be_dbq_str(a, r, 0, 7);
	PQclear(r);
	return 0;
}

/* be_db_auth_session_end - see be_db_query.h */
int be_db_auth_session_end(be_db *db, const uint8_t hash[32])
{
	const char *p[1] = { (const char *)hash };
	int lens[1] = { 32 }, fmts[1] = { 1 };

	return be_dba_exec_bin(db, "logout", "DELETE FROM sessions WHERE token_hash = $1", 1, p,
			       lens, fmts, NULL);
}

/* be_db_auth_password - see be_db_query.h */
int be_db_auth_password(be_db *db, int64_t user_id, const char *kdf, const uint8_t *keep)
{
	static const uint8_t none[32];
	char id[24];
	const char *p[3] = { be_dbq_i64s(id, user_id), kdf, (const char *)(keep ? keep : none) };
	int lens[3] = { 0, 0, 32 }, fmts[3] = { 0, 0, 1 };
	PGresult *r;
	int rc;

	rc = be_dba_exec_bin(db, "password",
			     "WITH u AS (UPDATE users SET password = $2, password_changed = now() "
			     "WHERE id = $1::bigint RETURNING id), "
			     "s AS (DELETE FROM sessions WHERE user_id = $1::bigint AND "
			     "token_hash <> $3) SELECT count(*) FROM u",
			     3, p, lens, fmts, &r);
	if (rc)
		return rc;
	rc = be_dbq_i64(r, 0, 0) == 1 ? 0 : -ENOENT;
	PQclear(r);
	return rc;
}

/* be_dba_i64_list - "{1,2,3}" (a bigint[] literal from the database) into an arena array */
static size_t be_dba_i64_list(el_arena *a, const char *s, int64_t **out)
{
	size_t n = 0, cap = 0;
	const char *p;

	for (p = s; *p; p++)
		cap += *p == ',';
	*out = el_arena_alloc(a, (cap + 1) * sizeof(int64_t));
	for (p = s; *p;) {
		char *end;
		if (*p == '{' || *p == ',' || *p == '}') {
			p++;
			continue;
		}
		int64_t v = strtoll(p, &end, 10);
		if (end == p)
			break;
		if (n <= cap)
			(*out)[n++] = v;
		p = end;
	}
	return n;
}

/* be_dba_userinfo_row - a UserInfo from a row of BE_DBA_USER_COLS */
#define BE_DBA_USER_COLS                                                                           \
	"u.id, u.name, u.role, u.full_name, u.disabled, " BE_DBQ_US(                               \
		"u.created_at") ", "                                                               \
				"coalesce(" BE_DBQ_US(                                             \
					"u.last_login") ", 0), "                                   \
							"(SELECT string_agg(octet_length(x) || "   \
							"':' || x, '') FROM unnest(u.addresses) "  \
							"x), "                                     \
							"coalesce((SELECT array_agg(group_id "     \
							"ORDER BY group_id) FROM user_groups "     \
							"WHERE user_id = u.id)::text, '{}')"
static void be_dba_userinfo_row(el_arena *a, const PGresult *r, int i, Else__UserInfo *u)
{
	else__user_info__init(u);
	u->id = be_dbq_i64(r, i, 0);
	u->name = be_dbq_str(a, r, i, 1);
	u->role = (Else__Role)be_dbq_i64(r, i, 2);
	u->full_name = be_dbq_str(a, r, i, 3);
	u->disabled = be_dbq_bool(r, i, 4);
	u->created_us = be_dbq_i64(r, i, 5);
	u->last_login_us = be_dbq_i64(r, i, 6);
	u->n_addresses = be_dbq_netstrings(a, PQgetvalue(r, i, 7), (size_t)PQgetlength(r, i, 7),
					   &u->addresses, 1000);
	u->n_group_ids = be_dba_i64_list(a, PQgetvalue(r, i, 8), &u->group_ids);
}

/* be_db_auth_userinfo - see be_db_query.h */
int be_db_auth_userinfo(be_db *db, el_arena *a, int64_t user_id, Else__UserInfo *out)
{
	char id[24];
	const char *p[1] = { be_dbq_i64s(id, user_id) };
	PGresult *r;
	int rc;

	rc = be_dba_exec(db, "user", "SELECT " BE_DBA_USER_COLS " FROM users u WHERE u.id = $1", 1,
			 p, &r);
	if (rc)
		return rc;
	if (PQntuples(r) != 1)
		rc = -ENOENT;
	else
		be_dba_userinfo_row(a, r, 0, out);
	PQclear(r);
	return rc;
}

/* be_db_auth_audit - see be_db_query.h */
int be_db_auth_audit(be_db *db, int64_t user_id, const char *user, const char *ip,
		     const char *action, const char *detail, bool durable)
{
	char id[24];
	const char *p[6] = { user_id ? be_dbq_i64s(id, user_id) : NULL,
			     user ? user : "",
			     ip ? ip : "",
			     action,
			     detail ? detail : "",
			     durable ? "on" : "off" };

	/*
	 * set_config(..., true) lasts until the end of this statement's own
	 * transaction, whose commit then waits for the WAL flush when durable.
	 */
	return be_dba_exec(db, "audit",
			   "INSERT INTO audit_log (user_id, user_name, client_ip, action, detail) "
			   "SELECT $1::bigint, $2, $3, $4, $5 "
			   "WHERE set_config('synchronous_commit', $6, true) IS NOT NULL",
			   6, p, NULL);
}

/*
 * The search log's statement.  The trim sees the history as it was before
 * this statement (one snapshot): a user keeps at most keep + one batch of
 * entries.  A user deleted since the search has no history left to add to;
 * the audit record stays.  c is MATERIALIZED so that each user's cut is
 * found once, not once per history row.
 */
#define BE_DBA_LOG_TS "('epoch'::timestamptz + r.t * interval '1 microsecond')"
static const char be_dba_search_log_sql[] =
	"WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(u bigint, t bigint, "
	"c integer, n text, ip text, a text, d text, k text, q text)), "
	"h AS (INSERT INTO search_history (user_id, ts, kind, query_json, results) "
	"SELECT r.u, " BE_DBA_LOG_TS ", r.k, r.q, r.c FROM r "
	"WHERE r.k <> '' AND EXISTS (SELECT 1 FROM users x WHERE x.id = r.u) ORDER BY r.t), "
	"a AS (INSERT INTO audit_log (ts, user_id, user_name, client_ip, action, detail) "
	"SELECT " BE_DBA_LOG_TS ", r.u, r.n, r.ip, r.a, r.d FROM r ORDER BY r.t), "
	"c AS MATERIALIZED (SELECT w.u, (SELECT x.id FROM search_history x WHERE x.user_id = w.u "
	"ORDER BY x.id DESC OFFSET $2::integer LIMIT 1) AS cut FROM (SELECT DISTINCT u FROM r) w) "
	"DELETE FROM search_history s USING c WHERE s.user_id = c.u AND s.id <= c.cut";

/* be_db_auth_search_log - see be_db_query.h */
int be_db_auth_search_log(be_db *db, const char *batch, int keep)
{
	char k[24];
	const char *p[2] = { batch, be_dbq_i64s(k, keep) };
	int rc = be_db_ready(db);

	return rc ? rc
		  : be_db_exec_gen(db, BE_DBQ_G_SEARCH_LOG, "search log", be_dba_search_log_sql, 2,
				   p, NULL, NULL, NULL);
}

/* be_db_auth_history - see be_db_query.h */
int be_db_auth_history(be_db *db, el_arena *a, int64_t user_id, uint32_t limit,
		       Else__HistoryReply *out)
{
	char id[24], l[24];
	const char *p[2] = { be_dbq_i64s(id, user_id), be_dbq_i64s(l, limit) };
	PGresult *r;
	int rc;

	rc = be_dba_exec(db, "history",
			 "SELECT (extract(epoch FROM ts) * 1000000)::bigint AS time_us, kind, "
			 "query_json, results FROM search_history WHERE user_id = $1::bigint "
			 "ORDER BY id DESC LIMIT $2::integer",
			 2, p, &r);
	if (rc)
		return rc;
	out->n_entries =
		be_dbq_fill(a, r, &else__history_entry__descriptor, (void ***)&out->entries);
	PQclear(r);
	return 0;
}

/* be_db_auth_audit_list - see be_db_query.h; the cursor is the last id seen */
int be_db_auth_audit_list(be_db *db, el_arena *a, uint32_t limit, const char *cursor,
			  Else__AuditReply *out)
{
	char l[24];
	const char *p[2] = { cursor && cursor[0] ? cursor : NULL, be_dbq_i64s(l, limit) };
	PGresult *r;
	int rc, n;

	if (p[0] && !be_dbq_is_count(p[0]))
		return -EINVAL;
	rc = be_dba_exec(db, "audit",
			 "SELECT id, (extract(epoch FROM ts) * 1000000)::bigint AS time_us, "
			 "user_name AS user, client_ip, action, detail FROM audit_log "
			 "WHERE ($1::bigint IS NULL OR id < $1::bigint) ORDER BY id DESC "
			 "LIMIT $2::integer",
			 2, p, &r);
	if (rc)
		return rc;
	n = (int)be_dbq_fill(a, r, &else__audit_entry__descriptor, (void ***)&out->entries);
	out->n_entries = (size_t)n;
	out->next_cursor =
		n == (int)limit && n > 0 ? be_dbq_str(a, r, n - 1, 0) : el_arena_strdup(a, "");
	PQclear(r);
	return 0;
}

/* be_db_auth_user_list - see be_db_query.h */
int be_db_auth_user_list(be_db *db, el_arena *a, Else__UserListReply *out)
{
	PGresult *r;
	int rc, n;

	rc = be_dba_exec(db, "users",
			 "SELECT " BE_DBA_USER_COLS " FROM users u ORDER BY u.name LIMIT 10000", 0,
			 NULL, &r);
	if (rc)
		return rc;
	n = PQntuples(r);
	out->n_users = (size_t)n;
	out->users = el_arena_alloc(a, (size_t)n * sizeof(*out->users) + 1);
	for (int i = 0; i < n; i++) {
		out->users[i] = el_arena_alloc(a, sizeof(Else__UserInfo));
		be_dba_userinfo_row(a, r, i, out->users[i]);
	}
	PQclear(r);
	return 0;
}

/* be_dba_text_array - a text[] literal of strs, each quoted and escaped */
static char *be_dba_text_array(el_arena *a, char **strs, size_t n, int lower)
{
	size_t len = 3;
	char *out, *o;

	for (size_t i = 0; i < n; i++)
		len += 2 * strlen(strs[i]) + 3;
	o = out = el_arena_alloc(a, len);
	*o++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*o++ = ',';
		*o++ = '"';
		for (const char *c = strs[i]; *c; c++) {
			char ch = *c;
			if (lower && ch >= 'A' && ch <= 'Z')
				ch = (char)(ch - 'A' + 'a');
			if (ch == '"' || ch == '\\')
				*o++ = '\\';
			*o++ = ch;
		}
		*o++ = '"';
	}
	*o++ = '}';
	*o = '\0';
	return out;
}

/* be_dba_i64_array - a bigint[] literal */
static char *be_dba_i64_array(el_arena *a, const int64_t *v, size_t n)
{
	char *out = el_arena_alloc(a, n * 21 + 3), *o = out;

	*o++ = '{';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, "%s%" PRId64, i ? "," : "", v[i]);
	*o++ = '}';
	*o = '\0';
	return out;
}

/* be_dba_admins - how many enabled admins there are */
static int be_dba_admins(be_db *db, int64_t *n)
{
	return be_dba_count(db, "admins",
			    "SELECT count(*) FROM users WHERE role = 1 AND NOT disabled", 0, NULL,
			    n);
}

/* be_dba_admin_begin - a transaction holding BE_DB_LOCK_ADMIN; *admins: enabled ones now */
static int be_dba_admin_begin(be_db *db, int64_t *admins)
{
	int rc = be_db_begin(db);

	if (rc)
		return rc;
	rc = be_dba_exec(db, "admin lock", "SELECT pg_advisory_xact_lock(" BE_DB_LOCK_ADMIN ")", 0,
			 NULL, NULL);
	if (rc == 0)
		rc = be_dba_admins(db, admins);
	if (rc)
		be_db_rollback(db);
	return rc;
}

/*
 * be_dba_admin_end - commit when rc is 0 and the change left an enabled
 * admin (if there was one before: the first is made by else-backend
 * --create-admin); otherwise roll back.  -EPERM: it would have left none.
 */
static int be_dba_admin_end(be_db *db, int rc, int64_t before)
{
	int64_t after = 0;

	if (rc == 0 && before > 0 && (rc = be_dba_admins(db, &after)) == 0 && after == 0)
		rc = -EPERM;
	if (rc) {
		be_db_rollback(db);
		return rc;
	}
	return be_db_commit(db);
}

/* be_db_auth_user_put - see be_db_query.h */
int be_db_auth_user_put(be_db *db, const Else__UserInfo *u, const char *kdf, int64_t *id)
{
	el_arena a;
	char ib[24], rb[24];
	int64_t taken = 0, admins = 0;
	int rc = be_dba_admin_begin(db, &admins);

	if (rc)
		return rc;
	el_arena_init(&a);
	const char *p[7] = { u->id ? be_dbq_i64s(ib, u->id) : NULL,
			     u->name,
			     be_dbq_i64s(rb, u->role),
			     u->full_name ? u->full_name : "",
			     u->disabled ? "true" : "false",
			     be_dba_text_array(&a, u->addresses, u->n_addresses, 1),
			     kdf };
	const char *g[2] = { NULL, be_dba_i64_array(&a, u->group_ids, u->n_group_ids) };
	/* Names must be free: a clash is Q_CONFLICT, found before the server refuses. */
	const char *q[2] = { u->name, p[0] };
	rc = be_dba_count(db, "user put",
			  "SELECT count(*) FROM users WHERE name = $1 AND "
			  "($2::bigint IS NULL OR id <> $2::bigint)",
			  2, q, &taken);
	if (rc == 0 && taken > 0)
		rc = -EEXIST;
	if (rc)
		goto out;
	q[0] = g[1];
	q[1] = NULL;
	rc = be_dba_count(db, "user put",
			  "SELECT count(*) FROM unnest($1::bigint[]) x "
			  "WHERE NOT EXISTS (SELECT 1 FROM groups WHERE id = x)",
			  1, q, &taken);
	if (rc == 0 && taken > 0)
		rc = -ENOENT; /* no such group */
	if (rc)
		goto out;
	if (u->id == 0) {
		if (kdf == NULL) {
			rc = -EINVAL;
			goto out;
		}
		rc = be_dba_id(db, "user put",
			       "INSERT INTO users (name, role, full_name, disabled, addresses, "
			       "password) VALUES ($2, $3::smallint, $4, $5::boolean, $6::text[], "
			       "$7) RETURNING id, $1::bigint",
			       7, p, id);
	} else {
		rc = be_dba_id(db, "user put",
			       "UPDATE users SET name = $2, role = $3::smallint, full_name = $4, "
			       "disabled = $5::boolean, addresses = $6::text[], "
			       "password = coalesce($7, password), "
			       "password_changed = CASE WHEN $7 IS NULL THEN password_changed "
			       "ELSE now() END WHERE id = $1::bigint RETURNING id",
			       7, p, id);
	}
	if (rc)
		goto out;
	g[0] = be_dbq_i64s(ib, *id);
	/* Group membership, and for a disabled user or a new password: no session survives. */
	rc = be_dba_exec(db, "user put",
			 "WITH d AS (DELETE FROM user_groups WHERE user_id = $1::bigint "
			 "AND NOT group_id = ANY ($2::bigint[])) "
			 "INSERT INTO user_groups (user_id, group_id) "
			 "SELECT $1::bigint, x FROM unnest($2::bigint[]) x ON CONFLICT DO NOTHING",
			 2, g, NULL);
	if (rc == 0 && (u->disabled || (kdf && u->id)))
		rc = be_dba_exec(db, "user put", "DELETE FROM sessions WHERE user_id = $1::bigint",
				 1, g, NULL);
out:
	el_arena_fini(&a);
	return be_dba_admin_end(db, rc, admins);
}

/* be_dba_admin_delete - delete row id (sql) of users or groups, as an admin change */
static int be_dba_admin_delete(be_db *db, const char *what, const char *sql, int64_t id)
{
	char ib[24];
	const char *p[1] = { be_dbq_i64s(ib, id) };
	int64_t admins = 0;
	int rc = be_dba_admin_begin(db, &admins);

	if (rc)
		return rc;
	rc = be_dba_id(db, what, sql, 1, p, NULL);
	return be_dba_admin_end(db, rc, admins);
}

/* be_db_auth_user_delete - see be_db_query.h */
int be_db_auth_user_delete(be_db *db, int64_t id)
{
	return be_dba_admin_delete(db, "user delete",
				   "DELETE FROM users WHERE id = $1::bigint RETURNING id", id);
}

/* be_db_auth_group_list - see be_db_query.h */
int be_db_auth_group_list(be_db *db, el_arena *a, Else__GroupListReply *out)
{
	PGresult *r;
	int rc, n;

	rc = be_dba_exec(
		db, "groups",
		"SELECT g.id, g.name, "
		"(SELECT string_agg(octet_length(host) || ':' || host, '' ORDER BY host) "
		"FROM group_servers WHERE group_id = g.id), "
		"(SELECT string_agg(octet_length(domain) || ':' || domain, '' ORDER BY domain) "
		"FROM group_domains WHERE group_id = g.id), "
		"coalesce((SELECT array_agg(user_id ORDER BY user_id) FROM user_groups "
		"WHERE group_id = g.id)::text, '{}') FROM groups g ORDER BY g.name LIMIT 10000",
		0, NULL, &r);
	if (rc)
		return rc;
	n = PQntuples(r);
	out->n_groups = (size_t)n;
	out->groups = el_arena_alloc(a, (size_t)n * sizeof(*out->groups) + 1);
	for (int i = 0; i < n; i++) {
		Else__GroupInfo *g = el_arena_alloc(a, sizeof(*g));
		else__group_info__init(g);
		g->id = be_dbq_i64(r, i, 0);
		g->name = be_dbq_str(a, r, i, 1);
		g->n_servers = be_dbq_netstrings(a, PQgetvalue(r, i, 2),
						 (size_t)PQgetlength(r, i, 2), &g->servers, 100000);
		g->n_domains = be_dbq_netstrings(a, PQgetvalue(r, i, 3),
						 (size_t)PQgetlength(r, i, 3), &g->domains, 100000);
		g->n_member_ids = be_dba_i64_list(a, PQgetvalue(r, i, 4), &g->member_ids);
		out->groups[i] = g;
	}
	PQclear(r);
	return 0;
}

/* be_db_auth_group_put - see be_db_query.h; members are set from the users' side */
int be_db_auth_group_put(be_db *db, const Else__GroupInfo *g, int64_t *id)
{
	el_arena a;
	char ib[24];
	int64_t taken = 0, admins = 0;
	int rc = be_dba_admin_begin(db, &admins);

	if (rc)
		return rc;
	el_arena_init(&a);
	const char *p[4] = { g->id ? be_dbq_i64s(ib, g->id) : NULL, g->name,
			     be_dba_text_array(&a, g->servers, g->n_servers, 0),
			     be_dba_text_array(&a, g->domains, g->n_domains, 1) };
	const char *q[2] = { g->name, p[0] };
	rc = be_dba_count(db, "group put",
			  "SELECT count(*) FROM groups WHERE name = $1 AND "
			  "($2::bigint IS NULL OR id <> $2::bigint)",
			  2, q, &taken);
	if (rc == 0 && taken > 0)
		rc = -EEXIST;
	if (rc == 0 && g->id == 0)
		rc = be_dba_id(db, "group put",
			       "INSERT INTO groups (name) SELECT $2::text WHERE $1::bigint IS NULL "
			       "RETURNING id",
			       2, p, id);
	else if (rc == 0)
		rc = be_dba_id(db, "group put",
			       "UPDATE groups SET name = $2 WHERE id = $1::bigint RETURNING id", 2,
			       p, id);
	if (rc)
		goto out;
	p[0] = be_dbq_i64s(ib, *id);
	rc = be_dba_exec(db, "group put",
			 "WITH ds AS (DELETE FROM group_servers WHERE group_id = $1::bigint), "
			 "dd AS (DELETE FROM group_domains WHERE group_id = $1::bigint), "
			 "s AS (INSERT INTO group_servers (group_id, host) "
			 "SELECT DISTINCT $1::bigint, x FROM unnest($3::text[]) x) "
			 "INSERT INTO group_domains (group_id, domain) "
			 "SELECT DISTINCT $1::bigint, x FROM unnest($4::text[]) x "
			 "WHERE $2::text IS NOT NULL",
			 4, p, NULL);
out:
	el_arena_fini(&a);
	return be_dba_admin_end(db, rc, admins);
}

/* be_db_auth_group_delete - see be_db_query.h */
int be_db_auth_group_delete(be_db *db, int64_t id)
{
	return be_dba_admin_delete(db, "group delete",
				   "DELETE FROM groups WHERE id = $1::bigint RETURNING id", id);
}
