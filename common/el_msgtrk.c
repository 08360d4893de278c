/*
 * el_msgtrk - Exchange message tracking logs (MSGTRK*.LOG).
 *
 * The files are CSV with W3C-style headers:
 *   #Software: Microsoft Exchange Server
 *   #Fields: date-time,client-ip,client-hostname,server-ip,...
 *   2026-11-22T10:00:01.123Z,10.0.0.5,EX1,...,RECEIVE,...
 * The #Fields: line fixes the columns for the rest of the file; before one
 * is seen the Exchange 2013-2019 column order is assumed.  Columns ELSE knows
 * map onto the common keys (sender-address -> from, ...); every other
 * column is kept under its own name.  Cells may be quoted ("a,b", "" for a
 * quote); decoded cells live in the context's scratch buffer.
 */
#include "el_parse_int.h"

static const char el_msgtrk_default[] =
	"date-time,client-ip,client-hostname,server-ip,server-hostname,source-context,"
	"connector-id,source,event-id,internal-message-id,message-id,network-message-id,"
	"recipient-address,recipient-status,total-bytes,recipient-count,"
	"related-recipient-address,reference,message-subject,sender-address,return-path,"
	"message-info,directionality,tenant-id,original-client-ip,original-server-ip,"
	"custom-data,transport-traffic-type,log-id,schema-version";

static const struct {
	const char *name;
	el_field_key key;
} el_msgtrk_known[] = {
	{ "date-time", EL_F_TIME },
	{ "client-ip", EL_F_CLIENT_IP },
	{ "client-hostname", EL_F_CLIENT_HOST },
	{ "server-ip", EL_F_SERVER_IP },
	{ "server-hostname", EL_F_SERVER_HOST },
	{ "source", EL_F_SOURCE },
	{ "event-id", EL_F_MSGTRK_EVENT },
	{ "internal-message-id", EL_F_INTERNAL_MESSAGE_ID },
	{ "message-id", EL_F_MESSAGE_ID },
	{ "network-message-id", EL_F_NETWORK_MESSAGE_ID },
	{ "recipient-address", EL_F_RECIPIENTS },
	{ "recipient-status", EL_F_RESPONSE },
	{ "total-bytes", EL_F_SIZE },
	{ "recipient-count", EL_F_NRCPT },
	{ "message-subject", EL_F_SUBJECT },
	{ "sender-address", EL_F_FROM },
	{ "directionality", EL_F_DIRECTION },
};

/* el_msgtrk_set_columns - build the column map from a comma-separated list */
static void el_msgtrk_set_columns(el_parse_ctx *c, el_span list)
{
	size_t i = 0;

	c->msgtrk_ncol = 0;
	c->msgtrk_names.len = 0;
	while (i <= list.len && c->msgtrk_ncol < EL_MSGTRK_MAXCOL) {
		size_t j = i;
		while (j < list.len && list.p[j] != ',')
			j++;
		el_span name = el_span_make(list.p + i, j - i);
		while (name.len && name.p[0] == ' ')
			name = el_span_skip(name, 1);
		while (name.len && name.p[name.len - 1] == ' ')
			name.len--;
		if (name.len > 64)
			name.len = 64;
		uint16_t key = EL_F_COLUMN;
		for (size_t k = 0; k < sizeof(el_msgtrk_known) / sizeof(el_msgtrk_known[0]); k++)
			if (name.len == strlen(el_msgtrk_known[k].name) &&
			    memcmp(name.p, el_msgtrk_known[k].name, name.len) == 0)
				key = (uint16_t)el_msgtrk_known[k].key;
		c->msgtrk_map[c->msgtrk_ncol] = key;
		c->msgtrk_name_off[c->msgtrk_ncol] = (uint32_t)c->msgtrk_names.len;
		/* JSON keys: hyphens become underscores. */
		for (size_t k = 0; k < name.len; k++) {
			char ch = name.p[k];
			el_buf_addc(&c->msgtrk_names,
				    ch == '-' ? '_' : (el_is_alnum(ch) ? ch : '_'));
		}
		el_buf_addc(&c->msgtrk_names, '\0');
		c->msgtrk_ncol++;
		i = j + 1;
	}
}

/* el_msgtrk_init - install the default column order */
void el_msgtrk_init(el_parse_ctx *c)
{
	el_msgtrk_set_columns(c, EL_SPAN_LIT(el_msgtrk_default));
}

