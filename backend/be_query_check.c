/*
 * be_query_check - validation and JSON of query.proto messages, driven by
 * the protobuf-c descriptors so that every field of every call is covered,
 * including fields added to the proto later.  See be_query.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "be_query.h"
#include "el_json.h"

#define BE_QCHECK_MAX_BYTES 16384
#define BE_QCHECK_MAX_TIME_US 253402300799999999LL

/* be_qcheck_utf8 - is s[0..n) valid UTF-8 without NUL (overlongs and surrogates refused) */
static bool be_qcheck_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t k;
		uint32_t cp;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			k = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 3, cp = c & 0x07;
		else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}

/* be_qcheck_field_set - is a oneof member the chosen one (others always "set") */
static bool be_qcheck_field_set(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)((const char *)m + f->quantifier_offset) == f->id;
	return true;
}

/* be_qcheck_why - "path.field: reason" into why */
static int be_qcheck_why(char *why, size_t cap, const char *path, const char *field,
			 const char *reason)
{
	snprintf(why, cap, "%s%s%s: %s", path, path[0] ? "." : "", field, reason);
	return -EINVAL;
}

/* be_qcheck_value - one value of field f at p */
static int be_qcheck_value(const ProtobufCFieldDescriptor *f, const void *p, const char *path,
			   char *why, size_t cap, int depth);

/* be_qcheck_msg - every field of m */
static int be_qcheck_msg(const ProtobufCMessage *m, const char *path, char *why, size_t cap,
			 int depth)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int rv;

	if (depth > 8)
		return be_qcheck_why(why, cap, path, "", "nested too deeply");
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m + f->offset;

		if (!be_qcheck_field_set(m, f))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
			size_t sz = f->type == PROTOBUF_C_TYPE_STRING ||
						    f->type == PROTOBUF_C_TYPE_MESSAGE
					    ? sizeof(void *)
				    : f->type == PROTOBUF_C_TYPE_BYTES ? sizeof(ProtobufCBinaryData)
				    : f->type == PROTOBUF_C_TYPE_INT64 ||
						    f->type == PROTOBUF_C_TYPE_UINT64 ||
						    f->type == PROTOBUF_C_TYPE_DOUBLE ||
						    f->type == PROTOBUF_C_TYPE_SINT64 ||
						    f->type == PROTOBUF_C_TYPE_SFIXED64 ||
						    f->type == PROTOBUF_C_TYPE_FIXED64
					    ? 8
				    : f->type == PROTOBUF_C_TYPE_BOOL ? sizeof(protobuf_c_boolean)
								      : 4;
			const char *arr = *(const char *const *)base;

			if (n > BE_QUERY_MAX_LIST)
				return be_qcheck_why(why, cap, path, f->name, "too many entries");
			for (size_t j = 0; j < n; j++)
				if ((rv = be_qcheck_value(f, arr + j * sz, path, why, cap,
							  depth)) != 0)
					return rv;
			continue;
		}
		if ((rv = be_qcheck_value(f, base, path, why, cap, depth)) != 0)
			return rv;
	}
	return 0;
}

