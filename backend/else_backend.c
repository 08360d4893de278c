/*
 * else-backend - receive collectors' log batches over NNG/TLS, correlate
 * them, and store lines and e-mail flows in PostgreSQL.
 *
 * usage: else-backend [-c CONFIG] [-o key=value]... [--print-config]
 *                     [--check-config] [--status]
 *                     [--create-admin NAME | --set-password NAME] (password on stdin)
 *
 * With no `database` configured, the backend runs its own PostgreSQL under
 * state_dir (docs/storage.md) and stops it on exit.  SIGTERM/SIGINT stop
 * cleanly (the batch in hand is finished and acknowledged, a checkpoint is
 * written); SIGHUP re-reads the settings that are safe to change while
 * running (retention, days ahead, intervals), and only if the whole file
 * loads.  Every metrics_interval the counters go to
 * STATE_DIR/run/metrics.json; --status prints them.
 * docs/backend.md describes operation.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "be_db.h"
#include "be_ingest.h"
#include "be_net.h"
#include "be_pg.h"
#include "be_qnet.h"
#include "be_query.h"
#include "be_db_query.h"
#include "el_ossl.h"
#include "el_conf.h"
#include "el_log.h"
#include "el_pbjson.h"
#include "el_priv.h"
#include "el_status.h"
#include "el_time.h"

/* Settings (deploy/else-backend.conf documents them). */
static char *cf_state_dir, *cf_database, *cf_database_ingest, *cf_pg_user, *cf_listen, *cf_ca,
	*cf_cert, *cf_user;
static int64_t cf_max_frame, cf_contexts, cf_max_conn, cf_retention, cf_stats_retention, cf_ahead,
	cf_checkpoint, cf_idle, cf_linger, cf_hop_window, cf_idle_evict, cf_max_open, cf_metrics,
	cf_catchup, cf_pipeline;
/* The query service (issue 6; docs/query.md). */
static char *cf_query_listen, *cf_query_db;
static int64_t cf_query_contexts, cf_query_pool, cf_query_max_frame, cf_query_timeout,
	cf_session_idle, cf_session_max, cf_login_window, cf_login_max_user, cf_login_max_ip,
	cf_history_keep, cf_session_cache;

