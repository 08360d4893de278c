/*
 * col_spool_rec - record framing of the spool.  See col_spool_rec.h.
 */
#include "col_spool_rec.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "col_spool.h"

/* Slicing-by-8 tables: about 1 byte per cycle, no CPU feature needed. */
static uint32_t col_crc_tab[8][256];
static pthread_once_t col_crc_once = PTHREAD_ONCE_INIT;

/* col_spool_crc_init - the tables for the reflected polynomial 0x82F63B78 */
static void col_spool_crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
		col_crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			col_crc_tab[t][i] = (col_crc_tab[t - 1][i] >> 8) ^
					    col_crc_tab[0][col_crc_tab[t - 1][i] & 0xff];
}

/* col_spool_crc32c_sw - slicing-by-8, for any CPU */
static uint32_t col_spool_crc32c_sw(uint32_t crc, const unsigned char *s, size_t n)
{
	pthread_once(&col_crc_once, col_spool_crc_init);
	crc = ~crc;
	while (n >= 8) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + 4, 4);
		a ^= crc;
		crc = col_crc_tab[7][a & 0xff] ^ col_crc_tab[6][(a >> 8) & 0xff] ^
		      col_crc_tab[5][(a >> 16) & 0xff] ^ col_crc_tab[4][a >> 24] ^
		      col_crc_tab[3][b & 0xff] ^ col_crc_tab[2][(b >> 8) & 0xff] ^
		      col_crc_tab[1][(b >> 16) & 0xff] ^ col_crc_tab[0][b >> 24];
		s += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ col_crc_tab[0][(crc ^ *s++) & 0xff];
	return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/*
 * col_spool_crc32c_hw - SSE4.2's crc32 instruction computes exactly this
 * CRC (Castagnoli, reflected 0x82F63B78), 8 bytes per instruction: the
 * spool checks every byte it writes and reads, and the tables cost 15 % of
 * the collector's CPU at full speed (bench/collector.sh, perf).
 */
__attribute__((target("sse4.2"))) static uint32_t
col_spool_crc32c_hw(uint32_t crc, const unsigned char *s, size_t n)
{
	uint64_t c = ~crc;

	while (n >= 8) {
		uint64_t v;
		memcpy(&v, s, 8);
		c = __builtin_ia32_crc32di(c, v);
		s += 8;
		n -= 8;
	}
	while (n--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *s++);
	return ~(uint32_t)c;
}

static int col_crc_hw = -1; /* -1 unknown, 0 no, 1 SSE4.2 */

/* col_spool_crc32c_force_sw - see col_spool_rec.h */
void col_spool_crc32c_force_sw(int on)
{
	__atomic_store_n(&col_crc_hw, on ? 0 : -1, __ATOMIC_RELAXED);
}

/* col_spool_crc32c - see col_spool_rec.h */
uint32_t col_spool_crc32c(uint32_t crc, const void *p, size_t n)
{
	int hw = __atomic_load_n(&col_crc_hw, __ATOMIC_RELAXED);

	if (hw < 0) {
		__builtin_cpu_init();
		hw = __builtin_cpu_supports("sse4.2") ? 1 : 0;
		__atomic_store_n(&col_crc_hw, hw, __ATOMIC_RELAXED);
	}
	return hw ? col_spool_crc32c_hw(crc, p, n) : col_spool_crc32c_sw(crc, p, n);
}
#else
/* col_spool_crc32c_force_sw - see col_spool_rec.h */
void col_spool_crc32c_force_sw(int on)
{
	(void)on;
}

/* col_spool_crc32c - see col_spool_rec.h */
uint32_t col_spool_crc32c(uint32_t crc, const void *p, size_t n)
{
	return col_spool_crc32c_sw(crc, p, n);
}
#endif

/* col_spool_put - append a fixed-size integer */
#define COL_PUT(b, v)                                                                              \
	do {                                                                                       \
		__typeof__(v) col_put_v_ = (v);                                                    \
		el_buf_add((b), &col_put_v_, sizeof(col_put_v_));                                  \
	} while (0)

/* col_spool_rec_begin - see col_spool_rec.h */
size_t col_spool_rec_begin(el_buf *b, uint32_t type)
{
	size_t start = b->len;
	uint32_t z = 0;

	el_buf_add(b, &z, 4);
	el_buf_add(b, &z, 4);
	el_buf_add(b, &type, 4);
	return start;
}

/* col_spool_rec_end - see col_spool_rec.h */
void col_spool_rec_end(el_buf *b, size_t start)
{
	uint32_t len = (uint32_t)(b->len - start - COL_SPOOL_REC_HDR);
	uint32_t crc = col_spool_crc32c(0, b->p + start + 8, b->len - start - 8);

	memcpy(b->p + start, &len, 4);
	memcpy(b->p + start + 4, &crc, 4);
}

