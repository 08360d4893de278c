/*
 * test_net - the ingest transport end to end over loopback mutual TLS: a
 * be_net server in the test process with a trivial worker thread, col_ship
 * clients, and a rogue raw NNG REQ client.  Checks the handshake, refusals
 * (unauthenticated, foreign CA, garbage, oversized and absurd frames, too
 * many connections), the statuses a worker can answer, reconnects, flow
 * control with a slow worker, and stopping under load (run it under ASan).
 *
 * Needs the certificates of tests/net/certs.sh in $ELSE_TEST_CERTS
 * (tests/net/run.sh).  Every test creates its NNG sockets itself: Criterion
 * forks a worker per test and NNG is not fork-safe.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "be_net.h"
#include "col_ship.h"
#include "el_nng.h"
#include "el_ossl.h"
#include "relay.h"

static char tn_dir[1024];

/* tn_path - $ELSE_TEST_CERTS/rel (rotating buffers, per thread) */
static const char *tn_path(const char *rel)
{
	static _Thread_local char buf[8][2048];
	static _Thread_local int i;
	char *p = buf[i++ & 7];

	snprintf(p, sizeof(buf[0]), "%s/%s", tn_dir, rel);
	return p;
}

static void tn_init(void)
{
	const char *d = getenv("ELSE_TEST_CERTS");

	cr_assert(d != NULL, "run through tests/net/run.sh (ELSE_TEST_CERTS unset)");
	snprintf(tn_dir, sizeof(tn_dir), "%s", d);
}

TestSuite(net, .init = tn_init, .timeout = 40);
TestSuite(net_check);

/* tn_ms - monotonic milliseconds */
static int64_t tn_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tn_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- the server and its trivial worker ---- */

typedef struct tn_server {
	be_net *n;
	pthread_t th;
	atomic_int stop;
	int delay_ms;
	Else__IngestStatus status; /* what the worker answers */
	uint64_t gap_committed;    /* committed_seq sent with SEQ_GAP */
	pthread_mutex_t mu;
	int batches;
	uint64_t lines;
	int in_worker, max_in_worker;
	char identity[256];
	char host[256];
	char first_text[64];
	int port;
} tn_server;

/* tn_worker - take batches, record them, answer */
static void *tn_worker(void *arg)
{
	tn_server *s = arg;
	be_net_req *req;
	int rv;

	while (!atomic_load(&s->stop)) {
		if ((rv = be_net_next(s->n, &req, 50)) == -ETIMEDOUT)
			continue;
		if (rv != 0)
			break;
		pthread_mutex_lock(&s->mu);
		s->batches++;
		s->lines += req->batch->n_lines;
		if (++s->in_worker > s->max_in_worker)
			s->max_in_worker = s->in_worker;
		snprintf(s->identity, sizeof(s->identity), "%s", req->identity);
		snprintf(s->host, sizeof(s->host), "%s", req->batch->host);
		if (s->first_text[0] == '\0') {
			size_t l = req->batch->lines[0]->text.len;
			if (l >= sizeof(s->first_text))
				l = sizeof(s->first_text) - 1;
			memcpy(s->first_text, req->batch->lines[0]->text.data, l);
			s->first_text[l] = '\0';
		}
		pthread_mutex_unlock(&s->mu);
		if (s->delay_ms)
			tn_sleep_ms(s->delay_ms);
		pthread_mutex_lock(&s->mu);
		s->in_worker--;
		pthread_mutex_unlock(&s->mu);
		be_net_reply(s->n, req, s->status,
			     s->status == ELSE__INGEST_STATUS__STATUS_SEQ_GAP
				     ? s->gap_committed
				     : req->batch->first_seq + req->batch->n_lines - 1,
			     s->status ? "worker says no" : NULL);
	}
	return NULL;
}

/* tn_start_conf - start a server with conf (url filled in) and its worker */
static void tn_start_conf(tn_server *s, be_net_conf *c, int port)
{
	char url[64];

	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	c->url = url;
	c->ca_file = tn_path("ca1/ca.crt");
	c->cert_key_file = tn_path("ca1/server-localhost.pem");
	pthread_mutex_init(&s->mu, NULL);
	atomic_store(&s->stop, 0);
	cr_assert_eq(be_net_start(&s->n, c), 0);
	s->port = be_net_port(s->n);
	cr_assert(s->port > 0);
	cr_assert_eq(pthread_create(&s->th, NULL, tn_worker, s), 0);
}

static void tn_start(tn_server *s, int nctx)
{
	be_net_conf c = { .nctx = nctx };

	memset(s, 0, sizeof(*s));
	tn_start_conf(s, &c, 0);
}

