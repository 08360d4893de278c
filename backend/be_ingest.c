/*
 * be_ingest - batches into the database, through the correlation engine.
 */
#include "be_ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "el_log.h"
#include "el_map.h"
#include "el_parse.h"
#include "el_time.h"

#define BE_INGEST_MAX_CTX 4096 /* parser contexts kept (one per stream) */
#define BE_INGEST_DAYS 64      /* days remembered, days made per batch */
#define BE_INGEST_DAY_US 86400000000LL

/*
 * be_ingest_pipe - the flows writers (conf.flows_conninfo set): two threads,
 * each with a connection of its own, write the flows of committed batches
 * while the worker stores the next batches' lines.  Writer 0 writes the
 * messages, writer 1 the recipients, rejects, e-mail keys and addresses
 * (the messages statement of be_db_flows_flush, and the other two), each in
 * a transaction of its own and at the same time.  Once both committed,
 * writer 0 deletes the job's flow_journal rows and writes the checkpoint
 * taken after its flows, in one more transaction.  One job at a time, in
 * order: a job is handed over only once the previous one is over and
 * succeeded, so a checkpoint never commits before the flows of the lines it
 * covers.  When either part fails, the journal keeps the job's rows and the
 * worker applies them again (both parts: writing a flow again changes
 * nothing).
 */
#define BE_INGEST_WRITERS 2
typedef struct be_ingest_writer {
	pthread_t thr;
	struct be_ingest_pipe *p;
	int no;
	be_db *fdb; /* the thread's connection */
	bool busy;
	int rc;                 /* its part of the last job (0 until the worker reads it) */
	uint64_t upserted;      /* fdb's flows_upserted after its last job */
	uint64_t keys_upserted; /* ... and its keys_upserted */
} be_ingest_writer;

typedef struct be_ingest_pipe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	be_ingest_writer w[BE_INGEST_WRITERS];
	bool running, stop;
	int nthreads;                   /* writer threads started */
	bool has_ckpt;                  /* the job carries a checkpoint */
	uint64_t ckpt_seq;              /* ... as of this ingest_seq */
	el_buf ckpt;                    /* ... its state */
	int64_t journal_lo, journal_hi; /* flow_journal rows of the job's flows: ids */
	uint64_t ckpts;                 /* checkpoints written */
} be_ingest_pipe;

/* Flows (encoded bytes) that may wait for a busy writer before batches wait. */
#define BE_INGEST_PIPE_MAX ((size_t)32 << 20)

/* ingest_seq values reserved at a time (be_db_ingest_reserve) */
#define BE_INGEST_SEQ_BLOCK 1000000

/*
 * be_ingest_job - a batch whose COPY's end, flow_journal row, stream update
 * and COMMIT the committer thread runs (be_ingest.h, "Overlap"), and what
 * the worker counts once it has committed.
 */
typedef struct be_ingest_job {
	be_db *db; /* the lines handle whose transaction it is */
	int32_t host_id;
	el_buf stream;           /* the stream's id */
	uint64_t last;           /* the stream's committed_seq once it commits */
	be_db_jcopy jc;          /* its flows' journal row */
	be_ingest_ack_fn ack;    /* called once, by the committer thread */
	void *tag;               /* ... with this */
	uint64_t lines, seq_end; /* lines it stores; its last ingest_seq */
	int64_t t0;              /* when the batch came */
	bool ckpt;               /* a checkpoint as of seq_end waits in ckpt_next */
	int rc;                  /* the commit's result */
	int64_t jid;             /* its flow_journal row, 0 if none */
} be_ingest_job;

typedef struct be_ingest_cm {
	pthread_t thr;
	bool running, stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool queued;   /* the job is the thread's (under mu) */
	bool inflight; /* the worker handed the job and has not collected it */
	be_ingest_job job;
	be_db *lx[2];       /* the batches' transactions, in turn */
	int cur;            /* the one the next batch uses */
	be_db_stats lst[2]; /* their counters when last read (be_ingest_db_stats) */
} be_ingest_cm;

struct be_ingest {
	be_ingest_conf conf;
	be_ingest_pipe pipe;
	be_ingest_cm cm;
	uint64_t seq_next, seq_end; /* the block of ingest_seq reserved, not yet used */
	uint64_t seq_last;          /* ingest_seq of the engine's newest line committed */
	el_buf ckpt_next;           /* a checkpoint waiting for the writer's next job */
	uint64_t ckpt_next_seq;     /* ... as of this ingest_seq */
	bool has_ckpt_next;
	int64_t journal_lo, journal_hi; /* flow_journal ids of the flows waiting in db's buffers */
	bool resync; /* the writer failed: apply flow_journal before handing it more */
	be_db *db;
	be_corr *corr;
	el_map ctxs; /* host_id + stream_no -> el_parse_ctx */
	uint32_t nctx;
	el_parse_ctx shared; /* for streams past BE_INGEST_MAX_CTX */
	int64_t last_checkpoint_us, last_activity_us;
	bool dirty;                          /* engine changed since the last checkpoint */
	int flow_err;                        /* first error of a flow callback in this batch */
	bool trace;                          /* ELSE_TRACE_FLOWS set: log every flow written */
	int64_t down_since, last_attempt_us; /* database outage bookkeeping */
	/* Days whose partitions are made (a ring: an old day may be made twice). */
	int64_t days[BE_INGEST_DAYS];
	unsigned ndays, days_next;
	int64_t need[BE_INGEST_DAYS]; /* days of this batch not among them */
	unsigned nneed;
	int64_t last_day;      /* the day of the previous line: the common case */
	int64_t days_retry_us; /* after a failure, not before this */
	int64_t days_wait_us;  /* ... which is this long after it (doubles, up to a minute) */
	be_ingest_stats st;
};

/* be_ingest_flows_tx - the flows buffered on fdb, in one transaction */
static int be_ingest_flows_tx(be_db *fdb)
{
	int rc;

	if (be_db_flows_bytes(fdb) == 0)
		return 0;
	rc = be_db_begin(fdb);
	if (rc == 0)
		rc = be_db_flows_flush(fdb);
	if (rc == 0)
		rc = be_db_commit(fdb);
	if (rc < 0) {
		be_db_rollback(fdb);
		be_db_flows_drop(fdb);
	}
	return rc;
}

