/*
 * el_jsonp - bounded JSON reader.  See el_jsonp.h.
 *
 * A recursive-descent parser whose recursion is bounded by max_depth
 * (<= 256 frames of a few dozen bytes).  Tokens grow by doubling up to
 * max_tokens; the input size is checked first, so no count the input
 * declares ever sizes an allocation.
 */
#include "el_jsonp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "el_json.h"

#define EL_JSONP_DEPTH_CAP 256

typedef struct el_jsonp_st {
	el_jdoc *d;
	const unsigned char *p;
	size_t len, pos;
	size_t max_tokens, max_str;
	unsigned max_depth;
	char *err;
	size_t errcap;
	int rv;
} el_jsonp_st;

/* el_jsonp_fail - record the first error with its offset */
static int el_jsonp_fail(el_jsonp_st *s, int rv, const char *what)
{
	if (s->rv == 0) {
		s->rv = rv;
		if (s->errcap)
			snprintf(s->err, s->errcap, "JSON: %s at byte %zu", what, s->pos);
	}
	return rv;
}

/* el_jsonp_ws - skip whitespace */
static void el_jsonp_ws(el_jsonp_st *s)
{
	while (s->pos < s->len) {
		unsigned char c = s->p[s->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		s->pos++;
	}
}

/* el_jsonp_tok - a new token at the end of the array, or -1 */
static ssize_t el_jsonp_tok(el_jsonp_st *s, el_jtype type, size_t start)
{
	el_jdoc *d = s->d;
	el_jtok *t;

	if (d->n >= s->max_tokens)
		return el_jsonp_fail(s, -E2BIG, "too many values"), -1;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		if (cap > s->max_tokens)
			cap = s->max_tokens;
		t = realloc(d->t, cap * sizeof(*t));
		if (t == NULL)
			return el_jsonp_fail(s, -ENOMEM, "out of memory"), -1;
		d->t = t;
		d->cap = cap;
	}
	t = &d->t[d->n];
	memset(t, 0, sizeof(*t));
	t->type = (uint8_t)type;
	t->start = (uint32_t)start;
	return (ssize_t)d->n++;
}