static void tn_stop(tn_server *s)
{
	atomic_store(&s->stop, 1);
	be_net_shutdown(s->n);
	pthread_join(s->th, NULL);
	be_net_stop(s->n);
	s->n = NULL;
	pthread_mutex_destroy(&s->mu);
}

/* ---- clients ---- */

static col_ship *tn_client_ex(int port, const char *ca, const char *cert, int reconnect_ms)
{
	col_ship_conf c = { 0 };
	col_ship *cs = NULL;
	char url[64];

	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	c.url = url;
	c.ca_file = tn_path(ca);
	c.cert_key_file = tn_path(cert);
	c.server_name = "localhost";
	c.reconnect_min_ms = reconnect_ms;
	c.reconnect_max_ms = reconnect_ms * 10;
	c.software = "test_net";
	cr_assert_eq(col_ship_open(&cs, &c), 0);
	return cs;
}

static col_ship *tn_client(int port, const char *ca, const char *cert)
{
	return tn_client_ex(port, ca, cert, 20);
}

typedef struct tn_batch {
	Else__Batch b;
	Else__Line lines[16];
	Else__Line *ptrs[16];
	char text[16][32];
} tn_batch;

/* tn_batch_make - n lines "STREAM line SEQ" from first_seq */
static void tn_batch_make(tn_batch *t, const char *stream, uint64_t batch_seq, uint64_t first_seq,
			  size_t n)
{
	size_t i;

	else__batch__init(&t->b);
	t->b.host = "mx1.example.org";
	t->b.stream_id = (char *)stream;
	t->b.source = ELSE__SOURCE_KIND__SOURCE_FILE;
	t->b.batch_seq = batch_seq;
	t->b.first_seq = first_seq;
	for (i = 0; i < n; i++) {
		else__line__init(&t->lines[i]);
		t->lines[i].seq = first_seq + i;
		t->lines[i].recv_time_us = 1700000000000000LL;
		snprintf(t->text[i], sizeof(t->text[i]), "line %llu",
			 (unsigned long long)(first_seq + i));
		t->lines[i].text.data = (uint8_t *)t->text[i];
		t->lines[i].text.len = strlen(t->text[i]);
		t->ptrs[i] = &t->lines[i];
	}
	t->b.n_lines = n;
	t->b.lines = t->ptrs;
}

/* A raw NNG REQ client with a valid certificate that sends what it likes. */
typedef struct tn_raw {
	nng_socket s;
} tn_raw;

