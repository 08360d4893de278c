/*
 * col_src_file - follow one log file (mail.log) through rotation.
 *
 * The file is opened through a descriptor of its directory with O_NOFOLLOW,
 * so neither the path's last component being swapped for a symlink nor a
 * later rename of the parent leads the reader elsewhere.  What is read is
 * always a descriptor; the path is only looked at (fstatat without
 * following) to notice that it now names another file:
 *
 *   - rotation by rename: the path names a new inode.  The old descriptor is
 *     read to its end, and once it has stayed quiet for COL_FILE_GRACE_POLLS
 *     polls (a writer that has not reopened yet still appends to it), the
 *     files rotated in between, if any, and then the new file are read from
 *     offset 0.  An unterminated last line of the old file is then
 *     handed out as it is: nothing can complete it any more.
 *   - copytruncate and truncation: the file got shorter than what was read;
 *     it is read again from 0 (counted in truncations).
 *   - the path is missing: the reader waits for it (files that appear later).
 *   - the path is a symlink: refused and counted once per symlink, never read.
 *
 * Rotated siblings are "BASE.N" and "BASE.N.gz" (logrotate's numbered
 * scheme; N = 1 is the newest).  They are read on a first start with
 * backfill, and on a resume whose file is no longer at the path: the old
 * inode is looked for among them, finished from the saved offset, then the
 * newer siblings and the live file are read.  Every descriptor needed is
 * opened at col_src_open() time, so a rotation during that catch-up cannot
 * move a file away from under the reader.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "col_src_gz.h"
#include "col_src_int.h"
#include "el_log.h"

/* Polls the old file must stay quiet after a rotation before we switch. */
#define COL_FILE_GRACE_POLLS 10
/* Rotated siblings read at most (more are ignored, with a warning). */
#define COL_FILE_MAX_ROT 64

/* col_fin - one open input */
typedef struct col_fin {
	int fd;
	col_gz *gz;
	col_fid id;
	uint64_t start; /* offset to begin at */
	bool skipping;  /* begin inside the rest of a cut line */
	char name[64];  /* for messages: "BASE.3.gz" is enough */
} col_fin;

typedef struct col_file {
	int dirfd;
	char *dir, *base;
	col_lb lb;
	col_fin cur; /* cur.fd < 0: none */
	bool cur_live;
	col_fin pend[COL_FILE_MAX_ROT]; /* oldest first */
	size_t npend, ipend;
	col_fin live; /* pinned at open, taken after the pending ones */
	int64_t rot_seen_ms;
	uint64_t refused_ino;
	bool open_failed; /* the file at the path cannot be opened: warned, counted */
	unsigned char pos[COL_SRC_POS_MAX];
} col_file;

/* ---- inputs ---- */

/* col_fin_init - no input */
static void col_fin_init(col_fin *in)
{
	memset(in, 0, sizeof(*in));
	in->fd = -1;
}

/* col_fin_close - close whatever the input holds */
static void col_fin_close(col_fin *in)
{
	if (in->gz)
		col_gz_close(in->gz); /* closes the fd too */
	else if (in->fd >= 0)
		close(in->fd);
	col_fin_init(in);
}

/* col_fin_open - open name under dirfd; gz names are decompressed */
static int col_fin_open(col_src *s, int dirfd, const char *name, col_fin *in)
{
	size_t nl = strlen(name);
	int fd, err;

	col_fin_init(in);
	fd = col_file_openat(s, dirfd, name);
	if (fd < 0)
		return fd;
	err = col_fid_get(fd, &in->id);
	if (err == 0 && nl > 3 && strcmp(name + nl - 3, ".gz") == 0)
		err = col_gz_open(&in->gz, fd);
	if (err < 0) {
		close(fd);
		return err;
	}
	in->fd = fd;
	snprintf(in->name, sizeof(in->name), "%s", name);
	return 0;
}

/*
 * col_file_open_live - open the file now at the path.  A failure other than
 * "gone again" (a rotation race) is warned and counted once until an open
 * succeeds: typically a new file this user may not read (EACCES after
 * dropping privileges without the log's group).  Polling goes on.
 */
