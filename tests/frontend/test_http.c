/*
 * test_http - else-frontend's HTTP layer (fe_http + fe_api) in process,
 * spoken to over raw sockets: security headers, gzip, the API's refusals
 * (content type, origin, body size, unknown call, CSRF, malformed JSON),
 * the per-address connection limit, and a backend that never answers.
 *
 * Suite http: the backend URL points at a port nobody listens on: every
 * call that passes the frontend's own checks ends in 504 after rpc timeout,
 * which proves the checks answered first.  Suite rogue: a backend of this
 * test (NNG REP over mutual TLS, a server certificate of the CA) proves
 * nothing and answers every call with what the test chose: garbage, an
 * unknown status, the wrong result, a reply whose JSON or unpacked form is
 * many times its frame, one over max_frame.  Run through tests/net/run.sh
 * for the certificates.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "el_map.h"
#include "el_nng.h"
#include "fe_api.h"
#include "fe_assets.h"
#include "fe_gzip.h"
#include "fe_http.h"
#include "fe_rpc.h"
#include "relay.h"

static fe_rpc *rpc;
static fe_api *api;
static fe_http *http;
static unsigned port;
static char resp[1 << 20];

/* path - $ELSE_TEST_CERTS/rel */
static const char *path(const char *rel)
{
	static char buf[4][512];
	static int k;
	const char *d = getenv("ELSE_TEST_CERTS");

	cr_assert(d != NULL, "run through tests/net/run.sh");
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", d, rel);
	return buf[k];
}

static void setup(void)
{
	fe_rpc_conf rc = { .nurls = 1, .inflight = 2 };
	fe_http_conf hc = {
		.listen = "127.0.0.1:0", .per_ip = 4, .max_body = 4096, .timeout_s = 5, .workers = 2
	};
	fe_api_conf ac = { .timeout_ms = 300 };

	rc.urls[0] = "tcp://127.0.0.1:1"; /* nobody listens there */
	rc.ca_file = path("ca1/ca.crt");
	rc.cert_key_file = path("ca1/client-mx1.example.org.pem");
	cr_assert_eq(fe_rpc_open(&rpc, &rc), 0);
	cr_assert_eq(fe_api_new(&api, rpc, &ac), 0);
	cr_assert_eq(fe_http_start(&http, &hc, api), 0);
	port = fe_http_port(http);
	cr_assert_gt(port, 0);
}

static void teardown(void)
{
	fe_http_stop(http);
	fe_api_free(api);
	fe_rpc_close(rpc);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 60);

/* conn - a connected socket */
static int conn(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* ask - send req (n bytes) on a new connection, read the whole answer into resp */
static const char *ask(const char *req, size_t n)
{
	int fd = conn();
	size_t got = 0, off = 0;
	ssize_t k;

	while (off < n) {
		k = send(fd, req + off, n - off, MSG_NOSIGNAL);
		if (k <= 0)
			break; /* the server may answer and close before reading it all */
		off += (size_t)k;
	}
	shutdown(fd, SHUT_WR);
	while ((k = recv(fd, resp + got, sizeof(resp) - 1 - got, 0)) > 0)
		got += (size_t)k;
	resp[got] = '\0';
	close(fd);
	return resp;
}

/* post - POST /api/call with extra headers and body */
static const char *post(const char *call, const char *hdrs, const char *body)
{
	static char req[16384];
	int n = snprintf(req, sizeof(req),
			 "POST /api/%s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n%s"
			 "Content-Length: %zu\r\n\r\n%s",
			 call, port, hdrs, strlen(body), body);
	return ask(req, (size_t)n);
}

#define JSON "Content-Type: application/json\r\n"

/* status - the HTTP status of the answer */
static int status(const char *r)
{
	int s = 0;
	sscanf(r, "HTTP/1.1 %d", &s);
	return s;
}

Test(http, index_has_security_headers)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	const char *r = ask(req, (size_t)n);

	cr_assert_eq(status(r), 200, "%s", r);
	cr_assert(strstr(r, "Content-Security-Policy: default-src 'self'"));
	cr_assert(strstr(r, "X-Content-Type-Options: nosniff"));
	cr_assert(strstr(r, "X-Frame-Options: DENY"));
	cr_assert(strstr(r, "Referrer-Policy: no-referrer"));
	cr_assert(strstr(r, "Strict-Transport-Security") == NULL, "HSTS on plain HTTP");
	cr_assert(strstr(r, "<!doctype html>"));
}

