/*
 * el_map - hash map from byte-string keys to pointers (open addressing).
 *
 * Keys are copied into the map; values are the caller's.  Used by the
 * correlation engine for (host, queue ID) and Message-ID lookups, so it is
 * built for many short keys: a key of up to EL_MAP_INLINE bytes lives in
 * its slot (no allocation, no pointer to follow when compared), a longer one
 * in one allocation of its own; linear probing, tombstones on delete,
 * doubling at 50% load.
 *
 * OWNERSHIP: the map owns its key copies; el_map_fini() frees them, not the
 * values.  el_map_get() results stay valid until the entry is deleted.
 * ERRORS: allocation failure panics (el_buf's policy).
 * THREADS: one map per thread.
 * SECURITY: keys come from log lines; the hash is seeded per map so crafted
 * keys cannot be precomputed to collide.
 */
#ifndef EL_MAP_H
#define EL_MAP_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "el_span.h"

#define EL_MAP_INLINE 20

/* el_map_ent - a slot: 40 bytes; read the key with el_map_ent_key() */
typedef struct el_map_ent {
	uint64_t hash; /* 0 = empty, 1 = tombstone */
	void *val;
	uint32_t klen;
	/* The key itself (klen <= EL_MAP_INLINE), else a pointer to its copy. */
	char key[EL_MAP_INLINE];
} el_map_ent;

typedef struct el_map {
	el_map_ent *ents;
	size_t cap;  /* power of two */
	size_t used; /* live entries */
	size_t dead; /* tombstones */
	uint64_t seed;
} el_map;

/*
 * el_map_ent_key - the key of a live slot.  A key in its slot moves when the
 * table grows: the span is valid until the next el_map_put, el_map_clear or
 * el_map_fini on this map (el_map_del is fine), so never pass it to them.
 */
static inline el_span el_map_ent_key(const el_map_ent *e)
{
	const char *p;

	if (e->klen <= EL_MAP_INLINE)
		return el_span_make(e->key, e->klen);
	memcpy(&p, e->key, sizeof(p));
	return el_span_make(p, e->klen);
}

void el_map_init(el_map *m);
void el_map_fini(el_map *m);
/* el_map_clear - remove every entry, keep the table's size (a map refilled to the same size) */
void el_map_clear(el_map *m);
void *el_map_get(const el_map *m, el_span key);
/* el_map_put - insert or replace; returns the previous value or NULL */
void *el_map_put(el_map *m, el_span key, void *val);
/* el_map_del - remove; returns the removed value or NULL */
void *el_map_del(el_map *m, el_span key);
uint64_t el_hash_bytes(const void *p, size_t n, uint64_t seed);

#endif
