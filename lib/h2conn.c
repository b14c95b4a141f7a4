#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>

#include "backoff.h"
#include "base64.h"
#include "exitcode.h"
#include "h2conn.h"
#include "log.h"
#include "xalloc.h"

#define READ_CHUNK (64 * 1024)
#define OUT_HIGH (64 * 1024)
/* Receive windows: a stream can hold a whole maximal message in flight,
 * the connection a few of them; that is the most we buffer. */
#define STREAM_WINDOW (1024 * 1024)
#define CONN_WINDOW (8 * 1024 * 1024)
#define TRACE_MAX 4096 /* bytes of header fields on one trace line */

struct gcall {
	struct h2conn *conn;
	struct gcall *next, *prev;
	int32_t stream_id; /* -1 once nghttp2 has closed the stream */
	bool server;
	const struct gcall_handlers *h;
	void *ctx;
	char *path;

	/* What the peer sent: request headers, or response headers and
	 * trailers, in arrival order. */
	struct gmd *md;
	size_t nmd, capmd;
	int http_status;
	char *content_type;
	bool got_headers, trailers_only, got_trailers;
	int64_t deadline_at; /* loop_now() time, 0: none */

	/* Receiving. */
	struct grpc_deframer df;
	uint8_t *held; /* DATA bytes held back while paused */
	size_t held_len, held_cap;
	bool paused, peer_done, failed_recv;

	/* Sending: whole messages (prefix and body) in sq[sq_off..sq_len);
	 * sq_next is where the first message not yet begun starts. */
	uint8_t *sq;
	size_t sq_off, sq_len, sq_cap, sq_next;
	bool send_closed, deferred, notify_writable;
	bool headers_sent; /* server: response headers submitted */
	bool not_grpc; /* server: answered 415, draining the body */
	bool finishing; /* server: trailers go out when sq drains */
	struct gmd *out_md, *out_tr; /* server: metadata to send */
	size_t nout_md, nout_tr;
	int fin_code;
	char *fin_message;

	/* Ending. */
	struct loop_timer deadline;
	int override; /* status decided locally, or -1 */
	char *override_msg;
	bool stream_closed, close_pending, closed;
	bool got_rst; /* the peer reset the stream (rst_code) */
	bool sent_rst; /* we did, nghttp2 or this file (rst_code) */
	uint32_t rst_code;
	char *local_err; /* why nghttp2 reset it: the peer's fault */
};

static void conn_free(struct h2conn *);
static void submit_retire(struct h2conn *);
static bool grpc_content_type(const char *);
static void call_deliver_close(struct gcall *);
static void call_free(struct gcall *);

/* Make room for n more bytes at *len in a growing buffer. */
static uint8_t *
grow(uint8_t **p, size_t *len, size_t *cap, size_t n)
{
	if (*len + n > *cap) {
		*cap = *cap * 2 > *len + n ? *cap * 2 : *len + n + 4096;
		*p = xrealloc(*p, *cap);
	}
	return *p + *len;
}

/*
 * Run the deferred work, and send what nghttp2 has queued, at the next
 * loop round.  Never send from here directly: this is called from
 * inside nghttp2 callbacks, where sending is not allowed.
 */
static void
kick(struct h2conn *c)
{
	if (c != NULL && !loop_timer_armed(&c->kick))
		loop_timer_in(&c->kick, 0);
}

/* ---- metadata ------------------------------------------------------- */

static void
md_add(struct gcall *call, const uint8_t *name, size_t nlen,
    const uint8_t *value, size_t vlen)
{
	struct gmd *m;
	uint8_t *raw;
	ssize_t rlen;

	if (call->nmd == call->capmd) {
		call->capmd = call->capmd ? call->capmd * 2 : 16;
		call->md = xrealloc(call->md, call->capmd * sizeof(*call->md));
	}
	m = &call->md[call->nmd];
	m->name = xstrndup((const char *)name, nlen);
	/* PROTOCOL-HTTP2: -bin values are base64, padded or not. */
	if (grpc_md_binary((const char *)name, nlen)) {
		raw = xmalloc(BASE64_DECODED_MAX(vlen) + 1);
		rlen = base64_decode(raw, (const char *)value, vlen);
		if (rlen >= 0) {
			raw[rlen] = '\0';
			m->value = (char *)raw;
			m->len = (size_t)rlen;
			call->nmd++;
			return;
		}
		free(raw);
	}
	m->value = xstrndup((const char *)value, vlen);
	m->len = vlen;
	call->nmd++;
}

static void
md_free(struct gmd *md, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free((char *)md[i].name);
		free((char *)md[i].value);
	}
	free(md);
}

static struct gmd *
md_copy(const struct gmd *md, size_t n)
{
	struct gmd *c = xmalloc(n * sizeof(*c));
	size_t i;

	for (i = 0; i < n; i++) {
		c[i].name = xstrndup(md[i].name, strlen(md[i].name));
		c[i].value = xstrndup(md[i].value, md[i].len);
		c[i].len = md[i].len;
	}
	return c;
}

/*
 * The name/value pairs for custom metadata; -bin values are base64
 * (PROTOCOL-HTTP2: emit unpadded).  Strings live in *store until the
 * submit call has copied them.
 */
static size_t
nv_metadata(nghttp2_nv *nv, char **store, const struct gmd *md, size_t n)
{
	size_t i, k = 0, elen;
	char *v;

	for (i = 0; i < n; i++) {
		nv[k].name = (uint8_t *)md[i].name;
		nv[k].namelen = strlen(md[i].name);
		if (grpc_md_binary(md[i].name, nv[k].namelen)) {
			v = xmalloc(BASE64_LEN(md[i].len) + 1);
			elen = base64_encode(
			    v, (const uint8_t *)md[i].value, md[i].len);
			while (elen > 0 && v[elen - 1] == '=')
				elen--;
			store[k] = v;
			nv[k].value = (uint8_t *)v;
			nv[k].valuelen = elen;
		} else {
			store[k] = NULL;
			nv[k].value = (uint8_t *)md[i].value;
			nv[k].valuelen = md[i].len;
		}
		nv[k].flags = NGHTTP2_NV_FLAG_NONE;
		k++;
	}
	return k;
}

#define NV(n, v)                                                          \
	{                                                                 \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), \
		    NGHTTP2_NV_FLAG_NO_COPY_NAME                          \
	}

/* ---- calls ---------------------------------------------------------- */

static struct gcall *
call_new(struct h2conn *c, bool server)
{
	struct gcall *call = xmalloc(sizeof(*call));

	memset(call, 0, sizeof(*call));
	call->conn = c;
	call->server = server;
	call->stream_id = -1;
	call->override = -1;
	call->fin_code = -1;
	grpc_deframer_init(&call->df, c->max_recv);
	loop_timer_init(&call->deadline, NULL, call);
	call->next = c->calls;
	if (c->calls != NULL)
		c->calls->prev = call;
	c->calls = call;
	return call;
}

static void
call_unlink(struct gcall *call)
{
	struct h2conn *c = call->conn;

	if (c == NULL)
		return;
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		c->calls = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->next = call->prev = NULL;
	if (c->calls == NULL)
		c->idle_since = loop_now();
}

static void
call_free(struct gcall *call)
{
	loop_timer_stop(&call->deadline);
	call_unlink(call);
	if (call->conn != NULL && call->conn->session != NULL &&
	    call->stream_id > 0)
		nghttp2_session_set_stream_user_data(
		    call->conn->session, call->stream_id, NULL);
	grpc_deframer_free(&call->df);
	md_free(call->md, call->nmd);
	md_free(call->out_md, call->nout_md);
	md_free(call->out_tr, call->nout_tr);
	free(call->path);
	free(call->content_type);
	free(call->held);
	free(call->sq);
	free(call->fin_message);
	free(call->override_msg);
	free(call->local_err);
	free(call);
}

/* Decide the call's status locally (deadline, limits, cancellation). */
static void
call_override(struct gcall *call, int code, const char *msg)
{
	if (call->override >= 0)
		return;
	call->override = code;
	call->override_msg = xstrndup(msg, strlen(msg));
}

static void
call_reset(struct gcall *call, uint32_t h2code)
{
	struct h2conn *c = call->conn;

	if (c != NULL && c->session != NULL && call->stream_id > 0 &&
	    !call->stream_closed) {
		nghttp2_submit_rst_stream(
		    c->session, NGHTTP2_FLAG_NONE, call->stream_id, h2code);
		kick(c);
	}
}

static const char *
header(const struct gcall *call, const char *name)
{
	size_t i;

	/* The last one wins: trailers come after headers. */
	for (i = call->nmd; i-- > 0;)
		if (strcmp(call->md[i].name, name) == 0)
			return call->md[i].value;
	return NULL;
}

/*
 * The client's status for an ended call (PROTOCOL-HTTP2 "Responses",
 * http-grpc-status-mapping): grpc-status from trailers or Trailers-Only
 * first, then the RST_STREAM code, then the HTTP status.
 */
