/*
 * fe_http - libmicrohttpd adapter: web UI assets and the JSON API.  See
 * fe_http.h.
 */
#include "fe_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "el_log.h"
#include "el_map.h"
#include "el_ossl.h"
#include "el_span.h"
#include "fe_assets.h"
#include "fe_gzip.h"

#define FE_HTTP_GZIP_MIN 256
#define FE_HTTP_COOKIE_MAX 4096
#define FE_HTTP_CSRF_MAX 128
#define FE_HTTP_UA_MAX 256
#define FE_HTTP_IP_MAX 64
#define FE_HTTP_INM_MAX 8192
/*
 * Replies up to this size are turned into JSON on libmicrohttpd's thread
 * when they come; bigger ones (exports, long flows) on a worker, so their
 * encoding and gzip do not hold up the other connections.
 */
#define FE_HTTP_INLINE_MAX (64u * 1024)

static const char fe_http_csp[] =
	"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
	"object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

typedef struct fe_http_asset {
	const fe_asset *a;
	el_buf gz; /* gzipped copy, empty if not worth it */
	char etag[24];
} fe_http_asset;

typedef struct fe_http_job {
	struct fe_http_job *next;
	struct fe_http *h;
	struct MHD_Connection *conn;
	fe_api_req rq;
	fe_api_resp rs;
	fe_api_call *api_call; /* until fe_http_job_encode */
	el_buf gz;
	bool want_gzip;
	bool ready; /* the reply came without a worker: encode it on resume */
	bool done;  /* rs and gz hold the answer */
	char call[40];
	char ip[FE_HTTP_IP_MAX];
	char *cookie, *csrf, *ua;
} fe_http_job;

typedef struct fe_http_req {
	bool api;
	int early; /* an HTTP error decided before the body: status */
	const char *early_msg;
	el_buf body;
	bool too_big; /* chunked body past max_body: dropped */
	size_t dropped;
	fe_http_job *job;
} fe_http_req;

struct fe_http {
	fe_http_conf conf;
	fe_api *api;
	struct MHD_Daemon *d;
	bool https;
	char *proxy;
	fe_http_asset *assets;
	pthread_t *workers;
	unsigned nworkers;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	fe_http_job *head, *tail;
	unsigned queued;
	unsigned pending; /* calls sent without a worker, not yet back */
	bool stopping;
	atomic_uint_fast64_t requests, api_calls, too_large, refused_origin, refused_type, busy;
};

