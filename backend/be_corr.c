/*
 * be_corr - the correlation engine: transactions, sessions, rejects, links.
 *
 * This file is past 600 lines because ingest dispatch and linking share every
 * table and invariant; output lives in be_corr_out.c, dump/restore in
 * be_corr_state.c.
 */
#include "be_corr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "el_log.h"

/* be_strdup - bounded heap copy of a span, NUL-terminated */
char *be_strdup(el_span s)
{
	char *p;

	if (s.len > BE_STR_MAX)
		s.len = BE_STR_MAX;
	p = malloc(s.len + 1);
	if (p == NULL)
		el_panic("be_corr: out of memory");
	memcpy(p, s.p, s.len);
	p[s.len] = '\0';
	return p;
}

/* be_set - replace a kept string with a copy of s */
void be_set(char **dst, el_span s)
{
	free(*dst);
	*dst = be_strdup(s);
}

/* be_copy_fixed - copy s into a fixed buffer (bounded, NUL-terminated) */
void be_copy_fixed(char *dst, size_t cap, el_span s)
{
	size_t n = s.len < cap - 1 ? s.len : cap - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

/* be_grow - make room for one more element in a doubling array */
void be_grow(void **arr, uint32_t *cap, uint32_t n, size_t elem)
{
	if (n < *cap)
		return;
	uint32_t ncap = *cap ? *cap * 2 : 2;
	void *p = realloc(*arr, (size_t)ncap * elem);
	if (p == NULL)
		el_panic("be_corr: out of memory");
	*arr = p;
	*cap = ncap;
}

/* be_vec_push - append */
void be_vec_push(be_vec *v, void *p)
{
	be_grow((void **)&v->v, &v->cap, v->n, sizeof(*v->v));
	v->v[v->n++] = p;
}

/* be_vec_remove - remove p (order not kept) */
void be_vec_remove(be_vec *v, void *p)
{
	uint32_t i;

	for (i = 0; i < v->n; i++)
		if (v->v[i] == p) {
			v->v[i] = v->v[--v->n];
			return;
		}
}

/* be_key_hq - map key for host + queue ID */
el_span be_key_hq(char *buf, uint16_t host, const char *qid, size_t qlen)
{
	memcpy(buf, &host, 2);
	memcpy(buf + 2, qid, qlen);
	return el_span_make(buf, qlen + 2);
}

/* be_key_id - map key for an engine id */
static el_span be_key_id(char *buf, const uint64_t *id)
{
	memcpy(buf, id, 8);
	return el_span_make(buf, 8);
}

/* be_host_id - intern a host name */
uint16_t be_host_id(be_corr *c, el_span name)
{
	void *v;

	if (name.len == 0)
		name = EL_SPAN_LIT("-");
	if (name.len > 255)
		name.len = 255;
	v = el_map_get(&c->hostmap, name);
	if (v)
		return (uint16_t)((uintptr_t)v - 1);
	if (c->nhosts >= BE_MAX_HOSTS) {
		/* A flood of forged host names shares the last slot. */
		return BE_MAX_HOSTS - 1;
	}
	c->hosts[c->nhosts] = be_strdup(name);
	el_map_put(&c->hostmap, name, (void *)(uintptr_t)(c->nhosts + 1));
	return (uint16_t)c->nhosts++;
}

/* be_corr_host_name - see be_corr.h */
el_span be_corr_host_name(const be_corr *c, uint16_t host)
{
	if (host >= c->nhosts)
		return EL_SPAN_LIT("-");
	return el_span_make(c->hosts[host], strlen(c->hosts[host]));
}

/* be_email_id_of - stable id of an e-mail rooted at host/qid started at t */
uint64_t be_email_id_of(const be_corr *c, uint16_t host, const char *qid, int64_t t_us)
{
	char buf[320];
	el_span h = be_corr_host_name(c, host);
	size_t n = 0, q = strlen(qid);
	int64_t t_s = t_us / 1000000;

	memcpy(buf, h.p, h.len);
	n = h.len;
	buf[n++] = '/';
	memcpy(buf + n, qid, q);
	n += q;
	buf[n++] = '/';
	memcpy(buf + n, &t_s, 8);
	n += 8;
	/* Seed 0: the same story gets the same id in every process. */
	return el_hash_bytes(buf, n, 0);
}

/* be_corr_new - see be_corr.h */
be_corr *be_corr_new(const be_corr_conf *conf, const be_corr_out *out)
{
	be_corr *c = calloc(1, sizeof(*c));

	if (c == NULL)
		el_panic("be_corr: out of memory");
	c->conf = *conf;
	c->out = *out;
	el_map_init(&c->txmap);
	el_map_init(&c->byqid);
	el_map_init(&c->byid);
	el_map_init(&c->pending);
	el_map_init(&c->sessions);
	el_map_init(&c->netmsg);
	el_map_init(&c->hostmap);
	c->next_id = 1;
	return c;
}

/* be_reject_fini - free the strings of a kept reject */
void be_reject_fini(be_reject *j)
{
	free((char *)j->client_host);
	free((char *)j->client_ip);
	free((char *)j->helo);
	free((char *)j->from);
	free((char *)j->to);
	free((char *)j->stage);
	free((char *)j->proto);
	free((char *)j->reject_code);
	free((char *)j->reject_dsn);
	free((char *)j->reason);
}

/* be_tx_free - release a transaction's memory */
void be_tx_free(be_tx *t)
{
	uint32_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nrcpts; i++) {
		be_rcpt *r = &t->rcpts[i];
		free(r->to);
		free(r->orig_to);
		free(r->status_text);
		free(r->relay_host);
		free(r->relay_ip);
		free(r->response);
	}
	for (i = 0; i < t->nactions; i++) {
		free(t->actions[i].stage);
		free(t->actions[i].text);
	}
	for (i = 0; i < t->nrejects; i++)
		be_reject_fini(&t->rejects[i]);
	free(t->rejects);
	free(t->rcpts);
	free(t->actions);
	free(t->client_host);
	free(t->client_ip);
	free(t->sasl_username);
	free(t->from);
	free(t->message_id);
	free(t->helo);
	free(t->orig_qid);
	free(t);
}

