/*
 * libFuzzer: the JSON line decoder.  Whatever line it accepts must
 * survive JSON -> protobuf -> JSON, and the JSON it writes must read
 * back to the same JSON (the round trip evcat promises), in each form
 * of protobuf data that reads back (base64, decoded, evpipe 1).
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cejson.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct ce_json cj[3];

static bool
through_protobuf(struct ce_json *c, struct arena *a, const char *s, size_t n,
    struct strbuf *out)
{
	char err[256];
	CloudEvent *ev;
	struct jv *v;
	uint8_t *buf;
	size_t len;

	if ((v = jv_parse(a, s, n, err, sizeof(err))) == NULL)
		return false;
	if ((ev = ce_json_read(c, a, v, err, sizeof(err))) == NULL)
		return false;
	len = protobuf_c_message_get_packed_size(&ev->base);
	buf = arena_alloc(a, len + 1);
	protobuf_c_message_pack(&ev->base, buf);
	if ((ev = ce_unpack(a, buf, len, err, sizeof(err))) == NULL)
		abort(); /* we wrote something we refuse to read */
	if (ce_json_write(c, ev, out, err, sizeof(err)) < 0)
		abort(); /* we read something we cannot write */
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ce_data_form forms[] = { CE_FORM_BASE64, CE_FORM_JSON,
		CE_FORM_PROTO };
	static struct arena a;
	static bool ready;
	struct strbuf once = { 0 }, twice = { 0 };
	size_t i;

	if (!ready) {
		arena_init(&a);
		for (i = 0; i < 3; i++)
			ce_json_init(&cj[i], forms[i], NULL);
		ready = true;
	}
	for (i = 0; i < 3; i++) {
		strbuf_reset(&once);
		strbuf_reset(&twice);
		if (!through_protobuf(
			&cj[i], &a, (const char *)data, size, &once))
			break;
		if (!through_protobuf(&cj[i], &a, once.p, once.len, &twice))
			abort(); /* our own JSON does not read back */
		if (strcmp(once.p, twice.p) != 0)
			abort(); /* the round trip is not exact */
		arena_reset(&a);
	}
	arena_reset(&a);
	strbuf_free(&once);
	strbuf_free(&twice);
	return 0;
}