static void tn_raw_open(tn_raw *r, int port, const char *cert)
{
	nng_tls_config *tls;
	char url[64];

	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", port);
	cr_assert_eq(nng_req0_open(&r->s), 0);
	cr_assert_eq(nng_socket_set_ms(r->s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
	cr_assert_eq(nng_socket_set_ms(r->s, NNG_OPT_RECVTIMEO, 3000), 0);
	cr_assert_eq(nng_socket_set_ms(r->s, NNG_OPT_SENDTIMEO, 3000), 0);
	cr_assert_eq(el_nng_tls_client(&tls, tn_path("ca1/ca.crt"), tn_path(cert), "localhost"), 0);
	cr_assert_eq(el_nng_dial(r->s, url, tls, 1 << 20, 20, 200, NULL), 0);
	nng_tls_config_free(tls);
}

static void tn_raw_close(tn_raw *r)
{
	/* Bounded like be_net and col_ship: NNG 1.5.2 can hang in nng_close. */
	el_nng_close_bounded(r->s, 50, 5000);
}

/* tn_raw_rt - send bytes, unpack the reply; -ETIMEDOUT etc. */
static int tn_raw_rt(tn_raw *r, const void *p, size_t len, Else__IngestReply **rep)
{
	nng_msg *m;
	int rv;

	*rep = NULL;
	cr_assert_eq(nng_msg_alloc(&m, len), 0);
	if (len)
		memcpy(nng_msg_body(m), p, len);
	if ((rv = nng_sendmsg(r->s, m, 0)) != 0) {
		nng_msg_free(m);
		return el_nng_err(rv);
	}
	if ((rv = nng_recvmsg(r->s, &m, 0)) != 0)
		return el_nng_err(rv);
	*rep = else__ingest_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	cr_assert_not_null(*rep);
	return 0;
}

/* tn_raw_req - pack and send a request; returns the reply status */
static int tn_raw_req(tn_raw *r, const Else__IngestRequest *req, Else__IngestReply **rep)
{
	size_t len = else__ingest_request__get_packed_size(req);
	uint8_t *buf = malloc(len ? len : 1);
	int rv;

	else__ingest_request__pack(req, buf);
	rv = tn_raw_rt(r, buf, len, rep);
	free(buf);
	cr_assert_eq(rv, 0, "no reply: %d", rv);
	return (int)(*rep)->status;
}

/* tn_raw_status - send a request, free the reply, return its status */
static int tn_raw_status(tn_raw *r, const Else__IngestRequest *req)
{
	Else__IngestReply *rep;
	int st = tn_raw_req(r, req, &rep);

	else__ingest_reply__free_unpacked(rep, NULL);
	return st;
}

static int tn_raw_batch(tn_raw *r, Else__Batch *b)
{
	Else__IngestRequest req = ELSE__INGEST_REQUEST__INIT;

	req.body_case = ELSE__INGEST_REQUEST__BODY_BATCH;
	req.batch = b;
	return tn_raw_status(r, &req);
}

/* tn_raw_hello - Hello; the nonce into out */
static void tn_raw_hello(tn_raw *r, uint8_t out[32])
{
	Else__IngestRequest req = ELSE__INGEST_REQUEST__INIT;
	Else__Hello h = ELSE__HELLO__INIT;
	Else__IngestReply *rep;

	h.version = 1;
	req.body_case = ELSE__INGEST_REQUEST__BODY_HELLO;
	req.hello = &h;
	cr_assert_eq(tn_raw_req(r, &req, &rep), ELSE__INGEST_STATUS__STATUS_OK);
	cr_assert_eq(rep->nonce.len, 32);
	memcpy(out, rep->nonce.data, 32);
	else__ingest_reply__free_unpacked(rep, NULL);
}

/* tn_raw_auth_with - Auth with cert of cert_rel signed by key_rel over nonce */
static int tn_raw_auth_with(tn_raw *r, const char *cert_rel, const char *key_rel,
			    const uint8_t nonce[32], bool tamper)
{
	Else__IngestRequest req = ELSE__INGEST_REQUEST__INIT;
	Else__Auth a = ELSE__AUTH__INIT;
	el_buf cert, sig;
	int st;

	el_buf_init(&cert);
	el_buf_init(&sig);
	cr_assert_eq(el_ossl_cert_pem(tn_path(cert_rel), &cert), 0);
	cr_assert_eq(el_ossl_sign_nonce(tn_path(key_rel), nonce, 32, &sig), 0);
	if (tamper)
		sig.p[sig.len - 1] ^= 1;
	a.cert_pem.data = (uint8_t *)cert.p;
	a.cert_pem.len = cert.len;
	a.signature.data = (uint8_t *)sig.p;
	a.signature.len = sig.len;
	req.body_case = ELSE__INGEST_REQUEST__BODY_AUTH;
	req.auth = &a;
	st = tn_raw_status(r, &req);
	el_buf_fini(&cert);
	el_buf_fini(&sig);
	return st;
}

static void tn_raw_login(tn_raw *r)
{
	uint8_t nonce[32];

	tn_raw_hello(r, nonce);
	cr_assert_eq(tn_raw_auth_with(r, "ca1/client-mx1.example.org.pem",
				      "ca1/client-mx1.example.org.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_OK);
}

static be_net_stats tn_stats(tn_server *s)
{
	be_net_stats st;

	be_net_stats_get(s->n, &st);
	return st;
}

/* TN_BAD - a batch the server must refuse as BAD_REQUEST, counted in bad */
#define TN_BAD(r, b)                                                                               \
	do {                                                                                       \
		cr_assert_eq(tn_raw_batch((r), (b)), ELSE__INGEST_STATUS__STATUS_BAD_REQUEST);     \
		bad++;                                                                             \
	} while (0)

/* ---- tests ---- */

Test(net, handshake_and_batch)
{
	tn_server s;
	tn_batch b;
	col_ship *c;
	uint64_t committed = 0;
	col_ship_stats cs;

	tn_start(&s, 4);
	c = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "file:/var/log/mail.log", 1, 1, 3);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	cr_assert_eq(committed, 3);
	cr_assert_str_eq(col_ship_identity(c), "mx1.example.org");
	tn_batch_make(&b, "file:/var/log/mail.log", 2, 4, 5);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	cr_assert_eq(committed, 8);
	col_ship_stats_get(c, &cs);
	cr_assert_eq(cs.handshakes, 1);
	cr_assert_eq(cs.batches, 2);
	col_ship_close(c);

	be_net_stats st = tn_stats(&s);
	cr_assert_eq(st.hellos, 1);
	cr_assert_eq(st.auths, 1);
	cr_assert_eq(st.batches, 2);
	cr_assert_eq(st.lines, 8);
	cr_assert_eq(st.acks, 2);
	cr_assert_eq(st.err_unauth + st.err_auth + st.err_invalid + st.err_unpack, 0);
	cr_assert_eq(s.batches, 2);
	cr_assert_str_eq(s.identity, "mx1.example.org");
	cr_assert_str_eq(s.first_text, "line 1");
	tn_stop(&s);
}

Test(net, batch_before_auth_is_unauthenticated)
{
	tn_server s;
	tn_raw r;
	tn_batch b;
	col_ship *c;
	uint64_t committed;

	tn_start(&s, 4);
	tn_raw_open(&r, s.port, "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "s1", 1, 1, 2);
	cr_assert_eq(tn_raw_batch(&r, &b.b), ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED);
	cr_assert_eq(tn_stats(&s).err_unauth, 1);
	/* After Hello + Auth the same batch goes through. */
	tn_raw_login(&r);
	cr_assert_eq(tn_raw_batch(&r, &b.b), ELSE__INGEST_STATUS__STATUS_OK);
	tn_raw_close(&r);
	/* col_ship does the handshake by itself. */
	c = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx2.example.org.pem");
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	cr_assert_str_eq(s.identity, "mx2.example.org");
	col_ship_close(c);
	cr_assert_eq(s.batches, 2);
	tn_stop(&s);
}

Test(net, auth_errors_counted)
{
	Else__IngestRequest req = ELSE__INGEST_REQUEST__INIT;
	Else__Hello h = ELSE__HELLO__INIT;
	tn_server s;
	uint8_t nonce[32] = { 0 };
	tn_raw r;

	tn_start(&s, 2);
	tn_raw_open(&r, s.port, "ca1/client-mx1.example.org.pem");
	/* Auth without Hello. */
	cr_assert_eq(tn_raw_auth_with(&r, "ca1/client-mx1.example.org.pem",
				      "ca1/client-mx1.example.org.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED);
	/* A tampered signature, then a retry on the spent nonce. */
	tn_raw_hello(&r, nonce);
	cr_assert_eq(tn_raw_auth_with(&r, "ca1/client-mx1.example.org.pem",
				      "ca1/client-mx1.example.org.pem", nonce, true),
		     ELSE__INGEST_STATUS__STATUS_AUTH_FAILED);
	cr_assert_eq(tn_raw_auth_with(&r, "ca1/client-mx1.example.org.pem",
				      "ca1/client-mx1.example.org.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_UNAUTHENTICATED);
	/* Someone else's certificate with our key; a foreign CA; expired; bad CN. */
	tn_raw_hello(&r, nonce);
	cr_assert_eq(tn_raw_auth_with(&r, "ca1/client-mx2.example.org.pem",
				      "ca1/client-mx1.example.org.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_AUTH_FAILED);
	tn_raw_hello(&r, nonce);
	cr_assert_eq(tn_raw_auth_with(&r, "ca2/client-mx1.example.org.pem",
				      "ca2/client-mx1.example.org.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_AUTH_FAILED);
	tn_raw_hello(&r, nonce);
	cr_assert_eq(tn_raw_auth_with(&r, "bad/expired.pem", "bad/expired.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_AUTH_FAILED);
	tn_raw_hello(&r, nonce);
	cr_assert_eq(tn_raw_auth_with(&r, "bad/badcn.pem", "bad/badcn.pem", nonce, false),
		     ELSE__INGEST_STATUS__STATUS_AUTH_FAILED);
	/* Protocol version 2, and a request with no body. */
	h.version = 2;
	req.body_case = ELSE__INGEST_REQUEST__BODY_HELLO;
	req.hello = &h;
	cr_assert_eq(tn_raw_status(&r, &req), ELSE__INGEST_STATUS__STATUS_BAD_REQUEST);
	req.body_case = ELSE__INGEST_REQUEST__BODY__NOT_SET;
	cr_assert_eq(tn_raw_status(&r, &req), ELSE__INGEST_STATUS__STATUS_BAD_REQUEST);

	be_net_stats st = tn_stats(&s);
	cr_assert_eq(st.err_unauth, 2);
	cr_assert_eq(st.err_auth, 5);
	cr_assert_eq(st.err_invalid, 2);
	cr_assert_eq(st.auths, 0);
	tn_raw_close(&r);
	cr_assert_eq(s.batches, 0);
	tn_stop(&s);
}

/* tn_refused_at_tls - a client with cert_rel never gets a batch through s's TLS */
static void tn_refused_at_tls(tn_server *s, const char *cert_rel)
{
	tn_batch b;
	col_ship *c;
	uint64_t committed;
	int64_t t0;

	c = tn_client(s->port, "ca1/ca.crt", cert_rel);
	tn_batch_make(&b, "s1", 1, 1, 1);
	t0 = tn_ms();
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 1500), -ETIMEDOUT);
	cr_assert(tn_ms() - t0 >= 1400);
	col_ship_close(c);

	be_net_stats st = tn_stats(s);
	cr_assert_eq(st.requests, 0, "a request got through TLS");
	cr_assert_eq(st.pipes_total, 0);
	cr_assert(st.err_tls >= 1, "NNG counted %llu TLS refusals", (unsigned long long)st.err_tls);
	cr_assert_eq(s->batches, 0);
}

Test(net, foreign_ca_client_refused_at_tls)
{
	tn_server s;

	tn_start(&s, 2);
	tn_refused_at_tls(&s, "ca2/client-mx1.example.org.pem");
	tn_stop(&s);
}

Test(net, revoked_client_refused_at_tls)
{
	tn_server s;
	tn_batch b;
	col_ship *c;
	uint64_t committed;

	tn_start(&s, 2);
	/* ca1/ca.crt carries a CRL that names this certificate (tests/net/certs.sh). */
	tn_refused_at_tls(&s, "bad/revoked.pem");
	/* Another certificate of the same CA still gets in. */
	c = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx2.example.org.pem");
	tn_batch_make(&b, "s1", 1, 1, 1);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 5000), 0);
	col_ship_close(c);
	cr_assert_eq(s.batches, 1);
	tn_stop(&s);
}

Test(net, client_refuses_server_of_another_ca)
{
	tn_server s;
	tn_batch b;
	col_ship *c;
	uint64_t committed;

	tn_start(&s, 2);
	/* Our certificate is fine but we trust only ca2: the backend's is refused. */
	c = tn_client(s.port, "ca2/ca.crt", "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "s1", 1, 1, 1);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 1000), -ETIMEDOUT);
	col_ship_close(c);
	cr_assert_eq(tn_stats(&s).requests, 0);
	tn_stop(&s);
}

Test(net, rogue_garbage_and_absurd_values_counted)
{
	be_net_conf conf = { .nctx = 2, .max_line = 100, .max_lines = 8 };
	static const char junk[] = "\xff\xff\xff\xff garbage, not protobuf \x00\x01\x02";
	char longid[300], longline[101];
	Else__IngestReply *rep;
	tn_server s;
	tn_raw r;
	tn_batch b;
	col_ship *c;
	uint64_t committed;
	int bad = 0;

	memset(&s, 0, sizeof(s));
	tn_start_conf(&s, &conf, 0);
	tn_raw_open(&r, s.port, "ca1/client-mx1.example.org.pem");
	cr_assert_eq(tn_raw_rt(&r, junk, sizeof(junk), &rep), 0);
	cr_assert_eq(rep->status, ELSE__INGEST_STATUS__STATUS_BAD_REQUEST);
	else__ingest_reply__free_unpacked(rep, NULL);
	cr_assert_eq(tn_stats(&s).err_unpack, 1);

	tn_raw_login(&r);
	/* Each batch below is one absurd value away from a good one. */
	tn_batch_make(&b, "s", 1, 1, 3);
	b.b.stream_id = "";
	TN_BAD(&r, &b.b);
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	b.b.stream_id = longid;
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 3);
	b.b.source = 99;
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 0, 3);
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 3);
	b.lines[2].seq = 7;
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, UINT64_MAX - 1, 3);
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 9); /* conf.max_lines = 8 */
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 2);
	memset(longline, 'y', sizeof(longline));
	b.lines[1].text.data = (uint8_t *)longline;
	b.lines[1].text.len = sizeof(longline); /* conf.max_line = 100 */
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 2);
	b.lines[0].recv_time_us = -5;
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 0);
	TN_BAD(&r, &b.b);
	tn_batch_make(&b, "s", 1, 1, 1);
	b.b.flags = 4;
	TN_BAD(&r, &b.b);

	be_net_stats st = tn_stats(&s);
	cr_assert_eq(st.err_invalid, (uint64_t)bad);
	cr_assert_eq(st.batches, 0);
	cr_assert_eq(s.batches, 0);

	/* The same connection still works with a good batch, and so do others. */
	tn_batch_make(&b, "s", 1, 1, 2);
	cr_assert_eq(tn_raw_batch(&r, &b.b), ELSE__INGEST_STATUS__STATUS_OK);
	c = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx2.example.org.pem");
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	col_ship_close(c);
	tn_raw_close(&r);
	cr_assert_eq(s.batches, 2);
	tn_stop(&s);
}

Test(net, oversized_frame_dropped_others_served)
{
	be_net_conf conf = { .nctx = 2, .max_frame = 65536 };
	Else__IngestReply *rep;
	tn_server s;
	tn_raw r;
	tn_batch b;
	col_ship *c;
	uint64_t committed;
	char *big = calloc(1, 200000);
	int rv;

	memset(&s, 0, sizeof(s));
	tn_start_conf(&s, &conf, 0);
	c = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx2.example.org.pem");
	tn_batch_make(&b, "good", 1, 1, 2);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);

	tn_raw_open(&r, s.port, "ca1/client-mx1.example.org.pem");
	/*
	 * NNG refuses the frame from its length header and drops the
	 * connection; REQ with resend off fails the request at once.  The
	 * dial does not wait, so the time allowed covers its TLS handshake
	 * too: 1 s was too short under AddressSanitizer beside another test.
	 */
	cr_assert_eq(nng_socket_set_ms(r.s, NNG_OPT_RECVTIMEO, 10000), 0);
	rv = tn_raw_rt(&r, big, 200000, &rep);
	cr_assert_eq(rv, -ECONNRESET, "%d", rv);
	free(big);

	tn_batch_make(&b, "good", 2, 3, 2);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	cr_assert_eq(committed, 4);
	tn_raw_close(&r);
	col_ship_close(c);

	be_net_stats st = tn_stats(&s);
	cr_assert_eq(st.batches, 2);
	cr_assert(st.err_frame >= 1, "NNG counted %llu dropped connections",
		  (unsigned long long)st.err_frame);
	cr_assert(st.bytes_in < 65536, "the big frame was never received");
	tn_stop(&s);
}

Test(net, worker_statuses_reach_the_client)
{
	tn_server s;
	tn_batch b;
	col_ship *c;
	uint64_t committed = 0;

	tn_start(&s, 2);
	c = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "s", 1, 10, 2);
	s.status = ELSE__INGEST_STATUS__STATUS_BUSY;
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), -EAGAIN);
	s.status = ELSE__INGEST_STATUS__STATUS_SEQ_GAP;
	s.gap_committed = 5;
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), -ERANGE);
	cr_assert_eq(committed, 5);
	s.status = ELSE__INGEST_STATUS__STATUS_BAD_REQUEST;
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), -EPROTO);
	s.status = ELSE__INGEST_STATUS__STATUS_OK;
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	cr_assert_eq(committed, 11);
	col_ship_close(c);
	tn_stop(&s);
}

