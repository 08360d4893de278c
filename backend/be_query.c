/*
 * be_query - the query service's handler.  See be_query.h; docs/query.md
 * describes the rules this file enforces.
 */
#include "be_query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be_db_query.h"
#include "el_arena.h"
#include "el_json.h"
#include "el_log.h"
#include "el_ossl.h"
#include "el_time.h"

#define BE_QUERY_TOKEN_HEX 64
#define BE_QUERY_MAX_ERROR 256

struct be_query {
	be_db *db;
	be_query_conf conf;
};

/* One request being answered. */
typedef struct be_qreq {
	be_query *q;
	const Else__QueryRequest *rq;
	Else__QueryReply *rep;
	el_arena *a;
	be_db_session s; /* the caller, once the session is checked */
	uint8_t token_hash[32];
	const char *ip;
} be_qreq;

/* A valid stored hash that never matches: a login of an unknown user costs the same. */
static const char be_query_dummy_kdf[] =
	"scrypt$15$8$1$00000000000000000000000000000000$"
	"0000000000000000000000000000000000000000000000000000000000000000";

/* be_query_new - see be_query.h */
int be_query_new(be_query **out, const char *conninfo, const be_query_conf *conf)
{
	be_query *q;
	int rc;

	*out = NULL;
	if (conf->log == NULL)
		return -EINVAL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	q->conf = *conf;
	if ((rc = be_db_open(&q->db, conninfo)) != 0 ||
	    (rc = be_db_auth_setup(q->db, (int)conf->timeout_ms)) != 0) {
		be_query_free(q);
		return rc;
	}
	/* Plans made now rather than at the first request (be_db_q_warm). */
	if ((rc = be_db_q_warm(q->db)) != 0)
		el_warn("query: warming the statements failed (%s): the first requests plan them",
			strerror(-rc));
	*out = q;
	return 0;
}

/* be_query_free - see be_query.h */
void be_query_free(be_query *q)
{
	if (q == NULL)
		return;
	be_db_close(q->db);
	free(q);
}

/* be_qr_status - set the reply's status and error text (copied) */
static void be_qr_status(be_qreq *r, Else__QueryStatus st, const char *err)
{
	r->rep->status = st;
	r->rep->error =
		el_arena_strndup(r->a, err ? err : "", err ? strnlen(err, BE_QUERY_MAX_ERROR) : 0);
	if (st != ELSE__QUERY_STATUS__Q_OK)
		r->rep->result_case = ELSE__QUERY_REPLY__RESULT__NOT_SET;
}

/* be_qr_dberr - a database error as a reply */
static void be_qr_dberr(be_qreq *r, int rc, const char *what)
{
	char why[160];

	switch (rc) {
	case -ENOENT:
		be_qr_status(r, ELSE__QUERY_STATUS__Q_NOT_FOUND, "not found");
		return;
	case -EEXIST:
		be_qr_status(r, ELSE__QUERY_STATUS__Q_CONFLICT, "name already taken");
		return;
	case -EPERM:
		be_qr_status(r, ELSE__QUERY_STATUS__Q_CONFLICT,
			     "an enabled admin must remain: this change would leave none");
		return;
	case -EINVAL:
		snprintf(why, sizeof(why), "%s: bad value", what);
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST, why);
		return;
	case -ECANCELED:
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BUSY, "query took too long: narrow it");
		return;
	case -ECONNRESET:
	case -ENOTCONN:
	case -EAGAIN:
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BUSY, "database unavailable: retry");
		return;
	default:
		snprintf(why, sizeof(why), "%s failed", what);
		be_qr_status(r, ELSE__QUERY_STATUS__Q_INTERNAL, why);
	}
}

/*
 * be_qr_names_ok - each of v[0..n) a name of a scope: an address
 * (local@domain, both parts non-empty) if addr, else a host or domain name
 * (no '@'); never empty, no blank or control character.
 */
