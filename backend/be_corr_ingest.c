/*
 * be_corr_ingest - one parsed line into the engine: which transaction,
 * session or reject it belongs to, and what it changes there.
 */
#include <stdlib.h>
#include <string.h>

#include "be_corr_int.h"
#include "el_log.h"
#include "el_map.h"

/* be_rec_us - the record's time in microseconds (0 when it had none) */
static int64_t be_rec_us(const el_rec *r)
{
	if (!(r->flags & EL_REC_HAS_TIME))
		return 0;
	return r->time_s * 1000000 + r->time_us;
}

/* be_u32 - a small decimal field, 0 when absent or malformed */
static uint32_t be_u32(const el_rec *r, el_field_key k)
{
	uint64_t v;

	if (el_span_parse_u64(el_rec_get(r, k), &v) < 0 || v > UINT32_MAX)
		return 0;
	return (uint32_t)v;
}

/* be_setf - copy field k of r into *dst when present */
static void be_setf(char **dst, const el_rec *r, el_field_key k)
{
	el_span v = el_rec_get(r, k);

	if (v.p)
		be_set(dst, v);
}

/* be_session_key - host + pid for smtpd, host + ip + port for postscreen */
static el_span be_session_key(char *buf, size_t cap, uint16_t host, const el_rec *r, bool psc)
{
	size_t n = 0;

	memcpy(buf, &host, 2);
	n = 2;
	buf[n++] = psc ? 'p' : 's';
	if (psc) {
		el_span ip = el_rec_get(r, EL_F_CLIENT_IP), port = el_rec_get(r, EL_F_CLIENT_PORT);
		if (ip.len + port.len + 1 > cap - n)
			return el_span_make(buf, 0);
		memcpy(buf + n, ip.p, ip.len);
		n += ip.len;
		buf[n++] = ':';
		memcpy(buf + n, port.p, port.len);
		n += port.len;
	} else {
		el_span pid = el_rec_get(r, EL_F_PID);
		if (pid.len > 10)
			return el_span_make(buf, 0);
		memcpy(buf + n, pid.p, pid.len);
		n += pid.len;
	}
	return el_span_make(buf, n);
}

/* be_session_get - the session a line belongs to (created when create) */
static be_session *be_session_get(be_corr *c, uint16_t host, const el_rec *r, bool psc, bool create)
{
	char kb[300];
	el_span k = be_session_key(kb, sizeof(kb), host, r, psc);
	be_session *s;

	if (k.len == 0)
		return NULL;
	s = el_map_get(&c->sessions, k);
	if (s || !create)
		return s;
	/* Bounded: sessions whose end was never logged are dropped at the limit. */
	if (c->sessions.used >= c->conf.max_open)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		el_panic("be_corr: out of memory");
	s->host = host;
	s->pid = be_u32(r, EL_F_PID);
	s->is_postscreen = psc;
	el_map_put(&c->sessions, k, s);
	return s;
}

/* be_session_put - recreate a saved session under the key its lines will use */
be_session *be_session_put(be_corr *c, uint16_t host, bool psc, uint32_t pid, el_span ip,
			   uint32_t port)
{
	char pbuf[16], kb[300];
	el_rec r;
	be_session *s;

	memset(&r, 0, sizeof(r));
	if (psc) {
		int n = snprintf(pbuf, sizeof(pbuf), "%u", port);
		r.f[0].key = EL_F_CLIENT_IP;
		r.f[0].val = ip;
		r.f[1].key = EL_F_CLIENT_PORT;
		r.f[1].val = el_span_make(pbuf, (size_t)n);
		r.idx[EL_F_CLIENT_IP] = 1;
		r.idx[EL_F_CLIENT_PORT] = 2;
	} else {
		int n = snprintf(pbuf, sizeof(pbuf), "%u", pid);
		r.f[0].key = EL_F_PID;
		r.f[0].val = el_span_make(pbuf, (size_t)n);
		r.idx[EL_F_PID] = 1;
	}
	r.nf = psc ? 2 : 1;
	el_span k = be_session_key(kb, sizeof(kb), host, &r, psc);
	if (k.len == 0 || el_map_get(&c->sessions, k))
		return NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		el_panic("be_corr: out of memory");
	s->host = host;
	s->pid = pid;
	s->client_port = port;
	s->is_postscreen = psc;
	el_map_put(&c->sessions, k, s);
	return s;
}

/* be_session_end - forget a session */
static void be_session_end(be_corr *c, uint16_t host, const el_rec *r, bool psc)
{
	char kb[300];
	el_span k = be_session_key(kb, sizeof(kb), host, r, psc);
	be_session *s = k.len ? el_map_del(&c->sessions, k) : NULL;

	if (s)
		be_session_free(s);
}

