/*
 * test_parse - table-driven cases per framing and per daemon.  Lines are in
 * the exact format Postfix 3.7 writes (see tests/data/postfix for whole logs
 * from the real-Postfix harness, checked by golden.sh).
 */
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

#define RUN(cases)                                                                                 \
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)                              \
	pc_check(&ctx, &cases[i])

TestSuite(parse, .init = setup, .fini = teardown);

Test(parse, smtpd_lines)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: connect from localhost[127.0.0.1]",
		  "connect",
		  "host=mx1|program=postfix/"
		  "smtpd|service=smtpd|pid=1234|client_host=localhost|client_ip=127.0.0.1" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: connect from unknown[2001:db8::25]",
		  "connect", "client_host=unknown|client_ip=2001:db8::25" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: 4ABC123DEF: "
		  "client=localhost[127.0.0.1], sasl_method=PLAIN, sasl_username=bob@a.test",
		  "client",
		  "queue_id=4ABC123DEF|client_ip=127.0.0.1|sasl_method=PLAIN|sasl_username=bob@a."
		  "test" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: 4ABC123DEF: "
		  "client=localhost[127.0.0.1], orig_queue_id=3F00A1, orig_client=mx0[192.0.2.1]",
		  "client", "orig_queue_id=3F00A1|orig_client_host=mx0|orig_client_ip=192.0.2.1" },
		{ "Nov 22 13:36:58 mx1 postfix/smtpd[18862]: NOQUEUE: client=localhost[127.0.0.1], "
		  "orig_queue_id=48018A72163, orig_client=localhost[127.0.0.1]",
		  "client",
		  "!queue_id|client_ip=127.0.0.1|orig_queue_id=48018A72163|orig_client_ip=127.0.0."
		  "1" },
		{ "Nov 22 13:36:58 mx1 postfix/smtpd[18862]: proxy-accept: END-OF-MESSAGE: 250 "
		  "2.0.0 Ok: queued as 877ECA72173; from=<sender@sender.test> "
		  "to=<dave@remote.test> proto=ESMTP helo=<mx1.else.test>",
		  "proxy_accept",
		  "stage=END-OF-MESSAGE|response=250 2.0.0 Ok: queued as "
		  "877ECA72173|queued_as=877ECA72173|from=sender@sender.test|to=dave@remote.test|"
		  "helo=mx1.else.test" },
		{ "Nov 22 13:36:58 mx1 postfix/smtpd[18862]: 48018A72163: proxy-reject: "
		  "END-OF-MESSAGE: 554 5.7.1 spam; from=<a@b.test> to=<c@d.test> proto=ESMTP "
		  "helo=<h>",
		  "proxy_reject", "queue_id=48018A72163|response=554 5.7.1 spam|!queued_as" },
		{ "Nov 22 13:23:02 mx1 postfix/smtpd[1234]: disconnect from localhost[127.0.0.1] "
		  "ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 commands=3/5",
		  "disconnect",
		  "client_host=localhost|commands=ehlo=1 mail=1 rcpt=0/1 data=0/1 quit=1 "
		  "commands=3/5" },
		{ "Nov 22 13:23:02 mx1 postfix/smtpd[1234]: lost connection after DATA (0 bytes) "
		  "from localhost[127.0.0.1]",
		  "lost_connection", "stage=DATA (0 bytes)|client_ip=127.0.0.1" },
		{ "Nov 22 13:23:02 mx1 postfix/smtpd[1234]: timeout after END-OF-MESSAGE from "
		  "x.test[192.0.2.9]",
		  "timeout", "stage=END-OF-MESSAGE|client_host=x.test" },
		{ "Nov 22 13:23:02 mx1 postfix/smtpd[1234]: too many errors after RCPT from "
		  "x.test[192.0.2.9]",
		  "too_many_errors", "stage=RCPT" },
		{ "Nov 22 13:23:02 mx1 postfix/smtpd[1234]: improper command pipelining after "
		  "CONNECT from unknown[192.0.2.9]: EHLO x\\r\\n",
		  "improper_pipelining", "stage=CONNECT|client_ip=192.0.2.9|text=EHLO x\\r\\n" },
		{ "Nov 22 13:23:02 mx2 postfix/smtpd[1234]: Anonymous TLS connection established "
		  "from mx1.else.test[127.0.0.1]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
		  "(256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) "
		  "server-digest SHA256",
		  "tls",
		  "tls_level=Anonymous|client_host=mx1.else.test|tls_version=TLSv1.3|tls_cipher="
		  "TLS_AES_256_GCM_SHA384|tls_bits=256/256" },
		{ "Nov 22 13:23:02 mx1 postfix/smtpd[1234]: SSL_accept error from "
		  "unknown[192.0.2.9]: lost connection",
		  "tls_error", "client_ip=192.0.2.9|text=lost connection" },
		{ "Nov 22 13:23:02 mx1 postfix/submission/smtpd[1234]: connect from x[192.0.2.1]",
		  "connect",
		  "program=postfix/submission/smtpd|syslog_name=postfix/submission|service=smtpd" },
	};
	RUN(cases);
}

