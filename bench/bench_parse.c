/*
 * bench_parse - parser throughput on one log file, on one core.
 *
 * usage: bench_parse [--json] [--year YYYY] [--min-time SEC] [--runs N] FILE
 *
 * Loads FILE fully into memory, then parses every line with el_parse_line()
 * (one context, force_year set), pass after pass, until a run has lasted at
 * least --min-time seconds of wall time (default 2).  It does --runs such runs
 * (default 3) and reports the best.  With --json each record is also rendered
 * with el_rec_json() into one reused el_buf (no I/O), which is what else-parse
 * does apart from reading and writing.
 *
 * Splitting the buffer into lines (memchr for '\n') is part of the measured
 * work, because any reader of a real log has to do it too; it costs a few
 * ns per line.
 *
 * Two rates are printed: wall (lines / CLOCK_MONOTONIC seconds) and per core
 * (lines / CLOCK_THREAD_CPUTIME_ID seconds).  On a quiet machine they agree;
 * on a busy one the per-core figure is the one to compare.  Every result is
 * folded into a checksum printed at the end, so the compiler cannot drop the
 * parsing work, and so two builds can be checked to do the same work.
 *
 * The last line is a machine-readable summary for bench/parse.sh:
 *   result: mode=struct lines=N bytes=N cpu_lines_s=X wall_lines_s=X ...
 *
 * This is a measuring tool, not a program that ships: it trusts its arguments
 * but not the log bytes, which are only ever handled through lengths.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "el_buf.h"
#include "el_log.h"
#include "el_parse.h"

#if defined(__clang__)
#define BENCH_CC "clang"
#elif defined(__GNUC__)
#define BENCH_CC "gcc"
#else
#define BENCH_CC "cc"
#endif
#ifdef __OPTIMIZE__
#define BENCH_OPT ", optimised"
#else
#define BENCH_OPT ", NOT optimised: build with -DCMAKE_BUILD_TYPE=Release"
#endif

/* One pass over the file: its line count and what it folded into the checksum. */
typedef struct bench_pass {
	uint64_t lines;
	uint64_t unparsed;
	uint64_t sum;
} bench_pass;

/* One timed run: whole passes until min_time of wall time went by. */
typedef struct bench_run {
	uint64_t passes;
	double wall_s;
	double cpu_s;
} bench_run;