/* be_session_free - release a session */
void be_session_free(be_session *s)
{
	uint32_t i;

	for (i = 0; i < s->npending; i++) {
		free(s->pending[i].stage);
		free(s->pending[i].text);
	}
	free(s->pending);
	free(s->client_host);
	free(s->client_ip);
	free(s->ps_tests);
	free(s);
}

/* be_free_vals - free every be_vec value of a map, then the map */
static void be_free_vecs(el_map *m, bool free_items)
{
	size_t i;

	for (i = 0; i < m->cap; i++) {
		if (m->ents[i].hash < 2)
			continue;
		be_vec *v = m->ents[i].val;
		if (free_items)
			for (uint32_t k = 0; k < v->n; k++) {
				be_pending_hop *p = v->v[k];
				free(p->message_id);
				free(p);
			}
		free(v->v);
		free(v);
	}
	el_map_fini(m);
}

/* be_corr_free - see be_corr.h */
void be_corr_free(be_corr *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->byid.cap; i++)
		if (c->byid.ents[i].hash >= 2)
			be_tx_free(c->byid.ents[i].val);
	for (i = 0; i < c->sessions.cap; i++)
		if (c->sessions.ents[i].hash >= 2)
			be_session_free(c->sessions.ents[i].val);
	for (i = 0; i < c->netmsg.cap; i++)
		if (c->netmsg.ents[i].hash >= 2)
			free(c->netmsg.ents[i].val);
	be_free_vecs(&c->byqid, false);
	be_free_vecs(&c->pending, true);
	el_map_fini(&c->txmap);
	el_map_fini(&c->byid);
	el_map_fini(&c->sessions);
	el_map_fini(&c->netmsg);
	el_map_fini(&c->hostmap);
	for (i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	free(c);
}

/* be_lru_unlink - take t off the open list */
static void be_lru_unlink(be_corr *c, be_tx *t)
{
	if (t->lru_prev)
		t->lru_prev->lru_next = t->lru_next;
	else if (c->lru_head == t)
		c->lru_head = t->lru_next;
	else
		return; /* not on the list */
	if (t->lru_next)
		t->lru_next->lru_prev = t->lru_prev;
	else
		c->lru_tail = t->lru_prev;
	t->lru_prev = t->lru_next = NULL;
	c->nopen--;
}

