#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ackfifo.h"
#include "arena.h"
#include "axway_resource.h"
#include "dedupe.h"
#include "duration.h"
#include "esjob.h"
#include "exitcode.h"
#include "frame.h"
#include "grpc.h"
#include "http.h"
#include "invq.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "progress.h"
#include "recin.h"
#include "recout.h"
#include "resolve.h"
#include "retry.h"
#include "sig.h"

struct resolve {
	struct resolve_opts o;
	struct recin in;
	struct recout out;
	struct invq q;
	struct dedupe seen;
	struct gchannel *ch;
	struct esjob_cfg es;
	struct axjob_cfg ax;
	struct retry_log outage; /* of the event store or Central */
	bool answered; /* the event store ever answered */
	struct arena arena; /* for the record being read */
	struct loop_io watch; /* checks, before each poll, whether done */
	struct loop_timer drain; /* --drain-timeout after a signal */
	struct loop_timer cut; /* cuts the jobs short, from the loop */
	struct loop_timer grace; /* the output's last second */
	struct progress progress; /* events written, at -v */
	bool reading; /* stdin was opened */
	bool input_over, draining, stopping;
	int status;
	uint64_t passed, dropped, duplicates;
	char bearer_value[64 * 1024];
};

void
resolve_opts_init(struct resolve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->api = RESOLVE_ENGFLOW;
	o->on_finished = true;
	o->replay_mode = ES_UNTIL_COMPLETE;
	o->max_record = FRAME_MAX_DEFAULT;
	o->buffer = RESOLVE_BUFFER;
	o->parallel = RESOLVE_PARALLEL;
	o->dedupe_window = RESOLVE_DEDUPE_WINDOW;
	o->drain_ms = RESOLVE_DRAIN_MS;
}

static void
set_status(struct resolve *r, int status)
{
	if (r->status == EXIT_OK)
		r->status = status;
}

/* No more input: finish what was accepted, then exit. */
static void
end_input(struct resolve *r, int status)
{
	set_status(r, status);
	if (!r->input_over) {
		r->input_over = true;
		recin_stop(&r->in);
	}
}

/*
 * Cut everything short with this status: no more input, every job
 * released (from the loop: this may run inside a job's callback), the
 * output given its grace.
 */
static void
stop(struct resolve *r, int status)
{
	end_input(r, status);
	if (r->stopping)
		return;
	r->stopping = true;
	loop_timer_stop(&r->drain);
	loop_timer_in(&r->cut, 0);
}

static void
cut_fired(struct loop_timer *t)
{
	struct resolve *r = t->ctx;

	invq_free(&r->q);
	loop_timer_in(&r->grace, RESOLVE_OUTPUT_GRACE_MS);
}

static void
grace_fired(struct loop_timer *t)
{
	struct resolve *r = t->ctx;

	if (!recout_idle(&r->out))
		lwarn("%s: %zu bytes not taken in time; exiting without them",
		    r->out.name, outbuf_pending(&r->out.out));
	loop_quit(r->status);
}

/* Before each poll: once all accepted work is written, stop. */
static void
watch_prepare(struct loop_io *io)
{
	struct resolve *r = io->ctx;

	progress_set(&r->progress, r->out.records);
	if (r->input_over && invq_empty(&r->q) && recout_idle(&r->out) &&
	    http_pending() == 0)
		loop_quit(r->status);
}

/* --drain-timeout is over: what is not written by now will not be. */
static void
drain_fired(struct loop_timer *t)
{
	struct resolve *r = t->ctx;
	char d[DURATION_MAX];

	duration_format(d, sizeof(d), r->o.drain_ms);
	if (r->q.unfinished > 0)
		lerr("drain timeout (%s): %zu notification%s cut short, "
		     "not acknowledged",
		    d, r->q.unfinished, r->q.unfinished == 1 ? "" : "s");
	else
		lerr("drain timeout (%s): %s has not taken everything", d,
		    r->out.name);
	stop(r, GRPC_DEADLINE_EXCEEDED);
}

