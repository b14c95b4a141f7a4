/*
 * gRPC calls over HTTP/2 (nghttp2) on the poll loop, client and server.
 *
 * A call is a struct gcall with handlers: messages arrive through
 * on_message, one at a time; the call ends exactly once through
 * on_close, after which the gcall is gone.  The same type serves both
 * sides: a client starts calls on a channel, a server gets them from
 * its methods table.  Handlers run from the loop, never re-entered;
 * they may call any gcall_* function on their own call.
 *
 * Backpressure: on_message returns GCALL_PAUSE when the consumer cannot
 * take more (say stdout is full); nothing more is delivered and no
 * HTTP/2 window is given back until gcall_resume().  On the sending
 * side gcall_send_pending() says how much is queued; on_writable fires
 * when the queue has drained below GCALL_SEND_LOW.
 *
 * Statuses: the library never invents OK.  Failures it sees itself end
 * calls as PROTOCOL-HTTP2 says (connection lost: UNAVAILABLE at a
 * client, CANCELLED at a server; deadline: DEADLINE_EXCEEDED; too big:
 * RESOURCE_EXHAUSTED; RST_STREAM and HTTP statuses by their tables).
 * -v -v traces every frame, secret header values redacted.
 */
#ifndef EVPIPE_GRPC_H
#define EVPIPE_GRPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "grpcwire.h"
#include "target.h"
#include "tls.h"

struct gcall;
struct gchannel;
struct gserver;

struct gmd { /* one metadata entry */
	const char *name; /* lower case */
	const char *value; /* -bin: raw bytes (base64 on the wire) */
	size_t len;
};

struct gstatus {
	int code; /* enum grpc_status */
	const char *message; /* percent-decoded grpc-message, or "" */
};

#define GCALL_PAUSE 1
#define GCALL_SEND_LOW (256 * 1024)

struct gcall_handlers {
	/* Client: response headers (or Trailers-Only) arrived. */
	void (*on_headers)(struct gcall *, void *);
	/* One whole message, valid during the call only.  Return 0 when
	 * taken, GCALL_PAUSE to stop deliveries until gcall_resume(). */
	int (*on_message)(struct gcall *, const uint8_t *, size_t, void *);
	/* Server: the request stream ended, all its messages delivered. */
	void (*on_half_close)(struct gcall *, void *);
	/* The send queue drained below GCALL_SEND_LOW. */
	void (*on_writable)(struct gcall *, void *);
	/* The call is over, with this status (client: the server's, or
	 * the library's; server: what was sent, or why it failed); the
	 * gcall is freed when this returns. */
	void (*on_close)(struct gcall *, const struct gstatus *, void *);
};

/* ---- client -------------------------------------------------------- */

/*
 * A channel is one target, with at most one connection taking new
 * calls, opened on first use and again after it is lost (or got a
 * GOAWAY).  Calls started while it connects wait for it.
 */
struct gchannel_opts {
	struct target target;
	struct tls_opts tls;
	uint32_t max_recv; /* largest message taken; 0: 4 MiB */
	int64_t keepalive_ms; /* ping after this much silence; 0: never;
				 at least 10 s (A8); doubled on GOAWAY
				 too_many_pings */
	int64_t keepalive_timeout_ms; /* no answer: UNAVAILABLE; 0: 20 s */
	int64_t connect_timeout_ms; /* to the server's SETTINGS; >= 20 s */
	const char *proxy; /* http://[user:pass@]host:port; NULL: from
			      https_proxy/no_proxy; "": none */
	/* A connection was established (the server's SETTINGS arrived):
	 * where connection-backoff resets, e.g. retry_progress(). */
	void (*on_connect)(void *);
	void *on_connect_ctx;
	/* host:port the connection goes to instead of the target's, with
	 * the target's name kept for TLS and :authority; or NULL. */
	const char *connect_to;
};

/* NULL (err says why) only for bad TLS files. */
struct gchannel *gchannel_new(const struct gchannel_opts *, char *, size_t);
/* Ends its calls (UNAVAILABLE) and closes its connections. */
void gchannel_free(struct gchannel *);
/* Connected, SETTINGS received, no GOAWAY: a call would go out now. */
bool gchannel_ready(const struct gchannel *);
/* Why gcall_start() last returned NULL. */
const char *gchannel_error(const struct gchannel *);

/*
 * Start a call: path "/package.Service/Method", request metadata, a
 * timeout in ms (0: none) sent as grpc-timeout and enforced here.  NULL
 * only when no connection could even be started (a name that does not
 * resolve): treat it as UNAVAILABLE, gchannel_error() says why.  Every
 * other failure ends the call through on_close.
 */