static void
client_status(struct gcall *call, struct gstatus *st, char *buf, size_t len)
{
	const char *s = header(call, "grpc-status");
	const char *m = header(call, "grpc-message");

	st->message = "";
	if (call->override >= 0) {
		st->code = call->override;
		st->message = call->override_msg;
		return;
	}
	if (s != NULL && (call->got_trailers || call->trailers_only)) {
		st->code = grpc_status_parse(s, strlen(s));
		if (st->code < 0 || st->code > 16) {
			st->code = GRPC_UNKNOWN;
			snprintf(buf, len, "bad grpc-status \"%.32s\"", s);
			st->message = buf;
			return;
		}
		if (m != NULL) {
			grpc_message_decode(buf, m, strnlen(m, len - 1));
			st->message = buf;
		}
		if (st->code == GRPC_OK &&
		    grpc_deframer_mid_message(&call->df)) {
			st->code = GRPC_INTERNAL;
			st->message = "stream ended inside a message";
		}
		return;
	}
	/* PROTOCOL-HTTP2 "Errors": even NO_ERROR is INTERNAL here, as
	 * OK would have come in trailers.  A reset is the peer's, or ours
	 * when nghttp2 found the peer's frames wrong. */
	if (call->got_rst || call->rst_code != NGHTTP2_NO_ERROR) {
		st->code = grpc_status_from_h2_error(call->rst_code);
		if (call->sent_rst && !call->got_rst && call->local_err != NULL)
			snprintf(buf, len,
			    "stream reset by us: %s (the server broke HTTP/2: "
			    "%s)",
			    nghttp2_http2_strerror(call->rst_code),
			    call->local_err);
		else if (call->sent_rst && !call->got_rst)
			snprintf(buf, len, "stream reset by us: %s",
			    nghttp2_http2_strerror(call->rst_code));
		else
			snprintf(buf, len, "stream reset by peer: %s",
			    nghttp2_http2_strerror(call->rst_code));
		st->message = buf;
		return;
	}
	if (call->http_status != 0 && call->http_status != 200) {
		st->code = grpc_status_from_http(call->http_status);
		snprintf(buf, len, "HTTP status %d", call->http_status);
		st->message = buf;
		return;
	}
	st->code = GRPC_UNKNOWN;
	if (call->got_headers && !grpc_content_type(call->content_type)) {
		snprintf(buf, len, "not a gRPC response (content-type %.64s)",
		    call->content_type != NULL ? call->content_type : "none");
		st->message = buf;
		return;
	}
	st->message = "the call ended without grpc-status";
}

static void
call_deliver_close(struct gcall *call)
{
	struct gstatus st;
	char buf[1024];

	if (call->closed)
		return;
	/* After the held messages, paused or not: a call resumed a moment
	 * ago still holds them until the kick delivers them. */
	if (call->held_len > 0 && call->override < 0)
		return;
	call->closed = true;
	if (call->server) {
		st.code = call->override >= 0 ? call->override : call->fin_code;
		st.message = call->override >= 0 ? call->override_msg : "";
		if (st.code < 0)
			st.code = GRPC_CANCELLED;
	} else {
		client_status(call, &st, buf, sizeof(buf));
	}
	loop_timer_stop(&call->deadline);
	if (call->h != NULL && call->h->on_close != NULL)
		call->h->on_close(call, &st, call->ctx);
	call_free(call);
}

static int
deliver_one(void *arg, const uint8_t *p, size_t n)
{
	struct gcall *call = arg;

	if (call->closed || call->override >= 0 || call->h == NULL ||
	    call->h->on_message == NULL)
		return 0;
	if (call->h->on_message(call, p, n, call->ctx) == GCALL_PAUSE)
		call->paused = true;
	return call->paused;
}

/* Feed received DATA bytes to the call; returns the bytes taken. */
static size_t
call_feed(struct gcall *call, const uint8_t *p, size_t n)
{
	static const struct gmd accept = { "grpc-accept-encoding", "identity",
		8 };
	long r = grpc_deframer_feed(&call->df, p, n, deliver_one, call);
	const char *enc = header(call, "grpc-encoding");
	char msg[128];

	if (r >= 0)
		return (size_t)r;
	call->failed_recv = true;
	if (r == GRPC_DEFRAME_TOO_BIG) {
		snprintf(msg, sizeof(msg),
		    "received message larger than max (%u bytes)",
		    call->df.max);
		call_override(call, GRPC_RESOURCE_EXHAUSTED, msg);
	} else if (r != GRPC_DEFRAME_COMPRESSED) {
		call_override(call, GRPC_INTERNAL, "bad message flags");
	} else if (enc == NULL || strcmp(enc, "identity") == 0) {
		/* PROTOCOL-HTTP2: without Message-Encoding the flag is 0. */
		call_override(call, GRPC_INTERNAL,
		    "compressed message without grpc-encoding");
	} else if (call->server) {
		/* compression.md: an encoding the server does not support
		 * is UNIMPLEMENTED, with grpc-accept-encoding saying what
		 * it does. */
		snprintf(msg, sizeof(msg),
		    "grpc-encoding %.40s is not supported (identity is)", enc);
		call_override(call, GRPC_UNIMPLEMENTED, msg);
		gcall_add_trailers(call, &accept, 1);
	} else {
		/* We sent no grpc-accept-encoding: identity only. */
		snprintf(msg, sizeof(msg),
		    "message compressed with %.40s, which we did not accept",
		    enc);
		call_override(call, GRPC_INTERNAL, msg);
	}
	if (call->server)
		h2call_reject(call, call->override, call->override_msg);
	else
		call_reset(call, NGHTTP2_CANCEL);
	return n;
}

/* Held bytes were taken out of the connection window when they were
 * held: only the stream's window is given back here. */
static void
consume(struct gcall *call, size_t n)
{
	struct h2conn *c = call->conn;

	if (n == 0 || c == NULL || c->session == NULL)
		return;
	if (call->stream_id > 0 && !call->stream_closed)
		nghttp2_session_consume_stream(c->session, call->stream_id, n);
}

/* Deliver held messages after gcall_resume(); runs from the kick. */
static void
call_drain_held(struct gcall *call)
{
	size_t used;

	if (call->paused || call->held_len == 0)
		return;
	used = call_feed(call, call->held, call->held_len);
	memmove(call->held, call->held + used, call->held_len - used);
	call->held_len -= used;
	consume(call, used);
	if (call->held_len == 0 && call->peer_done && !call->paused &&
	    call->h != NULL && call->h->on_half_close != NULL && call->server)
		call->h->on_half_close(call, call->ctx);
}

/* ---- sending -------------------------------------------------------- */

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/*
 * Fires when nghttp2 wants DATA for a call's stream (and the peer's
 * window allows): hands over queued message bytes, defers while the
 * queue is empty, ends the stream (or, on a server, sends the
 * trailers) once the queue is drained and closed.  Invariant: bytes
 * leave in queue order and the end never overtakes a message.
 */
static ssize_t
data_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length,
    uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct gcall *call = src->ptr;
	size_t n = call->sq_len - call->sq_off;
	bool was_high = n >= GCALL_SEND_LOW;

	if (n > length)
		n = length;
	if (n > 0)
		memcpy(buf, call->sq + call->sq_off, n);
	call->sq_off += n;
	while (call->sq_next < call->sq_off)
		call->sq_next += GRPC_PREFIX +
		    be32(call->sq + call->sq_next + 1);
	if (call->sq_off == call->sq_len)
		call->sq_off = call->sq_len = call->sq_next = 0;
	if (was_high && call->sq_len - call->sq_off < GCALL_SEND_LOW) {
		call->notify_writable = true;
		kick(call->conn);
	}
	if (call->sq_len > call->sq_off)
		return (ssize_t)n;
	if (!call->server && call->send_closed) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	} else if (call->server && call->finishing) {
		nghttp2_nv nv[3 + 64];
		char *store[64], code[12], *msg;
		size_t k = 0, i, m;

		*flags |= NGHTTP2_DATA_FLAG_EOF |
		    NGHTTP2_DATA_FLAG_NO_END_STREAM;
		snprintf(code, sizeof(code), "%d", call->fin_code);
		nv[k++] = (nghttp2_nv)NV("grpc-status", code);
		msg = call->fin_message;
		if (msg != NULL && *msg != '\0')
			nv[k++] = (nghttp2_nv)NV("grpc-message", msg);
		m = call->nout_tr < 64 ? call->nout_tr : 64;
		k += nv_metadata(nv + k, store, call->out_tr, m);
		nghttp2_submit_trailer(s, sid, nv, k);
		for (i = 0; i < m; i++)
			free(store[i]);
	} else if (n == 0) {
		call->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)n;
}

/*
 * New data for the stream: wake its data source.  The bytes go out
 * from the kick, once per loop round, so a burst of sends becomes a few
 * large writes instead of a write per message.
 */
