/*
 * queuesrc: a fast EngFlow notification queue for bench/subscribe, on
 * libevpipe's gRPC server, so that the benchmark measures the client,
 * not a Python server.  Each Pull call, once its first request came,
 * streams -n notifications (real BuildLifecycleEventNotification
 * payloads, a fresh id each) with at most -w of them unacknowledged,
 * and answers every acknowledgement request with receipts.
 *
 *   queuesrc [-n N] [-w WINDOW] [-r RATE -t LOG]
 *	prints "port N"; on SIGTERM prints the number of acks it took and
 *	exits.
 *
 * -r: for bench/latency, RATE notifications a second on a steady
 * schedule instead of as fast as the window allows, each for invocation
 * "latq" and its number (bench/latmark.h), the time each was queued on
 * the stream logged to LOG.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engflow/eventstore/v1/notifications.pb-c.h"
#include "engflow/notification/v1/notification_queue.pb-c.h"
#include "exitcode.h"
#include "grpc.h"
#include "latmark.h"
#include "log.h"
#include "loop.h"
#include "sig.h"

typedef Engflow__Notification__V1__PullNotificationRequest Req;
typedef Engflow__Notification__V1__PullNotificationResponse Resp;

static uint64_t total = 1000000, window = 10000, acks;
static struct gserver *server;
static uint8_t payload[512];
static size_t payload_len;
static double rate; /* -r: notifications a second; 0: as fast as allowed */
static struct latlog latlog;
static Engflow__Eventstore__V1__BuildLifecycleEventNotification lifecycle;
static Engflow__Eventstore__V1__BuildLifecycleEventNotification__InvocationFinished
    finished;

struct pull {
	struct gcall *call;
	bool started;
	uint64_t sent, inflight;
	int64_t start; /* -r: loop_now() of the first request */
	struct loop_timer tick;
};

/* Queue notifications while the window and the send queue allow. */
static void
more(struct pull *p)
{
	Resp r = ENGFLOW__NOTIFICATION__V1__PULL_NOTIFICATION_RESPONSE__INIT;
	Engflow__Notification__V1__PullNotificationResponse__AcknowledgeableNotification
	    an =
		ENGFLOW__NOTIFICATION__V1__PULL_NOTIFICATION_RESPONSE__ACKNOWLEDGEABLE_NOTIFICATION__INIT;
	Engflow__Notification__V1__Notification n =
	    ENGFLOW__NOTIFICATION__V1__NOTIFICATION__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	char id[40], token[40];

	any.type_url = "type.googleapis.com/"
		       "engflow.eventstore.v1.BuildLifecycleEventNotification";
	any.value.data = payload;
	any.value.len = payload_len;
	n.id = id;
	n.timestamp = &ts;
	n.payload = &any;
	an.token = token;
	an.notification = &n;
	r.notification = &an;
	while (p->sent < total && p->inflight < window &&
	    gcall_send_pending(p->call) < GCALL_SEND_LOW) {
		char inv[16];

		if (rate > 0) { /* due yet, on the schedule? */
			if ((double)p->sent >=
			    (double)(loop_now() - p->start) * rate / 1000) {
				loop_timer_in(&p->tick, 1);
				break;
			}
			snprintf(inv, sizeof(inv), LATMARK "%07llu",
			    (unsigned long long)p->sent + 1);
			finished.invocation_id = inv;
			any.value.len = protobuf_c_message_pack(
			    &lifecycle.base, payload);
		}
		snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012llu",
		    (unsigned long long)p->sent);
		snprintf(
		    token, sizeof(token), "t%llu", (unsigned long long)p->sent);
		ts.seconds = 1700000000 + (int64_t)p->sent;
		gcall_send_msg(p->call, &r.base);
		if (rate > 0)
			latlog_add(&latlog, (long)p->sent + 1, latmark_now());
		p->sent++;
		p->inflight++;
	}
}

static void
tick(struct loop_timer *t)
{
	more(t->ctx);
}

static void
pull_writable(struct gcall *call, void *ctx)
{
	more(ctx);
}