Test(parse, smtpd_rejects_and_actions)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: NOQUEUE: reject: RCPT from "
		  "localhost[127.0.0.1]: 554 5.7.1 <x@y.test>: Relay access denied; "
		  "from=<a@b.test> to=<x@y.test> proto=ESMTP helo=<client.test>",
		  "reject",
		  "action=reject|stage=RCPT|client_ip=127.0.0.1|reject_code=554|reject_dsn=5.7.1|"
		  "reject_reason=<x@y.test>: Relay access "
		  "denied|from=a@b.test|to=x@y.test|proto=ESMTP|helo=client.test|!queue_id" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: NOQUEUE: reject: RCPT from "
		  "localhost[127.0.0.1]: 550 5.1.1 <nobody@a.test>: Recipient address rejected: "
		  "User unknown in local recipient table; from=<> to=<nobody@a.test> proto=ESMTP "
		  "helo=<h>",
		  "reject", "reject_code=550|reject_dsn=5.1.1|from=|to=nobody@a.test" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: NOQUEUE: reject: CONNECT from "
		  "unknown[192.0.2.7]: 554 5.7.1 <unknown[192.0.2.7]>: Client host rejected: "
		  "Access denied; proto=SMTP",
		  "reject", "stage=CONNECT|client_ip=192.0.2.7|proto=SMTP|!from" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: NOQUEUE: reject: DATA from "
		  "localhost[127.0.0.1]: 503 5.5.0 <DATA>: Data command rejected: Improper use of "
		  "SMTP command pipelining; from=<a@b.test> to=<c@d.test> proto=ESMTP helo=<x>",
		  "reject", "stage=DATA|reject_code=503" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: 4ABC123DEF: reject: RCPT from "
		  "localhost[127.0.0.1]: 450 4.2.0 <c@d.test>: Recipient address rejected: "
		  "Greylisted; from=<a@b.test> to=<c@d.test> proto=ESMTP helo=<x>",
		  "reject", "queue_id=4ABC123DEF|reject_code=450|reject_dsn=4.2.0" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: NOQUEUE: filter: RCPT from "
		  "localhost[127.0.0.1]: <c@d.test>: Recipient address triggers FILTER "
		  "smtp:[127.0.0.1]:10025; from=<a@b.test> to=<c@d.test> proto=SMTP helo=<x>",
		  "filter",
		  "reject_reason=<c@d.test>: Recipient address triggers FILTER "
		  "smtp:[127.0.0.1]:10025|to=c@d.test" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: 4ABC123DEF: hold: RCPT from "
		  "localhost[127.0.0.1]: <c@d.test>: Recipient address triggers HOLD action; "
		  "from=<a@b.test> to=<c@d.test> proto=ESMTP helo=<x>",
		  "hold", "queue_id=4ABC123DEF|stage=RCPT" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: 4ABC123DEF: milter-reject: "
		  "END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 Spam; from=<a@b.test> "
		  "to=<c@d.test> proto=ESMTP helo=<x>",
		  "milter_reject", "stage=END-OF-MESSAGE|reject_dsn=5.7.1|reject_reason=Spam" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: NOQUEUE: warn: RCPT from "
		  "localhost[127.0.0.1]: look here; from=<a@b.test> to=<c@d.test> proto=ESMTP "
		  "helo=<x>",
		  "warn", "reject_reason=look here" },
	};
	RUN(cases);
}

Test(parse, cleanup_lines)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: "
		  "message-id=<20261122.1@a.test>",
		  "message_id", "message_id=20261122.1@a.test" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: message-id=",
		  "message_id", "message_id=" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: "
		  "resent-message-id=<r1@a.test>",
		  "resent_message_id", "message_id=r1@a.test" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: reject: header Subject: "
		  "REJECTME from localhost[127.0.0.1]; from=<a@a.test> to=<b@b.test> proto=ESMTP "
		  "helo=<x>: 5.7.1 message content rejected",
		  "reject",
		  "stage=header|check_text=Subject: "
		  "REJECTME|client_ip=127.0.0.1|from=a@a.test|to=b@b.test|helo=x|reject_dsn=5.7.1|"
		  "reject_reason=message content rejected" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: hold: header Subject: "
		  "HOLDME from local; from=<root@mx1.else.test> to=<b@b.test>",
		  "hold",
		  "stage=header|check_text=Subject: "
		  "HOLDME|client_host=local|from=root@mx1.else.test|to=b@b.test" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: discard: body this is "
		  "spam from localhost[127.0.0.1]; from=<a@a.test> to=<b@b.test> proto=SMTP "
		  "helo=<x>: drop it",
		  "discard", "stage=body|check_text=this is spam|reject_reason=drop it" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: warning: header Subject: "
		  "hmm from localhost[127.0.0.1]; from=<a@a.test> to=<b@b.test> proto=SMTP "
		  "helo=<x>",
		  "warn", "action=warning|check_text=Subject: hmm" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4ABC123DEF: milter-reject: "
		  "END-OF-MESSAGE from localhost[127.0.0.1]: 5.7.1 virus; from=<a@a.test> "
		  "to=<b@b.test> proto=ESMTP helo=<x>",
		  "milter_reject", "reject_dsn=5.7.1" },
	};
	RUN(cases);
}