static const el_conf_item be_conf[] = {
	{ "state_dir", EL_CONF_STR, "/var/lib/else", &cf_state_dir, 1, 200,
	  "directory for the embedded database, metrics and runtime state" },
	{ "database", EL_CONF_STR, "\"\"", &cf_database, 0, 1000,
	  "libpq conninfo of the schema owner; empty: run an embedded PostgreSQL in state_dir" },
	{ "database_ingest", EL_CONF_STR, "\"\"", &cf_database_ingest, 0, 1000,
	  "conninfo for the ingest path (role else_ingest); empty: database with "
	  "user=else_ingest" },
	{ "pg_user", EL_CONF_STR, "postgres", &cf_pg_user, 1, 64,
	  "system user the embedded PostgreSQL runs as when the backend starts as root" },
	{ "user", EL_CONF_STR, "\"\"", &cf_user, 0, 64,
	  "started as root, run as this user once the database and the listener are open; "
	  "empty: pg_user with the embedded database" },
	{ "listen", EL_CONF_STR, "tls+tcp://0.0.0.0:7701", &cf_listen, 1, 200,
	  "where collectors connect (tls+tcp://HOST:PORT)" },
	{ "ca_file", EL_CONF_STR, "/etc/else/ca.crt", &cf_ca, 1, 500,
	  "the ELSE CA certificate: collectors' certificates must chain to it" },
	{ "cert_file", EL_CONF_STR, "/etc/else/backend.pem", &cf_cert, 1, 500,
	  "this backend's private key and certificate, PEM (deploy/else-ca.sh server)" },
	{ "max_frame", EL_CONF_SIZE, "16M", &cf_max_frame, 64 << 10, 256 << 20,
	  "largest batch frame accepted from a collector" },
	{ "contexts", EL_CONF_INT, "8", &cf_contexts, 1, 64,
	  "batches in flight (the rest wait in the collectors: backpressure)" },
	{ "max_connections", EL_CONF_INT, "1024", &cf_max_conn, 1, 65536, "collector connections" },
	{ "retention", EL_CONF_DURATION, "90d", &cf_retention, 86400, 3650 * 86400LL,
	  "keep lines and flows this long (whole days are dropped)" },
	{ "stats_retention", EL_CONF_DURATION, "400d", &cf_stats_retention, 86400, 3650 * 86400LL,
	  "keep the statistics rollups this long (rows of older days are deleted daily)" },
	{ "ingest_pipeline", EL_CONF_INT, "1", &cf_pipeline, 0, 1,
	  "1: each batch commits its flows to flow_journal and two writer connections "
	  "apply them while the next batch's lines are stored (docs/backend.md); 0: lines "
	  "and flows applied in one transaction" },
	{ "partitions_ahead", EL_CONF_INT, "7", &cf_ahead, 1, 60,
	  "day partitions made in advance" },
	{ "checkpoint_interval", EL_CONF_DURATION, "30s", &cf_checkpoint, 1, 3600,
	  "at most this long between correlation checkpoints (bounds the replay at start)" },
	{ "idle_flush", EL_CONF_DURATION, "10s", &cf_idle, 1, 3600,
	  "no batch for this long: write completed flows without waiting for newer lines" },
	{ "linger", EL_CONF_DURATION, "30s", &cf_linger, 0, 3600,
	  "keep a completed message this long (log time) for late links from other hosts" },
	{ "catchup", EL_CONF_DURATION, "600s", &cf_catchup, 0, 86400,
	  "a host whose lines are at most this far behind the newest (a collector catching up) "
	  "holds completed messages back for its late links" },
	{ "hop_window", EL_CONF_DURATION, "300s", &cf_hop_window, 1, 86400,
	  "largest clock disagreement between hosts for a relay hop link" },
	{ "idle_evict", EL_CONF_DURATION, "8d", &cf_idle_evict, 3600, 365 * 86400LL,
	  "an open message idle this long is written as it stands" },
	{ "max_open", EL_CONF_INT, "1000000", &cf_max_open, 1000, 100000000,
	  "open messages kept in memory (about 1.5 KB each)" },
	{ "metrics_interval", EL_CONF_DURATION, "5s", &cf_metrics, 1, 3600,
	  "how often STATE_DIR/run/metrics.json is rewritten" },
	{ "query_listen", EL_CONF_STR, "tls+tcp://0.0.0.0:7702", &cf_query_listen, 0, 200,
	  "where frontends connect (tls+tcp://HOST:PORT; certificates with CN frontend*); "
	  "empty: no query service" },
	{ "query_db", EL_CONF_STR, "\"\"", &cf_query_db, 0, 1000,
	  "conninfo for the query service (role else_query); empty: database with "
	  "user=else_query" },
	{ "query_contexts", EL_CONF_INT, "16", &cf_query_contexts, 1, 256,
	  "query requests in flight (NNG contexts)" },
	{ "query_pool", EL_CONF_INT, "4", &cf_query_pool, 1, 64,
	  "query worker threads, each with its own database connection" },
	{ "query_max_frame", EL_CONF_SIZE, "4M", &cf_query_max_frame, 64 << 10, 64 << 20,
	  "largest request frame accepted from a frontend" },
	{ "query_timeout", EL_CONF_DURATION, "10s", &cf_query_timeout, 1, 3600,
	  "a query running longer is cancelled (statement_timeout): Q_BUSY" },
	{ "session_idle", EL_CONF_DURATION, "30m", &cf_session_idle, 60, 30 * 86400LL,
	  "a session unused this long ends" },
	{ "session_max", EL_CONF_DURATION, "12h", &cf_session_max, 300, 90 * 86400LL,
	  "a session ends this long after the login, used or not" },
	{ "login_window", EL_CONF_DURATION, "15m", &cf_login_window, 10, 86400,
	  "failed logins are counted over this window" },
	{ "login_max_user", EL_CONF_INT, "5", &cf_login_max_user, 1, 1000,
	  "failed logins per user name in the window before logins are THROTTLED" },
	{ "login_max_ip", EL_CONF_INT, "20", &cf_login_max_ip, 1, 100000,
	  "failed logins per client IP in the window before logins are THROTTLED" },
	{ "history_keep", EL_CONF_INT, "200", &cf_history_keep, 1, 100000,
	  "search history entries kept per user" },
	{ "session_cache", EL_CONF_DURATION, "1s", &cf_session_cache, 0, 60,
	  "searches and flow views within this time of a session's last check reuse it; "
	  "a logout or user change made through another backend applies after it (0: off)" },
};
#define BE_NCONF (sizeof(be_conf) / sizeof(be_conf[0]))

static volatile sig_atomic_t be_stop, be_reload;

/* be_ack - a batch's ack (be_ingest_submit; from the committer thread too) */
static be_net *be_ack_net;
static void be_ack(void *tag, Else__IngestStatus status, uint64_t committed_seq, const char *error)
{
	be_net_reply(be_ack_net, tag, status, committed_seq, error);
}
static uint64_t be_reloads, be_reload_errors; /* main thread */

static void be_on_signal(int sig)
{
	if (sig == SIGHUP)
		be_reload = 1;
	else
		be_stop = 1;
}

/* be_path - STATE_DIR/name */
static void be_path(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", cf_state_dir, name);
}

