/*
 * col_ship - ingest client over NNG REQ + mutual TLS.  See col_ship.h.
 */
#include "col_ship.h"

#include <errno.h>
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
#include "ingest.pb-c.h"

#define COL_SHIP_NONCE_MIN 16
#define COL_SHIP_NONCE_MAX 64
#define COL_SHIP_MAX_REPLY (64 * 1024) /* replies carry an ack and a short text */
#define COL_SHIP_TRIES 4               /* handshakes per call before giving up */
#define COL_SHIP_SETTLE_MS 50          /* see el_nng_close_bounded */
#define COL_SHIP_CLOSE_MS 5000
/* REQ's own resend: off, see col_ship.h. */
#define COL_SHIP_RESEND_MS NNG_DURATION_INFINITE
/* Requests in a row that got nothing back in time before the connection is closed. */
#define COL_SHIP_SILENT 2

struct col_ship {
	nng_socket sock;
	bool sock_open;
	nng_dialer dialer;
	bool dialer_open;
	nng_ctx ctx;
	nng_aio *aio;
	char *key_file;
	char *software;
	el_buf cert_pem; /* our certificate, sent in Auth */
	size_t max_frame;
	bool authed;
	atomic_uint pipe_id; /* the connected pipe's NNG id, 0 without one */
	int silent;          /* requests in a row that got nothing back in time */
	char identity[EL_OSSL_MAX_CN + 1];
	col_ship_stats st;
};

/*
 * col_ship_silent - a request got nothing back before its deadline, sent
 * or waiting to be (REQ sends one at a time: the one before it did not
 * leave).  After COL_SHIP_SILENT in a row the connection is closed, and the
 * next request goes out on a new one.  A connection that answers nothing to
 * two requests in a row (20 s with the collector's default send_timeout) is
 * taken for dead whatever TCP thinks: a NAT or firewall that forgot it, a
 * peer gone silent.  TCP alone keeps such a connection for a quarter of an
 * hour and more, each resend timing out on it.  A backend merely slower
 * than that costs a new connection and a handshake; the batch resent on it
 * is deduplicated by its sequence numbers.
 */
static void col_ship_silent(col_ship *c)
{
	if (++c->silent < COL_SHIP_SILENT)
		return;
	c->silent = 0;
	if (el_nng_pipe_close_id(&c->pipe_id) == 0) {
		c->authed = false;
		c->st.stalled++;
		el_warn("ship: %d requests in a row got no answer: connecting again",
			COL_SHIP_SILENT);
	}
}

/* col_ship_status - an IngestStatus other than OK/UNAUTHENTICATED as errno */
static int col_ship_status(Else__IngestStatus st)
{
	switch (st) {
	case ELSE__INGEST_STATUS__STATUS_OK:
		return 0;
	case ELSE__INGEST_STATUS__STATUS_BUSY:
		return -EAGAIN;
	case ELSE__INGEST_STATUS__STATUS_SEQ_GAP:
		return -ERANGE;
	case ELSE__INGEST_STATUS__STATUS_AUTH_FAILED:
		return -EACCES;
	case ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED:
		return -EPERM;
	default:
		return -EPROTO;
	}
}

/* col_ship_msg - pack a request into a new NNG message */
static int col_ship_msg(col_ship *c, const Else__IngestRequest *r, nng_msg **out)
{
	size_t len = else__ingest_request__get_packed_size(r);

	if (len > c->max_frame)
		return -EINVAL;
	if (nng_msg_alloc(out, len) != 0)
		return -ENOMEM;
	else__ingest_request__pack(r, nng_msg_body(*out));
	return 0;
}

/*
 * col_ship_rt - one request/reply before deadline; m is consumed.  The reply
 * is unpacked into *rep (caller frees).
 */