/* SIGTERM, SIGINT: read no more, finish what was accepted, in time. */
static void
on_signal(int signo, void *ctx)
{
	struct resolve *r = ctx;
	char d[DURATION_MAX];

	if (r->draining || r->stopping)
		return;
	r->draining = true;
	end_input(r, EXIT_OK);
	duration_format(d, sizeof(d), r->o.drain_ms);
	if (r->q.unfinished > 0)
		lwarn("signal %d: finishing %zu notification%s%s%s", signo,
		    r->q.unfinished, r->q.unfinished == 1 ? "" : "s",
		    r->o.drain_ms > 0 ? ", for at most " : "",
		    r->o.drain_ms > 0 ? d : "");
	else
		linfo("signal %d: stopping", signo);
	if (r->o.drain_ms > 0)
		loop_timer_in(&r->drain, r->o.drain_ms);
}

static void
on_fatal(int code, const char *why, void *ctx)
{
	struct resolve *r = ctx;

	lerr("%s", why);
	/* evpipe(7): a server never reached is 69, in every tool */
	if (code == GRPC_UNAVAILABLE && !r->answered && !r->ax.answered)
		code = EXIT_CONNECT;
	stop(r, code);
}

static void
es_fatal(const struct gstatus *st, const char *why, void *ctx)
{
	on_fatal(st->code, why, ctx);
}

/* The value evpipeack carries on the last event derived from ev. */
static const char *
ack_value(const CloudEvent *ev)
{
	const char *v = ce_get_string(ev, ACK_ATTR);

	return v != NULL ? v : ev->id;
}

/*
 * The same thing notified again (the queue delivers at least once):
 * not resolved twice.  If the notification takes part in end-to-end
 * acknowledgement it still goes on, marked, after the first one's
 * events, so that its acknowledgement is not lost; with
 * pass_notifications it goes on in any case, as every notification
 * does.
 */
static bool
duplicate(struct resolve *r, const char *key, const uint8_t *rec, size_t len,
    const CloudEvent *ev)
{
	if (dedupe_find(&r->seen, key) == NULL) {
		dedupe_add(&r->seen, key, ev->id);
		return false;
	}
	r->duplicates++;
	linfo("%s: seen already (notification %s)", key, ev->id);
	if (ce_get_string(ev, ACK_ATTR) != NULL || r->o.pass_notifications)
		esjob_unresolved(&r->arena, &r->q, NULL, rec, len, "DUPLICATE",
		    ack_value(ev));
	return true;
}

static void
pass(struct resolve *r, const uint8_t *rec, size_t len, const CloudEvent *ev)
{
	const char *ack;
	CloudEvent *m;
	uint8_t *p;
	size_t n;

	if (r->o.drop_unknown) {
		r->dropped++;
		/* evpipe.7, ACK-ONLY MARKER: its ack goes on in its turn. */
		if ((ack = ce_get_string(ev, ACK_ATTR)) == NULL)
			return;
		m = ce_new(&r->arena, ev->id, ev->source, ACK_ONLY_TYPE);
		ce_put_string(&r->arena, m, ACK_ATTR, ack);
		n = protobuf_c_message_get_packed_size(&m->base);
		p = arena_alloc(&r->arena, n);
		protobuf_c_message_pack(&m->base, p);
		invq_pass(&r->q, p, n);
		arena_reset(&r->arena);
		return;
	}
	r->passed++;
	invq_pass(&r->q, rec, len);
}

static bool
selected(const struct resolve *r, enum lc_kind k)
{
	if (r->o.builds)
		return (k == LC_BUILD_STARTED && r->o.on_started) ||
		    (k == LC_BUILD_FINISHED && r->o.on_finished);
	return (k == LC_INVOCATION_STARTED && r->o.on_started) ||
	    (k == LC_INVOCATION_FINISHED && r->o.on_finished);
}

/* 1: a job was made (or it was a duplicate); 0: it passes; -1: bad. */
static int
engflow_record(struct resolve *r, const uint8_t *rec, size_t len,
    const CloudEvent *ev, char *err, size_t errlen)
{
	struct lc_notice n;
	char key[2048];
	const char *id;
	int k;

	if ((k = lc_parse(&r->arena, ev, &n, err, errlen)) <= 0)
		return k;
	if (!selected(r, n.kind))
		return 0;
	id = r->o.builds ? n.build_id : n.invocation_id;
	snprintf(key, sizeof(key), "%s %s/%s",
	    r->o.builds ? "build" : "invocation", n.instance, id);
	if (!duplicate(r, key, rec, len, ev))
		esjob_add(&r->es,
		    r->o.builds ? ES_GET_BUILD : ES_GET_INVOCATION, n.instance,
		    id, rec, len, ack_value(ev));
	return 1;
}

