/*
 * libFuzzer: the Axway harvester's page of events (a 200 reply's JSON
 * body, axway.md 3.2) as harvester_parse reads it.  A page that parses
 * has its events sorted by sequence id, each with its encoded bytes.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "harvester.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena a;
	static bool ready;
	struct harvester_page page;
	char err[256] = "";
	size_t i;

	if (!ready) {
		arena_init(&a);
		ready = true;
	}
	memset(&page, 0, sizeof(page));
	if (harvester_parse(
		&a, (const char *)data, size, &page, err, sizeof(err)) == 0) {
		for (i = 0; i < page.n; i++) {
			if (page.events[i] == NULL ||
			    (page.raw[i].len > 0 && page.raw[i].data == NULL))
				abort();
			if (i > 0 && page.events[i - 1]->metadata != NULL &&
			    page.events[i]->metadata != NULL &&
			    page.events[i - 1]->metadata->sequenceid >
				page.events[i]->metadata->sequenceid)
				abort(); /* not sorted */
		}
	} else if (err[0] == '\0') {
		abort(); /* refused without a reason */
	}
	arena_reset(&a);
	return 0;
}
