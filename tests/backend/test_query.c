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
#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#include "fe_api.h"
#include "fe_rpc.h"
#include "tq_peer.h"

static char tq_ci[8192];
static char tq_certs[1024];
static be_qnet *tq_net;
static be_query *tq_w[2];
static be_qlog *tq_log;
static be_qsess *tq_sessions;
static nng_socket tq_sock;
static int64_t tq_mx1_only_eid; /* an e-mail only on mx1 */
/* The service's settings; the query_short suite shortens the windows. */
static be_query_conf tq_qc = { .session_idle_s = 600,
			       .session_max_s = 3600,
			       .login_window_s = 600,
			       .login_max_user = 3,
			       .login_max_ip = 100,
			       .history_keep = 10,
			       .timeout_ms = 10000 };

static const char *tq_path(const char *rel)
{
	static char buf[4][2048];
	static int i;
	char *p = buf[i++ & 3];
	snprintf(p, sizeof(buf[0]), "%s/%s", tq_certs, rel);
	return p;
}

/*
 * tq_recent - the syslog stamp's day ("Nov 22" of "Nov 22 13:52:06 mx1 ...")
 * made yesterday's (UTC), the same for every line.  The harness logs were
 * written on one day, and searches look at recent days only (the tail at
 * the last two, a search without a range at the last seven): as logged,
 * they would fall out of those windows as the calendar moves on.
 */
static void tq_recent(char *line, size_t len)
{
	static char from[7], to[7];
	time_t y = time(NULL) - 86400;
	struct tm tm;

	cr_assert_geq(len, 16, "not a syslog line: %s", line);
	if (!from[0]) {
		memcpy(from, line, 6);
		gmtime_r(&y, &tm);
		strftime(to, sizeof(to), "%b %e", &tm);
	}
	cr_assert(memcmp(line, from, 6) == 0, "the harness logs span one day: %s", line);
	memcpy(line, to, 6);
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
			tq_recent(texts[n], (size_t)len);
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

/* tq_qnet_start - the query service on url, with the workers tq_w */
static void tq_qnet_start(const char *url)
{
	be_qnet_conf nc = { .url = url,
			    .ca_file = tq_path("ca1/ca.crt"),
			    .cert_key_file = tq_path("ca1/server-localhost.pem"),
			    .nworkers = 2,
			    .worker_args = (void **)tq_w,
			    .handle = be_query_handle };
	cr_assert_eq(be_qnet_start(&tq_net, &nc), 0);
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

	be_query_conf qc = tq_qc;
	cr_assert_eq(be_pg_conninfo_role(tq_ci, "else_query", qci, sizeof(qci)), 0);
	/* As else-backend runs them: one search log writer, a session cache of 1 s. */
	cr_assert_eq(be_qlog_new(&tq_log, qci, (int)qc.history_keep), 0);
	cr_assert_eq(be_qsess_new(&tq_sessions, 1000000), 0);
	qc.log = tq_log;
	qc.sessions = tq_sessions;
	for (int i = 0; i < 2; i++)
		cr_assert_eq(be_query_new(&tq_w[i], qci, &qc), 0);
	tq_qnet_start("tls+tcp://127.0.0.1:0");
}

static void tq_teardown(void)
{
	if (tq_sock.id)
		el_nng_close_bounded(tq_sock, 100, 5000);
	be_qnet_stop(tq_net);
	for (int i = 0; i < 2; i++)
		be_query_free(tq_w[i]);
	be_qlog_free(tq_log);
	be_qsess_free(tq_sessions);
	tq_log = NULL;
	tq_sessions = NULL;
}

TestSuite(query, .init = tq_setup, .fini = tq_teardown, .timeout = 240);

/* tq_call - send rq, return the unpacked reply (caller frees) */
static Else__QueryReply *tq_call(const Else__QueryRequest *rq)
{
	Else__QueryReply *r = tq_peer_call(tq_sock, rq);
	cr_assert_not_null(r, "no reply");
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
	const char *step;
	int st = tq_peer_auth(tq_sock, tq_path(cert ? cert : "ca1/client-frontend1.pem"), &step);
	cr_assert_geq(st, 0, "hello/auth failed at %s", step);
	cr_assert(strcmp(step, "auth") == 0, "hello refused: %d", st);
	return (Else__QueryStatus)st;
}

typedef struct tq_sess {
	char session[65], csrf[65];
} tq_sess;

/* tq_login_ip - log in from a client IP; the status */
static Else__QueryStatus tq_login_ip(const char *user, const char *pw, const char *ip, tq_sess *s)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Login l = ELSE__LOGIN__INIT;
	l.user = (char *)user;
	l.password = (char *)pw;
	l.client_ip = (char *)ip;
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

/* tq_login - log in from 192.0.2.7; the status */
static Else__QueryStatus tq_login(const char *user, const char *pw, tq_sess *s)
{
	return tq_login_ip(user, pw, "192.0.2.7", s);
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
	/* Forged cursors are the caller's error, never the server's (or UB). */
	static const struct {
		const char *cursor;
		Else__SortKey sort;
	} bad[] = {
		{ "9223372036854775807.0.61.", ELSE__SORT_KEY__SORT_TIME },  /* past year 9999 */
		{ "99999999999999999999.0.61.", ELSE__SORT_KEY__SORT_TIME }, /* past int64 */
		{ "1.0.ff.", ELSE__SORT_KEY__SORT_TIME },     /* queue ID not UTF-8 */
		{ "1.0.61.c3", ELSE__SORT_KEY__SORT_SENDER }, /* cut character */
		{ "1.0.61.78", ELSE__SORT_KEY__SORT_SIZE },   /* size "x" */
		{ "1.0.61.3939393939393939393939393939393939393939", ELSE__SORT_KEY__SORT_SIZE },
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		se.cursor = (char *)bad[k].cursor;
		se.sort = bad[k].sort;
		r = tq_search(&s, &se);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "cursor %s: %d %s",
			     bad[k].cursor, r->status, r->error);
		else__query_reply__free_unpacked(r, NULL);
	}
	se.sort = ELSE__SORT_KEY__SORT_TIME;
	Else__QueryRequest aq = ELSE__QUERY_REQUEST__INIT;
	Else__Audit au = ELSE__AUDIT__INIT;
	au.cursor = "9999999999999999999";
	aq.call_case = ELSE__QUERY_REQUEST__CALL_AUDIT;
	aq.audit = &au;
	r = tq_req(&s, false, &aq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "audit cursor: %d %s", r->status,
		     r->error);
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
	/* Guessing the old password spends the login budget (login_max_user 3):
	 * then even the right one, and a login, wait for the window. */
	pc.old_password = "a-wrong-guess";
	pc.new_password = "another-password-2";
	for (int i = 0; i < 3; i++) {
		r = tq_req(&a, true, &rq);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN, "guess %d: %d", i,
			     r->status);
		else__query_reply__free_unpacked(r, NULL);
	}
	pc.old_password = "a-new-password-1";
	r = tq_req(&a, true, &rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_THROTTLED, "%d %s", r->status, r->error);
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_login("mbx", "a-new-password-1", NULL), ELSE__QUERY_STATUS__Q_THROTTLED);
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

/* tq_sql_i64 - the first value of a statement run as the superuser */
static int64_t tq_sql_i64(const char *sql)
{
	PGconn *pc = PQconnectdb(tq_ci);
	PGresult *x = PQexec(pc, sql);
	cr_assert(PQresultStatus(x) == PGRES_TUPLES_OK || PQresultStatus(x) == PGRES_COMMAND_OK,
		  "%s: %s", sql, PQresultErrorMessage(x));
	int64_t v = PQntuples(x) > 0 ? strtoll(PQgetvalue(x, 0, 0), NULL, 10) : 0;
	PQclear(x);
	PQfinish(pc);
	return v;
}

/*
 * The flow view fills each transaction's recipients in from the rows it
 * reads anyway (be_dbq_flow_summary), where a search computes them in SQL:
 * both must list the same, for an e-mail of several transactions.
 */
Test(query, a_flows_transactions_list_the_recipients_a_search_lists)
{
	tq_sess s;
	char eid[17];
	size_t listed = 0;

	cr_assert_eq(tq_connect(NULL), ELSE__QUERY_STATUS__Q_OK);
	cr_assert_eq(tq_login("root", "password-of-test", &s), ELSE__QUERY_STATUS__Q_OK);
	int64_t id = tq_sql_i64("SELECT m.email_id FROM messages m JOIN recipients r ON "
				"r.first_seen = m.first_seen AND r.host_id = m.host_id AND "
				"r.queue_id = m.queue_id GROUP BY 1 HAVING count(DISTINCT "
				"(m.host_id, m.queue_id)) >= 2 ORDER BY count(*) DESC, 1 LIMIT 1");
	cr_assert_neq(id, 0, "an e-mail of two transactions with recipients");
	snprintf(eid, sizeof(eid), "%016llx", (unsigned long long)id);
	Else__QueryReply *q = tq_quick(&s, eid), *r = tq_flow(&s, eid);
	cr_assert_eq(q->status, 0, "%s", q->error);
	cr_assert_eq(r->status, 0, "%s", r->error);
	cr_assert_eq(r->flow->n_hops, q->search->n_rows);
	cr_assert_geq(r->flow->n_hops, 2);
	for (size_t i = 0; i < r->flow->n_hops; i++) {
		const Else__MessageRow *f = r->flow->hops[i]->msg, *m = NULL;
		for (size_t j = 0; j < q->search->n_rows; j++)
			if (strcmp(q->search->rows[j]->host, f->host) == 0 &&
			    strcmp(q->search->rows[j]->queue_id, f->queue_id) == 0)
				m = q->search->rows[j];
		cr_assert_not_null(m, "%s %s in the quick search", f->host, f->queue_id);
		cr_assert_eq(f->nrcpt, m->nrcpt);
		cr_assert_eq(f->n_recipients, m->n_recipients, "%s %s", f->host, f->queue_id);
		for (size_t k = 0; k < f->n_recipients; k++)
			cr_assert_str_eq(f->recipients[k], m->recipients[k]);
		listed += f->n_recipients;
	}
	cr_assert_geq(listed, 2, "recipients listed");
	else__query_reply__free_unpacked(q, NULL);
	else__query_reply__free_unpacked(r, NULL);
}

/* tq_hop_at - the index of host/queue_id among the flow's hops, -1 if absent */
static int tq_hop_at(const Else__FlowReply *f, const char *host, const char *queue_id)
{
	for (size_t i = 0; host[0] && i < f->n_hops; i++)
		if (strcmp(f->hops[i]->msg->host, host) == 0 &&
		    strcmp(f->hops[i]->msg->queue_id, queue_id) == 0)
			return (int)i;
	return -1;
}

/*
 * Every e-mail of several transactions in the harness logs: each hop comes
 * after the hop it came from and after the transaction it is a bounce of,
 * as the flow view draws them, one below the other.
 */
Test(query, a_flows_hops_follow_the_hop_they_came_from)
{
	tq_sess s;
	int linked = 0;

	cr_assert_eq(tq_connect(NULL), ELSE__QUERY_STATUS__Q_OK);
	cr_assert_eq(tq_login("root", "password-of-test", &s), ELSE__QUERY_STATUS__Q_OK);
	PGconn *pc = PQconnectdb(tq_ci);
	PGresult *x = PQexec(pc, "SELECT lpad(to_hex(email_id), 16, '0') FROM messages "
				 "GROUP BY email_id HAVING count(*) >= 2 ORDER BY 1");
	cr_assert_eq(PQresultStatus(x), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(x));
	cr_assert_geq(PQntuples(x), 5, "e-mails of several transactions");
	for (int e = 0; e < PQntuples(x); e++) {
		Else__QueryReply *r = tq_flow(&s, PQgetvalue(x, e, 0));
		cr_assert_eq(r->status, 0, "%s", r->error);
		for (size_t i = 0; i < r->flow->n_hops; i++) {
			const Else__Transaction *t = r->flow->hops[i];
			int p = tq_hop_at(r->flow, t->prev_host, t->prev_queue_id);
			int d = tq_hop_at(r->flow, t->dsn_of_host, t->dsn_of_queue_id);
			cr_assert_lt(p, (int)i,
				     "e-mail %s: %s/%s (hop %zu) came from %s/%s (hop %d)",
				     r->flow->email_id, t->msg->host, t->msg->queue_id, i,
				     t->prev_host, t->prev_queue_id, p);
			cr_assert_lt(d, (int)i, "e-mail %s: %s/%s (hop %zu) bounces %s/%s (hop %d)",
				     r->flow->email_id, t->msg->host, t->msg->queue_id, i,
				     t->dsn_of_host, t->dsn_of_queue_id, d);
			linked += (p >= 0) + (d >= 0);
		}
		else__query_reply__free_unpacked(r, NULL);
	}
	cr_assert_geq(linked, 5, "hops linked to another hop of their flow");
	PQclear(x);
	PQfinish(pc);
}

/* tq_tx - a transaction host/queue_id at t seconds, from prev and a bounce of dsn */
static Else__Transaction *tq_tx(Else__Transaction *t, Else__MessageRow *m, const char *hq,
				int64_t sec, const char *prev, const char *dsn)
{
	static char buf[24][32]; /* the 18 strings of the test's 6 hops */
	static int k;

	else__transaction__init(t);
	else__message_row__init(m);
	t->msg = m;
	m->first_seen_us = sec * 1000000;
	const char *parts[3] = { hq, prev, dsn };
	char **out[3][2] = { { &m->host, &m->queue_id },
			     { &t->prev_host, &t->prev_queue_id },
			     { &t->dsn_of_host, &t->dsn_of_queue_id } };
	for (int i = 0; i < 3; i++) {
		char *b = buf[k++ % 24], *slash;
		snprintf(b, sizeof(buf[0]), "%s", parts[i] ? parts[i] : "");
		slash = strchr(b, '/');
		*out[i][0] = b;
		*out[i][1] = slash ? (*slash = '\0', slash + 1) : b + strlen(b);
	}
	return t;
}

/* tq_order - order h[0..n) and check it: want[i] is the queue ID of place i */
static void tq_order(Else__Transaction **h, size_t n, const char *want)
{
	be_db_q_flow_order(h, n);
	for (size_t i = 0; i < n; i++)
		cr_assert(strlen(h[i]->msg->queue_id) == 1 && h[i]->msg->queue_id[0] == want[i],
			  "place %zu: %s/%s, want %s", i, h[i]->msg->host, h[i]->msg->queue_id,
			  want);
}