/* be_lru_touch - move t to the most recently active end */
void be_lru_touch(be_corr *c, be_tx *t)
{
	if (t->complete_us)
		return;
	be_lru_unlink(c, t);
	t->lru_prev = c->lru_tail;
	t->lru_next = NULL;
	if (c->lru_tail)
		c->lru_tail->lru_next = t;
	else
		c->lru_head = t;
	c->lru_tail = t;
	c->nopen++;
}

/* be_tx_new - create a transaction and index it */
be_tx *be_tx_new(be_corr *c, uint16_t host, el_span qid, int64_t t_us)
{
	be_tx *t = calloc(1, sizeof(*t));
	char kb[48];
	be_vec *v;

	if (t == NULL)
		el_panic("be_corr: out of memory");
	t->id = c->next_id++;
	t->host = host;
	be_copy_fixed(t->qid, sizeof(t->qid), qid);
	t->first_us = t->last_us = t_us;
	t->email_id = be_email_id_of(c, host, t->qid, t_us);
	el_map_put(&c->txmap, be_key_hq(kb, host, t->qid, strlen(t->qid)), t);
	el_map_put(&c->byid, be_key_id(kb, &t->id), t);
	el_span q = el_span_make(t->qid, strlen(t->qid));
	v = el_map_get(&c->byqid, q);
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			el_panic("be_corr: out of memory");
		el_map_put(&c->byqid, q, v);
	}
	be_vec_push(v, t);
	be_lru_touch(c, t);
	c->st.tx_created++;
	return t;
}

/* be_find_id - transaction by engine id, or NULL once emitted */
be_tx *be_find_id(be_corr *c, uint64_t id)
{
	char kb[8];

	return id ? el_map_get(&c->byid, be_key_id(kb, &id)) : NULL;
}

/* be_tx_complete - the story of t on its host is over: linger, then emit */
void be_tx_complete(be_corr *c, be_tx *t)
{
	if (t->complete_us)
		return;
	be_lru_unlink(c, t);
	t->complete_us = t->last_us > c->clock_us ? t->last_us : c->clock_us;
	t->done_next = NULL;
	if (c->done_tail)
		c->done_tail->done_next = t;
	else
		c->done_head = t;
	c->done_tail = t;
}

/* be_set_email - give t (and what hangs below it) the e-mail id e */
void be_set_email(be_corr *c, be_tx *t, uint64_t e, int depth)
{
	uint32_t i;

	if (depth > 32 || t->email_id == e)
		return;
	t->email_id = e;
	for (i = 0; i < t->nrcpts; i++) {
		be_tx *n = be_find_id(c, t->rcpts[i].next_tx);
		if (n && n->prev_tx == t->id)
			be_set_email(c, n, e, depth + 1);
	}
	for (i = 0; i < t->ndsn; i++) {
		char kb[48];
		be_tx *d = el_map_get(&c->txmap, be_key_hq(kb, t->dsn[i].host, t->dsn[i].qid,
							   strlen(t->dsn[i].qid)));
		if (d && d->dsn_of.host == t->host && strcmp(d->dsn_of.qid, t->qid) == 0)
			be_set_email(c, d, e, depth + 1);
	}
}

/* be_is_ancestor - is a upstream of b (so linking b -> a would loop) */
static bool be_is_ancestor(be_corr *c, const be_tx *a, const be_tx *b)
{
	int depth;

	for (depth = 0; b && depth < 32; depth++) {
		if (b == a)
			return true;
		b = be_find_id(c, b->prev_tx);
	}
	return b == a;
}

/* be_msgid_conflict - both know a Message-ID and they differ */
bool be_msgid_conflict(const be_tx *a, const be_tx *b)
{
	return a->message_id && b->message_id && a->message_id[0] && b->message_id[0] &&
	       strcmp(a->message_id, b->message_id) != 0;
}

/*
 * be_hop_proven - may a hop from host up with Message-ID mid reach b?
 * Within one host any hop may (a content filter's reinjection).  Across
 * hosts both must name the same Message-ID: the hop merges two servers'
 * stories into one e-mail, which a user who follows either server then
 * sees whole, and a "queued as" line is all a forger on the upstream host
 * controls.  A queue ID is short and often guessable; the Message-ID of a
 * stranger's e-mail is not.  Mail without a Message-ID stays two e-mails.
 */
static bool be_hop_proven(uint16_t up, const char *mid, const be_tx *b)
{
	return up == b->host || (mid && b->message_id && mid[0] && strcmp(mid, b->message_id) == 0);
}