static int
axway_record(struct resolve *r, const uint8_t *rec, size_t len,
    const CloudEvent *ev, char *err, size_t errlen)
{
	struct ax_notice n;
	char key[1024];
	int k;

	if ((k = ax_parse(&r->arena, ev, &n, err, errlen)) <= 0)
		return k;
	snprintf(key, sizeof(key), "event %s", n.event_id);
	if (!duplicate(r, key, rec, len, ev))
		axjob_add(&r->ax, &n, rec, len, ack_value(ev));
	return 1;
}

/* Fires for each valid input record, in order. */
static int
on_record(struct recin *in, const uint8_t *rec, size_t len,
    const CloudEvent *ev, void *ctx)
{
	struct resolve *r = ctx;
	char err[300];
	int k;

	k = r->o.api == RESOLVE_AXWAY ?
	    axway_record(r, rec, len, ev, err, sizeof(err)) :
	    engflow_record(r, rec, len, ev, err, sizeof(err));
	arena_reset(&r->arena);
	if (k < 0) {
		frame_errorf(&in->fr, "%s", err);
		lerr("%s: %s", in->name, in->fr.err);
		end_input(r, EXIT_DATA);
		return RECIN_PAUSE;
	}
	if (k == 0)
		pass(r, rec, len, ev);
	return invq_full(&r->q) ? RECIN_PAUSE : 0;
}

static void
on_input_end(struct recin *in, int status, const char *why, void *ctx)
{
	if (status != EXIT_OK)
		lerr("%s: %s", in->name, why);
	end_input(ctx, status);
}

static const struct recin_handlers in_handlers = {
	.on_record = on_record,
	.on_end = on_input_end,
};

/* The queue has room again: take input again. */
static void
on_room(struct invq *q, void *ctx)
{
	struct resolve *r = ctx;

	if (!r->input_over)
		recin_resume(&r->in);
}

static void
on_drain(struct recout *o, void *ctx)
{
	struct resolve *r = ctx;

	invq_pump(&r->q);
}

static void
on_output_error(struct recout *o, int err, void *ctx)
{
	if (err == EPIPE)
		linfo("%s: reader went away", o->name);
	else
		lerr("%s: %s", o->name, strerror(err));
	stop(ctx, err == EPIPE ? EXIT_OK : EXIT_IO);
}

static const struct recout_handlers out_handlers = {
	.on_drain = on_drain,
	.on_error = on_output_error,
};

/* Request metadata for the event store: the token, if there is one. */
static size_t
engflow_metadata(struct gmd *md, size_t max, void *ctx)
{
	struct resolve *r = ctx;
	char err[300];
	const char *tok;

	if (!secret_isset(&r->o.token) || max < 2)
		return 0;
	/* Renewed in the background before 4/5 of its life (secret.h). */
	if ((tok = secret_get(&r->o.token, err, sizeof(err))) == NULL) {
		lwarn("%s", err);
		return 0;
	}
	if (r->o.bearer) {
		snprintf(
		    r->bearer_value, sizeof(r->bearer_value), "Bearer %s", tok);
		md[0] = (struct gmd){ "authorization", r->bearer_value,
			strlen(r->bearer_value) };
		return 1;
	}
	md[0] = (struct gmd){ "x-engflow-auth-method", "jwt-v0", 6 };
	md[1] = (struct gmd){ "x-engflow-auth-token", tok, strlen(tok) };
	return 2;
}

/* A connection to the event store is up: an outage is over. */
static void
on_connect(void *ctx)
{
	struct resolve *r = ctx;

	r->answered = true;
	retry_log_ok(&r->outage);
}

static int
setup_engflow(struct resolve *r, char *err, size_t errlen)
{
	struct gchannel_opts o = { 0 };

	o.target = r->o.target;
	o.tls = r->o.tls;
	o.max_recv = (uint32_t)r->o.max_record;
	/* A live stream can be quiet for long: find a connection that died
	 * silently.  Servers take a PING every 5 minutes (grpc.md, A8). */
	o.keepalive_ms = 300000;
	o.on_connect = on_connect;
	o.on_connect_ctx = r;
	if ((r->ch = gchannel_new(&o, err, errlen)) == NULL)
		return -1;
	retry_log_init(&r->outage, r->o.endpoint);
	esjob_init(&r->es);
	r->es.q = &r->q;
	r->es.ch = r->ch;
	r->es.source = r->o.endpoint;
	r->es.replay_mode = r->o.replay_mode;
	r->es.retries = r->o.retries;
	r->es.pass_notifications = r->o.pass_notifications;
	r->es.log = &r->outage;
	r->es.metadata = engflow_metadata;
	r->es.md_ctx = r;
	r->es.on_fatal = es_fatal;
	r->es.ctx = r;
	return 0;
}