static void
resume(struct gcall *call)
{
	struct h2conn *c = call->conn;

	if (call->deferred && c != NULL && c->session != NULL &&
	    call->stream_id > 0 && !call->stream_closed) {
		call->deferred = false;
		nghttp2_session_resume_data(c->session, call->stream_id);
	}
	if (c != NULL)
		kick(c);
}

/* Server: the response headers, with the first message or the end. */
static int
submit_response_headers(struct gcall *call, bool trailers_only)
{
	struct h2conn *c = call->conn;
	nghttp2_data_provider prd = { .source.ptr = call,
		.read_callback = data_read };
	size_t k = 0, i, m = call->nout_md < 64 ? call->nout_md : 64;
	size_t t = call->nout_tr < 64 ? call->nout_tr : 64;
	nghttp2_nv nv[4 + 128];
	char *store[128], code[12];
	int r;

	nv[k++] = (nghttp2_nv)NV(":status", "200");
	nv[k++] = (nghttp2_nv)NV("content-type", "application/grpc");
	if (trailers_only) {
		/* PROTOCOL-HTTP2: Trailers-Only, one HEADERS with END_STREAM */
		snprintf(code, sizeof(code), "%d", call->fin_code);
		nv[k++] = (nghttp2_nv)NV("grpc-status", code);
		if (call->fin_message != NULL && *call->fin_message != '\0')
			nv[k++] = (nghttp2_nv)NV(
			    "grpc-message", call->fin_message);
	}
	k += nv_metadata(nv + k, store, call->out_md, m);
	if (trailers_only)
		k += nv_metadata(nv + k, store + m, call->out_tr, t);
	else
		t = 0;
	r = nghttp2_submit_response(
	    c->session, call->stream_id, nv, k, trailers_only ? NULL : &prd);
	for (i = 0; i < m + t; i++)
		free(store[i]);
	call->headers_sent = true;
	return r;
}

/* Room for one message of n bytes at the end of the send queue, its
 * prefix written; NULL when the call takes no more messages. */
static uint8_t *
queue_message(struct gcall *call, size_t n)
{
	uint8_t *dst;

	if (call->closed || call->send_closed || call->finishing ||
	    call->override >= 0 || n > UINT32_MAX)
		return NULL;
	/* A queue that never quite empties (a slow peer, a steady
	 * producer) must not creep through memory: move the unsent
	 * bytes to the front once the sent ones are the larger part. */
	if (call->sq_off > 0 && call->sq_off >= call->sq_len - call->sq_off) {
		memmove(call->sq, call->sq + call->sq_off,
		    call->sq_len - call->sq_off);
		call->sq_len -= call->sq_off;
		call->sq_next -= call->sq_off;
		call->sq_off = 0;
	}
	dst = grow(&call->sq, &call->sq_len, &call->sq_cap, GRPC_PREFIX + n);
	grpc_prefix_put(dst, (uint32_t)n);
	call->sq_len += GRPC_PREFIX + n;
	return dst + GRPC_PREFIX;
}

/* A message was queued: a server's first one brings the headers. */
static void
queued(struct gcall *call)
{
	if (call->server && !call->headers_sent && call->conn != NULL &&
	    call->conn->session != NULL)
		submit_response_headers(call, false);
	resume(call);
}

int
gcall_send(struct gcall *call, const void *p, size_t n)
{
	uint8_t *dst = queue_message(call, n);

	if (dst == NULL)
		return -1;
	if (n > 0)
		memcpy(dst, p, n);
	queued(call);
	return 0;
}

int
gcall_send_msg(struct gcall *call, const ProtobufCMessage *msg)
{
	uint8_t *dst = queue_message(
	    call, protobuf_c_message_get_packed_size(msg));

	if (dst == NULL)
		return -1;
	protobuf_c_message_pack(msg, dst);
	queued(call);
	return 0;
}

size_t
gcall_send_pending(const struct gcall *call)
{
	return call->sq_len - call->sq_off;
}

/* Client: half-close; the stream ends once the queue is sent. */
void
gcall_close_send(struct gcall *call)
{
	if (call->send_closed || call->server)
		return;
	call->send_closed = true;
	resume(call);
}

/* Client or server: abandon the call (RST_STREAM CANCEL). */
void
gcall_cancel(struct gcall *call)
{
	if (call->closed)
		return;
	call_override(call, GRPC_CANCELLED, "cancelled");
	if (call->stream_id > 0 && !call->stream_closed && call->conn != NULL &&
	    call->conn->session != NULL) {
		call_reset(call, NGHTTP2_CANCEL);
	} else {
		call->close_pending = true;
		kick(call->conn);
	}
}

void
gcall_resume(struct gcall *call)
{
	if (!call->paused)
		return;
	call->paused = false;
	if (call->conn != NULL)
		kick(call->conn);
}

/* Server: end the call with a status (and trailers added before). */
void
gcall_finish(struct gcall *call, int code, const char *message)
{
	struct h2conn *c = call->conn;
	char buf[1024 * 3 + 1];

	if (!call->server || call->finishing || call->closed)
		return;
	call->finishing = true;
	call->fin_code = code;
	if (message != NULL && *message != '\0') {
		grpc_message_encode(buf, message, strnlen(message, 1024));
		call->fin_message = xstrndup(buf, strlen(buf));
	}
	if (c == NULL || c->session == NULL || call->stream_closed) {
		call->close_pending = true;
		kick(c);
		return;
	}
	if (!call->headers_sent) {
		submit_response_headers(call, true);
		kick(c);
	} else {
		resume(call);
	}
}

/*
 * Server: refuse a call before the application saw it, or end it for a
 * bad request message.  Once the status is on its way, that stands
 * (resetting now would drop it, nghttp2 discarding what is queued).
 */
void
h2call_reject(struct gcall *call, int code, const char *message)
{
	if (call->finishing)
		return;
	/* Unsent messages go; one already begun is finished, so the
	 * peer's de-framer stays in step. */
	call->sq_len = call->sq_next > call->sq_off ? call->sq_next :
						      call->sq_off;
	gcall_finish(call, code, message);
}

int
gcall_add_metadata(struct gcall *call, const struct gmd *md, size_t n)
{
	if (!call->server || call->headers_sent || call->nout_md != 0)
		return -1;
	call->out_md = md_copy(md, n);
	call->nout_md = n;
	return 0;
}

int
gcall_add_trailers(struct gcall *call, const struct gmd *md, size_t n)
{
	if (!call->server || call->finishing || call->nout_tr != 0)
		return -1;
	call->out_tr = md_copy(md, n);
	call->nout_tr = n;
	return 0;
}

const struct gmd *
gcall_metadata(const struct gcall *call, size_t *n)
{
	*n = call->nmd;
	return call->md;
}

const char *
gcall_header(const struct gcall *call, const char *name)
{
	return header(call, name);
}

const char *
gcall_path(const struct gcall *call)
{
	return call->path != NULL ? call->path : "";
}

int64_t
gcall_deadline(const struct gcall *call)
{
	return call->deadline_at;
}

void
gcall_set_handlers(
    struct gcall *call, const struct gcall_handlers *h, void *ctx)
{
	call->h = h;
	call->ctx = ctx;
}

