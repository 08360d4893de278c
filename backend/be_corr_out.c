/*
 * be_corr_out - what a finished transaction or reject looks like to the
 * outside: its status, its emission, and the JSON of else-parse --flows
 * (documented in docs/flows.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_corr_int.h"
#include "be_flow_json.h"
#include "el_json.h"

/* be_tx_status - the transaction's status from its flags and recipients */
be_tstatus be_tx_status(const be_tx *t)
{
	uint32_t sent = 0, bounced = 0, expired = 0, waiting = 0, i;

	if (t->flags & BE_TX_DISCARDED)
		return BE_TS_DISCARDED;
	if (t->flags & BE_TX_REJECTED)
		return BE_TS_REJECTED;
	for (i = 0; i < t->nrcpts; i++) {
		switch (t->rcpts[i].status) {
		case BE_RS_SENT:
		case BE_RS_OTHER:
			sent++;
			break;
		case BE_RS_BOUNCED:
			bounced++;
			break;
		case BE_RS_EXPIRED:
			expired++;
			break;
		default:
			waiting++;
			break;
		}
	}
	if (t->flags & BE_TX_HELD && !(t->flags & BE_TX_REMOVED))
		return BE_TS_HELD;
	if (t->flags & BE_TX_ABORTED)
		return BE_TS_REJECTED;
	if (waiting && !(t->flags & BE_TX_REMOVED))
		return sent + bounced + expired ? BE_TS_PARTIAL : BE_TS_DEFERRED;
	if (t->nrcpts == 0 || (t->nrcpts == waiting))
		return BE_TS_OPEN;
	if (sent == t->nrcpts)
		return BE_TS_DELIVERED;
	if (bounced == t->nrcpts)
		return BE_TS_BOUNCED;
	if (expired == t->nrcpts)
		return BE_TS_EXPIRED;
	return BE_TS_PARTIAL;
}

/* be_tstatus_name - JSON name of a transaction status */
const char *be_tstatus_name(be_tstatus s)
{
	static const char *const names[] = { "open",     "delivered", "bounced",
					     "deferred", "expired",   "partial",
					     "rejected", "discarded", "held" };
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "open";
}

/* be_rstatus_name - JSON name of a recipient's outcome */
const char *be_rstatus_name(const be_rcpt *r)
{
	switch (r->status) {
	case BE_RS_SENT:
		return "sent";
	case BE_RS_DEFERRED:
		return "deferred";
	case BE_RS_BOUNCED:
		return "bounced";
	case BE_RS_EXPIRED:
		return "expired";
	case BE_RS_OTHER:
		return r->status_text ? r->status_text : "other";
	default:
		return "pending";
	}
}

/* be_emit_tx - unindex t, hand it to the output, free it */
void be_emit_tx(be_corr *c, be_tx *t)
{
	char kb[48];
	el_span q = el_span_make(t->qid, strlen(t->qid));
	el_span hk = be_key_hq(kb, t->host, t->qid, q.len);
	be_vec *v;

	if (el_map_get(&c->txmap, hk) == t)
		el_map_del(&c->txmap, hk);
	memcpy(kb, &t->id, 8);
	el_map_del(&c->byid, el_span_make(kb, 8));
	v = el_map_get(&c->byqid, q);
	if (v) {
		be_vec_remove(v, t);
		if (v->n == 0) {
			el_map_del(&c->byqid, q);
			free(v->v);
			free(v);
		}
	}
	c->st.tx_emitted++;
	for (uint32_t i = 0; i < t->nrejects; i++) {
		t->rejects[i].email_id = t->email_id;
		if (c->out.reject)
			c->out.reject(c->out.arg, c, &t->rejects[i]);
	}
	if (c->out.tx)
		c->out.tx(c->out.arg, c, t);
	be_tx_free(t);
}

/* be_json_time - "2026-11-22T13:23:01.123456Z" */
static void be_json_time(el_buf *b, int64_t us)
{
	el_rec r;

	memset(&r, 0, sizeof(r));
	r.time_s = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
	r.time_us = (int32_t)(us - r.time_s * 1000000);
	r.time_digits = r.time_us ? 6 : 0;
	r.flags = EL_REC_HAS_TIME | EL_REC_TZ_KNOWN;
	el_buf_addc(b, '"');
	el_rec_time_iso(&r, b);
	el_buf_addc(b, '"');
}

