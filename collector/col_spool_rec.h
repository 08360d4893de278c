/*
 * col_spool_rec - the record framing of the spool's segment files (see
 * col_spool.h): CRC-32C, encoding of HEAD, LINES and ACK records into a
 * buffer, and reading one record back from a file with every check.
 *
 * Integers are stored in host byte order: a spool is read back by the
 * collector that wrote it, on the same machine.
 *
 * OWNERSHIP: decoded spans and positions point into the caller's buffer.
 * ERRORS: col_spool_rec_read() returns 1 with a record, 0 at a clean end of
 * file, -EBADMSG for a record that is cut short or does not check (a torn
 * write: the caller cuts the file there), -EIO for a read error.
 * THREADS: reentrant.
 * SECURITY: lengths are checked against the record's own length and
 * COL_SPOOL_MAX_REC before anything is read or allocated.
 */
#ifndef COL_SPOOL_REC_H
#define COL_SPOOL_REC_H

#include <stddef.h>
#include <stdint.h>

#include "el_buf.h"
#include "el_span.h"

#define COL_SPOOL_REC_HDR 12u
#define COL_SPOOL_HEAD 1u
#define COL_SPOOL_LINES 2u
#define COL_SPOOL_ACK 3u
#define COL_SPOOL_F_END 1u /* LINES/HEAD flag: the stream ended */

typedef struct col_spool_head {
	uint64_t first_seq, acked, batch_seq;
	uint32_t kind, flags;
	el_span stream, pos;
} col_spool_head;

typedef struct col_spool_lines {
	uint64_t first_seq;
	int64_t recv_us;
	uint32_t n, flags;
	el_span pos;
	const char *body; /* n x (u32 len, bytes) */
	size_t body_len;
} col_spool_lines;

/* col_spool_crc32c - CRC-32C (Castagnoli) of p[0..n), continuing crc */
uint32_t col_spool_crc32c(uint32_t crc, const void *p, size_t n);
/*
 * col_spool_crc32c_force_sw - 1: use the table code even where SSE4.2 is
 * there (tests compare both); 0: back to detecting the CPU.
 */
void col_spool_crc32c_force_sw(int on);

/* col_spool_rec_begin/_end - frame a record appended to b (len/crc filled by _end) */
size_t col_spool_rec_begin(el_buf *b, uint32_t type);
void col_spool_rec_end(el_buf *b, size_t start);

void col_spool_rec_head(el_buf *b, const col_spool_head *h);
void col_spool_rec_ack(el_buf *b, uint64_t acked, uint64_t batch_seq);

/* col_spool_rec_read - read the record at off into buf; see ERRORS */
int col_spool_rec_read(int fd, uint64_t off, el_buf *buf, uint32_t *type, el_span *payload);

int col_spool_rec_parse_head(el_span p, col_spool_head *h);
int col_spool_rec_parse_lines(el_span p, col_spool_lines *l);
int col_spool_rec_parse_ack(el_span p, uint64_t *acked, uint64_t *batch_seq);

/*
 * col_spool_rec_next_line - the next line of a LINES body at *off; 1 with a
 * line, 0 at the end, -EBADMSG if the body does not add up.
 */
int col_spool_rec_next_line(const col_spool_lines *l, size_t *off, el_span *line);

#endif
