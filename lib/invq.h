/*
 * The order of resolve's output: jobs (one per input record) run up to
 * `parallel` at a time, but what they make is written in input order,
 * each job's records together.  The oldest job (the head) writes
 * straight through to the output; the others keep what they make in a
 * buffer of about `bufmax` bytes each and are told to pause (INVQ_PAUSE)
 * when it is full, so memory stays bounded whatever the streams' length
 * and a slow reader slows the producers instead.
 *
 * A job is the owner's struct with a struct invq_job in it.  It is
 * WAITING until the queue calls start() (oldest first, while fewer than
 * `parallel` run), RUNNING until the owner calls invq_done(), then DONE
 * until all it made is written.  The queue calls resume() when it may go
 * on after INVQ_PAUSE, and release() once all it made is written, or
 * when the queue is freed first: the owner then stops it if it still
 * runs, and frees it.  A record that passes through (invq_pass) is DONE
 * from the start: it never starts, never counts as running, and only
 * keeps its place.
 */
#ifndef EVPIPE_INVQ_H
#define EVPIPE_INVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "recout.h"

#define INVQ_PAUSE 1

enum invq_state { INVQ_WAITING, INVQ_RUNNING, INVQ_DONE };

struct invq;
struct invq_job;

struct invq_job_ops {
	void (*start)(struct invq_job *);
	void (*resume)(struct invq_job *);
	void (*release)(struct invq_job *);
};

struct invq_job {
	const struct invq_job_ops *ops;
	size_t weight; /* bytes the owner holds for it while it waits */
	/* private */
	struct invq *q;
	struct invq_job *next;
	uint8_t *buf; /* delimited records: buf[off..len) */
	size_t off, len, cap;
	enum invq_state state;
	bool paused;
};

struct invq {
	struct recout *out;
	size_t parallel; /* jobs running at once */
	size_t bufmax; /* a waiting job's buffer */
	size_t maxjobs, maxbytes; /* invq_full() above these */
	struct invq_job *head, *tail;
	struct invq_job *next_start; /* the oldest WAITING job, or NULL */
	size_t njobs; /* in the list, pass-through runs included */
	size_t running; /* RUNNING */
	size_t unfinished; /* WAITING or RUNNING */
	size_t bytes; /* buffered records and weights */
	uint64_t records; /* written to out */
	bool pumping, again;
	/* After a pump that left the queue not full: input may go on. */
	void (*on_room)(struct invq *, void *);
	void *ctx;
};

void invq_init(struct invq *, struct recout *, size_t, size_t);
/* A new job, WAITING; it starts when its turn comes (maybe at once). */
void invq_add(struct invq *, struct invq_job *);
/* A record (its body) that goes out as it is, in its place. */
void invq_pass(struct invq *, const uint8_t *, size_t);
/* A record job made; INVQ_PAUSE: make no more until resume(). */
int invq_emit(struct invq *, struct invq_job *, const ProtobufCMessage *);
/* The same, for a record's body as bytes. */
int invq_emit_bytes(struct invq *, struct invq_job *, const uint8_t *, size_t);
/* The job has made all it will (a WAITING one then never starts). */
void invq_done(struct invq *, struct invq_job *);
/* Write what can be written: call when the output drained. */
void invq_pump(struct invq *);
/* Too much waiting: the owner should stop taking input. */
bool invq_full(const struct invq *);
/* Nothing left to write. */
bool invq_empty(const struct invq *);
/*
 * Release every job, written or not (running ones stop through
 * release()); the queue is empty and usable again.  Not from a job's
 * own callback: the job would be freed under it.
 */
void invq_free(struct invq *);

#endif
