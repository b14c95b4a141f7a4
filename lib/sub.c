#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "duration.h"
#include "exitcode.h"
#include "log.h"
#include "retry.h"
#include "rfc3339.h"
#include "sig.h"
#include "statefile.h"
#include "sub.h"
#include "xalloc.h"

static struct sub_item *
item_at(struct sub *s, size_t i)
{
	return &s->ring[(s->head + i) % s->cap];
}

static void
save_state(struct sub *s)
{
	char err[300];

	if (s->o->state == NULL || s->watermark == s->saved)
		return;
	if (statefile_write(s->o->state, s->watermark, err, sizeof(err)) < 0) {
		lerr("state %s", err);
		sub_stop(s, EXIT_IO);
		return;
	}
	s->saved = s->watermark;
}

/* Runs at the end of the loop round in which the watermark moved. */
static void
save_fired(struct loop_timer *t)
{
	save_state(t->ctx);
}

/*
 * --max-pending events wait for their acknowledgements and reading is
 * held back: after EVPIPE_WAIT_WARN, say so (and again every ten times
 * as long), for the operator of a pipeline whose last stage does not
 * acknowledge.
 */
static void
held_fired(struct loop_timer *t)
{
	struct sub *s = t->ctx;
	char d[DURATION_MAX];

	duration_format(d, sizeof(d), loop_now() - s->held_since);
	s->held_told = true;
	lwarn("%zu events have waited %s for acknowledgements on %s "
	      "(--max-pending): reading is held back",
	    s->n, d, s->o->ack_from != NULL ? s->o->ack_from : "stdout");
	loop_timer_in(t, 10 * wait_warn_ms());
}

/* Acknowledgements made room: no longer held. */
static void
unheld(struct sub *s)
{
	char d[DURATION_MAX];

	if (!loop_timer_armed(&s->held) && !s->held_told)
		return;
	loop_timer_stop(&s->held);
	if (s->held_told) {
		duration_format(d, sizeof(d), loop_now() - s->held_since);
		lnotice("acknowledgements came: reading again after %s", d);
	}
	s->held_told = false;
}

/* Free the acknowledged items at the head; the watermark follows. */
static void
pop_acked(struct sub *s)
{
	struct sub_item *it;
	bool moved = false;

	while (s->n > 0 && (it = item_at(s, 0))->acked) {
		if (it->position > s->watermark) {
			s->watermark = it->position;
			moved = true;
		}
		free(it->id);
		free(it->token);
		it->id = it->token = NULL;
		s->head = (s->head + 1) % s->cap;
		s->n--;
	}
	if (s->n == 0 && s->skip_to > s->watermark) {
		s->watermark = s->skip_to;
		moved = true;
	}
	if (moved && s->o->state != NULL && !loop_timer_armed(&s->save))
		loop_timer_in(&s->save, 0);
	if (s->n < s->cap)
		unheld(s);
	if (s->paused && sub_room(s) && !s->stopping) {
		s->paused = false;
		if (s->src.resume != NULL)
			s->src.resume(s->src.ctx);
	}
	sub_check(s);
}

/* Hand items to the source's ack, in batches. */
static void
ack_batch(struct sub *s, struct sub_item **batch, size_t *nb, bool flush)
{
	if (*nb > 0 && (flush || *nb == 256)) {
		if (s->src.ack != NULL)
			s->src.ack(s->src.ctx, batch, *nb);
		*nb = 0;
	}
}

/* Acknowledge one item: upstream if it has a token from this stream. */
static void
ack_item(
    struct sub *s, struct sub_item *it, struct sub_item **batch, size_t *nb)
{
	it->acked = true;
	if (it->token != NULL && it->stream == s->stream) {
		batch[(*nb)++] = it;
		ack_batch(s, batch, nb, false);
	}
}

