/*
 * libFuzzer: the frame reader and the CloudEvent checks on arbitrary
 * bytes.  The input is served through a memfd in small reads, so records
 * split across reads are exercised too; every record that is accepted
 * must also convert to JSON.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "cejson.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena a;
	static bool ready;
	struct frame_reader fr;
	const uint8_t *body;
	CloudEvent *ev;
	char err[256], *json;
	size_t len;
	int fd, r;

	if (!ready) {
		arena_init(&a);
		ready = true;
	}
	if ((fd = memfd_create("fuzz", 0)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	lseek(fd, 0, SEEK_SET);
	frame_reader_init(&fr, fd, 64 * 1024);
	do {
		if (frame_fill(&fr) < 0)
			abort();
		while ((r = frame_next(&fr, &body, &len)) == FRAME_RECORD) {
			ev = ce_unpack(&a, body, len, err, sizeof(err));
			if (ev != NULL) {
				if ((json = ce_to_json(ev, err, sizeof(err))) ==
				    NULL)
					abort();
				cJSON_free(json);
			}
			arena_reset(&a);
		}
	} while (r == FRAME_AGAIN);
	frame_reader_free(&fr);
	close(fd);
	return 0;
}