Test(http, assets_are_gzipped_when_accepted_and_404_otherwise)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /lib/uPlot.iife.min.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br, "
			 "gzip\r\nConnection: close\r\n\r\n");
	const char *r = ask(req, (size_t)n);

	cr_assert_eq(status(r), 200);
	cr_assert(strstr(r, "Content-Encoding: gzip"), "%.400s", r);
	cr_assert(strstr(r, "\r\n\r\n\x1f\x8b"), "gzip magic after the headers");
	n = snprintf(req, sizeof(req),
		     "GET /etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	cr_assert_eq(status(ask(req, (size_t)n)), 404);
	n = snprintf(req, sizeof(req), "DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	r = ask(req, (size_t)n);
	cr_assert_eq(status(r), 405);
	cr_assert(strstr(r, "\r\nAllow: GET, HEAD\r\n"), "a 405 says what is allowed: %.400s", r);
}

/* etag_of - the ETag header's value in r, into out (empty if none) */
static void etag_of(const char *r, char *out, size_t cap)
{
	const char *e = strstr(r, "\r\nETag: ");
	size_t n = 0;

	if (e)
		for (e += 8; e[n] && e[n] != '\r' && n + 1 < cap; n++)
			out[n] = e[n];
	out[n] = '\0';
}

/*
 * get_index - GET /index.html with the If-None-Match inm (NULL: none); with
 * twice, a plain GET of it follows on the same connection
 */
static const char *get_index(const char *inm, bool twice)
{
	char req[1024];
	int n = snprintf(req, sizeof(req), "GET /index.html HTTP/1.1\r\nHost: x\r\n%s%s%s%s\r\n%s",
			 inm ? "If-None-Match: " : "", inm ? inm : "", inm ? "\r\n" : "",
			 twice ? "" : "Connection: close\r\n",
			 twice ? "GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
			       : "");

	return ask(req, (size_t)n);
}

Test(http, assets_are_revalidated_by_etag)
{
	char etag[64], again[64], want[64], cl[48];
	const fe_asset *a = NULL;
	const char *r = get_index(NULL, false);

	cr_assert_eq(status(r), 200, "%s", r);
	etag_of(r, etag, sizeof(etag));
	/* The same in every frontend (and every start): the bytes' hash, unseeded. */
	for (size_t i = 0; i < fe_nassets; i++)
		if (strcmp(fe_assets[i].path, "/index.html") == 0)
			a = &fe_assets[i];
	cr_assert_not_null(a);
	snprintf(want, sizeof(want), "W/\"%016llx\"",
		 (unsigned long long)el_hash_bytes(a->data, a->len, 0));
	cr_assert_str_eq(etag, want, "%.400s", r);
	etag_of(get_index(NULL, false), again, sizeof(again));
	cr_assert_str_eq(again, etag);

	r = get_index(etag, false);
	cr_assert_eq(status(r), 304, "%.400s", r);
	cr_assert(strstr(r, "<!doctype html>") == NULL, "a 304 has no body");
	/* ... and the caching fields a 200 would have (RFC 9110 15.4.5), and if
	 * a Content-Length, the 200's (8.6). */
	cr_assert(strstr(r, "\r\nCache-Control: no-cache\r\n"), "%.800s", r);
	cr_assert(strstr(r, "\r\nVary: Accept-Encoding\r\n"), "%.800s", r);
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", a->len);
	cr_assert(strstr(r, "\r\nContent-Length: ") == NULL || strstr(r, cl), "%.800s", r);
	cr_assert(strstr(r, "\r\nContent-Type: ") == NULL, "%.800s", r);
	/* On a kept-alive connection the next answer starts right after its headers. */
	r = get_index(etag, true);
	cr_assert_eq(status(r), 304, "%.400s", r);
	cr_assert_not_null(strstr(r, "\r\n\r\n"));
	cr_assert_eq(strncmp(strstr(r, "\r\n\r\n") + 4, "HTTP/1.1 200 OK\r\n", 17), 0, "%.1200s",
		     r);
	r = get_index("\"0\"", false);
	cr_assert_eq(status(r), 200, "another ETag: the page again");
	cr_assert(strstr(r, "<!doctype html>"));
}

Test(http, api_needs_post_and_json)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	const char *r = ask(req, (size_t)n);

	cr_assert_eq(status(r), 405);
	cr_assert(strstr(r, "\r\nAllow: POST\r\n"), "%.400s", r);
	cr_assert_eq(status(post("search", "", "{}")), 415);
	cr_assert_eq(status(post("search", "Content-Type: text/plain\r\n", "{}")), 415);
	cr_assert_eq(status(post("search", "Content-Type: application/x-www-form-urlencoded\r\n",
				 "sender=x")),
		     415);
}