/* be_metrics_query - the query service's counters as "query":{...}, (nothing if off) */
static void be_metrics_query(FILE *f, be_qnet *qn)
{
	be_qnet_stats s;

	if (qn == NULL)
		return;
	be_qnet_stats_get(qn, &s);
	fprintf(f,
		"\"query\":{\"requests\":%llu,\"replies\":%llu,\"bytes_in\":%llu,"
		"\"bytes_out\":%llu,\"queued\":%u,\"busy\":%u,\"connections\":%u,"
		"\"authenticated\":%llu,\"status\":{",
		(unsigned long long)s.requests, (unsigned long long)s.replies,
		(unsigned long long)s.bytes_in, (unsigned long long)s.bytes_out, s.queued, s.busy,
		s.peers.pipes, (unsigned long long)s.peers.auths);
	for (int i = 0; i < BE_QNET_NSTATUS; i++) {
		/* The names of query.proto: Q_BAD_REQUEST counts as "bad_request". */
		const char *nm = el_pbjson_enum_name(&else__query_status__descriptor, i);
		fprintf(f, "%s\"", i ? "," : "");
		for (const char *c = nm && nm[0] == 'Q' && nm[1] == '_' ? nm + 2 : "other"; *c; c++)
			fputc(tolower((unsigned char)*c), f);
		fprintf(f, "\":%llu", (unsigned long long)s.status[i]);
	}
	fprintf(f,
		"},\"errors\":{\"unpack\":%llu,\"peer\":%llu,\"send\":%llu,\"tls\":%llu,"
		"\"frame\":%llu,\"too_large\":%llu,\"auth\":%llu,\"unauthenticated\":%llu,"
		"\"connections_refused\":%llu}},",
		(unsigned long long)s.err_unpack, (unsigned long long)s.err_peer,
		(unsigned long long)s.err_send, (unsigned long long)s.err_tls,
		(unsigned long long)s.err_frame, (unsigned long long)s.err_too_large,
		(unsigned long long)s.peers.err_auth, (unsigned long long)s.peers.err_unauth,
		(unsigned long long)s.peers.err_pipes_refused);
}

/* be_write_metrics - the counters as JSON, replaced atomically */
static void be_write_metrics(be_net *net, be_ingest *ing, be_qlog *ql, be_qnet *qn,
			     int64_t started_us)
{
	be_qlog_stats qs = { 0 };
	be_net_stats ns;
	be_ingest_stats is;
	be_corr_stats cs;
	be_db_stats ds;
	char path[600], *json = NULL;
	size_t len = 0;
	int64_t now = el_now_us(CLOCK_REALTIME);
	FILE *f;
	int rv;

	if (net)
		be_net_stats_get(net, &ns);
	else
		memset(&ns, 0, sizeof(ns));
	be_ingest_get_stats(ing, &is, &cs);
	be_ingest_db_stats(ing, &ds);
	if (ql)
		be_qlog_stats_get(ql, &qs);
	be_path(path, sizeof(path), "run/metrics.json");
	/* Made in memory, then replaced atomically (el_status_write). */
	f = open_memstream(&json, &len);
	if (f == NULL) {
		el_warn("metrics: %s", strerror(errno));
		return;
	}
	fprintf(f,
		"{\"time\":%lld,\"uptime_s\":%lld,\"pid\":%d,"
		"\"lines_in\":%llu,\"lines_committed\":%llu,\"lines_duplicate\":%llu,"
		"\"lines_unparsed\":%llu,\"lines_missing\":%llu,\"seq_gaps\":%llu,"
		"\"batches\":%llu,\"batches_duplicate\":%llu,\"batches_failed\":%llu,"
		"\"lag_s\":%.3f,\"last_batch_ms\":%.3f,"
		"\"queue_depth\":%u,\"in_worker\":%u,\"max_queue_depth\":%u,\"connections\":%u,"
		"\"flows\":%llu,\"rejects\":%llu,\"open_messages\":%llu,"
		"\"pending_hops\":%llu,\"hops_unclaimed\":%llu,\"checkpoints\":%llu,"
		"\"recoveries\":%llu,\"replayed_lines\":%llu,\"host_mismatch\":%llu,"
		"\"partition_days\":%llu,\"flow_journal_applied\":%llu,\"flows_upserted\":%llu,"
		"\"keys_upserted\":%llu,\"reloads\":%llu,"
		"\"errors\":{\"reload\":%llu,\"partitions\":%llu,\"flow_writer\":%llu,"
		"\"flow_journal\":%llu,"
		"\"tls\":%llu,\"frame\":%llu,\"unpack\":%llu,"
		"\"invalid\":%llu,"
		"\"unauthenticated\":%llu,\"auth\":%llu,\"connections_refused\":%llu,\"send\":%llu,"
		"\"db_server\":%llu,\"db_connection\":%llu},"
		"\"db\":{\"commits\":%llu,\"rollbacks\":%llu,\"reconnects\":%llu,\"rows\":%llu},",
		(long long)(now / 1000000), (long long)((now - started_us) / 1000000),
		(int)getpid(), (unsigned long long)is.lines_in,
		(unsigned long long)is.lines_committed, (unsigned long long)is.lines_dup,
		(unsigned long long)is.unparsed, (unsigned long long)is.lines_gap,
		(unsigned long long)is.seq_gaps, (unsigned long long)is.batches,
		(unsigned long long)is.batches_dup, (unsigned long long)is.batches_failed,
		is.newest_line_us ? (double)(now - is.newest_line_us) / 1e6 : 0.0,
		(double)is.last_batch_us / 1e3, ns.queued, ns.in_worker, ns.max_queued, ns.pipes,
		(unsigned long long)is.flows, (unsigned long long)is.rejects,
		(unsigned long long)cs.open, (unsigned long long)cs.pending_hops,
		(unsigned long long)cs.hops_unclaimed, (unsigned long long)is.checkpoints,
		(unsigned long long)is.recoveries, (unsigned long long)is.replayed,
		(unsigned long long)is.host_mismatch, (unsigned long long)is.partition_days,
		(unsigned long long)is.journal_applied, (unsigned long long)is.flows_upserted,
		(unsigned long long)is.keys_upserted, (unsigned long long)be_reloads,
		(unsigned long long)be_reload_errors, (unsigned long long)is.partition_errors,
		(unsigned long long)is.flow_jobs_failed, (unsigned long long)is.journal_bad,
		(unsigned long long)ns.err_tls, (unsigned long long)ns.err_frame,
		(unsigned long long)ns.err_unpack, (unsigned long long)ns.err_invalid,
		(unsigned long long)ns.err_unauth, (unsigned long long)ns.err_auth,
		(unsigned long long)ns.err_pipes_refused, (unsigned long long)ns.err_send,
		(unsigned long long)ds.err_server, (unsigned long long)ds.err_conn,
		(unsigned long long)ds.commits, (unsigned long long)ds.rollbacks,
		(unsigned long long)ds.reconnects, (unsigned long long)ds.lines_copied);
	be_metrics_query(f, qn);
	fprintf(f,
		"\"search_log\":{\"written\":%llu,\"queued\":%u,\"dropped\":%llu,"
		"\"failed_batches\":%llu}}\n",
		(unsigned long long)qs.written, qs.queued, (unsigned long long)qs.dropped,
		(unsigned long long)qs.failed_batches);
	if (fclose(f) != 0)
		el_warn("metrics: %s", strerror(errno));
	else if ((rv = el_status_write(path, json, len)) != 0)
		el_warn("metrics: %s: %s", path, strerror(-rv));
	free(json);
}

