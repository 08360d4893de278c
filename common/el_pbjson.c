/*
 * el_pbjson - protobuf-c <-> JSON through the descriptors.  See el_pbjson.h.
 */
#include "el_pbjson.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "el_json.h"
#include "el_jsonp.h"
#include "el_log.h"

#define EL_PBJSON_MAX_FIELDS 256 /* per message: the duplicate bitmap */
#define EL_PBJSON_PATH 256

typedef struct el_pbjson_st {
	const el_jdoc *d;
	el_pbjson_limits lim;
	char path[EL_PBJSON_PATH];
	char *err;
	size_t errcap;
	el_buf tmp;
} el_pbjson_st;

/* Room for one value of any field type, to decode aside. */
typedef union el_pbjson_slot {
	char *str;
	ProtobufCBinaryData bd;
	ProtobufCMessage *msg;
	uint64_t u;
	double d;
} el_pbjson_slot;

#define EL_PB_MEMBER(T, m, off) (*(T *)((char *)(m) + (off)))

/* el_pbjson_fail - format an error prefixed with the current path */
__attribute__((format(printf, 3, 4))) static int el_pbjson_fail(el_pbjson_st *s, int rv,
								const char *fmt, ...)
{
	va_list ap;
	int n;

	if (s->errcap == 0)
		return rv;
	n = s->path[0] ? snprintf(s->err, s->errcap, "%s: ", s->path) : 0;
	if (n < 0 || (size_t)n >= s->errcap)
		return rv;
	va_start(ap, fmt);
	vsnprintf(s->err + n, s->errcap - (size_t)n, fmt, ap);
	va_end(ap);
	return rv;
}

/* el_pbjson_elem_size - bytes of one element of a repeated field of type t */
static size_t el_pbjson_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

/* el_pbjson_enum_name - see el_pbjson.h */
const char *el_pbjson_enum_name(const ProtobufCEnumDescriptor *e, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(e, v);

	return ev ? ev->name : NULL;
}

static int el_pbjson_msg(el_pbjson_st *s, const ProtobufCMessageDescriptor *desc, size_t ti,
			 unsigned depth, ProtobufCMessage **out);

/* el_pbjson_int - token ti as an integer in [min, max] (64-bit also as a string) */
static int el_pbjson_int(el_pbjson_st *s, size_t ti, int64_t min, int64_t max, int allow_str,
			 int64_t *out, const char *what)
{
	const el_jtok *t = &s->d->t[ti];
	int64_t v;

	if (t->type == EL_JT_STR && allow_str) {
		el_span r = el_jsonp_raw(s->d, ti);
		int neg = r.len && r.p[0] == '-';
		uint64_t u;
		if (el_span_parse_u64(el_span_skip(r, (size_t)neg), &u) != 0 ||
		    u > (uint64_t)INT64_MAX)
			return el_pbjson_fail(s, -EINVAL, "expected %s", what);
		v = neg ? -(int64_t)u : (int64_t)u;
	} else if (t->type != EL_JT_NUM || el_jsonp_i64(s->d, ti, &v) != 0) {
		return el_pbjson_fail(s, -EINVAL, "expected %s", what);
	}
	if (v < min || v > max)
		return el_pbjson_fail(s, -EINVAL, "%" PRId64 " out of range for %s", v, what);
	*out = v;
	return 0;
}

/* el_pbjson_uint - token ti as an unsigned integer <= max */
static int el_pbjson_uint(el_pbjson_st *s, size_t ti, uint64_t max, int allow_str, uint64_t *out,
			  const char *what)
{
	const el_jtok *t = &s->d->t[ti];
	uint64_t v;

	if (t->type == EL_JT_STR && allow_str) {
		if (el_span_parse_u64(el_jsonp_raw(s->d, ti), &v) != 0)
			return el_pbjson_fail(s, -EINVAL, "expected %s", what);
	} else if (t->type != EL_JT_NUM || el_jsonp_u64(s->d, ti, &v) != 0) {
		return el_pbjson_fail(s, -EINVAL, "expected %s", what);
	}
	if (v > max)
		return el_pbjson_fail(s, -EINVAL, "%" PRIu64 " out of range for %s", v, what);
	*out = v;
	return 0;
}

