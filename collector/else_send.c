/*
 * else-send - ship log files to the backend once: a test sender and a one-off
 * importer.
 *
 *   else-send --backend tls+tcp://HOST:PORT --ca ca.crt --cert client-HOST.pem
 *             --stream ID [--batch-lines N] [--batch-bytes N] [--first-seq N]
 *             [--first-batch N] [--server-name NAME] [--timeout MS]
 *             [--retries N] [--max-line N] [--quiet] FILE...
 *
 * Reads the FILEs ("-" is stdin) as one stream of lines, numbered from
 * --first-seq (default 1), in batches of at most --batch-lines lines
 * (default 2000) or --batch-bytes bytes of text (default 512 KiB), whichever
 * fills first.  Each batch is sent and its ack awaited before the next (the
 * backend commits a stream in order); a batch that times out or finds the
 * backend busy is resent as is, the backend dropping what it already
 * stored.  Lines longer than --max-line (default 1 MiB, the backend's limit)
 * are cut there and counted.  Prints what it sent and the rate to stdout.
 *
 * Exit status: 0 when every line was acknowledged, 1 otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "col_ship.h"
#include "el_buf.h"
#include "el_lines.h"
#include "el_log.h"
#include "el_span.h"
#include "el_time.h"

typedef struct send_opts {
	const char *url, *ca, *cert, *stream, *server_name;
	uint64_t batch_lines, batch_bytes, first_seq, first_batch, timeout_ms, retries, max_line;
	int quiet;
} send_opts;

typedef struct send_batch {
	Else__Batch b;
	Else__Line *lines;
	Else__Line **ptrs;
	size_t *off; /* text offsets: text.p moves while the batch fills */
	size_t n, cap;
	el_buf text;
} send_batch;

typedef struct send_totals {
	uint64_t lines, bytes, batches, resends, truncated;
} send_totals;

/* send_num - parse a bounded decimal option or exit */
static uint64_t send_num(const char *name, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (el_span_parse_u64(el_span_make(s, strlen(s)), &v) != 0 || v < min || v > max)
		el_fatal("--%s: expected a number in %llu..%llu", name, (unsigned long long)min,
			 (unsigned long long)max);
	return v;
}

/* send_usage - print usage and exit */
static void send_usage(void)
{
	fprintf(stderr, "usage: else-send --backend URL --ca CA --cert CERTKEY --stream ID\n"
			"                 [--batch-lines N] [--batch-bytes N] [--first-seq N]\n"
			"                 [--first-batch N] [--server-name NAME] [--timeout MS]\n"
			"                 [--retries N] [--max-line N] [--quiet] FILE...\n");
	exit(2);
}

/* send_ship - send the batch until acknowledged; 0 or -errno (given up) */
static int send_ship(col_ship *c, send_batch *sb, const send_opts *o, send_totals *t)
{
	uint64_t committed = 0, tries = 0, last;
	size_t i, skip;
	int rv;

	for (i = 0; i < sb->n; i++)
		sb->lines[i].text.data = (uint8_t *)sb->text.p + sb->off[i];
	sb->b.n_lines = sb->n;
	sb->b.lines = sb->ptrs;
	sb->b.first_seq = sb->lines[0].seq;
	last = sb->lines[sb->n - 1].seq;
	for (;;) {
		rv = col_ship_send(c, &sb->b, &committed, (int)o->timeout_ms);
		if (rv == 0)
			break;
		if (rv == -ERANGE && committed >= last)
			break; /* the backend has all of it already */
		if (rv == -ERANGE && committed >= sb->b.first_seq) {
			/* The backend is ahead of us: send only what it lacks. */
			skip = (size_t)(committed - sb->b.first_seq + 1);
			sb->b.lines += skip;
			sb->b.n_lines -= skip;
			sb->b.first_seq = committed + 1;
			continue;
		}
		if (rv == -ERANGE) {
			el_warn("backend misses lines %llu..%llu of stream %s: rerun with "
				"--first-seq %llu",
				(unsigned long long)committed + 1,
				(unsigned long long)sb->b.first_seq - 1, o->stream,
				(unsigned long long)committed + 1);
			return rv;
		}
		if (rv != -ETIMEDOUT && rv != -EAGAIN) {
			el_warn("batch %llu refused: %s", (unsigned long long)sb->b.batch_seq,
				strerror(-rv));
			return rv;
		}
		if (++tries > o->retries) {
			el_warn("batch %llu: giving up after %llu tries: %s",
				(unsigned long long)sb->b.batch_seq, (unsigned long long)tries,
				strerror(-rv));
			return rv;
		}
		t->resends++;
		if (rv == -EAGAIN) {
			/* Busy: back off, up to 5 s. */
			unsigned ms = tries < 6 ? 100u << tries : 5000u;
			struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
			nanosleep(&ts, NULL);
		}
	}
	t->lines += sb->n;
	t->bytes += sb->text.len;
	t->batches++;
	sb->b.batch_seq++;
	sb->n = 0;
	sb->text.len = 0;
	return 0;
}

