/*
 * el_parse - syslog framing and dispatch to the per-program parsers.
 *
 * Framings, tried in this order on each line (a stream may mix them):
 *   Exchange tracking:  "#Fields: ..." headers and "2026-11-22T...Z,..." rows
 *   optional "<PRI>" then
 *   RFC 5424:           "1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]"
 *   RFC 3339 (rsyslog): "2026-11-22T13:23:01.123456+01:00 HOST TAG: MSG"
 *   traditional/postlog:"Nov 22 13:23:01[.123456] HOST TAG: MSG"
 *   local (no host):    "<PRI>Nov 22 13:23:01 TAG: MSG" (glibc syslog(), logger -u)
 * TAG is "prog[pid]" or "prog".  These are also what rsyslog's omfwd sends
 * with its stock templates and what logger --server sends; a syslog
 * listener of the collector ships them unchanged (tests: "forwarded").  A frame we cannot read leaves the line
 * UNPARSED with whatever fields were found before the failure.
 */
#include "el_parse.h"

#include <stdio.h>
#include <string.h>

#include "el_buf.h"
#include "el_parse_int.h"

static const char *const el_event_names[] = {
#define EL_X_NAME(id, name) name,
	EL_EVENTS(EL_X_NAME)
#undef EL_X_NAME
};

static const char *const el_field_names[] = {
#define EL_X_NAME(id, name, kind) name,
	EL_FIELDS(EL_X_NAME)
#undef EL_X_NAME
};

static const char el_field_kinds[] = {
#define EL_X_KIND(id, name, kind) #kind[0],
	EL_FIELDS(EL_X_KIND)
#undef EL_X_KIND
};

/* el_event_name - JSON name of an event */
const char *el_event_name(el_event ev)
{
	return (unsigned)ev < EL_EV__COUNT ? el_event_names[ev] : "unparsed";
}

/* el_field_name - JSON key of a field */
const char *el_field_name(el_field_key k)
{
	return (unsigned)k < EL_F__COUNT ? el_field_names[k] : "";
}

/* el_field_kind - output kind of a field: 'S', 'N', 'D' or 'L' */
char el_field_kind(el_field_key k)
{
	return (unsigned)k < EL_F__COUNT ? el_field_kinds[k] : 'S';
}

/* el_parse_ctx_init - defaults: infer the year from the current time */
void el_parse_ctx_init(el_parse_ctx *c)
{
	memset(c, 0, sizeof(*c));
	c->ref_time = time(NULL);
	c->tz_cache_key = -1;
	el_buf_init(&c->msgtrk_names);
	el_buf_init(&c->scratch);
	el_msgtrk_init(c);
}

/* el_parse_ctx_fini - release the context's buffers */
void el_parse_ctx_fini(el_parse_ctx *c)
{
	el_buf_fini(&c->msgtrk_names);
	el_buf_fini(&c->scratch);
}

/* el_rec_drop_from - truncate the field list back to n entries */
void el_rec_drop_from(el_rec *r, unsigned n)
{
	while (r->nf > n) {
		r->nf--;
		if (r->f[r->nf].key != EL_F_COLUMN && r->idx[r->f[r->nf].key] == r->nf + 1)
			r->idx[r->f[r->nf].key] = 0;
	}
}

