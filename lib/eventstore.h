/*
 * One EngFlow event-store stream (engflow.eventstore.v1.EventStore
 * GetInvocation or GetBuild, server streaming) read to its end across
 * broken calls: when a call fails with a status worth retrying, the
 * next one asks for the events after the last one received, with that
 * event's continuation_token, so the events come out once each and in
 * order.  A call that made progress is re-opened at once, one that did
 * not after gRPC connection backoff.
 *
 * Each StreamedBuildEvent reaches on_event with its fields as they were
 * on the wire (the event's bytes unchanged); on_event may pause the
 * stream (the HTTP/2 window then stops the server) until
 * esstream_resume().  The stream ends exactly once through on_end: OK
 * when the server ended it or sent is_last, else the status of the
 * last call (retries used up, or a status not worth retrying).
 */
#ifndef EVPIPE_EVENTSTORE_H
#define EVPIPE_EVENTSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "grpc.h"
#include "loop.h"
#include "retry.h"

#define ESSTREAM_PAUSE 1
#define ES_PATH_INVOCATION "/engflow.eventstore.v1.EventStore/GetInvocation"
#define ES_PATH_BUILD "/engflow.eventstore.v1.EventStore/GetBuild"
#define ES_EVENT_TYPE "engflow.eventstore.v1.BuildProgressEvent"

enum es_method { ES_GET_INVOCATION, ES_GET_BUILD };

/* ReplayModeOptions.ReplayMode (GetInvocation only). */
enum { ES_UNTIL_COMPLETE = 0, ES_STOP_AFTER_LAST_KNOWN = 2 };

/* One StreamedBuildEvent; the pointers live until on_event returns. */
struct es_event {
	bool is_last;
	const char *token; /* continuation_token, NUL-terminated */
	const uint8_t *event; /* BuildProgressEvent bytes, or NULL */
	size_t event_len;
	const char *principal; /* "" when absent */
};

struct esstream;

struct esstream_handlers {
	int (*on_event)(struct esstream *, const struct es_event *, void *);
	void (*on_end)(struct esstream *, const struct gstatus *, void *);
};

struct esstream_opts {
	struct gchannel *ch;
	enum es_method method;
	const char *instance; /* instance_name */
	const char *id; /* invocation_id or build_id */
	int replay_mode;
	uint64_t
	    retries; /* failed calls in a row before giving up; 0: no limit */
	/* Request metadata (auth), asked for at every call: fills up to max
	 * entries, returns how many. */
	size_t (*metadata)(struct gmd *, size_t, void *);
	void *md_ctx;
	struct retry_log *log; /* failed calls are told there, or NULL */
};

struct esstream {
	struct esstream_opts o;
	char *instance, *id;
	const struct esstream_handlers *h;
	void *ctx;
	struct gcall *call;
	struct retry retry;
	char *token; /* of the last event received, or NULL */
	uint64_t skip; /* events to drop after a resume: see on_message */
	uint64_t since_token; /* events received after token */
	uint64_t events; /* received in all */
	uint64_t calls;
	bool progress; /* this call delivered something */
	bool paused, open_on_resume, last, ended;
	bool gave_up; /* ended with a status worth retrying: no retries left */
	uint8_t *scratch; /* a BuildProgressEvent sent in pieces */
	size_t scratch_cap;
};

void esstream_open(struct esstream *, const struct esstream_opts *,
    const struct esstream_handlers *, void *);
void esstream_resume(struct esstream *);
/*
 * Release the stream: after on_end, or to stop it early (the call is
 * cancelled and on_end is not called).
 */
void esstream_close(struct esstream *);

#endif
