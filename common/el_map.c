/*
 * el_map - open-addressing hash map.
 */
#include "el_map.h"

#include <stdlib.h>
#include <string.h>

#include "el_log.h"

#define EL_MAP_EMPTY 0
#define EL_MAP_TOMB 1

/* el_hash_bytes - 64-bit FNV-1a variant with a final avalanche, seeded */
uint64_t el_hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	size_t i = 0;

	/* Eight bytes at a time, then the tail. */
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		h ^= w;
		h *= 0x100000001b3ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h < 2 ? h + 2 : h;
}

/* el_map_init - an empty map with a random seed */
void el_map_init(el_map *m)
{
	memset(m, 0, sizeof(*m));
	m->seed = (uint64_t)(uintptr_t)m ^ 0x9e3779b97f4a7c15ULL;
	m->seed ^= (uint64_t)rand() << 32 ^ (uint64_t)rand();
}

/* el_map_key_free - free a slot's key copy if it has one */
static void el_map_key_free(el_map_ent *e)
{
	if (e->klen > EL_MAP_INLINE)
		free((void *)el_map_ent_key(e).p);
}

/* el_map_fini - free the key copies and the table */
void el_map_fini(el_map *m)
{
	size_t i;

	for (i = 0; i < m->cap; i++)
		if (m->ents[i].hash > EL_MAP_TOMB)
			el_map_key_free(&m->ents[i]);
	free(m->ents);
	memset(m, 0, sizeof(*m));
}

/* el_map_clear - see el_map.h */
void el_map_clear(el_map *m)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->ents[i].hash > EL_MAP_TOMB)
			el_map_key_free(&m->ents[i]);
	if (m->cap)
		memset(m->ents, 0, m->cap * sizeof(*m->ents));
	m->used = m->dead = 0;
}

/* el_map_find - slot of key, or SIZE_MAX */
static size_t el_map_find(const el_map *m, el_span key, uint64_t h)
{
	size_t mask = m->cap - 1, i;

	if (m->cap == 0)
		return SIZE_MAX;
	for (i = h & mask;; i = (i + 1) & mask) {
		const el_map_ent *e = &m->ents[i];
		if (e->hash == EL_MAP_EMPTY)
			return SIZE_MAX;
		if (e->hash == h && e->klen == key.len &&
		    memcmp(el_map_ent_key(e).p, key.p, key.len) == 0)
			return i;
	}
}

/* el_map_resize - rehash into a table of cap slots */
static void el_map_resize(el_map *m, size_t cap)
{
	el_map_ent *old = m->ents;
	size_t oldcap = m->cap, i;

	m->ents = calloc(cap, sizeof(*m->ents));
	if (m->ents == NULL)
		el_panic("el_map: out of memory for %zu slots", cap);
	m->cap = cap;
	m->dead = 0;
	for (i = 0; i < oldcap; i++) {
		if (old[i].hash <= EL_MAP_TOMB)
			continue;
		size_t j = old[i].hash & (cap - 1);
		while (m->ents[j].hash != EL_MAP_EMPTY)
			j = (j + 1) & (cap - 1);
		m->ents[j] = old[i];
	}
	free(old);
}

/* el_map_get - value for key or NULL */
void *el_map_get(const el_map *m, el_span key)
{
	size_t i;

	if (m->used == 0)
		return NULL;
	i = el_map_find(m, key, el_hash_bytes(key.p, key.len, m->seed));
	return i == SIZE_MAX ? NULL : m->ents[i].val;
}

/* el_map_put - see el_map.h */
void *el_map_put(el_map *m, el_span key, void *val)
{
	uint64_t h;
	size_t i, mask;

	if ((m->used + m->dead + 1) * 2 > m->cap)
		el_map_resize(m, m->cap ? (m->used * 4 > m->cap ? m->cap * 2 : m->cap) : 16);
	h = el_hash_bytes(key.p, key.len, m->seed);
	i = el_map_find(m, key, h);
	if (i != SIZE_MAX) {
		void *prev = m->ents[i].val;
		m->ents[i].val = val;
		return prev;
	}
	mask = m->cap - 1;
	for (i = h & mask; m->ents[i].hash > EL_MAP_TOMB; i = (i + 1) & mask)
		;
	if (m->ents[i].hash == EL_MAP_TOMB)
		m->dead--;
	if (key.len > UINT32_MAX)
		el_panic("el_map: a key of %zu bytes", key.len);
	m->ents[i].hash = h;
	m->ents[i].klen = (uint32_t)key.len;
	if (key.len <= EL_MAP_INLINE) {
		memcpy(m->ents[i].key, key.p, key.len);
	} else {
		char *p = malloc(key.len);
		if (p == NULL)
			el_panic("el_map: out of memory");
		memcpy(p, key.p, key.len);
		memcpy(m->ents[i].key, &p, sizeof(p));
	}
	m->ents[i].val = val;
	m->used++;
	return NULL;
}

/* el_map_del - see el_map.h */
void *el_map_del(el_map *m, el_span key)
{
	size_t i;
	void *v;

	if (m->used == 0)
		return NULL;
	i = el_map_find(m, key, el_hash_bytes(key.p, key.len, m->seed));
	if (i == SIZE_MAX)
		return NULL;
	v = m->ents[i].val;
	el_map_key_free(&m->ents[i]);
	m->ents[i].klen = 0;
	m->ents[i].hash = EL_MAP_TOMB;
	m->used--;
	m->dead++;
	return v;
}
