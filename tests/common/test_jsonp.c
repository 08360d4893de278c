/*
 * test_jsonp - the bounded JSON reader: grammar, strings, numbers, limits.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "el_jsonp.h"

/* parse - parse a C string with default limits; the rv */
static int parse(el_jdoc *d, const char *s)
{
	char err[128];
	return el_jsonp_parse(d, s, strlen(s), NULL, err, sizeof(err));
}

/* bad - s must fail with rv */
static void bad(const char *s, int rv)
{
	el_jdoc d;
	cr_expect_eq(parse(&d, s), rv, "%s", s);
	el_jsonp_fini(&d);
}

Test(jsonp, tokens_in_document_order_with_subtree_ends)
{
	el_jdoc d;

	cr_assert_eq(parse(&d, " {\"a\": [1, true, null], \"b\": {\"c\": \"x\"}, \"d\": -2.5e3 } "),
		     0);
	cr_assert_eq(d.n, 12);
	cr_assert_eq(d.t[0].type, EL_JT_OBJ);
	cr_assert_eq(d.t[0].size, 3);
	cr_assert_eq(d.t[0].next, 12);
	cr_assert(el_jsonp_key_eq(&d, 1, "a", 1));
	cr_assert_eq(d.t[2].type, EL_JT_ARR);
	cr_assert_eq(d.t[2].size, 3);
	cr_assert_eq(d.t[2].next, 6);
	cr_assert_eq(d.t[4].type, EL_JT_TRUE);
	cr_assert_eq(d.t[5].type, EL_JT_NULL);
	cr_assert(el_jsonp_key_eq(&d, 6, "b", 1));
	cr_assert_eq(d.t[7].next, 10);
	double v;
	cr_assert_eq(el_jsonp_double(&d, 11, &v), 0);
	cr_assert_float_eq(v, -2500.0, 1e-9);
	el_jsonp_fini(&d);
}

Test(jsonp, string_escapes_decode_to_utf8)
{
	el_jdoc d;
	el_buf b;

	el_buf_init(&b);
	cr_assert_eq(parse(&d, "\"a\\\"b\\\\c\\/\\n\\t\\u00e9\\u20ac\\ud83d\\udce7\""), 0);
	cr_assert_eq(el_jsonp_str(&d, 0, &b), 0);
	cr_assert_eq(b.len, strlen("a\"b\\c/\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7"));
	cr_assert_eq(memcmp(b.p, "a\"b\\c/\n\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\xa7", b.len), 0);
	el_buf_fini(&b);
	el_jsonp_fini(&d);
}

Test(jsonp, rejects_bad_strings)
{
	bad("\"abc", -EINVAL);
	bad("\"a\x01\"", -EINVAL);
	bad("\"\\x\"", -EINVAL);
	bad("\"\\u12\"", -EINVAL);
	bad("\"\\ud800\"", -EINVAL);
	bad("\"\\udc00\"", -EINVAL);
	bad("\"\\ud800\\u0041\"", -EINVAL);
	bad("\"caf\xe9\"", -EINVAL);
	bad("\"\xc0\x80\"", -EINVAL);
	bad("\"\xed\xa0\x80\"", -EINVAL);
}

Test(jsonp, rejects_bad_grammar)
{
	bad("", -EINVAL);
	bad("   ", -EINVAL);
	bad("{", -EINVAL);
	bad("{\"a\"}", -EINVAL);
	bad("{\"a\":1,}", -EINVAL);
	bad("[1,]", -EINVAL);
	bad("[1 2]", -EINVAL);
	bad("{a:1}", -EINVAL);
	bad("tru", -EINVAL);
	bad("nul", -EINVAL);
	bad("01", -EINVAL);
	bad("-", -EINVAL);
	bad("1.", -EINVAL);
	bad("1e", -EINVAL);
	bad("+1", -EINVAL);
	bad("1 2", -EINVAL);
	bad("{} x", -EINVAL);
	bad("'a'", -EINVAL);
	bad("NaN", -EINVAL);
}

