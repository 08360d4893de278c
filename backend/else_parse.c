/*
 * else-parse - parse mail logs offline and print one JSON object per line.
 *
 * usage: else-parse [--year YYYY] [FILE...]
 *
 * Reads each FILE in turn (stdin when none, or for "-"), in input order.
 * Every input line gives exactly one output line: a line the parser does not
 * understand comes out as {"event":"unparsed",...,"raw":"..."}.  Lines longer
 * than 64 KiB are cut there and marked "truncated".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "el_buf.h"
#include "el_lines.h"
#include "el_log.h"
#include "el_parse.h"

#define EP_LINE_MAX (64 * 1024)
#define EP_FLUSH_AT (256 * 1024)

/* ep_flush - write the buffered output to stdout */
static void ep_flush(el_buf *out)
{
	size_t off = 0;

	while (off < out->len) {
		ssize_t n = write(STDOUT_FILENO, out->p + off, out->len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			el_fatal("write: %s", strerror(errno));
		}
		off += (size_t)n;
	}
	out->len = 0;
}

/* ep_file - parse one input */
static int ep_file(el_parse_ctx *ctx, int fd, const char *name, el_buf *out)
{
	el_lines rd;
	const char *line;
	size_t len;
	bool cut;
	el_rec rec;
	int rc;

	if (el_lines_init(&rd, fd, EP_LINE_MAX) < 0)
		el_fatal("out of memory");
	while ((rc = el_lines_next(&rd, &line, &len, &cut)) > 0) {
		el_parse_line(ctx, line, len, &rec);
		if (cut)
			rec.flags |= EL_REC_TRUNCATED;
		el_rec_json(ctx, &rec, out);
		el_buf_addc(out, '\n');
		if (out->len >= EP_FLUSH_AT)
			ep_flush(out);
	}
	if (rc < 0)
		el_warn("%s: read error: %s", name, strerror(-rc));
	el_lines_fini(&rd);
	return rc < 0 ? rc : 0;
}

/* ep_usage - print usage and exit */
static void ep_usage(int code)
{
	fprintf(code ? stderr : stdout, "usage: else-parse [--year YYYY] [FILE...]\n"
					"Parse mail logs; print one JSON object per input line.\n");
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "year", required_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	el_parse_ctx ctx;
	el_buf out;
	int ch, i, failed = 0;
	long year = 0;

	el_log_set_prog("else-parse");
	el_parse_ctx_init(&ctx);
	while ((ch = getopt_long(argc, argv, "y:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'y': {
			char *end;
			errno = 0;
			year = strtol(optarg, &end, 10);
			if (errno || *end || year < 1970 || year > 9999)
				el_fatal("--year: expected a year between 1970 and 9999, got '%s'",
					 optarg);
			ctx.force_year = (int)year;
			break;
		}
		case 'h':
			ep_usage(0);
			break;
		default:
			ep_usage(2);
		}
	}
	el_buf_init(&out);
	if (optind == argc) {
		failed |= ep_file(&ctx, STDIN_FILENO, "stdin", &out) < 0;
	}
	for (i = optind; i < argc; i++) {
		int fd;
		if (strcmp(argv[i], "-") == 0) {
			failed |= ep_file(&ctx, STDIN_FILENO, "stdin", &out) < 0;
			continue;
		}
		fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			el_warn("%s: %s", argv[i], strerror(errno));
			failed = 1;
			continue;
		}
		failed |= ep_file(&ctx, fd, argv[i], &out) < 0;
		close(fd);
	}
	ep_flush(&out);
	el_buf_fini(&out);
	el_parse_ctx_fini(&ctx);
	return failed ? 1 : 0;
}
