/*
 * Delimited CloudEvent records in, from a descriptor (usually stdin),
 * on the poll loop.  Each record is checked (it parses, it is a valid
 * CloudEvent) and handed to on_record with its bytes and the decoded
 * event.  The consumer may pause input (backpressure: the pipe fills
 * and the writer upstream blocks) and resume it later.
 *
 * The input ends exactly once through on_end: EXIT_OK at a clean end
 * of input, EXIT_DATA for a malformed record (every record before it
 * was delivered; the message names the record number and offset),
 * EXIT_IO for a read error.
 */
#ifndef EVPIPE_RECIN_H
#define EVPIPE_RECIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cloudevent.h"
#include "frame.h"
#include "loop.h"
#include "metrics.h"

#define RECIN_PAUSE 1

struct recin;

struct recin_handlers {
	/*
	 * One valid record: its bytes and the event decoded from them.
	 * Both live until the call returns.  Return 0 for more, or
	 * RECIN_PAUSE to stop delivering until recin_resume().
	 */
	int (*on_record)(struct recin *, const uint8_t *, size_t,
	    const CloudEvent *, void *);
	/* The input is over: EXIT_OK, EXIT_DATA or EXIT_IO; why says what. */
	void (*on_end)(struct recin *, int, const char *, void *);
};

struct recin {
	const char *name; /* for diagnostics: "stdin" */
	struct frame_reader fr;
	struct arena arena;
	struct loop_io io;
	struct loop_timer kick; /* deliver buffered records after resume */
	const struct recin_handlers *h;
	void *ctx;
	bool paused, ended, stopped;
	struct metric m_in; /* evpipe_records_in_total */
};

void recin_open(struct recin *, int, const char *, size_t,
    const struct recin_handlers *, void *);
void recin_pause(struct recin *);
void recin_resume(struct recin *);
void recin_stop(struct recin *);
void recin_close(struct recin *);

static inline uint64_t
recin_count(const struct recin *r)
{
	return r->fr.nrec;
}

#endif
