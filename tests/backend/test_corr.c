/*
 * test_corr - the correlation engine on hand-made sequences, including the
 * adversarial ones: a forged "queued as", a reused queue ID, a missing
 * "removed", lines from unknown daemons, lines out of order, and state
 * surviving a dump and restore.  Whole real-Postfix stories are checked by
 * tests/corr/check_flows.sh against the harness.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_corr.h"
#include "be_flow_json.h"
#include "el_parse.h"

#define TC_MAX 64

/* What the tests look at in an emitted flow. */
struct tc_flow {
	char json[8192];
};

static struct tc_flow tc_out[TC_MAX];
static int tc_n;

static void tc_tx(void *arg, const be_corr *c, const be_tx *t)
{
	el_buf b;

	(void)arg;
	cr_assert_lt(tc_n, TC_MAX);
	el_buf_init(&b);
	be_tx_json(c, t, &b);
	cr_assert_lt(b.len, sizeof(tc_out[0].json));
	memcpy(tc_out[tc_n].json, b.p, b.len);
	tc_out[tc_n++].json[b.len] = '\0';
	el_buf_fini(&b);
}

static void tc_reject(void *arg, const be_corr *c, const be_reject *j)
{
	el_buf b;

	(void)arg;
	cr_assert_lt(tc_n, TC_MAX);
	el_buf_init(&b);
	be_reject_json(c, j, &b);
	memcpy(tc_out[tc_n].json, b.p, b.len);
	tc_out[tc_n++].json[b.len] = '\0';
	el_buf_fini(&b);
}

/* tc_run - feed lines (NULL-terminated) into a fresh engine and flush */
static void tc_run_conf(const char *const *lines, const be_corr_conf *conf)
{
	be_corr_out out = { tc_tx, tc_reject, NULL };
	be_corr *c = be_corr_new(conf, &out);
	el_parse_ctx ctx;
	el_rec r;

	tc_n = 0;
	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (; *lines; lines++) {
		el_parse_line(&ctx, *lines, strlen(*lines), &r);
		be_corr_line(c, el_rec_get(&r, EL_F_HOST), &r);
		be_corr_tick(c, 0);
	}
	be_corr_flush(c);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
}

static void tc_run(const char *const *lines)
{
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;

	tc_run_conf(lines, &conf);
}

/* tc_find - the flow for host/qid (kind message), or NULL */
static const char *tc_find(const char *host, const char *qid)
{
	char k[256];

	/* The top-level host and queue ID are the ones followed by first_seen. */
	snprintf(k, sizeof(k), "\"host\":\"%s\",\"queue_id\":\"%s\",\"first_seen\"", host, qid);
	for (int i = 0; i < tc_n; i++)
		if (strstr(tc_out[i].json, "\"kind\":\"message\"") && strstr(tc_out[i].json, k))
			return tc_out[i].json;
	return NULL;
}

/* tc_email - the email_id of a flow (16 hex digits) */
static void tc_email(const char *json, char out[17])
{
	const char *p = strstr(json, "\"email_id\":\"");

	cr_assert_not_null(p);
	memcpy(out, p + 12, 16);
	out[16] = '\0';
}

#define HAS(j, s) cr_assert(strstr((j), (s)) != NULL, "missing %s in %s", (s), (j))
#define HASNT(j, s) cr_assert(strstr((j), (s)) == NULL, "unexpected %s in %s", (s), (j))

static const char *const relay[] = {
	"Nov 22 10:00:00 mx1 postfix/smtpd[10]: connect from c[192.0.2.1]",
	"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
	"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<m1@x>",
	"Nov 22 10:00:00 mx1 postfix/qmgr[12]: AAA111: from=<a@x>, size=100, nrcpt=1 (queue "
	"active)",
	"Nov 22 10:00:01 mx2 postfix/smtpd[20]: BBB222: client=mx1[192.0.2.2]",
	"Nov 22 10:00:01 mx2 postfix/cleanup[21]: BBB222: message-id=<m1@x>",
	"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, delay=1, "
	"delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
	"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
	"Nov 22 10:00:01 mx2 postfix/qmgr[22]: BBB222: from=<a@x>, size=120, nrcpt=1 (queue "
	"active)",
	"Nov 22 10:00:01 mx2 postfix/local[23]: BBB222: to=<b@y>, relay=local, delay=0.1, "
	"delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered to mailbox)",
	"Nov 22 10:00:01 mx2 postfix/qmgr[22]: BBB222: removed",
	"Nov 22 10:00:02 mx1 postfix/smtpd[10]: disconnect from c[192.0.2.1] ehlo=1 mail=1 rcpt=1 "
	"data=1 quit=1 commands=5",
	NULL,
};

