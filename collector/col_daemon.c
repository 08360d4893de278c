/*
 * col_daemon - reader threads, shipper thread, status file.  See col_daemon.h.
 */
#include "col_daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "el_buf.h"
#include "el_json.h"
#include "el_log.h"
#include "el_status.h"
#include "el_time.h"

#define COL_STATUS_STREAMS 64 /* streams listed in the status file */

typedef struct col_reader {
	col_daemon *d;
	col_src *src;
	const char *spec;
	pthread_t thr;
	bool started;
	col_src_stats st; /* copy, under d->mu */
	uint64_t read_errors, rejected;
	atomic_int finished;
} col_reader;

typedef struct col_errs {
	uint64_t timeout, busy, seq_gap, lost_gap, refused, auth, spool_full_waits, spool_io;
} col_errs;

struct col_daemon {
	col_daemon_conf c;
	col_spool *spool;
	col_ship *ship;
	col_reader *rd;
	pthread_t shipper;
	bool shipper_started;
	atomic_int stop;
	pthread_mutex_t mu;
	col_ship_stats ship_st; /* copy, under mu */
	col_errs err;           /* under mu */
	int64_t last_ack_us, started_us;
	uint64_t batches, lines_acked;
	char identity[256];
};

/* col_daemon_nap - sleep up to ms, in slices, returning early on stop */
static void col_daemon_nap(col_daemon *d, int ms)
{
	while (ms > 0 && !atomic_load(&d->stop)) {
		int slice = ms < 100 ? ms : 100;
		struct timespec ts = { 0, (long)slice * 1000000L };
		nanosleep(&ts, NULL);
		ms -= slice;
	}
}

/* col_daemon_reader - one source into the spool */
static void *col_daemon_reader(void *arg)
{
	col_reader *r = arg;
	col_daemon *d = r->d;
	col_src_chunk ch;
	int rc;

	while (!atomic_load(&d->stop)) {
		rc = col_src_read(r->src, &ch, 500);
		if (rc == -ENODATA) {
			atomic_store(&r->finished, 1);
			break;
		}
		if (rc < 0) {
			if (r->read_errors++ % 100 == 0)
				el_warn("source %s: %s", r->spec, strerror(-rc));
			col_daemon_nap(d, 1000);
			continue;
		}
		if (ch.n > 0 || ch.pos_len > 0 || ch.stream_end) {
			int64_t now = el_now_us(CLOCK_REALTIME);
			bool waited = false;
			while ((rc = col_spool_append(d->spool, &ch, now)) == -ENOSPC ||
			       rc == -EIO) {
				/* Keep the chunk: the source is not read past it. */
				if (!waited || rc == -EIO) {
					pthread_mutex_lock(&d->mu);
					if (rc == -ENOSPC)
						d->err.spool_full_waits++;
					else
						d->err.spool_io++;
					pthread_mutex_unlock(&d->mu);
				}
				waited = true;
				if (atomic_load(&d->stop))
					break;
				if (rc == -EIO)
					col_daemon_nap(d, 1000);
				else
					col_spool_wait_space(d->spool, 500);
			}
			if (rc == -EINVAL) {
				r->rejected++;
				el_warn("source %s: a chunk of stream %.200s was refused by the "
					"spool (stream id or position too long)",
					r->spec, ch.stream);
			}
		}
		pthread_mutex_lock(&d->mu);
		col_src_stats_get(r->src, &r->st);
		pthread_mutex_unlock(&d->mu);
	}
	return NULL;
}

/* col_daemon_kind - the wire's SourceKind */
static Else__SourceKind col_daemon_kind(col_src_kind k)
{
	switch (k) {
	case COL_SRC_FILE:
		return ELSE__SOURCE_KIND__SOURCE_FILE;
	case COL_SRC_SYSLOG:
		return ELSE__SOURCE_KIND__SOURCE_SYSLOG;
	case COL_SRC_MSGTRK:
		return ELSE__SOURCE_KIND__SOURCE_MSGTRK;
	case COL_SRC_STDIN:
		return ELSE__SOURCE_KIND__SOURCE_STDIN;
	}
	return ELSE__SOURCE_KIND__SOURCE_UNKNOWN;
}

