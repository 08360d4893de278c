/*
 * be_corr_state - save open transactions and reload them after a restart.
 *
 * Text format, one record per line, fields separated by tabs, strings
 * escaped (\t \n \\ and \xNN for other control bytes):
 *   else-corr-state 1
 *   T id email host qid flags first last start nlines size nrcpt from msgid client_host client_ip sasl prevhost prevqid dsnofhost dsnofqid
 *   R to orig_to status dsn relay_host relay_ip relay_port attempts delay queued_as response
 * R lines belong to the T line before them.  The file is checked on load
 * like any untrusted input: bad lines make the restore fail with -EINVAL.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be_corr_int.h"
#include "el_buf.h"

/* be_st_str - write an escaped string field (empty for NULL) */
static void be_st_str(FILE *f, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	fputc('\t', f);
	if (s == NULL) {
		fputs("\\-", f);
		return;
	}
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '\\')
			fputs("\\\\", f);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(f, "\\x%c%c", hex[ch >> 4], hex[ch & 15]);
		else
			fputc(ch, f);
	}
}

/* be_corr_dump - see be_corr.h */
int be_corr_dump(be_corr *c, FILE *f)
{
	be_tx *t;
	uint32_t i;

	fprintf(f, "else-corr-state 1\n");
	for (t = c->lru_head; t; t = t->lru_next) {
		el_span h = be_corr_host_name(c, t->host);
		fprintf(f, "T\t%llu\t%llu", (unsigned long long)t->id,
			(unsigned long long)t->email_id);
		be_st_str(f, h.p);
		be_st_str(f, t->qid);
		fprintf(f, "\t%u\t%lld\t%lld\t%lld\t%u\t%lld\t%d", t->flags, (long long)t->first_us,
			(long long)t->last_us, (long long)t->start_us, t->nlines,
			(long long)t->size, t->nrcpt);
		be_st_str(f, t->from);
		be_st_str(f, t->message_id);
		be_st_str(f, t->client_host);
		be_st_str(f, t->client_ip);
		be_st_str(f, t->sasl_username);
		be_st_str(f, t->prev.qid[0] ? be_corr_host_name(c, t->prev.host).p : NULL);
		be_st_str(f, t->prev.qid[0] ? t->prev.qid : NULL);
		be_st_str(f, t->dsn_of.qid[0] ? be_corr_host_name(c, t->dsn_of.host).p : NULL);
		be_st_str(f, t->dsn_of.qid[0] ? t->dsn_of.qid : NULL);
		fputc('\n', f);
		for (i = 0; i < t->nrcpts; i++) {
			const be_rcpt *r = &t->rcpts[i];
			fputc('R', f);
			be_st_str(f, r->to);
			be_st_str(f, r->orig_to);
			fprintf(f, "\t%d", (int)r->status);
			be_st_str(f, r->dsn);
			be_st_str(f, r->relay_host);
			be_st_str(f, r->relay_ip);
			fprintf(f, "\t%u\t%u\t%.3f", r->relay_port, r->attempts, r->delay);
			be_st_str(f, r->queued_as);
			be_st_str(f, r->response);
			fputc('\n', f);
		}
	}
	return ferror(f) ? -EIO : 0;
}

#define BE_ST_MAXF 24

/* be_st_split - split a line at tabs and unescape fields in place */
static int be_st_split(char *line, char **fld, bool *null)
{
	int n = 0;
	char *p = line;

	for (;;) {
		char *start = p, *o = p;
		if (n >= BE_ST_MAXF)
			return -1;
		null[n] = false;
		while (*p && *p != '\t') {
			if (*p == '\\') {
				p++;
				if (*p == '\\') {
					*o++ = '\\';
					p++;
				} else if (*p == '-') {
					null[n] = true;
					p++;
				} else if (*p == 'x' && p[1] && p[2]) {
					char h[3] = { p[1], p[2], 0 };
					char *end;
					long v = strtol(h, &end, 16);
					if (*end)
						return -1;
					*o++ = (char)v;
					p += 3;
				} else {
					return -1;
				}
			} else {
				*o++ = *p++;
			}
		}
		char *next = *p ? p + 1 : NULL;
		*o = '\0';
		fld[n++] = start;
		if (next == NULL)
			return n;
		p = next;
	}
}

