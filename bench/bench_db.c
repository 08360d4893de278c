/*
 * bench_db - COPY rate of raw lines into the lines table, with its indexes.
 *
 * usage: bench_db [--lines N] [--batch N] [--sql STMT] FILE...
 * (conninfo in ELSE_TEST_PG: run it through tests/pg/with_pg.sh, or bench/db.sh)
 *
 * Loads the FILEs (mail logs), parses every line once (not timed), then
 * writes --lines lines (the files repeated) into a fresh migrated database,
 * --batch lines per transaction, three ways, one after the other:
 *
 *   be_db   what the ingest path does with the lines: be_db_stream_begin
 *           (BEGIN and the stream's row lock), be_db_line_add per line
 *           (binary COPY buffer), be_db_stream_commit (ingest_seq
 *           reservation, COPY, stream update and COMMIT with fsync).
 *   binary  plain binary COPY of the same rows, one COPY + COMMIT per batch,
 *           no bookkeeping: the ceiling for the adapter.
 *   text    plain text COPY of the same rows (what psql \copy would send):
 *           the reference the ingest benchmark compares against.
 *
 * Each way gets a new database, so each starts from empty partitions.
 * --sql runs STMT in each new database after the migration (to try a schema
 * change, e.g. --sql 'DROP INDEX lines_host_queue_id').
 * Reports rows/s (wall: the server does most of the work), MB/s of raw line
 * bytes, and bytes on disk per line (table + indexes).  The last line, for
 * scripts:
 *   result: lines=N be_db=R binary=R text=R be_db_vs_text=X bytes_per_line=B
 *
 * Like test_db, it reads and creates databases with libpq directly: a
 * benchmark, not shipped code.
 */
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "be_db.h"
#include "be_db_int.h"
#include "el_log.h"
#include "el_parse.h"

typedef struct bline {
	const char *raw;
	size_t len;
	el_span program, queue_id;
	int16_t event;
	int32_t pid;
} bline;

static const char *bench_sql;
static bline *blines;
static size_t nblines;

/* bench_now - wall seconds */
static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* bench_load - read and parse every line of path (spans stay valid: leaked) */
static void bench_load(const char *path, el_parse_ctx *ctx)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	el_rec r;

	if (f == NULL)
		el_fatal("%s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			n--;
		char *copy = malloc((size_t)n + 1);
		if (copy == NULL)
			el_fatal("out of memory");
		memcpy(copy, line, (size_t)n);
		el_parse_line(ctx, copy, (size_t)n, &r);
		blines = realloc(blines, (nblines + 1) * sizeof(*blines));
		if (blines == NULL)
			el_fatal("out of memory");
		bline *b = &blines[nblines++];
		b->raw = copy;
		b->len = (size_t)n;
		b->program = el_rec_get(&r, EL_F_PROGRAM);
		b->queue_id = el_rec_get(&r, EL_F_QUEUE_ID);
		b->event = (int16_t)r.event;
		el_span pid = el_rec_get(&r, EL_F_PID);
		uint64_t v = 0;
		b->pid = pid.p && el_span_parse_u64(pid, &v) == 0 && v < INT32_MAX ? (int32_t)v : 0;
	}
	free(line);
	fclose(f);
}