/* Everything queued up to mark seq is on stdout. */
static void
on_written(struct recout *r, uint64_t seq, void *ctx)
{
	struct sub *s = ctx;
	struct sub_item *it, *batch[256];
	size_t i, nb = 0;

	for (i = 0; i < s->n && (it = item_at(s, i))->seq <= seq; i++) {
		if (it->written)
			continue;
		it->written = true;
		if (!s->have_ackr && !it->acked)
			ack_item(s, it, batch, &nb);
	}
	ack_batch(s, batch, &nb, true);
	pop_acked(s);
}

static void
on_drain(struct recout *r, void *ctx)
{
	struct sub *s = ctx;

	if (s->paused && sub_room(s) && !s->stopping) {
		s->paused = false;
		if (s->src.resume != NULL)
			s->src.resume(s->src.ctx);
	}
	sub_check(s);
}

static void
on_out_error(struct recout *r, int err, void *ctx)
{
	struct sub *s = ctx;

	if (err == EPIPE) {
		linfo("stdout: reader went away");
		sub_stop(s, EXIT_OK);
	} else {
		lerr("stdout: %s", strerror(err));
		sub_stop(s, EXIT_IO);
	}
	sub_check(s);
}

static const struct recout_handlers out_handlers = {
	.on_written = on_written,
	.on_drain = on_drain,
	.on_error = on_out_error,
};

/*
 * An id came back on --ack-from: the oldest written, unacknowledged
 * item with that id is done (an id can be pending twice when the queue
 * redelivered it).
 */
static void
on_ack(struct ackr *a, const char *id, void *ctx)
{
	struct sub *s = ctx;
	struct sub_item *it, *batch[1];
	size_t i, nb = 0;

	for (i = 0; i < s->n; i++) {
		it = item_at(s, i);
		if (!it->acked && it->written && strcmp(it->id, id) == 0) {
			ack_item(s, it, batch, &nb);
			ack_batch(s, batch, &nb, true);
			pop_acked(s);
			return;
		}
	}
	ltrace("ack-from: %s: not pending", id);
}

static const struct ackr_handlers ackr_handlers = { .on_ack = on_ack };

/*
 * No event for --idle-timeout: a quiet subscription ends well; one that
 * is not connected now ends as an outage would after --retries (69 for
 * a server never reached: one cause, one status).
 */
static void
idle_fired(struct loop_timer *t)
{
	struct sub *s = t->ctx;
	int code;

	if (s->src.connected == NULL || s->src.connected(s->src.ctx)) {
		linfo("no event for %lld ms: stopping",
		    (long long)s->o->idle_timeout_ms);
		sub_stop(s, EXIT_OK);
		return;
	}
	code = s->last_code > 0 ? s->last_code : GRPC_UNAVAILABLE;
	if (code == GRPC_UNAVAILABLE && !s->answered)
		code = EXIT_CONNECT;
	lerr("%s: no event for %lld ms, and %s%s%s", s->o->endpoint,
	    (long long)s->o->idle_timeout_ms,
	    s->answered ? "not connected" : "never connected",
	    s->last_why[0] != '\0' ? ": " : "", s->last_why);
	sub_stop(s, code);
}

static void
grace_fired(struct loop_timer *t)
{
	struct sub *s = t->ctx;

	s->grace_over = true;
	if (s->n > 0)
		lwarn("stopping with %zu events not acknowledged; the "
		      "source delivers them again",
		    s->n);
	sub_check(s);
}

static void
on_signal(int signo, void *ctx)
{
	linfo("signal %d: finishing", signo);
	sub_stop(ctx, EXIT_OK);
}

static double
read_pending(struct metric *m)
{
	const struct sub *s = m->ctx;

	return (double)s->n;
}

/* The metrics of how far behind: from the event's time attribute. */
static void
note_time(struct sub *s, const CloudEvent *ev)
{
	const CEValue *v = ce_get(ev, "time");
	struct timespec now;
	double t;

	if (v == NULL || v->attr_case != CE_TIMESTAMP ||
	    v->ce_timestamp == NULL)
		return;
	t = (double)v->ce_timestamp->seconds +
	    (double)v->ce_timestamp->nanos / 1e9;
	clock_gettime(CLOCK_REALTIME, &now);
	metric_set(&s->m_last, t);
	metric_set(
	    &s->m_behind, (double)now.tv_sec + (double)now.tv_nsec / 1e9 - t);
}