Test(http, cross_origin_is_refused)
{
	const char *r = post("search", JSON "Origin: http://evil.example\r\n", "{}");

	cr_assert_eq(status(r), 403, "%s", r);
	cr_assert(strstr(r, "cross-origin"));
	cr_assert_eq(status(post("search", JSON "Referer: http://evil.example/x\r\n", "{}")), 403);
	cr_assert_eq(status(post("search", JSON "Sec-Fetch-Site: cross-site\r\n", "{}")), 403);
	cr_assert_eq(status(post("search", JSON "Origin: null\r\n", "{}")), 403);
}

Test(http, same_origin_passes_to_the_backend)
{
	char hdr[256];

	snprintf(hdr, sizeof(hdr), JSON "Origin: http://127.0.0.1:%u\r\n", port);
	/* Past every frontend check: the dead backend makes it 504. */
	cr_assert_eq(status(post("search", hdr, "{\"sender\":\"a@b\"}")), 504);
	cr_assert_eq(status(post("search", JSON, "")), 504, "empty body is {}");
}

Test(http, oversized_bodies_are_413)
{
	static char big[8192], req[10000];
	int n;

	memset(big, 'a', sizeof(big) - 1);
	cr_assert_eq(status(post("search", JSON, big)), 413);
	/* Chunked: no Content-Length to refuse up front. */
	n = snprintf(req, sizeof(req),
		     "POST /api/search HTTP/1.1\r\nHost: x\r\n" JSON
		     "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
		     (unsigned)strlen(big), big);
	cr_assert_eq(status(ask(req, (size_t)n)), 413);
	cr_assert_eq(status(post("search", JSON "Content-Length: 99999999999999999999\r\n", "")),
		     413, "an unparsable length is refused before any body is read");
}

Test(http, unknown_calls_and_handshake_calls_are_404)
{
	const char *r = post("nosuch", JSON, "{}");

	cr_assert_eq(status(r), 404);
	cr_assert(strstr(r, "unknown call \\\"nosuch\\\""), "%s", r);
	cr_assert_eq(status(post("hello", JSON, "{}")), 404);
	cr_assert_eq(status(post("auth", JSON, "{}")), 404);
	cr_assert_eq(status(post("Search", JSON, "{}")), 404);
	cr_assert_eq(status(post("search%27%3B--", JSON, "{}")), 404);
}

Test(http, state_changing_calls_need_the_csrf_header)
{
	const char *calls[] = { "logout",      "password_change", "user_put",
				"user_delete", "group_put",       "group_delete" };
	size_t i;

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const char *r = post(calls[i], JSON, "{}");
		cr_expect_eq(status(r), 403, "%s", calls[i]);
		cr_expect(strstr(r, "X-CSRF-Token"), "%s", r);
	}
	/* With the header, the backend decides (here: nobody answers). */
	cr_assert_eq(status(post("logout", JSON "X-CSRF-Token: abc\r\n", "{}")), 504);
}

Test(http, malformed_bodies_name_the_field)
{
	const char *r = post("search", JSON, "{\"limit\":\"x\"}");

	cr_assert_eq(status(r), 400);
	cr_assert(strstr(r, "limit: expected an unsigned 32-bit integer"), "%s", r);
	cr_assert_eq(status(post("search", JSON, "{\"sender\":\"x\"")), 400);
	cr_assert_eq(status(post("search", JSON, "[]")), 400);
	r = post("search", JSON,
		 "{\"sender\":\"' OR 1=1; DROP TABLE messages; --\",\"caller\":{}}");
	cr_assert_eq(status(r), 400, "the body cannot set Caller");
	cr_assert(strstr(r, "unknown field \\\"caller\\\""), "%s", r);
}

