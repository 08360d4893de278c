/*
 * test_src - col_src file and stdin sources on real files: rotation by
 * rename, copytruncate, truncation, files appearing later, gzip backfill,
 * resume (also across a rotation while stopped), inode reuse, overlong
 * lines, NUL and binary bytes, a symlink swapped in for the log.
 */
#include "ts_src.h"

#include <sys/wait.h>
#include <zlib.h>

#define N_(a) (sizeof(a) / sizeof((a)[0]))

static void ts_gz(const char *path, const char *text);

Test(col_src_file, reads_lines_and_holds_partial_line)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 };

	ts_appends(p, "one\ntwo\nthr");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	ts_quiet(s, &g, 100); /* "thr" has no newline yet */
	ts_appends(p, "ee\n");
	cr_assert_eq(ts_read_until(s, &g, 3, 2000), 3);
	const char *want[] = { "one", "two", "three" };
	ts_expect(&g, 0, want, 3);
	cr_assert_eq(strncmp(g.stream, "file:", 5), 0);
	cr_assert_str_eq(g.stream + 5, p);
	col_src_stats st = ts_stats(s);
	cr_assert_eq(st.lines, 3);
	cr_assert_eq(st.bytes, 11);
	col_src_close(s);
	ts_got_free(&g);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, rotation_by_rename_mid_stream)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1");
	ts_got g = { 0 };

	ts_appends(p, "a1\na2\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	/* The writer still appends to the old file after the rename, then
	   reopens: both its late lines and the new file's must come, in order. */
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p1, "a3\na4-partial");
	ts_appends(p, "b1\n");
	ts_appends(p1, "-end\n");
	ts_appends(p, "b2\n");
	cr_assert_eq(ts_read_until(s, &g, 6, 3000), 6);
	const char *want[] = { "a1", "a2", "a3", "a4-partial-end", "b1", "b2" };
	ts_expect(&g, 0, want, N_(want));
	cr_assert_eq(ts_stats(s).rotations, 1);
	col_src_close(s);
	ts_got_free(&g);
	free(p), free(p1);
	ts_rmdir(d);
}

Test(col_src_file, old_file_still_written_after_rename)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1");
	ts_got g = { 0 };

	ts_appends(p, "a0\n");
	/* poll 30 ms: the grace is 300 ms; the waits below are 40 ms */
	col_src_conf c = { .kind = COL_SRC_FILE, .path = p, .poll_ms = 30 };
	col_src *s = NULL;
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "b0\n"); /* the new file exists at once */
	/* The writer goes on with the old file for a while (gaps < grace). */
	for (int i = 1; i <= 5; i++) {
		char line[8];
		snprintf(line, sizeof(line), "a%d\n", i);
		ts_appends(p1, line);
		cr_assert_eq(ts_read_until(s, &g, (size_t)i + 1, 2000), (size_t)i + 1);
		/* Quiet for 40 ms (more than a poll): the new file must wait. */
		col_src_chunk ch;
		cr_assert_eq(col_src_read(s, &ch, 40), 0);
		cr_assert_eq(ch.n, 0, "switched to the new file too early");
	}
	cr_assert_eq(ts_read_until(s, &g, 7, 2000), 7);
	const char *want[] = { "a0", "a1", "a2", "a3", "a4", "a5", "b0" };
	ts_expect(&g, 0, want, 7);
	col_src_close(s);
	ts_got_free(&g);
	free(p), free(p1);
	ts_rmdir(d);
}

Test(col_src_file, corrupt_gz_is_counted_and_skipped)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1"),
	     *p2 = ts_path(d, "mail.log.2.gz");
	ts_got g = { 0 };
	char big[20000];

	/* Incompressible enough that a cut file ends inside the stream. */
	unsigned x = 1;
	for (size_t i = 0; i < sizeof(big) - 1; i++) {
		x = x * 1103515245u + 12345u;
		big[i] = (char)(' ' + (x >> 16) % 90);
		if (i % 100 == 99)
			big[i] = '\n';
	}
	big[sizeof(big) - 1] = 0;
	ts_gz(p2, big);
	struct stat st;
	cr_assert_eq(stat(p2, &st), 0);
	cr_assert_eq(truncate(p2, st.st_size / 2), 0);
	ts_appends(p1, "one\n");
	ts_appends(p, "live\n");
	col_src *s = ts_file_src(p, NULL, 0, 1);
	ts_read_until(s, &g, (size_t)-1, 300);
	cr_assert(g.n >= 2);
	cr_assert_str_eq(g.line[g.n - 2], "one");
	cr_assert_str_eq(g.line[g.n - 1], "live");
	cr_assert_eq(ts_stats(s).reopen_errors, 1);
	col_src_close(s);
	ts_got_free(&g);
	free(p), free(p1), free(p2);
	ts_rmdir(d);
}

