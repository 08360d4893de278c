/*
 * be_net - ingest server over NNG REP + mutual TLS.  See be_net.h.
 *
 * Each of the nctx slots owns one NNG context and one aio and cycles through
 *     RECV -> (Hello/Auth/refusal) SEND -> RECV
 *     RECV -> (valid batch) QUEUED -> worker -> be_net_reply -> SEND -> RECV
 * so a slot whose batch is with the worker does not receive: that is the
 * whole flow-control mechanism, and the ready queue can never hold more than
 * nctx entries.
 *
 * Which pipe proved which certificate (Hello/Auth) is be_peer's business,
 * shared with the query service: this file forwards NNG's pipe events to it
 * and asks it for a pipe's identity.  A request that arrives after its pipe
 * was removed is treated as unauthenticated; its reply goes nowhere, which
 * is what NNG does with replies to closed pipes anyway.
 */
#include "be_net.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "be_peer.h"
#include "el_arena.h"
#include "el_log.h"
#include "el_nng.h"
#include "el_ossl.h"
#include "el_time.h"

enum be_net_state { BE_NET_IDLE, BE_NET_RECV, BE_NET_QUEUED, BE_NET_SEND };

#define BE_NET_SETTLE_MS 200 /* pause between stopping our aios and nng_close */
#define BE_NET_CLOSE_MS 5000 /* longest wait for nng_close */

typedef struct be_net_slot {
	be_net_req req; /* first: be_net_reply finds the slot from it */
	struct be_net *net;
	nng_ctx ctx;
	nng_aio *aio;
	enum be_net_state state;
	Else__IngestRequest *msg; /* unpacked batch while QUEUED / with the worker */
	el_arena ar;              /* ... all of it: one frame's strings and arrays */
	ProtobufCAllocator pa;    /* unpacks into ar */
	char identity[EL_OSSL_MAX_CN + 1];
} be_net_slot;

struct be_net {
	nng_socket sock;
	nng_listener listener;
	bool sock_open;
	char *url, *ca_file, *cert_key_file;
	size_t max_frame, max_line;
	uint32_t max_lines;
	int nctx, max_pipes;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool shutdown; /* be_net_next refuses */
	bool closing;  /* slots stop resubmitting */
	be_net_slot *slots;
	be_net_slot **q; /* ready ring, capacity nctx */
	int qhead, qlen;
	be_peer_tab *peers;    /* Hello/Auth per pipe, connection counts */
	uint64_t batch_unauth; /* Batch on a pipe that did not authenticate */
	be_net_stats st;
};

static void be_net_slot_cb(void *arg);

/*
 * A frame unpacks into its slot's arena: a batch of 5,000 lines is 10,000
 * small allocations otherwise, made by NNG's task thread and freed by the
 * worker's (1-2 % of the backend's CPU in bench/ingest.sh, in malloc alone).
 * The slot holds one request at a time, so its arena holds one message.  A
 * reply is sent only once its request's memory has left the arena (freed,
 * or moved out for Hello and Auth): the send's completion may start the
 * slot's next receive, on another thread, into the same arena.
 */
static void *be_net_pb_alloc(void *ar, size_t n)
{
	return el_arena_alloc(ar, n);
}

static void be_net_pb_free(void *ar, void *p)
{
	(void)ar;
	(void)p;
}

/* be_net_msg_free - the slot's unpacked request, all of it */
static void be_net_msg_free(be_net_slot *s)
{
	el_arena_fini(&s->ar);
}

/* be_net_pow2 - log the 1st, 2nd, 4th, 8th... occurrence: bounded noise */
static bool be_net_pow2(uint64_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

/*
 * be_net_pipe_cb - NNG's pipe events to be_peer.  A connection over
 * max_pipes is marked at ADD_PRE and its Hello answered BUSY; it is not
 * closed by the server.  Closing it inside the ADD_PRE callback, which NNG
 * documents as allowed, made NNG 1.5.2 hang in a later nng_close about one
 * time in five in test_net's max_pipes test; closing it at ADD_POST made
 * the refused collector's own nng_close hang for seconds.  So ADD_POST is
 * not asked for, and be_peer never gets to say "close".
 */
static void be_net_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	be_net *n = arg;
	be_peer_ev e = ev == NNG_PIPE_EV_ADD_PRE    ? BE_PEER_ADD_PRE
		       : ev == NNG_PIPE_EV_ADD_POST ? BE_PEER_ADD_POST
						    : BE_PEER_REM_POST;

	if (be_peer_pipe_event(n->peers, (uint32_t)nng_pipe_id(p), e))
		nng_pipe_close(p);
}