static int col_ship_rt(col_ship *c, nng_msg *m, Else__IngestReply **rep, int64_t deadline)
{
	int64_t left = deadline - el_now_ms(CLOCK_MONOTONIC);
	size_t len = nng_msg_len(m);
	nng_msg *r;
	int rv;

	*rep = NULL;
	if (left <= 0) {
		nng_msg_free(m);
		return -ETIMEDOUT;
	}
	nng_aio_set_timeout(c->aio, (nng_duration)left);
	nng_aio_set_msg(c->aio, m);
	nng_ctx_send(c->ctx, c->aio);
	nng_aio_wait(c->aio);
	if ((rv = nng_aio_result(c->aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(c->aio));
		nng_aio_set_msg(c->aio, NULL);
		if (rv == NNG_ETIMEDOUT)
			col_ship_silent(c);
		goto fail;
	}
	c->st.bytes_out += len;
	left = deadline - el_now_ms(CLOCK_MONOTONIC);
	nng_aio_set_timeout(c->aio, (nng_duration)(left > 0 ? left : 1));
	nng_ctx_recv(c->ctx, c->aio);
	nng_aio_wait(c->aio);
	if ((rv = nng_aio_result(c->aio)) != 0) {
		if (rv == NNG_ETIMEDOUT)
			col_ship_silent(c);
		goto fail;
	}
	c->silent = 0;
	r = nng_aio_get_msg(c->aio);
	nng_aio_set_msg(c->aio, NULL);
	*rep = else__ingest_reply__unpack(NULL, nng_msg_len(r), nng_msg_body(r));
	nng_msg_free(r);
	if (*rep == NULL) {
		el_warn("ship: undecodable reply from the backend");
		return -EPROTO;
	}
	return 0;
fail:
	return el_nng_err(rv);
}

/* col_ship_reply_text - the reply's error text, bounded and printable */
static void col_ship_warn(const char *what, const Else__IngestReply *rep)
{
	char buf[4 * 256 + 1];
	const char *e = rep->error ? rep->error : "";

	el_log_printable(buf, e, strnlen(e, 256), 256);
	el_warn("ship: %s: status %d: %s", what, (int)rep->status, buf);
}

/* col_ship_hello_auth - one Hello + Auth exchange */
static int col_ship_hello_auth(col_ship *c, int64_t deadline)
{
	Else__IngestRequest req = ELSE__INGEST_REQUEST__INIT;
	Else__Hello hello = ELSE__HELLO__INIT;
	Else__Auth auth = ELSE__AUTH__INIT;
	Else__IngestReply *rep = NULL;
	uint8_t nonce[COL_SHIP_NONCE_MAX];
	size_t nlen, idlen;
	el_buf sig;
	nng_msg *m;
	int rv;

	el_buf_init(&sig);
	hello.version = 1;
	hello.collector = c->software;
	req.body_case = ELSE__INGEST_REQUEST__BODY_HELLO;
	req.hello = &hello;
	if ((rv = col_ship_msg(c, &req, &m)) != 0 || (rv = col_ship_rt(c, m, &rep, deadline)) != 0)
		goto out;
	if (rep->status != ELSE__INGEST_STATUS__STATUS_OK) {
		col_ship_warn("Hello refused", rep);
		rv = col_ship_status(rep->status);
		goto out;
	}
	nlen = rep->nonce.len;
	if (nlen < COL_SHIP_NONCE_MIN || nlen > COL_SHIP_NONCE_MAX) {
		rv = -EPROTO;
		goto out;
	}
	memcpy(nonce, rep->nonce.data, nlen);
	else__ingest_reply__free_unpacked(rep, NULL);
	rep = NULL;
	if ((rv = el_ossl_sign_nonce(c->key_file, nonce, nlen, &sig)) != 0) {
		el_warn("ship: cannot sign with %s: %s", c->key_file, strerror(-rv));
		rv = -EACCES;
		goto out;
	}
	auth.cert_pem.data = (uint8_t *)c->cert_pem.p;
	auth.cert_pem.len = c->cert_pem.len;
	auth.signature.data = (uint8_t *)sig.p;
	auth.signature.len = sig.len;
	req.body_case = ELSE__INGEST_REQUEST__BODY_AUTH;
	req.auth = &auth;
	if ((rv = col_ship_msg(c, &req, &m)) != 0 || (rv = col_ship_rt(c, m, &rep, deadline)) != 0)
		goto out;
	if (rep->status != ELSE__INGEST_STATUS__STATUS_OK) {
		if (rep->status != ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED)
			col_ship_warn("authentication refused", rep);
		rv = col_ship_status(rep->status);
		goto out;
	}
	idlen = rep->identity ? strnlen(rep->identity, EL_OSSL_MAX_CN + 1) : 0;
	if (!el_ossl_valid_cn(rep->identity, idlen)) {
		rv = -EPROTO;
		goto out;
	}
	memcpy(c->identity, rep->identity, idlen);
	c->identity[idlen] = '\0';
	c->authed = true;
	c->st.handshakes++;
out:
	if (rep)
		else__ingest_reply__free_unpacked(rep, NULL);
	el_buf_fini(&sig);
	return rv;
}

/*
 * col_ship_handshake_until - Hello + Auth, again if the connection changed
 * between the two (the Auth then lands on a pipe without our nonce, -EPERM)
 * or dropped under it (-ECONNRESET: NNG 1.5.2 REQ with resend disabled fails
 * a pending request at once when its pipe closes).
 */
static int col_ship_handshake_until(col_ship *c, int64_t deadline)
{
	int tries = 0, rv;

	c->authed = false;
	for (;;) {
		rv = col_ship_hello_auth(c, deadline);
		if (rv == -ECONNRESET)
			c->st.resets++;
		else if (rv != -EPERM || ++tries >= COL_SHIP_TRIES)
			break;
		if (el_now_ms(CLOCK_MONOTONIC) >= deadline)
			return -ETIMEDOUT;
	}
	return rv == -EPERM ? -ETIMEDOUT : rv;
}

/* col_ship_handshake - see col_ship.h */
int col_ship_handshake(col_ship *c, int timeout_ms)
{
	return col_ship_handshake_until(c, el_now_ms(CLOCK_MONOTONIC) + timeout_ms);
}

/* col_ship_send - see col_ship.h */
int col_ship_send(col_ship *c, const Else__Batch *b, uint64_t *committed_seq, int timeout_ms)
{
	int64_t deadline = el_now_ms(CLOCK_MONOTONIC) + timeout_ms;
	Else__IngestRequest req = ELSE__INGEST_REQUEST__INIT;
	Else__IngestReply *rep = NULL;
	nng_msg *m0, *m;
	size_t len;
	int unauth = 0, resets = 0, rv;

	req.body_case = ELSE__INGEST_REQUEST__BODY_BATCH;
	req.batch = (Else__Batch *)b;
	if ((rv = col_ship_msg(c, &req, &m0)) != 0)
		return rv;
	len = nng_msg_len(m0);
	/*
	 * Bounded by the deadline: a lost connection (-ECONNRESET) waits for
	 * the dialer's next connection (its backoff paces the loop), and
	 * UNAUTHENTICATED answers by COL_SHIP_TRIES.
	 */
	for (;;) {
		if (el_now_ms(CLOCK_MONOTONIC) >= deadline) {
			rv = -ETIMEDOUT;
			break;
		}
		if (!c->authed) {
			rv = col_ship_handshake_until(c, deadline);
			if (rv == -ECONNRESET)
				continue;
			if (rv != 0)
				break;
		}
		/*
		 * The first attempt sends the packed message itself; a resend
		 * packs it again.  (A copy kept for resends cost an allocation,
		 * zeroed by NNG, and a copy of every batch: a fifth of the
		 * collector's CPU at full speed, bench/collector.sh.)
		 */
		if (m0 != NULL) {
			m = m0;
			m0 = NULL;
		} else if ((rv = col_ship_msg(c, &req, &m)) != 0) {
			break;
		}
		rv = col_ship_rt(c, m, &rep, deadline);
		if (rv == -ECONNRESET) {
			/* Committed or not, the backend drops what it has on resend. */
			c->authed = false;
			c->st.resets++;
			if (++resets == 2 || (resets & (resets - 1)) == 0)
				el_warn("ship: connection dropped %d times while sending a "
					"%zu-byte batch: "
					"is it over the backend's max_frame?",
					resets, len);
			continue;
		}
		if (rv != 0)
			break;
		if (rep->status == ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED) {
			/* A new connection since our handshake: prove it again. */
			c->authed = false;
			c->st.unauth++;
			else__ingest_reply__free_unpacked(rep, NULL);
			rep = NULL;
			if (++unauth >= COL_SHIP_TRIES) {
				rv = -EPROTO;
				break;
			}
			continue;
		}
		rv = col_ship_status(rep->status);
		if (rv == 0 || rv == -ERANGE) {
			if (rep->ack == NULL || rep->ack->stream_id == NULL ||
			    strcmp(rep->ack->stream_id, b->stream_id) != 0 ||
			    rep->ack->batch_seq != b->batch_seq) {
				el_warn("ship: ack does not match the batch sent");
				rv = -EPROTO;
				break;
			}
			*committed_seq = rep->ack->committed_seq;
			if (rv == 0)
				c->st.batches++;
		} else if (rv == -EAGAIN) {
			c->st.busy++;
		} else {
			col_ship_warn("batch refused", rep);
		}
		break;
	}
	if (rv == -ETIMEDOUT)
		c->st.timeouts++;
	if (rep)
		else__ingest_reply__free_unpacked(rep, NULL);
	if (m0 != NULL)
		nng_msg_free(m0);
	return rv;
}

/* col_ship_identity - see col_ship.h */
const char *col_ship_identity(const col_ship *c)
{
	return c->authed ? c->identity : "";
}

/* col_ship_stats_get - see col_ship.h */
void col_ship_stats_get(const col_ship *c, col_ship_stats *out)
{
	*out = c->st;
}

/* col_ship_open - see col_ship.h */
int col_ship_open(col_ship **out, const col_ship_conf *conf)
{
	nng_tls_config *tls = NULL;
	char host[256];
	const char *sn = conf->server_name;
	col_ship *c;
	int rv;

	*out = NULL;
	if (!conf->url || !conf->ca_file || !conf->cert_key_file ||
	    strncmp(conf->url, "tls+tcp://", 10) != 0)
		return -EINVAL;
	if (sn == NULL) {
		if (el_nng_url_host(conf->url, host, sizeof(host)) != 0)
			return -EINVAL;
		sn = host;
	}
	if (strspn(sn, "0123456789.") == strlen(sn) || strchr(sn, ':') != NULL)
		el_warn("ship: server name %s is an address: mbed TLS 2.28 (NNG's TLS) matches "
			"only "
			"DNS names of the backend's certificate; set a server name",
			sn);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	el_buf_init(&c->cert_pem);
	c->max_frame = conf->max_frame ? conf->max_frame : (16u << 20);
	c->key_file = strdup(conf->cert_key_file);
	c->software = strdup(conf->software ? conf->software : "else");
	if (!c->key_file || !c->software) {
		rv = -ENOMEM;
		goto fail;
	}
	if ((rv = el_ossl_cert_pem(conf->cert_key_file, &c->cert_pem)) != 0) {
		el_warn("ship: no certificate in %s: %s", conf->cert_key_file, strerror(-rv));
		goto fail;
	}
	if ((rv = el_nng_err(nng_req0_open(&c->sock))) != 0)
		goto fail;
	c->sock_open = true;
	if ((rv = el_nng_err(nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, el_nng_pipe_note,
					     &c->pipe_id))) != 0 ||
	    (rv = el_nng_err(nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, el_nng_pipe_note,
					     &c->pipe_id))) != 0)
		goto fail;
	/* See the header: the application resends, REQ must not. */
	if ((rv = el_nng_err(nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
					       COL_SHIP_RESEND_MS))) != 0 ||
	    (rv = el_nng_err(nng_ctx_open(&c->ctx, c->sock))) != 0 ||
	    (rv = el_nng_err(nng_ctx_set_ms(c->ctx, NNG_OPT_REQ_RESENDTIME, COL_SHIP_RESEND_MS))) !=
		    0 ||
	    (rv = el_nng_err(nng_aio_alloc(&c->aio, NULL, NULL))) != 0)
		goto fail;
	if ((rv = el_nng_tls_client(&tls, conf->ca_file, conf->cert_key_file, sn)) != 0) {
		el_warn("ship: cannot load %s or %s: %s", conf->ca_file, conf->cert_key_file,
			strerror(-rv));
		goto fail;
	}
	rv = el_nng_dial(c->sock, conf->url, tls, COL_SHIP_MAX_REPLY,
			 conf->reconnect_min_ms ? conf->reconnect_min_ms : 100,
			 conf->reconnect_max_ms ? conf->reconnect_max_ms : 10000, &c->dialer);
	nng_tls_config_free(tls);
	if (rv != 0) {
		el_warn("ship: cannot dial %s: %s", conf->url, strerror(-rv));
		goto fail;
	}
	c->dialer_open = true;
	*out = c;
	return 0;
fail:
	col_ship_close(c);
	return rv;
}

/* col_ship_close - see col_ship.h */
void col_ship_close(col_ship *c)
{
	if (c == NULL)
		return;
	if (c->aio)
		nng_aio_stop(c->aio);
	if (c->dialer_open)
		nng_dialer_close(c->dialer); /* no new pipes while closing */
	if (c->sock_open &&
	    el_nng_close_bounded(c->sock, COL_SHIP_SETTLE_MS, COL_SHIP_CLOSE_MS) != 0) {
		el_warn("ship: NNG did not close the socket within %d ms (NNG 1.5.2 bug)",
			COL_SHIP_CLOSE_MS);
		el_nng_abandon(c); /* NNG may still use its aio and the pipe callbacks' c */
		return;
	}
	if (c->aio)
		nng_aio_free(c->aio);
	el_buf_fini(&c->cert_pem);
	free(c->key_file);
	free(c->software);
	free(c);
}
