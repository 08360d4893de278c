/*
 * test_pbjson - protobuf-c <-> JSON through the descriptors of query.proto:
 * round trips, enums, oneofs, 64-bit values, and every kind of refusal with
 * the field named.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "el_pbjson.h"
#include "query.pb-c.h"

static char err[512];

/* dec - decode s as desc; rv */
static int dec(const ProtobufCMessageDescriptor *desc, const char *s, ProtobufCMessage **m)
{
	return el_pbjson_decode(desc, s, strlen(s), NULL, m, err, sizeof(err));
}

/* enc - JSON of m as a static string */
static const char *enc(const ProtobufCMessage *m)
{
	static char out[8192];
	el_buf b;

	el_buf_init(&b);
	el_pbjson_encode(&b, m);
	cr_assert_lt(b.len, sizeof(out));
	memcpy(out, b.p, b.len);
	out[b.len] = '\0';
	el_buf_fini(&b);
	return out;
}

/* refuse - s must fail as desc with rv and an error containing want */
static void refuse(const ProtobufCMessageDescriptor *desc, const char *s, int rv, const char *want)
{
	ProtobufCMessage *m = NULL;

	cr_expect_eq(dec(desc, s, &m), rv, "%s -> %s", s, err);
	cr_expect_null(m);
	cr_expect(strstr(err, want) != NULL, "%s: error \"%s\" lacks \"%s\"", s, err, want);
}

Test(pbjson, search_decodes_fields_enums_and_64bit)
{
	ProtobufCMessage *m;
	Else__Search *s;

	cr_assert_eq(dec(&else__search__descriptor,
			 "{\"sender\":\"a@b.test\",\"match\":\"MATCH_PREFIX\",\"direction\":2,"
			 "\"from_us\":1700000000000000,\"to_us\":\"1700000000000001\","
			 "\"limit\":20,\"ascending\":true,\"cursor\":null}",
			 &m),
		     0, "%s", err);
	s = (Else__Search *)m;
	cr_assert_str_eq(s->sender, "a@b.test");
	cr_assert_str_eq(s->recipient, "");
	cr_assert_eq(s->match, ELSE__MATCH__MATCH_PREFIX);
	cr_assert_eq(s->direction, ELSE__DIRECTION__DIR_RELAY);
	cr_assert_eq(s->from_us, 1700000000000000LL);
	cr_assert_eq(s->to_us, 1700000000000001LL);
	cr_assert_eq(s->limit, 20);
	cr_assert(s->ascending);
	protobuf_c_message_free_unpacked(m, NULL);
}

Test(pbjson, round_trip_through_the_wire_format)
{
	Else__RecipientRow r1 = ELSE__RECIPIENT_ROW__INIT, *rr[1] = { &r1 };
	Else__Transaction tx = ELSE__TRANSACTION__INIT, *txs[1] = { &tx };
	Else__MessageRow row = ELSE__MESSAGE_ROW__INIT;
	Else__FlowReply fr = ELSE__FLOW_REPLY__INIT;
	char *rcpts[2] = { "x@y.test", "caf\xc3\xa9@z.test" };
	ProtobufCMessage *back = NULL;
	uint8_t wire1[4096], wire2[4096];
	size_t n1, n2;
	char json[8192];

	row.email_id = "0123456789abcdef";
	row.host = "mx1";
	row.first_seen_us = -5;
	row.size = INT64_MAX;
	row.n_recipients = 2;
	row.recipients = rcpts;
	row.nrcpt = UINT32_MAX;
	row.subject = "quote \" backslash \\ newline \n";
	r1.rcpt = "x@y.test";
	r1.delay = 0.25;
	r1.attempts = 3;
	tx.msg = &row;
	tx.n_recipients = 1;
	tx.recipients = rr;
	fr.email_id = "0123456789abcdef";
	fr.n_hops = 1;
	fr.hops = txs;
	strcpy(json, enc(&fr.base));
	cr_assert(strstr(json, "\"rejects\":[]") != NULL, "%s", json);
	cr_assert(strstr(json, "\"size\":9223372036854775807") != NULL, "%s", json);
	cr_assert(strstr(json, "\"delay\":0.25") != NULL, "%s", json);
	cr_assert_eq(dec(&else__flow_reply__descriptor, json, &back), 0, "%s", err);
	n1 = protobuf_c_message_pack(&fr.base, wire1);
	n2 = protobuf_c_message_pack(back, wire2);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(wire1, wire2, n1), 0);
	cr_assert_str_eq(enc(back), json);
	protobuf_c_message_free_unpacked(back, NULL);
}

