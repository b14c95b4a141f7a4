/*
 * The store target: awakari's messages service (awakari.md 1.3),
 * PutBatch(msgs) -> ackCount, the number of events accepted from the
 * start of the batch.  Events are sent in batches of up to --batch,
 * each waiting at most --linger for the batch to fill; the events after
 * the accepted prefix go out again (at once after progress, after the
 * backoff when the server took none: it is busy).  A batch is also cut
 * before it would pass BATCH_BYTES, under gRPC's default 4 MiB message
 * limit.  Several batches may be in flight within the window.
 *
 * A PutBatchRequest is `repeated CloudEvent msgs = 1`, so it is made
 * from the records as they are: tag 0x0a, length, body.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "api/grpc/messages/service.pb-c.h"
#include "exitcode.h"
#include "fwd_targets.h"
#include "log.h"
#include "varint.h"

#define PUT_PATH "/awakari.messages.Service/PutBatch"
#define BATCH_BYTES (4u * 1024 * 1024 - 64 * 1024)

typedef Awakari__Messages__PutBatchResponse PutRep;

struct batch {
	struct batch *prev, *next;
	struct store *s;
	struct gcall *call;
	struct fwd_ev **evs;
	size_t n;
	uint32_t ack;
	bool replied;
};

struct store {
	struct fwd *f;
	struct store_opts o;
	struct fwd_ev *qhead, *qtail; /* not sent yet, in input order */
	size_t qn, qbytes;
	struct batch *batches; /* in flight */
	size_t sent; /* events in them */
	struct loop_timer linger;
	bool ending; /* the input is over: no more lingering */
	struct retry retry;
	bool blocked; /* until the retry timer fires */
};

static void pump(struct store *, bool);

static size_t
wire_size(const struct fwd_ev *ev)
{
	uint8_t v[VARINT_MAX];

	return 1 + varint_put(v, ev->len) + ev->len;
}

static void
enqueue(struct store *s, struct fwd_ev *ev)
{
	ev->link = NULL;
	if (s->qtail != NULL)
		s->qtail->link = ev;
	else
		s->qhead = ev;
	s->qtail = ev;
	s->qn++;
	s->qbytes += wire_size(ev);
}

/* Back in line, in input order (batches come back in any order). */
static void
requeue(struct store *s, struct fwd_ev *ev)
{
	struct fwd_ev **pp = &s->qhead;

	while (*pp != NULL && (*pp)->recno < ev->recno)
		pp = &(*pp)->link;
	ev->link = *pp;
	*pp = ev;
	if (ev->link == NULL)
		s->qtail = ev;
	s->qn++;
	s->qbytes += wire_size(ev);
}

static struct fwd_ev *
dequeue(struct store *s)
{
	struct fwd_ev *ev = s->qhead;

	if ((s->qhead = ev->link) == NULL)
		s->qtail = NULL;
	s->qn--;
	s->qbytes -= wire_size(ev);
	return ev;
}

static void
batch_free(struct store *s, struct batch *b)
{
	s->sent -= b->n;
	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		s->batches = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	free(b->evs);
	free(b);
}

static void
on_headers(struct gcall *call, void *ctx)
{
	fwd_answered(((struct batch *)ctx)->s->f);
}

/* Fires for the PutBatchResponse. */
static int
on_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct batch *b = ctx;
	PutRep *r = awakari__messages__put_batch_response__unpack(NULL, n, p);

	if (r != NULL) {
		b->ack = r->ackcount;
		b->replied = true;
		protobuf_c_message_free_unpacked(&r->base, NULL);
	}
	return 0;
}

/*
 * A batch is over.  OK: the first ackCount events are delivered, the
 * rest go back in line.  Not OK: all go back.  more: send on what
 * waits (not when called from pump itself).
 */
static void
batch_done(struct batch *b, const struct gstatus *st, bool more)
{
	struct store *s = b->s;
	struct gstatus busy;
	char msg[200];
	size_t i, ok = 0;

	b->call = NULL;
	if (st->code == GRPC_OK) {
		ok = b->ack;
		if (!b->replied)
			lwarn("%s: OK without a reply: nothing accepted",
			    PUT_PATH);
		if (ok > b->n) {
			lwarn("%s: ackCount %zu for a batch of %zu", PUT_PATH,
			    ok, b->n);
			ok = b->n;
		}
	}
	for (i = 0; i < ok; i++)
		fwd_delivered(s->f, b->evs[i]);
	for (i = ok; i < b->n; i++)
		requeue(s, b->evs[i]);
	if (st->code == GRPC_OK && ok == b->n) {
		retry_progress(&s->retry);
		batch_free(s, b);
		if (more)
			pump(s, false);
		return;
	}
	if (st->code == GRPC_OK && ok > 0) {
		/* awakari.md 1.3: a partial ack; the tail goes out again */
		ltrace("%s: %zu of %zu accepted", PUT_PATH, ok, b->n);
		retry_progress(&s->retry);
		batch_free(s, b);
		if (more)
			pump(s, true);
		return;
	}
	if (st->code == GRPC_OK) {
		/* none accepted without an error: a busy server */
		snprintf(msg, sizeof(msg), "accepted none of %zu events", b->n);
		busy = (struct gstatus){ GRPC_RESOURCE_EXHAUSTED, msg };
		st = &busy;
	}
	batch_free(s, b);
	if (s->blocked && retry_transient(st->code))
		return; /* one retry for all is scheduled */
	if (fwd_retry(s->f, &s->retry, st, PUT_PATH))
		s->blocked = true;
}

