/*
 * col_src_msgtrk - an Exchange message tracking directory.
 *
 * Exchange writes MSGTRK<kind><yyyymmdd[hh]>-<n>.LOG files (kind: "" for
 * the transport log, MD, MS, MA ...), starts a new one every day or when
 * one is full, and never appends to an older one again.  Every file is a
 * stream of its own ("msgtrk:" + path), read from byte 0 so that its
 * #Software/#Fields: header comes first and the parser learns the columns.
 *
 * A file is finished when a newer file of the same kind exists and it has
 * not grown for 20 polls; its unterminated last line, if any, is handed out
 * with the final chunk, which carries stream_end.  That chunk is only sent
 * once a chunk of the newer file went out, so the spool always holds a
 * position of the newest file of a kind.  After a restart, files without a
 * saved position that are older than a file of the same kind with one were
 * finished and forgotten by the spool: they are not read again.
 *
 * Files are read round robin, one chunk each, through one line buffer and
 * pread(): switching files drops a partial line, which is read again later
 * from the file's own offset.  Every name is checked with fstatat without
 * following and opened with O_NOFOLLOW: a symlink is refused and counted.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "col_src_int.h"
#include "el_log.h"

/* Files tracked at most; more are ignored (with a warning). */
#define COL_MT_MAX_FILES 4096
/* Polls without growth after which an older file counts as finished. */
#define COL_MT_FINISH_POLLS 20

enum { COL_MT_NEW, COL_MT_ACTIVE, COL_MT_DONE };

/* col_mt_file - one MSGTRK*.LOG */
typedef struct col_mt_file {
	char name[256];
	char kind[32];
	uint64_t key, seq; /* ordering within a kind */
	int state;
	int fd;
	col_fid id;
	uint64_t off;       /* consumed */
	bool skipping;      /* off is inside the dropped rest of a cut line */
	uint64_t size_seen; /* size at the last look */
	int64_t grown_ms;   /* when size_seen last changed */
	bool sent;          /* a chunk of this file went out */
	bool seen;          /* still in the directory at the last scan */
	bool refused;       /* a symlink: counted once */
	const col_src_resume *resume;
} col_mt_file;

typedef struct col_msgtrk {
	int dirfd;
	col_mt_file *f;
	size_t n, cap;
	size_t next; /* round robin */
	int64_t scanned_ms;
	bool warned_full;
	col_lb lb;
	char stream[COL_SRC_STREAM_MAX + 1];
	unsigned char pos[COL_SRC_POS_MAX];
	const col_src_resume *resume;
	size_t nresume;
} col_msgtrk;

/* col_mt_parse - kind, key and seq of a tracking log name; false if not one */
static bool col_mt_parse(const char *nm, col_mt_file *e)
{
	size_t l = strlen(nm), i = 6, k = 0;

	if (l < 10 || l >= sizeof(e->name) || strncasecmp(nm, "MSGTRK", 6) != 0 ||
	    strcasecmp(nm + l - 4, ".LOG") != 0)
		return false;
	memset(e, 0, sizeof(*e));
	while (i < l - 4 && ((nm[i] >= 'A' && nm[i] <= 'Z') || (nm[i] >= 'a' && nm[i] <= 'z')) &&
	       k + 1 < sizeof(e->kind))
		e->kind[k++] = nm[i++];
	while (i < l - 4 && nm[i] >= '0' && nm[i] <= '9' && e->key < UINT64_MAX / 100)
		e->key = e->key * 10 + (uint64_t)(nm[i++] - '0');
	if (i < l - 4 && nm[i] == '-')
		i++;
	while (i < l - 4 && nm[i] >= '0' && nm[i] <= '9' && e->seq < UINT64_MAX / 100)
		e->seq = e->seq * 10 + (uint64_t)(nm[i++] - '0');
	if (i != l - 4) {
		/* Not the usual shape: a kind of its own, never superseded. */
		snprintf(e->kind, sizeof(e->kind), "?%.*s", (int)(sizeof(e->kind) - 2), nm);
		e->key = e->seq = 0;
	}
	memcpy(e->name, nm, l + 1);
	e->fd = -1;
	return true;
}

