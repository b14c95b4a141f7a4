/*
 * One HTTP/2 connection (socket, optional TLS, one nghttp2 session) on
 * the poll loop, and the gRPC calls on it.  Internal to the transport:
 * tools use grpc.h.
 */
#ifndef EVPIPE_H2CONN_H
#define EVPIPE_H2CONN_H

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include "grpc.h"
#include "loop.h"

enum h2state {
	H2_CONNECTING, /* TCP connect in progress */
	H2_PROXY, /* waiting for the proxy's CONNECT reply */
	H2_HANDSHAKE, /* TLS handshake */
	H2_OPEN,
	H2_DEAD, /* closed; freed at the next loop round */
};

struct h2conn;

/* What the connection tells its owner (a channel or a server). */
struct h2conn_owner {
	/* Established: the peer's SETTINGS arrived (connection-backoff's
	 * "connected").  Runs from the loop, never inside nghttp2. */
	void (*on_open)(struct h2conn *, void *);
	/* Gone (why: for the log); its calls have all ended already. */
	void (*on_dead)(struct h2conn *, const char *, void *);
	/* Server: a request's headers are complete; NULL for clients. */
	void (*on_request)(struct h2conn *, struct gcall *, void *);
	void *ctx;
};

struct h2conn {
	enum h2state state;
	bool server;
	int fd;
	SSL *ssl;
	char host[256]; /* for TLS name checks */
	bool verify;
	nghttp2_session *session;
	struct loop_io io;
	uint8_t *out; /* bytes for the socket: out[off..len) */
	size_t out_off, out_len, out_cap;
	bool tls_wants_write;
	char *proxy_connect; /* the CONNECT request, while H2_PROXY */
	size_t proxy_got;
	char proxy_reply[1024];
	uint32_t max_recv;
	struct gcall *calls; /* open calls, a list */
	struct loop_timer kick; /* deferred work: deliveries, frees */
	struct loop_timer keepalive, ping_timeout, connect_timeout;
	int64_t connect_timeout_ms; /* until the peer's SETTINGS */
	bool peer_settings, open_pending;
	int64_t keepalive_ms, keepalive_timeout_ms;
	int64_t last_read;
	int64_t permit_ping_ms, last_valid_ping;
	int ping_strikes;
	bool goaway; /* the peer sent GOAWAY: no new calls here */
	uint32_t goaway_code;
	char goaway_debug[64];
	char *trace_hdr; /* -v -v: received header fields, for the line */
	size_t trace_len;
	struct h2conn *next; /* the owner's list */
	bool closing; /* close once the output is flushed */
	bool retiring; /* being closed with a GOAWAY (h2conn_retire) */
	struct loop_timer linger; /* retiring: the most that may take */
	int64_t idle_since; /* loop_now() when it last had no calls */
	bool sent_goaway; /* we sent a GOAWAY: code and debug data */
	uint32_t sent_goaway_code;
	char sent_goaway_debug[64];
	char proto_err[200]; /* the last HTTP/2 error nghttp2 found in the
				peer's frames (nghttp2's words) */
	const struct h2conn_owner *owner;
	char why[256];
};

struct h2conn *h2conn_connect(const struct target *, const struct target *,
    SSL_CTX *, const char *, int64_t, const struct h2conn_owner *, char *,
    size_t);
struct h2conn *h2conn_accept(int, SSL_CTX *, const struct h2conn_owner *);
void h2conn_set_keepalive(struct h2conn *, int64_t, int64_t);
void h2conn_flush(struct h2conn *);
void h2conn_kill(struct h2conn *, const char *);
void h2conn_goaway(struct h2conn *, bool);
void h2conn_retire(struct h2conn *, const char *);
size_t h2conn_ncalls(const struct h2conn *);
bool h2conn_idle(const struct h2conn *);

struct gcall *h2call_start(struct h2conn *, const char *, const char *,
    const char *, const struct gmd *, size_t, int64_t,
    const struct gcall_handlers *, void *);
void h2call_reject(struct gcall *, int, const char *);

#endif
