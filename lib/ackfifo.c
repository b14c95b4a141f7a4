#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackfifo.h"
#include "errf.h"
#include "exitcode.h"
#include "log.h"

#define ACKW_RETRY_MS 100
#define ACKW_MAX_PENDING (1024 * 1024) /* with no reader: drop beyond */

/* Make path a FIFO unless it exists; say what it is. */
static int
make_fifo(const char *path, struct stat *st, char *err, size_t errlen)
{
	if (mkfifo(path, 0600) == -1 && errno != EEXIST)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	if (stat(path, st) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	return 0;
}

/* ---- writer ----------------------------------------------------------- */

static void ackw_try_open(struct ackw *);

static void
ackw_retry(struct loop_timer *t)
{
	ackw_try_open(t->ctx);
}

/*
 * Open the FIFO without blocking: ENXIO means no reader has it open
 * yet (fifo(7)); try again shortly.  The descriptor is ours alone, so
 * O_NONBLOCK on it is no concern of the rest of the pipeline.  With no
 * reader for long, acks are dropped beyond a bound: whoever reads next
 * starts a new stream upstream and gets its events again anyway.
 */
static void
ackw_try_open(struct ackw *w)
{
	int fd = open(w->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd == -1) {
		if (errno != ENXIO && !w->warned) {
			logsys(LOG_WARN, "%s", w->path);
			w->warned = true;
		}
		if (outbuf_pending(&w->out) > ACKW_MAX_PENDING) {
			lwarn("%s: no reader; dropping %zu bytes of acks",
			    w->path, outbuf_pending(&w->out));
			outbuf_discard(&w->out);
		}
		loop_timer_in(&w->retry, ACKW_RETRY_MS);
		return;
	}
	w->warned = false;
	w->fd = w->io.fd = fd;
	linfo("%s: reader connected", w->path);
}

/* Fires before each poll: wait for room while acks are pending. */
static void
ackw_prepare(struct loop_io *io)
{
	struct ackw *w = io->ctx;

	io->events = w->fd >= 0 && outbuf_pending(&w->out) > 0 ? POLLOUT : 0;
}

/*
 * Write whole lines only, at most PIPE_BUF bytes at a time: such a
 * write to a pipe is atomic (pipe(7)), so a reader never sees half an
 * ack, even when we die.  ACK_MAX < PIPE_BUF, so a chunk holds a line.
 */
static int
ackw_flush(struct ackw *w)
{
	const uint8_t *p, *nl;
	size_t n;
	ssize_t r;

	while ((n = outbuf_pending(&w->out)) > 0) {
		p = w->out.p + w->out.start;
		if (n > PIPE_BUF) {
			nl = memrchr(p, '\n', PIPE_BUF);
			n = (size_t)(nl - p) + 1;
		}
		r = write(w->fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN ? 0 : -1;
		w->out.start += (size_t)r;
		w->out.written += (uint64_t)r;
	}
	w->out.start = w->out.end = 0;
	return 0;
}

/* Writable, or the reader went away (POLLERR; the write says EPIPE). */
static void
ackw_ready(struct loop_io *io, short revents)
{
	struct ackw *w = io->ctx;

	if (ackw_flush(w) == 0)
		return;
	if (errno != EPIPE)
		logsys(LOG_WARN, "%s", w->path);
	else
		linfo("%s: reader went away", w->path);
	close(w->fd);
	w->fd = w->io.fd = -1;
	ackw_try_open(w);
}

static double
read_u64(struct metric *m)
{
	return (double)*(const uint64_t *)m->ctx;
}

int
ackw_open(struct ackw *w, const char *path, char *err, size_t errlen)
{
	struct stat st;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (make_fifo(path, &st, err, errlen) < 0)
		return -1;
	if (!S_ISFIFO(st.st_mode) && !S_ISREG(st.st_mode))
		return errf(err, errlen, "%s: not a FIFO", path);
	if ((w->path = strdup(path)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	w->out.fd = -1; /* only its buffer is used */
	loop_timer_init(&w->retry, ackw_retry, w);
	w->io = (struct loop_io){
		.fd = -1, .prepare = ackw_prepare, .ready = ackw_ready, .ctx = w
	};
	loop_io_add(&w->io);
	w->m_out = (struct metric){ .name = "acks_written_total",
		.help = "Acknowledgements written to --acked-to.",
		.type = METRIC_COUNTER,
		.read = read_u64,
		.ctx = &w->queued };
	metric_register(&w->m_out);
	if (S_ISFIFO(st.st_mode)) {
		ackw_try_open(w);
		return 0;
	}
	/* A regular file: a log of acks, for tests and audits. */
	if ((w->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	w->io.fd = w->fd;
	return 0;
}

/* Queue one ack; -1 (and a warning) for a value that cannot be one. */
int
ackw_put(struct ackw *w, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > ACK_MAX || memchr(v, '\n', n) != NULL) {
		lwarn("%s: not an ack value (empty, over %d bytes or with a "
		      "newline); dropped",
		    w->path, ACK_MAX);
		return -1;
	}
	outbuf_add(&w->out, v, n);
	outbuf_add(&w->out, "\n", 1);
	w->queued++;
	return 0;
}

/* Every ack queued has been written (or there is no reader to take it). */
bool
ackw_idle(const struct ackw *w)
{
	return outbuf_pending(&w->out) == 0 || w->fd < 0;
}

/* Write what the reader takes now, without waiting, and close. */
void
ackw_close(struct ackw *w)
{
	if (w->path == NULL)
		return;
	metric_unregister(&w->m_out);
	if (w->fd >= 0) {
		ackw_flush(w);
		close(w->fd);
	}
	loop_io_del(&w->io);
	loop_timer_stop(&w->retry);
	outbuf_free(&w->out);
	free(w->path);
	w->path = NULL;
}

/* ---- reader ----------------------------------------------------------- */

/* Fires before each poll: always interested; acks may come any time. */
static void
ackr_prepare(struct loop_io *io)
{
	io->events = POLLIN;
}

/* Readable: take every complete line; a line over ACK_MAX is refused. */
static void
ackr_ready(struct loop_io *io, short revents)
{
	struct ackr *r = io->ctx;
	const char *p, *nl;
	char v[ACK_MAX + 1];
	size_t n;

	if (inbuf_fill(&r->in, inbuf_len(&r->in) + 1) < 0) {
		if (errno != EAGAIN)
			logsys(LOG_WARN, "%s", r->path);
		return;
	}
	for (;;) {
		p = (const char *)inbuf_data(&r->in);
		n = inbuf_len(&r->in);
		if ((nl = memchr(p, '\n', n)) == NULL) {
			if (n > ACK_MAX) { /* no newline in sight: skip */
				r->bad++;
				r->skipping = true;
				inbuf_consume(&r->in, n);
			}
			return;
		}
		n = (size_t)(nl - p);
		if (r->skipping || n == 0 || n > ACK_MAX) {
			if (!r->skipping && n > 0)
				r->bad++;
			r->skipping = false;
		} else {
			memcpy(v, p, n);
			v[n] = '\0';
			r->good++;
			r->h->on_ack(r, v, r->ctx);
		}
		inbuf_consume(&r->in, n + 1);
	}
}

int
ackr_open(struct ackr *r, const char *path, const struct ackr_handlers *h,
    void *ctx, char *err, size_t errlen)
{
	struct stat st;

	memset(r, 0, sizeof(*r));
	r->fd = r->wfd = -1;
	if (make_fifo(path, &st, err, errlen) < 0)
		return -1;
	if (!S_ISFIFO(st.st_mode))
		return errf(err, errlen, "%s: not a FIFO", path);
	if ((r->fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    (r->wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		if (r->fd >= 0)
			close(r->fd);
		r->fd = -1;
		return -1;
	}
	if ((r->path = strdup(path)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	r->h = h;
	r->ctx = ctx;
	inbuf_init(&r->in, r->fd, 2 * ACK_MAX + 2);
	r->io = (struct loop_io){ .fd = r->fd,
		.prepare = ackr_prepare,
		.ready = ackr_ready,
		.ctx = r };
	loop_io_add(&r->io);
	r->m_in = (struct metric){ .name = "acks_read_total",
		.help = "Acknowledgements read from --ack-from.",
		.type = METRIC_COUNTER,
		.read = read_u64,
		.ctx = &r->good };
	r->m_bad = (struct metric){ .name = "acks_refused_total",
		.help = "Lines on --ack-from that are not acknowledgements.",
		.type = METRIC_COUNTER,
		.read = read_u64,
		.ctx = &r->bad };
	metric_register(&r->m_in);
	metric_register(&r->m_bad);
	return 0;
}

void
ackr_close(struct ackr *r)
{
	if (r->path == NULL)
		return;
	metric_unregister(&r->m_in);
	metric_unregister(&r->m_bad);
	loop_io_del(&r->io);
	close(r->fd);
	close(r->wfd);
	inbuf_free(&r->in);
	free(r->path);
	r->path = NULL;
}