/*
 * The order alone, on hops as be_db_q_flow reads them (time, then host id):
 * in one second, mx2 (host id 1) sorted before mx1, which relayed to it.
 */
Test(flow_order, a_hop_follows_its_origin_and_time_orders_the_rest)
{
	Else__Transaction t[6];
	Else__MessageRow m[6];
	Else__Transaction *h[6] = {
		tq_tx(&t[0], &m[0], "mx2/B", 10, "mx1/A", NULL), /* relayed by mx1/A */
		tq_tx(&t[1], &m[1], "mx3/C", 10, NULL, NULL),    /* another path */
		tq_tx(&t[2], &m[2], "mx1/A", 10, NULL, NULL),
		tq_tx(&t[3], &m[3], "mx1/D", 11, NULL, "mx2/B"), /* a bounce of mx2/B */
		tq_tx(&t[4], &m[4], "mx9/X", 12, "mx9/Y", NULL), /* a loop: time order */
		tq_tx(&t[5], &m[5], "mx9/Y", 12, "mx9/X", NULL),
	};
	tq_order(h, 6, "CABDXY");
	be_db_q_flow_order(h, 1); /* one hop: as it is */
	cr_assert_str_eq(h[0]->msg->queue_id, "C");
}

/*
 * A bounce that also names the hop it came from waits for both; a hop that
 * hangs on a loop comes after the loop's hop it names.
 */
Test(flow_order, a_hop_waits_for_both_its_origins_and_a_loop_is_broken_inside_it)
{
	Else__Transaction t[6];
	Else__MessageRow m[6];
	Else__Transaction *h[6] = {
		tq_tx(&t[0], &m[0], "mx1/W", 10, "mx2/A", "mx1/B"),
		tq_tx(&t[1], &m[1], "mx1/B", 10, NULL, NULL),
		tq_tx(&t[2], &m[2], "mx2/A", 10, NULL, NULL),
		tq_tx(&t[3], &m[3], "mx9/Z", 12, "mx9/X", NULL),
		tq_tx(&t[4], &m[4], "mx9/X", 12, "mx9/Y", NULL),
		tq_tx(&t[5], &m[5], "mx9/Y", 12, "mx9/X", NULL),
	};
	tq_order(h, 6, "BAWYXZ");
}

/* tq_simple - a call without fields (or with a given message) */
static Else__QueryReply *tq_do(const tq_sess *s, bool csrf, Else__QueryRequest__CallCase c,
			       void *msg)
{
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	rq.call_case = c;
	rq.quick = msg; /* the oneof members share one pointer */
	return tq_req(s, csrf, &rq);
}

/* tq_refused - the reply is FORBIDDEN and carries no result at all */
static void tq_refused(Else__QueryReply *r, const char *what)
{
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN, "%s: %d %s", what, r->status,
		     r->error);
	cr_assert_eq(r->result_case, ELSE__QUERY_REPLY__RESULT__NOT_SET, "%s reveals a result",
		     what);
	else__query_reply__free_unpacked(r, NULL);
}

/* tq_visible_to_op1 - may op1 (group g1: server mx3, domain nowhere.test) see this e-mail */
static bool tq_visible_to_op1(const char *eid_hex)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM messages m JOIN hosts h ON h.id = m.host_id "
		 "WHERE lpad(to_hex(m.email_id), 16, '0') = '%.16s' AND (h.name = 'mx3' OR "
		 "else_domain(m.sender) = 'nowhere.test' OR EXISTS (SELECT 1 FROM recipients r "
		 "WHERE r.first_seen = m.first_seen AND r.host_id = m.host_id AND r.queue_id = "
		 "m.queue_id AND else_domain(r.rcpt) = 'nowhere.test'))",
		 eid_hex);
	return tq_sql_i64(sql) > 0;
}

/*
 * Every call that is not a search, tried by an operator of another group and
 * by a mailbox user: administration refused without a trace of its data,
 * History only their own, Servers and Tail only in scope, PasswordChange only
 * their own password.
 */
Test(query, every_call_keeps_to_the_callers_scope)
{
	tq_sess ad, op, mb;
	Else__QueryReply *r;
	char sql[512];

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &ad), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &op), 0);
	cr_assert_eq(tq_login("mbx", "password-of-test", &mb), 0);
	/* The admin leaves traces: a search, a group of mx1, a user. */
	r = tq_quick(&ad, "root-only@secret.test");
	cr_assert_eq(r->status, 0, "%s", r->error);
	else__query_reply__free_unpacked(r, NULL);
	Else__GroupInfo g = ELSE__GROUP_INFO__INIT;
	char *srv[1] = { "mx1" }, *dom[1] = { "secret.test" };
	g.name = "g2";
	g.servers = srv;
	g.n_servers = 1;
	g.domains = dom;
	g.n_domains = 1;
	Else__GroupPut gp = ELSE__GROUP_PUT__INIT;
	gp.group = &g;
	r = tq_do(&ad, true, ELSE__QUERY_REQUEST__CALL_GROUP_PUT, &gp);
	cr_assert_eq(r->status, 0, "%s", r->error);
	int64_t g2 = r->put->id;
	else__query_reply__free_unpacked(r, NULL);
	Else__UserInfo vu = ELSE__USER_INFO__INIT;
	char *vaddr[1] = { "victim@secret.test" };
	vu.name = "victim";
	vu.role = ELSE__ROLE__ROLE_MAILBOX;
	vu.addresses = vaddr;
	vu.n_addresses = 1;
	Else__UserPut up = ELSE__USER_PUT__INIT;
	up.user = &vu;
	up.password = "victim-password";
	r = tq_do(&ad, true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &up);
	cr_assert_eq(r->status, 0, "%s", r->error);
	int64_t victim = r->put->id;
	else__query_reply__free_unpacked(r, NULL);
	int64_t op1_id = tq_sql_i64("SELECT id FROM users WHERE name = 'op1'");

	const tq_sess *who[2] = { &op, &mb };
	const char *name[2] = { "op1", "mbx" };
	for (int i = 0; i < 2; i++) {
		/* History: their own searches only. */
		r = tq_quick(who[i], "own-search@mine.test");
		cr_assert_eq(r->status, 0);
		else__query_reply__free_unpacked(r, NULL);
		Else__History h = ELSE__HISTORY__INIT;
		r = tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_HISTORY, &h);
		cr_assert_eq(r->status, 0, "%s", r->error);
		cr_assert_eq(r->history->n_entries, 1, "%s: history of others", name[i]);
		for (size_t k = 0; k < r->history->n_entries; k++)
			cr_assert(strstr(r->history->entries[k]->query_json, "secret.test") == NULL,
				  "the admin's search in %s's history", name[i]);
		else__query_reply__free_unpacked(r, NULL);
		/* Administration and the audit log: refused, with and without CSRF. */
		Else__Audit au = ELSE__AUDIT__INIT;
		tq_refused(tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_AUDIT, &au), "audit");
		Else__GroupList gl = ELSE__GROUP_LIST__INIT;
		tq_refused(tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_GROUP_LIST, &gl),
			   "group_list");
		Else__UserList ul = ELSE__USER_LIST__INIT;
		tq_refused(tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_USER_LIST, &ul),
			   "user_list");
		/* Take over g2, make a group of one's own, delete g2. */
		Else__GroupInfo hij = ELSE__GROUP_INFO__INIT;
		char *hsrv[3] = { "mx1", "mx2", "mx3" };
		hij.id = g2;
		hij.name = "hijacked";
		hij.servers = hsrv;
		hij.n_servers = 3;
		hij.member_ids = &op1_id;
		hij.n_member_ids = 1;
		Else__GroupPut hp = ELSE__GROUP_PUT__INIT;
		hp.group = &hij;
		tq_refused(tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_GROUP_PUT, &hp),
			   "group_put");
		hij.id = 0;
		tq_refused(tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_GROUP_PUT, &hp),
			   "group_put (new)");
		Else__GroupDelete gd = ELSE__GROUP_DELETE__INIT;
		gd.id = g2;
		tq_refused(tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_GROUP_DELETE, &gd),
			   "group_delete");
		/* Make oneself admin, take the victim's account, delete it. */
		Else__UserInfo me = ELSE__USER_INFO__INIT;
		me.id = tq_sql_i64(i == 0 ? "SELECT id FROM users WHERE name = 'op1'"
					  : "SELECT id FROM users WHERE name = 'mbx'");
		me.name = (char *)name[i];
		me.role = ELSE__ROLE__ROLE_ADMIN;
		Else__UserPut mp = ELSE__USER_PUT__INIT;
		mp.user = &me;
		tq_refused(tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &mp),
			   "user_put (self to admin)");
		Else__UserInfo vv = ELSE__USER_INFO__INIT;
		vv.id = victim;
		vv.name = "victim";
		vv.role = ELSE__ROLE__ROLE_MAILBOX;
		Else__UserPut vp = ELSE__USER_PUT__INIT;
		vp.user = &vv;
		vp.password = "taken-over-password";
		tq_refused(tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &vp),
			   "user_put (another's password)");
		Else__UserDelete ud = ELSE__USER_DELETE__INIT;
		ud.id = victim;
		tq_refused(tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_USER_DELETE, &ud),
			   "user_delete");
		/* Statistics and servers: the mailbox user gets neither. */
		Else__Stats st = ELSE__STATS__INIT;
		Else__Servers sv = ELSE__SERVERS__INIT;
		if (i == 1) {
			tq_refused(tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_STATS, &st),
				   "stats");
			tq_refused(tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_SERVERS, &sv),
				   "servers");
		} else {
			r = tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_SERVERS, &sv);
			cr_assert_eq(r->status, 0, "%s", r->error);
			cr_assert_eq(r->servers->n_rows, 1);
			cr_assert_str_eq(r->servers->rows[0]->name, "mx3");
			else__query_reply__free_unpacked(r, NULL);
		}
		/* Tail: only e-mails in scope (none for the mailbox user). */
		Else__Tail t = ELSE__TAIL__INIT;
		t.limit = 1000;
		r = tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_TAIL, &t);
		cr_assert_eq(r->status, 0, "%s", r->error);
		if (i == 1)
			cr_assert_eq(r->tail->n_rows, 0, "tail crosses");
		else
			cr_assert_gt(r->tail->n_rows, 0, "own server's tail");
		for (size_t k = 0; i == 0 && k < r->tail->n_rows; k++)
			cr_assert(tq_visible_to_op1(r->tail->rows[k]->email_id), "tail crosses: %s",
				  r->tail->rows[k]->email_id);
		else__query_reply__free_unpacked(r, NULL);
		/* SessionCheck: oneself. */
		Else__SessionCheck sc = ELSE__SESSION_CHECK__INIT;
		r = tq_do(who[i], false, ELSE__QUERY_REQUEST__CALL_SESSION_CHECK, &sc);
		cr_assert_eq(r->status, 0);
		cr_assert_str_eq(r->session->user->name, name[i]);
		else__query_reply__free_unpacked(r, NULL);
		/* PasswordChange changes the caller's password and no one else's. */
		Else__PasswordChange pc = ELSE__PASSWORD_CHANGE__INIT;
		pc.old_password = "password-of-test";
		pc.new_password = "changed-password";
		r = tq_do(who[i], true, ELSE__QUERY_REQUEST__CALL_PASSWORD_CHANGE, &pc);
		cr_assert_eq(r->status, 0, "%s", r->error);
		cr_assert_str_eq(r->session->user->name, name[i]);
		else__query_reply__free_unpacked(r, NULL);
	}
	/* Nothing of the above changed anything. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM groups g JOIN group_servers s ON s.group_id = g.id "
		 "WHERE g.id = %lld AND g.name = 'g2' AND s.host = 'mx1'",
		 (long long)g2);
	cr_assert_eq(tq_sql_i64(sql), 1, "g2 changed");
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM groups"), 2, "a group was made");
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM group_servers"), 2);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM user_groups WHERE group_id <> "
				"(SELECT id FROM groups WHERE name = 'g1')"),
		     0, "a membership was made");
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM users WHERE role = 1"), 1, "a new admin");
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM users WHERE name = 'victim' AND role = 3"),
		     1);
	cr_assert_eq(tq_login("victim", "victim-password", NULL), 0, "victim's password changed");
	cr_assert_eq(tq_login("root", "password-of-test", NULL), 0, "root's password changed");
	cr_assert_eq(tq_login("op1", "changed-password", NULL), 0);
	cr_assert_eq(tq_login("mbx", "changed-password", NULL), 0);
	/* And the admin sees what the others could not. */
	Else__GroupList gl = ELSE__GROUP_LIST__INIT;
	r = tq_do(&ad, false, ELSE__QUERY_REQUEST__CALL_GROUP_LIST, &gl);
	cr_assert_eq(r->status, 0);
	cr_assert_eq(r->groups->n_groups, 2);
	else__query_reply__free_unpacked(r, NULL);
	Else__Audit au = ELSE__AUDIT__INIT;
	r = tq_do(&ad, false, ELSE__QUERY_REQUEST__CALL_AUDIT, &au);
	cr_assert_eq(r->status, 0);
	size_t forbidden = 0;
	for (size_t k = 0; k < r->audit->n_entries; k++)
		forbidden += strcmp(r->audit->entries[k]->action, "forbidden") == 0;
	cr_assert_geq(forbidden, 2 * 9, "every refusal is in the audit log");
	else__query_reply__free_unpacked(r, NULL);
}

/* tq_stats - Stats over [2001-02-03 00:00, 2001-02-04 00:00) UTC */
static Else__QueryReply *tq_stats(const tq_sess *s, const char *server, const char *domain,
				  bool daily)
{
	Else__Stats st = ELSE__STATS__INIT;
	st.from_us = 981158400LL * 1000000;
	st.to_us = st.from_us + 86400LL * 1000000;
	st.server = (char *)server;
	st.domain = (char *)domain;
	st.daily = daily;
	st.top = 100;
	return tq_do(s, false, ELSE__QUERY_REQUEST__CALL_STATS, &st);
}

/* tq_stats_week - top senders' count of key over the ISO week of 2001-02-03 */
static int64_t tq_stats_week(const tq_sess *s, const char *server, const char *key)
{
	Else__Stats st = ELSE__STATS__INIT;
	Else__QueryReply *r;
	int64_t n = -1;

	st.from_us = 980726400LL * 1000000; /* Monday 2001-01-29 */
	st.to_us = st.from_us + 7 * 86400LL * 1000000;
	st.server = (char *)server;
	st.daily = true;
	st.top = 100;
	r = tq_do(s, false, ELSE__QUERY_REQUEST__CALL_STATS, &st);
	cr_assert_eq(r->status, 0, "%s", r->error);
	for (size_t i = 0; i < r->stats->n_top_senders; i++)
		if (strcmp(r->stats->top_senders[i]->key, key) == 0)
			n = r->stats->top_senders[i]->count;
	else__query_reply__free_unpacked(r, NULL);
	return n;
}

