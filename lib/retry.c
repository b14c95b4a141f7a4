#include "config.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "grpcwire.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"

static struct metric retries = {
	.name = "retries_total",
	.help = "Failed attempts at a call or connection that were retried.",
	.type = METRIC_COUNTER,
};
static struct metric reconnects = {
	.name = "reconnects_total",
	.help = "Times a peer answered again after failed attempts.",
	.type = METRIC_COUNTER,
};
static int64_t told_at = -1; /* the last "still failing" line */

static void
fire(struct loop_timer *t)
{
	struct retry *r = t->ctx;

	r->opens++;
	r->open(r, r->ctx);
}

/*
 * EVPIPE_RETRY_INITIAL_MS (evpipe(7)) shortens the first delay, for
 * tests that kill servers on purpose; the growth and cap stay.
 */
void
retry_init(struct retry *r, void (*open)(struct retry *, void *), void *ctx)
{
	const char *s = getenv("EVPIPE_RETRY_INITIAL_MS");
	struct timespec ts;
	long ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	*r = (struct retry){ .open = open, .ctx = ctx };
	backoff_init(&r->bo,
	    (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^
		(uint64_t)ts.tv_sec);
	if (s != NULL && (ms = strtol(s, NULL, 10)) > 0 &&
	    ms < BACKOFF_INITIAL_MS)
		r->bo.next_ms = r->initial_ms = (double)ms;
	loop_timer_init(&r->timer, fire, r);
	metric_register(&retries);
	metric_register(&reconnects);
}

/* Open from the loop, as soon as it runs. */
void
retry_now(struct retry *r)
{
	loop_timer_in(&r->timer, 0);
}

/* EVPIPE_RETRY_INITIAL_MS shortens this too: 30 first delays, not 30 s. */
static int64_t
tell_every(const struct retry *r)
{
	return r->initial_ms > 0 ? (int64_t)(30 * r->initial_ms) :
				   RETRY_TELL_EVERY_MS;
}

/*
 * The call failed (why: for the log).  Schedule the next open after the
 * backoff delay, unless max failures in a row were reached.
 */
bool
retry_later(struct retry *r, const char *why)
{
	int64_t ms, now = loop_now();

	if (r->failures++ == 0)
		r->failing_since = now;
	if (r->max > 0 && r->failures >= r->max) {
		linfo("%s; giving up after %llu attempts", why,
		    (unsigned long long)r->failures);
		return false;
	}
	metric_add(&retries, 1);
	ms = backoff_next(&r->bo);
	if (logging(LOG_INFO)) {
		linfo("%s; retrying in %.1fs", why, (double)ms / 1000);
	} else if (r->failures > 1 &&
	    (told_at < 0 || now - told_at >= tell_every(r))) {
		lwarn("%s; still failing after %llu attempts in %.0fs; "
		      "retrying in %.1fs",
		    why, (unsigned long long)r->failures,
		    (double)(now - r->failing_since) / 1000, (double)ms / 1000);
		told_at = now;
	}
	if (r->failures == 1 && told_at < 0)
		told_at = now; /* the tool tells the first one itself */
	loop_timer_in(&r->timer, ms);
	return true;
}

/* The peer answered: the next failure starts the backoff afresh. */
void
retry_progress(struct retry *r)
{
	if (r->failures > 0) {
		lnotice("reconnected after %llu failed attempt%s in %.1fs",
		    (unsigned long long)r->failures,
		    r->failures == 1 ? "" : "s",
		    (double)(loop_now() - r->failing_since) / 1000);
		metric_add(&reconnects, 1);
	}
	r->failures = 0;
	backoff_reset(&r->bo);
	if (r->initial_ms > 0)
		r->bo.next_ms = r->initial_ms;
}

void
retry_cancel(struct retry *r)
{
	loop_timer_stop(&r->timer);
}

/*
 * Statuses a long-lived call is re-opened after: the peer or the path
 * to it failed, not the request (grpc.md section 11; Bazel's BES
 * uploader retries all but INVALID_ARGUMENT and FAILED_PRECONDITION,
 * which are the caller's to decide).
 */
bool
retry_transient(int code)
{
	switch (code) {
	case GRPC_UNAVAILABLE:
	case GRPC_RESOURCE_EXHAUSTED:
	case GRPC_DEADLINE_EXCEEDED:
	case GRPC_INTERNAL:
	case GRPC_ABORTED:
	case GRPC_UNKNOWN:
		return true;
	default:
		return false;
	}
}