/* col_mt_older - does a come before b in its kind */
static bool col_mt_older(const col_mt_file *a, const col_mt_file *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

/* col_mt_cmp - by kind, then age */
static int col_mt_cmp(const void *x, const void *y)
{
	const col_mt_file *a = x, *b = y;
	int c = strcmp(a->kind, b->kind);

	if (c)
		return c;
	return col_mt_older(a, b) ? -1 : col_mt_older(b, a) ? 1 : strcmp(a->name, b->name);
}

/* col_mt_stream - "msgtrk:" + dir + "/" + name into m->stream; false if too long */
static bool col_mt_stream(col_src *s, col_msgtrk *m, const col_mt_file *e)
{
	int n = snprintf(m->stream, sizeof(m->stream), "msgtrk:%s/%s", s->path, e->name);
	return n > 0 && (size_t)n <= COL_SRC_STREAM_MAX;
}

/* col_mt_newer_sent - a newer file of e's kind exists (and, if need_sent,
 * already sent a chunk) */
static bool col_mt_newer(const col_msgtrk *m, const col_mt_file *e, bool need_sent)
{
	for (size_t i = 0; i < m->n; i++) {
		const col_mt_file *o = &m->f[i];
		if (o != e && strcmp(o->kind, e->kind) == 0 && col_mt_older(e, o) &&
		    (!need_sent || o->sent))
			return true;
	}
	return false;
}

/* col_mt_find - the entry called name, or NULL */
static col_mt_file *col_mt_find(col_msgtrk *m, const char *name)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

/* col_mt_first_look - a file seen for the first time: where to begin */
static void col_mt_first_look(col_src *s, col_msgtrk *m, col_mt_file *e)
{
	col_fpos p;

	e->state = COL_MT_ACTIVE;
	e->grown_ms = el_now_ms(CLOCK_MONOTONIC);
	if (!col_mt_stream(s, m, e)) {
		el_warn("msgtrk %s: file name too long, ignored", s->path);
		e->state = COL_MT_DONE;
		return;
	}
	e->resume = col_resume_find(m->resume, m->nresume, m->stream);
	if (e->resume && col_fpos_decode(e->resume->pos, e->resume->pos_len, &p) == 0) {
		e->id = p.id; /* checked against the file when it is opened */
		e->off = p.off;
		e->skipping = p.skipping;
		e->sent = true;
		return;
	}
	e->resume = NULL;
}

/* col_mt_forgotten - after a restart: older than a resumed file of its kind */
static bool col_mt_forgotten(const col_msgtrk *m, const col_mt_file *e)
{
	if (e->resume)
		return false;
	for (size_t i = 0; i < m->n; i++) {
		const col_mt_file *o = &m->f[i];
		if (o->resume && strcmp(o->kind, e->kind) == 0 && col_mt_older(e, o))
			return true;
	}
	return false;
}

/* col_mt_scan - look at the directory: new files, vanished files */
static void col_mt_scan(col_src *s, col_msgtrk *m, bool first)
{
	struct dirent *de;
	DIR *d;
	int fd;
	size_t i;
	bool changed = first;

	if (m->dirfd < 0) {
		m->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (m->dirfd < 0)
			return;
	}
	fd = openat(m->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		COL_STAT_ADD(s, reopen_errors, 1);
		return;
	}
	for (i = 0; i < m->n; i++)
		m->f[i].seen = false;
	while ((de = readdir(d)) != NULL) {
		col_mt_file e, *old;
		struct stat st;

		if (!col_mt_parse(de->d_name, &e))
			continue;
		old = col_mt_find(m, e.name);
		if (old) {
			old->seen = true;
			continue;
		}
		if (fstatat(m->dirfd, e.name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(st.st_mode)) {
			/* Tracked as done, so a symlink is counted once. */
			e.state = COL_MT_DONE;
			e.refused = S_ISLNK(st.st_mode);
			if (e.refused) {
				COL_STAT_ADD(s, symlinks_refused, 1);
				el_warn("msgtrk %s: %s is a symlink; refused", s->path, e.name);
			}
		}
		if (m->n == COL_MT_MAX_FILES) {
			if (!m->warned_full)
				el_warn("msgtrk %s: more than %d files, some ignored", s->path,
					COL_MT_MAX_FILES);
			m->warned_full = true;
			continue;
		}
		if (m->n == m->cap) {
			size_t nc = m->cap ? m->cap * 2 : 64;
			col_mt_file *nf = realloc(m->f, nc * sizeof(*nf));
			if (!nf)
				break;
			m->f = nf;
			m->cap = nc;
		}
		e.seen = true;
		m->f[m->n++] = e;
		changed = true;
	}
	closedir(d);
	/* Forget files that left the directory (deleted by Exchange's retention). */
	for (i = 0; i < m->n;) {
		if (!m->f[i].seen) {
			if (m->f[i].fd >= 0)
				close(m->f[i].fd);
			m->f[i] = m->f[--m->n];
			changed = true;
			continue;
		}
		i++;
	}
	if (changed) {
		qsort(m->f, m->n, sizeof(*m->f), col_mt_cmp);
		for (i = 0; i < m->n; i++)
			if (m->f[i].state == COL_MT_NEW)
				col_mt_first_look(s, m, &m->f[i]);
		if (first)
			for (i = 0; i < m->n; i++)
				if (m->f[i].state == COL_MT_ACTIVE && col_mt_forgotten(m, &m->f[i]))
					m->f[i].state = COL_MT_DONE;
	}
}

/* col_msgtrk_open - see col_src_int.h */
int col_msgtrk_open(col_src *s, const col_src_resume *resume, size_t nresume)
{
	col_msgtrk *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return -ENOMEM;
	s->impl = m;
	m->dirfd = open(s->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0 && (errno == EACCES || errno == ENOTDIR))
		return -errno;
	err = col_lb_init(&m->lb, s->conf.max_line, s->conf.max_chunk);
	if (err < 0)
		return err;
	m->resume = resume;
	m->nresume = nresume;
	col_mt_scan(s, m, true);
	/* The resume array is the caller's: drop every reference to it. */
	for (size_t i = 0; i < m->n; i++)
		m->f[i].resume = NULL;
	m->resume = NULL;
	m->nresume = 0;
	m->scanned_ms = el_now_ms(CLOCK_MONOTONIC);
	return 0;
}

/* col_mt_open_file - open e (checking a resumed identity) */
static bool col_mt_open_file(col_src *s, col_msgtrk *m, col_mt_file *e)
{
	int fd = col_file_openat(s, m->dirfd, e->name);

	if (fd < 0) {
		if (fd == -ELOOP)
			e->state = COL_MT_DONE;
		return false;
	}
	if (e->off > 0 || e->skipping) {
		if (!col_fid_match(fd, &e->id)) {
			/* Not the file the position was about: read it all. */
			el_warn("msgtrk %s: %s was replaced; reading it from the start", s->path,
				e->name);
			COL_STAT_ADD(s, rotations, 1);
			e->off = 0;
			e->skipping = false;
		}
	}
	col_fid_get(fd, &e->id);
	e->fd = fd;
	return true;
}

/* col_mt_chunk - the chunk's stream and position for e */
static void col_mt_mark(col_src *s, col_msgtrk *m, col_mt_file *e, col_src_chunk *out)
{
	col_fpos p = { .id = e->id, .off = e->off, .skipping = e->skipping };

	col_mt_stream(s, m, e);
	out->stream = m->stream;
	out->pos = m->pos;
	out->pos_len = col_fpos_encode(&p, m->pos);
	out->lines = s->lines;
	out->n = s->nlines;
	e->sent = true;
}

/* col_mt_try - lines of one file into out: 1 with a chunk, 0 with nothing */
static int col_mt_try(col_src *s, col_msgtrk *m, col_mt_file *e, col_src_chunk *out)
{
	col_lb *b = &m->lb;
	struct stat st;

	if (e->fd < 0 && !col_mt_open_file(s, m, e))
		return 0;
	col_lb_reset(b, e->off);
	b->skipping = e->skipping;
	for (;;) {
		ssize_t n;

		if (col_lb_lines(s, b, s->conf.max_chunk) > 0)
			break;
		col_lb_compact(b);
		do {
			n = pread(e->fd, b->buf + b->end, b->cap - b->end,
				  (off_t)(b->base + b->end));
		} while (n < 0 && errno == EINTR);
		if (n > 0) {
			b->end += (size_t)n;
			col_fid_refresh(e->fd, &e->id, b->base + b->end);
			continue;
		}
		if (n < 0)
			COL_STAT_ADD(s, reopen_errors, 1);
		/* At the end: has it grown lately, is it superseded? */
		if (fstat(e->fd, &st) == 0 && (uint64_t)st.st_size != e->size_seen) {
			e->size_seen = (uint64_t)st.st_size;
			e->grown_ms = el_now_ms(CLOCK_MONOTONIC);
		}
		if (el_now_ms(CLOCK_MONOTONIC) - e->grown_ms >=
			    COL_MT_FINISH_POLLS * (int64_t)s->conf.poll_ms &&
		    col_mt_newer(m, e, true)) {
			col_lb_rest(s, b);
			e->off = col_lb_pos(b);
			e->skipping = false;
			col_mt_mark(s, m, e, out);
			out->stream_end = 1;
			close(e->fd);
			e->fd = -1;
			e->state = COL_MT_DONE;
			return 1;
		}
		e->off = col_lb_pos(b); /* skipped bytes of a cut line stay skipped */
		e->skipping = b->skipping;
		return 0;
	}
	e->off = col_lb_pos(b);
	e->skipping = b->skipping;
	col_mt_mark(s, m, e, out);
	return 1;
}

/* col_mt_step - one chunk from the next file that has one */
static int col_mt_step(col_src *s, col_src_chunk *out)
{
	col_msgtrk *m = s->impl;
	int64_t now = el_now_ms(CLOCK_MONOTONIC);

	if (now - m->scanned_ms >= s->conf.poll_ms) {
		col_mt_scan(s, m, false);
		m->scanned_ms = now;
	}
	for (size_t k = 0; k < m->n; k++) {
		size_t i = (m->next + k) % m->n;
		col_mt_file *e = &m->f[i];
		if (e->state != COL_MT_ACTIVE)
			continue;
		if (col_mt_try(s, m, e, out)) {
			m->next = i + 1;
			return 1;
		}
	}
	return 0;
}

/* col_msgtrk_read - see col_src_int.h */
int col_msgtrk_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	return col_src_poll(s, out, timeout_ms, col_mt_step);
}

/* col_msgtrk_close - see col_src_int.h */
void col_msgtrk_close(col_src *s)
{
	col_msgtrk *m = s->impl;

	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (m->f[i].fd >= 0)
			close(m->f[i].fd);
	if (m->dirfd >= 0)
		close(m->dirfd);
	col_lb_fini(&m->lb);
	free(m->f);
	free(m);
}