Test(http, per_address_connection_limit)
{
	int fds[6], i, refused = 0;
	char buf[64];

	for (i = 0; i < 6; i++)
		fds[i] = conn();
	/* MHD accepts and closes the connections past per_ip (4). */
	for (i = 0; i < 6; i++) {
		struct pollfd p = { fds[i], POLLIN, 0 };
		if (poll(&p, 1, 500) == 1 && recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT) == 0)
			refused++;
	}
	for (i = 0; i < 6; i++)
		close(fds[i]);
	cr_assert_eq(refused, 2);
}

Test(http_parts, session_cookie_only_as_64_hex_digits)
{
	char tok[65];
	char good[100], two[200];

	snprintf(good, sizeof(good), "else_session=%064d", 7);
	cr_assert(fe_api_session(good, tok));
	cr_assert_eq(strlen(tok), 64);
	snprintf(two, sizeof(two), "theme=dark; else_session=%s; lang=en", good + 13);
	cr_assert(fe_api_session(two, tok));
	cr_assert_str_eq(tok, good + 13);
	cr_assert_not(fe_api_session(NULL, tok));
	cr_assert_not(fe_api_session("", tok));
	cr_assert_not(fe_api_session("else_session=abc", tok));
	cr_assert_not(fe_api_session("else_session=' OR 1=1 --", tok));
	snprintf(two, sizeof(two), "else_session=%064dX", 7);
	cr_assert_not(fe_api_session(two, tok), "65 characters");
	snprintf(two, sizeof(two), "else_session=%063dg", 7);
	cr_assert_not(fe_api_session(two, tok), "a non-hex digit");
	snprintf(two, sizeof(two), "xelse_session=%064d", 7);
	cr_assert_not(fe_api_session(two, tok), "another cookie's name");
}

Test(http_parts, if_none_match_is_a_weak_list)
{
	const char *e = "W/\"00c0ffee00c0ffee\"";

	cr_assert(fe_http_etag_match("W/\"00c0ffee00c0ffee\"", e));
	cr_assert(fe_http_etag_match("\"00c0ffee00c0ffee\"", e), "weak comparison");
	cr_assert(fe_http_etag_match("\"a\", W/\"00c0ffee00c0ffee\"", e));
	cr_assert(fe_http_etag_match(" \"a\" ,\t\"00c0ffee00c0ffee\"", e));
	cr_assert(fe_http_etag_match("*", e));
	cr_assert(fe_http_etag_match("\"00c0ffee00c0ffee\"", "\"00c0ffee00c0ffee\""));
	cr_assert_not(fe_http_etag_match(NULL, e));
	cr_assert_not(fe_http_etag_match("", e));
	cr_assert_not(fe_http_etag_match("\"a\", \"b\"", e));
	cr_assert_not(fe_http_etag_match("\"00c0ffee00c0ffe\"", e), "a prefix");
	cr_assert_not(fe_http_etag_match("00c0ffee00c0ffee", e), "unquoted");
	cr_assert_not(fe_http_etag_match("\"00c0ffee00c0ffee", e), "unterminated");
	cr_assert_not(fe_http_etag_match("junk, \"00c0ffee00c0ffee\"", e),
		      "nothing after a malformed tag");
	char *big = malloc(9100);
	cr_assert_not_null(big);
	memset(big, ' ', 8990);
	memcpy(big + 8990, "\"00c0ffee00c0ffee\"", 18);
	big[8990 + 18] = '\0';
	cr_assert_not(fe_http_etag_match(big, e), "over 8 KiB");
	free(big);
}

Test(http_parts, gzip_accepted_unless_refused)
{
	cr_assert(fe_gzip_accepted("gzip"));
	cr_assert(fe_gzip_accepted("br, gzip, deflate"));
	cr_assert(fe_gzip_accepted("gzip;q=0.5"));
	cr_assert_not(fe_gzip_accepted(NULL));
	cr_assert_not(fe_gzip_accepted("br, deflate"));
	cr_assert_not(fe_gzip_accepted("gzip;q=0"));
	cr_assert_not(fe_gzip_accepted("gzip;q=0.000, br"));
}

