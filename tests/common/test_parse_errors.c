/*
 * test_parse_errors - hostile and broken input: every line comes back with
 * raw intact, nothing crashes, and what cannot be understood is "unparsed".
 */
#include <stdlib.h>

#include "parse_case.h"

static el_parse_ctx ctx;

static void setup(void)
{
	el_parse_ctx_init(&ctx);
	ctx.force_year = 2026;
}

static void teardown(void)
{
	el_parse_ctx_fini(&ctx);
}

TestSuite(parse_errors, .init = setup, .fini = teardown);

Test(parse_errors, empty_and_blank)
{
	el_rec r;

	el_parse_line(&ctx, "", 0, &r);
	cr_assert_eq(r.event, EL_EV_UNPARSED);
	cr_assert_eq(r.raw.len, 0);
	el_parse_line(&ctx, "\r\n", 2, &r);
	cr_assert_eq(r.event, EL_EV_UNPARSED);
	cr_assert_eq(r.raw.len, 0);
	cr_assert_eq(ctx.n_unparsed, 2);
}

Test(parse_errors, rejects_overlong_line)
{
	size_t n = EL_PARSE_LINE_MAX + 100;
	char *l = malloc(n);
	const char *head = "Nov 22 13:23:01 mx1 postfix/smtpd[1]: 4ABC123DEF: client=";
	el_rec r;

	memset(l, 'x', n);
	memcpy(l, head, strlen(head));
	el_parse_line(&ctx, l, n, &r);
	cr_assert(r.flags & EL_REC_TOO_LONG);
	cr_assert_eq(r.event, EL_EV_UNPARSED);
	cr_assert_eq(r.raw.len, n, "raw keeps the whole line");
	cr_assert_eq(ctx.n_too_long, 1);
	free(l);
}

Test(parse_errors, binary_junk_and_nul)
{
	static const char junk[] =
		"Nov 22 13:23:01 mx1 postfix/smtpd[1]: \0\xff\xfe connect from a[1.2.3.4]";
	el_rec r;

	el_parse_line(&ctx, junk, sizeof(junk) - 1, &r);
	cr_assert_eq(r.event, EL_EV_UNPARSED);
	cr_assert_eq(r.raw.len, sizeof(junk) - 1);
	/* The framing around the junk is still reported. */
	cr_assert_not_null(pc_field(&r, "host"));
	srand(42);
	for (int k = 0; k < 20000; k++) {
		char buf[300];
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		for (size_t i = 0; i < len; i++)
			buf[i] = (char)(rand() & 0xff);
		el_parse_line(&ctx, buf, len, &r);
		cr_assert_eq(r.raw.p, buf);
	}
}

Test(parse_errors, nul_inside_field_kept)
{
	static const char l[] = "Nov 22 13:23:01 mx1 postfix/qmgr[1]: 4ABC123DEF: from=<a\0b@x>, "
				"size=1, nrcpt=1 (queue active)";
	el_rec r;
	const el_span *v;

	el_parse_line(&ctx, l, sizeof(l) - 1, &r);
	cr_assert_eq(r.event, EL_EV_QUEUE_ACTIVE);
	v = pc_field(&r, "from");
	cr_assert_not_null(v);
	cr_assert_eq(v->len, 5);
}

