/*
 * el_parse_json - a parsed record as JSON (else-parse's output format,
 * documented in docs/parse.md).
 */
#include "el_json.h"
#include "el_parse_int.h"

/* el_json_number_ok - s is a JSON-safe integer: digits, no leading zero, <= 15 long */
static bool el_json_int_ok(el_span s)
{
	return el_all_digits(s) && s.len <= 15 && (s.len == 1 || s.p[0] != '0');
}

/* el_json_decimal_ok - digits, optional fraction, as Postfix writes delays */
static bool el_json_decimal_ok(el_span s)
{
	size_t i = 0, d0;

	while (i < s.len && el_is_digit(s.p[i]))
		i++;
	if (i == 0 || i > 12 || (i > 1 && s.p[0] == '0'))
		return false;
	if (i == s.len)
		return true;
	if (s.p[i] != '.')
		return false;
	d0 = ++i;
	while (i < s.len && el_is_digit(s.p[i]))
		i++;
	return i == s.len && i > d0 && i - d0 <= 9;
}

/* el_json_list - "<a>,<b>" or "a;b" as ["a","b"] */
static void el_json_list(el_buf *b, el_span s)
{
	size_t i = 0;
	bool first = true;

	el_buf_addc(b, '[');
	while (i < s.len) {
		size_t j = i;
		while (j < s.len && s.p[j] != ',' && s.p[j] != ';')
			j++;
		el_span item = el_span_make(s.p + i, j - i);
		while (item.len && item.p[0] == ' ')
			item = el_span_skip(item, 1);
		while (item.len && item.p[item.len - 1] == ' ')
			item.len--;
		if (item.len >= 2 && item.p[0] == '<' && item.p[item.len - 1] == '>')
			item = el_span_make(item.p + 1, item.len - 2);
		if (item.len) {
			if (!first)
				el_buf_addc(b, ',');
			el_json_str(b, item);
			first = false;
		}
		i = j + 1;
	}
	el_buf_addc(b, ']');
}

/* el_rec_json - see el_parse.h */
void el_rec_json(const el_parse_ctx *c, const el_rec *r, el_buf *b)
{
	const char *ev = el_event_name(r->event);
	unsigned i;

	el_buf_addlit(b, "{\"event\":\"");
	el_buf_add(b, ev, strlen(ev));
	el_buf_addc(b, '"');
	if (r->flags & EL_REC_HAS_TIME) {
		el_buf_addlit(b, ",\"time\":\"");
		el_rec_time_iso(r, b);
		el_buf_addc(b, '"');
	}
	for (i = 0; i < r->nf; i++) {
		const el_field *f = &r->f[i];
		/* A key seen twice in one line: the last one wins, as in a map. */
		if (f->key != EL_F_COLUMN && r->idx[f->key] != i + 1)
			continue;
		el_buf_addc(b, ',');
		if (f->key == EL_F_COLUMN) {
			el_span name = el_msgtrk_column_name(c, f->aux);
			el_json_str(b, name);
			el_buf_addc(b, ':');
			el_json_str(b, f->val);
			continue;
		}
		const char *k = el_field_name((el_field_key)f->key);
		el_json_key(b, k, strlen(k));
		switch (el_field_kind((el_field_key)f->key)) {
		case 'N':
			if (el_json_int_ok(f->val)) {
				el_buf_adds(b, f->val);
				continue;
			}
			break;
		case 'D':
			if (el_json_decimal_ok(f->val)) {
				el_buf_adds(b, f->val);
				continue;
			}
			break;
		case 'L':
			el_json_list(b, f->val);
			continue;
		}
		el_json_str(b, f->val);
	}
	if (r->flags & EL_REC_TRUNCATED)
		el_buf_addlit(b, ",\"truncated\":true");
	if (r->flags & EL_REC_TOO_LONG)
		el_buf_addlit(b, ",\"too_long\":true");
	el_buf_addlit(b, ",\"raw\":");
	el_json_str(b, r->raw);
	el_buf_addc(b, '}');
}
