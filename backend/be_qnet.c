/*
 * be_qnet - the query service's NNG REP server and worker pool.  See
 * be_qnet.h.
 *
 * Each of the nctx slots owns one NNG context and one aio and cycles through
 *     RECV -> (Hello/Auth/refusal) SEND -> RECV
 *     RECV -> (call) QUEUED -> worker -> SEND -> RECV
 * so the ready queue never holds more than nctx entries.  The order of
 * stop mirrors be_net (NNG 1.5.2 close races): workers first, then aios,
 * then the socket, then memory.
 */
#include "be_qnet.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "el_log.h"
#include "el_nng.h"

enum be_qnet_state { BE_QNET_IDLE, BE_QNET_RECV, BE_QNET_QUEUED, BE_QNET_SEND };

#define BE_QNET_SETTLE_MS 200
#define BE_QNET_CLOSE_MS 5000
/*
 * What NNG adds to a reply that counts against the frontend's max_frame: the
 * REQ/REP request id, 4 bytes (a reply of max_frame - 3 bytes was dropped
 * with the whole connection), and some room.
 */
#define BE_QNET_NNG_HEADER 16

typedef struct be_qnet_slot {
	struct be_qnet *q;
	nng_ctx ctx;
	nng_aio *aio;
	enum be_qnet_state state;
	Else__QueryRequest *msg; /* while QUEUED / with a worker */
	char peer[EL_OSSL_MAX_CN + 1];
	uint64_t max_reply; /* the largest reply the request's frontend accepts */
} be_qnet_slot;

struct be_qnet {
	nng_socket sock;
	nng_listener listener;
	bool sock_open;
	be_peer_tab *peers;
	be_qnet_handler handle;
	void **worker_args;
	int nctx, nworkers;
	pthread_t threads[BE_QNET_MAX_WORKERS];
	int nthreads;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool closing;
	be_qnet_slot *slots;
	be_qnet_slot **ring; /* capacity nctx */
	int head, len;
	be_qnet_stats st;
};

/* be_qnet_pipe_cb - NNG pipe events to be_peer; close what it refuses */
static void be_qnet_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	be_qnet *q = arg;
	be_peer_ev e = ev == NNG_PIPE_EV_ADD_PRE    ? BE_PEER_ADD_PRE
		       : ev == NNG_PIPE_EV_ADD_POST ? BE_PEER_ADD_POST
						    : BE_PEER_REM_POST;

	if (be_peer_pipe_event(q->peers, (uint32_t)nng_pipe_id(p), e))
		nng_pipe_close(p);
}

/* be_qnet_recv - receive on the slot unless closing */
static void be_qnet_recv(be_qnet_slot *s)
{
	be_qnet *q = s->q;

	pthread_mutex_lock(&q->mu);
	if (q->closing) {
		s->state = BE_QNET_IDLE;
		pthread_mutex_unlock(&q->mu);
		return;
	}
	s->state = BE_QNET_RECV;
	pthread_mutex_unlock(&q->mu);
	nng_ctx_recv(s->ctx, s->aio);
}

/* be_qnet_send_bytes - send p[0..n) as the reply on the slot, then receive */
static void be_qnet_send_bytes(be_qnet_slot *s, const void *p, size_t n)
{
	be_qnet *q = s->q;
	nng_msg *m;

	if (nng_msg_alloc(&m, n) != 0) {
		pthread_mutex_lock(&q->mu);
		q->st.err_send++;
		pthread_mutex_unlock(&q->mu);
		be_qnet_recv(s); /* the peer times out */
		return;
	}
	if (n)
		memcpy(nng_msg_body(m), p, n);
	pthread_mutex_lock(&q->mu);
	if (q->closing) {
		s->state = BE_QNET_IDLE;
		pthread_mutex_unlock(&q->mu);
		nng_msg_free(m);
		return;
	}
	s->state = BE_QNET_SEND;
	q->st.replies++;
	q->st.bytes_out += n;
	pthread_mutex_unlock(&q->mu);
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
}

