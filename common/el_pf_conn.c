/*
 * el_pf_conn - Postfix lines about connections and actions rather than one
 * queue file: smtpd connect/disconnect/lost connection, TLS, policy and
 * content-check actions (reject, hold, discard, filter, ...), smtp connect
 * errors, postscreen verdicts, dnsblog, and the support daemons.
 */
#include "el_pf_int.h"

/* el_pf_env - see el_pf_int.h */
size_t el_pf_env(el_rec *r, el_span s)
{
	el_span k, v;
	size_t i = 0, last = 0;
	bool ang;

	while (el_pf_kv_next(s, &i, &k, &v, &ang)) {
		if (el_span_eq_lit(k, "from"))
			el_rec_adds(r, EL_F_FROM, v);
		else if (el_span_eq_lit(k, "to"))
			el_rec_adds(r, EL_F_TO, v);
		else if (el_span_eq_lit(k, "proto"))
			el_rec_adds(r, EL_F_PROTO, v);
		else if (el_span_eq_lit(k, "helo"))
			el_rec_adds(r, EL_F_HELO, v);
		else
			break;
		last = i;
	}
	return last;
}

/* el_pf_env_start - offset of the "; from=" (or proto/helo/to) tail, or -1 */
static ptrdiff_t el_pf_env_start(el_span s)
{
	size_t i = s.len;

	while (i > 2) {
		const char *q = memrchr(s.p, ';', i);
		if (q == NULL)
			return -1;
		size_t at = (size_t)(q - s.p);
		el_span t = el_span_skip(s, at + 1);
		if (EL_HAS_PREFIX(t, " from=<") || EL_HAS_PREFIX(t, " to=<") ||
		    EL_HAS_PREFIX(t, " proto=") || EL_HAS_PREFIX(t, " helo=<"))
			return (ptrdiff_t)at;
		i = at;
	}
	return -1;
}

/* el_pf_client_colon - end of "host[ip]" or "[ip]:port" before ": " */
static ptrdiff_t el_pf_client_end(el_span s)
{
	ptrdiff_t rb = EL_FIND_LIT(s, "]");
	size_t j;

	if (rb < 0)
		return -1;
	j = (size_t)rb + 1;
	if (j < s.len && s.p[j] == ':' && j + 1 < s.len && el_is_digit(s.p[j + 1])) {
		j++;
		while (j < s.len && el_is_digit(s.p[j]))
			j++;
	}
	return (ptrdiff_t)j;
}

/* el_pf_action_event - event for an action word */
static el_event el_pf_action_event(el_span a)
{
	switch (a.len) {
	case 3:
		return el_span_eq_lit(a, "bcc") ? EL_EV_BCC : EL_EV_UNPARSED;
	case 4:
		if (el_span_eq_lit(a, "hold"))
			return EL_EV_HOLD;
		if (el_span_eq_lit(a, "info"))
			return EL_EV_INFO_ACTION;
		if (el_span_eq_lit(a, "warn"))
			return EL_EV_WARN_ACTION;
		return EL_EV_UNPARSED;
	case 6:
		if (el_span_eq_lit(a, "reject"))
			return EL_EV_REJECT;
		if (el_span_eq_lit(a, "filter"))
			return EL_EV_FILTER;
		return EL_EV_UNPARSED;
	case 7:
		if (el_span_eq_lit(a, "discard"))
			return EL_EV_DISCARD;
		if (el_span_eq_lit(a, "warning"))
			return EL_EV_WARN_ACTION;
		if (el_span_eq_lit(a, "prepend"))
			return EL_EV_PREPEND;
		if (el_span_eq_lit(a, "replace"))
			return EL_EV_REPLACE;
		return EL_EV_UNPARSED;
	case 8:
		return el_span_eq_lit(a, "redirect") ? EL_EV_REDIRECT : EL_EV_UNPARSED;
	case 11:
		return el_span_eq_lit(a, "milter-hold") ? EL_EV_MILTER_HOLD : EL_EV_UNPARSED;
	case 13:
		return el_span_eq_lit(a, "milter-reject") ? EL_EV_MILTER_REJECT : EL_EV_UNPARSED;
	case 14:
		return el_span_eq_lit(a, "milter-discard") ? EL_EV_MILTER_DISCARD : EL_EV_UNPARSED;
	}
	return EL_EV_UNPARSED;
}

