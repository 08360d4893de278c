/*
 * be_db_copy - PostgreSQL's binary COPY format, text repair, and the lines
 * table's COPY.
 *
 * Binary COPY was chosen over text COPY: no escaping of tabs, backslashes
 * and newlines in raw lines, no number formatting, and raw goes in as bytea
 * byte for byte (bench/bench_db.c measures it).  The format: an 11-byte
 * signature, two int32 header words, then per row an int16 field count and
 * per field an int32 length (-1 for NULL) and the value in the type's binary
 * send format (big-endian integers; timestamptz as int64 microseconds since
 * 2000-01-01; text as its bytes; jsonb as a version byte and the text), then
 * an int16 -1 trailer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "be_db_int.h"
#include "el_log.h"

/* be_db_put_be - append v as n big-endian bytes */
static inline void be_db_put_be(el_buf *b, uint64_t v, int n)
{
	char t[8];

	for (int i = n - 1; i >= 0; i--) {
		t[i] = (char)(v & 0xff);
		v >>= 8;
	}
	el_buf_add(b, t, (size_t)n);
}

/* be_db_get_be64 - read a big-endian 64-bit value */
uint64_t be_db_get_be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (unsigned char)p[i];
	return v;
}

/* be_db_get_be32 - read a big-endian 32-bit value */
uint32_t be_db_get_be32(const char *p)
{
	return (uint32_t)(unsigned char)p[0] << 24 | (uint32_t)(unsigned char)p[1] << 16 |
	       (uint32_t)(unsigned char)p[2] << 8 | (uint32_t)(unsigned char)p[3];
}

/* be_db_copy_reset - drop the buffered rows */
void be_db_copy_reset(be_db_copybuf *cb)
{
	cb->b.len = 0;
	cb->rows = 0;
}

/* be_db_copy_header - the COPY header, before the first row */
void be_db_copy_header(be_db_copybuf *cb)
{
	if (cb->b.len == 0) {
		el_buf_add(&cb->b, "PGCOPY\n\377\r\n\0", 11);
		be_db_put_be(&cb->b, 0, 4); /* flags */
		be_db_put_be(&cb->b, 0, 4); /* header extension length */
	}
}

/* be_db_copy_row - start a row of nfields (the header before the first) */
void be_db_copy_row(be_db_copybuf *cb, int16_t nfields)
{
	be_db_copy_header(cb);
	be_db_put_be(&cb->b, (uint16_t)nfields, 2);
	cb->rows++;
}

void be_db_copy_null(el_buf *b)
{
	be_db_put_be(b, 0xffffffffu, 4);
}

/* be_db_copy_end - the trailer after the last row */
void be_db_copy_end(be_db_copybuf *cb)
{
	be_db_put_be(&cb->b, 0xffff, 2);
}

void be_db_copy_i16(el_buf *b, int16_t v)
{
	be_db_put_be(b, 2, 4);
	be_db_put_be(b, (uint16_t)v, 2);
}

void be_db_copy_i32(el_buf *b, int32_t v)
{
	be_db_put_be(b, 4, 4);
	be_db_put_be(b, (uint32_t)v, 4);
}

void be_db_copy_i64(el_buf *b, int64_t v)
{
	be_db_put_be(b, 8, 4);
	be_db_put_be(b, (uint64_t)v, 8);
}

void be_db_copy_f64(el_buf *b, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	be_db_put_be(b, 8, 4);
	be_db_put_be(b, u, 8);
}

/* be_db_clamp_us - a time PostgreSQL accepts (years 1..9999) */
int64_t be_db_clamp_us(int64_t us)
{
	return us < BE_DB_TS_MIN_US ? BE_DB_TS_MIN_US : us > BE_DB_TS_MAX_US ? BE_DB_TS_MAX_US : us;
}

void be_db_copy_ts(el_buf *b, int64_t unix_us)
{
	be_db_copy_i64(b, be_db_clamp_us(unix_us) - BE_DB_PG_EPOCH_US);
}

void be_db_copy_date(el_buf *b, int64_t unix_days)
{
	be_db_copy_i32(b, (int32_t)(unix_days - BE_DB_PG_EPOCH_DAYS));
}

void be_db_copy_bytes(el_buf *b, const void *p, size_t n)
{
	be_db_put_be(b, (uint32_t)n, 4);
	el_buf_add(b, p, n);
}

/* be_db_utf8_len - length of the valid UTF-8 sequence at s, 0 if invalid */
static size_t be_db_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0], lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f; /* no UTF-16 surrogates */
		return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing above U+10FFFF */
		return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
				       (s[3] & 0xc0) == 0x80
			       ? 4
			       : 0;
	}
	return 0;
}

/*
 * be_db_text_repair - append p[0..n) as valid UTF-8 without NUL, at most max
 * bytes (cut at a character boundary).  A byte that does not start a valid
 * sequence is read as Latin-1 (el_json does the same, so the database shows
 * what else-parse shows); NUL becomes U+FFFD.  Returns true if anything was
 * changed or cut.
 */