/* bench_db_new - a fresh migrated database with today's partitions */
static void bench_db_new(const char *base, int k, char *ci, size_t cap)
{
	char sql[128];
	PGconn *c = PQconnectdb(base);
	PGresult *r;
	be_db *db;

	if (PQstatus(c) != CONNECTION_OK)
		el_fatal("connect: %s", PQerrorMessage(c));
	snprintf(sql, sizeof(sql), "CREATE DATABASE else_bench_%d", k);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		el_fatal("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	snprintf(ci, cap, "%s dbname=else_bench_%d", base, k);
	if (be_db_open(&db, ci) != 0 || be_db_migrate(db) != 0 ||
	    be_db_partitions(db, time(NULL), 2) != 0)
		el_fatal("cannot prepare the database");
	be_db_close(db);
	if (bench_sql) {
		c = PQconnectdb(ci);
		r = PQexec(c, bench_sql);
		if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
			el_fatal("--sql: %s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
	}
}

/* bench_size - bytes of lines (all partitions, indexes included) */
static double bench_size(const char *ci)
{
	PGconn *c = PQconnectdb(ci);
	PGresult *r = PQexec(c, "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
				"WHERE inhparent = 'lines'::regclass");
	double v = PQresultStatus(r) == PGRES_TUPLES_OK ? atof(PQgetvalue(r, 0, 0)) : 0;

	PQclear(r);
	PQfinish(c);
	return v;
}

/* bench_line - the i-th line: file lines repeated, 100 us apart, ending now */
static be_db_line bench_line(size_t i, size_t n, int64_t now_us, int32_t host, int32_t stream)
{
	const bline *b = &blines[i % nblines];
	be_db_line l;

	memset(&l, 0, sizeof(l));
	l.ts_us = now_us - (int64_t)(n - i) * 100;
	l.host_id = host;
	l.stream_no = stream;
	l.seq = i + 1;
	l.program = b->program;
	l.queue_id = b->queue_id;
	l.event = b->event;
	l.pid = b->pid;
	l.raw = el_span_make(b->raw, b->len);
	return l;
}

/* bench_run_be_db - through the adapter, as the ingest worker will */
static double bench_run_be_db(const char *ci, size_t n, size_t batch, int64_t now_us)
{
	be_db *db;
	int32_t h, sno;
	uint64_t committed;
	double t0;

	if (be_db_open(&db, ci) != 0 || be_db_host_id(db, EL_SPAN_LIT("mx1"), &h) != 0)
		el_fatal("be_db_open");
	t0 = bench_now();
	for (size_t i = 0; i < n;) {
		size_t end = i + batch < n ? i + batch : n;
		if (be_db_stream_begin(db, h, EL_SPAN_LIT("s"), end - i, &sno, &committed))
			el_fatal("begin");
		for (; i < end; i++) {
			be_db_line l = bench_line(i, n, now_us, h, sno);
			if (be_db_line_add(db, &l))
				el_fatal("line_add");
		}
		if (be_db_stream_commit(db, h, EL_SPAN_LIT("s"), end, NULL))
			el_fatal("commit");
	}
	t0 = bench_now() - t0;
	be_db_close(db);
	return t0;
}

/* bench_put - send a COPY buffer and finish the COPY */
static void bench_copy(PGconn *c, const char *sql, const el_buf *b)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COPY_IN)
		el_fatal("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
	if (PQputCopyData(c, b->p, (int)b->len) != 1 || PQputCopyEnd(c, NULL) != 1)
		el_fatal("copy: %s", PQerrorMessage(c));
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			el_fatal("copy: %s", PQresultErrorMessage(r));
		PQclear(r);
	}
}

/* bench_text_field - a COPY text value: \N, or the bytes with \\ \t \n \r escaped */
static void bench_text_field(el_buf *b, el_span s, bool null)
{
	if (null) {
		el_buf_addlit(b, "\\N");
		return;
	}
	for (size_t i = 0; i < s.len; i++) {
		char ch = s.p[i];
		if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
			el_buf_addc(b, '\\');
			ch = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch;
		}
		el_buf_addc(b, ch);
	}
}

