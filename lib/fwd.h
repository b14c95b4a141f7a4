/*
 * forward's delivery engine, the part every target protocol shares.
 *
 * Events come in from stdin (recin.h) into a bounded window (fwdwin.h)
 * kept in input order; the target (demo, bes, store, unary) sends them
 * and reports each one the server acknowledged with fwd_delivered(),
 * in any order.  An event leaves the window, and only then goes to
 * --tee and its evpipeack to --acked-to, once it *and every event read
 * before it* are handled: delivered, passed over, or saved in
 * --dead-letter (evpipe(7), ACKNOWLEDGEMENT: the low-water mark).
 * While the window is full, stdin is not read: the pipeline upstream
 * blocks (backpressure).
 *
 * A failure the target does not retry ends everything through
 * fwd_fail(): what was not delivered, the rest of the input too, goes
 * to --dead-letter, and the tool exits with the status.  fwd_fail()
 * only marks: the target is stopped later, from the loop, so a target
 * may call it anywhere and go on using what it holds until it returns.
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

/* Where an event is, from stdin until it leaves the window. */
enum fwd_ev_state {
	FWD_EV_PENDING, /* the target's, not delivered */
	FWD_EV_SAVING, /* written to --dead-letter, not yet synced */
	FWD_EV_HANDLED, /* delivered, passed over or saved: may leave */
};

/* One accepted event, from stdin until it leaves the window. */
struct fwd_ev {
	struct fwd_ev *prev, *next; /* the window, in input order */
	uint64_t recno; /* input record number, from 1 */
	uint8_t *body; /* the record: a CloudEvent */
	size_t len;
	char *ack; /* its evpipeack attribute, or NULL */
	int state; /* enum fwd_ev_state */
	bool pass; /* goes to --tee when it leaves */
	/* The target's. */
	struct fwd_ev *link; /* in one of its queues */
	void *owner; /* what it belongs to (a stream, a batch) */
	uint8_t *req; /* the request built for it */
	size_t reqlen;
	int64_t seq;
	int kind;
};

enum auth_header { AUTH_ENGFLOW, AUTH_BEARER };

/* --unsendable: an event the protocol has nothing to deliver for. */
enum fwd_unsendable {
	FWD_UNSENDABLE_SKIP, /* pass it over: handled (the default) */
	FWD_UNSENDABLE_DEAD_LETTER, /* save it in --dead-letter: handled */
	FWD_UNSENDABLE_FAIL, /* bad input: stop, exit 65 */
};

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
	enum fwd_unsendable unsendable;
	bool tee, dry_run;
};

struct fwd;

struct fwd_target {
	const char *name;
	/*
	 * A new event (the decoded CloudEvent lives until this returns).
	 * FWD_TAKEN: it is the target's until delivered (which may happen
	 * before this returns); FWD_SKIP: nothing to send by design (a
	 * lifecycle event without --lifecycle), it is handled at once;
	 * FWD_UNSENDABLE: a well-formed event of a kind this target
	 * carries nothing for (a notification to a BES), --unsendable
	 * says what becomes of it; FWD_BAD: its data does not parse as
	 * what the target needs (the input stops, exit 65).  err says why
	 * for all but FWD_TAKEN.
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

enum { FWD_TAKEN, FWD_SKIP, FWD_UNSENDABLE, FWD_BAD };

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
