/*
 * el_log - diagnostics.
 */
#include "el_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static const char *el_log_prog = "else";

/* el_log_set_prog - name prefixed to every message */
void el_log_set_prog(const char *prog)
{
	el_log_prog = prog;
}

/* el_log_emit - format and write one line */
static void el_log_emit(const char *level, const char *fmt, va_list ap)
{
	char line[2048];
	int n, m;

	struct timespec ts;
	struct tm tm;

	/* ISO 8601 UTC with milliseconds: logs of several daemons merge by time. */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s: %s: ", tm.tm_year + 1900,
		     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		     ts.tv_nsec / 1000000, el_log_prog, level);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* Nowhere left to report to. */
	}
}

/* el_warn - bad input or transient failure */
void el_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	el_log_emit("warning", fmt, ap);
	va_end(ap);
}

/* el_info - progress worth an operator's attention */
void el_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	el_log_emit("info", fmt, ap);
	va_end(ap);
}

/* el_fatal - bad config or environment: exit */
void el_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	el_log_emit("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

/* el_panic - broken internal invariant: abort for a core */
void el_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	el_log_emit("panic", fmt, ap);
	va_end(ap);
	abort();
}

/* el_log_printable - bounded printable copy of untrusted bytes */
void el_log_printable(char *out, const char *p, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	if (len > max)
		len = max;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}
