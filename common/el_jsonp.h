/*
 * el_jsonp - a small bounded JSON reader (RFC 8259) into a flat token array.
 *
 * el_json writes JSON; this module reads it, for the frontend's JSON API and
 * elsectl (through el_pbjson).  The parse is one pass over the input into
 * tokens in document order, like jsmn: an object is followed by its keys and
 * values, an array by its elements, and every token knows where its subtree
 * ends (next), so a reader skips a value in O(1).  Strings and numbers are
 * validated during the parse; their bytes stay in the input until the caller
 * asks for a decoded copy (el_jsonp_str) or a number.
 *
 * OWNERSHIP: the document borrows the input (it must outlive the document)
 * and owns the token array; el_jsonp_fini() frees it.
 * ERRORS: el_jsonp_parse() returns 0, -EINVAL (malformed: err says where),
 * -E2BIG (over a limit: depth, token count, input size, string length).
 * Accessors return -EINVAL for a token of the wrong type and -ERANGE for a
 * number that does not fit.
 * THREADS: reentrant; a document is used by one thread at a time.
 * SECURITY: input is untrusted: every byte is checked against the grammar;
 * strings must be valid UTF-8 with valid escapes (surrogates paired); depth,
 * tokens, string length and input length are bounded by the caller's limits,
 * and the recursion depth by max_depth.  Duplicate keys are the caller's
 * business (el_pbjson refuses them).
 */
#ifndef EL_JSONP_H
#define EL_JSONP_H

#include <stddef.h>
#include <stdint.h>

#include "el_buf.h"
#include "el_span.h"

typedef enum el_jtype {
	EL_JT_OBJ = 1,
	EL_JT_ARR,
	EL_JT_STR,
	EL_JT_NUM,
	EL_JT_TRUE,
	EL_JT_FALSE,
	EL_JT_NULL,
} el_jtype;

typedef struct el_jtok {
	uint8_t type;   /* el_jtype */
	uint8_t esc;    /* STR: contains a backslash escape */
	uint32_t start; /* STR: after the opening quote; others: first byte */
	uint32_t len;   /* STR: raw bytes between the quotes; NUM: the literal */
	uint32_t size;  /* OBJ: members; ARR: elements */
	uint32_t next;  /* index of the token after this one's subtree */
} el_jtok;

typedef struct el_jsonp_limits {
	size_t max_len;     /* input bytes; 0 = 1 MiB */
	size_t max_tokens;  /* 0 = 65536 */
	unsigned max_depth; /* nesting of objects and arrays; 0 = 32 (at most 256) */
	size_t max_str;     /* raw bytes of one string; 0 = 65536 */
} el_jsonp_limits;

typedef struct el_jdoc {
	const char *src;
	size_t srclen;
	el_jtok *t;
	size_t n, cap;
} el_jdoc;

/*
 * el_jsonp_parse - parse exactly one JSON value (whitespace around it) from
 * p[0..len).  lim may be NULL (defaults).  On error err (errcap bytes, may be
 * 0) holds a message with the byte offset; the document is then empty but
 * still needs el_jsonp_fini.
 */
int el_jsonp_parse(el_jdoc *d, const char *p, size_t len, const el_jsonp_limits *lim, char *err,
		   size_t errcap);

/* el_jsonp_fini - free the tokens; safe on a zeroed or failed document */
void el_jsonp_fini(el_jdoc *d);

/* el_jsonp_raw - the raw bytes of token i (a string without its quotes) */
el_span el_jsonp_raw(const el_jdoc *d, size_t i);

/* el_jsonp_str - append the decoded UTF-8 of string token i to out */
int el_jsonp_str(const el_jdoc *d, size_t i, el_buf *out);

/* el_jsonp_key_eq - is string token i (undecoded) equal to the bytes k[0..klen) */
int el_jsonp_key_eq(const el_jdoc *d, size_t i, const char *k, size_t klen);

/* el_jsonp_i64 - number token i as an integer (no fraction or exponent) */
int el_jsonp_i64(const el_jdoc *d, size_t i, int64_t *out);

/* el_jsonp_u64 - number token i as a non-negative integer */
int el_jsonp_u64(const el_jdoc *d, size_t i, uint64_t *out);

/* el_jsonp_double - number token i as a double (finite) */
int el_jsonp_double(const el_jdoc *d, size_t i, double *out);

#endif
