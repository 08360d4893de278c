/*
 * elsectl - command-line client of the ELSE JSON API (docs/elsectl.md), for
 * administrators and scripts.  It talks HTTP(S) to a frontend exactly as the
 * web UI does; requests are the messages of proto/query.proto, built from
 * key=value arguments through their descriptors (el_pbjson), so every field
 * of every call is reachable without elsectl knowing it.
 *
 * usage: elsectl [-u URL] [--cacert FILE] [-k] [--json] COMMAND [ARGS]
 *
 * The session (token and CSRF token) is kept in $ELSECTL_SESSION, default
 * ~/.elsectl-session, mode 0600.  Exit status: 0 ok, 1 the API refused
 * (status and message on stderr), 2 usage, 3 transport.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_http.h"
#include "el_json.h"
#include "el_log.h"
#include "el_pbjson.h"
#include "query.pb-c.h"

static ctl_http_conf ctl_conf;
static int ctl_json; /* print raw JSON answers */
static char ctl_session[65], ctl_csrf[129];

/* ctl_session_path - where the session is kept */
static void ctl_session_path(char *out, size_t cap)
{
	const char *e = getenv("ELSECTL_SESSION"), *home = getenv("HOME");

	if (e && e[0])
		snprintf(out, cap, "%s", e);
	else
		snprintf(out, cap, "%s/.elsectl-session", home ? home : ".");
}

/* ctl_session_load - read token and csrf (absent: empty) */
static void ctl_session_load(void)
{
	char path[1024], line[256];
	FILE *f;

	ctl_session_path(path, sizeof(path));
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fgets(line, sizeof(line), f))
		sscanf(line, "%64s", ctl_session);
	if (fgets(line, sizeof(line), f))
		sscanf(line, "%128s", ctl_csrf);
	fclose(f);
}

/* ctl_session_save - write token and csrf, 0600 */
static void ctl_session_save(void)
{
	char path[1024];
	int fd;
	FILE *f;

	ctl_session_path(path, sizeof(path));
	if (ctl_session[0] == '\0') {
		unlink(path);
		return;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
	    (f = fdopen(fd, "w")) == NULL)
		el_fatal("cannot write %s: %s", path, strerror(errno));
	fprintf(f, "%s\n%s\n", ctl_session, ctl_csrf);
	fclose(f);
}

/*
 * ctl_call - POST /api/call with body; on success the answer is decoded as
 * rdesc (NULL: not decoded) into *out.  Exits on transport errors and API
 * refusals; returns 0.
 */
static int ctl_call(const char *call, const char *body, size_t len,
		    const ProtobufCMessageDescriptor *rdesc, ProtobufCMessage **out, el_buf *raw)
{
	ctl_http_resp r;
	char path[64], err[512];
	int rv;

	memset(&r, 0, sizeof(r));
	el_buf_init(&r.body);
	snprintf(path, sizeof(path), "/api/%s", call);
	rv = ctl_http_post(&ctl_conf, path, body, len, ctl_session, ctl_csrf, &r);
	if (rv != 0) {
		fprintf(stderr, "elsectl: %s: %s\n", ctl_conf.base, r.err);
		exit(3);
	}
	if (r.session[0]) {
		memcpy(ctl_session, r.session, sizeof(ctl_session));
	} else if (r.session_clear) {
		ctl_session[0] = ctl_csrf[0] = '\0';
		ctl_session_save();
	}
	if (r.status != 200) {
		fprintf(stderr, "elsectl: %s: HTTP %ld: %.*s\n", call, r.status,
			(int)(r.body.len > 2000 ? 2000 : r.body.len), r.body.p ? r.body.p : "");
		exit(1);
	}
	if (raw)
		el_buf_add(raw, r.body.p, r.body.len);
	if (rdesc && out) {
		el_pbjson_limits lim = { .max_len = r.body.len + 1,
					 .max_depth = 8,
					 .max_list = 100000,
					 .max_str = 16 << 20 };
		if (el_pbjson_decode(rdesc, r.body.p, r.body.len, &lim, out, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "elsectl: %s: unexpected answer: %s\n", call, err);
			exit(3);
		}
	}
	el_buf_fini(&r.body);
	return 0;
}

