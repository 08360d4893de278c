/*
 * test_ctl_print - elsectl's tables, from answers of the JSON API as the
 * demo's frontend gave them (decoded through query.proto as elsectl does),
 * some with forged bytes where a log line can put them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_print.h"
#include "el_pbjson.h"

/* print - the table of json decoded as desc; rv into *rv */
static char *print(const ProtobufCMessageDescriptor *desc, const char *json, int *rv)
{
	ProtobufCMessage *m = NULL;
	char err[256], *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_not_null(f);
	cr_assert_eq(el_pbjson_decode(desc, json, strlen(json), NULL, &m, err, sizeof(err)), 0,
		     "%s", err);
	*rv = ctl_print_reply(f, m);
	fclose(f);
	protobuf_c_message_free_unpacked(m, NULL);
	return out;
}

/* table - print must succeed; the output */
static char *table(const ProtobufCMessageDescriptor *desc, const char *json)
{
	int rv;
	char *out = print(desc, json, &rv);

	cr_assert_eq(rv, 0);
	return out;
}

/* has - out holds want */
static void has(const char *out, const char *want)
{
	cr_assert_not_null(strstr(out, want), "no \"%s\" in:\n%s", want, out);
}

Test(ctl_print, rejects_one_row_each_and_the_next_page)
{
	char *out = table(
		&else__rejects_reply__descriptor,
		"{\"rows\":[{\"time_us\":1795504955000000,\"host\":\"mx3\",\"event\":\"reject\","
		"\"status\":\"rejected\",\"client_ip\":\"127.0.0.1\",\"helo\":\"early.else.test\","
		"\"sender\":\"sender@sender.test\",\"rcpt\":\"alice@remote.test\",\"stage\":"
		"\"RCPT\","
		"\"reject_code\":\"550\",\"reject_dsn\":\"5.5.1\",\"reason\":\"Protocol error\","
		"\"email_id\":\"23887f7c997f3618\"},{\"time_us\":1795504957000000,\"host\":\"mx3\","
		"\"event\":\"ps_disconnect\",\"status\":\"dropped\",\"client_ip\":\"127.0.0.5\","
		"\"reason\":\"postscreen: DENYLISTED\"}],"
		"\"next_cursor\":\"1795504950000000.5845612419869718451\"}");

	has(out, "TIME (UTC)          HOST         EVENT");
	has(out, "2026-11-24 07:22:35 mx3          reject          127.0.0.1       550  RCPT      "
		 "sender@sender.test             alice@remote.test              Protocol error\n");
	/* Empty fields print as "-", so the columns stay in place. */
	has(out, "2026-11-24 07:22:37 mx3          ps_disconnect   127.0.0.5       -    -         "
		 "-                              -                              postscreen: "
		 "DENYLISTED\n");
	has(out, "more: cursor=1795504950000000.5845612419869718451\n");
	free(out);
}

/* no_raw_controls - out has no control byte but newlines, and no C1 CSI as UTF-8 */
static void no_raw_controls(const char *out)
{
	for (const char *p = out; *p; p++)
		cr_assert(*p == '\n' || (unsigned char)*p >= 0x20, "byte 0x%02x at %td",
			  (unsigned char)*p, p - out);
	cr_assert_null(strstr(out, "\xc2\x9b"));
	cr_assert_null(strstr(out, "\xe2\x80\xae"));
}

Test(ctl_print, control_bytes_from_a_forged_line_are_escaped)
{
	/* ESC [ 2 J (clear screen), CSI as UTF-8 (C2 9B), a bell, a newline. */
	char *out = table(&else__rejects_reply__descriptor,
			  "{\"rows\":[{\"time_us\":1,\"host\":\"mx1\",\"event\":\"reject\","
			  "\"reason\":\"a\\u001b[2Jb\\u009b31mc\\u0007d\\ne\","
			  "\"sender\":\"caf\\u00e9@x.test\"}]}");

	has(out, "a\\x1b[2Jb\\xc2\\x9b31mc\\x07d\\x0ae\n");
	/* Other UTF-8 is text, one column a character: the padding still lines up. */
	has(out, "café@x.test                    -");
	no_raw_controls(out);
	free(out);
	/*
	 * A right-to-left override (U+202E) and a line separator (U+2028), byte
	 * by byte; a backslash doubled, so that text cannot pass for an escape.
	 */
	out = table(&else__rejects_reply__descriptor,
		    "{\"rows\":[{\"time_us\":1,\"reason\":\"x\\u202eevil\\u2028y \\\\x1b z\"}]}");
	has(out, "x\\xe2\\x80\\xaeevil\\xe2\\x80\\xa8y \\\\x1b z\n");
	no_raw_controls(out);
	free(out);
}

