/*
 * ctl_print - elsectl's tables.  See ctl_print.h.
 *
 * One printer per reply message, chosen by its descriptor.  Columns are
 * padded, never cut: an address or a reason is what the reader came for.
 */
#include "ctl_print.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "el_pbjson.h"

/* The distinct keys a stats total keeps; the rest add up in "(other)". */
#define CTL_SUMS 32

/*
 * ctl_unsafe - the length of the character at p if a terminal must not get
 * it as it is, else 0: C0 controls and DEL, C1 controls (as UTF-8), the
 * marks and overrides that reorder text (U+061C, U+200E-F, U+202A-E,
 * U+2066-9) and the line and paragraph separators (U+2028-9).  The text is
 * taken as UTF-8, as the API sends it; avail bytes may be read from p (a
 * NUL-terminated string may say SIZE_MAX: no test reads past a NUL).
 */
static size_t ctl_unsafe(const unsigned char *p, size_t avail)
{
	if (p[0] < 0x20 || p[0] == 0x7f)
		return 1;
	if (avail < 2)
		return 0;
	if ((p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) || (p[0] == 0xd8 && p[1] == 0x9c))
		return 2;
	if (avail < 3)
		return 0;
	if (p[0] == 0xe2 && p[1] == 0x80 &&
	    ((p[2] >= 0x8e && p[2] <= 0x8f) || (p[2] >= 0xa8 && p[2] <= 0xae)))
		return 3;
	if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)
		return 3;
	return 0;
}

/*
 * ctl_put - s with what ctl_unsafe names as \xNN per byte and a backslash
 * doubled (so that the text "\x1b" cannot pass for an escaped ESC), padded
 * with spaces to width columns.  A character counts one column: East Asian
 * wide characters and combining marks misalign what follows them.
 */
static void ctl_put(FILE *f, const char *s, int width)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	int cols = 0;

	while (*p) {
		size_t n = ctl_unsafe(p, SIZE_MAX);

		if (n) {
			for (; n; n--, p++)
				cols += fprintf(f, "\\x%02x", *p);
			continue;
		}
		if (*p == '\\') {
			fputs("\\\\", f);
			cols += 2;
		} else {
			fputc(*p, f);
			cols += (*p & 0xc0) != 0x80;
		}
		p++;
	}
	for (; cols < width; cols++)
		fputc(' ', f);
}

/* ctl_print_text - see ctl_print.h */
void ctl_print_text(FILE *f, const char *s)
{
	ctl_put(f, s, 0);
}

/* ctl_print_json - see ctl_print.h */
void ctl_print_json(FILE *f, const char *json, size_t len)
{
	const unsigned char *p = (const unsigned char *)json, *end = p + len;

	while (p < end) {
		size_t n = ctl_unsafe(p, (size_t)(end - p));
		unsigned cp = *p;

		if (n == 0 || (n == 1 && (*p == '\n' || *p == '\t'))) {
			fputc(*p++, f);
			continue;
		}
		if (n == 2)
			cp = ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu);
		else if (n == 3)
			cp = ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
		fprintf(f, "\\u%04x", cp);
		p += n;
	}
}

/* ctl_col - a column: the text, padded, and the space before the next */
static void ctl_col(FILE *f, const char *s, int width)
{
	ctl_put(f, s, width);
	fputc(' ', f);
}

/* ctl_time - microseconds as UTC text, "-" for none */
static const char *ctl_time(int64_t us, char *buf, size_t cap)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us == 0 || gmtime_r(&t, &tm) == NULL)
		return "-";
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* ctl_none - under a table's header: say that it has no row */
static void ctl_none(FILE *f, size_t n)
{
	if (n == 0)
		fputs("(none)\n", f);
}

