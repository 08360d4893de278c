/*
 * be_ingest - the backend's ingest worker: a collector's batch in, lines and
 * correlated flows committed to PostgreSQL in one transaction, the stream's
 * committed sequence out.
 *
 * Per batch (be_ingest_batch):
 *   1. begin; lock the stream's row and read its committed_seq;
 *   2. drop the lines already stored (a resent batch after a lost ack, a
 *      collector restart): at-least-once delivery, exactly-once storage;
 *   3. parse every new line (per-stream parser context: Exchange #Fields:
 *      headers are per file), COPY them into `lines`, and feed them to the
 *      correlation engine under the host identity of the collector's
 *      certificate (never the host field of the lines);
 *   4. write the flows the engine completed (upserts), set the stream's
 *      committed_seq, and now and then a checkpoint of the engine's state;
 *   5. commit.  Only then is the batch acknowledged.
 * Pipeline (conf.flows_conninfo): step 4 is split.  The batch's transaction
 * commits its lines, the stream's committed_seq and the flows it completed
 * as one flow_journal row (sql/010: encoded, no index but the id, cheap), and
 * the batch is acknowledged.  Two writer threads, each on a connection of
 * its own, upsert those flows into their tables and the rollups (the
 * expensive part; messages and keys on one, recipients and rejects on the
 * other), then their journal rows are deleted and now and then a checkpoint
 * of the engine is written, while the worker stores the next batch's lines:
 * PostgreSQL works on all of it at once.  Lines and
 * their flows commit together; what the writer has not applied when it
 * fails or the process dies is applied from the journal, in order, before
 * anything else (be_ingest_new, or the worker's next turn).  The flows of a
 * batch become searchable one writer's transaction later than its lines.
 * Overlap (with the pipeline): a batch's last round trips (the end of its
 * COPY, its journal row, the stream update and COMMIT: a third of its time)
 * go to a committer thread, which then acknowledges it, while the worker
 * reads the next batch in a transaction on a second connection: the
 * batches' transactions take turns on two connections of their own, and
 * their flows stay on the worker's (they are marked journaled when the
 * batch ends, and handed to the writers once it has committed).  Batches
 * commit in the order they came: a batch ends only after the one before it
 * committed, and when that one failed, this one fails with it.  Their
 * ingest_seq ranges come from a block the worker reserves at a time
 * (be_db_ingest_reserve), so no transaction holds the counter; one backend
 * ingests into a database.  A collector has one batch in flight, so two
 * batches in turn come from two collectors, and the overlap needs several.
 * The engine is deterministic in the order of ingest, so its state after any
 * committed batch is the checkpoint plus a replay of the lines committed
 * after it.  That is how it recovers at start (be_ingest_new) and after any
 * failed batch: the database is the one source of truth, and a batch that
 * did not commit leaves no trace in the engine either.
 *
 * OWNERSHIP: be_ingest uses but does not own the be_db handle.
 * ERRORS: be_ingest_submit() calls ack once with the batch's status (OK,
 * BUSY when the database failed: the collector resends later; BAD_REQUEST
 * never: be_net checked the batch), before it returns or, with the
 * pipeline, later from the committer thread.  be_ingest_new() returns
 * -errno if the state cannot be recovered (database down: the caller
 * retries).
 * THREADS: one thread calls (the engine and the be_db handle are not shared);
 * with the pipeline, be_ingest owns three more threads and four more
 * connections (two flows writers, the committer, the batches' two).
 */
#ifndef BE_INGEST_H
#define BE_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "batch.pb-c.h"
#include "be_corr.h"
#include "be_db.h"
#include "ingest.pb-c.h"

typedef struct be_ingest_conf {
	be_corr_conf corr;
	int64_t checkpoint_us; /* at most this long between checkpoints (wall time) */
	int64_t idle_us;       /* no batch for this long: write lingering flows */
	/*
	 * NULL: each batch's lines and flows commit in one transaction.  Set:
	 * a second connection (this conninfo) writes the flows, see "Pipeline"
	 * above; be_ingest_new() opens it and does not keep the string.
	 */
	const char *flows_conninfo;
	/*
	 * Partitions of past days: after a batch commits, the partitions of
	 * each day its lines fall in, within [today - retention_days + 1,
	 * today + ahead_days], are made if this process has not seen the day
	 * yet (be_db_partition_day; rows of the batch that went to DEFAULT move
	 * in).  A backfill of old logs lands in day partitions, which searches
	 * prune and retention drops.  retention_days 0: never.
	 */
	int retention_days, ahead_days;
} be_ingest_conf;

typedef struct be_ingest_stats {
	uint64_t batches, batches_dup, batches_failed, lines_in, lines_dup, lines_committed,
		seq_gaps, lines_gap, checkpoints, recoveries, replayed, flows, rejects, unparsed,
		host_mismatch, partition_days, partition_errors, flow_jobs_failed, journal_applied,
		journal_bad;
	uint64_t flows_upserted; /* flows flushes that met a row already written (be_db.h) */
	uint64_t keys_upserted;  /* ... whose keys alone met a key written (be_db.h) */
	int64_t newest_line_us;  /* newest line time committed (for lag) */
	int64_t last_commit_us;  /* wall time of the last commit */
	uint64_t last_batch_us;  /* wall time spent on the last batch */
} be_ingest_stats;

typedef struct be_ingest be_ingest;

int be_ingest_new(be_ingest **out, be_db *db, const be_ingest_conf *conf);
void be_ingest_free(be_ingest *g);

/*
 * be_ingest_submit - store one batch; see the header comment.  b and
 * identity are read until it returns.  ack gets tag, the status, the
 * stream's committed_seq (OK) and an error text (BUSY), and may come from
 * another thread.
 */
typedef void (*be_ingest_ack_fn)(void *tag, Else__IngestStatus status, uint64_t committed_seq,
				 const char *error);
int be_ingest_submit(be_ingest *g, const char *identity, const Else__Batch *b, be_ingest_ack_fn ack,
		     void *tag);
/* be_ingest_busy - a batch is in flight (submitted, its commit not yet counted) */
bool be_ingest_busy(const be_ingest *g);
/* be_ingest_wait - wait for the batch in flight (its ack is sent); its result */
int be_ingest_wait(be_ingest *g);
/* be_ingest_batch - be_ingest_submit, then be_ingest_wait: the result in place of an ack */
int be_ingest_batch(be_ingest *g, const char *identity, const Else__Batch *b,
		    Else__IngestStatus *status, uint64_t *committed_seq, char *err, size_t errcap);

/* be_ingest_idle - periodic work when batches are rare: flows, checkpoint */
int be_ingest_idle(be_ingest *g, int64_t now_us);

/* be_ingest_reconf - new intervals, retention and days ahead (a reload) */
void be_ingest_reconf(be_ingest *g, int64_t checkpoint_us, int64_t idle_us, int retention_days,
		      int ahead_days);

/* be_ingest_checkpoint - write a checkpoint now (clean shutdown) */
int be_ingest_checkpoint(be_ingest *g);

void be_ingest_get_stats(const be_ingest *g, be_ingest_stats *st, be_corr_stats *cs);
/* be_ingest_db_stats - the database counters of the worker's connections, summed */
void be_ingest_db_stats(be_ingest *g, be_db_stats *ds);

#endif