/*
 * be_link_hop - join upstream a (recipient ri, or UINT32_MAX) to downstream b.
 * Refused when it would loop, when b already has another upstream, or when
 * the Message-IDs disagree (a forged "queued as" cannot merge two e-mails).
 */
bool be_link_hop(be_corr *c, be_tx *a, uint32_t ri, be_tx *b)
{
	if (a == b || be_is_ancestor(c, b, a) || be_msgid_conflict(a, b) ||
	    !be_hop_proven(a->host, a->message_id, b) || (b->prev_tx && b->prev_tx != a->id)) {
		c->st.links_refused++;
		return false;
	}
	if (ri != UINT32_MAX && ri < a->nrcpts) {
		be_rcpt *r = &a->rcpts[ri];
		r->next.host = b->host;
		memcpy(r->next.qid, b->qid, sizeof(r->next.qid));
		r->next_tx = b->id;
	}
	b->prev.host = a->host;
	memcpy(b->prev.qid, a->qid, sizeof(b->prev.qid));
	b->prev_tx = a->id;
	be_set_email(c, b, a->email_id, 0);
	if (a->host == b->host)
		c->st.links_filter++;
	else
		c->st.links_hop++;
	return true;
}

/* be_hop_ok - b started close enough in time to a's delivery at t_us */
static bool be_hop_ok(const be_corr *c, const be_tx *b, int64_t t_us)
{
	int64_t w = (int64_t)c->conf.hop_window_s * 1000000;
	int64_t bt = b->start_us ? b->start_us : b->first_us;

	return bt >= t_us - w && bt <= t_us + w;
}

/* be_resolve_hop - a's recipient ri says "queued as X": find X or wait for it */
void be_resolve_hop(be_corr *c, be_tx *a, uint32_t ri, int64_t t_us)
{
	const char *x = a->rcpts[ri].queued_as;
	el_span q = el_span_make(x, strlen(x));
	be_vec *v = el_map_get(&c->byqid, q);
	be_tx *best = NULL;
	uint32_t i;

	if (q.len == 0 || a->rcpts[ri].next_tx)
		return;
	for (i = 0; v && i < v->n; i++) {
		be_tx *b = v->v[i];
		if (b == a || !be_hop_ok(c, b, t_us) || be_msgid_conflict(a, b) ||
		    !be_hop_proven(a->host, a->message_id, b) ||
		    (b->prev_tx && b->prev_tx != a->id))
			continue;
		/* Prefer the candidate whose Message-ID agrees. */
		if (best == NULL ||
		    (b->message_id && a->message_id && strcmp(b->message_id, a->message_id) == 0))
			best = b;
	}
	/* None yet: b's lines or its Message-ID may still be on their way. */
	if (best) {
		be_link_hop(c, a, ri, best);
		return;
	}
	be_pending_hop *p = malloc(sizeof(*p));
	if (p == NULL)
		el_panic("be_corr: out of memory");
	p->tx = a->id;
	p->rcpt = ri;
	p->time_us = t_us;
	p->ref.host = a->host;
	memcpy(p->ref.qid, a->qid, sizeof(p->ref.qid));
	p->email_id = a->email_id;
	p->message_id = a->message_id
				? be_strdup(el_span_make(a->message_id, strlen(a->message_id)))
				: NULL;
	c->npending++;
	v = el_map_get(&c->pending, q);
	if (v == NULL) {
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			el_panic("be_corr: out of memory");
		el_map_put(&c->pending, q, v);
	}
	be_vec_push(v, p);
}

