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
#include "ctl_print.h"
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
		fprintf(stderr, "elsectl: %s: HTTP %ld: ", call, r.status);
		ctl_print_json(stderr, r.body.p ? r.body.p : "",
			       r.body.len > 2000 ? 2000 : r.body.len);
		fputc('\n', stderr);
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
	size_t start = b->len; /* b may hold the start of an enclosing object */
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
		if (b->len > start + 1)
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

/* ctl_print_raw - the answer's JSON and a newline (ctl_print_json: nothing for the terminal) */
static void ctl_print_raw(const el_buf *raw)
{
	ctl_print_json(stdout, raw->p ? raw->p : "", raw->len);
	fputc('\n', stdout);
}

typedef struct ctl_cmd ctl_cmd;

/*
 * A command: the API call it makes, the reply's message (NULL: not decoded,
 * `done` printed), how its arguments become the body, or a run of its own.
 */
struct ctl_cmd {
	const char *name, *call;
	const ProtobufCMessageDescriptor *reply;
	void (*body)(const ctl_cmd *c, el_buf *b, int argc, char **argv);
	int (*run)(const ctl_cmd *c, int argc, char **argv);
	const char *done;
};

/* ctl_request - the request message of an API call, NULL if there is none */
static const ProtobufCMessageDescriptor *ctl_request(const char *call)
{
	const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
		&else__query_request__descriptor, call);

	if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
		return NULL;
	return f->descriptor;
}

/* ctl_body_args - key=value arguments, fields of the call's request */
static void ctl_body_args(const ctl_cmd *c, el_buf *b, int argc, char **argv)
{
	ctl_args_json(b, ctl_request(c->call), argc, argv);
}

/* ctl_body_none - a call without arguments */
static void ctl_body_none(const ctl_cmd *c, el_buf *b, int argc, char **argv)
{
	(void)c;
	(void)argv;
	if (argc != 0)
		ctl_usage(2);
	el_buf_addlit(b, "{}");
}

/* ctl_body_quick - quick TEXT [key=value...] */
static void ctl_body_quick(const ctl_cmd *c, el_buf *b, int argc, char **argv)
{
	el_buf q;

	if (argc < 1)
		ctl_usage(2);
	/* The text as the field q, whatever it holds ('=' included). */
	el_buf_init(&q);
	ctl_args_json(&q, ctl_request(c->call), argc - 1, argv + 1);
	el_buf_addlit(b, "{\"q\":");
	el_json_str(b, el_span_make(argv[0], strlen(argv[0])));
	if (q.len > 2)
		el_buf_addc(b, ',');
	el_buf_add(b, q.p + 1, q.len - 1);
	el_buf_fini(&q);
}

/* ctl_body_flow - flow EMAIL_ID, or fields of Flow */
static void ctl_body_flow(const ctl_cmd *c, el_buf *b, int argc, char **argv)
{
	if (argc == 1 && strchr(argv[0], '=') == NULL) {
		el_buf_addlit(b, "{\"email_id\":");
		el_json_str(b, el_span_make(argv[0], strlen(argv[0])));
		el_buf_addc(b, '}');
	} else {
		ctl_body_args(c, b, argc, argv);
	}
}

/* ctl_body_put - user-put / group-put: fields of UserInfo or GroupInfo (+ password=) */
static void ctl_body_put(const ctl_cmd *c, el_buf *b, int argc, char **argv)
{
	bool user = strcmp(c->call, "user_put") == 0;
	char *pw = NULL, *rest[64];
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (user && strncmp(argv[i], "password=", 9) == 0)
			pw = argv[i] + 9;
		else if (n < 64)
			rest[n++] = argv[i];
		else
			ctl_usage(2);
	}
	if (pw && strcmp(pw, "-") == 0)
		pw = ctl_password("ELSECTL_PASSWORD", "password");
	if (user)
		el_buf_addlit(b, "{\"user\":");
	else
		el_buf_addlit(b, "{\"group\":");
	ctl_args_json(b, user ? &else__user_info__descriptor : &else__group_info__descriptor, n,
		      rest);
	if (pw) {
		el_buf_addlit(b, ",\"password\":");
		el_json_str(b, el_span_make(pw, strlen(pw)));
	}
	el_buf_addc(b, '}');
}

/* ctl_body_id - user-delete / group-delete ID */
static void ctl_body_id(const ctl_cmd *c, el_buf *b, int argc, char **argv)
{
	(void)c;
	if (argc != 1 || !ctl_is_num(argv[0]))
		ctl_usage(2);
	el_buf_addlit(b, "{\"id\":");
	el_buf_add(b, argv[0], strlen(argv[0]));
	el_buf_addc(b, '}');
}

