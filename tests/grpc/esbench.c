/*
 * esbench: a fast EngFlow event store for bench/resolve (the grpcio one
 * in tests/peers is the independent peer the tests use, but Python is
 * far slower than what it would measure).
 *
 *   esbench [-l URL] [-n EVENTS] [-s PAYLOAD]
 *
 * serves GetInvocation and GetBuild: EVENTS StreamedBuildEvents per id,
 * each a BuildProgressEvent with a bazel_event of PAYLOAD bytes (default
 * 100), token "<index>", is_last on the last; prints "port N" once
 * listening; SIGTERM stops it.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engflow/eventstore/v1/eventstore.pb-c.h"
#include "exitcode.h"
#include "grpc.h"
#include "log.h"
#include "loop.h"
#include "sig.h"
#include "varint.h"

static uint64_t nevents = 1000;
static size_t payload = 100;
static uint8_t *pad;

struct stream {
	struct gcall *call;
	char id[128];
	uint64_t next;
	bool ended;
};

static size_t
put_len(uint8_t *p, unsigned field, const void *data, size_t n)
{
	size_t k = varint_put(p, field << 3 | 2);

	k += varint_put(p + k, n);
	memcpy(p + k, data, n);
	return k + n;
}

/* One StreamedBuildEvent, encoded by hand into buf. */
static size_t
encode(uint8_t *buf, const char *id, uint64_t i)
{
	static uint8_t ev[1 << 20], be[1 << 20], sid[512], any[1 << 20];
	static const char url[] =
	    "type.googleapis.com/build_event_stream.BuildEvent";
	char tok[32];
	size_t n = 0, m = 0, a = 0, s = 0;

	/* StreamId: build_id 1, invocation_id 6, component 3 = TOOL */
	s += put_len(sid + s, 1, "b", 1);
	s += put_len(sid + s, 6, id, strlen(id));
	sid[s++] = 3 << 3;
	sid[s++] = 3;
	/* BuildEvent: event_time 1, bazel_event 60 */
	{
		uint8_t ts[24];
		size_t t = 0;

		ts[t++] = 1 << 3;
		t += varint_put(ts + t, 1700000000 + i);
		m = put_len(be, 1, ts, t);
	}
	a += put_len(any + a, 1, url, sizeof(url) - 1);
	a += put_len(any + a, 2, pad, payload);
	m += put_len(be + m, 60, any, a);
	/* BuildProgressEvent: stream_id 1, build_event 4 */
	n = put_len(ev, 1, sid, s);
	n += put_len(ev + n, 4, be, m);
	/* StreamedBuildEvent */
	m = 0;
	if (i + 1 == nevents) {
		buf[m++] = 1 << 3;
		buf[m++] = 1;
	}
	snprintf(tok, sizeof(tok), "%llu", (unsigned long long)i);
	m += put_len(buf + m, 2, tok, strlen(tok));
	m += put_len(buf + m, 3, ev, n);
	return m;
}

static void
more(struct stream *st)
{
	static uint8_t buf[1 << 21];

	while (st->next < nevents &&
	    gcall_send_pending(st->call) < GCALL_SEND_LOW) {
		gcall_send(st->call, buf, encode(buf, st->id, st->next));
		st->next++;
	}
	if (st->next == nevents && !st->ended) {
		st->ended = true;
		gcall_finish(st->call, GRPC_OK, NULL);
	}
}

static int
on_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct stream *st = ctx;
	Engflow__Eventstore__V1__GetInvocationRequest *r;
	const char *tok;

	/* GetBuildRequest has the same fields 1-3 */
	r = engflow__eventstore__v1__get_invocation_request__unpack(NULL, n, p);
	if (r == NULL) {
		gcall_finish(call, GRPC_INVALID_ARGUMENT, "bad request");
		st->ended = true;
		return 0;
	}
	snprintf(st->id, sizeof(st->id), "%s", r->invocation_id);
	tok = r->continuation_token;
	if (*tok != '\0')
		st->next = strtoull(tok, NULL, 10) + 1;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static void
on_half_close(struct gcall *call, void *ctx)
{
	struct stream *st = ctx;

	if (!st->ended)
		more(st);
}

static void
on_writable(struct gcall *call, void *ctx)
{
	struct stream *st = ctx;

	if (!st->ended)
		more(st);
}

static void
on_close(struct gcall *call, const struct gstatus *s, void *ctx)
{
	free(ctx);
}

static const struct gcall_handlers handlers = {
	.on_message = on_message,
	.on_half_close = on_half_close,
	.on_writable = on_writable,
	.on_close = on_close,
};

static void
on_call(struct gcall *call, void *ctx)
{
	struct stream *st = calloc(1, sizeof(*st));

	if (st == NULL)
		die(EXIT_INTERNAL, "out of memory");
	st->call = call;
	gcall_set_handlers(call, &handlers, st);
}

static struct gserver *server;

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
	struct gserver_method m = { .on_call = on_call };
	const char *url = "grpc://127.0.0.1:0";
	char err[300];
	int c;

	log_init(argv[0]);
	while ((c = getopt(argc, argv, "l:n:s:")) != -1)
		switch (c) {
		case 'l':
			url = optarg;
			break;
		case 'n':
			nevents = strtoull(optarg, NULL, 10);
			break;
		case 's':
			payload = strtoul(optarg, NULL, 10);
			break;
		default:
			return EXIT_USAGE;
		}
	if (payload > (1 << 19))
		payload = 1 << 19;
	if ((pad = malloc(payload + 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	memset(pad, '.', payload);
	if (target_parse(&o.listen, url, err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s", err);
	if ((server = gserver_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_CONNECT, "%s", err);
	m.path = "/engflow.eventstore.v1.EventStore/GetInvocation";
	gserver_add(server, &m);
	m.path = "/engflow.eventstore.v1.EventStore/GetBuild";
	gserver_add(server, &m);
	sig_init(on_signal, NULL);
	printf("port %d\n", gserver_port(server));
	fflush(stdout);
	c = loop_run();
	gserver_free(server);
	free(pad);
	return c;
}
