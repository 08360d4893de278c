/*
 * col_src_syslog - syslog listeners, so that an rsyslog omfwd action (or
 * syslog-ng, or logger --server) can point at the collector unchanged:
 *
 *   unix:/path           unix datagram socket (like /dev/log)
 *   udp://ADDR:PORT      one message per datagram
 *   tcp://ADDR:PORT      RFC 6587 octet counting or newline framing, chosen
 *                        per connection by its first byte (col_src_frame)
 *
 * ADDR is a numeric IPv4 address, [IPv6] in brackets, or * for all.  A
 * message is shipped as received: the framing and trailing CR/LF bytes are
 * removed, nothing else (RFC 3164 and RFC 5424 alike; the backend's parser
 * reads both).  A datagram or frame longer than max_line is cut there
 * (stats.truncated); the rest is dropped.  At most max_clients TCP
 * connections are served; more are accepted and closed at once
 * (stats.clients_refused), so a flood cannot exhaust descriptors.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "col_src_frame.h"
#include "col_src_int.h"
#include "el_buf.h"
#include "el_log.h"

#define COL_SYS_RBUF (16 * 1024)

enum { COL_SYS_UNIX, COL_SYS_UDP, COL_SYS_TCP };

/* col_conn - one TCP client */
typedef struct col_conn {
	int fd;
	col_frame fr;
	char *rbuf;
	size_t start, end; /* bytes read but not fed yet */
	bool eof;
} col_conn;

typedef struct col_syslog {
	int type;
	int fd; /* the datagram socket or the TCP listener */
	char *unix_path;
	col_conn *conns;
	size_t nconns;
	size_t rr; /* round robin start among clients */
	struct pollfd *pfd;
	char *dgram;  /* receive buffer, max_line bytes */
	el_buf out;   /* the chunk's text */
	el_buf carry; /* a message that did not fit the last chunk */
	bool have_carry;
	int64_t accept_pause_until; /* out of descriptors: stop accepting a while */
	size_t *offs;
	col_src *s;
} col_syslog;

/* col_sys_full - the chunk has no room for more */
static bool col_sys_full(const col_src *s, const col_syslog *y)
{
	return y->have_carry || s->nlines >= COL_SRC_MAX_LINES || y->out.len >= s->conf.max_chunk;
}

/* col_sys_emit - one message into the chunk; non-zero when the chunk is full */
static int col_sys_emit(void *ctx, const char *p, size_t len, bool cut)
{
	col_syslog *y = ctx;
	col_src *s = y->s;

	if (cut)
		COL_STAT_ADD(s, truncated, 1);
	while (len && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 0;
	if (s->nlines > 0 && y->out.len + len > s->conf.max_chunk) {
		/* Taken from the stream already: it opens the next chunk. */
		y->carry.len = 0;
		el_buf_add(&y->carry, p, len);
		y->have_carry = true;
		return 1;
	}
	y->offs[s->nlines] = y->out.len;
	s->lines[s->nlines].len = len;
	s->nlines++;
	el_buf_add(&y->out, p, len);
	return col_sys_full(s, y);
}

/* col_sys_addr - split "HOST:PORT" / "[V6]:PORT" / "*:PORT" and resolve numerically */
static int col_sys_addr(const char *a, int socktype, struct addrinfo **res)
{
	char host[256], port[8];
	const char *colon;
	size_t hl;
	struct addrinfo hints;

	if (a[0] == '[') {
		const char *rb = strchr(a, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - a - 1);
		memcpy(host, a + 1, hl < sizeof(host) ? hl : 0);
		colon = rb + 1;
	} else {
		colon = strrchr(a, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - a);
		memcpy(host, a, hl < sizeof(host) ? hl : 0);
	}
	if (hl >= sizeof(host) || strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(port))
		return -EINVAL;
	host[hl] = 0;
	snprintf(port, sizeof(port), "%s", colon + 1);
	for (const char *q = port; *q; q++)
		if (*q < '0' || *q > '9')
			return -EINVAL;
	unsigned long pn = strtoul(port, NULL, 10);
	if (pn < 1 || pn > 65535)
		return -EINVAL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(hl == 0 || strcmp(host, "*") == 0 ? NULL : host, port, &hints, res) != 0)
		return -EINVAL;
	return 0;
}

