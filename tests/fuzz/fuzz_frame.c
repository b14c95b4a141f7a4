/*
 * libFuzzer: the frame reader and the CloudEvent checks on arbitrary
 * bytes.  The input is served through a memfd in small reads, so records
 * split across reads are exercised too; every record that is accepted
 * must also convert to JSON (unless it has the attribute evpipetypes,
 * which the JSON form keeps for itself), in each form, and that JSON
 * must read back.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cejson.h"
#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ce_data_form forms[] = { CE_FORM_BASE64, CE_FORM_JSON,
		CE_FORM_TEXT, CE_FORM_PROTO };
	static struct ce_json cj[4];
	static struct arena a;
	static bool ready;
	struct strbuf json = { 0 };
	struct frame_reader fr;
	const uint8_t *body;
	CloudEvent *ev;
	struct jv *v;
	char err[256];
	size_t len, i;
	int fd, r;

	if (!ready) {
		arena_init(&a);
		for (i = 0; i < 4; i++)
			ce_json_init(&cj[i], forms[i], NULL);
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
			for (i = 0; ev != NULL && i < 4; i++) {
				strbuf_reset(&json);
				if (ce_json_write(&cj[i], ev, &json, err,
					sizeof(err)) < 0) {
					if (strstr(err, CE_HINTS) == NULL)
						abort();
					break;
				}
				v = jv_parse(
				    &a, json.p, json.len, err, sizeof(err));
				if (v == NULL)
					abort(); /* we wrote bad JSON */
				if (forms[i] != CE_FORM_TEXT &&
				    ce_json_read(&cj[i], &a, v, err,
					sizeof(err)) == NULL)
					abort(); /* it does not read back */
			}
			arena_reset(&a);
		}
	} while (r == FRAME_AGAIN);
	frame_reader_free(&fr);
	strbuf_free(&json);
	close(fd);
	return 0;
}