void
sub_init(struct sub *s, const struct sub_opts *o)
{
	char err[300];
	int r;

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->cap = o->max_pending > 0 ? o->max_pending : SUB_MAX_PENDING;
	s->ring = xcalloc(s->cap, sizeof(*s->ring));
	s->next_seq = 1;
	s->stream = 1;
	s->watermark = s->saved = s->skip_to = -1;
	arena_init(&s->arena);
	loop_timer_init(&s->idle, idle_fired, s);
	loop_timer_init(&s->grace, grace_fired, s);
	loop_timer_init(&s->save, save_fired, s);
	loop_timer_init(&s->held, held_fired, s);
	s->m_pending = (struct metric){ .name = "pending_acks",
		.help = "Events written and not acknowledged yet.",
		.type = METRIC_GAUGE,
		.read = read_pending,
		.ctx = s };
	s->m_behind = (struct metric){ .name = "lag_seconds",
		.help = "How long after it happened the last event was "
			"written (from its time attribute).",
		.type = METRIC_GAUGE };
	s->m_last = (struct metric){ .name = "last_event_timestamp_seconds",
		.help = "The time attribute of the last event written.",
		.type = METRIC_GAUGE };
	metric_register(&s->m_pending);
	metric_register(&s->m_behind);
	metric_register(&s->m_last);
	if (o->state != NULL) {
		r = statefile_read(o->state, &s->watermark, err, sizeof(err));
		if (r < 0)
			die(EXIT_DATA, "state %s", err);
		if (r == 0 && o->since >= 0)
			s->watermark = o->since;
		s->saved = r > 0 ? s->watermark : -1;
	} else if (o->since >= 0) {
		s->watermark = o->since;
	}
	recout_open(&s->out, 1, "stdout", &out_handlers, s);
	if (o->ack_from != NULL) {
		if (ackr_open(&s->ackr, o->ack_from, &ackr_handlers, s, err,
			sizeof(err)) < 0)
			die(EXIT_IO, "ack-from %s", err);
		s->have_ackr = true;
	}
	if (o->idle_timeout_ms > 0)
		loop_timer_in(&s->idle, o->idle_timeout_ms);
	sig_init(on_signal, s);
	progress_start(&s->progress, "events");
}

void
sub_set_source(struct sub *s, const struct sub_source *src)
{
	s->src = *src;
}

int
sub_run(struct sub *s)
{
	size_t i;
	int status;

	status = loop_run();
	save_state(s);
	/* a token command still running is not waited for */
	secret_free((struct secret *)&s->o->token);
	progress_end(&s->progress);
	for (i = 0; i < s->n; i++) {
		free(item_at(s, i)->id);
		free(item_at(s, i)->token);
	}
	free(s->ring);
	if (s->have_ackr)
		ackr_close(&s->ackr);
	recout_close(&s->out);
	arena_free(&s->arena);
	return status != EXIT_OK ? status : s->status;
}

bool
sub_taking(const struct sub *s)
{
	return !s->stopping;
}

bool
sub_room(const struct sub *s)
{
	return s->n < s->cap && !recout_full(&s->out);
}

