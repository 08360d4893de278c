/*
 * fe_rpc - query client over NNG REQ + mutual TLS.  See fe_rpc.h.
 *
 * Like collector/col_ship.c this module includes NNG directly for the REQ
 * protocol and contexts (el_nng has the TLS, dial and error pieces both
 * share); the signing is el_ossl's, the same as the collector's.
 */
#include "fe_rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "el_buf.h"
#include "el_log.h"
#include "el_nng.h"
#include "el_ossl.h"
#include "el_time.h"

#define FE_RPC_NONCE_MIN 16
#define FE_RPC_NONCE_MAX 64
#define FE_RPC_TRIES 4 /* handshakes or re-authentications per call */
#define FE_RPC_SETTLE_MS 50
#define FE_RPC_CLOSE_MS 5000
#define FE_RPC_POLL_MS 20 /* waiting for some backend to connect */
/*
 * protobuf-c allocates per field when it unpacks: an empty sub-message is 2
 * bytes of frame but its whole struct unpacked (a MessageRow, some 150
 * bytes), so a frame within max_frame could unpack to 75 times its size.
 * The replies of query.proto unpack to 3 to 6 times their frame, 9 to 11
 * for long lists of 1 to 4 byte strings (protobuf-c's temporary arrays count
 * too, and what it frees meanwhile is not given back); past this factor
 * (plus a little for the smallest replies) the reply is refused before
 * protobuf-c takes more.
 */
#define FE_RPC_UNPACK_FACTOR 16
#define FE_RPC_UNPACK_SLACK (64u << 10)

typedef struct fe_rpc_slot {
	nng_ctx ctx;
	nng_aio *aio;    /* fe_rpc_call's: waited on */
	nng_aio *cb_aio; /* fe_rpc_start's: completes in fe_rpc_slot_cb */
	bool busy;
	struct fe_rpc_be *be; /* the backend whose context this is */
	/* An fe_rpc_start call on the slot (set before its send). */
	bool recv;
	bool idempotent;
	int64_t deadline;
	int64_t sent_us; /* when its request was sent (CLOCK_MONOTONIC) */
	fe_rpc_done_fn done;
	void *arg;
} fe_rpc_slot;

typedef struct fe_rpc_be {
	fe_rpc *r;
	char *url;
	nng_socket sock;
	bool sock_open;
	nng_dialer dialer;
	bool dialer_open;
	pthread_mutex_t mu;
	pthread_cond_t cv;         /* a slot freed, a handshake finished */
	atomic_uint pipe_id;       /* the connected pipe's NNG id, 0 without one */
	atomic_int_fast64_t rx_us; /* when a reply last came (CLOCK_MONOTONIC) */
	atomic_uint gen;           /* bumped on every pipe event */
	unsigned authed_gen;       /* gen our handshake authenticated; under mu */
	bool authed;               /* under mu */
	bool handshaking;          /* under mu */
	fe_rpc_slot *slots;
	unsigned nslots;
} fe_rpc_be;

struct fe_rpc {
	fe_rpc_be be[FE_RPC_MAX_BACKENDS];
	size_t nbe;
	char *key_file;
	char *software;
	el_buf cert_pem;
	size_t max_frame;
	size_t unpack_max; /* fe_rpc_start: bigger replies go raw to done */
	atomic_uint next;
	atomic_uint_fast64_t calls, failovers, handshakes, reauth, timeouts, stalled;
	atomic_uint_fast64_t undecodable, bad_status, bad_handshake, too_large; /* bad replies */
};

/* The memory an unpacking may still take (fe_rpc_unpack). */
typedef struct fe_rpc_budget {
	size_t left;
	bool over;
} fe_rpc_budget;

/* fe_rpc_abstime - a CLOCK_MONOTONIC deadline as a timespec */
static struct timespec fe_rpc_abstime(int64_t deadline_ms)
{
	struct timespec ts = { (time_t)(deadline_ms / 1000),
			       (long)(deadline_ms % 1000) * 1000000L };
	return ts;
}

/* fe_rpc_pipe_ev - NNG pipe callback: a connection came or went */
static void fe_rpc_pipe_ev(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	fe_rpc_be *be = arg;

	el_nng_pipe_note(p, ev, &be->pipe_id);
	atomic_fetch_add(&be->gen, 1);
}