/* tq_points_sum - the sum of the counts of points */
static int64_t tq_points_sum(Else__StatsPoint **p, size_t n)
{
	int64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += p[i]->count;
	return sum;
}

/* tq_top - the count of key in a top list, -1 when absent */
static int64_t tq_top(Else__TopEntry **e, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i]->key, key) == 0)
			return e[i]->count;
	return -1;
}

/*
 * Stats from the rollups of 002_stats.sql, rows put there directly (as the
 * ingest fills them on the `speed` branch) on a day of 2001 that no other
 * data touches: the admin gets every row, operator op1 (server mx3, domain
 * nowhere.test) the rows of mx3 or of nowhere.test, narrowed by server and
 * domain within that, and the mailbox user nothing.
 */
Test(query, stats_are_scoped_to_servers_and_domains)
{
	tq_sess ad, op, mb;
	Else__QueryReply *r;

	tq_sql_i64(
		"WITH h AS (SELECT id, name FROM hosts), t(hour) AS (SELECT "
		"'2001-02-03 10:00+00'::timestamptz) "
		"INSERT INTO stats_msg_hourly (hour, host_id, messages, sender_domain, status) "
		"SELECT t.hour + v.dh * interval '1 hour', h.id, v.n, v.dom, v.st FROM t, (VALUES "
		"('mx1', 0, 5, 'a.test', 'sent'), ('mx1', 0, 7, 'nowhere.test', 'sent'), "
		"('mx2', 0, 11, 'b.test', 'bounced'), ('mx3', 0, 13, 'a.test', 'sent'), "
		"('mx3', 1, 17, 'c.test', 'deferred')) v(host, dh, n, dom, st) "
		"JOIN h ON h.name = v.host");
	tq_sql_i64("WITH h AS (SELECT id, name FROM hosts) "
		   "INSERT INTO stats_rcpt_hourly (hour, host_id, recipients, rcpt_domain, "
		   "status, direction) SELECT '2001-02-03 10:00+00', h.id, v.n, v.dom, v.st, "
		   "v.dir FROM (VALUES ('mx1', 2, 'nowhere.test', 'sent', 'out'), "
		   "('mx1', 3, 'a.test', 'sent', 'local'), ('mx2', 19, 'b.test', 'bounced', ''), "
		   "('mx3', 23, 'a.test', 'sent', 'relay')) v(host, n, dom, st, dir) "
		   "JOIN h ON h.name = v.host");
	tq_sql_i64("WITH h AS (SELECT id, name FROM hosts) "
		   "INSERT INTO stats_reject_hourly (hour, host_id, rejects, rcpt_domain, event, "
		   "status) SELECT '2001-02-03 12:00+00', h.id, v.n, v.dom, 'reject', 'reject' "
		   "FROM (VALUES ('mx1', 29, 'b.test'), ('mx2', 31, 'nowhere.test'), "
		   "('mx3', 37, '')) v(host, n, dom) JOIN h ON h.name = v.host");
	tq_sql_i64(
		"WITH h AS (SELECT id, name FROM hosts) "
		"INSERT INTO stats_top_daily (day, host_id, kind, count, domain, key) "
		"SELECT '2001-02-03', h.id, v.kind, v.n, v.dom, v.key FROM (VALUES "
		"('mx1', 1, 41, 'a.test', 'ann@a.test'), "
		"('mx1', 1, 43, 'nowhere.test', 'nora@nowhere.test'), "
		"('mx2', 1, 47, 'b.test', 'ben@b.test'), ('mx3', 1, 53, 'a.test', 'ann@a.test'), "
		"('mx1', 5, 59, '', '192.0.2.1'), ('mx3', 5, 61, '', '192.0.2.3')) "
		"v(host, kind, n, dom, key) JOIN h ON h.name = v.host");
	/* What ingest keeps beside them (sql/006, 007): sums without the domain, hot keys. */
	tq_sql_i64("INSERT INTO stats_msg_host_hourly (hour, host_id, status, messages) "
		   "SELECT hour, host_id, status, sum(messages) FROM stats_msg_hourly "
		   "WHERE hour < '2002-01-01' GROUP BY 1, 2, 3");
	tq_sql_i64("INSERT INTO stats_rcpt_host_hourly (hour, host_id, status, direction, "
		   "recipients) SELECT hour, host_id, status, direction, sum(recipients) "
		   "FROM stats_rcpt_hourly WHERE hour < '2002-01-01' GROUP BY 1, 2, 3, 4");
	tq_sql_i64("INSERT INTO stats_reject_host_hourly (hour, host_id, event, status, rejects) "
		   "SELECT hour, host_id, event, status, sum(rejects) FROM stats_reject_hourly "
		   "WHERE hour < '2002-01-01' GROUP BY 1, 2, 3, 4");
	tq_sql_i64("INSERT INTO stats_top_hot SELECT day, host_id, kind, count, domain, key "
		   "FROM stats_top_daily WHERE day < '2002-01-01'");

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &ad), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &op), 0);
	cr_assert_eq(tq_login("mbx", "password-of-test", &mb), 0);

	/* The admin: everything. */
	for (int daily = 0; daily < 2; daily++) {
		r = tq_stats(&ad, NULL, NULL, daily);
		cr_assert_eq(r->status, 0, "%s", r->error);
		Else__StatsReply *s = r->stats;
		cr_assert_eq(tq_points_sum(s->messages, s->n_messages), 53);
		cr_assert_eq(s->n_messages, 3, "buckets by hour (or day) and status");
		cr_assert_eq(tq_points_sum(s->recipients, s->n_recipients), 47);
		cr_assert_eq(tq_points_sum(s->rejects, s->n_rejects), 97);
		cr_assert_eq(tq_top(s->per_server, s->n_per_server, "mx1"), 12);
		cr_assert_eq(tq_top(s->per_server, s->n_per_server, "mx2"), 11);
		cr_assert_eq(tq_top(s->per_server, s->n_per_server, "mx3"), 30);
		cr_assert_eq(tq_top(s->top_senders, s->n_top_senders, "ann@a.test"), 94);
		cr_assert_eq(tq_top(s->top_senders, s->n_top_senders, "ben@b.test"), 47);
		cr_assert_eq(tq_top(s->top_client_ips, s->n_top_client_ips, "192.0.2.1"), 59);
		else__query_reply__free_unpacked(r, NULL);
	}
	r = tq_stats(&ad, "mx1", NULL, false);
	cr_assert_eq(tq_points_sum(r->stats->messages, r->stats->n_messages), 12);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_stats(&ad, NULL, "a.test", false);
	cr_assert_eq(tq_points_sum(r->stats->messages, r->stats->n_messages), 18);
	else__query_reply__free_unpacked(r, NULL);

	/* The operator: rows of mx3, or of nowhere.test on any server. */
	r = tq_stats(&op, NULL, NULL, false);
	cr_assert_eq(r->status, 0, "%s", r->error);
	Else__StatsReply *s = r->stats;
	cr_assert_eq(tq_points_sum(s->messages, s->n_messages), 7 + 13 + 17);
	cr_assert_eq(tq_points_sum(s->recipients, s->n_recipients), 2 + 23);
	cr_assert_eq(tq_points_sum(s->rejects, s->n_rejects), 31 + 37);
	cr_assert_eq(s->n_per_server, 2);
	cr_assert_eq(tq_top(s->per_server, s->n_per_server, "mx1"), 7);
	cr_assert_eq(tq_top(s->per_server, s->n_per_server, "mx2"), -1);
	cr_assert_eq(tq_top(s->per_server, s->n_per_server, "mx3"), 30);
	cr_assert_eq(tq_top(s->top_senders, s->n_top_senders, "ann@a.test"), 53, "mx3's only");
	cr_assert_eq(tq_top(s->top_senders, s->n_top_senders, "nora@nowhere.test"), 43);
	cr_assert_eq(tq_top(s->top_senders, s->n_top_senders, "ben@b.test"), -1);
	cr_assert_eq(tq_top(s->top_client_ips, s->n_top_client_ips, "192.0.2.1"), -1);
	cr_assert_eq(tq_top(s->top_client_ips, s->n_top_client_ips, "192.0.2.3"), 61);
	else__query_reply__free_unpacked(r, NULL);
	/* Narrowed to a server: within the scope only. */
	r = tq_stats(&op, "mx1", NULL, false);
	cr_assert_eq(r->status, 0);
	cr_assert_eq(tq_points_sum(r->stats->messages, r->stats->n_messages), 7);
	cr_assert_eq(tq_top(r->stats->top_senders, r->stats->n_top_senders, "ann@a.test"), -1);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_stats(&op, "mx2", NULL, false);
	cr_assert_eq(r->status, 0);
	cr_assert_eq(tq_points_sum(r->stats->messages, r->stats->n_messages), 0);
	cr_assert_eq(tq_points_sum(r->stats->rejects, r->stats->n_rejects), 31);
	cr_assert_eq(r->stats->n_top_senders, 0);
	else__query_reply__free_unpacked(r, NULL);
	/* Narrowed to a domain: a.test only on mx3. */
	r = tq_stats(&op, NULL, "a.test", false);
	cr_assert_eq(r->status, 0);
	cr_assert_eq(tq_points_sum(r->stats->messages, r->stats->n_messages), 13);
	cr_assert_eq(tq_points_sum(r->stats->recipients, r->stats->n_recipients), 23);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_stats(&op, NULL, "b.test", false);
	cr_assert_eq(r->status, 0);
	cr_assert_eq(tq_points_sum(r->stats->messages, r->stats->n_messages), 0);
	cr_assert_eq(tq_points_sum(r->stats->rejects, r->stats->n_rejects), 0);
	else__query_reply__free_unpacked(r, NULL);

	/*
	 * Spans (sql/011_stats_top_span.sql) made from those hot rows: the
	 * day over every host, the week per host and over every host.  Over
	 * the week the same counts come back; then, with every span count made
	 * ten times larger, they show which reader reads spans: the admin
	 * (every host: host 0), the admin narrowed to mx1 (mx1's week), not
	 * the operator (a domain in scope: stats_top_hot only), and nobody
	 * once their days are dirty (changed since the spans were made).
	 */
	tq_sql_i64("SELECT count(*) FROM (SELECT else_stats_top_span('2001-02-03', 1::smallint, "
		   "'2001-02-03', 400) UNION ALL SELECT else_stats_top_span('2001-01-29', "
		   "7::smallint, '2001-02-04', 400)) x");
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM stats_top_span WHERE first < '2002-01-01' "
				"AND host_id = 0 AND key = 'ann@a.test' AND count = 94"),
		     2);
	cr_assert_eq(tq_stats_week(&ad, NULL, "ann@a.test"), 94);
	cr_assert_eq(tq_stats_week(&ad, "mx1", "ann@a.test"), 41);
	cr_assert_eq(tq_stats_week(&op, NULL, "ann@a.test"), 53);
	tq_sql_i64("WITH u AS (UPDATE stats_top_span SET count = count * 10 "
		   "WHERE first < '2002-01-01' RETURNING 1) SELECT count(*) FROM u");
	cr_assert_eq(tq_stats_week(&ad, NULL, "ann@a.test"), 940);
	cr_assert_eq(tq_stats_week(&ad, NULL, "ben@b.test"), 470);
	cr_assert_eq(tq_stats_week(&ad, "mx1", "ann@a.test"), 410);
	cr_assert_eq(tq_stats_week(&ad, "mx2", "ann@a.test"), -1);
	cr_assert_eq(tq_stats_week(&op, NULL, "ann@a.test"), 53);
	cr_assert_eq(tq_stats_week(&op, NULL, "ben@b.test"), -1);
	/* Another day of the week changed: the week spans are out, the day's
	 * span over every host still serves the admin. */
	tq_sql_i64("WITH i AS (INSERT INTO stats_top_dirty VALUES ('2001-02-01') RETURNING 1) "
		   "SELECT count(*) FROM i");
	cr_assert_eq(tq_stats_week(&ad, NULL, "ann@a.test"), 940);
	cr_assert_eq(tq_stats_week(&ad, "mx1", "ann@a.test"), 41);
	tq_sql_i64("WITH i AS (INSERT INTO stats_top_dirty VALUES ('2001-02-03') RETURNING 1) "
		   "SELECT count(*) FROM i");
	cr_assert_eq(tq_stats_week(&ad, NULL, "ann@a.test"), 94);
	tq_sql_i64("WITH d AS (DELETE FROM stats_top_dirty WHERE day < '2002-01-01' RETURNING 1), "
		   "s AS (DELETE FROM stats_top_spans WHERE first < '2002-01-01' RETURNING 1) "
		   "SELECT (SELECT count(*) FROM d) + (SELECT count(*) FROM s)");

	/* The mailbox user: none. */
	tq_refused(tq_stats(&mb, NULL, NULL, false), "stats");
	tq_refused(tq_stats(&mb, "mx1", "a.test", true), "stats");
}

/*
 * Hostile input in every string field of every call, found through the
 * protobuf-c descriptors so that a field added to the proto later is tried
 * too.  Each call starts from a baseline that gets it past its own checks
 * (tq_base), then one field at a time gets each hostile value.
 */
static const char *tq_evil[] = {
	"' OR 1=1 --",
	"%",
	"_",
	"\\",
	"\"; DROP TABLE users; --",
	"'); DELETE FROM sessions; --",
	"{\"a\",\"b\"}",
	"$1",
	"a\tb\nc",
	"\xff\xfe not UTF-8",
};

/* tq_msg_new - a message of descriptor d, initialised (free with tq_msg_free) */
static ProtobufCMessage *tq_msg_new(const ProtobufCMessageDescriptor *d)
{
	ProtobufCMessage *m = calloc(1, d->sizeof_message);
	protobuf_c_message_init(d, m);
	return m;
}

/* tq_field_set - is this (oneof) field the chosen one */
static bool tq_field_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
	return true;
}

/* tq_msg_free - m, its sub-messages and the arrays tq made (strings are not ours) */
static void tq_msg_free(ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void **p = (void **)((char *)m + f->offset);
		if (!tq_field_set(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			free(*p);
		else if (f->type == PROTOBUF_C_TYPE_MESSAGE && *p)
			tq_msg_free(*p);
	}
	free(m);
}

/* tq_set - set the string field name of m to v */
static void tq_set(ProtobufCMessage *m, const char *name, const char *v)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	cr_assert_not_null(f, "%s", name);
	*(const char **)((char *)m + f->offset) = v;
}

