/*
 * el_pf - Postfix messages: daemon lookup, queue-file lines (client=,
 * message-id=, from=, to=..., removed, DSNs, postsuper) and the policy and
 * content-check actions of smtpd and cleanup.
 *
 * Postfix writes these lines from format strings that have been stable for
 * many releases; each function below names the lines it reads, as logged by
 * Postfix 3.7.  Values are taken as the bytes between delimiters: nothing
 * from the line is trusted to be well formed, and a line that does not match
 * stays UNPARSED with the queue ID it carried, so correlation still sees it.
 */
#include "el_pf_int.h"

struct el_pf_name {
	const char *name;
	uint8_t len;
	uint8_t d;
};

/* clang-format off */
#define EL_PF_N(s, d) {s, sizeof(s) - 1, d}
static const struct el_pf_name el_pf_names[] = {
	EL_PF_N("smtpd", EL_PF_SMTPD),
	EL_PF_N("smtp", EL_PF_SMTP),
	EL_PF_N("cleanup", EL_PF_CLEANUP),
	EL_PF_N("qmgr", EL_PF_QMGR),
	EL_PF_N("local", EL_PF_LOCAL),
	EL_PF_N("lmtp", EL_PF_LMTP),
	EL_PF_N("bounce", EL_PF_BOUNCE),
	EL_PF_N("postscreen", EL_PF_POSTSCREEN),
	EL_PF_N("pickup", EL_PF_PICKUP),
	EL_PF_N("virtual", EL_PF_VIRTUAL),
	EL_PF_N("pipe", EL_PF_PIPE),
	EL_PF_N("error", EL_PF_ERROR),
	EL_PF_N("discard", EL_PF_DISCARD),
	EL_PF_N("retry", EL_PF_RETRY),
	EL_PF_N("defer", EL_PF_DEFER),
	EL_PF_N("trace", EL_PF_TRACE),
	EL_PF_N("dnsblog", EL_PF_DNSBLOG),
	EL_PF_N("sendmail", EL_PF_SENDMAIL),
	EL_PF_N("postdrop", EL_PF_POSTDROP),
	EL_PF_N("postsuper", EL_PF_POSTSUPER),
	EL_PF_N("anvil", EL_PF_ANVIL),
	EL_PF_N("scache", EL_PF_SCACHE),
	EL_PF_N("tlsproxy", EL_PF_TLSPROXY),
	EL_PF_N("tlsmgr", EL_PF_TLSMGR),
	EL_PF_N("verify", EL_PF_VERIFY),
	EL_PF_N("trivial-rewrite", EL_PF_TRIVIAL_REWRITE),
	EL_PF_N("master", EL_PF_MASTER),
	EL_PF_N("postfix-script", EL_PF_POSTFIX_SCRIPT),
	EL_PF_N("postqueue", EL_PF_POSTQUEUE),
	EL_PF_N("postmap", EL_PF_POSTMAP),
	EL_PF_N("postconf", EL_PF_POSTCONF),
	EL_PF_N("postlogd", EL_PF_POSTLOGD),
	EL_PF_N("showq", EL_PF_SHOWQ),
	EL_PF_N("flush", EL_PF_FLUSH),
	EL_PF_N("proxymap", EL_PF_PROXYMAP),
	EL_PF_N("spawn", EL_PF_SPAWN),
	EL_PF_N("oqmgr", EL_PF_OQMGR),
	EL_PF_N("postfix", EL_PF_POSTFIX),
	EL_PF_N("postlog", EL_PF_POSTLOG),
	EL_PF_N("postmulti", EL_PF_POSTMULTI),
};
/* clang-format on */

/* el_pf_daemon_of - the daemon a service name denotes */
static el_pf_daemon el_pf_daemon_of(el_span s)
{
	size_t i;

	/* The table is ordered by frequency in real logs, so this is short. */
	for (i = 0; i < sizeof(el_pf_names) / sizeof(el_pf_names[0]); i++)
		if (el_pf_names[i].len == s.len && s.p[0] == el_pf_names[i].name[0] &&
		    memcmp(el_pf_names[i].name, s.p, s.len) == 0)
			return (el_pf_daemon)el_pf_names[i].d;
	return EL_PF_UNKNOWN;
}