/* fe_http_headers - the security headers every response carries */
static void fe_http_headers(fe_http *h, struct MHD_Response *r)
{
	MHD_add_response_header(r, "Content-Security-Policy", fe_http_csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
	if (h->https)
		MHD_add_response_header(r, "Strict-Transport-Security",
					"max-age=31536000; includeSubDomains");
}

/* fe_http_send - queue a response of body (copied), with one more header if hname */
static enum MHD_Result fe_http_send(fe_http *h, struct MHD_Connection *c, unsigned status,
				    const char *type, const void *body, size_t len, bool gzipped,
				    const char *hname, const char *hvalue)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	fe_http_headers(h, r);
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Vary", "Accept-Encoding");
	if (gzipped)
		MHD_add_response_header(r, "Content-Encoding", "gzip");
	if (hname && hvalue && hvalue[0])
		MHD_add_response_header(r, hname, hvalue);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* fe_http_error_with - a JSON error of the frontend's own, with one more header if hname */
static enum MHD_Result fe_http_error_with(fe_http *h, struct MHD_Connection *c, unsigned status,
					  const char *qstatus, const char *msg, const char *hname,
					  const char *hvalue)
{
	fe_api_resp rs;
	enum MHD_Result ret;

	el_buf_init(&rs.body);
	fe_api_error(&rs, (int)status, qstatus, msg);
	ret = fe_http_send(h, c, status, "application/json; charset=utf-8", rs.body.p, rs.body.len,
			   false, hname, hvalue);
	el_buf_fini(&rs.body);
	return ret;
}

/* fe_http_error - a JSON error of the frontend's own */
static enum MHD_Result fe_http_error(fe_http *h, struct MHD_Connection *c, unsigned status,
				     const char *qstatus, const char *msg)
{
	return fe_http_error_with(h, c, status, qstatus, msg, NULL, NULL);
}

/* fe_http_hdr - a request header or NULL */
static const char *fe_http_hdr(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* fe_http_dup - a bounded copy of a header value (NULL stays NULL) */
static char *fe_http_dup(const char *s, size_t max)
{
	return s ? strndup(s, max) : NULL;
}

/* fe_http_origin_host - host[:port] of an origin or URL "scheme://host[:port]..." */
static bool fe_http_origin_host(const char *url, const char **host, size_t *len)
{
	const char *p = strstr(url, "://"), *end;

	if (p == NULL)
		return false;
	p += 3;
	end = p + strcspn(p, "/?#");
	*host = p;
	*len = (size_t)(end - p);
	return *len > 0;
}

/*
 * fe_http_same_origin - a browser's POST must come from this host: Origin
 * (or Referer) host equal to the Host header.  No Origin and no Referer is
 * a non-browser client (elsectl, scripts), which carries no ambient cookie
 * of a victim.
 */
static bool fe_http_same_origin(struct MHD_Connection *c)
{
	const char *host = fe_http_hdr(c, "Host"), *o = fe_http_hdr(c, "Origin"), *oh;
	const char *sfs = fe_http_hdr(c, "Sec-Fetch-Site");
	size_t ol;

	if (sfs && strcmp(sfs, "cross-site") == 0)
		return false;
	if (o == NULL)
		o = fe_http_hdr(c, "Referer");
	if (o == NULL)
		return true;
	if (host == NULL || !fe_http_origin_host(o, &oh, &ol))
		return false;
	return strlen(host) == ol && strncasecmp(host, oh, ol) == 0;
}

/* fe_http_last_xff - MHD header iterator: remember the last X-Forwarded-For */
static enum MHD_Result fe_http_last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
					const char *value)
{
	(void)kind;
	if (key && value && strcasecmp(key, "X-Forwarded-For") == 0)
		*(const char **)cls = value;
	return MHD_YES;
}

/* fe_http_client_ip - the peer address, or the proxy's X-Forwarded-For entry */
static void fe_http_client_ip(fe_http *h, struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const char *xff;

	snprintf(out, cap, "unknown");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out,
			  (socklen_t)cap);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  (socklen_t)cap);
	if (h->proxy == NULL || strcmp(out, h->proxy) != 0)
		return;
	/*
	 * The proxy appends its entry to the last X-Forwarded-For header or
	 * adds a header of its own after the client's (HAProxy does): take the
	 * last entry of the last header.
	 */
	xff = NULL;
	MHD_get_connection_values(c, MHD_HEADER_KIND, fe_http_last_xff, &xff);
	if (xff == NULL)
		return;
	/* The last entry is the one the proxy appended: the others are the client's claims. */
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ')
		last++;
	char tmp[FE_HTTP_IP_MAX];
	size_t n = strcspn(last, " ");
	unsigned char bin[16];
	if (n == 0 || n >= sizeof(tmp))
		return;
	memcpy(tmp, last, n);
	tmp[n] = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1 || inet_pton(AF_INET6, tmp, bin) == 1)
		snprintf(out, cap, "%s", tmp);
}

/* fe_http_job_encode - the call's answer into rs, gzipped into gz if worth it */
static void fe_http_job_encode(fe_http_job *j)
{
	fe_api_end(j->api_call, &j->rq, &j->rs);
	j->api_call = NULL;
	if (j->want_gzip && j->rs.body.len >= FE_HTTP_GZIP_MIN &&
	    fe_gzip(&j->gz, j->rs.body.p, j->rs.body.len, 6) != 0)
		j->gz.len = 0;
	j->done = true;
}

/* fe_http_enqueue - give j to the workers; under h->mu */
static void fe_http_enqueue(fe_http *h, fe_http_job *j)
{
	if (h->tail)
		h->tail->next = j;
	else
		h->head = j;
	h->tail = j;
	h->queued++;
	pthread_cond_signal(&h->cv);
}

