/*
 * test_conf - configuration tables: defaults, file values, every error.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "el_conf.h"

static int64_t tc_port, tc_frame, tc_keep;
static char *tc_url;
static bool tc_flag;

static const el_conf_item tc_items[] = {
	{ "port", EL_CONF_INT, "7701", &tc_port, 1, 65535, "TCP port" },
	{ "max_frame", EL_CONF_SIZE, "16M", &tc_frame, 65536, 256 << 20, "largest frame" },
	{ "retention", EL_CONF_DURATION, "90d", &tc_keep, 86400, 3650 * 86400LL, "keep data" },
	{ "listen", EL_CONF_STR, "tls+tcp://127.0.0.1:7701", &tc_url, 1, 200, "where" },
	{ "verbose", EL_CONF_BOOL, "no", &tc_flag, 0, 0, "chatty" },
};
#define TC_N (sizeof(tc_items) / sizeof(tc_items[0]))

/* tc_file - a temp file with the given text; returns its path */
static const char *tc_file(const char *text)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/else-conf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int tc_load(const char *text, char *err, size_t cap)
{
	const char *p = tc_file(text);
	int rc = el_conf_load(tc_items, TC_N, p, err, cap);

	unlink(p);
	return rc;
}

Test(conf, defaults_apply)
{
	char err[256];

	cr_assert_eq(el_conf_load(tc_items, TC_N, NULL, err, sizeof(err)), 0);
	cr_assert_eq(tc_port, 7701);
	cr_assert_eq(tc_frame, 16 << 20);
	cr_assert_eq(tc_keep, 90 * 86400);
	cr_assert_str_eq(tc_url, "tls+tcp://127.0.0.1:7701");
	cr_assert_not(tc_flag);
	el_conf_free(tc_items, TC_N);
}

Test(conf, file_values_and_comments)
{
	char err[256];

	cr_assert_eq(tc_load("# comment\n\nport = 25\nmax_frame=64K\nretention = 7d\n"
			     "listen = \"tls+tcp://[::1]:1\"\n  verbose = yes  \n",
			     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(tc_port, 25);
	cr_assert_eq(tc_frame, 65536);
	cr_assert_eq(tc_keep, 7 * 86400);
	cr_assert_str_eq(tc_url, "tls+tcp://[::1]:1");
	cr_assert(tc_flag);
	el_conf_free(tc_items, TC_N);
}

Test(conf, every_error_names_the_key)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "nosuch = 1\n", "unknown setting 'nosuch'" },
		{ "port = 0\n", "port: 0 is out of range" },
		{ "port = 70000\n", "port: 70000 is out of range" },
		{ "port = 12x\n", "port: '12x' is not a valid number" },
		{ "max_frame = 1K\n", "max_frame: 1024 is out of range" },
		{ "max_frame = 1T\n", "max_frame: '1T' is not a valid size" },
		{ "retention = 3h\n", "retention: 10800 is out of range" },
		{ "listen = \n", "listen: must not be empty" },
		{ "verbose = maybe\n", "verbose: 'maybe' is not yes or no" },
		{ "port 25\n", "expected 'key = value'" },
		{ "port = 99999999999999999999\n", "is not a valid number" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(tc_load(cases[i].text, err, sizeof(err)), -EINVAL, "%s",
			     cases[i].text);
		cr_assert(strstr(err, cases[i].msg) != NULL, "'%s' gave '%s'", cases[i].text, err);
		cr_assert(strstr(err, ":1: ") != NULL, "no line number in '%s'", err);
		el_conf_free(tc_items, TC_N);
	}
}

Test(conf, missing_file_keeps_defaults)
{
	char err[256];

	cr_assert_eq(el_conf_load(tc_items, TC_N, "/nonexistent/else.conf", err, sizeof(err)),
		     -ENOENT);
	cr_assert_eq(tc_port, 7701);
	el_conf_free(tc_items, TC_N);
}

Test(conf, overlong_line_is_an_error)
{
	char *text = malloc(10000), err[256];

	memset(text, 'x', 9998);
	memcpy(text, "listen = ", 9);
	text[9998] = '\n';
	text[9999] = '\0';
	cr_assert_eq(tc_load(text, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "line too long") != NULL, "%s", err);
	free(text);
	el_conf_free(tc_items, TC_N);
}