static void
deadline_fired(struct loop_timer *t)
{
	struct gcall *call = t->ctx;

	call_override(call, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
	if (call->server) {
		/* PROTOCOL-HTTP2 "Client Cancellation": the server cancels
		 * locally.  When it can, it says why in a status (as gRPC
		 * core does) rather than a bare RST_STREAM, so the client
		 * sees DEADLINE_EXCEEDED even if its own timer is late. */
		if (!call->finishing)
			h2call_reject(
			    call, GRPC_DEADLINE_EXCEEDED, "deadline exceeded");
		else
			call_reset(call, NGHTTP2_CANCEL);
	} else if (call->stream_id > 0 && !call->stream_closed) {
		call_reset(call, NGHTTP2_CANCEL);
	} else {
		call->close_pending = true;
		kick(call->conn);
	}
}

static void
arm_deadline(struct gcall *call, int64_t timeout_ms)
{
	if (timeout_ms <= 0)
		return;
	call->deadline_at = loop_now() + timeout_ms;
	loop_timer_init(&call->deadline, deadline_fired, call);
	loop_timer_in(&call->deadline, timeout_ms);
}

/* Client: open a call on the connection. */
struct gcall *
h2call_start(struct h2conn *c, const char *scheme, const char *authority,
    const char *path, const struct gmd *md, size_t nmd, int64_t timeout_ms,
    const struct gcall_handlers *h, void *ctx)
{
	struct gcall *call = call_new(c, false);
	nghttp2_data_provider prd = { .source.ptr = call,
		.read_callback = data_read };
	char timeout[GRPC_TIMEOUT_MAX], *store[64];
	nghttp2_nv nv[8 + 64];
	size_t k = 0, i, m = nmd < 64 ? nmd : 64;

	call->h = h;
	call->ctx = ctx;
	call->path = xstrndup(path, strlen(path));
	/* PROTOCOL-HTTP2 "Requests": pseudo-headers, grpc-timeout, then
	 * the other call-definition headers, then custom metadata. */
	nv[k++] = (nghttp2_nv)NV(":method", "POST");
	nv[k++] = (nghttp2_nv)NV(":scheme", scheme);
	nv[k++] = (nghttp2_nv)NV(":path", call->path);
	nv[k++] = (nghttp2_nv)NV(":authority", authority);
	if (timeout_ms > 0) {
		grpc_timeout_format(timeout, timeout_ms);
		nv[k++] = (nghttp2_nv)NV("grpc-timeout", timeout);
	}
	nv[k++] = (nghttp2_nv)NV("te", "trailers");
	nv[k++] = (nghttp2_nv)NV("content-type", "application/grpc");
	nv[k++] = (nghttp2_nv)NV("user-agent", "evpipe/" PACKAGE_VERSION);
	k += nv_metadata(nv + k, store, md, m);
	call->stream_id = nghttp2_submit_request(
	    c->session, NULL, nv, k, &prd, call);
	for (i = 0; i < m; i++)
		free(store[i]);
	if (call->stream_id < 0) {
		call_override(
		    call, GRPC_UNAVAILABLE, nghttp2_strerror(call->stream_id));
		call->stream_id = -1;
		call->close_pending = true;
		kick(c);
		return call;
	}
	arm_deadline(call, timeout_ms);
	kick(c);
	return call;
}

/* ---- -v -v: one line per frame, secrets redacted --------------------- */

static const char *
frame_name(uint8_t type)
{
	static const char *const names[] = { "DATA", "HEADERS", "PRIORITY",
		"RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY",
		"WINDOW_UPDATE", "CONTINUATION" };

	return type < sizeof(names) / sizeof(names[0]) ? names[type] :
							 "UNKNOWN";
}

static void
frame_flags(char *buf, size_t cap, const nghttp2_frame *f)
{
	uint8_t fl = f->hd.flags;
	bool ack = f->hd.type == NGHTTP2_SETTINGS || f->hd.type == NGHTTP2_PING;

	snprintf(buf, cap, "%s%s%s%s%s",
	    (fl & NGHTTP2_FLAG_END_STREAM) && !ack ? "|END_STREAM" : "",
	    (fl & NGHTTP2_FLAG_ACK) && ack ? "|ACK" : "",
	    fl & NGHTTP2_FLAG_END_HEADERS ? "|END_HEADERS" : "",
	    fl & NGHTTP2_FLAG_PADDED ? "|PADDED" : "",
	    fl & NGHTTP2_FLAG_PRIORITY ? "|PRIORITY" : "");
	if (*buf == '\0')
		snprintf(buf, cap, "|none");
}

/* Append "name: value" (grpc_md_trace: secrets redacted) to a list. */
static void
trace_field(char *buf, size_t cap, size_t *len, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen)
{
	if (*len + 8 >= cap)
		return;
	if (*len > 0) {
		memcpy(buf + *len, ", ", 2);
		*len += 2;
	}
	/* Leave room to say the list was cut. */
	*len += grpc_md_trace(buf + *len, cap - *len - 4, (const char *)name,
	    nlen, (const char *)value, vlen);
	if (*len + 5 >= cap) {
		memcpy(buf + *len, " ...", 5);
		*len += 4;
	}
}

/*
 * The line for a frame sent or received: type, stream, flags, length
 * and what the frame says (header fields, error codes, settings).
 * Received header fields were collected by on_header into trace_hdr.
 */
static void
trace_frame(struct h2conn *c, const char *dir, const nghttp2_frame *f)
{
	char flags[64], detail[TRACE_MAX + 128];
	size_t i, n = 0;

	detail[0] = '\0';
	switch (f->hd.type) {
	case NGHTTP2_HEADERS:
		if (*dir == 'r') {
			snprintf(detail, sizeof(detail), "%.*s",
			    (int)c->trace_len,
			    c->trace_hdr != NULL ? c->trace_hdr : "");
			break;
		}
		for (i = 0; i < f->headers.nvlen; i++)
			trace_field(detail, TRACE_MAX, &n,
			    f->headers.nva[i].name, f->headers.nva[i].namelen,
			    f->headers.nva[i].value,
			    f->headers.nva[i].valuelen);
		break;
	case NGHTTP2_RST_STREAM:
		snprintf(detail, sizeof(detail), "%s",
		    nghttp2_http2_strerror(f->rst_stream.error_code));
		break;
	case NGHTTP2_SETTINGS:
		for (i = 0; i < f->settings.niv && n + 40 < sizeof(detail); i++)
			n += (size_t)snprintf(detail + n, sizeof(detail) - n,
			    "%s%d=%u", i > 0 ? ", " : "",
			    f->settings.iv[i].settings_id,
			    f->settings.iv[i].value);
		break;
	case NGHTTP2_GOAWAY:
		n = (size_t)snprintf(detail, sizeof(detail),
		    "last_stream %d, %s", f->goaway.last_stream_id,
		    nghttp2_http2_strerror(f->goaway.error_code));
		if (f->goaway.opaque_data_len > 0)
			trace_field(detail, sizeof(detail), &n,
			    (const uint8_t *)"debug", 5, f->goaway.opaque_data,
			    f->goaway.opaque_data_len);
		break;
	case NGHTTP2_WINDOW_UPDATE:
		snprintf(detail, sizeof(detail), "increment %d",
		    f->window_update.window_size_increment);
		break;
	}
	frame_flags(flags, sizeof(flags), f);
	ltrace("%s: %s %s stream %d flags %s length %zu%s%s", c->host, dir,
	    frame_name(f->hd.type), f->hd.stream_id, flags + 1, f->hd.length,
	    *detail != '\0' ? ": " : "", detail);
}

/* ---- nghttp2 callbacks ---------------------------------------------- */

/*
 * Fires when a HEADERS (or PUSH_PROMISE) frame begins, before its
 * fields.  Server: a request opens a stream, so a new call (invariant:
 * every request stream has a call as its user data from here until
 * on_stream_close).  Client: response headers or trailers of a call
 * that already exists.
 */
static int
on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2conn *c = user;
	struct gcall *call;

	c->trace_len = 0;
	if (!c->server && f->hd.type == NGHTTP2_PUSH_PROMISE) {
		/* Our SETTINGS say ENABLE_PUSH 0, which makes a push a
		 * connection error; this one came before they took effect.
		 * gRPC never pushes: the same error, said in our words. */
		snprintf(c->proto_err, sizeof(c->proto_err),
		    "PUSH_PROMISE on stream %d: gRPC does not use server push",
		    f->hd.stream_id);
		nghttp2_session_terminate_session(s, NGHTTP2_PROTOCOL_ERROR);
		return 0;
	}
	if (!c->server || f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	call = call_new(c, true);
	call->stream_id = f->hd.stream_id;
	nghttp2_session_set_stream_user_data(s, f->hd.stream_id, call);
	return 0;
}

/*
 * Fires for each header field of a HEADERS block (request headers,
 * response headers or trailers) once it passed nghttp2's HTTP checks
 * (a field that fails them resets the stream instead).  Invariant: the
 * call's metadata holds the fields in arrival order, the last of a
 * name winning (trailers after headers).
 */
static int
on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
    size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct h2conn *c = user;
	struct gcall *call = nghttp2_session_get_stream_user_data(
	    s, f->hd.stream_id);
	int64_t ms;

	if (logging(LOG_TRACE)) {
		if (c->trace_hdr == NULL)
			c->trace_hdr = xmalloc(TRACE_MAX);
		trace_field(c->trace_hdr, TRACE_MAX, &c->trace_len, name, nlen,
		    value, vlen);
	}
	if (call == NULL || f->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (name[0] == ':') {
		if (nlen == 7 && memcmp(name, ":status", 7) == 0)
			call->http_status = atoi((const char *)value);
		else if (nlen == 5 && memcmp(name, ":path", 5) == 0 &&
		    call->path == NULL)
			call->path = xstrndup((const char *)value, vlen);
		return 0;
	}
	if (nlen == 12 && memcmp(name, "content-type", 12) == 0) {
		free(call->content_type);
		call->content_type = xstrndup((const char *)value, vlen);
	}
	if (call->server && nlen == 12 &&
	    memcmp(name, "grpc-timeout", 12) == 0 &&
	    (ms = grpc_timeout_parse((const char *)value, vlen)) >= 0)
		arm_deadline(call, ms > 0 ? ms : 1);
	md_add(call, name, nlen, value, vlen);
	return 0;
}

/* PROTOCOL-HTTP2: content-type starts "application/grpc", then end or
 * "+" or ";" (so application/grpc-web is not gRPC). */
static bool
grpc_content_type(const char *ct)
{
	if (ct == NULL || strncmp(ct, "application/grpc", 16) != 0)
		return false;
	return ct[16] == '\0' || ct[16] == '+' || ct[16] == ';';
}

static void
server_request(struct h2conn *c, struct gcall *call)
{
	nghttp2_nv nv[] = { NV(":status", "415"),
		NV("content-type", "text/plain") };

	if (!grpc_content_type(call->content_type)) {
		/* PROTOCOL-HTTP2: a non-gRPC content-type gets HTTP 415;
		 * its body is not read as gRPC messages, but drained: no
		 * RST_STREAM, which plain HTTP clients (curl) take for an
		 * error while they upload. */
		call->finishing = true;
		call->failed_recv = true;
		call->not_grpc = true;
		call->fin_code = GRPC_INTERNAL;
		nghttp2_submit_response(
		    c->session, call->stream_id, nv, 2, NULL);
		return;
	}
	if (c->owner->on_request != NULL)
		c->owner->on_request(c, call, c->owner->ctx);
}

/*
 * Fires when a whole frame has been received, after its header fields
 * or DATA chunks went through their own callbacks.  Invariants: a call
 * learns its end of stream here (peer_done); the first SETTINGS marks
 * the connection established; ping strikes follow A9.
 */
static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2conn *c = user;
	struct gcall *call = nghttp2_session_get_stream_user_data(
	    s, f->hd.stream_id);
	int64_t now;

	if (logging(LOG_TRACE))
		trace_frame(c, "recv", f);
	switch (f->hd.type) {
	case NGHTTP2_SETTINGS:
		/* connection-backoff: the peer's SETTINGS prove the
		 * connection accepted; the connect timeout ends here. */
		if ((f->hd.flags & NGHTTP2_FLAG_ACK) || c->peer_settings)
			break;
		c->peer_settings = true;
		loop_timer_stop(&c->connect_timeout);
		c->open_pending = true;
		kick(c);
		break;
	case NGHTTP2_HEADERS:
		if (call == NULL)
			break;
		if (f->headers.cat == NGHTTP2_HCAT_REQUEST) {
			call->got_headers = true;
			server_request(c, call);
		} else if (f->headers.cat == NGHTTP2_HCAT_RESPONSE) {
			if (call->http_status / 100 == 1)
				break; /* 1xx: the real one follows */
			call->got_headers = true;
			call->trailers_only = (f->hd.flags &
						  NGHTTP2_FLAG_END_STREAM) != 0;
			if (call->h != NULL && call->h->on_headers != NULL)
				call->h->on_headers(call, call->ctx);
		} else if (f->headers.cat == NGHTTP2_HCAT_HEADERS) {
			call->got_trailers = true;
		}
		/* END_STREAM on HEADERS is handled as on DATA. */
		/* FALLTHROUGH */
	case NGHTTP2_DATA:
		if (call == NULL || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
			break;
		call->peer_done = true;
		if (call->server && call->held_len == 0 && !call->failed_recv &&
		    call->override < 0) {
			if (grpc_deframer_mid_message(&call->df))
				h2call_reject(call, GRPC_INTERNAL,
				    "request ended inside a message");
			else if (call->h != NULL &&
			    call->h->on_half_close != NULL)
				call->h->on_half_close(call, call->ctx);
		}
		/* PROTOCOL-HTTP2 "Early Server Closure": trailers before
		 * our END_STREAM: reset with NO_ERROR. */
		if (!call->server && !call->send_closed) {
			call->send_closed = true;
			nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE,
			    f->hd.stream_id, NGHTTP2_NO_ERROR);
		}
		break;
	case NGHTTP2_GOAWAY:
		/* Streams above last_stream_id were refused (nghttp2 closes
		 * them with REFUSED_STREAM: UNAVAILABLE); the others may run
		 * to their end.  No new calls go on this connection. */
		c->goaway = true;
		c->goaway_code = f->goaway.error_code;
		snprintf(c->goaway_debug, sizeof(c->goaway_debug), "%.*s",
		    (int)(f->goaway.opaque_data_len < 63 ?
			    f->goaway.opaque_data_len :
			    63),
		    f->goaway.opaque_data ?
			(const char *)f->goaway.opaque_data :
			"");
		linfo("GOAWAY from peer: %s%s%s",
		    nghttp2_http2_strerror(f->goaway.error_code),
		    *c->goaway_debug ? " " : "", c->goaway_debug);
		break;
	case NGHTTP2_RST_STREAM:
		if (call != NULL)
			call->got_rst = true;
		break;
	case NGHTTP2_PING:
		if (f->hd.flags & NGHTTP2_FLAG_ACK) {
			loop_timer_stop(&c->ping_timeout);
			break;
		}
		if (!c->server)
			break;
		/* A9 keepalive enforcement: at most one ping per permit
		 * interval, two strikes allowed, then GOAWAY. */
		now = loop_now();
		if (c->last_valid_ping != 0 &&
		    now - c->last_valid_ping < c->permit_ping_ms) {
			if (++c->ping_strikes > 2 && !c->closing) {
				linfo("%s: too many pings: GOAWAY "
				      "ENHANCE_YOUR_CALM",
				    c->host);
				nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE,
				    nghttp2_session_get_last_proc_stream_id(s),
				    NGHTTP2_ENHANCE_YOUR_CALM,
				    (const uint8_t *)"too_many_pings", 14);
				c->closing = true;
			}
		} else {
			c->last_valid_ping = now;
		}
		break;
	}
	return 0;
}