/* be_net_recv - start receiving on the slot unless the server is closing */
static void be_net_recv(be_net_slot *s)
{
	be_net *n = s->net;

	pthread_mutex_lock(&n->mu);
	if (n->closing) {
		s->state = BE_NET_IDLE;
		pthread_mutex_unlock(&n->mu);
		return;
	}
	s->state = BE_NET_RECV;
	pthread_mutex_unlock(&n->mu);
	nng_ctx_recv(s->ctx, s->aio);
}

/* be_net_pack - a reply as a new NNG message, or NULL (counted) */
static nng_msg *be_net_pack(be_net *n, const Else__IngestReply *r)
{
	size_t len = else__ingest_reply__get_packed_size(r);
	nng_msg *m;

	if (nng_msg_alloc(&m, len) != 0) {
		pthread_mutex_lock(&n->mu);
		n->st.err_send++;
		pthread_mutex_unlock(&n->mu);
		return NULL;
	}
	else__ingest_reply__pack(r, nng_msg_body(m));
	return m;
}

/*
 * be_net_send_msg - send m on the slot's context, then receive.  The slot
 * may complete and receive again on another thread before this returns:
 * callers must be done with the slot's request before calling it.
 */
static void be_net_send_msg(be_net_slot *s, nng_msg *m)
{
	be_net *n = s->net;

	if (m == NULL) {
		/* No memory for a few bytes: the peer times out and resends. */
		be_net_recv(s);
		return;
	}
	pthread_mutex_lock(&n->mu);
	if (n->closing) {
		s->state = BE_NET_IDLE;
		pthread_mutex_unlock(&n->mu);
		nng_msg_free(m);
		return;
	}
	s->state = BE_NET_SEND;
	pthread_mutex_unlock(&n->mu);
	nng_aio_set_msg(s->aio, m);
	nng_ctx_send(s->ctx, s->aio);
}

/* be_net_send - pack and send a reply */
static void be_net_send(be_net_slot *s, const Else__IngestReply *r)
{
	be_net_send_msg(s, be_net_pack(s->net, r));
}

/* be_net_refuse - reply with a status and a static reason */
static void be_net_refuse(be_net_slot *s, Else__IngestStatus status, const char *why)
{
	Else__IngestReply r = ELSE__INGEST_REPLY__INIT;

	r.status = status;
	r.error = (char *)why;
	be_net_send(s, &r);
}

/* be_net_warn - a bounded, rate-limited warning about a peer */
static void be_net_warn(uint64_t count, uint32_t pipe, const char *what, const char *why)
{
	if (be_net_pow2(count))
		el_warn("ingest: pipe %u: %s: %s (%llu so far)", pipe, what, why,
			(unsigned long long)count);
}

/* be_net_printable_ascii - every byte in 0x20..0x7e */
static bool be_net_printable_ascii(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e)
			return false;
	return true;
}