/* el_jsonp_hex4 - four hex digits at p, or -1 */
static int32_t el_jsonp_hex4(const unsigned char *p)
{
	int32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		unsigned c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (int32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (int32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (int32_t)(c - 'A' + 10);
		else
			return -1;
	}
	return v;
}

/* el_jsonp_string - a string at s->pos (on the quote) */
static int el_jsonp_string(el_jsonp_st *s)
{
	size_t start = ++s->pos;
	ssize_t ti;
	int esc = 0;

	for (;;) {
		if (s->pos >= s->len)
			return el_jsonp_fail(s, -EINVAL, "unterminated string");
		unsigned char c = s->p[s->pos];
		if (c == '"')
			break;
		if (c < 0x20)
			return el_jsonp_fail(s, -EINVAL, "control character in string");
		if (c == '\\') {
			esc = 1;
			if (s->pos + 1 >= s->len)
				return el_jsonp_fail(s, -EINVAL, "unterminated string");
			c = s->p[s->pos + 1];
			if (c == 'u') {
				int32_t u, lo;
				if (s->len - s->pos < 6 ||
				    (u = el_jsonp_hex4(s->p + s->pos + 2)) < 0)
					return el_jsonp_fail(s, -EINVAL, "bad \\u escape");
				s->pos += 6;
				if (u >= 0xdc00 && u <= 0xdfff)
					return el_jsonp_fail(s, -EINVAL, "lone low surrogate");
				if (u >= 0xd800 && u <= 0xdbff) {
					if (s->len - s->pos < 6 || s->p[s->pos] != '\\' ||
					    s->p[s->pos + 1] != 'u' ||
					    (lo = el_jsonp_hex4(s->p + s->pos + 2)) < 0xdc00 ||
					    lo > 0xdfff)
						return el_jsonp_fail(s, -EINVAL,
								     "unpaired surrogate");
					s->pos += 6;
				}
				continue;
			}
			if (!memchr("\"\\/bfnrt", c, 8))
				return el_jsonp_fail(s, -EINVAL, "bad escape");
			s->pos += 2;
			continue;
		}
		size_t n = el_utf8_len(s->p + s->pos, s->len - s->pos);
		if (n == 0)
			return el_jsonp_fail(s, -EINVAL, "invalid UTF-8 in string");
		s->pos += n;
	}
	if (s->pos - start > s->max_str)
		return el_jsonp_fail(s, -E2BIG, "string too long");
	if ((ti = el_jsonp_tok(s, EL_JT_STR, start)) < 0)
		return s->rv;
	s->d->t[ti].len = (uint32_t)(s->pos - start);
	s->d->t[ti].esc = (uint8_t)esc;
	s->d->t[ti].next = (uint32_t)s->d->n;
	s->pos++; /* closing quote */
	return 0;
}

/* el_jsonp_digits - one or more digits; count */
static size_t el_jsonp_digits(el_jsonp_st *s)
{
	size_t n = 0;

	while (s->pos < s->len && s->p[s->pos] >= '0' && s->p[s->pos] <= '9') {
		s->pos++;
		n++;
	}
	return n;
}

/* el_jsonp_number - -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)? */
static int el_jsonp_number(el_jsonp_st *s)
{
	size_t start = s->pos;
	ssize_t ti;

	if (s->p[s->pos] == '-')
		s->pos++;
	if (s->pos < s->len && s->p[s->pos] == '0') {
		s->pos++;
	} else if (el_jsonp_digits(s) == 0) {
		return el_jsonp_fail(s, -EINVAL, "bad number");
	}
	if (s->pos < s->len && s->p[s->pos] == '.') {
		s->pos++;
		if (el_jsonp_digits(s) == 0)
			return el_jsonp_fail(s, -EINVAL, "bad number");
	}
	if (s->pos < s->len && (s->p[s->pos] == 'e' || s->p[s->pos] == 'E')) {
		s->pos++;
		if (s->pos < s->len && (s->p[s->pos] == '+' || s->p[s->pos] == '-'))
			s->pos++;
		if (el_jsonp_digits(s) == 0)
			return el_jsonp_fail(s, -EINVAL, "bad number");
	}
	if (s->pos - start > 64)
		return el_jsonp_fail(s, -E2BIG, "number too long");
	if ((ti = el_jsonp_tok(s, EL_JT_NUM, start)) < 0)
		return s->rv;
	s->d->t[ti].len = (uint32_t)(s->pos - start);
	s->d->t[ti].next = (uint32_t)s->d->n;
	return 0;
}

/* el_jsonp_lit - true, false or null */
static int el_jsonp_lit(el_jsonp_st *s, const char *lit, size_t n, el_jtype type)
{
	ssize_t ti;

	if (s->len - s->pos < n || memcmp(s->p + s->pos, lit, n) != 0)
		return el_jsonp_fail(s, -EINVAL, "unexpected character");
	if ((ti = el_jsonp_tok(s, type, s->pos)) < 0)
		return s->rv;
	s->d->t[ti].len = (uint32_t)n;
	s->d->t[ti].next = (uint32_t)s->d->n;
	s->pos += n;
	return 0;
}

static int el_jsonp_value(el_jsonp_st *s, unsigned depth);

/* el_jsonp_container - an object or array at s->pos */
static int el_jsonp_container(el_jsonp_st *s, unsigned depth, int obj)
{
	char close = obj ? '}' : ']';
	ssize_t ti;
	uint32_t count = 0;

	if (depth >= s->max_depth)
		return el_jsonp_fail(s, -E2BIG, "nested too deep");
	if ((ti = el_jsonp_tok(s, obj ? EL_JT_OBJ : EL_JT_ARR, s->pos)) < 0)
		return s->rv;
	s->pos++;
	el_jsonp_ws(s);
	if (s->pos < s->len && s->p[s->pos] == close) {
		s->pos++;
		goto done;
	}
	for (;;) {
		el_jsonp_ws(s);
		if (obj) {
			if (s->pos >= s->len || s->p[s->pos] != '"')
				return el_jsonp_fail(s, -EINVAL, "expected a key");
			if (el_jsonp_string(s) != 0)
				return s->rv;
			el_jsonp_ws(s);
			if (s->pos >= s->len || s->p[s->pos] != ':')
				return el_jsonp_fail(s, -EINVAL, "expected ':'");
			s->pos++;
		}
		if (el_jsonp_value(s, depth + 1) != 0)
			return s->rv;
		count++;
		el_jsonp_ws(s);
		if (s->pos >= s->len)
			return el_jsonp_fail(s, -EINVAL, "unterminated object or array");
		if (s->p[s->pos] == ',') {
			s->pos++;
			continue;
		}
		if (s->p[s->pos] == close) {
			s->pos++;
			break;
		}
		return el_jsonp_fail(s, -EINVAL,
				     obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
done:
	s->d->t[ti].size = count;
	s->d->t[ti].len = (uint32_t)(s->pos - s->d->t[ti].start);
	s->d->t[ti].next = (uint32_t)s->d->n;
	return 0;
}

/* el_jsonp_value - any value at s->pos (after whitespace) */
static int el_jsonp_value(el_jsonp_st *s, unsigned depth)
{
	el_jsonp_ws(s);
	if (s->pos >= s->len)
		return el_jsonp_fail(s, -EINVAL, "expected a value");
	switch (s->p[s->pos]) {
	case '{':
		return el_jsonp_container(s, depth, 1);
	case '[':
		return el_jsonp_container(s, depth, 0);
	case '"':
		return el_jsonp_string(s);
	case 't':
		return el_jsonp_lit(s, "true", 4, EL_JT_TRUE);
	case 'f':
		return el_jsonp_lit(s, "false", 5, EL_JT_FALSE);
	case 'n':
		return el_jsonp_lit(s, "null", 4, EL_JT_NULL);
	default:
		if (s->p[s->pos] == '-' || (s->p[s->pos] >= '0' && s->p[s->pos] <= '9'))
			return el_jsonp_number(s);
		return el_jsonp_fail(s, -EINVAL, "unexpected character");
	}
}

/* el_jsonp_parse - see el_jsonp.h */
int el_jsonp_parse(el_jdoc *d, const char *p, size_t len, const el_jsonp_limits *lim, char *err,
		   size_t errcap)
{
	el_jsonp_st s = { 0 };
	size_t max_len = lim && lim->max_len ? lim->max_len : (1u << 20);

	memset(d, 0, sizeof(*d));
	s.d = d;
	s.p = (const unsigned char *)p;
	s.len = len;
	s.max_tokens = lim && lim->max_tokens ? lim->max_tokens : 65536;
	s.max_depth = lim && lim->max_depth ? lim->max_depth : 32;
	if (s.max_depth > EL_JSONP_DEPTH_CAP)
		s.max_depth = EL_JSONP_DEPTH_CAP;
	s.max_str = lim && lim->max_str ? lim->max_str : 65536;
	s.err = err;
	s.errcap = errcap;
	if (errcap)
		err[0] = '\0';
	if (len > max_len || len > UINT32_MAX - 1) {
		el_jsonp_fail(&s, -E2BIG, "input too long");
		goto out;
	}
	if (el_jsonp_value(&s, 0) != 0)
		goto out;
	el_jsonp_ws(&s);
	if (s.pos != s.len)
		el_jsonp_fail(&s, -EINVAL, "trailing bytes after the value");
out:
	d->src = p;
	d->srclen = len;
	if (s.rv != 0) {
		free(d->t);
		d->t = NULL;
		d->n = d->cap = 0;
	}
	return s.rv;
}

/* el_jsonp_fini - see el_jsonp.h */
void el_jsonp_fini(el_jdoc *d)
{
	free(d->t);
	memset(d, 0, sizeof(*d));
}

/* el_jsonp_raw - see el_jsonp.h */
el_span el_jsonp_raw(const el_jdoc *d, size_t i)
{
	return el_span_make(d->src + d->t[i].start, d->t[i].len);
}

/* el_jsonp_put_utf8 - append code point cp as UTF-8 */
static void el_jsonp_put_utf8(el_buf *out, uint32_t cp)
{
	char u[4];

	if (cp < 0x80) {
		el_buf_addc(out, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		el_buf_add(out, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		el_buf_add(out, u, 3);
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		el_buf_add(out, u, 4);
	}
}

/* el_jsonp_str - see el_jsonp.h; the escapes were validated by the parse */
int el_jsonp_str(const el_jdoc *d, size_t i, el_buf *out)
{
	const unsigned char *p;
	size_t n, k = 0;

	if (i >= d->n || d->t[i].type != EL_JT_STR)
		return -EINVAL;
	p = (const unsigned char *)d->src + d->t[i].start;
	n = d->t[i].len;
	if (!d->t[i].esc) {
		el_buf_add(out, p, n);
		return 0;
	}
	while (k < n) {
		const unsigned char *bs = memchr(p + k, '\\', n - k);
		size_t run = bs ? (size_t)(bs - (p + k)) : n - k;
		el_buf_add(out, p + k, run);
		k += run;
		if (k >= n)
			break;
		switch (p[k + 1]) {
		case 'b':
			el_buf_addc(out, '\b');
			break;
		case 'f':
			el_buf_addc(out, '\f');
			break;
		case 'n':
			el_buf_addc(out, '\n');
			break;
		case 'r':
			el_buf_addc(out, '\r');
			break;
		case 't':
			el_buf_addc(out, '\t');
			break;
		case 'u': {
			uint32_t cp = (uint32_t)el_jsonp_hex4(p + k + 2);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo = (uint32_t)el_jsonp_hex4(p + k + 8);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				k += 6;
			}
			el_jsonp_put_utf8(out, cp);
			k += 6;
			continue;
		}
		default: /* " \ / */
			el_buf_addc(out, (char)p[k + 1]);
			break;
		}
		k += 2;
	}
	return 0;
}

/* el_jsonp_key_eq - see el_jsonp.h (keys with escapes never match) */
int el_jsonp_key_eq(const el_jdoc *d, size_t i, const char *k, size_t klen)
{
	return i < d->n && d->t[i].type == EL_JT_STR && !d->t[i].esc && d->t[i].len == klen &&
	       memcmp(d->src + d->t[i].start, k, klen) == 0;
}

/* el_jsonp_u64 - see el_jsonp.h */
int el_jsonp_u64(const el_jdoc *d, size_t i, uint64_t *out)
{
	uint64_t v;

	if (i >= d->n || d->t[i].type != EL_JT_NUM)
		return -EINVAL;
	el_span s = el_jsonp_raw(d, i);
	if (s.len && s.p[0] == '-')
		return s.len == 2 && s.p[1] == '0' ? (*out = 0, 0) : -ERANGE;
	if (memchr(s.p, '.', s.len) || memchr(s.p, 'e', s.len) || memchr(s.p, 'E', s.len))
		return -EINVAL;
	if (el_span_parse_u64(s, &v) != 0)
		return -ERANGE;
	*out = v;
	return 0;
}

/* el_jsonp_i64 - see el_jsonp.h */
int el_jsonp_i64(const el_jdoc *d, size_t i, int64_t *out)
{
	uint64_t v;
	int neg, rv;

	if (i >= d->n || d->t[i].type != EL_JT_NUM)
		return -EINVAL;
	el_span s = el_jsonp_raw(d, i);
	neg = s.len && s.p[0] == '-';
	s = el_span_skip(s, (size_t)neg);
	if (memchr(s.p, '.', s.len) || memchr(s.p, 'e', s.len) || memchr(s.p, 'E', s.len))
		return -EINVAL;
	if ((rv = el_span_parse_u64(s, &v)) != 0)
		return -ERANGE;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -ERANGE;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return -ERANGE;
		*out = (int64_t)v;
	}
	return 0;
}

/* el_jsonp_double - see el_jsonp.h */
int el_jsonp_double(const el_jdoc *d, size_t i, double *out)
{
	char tmp[72];
	double v;

	if (i >= d->n || d->t[i].type != EL_JT_NUM)
		return -EINVAL;
	el_span s = el_jsonp_raw(d, i);
	if (s.len >= sizeof(tmp))
		return -ERANGE;
	memcpy(tmp, s.p, s.len);
	tmp[s.len] = '\0';
	v = strtod(tmp, NULL);
	if (!isfinite(v))
		return -ERANGE;
	*out = v;
	return 0;
}
