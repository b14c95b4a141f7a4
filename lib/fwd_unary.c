/*
 * One unary call per event (the demo and unary targets): up to the
 * window of calls at once on one connection, each event delivered when
 * its call ends OK.  A failed call puts its event back in line; calls
 * are re-tried together after the backoff, so a server that is down
 * gets one attempt per backoff step, not one per event.  The server
 * may see events in another order than the input; --window 1 keeps it.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "errf.h"
#include "exitcode.h"
#include "fwd_targets.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "log.h"
#include "pbtypes.h"

struct ucall {
	struct ucall *prev, *next;
	struct unary *u;
	struct gcall *call;
	struct fwd_ev *ev;
};

struct unary {
	struct fwd *f;
	struct unary_spec spec;
	struct fwd_ev *qhead, *qtail; /* waiting to be sent, input order */
	struct ucall *calls; /* in flight */
	size_t ncalls;
	struct retry retry;
	bool blocked; /* until the retry timer fires */
};

static void pump(struct unary *);

/* Back in line, in input order (failed calls come back in any order). */
static void
requeue(struct unary *u, struct fwd_ev *ev)
{
	struct fwd_ev **pp = &u->qhead;

	while (*pp != NULL && (*pp)->recno < ev->recno)
		pp = &(*pp)->link;
	ev->link = *pp;
	*pp = ev;
	if (ev->link == NULL)
		u->qtail = ev;
}

static void
enqueue(struct unary *u, struct fwd_ev *ev)
{
	ev->link = NULL;
	if (u->qtail != NULL)
		u->qtail->link = ev;
	else
		u->qhead = ev;
	u->qtail = ev;
}

static struct fwd_ev *
dequeue(struct unary *u)
{
	struct fwd_ev *ev = u->qhead;

	if (ev != NULL && (u->qhead = ev->link) == NULL)
		u->qtail = NULL;
	return ev;
}

static void
ucall_free(struct unary *u, struct ucall *uc)
{
	if (uc->prev != NULL)
		uc->prev->next = uc->next;
	else
		u->calls = uc->next;
	if (uc->next != NULL)
		uc->next->prev = uc->prev;
	u->ncalls--;
	free(uc);
}

/* Fires when response headers (or a Trailers-Only status) arrive. */
static void
on_headers(struct gcall *call, void *ctx)
{
	struct ucall *uc = ctx;

	fwd_answered(uc->u->f);
}

/* Fires for the response message; the call is not over yet. */
static int
on_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct ucall *uc = ctx;

	if (uc->u->spec.response != NULL)
		uc->u->spec.response(uc->u->spec.ctx, uc->ev, p, n);
	return 0;
}

/*
 * Fires once when the call is over.  OK: the event is delivered.
 * Otherwise it goes back in line; the first failure while not already
 * waiting schedules the retry (or, when final, ends everything).
 */
static void
on_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct ucall *uc = ctx;
	struct unary *u = uc->u;
	struct fwd_ev *ev = uc->ev;

	ucall_free(u, uc);
	if (st->code == GRPC_OK) {
		retry_progress(&u->retry);
		fwd_delivered(u->f, ev);
		pump(u);
		return;
	}
	requeue(u, ev);
	if (u->blocked && retry_transient(st->code))
		return; /* one retry for them all is scheduled */
	if (fwd_retry(u->f, &u->retry, st, u->spec.path))
		u->blocked = true;
}

static const struct gcall_handlers handlers = {
	.on_headers = on_headers,
	.on_message = on_message,
	.on_close = on_close,
};

