/*
 * col_spool - the durable spool.  See col_spool.h for the contract and
 * col_spool_rec.h for the record framing.
 *
 * Files: DIR/HHHHHHHHHHHHHHHH-SSSSSSSSSSSSSSSS.seg, H a hash of the stream id
 * (the HEAD record carries the id itself: the hash only keeps names short
 * and unique), S the first seq of the segment in hex.
 *
 * In memory, each stream keeps its segments (oldest first, the last one is
 * written) and an index of its unacknowledged LINES records, so peek reads
 * exactly the records it needs with one pread each, and the pending counts
 * and the age of the oldest line are known without touching the disk.
 */
#include "col_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "col_spool_rec.h"
#include "el_log.h"
#include "el_map.h"
#include "el_time.h"

#define COL_SPOOL_MAX_STREAMS 100000

typedef struct col_seg {
	uint64_t first_seq, next_seq; /* lines first_seq .. next_seq-1 */
	uint64_t size;
	int fd;
	int64_t dirty_ms; /* monotonic ms of the first unsynced write, 0 = clean */
} col_seg;

typedef struct col_rec {
	uint64_t first_seq, seg_first, off, text;
	uint32_t n, len;
	int64_t recv_us, spooled_ms;
} col_rec;

typedef struct col_stream {
	char *id;
	size_t idlen;
	uint64_t hash;
	col_src_kind kind;
	col_seg *segs;
	size_t nsegs, capsegs;
	col_rec *recs;
	size_t rhead, rn, rcap; /* unacknowledged records: recs[rhead .. rn) */
	uint64_t next_seq, acked, batch_seq, pending_bytes;
	el_buf pos;
	bool ended;
} col_stream;

struct col_spool {
	pthread_mutex_t mu;
	pthread_cond_t data, space;
	char *dir;
	int dirfd;
	uint64_t max_bytes, seg_bytes, total;
	int fsync_ms;
	el_map map;
	col_stream **st;
	size_t nst, capst, rr;
	el_buf wbuf, rbuf;
	col_src_resume *resume;
	col_spool_stats s;
	int waiting_space;
	int *syncfd; /* col_spool_sync's duplicates of the due segments' fds */
	size_t capsync;
	int sync_failed; /* an fdatasync failed: the next sync takes every segment */
	/*
	 * The record last read by peek (fd, offset), kept in pbuf: a batch
	 * usually ends inside a record, and the next batch starts there, so
	 * it is not read and checked again.  pfd = -1 when none; every close
	 * of a segment fd forgets it (a new segment may get the same fd).
	 */
	el_buf pbuf;
	int pfd;
	uint64_t poff;
};

/* col_spool_grow - make room for one more element of an array */
static void col_spool_grow(void **p, size_t *cap, size_t n, size_t elsz)
{
	size_t nc;
	void *q;

	if (n < *cap)
		return;
	nc = *cap ? *cap * 2 : 8;
	q = realloc(*p, nc * elsz);
	if (q == NULL)
		el_panic("spool: out of memory");
	*p = q;
	*cap = nc;
}

/* col_spool_seg_name - the file name of a segment */
static void col_spool_seg_name(char *out, size_t cap, const col_stream *st, uint64_t first)
{
	snprintf(out, cap, "%016llx-%016llx.seg", (unsigned long long)st->hash,
		 (unsigned long long)first);
}