/* be_json_kstr - ,"key":"value" when value is set */
static void be_json_kstr(el_buf *b, const char *k, const char *v)
{
	if (v == NULL)
		return;
	el_buf_addc(b, ',');
	el_json_key(b, k, strlen(k));
	el_json_str(b, el_span_make(v, strlen(v)));
}

/* be_json_kint - ,"key":n */
static void be_json_kint(el_buf *b, const char *k, int64_t v)
{
	el_buf_addc(b, ',');
	el_json_key(b, k, strlen(k));
	el_buf_add_i64(b, v);
}

/* be_json_email - the e-mail id as 16 hex digits */
static void be_json_email(el_buf *b, uint64_t e)
{
	char hex[20];

	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)e);
	be_json_kstr(b, "email_id", hex);
}

/* be_json_ref - ,"key":{"host":..,"queue_id":..} */
static void be_json_ref(el_buf *b, const be_corr *c, const char *k, const be_ref *r)
{
	el_buf_addc(b, ',');
	el_json_key(b, k, strlen(k));
	el_buf_addlit(b, "{\"host\":");
	el_json_str(b, be_corr_host_name(c, r->host));
	el_buf_addlit(b, ",\"queue_id\":");
	el_json_str(b, el_span_make(r->qid, strlen(r->qid)));
	el_buf_addc(b, '}');
}

/* be_tx_json - see be_flow_json.h */
void be_tx_json(const be_corr *c, const be_tx *t, el_buf *b)
{
	uint32_t i;

	el_buf_addlit(b, "{\"kind\":\"message\"");
	be_json_email(b, t->email_id);
	el_buf_addlit(b, ",\"host\":");
	el_json_str(b, be_corr_host_name(c, t->host));
	be_json_kstr(b, "queue_id", t->qid);
	el_buf_addlit(b, ",\"first_seen\":");
	be_json_time(b, t->first_us);
	el_buf_addlit(b, ",\"last_seen\":");
	be_json_time(b, t->last_us);
	be_json_kstr(b, "client_host", t->client_host);
	be_json_kstr(b, "client_ip", t->client_ip);
	be_json_kstr(b, "sasl_username", t->sasl_username);
	be_json_kstr(b, "from", t->from);
	if (t->size)
		be_json_kint(b, "size", t->size);
	if (t->nrcpt)
		be_json_kint(b, "nrcpt", t->nrcpt);
	be_json_kstr(b, "message_id", t->message_id);
	be_json_kstr(b, "status", be_tstatus_name(be_tx_status(t)));
	el_buf_addlit(b, ",\"recipients\":[");
	for (i = 0; i < t->nrcpts; i++) {
		const be_rcpt *r = &t->rcpts[i];
		if (i)
			el_buf_addc(b, ',');
		el_buf_addlit(b, "{\"to\":");
		el_json_str(b, el_span_make(r->to, strlen(r->to)));
		be_json_kstr(b, "orig_to", r->orig_to);
		be_json_kstr(b, "status", be_rstatus_name(r));
		if (r->dsn[0])
			be_json_kstr(b, "dsn", r->dsn);
		be_json_kstr(b, "relay_host", r->relay_host);
		be_json_kstr(b, "relay_ip", r->relay_ip);
		if (r->relay_port)
			be_json_kint(b, "relay_port", r->relay_port);
		be_json_kstr(b, "response", r->response);
		be_json_kint(b, "attempts", r->attempts);
		if (r->attempts) {
			char d[32];
			snprintf(d, sizeof(d), "%.2f", r->delay);
			el_buf_addlit(b, ",\"delay\":");
			el_buf_add(b, d, strlen(d));
		}
		if (r->queued_as[0])
			be_json_kstr(b, "queued_as", r->queued_as);
		if (r->next.qid[0])
			be_json_ref(b, c, "next_hop", &r->next);
		el_buf_addc(b, '}');
	}
	el_buf_addc(b, ']');
	if (t->prev.qid[0])
		be_json_ref(b, c, "prev_hop", &t->prev);
	if (t->dsn_of.qid[0])
		be_json_ref(b, c, "dsn_of", &t->dsn_of);
	if (t->ndsn) {
		el_buf_addlit(b, ",\"dsn\":[");
		for (i = 0; i < t->ndsn; i++) {
			if (i)
				el_buf_addc(b, ',');
			el_buf_addlit(b, "{\"host\":");
			el_json_str(b, be_corr_host_name(c, t->dsn[i].host));
			el_buf_addlit(b, ",\"queue_id\":");
			el_json_str(b, el_span_make(t->dsn[i].qid, strlen(t->dsn[i].qid)));
			el_buf_addc(b, '}');
		}
		el_buf_addc(b, ']');
	}
	if (t->nactions) {
		el_buf_addlit(b, ",\"actions\":[");
		for (i = 0; i < t->nactions; i++) {
			const be_action *a = &t->actions[i];
			const char *ev = el_event_name(a->event);
			if (i)
				el_buf_addc(b, ',');
			el_buf_addlit(b, "{\"action\":");
			el_json_str(b, el_span_make(ev, strlen(ev)));
			be_json_kstr(b, "stage", a->stage);
			be_json_kstr(b, "text", a->text);
			el_buf_addlit(b, ",\"time\":");
			be_json_time(b, a->time_us);
			el_buf_addc(b, '}');
		}
		el_buf_addc(b, ']');
	}
	be_json_kint(b, "lines", t->nlines);
	if (t->flags & (BE_TX_NO_START | BE_TX_EVICTED | BE_TX_ABORTED) ||
	    !(t->flags & (BE_TX_REMOVED | BE_TX_REJECTED | BE_TX_DISCARDED))) {
		/* What the story lacks, so nobody mistakes a gap for an outcome. */
		el_buf_addlit(b, ",\"incomplete\":[");
		bool first = true;
#define BE_GAP(cond, s)                                                                            \
	if (cond) {                                                                                \
		if (!first)                                                                        \
			el_buf_addc(b, ',');                                                       \
		el_buf_addlit(b, "\"" s "\"");                                                     \
		first = false;                                                                     \
	}
		BE_GAP(t->flags & BE_TX_NO_START, "no_start");
		BE_GAP(!(t->flags &
			 (BE_TX_REMOVED | BE_TX_REJECTED | BE_TX_DISCARDED | BE_TX_ABORTED)),
		       "not_removed");
		BE_GAP(t->flags & BE_TX_EVICTED, "evicted");
		BE_GAP(t->flags & BE_TX_ABORTED, "session_ended");
#undef BE_GAP
		el_buf_addc(b, ']');
	}
	el_buf_addc(b, '}');
}