/*
 * el_pbjson_scalar - decode token ti as one value of field f into dst (an
 * element slot of the field's type).  Strings and bytes are malloc'd.
 */
static int el_pbjson_scalar(el_pbjson_st *s, const ProtobufCFieldDescriptor *f, size_t ti,
			    unsigned depth, void *dst)
{
	const el_jtok *t = &s->d->t[ti];
	int64_t i = 0; /* set whenever rv is 0: gcc -O2 cannot see that el_pbjson_fail is < 0 */
	uint64_t u = 0;
	double dv;
	int rv;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		if ((rv = el_pbjson_int(s, ti, INT32_MIN, INT32_MAX, 0, &i,
					"a signed 32-bit integer")) != 0)
			return rv;
		*(int32_t *)dst = (int32_t)i;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		if ((rv = el_pbjson_uint(s, ti, UINT32_MAX, 0, &u, "an unsigned 32-bit integer")) !=
		    0)
			return rv;
		*(uint32_t *)dst = (uint32_t)u;
		return 0;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		if ((rv = el_pbjson_int(s, ti, INT64_MIN, INT64_MAX, 1, &i,
					"a signed 64-bit integer")) != 0)
			return rv;
		*(int64_t *)dst = i;
		return 0;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		if ((rv = el_pbjson_uint(s, ti, UINT64_MAX, 1, &u, "an unsigned 64-bit integer")) !=
		    0)
			return rv;
		*(uint64_t *)dst = u;
		return 0;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		if (t->type != EL_JT_NUM || el_jsonp_double(s->d, ti, &dv) != 0)
			return el_pbjson_fail(s, -EINVAL, "expected a finite number");
		if (f->type == PROTOBUF_C_TYPE_FLOAT) {
			if (fabs(dv) > 3.4e38)
				return el_pbjson_fail(s, -EINVAL, "out of range for a float");
			*(float *)dst = (float)dv;
		} else {
			*(double *)dst = dv;
		}
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (t->type != EL_JT_TRUE && t->type != EL_JT_FALSE)
			return el_pbjson_fail(s, -EINVAL, "expected true or false");
		*(protobuf_c_boolean *)dst = t->type == EL_JT_TRUE;
		return 0;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *ed = f->descriptor;
		const ProtobufCEnumValue *ev = NULL;
		char name[128];
		if (t->type == EL_JT_STR) {
			el_span r = el_jsonp_raw(s->d, ti);
			if (!t->esc && r.len < sizeof(name)) {
				memcpy(name, r.p, r.len);
				name[r.len] = '\0';
				ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
			}
			if (ev == NULL) {
				char pr[4 * 64 + 1];
				el_log_printable(pr, r.p, r.len, 64);
				return el_pbjson_fail(s, -EINVAL, "unknown value \"%s\" of %s", pr,
						      ed->name);
			}
		} else if (t->type == EL_JT_NUM && el_jsonp_i64(s->d, ti, &i) == 0 &&
			   i >= INT32_MIN && i <= INT32_MAX) {
			if ((ev = protobuf_c_enum_descriptor_get_value(ed, (int)i)) == NULL)
				return el_pbjson_fail(s, -EINVAL, "%" PRId64 " is no value of %s",
						      i, ed->name);
		} else {
			return el_pbjson_fail(s, -EINVAL, "expected a name of %s", ed->name);
		}
		*(int32_t *)dst = ev->value;
		return 0;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *str;
		if (t->type != EL_JT_STR)
			return el_pbjson_fail(s, -EINVAL, "expected a string");
		/* The bound is on the decoded bytes: escaping must not change it. */
		s->tmp.len = 0;
		el_jsonp_str(s->d, ti, &s->tmp);
		if (s->tmp.len > s->lim.max_str)
			return el_pbjson_fail(s, -E2BIG, "string longer than %zu bytes",
					      s->lim.max_str);
		if (s->tmp.len && memchr(s->tmp.p, '\0', s->tmp.len))
			return el_pbjson_fail(s, -EINVAL, "NUL in string");
		if ((str = malloc(s->tmp.len + 1)) == NULL)
			return el_pbjson_fail(s, -ENOMEM, "out of memory");
		if (s->tmp.len)
			memcpy(str, s->tmp.p, s->tmp.len);
		str[s->tmp.len] = '\0';
		*(char **)dst = str;
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *bd = dst;
		if (t->type != EL_JT_STR || t->esc)
			return el_pbjson_fail(s, -EINVAL, "expected a base64 string");
		if (t->len > s->lim.max_str / 3 * 4 + 4)
			return el_pbjson_fail(s, -E2BIG, "bytes longer than %zu", s->lim.max_str);
		s->tmp.len = 0;
		el_span r = el_jsonp_raw(s->d, ti);
		if (el_pbjson_unb64(&s->tmp, r.p, r.len) != 0)
			return el_pbjson_fail(s, -EINVAL, "malformed base64");
		if ((bd->data = malloc(s->tmp.len ? s->tmp.len : 1)) == NULL)
			return el_pbjson_fail(s, -ENOMEM, "out of memory");
		if (s->tmp.len)
			memcpy(bd->data, s->tmp.p, s->tmp.len);
		bd->len = s->tmp.len;
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		if (t->type != EL_JT_OBJ)
			return el_pbjson_fail(s, -EINVAL, "expected an object");
		return el_pbjson_msg(s, f->descriptor, ti, depth + 1, (ProtobufCMessage **)dst);
	}
	return el_pbjson_fail(s, -EINVAL, "unsupported field type");
}

