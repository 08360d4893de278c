/*
 * test_query - the query service end to end: real harness logs through the
 * real ingest path (be_ingest, as else-backend runs it) into a real
 * PostgreSQL (tests/pg/with_pg.sh), the service (be_qnet + be_query, role
 * else_query) on loopback mutual TLS, and a real NNG REQ client proving a
 * frontend certificate of deploy/else-ca.sh (tests/net/certs.sh, through
 * tests/net/run.sh).  Checks each call, the boundary of every role through
 * the calls, sessions, CSRF, throttling, hostile fields and a rogue peer.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "be_db_query.h"
#include "be_ingest.h"
#include "be_pg.h"
#include "be_qnet.h"
#include "be_query.h"
#include "el_nng.h"
#include "el_ossl.h"

static char tq_ci[8192];
static char tq_certs[1024];
static be_qnet *tq_net;
static be_query *tq_w[2];
static nng_socket tq_sock;
static int64_t tq_mx1_only_eid; /* an e-mail only on mx1 */

static const char *tq_path(const char *rel)
{
	static char buf[4][2048];
	static int i;
	char *p = buf[i++ & 3];
	snprintf(p, sizeof(buf[0]), "%s/%s", tq_certs, rel);
	return p;
}

/* tq_load - the harness logs of mx1..mx3 through be_ingest, as their collectors would */
static void tq_load(be_db *db)
{
	static const char *hosts[] = { "mx1", "mx2", "mx3" };
	const char *dir = getenv("ELSE_TEST_DATA");
	be_ingest_conf ic = { .corr = BE_CORR_CONF_DEFAULT,
			      .checkpoint_us = 1000000000,
			      .idle_us = 1000000000 };
	be_ingest *g;

	cr_assert_not_null(dir);
	cr_assert_eq(be_ingest_new(&g, db, &ic), 0);
	for (int h = 0; h < 3; h++) {
		char path[4096], *line = NULL;
		size_t cap = 0, n = 0;
		ssize_t len;
		Else__Batch b = ELSE__BATCH__INIT;
		Else__Line *lines = calloc(400, sizeof(*lines));
		Else__Line **ptrs = calloc(400, sizeof(*ptrs));
		char **texts = calloc(400, sizeof(*texts));
		snprintf(path, sizeof(path), "%s/postfix/%s.maillog.log", dir, hosts[h]);
		FILE *fp = fopen(path, "r");
		cr_assert_not_null(fp);
		while ((len = getline(&line, &cap, fp)) > 0 && n < 400) {
			if (line[len - 1] == '\n')
				len--;
			else__line__init(&lines[n]);
			texts[n] = strndup(line, (size_t)len);
			lines[n].seq = n + 1;
			lines[n].text.data = (uint8_t *)texts[n];
			lines[n].text.len = (size_t)len;
			lines[n].recv_time_us = (int64_t)time(NULL) * 1000000;
			ptrs[n] = &lines[n];
			n++;
		}
		fclose(fp);
		free(line);
		b.stream_id = "maillog";
		b.host = (char *)hosts[h];
		b.batch_seq = 1;
		b.first_seq = 1;
		b.n_lines = n;
		b.lines = ptrs;
		Else__IngestStatus st;
		uint64_t committed;
		char err[256];
		cr_assert_eq(be_ingest_batch(g, hosts[h], &b, &st, &committed, err, sizeof(err)),
			     0);
		cr_assert_eq(st, ELSE__INGEST_STATUS__STATUS_OK, "%s", err);
		for (size_t i = 0; i < n; i++)
			free(texts[i]);
		free(texts);
		free(lines);
		free(ptrs);
	}
	/* Flush what lingers: idle long after the last line. */
	cr_assert_eq(be_ingest_idle(g, (int64_t)(time(NULL) + 100000) * 1000000), 0);
	be_ingest_free(g);
}

/* tq_user - a user with a password, role, addresses and groups (owner connection) */
static int64_t tq_user(be_db *db, const char *name, int role, const char *addr, int64_t group)
{
	char kdf[EL_OSSL_KDF_STRLEN];
	Else__UserInfo u;
	char *addrs[1] = { (char *)addr };
	int64_t groups[1] = { group }, id = 0;

	else__user_info__init(&u);
	u.name = (char *)name;
	u.role = role;
	u.addresses = addrs;
	u.n_addresses = addr ? 1 : 0;
	u.group_ids = groups;
	u.n_group_ids = group ? 1 : 0;
	cr_assert_eq(el_ossl_kdf_hash(EL_SPAN_LIT("password-of-test"), kdf, sizeof(kdf)), 0);
	cr_assert_eq(be_db_auth_user_put(db, &u, kdf, &id), 0);
	return id;
}

