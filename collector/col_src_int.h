/*
 * col_src_int - what the source kinds (file, msgtrk, syslog, stdin) share
 * inside the col_src module: the source object, the stop event, counters,
 * the chunk's line array and the in-place line splitter.
 *
 * OWNERSHIP: the col_src owns everything here; a kind's private state hangs
 * off s->impl and is freed by that kind's close function.
 * ERRORS: 0 or -errno, as in col_src.h.
 * THREADS: everything runs on the source's reader thread, except
 * col_src_stop() (the eventfd and the stopped flag) and col_src_stats_get()
 * (counters are updated and read with relaxed atomics).
 * SECURITY: col_lb cuts lines at max_line and skips the rest up to the next
 * newline; it never looks for a NUL.
 */
#ifndef COL_SRC_INT_H
#define COL_SRC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "col_src.h"
#include "el_span.h"
#include "el_time.h"

/* Most lines one chunk carries, whatever their size (bounds the span array). */
#define COL_SRC_MAX_LINES 32768

struct col_src {
	col_src_conf conf; /* paths below are our own copies */
	char *path, *listen;
	char stream[COL_SRC_STREAM_MAX + 1];
	int stopfd; /* eventfd: col_src_stop() makes it readable */
	int stopped;
	col_src_stats st; /* updated with COL_STAT_ADD */
	el_span *lines;   /* the current chunk's lines */
	size_t nlines;
	void *impl; /* the kind's state */
};

/* COL_STAT_ADD - bump a counter readable from other threads */
#define COL_STAT_ADD(s, field, n) __atomic_fetch_add(&(s)->st.field, (n), __ATOMIC_RELAXED)

/* col_lb - a read buffer split into lines in place */
typedef struct col_lb {
	char *buf;
	size_t cap;
	size_t start;  /* first unconsumed byte */
	size_t end;    /* end of valid data */
	size_t max;    /* longest line kept */
	uint64_t base; /* stream offset of buf[0] */
	bool skipping; /* inside the dropped rest of a cut line */
} col_lb;

int col_lb_init(col_lb *b, size_t max_line, size_t max_chunk);
void col_lb_fini(col_lb *b);
/* col_lb_reset - forget everything; the next byte read has offset base */
void col_lb_reset(col_lb *b, uint64_t base);
/* col_lb_compact - move unconsumed bytes to the front (invalidates lines) */
void col_lb_compact(col_lb *b);
/* col_lb_fill - one read(2) into the free space: bytes, 0 at EOF, -errno */
ssize_t col_lb_fill(col_lb *b, int fd);
/* col_lb_lines - append complete lines to s->lines, at most max_bytes of text */
size_t col_lb_lines(col_src *s, col_lb *b, size_t max_bytes);
/* col_lb_rest - hand out an unterminated last line of a finished input */
bool col_lb_rest(col_src *s, col_lb *b);
/* col_lb_pos - stream offset just after what was consumed */
static inline uint64_t col_lb_pos(const col_lb *b)
{
	return b->base + b->start;
}

/* col_src_wait - sleep up to ms (<0: forever) or until fd readable / stop:
 * 1 fd readable, 0 time out, -ECANCELED stopped */
int col_src_wait(col_src *s, int fd, int ms);
/*
 * col_src_poll - the read of a source that polls (files, message tracking
 * directories): step (1 with a chunk in out, 0 when there is nothing yet)
 * again every poll_ms until it gives a chunk, timeout_ms passes (<0: never)
 * or the source is stopped.  Returns 0.
 */
int col_src_poll(col_src *s, col_src_chunk *out, int timeout_ms,
		 int (*step)(col_src *s, col_src_chunk *out));
/* col_src_is_stopped - has col_src_stop() been called */
bool col_src_is_stopped(const col_src *s);
/* col_src_count_lines - account for the lines of a chunk about to be returned */
void col_src_count_lines(col_src *s);

/* ---- files: identity and positions (col_src_fid.c), for file and msgtrk ---- */

/* Bytes at the start of a file that tell it apart from a later file that
 * got the same inode. */
#define COL_FP_MAX 64

/* col_fid - which file: device, inode, and a hash of its first bytes */
typedef struct col_fid {
	uint64_t dev, ino;
	uint64_t fphash;
	uint8_t fplen;
} col_fid;

/* col_fpos - a decoded file position */
typedef struct col_fpos {
	col_fid id;
	uint64_t off;  /* bytes of the (decompressed) file consumed */
	bool skipping; /* inside the dropped rest of a cut line */
	bool gz;       /* off counts decompressed bytes of a .gz file */
} col_fpos;

/* col_fnv - the fingerprint hash of n bytes */
uint64_t col_fnv(const unsigned char *p, size_t n);
/* col_fpos_encode - the opaque bytes for the spool; returns their length */
size_t col_fpos_encode(const col_fpos *p, unsigned char out[COL_SRC_POS_MAX]);
/* col_fpos_decode - 0 or -EINVAL */
int col_fpos_decode(const void *buf, size_t len, col_fpos *p);
/* col_fid_get - fstat + fingerprint of an open file */
int col_fid_get(int fd, col_fid *id);
/* col_fid_refresh - extend a short fingerprint once the file has grown */
void col_fid_refresh(int fd, col_fid *id, uint64_t size_seen);
/* col_fid_match - is the open file the one id names */
bool col_fid_match(int fd, const col_fid *id);
/* col_file_openat - open a regular file under dirfd without following a
 * symlink; -ELOOP (counted) for a symlink, -EINVAL for other non-files */
int col_file_openat(col_src *s, int dirfd, const char *name);
/* col_resume_find - the resume entry of a stream, or NULL */
const col_src_resume *col_resume_find(const col_src_resume *r, size_t n, const char *stream);

/* The kinds. */
int col_file_open(col_src *s, const col_src_resume *resume, size_t nresume);
int col_file_read(col_src *s, col_src_chunk *out, int timeout_ms);
void col_file_close(col_src *s);

int col_msgtrk_open(col_src *s, const col_src_resume *resume, size_t nresume);
int col_msgtrk_read(col_src *s, col_src_chunk *out, int timeout_ms);
void col_msgtrk_close(col_src *s);

int col_syslog_open(col_src *s);
int col_syslog_read(col_src *s, col_src_chunk *out, int timeout_ms);
void col_syslog_close(col_src *s);

#endif
