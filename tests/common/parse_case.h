/*
 * parse_case - shared helpers for the table-driven parser tests: parse a line
 * and compare fields against "key=value" expectations.
 */
#ifndef PARSE_CASE_H
#define PARSE_CASE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "el_parse.h"

struct parse_case {
	const char *line;
	const char *event;
	/* Expectations separated by '|': "key=value" or "!key" for absent. */
	const char *expect;
};

/* pc_field - the value of a field by JSON key, or NULL */
static inline const el_span *pc_field(const el_rec *r, const char *key)
{
	for (unsigned i = 0; i < r->nf; i++)
		if (r->f[i].key != EL_F_COLUMN &&
		    strcmp(el_field_name((el_field_key)r->f[i].key), key) == 0)
			return &r->f[i].val;
	return NULL;
}

/* pc_check - parse c->line and assert event and expectations */
static inline void pc_check(el_parse_ctx *ctx, const struct parse_case *c)
{
	el_rec r;
	char buf[2048];
	const char *e;

	el_parse_line(ctx, c->line, strlen(c->line), &r);
	cr_assert_str_eq(el_event_name(r.event), c->event, "event for: %s", c->line);
	cr_assert_eq(r.raw.p, c->line, "raw must point at the line");
	for (e = c->expect; e && *e;) {
		const char *end = strchr(e, '|');
		size_t n = end ? (size_t)(end - e) : strlen(e);
		cr_assert_lt(n, sizeof(buf));
		memcpy(buf, e, n);
		buf[n] = '\0';
		e += n + (end ? 1 : 0);
		if (buf[0] == '!') {
			cr_assert_null(pc_field(&r, buf + 1), "%s present in: %s", buf + 1,
				       c->line);
			continue;
		}
		char *eq = strchr(buf, '=');
		cr_assert_not_null(eq, "bad expectation %s", buf);
		*eq = '\0';
		const el_span *v = pc_field(&r, buf);
		cr_assert_not_null(v, "missing %s in: %s", buf, c->line);
		cr_assert(v->len == strlen(eq + 1) && memcmp(v->p, eq + 1, v->len) == 0,
			  "%s: got '%.*s' want '%s' in: %s", buf, (int)v->len, v->p, eq + 1,
			  c->line);
	}
}

#endif