Test(parse, qmgr_and_delivery)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: from=<alice@a.test>, "
		  "size=523, nrcpt=2 (queue active)",
		  "queue_active", "from=alice@a.test|size=523|nrcpt=2" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: from=<>, size=2345, nrcpt=1 "
		  "(queue active)",
		  "queue_active", "from=" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: from=<alice@a.test>, "
		  "status=expired, returned to sender",
		  "expired", "from=alice@a.test|status=expired" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: removed", "removed",
		  "queue_id=4ABC123DEF" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: skipped, still being "
		  "delivered",
		  "skipped", "" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: to=<bob@b.test>, "
		  "orig_to=<b@b.test>, relay=mx2.b.test[127.0.0.1]:2526, delay=0.12, "
		  "delays=0.01/0.01/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as "
		  "5DEF456)",
		  "delivery",
		  "to=bob@b.test|orig_to=b@b.test|relay_host=mx2.b.test|relay_ip=127.0.0.1|relay_"
		  "port=2526|delay=0.12|delays=0.01/0.01/0.05/"
		  "0.05|dsn=2.0.0|status=sent|response=250 2.0.0 Ok: queued as "
		  "5DEF456|queued_as=5DEF456" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: to=<bob@b.test>, "
		  "relay=mx[2001:db8::2]:25, conn_use=2, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, "
		  "status=sent (250 ok)",
		  "delivery", "relay_ip=2001:db8::2|relay_port=25|conn_use=2|delay=1" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: to=<bob@b.test>, "
		  "relay=none, delay=30, delays=0/0/30/0, dsn=4.4.1, status=deferred (connect to "
		  "mx2.else.test[127.0.0.1]:2526: Connection refused)",
		  "delivery",
		  "relay_host=none|!relay_ip|dsn=4.4.1|status=deferred|response=connect to "
		  "mx2.else.test[127.0.0.1]:2526: Connection refused|!queued_as" },
		{ "Nov 22 13:23:02 mx2 postfix/local[1238]: 5DEF456: to=<bob@b.test>, relay=local, "
		  "delay=0.02, delays=0/0/0/0.01, dsn=2.0.0, status=sent (delivered to mailbox)",
		  "delivery", "relay_host=local|status=sent|response=delivered to mailbox" },
		{ "Nov 22 13:23:02 mx2 postfix/local[1238]: 5DEF456: to=<bob@b.test>, "
		  "orig_to=<postmaster>, relay=local, delay=0.02, delays=0/0/0/0.01, dsn=2.0.0, "
		  "status=sent (forwarded as 7AB12CD)",
		  "delivery", "orig_to=postmaster|queued_as=7AB12CD" },
		{ "Nov 22 13:23:02 mx2 postfix/local[1238]: 5DEF456: to=<nobody@b.test>, "
		  "relay=local, delay=0.02, delays=0/0/0/0.01, dsn=5.1.1, status=bounced (unknown "
		  "user: \"nobody\")",
		  "delivery", "status=bounced|dsn=5.1.1|response=unknown user: \"nobody\"" },
		{ "Nov 22 13:23:02 mx2 postfix/lmtp[1238]: 5DEF456: to=<bob@b.test>, "
		  "relay=mail.b.test[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, "
		  "dsn=2.0.0, status=sent (250 2.0.0 <bob@b.test> xyz Saved)",
		  "delivery", "relay_host=mail.b.test|relay_path=private/dovecot-lmtp|!relay_ip" },
		{ "Nov 22 13:23:02 mx2 postfix/virtual[1238]: 5DEF456: to=<bob@b.test>, "
		  "relay=virtual, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered "
		  "to maildir)",
		  "delivery", "relay_host=virtual" },
		{ "Nov 22 13:23:02 mx2 postfix/pipe[1238]: 5DEF456: to=<bob@b.test>, "
		  "relay=dovecot, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (delivered "
		  "via dovecot service)",
		  "delivery", "relay_host=dovecot" },
		{ "Nov 22 13:23:02 mx2 postfix/error[1238]: 5DEF456: to=<bob@b.test>, relay=none, "
		  "delay=0.1, delays=0/0/0/0.1, dsn=5.0.0, status=bounced (mail for b.test loops "
		  "back to myself)",
		  "delivery", "status=bounced" },
		{ "Nov 22 13:23:02 mx2 postfix/discard[1238]: 5DEF456: to=<bob@b.test>, "
		  "relay=none, delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (b.test)",
		  "delivery", "status=sent" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: to=<x@y.test>, "
		  "relay=y.test[192.0.2.5]:25, delay=1.2, delays=0/0/0.6/0.6, dsn=5.1.1, "
		  "status=bounced (host y.test[192.0.2.5] said: 550 5.1.1 <x@y.test>: User unknown "
		  "(in reply to RCPT TO command))",
		  "delivery",
		  "status=bounced|response=host y.test[192.0.2.5] said: 550 5.1.1 <x@y.test>: User "
		  "unknown (in reply to RCPT TO command)" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: host y.test[192.0.2.5] "
		  "said: 450 4.7.1 try later (in reply to RCPT TO command)",
		  "host_said",
		  "relay_host=y.test|relay_ip=192.0.2.5|response=450 4.7.1 try later (in reply to "
		  "RCPT TO command)" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: lost connection with "
		  "y.test[192.0.2.5] while sending RCPT TO",
		  "lost_connection_with", "relay_host=y.test|text=while sending RCPT TO" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: 4ABC123DEF: conversation with "
		  "y.test[192.0.2.5] timed out while receiving the initial server greeting",
		  "conversation_timeout", "relay_ip=192.0.2.5" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: connect to "
		  "mx2.else.test[127.0.0.1]:2526: Connection refused",
		  "conn_error",
		  "relay_host=mx2.else.test|relay_port=2526|text=Connection refused" },
		{ "Nov 22 13:23:02 mx1 postfix/lmtp[1237]: connect to private/dovecot-lmtp: No "
		  "such file or directory",
		  "conn_error", "relay_path=private/dovecot-lmtp" },
		{ "Nov 22 13:23:02 mx1 postfix/smtp[1237]: Untrusted TLS connection established to "
		  "mx2.else.test[127.0.0.1]:2526: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
		  "(256/256 bits)",
		  "tls",
		  "tls_level=Untrusted|relay_host=mx2.else.test|relay_port=2526|tls_bits=256/"
		  "256|!tls_detail" },
	};
	RUN(cases);
}