/* el_pbjson_free_value - free what el_pbjson_scalar allocated in a slot */
static void el_pbjson_free_value(const ProtobufCFieldDescriptor *f, void *slot)
{
	if (f->type == PROTOBUF_C_TYPE_STRING)
		free(*(char **)slot);
	else if (f->type == PROTOBUF_C_TYPE_BYTES)
		free(((ProtobufCBinaryData *)slot)->data);
	else if (f->type == PROTOBUF_C_TYPE_MESSAGE && *(ProtobufCMessage **)slot)
		protobuf_c_message_free_unpacked(*(ProtobufCMessage **)slot, NULL);
}

/* el_pbjson_field - decode value token vi into field f of m */
static int el_pbjson_field(el_pbjson_st *s, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f,
			   size_t vi, unsigned depth)
{
	const el_jtok *t = &s->d->t[vi];
	void *slot = (char *)m + f->offset;
	size_t esz = el_pbjson_elem_size(f->type);
	int rv;

	if (t->type == EL_JT_NULL)
		return 0; /* absent: the default stays */
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = t->size, k, ei;
		char *arr;
		if (t->type != EL_JT_ARR)
			return el_pbjson_fail(s, -EINVAL, "expected an array");
		if (n > s->lim.max_list)
			return el_pbjson_fail(s, -E2BIG, "more than %zu entries", s->lim.max_list);
		if (n == 0)
			return 0;
		if ((arr = calloc(n, esz)) == NULL)
			return el_pbjson_fail(s, -ENOMEM, "out of memory");
		/* Attach first, so free_unpacked frees what is filled on error. */
		*(void **)slot = arr;
		EL_PB_MEMBER(size_t, m, f->quantifier_offset) = 0;
		for (k = 0, ei = vi + 1; k < n; k++, ei = s->d->t[ei].next) {
			if (s->d->t[ei].type == EL_JT_NULL)
				return el_pbjson_fail(s, -EINVAL, "null in an array");
			if ((rv = el_pbjson_scalar(s, f, ei, depth, arr + k * esz)) != 0)
				return rv;
			EL_PB_MEMBER(size_t, m, f->quantifier_offset) = k + 1;
		}
		return 0;
	}
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		uint32_t *cs = &EL_PB_MEMBER(uint32_t, m, f->quantifier_offset);
		if (*cs != 0 && *cs != f->id)
			return el_pbjson_fail(s, -EINVAL, "a second member of the same oneof");
		/* Members of a oneof share storage: decode aside, then place. */
		el_pbjson_slot v;
		memset(&v, 0, sizeof(v));
		if ((rv = el_pbjson_scalar(s, f, vi, depth, &v)) != 0) {
			el_pbjson_free_value(f, &v);
			return rv;
		}
		memcpy(slot, &v, esz);
		*cs = f->id;
		return 0;
	}
	if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE ||
	    f->type == PROTOBUF_C_TYPE_BYTES) {
		/* Decode aside: the slot holds the default (not ours to free). */
		el_pbjson_slot v;
		memset(&v, 0, sizeof(v));
		if ((rv = el_pbjson_scalar(s, f, vi, depth, &v)) != 0) {
			el_pbjson_free_value(f, &v);
			return rv;
		}
		memcpy(slot, &v, esz);
	} else if ((rv = el_pbjson_scalar(s, f, vi, depth, slot)) != 0) {
		return rv;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
	    f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
		EL_PB_MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
	return 0;
}