bool be_db_text_repair(el_buf *out, const char *p, size_t n, size_t max)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0, used = 0;
	bool fixed = false;

	el_buf_reserve(out, n < max ? n : max);
	while (i < n) {
		size_t k = 0;
		char t[3];
		const char *src;
		size_t sl;

		/* Runs of printable ASCII go in one copy. */
		while (i + k < n && s[i + k] >= 0x01 && s[i + k] < 0x80)
			k++;
		if (k) {
			if (used + k > max) {
				k = max - used;
				fixed = true;
				n = i + k;
			}
			el_buf_add(out, p + i, k);
			used += k;
			i += k;
			continue;
		}
		k = s[i] ? be_db_utf8_len(s + i, n - i) : 0;
		if (s[i] == 0) {
			src = "\xef\xbf\xbd";
			sl = 3;
			k = 1;
			fixed = true;
		} else if (k) {
			src = p + i;
			sl = k;
		} else {
			t[0] = (char)(0xc0 | s[i] >> 6);
			t[1] = (char)(0x80 | (s[i] & 0x3f));
			src = t;
			sl = 2;
			k = 1;
			fixed = true;
		}
		if (used + sl > max) {
			fixed = true;
			break;
		}
		el_buf_add(out, src, sl);
		used += sl;
		i += k;
	}
	return fixed;
}

/* be_db_copy_text - a text field (NULL when p is NULL), repaired and bounded */
void be_db_copy_text(be_db *db, el_buf *b, const char *p, size_t n, size_t max)
{
	size_t at;

	if (p == NULL) {
		be_db_copy_null(b);
		return;
	}
	at = b->len;
	be_db_put_be(b, 0, 4);
	if (be_db_text_repair(b, p, n, max))
		db->st.text_repaired++;
	uint32_t len = (uint32_t)(b->len - at - 4);
	for (int i = 0; i < 4; i++)
		b->p[at + (size_t)i] = (char)(len >> (24 - 8 * i));
}

/* be_db_copy_cstr - a C string field (NULL pointer: NULL; "" stays "") */
void be_db_copy_cstr(be_db *db, el_buf *b, const char *s, size_t max)
{
	be_db_copy_text(db, b, s, s ? strlen(s) : 0, max);
}

/* be_db_copy_jsonb - a jsonb field from JSON text */
void be_db_copy_jsonb(el_buf *b, const el_buf *json)
{
	be_db_put_be(b, (uint32_t)json->len + 1, 4);
	el_buf_addc(b, 1); /* jsonb binary format version */
	el_buf_add(b, json->p, json->len);
}

/* be_db_line_add - see be_db.h */
int be_db_line_add(be_db *db, const be_db_line *l)
{
	be_db_copybuf *cb;
	el_buf *b;
	int ev, rc;

	if (db == NULL || l == NULL || l->seq > INT64_MAX || l->host_id <= 0 ||
	    (l->raw.len && l->raw.p == NULL) || (l->program.len && l->program.p == NULL) ||
	    (l->queue_id.len && l->queue_id.p == NULL))
		return -EINVAL;
	if (l->raw.len > ((size_t)1 << 30))
		return -EMSGSIZE;
	if (!db->ev_loaded) {
		rc = be_db_ready(db);
		if (rc == 0)
			rc = be_db_events_load(db);
		if (rc)
			return rc;
	}
	cb = &db->lines;
	b = &cb->b;
	if (db->lines_stream && db->line_seq_next > db->line_seq_last)
		return -ERANGE; /* more lines than the batch reserved */
	if (!db->lines_stream && cb->rows == db->line_seq_cap) {
		size_t cap = db->line_seq_cap ? 2 * db->line_seq_cap : 4096;
		uint64_t *n = realloc(db->line_seq_off, cap * sizeof(*n));
		if (n == NULL)
			el_panic("be_db: out of memory");
		db->line_seq_off = n;
		db->line_seq_cap = cap;
	}
	ev = l->event >= 0 && l->event < EL_EV__COUNT ? l->event : EL_EV_UNPARSED;
	/* ts, seq, ingest_seq, host_id, stream_no, pid, event, program, queue_id, raw */
	be_db_copy_row(cb, 10);
	be_db_copy_ts(b, l->ts_us);
	be_db_copy_i64(b, (int64_t)l->seq);
	if (db->lines_stream) {
		be_db_copy_i64(b, (int64_t)db->line_seq_next++);
	} else {
		db->line_seq_off[cb->rows - 1] = b->len + 4; /* set by be_db_lines_flush */
		be_db_copy_i64(b, 0);
	}
	be_db_copy_i32(b, l->host_id);
	be_db_copy_i32(b, l->stream_no);
	if (l->pid)
		be_db_copy_i32(b, l->pid);
	else
		be_db_copy_null(b);
	be_db_copy_i16(b, db->ev_id[ev]);
	be_db_copy_text(db, b, l->program.len ? l->program.p : NULL, l->program.len,
			BE_DB_TEXT_PROGRAM);
	be_db_copy_text(db, b, l->queue_id.len ? l->queue_id.p : NULL, l->queue_id.len,
			BE_DB_TEXT_QID);
	be_db_copy_bytes(b, l->raw.p, l->raw.len);
	if (db->lines_stream)
		return b->len >= BE_DB_COPY_CHUNK ? be_db_lines_push(db, false) : 0;
	if (b->len >= BE_DB_COPY_FLUSH)
		return be_db_lines_flush(db);
	return 0;
}

