/*
 * col_daemon - the running else-collector: one reader thread per source
 * (col_src_read -> col_spool_append) and one shipper thread (col_spool_peek
 * -> col_ship_send -> col_spool_ack), and the status file.
 *
 * Readers: a chunk counts as read only once the spool took it.  When the
 * spool is full the reader keeps its chunk and waits for acks: the source
 * is not read further, so its position stays where it is (nothing dropped).
 *
 * Shipper: batches of one stream, by size (batch_lines, batch_bytes) or age
 * (batch_ms: a quiet host's line leaves within batch_ms), one in flight.  A
 * batch that times out or finds the backend busy is resent as it is, with
 * a backoff; the backend drops the seqs it already has, so a lost ack costs
 * a resend, never a double.  SEQ_GAP: the acknowledged part is taken, the
 * rest resent.  Refusals (certificate, malformed) are logged, counted and
 * retried slowly: the spool keeps the lines, the status file shows why.
 *
 * OWNERSHIP: col_daemon_open() copies nothing it does not need after start;
 * the conf strings must outlive the daemon.
 * ERRORS: 0 or -errno; open/start say which part failed with el_warn.
 * THREADS: open, start, stop, close from the main thread; col_daemon_status
 * from the main thread while running.
 */
#ifndef COL_DAEMON_H
#define COL_DAEMON_H

#include <stddef.h>
#include <stdint.h>

#include "col_ship.h"
#include "col_spool.h"
#include "col_src.h"

typedef struct col_daemon_conf {
	const col_src_conf *src; /* nsrc sources */
	const char *const *src_spec;
	size_t nsrc;
	col_spool_conf spool;
	col_ship_conf ship;
	size_t batch_lines, batch_bytes;
	int batch_ms, send_timeout_ms, backoff_max_ms;
	const char *status_file;
	const char *host; /* Batch.host (informational) */
} col_daemon_conf;

typedef struct col_daemon col_daemon;

/* col_daemon_open - open the spool and the sources (resumed from the spool) */
int col_daemon_open(col_daemon **out, const col_daemon_conf *conf);

/* col_daemon_start - open the connection to the backend, start the threads */
int col_daemon_start(col_daemon *d);

/* col_daemon_status - rewrite the status file (JSON, replaced atomically) */
void col_daemon_status(col_daemon *d);

/* col_daemon_done - every source is finite and finished, and all is acknowledged */
int col_daemon_done(col_daemon *d);

/* col_daemon_stop - stop the threads (the batch in flight is abandoned, kept in the spool) */
void col_daemon_stop(col_daemon *d);

/* col_daemon_close - stop, sync and free; col_daemon_close(NULL) is a no-op */
void col_daemon_close(col_daemon *d);

#endif
