#include "config.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
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
	retry_log_init(&r->own, NULL);
	metric_register(&retries);
	metric_register(&reconnects);
}

static struct retry_log *
log_of(struct retry *r)
{
	return r->log != NULL ? r->log : &r->own;
}

/* Open from the loop, as soon as it runs. */
void
retry_now(struct retry *r)
{
	loop_timer_in(&r->timer, 0);
}

/*
 * The call failed (why: for the log).  Schedule the next open after the
 * backoff delay, unless max failures in a row were reached.
 */
bool
retry_later(struct retry *r, const char *why)
{
	int64_t ms;

	r->failures++;
	if (r->max > 0 && r->failures >= r->max) {
		linfo("%s; giving up after %llu attempts", why,
		    (unsigned long long)r->failures);
		return false;
	}
	metric_add(&retries, 1);
	ms = backoff_next(&r->bo);
	retry_log_failed(log_of(r), why, ms);
	loop_timer_in(&r->timer, ms);
	return true;
}

/* The peer answered: the next failure starts the backoff afresh. */
void
retry_progress(struct retry *r)
{
	r->failures = 0;
	backoff_reset(&r->bo);
	if (r->initial_ms > 0)
		r->bo.next_ms = r->initial_ms;
	retry_log_ok(log_of(r));
}

void
retry_log_init(struct retry_log *l, const char *peer)
{
	*l = (struct retry_log){ .peer = peer, .every_ms = RETRY_LOG_EVERY_MS };
}

void
retry_log_failed(struct retry_log *l, const char *why, int64_t delay_ms)
{
	int64_t now = loop_now();
	char delay[DURATION_MAX], span[DURATION_MAX];

	duration_format(delay, sizeof(delay), delay_ms);
	if (l->failures++ == 0) {
		l->since = l->logged = now;
		lwarn("%s; retrying in %s", why, delay);
	} else if (now - l->logged >= l->every_ms) {
		l->logged = now;
		duration_format(span, sizeof(span), now - l->since);
		lwarn("%s; %llu failed attempts in %s, retrying in %s", why,
		    (unsigned long long)l->failures, span, delay);
	} else {
		linfo("%s; retrying in %s", why, delay);
	}
}

void
retry_log_ok(struct retry_log *l)
{
	char span[DURATION_MAX];

	if (l->failures == 0)
		return;
	metric_add(&reconnects, 1);
	duration_format(span, sizeof(span), loop_now() - l->since);
	lnotice("%s%sreconnected after %llu attempt%s, %s",
	    l->peer != NULL ? l->peer : "", l->peer != NULL ? ": " : "",
	    (unsigned long long)l->failures, l->failures == 1 ? "" : "s", span);
	l->failures = 0;
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