Test(col_src_file, two_rotations_between_two_looks)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1"),
	     *p2 = ts_path(d, "mail.log.2");
	ts_got g = { 0 };

	ts_appends(p, "l0\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "l1\n");
	cr_assert_eq(rename(p1, p2), 0);
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "l2\n");
	cr_assert_eq(ts_read_until(s, &g, 3, 2000), 3);
	const char *want[] = { "l0", "l1", "l2" };
	ts_expect(&g, 0, want, 3);
	col_src_close(s);
	ts_got_free(&g);
	free(p), free(p1), free(p2);
	ts_rmdir(d);
}

Test(col_src_file, rotated_file_last_line_without_newline_is_kept)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1");
	ts_got g = { 0 };

	ts_appends(p, "a1\ncut");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "b1\n");
	cr_assert_eq(ts_read_until(s, &g, 3, 3000), 3);
	const char *want[] = { "a1", "cut", "b1" };
	ts_expect(&g, 0, want, N_(want));
	col_src_close(s);
	ts_got_free(&g);
	free(p), free(p1);
	ts_rmdir(d);
}

Test(col_src_file, copytruncate_and_truncation)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 };

	ts_appends(p, "old line one\nold line two\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	/* copytruncate: copy away, truncate in place, the writer goes on at 0. */
	cr_assert_eq(truncate(p, 0), 0);
	ts_appends(p, "new1\n");
	cr_assert_eq(ts_read_until(s, &g, 3, 3000), 3);
	cr_assert_str_eq(g.line[2], "new1");
	cr_assert_eq(ts_stats(s).truncations, 1);
	/* A plain truncation to a shorter size with new content. */
	ts_appends(p, "new2\n");
	cr_assert_eq(ts_read_until(s, &g, 4, 3000), 4);
	int fd = open(p, O_WRONLY | O_TRUNC);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "x\n", 2), 2);
	close(fd);
	cr_assert_eq(ts_read_until(s, &g, 5, 3000), 5);
	const char *want[] = { "old line one", "old line two", "new1", "new2", "x" };
	ts_expect(&g, 0, want, N_(want));
	cr_assert_eq(ts_stats(s).truncations, 2);
	col_src_close(s);
	ts_got_free(&g);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, file_and_directory_appear_later)
{
	char *d = ts_dir(), *sub = ts_path(d, "later"), *p = ts_path(sub, "mail.log");
	ts_got g = { 0 };

	col_src *s = ts_file_src(p, NULL, 0, 0);
	ts_quiet(s, &g, 100);
	cr_assert_eq(mkdir(sub, 0755), 0);
	ts_quiet(s, &g, 60);
	ts_appends(p, "hello\n");
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_str_eq(g.line[0], "hello");
	col_src_close(s);
	ts_got_free(&g);
	free(p), free(sub);
	ts_rmdir(d);
}

/* ts_gz - write text as a gzip file */
static void ts_gz(const char *path, const char *text)
{
	gzFile z = gzopen(path, "wb");
	cr_assert(z);
	cr_assert_eq(gzwrite(z, text, (unsigned)strlen(text)), (int)strlen(text));
	gzclose(z);
}

Test(col_src_file, backfill_rotated_and_gz_oldest_first)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1"),
	     *p2 = ts_path(d, "mail.log.2.gz"), *p3 = ts_path(d, "mail.log.3.gz"),
	     *px = ts_path(d, "mail.log.old");
	ts_got g = { 0 };

	ts_gz(p3, "d3a\nd3b\n");
	ts_gz(p2, "d2a\nd2b-no-newline");
	ts_appends(p1, "d1a\n");
	ts_appends(p, "live\n");
	ts_appends(px, "not a rotation\n");
	col_src *s = ts_file_src(p, NULL, 0, 1);
	cr_assert_eq(ts_read_until(s, &g, 6, 3000), 6);
	const char *want[] = { "d3a", "d3b", "d2a", "d2b-no-newline", "d1a", "live" };
	ts_expect(&g, 0, want, N_(want));
	ts_quiet(s, &g, 60);
	col_src_close(s);

	/* Without backfill only the live file is read. */
	ts_got h = { 0 };
	s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &h, 1, 2000), 1);
	ts_quiet(s, &h, 60);
	cr_assert_str_eq(h.line[0], "live");
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p), free(p1), free(p2), free(p3), free(px);
	ts_rmdir(d);
}

