/*
 * libFuzzer: a pack handler's outcome as pack-run reads it
 * (packevent_from_handler): its standard output and error tail, how it
 * exited; and a JSON line as pack-run reads events from standard input
 * (packevent_from_line).  Input: a byte for the exit (mod 4: exit 0,
 * exit 3, killed, timed out), a byte for the kind (odd: a JSON line),
 * then the output.  Whatever it is, there is an event to post: the
 * handler's, or a FATAL saying what went wrong.
 */
#include "config.h"

#include <sys/wait.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "packevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pack_json[] =
	    "{\"name\":\"P\",\"events\":[{\"name\":\"Ping\"}],"
	    "\"commands\":[{\"name\":\"Echo\",\"events\":[\"Echoed\"],"
	    "\"handler\":\"cat\"}]}";
	static const int exits[] = { 0, 3 << 8, SIGKILL, SIGTERM };
	static struct pack *pack;
	struct handler_result r = { .pid = 42, .err_tail = "" };
	struct packevent e = { 0 };
	char err[256] = "", *out;

	if (pack == NULL &&
	    (pack = pack_parse(
		 pack_json, sizeof(pack_json) - 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_handler: %s\n", err);
		abort();
	}
	if (size < 2)
		return 0;
	if ((out = malloc(size - 1)) == NULL)
		abort();
	memcpy(out, data + 2, size - 2);
	out[size - 2] = '\0';
	if (data[1] & 1) {
		if (packevent_from_line(out, size - 2, &e, err, sizeof(err)) ==
			0 &&
		    (e.event == NULL || e.payload == NULL))
			abort();
	} else {
		r.wstatus = exits[data[0] % 4];
		r.timed_out = data[0] % 4 == 3;
		r.out = out;
		r.outlen = size - 2;
		r.err_tail = data[0] & 4 ? out : "";
		(void)packevent_from_handler(
		    pack_command(pack, "Echo"), &r, &e);
		if (e.event == NULL)
			abort(); /* nothing to post */
	}
	packevent_free(&e);
	free(out);
	return 0;
}