Test(pbjson, oneof_encodes_only_the_member_set)
{
	Else__QueryReply rep;
	Else__PutReply put = ELSE__PUT_REPLY__INIT;
	const char *j;

	else__query_reply__init(&rep);
	rep.status = ELSE__QUERY_STATUS__Q_CONFLICT;
	rep.error = "name taken";
	rep.result_case = ELSE__QUERY_REPLY__RESULT_PUT;
	rep.put = &put;
	put.id = 7;
	j = enc(&rep.base);
	cr_assert_str_eq(j,
			 "{\"status\":\"Q_CONFLICT\",\"error\":\"name taken\",\"put\":{\"id\":7}}");
}

Test(pbjson, oneof_decodes_and_refuses_two_members)
{
	ProtobufCMessage *m;
	Else__QueryRequest *q;

	cr_assert_eq(dec(&else__query_request__descriptor,
			 "{\"search\":{\"sender\":\"s@x\"},\"caller\":{\"session\":\"ab\"}}", &m),
		     0, "%s", err);
	q = (Else__QueryRequest *)m;
	cr_assert_eq(q->call_case, ELSE__QUERY_REQUEST__CALL_SEARCH);
	cr_assert_str_eq(q->search->sender, "s@x");
	cr_assert_str_eq(q->caller->session, "ab");
	protobuf_c_message_free_unpacked(m, NULL);
	refuse(&else__query_request__descriptor, "{\"search\":{},\"flow\":{}}", -EINVAL,
	       "flow: a second member of the same oneof");
}

Test(pbjson, bytes_are_base64)
{
	Else__QueryReply rep, *back;
	uint8_t nonce[5] = { 0, 1, 0xfe, 0xff, 'x' };
	ProtobufCMessage *m;
	char j[256];

	else__query_reply__init(&rep);
	rep.result_case = ELSE__QUERY_REPLY__RESULT_NONCE;
	rep.nonce.data = nonce;
	rep.nonce.len = sizeof(nonce);
	strcpy(j, enc(&rep.base));
	cr_assert(strstr(j, "\"nonce\":\"AAH+/3g=\"") != NULL, "%s", j);
	cr_assert_eq(dec(&else__query_reply__descriptor, j, &m), 0, "%s", err);
	back = (Else__QueryReply *)m;
	cr_assert_eq(back->nonce.len, 5);
	cr_assert_eq(memcmp(back->nonce.data, nonce, 5), 0);
	protobuf_c_message_free_unpacked(m, NULL);
	refuse(&else__query_reply__descriptor, "{\"nonce\":\"A\"}", -EINVAL,
	       "nonce: malformed base64");
	refuse(&else__query_reply__descriptor, "{\"nonce\":\"AA*=\"}", -EINVAL, "malformed base64");
}