/* col_sys_inet - bind a UDP socket or a TCP listener */
static int col_sys_inet(col_syslog *y, const char *a, int socktype)
{
	struct addrinfo *res = NULL;
	int err = col_sys_addr(a, socktype, &res), one = 1, fd;

	if (err < 0)
		return err;
	fd = socket(res->ai_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (socktype == SOCK_DGRAM) {
		int rcv = 4 * 1024 * 1024; /* absorb bursts; the kernel caps it */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	}
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 ||
	    (socktype == SOCK_STREAM && listen(fd, 128) < 0)) {
		err = -errno;
		close(fd);
		goto out;
	}
	y->fd = fd;
out:
	freeaddrinfo(res);
	return err;
}

/* col_sys_unix - bind a unix datagram socket; a stale socket file is replaced */
static int col_sys_unix(col_syslog *y, const char *path)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (strlen(path) == 0 || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST; /* never remove something that is not a socket */
		unlink(path);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	y->unix_path = strdup(path);
	y->fd = fd;
	return y->unix_path ? 0 : -ENOMEM;
}

/* col_syslog_open - see col_src_int.h */
int col_syslog_open(col_src *s)
{
	col_syslog *y = calloc(1, sizeof(*y));
	const char *l = s->listen;
	int err;

	if (!y)
		return -ENOMEM;
	s->impl = y;
	y->s = s;
	y->fd = -1;
	el_buf_init(&y->out);
	el_buf_init(&y->carry);
	y->offs = malloc(COL_SRC_MAX_LINES * sizeof(*y->offs));
	y->dgram = malloc(s->conf.max_line);
	y->pfd = calloc(s->conf.max_clients + 2, sizeof(*y->pfd));
	y->conns = calloc(s->conf.max_clients, sizeof(*y->conns));
	if (!y->offs || !y->dgram || !y->pfd || !y->conns)
		return -ENOMEM;
	if (strncmp(l, "unix:", 5) == 0) {
		y->type = COL_SYS_UNIX;
		err = col_sys_unix(y, l + 5);
	} else if (strncmp(l, "udp://", 6) == 0) {
		y->type = COL_SYS_UDP;
		err = col_sys_inet(y, l + 6, SOCK_DGRAM);
	} else if (strncmp(l, "tcp://", 6) == 0) {
		y->type = COL_SYS_TCP;
		err = col_sys_inet(y, l + 6, SOCK_STREAM);
	} else {
		err = -EINVAL;
	}
	if (err < 0)
		el_warn("%s: cannot listen: %s", s->stream, strerror(-err));
	return err;
}

/* col_sys_dgrams - receive datagrams until none is left or the chunk is full */
static void col_sys_dgrams(col_src *s, col_syslog *y)
{
	while (!col_sys_full(s, y)) {
		ssize_t n = recv(y->fd, y->dgram, s->conf.max_line, MSG_TRUNC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				COL_STAT_ADD(s, framing_errors, 1);
			return;
		}
		COL_STAT_ADD(s, datagrams, 1);
		bool cut = (size_t)n > s->conf.max_line;
		col_sys_emit(y, y->dgram, cut ? s->conf.max_line : (size_t)n, cut);
	}
}

/* col_sys_drop - close client i (the last one takes its place) */
static void col_sys_drop(col_syslog *y, size_t i)
{
	col_conn *c = &y->conns[i];

	close(c->fd);
	col_frame_fini(&c->fr);
	free(c->rbuf);
	y->conns[i] = y->conns[--y->nconns];
}

/* col_sys_accept - new clients, within the bound */
static void col_sys_accept(col_src *s, col_syslog *y)
{
	for (;;) {
		int fd = accept4(y->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The connection stays queued; polling the listener
				   now would only spin. */
				y->accept_pause_until = el_now_ms(CLOCK_MONOTONIC) + 100;
				COL_STAT_ADD(s, clients_refused, 1);
			}
			return;
		}
		if (y->nconns >= s->conf.max_clients) {
			close(fd);
			COL_STAT_ADD(s, clients_refused, 1);
			continue;
		}
		col_conn *c = &y->conns[y->nconns];
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->rbuf = malloc(COL_SYS_RBUF);
		if (!c->rbuf || col_frame_init(&c->fr, s->conf.max_line) < 0) {
			free(c->rbuf);
			close(fd);
			COL_STAT_ADD(s, clients_refused, 1);
			continue;
		}
		y->nconns++;
		COL_STAT_ADD(s, connections, 1);
	}
}

