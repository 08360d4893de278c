/*
 * col_src - dispatch to the source kinds, the stop event, counters, the
 * in-place line splitter they share, and the stdin source (small enough to
 * live here).
 */
#include "col_src.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "col_src_int.h"
#include "el_log.h"

#define COL_SRC_DEF_MAX_LINE (64 * 1024)
#define COL_SRC_DEF_MAX_CHUNK (1024 * 1024)
#define COL_SRC_MAX_MAX_LINE ((size_t)256 * 1024 * 1024)
#define COL_SRC_DEF_POLL_MS 200
#define COL_SRC_DEF_CLIENTS 64

/* stdin: the line buffer and whether EOF was seen. */
typedef struct col_stdin {
	col_lb lb;
	bool eof;
	bool done;
} col_stdin;

/* col_src_is_stopped - has col_src_stop() been called */
bool col_src_is_stopped(const col_src *s)
{
	return __atomic_load_n(&s->stopped, __ATOMIC_ACQUIRE) != 0;
}

/* col_src_wait - see col_src_int.h */
int col_src_wait(col_src *s, int fd, int ms)
{
	struct pollfd p[2];
	int n = 1, r;

	if (col_src_is_stopped(s))
		return -ECANCELED;
	p[0].fd = s->stopfd;
	p[0].events = POLLIN;
	if (fd >= 0) {
		p[1].fd = fd;
		p[1].events = POLLIN;
		n = 2;
	}
	r = poll(p, (nfds_t)n, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (col_src_is_stopped(s) || (p[0].revents & POLLIN))
		return -ECANCELED;
	return r > 0 && n == 2 && p[1].revents ? 1 : 0;
}

/* col_src_poll - see col_src_int.h */
int col_src_poll(col_src *s, col_src_chunk *out, int timeout_ms,
		 int (*step)(col_src *s, col_src_chunk *out))
{
	int64_t deadline = el_now_ms(CLOCK_MONOTONIC) + timeout_ms;

	for (;;) {
		if (step(s, out))
			return 0;
		int w = s->conf.poll_ms;
		if (timeout_ms >= 0) {
			int64_t left = deadline - el_now_ms(CLOCK_MONOTONIC);
			if (left <= 0)
				return 0;
			if (left < w)
				w = (int)left;
		}
		if (col_src_wait(s, -1, w) == -ECANCELED)
			return 0;
	}
}

/* col_src_count_lines - counters for the lines of the chunk being returned */
void col_src_count_lines(col_src *s)
{
	uint64_t bytes = 0;
	size_t i;

	if (s->nlines == 0)
		return;
	for (i = 0; i < s->nlines; i++)
		bytes += s->lines[i].len;
	COL_STAT_ADD(s, lines, s->nlines);
	COL_STAT_ADD(s, bytes, bytes);
	__atomic_store_n(&s->st.last_read_us, el_now_us(CLOCK_REALTIME), __ATOMIC_RELAXED);
}

/* ---- col_lb: the in-place line splitter ---- */

/* col_lb_init - room for a whole chunk plus one line that does not fit it */
int col_lb_init(col_lb *b, size_t max_line, size_t max_chunk)
{
	memset(b, 0, sizeof(*b));
	b->max = max_line;
	b->cap = max_chunk + max_line + 1;
	b->buf = malloc(b->cap);
	return b->buf ? 0 : -ENOMEM;
}

/* col_lb_fini - free the buffer */
void col_lb_fini(col_lb *b)
{
	free(b->buf);
	b->buf = NULL;
}

/* col_lb_reset - see col_src_int.h */
void col_lb_reset(col_lb *b, uint64_t base)
{
	b->start = b->end = 0;
	b->base = base;
	b->skipping = false;
}

/* col_lb_compact - see col_src_int.h */
void col_lb_compact(col_lb *b)
{
	if (b->start == 0)
		return;
	if (b->end > b->start)
		memmove(b->buf, b->buf + b->start, b->end - b->start);
	b->end -= b->start;
	b->base += b->start;
	b->start = 0;
}

/* col_lb_fill - see col_src_int.h */
ssize_t col_lb_fill(col_lb *b, int fd)
{
	ssize_t n;

	if (b->end == b->cap)
		return -ENOBUFS;
	do {
		n = read(fd, b->buf + b->end, b->cap - b->end);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	b->end += (size_t)n;
	return n;
}

/* col_lb_add - one line into the chunk */
static void col_lb_add(col_src *s, const char *p, size_t len)
{
	s->lines[s->nlines++] = el_span_make(p, len);
}

/* col_lb_lines - see col_src_int.h */
size_t col_lb_lines(col_src *s, col_lb *b, size_t max_bytes)
{
	size_t got = 0, bytes = 0;

	while (b->start < b->end && s->nlines < COL_SRC_MAX_LINES && bytes < max_bytes) {
		char *p = b->buf + b->start;
		size_t avail = b->end - b->start;
		char *nl;

		if (b->skipping) {
			nl = memchr(p, '\n', avail);
			if (!nl) {
				b->start = b->end;
				break;
			}
			b->start += (size_t)(nl - p) + 1;
			b->skipping = false;
			continue;
		}
		nl = memchr(p, '\n', avail < b->max + 1 ? avail : b->max + 1);
		/* A chunk holds at least one line, else at most max_bytes of text. */
		if (got && bytes + (nl ? (size_t)(nl - p) : b->max) > max_bytes)
			break;
		if (nl) {
			col_lb_add(s, p, (size_t)(nl - p));
			b->start += (size_t)(nl - p) + 1;
			bytes += (size_t)(nl - p);
		} else if (avail > b->max) {
			/* Overlong: keep the first max bytes, drop the rest of the line. */
			col_lb_add(s, p, b->max);
			b->start += b->max;
			b->skipping = true;
			bytes += b->max;
			COL_STAT_ADD(s, truncated, 1);
		} else {
			break; /* a partial line: wait for its newline */
		}
		got++;
	}
	return got;
}

/* col_lb_rest - see col_src_int.h */
bool col_lb_rest(col_src *s, col_lb *b)
{
	if (b->skipping) {
		b->start = b->end;
		b->skipping = false;
		return false;
	}
	if (b->start == b->end || s->nlines >= COL_SRC_MAX_LINES)
		return false;
	col_lb_add(s, b->buf + b->start, b->end - b->start);
	b->start = b->end;
	return true;
}

/* ---- stdin ---- */

/* col_stdin_open - a finite source on fd 0 */
static int col_stdin_open(col_src *s)
{
	col_stdin *in = calloc(1, sizeof(*in));
	int err;

	if (!in)
		return -ENOMEM;
	err = col_lb_init(&in->lb, s->conf.max_line, s->conf.max_chunk);
	if (err < 0) {
		free(in);
		return err;
	}
	s->impl = in;
	COL_STAT_ADD(s, files_opened, 1);
	return 0;
}

/* col_stdin_read - lines from fd 0; -ENODATA once everything was handed out */
static int col_stdin_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	col_stdin *in = s->impl;
	int64_t deadline = el_now_ms(CLOCK_MONOTONIC) + timeout_ms;

	if (in->done)
		return -ENODATA;
	col_lb_compact(&in->lb);
	for (;;) {
		if (col_lb_lines(s, &in->lb, s->conf.max_chunk) > 0)
			break;
		if (in->eof) {
			if (!col_lb_rest(s, &in->lb)) {
				in->done = true;
				return -ENODATA;
			}
			break;
		}
		int w = timeout_ms < 0 ? -1 : (int)(deadline - el_now_ms(CLOCK_MONOTONIC));
		if (timeout_ms >= 0 && w < 0)
			w = 0;
		int r = col_src_wait(s, STDIN_FILENO, w);
		if (r == -ECANCELED || r == 0)
			return 0;
		if (r < 0) {
			COL_STAT_ADD(s, reopen_errors, 1);
			return 0;
		}
		col_lb_compact(&in->lb);
		ssize_t n = col_lb_fill(&in->lb, STDIN_FILENO);
		if (n == 0)
			in->eof = true;
		else if (n < 0 && n != -EAGAIN)
			in->eof = true, COL_STAT_ADD(s, reopen_errors, 1);
	}
	out->lines = s->lines;
	out->n = s->nlines;
	return 0;
}

/* ---- dispatch ---- */

/* col_src_open - see col_src.h */
int col_src_open(col_src **out, const col_src_conf *conf, const col_src_resume *resume,
		 size_t nresume)
{
	col_src *s;
	const char *what;
	int err = -EINVAL, n;

	*out = NULL;
	if (!conf || (conf->max_line > COL_SRC_MAX_MAX_LINE) ||
	    conf->max_chunk > COL_SRC_MAX_MAX_LINE || conf->poll_ms < 0 ||
	    conf->max_clients > 65536)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->stopfd = -1;
	s->conf = *conf;
	if (!s->conf.max_line)
		s->conf.max_line = COL_SRC_DEF_MAX_LINE;
	if (!s->conf.max_chunk)
		s->conf.max_chunk = COL_SRC_DEF_MAX_CHUNK;
	if (!s->conf.poll_ms)
		s->conf.poll_ms = COL_SRC_DEF_POLL_MS;
	if (!s->conf.max_clients)
		s->conf.max_clients = COL_SRC_DEF_CLIENTS;
	s->conf.path = s->conf.listen = NULL;
	switch (conf->kind) {
	case COL_SRC_FILE:
	case COL_SRC_MSGTRK:
		if (!conf->path || !conf->path[0])
			goto fail;
		s->path = strdup(conf->path);
		s->conf.path = s->path;
		what = conf->kind == COL_SRC_FILE ? "file:" : "msgtrk:";
		n = snprintf(s->stream, sizeof(s->stream), "%s%s", what, conf->path);
		break;
	case COL_SRC_SYSLOG:
		if (!conf->listen || !conf->listen[0])
			goto fail;
		s->listen = strdup(conf->listen);
		s->conf.listen = s->listen;
		n = snprintf(s->stream, sizeof(s->stream), "syslog:%s", conf->listen);
		break;
	case COL_SRC_STDIN:
		n = snprintf(s->stream, sizeof(s->stream), "stdin");
		break;
	default:
		goto fail;
	}
	if (n < 0 || (size_t)n > COL_SRC_STREAM_MAX)
		goto fail;
	err = -ENOMEM;
	if ((conf->path && !s->path) || (conf->listen && !s->listen))
		goto fail;
	s->lines = malloc(COL_SRC_MAX_LINES * sizeof(*s->lines));
	if (!s->lines)
		goto fail;
	s->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stopfd < 0) {
		err = -errno;
		goto fail;
	}
	switch (conf->kind) {
	case COL_SRC_FILE:
		err = col_file_open(s, resume, nresume);
		break;
	case COL_SRC_MSGTRK:
		err = col_msgtrk_open(s, resume, nresume);
		break;
	case COL_SRC_SYSLOG:
		err = col_syslog_open(s);
		break;
	case COL_SRC_STDIN:
		err = col_stdin_open(s);
		break;
	}
	if (err < 0) {
		col_src_close(s);
		return err;
	}
	*out = s;
	return 0;
fail:
	if (s->stopfd >= 0)
		close(s->stopfd);
	free(s->lines);
	free(s->path);
	free(s->listen);
	free(s);
	return err;
}