Test(pbjson, refusals_name_the_field)
{
	const ProtobufCMessageDescriptor *s = &else__search__descriptor;

	refuse(s, "{\"sendr\":\"x\"}", -EINVAL, "unknown field \"sendr\" in else.Search");
	refuse(s, "{\"limit\":\"20\"}", -EINVAL, "limit: expected an unsigned 32-bit integer");
	refuse(s, "{\"limit\":-1}", -EINVAL, "limit: expected an unsigned 32-bit integer");
	refuse(s, "{\"limit\":4294967296}", -EINVAL, "limit: 4294967296 out of range");
	refuse(s, "{\"limit\":1.5}", -EINVAL, "limit: expected");
	refuse(s, "{\"sender\":1}", -EINVAL, "sender: expected a string");
	refuse(s, "{\"sender\":\"a\\u0000b\"}", -EINVAL, "sender: NUL in string");
	refuse(s, "{\"ascending\":1}", -EINVAL, "ascending: expected true or false");
	refuse(s, "{\"match\":\"MATCH_FUZZY\"}", -EINVAL,
	       "match: unknown value \"MATCH_FUZZY\" of else.Match");
	refuse(s, "{\"match\":7}", -EINVAL, "match: 7 is no value of else.Match");
	refuse(s, "{\"from_us\":9223372036854775808}", -EINVAL,
	       "from_us: expected a signed 64-bit");
	refuse(s, "{\"sender\":\"a\",\"sender\":\"b\"}", -EINVAL, "field \"sender\" given twice");
	refuse(s, "[]", -EINVAL, "expected an object for else.Search");
	refuse(s, "{\"sender\":\"a\"", -EINVAL, "JSON: unterminated");
	refuse(&else__user_put__descriptor, "{\"user\":{\"addresses\":[\"a\",2]}}", -EINVAL,
	       "user.addresses: expected a string");
	refuse(&else__user_put__descriptor, "{\"user\":{\"group_ids\":[1,null]}}", -EINVAL,
	       "user.group_ids: null in an array");
	refuse(&else__user_put__descriptor, "{\"user\":[]}", -EINVAL, "user: expected an object");
	refuse(&else__user_put__descriptor, "{\"user\":{\"role\":\"ROLE_GOD\"}}", -EINVAL,
	       "user.role: unknown value");
}