/*
 * fe_http_worker - run queued API calls, resume their connections.  While
 * stopping, a worker stays until no call sent without one can still come
 * back to the queue.
 */
static void *fe_http_worker(void *arg)
{
	fe_http *h = arg;
	fe_http_job *j;

	for (;;) {
		pthread_mutex_lock(&h->mu);
		while (h->head == NULL && !(h->stopping && h->pending == 0))
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->head == NULL) {
			pthread_mutex_unlock(&h->mu);
			return NULL;
		}
		j = h->head;
		h->head = j->next;
		if (h->head == NULL)
			h->tail = NULL;
		h->queued--;
		pthread_mutex_unlock(&h->mu);

		if (!fe_api_ready(j->api_call))
			fe_api_wait(j->api_call); /* sends, or unpacks a big reply */
		fe_http_job_encode(j);
		MHD_resume_connection(j->conn);
	}
}

/*
 * fe_http_wake - a call sent without a worker is back (NNG's task thread:
 * no blocking here).  A small answer resumes its connection, which encodes
 * it; a big one, or a call that needs fe_rpc_call's retries, goes to a
 * worker.
 */
static void fe_http_wake(void *arg)
{
	fe_http_job *j = arg;
	fe_http *h = j->h;

	bool inline_ok =
		fe_api_ready(j->api_call) && fe_api_reply_len(j->api_call) <= FE_HTTP_INLINE_MAX;

	if (inline_ok) {
		j->ready = true;
		MHD_resume_connection(j->conn); /* j is libmicrohttpd's again */
	}
	pthread_mutex_lock(&h->mu);
	if (!inline_ok)
		fe_http_enqueue(h, j);
	if (--h->pending == 0 && h->stopping)
		pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
}

/* fe_http_job_free - free a job */
static void fe_http_job_free(fe_http_job *j)
{
	if (j == NULL)
		return;
	if (j->api_call)
		fe_api_end(j->api_call, &j->rq, &j->rs);
	el_buf_fini(&j->rs.body);
	el_buf_fini(&j->gz);
	free(j->cookie);
	free(j->csrf);
	free(j->ua);
	free(j);
}

/*
 * fe_http_api_start - decode the API call, suspend the connection and send
 * the call: without a worker when a backend connection is ready for it,
 * else through the workers' queue.
 */
static enum MHD_Result fe_http_api_start(fe_http *h, struct MHD_Connection *c, fe_http_req *rq,
					 const char *url)
{
	fe_http_job *j = calloc(1, sizeof(*j));
	enum MHD_Result ret;

	if (j == NULL)
		return fe_http_error(h, c, 500, "Q_INTERNAL", "out of memory");
	snprintf(j->call, sizeof(j->call), "%s", url + 5);
	j->h = h;
	j->conn = c;
	el_buf_init(&j->rs.body);
	el_buf_init(&j->gz);
	fe_http_client_ip(h, c, j->ip, sizeof(j->ip));
	j->cookie = fe_http_dup(fe_http_hdr(c, "Cookie"), FE_HTTP_COOKIE_MAX);
	j->csrf = fe_http_dup(fe_http_hdr(c, "X-CSRF-Token"), FE_HTTP_CSRF_MAX);
	j->ua = fe_http_dup(fe_http_hdr(c, "User-Agent"), FE_HTTP_UA_MAX);
	j->want_gzip = fe_gzip_accepted(fe_http_hdr(c, "Accept-Encoding"));
	j->rq.call = j->call;
	j->rq.body = rq->body.p;
	j->rq.body_len = rq->body.len;
	j->rq.cookie = j->cookie;
	j->rq.csrf = j->csrf;
	j->rq.client_ip = j->ip;
	j->rq.user_agent = j->ua;
	j->rq.https = h->https;
	if ((j->api_call = fe_api_begin(h->api, &j->rq, &j->rs)) == NULL) {
		/* Refused before the backend (unknown call, bad body, no CSRF token). */
		atomic_fetch_add(&h->api_calls, 1);
		ret = fe_http_send(h, c, (unsigned)j->rs.http_status,
				   "application/json; charset=utf-8", j->rs.body.p, j->rs.body.len,
				   false, "Set-Cookie", j->rs.set_cookie);
		fe_http_job_free(j);
		return ret;
	}
	pthread_mutex_lock(&h->mu);
	if (h->stopping || h->queued >= h->conf.queue_max) {
		pthread_mutex_unlock(&h->mu);
		fe_http_job_free(j);
		atomic_fetch_add(&h->busy, 1);
		return fe_http_error(h, c, 503, "Q_BUSY", "frontend overloaded, retry");
	}
	rq->job = j;
	MHD_suspend_connection(c);
	h->pending++;
	pthread_mutex_unlock(&h->mu);
	atomic_fetch_add(&h->api_calls, 1);
	if (!fe_api_send(j->api_call, fe_http_wake, j)) {
		pthread_mutex_lock(&h->mu);
		h->pending--;
		fe_http_enqueue(h, j);
		pthread_mutex_unlock(&h->mu);
	}
	return MHD_YES;
}