static void tq_setup(void)
{
	const char *ci = getenv("ELSE_TEST_PG"), *certs = getenv("ELSE_TEST_CERTS");
	char sql[128], qci[8300];
	static unsigned k;
	be_db *db;

	cr_assert(ci && certs, "run through with_pg.sh and tests/net/run.sh");
	snprintf(tq_certs, sizeof(tq_certs), "%s", certs);
	PGconn *c = PQconnectdb(ci);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "CREATE DATABASE else_q_%d_%u", (int)getpid(), k);
	PQclear(PQexec(c, sql));
	PQfinish(c);
	snprintf(tq_ci, sizeof(tq_ci), "%s dbname=else_q_%d_%u", ci, (int)getpid(), k++);
	cr_assert_eq(be_db_open(&db, tq_ci), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	cr_assert_eq(be_db_partitions(db, time(NULL), 2), 0);
	tq_load(db);
	/* Group g1 owns server mx3 and domain nowhere.test; op1 is in it. */
	Else__GroupInfo g;
	char *srv[1] = { "mx3" }, *dom[1] = { "nowhere.test" };
	int64_t gid;
	else__group_info__init(&g);
	g.name = "g1";
	g.servers = srv;
	g.n_servers = 1;
	g.domains = dom;
	g.n_domains = 1;
	cr_assert_eq(be_db_auth_group_put(db, &g, &gid), 0);
	tq_user(db, "root", 1, NULL, 0);
	tq_user(db, "op1", 2, NULL, gid);
	tq_user(db, "mbx", 3, "nobody@nowhere.test", 0);
	/* An e-mail with transactions on mx1 only. */
	PGconn *pc = PQconnectdb(tq_ci);
	PGresult *r = PQexec(pc, "SELECT email_id FROM messages GROUP BY email_id "
				 "HAVING bool_and(host_id = (SELECT id FROM hosts WHERE name = "
				 "'mx1')) LIMIT 1");
	cr_assert_eq(PQntuples(r), 1, "%s", PQresultErrorMessage(r));
	tq_mx1_only_eid = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	PQfinish(pc);
	be_db_close(db);

	be_query_conf qc = { .session_idle_s = 600,
			     .session_max_s = 3600,
			     .login_window_s = 600,
			     .login_max_user = 3,
			     .login_max_ip = 100,
			     .history_keep = 10,
			     .timeout_ms = 10000 };
	cr_assert_eq(be_pg_conninfo_role(tq_ci, "else_query", qci, sizeof(qci)), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(be_query_new(&tq_w[i], qci, &qc), 0);
	be_qnet_conf nc = { .url = "tls+tcp://127.0.0.1:0",
			    .ca_file = tq_path("ca1/ca.crt"),
			    .cert_key_file = tq_path("ca1/server-localhost.pem"),
			    .nworkers = 2,
			    .worker_args = (void **)tq_w,
			    .handle = be_query_handle };
	cr_assert_eq(be_qnet_start(&tq_net, &nc), 0);
}

static void tq_teardown(void)
{
	if (tq_sock.id)
		el_nng_close_bounded(tq_sock, 100, 5000);
	be_qnet_stop(tq_net);
	for (int i = 0; i < 2; i++)
		be_query_free(tq_w[i]);
}

TestSuite(query, .init = tq_setup, .fini = tq_teardown, .timeout = 120);

/* tq_call - send rq, return the unpacked reply (caller frees) */
static Else__QueryReply *tq_call(const Else__QueryRequest *rq)
{
	size_t n = else__query_request__get_packed_size(rq);
	uint8_t *buf = malloc(n + 1);
	nng_msg *m;

	else__query_request__pack(rq, buf);
	cr_assert_eq(nng_msg_alloc(&m, 0), 0);
	nng_msg_append(m, buf, n);
	free(buf);
	cr_assert_eq(nng_sendmsg(tq_sock, m, 0), 0);
	cr_assert_eq(nng_recvmsg(tq_sock, &m, 0), 0);
	Else__QueryReply *r = else__query_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	cr_assert_not_null(r);
	return r;
}

/* tq_connect - dial with cert, Hello/Auth unless cert is NULL */
static Else__QueryStatus tq_connect(const char *cert)
{
	nng_tls_config *tls;
	char url[64];

	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", be_qnet_port(tq_net));
	cr_assert_eq(nng_req0_open(&tq_sock), 0);
	nng_socket_set_ms(tq_sock, NNG_OPT_RECVTIMEO, 30000);
	cr_assert_eq(el_nng_tls_client(&tls, tq_path("ca1/ca.crt"),
				       tq_path(cert && strcmp(cert, "none") != 0
						       ? cert
						       : "ca1/client-frontend1.pem"),
				       "localhost"),
		     0);
	cr_assert_eq(el_nng_dial(tq_sock, url, tls, 64 << 20, 50, 500, NULL), 0);
	nng_tls_config_free(tls);
	if (cert && strcmp(cert, "none") == 0)
		return 0;
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Hello h = ELSE__HELLO__INIT;
	h.version = 1;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_HELLO;
	rq.hello = &h;
	Else__QueryReply *r = tq_call(&rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_OK);
	el_buf pem, sig;
	el_buf_init(&pem);
	el_buf_init(&sig);
	const char *cf = tq_path(cert ? cert : "ca1/client-frontend1.pem");
	cr_assert_eq(el_ossl_cert_pem(cf, &pem), 0);
	cr_assert_eq(el_ossl_sign_nonce(cf, r->nonce.data, r->nonce.len, &sig), 0);
	else__query_reply__free_unpacked(r, NULL);
	Else__Auth au = ELSE__AUTH__INIT;
	au.cert_pem.data = (uint8_t *)pem.p;
	au.cert_pem.len = pem.len;
	au.signature.data = (uint8_t *)sig.p;
	au.signature.len = sig.len;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_AUTH;
	rq.auth = &au;
	r = tq_call(&rq);
	Else__QueryStatus st = r->status;
	else__query_reply__free_unpacked(r, NULL);
	el_buf_fini(&pem);
	el_buf_fini(&sig);
	return st;
}

typedef struct tq_sess {
	char session[65], csrf[65];
} tq_sess;

/* tq_login - log in; the status */
static Else__QueryStatus tq_login(const char *user, const char *pw, tq_sess *s)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Login l = ELSE__LOGIN__INIT;
	l.user = (char *)user;
	l.password = (char *)pw;
	l.client_ip = "192.0.2.7";
	rq.call_case = ELSE__QUERY_REQUEST__CALL_LOGIN;
	rq.login = &l;
	Else__QueryReply *r = tq_call(&rq);
	Else__QueryStatus st = r->status;
	if (st == 0 && s) {
		snprintf(s->session, sizeof(s->session), "%s", r->login->session);
		snprintf(s->csrf, sizeof(s->csrf), "%s", r->login->csrf);
	}
	else__query_reply__free_unpacked(r, NULL);
	return st;
}