/*
 * Fires for each chunk of DATA payload.  Invariant: bytes are consumed
 * (the window given back) only once their messages were delivered or
 * copied into a bounded partial-message buffer; a paused call holds
 * them instead, so a slow consumer throttles the sender.  Held bytes
 * give back the connection's window at once and only the stream's
 * later: one paused stream (at most a stream window held) must not
 * starve the other calls on the connection.
 */
static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid,
    const uint8_t *data, size_t len, void *user)
{
	struct gcall *call = nghttp2_session_get_stream_user_data(s, sid);
	size_t used;

	if (call == NULL || call->closed || call->failed_recv ||
	    call->override >= 0) {
		nghttp2_session_consume(s, sid, len);
		return 0;
	}
	if (call->paused || call->held_len > 0) {
		memcpy(grow(&call->held, &call->held_len, &call->held_cap, len),
		    data, len);
		call->held_len += len;
		nghttp2_session_consume_connection(s, len);
		return 0;
	}
	used = call_feed(call, data, len);
	nghttp2_session_consume(s, sid, used);
	if (used < len) {
		memcpy(grow(&call->held, &call->held_len, &call->held_cap,
			   len - used),
		    data + used, len - used);
		call->held_len += len - used;
		nghttp2_session_consume_connection(s, len - used);
	}
	return 0;
}

/*
 * Fires after a frame was serialized for sending.  Invariants: every
 * HEADERS or DATA we send clears the peer's ping strikes (A9); a
 * server's trailers sent before the client's END_STREAM are followed by
 * RST_STREAM NO_ERROR (PROTOCOL-HTTP2 "Early Server Closure"; submitting
 * it earlier would drop the trailers).
 */