Test(pbjson, limits_are_e2big)
{
	el_pbjson_limits lim = { .max_list = 2, .max_str = 8, .max_depth = 1 };
	ProtobufCMessage *m = NULL;
	const ProtobufCMessageDescriptor *up = &else__user_put__descriptor;
	const char *j;

	j = "{\"user\":{\"addresses\":[\"a\",\"b\",\"c\"]}}";
	cr_assert_eq(el_pbjson_decode(up, j, strlen(j), &lim, &m, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "user.addresses: more than 2 entries"), "%s", err);
	j = "{\"password\":\"123456789\"}";
	cr_assert_eq(el_pbjson_decode(up, j, strlen(j), &lim, &m, err, sizeof(err)), -E2BIG);
	cr_assert(strstr(err, "password: string longer than 8"), "%s", err);
	/* Depth: QueryRequest (0) > UserPut (1) > UserInfo (2). */
	j = "{\"user_put\":{\"user\":{}}}";
	cr_assert_eq(el_pbjson_decode(&else__query_request__descriptor, j, strlen(j), &lim, &m, err,
				      sizeof(err)),
		     -E2BIG);
	cr_assert(strstr(err, "nested deeper than 1"), "%s", err);
	/* The bound is on decoded bytes: 8 escaped letters are 8 bytes. */
	j = "{\"password\":\"\\u0041\\u0042\\u0043\\u0044\\u0045\\u0046\\u0047\\u0048\"}";
	cr_assert_eq(el_pbjson_decode(up, j, strlen(j), &lim, &m, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(((Else__UserPut *)m)->password, "ABCDEFGH");
	protobuf_c_message_free_unpacked(m, NULL);
	m = NULL;
	lim = (el_pbjson_limits){ .max_len = 10 };
	j = "{\"password\":\"x\"}";
	cr_assert_eq(el_pbjson_decode(up, j, strlen(j), &lim, &m, err, sizeof(err)), -E2BIG);
	cr_assert_null(m);
}

Test(pbjson, huge_values_in_every_field_fail_cleanly)
{
	static char big[300000];
	const ProtobufCMessageDescriptor *s = &else__search__descriptor;
	ProtobufCMessage *m = NULL;
	unsigned i;
	size_t n;

	for (i = 0; i < s->n_fields; i++) {
		n = (size_t)snprintf(big, sizeof(big), "{\"%s\":\"", s->fields[i].name);
		memset(big + n, 'A', 200000);
		n += 200000;
		memcpy(big + n, "\"}", 3);
		n += 2;
		int rv = el_pbjson_decode(s, big, n, NULL, &m, err, sizeof(err));
		cr_expect(rv == -E2BIG || rv == -EINVAL, "%s: %d", s->fields[i].name, rv);
		cr_expect(strstr(err, s->fields[i].name) != NULL || strstr(err, "JSON:") != NULL,
			  "%s", err);
		cr_expect_null(m);
	}
}

/* rows_reply - a QueryReply of a SearchReply with n copies of row (rows: n pointers) */
static void rows_reply(Else__QueryReply *r, Else__SearchReply *sr, Else__MessageRow **rows,
		       Else__MessageRow *row, size_t n)
{
	else__query_reply__init(r);
	else__search_reply__init(sr);
	for (size_t i = 0; i < n; i++)
		rows[i] = row;
	sr->rows = rows;
	sr->n_rows = n;
	r->result_case = ELSE__QUERY_REPLY__RESULT_SEARCH;
	r->search = sr;
}

Test(pbjson, bounded_encoding_stops_at_its_bound_and_leaves_the_buffer_as_it_was)
{
	static Else__MessageRow *rows[1000];
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&else__query_reply__descriptor, "search");
	Else__QueryReply r;
	Else__SearchReply sr;
	Else__MessageRow row;
	el_buf b, full;
	size_t len;

	else__message_row__init(&row);
	rows_reply(&r, &sr, rows, &row, 1000);
	el_buf_init(&full);
	el_pbjson_encode_field(&full, &r.base, f);
	len = full.len;
	/* 1000 empty rows: 2 bytes each on the wire, every field with its name in JSON. */
	cr_assert_gt(len, 1000 * 100);

	el_buf_init(&b);
	el_buf_addlit(&b, "xyz");
	cr_assert_eq(el_pbjson_encode_field_max(&b, &r.base, f, len), 0);
	cr_assert_eq(b.len, 3 + len);
	cr_assert_eq(memcmp(b.p + 3, full.p, len), 0, "the same JSON as unbounded");
	b.len = 3;
	cr_assert_eq(el_pbjson_encode_field_max(&b, &r.base, f, len - 1), -E2BIG);
	cr_assert_eq(b.len, 3, "cut back to where it was");
	cr_assert_eq(memcmp(b.p, "xyz", 3), 0);
	/* The whole message too, down to its closing brace. */
	full.len = 0;
	el_pbjson_encode(&full, &r.base);
	b.len = 0;
	cr_assert_eq(el_pbjson_encode_max(&b, &r.base, full.len), 0);
	cr_assert_eq(b.len, full.len);
	b.len = 0;
	cr_assert_eq(el_pbjson_encode_max(&b, &r.base, full.len - 1), -E2BIG);
	cr_assert_eq(b.len, 0);
	el_buf_fini(&b);
	el_buf_fini(&full);
}

Test(pbjson, bounded_encoding_never_grows_past_one_value_over_its_bound)
{
	static Else__MessageRow *rows[100000];
	static char ctl[100001];
	Else__QueryReply r;
	Else__SearchReply sr;
	Else__MessageRow row;
	el_buf b;

	/* 100000 empty rows: 200 KB on the wire, some 30 MB of JSON unbounded. */
	else__message_row__init(&row);
	rows_reply(&r, &sr, rows, &row, 100000);
	el_buf_init(&b);
	cr_assert_eq(el_pbjson_encode_max(&b, &r.base, 64 << 10), -E2BIG);
	cr_assert_eq(b.len, 0);
	cr_assert_leq(b.cap, 128 << 10, "grew to %zu for a bound of 64 KiB", b.cap);
	el_buf_fini(&b);

	/* One string of control characters: 6 bytes of JSON a byte, the one value over. */
	memset(ctl, 1, sizeof(ctl) - 1);
	row.sender = ctl;
	rows_reply(&r, &sr, rows, &row, 3);
	el_buf_init(&b);
	cr_assert_eq(el_pbjson_encode_max(&b, &r.base, 1000), -E2BIG);
	cr_assert_eq(b.len, 0);
	cr_assert_leq(b.cap, 2 * (1000 + 6 * sizeof(ctl) + 1024), "grew to %zu", b.cap);
	el_buf_fini(&b);
}
