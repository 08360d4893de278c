/*
 * test_http - else-frontend's HTTP layer (fe_http + fe_api) in process,
 * spoken to over raw sockets: security headers, gzip, the API's refusals
 * (content type, origin, body size, unknown call, CSRF, malformed JSON),
 * the per-address connection limit, and a backend that never answers.
 *
 * The backend URL points at a port nobody listens on: every call that
 * passes the frontend's own checks ends in 504 after rpc timeout, which
 * proves the checks answered first.  Run through tests/net/run.sh for the
 * certificate fe_rpc loads.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fe_api.h"
#include "fe_gzip.h"
#include "fe_http.h"
#include "fe_rpc.h"

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
	cr_assert_eq(status(ask(req, (size_t)n)), 405);
}

Test(http, api_needs_post_and_json)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /api/search HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

	cr_assert_eq(status(ask(req, (size_t)n)), 405);
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