/* be_qnet_send - pack and send a reply */
static void be_qnet_send(be_qnet_slot *s, const Else__QueryReply *r)
{
	uint8_t small[512];
	size_t n = else__query_reply__get_packed_size(r);
	uint8_t *p = n <= sizeof(small) ? small : malloc(n);

	if (p == NULL) {
		be_qnet_send_bytes(s, NULL, 0);
		return;
	}
	else__query_reply__pack(r, p);
	be_qnet_send_bytes(s, p, n);
	if (p != small)
		free(p);
}

/* be_qnet_refuse - a reply with a status and a static reason */
static void be_qnet_refuse(be_qnet_slot *s, Else__QueryStatus st, const char *why)
{
	Else__QueryReply r;

	else__query_reply__init(&r); /* the INIT macro trips -Wmissing-braces on the oneof */
	r.status = st;
	r.error = (char *)why;
	be_qnet_send(s, &r);
}

/* be_qnet_hello - a nonce for the pipe */
static void be_qnet_hello(be_qnet_slot *s, uint32_t pipe, const Else__Hello *h)
{
	Else__QueryReply r;
	uint8_t nonce[BE_PEER_NONCE];
	int rv;

	else__query_reply__init(&r);
	if (h->version != 1) {
		be_qnet_refuse(s, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			       "hello.version: unsupported protocol version");
		return;
	}
	if ((rv = be_peer_hello(s->q->peers, pipe, nonce)) != 0) {
		be_qnet_refuse(s, ELSE__QUERY_STATUS__Q_BUSY,
			       rv == -EBUSY ? "too many connections" : "connection closing");
		return;
	}
	be_peer_set_max_reply(s->q->peers, pipe, h->max_reply);
	r.status = ELSE__QUERY_STATUS__Q_OK;
	r.result_case = ELSE__QUERY_REPLY__RESULT_NONCE;
	r.nonce.data = nonce;
	r.nonce.len = sizeof(nonce);
	be_qnet_send(s, &r);
}

/* be_qnet_auth - verify the peer, bind its CN */
static void be_qnet_auth(be_qnet_slot *s, uint32_t pipe, const Else__Auth *a)
{
	Else__QueryReply r;
	char cn[EL_OSSL_MAX_CN + 1];
	int rv;

	else__query_reply__init(&r);
	rv = be_peer_auth(
		s->q->peers, pipe, el_span_make((const char *)a->cert_pem.data, a->cert_pem.len),
		el_span_make((const char *)a->signature.data, a->signature.len), cn, sizeof(cn));
	if (rv != 0) {
		el_warn("query: pipe %u: authentication refused (%s)", pipe,
			rv == -ENOENT   ? "no Hello"
			: rv == -EINVAL ? "unparsable certificate or signature"
					: "certificate, signature or CN refused");
		be_qnet_refuse(s, ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED,
			       rv == -ENOENT   ? "send Hello first"
			       : rv == -EINVAL ? "unparsable certificate or signature"
					       : "certificate refused: not a frontend of this CA");
		return;
	}
	el_info("query: pipe %u authenticated as %s", pipe, cn);
	r.status = ELSE__QUERY_STATUS__Q_OK;
	r.result_case = ELSE__QUERY_REPLY__RESULT_IDENTITY;
	r.identity = cn;
	be_qnet_send(s, &r);
}

