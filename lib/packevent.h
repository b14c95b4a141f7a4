/*
 * The Flyte events pack-run(1) posts, and where they come from: a
 * handler's outcome (its output, or a FATAL event saying what went
 * wrong), a CloudEvent from standard input, a JSON line; and the
 * CloudEvents --tee writes for them.
 */
#ifndef EVPIPE_PACKEVENT_H
#define EVPIPE_PACKEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cloudevent.h"
#include "handler.h"
#include "pack.h"

#define PACKEVENT_STDERR_MAX 2048 /* of the stderr tail in a FATAL */
#define PACKEVENT_OUTPUT_MAX 1024 /* of bad output quoted in a FATAL */

struct packevent {
	char *event; /* the event name */
	char *payload; /* JSON text */
	char *error; /* for a FATAL made here: what went wrong, one line */
};

/* How --event-name maps CloudEvent types to event names. */
struct packevent_map {
	const char *const *rules; /* "TYPE=NAME", or "NAME" for the rest */
	size_t n;
};

bool packevent_from_handler(const struct pack_command *,
    const struct handler_result *, struct packevent *);
void packevent_fatal(struct packevent *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
int packevent_from_line(
    const char *, size_t, struct packevent *, char *, size_t);
void packevent_from_cloudevent(const CloudEvent *, const struct packevent_map *,
    struct packevent *, int64_t *, int32_t *);
CloudEvent *packevent_tee(
    struct arena *, const char *, const char *, const char *, const char *);
void packevent_free(struct packevent *);

#endif
