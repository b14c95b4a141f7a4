/*
 * subscribe's driver: what the three kinds of subscription (EngFlow
 * queue, Axway watch, any streaming method) share.  A source hands
 * each event to sub_emit(); the driver writes it to stdout as a
 * delimited CloudEvent and keeps an item for it until it may be
 * acknowledged upstream: once the record is completely written, or,
 * with --ack-from, once its id came back on the FIFO.  Then it calls
 * the source's ack handler, which acks on the stream the event came
 * from.
 *
 * Memory stays bounded: at most max_pending items, and stdout's queue
 * up to RECOUT_HIGH; past either, sub_emit() says "pause" and the
 * source stops reading (GCALL_PAUSE), so HTTP/2 flow control pushes
 * back on the server.  The driver calls resume when there is room.
 *
 * Stopping (--count, --idle-timeout, SIGTERM, a fatal error) takes no
 * more events, writes out what was taken, waits for the acks of what
 * was written, then closes the call.  The wait is SUB_GRACE_MS at most;
 * for EngFlow with --ack-from, where acks come from the end of the
 * pipeline, it is the ack deadline (SUB_ACK_WAIT_MS when the server's):
 * past it the queue delivers those events again anyway.
 */
#ifndef EVPIPE_SUB_H
#define EVPIPE_SUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ackfifo.h"
#include "arena.h"
#include "cloudevent.h"
#include "grpc.h"
#include "loop.h"
#include "metrics.h"
#include "progress.h"
#include "recout.h"
#include "secret.h"
#include "target.h"

#define SUB_GRACE_MS 5000
#define SUB_ACK_WAIT_MS 60000 /* EngFlow's default ack deadline */
#define SUB_MAX_PENDING 1000

enum sub_api { SUB_API_ENGFLOW = 1, SUB_API_AXWAY, SUB_API_GENERIC };
enum sub_auth { SUB_AUTH_ENGFLOW, SUB_AUTH_BEARER };

struct sub_opts {
	enum sub_api api;
	const char *endpoint; /* as given */
	struct target target; /* parsed */
	struct tls_opts tls;
	const char *connect_to; /* host:port, or NULL */
	const char *proxy;
	int64_t keepalive_ms, keepalive_timeout_ms;
	struct secret token;
	enum sub_auth auth;
	bool auth_given;
	uint64_t count; /* 0: no limit */
	int64_t idle_timeout_ms; /* 0: none */
	uint64_t retries; /* 0: forever */
	uint64_t max_pending;
	const char *ack_from;
	/* EngFlow */
	const char *queue;
	int64_t ack_deadline_ms; /* 0: the server's */
	/* Axway */
	const char *topic, *tenant, *harvester, *state;
	int64_t since; /* -1: none */
	uint64_t page_size;
	/* generic */
	const char *method, *request_file, *type;
	const char *data; /* -d: JSON, @FILE or @- */
	const char *protoset; /* -P: a FileDescriptorSet; NULL: reflection */
	/* every API */
	const struct gmd *headers; /* -H, on every call and HTTP request */
	size_t nheaders; /* at most SUB_MAX_HEADERS */
	int64_t max_time_ms; /* --max-time; 0: none */
};

#define SUB_MAX_HEADERS 64

/* One event between its arrival and its acknowledgement. */
struct sub_item {
	uint64_t seq; /* 1, 2, ... in output order */
	uint64_t stream; /* the stream it arrived on */
	char *id; /* the event id: what --ack-from brings back */
	char *token; /* the source's ack handle, or NULL */
	int64_t position; /* a sequence id kept in --state, or -1 */
	bool written, acked;
};

struct sub_source {
	/* Acknowledge these (all from the current stream) upstream. */
	void (*ack)(void *, struct sub_item *const *, size_t);
	/* Room again after sub_emit() said to pause. */
	void (*resume)(void *);
	/* Nothing in flight that a stop should wait for (acks). */
	bool (*settled)(void *);
	/* The end: close the call. */
	void (*stop)(void *);
	/* A call is open on an established connection (NULL: always). */
	bool (*connected)(void *);
	void *ctx;
};

struct sub {
	const struct sub_opts *o;
	struct sub_source src;
	struct recout out;
	struct ackr ackr;
	bool have_ackr;
	struct arena arena; /* for the event being built */
	struct sub_item *ring; /* pending items, oldest first */
	size_t cap, head, n;
	uint64_t next_seq, stream, emitted;
	int64_t watermark; /* --state: every position up to it is done */
	int64_t saved; /* the watermark last written to --state */
	int64_t skip_to; /* sub_skip_to() waiting for the ring to empty */
	struct loop_timer idle, grace, save;
	struct loop_timer held; /* EVPIPE_WAIT_WARN at --max-pending */
	int64_t held_since; /* loop_now() when acks began to hold it */
	bool held_told;
	double last_event_time; /* seconds since the epoch, or 0 */
	struct metric m_pending, m_behind, m_last;
	struct progress progress; /* events written, at -v */
	bool stopping, grace_over, paused, done;
	bool answered; /* a server ever answered: connected, or HTTP */
	int status;
	int last_code; /* of the last failed attempt, 0: none */
	char last_why[300];
};

void sub_init(struct sub *, const struct sub_opts *);
void sub_set_source(struct sub *, const struct sub_source *);
int sub_run(struct sub *);

/*
 * Emit an event (built in sub->arena, which is reset here); token is
 * what the source acks it with (copied), position its sequence id or
 * -1.  Returns false when the source should pause.
 */
bool sub_emit(struct sub *, CloudEvent *, const char *, int64_t);
/* Whether events are still taken (not stopping). */
bool sub_taking(const struct sub *);
/* Whether there is room for another event now. */
bool sub_room(const struct sub *);
/*
 * A stream began or ended: items from earlier streams can no longer be
 * acked (the queue redelivers them), so they are dropped.
 */
void sub_stream(struct sub *);
/*
 * Positions up to pos are done without events (purged at the source):
 * the watermark moves there once everything before is acknowledged.
 */
void sub_skip_to(struct sub *, int64_t);
/* Stop with this exit status (the first non-zero one wins). */
void sub_stop(struct sub *, int);
/* The source's settled() may have changed. */
void sub_check(struct sub *);

/*
 * The gRPC channel the options describe (its connections count as the
 * server answering); exits 64 on bad options.
 */
struct gchannel *sub_channel(struct sub *);
/* A server answered (a REST reply): it is reachable. */
void sub_answered(struct sub *);
/*
 * Before each (re)connect: true when the token (if any) can be used
 * now; else false, and w->fn runs once a fresh one was asked for
 * (secret_ready).
 */
bool sub_token_ready(struct sub *, struct secret_wait *);
/*
 * The token for the next call, or NULL when there is none.  When it
 * cannot be read, or is a JWT that has expired, says so and stops with
 * UNAUTHENTICATED (*fatal set).
 */
const char *sub_token(struct sub *, bool *);
/* A status the subscription cannot get past by reconnecting. */
bool sub_fatal(int);
struct retry;
/*
 * The call ended with code (why: for the log): stop for a fatal code or
 * once --retries is used up, else reconnect after the backoff (the
 * first failure after progress is a warning, the others are -v).
 */
void sub_failed(struct sub *, struct retry *, int, const char *);

#endif