/* be_qnet_request - one frame received on slot s */
static void be_qnet_request(be_qnet_slot *s, nng_msg *msg)
{
	be_qnet *q = s->q;
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	size_t len = nng_msg_len(msg);
	Else__QueryRequest *m;
	bool authed;

	m = else__query_request__unpack(NULL, len, nng_msg_body(msg));
	nng_msg_free(msg);
	pthread_mutex_lock(&q->mu);
	q->st.requests++;
	q->st.bytes_in += len;
	if (m == NULL)
		q->st.err_unpack++;
	pthread_mutex_unlock(&q->mu);
	if (m == NULL) {
		be_qnet_refuse(s, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
			       "cannot decode request: not a QueryRequest");
		return;
	}
	if (m->call_case == ELSE__QUERY_REQUEST__CALL_HELLO) {
		be_qnet_hello(s, pipe, m->hello);
		else__query_request__free_unpacked(m, NULL);
		return;
	}
	if (m->call_case == ELSE__QUERY_REQUEST__CALL_AUTH) {
		be_qnet_auth(s, pipe, m->auth);
		else__query_request__free_unpacked(m, NULL);
		return;
	}
	authed = be_peer_identity(q->peers, pipe, s->peer, sizeof(s->peer));
	if (!authed) {
		pthread_mutex_lock(&q->mu);
		q->st.err_peer++;
		pthread_mutex_unlock(&q->mu);
		else__query_request__free_unpacked(m, NULL);
		be_qnet_refuse(s, ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED,
			       "this connection did not authenticate (Hello, Auth)");
		return;
	}
	s->max_reply = be_peer_max_reply(q->peers, pipe); /* 0: not said, no cap */
	pthread_mutex_lock(&q->mu);
	if (q->closing) {
		s->state = BE_QNET_IDLE;
		pthread_mutex_unlock(&q->mu);
		else__query_request__free_unpacked(m, NULL);
		return;
	}
	s->msg = m;
	s->state = BE_QNET_QUEUED;
	if (q->len >= q->nctx)
		el_panic("be_qnet: ready ring over %d", q->nctx);
	q->ring[(q->head + q->len) % q->nctx] = s;
	q->len++;
	q->st.queued++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* be_qnet_slot_cb - NNG completed the slot's receive or send */
static void be_qnet_slot_cb(void *arg)
{
	be_qnet_slot *s = arg;
	be_qnet *q = s->q;
	int rv = nng_aio_result(s->aio);
	nng_msg *msg;

	switch (s->state) {
	case BE_QNET_SEND:
		if (rv != 0) {
			if ((msg = nng_aio_get_msg(s->aio)) != NULL)
				nng_msg_free(msg);
			nng_aio_set_msg(s->aio, NULL);
			pthread_mutex_lock(&q->mu);
			q->st.err_send++;
			pthread_mutex_unlock(&q->mu);
		}
		be_qnet_recv(s);
		return;
	case BE_QNET_RECV:
		if (rv != 0) {
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
				pthread_mutex_lock(&q->mu);
				s->state = BE_QNET_IDLE;
				pthread_mutex_unlock(&q->mu);
				return;
			}
			be_qnet_recv(s);
			return;
		}
		msg = nng_aio_get_msg(s->aio);
		nng_aio_set_msg(s->aio, NULL);
		be_qnet_request(s, msg);
		return;
	default:
		el_panic("be_qnet: completion in state %d", (int)s->state);
	}
}

/*
 * be_qnet_too_large - answer a reply over what its frontend accepts with
 * Q_INTERNAL and why.  NNG would not deliver it: the frontend's receive
 * bound (NNG_OPT_RECVMAXSZ) drops the connection, with every call on it,
 * and the frontend's call would fail only when its time is up, retried
 * meanwhile.  The frontend says its bound in Hello (max_reply).
 */
static void be_qnet_too_large(be_qnet_slot *s, size_t len)
{
	char why[200];

	el_warn("query: %s: a reply of %zu bytes, over the %llu this frontend accepts "
		"(its max_frame): answered Q_INTERNAL",
		s->peer, len, (unsigned long long)s->max_reply);
	snprintf(why, sizeof(why),
		 "the result is too large: %zu bytes, this frontend accepts %llu (max_frame); "
		 "narrow the request",
		 len, (unsigned long long)s->max_reply);
	be_qnet_refuse(s, ELSE__QUERY_STATUS__Q_INTERNAL, why);
}

typedef struct be_qnet_worker {
	be_qnet *q;
	int i;
} be_qnet_worker;