static int col_file_open_live(col_src *s, col_file *f, col_fin *in)
{
	int err = col_fin_open(s, f->dirfd, f->base, in);

	if (err < 0 && err != -ENOENT && !f->open_failed) {
		el_warn("%s: cannot open %s: %s (retrying every poll)", s->stream, f->base,
			strerror(-err));
		COL_STAT_ADD(s, reopen_errors, 1);
		f->open_failed = true;
	} else if (err == 0) {
		f->open_failed = false;
	}
	return err;
}

/* col_fin_skip - move a fresh input to in->start (decompressing a gz) */
static int col_fin_seek(col_fin *in)
{
	char tmp[16384];
	uint64_t left = in->start;

	if (!in->gz)
		return lseek(in->fd, (off_t)in->start, SEEK_SET) < 0 ? -errno : 0;
	while (left > 0) {
		ssize_t n = col_gz_read(in->gz, tmp, left < sizeof(tmp) ? left : sizeof(tmp));
		if (n <= 0)
			return n < 0 ? (int)n : -EIO;
		left -= (uint64_t)n;
	}
	return 0;
}

/* col_fin_fill - read more of the input into the line buffer */
static ssize_t col_fin_fill(col_fin *in, col_lb *b)
{
	ssize_t n;

	if (!in->gz) {
		n = col_lb_fill(b, in->fd);
		if (n > 0)
			col_fid_refresh(in->fd, &in->id, b->base + b->end);
		return n;
	}
	if (b->end == b->cap)
		return -ENOBUFS;
	n = col_gz_read(in->gz, b->buf + b->end, b->cap - b->end);
	if (n > 0)
		b->end += (size_t)n;
	return n;
}

/* ---- rotated siblings ---- */

typedef struct col_sib {
	unsigned n;
	bool gz;
	char name[256];
} col_sib;

