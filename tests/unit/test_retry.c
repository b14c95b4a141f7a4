#include "config.h"

#include <stdlib.h>

#include "grpcwire.h"
#include "log.h"
#include "retry.h"
#include "tap.h"

static int opens;
static int64_t t0, at[4];

static void
open_call(struct retry *r, void *ctx)
{
	at[opens++] = loop_now() - t0;
	if (opens == 1 || opens == 2) {
		if (!retry_later(r, "test"))
			loop_quit(1);
	} else if (opens == 3) {
		retry_progress(r);
		if (!retry_later(r, "test"))
			loop_quit(1);
	} else {
		loop_quit(0);
	}
}

int
main(void)
{
	struct retry r;

	log_init("test_retry");
	verbosity = LOG_ERROR;
	setenv("EVPIPE_RETRY_INITIAL_MS", "40", 1);
	retry_init(&r, open_call, NULL);
	t0 = loop_now();
	retry_now(&r);
	is_int(loop_run(), 0, "opened four times");
	ok(at[0] < 30, "first open at once (%lld ms)", (long long)at[0]);
	ok(at[1] - at[0] >= 31 && at[1] - at[0] < 500,
	    "second after ~40 ms +-20%% (%lld)", (long long)(at[1] - at[0]));
	ok(at[2] - at[1] >= 50, "third after ~64 ms (%lld)",
	    (long long)(at[2] - at[1]));
	ok(at[3] - at[2] >= 31 && at[3] - at[2] < at[2] - at[1] + 500,
	    "progress resets the delay (%lld)", (long long)(at[3] - at[2]));
	is_int(r.opens, 4, "opens counted");

	retry_init(&r, open_call, NULL);
	r.max = 2;
	ok(retry_later(&r, "x"), "under max: scheduled");
	ok(!retry_later(&r, "x"), "at max: gives up");
	retry_cancel(&r);

	ok(retry_transient(GRPC_UNAVAILABLE), "UNAVAILABLE is transient");
	ok(retry_transient(GRPC_RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED too");
	ok(!retry_transient(GRPC_UNAUTHENTICATED), "UNAUTHENTICATED is not");
	ok(!retry_transient(GRPC_INVALID_ARGUMENT), "INVALID_ARGUMENT is not");
	ok(!retry_transient(GRPC_NOT_FOUND), "NOT_FOUND is not");
	return done_testing();
}
