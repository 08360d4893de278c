/*
 * test_conf - configuration tables: defaults, file values, every error.
 */
#include <criterion/criterion.h>
#include <errno.h>
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