Test(http_parts, gzip_round_trip_with_zlib_framing)
{
	static char text[20000];
	el_buf b;

	memset(text, 'x', sizeof(text));
	el_buf_init(&b);
	cr_assert_eq(fe_gzip(&b, text, sizeof(text), 6), 0);
	cr_assert_lt(b.len, 200);
	cr_assert_eq((unsigned char)b.p[0], 0x1f);
	cr_assert_eq((unsigned char)b.p[1], 0x8b);
	el_buf_fini(&b);
}

Test(http_parts, write_calls_are_exactly_the_state_changing_ones)
{
	cr_assert(fe_api_is_write("logout"));
	cr_assert(fe_api_is_write("user_put"));
	cr_assert(fe_api_is_write("group_delete"));
	cr_assert(fe_api_is_write("password_change"));
	cr_assert_not(fe_api_is_write("search"));
	cr_assert_not(fe_api_is_write("login"));
	cr_assert_not(fe_api_is_write("session_check"));
	cr_assert_not(fe_api_is_write("user_list"));
}

/* --- a rogue backend ------------------------------------------------------------- */

/* What the rogue backend answers to every call but Hello and Auth. */
enum rg_mode {
	RG_OK,         /* a search reply of one row */
	RG_GARBAGE,    /* bytes that are no QueryReply */
	RG_STATUS,     /* QueryStatus 42 */
	RG_OTHER,      /* Q_OK with a flow for a search */
	RG_NONE,       /* Q_OK without a result */
	RG_ROWS,       /* 10000 rows: 1 MB of frame, 3 MB of JSON */
	RG_ESCAPES,    /* one row whose sender is 200000 control characters */
	RG_ERROR,      /* Q_BAD_REQUEST with an error text of 500000 bytes */
	RG_OVER_FRAME, /* a reply over the frontend's max_frame */
	RG_EMPTY_ROWS, /* 20000 empty rows: 40 KB of frame, 3 MB unpacked */
	RG_NESTED,     /* a flow of 200 hops of 100 empty recipients: the same, nested */
};

#define RG_MAX_FRAME (2u << 20)
#define RG_MAX_JSON (1u << 20)

static nng_socket rg_sock;
static pthread_t rg_thread;
static atomic_int rg_mode;

/* rg_send - pack r and send it as the reply */
static void rg_send(const Else__QueryReply *r)
{
	size_t n = else__query_reply__get_packed_size(r);
	nng_msg *m;

	cr_assert_eq(nng_msg_alloc(&m, n), 0);
	else__query_reply__pack(r, nng_msg_body(m));
	if (nng_sendmsg(rg_sock, m, 0) != 0)
		nng_msg_free(m);
}

/* rg_rows - a Q_OK search reply of n copies of row */
static void rg_rows(Else__MessageRow *row, size_t n)
{
	Else__QueryReply r;
	Else__SearchReply sr;
	Else__MessageRow **rows = calloc(n, sizeof(*rows));

	cr_assert_not_null(rows);
	for (size_t i = 0; i < n; i++)
		rows[i] = row;
	else__query_reply__init(&r);
	else__search_reply__init(&sr);
	sr.rows = rows;
	sr.n_rows = n;
	r.result_case = ELSE__QUERY_REPLY__RESULT_SEARCH;
	r.search = &sr;
	rg_send(&r);
	free(rows);
}

/* rg_flow - a Q_OK flow reply: 200 hops of 100 empty recipients each */
static void rg_flow(void)
{
	static Else__Transaction hop, *hops[200];
	static Else__RecipientRow rcpt, *rcpts[100];
	static Else__MessageRow msg;
	Else__QueryReply r;
	Else__FlowReply fr;

	else__transaction__init(&hop);
	else__recipient_row__init(&rcpt);
	else__message_row__init(&msg);
	for (size_t i = 0; i < 100; i++)
		rcpts[i] = &rcpt;
	hop.msg = &msg;
	hop.recipients = rcpts;
	hop.n_recipients = 100;
	for (size_t i = 0; i < 200; i++)
		hops[i] = &hop;
	else__query_reply__init(&r);
	else__flow_reply__init(&fr);
	fr.hops = hops;
	fr.n_hops = 200;
	r.result_case = ELSE__QUERY_REPLY__RESULT_FLOW;
	r.flow = &fr;
	rg_send(&r);
}