/* el_pbjson_msg - decode object token ti as a message of desc */
static int el_pbjson_msg(el_pbjson_st *s, const ProtobufCMessageDescriptor *desc, size_t ti,
			 unsigned depth, ProtobufCMessage **out)
{
	uint8_t seen[EL_PBJSON_MAX_FIELDS / 8] = { 0 };
	const el_jtok *t = &s->d->t[ti];
	size_t plen = strlen(s->path), k, ki;
	ProtobufCMessage *m;
	int rv = 0;

	*out = NULL;
	if (depth > s->lim.max_depth)
		return el_pbjson_fail(s, -E2BIG, "nested deeper than %u", s->lim.max_depth);
	if (desc->n_fields > EL_PBJSON_MAX_FIELDS)
		return el_pbjson_fail(s, -EINVAL, "message with too many fields");
	if ((m = malloc(desc->sizeof_message)) == NULL)
		return el_pbjson_fail(s, -ENOMEM, "out of memory");
	desc->message_init(m);
	for (k = 0, ki = ti + 1; k < t->size; k++, ki = s->d->t[ki + 1].next) {
		el_span key = el_jsonp_raw(s->d, ki);
		const ProtobufCFieldDescriptor *f = NULL;
		char name[64];
		size_t fi;

		if (!s->d->t[ki].esc && key.len < sizeof(name)) {
			memcpy(name, key.p, key.len);
			name[key.len] = '\0';
			f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
		}
		if (f == NULL) {
			char pr[4 * 64 + 1];
			el_log_printable(pr, key.p, key.len, 64);
			rv = el_pbjson_fail(s, -EINVAL, "unknown field \"%s\" in %s", pr,
					    desc->name);
			goto out;
		}
		fi = (size_t)(f - desc->fields);
		if (seen[fi / 8] & (1u << (fi % 8))) {
			rv = el_pbjson_fail(s, -EINVAL, "field \"%s\" given twice", f->name);
			goto out;
		}
		seen[fi / 8] |= (uint8_t)(1u << (fi % 8));
		snprintf(s->path + plen, sizeof(s->path) - plen, "%s%s", plen ? "." : "", f->name);
		rv = el_pbjson_field(s, m, f, ki + 1, depth);
		if (rv != 0)
			goto out;
		s->path[plen] = '\0';
	}
out:
	if (rv != 0) {
		protobuf_c_message_free_unpacked(m, NULL);
		return rv;
	}
	*out = m;
	return 0;
}