/* col_spool_pwrite - write all of p at off; -errno (the caller cuts) */
static int col_spool_pwrite(int fd, const char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* col_spool_seg_write - append wbuf to the stream's last segment, atomically or not at all */
static int col_spool_seg_write(col_spool *s, col_seg *g, const el_buf *b)
{
	int rc = col_spool_pwrite(g->fd, b->p, b->len, g->size);

	if (rc < 0) {
		s->s.io_errors++;
		if (ftruncate(g->fd, (off_t)g->size) < 0)
			el_warn("spool: cannot cut a failed write: %s", strerror(errno));
		return rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;
	}
	g->size += b->len;
	s->total += b->len;
	if (s->fsync_ms == 0) {
		if (fdatasync(g->fd) < 0) {
			s->s.io_errors++;
			return -EIO;
		}
		s->s.syncs++;
	} else if (g->dirty_ms == 0) {
		g->dirty_ms = el_now_ms(CLOCK_MONOTONIC);
	}
	return 0;
}

/* col_spool_head_of - the HEAD describing the stream now */
static void col_spool_head_of(const col_stream *st, col_spool_head *h)
{
	h->first_seq = st->next_seq;
	h->acked = st->acked;
	h->batch_seq = st->batch_seq;
	h->kind = (uint32_t)st->kind;
	h->flags = st->ended ? COL_SPOOL_F_END : 0;
	h->stream = el_span_make(st->id, st->idlen);
	h->pos = el_span_make(st->pos.p, st->pos.len);
}

/*
 * col_spool_seg_new - start a new last segment for the stream, its HEAD
 * written and (with the directory entry) synced: a segment that replaces a
 * deleted one must exist on disk before the old one goes.
 */
static int col_spool_seg_new(col_spool *s, col_stream *st)
{
	char name[64];
	col_spool_head h;
	col_seg g = { 0 };
	int rc;

	col_spool_seg_name(name, sizeof(name), st, st->next_seq);
	g.fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (g.fd < 0) {
		rc = -errno;
		el_warn("spool: %s/%s: %s", s->dir, name, strerror(errno));
		s->s.io_errors++;
		return rc == -ENOSPC || rc == -EDQUOT ? -ENOSPC : -EIO;
	}
	g.first_seq = g.next_seq = st->next_seq;
	s->wbuf.len = 0;
	col_spool_head_of(st, &h);
	col_spool_rec_head(&s->wbuf, &h);
	if ((rc = col_spool_pwrite(g.fd, s->wbuf.p, s->wbuf.len, 0)) < 0 || fdatasync(g.fd) < 0 ||
	    fsync(s->dirfd) < 0) {
		s->s.io_errors++;
		close(g.fd);
		unlinkat(s->dirfd, name, 0);
		return rc == -ENOSPC ? -ENOSPC : -EIO;
	}
	g.size = s->wbuf.len;
	s->total += g.size;
	col_spool_grow((void **)&st->segs, &st->capsegs, st->nsegs, sizeof(col_seg));
	st->segs[st->nsegs++] = g;
	return 0;
}

/* col_spool_seg_drop - close and delete segment i of the stream */
static void col_spool_seg_drop(col_spool *s, col_stream *st, size_t i)
{
	char name[64];

	col_spool_seg_name(name, sizeof(name), st, st->segs[i].first_seq);
	s->pfd = -1;
	close(st->segs[i].fd);
	if (unlinkat(s->dirfd, name, 0) < 0)
		el_warn("spool: cannot delete %s/%s: %s", s->dir, name, strerror(errno));
	s->total -= st->segs[i].size;
	s->s.segments_deleted++;
	memmove(&st->segs[i], &st->segs[i + 1], (st->nsegs - i - 1) * sizeof(col_seg));
	st->nsegs--;
}

/* col_spool_stream_new - a stream known to the spool, without segments yet */
static col_stream *col_spool_stream_new(col_spool *s, el_span id, col_src_kind kind)
{
	col_stream *st = calloc(1, sizeof(*st));

	if (st == NULL || (st->id = strndup(id.p, id.len)) == NULL)
		el_panic("spool: out of memory");
	st->idlen = id.len;
	st->hash = el_hash_bytes(id.p, id.len, 0x656c73652d73706fULL);
	st->kind = kind;
	st->next_seq = 1;
	st->batch_seq = 1;
	el_buf_init(&st->pos);
	el_map_put(&s->map, id, st);
	col_spool_grow((void **)&s->st, &s->capst, s->nst, sizeof(col_stream *));
	s->st[s->nst++] = st;
	return st;
}

/* col_spool_stream_free - forget a stream whose files are gone */
static void col_spool_stream_free(col_spool *s, col_stream *st)
{
	size_t i;

	el_map_del(&s->map, el_span_make(st->id, st->idlen));
	for (i = 0; i < s->nst; i++)
		if (s->st[i] == st) {
			memmove(&s->st[i], &s->st[i + 1], (s->nst - i - 1) * sizeof(col_stream *));
			s->nst--;
			break;
		}
	s->pfd = -1;
	for (i = 0; i < st->nsegs; i++)
		close(st->segs[i].fd);
	free(st->segs);
	free(st->recs);
	el_buf_fini(&st->pos);
	free(st->id);
	free(st);
}

/* col_spool_rec_push - index an unacknowledged LINES record */
static void col_spool_rec_push(col_stream *st, const col_rec *r)
{
	if (st->rhead > 0 && st->rn == st->rcap) {
		memmove(st->recs, st->recs + st->rhead, (st->rn - st->rhead) * sizeof(col_rec));
		st->rn -= st->rhead;
		st->rhead = 0;
	}
	col_spool_grow((void **)&st->recs, &st->rcap, st->rn, sizeof(col_rec));
	st->recs[st->rn++] = *r;
	st->pending_bytes += r->text;
}

/*
 * col_spool_settle - after acked moved: drop indexed records and whole
 * segments that are committed, replace a large committed last segment by a
 * HEAD-only one, forget an ended stream.  Returns true if st was freed.
 */
static bool col_spool_settle(col_spool *s, col_stream *st)
{
	bool all = st->acked + 1 >= st->next_seq;

	while (st->rhead < st->rn) {
		const col_rec *r = &st->recs[st->rhead];
		if (r->first_seq + r->n - 1 > st->acked)
			break;
		st->pending_bytes -= r->text;
		st->rhead++;
	}
	if (st->rhead == st->rn)
		st->rhead = st->rn = 0;
	while (st->nsegs > 1 && st->segs[0].next_seq <= st->acked + 1)
		col_spool_seg_drop(s, st, 0);
	if (all && st->ended) {
		while (st->nsegs > 0)
			col_spool_seg_drop(s, st, st->nsegs - 1);
		s->s.streams_forgotten++;
		col_spool_stream_free(s, st);
		return true;
	}
	if (all && st->nsegs == 1 && st->segs[0].next_seq > st->segs[0].first_seq &&
	    (st->segs[0].size >= s->seg_bytes / 4 || s->total > s->max_bytes / 2 ||
	     s->waiting_space)) {
		/* Keep the position in a fresh segment, then free the old one. */
		if (col_spool_seg_new(s, st) == 0)
			col_spool_seg_drop(s, st, 0);
	}
	return false;
}

/* col_spool_append - see col_spool.h */
int col_spool_append(col_spool *s, const col_src_chunk *c, int64_t recv_us)
{
	size_t idlen = strnlen(c->stream, COL_SRC_STREAM_MAX + 1), i, st0;
	col_stream *st;
	col_seg *g;
	col_rec r;
	uint64_t text = 0;
	uint16_t plen = (uint16_t)c->pos_len, pad = 0;
	uint32_t flags = c->stream_end ? COL_SPOOL_F_END : 0, n32 = (uint32_t)c->n;
	int rc;

	if (idlen == 0 || idlen > COL_SRC_STREAM_MAX || c->pos_len > COL_SRC_POS_MAX ||
	    c->n > COL_SPOOL_MAX_LINES)
		return -EINVAL;
	for (i = 0; i < c->n; i++) {
		if (c->lines[i].len > COL_SPOOL_MAX_REC / 2)
			return -EINVAL;
		text += c->lines[i].len;
	}
	if (text + c->n * 4 + c->pos_len + 64 > COL_SPOOL_MAX_REC)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = el_map_get(&s->map, el_span_make(c->stream, idlen));
	if (st && c->n == 0 && !c->stream_end && st->pos.len == c->pos_len &&
	    (c->pos_len == 0 || memcmp(st->pos.p, c->pos, c->pos_len) == 0)) {
		rc = 0; /* nothing new */
		goto out;
	}
	if (st == NULL && s->nst >= COL_SPOOL_MAX_STREAMS) {
		rc = -ENOSPC;
		goto full;
	}
	/* The record, and a new segment's HEAD if the stream needs one. */
	if (s->total + text + c->n * 4 + c->pos_len + 64 + 2 * COL_SPOOL_REC_HDR + 2 * 600 >
	    s->max_bytes) {
		rc = -ENOSPC;
		goto full;
	}
	if (st == NULL)
		st = col_spool_stream_new(s, el_span_make(c->stream, idlen), c->kind);
	if (st->nsegs == 0 || st->segs[st->nsegs - 1].size >= s->seg_bytes) {
		if ((rc = col_spool_seg_new(s, st)) < 0)
			goto fail;
	}
	g = &st->segs[st->nsegs - 1];
	s->wbuf.len = 0;
	st0 = col_spool_rec_begin(&s->wbuf, COL_SPOOL_LINES);
	el_buf_add(&s->wbuf, &st->next_seq, 8);
	el_buf_add(&s->wbuf, &recv_us, 8);
	el_buf_add(&s->wbuf, &n32, 4);
	el_buf_add(&s->wbuf, &flags, 4);
	el_buf_add(&s->wbuf, &plen, 2);
	el_buf_add(&s->wbuf, &pad, 2);
	el_buf_add(&s->wbuf, c->pos, c->pos_len);
	el_buf_reserve(&s->wbuf, text + c->n * 4);
	for (i = 0; i < c->n; i++) {
		uint32_t len = (uint32_t)c->lines[i].len;
		char *q = s->wbuf.p + s->wbuf.len;
		memcpy(q, &len, 4);
		memcpy(q + 4, c->lines[i].p, len);
		s->wbuf.len += 4 + (size_t)len;
	}
	col_spool_rec_end(&s->wbuf, st0);
	r.first_seq = st->next_seq;
	r.seg_first = g->first_seq;
	r.off = g->size;
	r.len = (uint32_t)s->wbuf.len;
	r.n = n32;
	r.text = text;
	r.recv_us = recv_us;
	r.spooled_ms = el_now_ms(CLOCK_MONOTONIC);
	if ((rc = col_spool_seg_write(s, g, &s->wbuf)) < 0)
		goto fail;
	st->next_seq += c->n;
	g->next_seq = st->next_seq;
	st->pos.len = 0;
	el_buf_add(&st->pos, c->pos, c->pos_len);
	st->ended = c->stream_end != 0;
	if (c->n > 0)
		col_spool_rec_push(st, &r);
	s->s.lines_in += c->n;
	s->s.bytes_in += text;
	s->s.records++;
	if (s->waiting_space) {
		el_info("spool: space again, reading resumes (%llu of %llu bytes used)",
			(unsigned long long)s->total, (unsigned long long)s->max_bytes);
		s->waiting_space = 0;
	}
	pthread_cond_broadcast(&s->data);
	rc = 0;
	goto out;
full:
	s->s.full++;
	if (!s->waiting_space)
		el_warn("spool: FULL (%llu of %llu bytes, %zu streams): reading stops until "
			"the backend acknowledges; nothing is dropped, the sources keep their "
			"position",
			(unsigned long long)s->total, (unsigned long long)s->max_bytes, s->nst);
	s->waiting_space = 1;
	goto out;
fail:
	if (rc == -ENOSPC && !s->waiting_space) {
		el_warn("spool: the disk is full under %s: reading stops until space is freed",
			s->dir);
		s->waiting_space = 1;
	}
	if (rc == -ENOSPC)
		s->s.full++;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* col_spool_timed_wait - wait on cv up to ms */
static void col_spool_timed_wait(col_spool *s, pthread_cond_t *cv, int ms)
{
	struct timespec ts = el_deadline(CLOCK_REALTIME, ms);

	pthread_cond_timedwait(cv, &s->mu, &ts);
}

/* col_spool_wait_space - see col_spool.h */
void col_spool_wait_space(col_spool *s, int ms)
{
	pthread_mutex_lock(&s->mu);
	if (s->waiting_space)
		col_spool_timed_wait(s, &s->space, ms);
	pthread_mutex_unlock(&s->mu);
}

/* col_spool_wait_data - see col_spool.h */
void col_spool_wait_data(col_spool *s, int ms)
{
	pthread_mutex_lock(&s->mu);
	col_spool_timed_wait(s, &s->data, ms);
	pthread_mutex_unlock(&s->mu);
}

/* col_spool_seg_fd - the fd of the stream's segment starting at first */
static int col_spool_seg_fd(const col_stream *st, uint64_t first)
{
	for (size_t i = 0; i < st->nsegs; i++)
		if (st->segs[i].first_seq == first)
			return st->segs[i].fd;
	return -1;
}

/* col_spool_batch_add - one line into the batch */
static void col_spool_batch_add(col_spool_batch *b, el_span line, int64_t recv_us)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 256;
		el_span *l = realloc(b->lines, nc * sizeof(*l));
		int64_t *t;
		if (l == NULL)
			el_panic("spool: out of memory");
		b->lines = l;
		if ((t = realloc(b->recv_us, nc * sizeof(*t))) == NULL)
			el_panic("spool: out of memory");
		b->recv_us = t;
		b->cap = nc;
	}
	/* Offsets first: text may move while the batch fills. */
	b->lines[b->n] = el_span_make((const char *)(uintptr_t)b->text.len, line.len);
	b->recv_us[b->n] = recv_us;
	el_buf_adds(&b->text, line);
	b->n++;
}