Test(col_src_file, resume_from_position_after_reopen)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 }, h = { 0 };

	ts_appends(p, "l1\nl2\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	col_src_close(s);
	ts_appends(p, "l3\nl4\n");
	col_src_resume r = { g.stream, g.pos, g.pos_len };
	s = ts_file_src(p, &r, 1, 0);
	cr_assert_eq(ts_read_until(s, &h, 2, 2000), 2);
	ts_quiet(s, &h, 60);
	const char *want[] = { "l3", "l4" };
	ts_expect(&h, 0, want, 2);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, resume_after_rotation_while_stopped)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1"),
	     *p2 = ts_path(d, "mail.log.2.gz");
	ts_got g = { 0 }, h = { 0 };

	ts_appends(p, "a1\na2\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	col_src_close(s);
	/* While stopped: more lines, then rotation twice (the middle file gets
	   no compression yet: delaycompress), then the live file. */
	ts_appends(p, "a3\n");
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "b1\n");
	ts_gz(p2, "z-must-not-be-read\n"); /* older than our file: already read */
	col_src_resume r = { g.stream, g.pos, g.pos_len };
	s = ts_file_src(p, &r, 1, 0);
	cr_assert_eq(ts_read_until(s, &h, 2, 2000), 2);
	ts_quiet(s, &h, 60);
	const char *want[] = { "a3", "b1" };
	ts_expect(&h, 0, want, 2);
	cr_assert_eq(ts_stats(s).rotations, 1);
	col_src_close(s);

	/* A position whose file is gone everywhere: the current file from 0. */
	ts_got k = { 0 };
	cr_assert_eq(unlink(p1), 0);
	s = ts_file_src(p, &r, 1, 0);
	cr_assert_eq(ts_read_until(s, &k, 1, 2000), 1);
	cr_assert_str_eq(k.line[0], "b1");
	cr_assert_eq(ts_stats(s).rotations, 1);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h), ts_got_free(&k);
	free(p), free(p1), free(p2);
	ts_rmdir(d);
}

/* ts_gz_file - compress a file in place as logrotate does (new inode) */
static void ts_gz_file(const char *from, const char *to)
{
	FILE *f = fopen(from, "r");
	char buf[65536];
	size_t n;

	cr_assert(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	ts_gz(to, buf);
	cr_assert_eq(unlink(from), 0);
}

Test(col_src_file, resume_after_the_file_was_compressed_while_stopped)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1"),
	     *p2 = ts_path(d, "mail.log.2.gz");
	ts_got g = { 0 }, h = { 0 };

	/* Over 64 bytes before the position, so the fingerprint is full. */
	ts_appends(p, "Nov 22 10:00:00 mx1 postfix/qmgr[1]: 4ABC123DEF: removed, line a1\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	col_src_close(s);
	/* Stopped: a3 written, then two weekly rotations with delaycompress. */
	ts_appends(p, "a3\n");
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "b1\n");
	ts_gz_file(p1, p2);
	cr_assert_eq(rename(p, p1), 0);
	ts_appends(p, "c1\n");
	col_src_resume r = { g.stream, g.pos, g.pos_len };
	s = ts_file_src(p, &r, 1, 0);
	cr_assert_eq(ts_read_until(s, &h, 3, 2000), 3);
	ts_quiet(s, &h, 60);
	const char *want[] = { "a3", "b1", "c1" };
	ts_expect(&h, 0, want, 3);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p), free(p1), free(p2);
	ts_rmdir(d);
}