/*
 * fe_rpc_stalled - slot s's request, sent or waiting to be, timed out, and
 * nothing at all came back from be since: close the connection, so that
 * the next call goes out on a new one.  A backend answers every statement
 * within its query_timeout, or the connection breaks; and a request waits
 * to be sent only behind the one before it on the connection (REQ sends one
 * at a time, at most rpc_inflight are in flight), which takes no time while
 * the peer reads.  A connection that neither answers nor takes anything is
 * dead whatever TCP thinks: a peer gone silent, a NAT or firewall that
 * forgot it.  A busy backend still answers other calls meanwhile and keeps
 * its connection (closing it would resend them all).  Calls in flight on a
 * closed connection end ECONNRESET: fe_rpc_call resends the idempotent ones.
 */
static void fe_rpc_stalled(fe_rpc_be *be, const fe_rpc_slot *s)
{
	if (s->sent_us == 0 || atomic_load(&be->rx_us) > s->sent_us)
		return; /* not sent (fe_rpc_rt), or answers came since */
	if (el_nng_pipe_close_id(&be->pipe_id) == 0)
		atomic_fetch_add(&be->r->stalled, 1);
}

/* fe_rpc_slot_try - a free context of be now, or NULL; under be->mu */
static fe_rpc_slot *fe_rpc_slot_try(fe_rpc_be *be)
{
	unsigned i;

	for (i = 0; i < be->nslots; i++)
		if (!be->slots[i].busy) {
			be->slots[i].busy = true;
			return &be->slots[i];
		}
	return NULL;
}

