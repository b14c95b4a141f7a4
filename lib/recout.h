/*
 * Delimited records out, to a descriptor (usually stdout), on the poll
 * loop, written as far as the descriptor takes them without blocking.
 *
 * A producer checks recout_full() before it makes more (and stops
 * reading its own input while it is full); on_drain says when there is
 * room again.  recout_mark() asks to be told, through on_written, once
 * everything queued so far has really been written: subscribe acks a
 * notification only then.
 *
 * Full for longer than wait_warn_ms() (log.h) is told on stderr, and
 * the end of it too.
 *
 * Errors end the output once through on_error: EPIPE (the reader went
 * away: a quiet stop) or another errno (EXIT_IO).  Pending bytes are
 * discarded then.
 */
#ifndef EVPIPE_RECOUT_H
#define EVPIPE_RECOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "loop.h"
#include "metrics.h"
#include "outbuf.h"

#define RECOUT_HIGH (256 * 1024) /* full above this many pending bytes */

struct recout;

struct recout_handlers {
	/* Everything queued before recout_mark(cookie) is written. */
	void (*on_written)(struct recout *, uint64_t, void *);
	/* Pending output fell below RECOUT_HIGH / 2 after being full. */
	void (*on_drain)(struct recout *, void *);
	/* Writing failed with this errno; nothing more will be written. */
	void (*on_error)(struct recout *, int, void *);
};

struct recout_mark {
	uint64_t at; /* outbuf byte count that must be written */
	uint64_t cookie;
};

struct recout {
	const char *name; /* for diagnostics: "stdout" */
	struct outbuf out;
	struct loop_io io;
	uint64_t queued; /* bytes queued so far */
	uint64_t records; /* records queued so far */
	struct recout_mark *marks; /* a ring of pending marks */
	size_t nmarks, mark0, markcap;
	const struct recout_handlers *h;
	void *ctx;
	bool full, failed;
	int64_t full_since; /* loop_now() when it last became full */
	struct loop_timer stall; /* wait_warn_ms() after that */
	bool stall_told;
	struct metric m_out; /* evpipe_records_out_total */
};

void recout_open(
    struct recout *, int, const char *, const struct recout_handlers *, void *);
size_t recout_put(struct recout *, const ProtobufCMessage *);
void recout_put_bytes(struct recout *, const void *, size_t);
void recout_mark(struct recout *, uint64_t);
bool recout_full(const struct recout *);
bool recout_idle(const struct recout *);
void recout_close(struct recout *);

#endif