/* ctl_rows - transactions, one per line */
static void ctl_rows(FILE *f, Else__MessageRow **rows, size_t n)
{
	char tb[32];

	fprintf(f, "%-16s %-19s %-12s %-14s %-10s %-30s %s\n", "EMAIL_ID", "TIME (UTC)", "HOST",
		"QUEUE_ID", "STATUS", "SENDER", "RECIPIENTS");
	ctl_none(f, n);
	for (size_t i = 0; i < n; i++) {
		const Else__MessageRow *r = rows[i];

		ctl_col(f, r->email_id, 16);
		ctl_col(f, ctl_time(r->first_seen_us, tb, sizeof(tb)), 19);
		ctl_col(f, r->host, 12);
		ctl_col(f, r->queue_id, 14);
		ctl_col(f, r->status, 10);
		ctl_col(f, r->sender[0] ? r->sender : "<>", 30);
		for (size_t k = 0; k < r->n_recipients; k++) {
			if (k)
				fputc(',', f);
			ctl_put(f, r->recipients[k], 0);
		}
		if (r->nrcpt > r->n_recipients)
			fprintf(f, " (+%zu)", (size_t)r->nrcpt - r->n_recipients);
		fputc('\n', f);
	}
}

/* ctl_more - the cursor of the next page, if any */
static void ctl_more(FILE *f, const char *cursor)
{
	if (cursor && cursor[0]) {
		fputs("more: cursor=", f);
		ctl_put(f, cursor, 0);
		fputc('\n', f);
	}
}

/* ctl_hop - what, then host/queue_id, when there is a host */
static void ctl_hop(FILE *f, const char *what, const char *host, const char *queue_id)
{
	if (host[0] == '\0')
		return;
	fputs(what, f);
	ctl_put(f, host, 0);
	if (queue_id[0]) {
		fputc('/', f);
		ctl_put(f, queue_id, 0);
	}
}

/* ctl_flow - an e-mail's story across hops */
static int ctl_flow(FILE *f, const ProtobufCMessage *reply)
{
	const Else__FlowReply *r = (const Else__FlowReply *)reply;
	char tb[32];
	size_t shown = 0;

	for (size_t i = 0; i < r->n_hops; i++)
		shown += r->hops[i]->msg != NULL;
	fputs("e-mail ", f);
	ctl_put(f, r->email_id, 0);
	fprintf(f, ": %zu hop(s)\n", shown);
	shown = 0;
	for (size_t i = 0; i < r->n_hops; i++) {
		const Else__Transaction *t = r->hops[i];
		const Else__MessageRow *m = t->msg;

		if (m == NULL)
			continue;
		fprintf(f, "\n[%zu] ", ++shown);
		ctl_col(f, m->host, 0);
		ctl_put(f, m->queue_id, 0);
		fprintf(f, "  %s  from=<", ctl_time(m->first_seen_us, tb, sizeof(tb)));
		ctl_put(f, m->sender, 0);
		fprintf(f, "> size=%" PRId64 " status=", m->size);
		ctl_put(f, m->status, 0);
		ctl_hop(f, "  after ", t->prev_host, t->prev_queue_id);
		ctl_hop(f, "  bounce of ", t->dsn_of_host, t->dsn_of_queue_id);
		fputc('\n', f);
		if (m->message_id[0]) {
			fputs("    message-id ", f);
			ctl_put(f, m->message_id, 0);
			fputc('\n', f);
		}
		if (m->client_host[0] || m->client_ip[0]) {
			fputs("    client ", f);
			ctl_put(f, m->client_host, 0);
			fputc('[', f);
			ctl_put(f, m->client_ip, 0);
			fputs("]\n", f);
		}
		for (size_t k = 0; k < t->n_recipients; k++) {
			const Else__RecipientRow *rc = t->recipients[k];

			fputs("    -> ", f);
			ctl_put(f, rc->rcpt, 0);
			fputs("  ", f);
			ctl_col(f, rc->status, 0);
			ctl_put(f, rc->dsn, 0);
			fputs(" relay=", f);
			ctl_put(f, rc->relay_host[0] ? rc->relay_host : "-", 0);
			if (rc->attempts > 1)
				fprintf(f, " attempts=%" PRIu32, rc->attempts);
			if (rc->delay > 0)
				fprintf(f, " delay=%.1fs", rc->delay);
			ctl_hop(f, "  next hop ", rc->next_host, rc->next_queue_id);
			fputc('\n', f);
			if (rc->response[0]) {
				fputs("       (", f);
				ctl_put(f, rc->response, 0);
				fputs(")\n", f);
			}
		}
		for (size_t k = 0; k < t->n_lines; k++) {
			fprintf(f, "    | %s ", ctl_time(t->lines[k]->time_us, tb, sizeof(tb)));
			ctl_put(f, t->lines[k]->text, 0);
			fputc('\n', f);
		}
	}
	for (size_t i = 0; i < r->n_rejects; i++) {
		const Else__RejectRow *j = r->rejects[i];

		fputs("reject ", f);
		ctl_col(f, j->host, 0);
		ctl_col(f, j->event, 0);
		ctl_put(f, j->rcpt, 0);
		fputs(": ", f);
		ctl_put(f, j->reason, 0);
		fputc('\n', f);
	}
	return 0;
}

