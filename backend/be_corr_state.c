/*
 * be_corr_state - save the engine's state and reload it after a restart.
 *
 * Text format (version 2), one record per line, tab-separated fields,
 * strings escaped (\\ \xNN for control bytes and tabs, \- for NULL):
 *   else-corr-state 2
 *   C clock_us
 *   T email host qid flags first last start complete nlines size nrcpt from
 *     msgid client_host client_ip sasl orig_qid prevhost prevqid dsnofhost dsnofqid
 *   R to orig_to status status_text dsn relay_host relay_ip relay_port attempts
 *     delay queued_as response nexthost nextqid [via]
 *     (via, be_via, was added later: an R line without it restores as none)
 *   A event stage text time_us
 *   D host qid
 *   J time session pid port temporary event qid client_host client_ip helo from
 *     to stage proto code dsn reason line_key
 *   S host postscreen pid start client_host client_ip port passed rejected tests
 *     txs (space-separated queue IDs of the session's transactions)
 *   P qid uphost upqid rcpt time email message_id
 *   H host clock_us   (newest line time seen per host)
 * R, A, D and J lines belong to the T line before them.  Open transactions
 * come first, then the completed ones still lingering, in completion order
 * (complete > 0), so a restart neither forgets deferred mail nor drops a
 * story that was about to be written; then SMTP sessions in progress (S) and
 * relay hops waiting for the other host's lines (P).  The file is checked on
 * load like any untrusted input.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be_corr_int.h"
#include "el_buf.h"

#define BE_ST_MAXF 24

/* be_st_str - append a tab and an escaped string field (\- for NULL) */
static void be_st_str(el_buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	el_buf_addc(b, '\t');
	if (s == NULL) {
		el_buf_addlit(b, "\\-");
		return;
	}
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\\') {
			el_buf_addlit(b, "\\\\");
		} else if (ch < 0x20 || ch == 0x7f) {
			char e[4] = { '\\', 'x', hex[ch >> 4], hex[ch & 15] };
			el_buf_add(b, e, 4);
		} else {
			el_buf_addc(b, (char)ch);
		}
	}
}

/* be_st_num_out - append a tab and a signed number */
static void be_st_num_out(el_buf *b, int64_t v)
{
	el_buf_addc(b, '\t');
	el_buf_add_i64(b, v);
}

/* be_st_ref - host and queue ID of a link, or two NULLs */
static void be_st_ref(el_buf *b, const be_corr *c, const be_ref *r)
{
	be_st_str(b, r->qid[0] ? be_corr_host_name(c, r->host).p : NULL);
	be_st_str(b, r->qid[0] ? r->qid : NULL);
}