/*
 * el_pf_action_line - the action lines of smtpd, postscreen and cleanup:
 *   reject: RCPT from h[ip]: 554 5.7.1 <x>: Relay access denied; from=<a> to=<b> proto=ESMTP helo=<h>
 *   reject: RCPT from [ip]:port: 550 5.7.1 ...; from=<a>, to=<b>, proto=ESMTP, helo=<h>
 *   hold: header Subject: x from h[ip]; from=<a> to=<b> proto=ESMTP helo=<h>: optional text
 *   milter-reject: END-OF-MESSAGE from h[ip]: 5.7.1 text; from=<a> to=<b> proto=ESMTP helo=<h>
 */
bool el_pf_action_line(el_rec *r, el_span s)
{
	unsigned nf0 = r->nf;
	ptrdiff_t colon = EL_FIND_LIT(s, ": "), env, f;
	el_event ev;
	el_span a, rest, body;

	if (colon <= 0)
		return false;
	a = el_span_make(s.p, (size_t)colon);
	ev = el_pf_action_event(a);
	if (ev == EL_EV_UNPARSED)
		return false;
	rest = el_span_skip(s, (size_t)colon + 2);
	el_rec_adds(r, EL_F_ACTION, a);
	env = el_pf_env_start(rest);
	body = env >= 0 ? el_span_make(rest.p, (size_t)env) : rest;

	if (EL_HAS_PREFIX(rest, "header ") || EL_HAS_PREFIX(rest, "body ") ||
	    EL_HAS_PREFIX(rest, "mime-header ") || EL_HAS_PREFIX(rest, "nested-header ")) {
		/* cleanup: KIND TEXT from CLIENT */
		ptrdiff_t sp = el_span_find(rest, ' ');
		el_rec_add(r, EL_F_STAGE, rest.p, (size_t)sp);
		el_span t = el_span_skip(body, (size_t)sp + 1);
		size_t k = t.len;
		f = -1;
		while (k > 6) {
			if (memcmp(t.p + k - 6, " from ", 6) == 0) {
				f = (ptrdiff_t)(k - 6);
				break;
			}
			k--;
		}
		if (f < 0) {
			el_rec_adds(r, EL_F_CHECK_TEXT, t);
		} else {
			el_rec_add(r, EL_F_CHECK_TEXT, t.p, (size_t)f);
			el_span cl = el_span_skip(t, (size_t)f + 6);
			if (!el_span_eq_lit(cl, "local"))
				el_pf_add_hostaddr(r, cl, EL_F_CLIENT_HOST, EL_F_CLIENT_IP,
						   EL_F_CLIENT_PORT);
			else
				el_rec_adds(r, EL_F_CLIENT_HOST, cl);
		}
		if (env >= 0) {
			el_span e = el_span_skip(rest, (size_t)env + 2);
			size_t used = el_pf_env(r, e);
			el_span tail = el_span_skip(e, used);
			if (EL_HAS_PREFIX(tail, ": "))
				el_pf_add_reply(r, el_span_skip(tail, 2));
		}
		r->event = ev;
		return true;
	}

	/* smtpd/postscreen: STAGE from CLIENT: REPLY */
	f = EL_FIND_LIT(body, " from ");
	if (f <= 0)
		goto bad;
	el_rec_add(r, EL_F_STAGE, body.p, (size_t)f);
	el_span cl = el_span_skip(body, (size_t)f + 6);
	ptrdiff_t ce = el_pf_client_end(cl);
	if (ce <= 0 || (size_t)ce + 2 > cl.len || cl.p[ce] != ':' || cl.p[ce + 1] != ' ')
		goto bad;
	el_pf_add_hostaddr(r, el_span_make(cl.p, (size_t)ce), EL_F_CLIENT_HOST, EL_F_CLIENT_IP,
			   EL_F_CLIENT_PORT);
	el_span reply = el_span_skip(cl, (size_t)ce + 2);
	if (ev == EL_EV_REJECT || ev == EL_EV_MILTER_REJECT)
		el_pf_add_reply(r, reply);
	else
		el_rec_adds(r, EL_F_REJECT_REASON, reply);
	if (env >= 0)
		el_pf_env(r, el_span_skip(rest, (size_t)env + 2));
	r->event = ev;
	return true;
bad:
	el_rec_drop_from(r, nf0);
	return false;
}