Test(net, reconnect_after_backend_restart_reauthenticates)
{
	tn_server s;
	tn_batch b;
	col_ship *c;
	col_ship_stats cs;
	uint64_t committed;
	be_net_conf conf = { .nctx = 2 };
	int port;

	tn_start(&s, 2);
	port = s.port;
	c = tn_client(port, "ca1/ca.crt", "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "s", 1, 1, 2);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	tn_stop(&s);

	memset(&s, 0, sizeof(s));
	tn_start_conf(&s, &conf, port);
	tn_batch_make(&b, "s", 2, 3, 2);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	cr_assert_eq(committed, 4);
	col_ship_stats_get(c, &cs);
	cr_assert_eq(cs.handshakes, 2);
	cr_assert_eq(s.batches, 1);
	col_ship_close(c);
	tn_stop(&s);
}

/*
 * A connection that neither answers nor takes anything (a relay that stopped
 * forwarding on it, as a NAT that forgot it would): after two requests in a
 * row time out on it, it is closed, and the next batch goes out on a new one
 * and is committed once.
 */
Test(net, a_connection_gone_silent_is_dialled_again)
{
	tn_server s;
	tn_batch b;
	tr_relay rl;
	col_ship *c;
	col_ship_stats cs;
	uint64_t committed = 0;

	tn_start(&s, 2);
	c = tn_client(tr_relay_start(&rl, s.port), "ca1/ca.crt", "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "s", 1, 1, 2);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0);
	tr_relay_freeze(&rl);
	tn_batch_make(&b, "s", 2, 3, 2);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 500), -ETIMEDOUT);
	col_ship_stats_get(c, &cs);
	cr_assert_eq(cs.stalled, 0, "one silence is not enough");
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 500), -ETIMEDOUT);
	col_ship_stats_get(c, &cs);
	cr_assert_eq(cs.stalled, 1);
	cr_assert_eq(col_ship_send(c, &b.b, &committed, 10000), 0, "the batch on a new connection");
	cr_assert_eq(committed, 4);
	col_ship_stats_get(c, &cs);
	cr_assert_eq(cs.stalled, 1);
	cr_assert_eq(cs.handshakes, 2);
	cr_assert_eq(tr_relay_accepted(&rl), 2);
	col_ship_close(c);
	cr_assert_eq(s.batches, 2, "each batch stored once: %d", (int)s.batches);
	tr_relay_stop(&rl);
	tn_stop(&s);
}