Test(parse, bounce_pickup_postsuper)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:02 mx1 postfix/bounce[1240]: 4ABC123DEF: sender non-delivery "
		  "notification: 6AAA111",
		  "dsn", "dsn_kind=non-delivery|dsn_queue_id=6AAA111" },
		{ "Nov 22 13:23:02 mx1 postfix/bounce[1240]: 4ABC123DEF: sender delay "
		  "notification: 6AAA112",
		  "dsn", "dsn_kind=delay" },
		{ "Nov 22 13:23:02 mx1 postfix/bounce[1240]: 4ABC123DEF: sender delivery status "
		  "notification: 6AAA113",
		  "dsn", "dsn_kind=delivery-status" },
		{ "Nov 22 13:23:02 mx1 postfix/bounce[1240]: 4ABC123DEF: postmaster non-delivery "
		  "notification: 6AAA114",
		  "dsn", "dsn_kind=postmaster-non-delivery" },
		{ "Nov 22 13:23:02 mx1 postfix/pickup[1241]: 4ABC123DEF: uid=0 from=<root>",
		  "pickup", "uid=0|from=root" },
		{ "Nov 22 13:23:02 mx1 postfix/postsuper[1242]: 4ABC123DEF: placed on hold",
		  "placed_on_hold", "" },
		{ "Nov 22 13:23:02 mx1 postfix/postsuper[1242]: 4ABC123DEF: released from hold",
		  "released_from_hold", "" },
		{ "Nov 22 13:23:02 mx1 postfix/postsuper[1242]: 4ABC123DEF: requeued", "requeued",
		  "" },
		{ "Nov 22 13:23:02 mx1 postfix/postsuper[1242]: 4ABC123DEF: removed", "removed",
		  "" },
		{ "Nov 22 13:36:04 mx1 postfix/postsuper[15835]: 9C1C1A72341: expired",
		  "force_expired", "queue_id=9C1C1A72341" },
		{ "Nov 22 13:36:04 mx1 postfix/qmgr[14528]: 9C1C1A72341: "
		  "from=<sender@sender.test>, status=force-expired, returned to sender",
		  "expired", "status=force-expired" },
		{ "Nov 22 13:23:02 mx1 postfix/postsuper[1242]: Deleted: 3 messages",
		  "postsuper_summary", "action=Deleted|count=3" },
		{ "Nov 22 13:23:02 mx1 postfix/postsuper[1242]: Released from hold: 1 message",
		  "postsuper_summary", "action=Released from hold|count=1" },
	};
	RUN(cases);
}