/* be_ingest_pipe_close - writer 0, both parts committed: the journal rows, the checkpoint */
static int be_ingest_pipe_close(be_ingest_pipe *p)
{
	be_db *fdb = p->w[0].fdb;
	int rc;

	if (!p->journal_hi && !p->has_ckpt)
		return 0;
	rc = be_db_begin(fdb);
	if (rc == 0 && p->journal_hi)
		rc = be_db_journal_done(fdb, p->journal_lo, p->journal_hi);
	if (rc == 0 && p->has_ckpt)
		rc = be_db_checkpoint_save(fdb, p->ckpt_seq, p->ckpt.p, p->ckpt.len);
	if (rc == 0)
		rc = be_db_commit(fdb);
	if (rc < 0)
		be_db_rollback(fdb);
	return rc;
}

/* be_ingest_pipe_main - a writer thread */
static void *be_ingest_pipe_main(void *arg)
{
	be_ingest_writer *w = arg;
	be_ingest_pipe *p = w->p;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!w->busy && !p->stop)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->mu);
		int rc = be_ingest_flows_tx(w->fdb);
		be_db_stats ds;
		be_db_get_stats(w->fdb, &ds);
		pthread_mutex_lock(&p->mu);
		w->upserted = ds.flows_upserted;
		w->keys_upserted = ds.keys_upserted;
		if (w->no == 0) {
			/* The other part must be committed too; no lock is held here. */
			while (p->w[1].busy)
				pthread_cond_wait(&p->cv, &p->mu);
			if (rc == 0 && p->w[1].rc == 0) {
				pthread_mutex_unlock(&p->mu);
				rc = be_ingest_pipe_close(p);
				pthread_mutex_lock(&p->mu);
				if (rc == 0 && p->has_ckpt)
					p->ckpts++;
			}
		}
		if (rc < 0)
			el_warn("ingest: writing flows failed (%s): they wait in flow_journal",
				strerror(-rc));
		w->rc = rc;
		w->busy = false;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* be_ingest_pipe_wait - wait until the writers are idle; the last job's result */