/* fe_http_etag_opaque - the quoted part of an entity tag (after W/) */
static el_span fe_http_etag_opaque(el_span t)
{
	if (t.len >= 2 && t.p[0] == 'W' && t.p[1] == '/')
		return el_span_make(t.p + 2, t.len - 2);
	return t;
}

/* fe_http_etag_match - see fe_http.h */
bool fe_http_etag_match(const char *inm, const char *etag)
{
	el_span want = fe_http_etag_opaque(el_span_make(etag, strlen(etag)));
	size_t n = inm ? strnlen(inm, FE_HTTP_INM_MAX + 1) : 0, i = 0;

	if (n == 0 || n > FE_HTTP_INM_MAX)
		return false;
	for (;;) {
		const char *q;
		size_t start;

		while (i < n && (inm[i] == ' ' || inm[i] == '\t' || inm[i] == ','))
			i++;
		if (i == n)
			return false;
		if (inm[i] == '*')
			return true;
		start = i;
		if (n - i >= 2 && inm[i] == 'W' && inm[i + 1] == '/')
			i += 2;
		if (i == n || inm[i] != '"' || (q = memchr(inm + i + 1, '"', n - i - 1)) == NULL)
			return false; /* not an entity tag: nothing after it can be trusted */
		i = (size_t)(q - inm) + 1;
		el_span got = fe_http_etag_opaque(el_span_make(inm + start, i - start));
		if (got.len == want.len && memcmp(got.p, want.p, got.len) == 0)
			return true;
	}
}

/* fe_http_asset_send - GET of an embedded file */
static enum MHD_Result fe_http_asset_send(fe_http *h, struct MHD_Connection *c, const char *url)
{
	const char *inm = fe_http_hdr(c, "If-None-Match");
	struct MHD_Response *r;
	fe_http_asset *fa = NULL;
	enum MHD_Result ret;
	bool fresh, gz;
	size_t i;

