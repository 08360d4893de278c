/*
 * collector_read - how fast the collector's file source (col_src, kind
 * FILE) reads a large log, against `cat FILE >/dev/null` and `wc -l FILE`
 * on the same file in the same run.
 *
 * usage: collector_read [--lines N] [--runs N] [--chunk BYTES] [--keep] [LOG...]
 *
 * The input is made from the LOG files given (default: the real Postfix
 * logs under tests/data/postfix, found from the current directory), repeated
 * until it holds at least --lines lines (default 3,000,000), and written to
 * a scratch file under $TMPDIR.  It is read once to warm the page cache.
 * Then each of the three readers runs --runs times (default 3), and the run
 * with the least CPU time is kept:
 *
 *   col_src      col_src_open() on the file, col_src_read() until every line
 *                was handed out (chunks of --chunk bytes, default the
 *                source's 1 MiB); each line's length is summed so the work
 *                cannot be skipped.  CPU = this thread's CPU time.
 *   cat          /bin/cat FILE >/dev/null, CPU = its user + sys time.
 *   wc -l        /usr/bin/wc -l FILE >/dev/null, same.
 *
 * Figures: lines/s per CPU second (compare these), wall lines/s, MB/s, and
 * the ratio col_src / reference.  The target of issue 5 is 300,000 lines/s
 * on one core for the whole collector (source, spool and TLS): the source
 * alone must be far above it.  This is a measuring tool; it trusts its
 * arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "col_src.h"

extern char **environ;

typedef struct cr_fig {
	double cpu_s, wall_s;
	uint64_t lines;
} cr_fig;

/* cr_now - seconds on a clock */
static double cr_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* cr_make - repeat the logs into out until it holds at least want lines */
static uint64_t cr_make(const char *out, char **logs, int nlogs, uint64_t want, uint64_t *bytes)
{
	FILE *o = fopen(out, "w");
	uint64_t lines = 0;
	char *buf = NULL;
	size_t cap = 0;

	if (!o) {
		perror(out);
		exit(1);
	}
	*bytes = 0;
	while (lines < want) {
		uint64_t before = lines;
		for (int i = 0; i < nlogs && lines < want; i++) {
			FILE *in = fopen(logs[i], "r");
			ssize_t n;
			if (!in) {
				perror(logs[i]);
				exit(1);
			}
			while ((n = getline(&buf, &cap, in)) > 0) {
				if (buf[n - 1] != '\n')
					continue; /* keep whole lines only */
				fwrite(buf, 1, (size_t)n, o);
				*bytes += (uint64_t)n;
				lines++;
			}
			fclose(in);
		}
		if (lines == before) {
			fprintf(stderr, "collector_read: the logs hold no lines\n");
			exit(1);
		}
	}
	free(buf);
	fclose(o);
	return lines;
}

/* cr_src - one read of the whole file through col_src */
static cr_fig cr_src(const char *path, uint64_t want, size_t chunk, uint64_t *sum)
{
	col_src_conf c = { .kind = COL_SRC_FILE, .path = path, .max_chunk = chunk };
	col_src_chunk ch;
	col_src *s;
	cr_fig f = { 0 };
	double c0 = cr_now(CLOCK_THREAD_CPUTIME_ID), w0 = cr_now(CLOCK_MONOTONIC);

	if (col_src_open(&s, &c, NULL, 0) < 0) {
		fprintf(stderr, "collector_read: cannot open %s\n", path);
		exit(1);
	}
	while (f.lines < want) {
		if (col_src_read(s, &ch, 1000) < 0)
			break;
		if (ch.n == 0)
			break; /* a whole second without a line: the file is done */
		for (size_t i = 0; i < ch.n; i++)
			*sum += ch.lines[i].len;
		f.lines += ch.n;
	}
	col_src_close(s);
	f.cpu_s = cr_now(CLOCK_THREAD_CPUTIME_ID) - c0;
	f.wall_s = cr_now(CLOCK_MONOTONIC) - w0;
	return f;
}

/* cr_prog - run argv with stdout to /dev/null; its CPU time */
static cr_fig cr_prog(char *const argv[], uint64_t lines)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	cr_fig f = { 0 };
	pid_t pid;
	int st;
	double w0 = cr_now(CLOCK_MONOTONIC);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (posix_spawn(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		fprintf(stderr, "collector_read: cannot run %s\n", argv[0]);
		exit(1);
	}
	posix_spawn_file_actions_destroy(&fa);
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "collector_read: %s failed\n", argv[0]);
		exit(1);
	}
	f.wall_s = cr_now(CLOCK_MONOTONIC) - w0;
	f.cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	f.lines = lines;
	return f;
}