/* be_emit_reject - a reject-kind record from a line (and its session) */
static void be_emit_reject(be_corr *c, uint16_t host, const el_rec *r, const be_session *s,
			   be_tx *t, const char *reason_override)
{
	be_reject j;
	char bufs[12][BE_STR_MAX + 1];
	int nb = 0;
	el_field_key keys[] = { EL_F_CLIENT_HOST, EL_F_CLIENT_IP,    EL_F_HELO,  EL_F_FROM,
				EL_F_TO,          EL_F_STAGE,        EL_F_PROTO, EL_F_REJECT_CODE,
				EL_F_REJECT_DSN,  EL_F_REJECT_REASON };
	const char **dst[] = { &j.client_host, &j.client_ip, &j.helo,  &j.from,
			       &j.to,          &j.stage,     &j.proto, &j.reject_code,
			       &j.reject_dsn,  &j.reason };

	memset(&j, 0, sizeof(j));
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		el_span v = el_rec_get(r, keys[i]);
		if (!v.p)
			continue;
		be_copy_fixed(bufs[nb], sizeof(bufs[nb]), v);
		*dst[i] = bufs[nb++];
	}
	if (reason_override)
		j.reason = reason_override;
	if (s) {
		j.session_us = s->start_us;
		if (!j.client_host && s->client_host)
			j.client_host = s->client_host;
		if (!j.client_ip && s->client_ip)
			j.client_ip = s->client_ip;
	}
	j.host = host;
	j.event = r->event;
	j.time_us = be_rec_us(r);
	j.pid = be_u32(r, EL_F_PID);
	j.client_port = be_u32(r, EL_F_CLIENT_PORT);
	j.temporary = j.reject_code && j.reject_code[0] == '4';
	j.line_key = c->line_key;
	if (t) {
		/*
		 * A refusal of a queued message is emitted with its transaction,
		 * once links (and so the e-mail id) are settled.
		 */
		be_tx *mt = t;
		if (mt->nrejects >= 16)
			return;
		be_reject *n = realloc(mt->rejects, (mt->nrejects + 1) * sizeof(*n));
		if (n == NULL)
			el_panic("be_corr: out of memory");
		mt->rejects = n;
		memcpy(j.qid, t->qid, sizeof(j.qid));
		const char **fs[] = { &j.client_host, &j.client_ip, &j.helo,  &j.from,
				      &j.to,          &j.stage,     &j.proto, &j.reject_code,
				      &j.reject_dsn,  &j.reason };
		for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
			if (*fs[i])
				*fs[i] = be_strdup(el_span_make(*fs[i], strlen(*fs[i])));
		mt->rejects[mt->nrejects++] = j;
		c->st.rejects++;
		return;
	} else {
		/* A reject stands alone: its id comes from what identifies it. */
		el_buf kb;
		el_buf_init(&kb);
		el_buf_add(&kb, &j.time_us, sizeof(j.time_us));
		el_buf_add(&kb, &j.pid, sizeof(j.pid));
		el_buf_add(&kb, &j.client_port, sizeof(j.client_port));
		/* The host's name, not its interned number (order-dependent). */
		el_buf_adds(&kb, be_corr_host_name(c, host));
		el_buf_adds(&kb, r->raw);
		el_buf_add(&kb, &j.line_key, sizeof(j.line_key));
		j.email_id = el_hash_bytes(kb.p, kb.len, 0);
		el_buf_fini(&kb);
	}
	c->st.rejects++;
	if (c->out.reject)
		c->out.reject(c->out.arg, c, &j);
}

/* be_is_start - does this line begin a queue ID lifetime */
static bool be_is_start(const el_rec *r)
{
	return r->event == EL_EV_CLIENT || r->event == EL_EV_PICKUP;
}

/*
 * be_tx_for - the transaction a line with queue ID q on host belongs to:
 * the current lifetime, or a new one when the line starts one (or the old
 * one ended longer ago than the linger time).
 */
