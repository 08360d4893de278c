/*
 * el_arena - many small allocations freed at once: the strings and arrays of
 * one reply message, built while a request is answered and dropped after
 * it was packed.
 *
 * OWNERSHIP: everything allocated belongs to the arena until el_arena_fini.
 * ERRORS: allocation failure is fatal (el_panic), as for el_buf; requests
 * bound their replies (rows, string lengths) long before memory runs out.
 * THREADS: one arena per thread.
 */
#ifndef EL_ARENA_H
#define EL_ARENA_H

#include <stddef.h>

typedef struct el_arena_blk el_arena_blk;

typedef struct el_arena {
	el_arena_blk *head;
	size_t used; /* bytes handed out, for bounds and metrics */
} el_arena;

void el_arena_init(el_arena *a);
void el_arena_fini(el_arena *a);
/* el_arena_alloc - n zeroed bytes, aligned for any type */
void *el_arena_alloc(el_arena *a, size_t n);
/* el_arena_strndup - p[0..n) plus a NUL */
char *el_arena_strndup(el_arena *a, const char *p, size_t n);
/* el_arena_strdup - a NUL-terminated copy (NULL gives "") */
char *el_arena_strdup(el_arena *a, const char *s);

#endif