/* be_st_tx - one transaction and its dependent lines */
static void be_st_tx(el_buf *b, const be_corr *c, const be_tx *t)
{
	uint32_t i;
	char d[32];

	el_buf_addc(b, 'T');
	be_st_num_out(b, (int64_t)t->email_id);
	be_st_str(b, be_corr_host_name(c, t->host).p);
	be_st_str(b, t->qid);
	be_st_num_out(b, t->flags);
	be_st_num_out(b, t->first_us);
	be_st_num_out(b, t->last_us);
	be_st_num_out(b, t->start_us);
	be_st_num_out(b, t->complete_us);
	be_st_num_out(b, t->nlines);
	be_st_num_out(b, t->size);
	be_st_num_out(b, t->nrcpt);
	be_st_str(b, t->from);
	be_st_str(b, t->message_id);
	be_st_str(b, t->client_host);
	be_st_str(b, t->client_ip);
	be_st_str(b, t->sasl_username);
	be_st_str(b, t->orig_qid);
	be_st_ref(b, c, &t->prev);
	be_st_ref(b, c, &t->dsn_of);
	el_buf_addc(b, '\n');
	for (i = 0; i < t->nrcpts; i++) {
		const be_rcpt *r = &t->rcpts[i];
		el_buf_addc(b, 'R');
		be_st_str(b, r->to);
		be_st_str(b, r->orig_to);
		be_st_num_out(b, r->status);
		be_st_str(b, r->status_text);
		be_st_str(b, r->dsn);
		be_st_str(b, r->relay_host);
		be_st_str(b, r->relay_ip);
		be_st_num_out(b, r->relay_port);
		be_st_num_out(b, r->attempts);
		snprintf(d, sizeof(d), "\t%.3f", r->delay);
		el_buf_add(b, d, strlen(d));
		be_st_str(b, r->queued_as);
		be_st_str(b, r->response);
		be_st_ref(b, c, &r->next);
		be_st_num_out(b, r->via);
		el_buf_addc(b, '\n');
	}
	for (i = 0; i < t->nactions; i++) {
		const be_action *a = &t->actions[i];
		el_buf_addc(b, 'A');
		be_st_num_out(b, a->event);
		be_st_str(b, a->stage);
		be_st_str(b, a->text);
		be_st_num_out(b, a->time_us);
		el_buf_addc(b, '\n');
	}
	for (i = 0; i < t->ndsn; i++) {
		el_buf_addc(b, 'D');
		be_st_ref(b, c, &t->dsn[i]);
		el_buf_addc(b, '\n');
	}
	for (i = 0; i < t->nrejects; i++) {
		const be_reject *j = &t->rejects[i];
		el_buf_addc(b, 'J');
		be_st_num_out(b, j->time_us);
		be_st_num_out(b, j->session_us);
		be_st_num_out(b, j->pid);
		be_st_num_out(b, j->client_port);
		be_st_num_out(b, j->temporary);
		be_st_num_out(b, j->event);
		be_st_str(b, j->qid);
		be_st_str(b, j->client_host);
		be_st_str(b, j->client_ip);
		be_st_str(b, j->helo);
		be_st_str(b, j->from);
		be_st_str(b, j->to);
		be_st_str(b, j->stage);
		be_st_str(b, j->proto);
		be_st_str(b, j->reject_code);
		be_st_str(b, j->reject_dsn);
		be_st_str(b, j->reason);
		be_st_num_out(b, (int64_t)j->line_key);
		el_buf_addc(b, '\n');
	}
}

/* be_corr_dump_buf - see be_corr.h */
void be_corr_dump_buf(be_corr *c, el_buf *b)
{
	const be_tx *t;

	el_buf_addlit(b, "else-corr-state 2\nC");
	be_st_num_out(b, c->clock_us);
	el_buf_addc(b, '\n');
	for (t = c->lru_head; t; t = t->lru_next)
		be_st_tx(b, c, t);
	for (t = c->done_head; t; t = t->done_next)
		be_st_tx(b, c, t);
	for (size_t i = 0; i < c->sessions.cap; i++) {
		const be_session *s =
			c->sessions.ents[i].hash >= 2 ? c->sessions.ents[i].val : NULL;
		if (s == NULL)
			continue;
		el_buf_addc(b, 'S');
		be_st_str(b, be_corr_host_name(c, s->host).p);
		be_st_num_out(b, s->is_postscreen);
		be_st_num_out(b, s->pid);
		be_st_num_out(b, s->start_us);
		be_st_str(b, s->client_host);
		be_st_str(b, s->client_ip);
		be_st_num_out(b, s->client_port);
		be_st_num_out(b, s->passed);
		be_st_num_out(b, s->rejected);
		be_st_str(b, s->ps_tests);
		el_buf qids;
		el_buf_init(&qids);
		for (uint32_t k = 0; k < s->ntxs; k++) {
			const be_tx *st = be_find_id(c, s->txs[k]);
			if (st == NULL)
				continue;
			if (qids.len)
				el_buf_addc(&qids, ' ');
			el_buf_add(&qids, st->qid, strlen(st->qid));
		}
		el_buf_addc(&qids, '\0');
		be_st_str(b, qids.p);
		el_buf_fini(&qids);
		el_buf_addc(b, '\n');
	}
	for (uint32_t h = 0; h < c->nhosts; h++) {
		if (c->host_clock[h] == 0)
			continue;
		el_buf_addc(b, 'H');
		be_st_str(b, c->hosts[h]);
		be_st_num_out(b, c->host_clock[h]);
		el_buf_addc(b, '\n');
	}
	for (size_t i = 0; i < c->pending.cap; i++) {
		const el_map_ent *e = &c->pending.ents[i];
		if (e->hash < 2)
			continue;
		const be_vec *v = e->val;
		char qid[40];
		be_copy_fixed(qid, sizeof(qid), el_map_ent_key(e));
		for (uint32_t k = 0; k < v->n; k++) {
			const be_pending_hop *p = v->v[k];
			el_buf_addc(b, 'P');
			be_st_str(b, qid);
			be_st_ref(b, c, &p->ref);
			be_st_num_out(b, p->rcpt);
			be_st_num_out(b, p->time_us);
			be_st_num_out(b, (int64_t)p->email_id);
			be_st_str(b, p->message_id);
			el_buf_addc(b, '\n');
		}
	}
}