struct gcall *gcall_start(struct gchannel *, const char *, const struct gmd *,
    size_t, int64_t, const struct gcall_handlers *, void *);

/* ---- both sides ---------------------------------------------------- */

/* Queue one message (bytes, or a protobuf-c message packed); -1 when
 * the call takes no more (closed, finishing or failed). */
int gcall_send(struct gcall *, const void *, size_t);
int gcall_send_msg(struct gcall *, const ProtobufCMessage *);
/* Bytes queued and not yet handed to HTTP/2. */
size_t gcall_send_pending(const struct gcall *);
/* Client: no more messages (END_STREAM once the queue is sent). */
void gcall_close_send(struct gcall *);
/* Abandon the call: RST_STREAM CANCEL; on_close says CANCELLED. */
void gcall_cancel(struct gcall *);
/* Take messages again after on_message returned GCALL_PAUSE. */
void gcall_resume(struct gcall *);
/* What the peer sent: request headers, or response headers then
 * trailers, in arrival order; gcall_header() is the last of a name. */
const struct gmd *gcall_metadata(const struct gcall *, size_t *);
const char *gcall_header(const struct gcall *, const char *);
const char *gcall_path(const struct gcall *);
int64_t gcall_deadline(const struct gcall *); /* loop_now() time, or 0 */
/* Set the handlers: a server's on_call does this first. */
void gcall_set_handlers(struct gcall *, const struct gcall_handlers *, void *);

/* ---- server -------------------------------------------------------- */

/* Response metadata (before the first message) and trailers (before
 * gcall_finish()), each once; -1 when too late. */
int gcall_add_metadata(struct gcall *, const struct gmd *, size_t);
int gcall_add_trailers(struct gcall *, const struct gmd *, size_t);
/* End the call with a status, once the queued messages are sent
 * (Trailers-Only when none was). */
void gcall_finish(struct gcall *, int, const char *);

struct gserver_method {
	const char *path; /* "/package.Service/Method" */
	void (*on_call)(struct gcall *, void *); /* sets the handlers */
	void *ctx;
};

struct gserver_opts {
	struct target listen; /* port 0: any free port (gserver_port) */
	struct tls_opts tls; /* cert, key; cacert + require_client_cert */
	uint32_t max_recv; /* largest request message; 0: 4 MiB */
	int64_t permit_keepalive_ms; /* pings closer than this are strikes
					(A9); 0: 5 minutes */
	size_t max_conns; /* connections served at once; 0: 1000 */
	int64_t idle_ms; /* a connection without calls this long is closed
			    (GOAWAY "max_idle"); 0: 5 minutes; < 0: never */
};

/*
 * Listen, and serve on the loop.  A connection is never dropped
 * unanswered: at max_conns, the one idle longest (no calls) is closed
 * with a GOAWAY to make room, or when every one has calls, the new one
 * gets SETTINGS and a GOAWAY and is closed.  Every server also answers
 * grpc.health.v1.Health (Check, Watch; "" is SERVING until shutdown)
 * and server reflection (grpc.reflection.v1 and v1alpha), which lists
 * the services with methods here and describes libevpipe's protos and
 * what gserver_reflect_add() gave it.  Unknown methods get
 * UNIMPLEMENTED, non-gRPC requests HTTP 415.
 */
struct gserver *gserver_new(const struct gserver_opts *, char *, size_t);
void gserver_add(struct gserver *, const struct gserver_method *);
/*
 * Check every call but grpc.health.v1's (reflection included) before
 * its method sees it: auth returns NULL to let it through, else why not,
 * and the call ends UNAUTHENTICATED with that message.
 */
void gserver_set_auth(
    struct gserver *, const char *(*)(struct gcall *, void *), void *);
int gserver_port(const struct gserver *);
/* Graceful: health NOT_SERVING, no new connections, GOAWAY notice then
 * GOAWAY, calls given grace_ms to end, then done(ctx). */
void gserver_shutdown(struct gserver *, int64_t, void (*)(void *), void *);
void gserver_free(struct gserver *);
/* A service's health ("" the whole server): 1 SERVING, 2 NOT_SERVING. */
void gserver_set_health(struct gserver *, const char *, int);
/* Describe more .proto files by reflection: a serialized
 * FileDescriptorSet (protoc --include_imports --descriptor_set_out),
 * kept by reference, so it must outlive the server (scripts/embed makes
 * one C data).  -1 (err says why) when it does not parse. */
int gserver_reflect_add(
    struct gserver *, const uint8_t *, size_t, char *, size_t);

#endif