static void
pump(struct unary *u)
{
	const struct fwd_opts *o = fwd_opts(u->f);
	struct gstatus st;
	struct fwd_ev *ev;
	struct ucall *uc;

	while (!u->blocked && !fwd_failed(u->f) && (ev = dequeue(u)) != NULL) {
		if (o->dry_run) {
			u->spec.dry(u->spec.ctx, u->f, u->spec.path, ev);
			fwd_delivered(u->f, ev);
			continue;
		}
		if ((uc = calloc(1, sizeof(*uc))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		uc->u = u;
		uc->ev = ev;
		uc->call = fwd_call(
		    u->f, u->spec.path, o->timeout_ms, &handlers, uc, &st);
		if (uc->call == NULL) {
			free(uc);
			requeue(u, ev);
			if (fwd_retry(u->f, &u->retry, &st, u->spec.path))
				u->blocked = true;
			return;
		}
		if ((uc->next = u->calls) != NULL)
			uc->next->prev = uc;
		u->calls = uc;
		u->ncalls++;
		gcall_send(uc->call, ev->req, ev->reqlen);
		gcall_close_send(uc->call);
	}
}

static void
retry_open(struct retry *r, void *ctx)
{
	struct unary *u = ctx;

	u->blocked = false;
	pump(u);
}

static int
take(void *ctx, struct fwd_ev *ev, const CloudEvent *ce, char *err, size_t len)
{
	struct unary *u = ctx;
	int k = u->spec.build(u->spec.ctx, ev, ce, err, len);

	if (k != FWD_TAKEN)
		return k;
	enqueue(u, ev);
	pump(u);
	return FWD_TAKEN;
}

static void
flush(void *ctx)
{
}

static bool
idle(void *ctx)
{
	struct unary *u = ctx;

	return u->qhead == NULL && u->ncalls == 0;
}

static void
abort_all(void *ctx)
{
	struct unary *u = ctx;
	struct ucall *uc;

	retry_cancel(&u->retry);
	while ((uc = u->calls) != NULL) {
		gcall_set_handlers(uc->call, NULL, NULL);
		gcall_cancel(uc->call);
		ucall_free(u, uc);
	}
	u->qhead = u->qtail = NULL;
}

static void
free_unary(void *ctx)
{
	struct unary *u = ctx;

	abort_all(u);
	if (u->spec.free != NULL)
		u->spec.free(u->spec.ctx);
	free(u);
}

static const struct fwd_target target = {
	.name = "unary",
	.take = take,
	.flush = flush,
	.idle = idle,
	.abort = abort_all,
	.free = free_unary,
};

void
fwd_unary_start(struct fwd *f, const struct unary_spec *spec)
{
	struct unary *u = calloc(1, sizeof(*u));

	if (u == NULL)
		die(EXIT_INTERNAL, "out of memory");
	u->f = f;
	u->spec = *spec;
	fwd_retry_init(f, &u->retry, retry_open, u);
	fwd_set_target(f, &target, u);
}

/* ---- unary --method: any method, the event's data as the request ---- */

struct method {
	char *path;
	bool whole;
};

/*
 * The request: the whole record with --whole, else the value of
 * proto_data (the message itself) or the binary data as it is.
 */
static int
method_build(
    void *ctx, struct fwd_ev *ev, const CloudEvent *ce, char *err, size_t len)
{
	struct method *m = ctx;
	const uint8_t *p;
	size_t n;

	if (m->whole) {
		p = ev->body;
		n = ev->len;
	} else if (ce->data_case == CE_DATA_PROTO) {
		p = ce->proto_data->value.data;
		n = ce->proto_data->value.len;
	} else if (ce->data_case == CE_DATA_BINARY) {
		p = ce->binary_data.data;
		n = ce->binary_data.len;
	} else {
		errf(err, len, "event %s has no protobuf or binary data",
		    ce->id);
		return FWD_UNSENDABLE;
	}
	if ((ev->req = malloc(n > 0 ? n : 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	if (n > 0)
		memcpy(ev->req, p, n);
	ev->reqlen = n;
	return FWD_TAKEN;
}

/* --dry-run: the request as text, as far as we know its type. */
static void
method_dry(void *ctx, struct fwd *f, const char *path, const struct fwd_ev *ev)
{
	struct method *m = ctx;
	Google__Protobuf__BytesValue b = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;
	ProtobufCMessage *inner = NULL;
	CloudEvent *ce;

	ce = io__cloudevents__v1__cloud_event__unpack(NULL, ev->len, ev->body);
	if (ce == NULL)
		die(EXIT_INTERNAL, "record %llu does not parse",
		    (unsigned long long)ev->recno);
	if (m->whole) {
		fwd_dry_print(f, path, &ce->base);
	} else if (ce->data_case == CE_DATA_PROTO) {
		inner = pbtype_unpack_any(ce->proto_data, NULL, true);
		fwd_dry_print(
		    f, path, inner != NULL ? inner : &ce->proto_data->base);
		if (inner != NULL)
			protobuf_c_message_free_unpacked(inner, NULL);
	} else {
		b.value.data = ev->req;
		b.value.len = ev->reqlen;
		fwd_dry_print(f, path, &b.base);
	}
	protobuf_c_message_free_unpacked(&ce->base, NULL);
}

static void
method_free(void *ctx)
{
	struct method *m = ctx;

	free(m->path);
	free(m);
}

/* A gRPC method path: "/package.Service/Method". */
static bool
method_path_ok(const char *p)
{
	const char *slash;

	if (p[0] != '/' || (slash = strchr(p + 1, '/')) == NULL ||
	    slash == p + 1 || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL)
		return false;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f)
			return false;
	return true;
}

int
fwd_method_start(
    struct fwd *f, const char *path, bool whole, char *err, size_t errlen)
{
	struct method *m;
	struct unary_spec spec = {
		.build = method_build,
		.dry = method_dry,
		.free = method_free,
	};

	if (!method_path_ok(path))
		return errf(err, errlen,
		    "%s: not a method path like /package.Service/Method", path);
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->path = strdup(path)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	m->whole = whole;
	spec.path = m->path;
	spec.ctx = m;
	fwd_unary_start(f, &spec);
	return 0;
}
