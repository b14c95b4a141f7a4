/*
 * libFuzzer: our gRPC server (lib/grpc_server.c over lib/h2conn.c and
 * nghttp2, with our callbacks) reading arbitrary bytes from a client:
 * the connection preface, frames, HPACK, gRPC messages.  The bytes come
 * on a unix socket and end with a half-close; the server must answer
 * and close the connection, within 10 s, without a sanitizer error.
 * It serves /evpipe.test.Echo/Unary (echoes each message, then OK),
 * health and reflection, as every gserver does.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed.h"
#include "grpc.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
echo_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	(void)ctx;
	gcall_send(call, p, n);
	return 0;
}

static void
echo_half_close(struct gcall *call, void *ctx)
{
	(void)ctx;
	gcall_finish(call, 0, "");
}

static void
echo_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	(void)call, (void)st, (void)ctx;
}

static void
echo_call(struct gcall *call, void *ctx)
{
	static const struct gcall_handlers h = {
		.on_message = echo_message,
		.on_half_close = echo_half_close,
		.on_close = echo_close,
	};

	gcall_set_handlers(call, &h, ctx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gserver *server;
	static struct sockaddr_un sun;
	struct gserver_method echo = { "/evpipe.test.Echo/Unary", echo_call,
		NULL };
	struct gserver_opts o;
	struct feed f;
	char err[256], spec[128];
	int fd;

	if (server == NULL) {
		log_init("fuzz_h2server");
		/* FUZZ_VERBOSE=3 runs the -v -v frame traces too. */
		verbosity = getenv("FUZZ_VERBOSE") ?
		    atoi(getenv("FUZZ_VERBOSE")) :
		    -1;
		memset(&o, 0, sizeof(o));
		snprintf(spec, sizeof(spec), "unix:%s", feed_socket_path());
		if (target_parse(&o.listen, spec, err, sizeof(err)) != 0 ||
		    (server = gserver_new(&o, err, sizeof(err))) == NULL) {
			fprintf(stderr, "fuzz_h2server: %s\n", err);
			abort();
		}
		gserver_add(server, &echo);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s",
		    feed_socket_path());
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		abort();
	feed_start(&f, fd, data, size, true);
	loop_run();
	feed_stop(&f);
	return 0;
}