/*
 * el_pf_qid_len - length of a queue ID at the start of s when it is followed
 * by ": ", else 0.  Short IDs are upper-case hex; long IDs (enable_long_queue_ids)
 * are [0-9A-Za-z] without vowels around a single 'z' separator.
 */
static size_t el_pf_qid_len(el_span s)
{
	size_t i = 0, n = s.len < 24 ? s.len : 24;
	bool hex = true, lower = false;

	while (i < n && el_is_alnum(s.p[i])) {
		char ch = s.p[i];
		if (!(el_is_digit(ch) || (ch >= 'A' && ch <= 'F')))
			hex = false;
		if (ch >= 'a' && ch <= 'z')
			lower = true;
		i++;
	}
	if (i < 5 || i + 1 >= s.len || s.p[i] != ':' || s.p[i + 1] != ' ')
		return 0;
	if (hex)
		return i;
	if (!lower || i < 12)
		return 0;
	/*
	 * Long form: at least 10 base-52 characters of time ([0-9] and
	 * consonants, so 'z' may occur there), a 'z' separator, then the
	 * inode in base 51 (consonants without 'z').  No vowels anywhere.
	 */
	size_t k, lastz = 0;
	for (k = 0; k < i; k++) {
		switch (s.p[k]) {
		case 'a':
		case 'e':
		case 'i':
		case 'o':
		case 'u':
		case 'A':
		case 'E':
		case 'I':
		case 'O':
		case 'U':
			return 0;
		case 'z':
			lastz = k;
			break;
		}
	}
	return lastz >= 10 && lastz + 1 < i ? i : 0;
}

/* el_pf_kv_next - see el_pf_int.h */
bool el_pf_kv_next(el_span s, size_t *i, el_span *key, el_span *val, bool *angled)
{
	size_t j = *i, k0, v0;

	while (j < s.len && (s.p[j] == ' ' || s.p[j] == ','))
		j++;
	k0 = j;
	while (j < s.len && s.p[j] != '=' && s.p[j] != ' ' && s.p[j] != ',')
		j++;
	if (j >= s.len || s.p[j] != '=' || j == k0)
		return false;
	*key = el_span_make(s.p + k0, j - k0);
	j++;
	if (j < s.len && s.p[j] == '<') {
		/* Closing '>' is the one followed by a separator or the end. */
		v0 = ++j;
		for (;;) {
			const char *q = memchr(s.p + j, '>', s.len - j);
			if (q == NULL)
				return false;
			j = (size_t)(q - s.p);
			if (j + 1 == s.len || s.p[j + 1] == ',' || s.p[j + 1] == ' ' ||
			    s.p[j + 1] == ';' || s.p[j + 1] == ':')
				break;
			j++;
		}
		*val = el_span_make(s.p + v0, j - v0);
		*angled = true;
		*i = j + 1;
		return true;
	}
	v0 = j;
	while (j < s.len && s.p[j] != ',' && s.p[j] != ' ' && s.p[j] != ';')
		j++;
	*val = el_span_make(s.p + v0, j - v0);
	*angled = false;
	*i = j;
	return true;
}

/* el_pf_add_hostaddr - see el_pf_int.h */
bool el_pf_add_hostaddr(el_rec *r, el_span s, el_field_key kh, el_field_key ki, el_field_key kp)
{
	ptrdiff_t lb = el_span_find(s, '[');
	size_t rb;

	if (lb < 0) {
		if (s.len == 0)
			return false;
		el_rec_adds(r, kh, s);
		return true;
	}
	for (rb = s.len; rb > (size_t)lb; rb--)
		if (s.p[rb - 1] == ']')
			break;
	if (rb <= (size_t)lb + 1)
		return false;
	rb--;
	if (lb > 0)
		el_rec_add(r, kh, s.p, (size_t)lb);
	el_span addr = el_span_make(s.p + lb + 1, rb - (size_t)lb - 1);
	/* lmtp over a unix socket: relay=host[private/dovecot-lmtp] */
	if (kh == EL_F_RELAY_HOST && el_span_find(addr, '/') >= 0)
		el_rec_adds(r, EL_F_RELAY_PATH, addr);
	else if (addr.len)
		el_rec_adds(r, ki, addr);
	if (kp != EL_F__COUNT && rb + 1 < s.len && s.p[rb + 1] == ':') {
		el_span port = el_span_make(s.p + rb + 2, s.len - rb - 2);
		if (el_all_digits(port) && port.len <= 5)
			el_rec_adds(r, kp, port);
	}
	return true;
}