Test(col_src_file, resume_inside_rotated_gz_and_older_newer_order)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *p1 = ts_path(d, "mail.log.1"),
	     *p2 = ts_path(d, "mail.log.2.gz");
	ts_got g = { 0 }, h = { 0 };

	ts_gz(p2, "g1\ng2\ng3\n");
	ts_appends(p1, "m1\n");
	ts_appends(p, "n1\n");
	col_src_conf c = {
		.kind = COL_SRC_FILE, .path = p, .poll_ms = 10, .backfill = 1, .max_chunk = 3
	};
	col_src *s = NULL;
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	/* max_chunk 3 bytes: one 2-byte line per chunk; stop after g1, g2 */
	col_src_chunk ch;
	while (g.n < 2) {
		cr_assert_eq(col_src_read(s, &ch, 1000), 0);
		ts_take(&g, &ch);
	}
	cr_assert_eq(g.n, 2);
	col_src_close(s);
	col_src_resume r = { g.stream, g.pos, g.pos_len };
	s = ts_file_src(p, &r, 1, 0);
	cr_assert_eq(ts_read_until(s, &h, 3, 2000), 3);
	ts_quiet(s, &h, 60);
	const char *want[] = { "g3", "m1", "n1" };
	ts_expect(&h, 0, want, 3);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p), free(p1), free(p2);
	ts_rmdir(d);
}

Test(col_src_file, inode_reuse_is_not_mistaken_for_the_old_file)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 }, h = { 0 };
	struct stat a, b;

	ts_appends(p, "first file line 1\nfirst file line 2\n");
	cr_assert_eq(stat(p, &a), 0);
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	col_src_close(s);
	/* Same device and inode, other content, longer than the saved offset:
	   what a reused inode looks like (the fingerprint tells them apart). */
	int fd = open(p, O_WRONLY | O_TRUNC);
	cr_assert(fd >= 0);
	const char *nw = "SECOND file, different first bytes, line 1\nsecond 2\n";
	cr_assert_eq(write(fd, nw, strlen(nw)), (ssize_t)strlen(nw));
	close(fd);
	cr_assert_eq(stat(p, &b), 0);
	cr_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	col_src_resume r = { g.stream, g.pos, g.pos_len };
	s = ts_file_src(p, &r, 1, 0);
	cr_assert_eq(ts_read_until(s, &h, 2, 2000), 2);
	const char *want[] = { "SECOND file, different first bytes, line 1", "second 2" };
	ts_expect(&h, 0, want, 2);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, ten_megabyte_line_is_cut_and_the_rest_skipped)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	size_t big = 10 * 1024 * 1024;
	char *line = malloc(big + 1);
	ts_got g = { 0 };

	cr_assert(line);
	for (size_t i = 0; i < big; i++)
		line[i] = (char)('a' + i % 26);
	line[big] = '\n';
	ts_appends(p, "before\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	/* Written in two halves: the reader sees the first half alone. */
	ts_append(p, line, big / 2);
	ts_read_until(s, &g, 2, 300);
	ts_append(p, line + big / 2, big / 2 + 1);
	ts_appends(p, "after\n");
	cr_assert_eq(ts_read_until(s, &g, 3, 5000), 3);
	cr_assert_str_eq(g.line[0], "before");
	cr_assert_eq(g.len[1], 64 * 1024);
	cr_assert_eq(memcmp(g.line[1], line, 64 * 1024), 0);
	cr_assert_str_eq(g.line[2], "after");
	cr_assert_eq(ts_stats(s).truncated, 1);
	col_src_close(s);

	/* With a limit above it, the whole line comes through. */
	ts_got h = { 0 };
	col_src_conf c = {
		.kind = COL_SRC_FILE, .path = p, .poll_ms = 10, .max_line = 16 * 1024 * 1024
	};
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	cr_assert_eq(ts_read_until(s, &h, 3, 5000), 3);
	cr_assert_eq(h.len[1], big);
	cr_assert_eq(memcmp(h.line[1], line, big), 0);
	cr_assert_eq(ts_stats(s).truncated, 0);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(line), free(p);
	ts_rmdir(d);
}