static int be_ingest_pipe_wait(be_ingest *g)
{
	be_ingest_pipe *p = &g->pipe;
	int rc;

	if (!p->running)
		return 0;
	pthread_mutex_lock(&p->mu);
	while (p->w[0].busy || p->w[1].busy)
		pthread_cond_wait(&p->cv, &p->mu);
	rc = p->w[0].rc < 0 ? p->w[0].rc : p->w[1].rc;
	p->w[0].rc = p->w[1].rc = 0;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/*
 * be_ingest_journal - apply what flow_journal holds (sql/010), on the
 * worker's connection, with the writer idle: at start, and after a writer's
 * job failed.  Every flow waiting in the worker's buffers is in the journal
 * too (a batch journals its flows before it commits), so they are dropped
 * and applied from there, in order.  Until it succeeds (g->resync), nothing
 * more goes to the writer: a later flow must not be written before an
 * earlier one.
 */
static int be_ingest_journal(be_ingest *g)
{
	uint64_t n = 0, bad = 0;
	int rc;

	be_db_flows_drop(g->db);
	g->journal_lo = g->journal_hi = 0;
	rc = be_db_journal_apply(g->db, &n, &bad);
	g->st.journal_applied += n;
	g->st.journal_bad += bad;
	g->resync = rc < 0;
	if (n)
		el_info("ingest: applied %llu flow_journal rows", (unsigned long long)n);
	if (rc < 0 && !g->down_since)
		el_warn("ingest: applying flow_journal failed (%s): tried again after the next "
			"batch",
			strerror(-rc));
	return rc;
}

/*
 * be_ingest_settle - wait for the writers' last job; when it failed (or an
 * earlier apply did), apply flow_journal.  Then nothing waits in the journal
 * but the flows buffered here.  0, or be_ingest_journal's error.
 */
static int be_ingest_settle(be_ingest *g)
{
	if (be_ingest_pipe_wait(g) < 0) {
		g->st.flow_jobs_failed++;
		g->resync = true;
	}
	return g->resync ? be_ingest_journal(g) : 0;
}

/* be_ingest_pipe_failed - the writers are idle and their last job failed */
static bool be_ingest_pipe_failed(be_ingest *g)
{
	be_ingest_pipe *p = &g->pipe;
	bool failed;

	if (!p->running)
		return false;
	pthread_mutex_lock(&p->mu);
	failed = !p->w[0].busy && !p->w[1].busy && (p->w[0].rc < 0 || p->w[1].rc < 0);
	pthread_mutex_unlock(&p->mu);
	return failed;
}

/* be_ingest_cm_main - the committer thread: one batch's commit at a time, then its ack */
static void *be_ingest_cm_main(void *arg)
{
	be_ingest_cm *m = arg;
	be_ingest_job *j = &m->job;

	pthread_mutex_lock(&m->mu);
	for (;;) {
		while (!m->queued && !m->stop)
			pthread_cond_wait(&m->cv, &m->mu);
		if (!m->queued)
			break;
		pthread_mutex_unlock(&m->mu);
		int64_t jid = 0;
		int rc = be_db_stream_commit_j(j->db, j->host_id,
					       el_span_make(j->stream.p, j->stream.len), j->last,
					       &j->jc, &jid);
		char err[200] = "";
		if (rc < 0)
			snprintf(err, sizeof(err), "database: commit failed: %s", strerror(-rc));
		/* Acked before the worker sees the job over (be_ingest_batch reads the ack). */
		j->ack(j->tag,
		       rc == 0 ? ELSE__INGEST_STATUS__STATUS_OK : ELSE__INGEST_STATUS__STATUS_BUSY,
		       rc == 0 ? j->last : 0, rc == 0 ? NULL : err);
		pthread_mutex_lock(&m->mu);
		j->rc = rc;
		j->jid = jid;
		m->queued = false;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* be_ingest_cm_done - the job in flight, if any, has committed or failed (no wait) */
static bool be_ingest_cm_done(be_ingest *g)
{
	bool done;

	if (!g->cm.inflight)
		return true;
	pthread_mutex_lock(&g->cm.mu);
	done = !g->cm.queued;
	pthread_mutex_unlock(&g->cm.mu);
	return done;
}

/* be_ingest_cm_wait - wait for the job in flight; its result (0 if none was) */
static int be_ingest_cm_wait(be_ingest *g)
{
	be_ingest_cm *m = &g->cm;

	if (!m->inflight)
		return 0;
	pthread_mutex_lock(&m->mu);
	while (m->queued)
		pthread_cond_wait(&m->cv, &m->mu);
	pthread_mutex_unlock(&m->mu);
	m->inflight = false;
	return m->job.rc;
}

static void be_ingest_pipe_hand(be_ingest *g);

/*
 * be_ingest_committed - a batch committed (lines, the ingest_seq of its last
 * line, its flow_journal row, when it came, whether a checkpoint as of it
 * waits in ckpt_next): count it and hand its flows to the writers.
 */
static void be_ingest_committed(be_ingest *g, uint64_t lines, uint64_t seq_end, int64_t jid,
				int64_t t0, bool ckpt)
{
	g->dirty = true;
	if (jid && g->journal_lo == 0)
		g->journal_lo = jid;
	if (jid)
		g->journal_hi = jid;
	if (ckpt) {
		g->last_checkpoint_us = t0;
		g->dirty = false;
	}
	g->seq_last = seq_end;
	g->st.lines_committed += lines;
	g->st.last_commit_us = el_now_us(CLOCK_REALTIME);
	g->st.last_batch_us = (uint64_t)(g->st.last_commit_us - t0);
	g->last_activity_us = g->st.last_commit_us;
	if (g->pipe.running)
		be_ingest_pipe_hand(g);
}

/*
 * be_ingest_collect - wait for the batch in flight and count it.  Its
 * failure is returned: the engine has seen its lines, so the caller fails
 * (be_ingest_fail) whatever batch it is reading too.
 */
static int be_ingest_collect(be_ingest *g)
{
	const be_ingest_job *j = &g->cm.job;
	int rc;

	if (!g->cm.inflight)
		return 0;
	rc = be_ingest_cm_wait(g);
	if (rc < 0) {
		g->st.batches_failed++; /* not again by be_ingest_fail */
		return rc;
	}
	be_ingest_committed(g, j->lines, j->seq_end, j->jid, j->t0, j->ckpt);
	return 0;
}

/* be_ingest_out_tx - the engine completed a transaction: buffer it */
static void be_ingest_out_tx(void *arg, const be_corr *c, const be_tx *t)
{
	be_ingest *g = arg;
	int rc = be_db_flow_tx(g->db, c, t);

	if (g->trace) {
		el_span h = be_corr_host_name(c, t->host);
		el_info("trace: flow %.*s/%s %s rc=%d", (int)h.len, h.p, t->qid,
			be_tstatus_name(be_tx_status(t)), rc);
	}
	if (rc < 0 && g->flow_err == 0)
		g->flow_err = rc;
	g->st.flows++;
}

/* be_ingest_out_reject - a reject record: buffer it */
static void be_ingest_out_reject(void *arg, const be_corr *c, const be_reject *j)
{
	be_ingest *g = arg;
	int rc = be_db_flow_reject(g->db, c, j);

	if (rc < 0 && g->flow_err == 0)
		g->flow_err = rc;
	g->st.rejects++;
}

/* be_ingest_ctx - the parser context of a stream */
static el_parse_ctx *be_ingest_ctx(be_ingest *g, int32_t host_id, int32_t stream_no)
{
	char key[8];
	el_parse_ctx *ctx;

	memcpy(key, &host_id, 4);
	memcpy(key + 4, &stream_no, 4);
	ctx = el_map_get(&g->ctxs, el_span_make(key, 8));
	if (ctx == NULL) {
		if (g->nctx >= BE_INGEST_MAX_CTX)
			return &g->shared;
		ctx = malloc(sizeof(*ctx));
		if (ctx == NULL)
			el_panic("be_ingest: out of memory");
		el_parse_ctx_init(ctx);
		el_map_put(&g->ctxs, el_span_make(key, 8), ctx);
		g->nctx++;
	}
	ctx->ref_time = time(NULL);
	return ctx;
}

/* be_ingest_drop_ctxs - forget every parser context */
static void be_ingest_drop_ctxs(be_ingest *g)
{
	for (size_t i = 0; i < g->ctxs.cap; i++) {
		if (g->ctxs.ents[i].hash < 2)
			continue;
		el_parse_ctx_fini(g->ctxs.ents[i].val);
		free(g->ctxs.ents[i].val);
	}
	el_map_fini(&g->ctxs);
	el_map_init(&g->ctxs);
	g->nctx = 0;
}

/* be_ingest_line_key - a line's identity, the same when it is replayed */
static uint64_t be_ingest_line_key(int32_t host_id, int32_t stream_no, uint64_t seq)
{
	uint64_t k[3] = { (uint64_t)(uint32_t)host_id, (uint64_t)(uint32_t)stream_no, seq };

	return el_hash_bytes(k, sizeof(k), 0);
}

/* Replay state: lines from the database back through the engine. */
typedef struct be_replay {
	be_ingest *g;
} be_replay;

/* be_ingest_replay_line - one committed line into the engine */
static int be_ingest_replay_line(void *arg, const be_db_line *l, el_span host)
{
	be_replay *r = arg;
	be_ingest *g = r->g;
	el_parse_ctx *ctx = be_ingest_ctx(g, l->host_id, l->stream_no);
	el_rec rec;

	el_parse_line(ctx, l->raw.p, l->raw.len, &rec);
	be_corr_line_key(g->corr, be_ingest_line_key(l->host_id, l->stream_no, l->seq));
	be_corr_line(g->corr, host, &rec);
	be_corr_tick(g->corr, 0);
	g->st.replayed++;
	if (l->ingest_seq > g->seq_last)
		g->seq_last = l->ingest_seq;
	return 0;
}

static int be_ingest_recover_once(be_ingest *g);

/*
 * be_ingest_recover - rebuild the engine (last checkpoint + replay), or leave
 * none at all: a half-rebuilt engine must never see another line.  Attempts
 * are spaced while the database is down, and its loss and return are logged
 * once each, not once per refused batch.
 */
static int be_ingest_recover(be_ingest *g)
{
	int64_t now = el_now_us(CLOCK_REALTIME);
	int rc;

	if (g->down_since && now - g->last_attempt_us < 500000)
		return -EAGAIN;
	g->last_attempt_us = now;
	rc = be_ingest_recover_once(g);
	if (rc < 0) {
		be_corr_free(g->corr);
		g->corr = NULL;
		if (!g->down_since) {
			g->down_since = now;
			el_warn("ingest: database unavailable (%s): refusing batches until it is "
				"back",
				strerror(-rc));
		}
		return rc;
	}
	if (g->down_since) {
		el_info("ingest: database back after %.1f s", (double)(now - g->down_since) / 1e6);
		g->down_since = 0;
		/* Collectors are backing off after the outage: not quiet yet. */
		g->last_activity_us = now;
	}
	return 0;
}

/* be_ingest_recover_once - one attempt */
static int be_ingest_recover_once(be_ingest *g)
{
	be_corr_out out = { be_ingest_out_tx, be_ingest_out_reject, g };
	uint64_t seq = 0, n = 0;
	el_buf state;
	be_replay r = { g };
	int rc;

	/*
	 * The writer's job must be over: its flows and checkpoint decide where
	 * the replay starts, and rewriting a flow while its first write is not
	 * committed would count it twice in the rollups.  Whatever it did not
	 * write, the replay makes again.
	 */
	be_ingest_cm_wait(g); /* the callers collected it: a no-op */
	be_ingest_pipe_wait(g);
	g->has_ckpt_next = false;
	/* Flows of committed batches the writer has not applied (a crash, a failure). */
	if ((rc = be_ingest_journal(g)) < 0)
		return rc;
	be_db_flows_drop(g->db);
	be_corr_free(g->corr);
	g->corr = be_corr_new(&g->conf.corr, &out);
	be_ingest_drop_ctxs(g);
	g->flow_err = 0;
	el_buf_init(&state);
	rc = be_db_checkpoint_load(g->db, &seq, &state);
	if (rc == 0) {
		rc = be_corr_restore_buf(g->corr, el_span_make(state.p, state.len));
		if (rc < 0) {
			/* A checkpoint we cannot read: start from scratch, loudly. */
			el_warn("ingest: checkpoint at ingest_seq %llu unreadable (%s): replaying "
				"all",
				(unsigned long long)seq, strerror(-rc));
			be_corr_free(g->corr);
			g->corr = be_corr_new(&g->conf.corr, &out);
			seq = 0;
		}
	} else if (rc != -ENOENT) {
		el_buf_fini(&state);
		return rc;
	}
	el_buf_fini(&state);
	g->seq_last = seq;
	rc = be_db_replay(g->db, seq, be_ingest_replay_line, &r, &n);
	if (rc < 0)
		return rc;
	/* What the replay completed is written again: upserts, so idempotent. */
	if (be_db_flows_pending(g->db)) {
		rc = be_db_begin(g->db);
		if (rc == 0)
			rc = be_db_flows_flush(g->db);
		if (rc == 0)
			rc = be_db_commit(g->db);
		if (rc < 0) {
			be_db_rollback(g->db);
			return rc;
		}
	}
	g->st.recoveries++;
	g->dirty = n > 0;
	el_info("ingest: recovered correlation state: checkpoint at ingest_seq %llu, %llu lines "
		"replayed",
		(unsigned long long)seq, (unsigned long long)n);
	return 0;
}

/* be_ingest_new - see be_ingest.h */
int be_ingest_new(be_ingest **out, be_db *db, const be_ingest_conf *conf)
{
	be_ingest *g = calloc(1, sizeof(*g));
	int rc;

	if (g == NULL)
		return -ENOMEM;
	g->conf = *conf;
	g->last_day = -2;
	g->conf.flows_conninfo = NULL; /* not kept: the caller owns the string */
	g->db = db;
	g->trace = getenv("ELSE_TRACE_FLOWS") != NULL;
	el_map_init(&g->ctxs);
	el_parse_ctx_init(&g->shared);
	el_buf_init(&g->pipe.ckpt);
	el_buf_init(&g->ckpt_next);
	pthread_mutex_init(&g->pipe.mu, NULL);
	pthread_cond_init(&g->pipe.cv, NULL);
	pthread_mutex_init(&g->cm.mu, NULL);
	pthread_cond_init(&g->cm.cv, NULL);
	el_buf_init(&g->cm.job.stream);
	el_buf_init(&g->cm.job.jc.b);
	if (conf->flows_conninfo) {
		for (int n = 0; n < 2; n++) {
			rc = be_db_open(&g->cm.lx[n], conf->flows_conninfo);
			if (rc < 0) {
				be_ingest_free(g);
				return rc;
			}
		}
		if (pthread_create(&g->cm.thr, NULL, be_ingest_cm_main, &g->cm) != 0) {
			be_ingest_free(g);
			return -EAGAIN;
		}
		g->cm.running = true;
		g->pipe.running = true;
		for (int n = 0; n < BE_INGEST_WRITERS; n++) {
			be_ingest_writer *w = &g->pipe.w[n];
			w->p = &g->pipe;
			w->no = n;
			rc = be_db_open(&w->fdb, conf->flows_conninfo);
			if (rc == 0)
				rc = be_db_async_commit(w->fdb);
			if (rc == 0 && pthread_create(&w->thr, NULL, be_ingest_pipe_main, w) != 0)
				rc = -EAGAIN;
			if (rc < 0) {
				be_ingest_free(g);
				return rc;
			}
			g->pipe.nthreads++;
		}
	}
	rc = be_ingest_recover(g);
	if (rc < 0) {
		be_ingest_free(g);
		return rc;
	}
	g->last_checkpoint_us = g->last_activity_us = el_now_us(CLOCK_REALTIME);
	*out = g;
	return 0;
}

/* be_ingest_free - see be_ingest.h */
void be_ingest_free(be_ingest *g)
{
	if (g == NULL)
		return;
	if (g->cm.running) {
		be_ingest_collect(g);
		pthread_mutex_lock(&g->cm.mu);
		g->cm.stop = true;
		pthread_cond_broadcast(&g->cm.cv);
		pthread_mutex_unlock(&g->cm.mu);
		pthread_join(g->cm.thr, NULL);
	}
	for (int i = 0; i < 2; i++)
		be_db_close(g->cm.lx[i]);
	el_buf_fini(&g->cm.job.stream);
	el_buf_fini(&g->cm.job.jc.b);
	pthread_mutex_destroy(&g->cm.mu);
	pthread_cond_destroy(&g->cm.cv);
	if (g->pipe.nthreads) {
		be_ingest_pipe_wait(g);
		pthread_mutex_lock(&g->pipe.mu);
		g->pipe.stop = true;
		pthread_cond_broadcast(&g->pipe.cv);
		pthread_mutex_unlock(&g->pipe.mu);
		for (int i = 0; i < g->pipe.nthreads; i++)
			pthread_join(g->pipe.w[i].thr, NULL);
	}
	for (int i = 0; i < BE_INGEST_WRITERS; i++)
		be_db_close(g->pipe.w[i].fdb);
	el_buf_fini(&g->pipe.ckpt);
	el_buf_fini(&g->ckpt_next);
	pthread_mutex_destroy(&g->pipe.mu);
	pthread_cond_destroy(&g->pipe.cv);
	be_corr_free(g->corr);
	be_ingest_drop_ctxs(g);
	el_map_fini(&g->ctxs);
	el_parse_ctx_fini(&g->shared);
	free(g);
}

/* be_ingest_save_checkpoint - inside a transaction on g->db: the engine as of ingest_seq seq */
static int be_ingest_save_checkpoint(be_ingest *g, uint64_t seq)
{
	el_buf b;
	int rc;

	el_buf_init(&b);
	be_corr_dump_buf(g->corr, &b);
	rc = be_db_checkpoint_save(g->db, seq, b.p, b.len);
	el_buf_fini(&b);
	if (rc == 0)
		g->st.checkpoints++;
	return rc;
}

/*
 * be_ingest_fail - roll back and rebuild the engine from the database (batch:
 * a batch in hand failed, count it).  The batch in flight, if any, ends
 * first (its ack is its own): committed, it is counted and its flows come
 * back from flow_journal with the rest.
 */
static void be_ingest_fail(be_ingest *g, int rc, const char *what, bool batch)
{
	if (!g->down_since)
		el_warn("ingest: %s failed (%s): batch rolled back, collector will resend", what,
			strerror(-rc));
	if (g->cm.inflight) {
		if (be_ingest_cm_wait(g) == 0) {
			g->st.lines_committed += g->cm.job.lines;
			g->seq_last = g->cm.job.seq_end;
		} else {
			g->st.batches_failed++;
		}
	}
	for (int i = 0; i < 2; i++)
		if (g->cm.lx[i])
			be_db_rollback(g->cm.lx[i]);
	be_db_rollback(g->db);
	if (batch)
		g->st.batches_failed++;
	/* The engine saw lines that did not commit: it must forget them. */
	be_corr_free(g->corr);
	g->corr = NULL;
	be_ingest_recover(g);
}

/*
 * be_ingest_pipe_hand - after a batch's lines and flow_journal row committed
 * (or when idle): hand the flows journaled so far to the writers, with the
 * newest checkpoint taken since their last job (ckpt_next, taken when its
 * batch ended).  While the writers are busy the flows wait in the worker's
 * buffers (and in the journal) and the next batch goes on: their next job
 * then carries several batches (fewer, larger statements), and the worker
 * waits only once BE_INGEST_PIPE_MAX bytes of flows wait.  The job deletes
 * the journal rows of its flows.  A checkpoint may travel with flows of
 * later lines: those are made again by a replay from it, and rewritten as
 * upserts.  If the writers' last job failed, its flows are still in the
 * journal: be_ingest_journal applies them, and those waiting, before
 * anything else goes to the writers.  Nothing goes while a batch is in
 * flight: its flows are marked journaled before it commits.  Nor, while the
 * flows of the batch being read wait behind the journaled ones, does
 * anything that would wait for the writers or apply the journal (which
 * drops every flow buffered): that waits for the next batch's start.
 */
static void be_ingest_pipe_hand(be_ingest *g)
{
	be_ingest_pipe *p = &g->pipe;
	bool busy, reading;

	if (g->cm.inflight)
		return;
	if (!g->has_ckpt_next && be_db_flows_journaled(g->db) == 0 && !g->resync)
		return;
	pthread_mutex_lock(&p->mu);
	busy = p->w[0].busy || p->w[1].busy;
	pthread_mutex_unlock(&p->mu);
	reading = be_db_journal_unmarked(g->db);
	if (busy && be_db_flows_bytes(g->db) < BE_INGEST_PIPE_MAX)
		return;
	if (busy && reading && be_ingest_pipe_wait(g) < 0) {
		/* Too much waits: wait for the writers, but apply the journal later. */
		g->st.flow_jobs_failed++;
		g->resync = true;
	}
	if (reading && (g->resync || be_ingest_pipe_failed(g)))
		return;
	if (be_ingest_settle(g) < 0)
		return;
	if (!g->has_ckpt_next && be_db_flows_journaled(g->db) == 0)
		return;
	el_buf t = p->ckpt;
	p->ckpt = g->ckpt_next;
	g->ckpt_next = t;
	g->ckpt_next.len = 0;
	p->has_ckpt = g->has_ckpt_next;
	p->ckpt_seq = g->ckpt_next_seq;
	g->has_ckpt_next = false;
	p->journal_lo = g->journal_lo;
	p->journal_hi = g->journal_hi;
	g->journal_lo = g->journal_hi = 0;
	if (be_db_flows_take(p->w[0].fdb, g->db) < 0 ||
	    be_db_flows_split(p->w[1].fdb, p->w[0].fdb) < 0)
		el_panic("be_ingest: a flows writer still holds flows");
	pthread_mutex_lock(&p->mu);
	p->w[0].busy = true; /* it also closes the job */
	p->w[1].busy = be_db_flows_bytes(p->w[1].fdb) > 0;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* be_ingest_ckpt_take - the engine as of ingest_seq seq, for the writers' next job */
static void be_ingest_ckpt_take(be_ingest *g, uint64_t seq)
{
	g->ckpt_next.len = 0;
	be_corr_dump_buf(g->corr, &g->ckpt_next);
	g->ckpt_next_seq = seq;
	g->has_ckpt_next = true;
}

/* be_ingest_day_known - d among the days made, or among those this batch needs */
static bool be_ingest_day_known(const be_ingest *g, int64_t d)
{
	for (unsigned i = 0; i < g->ndays; i++)
		if (g->days[i] == d)
			return true;
	for (unsigned i = 0; i < g->nneed; i++)
		if (g->need[i] == d)
			return true;
	return false;
}

/* be_ingest_day_note - remember the day of a line (see be_ingest_conf) */
static void be_ingest_day_note(be_ingest *g, int64_t ts_us)
{
	int64_t d = ts_us >= 0 ? ts_us / BE_INGEST_DAY_US : -1;

	if (d == g->last_day || g->conf.retention_days <= 0)
		return;
	g->last_day = d;
	/*
	 * And the day after: lines come in time order, so its partitions are
	 * made before its rows arrive, and none of them waits in DEFAULT (to be
	 * moved later, holding the ingest meanwhile: seconds per day).
	 */
	for (int64_t k = d; k <= d + 1; k++)
		if (k >= 0 && g->nneed < BE_INGEST_DAYS && !be_ingest_day_known(g, k))
			g->need[g->nneed++] = k;
}

/*
 * be_ingest_days - after a commit: make the partitions of the days the batch
 * needs.  A failure (a lock not granted: a long search) is logged and
 * counted, and the day is tried again a second later, then two, four, up to
 * a minute (after a batch, or from be_ingest_idle); its lines wait in
 * DEFAULT meanwhile and move when the day is made.  Called outside a
 * transaction only.
 */
static void be_ingest_days(be_ingest *g)
{
	int64_t now = el_now_us(CLOCK_REALTIME), today = now / BE_INGEST_DAY_US;
	unsigned i;

	if (g->nneed == 0 || now < g->days_retry_us)
		return;
	for (i = 0; i < g->nneed; i++) {
		int64_t d = g->need[i];
		int rc = 0;

		if (d > today - g->conf.retention_days && d <= today + g->conf.ahead_days) {
			rc = be_db_partition_day(g->db, d);
			if (rc < 0) {
				g->st.partition_errors++;
				g->days_wait_us = g->days_wait_us ? 2 * g->days_wait_us : 1000000;
				if (g->days_wait_us > 60000000)
					g->days_wait_us = 60000000;
				g->days_retry_us = now + g->days_wait_us;
				el_warn("ingest: making the partitions of day %lld failed (%s): "
					"its lines wait in DEFAULT, tried again in %lld s",
					(long long)d, strerror(-rc),
					(long long)(g->days_wait_us / 1000000));
				break;
			}
			g->days_wait_us = 0;
			g->st.partition_days++;
		}
		/* Days out of the window stay in DEFAULT: do not ask again. */
		g->days[g->days_next] = d;
		g->days_next = (g->days_next + 1) % BE_INGEST_DAYS;
		if (g->ndays < BE_INGEST_DAYS)
			g->ndays++;
	}
	/* What failed is tried again, after a batch or when idle. */
	memmove(g->need, g->need + i, (g->nneed - i) * sizeof(g->need[0]));
	g->nneed -= i;
	g->last_day = -2;
}

/* be_ingest_keys_window - the days whose keys the flows may remember (be_db_keys_window) */
static void be_ingest_keys_window(be_ingest *g, int64_t now_us)
{
	int64_t today = now_us >= 0 ? now_us / BE_INGEST_DAY_US : 0;

	be_db_keys_window(g->db, today, g->conf.retention_days);
}

/* be_ingest_reserve - ingest_seq for n lines from the block (a new block when it runs out) */
static int be_ingest_reserve(be_ingest *g, uint64_t n, uint64_t *first)
{
	uint64_t blk = n > BE_INGEST_SEQ_BLOCK ? n : BE_INGEST_SEQ_BLOCK;
	int rc;

	if (g->seq_next == 0 || g->seq_end - g->seq_next + 1 < n) {
		if ((rc = be_db_ingest_reserve(g->db, blk, &g->seq_next)) < 0) {
			g->seq_next = 0;
			return rc;
		}
		g->seq_end = g->seq_next + blk - 1;
	}
	*first = g->seq_next;
	return 0;
}

/* be_ingest_submit - see be_ingest.h */
int be_ingest_submit(be_ingest *g, const char *identity, const Else__Batch *b, be_ingest_ack_fn ack,
		     void *tag)
{
	el_span host = el_span_make(identity, strlen(identity));
	el_span stream = el_span_make(b->stream_id, strlen(b->stream_id));
	int64_t t0 = el_now_us(CLOCK_REALTIME);
	int32_t host_id, stream_no;
	uint64_t committed = 0, first = b->first_seq, last = b->first_seq + b->n_lines - 1;
	uint64_t seq0 = 0, seq_end;
	size_t i, skip;
	int rc;
	const char *what = "begin";
	char err[300];
	be_db *ldb = g->cm.running ? g->cm.lx[g->cm.cur] : g->db;

	g->st.batches++;
	g->st.lines_in += b->n_lines;
	/* Quiet means no collector is sending, whatever became of the batches. */
	g->last_activity_us = t0;
	/*
	 * What must not run with a batch in flight: the engine's recovery, the
	 * writers' failure (the journal is applied), days to make (their DDL
	 * waits for the lines' transactions).
	 */
	if (g->cm.inflight && (g->corr == NULL || g->resync || be_ingest_pipe_failed(g) ||
			       (g->nneed && t0 >= g->days_retry_us))) {
		what = "commit";
		if ((rc = be_ingest_collect(g)) < 0)
			goto fail;
	}
	if (g->corr == NULL && (rc = be_ingest_recover(g)) < 0) {
		/* Pace the collectors' retries a little: nothing can progress anyway. */
		usleep(100000);
		ack(tag, ELSE__INGEST_STATUS__STATUS_BUSY, 0, "database unavailable");
		return 0;
	}
	if (!g->cm.inflight) {
		if (g->resync || be_ingest_pipe_failed(g))
			be_ingest_pipe_hand(g);
		be_ingest_days(g);
	}
	if (b->host && b->host[0] && strcmp(b->host, identity) != 0)
		g->st.host_mismatch++;
	g->flow_err = 0;
	g->last_day = -2;
	be_ingest_keys_window(g, t0);
	what = "host";
	if ((rc = be_db_host_id(g->db, host, &host_id)) < 0)
		goto fail;
	what = "begin";
	if ((rc = be_ingest_reserve(g, b->n_lines, &seq0)) < 0 ||
	    (rc = be_db_stream_begin_at(ldb, host_id, stream, seq0, b->n_lines, &stream_no,
					&committed)) < 0)
		goto fail;
	if (last <= committed) {
		/* All of it is stored already: a resend after a lost ack. */
		be_db_rollback(ldb);
		g->st.batches_dup++;
		g->st.lines_dup += b->n_lines;
		ack(tag, ELSE__INGEST_STATUS__STATUS_OK, committed, NULL);
		return 0;
	}
	g->seq_next += b->n_lines; /* used: a failure leaves a gap */
	seq_end = seq0 + b->n_lines - 1;
	if (first > committed + 1) {
		/* Lines the collector never sent (its spool lost them): record it loudly. */
		g->st.seq_gaps++;
		g->st.lines_gap += first - committed - 1;
		el_warn("ingest: %s stream %.*s: lines %llu..%llu never arrived", identity,
			(int)stream.len, stream.p, (unsigned long long)committed + 1,
			(unsigned long long)first - 1);
	}
	skip = committed >= first ? (size_t)(committed - first + 1) : 0;
	g->st.lines_dup += skip;
	el_parse_ctx *ctx = be_ingest_ctx(g, host_id, stream_no);
	what = "lines";
	for (i = skip; i < b->n_lines; i++) {
		const Else__Line *ln = b->lines[i];
		el_rec rec;
		be_db_line l;

		el_parse_line(ctx, (const char *)ln->text.data, ln->text.len, &rec);
		memset(&l, 0, sizeof(l));
		l.ts_us = (rec.flags & EL_REC_HAS_TIME) ? rec.time_s * 1000000 + rec.time_us
							: ln->recv_time_us;
		l.host_id = host_id;
		l.stream_no = stream_no;
		l.seq = ln->seq;
		l.program = el_rec_get(&rec, EL_F_PROGRAM);
		l.queue_id = el_rec_get(&rec, EL_F_QUEUE_ID);
		l.event = (int16_t)rec.event;
		uint64_t pid;
		l.pid = el_span_parse_u64(el_rec_get(&rec, EL_F_PID), &pid) == 0 && pid <= INT32_MAX
				? (int32_t)pid
				: 0;
		l.raw = el_span_make((const char *)ln->text.data, ln->text.len);
		if ((rc = be_db_line_add(ldb, &l)) < 0)
			goto fail;
		be_ingest_day_note(g, l.ts_us);
		if (rec.event == EL_EV_UNPARSED)
			g->st.unparsed++;
		be_corr_line_key(g->corr, be_ingest_line_key(host_id, stream_no, ln->seq));
		if (l.ts_us > g->st.newest_line_us)
			g->st.newest_line_us = l.ts_us;
		be_corr_line(g->corr, host, &rec);
	}
	be_corr_tick(g->corr, 0);
	if ((rc = g->flow_err) < 0)
		goto fail;
	bool ckpt;
	if (g->cm.running) {
		/*
		 * The batch before must have committed: batches commit in
		 * ingest_seq order.  Then this one's journal row, its checkpoint
		 * (the engine as of its last line), and its commit goes to the
		 * committer thread while the worker reads the next batch.
		 */
		what = "commit";
		if ((rc = be_ingest_collect(g)) < 0)
			goto fail;
		ckpt = t0 - g->last_checkpoint_us >= g->conf.checkpoint_us;
		be_ingest_job *j = &g->cm.job;
		if ((rc = be_db_journal_take(g->db, &j->jc)) < 0)
			goto fail;
		if (ckpt)
			be_ingest_ckpt_take(g, seq_end);
		j->db = ldb;
		j->host_id = host_id;
		j->stream.len = 0;
		el_buf_add(&j->stream, stream.p, stream.len);
		j->last = last;
		j->ack = ack;
		j->tag = tag;
		j->lines = b->n_lines - skip;
		j->seq_end = seq_end;
		j->t0 = t0;
		j->ckpt = ckpt;
		pthread_mutex_lock(&g->cm.mu);
		g->cm.queued = true;
		pthread_cond_broadcast(&g->cm.cv);
		pthread_mutex_unlock(&g->cm.mu);
		g->cm.inflight = true;
		g->cm.cur ^= 1;
		return 0;
	}
	ckpt = t0 - g->last_checkpoint_us >= g->conf.checkpoint_us;
	what = "lines";
	if ((rc = be_db_lines_flush(g->db)) < 0)
		goto fail;
	what = "flows";
	if ((rc = be_db_flows_flush(g->db)) < 0)
		goto fail;
	what = "stream";
	if ((rc = be_db_stream_set(g->db, host_id, stream, last)) < 0)
		goto fail;
	what = "checkpoint";
	if (ckpt && (rc = be_ingest_save_checkpoint(g, seq_end)) < 0)
		goto fail;
	what = "commit";
	if ((rc = be_db_commit(g->db)) < 0)
		goto fail;
	be_ingest_committed(g, b->n_lines - skip, seq_end, 0, t0, ckpt);
	be_ingest_days(g);
	ack(tag, ELSE__INGEST_STATUS__STATUS_OK, last, NULL);
	return 0;
fail:
	snprintf(err, sizeof(err), "database: %s failed: %s", what, strerror(-rc));
	be_ingest_fail(g, rc, what, true);
	/* A batch that hung on the database is not quiet time either. */
	g->last_activity_us = el_now_us(CLOCK_REALTIME);
	ack(tag, ELSE__INGEST_STATUS__STATUS_BUSY, 0, err);
	return 0;
}

/* be_ingest_capture - be_ingest_batch's ack: the result, for its caller */
typedef struct be_ingest_capture {
	Else__IngestStatus status;
	uint64_t committed;
	char *err;
	size_t errcap;
} be_ingest_capture;

static void be_ingest_capture_ack(void *tag, Else__IngestStatus status, uint64_t committed_seq,
				  const char *error)
{
	be_ingest_capture *c = tag;

	c->status = status;
	c->committed = committed_seq;
	snprintf(c->err, c->errcap, "%s", error ? error : "");
}

/* be_ingest_batch - see be_ingest.h */
int be_ingest_batch(be_ingest *g, const char *identity, const Else__Batch *b,
		    Else__IngestStatus *status, uint64_t *committed_seq, char *err, size_t errcap)
{
	be_ingest_capture c = { ELSE__INGEST_STATUS__STATUS_BUSY, 0, err, errcap };

	err[0] = '\0';
	be_ingest_submit(g, identity, b, be_ingest_capture_ack, &c);
	be_ingest_wait(g);
	*status = c.status;
	*committed_seq = c.committed;
	return 0;
}

/* be_ingest_busy - see be_ingest.h */
bool be_ingest_busy(const be_ingest *g)
{
	return g->cm.inflight;
}

/* be_ingest_wait - see be_ingest.h */
int be_ingest_wait(be_ingest *g)
{
	int rc = be_ingest_collect(g);

	if (rc < 0)
		be_ingest_fail(g, rc, "commit", false);
	return rc;
}

/* be_ingest_write_state - flows now due and a checkpoint, in one transaction */
static int be_ingest_write_state(be_ingest *g)
{
	int rc;

	/*
	 * After the writer's last job, on the worker's own connection: the
	 * flows of batches waiting here are in flow_journal too, up to
	 * journal_hi, and leave it in this transaction.  If settling applies
	 * the journal, it drops the flows buffered here: from be_ingest_idle
	 * that never happens (settled before the release), and from
	 * be_ingest_checkpoint every flow buffered came from a batch, journaled.
	 */
	if ((rc = be_ingest_wait(g)) < 0)
		return rc;
	if ((rc = be_ingest_settle(g)) < 0)
		return rc;
	if ((rc = be_db_begin(g->db)) < 0)
		goto fail;
	if ((rc = g->flow_err) < 0 || (rc = be_db_flows_flush(g->db)) < 0 ||
	    (g->journal_hi && (rc = be_db_journal_done(g->db, g->journal_lo, g->journal_hi)) < 0) ||
	    (rc = be_ingest_save_checkpoint(g, g->seq_last)) < 0 || (rc = be_db_commit(g->db)) < 0)
		goto fail;
	g->journal_lo = g->journal_hi = 0;
	g->dirty = false;
	g->has_ckpt_next = false; /* this one is newer */
	g->last_checkpoint_us = el_now_us(CLOCK_REALTIME);
	return 0;
fail:
	be_ingest_fail(g, rc, "checkpoint", true);
	return rc;
}

/* be_ingest_idle - see be_ingest.h */
int be_ingest_idle(be_ingest *g, int64_t now_us)
{
	/* A batch in flight: nothing here waits for it (the next batch may come first). */
	if (g->cm.inflight) {
		if (!be_ingest_cm_done(g))
			return 0;
		if (be_ingest_wait(g) < 0)
			return -EAGAIN;
	}
	if (g->corr == NULL)
		return be_ingest_recover(g);
	be_ingest_keys_window(g, now_us);
	/* The writers' last job failed: its flows wait in flow_journal. */
	if ((g->resync || be_ingest_pipe_failed(g)) && be_ingest_settle(g) < 0)
		return -EAGAIN;
	/* Flows that waited for a busy writer go as soon as it is free. */
	if (g->pipe.running)
		be_ingest_pipe_hand(g);
	if (g->corr == NULL)
		return -EAGAIN;
	be_ingest_days(g);
	if (now_us - g->last_activity_us < g->conf.idle_us)
		return 0;
	/*
	 * Quiet: let completed transactions out without waiting for newer
	 * lines to move the engine's clock (a quiet host's last mail should
	 * not wait for the next one to become searchable).  First the writer's
	 * last job must be over and the journal applied: be_ingest_journal
	 * drops the flows buffered here, which must all be in the journal.
	 */
	if (be_ingest_settle(g) < 0)
		return -EAGAIN;
	g->flow_err = 0;
	uint64_t before = g->st.flows;
	be_corr_release(g->corr);
	if (g->st.flows > before)
		el_info("ingest: quiet for %.0f s: writing %llu completed messages",
			(double)(now_us - g->last_activity_us) / 1e6,
			(unsigned long long)(g->st.flows - before));
	if (be_db_flows_pending(g->db) ||
	    (g->dirty && now_us - g->last_checkpoint_us >= g->conf.checkpoint_us))
		return be_ingest_write_state(g);
	return 0;
}

/* be_ingest_reconf - see be_ingest.h */
void be_ingest_reconf(be_ingest *g, int64_t checkpoint_us, int64_t idle_us, int retention_days,
		      int ahead_days)
{
	g->conf.checkpoint_us = checkpoint_us;
	g->conf.idle_us = idle_us;
	g->conf.retention_days = retention_days;
	g->conf.ahead_days = ahead_days;
}

/* be_ingest_checkpoint - see be_ingest.h */
int be_ingest_checkpoint(be_ingest *g)
{
	if (g->corr == NULL)
		return -ENOTCONN;
	return be_ingest_write_state(g);
}

/* be_ingest_get_stats - see be_ingest.h */
void be_ingest_get_stats(const be_ingest *g, be_ingest_stats *st, be_corr_stats *cs)
{
	be_db_stats ds;

	*st = g->st;
	be_db_get_stats(g->db, &ds);
	st->flows_upserted = ds.flows_upserted;
	st->keys_upserted = ds.keys_upserted;
	if (g->pipe.running) {
		pthread_mutex_lock((pthread_mutex_t *)&g->pipe.mu);
		st->checkpoints += g->pipe.ckpts;
		for (int i = 0; i < BE_INGEST_WRITERS; i++) {
			st->flows_upserted += g->pipe.w[i].upserted;
			st->keys_upserted += g->pipe.w[i].keys_upserted;
		}
		pthread_mutex_unlock((pthread_mutex_t *)&g->pipe.mu);
	}
	if (g->corr)
		be_corr_get_stats(g->corr, cs);
	else
		memset(cs, 0, sizeof(*cs));
}

/* be_ingest_db_stats - see be_ingest.h */
void be_ingest_db_stats(be_ingest *g, be_db_stats *ds)
{
	be_db_get_stats(g->db, ds);
	for (int i = 0; i < 2 && g->cm.lx[i]; i++) {
		be_db_stats t;
		pthread_mutex_lock(&g->cm.mu);
		/* The handle committing is the committer's: its counters as last read. */
		if (!(g->cm.queued && g->cm.job.db == g->cm.lx[i]))
			be_db_get_stats(g->cm.lx[i], &g->cm.lst[i]);
		t = g->cm.lst[i];
		pthread_mutex_unlock(&g->cm.mu);
		uint64_t *d = (uint64_t *)ds;
		const uint64_t *a = (const uint64_t *)&t;
		for (size_t k = 0; k < sizeof(t) / sizeof(uint64_t); k++)
			d[k] += a[k];
	}
}