/* rg_answer - the reply to rq */
static void rg_answer(const Else__QueryRequest *rq)
{
	static uint8_t nonce[32];
	Else__QueryReply r;
	Else__FlowReply fr;
	Else__MessageRow row;
	char *text;

	else__query_reply__init(&r);
	else__message_row__init(&row);
	if (rq == NULL) {
		r.status = ELSE__QUERY_STATUS__Q_BAD_REQUEST;
		rg_send(&r);
		return;
	}
	if (rq->call_case == ELSE__QUERY_REQUEST__CALL_HELLO) {
		r.result_case = ELSE__QUERY_REPLY__RESULT_NONCE;
		r.nonce.data = nonce;
		r.nonce.len = sizeof(nonce);
		rg_send(&r);
		return;
	}
	if (rq->call_case == ELSE__QUERY_REQUEST__CALL_AUTH) {
		r.result_case = ELSE__QUERY_REPLY__RESULT_IDENTITY;
		r.identity = "frontend1";
		rg_send(&r);
		return;
	}
	switch ((enum rg_mode)atomic_load(&rg_mode)) {
	case RG_OK:
		row.sender = "alice@example.org";
		rg_rows(&row, 1);
		return;
	case RG_GARBAGE: {
		nng_msg *m;
		cr_assert_eq(nng_msg_alloc(&m, 0), 0);
		nng_msg_append(m, "\xff\xff\xff\xff garbage", 12);
		if (nng_sendmsg(rg_sock, m, 0) != 0)
			nng_msg_free(m);
		return;
	}
	case RG_STATUS:
		r.status = 42;
		rg_send(&r);
		return;
	case RG_OTHER:
		else__flow_reply__init(&fr);
		r.result_case = ELSE__QUERY_REPLY__RESULT_FLOW;
		r.flow = &fr;
		rg_send(&r);
		return;
	case RG_NONE:
		rg_send(&r);
		return;
	case RG_ROWS:
		row.email_id = "0123456789abcdef";
		row.host = "mx1.example.org";
		row.queue_id = "4XyZ1234abcd";
		row.status = "delivered";
		row.sender = "alice@example.org";
		row.message_id = "<20231123100000.1234567@mx1.example.org>";
		row.first_seen_us = row.last_seen_us = 1700000000000000;
		rg_rows(&row, 10000);
		return;
	case RG_NESTED:
		rg_flow();
		return;
	case RG_ESCAPES:
	case RG_ERROR:
	case RG_OVER_FRAME: {
		size_t n = rg_mode == RG_ESCAPES ? 200000
			   : rg_mode == RG_ERROR ? 500000
						 : RG_MAX_FRAME;
		cr_assert_not_null(text = malloc(n + 1));
		memset(text, rg_mode == RG_ESCAPES ? 1 : 'x', n);
		text[n] = '\0';
		if (rg_mode == RG_ESCAPES) {
			row.sender = text;
			rg_rows(&row, 1);
		} else {
			r.status = ELSE__QUERY_STATUS__Q_BAD_REQUEST;
			r.error = text;
			rg_send(&r);
		}
		free(text);
		return;
	}
	case RG_EMPTY_ROWS:
		rg_rows(&row, 20000);
		return;
	}
}

/* rg_main - the rogue backend's thread: answer until its socket closes */
static void *rg_main(void *arg)
{
	nng_msg *m;

	(void)arg;
	while (nng_recvmsg(rg_sock, &m, 0) == 0) {
		Else__QueryRequest *rq =
			else__query_request__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
		nng_msg_free(m);
		rg_answer(rq);
		else__query_request__free_unpacked(rq, NULL);
	}
	return NULL;
}

/* Between the frontend and the rogue backend in the stall test (st_setup). */
static tr_relay rl = { .lfd = -1 };

