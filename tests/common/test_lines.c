/*
 * test_lines - the bounded line reader: newlines, a last line without one,
 * overlong lines cut and skipped, and lines that span read boundaries.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "el_lines.h"

/* tl_pipe_of - a readable fd with the given bytes (a temp file) */
static int tl_fd_of(const char *p, size_t n)
{
	FILE *f = tmpfile();
	int fd;

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(p, 1, n, f), n);
	fflush(f);
	fd = dup(fileno(f));
	fclose(f);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

Test(lines, splits_and_keeps_last_line)
{
	int fd = tl_fd_of("a\nbb\n\nccc", 9);
	el_lines l;
	const char *p;
	size_t n;
	bool cut;

	cr_assert_eq(el_lines_init(&l, fd, 100), 0);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
	cr_assert(n == 1 && p[0] == 'a' && !cut);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
	cr_assert(n == 2 && memcmp(p, "bb", 2) == 0);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
	cr_assert_eq(n, 0);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
	cr_assert(n == 3 && memcmp(p, "ccc", 3) == 0);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 0);
	el_lines_fini(&l);
	close(fd);
}

Test(lines, overlong_line_is_cut_and_rest_skipped)
{
	size_t big = 10 * 1024 * 1024;
	char *data = malloc(big + 16);
	el_lines l;
	const char *p;
	size_t n;
	bool cut;
	int fd;

	memset(data, 'x', big);
	memcpy(data + big, "\nnext\n", 6);
	fd = tl_fd_of(data, big + 6);
	cr_assert_eq(el_lines_init(&l, fd, 4096), 0);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
	cr_assert(cut && n == 4096);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
	cr_assert(!cut && n == 4 && memcmp(p, "next", 4) == 0, "got %zu bytes", n);
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 0);
	cr_assert_eq(l.n_truncated, 1);
	cr_assert_eq(l.bytes_skipped, big - 4096);
	el_lines_fini(&l);
	close(fd);
	free(data);
}

Test(lines, many_lines_across_buffer_refills)
{
	size_t count = 200000, i;
	char *data = malloc(count * 8);
	size_t len = 0;
	el_lines l;
	const char *p;
	size_t n;
	bool cut;
	int fd;

	for (i = 0; i < count; i++)
		len += (size_t)sprintf(data + len, "%06zu\n", i);
	fd = tl_fd_of(data, len);
	cr_assert_eq(el_lines_init(&l, fd, 64), 0);
	for (i = 0; i < count; i++) {
		char want[8];
		sprintf(want, "%06zu", i);
		cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 1);
		cr_assert(n == 6 && memcmp(p, want, 6) == 0, "line %zu", i);
	}
	cr_assert_eq(el_lines_next(&l, &p, &n, &cut), 0);
	el_lines_fini(&l);
	close(fd);
	free(data);
}

Test(lines, rejects_bad_limit)
{
	el_lines l;

	cr_assert_eq(el_lines_init(&l, 0, 0), -EINVAL);
}
