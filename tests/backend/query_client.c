/*
 * query_client - a frontend's side of the query service, for shell tests
 * (tests/backend/query_e2e.sh): dial the backend over mutual TLS, prove the
 * certificate (Hello/Auth), log in with the password read from stdin, run
 * one quick search and print what came back.
 *
 * usage: query_client URL CA_FILE CERT_KEY_FILE SERVER_NAME USER QUERY
 *
 * Prints "auth STATUS", "login STATUS", then "quick STATUS rows N truncated
 * T" and one "row EMAIL_ID HOST QUEUE_ID SENDER" line per row; every STATUS
 * is the QueryStatus name.  Exits 0 when the quick search answered Q_OK, 1
 * when a step was refused (the output says which), 2 on a usage or local
 * error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "el_buf.h"
#include "el_nng.h"
#include "el_ossl.h"
#include "query.pb-c.h"
#include "tq_peer.h"

/* qc_status - print "what STATUS error", true when Q_OK */
static bool qc_status(const char *what, const Else__QueryReply *r)
{
	const ProtobufCEnumValue *v =
		protobuf_c_enum_descriptor_get_value(&else__query_status__descriptor, r->status);
	printf("%s %s%s%s\n", what, v ? v->name : "?", r->error && r->error[0] ? " " : "",
	       r->error ? r->error : "");
	return r->status == ELSE__QUERY_STATUS__Q_OK;
}

int main(int argc, char **argv)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__QueryReply *r = NULL;
	nng_tls_config *tls = NULL;
	nng_socket s = NNG_SOCKET_INITIALIZER;
	char pw[1100], session[80] = "";
	int rc = 1;

	if (argc != 7) {
		fprintf(stderr, "usage: query_client URL CA CERT_KEY SERVER_NAME USER QUERY\n"
				"  (the password on stdin)\n");
		return 2;
	}
	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "query_client: no password on stdin\n");
		return 2;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	if (nng_req0_open(&s) != 0 || el_nng_tls_client(&tls, argv[2], argv[3], argv[4]) != 0 ||
	    el_nng_dial(s, argv[1], tls, 64 << 20, 50, 500, NULL) != 0) {
		fprintf(stderr, "query_client: cannot dial %s\n", argv[1]);
		rc = 2;
		goto out;
	}
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 30000);
	/* Hello, then Auth: the certificate and a signature of the nonce. */
	const char *step;
	int st = tq_peer_auth(s, argv[3], &step);
	if (st < 0) {
		printf("transport error at %s\n", step);
		rc = 2;
		goto out;
	}
	if (st != ELSE__QUERY_STATUS__Q_OK) {
		const ProtobufCEnumValue *v =
			protobuf_c_enum_descriptor_get_value(&else__query_status__descriptor, st);
		printf("%s %s\n", step, v ? v->name : "?");
		goto out;
	}
	printf("auth Q_OK\n");
	/* Login, then the quick search with the session. */
	Else__Login l = ELSE__LOGIN__INIT;
	l.user = argv[5];
	l.password = pw;
	l.client_ip = "127.0.0.1";
	l.user_agent = "query_client";
	rq.call_case = ELSE__QUERY_REQUEST__CALL_LOGIN;
	rq.login = &l;
	if ((r = tq_peer_call(s, &rq)) == NULL || !qc_status("login", r))
		goto out;
	snprintf(session, sizeof(session), "%s", r->login->session);
	else__query_reply__free_unpacked(r, NULL);
	Else__Caller c = ELSE__CALLER__INIT;
	Else__QuickSearch q = ELSE__QUICK_SEARCH__INIT;
	c.session = session;
	q.q = argv[6];
	q.limit = 1000;
	rq.caller = &c;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_QUICK;
	rq.quick = &q;
	if ((r = tq_peer_call(s, &rq)) == NULL || !qc_status("quick", r))
		goto out;
	printf("rows %zu truncated %d\n", r->search->n_rows, (int)r->search->truncated);
	for (size_t i = 0; i < r->search->n_rows; i++) {
		Else__MessageRow *m = r->search->rows[i];
		printf("row %s %s %s %s\n", m->email_id, m->host, m->queue_id, m->sender);
	}
	rc = 0;
out:
	if (r == NULL && rc == 1)
		printf("transport error\n");
	if (r)
		else__query_reply__free_unpacked(r, NULL);
	if (tls)
		nng_tls_config_free(tls);
	el_nng_close_bounded(s, 100, 5000);
	memset(pw, 0, sizeof(pw));
	return rc;
}