static int
on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	struct h2conn *c = user;
	struct gcall *call;

	if (logging(LOG_TRACE))
		trace_frame(c, "send", f);

	if (f->hd.type == NGHTTP2_GOAWAY) {
		c->sent_goaway = true;
		c->sent_goaway_code = f->goaway.error_code;
		snprintf(c->sent_goaway_debug, sizeof(c->sent_goaway_debug),
		    "%.*s",
		    (int)(f->goaway.opaque_data_len < 63 ?
			    f->goaway.opaque_data_len :
			    63),
		    f->goaway.opaque_data ?
			(const char *)f->goaway.opaque_data :
			"");
	}
	if (f->hd.type == NGHTTP2_RST_STREAM &&
	    (call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id)) !=
		NULL)
		call->sent_rst = true;
	if (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) {
		c->ping_strikes = 0; /* A9: sending resets strikes */
		c->last_valid_ping = 0;
	}
	if (!c->server || f->hd.type != NGHTTP2_HEADERS ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	call = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (call != NULL && !call->peer_done && !call->not_grpc)
		nghttp2_submit_rst_stream(
		    s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
	return 0;
}

/*
 * Fires when a stream is closed, for whatever reason (END_STREAM both
 * ways, RST_STREAM either way, GOAWAY refusal).  The call ends here,
 * unless messages are still held for a paused consumer.  Invariant:
 * from here on no nghttp2 callback reaches the call (its stream user
 * data is cleared), and it never submits on the stream again.
 */
static int
on_stream_close(nghttp2_session *s, int32_t sid, uint32_t code, void *user)
{
	struct gcall *call = nghttp2_session_get_stream_user_data(s, sid);

	if (call == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(s, sid, NULL);
	call->stream_closed = true;
	call->rst_code = code;
	if (call->server && code != NGHTTP2_NO_ERROR && !call->finishing)
		call_override(call, GRPC_CANCELLED, "cancelled by the client");
	if (!call->server && code == NGHTTP2_REFUSED_STREAM)
		call_override(call, GRPC_UNAVAILABLE,
		    "stream refused (GOAWAY or too many streams)");
	call_deliver_close(call);
	return 0;
}

/*
 * Fires when a submitted frame could not be sent (say a request after
 * the peer's GOAWAY).  nghttp2 then closes the stream itself, so the
 * call ends through on_stream_close; this only leaves a trace.
 */
static int
on_frame_not_send(
    nghttp2_session *s, const nghttp2_frame *f, int err, void *user)
{
	struct h2conn *c = user;

	ltrace("%s: not sent: %s stream %d: %s", c->host,
	    frame_name(f->hd.type), f->hd.stream_id, nghttp2_strerror(err));
	return 0;
}

/*
 * Fires when a received frame broke a protocol rule; nghttp2 answers it
 * (RST_STREAM or GOAWAY) by itself.  Only a trace, like the above.
 */
static int
on_invalid_frame(
    nghttp2_session *s, const nghttp2_frame *f, int err, void *user)
{
	struct h2conn *c = user;
	struct gcall *call = f->hd.stream_id > 0 ?
	    nghttp2_session_get_stream_user_data(s, f->hd.stream_id) :
	    NULL;
	const char *why = *c->proto_err != '\0' ? c->proto_err :
						  nghttp2_strerror(err);

	ltrace("%s: recv invalid %s stream %d: %s", c->host,
	    frame_name(f->hd.type), f->hd.stream_id, why);
	if (call != NULL && call->local_err == NULL)
		call->local_err = xstrndup(why, strlen(why));
	return 0;
}

/*
 * Fires when nghttp2 finds the peer's frames wrong, with its reason,
 * before it answers with RST_STREAM (a stream error) or GOAWAY (a
 * connection error).  Invariant: proto_err holds the latest reason, so
 * that a call or the connection ending for it says why, not "closed".
 */
static int
on_error(nghttp2_session *s, int code, const char *msg, size_t len, void *user)
{
	struct h2conn *c = user;

	snprintf(c->proto_err, sizeof(c->proto_err), "%.*s",
	    (int)(len < sizeof(c->proto_err) ? len : sizeof(c->proto_err) - 1),
	    msg);
	ltrace("%s: %s", c->host, c->proto_err);
	return 0;
}

static nghttp2_session_callbacks *
callbacks(void)
{
	static nghttp2_session_callbacks *cb;

	if (cb != NULL)
		return cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		die(EXIT_INTERNAL, "out of memory");
	nghttp2_session_callbacks_set_on_begin_headers_callback(
	    cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
	    cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
	nghttp2_session_callbacks_set_on_stream_close_callback(
	    cb, on_stream_close);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(
	    cb, on_frame_not_send);
	nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(
	    cb, on_invalid_frame);
	nghttp2_session_callbacks_set_error_callback2(cb, on_error);
	return cb;
}

/* ---- the connection ------------------------------------------------- */

static void
session_new(struct h2conn *c)
{
	/* A client's SETTINGS refuse server push (gRPC never pushes);
	 * ENABLE_PUSH is not a server's setting (RFC 9113 6.5.2). */
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024 },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	nghttp2_option *opt;
	int r;

	if (nghttp2_option_new(&opt) != 0)
		die(EXIT_INTERNAL, "out of memory");
	/* We give window back ourselves, as messages are taken. */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
	r = c->server ?
	    nghttp2_session_server_new2(&c->session, callbacks(), c, opt) :
	    nghttp2_session_client_new2(&c->session, callbacks(), c, opt);
	nghttp2_option_del(opt);
	if (r != 0)
		die(EXIT_INTERNAL, "nghttp2: %s", nghttp2_strerror(r));
	nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv,
	    sizeof(iv) / sizeof(iv[0]) - (c->server ? 1 : 0));
	nghttp2_session_set_local_window_size(
	    c->session, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
}

static void
set_dead(struct h2conn *c, const char *why)
{
	struct gcall *call, *next;
	char msg[300];

	if (c->state == H2_DEAD)
		return;
	c->state = H2_DEAD;
	snprintf(c->why, sizeof(c->why), "%s", why);
	linfo("connection %s: %s", c->host, why);
	loop_timer_stop(&c->keepalive);
	loop_timer_stop(&c->ping_timeout);
	loop_timer_stop(&c->connect_timeout);
	loop_timer_stop(&c->linger);
	loop_io_del(&c->io);
	/* SETTINGS came (with the close, maybe): it was established. */
	if (c->open_pending) {
		c->open_pending = false;
		if (c->owner->on_open != NULL)
			c->owner->on_open(c, c->owner->ctx);
	}
	/* PROTOCOL-HTTP2 "Connection failure": client calls end
	 * UNAVAILABLE, server calls CANCELLED. */
	if (c->goaway)
		snprintf(msg, sizeof(msg),
		    "connection lost: %s (after GOAWAY %s%s%s)", why,
		    nghttp2_http2_strerror(c->goaway_code),
		    *c->goaway_debug != '\0' ? " " : "", c->goaway_debug);
	else
		snprintf(msg, sizeof(msg), "connection lost: %s", why);
	for (call = c->calls; call != NULL; call = next) {
		next = call->next;
		call->stream_closed = true;
		call->paused = false;
		call_override(
		    call, c->server ? GRPC_CANCELLED : GRPC_UNAVAILABLE, msg);
	}
	for (call = c->calls; call != NULL; call = next) {
		next = call->next;
		call_deliver_close(call);
	}
	if (c->owner->on_dead != NULL)
		c->owner->on_dead(c, why, c->owner->ctx);
	kick(c); /* frees c */
}

void
h2conn_kill(struct h2conn *c, const char *why)
{
	set_dead(c, why);
}

static int
sock_write(struct h2conn *c, const uint8_t *p, size_t n)
{
	ssize_t w;
	int e;

	/* The CONNECT request to a proxy goes before TLS starts. */
	if (c->ssl == NULL || c->state == H2_PROXY) {
		do
			w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		return (int)w;
	}
	ERR_clear_error();
	if ((w = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n))) >
	    0)
		return (int)w;
	e = SSL_get_error(c->ssl, (int)w);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	errno = EPIPE;
	return -1;
}

/*
 * Why a session that has nothing more to do ended: the GOAWAY we sent
 * and what made nghttp2 send it (a protocol error of the peer), or a
 * plain close.
 */
static const char *
session_end(const struct h2conn *c, char *buf, size_t len)
{
	const char *reason = *c->proto_err != '\0' ? c->proto_err :
	    *c->sent_goaway_debug != '\0'	   ? c->sent_goaway_debug :
						     "no reason given";

	if (!c->sent_goaway)
		return "closed";
	if (c->sent_goaway_code != NGHTTP2_NO_ERROR)
		snprintf(buf, len,
		    "HTTP/2 error by the %s: %s (we sent GOAWAY %s)",
		    c->server ? "client" : "server", reason,
		    nghttp2_http2_strerror(c->sent_goaway_code));
	else
		snprintf(buf, len, "closed after we sent GOAWAY %s%s%s",
		    nghttp2_http2_strerror(c->sent_goaway_code),
		    *c->sent_goaway_debug != '\0' ? " " : "",
		    c->sent_goaway_debug);
	return buf;
}

/* Move what nghttp2 has to send into out, and out into the socket. */
void
h2conn_flush(struct h2conn *c)
{
	const uint8_t *data;
	char why[300];
	ssize_t n;
	int w;

	if (c == NULL || c->state != H2_OPEN)
		return;
	for (;;) {
		while (c->out_len - c->out_off < OUT_HIGH) {
			n = nghttp2_session_mem_send(c->session, &data);
			if (n < 0) {
				set_dead(c, nghttp2_strerror((int)n));
				return;
			}
			if (n == 0)
				break;
			if (c->out_off == c->out_len)
				c->out_off = c->out_len = 0;
			memcpy(
			    grow(&c->out, &c->out_len, &c->out_cap, (size_t)n),
			    data, (size_t)n);
			c->out_len += (size_t)n;
		}
		if (c->out_off == c->out_len)
			break;
		w = sock_write(c, c->out + c->out_off, c->out_len - c->out_off);
		if (w < 0) {
			set_dead(c, strerror(errno));
			return;
		}
		if (w == 0)
			break;
		c->out_off += (size_t)w;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len == 0 && !nghttp2_session_want_write(c->session) &&
	    (c->closing || !nghttp2_session_want_read(c->session)))
		set_dead(c, session_end(c, why, sizeof(why)));
}

/* TCP (and TLS) are up: HTTP/2 starts; the connect timeout runs on
 * until the peer's SETTINGS arrive. */
static void
opened(struct h2conn *c)
{
	c->state = H2_OPEN;
	c->last_read = loop_now();
	if (c->keepalive_ms > 0)
		loop_timer_in(&c->keepalive, c->keepalive_ms);
	if (c->retiring)
		submit_retire(c);
	h2conn_flush(c);
}

/*
 * A TLS call on c failed with SSL_get_error() e: c dies with OpenSSL's
 * reason (e.g. an alert from the server), else the system's, and says
 * when the server asked for a client certificate we did not have: with
 * TLS 1.3 it can only refuse that after the handshake, and grpcio just
 * closes the connection.
 */