/* tq_req - a request with the session's caller (csrf too when with_csrf) */
static Else__QueryReply *tq_req(const tq_sess *s, bool with_csrf, Else__QueryRequest *rq)
{
	Else__Caller c = ELSE__CALLER__INIT;
	if (s) {
		c.session = (char *)s->session;
		if (with_csrf)
			c.csrf = (char *)s->csrf;
	}
	rq->caller = &c;
	Else__QueryReply *r = tq_call(rq);
	rq->caller = NULL;
	return r;
}

static Else__QueryReply *tq_quick(const tq_sess *s, const char *q)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__QuickSearch qs = ELSE__QUICK_SEARCH__INIT;
	qs.q = (char *)q;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_QUICK;
	rq.quick = &qs;
	return tq_req(s, false, &rq);
}

static Else__QueryReply *tq_flow(const tq_sess *s, const char *eid)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Flow f = ELSE__FLOW__INIT;
	f.email_id = (char *)eid;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_FLOW;
	rq.flow = &f;
	return tq_req(s, false, &rq);
}

static Else__QueryReply *tq_search(const tq_sess *s, Else__Search *se)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	se->from_us = 1;
	se->to_us = 253402300799999999LL;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_SEARCH;
	rq.search = se;
	return tq_req(s, false, &rq);
}

static void tq_eid_hex(char out[17])
{
	snprintf(out, 17, "%016llx", (unsigned long long)tq_mx1_only_eid);
}

