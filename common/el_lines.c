/*
 * el_lines - bounded line reader.
 */
#include "el_lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* el_lines_init - reader over fd returning lines of at most max bytes */
int el_lines_init(el_lines *l, int fd, size_t max)
{
	memset(l, 0, sizeof(*l));
	if (max == 0 || max > ((size_t)1 << 30))
		return -EINVAL;
	l->fd = fd;
	l->max = max;
	l->cap = max + 65536;
	l->buf = malloc(l->cap);
	return l->buf ? 0 : -ENOMEM;
}

/* el_lines_fini - free the buffer (the fd is the caller's) */
void el_lines_fini(el_lines *l)
{
	free(l->buf);
	l->buf = NULL;
}

/* el_lines_fill - read more after compacting; returns bytes read, 0 at EOF */
static ssize_t el_lines_fill(el_lines *l)
{
	ssize_t n;

	if (l->start > 0) {
		memmove(l->buf, l->buf + l->start, l->end - l->start);
		l->end -= l->start;
		l->start = 0;
	}
	if (l->end == l->cap)
		return -ENOBUFS;
	do {
		n = read(l->fd, l->buf + l->end, l->cap - l->end);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		l->eof = true;
	l->end += (size_t)n;
	return n;
}

/* el_lines_skip - drop bytes up to and including the next newline */
static int el_lines_skip(el_lines *l)
{
	for (;;) {
		char *nl = memchr(l->buf + l->start, '\n', l->end - l->start);
		if (nl) {
			l->bytes_skipped += (size_t)(nl - (l->buf + l->start));
			l->start = (size_t)(nl - l->buf) + 1;
			return 0;
		}
		l->bytes_skipped += l->end - l->start;
		l->start = l->end = 0;
		if (l->eof)
			return 0;
		ssize_t n = el_lines_fill(l);
		if (n < 0)
			return (int)n;
	}
}

/* el_lines_next - see el_lines.h */
int el_lines_next(el_lines *l, const char **line, size_t *len, bool *truncated)
{
	size_t scanned = 0;
	int err;

	if (l->skip_pending) {
		/* The rest of the line we cut last time. */
		l->skip_pending = false;
		err = el_lines_skip(l);
		if (err < 0)
			return err;
	}
	for (;;) {
		char *p = l->buf + l->start;
		size_t avail = l->end - l->start;
		size_t lim = avail < l->max + 1 ? avail : l->max + 1;
		char *nl = lim > scanned ? memchr(p + scanned, '\n', lim - scanned) : NULL;

		if (nl) {
			*line = p;
			*len = (size_t)(nl - p);
			*truncated = false;
			l->start += *len + 1;
			return 1;
		}
		scanned = lim;
		if (avail > l->max) {
			/* Overlong: hand out the first max bytes, skip the rest later. */
			*line = p;
			*len = l->max;
			*truncated = true;
			l->n_truncated++;
			l->start += l->max;
			l->skip_pending = true;
			return 1;
		}
		if (l->eof) {
			if (avail == 0)
				return 0;
			*line = p;
			*len = avail;
			*truncated = false;
			l->start = l->end;
			return 1;
		}
		ssize_t n = el_lines_fill(l);
		if (n < 0)
			return (int)n;
		/* Compaction moved the data to the front; scanned stays valid. */
	}
}