/* col_spool_rec_head - see col_spool_rec.h */
void col_spool_rec_head(el_buf *b, const col_spool_head *h)
{
	size_t st = col_spool_rec_begin(b, COL_SPOOL_HEAD);

	COL_PUT(b, h->first_seq);
	COL_PUT(b, h->acked);
	COL_PUT(b, h->batch_seq);
	COL_PUT(b, h->kind);
	COL_PUT(b, h->flags);
	COL_PUT(b, (uint16_t)h->stream.len);
	COL_PUT(b, (uint16_t)h->pos.len);
	el_buf_adds(b, h->stream);
	el_buf_adds(b, h->pos);
	col_spool_rec_end(b, st);
}

/* col_spool_rec_ack - see col_spool_rec.h */
void col_spool_rec_ack(el_buf *b, uint64_t acked, uint64_t batch_seq)
{
	size_t st = col_spool_rec_begin(b, COL_SPOOL_ACK);

	COL_PUT(b, acked);
	COL_PUT(b, batch_seq);
	col_spool_rec_end(b, st);
}

/* col_spool_rec_read - see col_spool_rec.h */
int col_spool_rec_read(int fd, uint64_t off, el_buf *buf, uint32_t *type, el_span *payload)
{
	uint32_t hdr[3], crc;
	ssize_t r;

	r = pread(fd, hdr, sizeof(hdr), (off_t)off);
	if (r < 0)
		return -EIO;
	if (r == 0)
		return 0;
	if (r != (ssize_t)sizeof(hdr) || hdr[0] > COL_SPOOL_MAX_REC)
		return -EBADMSG;
	buf->len = 0;
	el_buf_reserve(buf, hdr[0] + 4);
	memcpy(buf->p, &hdr[2], 4);
	if (hdr[0]) {
		r = pread(fd, buf->p + 4, hdr[0], (off_t)(off + COL_SPOOL_REC_HDR));
		if (r < 0)
			return -EIO;
		if ((size_t)r != hdr[0])
			return -EBADMSG;
	}
	buf->len = hdr[0] + 4;
	crc = col_spool_crc32c(0, buf->p, buf->len);
	if (crc != hdr[1])
		return -EBADMSG;
	*type = hdr[2];
	*payload = el_span_make(buf->p + 4, hdr[0]);
	return 1;
}

/* col_spool_get - take n bytes from the front of p */
static int col_spool_get(el_span *p, void *out, size_t n)
{
	if (p->len < n)
		return -EBADMSG;
	memcpy(out, p->p, n);
	*p = el_span_skip(*p, n);
	return 0;
}

/* col_spool_rec_parse_head - see col_spool_rec.h */
int col_spool_rec_parse_head(el_span p, col_spool_head *h)
{
	uint16_t slen, plen;

	if (col_spool_get(&p, &h->first_seq, 8) || col_spool_get(&p, &h->acked, 8) ||
	    col_spool_get(&p, &h->batch_seq, 8) || col_spool_get(&p, &h->kind, 4) ||
	    col_spool_get(&p, &h->flags, 4) || col_spool_get(&p, &slen, 2) ||
	    col_spool_get(&p, &plen, 2))
		return -EBADMSG;
	if (slen == 0 || slen > COL_SRC_STREAM_MAX || plen > COL_SRC_POS_MAX ||
	    p.len != (size_t)slen + plen || h->first_seq == 0 || h->acked >= h->first_seq)
		return -EBADMSG;
	h->stream = el_span_make(p.p, slen);
	h->pos = el_span_make(p.p + slen, plen);
	return 0;
}

/* col_spool_rec_parse_lines - see col_spool_rec.h */
int col_spool_rec_parse_lines(el_span p, col_spool_lines *l)
{
	uint16_t plen, pad;

	if (col_spool_get(&p, &l->first_seq, 8) || col_spool_get(&p, &l->recv_us, 8) ||
	    col_spool_get(&p, &l->n, 4) || col_spool_get(&p, &l->flags, 4) ||
	    col_spool_get(&p, &plen, 2) || col_spool_get(&p, &pad, 2))
		return -EBADMSG;
	if (plen > COL_SRC_POS_MAX || p.len < plen || l->n > COL_SPOOL_MAX_LINES)
		return -EBADMSG;
	l->pos = el_span_make(p.p, plen);
	l->body = p.p + plen;
	l->body_len = p.len - plen;
	return 0;
}

/* col_spool_rec_parse_ack - see col_spool_rec.h */
int col_spool_rec_parse_ack(el_span p, uint64_t *acked, uint64_t *batch_seq)
{
	if (col_spool_get(&p, acked, 8) || col_spool_get(&p, batch_seq, 8) || p.len != 0)
		return -EBADMSG;
	return 0;
}

/* col_spool_rec_next_line - see col_spool_rec.h */
int col_spool_rec_next_line(const col_spool_lines *l, size_t *off, el_span *line)
{
	uint32_t len;

	if (*off == l->body_len)
		return 0;
	if (l->body_len - *off < 4)
		return -EBADMSG;
	memcpy(&len, l->body + *off, 4);
	if (l->body_len - *off - 4 < len)
		return -EBADMSG;
	*line = el_span_make(l->body + *off + 4, len);
	*off += 4 + (size_t)len;
	return 1;
}