Test(query, admin_sees_quick_flow_search_and_history)
{
	tq_sess s;
	char eid[17];

	cr_assert_eq(tq_connect(NULL), ELSE__QUERY_STATUS__Q_OK);
	cr_assert_eq(tq_login("root", "password-of-test", &s), ELSE__QUERY_STATUS__Q_OK);
	tq_eid_hex(eid);
	Else__QueryReply *r = tq_quick(&s, eid);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_OK, "%s", r->error);
	cr_assert_geq(r->search->n_rows, 1);
	cr_assert_str_eq(r->search->rows[0]->host, "mx1");
	char qid[64];
	snprintf(qid, sizeof(qid), "%s", r->search->rows[0]->queue_id);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_quick(&s, qid);
	cr_assert_eq(r->status, 0);
	cr_assert_geq(r->search->n_rows, 1, "queue ID %s", qid);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_flow(&s, eid);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_OK, "%s", r->error);
	cr_assert_geq(r->flow->n_hops, 1);
	cr_assert_geq(r->flow->hops[0]->n_lines, 1, "raw lines of the transaction");
	else__query_reply__free_unpacked(r, NULL);
	Else__Search se = ELSE__SEARCH__INIT;
	se.server = "mx";
	se.match = ELSE__MATCH__MATCH_PREFIX;
	se.limit = 3;
	r = tq_search(&s, &se);
	cr_assert_eq(r->status, 0, "%s", r->error);
	cr_assert_eq(r->search->n_rows, 3);
	cr_assert(r->search->next_cursor[0], "a next page");
	char cur[512];
	snprintf(cur, sizeof(cur), "%s", r->search->next_cursor);
	char last[64];
	snprintf(last, sizeof(last), "%s", r->search->rows[2]->queue_id);
	else__query_reply__free_unpacked(r, NULL);
	se.cursor = cur;
	r = tq_search(&s, &se);
	cr_assert_eq(r->status, 0, "%s", r->error);
	cr_assert_eq(r->search->n_rows, 3);
	cr_assert_str_neq(r->search->rows[0]->queue_id, last, "the page moves on");
	else__query_reply__free_unpacked(r, NULL);
	/* History has them. */
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__History h = ELSE__HISTORY__INIT;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_HISTORY;
	rq.history = &h;
	r = tq_req(&s, false, &rq);
	cr_assert_eq(r->status, 0);
	cr_assert_geq(r->history->n_entries, 4);
	else__query_reply__free_unpacked(r, NULL);
}