/* be_qnet_worker_main - take a request, answer it, repeat until closing */
static void *be_qnet_worker_main(void *arg)
{
	be_qnet_worker *w = arg;
	be_qnet *q = w->q;
	void *warg = q->worker_args[w->i];
	el_buf out;

	free(w);
	el_buf_init(&out);
	for (;;) {
		be_qnet_slot *s;

		pthread_mutex_lock(&q->mu);
		while (q->len == 0 && !q->closing)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->closing) {
			pthread_mutex_unlock(&q->mu);
			break;
		}
		s = q->ring[q->head];
		q->head = (q->head + 1) % q->nctx;
		q->len--;
		q->st.queued--;
		q->st.busy++;
		pthread_mutex_unlock(&q->mu);

		out.len = 0;
		Else__QueryStatus st = q->handle(warg, s->peer, s->msg, &out);
		else__query_request__free_unpacked(s->msg, NULL);
		s->msg = NULL;
		/* NNG counts its header (a 4-byte request id) against the peer's limit. */
		bool too_large = s->max_reply && out.len + BE_QNET_NNG_HEADER > s->max_reply;
		if (too_large)
			st = ELSE__QUERY_STATUS__Q_INTERNAL;
		pthread_mutex_lock(&q->mu);
		q->st.busy--;
		q->st.status[(unsigned)st < BE_QNET_NSTATUS ? (unsigned)st : BE_QNET_NSTATUS - 1]++;
		q->st.err_too_large += too_large;
		pthread_mutex_unlock(&q->mu);
		if (too_large)
			be_qnet_too_large(s, out.len);
		else
			be_qnet_send_bytes(s, out.p, out.len);
		if (out.cap > (1u << 22)) {
			/* Do not keep a huge buffer for the next small reply. */
			el_buf_fini(&out);
			el_buf_init(&out);
		}
	}
	el_buf_fini(&out);
	return NULL;
}