/* ctl_rejects - rejected, deferred, dropped and lost SMTP sessions */
static int ctl_rejects(FILE *f, const ProtobufCMessage *m)
{
	const Else__RejectsReply *r = (const Else__RejectsReply *)m;
	char tb[32];

	fprintf(f, "%-19s %-12s %-15s %-15s %-4s %-9s %-30s %-30s %s\n", "TIME (UTC)", "HOST",
		"EVENT", "CLIENT IP", "CODE", "STAGE", "SENDER", "RECIPIENT", "REASON");
	ctl_none(f, r->n_rows);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Else__RejectRow *j = r->rows[i];

		ctl_col(f, ctl_time(j->time_us, tb, sizeof(tb)), 19);
		ctl_col(f, j->host, 12);
		ctl_col(f, j->event, 15);
		ctl_col(f, j->client_ip[0] ? j->client_ip : "-", 15);
		ctl_col(f, j->reject_code[0] ? j->reject_code : "-", 4);
		ctl_col(f, j->stage[0] ? j->stage : "-", 9);
		ctl_col(f, j->sender[0] ? j->sender : "-", 30);
		ctl_col(f, j->rcpt[0] ? j->rcpt : "-", 30);
		ctl_put(f, j->reason, 0);
		fputc('\n', f);
	}
	ctl_more(f, r->next_cursor);
	return 0;
}

/* ctl_sum - a total of a series: its status and direction (b, "" for none) */
typedef struct ctl_sum {
	const char *a, *b;
	int64_t n;
} ctl_sum;

/* ctl_sum_key_cmp - by status, then direction */
static int ctl_sum_key_cmp(const void *x, const void *y)
{
	const ctl_sum *p = x, *q = y;
	int c = strcmp(p->a, q->a);

	return c ? c : strcmp(p->b, q->b);
}

/* ctl_sum_cmp - larger totals first, then by key */
static int ctl_sum_cmp(const void *x, const void *y)
{
	const ctl_sum *p = x, *q = y;

	return p->n < q->n ? 1 : p->n > q->n ? -1 : ctl_sum_key_cmp(x, y);
}

/* ctl_add - x + y, held at the int64 bounds (the counts come from the network) */
static int64_t ctl_add(int64_t x, int64_t y)
{
	int64_t r;

	return __builtin_add_overflow(x, y, &r) ? (y > 0 ? INT64_MAX : INT64_MIN) : r;
}

/*
 * ctl_totals - one line: the points of a series added up by status (and
 * direction), largest first; past CTL_SUMS - 1 keys, the rest as (other)
 */