/* be_net_check_batch - see be_net.h */
int be_net_check_batch(const Else__Batch *b, size_t max_line, uint32_t max_lines, const char **why)
{
	size_t slen, hlen, i;

	/* protobuf-c allocates len + 1 for strings: strnlen stays inside. */
	slen = b->stream_id ? strnlen(b->stream_id, BE_NET_MAX_STREAM_ID + 1) : 0;
	hlen = b->host ? strnlen(b->host, BE_NET_MAX_HOST + 1) : 0;
	if (slen == 0)
		return *why = "empty stream_id", -EINVAL;
	if (slen > BE_NET_MAX_STREAM_ID)
		return *why = "stream_id too long", -EINVAL;
	if (!be_net_printable_ascii(b->stream_id, slen))
		return *why = "stream_id not printable ASCII", -EINVAL;
	if (hlen > BE_NET_MAX_HOST)
		return *why = "host too long", -EINVAL;
	if (!be_net_printable_ascii(b->host, hlen))
		return *why = "host not printable ASCII", -EINVAL;
	if ((int)b->source < ELSE__SOURCE_KIND__SOURCE_UNKNOWN ||
	    (int)b->source > ELSE__SOURCE_KIND__SOURCE_STDIN)
		return *why = "unknown source kind", -EINVAL;
	if (b->flags != 0)
		return *why = "unknown flags", -EINVAL;
	if (b->batch_seq > BE_NET_MAX_SEQ)
		return *why = "batch_seq out of range", -EINVAL;
	if (b->n_lines == 0)
		return *why = "empty batch", -EINVAL;
	if (b->n_lines > max_lines)
		return *why = "too many lines", -EINVAL;
	if (b->first_seq == 0)
		return *why = "first_seq must be >= 1", -EINVAL;
	if (b->first_seq > BE_NET_MAX_SEQ - (b->n_lines - 1))
		return *why = "seq out of range", -EINVAL;
	for (i = 0; i < b->n_lines; i++) {
		const Else__Line *l = b->lines[i];

		if (l->seq != b->first_seq + i)
			return *why = "seq not contiguous from first_seq", -EINVAL;
		if (l->text.len > max_line)
			return *why = "line too long", -EINVAL;
		if (l->text.len > 0 && l->text.data == NULL)
			return *why = "line without data", -EINVAL;
		if (l->recv_time_us < 0 || l->recv_time_us > BE_NET_MAX_TIME_US)
			return *why = "recv_time_us out of range", -EINVAL;
	}
	return 0;
}

/* be_net_hello - hand the pipe a fresh nonce */
static void be_net_hello(be_net_slot *s, uint32_t pipe, const Else__Hello *h)
{
	be_net *n = s->net;
	Else__IngestReply r = ELSE__INGEST_REPLY__INIT;
	uint8_t nonce[BE_PEER_NONCE];
	uint64_t c;
	int rv;

	if (h->version != 1 || (h->collector && strnlen(h->collector, BE_NET_MAX_COLLECTOR + 1) >
							BE_NET_MAX_COLLECTOR)) {
		pthread_mutex_lock(&n->mu);
		c = ++n->st.err_invalid;
		pthread_mutex_unlock(&n->mu);
		be_net_warn(c, pipe, "bad Hello", h->version != 1 ? "version" : "collector");
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_BAD_REQUEST,
			      h->version != 1 ? "unsupported protocol version"
					      : "collector too long");
		return;
	}
	if ((rv = be_peer_hello(n->peers, pipe, nonce)) != 0) {
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_BUSY,
			      rv == -EBUSY ? "too many connections"
			      : rv == -EIO ? "no randomness"
					   : "connection closing");
		return;
	}
	r.status = ELSE__INGEST_STATUS__STATUS_OK;
	r.nonce.data = nonce;
	r.nonce.len = sizeof(nonce);
	be_net_send(s, &r);
}

/* be_net_auth - verify the certificate and signature, bind the CN (be_peer) */
static void be_net_auth(be_net_slot *s, uint32_t pipe, const Else__Auth *a)
{
	be_net *n = s->net;
	Else__IngestReply r = ELSE__INGEST_REPLY__INIT;
	char cn[EL_OSSL_MAX_CN + 1];
	be_peer_stats ps;
	const char *why;
	int rv;

	rv = be_peer_auth(
		n->peers, pipe, el_span_make((const char *)a->cert_pem.data, a->cert_pem.len),
		el_span_make((const char *)a->signature.data, a->signature.len), cn, sizeof(cn));
	be_peer_stats_get(n->peers, &ps);
	if (rv == -ENOENT) {
		be_net_warn(ps.err_unauth, pipe, "Auth", "no Hello on this connection");
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED, "send Hello first");
		return;
	}
	if (rv != 0) {
		why = rv == -EINVAL ? "unparsable certificate or signature"
				    : "certificate or signature refused";
		be_net_warn(ps.err_auth, pipe, "authentication refused", why);
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_AUTH_FAILED, why);
		return;
	}
	if (ps.auths < 1000 || be_net_pow2(ps.auths))
		el_info("ingest: pipe %u authenticated as %s", pipe, cn);
	r.status = ELSE__INGEST_STATUS__STATUS_OK;
	r.identity = cn;
	be_net_send(s, &r);
}

