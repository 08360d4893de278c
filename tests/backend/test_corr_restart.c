/*
 * test_corr_restart - a restart anywhere in a real log changes nothing.
 *
 * The committed real-Postfix logs (the maillog files under ELSE_TEST_DATA) are
 * merged by time and correlated once straight through; then again with the
 * engine dumped, freed and restored from the dump at many points along the
 * way.  Both runs must emit exactly the same flows.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_corr.h"
#include "be_flow_json.h"
#include "el_parse.h"

typedef struct tr_line {
	char *p;
	size_t len;
	int64_t t;
	size_t pos; /* file order, for a stable merge */
} tr_line;

static tr_line *tr_lines;
static size_t tr_n;

/* tr_cmp - by time, then by position (stable) */
static int tr_cmp(const void *a, const void *b)
{
	const tr_line *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* tr_load - read and time-sort every golden host log */
static void tr_load(void)
{
	const char *dir = getenv("ELSE_TEST_DATA");
	char pat[1024];
	glob_t g;
	el_parse_ctx ctx;
	el_rec r;
	size_t cap = 0;

	cr_assert_not_null(dir, "ELSE_TEST_DATA is not set");
	snprintf(pat, sizeof(pat), "%s/postfix/*.maillog.log", dir);
	cr_assert_eq(glob(pat, 0, NULL, &g), 0, "no logs match %s", pat);
	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *f = fopen(g.gl_pathv[i], "r");
		char *line = NULL;
		size_t lcap = 0;
		ssize_t n;
		cr_assert_not_null(f);
		while ((n = getline(&line, &lcap, f)) > 0) {
			if (tr_n == cap) {
				cap = cap ? cap * 2 : 1024;
				tr_lines = realloc(tr_lines, cap * sizeof(*tr_lines));
			}
			el_parse_line(&ctx, line, (size_t)n, &r);
			tr_lines[tr_n].p = strndup(line, (size_t)n);
			tr_lines[tr_n].len = (size_t)n;
			tr_lines[tr_n].t = r.time_s * 1000000 + r.time_us;
			tr_lines[tr_n].pos = tr_n;
			tr_n++;
		}
		free(line);
		fclose(f);
	}
	globfree(&g);
	el_parse_ctx_fini(&ctx);
	qsort(tr_lines, tr_n, sizeof(*tr_lines), tr_cmp);
	cr_assert_gt(tr_n, 300);
}

typedef struct tr_out {
	char **v;
	size_t n, cap;
} tr_out;

static void tr_push(tr_out *o, el_buf *b)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 256;
		o->v = realloc(o->v, o->cap * sizeof(*o->v));
	}
	o->v[o->n++] = strndup(b->p, b->len);
}

static void tr_tx(void *arg, const be_corr *c, const be_tx *t)
{
	el_buf b;

	el_buf_init(&b);
	be_tx_json(c, t, &b);
	tr_push(arg, &b);
	el_buf_fini(&b);
}

static void tr_reject(void *arg, const be_corr *c, const be_reject *j)
{
	el_buf b;

	el_buf_init(&b);
	be_reject_json(c, j, &b);
	tr_push(arg, &b);
	el_buf_fini(&b);
}

static int tr_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* tr_run - correlate everything; restart (dump, free, restore) every `every` lines */
static void tr_run(tr_out *o, size_t every)
{
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { tr_tx, tr_reject, o };
	be_corr *c = be_corr_new(&conf, &out);
	el_parse_ctx ctx;
	el_rec r;

	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (size_t i = 0; i < tr_n; i++) {
		if (every && i && i % every == 0) {
			el_buf b;
			el_buf_init(&b);
			be_corr_dump_buf(c, &b);
			be_corr_free(c);
			c = be_corr_new(&conf, &out);
			cr_assert_eq(be_corr_restore_buf(c, el_span_make(b.p, b.len)), 0,
				     "restore failed at line %zu", i);
			el_buf_fini(&b);
		}
		el_parse_line(&ctx, tr_lines[i].p, tr_lines[i].len, &r);
		be_corr_line(c, el_rec_get(&r, EL_F_HOST), &r);
		be_corr_tick(c, 0);
	}
	be_corr_flush(c);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
	qsort(o->v, o->n, sizeof(*o->v), tr_strcmp);
}

Test(corr_restart, restarts_anywhere_change_nothing, .timeout = 120)
{
	static const size_t every[] = { 1, 2, 3, 7, 50, 333 };
	tr_out ref = { 0 };

	tr_load();
	tr_run(&ref, 0);
	cr_assert_gt(ref.n, 40);
	for (size_t k = 0; k < sizeof(every) / sizeof(every[0]); k++) {
		tr_out got = { 0 };
		tr_run(&got, every[k]);
		cr_assert_eq(got.n, ref.n, "restarting every %zu lines: %zu flows, want %zu",
			     every[k], got.n, ref.n);
		for (size_t i = 0; i < ref.n; i++)
			cr_assert(strcmp(got.v[i], ref.v[i]) == 0,
				  "restarting every %zu lines:\n got %s\nwant %s", every[k],
				  got.v[i], ref.v[i]);
		for (size_t i = 0; i < got.n; i++)
			free(got.v[i]);
		free(got.v);
	}
	for (size_t i = 0; i < ref.n; i++)
		free(ref.v[i]);
	free(ref.v);
	for (size_t i = 0; i < tr_n; i++)
		free(tr_lines[i].p);
	free(tr_lines);
}
