/*
 * tq_peer - a frontend's side of the query service's RPC, shared by the
 * test programs (test_query, query_client): one request/reply on a REQ
 * socket, and the Hello/Auth proof of a frontend certificate.
 *
 * OWNERSHIP: tq_peer_call's reply is the caller's (free_unpacked).
 * ERRORS: NULL / -1 on a transport or local failure.
 * THREADS: one socket per thread.
 */
#ifndef TQ_PEER_H
#define TQ_PEER_H

#include <nng/nng.h>

#include "el_buf.h"
#include "el_ossl.h"
#include "query.pb-c.h"

/* tq_peer_call - send rq, the unpacked reply (NULL: transport failure) */
static inline Else__QueryReply *tq_peer_call(nng_socket s, const Else__QueryRequest *rq)
{
	size_t n = else__query_request__get_packed_size(rq);
	Else__QueryReply *r;
	nng_msg *m;

	if (nng_msg_alloc(&m, n) != 0)
		return NULL;
	else__query_request__pack(rq, nng_msg_body(m));
	if (nng_sendmsg(s, m, 0) != 0) {
		nng_msg_free(m);
		return NULL;
	}
	if (nng_recvmsg(s, &m, 0) != 0)
		return NULL;
	r = else__query_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	return r;
}

/*
 * tq_peer_auth - Hello, then Auth with cert (key + certificate, PEM): the
 * status of the step that failed, or of Auth; -1 on a transport or local
 * failure.  *step is "hello" or "auth".
 */
static inline int tq_peer_auth(nng_socket s, const char *cert, const char **step)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Hello h = ELSE__HELLO__INIT;
	Else__Auth au = ELSE__AUTH__INIT;
	Else__QueryReply *r;
	el_buf pem, sig;
	int st = -1;

	*step = "hello";
	h.version = 1;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_HELLO;
	rq.hello = &h;
	if ((r = tq_peer_call(s, &rq)) == NULL)
		return -1;
	if (r->status != ELSE__QUERY_STATUS__Q_OK) {
		st = r->status;
		else__query_reply__free_unpacked(r, NULL);
		return st;
	}
	el_buf_init(&pem);
	el_buf_init(&sig);
	if (el_ossl_cert_pem(cert, &pem) == 0 &&
	    el_ossl_sign_nonce(cert, r->nonce.data, r->nonce.len, &sig) == 0) {
		else__query_reply__free_unpacked(r, NULL);
		*step = "auth";
		au.cert_pem.data = (uint8_t *)pem.p;
		au.cert_pem.len = pem.len;
		au.signature.data = (uint8_t *)sig.p;
		au.signature.len = sig.len;
		rq.call_case = ELSE__QUERY_REQUEST__CALL_AUTH;
		rq.auth = &au;
		if ((r = tq_peer_call(s, &rq)) != NULL)
			st = r->status;
	}
	if (r)
		else__query_reply__free_unpacked(r, NULL);
	el_buf_fini(&pem);
	el_buf_fini(&sig);
	return st;
}

#endif
