/*
 * libFuzzer: EngFlow lifecycle notifications (engflow.md) as resolve
 * reads them: arbitrary bytes as a CloudEvent (ce_unpack), then
 * lc_parse on the event, whose data is an Any the peer chose.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cloudevent.h"
#include "lifecycle.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena a;
	static bool ready;
	struct lc_notice n;
	char err[256] = "";
	CloudEvent *ev;
	int r;

	if (!ready) {
		arena_init(&a);
		ready = true;
	}
	if ((ev = ce_unpack(&a, data, size, err, sizeof(err))) != NULL) {
		memset(&n, 0, sizeof(n));
		r = lc_parse(&a, ev, &n, err, sizeof(err));
		if (r == 1 && n.invocation_id == NULL)
			abort();
		if (r == -1 && err[0] == '\0')
			abort(); /* refused without a reason */
	}
	arena_reset(&a);
	return 0;
}
