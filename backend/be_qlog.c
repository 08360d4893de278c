/*
 * be_qlog - the search log writer.  See be_qlog.h.
 */
#include "be_qlog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "be_db.h"
#include "be_db_query.h"
#include "el_buf.h"
#include "el_json.h"
#include "el_log.h"
#include "el_time.h"

#define BE_QLOG_DELAY_MS 200           /* a record waits at most this long for others */
#define BE_QLOG_MAX_BYTES (64u << 20)  /* bytes of records waiting at most */
#define BE_QLOG_BATCH_BYTES (4u << 20) /* bytes of one statement's records at most */

/* One queued record: a JSON object of be_db_auth_search_log's batch. */
typedef struct be_qlog_item {
	struct be_qlog_item *next;
	int64_t at_us; /* when it was put */
	size_t len;
	char obj[];
} be_qlog_item;

struct be_qlog {
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits for records or stop */
	pthread_cond_t done; /* sync and full puts wait for the writer */
	pthread_t thr;
	be_db *db;
	int keep;
	bool stopping;
	int syncing; /* be_qlog_sync callers waiting: write now */
	be_qlog_item *head, *tail;
	uint32_t queued;
	size_t queued_bytes;
	uint64_t put_seq, done_seq; /* records queued / taken off the queue (FIFO) */
	uint64_t written, dropped, failed_batches;
	uint64_t warned_at; /* dropped when the last warning was logged */
};

/* be_qlog_str - "key":"value" (JSON-escaped), with a leading comma */
static void be_qlog_str(el_buf *b, const char *key, const char *v)
{
	el_buf_addc(b, ',');
	el_json_key(b, key, strlen(key));
	el_json_str(b, el_span_make(v ? v : "", v ? strlen(v) : 0));
}

/* be_qlog_dropped - count n dropped records (mu held); warn now and then */
static void be_qlog_dropped(be_qlog *l, uint64_t n, const char *why)
{
	l->dropped += n;
	if (l->dropped - l->warned_at >= 1000 || l->warned_at == 0) {
		el_warn("query: %" PRIu64 " search history and audit records dropped so far (%s)",
			l->dropped, why);
		l->warned_at = l->dropped;
	}
}

/* be_qlog_full - no room for another record (mu held) */
static bool be_qlog_full(const be_qlog *l)
{
	return l->queued >= BE_QLOG_MAX || l->queued_bytes >= BE_QLOG_MAX_BYTES;
}

/* be_qlog_pop - free the n oldest records, done with (mu held) */
static void be_qlog_pop(be_qlog *l, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		be_qlog_item *it = l->head;
		l->head = it->next;
		l->queued_bytes -= it->len;
		free(it);
	}
	if (l->head == NULL)
		l->tail = NULL;
	l->queued -= n;
	l->done_seq += n;
	pthread_cond_broadcast(&l->done);
}

/* be_qlog_put - see be_qlog.h */
void be_qlog_put(be_qlog *l, const be_qlog_rec *r)
{
	el_buf b;
	be_qlog_item *it;
	char num[64];
	int64_t now = el_now_us(CLOCK_REALTIME);

	el_buf_init(&b);
	snprintf(num, sizeof(num), "{\"u\":%" PRId64 ",\"t\":%" PRId64 ",\"c\":%" PRIu32,
		 r->user_id, now, r->results);
	el_buf_add(&b, num, strlen(num));
	be_qlog_str(&b, "n", r->user);
	be_qlog_str(&b, "ip", r->ip);
	be_qlog_str(&b, "a", r->action);
	be_qlog_str(&b, "d", r->detail);
	be_qlog_str(&b, "k", r->kind);
	be_qlog_str(&b, "q", r->json);
	el_buf_addc(&b, '}');
	it = malloc(sizeof(*it) + b.len);
	if (it == NULL)
		el_panic("be_qlog: out of memory");
	it->next = NULL;
	it->at_us = now;
	it->len = b.len;
	memcpy(it->obj, b.p, b.len);
	el_buf_fini(&b);

	pthread_mutex_lock(&l->mu);
	if (be_qlog_full(l) && !l->stopping) {
		struct timespec dl = el_deadline(CLOCK_REALTIME, 1000);
		while (be_qlog_full(l) && !l->stopping &&
		       pthread_cond_timedwait(&l->done, &l->mu, &dl) != ETIMEDOUT)
			;
	}
	if (be_qlog_full(l) || l->stopping) {
		be_qlog_dropped(l, 1, l->stopping ? "stopping" : "the database is not keeping up");
		pthread_mutex_unlock(&l->mu);
		free(it);
		return;
	}
	bool was_empty = l->head == NULL;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	l->queued++;
	l->queued_bytes += it->len;
	l->put_seq++;
	/*
	 * The writer sleeps until a first record comes, then until its batch
	 * is old or full: waking it for every record in between cost a context
	 * switch per search.
	 */
	if (was_empty || l->queued == BE_QLOG_BATCH)
		pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->mu);
}

/* be_qlog_write - items as one JSON array in one statement */
static int be_qlog_write(be_qlog *l, be_qlog_item *first, uint32_t n, el_buf *b)
{
	b->len = 0;
	el_buf_addc(b, '[');
	for (be_qlog_item *it = first; n; it = it->next, n--) {
		if (b->len > 1)
			el_buf_addc(b, ',');
		el_buf_add(b, it->obj, it->len);
	}
	el_buf_addc(b, ']');
	el_buf_addc(b, '\0');
	return be_db_auth_search_log(l->db, b->p, l->keep);
}

