/*
 * fuzz_pbjson - libFuzzer target for the frontend's JSON API entry point:
 * el_jsonp (the bounded JSON reader) and el_pbjson decoding any body as a
 * QueryRequest, then encoding what was decoded and decoding that again (a
 * round trip must succeed: the encoder's output is always valid input).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "el_buf.h"
#include "el_jsonp.h"
#include "el_log.h"
#include "el_pbjson.h"
#include "query.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	el_pbjson_limits lim = { .max_len = 65536, .max_str = 4096 };
	ProtobufCMessage *m = NULL, *m2 = NULL;
	char err[256];
	el_jdoc d;
	el_buf b;

	if (el_jsonp_parse(&d, (const char *)data, size, NULL, err, sizeof(err)) == 0) {
		size_t i;
		el_buf_init(&b);
		for (i = 0; i < d.n; i++)
			if (d.t[i].type == EL_JT_STR)
				el_jsonp_str(&d, i, &b);
		el_buf_fini(&b);
	}
	el_jsonp_fini(&d);
	if (el_pbjson_decode(&else__query_request__descriptor, (const char *)data, size, &lim, &m,
			     err, sizeof(err)) != 0)
		return 0;
	el_buf_init(&b);
	el_pbjson_encode(&b, m);
	lim.max_len = b.len + 1;
	if (el_pbjson_decode(&else__query_request__descriptor, b.p, b.len, &lim, &m2, err,
			     sizeof(err)) != 0)
		el_panic("re-decoding the encoder's output failed: %s", err);
	protobuf_c_message_free_unpacked(m2, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	el_buf_fini(&b);
	return 0;
}