/* bench_now - seconds on the given clock */
static double bench_now(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts) != 0)
		el_fatal("clock_gettime: %s", strerror(errno));
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* bench_load - read the whole file into a fresh heap buffer */
static char *bench_load(const char *path, size_t *lenp)
{
	struct stat st;
	size_t off = 0, cap;
	char *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		el_fatal("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0)
		el_fatal("%s: fstat: %s", path, strerror(errno));
	/* The size is only a hint: the file may grow or be a pipe, so grow as needed. */
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 20;
	p = malloc(cap);
	if (p == NULL)
		el_fatal("%s: out of memory for %zu bytes", path, cap);
	for (;;) {
		ssize_t n;
		if (off == cap) {
			char *q;
			cap *= 2;
			q = realloc(p, cap);
			if (q == NULL)
				el_fatal("%s: out of memory for %zu bytes", path, cap);
			p = q;
		}
		n = read(fd, p + off, cap - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			el_fatal("%s: read: %s", path, strerror(errno));
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*lenp = off;
	return p;
}

/*
 * bench_pass_run - parse every line of buf once.  With json set, also render
 * each record into out.  Every input line counts, also an unterminated last
 * one, as else-parse counts them.
 */
static void bench_pass_run(el_parse_ctx *ctx, const char *buf, size_t len, el_rec *rec, el_buf *out,
			   int json, bench_pass *res)
{
	const char *p = buf, *end = buf + len;
	uint64_t lines = 0, unparsed = 0, sum = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		el_parse_line(ctx, p, n, rec);
		/* Fold in what a consumer reads: event, field keys and value lengths, time. */
		sum = sum * 31 + (uint64_t)rec->event * 131 + rec->nf;
		if (rec->nf)
			sum += rec->f[rec->nf - 1].key + rec->f[rec->nf - 1].val.len;
		sum += (uint64_t)rec->time_s;
		unparsed += rec->event == EL_EV_UNPARSED;
		if (json) {
			out->len = 0;
			el_rec_json(ctx, rec, out);
			sum += out->len + (unsigned char)out->p[out->len - 1];
		}
		lines++;
		p = nl ? nl + 1 : end;
	}
	res->lines = lines;
	res->unparsed = unparsed;
	res->sum = sum;
}

/* bench_cpu_model - the "model name" line of /proc/cpuinfo, or "unknown" */
static void bench_cpu_model(char *out, size_t outlen)
{
	static const char key[] = "model name";
	char line[512];
	FILE *f;

	snprintf(out, outlen, "unknown");
	f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *colon;
		size_t n;

		if (memcmp(line, key, sizeof(key) - 1) != 0)
			continue;
		colon = memchr(line, ':', strlen(line));
		if (colon == NULL)
			break;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		n = strcspn(colon, "\n");
		snprintf(out, outlen, "%.*s", (int)n, colon);
		break;
	}
	fclose(f);
}

/* bench_usage - print usage and exit */
static void bench_usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: bench_parse [--json] [--year YYYY] [--min-time SEC] [--runs N] FILE\n"
		"Parse FILE from memory repeatedly; print lines/s, MB/s and ns/line.\n");
	exit(code);
}

/* bench_arg_long - parse a bounded integer option or exit */
static long bench_arg_long(const char *name, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		el_fatal("--%s: expected an integer from %ld to %ld, got '%s'", name, min, max, s);
	return v;
}

