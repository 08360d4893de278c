/*
 * be_query - the query service's request handler: validation, sessions,
 * CSRF, roles, dispatch to be_db_query, audit log and search history.  One
 * be_query per worker thread of be_qnet, each with its own database
 * connection (role else_query); be_query_handle is the be_qnet_handler.
 *
 * Every call but Hello/Auth (answered by be_qnet) and Login carries a
 * session token; the backend alone decides, on every call, what that
 * session's user may see: the scope is applied in SQL (be_db_query.h).
 * State-changing calls (Logout, PasswordChange and administration) also
 * need the session's CSRF token.
 *
 * OWNERSHIP: be_query_new copies conf; be_query_free closes the connection.
 * conf.log and conf.sessions must outlive every be_query using them.
 * ERRORS: be_query_new: -EINVAL without conf.log, the be_db errors of connecting.  Replies carry
 * QueryStatus codes (docs/query.md lists what each call answers).
 * THREADS: one be_query per thread.
 * SECURITY: every request is validated after unpacking (be_query_check) and
 * every string reaches SQL as a parameter.  Passwords are verified with
 * scrypt (el_ossl), logins are throttled per user name and per client IP,
 * session tokens come from RAND_bytes and only their SHA-256 is stored.
 */
#ifndef BE_QUERY_H
#define BE_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "be_qlog.h"
#include "be_qsess.h"
#include "el_buf.h"
#include "query.pb-c.h"

#define BE_QUERY_MAX_STR 1024  /* bytes of a string field (proto header) */
#define BE_QUERY_MAX_UA 256    /* bytes of Caller.user_agent */
#define BE_QUERY_MAX_LIST 1000 /* entries of a repeated field, and limit */
#define BE_QUERY_MIN_PASSWORD 10
#define BE_QUERY_TAIL_LIVE_S 600 /* a Tail cursor older than this reads the past: audited */

typedef struct be_query_conf {
	int64_t session_idle_s; /* a session unused this long ends */
	int64_t session_max_s;  /* and any session this old */
	int64_t login_window_s; /* failures counted over this window */
	int64_t login_max_user; /* failures per user name in the window, then THROTTLED */
	int64_t login_max_ip;   /* failures per client IP in the window */
	int64_t history_keep;   /* search history entries kept per user */
	int64_t timeout_ms;     /* statement_timeout of every query */
	/* Shared by the workers, borrowed: the search log writer (required), the session cache. */
	be_qlog *log;
	be_qsess *sessions;
} be_query_conf;

typedef struct be_query be_query;

int be_query_new(be_query **out, const char *conninfo, const be_query_conf *conf);
void be_query_free(be_query *q);

/*
 * be_query_handle - answer rq (be_qnet_handler); appends the packed
 * QueryReply to out and returns its status
 */
Else__QueryStatus be_query_handle(void *q, const char *peer, const Else__QueryRequest *rq,
				  el_buf *out);

/*
 * be_query_check - the bounds of the proto header on any message: strings
 * at most BE_QUERY_MAX_STR bytes of UTF-8 (user_agent BE_QUERY_MAX_UA),
 * bytes at most 16 KiB, lists and limits at most BE_QUERY_MAX_LIST, enums
 * known, times within years 1970..9999, sizes >= 0.  0, or -EINVAL with the
 * offending field's path in why.
 */
int be_query_check(const ProtobufCMessage *m, char *why, size_t cap);

/*
 * be_query_json - a message as JSON (field names as in the proto; password
 * fields left out) for the audit log and the search history.
 */
void be_query_json(const ProtobufCMessage *m, el_buf *out);

#endif