/* tq_sub - the sub-message name of m, made if absent */
static ProtobufCMessage *tq_sub(ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	ProtobufCMessage **p = (ProtobufCMessage **)((char *)m + f->offset);
	if (*p == NULL)
		*p = tq_msg_new(f->descriptor);
	return *p;
}

/* tq_base - a request for call field f with values that pass the call's own checks */
static Else__QueryRequest *tq_base(const ProtobufCFieldDescriptor *f)
{
	Else__QueryRequest *rq = (Else__QueryRequest *)tq_msg_new(&else__query_request__descriptor);
	ProtobufCMessage *c = tq_msg_new(f->descriptor);
	*(uint32_t *)((char *)rq + f->quantifier_offset) = f->id;
	*(ProtobufCMessage **)((char *)rq + f->offset) = c;
	if (strcmp(f->name, "login") == 0) {
		tq_set(c, "user", "root");
		tq_set(c, "password", "password-of-test");
		tq_set(c, "client_ip", "198.51.100.1");
	} else if (strcmp(f->name, "password_change") == 0) {
		tq_set(c, "old_password", "password-of-test");
		tq_set(c, "new_password", "password-of-test");
	} else if (strcmp(f->name, "quick") == 0) {
		tq_set(c, "q", "x@y.test");
	} else if (strcmp(f->name, "flow") == 0) {
		tq_set(c, "host", "mx1");
		tq_set(c, "queue_id", "ABCDEF");
	} else if (strcmp(f->name, "user_put") == 0) {
		ProtobufCMessage *u = tq_sub(c, "user");
		tq_set(u, "name", "newuser");
		((Else__UserInfo *)u)->role = ELSE__ROLE__ROLE_OPERATOR;
		tq_set(c, "password", "long-enough-password");
	} else if (strcmp(f->name, "group_put") == 0) {
		tq_set(tq_sub(c, "group"), "name", "newgroup");
	} else if (strcmp(f->name, "user_delete") == 0) {
		((Else__UserDelete *)c)->id = 999999;
	} else if (strcmp(f->name, "group_delete") == 0) {
		((Else__GroupDelete *)c)->id = 999999;
	}
	return rq;
}

/*
 * tq_slot - walk the string fields of m (sub-messages included, made when
 * absent); the k-th gets v (a repeated one a list of one).  The field's
 * name goes to name.  Returns how many there are when k is past them.
 */
static int tq_slot(ProtobufCMessage *m, int k, const char *v, const char **name)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int n = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)m + f->offset;
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED) {
			n += tq_slot(tq_sub(m, f->name), k - n, v, name);
			continue;
		}
		if (f->type != PROTOBUF_C_TYPE_STRING)
			continue;
		if (n++ != k)
			continue;
		*name = f->name;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			const char **arr = malloc(sizeof(*arr));
			arr[0] = v;
			*(const char ***)base = arr;
			*(size_t *)((char *)m + f->quantifier_offset) = 1;
		} else {
			*(const char **)base = v;
		}
	}
	return n;
}

/* tq_no_rows - a search-like reply with evil filter values found nothing */
static void tq_no_rows(const Else__QueryReply *r, const char *what)
{
	switch (r->result_case) {
	case ELSE__QUERY_REPLY__RESULT_SEARCH:
		cr_assert_eq(r->search->n_rows, 0, "%s matched rows", what);
		break;
	case ELSE__QUERY_REPLY__RESULT_REJECTS:
		cr_assert_eq(r->rejects->n_rows, 0, "%s matched rows", what);
		break;
	case ELSE__QUERY_REPLY__RESULT_STATS:
		cr_assert_eq(r->stats->n_messages + r->stats->n_per_server +
				     r->stats->n_top_senders + r->stats->n_rejects,
			     0, "%s matched rows", what);
		break;
	case ELSE__QUERY_REPLY__RESULT_FLOW:
		cr_assert_fail("%s found a flow", what);
		break;
	default:
		break;
	}
}

Test(query, hostile_values_in_every_field_of_every_call)
{
	tq_sess s;
	char *huge = malloc(1 << 20);
	size_t tried = 0;

	memset(huge, 'x', (1 << 20) - 1);
	huge[(1 << 20) - 1] = '\0';
	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &s), 0);
	const ProtobufCMessageDescriptor *rd = &else__query_request__descriptor;
	for (unsigned i = 0; i < rd->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &rd->fields[i];
		const char *fname = NULL;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE || strcmp(f->name, "caller") == 0 ||
		    strcmp(f->name, "hello") == 0 || strcmp(f->name, "auth") == 0 ||
		    strcmp(f->name, "logout") == 0)
			continue;
		Else__QueryRequest *probe = tq_base(f);
		int nslots = tq_slot(*(ProtobufCMessage **)((char *)probe + f->offset), 1 << 20,
				     NULL, &fname);
		tq_msg_free(&probe->base);
		/* Every call: each slot with each value, then 1 MiB. */
		for (int k = 0; k < nslots; k++) {
			for (size_t e = 0; e <= sizeof(tq_evil) / sizeof(tq_evil[0]); e++) {
				bool big = e == sizeof(tq_evil) / sizeof(tq_evil[0]);
				const char *v = big ? huge : tq_evil[e];
				bool utf8 = (unsigned char)v[0] < 0x80;
				char what[128];
				Else__QueryRequest *rq = tq_base(f);
				tq_slot(*(ProtobufCMessage **)((char *)rq + f->offset), k, v,
					&fname);
				snprintf(what, sizeof(what), "%s.%s = %.20s", f->name, fname, v);
				Else__QueryReply *r = tq_req(&s, true, rq);
				tried++;
				if (big || !utf8) {
					cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST,
						     "%s: %d %s", what, r->status, r->error);
					cr_assert(strstr(r->error, fname) != NULL,
						  "%s: names the field: %s", what, r->error);
				} else {
					cr_assert(
						r->status != ELSE__QUERY_STATUS__Q_INTERNAL &&
							r->status != ELSE__QUERY_STATUS__Q_BUSY &&
							r->status !=
								ELSE__QUERY_STATUS__Q_PEER_UNAUTHENTICATED,
						"%s: %d %s", what, r->status, r->error);
					if (r->status == ELSE__QUERY_STATUS__Q_BAD_REQUEST)
						cr_assert(strstr(r->error, fname) != NULL,
							  "%s: names the field: %s", what,
							  r->error);
					if (strcmp(fname, "password") != 0 &&
					    strcmp(fname, "client_ip") != 0)
						tq_no_rows(r, what);
				}
				else__query_reply__free_unpacked(r, NULL);
				tq_msg_free(&rq->base);
			}
		}
	}
	/* The caller's own fields, on a read and on a state change. */
	static const char *cfields[] = { "session", "csrf", "client_ip", "user_agent" };
	for (size_t c = 0; c < 4; c++) {
		for (size_t e = 0; e <= sizeof(tq_evil) / sizeof(tq_evil[0]); e++) {
			bool big = e == sizeof(tq_evil) / sizeof(tq_evil[0]);
			const char *v = big ? huge : tq_evil[e];
			for (int call = 0; call < 2; call++) {
				Else__Caller cl = ELSE__CALLER__INIT;
				Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
				Else__SessionCheck sc = ELSE__SESSION_CHECK__INIT;
				Else__GroupDelete gd = ELSE__GROUP_DELETE__INIT;
				cl.session = s.session;
				cl.csrf = s.csrf;
				tq_set(&cl.base, cfields[c], v);
				gd.id = 999999;
				rq.caller = &cl;
				rq.call_case = call ? ELSE__QUERY_REQUEST__CALL_GROUP_DELETE
						    : ELSE__QUERY_REQUEST__CALL_SESSION_CHECK;
				rq.session_check = call ? (void *)&gd : (void *)&sc;
				Else__QueryReply *r = tq_call(&rq);
				tried++;
				if (big || (unsigned char)v[0] >= 0x80) {
					cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST);
					cr_assert(strstr(r->error, cfields[c]) != NULL, "%s",
						  r->error);
				} else if (c == 0) {
					cr_assert_eq(r->status,
						     ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
				} else if (c == 1 && call == 1) {
					cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_FORBIDDEN);
				} else {
					cr_assert_eq(r->status,
						     call ? ELSE__QUERY_STATUS__Q_NOT_FOUND
							  : ELSE__QUERY_STATUS__Q_OK,
						     "caller.%s: %d %s", cfields[c], r->status,
						     r->error);
				}
				else__query_reply__free_unpacked(r, NULL);
			}
		}
	}
	free(huge);
	fprintf(stderr, "test_query: hostile values: %zu requests\n", tried);
	cr_assert_gt(tried, 300);
	/* Nothing was dropped or deleted, and the session still works. */
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM users WHERE name IN ('root', 'op1', 'mbx')"),
		     3);
	cr_assert_gt(tq_sql_i64("SELECT count(*) FROM sessions"), 0);
	cr_assert_gt(tq_sql_i64("SELECT count(*) FROM messages"), 0);
	Else__SessionCheck sc = ELSE__SESSION_CHECK__INIT;
	Else__QueryReply *r = tq_do(&s, false, ELSE__QUERY_REQUEST__CALL_SESSION_CHECK, &sc);
	cr_assert_eq(r->status, 0);
	else__query_reply__free_unpacked(r, NULL);
}

/* The query_short suite: windows of seconds, so expiry and recovery can be waited for. */
static void tq_setup_short(void)
{
	tq_qc.session_idle_s = 2;
	tq_qc.session_max_s = 5;
	tq_qc.login_window_s = 3;
	tq_qc.login_max_user = 100;
	tq_qc.login_max_ip = 3;
	tq_setup();
}

TestSuite(query_short, .init = tq_setup_short, .fini = tq_teardown, .timeout = 120);

/* tq_check - SessionCheck's status */
static Else__QueryStatus tq_check(const tq_sess *s)
{
	Else__SessionCheck sc = ELSE__SESSION_CHECK__INIT;
	Else__QueryReply *r = tq_do(s, false, ELSE__QUERY_REQUEST__CALL_SESSION_CHECK, &sc);
	Else__QueryStatus st = r->status;
	else__query_reply__free_unpacked(r, NULL);
	return st;
}

/* tq_sleep_ms - wait (expiry is what is tested: there is nothing to poll for) */
static void tq_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

Test(query_short, sessions_expire_when_idle_and_at_their_maximum_age)
{
	tq_sess idle, busy;

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &idle), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &busy), 0);
	cr_assert_eq(tq_check(&idle), 0);
	/* Used every second: alive past the idle limit, dead past the maximum. */
	int64_t t0 = time(NULL);
	int alive = 0;
	while (time(NULL) - t0 < 8) {
		Else__QueryStatus st = tq_check(&busy);
		if (st != 0) {
			cr_assert_eq(st, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
			break;
		}
		alive = (int)(time(NULL) - t0);
		tq_sleep_ms(700);
	}
	cr_assert_geq(alive, 3, "a used session outlives session_idle");
	cr_assert_leq(alive, 5, "no session outlives session_max");
	cr_assert_eq(tq_check(&busy), ELSE__QUERY_STATUS__Q_UNAUTHENTICATED, "it stays ended");
	/* Unused for longer than session_idle: ended, and gone from the table. */
	cr_assert_eq(tq_check(&idle), ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM sessions"), 0,
		     "expired sessions are deleted");
	/* A new login works. */
	cr_assert_eq(tq_login("root", "password-of-test", &idle), 0);
	cr_assert_eq(tq_check(&idle), 0);
}

Test(query_short, per_ip_login_throttle_and_its_recovery)
{
	tq_sess s;
	static const char *users[] = { "root", "op1", "nosuchuser" };

	cr_assert_eq(tq_connect(NULL), 0);
	/* Three failures from one IP, for three different user names. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(tq_login_ip(users[i], "wrong-password!", "203.0.113.9", NULL),
			     ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	/* That IP is throttled, even with a right password ... */
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Login l = ELSE__LOGIN__INIT;
	l.user = "mbx";
	l.password = "password-of-test";
	l.client_ip = "203.0.113.9";
	rq.call_case = ELSE__QUERY_REQUEST__CALL_LOGIN;
	rq.login = &l;
	Else__QueryReply *r = tq_call(&rq);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_THROTTLED);
	cr_assert(strstr(r->error, "retry_after_s=") != NULL, "%s", r->error);
	int after = atoi(strstr(r->error, "retry_after_s=") + 14);
	cr_assert(after >= 1 && after <= 3, "retry after %d s", after);
	cr_assert_eq(r->result_case, ELSE__QUERY_REPLY__RESULT__NOT_SET);
	else__query_reply__free_unpacked(r, NULL);
	/* ... another IP is not, and the user names themselves are not. */
	cr_assert_eq(tq_login_ip("root", "password-of-test", "203.0.113.10", &s), 0);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM audit_log WHERE action = 'login_throttled' "
				"AND detail = 'ip' AND client_ip = '203.0.113.9'"),
		     1);
	/* After the window the IP may log in again. */
	tq_sleep_ms((after + 1) * 1000);
	cr_assert_eq(tq_login_ip("mbx", "password-of-test", "203.0.113.9", NULL), 0,
		     "the throttle recovers after login_window");
}

Test(query_short, audit_records_cut_on_a_character_boundary)
{
	char name[80], host[1024];
	tq_sess ad;
	size_t n;

	cr_assert_eq(tq_connect(NULL), 0);
	/* A user name cut at 64 bytes: 63 ASCII bytes then a 2-byte character. */
	memset(name, 'a', 63);
	strcpy(name + 63, "\xc3\xa9");
	cr_assert_eq(tq_login_ip(name, "wrong-password!", "203.0.113.77", NULL),
		     ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM audit_log WHERE action = 'login_failed' AND "
				"client_ip = '203.0.113.77' AND user_name = repeat('a', 63)"),
		     1, "the failed login's audit record");
	/* A request's JSON cut at 4000 bytes: 640 control bytes (\u0001 each)
	 * then 2-byte characters, once with one more byte in front, so that
	 * one of the two cuts falls inside a character. */
	cr_assert_eq(tq_login("root", "password-of-test", &ad), 0);
	for (int shift = 0; shift < 2; shift++) {
		Else__Flow f = ELSE__FLOW__INIT;
		memcpy(host, "MARKER", 6); /* the JSON is cut before queue_id */
		n = 6;
		if (shift)
			host[n++] = 'x';
		memset(host + n, 1, 640);
		n += 640;
		for (int k = 0; k < 140; k++, n += 2)
			memcpy(host + n, "\xc3\xa9", 2);
		host[n] = '\0';
		f.host = host;
		f.queue_id = "ABC123";
		Else__QueryReply *r = tq_do(&ad, false, ELSE__QUERY_REQUEST__CALL_FLOW, &f);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_NOT_FOUND, "%d %s", r->status,
			     r->error);
		else__query_reply__free_unpacked(r, NULL);
	}
	/* Not durable (a read of mail data): written without waiting for the WAL. */
	const char *q = "SELECT count(*) FROM audit_log WHERE action = 'flow_not_found' AND "
			"detail LIKE '%MARKER%'";
	for (int i = 0; i < 50 && tq_sql_i64(q) < 2; i++)
		tq_sleep_ms(100);
	cr_assert_eq(tq_sql_i64(q), 2, "both requests' audit records");
}