Test(jsonp, integers_checked_for_range_and_form)
{
	el_jdoc d;
	int64_t i;
	uint64_t u;

	cr_assert_eq(parse(&d, "[9223372036854775807, -9223372036854775808, 9223372036854775808, "
			       "18446744073709551615, 18446744073709551616, 1.5, 1e3, -1, -0]"),
		     0);
	cr_assert_eq(el_jsonp_i64(&d, 1, &i), 0);
	cr_assert_eq(i, INT64_MAX);
	cr_assert_eq(el_jsonp_i64(&d, 2, &i), 0);
	cr_assert_eq(i, INT64_MIN);
	cr_assert_eq(el_jsonp_i64(&d, 3, &i), -ERANGE);
	cr_assert_eq(el_jsonp_u64(&d, 4, &u), 0);
	cr_assert_eq(u, UINT64_MAX);
	cr_assert_eq(el_jsonp_u64(&d, 5, &u), -ERANGE);
	cr_assert_eq(el_jsonp_i64(&d, 6, &i), -EINVAL);
	cr_assert_eq(el_jsonp_i64(&d, 7, &i), -EINVAL);
	cr_assert_eq(el_jsonp_u64(&d, 8, &u), -ERANGE);
	cr_assert_eq(el_jsonp_u64(&d, 9, &u), 0);
	cr_assert_eq(u, 0);
	cr_assert_eq(el_jsonp_i64(&d, 0, &i), -EINVAL); /* the array itself */
	el_jsonp_fini(&d);
}

Test(jsonp, limits_depth_tokens_length_string)
{
	el_jsonp_limits lim = { .max_depth = 3 };
	char err[128];
	el_jdoc d;

	cr_assert_eq(el_jsonp_parse(&d, "[[[1]]]", 7, &lim, err, sizeof(err)), 0);
	el_jsonp_fini(&d);
	cr_assert_eq(el_jsonp_parse(&d, "[[[[1]]]]", 9, &lim, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "deep") != NULL, "%s", err);
	el_jsonp_fini(&d);

	lim = (el_jsonp_limits){ .max_tokens = 3 };
	cr_assert_eq(el_jsonp_parse(&d, "[1,2]", 5, &lim, err, sizeof(err)), 0);
	el_jsonp_fini(&d);
	cr_assert_eq(el_jsonp_parse(&d, "[1,2,3]", 7, &lim, err, sizeof(err)), -E2BIG);
	el_jsonp_fini(&d);

	lim = (el_jsonp_limits){ .max_len = 4 };
	cr_assert_eq(el_jsonp_parse(&d, "[1,2]", 5, &lim, err, sizeof(err)), -E2BIG);
	el_jsonp_fini(&d);

	lim = (el_jsonp_limits){ .max_str = 3 };
	cr_assert_eq(el_jsonp_parse(&d, "\"abc\"", 5, &lim, err, sizeof(err)), 0);
	el_jsonp_fini(&d);
	cr_assert_eq(el_jsonp_parse(&d, "\"abcd\"", 6, &lim, err, sizeof(err)), -E2BIG);
	el_jsonp_fini(&d);
}

Test(jsonp, deep_nesting_never_recurses_past_the_cap)
{
	static char deep[100001];
	el_jsonp_limits lim = { .max_depth = 100000, .max_len = sizeof(deep) };
	char err[128];
	el_jdoc d;

	memset(deep, '[', sizeof(deep) - 1);
	cr_assert_eq(el_jsonp_parse(&d, deep, sizeof(deep) - 1, &lim, err, sizeof(err)), -E2BIG);
	el_jsonp_fini(&d);
}

Test(jsonp, error_message_has_offset)
{
	char err[128];
	el_jdoc d;

	cr_assert_eq(el_jsonp_parse(&d, "[1, x]", 6, NULL, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "JSON: unexpected character at byte 4");
	el_jsonp_fini(&d);
}