/* be_net_batch - check auth and bounds, then queue for the worker */
static void be_net_batch(be_net_slot *s, uint32_t pipe, Else__IngestRequest *m, size_t frame)
{
	be_net *n = s->net;
	const Else__Batch *b = m->batch;
	const char *why = NULL;
	uint64_t c = 0;

	if (!be_peer_identity(n->peers, pipe, s->identity, sizeof(s->identity))) {
		pthread_mutex_lock(&n->mu);
		c = ++n->batch_unauth;
		pthread_mutex_unlock(&n->mu);
		be_net_warn(c, pipe, "Batch", "connection not authenticated");
		be_net_msg_free(s);
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED, "authenticate first");
		return;
	}
	if (be_net_check_batch(b, n->max_line, n->max_lines, &why) != 0) {
		pthread_mutex_lock(&n->mu);
		c = ++n->st.err_invalid;
		pthread_mutex_unlock(&n->mu);
		be_net_warn(c, pipe, "Batch refused", why);
		be_net_msg_free(s);
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_BAD_REQUEST, why);
		return;
	}
	s->msg = m;
	s->req.identity = s->identity;
	s->req.batch = b;
	s->req.pipe_id = pipe;
	s->req.frame_bytes = frame;
	pthread_mutex_lock(&n->mu);
	if (n->closing) {
		s->state = BE_NET_IDLE;
		pthread_mutex_unlock(&n->mu);
		be_net_msg_free(s);
		s->msg = NULL;
		return;
	}
	s->state = BE_NET_QUEUED;
	n->q[(n->qhead + n->qlen) % n->nctx] = s;
	n->qlen++;
	n->st.queued++;
	n->st.batches++;
	n->st.lines += b->n_lines;
	if (n->st.queued + n->st.in_worker > n->st.max_queued)
		n->st.max_queued = n->st.queued + n->st.in_worker;
	if (n->qlen > n->nctx)
		el_panic("be_net: ready queue over %d", n->nctx);
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/* be_net_request - one frame received on slot s */
static void be_net_request(be_net_slot *s, nng_msg *msg)
{
	be_net *n = s->net;
	uint32_t pipe = (uint32_t)nng_pipe_id(nng_msg_get_pipe(msg));
	size_t len = nng_msg_len(msg);
	Else__IngestRequest *m;
	uint64_t c;

	m = else__ingest_request__unpack(&s->pa, len, nng_msg_body(msg));
	/* Everything needed was copied by unpack: free the frame now. */
	nng_msg_free(msg);
	pthread_mutex_lock(&n->mu);
	n->st.requests++;
	n->st.bytes_in += len;
	c = m ? 0 : ++n->st.err_unpack;
	pthread_mutex_unlock(&n->mu);
	if (m == NULL) {
		be_net_msg_free(s); /* what unpack had made before it gave up */
		be_net_warn(c, pipe, "undecodable request", "not an IngestRequest");
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_BAD_REQUEST, "cannot decode request");
		return;
	}
	if (m->body_case == ELSE__INGEST_REQUEST__BODY_BATCH) {
		be_net_batch(s, pipe, m, len);
		return; /* m handed on or freed there */
	}
	/*
	 * The reply's send may complete, and the slot receive its next
	 * request into its arena, before the handler returns: this request's
	 * memory leaves the slot first.
	 */
	el_arena own = s->ar;
	el_arena_init(&s->ar);
	switch (m->body_case) {
	case ELSE__INGEST_REQUEST__BODY_HELLO:
		be_net_hello(s, pipe, m->hello);
		break;
	case ELSE__INGEST_REQUEST__BODY_AUTH:
		be_net_auth(s, pipe, m->auth);
		break;
	default:
		pthread_mutex_lock(&n->mu);
		c = ++n->st.err_invalid;
		pthread_mutex_unlock(&n->mu);
		be_net_warn(c, pipe, "request refused", "no body");
		be_net_refuse(s, ELSE__INGEST_STATUS__STATUS_BAD_REQUEST, "empty request");
		break;
	}
	el_arena_fini(&own);
}