/* el_pf_add_reply - "554 5.7.1 text" or "5.7.1 text" or "text" */
void el_pf_add_reply(el_rec *r, el_span s)
{
	size_t i = 0;

	if (s.len >= 4 && el_is_digit(s.p[0]) && el_is_digit(s.p[1]) && el_is_digit(s.p[2]) &&
	    (s.p[3] == ' ' || s.p[3] == '-')) {
		el_rec_add(r, EL_F_REJECT_CODE, s.p, 3);
		i = 4;
	}
	/* Enhanced status code: d.ddd.ddd */
	size_t j = i;
	if (j + 5 <= s.len && el_is_digit(s.p[j]) && s.p[j + 1] == '.') {
		j += 2;
		while (j < s.len && el_is_digit(s.p[j]))
			j++;
		if (j < s.len && s.p[j] == '.') {
			j++;
			size_t d0 = j;
			while (j < s.len && el_is_digit(s.p[j]))
				j++;
			if (j > d0 && (j == s.len || s.p[j] == ' ')) {
				el_rec_add(r, EL_F_REJECT_DSN, s.p + i, j - i);
				i = j < s.len ? j + 1 : j;
			}
		}
	}
	el_rec_add(r, EL_F_REJECT_REASON, s.p + i, s.len - i);
}

/* el_pf_find_queued_as - "queued as X" or "forwarded as X" in a reply */
static void el_pf_find_queued_as(el_rec *r, el_span resp)
{
	ptrdiff_t at = EL_FIND_LIT(resp, "queued as ");
	size_t i, j;

	if (at >= 0) {
		i = (size_t)at + 10;
	} else {
		at = EL_FIND_LIT(resp, "forwarded as ");
		if (at < 0)
			return;
		i = (size_t)at + 13;
	}
	j = i;
	while (j < resp.len && el_is_alnum(resp.p[j]) && j - i < 64)
		j++;
	if (j > i)
		el_rec_add(r, EL_F_QUEUED_AS, resp.p + i, j - i);
}

/*
 * el_pf_delivery - "to=<a>, orig_to=<b>, relay=h[ip]:port, conn_use=2,
 * delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 ...)".  Also
 * qmgr's "to=<a>, relay=none, ..., status=deferred (...)".
 */
static bool el_pf_delivery(el_rec *r, el_span s)
{
	el_span k, v;
	size_t i = 0;
	bool ang, have_status = false;

	while (el_pf_kv_next(s, &i, &k, &v, &ang)) {
		if (el_span_eq_lit(k, "to"))
			el_rec_adds(r, EL_F_TO, v);
		else if (el_span_eq_lit(k, "orig_to"))
			el_rec_adds(r, EL_F_ORIG_TO, v);
		else if (el_span_eq_lit(k, "relay"))
			el_pf_add_hostaddr(r, v, EL_F_RELAY_HOST, EL_F_RELAY_IP, EL_F_RELAY_PORT);
		else if (el_span_eq_lit(k, "conn_use"))
			el_rec_adds(r, EL_F_CONN_USE, v);
		else if (el_span_eq_lit(k, "delay"))
			el_rec_adds(r, EL_F_DELAY, v);
		else if (el_span_eq_lit(k, "delays"))
			el_rec_adds(r, EL_F_DELAYS, v);
		else if (el_span_eq_lit(k, "dsn"))
			el_rec_adds(r, EL_F_DSN, v);
		else if (el_span_eq_lit(k, "status")) {
			el_rec_adds(r, EL_F_STATUS, v);
			have_status = true;
			break;
		}
	}
	if (!have_status || !el_rec_has(r, EL_F_TO))
		return false;
	/* " (response text)" runs to the end of the line. */
	if (i + 2 < s.len && s.p[i] == ' ' && s.p[i + 1] == '(') {
		size_t e = s.len;
		if (s.p[e - 1] == ')')
			e--;
		el_span resp = el_span_make(s.p + i + 2, e - i - 2);
		el_rec_adds(r, EL_F_RESPONSE, resp);
		el_pf_find_queued_as(r, resp);
	}
	r->event = EL_EV_DELIVERY;
	return true;
}