/* rg_open - the rogue backend, and the frontend dialling it (through a relay) */
static void rg_open(bool relay)
{
	fe_rpc_conf rc = { .nurls = 1, .inflight = 2, .server_name = "localhost" };
	fe_http_conf hc = { .listen = "127.0.0.1:0", .timeout_s = 5, .workers = 2 };
	/*
	 * The time a call waits for the backend: a reply over max_frame takes all
	 * of it; the others must fit in it under AddressSanitizer beside other tests.
	 */
	fe_api_conf ac = { .timeout_ms = 3000, .max_json = RG_MAX_JSON };
	nng_tls_config *tls;
	nng_listener l;
	static char url[64];
	int bp = 0;

	cr_assert_eq(nng_rep0_open(&rg_sock), 0);
	cr_assert_eq(el_nng_tls_server(&tls, path("ca1/ca.crt"), path("ca1/server-localhost.pem")),
		     0);
	cr_assert_eq(el_nng_listen(rg_sock, "tls+tcp://127.0.0.1:0", tls, 1 << 20, &l), 0);
	nng_tls_config_free(tls);
	cr_assert_eq(nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &bp), 0);
	cr_assert_eq(pthread_create(&rg_thread, NULL, rg_main, NULL), 0);
	snprintf(url, sizeof(url), "tls+tcp://127.0.0.1:%d", relay ? tr_relay_start(&rl, bp) : bp);
	rc.urls[0] = url;
	rc.ca_file = path("ca1/ca.crt");
	rc.cert_key_file = path("ca1/client-frontend1.pem");
	rc.max_frame = RG_MAX_FRAME;
	cr_assert_eq(fe_rpc_open(&rpc, &rc), 0);
	cr_assert_eq(fe_api_new(&api, rpc, &ac), 0);
	cr_assert_eq(fe_http_start(&http, &hc, api), 0);
	port = fe_http_port(http);
}

static void rg_setup(void)
{
	rg_open(false);
}

/* st_setup - the rogue backend behind a relay (tr_relay_freeze) */
static void st_setup(void)
{
	rg_open(true);
}

static void rg_teardown(void)
{
	teardown();
	if (rl.lfd >= 0)
		tr_relay_stop(&rl);
	if (el_nng_close_bounded(rg_sock, 100, 5000) == 0)
		pthread_join(rg_thread, NULL);
}

TestSuite(rogue, .init = rg_setup, .fini = rg_teardown, .timeout = 120);

/* rg_ask - a search answered in mode: the HTTP status, the body in resp */
static int rg_ask(enum rg_mode mode)
{
	atomic_store(&rg_mode, mode);
	return status(post("search", JSON, "{}"));
}

/*
 * rg_refused - a search answered in mode is HTTP code with want in its body,
 * and the next call, answered well, is a 200 with its row
 */
static void rg_refused(enum rg_mode mode, int code, const char *want)
{
	cr_assert_eq(rg_ask(mode), code, "mode %d: %.300s", (int)mode, resp);
	cr_assert(strstr(resp, want), "mode %d: no \"%s\" in %.300s", (int)mode, want, resp);
	cr_assert_eq(rg_ask(RG_OK), 200, "after mode %d: %.300s", (int)mode, resp);
	cr_assert(strstr(resp, "alice@example.org"), "after mode %d: %.300s", (int)mode, resp);
}

/*
 * rg_counted - the frontend's counts of bad replies: undecodable, unknown
 * status, without their call's result, too large to unpack, over max_json;
 * all on the one connection of the start
 */
static void rg_counted(uint64_t undecodable, uint64_t bad_status, uint64_t bad_result,
		       uint64_t unpack, uint64_t json)
{
	fe_rpc_stats rs;
	fe_api_stats as;

	fe_rpc_stats_get(rpc, &rs);
	fe_api_stats_get(api, &as);
	cr_assert_eq(rs.undecodable, undecodable);
	cr_assert_eq(rs.bad_status, bad_status);
	cr_assert_eq(as.bad_result, bad_result);
	cr_assert_eq(rs.too_large, unpack);
	cr_assert_eq(as.too_large, json);
	cr_assert_eq(rs.handshakes, 1, "one connection all along");
}

/* A rogue answer and what the frontend makes of it. */
typedef struct rg_case {
	enum rg_mode mode;
	int code;
	const char *want;
} rg_case;

/* rg_refused_all - rg_refused for each of c[0..n) */
static void rg_refused_all(const rg_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rg_refused(c[i].mode, c[i].code, c[i].want);
}