Test(corr, relay_hop_links_two_hosts)
{
	char e1[17], e2[17];

	tc_run(relay);
	const char *a = tc_find("mx1", "AAA111"), *b = tc_find("mx2", "BBB222");
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	HAS(a, "\"status\":\"delivered\"");
	HAS(a, "\"next_hop\":{\"host\":\"mx2\",\"queue_id\":\"BBB222\"}");
	HAS(b, "\"prev_hop\":{\"host\":\"mx1\",\"queue_id\":\"AAA111\"}");
	HAS(b, "\"lines\":5");
	tc_email(a, e1);
	tc_email(b, e2);
	cr_assert_str_eq(e1, e2);
	cr_assert_eq(tc_n, 2);
}

Test(corr, hop_found_when_downstream_logs_later)
{
	/* mx2's lines arrive after mx1 said "queued as": the link waits for them. */
	static const char *const late[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<m1@x>",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:03 mx2 postfix/smtpd[20]: BBB222: client=mx1[192.0.2.2]",
		"Nov 22 10:00:03 mx2 postfix/cleanup[21]: BBB222: message-id=<m1@x>",
		"Nov 22 10:00:03 mx2 postfix/qmgr[22]: BBB222: removed",
		NULL,
	};

	tc_run(late);
	HAS(tc_find("mx1", "AAA111"), "\"next_hop\":{\"host\":\"mx2\",\"queue_id\":\"BBB222\"}");
	HAS(tc_find("mx2", "BBB222"), "\"prev_hop\":{\"host\":\"mx1\",\"queue_id\":\"AAA111\"}");
}

Test(corr, forged_queued_as_does_not_merge)
{
	/* A local user forges a delivery line naming another message's queue ID. */
	static const char *const forged[] = {
		"Nov 22 10:00:00 mx2 postfix/smtpd[20]: BBB222: client=c[192.0.2.9]",
		"Nov 22 10:00:00 mx2 postfix/cleanup[21]: BBB222: message-id=<victim@y>",
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<attacker@x>",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:01 mx2 postfix/qmgr[22]: BBB222: removed",
		NULL,
	};
	char e1[17], e2[17];

	tc_run(forged);
	const char *a = tc_find("mx1", "AAA111"), *b = tc_find("mx2", "BBB222");
	HASNT(a, "next_hop");
	HASNT(b, "prev_hop");
	tc_email(a, e1);
	tc_email(b, e2);
	cr_assert_str_neq(e1, e2);
}

Test(corr, forged_hop_undone_when_message_id_arrives)
{
	/* The link is made before mx2's Message-ID is known, then disproved. */
	static const char *const forged[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<attacker@x>",
		"Nov 22 10:00:00 mx2 postfix/smtpd[20]: BBB222: client=c[192.0.2.9]",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 10:00:01 mx2 postfix/cleanup[21]: BBB222: message-id=<victim@y>",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:01 mx2 postfix/qmgr[22]: BBB222: removed",
		NULL,
	};

	tc_run(forged);
	HASNT(tc_find("mx1", "AAA111"), "next_hop");
	HASNT(tc_find("mx2", "BBB222"), "prev_hop");
}

Test(corr, hop_without_message_id_is_not_linked_across_hosts)
{
	/*
	 * mx1's operator logs a delivery naming mx2's queue ID and no Message-ID.
	 * Linked, mx2's e-mail would show whole to whoever follows mx1.  Both
	 * orders: mx2's lines first (found at once), and last (a pending hop).
	 */
	static const char *const victim_first[] = {
		"Nov 22 10:00:00 mx2 postfix/smtpd[20]: BBB222: client=c[192.0.2.9]",
		"Nov 22 10:00:00 mx2 postfix/cleanup[21]: BBB222: message-id=<victim@y>",
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:01 mx2 postfix/qmgr[22]: BBB222: removed",
		NULL,
	};
	static const char *const victim_last[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:01 mx2 postfix/smtpd[20]: BBB222: client=c[192.0.2.9]",
		"Nov 22 10:00:01 mx2 postfix/cleanup[21]: BBB222: message-id=<victim@y>",
		"Nov 22 10:00:02 mx2 postfix/qmgr[22]: BBB222: removed",
		NULL,
	};
	const char *const *runs[] = { victim_first, victim_last };
	char e1[17], e2[17];

	for (size_t i = 0; i < 2; i++) {
		tc_run(runs[i]);
		const char *a = tc_find("mx1", "AAA111"), *b = tc_find("mx2", "BBB222");
		cr_assert_not_null(a);
		cr_assert_not_null(b);
		HASNT(a, "next_hop");
		HASNT(b, "prev_hop");
		tc_email(a, e1);
		tc_email(b, e2);
		cr_assert_str_neq(e1, e2, "run %zu merged two e-mails", i);
	}
}