/* bench_run_plain - plain COPY, binary or text, one per batch */
static double bench_run_plain(const char *ci, size_t n, size_t batch, int64_t now_us, bool text)
{
	static const char cols[] = "(ts, seq, ingest_seq, host_id, stream_no, pid, event, "
				   "program, queue_id, raw)";
	char sql[256];
	PGconn *c = PQconnectdb(ci);
	be_db dbs; /* only for be_db_copy_* (stats); never connected */
	be_db_copybuf cb;
	el_buf t;
	double t0;

	if (PQstatus(c) != CONNECTION_OK)
		el_fatal("connect: %s", PQerrorMessage(c));
	PQclear(PQexec(c, "INSERT INTO hosts (name) VALUES ('mx1')"));
	memset(&dbs, 0, sizeof(dbs));
	memset(&cb, 0, sizeof(cb));
	el_buf_init(&cb.b);
	el_buf_init(&t);
	snprintf(sql, sizeof(sql), "COPY lines %s FROM STDIN%s", cols,
		 text ? "" : " (FORMAT binary)");
	t0 = bench_now();
	for (size_t i = 0; i < n;) {
		size_t end = i + batch < n ? i + batch : n;
		be_db_copy_reset(&cb);
		for (; i < end; i++) {
			be_db_line l = bench_line(i, n, now_us, 1, 1);
			if (text) {
				char ts[64];
				time_t s = (time_t)(l.ts_us / 1000000);
				struct tm tm;
				gmtime_r(&s, &tm);
				size_t k = strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
				snprintf(ts + k, sizeof(ts) - k, ".%06d+00\t%llu\t%llu\t1\t1\t",
					 (int)(l.ts_us % 1000000), (unsigned long long)l.seq,
					 (unsigned long long)l.seq);
				el_buf_add(&cb.b, ts, strlen(ts));
				if (l.pid) {
					snprintf(ts, sizeof(ts), "%d\t%d\t", l.pid, 1);
				} else {
					snprintf(ts, sizeof(ts), "\\N\t%d\t", 1);
				}
				el_buf_add(&cb.b, ts, strlen(ts));
				t.len = 0;
				be_db_text_repair(&t, l.program.p, l.program.len, 128);
				bench_text_field(&cb.b, el_span_make(t.p, t.len),
						 l.program.len == 0);
				el_buf_addc(&cb.b, '\t');
				t.len = 0;
				be_db_text_repair(&t, l.queue_id.p, l.queue_id.len, 64);
				bench_text_field(&cb.b, el_span_make(t.p, t.len),
						 l.queue_id.len == 0);
				el_buf_addlit(&cb.b, "\t\\\\x");
				for (size_t j = 0; j < l.raw.len; j++) {
					static const char hx[] = "0123456789abcdef";
					el_buf_addc(&cb.b, hx[(unsigned char)l.raw.p[j] >> 4]);
					el_buf_addc(&cb.b, hx[(unsigned char)l.raw.p[j] & 15]);
				}
				el_buf_addc(&cb.b, '\n');
			} else {
				be_db_copy_row(&cb, 10);
				be_db_copy_ts(&cb.b, l.ts_us);
				be_db_copy_i64(&cb.b, (int64_t)l.seq);
				be_db_copy_i64(&cb.b, (int64_t)l.seq);
				be_db_copy_i32(&cb.b, 1);
				be_db_copy_i32(&cb.b, 1);
				if (l.pid)
					be_db_copy_i32(&cb.b, l.pid);
				else
					be_db_copy_null(&cb.b);
				be_db_copy_i16(&cb.b, 1);
				be_db_copy_text(&dbs, &cb.b, l.program.len ? l.program.p : NULL,
						l.program.len, 128);
				be_db_copy_text(&dbs, &cb.b, l.queue_id.len ? l.queue_id.p : NULL,
						l.queue_id.len, 64);
				be_db_copy_bytes(&cb.b, l.raw.p, l.raw.len);
			}
		}
		if (!text)
			be_db_copy_end(&cb);
		PQclear(PQexec(c, "BEGIN"));
		bench_copy(c, sql, &cb.b);
		PQclear(PQexec(c, "COMMIT"));
	}
	t0 = bench_now() - t0;
	el_buf_fini(&cb.b);
	el_buf_fini(&t);
	PQfinish(c);
	return t0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "lines", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "sql", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	size_t n = 1000000, batch = 5000, rawbytes = 0;
	const char *base = getenv("ELSE_TEST_PG");
	el_parse_ctx ctx;
	struct utsname un;
	char ci[8192], cpu[512] = "?";
	double t[3], per_line = 0;
	int ch;

	el_log_set_prog("bench_db");
	while ((ch = getopt_long(argc, argv, "n:b:s:", opts, NULL)) != -1) {
		if (ch == 'n')
			n = strtoull(optarg, NULL, 10);
		else if (ch == 'b')
			batch = strtoull(optarg, NULL, 10);
		else if (ch == 's')
			bench_sql = optarg;
		else
			return 2;
	}
	if (optind >= argc || base == NULL || n == 0 || batch == 0) {
		fprintf(stderr, "usage: ELSE_TEST_PG=conninfo bench_db [--lines N] [--batch N] "
				"FILE...\n");
		return 2;
	}
	el_parse_ctx_init(&ctx);
	for (int i = optind; i < argc; i++)
		bench_load(argv[i], &ctx);
	if (nblines == 0)
		el_fatal("no lines");
	for (size_t i = 0; i < n; i++)
		rawbytes += blines[i % nblines].len;

	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "model name", 10) == 0) {
				char *p = strchr(line, ':');
				snprintf(cpu, sizeof(cpu), "%s", p ? p + 2 : line);
				cpu[strcspn(cpu, "\n")] = '\0';
				break;
			}
		fclose(f);
	}
	uname(&un);
	printf("machine: %s, %ld cores, %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN), un.sysname,
	       un.release);
	printf("input: %zu distinct lines repeated to %zu lines (%.1f MB raw), %zu per "
	       "transaction\n",
	       nblines, n, (double)rawbytes / 1e6, batch);
	int64_t now_us = (int64_t)time(NULL) * 1000000;
	const char *names[] = { "be_db", "binary", "text" };
	for (int k = 0; k < 3; k++) {
		bench_db_new(base, k, ci, sizeof(ci));
		t[k] = k == 0 ? bench_run_be_db(ci, n, batch, now_us)
			      : bench_run_plain(ci, n, batch, now_us, k == 2);
		double sz = bench_size(ci);
		if (k == 0)
			per_line = sz / (double)n;
		printf("%-7s %9.0f rows/s  %6.1f MB/s raw  %5.2f s  %6.0f bytes/line on disk\n",
		       names[k], (double)n / t[k], (double)rawbytes / t[k] / 1e6, t[k],
		       sz / (double)n);
	}
	printf("result: lines=%zu be_db=%.0f binary=%.0f text=%.0f be_db_vs_text=%.2f "
	       "bytes_per_line=%.0f\n",
	       n, (double)n / t[0], (double)n / t[1], (double)n / t[2], t[2] / t[0], per_line);
	el_parse_ctx_fini(&ctx);
	return 0;
}