/* be_status - print the metrics of a running backend */
static int be_status(void)
{
	char path[600];

	be_path(path, sizeof(path), "run/metrics.json");
	return el_status_print("else-backend", path, 3 * cf_metrics + 5);
}

/* be_keep - what maintenance reads of the configuration (a reload changes it) */
typedef struct be_keep {
	int64_t retention, stats_retention, ahead;
} be_keep;

/* be_keep_now - the configuration's current values */
static be_keep be_keep_now(void)
{
	be_keep k = { cf_retention, cf_stats_retention, cf_ahead };

	return k;
}

/* be_maintain - partitions ahead and retention, on the owner's connection */
static void be_maintain(be_db *admin, be_keep k)
{
	int64_t now = time(NULL);
	int dropped = 0, rc;

	int64_t deleted = 0;

	rc = be_db_partitions(admin, now, (int)k.ahead);
	if (rc == 0)
		rc = be_db_retention(admin, now, (int)(k.retention / 86400), &dropped);
	if (rc == 0)
		rc = be_db_stats_retention(admin, now, (int)(k.stats_retention / 86400), &deleted);
	if (rc == 0 && deleted)
		el_info("retention: deleted %lld rollup rows older than %lld days",
			(long long)deleted, (long long)(k.stats_retention / 86400));
	if (rc < 0)
		el_warn("maintenance failed: %s (retried within the hour)", strerror(-rc));
	else if (dropped)
		el_info("retention: dropped %d partitions older than %lld days", dropped,
			(long long)(k.retention / 86400));
}

/*
 * be_top_refresh - the top lists' cuts (sql/006_stats_top.sql) for the days
 * ingest changed.  Every BE_TOP_REFRESH_S and at start: between refreshes
 * the hot rows only grow by keys that cross the old cut.  Sooner when a
 * group has many more hot keys than a refresh keeps (after a load, or just
 * after midnight on a busy platform, when today's cuts are still low), which
 * be_maint_main checks every BE_TOP_POLL_S.
 * Then the compaction of stats_top_hot, not before *next_compact.
 */
#define BE_TOP_REFRESH_S 300
#define BE_TOP_KEEP 100
/*
 * Between refreshes, every BE_TOP_POLL_S from BE_TOP_EARLY_S after the last
 * one: a refresh at once when a load left a day mostly hot (sql/015).
 */
#define BE_TOP_POLL_S 30
#define BE_TOP_EARLY_S 60
#define BE_TOP_COMPACT_MIN (64LL << 20)
static void be_top_refresh(be_db *admin, int64_t *next_compact)
{
	int64_t t0 = el_now_us(CLOCK_REALTIME);
	int days = 0, rc = be_db_stats_top_refresh(admin, BE_TOP_KEEP, &days);
	int64_t now = el_now_us(CLOCK_REALTIME);

	if (rc < 0)
		el_warn("top lists not refreshed: %s (retried within %d s)", strerror(-rc),
			BE_TOP_REFRESH_S);
	else if (now - t0 > 10000000)
		el_info("top lists: %d days refreshed in %.0f s", days, (double)(now - t0) / 1e6);
	/*
	 * What a large load left of stats_top_hot, given back (sql/012): at
	 * most one rewrite an hour, since one right after the refresh's deletes
	 * may keep rows that a transaction still running could see.
	 */
	if (now < *next_compact)
		return;
	int64_t freed = 0;
	t0 = now;
	rc = be_db_stats_top_compact(admin, BE_TOP_COMPACT_MIN, &freed);
	if (rc < 0) {
		el_warn("top lists: compaction failed: %s (retried within %d s)", strerror(-rc),
			BE_TOP_REFRESH_S);
	} else if (freed >= 0) {
		now = el_now_us(CLOCK_REALTIME);
		el_info("top lists: stats_top_hot rewritten in %.1f s, %lld MB given back",
			(double)(now - t0) / 1e6, (long long)(freed >> 20));
		*next_compact = now + 3600 * 1000000LL;
	}
}