/* col_spool_read_batch - the stream's pending lines into b */
static int col_spool_read_batch(col_spool *s, col_stream *st, col_spool_batch *b, size_t max_lines,
				size_t max_bytes)
{
	uint64_t seq = st->acked + 1;
	size_t i, off;
	int rc;

	memcpy(b->stream, st->id, st->idlen + 1);
	b->kind = st->kind;
	b->first_seq = seq;
	b->batch_seq = st->batch_seq;
	b->n = 0;
	b->text.len = 0;
	for (i = st->rhead; i < st->rn && b->n < max_lines && b->text.len < max_bytes; i++) {
		const col_rec *r = &st->recs[i];
		col_spool_lines l;
		uint32_t type;
		el_span pl, line;
		uint64_t q = r->first_seq;
		int fd = col_spool_seg_fd(st, r->seg_first);

		if (fd < 0)
			el_panic("spool: indexed record without its segment");
		if (fd == s->pfd && r->off == s->poff) {
			rc = 1;
			memcpy(&type, s->pbuf.p, 4);
			pl = el_span_make(s->pbuf.p + 4, s->pbuf.len - 4);
		} else {
			s->pfd = -1;
			rc = col_spool_rec_read(fd, r->off, &s->pbuf, &type, &pl);
			if (rc == 1) {
				s->pfd = fd;
				s->poff = r->off;
			}
		}
		if (rc != 1 || type != COL_SPOOL_LINES || col_spool_rec_parse_lines(pl, &l) < 0 ||
		    l.first_seq != r->first_seq || l.n != r->n) {
			s->s.io_errors++;
			el_warn("spool: stream %s: the record of lines %llu.. no longer checks "
				"(disk error?): %s",
				st->id, (unsigned long long)r->first_seq,
				rc < 0 ? strerror(-rc) : "bad record");
			return b->n ? 0 : -EIO;
		}
		off = 0;
		while (b->n < max_lines && b->text.len < max_bytes &&
		       (rc = col_spool_rec_next_line(&l, &off, &line)) == 1) {
			if (q++ >= seq)
				col_spool_batch_add(b, line, l.recv_us);
		}
		if (rc < 0) {
			s->s.io_errors++;
			return b->n ? 0 : -EIO;
		}
	}
	for (i = 0; i < b->n; i++)
		b->lines[i].p = b->text.p + (uintptr_t)b->lines[i].p;
	return b->n ? 0 : -EAGAIN;
}