Test(query, a_flow_shows_no_line_of_another_lifetime_of_its_queue_id)
{
	tq_sess s;
	char eid[17], sql[1024];

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &s), 0);
	tq_eid_hex(eid);
	Else__QueryReply *r = tq_flow(&s, eid);
	cr_assert_eq(r->status, 0, "%s", r->error);
	size_t n0 = r->flow->hops[0]->n_lines;
	char qid[64];
	snprintf(qid, sizeof(qid), "%s", r->flow->hops[0]->msg->queue_id);
	else__query_reply__free_unpacked(r, NULL);
	/* Postfix reuses queue IDs: the same ID on the same host 30 s before
	 * and after this transaction is another message's. */
	snprintf(sql, sizeof(sql),
		 "WITH i AS (INSERT INTO lines (ts, seq, ingest_seq, host_id, stream_no, event, "
		 "program, queue_id, raw) SELECT t, 1, 1, m.host_id, 0, 0, 'postfix/qmgr', "
		 "m.queue_id, convert_to(m.queue_id || ': another lifetime', 'UTF8') FROM messages "
		 "m, LATERAL (VALUES (m.first_seen - interval '30 seconds'), (m.last_seen + "
		 "interval '30 seconds')) v(t) WHERE lpad(to_hex(m.email_id), 16, '0') = '%s' AND "
		 "m.queue_id = '%s' RETURNING 1) SELECT count(*) FROM i",
		 eid, qid);
	cr_assert_eq(tq_sql_i64(sql), 2);
	r = tq_flow(&s, eid);
	cr_assert_eq(r->status, 0, "%s", r->error);
	cr_assert_eq(r->flow->hops[0]->n_lines, n0, "lines of hop 0: %zu, were %zu",
		     r->flow->hops[0]->n_lines, n0);
	for (size_t k = 0; k < r->flow->hops[0]->n_lines; k++)
		cr_assert(strstr(r->flow->hops[0]->lines[k]->text, "another lifetime") == NULL,
			  "a line of another lifetime of %s", qid);
	else__query_reply__free_unpacked(r, NULL);
}

/* tq_file_lines - lines in the harness log of a host (what tq_load ingested) */
static uint64_t tq_file_lines(const char *host)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	uint64_t n = 0;
	snprintf(path, sizeof(path), "%s/postfix/%s.maillog.log", getenv("ELSE_TEST_DATA"), host);
	FILE *fp = fopen(path, "r");
	cr_assert_not_null(fp);
	while (getline(&line, &cap, fp) > 0 && n < 400)
		n++;
	free(line);
	fclose(fp);
	return n;
}

/* tq_servers_today - lines_today of each of mx1..mx3 (admin) */
static void tq_servers_today(const tq_sess *s, uint64_t out[3])
{
	Else__Servers sv = ELSE__SERVERS__INIT;
	Else__QueryReply *r = tq_do(s, false, ELSE__QUERY_REQUEST__CALL_SERVERS, &sv);
	cr_assert_eq(r->status, 0, "%s", r->error);
	cr_assert_eq(r->servers->n_rows, 3);
	for (size_t i = 0; i < 3; i++) {
		char want[4] = { 'm', 'x', (char)('1' + i), 0 };
		cr_assert_str_eq(r->servers->rows[i]->name, want);
		out[i] = r->servers->rows[i]->lines_today;
	}
	else__query_reply__free_unpacked(r, NULL);
}

/* tq_only_own - m, as a mailbox user sees it, lists and counts only their own recipients */
static void tq_only_own(const Else__MessageRow *m, int64_t own, const char *addr, const char *where)
{
	cr_assert_eq(m->nrcpt, (uint32_t)own, "%s: nrcpt %u, own recipients %lld", where, m->nrcpt,
		     (long long)own);
	cr_assert_eq(m->n_recipients, (size_t)own, "%s", where);
	for (size_t k = 0; k < m->n_recipients; k++)
		cr_assert(strcasecmp(m->recipients[k], addr) == 0, "%s: another's recipient %s",
			  where, m->recipients[k]);
}

/*
 * tq_only_own_in - the rows of transaction qid in r (a search's rows or a
 * flow's hops), at least one, each as tq_only_own
 */
static void tq_only_own_in(const Else__QueryReply *r, const char *qid, int64_t own,
			   const char *addr, const char *where)
{
	bool search = r->result_case == ELSE__QUERY_REPLY__RESULT_SEARCH;
	bool seen = false;

	cr_assert_eq(r->status, 0, "%s: %s", where, r->error);
	size_t n = search ? r->search->n_rows : r->flow->n_hops;
	for (size_t i = 0; i < n; i++) {
		const Else__MessageRow *m = search ? r->search->rows[i] : r->flow->hops[i]->msg;
		if (strcmp(m->queue_id, qid) != 0)
			continue;
		seen = true;
		tq_only_own(m, own, addr, where);
	}
	cr_assert(seen, "%s: the mailbox user's own message %s", where, qid);
}

Test(query, lines_today_truncated_quick_searches_and_a_mailbox_users_nrcpt)
{
	tq_sess ad, mb;
	uint64_t today[3];
	Else__QueryReply *r;

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &ad), 0);
	/* lines_today: every line ingested today (streams first seen today) ... */
	tq_servers_today(&ad, today);
	cr_assert_eq(today[0], tq_file_lines("mx1"));
	cr_assert_eq(today[1], tq_file_lines("mx2"));
	cr_assert_eq(today[2], tq_file_lines("mx3"));
	/* ... and none once the day's start was noted after them (else_day_mark). */
	tq_sql_i64("SELECT else_day_mark()");
	tq_servers_today(&ad, today);
	cr_assert_eq(today[0] + today[1] + today[2], 0);
	tq_sql_i64("UPDATE streams SET committed_seq = committed_seq + 7 WHERE host_id = "
		   "(SELECT id FROM hosts WHERE name = 'mx2')");
	tq_servers_today(&ad, today);
	cr_assert_eq(today[1], 7, "counted from the day's note");

	/* Quick search: more rows than the limit is truncated (there is no next page). */
	char eid[17], sql[1024];
	PGconn *pc = PQconnectdb(tq_ci);
	PGresult *x = PQexec(pc, "SELECT lpad(to_hex(email_id), 16, '0'), count(*) FROM messages "
				 "GROUP BY email_id HAVING count(*) >= 2 ORDER BY 1 LIMIT 1");
	cr_assert_eq(PQntuples(x), 1, "an e-mail with several transactions");
	snprintf(eid, sizeof(eid), "%s", PQgetvalue(x, 0, 0));
	size_t hops = (size_t)atoi(PQgetvalue(x, 0, 1));
	PQclear(x);
	Else__QuickSearch qs = ELSE__QUICK_SEARCH__INIT;
	qs.q = eid;
	qs.limit = 1;
	r = tq_do(&ad, false, ELSE__QUERY_REQUEST__CALL_QUICK, &qs);
	cr_assert_eq(r->status, 0, "%s", r->error);
	cr_assert_eq(r->search->n_rows, 1);
	cr_assert(r->search->truncated, "limit 1 of %zu transactions", hops);
	else__query_reply__free_unpacked(r, NULL);
	qs.limit = 0;
	r = tq_do(&ad, false, ELSE__QUERY_REQUEST__CALL_QUICK, &qs);
	cr_assert_eq(r->search->n_rows, hops);
	cr_assert(!r->search->truncated);
	else__query_reply__free_unpacked(r, NULL);
	qs.q = "alice@remote.test"; /* an address: the search fallback, cut at the limit */
	qs.limit = 1;
	r = tq_do(&ad, false, ELSE__QUERY_REQUEST__CALL_QUICK, &qs);
	cr_assert_eq(r->search->n_rows, 1);
	cr_assert(r->search->truncated);
	cr_assert_str_eq(r->search->next_cursor, "");
	else__query_reply__free_unpacked(r, NULL);

	/* A mailbox user who is one recipient of several: nrcpt counts only theirs. */
	x = PQexec(pc, "SELECT lpad(to_hex(m.email_id), 16, '0'), m.nrcpt, lower(r.rcpt), "
		       "m.queue_id FROM messages m JOIN recipients r ON r.first_seen = "
		       "m.first_seen AND r.host_id = m.host_id AND r.queue_id = m.queue_id "
		       "WHERE m.nrcpt >= 2 AND lower(m.sender) <> lower(r.rcpt) AND "
		       "(SELECT count(DISTINCT lower(r2.rcpt)) FROM recipients r2 WHERE "
		       "r2.first_seen = m.first_seen AND r2.host_id = m.host_id AND r2.queue_id = "
		       "m.queue_id) >= 2 ORDER BY 1, 3 LIMIT 1");
	cr_assert_eq(PQntuples(x), 1, "a message with two recipients or more");
	char addr[256], qid[64];
	snprintf(eid, sizeof(eid), "%s", PQgetvalue(x, 0, 0));
	snprintf(addr, sizeof(addr), "%s", PQgetvalue(x, 0, 2));
	snprintf(qid, sizeof(qid), "%s", PQgetvalue(x, 0, 3));
	PQclear(x);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM recipients r JOIN messages m ON r.first_seen = m.first_seen "
		 "AND r.host_id = m.host_id AND r.queue_id = m.queue_id WHERE m.queue_id = '%s' "
		 "AND lpad(to_hex(m.email_id), 16, '0') = '%s' AND (lower(r.rcpt) = '%s' OR "
		 "lower(r.orig_rcpt) = '%s')",
		 qid, eid, addr, addr);
	int64_t own = tq_sql_i64(sql);
	PQfinish(pc);
	Else__UserInfo u = ELSE__USER_INFO__INIT;
	char *addrs[1] = { addr };
	u.name = "mb2";
	u.role = ELSE__ROLE__ROLE_MAILBOX;
	u.addresses = addrs;
	u.n_addresses = 1;
	Else__UserPut up = ELSE__USER_PUT__INIT;
	up.user = &u;
	up.password = "password-of-mb2";
	/* An empty address would see every bounce (sender <>): refused, as are
	 * names that are not addresses, and blank names of a group. */
	static char *bad_addr[] = { "", "mb2", "@x.test", "mb2@", "a b@x.test" };
	for (size_t k = 0; k < sizeof(bad_addr) / sizeof(bad_addr[0]); k++) {
		u.addresses = &bad_addr[k];
		r = tq_do(&ad, true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &up);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "address '%s': %d",
			     bad_addr[k], r->status);
		else__query_reply__free_unpacked(r, NULL);
	}
	static char *bad_name[] = { "", "a@b.test", "two words" };
	for (size_t k = 0; k < sizeof(bad_name) / sizeof(bad_name[0]); k++) {
		Else__GroupInfo g = ELSE__GROUP_INFO__INIT;
		Else__GroupPut gp = ELSE__GROUP_PUT__INIT;
		g.name = "g-bad";
		g.domains = &bad_name[k];
		g.n_domains = 1;
		gp.group = &g;
		r = tq_do(&ad, true, ELSE__QUERY_REQUEST__CALL_GROUP_PUT, &gp);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "domain '%s': %d",
			     bad_name[k], r->status);
		else__query_reply__free_unpacked(r, NULL);
		g.n_domains = 0;
		g.servers = &bad_name[k];
		g.n_servers = 1;
		r = tq_do(&ad, true, ELSE__QUERY_REQUEST__CALL_GROUP_PUT, &gp);
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_BAD_REQUEST, "server '%s': %d",
			     bad_name[k], r->status);
		else__query_reply__free_unpacked(r, NULL);
	}
	u.addresses = addrs;
	r = tq_do(&ad, true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &up);
	cr_assert_eq(r->status, 0, "%s", r->error);
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_login("mb2", "password-of-mb2", &mb), 0);
	qs.q = eid;
	qs.limit = 0;
	r = tq_do(&mb, false, ELSE__QUERY_REQUEST__CALL_QUICK, &qs);
	tq_only_own_in(r, qid, own, addr, "quick");
	else__query_reply__free_unpacked(r, NULL);
	/* Its transaction in the flow view says the same (be_dbq_flow_summary). */
	r = tq_flow(&mb, eid);
	tq_only_own_in(r, qid, own, addr, "flow");
	else__query_reply__free_unpacked(r, NULL);
	/*
	 * Another recipient of that message (a Bcc, for all mb2 knows): no
	 * search tells mb2 whether it got the message, by recipient, address,
	 * prefix or quick search; and the flow shows mb2 no action text (they
	 * quote recipients).
	 */
	snprintf(sql, sizeof(sql),
		 "SELECT min(lower(r.rcpt)) FROM recipients r JOIN messages m ON r.first_seen = "
		 "m.first_seen AND r.host_id = m.host_id AND r.queue_id = m.queue_id WHERE "
		 "lpad(to_hex(m.email_id), 16, '0') = '%s' AND lower(r.rcpt) <> '%s' AND "
		 "lower(r.rcpt) <> lower(m.sender)",
		 eid, addr);
	PGconn *pc2 = PQconnectdb(tq_ci);
	x = PQexec(pc2, sql);
	char other[256];
	snprintf(other, sizeof(other), "%s", PQgetvalue(x, 0, 0));
	PQclear(x);
	PQfinish(pc2);
	cr_assert(other[0], "another recipient of %s", eid);
	/* The shortest prefix of other that mb2's own address does not share. */
	char prefix[256];
	size_t np = 0;
	while (other[np] && other[np] == addr[np])
		np++;
	snprintf(prefix, sizeof(prefix), "%.*s", (int)np + 1, other);
	for (int k = 0; k < 3; k++) {
		Else__Search p = ELSE__SEARCH__INIT;
		p.from_us = 1;
		p.to_us = 253402300799999999LL;
		if (k == 0) {
			p.recipient = other;
		} else if (k == 1) {
			p.address = other;
		} else {
			p.recipient = prefix;
			p.match = ELSE__MATCH__MATCH_PREFIX;
		}
		r = tq_search(&mb, &p);
		cr_assert_eq(r->status, 0, "%s", r->error);
		for (size_t i = 0; i < r->search->n_rows; i++)
			cr_assert_str_neq(r->search->rows[i]->email_id, eid,
					  "search %d tells mb2 that %s got %s", k, other, eid);
		else__query_reply__free_unpacked(r, NULL);
	}
	qs.q = other;
	r = tq_do(&mb, false, ELSE__QUERY_REQUEST__CALL_QUICK, &qs);
	cr_assert_eq(r->status, 0, "%s", r->error);
	for (size_t i = 0; i < r->search->n_rows; i++)
		cr_assert_str_neq(r->search->rows[i]->email_id, eid, "quick search of %s", other);
	else__query_reply__free_unpacked(r, NULL);
	r = tq_flow(&mb, eid);
	cr_assert_eq(r->status, 0, "%s", r->error);
	for (size_t h = 0; h < r->flow->n_hops; h++)
		cr_assert_str_eq(r->flow->hops[h]->actions_json, "", "hop %zu's actions", h);
	else__query_reply__free_unpacked(r, NULL);
}