static be_tx *be_tx_for(be_corr *c, uint16_t host, el_span q, const el_rec *r, int64_t t_us)
{
	char kb[48];
	be_tx *t;

	if (q.len == 0 || q.len >= sizeof(t->qid))
		return NULL;
	t = el_map_get(&c->txmap, be_key_hq(kb, host, q.p, q.len));
	if (t) {
		bool start = be_is_start(r);
		if (t->complete_us) {
			int64_t lim = t->complete_us + (int64_t)c->conf.linger_s * 1000000;
			if (!start && t_us <= lim)
				return t;
			c->st.reused_qid++;
		} else if (start && (t->flags & BE_TX_STARTED)) {
			/* The old lifetime lost its end ("removed" never seen). */
			c->st.reused_qid++;
			be_tx_complete(c, t);
		} else {
			return t;
		}
	}
	if (c->nopen >= c->conf.max_open && c->lru_head) {
		c->st.evicted++;
		c->lru_head->flags |= BE_TX_EVICTED;
		be_tx_complete(c, c->lru_head);
	}
	t = be_tx_new(c, host, q, t_us);
	if (!be_is_start(r))
		t->flags |= BE_TX_NO_START;
	be_claim_pending(c, t);
	return t;
}

/* be_mark_started - a start line: remember when, and re-root the e-mail id */
static void be_mark_started(be_corr *c, be_tx *t, int64_t t_us)
{
	t->flags |= BE_TX_STARTED;
	t->flags &= ~BE_TX_NO_START;
	t->start_us = t_us;
	if (t->prev_tx == 0 && t->dsn_of.qid[0] == 0)
		be_set_email(c, t, be_email_id_of(c, t->host, t->qid, t_us), 0);
}

/* be_via_of_program - see be_corr.h */
be_via be_via_of_program(el_span program)
{
	static const char *const local[] = { "local", "virtual", "lmtp", "pipe" };
	size_t i = program.len;

	if (program.len == 0)
		return BE_VIA_SMTP;
	while (i > 0 && program.p[i - 1] != '/')
		i--;
	el_span d = el_span_make(program.p + i, program.len - i);
	for (size_t k = 0; k < sizeof(local) / sizeof(local[0]); k++)
		if (d.len == strlen(local[k]) && memcmp(d.p, local[k], d.len) == 0)
			return BE_VIA_LOCAL;
	return BE_VIA_SMTP;
}

/* be_delivery - a delivery attempt for one recipient */
static void be_delivery(be_corr *c, be_tx *t, const el_rec *r, int64_t t_us)
{
	el_span st = el_rec_get(r, EL_F_STATUS);
	uint32_t ri;
	be_rcpt *p = be_rcpt_get(t, el_rec_get(r, EL_F_TO), el_rec_get(r, EL_F_ORIG_TO), &ri);

	if (p == NULL)
		return;
	p->attempts++;
	p->last_us = t_us;
	p->via = (uint8_t)be_via_of_program(el_rec_get(r, EL_F_PROGRAM));
	if (el_span_eq_lit(st, "sent"))
		p->status = BE_RS_SENT;
	else if (el_span_eq_lit(st, "deferred"))
		p->status = BE_RS_DEFERRED;
	else if (el_span_eq_lit(st, "bounced"))
		p->status = BE_RS_BOUNCED;
	else if (el_span_eq_lit(st, "expired"))
		p->status = BE_RS_EXPIRED;
	else {
		p->status = BE_RS_OTHER;
		be_set(&p->status_text, st);
	}
	be_copy_fixed(p->dsn, sizeof(p->dsn), el_rec_get(r, EL_F_DSN));
	free(p->relay_ip);
	p->relay_ip = NULL;
	be_setf(&p->relay_host, r, EL_F_RELAY_HOST);
	be_setf(&p->relay_ip, r, EL_F_RELAY_IP);
	if (!el_rec_has(r, EL_F_RELAY_IP))
		be_setf(&p->relay_ip, r, EL_F_RELAY_PATH);
	p->relay_port = be_u32(r, EL_F_RELAY_PORT);
	be_setf(&p->response, r, EL_F_RESPONSE);
	el_span d = el_rec_get(r, EL_F_DELAY);
	if (d.p && d.len < 32) {
		char tmp[32];
		memcpy(tmp, d.p, d.len);
		tmp[d.len] = '\0';
		p->delay = strtod(tmp, NULL);
	}
	el_span qa = el_rec_get(r, EL_F_QUEUED_AS);
	if (qa.p && p->status == BE_RS_SENT) {
		be_copy_fixed(p->queued_as, sizeof(p->queued_as), qa);
		be_resolve_hop(c, t, ri, t_us);
	}
}

