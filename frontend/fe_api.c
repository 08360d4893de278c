/*
 * fe_api - JSON API over the query RPC.  See fe_api.h.
 */
#include "fe_api.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "el_json.h"
#include "el_log.h"
#include "el_pbjson.h"
#include "el_time.h"

#define FE_API_CALL_MAX 32
#define FE_API_UA_MAX 256
#define FE_API_ERROR_MAX 1024 /* of a backend's error text (its own bound is 256) */

struct fe_api {
	fe_rpc *rpc;
	fe_api_conf conf;
	atomic_uint_fast64_t bad_result, too_large;
};

/*
 * What a Q_OK reply to each call holds: its QueryReply result member, ""
 * for none.  fe_api_new checks it against query.proto's calls, so a call
 * added there without its line here stops the frontend (and every test)
 * at once rather than answering 502 forever.
 */
static const struct fe_api_result {
	const char *call, *result;
} fe_api_results[] = {
	{ "login", "login" },
	{ "logout", "" },
	{ "session_check", "session" },
	{ "password_change", "session" },
	{ "quick", "search" },
	{ "search", "search" },
	{ "flow", "flow" },
	{ "rejects", "rejects" },
	{ "stats", "stats" },
	{ "servers", "servers" },
	{ "tail", "tail" },
	{ "user_list", "users" },
	{ "user_put", "put" },
	{ "user_delete", "put" },
	{ "group_list", "groups" },
	{ "group_put", "put" },
	{ "group_delete", "put" },
	{ "history", "history" },
	{ "audit", "audit" },
};

/* fe_api_result - the QueryReply member a Q_OK reply to call holds (NULL: none) */
static const ProtobufCFieldDescriptor *fe_api_result(const char *call, bool *known)
{
	size_t i;

	*known = false;
	for (i = 0; i < sizeof(fe_api_results) / sizeof(fe_api_results[0]); i++)
		if (strcmp(call, fe_api_results[i].call) == 0) {
			*known = true;
			return fe_api_results[i].result[0]
				       ? protobuf_c_message_descriptor_get_field_by_name(
						 &else__query_reply__descriptor,
						 fe_api_results[i].result)
				       : NULL;
		}
	return NULL;
}

/*
 * fe_api_results_check - every call of query.proto has its line in
 * fe_api_results, and every result named there is a member of QueryReply
 */
static void fe_api_results_check(void)
{
	const ProtobufCMessageDescriptor *d = &else__query_request__descriptor;
	size_t i;
	bool known;

	for (i = 0; i < d->n_fields; i++) {
		const char *call = d->fields[i].name;
		if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
		    strcmp(call, "hello") == 0 || strcmp(call, "auth") == 0)
			continue;
		(void)fe_api_result(call, &known);
		if (!known)
			el_panic("fe_api: call %s of query.proto is not in fe_api_results", call);
	}
	for (i = 0; i < sizeof(fe_api_results) / sizeof(fe_api_results[0]); i++)
		if (fe_api_results[i].result[0] &&
		    fe_api_result(fe_api_results[i].call, &known) == NULL)
			el_panic("fe_api: %s is no result of QueryReply", fe_api_results[i].result);
}

/* The calls that change state: they need the CSRF token. */
static const char *const fe_api_writes[] = {
	"logout", "password_change", "user_put", "user_delete", "group_put", "group_delete",
};

/* fe_api_is_write - see fe_api.h */
bool fe_api_is_write(const char *call)
{
	size_t i;

	for (i = 0; i < sizeof(fe_api_writes) / sizeof(fe_api_writes[0]); i++)
		if (strcmp(call, fe_api_writes[i]) == 0)
			return true;
	return false;
}

/* fe_api_new - see fe_api.h */
int fe_api_new(fe_api **out, fe_rpc *rpc, const fe_api_conf *conf)
{
	fe_api *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return -ENOMEM;
	a->rpc = rpc;
	if (conf)
		a->conf = *conf;
	if (!a->conf.timeout_ms)
		a->conf.timeout_ms = 10000;
	if (!a->conf.max_str)
		a->conf.max_str = 16384;
	if (!a->conf.max_list)
		a->conf.max_list = 1000;
	if (!a->conf.max_json)
		a->conf.max_json = 64u << 20;
	fe_api_results_check();
	*out = a;
	return 0;
}