/* col_spool_peek - see col_spool.h */
int col_spool_peek(col_spool *s, col_spool_batch *b, size_t max_lines, size_t max_bytes,
		   int min_age_ms, int *wait_ms)
{
	int64_t now = el_now_ms(CLOCK_MONOTONIC), wait = min_age_ms > 0 ? min_age_ms : 1;
	int rc = -EAGAIN;

	pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->nst; k++) {
		size_t idx = (s->rr + k) % s->nst;
		col_stream *st = s->st[idx];
		uint64_t pending = st->next_seq - 1 - st->acked;
		int64_t age;

		if (pending == 0 || st->rhead == st->rn)
			continue;
		age = now - st->recs[st->rhead].spooled_ms;
		if (pending < max_lines && st->pending_bytes < max_bytes && age < min_age_ms &&
		    !st->ended && !s->waiting_space) {
			if (min_age_ms - age < wait)
				wait = min_age_ms - age;
			continue;
		}
		s->rr = idx + 1;
		rc = col_spool_read_batch(s, st, b, max_lines, max_bytes);
		break;
	}
	pthread_mutex_unlock(&s->mu);
	*wait_ms = (int)wait;
	return rc;
}

/* col_spool_ack - see col_spool.h */
int col_spool_ack(col_spool *s, const char *stream, uint64_t committed_seq)
{
	col_stream *st;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	st = el_map_get(&s->map, el_span_make(stream, strnlen(stream, COL_SRC_STREAM_MAX + 1)));
	if (st == NULL) {
		rc = -ENOENT;
		goto out;
	}
	if (committed_seq >= st->next_seq) {
		el_warn("spool: stream %s: the backend acknowledged seq %llu, only %llu were "
			"spooled",
			st->id, (unsigned long long)committed_seq,
			(unsigned long long)st->next_seq - 1);
		committed_seq = st->next_seq - 1;
	}
	if (committed_seq <= st->acked)
		goto out;
	s->s.lines_acked += committed_seq - st->acked;
	st->acked = committed_seq;
	st->batch_seq++;
	s->wbuf.len = 0;
	col_spool_rec_ack(&s->wbuf, st->acked, st->batch_seq);
	/* A lost ACK record costs a resend that the backend drops: no sync needed. */
	if ((rc = col_spool_seg_write(s, &st->segs[st->nsegs - 1], &s->wbuf)) < 0)
		el_warn("spool: cannot record an ack: %s", strerror(-rc));
	rc = 0;
	col_spool_settle(s, st);
	pthread_cond_broadcast(&s->space);
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/*
 * col_spool_sync - see col_spool.h.  The fdatasync calls run outside the
 * lock, on duplicates of the due segments' fds, so appends and peeks go on
 * during a slow sync.  A segment written to meanwhile is dirty again with
 * the time of that write, so the fsync_ms promise still holds for it.
 */
int col_spool_sync(col_spool *s, int force)
{
	int64_t now = el_now_ms(CLOCK_MONOTONIC);
	size_t n = 0, failed = 0;
	int rc = 0;

	pthread_mutex_lock(&s->mu);
	if (s->sync_failed)
		force = 1;
	s->sync_failed = 0;
	for (size_t i = 0; i < s->nst; i++)
		for (size_t k = 0; k < s->st[i]->nsegs; k++) {
			col_seg *g = &s->st[i]->segs[k];
			int fd;
			if (g->dirty_ms == 0 || (!force && now - g->dirty_ms < s->fsync_ms))
				continue;
			col_spool_grow((void **)&s->syncfd, &s->capsync, n, sizeof(int));
			if ((fd = fcntl(g->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
				s->s.io_errors++;
				rc = -EIO;
				s->sync_failed = 1;
				continue;
			}
			s->syncfd[n++] = fd;
			g->dirty_ms = 0;
		}
	pthread_mutex_unlock(&s->mu);
	/* Only this thread (the shipper, or close) uses syncfd: see THREADS. */
	for (size_t i = 0; i < n; i++) {
		if (fdatasync(s->syncfd[i]) < 0)
			failed++;
		close(s->syncfd[i]);
	}
	if (n == 0 && rc == 0)
		return 0;
	pthread_mutex_lock(&s->mu);
	s->s.syncs += n - failed;
	if (failed) {
		s->s.io_errors += failed;
		s->sync_failed = 1;
		rc = -EIO;
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* col_spool_resume - see col_spool.h */
size_t col_spool_resume(col_spool *s, const col_src_resume **out)
{
	size_t n;

	pthread_mutex_lock(&s->mu);
	free(s->resume);
	s->resume = calloc(s->nst ? s->nst : 1, sizeof(*s->resume));
	if (s->resume == NULL)
		el_panic("spool: out of memory");
	for (n = 0; n < s->nst; n++) {
		s->resume[n].stream = s->st[n]->id;
		s->resume[n].pos = s->st[n]->pos.p;
		s->resume[n].pos_len = s->st[n]->pos.len;
	}
	pthread_mutex_unlock(&s->mu);
	*out = s->resume;
	return n;
}

/* col_spool_stats_get - see col_spool.h */
size_t col_spool_stats_get(col_spool *s, col_spool_stats *out, col_spool_stream_stats *ss,
			   size_t cap)
{
	size_t i, k = 0;

	pthread_mutex_lock(&s->mu);
	*out = s->s;
	out->pending_lines = out->pending_bytes = 0;
	for (i = 0; i < s->nst; i++) {
		col_stream *st = s->st[i];
		out->pending_lines += st->next_seq - 1 - st->acked;
		out->pending_bytes += st->pending_bytes;
		if (k < cap) {
			memcpy(ss[k].stream, st->id, st->idlen + 1);
			ss[k].spooled_seq = st->next_seq - 1;
			ss[k].committed_seq = st->acked;
			ss[k].oldest_us = st->rhead < st->rn ? st->recs[st->rhead].recv_us : 0;
			ss[k].ended = st->ended;
			k++;
		}
	}
	out->disk_bytes = s->total;
	out->max_bytes = s->max_bytes;
	out->streams = s->nst;
	out->full_now = s->waiting_space;
	pthread_mutex_unlock(&s->mu);
	return k;
}

/* col_spool_batch_init - see col_spool.h */
void col_spool_batch_init(col_spool_batch *b)
{
	memset(b, 0, sizeof(*b));
	el_buf_init(&b->text);
}

/* col_spool_batch_fini - see col_spool.h */
void col_spool_batch_fini(col_spool_batch *b)
{
	free(b->lines);
	free(b->recv_us);
	el_buf_fini(&b->text);
	memset(b, 0, sizeof(*b));
}

/* --- Recovery at open ---------------------------------------------------- */

typedef struct col_found {
	char name[64];
	int fd;
	uint64_t hdr_len;
	col_spool_head h;
	char *id, *pos; /* copies: h's spans point into a reused buffer */
} col_found;

/* col_spool_found_cmp - by stream id, then first seq */
static int col_spool_found_cmp(const void *a, const void *b)
{
	const col_found *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return x->h.first_seq < y->h.first_seq ? -1 : x->h.first_seq > y->h.first_seq;
}

/* col_spool_discard - delete a file found at open that cannot be used */
static void col_spool_discard(col_spool *s, col_found *f, const char *why)
{
	el_warn("spool: %s/%s: %s: deleted (the source re-reads what it held)", s->dir, f->name,
		why);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	unlinkat(s->dirfd, f->name, 0);
	s->s.torn_cut++;
}

/* col_spool_scan_head - open one segment file and read its HEAD */
static int col_spool_scan_head(col_spool *s, const char *name, col_found *f)
{
	uint32_t type;
	el_span pl;
	char want[64];
	int rc;

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (f->fd < 0) {
		el_warn("spool: %s/%s: %s", s->dir, name, strerror(errno));
		return errno == EACCES ? -EACCES : -EIO;
	}
	rc = col_spool_rec_read(f->fd, 0, &s->rbuf, &type, &pl);
	if (rc == -EIO)
		return -EIO;
	if (rc != 1 || type != COL_SPOOL_HEAD || col_spool_rec_parse_head(pl, &f->h) < 0) {
		col_spool_discard(s, f, "no valid HEAD (torn at creation)");
		return 0;
	}
	f->hdr_len = COL_SPOOL_REC_HDR + pl.len;
	f->id = strndup(f->h.stream.p, f->h.stream.len);
	f->pos = malloc(f->h.pos.len + 1);
	if (!f->id || !f->pos)
		el_panic("spool: out of memory");
	memcpy(f->pos, f->h.pos.p, f->h.pos.len);
	snprintf(want, sizeof(want), "%016llx-%016llx.seg",
		 (unsigned long long)el_hash_bytes(f->id, f->h.stream.len, 0x656c73652d73706fULL),
		 (unsigned long long)f->h.first_seq);
	if (strcmp(want, name) != 0 || memchr(f->id, '\0', f->h.stream.len)) {
		el_warn("spool: %s/%s: its HEAD names another file: ignored", s->dir, name);
		close(f->fd);
		f->fd = -1;
	}
	return 0;
}

/* col_spool_scan_seg - replay one segment's records into the stream; false if it was cut */
static bool col_spool_scan_seg(col_spool *s, col_stream *st, col_found *f)
{
	uint64_t off = f->hdr_len, acked, bseq;
	col_spool_lines l;
	col_seg g = { 0 };
	uint32_t type;
	el_span pl;
	bool whole = true;
	int rc;

	g.fd = f->fd;
	g.first_seq = f->h.first_seq;
	for (;;) {
		rc = col_spool_rec_read(f->fd, off, &s->rbuf, &type, &pl);
		if (rc == 0)
			break;
		if (rc == 1 && type == COL_SPOOL_LINES && col_spool_rec_parse_lines(pl, &l) == 0 &&
		    l.first_seq == st->next_seq) {
			col_rec r = { .first_seq = l.first_seq,
				      .seg_first = g.first_seq,
				      .off = off,
				      .len = (uint32_t)(COL_SPOOL_REC_HDR + pl.len),
				      .n = l.n,
				      .text = l.body_len - 4 * (uint64_t)l.n,
				      .recv_us = l.recv_us };
			if (l.n > 0)
				col_spool_rec_push(st, &r);
			st->next_seq += l.n;
			st->pos.len = 0;
			el_buf_adds(&st->pos, l.pos);
			st->ended = (l.flags & COL_SPOOL_F_END) != 0;
		} else if (rc == 1 && type == COL_SPOOL_ACK &&
			   col_spool_rec_parse_ack(pl, &acked, &bseq) == 0) {
			if (acked > st->acked)
				st->acked = acked;
			if (bseq > st->batch_seq)
				st->batch_seq = bseq;
		} else {
			/* Torn by kill -9 or a power loss: cut here. */
			el_warn("spool: %s/%s: record at %llu is %s: cut there", s->dir, f->name,
				(unsigned long long)off, rc == -EIO ? "unreadable" : "torn");
			if (ftruncate(f->fd, (off_t)off) < 0)
				el_warn("spool: cannot cut %s: %s", f->name, strerror(errno));
			s->s.torn_cut++;
			whole = false;
			break;
		}
		off += COL_SPOOL_REC_HDR + pl.len;
	}
	g.size = off;
	g.next_seq = st->next_seq;
	s->total += g.size;
	col_spool_grow((void **)&st->segs, &st->capsegs, st->nsegs, sizeof(col_seg));
	st->segs[st->nsegs++] = g;
	f->fd = -1; /* the stream owns it now */
	return whole;
}

/* col_spool_recover - read every segment back, cut what is torn */
static int col_spool_recover(col_spool *s)
{
	col_found *found = NULL;
	size_t nf = 0, capf = 0, i;
	int dfd, rc = 0;
	DIR *d;
	struct dirent *de;

	if ((dfd = dup(s->dirfd)) < 0 || (d = fdopendir(dfd)) == NULL)
		return -EIO;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len != 37 || strcmp(de->d_name + 33, ".seg") != 0)
			continue;
		col_spool_grow((void **)&found, &capf, nf, sizeof(col_found));
		if ((rc = col_spool_scan_head(s, de->d_name, &found[nf])) < 0)
			break;
		if (found[nf].fd >= 0)
			nf++;
		else {
			free(found[nf].id);
			free(found[nf].pos);
		}
	}
	closedir(d);
	if (rc == 0 && nf > 0)
		qsort(found, nf, sizeof(*found), col_spool_found_cmp);
	for (i = 0; rc == 0 && i < nf; i++) {
		col_found *f = &found[i];
		el_span id = el_span_make(f->id, f->h.stream.len);
		col_stream *st = el_map_get(&s->map, id);
		bool cut = false;

		if (st == NULL) {
			st = col_spool_stream_new(s, id, (col_src_kind)f->h.kind);
			st->next_seq = f->h.first_seq;
			st->acked = f->h.acked;
			st->batch_seq = f->h.batch_seq;
			el_buf_add(&st->pos, f->pos, f->h.pos.len);
			st->ended = (f->h.flags & COL_SPOOL_F_END) != 0;
		} else {
			/* Only a segment that continues the previous whole one is kept. */
			cut = st->nsegs == 0 || f->h.first_seq != st->next_seq ||
			      st->segs[st->nsegs - 1].dirty_ms == -1;
			if (f->h.acked > st->acked)
				st->acked = f->h.acked;
		}
		if (cut) {
			col_spool_discard(s, f, "follows a cut or a gap");
		} else if (!col_spool_scan_seg(s, st, f)) {
			st->segs[st->nsegs - 1].dirty_ms = -1; /* marks the cut until settled */
		}
	}
	for (i = 0; i < nf; i++) {
		if (found[i].fd >= 0)
			close(found[i].fd);
		free(found[i].id);
		free(found[i].pos);
	}
	free(found);
	for (i = 0; rc == 0 && i < s->nst; i++) {
		col_stream *st = s->st[i];
		for (size_t k = 0; k < st->nsegs; k++)
			st->segs[k].dirty_ms = 0;
		if (st->acked >= st->next_seq)
			st->acked = st->next_seq - 1;
		if (col_spool_settle(s, st))
			i--;
	}
	return rc;
}

/* col_spool_open - see col_spool.h */
int col_spool_open(col_spool **out, const col_spool_conf *conf)
{
	col_spool *s;
	int rc;

	*out = NULL;
	if (conf->dir == NULL || conf->dir[0] == '\0' || conf->fsync_ms < 0)
		return -EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->data, NULL);
	pthread_cond_init(&s->space, NULL);
	el_map_init(&s->map);
	el_buf_init(&s->wbuf);
	el_buf_init(&s->rbuf);
	el_buf_init(&s->pbuf);
	s->pfd = -1;
	s->dirfd = -1;
	s->max_bytes = conf->max_bytes ? conf->max_bytes : (1ULL << 30);
	s->seg_bytes = conf->segment_bytes ? conf->segment_bytes : (16u << 20);
	if (s->seg_bytes > s->max_bytes / 8)
		s->seg_bytes = s->max_bytes / 8;
	if (s->seg_bytes < 4096)
		s->seg_bytes = 4096;
	s->fsync_ms = conf->fsync_ms;
	if ((s->dir = strdup(conf->dir)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if (mkdir(s->dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	s->dirfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (s->dirfd < 0) {
		rc = errno == EACCES ? -EACCES : -EIO;
		goto fail;
	}
	if ((rc = col_spool_recover(s)) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	col_spool_close(s);
	return rc;
}

/* col_spool_close - see col_spool.h */
void col_spool_close(col_spool *s)
{
	if (s == NULL)
		return;
	if (s->dirfd >= 0)
		col_spool_sync(s, 1);
	while (s->nst > 0)
		col_spool_stream_free(s, s->st[s->nst - 1]);
	free(s->st);
	free(s->resume);
	free(s->syncfd);
	el_map_fini(&s->map);
	el_buf_fini(&s->wbuf);
	el_buf_fini(&s->rbuf);
	el_buf_fini(&s->pbuf);
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->data);
	pthread_cond_destroy(&s->space);
	free(s->dir);
	free(s);
}