static void ctl_totals(FILE *f, const char *what, Else__StatsPoint **pts, size_t n)
{
	ctl_sum *s;
	size_t k = 0;

	fprintf(f, "%-13s", what);
	if (n == 0) {
		fputs(" none\n", f);
		return;
	}
	if ((s = calloc(n, sizeof(*s))) == NULL) {
		fputs(" (out of memory)\n", f);
		return;
	}
	for (size_t i = 0; i < n; i++)
		s[i] = (ctl_sum){ pts[i]->status, pts[i]->direction, pts[i]->count };
	qsort(s, n, sizeof(*s), ctl_sum_key_cmp);
	for (size_t i = 0; i < n; i++)
		if (k && ctl_sum_key_cmp(&s[k - 1], &s[i]) == 0)
			s[k - 1].n = ctl_add(s[k - 1].n, s[i].n);
		else
			s[k++] = s[i];
	qsort(s, k, sizeof(*s), ctl_sum_cmp);
	if (k > CTL_SUMS) {
		for (size_t i = CTL_SUMS; i < k; i++)
			s[CTL_SUMS - 1].n = ctl_add(s[CTL_SUMS - 1].n, s[i].n);
		s[CTL_SUMS - 1].a = "(other)";
		s[CTL_SUMS - 1].b = "";
		k = CTL_SUMS;
	}
	for (size_t i = 0; i < k; i++) {
		fprintf(f, "%s %" PRId64 " ", i ? "," : "", s[i].n);
		ctl_put(f, s[i].a, 0);
		if (s[i].b[0]) {
			fputc('/', f);
			ctl_put(f, s[i].b, 0);
		}
	}
	fputc('\n', f);
	free(s);
}

/* ctl_top - a top list: count, then key */
static void ctl_top(FILE *f, const char *what, Else__TopEntry **e, size_t n)
{
	if (n == 0)
		return;
	fprintf(f, "\n%s\n", what);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%10" PRId64 "  ", e[i]->count);
		ctl_put(f, e[i]->key[0] ? e[i]->key : "<>", 0);
		fputc('\n', f);
	}
}

/* ctl_stats - the period's totals, then its top lists */
static int ctl_stats(FILE *f, const ProtobufCMessage *m)
{
	const Else__StatsReply *r = (const Else__StatsReply *)m;
	int64_t lo = INT64_MAX, hi = 0;
	char t1[32], t2[32];
	Else__StatsPoint **series[] = { r->messages, r->recipients, r->rejects };
	size_t ns[] = { r->n_messages, r->n_recipients, r->n_rejects };

	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < ns[k]; i++) {
			lo = series[k][i]->time_us < lo ? series[k][i]->time_us : lo;
			hi = series[k][i]->time_us > hi ? series[k][i]->time_us : hi;
		}
	if (hi)
		fprintf(f, "buckets from %s to %s (UTC)\n", ctl_time(lo, t1, sizeof(t1)),
			ctl_time(hi, t2, sizeof(t2)));
	ctl_totals(f, "TRANSACTIONS", r->messages, r->n_messages);
	ctl_totals(f, "RECIPIENTS", r->recipients, r->n_recipients);
	ctl_totals(f, "REJECTS", r->rejects, r->n_rejects);
	ctl_top(f, "PER SERVER (transactions)", r->per_server, r->n_per_server);
	ctl_top(f, "TOP SENDERS", r->top_senders, r->n_top_senders);
	ctl_top(f, "TOP RECIPIENTS", r->top_recipients, r->n_top_recipients);
	ctl_top(f, "TOP SENDER DOMAINS", r->top_sender_domains, r->n_top_sender_domains);
	ctl_top(f, "TOP RECIPIENT DOMAINS", r->top_recipient_domains, r->n_top_recipient_domains);
	ctl_top(f, "TOP CLIENT IPS", r->top_client_ips, r->n_top_client_ips);
	ctl_top(f, "TOP REJECT REASONS", r->top_reject_reasons, r->n_top_reject_reasons);
	ctl_top(f, "TOP DEFERRAL REASONS", r->top_defer_reasons, r->n_top_defer_reasons);
	return 0;
}

/* ctl_servers - the hosts seen and their last activity */
static int ctl_servers(FILE *f, const ProtobufCMessage *m)
{
	const Else__ServersReply *r = (const Else__ServersReply *)m;
	char t1[32], t2[32], t3[32];

	fprintf(f, "%-5s %-20s %-19s %-19s %-19s %s\n", "ID", "NAME", "FIRST SEEN (UTC)",
		"LAST E-MAIL", "LAST LINE", "LINES TODAY");
	ctl_none(f, r->n_rows);
	for (size_t i = 0; i < r->n_rows; i++) {
		const Else__ServerRow *s = r->rows[i];

		fprintf(f, "%-5" PRId64 " ", s->id);
		ctl_col(f, s->name, 20);
		fprintf(f, "%-19s %-19s %-19s %" PRIu64 "\n",
			ctl_time(s->first_seen_us, t1, sizeof(t1)),
			ctl_time(s->last_seen_us, t2, sizeof(t2)),
			ctl_time(s->last_line_us, t3, sizeof(t3)), s->lines_today);
	}
	return 0;
}

