/*
 * ctl_http - libcurl adapter for elsectl.  See ctl_http.h.
 */
#include "ctl_http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

typedef struct ctl_http_st {
	ctl_http_resp *r;
	size_t max;
	bool over;
} ctl_http_st;

/* ctl_http_write - curl body callback, bounded */
static size_t ctl_http_write(char *p, size_t sz, size_t n, void *arg)
{
	ctl_http_st *st = arg;

	if (st->r->body.len + n * sz > st->max) {
		st->over = true;
		return 0;
	}
	el_buf_add(&st->r->body, p, n * sz);
	return n * sz;
}

/* ctl_http_header - curl header callback: catch the session cookie */
static size_t ctl_http_header(char *p, size_t sz, size_t n, void *arg)
{
	ctl_http_st *st = arg;
	size_t len = n * sz, k;
	const char *v;

	if (len < 24 || strncasecmp(p, "Set-Cookie:", 11) != 0)
		return len;
	v = p + 11;
	while (v < p + len && *v == ' ')
		v++;
	if ((size_t)(p + len - v) < 13 || strncmp(v, "else_session=", 13) != 0)
		return len;
	v += 13;
	for (k = 0; k < 64 && v + k < p + len; k++)
		if (!strchr("0123456789abcdefABCDEF", v[k]) || v[k] == '\0')
			break;
	if (k == 64) {
		memcpy(st->r->session, v, 64);
		st->r->session[64] = '\0';
	} else if (k == 0) {
		st->r->session_clear = true;
	}
	return len;
}

/* ctl_http_post - see ctl_http.h */
int ctl_http_post(const ctl_http_conf *c, const char *path, const char *body, size_t len,
		  const char *session, const char *csrf, ctl_http_resp *out)
{
	static bool inited;
	struct curl_slist *hdr = NULL;
	char url[2048], line[512];
	ctl_http_st st = { out, c->max_answer ? c->max_answer : (64u << 20), false };
	CURLcode cc;
	CURL *h;
	int rv = 0;

	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = true;
	}
	out->status = 0;
	out->session[0] = '\0';
	out->session_clear = false;
	out->err[0] = '\0';
	snprintf(url, sizeof(url), "%s%s%s", c->base,
		 c->base[0] && c->base[strlen(c->base) - 1] == '/' ? "" : "/",
		 path[0] == '/' ? path + 1 : path);
	if ((h = curl_easy_init()) == NULL)
		return -ENOMEM;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Accept: application/json");
	if (session && session[0]) {
		snprintf(line, sizeof(line), "Cookie: else_session=%s", session);
		hdr = curl_slist_append(hdr, line);
	}
	if (csrf && csrf[0]) {
		snprintf(line, sizeof(line), "X-CSRF-Token: %s", csrf);
		hdr = curl_slist_append(hdr, line);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ctl_http_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, ctl_http_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, c->timeout_s > 0 ? c->timeout_s : 60L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "elsectl/0.1");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	if (c->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	cc = curl_easy_perform(h);
	if (st.over) {
		snprintf(out->err, sizeof(out->err), "answer larger than %zu bytes", st.max);
		rv = -EFBIG;
	} else if (cc != CURLE_OK) {
		snprintf(out->err, sizeof(out->err), "%s", curl_easy_strerror(cc));
		rv = -EIO;
	} else {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rv;
}
