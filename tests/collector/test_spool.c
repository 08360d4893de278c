/*
 * test_spool - the collector's durable spool: append/peek/ack, positions
 * across a reopen, torn records cut at open, the size bound, stream_end,
 * and a child killed with -9 in the middle of appending.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "col_spool.h"
#include "col_spool_rec.h"

static char tdir[64];

/* mkdir_tmp - a fresh spool directory for one test */
static void mkdir_tmp(void)
{
	snprintf(tdir, sizeof(tdir), "/tmp/test_spool.XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
}

/* rm_tmp - remove the test's directory */
static void rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tdir);
}

TestSuite(spool, .init = mkdir_tmp, .fini = rm_tmp);

/* sp_open - open the test's spool with a bound and fsync policy */
static col_spool *sp_open(uint64_t max, int fsync_ms)
{
	col_spool_conf c = { .dir = tdir, .max_bytes = max, .fsync_ms = fsync_ms };
	col_spool *s;

	cr_assert_eq(col_spool_open(&s, &c), 0);
	return s;
}

/* sp_add - append lines "P-k" for k in [from, to) with position "to" */
static int sp_add(col_spool *s, const char *stream, const char *prefix, int from, int to, int end)
{
	static char text[4096][32];
	el_span lines[4096];
	char pos[32];
	col_src_chunk c = { .stream = stream, .kind = COL_SRC_FILE };
	int n = 0;

	cr_assert(to - from <= 4096);
	for (int k = from; k < to; k++, n++) {
		int len = snprintf(text[n], sizeof(text[n]), "%s-%d", prefix, k);
		lines[n] = el_span_make(text[n], (size_t)len);
	}
	snprintf(pos, sizeof(pos), "%d", to);
	c.lines = lines;
	c.n = (size_t)n;
	c.pos = pos;
	c.pos_len = strlen(pos);
	c.stream_end = end;
	return col_spool_append(s, &c, 1700000000000000LL);
}

/* sp_pos - the resume position of a stream as a number, -1 if none */
static int sp_pos(col_spool *s, const char *stream)
{
	const col_src_resume *r;
	size_t n = col_spool_resume(s, &r);

	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].stream, stream) == 0) {
			char buf[32] = { 0 };
			if (r[i].pos_len) /* none yet: killed before the first LINES record */
				memcpy(buf, r[i].pos, r[i].pos_len < 31 ? r[i].pos_len : 31);
			return atoi(buf);
		}
	return -1;
}

/* line_is - the batch's line i is "P-k" */
static void line_is(const col_spool_batch *b, size_t i, const char *prefix, int k)
{
	char want[32];
	int len = snprintf(want, sizeof(want), "%s-%d", prefix, k);

	cr_assert_eq(b->lines[i].len, (size_t)len, "line %zu: length %zu", i, b->lines[i].len);
	cr_assert(memcmp(b->lines[i].p, want, (size_t)len) == 0, "line %zu is not %s", i, want);
}

/* count_segs - segment files in the test's directory */
static int count_segs(void)
{
	DIR *d = opendir(tdir);
	struct dirent *de;
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

Test(spool, append_peek_ack_in_order)
{
	col_spool *s = sp_open(0, 200);
	col_spool_batch b;
	col_spool_stats st;
	int wait;

	col_spool_batch_init(&b);
	cr_assert_eq(sp_add(s, "file:a", "a", 0, 10, 0), 0);
	cr_assert_eq(sp_add(s, "file:a", "a", 10, 25, 0), 0);
	/* Not old enough, not full: nothing yet, and a hint when to look again. */
	cr_assert_eq(col_spool_peek(s, &b, 100, 1 << 20, 60000, &wait), -EAGAIN);
	cr_assert(wait > 0 && wait <= 60000);
	/* Full by lines: taken at once, split at max_lines. */
	cr_assert_eq(col_spool_peek(s, &b, 20, 1 << 20, 60000, &wait), 0);
	cr_assert_str_eq(b.stream, "file:a");
	cr_assert_eq(b.first_seq, 1);
	cr_assert_eq(b.n, 20);
	for (size_t i = 0; i < b.n; i++)
		line_is(&b, i, "a", (int)i);
	/* Peek again without an ack: the same lines (one batch in flight). */
	cr_assert_eq(col_spool_peek(s, &b, 20, 1 << 20, 0, &wait), 0);
	cr_assert_eq(b.first_seq, 1);
	/* A partial ack inside a record: the rest starts at the next seq. */
	cr_assert_eq(col_spool_ack(s, "file:a", 13), 0);
	cr_assert_eq(col_spool_peek(s, &b, 100, 1 << 20, 0, &wait), 0);
	cr_assert_eq(b.first_seq, 14);
	cr_assert_eq(b.n, 12);
	line_is(&b, 0, "a", 13);
	line_is(&b, 11, "a", 24);
	cr_assert_eq(col_spool_ack(s, "file:a", 25), 0);
	cr_assert_eq(col_spool_peek(s, &b, 100, 1 << 20, 0, &wait), -EAGAIN);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.lines_in, 25);
	cr_assert_eq(st.lines_acked, 25);
	cr_assert_eq(st.pending_lines, 0);
	cr_assert_eq(col_spool_ack(s, "file:nope", 1), -ENOENT);
	col_spool_batch_fini(&b);
	col_spool_close(s);
}

