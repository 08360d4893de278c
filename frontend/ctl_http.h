/*
 * ctl_http - elsectl's HTTP(S) client: the libcurl adapter (the only
 * includer of curl headers).  One POST of a JSON body to a frontend's API,
 * with the session cookie and CSRF header, the answer bounded in size.
 *
 * OWNERSHIP: the response body is the caller's (el_buf_fini).
 * ERRORS: 0 (any HTTP status) or -EIO with a message in resp->err
 * (connection, TLS), -EFBIG (answer over the bound).
 * THREADS: one call at a time per process (curl_global_init on first use).
 * SECURITY: certificates are verified (ca_file or the system store) unless
 * insecure is set; redirects are not followed; the answer is bounded.
 */
#ifndef CTL_HTTP_H
#define CTL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "el_buf.h"

typedef struct ctl_http_conf {
	const char *base;    /* https://host:port (no trailing slash needed) */
	const char *ca_file; /* NULL: system store */
	bool insecure;       /* do not verify the server certificate */
	long timeout_s;
	size_t max_answer; /* 0 = 64 MiB */
} ctl_http_conf;

typedef struct ctl_http_resp {
	long status;
	el_buf body;
	char session[65];   /* from Set-Cookie else_session=..., "" if none */
	bool session_clear; /* Set-Cookie cleared it */
	char err[256];
} ctl_http_resp;

int ctl_http_post(const ctl_http_conf *c, const char *path, const char *body, size_t len,
		  const char *session, const char *csrf, ctl_http_resp *out);

#endif