Test(net, max_pipes_refuses_extra_connections)
{
	be_net_conf conf = { .nctx = 2, .max_pipes = 1 };
	tn_server s;
	tn_batch b;
	col_ship *c1, *c2;
	col_ship_stats cs;
	uint64_t committed;
	int rv;

	memset(&s, 0, sizeof(s));
	tn_start_conf(&s, &conf, 0);
	c1 = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx1.example.org.pem");
	tn_batch_make(&b, "s", 1, 1, 1);
	cr_assert_eq(col_ship_send(c1, &b.b, &committed, 10000), 0);
	c2 = tn_client(s.port, "ca1/ca.crt", "ca1/client-mx2.example.org.pem");
	/* Refused: BUSY if its Hello beat the close, else dropped until timeout. */
	rv = col_ship_send(c2, &b.b, &committed, 1000);
	cr_assert(rv == -EAGAIN || rv == -ETIMEDOUT, "%d", rv);
	cr_assert(tn_stats(&s).err_pipes_refused >= 1);
	col_ship_stats_get(c2, &cs);
	cr_assert(cs.resets >= 1 || cs.busy >= 1 || rv == -EAGAIN);
	cr_assert_eq(col_ship_send(c1, &b.b, &committed, 10000), 0);
	col_ship_close(c2);
	col_ship_close(c1);
	/* Pipe removal is asynchronous: wait for the server to forget both. */
	for (rv = 0; rv < 200 && tn_stats(&s).pipes != 0; rv++)
		tn_sleep_ms(10);
	cr_assert_eq(tn_stats(&s).pipes, 0);
	tn_stop(&s);
}