/* ctl_is_num - a JSON number literal */
static int ctl_is_num(const char *s)
{
	char *end;

	if (*s == '\0')
		return 0;
	(void)strtod(s, &end);
	return *end == '\0' && strspn(s, "-0123456789.eE+") == strlen(s);
}

/* ctl_value - append v as the JSON of a value of field f */
static void ctl_value(el_buf *b, const ProtobufCFieldDescriptor *f, const char *v)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_ENUM:
	case PROTOBUF_C_TYPE_BYTES:
		if (f->type == PROTOBUF_C_TYPE_ENUM && ctl_is_num(v))
			el_buf_add(b, v, strlen(v));
		else
			el_json_str(b, el_span_make(v, strlen(v)));
		break;
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0)
			el_buf_addlit(b, "true");
		else
			el_buf_addlit(b, "false");
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		el_buf_add(b, v, strlen(v)); /* JSON given as is */
		break;
	default:
		/* Numbers; a time may be given as YYYY-MM-DDTHH:MM:SS (UTC). */
		if (!ctl_is_num(v) && strlen(f->name) > 3 &&
		    strcmp(f->name + strlen(f->name) - 3, "_us") == 0) {
			struct tm tm;
			memset(&tm, 0, sizeof(tm));
			if (strptime(v, "%Y-%m-%dT%H:%M:%S", &tm) || strptime(v, "%Y-%m-%d", &tm)) {
				el_buf_add_i64(b, (int64_t)timegm(&tm) * 1000000);
				break;
			}
		}
		if (ctl_is_num(v))
			el_buf_add(b, v, strlen(v));
		else
			el_json_str(b, el_span_make(v, strlen(v))); /* the API names the error */
	}
}

/*
 * ctl_args_json - a JSON object of desc from key=value arguments; repeated
 * fields take comma-separated values.  An unknown key is a usage error.
 */
static void ctl_args_json(el_buf *b, const ProtobufCMessageDescriptor *desc, int argc, char **argv)
{
	int i;

	el_buf_addc(b, '{');
	for (i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '='), key[64];
		const ProtobufCFieldDescriptor *f;
		size_t kl;

		if (eq == NULL || (kl = (size_t)(eq - argv[i])) >= sizeof(key)) {
			fprintf(stderr, "elsectl: expected key=value, got %s\n", argv[i]);
			exit(2);
		}
		memcpy(key, argv[i], kl);
		key[kl] = '\0';
		if ((f = protobuf_c_message_descriptor_get_field_by_name(desc, key)) == NULL) {
			unsigned k;
			fprintf(stderr, "elsectl: %s has no field %s; fields:", desc->short_name,
				key);
			for (k = 0; k < desc->n_fields; k++)
				fprintf(stderr, " %s", desc->fields[k].name);
			fprintf(stderr, "\n");
			exit(2);
		}
		if (b->len > 1)
			el_buf_addc(b, ',');
		el_json_key(b, f->name, strlen(f->name));
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			char *v = eq + 1, *save = NULL, *t;
			int n = 0;
			el_buf_addc(b, '[');
			for (t = strtok_r(v, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (n++)
					el_buf_addc(b, ',');
				ctl_value(b, f, t);
			}
			el_buf_addc(b, ']');
		} else {
			ctl_value(b, f, eq + 1);
		}
	}
	el_buf_addc(b, '}');
}

/* ctl_time - microseconds as UTC text */
static const char *ctl_time(int64_t us, char *buf, size_t cap)
{
	time_t t = (time_t)(us / 1000000);
	struct tm tm;

	if (us == 0)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S", &tm);
	return buf;
}

/* ctl_rows - print message rows as a table */
static void ctl_rows(Else__MessageRow **rows, size_t n)
{
	char tb[32];
	size_t i;

	printf("%-16s %-19s %-12s %-14s %-10s %-30s %s\n", "EMAIL_ID", "TIME (UTC)", "HOST",
	       "QUEUE_ID", "STATUS", "SENDER", "RECIPIENTS");
	for (i = 0; i < n; i++) {
		Else__MessageRow *r = rows[i];
		printf("%-16s %-19s %-12s %-14s %-10s %-30s ", r->email_id,
		       ctl_time(r->first_seen_us, tb, sizeof(tb)), r->host, r->queue_id, r->status,
		       r->sender[0] ? r->sender : "<>");
		for (size_t k = 0; k < r->n_recipients; k++)
			printf("%s%s", k ? "," : "", r->recipients[k]);
		if (r->nrcpt > r->n_recipients)
			printf(" (+%u)", r->nrcpt - (unsigned)r->n_recipients);
		printf("\n");
	}
}