Test(spool, round_robin_over_streams)
{
	col_spool *s = sp_open(0, 200);
	col_spool_batch b;
	int wait;

	col_spool_batch_init(&b);
	cr_assert_eq(sp_add(s, "file:a", "a", 0, 5, 0), 0);
	cr_assert_eq(sp_add(s, "file:b", "b", 0, 5, 0), 0);
	cr_assert_eq(col_spool_peek(s, &b, 100, 1 << 20, 0, &wait), 0);
	cr_assert_str_eq(b.stream, "file:a");
	/* Not acked yet, but the next peek serves the other stream. */
	cr_assert_eq(col_spool_peek(s, &b, 100, 1 << 20, 0, &wait), 0);
	cr_assert_str_eq(b.stream, "file:b");
	line_is(&b, 4, "b", 4);
	col_spool_batch_fini(&b);
	col_spool_close(s);
}

Test(spool, reopen_resumes_positions_and_seqs)
{
	col_spool *s = sp_open(0, 0);
	col_spool_batch b;
	int wait;

	col_spool_batch_init(&b);
	cr_assert_eq(sp_add(s, "file:a", "a", 0, 100, 0), 0);
	cr_assert_eq(sp_add(s, "msgtrk:x", "x", 0, 7, 0), 0);
	cr_assert_eq(col_spool_ack(s, "file:a", 60), 0);
	col_spool_close(s);

	s = sp_open(0, 0);
	cr_assert_eq(sp_pos(s, "file:a"), 100);
	cr_assert_eq(sp_pos(s, "msgtrk:x"), 7);
	/* The ack survived: only 61.. is sent again. */
	cr_assert_eq(col_spool_peek(s, &b, 1000, 1 << 20, 0, &wait), 0);
	if (strcmp(b.stream, "file:a") != 0)
		cr_assert_eq(col_spool_peek(s, &b, 1000, 1 << 20, 0, &wait), 0);
	cr_assert_str_eq(b.stream, "file:a");
	cr_assert_eq(b.first_seq, 61);
	cr_assert_eq(b.n, 40);
	line_is(&b, 0, "a", 60);
	/* New lines continue the numbering. */
	cr_assert_eq(sp_add(s, "file:a", "a", 100, 110, 0), 0);
	cr_assert_eq(col_spool_ack(s, "file:a", 100), 0);
	cr_assert_eq(col_spool_peek(s, &b, 1000, 1 << 20, 0, &wait), 0);
	if (strcmp(b.stream, "file:a") != 0)
		cr_assert_eq(col_spool_peek(s, &b, 1000, 1 << 20, 0, &wait), 0);
	cr_assert_eq(b.first_seq, 101);
	line_is(&b, 9, "a", 109);
	col_spool_batch_fini(&b);
	col_spool_close(s);
}

Test(spool, quiet_stream_keeps_position_after_everything_is_acked)
{
	col_spool *s = sp_open(64 << 10, 200); /* small: committed segments are replaced */
	col_spool_stats st;

	for (int k = 0; k < 2000; k += 100) {
		cr_assert_eq(sp_add(s, "file:a", "a", k, k + 100, 0), 0);
		cr_assert_eq(col_spool_ack(s, "file:a", (uint64_t)k + 100), 0);
	}
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert(st.segments_deleted > 0, "committed segments were not deleted");
	cr_assert(st.disk_bytes < 32 << 10, "%llu bytes kept", (unsigned long long)st.disk_bytes);
	col_spool_close(s);
	s = sp_open(64 << 10, 200);
	cr_assert_eq(sp_pos(s, "file:a"), 2000);
	cr_assert_eq(sp_add(s, "file:a", "a", 2000, 2001, 0), 0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.pending_lines, 1);
	col_spool_batch b;
	int wait;
	col_spool_batch_init(&b);
	cr_assert_eq(col_spool_peek(s, &b, 10, 1 << 20, 0, &wait), 0);
	cr_assert_eq(b.first_seq, 2001);
	col_spool_batch_fini(&b);
	col_spool_close(s);
}