Test(parse_errors, forged_program_names)
{
	static const struct parse_case cases[] = {
		/* Bytes no syslog tag carries. */
		{ "Nov 22 13:23:01 mx1 post fix/smtpd[1]: connect from a[1.2.3.4]", "unparsed",
		  "!client_ip" },
		{ "Nov 22 13:23:01 mx1 postfix/sm\x01tpd[1]: connect from a[1.2.3.4]", "unparsed",
		  "!program" },
		{ "Nov 22 13:23:01 mx1 postfix/[1]: connect from a[1.2.3.4]", "unparsed",
		  "!client_ip" },
		{ "Nov 22 13:23:01 mx1 /smtpd[1]: connect from a[1.2.3.4]", "unparsed",
		  "!client_ip" },
		/* A pid that is not a number, or absurdly long. */
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[12a]: connect from a[1.2.3.4]", "unparsed",
		  "!pid" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[123456789012]: connect from a[1.2.3.4]",
		  "unparsed", "!pid" },
		/* An unknown daemon under postfix/ is not guessed at. */
		{ "Nov 22 13:23:01 mx1 postfix/smtpdx[1]: connect from a[1.2.3.4]", "unparsed",
		  "program=postfix/smtpdx|!client_ip" },
		/* A non-postfix program saying postfix things is not postfix. */
		{ "Nov 22 13:23:01 mx1 logger[1]: 4ABC123DEF: removed", "unparsed", "!queue_id" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		pc_check(&ctx, &cases[i]);
}

Test(parse_errors, malformed_postfix_messages)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/smtp[1]: 4ABC123DEF: to=<a@b, relay=none",
		  "unparsed", "queue_id=4ABC123DEF|!to" },
		{ "Nov 22 13:23:01 mx1 postfix/smtp[1]: 4ABC123DEF: to=<a@b>, relay=none",
		  "unparsed", "queue_id=4ABC123DEF" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1]: 4ABC123DEF: from=<a@b>", "unparsed",
		  "queue_id=4ABC123DEF" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT from nowhere",
		  "unparsed", "!stage|!action" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1]: NOQUEUE: explode: RCPT from a[1.2.3.4]: "
		  "x; from=<a> to=<b>",
		  "unparsed", "" },
		{ "Nov 22 13:23:01 mx1 postfix/bounce[1]: 4ABC123DEF: sender non-delivery "
		  "notification: ",
		  "unparsed", "!dsn_queue_id" },
		{ "Nov 22 13:23:01 mx1 postfix/bounce[1]: 4ABC123DEF: sender non-delivery "
		  "notification: A;B",
		  "unparsed", "!dsn_queue_id" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1]: 4ABC123DEF: client=", "unparsed",
		  "!client_ip" },
		{ "Nov 22 13:23:01 mx1 postfix/postscreen[1]: PASS NEW 127.0.0.1", "unparsed", "" },
		{ "Nov 22 13:23:01 mx1 postfix/smtp[1]: 4ABC123DEF: to=<x>, "
		  "relay=h[1.2.3.4]:99999999, delay=1, delays=1, dsn=2.0.0, status=sent (ok)",
		  "delivery", "relay_ip=1.2.3.4|!relay_port" },
		{ "Nov 22 13:23:01 mx1 postfix/smtp[1]: 4ABC123DEF: to=<x>, relay=h[1.2.3.4, "
		  "status=sent (ok)",
		  "delivery", "!relay_ip" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		pc_check(&ctx, &cases[i]);
}

Test(parse_errors, malformed_frames)
{
	static const struct parse_case cases[] = {
		{ "Nov 32 13:23:01 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", "unparsed", "!host" },
		{ "Xyz 22 13:23:01 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", "unparsed", "!host" },
		{ "Nov 22 25:23:01 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", "unparsed", "" },
		{ "2026-13-22T13:23:01Z mx1 postfix/qmgr[1]: 4ABC123DEF: removed", "unparsed", "" },
		{ "2026-11-22T13:23:01+99:00 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", "unparsed",
		  "" },
		{ "<999>Nov 22 13:23:01 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", "unparsed",
		  "!facility" },
		{ "<22>1 2026-11-22T13:23:01Z mx1 postfix/qmgr 1 - [unterminated 4ABC123DEF: "
		  "removed",
		  "unparsed", "" },
		{ "<22>1 2026-11-22T13:23:01Z mx1 postfix/qmgr abc - - 4ABC123DEF: removed",
		  "unparsed", "" },
		{ "Nov 22 13:23:01 mx1", "unparsed", "" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1]", "unparsed", "program=postfix/qmgr" },
		{ "#Fields:", "msgtrk_header", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		pc_check(&ctx, &cases[i]);
}

/* Every prefix of a valid line parses without reading past its end. */
Test(parse_errors, every_prefix_is_safe)
{
	static const char *lines[] = {
		"Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: to=<bob@b.test>, "
		"orig_to=<b@b.test>, relay=mx2.b.test[127.0.0.1]:2526, delay=0.12, "
		"delays=0.01/0.01/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
		"5DEF456)",
		"<22>1 2026-11-22T13:23:01.123Z mx1 postfix/cleanup 1235 - [a b=\"c\"] 4ABC123DEF: "
		"reject: header Subject: X from l[127.0.0.1]; from=<a@a.test> to=<b@b.test> "
		"proto=ESMTP helo=<x>: 5.7.1 no",
		"Nov 22 13:23:01 mx3 postfix/postscreen[99]: NOQUEUE: reject: RCPT from "
		"[127.0.0.2]:44444: 550 5.7.1 Service unavailable; from=<a@b.test>, to=<c@d.test>, "
		"proto=ESMTP, helo=<h>",
		"Nov 22 13:23:01 mx1 amavis[2222]: (02345-01) Passed CLEAN {RelayedInbound}, "
		"[10.0.0.1]:41234 [10.0.0.1] <a@x.test> -> <b@y.test>, Queue-ID: 4AbCd, "
		"Message-ID: <id@x>, 123 ms",
		"2026-11-22T10:00:02Z,DELIVER,<m2@corp.test>,\"quoted \"\"x\"\"",
	};
	el_rec r;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		size_t n = strlen(lines[i]);
		for (size_t k = 0; k <= n; k++) {
			/* Copy to an exact-size heap block so ASan sees any overread. */
			char *p = malloc(k ? k : 1);
			memcpy(p, lines[i], k);
			el_parse_line(&ctx, p, k, &r);
			cr_assert_eq(r.raw.len, k);
			free(p);
		}
	}
}