/* ctl_flow - print a flow as a story across hops */
static void ctl_flow(const Else__FlowReply *f)
{
	char tb[32];
	size_t i, k;

	printf("e-mail %s: %zu hop(s)\n", f->email_id, f->n_hops);
	for (i = 0; i < f->n_hops; i++) {
		const Else__Transaction *t = f->hops[i];
		const Else__MessageRow *m = t->msg;
		if (m == NULL)
			continue;
		printf("\n[%zu] %s %s  %s  from=<%s> size=%lld status=%s%s%s\n", i + 1, m->host,
		       m->queue_id, ctl_time(m->first_seen_us, tb, sizeof(tb)), m->sender,
		       (long long)m->size, m->status, t->prev_host[0] ? "  after " : "",
		       t->prev_host[0] ? t->prev_host : "");
		if (m->message_id[0])
			printf("    message-id %s\n", m->message_id);
		if (m->client_host[0] || m->client_ip[0])
			printf("    client %s[%s]\n", m->client_host, m->client_ip);
		for (k = 0; k < t->n_recipients; k++) {
			const Else__RecipientRow *r = t->recipients[k];
			printf("    -> %s  %s %s relay=%s%s%s\n", r->rcpt, r->status, r->dsn,
			       r->relay_host[0] ? r->relay_host : "-",
			       r->next_host[0] ? "  next hop " : "",
			       r->next_host[0] ? r->next_host : "");
			if (r->response[0])
				printf("       (%s)\n", r->response);
		}
		for (k = 0; k < t->n_lines; k++)
			printf("    | %s %s\n", ctl_time(t->lines[k]->time_us, tb, sizeof(tb)),
			       t->lines[k]->text);
	}
	for (i = 0; i < f->n_rejects; i++)
		printf("reject %s %s %s: %s\n", f->rejects[i]->host, f->rejects[i]->event,
		       f->rejects[i]->rcpt, f->rejects[i]->reason);
}

/* ctl_password - from the environment variable env or the next line of stdin */
static char *ctl_password(const char *env, const char *prompt)
{
	static char buf[1024];
	const char *e = getenv(env);
	size_t n;

	if (e) {
		snprintf(buf, sizeof(buf), "%s", e);
		return buf;
	}
	if (isatty(0))
		fprintf(stderr, "%s: ", prompt);
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		el_fatal("no password on stdin");
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

/* ctl_type_name - a field's type as written in the .proto file */
static const char *ctl_type_name(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
		return "int32";
	case PROTOBUF_C_TYPE_UINT32:
		return "uint32";
	case PROTOBUF_C_TYPE_INT64:
		return "int64";
	case PROTOBUF_C_TYPE_UINT64:
		return "uint64";
	case PROTOBUF_C_TYPE_DOUBLE:
		return "double";
	case PROTOBUF_C_TYPE_BOOL:
		return "bool";
	case PROTOBUF_C_TYPE_STRING:
		return "string";
	case PROTOBUF_C_TYPE_BYTES:
		return "bytes";
	case PROTOBUF_C_TYPE_ENUM:
		return ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name;
	case PROTOBUF_C_TYPE_MESSAGE:
		return ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
	default:
		return "other";
	}
}

/* ctl_usage - print usage, exit */
static void ctl_usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: elsectl [-u URL] [--cacert FILE] [-k] [--json] COMMAND [ARGS]\n"
		"  login USER             password from ELSECTL_PASSWORD or stdin\n"
		"  logout | whoami | passwd\n"
		"  quick TEXT [limit=N]   Message-ID, queue ID, e-mail id or address\n"
		"  search key=value...    fields of Search (docs/api.md), e.g. sender=a@b "
		"status=bounced\n"
		"  flow EMAIL_ID | flow host=H queue_id=Q\n"
		"  rejects key=value...   stats key=value...   audit key=value...\n"
		"  servers   tail   history\n"
		"  users | user-put key=value... | user-delete ID\n"
		"  groups | group-put key=value... | group-delete ID\n"
		"  call NAME [JSON]       any call of docs/api.md, JSON body as is\n"
		"  calls                  the calls of the API; fields NAME: a call's fields\n"
		"  check NAME JSON        decode a request body offline and print it in full\n"
		"URL: -u or ELSECTL_URL (default http://127.0.0.1:8080, the demo's web UI)\n");
	exit(rc);
}