/* el_pf_after_from - "after STAGE[ (detail)] from h[ip]" as in "lost connection after DATA from ..." */
static bool el_pf_after_from(el_rec *r, el_span s, el_event ev)
{
	ptrdiff_t f = EL_FIND_LIT(s, " from ");
	el_span cl;
	ptrdiff_t ce;

	if (!EL_HAS_PREFIX(s, "after ") || f < 6)
		return false;
	el_rec_add(r, EL_F_STAGE, s.p + 6, (size_t)f - 6);
	cl = el_span_skip(s, (size_t)f + 6);
	ce = el_pf_client_end(cl);
	if (ce <= 0)
		return false;
	el_pf_add_hostaddr(r, el_span_make(cl.p, (size_t)ce), EL_F_CLIENT_HOST, EL_F_CLIENT_IP,
			   EL_F_CLIENT_PORT);
	if ((size_t)ce + 2 < cl.len)
		el_rec_adds(r, EL_F_TEXT, el_span_skip(cl, (size_t)ce + 2));
	r->event = ev;
	return true;
}

/*
 * el_pf_tls - "Anonymous TLS connection established from h[ip]: TLSv1.3 with
 * cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 ..."
 * (smtpd, tlsproxy) and "... established to h[ip]:port: ..." (smtp, lmtp).
 */
static bool el_pf_tls(el_rec *r, el_span s)
{
	ptrdiff_t e = EL_FIND_LIT(s, " TLS connection established ");
	el_span rest, peer, detail;
	bool to;
	ptrdiff_t ce, w;

	if (e <= 0)
		return false;
	el_rec_add(r, EL_F_TLS_LEVEL, s.p, (size_t)e);
	rest = el_span_skip(s, (size_t)e + 28);
	if (EL_HAS_PREFIX(rest, "from "))
		to = false;
	else if (EL_HAS_PREFIX(rest, "to "))
		to = true;
	else
		return false;
	peer = el_span_skip(rest, to ? 3 : 5);
	ce = el_pf_client_end(peer);
	if (ce <= 0)
		return false;
	if (to)
		el_pf_add_hostaddr(r, el_span_make(peer.p, (size_t)ce), EL_F_RELAY_HOST,
				   EL_F_RELAY_IP, EL_F_RELAY_PORT);
	else
		el_pf_add_hostaddr(r, el_span_make(peer.p, (size_t)ce), EL_F_CLIENT_HOST,
				   EL_F_CLIENT_IP, EL_F_CLIENT_PORT);
	detail = el_span_skip(peer, (size_t)ce + 2);
	w = EL_FIND_LIT(detail, " with cipher ");
	if (w > 0) {
		el_rec_add(r, EL_F_TLS_VERSION, detail.p, (size_t)w);
		el_span c = el_span_skip(detail, (size_t)w + 13);
		ptrdiff_t sp = el_span_find(c, ' ');
		el_rec_add(r, EL_F_TLS_CIPHER, c.p, sp < 0 ? c.len : (size_t)sp);
		if (sp > 0 && (size_t)sp + 1 < c.len && c.p[sp + 1] == '(') {
			el_span b = el_span_skip(c, (size_t)sp + 2);
			ptrdiff_t bits = EL_FIND_LIT(b, " bits)");
			if (bits > 0) {
				el_rec_add(r, EL_F_TLS_BITS, b.p, (size_t)bits);
				el_span more = el_span_skip(b, (size_t)bits + 6);
				if (more.len > 1)
					el_rec_adds(r, EL_F_TLS_DETAIL, el_span_skip(more, 1));
			}
		}
	}
	r->event = EL_EV_TLS;
	return true;
}

/* el_pf_psc_addr - postscreen "[ip]:port" at the start of s; returns bytes used */
static size_t el_pf_psc_addr(el_rec *r, el_span s, el_field_key ki, el_field_key kp)
{
	ptrdiff_t ce;

	if (s.len < 3 || s.p[0] != '[')
		return 0;
	ce = el_pf_client_end(s);
	if (ce <= 0)
		return 0;
	el_pf_add_hostaddr(r, el_span_make(s.p, (size_t)ce), EL_F__COUNT, ki, kp);
	return (size_t)ce;
}

/*
 * el_pf_postscreen - CONNECT from [ip]:port to [ip]:port, PASS NEW/OLD,
 * ALLOWLISTED/DENYLISTED (and the older WHITE/BLACK names), PREGREET n
 * after t from, HANGUP after t from, COMMAND PIPELINING/NON-SMTP COMMAND/
 * BARE NEWLINE ... from, DNSBL rank n for, DISCONNECT, cache cleanup.
 */
