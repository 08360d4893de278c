/*
 * fuzz_frame - libFuzzer target for the syslog TCP framing decoder
 * (collector/col_src_frame): the bytes a TCP peer sends.
 *
 * The first two input bytes pick the message limit and how the stream is
 * cut into reads; the rest is the stream.  It is decoded twice, in one
 * piece and in small pieces (with the callback asking to stop now and
 * then, as a full chunk does), and both must yield the same messages, each
 * at most the limit: a difference or an out-of-bounds touch is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "col_src_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct ff_out {
	uint64_t h; /* hash of every message and its cut flag, in order */
	size_t n, max;
	unsigned stop_every;
} ff_out;

/* ff_emit - fold one message into the hash */
static int ff_emit(void *ctx, const char *p, size_t len, bool cut)
{
	ff_out *o = ctx;

	if (len > o->max)
		abort();
	for (size_t i = 0; i < len; i++)
		o->h = (o->h ^ (unsigned char)p[i]) * 1099511628211ull;
	o->h = (o->h ^ (cut ? 0x100u : 0x200u) ^ len) * 1099511628211ull;
	o->n++;
	return o->stop_every && o->n % o->stop_every == 0;
}

/* ff_run - decode data in pieces of at most piece bytes; -1 on EPROTO */
static int ff_run(const uint8_t *data, size_t size, size_t max, size_t piece, ff_out *o)
{
	col_frame f;
	size_t i = 0;
	int rc = 0;

	if (col_frame_init(&f, max) < 0)
		abort();
	while (i < size) {
		size_t n = size - i < piece ? size - i : piece;
		ssize_t k = col_frame_feed(&f, (const char *)data + i, n, ff_emit, o);
		if (k < 0) {
			rc = -1;
			break;
		}
		if ((size_t)k > n)
			abort();
		i += (size_t)k;
	}
	if (rc == 0)
		col_frame_eof(&f, ff_emit, o);
	col_frame_fini(&f);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ff_out a = { 0 }, b = { 0 };
	size_t max, piece;
	int ra, rb;

	if (size < 2)
		return 0;
	max = 1 + data[0] % 200;
	piece = 1 + data[1] % 17;
	a.max = b.max = max;
	b.stop_every = 1 + data[1] % 3;
	ra = ff_run(data + 2, size - 2, max, size, &a);
	rb = ff_run(data + 2, size - 2, max, piece, &b);
	/* A malformed count is found at the same byte either way. */
	if (ra != rb || a.n != b.n || a.h != b.h)
		abort();
	return 0;
}
