/* lib/bes.c: numbering, pipelining, strict acks, retries (engflow.md 3). */
#include "config.h"

#include <string.h>

#include "bes.h"
#include "grpcwire.h"
#include "tap.h"

static int ev[10];

static void
numbering_and_acks(void)
{
	struct bes_stream s;
	char err[200];
	int64_t seq;
	void *e;
	int i;

	bes_init(&s);
	for (i = 0; i < 3; i++)
		is_int(bes_add(&s, &ev[i], false), i + 1, "event %d gets %d", i,
		    i + 1);
	/* all three go out before any ack (pipelined) */
	for (i = 0; i < 3; i++) {
		e = bes_next(&s, &seq);
		ok(e == &ev[i] && seq == i + 1, "send %d without waiting",
		    i + 1);
	}
	ok(bes_next(&s, &seq) == NULL, "nothing more to send");
	ok(!bes_want_half_close(&s), "no half-close before the last event");
	ok(bes_ack(&s, 1, err, sizeof(err)) == &ev[0], "ack 1");
	ok(bes_ack(&s, 3, err, sizeof(err)) == NULL, "ack 3 before 2 refused");
	is_str(err, "expected ACK with seqNum=2 but received ACK with seqNum=3",
	    "Bazel's words");
	ok(bes_ack(&s, 2, err, sizeof(err)) == &ev[1], "ack 2");
	ok(bes_ack(&s, 3, err, sizeof(err)) == &ev[2], "ack 3");
	is_int(bes_unacked(&s), 0, "nothing unacked");
	ok(bes_ack(&s, 4, err, sizeof(err)) == NULL, "an ack nobody waits for");
	is_str(err, "received ACK with seqNum=4 when no ACK was expected",
	    "its message");
	is_int(bes_end(&s, GRPC_UNAVAILABLE, err, sizeof(err)), BES_IDLE,
	    "a broken idle stream loses nothing");
	is_int(bes_add(&s, &ev[3], true), 4, "numbers go on after a new call");
	bes_restart(&s);
	ok(bes_next(&s, &seq) == &ev[3] && seq == 4, "the new call sends 4");
	ok(bes_want_half_close(&s), "half-close after the last event");
	s.half_closed = true;
	ok(!bes_want_half_close(&s), "once");
	is_int(bes_end(&s, GRPC_OK, err, sizeof(err)), BES_RETRY,
	    "OK with an event unacked is a failure");
	ok(strstr(err, "1 event was not acknowledged") != NULL, "says so: %s",
	    err);
	bes_free(&s);
}

static void
resend(void)
{
	struct bes_stream s;
	char err[200];
	int64_t seq;
	int i;

	bes_init(&s);
	for (i = 0; i < 10; i++)
		bes_add(&s, &ev[i], i == 9);
	for (i = 0; i < 6; i++)
		bes_next(&s, &seq);
	bes_ack(&s, 1, err, sizeof(err));
	bes_ack(&s, 2, err, sizeof(err));
	ok(s.acked_any, "the call made progress");
	is_int(bes_end(&s, GRPC_UNAVAILABLE, err, sizeof(err)), BES_RETRY,
	    "UNAVAILABLE is retried");
	bes_restart(&s);
	ok(!s.acked_any, "a new call has no progress yet");
	for (i = 2; i < 10; i++) {
		ok(bes_next(&s, &seq) == &ev[i] && seq == i + 1,
		    "resent with its original number %d", i + 1);
	}
	ok(bes_want_half_close(&s), "then half-closed");
	s.half_closed = true;
	for (i = 3; i <= 10; i++)
		bes_ack(&s, i, err, sizeof(err));
	is_int(bes_end(&s, GRPC_OK, err, sizeof(err)), BES_DONE,
	    "OK after every ack: done");
	bes_free(&s);

	bes_init(&s);
	bes_add(&s, &ev[0], false);
	bes_next(&s, &seq);
	is_int(bes_end(&s, GRPC_INVALID_ARGUMENT, err, sizeof(err)), BES_FAIL,
	    "INVALID_ARGUMENT is final");
	is_int(bes_end(&s, GRPC_FAILED_PRECONDITION, err, sizeof(err)),
	    BES_FAIL, "FAILED_PRECONDITION is final");
	is_int(bes_end(&s, GRPC_UNAUTHENTICATED, err, sizeof(err)), BES_FAIL,
	    "UNAUTHENTICATED is final");
	is_int(bes_end(&s, GRPC_RESOURCE_EXHAUSTED, err, sizeof(err)),
	    BES_RETRY, "RESOURCE_EXHAUSTED is retried");
	is_int(bes_end(&s, GRPC_DEADLINE_EXCEEDED, err, sizeof(err)), BES_RETRY,
	    "DEADLINE_EXCEEDED is retried");
	bes_free(&s);
}

static void
ring(void)
{
	struct bes_stream s;
	char err[200];
	int64_t seq, i, good = 1;
	static int many[1000];

	bes_init(&s);
	/* a window of 7 sliding over 1000 events wraps the ring often */
	for (i = 0; i < 1000; i++) {
		bes_add(&s, &many[i], i == 999);
		bes_next(&s, &seq);
		if (seq != i + 1)
			good = 0;
		if (i >= 6 &&
		    bes_ack(&s, i - 5, err, sizeof(err)) != &many[i - 6])
			good = 0;
	}
	for (i = 995; i <= 1000; i++)
		if (bes_ack(&s, i, err, sizeof(err)) != &many[i - 1])
			good = 0;
	ok(good, "1000 events through a window of 7, in order");
	ok(s.cap <= 16, "the queue stays small (%zu)", s.cap);
	is_int(bes_number(&s), 1001, "lifecycle numbers share the counter");
	bes_free(&s);
}

int
main(void)
{
	numbering_and_acks();
	resend();
	ring();
	return done_testing();
}
