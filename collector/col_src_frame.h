/*
 * col_src_frame - split a syslog TCP byte stream into messages (RFC 6587).
 *
 * Two framings, chosen by the first byte of the connection (as rsyslog's
 * imtcp does): a digit means octet counting, "LEN SP MSG" with LEN in 1 ..
 * 999999999 and no leading zero; anything else means newline framing, one
 * message per line ("<PRI>..." as rsyslog omfwd and logger send by default).
 *
 * A message longer than max is cut at max (the callback is told) and the
 * rest of it is skipped, so a connection costs at most max bytes of buffer.
 * In newline framing an unterminated last message is handed out at EOF by
 * col_frame_eof().
 *
 * OWNERSHIP: the decoder owns its buffer; the bytes passed to the callback
 * are valid during the call only.
 * ERRORS: col_frame_feed() returns the bytes consumed, or -EPROTO for a
 * malformed octet count (the stream cannot be resynchronised: close it).
 * THREADS: one decoder per connection, one thread.
 * SECURITY: the stream is untrusted; every byte is bounded by lengths, a
 * declared length never sizes an allocation.
 */
#ifndef COL_SRC_FRAME_H
#define COL_SRC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* col_frame_emit - one message; return non-zero to stop feeding after it */
typedef int (*col_frame_emit)(void *ctx, const char *p, size_t len, bool cut);

enum { COL_FRAME_DETECT, COL_FRAME_OCTET, COL_FRAME_LF };

typedef struct col_frame {
	size_t max;
	int mode;
	bool in_msg;   /* octet: past "LEN SP" */
	bool skipping; /* lf: dropping the rest of a cut line */
	unsigned ndig; /* octet: digits of LEN so far */
	uint64_t want; /* octet: LEN, then bytes of the frame still to come */
	bool cut;      /* octet: this frame is longer than max */
	char *acc;     /* the partial message, at most max bytes */
	size_t acclen;
} col_frame;

int col_frame_init(col_frame *f, size_t max);
void col_frame_fini(col_frame *f);
ssize_t col_frame_feed(col_frame *f, const char *p, size_t n, col_frame_emit cb, void *ctx);
/* col_frame_eof - the peer closed: hand out an unterminated last line */
void col_frame_eof(col_frame *f, col_frame_emit cb, void *ctx);

#endif