static bool el_pf_postscreen(el_rec *r, el_span s)
{
	static const char *const listed[] = {
		"ALLOWLISTED ", "DENYLISTED ",     "WHITELISTED ",
		"BLACKLISTED ", "ALLOWLIST VETO ", "WHITELIST VETO "
	};
	static const char *const viol[] = { "COMMAND PIPELINING ",
					    "NON-SMTP COMMAND ",
					    "BARE NEWLINE ",
					    "COMMAND TIME LIMIT ",
					    "COMMAND COUNT LIMIT ",
					    "COMMAND LENGTH LIMIT ",
					    "PREGREET ",
					    "HANGUP " };
	size_t i, n;

	if (EL_HAS_PREFIX(s, "CONNECT from ")) {
		el_span a = el_span_skip(s, 13);
		n = el_pf_psc_addr(r, a, EL_F_CLIENT_IP, EL_F_CLIENT_PORT);
		if (n && EL_HAS_PREFIX(el_span_skip(a, n), " to "))
			el_pf_psc_addr(r, el_span_skip(a, n + 4), EL_F_SERVER_IP, EL_F_SERVER_PORT);
		r->event = EL_EV_PS_CONNECT;
		return n > 0;
	}
	if (EL_HAS_PREFIX(s, "PASS ")) {
		el_span t = el_span_skip(s, 5);
		ptrdiff_t sp = el_span_find(t, ' ');
		if (sp <= 0)
			return false;
		el_rec_add(r, EL_F_PS_TEST, t.p, (size_t)sp);
		r->event = EL_EV_PS_PASS;
		return el_pf_psc_addr(r, el_span_skip(t, (size_t)sp + 1), EL_F_CLIENT_IP,
				      EL_F_CLIENT_PORT) > 0;
	}
	if (EL_HAS_PREFIX(s, "DISCONNECT ")) {
		r->event = EL_EV_PS_DISCONNECT;
		return el_pf_psc_addr(r, el_span_skip(s, 11), EL_F_CLIENT_IP, EL_F_CLIENT_PORT) > 0;
	}
	if (EL_HAS_PREFIX(s, "DNSBL rank ")) {
		el_span t = el_span_skip(s, 11);
		ptrdiff_t sp = EL_FIND_LIT(t, " for ");
		if (sp <= 0)
			return false;
		el_rec_add(r, EL_F_DNSBL_RANK, t.p, (size_t)sp);
		r->event = EL_EV_PS_DNSBL;
		return el_pf_psc_addr(r, el_span_skip(t, (size_t)sp + 5), EL_F_CLIENT_IP,
				      EL_F_CLIENT_PORT) > 0;
	}
	if (EL_HAS_PREFIX(s, "cache ")) {
		el_rec_adds(r, EL_F_TEXT, el_span_skip(s, 6));
		r->event = EL_EV_PS_CACHE;
		return true;
	}
	for (i = 0; i < sizeof(listed) / sizeof(listed[0]); i++) {
		size_t l = strlen(listed[i]);
		if (el_span_has_prefix(s, listed[i], l)) {
			el_rec_add(r, EL_F_PS_TEST, s.p, l - 1);
			r->event = EL_EV_PS_LISTED;
			return el_pf_psc_addr(r, el_span_skip(s, l), EL_F_CLIENT_IP,
					      EL_F_CLIENT_PORT) > 0;
		}
	}
	for (i = 0; i < sizeof(viol) / sizeof(viol[0]); i++) {
		size_t l = strlen(viol[i]);
		if (!el_span_has_prefix(s, viol[i], l))
			continue;
		el_rec_add(r, EL_F_PS_TEST, s.p, l - 1);
		el_span t = el_span_skip(s, l);
		/* PREGREET has a byte count first: "PREGREET 11 after 0.01 from" */
		if (i == 6) {
			ptrdiff_t sp = el_span_find(t, ' ');
			if (sp <= 0)
				return false;
			el_rec_add(r, EL_F_COUNT, t.p, (size_t)sp);
			t = el_span_skip(t, (size_t)sp + 1);
		}
		if (EL_HAS_PREFIX(t, "after ")) {
			el_span d = el_span_skip(t, 6);
			ptrdiff_t sp = el_span_find(d, ' ');
			if (sp <= 0)
				return false;
			el_rec_add(r, EL_F_DELAY, d.p, (size_t)sp);
			t = el_span_skip(d, (size_t)sp + 1);
		}
		if (!EL_HAS_PREFIX(t, "from "))
			return false;
		t = el_span_skip(t, 5);
		n = el_pf_psc_addr(r, t, EL_F_CLIENT_IP, EL_F_CLIENT_PORT);
		if (n == 0)
			return false;
		t = el_span_skip(t, n);
		if (t.len > 1)
			el_rec_adds(r, EL_F_PS_DETAIL, el_span_skip(t, t.p[0] == ':' ? 2 : 1));
		r->event = EL_EV_PS_VIOLATION;
		return true;
	}
	return false;
}