bool
sub_emit(struct sub *s, CloudEvent *ev, const char *token, int64_t position)
{
	struct sub_item *it;

	if (s->stopping || s->n == s->cap) {
		/* Sources check sub_taking() and sub_room(): not reached. */
		arena_reset(&s->arena);
		return false;
	}
	if (s->have_ackr)
		ce_put_string(&s->arena, ev, ACK_ATTR, ev->id);
	it = item_at(s, s->n++);
	memset(it, 0, sizeof(*it));
	it->seq = s->next_seq++;
	it->stream = s->stream;
	it->id = xstrndup(ev->id, strlen(ev->id));
	it->token = token != NULL ? xstrndup(token, strlen(token)) : NULL;
	it->position = position;
	note_time(s, ev);
	recout_put(&s->out, &ev->base);
	recout_mark(&s->out, it->seq);
	arena_reset(&s->arena);
	s->emitted++;
	progress_add(&s->progress, 1);
	if (s->o->idle_timeout_ms > 0)
		loop_timer_in(&s->idle, s->o->idle_timeout_ms);
	if (s->o->count > 0 && s->emitted >= s->o->count) {
		linfo("%llu events: stopping", (unsigned long long)s->emitted);
		sub_stop(s, EXIT_OK);
		return true; /* receipts must still come in */
	}
	if (!sub_room(s)) {
		s->paused = true;
		if (s->n == s->cap && !loop_timer_armed(&s->held) &&
		    !s->held_told) {
			s->held_since = loop_now();
			loop_timer_in(&s->held, wait_warn_ms());
		}
		return false;
	}
	return true;
}

void
sub_stream(struct sub *s)
{
	struct sub_item *it;
	size_t i;

	s->stream++;
	for (i = 0; i < s->n; i++) {
		it = item_at(s, i);
		if (it->token != NULL && !it->acked)
			it->acked = true; /* redelivered by the queue */
	}
	pop_acked(s);
}

void
sub_skip_to(struct sub *s, int64_t pos)
{
	if (pos > s->skip_to)
		s->skip_to = pos;
	pop_acked(s);
}

/* How long stopping waits for acks (sub.h). */
static int64_t
grace_ms(const struct sub *s)
{
	if (!s->have_ackr || s->o->api != SUB_API_ENGFLOW)
		return SUB_GRACE_MS;
	return s->o->ack_deadline_ms > 0 ? s->o->ack_deadline_ms :
					   SUB_ACK_WAIT_MS;
}

void
sub_stop(struct sub *s, int status)
{
	if (s->status == EXIT_OK)
		s->status = status;
	if (s->stopping)
		return;
	s->stopping = true;
	loop_timer_stop(&s->idle);
	loop_timer_stop(&s->held);
	loop_timer_in(&s->grace, grace_ms(s));
	if (s->have_ackr && s->n > 0) {
		char d[DURATION_MAX];

		duration_format(d, sizeof(d), grace_ms(s));
		lnotice("stopping: waiting up to %s for %zu acknowledgement%s",
		    d, s->n, s->n == 1 ? "" : "s");
	}
	/* The source drops what comes now, but must read on: the receipts
	 * of the last acks are on the same stream. */
	if (s->paused) {
		s->paused = false;
		if (s->src.resume != NULL)
			s->src.resume(s->src.ctx);
	}
	sub_check(s);
}

/*
 * Once stopping: quit when stdout has everything taken (or failed), and
 * every written event is acknowledged (or the grace period is over).
 */
void
sub_check(struct sub *s)
{
	bool out_done, acks_done;

	if (!s->stopping || s->done)
		return;
	out_done = s->out.failed || recout_idle(&s->out) || s->grace_over;
	acks_done = s->grace_over ||
	    ((s->n == 0 || s->out.failed) &&
		(s->src.settled == NULL || s->src.settled(s->src.ctx)));
	if (!out_done || !acks_done)
		return;
	s->done = true;
	loop_timer_stop(&s->grace);
	if (s->src.stop != NULL)
		s->src.stop(s->src.ctx);
	loop_quit(s->status);
}

/* Fires when a connection is established (the server's SETTINGS). */
static void
connected(void *ctx)
{
	sub_answered(ctx);
}

void
sub_answered(struct sub *s)
{
	s->answered = true;
}

