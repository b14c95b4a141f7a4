/*
 * Re-opening a long-lived call after it failed, with gRPC connection
 * backoff (backoff.h): the tool says how to open its call; when the
 * call ends with a status worth retrying, retry_later() schedules the
 * next open after the backoff delay; retry_progress() (the server
 * answered: headers or a message arrived) resets the backoff, as
 * connection-backoff.md resets it once a connection is established.
 *
 * Which statuses are worth retrying is the tool's decision;
 * retry_transient() is the usual answer: UNAVAILABLE (and the
 * connection-level failures that map to it), RESOURCE_EXHAUSTED from a
 * busy server, DEADLINE_EXCEEDED of one attempt, INTERNAL and UNKNOWN
 * from a broken stream or a crashed handler, ABORTED.
 *
 * An outage is told at the default level (struct retry_log, below): the
 * first failed attempt, then a count at most every 30 s, then
 * "reconnected"; each attempt at -v.  Each retry has its own log unless
 * it shares one with the other calls to the same peer (r->log).  The
 * counts are metrics: evpipe_retries_total, evpipe_reconnects_total.
 */
#ifndef EVPIPE_RETRY_H
#define EVPIPE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "loop.h"

/*
 * An outage as an operator sees it, shared by the retries of the calls
 * to one peer: the first failed attempt is a warning saying why, then at
 * most one line every every_ms with the count so far; the first success
 * after failures says "reconnected after N attempts, T s".
 */
#define RETRY_LOG_EVERY_MS 30000

struct retry_log {
	const char *peer; /* names it in "reconnected": a URL, or NULL */
	int64_t every_ms;
	uint64_t failures; /* attempts failed since the last success */
	int64_t since; /* loop_now() at the first of them */
	int64_t logged; /* loop_now() at the last line */
};

void retry_log_init(struct retry_log *, const char *);
/* An attempt failed (why); the next one is in delay_ms. */
void retry_log_failed(struct retry_log *, const char *, int64_t);
/* The peer answered. */
void retry_log_ok(struct retry_log *);

struct retry {
	struct backoff bo;
	struct loop_timer timer;
	void (*open)(struct retry *, void *); /* (re)open the call */
	void *ctx;
	uint64_t max; /* attempts in a row before giving up; 0: forever */
	uint64_t failures; /* in a row, since the last progress */
	uint64_t opens; /* in all */
	double initial_ms; /* EVPIPE_RETRY_INITIAL_MS, or 0 */
	struct retry_log own; /* how its outage is told, unless... */
	struct retry_log *log; /* ...one shared with other calls to the peer */
};

void retry_init(struct retry *, void (*)(struct retry *, void *), void *);
void retry_now(struct retry *);
/* Schedule the next open; false (nothing scheduled) once max is reached. */
bool retry_later(struct retry *, const char *);
void retry_progress(struct retry *);
void retry_cancel(struct retry *);
bool retry_transient(int);

#endif