/* col_sys_conn - feed what client c has; false when it must be closed */
static bool col_sys_conn(col_src *s, col_syslog *y, col_conn *c, bool readable)
{
	for (;;) {
		if (c->start < c->end) {
			ssize_t k = col_frame_feed(&c->fr, c->rbuf + c->start, c->end - c->start,
						   col_sys_emit, y);
			if (k < 0) {
				COL_STAT_ADD(s, framing_errors, 1);
				return false;
			}
			c->start += (size_t)k;
			if (c->start < c->end)
				return true; /* chunk full: the rest waits */
		}
		c->start = c->end = 0;
		if (c->eof) {
			col_frame_eof(&c->fr, col_sys_emit, y);
			return false;
		}
		if (!readable || col_sys_full(s, y))
			return true;
		ssize_t n = recv(c->fd, c->rbuf, COL_SYS_RBUF, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return true;
		if (n < 0)
			n = 0; /* a reset ends the stream as a close does: keep its last message */
		if (n == 0)
			c->eof = true;
		c->end = (size_t)n;
		readable = n > 0; /* one more recv may find more */
	}
}

/* col_sys_pending - feed clients that still hold bytes from last time */
static void col_sys_pending(col_src *s, col_syslog *y)
{
	for (size_t i = 0; i < y->nconns && !col_sys_full(s, y);) {
		col_conn *c = &y->conns[i];
		if ((c->start < c->end || c->eof) && !col_sys_conn(s, y, c, false)) {
			col_sys_drop(y, i);
			continue;
		}
		i++;
	}
}

/* col_syslog_read - see col_src_int.h */
int col_syslog_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	col_syslog *y = s->impl;
	int64_t deadline = el_now_ms(CLOCK_MONOTONIC) + timeout_ms;

	y->out.len = 0;
	if (y->have_carry) {
		y->have_carry = false;
		col_sys_emit(y, y->carry.p, y->carry.len, false);
	}
	for (;;) {
		size_t n = 0, i;
		int w = -1, r;

		if (y->type == COL_SYS_TCP)
			col_sys_pending(s, y);
		if (s->nlines > 0)
			break;
		if (timeout_ms >= 0) {
			int64_t left = deadline - el_now_ms(CLOCK_MONOTONIC);
			w = left > 0 ? (int)left : 0;
		}
		y->pfd[n].fd = s->stopfd;
		y->pfd[n++].events = POLLIN;
		y->pfd[n].fd = y->fd;
		y->pfd[n++].events = POLLIN;
		if (y->accept_pause_until) {
			int64_t left = y->accept_pause_until - el_now_ms(CLOCK_MONOTONIC);
			if (left > 0) {
				y->pfd[1].events = 0;
				if (w < 0 || w > left)
					w = (int)left;
			} else {
				y->accept_pause_until = 0;
			}
		}
		for (i = 0; i < y->nconns; i++) {
			y->pfd[n].fd = y->conns[i].fd;
			y->pfd[n++].events = POLLIN;
		}
		r = poll(y->pfd, (nfds_t)n, w);
		if (r < 0 && errno != EINTR)
			return 0;
		if (col_src_is_stopped(s))
			return 0;
		if (r <= 0) {
			if (w == 0)
				return 0;
			continue;
		}
		size_t nc = n - 2; /* clients polled; accept may add more below */
		if (y->pfd[1].revents) {
			if (y->type == COL_SYS_TCP)
				col_sys_accept(s, y);
			else
				col_sys_dgrams(s, y);
		}
		/* Clients in turn, from a rotating start, until the chunk is full. */
		size_t start = nc ? y->rr++ % nc : 0;
		bool *drop = NULL;
		for (size_t k = 0; k < nc && !col_sys_full(s, y); k++) {
			size_t j = (start + k) % nc;
			if (!y->pfd[2 + j].revents)
				continue;
			if (!col_sys_conn(s, y, &y->conns[j], true)) {
				if (!drop)
					drop = calloc(nc, sizeof(*drop));
				if (drop)
					drop[j] = true;
				else
					y->conns[j].eof = true; /* closed on the next pass */
			}
		}
		for (size_t j = nc; drop && j-- > 0;)
			if (drop[j])
				col_sys_drop(y, j); /* from the end: moves keep indexes valid */
		free(drop);
		if (s->nlines > 0)
			break;
	}
	for (size_t i = 0; i < s->nlines; i++)
		s->lines[i].p = y->out.p + y->offs[i];
	out->lines = s->lines;
	out->n = s->nlines;
	return 0;
}

/* col_syslog_close - see col_src_int.h */
void col_syslog_close(col_src *s)
{
	col_syslog *y = s->impl;

	if (!y)
		return;
	while (y->nconns > 0)
		col_sys_drop(y, y->nconns - 1);
	if (y->fd >= 0)
		close(y->fd);
	if (y->unix_path)
		unlink(y->unix_path);
	free(y->unix_path);
	free(y->conns);
	free(y->pfd);
	free(y->dgram);
	free(y->offs);
	el_buf_fini(&y->out);
	el_buf_fini(&y->carry);
	free(y);
}