/*
 * be_maint - partitions, retention, the top lists' refresh and the UTC day
 * mark, on the schema owner's connection, in a thread of their own: after a
 * large load a refresh takes minutes, and neither batches nor the start may
 * wait for it.  The thread owns the connection until be_maint_stop.  The
 * first refresh runs at once: until it ends, a day ingest changed meanwhile
 * lists its keys above the old cut (docs/storage.md).
 */
typedef struct be_maint {
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, done;
	be_db *admin;
	be_keep keep; /* under mu: set by the main thread at a reload */
} be_maint;

/* BE_NEXT_DAY - the start of the UTC day after the one of t (microseconds) */
#define BE_NEXT_DAY(t) (((t) / 86400000000LL + 1) * 86400000000LL)

/* be_maint_main - the maintenance thread */
static void *be_maint_main(void *arg)
{
	be_maint *m = arg;
	int64_t now = el_now_us(CLOCK_REALTIME);
	int64_t next_maint = now + 3600 * 1000000LL, next_top = now, next_compact = 0;
	int64_t next_poll = INT64_MAX, next_day = BE_NEXT_DAY(now);

	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		now = el_now_us(CLOCK_REALTIME);
		int64_t until = next_maint;
		if (next_top < until)
			until = next_top;
		if (next_day < until)
			until = next_day;
		if (next_poll < until)
			until = next_poll;
		if (now < until) {
			struct timespec ts = { (time_t)(until / 1000000),
					       (long)(until % 1000000) * 1000 };
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
			continue;
		}
		be_keep k = m->keep;
		pthread_mutex_unlock(&m->mu);
		if (now >= next_day) {
			/* A new UTC day: lines_today counts from here (004_lines_today.sql). */
			if (be_db_q_day_mark(m->admin) == 0)
				next_day = BE_NEXT_DAY(now);
			else
				next_day = now + 60 * 1000000LL; /* the database is away */
		}
		if (now >= next_maint) {
			be_maintain(m->admin, k);
			next_maint = now + 3600 * 1000000LL;
		}
		if (now >= next_poll && now < next_top) {
			bool due = false;
			if (be_db_stats_top_due(m->admin, BE_TOP_KEEP, &due) == 0 && due)
				next_top = now;
			next_poll = now + BE_TOP_POLL_S * 1000000LL;
		}
		if (now >= next_top) {
			be_top_refresh(m->admin, &next_compact);
			now = el_now_us(CLOCK_REALTIME);
			next_top = now + BE_TOP_REFRESH_S * 1000000LL;
			next_poll = now + BE_TOP_EARLY_S * 1000000LL;
		}
		pthread_mutex_lock(&m->mu);
	}
	m->done = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

/* be_maint_set - new retention values (a reload) */
static void be_maint_set(be_maint *m, be_keep k)
{
	pthread_mutex_lock(&m->mu);
	m->keep = k;
	pthread_mutex_unlock(&m->mu);
}

/*
 * be_maint_stop - stop the thread; a refresh still running after a few
 * seconds is left to end with the database (the embedded one stops it),
 * and the connection with it: true when the thread ended.
 */
static bool be_maint_stop(be_maint *m)
{
	struct timespec ts;
	bool done;

	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	ts = el_deadline(CLOCK_REALTIME, 5000);
	while (!m->done && pthread_cond_timedwait(&m->cv, &m->mu, &ts) == 0)
		;
	done = m->done;
	pthread_mutex_unlock(&m->mu);
	if (done)
		pthread_join(m->thr, NULL);
	else
		el_warn("maintenance still running (a top-list refresh): not waiting for it");
	return done;
}

/*
 * be_drop_privileges - started as root: become the service user now that
 * the database is running and the listener holds the private key.  The
 * runtime directory (metrics) is handed to that user first.
 */
static void be_drop_privileges(bool embedded)
{
	const char *name = cf_user[0] ? cf_user : embedded ? cf_pg_user : NULL;
	el_priv pv;
	char run[600];
	int rc;

	if (geteuid() != 0)
		return;
	if (name == NULL) {
		el_warn("running as root: set `user` to drop privileges");
		return;
	}
	if ((rc = el_priv_lookup(&pv, name, NULL)) != 0)
		el_fatal("user %s: %s", name, strerror(-rc));
	be_path(run, sizeof(run), "run");
	if (chown(run, pv.uid, pv.gid) < 0)
		el_fatal("%s: %s", run, strerror(errno));
	if ((rc = el_priv_drop(&pv)) != 0)
		el_fatal("cannot become user %s: %s", name, strerror(-rc));
	/* Collectors' certificates are checked against the CA at every handshake. */
	if (access(cf_ca, R_OK) < 0)
		el_fatal("ca_file %s is not readable by user %s: %s", cf_ca, name, strerror(errno));
	el_info("running as user %s", name);
}

