#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "frame.h"
#include "log.h"
#include "recout.h"

/* Tell the marks whose bytes are all written, oldest first. */
static void
fire_marks(struct recout *o)
{
	struct recout_mark m;

	while (o->nmarks > 0 && !o->failed) {
		m = o->marks[o->mark0];
		if (m.at > o->out.written)
			break;
		o->mark0 = (o->mark0 + 1) % o->markcap;
		o->nmarks--;
		if (o->h->on_written != NULL)
			o->h->on_written(o, m.cookie, o->ctx);
	}
}

static void
fail(struct recout *o, int err)
{
	if (o->failed)
		return;
	o->failed = true;
	loop_timer_stop(&o->stall);
	outbuf_discard(&o->out);
	o->nmarks = 0;
	o->io.events = 0;
	if (o->h->on_error != NULL)
		o->h->on_error(o, err, o->ctx);
}

/* Fires before each poll: wait for room only while bytes are pending. */
static void
out_prepare(struct loop_io *io)
{
	struct recout *o = io->ctx;

	io->events = !o->failed && outbuf_pending(&o->out) > 0 ? POLLOUT : 0;
}

/* Writable (or POLLERR: the write reports why): write what fits. */
static void
out_ready(struct loop_io *io, short revents)
{
	struct recout *o = io->ctx;

	if (outbuf_write(&o->out) < 0) {
		fail(o, errno);
		return;
	}
	fire_marks(o);
	if (o->full && !o->failed &&
	    outbuf_pending(&o->out) < RECOUT_HIGH / 2) {
		o->full = false;
		loop_timer_stop(&o->stall);
		if (o->stall_told)
			lnotice("%s: the reader takes records again, after "
				"%.0fs",
			    o->name,
			    (double)(loop_now() - o->full_since) / 1000);
		o->stall_told = false;
		if (o->h->on_drain != NULL)
			o->h->on_drain(o, o->ctx);
	}
}

static double
read_count(struct metric *m)
{
	const struct recout *o = m->ctx;

	return (double)o->records;
}

/*
 * The reader has taken too little for wait_warn_ms: say so (once, and
 * again every ten times as long), for an operator looking at a stalled
 * pipeline.  Upstream is held back meanwhile; nothing is lost.
 */
static void
stalled(struct loop_timer *t)
{
	struct recout *o = t->ctx;

	o->stall_told = true;
	lwarn("%s: the reader has taken nothing for %.0fs; holding the "
	      "input back",
	    o->name, (double)(loop_now() - o->full_since) / 1000);
	loop_timer_in(t, 10 * wait_warn_ms());
}

/* Write records to fd, which is never made non-blocking (outbuf.h). */
void
recout_open(struct recout *o, int fd, const char *name,
    const struct recout_handlers *h, void *ctx)
{
	memset(o, 0, sizeof(*o));
	o->name = name;
	o->h = h;
	o->ctx = ctx;
	outbuf_init(&o->out, fd);
	o->io = (struct loop_io){
		.fd = fd, .prepare = out_prepare, .ready = out_ready, .ctx = o
	};
	loop_io_add(&o->io);
	loop_timer_init(&o->stall, stalled, o);
	o->m_out = (struct metric){ .name = "records_out_total",
		.help = "Records written to the output.",
		.type = METRIC_COUNTER,
		.read = read_count,
		.ctx = o };
	metric_register(&o->m_out);
}

static void
queued(struct recout *o)
{
	o->queued = o->out.written + outbuf_pending(&o->out);
	if (!o->full && outbuf_pending(&o->out) >= RECOUT_HIGH) {
		o->full = true;
		o->full_since = loop_now();
		loop_timer_in(&o->stall, wait_warn_ms());
	}
}

/* Queue msg as one record; returns its body size.  Dropped after an error. */
size_t
recout_put(struct recout *o, const ProtobufCMessage *msg)
{
	size_t n;

	if (o->failed)
		return 0;
	n = frame_put(&o->out, msg);
	o->records++;
	queued(o);
	return n;
}

void
recout_put_bytes(struct recout *o, const void *body, size_t len)
{
	if (o->failed)
		return;
	frame_put_bytes(&o->out, body, len);
	o->records++;
	queued(o);
}

/*
 * on_written(cookie) once everything queued so far is written; at once
 * (from this call) when nothing is pending.
 */
void
recout_mark(struct recout *o, uint64_t cookie)
{
	struct recout_mark *m;
	size_t i;

	if (o->failed)
		return;
	if (o->nmarks == o->markcap) {
		size_t cap = o->markcap ? o->markcap * 2 : 64;

		if ((m = calloc(cap, sizeof(*m))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		for (i = 0; i < o->nmarks; i++)
			m[i] = o->marks[(o->mark0 + i) % o->markcap];
		free(o->marks);
		o->marks = m;
		o->markcap = cap;
		o->mark0 = 0;
	}
	o->marks[(o->mark0 + o->nmarks) % o->markcap] = (struct recout_mark){
		.at = o->queued, .cookie = cookie
	};
	o->nmarks++;
	fire_marks(o);
}

/* More output now would go over the high-water mark: wait for on_drain. */
bool
recout_full(const struct recout *o)
{
	return o->full;
}

/* Everything queued has been written (or output failed). */
bool
recout_idle(const struct recout *o)
{
	return o->failed || outbuf_pending(&o->out) == 0;
}

void
recout_close(struct recout *o)
{
	metric_unregister(&o->m_out);
	loop_timer_stop(&o->stall);
	loop_io_del(&o->io);
	outbuf_free(&o->out);
	free(o->marks);
	o->marks = NULL;
	o->nmarks = o->markcap = 0;
}