Test(spool, torn_record_is_cut_at_open)
{
	col_spool *s = sp_open(0, 0);
	col_spool_stats st;
	char path[512];
	struct stat sb;
	DIR *d;
	struct dirent *de;
	int fd;

	cr_assert_eq(sp_add(s, "file:a", "a", 0, 50, 0), 0);
	cr_assert_eq(sp_add(s, "file:a", "a", 50, 80, 0), 0);
	col_spool_close(s);
	d = opendir(tdir);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".seg"))
			snprintf(path, sizeof(path), "%s/%s", tdir, de->d_name);
	closedir(d);
	/* The second record loses its last 7 bytes: a write cut short. */
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(truncate(path, sb.st_size - 7), 0);

	s = sp_open(0, 0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.torn_cut, 1);
	cr_assert_eq(st.pending_lines, 50, "lines kept: %llu",
		     (unsigned long long)st.pending_lines);
	/* The source resumes after line 50, and the seqs continue from 51. */
	cr_assert_eq(sp_pos(s, "file:a"), 50);
	cr_assert_eq(sp_add(s, "file:a", "a", 50, 80, 0), 0);
	col_spool_close(s);

	/* Garbage after a good record is cut too, and a CRC error is caught. */
	fd = open(path, O_WRONLY | O_APPEND);
	cr_assert(fd >= 0);
	static const char junk[] = "\x10\0\0\0garbage-garbage-garbage";
	cr_assert_eq(write(fd, junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
	close(fd);
	s = sp_open(0, 0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.torn_cut, 1);
	cr_assert_eq(st.pending_lines, 80);
	cr_assert_eq(sp_pos(s, "file:a"), 80);
	col_spool_close(s);
}

Test(spool, bound_stops_appends_until_acks_free_space)
{
	col_spool *s = sp_open(256 << 10, 200);
	col_spool_stats st;
	int k = 0, rc;

	while ((rc = sp_add(s, "file:a", "a-long-line-to-fill-the-spool-quickly", k, k + 500, 0)) ==
	       0)
		k += 500;
	cr_assert_eq(rc, -ENOSPC);
	cr_assert(k > 0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.full, 1);
	cr_assert(st.full_now);
	cr_assert(st.disk_bytes <= 256 << 10);
	cr_assert_eq(st.pending_lines, (uint64_t)k);
	/* Refused again: nothing was written, the numbering did not move. */
	cr_assert_eq(sp_add(s, "file:a", "a-long-line-to-fill-the-spool-quickly", k, k + 500, 0),
		     -ENOSPC);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.pending_lines, (uint64_t)k);
	cr_assert_eq(sp_pos(s, "file:a"), k);
	/* The backend acknowledges everything: space again. */
	cr_assert_eq(col_spool_ack(s, "file:a", (uint64_t)k), 0);
	cr_assert_eq(sp_add(s, "file:a", "a-long-line-to-fill-the-spool-quickly", k, k + 500, 0),
		     0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.full_now, 0);
	cr_assert_eq(st.pending_lines, 500);
	col_spool_close(s);
}

Test(spool, ended_stream_is_forgotten_once_acked)
{
	col_spool *s = sp_open(0, 200);
	col_spool_stats st;

	cr_assert_eq(sp_add(s, "msgtrk:/x/MSGTRK1.LOG", "m", 0, 10, 0), 0);
	cr_assert_eq(sp_add(s, "msgtrk:/x/MSGTRK1.LOG", "m", 10, 12, 1), 0);
	cr_assert_eq(sp_add(s, "file:a", "a", 0, 3, 0), 0);
	cr_assert_eq(col_spool_ack(s, "msgtrk:/x/MSGTRK1.LOG", 11), 0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.streams, 2, "forgotten before its last line was acked");
	cr_assert_eq(col_spool_ack(s, "msgtrk:/x/MSGTRK1.LOG", 12), 0);
	col_spool_stats_get(s, &st, NULL, 0);
	cr_assert_eq(st.streams, 1);
	cr_assert_eq(st.streams_forgotten, 1);
	cr_assert_eq(count_segs(), 1);
	col_spool_close(s);
	s = sp_open(0, 200);
	cr_assert_eq(sp_pos(s, "msgtrk:/x/MSGTRK1.LOG"), -1);
	cr_assert_eq(sp_pos(s, "file:a"), 3);
	col_spool_close(s);
}

