/*
 * fe_gzip - zlib adapter.  See fe_gzip.h.
 */
#include "fe_gzip.h"

#include <errno.h>
#include <string.h>

#include <zlib.h>

/* fe_gzip - see fe_gzip.h */
int fe_gzip(el_buf *out, const void *p, size_t n, int level)
{
	z_stream z;
	size_t bound;
	int rv;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&z, (uLong)n) + 32;
	el_buf_reserve(out, bound);
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out->p + out->len;
	z.avail_out = (uInt)bound;
	rv = deflate(&z, Z_FINISH);
	if (rv == Z_STREAM_END)
		out->len += z.total_out;
	deflateEnd(&z);
	return rv == Z_STREAM_END ? 0 : -EIO;
}

/* fe_gzip_accepted - see fe_gzip.h; "gzip;q=0" refuses it */
int fe_gzip_accepted(const char *ae)
{
	const char *g;

	if (ae == NULL || (g = strstr(ae, "gzip")) == NULL)
		return 0;
	g += 4;
	while (*g == ' ')
		g++;
	if (strncmp(g, ";q=0", 4) == 0 &&
	    (g[4] == '\0' || g[4] == ',' || g[4] == ' ' ||
	     (g[4] == '.' && strspn(g + 5, "0") > 0 &&
	      (g[5 + strspn(g + 5, "0")] == '\0' || g[5 + strspn(g + 5, "0")] == ','))))
		return 0;
	return 1;
}