/* be_corr_dump - see be_corr.h */
int be_corr_dump(be_corr *c, FILE *f)
{
	el_buf b;
	int rc = 0;

	el_buf_init(&b);
	be_corr_dump_buf(c, &b);
	if (b.len && fwrite(b.p, 1, b.len, f) != b.len)
		rc = -EIO;
	el_buf_fini(&b);
	return rc;
}

/* be_st_split - split a line at tabs and unescape fields in place */
static int be_st_split(char *line, char **fld, bool *null)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *start = p, *o = p;
		if (n >= BE_ST_MAXF)
			return -1;
		null[n] = false;
		while (*p && *p != '\t') {
			if (*p != '\\') {
				*o++ = *p++;
				continue;
			}
			p++;
			if (*p == '\\') {
				*o++ = '\\';
				p++;
			} else if (*p == '-') {
				null[n] = true;
				p++;
			} else if (*p == 'x' && p[1] && p[2]) {
				char h[3] = { p[1], p[2], 0 };
				char *end;
				long v = strtol(h, &end, 16);
				if (*end || v == 0)
					return -1;
				*o++ = (char)v;
				p += 3;
			} else {
				return -1;
			}
		}
		char *next = *p ? p + 1 : NULL;
		*o = '\0';
		fld[n++] = start;
		if (next == NULL)
			return n;
		p = next;
	}
}

/* be_st_num - a signed number field within [lo, hi] */
static int be_st_num(const char *s, long long lo, long long hi, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return (errno || *end || end == s || *v < lo || *v > hi) ? -1 : 0;
}

/* be_st_opt - a kept string or NULL */
static char *be_st_opt(const char *s, bool is_null)
{
	return is_null ? NULL : be_strdup(el_span_make(s, strlen(s)));
}

/* be_st_sp - a field as a span */
static el_span be_st_sp(const char *s)
{
	return el_span_make(s, strlen(s));
}

/* be_st_getref - a link from two fields (both NULL: no link) */
static int be_st_getref(be_corr *c, char **fld, bool *null, int i, be_ref *r)
{
	if (null[i] && null[i + 1])
		return 0;
	if (null[i] || null[i + 1] || fld[i + 1][0] == '\0' || strlen(fld[i + 1]) >= sizeof(r->qid))
		return -1;
	r->host = be_host_id(c, be_st_sp(fld[i]));
	be_copy_fixed(r->qid, sizeof(r->qid), be_st_sp(fld[i + 1]));
	return 0;
}