/* be_claim_pending - a new transaction b may be the hop someone waits for */
void be_claim_pending(be_corr *c, be_tx *b)
{
	el_span q = el_span_make(b->qid, strlen(b->qid));
	be_vec *v = el_map_get(&c->pending, q);
	uint32_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->n;) {
		be_pending_hop *p = v->v[i];
		be_tx *a = be_find_id(c, p->tx);
		bool linked = false;
		if (!be_hop_ok(c, b, p->time_us) || (b->prev_tx && b->prev_tx != p->tx) ||
		    (!b->prev_tx && b->prev.qid[0])) {
			/* Too far apart in time, or b already has another upstream. */
		} else if (!be_hop_proven(p->ref.host, a ? a->message_id : p->message_id, b)) {
			/* Not yet: b's Message-ID comes with its cleanup line. */
		} else if (a) {
			linked = a != b && p->rcpt < a->nrcpts && be_link_hop(c, a, p->rcpt, b);
		} else if (!(p->message_id && b->message_id &&
			     strcmp(p->message_id, b->message_id))) {
			/* The upstream was already emitted: link b to what we kept of it. */
			b->prev = p->ref;
			be_set_email(c, b, p->email_id, 0);
			c->st.links_hop++;
			linked = true;
		}
		if (linked) {
			free(p->message_id);
			free(p);
			c->npending--;
			/* Keep going: several recipients may wait for the same hop. */
			v->v[i] = v->v[--v->n];
			continue;
		}
		i++;
	}
	if (v->n == 0) {
		el_map_del(&c->pending, q);
		free(v->v);
		free(v);
	}
}

/*
 * be_sweep_pending - forget hops whose other side can no longer come.
 * Most never come: a delivery to a server outside ELSE ends "queued as X"
 * too.  floor_us is the clock of the slowest host still sending (see
 * be_corr_tick), so a collector catching up keeps its hops.  Runs once per
 * hop window of log time; the map holds about one window's deliveries.
 */
void be_sweep_pending(be_corr *c, int64_t floor_us)
{
	int64_t w = (int64_t)c->conf.hop_window_s * 1000000;

	if (floor_us < c->pending_swept_us + w)
		return;
	c->pending_swept_us = floor_us;
	for (size_t i = 0; i < c->pending.cap; i++) {
		el_map_ent *e = &c->pending.ents[i];
		if (e->hash < 2)
			continue;
		be_vec *v = e->val;
		for (uint32_t k = 0; k < v->n;) {
			be_pending_hop *p = v->v[k];
			if (p->time_us + w >= floor_us) {
				k++;
				continue;
			}
			free(p->message_id);
			free(p);
			c->npending--;
			c->st.hops_unclaimed++;
			v->v[k] = v->v[--v->n];
		}
		if (v->n == 0) {
			/* A tombstone: the scan goes on over the same slots. */
			el_map_del(&c->pending, el_map_ent_key(e));
			free(v->v);
			free(v);
		}
	}
}

/* be_rcpt_get - the recipient (to, orig_to) of t, created on first sight */
be_rcpt *be_rcpt_get(be_tx *t, el_span to, el_span orig_to, uint32_t *idx)
{
	uint32_t i;

	for (i = 0; i < t->nrcpts; i++) {
		be_rcpt *r = &t->rcpts[i];
		if (strlen(r->to) == to.len && memcmp(r->to, to.p, to.len) == 0 &&
		    (r->orig_to ? strlen(r->orig_to) == orig_to.len &&
					  memcmp(r->orig_to, orig_to.p, orig_to.len) == 0
				: orig_to.p == NULL)) {
			*idx = i;
			return r;
		}
	}
	if (t->nrcpts >= BE_MAX_RCPTS)
		return NULL;
	be_grow((void **)&t->rcpts, &t->rcap, t->nrcpts, sizeof(*t->rcpts));
	be_rcpt *r = &t->rcpts[t->nrcpts];
	memset(r, 0, sizeof(*r));
	r->to = be_strdup(to);
	r->orig_to = orig_to.p ? be_strdup(orig_to) : NULL;
	*idx = t->nrcpts++;
	return r;
}

/* be_add_action - keep a check/policy/admin action with the transaction */
void be_add_action(be_tx *t, const el_rec *rec, int64_t t_us)
{
	if (t->nactions >= BE_MAX_ACTIONS)
		return;
	be_grow((void **)&t->actions, &t->acap, t->nactions, sizeof(*t->actions));
	be_action *a = &t->actions[t->nactions++];
	el_span st = el_rec_get(rec, EL_F_STAGE);
	el_span tx = el_rec_get(rec, EL_F_CHECK_TEXT);
	if (!tx.p)
		tx = el_rec_get(rec, EL_F_REJECT_REASON);
	if (!tx.p)
		tx = el_rec_get(rec, EL_F_TEXT);
	a->event = rec->event;
	a->stage = st.p ? be_strdup(st) : NULL;
	a->text = tx.p ? be_strdup(tx) : NULL;
	a->time_us = t_us;
}