Test(col_src_file, resume_inside_the_skipped_rest_of_a_cut_line)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 }, h = { 0 };
	char buf[300];

	memset(buf, 'x', sizeof(buf));
	ts_append(p, buf, sizeof(buf)); /* no newline yet */
	col_src_conf c = { .kind = COL_SRC_FILE, .path = p, .poll_ms = 10, .max_line = 100 };
	col_src *s = NULL;
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_eq(g.len[0], 100);
	col_src_close(s);
	ts_append(p, buf, 50);
	ts_appends(p, "\nnext\n");
	col_src_resume r = { g.stream, g.pos, g.pos_len };
	cr_assert_eq(col_src_open(&s, &c, &r, 1), 0);
	cr_assert_eq(ts_read_until(s, &h, 1, 2000), 1);
	ts_quiet(s, &h, 60);
	cr_assert_str_eq(h.line[0], "next");
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, nul_and_binary_bytes_pass_through)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 };
	unsigned char junk[4096];
	size_t nl = 0;

	ts_append(p, "a\0b\n", 4);
	for (size_t i = 0; i < sizeof(junk); i++) {
		junk[i] = (unsigned char)(i * 131 + 7);
		nl += junk[i] == '\n';
	}
	cr_assert(nl > 0);
	ts_append(p, junk, sizeof(junk));
	ts_appends(p, "\nend\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 1 + nl + 1 + 1, 2000), 1 + nl + 2);
	cr_assert_eq(g.len[0], 3);
	cr_assert_eq(memcmp(g.line[0], "a\0b", 3), 0);
	/* Reassembled, the junk lines are the junk bytes. */
	size_t off = 0;
	for (size_t i = 1; i <= nl + 1; i++) {
		cr_assert_eq(memcmp(g.line[i], junk + off, g.len[i]), 0);
		off += g.len[i] + 1;
	}
	cr_assert_eq(off, sizeof(junk) + 1);
	cr_assert_str_eq(g.line[nl + 2], "end");
	col_src_close(s);
	ts_got_free(&g);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, symlink_swapped_in_is_refused)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log"), *sec = ts_path(d, "secret");
	ts_got g = { 0 };

	ts_appends(sec, "SECRET\n");
	ts_appends(p, "ok1\n");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(symlink(sec, p), 0);
	ts_quiet(s, &g, 200);
	cr_assert_eq(ts_stats(s).symlinks_refused, 1);
	/* A regular file again: read. */
	cr_assert_eq(unlink(p), 0);
	ts_appends(p, "ok2\n");
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	cr_assert_str_eq(g.line[1], "ok2");
	col_src_close(s);

	/* A symlink from the start: refused, counted, nothing read. */
	ts_got h = { 0 };
	cr_assert_eq(unlink(p), 0);
	cr_assert_eq(symlink(sec, p), 0);
	s = ts_file_src(p, NULL, 0, 0);
	ts_quiet(s, &h, 200);
	cr_assert_eq(ts_stats(s).symlinks_refused, 1);
	col_src_close(s);
	ts_got_free(&g), ts_got_free(&h);
	free(p), free(sec);
	ts_rmdir(d);
}

Test(col_src_file, bad_conf_and_unusable_path)
{
	col_src *s = NULL;
	col_src_conf c = { .kind = COL_SRC_FILE, .path = "" };

	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL);
	c.path = "/etc/passwd/x/mail.log"; /* parent is not a directory */
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -ENOTDIR);
	c.kind = (col_src_kind)99;
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), -EINVAL);
	cr_assert_null(s);
	col_src_close(NULL);
}

Test(col_src_file, stop_wakes_a_blocked_read)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	col_src *s = ts_file_src(p, NULL, 0, 0);
	col_src_chunk c;

	col_src_stop(s);
	cr_assert_eq(col_src_read(s, &c, 10000), 0);
	cr_assert_eq(c.n, 0);
	col_src_close(s);
	free(p);
	ts_rmdir(d);
}

Test(col_src_stdin, lines_then_enodata)
{
	int fds[2];
	ts_got g = { 0 };
	col_src *s = NULL;
	col_src_conf c = { .kind = COL_SRC_STDIN };
	col_src_chunk ch;

	cr_assert_eq(pipe(fds), 0);
	cr_assert(dup2(fds[0], 0) == 0);
	close(fds[0]);
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	cr_assert_eq(write(fds[1], "x1\nx2\nlast", 10), 10);
	cr_assert_eq(ts_read_until(s, &g, 2, 2000), 2);
	close(fds[1]);
	cr_assert_eq(ts_read_until(s, &g, 4, 2000), 3);
	const char *want[] = { "x1", "x2", "last" };
	ts_expect(&g, 0, want, 3);
	cr_assert_str_eq(g.stream, "stdin");
	cr_assert_eq(g.pos_len, 0);
	cr_assert_eq(col_src_read(s, &ch, 10), -ENODATA);
	col_src_close(s);
	ts_got_free(&g);
}

/* ---- Exchange message tracking directories ---- */

static const char mt_head[] = "#Software: Microsoft Exchange Server\r\n"
			      "#Version: 15.02.1118.007\r\n"
			      "#Log-type: Message Tracking Log\r\n"
			      "#Date: 2026-11-21T00:00:02.000Z\r\n"
			      "#Fields: date-time,client-ip,event-id,message-id\r\n";