/* be_st_num - a signed number field */
static int be_st_num(const char *s, long long *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return (errno || *end || end == s) ? -1 : 0;
}

/* be_st_opt - a kept string or NULL */
static char *be_st_opt(const char *s, bool is_null)
{
	return is_null ? NULL : be_strdup(el_span_make(s, strlen(s)));
}

/* be_corr_restore - see be_corr.h */
int be_corr_restore(be_corr *c, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	char *fld[BE_ST_MAXF];
	bool null[BE_ST_MAXF];
	be_tx *t = NULL;
	int rc = 0, nf;

	n = getline(&line, &cap, f);
	if (n < 0 || strcmp(line, "else-corr-state 1\n") != 0) {
		free(line);
		return -EINVAL;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		nf = be_st_split(line, fld, null);
		if (nf == 21 && strcmp(fld[0], "T") == 0) {
			/* fields 1, 2 and 5..11 are numbers */
			long long num[12];
			for (int k = 1; k <= 11; k++)
				if (k != 3 && k != 4 && be_st_num(fld[k], &num[k]) < 0)
					goto bad;
			size_t ql = strlen(fld[4]);
			if (ql == 0 || ql >= sizeof(t->qid) || num[5] < 0 || num[9] < 0)
				goto bad;
			uint16_t host = be_host_id(c, el_span_make(fld[3], strlen(fld[3])));
			t = be_tx_new(c, host, el_span_make(fld[4], ql), num[6]);
			t->email_id = (uint64_t)num[2];
			t->flags = (unsigned)num[5];
			t->first_us = num[6];
			t->last_us = num[7];
			t->start_us = num[8];
			t->nlines = (uint32_t)num[9];
			t->size = num[10];
			t->nrcpt = (int32_t)num[11];
			t->from = be_st_opt(fld[12], null[12]);
			t->message_id = be_st_opt(fld[13], null[13]);
			t->client_host = be_st_opt(fld[14], null[14]);
			t->client_ip = be_st_opt(fld[15], null[15]);
			t->sasl_username = be_st_opt(fld[16], null[16]);
			if (!null[17] && !null[18]) {
				t->prev.host =
					be_host_id(c, el_span_make(fld[17], strlen(fld[17])));
				be_copy_fixed(t->prev.qid, sizeof(t->prev.qid),
					      el_span_make(fld[18], strlen(fld[18])));
			}
			if (!null[19] && !null[20]) {
				t->dsn_of.host =
					be_host_id(c, el_span_make(fld[19], strlen(fld[19])));
				be_copy_fixed(t->dsn_of.qid, sizeof(t->dsn_of.qid),
					      el_span_make(fld[20], strlen(fld[20])));
			}
		} else if (nf == 12 && strcmp(fld[0], "R") == 0 && t) {
			uint32_t ri;
			long long st, port, att;
			if (be_st_num(fld[3], &st) < 0 || st < 0 || st > BE_RS_OTHER ||
			    be_st_num(fld[7], &port) < 0 || port < 0 || port > 65535 ||
			    be_st_num(fld[8], &att) < 0 || att < 0 || att > UINT32_MAX)
				goto bad;
			be_rcpt *r = be_rcpt_get(t, el_span_make(fld[1], strlen(fld[1])),
						 null[2] ? (el_span){ NULL, 0 }
							 : el_span_make(fld[2], strlen(fld[2])),
						 &ri);
			if (r == NULL)
				goto bad;
			r->status = (be_rstatus)st;
			be_copy_fixed(r->dsn, sizeof(r->dsn), el_span_make(fld[4], strlen(fld[4])));
			r->relay_host = be_st_opt(fld[5], null[5]);
			r->relay_ip = be_st_opt(fld[6], null[6]);
			r->relay_port = (uint32_t)port;
			r->attempts = (uint32_t)att;
			r->delay = strtod(fld[9], NULL);
			be_copy_fixed(r->queued_as, sizeof(r->queued_as),
				      el_span_make(fld[10], strlen(fld[10])));
			r->response = be_st_opt(fld[11], null[11]);
		} else {
			goto bad;
		}
		if (t && t->last_us > c->clock_us)
			c->clock_us = t->last_us;
	}
	goto out;
bad:
	rc = -EINVAL;
out:
	free(line);
	return rc;
}