Test(parse, postscreen_and_dnsblog)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: CONNECT from [127.0.0.1]:45678 to "
		  "[127.0.0.1]:25270",
		  "ps_connect",
		  "client_ip=127.0.0.1|client_port=45678|server_ip=127.0.0.1|server_port=25270" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: PASS NEW [127.0.0.1]:45678",
		  "ps_pass", "ps_test=NEW|client_port=45678" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: PASS OLD [2001:db8::1]:45678",
		  "ps_pass", "ps_test=OLD|client_ip=2001:db8::1" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: DENYLISTED [127.0.0.2]:45678",
		  "ps_listed", "ps_test=DENYLISTED|client_ip=127.0.0.2" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: WHITELISTED [127.0.0.3]:45678",
		  "ps_listed", "ps_test=WHITELISTED" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: PREGREET 11 after 0.05 from "
		  "[127.0.0.1]:5555: EHLO x\\r\\n",
		  "ps_violation",
		  "ps_test=PREGREET|count=11|delay=0.05|client_port=5555|ps_detail=EHLO x\\r\\n" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: HANGUP after 0.5 from "
		  "[127.0.0.1]:5555 in tests after SMTP handshake",
		  "ps_violation",
		  "ps_test=HANGUP|delay=0.5|ps_detail=in tests after SMTP handshake" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: NON-SMTP COMMAND from "
		  "[127.0.0.1]:5555 after CONNECT: GET / HTTP/1.1",
		  "ps_violation",
		  "ps_test=NON-SMTP COMMAND|ps_detail=after CONNECT: GET / HTTP/1.1" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: DNSBL rank 3 for [192.0.2.1]:5555",
		  "ps_dnsbl", "dnsbl_rank=3|client_ip=192.0.2.1" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: DISCONNECT [127.0.0.1]:5555",
		  "ps_disconnect", "client_port=5555" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: NOQUEUE: reject: RCPT from "
		  "[127.0.0.2]:44444: 550 5.7.1 Service unavailable; client [127.0.0.2] blocked "
		  "using zen.example; from=<a@b.test>, to=<c@d.test>, proto=ESMTP, helo=<h>",
		  "reject",
		  "stage=RCPT|client_ip=127.0.0.2|client_port=44444|!client_host|reject_code=550|"
		  "from=a@b.test|to=c@d.test|helo=h" },
		{ "Nov 22 13:23:01 mx3 postfix/postscreen[99]: cache "
		  "btree:/var/lib/postfix/postscreen_cache full cleanup: retained=1 dropped=0 "
		  "entries",
		  "ps_cache", "" },
		{ "Nov 22 13:23:01 mx3 postfix/dnsblog[98]: addr 192.0.2.1 listed by domain "
		  "zen.example as 127.0.0.4",
		  "dnsbl_listed",
		  "client_ip=192.0.2.1|dnsbl_domain=zen.example|dnsbl_reply=127.0.0.4" },
	};
	RUN(cases);
}

Test(parse, support_daemons)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/master[100]: daemon started -- version 3.7.11, "
		  "configuration /tmp/x/mx1/etc",
		  "daemon_started", "version=3.7.11" },
		{ "Nov 22 13:23:01 mx1 postfix/master[100]: reload -- version 3.7.11, "
		  "configuration /etc/postfix",
		  "daemon_reload", "version=3.7.11" },
		{ "Nov 22 13:23:01 mx1 postfix/master[100]: terminating on signal 15",
		  "daemon_terminating", "" },
		{ "Nov 22 13:23:01 mx1 postfix/postfix-script[101]: starting the Postfix mail "
		  "system",
		  "postfix_script", "text=starting the Postfix mail system" },
		{ "Nov 22 13:23:01 mx1 postfix/anvil[102]: statistics: max connection rate 1/60s "
		  "for (smtp:127.0.0.1) at Nov 22 13:20:01",
		  "statistics", "" },
		{ "Nov 22 13:23:01 mx1 postfix/scache[103]: statistics: start interval Nov 22 "
		  "13:20:01",
		  "statistics", "" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: warning: hostname x.test does not "
		  "resolve to address 192.0.2.1",
		  "warning",
		  "text=hostname x.test does not resolve to address 192.0.2.1|!queue_id" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: warning: 4ABC123DEF: read timeout on "
		  "cleanup socket",
		  "warning", "queue_id=4ABC123DEF" },
		{ "Nov 22 13:23:01 mx1 postfix/trivial-rewrite[104]: warning: do not list domain "
		  "a.test in BOTH mydestination and virtual_alias_domains",
		  "warning", "service=trivial-rewrite" },
		{ "Nov 22 13:23:01 mx1 postfix/sendmail[105]: fatal: no recipient addresses",
		  "fatal", "text=no recipient addresses" },
		{ "Nov 22 13:23:01 mx1 postfix/master[100]: panic: myfree: corrupt or unallocated "
		  "memory block",
		  "panic", "" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: error: open database "
		  "/etc/postfix/x.db: No such file",
		  "error", "" },
		{ "Nov 22 13:23:01 mx1 postfix-out/smtp[1237]: 4ABC123DEF: removed", "removed",
		  "syslog_name=postfix-out|service=smtp" },
		{ "Nov 22 13:23:01 mx1 postfix/tlsproxy[106]: CONNECT from [127.0.0.1]:5555",
		  "ps_connect", "client_port=5555" },
	};
	RUN(cases);
}