static void
tls_dead(struct h2conn *c, const char *what, int e)
{
	char why[300];
	const char *reason = tls_error();

	if (*reason == '\0' && e == SSL_ERROR_SYSCALL && errno != 0)
		reason = strerror(errno);
	snprintf(why, sizeof(why), "%s%s%s%s", what, *reason ? ": " : "",
	    reason,
	    !c->server && tls_cert_wanted(c->ssl) ?
		" (the server asked for a client certificate)" :
		"");
	set_dead(c, why);
}

static void
handshake(struct h2conn *c)
{
	const unsigned char *alpn = NULL;
	unsigned int alen = 0;
	char why[300];
	long vr;
	int r, e;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
		if (alen != 2 || memcmp(alpn, "h2", 2) != 0) {
			set_dead(c,
			    c->server ?
				"TLS: the client did not offer h2 (ALPN)" :
				"TLS: the server did not select h2 (ALPN)");
			return;
		}
		opened(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		c->tls_wants_write = false;
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		c->tls_wants_write = true;
		return;
	}
	vr = SSL_get_verify_result(c->ssl);
	if (vr != X509_V_OK) {
		snprintf(why, sizeof(why), "TLS handshake: %s",
		    X509_verify_cert_error_string(vr));
		set_dead(c, why);
	} else {
		tls_dead(c, "TLS handshake failed", e);
	}
}

static void
start_tls_or_open(struct h2conn *c)
{
	if (c->ssl != NULL) {
		c->state = H2_HANDSHAKE;
		handshake(c);
	} else {
		opened(c);
	}
}

/* The proxy's answer to CONNECT: a status line and headers. */
static void
proxy_read(struct h2conn *c)
{
	ssize_t n;
	int code = 0;
	char why[300];

	n = recv(c->fd, c->proxy_reply + c->proxy_got,
	    sizeof(c->proxy_reply) - 1 - c->proxy_got, MSG_PEEK);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		set_dead(c, "proxy closed the connection");
		return;
	}
	/* Read only up to the end of the headers: what follows is TLS or
	 * HTTP/2 from the server. */
	{
		char *end;
		size_t take;

		c->proxy_reply[c->proxy_got + (size_t)n] = '\0';
		end = strstr(c->proxy_reply, "\r\n\r\n");
		take = end != NULL ?
		    (size_t)(end + 4 - c->proxy_reply) - c->proxy_got :
		    (size_t)n;
		n = recv(c->fd, c->proxy_reply + c->proxy_got, take, 0);
		if (n <= 0) {
			set_dead(c, "proxy closed the connection");
			return;
		}
		c->proxy_got += (size_t)n;
		c->proxy_reply[c->proxy_got] = '\0';
		if (end == NULL) {
			if (c->proxy_got >= sizeof(c->proxy_reply) - 1)
				set_dead(c, "proxy: reply too long");
			return;
		}
	}
	if (sscanf(c->proxy_reply, "HTTP/1.%*d %d", &code) != 1 ||
	    code != 200) {
		snprintf(why, sizeof(why), "proxy refused CONNECT: %.*s",
		    (int)strcspn(c->proxy_reply, "\r\n"), c->proxy_reply);
		set_dead(c, why);
		return;
	}
	free(c->proxy_connect);
	c->proxy_connect = NULL;
	start_tls_or_open(c);
}

static void
conn_read(struct h2conn *c)
{
	uint8_t buf[READ_CHUNK];
	ssize_t n, r;
	int e;

	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			errno = 0;
			n = SSL_read(c->ssl, buf, sizeof(buf));
			if (n <= 0) {
				e = SSL_get_error(c->ssl, (int)n);
				if (e == SSL_ERROR_WANT_READ)
					return;
				if (e == SSL_ERROR_WANT_WRITE) {
					c->tls_wants_write = true;
					return;
				}
				if (e == SSL_ERROR_ZERO_RETURN)
					set_dead(c, "closed by peer");
				else
					tls_dead(c, "TLS read failed", e);
				return;
			}
		} else {
			n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n <= 0) {
				set_dead(c,
				    n == 0 ? "closed by peer" :
					     strerror(errno));
				return;
			}
		}
		c->last_read = loop_now();
		loop_timer_stop(&c->ping_timeout);
		r = nghttp2_session_mem_recv(c->session, buf, (size_t)n);
		if (r < 0) {
			set_dead(c, nghttp2_strerror((int)r));
			return;
		}
		if (c->state != H2_OPEN)
			return;
		/* Plaintext decrypted inside TLS does not make the socket
		 * readable again: keep reading until WANT_READ. */
		if (c->ssl == NULL && (size_t)n < sizeof(buf))
			return;
	}
}

static void
io_prepare(struct loop_io *io)
{
	struct h2conn *c = io->ctx;

	switch (c->state) {
	case H2_CONNECTING:
		io->events = POLLOUT;
		break;
	case H2_PROXY:
		io->events = c->proxy_connect != NULL && c->proxy_got == 0 &&
			c->out_len > c->out_off ?
		    POLLOUT :
		    POLLIN;
		break;
	case H2_HANDSHAKE:
		io->events = c->tls_wants_write ? POLLOUT : POLLIN;
		break;
	case H2_OPEN:
		io->events = POLLIN;
		if (c->out_len > c->out_off || c->tls_wants_write ||
		    nghttp2_session_want_write(c->session))
			io->events |= POLLOUT;
		break;
	default:
		io->events = 0;
	}
}

/* The socket is ready: move the connection along its states. */
static void
io_ready(struct loop_io *io, short revents)
{
	struct h2conn *c = io->ctx;
	socklen_t len = sizeof(int);
	int err = 0, w;

	switch (c->state) {
	case H2_CONNECTING:
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			char why[300];

			snprintf(
			    why, sizeof(why), "connect: %s", strerror(err));
			set_dead(c, why);
			return;
		}
		if (c->proxy_connect != NULL) {
			c->state = H2_PROXY;
			io_ready(io, POLLOUT);
			return;
		}
		start_tls_or_open(c);
		return;
	case H2_PROXY:
		if (c->out_len > c->out_off) {
			w = sock_write(
			    c, c->out + c->out_off, c->out_len - c->out_off);
			if (w < 0) {
				set_dead(c, strerror(errno));
				return;
			}
			c->out_off += (size_t)w;
			if (c->out_off == c->out_len)
				c->out_off = c->out_len = 0;
			return;
		}
		proxy_read(c);
		return;
	case H2_HANDSHAKE:
		handshake(c);
		return;
	case H2_OPEN:
		c->tls_wants_write = false;
		if (revents & (POLLIN | POLLHUP | POLLERR))
			conn_read(c);
		h2conn_flush(c);
		return;
	default:
		return;
	}
}

/* Deferred work, run from the loop outside any nghttp2 callback. */
static void
kicked(struct loop_timer *t)
{
	struct h2conn *c = t->ctx;
	struct gcall *call, *next;

	if (c->open_pending && c->state == H2_OPEN) {
		c->open_pending = false;
		if (c->owner->on_open != NULL)
			c->owner->on_open(c, c->owner->ctx);
	}
	for (call = c->calls; call != NULL; call = next) {
		next = call->next;
		if (!call->paused && call->held_len > 0)
			call_drain_held(call);
		if (call->notify_writable && !call->closed) {
			call->notify_writable = false;
			if (call->h != NULL && call->h->on_writable != NULL)
				call->h->on_writable(call, call->ctx);
		}
	}
	for (call = c->calls; call != NULL; call = next) {
		next = call->next;
		if (call->close_pending ||
		    (call->stream_closed && call->held_len == 0))
			call_deliver_close(call);
	}
	if (c->state == H2_DEAD) {
		if (c->calls == NULL)
			conn_free(c);
		return;
	}
	h2conn_flush(c);
}

static void
keepalive_fired(struct loop_timer *t)
{
	struct h2conn *c = t->ctx;
	int64_t idle = loop_now() - c->last_read;

	/* A8: keepalive time counts from the last byte read. */
	if (idle < c->keepalive_ms) {
		loop_timer_in(&c->keepalive, c->keepalive_ms - idle);
		return;
	}
	/* A8: KEEPALIVE_WITHOUT_CALLS is off: an idle connection is not
	 * pinged (servers count that as abuse, A9). */
	if (c->calls == NULL) {
		loop_timer_in(&c->keepalive, c->keepalive_ms);
		return;
	}
	nghttp2_submit_ping(c->session, NGHTTP2_FLAG_NONE, NULL);
	loop_timer_in(&c->ping_timeout, c->keepalive_timeout_ms);
	loop_timer_in(&c->keepalive, c->keepalive_ms);
	h2conn_flush(c);
}

/* A retiring connection took too long to say its GOAWAY: cut it. */
static void
linger_fired(struct loop_timer *t)
{
	struct h2conn *c = t->ctx;
	char end[300], why[340];

	snprintf(why, sizeof(why), "%s (not all sent within a second)",
	    c->sent_goaway ? session_end(c, end, sizeof(end)) : c->why);
	set_dead(c, why);
}

