/*
 * fwdsink: a fast sink for bench/forward, on libevpipe's gRPC server, so
 * that the benchmark measures the client, not a Python server.  It
 * answers every protocol forward speaks, without checking anything:
 *
 *   ForwardStream    EngFlowResponse{message}
 *   PublishBuildToolEventStream   an ack per request, its sequence number
 *   PublishLifecycleEvent         Empty
 *   PutBatch         ackCount = the whole batch
 *
 *   fwdsink [-l URL] [-t LOG]
 *	prints "port N"; on SIGTERM prints the number of events it took
 *	and exits.  -t: writes the time each latency-marked message came
 *	(bench/latmark.h) to LOG, for bench/latency.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/grpc/messages/service.pb-c.h"
#include "com/engflow/notificationqueue/demoserver/server.pb-c.h"
#include "exitcode.h"
#include "google/devtools/build/v1/publish_build_event.pb-c.h"
#include "grpc.h"
#include "latmark.h"
#include "log.h"
#include "loop.h"
#include "sig.h"

static uint64_t events;
static struct gserver *server;
static struct latlog latlog;
static bool timing;

/* Called first by every handler: the time a marked message came. */
static void
stamp(const uint8_t *p, size_t n)
{
	long seq;

	if (timing && (seq = latmark_find(p, n)) >= 0)
		latlog_add(&latlog, seq, latmark_now());
}

static int
demo_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	Com__Engflow__Notificationqueue__Demoserver__EngFlowResponse r =
	    COM__ENGFLOW__NOTIFICATIONQUEUE__DEMOSERVER__ENG_FLOW_RESPONSE__INIT;

	stamp(p, n);
	r.message = "Processed request in the server.";
	gcall_send_msg(call, &r.base);
	gcall_finish(call, 0, NULL);
	events++;
	return 0;
}

static int
bes_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	Google__Devtools__Build__V1__PublishBuildToolEventStreamRequest *req;
	Google__Devtools__Build__V1__PublishBuildToolEventStreamResponse r =
	    GOOGLE__DEVTOOLS__BUILD__V1__PUBLISH_BUILD_TOOL_EVENT_STREAM_RESPONSE__INIT;

	stamp(p, n);
	req =
	    google__devtools__build__v1__publish_build_tool_event_stream_request__unpack(
		NULL, n, p);
	if (req == NULL || req->ordered_build_event == NULL) {
		gcall_finish(call, 3, "bad request");
		return 0;
	}
	r.stream_id = req->ordered_build_event->stream_id;
	r.sequence_number = req->ordered_build_event->sequence_number;
	gcall_send_msg(call, &r.base);
	protobuf_c_message_free_unpacked(&req->base, NULL);
	events++;
	return 0;
}

static void
bes_half_close(struct gcall *call, void *ctx)
{
	gcall_finish(call, 0, NULL);
}

static int
life_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	stamp(p, n);
	gcall_send(call, "", 0);
	gcall_finish(call, 0, NULL);
	events++;
	return 0;
}

static int
put_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	Awakari__Messages__PutBatchRequest *req;
	Awakari__Messages__PutBatchResponse r =
	    AWAKARI__MESSAGES__PUT_BATCH_RESPONSE__INIT;

	stamp(p, n);
	req = awakari__messages__put_batch_request__unpack(NULL, n, p);
	if (req == NULL) {
		gcall_finish(call, 3, "bad request");
		return 0;
	}
	r.ackcount = (uint32_t)req->n_msgs;
	events += req->n_msgs;
	protobuf_c_message_free_unpacked(&req->base, NULL);
	gcall_send_msg(call, &r.base);
	gcall_finish(call, 0, NULL);
	return 0;
}

static const struct gcall_handlers demo_h = { .on_message = demo_message };
static const struct gcall_handlers bes_h = { .on_message = bes_message,
	.on_half_close = bes_half_close };
static const struct gcall_handlers life_h = { .on_message = life_message };
static const struct gcall_handlers put_h = { .on_message = put_message };

static void
on_call(struct gcall *call, void *ctx)
{
	gcall_set_handlers(call, ctx, NULL);
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
	struct gserver_opts o = { 0 };
	const char *url = "grpc://127.0.0.1:0", *log = NULL;
	static const struct {
		const char *path;
		const struct gcall_handlers *h;
	} m[] = {
		{ "/com.engflow.notificationqueue.demoserver.Forwarding/"
		  "ForwardStream",
		    &demo_h },
		{ "/google.devtools.build.v1.PublishBuildEvent/"
		  "PublishBuildToolEventStream",
		    &bes_h },
		{ "/google.devtools.build.v1.PublishBuildEvent/"
		  "PublishLifecycleEvent",
		    &life_h },
		{ "/awakari.messages.Service/PutBatch", &put_h },
	};
	char err[300];
	size_t i;
	int c, status;

	log_init("fwdsink");
	while ((c = getopt(argc, argv, "l:t:")) != -1)
		switch (c) {
		case 'l':
			url = optarg;
			break;
		case 't':
			log = optarg;
			timing = true;
			break;
		default:
			die(EXIT_USAGE, "usage: fwdsink [-l URL] [-t LOG]");
		}
	signal(SIGPIPE, SIG_IGN);
	if (target_parse(&o.listen, url, err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s", err);
	o.max_recv = 64 * 1024 * 1024;
	if ((server = gserver_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_CONNECT, "%s", err);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		gserver_add(server,
		    &(struct gserver_method){
			m[i].path, on_call, (void *)m[i].h });
	sig_init(on_signal, NULL);
	printf("port %d\n", gserver_port(server));
	fflush(stdout);
	status = loop_run();
	printf("events %llu\n", (unsigned long long)events);
	if (log != NULL && latlog_write(&latlog, log) < 0)
		die(EXIT_IO, "%s: cannot write", log);
	gserver_free(server);
	return status;
}
