/*
 * el_buf - a growable byte buffer for owned output (JSON, frames).
 *
 * OWNERSHIP: the buffer owns p; el_buf_fini() frees it.  Pointers into p are
 * invalidated by any append.
 * ERRORS: appends never fail: allocation failure is fatal (el_panic), because
 * every caller would have to drop data otherwise.  The buffer refuses to grow
 * past EL_BUF_MAX and panics: callers bound their input long before that.
 * THREADS: one buffer per thread.
 */
#ifndef EL_BUF_H
#define EL_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "el_span.h"

#define EL_BUF_MAX ((size_t)1 << 31)

typedef struct el_buf {
	char *p;
	size_t len;
	size_t cap;
} el_buf;

void el_buf_init(el_buf *b);
void el_buf_fini(el_buf *b);
void el_buf_grow(el_buf *b, size_t need);

/* el_buf_reserve - make room for n more bytes */
static inline void el_buf_reserve(el_buf *b, size_t n)
{
	if (b->cap - b->len < n)
		el_buf_grow(b, n);
}

/* el_buf_add - append n bytes */
static inline void el_buf_add(el_buf *b, const void *p, size_t n)
{
	el_buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* el_buf_addc - append one byte */
static inline void el_buf_addc(el_buf *b, char c)
{
	el_buf_reserve(b, 1);
	b->p[b->len++] = c;
}

/*
 * el_buf_addlit - append a string literal.  Anything else fails to compile
 * (the ""): of a pointer, sizeof would give the pointer's size.
 */
#define el_buf_addlit(b, lit) el_buf_add((b), "" lit, sizeof(lit) - 1)

/* el_buf_adds - append a span */
static inline void el_buf_adds(el_buf *b, el_span s)
{
	el_buf_add(b, s.p, s.len);
}

void el_buf_add_u64(el_buf *b, uint64_t v);
void el_buf_add_i64(el_buf *b, int64_t v);

#endif