/*
 * el_pf_from - qmgr "from=<a>, size=N, nrcpt=N (queue active)" and
 * "from=<a>, status=expired, returned to sender".
 */
static bool el_pf_from(el_rec *r, el_span s)
{
	el_span k, v;
	size_t i = 0;
	bool ang;

	while (el_pf_kv_next(s, &i, &k, &v, &ang)) {
		if (el_span_eq_lit(k, "from"))
			el_rec_adds(r, EL_F_FROM, v);
		else if (el_span_eq_lit(k, "size"))
			el_rec_adds(r, EL_F_SIZE, v);
		else if (el_span_eq_lit(k, "nrcpt"))
			el_rec_adds(r, EL_F_NRCPT, v);
		else if (el_span_eq_lit(k, "status"))
			el_rec_adds(r, EL_F_STATUS, v);
	}
	if (!el_rec_has(r, EL_F_FROM))
		return false;
	el_span st = el_rec_get(r, EL_F_STATUS);
	if (el_span_eq_lit(st, "expired") || el_span_eq_lit(st, "force-expired"))
		r->event = EL_EV_EXPIRED;
	else if (el_rec_has(r, EL_F_SIZE))
		r->event = EL_EV_QUEUE_ACTIVE;
	else
		return false;
	return true;
}

/*
 * el_pf_client - smtpd "client=h[ip][:port], sasl_method=M, sasl_username=U,
 * sasl_sender=S, orig_queue_id=Q, orig_client=h[ip]".
 */
static bool el_pf_client(el_rec *r, el_span s)
{
	el_span k, v;
	size_t i = 0;
	bool ang;

	while (el_pf_kv_next(s, &i, &k, &v, &ang)) {
		if (el_span_eq_lit(k, "client"))
			el_pf_add_hostaddr(r, v, EL_F_CLIENT_HOST, EL_F_CLIENT_IP,
					   EL_F_CLIENT_PORT);
		else if (el_span_eq_lit(k, "sasl_method"))
			el_rec_adds(r, EL_F_SASL_METHOD, v);
		else if (el_span_eq_lit(k, "sasl_username"))
			el_rec_adds(r, EL_F_SASL_USERNAME, v);
		else if (el_span_eq_lit(k, "sasl_sender"))
			el_rec_adds(r, EL_F_SASL_SENDER, v);
		else if (el_span_eq_lit(k, "orig_queue_id"))
			el_rec_adds(r, EL_F_ORIG_QUEUE_ID, v);
		else if (el_span_eq_lit(k, "orig_client"))
			el_pf_add_hostaddr(r, v, EL_F_ORIG_CLIENT_HOST, EL_F_ORIG_CLIENT_IP,
					   EL_F__COUNT);
	}
	if (!el_rec_has(r, EL_F_CLIENT_HOST) && !el_rec_has(r, EL_F_CLIENT_IP))
		return false;
	r->event = EL_EV_CLIENT;
	return true;
}

/* el_pf_pickup - pickup "uid=0 from=<root>" (and "orig_id=Q" on requeue) */
static bool el_pf_pickup(el_rec *r, el_span s)
{
	el_span k, v;
	size_t i = 0;
	bool ang;

	while (el_pf_kv_next(s, &i, &k, &v, &ang)) {
		if (el_span_eq_lit(k, "uid") && el_all_digits(v))
			el_rec_adds(r, EL_F_UID, v);
		else if (el_span_eq_lit(k, "from"))
			el_rec_adds(r, EL_F_FROM, v);
		else if (el_span_eq_lit(k, "orig_id"))
			el_rec_adds(r, EL_F_ORIG_QUEUE_ID, v);
	}
	if (!el_rec_has(r, EL_F_FROM))
		return false;
	r->event = EL_EV_PICKUP;
	return true;
}