/* be_reject_json - see be_flow_json.h */
void be_reject_json(const be_corr *c, const be_reject *j, el_buf *b)
{
	const char *ev = el_event_name(j->event);

	el_buf_addlit(b, "{\"kind\":\"reject\"");
	be_json_email(b, j->email_id);
	el_buf_addlit(b, ",\"host\":");
	el_json_str(b, be_corr_host_name(c, j->host));
	if (j->qid[0])
		be_json_kstr(b, "queue_id", j->qid);
	el_buf_addlit(b, ",\"time\":");
	be_json_time(b, j->time_us);
	if (j->session_us) {
		el_buf_addlit(b, ",\"session_start\":");
		be_json_time(b, j->session_us);
	}
	be_json_kstr(b, "event", ev);
	be_json_kstr(b, "status",
		     j->event == EL_EV_REJECT          ? (j->temporary ? "deferred" : "rejected")
		     : j->event == EL_EV_PS_DISCONNECT ? "dropped"
						       : "lost");
	if (j->pid)
		be_json_kint(b, "pid", j->pid);
	be_json_kstr(b, "client_host", j->client_host);
	be_json_kstr(b, "client_ip", j->client_ip);
	if (j->client_port)
		be_json_kint(b, "client_port", j->client_port);
	be_json_kstr(b, "helo", j->helo);
	be_json_kstr(b, "from", j->from);
	be_json_kstr(b, "to", j->to);
	be_json_kstr(b, "stage", j->stage);
	be_json_kstr(b, "proto", j->proto);
	be_json_kstr(b, "reject_code", j->reject_code);
	be_json_kstr(b, "reject_dsn", j->reject_dsn);
	be_json_kstr(b, "reason", j->reason);
	el_buf_addc(b, '}');
}