/* el_pf_master - "daemon started -- version 3.7.11, configuration /etc/postfix" */
static bool el_pf_master(el_rec *r, el_span s)
{
	ptrdiff_t v = EL_FIND_LIT(s, " -- version ");

	if (EL_HAS_PREFIX(s, "daemon started"))
		r->event = EL_EV_DAEMON_STARTED;
	else if (EL_HAS_PREFIX(s, "reload"))
		r->event = EL_EV_DAEMON_RELOAD;
	else if (EL_HAS_PREFIX(s, "terminating on signal ")) {
		el_rec_adds(r, EL_F_TEXT, s);
		r->event = EL_EV_DAEMON_TERMINATING;
		return true;
	} else
		return false;
	if (v > 0) {
		el_span t = el_span_skip(s, (size_t)v + 12);
		ptrdiff_t c = el_span_find(t, ',');
		el_rec_add(r, EL_F_VERSION, t.p, c < 0 ? t.len : (size_t)c);
	}
	el_rec_adds(r, EL_F_TEXT, s);
	return true;
}

/* el_pf_conn_line - see el_pf_int.h */
bool el_pf_conn_line(el_parse_ctx *c, el_rec *r, el_pf_daemon d, el_span s)
{
	(void)c;
	switch (d) {
	case EL_PF_SMTPD:
	case EL_PF_TLSPROXY:
		if (EL_HAS_PREFIX(s, "connect from ")) {
			el_pf_add_hostaddr(r, el_span_skip(s, 13), EL_F_CLIENT_HOST, EL_F_CLIENT_IP,
					   EL_F_CLIENT_PORT);
			r->event = EL_EV_CONNECT;
			return true;
		}
		if (EL_HAS_PREFIX(s, "disconnect from ")) {
			el_span t = el_span_skip(s, 16);
			ptrdiff_t ce = el_pf_client_end(t);
			if (ce <= 0)
				return false;
			el_pf_add_hostaddr(r, el_span_make(t.p, (size_t)ce), EL_F_CLIENT_HOST,
					   EL_F_CLIENT_IP, EL_F_CLIENT_PORT);
			if ((size_t)ce + 1 < t.len)
				el_rec_adds(r, EL_F_COMMANDS, el_span_skip(t, (size_t)ce + 1));
			r->event = EL_EV_DISCONNECT;
			return true;
		}
		if (EL_HAS_PREFIX(s, "CONNECT from ") || EL_HAS_PREFIX(s, "DISCONNECT ")) {
			/* tlsproxy mirrors postscreen's notation */
			return el_pf_postscreen(r, s);
		}
		if (EL_HAS_PREFIX(s, "lost connection "))
			return el_pf_after_from(r, el_span_skip(s, 16), EL_EV_LOST_CONNECTION);
		if (EL_HAS_PREFIX(s, "timeout "))
			return el_pf_after_from(r, el_span_skip(s, 8), EL_EV_TIMEOUT);
		if (EL_HAS_PREFIX(s, "too many errors "))
			return el_pf_after_from(r, el_span_skip(s, 16), EL_EV_TOO_MANY_ERRORS);
		if (EL_HAS_PREFIX(s, "improper command pipelining "))
			return el_pf_after_from(r, el_span_skip(s, 28), EL_EV_PIPELINING);
		if (EL_HAS_PREFIX(s, "SSL_accept error from ")) {
			el_span t = el_span_skip(s, 22);
			ptrdiff_t ce = el_pf_client_end(t);
			if (ce <= 0)
				return false;
			el_pf_add_hostaddr(r, el_span_make(t.p, (size_t)ce), EL_F_CLIENT_HOST,
					   EL_F_CLIENT_IP, EL_F_CLIENT_PORT);
			el_rec_adds(r, EL_F_TEXT, el_span_skip(t, (size_t)ce + 2));
			r->event = EL_EV_TLS_ERROR;
			return true;
		}
		return el_pf_tls(r, s);
	case EL_PF_SMTP:
	case EL_PF_LMTP:
		if (EL_HAS_PREFIX(s, "connect to ")) {
			el_span t = el_span_skip(s, 11);
			ptrdiff_t ce = el_pf_client_end(t);
			if (ce <= 0) {
				/* lmtp unix socket: "connect to private/x: reason" */
				ce = EL_FIND_LIT(t, ": ");
				if (ce <= 0)
					return false;
				el_rec_add(r, EL_F_RELAY_PATH, t.p, (size_t)ce);
			} else {
				el_pf_add_hostaddr(r, el_span_make(t.p, (size_t)ce),
						   EL_F_RELAY_HOST, EL_F_RELAY_IP, EL_F_RELAY_PORT);
			}
			el_rec_adds(r, EL_F_TEXT, el_span_skip(t, (size_t)ce + 2));
			r->event = EL_EV_CONN_ERROR;
			return true;
		}
		if (EL_HAS_PREFIX(s, "SSL_connect error to ")) {
			el_span t = el_span_skip(s, 21);
			ptrdiff_t ce = el_pf_client_end(t);
			if (ce <= 0)
				return false;
			el_pf_add_hostaddr(r, el_span_make(t.p, (size_t)ce), EL_F_RELAY_HOST,
					   EL_F_RELAY_IP, EL_F_RELAY_PORT);
			el_rec_adds(r, EL_F_TEXT, el_span_skip(t, (size_t)ce + 2));
			r->event = EL_EV_TLS_ERROR;
			return true;
		}
		return el_pf_tls(r, s);
	case EL_PF_POSTSCREEN:
		return el_pf_postscreen(r, s);
	case EL_PF_DNSBLOG:
		/* addr 127.0.0.2 listed by domain zen.example as 127.0.0.4 */
		if (EL_HAS_PREFIX(s, "addr ")) {
			el_span t = el_span_skip(s, 5);
			ptrdiff_t l = EL_FIND_LIT(t, " listed by domain ");
			if (l <= 0)
				return false;
			el_rec_add(r, EL_F_CLIENT_IP, t.p, (size_t)l);
			el_span dm = el_span_skip(t, (size_t)l + 18);
			ptrdiff_t as = EL_FIND_LIT(dm, " as ");
			el_rec_add(r, EL_F_DNSBL_DOMAIN, dm.p, as < 0 ? dm.len : (size_t)as);
			if (as > 0)
				el_rec_adds(r, EL_F_DNSBL_REPLY, el_span_skip(dm, (size_t)as + 4));
			r->event = EL_EV_DNSBL_LISTED;
			return true;
		}
		return false;
	case EL_PF_ANVIL:
	case EL_PF_SCACHE:
	case EL_PF_TLSMGR:
	case EL_PF_VERIFY:
		if (EL_HAS_PREFIX(s, "statistics: ")) {
			el_rec_adds(r, EL_F_TEXT, el_span_skip(s, 12));
			r->event = EL_EV_STATISTICS;
			return true;
		}
		return false;
	case EL_PF_MASTER:
		return el_pf_master(r, s);
	case EL_PF_POSTFIX_SCRIPT:
		el_rec_adds(r, EL_F_TEXT, s);
		r->event = EL_EV_POSTFIX_SCRIPT;
		return true;
	case EL_PF_POSTSUPER: {
		/* "Deleted: 1 message", "Placed on hold: 2 messages", "Requeued: ..." */
		ptrdiff_t col = EL_FIND_LIT(s, ": ");
		if (col <= 0)
			return false;
		el_span t = el_span_skip(s, (size_t)col + 2);
		ptrdiff_t sp = el_span_find(t, ' ');
		if (sp <= 0 || !el_all_digits(el_span_make(t.p, (size_t)sp)))
			return false;
		el_rec_add(r, EL_F_ACTION, s.p, (size_t)col);
		el_rec_add(r, EL_F_COUNT, t.p, (size_t)sp);
		r->event = EL_EV_POSTSUPER_SUMMARY;
		return true;
	}
	default:
		return false;
	}
}