static bool be_qr_names_ok(char *const *v, size_t n, bool addr)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = v[i], *at = strrchr(s, '@');
		if (s[0] == '\0' || (addr ? at == NULL || at == s || at[1] == '\0' : at != NULL))
			return false;
		for (; *s; s++)
			if ((unsigned char)*s <= ' ' || *s == 0x7f)
				return false;
	}
	return true;
}

/* be_qr_audit_json - the audit detail of a request, bounded (NUL-terminated in b) */
static void be_qr_audit_json(el_buf *b, const ProtobufCMessage *detail_msg, const char *detail)
{
	if (detail_msg)
		be_query_json(detail_msg, b);
	else if (detail)
		el_buf_add(b, detail, strlen(detail));
	/* Bounded: the request's strings are at most 1 KiB each anyway.  Cut on
	 * a character boundary, or PostgreSQL refuses the record (22021). */
	b->len = el_utf8_cut(b->p, b->len, 4000);
	el_buf_addc(b, '\0');
}

/*
 * be_qr_audit - one audit record of the caller (failures only logged).
 * Every action but reads of mail data is durable (be_db_auth_setup):
 * logins, refusals, administrative changes.
 */
static void be_qr_audit(be_qreq *r, const char *action, const ProtobufCMessage *detail_msg,
			const char *detail)
{
	bool durable = strcmp(action, "search") != 0 && strcmp(action, "flow") != 0 &&
		       strcmp(action, "flow_not_found") != 0;
	el_buf b;
	int rc;

	el_buf_init(&b);
	be_qr_audit_json(&b, detail_msg, detail);
	rc = be_db_auth_audit(r->q->db, r->s.user_id, r->s.name, r->ip, action, b.p, durable);
	if (rc)
		el_warn("query: audit %s failed: %s", action, strerror(-rc));
	el_buf_fini(&b);
}

/*
 * be_qr_search_log - a read of mail data into the caller's history (of
 * kind; NULL: none) and the audit log (action "search", "flow" or "tail",
 * not durable), by the search log writer (be_qlog)
 */
static void be_qr_search_log(be_qreq *r, const char *action, const char *kind,
			     const ProtobufCMessage *m, uint32_t results)
{
	el_buf b, h;

	el_buf_init(&b);
	el_buf_init(&h);
	be_qr_audit_json(&b, m, NULL);
	if (kind)
		be_query_json(m, &h);
	el_buf_addc(&h, '\0');
	be_qlog_put(r->q->conf.log, &(be_qlog_rec){ .user_id = r->s.user_id,
						    .user = r->s.name,
						    .ip = r->ip,
						    .action = action,
						    .detail = b.p,
						    .kind = kind,
						    .json = h.p,
						    .results = results });
	el_buf_fini(&b);
	el_buf_fini(&h);
}

/* be_qr_token_hash - SHA-256 of a token given as 64 hex digits; -EINVAL otherwise */
static int be_qr_token_hash(const char *tok, uint8_t out[32])
{
	size_t n = tok ? strnlen(tok, BE_QUERY_TOKEN_HEX + 1) : 0;

	if (n != BE_QUERY_TOKEN_HEX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((tok[i] >= '0' && tok[i] <= '9') || (tok[i] >= 'a' && tok[i] <= 'f')))
			return -EINVAL;
	return el_ossl_sha256(tok, n, out);
}

/*
 * be_qr_throttled - too many failed logins (or old passwords) for this user
 * name or client IP within login_window: answered Q_THROTTLED (or the
 * database's error) and true.
 */
static bool be_qr_throttled(be_qreq *r, const char *user, const char *what)
{
	be_query *q = r->q;
	int64_t fu = 0, fi = 0, ru = 0, ri = 0;
	int rc;

	rc = be_db_auth_throttle(q->db, user, r->ip, q->conf.login_window_s, &fu, &fi, &ru, &ri);
	if (rc) {
		be_qr_dberr(r, rc, what);
		return true;
	}
	if (fu >= q->conf.login_max_user || fi >= q->conf.login_max_ip) {
		char why[96];
		int64_t after = fu >= q->conf.login_max_user ? ru : 0;
		if (fi >= q->conf.login_max_ip && ri > after)
			after = ri;
		snprintf(why, sizeof(why), "too many failed logins: retry_after_s=%" PRId64,
			 after > 0 ? after : 1);
		be_qr_audit(r, "login_throttled", NULL,
			    fu >= q->conf.login_max_user ? "user" : "ip");
		be_qr_status(r, ELSE__QUERY_STATUS__Q_THROTTLED, why);
		return true;
	}
	return false;
}