/* be_dsn_created - bounce on host made DSN NEWQID about t */
static void be_dsn_created(be_corr *c, be_tx *t, const el_rec *r, int64_t t_us)
{
	el_span nq = el_rec_get(r, EL_F_DSN_QUEUE_ID);
	char kb[48];
	be_tx *d;

	if (nq.len == 0 || nq.len >= sizeof(t->qid) || t->ndsn >= 4)
		return;
	d = el_map_get(&c->txmap, be_key_hq(kb, t->host, nq.p, nq.len));
	/*
	 * Log order between processes is not causal: the DSN may have been
	 * queued, delivered and removed before bounce logs that it made it.
	 */
	int64_t w = (int64_t)c->conf.hop_window_s * 1000000;
	if (d == NULL || (d->complete_us && (d->first_us < t_us - w || d->first_us > t_us + w))) {
		d = be_tx_new(c, t->host, nq, t_us);
		be_claim_pending(c, d);
	}
	if (d == t || d->dsn_of.qid[0])
		return;
	d->flags |= BE_TX_STARTED;
	d->flags &= ~BE_TX_NO_START;
	d->start_us = t_us;
	d->dsn_of.host = t->host;
	memcpy(d->dsn_of.qid, t->qid, sizeof(d->dsn_of.qid));
	t->dsn[t->ndsn].host = d->host;
	memcpy(t->dsn[t->ndsn].qid, d->qid, sizeof(t->dsn[0].qid));
	t->ndsn++;
	be_set_email(c, d, t->email_id, 0);
	c->st.links_dsn++;
}

/* be_client - smtpd "client=": session, XFORWARD filter link */
static void be_client(be_corr *c, be_tx *t, const el_rec *r, int64_t t_us)
{
	be_session *s;

	be_mark_started(c, t, t_us);
	be_setf(&t->client_host, r, EL_F_CLIENT_HOST);
	be_setf(&t->client_ip, r, EL_F_CLIENT_IP);
	be_setf(&t->sasl_username, r, EL_F_SASL_USERNAME);
	t->smtpd_pid = be_u32(r, EL_F_PID);
	s = be_session_get(c, t->host, r, false, false);
	if (s) {
		if (s->ntxs < 8)
			s->txs[s->ntxs++] = t->id;
		for (uint32_t i = 0; i < s->npending; i++) {
			if (t->nactions < BE_MAX_ACTIONS) {
				be_grow((void **)&t->actions, &t->acap, t->nactions,
					sizeof(*t->actions));
				t->actions[t->nactions++] = s->pending[i];
			} else {
				/* Over the bound: dropped, but not leaked. */
				free(s->pending[i].stage);
				free(s->pending[i].text);
			}
			s->pending[i].stage = s->pending[i].text = NULL;
		}
		s->npending = 0;
	}
	el_span oq = el_rec_get(r, EL_F_ORIG_QUEUE_ID);
	if (oq.p && oq.len < 32) {
		char kb[48];
		be_set(&t->orig_qid, oq);
		be_tx *a = el_map_get(&c->txmap, be_key_hq(kb, t->host, oq.p, oq.len));
		if (a && a != t && t->prev_tx == 0) {
			uint32_t ri = UINT32_MAX;
			for (uint32_t i = 0; i < a->nrcpts; i++)
				if (strcmp(a->rcpts[i].queued_as, t->qid) == 0)
					ri = i;
			be_link_hop(c, a, ri, t);
		}
	}
}

/* be_session_close - smtpd disconnect or lost connection: unqueued mail is over */
static void be_session_close(be_corr *c, uint16_t host, const el_rec *r)
{
	be_session *s = be_session_get(c, host, r, false, false);

	if (s) {
		for (uint32_t i = 0; i < s->ntxs; i++) {
			be_tx *t = be_find_id(c, s->txs[i]);
			if (t && !(t->flags & (BE_TX_QUEUED | BE_TX_REMOVED)) && !t->complete_us) {
				t->flags |= BE_TX_ABORTED;
				be_tx_complete(c, t);
			}
		}
	}
	be_session_end(c, host, r, false);
}

/*
 * be_tx_seen - one more line of t, at t_us.  Lines come out of order: two
 * Postfix processes, or Exchange's event files (MSGTRK, MSGTRKMD, ...) read
 * side by side; the flow's raw lines are those from first_us to last_us.
 */
static void be_tx_seen(be_corr *c, be_tx *t, int64_t t_us)
{
	t->nlines++;
	if (t_us > t->last_us)
		t->last_us = t_us;
	if (t_us && t_us < t->first_us)
		t->first_us = t_us;
	be_lru_touch(c, t);
}