Test(corr, filter_hop_on_one_host_needs_no_message_id)
{
	/* A content filter reinjects on the same host: the hop is the host's own. */
	static const char *const filter[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, "
		"relay=127.0.0.1[127.0.0.1]:10025, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent "
		"(250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 10:00:01 mx1 postfix/smtpd[30]: BBB222: client=localhost[127.0.0.1]",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:02 mx1 postfix/qmgr[22]: BBB222: removed",
		NULL,
	};

	tc_run(filter);
	HAS(tc_find("mx1", "AAA111"), "\"next_hop\":{\"host\":\"mx1\",\"queue_id\":\"BBB222\"}");
	HAS(tc_find("mx1", "BBB222"), "\"prev_hop\":{\"host\":\"mx1\",\"queue_id\":\"AAA111\"}");
}

Test(corr, hop_outside_time_window_is_refused)
{
	static const char *const far[] = {
		"Nov 22 10:00:00 mx2 postfix/smtpd[20]: BBB222: client=c[192.0.2.9]",
		"Nov 22 10:00:00 mx2 postfix/qmgr[22]: BBB222: removed",
		"Nov 22 12:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 12:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)",
		"Nov 22 12:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};

	tc_run(far);
	HASNT(tc_find("mx1", "AAA111"), "next_hop");
}

Test(corr, reused_queue_id_is_two_transactions)
{
	static const char *const reuse[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<first@x>",
		"Nov 22 10:00:00 mx1 postfix/qmgr[12]: AAA111: from=<a@x>, size=100, nrcpt=1 "
		"(queue active)",
		"Nov 22 10:00:01 mx1 postfix/local[13]: AAA111: to=<b@x>, relay=local, delay=1, "
		"delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 11:00:00 mx1 postfix/smtpd[10]: AAA111: client=d[192.0.2.7]",
		"Nov 22 11:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<second@x>",
		"Nov 22 11:00:00 mx1 postfix/qmgr[12]: AAA111: from=<z@x>, size=100, nrcpt=1 "
		"(queue active)",
		"Nov 22 11:00:01 mx1 postfix/local[13]: AAA111: to=<nobody@x>, relay=local, "
		"delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (unknown user)",
		"Nov 22 11:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};
	int n = 0;

	tc_run(reuse);
	for (int i = 0; i < tc_n; i++)
		n += strstr(tc_out[i].json, "\"queue_id\":\"AAA111\"") != NULL;
	cr_assert_eq(n, 2);
	HAS(tc_out[0].json, "first@x");
	HAS(tc_out[0].json, "\"status\":\"delivered\"");
	HASNT(tc_out[0].json, "second@x");
	HAS(tc_out[1].json, "second@x");
	HAS(tc_out[1].json, "\"status\":\"bounced\"");
}

Test(corr, missing_removed_then_reuse)
{
	/* "removed" was lost: the next client= for the ID starts a new story. */
	static const char *const lost[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<first@x>",
		"Nov 22 10:00:01 mx1 postfix/local[13]: AAA111: to=<b@x>, relay=local, delay=1, "
		"delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Nov 22 10:30:00 mx1 postfix/smtpd[10]: AAA111: client=d[192.0.2.7]",
		"Nov 22 10:30:00 mx1 postfix/cleanup[11]: AAA111: message-id=<second@x>",
		"Nov 22 10:30:00 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};

	tc_run(lost);
	cr_assert_eq(tc_n, 2);
	HAS(tc_out[0].json, "first@x");
	HAS(tc_out[0].json, "\"incomplete\":[\"not_removed\"]");
	HAS(tc_out[1].json, "second@x");
	HASNT(tc_out[1].json, "incomplete");
}

Test(corr, unknown_daemon_and_junk_lines_are_harmless)
{
	static const char *const junk[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/frobnicator[11]: AAA111: removed",
		"Nov 22 10:00:00 mx1 dovecot: imap(bob): Logged out",
		"\xff\xfe garbage",
		"Nov 22 10:00:00 mx1 postfix/smtp[13]: AAA111: something we never saw",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};

	tc_run(junk);
	cr_assert_eq(tc_n, 1);
	/* client, the unparsed smtp line (it names the queue ID), removed */
	HAS(tc_out[0].json, "\"lines\":3");
	HASNT(tc_out[0].json, "incomplete");
}

Test(corr, dsn_joins_the_email)
{
	static const char *const dsn[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<m@x>",
		"Nov 22 10:00:00 mx1 postfix/qmgr[12]: AAA111: from=<a@x>, size=100, nrcpt=1 "
		"(queue active)",
		/* The DSN's own lines may come before the bounce line that creates it. */
		"Nov 22 10:00:01 mx1 postfix/cleanup[11]: CCC333: message-id=<dsn@mx1>",
		"Nov 22 10:00:01 mx1 postfix/local[13]: AAA111: to=<nobody@x>, relay=local, "
		"delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (unknown user)",
		"Nov 22 10:00:01 mx1 postfix/bounce[14]: AAA111: sender non-delivery notification: "
		"CCC333",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: CCC333: from=<>, size=2000, nrcpt=1 (queue "
		"active)",
		"Nov 22 10:00:01 mx1 postfix/local[13]: CCC333: to=<a@x>, relay=local, delay=0, "
		"delays=0/0/0/0, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Nov 22 10:00:01 mx1 postfix/qmgr[12]: CCC333: removed",
		NULL,
	};
	char e1[17], e2[17];

	tc_run(dsn);
	const char *a = tc_find("mx1", "AAA111"), *d = tc_find("mx1", "CCC333");
	HAS(a, "\"status\":\"bounced\"");
	HAS(a, "\"dsn\":[{\"host\":\"mx1\",\"queue_id\":\"CCC333\"}]");
	HAS(d, "\"dsn_of\":{\"host\":\"mx1\",\"queue_id\":\"AAA111\"}");
	HAS(d, "\"from\":\"\"");
	tc_email(a, e1);
	tc_email(d, e2);
	cr_assert_str_eq(e1, e2);
}

Test(corr, deferred_then_expired)
{
	static const char *const exp[] = {
		"Nov 22 10:00:00 mx1 postfix/pickup[9]: AAA111: uid=0 from=<root>",
		"Nov 22 10:00:00 mx1 postfix/qmgr[12]: AAA111: from=<root@mx1>, size=100, nrcpt=2 "
		"(queue active)",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=none, delay=1, "
		"delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to y[192.0.2.5]:25: "
		"Connection refused)",
		"Nov 22 10:00:01 mx1 postfix/local[14]: AAA111: to=<c@mx1>, relay=local, delay=1, "
		"delays=0/0/0/1, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Nov 22 10:30:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=none, delay=1801, "
		"delays=1800/0/1/0, dsn=4.4.1, status=deferred (connect to y[192.0.2.5]:25: "
		"Connection refused)",
		"Nov 22 11:00:01 mx1 postfix/qmgr[12]: AAA111: from=<root@mx1>, status=expired, "
		"returned to sender",
		"Nov 22 11:00:01 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};

	tc_run(exp);
	const char *a = tc_find("mx1", "AAA111");
	HAS(a, "\"status\":\"partial\"");
	HAS(a, "{\"to\":\"b@y\",\"status\":\"expired\"");
	HAS(a, "\"attempts\":2");
	HAS(a, "{\"to\":\"c@mx1\",\"status\":\"sent\"");
}

Test(corr, still_deferred_at_end_is_reported_open)
{
	static const char *const open[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/qmgr[12]: AAA111: from=<a@x>, size=100, nrcpt=1 "
		"(queue active)",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=none, delay=1, "
		"delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to y[192.0.2.5]:25: "
		"Connection refused)",
		NULL,
	};

	tc_run(open);
	HAS(tc_out[0].json, "\"status\":\"deferred\"");
	HAS(tc_out[0].json, "\"incomplete\":[\"not_removed\"]");
}

Test(corr, rejects_are_records_of_their_own)
{
	static const char *const rej[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: connect from c[192.0.2.1]",
		"Nov 22 10:00:01 mx1 postfix/smtpd[10]: NOQUEUE: reject: RCPT from c[192.0.2.1]: "
		"554 5.7.1 <v@z>: Relay access denied; from=<a@x> to=<v@z> proto=ESMTP helo=<c>",
		"Nov 22 10:00:02 mx1 postfix/smtpd[10]: NOQUEUE: reject: RCPT from c[192.0.2.1]: "
		"450 4.2.0 <w@x>: Recipient address rejected: Greylisted; from=<a@x> to=<w@x> "
		"proto=ESMTP helo=<c>",
		"Nov 22 10:00:03 mx1 postfix/smtpd[10]: disconnect from c[192.0.2.1] ehlo=1 mail=1 "
		"rcpt=0/2 quit=1 commands=3/5",
		NULL,
	};

	tc_run(rej);
	cr_assert_eq(tc_n, 2);
	HAS(tc_out[0].json, "\"kind\":\"reject\"");
	HAS(tc_out[0].json, "\"status\":\"rejected\"");
	HAS(tc_out[0].json, "\"session_start\":\"2026-11-22T10:00:00Z\"");
	HAS(tc_out[0].json, "\"to\":\"v@z\"");
	HAS(tc_out[1].json, "\"status\":\"deferred\"");
	HAS(tc_out[1].json, "\"reject_code\":\"450\"");
}

Test(corr, memory_is_bounded_by_max_open)
{
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { NULL, NULL, NULL };
	be_corr *c;
	el_parse_ctx ctx;
	el_rec r;
	be_corr_stats st;
	char line[256];

	conf.max_open = 100;
	c = be_corr_new(&conf, &out);
	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(
			line, sizeof(line),
			"Nov 22 10:%02d:%02d mx1 postfix/smtpd[10]: %08X: client=c[192.0.2.1]",
			i / 60 % 60, i % 60, 0x10000000 + i);
		el_parse_line(&ctx, line, (size_t)n, &r);
		be_corr_line(c, el_rec_get(&r, EL_F_HOST), &r);
		be_corr_tick(c, 0);
	}
	be_corr_get_stats(c, &st);
	cr_assert_leq(st.open, 100);
	cr_assert_geq(st.evicted, 4900);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
}

Test(corr, hops_to_servers_outside_else_are_forgotten)
{
	/*
	 * Every delivery to a Postfix server on the Internet ends "queued as X",
	 * and X never shows up here.  A day of them must not pile up in memory
	 * and in every checkpoint: each is given up one hop window later.
	 */
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { NULL, NULL, NULL };
	be_corr *c = be_corr_new(&conf, &out);
	el_parse_ctx ctx;
	el_rec r;
	be_corr_stats st;
	char line[320];
	int n;

	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	for (int i = 0; i < 3600; i++) {
		int m = i / 60, s = i % 60;
		n = snprintf(line, sizeof(line),
			     "Nov 22 10:%02d:%02d mx1 postfix/smtp[13]: %08X: to=<u@ext.example>, "
			     "relay=mx.ext.example[198.51.100.7]:25, delay=1, delays=0/0/0/1, "
			     "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 4X%08X)",
			     m, s, 0x10000000 + i, i);
		el_parse_line(&ctx, line, (size_t)n, &r);
		be_corr_line(c, el_rec_get(&r, EL_F_HOST), &r);
		be_corr_tick(c, 0);
	}
	be_corr_get_stats(c, &st);
	/* At most two windows' worth wait: the sweep runs once per window. */
	cr_assert_gt(st.pending_hops, 0);
	cr_assert_leq(st.pending_hops, 2 * conf.hop_window_s + 1, "%llu still pending",
		      (unsigned long long)st.pending_hops);
	cr_assert_eq(st.pending_hops + st.hops_unclaimed, 3600);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
}

Test(corr, dump_and_restore_keep_deferred_mail)
{
	static const char *const part1[] = {
		"Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]",
		"Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<m\\tx@x>",
		"Nov 22 10:00:00 mx1 postfix/qmgr[12]: AAA111: from=<a@x>, size=100, nrcpt=1 "
		"(queue active)",
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=none, delay=1, "
		"delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to y[192.0.2.5]:25: "
		"Connection refused)",
		NULL,
	};
	static const char *const part2[] = {
		"Nov 22 11:00:00 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=y[192.0.2.5]:25, "
		"delay=3600, delays=3599/0/0.5/0.5, dsn=2.0.0, status=sent (250 ok)",
		"Nov 22 11:00:00 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { tc_tx, tc_reject, NULL };
	be_corr *c = be_corr_new(&conf, &out);
	el_parse_ctx ctx;
	el_rec r;
	FILE *f = tmpfile();
	char e1[17];

	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
	tc_n = 0;
	for (const char *const *l = part1; *l; l++) {
		el_parse_line(&ctx, *l, strlen(*l), &r);
		be_corr_line(c, el_rec_get(&r, EL_F_HOST), &r);
	}
	cr_assert_eq(be_corr_dump(c, f), 0);
	be_corr_free(c); /* the restart: nothing emitted */
	cr_assert_eq(tc_n, 0);
	rewind(f);
	c = be_corr_new(&conf, &out);
	cr_assert_eq(be_corr_restore(c, f), 0);
	fclose(f);
	for (const char *const *l = part2; *l; l++) {
		el_parse_line(&ctx, *l, strlen(*l), &r);
		be_corr_line(c, el_rec_get(&r, EL_F_HOST), &r);
	}
	be_corr_flush(c);
	be_corr_free(c);
	el_parse_ctx_fini(&ctx);
	cr_assert_eq(tc_n, 1);
	const char *a = tc_out[0].json;
	HAS(a, "\"status\":\"delivered\"");
	HAS(a, "\"attempts\":2");
	HAS(a, "\"client_ip\":\"192.0.2.1\"");
	HAS(a, "\"message_id\":\"m\\\\tx@x\"");
	HAS(a, "\"lines\":6");
	HASNT(a, "incomplete");
	tc_email(a, e1);
}

Test(corr, restore_rejects_bad_state)
{
	/* A valid T line, then broken records after it. */
#define T_OK                                                                                       \
	"else-corr-state "                                                                         \
	"2\nT\t1\tmx1\tQ1\t0\t0\t0\t0\t0\t0\t0\t0\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-"    \
	"\t\\-\n"
	static const char *const bad[] = {
		"",
		"not-a-state\n",
		"else-corr-state 1\n",
		"else-corr-state 2\nC\t-5\n",
		"else-corr-state 2\nT\t1\n",
		/* a recipient before any transaction */
		"else-corr-state 2\nR\ta@b\t\\-\t1\t\\-\t\t\\-\t\\-\t0\t0\t0\t\t\\-\t\\-\t\\-\n",
		/* an empty queue ID */
		"else-corr-state "
		"2\nT\t1\tmx1\t\t0\t0\t0\t0\t0\t0\t0\t0\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-\t\\-"
		"\t\\-\t\\-\n",
		/* recipient status out of range */
		T_OK "R\ta\t\\-\t99\t\\-\t\t\\-\t\\-\t0\t0\t0\t\t\\-\t\\-\t\\-\n",
		/* an unknown escape */
		T_OK "A\t1\t\\q\t\\-\t0\n",
		/* an event number past the last event */
		T_OK "A\t9999\t\\-\t\\-\t0\n",
		/* a link with a host but no queue ID */
		T_OK "D\tmx2\t\\-\n",
		/* a record without its newline */
		T_OK "D\tmx2\tQ2",
		/* an unknown record */
		T_OK "Z\n",
		/* an escaped NUL */
		T_OK "A\t1\ta\\x00b\t\\-\t0\n",
	};
	static const char *const good[] = {
		T_OK,
		T_OK "D\tmx2\tQ2\n",
		T_OK "A\t1\t\\-\ta\\x09b\t0\n",
	};
#undef T_OK
	be_corr_conf conf = BE_CORR_CONF_DEFAULT;
	be_corr_out out = { NULL, NULL, NULL };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = tmpfile();
		be_corr *c = be_corr_new(&conf, &out);
		fputs(bad[i], f);
		rewind(f);
		cr_assert_eq(be_corr_restore(c, f), -EINVAL, "state %zu accepted", i);
		fclose(f);
		be_corr_free(c);
	}
	/* The same prefixes are valid on their own: the failures above are the records. */
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		be_corr *c = be_corr_new(&conf, &out);
		cr_assert_eq(be_corr_restore_buf(c, el_span_make(good[i], strlen(good[i]))), 0,
			     "good state %zu refused", i);
		be_corr_free(c);
	}
}

Test(corr, exchange_rows_group_by_network_message_id_and_link_to_postfix)
{
	static const char *const ex[] = {
		"#Fields: "
		"date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
		"connector-id,source,event-id,internal-message-id,message-id,network-message-id,"
		"recipient-address,recipient-status,total-bytes,recipient-count,related-recipient-"
		"address,reference,message-subject,sender-address,return-path,message-info,"
		"directionality,tenant-id,original-client-ip,original-server-ip,custom-data,"
		"transport-traffic-type,log-id,schema-version",
		"2026-11-22T10:00:00.100Z,10.0.0.5,cl.corp.test,10.0.0.6,EX1,,,SMTP,RECEIVE,1001,<"
		"e1@corp.test>,net-aaa,b@y.test;c@corp.test,,4000,2,,,hi,a@corp.test,a@corp.test,,"
		"Originating,,,,,Email,,15.02",
		"2026-11-22T10:00:00.200Z,10.0.0.6,EX1,10.0.0.7,EX2,,,SMTP,RECEIVE,2002,<e1@corp."
		"test>,net-aaa,c@corp.test,,4100,1,,,hi,a@corp.test,a@corp.test,,Originating,,,,,"
		"Email,,15.02",
		"2026-11-22T10:00:00.300Z,10.0.0.7,EX2,,EX2,,,STOREDRIVER,DELIVER,2002,<e1@corp."
		"test>,net-aaa,c@corp.test,,4100,1,,,hi,a@corp.test,a@corp.test,,Originating,,,,,"
		"Email,,15.02",
		"Nov 22 10:00:01 mx1 postfix/smtpd[10]: AAA111: client=ex1[10.0.0.6]",
		"Nov 22 10:00:01 mx1 postfix/cleanup[11]: AAA111: message-id=<e1@corp.test>",
		"2026-11-22T10:00:01.500Z,10.0.0.6,EX1,10.0.0.9,mx1,,,SMTP,SEND,1001,<e1@corp.test>"
		",net-aaa,b@y.test,250 2.0.0 Ok: queued as "
		"AAA111,4000,1,,,hi,a@corp.test,a@corp.test,,Originating,,,,,Email,,15.02",
		"2026-11-22T10:00:01.600Z,10.0.0.6,EX1,,EX1,,,SMTP,SEND,1001,<e1@corp.test>,net-"
		"aaa,c@corp.test,250 2.6.0 Queued mail for "
		"delivery,4000,1,,,hi,a@corp.test,a@corp.test,,Originating,,,,,Email,,15.02",
		"Nov 22 10:00:02 mx1 postfix/qmgr[12]: AAA111: removed",
		NULL,
	};
	char e1[17], e2[17], e3[17];

	tc_run(ex);
	const char *x1 = tc_find("EX1", "1001"), *x2 = tc_find("EX2", "2002"),
		   *p = tc_find("mx1", "AAA111");
	cr_assert_not_null(x1);
	cr_assert_not_null(x2);
	cr_assert_not_null(p);
	HAS(x1, "\"status\":\"delivered\"");
	HAS(x1, "\"next_hop\":{\"host\":\"mx1\",\"queue_id\":\"AAA111\"}");
	HAS(x2, "{\"to\":\"c@corp.test\",\"status\":\"sent\",\"relay_host\":\"mailbox\"");
	HAS(p, "\"prev_hop\":{\"host\":\"EX1\",\"queue_id\":\"1001\"}");
	tc_email(x1, e1);
	tc_email(x2, e2);
	tc_email(p, e3);
	cr_assert_str_eq(e1, e2);
	cr_assert_str_eq(e1, e3);
}

Test(corr, exchange_rows_out_of_order_keep_the_earliest_time)
{
	/* Exchange writes its events to several files; a collector reads them side by side. */
	static const char *const ex[] = {
		"#Fields: "
		"date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
		"connector-id,source,event-id,internal-message-id,message-id,network-message-id,"
		"recipient-address,recipient-status,total-bytes,recipient-count,related-recipient-"
		"address,reference,message-subject,sender-address,return-path,message-info,"
		"directionality,tenant-id,original-client-ip,original-server-ip,custom-data,"
		"transport-traffic-type,log-id,schema-version",
		"2026-11-22T10:00:05.300Z,10.0.0.7,EX2,,EX2,,,STOREDRIVER,DELIVER,2002,<e1@corp."
		"test>,net-aaa,c@corp.test,,4100,1,,,hi,a@corp.test,a@corp.test,,Originating,,,,,"
		"Email,,15.02",
		"2026-11-22T10:00:00.200Z,10.0.0.6,EX1,10.0.0.7,EX2,,,SMTP,RECEIVE,2002,<e1@corp."
		"test>,net-aaa,c@corp.test,,4100,1,,,hi,a@corp.test,a@corp.test,,Originating,,,,,"
		"Email,,15.02",
		NULL,
	};

	tc_run(ex);
	const char *x = tc_find("EX2", "2002");
	cr_assert_not_null(x);
	HAS(x, "\"first_seen\":\"2026-11-22T10:00:00");
	HAS(x, "\"last_seen\":\"2026-11-22T10:00:05");
	HAS(x, "\"lines\":2");
}

Test(corr, dsn_told_before_the_bounce_line)
{
	/* Seen in the harness: the whole DSN is logged before bounce announces it. */
	static const char *const early[] = {
		"Nov 22 13:55:09 vol1 postfix/smtpd[10]: 8456DA72752: client=c[192.0.2.1]",
		"Nov 22 13:55:09 vol1 postfix/qmgr[12]: 8456DA72752: from=<a@x>, size=100, nrcpt=1 "
		"(queue active)",
		"Nov 22 13:55:09 vol1 postfix/smtp[13]: 8456DA72752: to=<n@y>, "
		"relay=y[192.0.2.5]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host y "
		"said: 550 no)",
		"Nov 22 13:55:09 vol1 postfix/cleanup[11]: 88661A729A4: "
		"message-id=<20261122135509.88661A729A4@vol1.else.test>",
		"Nov 22 13:55:09 vol1 postfix/qmgr[12]: 88661A729A4: from=<>, size=2699, nrcpt=1 "
		"(queue active)",
		"Nov 22 13:55:09 vol1 postfix/local[14]: 88661A729A4: to=<a@x>, relay=local, "
		"delay=0.02, delays=0.02/0/0/0, dsn=2.0.0, status=sent (delivered to file: "
		"/dev/null)",
		"Nov 22 13:55:09 vol1 postfix/qmgr[12]: 88661A729A4: removed",
		"Nov 22 13:55:09 vol1 postfix/bounce[15]: 8456DA72752: sender non-delivery "
		"notification: 88661A729A4",
		"Nov 22 13:55:09 vol1 postfix/qmgr[12]: 8456DA72752: removed",
		NULL,
	};
	char e1[17], e2[17];

	tc_run(early);
	cr_assert_eq(tc_n, 2);
	const char *a = tc_find("vol1", "8456DA72752"), *d = tc_find("vol1", "88661A729A4");
	HAS(d, "\"dsn_of\":{\"host\":\"vol1\",\"queue_id\":\"8456DA72752\"}");
	HAS(d, "\"status\":\"delivered\"");
	HASNT(d, "incomplete");
	tc_email(a, e1);
	tc_email(d, e2);
	cr_assert_str_eq(e1, e2);
}

Test(corr, late_host_catching_up_still_links)
{
	/* mx2's collector was cut off for five minutes while mx1 kept sending. */
	static const char *lines[64];
	static char buf[40][200];
	int n = 0, k;

	lines[n++] = "Nov 22 10:00:00 mx2 postfix/smtpd[20]: connect from mx1[192.0.2.2]";
	lines[n++] = "Nov 22 10:00:00 mx1 postfix/smtpd[10]: AAA111: client=c[192.0.2.1]";
	lines[n++] = "Nov 22 10:00:00 mx1 postfix/cleanup[11]: AAA111: message-id=<m1@x>";
	lines[n++] =
		"Nov 22 10:00:01 mx1 postfix/smtp[13]: AAA111: to=<b@y>, relay=mx2[192.0.2.3]:25, "
		"delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as BBB222)";
	lines[n++] = "Nov 22 10:00:01 mx1 postfix/qmgr[12]: AAA111: removed";
	for (k = 0; k < 30; k++) {
		snprintf(buf[k], sizeof(buf[k]),
			 "Nov 22 10:%02d:%02d mx1 postfix/smtpd[10]: connect from c%d[192.0.2.9]",
			 1 + k / 6, (k % 6) * 10, k);
		lines[n++] = buf[k];
	}
	lines[n++] = "Nov 22 10:00:01 mx2 postfix/smtpd[20]: BBB222: client=mx1[192.0.2.2]";
	lines[n++] = "Nov 22 10:00:01 mx2 postfix/cleanup[21]: BBB222: message-id=<m1@x>";
	lines[n++] = "Nov 22 10:00:01 mx2 postfix/qmgr[22]: BBB222: removed";
	lines[n] = NULL;
	tc_run(lines);
	HAS(tc_find("mx1", "AAA111"), "\"next_hop\":{\"host\":\"mx2\",\"queue_id\":\"BBB222\"}");
	HAS(tc_find("mx2", "BBB222"), "\"prev_hop\":{\"host\":\"mx1\",\"queue_id\":\"AAA111\"}");
}