/*
 * be_qlog_flush - write the first n queued records in one statement.
 * *consumed: how many of them are done with (written, or dropped);
 * *written: how many are in the database.  A lost connection stops it
 * (the rest wait for the next try); a batch the server refuses is written
 * again record by record, and a record refused alone is dropped.
 */
static void be_qlog_flush(be_qlog *l, be_qlog_item *batch, uint32_t n, uint32_t *consumed,
			  uint32_t *written, el_buf *b)
{
	int rc = be_qlog_write(l, batch, n, b);

	*consumed = *written = 0;
	if (rc == 0) {
		*consumed = *written = n;
		return;
	}
	if (rc == -ECONNRESET || rc == -ENOTCONN)
		return;
	pthread_mutex_lock(&l->mu);
	l->failed_batches++;
	pthread_mutex_unlock(&l->mu);
	for (be_qlog_item *it = batch; *consumed < n; it = it->next) {
		rc = be_qlog_write(l, it, 1, b);
		if (rc == -ECONNRESET || rc == -ENOTCONN)
			return;
		(*consumed)++;
		if (rc == 0) {
			(*written)++;
		} else {
			pthread_mutex_lock(&l->mu);
			be_qlog_dropped(l, 1, "refused by the database");
			pthread_mutex_unlock(&l->mu);
		}
	}
}

/* be_qlog_main - the writer: take a batch, write it, repeat until stopped and empty */
static void *be_qlog_main(void *arg)
{
	be_qlog *l = arg;
	el_buf b;
	int64_t give_up = 0;

	el_buf_init(&b);
	pthread_mutex_lock(&l->mu);
	for (;;) {
		while (l->head == NULL && !l->stopping)
			pthread_cond_wait(&l->work, &l->mu);
		if (l->head == NULL)
			break;
		/*
		 * Let a batch gather for up to BE_QLOG_DELAY_MS: one statement of
		 * one record costs about as much as one of a hundred.
		 */
		for (;;) {
			int64_t left = l->head->at_us + BE_QLOG_DELAY_MS * 1000 -
				       el_now_us(CLOCK_REALTIME);
			if (l->queued >= BE_QLOG_BATCH || l->stopping || l->syncing || left <= 0)
				break;
			struct timespec dl = el_deadline(CLOCK_REALTIME, (int)(left / 1000) + 1);
			pthread_cond_timedwait(&l->work, &l->mu, &dl);
		}
		/* At most BE_QLOG_BATCH records and about BE_QLOG_BATCH_BYTES, one at least. */
		be_qlog_item *batch = l->head;
		uint32_t n = 0;
		size_t bytes = 0;
		for (be_qlog_item *it = batch;
		     it && n < BE_QLOG_BATCH && (n == 0 || bytes + it->len <= BE_QLOG_BATCH_BYTES);
		     it = it->next, n++)
			bytes += it->len;
		pthread_mutex_unlock(&l->mu);

		uint32_t done, ok;
		be_qlog_flush(l, batch, n, &done, &ok, &b);

		pthread_mutex_lock(&l->mu);
		be_qlog_pop(l, done);
		l->written += ok;
		if (done == n)
			continue;
		/* The database is away: retry every second; once stopping, for 5 s. */
		if (l->stopping) {
			if (give_up == 0)
				give_up = el_now_us(CLOCK_REALTIME) + 5000000;
			if (el_now_us(CLOCK_REALTIME) >= give_up) {
				be_qlog_dropped(l, l->queued, "stopping with the database away");
				be_qlog_pop(l, l->queued);
				break;
			}
		}
		struct timespec dl = el_deadline(CLOCK_REALTIME, 1000);
		pthread_cond_timedwait(&l->work, &l->mu, &dl);
	}
	pthread_mutex_unlock(&l->mu);
	el_buf_fini(&b);
	return NULL;
}

/* be_qlog_new - see be_qlog.h */
int be_qlog_new(be_qlog **out, const char *conninfo, int keep)
{
	be_qlog *l;
	int rc;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return -ENOMEM;
	l->keep = keep;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->done, NULL);
	if ((rc = be_db_open(&l->db, conninfo)) != 0 || (rc = be_db_async_commit(l->db)) != 0) {
		be_db_close(l->db);
		free(l);
		return rc;
	}
	if (pthread_create(&l->thr, NULL, be_qlog_main, l) != 0) {
		be_db_close(l->db);
		free(l);
		return -EAGAIN;
	}
	*out = l;
	return 0;
}

/* be_qlog_free - see be_qlog.h */
void be_qlog_free(be_qlog *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stopping = true;
	pthread_cond_broadcast(&l->work);
	pthread_cond_broadcast(&l->done);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thr, NULL);
	be_db_close(l->db);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->done);
	free(l);
}

/* be_qlog_sync - see be_qlog.h */
int be_qlog_sync(be_qlog *l, int timeout_ms)
{
	struct timespec dl = el_deadline(CLOCK_REALTIME, timeout_ms);
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	uint64_t want = l->put_seq;
	l->syncing++;
	pthread_cond_signal(&l->work);
	while (l->done_seq < want && rc == 0)
		rc = pthread_cond_timedwait(&l->done, &l->mu, &dl);
	l->syncing--;
	rc = l->done_seq >= want ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&l->mu);
	return rc;
}

/* be_qlog_stats_get - see be_qlog.h */
void be_qlog_stats_get(be_qlog *l, be_qlog_stats *st)
{
	pthread_mutex_lock(&l->mu);
	st->written = l->written;
	st->dropped = l->dropped;
	st->failed_batches = l->failed_batches;
	st->queued = l->queued;
	pthread_mutex_unlock(&l->mu);
}
