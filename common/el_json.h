/*
 * el_json - minimal JSON output into an el_buf.
 *
 * Writing only; el_jsonp reads JSON (the frontend's API requests), and
 * el_pbjson maps protobuf messages both ways.  Strings are escaped for any
 * input bytes: control characters become \uXXXX, valid UTF-8 is copied, and
 * each byte of an invalid UTF-8 sequence becomes \u00XX (its Latin-1
 * reading), so output is always valid JSON and a legacy 8-bit line stays
 * readable.
 *
 * OWNERSHIP: appends to the caller's buffer.
 * THREADS: reentrant.
 * SECURITY: safe on arbitrary bytes, including NUL.
 */
#ifndef EL_JSON_H
#define EL_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "el_buf.h"
#include "el_span.h"

void el_json_str(el_buf *b, el_span s);

/*
 * el_utf8_len - the length of the valid UTF-8 character at p (avail >= 1
 * bytes): 1 for ASCII, 2-4, or 0 when invalid (a bad lead or continuation
 * byte, a sequence cut by avail, an overlong form, a surrogate, past
 * U+10FFFF).
 */
size_t el_utf8_len(const unsigned char *p, size_t avail);

/* el_utf8_valid - is p[0..len) valid UTF-8 (as PostgreSQL's text requires) */
bool el_utf8_valid(const char *p, size_t len);

/*
 * el_utf8_cut - the length of the longest prefix of p[0..len), at most max
 * bytes, that does not end inside a UTF-8 sequence: text that was valid
 * UTF-8 (el_json_str's output, say) stays valid when cut there, as
 * PostgreSQL's text columns require.
 */
static inline size_t el_utf8_cut(const char *p, size_t len, size_t max)
{
	size_t n = len <= max ? len : max;

	if (n == len)
		return n;
	/* p[n] starts the part cut off: back up while it continues a sequence. */
	while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
		n--;
	return n;
}

/* el_json_key - append "key": (key is trusted ASCII) */
static inline void el_json_key(el_buf *b, const char *key, size_t klen)
{
	el_buf_reserve(b, klen + 3);
	b->p[b->len++] = '"';
	memcpy(b->p + b->len, key, klen);
	b->len += klen;
	b->p[b->len++] = '"';
	b->p[b->len++] = ':';
}

#endif
