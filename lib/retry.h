/*
 * Re-opening a long-lived call after it failed, with gRPC connection
 * backoff (backoff.h): the tool says how to open its call; when the
 * call ends with a status worth retrying, retry_later() schedules the
 * next open after the backoff delay; retry_progress() (the server
 * answered: headers or a message arrived) resets the backoff, as
 * connection-backoff.md resets it once a connection is established.
 *
 * An operator sees, at the default level, besides the tool's own line
 * for the first failure: "still failing after N attempts in T s" at
 * most every RETRY_TELL_EVERY_MS (in the whole process), and
 * "reconnected after N failed attempts in T s" when the peer answers
 * again.  The counts are metrics (evpipe_retries_total,
 * evpipe_reconnects_total).
 *
 * Which statuses are worth retrying is the tool's decision;
 * retry_transient() is the usual answer: UNAVAILABLE (and the
 * connection-level failures that map to it), RESOURCE_EXHAUSTED from a
 * busy server, DEADLINE_EXCEEDED of one attempt, INTERNAL and UNKNOWN
 * from a broken stream or a crashed handler, ABORTED.
 */
#ifndef EVPIPE_RETRY_H
#define EVPIPE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "loop.h"

#define RETRY_TELL_EVERY_MS 30000

struct retry {
	struct backoff bo;
	struct loop_timer timer;
	void (*open)(struct retry *, void *); /* (re)open the call */
	void *ctx;
	uint64_t max; /* attempts in a row before giving up; 0: forever */
	uint64_t failures; /* in a row, since the last progress */
	uint64_t opens; /* in all */
	int64_t failing_since; /* loop_now() of the first failure in a row */
	double initial_ms; /* EVPIPE_RETRY_INITIAL_MS, or 0 */
};

void retry_init(struct retry *, void (*)(struct retry *, void *), void *);
void retry_now(struct retry *);
/* Schedule the next open; false (nothing scheduled) once max is reached. */
bool retry_later(struct retry *, const char *);
void retry_progress(struct retry *);
void retry_cancel(struct retry *);
bool retry_transient(int);

#endif