/* el_msgtrk_column_name - see el_parse.h */
el_span el_msgtrk_column_name(const el_parse_ctx *c, unsigned i)
{
	if (i >= c->msgtrk_ncol)
		return EL_SPAN_LIT("column");
	const char *p = c->msgtrk_names.p + c->msgtrk_name_off[i];
	return el_span_make(p, strlen(p));
}

/* el_msgtrk_is_header - "#Software:", "#Version:", "#Log-type:", "#Date:", "#Fields:" */
bool el_msgtrk_is_header(el_span s)
{
	return EL_HAS_PREFIX(s, "#Fields:") || EL_HAS_PREFIX(s, "#Software:") ||
	       EL_HAS_PREFIX(s, "#Version:") || EL_HAS_PREFIX(s, "#Log-type:") ||
	       EL_HAS_PREFIX(s, "#Date:");
}

/* el_msgtrk_header - record a header line; #Fields: resets the column map */
void el_msgtrk_header(el_parse_ctx *c, el_rec *r, el_span s)
{
	ptrdiff_t colon = el_span_find(s, ':');
	el_span v = el_span_skip(s, (size_t)colon + 1);

	while (v.len && v.p[0] == ' ')
		v = el_span_skip(v, 1);
	if (EL_HAS_PREFIX(s, "#Fields:"))
		el_msgtrk_set_columns(c, v);
	el_rec_add(r, EL_F_ACTION, s.p + 1, (size_t)colon - 1);
	el_rec_adds(r, EL_F_TEXT, v);
	r->event = EL_EV_MSGTRK_HEADER;
}

/* el_msgtrk_is_row - an ISO timestamp cell followed by a comma */
bool el_msgtrk_is_row(const el_parse_ctx *c, el_span s)
{
	size_t i = 19;

	if (c->msgtrk_ncol == 0 || s.len < 21 || !el_is_digit(s.p[0]) || s.p[4] != '-' ||
	    s.p[10] != 'T')
		return false;
	while (i < s.len && i < 40 && s.p[i] != ',' && s.p[i] != ' ')
		i++;
	return i < s.len && s.p[i] == ',';
}

/* el_msgtrk_add_col - keep a cell under its column's own name */
static void el_msgtrk_add_col(el_rec *r, unsigned col, el_span cell)
{
	if (r->nf >= EL_PARSE_MAXF)
		return;
	el_rec_adds(r, EL_F_COLUMN, cell);
	r->f[r->nf - 1].aux = (uint16_t)col;
}

/* el_msgtrk_row - split one CSV row and map its cells */
void el_msgtrk_row(el_parse_ctx *c, el_rec *r, el_span s)
{
	size_t i = 0;
	unsigned col = 0;

	/* Reserve once so cell pointers stay valid for the whole row. */
	c->scratch.len = 0;
	el_buf_reserve(&c->scratch, s.len + 1);
	while (i <= s.len && col < c->msgtrk_ncol) {
		el_span cell;
		if (i < s.len && s.p[i] == '"') {
			char *o = c->scratch.p + c->scratch.len;
			size_t n = 0;
			i++;
			while (i < s.len) {
				if (s.p[i] == '"') {
					if (i + 1 < s.len && s.p[i + 1] == '"') {
						o[n++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				o[n++] = s.p[i++];
			}
			c->scratch.len += n;
			cell = el_span_make(o, n);
			while (i < s.len && s.p[i] != ',')
				i++;
		} else {
			size_t j = i;
			while (j < s.len && s.p[j] != ',')
				j++;
			cell = el_span_make(s.p + i, j - i);
			i = j;
		}
		i++; /* the comma */
		uint16_t key = c->msgtrk_map[col];
		if (key == EL_F_TIME) {
			/* A date we cannot read is kept as a plain column. */
			if (el_parse_iso_time(r, cell) == 0)
				el_msgtrk_add_col(r, col, cell);
		} else if (key == EL_F_COLUMN) {
			if (cell.len)
				el_msgtrk_add_col(r, col, cell);
		} else if (cell.len) {
			if (key == EL_F_MESSAGE_ID && cell.len >= 2 && cell.p[0] == '<' &&
			    cell.p[cell.len - 1] == '>')
				cell = el_span_make(cell.p + 1, cell.len - 2);
			el_rec_adds(r, (el_field_key)key, cell);
		}
		col++;
	}
	r->event = EL_EV_MSGTRK;
}
