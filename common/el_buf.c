/*
 * el_buf - growable byte buffer.
 */
#include "el_buf.h"

#include <stdlib.h>

#include "el_log.h"

/* el_buf_init - an empty buffer */
void el_buf_init(el_buf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
}

/* el_buf_fini - release the storage */
void el_buf_fini(el_buf *b)
{
	free(b->p);
	el_buf_init(b);
}

/* el_buf_grow - ensure room for need more bytes, doubling */
void el_buf_grow(el_buf *b, size_t need)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (need > EL_BUF_MAX - b->len)
		el_panic("el_buf: %zu + %zu bytes exceeds the buffer limit", b->len, need);
	while (cap - b->len < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		el_panic("el_buf: out of memory for %zu bytes", cap);
	b->p = p;
	b->cap = cap;
}

/* el_buf_add_u64 - append a decimal number */
void el_buf_add_u64(el_buf *b, uint64_t v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	el_buf_add(b, tmp + sizeof(tmp) - n, n);
}

/* el_buf_add_i64 - append a signed decimal number */
void el_buf_add_i64(el_buf *b, int64_t v)
{
	if (v < 0) {
		el_buf_addc(b, '-');
		el_buf_add_u64(b, (uint64_t)0 - (uint64_t)v);
	} else {
		el_buf_add_u64(b, (uint64_t)v);
	}
}