/*
 * Searches newest first run in steps: a substring search reads the newest
 * messages of the range before it asks the trigram index for the older ones
 * (be_dbq_newest); the other searches go window by window, newest first
 * (be_dbq_windows).  With more messages than the first step takes, paging
 * through every match must give exactly the one statement's order: the
 * newest, ties broken by host and queue ID, no row twice, none missing,
 * whatever the page size.
 */
Test(query_db, searches_newest_first_page_like_one_statement, .timeout = 300)
{
	const char *ci = getenv("ELSE_TEST_PG");
	char sql[1024], dbci[8300];
	static const uint32_t pages[] = { 10, 40, 7, 100, 1 };
	static const struct {
		const char *sender, *address;
		int match;
		const char *where;
		int want;
		const char *mailbox; /* search as this mailbox user, else as an admin */
	} qs[] = {
		{ "eedle", NULL, ELSE__MATCH__MATCH_SUBSTRING, "lower(sender) LIKE '%needle%'", 130,
		  NULL },
		{ NULL, "USER7@y.example", ELSE__MATCH__MATCH_EXACT,
		  "lower(sender) = 'user7@y.example'", 900, NULL },
		{ "user7@", NULL, ELSE__MATCH__MATCH_PREFIX, "lower(sender) LIKE 'user7@%'", 900,
		  NULL },
		/* A mailbox user's search without a name: their own e-mails only. */
		{ NULL, NULL, ELSE__MATCH__MATCH_EXACT, "lower(sender) = 'user9@y.example'", 900,
		  "{user9@y.example}" },
		{ "eedle", NULL, ELSE__MATCH__MATCH_SUBSTRING, "false", 0, "{user9@y.example}" },
	};
	be_db *db;

	cr_assert(ci, "run through with_pg.sh");
	PGconn *c = PQconnectdb(ci);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "CREATE DATABASE else_qs_%d", (int)getpid());
	PQclear(PQexec(c, sql));
	PQfinish(c);
	snprintf(dbci, sizeof(dbci), "%s dbname=else_qs_%d", ci, (int)getpid());
	cr_assert_eq(be_db_open(&db, dbci), 0);
	cr_assert_eq(be_db_migrate(db), 0);
	cr_assert_eq(be_db_partitions(db, time(NULL), 2), 0);
	c = PQconnectdb(dbci);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	/*
	 * 45,000 messages over 6 hours 15 minutes on two hosts, two by two at
	 * the same second; 1 in 350 matches the substring, 1 in 50 the address.
	 */
	PGresult *r = PQexec(
		c, "INSERT INTO hosts (name) VALUES ('qs-a'), ('qs-b');"
		   "INSERT INTO messages (first_seen, last_seen, email_id, host_id, queue_id, "
		   "status, sender) SELECT t, t, i, (SELECT id FROM hosts WHERE name = CASE WHEN "
		   "i % 2 = 0 THEN 'qs-a' ELSE 'qs-b' END), 'Q' || (i % 5) || i, 'sent', "
		   "CASE WHEN i % 700 IN (3, 4) THEN 'Needle' || i || '@x.example' ELSE 'user' || "
		   "(i % 50) || '@y.example' END FROM generate_series(1, 45000) i, "
		   "LATERAL (SELECT date_trunc('second', now()) - (i / 2) * interval '1 second' "
		   "AS t) s;"
		   /* As the ingest keys every message: the days of each e-mail. */
		   "INSERT INTO email_keys (day, email_id, kind, key) SELECT (first_seen AT TIME "
		   "ZONE 'UTC')::date, email_id, 3, lpad(to_hex(email_id), 16, '0') FROM messages;"
		   /* And the senders of each day (sql/018). */
		   "INSERT INTO addresses (day, kind, addr) SELECT DISTINCT (first_seen AT TIME "
		   "ZONE 'UTC')::date, 4, lower(sender) FROM messages");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);

	for (size_t q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
		be_db_scope sc = { .role = qs[q].mailbox ? 3 : 1,
				   .hosts = "{}",
				   .domains = "{}",
				   .addrs = qs[q].mailbox ? qs[q].mailbox : "{}" };
		snprintf(sql, sizeof(sql),
			 "SELECT queue_id FROM messages WHERE %s "
			 "ORDER BY first_seen DESC, host_id DESC, queue_id DESC",
			 qs[q].where);
		r = PQexec(c, sql);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
		int want = PQntuples(r);
		cr_assert_eq(want, qs[q].want, "%s: %d matches", qs[q].where, want);
		for (size_t k = 0; k < sizeof(pages) / sizeof(pages[0]); k++) {
			/* One row a page through 900 rows takes long and shows nothing more. */
			if (pages[k] == 1 && want > 200)
				continue;
			el_arena a;
			char cursor[512] = "";
			int got = 0;
			el_arena_init(&a);
			for (int page = 0; page < 1000; page++) {
				Else__Search s = ELSE__SEARCH__INIT;
				Else__SearchReply out = ELSE__SEARCH_REPLY__INIT;
				s.sender = (char *)qs[q].sender;
				s.address = (char *)qs[q].address;
				s.match = qs[q].match;
				s.limit = pages[k];
				s.cursor = cursor;
				cr_assert_eq(be_db_q_search(db, &a, &sc, &s,
							    (int64_t)time(NULL) * 1000000, &out),
					     0);
				for (size_t i = 0; i < out.n_rows; i++, got++) {
					cr_assert_lt(got, want, "%s, page size %u: more rows",
						     qs[q].where, pages[k]);
					cr_assert_str_eq(out.rows[i]->queue_id,
							 PQgetvalue(r, got, 0),
							 "%s, page size %u, row %d", qs[q].where,
							 pages[k], got);
				}
				if (out.next_cursor[0] == '\0')
					break;
				cr_assert_eq(out.n_rows, pages[k]);
				snprintf(cursor, sizeof(cursor), "%s", out.next_cursor);
			}
			cr_assert_eq(got, want, "%s, page size %u: %d of %d rows", qs[q].where,
				     pages[k], got, want);
			el_arena_fini(&a);
		}
		PQclear(r);
	}
	PQfinish(c);
	be_db_close(db);
}

/*
 * A substring search finds what the ingest wrote: a part of a sender, of a
 * recipient, of either, gives every message whose address contains it (the
 * days' addresses of sql/018, then the rows), as counted by LIKE on the rows.
 */
Test(query, substring_search_finds_the_mail_the_ingest_wrote)
{
	static const char *col[] = { "sender", "recipient", "address" };
#define TQ_RCPT_LIKE                                                                               \
	"EXISTS (SELECT FROM recipients r WHERE r.first_seen = m.first_seen AND r.host_id = "      \
	"m.host_id AND r.queue_id = m.queue_id AND lower(r.rcpt) LIKE '%%%s%%')"
	tq_sess s;
	char part[3][64], where[1024], sql[1400];

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &s), 0);
	PGconn *pc = PQconnectdb(tq_ci);
	cr_assert_eq(PQstatus(pc), CONNECTION_OK);
	/* The middle of an address: neither its start nor its end. */
	static const char *pick[] = {
		"SELECT substr(lower(sender), 3, 5) FROM messages WHERE length(sender) > 8 "
		"ORDER BY first_seen, queue_id LIMIT 1",
		"SELECT substr(lower(rcpt), 2, 6) FROM recipients WHERE length(rcpt) > 8 "
		"ORDER BY first_seen DESC, queue_id LIMIT 1",
		"SELECT substr(lower(rcpt), 4, 4) FROM recipients WHERE length(rcpt) > 8 "
		"ORDER BY first_seen, queue_id LIMIT 1",
	};
	for (size_t k = 0; k < 3; k++) {
		PGresult *x = PQexec(pc, pick[k]);
		cr_assert_eq(PQntuples(x), 1, "%s", pick[k]);
		snprintf(part[k], sizeof(part[k]), "%s", PQgetvalue(x, 0, 0));
		cr_assert(strchr(part[k], '\'') == NULL && strchr(part[k], '%') == NULL &&
			  strchr(part[k], '_') == NULL);
		PQclear(x);
	}
	for (size_t k = 0; k < 3; k++) {
		if (k == 0)
			snprintf(where, sizeof(where), "lower(m.sender) LIKE '%%%s%%'", part[k]);
		else if (k == 1)
			snprintf(where, sizeof(where), TQ_RCPT_LIKE, part[k]);
		else
			snprintf(where, sizeof(where),
				 "(lower(m.sender) LIKE '%%%s%%' OR " TQ_RCPT_LIKE ")", part[k],
				 part[k]);
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM messages m WHERE %s", where);
		PGresult *x = PQexec(pc, sql);
		cr_assert_eq(PQresultStatus(x), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(x));
		int want = atoi(PQgetvalue(x, 0, 0));
		PQclear(x);
		cr_assert_gt(want, 0, "%s", sql);
		/* Upper case in the search: the match ignores case. */
		char up[64];
		for (size_t i = 0; i <= strlen(part[k]); i++)
			up[i] = (char)toupper((unsigned char)part[k][i]);
		Else__Search se = ELSE__SEARCH__INIT;
		se.match = ELSE__MATCH__MATCH_SUBSTRING;
		se.limit = 1000;
		if (k == 0)
			se.sender = up;
		else if (k == 1)
			se.recipient = up;
		else
			se.address = up;
		Else__QueryReply *r = tq_search(&s, &se);
		cr_assert_eq(r->status, 0, "%s", r->error);
		cr_assert_eq((int)r->search->n_rows, want, "%s %s: %zu rows, want %d", col[k], up,
			     r->search->n_rows, want);
		for (size_t i = 0; i < r->search->n_rows; i++) {
			snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM messages m JOIN hosts h ON h.id = m.host_id "
				 "WHERE h.name = '%s' AND m.queue_id = '%s' AND %s",
				 r->search->rows[i]->host, r->search->rows[i]->queue_id, where);
			x = PQexec(pc, sql);
			cr_assert_geq(atoi(PQgetvalue(x, 0, 0)), 1, "%s", sql);
			PQclear(x);
		}
		else__query_reply__free_unpacked(r, NULL);
	}
	PQfinish(pc);
#undef TQ_RCPT_LIKE
}

/* tq_quick_status - a quick search's status (the reply freed) */
static Else__QueryStatus tq_quick_status(const tq_sess *s, const char *q)
{
	Else__QueryReply *r = tq_quick(s, q);
	Else__QueryStatus st = r->status;
	else__query_reply__free_unpacked(r, NULL);
	return st;
}

/* tq_history - the caller's History (limit 100); the reply (caller frees) */
static Else__QueryReply *tq_history(const tq_sess *s)
{
	Else__History h = ELSE__HISTORY__INIT;
	h.limit = 100;
	Else__QueryReply *r = tq_do(s, false, ELSE__QUERY_REQUEST__CALL_HISTORY, &h);
	cr_assert_eq(r->status, 0, "%s", r->error);
	return r;
}

Test(query, search_log_is_written_in_batches_to_history_and_audit)
{
	tq_sess s;
	char q[64];

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &s), 0);
	/* Answered before their records are written; a History call waits for them. */
	for (int i = 0; i < 30; i++) {
		snprintf(q, sizeof(q), "nosuchkey-%d", i);
		cr_assert_eq(tq_quick_status(&s, q), 0);
	}
	Else__QueryReply *r = tq_history(&s);
	/* history_keep is 10: a batch trims what was there before it. */
	cr_assert_geq(r->history->n_entries, 10);
	cr_assert_leq(r->history->n_entries, 40);
	cr_assert(strstr(r->history->entries[0]->query_json, "nosuchkey-29"), "newest first: %s",
		  r->history->entries[0]->query_json);
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM audit_log WHERE action = 'search' AND "
				"user_name = 'op1' AND detail LIKE '%nosuchkey-%'"),
		     30, "every search has its audit record");
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM audit_log a WHERE action = 'search' AND "
				"EXISTS (SELECT 1 FROM audit_log b WHERE b.action = 'search' AND "
				"b.id > a.id AND b.ts < a.ts)"),
		     0, "audit records in the order of the searches");
	/* The next batch (one search) leaves keep entries of before, and itself. */
	cr_assert_eq(tq_quick_status(&s, "nosuchkey-30"), 0);
	r = tq_history(&s);
	cr_assert_eq(r->history->n_entries, 11);
	cr_assert(strstr(r->history->entries[0]->query_json, "nosuchkey-30"));
	cr_assert(strstr(r->history->entries[10]->query_json, "nosuchkey-20"));
	else__query_reply__free_unpacked(r, NULL);
	be_qlog_stats st;
	be_qlog_stats_get(tq_log, &st);
	cr_assert_eq(st.written, 31);
	cr_assert_eq(st.dropped, 0);
}

/* tq_tail_n - a Tail call of s with cursor and limit; its rows, the cursor it returns */
static size_t tq_tail_n(const tq_sess *s, const char *cursor, uint32_t limit, char *next,
			size_t cap)
{
	Else__Tail t = ELSE__TAIL__INIT;
	t.cursor = (char *)cursor;
	t.limit = limit;
	Else__QueryReply *r = tq_do(s, false, ELSE__QUERY_REQUEST__CALL_TAIL, &t);
	cr_assert_eq(r->status, 0, "%s", r->error);
	size_t n = r->tail->n_rows;
	snprintf(next, cap, "%s", r->tail->cursor);
	else__query_reply__free_unpacked(r, NULL);
	return n;
}