/* Several collectors against a slow worker. */
typedef struct tn_load {
	int port;
	int id;
	int nbatches;
	int timeout_ms;
	int reconnect_ms; /* 0: 20 */
	_Atomic int ok;
	int fail;
	atomic_int *stop;
} tn_load;

static void *tn_load_thread(void *arg)
{
	tn_load *l = arg;
	char stream[32];
	tn_batch b;
	col_ship *c;
	uint64_t committed;
	int i;

	c = tn_client_ex(l->port, "ca1/ca.crt",
			 l->id & 1 ? "ca1/client-mx2.example.org.pem"
				   : "ca1/client-mx1.example.org.pem",
			 l->reconnect_ms ? l->reconnect_ms : 20);
	snprintf(stream, sizeof(stream), "stream-%d", l->id);
	for (i = 0; l->nbatches == 0 || i < l->nbatches; i++) {
		if (l->stop && atomic_load(l->stop))
			break;
		tn_batch_make(&b, stream, (uint64_t)i + 1, (uint64_t)i * 4 + 1, 4);
		if (col_ship_send(c, &b.b, &committed, l->timeout_ms) == 0)
			l->ok++;
		else
			l->fail++;
	}
	col_ship_close(c);
	return NULL;
}

Test(net, slow_worker_blocks_clients_not_memory)
{
	enum { NCLI = 5, NB = 2, DELAY = 100 };
	tn_server s;
	tn_load l[NCLI];
	pthread_t th[NCLI];
	int64_t t0, dt;
	int i, ok = 0;
	uint32_t peak = 0;

	tn_start(&s, 2);
	s.delay_ms = DELAY;
	t0 = tn_ms();
	for (i = 0; i < NCLI; i++) {
		l[i] = (tn_load){ .port = s.port, .id = i, .nbatches = NB, .timeout_ms = 20000 };
		cr_assert_eq(pthread_create(&th[i], NULL, tn_load_thread, &l[i]), 0);
	}
	/* While they wait, the server holds at most nctx batches. */
	for (i = 0; i < 10; i++) {
		be_net_stats st = tn_stats(&s);
		if (st.queued + st.in_worker > peak)
			peak = st.queued + st.in_worker;
		tn_sleep_ms(50);
	}
	for (i = 0; i < NCLI; i++) {
		pthread_join(th[i], NULL);
		ok += l[i].ok;
	}
	dt = tn_ms() - t0;
	cr_assert_eq(ok, NCLI * NB);
	cr_assert(dt >= NCLI * NB * DELAY, "%lld ms: the worker was not the bottleneck",
		  (long long)dt);

	be_net_stats st = tn_stats(&s);
	cr_assert(peak <= 2, "sampled %u batches held", peak);
	cr_assert(st.max_queued <= 2, "high-water %u > nctx", st.max_queued);
	cr_assert_eq(st.max_queued, 2);
	cr_assert_eq(s.max_in_worker, 1);
	cr_assert_eq(st.batches, NCLI * NB);
	tn_stop(&s);
}

