/*
 * else-parse - parse mail logs offline and print one JSON object per line.
 *
 * usage: else-parse [--year YYYY] [FILE...]
 *        else-parse --flows [--year YYYY] [--state FILE] [FILE...]
 *
 * Without --flows: reads each FILE in turn (stdin when none, or for "-"), in
 * input order.  Every input line gives exactly one output line: a line the
 * parser does not understand comes out as {"event":"unparsed",...,"raw":...}.
 * Lines longer than 64 KiB are cut there and marked "truncated".
 *
 * With --flows: the lines of all FILEs (one log per host, typically) are
 * merged by time and correlated; one JSON object is printed per transaction
 * and per reject as each completes, and the still-open ones at the end (see
 * docs/flows.md).  --state FILE restores open transactions saved by an
 * earlier run and saves those still open at the end instead of printing them,
 * so deferred mail is followed across runs over successive logs.
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
#include "be_corr.h"
#include "be_flow_json.h"

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

/* One input of --flows: its reader, parser context and current line. */
typedef struct ep_src {
	const char *name;
	int fd;
	el_lines rd;
	el_parse_ctx ctx;
	el_rec rec;
	bool have, done;
} ep_src;

/* ep_src_next - read and parse the source's next line */
static void ep_src_next(ep_src *s)
{
	const char *line;
	size_t len;
	bool cut;
	int rc = el_lines_next(&s->rd, &line, &len, &cut);

	if (rc <= 0) {
		if (rc < 0)
			el_warn("%s: read error: %s", s->name, strerror(-rc));
		s->have = false;
		s->done = true;
		return;
	}
	el_parse_line(&s->ctx, line, len, &s->rec);
	if (cut)
		s->rec.flags |= EL_REC_TRUNCATED;
	s->have = true;
}

/* ep_src_time - sort key: records without a time go first */
static int64_t ep_src_time(const ep_src *s)
{
	if (!(s->rec.flags & EL_REC_HAS_TIME))
		return INT64_MIN;
	return s->rec.time_s * 1000000 + s->rec.time_us;
}

/* ep_out_tx - print a finished transaction */
static void ep_out_tx(void *arg, const be_corr *c, const be_tx *t)
{
	el_buf *out = arg;

	be_tx_json(c, t, out);
	el_buf_addc(out, '\n');
	if (out->len >= EP_FLUSH_AT)
		ep_flush(out);
}

/* ep_out_reject - print a reject record */
static void ep_out_reject(void *arg, const be_corr *c, const be_reject *j)
{
	el_buf *out = arg;

	be_reject_json(c, j, out);
	el_buf_addc(out, '\n');
	if (out->len >= EP_FLUSH_AT)
		ep_flush(out);
}

/* ep_flows - merge the inputs by time and correlate */
static int ep_flows(char **files, int nfiles, int year, const char *state, long linger, el_buf *out)
{
	static char *stdin_name[] = { "-" };
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out co = { ep_out_tx, ep_out_reject, out };
	be_corr *c;
	ep_src *src;
	int i, failed = 0;

	if (linger >= 0)
		conf.linger_s = (uint32_t)linger;
	c = be_corr_new(&conf, &co);
	if (nfiles == 0) {
		files = stdin_name;
		nfiles = 1;
	}
	if (state) {
		FILE *f = fopen(state, "r");
		if (f) {
			int rc = be_corr_restore(c, f);
			fclose(f);
			if (rc < 0)
				el_fatal("%s: cannot restore state: %s", state, strerror(-rc));
		} else if (errno != ENOENT) {
			el_fatal("%s: %s", state, strerror(errno));
		}
	}
	src = calloc((size_t)nfiles, sizeof(*src));
	if (src == NULL)
		el_fatal("out of memory");
	for (i = 0; i < nfiles; i++) {
		ep_src *s = &src[i];
		s->name = files[i];
		s->fd = strcmp(files[i], "-") == 0 ? STDIN_FILENO
						   : open(files[i], O_RDONLY | O_CLOEXEC);
		if (s->fd < 0) {
			el_warn("%s: %s", files[i], strerror(errno));
			failed = 1;
			s->done = true;
			continue;
		}
		el_parse_ctx_init(&s->ctx);
		s->ctx.force_year = year;
		if (el_lines_init(&s->rd, s->fd, EP_LINE_MAX) < 0)
			el_fatal("out of memory");
		ep_src_next(s);
	}
	for (;;) {
		ep_src *best = NULL;
		for (i = 0; i < nfiles; i++)
			if (src[i].have &&
			    (best == NULL || ep_src_time(&src[i]) < ep_src_time(best)))
				best = &src[i];
		if (best == NULL)
			break;
		el_span host = el_rec_get(&best->rec, EL_F_HOST);
		if (host.p == NULL)
			host = el_span_make(best->name, strlen(best->name));
		be_corr_line(c, host, &best->rec);
		be_corr_tick(c, 0);
		ep_src_next(best);
	}
	if (state) {
		/*
		 * Completed messages are printed now (a later run must not print
		 * them again); the open ones are saved for the next run.
		 */
		be_corr_release(c);
		FILE *f = fopen(state, "w");
		if (f == NULL || be_corr_dump(c, f) < 0 || fclose(f) != 0)
			el_fatal("%s: cannot save state: %s", state, strerror(errno));
		ep_flush(out);
	} else {
		be_corr_flush(c);
	}
	for (i = 0; i < nfiles; i++) {
		if (src[i].fd < 0)
			continue;
		el_lines_fini(&src[i].rd);
		el_parse_ctx_fini(&src[i].ctx);
		if (src[i].fd != STDIN_FILENO)
			close(src[i].fd);
	}
	free(src);
	be_corr_free(c);
	return failed ? -1 : 0;
}

/* ep_usage - print usage and exit */
static void ep_usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: else-parse [--year YYYY] [FILE...]\n"
		"       else-parse --flows [--year YYYY] [--state FILE] [--linger S] [FILE...]\n"
		"Parse mail logs: one JSON object per input line, or with --flows one per\n"
		"e-mail transaction and reject (see docs/parse.md, docs/flows.md).\n");
	exit(code);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "year", required_argument, NULL, 'y' },
		{ "flows", no_argument, NULL, 'f' },
		{ "state", required_argument, NULL, 's' },
		{ "linger", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	el_parse_ctx ctx;
	el_buf out;
	int ch, i, failed = 0;
	long year = 0;
	bool flows = false;
	const char *state = NULL;
	long linger = -1;

	el_log_set_prog("else-parse");
	el_parse_ctx_init(&ctx);
	while ((ch = getopt_long(argc, argv, "y:fs:l:h", opts, NULL)) != -1) {
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
		case 'f':
			flows = true;
			break;
		case 's':
			state = optarg;
			break;
		case 'l': {
			char *end;
			linger = strtol(optarg, &end, 10);
			if (*end || linger < 0 || linger > 86400)
				el_fatal("--linger: seconds between 0 and 86400, got '%s'", optarg);
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
	if (state && !flows)
		el_fatal("--state needs --flows");
	if (flows) {
		failed = ep_flows(argv + optind, argc - optind, ctx.force_year, state, linger,
				  &out) < 0;
		ep_flush(&out);
		el_buf_fini(&out);
		el_parse_ctx_fini(&ctx);
		return failed;
	}
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