Test(query, operator_and_mailbox_cannot_cross_the_boundary)
{
	tq_sess op, mb;
	char eid[17];

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &op), 0);
	cr_assert_eq(tq_login("mbx", "password-of-test", &mb), 0);
	tq_eid_hex(eid);
	const tq_sess *who[2] = { &op, &mb };
	for (int i = 0; i < 2; i++) {
		Else__QueryReply *r = tq_quick(who[i], eid);
		cr_assert_eq(r->status, 0);
		cr_assert_eq(r->search->n_rows, 0, "quick search crosses the boundary");
		else__query_reply__free_unpacked(r, NULL);
		r = tq_flow(who[i], eid);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_NOT_FOUND, "flow by id of another's");
		else__query_reply__free_unpacked(r, NULL);
		Else__Search se = ELSE__SEARCH__INIT;
		se.server = "mx1";
		r = tq_search(who[i], &se);
		cr_assert_eq(r->status, 0, "%s", r->error);
		/* Visibility is per e-mail: mx1's transactions of e-mails that also
		 * passed mx3 are the operator's; nothing else is, and the mailbox
		 * user (no mail of theirs) sees nothing. */
		if (i == 1)
			cr_assert_eq(r->search->n_rows, 0, "search crosses the boundary");
		for (size_t k = 0; k < r->search->n_rows; k++) {
			char sql[256];
			snprintf(
				sql, sizeof(sql),
				"SELECT count(*) FROM messages m JOIN hosts h ON h.id = m.host_id "
				"WHERE h.name = 'mx3' AND lpad(to_hex(m.email_id), 16, '0') = '%s'",
				r->search->rows[k]->email_id);
			PGconn *pc = PQconnectdb(tq_ci);
			PGresult *x = PQexec(pc, sql);
			cr_assert_gt(atoi(PQgetvalue(x, 0, 0)), 0,
				     "search crosses the boundary: %s",
				     r->search->rows[k]->email_id);
			cr_assert_neq(strtoull(r->search->rows[k]->email_id, NULL, 16),
				      (unsigned long long)tq_mx1_only_eid);
			PQclear(x);
			PQfinish(pc);
		}
		else__query_reply__free_unpacked(r, NULL);
		Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
		Else__Rejects rj = ELSE__REJECTS__INIT;
		rj.from_us = 1;
		rj.to_us = 253402300799999999LL;
		rj.server = "mx1";
		rq.call_case = ELSE__QUERY_REQUEST__CALL_REJECTS;
		rq.rejects = &rj;
		r = tq_req(who[i], false, &rq);
		cr_assert_eq(r->status, 0, "%s", r->error);
		cr_assert_eq(r->rejects->n_rows, 0, "rejects cross the boundary");
		else__query_reply__free_unpacked(r, NULL);
		Else__Tail t = ELSE__TAIL__INIT;
		Else__QueryRequest tr = ELSE__QUERY_REQUEST__INIT;
		tr.call_case = ELSE__QUERY_REQUEST__CALL_TAIL;
		tr.tail = &t;
		r = tq_req(who[i], false, &tr);
		cr_assert_eq(r->status, 0, "%s", r->error);
		if (i == 1)
			cr_assert_eq(r->tail->n_rows, 0, "tail crosses");
		for (size_t k = 0; k < r->tail->n_rows; k++)
			cr_assert_neq(strtoull(r->tail->rows[k]->email_id, NULL, 16),
				      (unsigned long long)tq_mx1_only_eid, "tail crosses");
		else__query_reply__free_unpacked(r, NULL);
		Else__UserList ul = ELSE__USER_LIST__INIT;
		Else__QueryRequest ur = ELSE__QUERY_REQUEST__INIT;
		ur.call_case = ELSE__QUERY_REQUEST__CALL_USER_LIST;
		ur.user_list = &ul;
		r = tq_req(who[i], false, &ur);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN, "administration");
		else__query_reply__free_unpacked(r, NULL);
		Else__Servers sv = ELSE__SERVERS__INIT;
		Else__QueryRequest sr = ELSE__QUERY_REQUEST__INIT;
		sr.call_case = ELSE__QUERY_REQUEST__CALL_SERVERS;
		sr.servers = &sv;
		r = tq_req(who[i], false, &sr);
		if (i == 0) {
			cr_assert_eq(r->status, 0);
			cr_assert_eq(r->servers->n_rows, 1);
			cr_assert_str_eq(r->servers->rows[0]->name, "mx3");
		} else {
			cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN);
		}
		else__query_reply__free_unpacked(r, NULL);
	}
	/* The operator does see mx3's mail. */
	Else__Search se = ELSE__SEARCH__INIT;
	se.server = "mx3";
	Else__QueryReply *r = tq_search(&op, &se);
	cr_assert_eq(r->status, 0);
	cr_assert_gt(r->search->n_rows, 0, "own server visible");
	else__query_reply__free_unpacked(r, NULL);
}