Test(parse, long_queue_ids)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4Nc9Kx2Q7Bz9sTm: removed", "removed",
		  "queue_id=4Nc9Kx2Q7Bz9sTm" },
		{ "Nov 22 13:23:01 mx1 postfix/cleanup[1235]: 4Nc9Kx2Q7Bz9sTm: message-id=<a@b>",
		  "message_id", "queue_id=4Nc9Kx2Q7Bz9sTm" },
		/* Real IDs from the harness: 'z' may also occur in the time part. */
		{ "Nov 22 13:35:51 mx2 postfix/qmgr[14720]: 4jXVT35HzCz1bYWf: removed", "removed",
		  "queue_id=4jXVT35HzCz1bYWf" },
		{ "Nov 22 13:35:59 mx2 postfix/bounce[15376]: 4jXVTC5z4Sz1bY0R: sender "
		  "non-delivery notification: 4jXVTC6XzGz1bY0n",
		  "dsn", "queue_id=4jXVTC5z4Sz1bY0R|dsn_queue_id=4jXVTC6XzGz1bY0n" },
		/* Words are not queue IDs: vowels, or no 'z' separator. */
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: something: happened here", "unparsed",
		  "!queue_id" },
		{ "Nov 22 13:23:01 mx1 postfix/smtpd[1234]: abcdefghijk: happened here", "unparsed",
		  "!queue_id" },
	};
	RUN(cases);
}

Test(parse, amavis)
{
	static const struct parse_case cases[] = {
		{ "Nov 22 13:23:01 mx1 amavis[2222]: (02345-01) Passed CLEAN {RelayedInbound}, "
		  "[10.0.0.1]:41234 [10.0.0.1] <a@x.test> -> <b@y.test>,<c@y.test>, Queue-ID: "
		  "4AbCd, Message-ID: <id@x>, mail_id: Xy, Hits: -0.1, size: 1234, queued_as: "
		  "4EfGh, 123 ms",
		  "amavis_result",
		  "amavis_id=02345-01|amavis_action=Passed|amavis_category=CLEAN|amavis_"
		  "disposition=RelayedInbound|client_ip=10.0.0.1|client_port=41234|from=a@x.test|"
		  "recipients=<b@y.test>,<c@y.test>|queue_id=4AbCd|message_id=id@x|mail_id=Xy|hits="
		  "-0.1|size=1234|queued_as=4EfGh|elapsed_ms=123" },
		{ "Nov 22 13:23:01 mx1 amavis[2222]: (02345-02) Blocked INFECTED "
		  "(Eicar-Test-Signature) {DiscardedInbound,Quarantined}, [10.0.0.1]:41234 "
		  "[10.0.0.1] <a@x.test> -> <b@y.test>, quarantine: virus-Xy, Queue-ID: 4AbCd, "
		  "Message-ID: <id@x>, mail_id: Xy, Hits: -, size: 1234, 1234 ms",
		  "amavis_result",
		  "amavis_action=Blocked|amavis_category=INFECTED|amavis_detail=Eicar-Test-"
		  "Signature|amavis_disposition=DiscardedInbound,Quarantined|!queued_as" },
		{ "Nov 22 13:23:01 mx1 amavisd[2222]: (02345-03) Passed SPAMMY, LOCAL [127.0.0.1] "
		  "[127.0.0.1] <> -> <b@y.test>, Message-ID: <id@x>, mail_id: Xy, Hits: 5.1, size: "
		  "99, queued_as: 4EfGh, 55 ms",
		  "amavis_result", "amavis_category=SPAMMY|from=|hits=5.1" },
		{ "Nov 22 13:23:01 mx1 amavis[2222]: starting.  /usr/sbin/amavisd at mx1 "
		  "amavisd-new-2.13.0",
		  "amavis", "text=starting.  /usr/sbin/amavisd at mx1 amavisd-new-2.13.0" },
	};
	RUN(cases);
}