/* be_msgtrk - an Exchange message tracking row */
static uint64_t be_msgtrk(be_corr *c, uint16_t host, const el_rec *r, int64_t t_us)
{
	el_span iid = el_rec_get(r, EL_F_INTERNAL_MESSAGE_ID);
	el_span ev = el_rec_get(r, EL_F_MSGTRK_EVENT);
	el_span srv = el_rec_get(r, EL_F_SERVER_HOST);
	be_tx *t;

	/*
	 * The row names "this" server differently per event: server-hostname
	 * for RECEIVE and DELIVER, client-hostname for SEND (whose
	 * server-hostname is the next hop).  A collector's own identity wins.
	 */
	if (el_span_eq_lit(be_corr_host_name(c, host), "-")) {
		el_span self = el_span_eq_lit(ev, "SEND") ? el_rec_get(r, EL_F_CLIENT_HOST) : srv;
		if (self.len)
			host = be_host_id(c, self);
	}
	if (iid.len == 0)
		return 0;
	t = be_tx_for(c, host, iid, r, t_us);
	if (t == NULL)
		return 0;
	be_tx_seen(c, t, t_us);
	be_setf(&t->message_id, r, EL_F_MESSAGE_ID);
	if (t->message_id)
		be_claim_pending(c, t);
	be_setf(&t->from, r, EL_F_FROM);
	if (el_span_eq_lit(ev, "RECEIVE")) {
		be_setf(&t->client_ip, r, EL_F_CLIENT_IP);
		be_setf(&t->client_host, r, EL_F_CLIENT_HOST);
	}
	if (el_rec_has(r, EL_F_SIZE))
		t->size = be_u32(r, EL_F_SIZE);
	/* One e-mail across Exchange servers: the network message id. */
	el_span nid = el_rec_get(r, EL_F_NETWORK_MESSAGE_ID);
	if (nid.len) {
		uint64_t *e = el_map_get(&c->netmsg, nid);
		if (e == NULL) {
			e = malloc(sizeof(*e));
			if (e == NULL)
				el_panic("be_corr: out of memory");
			*e = t->email_id;
			el_map_put(&c->netmsg, nid, e);
		} else if (t->prev_tx == 0) {
			be_set_email(c, t, *e, 0);
		}
	}
	if (el_span_eq_lit(ev, "RECEIVE")) {
		if (!(t->flags & BE_TX_STARTED)) {
			t->flags |= BE_TX_STARTED | BE_TX_QUEUED;
			t->flags &= ~BE_TX_NO_START;
			t->start_us = t_us;
		}
		return t->id;
	}
	be_rstatus rs;
	if (el_span_eq_lit(ev, "DELIVER") || el_span_eq_lit(ev, "SEND"))
		rs = BE_RS_SENT;
	else if (el_span_eq_lit(ev, "FAIL"))
		rs = BE_RS_BOUNCED;
	else if (el_span_eq_lit(ev, "DEFER"))
		rs = BE_RS_DEFERRED;
	else {
		be_add_action(t, r, t_us);
		return t->id;
	}
	/* Recipients and their statuses are ';'-separated, in the same order. */
	el_span rl = el_rec_get(r, EL_F_RECIPIENTS), sl = el_rec_get(r, EL_F_RESPONSE);
	size_t i = 0, j = 0;
	while (i < rl.len) {
		size_t e = i, f = j;
		while (e < rl.len && rl.p[e] != ';')
			e++;
		while (f < sl.len && sl.p[f] != ';')
			f++;
		uint32_t ri;
		be_rcpt *p =
			be_rcpt_get(t, el_span_make(rl.p + i, e - i), (el_span){ NULL, 0 }, &ri);
		if (p) {
			el_span resp = el_span_make(sl.p + j, f - j);
			p->status = rs;
			p->attempts++;
			p->last_us = t_us;
			if (resp.len)
				be_set(&p->response, resp);
			be_set(&p->relay_host,
			       el_span_eq_lit(ev, "DELIVER") ? EL_SPAN_LIT("mailbox") : srv);
			p->via = el_span_eq_lit(ev, "DELIVER") ? BE_VIA_LOCAL : BE_VIA_SMTP;
			ptrdiff_t qa = EL_FIND_LIT(resp, "queued as ");
			if (qa >= 0 && rs == BE_RS_SENT) {
				el_span x = el_span_skip(resp, (size_t)qa + 10);
				size_t n = 0;
				while (n < x.len && n < 31 && (x.p[n] >= '0' && x.p[n] <= 'z'))
					n++;
				be_copy_fixed(p->queued_as, sizeof(p->queued_as),
					      el_span_make(x.p, n));
				be_resolve_hop(c, t, ri, t_us);
			}
		}
		i = e + 1;
		j = f < sl.len ? f + 1 : f;
	}
	bool all = t->nrcpts > 0;
	for (uint32_t k = 0; k < t->nrcpts; k++)
		if (t->rcpts[k].status == BE_RS_PENDING || t->rcpts[k].status == BE_RS_DEFERRED)
			all = false;
	if (all) {
		t->flags |= BE_TX_REMOVED;
		be_tx_complete(c, t);
	}
	return t->id;
}

