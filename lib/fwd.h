/*
 * forward's delivery engine, the part every target protocol shares.
 *
 * Events come in from stdin (recin.h) into a bounded window; the
 * target (demo, bes, store, unary) sends them and reports each one the
 * server acknowledged with fwd_delivered(): only then is it written to
 * --tee and its evpipeack to --acked-to, and its room in the window
 * given back.  While the window is full, stdin is not read: the
 * pipeline upstream blocks (backpressure).  A failure the target does
 * not retry ends everything through fwd_fail(): the events still in
 * the window go to --dead-letter, and the tool exits with the status.
 *
 * A target is a table of functions (struct fwd_target) and its own
 * state; the engine calls them from the loop, never re-entrantly.
 */
#ifndef EVPIPE_FWD_H
#define EVPIPE_FWD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "cloudevent.h"
#include "grpc.h"
#include "retry.h"
#include "secret.h"

#define FWD_MAX_HEADERS 32
#define FWD_WINDOW_BYTES (64u * 1024 * 1024) /* in flight, at most */

/* One accepted event, from stdin until the server acknowledged it. */
struct fwd_ev {
	struct fwd_ev *prev, *next; /* the window, in input order */
	uint64_t recno; /* input record number, from 1 */
	uint8_t *body; /* the record: a CloudEvent */
	size_t len;
	char *ack; /* its evpipeack attribute, or NULL */
	/* The target's. */
	struct fwd_ev *link; /* in one of its queues */
	void *owner; /* what it belongs to (a stream, a batch) */
	uint8_t *req; /* the request built for it */
	size_t reqlen;
	int64_t seq;
	int kind;
};

enum auth_header { AUTH_ENGFLOW, AUTH_BEARER };

struct fwd_opts {
	struct gchannel_opts chan;
	const char *url; /* the server as given, for diagnostics */
	struct gmd headers[FWD_MAX_HEADERS]; /* --header */
	size_t nheaders;
	struct secret token;
	enum auth_header auth;
	uint64_t window; /* events in flight */
	int64_t timeout_ms; /* of each unary call */
	int64_t drain_ms; /* after SIGTERM */
	uint64_t retries; /* failed attempts in a row; 0: forever */
	size_t max_record;
	const char *acked_to, *dead_letter;
	bool tee, dry_run, skip_unknown;
};

struct fwd;

struct fwd_target {
	const char *name;
	/*
	 * A new event (the decoded CloudEvent lives until this returns).
	 * FWD_TAKEN: it is the target's until delivered; FWD_SKIP: nothing
	 * to send, it counts as delivered; FWD_BAD: not an event this
	 * target can carry (err says why; the input stops, exit 65).
	 */
	int (*take)(
	    void *, struct fwd_ev *, const CloudEvent *, char *, size_t);
	/* No more events will come: send what waits, end the streams. */
	void (*flush)(void *);
	/* Nothing is pending and no call is open. */
	bool (*idle)(void *);
	/* Stop: cancel every call; the engine keeps the events. */
	void (*abort)(void *);
	void (*free)(void *);
};

enum { FWD_TAKEN, FWD_SKIP, FWD_BAD };

struct fwd *fwd_new(const struct fwd_opts *, int *, char *, size_t);
void fwd_set_target(struct fwd *, const struct fwd_target *, void *);
int fwd_run(struct fwd *);
void fwd_free(struct fwd *);

/* For targets. */
const struct fwd_opts *fwd_opts(const struct fwd *);
struct gcall *fwd_call(struct fwd *, const char *, int64_t,
    const struct gcall_handlers *, void *, struct gstatus *);
void fwd_dry_print(struct fwd *, const char *, const ProtobufCMessage *);
void fwd_answered(struct fwd *);
void fwd_delivered(struct fwd *, struct fwd_ev *);
void fwd_maybe_done(struct fwd *);
void fwd_fail(struct fwd *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
bool fwd_failed(const struct fwd *);
void fwd_retry_init(
    struct fwd *, struct retry *, void (*)(struct retry *, void *), void *);
bool fwd_retry(
    struct fwd *, struct retry *, const struct gstatus *, const char *);

#endif