Test(query, sessions_csrf_throttling_and_hostile_fields)
{
	tq_sess s, bad;
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__SessionCheck sc = ELSE__SESSION_CHECK__INIT;
	Else__QueryReply *r;

	cr_assert_eq(tq_connect(NULL), 0);
	rq.call_case = ELSE__QUERY_REQUEST__CALL_SESSION_CHECK;
	rq.session_check = &sc;
	r = tq_req(NULL, false, &rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED, "no session");
	else__query_reply__free_unpacked(r, NULL);
	memset(&bad, 0, sizeof(bad));
	memset(bad.session, 'a', 64);
	r = tq_req(&bad, false, &rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED, "unknown session");
	else__query_reply__free_unpacked(r, NULL);

	cr_assert_eq(tq_login("root", "password-of-test", &s), 0);
	/* Logout without CSRF, with a wrong one: refused; with it: done. */
	Else__Logout lo = ELSE__LOGOUT__INIT;
	Else__QueryRequest lr = ELSE__QUERY_REQUEST__INIT;
	lr.call_case = ELSE__QUERY_REQUEST__CALL_LOGOUT;
	lr.logout = &lo;
	r = tq_req(&s, false, &lr);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN);
	else__query_reply__free_unpacked(r, NULL);
	tq_sess wrong = s;
	wrong.csrf[0] = wrong.csrf[0] == 'a' ? 'b' : 'a';
	r = tq_req(&wrong, true, &lr);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN);
	else__query_reply__free_unpacked(r, NULL);

	/* SQL metacharacters and 1 MiB strings in every string field of Search. */
	static const char *evil[] = { "' OR 1=1 --", "%", "_", "\\", "\"; DROP TABLE users; --" };
	Else__Search se = ELSE__SEARCH__INIT;
	char **fields[] = { &se.sender,   &se.recipient,    &se.address, &se.domain,
			    &se.client,   &se.server,       &se.status,  &se.message_id,
			    &se.queue_id, &se.sasl_username };
	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		for (size_t e = 0; e < sizeof(evil) / sizeof(evil[0]); e++) {
			for (int m = 0; m < 3; m++) {
				*fields[f] = (char *)evil[e];
				se.match = m;
				r = tq_search(&s, &se);
				cr_assert_eq(r->status, 0, "field %zu '%s': %s", f, evil[e],
					     r->error);
				cr_assert_eq(r->search->n_rows, 0);
				else__query_reply__free_unpacked(r, NULL);
			}
		}
		char *huge = malloc(1 << 20);
		memset(huge, 'x', (1 << 20) - 1);
		huge[(1 << 20) - 1] = '\0';
		*fields[f] = huge;
		r = tq_search(&s, &se);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST);
		cr_assert(strstr(r->error, "search.") != NULL, "names the field: %s", r->error);
		else__query_reply__free_unpacked(r, NULL);
		free(huge);
		*fields[f] = NULL;
	}
	r = tq_quick(&s, "' OR 1=1 --");
	cr_assert_eq(r->status, 0);
	cr_assert_eq(r->search->n_rows, 0);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_flow(&s, "'; DELETE FROM users; --");
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_NOT_FOUND);
	else__query_reply__free_unpacked(r, NULL);

	r = tq_req(&s, true, &lr);
	cr_assert_eq(r->status, 0, "%s", r->error);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_req(&s, false, &rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED, "after logout");
	else__query_reply__free_unpacked(r, NULL);

	/* Throttling: 3 failures for op1, then even the right password is THROTTLED. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tq_login("op1", "wrong-password!", NULL),
			     ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	cr_assert_eq(tq_login("op1", "password-of-test", NULL), ELSE__QUERY_STATUS__Q_THROTTLED);
	cr_assert_eq(tq_login("nosuchuser", "password-of-test", NULL),
		     ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
}

Test(query, password_change_ends_other_sessions)
{
	tq_sess a, b;

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("mbx", "password-of-test", &a), 0);
	cr_assert_eq(tq_login("mbx", "password-of-test", &b), 0);
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__PasswordChange pc = ELSE__PASSWORD_CHANGE__INIT;
	pc.old_password = "not-the-old-one";
	pc.new_password = "a-new-password-1";
	rq.call_case = ELSE__QUERY_REQUEST__CALL_PASSWORD_CHANGE;
	rq.password_change = &pc;
	Else__QueryReply *r = tq_req(&a, true, &rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN);
	else__query_reply__free_unpacked(r, NULL);
	pc.old_password = "password-of-test";
	r = tq_req(&a, true, &rq);
	cr_assert_eq(r->status, 0, "%s", r->error);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_quick(&b, "x@y");
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED, "other session ended");
	else__query_reply__free_unpacked(r, NULL);
	r = tq_quick(&a, "x@y");
	cr_assert_eq(r->status, 0, "this session stays");
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_login("mbx", "password-of-test", NULL),
		     ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	cr_assert_eq(tq_login("mbx", "a-new-password-1", NULL), 0);
}

Test(query, rogue_peers_are_refused)
{
	/* A collector's certificate: valid, but not a frontend. */
	cr_assert_eq(tq_connect("ca1/client-mx1.example.org.pem"),
		     ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED);
	cr_assert_eq(tq_login("root", "password-of-test", NULL),
		     ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED);
	el_nng_close_bounded(tq_sock, 100, 5000);
	/* No Hello/Auth at all. */
	tq_connect("none");
	cr_assert_eq(tq_login("root", "password-of-test", NULL),
		     ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED);
	/* Garbage frames. */
	nng_msg *m;
	cr_assert_eq(nng_msg_alloc(&m, 0), 0);
	nng_msg_append(m, "\xff\xff\xff\xff garbage", 12);
	cr_assert_eq(nng_sendmsg(tq_sock, m, 0), 0);
	cr_assert_eq(nng_recvmsg(tq_sock, &m, 0), 0);
	Else__QueryReply *r = else__query_reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
	nng_msg_free(m);
	cr_assert_not_null(r);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST);
	else__query_reply__free_unpacked(r, NULL);
}
