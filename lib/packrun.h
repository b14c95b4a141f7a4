/*
 * pack-run(1) as a whole: registers the pack, runs a handler for each
 * action it takes and posts the result, posts events read from
 * standard input, serves health checks, writes --tee output, and on
 * SIGTERM drains (stops polling, lets handlers finish, posts their
 * results) before it exits.
 */
#ifndef EVPIPE_PACKRUN_H
#define EVPIPE_PACKRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flyte.h"
#include "pack.h"
#include "packevent.h"

enum packrun_input {
	PACKRUN_INPUT_CLOUDEVENTS, /* delimited CloudEvents (the default) */
	PACKRUN_INPUT_JSON_LINES, /* {"event", "payload"} lines */
	PACKRUN_INPUT_NONE,
};

#define PACKRUN_EVENTS_PENDING 64 /* input pauses with more unposted */

struct packrun_opts {
	struct pack *pack;
	struct flyte_opts flyte; /* registration and poll are set here */
	size_t max_handlers;
	int64_t drain_timeout_ms;
	bool tee;
	enum packrun_input input;
	bool exit_at_eof; /* the end of input drains and exits */
	size_t max_record;
	struct packevent_map map;
	const char *health_addr; /* NULL: every interface */
	long health_port; /* 0: off; -1: a free one */
	bool health_required; /* not listening is an error (else a warning) */
	const char *token_var; /* kept out of handlers' environment */
};

int packrun(const struct packrun_opts *);

#endif