static size_t tq_tail(const tq_sess *s, const char *cursor, char *next, size_t cap)
{
	return tq_tail_n(s, cursor, 1000, next, cap);
}

static size_t tq_tail5(const tq_sess *s, const char *cursor, char *next, size_t cap)
{
	return tq_tail_n(s, cursor, 5, next, cap);
}

Test(query, the_live_tail_is_audited_when_it_opens_or_reads_the_past)
{
	tq_sess s;
	char cur[600], next[600], old[32];

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &s), 0);
	/* Opened: audited. */
	size_t n = tq_tail(&s, "", cur, sizeof(cur));
	cr_assert_gt(n, 0);
	/* Live polls: nothing new, then the newest flow again (a cursor just before it). */
	cr_assert_eq(tq_tail(&s, cur, next, sizeof(next)), 0);
	snprintf(old, sizeof(old), "%lld", strtoll(cur, NULL, 10) - 1);
	cr_assert_geq(tq_tail(&s, old, next, sizeof(next)), 1);
	/* A made-up cursor from long ago reads the past: audited. */
	cr_assert_eq(tq_tail(&s, "1", next, sizeof(next)), n);
	Else__QueryReply *r = tq_history(&s); /* waits for the search log */
	cr_assert_eq(r->history->n_entries, 0, "a tail in the history: %s",
		     r->history->n_entries ? r->history->entries[0]->query_json : "");
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM audit_log WHERE action = 'tail' AND "
				"user_name = 'op1'"),
		     2);
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM audit_log WHERE action = 'tail' AND detail LIKE "
		 "'%%\"cursor\":\"1\"%%' AND user_name = 'op1'");
	cr_assert_eq(tq_sql_i64(sql), 1, "the past read's cursor in its record");
}

Test(query, a_tail_cut_inside_one_flows_transaction_skips_nothing)
{
	tq_sess s;
	char cur[600], next[600];
	size_t got = 0, n;

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &s), 0);
	/* The load wrote its messages in a few transactions: many share updated_at. */
	int64_t total = tq_sql_i64("SELECT count(*) FROM messages "
				   "WHERE first_seen > now() - interval '2 days'");
	cr_assert_gt(tq_sql_i64("SELECT max(c) FROM (SELECT count(*) c FROM messages "
				"GROUP BY updated_at) x"),
		     5, "no batch of rows sharing updated_at: the test proves nothing");
	/* Pages of 5 from the beginning (an old cursor of digits only). */
	snprintf(cur, sizeof(cur), "1");
	for (int i = 0; i < 1000 && (n = tq_tail5(&s, cur, next, sizeof(next))) > 0; i++) {
		got += n;
		snprintf(cur, sizeof(cur), "%s", next);
	}
	cr_assert_eq((int64_t)got, total, "%zu of %lld messages", got, (long long)total);
}

Test(query, search_log_outlives_a_refusing_and_a_lost_database)
{
	tq_sess s;
	be_qlog_stats st;

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &s), 0);
	/* The database refuses the records: the searches still answer; the records are counted. */
	tq_sql_i64("REVOKE INSERT ON audit_log FROM else_query");
	for (int i = 0; i < 5; i++)
		cr_assert_eq(tq_quick_status(&s, "refused-key"), 0);
	cr_assert_eq(be_qlog_sync(tq_log, 10000), 0);
	be_qlog_stats_get(tq_log, &st);
	cr_assert_eq(st.dropped, 5, "dropped %llu", (unsigned long long)st.dropped);
	cr_assert_geq(st.failed_batches, 1);
	cr_assert_eq(st.queued, 0);
	tq_sql_i64("GRANT INSERT ON audit_log TO else_query");
	/* Every query connection lost: the writer reconnects and writes what waited. */
	cr_assert_geq(tq_sql_i64("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
				 "WHERE usename = 'else_query' AND datname = current_database()"),
		      3);
	int ok = 0;
	for (int i = 0; i < 12 && ok < 3; i++) {
		Else__QueryStatus stq = tq_quick_status(&s, "after-loss-key");
		/* A worker learns of its lost connection from its next statement. */
		cr_assert(stq == 0 || stq == ELSE__QUERY_STATUS__Q_BUSY, "status %d", stq);
		ok += stq == 0;
	}
	cr_assert_eq(ok, 3);
	cr_assert_eq(be_qlog_sync(tq_log, 10000), 0);
	cr_assert_eq(
		tq_sql_i64("SELECT count(*) FROM audit_log WHERE detail LIKE '%after-loss-key%'"),
		3);
	cr_assert_eq(tq_sql_i64("SELECT count(*) FROM audit_log WHERE detail LIKE '%refused-key%'"),
		     0);
	be_qlog_stats_get(tq_log, &st);
	cr_assert_eq(st.dropped, 5, "nothing more lost");
}

/* A user_put sent on a connection of its own, for two at once. */
typedef struct tq_put_job {
	nng_socket sock;
	const tq_sess *s;
	Else__UserPut *up;
	Else__QueryReply *r;
} tq_put_job;

static void *tq_put_thread(void *arg)
{
	tq_put_job *j = arg;
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Caller c = ELSE__CALLER__INIT;

	c.session = (char *)j->s->session;
	c.csrf = (char *)j->s->csrf;
	rq.caller = &c;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_USER_PUT;
	rq.user_put = j->up;
	j->r = tq_peer_call(j->sock, &rq);
	return NULL;
}

Test(query, an_enabled_admin_always_remains)
{
	tq_sess root, ad2;
	Else__UserInfo u = ELSE__USER_INFO__INIT;
	Else__UserPut up = ELSE__USER_PUT__INIT;
	Else__UserDelete ud = ELSE__USER_DELETE__INIT;
	Else__QueryReply *r;
	const char *enabled = "SELECT count(*) FROM users WHERE role = 1 AND NOT disabled";

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &root), 0);
	int64_t root_id = tq_sql_i64("SELECT id FROM users WHERE name = 'root'");
	/* Alone, root may not demote, disable or delete themself. */
	u.id = root_id;
	u.name = "root";
	up.user = &u;
	for (int k = 0; k < 3; k++) {
		u.role = k == 0 ? ELSE__ROLE__ROLE_OPERATOR : ELSE__ROLE__ROLE_ADMIN;
		u.disabled = k == 1;
		if (k < 2) {
			r = tq_do(&root, true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &up);
		} else {
			ud.id = root_id;
			r = tq_do(&root, true, ELSE__QUERY_REQUEST__CALL_USER_DELETE, &ud);
		}
		cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_CONFLICT, "case %d: %d %s", k,
			     r->status, r->error);
		else__query_reply__free_unpacked(r, NULL);
		cr_assert_eq(tq_sql_i64(enabled), 1, "case %d", k);
	}
	/* A second admin, then each demotes the other at the same moment. */
	Else__UserInfo nu = ELSE__USER_INFO__INIT;
	Else__UserPut np = ELSE__USER_PUT__INIT;
	nu.name = "ad2";
	nu.role = ELSE__ROLE__ROLE_ADMIN;
	np.user = &nu;
	np.password = "password-of-ad2";
	r = tq_do(&root, true, ELSE__QUERY_REQUEST__CALL_USER_PUT, &np);
	cr_assert_eq(r->status, 0, "%s", r->error);
	int64_t ad2_id = r->put->id;
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_login("ad2", "password-of-ad2", &ad2), 0);
	nng_socket first = tq_sock;
	cr_assert_eq(tq_connect(NULL), 0);
	/*
	 * Hold the administration lock (BE_DB_LOCK_ADMIN) so that both requests
	 * are in flight before either runs; without the lock they would not wait.
	 */
	PGconn *hold = PQconnectdb(tq_ci);
	cr_assert_eq(PQstatus(hold), CONNECTION_OK);
	PQclear(PQexec(hold, "SELECT pg_advisory_lock(4542002)"));
	Else__UserInfo ua = u, ub = ELSE__USER_INFO__INIT;
	Else__UserPut pa = ELSE__USER_PUT__INIT, pb = ELSE__USER_PUT__INIT;
	ua.role = ELSE__ROLE__ROLE_OPERATOR; /* ad2 demotes root */
	ua.disabled = false;
	ub.id = ad2_id; /* root demotes ad2 */
	ub.name = "ad2";
	ub.role = ELSE__ROLE__ROLE_OPERATOR;
	pa.user = &ua;
	pb.user = &ub;
	tq_put_job ja = { first, &ad2, &pa, NULL }, jb = { tq_sock, &root, &pb, NULL };
	pthread_t ta, tb;
	cr_assert_eq(pthread_create(&ta, NULL, tq_put_thread, &ja), 0);
	cr_assert_eq(pthread_create(&tb, NULL, tq_put_thread, &jb), 0);
	/* Until both wait for the lock (or, without it, have both finished). */
	for (int i = 0; i < 1000; i++) {
		if (tq_sql_i64("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
			       "AND objid = 4542002 AND NOT granted") == 2)
			break;
		tq_sleep_ms(10);
	}
	PQclear(PQexec(hold, "SELECT pg_advisory_unlock(4542002)"));
	PQfinish(hold);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	cr_assert_not_null(ja.r, "no reply to ad2");
	cr_assert_not_null(jb.r, "no reply to root");
	int ok = (ja.r->status == 0) + (jb.r->status == 0);
	int conflict = (ja.r->status == ELSE__QUERY_STATUS__Q_CONFLICT) +
		       (jb.r->status == ELSE__QUERY_STATUS__Q_CONFLICT);
	cr_assert(ok == 1 && conflict == 1, "ad2: %d %s; root: %d %s", ja.r->status, ja.r->error,
		  jb.r->status, jb.r->error);
	else__query_reply__free_unpacked(ja.r, NULL);
	else__query_reply__free_unpacked(jb.r, NULL);
	cr_assert_eq(tq_sql_i64(enabled), 1);
	el_nng_close_bounded(first, 100, 5000);
}