	if (strcmp(url, "/") == 0)
		url = "/index.html";
	for (i = 0; i < fe_nassets; i++)
		if (strcmp(fe_assets[i].path, url) == 0) {
			fa = &h->assets[i];
			break;
		}
	if (fa == NULL)
		return fe_http_error(h, c, 404, "Q_NOT_FOUND", "no such page");
	/*
	 * A 304 gets the body too: libmicrohttpd sends none with that status, only
	 * the Content-Length a 200 would have had, which RFC 9110 8.6 allows (an
	 * empty body would make it say 0, which it forbids).  It carries the
	 * caching fields a 200 would (15.4.5) and no other representation fields.
	 */
	fresh = fe_http_etag_match(inm, fa->etag);
	gz = fa->gz.len > 0 && fe_gzip_accepted(fe_http_hdr(c, "Accept-Encoding"));
	r = MHD_create_response_from_buffer(gz ? fa->gz.len : fa->a->len,
					    gz ? (void *)fa->gz.p : (void *)(uintptr_t)fa->a->data,
					    MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	fe_http_headers(h, r);
	MHD_add_response_header(r, "Cache-Control", "no-cache");
	MHD_add_response_header(r, "ETag", fa->etag);
	MHD_add_response_header(r, "Vary", "Accept-Encoding");
	if (!fresh) {
		MHD_add_response_header(r, "Content-Type", fa->a->type);
		if (gz)
			MHD_add_response_header(r, "Content-Encoding", "gzip");
	}
	ret = MHD_queue_response(c, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* fe_http_handler - MHD's access handler */
static enum MHD_Result fe_http_handler(void *cls, struct MHD_Connection *c, const char *url,
				       const char *method, const char *version, const char *upload,
				       size_t *upload_size, void **con_cls)
{
	fe_http *h = cls;
	fe_http_req *rq = *con_cls;

	(void)version;
	if (rq == NULL) {
		/* First call: headers only. */
		if ((rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		el_buf_init(&rq->body);
		*con_cls = rq;
		atomic_fetch_add(&h->requests, 1);
		rq->api = strncmp(url, "/api/", 5) == 0;
		if (!rq->api)
			return MHD_YES;
		if (strcmp(method, "POST") != 0) {
			rq->early = 405;
			rq->early_msg = "the API takes POST";
		} else {
			const char *ct = fe_http_hdr(c, "Content-Type");
			const char *cl = fe_http_hdr(c, "Content-Length");
			uint64_t n;
			if (ct == NULL || strncasecmp(ct, "application/json", 16) != 0 ||
			    (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
				rq->early = 415;
				rq->early_msg = "Content-Type must be application/json";
				atomic_fetch_add(&h->refused_type, 1);
			} else if (!fe_http_same_origin(c)) {
				rq->early = 403;
				rq->early_msg = "cross-origin request refused";
				atomic_fetch_add(&h->refused_origin, 1);
			} else if (cl &&
				   (el_span_parse_u64(el_span_make(cl, strlen(cl)), &n) != 0 ||
				    n > h->conf.max_body)) {
				rq->early = 413;
				rq->early_msg = "request body too large";
				atomic_fetch_add(&h->too_large, 1);
			}
		}
		if (rq->early)
			/* Answer now: MHD closes the connection instead of reading the body. */
			return fe_http_error_with(
				h, c, (unsigned)rq->early,
				rq->early == 403 ? "Q_FORBIDDEN" : "Q_BAD_REQUEST", rq->early_msg,
				rq->early == 405 ? "Allow" : NULL, "POST");
		return MHD_YES;
	}
	if (!rq->api) {
		if (*upload_size) {
			*upload_size = 0; /* a body on a GET: ignored */
			return MHD_YES;
		}
		if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
			return fe_http_error_with(h, c, 405, "Q_BAD_REQUEST", "method not allowed",
						  "Allow", "GET, HEAD");
		return fe_http_asset_send(h, c, url);
	}
	if (rq->early)
		return MHD_YES;
	if (*upload_size) {
		/*
		 * Chunked bodies have no Content-Length to refuse up front, and
		 * MHD 0.9.75 cannot answer in the middle of an upload: drop the
		 * rest and answer 413 at its end, or close the connection once
		 * the sender goes on far past the bound.
		 */
		if (rq->too_big || rq->body.len + *upload_size > h->conf.max_body) {
			if (!rq->too_big)
				atomic_fetch_add(&h->too_large, 1);
			rq->too_big = true;
			rq->dropped += *upload_size;
			*upload_size = 0;
			return rq->dropped > 16 * h->conf.max_body ? MHD_NO : MHD_YES;
		}
		el_buf_add(&rq->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->too_big) {
		rq->early = 413;
		return fe_http_error(h, c, 413, "Q_BAD_REQUEST", "request body too large");
	}
	if (rq->job == NULL)
		return fe_http_api_start(h, c, rq, url);
	fe_http_job *j = rq->job;
	if (j->ready && !j->done)
		fe_http_job_encode(j);
	if (!j->done)
		return MHD_YES; /* spurious wake-up */
	bool gz = j->gz.len > 0;
	return fe_http_send(h, c, (unsigned)j->rs.http_status, "application/json; charset=utf-8",
			    gz ? j->gz.p : j->rs.body.p, gz ? j->gz.len : j->rs.body.len, gz,
			    "Set-Cookie", j->rs.set_cookie);
}

/* fe_http_completed - MHD is done with a request: free its state */
static void fe_http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	fe_http_req *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq == NULL)
		return;
	fe_http_job_free(rq->job);
	el_buf_fini(&rq->body);
	free(rq);
	*con_cls = NULL;
}

/* fe_http_addr - parse "host:port" / "[v6]:port" */
static int fe_http_addr(const char *listen, struct sockaddr_storage *ss, bool *v6)
{
	struct addrinfo hints, *ai = NULL;
	char host[128], port[16];
	const char *colon;
	size_t hl;

	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');
		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - listen - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen + 1, hl);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(listen, ':')) == NULL)
			return -EINVAL;
		hl = (size_t)(colon - listen);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, listen, hl);
	}
	host[hl] = '\0';
	if (strlen(colon + 1) >= sizeof(port) || colon[1] == '\0')
		return -EINVAL;
	strcpy(port, colon + 1);
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

/*
 * fe_http_mhd_log - libmicrohttpd's own messages, bounded: a health check
 * that closes its connection early (HAProxy's over TLS does, every few
 * seconds) must not flood the log.  The first 20, then one in 1000.
 */
static void fe_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	static atomic_uint_fast64_t n;
	uint64_t k = atomic_fetch_add(&n, 1);
	char buf[512], pr[4 * 200 + 1];

