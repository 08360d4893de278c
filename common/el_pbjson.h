/*
 * el_pbjson - protobuf-c messages to and from JSON, driven by the generated
 * descriptors (ProtobufCMessageDescriptor), so the frontend's JSON API is
 * exactly the messages of proto/query.proto and elsectl speaks the same.
 *
 * Mapping (docs/api.md): an object per message, keys are the proto field
 * names as written in the .proto file; enums by value name ("Q_OK"; a
 * number that is a valid value is also accepted on input); 32- and 64-bit
 * integers as JSON numbers (input also accepts a decimal string for 64-bit
 * fields, as proto3 JSON writes them); double/float as numbers; bool as
 * true/false; bytes as base64; repeated fields as arrays; a oneof as the
 * one member present.  The encoder writes every field, zero values and
 * empty lists included, so a client never has to know proto3's defaults;
 * an absent sub-message is null.  On input, null means "absent" (default).
 *
 * OWNERSHIP: el_pbjson_decode() returns a message allocated with malloc
 * whose parts the caller frees with protobuf_c_message_free_unpacked(m,
 * NULL) (the system allocator), exactly like an unpacked message.  The
 * encoder appends to the caller's buffer.
 * ERRORS: decoding: 0; -EINVAL for malformed JSON, an unknown field, a duplicate
 * field, a wrong type, a value out of range, two members of one oneof,
 * an unknown enum name; -E2BIG for a limit (depth, list length, string
 * length, input size).  err names the field by its path ("search.limit:
 * expected an unsigned 32-bit integer").  Encoding: the _max variants
 * -E2BIG past their bound.
 * THREADS: reentrant.
 * SECURITY: the JSON is untrusted: parsed by el_jsonp within the limits,
 * every value type-checked against the descriptor, nesting bounded by
 * max_depth (proto/query.proto has no recursive messages, but the limit
 * holds regardless), strings must be valid UTF-8 without NUL (C strings).
 * A message unpacked from a peer is encoded with a bound: the _max variants.
 */
#ifndef EL_PBJSON_H
#define EL_PBJSON_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "el_buf.h"

typedef struct el_pbjson_limits {
	size_t max_len;     /* JSON bytes; 0 = 1 MiB */
	unsigned max_depth; /* nested messages; 0 = 8 */
	size_t max_list;    /* entries of one repeated field; 0 = 1000 */
	size_t max_str;     /* bytes of one string or bytes field; 0 = 65536 */
} el_pbjson_limits;

/*
 * el_pbjson_decode - parse json[0..len) (an object) as a message of desc.
 * lim may be NULL.  err (errcap bytes) gets the reason on failure.
 */
int el_pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
		     const el_pbjson_limits *lim, ProtobufCMessage **out, char *err, size_t errcap);

/* el_pbjson_encode - append m as a JSON object */
void el_pbjson_encode(el_buf *b, const ProtobufCMessage *m);

/* el_pbjson_encode_field - append the value of field f of m (as in the object) */
void el_pbjson_encode_field(el_buf *b, const ProtobufCMessage *m,
			    const ProtobufCFieldDescriptor *f);

/*
 * el_pbjson_encode_max, el_pbjson_encode_field_max - the same, for a
 * message from a peer: 0, or -E2BIG when the JSON would be longer than max
 * bytes, and b is then as it was.  JSON can be far longer than the wire
 * format (every field with its name, zero values included, strings escaped
 * up to 6 bytes a byte): an unpacked message bounds nothing.  The length is
 * checked after each value, so b may pass max by the JSON of one value
 * before the encoder stops: the longest string or bytes field of m, at most
 * 6 times its length (el_json_str reserves that much), never more.  A
 * caller that bounds both max and the frame m came from keeps b, and its
 * allocation, below EL_BUF_MAX.
 */
int el_pbjson_encode_max(el_buf *b, const ProtobufCMessage *m, size_t max);
int el_pbjson_encode_field_max(el_buf *b, const ProtobufCMessage *m,
			       const ProtobufCFieldDescriptor *f, size_t max);

/* el_pbjson_enum_name - the name of value v of enum e, or NULL */
const char *el_pbjson_enum_name(const ProtobufCEnumDescriptor *e, int v);

/* el_pbjson_b64 - append p[0..n) as standard base64 with padding */
void el_pbjson_b64(el_buf *b, const void *p, size_t n);

/*
 * el_pbjson_unb64 - decode standard base64 (padding optional, no spaces)
 * from s[0..n) appending to out; -EINVAL if malformed.
 */
int el_pbjson_unb64(el_buf *out, const char *s, size_t n);

#endif