/* be_qr_login - Login: throttle, verify, new session */
static void be_qr_login(be_qreq *r, const Else__Login *l)
{
	be_query *q = r->q;
	char kdf[EL_OSSL_KDF_STRLEN + 8], token[BE_QUERY_TOKEN_HEX + 1],
		csrf[BE_QUERY_TOKEN_HEX + 1];
	int64_t uid = 0;
	const char *user = l->user ? l->user : "";
	bool disabled = false, ok;
	int role = 0, rc;

	r->ip = l->client_ip && l->client_ip[0] ? l->client_ip : r->ip;
	snprintf(r->s.name, sizeof(r->s.name), "%.*s", (int)el_utf8_cut(user, strlen(user), 64),
		 user);
	if (user[0] == '\0' || !l->password || l->password[0] == '\0') {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			     "login: user and password needed");
		return;
	}
	if (be_qr_throttled(r, user, "login"))
		return;
	rc = be_db_auth_user_pw(q->db, user, &uid, &role, &disabled, kdf, sizeof(kdf));
	if (rc && rc != -ENOENT) {
		be_qr_dberr(r, rc, "login");
		return;
	}
	ok = el_ossl_kdf_verify(el_span_make(l->password, strlen(l->password)),
				rc == 0 ? kdf : be_query_dummy_kdf) == 0 &&
	     rc == 0 && !disabled;
	if (!ok) {
		if ((rc = be_db_auth_failed(q->db, user, r->ip)) != 0)
			el_warn("query: failed login not recorded: %s", strerror(-rc));
		r->s.user_id = 0; /* the name tried is in the record */
		be_qr_audit(r, "login_failed", NULL, disabled ? "disabled" : "");
		be_qr_status(r, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED,
			     "wrong user name or password");
		return;
	}
	if (el_ossl_token_hex(token, 32) != 0 || el_ossl_token_hex(csrf, 32) != 0 ||
	    be_qr_token_hash(token, r->token_hash) != 0) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_INTERNAL, "no randomness");
		return;
	}
	rc = be_db_auth_session_new(q->db, uid, r->token_hash, csrf, r->ip,
				    l->user_agent ? l->user_agent : "", user);
	if (rc == 0)
		rc = be_db_auth_session(q->db, r->token_hash, q->conf.session_idle_s,
					q->conf.session_max_s, r->a, &r->s);
	Else__LoginReply *lr = el_arena_alloc(r->a, sizeof(*lr));
	Else__UserInfo *ui = el_arena_alloc(r->a, sizeof(*ui));
	else__login_reply__init(lr);
	if (rc == 0)
		rc = be_db_auth_userinfo(q->db, r->a, uid, ui);
	if (rc) {
		be_qr_dberr(r, rc, "login");
		return;
	}
	be_qr_audit(r, "login", NULL, "");
	lr->session = el_arena_strdup(r->a, token);
	lr->csrf = el_arena_strdup(r->a, csrf);
	lr->expires_us = r->s.expires_us;
	lr->user = ui;
	r->rep->result_case = ELSE__QUERY_REPLY__RESULT_LOGIN;
	r->rep->login = lr;
}