/* fe_api_free - see fe_api.h */
void fe_api_free(fe_api *a)
{
	free(a);
}

/* fe_api_error_span - fe_api_error with a message of a given length */
static void fe_api_error_span(fe_api_resp *rs, int http_status, const char *qstatus, el_span msg)
{
	rs->http_status = http_status;
	rs->body.len = 0;
	el_buf_addlit(&rs->body, "{\"status\":");
	el_json_str(&rs->body, el_span_make(qstatus, strlen(qstatus)));
	el_buf_addlit(&rs->body, ",\"error\":");
	el_json_str(&rs->body, msg);
	el_buf_addc(&rs->body, '}');
}

/* fe_api_error - see fe_api.h */
void fe_api_error(fe_api_resp *rs, int http_status, const char *qstatus, const char *msg)
{
	fe_api_error_span(rs, http_status, qstatus, el_span_make(msg, strlen(msg)));
}

/* fe_api_stats_get - see fe_api.h */
void fe_api_stats_get(fe_api *a, fe_api_stats *out)
{
	out->bad_result = atomic_load(&a->bad_result);
	out->too_large = atomic_load(&a->too_large);
}

/* fe_api_http_status - the HTTP status for a QueryStatus */
static int fe_api_http_status(Else__QueryStatus st)
{
	switch (st) {
	case ELSE__QUERY_STATUS__Q_OK:
		return 200;
	case ELSE__QUERY_STATUS__Q_BAD_REQUEST:
		return 400;
	case ELSE__QUERY_STATUS__Q_UNAUTHENTICATED:
		return 401;
	case ELSE__QUERY_STATUS__Q_FORBIDDEN:
		return 403;
	case ELSE__QUERY_STATUS__Q_NOT_FOUND:
		return 404;
	case ELSE__QUERY_STATUS__Q_CONFLICT:
		return 409;
	case ELSE__QUERY_STATUS__Q_THROTTLED:
		return 429;
	case ELSE__QUERY_STATUS__Q_BUSY:
		return 503;
	case ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED:
		return 502;
	default:
		return 500;
	}
}

/* fe_api_is_hex64 - exactly 64 lower or upper case hex digits */
static bool fe_api_is_hex64(const char *p, size_t n)
{
	size_t i;

	if (n != 64)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* fe_api_session - see fe_api.h; the first well-formed else_session wins */
bool fe_api_session(const char *cookie, char out[65])
{
	const char *p = cookie;

	if (p == NULL)
		return false;
	while (*p) {
		while (*p == ' ' || *p == ';')
			p++;
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n > 13 && memcmp(p, "else_session=", 13) == 0 &&
		    fe_api_is_hex64(p + 13, n - 13)) {
			memcpy(out, p + 13, 64);
			out[64] = '\0';
			return true;
		}
		p += n;
	}
	return false;
}

/* fe_api_cookie - Set-Cookie value for token (NULL: clear it) */
static void fe_api_cookie(fe_api_resp *rs, const char *token, bool https)
{
	if (token)
		snprintf(rs->set_cookie, sizeof(rs->set_cookie),
			 "else_session=%s; HttpOnly; SameSite=Strict; Path=/%s", token,
			 https ? "; Secure" : "");
	else
		snprintf(rs->set_cookie, sizeof(rs->set_cookie),
			 "else_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s",
			 https ? "; Secure" : "");
}

/* fe_api_call_field - the QueryRequest oneof member named call, or NULL */
static const ProtobufCFieldDescriptor *fe_api_call_field(const char *call)
{
	const ProtobufCFieldDescriptor *f;
	size_t n = strnlen(call, FE_API_CALL_MAX + 1), i;

	if (n == 0 || n > FE_API_CALL_MAX)
		return NULL;
	for (i = 0; i < n; i++)
		if (!((call[i] >= 'a' && call[i] <= 'z') || call[i] == '_'))
			return NULL;
	f = protobuf_c_message_descriptor_get_field_by_name(&else__query_request__descriptor, call);
	if (f == NULL || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE || strcmp(call, "hello") == 0 ||
	    strcmp(call, "auth") == 0)
		return NULL;
	return f;
}

