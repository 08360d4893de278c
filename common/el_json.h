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

#include <stdint.h>

#include "el_buf.h"
#include "el_span.h"

void el_json_str(el_buf *b, el_span s);

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
