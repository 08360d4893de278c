/*
 * el_parse_int - internals shared by the parser modules (el_parse.c framing,
 * el_pf.c Postfix, el_amavis.c, el_msgtrk.c).  Not for other callers.
 */
#ifndef EL_PARSE_INT_H
#define EL_PARSE_INT_H

#include "el_parse.h"

/* el_rec_add - append a field; silently ignores overflow past EL_PARSE_MAXF */
static inline void el_rec_add(el_rec *r, el_field_key k, const char *p, size_t len)
{
	if (r->nf >= EL_PARSE_MAXF)
		return;
	r->f[r->nf].key = (uint16_t)k;
	r->f[r->nf].aux = 0;
	r->f[r->nf].val.p = p;
	r->f[r->nf].val.len = len;
	r->nf++;
	if (k != EL_F_COLUMN)
		r->idx[k] = r->nf;
}

static inline void el_rec_adds(el_rec *r, el_field_key k, el_span s)
{
	el_rec_add(r, k, s.p, s.len);
}

/* el_rec_drop_from - forget fields added at position n and later */
void el_rec_drop_from(el_rec *r, unsigned n);

/* Byte classes used by the scanners. */
static inline bool el_is_digit(char c)
{
	return (unsigned)((unsigned char)c - '0') < 10;
}

static inline bool el_is_alpha(char c)
{
	return (unsigned char)((c | 0x20) - 'a') < 26;
}

static inline bool el_is_alnum(char c)
{
	return el_is_digit(c) || el_is_alpha(c);
}

/* el_all_digits - s is one or more decimal digits */
static inline bool el_all_digits(el_span s)
{
	size_t i;

	if (s.len == 0)
		return false;
	for (i = 0; i < s.len; i++)
		if (!el_is_digit(s.p[i]))
			return false;
	return true;
}

/* el_days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
int64_t el_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * el_parse_iso_time - parse YYYY-MM-DD[T ]hh:mm:ss[.f][Z|+hh:mm|+hhmm] at the
 * start of s.  Sets the record's time and returns the bytes consumed, or 0.
 */
size_t el_parse_iso_time(el_rec *r, el_span s);

/*
 * el_split_host_addr - split "host[addr]" or "host[addr]:port" (postfix's
 * client and relay notation).  Returns 0 on success.
 */
int el_split_host_addr(el_span s, el_span *host, el_span *addr, el_span *port);

/* Sub-parsers: msg is the text after "prog[pid]: ". */
void el_pf_parse(el_parse_ctx *c, el_rec *r, el_span service, el_span msg);
void el_amavis_parse(el_rec *r, el_span msg);
bool el_msgtrk_is_header(el_span s);
void el_msgtrk_header(el_parse_ctx *c, el_rec *r, el_span s);
bool el_msgtrk_is_row(const el_parse_ctx *c, el_span s);
void el_msgtrk_row(el_parse_ctx *c, el_rec *r, el_span s);
void el_msgtrk_init(el_parse_ctx *c);

#endif