/* be_postscreen - postscreen verdicts, per client ip:port */
static void be_postscreen(be_corr *c, uint16_t host, const el_rec *r, int64_t t_us)
{
	be_session *s;

	switch (r->event) {
	case EL_EV_PS_CONNECT:
		s = be_session_get(c, host, r, true, true);
		if (s) {
			s->start_us = t_us;
			be_setf(&s->client_ip, r, EL_F_CLIENT_IP);
			s->client_port = be_u32(r, EL_F_CLIENT_PORT);
		}
		return;
	case EL_EV_PS_PASS:
		s = be_session_get(c, host, r, true, false);
		if (s)
			s->passed = true;
		be_session_end(c, host, r, true);
		return;
	case EL_EV_PS_LISTED:
	case EL_EV_PS_VIOLATION:
	case EL_EV_PS_DNSBL: {
		el_span test = el_rec_get(r, EL_F_PS_TEST);
		s = be_session_get(c, host, r, true, true);
		if (s == NULL)
			return;
		if (r->event == EL_EV_PS_DNSBL)
			test = EL_SPAN_LIT("DNSBL");
		if (test.len && el_span_eq_lit(test, "ALLOWLISTED") == false &&
		    el_span_eq_lit(test, "WHITELISTED") == false) {
			size_t old = s->ps_tests ? strlen(s->ps_tests) : 0;
			if (old + test.len + 2 < 256) {
				char *n = realloc(s->ps_tests, old + test.len + 2);
				if (n == NULL)
					el_panic("be_corr: out of memory");
				if (old)
					n[old++] = ' ';
				memcpy(n + old, test.p, test.len);
				n[old + test.len] = '\0';
				s->ps_tests = n;
			}
		}
		return;
	}
	case EL_EV_PS_DISCONNECT:
		s = be_session_get(c, host, r, true, false);
		if (s && !s->passed && !s->rejected && s->ps_tests) {
			char why[300];
			snprintf(why, sizeof(why), "postscreen: %s", s->ps_tests);
			be_emit_reject(c, host, r, s, NULL, why);
		}
		be_session_end(c, host, r, true);
		return;
	default:
		return;
	}
}

/* be_noqueue - a line about an SMTP session, not (yet) a queue file */
static void be_noqueue(be_corr *c, uint16_t host, const el_rec *r, el_span svc, int64_t t_us)
{
	bool psc = el_span_eq_lit(svc, "postscreen");
	be_session *s;

	switch (r->event) {
	case EL_EV_CONNECT:
		be_session_end(c, host, r, false);
		s = be_session_get(c, host, r, false, true);
		if (s) {
			s->start_us = t_us;
			be_setf(&s->client_host, r, EL_F_CLIENT_HOST);
			be_setf(&s->client_ip, r, EL_F_CLIENT_IP);
		}
		return;
	case EL_EV_DISCONNECT:
		be_session_close(c, host, r);
		return;
	case EL_EV_LOST_CONNECTION:
	case EL_EV_TIMEOUT:
	case EL_EV_TOO_MANY_ERRORS:
		s = be_session_get(c, host, r, false, false);
		be_emit_reject(c, host, r, s, NULL, NULL);
		be_session_close(c, host, r);
		return;
	case EL_EV_REJECT:
		s = be_session_get(c, host, r, psc, false);
		if (s)
			s->rejected = true;
		be_emit_reject(c, host, r, s, NULL, NULL);
		return;
	case EL_EV_HOLD:
	case EL_EV_DISCARD:
	case EL_EV_FILTER:
	case EL_EV_REDIRECT:
	case EL_EV_WARN_ACTION:
	case EL_EV_INFO_ACTION:
	case EL_EV_BCC: {
		/* NOQUEUE actions apply to the transaction this session starts next. */
		s = be_session_get(c, host, r, false, false);
		if (s == NULL || s->npending >= 8)
			return;
		be_action *n = realloc(s->pending, (s->npending + 1) * sizeof(*n));
		if (n == NULL)
			el_panic("be_corr: out of memory");
		s->pending = n;
		be_tx tmp;
		memset(&tmp, 0, sizeof(tmp));
		be_add_action(&tmp, r, t_us);
		s->pending[s->npending++] = tmp.actions[0];
		free(tmp.actions);
		return;
	}
	default:
		if (psc)
			be_postscreen(c, host, r, t_us);
		return;
	}
}

