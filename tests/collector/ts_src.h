/*
 * ts_src - helpers for the col_src tests: scratch directories, files written
 * the way loggers and logrotate write them, and a collector of chunks.
 */
#ifndef TS_SRC_H
#define TS_SRC_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "col_src.h"

/* ts_got - every line read so far (copied) and the last position */
typedef struct ts_got {
	char **line;
	size_t *len;
	size_t n, cap;
	unsigned char pos[COL_SRC_POS_MAX];
	size_t pos_len;
	char stream[COL_SRC_STREAM_MAX + 1];
	int ends; /* chunks with stream_end */
} ts_got;

static inline void ts_got_add(ts_got *g, const char *p, size_t len)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? g->cap * 2 : 64;
		g->line = realloc(g->line, g->cap * sizeof(*g->line));
		g->len = realloc(g->len, g->cap * sizeof(*g->len));
		cr_assert(g->line && g->len);
	}
	g->line[g->n] = malloc(len + 1);
	cr_assert(g->line[g->n]);
	memcpy(g->line[g->n], p, len);
	g->line[g->n][len] = 0;
	g->len[g->n++] = len;
}

static inline void ts_got_free(ts_got *g)
{
	for (size_t i = 0; i < g->n; i++)
		free(g->line[i]);
	free(g->line);
	free(g->len);
	memset(g, 0, sizeof(*g));
}

/* ts_take - record one chunk */
static inline void ts_take(ts_got *g, const col_src_chunk *c)
{
	for (size_t i = 0; i < c->n; i++)
		ts_got_add(g, c->lines[i].p, c->lines[i].len);
	if (c->n || c->stream_end) {
		cr_assert(c->pos_len <= COL_SRC_POS_MAX);
		if (c->pos_len)
			memcpy(g->pos, c->pos, c->pos_len);
		g->pos_len = c->pos_len;
		snprintf(g->stream, sizeof(g->stream), "%s", c->stream);
	}
	if (c->stream_end)
		g->ends++;
}

/* ts_read_until - read until g holds want lines or ms pass; returns lines held */
static inline size_t ts_read_until(col_src *s, ts_got *g, size_t want, int ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (g->n < want) {
		col_src_chunk c;
		int r = col_src_read(s, &c, 50);
		cr_assert(r == 0 || r == -ENODATA, "col_src_read: %d", r);
		ts_take(g, &c);
		if (r == -ENODATA)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			break;
	}
	return g->n;
}

/* ts_quiet - read for ms and expect no line at all */
static inline void ts_quiet(col_src *s, ts_got *g, int ms)
{
	size_t before = g->n;

	ts_read_until(s, g, (size_t)-1, ms);
	cr_assert_eq(g->n, before, "unexpected line: %s", g->n > before ? g->line[before] : "");
}

/* ts_expect - the lines from index from on are exactly want[] */
static inline void ts_expect(const ts_got *g, size_t from, const char *const *want, size_t n)
{
	cr_assert_eq(g->n - from, n, "got %zu lines, want %zu", g->n - from, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(g->line[from + i], want[i], "line %zu", from + i);
}

static inline int ts_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

/* ts_dir - a fresh scratch directory (removed by ts_rmdir) */
static inline char *ts_dir(void)
{
	char *d = strdup("/tmp/col_src_test.XXXXXX");
	cr_assert(d && mkdtemp(d));
	return d;
}

static inline void ts_rmdir(char *d)
{
	nftw(d, ts_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

/* ts_path - dir/name in a static-free buffer the caller frees */
static inline char *ts_path(const char *dir, const char *name)
{
	char *p;
	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* ts_append - append bytes as a logger does (O_APPEND) */
static inline void ts_append(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static inline void ts_appends(const char *path, const char *s)
{
	ts_append(path, s, strlen(s));
}

/* ts_file_src - a file source with a short poll */
static inline col_src *ts_file_src(const char *path, const col_src_resume *r, size_t nr,
				   int backfill)
{
	col_src_conf c = {
		.kind = COL_SRC_FILE, .path = path, .poll_ms = 10, .backfill = backfill
	};
	col_src *s = NULL;

	cr_assert_eq(col_src_open(&s, &c, r, nr), 0);
	return s;
}

/* ts_stats - counters now */
static inline col_src_stats ts_stats(col_src *s)
{
	col_src_stats st;
	col_src_stats_get(s, &st);
	return st;
}

#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* ts_port - a port of this worktree's test range (31000-31999) */
static inline int ts_port(int k)
{
	return 31000 + k;
}

/* ts_syslog_src - a syslog listener */
static inline col_src *ts_syslog_src(const char *listen, size_t max_line, size_t max_clients)
{
	col_src_conf c = { .kind = COL_SRC_SYSLOG,
			   .listen = listen,
			   .max_line = max_line,
			   .max_clients = max_clients };
	col_src *s = NULL;
	int r = col_src_open(&s, &c, NULL, 0);

	cr_assert_eq(r, 0, "open %s: %s", listen, strerror(-r));
	return s;
}

/* ts_tcp - a client connected to 127.0.0.1:port */
static inline int ts_tcp(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

/* ts_send - all of n bytes on a stream socket */
static inline void ts_send(int fd, const void *p, size_t n)
{
	cr_assert_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* ts_udp - one datagram to 127.0.0.1:port */
static inline void ts_udp(int port, const void *p, size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert_eq(sendto(fd, p, n, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)n);
	close(fd);
}

/* ts_unix_dgram - one datagram to a unix socket */
static inline void ts_unix_dgram(const char *path, const void *p, size_t n)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	cr_assert(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	cr_assert_eq(sendto(fd, p, n, 0, (struct sockaddr *)&sa, sizeof(sa)), (ssize_t)n);
	close(fd);
}