/* ctl_run_call - the body from the arguments, the call, its answer printed */
static int ctl_run_call(const ctl_cmd *c, int argc, char **argv)
{
	ProtobufCMessage *m = NULL;
	el_buf b, raw;

	el_buf_init(&b);
	el_buf_init(&raw);
	c->body(c, &b, argc, argv);
	ctl_call(c->call, b.p, b.len, c->reply, c->reply ? &m : NULL, &raw);
	if (ctl_json && raw.len)
		ctl_print_raw(&raw);
	else if (m == NULL && c->done)
		printf("%s\n", c->done);
	else if (m && ctl_print_reply(stdout, m) != 0)
		ctl_print_raw(&raw);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	el_buf_fini(&b);
	el_buf_fini(&raw);
	return 0;
}

/* ctl_run_login - login USER: keep the session, say who */
static int ctl_run_login(const ctl_cmd *c, int argc, char **argv)
{
	ProtobufCMessage *m = NULL;
	const char *pw;
	el_buf b, raw;

	if (argc != 1)
		ctl_usage(2);
	el_buf_init(&b);
	el_buf_init(&raw);
	el_buf_addlit(&b, "{\"user\":");
	el_json_str(&b, el_span_make(argv[0], strlen(argv[0])));
	el_buf_addlit(&b, ",\"password\":");
	pw = ctl_password("ELSECTL_PASSWORD", "password");
	el_json_str(&b, el_span_make(pw, strlen(pw)));
	el_buf_addc(&b, '}');
	ctl_session[0] = ctl_csrf[0] = '\0';
	ctl_call(c->call, b.p, b.len, &else__login_reply__descriptor, &m, &raw);
	Else__LoginReply *lr = (Else__LoginReply *)m;
	snprintf(ctl_csrf, sizeof(ctl_csrf), "%s", lr->csrf);
	if (ctl_session[0] == '\0')
		el_fatal("login: no session cookie in the answer");
	ctl_session_save();
	if (ctl_json) {
		ctl_print_raw(&raw);
	} else {
		const char *role =
			lr->user ? el_pbjson_enum_name(&else__role__descriptor, (int)lr->user->role)
				 : NULL;
		fputs("logged in as ", stdout);
		ctl_print_text(stdout, lr->user ? lr->user->name : argv[0]);
		printf(" (%s)\n", role ? role : "?");
	}
	protobuf_c_message_free_unpacked(m, NULL);
	el_buf_fini(&b);
	el_buf_fini(&raw);
	return 0;
}

/* ctl_run_logout - end the session here and at the backend */
static int ctl_run_logout(const ctl_cmd *c, int argc, char **argv)
{
	(void)argv;
	if (argc != 0)
		ctl_usage(2);
	ctl_call(c->call, "{}", 2, NULL, NULL, NULL);
	ctl_session[0] = ctl_csrf[0] = '\0';
	ctl_session_save();
	return 0;
}

/* ctl_run_passwd - old password as for login, the new one from ELSECTL_NEW_PASSWORD */
static int ctl_run_passwd(const ctl_cmd *c, int argc, char **argv)
{
	char old[1024];
	const char *nw;
	el_buf b;

	(void)argv;
	if (argc != 0)
		ctl_usage(2);
	snprintf(old, sizeof(old), "%s", ctl_password("ELSECTL_PASSWORD", "old password"));
	/* Never ELSECTL_PASSWORD again: the new password would be the old one. */
	nw = ctl_password("ELSECTL_NEW_PASSWORD", "new password");
	el_buf_init(&b);
	el_buf_addlit(&b, "{\"old_password\":");
	el_json_str(&b, el_span_make(old, strlen(old)));
	el_buf_addlit(&b, ",\"new_password\":");
	el_json_str(&b, el_span_make(nw, strlen(nw)));
	el_buf_addc(&b, '}');
	ctl_call(c->call, b.p, b.len, NULL, NULL, NULL);
	printf("password changed\n");
	el_buf_fini(&b);
	return 0;
}

/* ctl_run_call_raw - call NAME [JSON]: any call, the body as given, JSON back */
static int ctl_run_call_raw(const ctl_cmd *c, int argc, char **argv)
{
	const char *body = argc == 2 ? argv[1] : "{}";
	el_buf raw;

	(void)c;
	if (argc < 1 || argc > 2)
		ctl_usage(2);
	el_buf_init(&raw);
	ctl_call(argv[0], body, strlen(body), NULL, NULL, &raw);
	ctl_print_raw(&raw);
	el_buf_fini(&raw);
	return 0;
}