/* be_qr_session - check the caller's session (and CSRF for state changes) */
static int be_qr_session(be_qreq *r, bool needs_csrf)
{
	const Else__Caller *c = r->rq->caller;
	int rc;

	if (c == NULL || be_qr_token_hash(c->session, r->token_hash) != 0) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED, "no session: log in");
		return -EACCES;
	}
	/* A state change always reads its session: the cache may be up to its ttl behind. */
	if (!needs_csrf && be_qsess_get(r->q->conf.sessions, r->token_hash,
					el_now_us(CLOCK_REALTIME), r->a, &r->s))
		return 0;
	uint64_t gen = be_qsess_gen(r->q->conf.sessions);
	rc = be_db_auth_session(r->q->db, r->token_hash, r->q->conf.session_idle_s,
				r->q->conf.session_max_s, r->a, &r->s);
	if (rc == 0)
		be_qsess_put(r->q->conf.sessions, r->token_hash, el_now_us(CLOCK_REALTIME), &r->s,
			     gen);
	if (rc == -ENOENT) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED,
			     "session unknown or expired: log in again");
		return rc;
	}
	if (rc) {
		be_qr_dberr(r, rc, "session");
		return rc;
	}
	if (needs_csrf) {
		size_t n = c->csrf ? strnlen(c->csrf, BE_QUERY_TOKEN_HEX + 1) : 0;
		if (n != BE_QUERY_TOKEN_HEX || strlen(r->s.csrf) != BE_QUERY_TOKEN_HEX ||
		    !el_ossl_ct_eq(c->csrf, r->s.csrf, BE_QUERY_TOKEN_HEX)) {
			be_qr_audit(r, "csrf_refused", NULL, "");
			be_qr_status(r, ELSE__QUERY_STATUS__Q_FORBIDDEN,
				     "caller.csrf missing or wrong");
			return -EACCES;
		}
	}
	return 0;
}

/* be_qr_forbid - refuse a call the caller's role may not make */
static void be_qr_forbid(be_qreq *r, const char *call)
{
	char why[96];

	snprintf(why, sizeof(why), "%s: not allowed for this role", call);
	be_qr_audit(r, "forbidden", NULL, call);
	be_qr_status(r, ELSE__QUERY_STATUS__Q_FORBIDDEN, why);
}

/* be_qr_session_reply - SessionCheck */
static void be_qr_session_check(be_qreq *r)
{
	Else__SessionReply *s = el_arena_alloc(r->a, sizeof(*s));
	Else__UserInfo *ui = el_arena_alloc(r->a, sizeof(*ui));
	int rc;

	else__session_reply__init(s);
	if ((rc = be_db_auth_userinfo(r->q->db, r->a, r->s.user_id, ui)) != 0) {
		be_qr_dberr(r, rc, "session");
		return;
	}
	s->user = ui;
	s->csrf = el_arena_strdup(r->a, r->s.csrf);
	s->expires_us = r->s.expires_us;
	r->rep->result_case = ELSE__QUERY_REPLY__RESULT_SESSION;
	r->rep->session = s;
}

/* be_qr_password - self-service password change */
static void be_qr_password(be_qreq *r, const Else__PasswordChange *pc)
{
	char kdf[EL_OSSL_KDF_STRLEN + 8];
	int64_t uid;
	int role, rc;
	bool disabled;

	if (!pc->new_password || strlen(pc->new_password) < BE_QUERY_MIN_PASSWORD) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			     "password_change.new_password: at least 10 characters");
		return;
	}
	/* The old password is guessed no faster than at a login: the same budget. */
	if (be_qr_throttled(r, r->s.name, "password change"))
		return;
	rc = be_db_auth_user_pw(r->q->db, r->s.name, &uid, &role, &disabled, kdf, sizeof(kdf));
	if (rc || uid != r->s.user_id) {
		be_qr_dberr(r, rc ? rc : -ENOENT, "password change");
		return;
	}
	if (el_ossl_kdf_verify(el_span_make(pc->old_password ? pc->old_password : "",
					    pc->old_password ? strlen(pc->old_password) : 0),
			       kdf) != 0) {
		if ((rc = be_db_auth_failed(r->q->db, r->s.name, r->ip)) != 0)
			el_warn("query: password change: failure not recorded: %s", strerror(-rc));
		be_qr_audit(r, "password_change_failed", NULL, "");
		be_qr_status(r, ELSE__QUERY_STATUS__Q_FORBIDDEN,
			     "password_change.old_password: wrong");
		return;
	}
	if (el_ossl_kdf_hash(el_span_make(pc->new_password, strlen(pc->new_password)), kdf,
			     sizeof(kdf)) != 0) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_INTERNAL, "cannot hash the password");
		return;
	}
	/* Every other session of the user ends: a stolen one does not survive. */
	if ((rc = be_db_auth_password(r->q->db, r->s.user_id, kdf, r->token_hash)) != 0) {
		be_qr_dberr(r, rc, "password change");
		return;
	}
	be_qr_audit(r, "password_change", NULL, "");
	r->rep->result_case = ELSE__QUERY_REPLY__RESULT_SESSION;
	be_qr_session_check(r);
}