/* cr_best - keep the run with the least CPU */
static void cr_best(cr_fig *best, cr_fig f)
{
	if (best->cpu_s == 0 || f.cpu_s < best->cpu_s)
		*best = f;
}

/* cr_machine - what this ran on */
static void cr_machine(void)
{
	struct utsname u;
	char line[256], model[256] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");
	double load[3] = { 0 };

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *c = strchr(line, ':');
			snprintf(model, sizeof(model), "%s", c ? c + 2 : line);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	if (f)
		fclose(f);
	uname(&u);
	getloadavg(load, 3);
	printf("machine: %s, nproc %ld, %s %s, load %.2f %.2f %.2f\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, load[0], load[1], load[2]);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "lines", 1, 0, 'l' },
					      { "runs", 1, 0, 'r' },
					      { "chunk", 1, 0, 'c' },
					      { "keep", 0, 0, 'k' },
					      { 0, 0, 0, 0 } };
	static char *deflogs[] = { "tests/data/postfix/volume-sample.log",
				   "tests/data/postfix/mx1.maillog.log",
				   "tests/data/postfix/mx2.maillog.log",
				   "tests/data/postfix/mx3.maillog.log" };
	uint64_t want = 3000000, lines, bytes, sum = 0;
	int runs = 3, keep = 0, o;
	size_t chunk = 0;
	char path[512];
	const char *tmp = getenv("TMPDIR");

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			want = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			keep = 1;
			break;
		default:
			fprintf(stderr, "usage: collector_read [--lines N] [--runs N] "
					"[--chunk BYTES] [--keep] [LOG...]\n");
			return 2;
		}
	}
	if (runs < 1 || want == 0)
		return 2;
	snprintf(path, sizeof(path), "%s/collector_read.%ld.log", tmp ? tmp : "/tmp",
		 (long)getpid());
	if (optind < argc)
		lines = cr_make(path, argv + optind, argc - optind, want, &bytes);
	else
		lines = cr_make(path, deflogs, 4, want, &bytes);

	cr_machine();
	printf("input: %s, %llu lines, %.1f MB\n", path, (unsigned long long)lines, bytes / 1e6);
	char *cat[] = { "/bin/cat", path, NULL }, *wc[] = { "/usr/bin/wc", "-l", path, NULL };
	cr_prog(cat, lines); /* warm the page cache */

	cr_fig src = { 0 }, fcat = { 0 }, fwc = { 0 };
	for (int r = 0; r < runs; r++) {
		cr_fig f = cr_src(path, lines, chunk, &sum);
		if (f.lines != lines) {
			fprintf(stderr, "collector_read: col_src read %llu of %llu lines\n",
				(unsigned long long)f.lines, (unsigned long long)lines);
			return 1;
		}
		cr_best(&src, f);
		cr_best(&fcat, cr_prog(cat, lines));
		cr_best(&fwc, cr_prog(wc, lines));
	}
	if (sum != (bytes - lines) * (uint64_t)runs) {
		fprintf(stderr, "collector_read: line bytes %llu, want %llu\n",
			(unsigned long long)sum, (unsigned long long)((bytes - lines) * runs));
		return 1;
	}
	printf("\n%-28s %14s %14s %10s %12s\n", "reader (best of runs)", "lines/s/core",
	       "wall lines/s", "MB/s/core", "col_src/this");
	const struct {
		const char *name;
		cr_fig f;
	} rows[] = { { "col_src (FILE)", src },
		     { "cat FILE >/dev/null", fcat },
		     { "wc -l FILE", fwc } };
	for (size_t i = 0; i < 3; i++) {
		cr_fig f = rows[i].f;
		double cpu = f.cpu_s > 1e-6 ? f.cpu_s : 1e-6;
		printf("%-28s %14.0f %14.0f %10.0f %12.2f\n", rows[i].name, lines / cpu,
		       lines / f.wall_s, bytes / 1e6 / cpu, (lines / src.cpu_s) / (lines / cpu));
	}
	printf("\ntarget: whole collector >= 300,000 lines/s/core; col_src alone: %.1fx that\n",
	       (lines / src.cpu_s) / 300000.0);
	if (!keep)
		unlink(path);
	return 0;
}