Test(conf, command_line_override)
{
	char err[256];

	cr_assert_eq(el_conf_load(tc_items, TC_N, NULL, err, sizeof(err)), 0);
	cr_assert_eq(el_conf_set(tc_items, TC_N, "port=2525", err, sizeof(err)), 0);
	cr_assert_eq(tc_port, 2525);
	cr_assert_eq(el_conf_set(tc_items, TC_N, "port=-1", err, sizeof(err)), -EINVAL);
	el_conf_free(tc_items, TC_N);
}

/* A repeatable key (EL_CONF_LIST) next to a plain one: at most 3 values. */
static el_conf_list tl_src;
static int64_t tl_port;

static const el_conf_item tl_items[] = {
	{ "source", EL_CONF_LIST, "file:/var/log/mail.log", &tl_src, 0, 3, "what to read" },
	{ "port", EL_CONF_INT, "7701", &tl_port, 1, 65535, "TCP port" },
};
#define TL_N (sizeof(tl_items) / sizeof(tl_items[0]))

static int tl_load(const char *text, char *err, size_t cap)
{
	const char *p = tc_file(text);
	int rc = el_conf_load(tl_items, TL_N, p, err, cap);

	unlink(p);
	return rc;
}

Test(conf, list_repeats_in_file_order)
{
	char err[256];

	cr_assert_eq(tl_load("source = file:/a\nport = 1\nsource=\"file:/b c\"\n"
			     "  source =   stdin  \n",
			     err, sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(tl_src.n, 3);
	cr_assert_str_eq(tl_src.v[0], "file:/a");
	cr_assert_str_eq(tl_src.v[1], "file:/b c"); /* quotes stripped, inner blank kept */
	cr_assert_str_eq(tl_src.v[2], "stdin");
	cr_assert_eq(tl_port, 1);
	/* -o adds to what the file gave, within the same bound. */
	cr_assert_eq(el_conf_set(tl_items, TL_N, "source=file:/d", err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "source: given too many times") != NULL, "%s", err);
	cr_assert_eq(tl_src.n, 3);
	el_conf_free(tl_items, TL_N);
	cr_assert_eq(tl_src.n, 0);
	cr_assert_null(tl_src.v);
}

Test(conf, list_starts_empty_at_every_load)
{
	char err[256];

	/* The default is only documentation (el_conf_print): the program decides. */
	cr_assert_eq(el_conf_load(tl_items, TL_N, NULL, err, sizeof(err)), 0);
	cr_assert_eq(tl_src.n, 0);
	cr_assert_eq(el_conf_set(tl_items, TL_N, "source=file:/x", err, sizeof(err)), 0);
	cr_assert_eq(el_conf_set(tl_items, TL_N, "source = file:/y", err, sizeof(err)), 0);
	cr_assert_eq(tl_src.n, 2);
	cr_assert_str_eq(tl_src.v[1], "file:/y");
	/* A second load does not append to the first one's values (nor leak them). */
	cr_assert_eq(tl_load("source = file:/z\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(tl_src.n, 1);
	cr_assert_str_eq(tl_src.v[0], "file:/z");
	el_conf_free(tl_items, TL_N);
	el_conf_free(tl_items, TL_N); /* twice is harmless */
	cr_assert_eq(tl_src.n, 0);
}

Test(conf, list_bounds)
{
	char err[256], *text = malloc(2100), *p;

	/* EL_CONF_LIST_ITEM_MAX bytes are taken, one more is not. */
	p = text + sprintf(text, "source = ");
	memset(p, 'a', EL_CONF_LIST_ITEM_MAX);
	strcpy(p + EL_CONF_LIST_ITEM_MAX, "\n");
	cr_assert_eq(tl_load(text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(tl_src.n, 1);
	cr_assert_eq(strlen(tl_src.v[0]), EL_CONF_LIST_ITEM_MAX);
	el_conf_free(tl_items, TL_N);
	p = text + sprintf(text, "source = ");
	memset(p, 'a', EL_CONF_LIST_ITEM_MAX + 1);
	strcpy(p + EL_CONF_LIST_ITEM_MAX + 1, "\n");
	cr_assert_eq(tl_load(text, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, ":1: source: value too long") != NULL, "%s", err);
	cr_assert_eq(tl_src.n, 0);
	el_conf_free(tl_items, TL_N);
	/* The quotes do not count against the bound. */
	p = text + sprintf(text, "source = \"");
	memset(p, 'b', EL_CONF_LIST_ITEM_MAX);
	strcpy(p + EL_CONF_LIST_ITEM_MAX, "\"\n");
	cr_assert_eq(tl_load(text, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(strlen(tl_src.v[0]), EL_CONF_LIST_ITEM_MAX);
	el_conf_free(tl_items, TL_N);
	free(text);
}

Test(conf, list_errors_name_key_and_line)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "source = \n", ":1: source: must not be empty" },
		{ "source = \"\"\n", ":1: source: must not be empty" },
		{ "# four\nsource = a\nsource = b\nsource = c\nsource = d\n",
		  ":5: source: given too many times" },
		{ "source = a\nsources = b\n", ":2: unknown setting 'sources'" },
		{ "source\n", ":1: expected 'key = value'" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(tl_load(cases[i].text, err, sizeof(err)), -EINVAL, "%s",
			     cases[i].text);
		cr_assert(strstr(err, cases[i].msg) != NULL, "'%s' gave '%s'", cases[i].text, err);
		el_conf_free(tl_items, TL_N);
	}
	/* The command line: same checks, no line number. */
	cr_assert_eq(el_conf_load(tl_items, TL_N, NULL, err, sizeof(err)), 0);
	cr_assert_eq(el_conf_set(tl_items, TL_N, "source=", err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "source: must not be empty");
	cr_assert_eq(tl_src.n, 0);
	el_conf_free(tl_items, TL_N);
}

Test(conf, list_printed_with_its_default)
{
	char path[] = "/tmp/else-conf-print-XXXXXX", buf[1024];
	int fd = mkstemp(path);
	ssize_t n;

	cr_assert_geq(fd, 0);
	el_conf_print(tl_items, TL_N, fd);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strstr(buf, "# what to read\n#source = file:/var/log/mail.log\n") != NULL, "%s",
		  buf);
}

/* tc_reload - el_conf_reload of text with the live items "retention", "verbose" */
static int tc_reload(const char *text, const char *const *sets, size_t nsets, char *err, size_t cap,
		     char *restart, size_t rcap)
{
	static const char *const live[] = { "retention", "verbose" };
	const char *p = text ? tc_file(text) : "/nonexistent/else.conf";
	el_conf_src src = { p, text == NULL, sets, nsets };
	int rc = el_conf_reload(tc_items, TC_N, &src, live, 2, err, cap, restart, rcap);

	if (text)
		unlink(p);
	return rc;
}

Test(conf, reload_changes_only_live_items_and_names_the_others)
{
	char err[256], restart[256];
	const char *url;

	cr_assert_eq(tc_load("retention = 400d\nport = 25\n", err, sizeof(err)), 0, "%s", err);
	url = tc_url; /* a thread started with it may hold this pointer */
	cr_assert_eq(tc_reload("retention = 30d\nport = 587\nverbose = yes\n"
			       "listen = tls+tcp://10.0.0.1:1\n",
			       NULL, 0, err, sizeof(err), restart, sizeof(restart)),
		     0, "%s", err);
	cr_assert_eq(tc_keep, 30 * 86400);
	cr_assert(tc_flag);
	cr_assert_eq(tc_port, 25, "port needs a restart");
	cr_assert_eq(tc_url, url, "the running string is not replaced");
	cr_assert_str_eq(tc_url, "tls+tcp://127.0.0.1:7701");
	cr_assert_str_eq(restart, "port, listen");
	/* A short buffer: the names are cut, never overrun. */
	memset(restart, 'x', sizeof(restart));
	cr_assert_eq(tc_reload("port = 587\nlisten = tls+tcp://10.0.0.1:1\n", NULL, 0, err,
			       sizeof(err), restart, 6),
		     0, "%s", err);
	cr_assert_str_eq(restart, "port,");
	cr_assert_eq(restart[6], 'x');
	el_conf_free(tc_items, TC_N);
}

Test(conf, reload_of_a_bad_file_changes_nothing)
{
	char err[256], restart[256];

	cr_assert_eq(tc_load("retention = 400d\nverbose = yes\n", err, sizeof(err)), 0, "%s", err);
	/* The typo is on the last line: the lines before it must not apply
	 * either, and the keys after a bad line must not fall back to defaults. */
	cr_assert_eq(tc_reload("verbose = no\nretention = 30d\nretention = 2y\n", NULL, 0, err,
			       sizeof(err), restart, sizeof(restart)),
		     -EINVAL);
	cr_assert(strstr(err, ":3: retention: '2y' is not a valid duration") != NULL, "%s", err);
	cr_assert_eq(tc_keep, 400 * 86400);
	cr_assert(tc_flag);
	cr_assert_eq(tc_reload("bogus = 1\n", NULL, 0, err, sizeof(err), restart, sizeof(restart)),
		     -EINVAL);
	cr_assert(strstr(err, "unknown setting 'bogus'") != NULL, "%s", err);
	cr_assert_eq(tc_keep, 400 * 86400);
	el_conf_free(tc_items, TC_N);
}

Test(conf, reload_applies_the_overrides_after_the_file)
{
	const char *sets[] = { "retention=7d" }, *bad[] = { "retention=1s" };
	char err[256], restart[256];

	cr_assert_eq(tc_load("retention = 400d\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(
		tc_reload("retention = 30d\n", sets, 1, err, sizeof(err), restart, sizeof(restart)),
		0, "%s", err);
	cr_assert_eq(tc_keep, 7 * 86400, "-o wins over the file, as at start");
	cr_assert_str_eq(restart, "");
	static const char *const typo[] = { "retension" };
	el_conf_src src = { NULL, false, NULL, 0 };
	cr_assert_eq(el_conf_reload(tc_items, TC_N, &src, typo, 1, err, sizeof(err), restart,
				    sizeof(restart)),
		     -EINVAL);
	cr_assert(strstr(err, "'retension' is not in the table") != NULL, "%s", err);
	cr_assert_eq(tc_keep, 7 * 86400);
	cr_assert_eq(
		tc_reload("retention = 30d\n", bad, 1, err, sizeof(err), restart, sizeof(restart)),
		-EINVAL);
	cr_assert(strstr(err, "-o retention=1s: retention: 1 is out of range") != NULL, "%s", err);
	cr_assert_eq(tc_keep, 7 * 86400);
	el_conf_free(tc_items, TC_N);
}

Test(conf, reload_of_a_missing_file)
{
	char err[256], restart[256];

	cr_assert_eq(tc_load("retention = 400d\n", err, sizeof(err)), 0, "%s", err);
	/* Allowed to be missing (the default path): the defaults, as at start. */
	cr_assert_eq(tc_reload(NULL, NULL, 0, err, sizeof(err), restart, sizeof(restart)), 0, "%s",
		     err);
	cr_assert_eq(tc_keep, 90 * 86400);
	/* A file named with -c that is gone: refused. */
	el_conf_src src = { "/nonexistent/else.conf", false, NULL, 0 };
	static const char *const live[] = { "retention" };
	cr_assert_eq(tc_load("retention = 400d\n", err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(el_conf_reload(tc_items, TC_N, &src, live, 1, err, sizeof(err), restart,
				    sizeof(restart)),
		     -ENOENT);
	cr_assert(strstr(err, "/nonexistent/else.conf") != NULL, "%s", err);
	cr_assert_eq(tc_keep, 400 * 86400);
	el_conf_free(tc_items, TC_N);
}

Test(conf, reload_of_a_list)
{
	static const char *const live[] = { "source" };
	char err[256], restart[256];
	const char *p;

	cr_assert_eq(tl_load("source = a\nsource = b\n", err, sizeof(err)), 0, "%s", err);
	p = tc_file("source = c\nport = 1\n");
	el_conf_src src = { p, false, NULL, 0 };
	cr_assert_eq(el_conf_reload(tl_items, TL_N, &src, live, 1, err, sizeof(err), restart,
				    sizeof(restart)),
		     0, "%s", err);
	unlink(p);
	cr_assert_eq(tl_src.n, 1);
	cr_assert_str_eq(tl_src.v[0], "c");
	cr_assert_str_eq(restart, "port");
	el_conf_free(tl_items, TL_N);
}

/* The daemons' command line (el_conf_cli). */

static int tc_usage_code = -1;

/* tc_usage - a daemon's usage(): records the code, and does not return */
static void tc_usage(int code)
{
	tc_usage_code = code;
	exit(10 + code);
}

/* tc_cli - el_conf_cli_parse of the NULL-terminated arguments after argv[0] */
static void tc_cli(el_conf_cli *c, const struct option *extra, ...)
{
	static char *argv[32];
	int argc = 0;
	va_list ap;

	argv[argc++] = "else-test";
	va_start(ap, extra);
	for (char *a; (a = va_arg(ap, char *)) != NULL && argc < 31;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	optind = 0; /* getopt from the start again */
	el_conf_cli_parse(c, argc, argv, "/nonexistent/default.conf", extra, tc_usage);
}

Test(conf, cli_takes_file_settings_and_modes)
{
	el_conf_cli c;

	tc_cli(&c, NULL, NULL);
	cr_assert_str_eq(c.path, "/nonexistent/default.conf");
	cr_assert_not(c.path_given);
	cr_assert_eq(c.nsets, 0);
	cr_assert_eq(c.mode, 0);
	tc_cli(&c, NULL, "-c", "/etc/x.conf", "-o", "port=25", "--set", "verbose=yes",
	       "--check-config", NULL);
	cr_assert_str_eq(c.path, "/etc/x.conf");
	cr_assert(c.path_given);
	cr_assert_eq(c.nsets, 2);
	cr_assert_str_eq(c.sets[0], "port=25");
	cr_assert_str_eq(c.sets[1], "verbose=yes");
	cr_assert_eq(c.mode, 'k');
	tc_cli(&c, NULL, "--config", "/etc/y.conf", "--status", NULL);
	cr_assert_str_eq(c.path, "/etc/y.conf");
	cr_assert_eq(c.mode, 's');
	tc_cli(&c, NULL, "--print-config", NULL);
	cr_assert_eq(c.mode, 'p');
}

Test(conf, cli_takes_a_daemons_own_option)
{
	static const struct option own[] = {
		{ "create-admin", required_argument, NULL, 'A' },
		{ NULL, 0, NULL, 0 },
	};
	el_conf_cli c;

	tc_cli(&c, own, "-o", "port=1", "--create-admin", "alice", NULL);
	cr_assert_eq(c.mode, 'A');
	cr_assert_str_eq(c.arg, "alice");
	cr_assert_eq(c.nsets, 1);
}

Test(conf, cli_refuses_an_unknown_option, .exit_code = 12)
{
	el_conf_cli c;

	tc_cli(&c, NULL, "--create-admin", "alice", NULL); /* not this daemon's */
}

Test(conf, cli_refuses_an_argument_of_no_option, .exit_code = 12)
{
	el_conf_cli c;

	tc_cli(&c, NULL, "-o", "port=1", "extra", NULL);
}

Test(conf, cli_help_is_usage_0, .exit_code = 10)
{
	el_conf_cli c;

	tc_cli(&c, NULL, "--help", NULL);
}

Test(conf, cli_loads_the_file_then_the_settings)
{
	const char *p = tc_file("port = 25\nverbose = yes\n");
	el_conf_cli c;

	tc_cli(&c, NULL, "-c", p, "-o", "port=26", NULL);
	el_conf_cli_load(&c, tc_items, TC_N);
	unlink(p);
	cr_assert_eq(tc_port, 26, "-o comes after the file");
	cr_assert(tc_flag);
	el_conf_free(tc_items, TC_N);
}

Test(conf, cli_default_file_may_be_absent)
{
	el_conf_cli c;

	tc_cli(&c, NULL, "-o", "port=27", NULL);
	el_conf_cli_load(&c, tc_items, TC_N);
	cr_assert_eq(tc_port, 27);
	cr_assert_eq(tc_frame, 16 << 20, "the defaults");
	el_conf_free(tc_items, TC_N);
}

Test(conf, cli_given_file_must_exist, .exit_code = 1)
{
	el_conf_cli c;

	tc_cli(&c, NULL, "-c", "/nonexistent/given.conf", NULL);
	el_conf_cli_load(&c, tc_items, TC_N);
}

Test(conf, cli_bad_setting_is_fatal, .exit_code = 1)
{
	el_conf_cli c;

	tc_cli(&c, NULL, "-o", "port=0", NULL); /* below the range */
	el_conf_cli_load(&c, tc_items, TC_N);
}

Test(conf, cli_src_reads_the_same_again)
{
	el_conf_cli c;
	el_conf_src s;

	tc_cli(&c, NULL, "-o", "port=28", NULL);
	s = el_conf_cli_src(&c);
	cr_assert_str_eq(s.path, "/nonexistent/default.conf");
	cr_assert(s.missing_ok, "absent at the default place");
	cr_assert_eq(s.nsets, 1);
	cr_assert_str_eq(s.sets[0], "port=28");
	tc_cli(&c, NULL, "-c", "/etc/z.conf", NULL);
	s = el_conf_cli_src(&c);
	cr_assert_not(s.missing_ok, "given with -c");
}