/* The JSON elsectl prints as it is (--json, call): the same JSON, nothing for a terminal. */
Test(ctl_print, raw_json_keeps_its_meaning_without_control_characters)
{
	static const char in[] =
		"{\"r\":\"a\x1b[2J\xc2\x9b\xe2\x80\xae\x7f\r\x01 caf\xc3\xa9\\n\"}\n\t";
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	cr_assert_not_null(f);
	ctl_print_json(f, in, sizeof(in) - 1);
	ctl_print_json(f, "\0", 1);
	fclose(f);
	cr_assert_str_eq(out,
			 "{\"r\":\"a\\u001b[2J\\u009b\\u202e\\u007f\\u000d\\u0001 caf\xc3\xa9\\n\"}"
			 "\n\t\\u0000");
	free(out);
}

Test(ctl_print, stats_add_the_buckets_up_and_list_the_tops)
{
	char *out =
		table(&else__stats_reply__descriptor,
		      "{\"messages\":[{\"time_us\":1795503600000000,\"status\":\"delivered\","
		      "\"count\":28},"
		      "{\"time_us\":1795503600000000,\"status\":\"bounced\",\"count\":2},"
		      "{\"time_us\":1795507200000000,\"status\":\"delivered\",\"count\":3}],"
		      "\"recipients\":[{\"time_us\":1795503600000000,\"status\":\"sent\","
		      "\"direction\":\"local\",\"count\":19},{\"time_us\":1795507200000000,"
		      "\"status\":\"sent\",\"direction\":\"relay\",\"count\":16}],"
		      "\"top_senders\":[{\"key\":\"sender@sender.test\",\"count\":29},"
		      "{\"key\":\"\",\"count\":4}],\"top_defer_reasons\":[{\"key\":\"<addr>: "
		      "connection "
		      "refused\",\"count\":7}],\"per_server\":[{\"key\":\"mx1\",\"count\":23}]}");

	has(out, "buckets from 2026-11-24 07:00:00 to 2026-11-24 08:00:00 (UTC)\n");
	has(out, "TRANSACTIONS  31 delivered, 2 bounced\n");
	has(out, "RECIPIENTS    19 sent/local, 16 sent/relay\n");
	has(out, "REJECTS       none\n");
	has(out, "\nTOP SENDERS\n        29  sender@sender.test\n         4  <>\n");
	has(out, "\nTOP DEFERRAL REASONS\n         7  <addr>: connection refused\n");
	has(out, "\nPER SERVER (transactions)\n        23  mx1\n");
	cr_assert_null(strstr(out, "TOP RECIPIENTS"), "an empty list has no heading");
	free(out);
}

/*
 * 40 statuses: the 31 largest by their totals, whichever bucket they first
 * appear in (the largest comes last), and the other 9 added up.
 */
Test(ctl_print, stats_keep_the_largest_keys_and_add_the_rest_up)
{
	char json[8192];
	size_t n = 0;

	n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"messages\":[");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n,
				      "%s{\"time_us\":1,\"status\":\"s%02d\",\"count\":%d}",
				      i ? "," : "", i, i < 9 ? 1 : 100 + i);
	/* s39 again, in a later bucket; s00 too, still small. */
	snprintf(json + n, sizeof(json) - n,
		 ",{\"time_us\":2,\"status\":\"s39\",\"count\":1000},"
		 "{\"time_us\":2,\"status\":\"s00\",\"count\":1}]}");
	char *out = table(&else__stats_reply__descriptor, json);
	has(out, "TRANSACTIONS  1139 s39, 138 s38, 137 s37");
	has(out, ", 109 s09, 10 (other)\n"); /* s00 (2) .. s08 (1 each) */
	free(out);
}