static void
ping_timeout_fired(struct loop_timer *t)
{
	/* PROTOCOL-HTTP2 "PING Frame": an unanswered client ping ends the
	 * client's calls with UNAVAILABLE. */
	set_dead(t->ctx, "keepalive ping not answered");
}

/* connection-backoff's MIN_CONNECT_TIMEOUT: from connect() to the
 * peer's SETTINGS, whatever step it is stuck in. */
static void
connect_timeout_fired(struct loop_timer *t)
{
	struct h2conn *c = t->ctx;
	static const char *const step[] = { [H2_CONNECTING] = "connect",
		[H2_PROXY] = "proxy CONNECT",
		[H2_HANDSHAKE] = "TLS handshake",
		[H2_OPEN] = "HTTP/2 SETTINGS",
		[H2_DEAD] = "close" };
	char why[128];

	snprintf(why, sizeof(why), "%s: timed out after %llds", step[c->state],
	    (long long)(c->connect_timeout_ms / 1000));
	set_dead(c, why);
}

static struct h2conn *
conn_new(int fd, bool server, const struct h2conn_owner *owner)
{
	struct h2conn *c = xmalloc(sizeof(*c));

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->server = server;
	c->owner = owner;
	c->max_recv = GRPC_MAX_RECV_DEFAULT;
	c->permit_ping_ms = 5 * 60 * 1000;
	c->io = (struct loop_io){
		.fd = fd, .prepare = io_prepare, .ready = io_ready, .ctx = c
	};
	loop_timer_init(&c->kick, kicked, c);
	loop_timer_init(&c->keepalive, keepalive_fired, c);
	loop_timer_init(&c->ping_timeout, ping_timeout_fired, c);
	loop_timer_init(&c->connect_timeout, connect_timeout_fired, c);
	loop_timer_init(&c->linger, linger_fired, c);
	c->idle_since = loop_now();
	session_new(c);
	loop_io_add(&c->io);
	return c;
}

static void
conn_free(struct h2conn *c)
{
	loop_timer_stop(&c->kick);
	loop_timer_stop(&c->keepalive);
	loop_timer_stop(&c->ping_timeout);
	loop_timer_stop(&c->connect_timeout);
	loop_timer_stop(&c->linger);
	loop_io_del(&c->io);
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	nghttp2_session_del(c->session);
	free(c->out);
	free(c->proxy_connect);
	free(c->trace_hdr);
	free(c);
}

/*
 * Client: connect to t, directly or through an HTTP CONNECT proxy
 * (proxy is then the target of the socket and t the tunnel's end),
 * giving up when the server's SETTINGS have not come after timeout_ms.
 * dial, when not NULL, is where the connection really goes (curl's
 * --connect-to; axway.md 2.11, the single-entry address): TLS name,
 * CONNECT's Host header and :authority stay t's.
 */
struct h2conn *
h2conn_connect(const struct target *t, const struct target *dial, SSL_CTX *tls,
    const char *proxy, int64_t timeout_ms, const struct h2conn_owner *owner,
    char *err, size_t errlen)
{
	struct target pt;
	struct h2conn *c;
	const char *via = NULL, *at;
	char auth[512] = "", cred[256], b64[400];
	int fd;

	if (proxy != NULL) {
		char url[512];

		/* http://[user:pass@]host:port, parsed as a grpc:// URL */
		if (strncmp(proxy, "http://", 7) != 0) {
			snprintf(
			    err, errlen, "proxy %s: not an http:// URL", proxy);
			return NULL;
		}
		via = proxy + 7;
		if ((at = strrchr(via, '@')) != NULL) {
			snprintf(
			    cred, sizeof(cred), "%.*s", (int)(at - via), via);
			b64[base64_encode(
			    b64, (const uint8_t *)cred, strlen(cred))] = '\0';
			snprintf(auth, sizeof(auth),
			    "Proxy-Authorization: Basic %s\r\n", b64);
			via = at + 1;
		}
		snprintf(url, sizeof(url), "grpc://%s", via);
		if (target_parse(&pt, url, err, errlen) < 0)
			return NULL;
		if ((fd = target_connect(&pt, err, errlen)) < 0)
			return NULL;
	} else if ((fd = target_connect(dial != NULL ? dial : t, err, errlen)) <
	    0) {
		return NULL;
	}
	c = conn_new(fd, false, owner);
	snprintf(c->host, sizeof(c->host), "%s", t->host);
	if (proxy != NULL) {
		char req[1024];
		const struct target *d = dial != NULL ? dial : t;
		int n = snprintf(req, sizeof(req),
		    "CONNECT %s%s%s:%s HTTP/1.1\r\nHost: %s:%s\r\n%s\r\n",
		    strchr(d->host, ':') != NULL ? "[" : "", d->host,
		    strchr(d->host, ':') != NULL ? "]" : "", d->port, t->host,
		    t->port, auth);

		c->proxy_connect = xstrndup(req, (size_t)n);
		memcpy(grow(&c->out, &c->out_len, &c->out_cap, (size_t)n), req,
		    (size_t)n);
		c->out_len += (size_t)n;
	}
	if (tls != NULL) {
		c->ssl = tls_client_new(tls, fd, t->host,
		    SSL_CTX_get_verify_mode(tls) != SSL_VERIFY_NONE, err,
		    errlen);
		if (c->ssl == NULL) {
			conn_free(c);
			return NULL;
		}
	}
	c->state = H2_CONNECTING;
	c->connect_timeout_ms = timeout_ms;
	loop_timer_in(&c->connect_timeout, timeout_ms);
	return c;
}

/* "127.0.0.1:5000", "[::1]:5000" or "unix": who a server talks to. */
static void
peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[NI_MAXHOST], port[NI_MAXSERV];

	ss.ss_family = AF_UNSPEC;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
		sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "%s",
		    ss.ss_family == AF_UNIX ? "unix client" : "client");
		return;
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host,
	    port);
}

/* Server: a connection accepted on fd. */
struct h2conn *
h2conn_accept(int fd, SSL_CTX *tls, const struct h2conn_owner *owner)
{
	struct h2conn *c = conn_new(fd, true, owner);

	peer_name(fd, c->host, sizeof(c->host));
	if (tls != NULL) {
		if ((c->ssl = SSL_new(tls)) == NULL ||
		    SSL_set_fd(c->ssl, fd) != 1) {
			conn_free(c);
			return NULL;
		}
		SSL_set_accept_state(c->ssl);
		c->state = H2_HANDSHAKE;
	} else {
		opened(c);
	}
	/* A client that connects and says nothing is dropped. */
	c->connect_timeout_ms = BACKOFF_MIN_CONNECT_MS;
	loop_timer_in(&c->connect_timeout, c->connect_timeout_ms);
	return c;
}

void
h2conn_set_keepalive(struct h2conn *c, int64_t every, int64_t timeout)
{
	c->keepalive_ms = every;
	c->keepalive_timeout_ms = timeout;
	if (c->state == H2_OPEN && every > 0)
		loop_timer_in(&c->keepalive, every);
}

/*
 * Server: graceful GOAWAY.  A9: first a notice (last stream 2^31-1),
 * then (final) the real last stream id.
 */
void
h2conn_goaway(struct h2conn *c, bool final)
{
	if (c->state != H2_OPEN)
		return;
	if (!final)
		nghttp2_submit_shutdown_notice(c->session);
	else
		nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
		    nghttp2_session_get_last_proc_stream_id(c->session),
		    NGHTTP2_NO_ERROR, NULL, 0);
	h2conn_flush(c);
}

/* The GOAWAY of h2conn_retire(), once the connection is open. */
static void
submit_retire(struct h2conn *c)
{
	nghttp2_submit_goaway(c->session, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(c->session),
	    NGHTTP2_NO_ERROR, (const uint8_t *)c->why, strlen(c->why));
	c->closing = true;
}

/*
 * Server: close a connection that has no calls (idle too long, or room
 * is needed): GOAWAY NO_ERROR with why as its debug data (A9's
 * MAX_CONNECTION_IDLE says "max_idle"), then the close once it is out.
 * The server's SETTINGS go first, as always.  A connection still in its
 * TLS handshake sends them once that is done.  Either way it takes at
 * most a second.
 */
void
h2conn_retire(struct h2conn *c, const char *why)
{
	if (c->state == H2_DEAD || c->retiring)
		return;
	c->retiring = true;
	snprintf(c->why, sizeof(c->why), "%s", why);
	loop_timer_in(&c->linger, 1000);
	if (c->state != H2_OPEN)
		return;
	submit_retire(c);
	h2conn_flush(c);
}

/* Server: no calls, not retiring: may be closed to make room. */
bool
h2conn_idle(const struct h2conn *c)
{
	return c->calls == NULL && !c->retiring && c->state != H2_DEAD;
}

size_t
h2conn_ncalls(const struct h2conn *c)
{
	const struct gcall *call;
	size_t n = 0;

	for (call = c->calls; call != NULL; call = call->next)
		n++;
	return n;
}