/* Fires once when the PutBatch call is over. */
static void
on_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	batch_done(ctx, st, true);
}

static const struct gcall_handlers handlers = {
	.on_headers = on_headers,
	.on_message = on_message,
	.on_close = on_close,
};

static void
send_batch(struct store *s, struct batch *b)
{
	const struct fwd_opts *o = fwd_opts(s->f);
	ProtobufCMessage *m;
	struct gstatus st;
	uint8_t *req, *p;
	size_t len = 0, i;

	for (i = 0; i < b->n; i++)
		len += wire_size(b->evs[i]);
	if ((req = malloc(len > 0 ? len : 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (p = req, i = 0; i < b->n; i++) {
		*p++ = 0x0a; /* field 1, length-delimited */
		p += varint_put(p, b->evs[i]->len);
		memcpy(p, b->evs[i]->body, b->evs[i]->len);
		p += b->evs[i]->len;
	}
	if (o->dry_run) {
		m = protobuf_c_message_unpack(
		    &awakari__messages__put_batch_request__descriptor, NULL,
		    len, req);
		if (m == NULL)
			die(EXIT_INTERNAL, "a batch does not parse");
		fwd_dry_print(s->f, PUT_PATH, m);
		protobuf_c_message_free_unpacked(m, NULL);
		free(req);
		b->ack = (uint32_t)b->n;
		b->replied = true;
		batch_done(b, &(struct gstatus){ GRPC_OK, "" }, false);
		return;
	}
	b->call = fwd_call(s->f, PUT_PATH, o->timeout_ms, &handlers, b, &st);
	if (b->call == NULL) {
		free(req);
		batch_done(b, &st, false);
		return;
	}
	gcall_send(b->call, req, len);
	gcall_close_send(b->call);
	free(req);
}

/*
 * Send what is waiting in batches: full ones always, a short one when
 * it has lingered long enough (force) or the input is over.
 */
static void
pump(struct store *s, bool force)
{
	struct batch *b;
	size_t bytes, cap;

	/* a window smaller than a batch would only ever linger */
	force = force || s->ending || s->qn + s->sent >= fwd_opts(s->f)->window;
	while (!s->blocked && !fwd_failed(s->f) && s->qn > 0 &&
	    (force || s->qn >= s->o.batch || s->qbytes >= BATCH_BYTES)) {
		if ((b = calloc(1, sizeof(*b))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		cap = s->qn < s->o.batch ? s->qn : s->o.batch;
		if ((b->evs = calloc(cap, sizeof(*b->evs))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		b->s = s;
		for (bytes = 0; s->qn > 0 && b->n < cap &&
		     (b->n == 0 || bytes + wire_size(s->qhead) <= BATCH_BYTES);
		     b->n++) {
			bytes += wire_size(s->qhead);
			b->evs[b->n] = dequeue(s);
		}
		if ((b->next = s->batches) != NULL)
			b->next->prev = b;
		s->batches = b;
		s->sent += b->n;
		send_batch(s, b);
	}
	if (s->qn == 0 || s->blocked)
		loop_timer_stop(&s->linger);
	else if (!loop_timer_armed(&s->linger))
		loop_timer_in(&s->linger, s->o.linger_ms);
}

static void
lingered(struct loop_timer *t)
{
	pump(t->ctx, true);
}

static void
retry_open(struct retry *r, void *ctx)
{
	struct store *s = ctx;

	s->blocked = false;
	pump(s, true);
}

static int
take(void *ctx, struct fwd_ev *ev, const CloudEvent *ce, char *err, size_t len)
{
	struct store *s = ctx;

	enqueue(s, ev);
	pump(s, false);
	return FWD_TAKEN;
}

static void
flush(void *ctx)
{
	struct store *s = ctx;

	s->ending = true;
	pump(s, true);
}

static bool
idle(void *ctx)
{
	struct store *s = ctx;

	return s->qn == 0 && s->batches == NULL;
}

static void
abort_all(void *ctx)
{
	struct store *s = ctx;

	retry_cancel(&s->retry);
	loop_timer_stop(&s->linger);
	while (s->batches != NULL) {
		if (s->batches->call != NULL) {
			gcall_set_handlers(s->batches->call, NULL, NULL);
			gcall_cancel(s->batches->call);
		}
		batch_free(s, s->batches);
	}
	s->qhead = s->qtail = NULL;
	s->qn = s->qbytes = 0;
}

static void
free_store(void *ctx)
{
	abort_all(ctx);
	free(ctx);
}

static const struct fwd_target target = {
	.name = "store",
	.take = take,
	.flush = flush,
	.idle = idle,
	.abort = abort_all,
	.free = free_store,
};

void
fwd_store_start(struct fwd *f, const struct store_opts *o)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		die(EXIT_INTERNAL, "out of memory");
	s->f = f;
	s->o = *o;
	loop_timer_init(&s->linger, lingered, s);
	fwd_retry_init(f, &s->retry, retry_open, s);
	fwd_set_target(f, &target, s);
}