/*
 * el_pf_proxy - smtpd with smtpd_proxy_filter: "proxy-accept: END-OF-MESSAGE:
 * 250 2.0.0 Ok: queued as X; from=<a> to=<b> proto=ESMTP helo=<h>" (and
 * proxy-reject) gives the filter's reply, hence the downstream queue ID.
 */
static bool el_pf_proxy(el_rec *r, el_span s)
{
	bool accept = s.p[6] == 'a';
	el_span t = el_span_skip(s, 14);
	ptrdiff_t c = EL_FIND_LIT(t, ": "), env;

	if (c <= 0)
		return false;
	el_rec_add(r, EL_F_STAGE, t.p, (size_t)c);
	t = el_span_skip(t, (size_t)c + 2);
	env = EL_FIND_LIT(t, "; from=<");
	el_span resp = env >= 0 ? el_span_make(t.p, (size_t)env) : t;
	el_rec_adds(r, EL_F_RESPONSE, resp);
	el_pf_find_queued_as(r, resp);
	if (env >= 0)
		el_pf_env(r, el_span_skip(t, (size_t)env + 2));
	r->event = accept ? EL_EV_PROXY_ACCEPT : EL_EV_PROXY_REJECT;
	return true;
}

/* el_pf_strip_angle - "<x>" -> "x"; other text unchanged */
static el_span el_pf_strip_angle(el_span v)
{
	if (v.len >= 2 && v.p[0] == '<' && v.p[v.len - 1] == '>')
		return el_span_make(v.p + 1, v.len - 2);
	return v;
}

/* el_pf_dsn - bounce "sender non-delivery notification: NEWQID" and kin */
static bool el_pf_dsn(el_rec *r, el_span s)
{
	static const struct {
		const char *text;
		size_t len;
		const char *kind;
	} kinds[] = {
		{ "sender non-delivery notification: ", 34, "non-delivery" },
		{ "sender delivery status notification: ", 37, "delivery-status" },
		{ "sender delay notification: ", 27, "delay" },
		{ "postmaster non-delivery notification: ", 38, "postmaster-non-delivery" },
		{ "postmaster delay notification: ", 31, "postmaster-delay" },
	};
	size_t i;

	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (!el_span_has_prefix(s, kinds[i].text, kinds[i].len))
			continue;
		el_span q = el_span_skip(s, kinds[i].len);
		if (q.len == 0 || q.len > 24)
			return false;
		for (size_t k = 0; k < q.len; k++)
			if (!el_is_alnum(q.p[k]))
				return false;
		el_rec_add(r, EL_F_DSN_KIND, kinds[i].kind, strlen(kinds[i].kind));
		el_rec_adds(r, EL_F_DSN_QUEUE_ID, q);
		r->event = EL_EV_DSN;
		return true;
	}
	return false;
}

/* el_pf_host_event - smtp "host h[ip] said: ...", "lost connection with ...", ... */
static bool el_pf_host_event(el_rec *r, el_span s)
{
	ptrdiff_t e;

	if (EL_HAS_PREFIX(s, "host ")) {
		e = EL_FIND_LIT(s, " said: ");
		if (e < 0)
			e = EL_FIND_LIT(s, " refused to talk to me: ");
		if (e < 5)
			return false;
		el_pf_add_hostaddr(r, el_span_make(s.p + 5, (size_t)e - 5), EL_F_RELAY_HOST,
				   EL_F_RELAY_IP, EL_F_RELAY_PORT);
		el_span rest = el_span_skip(s, (size_t)e + 1);
		ptrdiff_t colon = el_span_find(rest, ':');
		el_rec_adds(r, EL_F_RESPONSE, el_span_skip(rest, (size_t)colon + 2));
		r->event = EL_EV_HOST_SAID;
		return true;
	}
	if (EL_HAS_PREFIX(s, "lost connection with ") || EL_HAS_PREFIX(s, "conversation with ")) {
		size_t off = s.p[0] == 'l' ? 21 : 18;
		el_span rest = el_span_skip(s, off);
		e = el_span_find(rest, ' ');
		if (e <= 0)
			return false;
		el_pf_add_hostaddr(r, el_span_make(rest.p, (size_t)e), EL_F_RELAY_HOST,
				   EL_F_RELAY_IP, EL_F_RELAY_PORT);
		el_rec_adds(r, EL_F_TEXT, el_span_skip(rest, (size_t)e + 1));
		r->event = s.p[0] == 'l' ? EL_EV_LOST_CONN_WITH : EL_EV_CONV_TIMEOUT;
		return true;
	}
	return false;
}

