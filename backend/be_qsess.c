/*
 * be_qsess - the query service's session cache.  See be_qsess.h.
 */
#include "be_qsess.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "el_log.h"
#include "el_map.h"

typedef struct be_qsess_ent {
	int64_t until_us;
	be_db_session s; /* scope strings below, owned */
	char *hosts, *domains, *addrs;
} be_qsess_ent;

struct be_qsess {
	pthread_mutex_t mu;
	int64_t ttl_us;
	uint64_t gen; /* bumped by every clear */
	el_map map;   /* token hash -> be_qsess_ent */
};

/* be_qsess_dup - a heap copy of a scope string (NULL stays NULL) */
static char *be_qsess_dup(const char *v)
{
	char *d;

	if (v == NULL)
		return NULL;
	if ((d = strdup(v)) == NULL)
		el_panic("be_qsess: out of memory");
	return d;
}

/* be_qsess_ent_free - an entry and its strings */
static void be_qsess_ent_free(be_qsess_ent *e)
{
	if (e == NULL)
		return;
	free(e->hosts);
	free(e->domains);
	free(e->addrs);
	free(e);
}

/* be_qsess_drop_all - free every entry and start an empty map (mu held) */
static void be_qsess_drop_all(be_qsess *c)
{
	for (size_t i = 0; i < c->map.cap; i++)
		if (c->map.ents[i].hash > 1)
			be_qsess_ent_free(c->map.ents[i].val);
	el_map_fini(&c->map);
	el_map_init(&c->map);
}

/* be_qsess_new - see be_qsess.h */
int be_qsess_new(be_qsess **out, int64_t ttl_us)
{
	be_qsess *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	c->ttl_us = ttl_us > 0 ? ttl_us : 0;
	el_map_init(&c->map);
	*out = c;
	return 0;
}

/* be_qsess_free - see be_qsess.h */
void be_qsess_free(be_qsess *c)
{
	if (c == NULL)
		return;
	be_qsess_drop_all(c);
	el_map_fini(&c->map);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* be_qsess_get - see be_qsess.h */
bool be_qsess_get(be_qsess *c, const uint8_t hash[32], int64_t now_us, el_arena *a,
		  be_db_session *s)
{
	el_span k = el_span_make((const char *)hash, 32);
	be_qsess_ent *e;
	bool hit = false;

	if (c == NULL || c->ttl_us == 0)
		return false;
	pthread_mutex_lock(&c->mu);
	e = el_map_get(&c->map, k);
	if (e && now_us < e->until_us) {
		*s = e->s;
		s->scope.hosts = e->hosts ? el_arena_strdup(a, e->hosts) : NULL;
		s->scope.domains = e->domains ? el_arena_strdup(a, e->domains) : NULL;
		s->scope.addrs = e->addrs ? el_arena_strdup(a, e->addrs) : NULL;
		hit = true;
	} else if (e) {
		be_qsess_ent_free(el_map_del(&c->map, k));
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

/* be_qsess_gen - see be_qsess.h */
uint64_t be_qsess_gen(be_qsess *c)
{
	uint64_t g;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&c->mu);
	g = c->gen;
	pthread_mutex_unlock(&c->mu);
	return g;
}

/* be_qsess_put - see be_qsess.h */
void be_qsess_put(be_qsess *c, const uint8_t hash[32], int64_t now_us, const be_db_session *s,
		  uint64_t gen)
{
	be_qsess_ent *e;

	if (c == NULL || c->ttl_us == 0)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		el_panic("be_qsess: out of memory");
	e->until_us = now_us + c->ttl_us;
	if (s->expires_us > 0 && s->expires_us < e->until_us)
		e->until_us = s->expires_us;
	e->s = *s;
	e->hosts = be_qsess_dup(s->scope.hosts);
	e->domains = be_qsess_dup(s->scope.domains);
	e->addrs = be_qsess_dup(s->scope.addrs);
	e->s.scope.hosts = e->s.scope.domains = e->s.scope.addrs = NULL;
	pthread_mutex_lock(&c->mu);
	if (gen != c->gen) {
		/* Read before a state change that cleared the cache: maybe stale. */
		pthread_mutex_unlock(&c->mu);
		be_qsess_ent_free(e);
		return;
	}
	if (c->map.used >= BE_QSESS_MAX)
		be_qsess_drop_all(c);
	be_qsess_ent_free(el_map_put(&c->map, el_span_make((const char *)hash, 32), e));
	pthread_mutex_unlock(&c->mu);
}

/* be_qsess_clear - see be_qsess.h */
void be_qsess_clear(be_qsess *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	be_qsess_drop_all(c);
	c->gen++;
	pthread_mutex_unlock(&c->mu);
}