static int
pull_message(struct gcall *call, const uint8_t *b, size_t len, void *ctx)
{
	struct pull *p = ctx;
	Req *req = engflow__notification__v1__pull_notification_request__unpack(
	    NULL, len, b);
	Resp r = ENGFLOW__NOTIFICATION__V1__PULL_NOTIFICATION_RESPONSE__INIT;
	Engflow__Notification__V1__PullNotificationResponse__AcknowledgementReceipt
	    *rc,
	    **rcs;
	size_t i;

	if (req == NULL) {
		gcall_finish(call, 3, "bad request");
		return 0;
	}
	if (!p->started) {
		p->started = true;
		p->start = loop_now();
	} else if (req->n_acknowledgement_tokens > 0) {
		rc = calloc(req->n_acknowledgement_tokens, sizeof(*rc));
		rcs = calloc(req->n_acknowledgement_tokens, sizeof(*rcs));
		for (i = 0; i < req->n_acknowledgement_tokens; i++) {
			engflow__notification__v1__pull_notification_response__acknowledgement_receipt__init(
			    &rc[i]);
			rc[i].token = req->acknowledgement_tokens[i];
			rcs[i] = &rc[i];
		}
		r.n_acknowledgement_receipt = i;
		r.acknowledgement_receipt = rcs;
		gcall_send_msg(call, &r.base);
		free(rc);
		free(rcs);
		acks += i;
		p->inflight -= i < p->inflight ? i : p->inflight;
	}
	engflow__notification__v1__pull_notification_request__free_unpacked(
	    req, NULL);
	more(p);
	return 0;
}

static void
pull_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct pull *p = ctx;

	loop_timer_stop(&p->tick);
	free(p);
}

static const struct gcall_handlers pull_h = {
	.on_message = pull_message,
	.on_writable = pull_writable,
	.on_close = pull_close,
};

static void
on_call(struct gcall *call, void *ctx)
{
	struct pull *p = calloc(1, sizeof(*p));

	p->call = call;
	loop_timer_init(&p->tick, tick, p);
	gcall_set_handlers(call, &pull_h, p);
}

static void
done(void *ctx)
{
	loop_quit(0);
}

static void
on_signal(int signo, void *ctx)
{
	gserver_shutdown(server, 1000, done, NULL);
}

int
main(int argc, char **argv)
{
	Engflow__Eventstore__V1__BuildLifecycleEventNotification
	    *l = &lifecycle;
	Engflow__Eventstore__V1__BuildLifecycleEventNotification__InvocationFinished
	    *f = &finished;
	static char *keywords[] = { "command_name=test", "protocol_name=BEP" };
	const char *log = NULL;
	struct gserver_opts o = { 0 };
	char err[300];
	int c, status;

	log_init("queuesrc");
	signal(SIGPIPE, SIG_IGN);
	engflow__eventstore__v1__build_lifecycle_event_notification__init(l);
	engflow__eventstore__v1__build_lifecycle_event_notification__invocation_finished__init(
	    f);
	while ((c = getopt(argc, argv, "n:r:t:w:")) != -1)
		switch (c) {
		case 'n':
			total = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 't':
			log = optarg;
			break;
		case 'w':
			window = strtoull(optarg, NULL, 10);
			break;
		default:
			die(EXIT_USAGE,
			    "usage: queuesrc [-n N] [-w WINDOW] [-r RATE -t "
			    "LOG]");
		}
	if ((rate > 0) != (log != NULL))
		die(EXIT_USAGE, "queuesrc: -r and -t go together");
	l->instance_name = "default";
	l->build_id = "b/6f1c1f4e-3c55-4a50-9b1e-0e2a2d1c9f00";
	l->n_keywords = 2;
	l->keywords = keywords;
	f->invocation_id = "070d25bf-3eac-4ea6-85a8-4f0643165657";
	l->kind_case =
	    ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_INVOCATION_FINISHED;
	l->invocation_finished = f;
	payload_len = protobuf_c_message_pack(&l->base, payload);
	if (target_parse(&o.listen, "grpc://127.0.0.1:0", err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s", err);
	if ((server = gserver_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_CONNECT, "%s", err);
	gserver_add(server,
	    &(struct gserver_method){
		"/engflow.notification.v1.NotificationQueue/Pull", on_call,
		NULL });
	sig_init(on_signal, NULL);
	printf("port %d\n", gserver_port(server));
	fflush(stdout);
	status = loop_run();
	printf("acks %llu\n", (unsigned long long)acks);
	if (log != NULL && latlog_write(&latlog, log) < 0)
		die(EXIT_IO, "%s: cannot write", log);
	gserver_free(server);
	return status;
}