/* be_qr_limit - limit with its default, already bounded by be_query_check */
static uint32_t be_qr_limit(uint32_t v, uint32_t def)
{
	return v == 0 ? def : v;
}

/* be_qr_user_put - create or update a user (admin) */
static void be_qr_user_put(be_qreq *r, const Else__UserPut *up)
{
	char kdf[EL_OSSL_KDF_STRLEN + 8];
	const Else__UserInfo *u = up->user;
	int64_t id = 0;
	int rc;

	if (u == NULL || !u->name || u->name[0] == '\0' || strlen(u->name) > 64) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			     "user_put.user.name: 1..64 bytes");
		return;
	}
	if (u->role == ELSE__ROLE__ROLE_NONE) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "user_put.user.role: required");
		return;
	}
	/* An empty address would match every bounce's sender (<>). */
	if (!be_qr_names_ok(u->addresses, u->n_addresses, true)) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			     "user_put.user.addresses: each a local@domain address, no blanks");
		return;
	}
	if (up->password && up->password[0]) {
		if (strlen(up->password) < BE_QUERY_MIN_PASSWORD) {
			be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
				     "user_put.password: at least 10 characters");
			return;
		}
		if (el_ossl_kdf_hash(el_span_make(up->password, strlen(up->password)), kdf,
				     sizeof(kdf)) != 0) {
			be_qr_status(r, ELSE__QUERY_STATUS__Q_INTERNAL, "cannot hash the password");
			return;
		}
	} else if (u->id == 0) {
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			     "user_put.password: required for a new user");
		return;
	}
	rc = be_db_auth_user_put(r->q->db, u, up->password && up->password[0] ? kdf : NULL, &id);
	if (rc) {
		be_qr_dberr(r, rc, "user_put");
		return;
	}
	be_qr_audit(r, "user_put", &up->base, NULL);
	Else__PutReply *pr = el_arena_alloc(r->a, sizeof(*pr));
	else__put_reply__init(pr);
	pr->id = id;
	r->rep->result_case = ELSE__QUERY_REPLY__RESULT_PUT;
	r->rep->put = pr;
}

/* be_qr_put_reply - a PutReply with id */
static void be_qr_put_reply(be_qreq *r, int64_t id)
{
	Else__PutReply *pr = el_arena_alloc(r->a, sizeof(*pr));

	else__put_reply__init(pr);
	pr->id = id;
	r->rep->result_case = ELSE__QUERY_REPLY__RESULT_PUT;
	r->rep->put = pr;
}

