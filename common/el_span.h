/*
 * el_span - length-carrying views of bytes.
 *
 * A span never owns its bytes and is never NUL-terminated: every consumer
 * uses the length.  Parsers hand out spans that point into the caller's line.
 *
 * OWNERSHIP: none; a span is valid as long as the bytes it points into.
 * THREADS: plain values, no shared state.
 * SECURITY: all helpers are bounded by len and safe on arbitrary bytes.
 */
#ifndef EL_SPAN_H
#define EL_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct el_span {
	const char *p;
	size_t len;
} el_span;

#define EL_SPAN_LIT(s) ((el_span){ (s), sizeof(s) - 1 })

/* el_span_make - a span over p[0..len) */
static inline el_span el_span_make(const char *p, size_t len)
{
	return (el_span){ p, len };
}

/* el_span_eq - byte equality */
static inline bool el_span_eq(el_span a, el_span b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* el_span_eq_lit - equality against a C string literal */
#define el_span_eq_lit(s, lit) el_span_eq((s), EL_SPAN_LIT(lit))

/* el_span_has_prefix - does s start with the bytes of pre */
static inline bool el_span_has_prefix(el_span s, const char *pre, size_t prelen)
{
	return s.len >= prelen && memcmp(s.p, pre, prelen) == 0;
}

#define EL_HAS_PREFIX(s, lit) el_span_has_prefix((s), (lit), sizeof(lit) - 1)

/* el_span_skip - drop the first n bytes (n is clamped to len) */
static inline el_span el_span_skip(el_span s, size_t n)
{
	if (n > s.len)
		n = s.len;
	return (el_span){ s.p + n, s.len - n };
}

/* el_span_find - offset of the first byte c, or -1 */
static inline ptrdiff_t el_span_find(el_span s, char c)
{
	const char *q = s.len ? memchr(s.p, c, s.len) : NULL;
	return q ? q - s.p : -1;
}

/* el_span_find_str - offset of the first occurrence of needle, or -1 */
static inline ptrdiff_t el_span_find_str(el_span s, const char *needle, size_t nlen)
{
	const char *q;

	if (nlen == 0)
		return 0;
	if (s.len < nlen)
		return -1;
	q = memmem(s.p, s.len, needle, nlen);
	return q ? q - s.p : -1;
}

#define EL_FIND_LIT(s, lit) el_span_find_str((s), (lit), sizeof(lit) - 1)

/* el_span_parse_u64 - parse all of s as a decimal number, with overflow check */
static inline int el_span_parse_u64(el_span s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0 || s.len > 20)
		return -1;
	for (i = 0; i < s.len; i++) {
		unsigned d = (unsigned char)s.p[i] - '0';
		if (d > 9)
			return -1;
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

#endif
