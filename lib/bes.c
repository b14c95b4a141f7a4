#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bes.h"
#include "errf.h"
#include "exitcode.h"
#include "grpcwire.h"
#include "log.h"
#include "retry.h"

void
bes_init(struct bes_stream *s)
{
	*s = (struct bes_stream){ .next_seq = 1 };
}

void
bes_free(struct bes_stream *s)
{
	free(s->q);
	s->q = NULL;
	s->n = s->cap = s->head = s->sent = 0;
}

static struct bes_item *
at(const struct bes_stream *s, size_t i)
{
	return &s->q[(s->head + i) % s->cap];
}

/*
 * The next sequence number, for an event sent some other way
 * (PublishLifecycleEvent numbers its streams the same way).
 */
int64_t
bes_number(struct bes_stream *s)
{
	return s->next_seq++;
}

/* Number an event and queue it for sending; last: nothing follows. */
int64_t
bes_add(struct bes_stream *s, void *ev, bool last)
{
	struct bes_item *q;
	size_t i, cap;

	if (s->n == s->cap) {
		cap = s->cap > 0 ? 2 * s->cap : 16;
		if ((q = malloc(cap * sizeof(*q))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		for (i = 0; i < s->n; i++)
			q[i] = *at(s, i);
		free(s->q);
		s->q = q;
		s->cap = cap;
		s->head = 0;
	}
	q = &s->q[(s->head + s->n) % s->cap];
	q->seq = s->next_seq++;
	q->ev = ev;
	s->n++;
	s->last = s->last || last;
	return q->seq;
}

/* The next event to send on the current call, or NULL. */
void *
bes_next(struct bes_stream *s, int64_t *seq)
{
	struct bes_item *it;

	if (s->sent == s->n || s->half_closed)
		return NULL;
	it = at(s, s->sent++);
	*seq = it->seq;
	return it->ev;
}

/* Everything is sent and the last event was among it. */
bool
bes_want_half_close(const struct bes_stream *s)
{
	return s->last && !s->half_closed && s->sent == s->n;
}

/*
 * An ack for seq arrived: returns the acked event, or NULL with err set
 * when it is not the oldest unacked event that was sent; the caller
 * then fails the stream with FAILED_PRECONDITION, as Bazel does
 * (BuildEventServiceUploader: an out-of-order ack aborts the upload).
 */
void *
bes_ack(struct bes_stream *s, int64_t seq, char *err, size_t len)
{
	struct bes_item *it;

	if (s->sent == 0) {
		errf(err, len,
		    "received ACK with seqNum=%" PRId64
		    " when no ACK was expected",
		    seq);
		return NULL;
	}
	it = at(s, 0);
	if (it->seq != seq) {
		errf(err, len,
		    "expected ACK with seqNum=%" PRId64
		    " but received ACK with seqNum=%" PRId64,
		    it->seq, seq);
		return NULL;
	}
	s->head = (s->head + 1) % s->cap;
	s->n--;
	s->sent--;
	s->acked_any = true;
	return it->ev;
}

/*
 * The current call ended with this status.  OK counts only when the
 * last event was sent and everything was acked (Bazel: "Server closed
 * stream with status OK but not all ACKs have been received" is a
 * failure to retry).  Any end with nothing unacked loses nothing.
 * The statuses of a broken connection or a busy server are retried
 * (retry_transient); INVALID_ARGUMENT and FAILED_PRECONDITION, like
 * every other, are final.
 */
enum bes_end
bes_end(struct bes_stream *s, int code, char *err, size_t len)
{
	if (s->n == 0) {
		if (code != GRPC_OK && s->last)
			errf(err, len, "status %s after every event was acked",
			    grpc_status_name(code));
		return s->last ? BES_DONE : BES_IDLE;
	}
	if (code == GRPC_OK) {
		errf(err, len,
		    "server closed the stream with status OK but %zu "
		    "event%s %s not acknowledged",
		    s->n, s->n == 1 ? "" : "s", s->n == 1 ? "was" : "were");
		return BES_RETRY;
	}
	errf(err, len, "%zu event%s not acknowledged", s->n,
	    s->n == 1 ? "" : "s");
	return retry_transient(code) ? BES_RETRY : BES_FAIL;
}

/* A new call: resend from the oldest unacked event. */
void
bes_restart(struct bes_stream *s)
{
	s->sent = 0;
	s->half_closed = false;
	s->acked_any = false;
}
