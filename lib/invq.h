/*
 * The order of resolve's output: jobs (one per input record) run up to
 * `parallel` at a time, but what they make is written in input order,
 * each job's records together.  The oldest job (the head) writes
 * straight through to the output; the others keep what they make in a
 * buffer of about `bufmax` bytes each and are told to pause (INVQ_PAUSE)
 * when it is full, so memory stays bounded whatever the streams' length
 * and a slow reader slows the producers instead.
 *
 * A job is the owner's struct with a struct invq_job in it.  The queue
 * calls start() when the job may run, resume() when it may go on after
 * INVQ_PAUSE, and release() once all it made is written, or when the
 * queue is freed first: the owner then stops it if it still runs, and
 * frees it.
 */
#ifndef EVPIPE_INVQ_H
#define EVPIPE_INVQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "recout.h"

#define INVQ_PAUSE 1

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
	bool started, done, paused;
};

struct invq {
	struct recout *out;
	size_t parallel; /* jobs running at once */
	size_t bufmax; /* a waiting job's buffer */
	size_t maxjobs, maxbytes; /* invq_full() above these */
	struct invq_job *head, *tail;
	struct invq_job *next_start; /* the oldest job not started */
	size_t njobs, running;
	size_t bytes; /* buffered records and weights */
	uint64_t records; /* written to out */
	bool pumping, again;
	/* After a pump that left the queue not full: input may go on. */
	void (*on_room)(struct invq *, void *);
	void *ctx;
};

void invq_init(struct invq *, struct recout *, size_t, size_t);
void invq_add(struct invq *, struct invq_job *);
/* A record (its body) that goes out as it is, in its place. */
void invq_pass(struct invq *, const uint8_t *, size_t);
/* A record job made; INVQ_PAUSE: make no more until resume(). */
int invq_emit(struct invq *, struct invq_job *, const ProtobufCMessage *);
/* The job has made all it will. */
void invq_done(struct invq *, struct invq_job *);
/* Write what can be written: call when the output drained. */
void invq_pump(struct invq *);
/* Too much waiting: the owner should stop taking input. */
bool invq_full(const struct invq *);
bool invq_empty(const struct invq *);
/* Release every job (running ones first stop through release()). */
void invq_free(struct invq *);

#endif
