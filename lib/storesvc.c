/*
 * The awakari messages service (awakari.md, section 1): four unary
 * methods, each a store request.  Requests are parsed here straight
 * from the wire, so that every event is stored as the exact bytes the
 * caller sent and GetBatch answers with those bytes again.
 */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api/grpc/messages/cleaner.pb-c.h"
#include "api/grpc/messages/service.pb-c.h"
#include "arena.h"
#include "cloudevent.h"
#include "duration.h"
#include "exitcode.h"
#include "grpcwire.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "storesvc.h"
#include "utf8.h"
#include "varint.h"

enum method { M_PUT, M_GET, M_DELETE, M_CLEAN, M_COUNT };

static const char *const paths[M_COUNT] = {
	[M_PUT] = "/awakari.messages.Service/PutBatch",
	[M_GET] = "/awakari.messages.Service/GetBatch",
	[M_DELETE] = "/awakari.messages.Service/DeleteBatch",
	[M_CLEAN] = "/awakari.messages.cleaner.Service/Clean",
};

static const char *const method_names[M_COUNT] = { "PutBatch", "GetBatch",
	"DeleteBatch", "Clean" };

#define NCODES 17 /* gRPC status codes 0 (OK) to 16 */

/* A requests_total series, made the first time its pair is seen. */
struct req_metric {
	struct metric m;
	char labels[64];
};

static const char *const services[] = { "awakari.messages.Service",
	"awakari.messages.cleaner.Service" };

/* Removing old events, a chunk per transaction, until none is left. */
struct cleaner {
	struct storesvc *svc;
	struct store_req req;
	uint64_t total;
	bool running;
	void (*done)(struct cleaner *, int, const char *);
};

struct method_ctx {
	struct storesvc *svc;
	enum method m;
};

struct storesvc {
	struct gserver *server;
	struct storesvc_opts o;
	struct method_ctx mctx[M_COUNT];
	struct loop_timer clean_timer;
	struct cleaner periodic;
	size_t pending; /* store requests of calls not yet done */
	bool stopping;
	bool db_up; /* the database is reachable (storesvc_set_up) */
	bool writes_fail; /* the last write failed: disk full, read-only */
	struct req_metric requests[M_COUNT][NCODES];
	struct metric m_put, m_got, m_deleted, m_write_failures, m_last_write;
};

struct rpc {
	struct storesvc *svc;
	struct gcall *call; /* NULL once the call is over */
	enum method m;
	uint8_t *body;
	size_t len;
	bool got;
	bool ended; /* finished with an error before the store saw it */
	bool pending; /* the store has our request */
	struct arena arena;
	struct store_req req;
	struct store_event *events;
	const char **ids;
	size_t n;
	uint8_t *out; /* GetBatch: the answer being built */
	size_t outlen, outcap;
	bool too_big;
	struct cleaner clean;
};

static void clean_more(struct cleaner *);
static void health(struct storesvc *);

/*
 * A write ended.  Health says NOT_SERVING from a failed one (disk full,
 * a read-only file, a lock held too long) until one succeeds again, so
 * that a balancer sends puts elsewhere meanwhile.
 */
static void
wrote(struct storesvc *svc, int status, const char *why)
{
	bool ok = status == STORE_OK;

	/* No connection at all is storesvc_set_up()'s to say. */
	if (status == STORE_EDOWN)
		return;
	if (ok)
		metric_set_now(&svc->m_last_write);
	else
		metric_add(&svc->m_write_failures, 1);
	if (ok == !svc->writes_fail)
		return;
	svc->writes_fail = !ok;
	if (ok)
		lwarn("writes succeed again");
	else
		lwarn("writes fail (%s): health is NOT_SERVING until one "
		      "succeeds",
		    why);
	health(svc);
}

/* ---- requests off the wire ------------------------------------------ */

/*
 * Each length-delimited field 1 of a message, the only field our
 * requests have (repeated string ids, repeated CloudEvent msgs).  Other
 * fields are skipped, as proto3 parsers do with unknown fields.  Calls
 * fn(ctx, index, bytes, len); returns the count, or -1 when the message
 * does not parse or fn refused (then err says why).
 */
