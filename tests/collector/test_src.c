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
	/* max_chunk 3 bytes: one 2-byte line... two per chunk; stop after g1,g2 */
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