/* ctl_print_json - the raw answer and a newline */
static void ctl_print_json(const el_buf *raw)
{
	fwrite(raw->p, 1, raw->len, stdout);
	fputc('\n', stdout);
}

/* ctl_generic - a call whose body comes from key=value args; print JSON */
static int ctl_generic(const char *call, int argc, char **argv)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&else__query_request__descriptor, call);
	el_buf b, raw;

	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
		ctl_usage(2);
	el_buf_init(&b);
	el_buf_init(&raw);
	ctl_args_json(&b, f->descriptor, argc, argv);
	ctl_call(call, b.p, b.len, NULL, NULL, &raw);
	ctl_print_json(&raw);
	el_buf_fini(&b);
	el_buf_fini(&raw);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "cacert", required_argument, 0, 'C' },
					    { "json", no_argument, 0, 'j' },
					    { "help", no_argument, 0, 'h' },
					    { 0, 0, 0, 0 } };
	const char *cmd;
	el_buf b, raw;
	ProtobufCMessage *m = NULL;
	int opt;

	el_log_set_prog("elsectl");
	ctl_conf.base = getenv("ELSECTL_URL") ? getenv("ELSECTL_URL") : "http://127.0.0.1:8080";
	ctl_conf.timeout_s = 60;
	while ((opt = getopt_long(argc, argv, "+u:kh", lo, NULL)) != -1) {
		switch (opt) {
		case 'u':
			ctl_conf.base = optarg;
			break;
		case 'C':
			ctl_conf.ca_file = optarg;
			break;
		case 'k':
			ctl_conf.insecure = true;
			break;
		case 'j':
			ctl_json = 1;
			break;
		case 'h':
			ctl_usage(0);
			break;
		default:
			ctl_usage(2);
		}
	}
	if (optind >= argc)
		ctl_usage(2);
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	el_buf_init(&b);
	el_buf_init(&raw);
	ctl_session_load();

	if (strcmp(cmd, "login") == 0) {
		if (argc != 1)
			ctl_usage(2);
		el_buf_addlit(&b, "{\"user\":");
		el_json_str(&b, el_span_make(argv[0], strlen(argv[0])));
		el_buf_addlit(&b, ",\"password\":");
		const char *pw = ctl_password("ELSECTL_PASSWORD", "password");
		el_json_str(&b, el_span_make(pw, strlen(pw)));
		el_buf_addc(&b, '}');
		ctl_session[0] = ctl_csrf[0] = '\0';
		ctl_call("login", b.p, b.len, &else__login_reply__descriptor, &m, &raw);
		Else__LoginReply *lr = (Else__LoginReply *)m;
		snprintf(ctl_csrf, sizeof(ctl_csrf), "%s", lr->csrf);
		if (ctl_session[0] == '\0')
			el_fatal("login: no session cookie in the answer");
		ctl_session_save();
		if (ctl_json)
			ctl_print_json(&raw);
		else
			printf("logged in as %s (%s)\n", lr->user ? lr->user->name : argv[0],
			       lr->user ? el_pbjson_enum_name(&else__role__descriptor,
							      (int)lr->user->role)
					: "?");
	} else if (strcmp(cmd, "logout") == 0) {
		ctl_call("logout", "{}", 2, NULL, NULL, NULL);
		ctl_session[0] = ctl_csrf[0] = '\0';
		ctl_session_save();
	} else if (strcmp(cmd, "whoami") == 0) {
		ctl_call("session_check", "{}", 2, NULL, NULL, &raw);
		ctl_print_json(&raw);
	} else if (strcmp(cmd, "passwd") == 0) {
		char old[1024];
		snprintf(old, sizeof(old), "%s", ctl_password("ELSECTL_PASSWORD", "old password"));
		/* Never ELSECTL_PASSWORD again: the new password would be the old one. */
		const char *nw = ctl_password("ELSECTL_NEW_PASSWORD", "new password");
		el_buf_addlit(&b, "{\"old_password\":");
		el_json_str(&b, el_span_make(old, strlen(old)));
		el_buf_addlit(&b, ",\"new_password\":");
		el_json_str(&b, el_span_make(nw, strlen(nw)));
		el_buf_addc(&b, '}');
		ctl_call("password_change", b.p, b.len, NULL, NULL, NULL);
		printf("password changed\n");
	} else if (strcmp(cmd, "quick") == 0 || strcmp(cmd, "search") == 0 ||
		   strcmp(cmd, "tail") == 0) {
		const ProtobufCMessageDescriptor *d =
			strcmp(cmd, "quick") == 0  ? &else__quick_search__descriptor
			: strcmp(cmd, "tail") == 0 ? &else__tail__descriptor
						   : &else__search__descriptor;
		if (strcmp(cmd, "quick") == 0) {
			if (argc < 1)
				ctl_usage(2);
			/* quick TEXT [limit=N] */
			char *qa[8];
			int n = 0;
			static char qbuf[2048];
			snprintf(qbuf, sizeof(qbuf), "q=%s", argv[0]);
			qa[n++] = qbuf;
			for (int i = 1; i < argc && n < 8; i++)
				qa[n++] = argv[i];
			ctl_args_json(&b, d, n, qa);
		} else {
			ctl_args_json(&b, d, argc, argv);
		}
		if (strcmp(cmd, "tail") == 0) {
			ctl_call(cmd, b.p, b.len, &else__tail_reply__descriptor, &m, &raw);
			if (ctl_json)
				ctl_print_json(&raw);
			else
				ctl_rows(((Else__TailReply *)m)->rows,
					 ((Else__TailReply *)m)->n_rows);
		} else {
			ctl_call(cmd, b.p, b.len, &else__search_reply__descriptor, &m, &raw);
			Else__SearchReply *sr = (Else__SearchReply *)m;
			if (ctl_json) {
				ctl_print_json(&raw);
			} else {
				ctl_rows(sr->rows, sr->n_rows);
				if (sr->next_cursor[0])
					printf("more: cursor=%s\n", sr->next_cursor);
				if (sr->truncated)
					printf("(search stopped at its budget: narrow it)\n");
			}
		}
	} else if (strcmp(cmd, "flow") == 0) {
		if (argc == 1 && strchr(argv[0], '=') == NULL) {
			el_buf_addlit(&b, "{\"email_id\":");
			el_json_str(&b, el_span_make(argv[0], strlen(argv[0])));
			el_buf_addc(&b, '}');
		} else {
			ctl_args_json(&b, &else__flow__descriptor, argc, argv);
		}
		ctl_call("flow", b.p, b.len, &else__flow_reply__descriptor, &m, &raw);
		if (ctl_json)
			ctl_print_json(&raw);
		else
			ctl_flow((Else__FlowReply *)m);
	} else if (strcmp(cmd, "users") == 0) {
		ctl_call("user_list", "{}", 2, &else__user_list_reply__descriptor, &m, &raw);
		Else__UserListReply *ul = (Else__UserListReply *)m;
		if (ctl_json) {
			ctl_print_json(&raw);
		} else {
			printf("%-6s %-20s %-14s %s\n", "ID", "NAME", "ROLE", "FULL NAME");
			for (size_t i = 0; i < ul->n_users; i++)
				printf("%-6lld %-20s %-14s %s%s\n", (long long)ul->users[i]->id,
				       ul->users[i]->name,
				       el_pbjson_enum_name(&else__role__descriptor,
							   (int)ul->users[i]->role),
				       ul->users[i]->full_name,
				       ul->users[i]->disabled ? " (disabled)" : "");
		}
	} else if (strcmp(cmd, "user-put") == 0 || strcmp(cmd, "group-put") == 0) {
		/* Fields of UserInfo/GroupInfo, plus password= for users. */
		bool user = strcmp(cmd, "user-put") == 0;
		el_buf inner;
		char *pw = NULL, *rest[64];
		int n = 0;
		el_buf_init(&inner);
		for (int i = 0; i < argc && n < 64; i++) {
			if (user && strncmp(argv[i], "password=", 9) == 0)
				pw = argv[i] + 9;
			else
				rest[n++] = argv[i];
		}
		if (user && pw && strcmp(pw, "-") == 0)
			pw = ctl_password("ELSECTL_PASSWORD", "password");
		ctl_args_json(&inner,
			      user ? &else__user_info__descriptor : &else__group_info__descriptor,
			      n, rest);
		if (user)
			el_buf_addlit(&b, "{\"user\":");
		else
			el_buf_addlit(&b, "{\"group\":");
		el_buf_add(&b, inner.p, inner.len);
		if (pw) {
			el_buf_addlit(&b, ",\"password\":");
			el_json_str(&b, el_span_make(pw, strlen(pw)));
		}
		el_buf_addc(&b, '}');
		el_buf_fini(&inner);
		ctl_call(user ? "user_put" : "group_put", b.p, b.len, &else__put_reply__descriptor,
			 &m, &raw);
		if (ctl_json)
			ctl_print_json(&raw);
		else
			printf("id %lld\n", (long long)((Else__PutReply *)m)->id);
	} else if (strcmp(cmd, "user-delete") == 0 || strcmp(cmd, "group-delete") == 0) {
		if (argc != 1 || !ctl_is_num(argv[0]))
			ctl_usage(2);
		el_buf_addlit(&b, "{\"id\":");
		el_buf_add(&b, argv[0], strlen(argv[0]));
		el_buf_addc(&b, '}');
		ctl_call(cmd[0] == 'u' ? "user_delete" : "group_delete", b.p, b.len, NULL, NULL,
			 NULL);
		printf("deleted\n");
	} else if (strcmp(cmd, "groups") == 0) {
		ctl_call("group_list", "{}", 2, NULL, NULL, &raw);
		ctl_print_json(&raw);
	} else if (strcmp(cmd, "check") == 0) {
		/* check CALL JSON: decode a request body offline, print it in full. */
		const ProtobufCFieldDescriptor *f =
			argc == 2 ? protobuf_c_message_descriptor_get_field_by_name(
					    &else__query_request__descriptor, argv[0])
				  : NULL;
		char err[512];
		if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
			ctl_usage(2);
		if (el_pbjson_decode(f->descriptor, argv[1], strlen(argv[1]), NULL, &m, err,
				     sizeof(err)) != 0) {
			fprintf(stderr, "elsectl: %s: %s\n", argv[0], err);
			exit(1);
		}
		el_pbjson_encode(&raw, m);
		ctl_print_json(&raw);
	} else if (strcmp(cmd, "calls") == 0) {
		/* The API's calls: QueryRequest's oneof members but the handshake. */
		const ProtobufCMessageDescriptor *d = &else__query_request__descriptor;
		for (unsigned i = 0; i < d->n_fields; i++)
			if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
			    strcmp(d->fields[i].name, "hello") != 0 &&
			    strcmp(d->fields[i].name, "auth") != 0)
				printf("%s %s\n", d->fields[i].name,
				       ((const ProtobufCMessageDescriptor *)d->fields[i].descriptor)
					       ->short_name);
	} else if (strcmp(cmd, "fields") == 0) {
		/* fields CALL: the request's fields, "name type" per line (scripts, docs). */
		const ProtobufCFieldDescriptor *f =
			argc == 1 ? protobuf_c_message_descriptor_get_field_by_name(
					    &else__query_request__descriptor, argv[0])
				  : NULL;
		if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE)
			ctl_usage(2);
		const ProtobufCMessageDescriptor *d = f->descriptor;
		for (unsigned i = 0; i < d->n_fields; i++)
			printf("%s %s%s\n", d->fields[i].name,
			       d->fields[i].label == PROTOBUF_C_LABEL_REPEATED ? "repeated " : "",
			       ctl_type_name(&d->fields[i]));
	} else if (strcmp(cmd, "call") == 0) {
		if (argc < 1 || argc > 2)
			ctl_usage(2);
		const char *body = argc == 2 ? argv[1] : "{}";
		ctl_call(argv[0], body, strlen(body), NULL, NULL, &raw);
		ctl_print_json(&raw);
	} else if (strcmp(cmd, "rejects") == 0 || strcmp(cmd, "stats") == 0 ||
		   strcmp(cmd, "servers") == 0 || strcmp(cmd, "history") == 0 ||
		   strcmp(cmd, "audit") == 0) {
		ctl_generic(cmd, argc, argv);
	} else {
		ctl_usage(2);
	}
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	el_buf_fini(&b);
	el_buf_fini(&raw);
	ctl_session_save();
	return 0;
}
