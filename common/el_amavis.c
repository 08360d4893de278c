/*
 * el_amavis - amavisd-new result lines:
 *
 *   (02345-01) Passed CLEAN {RelayedInbound}, [10.0.0.1]:41234 [10.0.0.1]
 *   <a@x> -> <b@y>,<c@y>, Queue-ID: 4AbCd, Message-ID: <id@x>, mail_id: Xy,
 *   Hits: -0.1, size: 1234, queued_as: 4EfGh, 123 ms
 *
 *   (02345-02) Blocked INFECTED (Eicar-Signature) {DiscardedInbound,Quarantined}, ...
 *
 * Other amavis lines (startup, per-module notes) become event "amavis" with
 * their amavis_id and text.
 */
#include "el_parse_int.h"

/* el_amavis_attr - one "Key: value" of the attribute tail */
static void el_amavis_attr(el_rec *r, el_span k, el_span v)
{
	if (el_span_eq_lit(k, "Queue-ID"))
		el_rec_adds(r, EL_F_QUEUE_ID, v);
	else if (el_span_eq_lit(k, "Message-ID")) {
		if (v.len >= 2 && v.p[0] == '<' && v.p[v.len - 1] == '>')
			v = el_span_make(v.p + 1, v.len - 2);
		el_rec_adds(r, EL_F_MESSAGE_ID, v);
	} else if (el_span_eq_lit(k, "mail_id"))
		el_rec_adds(r, EL_F_MAIL_ID, v);
	else if (el_span_eq_lit(k, "Hits"))
		el_rec_adds(r, EL_F_HITS, v);
	else if (el_span_eq_lit(k, "size"))
		el_rec_adds(r, EL_F_SIZE, v);
	else if (el_span_eq_lit(k, "queued_as"))
		el_rec_adds(r, EL_F_QUEUED_AS, v);
}

/* el_amavis_parse - see el_parse_int.h */
void el_amavis_parse(el_rec *r, el_span s)
{
	size_t i = 0, j;

	if (s.len && s.p[0] == '(') {
		ptrdiff_t e = el_span_find(s, ')');
		if (e <= 1)
			return;
		el_rec_add(r, EL_F_AMAVIS_ID, s.p + 1, (size_t)e - 1);
		i = (size_t)e + 1;
		if (i < s.len && s.p[i] == ' ')
			i++;
	}
	el_span t = el_span_skip(s, i);
	r->event = EL_EV_AMAVIS;
	if (!EL_HAS_PREFIX(t, "Passed ") && !EL_HAS_PREFIX(t, "Blocked ") &&
	    !EL_HAS_PREFIX(t, "Not-Delivered ")) {
		el_rec_adds(r, EL_F_TEXT, t);
		return;
	}
	unsigned nf0 = r->nf;
	j = (size_t)el_span_find(t, ' ');
	el_rec_add(r, EL_F_AMAVIS_ACTION, t.p, j);
	t = el_span_skip(t, j + 1);
	/* Category: upper-case word with hyphens. */
	for (j = 0; j < t.len && (el_is_alnum(t.p[j]) || t.p[j] == '-'); j++)
		;
	if (j == 0)
		goto plain;
	el_rec_add(r, EL_F_AMAVIS_CATEGORY, t.p, j);
	t = el_span_skip(t, j);
	if (EL_HAS_PREFIX(t, " (")) {
		ptrdiff_t e = EL_FIND_LIT(t, ") ");
		if (e < 0)
			e = EL_FIND_LIT(t, "),");
		if (e < 2)
			goto plain;
		el_rec_add(r, EL_F_AMAVIS_DETAIL, t.p + 2, (size_t)e - 2);
		t = el_span_skip(t, (size_t)e + 1);
	}
	if (EL_HAS_PREFIX(t, " {")) {
		ptrdiff_t e = el_span_find(t, '}');
		if (e < 2)
			goto plain;
		el_rec_add(r, EL_F_AMAVIS_DISPOSITION, t.p + 2, (size_t)e - 2);
		t = el_span_skip(t, (size_t)e + 1);
	}
	if (!EL_HAS_PREFIX(t, ", "))
		goto plain;
	t = el_span_skip(t, 2);
	/* Client: "[ip]:port [ip]" or "LOCAL [ip]" before the sender. */
	ptrdiff_t arrow = EL_FIND_LIT(t, " -> ");
	if (arrow < 0)
		goto plain;
	el_span head = el_span_make(t.p, (size_t)arrow);
	ptrdiff_t lt = -1;
	for (j = head.len; j > 0; j--)
		if (head.p[j - 1] == '<' && (j == 1 || head.p[j - 2] == ' ')) {
			lt = (ptrdiff_t)j - 1;
			break;
		}
	if (lt < 0 || head.p[head.len - 1] != '>')
		goto plain;
	if (head.len && head.p[0] == '[') {
		ptrdiff_t rb = el_span_find(head, ']');
		if (rb > 1) {
			el_rec_add(r, EL_F_CLIENT_IP, head.p + 1, (size_t)rb - 1);
			if ((size_t)rb + 1 < head.len && head.p[rb + 1] == ':') {
				size_t p0 = (size_t)rb + 2, p1 = p0;
				while (p1 < head.len && el_is_digit(head.p[p1]))
					p1++;
				if (p1 > p0)
					el_rec_add(r, EL_F_CLIENT_PORT, head.p + p0, p1 - p0);
			}
		}
	}
	el_rec_add(r, EL_F_FROM, head.p + lt + 1, head.len - (size_t)lt - 2);
	t = el_span_skip(t, (size_t)arrow + 4);
	ptrdiff_t cs = EL_FIND_LIT(t, ", ");
	el_rec_add(r, EL_F_RECIPIENTS, t.p, cs < 0 ? t.len : (size_t)cs);
	t = cs < 0 ? el_span_skip(t, t.len) : el_span_skip(t, (size_t)cs + 2);
	while (t.len) {
		ptrdiff_t e = EL_FIND_LIT(t, ", ");
		el_span item = el_span_make(t.p, e < 0 ? t.len : (size_t)e);
		ptrdiff_t kc = EL_FIND_LIT(item, ": ");
		if (kc > 0) {
			el_amavis_attr(r, el_span_make(item.p, (size_t)kc),
				       el_span_skip(item, (size_t)kc + 2));
		} else if (item.len > 3 && memcmp(item.p + item.len - 3, " ms", 3) == 0 &&
			   el_all_digits(el_span_make(item.p, item.len - 3))) {
			el_rec_add(r, EL_F_ELAPSED_MS, item.p, item.len - 3);
		}
		t = e < 0 ? el_span_skip(t, t.len) : el_span_skip(t, (size_t)e + 2);
	}
	r->event = EL_EV_AMAVIS_RESULT;
	return;
plain:
	el_rec_drop_from(r, nf0);
	el_rec_adds(r, EL_F_TEXT, el_span_skip(s, i));
}
