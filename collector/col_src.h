/*
 * col_src - where a collector's lines come from: followed log files,
 * Exchange message tracking directories, syslog sockets, stdin.
 *
 * A source is pull-based and owned by one reader thread of else-collector:
 * col_src_read() blocks up to timeout_ms and hands out the complete lines it
 * has, each tagged with the stream it belongs to.  The daemon appends them to
 * the durable spool (col_spool) together with each stream's position after
 * those lines; only then do they count as read.  At start the daemon gives
 * every stream's last spooled position back to col_src_open(), so a restart
 * (even after kill -9) resumes exactly after the last spooled line: neither
 * lost nor read twice.
 *
 * Streams: a followed file is one stream ("file:" + configured path) across
 * its rotations; each Exchange MSGTRK*.LOG file is a stream of its own
 * ("msgtrk:" + file path), so its #Fields: header is the first line of its
 * stream; a syslog listener is one stream ("syslog:" + listen address); stdin
 * is "stdin".  Stream ids are at most COL_SRC_STREAM_MAX bytes.
 *
 * Positions are opaque bytes (at most COL_SRC_POS_MAX) that only the source
 * that made them interprets: for a file, device + inode + offset + a
 * fingerprint of the file's first bytes (an inode reused by a new file is not
 * mistaken for the old one).  Sources without a position (syslog, stdin)
 * give len 0.
 *
 * OWNERSHIP: col_src_open() copies conf and the resume positions.  The chunk
 * filled by col_src_read() points into the source's own buffers and stays
 * valid until the next col_src_read() or col_src_close() on that source.
 * ERRORS: 0 or -errno.  col_src_open(): -EINVAL (conf), -ENOENT/-EACCES
 * (a path or socket that cannot be used at all; a followed file that does
 * not exist yet is NOT an error: it is waited for).  col_src_read(): 0 with
 * n == 0 on timeout; -ENODATA at the end of a finite source (stdin, a
 * backfill-only import); transient read errors are retried inside and
 * counted, not returned.
 * THREADS: one thread per source.  col_src_stop() may be called from any
 * thread and makes a blocked col_src_read() return promptly.
 * SECURITY: file contents and syslog datagrams are untrusted bytes.  Lines
 * are cut at conf.max_line (counted in stats.truncated; the rest of the line
 * is skipped up to its newline); NUL and binary bytes pass through unchanged.
 * A line from a file never contains '\n'; a syslog message received as one
 * datagram or one octet-counted frame is one line and may contain '\n'.
 * A followed path must not lead out of the configured location: symlinks are
 * not followed (O_NOFOLLOW, and a directory source checks every entry with
 * lstat/openat), and a file replaced by a symlink is reported and skipped.
 */
#ifndef COL_SRC_H
#define COL_SRC_H

#include <stddef.h>
#include <stdint.h>

#include "el_span.h"

#define COL_SRC_STREAM_MAX 512
#define COL_SRC_POS_MAX 256

typedef enum col_src_kind {
	COL_SRC_FILE = 1,   /* follow a file through rotation (mail.log) */
	COL_SRC_MSGTRK = 2, /* an Exchange tracking directory, MSGTRK*.LOG */
	COL_SRC_SYSLOG = 3, /* unix datagram, UDP or TCP syslog listener */
	COL_SRC_STDIN = 4,  /* one-off import */
} col_src_kind;

typedef struct col_src_conf {
	col_src_kind kind;
	const char *path;   /* FILE: the file; MSGTRK: the directory */
	const char *listen; /* SYSLOG: unix:/path, udp://ADDR:PORT, tcp://ADDR:PORT */
	size_t max_line;    /* longest line kept, bytes; 0 = 64 KiB */
	size_t max_chunk;   /* most text bytes one col_src_read() returns; 0 = 1 MiB */
	int poll_ms;        /* FILE/MSGTRK: how often to look for new data; 0 = 200 */
	int backfill;       /* FILE: on first start (no resume position), also read
				the rotated files (path.N, path.N.gz) oldest first */
	int start_at_end;   /* FILE: on first start, begin at the end of the file */
	size_t max_clients; /* SYSLOG tcp: simultaneous connections; 0 = 64 */
} col_src_conf;

/* A resume position for one stream, as the spool recorded it. */
typedef struct col_src_resume {
	const char *stream;
	const void *pos;
	size_t pos_len;
} col_src_resume;

/* Lines of ONE stream, in order, and that stream's position after them. */
typedef struct col_src_chunk {
	const char *stream; /* NUL-terminated, valid like the lines */
	col_src_kind kind;
	const el_span *lines; /* without their newline */
	size_t n;
	const void *pos; /* position after lines[n-1]; len 0 for positionless sources */
	size_t pos_len;
	int stream_end; /* this stream will never have more lines (a finished
			   rotated or MSGTRK file): the spool may forget it once acked.
			   The end is often known only after the last lines were
			   handed out, so a chunk may carry n == 0 with stream_end
			   set and the final position: record it like any chunk. */
} col_src_chunk;

typedef struct col_src_stats {
	uint64_t lines, bytes, truncated, rotations, truncations, reopen_errors, symlinks_refused,
		files_opened, datagrams, connections, framing_errors, clients_refused;
	int64_t last_read_us; /* wall clock of the last line read, 0 = never */
} col_src_stats;

typedef struct col_src col_src;

/* col_src_open - start a source; resume[] holds the last spooled positions */
int col_src_open(col_src **out, const col_src_conf *conf, const col_src_resume *resume,
		 size_t nresume);

/* col_src_read - wait up to timeout_ms for lines of one stream; see ERRORS */
int col_src_read(col_src *s, col_src_chunk *out, int timeout_ms);

/* col_src_stop - make a blocked col_src_read() return (any thread) */
void col_src_stop(col_src *s);

/* col_src_stats_get - counters since open */
void col_src_stats_get(const col_src *s, col_src_stats *out);

/* col_src_close - stop and free; col_src_close(NULL) is a no-op */
void col_src_close(col_src *s);

#endif