/* el_pf_queued - the text after "QID: " */
static void el_pf_queued(el_rec *r, el_pf_daemon d, el_span s)
{
	if (s.len == 0)
		return;
	switch (s.p[0]) {
	case 't':
		if (EL_HAS_PREFIX(s, "to=<"))
			el_pf_delivery(r, s);
		return;
	case 'f':
		if (EL_HAS_PREFIX(s, "from=<"))
			el_pf_from(r, s);
		else if (EL_HAS_PREFIX(s, "filter: "))
			el_pf_action_line(r, s);
		return;
	case 'c':
		if (EL_HAS_PREFIX(s, "client="))
			el_pf_client(r, s);
		else if (EL_HAS_PREFIX(s, "conversation with "))
			el_pf_host_event(r, s);
		return;
	case 'm':
		if (EL_HAS_PREFIX(s, "message-id=")) {
			el_rec_adds(r, EL_F_MESSAGE_ID, el_pf_strip_angle(el_span_skip(s, 11)));
			r->event = EL_EV_MESSAGE_ID;
		} else if (EL_HAS_PREFIX(s, "milter-")) {
			el_pf_action_line(r, s);
		}
		return;
	case 'e':
		if (el_span_eq_lit(s, "expired") && d == EL_PF_POSTSUPER)
			r->event = EL_EV_FORCE_EXPIRED;
		return;
	case 'r':
		if (el_span_eq_lit(s, "removed"))
			r->event = EL_EV_REMOVED;
		else if (el_span_eq_lit(s, "requeued"))
			r->event = EL_EV_REQUEUED;
		else if (el_span_eq_lit(s, "released from hold"))
			r->event = EL_EV_HOLD_RELEASED;
		else if (EL_HAS_PREFIX(s, "resent-message-id=")) {
			el_rec_adds(r, EL_F_MESSAGE_ID, el_pf_strip_angle(el_span_skip(s, 18)));
			r->event = EL_EV_RESENT_MESSAGE_ID;
		} else if (EL_HAS_PREFIX(s, "reject: ") || EL_HAS_PREFIX(s, "redirect: ") ||
			   EL_HAS_PREFIX(s, "replace: ")) {
			el_pf_action_line(r, s);
		}
		return;
	case 'u':
		if (EL_HAS_PREFIX(s, "uid=") && d == EL_PF_PICKUP)
			el_pf_pickup(r, s);
		return;
	case 's':
		if (EL_HAS_PREFIX(s, "sender ") && el_pf_dsn(r, s))
			return;
		if (EL_HAS_PREFIX(s, "skipped, still being delivered"))
			r->event = EL_EV_SKIPPED;
		return;
	case 'p':
		if (EL_HAS_PREFIX(s, "proxy-accept: ") || EL_HAS_PREFIX(s, "proxy-reject: "))
			el_pf_proxy(r, s);
		else if (el_span_eq_lit(s, "placed on hold"))
			r->event = EL_EV_HOLD_PLACED;
		else if (EL_HAS_PREFIX(s, "postmaster "))
			el_pf_dsn(r, s);
		else if (EL_HAS_PREFIX(s, "prepend: "))
			el_pf_action_line(r, s);
		return;
	case 'h':
		if (EL_HAS_PREFIX(s, "hold: "))
			el_pf_action_line(r, s);
		else
			el_pf_host_event(r, s);
		return;
	case 'd':
		if (EL_HAS_PREFIX(s, "discard: "))
			el_pf_action_line(r, s);
		return;
	case 'w':
		if (EL_HAS_PREFIX(s, "warning: header ") || EL_HAS_PREFIX(s, "warning: body ") ||
		    EL_HAS_PREFIX(s, "warning: mime-header ") ||
		    EL_HAS_PREFIX(s, "warning: nested-header ")) {
			el_pf_action_line(r, s);
		} else if (EL_HAS_PREFIX(s, "warn: ")) {
			el_pf_action_line(r, s);
		} else if (EL_HAS_PREFIX(s, "warning: ")) {
			el_rec_adds(r, EL_F_TEXT, el_span_skip(s, 9));
			r->event = EL_EV_WARNING;
		}
		return;
	case 'i':
		if (EL_HAS_PREFIX(s, "info: "))
			el_pf_action_line(r, s);
		return;
	case 'l':
		if (EL_HAS_PREFIX(s, "lost connection with "))
			el_pf_host_event(r, s);
		return;
	case 'b':
		if (EL_HAS_PREFIX(s, "bcc: "))
			el_pf_action_line(r, s);
		return;
	}
}

