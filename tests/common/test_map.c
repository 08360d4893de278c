/*
 * test_map - the hash map against a plain model: keys of every length
 * around the inline bound, puts, replaces, deletes and tombstones, growth,
 * clear, and keys read back from the slots.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "el_map.h"

#define TM_N 5000

/* tm_key - key i: lengths 0 .. 2 * EL_MAP_INLINE + 3, bytes that include NULs */
static el_span tm_key(char *buf, int i)
{
	size_t len = (size_t)(i % (2 * EL_MAP_INLINE + 4));
	int n = snprintf(buf, 64, "%d:", i);

	memset(buf + n, 0, 64 - (size_t)n);
	if (len < (size_t)n)
		len = (size_t)n; /* distinct keys: the number is always in */
	for (size_t k = (size_t)n; k < len; k++)
		buf[k] = (char)(k * 7 % 3 ? 'a' + (char)(k % 26) : 0);
	return el_span_make(buf, len);
}

Test(map, agrees_with_a_model_through_puts_deletes_and_growth)
{
	static int vals[TM_N];
	bool in[TM_N] = { false };
	el_map m;
	char kb[64];

	el_map_init(&m);
	cr_assert_null(el_map_get(&m, EL_SPAN_LIT("absent")));
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < TM_N; i++) {
			if ((i + round) % 3 == 0)
				continue;
			void *prev = el_map_put(&m, tm_key(kb, i), &vals[i]);
			cr_assert_eq(prev, in[i] ? &vals[i] : NULL, "put %d round %d", i, round);
			in[i] = true;
		}
		for (int i = round; i < TM_N; i += 4) {
			void *v = el_map_del(&m, tm_key(kb, i));
			cr_assert_eq(v, in[i] ? &vals[i] : NULL, "del %d round %d", i, round);
			in[i] = false;
		}
		size_t live = 0;
		for (int i = 0; i < TM_N; i++) {
			cr_assert_eq(el_map_get(&m, tm_key(kb, i)), in[i] ? &vals[i] : NULL,
				     "get %d round %d", i, round);
			live += in[i];
		}
		cr_assert_eq(m.used, live);
	}
	/* Every live slot's key reads back as the key it was put with. */
	size_t seen = 0;
	for (size_t s = 0; s < m.cap; s++) {
		const el_map_ent *e = &m.ents[s];
		if (e->hash < 2)
			continue;
		int i = (int)((int *)e->val - vals);
		el_span k = tm_key(kb, i), got = el_map_ent_key(e);
		cr_assert_eq(got.len, k.len);
		cr_assert_eq(memcmp(got.p, k.p, k.len), 0, "key of %d", i);
		seen++;
	}
	cr_assert_eq(seen, m.used);
	el_map_fini(&m);
}

Test(map, clear_keeps_the_table_and_forgets_every_key)
{
	static int one;
	el_map m;
	char kb[64];

	el_map_init(&m);
	for (int i = 0; i < TM_N; i++)
		el_map_put(&m, tm_key(kb, i), &one);
	size_t cap = m.cap;
	el_map_clear(&m);
	cr_assert_eq(m.cap, cap);
	cr_assert_eq(m.used, 0);
	for (int i = 0; i < TM_N; i++)
		cr_assert_null(el_map_get(&m, tm_key(kb, i)));
	for (int i = 0; i < TM_N; i++)
		cr_assert_null(el_map_put(&m, tm_key(kb, i), &one));
	cr_assert_eq(m.cap, cap, "refilled to the same size without growing");
	cr_assert_eq(el_map_get(&m, tm_key(kb, TM_N - 1)), &one);
	el_map_fini(&m);
}
