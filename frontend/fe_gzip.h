/*
 * fe_gzip - the zlib adapter: gzip a buffer for Content-Encoding: gzip.
 *
 * OWNERSHIP: appends to the caller's buffer.
 * ERRORS: 0 or -ENOMEM/-EIO (the caller then sends the body uncompressed).
 * THREADS: reentrant.
 */
#ifndef FE_GZIP_H
#define FE_GZIP_H

#include <stddef.h>

#include "el_buf.h"

int fe_gzip(el_buf *out, const void *p, size_t n, int level);

/* fe_gzip_accepted - does an Accept-Encoding header value allow gzip */
int fe_gzip_accepted(const char *accept_encoding);

#endif