/* be_queued - a line with a queue ID */
static void be_queued(be_corr *c, be_tx *t, const el_rec *r, int64_t t_us)
{
	switch (r->event) {
	case EL_EV_CLIENT:
		be_client(c, t, r, t_us);
		break;
	case EL_EV_PICKUP:
		be_mark_started(c, t, t_us);
		be_setf(&t->from, r, EL_F_FROM);
		break;
	case EL_EV_MESSAGE_ID: {
		t->flags |= BE_TX_QUEUED;
		be_setf(&t->message_id, r, EL_F_MESSAGE_ID);
		be_tx *a = be_find_id(c, t->prev_tx);
		if (a && be_msgid_conflict(a, t)) {
			/* The hop we believed in carries another message: undo it. */
			for (uint32_t i = 0; i < a->nrcpts; i++)
				if (a->rcpts[i].next_tx == t->id) {
					a->rcpts[i].next_tx = 0;
					memset(&a->rcpts[i].next, 0, sizeof(a->rcpts[i].next));
				}
			t->prev_tx = 0;
			memset(&t->prev, 0, sizeof(t->prev));
			c->st.links_refused++;
			be_set_email(c, t,
				     be_email_id_of(c, t->host, t->qid,
						    t->start_us ? t->start_us : t->first_us),
				     0);
		}
		/* A hop from another host waited for this Message-ID. */
		be_claim_pending(c, t);
		break;
	}
	case EL_EV_QUEUE_ACTIVE:
		t->flags |= BE_TX_QUEUED;
		be_setf(&t->from, r, EL_F_FROM);
		t->size = be_u32(r, EL_F_SIZE);
		t->nrcpt = (int32_t)be_u32(r, EL_F_NRCPT);
		break;
	case EL_EV_DELIVERY:
		be_delivery(c, t, r, t_us);
		break;
	case EL_EV_EXPIRED:
		t->flags |= BE_TX_EXPIRED;
		be_setf(&t->from, r, EL_F_FROM);
		for (uint32_t i = 0; i < t->nrcpts; i++)
			if (t->rcpts[i].status == BE_RS_DEFERRED ||
			    t->rcpts[i].status == BE_RS_PENDING)
				t->rcpts[i].status = BE_RS_EXPIRED;
		break;
	case EL_EV_REMOVED:
		t->flags |= BE_TX_REMOVED;
		be_tx_complete(c, t);
		break;
	case EL_EV_DSN:
		be_dsn_created(c, t, r, t_us);
		break;
	case EL_EV_REJECT:
	case EL_EV_MILTER_REJECT: {
		el_span st = el_rec_get(r, EL_F_STAGE);
		be_add_action(t, r, t_us);
		/* Content checks reject the whole message; smtpd rejects one RCPT. */
		if (r->event == EL_EV_MILTER_REJECT || el_span_eq_lit(st, "header") ||
		    el_span_eq_lit(st, "body") || el_span_eq_lit(st, "mime-header") ||
		    el_span_eq_lit(st, "nested-header") || el_span_eq_lit(st, "END-OF-MESSAGE") ||
		    el_span_eq_lit(st, "DATA")) {
			t->flags |= BE_TX_REJECTED;
			be_setf(&t->from, r, EL_F_FROM);
			be_tx_complete(c, t);
		}
		/* Every SMTP-level refusal is also a reject record of its own. */
		be_emit_reject(c, t->host, r, be_session_get(c, t->host, r, false, false), t, NULL);
		break;
	}
	case EL_EV_DISCARD:
	case EL_EV_MILTER_DISCARD:
		be_add_action(t, r, t_us);
		t->flags |= BE_TX_DISCARDED;
		be_setf(&t->from, r, EL_F_FROM);
		be_tx_complete(c, t);
		break;
	case EL_EV_HOLD:
	case EL_EV_MILTER_HOLD:
	case EL_EV_HOLD_PLACED:
		be_add_action(t, r, t_us);
		t->flags |= BE_TX_HELD;
		break;
	case EL_EV_HOLD_RELEASED:
		be_add_action(t, r, t_us);
		t->flags &= ~BE_TX_HELD;
		break;
	case EL_EV_FILTER:
	case EL_EV_REDIRECT:
	case EL_EV_WARN_ACTION:
	case EL_EV_INFO_ACTION:
	case EL_EV_PREPEND:
	case EL_EV_REPLACE:
	case EL_EV_BCC:
	case EL_EV_REQUEUED:
	case EL_EV_FORCE_EXPIRED:
		be_add_action(t, r, t_us);
		break;
	case EL_EV_AMAVIS_RESULT: {
		be_add_action(t, r, t_us);
		/* amavis reinjects the message: a filter hop on the same host. */
		el_span qa = el_rec_get(r, EL_F_QUEUED_AS);
		if (qa.len && qa.len < 32) {
			char kb[48];
			be_tx *b = el_map_get(&c->txmap, be_key_hq(kb, t->host, qa.p, qa.len));
			if (b && b != t && b->prev_tx == 0)
				be_link_hop(c, t, UINT32_MAX, b);
		}
		break;
	}
	default:
		break;
	}
}