static long
each_field1(const uint8_t *p, size_t n,
    int (*fn)(void *, size_t, const uint8_t *, size_t, char *, size_t),
    void *ctx, char *err, size_t errlen)
{
	uint64_t key, v;
	size_t count = 0;
	int r;

	while (n > 0) {
		if ((r = varint_get(p, n, &key)) <= 0 || key >> 3 == 0)
			goto bad;
		p += r;
		n -= (size_t)r;
		switch (key & 7) {
		case 0:
			if ((r = varint_get(p, n, &v)) <= 0)
				goto bad;
			v = 0;
			break;
		case 1:
			v = 8;
			r = 0;
			break;
		case 5:
			v = 4;
			r = 0;
			break;
		case 2:
			if ((r = varint_get(p, n, &v)) <= 0)
				goto bad;
			break;
		default:
			goto bad;
		}
		p += r;
		n -= (size_t)r;
		if (v > n)
			goto bad;
		if (key >> 3 == 1) {
			if ((key & 7) != 2) {
				snprintf(err, errlen,
				    "field 1 has the wrong wire type");
				return -1;
			}
			if (fn != NULL &&
			    fn(ctx, count, p, (size_t)v, err, errlen) < 0)
				return -1;
			count++;
		}
		p += v;
		n -= (size_t)v;
	}
	return (long)count;
bad:
	snprintf(err, errlen, "the request does not parse");
	return -1;
}

static int
take_event(
    void *ctx, size_t i, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct rpc *c = ctx;
	char why[256];
	CloudEvent *ev = ce_unpack(&c->arena, p, n, why, sizeof(why));

	if (ev == NULL) {
		snprintf(err, errlen, "msgs[%zu]: %s", i, why);
		return -1;
	}
	c->events[i] = (struct store_event){ .id = ev->id,
		.type = ev->type,
		.source = ev->source,
		.data = p,
		.len = n };
	return 0;
}

/* proto3 strings are UTF-8; an id with a NUL could not be stored. */
static int
take_id(
    void *ctx, size_t i, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	struct rpc *c = ctx;

	if (memchr(p, '\0', n) != NULL || !utf8_valid((const char *)p, n)) {
		snprintf(err, errlen, "ids[%zu] is not UTF-8 text", i);
		return -1;
	}
	c->ids[i] = arena_strndup(&c->arena, (const char *)p, n);
	return 0;
}

/* ---- calls ---------------------------------------------------------- */

static void
rpc_free(struct rpc *c)
{
	arena_free(&c->arena);
	free(c->body);
	free(c->out);
	free(c);
}

/* requests_total{method,code}: a call of ours has ended with code. */
static void
count_request(struct storesvc *svc, enum method m, int code)
{
	struct req_metric *rm;

	if (code < 0 || code >= NCODES)
		code = GRPC_UNKNOWN;
	rm = &svc->requests[m][code];
	if (rm->m.name == NULL) {
		snprintf(rm->labels, sizeof(rm->labels),
		    "method=\"%s\",code=\"%s\"", method_names[m],
		    grpc_status_name(code));
		rm->m = (struct metric){ .name = "store_requests_total",
			.help = "Calls of store serve's methods, by method "
				"and status",
			.type = METRIC_COUNTER,
			.labels = rm->labels };
		metric_register(&rm->m);
	}
	metric_add(&rm->m, 1);
}

static void
finish(struct rpc *c, int code, const char *msg)
{
	if (!c->ended)
		count_request(c->svc, c->m, code);
	c->ended = true;
	if (c->call != NULL)
		gcall_finish(c->call, code, msg);
}

static void
answer(struct rpc *c, const ProtobufCMessage *m)
{
	count_request(c->svc, c->m, GRPC_OK);
	if (c->call == NULL)
		return;
	gcall_send_msg(c->call, m);
	gcall_finish(c->call, GRPC_OK, NULL);
}

/* The store has answered (the call itself may be over by now). */
static void
stored(struct store_req *r, void *ctx)
{
	struct rpc *c = ctx;
	Awakari__Messages__PutBatchResponse put =
	    AWAKARI__MESSAGES__PUT_BATCH_RESPONSE__INIT;
	Awakari__Messages__DeleteBatchResponse del =
	    AWAKARI__MESSAGES__DELETE_BATCH_RESPONSE__INIT;
	char msg[128];

	c->pending = false;
	c->svc->pending--;
	/* A delete that found nothing may have written nothing either. */
	if (c->m == M_PUT || (c->m == M_DELETE && r->count > 0) ||
	    (c->m == M_DELETE && r->status != STORE_OK))
		wrote(c->svc, r->status, r->err);
	if (r->status != STORE_OK) {
		lwarn("%s: %s", paths[c->m] + 1, r->err);
		finish(c, GRPC_INTERNAL, r->err);
	} else if (c->m == M_PUT) {
		/* Every event is stored now, or was already: all acked. */
		metric_add(&c->svc->m_put, (double)c->n);
		put.ackcount = (uint32_t)c->n;
		answer(c, &put.base);
	} else if (c->m == M_DELETE) {
		metric_add(&c->svc->m_deleted, (double)r->count);
		del.ackcount = (uint32_t)r->count;
		answer(c, &del.base);
	} else if (c->too_big) {
		snprintf(msg, sizeof(msg),
		    "the answer would exceed %zu bytes; ask for fewer ids",
		    c->svc->o.max_answer);
		finish(c, GRPC_RESOURCE_EXHAUSTED, msg);
	} else {
		count_request(c->svc, c->m, GRPC_OK);
		metric_add(&c->svc->m_got, (double)r->count);
		if (c->call != NULL) {
			/* GetBatchResponse: the stored bytes, each as field
			 * 1. */
			gcall_send(c->call, c->out, c->outlen);
			gcall_finish(c->call, GRPC_OK, NULL);
		}
	}
	if (r->status != STORE_OK)
		;
	else if (c->m == M_PUT)
		ltrace("%s: %zu acked", paths[c->m] + 1, c->n);
	else
		ltrace("%s: %llu of %zu %s", paths[c->m] + 1,
		    (unsigned long long)r->count, c->n,
		    c->m == M_GET ? "found" : "deleted");
	if (c->call == NULL)
		rpc_free(c);
}