Test(net, stop_under_load_is_clean)
{
	enum { NCLI = 3 };
	tn_server s;
	tn_load l[NCLI];
	pthread_t th[NCLI];
	atomic_int stop = 0;
	int i, ok = 0;

	tn_start(&s, 4);
	s.delay_ms = 2;
	for (i = 0; i < NCLI; i++) {
		/*
		 * Slow reconnects: NNG 1.5.2 leaks a TLS connection accepted
		 * while its listener closes (LeakSanitizer shows it in about
		 * one run in eight when clients reconnect within 20 ms).  That
		 * is at exit only, and not ours to fix; keep it out of here.
		 */
		l[i] = (tn_load){ .port = s.port,
				  .id = i,
				  .timeout_ms = 500,
				  .reconnect_ms = 3000,
				  .stop = &stop };
		cr_assert_eq(pthread_create(&th[i], NULL, tn_load_thread, &l[i]), 0);
	}
	/* Stop once every client got through at least once, under way. */
	for (i = 0; i < 500; i++) {
		int all = 1;
		for (int j = 0; j < NCLI; j++)
			all &= l[j].ok > 0;
		if (all)
			break;
		tn_sleep_ms(10);
	}
	tn_sleep_ms(100);
	tn_stop(&s); /* with requests queued, in the worker and in flight */
	tn_sleep_ms(200);
	atomic_store(&stop, 1);
	for (i = 0; i < NCLI; i++) {
		pthread_join(th[i], NULL);
		ok += l[i].ok;
	}
	cr_assert(ok > 0);
}