Test(spool, rejects_bad_appends)
{
	col_spool *s = sp_open(0, 200);
	char big[COL_SRC_POS_MAX + 1];
	col_src_chunk c = { .stream = "", .kind = COL_SRC_FILE };

	cr_assert_eq(col_spool_append(s, &c, 0), -EINVAL);
	c.stream = "file:a";
	c.pos = big;
	c.pos_len = sizeof(big);
	cr_assert_eq(col_spool_append(s, &c, 0), -EINVAL);
	col_spool_close(s);
	col_spool_conf bad = { .dir = "", .fsync_ms = 0 };
	cr_assert_eq(col_spool_open(&s, &bad), -EINVAL);
}

/*
 * A child appends as fast as it can (position = lines so far) and is killed
 * with -9 at a random moment; whatever the moment, the reopened spool holds
 * a whole prefix whose position matches its line count.
 */
Test(spool, kill_9_in_the_middle_of_appending)
{
	for (int round = 0; round < 6; round++) {
		col_spool *s;
		col_spool_stats st;
		col_spool_batch b;
		int status, wait, ready[2];
		char one;

		/* The child says when its first append is in: the kill then comes
		   at a random moment of appending, not of its start (slow under ASan). */
		cr_assert_eq(pipe(ready), 0);
		pid_t pid = fork();
		cr_assert(pid >= 0);
		if (pid == 0) {
			close(ready[0]);
			s = sp_open(0, round % 2 ? 0 : 50);
			int k = sp_pos(s, "file:a");
			if (k < 0)
				k = 0;
			for (;;) {
				if (sp_add(s, "file:a", "a", k, k + 1000, 0) != 0)
					_exit(3);
				k += 1000;
				if (ready[1] >= 0) {
					if (write(ready[1], "x", 1) != 1)
						_exit(4);
					close(ready[1]);
					ready[1] = -1;
				}
			}
		}
		close(ready[1]);
		cr_assert_eq(read(ready[0], &one, 1), 1, "round %d: the child did not append",
			     round);
		close(ready[0]);
		usleep((useconds_t)(rand() % 80000));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		cr_assert(WIFSIGNALED(status));

		s = sp_open(0, 200);
		col_spool_stream_stats ss;
		cr_assert_eq(col_spool_stats_get(s, &st, &ss, 1), 1);
		int pos = sp_pos(s, "file:a");
		cr_assert(pos > 0, "round %d: nothing spooled", round);
		cr_assert_eq(ss.spooled_seq, (uint64_t)pos, "round %d: %llu lines, position %d",
			     round, (unsigned long long)ss.spooled_seq, pos);
		/* The last line is the one the position says. */
		col_spool_batch_init(&b);
		uint64_t last = ss.committed_seq;
		while (col_spool_peek(s, &b, 100000, 64 << 20, 0, &wait) == 0) {
			for (size_t i = 0; i < b.n; i++)
				line_is(&b, i, "a", (int)(b.first_seq + i - 1));
			last = b.first_seq + b.n - 1;
			col_spool_ack(s, "file:a", last);
		}
		cr_assert_eq(last, (uint64_t)pos);
		col_spool_batch_fini(&b);
		col_spool_close(s);
	}
}

/* The SSE4.2 instruction and the tables compute the same CRC, at every length and alignment. */
Test(spool_crc, hardware_and_tables_agree)
{
	static unsigned char buf[4096 + 8];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	/* The check value of CRC-32C (RFC 3720 B.4 and every CRC catalogue). */
	for (int sw = 0; sw <= 1; sw++) {
		col_spool_crc32c_force_sw(sw);
		cr_assert_eq(col_spool_crc32c(0, "123456789", 9), 0xE3069283u, "sw=%d", sw);
		cr_assert_eq(col_spool_crc32c(0, "", 0), 0u);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t n = 0; n <= 4096; n += (n < 64 ? 1 : 61)) {
			uint32_t a, b, c;
			col_spool_crc32c_force_sw(1);
			a = col_spool_crc32c(0, buf + off, n);
			/* continuing over a split gives the same as one call */
			c = col_spool_crc32c(col_spool_crc32c(0, buf + off, n / 3),
					     buf + off + n / 3, n - n / 3);
			col_spool_crc32c_force_sw(0);
			b = col_spool_crc32c(0, buf + off, n);
			cr_assert_eq(a, b, "off %zu len %zu: tables %08x, cpu %08x", off, n, a, b);
			cr_assert_eq(a, c, "off %zu len %zu: split", off, n);
			cr_assert_eq(col_spool_crc32c(col_spool_crc32c(0, buf + off, n / 3),
						      buf + off + n / 3, n - n / 3),
				     a);
		}
}