/*
 * be_user_command - --create-admin NAME / --set-password NAME: the password
 * from one line of stdin (never an argument: ps would show it), at least
 * BE_QUERY_MIN_PASSWORD bytes.  The first admin exists only this way: there
 * is no default password.  Runs on the schema owner's connection.  Errors
 * are reported and returned (exit status 1), not fatal: the caller still
 * stops the embedded PostgreSQL it started.
 */
static int be_user_command(be_db *admin, int mode, const char *name)
{
	char pw[EL_OSSL_MAX_PASSWORD + 2], kdf[EL_OSSL_KDF_STRLEN + 8];
	size_t n;
	int64_t id = 0;
	int role, rc;
	bool disabled;

	if (name == NULL || name[0] == '\0' || strlen(name) > 64) {
		el_warn("user name: 1..64 bytes");
		return 1;
	}
	if (isatty(STDIN_FILENO))
		fprintf(stderr, "password for %s: ", name);
	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		el_warn("no password on stdin");
		return 1;
	}
	n = strcspn(pw, "\r\n");
	if (n > EL_OSSL_MAX_PASSWORD || n < BE_QUERY_MIN_PASSWORD) {
		memset(pw, 0, sizeof(pw));
		el_warn("refusing a password of %s than %d characters",
			n < BE_QUERY_MIN_PASSWORD ? "fewer" : "more",
			n < BE_QUERY_MIN_PASSWORD ? BE_QUERY_MIN_PASSWORD : EL_OSSL_MAX_PASSWORD);
		return 1;
	}
	pw[n] = '\0';
	rc = el_ossl_kdf_hash(el_span_make(pw, n), kdf, sizeof(kdf));
	memset(pw, 0, sizeof(pw));
	if (rc < 0) {
		el_warn("cannot hash the password: %s", strerror(-rc));
		return 1;
	}
	if (mode == 'A') {
		Else__UserInfo u;
		else__user_info__init(&u);
		u.name = (char *)name;
		u.role = ELSE__ROLE__ROLE_ADMIN;
		rc = be_db_auth_user_put(admin, &u, kdf, &id);
		if (rc == -EEXIST) {
			el_warn("user %s exists: use --set-password", name);
			return 1;
		}
	} else {
		rc = be_db_auth_user_pw(admin, name, &id, &role, &disabled, pw, sizeof(pw));
		if (rc == -ENOENT) {
			el_warn("no user %s", name);
			return 1;
		}
		if (rc == 0)
			rc = be_db_auth_password(admin, id, kdf, NULL);
	}
	if (rc < 0) {
		el_warn("database: %s", strerror(-rc));
		return 1;
	}
	be_db_auth_audit(admin, id, name, "", mode == 'A' ? "create_admin" : "set_password",
			 "command line", true);
	printf("else-backend: %s %s (id %lld)\n",
	       mode == 'A' ? "created admin" : "set the password of", name, (long long)id);
	return 0;
}

/* The query service: its network side, its workers and what they share. */
typedef struct be_qsvc {
	be_qnet *net;
	be_query **workers;
	int nworkers; /* of workers[] */
	be_qlog *log;
	be_qsess *sessions;
} be_qsvc;

/* be_query_start - the query service: one else_query connection per worker, one for the log */
static void be_query_start(const char *conninfo, be_qsvc *qs)
{
	char ci[1300];
	be_query_conf qc = {
		.session_idle_s = cf_session_idle,
		.session_max_s = cf_session_max,
		.login_window_s = cf_login_window,
		.login_max_user = cf_login_max_user,
		.login_max_ip = cf_login_max_ip,
		.history_keep = cf_history_keep,
		.timeout_ms = cf_query_timeout * 1000,
	};
	be_qnet_conf nc = { 0 };
	int rc;

	memset(qs, 0, sizeof(*qs));
	if (cf_query_listen[0] == '\0')
		return;
	if (cf_query_db[0])
		snprintf(ci, sizeof(ci), "%s", cf_query_db);
	else if (be_pg_conninfo_role(conninfo, "else_query", ci, sizeof(ci)) < 0)
		el_fatal("cannot build the query conninfo");
	if ((rc = be_qlog_new(&qs->log, ci, (int)cf_history_keep)) < 0 ||
	    (rc = be_qsess_new(&qs->sessions, cf_session_cache * 1000000)) < 0)
		el_fatal("query service: cannot start the search log: %s", strerror(-rc));
	qc.log = qs->log;
	qc.sessions = qs->sessions;
	qs->workers = calloc((size_t)cf_query_pool, sizeof(*qs->workers));
	if (qs->workers == NULL)
		el_fatal("out of memory");
	qs->nworkers = (int)cf_query_pool;
	for (int i = 0; i < qs->nworkers; i++)
		if ((rc = be_query_new(&qs->workers[i], ci, &qc)) < 0)
			el_fatal("database: query service cannot connect as else_query: %s",
				 strerror(-rc));
	nc.url = cf_query_listen;
	nc.ca_file = cf_ca;
	nc.cert_key_file = cf_cert;
	nc.max_frame = (size_t)cf_query_max_frame;
	nc.nctx = (int)cf_query_contexts;
	nc.nworkers = qs->nworkers;
	nc.worker_args = (void **)qs->workers;
	nc.handle = be_query_handle;
	if ((rc = be_qnet_start(&qs->net, &nc)) < 0)
		el_fatal("query_listen %s: %s", cf_query_listen, strerror(-rc));
	el_info("query service on %s (port %d), %d workers", cf_query_listen, be_qnet_port(qs->net),
		qs->nworkers);
}

