/*
 * el_arena - bump allocation in chunks of 64 KiB; big requests get their own.
 */
#include "el_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "el_log.h"

#define EL_ARENA_CHUNK 65536

struct el_arena_blk {
	el_arena_blk *next;
	size_t cap, off;
	max_align_t data[];
};

/* el_arena_init - see el_arena.h */
void el_arena_init(el_arena *a)
{
	a->head = NULL;
	a->used = 0;
}

/* el_arena_fini - see el_arena.h */
void el_arena_fini(el_arena *a)
{
	el_arena_blk *b = a->head, *n;

	for (; b; b = n) {
		n = b->next;
		free(b);
	}
	el_arena_init(a);
}

/* el_arena_alloc - see el_arena.h */
void *el_arena_alloc(el_arena *a, size_t n)
{
	size_t al = sizeof(max_align_t), need = (n + al - 1) / al * al;
	el_arena_blk *b = a->head;
	void *p;

	if (need < n)
		el_panic("el_arena: size overflow");
	if (b == NULL || b->cap - b->off < need) {
		size_t cap = need > EL_ARENA_CHUNK / 2 ? need : EL_ARENA_CHUNK;
		if ((b = malloc(sizeof(*b) + cap)) == NULL)
			el_panic("el_arena: out of memory (%zu bytes)", cap);
		b->cap = cap;
		b->off = 0;
		if (need > EL_ARENA_CHUNK / 2 && a->head) {
			/* A big one goes behind the current chunk, which keeps serving. */
			b->next = a->head->next;
			a->head->next = b;
		} else {
			b->next = a->head;
			a->head = b;
		}
	}
	p = (char *)b->data + b->off;
	b->off += need;
	a->used += need;
	memset(p, 0, n);
	return p;
}

/* el_arena_strndup - see el_arena.h */
char *el_arena_strndup(el_arena *a, const char *p, size_t n)
{
	char *s = el_arena_alloc(a, n + 1);

	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* el_arena_strdup - see el_arena.h */
char *el_arena_strdup(el_arena *a, const char *s)
{
	return el_arena_strndup(a, s ? s : "", s ? strlen(s) : 0);
}