/* col_src_read - see col_src.h */
int col_src_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	int err;

	memset(out, 0, sizeof(*out));
	out->stream = s->stream;
	out->kind = s->conf.kind;
	out->lines = s->lines;
	s->nlines = 0;
	if (col_src_is_stopped(s))
		return 0;
	switch (s->conf.kind) {
	case COL_SRC_FILE:
		err = col_file_read(s, out, timeout_ms);
		break;
	case COL_SRC_MSGTRK:
		err = col_msgtrk_read(s, out, timeout_ms);
		break;
	case COL_SRC_SYSLOG:
		err = col_syslog_read(s, out, timeout_ms);
		break;
	default:
		err = col_stdin_read(s, out, timeout_ms);
		break;
	}
	if (err == 0)
		col_src_count_lines(s);
	else
		out->n = 0;
	return err;
}

/* col_src_stop - see col_src.h */
void col_src_stop(col_src *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	__atomic_store_n(&s->stopped, 1, __ATOMIC_RELEASE);
	if (write(s->stopfd, &one, sizeof(one)) < 0) {
		/* The counter can only overflow after 2^64 stops: nothing to do. */
	}
}

/* col_src_stats_get - see col_src.h */
void col_src_stats_get(const col_src *s, col_src_stats *out)
{
	const col_src_stats *st = &s->st;

#define COL_LD(f) out->f = __atomic_load_n(&st->f, __ATOMIC_RELAXED)
	COL_LD(lines);
	COL_LD(bytes);
	COL_LD(truncated);
	COL_LD(rotations);
	COL_LD(truncations);
	COL_LD(reopen_errors);
	COL_LD(symlinks_refused);
	COL_LD(files_opened);
	COL_LD(datagrams);
	COL_LD(connections);
	COL_LD(framing_errors);
	COL_LD(clients_refused);
	COL_LD(last_read_us);
#undef COL_LD
}

/* col_src_close - see col_src.h */
void col_src_close(col_src *s)
{
	if (!s)
		return;
	switch (s->conf.kind) {
	case COL_SRC_FILE:
		col_file_close(s);
		break;
	case COL_SRC_MSGTRK:
		col_msgtrk_close(s);
		break;
	case COL_SRC_SYSLOG:
		col_syslog_close(s);
		break;
	default:
		if (s->impl) {
			col_lb_fini(&((col_stdin *)s->impl)->lb);
			free(s->impl);
		}
		break;
	}
	close(s->stopfd);
	free(s->lines);
	free(s->path);
	free(s->listen);
	free(s);
}