/* Counts near the int64 bounds (a hostile frontend) add up held at the bound. */
Test(ctl_print, stats_totals_hold_at_the_int64_bounds)
{
	char *out = table(&else__stats_reply__descriptor,
			  "{\"messages\":[{\"time_us\":1,\"status\":\"a\",\"count\":"
			  "9223372036854775807},{\"time_us\":2,\"status\":\"a\",\"count\":5},"
			  "{\"time_us\":1,\"status\":\"b\",\"count\":-9223372036854775807},"
			  "{\"time_us\":2,\"status\":\"b\",\"count\":-5}]}");
	has(out, "TRANSACTIONS  9223372036854775807 a, -9223372036854775808 b\n");
	free(out);
}

Test(ctl_print, a_flow_names_the_hops_before_after_and_bounced)
{
	char *out = table(
		&else__flow_reply__descriptor,
		"{\"email_id\":\"c0d6bec4fd1eeeb7\",\"hops\":[{\"msg\":{\"host\":\"mx1\","
		"\"queue_id\":\"B4988122867\",\"first_seen_us\":1795504939000000,\"status\":"
		"\"partial\",\"sender\":\"sender@sender.test\",\"size\":470,\"message_id\":"
		"\"else-multi@else.test\",\"client_host\":\"localhost\",\"client_ip\":\"127.0.0."
		"1\"},"
		"\"recipients\":[{\"rcpt\":\"alice@remote.test\",\"status\":\"sent\",\"dsn\":"
		"\"2.0.0\",\"relay_host\":\"127.0.0.1\",\"response\":\"250 2.0.0 Ok: queued as "
		"4jYZ575Gx0z8xV9\",\"attempts\":1,\"delay\":0.5,\"next_host\":\"mx2\","
		"\"next_queue_id\":\"4jYZ575Gx0z8xV9\"},{\"rcpt\":\"slow@dead.test\",\"status\":"
		"\"deferred\",\"dsn\":\"4.4.1\",\"attempts\":3,\"delay\":912.4}],\"lines\":"
		"[{\"time_us\":1795504939000000,\"text\":\"Nov 24 07:22:19 mx1 postfix/smtpd[1]: "
		"B4988122867: "
		"client=localhost[127.0.0.1]\\u001b]0;x\\u0007\"}]},{\"msg\":{\"host\":"
		"\"mx2\",\"queue_id\":\"4jYZ575Gx0z8xV9\",\"first_seen_us\":1795504939000000,"
		"\"status\":\"delivered\",\"sender\":\"sender@sender.test\"},\"prev_host\":\"mx1\","
		"\"prev_queue_id\":\"B4988122867\"},{\"msg\":{\"host\":\"mx1\",\"queue_id\":\"D1\","
		"\"first_seen_us\":1795504940000000,\"status\":\"delivered\",\"sender\":\"\"},"
		"\"dsn_of_host\":\"mx1\",\"dsn_of_queue_id\":\"B4988122867\"}],\"rejects\":"
		"[{\"host\":\"mx2\",\"event\":\"reject\",\"rcpt\":\"nobody@remote.test\","
		"\"reason\":"
		"\"User unknown\"}]}");

	has(out, "e-mail c0d6bec4fd1eeeb7: 3 hop(s)\n");
	has(out, "\n[1] mx1 B4988122867  2026-11-24 07:22:19  from=<sender@sender.test> size=470 "
		 "status=partial\n    message-id else-multi@else.test\n"
		 "    client localhost[127.0.0.1]\n");
	has(out, "    -> alice@remote.test  sent 2.0.0 relay=127.0.0.1 delay=0.5s  next hop "
		 "mx2/4jYZ575Gx0z8xV9\n       (250 2.0.0 Ok: queued as 4jYZ575Gx0z8xV9)\n");
	has(out, "    -> slow@dead.test  deferred 4.4.1 relay=- attempts=3 delay=912.4s\n");
	has(out, "client=localhost[127.0.0.1]\\x1b]0;x\\x07\n");
	has(out, "status=delivered  after mx1/B4988122867\n");
	has(out, "[3] mx1 D1  2026-11-24 07:22:20  from=<> size=0 status=delivered  bounce of "
		 "mx1/B4988122867\n");
	has(out, "reject mx2 reject nobody@remote.test: User unknown\n");
	free(out);
}