/* col_daemon_wire - the spool batch as a protobuf Batch (lines point into b) */
static void col_daemon_wire(col_daemon *d, const col_spool_batch *b, Else__Batch *pb,
			    Else__Line **lines, Else__Line ***ptrs, size_t *cap)
{
	if (b->n > *cap) {
		free(*lines);
		free(*ptrs);
		*lines = calloc(b->n, sizeof(Else__Line));
		*ptrs = calloc(b->n, sizeof(Else__Line *));
		if (*lines == NULL || *ptrs == NULL)
			el_panic("collector: out of memory");
		*cap = b->n;
	}
	else__batch__init(pb);
	pb->host = (char *)d->c.host;
	pb->stream_id = (char *)b->stream;
	pb->source = col_daemon_kind(b->kind);
	pb->batch_seq = b->batch_seq;
	pb->first_seq = b->first_seq;
	for (size_t i = 0; i < b->n; i++) {
		Else__Line *l = &(*lines)[i];
		else__line__init(l);
		l->seq = b->first_seq + i;
		l->recv_time_us = b->recv_us[i];
		l->text.data = (uint8_t *)b->lines[i].p;
		l->text.len = b->lines[i].len;
		(*ptrs)[i] = l;
	}
	pb->n_lines = b->n;
	pb->lines = *ptrs;
}

/* col_daemon_count - one error of a kind, under the lock */
static void col_daemon_count(col_daemon *d, uint64_t *ctr)
{
	pthread_mutex_lock(&d->mu);
	(*ctr)++;
	pthread_mutex_unlock(&d->mu);
}

/* col_daemon_acked - the backend has the stream up to committed */
static void col_daemon_acked(col_daemon *d, const char *stream, uint64_t committed, size_t n)
{
	col_spool_ack(d->spool, stream, committed);
	pthread_mutex_lock(&d->mu);
	d->last_ack_us = el_now_us(CLOCK_REALTIME);
	d->batches++;
	d->lines_acked += n;
	col_ship_stats_get(d->ship, &d->ship_st);
	snprintf(d->identity, sizeof(d->identity), "%s", col_ship_identity(d->ship));
	pthread_mutex_unlock(&d->mu);
}

/* col_daemon_shipper - spool to backend, in order per stream */
static void *col_daemon_shipper(void *arg)
{
	col_daemon *d = arg;
	col_spool_batch b;
	Else__Batch pb;
	Else__Line *lines = NULL, **ptrs = NULL;
	size_t cap = 0;
	bool have = false;
	int backoff = 0, wait, rc, idle = d->c.spool.fsync_ms ? d->c.spool.fsync_ms : 200;
	uint64_t committed, last;

	col_spool_batch_init(&b);
	while (!atomic_load(&d->stop)) {
		col_spool_sync(d->spool, 0);
		if (!have) {
			rc = col_spool_peek(d->spool, &b, d->c.batch_lines, d->c.batch_bytes,
					    d->c.batch_ms, &wait);
			if (rc == -EAGAIN) {
				col_spool_wait_data(d->spool, wait < idle ? wait : idle);
				continue;
			}
			if (rc < 0) {
				col_daemon_count(d, &d->err.spool_io);
				col_daemon_nap(d, 1000);
				continue;
			}
			col_daemon_wire(d, &b, &pb, &lines, &ptrs, &cap);
			have = true;
		}
		last = pb.first_seq + pb.n_lines - 1;
		committed = 0;
		rc = col_ship_send(d->ship, &pb, &committed, d->c.send_timeout_ms);
		if (rc == 0 || (rc == -ERANGE && committed >= pb.first_seq)) {
			/* SEQ_GAP with part of it stored: take that, peek the rest again. */
			if (rc == -ERANGE)
				col_daemon_count(d, &d->err.seq_gap);
			col_daemon_acked(
				d, b.stream, committed < last ? committed : last,
				(size_t)((committed < last ? committed : last) - pb.first_seq + 1));
			have = false;
			backoff = 0;
			continue;
		}
		pthread_mutex_lock(&d->mu);
		col_ship_stats_get(d->ship, &d->ship_st);
		switch (rc) {
		case -ETIMEDOUT:
			d->err.timeout++;
			break;
		case -EAGAIN:
			d->err.busy++;
			break;
		case -ERANGE:
			d->err.lost_gap++;
			break;
		case -EACCES:
			d->err.auth++;
			break;
		default:
			d->err.refused++;
		}
		pthread_mutex_unlock(&d->mu);
		if (rc == -ERANGE)
			el_warn("ship: the backend misses lines %llu..%llu of %s that were "
				"acknowledged before (was its database restored?): resending what "
				"the spool still has",
				(unsigned long long)committed + 1,
				(unsigned long long)pb.first_seq - 1, b.stream);
		else if (rc != -ETIMEDOUT && rc != -EAGAIN)
			el_warn("ship: batch %llu of %s refused: %s: kept in the spool, retrying",
				(unsigned long long)pb.batch_seq, b.stream, strerror(-rc));
		/* Backoff: a busy or refusing backend is not hammered. */
		backoff = backoff ? backoff * 2 : 100;
		if (backoff > d->c.backoff_max_ms)
			backoff = d->c.backoff_max_ms;
		if (rc != -ETIMEDOUT)
			col_daemon_nap(d, backoff);
	}
	free(lines);
	free(ptrs);
	col_spool_batch_fini(&b);
	return NULL;
}