/* be_net_slot_cb - NNG completed the slot's receive or send */
static void be_net_slot_cb(void *arg)
{
	be_net_slot *s = arg;
	be_net *n = s->net;
	int rv = nng_aio_result(s->aio);
	nng_msg *msg;

	switch (s->state) {
	case BE_NET_SEND:
		if (rv != 0) {
			if ((msg = nng_aio_get_msg(s->aio)) != NULL)
				nng_msg_free(msg);
			nng_aio_set_msg(s->aio, NULL);
			pthread_mutex_lock(&n->mu);
			n->st.err_send++;
			pthread_mutex_unlock(&n->mu);
		}
		be_net_recv(s);
		return;
	case BE_NET_RECV:
		if (rv != 0) {
			/* ECLOSED/ECANCELED at stop; anything else: try again. */
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
				pthread_mutex_lock(&n->mu);
				s->state = BE_NET_IDLE;
				pthread_mutex_unlock(&n->mu);
				return;
			}
			be_net_recv(s);
			return;
		}
		msg = nng_aio_get_msg(s->aio);
		nng_aio_set_msg(s->aio, NULL);
		be_net_request(s, msg);
		return;
	default:
		el_panic("be_net: completion in state %d", (int)s->state);
	}
}

/* be_net_conf_check - bounds and defaults; -EINVAL with a warning */
static int be_net_conf_check(const be_net_conf *c, be_net_conf *o)
{
	*o = *c;
	if (!o->max_frame)
		o->max_frame = 16u << 20;
	if (!o->max_line)
		o->max_line = BE_NET_MAX_LINE;
	if (!o->max_lines)
		o->max_lines = BE_NET_MAX_LINES;
	if (!o->nctx)
		o->nctx = 8;
	if (!o->max_pipes)
		o->max_pipes = 1024;
	if (!o->url || strncmp(o->url, "tls+tcp://", 10) != 0) {
		el_warn("ingest: url must be tls+tcp://HOST:PORT");
		return -EINVAL;
	}
	if (!o->ca_file || !o->cert_key_file) {
		el_warn("ingest: a CA file and a certificate+key file are required");
		return -EINVAL;
	}
	if (o->max_frame < 65536 || o->max_frame > (256u << 20) || o->max_line > BE_NET_MAX_LINE ||
	    o->max_lines > BE_NET_MAX_LINES || o->nctx < 1 || o->nctx > 64 || o->max_pipes < 1 ||
	    o->max_pipes > 65536) {
		el_warn("ingest: max_frame, max_line, max_lines, nctx or max_pipes out of range");
		return -EINVAL;
	}
	return 0;
}

