#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "recin.h"

static void
end(struct recin *r, int status, const char *why)
{
	if (r->ended)
		return;
	r->ended = true;
	r->io.events = 0;
	loop_timer_stop(&r->kick);
	r->h->on_end(r, status, why, r->ctx);
}

/*
 * Hand over the complete records already read, until the consumer
 * pauses or the buffer runs dry.  A record that is not a valid
 * CloudEvent ends the input: everything before it was delivered.
 */
static void
deliver(struct recin *r)
{
	char err[256];
	const uint8_t *body;
	CloudEvent *ev;
	size_t len;
	int k;

	while (!r->paused && !r->ended && !r->stopped) {
		k = frame_next(&r->fr, &body, &len);
		if (k == FRAME_AGAIN)
			return;
		if (k == FRAME_EOF) {
			end(r, EXIT_OK, "end of input");
			return;
		}
		if (k == FRAME_ERROR) {
			end(r, EXIT_DATA, r->fr.err);
			return;
		}
		ev = ce_unpack(&r->arena, body, len, err, sizeof(err));
		if (ev == NULL) {
			arena_reset(&r->arena);
			frame_errorf(&r->fr, "%s", err);
			end(r, EXIT_DATA, r->fr.err);
			return;
		}
		if (r->h->on_record(r, body, len, ev, r->ctx) == RECIN_PAUSE)
			r->paused = true;
		arena_reset(&r->arena);
	}
}

/* Fires before each poll: read only while the consumer takes records. */
static void
in_prepare(struct loop_io *io)
{
	struct recin *r = io->ctx;

	io->events = r->paused || r->ended || r->stopped ? 0 : POLLIN;
}

/* Readable or at end of file (POLLHUP): read once, deliver. */
static void
in_ready(struct loop_io *io, short revents)
{
	struct recin *r = io->ctx;
	char why[300];

	if (frame_fill(&r->fr) < 0) {
		snprintf(why, sizeof(why), "%s", strerror(errno));
		end(r, EXIT_IO, why);
		return;
	}
	deliver(r);
}

/* Deferred delivery after recin_resume(), outside the caller's stack. */
static void
kicked(struct loop_timer *t)
{
	deliver(t->ctx);
}

/*
 * Read records from fd (not made non-blocking: poll(2) says when a
 * read will not block).  max: the largest record body accepted.
 */
static double
read_count(struct metric *m)
{
	return (double)recin_count(m->ctx);
}

void
recin_open(struct recin *r, int fd, const char *name, size_t max,
    const struct recin_handlers *h, void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->h = h;
	r->ctx = ctx;
	frame_reader_init(&r->fr, fd, max);
	arena_init(&r->arena);
	loop_timer_init(&r->kick, kicked, r);
	r->io = (struct loop_io){
		.fd = fd, .prepare = in_prepare, .ready = in_ready, .ctx = r
	};
	loop_io_add(&r->io);
	r->m_in = (struct metric){ .name = "records_in_total",
		.help = "Records read from the input.",
		.type = METRIC_COUNTER,
		.read = read_count,
		.ctx = r };
	metric_register(&r->m_in);
}

void
recin_pause(struct recin *r)
{
	r->paused = true;
}

/* Deliver again: records already read first (from the loop), then more. */
void
recin_resume(struct recin *r)
{
	if (!r->paused)
		return;
	r->paused = false;
	if (!r->ended && !r->stopped)
		loop_timer_in(&r->kick, 0);
}

/* Stop for good without on_end (the tool is shutting down). */
void
recin_stop(struct recin *r)
{
	r->stopped = true;
	r->io.events = 0;
	loop_timer_stop(&r->kick);
}

void
recin_close(struct recin *r)
{
	metric_unregister(&r->m_in);
	loop_io_del(&r->io);
	loop_timer_stop(&r->kick);
	frame_reader_free(&r->fr);
	arena_free(&r->arena);
}