/* bench_arg_double - parse a bounded decimal option or exit */
static double bench_arg_double(const char *name, const char *s, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		el_fatal("--%s: expected a number from %g to %g, got '%s'", name, min, max, s);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "year", required_argument, NULL, 'y' },
		{ "min-time", required_argument, NULL, 't' },
		{ "runs", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, runs = 3, year = 0, ch, i;
	double min_time = 2.0;
	char model[256];
	const char *path;
	bench_pass first, pass;
	bench_run best = { 0, 0, 0 };
	uint64_t checksum = 0;
	el_rec *rec;
	el_buf out;
	size_t len;
	char *buf;

	el_log_set_prog("bench_parse");
	while ((ch = getopt_long(argc, argv, "jy:t:r:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json = 1;
			break;
		case 'y':
			year = (int)bench_arg_long("year", optarg, 1970, 9999);
			break;
		case 't':
			min_time = bench_arg_double("min-time", optarg, 0, 3600);
			break;
		case 'r':
			runs = (int)bench_arg_long("runs", optarg, 1, 100);
			break;
		case 'h':
			bench_usage(0);
			break;
		default:
			bench_usage(2);
		}
	}
	if (optind != argc - 1)
		bench_usage(2);
	path = argv[optind];
	if (year == 0) {
		time_t now = time(NULL);
		struct tm tm;
		if (localtime_r(&now, &tm) == NULL)
			el_fatal("localtime_r failed");
		year = tm.tm_year + 1900;
	}

	buf = bench_load(path, &len);
	/* The record is ~1.6 KiB; on the heap, as a long-running reader would keep it. */
	rec = malloc(sizeof(*rec));
	if (rec == NULL)
		el_fatal("out of memory");
	el_buf_init(&out);

	/* A warm-up pass faults the file and the buffer in and gives the counts. */
	{
		el_parse_ctx ctx;
		el_parse_ctx_init(&ctx);
		ctx.force_year = year;
		bench_pass_run(&ctx, buf, len, rec, &out, json, &first);
		el_parse_ctx_fini(&ctx);
	}
	if (first.lines == 0)
		el_fatal("%s: no lines", path);

	for (i = 0; i < runs; i++) {
		el_parse_ctx ctx;
		bench_run run = { 0, 0, 0 };
		double w0, c0;

		el_parse_ctx_init(&ctx);
		ctx.force_year = year;
		w0 = bench_now(CLOCK_MONOTONIC);
		c0 = bench_now(CLOCK_THREAD_CPUTIME_ID);
		do {
			bench_pass_run(&ctx, buf, len, rec, &out, json, &pass);
			checksum = checksum * 1000003 + pass.sum;
			run.passes++;
			run.wall_s = bench_now(CLOCK_MONOTONIC) - w0;
		} while (run.wall_s < min_time);
		run.cpu_s = bench_now(CLOCK_THREAD_CPUTIME_ID) - c0;
		el_parse_ctx_fini(&ctx);
		/* The sum may differ (year rollover carries across passes); the count may not. */
		if (pass.lines != first.lines)
			el_fatal("run %d saw %llu lines, the warm-up pass %llu", i + 1,
				 (unsigned long long)pass.lines, (unsigned long long)first.lines);
		/* Best = least CPU time per pass: the run least disturbed by others. */
		if (best.passes == 0 || run.cpu_s / run.passes < best.cpu_s / best.passes)
			best = run;
		printf("run %d: %llu passes, wall %.3f s, cpu %.3f s, %.0f lines/s per core\n",
		       i + 1, (unsigned long long)run.passes, run.wall_s, run.cpu_s,
		       (double)(first.lines * run.passes) / run.cpu_s);
	}

	{
		double nlines = (double)(first.lines * best.passes);
		double nbytes = (double)len * (double)best.passes;
		double cpu_ls = nlines / best.cpu_s, wall_ls = nlines / best.wall_s;
		double cpu_mbs = nbytes / best.cpu_s / 1e6, wall_mbs = nbytes / best.wall_s / 1e6;
		double ns_line = best.cpu_s * 1e9 / nlines;
		const char *mode = json ? "json" : "struct";

		bench_cpu_model(model, sizeof(model));
		printf("machine:   %s, %ld online CPUs, ran on CPU %d\n", model,
		       sysconf(_SC_NPROCESSORS_ONLN), sched_getcpu());
		printf("compiler:  %s %s%s\n", BENCH_CC, __VERSION__, BENCH_OPT);
		printf("mode:      %s (el_parse_line%s), year %d\n", mode,
		       json ? " + el_rec_json" : "", year);
		printf("file:      %s, %zu bytes (%.1f MB), %llu lines, %.1f bytes/line\n", path,
		       len, (double)len / 1e6, (unsigned long long)first.lines,
		       (double)len / (double)first.lines);
		printf("unparsed:  %llu lines (%.2f%%)\n", (unsigned long long)first.unparsed,
		       100.0 * (double)first.unparsed / (double)first.lines);
		printf("best run:  %llu passes, wall %.3f s, cpu %.3f s\n",
		       (unsigned long long)best.passes, best.wall_s, best.cpu_s);
		printf("per core:  %.0f lines/s, %.1f MB/s, %.1f ns/line\n", cpu_ls, cpu_mbs,
		       ns_line);
		printf("wall:      %.0f lines/s, %.1f MB/s\n", wall_ls, wall_mbs);
		printf("checksum:  %016llx\n", (unsigned long long)checksum);
		printf("result: mode=%s lines=%llu bytes=%zu unparsed=%llu cpu_lines_s=%.0f "
		       "wall_lines_s=%.0f cpu_mb_s=%.1f ns_line=%.1f\n",
		       mode, (unsigned long long)first.lines, len,
		       (unsigned long long)first.unparsed, cpu_ls, wall_ls, cpu_mbs, ns_line);
	}

	el_buf_fini(&out);
	free(rec);
	free(buf);
	return 0;
}