/* be_net_start - see be_net.h */
int be_net_start(be_net **out, const be_net_conf *conf)
{
	nng_tls_config *tls = NULL;
	be_net_conf c;
	be_net *n;
	int i, rv;

	*out = NULL;
	if ((rv = be_net_conf_check(conf, &c)) != 0)
		return rv;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return -ENOMEM;
	pthread_condattr_t ca;

	pthread_mutex_init(&n->mu, NULL);
	/* Deadlines are on CLOCK_MONOTONIC (el_deadline). */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	n->url = strdup(c.url);
	n->ca_file = strdup(c.ca_file);
	n->cert_key_file = strdup(c.cert_key_file);
	n->max_frame = c.max_frame;
	n->max_line = c.max_line;
	n->max_lines = c.max_lines;
	n->nctx = c.nctx;
	n->max_pipes = c.max_pipes;
	n->slots = calloc((size_t)n->nctx, sizeof(*n->slots));
	n->q = calloc((size_t)n->nctx, sizeof(*n->q));
	if (!n->url || !n->ca_file || !n->cert_key_file || !n->slots || !n->q) {
		rv = -ENOMEM;
		goto fail;
	}
	if ((rv = be_peer_tab_new(&n->peers, n->ca_file, n->max_pipes, NULL)) != 0)
		goto fail;
	if ((rv = el_nng_err(nng_rep0_open(&n->sock))) != 0)
		goto fail;
	n->sock_open = true;
	if ((rv = el_nng_err(nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_PRE, be_net_pipe_cb, n))) !=
		    0 ||
	    (rv = el_nng_err(nng_pipe_notify(n->sock, NNG_PIPE_EV_REM_POST, be_net_pipe_cb, n))) !=
		    0)
		goto fail;
	for (i = 0; i < n->nctx; i++) {
		be_net_slot *s = &n->slots[i];

		s->net = n;
		el_arena_init(&s->ar);
		s->pa = (ProtobufCAllocator){ be_net_pb_alloc, be_net_pb_free, &s->ar };
		if ((rv = el_nng_err(nng_aio_alloc(&s->aio, be_net_slot_cb, s))) != 0 ||
		    (rv = el_nng_err(nng_ctx_open(&s->ctx, n->sock))) != 0)
			goto fail;
	}
	/* Load the CA for Auth now: it may be out of reach after a privilege drop. */
	if ((rv = el_ossl_ca_load(n->ca_file)) != 0) {
		el_warn("ingest: cannot load the CA %s: %s", n->ca_file, strerror(-rv));
		goto fail;
	}
	if ((rv = el_nng_tls_server(&tls, n->ca_file, n->cert_key_file)) != 0) {
		el_warn("ingest: cannot load %s or %s: %s", n->ca_file, n->cert_key_file,
			strerror(-rv));
		goto fail;
	}
	rv = el_nng_listen(n->sock, n->url, tls, n->max_frame, &n->listener);
	nng_tls_config_free(tls); /* the listener holds its own reference */
	if (rv != 0) {
		el_warn("ingest: cannot listen on %s: %s", n->url, strerror(-rv));
		goto fail;
	}
	for (i = 0; i < n->nctx; i++)
		be_net_recv(&n->slots[i]);
	*out = n;
	return 0;
fail:
	be_net_stop(n);
	return rv;
}

/* be_net_port - see be_net.h */
int be_net_port(be_net *n)
{
	int port = 0, rv;

	rv = nng_listener_get_int(n->listener, NNG_OPT_TCP_BOUND_PORT, &port);
	return rv ? el_nng_err(rv) : port;
}

/* be_net_next - see be_net.h */
int be_net_next(be_net *n, be_net_req **req, int timeout_ms)
{
	struct timespec dl = el_deadline(CLOCK_MONOTONIC, timeout_ms > 0 ? timeout_ms : 0);
	be_net_slot *s;

	*req = NULL;
	pthread_mutex_lock(&n->mu);
	while (n->qlen == 0 && !n->shutdown) {
		if (timeout_ms == 0)
			break;
		if (timeout_ms < 0) {
			pthread_cond_wait(&n->cv, &n->mu);
		} else if (pthread_cond_timedwait(&n->cv, &n->mu, &dl) == ETIMEDOUT) {
			break;
		}
	}
	if (n->shutdown) {
		pthread_mutex_unlock(&n->mu);
		return -ESHUTDOWN;
	}
	if (n->qlen == 0) {
		pthread_mutex_unlock(&n->mu);
		return -ETIMEDOUT;
	}
	s = n->q[n->qhead];
	n->qhead = (n->qhead + 1) % n->nctx;
	n->qlen--;
	n->st.queued--;
	n->st.in_worker++;
	pthread_mutex_unlock(&n->mu);
	*req = &s->req;
	return 0;
}

/* be_net_ack_errno - BatchAck.status: 0 or a negative errno per status */
static int32_t be_net_ack_errno(Else__IngestStatus st)
{
	switch (st) {
	case ELSE__INGEST_STATUS__STATUS_OK:
		return 0;
	case ELSE__INGEST_STATUS__STATUS_BUSY:
		return -EAGAIN;
	case ELSE__INGEST_STATUS__STATUS_SEQ_GAP:
		return -ERANGE;
	case ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED:
	case ELSE__INGEST_STATUS__STATUS_AUTH_FAILED:
		return -EACCES;
	default:
		return -EINVAL;
	}
}

