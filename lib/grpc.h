/*
 * gRPC calls over HTTP/2 (nghttp2) on the poll loop, client and server.
 *
 * A call is a struct gcall with handlers: messages arrive through
 * on_message, one at a time; the call ends exactly once through
 * on_close.  The same type serves both sides: a client starts calls on
 * a channel, a server gets them from its methods table.
 *
 * Backpressure: on_message returns GCALL_PAUSE when the consumer cannot
 * take more (say stdout is full); nothing more is delivered and no
 * HTTP/2 window is given back until gcall_resume().  On the sending
 * side gcall_send_pending() says how much is queued; on_writable fires
 * when the queue has drained below GCALL_SEND_LOW.
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
	int code;
	const char *message; /* percent-decoded grpc-message, or "" */
};

#define GCALL_PAUSE 1
#define GCALL_SEND_LOW (256 * 1024)

struct gcall_handlers {
	/* Client: response headers (or Trailers-Only) arrived. */
	void (*on_headers)(struct gcall *, void *);
	/* One whole message.  0 = taken, GCALL_PAUSE = stop for now. */
	int (*on_message)(struct gcall *, const uint8_t *, size_t, void *);
	/* The peer half-closed (server: the request stream ended). */
	void (*on_half_close)(struct gcall *, void *);
	/* The send queue drained below GCALL_SEND_LOW. */
	void (*on_writable)(struct gcall *, void *);
	/* The call is over; the gcall is freed when this returns. */
	void (*on_close)(struct gcall *, const struct gstatus *, void *);
};

/* Channel: one connection to a target, opened on first use. */
struct gchannel_opts {
	struct target target;
	struct tls_opts tls;
	uint32_t max_recv; /* 0: 4 MiB */
	int64_t keepalive_ms; /* 0: off (then at least 10 s) */
	int64_t keepalive_timeout_ms; /* 0: 20 s */
	int64_t connect_timeout_ms; /* 0: 20 s */
	const char *proxy; /* http://[user:pass@]host:port or NULL */
	/* host:port the connection goes to instead of the target's, with
	 * the target's name kept for TLS and :authority; or NULL. */
	const char *connect_to;
};

struct gchannel *gchannel_new(const struct gchannel_opts *, char *, size_t);
void gchannel_free(struct gchannel *);
bool gchannel_ready(const struct gchannel *);
const char *gchannel_error(const struct gchannel *);

struct gcall *gcall_start(struct gchannel *, const char *, const struct gmd *,
    size_t, int64_t, const struct gcall_handlers *, void *);

/* Both sides. */
int gcall_send(struct gcall *, const void *, size_t);
int gcall_send_msg(struct gcall *, const ProtobufCMessage *);
size_t gcall_send_pending(const struct gcall *);
void gcall_close_send(struct gcall *);
void gcall_cancel(struct gcall *);
void gcall_resume(struct gcall *);
const struct gmd *gcall_metadata(const struct gcall *, size_t *);
const char *gcall_header(const struct gcall *, const char *);
const char *gcall_path(const struct gcall *);
int64_t gcall_deadline(const struct gcall *); /* loop_now() time, or 0 */
void gcall_set_handlers(struct gcall *, const struct gcall_handlers *, void *);

/* Server side. */
int gcall_add_metadata(struct gcall *, const struct gmd *, size_t);
int gcall_add_trailers(struct gcall *, const struct gmd *, size_t);
void gcall_finish(struct gcall *, int, const char *);

struct gserver_method {
	const char *path; /* "/package.Service/Method" */
	void (*on_call)(struct gcall *, void *);
	void *ctx;
};

struct gserver_opts {
	struct target listen;
	struct tls_opts tls;
	uint32_t max_recv; /* 0: 4 MiB */
	int64_t permit_keepalive_ms; /* 0: 5 minutes */
};

struct gserver *gserver_new(const struct gserver_opts *, char *, size_t);
void gserver_add(struct gserver *, const struct gserver_method *);
int gserver_port(const struct gserver *);
void gserver_shutdown(struct gserver *, int64_t, void (*)(void *), void *);
void gserver_free(struct gserver *);
void gserver_set_health(struct gserver *, const char *, int);

#endif
