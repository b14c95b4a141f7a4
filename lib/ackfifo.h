/*
 * The end-to-end acknowledgement channel of evpipe(7): the last stage
 * of a pipeline writes the evpipeack value of every event it has
 * durably handled, one per line, to a FIFO (--acked-to); the source
 * reads them there (--ack-from) and only then acknowledges upstream.
 *
 * Either side creates the FIFO (mode 0600) when it does not exist.
 * The writer never blocks: its descriptor is its own (not inherited),
 * opened O_NONBLOCK; while no reader has the FIFO open it keeps acks
 * queued (up to a bound) and tries again every 100 ms.  It writes
 * whole lines of at most PIPE_BUF bytes, which pipes keep atomic.  A
 * regular file instead of a FIFO is appended to (an audit log).  The
 * reader holds a write end open itself so a writer that restarts is
 * not an end of input.
 *
 * An ack value is a non-empty string without newline or NUL, at most
 * ACK_MAX bytes.
 */
#ifndef EVPIPE_ACKFIFO_H
#define EVPIPE_ACKFIFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inbuf.h"
#include "loop.h"
#include "metrics.h"
#include "outbuf.h"

#define ACK_MAX 1024
#define ACK_ATTR "evpipeack"
/*
 * The ack-only marker (evpipe.7): an event of this type carries only an
 * evpipeack for an input a middle stage dropped.  A last stage counts it
 * handled, delivers and stores nothing, and passes its ack on in order.
 */
#define ACK_ONLY_TYPE "dev.evpipe.ack"

/* The writer: forward --acked-to, store put --acked-to. */
struct ackw {
	char *path;
	int fd; /* -1 while no reader has the FIFO open */
	struct outbuf out;
	struct loop_io io;
	struct loop_timer retry;
	uint64_t queued; /* acks, in all */
	bool warned;
	struct metric m_out; /* evpipe_acks_written_total */
};

int ackw_open(struct ackw *, const char *, char *, size_t);
int ackw_put(struct ackw *, const char *);
bool ackw_idle(const struct ackw *);
void ackw_warn_unwritten(const struct ackw *);
void ackw_close(struct ackw *);

/* The reader: subscribe --ack-from. */
struct ackr;
struct ackr_handlers {
	void (*on_ack)(struct ackr *, const char *, void *);
};
struct ackr {
	char *path;
	int fd, wfd; /* wfd: our own write end, so EOF never comes */
	struct inbuf in;
	struct loop_io io;
	const struct ackr_handlers *h;
	void *ctx;
	uint64_t good, bad; /* lines taken, refused */
	struct metric m_in, m_bad;
	bool skipping; /* inside an over-long line */
};

int ackr_open(struct ackr *, const char *, const struct ackr_handlers *, void *,
    char *, size_t);
void ackr_close(struct ackr *);

#endif