/* el_pbjson_decode - see el_pbjson.h */
int el_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
		     const el_pbjson_limits *lim, ProtobufCMessage **out, char *err, size_t errcap)
{
	el_jsonp_limits jl = { 0 };
	el_pbjson_st s;
	el_jdoc d;
	int rv;

	memset(&s, 0, sizeof(s));
	*out = NULL;
	if (lim)
		s.lim = *lim;
	if (!s.lim.max_len)
		s.lim.max_len = 1u << 20;
	if (!s.lim.max_depth)
		s.lim.max_depth = 8;
	if (!s.lim.max_list)
		s.lim.max_list = 1000;
	if (!s.lim.max_str)
		s.lim.max_str = 65536;
	jl.max_len = s.lim.max_len;
	jl.max_depth = 2 * s.lim.max_depth + 2; /* an array level per message level */
	/* Raw JSON of the largest string: every byte may be a 6-byte \u escape. */
	jl.max_str = s.lim.max_str * 6 + 8;
	jl.max_tokens = s.lim.max_len / 2 + 2;
	s.err = err;
	s.errcap = errcap;
	if ((rv = el_jsonp_parse(&d, json, len, &jl, err, errcap)) != 0) {
		el_jsonp_fini(&d);
		return rv == -E2BIG ? -E2BIG : -EINVAL;
	}
	s.d = &d;
	el_buf_init(&s.tmp);
	if (d.t[0].type != EL_JT_OBJ)
		rv = el_pbjson_fail(&s, -EINVAL, "expected an object for %s", desc->name);
	else
		rv = el_pbjson_msg(&s, desc, 0, 0, out);
	el_buf_fini(&s.tmp);
	el_jsonp_fini(&d);
	return rv;
}

static int el_pbjson_enc(el_buf *b, const ProtobufCMessage *m, size_t lim);

/*
 * el_pbjson_value - append one value of field f stored at slot; -E2BIG once
 * b is longer than lim (checked after the value: see el_pbjson_encode_max)
 */
static int el_pbjson_value(el_buf *b, const ProtobufCFieldDescriptor *f, const void *slot,
			   size_t lim)
{
	char num[40];
	int n, rv;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		el_buf_add_i64(b, *(const int32_t *)slot);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		el_buf_add_u64(b, *(const uint32_t *)slot);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		el_buf_add_i64(b, *(const int64_t *)slot);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		el_buf_add_u64(b, *(const uint64_t *)slot);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE: {
		double v = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)slot
							    : *(const double *)slot;
		if (!isfinite(v))
			v = 0;
		n = snprintf(num, sizeof(num), "%.15g", v);
		el_buf_add(b, num, (size_t)n);
		break;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)slot)
			el_buf_addlit(b, "true");
		else
			el_buf_addlit(b, "false");
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		int32_t v = *(const int32_t *)slot;
		const char *nm = el_pbjson_enum_name(f->descriptor, v);
		if (nm)
			el_json_str(b, el_span_make(nm, strlen(nm)));
		else
			el_buf_add_i64(b, v);
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		const char *str = *(char *const *)slot;
		if (str)
			el_json_str(b, el_span_make(str, strlen(str)));
		else
			el_buf_addlit(b, "\"\"");
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = slot;
		el_buf_addc(b, '"');
		el_pbjson_b64(b, bd->data, bd->len);
		el_buf_addc(b, '"');
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(ProtobufCMessage *const *)slot;
		if (sub == NULL)
			el_buf_addlit(b, "null");
		else if ((rv = el_pbjson_enc(b, sub, lim)) != 0)
			return rv;
		break;
	}
	}
	return b->len > lim ? -E2BIG : 0;
}

/* el_pbjson_enc_field - append the value of field f of m, bounded as el_pbjson_value */
static int el_pbjson_enc_field(el_buf *b, const ProtobufCMessage *m,
			       const ProtobufCFieldDescriptor *f, size_t lim)
{
	const char *slot = (const char *)m + f->offset;
	int rv;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = EL_PB_MEMBER(size_t, m, f->quantifier_offset), k;
		const char *arr = *(char *const *)slot;
		size_t esz = el_pbjson_elem_size(f->type);
		el_buf_addc(b, '[');
		for (k = 0; k < n; k++) {
			if (k)
				el_buf_addc(b, ',');
			if ((rv = el_pbjson_value(b, f, arr + k * esz, lim)) != 0)
				return rv;
		}
		el_buf_addc(b, ']');
		return 0;
	}
	return el_pbjson_value(b, f, slot, lim);
}