/* be_qr_call - an authenticated call */
static void be_qr_call(be_qreq *r)
{
	const Else__QueryRequest *rq = r->rq;
	be_db *db = r->q->db;
	const be_db_scope *sc = &r->s.scope;
	bool admin = r->s.role == ELSE__ROLE__ROLE_ADMIN;
	bool mailbox = r->s.role == ELSE__ROLE__ROLE_MAILBOX;
	int64_t now = el_now_us(CLOCK_REALTIME), id = 0;
	const char *what = "request"; /* the field a -EINVAL of the database is about */
	int rc = 0;

	switch (rq->call_case) {
	case ELSE__QUERY_REQUEST__CALL_LOGOUT:
		rc = be_db_auth_session_end(db, r->token_hash);
		if (rc == 0)
			be_qr_audit(r, "logout", NULL, "");
		break;
	case ELSE__QUERY_REQUEST__CALL_SESSION_CHECK:
		be_qr_session_check(r);
		return;
	case ELSE__QUERY_REQUEST__CALL_PASSWORD_CHANGE:
		be_qr_password(r, rq->password_change);
		return;
	case ELSE__QUERY_REQUEST__CALL_QUICK: {
		Else__SearchReply *sr = el_arena_alloc(r->a, sizeof(*sr));
		else__search_reply__init(sr);
		if (!rq->quick->q || rq->quick->q[0] == '\0') {
			be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "quick.q: empty");
			return;
		}
		rc = be_db_q_quick(db, r->a, sc, rq->quick->q, be_qr_limit(rq->quick->limit, 50),
				   sr);
		if (rc == 0 && sr->n_rows == 0 && strchr(rq->quick->q, '@')) {
			/* An address: the last 7 days, sender or recipient. */
			Else__Search s = ELSE__SEARCH__INIT;
			s.address = rq->quick->q;
			s.limit = be_qr_limit(rq->quick->limit, 50);
			rc = be_db_q_search(db, r->a, sc, &s, now, sr);
			/* That page's cursor is a Search's: a quick search is cut there. */
			if (rc == 0 && sr->next_cursor[0]) {
				sr->truncated = true;
				sr->next_cursor = el_arena_strdup(r->a, "");
			}
		}
		if (rc == 0) {
			be_qr_search_log(r, "search", "quick", &rq->quick->base,
					 (uint32_t)sr->n_rows);
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_SEARCH;
			r->rep->search = sr;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_SEARCH: {
		Else__SearchReply *sr = el_arena_alloc(r->a, sizeof(*sr));
		else__search_reply__init(sr);
		what = "search.cursor";
		rc = be_db_q_search(db, r->a, sc, rq->search, now, sr);
		if (rc == 0) {
			be_qr_search_log(r, "search", "search", &rq->search->base,
					 (uint32_t)sr->n_rows);
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_SEARCH;
			r->rep->search = sr;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_FLOW: {
		Else__FlowReply *fr = el_arena_alloc(r->a, sizeof(*fr));
		const Else__Flow *f = rq->flow;
		else__flow_reply__init(fr);
		if (!(f->email_id && f->email_id[0]) &&
		    !(f->host && f->host[0] && f->queue_id && f->queue_id[0])) {
			be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
				     "flow: email_id, or host and queue_id");
			return;
		}
		rc = be_db_q_flow(db, r->a, sc, f, fr);
		if (rc == 0)
			be_qr_search_log(r, "flow", "flow", &f->base, (uint32_t)fr->n_hops);
		else
			be_qr_audit(r, "flow_not_found", &f->base, NULL);
		if (rc == 0) {
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_FLOW;
			r->rep->flow = fr;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_REJECTS: {
		Else__RejectsReply *jr = el_arena_alloc(r->a, sizeof(*jr));
		else__rejects_reply__init(jr);
		what = "rejects.cursor";
		rc = be_db_q_rejects(db, r->a, sc, rq->rejects, now, jr);
		if (rc == 0) {
			be_qr_search_log(r, "search", "rejects", &rq->rejects->base,
					 (uint32_t)jr->n_rows);
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_REJECTS;
			r->rep->rejects = jr;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_STATS: {
		Else__StatsReply *st = el_arena_alloc(r->a, sizeof(*st));
		else__stats_reply__init(st);
		if (mailbox) {
			be_qr_forbid(r, "stats");
			return;
		}
		rc = be_db_q_stats(db, r->a, sc, rq->stats, now, st);
		if (rc == 0) {
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_STATS;
			r->rep->stats = st;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_SERVERS: {
		Else__ServersReply *sv = el_arena_alloc(r->a, sizeof(*sv));
		else__servers_reply__init(sv);
		if (mailbox) {
			be_qr_forbid(r, "servers");
			return;
		}
		rc = be_db_q_servers(db, r->a, sc, sv);
		if (rc == 0) {
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_SERVERS;
			r->rep->servers = sv;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_TAIL: {
		Else__TailReply *tr = el_arena_alloc(r->a, sizeof(*tr));
		Else__Tail t = *rq->tail;
		else__tail_reply__init(tr);
		t.limit = be_qr_limit(t.limit, 50);
		what = "tail.cursor";
		rc = be_db_q_tail(db, r->a, sc, &t, tr);
		/*
		 * Audited when a live view opens (no cursor), and when a cursor
		 * older than BE_QUERY_TAIL_LIVE_S brings rows: those are a read
		 * of the past (a view back from sleep, or paging through the last
		 * two days with made-up cursors), not live.  The polls between
		 * show only what just arrived.  Not in the user's history.
		 */
		bool opened = !(t.cursor && t.cursor[0]);
		int64_t live_us = now - BE_QUERY_TAIL_LIVE_S * 1000000LL;
		if (rc == 0 && (opened || (tr->n_rows && strtoll(t.cursor, NULL, 10) < live_us)))
			be_qr_search_log(r, "tail", NULL, &rq->tail->base, (uint32_t)tr->n_rows);
		if (rc == 0) {
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_TAIL;
			r->rep->tail = tr;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_HISTORY: {
		Else__HistoryReply *h = el_arena_alloc(r->a, sizeof(*h));
		else__history_reply__init(h);
		/* The searches just made are in it (at worst, after 2 s, without them). */
		(void)be_qlog_sync(r->q->conf.log, 2000);
		rc = be_db_auth_history(db, r->a, r->s.user_id, be_qr_limit(rq->history->limit, 50),
					h);
		if (rc == 0) {
			r->rep->result_case = ELSE__QUERY_REPLY__RESULT_HISTORY;
			r->rep->history = h;
		}
		break;
	}
	case ELSE__QUERY_REQUEST__CALL_USER_LIST:
	case ELSE__QUERY_REQUEST__CALL_USER_PUT:
	case ELSE__QUERY_REQUEST__CALL_USER_DELETE:
	case ELSE__QUERY_REQUEST__CALL_GROUP_LIST:
	case ELSE__QUERY_REQUEST__CALL_GROUP_PUT:
	case ELSE__QUERY_REQUEST__CALL_GROUP_DELETE:
	case ELSE__QUERY_REQUEST__CALL_AUDIT:
		if (!admin) {
			be_qr_forbid(r, "administration");
			return;
		}
		switch (rq->call_case) {
		case ELSE__QUERY_REQUEST__CALL_USER_LIST: {
			Else__UserListReply *ul = el_arena_alloc(r->a, sizeof(*ul));
			else__user_list_reply__init(ul);
			if ((rc = be_db_auth_user_list(db, r->a, ul)) == 0) {
				r->rep->result_case = ELSE__QUERY_REPLY__RESULT_USERS;
				r->rep->users = ul;
			}
			break;
		}
		case ELSE__QUERY_REQUEST__CALL_USER_PUT:
			be_qr_user_put(r, rq->user_put);
			return;
		case ELSE__QUERY_REQUEST__CALL_USER_DELETE:
			if ((rc = be_db_auth_user_delete(db, rq->user_delete->id)) == 0) {
				be_qr_audit(r, "user_delete", &rq->user_delete->base, NULL);
				be_qr_put_reply(r, rq->user_delete->id);
			}
			break;
		case ELSE__QUERY_REQUEST__CALL_GROUP_LIST: {
			Else__GroupListReply *gl = el_arena_alloc(r->a, sizeof(*gl));
			else__group_list_reply__init(gl);
			if ((rc = be_db_auth_group_list(db, r->a, gl)) == 0) {
				r->rep->result_case = ELSE__QUERY_REPLY__RESULT_GROUPS;
				r->rep->groups = gl;
			}
			break;
		}
		case ELSE__QUERY_REQUEST__CALL_GROUP_PUT: {
			const Else__GroupInfo *g = rq->group_put->group;
			if (g == NULL || !g->name || g->name[0] == '\0' || strlen(g->name) > 128) {
				be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
					     "group_put.group.name: 1..128 bytes");
				return;
			}
			if (!be_qr_names_ok(g->domains, g->n_domains, false) ||
			    !be_qr_names_ok(g->servers, g->n_servers, false)) {
				be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
					     "group_put.group: servers and domains are names: "
					     "not empty, no '@', no blanks");
				return;
			}
			if ((rc = be_db_auth_group_put(db, g, &id)) == 0) {
				be_qr_audit(r, "group_put", &rq->group_put->base, NULL);
				be_qr_put_reply(r, id);
			}
			break;
		}
		case ELSE__QUERY_REQUEST__CALL_GROUP_DELETE:
			if ((rc = be_db_auth_group_delete(db, rq->group_delete->id)) == 0) {
				be_qr_audit(r, "group_delete", &rq->group_delete->base, NULL);
				be_qr_put_reply(r, rq->group_delete->id);
			}
			break;
		default: {
			Else__AuditReply *ar = el_arena_alloc(r->a, sizeof(*ar));
			else__audit_reply__init(ar);
			what = "audit.cursor";
			(void)be_qlog_sync(r->q->conf.log, 2000);
			if ((rc = be_db_auth_audit_list(db, r->a,
							be_qr_limit(rq->audit->limit, 100),
							rq->audit->cursor, ar)) == 0) {
				r->rep->result_case = ELSE__QUERY_REPLY__RESULT_AUDIT;
				r->rep->audit = ar;
			}
			break;
		}
		}
		break;
	default:
		be_qr_status(r, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "no call in the request");
		return;
	}
	if (rc)
		be_qr_dberr(r, rc, what);
}

/* be_qr_state_changing - calls that need the CSRF token */
static bool be_qr_state_changing(Else__QueryRequest__CallCase c)
{
	return c == ELSE__QUERY_REQUEST__CALL_LOGOUT ||
	       c == ELSE__QUERY_REQUEST__CALL_PASSWORD_CHANGE ||
	       c == ELSE__QUERY_REQUEST__CALL_USER_PUT ||
	       c == ELSE__QUERY_REQUEST__CALL_USER_DELETE ||
	       c == ELSE__QUERY_REQUEST__CALL_GROUP_PUT ||
	       c == ELSE__QUERY_REQUEST__CALL_GROUP_DELETE;
}

/* be_query_handle - see be_query.h */
Else__QueryStatus be_query_handle(void *arg, const char *peer, const Else__QueryRequest *rq,
				  el_buf *out)
{
	be_query *q = arg;
	Else__QueryReply rep;
	el_arena a;
	be_qreq r;
	char why[300];
	size_t n;

	(void)peer;
	else__query_reply__init(&rep); /* the INIT macro trips -Wmissing-braces */
	el_arena_init(&a);
	memset(&r, 0, sizeof(r));
	r.q = q;
	r.rq = rq;
	r.rep = &rep;
	r.a = &a;
	r.ip = rq->caller && rq->caller->client_ip ? rq->caller->client_ip : "";
	/* A connection lost earlier: reconnect, and the session settings with it. */
	if (!be_db_connected(q->db) && be_db_reconnect(q->db) == 0 &&
	    be_db_auth_setup(q->db, (int)q->conf.timeout_ms) == 0)
		(void)be_db_q_warm(q->db);
	if (be_query_check(&rq->base, why, sizeof(why)) != 0) {
		be_qr_status(&r, ELSE__QUERY_STATUS__Q_BAD_REQUEST, why);
	} else if (rq->call_case == ELSE__QUERY_REQUEST__CALL_LOGIN) {
		be_qr_login(&r, rq->login);
	} else if (rq->call_case == ELSE__QUERY_REQUEST__CALL__NOT_SET) {
		be_qr_status(&r, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "no call in the request");
	} else if (be_qr_session(&r, be_qr_state_changing(rq->call_case)) == 0) {
		be_qr_call(&r);
		/* Whatever it changed (sessions, roles, groups), no cached session predates it. */
		if (be_qr_state_changing(rq->call_case))
			be_qsess_clear(q->conf.sessions);
	}
	if (rep.error == NULL)
		rep.error = "";
	n = else__query_reply__get_packed_size(&rep);
	el_buf_reserve(out, n);
	else__query_reply__pack(&rep, (uint8_t *)out->p + out->len);
	out->len += n;
	el_arena_fini(&a);
	return rep.status;
}