/* col_sib_cmp - oldest (largest N) first */
static int col_sib_cmp(const void *a, const void *b)
{
	const col_sib *x = a, *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* col_sib_list - BASE.N and BASE.N.gz in dirfd, oldest first */
static size_t col_sib_list(col_file *f, col_sib *out, size_t max)
{
	size_t bl = strlen(f->base), n = 0;
	struct dirent *de;
	DIR *d;
	int fd = openat(f->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		const char *nm = de->d_name;
		size_t l = strlen(nm), i = bl + 1;
		unsigned v = 0;
		bool gz = false;

		if (l <= bl + 1 || l >= sizeof(out->name) || memcmp(nm, f->base, bl) != 0 ||
		    nm[bl] != '.')
			continue;
		while (i < l && nm[i] >= '0' && nm[i] <= '9' && v < 100000)
			v = v * 10 + (unsigned)(nm[i++] - '0');
		if (i == bl + 1 || v == 0 || v >= 100000)
			continue;
		if (i + 3 == l && memcmp(nm + i, ".gz", 3) == 0)
			gz = true;
		else if (i != l)
			continue;
		if (n == max) {
			el_warn("file %s: more than %zu rotated files, the oldest are ignored",
				f->base, max);
			qsort(out, n, sizeof(*out), col_sib_cmp);
			if (v >= out[0].n)
				continue;
			n--; /* drop the oldest; keep the newer one found now */
			memmove(out, out + 1, n * sizeof(*out));
		}
		out[n].n = v;
		out[n].gz = gz;
		memcpy(out[n].name, nm, l + 1);
		n++;
	}
	closedir(d);
	qsort(out, n, sizeof(*out), col_sib_cmp);
	return n;
}

/* col_file_queue - open siblings from index i on as pending inputs */
static void col_file_queue(col_src *s, col_file *f, col_sib *sib, size_t i, size_t nsib)
{
	for (; i < nsib && f->npend < COL_FILE_MAX_ROT; i++) {
		col_fin *in = &f->pend[f->npend];
		if (col_fin_open(s, f->dirfd, sib[i].name, in) == 0)
			f->npend++;
		else
			COL_STAT_ADD(s, reopen_errors, 1);
	}
}

/*
 * col_file_gz_is - is the compressed sibling name the file p was in?  Its
 * inode is new (gzip wrote a new file), but it starts with the same bytes:
 * compare the fingerprint of its first decompressed bytes.  Only a full
 * fingerprint counts, a short one says too little.
 */
static bool col_file_gz_is(col_src *s, col_file *f, const char *name, const col_fpos *p)
{
	unsigned char b[COL_FP_MAX];
	size_t got = 0;
	col_fin in;

	if (p->gz || p->id.fplen != COL_FP_MAX || col_fin_open(s, f->dirfd, name, &in) < 0)
		return false;
	while (got < COL_FP_MAX) {
		ssize_t n = col_gz_read(in.gz, b + got, COL_FP_MAX - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	col_fin_close(&in);
	return got == COL_FP_MAX && col_fnv(b, got) == p->id.fphash;
}

/*
 * col_file_chase - find the file p names among the rotated siblings and queue
 * what comes after it: the file itself from p's offset (if with_self), then
 * every newer sibling.  The file is found by inode and fingerprint, or, once
 * logrotate compressed it, by the fingerprint of its decompressed start.
 * False if it is not there.
 */
static bool col_file_chase(col_src *s, col_file *f, const col_fpos *p, bool with_self)
{
	col_sib *sib = calloc(COL_FILE_MAX_ROT, sizeof(*sib));
	size_t nsib, i;

	if (!sib)
		return false;
	nsib = col_sib_list(f, sib, COL_FILE_MAX_ROT);
	for (i = 0; i < nsib; i++) {
		col_fin in;
		if (sib[i].gz != p->gz) {
			/* A plain file compressed since: same bytes, new inode. */
			if (!sib[i].gz || !col_file_gz_is(s, f, sib[i].name, p))
				continue;
			if (col_fin_open(s, f->dirfd, sib[i].name, &in) < 0)
				continue;
		} else {
			if (col_fin_open(s, f->dirfd, sib[i].name, &in) < 0)
				continue;
			if (!col_fid_match(in.fd, &p->id)) {
				col_fin_close(&in);
				continue;
			}
		}
		if (with_self) {
			in.start = p->off;
			in.skipping = p->skipping;
			f->pend[f->npend++] = in;
		} else {
			col_fin_close(&in);
		}
		col_file_queue(s, f, sib, i + 1, nsib);
		free(sib);
		return true;
	}
	free(sib);
	return false;
}

/* col_file_resume - place the reader where the saved position says */
static void col_file_resume(col_src *s, col_file *f, const col_fpos *p)
{
	if (!p->gz && f->live.fd >= 0 && col_fid_match(f->live.fd, &p->id)) {
		struct stat st;
		if (fstat(f->live.fd, &st) == 0 && (uint64_t)st.st_size < p->off) {
			/* Truncated while we were stopped. */
			COL_STAT_ADD(s, truncations, 1);
			return;
		}
		f->live.start = p->off;
		f->live.skipping = p->skipping;
		return;
	}
	COL_STAT_ADD(s, rotations, 1);
	if (col_file_chase(s, f, p, true))
		return; /* found the old file: finish it, then everything newer */
	el_warn("%s: the file of the saved position is gone; reading the current file from 0",
		s->stream);
}

/* col_file_dir - open the directory of the path (it may appear later) */
static int col_file_dir(col_file *f)
{
	if (f->dirfd >= 0)
		return 0;
	f->dirfd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return f->dirfd < 0 ? -errno : 0;
}

/* col_file_refuse - count a symlink at the path once, never open it */
static void col_file_refuse(col_src *s, col_file *f, const struct stat *st)
{
	if ((uint64_t)st->st_ino == f->refused_ino)
		return;
	f->refused_ino = (uint64_t)st->st_ino;
	COL_STAT_ADD(s, symlinks_refused, 1);
	el_warn("%s: the path is a symlink; refused", s->stream);
}

/* col_file_open - see col_src_int.h */
int col_file_open(col_src *s, const col_src_resume *resume, size_t nresume)
{
	col_file *f = calloc(1, sizeof(*f));
	const col_src_resume *r;
	const char *slash;
	col_fpos p;
	int err;

	if (!f)
		return -ENOMEM;
	s->impl = f;
	f->dirfd = -1;
	col_fin_init(&f->cur);
	col_fin_init(&f->live);
	slash = strrchr(s->path, '/');
	if (slash) {
		f->dir = strndup(s->path, (size_t)(slash - s->path) + (slash == s->path));
		f->base = strdup(slash + 1);
	} else {
		f->dir = strdup(".");
		f->base = strdup(s->path);
	}
	if (!f->dir || !f->base)
		return -ENOMEM;
	if (!f->base[0] || strcmp(f->base, ".") == 0 || strcmp(f->base, "..") == 0)
		return -EINVAL;
	err = col_lb_init(&f->lb, s->conf.max_line, s->conf.max_chunk);
	if (err < 0)
		return err;
	err = col_file_dir(f);
	if (err == -EACCES || err == -ENOTDIR)
		return err;
	if (f->dirfd >= 0) {
		struct stat st;
		if (fstatat(f->dirfd, f->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode)) {
			col_file_refuse(s, f, &st);
		} else {
			err = col_fin_open(s, f->dirfd, f->base, &f->live);
			if (err == -EACCES)
				return err;
		}
	}
	r = col_resume_find(resume, nresume, s->stream);
	if (r && col_fpos_decode(r->pos, r->pos_len, &p) < 0) {
		el_warn("%s: unreadable saved position, starting over", s->stream);
		r = NULL;
	}
	if (f->dirfd < 0)
		return 0; /* everything appears later */
	if (r) {
		col_file_resume(s, f, &p);
	} else if (s->conf.backfill) {
		col_sib *sib = calloc(COL_FILE_MAX_ROT, sizeof(*sib));
		if (!sib)
			return -ENOMEM;
		col_file_queue(s, f, sib, 0, col_sib_list(f, sib, COL_FILE_MAX_ROT));
		free(sib);
	} else if (s->conf.start_at_end && f->live.fd >= 0) {
		struct stat st;
		if (fstat(f->live.fd, &st) == 0)
			f->live.start = (uint64_t)st.st_size;
	}
	return 0;
}

/* col_file_take - make in the current input and position the buffer */
static int col_file_take(col_src *s, col_file *f, col_fin *in, bool live)
{
	int err;

	f->cur = *in;
	col_fin_init(in);
	f->cur_live = live;
	f->rot_seen_ms = 0;
	col_lb_reset(&f->lb, f->cur.start);
	f->lb.skipping = f->cur.skipping;
	err = col_fin_seek(&f->cur);
	if (err < 0) {
		el_warn("%s: cannot seek in %s: %s", s->stream, f->cur.name, strerror(-err));
		COL_STAT_ADD(s, reopen_errors, 1);
		col_fin_close(&f->cur);
	}
	return err;
}

/* col_file_next - the next input: a pending sibling, else the live file */
static bool col_file_next(col_src *s, col_file *f)
{
	while (f->ipend < f->npend) {
		if (col_file_take(s, f, &f->pend[f->ipend++], false) == 0)
			return true;
	}
	if (f->live.fd < 0) {
		struct stat st;
		if (col_file_dir(f) < 0 || fstatat(f->dirfd, f->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return false;
		if (S_ISLNK(st.st_mode)) {
			col_file_refuse(s, f, &st);
			return false;
		}
		if (col_file_open_live(s, f, &f->live) < 0)
			return false;
	}
	return col_file_take(s, f, &f->live, true) == 0;
}

enum { COL_ROT_NONE, COL_ROT_TRUNC, COL_ROT_NEW };

/* col_file_check - at the end of the live file: truncated? rotated? */
static int col_file_check(col_src *s, col_file *f)
{
	struct stat fst, pst;

	if (fstat(f->cur.fd, &fst) < 0)
		return COL_ROT_NONE;
	if ((uint64_t)fst.st_size < f->lb.base + f->lb.end)
		return COL_ROT_TRUNC;
	if (fstatat(f->dirfd, f->base, &pst, AT_SYMLINK_NOFOLLOW) < 0) {
		f->rot_seen_ms = 0;
		return COL_ROT_NONE; /* renamed away, nothing new yet */
	}
	if (S_ISLNK(pst.st_mode)) {
		col_file_refuse(s, f, &pst);
		return COL_ROT_NONE;
	}
	if (pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino) {
		f->rot_seen_ms = 0;
		return COL_ROT_NONE;
	}
	/*
	 * A new file.  A writer that has not reopened yet (rsyslog before its
	 * HUP, Postfix before its reload) still appends to the old one: switch
	 * only once the old file has been quiet for COL_FILE_GRACE_POLLS polls.
	 */
	if (f->rot_seen_ms == 0) {
		f->rot_seen_ms = el_now_ms(CLOCK_MONOTONIC);
		return COL_ROT_NONE;
	}
	if (el_now_ms(CLOCK_MONOTONIC) - f->rot_seen_ms <
	    COL_FILE_GRACE_POLLS * (int64_t)s->conf.poll_ms)
		return COL_ROT_NONE;
	return COL_ROT_NEW;
}

/* col_file_mark - the chunk's position: after what the buffer consumed */
static void col_file_mark(col_src *s, col_file *f, col_src_chunk *out)
{
	col_fpos p;

	p.id = f->cur.id;
	p.off = col_lb_pos(&f->lb);
	p.skipping = f->lb.skipping;
	p.gz = f->cur.gz != NULL;
	out->pos = f->pos;
	out->pos_len = col_fpos_encode(&p, f->pos);
	out->lines = s->lines;
	out->n = s->nlines;
}

/* col_file_step - 1 with a chunk in out, 0 when there is nothing yet */
static int col_file_step(col_src *s, col_src_chunk *out)
{
	col_file *f = s->impl;

	col_lb_compact(&f->lb);
	for (;;) {
		ssize_t n;

		if (f->cur.fd < 0 && !col_file_next(s, f))
			return 0;
		if (col_lb_lines(s, &f->lb, s->conf.max_chunk) > 0) {
			col_file_mark(s, f, out);
			return 1;
		}
		col_lb_compact(&f->lb); /* nothing handed out yet: safe */
		n = col_fin_fill(&f->cur, &f->lb);
		if (n > 0) {
			if (f->rot_seen_ms)
				f->rot_seen_ms = el_now_ms(CLOCK_MONOTONIC); /* still written to */
			continue;
		}
		if (n < 0 && n != -EAGAIN) {
			el_warn("%s: read error in %s: %s", s->stream, f->cur.name,
				strerror((int)-n));
			COL_STAT_ADD(s, reopen_errors, 1);
			if (f->cur_live)
				return 0;
		}
		if (!f->cur_live) {
			/* A rotated file is complete: its last line too. */
			bool rest = col_lb_rest(s, &f->lb);
			if (rest)
				col_file_mark(s, f, out);
			col_fin_close(&f->cur);
			if (rest)
				return 1;
			continue;
		}
		switch (col_file_check(s, f)) {
		case COL_ROT_TRUNC:
			el_warn("%s: file got shorter, reading it again from the start", s->stream);
			COL_STAT_ADD(s, truncations, 1);
			f->cur.start = 0;
			f->cur.skipping = false;
			col_lb_reset(&f->lb, 0);
			if (col_fin_seek(&f->cur) < 0 || col_fid_get(f->cur.fd, &f->cur.id) < 0)
				col_fin_close(&f->cur);
			continue;
		case COL_ROT_NEW: {
			col_fpos old = { .id = f->cur.id, .gz = false };
			if (col_file_open_live(s, f, &f->live) < 0)
				return 0; /* look again at the next poll */
			bool rest = col_lb_rest(s, &f->lb);
			if (rest)
				col_file_mark(s, f, out);
			col_fin_close(&f->cur);
			COL_STAT_ADD(s, rotations, 1);
			/* Rotated more than once since we looked: read the files in
			   between (BASE.1 ... newer than ours) before the new one. */
			f->npend = f->ipend = 0;
			col_file_chase(s, f, &old, false);
			col_file_next(s, f);
			return rest ? 1 : 0;
		}
		default:
			return 0;
		}
	}
}

/* col_file_read - see col_src_int.h */
int col_file_read(col_src *s, col_src_chunk *out, int timeout_ms)
{
	return col_src_poll(s, out, timeout_ms, col_file_step);
}

/* col_file_close - see col_src_int.h */
void col_file_close(col_src *s)
{
	col_file *f = s->impl;
	size_t i;

	if (!f)
		return;
	col_fin_close(&f->cur);
	col_fin_close(&f->live);
	for (i = f->ipend; i < f->npend; i++)
		col_fin_close(&f->pend[i]);
	if (f->dirfd >= 0)
		close(f->dirfd);
	col_lb_fini(&f->lb);
	free(f->dir);
	free(f->base);
	free(f);
}