/* ctl_history - the caller's searches, as they were asked */
static int ctl_history(FILE *f, const ProtobufCMessage *m)
{
	const Else__HistoryReply *r = (const Else__HistoryReply *)m;
	char tb[32];

	fprintf(f, "%-19s %-8s %7s  %s\n", "TIME (UTC)", "KIND", "RESULTS", "QUERY");
	ctl_none(f, r->n_entries);
	for (size_t i = 0; i < r->n_entries; i++) {
		const Else__HistoryEntry *e = r->entries[i];

		ctl_col(f, ctl_time(e->time_us, tb, sizeof(tb)), 19);
		ctl_col(f, e->kind, 8);
		fprintf(f, "%7" PRIu32 "  ", e->results);
		ctl_put(f, e->query_json, 0);
		fputc('\n', f);
	}
	return 0;
}

/* ctl_audit - logins, searches and administration, newest first */
static int ctl_audit(FILE *f, const ProtobufCMessage *m)
{
	const Else__AuditReply *r = (const Else__AuditReply *)m;
	char tb[32];

	fprintf(f, "%-19s %-16s %-15s %-14s %s\n", "TIME (UTC)", "USER", "CLIENT IP", "ACTION",
		"DETAIL");
	ctl_none(f, r->n_entries);
	for (size_t i = 0; i < r->n_entries; i++) {
		const Else__AuditEntry *e = r->entries[i];

		ctl_col(f, ctl_time(e->time_us, tb, sizeof(tb)), 19);
		ctl_col(f, e->user[0] ? e->user : "-", 16);
		ctl_col(f, e->client_ip[0] ? e->client_ip : "-", 15);
		ctl_col(f, e->action, 14);
		ctl_put(f, e->detail, 0);
		fputc('\n', f);
	}
	ctl_more(f, r->next_cursor);
	return 0;
}

/* ctl_list - a repeated string as a,b,c ("-" when empty) */
static void ctl_list(FILE *f, char **v, size_t n)
{
	if (n == 0)
		fputc('-', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc(',', f);
		ctl_put(f, v[i], 0);
	}
}

/* ctl_ids - ids as "1,2,3" in buf ("-" when none; cut at cap) */
static const char *ctl_ids(char *buf, size_t cap, const int64_t *v, size_t n)
{
	size_t o = 0;

	snprintf(buf, cap, "-");
	for (size_t k = 0; k < n && o < cap; k++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, k ? "," : "", v[k]);
	return buf;
}

/* ctl_groups - groups with their servers, domains and members */
static int ctl_groups(FILE *f, const ProtobufCMessage *m)
{
	const Else__GroupListReply *r = (const Else__GroupListReply *)m;
	char ids[256];

	fprintf(f, "%-5s %-20s %-8s %s\n", "ID", "NAME", "MEMBERS", "SERVERS; DOMAINS");
	ctl_none(f, r->n_groups);
	for (size_t i = 0; i < r->n_groups; i++) {
		const Else__GroupInfo *g = r->groups[i];

		fprintf(f, "%-5" PRId64 " ", g->id);
		ctl_col(f, g->name, 20);
		ctl_col(f, ctl_ids(ids, sizeof(ids), g->member_ids, g->n_member_ids), 8);
		ctl_list(f, g->servers, g->n_servers);
		fputs("; ", f);
		ctl_list(f, g->domains, g->n_domains);
		fputc('\n', f);
	}
	return 0;
}