static const char be_db_lines_copy_sql[] =
	"COPY lines (ts, seq, ingest_seq, host_id, stream_no, pid, event, program, queue_id, "
	"raw) FROM STDIN (FORMAT binary)";

/*
 * be_db_lines_push - see be_db_int.h.  The buffer always starts with a COPY
 * header (be_db_copy_row); an open COPY has had its own, so it gets the
 * rows only.  With no COPY open it opens one (and with end, sends all in
 * it: be_db_lines_flush's COPY).  On failure the COPY is ended (the
 * transaction has failed).
 */
int be_db_lines_push(be_db *db, bool end)
{
	be_db_copybuf *cb = &db->lines;
	size_t off = 0, rows = cb->rows;
	int rc = 0;

	if (rows == 0 && (!db->copy_open || !end))
		return 0;
	if (rows && db->copy_open)
		off = BE_DB_COPY_HEADER;
	else if (rows && (rc = be_db_copy_start(db, "COPY lines", be_db_lines_copy_sql)) != 0)
		goto out;
	db->copy_open = true;
	if (end)
		be_db_copy_end(cb);
	rc = be_db_copy_put(db, "COPY lines", cb->b.p + off, cb->b.len - off);
	if (rc || end) {
		int rc2 = be_db_copy_finish(db, "COPY lines", rc != 0);
		db->copy_open = false;
		if (rc == 0)
			rc = rc2;
		if (rc == 0)
			db->st.flushes++;
	}
	if (rc == 0)
		db->st.lines_copied += rows;
out:
	be_db_copy_reset(cb);
	return rc;
}

/* be_db_lines_pending - lines buffered, not yet sent */
size_t be_db_lines_pending(const be_db *db)
{
	return db ? db->lines.rows : 0;
}

/*
 * be_db_lines_flush_with - pre (if any) and the reservation of an ingest_seq
 * range in one round trip, then the COPY of the buffered lines.  The counter
 * row stays locked until the transaction ends (see be_db.h): that is what
 * makes ingest_seq order commit order.  *pre_out gets pre's result when all
 * succeeded.
 */
int be_db_lines_flush_with(be_db *db, const be_db_genq *pre, PGresult **pre_out)
{
	char nb[24];
	PGresult *res[2] = { NULL, NULL };
	uint64_t last, base;
	size_t n, i;
	bool opened;
	int rc, nq = 0;

	if (db == NULL || (pre && pre_out == NULL))
		return -EINVAL;
	if (pre)
		*pre_out = NULL;
	if (db->lines_stream) {
		/* Their ingest_seq is set: the rest of them, then pre. */
		rc = be_db_lines_push(db, true);
		db->lines_stream = false;
		if (rc == 0 && pre)
			rc = be_db_exec_many(db, pre, 1, pre_out);
		return rc;
	}
	n = db->lines.rows;
	if (n == 0 && pre == NULL)
		return 0;
	rc = be_db_tx_wrap_begin(db, &opened);
	if (rc) {
		be_db_copy_reset(&db->lines);
		return rc;
	}
	snprintf(nb, sizeof(nb), "%zu", n);
	const char *p[1] = { nb };
	be_db_genq q[2];
	if (pre)
		q[nq++] = *pre;
	if (n)
		q[nq++] = (be_db_genq){ 0,
					"reserve ingest_seq",
					"UPDATE ingest_counter SET last_seq = last_seq + $1 "
					"RETURNING last_seq",
					1,
					p,
					NULL,
					NULL,
					1 };
	rc = be_db_exec_many(db, q, nq, res);
	if (rc || n == 0)
		goto out;
	PGresult *r = res[nq - 1];
	if (PQntuples(r) != 1 || PQgetlength(r, 0, 0) != 8) {
		rc = -EIO;
		goto out;
	}
	last = be_db_get_be64(PQgetvalue(r, 0, 0));
	base = last - n + 1;
	for (i = 0; i < n; i++) {
		uint64_t v = base + i;
		char *d = db->lines.b.p + db->line_seq_off[i];
		for (int k = 7; k >= 0; k--) {
			d[k] = (char)(v & 0xff);
			v >>= 8;
		}
	}
	rc = be_db_lines_push(db, true); /* a COPY of its own, as streamed lines end */
out:
	if (rc == 0 && pre) {
		*pre_out = res[0];
		res[0] = NULL;
	}
	PQclear(res[0]);
	PQclear(res[1]);
	be_db_copy_reset(&db->lines);
	return be_db_tx_wrap_end(db, opened, rc);
}

/* be_db_lines_flush - see be_db.h */
int be_db_lines_flush(be_db *db)
{
	return be_db_lines_flush_with(db, NULL, NULL);
}