/* ts_mt_src - a tracking directory source, optionally resumed */
static col_src *ts_mt_src(const char *dir, const col_src_resume *r, size_t nr)
{
	col_src_conf c = { .kind = COL_SRC_MSGTRK, .path = dir, .poll_ms = 10 };
	col_src *s = NULL;

	cr_assert_eq(col_src_open(&s, &c, r, nr), 0);
	return s;
}

/* ts_mt - one stream's lines, ends and last position, gathered by stream id */
typedef struct ts_mt {
	char stream[COL_SRC_STREAM_MAX + 1];
	ts_got g;
} ts_mt;

/* ts_mt_read - read for ms, sorting lines into per-stream slots */
static void ts_mt_read(col_src *s, ts_mt *slot, size_t nslot, int ms)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		col_src_chunk c;
		size_t i;

		cr_assert_eq(col_src_read(s, &c, 20), 0);
		if (c.n || c.stream_end) {
			for (i = 0; i < nslot && slot[i].stream[0]; i++)
				if (strcmp(slot[i].stream, c.stream) == 0)
					break;
			cr_assert(i < nslot, "too many streams");
			snprintf(slot[i].stream, sizeof(slot[i].stream), "%s", c.stream);
			ts_take(&slot[i].g, &c);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			break;
	}
}

/* ts_mt_slot - the slot of a stream ending in name */
static ts_mt *ts_mt_slot(ts_mt *slot, size_t nslot, const char *name)
{
	for (size_t i = 0; i < nslot; i++) {
		size_t l = strlen(slot[i].stream), n = strlen(name);
		if (l > n && strcmp(slot[i].stream + l - n, name) == 0 &&
		    strncmp(slot[i].stream, "msgtrk:", 7) == 0)
			return &slot[i];
	}
	cr_assert_fail("no stream for %s", name);
	return NULL;
}