Test(query, session_changes_through_this_backend_apply_at_once)
{
	tq_sess s, root;

	cr_assert_eq(tq_connect(NULL), 0);
	cr_assert_eq(tq_login("op1", "password-of-test", &s), 0);
	cr_assert_eq(tq_quick_status(&s, "k"), 0); /* its session is now cached */
	/* Ended elsewhere (another backend): a state change reads the session, refused at once. */
	tq_sql_i64("DELETE FROM sessions");
	Else__Logout lo = ELSE__LOGOUT__INIT;
	Else__QueryReply *r = tq_do(&s, true, ELSE__QUERY_REQUEST__CALL_LOGOUT, &lo);
	cr_assert_eq(r->status, ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	else__query_reply__free_unpacked(r, NULL);
	/* And a search, after at most session_cache (1 s here). */
	tq_sleep_ms(1100);
	cr_assert_eq(tq_quick_status(&s, "k"), ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	/* A logout through this backend: at once. */
	cr_assert_eq(tq_login("op1", "password-of-test", &s), 0);
	cr_assert_eq(tq_quick_status(&s, "k"), 0);
	r = tq_do(&s, true, ELSE__QUERY_REQUEST__CALL_LOGOUT, &lo);
	cr_assert_eq(r->status, 0, "%s", r->error);
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_quick_status(&s, "k"), ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
	/* The user deleted by an admin through this backend: at once. */
	cr_assert_eq(tq_login("op1", "password-of-test", &s), 0);
	cr_assert_eq(tq_login("root", "password-of-test", &root), 0);
	cr_assert_eq(tq_quick_status(&s, "k"), 0);
	Else__UserDelete ud = ELSE__USER_DELETE__INIT;
	ud.id = tq_sql_i64("SELECT id FROM users WHERE name = 'op1'");
	r = tq_do(&root, true, ELSE__QUERY_REQUEST__CALL_USER_DELETE, &ud);
	cr_assert_eq(r->status, 0, "%s", r->error);
	else__query_reply__free_unpacked(r, NULL);
	cr_assert_eq(tq_quick_status(&s, "k"), ELSE__QUERY_STATUS__Q_UNAUTHENTICATED);
}

Test(qsess, an_entry_lives_its_ttl_and_never_past_its_session)
{
	be_qsess *c;
	be_db_session s = { .user_id = 7, .role = 2, .expires_us = 15000000 }, o;
	uint8_t h[32] = { 1 }, h2[32] = { 2 };
	char hosts[] = "{1,2}";
	el_arena a;

	el_arena_init(&a);
	snprintf(s.name, sizeof(s.name), "op1");
	snprintf(s.csrf, sizeof(s.csrf), "%064d", 5);
	s.scope = (be_db_scope){ .role = 2, .hosts = hosts, .domains = "{a.test}", .addrs = NULL };
	cr_assert_eq(be_qsess_new(&c, 1000000), 0);
	be_qsess_put(c, h, 10000000, &s, be_qsess_gen(c));
	hosts[1] = '9'; /* the cache holds its own copy */
	cr_assert(be_qsess_get(c, h, 10999999, &a, &o));
	cr_assert_eq(o.user_id, 7);
	cr_assert_eq(o.role, 2);
	cr_assert_str_eq(o.name, "op1");
	cr_assert_str_eq(o.csrf, s.csrf);
	cr_assert_str_eq(o.scope.hosts, "{1,2}");
	cr_assert_str_eq(o.scope.domains, "{a.test}");
	cr_assert_null(o.scope.addrs);
	cr_assert_not(be_qsess_get(c, h2, 10000001, &a, &o), "another token");
	cr_assert_not(be_qsess_get(c, h, 11000000, &a, &o), "past the ttl");
	cr_assert_not(be_qsess_get(c, h, 10000001, &a, &o), "and gone");
	/* A session expiring before the ttl ends bounds the entry. */
	s.expires_us = 10200000;
	be_qsess_put(c, h, 10000000, &s, be_qsess_gen(c));
	cr_assert(be_qsess_get(c, h, 10100000, &a, &o));
	cr_assert_not(be_qsess_get(c, h, 10200000, &a, &o));
	be_qsess_put(c, h, 10000000, &s, be_qsess_gen(c));
	be_qsess_clear(c);
	cr_assert_not(be_qsess_get(c, h, 10000001, &a, &o), "cleared");
	/* Read before a clear, put after it: not kept (it may predate the change). */
	uint64_t gen = be_qsess_gen(c);
	be_qsess_clear(c);
	be_qsess_put(c, h, 10000000, &s, gen);
	cr_assert_not(be_qsess_get(c, h, 10000001, &a, &o), "a read older than the clear");
	be_qsess_put(c, h, 10000000, &s, be_qsess_gen(c));
	cr_assert(be_qsess_get(c, h, 10000001, &a, &o));
	/* Full: it starts over, and the newest entry is there. */
	for (uint32_t i = 0; i <= BE_QSESS_MAX; i++) {
		uint8_t k[32] = { 0 };
		memcpy(k, &i, sizeof(i));
		be_qsess_put(c, k, 10000000, &s, be_qsess_gen(c));
	}
	uint8_t last[32] = { 0 };
	uint32_t n = BE_QSESS_MAX;
	memcpy(last, &n, sizeof(n));
	cr_assert(be_qsess_get(c, last, 10000001, &a, &o));
	be_qsess_free(c);
	/* ttl 0: off. */
	cr_assert_eq(be_qsess_new(&c, 0), 0);
	be_qsess_put(c, h, 10000000, &s, be_qsess_gen(c));
	cr_assert_not(be_qsess_get(c, h, 10000001, &a, &o));
	be_qsess_free(c);
	el_arena_fini(&a);
}

/* The frontend's client (fe_rpc) against this query service. */
typedef struct tq_started {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool called;
	int rv;
	size_t len;
	Else__QueryReply *rep;
	fe_rpc_raw *raw;
} tq_started;

static void tq_started_done(void *arg, int rv, Else__QueryReply *rep, fe_rpc_raw *raw, size_t len)
{
	tq_started *t = arg;

	pthread_mutex_lock(&t->mu);
	t->called = true;
	t->rv = rv;
	t->rep = rep;
	t->raw = raw;
	t->len = len;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/*
 * tq_start_raw - fe_rpc_start rq; its outcome once done was called, 1 if not
 * started.  *raw: a reply left packed.
 */
static int tq_start_raw(fe_rpc *rpc, Else__QueryRequest *rq, Else__QueryReply **rep,
			fe_rpc_raw **raw, size_t *len)
{
	tq_started t = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	int rv = fe_rpc_start(rpc, rq, 1, 5000, tq_started_done, &t);

	*rep = NULL;
	if (rv != 0) {
		cr_assert_eq(rv, -EAGAIN);
		return 1;
	}
	pthread_mutex_lock(&t.mu);
	while (!t.called)
		pthread_cond_wait(&t.cv, &t.mu);
	pthread_mutex_unlock(&t.mu);
	*rep = t.rep;
	*raw = t.raw;
	*len = t.len;
	return t.rv;
}

/* tq_woken - fe_api_send's wake: tq_started's called */
static void tq_woken(void *arg)
{
	tq_started *t = arg;

	pthread_mutex_lock(&t->mu);
	t->called = true;
	pthread_cond_signal(&t->cv);
	pthread_mutex_unlock(&t->mu);
}

/* tq_start - tq_start_raw of a reply that must come unpacked */
static int tq_start(fe_rpc *rpc, Else__QueryRequest *rq, Else__QueryReply **rep, size_t *len)
{
	fe_rpc_raw *raw = NULL;
	int rv = tq_start_raw(rpc, rq, rep, &raw, len);

	cr_assert_null(raw, "a small reply came packed");
	return rv;
}

/* tq_rpc_connected - wait up to 10 s for fe_rpc's connection */
static void tq_rpc_connected(fe_rpc *rpc)
{
	fe_rpc_stats st;

	for (int i = 0; i < 1000; i++) {
		fe_rpc_stats_get(rpc, &st);
		if (st.connected)
			return;
		usleep(10000);
	}
	cr_assert_fail("fe_rpc did not connect");
}

/* tq_rpc_open - fe_rpc with rc to this query service (url: its buffer), connected */
static fe_rpc *tq_rpc_open(fe_rpc_conf *rc, char url[64], int port)
{
	fe_rpc *rpc;

	snprintf(url, 64, "tls+tcp://127.0.0.1:%d", port);
	rc->urls[0] = url;
	rc->ca_file = tq_path("ca1/ca.crt");
	rc->cert_key_file = tq_path("ca1/client-frontend1.pem");
	cr_assert_eq(fe_rpc_open(&rpc, rc), 0);
	tq_rpc_connected(rpc);
	return rpc;
}

/* tq_login_req - rq becomes root's Login (l its body) */
static void tq_login_req(Else__QueryRequest *rq, Else__Login *l)
{
	l->user = "root";
	l->password = "password-of-test";
	l->client_ip = "192.0.2.7";
	rq->call_case = ELSE__QUERY_REQUEST__CALL_LOGIN;
	rq->login = l;
}

/* tq_rpc_login - send the Login rq through fe_rpc_call; sess gets the session */
static void tq_rpc_login(fe_rpc *rpc, Else__QueryRequest *rq, char sess[65])
{
	Else__QueryReply *rep;

	cr_assert_eq(fe_rpc_call(rpc, rq, 1, 5000, &rep), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK);
	snprintf(sess, 65, "%s", rep->login->session);
	else__query_reply__free_unpacked(rep, NULL);
}

Test(query, the_frontend_client_sends_without_blocking_only_on_a_proven_connection)
{
	char url[64], sess[65];
	fe_rpc *rpc;
	fe_rpc_conf rc = { .nurls = 1, .inflight = 2, .server_name = "localhost" };
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__Login l = ELSE__LOGIN__INIT;
	Else__QuickSearch qs = ELSE__QUICK_SEARCH__INIT;
	Else__Caller c = ELSE__CALLER__INIT;
	Else__QueryReply *rep;
	size_t len = 0;
	int port = be_qnet_port(tq_net);

	rpc = tq_rpc_open(&rc, url, port);
	/* Connected but not proven (no Hello/Auth yet): not sent, fe_rpc_call's job. */
	tq_login_req(&rq, &l);
	cr_assert_eq(tq_start(rpc, &rq, &rep, &len), 1);
	tq_rpc_login(rpc, &rq, sess);

	/* Proven: the call goes without blocking and its reply comes to done. */
	qs.q = "nothing-like-this@nowhere.test";
	c.session = sess;
	rq.call_case = ELSE__QUERY_REQUEST__CALL_QUICK;
	rq.quick = &qs;
	rq.caller = &c;
	cr_assert_eq(tq_start(rpc, &rq, &rep, &len), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK, "%s", rep->error);
	cr_assert_eq(len, else__query_reply__get_packed_size(rep));
	else__query_reply__free_unpacked(rep, NULL);

	/* The query service restarts: a new connection, unproven again. */
	be_qnet_stop(tq_net);
	tq_net = NULL;
	tq_qnet_start(url);
	fe_rpc_stats st;
	for (int i = 0; i < 1000; i++) {
		int rv = tq_start(rpc, &rq, &rep, &len);
		if (rv == 1)
			break;
		/* Sent before the old connection's loss reached fe_rpc: back to
		 * fe_rpc_call; nothing else is acceptable. */
		cr_assert_eq(rv, -EAGAIN);
		if (rep)
			else__query_reply__free_unpacked(rep, NULL);
		usleep(10000);
	}
	cr_assert_eq(tq_start(rpc, &rq, &rep, &len), 1);
	cr_assert_eq(fe_rpc_call(rpc, &rq, 1, 10000, &rep), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK, "%s", rep->error);
	else__query_reply__free_unpacked(rep, NULL);
	fe_rpc_stats_get(rpc, &st);
	cr_assert_eq(st.handshakes, 2);
	cr_assert_eq(st.reauth, 0); /* nothing was sent unproven */
	cr_assert_eq(tq_start(rpc, &rq, &rep, &len), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK, "%s", rep->error);
	else__query_reply__free_unpacked(rep, NULL);
	fe_rpc_close(rpc);
}

/* tq_rpc_session - tq_rpc_open, then root's login through it: rq carries c, with the session */
static fe_rpc *tq_rpc_session(fe_rpc_conf *rc, char url[64], Else__QueryRequest *rq,
			      Else__Caller *c, char sess[65])
{
	Else__Login l = ELSE__LOGIN__INIT;
	fe_rpc *rpc = tq_rpc_open(rc, url, be_qnet_port(tq_net));

	tq_login_req(rq, &l);
	tq_rpc_login(rpc, rq, sess);
	rq->call_case = ELSE__QUERY_REQUEST__CALL__NOT_SET;
	rq->login = NULL;
	c->session = sess;
	rq->caller = c;
	return rpc;
}

/* tq_search_all - rq becomes a search of every message there is (se its body) */
static void tq_search_all(Else__QueryRequest *rq, Else__Search *se)
{
	se->from_us = 1;
	se->to_us = 4102444800LL * 1000000;
	se->limit = 1000;
	rq->call_case = ELSE__QUERY_REQUEST__CALL_SEARCH;
	rq->search = se;
}

Test(query, a_big_reply_to_the_frontend_client_comes_packed)
{
	char url[64], sess[65];
	fe_rpc *rpc;
	/* 1 byte is raised to FE_RPC_UNPACK_MIN: a short reply still comes unpacked. */
	fe_rpc_conf rc = { .nurls = 1, .inflight = 2, .server_name = "localhost", .unpack_max = 1 };
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__QuickSearch qs = ELSE__QUICK_SEARCH__INIT;
	Else__Search se = ELSE__SEARCH__INIT;
	Else__Caller c = ELSE__CALLER__INIT;
	Else__QueryReply *rep;
	fe_rpc_raw *raw = NULL;
	size_t len = 0;

	rpc = tq_rpc_session(&rc, url, &rq, &c, sess);

	/* A short reply: unpacked on NNG's thread as before. */
	qs.q = "nothing-like-this@nowhere.test";
	rq.call_case = ELSE__QUERY_REQUEST__CALL_QUICK;
	rq.quick = &qs;
	cr_assert_eq(tq_start(rpc, &rq, &rep, &len), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK, "%s", rep->error);
	cr_assert_leq(len, FE_RPC_UNPACK_MIN);
	else__query_reply__free_unpacked(rep, NULL);

	/* Every message there is: over the bound, done gets the frame to unpack. */
	tq_search_all(&rq, &se);
	cr_assert_eq(tq_start_raw(rpc, &rq, &rep, &raw, &len), 0);
	cr_assert_null(rep);
	cr_assert_not_null(raw);
	cr_assert_gt(len, FE_RPC_UNPACK_MIN);
	cr_assert_eq(fe_rpc_raw_unpack(rpc, raw, &rep), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK, "%s", rep->error);
	cr_assert_gt(rep->search->n_rows, 10);
	cr_assert_eq(len, else__query_reply__get_packed_size(rep));
	else__query_reply__free_unpacked(rep, NULL);
	/* A frame left unread is freed. */
	cr_assert_eq(tq_start_raw(rpc, &rq, &rep, &raw, &len), 0);
	cr_assert_not_null(raw);
	fe_rpc_raw_free(raw);

	/* The JSON API: a packed answer is not ready until fe_api_wait unpacks it. */
	fe_api *api;
	fe_api_conf ac = { .timeout_ms = 5000 };
	char cookie[128];
	static const char body[] = "{\"from_us\":1,\"to_us\":4102444800000000,\"limit\":1000}";
	fe_api_req aq = { .call = "search",
			  .body = body,
			  .body_len = sizeof(body) - 1,
			  .cookie = cookie,
			  .client_ip = "192.0.2.7" };
	fe_api_resp rs = { 0 };
	tq_started w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

	snprintf(cookie, sizeof(cookie), "else_session=%s", sess);
	el_buf_init(&rs.body);
	cr_assert_eq(fe_api_new(&api, rpc, &ac), 0);
	fe_api_call *call = fe_api_begin(api, &aq, &rs);
	cr_assert_not_null(call);
	cr_assert(fe_api_send(call, tq_woken, &w));
	pthread_mutex_lock(&w.mu);
	while (!w.called)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	cr_assert_not(fe_api_ready(call));
	cr_assert_gt(fe_api_reply_len(call), FE_RPC_UNPACK_MIN);
	fe_api_wait(call);
	cr_assert(fe_api_ready(call));
	fe_api_end(call, &aq, &rs);
	cr_assert_eq(rs.http_status, 200, "%.*s", (int)rs.body.len, rs.body.p);
	cr_assert(memmem(rs.body.p, rs.body.len, "\"rows\":[{", 9) != NULL, "%.*s",
		  (int)rs.body.len, rs.body.p);
	el_buf_fini(&rs.body);
	fe_api_free(api);
	fe_rpc_close(rpc);
}

Test(query, a_result_over_what_the_frontend_accepts_is_q_internal_on_the_same_connection)
{
	char url[64], sess[65];
	fe_rpc *rpc;
	/* The frontend says in Hello that it takes replies of 4 KiB at most. */
	fe_rpc_conf rc = {
		.nurls = 1, .inflight = 2, .server_name = "localhost", .max_frame = 4096
	};
	Else__QueryRequest rq = ELSE__QUERY_REQUEST__INIT;
	Else__QuickSearch qs = ELSE__QUICK_SEARCH__INIT;
	Else__Search se = ELSE__SEARCH__INIT;
	Else__Caller c = ELSE__CALLER__INIT;
	Else__QueryReply *rep;
	be_qnet_stats qst;
	fe_rpc_stats st;

	rpc = tq_rpc_session(&rc, url, &rq, &c, sess);
	/* Every message there is: more than 4 KiB (a_big_reply_... above). */
	tq_search_all(&rq, &se);
	cr_assert_eq(fe_rpc_call(rpc, &rq, 1, 5000, &rep), 0, "no answer: NNG dropped it");
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_INTERNAL, "%d %s", rep->status, rep->error);
	cr_assert(strstr(rep->error, "the result is too large") &&
			  strstr(rep->error, "this frontend accepts 4096 (max_frame)"),
		  "%s", rep->error);
	else__query_reply__free_unpacked(rep, NULL);
	be_qnet_stats_get(tq_net, &qst);
	cr_assert_eq(qst.err_too_large, 1);
	cr_assert_eq(qst.status[ELSE__QUERY_STATUS__Q_INTERNAL], 1);

	/* The connection goes on: a small answer comes on it. */
	qs.q = "nothing-like-this@nowhere.test";
	rq.call_case = ELSE__QUERY_REQUEST__CALL_QUICK;
	rq.quick = &qs;
	cr_assert_eq(fe_rpc_call(rpc, &rq, 1, 5000, &rep), 0);
	cr_assert_eq(rep->status, ELSE__QUERY_STATUS__Q_OK, "%s", rep->error);
	else__query_reply__free_unpacked(rep, NULL);
	fe_rpc_stats_get(rpc, &st);
	cr_assert_eq(st.handshakes, 1);
	cr_assert_eq(st.dropped, 0);
	cr_assert_eq(st.timeouts, 0);
	fe_rpc_close(rpc);
}