/* ctl_run_check - check CALL JSON: decode a request body offline, print it in full */
static int ctl_run_check(const ctl_cmd *c, int argc, char **argv)
{
	const ProtobufCMessageDescriptor *d = argc == 2 ? ctl_request(argv[0]) : NULL;
	ProtobufCMessage *m;
	char err[512];
	el_buf out;

	(void)c;
	if (d == NULL)
		ctl_usage(2);
	if (el_pbjson_decode(d, argv[1], strlen(argv[1]), NULL, &m, err, sizeof(err)) != 0) {
		fprintf(stderr, "elsectl: %s: %s\n", argv[0], err);
		exit(1);
	}
	el_buf_init(&out);
	el_pbjson_encode(&out, m);
	ctl_print_raw(&out);
	el_buf_fini(&out);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

/* ctl_run_calls - the API's calls: QueryRequest's oneof members but the handshake */
static int ctl_run_calls(const ctl_cmd *c, int argc, char **argv)
{
	const ProtobufCMessageDescriptor *d = &else__query_request__descriptor;

	(void)c;
	(void)argc;
	(void)argv;
	for (unsigned i = 0; i < d->n_fields; i++)
		if ((d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    strcmp(d->fields[i].name, "hello") != 0 &&
		    strcmp(d->fields[i].name, "auth") != 0)
			printf("%s %s\n", d->fields[i].name,
			       ((const ProtobufCMessageDescriptor *)d->fields[i].descriptor)
				       ->short_name);
	return 0;
}

/* ctl_run_fields - fields CALL: the request's fields, "name type" per line (scripts, docs) */
static int ctl_run_fields(const ctl_cmd *c, int argc, char **argv)
{
	const ProtobufCMessageDescriptor *d = argc == 1 ? ctl_request(argv[0]) : NULL;

	(void)c;
	if (d == NULL)
		ctl_usage(2);
	for (unsigned i = 0; i < d->n_fields; i++)
		printf("%s %s%s\n", d->fields[i].name,
		       d->fields[i].label == PROTOBUF_C_LABEL_REPEATED ? "repeated " : "",
		       ctl_type_name(&d->fields[i]));
	return 0;
}

/* ctl_cmds - the commands, as ctl_usage lists them */
static const ctl_cmd ctl_cmds[] = {
	{ "login", "login", NULL, NULL, ctl_run_login, NULL },
	{ "logout", "logout", NULL, NULL, ctl_run_logout, NULL },
	{ "whoami", "session_check", &else__session_reply__descriptor, ctl_body_none, NULL, NULL },
	{ "passwd", "password_change", NULL, NULL, ctl_run_passwd, NULL },
	{ "quick", "quick", &else__search_reply__descriptor, ctl_body_quick, NULL, NULL },
	{ "search", "search", &else__search_reply__descriptor, ctl_body_args, NULL, NULL },
	{ "tail", "tail", &else__tail_reply__descriptor, ctl_body_args, NULL, NULL },
	{ "flow", "flow", &else__flow_reply__descriptor, ctl_body_flow, NULL, NULL },
	{ "rejects", "rejects", &else__rejects_reply__descriptor, ctl_body_args, NULL, NULL },
	{ "stats", "stats", &else__stats_reply__descriptor, ctl_body_args, NULL, NULL },
	{ "servers", "servers", &else__servers_reply__descriptor, ctl_body_none, NULL, NULL },
	{ "history", "history", &else__history_reply__descriptor, ctl_body_args, NULL, NULL },
	{ "audit", "audit", &else__audit_reply__descriptor, ctl_body_args, NULL, NULL },
	{ "users", "user_list", &else__user_list_reply__descriptor, ctl_body_none, NULL, NULL },
	{ "user-put", "user_put", &else__put_reply__descriptor, ctl_body_put, NULL, NULL },
	{ "user-delete", "user_delete", NULL, ctl_body_id, NULL, "deleted" },
	{ "groups", "group_list", &else__group_list_reply__descriptor, ctl_body_none, NULL, NULL },
	{ "group-put", "group_put", &else__put_reply__descriptor, ctl_body_put, NULL, NULL },
	{ "group-delete", "group_delete", NULL, ctl_body_id, NULL, "deleted" },
	{ "call", NULL, NULL, NULL, ctl_run_call_raw, NULL },
	{ "check", NULL, NULL, NULL, ctl_run_check, NULL },
	{ "calls", NULL, NULL, NULL, ctl_run_calls, NULL },
	{ "fields", NULL, NULL, NULL, ctl_run_fields, NULL },
};

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "cacert", required_argument, 0, 'C' },
					    { "json", no_argument, 0, 'j' },
					    { "help", no_argument, 0, 'h' },
					    { 0, 0, 0, 0 } };
	const ctl_cmd *c = NULL;
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
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]) && c == NULL; i++)
		if (strcmp(argv[optind], ctl_cmds[i].name) == 0)
			c = &ctl_cmds[i];
	if (c == NULL)
		ctl_usage(2);
	argc -= optind + 1;
	argv += optind + 1;
	ctl_session_load();
	(c->run ? c->run : ctl_run_call)(c, argc, argv);
	ctl_session_save();
	return 0;
}
