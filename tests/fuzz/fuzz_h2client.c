/*
 * libFuzzer: our gRPC client (lib/grpc_client.c over lib/h2conn.c and
 * nghttp2, with our callbacks) reading arbitrary bytes as a server's
 * answer to one unary call: SETTINGS, HEADERS, DATA, trailers, GOAWAY,
 * RST_STREAM, PUSH_PROMISE...  The bytes come on a unix socket and end
 * with a half-close; the call must end (on_close, once) within 10 s.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed.h"
#include "grpc.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	const uint8_t *data;
	size_t size;
	struct feed feed;
	bool accepted, closed;
	int code;
};

static int
got_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	(void)call, (void)p, (void)n, (void)ctx;
	return 0;
}

static void
got_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct run *r = ctx;

	(void)call;
	if (r->closed)
		abort(); /* on_close twice */
	r->closed = true;
	r->code = st->code;
	if (st->code < 0 || st->code > 16 || st->message == NULL)
		abort(); /* not a gRPC status */
	loop_quit(0);
}

/* Fires when our client connects: become the server. */
static void
accept_ready(struct loop_io *io, short revents)
{
	struct run *r = io->ctx;
	int fd;

	(void)revents;
	if (r == NULL)
		return;
	if ((fd = accept4(io->fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	if (r->accepted) {
		close(fd); /* one connection per input */
		return;
	}
	r->accepted = true;
	feed_start(&r->feed, fd, r->data, r->size, false);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct gcall_handlers h = {
		.on_message = got_message,
		.on_close = got_close,
	};
	static struct gchannel_opts o;
	static struct loop_io lio;
	static const uint8_t request[] = { 0x0a, 0x01, 'x' }; /* text "x" */
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct run r = { .data = data, .size = size };
	struct gchannel *ch;
	struct gcall *call;
	char err[256], spec[128];

	if (lio.ready == NULL) {
		log_init("fuzz_h2client");
		/* FUZZ_VERBOSE=3 runs the -v -v frame traces too. */
		verbosity = getenv("FUZZ_VERBOSE") ?
		    atoi(getenv("FUZZ_VERBOSE")) :
		    -1;
		snprintf(spec, sizeof(spec), "unix:%s", feed_socket_path());
		if (target_parse(&o.target, spec, err, sizeof(err)) != 0)
			abort();
		o.proxy = "";
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
		    feed_socket_path());
		if ((lio.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
			-1 ||
		    bind(lio.fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    listen(lio.fd, 8) == -1)
			abort();
		lio.events = POLLIN;
		lio.ready = accept_ready;
		loop_io_add(&lio);
	}
	lio.ctx = &r;
	if ((ch = gchannel_new(&o, err, sizeof(err))) == NULL)
		abort();
	if ((call = gcall_start(
		 ch, "/evpipe.test.Echo/Unary", NULL, 0, 0, &h, &r)) == NULL)
		abort();
	gcall_send(call, request, sizeof(request));
	gcall_close_send(call);
	loop_run();
	if (!r.closed)
		abort();
	if (r.accepted)
		feed_stop(&r.feed);
	gchannel_free(ch);
	lio.ctx = NULL;
	return 0;
}