/* be_qnet_start - see be_qnet.h */
int be_qnet_start(be_qnet **out, const be_qnet_conf *c)
{
	nng_tls_config *tls = NULL;
	size_t max_frame = c->max_frame ? c->max_frame : 4u << 20;
	be_qnet *q;
	int i, rv;

	*out = NULL;
	if (!c->url || strncmp(c->url, "tls+tcp://", 10) != 0 || !c->ca_file || !c->cert_key_file ||
	    !c->handle || c->nworkers < 1 || c->nworkers > BE_QNET_MAX_WORKERS || !c->worker_args ||
	    max_frame < 65536 || max_frame > (64u << 20) || c->nctx < 0 || c->nctx > 256 ||
	    c->max_pipes < 0 || c->max_pipes > 65536) {
		el_warn("query: bad listener configuration (tls+tcp:// URL, files, bounds)");
		return -EINVAL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->nctx = c->nctx ? c->nctx : 16;
	q->nworkers = c->nworkers;
	q->handle = c->handle;
	q->worker_args = c->worker_args;
	q->slots = calloc((size_t)q->nctx, sizeof(*q->slots));
	q->ring = calloc((size_t)q->nctx, sizeof(*q->ring));
	if (!q->slots || !q->ring) {
		rv = -ENOMEM;
		goto fail;
	}
	if ((rv = be_peer_tab_new(&q->peers, c->ca_file, c->max_pipes ? c->max_pipes : 256,
				  c->cn_prefix ? c->cn_prefix : "frontend")) != 0)
		goto fail;
	if ((rv = el_nng_err(nng_rep0_open(&q->sock))) != 0)
		goto fail;
	q->sock_open = true;
	if ((rv = el_nng_err(nng_pipe_notify(q->sock, NNG_PIPE_EV_ADD_PRE, be_qnet_pipe_cb, q))) !=
		    0 ||
	    (rv = el_nng_err(nng_pipe_notify(q->sock, NNG_PIPE_EV_ADD_POST, be_qnet_pipe_cb, q))) !=
		    0 ||
	    (rv = el_nng_err(nng_pipe_notify(q->sock, NNG_PIPE_EV_REM_POST, be_qnet_pipe_cb, q))) !=
		    0)
		goto fail;
	for (i = 0; i < q->nctx; i++) {
		be_qnet_slot *s = &q->slots[i];

		s->q = q;
		if ((rv = el_nng_err(nng_aio_alloc(&s->aio, be_qnet_slot_cb, s))) != 0 ||
		    (rv = el_nng_err(nng_ctx_open(&s->ctx, q->sock))) != 0)
			goto fail;
	}
	if ((rv = el_ossl_ca_load(c->ca_file)) != 0) {
		el_warn("query: cannot load the CA %s: %s", c->ca_file, strerror(-rv));
		goto fail;
	}
	if ((rv = el_nng_tls_server(&tls, c->ca_file, c->cert_key_file)) != 0) {
		el_warn("query: cannot load %s or %s: %s", c->ca_file, c->cert_key_file,
			strerror(-rv));
		goto fail;
	}
	rv = el_nng_listen(q->sock, c->url, tls, max_frame, &q->listener);
	nng_tls_config_free(tls);
	if (rv != 0) {
		el_warn("query: cannot listen on %s: %s", c->url, strerror(-rv));
		goto fail;
	}
	for (i = 0; i < q->nworkers; i++) {
		be_qnet_worker *w = malloc(sizeof(*w));

		if (w == NULL) {
			rv = -ENOMEM;
			goto fail;
		}
		w->q = q;
		w->i = i;
		if (pthread_create(&q->threads[i], NULL, be_qnet_worker_main, w) != 0) {
			free(w);
			rv = -EAGAIN;
			goto fail;
		}
		q->nthreads++;
	}
	for (i = 0; i < q->nctx; i++)
		be_qnet_recv(&q->slots[i]);
	*out = q;
	return 0;
fail:
	be_qnet_stop(q);
	return rv;
}

/* be_qnet_port - see be_qnet.h */
int be_qnet_port(be_qnet *q)
{
	int port = 0, rv;

	rv = nng_listener_get_int(q->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	return rv ? el_nng_err(rv) : port;
}

/* be_qnet_stats_get - see be_qnet.h */
void be_qnet_stats_get(be_qnet *q, be_qnet_stats *out)
{
	uint64_t tls_auth, other;

	el_nng_listener_errors(q->listener, &tls_auth, &other);
	pthread_mutex_lock(&q->mu);
	*out = q->st;
	pthread_mutex_unlock(&q->mu);
	be_peer_stats_get(q->peers, &out->peers);
	out->err_tls = tls_auth;
	out->err_frame = other;
}

/* be_qnet_stop - see be_qnet.h */
void be_qnet_stop(be_qnet *q)
{
	int i;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->closing = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	if (q->peers)
		be_peer_closing(q->peers);
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	if (q->slots)
		for (i = 0; i < q->nctx; i++)
			if (q->slots[i].aio)
				nng_aio_stop(q->slots[i].aio);
	if (q->sock_open &&
	    el_nng_close_bounded(q->sock, BE_QNET_SETTLE_MS, BE_QNET_CLOSE_MS) != 0) {
		el_warn("query: NNG did not close the socket within %d ms (NNG 1.5.2 bug); "
			"leaving it to process exit",
			BE_QNET_CLOSE_MS);
		el_nng_abandon(q); /* NNG may still call back into q */
		return;
	}
	if (q->slots)
		for (i = 0; i < q->nctx; i++) {
			if (q->slots[i].aio)
				nng_aio_free(q->slots[i].aio);
			if (q->slots[i].msg)
				else__query_request__free_unpacked(q->slots[i].msg, NULL);
		}
	be_peer_tab_free(q->peers);
	pthread_cond_destroy(&q->cv);
	pthread_mutex_destroy(&q->mu);
	free(q->slots);
	free(q->ring);
	free(q);
}
