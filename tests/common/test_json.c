/*
 * test_json - JSON string escaping is valid for any bytes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "el_json.h"

/* js - escape s (n bytes) and return a static NUL-terminated copy */
static const char *js(const char *s, size_t n)
{
	static char out[1024];
	el_buf b;

	el_buf_init(&b);
	el_json_str(&b, el_span_make(s, n));
	cr_assert_lt(b.len, sizeof(out));
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	el_buf_fini(&b);
	return out;
}

Test(json, plain_ascii_is_copied)
{
	cr_assert_str_eq(js("hello world", 11), "\"hello world\"");
	cr_assert_str_eq(js("", 0), "\"\"");
}

Test(json, escapes_quotes_backslash_controls)
{
	cr_assert_str_eq(js("a\"b\\c", 5), "\"a\\\"b\\\\c\"");
	cr_assert_str_eq(js("\n\r\t", 3), "\"\\n\\r\\t\"");
	cr_assert_str_eq(js("\x01\x1f", 2), "\"\\u0001\\u001f\"");
}

Test(json, nul_byte_is_escaped)
{
	cr_assert_str_eq(js("a\0b", 3), "\"a\\u0000b\"");
}

Test(json, valid_utf8_is_kept)
{
	cr_assert_str_eq(js("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7", 14),
			 "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"");
}

Test(json, invalid_utf8_becomes_latin1_escapes)
{
	/* Latin-1 e-acute, a truncated sequence, an overlong NUL, a surrogate. */
	cr_assert_str_eq(js("caf\xe9", 4), "\"caf\\u00e9\"");
	cr_assert_str_eq(js("\xe2\x82", 2), "\"\\u00e2\\u0082\"");
	cr_assert_str_eq(js("\xc0\x80", 2), "\"\\u00c0\\u0080\"");
	cr_assert_str_eq(js("\xed\xa0\x80", 3), "\"\\u00ed\\u00a0\\u0080\"");
	cr_assert_str_eq(js("\xf4\x90\x80\x80", 4), "\"\\u00f4\\u0090\\u0080\\u0080\"");
}

Test(json, del_is_plain)
{
	cr_assert_str_eq(js("\x7f", 1), "\"\x7f\"");
}