	(void)cls;
	if (k >= 20 && k % 1000 != 0)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	el_log_printable(pr, buf, strlen(buf), 200);
	el_warn("http: %s (libmicrohttpd message %llu)", pr, (unsigned long long)k + 1);
}

/* fe_http_start - see fe_http.h */
int fe_http_start(fe_http **out, const fe_http_conf *conf, fe_api *api)
{
	struct sockaddr_storage ss;
	el_buf cert, key;
	unsigned flags, i;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	bool v6 = false;
	fe_http *h;
	int rv;

	*out = NULL;
	el_buf_init(&cert);
	el_buf_init(&key);
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return -ENOMEM;
	h->conf = *conf;
	h->api = api;
	pthread_mutex_init(&h->mu, NULL);
	pthread_cond_init(&h->cv, NULL);
	if (!h->conf.max_conn)
		h->conf.max_conn = 256;
	if (!h->conf.per_ip)
		h->conf.per_ip = 64;
	if (!h->conf.timeout_s)
		h->conf.timeout_s = 30;
	if (!h->conf.threads || h->conf.threads > (unsigned)(cores > 0 ? cores : 1))
		h->conf.threads = (unsigned)(cores > 0 ? cores : 1);
	if (!h->conf.workers)
		h->conf.workers = 16;
	if (!h->conf.queue_max)
		h->conf.queue_max = 1024;
	if (!h->conf.conn_memory)
		h->conf.conn_memory = 64 << 10;
	if (!h->conf.max_body)
		h->conf.max_body = 64 << 10;
	h->conf.listen = NULL; /* not kept */
	if (conf->trusted_proxy && conf->trusted_proxy[0] &&
	    (h->proxy = strdup(conf->trusted_proxy)) == NULL) {
		rv = -ENOMEM;
		goto fail;
	}
	if ((rv = fe_http_addr(conf->listen, &ss, &v6)) != 0) {
		el_warn("http: bad listen address %s", conf->listen);
		goto fail;
	}
	/* Assets: ETags and gzipped copies, once. */
	if ((h->assets = calloc(fe_nassets ? fe_nassets : 1, sizeof(*h->assets))) == NULL) {
		rv = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < fe_nassets; i++) {
		fe_http_asset *fa = &h->assets[i];
		fa->a = &fe_assets[i];
		el_buf_init(&fa->gz);
		/*
		 * Seed 0: every frontend behind a balancer gives an asset the same
		 * ETag.  Weak: the gzipped and the plain bytes share it.
		 */
		snprintf(fa->etag, sizeof(fa->etag), "W/\"%016llx\"",
			 (unsigned long long)el_hash_bytes(fa->a->data, fa->a->len, 0));
		if (fa->a->len >= FE_HTTP_GZIP_MIN && strncmp(fa->a->type, "image/png", 9) != 0 &&
		    fe_gzip(&fa->gz, fa->a->data, fa->a->len, 9) != 0)
			fa->gz.len = 0;
	}
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	if (conf->https_cert && conf->https_cert[0]) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			el_warn("http: this libmicrohttpd has no TLS");
			rv = -ENOTSUP;
			goto fail;
		}
		if ((rv = el_ossl_read_file(conf->https_cert, &cert)) != 0 ||
		    (rv = el_ossl_read_file(conf->https_key, &key)) != 0) {
			el_warn("http: cannot read %s / %s: %s", conf->https_cert,
				conf->https_key ? conf->https_key : "(none)", strerror(-rv));
			goto fail;
		}
		el_buf_addc(&cert, '\0');
		el_buf_addc(&key, '\0');
		flags |= MHD_USE_TLS;
		h->https = true;
	}
	h->nworkers = h->conf.workers;
	if ((h->workers = calloc(h->nworkers, sizeof(*h->workers))) == NULL) {
		rv = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < h->nworkers; i++)
		if (pthread_create(&h->workers[i], NULL, fe_http_worker, h) != 0) {
			h->nworkers = i;
			rv = -EAGAIN;
			goto fail;
		}
	if (h->https)
		h->d = MHD_start_daemon(
			flags, 0, NULL, NULL, fe_http_handler, h, MHD_OPTION_EXTERNAL_LOGGER,
			fe_http_mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_CONNECTION_LIMIT, h->conf.max_conn,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->conf.per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, h->conf.timeout_s,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conf.conn_memory,
			MHD_OPTION_THREAD_POOL_SIZE, h->conf.threads, MHD_OPTION_NOTIFY_COMPLETED,
			fe_http_completed, h, MHD_OPTION_HTTPS_MEM_CERT, cert.p,
			MHD_OPTION_HTTPS_MEM_KEY, key.p, MHD_OPTION_END);
	else
		h->d = MHD_start_daemon(
			flags, 0, NULL, NULL, fe_http_handler, h, MHD_OPTION_EXTERNAL_LOGGER,
			fe_http_mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			MHD_OPTION_CONNECTION_LIMIT, h->conf.max_conn,
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, h->conf.per_ip,
			MHD_OPTION_CONNECTION_TIMEOUT, h->conf.timeout_s,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conf.conn_memory,
			MHD_OPTION_THREAD_POOL_SIZE, h->conf.threads, MHD_OPTION_NOTIFY_COMPLETED,
			fe_http_completed, h, MHD_OPTION_END);
	if (h->d == NULL) {
		el_warn("http: cannot start the server (address in use, or bad certificate)");
		rv = -EADDRINUSE;
		goto fail;
	}
	el_buf_fini(&cert);
	el_buf_fini(&key);
	*out = h;
	return 0;