/* ---- be_net_check_batch, no network ---- */

Test(net_check, every_reason)
{
	static char longid[BE_NET_MAX_STREAM_ID + 2], longhost[BE_NET_MAX_HOST + 2];
	tn_batch b;
	const char *why = NULL;
	struct {
		const char *why;
		int field;
	} cases[] = {
		{ "empty stream_id", 0 },
		{ "stream_id too long", 1 },
		{ "stream_id not printable ASCII", 2 },
		{ "host too long", 3 },
		{ "host not printable ASCII", 4 },
		{ "unknown source kind", 5 },
		{ "unknown flags", 6 },
		{ "batch_seq out of range", 7 },
		{ "empty batch", 8 },
		{ "too many lines", 9 },
		{ "first_seq must be >= 1", 10 },
		{ "seq out of range", 11 },
		{ "seq not contiguous from first_seq", 12 },
		{ "line too long", 13 },
		{ "recv_time_us out of range", 14 },
		{ "recv_time_us out of range", 15 },
	};
	size_t i;

	memset(longid, 'a', sizeof(longid) - 1);
	memset(longhost, 'h', sizeof(longhost) - 1);
	tn_batch_make(&b, "ok", 1, 1, 4);
	cr_assert_eq(be_net_check_batch(&b.b, 100, 10, &why), 0);
	/* The limits themselves are allowed. */
	tn_batch_make(&b, "ok", (uint64_t)INT64_MAX, (uint64_t)INT64_MAX - 3, 4);
	cr_assert_eq(be_net_check_batch(&b.b, 100, 4, &why), 0, "%s", why);
	longid[BE_NET_MAX_STREAM_ID] = '\0';
	b.b.stream_id = longid;
	cr_assert_eq(be_net_check_batch(&b.b, 100, 4, &why), 0, "%s", why);
	longid[BE_NET_MAX_STREAM_ID] = 'a';

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tn_batch_make(&b, "ok", 1, 1, 4);
		switch (cases[i].field) {
		case 0:
			b.b.stream_id = "";
			break;
		case 1:
			b.b.stream_id = longid;
			break;
		case 2:
			b.b.stream_id = "a\tb";
			break;
		case 3:
			b.b.host = longhost;
			break;
		case 4:
			b.b.host = "h\x80";
			break;
		case 5:
			b.b.source = (Else__SourceKind)5;
			break;
		case 6:
			b.b.flags = 1;
			break;
		case 7:
			b.b.batch_seq = (uint64_t)INT64_MAX + 1;
			break;
		case 8:
			b.b.n_lines = 0;
			break;
		case 9:
			tn_batch_make(&b, "ok", 1, 1, 11);
			break;
		case 10:
			tn_batch_make(&b, "ok", 1, 0, 4);
			break;
		case 11:
			tn_batch_make(&b, "ok", 1, (uint64_t)INT64_MAX - 2, 4);
			break;
		case 12:
			b.lines[3].seq = 3;
			break;
		case 13:
			b.lines[1].text.len = 101;
			break;
		case 14:
			b.lines[0].recv_time_us = -1;
			break;
		case 15:
			b.lines[3].recv_time_us = BE_NET_MAX_TIME_US + 1;
			break;
		}
		why = NULL;
		cr_assert_eq(be_net_check_batch(&b.b, 100, 10, &why), -EINVAL, "case %zu", i);
		cr_assert_str_eq(why, cases[i].why, "case %zu", i);
	}
}
