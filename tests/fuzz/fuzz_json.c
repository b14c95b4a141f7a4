/*
 * libFuzzer: the JSON line decoder.  Whatever line it accepts must
 * survive JSON -> protobuf -> JSON, and the JSON it writes must read
 * back to the same JSON (the round trip evcat promises).
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cejson.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char *
through_protobuf(struct arena *a, const char *s, size_t n)
{
	char err[256];
	CloudEvent *ev;
	uint8_t *buf;
	size_t len;
	cJSON *v;

	if ((v = json_parse_line(s, n, err, sizeof(err))) == NULL)
		return NULL;
	ev = cJSON_IsObject(v) ? ce_from_json(a, v, err, sizeof(err)) : NULL;
	cJSON_Delete(v);
	if (ev == NULL)
		return NULL;
	len = protobuf_c_message_get_packed_size(&ev->base);
	buf = arena_alloc(a, len + 1);
	protobuf_c_message_pack(&ev->base, buf);
	if ((ev = ce_unpack(a, buf, len, err, sizeof(err))) == NULL)
		abort(); /* we wrote something we refuse to read */
	return ce_to_json(ev, err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena a;
	static bool ready;
	char *once, *twice;

	if (!ready) {
		arena_init(&a);
		ready = true;
	}
	if ((once = through_protobuf(&a, (const char *)data, size)) == NULL)
		goto out;
	if ((twice = through_protobuf(&a, once, strlen(once))) == NULL)
		abort(); /* our own JSON does not read back */
	if (strcmp(once, twice) != 0)
		abort(); /* the round trip is not exact */
	cJSON_free(twice);
	cJSON_free(once);
out:
	arena_reset(&a);
	return 0;
}
