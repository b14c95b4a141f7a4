/* The window of recent ids: exact membership, oldest forgotten first. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "dedupe.h"
#include "tap.h"

int
main(void)
{
	struct dedupe d;
	char key[32], val[32];
	int i, all = 1, gone = 1;

	dedupe_init(&d, 3);
	ok(dedupe_find(&d, "a") == NULL, "empty window knows nothing");
	dedupe_add(&d, "a", "1");
	dedupe_add(&d, "b", "2");
	dedupe_add(&d, "a", "other");
	is_str(dedupe_find(&d, "a"), "1", "a key added twice keeps its value");
	dedupe_add(&d, "c", "3");
	dedupe_add(&d, "d", "4");
	ok(dedupe_find(&d, "a") == NULL, "the oldest is forgotten");
	is_str(dedupe_find(&d, "b"), "2", "b still there");
	is_str(dedupe_find(&d, "d"), "4", "d there");
	dedupe_free(&d);

	/* Many keys through a window whose table wraps and shifts. */
	dedupe_init(&d, 1000);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "inv-%d", i);
		snprintf(val, sizeof(val), "%d", i);
		dedupe_add(&d, key, val);
		if (i >= 1000 && i % 97 == 0) {
			snprintf(key, sizeof(key), "inv-%d", i - 1000);
			if (dedupe_find(&d, key) != NULL)
				gone = 0;
			snprintf(key, sizeof(key), "inv-%d", i - 999);
			snprintf(val, sizeof(val), "%d", i - 999);
			if (dedupe_find(&d, key) == NULL ||
			    strcmp(dedupe_find(&d, key), val) != 0)
				all = 0;
		}
	}
	ok(all, "the last 1000 keys are all found with their values");
	ok(gone, "key 1001 back is always forgotten");
	is_int(d.n, 1000, "window holds exactly 1000");
	dedupe_free(&d);

	dedupe_init(&d, 0);
	dedupe_add(&d, "a", "1");
	ok(dedupe_find(&d, "a") == NULL, "a window of 0 is off");
	dedupe_free(&d);
	return done_testing();
}
