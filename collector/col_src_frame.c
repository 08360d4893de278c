/*
 * col_src_frame - syslog TCP framing: octet counting and newline framing.
 */
#include "col_src_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* col_frame_init - a decoder for messages of at most max bytes */
int col_frame_init(col_frame *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	if (max == 0)
		return -EINVAL;
	f->max = max;
	f->acc = malloc(max);
	return f->acc ? 0 : -ENOMEM;
}

/* col_frame_fini - free the buffer */
void col_frame_fini(col_frame *f)
{
	free(f->acc);
	f->acc = NULL;
}

/* col_frame_keep - append what still fits under max */
static size_t col_frame_keep(col_frame *f, const char *p, size_t n)
{
	size_t room = f->max - f->acclen;

	if (n > room)
		n = room;
	memcpy(f->acc + f->acclen, p, n);
	f->acclen += n;
	return n;
}

/* col_frame_lf - newline framing */
static ssize_t col_frame_lf(col_frame *f, const char *p, size_t n, col_frame_emit cb, void *ctx)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(p + i, '\n', n - i);
		size_t seg = nl ? (size_t)(nl - (p + i)) : n - i;
		int stop = 0;

		if (f->skipping) {
			if (!nl)
				return (ssize_t)n;
			f->skipping = false;
			i += seg + 1;
			continue;
		}
		if (f->acclen + seg > f->max) {
			col_frame_keep(f, p + i, seg);
			stop = cb(ctx, f->acc, f->acclen, true);
			f->acclen = 0;
			if (!nl) {
				f->skipping = true;
				return (ssize_t)n;
			}
		} else if (nl) {
			if (f->acclen == 0) {
				stop = cb(ctx, p + i, seg, false);
			} else {
				col_frame_keep(f, p + i, seg);
				stop = cb(ctx, f->acc, f->acclen, false);
				f->acclen = 0;
			}
		} else {
			col_frame_keep(f, p + i, seg);
			return (ssize_t)n;
		}
		i += seg + 1;
		if (stop)
			break;
	}
	return (ssize_t)i;
}

/* col_frame_octet - "LEN SP MSG" frames */
static ssize_t col_frame_octet(col_frame *f, const char *p, size_t n, col_frame_emit cb, void *ctx)
{
	size_t i = 0;

	while (i < n) {
		if (!f->in_msg) {
			unsigned char c = (unsigned char)p[i];
			if (c >= '0' && c <= '9') {
				if ((f->ndig == 0 && c == '0') || f->ndig == 9)
					return -EPROTO;
				f->want = f->want * 10 + (c - '0');
				f->ndig++;
				i++;
				continue;
			}
			if (c != ' ' || f->ndig == 0)
				return -EPROTO;
			i++;
			f->in_msg = true;
			f->cut = f->want > f->max;
			f->acclen = 0;
			continue;
		}
		size_t take = n - i < f->want ? n - i : (size_t)f->want;
		col_frame_keep(f, p + i, take);
		i += take;
		f->want -= take;
		if (f->want == 0) {
			int stop = cb(ctx, f->acc, f->acclen, f->cut);
			f->in_msg = false;
			f->ndig = 0;
			f->acclen = 0;
			if (stop)
				break;
		}
	}
	return (ssize_t)i;
}

/* col_frame_feed - see col_src_frame.h */
ssize_t col_frame_feed(col_frame *f, const char *p, size_t n, col_frame_emit cb, void *ctx)
{
	if (n == 0)
		return 0;
	if (f->mode == COL_FRAME_DETECT)
		f->mode = p[0] >= '0' && p[0] <= '9' ? COL_FRAME_OCTET : COL_FRAME_LF;
	if (f->mode == COL_FRAME_OCTET)
		return col_frame_octet(f, p, n, cb, ctx);
	return col_frame_lf(f, p, n, cb, ctx);
}

/* col_frame_eof - see col_src_frame.h */
void col_frame_eof(col_frame *f, col_frame_emit cb, void *ctx)
{
	if (f->mode == COL_FRAME_LF && !f->skipping && f->acclen > 0)
		cb(ctx, f->acc, f->acclen, false);
	f->acclen = 0;
}