/* el_days_from_civil - Howard Hinnant's days_from_civil */
int64_t el_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* el_num - parse exactly n digits at p; -1 if any is not a digit */
static int el_num(const char *p, unsigned n)
{
	int v = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (!el_is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* el_parse_frac - optional ".ffffff" at s[i]: fills us and digit count */
static size_t el_parse_frac(el_span s, size_t i, el_rec *r)
{
	size_t start;
	int32_t us = 0;
	unsigned nd = 0;

	if (i >= s.len || (s.p[i] != '.' && s.p[i] != ','))
		return i;
	start = ++i;
	while (i < s.len && el_is_digit(s.p[i])) {
		if (nd < 6) {
			us = us * 10 + (s.p[i] - '0');
			nd++;
		}
		i++;
	}
	if (i == start)
		return start - 1;
	r->time_digits = (uint8_t)nd;
	while (nd++ < 6)
		us *= 10;
	r->time_us = us;
	return i;
}

/* el_parse_iso_time - RFC 3339 / ISO 8601 timestamp at the start of s */
size_t el_parse_iso_time(el_rec *r, el_span s)
{
	int y, mo, d, h, mi, se, oh, om, off = 0;
	size_t i;

	if (s.len < 19 || s.p[4] != '-' || s.p[7] != '-' || (s.p[10] != 'T' && s.p[10] != ' ') ||
	    s.p[13] != ':' || s.p[16] != ':')
		return 0;
	y = el_num(s.p, 4);
	mo = el_num(s.p + 5, 2);
	d = el_num(s.p + 8, 2);
	h = el_num(s.p + 11, 2);
	mi = el_num(s.p + 14, 2);
	se = el_num(s.p + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 60)
		return 0;
	r->time_us = 0;
	r->time_digits = 0;
	i = el_parse_frac(s, 19, r);
	if (i < s.len && (s.p[i] == 'Z' || s.p[i] == 'z')) {
		i++;
		r->flags |= EL_REC_TZ_KNOWN;
	} else if (i + 3 <= s.len && (s.p[i] == '+' || s.p[i] == '-')) {
		int sign = s.p[i] == '-' ? -1 : 1;
		oh = el_num(s.p + i + 1, 2);
		if (oh < 0 || oh > 23)
			return 0;
		i += 3;
		om = 0;
		if (i + 3 <= s.len && s.p[i] == ':' && el_is_digit(s.p[i + 1])) {
			om = el_num(s.p + i + 1, 2);
			i += 3;
		} else if (i + 2 <= s.len && el_is_digit(s.p[i])) {
			om = el_num(s.p + i, 2);
			i += 2;
		}
		if (om < 0 || om > 59)
			return 0;
		off = sign * (oh * 60 + om);
		r->flags |= EL_REC_TZ_KNOWN;
	}
	r->tz_off_min = (int16_t)off;
	r->time_s = el_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
		    se - (int64_t)off * 60;
	r->flags |= EL_REC_HAS_TIME;
	return i;
}

/* el_month - 1..12 for "Jan".."Dec", 0 otherwise */
static int el_month(const char *p)
{
	switch (p[0]) {
	case 'J':
		if (p[1] == 'a' && p[2] == 'n')
			return 1;
		if (p[1] == 'u' && p[2] == 'n')
			return 6;
		if (p[1] == 'u' && p[2] == 'l')
			return 7;
		return 0;
	case 'F':
		return p[1] == 'e' && p[2] == 'b' ? 2 : 0;
	case 'M':
		if (p[1] == 'a' && p[2] == 'r')
			return 3;
		if (p[1] == 'a' && p[2] == 'y')
			return 5;
		return 0;
	case 'A':
		if (p[1] == 'p' && p[2] == 'r')
			return 4;
		if (p[1] == 'u' && p[2] == 'g')
			return 8;
		return 0;
	case 'S':
		return p[1] == 'e' && p[2] == 'p' ? 9 : 0;
	case 'O':
		return p[1] == 'c' && p[2] == 't' ? 10 : 0;
	case 'N':
		return p[1] == 'o' && p[2] == 'v' ? 11 : 0;
	case 'D':
		return p[1] == 'e' && p[2] == 'c' ? 12 : 0;
	}
	return 0;
}

/* el_local_offset - local UTC offset in seconds at a civil hour (cached) */
static int32_t el_local_offset(el_parse_ctx *c, int y, int mo, int d, int h)
{
	int64_t key = (((int64_t)y * 13 + mo) * 32 + d) * 24 + h;
	struct tm tm;
	time_t t;

	if (key == c->tz_cache_key)
		return c->tz_cache_off;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = 30;
	tm.tm_isdst = -1;
	t = mktime(&tm);
	c->tz_cache_key = key;
	c->tz_cache_off = 0;
	if (t != (time_t)-1) {
		int64_t as_utc = el_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
				 h * 3600 + 30 * 60;
		c->tz_cache_off = (int32_t)(as_utc - (int64_t)t);
	}
	return c->tz_cache_off;
}

/* el_year_for - the year of a "Mmm dd" stamp, inferred or rolled forward */
static int el_year_for(el_parse_ctx *c, int mo, int d)
{
	struct tm tm;
	int y;

	if (c->force_year) {
		if (c->last_year == 0)
			c->last_year = c->force_year;
		y = c->last_year;
		if (c->last_mon && mo + 6 < c->last_mon) {
			/* December -> January: the log crossed New Year. */
			c->last_year = ++y;
		} else if (c->last_mon && mo > c->last_mon + 6) {
			/* A late December line after January ones: last year. */
			return y - 1;
		}
		c->last_mon = mo;
		return y;
	}
	gmtime_r(&c->ref_time, &tm);
	y = tm.tm_year + 1900;
	/* A date more than two days ahead of "now" belongs to last year. */
	if (el_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 >
	    (int64_t)c->ref_time + 2 * 86400)
		y--;
	return y;
}

/* el_parse_bsd_time - "Mmm dd hh:mm:ss[.ffffff]" at the start of s */
static size_t el_parse_bsd_time(el_parse_ctx *c, el_rec *r, el_span s)
{
	int mo, d, h, mi, se, y;
	size_t i;

	if (s.len < 15 || s.p[3] != ' ' || s.p[6] != ' ' || s.p[9] != ':' || s.p[12] != ':')
		return 0;
	mo = el_month(s.p);
	if (mo == 0)
		return 0;
	d = s.p[4] == ' ' ? el_num(s.p + 5, 1) : el_num(s.p + 4, 2);
	h = el_num(s.p + 7, 2);
	mi = el_num(s.p + 10, 2);
	se = el_num(s.p + 13, 2);
	if (d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
		return 0;
	r->time_us = 0;
	r->time_digits = 0;
	i = el_parse_frac(s, 15, r);
	y = el_year_for(c, mo, d);
	int32_t off = el_local_offset(c, y, mo, d, h);
	r->tz_off_min = (int16_t)(off / 60);
	r->time_s = el_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
		    se - off;
	r->flags |= EL_REC_HAS_TIME;
	return i;
}

/* el_token - the bytes of s from i up to the next space (or end) */
static el_span el_token(el_span s, size_t i)
{
	size_t j = i;

	while (j < s.len && s.p[j] != ' ')
		j++;
	return el_span_make(s.p + i, j - i);
}

/* el_is_prog_byte - characters allowed in a program name */
static bool el_is_prog_byte(char c)
{
	return el_is_alnum(c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '@';
}

/*
 * el_set_program - record program, syslog_name and service from a tag.
 * Returns false for a name we refuse (empty, too long, odd bytes, "..").
 */
static bool el_set_program(el_rec *r, el_span prog, el_span *service)
{
	size_t i, slash = SIZE_MAX;

	if (prog.len == 0 || prog.len > 128)
		return false;
	for (i = 0; i < prog.len; i++) {
		if (!el_is_prog_byte(prog.p[i]))
			return false;
		if (prog.p[i] == '/')
			slash = i;
	}
	el_rec_adds(r, EL_F_PROGRAM, prog);
	if (slash != SIZE_MAX) {
		if (slash == 0 || slash + 1 == prog.len)
			return false;
		el_rec_add(r, EL_F_SYSLOG_NAME, prog.p, slash);
		*service = el_span_make(prog.p + slash + 1, prog.len - slash - 1);
		el_rec_adds(r, EL_F_SERVICE, *service);
	} else {
		*service = prog;
	}
	return true;
}

/* el_dispatch - hand the message to the parser for its program */
static void el_dispatch(el_parse_ctx *c, el_rec *r, el_span prog, el_span service, el_span msg)
{
	if (r->flags & EL_REC_TOO_LONG)
		return;
	if (EL_HAS_PREFIX(prog, "amavis")) {
		el_amavis_parse(r, msg);
		return;
	}
	/*
	 * Postfix logs as syslog_name/daemon; syslog_name is "postfix" or
	 * whatever the admin set (postfix-out, postfix/submission).  The
	 * Postfix parser checks the daemon name itself.
	 */
	if (service.p != prog.p || EL_HAS_PREFIX(prog, "postfix") || EL_HAS_PREFIX(prog, "postlog"))
		el_pf_parse(c, r, service, msg);
}

/*
 * el_is_tag_token - "prog:" or "prog[digits]:" in the place of the host: the
 * local form without a hostname.  A host name never ends in ':' after
 * program bytes (an IPv6 literal has other colons, so it is not taken).
 */
static bool el_is_tag_token(el_span t)
{
	size_t i = 0, j;

	if (t.len < 2 || t.p[t.len - 1] != ':')
		return false;
	while (i < t.len - 1 && el_is_prog_byte(t.p[i]))
		i++;
	if (i == 0)
		return false;
	if (i == t.len - 1)
		return true;
	if (t.p[i] != '[' || t.p[t.len - 2] != ']')
		return false;
	for (j = i + 1; j < t.len - 2; j++)
		if (!el_is_digit(t.p[j]))
			return false;
	return j > i + 1;
}

/* el_parse_tag_msg - "prog[pid]: msg" or "prog: msg" from offset i of s */
static void el_parse_tag_msg(el_parse_ctx *c, el_rec *r, el_span s, size_t i)
{
	size_t j = i, pstart, pend;
	el_span prog, service, msg;

	while (j < s.len && s.p[j] != '[' && s.p[j] != ':' && s.p[j] != ' ')
		j++;
	prog = el_span_make(s.p + i, j - i);
	if (j < s.len && s.p[j] == '[') {
		pstart = j + 1;
		pend = pstart;
		while (pend < s.len && el_is_digit(s.p[pend]) && pend - pstart < 10)
			pend++;
		if (pend == pstart || pend >= s.len || s.p[pend] != ']')
			return;
		j = pend + 1;
		if (!el_set_program(r, prog, &service))
			return;
		el_rec_add(r, EL_F_PID, s.p + pstart, pend - pstart);
	} else if (!el_set_program(r, prog, &service)) {
		return;
	}
	if (j >= s.len || s.p[j] != ':')
		return;
	j++;
	if (j < s.len && s.p[j] == ' ')
		j++;
	msg = el_span_make(s.p + j, s.len - j);
	r->flags |= EL_REC_FRAMED;
	el_dispatch(c, r, prog, service, msg);
}

/* el_parse_5424 - "TIMESTAMP HOST APP PROCID MSGID SD [MSG]" after "1 " */
static void el_parse_5424(el_parse_ctx *c, el_rec *r, el_span s)
{
	el_span host, app, procid, msgid, sd, service, msg;
	size_t i = 0, n;

	if (s.len && s.p[0] == '-') {
		i = 1;
	} else {
		n = el_parse_iso_time(r, s);
		if (n == 0)
			return;
		i = n;
	}
	if (i >= s.len || s.p[i] != ' ')
		return;
	host = el_token(s, ++i);
	i += host.len;
	if (host.len == 0 || i >= s.len)
		return;
	if (!el_span_eq_lit(host, "-"))
		el_rec_adds(r, EL_F_HOST, host);
	app = el_token(s, ++i);
	i += app.len;
	if (app.len == 0 || i >= s.len)
		return;
	procid = el_token(s, ++i);
	i += procid.len;
	if (procid.len == 0 || i >= s.len)
		return;
	msgid = el_token(s, ++i);
	i += msgid.len;
	if (msgid.len == 0 || i >= s.len)
		return;
	i++;
	/* Structured data: "-" or one or more [id param="v"...] elements. */
	size_t sd0 = i;
	if (i < s.len && s.p[i] == '-') {
		i++;
	} else {
		while (i < s.len && s.p[i] == '[') {
			bool inq = false;
			i++;
			while (i < s.len) {
				char ch = s.p[i];
				if (inq && ch == '\\' && i + 1 < s.len) {
					i += 2;
					continue;
				}
				if (ch == '"')
					inq = !inq;
				else if (ch == ']' && !inq)
					break;
				i++;
			}
			if (i >= s.len)
				return;
			i++;
		}
		if (i == sd0)
			return;
	}
	sd = el_span_make(s.p + sd0, i - sd0);
	if (!el_span_eq_lit(sd, "-"))
		el_rec_adds(r, EL_F_STRUCTURED_DATA, sd);
	if (i < s.len && s.p[i] != ' ')
		return;
	if (i < s.len)
		i++;
	/*
	 * rsyslog's RSYSLOG_SyslogProtocol23Format writes "SD  MSG": the message
	 * of a legacy sender keeps its leading space.  Not part of what was said.
	 */
	while (i < s.len && s.p[i] == ' ')
		i++;
	/* A UTF-8 BOM may introduce the message. */
	if (s.len - i >= 3 && memcmp(s.p + i, "\xef\xbb\xbf", 3) == 0)
		i += 3;
	if (el_span_eq_lit(app, "-") || !el_set_program(r, app, &service))
		return;
	if (!el_span_eq_lit(procid, "-")) {
		if (el_all_digits(procid) && procid.len <= 10)
			el_rec_adds(r, EL_F_PID, procid);
		else
			return;
	}
	if (!el_span_eq_lit(msgid, "-"))
		el_rec_adds(r, EL_F_SYSLOG_MSGID, msgid);
	msg = el_span_make(s.p + i, s.len - i);
	r->flags |= EL_REC_FRAMED;
	el_dispatch(c, r, app, service, msg);
}

/* el_parse_pri - "<N>" at the start of s: sets facility/severity, returns length */
static size_t el_parse_pri(el_rec *r, el_span s)
{
	size_t i = 1;
	unsigned v = 0;

	while (i < s.len && i < 4 && el_is_digit(s.p[i]))
		v = v * 10 + (unsigned)(s.p[i++] - '0');
	if (i == 1 || i >= s.len || s.p[i] != '>' || v > 191)
		return 0;
	/* Facility and severity are spans: point them at static digit text. */
	static const char digits[] = "0123456789";
	static const char two[] = "1011121314151617181920212223";
	unsigned fac = v >> 3, sev = v & 7;
	if (fac < 10)
		el_rec_add(r, EL_F_FACILITY, digits + fac, 1);
	else
		el_rec_add(r, EL_F_FACILITY, two + (fac - 10) * 2, 2);
	el_rec_add(r, EL_F_SEVERITY, digits + sev, 1);
	return i + 1;
}

/* el_parse_line - see el_parse.h */
void el_parse_line(el_parse_ctx *c, const char *line, size_t len, el_rec *r)
{
	el_span s;
	size_t i, n;

	r->event = EL_EV_UNPARSED;
	r->flags = 0;
	r->time_s = 0;
	r->time_us = 0;
	r->tz_off_min = 0;
	r->time_digits = 0;
	r->nf = 0;
	memset(r->idx, 0, sizeof(r->idx));
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	r->raw = el_span_make(line, len);
	c->n_lines++;
	s = r->raw;
	if (s.len > EL_PARSE_LINE_MAX) {
		r->flags |= EL_REC_TOO_LONG;
		c->n_too_long++;
		s.len = 256; /* enough for any frame */
	}
	if (s.len == 0)
		goto out;

	if (s.p[0] == '#' && el_msgtrk_is_header(s)) {
		el_msgtrk_header(c, r, s);
		goto out;
	}
	if (el_msgtrk_is_row(c, s)) {
		el_msgtrk_row(c, r, s);
		goto out;
	}

	i = 0;
	if (s.p[0] == '<') {
		i = el_parse_pri(r, s);
		if (i == 0)
			goto out;
	}
	s = el_span_skip(s, i);
	if (s.len > 2 && s.p[0] == '1' && s.p[1] == ' ') {
		el_parse_5424(c, r, el_span_skip(s, 2));
		goto out;
	}
	if (s.len && el_is_digit(s.p[0]))
		n = el_parse_iso_time(r, s);
	else
		n = el_parse_bsd_time(c, r, s);
	if (n == 0 || n >= s.len || s.p[n] != ' ')
		goto out;
	/* Some relays pad the day or double the space; tolerate runs. */
	while (n < s.len && s.p[n] == ' ')
		n++;
	el_span host = el_token(s, n);
	if (host.len == 0 || host.len > 255 || n + host.len >= s.len)
		goto out;
	if (el_is_tag_token(host)) {
		/* glibc syslog() and logger on a local socket: no host field. */
		el_parse_tag_msg(c, r, s, n);
		goto out;
	}
	el_rec_adds(r, EL_F_HOST, host);
	el_parse_tag_msg(c, r, s, n + host.len + 1);
out:
	if (r->event == EL_EV_UNPARSED)
		c->n_unparsed++;
}

/* el_rec_time_iso - "2026-11-22T13:23:01.123456+01:00" */
void el_rec_time_iso(const el_rec *r, el_buf *b)
{
	int64_t local = r->time_s + (int64_t)r->tz_off_min * 60;
	int64_t days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
	int64_t secs = local - days * 86400;
	/* civil_from_days (Hinnant) */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	char tmp[48];
	int n, off = r->tz_off_min;
	unsigned hh = (unsigned)(secs / 3600), mi = (unsigned)(secs / 60 % 60),
		 ss = (unsigned)(secs % 60);

	y += m <= 2;
	if (y < 0 || y > 9999) {
		/* Not from a parsed line (years are 1970..9999 there): slow and exact. */
		n = snprintf(tmp, sizeof(tmp), "%lld-%02u-%02uT%02u:%02u:%02uZ", (long long)y, m, d,
			     hh, mi, ss);
		el_buf_add(b, tmp, (size_t)n);
		return;
	}
	tmp[0] = (char)('0' + y / 1000);
	tmp[1] = (char)('0' + y / 100 % 10);
	tmp[2] = (char)('0' + y / 10 % 10);
	tmp[3] = (char)('0' + y % 10);
	tmp[4] = '-';
	tmp[5] = (char)('0' + m / 10);
	tmp[6] = (char)('0' + m % 10);
	tmp[7] = '-';
	tmp[8] = (char)('0' + d / 10);
	tmp[9] = (char)('0' + d % 10);
	tmp[10] = 'T';
	tmp[11] = (char)('0' + hh / 10);
	tmp[12] = (char)('0' + hh % 10);
	tmp[13] = ':';
	tmp[14] = (char)('0' + mi / 10);
	tmp[15] = (char)('0' + mi % 10);
	tmp[16] = ':';
	tmp[17] = (char)('0' + ss / 10);
	tmp[18] = (char)('0' + ss % 10);
	n = 19;
	if (r->time_digits) {
		unsigned us = (unsigned)r->time_us, k;
		char frac[6];
		for (k = 6; k-- > 0; us /= 10)
			frac[k] = (char)('0' + us % 10);
		tmp[n++] = '.';
		memcpy(tmp + n, frac, r->time_digits);
		n += r->time_digits;
	}
	if (off == 0 && (r->flags & EL_REC_TZ_KNOWN)) {
		tmp[n++] = 'Z';
	} else {
		char sign = off < 0 ? '-' : '+';
		if (off < 0)
			off = -off;
		tmp[n++] = sign;
		tmp[n++] = (char)('0' + off / 600);
		tmp[n++] = (char)('0' + off / 60 % 10);
		tmp[n++] = ':';
		tmp[n++] = (char)('0' + off % 60 / 10);
		tmp[n++] = (char)('0' + off % 10);
	}
	el_buf_add(b, tmp, (size_t)n);
}