/* GetBatch: one event found, in request order. */
static void
found(struct store_req *r, const struct store_row *row, void *ctx)
{
	struct rpc *c = ctx;
	uint8_t hdr[1 + VARINT_MAX];
	size_t h, need;

	hdr[0] = 0x0a; /* GetBatchResponse.msgs, field 1, length-delimited */
	h = 1 + varint_put(hdr + 1, row->len);
	need = c->outlen + h + row->len;
	if (c->too_big || need > c->svc->o.max_answer) {
		c->too_big = true;
		return;
	}
	if (need > c->outcap) {
		size_t cap = c->outcap ? c->outcap : 4096;

		while (cap < need)
			cap *= 2;
		if ((c->out = realloc(c->out, cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		c->outcap = cap;
	}
	memcpy(c->out + c->outlen, hdr, h);
	memcpy(c->out + c->outlen + h, row->data, row->len);
	c->outlen = need;
}

static void
submit(struct rpc *c)
{
	c->req.done = stored;
	c->req.ctx = c;
	c->pending = true;
	c->svc->pending++;
	store_submit(c->svc->o.store, &c->req);
}

static void
rpc_clean_done(struct cleaner *k, int status, const char *why)
{
	struct rpc *c = (struct rpc *)((char *)k - offsetof(struct rpc, clean));
	Awakari__Messages__Cleaner__CleanResponse resp =
	    AWAKARI__MESSAGES__CLEANER__CLEAN_RESPONSE__INIT;

	c->pending = false;
	c->svc->pending--;
	if (status != STORE_OK)
		wrote(c->svc, status, why);
	if (status != STORE_OK) {
		lwarn("Clean: %s", why);
		finish(c, GRPC_INTERNAL, why);
	} else {
		linfo(
		    "Clean: removed %llu events", (unsigned long long)k->total);
		resp.count = k->total;
		answer(c, &resp.base);
	}
	if (c->call == NULL)
		rpc_free(c);
}

/* The whole request is in: parse it and hand it to the store. */
static void
run(struct rpc *c)
{
	char err[300];
	long n;

	switch (c->m) {
	case M_PUT:
		n = each_field1(c->body, c->len, NULL, NULL, err, sizeof(err));
		if (n < 0)
			break;
		c->events = arena_zalloc(
		    &c->arena, ((size_t)n + 1) * sizeof(*c->events));
		c->n = (size_t)n;
		if (each_field1(
			c->body, c->len, take_event, c, err, sizeof(err)) < 0) {
			n = -1;
			break;
		}
		c->req = (struct store_req){
			.op = STORE_PUT, .events = c->events, .nevents = c->n
		};
		break;
	case M_GET:
	case M_DELETE:
		n = each_field1(c->body, c->len, NULL, NULL, err, sizeof(err));
		if (n < 0)
			break;
		c->ids = arena_zalloc(
		    &c->arena, ((size_t)n + 1) * sizeof(*c->ids));
		c->n = (size_t)n;
		if (each_field1(c->body, c->len, take_id, c, err, sizeof(err)) <
		    0) {
			n = -1;
			break;
		}
		c->req = (struct store_req){ .op = c->m == M_GET ? STORE_GET :
								   STORE_DELETE,
			.ids = c->ids,
			.nids = c->n,
			.on_row = found };
		break;
	case M_CLEAN: {
		/* CleanRequest has no fields; unknown ones are ignored. */
		Awakari__Messages__Cleaner__CleanRequest
		    *req = awakari__messages__cleaner__clean_request__unpack(
			&c->arena.pb, c->len, c->body);

		if (req == NULL) {
			snprintf(
			    err, sizeof(err), "the request does not parse");
			n = -1;
			break;
		}
		c->clean = (struct cleaner){ .svc = c->svc,
			.done = rpc_clean_done };
		c->pending = true;
		c->svc->pending++;
		clean_more(&c->clean);
		return;
	}
	default:
		n = -1;
	}
	if (n < 0) {
		finish(c, GRPC_INVALID_ARGUMENT, err);
		return;
	}
	if (c->n == 0) {
		/* Nothing to do: answer at once, without the store. */
		struct store_req none = { .status = STORE_OK };

		c->pending = true;
		c->svc->pending++;
		stored(&none, c);
		return;
	}
	submit(c);
}

static int
rpc_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct rpc *c = ctx;

	if (c->got) {
		finish(c, GRPC_UNIMPLEMENTED, "more than one request");
		return 0;
	}
	c->got = true;
	if ((c->body = malloc(n + 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	memcpy(c->body, p, n);
	c->len = n;
	return 0;
}

/* The request stream has ended: a unary call has its one message. */
static void
rpc_half_close(struct gcall *call, void *ctx)
{
	struct rpc *c = ctx;

	if (c->ended)
		return;
	if (!c->got) {
		finish(c, GRPC_UNIMPLEMENTED, "no request");
		return;
	}
	if (!c->pending)
		run(c);
}

/* The call is over; what the store is doing for it goes on. */
static void
rpc_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct rpc *c = ctx;

	c->call = NULL;
	if (!c->pending)
		rpc_free(c);
}

static const struct gcall_handlers rpc_handlers = {
	.on_message = rpc_message,
	.on_half_close = rpc_half_close,
	.on_close = rpc_close,
};

static void
sha256(const char *s, unsigned char md[32])
{
	if (!EVP_Digest(s, strlen(s), md, NULL, EVP_sha256(), NULL))
		die(EXIT_INTERNAL, "SHA-256 failed");
}

/*
 * RFC 6750 section 2.1: "authorization: Bearer TOKEN".  The tokens are
 * compared as SHA-256 digests with CRYPTO_memcmp, so the time taken
 * says nothing about how much of a guess was right, not even its
 * length.  Returns NULL when the call may go on, else why not.
 */
static const char *
unauthorized(struct gcall *call, void *ctx)
{
	struct storesvc *svc = ctx;
	unsigned char got[32], want[32];
	const char *token, *h, *why = NULL;
	char err[300];

	if ((token = secret_get(svc->o.token, err, sizeof(err))) == NULL) {
		lwarn("%s", err);
		return "the server has no token to check against";
	}
	if ((h = gcall_header(call, "authorization")) == NULL)
		why = "missing bearer token";
	else if (strncasecmp(h, "Bearer ", 7) != 0)
		why = "authorization is not a bearer token";
	if (why == NULL) {
		for (h += 7; *h == ' ';)
			h++;
		sha256(h, got);
		sha256(token, want);
		if (CRYPTO_memcmp(got, want, sizeof(got)) != 0)
			why = "invalid bearer token";
	}
	if (why != NULL)
		linfo("%s: %s", gcall_path(call), why);
	return why;
}

/* A call to one of our methods: its headers are in. */
static void
on_call(struct gcall *call, void *ctx)
{
	struct method_ctx *mc = ctx;
	struct rpc *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	c->svc = mc->svc;
	c->call = call;
	c->m = mc->m;
	arena_init(&c->arena);
	gcall_set_handlers(call, &rpc_handlers, c);
}

/* ---- clean ---------------------------------------------------------- */

static void
clean_step(struct store_req *r, void *ctx)
{
	struct cleaner *k = ctx;

	k->total += r->count;
	metric_add(&k->svc->m_deleted, (double)r->count);
	if (r->status != STORE_OK) {
		k->running = false;
		k->done(k, r->status, r->err);
		return;
	}
	if (r->count < r->limit ||
	    (k->svc->stopping && k == &k->svc->periodic)) {
		k->running = false;
		k->done(k, STORE_OK, NULL);
		return;
	}
	clean_more(k);
}

static void
clean_more(struct cleaner *k)
{
	k->running = true;
	k->req = (struct store_req){ .op = STORE_CLEAN,
		.age_us = k->svc->o.retention_us,
		.limit = STORE_CLEAN_CHUNK,
		.done = clean_step,
		.ctx = k };
	store_submit(k->svc->o.store, &k->req);
}

static void
periodic_done(struct cleaner *k, int status, const char *why)
{
	struct storesvc *svc = k->svc;
	char age[DURATION_MAX];

	duration_string(age, svc->o.retention_us * 1000);
	if (status != STORE_OK)
		wrote(svc, status, why);
	if (status != STORE_OK)
		lwarn("periodic clean: %s", why);
	else if (k->total > 0)
		linfo("periodic clean: removed %llu events older than %s",
		    (unsigned long long)k->total, age);
	if (!svc->stopping)
		loop_timer_in(&svc->clean_timer, svc->o.clean_every_ms);
}

static void
clean_timer(struct loop_timer *t)
{
	struct storesvc *svc = t->ctx;

	if (svc->stopping || svc->periodic.running)
		return;
	svc->periodic.total = 0;
	clean_more(&svc->periodic);
}

/* ---- the service ---------------------------------------------------- */

struct storesvc *
storesvc_new(struct gserver *server, const struct storesvc_opts *o)
{
	struct storesvc *svc = calloc(1, sizeof(*svc));
	struct gserver_method gm;
	int i;

	if (svc == NULL)
		die(EXIT_INTERNAL, "out of memory");
	svc->server = server;
	svc->o = *o;
	for (i = 0; i < M_COUNT; i++) {
		svc->mctx[i] = (struct method_ctx){ .svc = svc,
			.m = (enum method)i };
		gm.path = paths[i];
		gm.on_call = on_call;
		gm.ctx = &svc->mctx[i];
		gserver_add(server, &gm);
	}
	if (o->token != NULL)
		gserver_set_auth(server, unauthorized, svc);
	svc->m_put = (struct metric){ .name = "store_events_put_total",
		.help = "Events PutBatch acknowledged (stored, or stored "
			"before)",
		.type = METRIC_COUNTER };
	svc->m_got = (struct metric){ .name = "store_events_got_total",
		.help = "Events GetBatch answered with",
		.type = METRIC_COUNTER };
	svc->m_deleted = (struct metric){ .name = "store_events_deleted_total",
		.help = "Events removed by DeleteBatch and by clean",
		.type = METRIC_COUNTER };
	svc->m_write_failures = (struct metric){
		.name = "store_write_failures_total",
		.help = "Writes (put, delete, clean) the database failed",
		.type = METRIC_COUNTER
	};
	svc->m_last_write = (struct metric){
		.name = "store_last_write_timestamp_seconds",
		.help = "When a write last succeeded, or 0",
		.type = METRIC_GAUGE
	};
	metric_register(&svc->m_put);
	metric_register(&svc->m_got);
	metric_register(&svc->m_deleted);
	metric_register(&svc->m_write_failures);
	metric_register(&svc->m_last_write);
	svc->periodic = (struct cleaner){ .svc = svc, .done = periodic_done };
	loop_timer_init(&svc->clean_timer, clean_timer, svc);
	if (o->clean_every_ms > 0)
		loop_timer_in(&svc->clean_timer, o->clean_every_ms);
	storesvc_set_up(svc, store_up(o->store));
	return svc;
}

/* grpc.health.v1: SERVING only while the database is usable. */
void
storesvc_set_up(struct storesvc *svc, bool up)
{
	svc->db_up = up;
	health(svc);
}

static void
health(struct storesvc *svc)
{
	int st = svc->db_up && !svc->writes_fail ? 1 : 2;
	size_t i;

	if (svc->stopping)
		return; /* NOT_SERVING until the end */
	gserver_set_health(svc->server, "", st);
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		gserver_set_health(svc->server, services[i], st);
}

/* Shutting down: no new periodic clean; a running one stops soon. */
void
storesvc_stop(struct storesvc *svc)
{
	svc->stopping = true;
	loop_timer_stop(&svc->clean_timer);
}

bool
storesvc_serving(const struct storesvc *svc)
{
	return svc->db_up && !svc->writes_fail && !svc->stopping;
}

/* No store request of ours is outstanding. */
bool
storesvc_idle(const struct storesvc *svc)
{
	return svc->pending == 0 && !svc->periodic.running;
}

void
storesvc_free(struct storesvc *svc)
{
	int m, code;

	if (svc == NULL)
		return;
	loop_timer_stop(&svc->clean_timer);
	metric_unregister(&svc->m_put);
	metric_unregister(&svc->m_got);
	metric_unregister(&svc->m_deleted);
	metric_unregister(&svc->m_write_failures);
	metric_unregister(&svc->m_last_write);
	for (m = 0; m < M_COUNT; m++)
		for (code = 0; code < NCODES; code++)
			if (svc->requests[m][code].m.name != NULL)
				metric_unregister(&svc->requests[m][code].m);
	free(svc);
}