struct gchannel *
sub_channel(struct sub *s)
{
	const struct sub_opts *o = s->o;
	struct gchannel_opts co = { 0 };
	struct gchannel *ch;
	char err[300];

	co.target = o->target;
	co.tls = o->tls;
	co.keepalive_ms = o->keepalive_ms;
	co.keepalive_timeout_ms = o->keepalive_timeout_ms;
	co.proxy = o->proxy;
	co.connect_to = o->connect_to;
	co.on_connect = connected;
	co.on_connect_ctx = s;
	if ((ch = gchannel_new(&co, err, sizeof(err))) == NULL)
		die(EXIT_USAGE, "%s: %s", o->endpoint, err);
	return ch;
}

/* "token file /run/tok", as secret.c names it; never the value. */
static const char *
token_origin(const struct secret *t, char *buf, size_t len)
{
	static const char *const kind[] = { [SECRET_NONE] = "",
		[SECRET_ARGV] = "",
		[SECRET_FILE] = " file",
		[SECRET_ENV] = " variable",
		[SECRET_COMMAND] = " command" };

	if (t->kind == SECRET_ARGV)
		snprintf(buf, len, "%s on the command line", t->what);
	else
		snprintf(
		    buf, len, "%s%s %s", t->what, kind[t->kind], t->source);
	return buf;
}

bool
sub_token_ready(struct sub *s, struct secret_wait *w)
{
	return secret_ready((struct secret *)&s->o->token, w);
}

const char *
sub_token(struct sub *s, bool *fatal)
{
	struct secret *t = (struct secret *)&s->o->token;
	char err[300], when[RFC3339_MAX];
	const char *v;
	int64_t exp;

	*fatal = false;
	if (!secret_isset(t))
		return NULL;
	err[0] = '\0';
	if ((v = secret_get(t, err, sizeof(err))) == NULL) {
		lerr("%s", err[0] != '\0' ? err : "token: none");
		*fatal = true;
		sub_stop(s, GRPC_UNAUTHENTICATED);
		return NULL;
	}
	if (err[0] != '\0')
		lwarn("%s (using the last good token)", err);
	if ((exp = jwt_exp(v)) >= 0 && exp <= (int64_t)time(NULL)) {
		rfc3339_format(when, exp, 0);
		lerr("%s: expired at %s", token_origin(t, err, sizeof(err)),
		    when);
		*fatal = true;
		sub_stop(s, GRPC_UNAUTHENTICATED);
		return NULL;
	}
	return v;
}

bool
sub_fatal(int code)
{
	switch (code) {
	case GRPC_INVALID_ARGUMENT:
	case GRPC_NOT_FOUND:
	case GRPC_ALREADY_EXISTS:
	case GRPC_PERMISSION_DENIED:
	case GRPC_FAILED_PRECONDITION:
	case GRPC_OUT_OF_RANGE:
	case GRPC_UNIMPLEMENTED:
	case GRPC_UNAUTHENTICATED:
		return true;
	default:
		return false;
	}
}

void
sub_failed(struct sub *s, struct retry *r, int code, const char *why)
{
	char msg[1400];

	if (!sub_taking(s)) {
		sub_check(s);
		return;
	}
	if (code == GRPC_OK)
		code = GRPC_UNAVAILABLE; /* it ended; we want it open */
	s->last_code = code;
	snprintf(s->last_why, sizeof(s->last_why), "%s", why);
	/* evpipe(7): a server never reached is 69, as in every tool */
	if (code == GRPC_UNAVAILABLE && !s->answered)
		code = EXIT_CONNECT;
	if (sub_fatal(code)) {
		lerr("%s: %s", s->o->endpoint, why);
		sub_stop(s, code);
		return;
	}
	if (r->max > 0 && r->failures + 1 >= r->max) {
		r->failures++;
		lerr("%s: %s; giving up after %llu attempt%s", s->o->endpoint,
		    why, (unsigned long long)r->failures,
		    r->failures == 1 ? "" : "s");
		sub_stop(s, code);
		return;
	}
	snprintf(msg, sizeof(msg), "%s: %s", s->o->endpoint, why);
	r->own.peer = s->o->endpoint;
	retry_later(r, msg);
}