/* be_st_line - one record into the engine; t is the current transaction */
static int be_st_line(be_corr *c, char **fld, bool *null, int nf, be_tx **tp)
{
	be_tx *t = *tp;
	long long v[12];

	switch (fld[0][0] | (fld[0][1] ? 0x100 : 0)) {
	case 'C':
		if (nf != 2 || be_st_num(fld[1], 0, INT64_MAX, &v[0]) < 0)
			return -1;
		c->clock_us = v[0];
		return 0;
	case 'T': {
		if (nf != 22)
			return -1;
		static const int numf[] = { 1, 4, 5, 6, 7, 8, 9, 10, 11 };
		for (int k = 0; k < 9; k++)
			if (be_st_num(fld[numf[k]], k == 0 ? INT64_MIN : 0, INT64_MAX, &v[k]) < 0)
				return -1;
		size_t ql = strlen(fld[3]);
		if (ql == 0 || ql >= sizeof(t->qid) || v[1] > 0xffff || v[8] > INT32_MAX)
			return -1;
		t = be_tx_new(c, be_host_id(c, be_st_sp(fld[2])), el_span_make(fld[3], ql), v[2]);
		*tp = t;
		t->email_id = (uint64_t)v[0];
		t->flags = (unsigned)v[1];
		t->first_us = v[2];
		t->last_us = v[3];
		t->start_us = v[4];
		t->nlines = (uint32_t)v[6];
		t->size = v[7];
		t->nrcpt = (int32_t)v[8];
		t->from = be_st_opt(fld[12], null[12]);
		t->message_id = be_st_opt(fld[13], null[13]);
		t->client_host = be_st_opt(fld[14], null[14]);
		t->client_ip = be_st_opt(fld[15], null[15]);
		t->sasl_username = be_st_opt(fld[16], null[16]);
		t->orig_qid = be_st_opt(fld[17], null[17]);
		if (be_st_getref(c, fld, null, 18, &t->prev) < 0 ||
		    be_st_getref(c, fld, null, 20, &t->dsn_of) < 0)
			return -1;
		if (v[5] > 0) {
			be_tx_complete(c, t);
			t->complete_us = v[5];
		}
		return 0;
	}
	case 'R': {
		uint32_t ri;
		v[3] = BE_VIA_NONE;
		if ((nf != 15 && nf != 16) || t == NULL ||
		    be_st_num(fld[3], 0, BE_RS_OTHER, &v[0]) < 0 ||
		    be_st_num(fld[8], 0, 65535, &v[1]) < 0 ||
		    be_st_num(fld[9], 0, UINT32_MAX, &v[2]) < 0 ||
		    (nf == 16 && be_st_num(fld[15], 0, BE_VIA_SMTP, &v[3]) < 0))
			return -1;
		be_rcpt *r = be_rcpt_get(t, be_st_sp(fld[1]),
					 null[2] ? (el_span){ NULL, 0 } : be_st_sp(fld[2]), &ri);
		if (r == NULL)
			return -1;
		r->status = (be_rstatus)v[0];
		r->status_text = be_st_opt(fld[4], null[4]);
		be_copy_fixed(r->dsn, sizeof(r->dsn), be_st_sp(fld[5]));
		r->relay_host = be_st_opt(fld[6], null[6]);
		r->relay_ip = be_st_opt(fld[7], null[7]);
		r->relay_port = (uint32_t)v[1];
		r->attempts = (uint32_t)v[2];
		r->delay = strtod(fld[10], NULL);
		be_copy_fixed(r->queued_as, sizeof(r->queued_as), be_st_sp(fld[11]));
		r->response = be_st_opt(fld[12], null[12]);
		r->via = (uint8_t)v[3];
		return be_st_getref(c, fld, null, 13, &r->next);
	}
	case 'A': {
		if (nf != 5 || t == NULL || be_st_num(fld[1], 0, EL_EV__COUNT - 1, &v[0]) < 0 ||
		    be_st_num(fld[4], INT64_MIN, INT64_MAX, &v[1]) < 0)
			return -1;
		el_rec tmp;
		memset(&tmp, 0, sizeof(tmp));
		tmp.event = (el_event)v[0];
		if (!null[2]) {
			tmp.f[tmp.nf].key = EL_F_STAGE;
			tmp.f[tmp.nf++].val = be_st_sp(fld[2]);
		}
		if (!null[3]) {
			tmp.f[tmp.nf].key = EL_F_TEXT;
			tmp.f[tmp.nf++].val = be_st_sp(fld[3]);
		}
		for (unsigned k = 0; k < tmp.nf; k++)
			tmp.idx[tmp.f[k].key] = (uint8_t)(k + 1);
		be_add_action(t, &tmp, v[1]);
		return 0;
	}
	case 'D':
		if (nf != 3 || t == NULL || t->ndsn >= 4)
			return -1;
		return be_st_getref(c, fld, null, 1, &t->dsn[t->ndsn++]);
	case 'J': {
		if (nf != 19 || be_st_num(fld[18], INT64_MIN, INT64_MAX, &v[6]) < 0 || t == NULL ||
		    t->nrejects >= 16)
			return -1;
		if (be_st_num(fld[1], INT64_MIN, INT64_MAX, &v[0]) < 0 ||
		    be_st_num(fld[2], INT64_MIN, INT64_MAX, &v[1]) < 0 ||
		    be_st_num(fld[3], 0, UINT32_MAX, &v[2]) < 0 ||
		    be_st_num(fld[4], 0, 65535, &v[3]) < 0 || be_st_num(fld[5], 0, 1, &v[4]) < 0 ||
		    be_st_num(fld[6], 0, EL_EV__COUNT - 1, &v[5]) < 0)
			return -1;
		be_reject *n = realloc(t->rejects, (t->nrejects + 1) * sizeof(*n));
		if (n == NULL)
			return -1;
		t->rejects = n;
		be_reject *j = &t->rejects[t->nrejects++];
		memset(j, 0, sizeof(*j));
		j->host = t->host;
		j->time_us = v[0];
		j->session_us = v[1];
		j->pid = (uint32_t)v[2];
		j->client_port = (uint32_t)v[3];
		j->temporary = v[4] != 0;
		j->event = (el_event)v[5];
		j->line_key = (uint64_t)v[6];
		be_copy_fixed(j->qid, sizeof(j->qid), be_st_sp(fld[7]));
		const char **dst[] = { &j->client_host, &j->client_ip, &j->helo,  &j->from,
				       &j->to,          &j->stage,     &j->proto, &j->reject_code,
				       &j->reject_dsn,  &j->reason };
		for (int k = 0; k < 10; k++)
			*dst[k] = be_st_opt(fld[8 + k], null[8 + k]);
		return 0;
	}
	case 'S': {
		if (nf != 12 || be_st_num(fld[2], 0, 1, &v[0]) < 0 ||
		    be_st_num(fld[3], 0, UINT32_MAX, &v[1]) < 0 ||
		    be_st_num(fld[4], INT64_MIN, INT64_MAX, &v[2]) < 0 ||
		    be_st_num(fld[7], 0, 65535, &v[3]) < 0 || be_st_num(fld[8], 0, 1, &v[4]) < 0 ||
		    be_st_num(fld[9], 0, 1, &v[5]) < 0 || (v[0] && null[6]))
			return -1;
		be_session *s = be_session_put(
			c, be_host_id(c, be_st_sp(fld[1])), v[0] != 0, (uint32_t)v[1],
			null[6] ? (el_span){ NULL, 0 } : be_st_sp(fld[6]), (uint32_t)v[3]);
		if (s == NULL)
			return -1;
		s->start_us = v[2];
		s->client_host = be_st_opt(fld[5], null[5]);
		s->client_ip = be_st_opt(fld[6], null[6]);
		s->passed = v[4] != 0;
		s->rejected = v[5] != 0;
		if (!null[10] && strlen(fld[10]) < 256)
			s->ps_tests = be_st_opt(fld[10], false);
		for (char *q = strtok(fld[11], " "); q && s->ntxs < 8; q = strtok(NULL, " ")) {
			char kb[48];
			size_t ql = strlen(q);
			be_tx *st = ql < 32 ? el_map_get(&c->txmap, be_key_hq(kb, s->host, q, ql))
					    : NULL;
			if (st)
				s->txs[s->ntxs++] = st->id;
		}
		return 0;
	}
	case 'H': {
		if (nf != 3 || be_st_num(fld[2], 0, INT64_MAX, &v[0]) < 0)
			return -1;
		c->host_clock[be_host_id(c, be_st_sp(fld[1]))] = v[0];
		return 0;
	}
	case 'P': {
		be_ref up;
		char kb[48];
		if (nf != 8 || fld[1][0] == '\0' || strlen(fld[1]) >= sizeof(up.qid) ||
		    be_st_num(fld[4], 0, UINT32_MAX, &v[0]) < 0 ||
		    be_st_num(fld[5], INT64_MIN, INT64_MAX, &v[1]) < 0 ||
		    be_st_num(fld[6], INT64_MIN, INT64_MAX, &v[2]) < 0)
			return -1;
		memset(&up, 0, sizeof(up));
		if (be_st_getref(c, fld, null, 2, &up) < 0 || up.qid[0] == '\0')
			return -1;
		be_tx *a = el_map_get(&c->txmap, be_key_hq(kb, up.host, up.qid, strlen(up.qid)));
		be_pending_hop *p = calloc(1, sizeof(*p));
		if (p == NULL)
			return -1;
		p->tx = a ? a->id : 0;
		p->rcpt = (uint32_t)v[0];
		p->time_us = v[1];
		p->ref = up;
		p->email_id = (uint64_t)v[2];
		p->message_id = be_st_opt(fld[7], null[7]);
		el_span q = be_st_sp(fld[1]);
		be_vec *vec = el_map_get(&c->pending, q);
		if (vec == NULL) {
			vec = calloc(1, sizeof(*vec));
			if (vec == NULL) {
				free(p->message_id);
				free(p);
				return -1;
			}
			el_map_put(&c->pending, q, vec);
		}
		be_vec_push(vec, p);
		c->npending++;
		return 0;
	}
	default:
		return -1;
	}
}