Test(col_src_msgtrk, every_file_is_a_stream_and_old_ones_end)
{
	char *d = ts_dir(), *a = ts_path(d, "MSGTRK2026112100-1.LOG"),
	     *md = ts_path(d, "MSGTRKMD2026112100-1.LOG"),
	     *b = ts_path(d, "MSGTRK2026112200-1.LOG"), *c = ts_path(d, "MSGTRK2026112300-1.LOG"),
	     *other = ts_path(d, "notes.txt"), *lnk = ts_path(d, "MSGTRKMS2026112100-1.LOG"),
	     *sec = ts_path(d, "secret");
	ts_mt slot[8];

	memset(slot, 0, sizeof(slot));
	ts_appends(a, mt_head);
	ts_appends(a, "2026-11-21T10:00:00.000Z,10.0.0.1,RECEIVE,<a@x>\r\n");
	ts_appends(md, mt_head);
	ts_appends(other, "not a tracking log\n");
	ts_appends(sec, "SECRET\n");
	cr_assert_eq(symlink(sec, lnk), 0);
	col_src *s = ts_mt_src(d, NULL, 0);
	ts_mt_read(s, slot, 8, 300);
	ts_mt *sa = ts_mt_slot(slot, 8, "/MSGTRK2026112100-1.LOG");
	ts_mt *smd = ts_mt_slot(slot, 8, "/MSGTRKMD2026112100-1.LOG");
	cr_assert_eq(sa->g.n, 6);
	cr_assert_str_eq(sa->g.line[0], "#Software: Microsoft Exchange Server\r");
	cr_assert_str_eq(sa->g.line[4], "#Fields: date-time,client-ip,event-id,message-id\r");
	cr_assert_eq(smd->g.n, 5);
	cr_assert_eq(sa->g.ends + smd->g.ends, 0); /* nothing newer yet */
	cr_assert_eq(ts_stats(s).symlinks_refused, 1);

	/* A new day: a new file; the old one of that kind ends (with its
	   unterminated last line), the other kind does not. */
	ts_appends(a, "2026-11-21T23:59:59.000Z,10.0.0.1,DELIVER,<a@x>");
	ts_appends(b, mt_head);
	ts_appends(b, "2026-11-22T00:00:01.000Z,10.0.0.2,RECEIVE,<b@x>\r\n");
	ts_mt_read(s, slot, 8, 600);
	ts_mt *sb = ts_mt_slot(slot, 8, "/MSGTRK2026112200-1.LOG");
	cr_assert_eq(sb->g.n, 6);
	cr_assert_str_eq(sb->g.line[0], "#Software: Microsoft Exchange Server\r");
	cr_assert_eq(sa->g.n, 7);
	cr_assert_str_eq(sa->g.line[6], "2026-11-21T23:59:59.000Z,10.0.0.1,DELIVER,<a@x>");
	cr_assert_eq(sa->g.ends, 1);
	cr_assert_eq(sb->g.ends + smd->g.ends, 0);
	ts_appends(b, "2026-11-22T00:00:02.000Z,10.0.0.2,DELIVER,<b@x>\r\n");
	ts_mt_read(s, slot, 8, 100);
	cr_assert_eq(sb->g.n, 7);
	col_src_close(s);

	/* Restart as the spool would: the ended stream was forgotten; b and md
	   have positions.  a is not read again, b goes on, c (new while
	   stopped) is read from its start. */
	ts_appends(b, "2026-11-22T09:00:00.000Z,10.0.0.2,RECEIVE,<b2@x>\r\n");
	ts_appends(c, mt_head);
	col_src_resume r[2] = { { sb->stream, sb->g.pos, sb->g.pos_len },
				{ smd->stream, smd->g.pos, smd->g.pos_len } };
	ts_mt slot2[8];
	memset(slot2, 0, sizeof(slot2));
	s = ts_mt_src(d, r, 2);
	ts_mt_read(s, slot2, 8, 600);
	ts_mt *sb2 = ts_mt_slot(slot2, 8, "/MSGTRK2026112200-1.LOG");
	ts_mt *sc2 = ts_mt_slot(slot2, 8, "/MSGTRK2026112300-1.LOG");
	cr_assert_eq(sb2->g.n, 1);
	cr_assert_str_eq(sb2->g.line[0], "2026-11-22T09:00:00.000Z,10.0.0.2,RECEIVE,<b2@x>\r");
	cr_assert_eq(sb2->g.ends, 1);
	cr_assert_eq(sc2->g.n, 5);
	for (size_t i = 0; i < 8; i++)
		cr_assert(!strstr(slot2[i].stream, "MSGTRK2026112100-1.LOG") &&
				  !strstr(slot2[i].stream, "MSGTRKMD"),
			  "%s read again", slot2[i].stream);
	col_src_close(s);
	for (size_t i = 0; i < 8; i++)
		ts_got_free(&slot[i].g), ts_got_free(&slot2[i].g);
	free(a), free(md), free(b), free(c), free(other), free(lnk), free(sec);
	ts_rmdir(d);
}

Test(col_src_file, start_at_end_reads_only_new_lines)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 };

	ts_appends(p, "old1\nold2\n");
	col_src_conf c = { .kind = COL_SRC_FILE, .path = p, .poll_ms = 10, .start_at_end = 1 };
	col_src *s = NULL;
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	ts_quiet(s, &g, 60);
	ts_appends(p, "new1\n");
	cr_assert_eq(ts_read_until(s, &g, 1, 2000), 1);
	cr_assert_str_eq(g.line[0], "new1");
	col_src_close(s);
	ts_got_free(&g);
	free(p);
	ts_rmdir(d);
}

/* ts_rotate - logrotate's numbered scheme: BASE.N -> BASE.N+1, BASE -> BASE.1 */
static void ts_rotate(const char *dir, int nrot)
{
	char a[512], b[512];

	for (int i = nrot; i >= 1; i--) {
		snprintf(a, sizeof(a), "%s/mail.log.%d", dir, i);
		snprintf(b, sizeof(b), "%s/mail.log.%d", dir, i + 1);
		if (access(a, F_OK) == 0)
			cr_assert_eq(rename(a, b), 0);
	}
	snprintf(a, sizeof(a), "%s/mail.log", dir);
	snprintf(b, sizeof(b), "%s/mail.log.1", dir);
	cr_assert_eq(rename(a, b), 0);
}

/*
 * Exactly once across everything at once: lines appended in bursts, the
 * file rotated at random, the source closed and reopened from its last
 * position at random (a restart), chunks of a few lines.  Every line must
 * arrive once, in order.
 */