/* el_pbjson_enc - append m as a JSON object, bounded as el_pbjson_value */
static int el_pbjson_enc(el_buf *b, const ProtobufCMessage *m, size_t lim)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;
	unsigned i;
	int first = 1, rv;

	el_buf_addc(b, '{');
	for (i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    EL_PB_MEMBER(uint32_t, m, f->quantifier_offset) != f->id)
			continue;
		if (!first)
			el_buf_addc(b, ',');
		first = 0;
		el_json_key(b, f->name, strlen(f->name));
		if ((rv = el_pbjson_enc_field(b, m, f, lim)) != 0)
			return rv;
	}
	el_buf_addc(b, '}');
	return 0;
}

/* el_pbjson_limit - the length b may reach with max more bytes (saturating) */
static size_t el_pbjson_limit(const el_buf *b, size_t max)
{
	return max > SIZE_MAX - b->len ? SIZE_MAX : b->len + max;
}

/* el_pbjson_encode_field_max - see el_pbjson.h */
int el_pbjson_encode_field_max(el_buf *b, const ProtobufCMessage *m,
			       const ProtobufCFieldDescriptor *f, size_t max)
{
	size_t start = b->len;
	int rv = el_pbjson_enc_field(b, m, f, el_pbjson_limit(b, max));

	if (rv == 0 && b->len - start > max)
		rv = -E2BIG; /* the closing bracket of a list */
	if (rv != 0)
		b->len = start;
	return rv;
}

/* el_pbjson_encode_max - see el_pbjson.h */
int el_pbjson_encode_max(el_buf *b, const ProtobufCMessage *m, size_t max)
{
	size_t start = b->len;
	int rv = el_pbjson_enc(b, m, el_pbjson_limit(b, max));

	if (rv == 0 && b->len - start > max)
		rv = -E2BIG; /* the closing brace */
	if (rv != 0)
		b->len = start;
	return rv;
}

/* el_pbjson_encode_field - see el_pbjson.h */
void el_pbjson_encode_field(el_buf *b, const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	(void)el_pbjson_enc_field(b, m, f, SIZE_MAX);
}

/* el_pbjson_encode - see el_pbjson.h */
void el_pbjson_encode(el_buf *b, const ProtobufCMessage *m)
{
	(void)el_pbjson_enc(b, m, SIZE_MAX);
}

static const char el_pbjson_b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* el_pbjson_b64 - see el_pbjson.h */
void el_pbjson_b64(el_buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t i;

	el_buf_reserve(b, (n + 2) / 3 * 4);
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		el_buf_addc(b, el_pbjson_b64chars[v >> 18]);
		el_buf_addc(b, el_pbjson_b64chars[(v >> 12) & 63]);
		el_buf_addc(b, el_pbjson_b64chars[(v >> 6) & 63]);
		el_buf_addc(b, el_pbjson_b64chars[v & 63]);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		el_buf_addc(b, el_pbjson_b64chars[v >> 18]);
		el_buf_addc(b, el_pbjson_b64chars[(v >> 12) & 63]);
		el_buf_addlit(b, "==");
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		el_buf_addc(b, el_pbjson_b64chars[v >> 18]);
		el_buf_addc(b, el_pbjson_b64chars[(v >> 12) & 63]);
		el_buf_addc(b, el_pbjson_b64chars[(v >> 6) & 63]);
		el_buf_addc(b, '=');
	}
}

/* el_pbjson_unb64 - see el_pbjson.h */
int el_pbjson_unb64(el_buf *out, const char *s, size_t n)
{
	uint32_t acc = 0;
	size_t i, bits = 0, pad = 0;

	while (n > 0 && s[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad && (n + pad) % 4 != 0))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		const char *q = memchr(el_pbjson_b64chars, s[i], 64);
		if (q == NULL || s[i] == '\0')
			return -EINVAL;
		acc = (acc << 6) | (uint32_t)(q - el_pbjson_b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			el_buf_addc(out, (char)((acc >> bits) & 0xff));
		}
	}
	return 0;
}
