/*
 * bench_corr - parse + correlate throughput, and memory per open message.
 *
 * usage: bench_corr [--copies N] [--open] FILE...
 *
 * Loads the FILEs (one log per host, as the harness writes them), merges their
 * lines by time once, then feeds N copies of that day through one parser
 * context and one correlation engine, shifting each copy's timestamps past the
 * previous one (so the copies are distinct mail, and completed messages leave
 * the engine as they would in a real stream).  Reports lines/s on one core
 * (CLOCK_THREAD_CPUTIME_ID) and wall, flows emitted, and the peak number of
 * open transactions with the heap in use at that moment.
 *
 * --open drops every "removed" line, so no message completes: the heap then
 * grows with the number of messages, which gives the memory per open
 * message (use it with one copy: later copies reuse the queue IDs).  Without it, memory is bounded by what is open at once, not by
 * the input size: compare --copies 1 and --copies 10.
 *
 * Last line, for scripts:
 *   result: lines=N cpu_lines_s=X wall_lines_s=X flows=N peak_open=N heap_bytes=N
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "be_corr.h"
#include "el_log.h"
#include "el_parse.h"

typedef struct bench_line {
	const char *p;
	size_t len;
	int64_t t;
} bench_line;

static uint64_t bench_flows;

/* bench_now - seconds on a clock */
static double bench_now(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* bench_load - read a whole file */
static char *bench_load(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	char *p;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		el_fatal("%s: %s", path, strerror(errno));
	p = malloc((size_t)st.st_size + 1);
	if (p == NULL)
		el_fatal("out of memory");
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, p + off, (size_t)st.st_size - off);
		if (n <= 0)
			el_fatal("%s: short read", path);
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return p;
}

/* bench_cmp - order lines by time, stable by position */
static int bench_cmp(const void *a, const void *b)
{
	const bench_line *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->p < y->p ? -1 : x->p > y->p;
}

/* bench_out_tx, bench_out_reject - count what the engine emits */
static void bench_out_tx(void *arg, const be_corr *c, const be_tx *t)
{
	(void)arg;
	(void)c;
	(void)t;
	bench_flows++;
}

static void bench_out_reject(void *arg, const be_corr *c, const be_reject *j)
{
	(void)arg;
	(void)c;
	(void)j;
	bench_flows++;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "copies", required_argument, NULL, 'c' },
		{ "open", no_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int copies = 1, ch, i;
	bool keep_open = false;
	bench_line *lines = NULL;
	size_t nlines = 0, cap = 0, bytes = 0;
	el_parse_ctx ctx;
	el_rec rec;

	el_log_set_prog("bench_corr");
	while ((ch = getopt_long(argc, argv, "c:o", opts, NULL)) != -1) {
		if (ch == 'c')
			copies = atoi(optarg);
		else if (ch == 'o')
			keep_open = true;
		else
			el_fatal("usage: bench_corr [--copies N] [--open] FILE...");
	}
	if (optind == argc || copies < 1)
		el_fatal("usage: bench_corr [--copies N] [--open] FILE...");
	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (i = optind; i < argc; i++) {
		size_t len, off = 0;
		char *p = bench_load(argv[i], &len);
		bytes += len;
		while (off < len) {
			char *nl = memchr(p + off, '\n', len - off);
			size_t l = nl ? (size_t)(nl - (p + off)) : len - off;
			if (nlines == cap) {
				cap = cap ? cap * 2 : 65536;
				lines = realloc(lines, cap * sizeof(*lines));
				if (lines == NULL)
					el_fatal("out of memory");
			}
			el_parse_line(&ctx, p + off, l, &rec);
			lines[nlines].p = p + off;
			lines[nlines].len = l;
			lines[nlines].t = rec.time_s * 1000000 + rec.time_us;
			nlines++;
			off += l + 1;
		}
	}
	qsort(lines, nlines, sizeof(*lines), bench_cmp);
	int64_t span = nlines ? lines[nlines - 1].t - lines[0].t + 3600 * 1000000LL : 0;

	/* What the engine holds is measured above what the input holds. */
	size_t heap_base = mallinfo2().uordblks;
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { bench_out_tx, bench_out_reject, NULL };
	be_corr *c = be_corr_new(&conf, &out);
	be_corr_stats st;
	uint64_t fed = 0, peak_open = 0;
	size_t heap_at_peak = 0;
	double w0 = bench_now(CLOCK_MONOTONIC), c0 = bench_now(CLOCK_THREAD_CPUTIME_ID);

	for (int k = 0; k < copies; k++) {
		for (size_t n = 0; n < nlines; n++) {
			el_parse_line(&ctx, lines[n].p, lines[n].len, &rec);
			if (keep_open && rec.event == EL_EV_REMOVED)
				continue;
			rec.time_s += (span / 1000000) * k;
			be_corr_line(c, el_rec_get(&rec, EL_F_HOST), &rec);
			be_corr_tick(c, 0);
			fed++;
			if ((fed & 4095) == 0) {
				be_corr_get_stats(c, &st);
				if (st.open > peak_open) {
					peak_open = st.open;
					heap_at_peak = mallinfo2().uordblks - heap_base;
				}
			}
		}
	}
	be_corr_get_stats(c, &st);
	if (st.open >= peak_open) {
		peak_open = st.open;
		heap_at_peak = mallinfo2().uordblks - heap_base;
	}
	be_corr_flush(c);
	double wall = bench_now(CLOCK_MONOTONIC) - w0,
	       cpu = bench_now(CLOCK_THREAD_CPUTIME_ID) - c0;
	be_corr_get_stats(c, &st);

	printf("input:      %d file(s), %zu lines, %zu bytes, x%d copies\n", argc - optind, nlines,
	       bytes, copies);
	printf("parse+corr: %.0f lines/s per core, %.0f lines/s wall (%.3f s cpu)\n",
	       (double)fed / cpu, (double)fed / wall, cpu);
	printf("engine:     %llu transactions, %llu flows out, %llu hop links, %llu filter links, "
	       "%llu DSN links, %llu refused\n",
	       (unsigned long long)st.tx_created, (unsigned long long)bench_flows,
	       (unsigned long long)st.links_hop, (unsigned long long)st.links_filter,
	       (unsigned long long)st.links_dsn, (unsigned long long)st.links_refused);
	printf("memory:     peak %llu open transactions, heap %zu bytes then (%.0f bytes per "
	       "open)\n",
	       (unsigned long long)peak_open, heap_at_peak,
	       peak_open ? (double)heap_at_peak / (double)peak_open : 0.0);
	printf("result: lines=%llu cpu_lines_s=%.0f wall_lines_s=%.0f flows=%llu peak_open=%llu "
	       "heap_bytes=%zu\n",
	       (unsigned long long)fed, (double)fed / cpu, (double)fed / wall,
	       (unsigned long long)bench_flows, (unsigned long long)peak_open, heap_at_peak);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
	free(lines);
	return 0;
}
