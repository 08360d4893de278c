/*
 * fuzz_parse - libFuzzer target for the log parser entry point.
 *
 * The input is split into lines and fed through one context, so state that
 * spans lines (Exchange #Fields: headers, year rollover) is exercised too.
 * Every record is rendered to JSON, which walks every field span: ASan
 * catches any span pointing outside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "el_buf.h"
#include "el_log.h"
#include "el_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static el_parse_ctx ctx;
	static int ready;
	static el_rec rec;
	el_buf out;
	size_t i = 0;

	if (!ready) {
		el_parse_ctx_init(&ctx);
		ready = 1;
	}
	ctx.force_year = 2026;
	el_buf_init(&out);
	while (i <= size) {
		const uint8_t *nl = i < size ? memchr(data + i, '\n', size - i) : NULL;
		size_t len = nl ? (size_t)(nl - (data + i)) : size - i;
		el_parse_line(&ctx, (const char *)data + i, len, &rec);
		if (rec.raw.len > len)
			el_panic("raw longer than the line");
		out.len = 0;
		el_rec_json(&ctx, &rec, &out);
		if (out.len < 2 || out.p[0] != '{' || out.p[out.len - 1] != '}')
			el_panic("JSON object not closed");
		i += len + 1;
	}
	el_buf_fini(&out);
	return 0;
}
