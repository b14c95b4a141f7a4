/*
 * libFuzzer: the EngFlow event store stream as resolve reads it
 * (lib/eventstore.c over our gRPC client): our server answers
 * GetInvocation with the messages the input holds, then a status (a
 * resumed call: no messages, OK).
 * Input: a status byte (mod 17), then messages, each a big-endian
 * 16-bit length and that many bytes (StreamedBuildEvent, or not).  The
 * stream must end (on_end, once) within 10 s.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstore.h"
#include "feed.h"
#include "grpc.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	const uint8_t *data;
	size_t size;
	bool ended;
	int calls;
	struct loop_timer limit;
};

static struct run *current;

/* Fires when the request stream ended: play the input's answer. */
static void
serve_half_close(struct gcall *call, void *ctx)
{
	const uint8_t *p;
	size_t n, len;
	int code;

	(void)ctx;
	/* A resumed call ends the stream: a peer that fails after some
	 * progress every time would make the client resume forever. */
	if (current == NULL || current->size == 0 || current->calls++ > 0) {
		gcall_finish(call, 0, "");
		return;
	}
	code = current->data[0] % 17;
	p = current->data + 1;
	n = current->size - 1;
	while (n >= 2) {
		len = (size_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
		if (len > n)
			len = n;
		gcall_send(call, p, len);
		p += len;
		n -= len;
	}
	gcall_finish(call, code, code == 0 ? "" : "fuzz");
}

static int
serve_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	(void)call, (void)p, (void)n, (void)ctx;
	return 0;
}

static void
serve_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	(void)call, (void)st, (void)ctx;
}

static void
serve_call(struct gcall *call, void *ctx)
{
	static const struct gcall_handlers h = {
		.on_message = serve_message,
		.on_half_close = serve_half_close,
		.on_close = serve_close,
	};

	gcall_set_handlers(call, &h, ctx);
}

static int
on_event(struct esstream *es, const struct es_event *ev, void *ctx)
{
	(void)es, (void)ctx;
	if (ev->token == NULL || ev->principal == NULL ||
	    (ev->event == NULL && ev->event_len != 0))
		abort();
	return 0;
}

static void
on_end(struct esstream *es, const struct gstatus *st, void *ctx)
{
	struct run *r = ctx;

	(void)es;
	if (r->ended)
		abort(); /* on_end twice */
	if (st->code < 0 || st->code > 16 || st->message == NULL)
		abort(); /* not a gRPC status */
	r->ended = true;
	loop_quit(0);
}

static void
too_long(struct loop_timer *t)
{
	(void)t;
	fprintf(stderr, "fuzz_eventstore: the stream did not end in 10 s\n");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct esstream_handlers h = { on_event, on_end };
	static struct gchannel *ch;
	struct run r = { .data = data, .size = size };
	struct esstream_opts eo = { 0 };
	struct esstream es;
	char err[256], spec[128];

	if (ch == NULL) {
		struct gserver_method m = { ES_PATH_INVOCATION, serve_call,
			NULL };
		struct gserver_opts so = { 0 };
		struct gchannel_opts co = { .proxy = "" };
		struct gserver *server;

		log_init("fuzz_eventstore");
		/* FUZZ_VERBOSE=3 runs the -v -v frame traces too. */
		verbosity = getenv("FUZZ_VERBOSE") ?
		    atoi(getenv("FUZZ_VERBOSE")) :
		    -1;
		snprintf(spec, sizeof(spec), "unix:%s", feed_socket_path());
		if (target_parse(&so.listen, spec, err, sizeof(err)) != 0 ||
		    target_parse(&co.target, spec, err, sizeof(err)) != 0 ||
		    (server = gserver_new(&so, err, sizeof(err))) == NULL ||
		    (ch = gchannel_new(&co, err, sizeof(err))) == NULL) {
			fprintf(stderr, "fuzz_eventstore: %s\n", err);
			abort();
		}
		gserver_add(server, &m);
	}
	current = &r;
	eo.ch = ch;
	eo.method = ES_GET_INVOCATION;
	eo.instance = "default";
	eo.id = "inv1";
	eo.retries = 1;
	esstream_open(&es, &eo, &h, &r);
	loop_timer_init(&r.limit, too_long, &r);
	loop_timer_in(&r.limit, 10000);
	loop_run();
	loop_timer_stop(&r.limit);
	if (!r.ended)
		abort();
	esstream_close(&es);
	current = NULL;
	return 0;
}