/* fe_api_bounded - a copy of s cut to max bytes at a UTF-8 boundary */
static char *fe_api_bounded(const char *s, size_t max)
{
	size_t n = s ? strnlen(s, max + 1) : 0;
	char *c;

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	if ((c = malloc(n + 1)) == NULL)
		return NULL;
	if (n)
		memcpy(c, s, n);
	c[n] = '\0';
	return c;
}

/* fe_api_bad_result - a Q_OK reply without the result of its call: 502, counted */
static void fe_api_bad_result(fe_api *a, const fe_api_req *rq, fe_api_resp *rs, const char *why)
{
	char msg[200];

	atomic_fetch_add(&a->bad_result, 1);
	snprintf(msg, sizeof(msg), "the backend's answer to %s %s", rq->call, why);
	el_warn("api: %s", msg);
	fe_api_error(rs, 502, "Q_INTERNAL", msg);
}

/* fe_api_too_large - a reply whose JSON passes max_json: 502, counted */
static void fe_api_too_large(fe_api *a, const fe_api_req *rq, fe_api_resp *rs)
{
	char msg[200];

	atomic_fetch_add(&a->too_large, 1);
	snprintf(msg, sizeof(msg),
		 "the backend's answer to %s is more than %zu bytes of JSON (max_json): narrow "
		 "the request",
		 rq->call, a->conf.max_json);
	el_warn("api: %s", msg);
	fe_api_error(rs, 502, "Q_INTERNAL", msg);
}

/*
 * fe_api_reply - the backend's reply as HTTP status and JSON.  The reply is
 * the backend's, trusted more than a browser but not blindly: its error
 * text is cut to FE_API_ERROR_MAX, a Q_OK reply must hold its call's result
 * (fe_api_results), and the JSON made of it is bounded by max_json, since
 * it can be many times the frame NNG bounded (field names, zero values,
 * escaping): el_buf would end the process past 2 GiB.
 */
static void fe_api_reply(fe_api *a, const fe_api_req *rq, Else__QueryReply *rep, fe_api_resp *rs)
{
	const ProtobufCFieldDescriptor *f;
	const char *bad = NULL;
	bool known;

	rs->http_status = fe_api_http_status(rep->status);
	rs->body.len = 0;
	if (rep->status != ELSE__QUERY_STATUS__Q_OK) {
		const char *nm =
			el_pbjson_enum_name(&else__query_status__descriptor, (int)rep->status);
		const char *e = rep->error ? rep->error : "";
		size_t n = strnlen(e, FE_API_ERROR_MAX + 1);
		fe_api_error_span(rs, rs->http_status, nm ? nm : "Q_INTERNAL",
				  el_span_make(e, el_utf8_cut(e, n, FE_API_ERROR_MAX)));
		if (rep->status == ELSE__QUERY_STATUS__Q_UNAUTHENTICATED)
			fe_api_cookie(rs, NULL, rq->https);
		return;
	}
	f = fe_api_result(rq->call, &known);
	if (f == NULL && rep->result_case != ELSE__QUERY_REPLY__RESULT__NOT_SET)
		bad = "holds a result it should not";
	else if (f && rep->result_case != f->id)
		bad = rep->result_case ? "holds another result" : "lacks its result";
	else if (f && *(ProtobufCMessage **)((char *)rep + f->offset) == NULL)
		bad = "lacks its result";
	if (bad) {
		fe_api_bad_result(a, rq, rs, bad);
		return;
	}
	if (rep->result_case == ELSE__QUERY_REPLY__RESULT_LOGIN) {
		/* The token goes into the HttpOnly cookie only, never to the page. */
		char *tok = rep->login->session;
		if (!tok || !fe_api_is_hex64(tok, strnlen(tok, 65))) {
			fe_api_bad_result(a, rq, rs, "holds no valid session");
			return;
		}
		rep->login->session = (char *)"";
		int rv = el_pbjson_encode_max(&rs->body, &rep->login->base, a->conf.max_json);
		rep->login->session = tok;
		if (rv != 0) {
			fe_api_too_large(a, rq, rs);
			return;
		}
		fe_api_cookie(rs, tok, rq->https);
		return;
	}
	if (strcmp(rq->call, "logout") == 0)
		fe_api_cookie(rs, NULL, rq->https);
	if (f == NULL)
		el_buf_addlit(&rs->body, "{}");
	else if (el_pbjson_encode_field_max(&rs->body, &rep->base, f, a->conf.max_json) != 0)
		fe_api_too_large(a, rq, rs);
}