Test(parse, framings)
{
	static const struct parse_case cases[] = {
		{ "2026-11-22T13:23:01.123456+01:00 mx1 postfix/qmgr[1]: 4ABC123DEF: removed",
		  "removed", "host=mx1" },
		{ "<22>1 2026-11-22T13:23:01.123Z mx1 postfix/qmgr 1236 - - 4ABC123DEF: removed",
		  "removed", "facility=2|severity=6|pid=1236" },
		{ "1 2026-11-22T13:23:01Z mx1 postfix/qmgr 1236 ID7 [x@1 a=\"b]c\"] 4ABC123DEF: "
		  "removed",
		  "removed", "syslog_msgid=ID7|structured_data=[x@1 a=\"b]c\"]" },
		{ "<22>1 2026-11-22T13:23:01Z mx1 postfix/qmgr - - - \xef\xbb\xbf"
		  "4ABC123DEF: removed",
		  "removed", "!pid" },
		{ "<22>Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: removed", "removed",
		  "facility=2" },
		{ "Nov  2 03:04:05 mx1 postfix/qmgr[1236]: 4ABC123DEF: removed", "removed",
		  "host=mx1" },
		{ "Nov 22 13:23:01.654321 mx1 postfix/qmgr[1236]: 4ABC123DEF: removed", "removed",
		  "" },
		{ "Nov 22 13:23:01 mx1 postfix/qmgr[1236]: 4ABC123DEF: removed\r", "removed", "" },
		{ "Nov 22 13:23:01 mx1 dovecot: imap(bob): Logged out", "unparsed",
		  "host=mx1|program=dovecot" },
	};
	RUN(cases);
}

/*
 * What syslog senders put on the wire, captured from rsyslogd 8.2302 omfwd
 * and util-linux logger 2.38 (Debian 12) and shipped unchanged by the
 * collector's syslog listeners.
 */
Test(parse, forwarded)
{
	static const struct parse_case cases[] = {
		/* omfwd, RSYSLOG_TraditionalForwardFormat (its default) */
		{ "<13>Nov 22 16:20:32 vm postfix/smtpd[5691]: connect from unknown[10.0.0.1]",
		  "connect", "host=vm|service=smtpd|pid=5691|client_ip=10.0.0.1|facility=1" },
		{ "<13>Nov 22 16:20:32 vm postfix/qmgr: ABC123: removed", "removed",
		  "host=vm|service=qmgr|queue_id=ABC123" },
		/* omfwd, RSYSLOG_ForwardFormat (high-precision time) */
		{ "<22>2026-11-22T16:20:32.866086+00:00 vm postfix/qmgr[7]: ABC123: removed",
		  "removed", "host=vm|service=qmgr|facility=2|severity=6" },
		/* omfwd, RSYSLOG_SyslogProtocol23Format: APP-NAME is cut at the '/'
		   and the message keeps a leading space */
		{ "<13>1 2026-11-22T16:20:32.875039+00:00 vm postfix - - -  ABC123: removed",
		  "removed", "host=vm|program=postfix|queue_id=ABC123" },
		{ "<13>1 2026-11-22T16:20:32.866086+00:00 vm postfix 5691 - -  warning: "
		  "hostname x does not resolve",
		  "warning", "host=vm|pid=5691|text=hostname x does not resolve" },
		/* logger --server (RFC 5424 with timeQuality), TCP or UDP */
		{ "<13>1 2026-11-22T16:20:32.882830+00:00 vm postfix/smtp - - [timeQuality "
		  "tzKnown=\"1\" isSynced=\"0\"] ABC123: removed",
		  "removed",
		  "host=vm|service=smtp|structured_data=[timeQuality tzKnown=\"1\" "
		  "isSynced=\"0\"]" },
		/* logger --server --rfc3164 */
		{ "<13>Nov 22 16:20:32 vm postfix/smtp: ABC123: removed", "removed",
		  "host=vm|service=smtp" },
		/* local form (glibc syslog(), logger -u SOCKET): no host */
		{ "<22>Nov 22 16:20:32 postfix/qmgr[12]: ABC123: removed", "removed",
		  "!host|service=qmgr|pid=12" },
		{ "<22>Nov 22 16:20:32 postfix/qmgr: ABC123: removed", "removed",
		  "!host|service=qmgr" },
		/* not a tag in the host's place: an IPv6 host, a bracket without pid */
		{ "Nov 22 16:20:32 fe80:: postfix/qmgr[1]: ABC123: removed", "removed",
		  "host=fe80::" },
		{ "Nov 22 16:20:32 x[]: postfix/qmgr[1]: ABC123: removed", "removed", "host=x[]:" },
	};
	RUN(cases);
}

