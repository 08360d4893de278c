/*
 * col_spool - the collector's durable spool: per-stream append-only segment
 * files under STATE_DIR/spool/, from which the shipper sends batches and
 * which the backend's acknowledgements empty.
 *
 * The spool IS the checkpoint.  col_spool_append() writes the lines of one
 * stream together with that stream's source position after them in one
 * record: the moment the record is written, the lines count as read.  At
 * start col_spool_open() hands back every stream's last spooled position and
 * the source resumes right after it, so there is no window in which lines
 * are spooled but the position is not, or the other way round.
 *
 * Each stream numbers its lines 1, 2, 3... (the seq the backend deduplicates
 * on); append assigns them.  A record is framed as
 *     u32 payload length | u32 CRC-32C of type + payload | u32 type | payload
 * so a record torn by kill -9 in the middle of a write(2), or by a power loss,
 * is detected at open and the file is cut there; the source then re-reads
 * those lines from the previous position, with the same seqs.  Record types:
 * HEAD (first in every segment: stream id, kind, first seq, position,
 * committed seq, next batch seq), LINES (first seq, count, read time,
 * position after, stream_end, the lines) and ACK (committed seq).
 *
 * Acknowledgement (col_spool_ack) deletes the segments whose lines are all
 * committed.  The last segment of a stream is never deleted while the stream
 * lives: when all of it is committed and it is large, it is replaced by a new
 * segment holding only a HEAD with the position, so a quiet stream still
 * resumes where it was.  A stream whose source said stream_end is forgotten
 * (its files deleted) once everything in it is committed.
 *
 * Bound: the segment files of all streams together stay under
 * conf.max_bytes.  An append that would pass it returns -ENOSPC without
 * writing anything: the reader keeps its chunk, stops reading (its source
 * position stays where it was), and retries when acks free space
 * (col_spool_wait_space).  Nothing is ever dropped.
 *
 * fsync policy (conf.fsync_ms): 0 = fdatasync after every append, before it
 * returns.  N > 0 = dirty segments are synced by col_spool_sync() once they
 * have been dirty N ms (the daemon calls it from its shipper loop).  A kill -9
 * of the collector loses nothing either way (written data sits in the page
 * cache); a power loss or kernel crash can lose the last N ms of records,
 * which the source then re-reads (see docs/collector.md for the edge cases).
 *
 * OWNERSHIP: the spool copies what append is given.  A col_spool_batch owns
 * its text buffer; col_spool_batch_fini() frees it.  Pointers returned by
 * col_spool_resume() stay valid until the next call on the spool.
 * ERRORS: 0 or -errno.  col_spool_open(): -EINVAL (conf), -EACCES/-EIO
 * (directory).  col_spool_append(): -ENOSPC (over the bound, or the disk is
 * full: nothing written), -EINVAL (stream id or position too long, too many
 * lines), -EIO (write failed: nothing kept).  col_spool_peek(): -EAGAIN
 * (nothing ready), -EIO (a record that no longer checks: counted).
 * THREADS: every function locks the spool; appends from several reader
 * threads are fine.  Only one thread may peek/ack/sync (the shipper);
 * col_spool_sync runs its fdatasync calls outside the lock, so appends go
 * on meanwhile.
 * SECURITY: spool files are written by this process only, but a record is
 * checked (length bound, CRC, sequence continuity) before it is trusted.
 */
#ifndef COL_SPOOL_H
#define COL_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "col_src.h"
#include "el_buf.h"
#include "el_span.h"

#define COL_SPOOL_MAX_LINES 1000000 /* lines in one append */
#define COL_SPOOL_MAX_REC (64u << 20)

typedef struct col_spool_conf {
	const char *dir;        /* the spool directory (created if missing) */
	uint64_t max_bytes;     /* bound on all segment files; 0 = 1 GiB */
	uint64_t segment_bytes; /* roll size; 0 = 16 MiB; at most max_bytes / 8 */
	int fsync_ms;           /* 0 = every append; N = within N ms */
} col_spool_conf;

typedef struct col_spool col_spool;

/* Lines of one stream handed to the shipper: seqs first_seq .. first_seq+n-1. */
typedef struct col_spool_batch {
	char stream[COL_SRC_STREAM_MAX + 1];
	col_src_kind kind;
	uint64_t first_seq;
	uint64_t batch_seq;
	size_t n, cap;
	el_span *lines;   /* point into text */
	int64_t *recv_us; /* read time of each line */
	el_buf text;
} col_spool_batch;

typedef struct col_spool_stream_stats {
	char stream[COL_SRC_STREAM_MAX + 1];
	uint64_t spooled_seq;   /* last seq appended */
	uint64_t committed_seq; /* last seq the backend acknowledged */
	int64_t oldest_us;      /* read time of the oldest unacknowledged line, 0 = none */
	int ended;
} col_spool_stream_stats;

typedef struct col_spool_stats {
	uint64_t lines_in, bytes_in, records, lines_acked, syncs, full, io_errors, torn_cut,
		segments_deleted, streams_forgotten;
	uint64_t pending_lines, pending_bytes; /* not yet acknowledged */
	uint64_t disk_bytes, max_bytes;
	size_t streams;
	int full_now; /* an append is waiting for space */
} col_spool_stats;

/* col_spool_open - recover the spool in conf.dir (cutting torn records) */
int col_spool_open(col_spool **out, const col_spool_conf *conf);

/* col_spool_resume - every live stream's last spooled position */
size_t col_spool_resume(col_spool *s, const col_src_resume **out);

/*
 * col_spool_append - spool the chunk's lines and position; the lines count
 * as read when this returns 0.  recv_us is the read time recorded for them.
 */
int col_spool_append(col_spool *s, const col_src_chunk *c, int64_t recv_us);

/* col_spool_wait_space - wait up to ms for an ack to free space */
void col_spool_wait_space(col_spool *s, int ms);

/*
 * col_spool_peek - the next stream's unacknowledged lines, at most
 * max_lines and about max_bytes (at least one line), round-robin over the
 * streams.  Only a stream whose batch is full or whose oldest pending line
 * was spooled at least min_age_ms ago is taken; otherwise -EAGAIN and
 * *wait_ms says when to look again (an append wakes col_spool_wait_data).
 */
int col_spool_peek(col_spool *s, col_spool_batch *b, size_t max_lines, size_t max_bytes,
		   int min_age_ms, int *wait_ms);

/* col_spool_wait_data - wait up to ms for an append */
void col_spool_wait_data(col_spool *s, int ms);

/*
 * col_spool_ack - the backend committed stream's lines up to committed_seq:
 * record it and free what it allows.  -ENOENT for an unknown stream.
 */
int col_spool_ack(col_spool *s, const char *stream, uint64_t committed_seq);

/* col_spool_sync - fdatasync what has been dirty fsync_ms (all with force) */
int col_spool_sync(col_spool *s, int force);

/* col_spool_stats_get - totals, and per stream into st[0..cap) (count returned) */
size_t col_spool_stats_get(col_spool *s, col_spool_stats *out, col_spool_stream_stats *st,
			   size_t cap);

/* col_spool_close - sync and free; col_spool_close(NULL) is a no-op */
void col_spool_close(col_spool *s);

void col_spool_batch_init(col_spool_batch *b);
void col_spool_batch_fini(col_spool_batch *b);

#endif