struct fe_api_call {
	fe_api *a;
	Else__QueryRequest *req;
	bool write;
	int64_t deadline_ms;
	/* the outcome */
	int rv;
	Else__QueryReply *rep;
	fe_rpc_raw *raw; /* a big reply fe_rpc_start left packed: fe_api_wait unpacks it */
	size_t len;
	bool ready;
	void (*wake)(void *);
	void *arg;
};

/* fe_api_begin - see fe_api.h */
fe_api_call *fe_api_begin(fe_api *a, const fe_api_req *rq, fe_api_resp *rs)
{
	el_pbjson_limits lim = { .max_len = rq->body_len + 2,
				 .max_depth = 4,
				 .max_list = a->conf.max_list,
				 .max_str = a->conf.max_str };
	const ProtobufCFieldDescriptor *f = fe_api_call_field(rq->call);
	Else__QueryRequest *req = NULL;
	Else__Caller *caller = NULL;
	ProtobufCMessage *m = NULL;
	fe_api_call *c = NULL;
	char err[512], msg[600], session[65];
	bool write;
	int rv;

	rs->http_status = 500;
	rs->set_cookie[0] = '\0';
	if (f == NULL) {
		char pr[4 * 32 + 1];
		el_log_printable(pr, rq->call, strnlen(rq->call, 32), 32);
		snprintf(msg, sizeof(msg), "unknown call \"%s\" (see docs/api.md)", pr);
		fe_api_error(rs, 404, "Q_NOT_FOUND", msg);
		goto fail;
	}
	write = fe_api_is_write(f->name);
	if (write && (rq->csrf == NULL || rq->csrf[0] == '\0')) {
		fe_api_error(rs, 403, "Q_FORBIDDEN", "missing X-CSRF-Token header");
		goto fail;
	}
	/* The body is the call's message; the envelope is the frontend's. */
	rv = el_pbjson_decode(f->descriptor, rq->body_len ? rq->body : "{}",
			      rq->body_len ? rq->body_len : 2, &lim, &m, err, sizeof(err));
	if (rv != 0) {
		fe_api_error(rs, rv == -E2BIG ? 413 : 400, "Q_BAD_REQUEST", err);
		goto fail;
	}
	if ((req = malloc(sizeof(*req))) == NULL) {
		fe_api_error(rs, 500, "Q_INTERNAL", "out of memory");
		goto fail;
	}
	else__query_request__init(req);
	req->call_case = (Else__QueryRequest__CallCase)f->id;
	*(ProtobufCMessage **)((char *)req + f->offset) = m;
	m = NULL; /* freed with req */
	if ((caller = malloc(sizeof(*caller))) == NULL) {
		fe_api_error(rs, 500, "Q_INTERNAL", "out of memory");
		goto fail;
	}
	else__caller__init(caller);
	req->caller = caller; /* freed with req */
	caller->session = fe_api_bounded(fe_api_session(rq->cookie, session) ? session : "", 64);
	caller->csrf = fe_api_bounded(rq->csrf, 128);
	caller->client_ip = fe_api_bounded(rq->client_ip, 64);
	caller->user_agent = fe_api_bounded(rq->user_agent, FE_API_UA_MAX);
	if (!caller->session || !caller->csrf || !caller->client_ip || !caller->user_agent) {
		fe_api_error(rs, 500, "Q_INTERNAL", "out of memory");
		goto fail;
	}
	if (req->call_case == ELSE__QUERY_REQUEST__CALL_LOGIN) {
		/* What the frontend saw, not what the body claims. */
		/* Absent fields hold protobuf-c's static empty string. */
		if (req->login->client_ip != protobuf_c_empty_string)
			free(req->login->client_ip);
		if (req->login->user_agent != protobuf_c_empty_string)
			free(req->login->user_agent);
		req->login->client_ip = fe_api_bounded(rq->client_ip, 64);
		req->login->user_agent = fe_api_bounded(rq->user_agent, FE_API_UA_MAX);
		if (!req->login->client_ip || !req->login->user_agent) {
			fe_api_error(rs, 500, "Q_INTERNAL", "out of memory");
			goto fail;
		}
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		fe_api_error(rs, 500, "Q_INTERNAL", "out of memory");
		goto fail;
	}
	c->a = a;
	c->req = req;
	c->write = write;
	c->deadline_ms = el_now_ms(CLOCK_MONOTONIC) + a->conf.timeout_ms;
	return c;
fail:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	if (req)
		else__query_request__free_unpacked(req, NULL);
	return NULL;
}