/* be_query_stop - workers first, then the log writer (it writes what is queued) */
static void be_query_stop(be_qsvc *qs)
{
	be_qnet_stop(qs->net);
	for (int i = 0; qs->workers && i < qs->nworkers; i++)
		be_query_free(qs->workers[i]);
	free(qs->workers);
	be_qlog_free(qs->log);
	be_qsess_free(qs->sessions);
	memset(qs, 0, sizeof(*qs));
}

/*
 * The settings a reload changes in the running backend: the intervals, the
 * retention and the days made ahead.  They are numbers read by this thread
 * or copied under the maintenance thread's lock; every other setting sizes
 * something or is held by a thread started with it, and needs a restart.
 */
static const char *const be_live_conf[] = {
	"retention",           /* be_maintain, be_ingest_days */
	"stats_retention",     /* be_maintain */
	"partitions_ahead",    /* be_maintain, be_ingest_days */
	"checkpoint_interval", /* be_ingest */
	"idle_flush",          /* be_ingest */
	"metrics_interval",    /* the main loop */
};

/*
 * be_reconfigure - SIGHUP: the file and the -o settings again.  A file that
 * does not load (a typo, a value out of range) changes nothing: a running
 * backend never falls back to the defaults, which could shorten its
 * retention and drop days of data at the next maintenance.
 */
static void be_reconfigure(const el_conf_cli *cli, be_ingest *ing, be_maint *maint)
{
	el_conf_src src = el_conf_cli_src(cli);
	char err[512], restart[512];
	int rc;

	rc = el_conf_reload(be_conf, BE_NCONF, &src, be_live_conf,
			    sizeof(be_live_conf) / sizeof(be_live_conf[0]), err, sizeof(err),
			    restart, sizeof(restart));
	if (rc < 0) {
		be_reload_errors++;
		el_warn("reload of %s refused, the running settings stay: %s", cli->path, err);
		return;
	}
	be_reloads++;
	be_ingest_reconf(ing, cf_checkpoint * 1000000, cf_idle * 1000000,
			 (int)(cf_retention / 86400), (int)cf_ahead);
	be_maint_set(maint, be_keep_now());
	el_info("reloaded %s: retention %lldd, stats_retention %lldd, partitions_ahead %lld, "
		"checkpoint_interval %llds, idle_flush %llds, metrics_interval %llds%s%s",
		cli->path, (long long)(cf_retention / 86400),
		(long long)(cf_stats_retention / 86400), (long long)cf_ahead,
		(long long)cf_checkpoint, (long long)cf_idle, (long long)cf_metrics,
		restart[0] ? "; changed, taking effect at a restart: " : "", restart);
}

