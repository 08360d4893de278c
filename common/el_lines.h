/*
 * el_lines - split a byte stream from a file descriptor into lines, bounded.
 *
 * Lines end at '\n' (the newline is not returned).  A line longer than the
 * limit is returned cut at the limit with *truncated set, and the rest of it
 * up to the next newline is skipped and counted, so one huge or endless line
 * costs bounded memory and never hides the lines after it.  A final line
 * without a newline is returned at EOF.
 *
 * OWNERSHIP: the returned pointer is valid until the next call.
 * ERRORS: el_lines_next() returns 1 with a line, 0 at EOF, -errno on a read error.
 * THREADS: one reader per thread.
 */
#ifndef EL_LINES_H
#define EL_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct el_lines {
	int fd;
	char *buf;
	size_t cap;   /* max line length + slack */
	size_t max;   /* longest line returned */
	size_t start; /* first unconsumed byte */
	size_t end;   /* end of valid data */
	bool eof;
	bool skip_pending;      /* rest of a cut line still to drop */
	uint64_t n_truncated;   /* lines cut at max */
	uint64_t bytes_skipped; /* bytes dropped from cut lines */
} el_lines;

int el_lines_init(el_lines *l, int fd, size_t max);
void el_lines_fini(el_lines *l);
int el_lines_next(el_lines *l, const char **line, size_t *len, bool *truncated);

#endif