static int be_qcheck_value(const ProtobufCFieldDescriptor *f, const void *p, const char *path,
			   char *why, size_t cap, int depth)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)p;
		size_t max =
			strcmp(f->name, "user_agent") == 0 ? BE_QUERY_MAX_UA : BE_QUERY_MAX_STR;
		size_t n = s ? strnlen(s, max + 1) : 0;
		if (n > max)
			return be_qcheck_why(why, cap, path, f->name, "too long");
		if (!be_qcheck_utf8((const unsigned char *)s, n))
			return be_qcheck_why(why, cap, path, f->name, "not UTF-8");
		return 0;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *b = p;
		if (b->len > BE_QCHECK_MAX_BYTES)
			return be_qcheck_why(why, cap, path, f->name, "too long");
		return 0;
	}
	case PROTOBUF_C_TYPE_ENUM: {
		int v = *(const int *)p;
		if (protobuf_c_enum_descriptor_get_value(f->descriptor, v) == NULL)
			return be_qcheck_why(why, cap, path, f->name, "unknown value");
		return 0;
	}
	case PROTOBUF_C_TYPE_UINT32: {
		uint32_t v = *(const uint32_t *)p;
		if ((strcmp(f->name, "limit") == 0 || strcmp(f->name, "top") == 0) &&
		    v > BE_QUERY_MAX_LIST)
			return be_qcheck_why(why, cap, path, f->name, "over 1000");
		return 0;
	}
	case PROTOBUF_C_TYPE_INT64: {
		int64_t v = *(const int64_t *)p;
		size_t l = strlen(f->name);
		bool time = l > 3 && strcmp(f->name + l - 3, "_us") == 0;
		if (time && (v < 0 || v > BE_QCHECK_MAX_TIME_US))
			return be_qcheck_why(why, cap, path, f->name, "time out of range");
		if (v < 0)
			return be_qcheck_why(why, cap, path, f->name, "negative");
		return 0;
	}
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
		char sp[256];
		if (sub == NULL)
			return 0;
		snprintf(sp, sizeof(sp), "%s%s%s", path, path[0] ? "." : "", f->name);
		return be_qcheck_msg(sub, sp, why, cap, depth + 1);
	}
	default:
		return 0;
	}
}

/* be_query_check - see be_query.h */
int be_query_check(const ProtobufCMessage *m, char *why, size_t cap)
{
	why[0] = '\0';
	return be_qcheck_msg(m, "", why, cap, 0);
}

/* be_qjson_value - one value as JSON */
static void be_qjson_value(const ProtobufCFieldDescriptor *f, const void *p, el_buf *out)
{
	char num[32];

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(const char *const *)p;
		el_json_str(out, el_span_make(s ? s : "", s ? strlen(s) : 0));
		return;
	}
	case PROTOBUF_C_TYPE_BYTES:
		el_buf_addlit(out, "\"\"");
		return;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *v =
			protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
		el_json_str(out, el_span_make(v ? v->name : "", v ? strlen(v->name) : 0));
		return;
	}
	case PROTOBUF_C_TYPE_BOOL:
		if (*(const protobuf_c_boolean *)p)
			el_buf_addlit(out, "true");
		else
			el_buf_addlit(out, "false");
		return;
	case PROTOBUF_C_TYPE_UINT32:
		snprintf(num, sizeof(num), "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT32:
		snprintf(num, sizeof(num), "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
		snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
		snprintf(num, sizeof(num), "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		snprintf(num, sizeof(num), "%.17g", *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_MESSAGE: {
		const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)p;
		if (sub)
			be_query_json(sub, out);
		else
			el_buf_addlit(out, "null");
		return;
	}
	default:
		el_buf_addlit(out, "null");
		return;
	}
	el_buf_add(out, num, strlen(num));
}

/* be_query_json - see be_query.h; only set (non-default) fields are written */
void be_query_json(const ProtobufCMessage *m, el_buf *out)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	bool first = true;

	el_buf_addc(out, '{');
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m + f->offset;

		if (!be_qcheck_field_set(m, f) || strstr(f->name, "password") != NULL ||
		    f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		/* Skip defaults: zero numbers, empty strings, false. */
		if (f->type == PROTOBUF_C_TYPE_STRING) {
			const char *s = *(const char *const *)base;
			if (s == NULL || s[0] == '\0')
				continue;
		} else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
			if (*(const void *const *)base == NULL)
				continue;
		} else if (f->type == PROTOBUF_C_TYPE_INT64 || f->type == PROTOBUF_C_TYPE_UINT64 ||
			   f->type == PROTOBUF_C_TYPE_DOUBLE) {
			if (*(const int64_t *)base == 0)
				continue;
		} else if (f->type != PROTOBUF_C_TYPE_BYTES && *(const int32_t *)base == 0) {
			continue;
		}
		if (!first)
			el_buf_addc(out, ',');
		first = false;
		el_json_key(out, f->name, strlen(f->name));
		be_qjson_value(f, base, out);
	}
	el_buf_addc(out, '}');
}