/* fe_rpc_slot_get - a free context of be, waiting until deadline */
static fe_rpc_slot *fe_rpc_slot_get(fe_rpc_be *be, int64_t deadline)
{
	struct timespec ts = fe_rpc_abstime(deadline);
	fe_rpc_slot *s;

	pthread_mutex_lock(&be->mu);
	while ((s = fe_rpc_slot_try(be)) == NULL &&
	       pthread_cond_timedwait(&be->cv, &be->mu, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&be->mu);
	return s;
}

/* fe_rpc_slot_put - give a context back */
static void fe_rpc_slot_put(fe_rpc_be *be, fe_rpc_slot *s)
{
	pthread_mutex_lock(&be->mu);
	s->busy = false;
	pthread_cond_broadcast(&be->cv);
	pthread_mutex_unlock(&be->mu);
}

/*
 * fe_rpc_budget_alloc - protobuf-c's allocations within the budget; malloc,
 * so the reply is freed as any other (free_unpacked with NULL)
 */
static void *fe_rpc_budget_alloc(void *data, size_t n)
{
	fe_rpc_budget *b = data;

	if (n > b->left) {
		b->over = true;
		return NULL;
	}
	b->left -= n;
	return malloc(n);
}

/* fe_rpc_budget_free - protobuf-c's free of what it allocated meanwhile */
static void fe_rpc_budget_free(void *data, void *p)
{
	(void)data;
	free(p);
}

/*
 * fe_rpc_unpack - a reply frame (freed) into *rep; -EPROTO if it is not one,
 * -E2BIG if it unpacks to more than FE_RPC_UNPACK_FACTOR times its size
 * (both counted)
 */
static int fe_rpc_unpack(fe_rpc *r, nng_msg *m, Else__QueryReply **rep)
{
	size_t len = nng_msg_len(m);
	fe_rpc_budget b = { len * FE_RPC_UNPACK_FACTOR + FE_RPC_UNPACK_SLACK, false };
	ProtobufCAllocator al = { fe_rpc_budget_alloc, fe_rpc_budget_free, &b };

	*rep = else__query_reply__unpack(&al, len, nng_msg_body(m));
	nng_msg_free(m);
	if (*rep == NULL && b.over) {
		atomic_fetch_add(&r->too_large, 1);
		el_warn("rpc: a reply of %zu bytes from the backend unpacks to more than %zu bytes",
			len, len * FE_RPC_UNPACK_FACTOR + FE_RPC_UNPACK_SLACK);
		return -E2BIG;
	}
	if (*rep == NULL) {
		atomic_fetch_add(&r->undecodable, 1);
		el_warn("rpc: undecodable reply of %zu bytes from the backend", len);
		return -EPROTO;
	}
	if ((unsigned)(*rep)->status > ELSE__QUERY_STATUS__Q_CONFLICT) {
		atomic_fetch_add(&r->bad_status, 1);
		el_warn("rpc: unknown status %d from the backend", (int)(*rep)->status);
		else__query_reply__free_unpacked(*rep, NULL);
		*rep = NULL;
		return -EPROTO;
	}
	return 0;
}

/* fe_rpc_raw_unpack - see fe_rpc.h */
int fe_rpc_raw_unpack(fe_rpc *r, fe_rpc_raw *raw, Else__QueryReply **rep)
{
	*rep = NULL;
	return raw ? fe_rpc_unpack(r, (nng_msg *)raw, rep) : 0;
}

/* fe_rpc_raw_free - see fe_rpc.h */
void fe_rpc_raw_free(fe_rpc_raw *raw)
{
	if (raw)
		nng_msg_free((nng_msg *)raw);
}

/*
 * fe_rpc_rt - one request/reply on slot s before deadline; the reply is
 * unpacked into *rep.  *sent tells whether the request left (a write may
 * then have happened).
 */
static int fe_rpc_rt(fe_rpc *r, fe_rpc_slot *s, const Else__QueryRequest *req,
		     Else__QueryReply **rep, int64_t deadline, bool *sent)
{
	size_t len = else__query_request__get_packed_size(req);
	int64_t left = deadline - el_now_ms(CLOCK_MONOTONIC);
	nng_msg *m;
	int rv;

	*rep = NULL;
	*sent = false;
	s->sent_us = 0;
	if (len > r->max_frame)
		return -EMSGSIZE;
	if (left <= 0)
		return -ETIMEDOUT;
	if (nng_msg_alloc(&m, len) != 0)
		return -ENOMEM;
	else__query_request__pack(req, nng_msg_body(m));
	nng_aio_set_timeout(s->aio, (nng_duration)left);
	nng_aio_set_msg(s->aio, m);
	s->sent_us = el_now_us(CLOCK_MONOTONIC);
	nng_ctx_send(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	if ((rv = nng_aio_result(s->aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(s->aio));
		nng_aio_set_msg(s->aio, NULL);
		return el_nng_err(rv);
	}
	*sent = true;
	left = deadline - el_now_ms(CLOCK_MONOTONIC);
	nng_aio_set_timeout(s->aio, (nng_duration)(left > 0 ? left : 1));
	nng_ctx_recv(s->ctx, s->aio);
	nng_aio_wait(s->aio);
	if ((rv = nng_aio_result(s->aio)) != 0)
		return el_nng_err(rv);
	atomic_store(&s->be->rx_us, el_now_us(CLOCK_MONOTONIC));
	m = nng_aio_get_msg(s->aio);
	nng_aio_set_msg(s->aio, NULL);
	return fe_rpc_unpack(r, m, rep);
}

/* fe_rpc_warn - log a refused handshake step */
static void fe_rpc_warn(fe_rpc_be *be, const char *what, const Else__QueryReply *rep)
{
	char buf[4 * 256 + 1];
	const char *e = rep->error ? rep->error : "";

	el_log_printable(buf, e, strnlen(e, 256), 256);
	el_warn("rpc: %s: %s: status %d: %s", be->url, what, (int)rep->status, buf);
}

/* fe_rpc_hello_auth - one Hello + Auth exchange on slot s */
static int fe_rpc_hello_auth(fe_rpc_be *be, fe_rpc_slot *s, int64_t deadline)
{
	fe_rpc *r = be->r;
	Else__QueryRequest req;
	Else__Hello hello = ELSE__HELLO__INIT;
	Else__Auth auth = ELSE__AUTH__INIT;
	Else__QueryReply *rep = NULL;
	uint8_t nonce[FE_RPC_NONCE_MAX];
	size_t nlen;
	bool sent;
	el_buf sig;
	int rv;

	el_buf_init(&sig);
	else__query_request__init(&req);
	hello.version = 1;
	hello.collector = r->software;
	hello.max_reply = r->max_frame; /* the backend answers a bigger result Q_INTERNAL */
	req.call_case = ELSE__QUERY_REQUEST__CALL_HELLO;
	req.hello = &hello;
	if ((rv = fe_rpc_rt(r, s, &req, &rep, deadline, &sent)) != 0)
		goto stuck;
	if (rep->status != ELSE__QUERY_STATUS__Q_OK) {
		fe_rpc_warn(be, "Hello refused", rep);
		rv = -EPROTO;
		goto out;
	}
	nlen = rep->nonce.len;
	if (rep->result_case != ELSE__QUERY_REPLY__RESULT_NONCE || nlen < FE_RPC_NONCE_MIN ||
	    nlen > FE_RPC_NONCE_MAX) {
		atomic_fetch_add(&r->bad_handshake, 1);
		el_warn("rpc: %s: the answer to Hello is no nonce of %d to %d bytes", be->url,
			FE_RPC_NONCE_MIN, FE_RPC_NONCE_MAX);
		rv = -EPROTO;
		goto out;
	}
	memcpy(nonce, rep->nonce.data, nlen);
	else__query_reply__free_unpacked(rep, NULL);
	rep = NULL;
	if ((rv = el_ossl_sign_nonce(r->key_file, nonce, nlen, &sig)) != 0) {
		el_warn("rpc: cannot sign with %s: %s", r->key_file, strerror(-rv));
		rv = -EACCES;
		goto out;
	}
	auth.cert_pem.data = (uint8_t *)r->cert_pem.p;
	auth.cert_pem.len = r->cert_pem.len;
	auth.signature.data = (uint8_t *)sig.p;
	auth.signature.len = sig.len;
	req.call_case = ELSE__QUERY_REQUEST__CALL_AUTH;
	req.auth = &auth;
	if ((rv = fe_rpc_rt(r, s, &req, &rep, deadline, &sent)) != 0)
		goto stuck;
	if (rep->status == ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED) {
		rv = -EPERM; /* a new pipe between Hello and Auth: again */
		goto out;
	}
	if (rep->status != ELSE__QUERY_STATUS__Q_OK) {
		fe_rpc_warn(be, "authentication refused", rep);
		rv = -EACCES;
		goto out;
	}
	atomic_fetch_add(&r->handshakes, 1);
	goto out;
stuck:
	if (rv == -ETIMEDOUT)
		fe_rpc_stalled(be, s);
out:
	if (rep)
		else__query_reply__free_unpacked(rep, NULL);
	el_buf_fini(&sig);
	return rv;
}

/*
 * fe_rpc_ensure_auth - make sure be's current pipe is authenticated: one
 * thread handshakes, the others wait for its outcome.
 */
static int fe_rpc_ensure_auth(fe_rpc_be *be, fe_rpc_slot *s, int64_t deadline)
{
	struct timespec ts = fe_rpc_abstime(deadline);
	unsigned gen;
	int rv = 0, tries = 0;

	pthread_mutex_lock(&be->mu);
	for (;;) {
		gen = atomic_load(&be->gen);
		if (be->authed && be->authed_gen == gen)
			break;
		if (be->handshaking) {
			if (pthread_cond_timedwait(&be->cv, &be->mu, &ts) == ETIMEDOUT) {
				rv = -ETIMEDOUT;
				break;
			}
			continue;
		}
		be->handshaking = true;
		be->authed = false;
		pthread_mutex_unlock(&be->mu);
		rv = fe_rpc_hello_auth(be, s, deadline);
		pthread_mutex_lock(&be->mu);
		be->handshaking = false;
		if (rv == 0) {
			be->authed = true;
			be->authed_gen = gen;
		}
		pthread_cond_broadcast(&be->cv);
		if (rv == 0 || (rv != -EPERM && rv != -ECONNRESET) || ++tries >= FE_RPC_TRIES)
			break;
	}
	pthread_mutex_unlock(&be->mu);
	/*
	 * Q_PEER_UNAUTHENTICATED to Auth each time: not a pipe that changed
	 * under us (that passes on the next try) but our certificate refused.
	 */
	if (rv == -EPERM) {
		el_warn("rpc: %s refuses this frontend's certificate", be->url);
		rv = -EACCES;
	}
	return rv;
}

/* fe_rpc_unauth - the backend forgot us: handshake again on the next call */
static void fe_rpc_unauth(fe_rpc_be *be)
{
	pthread_mutex_lock(&be->mu);
	be->authed = false;
	pthread_mutex_unlock(&be->mu);
}

/* fe_rpc_pick - the next connected backend after *start, or NULL */
static fe_rpc_be *fe_rpc_pick(fe_rpc *r, unsigned *start, uint32_t tried)
{
	size_t k;

	for (k = 0; k < r->nbe; k++) {
		unsigned i = (*start + (unsigned)k) % (unsigned)r->nbe;
		if ((tried & (1u << i)) == 0 && atomic_load(&r->be[i].pipe_id) != 0) {
			*start = i + 1;
			return &r->be[i];
		}
	}
	return NULL;
}

/* fe_rpc_call - see fe_rpc.h */
int fe_rpc_call(fe_rpc *r, const Else__QueryRequest *req, int idempotent, int timeout_ms,
		Else__QueryReply **rep)
{
	int64_t deadline = el_now_ms(CLOCK_MONOTONIC) + timeout_ms;
	unsigned start = atomic_fetch_add(&r->next, 1);
	uint32_t tried = 0;
	int rv = -ETIMEDOUT, reauth = 0;

	*rep = NULL;
	atomic_fetch_add(&r->calls, 1);
	while (el_now_ms(CLOCK_MONOTONIC) < deadline) {
		fe_rpc_be *be = fe_rpc_pick(r, &start, tried);
		fe_rpc_slot *s;
		bool sent = false;

		if (be == NULL) {
			if (tried == (1u << r->nbe) - 1)
				tried = 0; /* all failed once: try them again while time is left */
			struct timespec ts = { 0, FE_RPC_POLL_MS * 1000000L };
			nanosleep(&ts, NULL);
			continue;
		}
		if ((s = fe_rpc_slot_get(be, deadline)) == NULL) {
			rv = -ETIMEDOUT;
			break;
		}
		rv = fe_rpc_ensure_auth(be, s, deadline);
		if (rv == 0 && (rv = fe_rpc_rt(r, s, req, rep, deadline, &sent)) == -ETIMEDOUT)
			fe_rpc_stalled(be, s);
		fe_rpc_slot_put(be, s);
		if (rv == 0 && (*rep)->status == ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED &&
		    ++reauth < FE_RPC_TRIES) {
			/* Restarted backend, same pipe or a new one: prove it again. */
			atomic_fetch_add(&r->reauth, 1);
			fe_rpc_unauth(be);
			else__query_reply__free_unpacked(*rep, NULL);
			*rep = NULL;
			continue;
		}
		if (rv == 0 && (*rep)->status == ELSE__QUERY_STATUS__Q_BUSY && idempotent &&
		    r->nbe > 1 && (tried | (1u << (be - r->be))) != (1u << r->nbe) - 1) {
			tried |= 1u << (be - r->be);
			atomic_fetch_add(&r->failovers, 1);
			else__query_reply__free_unpacked(*rep, NULL);
			*rep = NULL;
			continue;
		}
		if (rv == 0 || rv == -EACCES || rv == -EMSGSIZE || rv == -ENOMEM || rv == -EPROTO ||
		    rv == -E2BIG)
			break;
		/* Lost connection or timeout on this backend. */
		if (sent && !idempotent) {
			rv = rv == -ETIMEDOUT ? -ETIMEDOUT : -ECONNRESET;
			break;
		}
		fe_rpc_unauth(be);
		tried |= 1u << (be - r->be);
		atomic_fetch_add(&r->failovers, 1);
		rv = -ETIMEDOUT;
	}
	if (rv == -ETIMEDOUT)
		atomic_fetch_add(&r->timeouts, 1);
	return rv;
}

/*
 * fe_rpc_slot_cb - an fe_rpc_start call's send or receive completed.  What
 * fe_rpc_call would retry, resend or fail over goes back to the caller as
 * -EAGAIN, with the same bookkeeping as there.
 */
static void fe_rpc_slot_cb(void *arg)
{
	fe_rpc_slot *s = arg;
	fe_rpc_be *be = s->be;
	fe_rpc *r = be->r;
	int rv = el_nng_err(nng_aio_result(s->cb_aio));
	Else__QueryReply *rep = NULL;
	fe_rpc_raw *raw = NULL;
	size_t len = 0;

	if (!s->recv) {
		if (rv == -ETIMEDOUT)
			fe_rpc_stalled(be, s);
		if (rv != 0) {
			/* The request did not leave: fe_rpc_call may send it. */
			nng_msg_free(nng_aio_get_msg(s->cb_aio));
			nng_aio_set_msg(s->cb_aio, NULL);
			rv = rv == -ECANCELED ? rv : -EAGAIN;
			goto out;
		}
		int64_t left = s->deadline - el_now_ms(CLOCK_MONOTONIC);
		s->recv = true;
		nng_aio_set_timeout(s->cb_aio, (nng_duration)(left > 0 ? left : 1));
		nng_ctx_recv(s->ctx, s->cb_aio);
		return;
	}
	if (rv != 0) {
		/* The receive's timeout is the call's deadline: no time is left. */
		if (rv == -ETIMEDOUT)
			fe_rpc_stalled(be, s);
		if (rv == -ECANCELED || rv == -ETIMEDOUT)
			goto out;
		if (s->idempotent) {
			fe_rpc_unauth(be);
			atomic_fetch_add(&r->failovers, 1);
			rv = -EAGAIN;
		} else {
			rv = -ECONNRESET; /* a write that may have arrived is not resent */
		}
		goto out;
	}
	atomic_store(&be->rx_us, el_now_us(CLOCK_MONOTONIC));
	nng_msg *m = nng_aio_get_msg(s->cb_aio);
	nng_aio_set_msg(s->cb_aio, NULL);
	len = nng_msg_len(m);
	if (len > r->unpack_max) {
		raw = (fe_rpc_raw *)m; /* not on NNG's one task thread */
		goto out;
	}
	if ((rv = fe_rpc_unpack(r, m, &rep)) != 0)
		goto out;
	if (rep->status == ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED) {
		/* Restarted backend: fe_rpc_call proves us again and resends. */
		atomic_fetch_add(&r->reauth, 1);
		fe_rpc_unauth(be);
		rv = -EAGAIN;
	} else if (rep->status == ELSE__QUERY_STATUS__Q_BUSY && s->idempotent && r->nbe > 1) {
		atomic_fetch_add(&r->failovers, 1);
		rv = -EAGAIN;
	}
	if (rv != 0) {
		else__query_reply__free_unpacked(rep, NULL);
		rep = NULL;
	}
out:;
	fe_rpc_done_fn done = s->done;
	void *darg = s->arg;
	if (rv != -EAGAIN)
		atomic_fetch_add(&r->calls, 1); /* else fe_rpc_call counts it */
	if (rv == -ETIMEDOUT)
		atomic_fetch_add(&r->timeouts, 1);
	fe_rpc_slot_put(be, s);
	done(darg, rv, rep, raw, len);
}

/* fe_rpc_start - see fe_rpc.h */
int fe_rpc_start(fe_rpc *r, const Else__QueryRequest *req, int idempotent, int timeout_ms,
		 fe_rpc_done_fn done, void *arg)
{
	size_t len = else__query_request__get_packed_size(req);
	unsigned start = atomic_fetch_add(&r->next, 1);
	fe_rpc_slot *s = NULL;
	fe_rpc_be *be = NULL;
	nng_msg *m;
	size_t k;

	if (len > r->max_frame || timeout_ms <= 0)
		return -EAGAIN; /* fe_rpc_call gives the error */
	for (k = 0; k < r->nbe && s == NULL; k++) {
		be = &r->be[(start + k) % r->nbe];
		if (atomic_load(&be->pipe_id) == 0)
			continue;
		pthread_mutex_lock(&be->mu);
		if (be->authed && be->authed_gen == atomic_load(&be->gen))
			s = fe_rpc_slot_try(be);
		pthread_mutex_unlock(&be->mu);
	}
	if (s == NULL)
		return -EAGAIN;
	if (nng_msg_alloc(&m, len) != 0) {
		fe_rpc_slot_put(be, s);
		return -EAGAIN;
	}
	else__query_request__pack(req, nng_msg_body(m));
	s->be = be;
	s->recv = false;
	s->idempotent = idempotent != 0;
	s->sent_us = el_now_us(CLOCK_MONOTONIC);
	s->deadline = s->sent_us / 1000 + timeout_ms;
	s->done = done;
	s->arg = arg;
	nng_aio_set_timeout(s->cb_aio, (nng_duration)timeout_ms);
	nng_aio_set_msg(s->cb_aio, m);
	nng_ctx_send(s->ctx, s->cb_aio);
	return 0;
}

/* fe_rpc_stats_get - see fe_rpc.h */
void fe_rpc_stats_get(fe_rpc *r, fe_rpc_stats *out)
{
	size_t i;

	out->calls = atomic_load(&r->calls);
	out->failovers = atomic_load(&r->failovers);
	out->handshakes = atomic_load(&r->handshakes);
	out->reauth = atomic_load(&r->reauth);
	out->timeouts = atomic_load(&r->timeouts);
	out->stalled = atomic_load(&r->stalled);
	out->undecodable = atomic_load(&r->undecodable);
	out->bad_status = atomic_load(&r->bad_status);
	out->bad_handshake = atomic_load(&r->bad_handshake);
	out->too_large = atomic_load(&r->too_large);
	out->dropped = 0;
	out->connected = 0;
	for (i = 0; i < r->nbe; i++) {
		uint64_t tls_auth, other;
		out->connected += atomic_load(&r->be[i].pipe_id) != 0;
		if (!r->be[i].dialer_open)
			continue;
		el_nng_dialer_errors(r->be[i].dialer, &tls_auth, &other);
		out->dropped += other;
	}
}

/* fe_rpc_be_open - socket, contexts and dialer of one backend */
static int fe_rpc_be_open(fe_rpc *r, fe_rpc_be *be, const fe_rpc_conf *conf, const char *url)
{
	nng_tls_config *tls = NULL;
	const char *sn = conf->server_name;
	char host[256];
	unsigned i;
	int rv;

	be->r = r;
	pthread_mutex_init(&be->mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&be->cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if ((be->url = strdup(url)) == NULL)
		return -ENOMEM;
	be->nslots = conf->inflight ? conf->inflight : 8;
	if ((be->slots = calloc(be->nslots, sizeof(*be->slots))) == NULL)
		return -ENOMEM;
	if ((rv = el_nng_err(nng_req0_open(&be->sock))) != 0)
		return rv;
	be->sock_open = true;
	/* REQ must not resend behind our back: writes are not idempotent. */
	if ((rv = el_nng_err(nng_socket_set_ms(be->sock, NNG_OPT_REQ_RESENDTIME,
					       NNG_DURATION_INFINITE))) != 0 ||
	    (rv = el_nng_err(
		     nng_pipe_notify(be->sock, NNG_PIPE_EV_ADD_POST, fe_rpc_pipe_ev, be))) != 0 ||
	    (rv = el_nng_err(
		     nng_pipe_notify(be->sock, NNG_PIPE_EV_REM_POST, fe_rpc_pipe_ev, be))) != 0)
		return rv;
	for (i = 0; i < be->nslots; i++) {
		be->slots[i].be = be;
		if ((rv = el_nng_err(nng_ctx_open(&be->slots[i].ctx, be->sock))) != 0 ||
		    (rv = el_nng_err(nng_ctx_set_ms(be->slots[i].ctx, NNG_OPT_REQ_RESENDTIME,
						    NNG_DURATION_INFINITE))) != 0 ||
		    (rv = el_nng_err(nng_aio_alloc(&be->slots[i].aio, NULL, NULL))) != 0 ||
		    (rv = el_nng_err(nng_aio_alloc(&be->slots[i].cb_aio, fe_rpc_slot_cb,
						   &be->slots[i]))) != 0)
			return rv;
	}
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		if (sn == NULL) {
			if (el_nng_url_host(url, host, sizeof(host)) != 0)
				return -EINVAL;
			sn = host;
		}
		if ((rv = el_nng_tls_client(&tls, conf->ca_file, conf->cert_key_file, sn)) != 0) {
			el_warn("rpc: cannot load %s or %s: %s", conf->ca_file, conf->cert_key_file,
				strerror(-rv));
			return rv;
		}
	}
	rv = el_nng_dial(be->sock, url, tls, r->max_frame, 100, 5000, &be->dialer);
	if (tls)
		nng_tls_config_free(tls);
	if (rv != 0) {
		el_warn("rpc: cannot dial %s: %s", url, strerror(-rv));
		return rv;
	}
	be->dialer_open = true;
	return 0;
}

/* fe_rpc_open - see fe_rpc.h */
int fe_rpc_open(fe_rpc **out, const fe_rpc_conf *conf)
{
	fe_rpc *r;
	size_t i;
	int rv;

	*out = NULL;
	if (conf->nurls == 0 || conf->nurls > FE_RPC_MAX_BACKENDS || !conf->ca_file ||
	    !conf->cert_key_file)
		return -EINVAL;
	for (i = 0; i < conf->nurls; i++)
		if (strncmp(conf->urls[i], "tls+tcp://", 10) != 0 &&
		    strncmp(conf->urls[i], "tcp://", 6) != 0)
			return -EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	el_buf_init(&r->cert_pem);
	r->max_frame = conf->max_frame ? conf->max_frame : (16u << 20);
	r->unpack_max = conf->unpack_max == 0                  ? (64u << 10)
			: conf->unpack_max < FE_RPC_UNPACK_MIN ? FE_RPC_UNPACK_MIN
							       : conf->unpack_max;
	r->key_file = strdup(conf->cert_key_file);
	r->software = strdup(conf->software ? conf->software : "else-frontend");
	if (!r->key_file || !r->software) {
		rv = -ENOMEM;
		goto fail;
	}
	if ((rv = el_ossl_cert_pem(conf->cert_key_file, &r->cert_pem)) != 0) {
		el_warn("rpc: no certificate in %s: %s", conf->cert_key_file, strerror(-rv));
		goto fail;
	}
	for (i = 0; i < conf->nurls; i++) {
		r->nbe = i + 1;
		if ((rv = fe_rpc_be_open(r, &r->be[i], conf, conf->urls[i])) != 0)
			goto fail;
	}
	*out = r;
	return 0;
fail:
	fe_rpc_close(r);
	return rv;
}

/* fe_rpc_close - see fe_rpc.h */
void fe_rpc_close(fe_rpc *r)
{
	bool abandoned = false;
	size_t i;
	unsigned k;

	if (r == NULL)
		return;
	for (i = 0; i < r->nbe; i++) {
		fe_rpc_be *be = &r->be[i];
		bool leak = false;
		for (k = 0; be->slots && k < be->nslots; k++) {
			if (be->slots[k].aio)
				nng_aio_stop(be->slots[k].aio);
			if (be->slots[k].cb_aio)
				nng_aio_stop(be->slots[k].cb_aio);
		}
		if (be->dialer_open)
			nng_dialer_close(be->dialer);
		if (be->sock_open &&
		    el_nng_close_bounded(be->sock, FE_RPC_SETTLE_MS, FE_RPC_CLOSE_MS) != 0) {
			el_warn("rpc: NNG did not close %s within %d ms (NNG 1.5.2 bug)", be->url,
				FE_RPC_CLOSE_MS);
			leak = true; /* leave it to NNG and the process exit */
		}
		if (leak) {
			abandoned = true; /* NNG may still use the slots' aios and be */
			continue;
		}
		for (k = 0; be->slots && k < be->nslots; k++) {
			if (be->slots[k].aio)
				nng_aio_free(be->slots[k].aio);
			if (be->slots[k].cb_aio)
				nng_aio_free(be->slots[k].cb_aio);
		}
		free(be->slots);
		free(be->url);
		pthread_cond_destroy(&be->cv);
		pthread_mutex_destroy(&be->mu);
	}
	el_buf_fini(&r->cert_pem);
	free(r->key_file);
	free(r->software);
	if (abandoned)
		el_nng_abandon(r); /* be (the pipe callbacks' argument) lives in r */
	else
		free(r);
}