/* be_usage - print usage and exit */
static void be_usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: else-backend [-c CONFIG] [-o key=value]... [--print-config]\n"
		"                    [--check-config] [--status]\n"
		"                    [--create-admin NAME] [--set-password NAME]"
		"  (password read from stdin)\n");
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "create-admin", required_argument, NULL, 'A' },
		{ "set-password", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	char conninfo[1200], ingest_ci[1300];
	el_conf_cli cli;
	int rc;
	bool embedded, pg_started = false;

	el_log_set_prog("else-backend");
	el_conf_cli_parse(&cli, argc, argv, "/etc/else/else-backend.conf", opts, be_usage);
	el_conf_cli_load(&cli, be_conf, BE_NCONF);
	if (cli.mode == 'k') {
		printf("else-backend: configuration OK\n");
		return 0;
	}
	if (cli.mode == 's')
		return be_status();

	if (mkdir(cf_state_dir, 0755) < 0 && errno != EEXIST)
		el_fatal("state_dir %s: %s", cf_state_dir, strerror(errno));
	char run[600];
	be_path(run, sizeof(run), "run");
	if (mkdir(run, 0755) < 0 && errno != EEXIST)
		el_fatal("%s: %s", run, strerror(errno));
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = be_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* PostgreSQL first: it forks, and NNG must not be running then. */
	embedded = cf_database[0] == '\0';
	if (embedded) {
		rc = be_pg_start_ex(cf_state_dir, cf_pg_user, conninfo, sizeof(conninfo),
				    &pg_started);
		if (rc < 0)
			el_fatal("embedded PostgreSQL in %s/pg: %s", cf_state_dir, strerror(-rc));
	} else {
		snprintf(conninfo, sizeof(conninfo), "%s", cf_database);
	}
	if (cf_database_ingest[0])
		snprintf(ingest_ci, sizeof(ingest_ci), "%s", cf_database_ingest);
	else if (be_pg_conninfo_role(conninfo, "else_ingest", ingest_ci, sizeof(ingest_ci)) < 0)
		el_fatal("cannot build the ingest conninfo");

	be_db *admin = NULL, *db = NULL;
	if ((rc = be_db_open(&admin, conninfo)) < 0)
		el_fatal("database: cannot connect as the schema owner: %s", strerror(-rc));
	if ((rc = be_db_migrate(admin)) < 0)
		el_fatal("database: migration failed: %s", strerror(-rc));
	if (cli.mode == 'A' || cli.mode == 'P') {
		/* A one-off command: leave the embedded cluster as it was found. */
		rc = be_user_command(admin, cli.mode, cli.arg);
		be_db_close(admin);
		if (pg_started && be_pg_stop(cf_state_dir) < 0) {
			el_warn("embedded PostgreSQL did not stop");
			rc = 1;
		}
		el_conf_free(be_conf, BE_NCONF);
		return rc;
	}
	be_maintain(admin, be_keep_now());
	if ((rc = be_db_q_day_mark(admin)) < 0)
		el_warn("database: lines_today not marked: %s", strerror(-rc));
	if ((rc = be_db_open(&db, ingest_ci)) < 0)
		el_fatal("database: cannot connect as else_ingest: %s", strerror(-rc));

	be_ingest_conf ic = { .corr = BE_CORR_CONF_DEFAULT };
	ic.corr.linger_s = (uint32_t)cf_linger;
	ic.corr.hop_window_s = (uint32_t)cf_hop_window;
	ic.corr.idle_evict_s = (uint32_t)cf_idle_evict;
	ic.corr.max_open = (uint32_t)cf_max_open;
	ic.corr.catchup_s = (uint32_t)cf_catchup;
	ic.checkpoint_us = cf_checkpoint * 1000000;
	ic.idle_us = cf_idle * 1000000;
	ic.flows_conninfo = cf_pipeline ? ingest_ci : NULL;
	ic.retention_days = (int)(cf_retention / 86400);
	ic.ahead_days = (int)cf_ahead;
	be_ingest *ing = NULL;
	while ((rc = be_ingest_new(&ing, db, &ic)) < 0) {
		el_warn("database: cannot recover the correlation state (%s): retrying",
			strerror(-rc));
		sleep(2);
		if (be_stop)
			el_fatal("stopped before the state was recovered");
	}

	be_net_conf nc = { 0 };
	be_net *net = NULL;
	nc.url = cf_listen;
	nc.ca_file = cf_ca;
	nc.cert_key_file = cf_cert;
	nc.max_frame = (size_t)cf_max_frame;
	nc.nctx = (int)cf_contexts;
	nc.max_pipes = (int)cf_max_conn;
	if ((rc = be_net_start(&net, &nc)) < 0)
		el_fatal("listen %s: %s", cf_listen, strerror(-rc));
	el_info("listening on %s (port %d), database %s, state in %s", cf_listen, be_net_port(net),
		embedded ? "embedded" : "external", cf_state_dir);
	be_qsvc qsvc;
	be_query_start(conninfo, &qsvc);
	be_drop_privileges(embedded);

	be_maint maint = { .admin = admin, .keep = be_keep_now() };
	pthread_mutex_init(&maint.mu, NULL);
	pthread_cond_init(&maint.cv, NULL);
	if (pthread_create(&maint.thr, NULL, be_maint_main, &maint) != 0)
		el_fatal("cannot start the maintenance thread");
	int64_t started = el_now_us(CLOCK_REALTIME), next_metrics = 0;
	be_ack_net = net;
	while (!be_stop) {
		be_net_req *req = NULL;
		/* A batch in flight: take the next one now, or else wait for its commit. */
		rc = be_net_next(net, &req, be_ingest_busy(ing) ? 0 : 500);
		if (rc == 0)
			be_ingest_submit(ing, req->identity, req->batch, be_ack, req);
		else if (rc == -ESHUTDOWN)
			break;
		else if (be_ingest_busy(ing))
			be_ingest_wait(ing);
		int64_t now = el_now_us(CLOCK_REALTIME);
		be_ingest_idle(ing, now);
		if (now >= next_metrics) {
			be_write_metrics(net, ing, qsvc.log, qsvc.net, started);
			next_metrics = now + cf_metrics * 1000000;
		}
		if (be_reload) {
			be_reload = 0;
			be_reconfigure(&cli, ing, &maint);
		}
	}
	be_ingest_wait(ing); /* its ack goes out before the listener stops */
	el_info("stopping: writing a checkpoint");
	if (!be_maint_stop(&maint))
		admin = NULL; /* the thread still uses it */
	be_query_stop(&qsvc);
	be_net_shutdown(net);
	be_net_stop(net);
	if (be_ingest_checkpoint(ing) < 0)
		el_warn("final checkpoint failed: the next start replays from the previous one");
	be_write_metrics(NULL, ing, NULL, NULL, started);
	be_ingest_free(ing);
	be_db_close(db);
	be_db_close(admin);
	if (embedded && (rc = be_pg_stop(cf_state_dir)) < 0)
		el_warn("embedded PostgreSQL did not stop: %s", strerror(-rc));
	el_conf_free(be_conf, BE_NCONF);
	el_info("stopped");
	return 0;
}