/* be_corr_restore_buf - see be_corr.h */
int be_corr_restore_buf(be_corr *c, el_span s)
{
	static const char magic[] = "else-corr-state 2\n";
	char *copy, *line, *end;
	char *fld[BE_ST_MAXF];
	bool null[BE_ST_MAXF];
	be_tx *t = NULL;
	int rc = 0;

	if (s.len < sizeof(magic) - 1 || memcmp(s.p, magic, sizeof(magic) - 1) != 0)
		return -EINVAL;
	copy = malloc(s.len + 1);
	if (copy == NULL)
		return -ENOMEM;
	memcpy(copy, s.p, s.len);
	copy[s.len] = '\0';
	if (memchr(copy, '\0', s.len)) {
		free(copy);
		return -EINVAL;
	}
	for (line = copy + sizeof(magic) - 1; *line; line = end + 1) {
		end = strchr(line, '\n');
		if (end == NULL) {
			rc = -EINVAL; /* every record ends with a newline */
			break;
		}
		*end = '\0';
		int nf = be_st_split(line, fld, null);
		if (nf < 1 || be_st_line(c, fld, null, nf, &t) < 0) {
			rc = -EINVAL;
			break;
		}
	}
	free(copy);
	return rc;
}

/* be_corr_restore - see be_corr.h */
int be_corr_restore(be_corr *c, FILE *f)
{
	el_buf b;
	char chunk[65536];
	size_t n;
	int rc;

	el_buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		el_buf_add(&b, chunk, n);
	rc = ferror(f) ? -EIO : be_corr_restore_buf(c, el_span_make(b.p, b.len));
	el_buf_fini(&b);
	return rc;
}
