/*
 * fe_http - the frontend's HTTP(S) server: the only module that includes
 * libmicrohttpd.  It serves the embedded web UI (GET) and hands POST
 * /api/<call> to fe_api on a pool of worker threads, so the RPC never
 * blocks MHD's threads (the connection is suspended meanwhile).
 *
 * Limits: connections in all and per client address, a per-connection
 * memory pool, an idle timeout, MHD threads (at most the cores), request
 * bodies (413 past max_body), queued API requests (503 past queue_max).
 * Every response carries the security headers (CSP default-src 'self',
 * X-Content-Type-Options, X-Frame-Options DENY, Referrer-Policy no-referrer,
 * HSTS under HTTPS); JSON and assets are gzipped when the client accepts.
 * API POSTs must be Content-Type application/json (an HTML form cannot send
 * that across sites) and, when the browser sends Origin (or else Referer),
 * come from this host; Sec-Fetch-Site cross-site is refused.
 *
 * Behind a proxy: with trusted_proxy set, a connection from that address
 * takes the client address from the last entry of the last X-Forwarded-For
 * header (what the proxy added; earlier entries are the client's claims).
 *
 * OWNERSHIP: fe_http_start copies conf; borrows api until fe_http_stop.
 * ERRORS: fe_http_start: 0, -EINVAL (listen address), -ENOENT/-EIO
 * (certificate files), -EADDRINUSE or -EIO when MHD cannot start.
 * THREADS: MHD's threads plus conf.workers workers; stop from one thread.
 * SECURITY: see above; header values used are bounded before use.
 */
#ifndef FE_HTTP_H
#define FE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "fe_api.h"

typedef struct fe_http_conf {
	const char *listen;        /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:443" */
	const char *https_cert;    /* PEM file; NULL or "": plain HTTP */
	const char *https_key;     /* PEM file */
	const char *trusted_proxy; /* an IP address or NULL */
	unsigned max_conn;         /* 0 = 256 */
	unsigned per_ip;           /* 0 = 64 */
	unsigned timeout_s;        /* idle connection; 0 = 30 */
	unsigned threads;          /* MHD threads; 0 = cores */
	unsigned workers;          /* API workers; 0 = 16 */
	unsigned queue_max;        /* API requests waiting; 0 = 1024 */
	size_t conn_memory;        /* 0 = 64 KiB */
	size_t max_body;           /* 0 = 64 KiB */
} fe_http_conf;

typedef struct fe_http fe_http;

typedef struct fe_http_stats {
	uint64_t requests, api_calls, too_large, refused_origin, refused_type, busy;
} fe_http_stats;

int fe_http_start(fe_http **out, const fe_http_conf *conf, fe_api *api);
void fe_http_stats_get(fe_http *h, fe_http_stats *out);
/* fe_http_port - the bound TCP port (for listen port 0) */
unsigned fe_http_port(fe_http *h);
/* fe_http_stop - finish queued API calls, stop MHD, free; NULL is a no-op */
void fe_http_stop(fe_http *h);

/*
 * fe_http_etag_match - whether an If-None-Match value (a list of entity tags,
 * or "*"; from the client: NULL, malformed or longer than 8 KiB is no match)
 * names etag.  Compared weakly, as RFC 9110 13.1.2 has it for If-None-Match:
 * W/"x" matches "x".
 */
bool fe_http_etag_match(const char *inm, const char *etag);

#endif