/* be_corr_line - see be_corr.h */
uint64_t be_corr_line(be_corr *c, el_span hostname, const el_rec *r)
{
	int64_t t_us = be_rec_us(r);
	el_span svc = el_rec_get(r, EL_F_SERVICE), q;
	uint16_t host;
	be_tx *t;

	c->st.lines++;
	if (t_us == 0)
		t_us = c->clock_us;
	/* Any line with a time, mail or not, says how far its host's log has got. */
	if (t_us > c->clock_us)
		c->clock_us = t_us;
	host = be_host_id(c, hostname);
	if (t_us > c->host_clock[host])
		c->host_clock[host] = t_us;
	if (r->event == EL_EV_UNPARSED && !el_rec_has(r, EL_F_QUEUE_ID))
		return 0;
	if (r->event == EL_EV_MSGTRK) {
		uint64_t id = be_msgtrk(c, host, r, t_us);
		c->st.lines_attached += id != 0;
		return id;
	}
	q = el_rec_get(r, EL_F_QUEUE_ID);
	if (q.p == NULL) {
		be_noqueue(c, host, r, svc, t_us);
		return 0;
	}
	/* amavis names the Postfix queue ID it scanned; it never starts one. */
	if (r->event == EL_EV_AMAVIS_RESULT) {
		char kb[48];
		t = q.len < 32 ? el_map_get(&c->txmap, be_key_hq(kb, host, q.p, q.len)) : NULL;
	} else {
		t = be_tx_for(c, host, q, r, t_us);
	}
	if (t == NULL)
		return 0;
	be_tx_seen(c, t, t_us);
	be_queued(c, t, r, t_us);
	c->st.lines_attached++;
	return t->id;
}

/* be_corr_tick - see be_corr.h */
void be_corr_tick(be_corr *c, int64_t now_us)
{
	int64_t linger = (int64_t)c->conf.linger_s * 1000000;
	int64_t idle = (int64_t)c->conf.idle_evict_s * 1000000;

	if (now_us > c->clock_us)
		c->clock_us = now_us;
	while (c->lru_head && c->lru_head->last_us + idle < c->clock_us) {
		c->lru_head->flags |= BE_TX_EVICTED;
		c->st.evicted++;
		be_tx_complete(c, c->lru_head);
	}
	/*
	 * A completed message waits for the slowest host still sending (a
	 * collector catching up after an outage), so that its late "queued as"
	 * lines still find their other side.  A host further behind than
	 * catchup_s no longer holds anything back.
	 */
	int64_t floor = c->clock_us, catchup = (int64_t)c->conf.catchup_s * 1000000;
	for (uint32_t h = 0; h < c->nhosts; h++)
		if (c->host_clock[h] && c->host_clock[h] < floor &&
		    c->host_clock[h] >= c->clock_us - catchup)
			floor = c->host_clock[h];
	be_sweep_pending(c, floor);
	while (c->done_head && c->done_head->complete_us + linger < floor) {
		be_tx *t = c->done_head;
		c->done_head = t->done_next;
		if (c->done_head == NULL)
			c->done_tail = NULL;
		be_emit_tx(c, t);
	}
}

/* be_corr_line_key - see be_corr.h */
void be_corr_line_key(be_corr *c, uint64_t key)
{
	c->line_key = key;
}

/* be_corr_release - see be_corr.h */
void be_corr_release(be_corr *c)
{
	while (c->done_head) {
		be_tx *t = c->done_head;
		c->done_head = t->done_next;
		if (c->done_head == NULL)
			c->done_tail = NULL;
		be_emit_tx(c, t);
	}
}

/* be_corr_flush - see be_corr.h */
void be_corr_flush(be_corr *c)
{
	while (c->lru_head)
		be_tx_complete(c, c->lru_head);
	be_corr_release(c);
}

/* be_corr_get_stats - see be_corr.h */
void be_corr_get_stats(const be_corr *c, be_corr_stats *s)
{
	*s = c->st;
	s->open = c->nopen;
	s->pending_hops = c->npending;
}