/* col_daemon_open - see col_daemon.h */
int col_daemon_open(col_daemon **out, const col_daemon_conf *conf)
{
	const col_src_resume *res;
	size_t nres;
	col_daemon *d;
	int rc;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return -ENOMEM;
	d->c = *conf;
	pthread_mutex_init(&d->mu, NULL);
	d->started_us = el_now_us(CLOCK_REALTIME);
	if ((rc = col_spool_open(&d->spool, &conf->spool)) < 0) {
		el_warn("spool %s: %s", conf->spool.dir, strerror(-rc));
		goto fail;
	}
	if ((d->rd = calloc(conf->nsrc ? conf->nsrc : 1, sizeof(col_reader))) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	nres = col_spool_resume(d->spool, &res);
	for (size_t i = 0; i < conf->nsrc; i++) {
		d->rd[i].d = d;
		d->rd[i].spec = conf->src_spec[i];
		if ((rc = col_src_open(&d->rd[i].src, &conf->src[i], res, nres)) < 0) {
			el_warn("source %s: %s", conf->src_spec[i], strerror(-rc));
			goto fail;
		}
	}
	*out = d;
	return 0;
fail:
	col_daemon_close(d);
	return rc;
}

/* col_daemon_start - see col_daemon.h */
int col_daemon_start(col_daemon *d)
{
	int rc;

	if ((rc = col_ship_open(&d->ship, &d->c.ship)) < 0) {
		el_warn("backend %s: %s", d->c.ship.url, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < d->c.nsrc; i++) {
		if ((rc = pthread_create(&d->rd[i].thr, NULL, col_daemon_reader, &d->rd[i])) != 0)
			return -rc;
		d->rd[i].started = true;
	}
	if ((rc = pthread_create(&d->shipper, NULL, col_daemon_shipper, d)) != 0)
		return -rc;
	d->shipper_started = true;
	return 0;
}

/* col_daemon_done - see col_daemon.h */
int col_daemon_done(col_daemon *d)
{
	col_spool_stats st;

	for (size_t i = 0; i < d->c.nsrc; i++)
		if (!atomic_load(&d->rd[i].finished))
			return 0;
	col_spool_stats_get(d->spool, &st, NULL, 0);
	return st.pending_lines == 0;
}

/* col_daemon_json_u - "key":number, */
static void col_daemon_json_u(el_buf *b, const char *key, uint64_t v)
{
	el_json_key(b, key, strlen(key));
	el_buf_add_u64(b, v);
	el_buf_addc(b, ',');
}

/* col_daemon_json_end - replace a trailing comma by c */
static void col_daemon_json_end(el_buf *b, char c)
{
	if (b->len && b->p[b->len - 1] == ',')
		b->len--;
	el_buf_addc(b, c);
}

/* col_daemon_status - see col_daemon.h */
void col_daemon_status(col_daemon *d)
{
	static col_spool_stream_stats ss[COL_STATUS_STREAMS];
	col_spool_stats sp;
	col_errs e;
	col_ship_stats sh;
	int64_t now = el_now_us(CLOCK_REALTIME), last_ack, oldest = 0;
	uint64_t batches, acked, read = 0, truncated = 0;
	char num[64];
	size_t n, i;
	el_buf b;
	int rv;

	if (d->c.status_file == NULL || d->c.status_file[0] == '\0')
		return;
	n = col_spool_stats_get(d->spool, &sp, ss, COL_STATUS_STREAMS);
	el_buf_init(&b);
	pthread_mutex_lock(&d->mu);
	e = d->err;
	sh = d->ship_st;
	last_ack = d->last_ack_us;
	batches = d->batches;
	acked = d->lines_acked;
	el_buf_addc(&b, '{');
	col_daemon_json_u(&b, "time", (uint64_t)(now / 1000000));
	col_daemon_json_u(&b, "pid", (uint64_t)getpid());
	col_daemon_json_u(&b, "uptime_s", (uint64_t)((now - d->started_us) / 1000000));
	el_json_key(&b, "identity", 8);
	el_json_str(&b, el_span_make(d->identity, strlen(d->identity)));
	el_buf_addc(&b, ',');
	el_json_key(&b, "sources", 7);
	el_buf_addc(&b, '[');
	for (i = 0; i < d->c.nsrc; i++) {
		const col_reader *r = &d->rd[i];
		read += r->st.lines;
		truncated += r->st.truncated;
		el_buf_addc(&b, '{');
		el_json_key(&b, "source", 6);
		el_json_str(&b, el_span_make(r->spec, strlen(r->spec)));
		el_buf_addc(&b, ',');
		col_daemon_json_u(&b, "lines", r->st.lines);
		col_daemon_json_u(&b, "bytes", r->st.bytes);
		col_daemon_json_u(&b, "truncated", r->st.truncated);
		col_daemon_json_u(&b, "rotations", r->st.rotations);
		col_daemon_json_u(&b, "truncations", r->st.truncations);
		col_daemon_json_u(&b, "reopen_errors", r->st.reopen_errors);
		col_daemon_json_u(&b, "read_errors", r->read_errors);
		col_daemon_json_u(&b, "symlinks_refused", r->st.symlinks_refused);
		col_daemon_json_u(&b, "files_opened", r->st.files_opened);
		col_daemon_json_u(&b, "datagrams", r->st.datagrams);
		col_daemon_json_u(&b, "connections", r->st.connections);
		col_daemon_json_u(&b, "framing_errors", r->st.framing_errors);
		col_daemon_json_u(&b, "clients_refused", r->st.clients_refused);
		col_daemon_json_u(&b, "last_read", (uint64_t)(r->st.last_read_us / 1000000));
		col_daemon_json_u(&b, "finished", (uint64_t)atomic_load(&r->finished));
		col_daemon_json_end(&b, '}');
		el_buf_addc(&b, ',');
	}
	pthread_mutex_unlock(&d->mu);
	col_daemon_json_end(&b, ']');
	el_buf_addc(&b, ',');
	for (i = 0; i < n; i++)
		if (ss[i].oldest_us && (oldest == 0 || ss[i].oldest_us < oldest))
			oldest = ss[i].oldest_us;
	snprintf(num, sizeof(num), "%.3f", oldest ? (double)(now - oldest) / 1e6 : 0.0);
	el_json_key(&b, "lag_s", 5);
	el_buf_add(&b, num, strlen(num));
	el_buf_addc(&b, ',');
	col_daemon_json_u(&b, "last_ack", (uint64_t)(last_ack / 1000000));
	snprintf(num, sizeof(num), "%.3f", last_ack ? (double)(now - last_ack) / 1e6 : -1.0);
	el_json_key(&b, "last_ack_age_s", 14);
	el_buf_add(&b, num, strlen(num));
	el_buf_addc(&b, ',');
	col_daemon_json_u(&b, "lines_read", read);
	col_daemon_json_u(&b, "lines_spooled", sp.lines_in);
	col_daemon_json_u(&b, "lines_acked", acked);
	col_daemon_json_u(&b, "batches", batches);
	el_json_key(&b, "spool", 5);
	el_buf_addc(&b, '{');
	col_daemon_json_u(&b, "lines", sp.pending_lines);
	col_daemon_json_u(&b, "bytes", sp.pending_bytes);
	col_daemon_json_u(&b, "disk_bytes", sp.disk_bytes);
	col_daemon_json_u(&b, "max_bytes", sp.max_bytes);
	col_daemon_json_u(&b, "full_now", (uint64_t)sp.full_now);
	col_daemon_json_u(&b, "full_refusals", sp.full);
	col_daemon_json_u(&b, "syncs", sp.syncs);
	col_daemon_json_u(&b, "torn_cut", sp.torn_cut);
	col_daemon_json_u(&b, "streams", sp.streams);
	col_daemon_json_end(&b, '}');
	el_buf_addc(&b, ',');
	el_json_key(&b, "ship", 4);
	el_buf_addc(&b, '{');
	col_daemon_json_u(&b, "handshakes", sh.handshakes);
	col_daemon_json_u(&b, "reconnects", sh.unauth + sh.resets);
	col_daemon_json_u(&b, "stalled", sh.stalled);
	col_daemon_json_u(&b, "bytes_out", sh.bytes_out);
	col_daemon_json_end(&b, '}');
	el_buf_addc(&b, ',');
	el_json_key(&b, "errors", 6);
	el_buf_addc(&b, '{');
	col_daemon_json_u(&b, "timeout", e.timeout);
	col_daemon_json_u(&b, "busy", e.busy);
	col_daemon_json_u(&b, "auth", e.auth);
	col_daemon_json_u(&b, "refused", e.refused);
	col_daemon_json_u(&b, "seq_gap", e.seq_gap);
	col_daemon_json_u(&b, "seq_gap_lost", e.lost_gap);
	col_daemon_json_u(&b, "spool_full_waits", e.spool_full_waits);
	col_daemon_json_u(&b, "spool_io", e.spool_io + sp.io_errors);
	col_daemon_json_u(&b, "truncated_lines", truncated);
	col_daemon_json_end(&b, '}');
	el_buf_addc(&b, ',');
	el_json_key(&b, "streams", 7);
	el_buf_addc(&b, '[');
	for (i = 0; i < n; i++) {
		el_buf_addc(&b, '{');
		el_json_key(&b, "stream", 6);
		el_json_str(&b, el_span_make(ss[i].stream, strlen(ss[i].stream)));
		el_buf_addc(&b, ',');
		col_daemon_json_u(&b, "spooled_seq", ss[i].spooled_seq);
		col_daemon_json_u(&b, "committed_seq", ss[i].committed_seq);
		col_daemon_json_u(&b, "pending", ss[i].spooled_seq - ss[i].committed_seq);
		col_daemon_json_end(&b, '}');
		el_buf_addc(&b, ',');
	}
	col_daemon_json_end(&b, ']');
	el_buf_addlit(&b, "}\n");
	if ((rv = el_status_write(d->c.status_file, b.p, b.len)) != 0)
		el_warn("status %s: %s", d->c.status_file, strerror(-rv));
	el_buf_fini(&b);
}

/* col_daemon_stop - see col_daemon.h */
void col_daemon_stop(col_daemon *d)
{
	atomic_store(&d->stop, 1);
	for (size_t i = 0; i < d->c.nsrc; i++)
		if (d->rd[i].src)
			col_src_stop(d->rd[i].src);
	for (size_t i = 0; i < d->c.nsrc; i++)
		if (d->rd[i].started) {
			pthread_join(d->rd[i].thr, NULL);
			d->rd[i].started = false;
		}
	if (d->shipper_started) {
		pthread_join(d->shipper, NULL);
		d->shipper_started = false;
	}
}

/* col_daemon_close - see col_daemon.h */
void col_daemon_close(col_daemon *d)
{
	if (d == NULL)
		return;
	if (d->rd)
		col_daemon_stop(d);
	if (d->spool && d->rd)
		col_daemon_status(d);
	col_ship_close(d->ship);
	for (size_t i = 0; d->rd && i < d->c.nsrc; i++)
		col_src_close(d->rd[i].src);
	free(d->rd);
	col_spool_close(d->spool);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
