/*
 * fe_api - the JSON API of the frontend: POST /api/<call> with the call's
 * message of proto/query.proto as the JSON body; the answer is the
 * QueryReply's result as JSON, the HTTP status from its QueryStatus
 * (docs/api.md).  Independent of the HTTP library: fe_http hands in the
 * request's parts and sends out the response.
 *
 * Sessions: Login's reply sets the cookie else_session (HttpOnly,
 * SameSite=Strict, Path=/, Secure under HTTPS) and gives the page the CSRF
 * token, never the session token; every other call sends the cookie's token
 * in Caller.session.  CSRF: state-changing calls (fe_api_is_write) need
 * the X-CSRF-Token header: missing, the frontend answers 403 itself; its
 * value goes in Caller.csrf and the backend compares it with the session's.
 *
 * OWNERSHIP: fe_api borrows its fe_rpc.  fe_api_resp.body is the caller's
 * buffer (el_buf_fini).
 * ERRORS: every outcome is an HTTP status and a JSON body
 * {"status":"Q_...","error":"..."}: 404 unknown call, 400 malformed body
 * (naming the field), 403 missing CSRF token, 503/504 no backend, 502 a
 * backend's reply that is not one (undecodable, an unknown status, a Q_OK
 * without its call's result, JSON over max_json), and the backend's own
 * statuses.
 * THREADS: fe_api_handle and the steps are reentrant; one call's steps run
 * one after the other (in any threads).
 * SECURITY: the body is untrusted: bounded (fe_http), decoded by el_pbjson
 * with limits, and never given the chance to set Caller (the frontend fills
 * it) or to call Hello/Auth.  Cookie values are accepted only as 64 hex
 * digits.  The backend's reply is checked too: its frame is bounded by
 * fe_rpc (max_frame), its error text cut, its result must be its call's,
 * and the JSON made of it is bounded by max_json (it can be far larger
 * than the frame), so no reply can make the frontend abort.
 */
#ifndef FE_API_H
#define FE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "el_buf.h"
#include "fe_rpc.h"

typedef struct fe_api_req {
	const char *call; /* the path after /api/ (NUL-terminated, untrusted) */
	const char *body; /* JSON; may be empty: {} */
	size_t body_len;
	const char *cookie;     /* the Cookie header or NULL */
	const char *csrf;       /* the X-CSRF-Token header or NULL */
	const char *client_ip;  /* as the frontend saw it */
	const char *user_agent; /* or NULL */
	bool https;             /* cookies get Secure */
} fe_api_req;

typedef struct fe_api_resp {
	int http_status;
	el_buf body;
	char set_cookie[256]; /* "" = none */
} fe_api_resp;

typedef struct fe_api_conf {
	int timeout_ms;  /* per call; 0 = 10000 */
	size_t max_str;  /* el_pbjson string bound; 0 = 16384 */
	size_t max_list; /* 0 = 1000 */
	size_t max_json; /* JSON of one reply; 0 = 64 MiB; keep <= 256 MiB (el_pbjson_encode_max) */
} fe_api_conf;

typedef struct fe_api fe_api;

/* Replies the frontend refused after fe_rpc took them (502). */
typedef struct fe_api_stats {
	uint64_t bad_result; /* Q_OK without its call's result, or a bad session */
	uint64_t too_large;  /* JSON over max_json */
} fe_api_stats;

int fe_api_new(fe_api **out, fe_rpc *rpc, const fe_api_conf *conf);
void fe_api_free(fe_api *a);
void fe_api_stats_get(fe_api *a, fe_api_stats *out);

/* fe_api_handle - answer one API request; rs->body must be initialised */
void fe_api_handle(fe_api *a, const fe_api_req *rq, fe_api_resp *rs);

/*
 * The same in steps, for a server that must not block on the backend:
 *   c = fe_api_begin(a, rq, rs)      decode; NULL: rs already holds the answer
 *   fe_api_send(c, wake, arg)        true: the call left without blocking and
 *                                    wake(arg) will be called once, on NNG's
 *                                    task thread (it must not block)
 *   fe_api_ready(c)                  after wake: the answer came, unpacked
 *                                    (false: the call needs fe_api_wait, from
 *                                    a thread that may block)
 *   fe_api_wait(c)                   the blocking call, in what time is left,
 *                                    or the unpacking of a big answer
 *   fe_api_end(c, rq, rs)            the answer into rs (503 if never sent);
 *                                    frees c
 * rq must outlive c.  fe_api_reply_len(c): the reply's size, once ready.
 */
typedef struct fe_api_call fe_api_call;
fe_api_call *fe_api_begin(fe_api *a, const fe_api_req *rq, fe_api_resp *rs);
bool fe_api_send(fe_api_call *c, void (*wake)(void *arg), void *arg);
bool fe_api_ready(const fe_api_call *c);
size_t fe_api_reply_len(const fe_api_call *c);
void fe_api_wait(fe_api_call *c);
void fe_api_end(fe_api_call *c, const fe_api_req *rq, fe_api_resp *rs);

/* fe_api_is_write - does the named call change state (needs CSRF) */
bool fe_api_is_write(const char *call);

/* fe_api_error - fill rs with an error body of the frontend's own */
void fe_api_error(fe_api_resp *rs, int http_status, const char *qstatus, const char *msg);

/* fe_api_session - copy the else_session cookie's token from a Cookie header */
bool fe_api_session(const char *cookie, char out[65]);

#endif
