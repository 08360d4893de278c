/*
 * col_src_gz - gzip reader over an fd (zlib inflate with gzip headers).
 */
#include "col_src_gz.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#define COL_GZ_IN (64 * 1024)

struct col_gz {
	int fd;
	z_stream z;
	int eof;  /* the fd has no more bytes */
	int done; /* a member ended and nothing follows */
	unsigned char in[COL_GZ_IN];
};

/* col_gz_open - see col_src_gz.h */
int col_gz_open(col_gz **out, int fd)
{
	col_gz *g = calloc(1, sizeof(*g));

	*out = NULL;
	if (!g)
		return -ENOMEM;
	g->fd = fd;
	/* 15 + 16: a gzip header and trailer, not raw zlib. */
	if (inflateInit2(&g->z, 15 + 16) != Z_OK) {
		free(g);
		return -ENOMEM;
	}
	*out = g;
	return 0;
}

/* col_gz_more - refill the input; 0 at EOF of the fd */
static ssize_t col_gz_more(col_gz *g)
{
	ssize_t n;

	do {
		n = read(g->fd, g->in, sizeof(g->in));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		g->eof = 1;
	g->z.next_in = g->in;
	g->z.avail_in = (uInt)n;
	return n;
}

/* col_gz_read - see col_src_gz.h */
ssize_t col_gz_read(col_gz *g, void *buf, size_t len)
{
	if (len > (1u << 30))
		len = 1u << 30;
	g->z.next_out = buf;
	g->z.avail_out = (uInt)len;
	while (g->z.avail_out == len && !g->done) {
		if (g->z.avail_in == 0) {
			ssize_t n = col_gz_more(g);
			if (n < 0)
				return n;
			if (n == 0) {
				/* Ended inside a member: a truncated file. */
				g->done = 1;
				return g->z.total_in ? -EIO : 0;
			}
		}
		int r = inflate(&g->z, Z_NO_FLUSH);
		if (r == Z_STREAM_END) {
			/* Another member may follow (cat a.gz b.gz). */
			if (g->z.avail_in == 0 && col_gz_more(g) <= 0) {
				g->done = 1;
				break;
			}
			inflateReset(&g->z);
			continue;
		}
		if (r != Z_OK && (r != Z_BUF_ERROR || g->z.avail_in != 0)) {
			g->done = 1;
			return -EIO;
		}
	}
	return (ssize_t)(len - g->z.avail_out);
}

/* col_gz_close - see col_src_gz.h */
void col_gz_close(col_gz *g)
{
	if (!g)
		return;
	inflateEnd(&g->z);
	close(g->fd);
	free(g);
}