Test(rogue, replies_that_are_none_are_502_counted_and_the_next_call_is_served)
{
	static const rg_case cases[] = {
		{ RG_GARBAGE, 502, "backend: Protocol error" },
		{ RG_STATUS, 502, "backend: Protocol error" },
		{ RG_OTHER, 502, "the backend's answer to search holds another result" },
		{ RG_NONE, 502, "the backend's answer to search lacks its result" },
	};

	rg_refused_all(cases, sizeof(cases) / sizeof(cases[0]));
	rg_counted(1, 1, 2, 0, 0);
}

Test(rogue, answers_many_times_their_frame_are_bounded_502_and_counted)
{
	static const rg_case cases[] = {
		/* Within the unpacking bound, over max_json once made JSON. */
		{ RG_ROWS, 502, "is more than 1048576 bytes of JSON (max_json)" },
		{ RG_ESCAPES, 502, "(max_json)" },
		/* Empty messages: 2 bytes of frame, a whole struct unpacked. */
		{ RG_EMPTY_ROWS, 502, "too large to unpack" },
		{ RG_NESTED, 502, "too large to unpack" },
	};

	rg_refused_all(cases, sizeof(cases) / sizeof(cases[0]));
	rg_counted(0, 0, 0, 2, 2);
}

Test(rogue, a_backend_error_text_is_cut)
{
	rg_refused(RG_ERROR, 400, "\"status\":\"Q_BAD_REQUEST\"");
	cr_assert_eq(rg_ask(RG_ERROR), 400);
	cr_assert_lt(strlen(strstr(resp, "\r\n\r\n")), 1200, "the error text is cut to 1 KiB");
}

/*
 * A connection that neither answers nor takes anything (here a relay that
 * stopped forwarding on it, as a NAT that forgot it would) is closed when a
 * call times out on it, and the next call goes out on a new one.
 */
Test(rogue, a_connection_gone_silent_is_closed_and_the_next_call_served, .init = st_setup)
{
	fe_rpc_stats rs;

	cr_assert_eq(rg_ask(RG_OK), 200, "%.300s", resp);
	tr_relay_freeze(&rl);
	cr_assert_eq(rg_ask(RG_OK), 504, "%.300s", resp);
	fe_rpc_stats_get(rpc, &rs);
	cr_assert_eq(rs.stalled, 1);
	cr_assert_eq(rs.timeouts, 1);
	cr_assert_eq(rg_ask(RG_OK), 200, "the call after: %.300s", resp);
	cr_assert(strstr(resp, "alice@example.org"), "%.300s", resp);
	fe_rpc_stats_get(rpc, &rs);
	cr_assert_eq(rs.stalled, 1);
	cr_assert_eq(tr_relay_accepted(&rl), 2, "served on a new connection");
}

Test(rogue, a_reply_over_max_frame_is_a_timeout_and_a_dropped_connection)
{
	fe_rpc_stats rs;

	/* NNG drops the connection: fe_rpc retries on a new one until the call's time is up. */
	cr_assert_eq(rg_ask(RG_OVER_FRAME), 504, "%.300s", resp);
	cr_assert(strstr(resp, "no backend answered in time"), "%.300s", resp);
	fe_rpc_stats_get(rpc, &rs);
	cr_assert_geq(rs.dropped, 1);
	cr_assert_eq(rs.timeouts, 1);
#ifdef ELSE_NNG_BUILD
	/*
	 * Then the next call is served, once NNG has dialled again.  Only with
	 * deploy/nng.sh's NNG.  With Debian's 1.5.2 (several task threads: the
	 * AddressSanitizer build), about one run in five beside other tests
	 * leaves the connection of the last reply over max_frame stuck: no pipe
	 * event on either side, the next request never sent.  fe_rpc closes
	 * such a connection when a call times out on it (fe_rpc_stalled, the
	 * test above), but there NNG then neither reports the pipe gone nor
	 * dials again, and every later call times out (session 15).
	 */
	for (int i = 0; i < 1000 && rs.connected == 0; i++) {
		usleep(10000);
		fe_rpc_stats_get(rpc, &rs);
	}
	cr_assert_eq(rs.connected, 1, "no connection again after 10 s");
	cr_assert_eq(rg_ask(RG_OK), 200, "%.300s", resp);
	cr_assert(strstr(resp, "alice@example.org"), "%.300s", resp);
#endif
}