/* send_add - append one line to the batch */
static void send_add(send_batch *sb, const char *p, size_t len, uint64_t seq)
{
	Else__Line *l = &sb->lines[sb->n];

	else__line__init(l);
	l->seq = seq;
	l->recv_time_us = el_now_us(CLOCK_REALTIME);
	l->text.len = len;
	sb->off[sb->n] = sb->text.len;
	el_buf_add(&sb->text, p, len);
	sb->ptrs[sb->n] = l;
	sb->n++;
}

/* send_file - read one file into batches */
static int send_file(col_ship *c, const char *path, send_batch *sb, const send_opts *o,
		     uint64_t *seq, send_totals *t)
{
	const char *p;
	size_t len;
	bool cut;
	el_lines lr;
	int fd, rv, srv = 0;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		el_warn("%s: %s", path, strerror(errno));
		return -errno;
	}
	if ((rv = el_lines_init(&lr, fd, (size_t)o->max_line)) != 0)
		goto out;
	while ((rv = el_lines_next(&lr, &p, &len, &cut)) == 1) {
		send_add(sb, p, len, (*seq)++);
		if (sb->n >= o->batch_lines || sb->text.len >= o->batch_bytes) {
			if ((srv = send_ship(c, sb, o, t)) != 0)
				break;
		}
	}
	if (srv != 0)
		rv = srv; /* send_ship said why */
	else if (rv < 0)
		el_warn("%s: read: %s", path, strerror(-rv));
	t->truncated += lr.n_truncated;
	el_lines_fini(&lr);
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return rv < 0 ? rv : 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "ca", required_argument, NULL, 'a' },
		{ "cert", required_argument, NULL, 'c' },
		{ "stream", required_argument, NULL, 's' },
		{ "server-name", required_argument, NULL, 'n' },
		{ "batch-lines", required_argument, NULL, 'L' },
		{ "batch-bytes", required_argument, NULL, 'B' },
		{ "first-seq", required_argument, NULL, 'f' },
		{ "first-batch", required_argument, NULL, 'F' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'r' },
		{ "max-line", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	send_opts o = { .batch_lines = 2000,
			.batch_bytes = 512 * 1024,
			.first_seq = 1,
			.first_batch = 1,
			.timeout_ms = 30000,
			.retries = 100,
			.max_line = 1 << 20 };
	col_ship_conf cc = { 0 };
	col_ship_stats cs;
	send_totals t = { 0 };
	send_batch sb;
	col_ship *c;
	char host[256];
	uint64_t seq;
	double t0, dt;
	int ch, i, rv = 0;

	el_log_set_prog("else-send");
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o.url = optarg;
			break;
		case 'a':
			o.ca = optarg;
			break;
		case 'c':
			o.cert = optarg;
			break;
		case 's':
			o.stream = optarg;
			break;
		case 'n':
			o.server_name = optarg;
			break;
		case 'L':
			o.batch_lines = send_num("batch-lines", optarg, 1, 100000);
			break;
		case 'B':
			o.batch_bytes = send_num("batch-bytes", optarg, 1, 64u << 20);
			break;
		case 'f':
			o.first_seq = send_num("first-seq", optarg, 1, INT64_MAX / 2);
			break;
		case 'F':
			o.first_batch = send_num("first-batch", optarg, 0, INT64_MAX / 2);
			break;
		case 't':
			o.timeout_ms = send_num("timeout", optarg, 100, 3600000);
			break;
		case 'r':
			o.retries = send_num("retries", optarg, 0, 1000000);
			break;
		case 'm':
			o.max_line = send_num("max-line", optarg, 64, 1 << 20);
			break;
		case 'q':
			o.quiet = 1;
			break;
		default:
			send_usage();
		}
	}
	if (!o.url || !o.ca || !o.cert || !o.stream || optind >= argc)
		send_usage();
	if (strlen(o.stream) > 256)
		el_fatal("--stream: at most 256 bytes");
	for (const char *q = o.stream; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
			el_fatal("--stream: printable ASCII only");

	cc.url = o.url;
	cc.ca_file = o.ca;
	cc.cert_key_file = o.cert;
	cc.server_name = o.server_name;
	/* A batch of max lines of max size must fit: size the frame for it. */
	cc.max_frame = (size_t)(o.batch_bytes + o.max_line + o.batch_lines * 32 + 65536);
	cc.software = "else-send 0.1";
	if ((rv = col_ship_open(&c, &cc)) != 0)
		el_fatal("cannot set up the connection to %s: %s", o.url, strerror(-rv));

	memset(&sb, 0, sizeof(sb));
	else__batch__init(&sb.b);
	sb.cap = (size_t)o.batch_lines;
	sb.lines = calloc(sb.cap, sizeof(*sb.lines));
	sb.ptrs = calloc(sb.cap, sizeof(*sb.ptrs));
	sb.off = calloc(sb.cap, sizeof(*sb.off));
	if (!sb.lines || !sb.ptrs || !sb.off)
		el_fatal("out of memory");
	el_buf_init(&sb.text);
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	sb.b.host = host;
	sb.b.stream_id = (char *)o.stream;
	sb.b.source = (argc - optind == 1 && strcmp(argv[optind], "-") == 0)
			      ? ELSE__SOURCE_KIND__SOURCE_STDIN
			      : ELSE__SOURCE_KIND__SOURCE_FILE;
	sb.b.batch_seq = o.first_batch;

	seq = o.first_seq;
	t0 = (double)el_now_us(CLOCK_MONOTONIC) / 1e6;
	for (i = optind; i < argc && rv == 0; i++)
		rv = send_file(c, argv[i], &sb, &o, &seq, &t);
	if (rv == 0 && sb.n > 0)
		rv = send_ship(c, &sb, &o, &t);
	dt = (double)el_now_us(CLOCK_MONOTONIC) / 1e6 - t0;
	col_ship_stats_get(c, &cs);
	if (!o.quiet || rv != 0) {
		printf("else-send: %s as %s: %llu lines, %llu bytes, %llu batches, %llu resends, "
		       "%llu handshakes, %llu truncated lines, %.3f s, %.0f lines/s, %.1f MB/s%s\n",
		       o.stream, col_ship_identity(c)[0] ? col_ship_identity(c) : "(none)",
		       (unsigned long long)t.lines, (unsigned long long)t.bytes,
		       (unsigned long long)t.batches, (unsigned long long)t.resends,
		       (unsigned long long)cs.handshakes, (unsigned long long)t.truncated, dt,
		       dt > 0 ? (double)t.lines / dt : 0.0,
		       dt > 0 ? (double)t.bytes / dt / 1e6 : 0.0, rv == 0 ? "" : " (INCOMPLETE)");
		fflush(stdout);
	}
	col_ship_close(c);
	el_buf_fini(&sb.text);
	free(sb.lines);
	free(sb.ptrs);
	free(sb.off);
	return rv == 0 ? 0 : 1;
}