static int
setup_axway(struct resolve *r, char *err, size_t errlen)
{
	if (axjob_init(&r->ax, r->o.central, r->o.tenant, &r->o.token, err,
		errlen) < 0)
		return -1;
	retry_log_init(&r->outage, r->o.central);
	r->ax.q = &r->q;
	r->ax.http.cacert = r->o.tls.cacert;
	r->ax.http.insecure = r->o.tls.insecure;
	r->ax.http.max_body = r->o.max_record > 65536 ?
	    r->o.max_record - 65536 :
	    r->o.max_record;
	r->ax.retries = r->o.retries;
	r->ax.log = &r->outage;
	r->ax.on_fatal = on_fatal;
	r->ax.ctx = r;
	return 0;
}

struct resolve *
resolve_new(const struct resolve_opts *o, char *err, size_t errlen)
{
	struct resolve *r = calloc(1, sizeof(*r));

	if (r == NULL)
		die(EXIT_INTERNAL, "out of memory");
	r->o = *o;
	if ((o->api == RESOLVE_AXWAY ? setup_axway(r, err, errlen) :
				       setup_engflow(r, err, errlen)) < 0) {
		free(r);
		return NULL;
	}
	arena_init(&r->arena);
	dedupe_init(&r->seen, r->o.dedupe_window);
	recout_open(&r->out, STDOUT_FILENO, "stdout", &out_handlers, r);
	invq_init(&r->q, &r->out, r->o.parallel, r->o.buffer);
	r->q.on_room = on_room;
	r->q.ctx = r;
	loop_timer_init(&r->drain, drain_fired, r);
	loop_timer_init(&r->cut, cut_fired, r);
	loop_timer_init(&r->grace, grace_fired, r);
	r->watch = (struct loop_io){
		.fd = -1, .prepare = watch_prepare, .ctx = r
	};
	loop_io_add(&r->watch);
	return r;
}

static void
summary(struct resolve *r)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	if (r->o.api == RESOLVE_AXWAY)
		linfo("%" PRIu64 " resources, %" PRIu64 " unresolved, %" PRIu64
		      " passed through, %" PRIu64 " dropped, %" PRIu64
		      " duplicates; peak RSS %ld KiB",
		    r->ax.resolved, r->ax.unresolved, r->passed, r->dropped,
		    r->duplicates, ru.ru_maxrss);
	else
		linfo("%" PRIu64 " resolved (%" PRIu64 " events), %" PRIu64
		      " unresolved, %" PRIu64 " passed through, %" PRIu64
		      " dropped, %" PRIu64 " duplicates; peak RSS %ld KiB",
		    r->es.resolved, r->es.events, r->es.unresolved, r->passed,
		    r->dropped, r->duplicates, ru.ru_maxrss);
}

int
resolve_run(struct resolve *r)
{
	recin_open(
	    &r->in, STDIN_FILENO, "stdin", r->o.max_record, &in_handlers, r);
	r->reading = true;
	sig_init(on_signal, r);
	progress_start(&r->progress, "events");
	r->status = loop_run();
	progress_set(&r->progress, r->out.records);
	progress_end(&r->progress);
	summary(r);
	return r->status;
}

void
resolve_free(struct resolve *r)
{
	if (r == NULL)
		return;
	/* Jobs first: their calls must be detached before the channel
	 * ends them. */
	invq_free(&r->q);
	if (r->reading)
		recin_close(&r->in);
	recout_close(&r->out);
	loop_io_del(&r->watch);
	loop_timer_stop(&r->drain);
	loop_timer_stop(&r->cut);
	loop_timer_stop(&r->grace);
	gchannel_free(r->ch);
	if (r->o.api == RESOLVE_AXWAY)
		axjob_cfg_free(&r->ax);
	else
		esjob_cfg_free(&r->es);
	http_cleanup();
	dedupe_free(&r->seen);
	arena_free(&r->arena);
	secret_free(&r->o.token);
	free(r);
}
