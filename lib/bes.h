/*
 * The rules of one Build Event Service stream, as Bazel's uploader
 * keeps them (engflow.md section 3), without any I/O: the caller owns
 * the gRPC call and asks this what to send and what an ack or the end
 * of the call means.
 *
 * Events get sequence numbers 1, 2, 3, ... with no gap; they are sent
 * back to back without waiting (the caller bounds how many are
 * unacked); acks must name the oldest unacked event, strictly in
 * order; after the last event the client half-closes, and the stream
 * is done when the server ends it OK with every event acked.  When a
 * call fails, a new one resends every unacked event with its original
 * number, so a new call usually starts above 1.
 */
#ifndef EVPIPE_BES_H
#define EVPIPE_BES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bes_item {
	int64_t seq;
	void *ev; /* the caller's event */
};

struct bes_stream {
	int64_t next_seq; /* the number the next event gets */
	struct bes_item *q; /* numbered and not acked, oldest first (a ring) */
	size_t head, n, cap;
	size_t sent; /* q[0..sent) went out on the current call */
	bool last; /* the last event is queued */
	bool half_closed; /* on the current call */
	bool acked_any; /* the current call got an ack */
};

enum bes_end {
	BES_DONE, /* every event acked, the last one too: finished */
	BES_IDLE, /* nothing unacked, more may come: a new call then */
	BES_RETRY, /* resend the unacked events on a new call */
	BES_FAIL, /* give up with the call's status */
};

void bes_init(struct bes_stream *);
void bes_free(struct bes_stream *);
int64_t bes_number(struct bes_stream *);
int64_t bes_add(struct bes_stream *, void *, bool);
void *bes_next(struct bes_stream *, int64_t *);
bool bes_want_half_close(const struct bes_stream *);
void *bes_ack(struct bes_stream *, int64_t, char *, size_t);
enum bes_end bes_end(struct bes_stream *, int, char *, size_t);
void bes_restart(struct bes_stream *);

static inline size_t
bes_unacked(const struct bes_stream *s)
{
	return s->n;
}

#endif