/* tm_iso - the record's time as text */
static void tm_iso(const char *line, char *out, size_t n)
{
	el_rec r;
	el_buf b;

	el_parse_line(&ctx, line, strlen(line), &r);
	cr_assert(r.flags & EL_REC_HAS_TIME, "no time in %s", line);
	el_buf_init(&b);
	el_rec_time_iso(&r, &b);
	snprintf(out, n, "%.*s", (int)b.len, b.p);
	el_buf_fini(&b);
}

Test(parse, timestamps)
{
	char t[64];

	tm_iso("2026-11-22T13:23:01.123456+01:00 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t,
	       sizeof(t));
	cr_assert_str_eq(t, "2026-11-22T13:23:01.123456+01:00");
	tm_iso("2026-11-22T13:23:01.1Z mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2026-11-22T13:23:01.1Z");
	tm_iso("2026-11-22T13:23:01-0530 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2026-11-22T13:23:01-05:30");
	/* TZ=UTC in the test environment: traditional stamps are local time. */
	tm_iso("Nov  2 03:04:05.25 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2026-11-02T03:04:05.25+00:00");
}

Test(parse, time_value)
{
	el_rec r;
	const char *l = "2026-11-22T13:23:01.5+01:00 mx1 postfix/qmgr[1]: 4ABC123DEF: removed";

	el_parse_line(&ctx, l, strlen(l), &r);
	/* 2026-11-22T12:23:01Z */
	cr_assert_eq(r.time_s, 1795350181);
	cr_assert_eq(r.time_us, 500000);
}

Test(parse, year_rollover_forced)
{
	char t[64];

	/* --year 2025 means the input starts in 2025; Dec -> Jan crosses into 2026. */
	ctx.force_year = 2025;
	tm_iso("Dec 31 23:59:59 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2025-12-31T23:59:59+00:00");
	tm_iso("Jan  1 00:00:01 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2026-01-01T00:00:01+00:00");
	/* A straggler from December after the rollover stays in 2025. */
	tm_iso("Dec 31 23:59:58 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2025-12-31T23:59:58+00:00");
}

Test(parse, year_inferred_from_now)
{
	char t[64];

	ctx.force_year = 0;
	ctx.ref_time = 1767312000; /* 2026-01-02T00:00:00Z */
	tm_iso("Dec 31 23:59:59 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2025-12-31T23:59:59+00:00");
	tm_iso("Jan  1 10:00:00 mx1 postfix/qmgr[1]: 4ABC123DEF: removed", t, sizeof(t));
	cr_assert_str_eq(t, "2026-01-01T10:00:00+00:00");
}

Test(parse, exchange_tracking)
{
	static const struct parse_case cases[] = {
		{ "#Software: Microsoft Exchange Server", "msgtrk_header",
		  "action=Software|text=Microsoft Exchange Server" },
		{ "2026-11-22T10:00:01.123Z,10.0.0.5,EX1.corp.test,10.0.0.6,EX1,08DC0001;250 2.0.0 "
		  "OK,Default "
		  "EX1,SMTP,RECEIVE,12345678,<m1@corp.test>,6f1e2d3c-aaaa-bbbb-cccc-000000000001,a@"
		  "corp.test;b@corp.test,,4321,2,,,\"hi, "
		  "there\",s@x.test,s@x.test,,Incoming,,,,S:X=1,Email,a1b2,15.02.1118.007",
		  "msgtrk",
		  "client_ip=10.0.0.5|client_host=EX1.corp.test|server_ip=10.0.0.6|server_host=EX1|"
		  "source=SMTP|msgtrk_event=RECEIVE|internal_message_id=12345678|message_id=m1@"
		  "corp.test|network_message_id=6f1e2d3c-aaaa-bbbb-cccc-000000000001|recipients=a@"
		  "corp.test;b@corp.test|size=4321|nrcpt=2|subject=hi, "
		  "there|from=s@x.test|direction=Incoming" },
		{ "#Fields: date-time,event-id,message-id,custom-thing", "msgtrk_header",
		  "action=Fields" },
		{ "2026-11-22T10:00:02Z,DELIVER,<m2@corp.test>,\"quoted \"\"x\"\"\"", "msgtrk",
		  "msgtrk_event=DELIVER|message_id=m2@corp.test" },
	};
	RUN(cases);
}

Test(parse, exchange_unknown_columns_keep_names)
{
	el_rec r;
	const char *h = "#Fields: date-time,event-id,custom-thing";
	const char *l = "2026-11-22T10:00:02Z,DELIVER,\"quoted \"\"x\"\"\"";
	el_buf b;

	el_parse_line(&ctx, h, strlen(h), &r);
	el_parse_line(&ctx, l, strlen(l), &r);
	el_buf_init(&b);
	el_rec_json(&ctx, &r, &b);
	el_buf_addc(&b, 0);
	cr_assert(strstr(b.p, "\"custom_thing\":\"quoted \\\"x\\\"\"") != NULL, "%s", b.p);
	el_buf_fini(&b);
}
