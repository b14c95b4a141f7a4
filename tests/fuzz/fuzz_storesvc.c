/*
 * libFuzzer: store serve's request decoding (lib/storesvc.c): the first
 * byte picks PutBatch, GetBatch, DeleteBatch or Clean, the rest is the
 * request message, sent by our gRPC client to our gRPC server with the
 * awakari messages service on an SQLite store in a temporary directory.
 * Every call must end, within 10 s, with a gRPC status, without a
 * sanitizer error.
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed.h"
#include "grpc.h"
#include "log.h"
#include "store.h"
#include "storesvc.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char dir[64], db[96];

struct run {
	bool closed;
	int code;
	struct loop_timer limit;
};

static void
remove_db(void)
{
	static const char *const ext[] = { "", "-wal", "-shm", "-journal" };
	char p[128];
	size_t i;

	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", db, ext[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void
store_state(bool up, const char *why, void *ctx)
{
	(void)ctx;
	if (!up) {
		fprintf(stderr, "fuzz_storesvc: %s\n", why);
		abort();
	}
	loop_quit(0);
}

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

/* The call did not end in time: a hang is a bug. */
static void
too_long(struct loop_timer *t)
{
	(void)t;
	fprintf(stderr, "fuzz_storesvc: the call did not end within 10 s\n");
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {
		"/awakari.messages.Service/PutBatch",
		"/awakari.messages.Service/GetBatch",
		"/awakari.messages.Service/DeleteBatch",
		"/awakari.messages.cleaner.Service/Clean",
	};
	static const struct gcall_handlers h = {
		.on_message = got_message,
		.on_close = got_close,
	};
	static struct gchannel *ch;
	struct run r = { 0 };
	struct gcall *call;
	char err[256], spec[128];

	if (ch == NULL) {
		struct store_config cfg = { .on_state = store_state };
		struct gserver_opts so = { 0 };
		struct storesvc_opts vo = { 0 };
		struct gchannel_opts co = { .proxy = "" };
		struct gserver *server;

		log_init("fuzz_storesvc");
		/* FUZZ_VERBOSE=3 runs the -v -v frame traces too. */
		verbosity = getenv("FUZZ_VERBOSE") ?
		    atoi(getenv("FUZZ_VERBOSE")) :
		    -1;
		/* tmpfs where there is one: each put is a transaction */
		snprintf(dir, sizeof(dir), "/dev/shm/evpipe-fuzz-db.XXXXXX");
		if (mkdtemp(dir) == NULL) {
			snprintf(
			    dir, sizeof(dir), "/tmp/evpipe-fuzz-db.XXXXXX");
			if (mkdtemp(dir) == NULL)
				abort();
		}
		snprintf(db, sizeof(db), "%s/store.db", dir);
		atexit(remove_db);
		snprintf(spec, sizeof(spec), "sqlite:%s", db);
		cfg.uri = spec;
		if ((vo.store = store_open(&cfg, err, sizeof(err))) == NULL) {
			fprintf(stderr, "fuzz_storesvc: %s\n", err);
			abort();
		}
		if (!store_up(vo.store))
			loop_run();
		snprintf(spec, sizeof(spec), "unix:%s", feed_socket_path());
		if (target_parse(&so.listen, spec, err, sizeof(err)) != 0 ||
		    target_parse(&co.target, spec, err, sizeof(err)) != 0 ||
		    (server = gserver_new(&so, err, sizeof(err))) == NULL ||
		    (ch = gchannel_new(&co, err, sizeof(err))) == NULL) {
			fprintf(stderr, "fuzz_storesvc: %s\n", err);
			abort();
		}
		vo.retention_us = 3600LL * 1000000;
		(void)storesvc_new(server, &vo);
	}
	if (size == 0)
		return 0;
	if ((call = gcall_start(ch, paths[data[0] % 4], NULL, 0, 0, &h, &r)) ==
	    NULL)
		abort();
	gcall_send(call, data + 1, size - 1);
	gcall_close_send(call);
	loop_timer_init(&r.limit, too_long, &r);
	loop_timer_in(&r.limit, 10000);
	loop_run();
	loop_timer_stop(&r.limit);
	if (!r.closed)
		abort();
	return 0;
}