/* fe_api_done - fe_rpc_start's outcome (NNG's task thread) */
static void fe_api_done(void *arg, int rv, Else__QueryReply *rep, fe_rpc_raw *raw, size_t len)
{
	fe_api_call *c = arg;

	if (rv != -EAGAIN) {
		c->rv = rv;
		c->rep = rep;
		c->raw = raw;
		c->len = len;
		c->ready = true;
	}
	c->wake(c->arg);
}

/* fe_api_send - see fe_api.h */
bool fe_api_send(fe_api_call *c, void (*wake)(void *arg), void *arg)
{
	c->wake = wake;
	c->arg = arg;
	return fe_rpc_start(c->a->rpc, c->req, !c->write, c->a->conf.timeout_ms, fe_api_done, c) ==
	       0;
}

/* fe_api_ready - see fe_api.h */
bool fe_api_ready(const fe_api_call *c)
{
	return c->ready && c->raw == NULL;
}

/* fe_api_reply_len - see fe_api.h */
size_t fe_api_reply_len(const fe_api_call *c)
{
	return c->len;
}

/* fe_api_wait - see fe_api.h */
void fe_api_wait(fe_api_call *c)
{
	if (c->ready) {
		if (c->raw) { /* a big reply fe_rpc_start left packed */
			c->rv = fe_rpc_raw_unpack(c->a->rpc, c->raw, &c->rep);
			c->raw = NULL;
		}
		return;
	}
	int64_t left = c->deadline_ms - el_now_ms(CLOCK_MONOTONIC);
	/* Past the deadline (a long queue): nothing is sent, a write least of all. */
	c->rv = left > 0 ? fe_rpc_call(c->a->rpc, c->req, !c->write, (int)left, &c->rep)
			 : -ETIMEDOUT;
	c->ready = true;
}

/* fe_api_end - see fe_api.h */
void fe_api_end(fe_api_call *c, const fe_api_req *rq, fe_api_resp *rs)
{
	char msg[600];
	int rv = c->rv;

	if (c->raw) { /* left packed: fe_api_wait was not called */
		fe_rpc_raw_free(c->raw);
		c->raw = NULL;
	}
	if (!c->ready) {
		fe_api_error(rs, 503, "Q_BUSY", "the call was not sent");
	} else if (rv != 0 || c->rep == NULL) {
		rv = rv ? rv : -EPROTO;
		snprintf(msg, sizeof(msg), "backend: %s", strerror(-rv));
		if (rv == -ETIMEDOUT)
			fe_api_error(rs, 504, "Q_BUSY", "no backend answered in time");
		else if (rv == -EMSGSIZE)
			fe_api_error(rs, 413, "Q_BAD_REQUEST", "request too large");
		else if (rv == -E2BIG)
			fe_api_error(
				rs, 502, "Q_INTERNAL",
				"the backend's answer is too large to unpack: narrow the request");
		else
			fe_api_error(rs, 502, "Q_BUSY", msg);
	} else {
		fe_api_reply(c->a, rq, c->rep, rs);
	}
	if (c->rep)
		else__query_reply__free_unpacked(c->rep, NULL);
	else__query_request__free_unpacked(c->req, NULL);
	free(c);
}

/* fe_api_handle - see fe_api.h */
void fe_api_handle(fe_api *a, const fe_api_req *rq, fe_api_resp *rs)
{
	fe_api_call *c = fe_api_begin(a, rq, rs);

	if (c == NULL)
		return;
	fe_api_wait(c);
	fe_api_end(c, rq, rs);
}