Test(col_src_file, exactly_once_through_rotations_and_restarts, .timeout = 120)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	unsigned seed = 12345;
	int written = 0, nrot = 0, next = 0;
	ts_got g = { 0 };
	unsigned char pos[COL_SRC_POS_MAX];
	size_t pos_len = 0;
	char stream[COL_SRC_STREAM_MAX + 1] = "";
	col_src_conf c = { .kind = COL_SRC_FILE, .path = p, .poll_ms = 5, .max_chunk = 40 };
	col_src *s = NULL;

	ts_appends(p, "");
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	for (int step = 0; step < 400; step++) {
		int act = (int)(rand_r(&seed) % 10);
		if (act < 5) {
			int k = 1 + (int)(rand_r(&seed) % 7);
			for (int i = 0; i < k; i++) {
				char line[64];
				int n = snprintf(line, sizeof(line), "line %06d %.*s\n", written,
						 (int)(rand_r(&seed) % 30),
						 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
				ts_append(p, line, (size_t)n);
				written++;
			}
		} else if (act == 5 && nrot < 40) {
			/* Up to three rotations in a row, with lines in between:
			   the source must not jump over a file. */
			int k = 1 + (int)(rand_r(&seed) % 3);
			for (int i = 0; i < k; i++) {
				char line[64];
				int n = snprintf(line, sizeof(line), "line %06d rot\n", written++);
				ts_rotate(d, nrot++);
				ts_append(p, line, (size_t)n);
			}
		} else if (act == 6) {
			col_src_close(s);
			col_src_resume r = { stream, pos, pos_len };
			cr_assert_eq(col_src_open(&s, &c, &r, pos_len ? 1 : 0), 0);
		} else {
			/* Catch up (as a reader faster than the writer does), so
			   rotations are also met live, not only through restarts. */
			col_src_chunk ch;
			ch.n = 1;
			for (int r = 0; r < 100 && ch.n; r++) {
				cr_assert_eq(col_src_read(s, &ch, 20), 0);
				for (size_t i = 0; i < ch.n; i++) {
					char want[32];
					snprintf(want, sizeof(want), "line %06d ", next);
					cr_assert(ch.lines[i].len >= 12 &&
							  memcmp(ch.lines[i].p, want, 12) == 0,
						  "step %d: got '%.*s', want '%s'", step,
						  (int)ch.lines[i].len, ch.lines[i].p, want);
					next++;
				}
				if (ch.n) {
					memcpy(pos, ch.pos, ch.pos_len);
					pos_len = ch.pos_len;
					snprintf(stream, sizeof(stream), "%s", ch.stream);
				}
			}
		}
	}
	/* Drain. */
	for (int i = 0; i < 500 && next < written; i++) {
		col_src_chunk ch;
		cr_assert_eq(col_src_read(s, &ch, 20), 0);
		for (size_t k = 0; k < ch.n; k++) {
			char want[32];
			snprintf(want, sizeof(want), "line %06d ", next);
			cr_assert(memcmp(ch.lines[k].p, want, 12) == 0, "drain: got '%.*s' want %s",
				  (int)ch.lines[k].len, ch.lines[k].p, want);
			next++;
		}
	}
	cr_assert_eq(next, written, "read %d of %d lines (%d rotations)", next, written, nrot);
	cr_assert(nrot > 10);
	ts_quiet(s, &g, 50);
	col_src_close(s);
	ts_got_free(&g);
	free(p);
	ts_rmdir(d);
}

Test(col_src_file, chunks_respect_max_chunk)
{
	char *d = ts_dir(), *p = ts_path(d, "mail.log");
	ts_got g = { 0 };

	for (int i = 0; i < 50; i++)
		ts_appends(p,
			   i % 7 ? "0123456789\n" : "01234567890123456789012345678901234567890\n");
	col_src_conf c = { .kind = COL_SRC_FILE, .path = p, .poll_ms = 10, .max_chunk = 25 };
	col_src *s = NULL;
	cr_assert_eq(col_src_open(&s, &c, NULL, 0), 0);
	while (g.n < 50) {
		col_src_chunk ch;
		size_t text = 0;
		cr_assert_eq(col_src_read(s, &ch, 1000), 0);
		cr_assert(ch.n > 0);
		for (size_t i = 0; i < ch.n; i++)
			text += ch.lines[i].len;
		/* At most max_chunk, unless one line alone is longer. */
		cr_assert(text <= 25 || ch.n == 1, "%zu lines, %zu bytes", ch.n, text);
		ts_take(&g, &ch);
	}
	cr_assert_eq(g.n, 50);
	col_src_close(s);
	ts_got_free(&g);
	free(p);
	ts_rmdir(d);
}