Test(ctl_print, servers_history_audit_groups_users_and_whoami)
{
	char *out =
		table(&else__servers_reply__descriptor,
		      "{\"rows\":[{\"id\":2,\"name\":\"mx1\",\"first_seen_us\":1795504939627319,"
		      "\"last_seen_us\":1795504939627319,\"last_line_us\":1795504958127188,"
		      "\"lines_today\":187},{\"id\":4,\"name\":\"idle\"}]}");
	has(out, "2     mx1                  2026-11-24 07:22:19 2026-11-24 07:22:19 "
		 "2026-11-24 07:22:38 187\n");
	has(out, "4     idle                 -                   -                   -"
		 "                   0\n");
	free(out);

	out = table(&else__history_reply__descriptor,
		    "{\"entries\":[{\"time_us\":1795505416947645,\"kind\":\"flow\",\"query_json\":"
		    "\"{\\\"email_id\\\":\\\"c0d6bec4fd1eeeb7\\\"}\",\"results\":3}]}");
	has(out, "2026-11-24 07:30:16 flow           3  {\"email_id\":\"c0d6bec4fd1eeeb7\"}\n");
	free(out);

	out = table(&else__audit_reply__descriptor,
		    "{\"entries\":[{\"time_us\":1795505416947645,\"user\":\"demo\",\"client_ip\":"
		    "\"127.0.0.1\",\"action\":\"login_failed\",\"detail\":\"bad\\u001bname\"}],"
		    "\"next_cursor\":\"12\"}");
	has(out, "2026-11-24 07:30:16 demo             127.0.0.1       login_failed   "
		 "bad\\x1bname\n");
	has(out, "more: cursor=12\n");
	free(out);

	out = table(&else__group_list_reply__descriptor,
		    "{\"groups\":[{\"id\":1,\"name\":\"relays\",\"servers\":[\"mx1\",\"mx2\"],"
		    "\"domains\":[\"remote.test\"],\"member_ids\":[2,5]},{\"id\":3,\"name\":"
		    "\"empty\"}]}");
	has(out, "1     relays               2,5      mx1,mx2; remote.test\n");
	has(out, "3     empty                -        -; -\n");
	free(out);

	out = table(&else__user_list_reply__descriptor,
		    "{\"users\":[{\"id\":2,\"name\":\"op2\",\"role\":\"ROLE_OPERATOR\","
		    "\"full_name\":\"Op Two\",\"group_ids\":[1]},{\"id\":3,\"name\":\"bob\","
		    "\"role\":\"ROLE_MAILBOX\",\"addresses\":[\"bob@remote.test\"],"
		    "\"disabled\":true}]}");
	has(out, "2     op2                  ROLE_OPERATOR 1 Op Two\n");
	has(out, "3     bob                  ROLE_MAILBOX  -  <bob@remote.test> (disabled)\n");
	free(out);

	out = table(&else__session_reply__descriptor,
		    "{\"user\":{\"id\":1,\"name\":\"demo\",\"role\":\"ROLE_ADMIN\"},"
		    "\"expires_us\":1795507144000000}");
	has(out, "1     demo                 ROLE_ADMIN    - \n");
	has(out, "session expires 2026-11-24 07:59:04 (UTC) unless used\n");
	free(out);
}

Test(ctl_print, a_reply_without_a_table_is_left_to_the_json)
{
	int rv;
	char *out = print(&else__login_reply__descriptor, "{\"csrf\":\"x\"}", &rv);

	cr_assert_eq(rv, -ENOTSUP);
	cr_assert_str_eq(out, "");
	free(out);
	out = print(&else__session_reply__descriptor, "{}", &rv);
	cr_assert_eq(rv, -ENOTSUP, "a session without its user");
	free(out);
}

Test(ctl_print, an_empty_table_says_so)
{
	const ProtobufCMessageDescriptor *d[] = {
		&else__search_reply__descriptor,    &else__rejects_reply__descriptor,
		&else__servers_reply__descriptor,   &else__history_reply__descriptor,
		&else__audit_reply__descriptor,     &else__group_list_reply__descriptor,
		&else__user_list_reply__descriptor,
	};

	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		char *out = table(d[i], "{}");
		const char *nl = strchr(out, '\n');
		cr_assert(nl && strcmp(nl + 1, "(none)\n") == 0, "%s: %s", d[i]->name, out);
		free(out);
	}
}
