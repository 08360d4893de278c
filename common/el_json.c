/*
 * el_json - JSON string escaping.
 */
#include "el_json.h"

/*
 * Class of each byte: 0 copy as is, 1 needs an escape, 2 starts a multi-byte
 * UTF-8 sequence or is invalid there.
 */
static const uint8_t el_json_class[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x7f] = 0, [0x80 ... 0xff] = 2,
};

/* el_utf8_len - see el_json.h */
size_t el_utf8_len(const unsigned char *p, size_t avail)
{
	unsigned c = p[0];
	size_t n, i;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Reject overlong forms, surrogates and values past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* el_utf8_valid - see el_json.h */
bool el_utf8_valid(const char *p, size_t len)
{
	for (size_t i = 0, n; i < len; i += n)
		if ((n = el_utf8_len((const unsigned char *)p + i, len - i)) == 0)
			return false;
	return true;
}

/* el_json_str - append s as a quoted JSON string */
void el_json_str(el_buf *b, el_span s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s.p;
	size_t i = 0, run;

	/* Worst case 6 output bytes per input byte, plus quotes. */
	el_buf_reserve(b, s.len * 6 + 2);
	b->p[b->len++] = '"';
	while (i < s.len) {
		run = i;
		while (run < s.len && el_json_class[p[run]] == 0)
			run++;
		if (run > i) {
			memcpy(b->p + b->len, p + i, run - i);
			b->len += run - i;
			i = run;
			if (i == s.len)
				break;
		}
		unsigned char c = p[i];
		if (el_json_class[c] == 2) {
			size_t n = el_utf8_len(p + i, s.len - i);
			if (n) {
				memcpy(b->p + b->len, p + i, n);
				b->len += n;
				i += n;
				continue;
			}
		}
		char *o = b->p + b->len;
		o[0] = '\\';
		switch (c) {
		case '"':
			o[1] = '"';
			b->len += 2;
			break;
		case '\\':
			o[1] = '\\';
			b->len += 2;
			break;
		case '\n':
			o[1] = 'n';
			b->len += 2;
			break;
		case '\r':
			o[1] = 'r';
			b->len += 2;
			break;
		case '\t':
			o[1] = 't';
			b->len += 2;
			break;
		default:
			o[1] = 'u';
			o[2] = '0';
			o[3] = '0';
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			b->len += 6;
			break;
		}
		i++;
	}
	b->p[b->len++] = '"';
}