/* el_pf_parse - see el_parse_int.h */
void el_pf_parse(el_parse_ctx *c, el_rec *r, el_span service, el_span msg)
{
	el_pf_daemon d = el_pf_daemon_of(service);
	unsigned nf0 = r->nf;
	size_t q;

	if (d == EL_PF_UNKNOWN || msg.len == 0)
		return;
	q = el_pf_qid_len(msg);
	if (q) {
		el_rec_add(r, EL_F_QUEUE_ID, msg.p, q);
		nf0 = r->nf;
		el_pf_queued(r, d, el_span_skip(msg, q + 2));
		goto out;
	}
	if (EL_HAS_PREFIX(msg, "NOQUEUE: ")) {
		el_span t = el_span_skip(msg, 9);
		/* smtpd before a proxy filter logs its client= without a queue file */
		if (EL_HAS_PREFIX(t, "client="))
			el_pf_client(r, t);
		else
			el_pf_action_line(r, t);
		goto out;
	}
	if (EL_HAS_PREFIX(msg, "proxy-accept: ") || EL_HAS_PREFIX(msg, "proxy-reject: ")) {
		el_pf_proxy(r, msg);
		goto out;
	}
	switch (msg.p[0]) {
	case 'w':
		if (EL_HAS_PREFIX(msg, "warning: ")) {
			el_span t = el_span_skip(msg, 9);
			/* "warning: QID: ..." names the message it is about. */
			q = el_pf_qid_len(t);
			if (q)
				el_rec_add(r, EL_F_QUEUE_ID, t.p, q);
			el_rec_adds(r, EL_F_TEXT, t);
			r->event = EL_EV_WARNING;
			return;
		}
		break;
	case 'e':
		if (EL_HAS_PREFIX(msg, "error: ")) {
			el_rec_adds(r, EL_F_TEXT, el_span_skip(msg, 7));
			r->event = EL_EV_ERROR;
			return;
		}
		break;
	case 'f':
		if (EL_HAS_PREFIX(msg, "fatal: ")) {
			el_rec_adds(r, EL_F_TEXT, el_span_skip(msg, 7));
			r->event = EL_EV_FATAL;
			return;
		}
		break;
	case 'p':
		if (EL_HAS_PREFIX(msg, "panic: ")) {
			el_rec_adds(r, EL_F_TEXT, el_span_skip(msg, 7));
			r->event = EL_EV_PANIC;
			return;
		}
		break;
	}
	if (!el_pf_conn_line(c, r, d, msg))
		r->event = EL_EV_UNPARSED;
out:
	/* A half-understood line keeps only its framing (and queue ID). */
	if (r->event == EL_EV_UNPARSED)
		el_rec_drop_from(r, nf0);
}