fail:
	el_buf_fini(&cert);
	el_buf_fini(&key);
	fe_http_stop(h);
	return rv;
}

/* fe_http_port - see fe_http.h */
unsigned fe_http_port(fe_http *h)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);

	return di ? di->port : 0;
}

/* fe_http_stats_get - see fe_http.h */
void fe_http_stats_get(fe_http *h, fe_http_stats *out)
{
	out->requests = atomic_load(&h->requests);
	out->api_calls = atomic_load(&h->api_calls);
	out->too_large = atomic_load(&h->too_large);
	out->refused_origin = atomic_load(&h->refused_origin);
	out->refused_type = atomic_load(&h->refused_type);
	out->busy = atomic_load(&h->busy);
}

/* fe_http_stop - see fe_http.h */
void fe_http_stop(fe_http *h)
{
	unsigned i;

	if (h == NULL)
		return;
	/*
	 * Workers finish what is queued and what the calls in flight bring back
	 * (each call is bounded by its timeout).
	 */
	pthread_mutex_lock(&h->mu);
	h->stopping = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	for (i = 0; i < h->nworkers; i++)
		pthread_join(h->workers[i], NULL);
	if (h->d)
		MHD_stop_daemon(h->d);
	for (i = 0; h->assets && i < fe_nassets; i++)
		el_buf_fini(&h->assets[i].gz);
	free(h->assets);
	free(h->workers);
	free(h->proxy);
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