/* ctl_user - one user: id, name, role, groups, full name, addresses */
static void ctl_user(FILE *f, const Else__UserInfo *u)
{
	char ids[256];

	fprintf(f, "%-5" PRId64 " ", u->id);
	ctl_col(f, u->name, 20);
	ctl_col(f, el_pbjson_enum_name(&else__role__descriptor, (int)u->role), 13);
	ctl_col(f, ctl_ids(ids, sizeof(ids), u->group_ids, u->n_group_ids), 0);
	ctl_put(f, u->full_name, 0);
	if (u->n_addresses) {
		fputs(" <", f);
		ctl_list(f, u->addresses, u->n_addresses);
		fputc('>', f);
	}
	if (u->disabled)
		fputs(" (disabled)", f);
	fputc('\n', f);
}

/* ctl_users_head - the header of a users table */
static void ctl_users_head(FILE *f)
{
	fprintf(f, "%-5s %-20s %-13s %s\n", "ID", "NAME", "ROLE", "GROUPS FULL NAME <ADDRESSES>");
}

/* ctl_search - transactions, and whether there are more */
static int ctl_search(FILE *f, const ProtobufCMessage *m)
{
	const Else__SearchReply *r = (const Else__SearchReply *)m;

	ctl_rows(f, r->rows, r->n_rows);
	ctl_more(f, r->next_cursor);
	if (r->truncated)
		fputs("(not every match is shown: narrow the search or raise limit=)\n", f);
	return 0;
}

/* ctl_tail - the live view's newest transactions */
static int ctl_tail(FILE *f, const ProtobufCMessage *m)
{
	const Else__TailReply *r = (const Else__TailReply *)m;

	ctl_rows(f, r->rows, r->n_rows);
	return 0;
}

/* ctl_users - the users */
static int ctl_users(FILE *f, const ProtobufCMessage *m)
{
	const Else__UserListReply *r = (const Else__UserListReply *)m;

	ctl_users_head(f);
	ctl_none(f, r->n_users);
	for (size_t i = 0; i < r->n_users; i++)
		ctl_user(f, r->users[i]);
	return 0;
}

/* ctl_session - who the session is, and until when */
static int ctl_session(FILE *f, const ProtobufCMessage *m)
{
	const Else__SessionReply *r = (const Else__SessionReply *)m;
	char tb[32];

	if (r->user == NULL)
		return -ENOTSUP;
	ctl_users_head(f);
	ctl_user(f, r->user);
	fprintf(f, "session expires %s (UTC) unless used\n",
		ctl_time(r->expires_us, tb, sizeof(tb)));
	return 0;
}

/* ctl_put_id - the id of what was created or changed */
static int ctl_put_id(FILE *f, const ProtobufCMessage *m)
{
	fprintf(f, "id %" PRId64 "\n", ((const Else__PutReply *)m)->id);
	return 0;
}

/* ctl_printers - the table of each reply message */
static const struct {
	const ProtobufCMessageDescriptor *d;
	int (*print)(FILE *f, const ProtobufCMessage *m);
} ctl_printers[] = {
	{ &else__search_reply__descriptor, ctl_search },
	{ &else__tail_reply__descriptor, ctl_tail },
	{ &else__flow_reply__descriptor, ctl_flow },
	{ &else__rejects_reply__descriptor, ctl_rejects },
	{ &else__stats_reply__descriptor, ctl_stats },
	{ &else__servers_reply__descriptor, ctl_servers },
	{ &else__history_reply__descriptor, ctl_history },
	{ &else__audit_reply__descriptor, ctl_audit },
	{ &else__group_list_reply__descriptor, ctl_groups },
	{ &else__user_list_reply__descriptor, ctl_users },
	{ &else__session_reply__descriptor, ctl_session },
	{ &else__put_reply__descriptor, ctl_put_id },
};

/* ctl_print_reply - see ctl_print.h */
int ctl_print_reply(FILE *f, const ProtobufCMessage *m)
{
	for (size_t i = 0; i < sizeof(ctl_printers) / sizeof(ctl_printers[0]); i++)
		if (m->descriptor == ctl_printers[i].d)
			return ctl_printers[i].print(f, m);
	return -ENOTSUP;
}