/* be_net_reply - see be_net.h */
int be_net_reply(be_net *n, be_net_req *req, Else__IngestStatus status, uint64_t committed_seq,
		 const char *error)
{
	be_net_slot *s = (be_net_slot *)req; /* req is the slot's first member */
	Else__IngestReply r = ELSE__INGEST_REPLY__INIT;
	Else__BatchAck ack = ELSE__BATCH_ACK__INIT;
	char err[BE_NET_MAX_ERROR + 1];
	nng_msg *m;
	int rv = 0;

	if (s < n->slots || s >= n->slots + n->nctx || s->state != BE_NET_QUEUED || !s->msg)
		el_panic("be_net_reply: not a request of this server");
	err[0] = '\0';
	if (error) {
		size_t l = strnlen(error, BE_NET_MAX_ERROR);
		memcpy(err, error, l);
		err[l] = '\0';
	}
	ack.stream_id = req->batch->stream_id;
	ack.batch_seq = req->batch->batch_seq;
	ack.committed_seq = committed_seq;
	ack.status = be_net_ack_errno(status);
	ack.error = err;
	r.status = status;
	r.error = err;
	r.ack = &ack;
	/* Pack, then let go of the request, and only then send: see be_net_send_msg. */
	m = be_net_pack(n, &r);
	be_net_msg_free(s);
	s->msg = NULL;
	memset(&s->req, 0, sizeof(s->req));
	pthread_mutex_lock(&n->mu);
	n->st.in_worker--;
	n->st.acks++;
	if (n->closing) {
		s->state = BE_NET_IDLE;
		rv = -ESHUTDOWN;
	}
	pthread_mutex_unlock(&n->mu);
	if (rv == 0) {
		if (m == NULL)
			rv = -ENOMEM;
		be_net_send_msg(s, m);
	} else if (m) {
		nng_msg_free(m);
	}
	return rv;
}

/* be_net_stats_get - see be_net.h */
void be_net_stats_get(be_net *n, be_net_stats *out)
{
	uint64_t tls_auth, other;
	be_peer_stats ps;

	el_nng_listener_errors(n->listener, &tls_auth, &other);
	be_peer_stats_get(n->peers, &ps);
	pthread_mutex_lock(&n->mu);
	*out = n->st;
	out->err_unauth = n->batch_unauth + ps.err_unauth;
	pthread_mutex_unlock(&n->mu);
	out->hellos = ps.hellos;
	out->auths = ps.auths;
	out->pipes_total = ps.pipes_total;
	out->err_auth = ps.err_auth;
	out->err_pipes_refused = ps.err_pipes_refused;
	out->pipes = ps.pipes;
	out->err_tls = tls_auth;
	out->err_frame = other;
}

/* be_net_shutdown - see be_net.h */
void be_net_shutdown(be_net *n)
{
	pthread_mutex_lock(&n->mu);
	n->shutdown = true;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/*
 * be_net_stop - see be_net.h.  Order matters with NNG 1.5.2 (close races):
 * first forbid resubmission, then stop every aio (waits for running
 * callbacks), then close the socket (pipes, their REM_POST callbacks; see
 * el_nng_close_bounded), and only then free what those callbacks touch.
 */
void be_net_stop(be_net *n)
{
	int i;

	if (n == NULL)
		return;
	pthread_mutex_lock(&n->mu);
	n->closing = true;
	n->shutdown = true;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (n->peers)
		be_peer_closing(n->peers);
	if (n->slots) {
		for (i = 0; i < n->nctx; i++)
			if (n->slots[i].aio)
				nng_aio_stop(n->slots[i].aio);
	}
	if (n->sock_open && el_nng_close_bounded(n->sock, BE_NET_SETTLE_MS, BE_NET_CLOSE_MS) != 0) {
		el_warn("ingest: NNG did not close the socket within %d ms (NNG 1.5.2 bug); "
			"leaving it to process exit",
			BE_NET_CLOSE_MS);
		el_nng_abandon(n); /* NNG may still call back into n */
		return;
	}
	if (n->slots) {
		for (i = 0; i < n->nctx; i++) {
			be_net_slot *s = &n->slots[i];

			if (s->aio)
				nng_aio_free(s->aio);
			be_net_msg_free(s);
		}
	}
	be_peer_tab_free(n->peers);
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n->slots);
	free(n->q);
	free(n->url);
	free(n->ca_file);
	free(n->cert_key_file);
	free(n);
}
