/*
 * The bes target: a Bazel Build Event Service, fed the way Bazel's
 * BuildEventServiceUploader feeds it (engflow.md section 3).
 *
 * Each event is a BuildProgressEvent (or a StreamedBuildEvent holding
 * one, or an OrderedBuildEvent) in proto_data.  Its stream_id (build,
 * invocation, component) picks the stream; each stream numbers its
 * events from 1 without gaps (bes.c).  Tool events go on one
 * PublishBuildToolEventStream call per stream, pipelined; the stream
 * ends after component_stream_finished, after the lifecycle event that
 * finishes its invocation or build, or at the end of the input.
 *
 * Lifecycle events (invocation attempt started/finished, build
 * enqueued/finished) go to PublishLifecycleEvent with --lifecycle, in
 * input order within their build: one is sent once every earlier
 * event of the build is acknowledged, and later events of the build
 * wait for it, as Bazel publishes BuildEnqueued and
 * InvocationAttemptStarted before the tool stream and the finish events
 * after it.  Without --lifecycle they are not sent (Bazel can be told
 * the same) but still end their streams.
 *
 * An event of any other type (a notification resolve passed on, say)
 * has nothing to go on a BES: the engine passes it over or saves it
 * (--unsendable); one whose build event does not parse is bad input.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bes.h"
#include "engflow/eventstore/v1/build_event.pb-c.h"
#include "engflow/eventstore/v1/eventstore.pb-c.h"
#include "errf.h"
#include "exitcode.h"
#include "fwd_targets.h"
#include "google/devtools/build/v1/publish_build_event.pb-c.h"
#include "log.h"
#include "pbtypes.h"

#define BES_SERVICE "/google.devtools.build.v1.PublishBuildEvent/"
#define STREAM_PATH BES_SERVICE "PublishBuildToolEventStream"
#define LIFECYCLE_PATH BES_SERVICE "PublishLifecycleEvent"
#define PARKED_MAX 10000 /* finished streams remembered, for numbering */

typedef Engflow__Eventstore__V1__BuildProgressEvent BPE;
typedef Engflow__Eventstore__V1__StreamedBuildEvent SBE;
typedef Google__Devtools__Build__V1__BuildEvent BE;
typedef Google__Devtools__Build__V1__OrderedBuildEvent OBE;
typedef Google__Devtools__Build__V1__StreamId SID;
typedef Google__Devtools__Build__V1__PublishBuildToolEventStreamRequest ToolReq;
typedef Google__Devtools__Build__V1__PublishBuildToolEventStreamResponse
    ToolRep;
typedef Google__Devtools__Build__V1__PublishLifecycleEventRequest LifeReq;

/* clang-format off */
#define BE_CASE(x) GOOGLE__DEVTOOLS__BUILD__V1__BUILD_EVENT__EVENT_##x
/* clang-format on */

enum { K_TOOL, K_LAST, K_LIFE };

struct build;

struct bstream {
	struct bstream *hnext; /* hash chain */
	struct bstream *pprev, *pnext; /* parked: finished, oldest first */
	struct bes *b;
	uint64_t h; /* of build_id, invocation_id, component */
	const char *build_id, *invocation_id; /* stored after the struct */
	int component;
	struct bes_stream s;
	struct gcall *call;
	struct loop_timer closing; /* the end of the call after half-close */
	struct retry retry;
	bool retrying; /* the retry timer is set */
	bool finished; /* ended OK after its last event (or lifecycle only) */
	bool parked;
};

/* A build's events in input order, with --lifecycle (see above). */
struct build {
	struct build *hnext;
	struct bes *b;
	char *id;
	uint64_t inflight; /* sent on, not yet delivered */
	bool barrier; /* a lifecycle event is in flight */
	struct fwd_ev *held, *held_tail; /* waiting for the barrier */
	struct gcall *lcall; /* the lifecycle call */
	struct fwd_ev *lev; /* its event */
	struct retry lretry;
	bool lretrying;
};

struct bes {
	struct fwd *f;
	struct bes_opts o;
	bool dry;
	struct bstream **st; /* hash of streams */
	size_t nst, stcap;
	struct bstream *parked, *parked_tail;
	size_t nparked;
	struct build **bd; /* hash of builds (--lifecycle) */
	size_t nbd, bdcap;
};

/* What an input event says, decoded (free with view_free). */
struct view {
	ProtobufCMessage *outer;
	SID *sid;
	BE *be;
	int service_level;
	size_t nkw;
	char **kw;
};

static void dispatch(struct bes *, struct fwd_ev *, const struct view *);
static void ensure_call(struct bstream *);
static void release(struct build *);
static void stream_finished(struct bstream *);

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

static uint64_t
hash(const void *p, size_t n)
{
	const uint8_t *s = p;
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	while (n-- > 0)
		h = (h ^ *s++) * 1099511628211ULL;
	return h;
}

/* ---- input ------------------------------------------------------------ */

static void
view_free(struct view *v)
{
	if (v->outer != NULL)
		protobuf_c_message_free_unpacked(v->outer, NULL);
	v->outer = NULL;
}

/* What an event is to this target (view_of). */
enum { VIEW_OK, VIEW_END, VIEW_OTHER, VIEW_BAD };

/*
 * The build event an Any holds: a BuildProgressEvent (what the event
 * store streams), a StreamedBuildEvent around one (resolve's --whole
 * output), or an OrderedBuildEvent (its number is not kept: every
 * stream is numbered here).  VIEW_END for a StreamedBuildEvent without
 * an event (the end of a replay); VIEW_OTHER for any other type (a
 * notification, say: nothing to deliver); VIEW_BAD when the bytes do
 * not parse as the type says.
 */
static int
view_any(
    const Google__Protobuf__Any *any, struct view *v, char *err, size_t len)
{
	const ProtobufCMessageDescriptor *d = pbtype_by_url(any->type_url);
	BPE *bpe;
	SBE *sbe;
	OBE *obe;

	memset(v, 0, sizeof(*v));
	if (d != &engflow__eventstore__v1__build_progress_event__descriptor &&
	    d != &engflow__eventstore__v1__streamed_build_event__descriptor &&
	    d !=
		&google__devtools__build__v1__ordered_build_event__descriptor) {
		errf(err, len, "%s is not a build event", any->type_url);
		return VIEW_OTHER;
	}
	v->outer = protobuf_c_message_unpack(
	    d, NULL, any->value.len, any->value.data);
	if (v->outer == NULL) {
		errf(err, len, "%s does not parse", any->type_url);
		return VIEW_BAD;
	}
	if (d ==
	    &google__devtools__build__v1__ordered_build_event__descriptor) {
		obe = (OBE *)v->outer;
		v->sid = obe->stream_id;
		v->be = obe->event;
		return VIEW_OK;
	}
	if (d == &engflow__eventstore__v1__streamed_build_event__descriptor) {
		sbe = (SBE *)v->outer;
		if ((bpe = sbe->event) == NULL)
			return VIEW_END;
	} else {
		bpe = (BPE *)v->outer;
	}
	v->sid = bpe->stream_id;
	v->be = bpe->build_event;
	v->service_level = (int)bpe->service_level;
	v->nkw = bpe->n_notification_keywords;
	v->kw = bpe->notification_keywords;
	return VIEW_OK;
}

static int
view_of(const CloudEvent *ce, struct view *v, char *err, size_t len)
{
	int k;

	if (ce->data_case != CE_DATA_PROTO) {
		memset(v, 0, sizeof(*v));
		errf(err, len, "event %s has no protobuf data", ce->id);
		return VIEW_OTHER;
	}
	if ((k = view_any(ce->proto_data, v, err, len)) != VIEW_OK) {
		view_free(v);
		return k;
	}
	if (v->sid == NULL || v->sid->build_id == NULL ||
	    *v->sid->build_id == '\0' || v->be == NULL) {
		view_free(v);
		errf(err, len,
		    "event %s: a build event needs stream_id.build_id and "
		    "build_event",
		    ce->id);
		return VIEW_BAD;
	}
	return VIEW_OK;
}

/* An event held back by its build's barrier, decoded again. */
static void
view_again(const struct fwd_ev *ev, struct view *v)
{
	CloudEvent *ce;
	char err[300];

	ce = io__cloudevents__v1__cloud_event__unpack(NULL, ev->len, ev->body);
	if (ce == NULL || view_of(ce, v, err, sizeof(err)) != VIEW_OK)
		die(EXIT_INTERNAL, "record %llu does not decode again",
		    (unsigned long long)ev->recno);
	protobuf_c_message_free_unpacked(&ce->base, NULL);
}

static int
kind_of(const BE *be)
{
	switch (be->event_case) {
	case BE_CASE(INVOCATION_ATTEMPT_STARTED):
	case BE_CASE(INVOCATION_ATTEMPT_FINISHED):
	case BE_CASE(BUILD_ENQUEUED):
	case BE_CASE(BUILD_FINISHED):
		return K_LIFE;
	case BE_CASE(COMPONENT_STREAM_FINISHED):
		return K_LAST;
	default:
		return K_TOOL;
	}
}

/* ---- streams ----------------------------------------------------------- */

static void
park(struct bstream *st)
{
	struct bes *b = st->b;
	if (st->parked)
		return;
	st->parked = true;
	st->pprev = b->parked_tail;
	st->pnext = NULL;
	if (b->parked_tail != NULL)
		b->parked_tail->pnext = st;
	else
		b->parked = st;
	b->parked_tail = st;
	b->nparked++;
}

/*
 * Forget the oldest finished streams beyond PARKED_MAX (from take(),
 * never while the table is being walked).
 */
static void
evict(struct bes *b)
{
	struct bstream *old, **pp;

	while (b->nparked > PARKED_MAX) {
		old = b->parked;
		if ((b->parked = old->pnext) != NULL)
			b->parked->pprev = NULL;
		else
			b->parked_tail = NULL;
		b->nparked--;
		for (pp = &b->st[old->h & (b->stcap - 1)]; *pp != old;
		     pp = &(*pp)->hnext)
			;
		*pp = old->hnext;
		b->nst--;
		retry_cancel(&old->retry);
		loop_timer_stop(&old->closing);
		bes_free(&old->s);
		free(old);
	}
}

static void
unpark(struct bstream *st)
{
	struct bes *b = st->b;

	if (!st->parked)
		return;
	st->parked = false;
	if (st->pprev != NULL)
		st->pprev->pnext = st->pnext;
	else
		b->parked = st->pnext;
	if (st->pnext != NULL)
		st->pnext->pprev = st->pprev;
	else
		b->parked_tail = st->pprev;
	b->nparked--;
}

static void retry_open(struct retry *, void *);
static void closing_expired(struct loop_timer *);

static uint64_t
key_hash(const char *build, const char *inv, int comp)
{
	char c[16];
	uint64_t h;

	snprintf(c, sizeof(c), "/%d", comp);
	h = hash(build, strlen(build) + 1) ^ 0x9e3779b97f4a7c15ULL;
	h = (h * 31) ^ hash(inv, strlen(inv) + 1);
	return (h * 31) ^ hash(c, strlen(c));
}

/* The stream of a StreamId, made on first use. */
static struct bstream *
stream_get(struct bes *b, const SID *sid)
{
	const char *inv = sid->invocation_id != NULL ? sid->invocation_id : "";
	int comp = (int)sid->component;
	uint64_t h = key_hash(sid->build_id, inv, comp);
	size_t bl = strlen(sid->build_id), il = strlen(inv), i, cap;
	struct bstream *st, **tab, *next;

	if (b->stcap > 0)
		for (st = b->st[h & (b->stcap - 1)]; st != NULL; st = st->hnext)
			if (st->h == h && st->component == comp &&
			    strcmp(st->build_id, sid->build_id) == 0 &&
			    strcmp(st->invocation_id, inv) == 0)
				return st;
	if (b->nst + 1 > b->stcap) {
		cap = b->stcap > 0 ? 2 * b->stcap : 64;
		tab = xcalloc(cap, sizeof(*tab));
		for (i = 0; i < b->stcap; i++)
			for (st = b->st[i]; st != NULL; st = next) {
				next = st->hnext;
				st->hnext = tab[st->h & (cap - 1)];
				tab[st->h & (cap - 1)] = st;
			}
		free(b->st);
		b->st = tab;
		b->stcap = cap;
	}
	st = xcalloc(1, sizeof(*st) + bl + il + 2);
	st->b = b;
	st->h = h;
	st->build_id = memcpy((char *)(st + 1), sid->build_id, bl + 1);
	st->invocation_id = memcpy((char *)(st + 1) + bl + 1, inv, il + 1);
	st->component = comp;
	bes_init(&st->s);
	loop_timer_init(&st->closing, closing_expired, st);
	fwd_retry_init(b->f, &st->retry, retry_open, st);
	st->hnext = b->st[h & (b->stcap - 1)];
	b->st[h & (b->stcap - 1)] = st;
	b->nst++;
	return st;
}

/* "stream BUILD/INVOCATION/COMPONENT" for diagnostics. */
static void
stream_name(const struct bstream *st, char *buf, size_t len)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &google__devtools__build__v1__stream_id__build_component__descriptor,
	    st->component);
	char num[16];

	snprintf(num, sizeof(num), "%d", st->component);
	snprintf(buf, len, "stream %s/%s/%s", st->build_id,
	    *st->invocation_id != '\0' ? st->invocation_id : "-",
	    v != NULL ? v->name : num);
}

static void st_close(struct gcall *, const struct gstatus *, void *);

/*
 * engflow.md 3.2: half-close after the last event; the server then ends
 * the call.  One that does not within --timeout (bazel#13689 hangs on
 * such a server) is given up on: with everything acked the stream is
 * done anyway, else it is retried.
 */
static void
half_close(struct bstream *st)
{
	gcall_close_send(st->call);
	st->s.half_closed = true;
	loop_timer_in(&st->closing, fwd_opts(st->b->f)->timeout_ms);
}

static void
closing_expired(struct loop_timer *t)
{
	struct bstream *st = t->ctx;
	struct gcall *call = st->call;
	struct gstatus s = { GRPC_DEADLINE_EXCEEDED,
		"no status from the server after the half-close" };

	gcall_set_handlers(call, NULL, NULL);
	gcall_cancel(call);
	st_close(call, &s, st);
}

/* Nothing more comes for this stream: half-close after what is queued. */
static void
stream_end(struct bstream *st)
{
	if (st->finished || st->s.last)
		return;
	st->s.last = true;
	if (st->call != NULL) {
		if (bes_want_half_close(&st->s))
			half_close(st);
	} else if (bes_unacked(&st->s) == 0 && !st->retrying) {
		stream_finished(st);
	}
}

static void
stream_finished(struct bstream *st)
{
	char name[1400];

	if (logging(LOG_INFO)) {
		stream_name(st, name, sizeof(name));
		linfo("%s: finished at %lld", name,
		    (long long)st->s.next_seq - 1);
	}
	st->finished = true;
	retry_cancel(&st->retry);
	st->retrying = false;
	bes_free(&st->s);
	park(st);
	fwd_maybe_done(st->b->f);
}

/*
 * The lifecycle event that ends an invocation attempt ends the tool
 * streams of that invocation; BuildFinished ends all of its build.
 */
static void
end_streams_of(struct bes *b, const struct view *v)
{
	const char *inv = v->sid->invocation_id;
	struct bstream *st;
	size_t i;

	if (v->be->event_case != BE_CASE(INVOCATION_ATTEMPT_FINISHED) &&
	    v->be->event_case != BE_CASE(BUILD_FINISHED))
		return;
	for (i = 0; i < b->stcap; i++)
		for (st = b->st[i]; st != NULL; st = st->hnext)
			if (!st->finished &&
			    strcmp(st->build_id, v->sid->build_id) == 0 &&
			    (v->be->event_case == BE_CASE(BUILD_FINISHED) ||
				(inv != NULL &&
				    strcmp(st->invocation_id, inv) == 0)))
				stream_end(st);
}

/* ---- the tool event stream call ------------------------------------- */

static void
pump(struct bstream *st)
{
	struct fwd_ev *ev;
	int64_t seq;

	while ((ev = bes_next(&st->s, &seq)) != NULL)
		gcall_send(st->call, ev->req, ev->reqlen);
	if (bes_want_half_close(&st->s))
		half_close(st);
}

static void delivered(struct bes *, struct fwd_ev *);

/* Fires when the server's response headers (or Trailers-Only) arrive. */
static void
st_headers(struct gcall *call, void *ctx)
{
	struct bstream *st = ctx;

	fwd_answered(st->b->f);
}

/*
 * Fires for each ack.  engflow.md 3.2: it must be for the oldest
 * unacked event; anything else ends everything FAILED_PRECONDITION,
 * as Bazel does.  An ack is progress: the next failure starts the
 * backoff afresh (Bazel resets its attempt count then too).
 */
static int
st_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct bstream *st = ctx;
	char err[300], name[1400];
	struct fwd_ev *ev;
	ToolRep *r;

	r = google__devtools__build__v1__publish_build_tool_event_stream_response__unpack(
	    NULL, n, p);
	if (r == NULL) {
		stream_name(st, name, sizeof(name));
		fwd_fail(
		    st->b->f, GRPC_INTERNAL, "%s: an ack does not parse", name);
		return 0;
	}
	ev = bes_ack(&st->s, r->sequence_number, err, sizeof(err));
	protobuf_c_message_free_unpacked(&r->base, NULL);
	if (ev == NULL) {
		stream_name(st, name, sizeof(name));
		fwd_fail(
		    st->b->f, GRPC_FAILED_PRECONDITION, "%s: %s", name, err);
		return 0;
	}
	retry_progress(&st->retry);
	delivered(st->b, ev);
	return 0;
}

/* Fires once when the stream's call is over (bes_end decides what next). */
static void
st_close(struct gcall *call, const struct gstatus *st_, void *ctx)
{
	struct bstream *st = ctx;
	struct bes *b = st->b;
	struct gstatus s = *st_;
	char err[300], name[1400], msg[1600];

	st->call = NULL;
	loop_timer_stop(&st->closing);
	if (fwd_failed(b->f))
		return;
	stream_name(st, name, sizeof(name));
	switch (bes_end(&st->s, s.code, err, sizeof(err))) {
	case BES_DONE:
		if (s.code != GRPC_OK)
			lwarn("%s: %s", name, err);
		stream_finished(st);
		break;
	case BES_IDLE:
		ensure_call(st); /* events that came meanwhile */
		break;
	case BES_RETRY:
		snprintf(msg, sizeof(msg), "%s%s%s", s.message,
		    *s.message != '\0' ? "; " : "", err);
		if (s.code == GRPC_OK)
			s.code = GRPC_INTERNAL; /* OK too early: retried */
		s.message = msg;
		if (fwd_retry(b->f, &st->retry, &s, name))
			st->retrying = true;
		break;
	case BES_FAIL:
		fwd_fail(b->f, s.code, "%s: %s: %s%s%s; %s",
		    fwd_opts(b->f)->url, name, grpc_status_name(s.code),
		    *s.message != '\0' ? ": " : "", s.message, err);
		break;
	}
}

static const struct gcall_handlers st_handlers = {
	.on_headers = st_headers,
	.on_message = st_message,
	.on_close = st_close,
};

/* Open a call when there is something unacked and none is open. */
static void
ensure_call(struct bstream *st)
{
	struct gstatus s;
	char name[1400];

	if (st->call != NULL || st->retrying || fwd_failed(st->b->f) ||
	    bes_unacked(&st->s) == 0)
		return;
	st->call = fwd_call(st->b->f, STREAM_PATH, 0, &st_handlers, st, &s);
	if (st->call == NULL) {
		stream_name(st, name, sizeof(name));
		if (fwd_retry(st->b->f, &st->retry, &s, name))
			st->retrying = true;
		return;
	}
	bes_restart(&st->s);
	if (st->retry.opens > 0 && logging(LOG_INFO)) {
		stream_name(st, name, sizeof(name));
		linfo("%s: resending %zu events from %lld", name,
		    bes_unacked(&st->s),
		    bes_unacked(&st->s) > 0 ?
			(long long)st->s.q[st->s.head].seq :
			0LL);
	}
	pump(st);
}

static void
retry_open(struct retry *r, void *ctx)
{
	struct bstream *st = ctx;

	st->retrying = false;
	ensure_call(st);
}

/* ---- lifecycle events --------------------------------------------------- */

static void life_send(struct build *);

static void
life_headers(struct gcall *call, void *ctx)
{
	fwd_answered(((struct build *)ctx)->b->f);
}

/* Fires once when the PublishLifecycleEvent call is over. */
static void
life_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct build *bd = ctx;
	struct fwd_ev *ev = bd->lev;
	char what[400];

	bd->lcall = NULL;
	if (fwd_failed(bd->b->f))
		return;
	if (st->code == GRPC_OK) {
		retry_progress(&bd->lretry);
		bd->lev = NULL;
		bd->barrier = false;
		delivered(bd->b, ev);
		return;
	}
	snprintf(what, sizeof(what), "build %s: lifecycle event", bd->id);
	if (fwd_retry(bd->b->f, &bd->lretry, st, what))
		bd->lretrying = true;
}

static const struct gcall_handlers life_handlers = {
	.on_headers = life_headers,
	.on_close = life_close,
};

static void
life_send(struct build *bd)
{
	struct gstatus s;
	char what[400];

	bd->lcall = fwd_call(bd->b->f, LIFECYCLE_PATH,
	    fwd_opts(bd->b->f)->timeout_ms, &life_handlers, bd, &s);
	if (bd->lcall == NULL) {
		snprintf(
		    what, sizeof(what), "build %s: lifecycle event", bd->id);
		if (fwd_retry(bd->b->f, &bd->lretry, &s, what))
			bd->lretrying = true;
		return;
	}
	gcall_send(bd->lcall, bd->lev->req, bd->lev->reqlen);
	gcall_close_send(bd->lcall);
}

static void
life_retry(struct retry *r, void *ctx)
{
	struct build *bd = ctx;

	bd->lretrying = false;
	life_send(bd);
}

/* ---- builds (--lifecycle) ---------------------------------------------- */

static struct build *
build_get(struct bes *b, const char *id)
{
	uint64_t h = hash(id, strlen(id));
	struct build *bd, **tab, *next;
	size_t i, cap;

	if (b->bdcap > 0)
		for (bd = b->bd[h & (b->bdcap - 1)]; bd != NULL; bd = bd->hnext)
			if (strcmp(bd->id, id) == 0)
				return bd;
	if (b->nbd + 1 > b->bdcap) {
		cap = b->bdcap > 0 ? 2 * b->bdcap : 16;
		tab = xcalloc(cap, sizeof(*tab));
		for (i = 0; i < b->bdcap; i++)
			for (bd = b->bd[i]; bd != NULL; bd = next) {
				next = bd->hnext;
				h = hash(bd->id, strlen(bd->id)) & (cap - 1);
				bd->hnext = tab[h];
				tab[h] = bd;
			}
		free(b->bd);
		b->bd = tab;
		b->bdcap = cap;
		h = hash(id, strlen(id));
	}
	bd = xcalloc(1, sizeof(*bd));
	bd->b = b;
	if ((bd->id = strdup(id)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	fwd_retry_init(b->f, &bd->lretry, life_retry, bd);
	bd->hnext = b->bd[h & (b->bdcap - 1)];
	b->bd[h & (b->bdcap - 1)] = bd;
	b->nbd++;
	return bd;
}

/* A build with nothing in flight or waiting is forgotten. */
static void
build_maybe_free(struct build *bd)
{
	struct bes *b = bd->b;
	struct build **pp;

	if (bd->inflight > 0 || bd->held != NULL || bd->lev != NULL)
		return;
	for (pp = &b->bd[hash(bd->id, strlen(bd->id)) & (b->bdcap - 1)];
	     *pp != bd; pp = &(*pp)->hnext)
		;
	*pp = bd->hnext;
	b->nbd--;
	retry_cancel(&bd->lretry);
	free(bd->id);
	free(bd);
}

/* Send on what waited for the barrier, in input order. */
static void
release(struct build *bd)
{
	struct fwd_ev *ev;
	struct view v;

	while ((ev = bd->held) != NULL && !bd->barrier &&
	    !(ev->kind == K_LIFE && bd->inflight > 0) &&
	    !fwd_failed(bd->b->f)) {
		if ((bd->held = ev->link) == NULL)
			bd->held_tail = NULL;
		view_again(ev, &v);
		dispatch(bd->b, ev, &v);
		view_free(&v);
	}
	build_maybe_free(bd);
}

static void
delivered(struct bes *b, struct fwd_ev *ev)
{
	struct build *bd = ev->owner;

	fwd_delivered(b->f, ev);
	if (bd == NULL)
		return;
	bd->inflight--;
	release(bd);
}

/* ---- requests ------------------------------------------------------------ */

static void
pack(struct fwd_ev *ev, const ProtobufCMessage *m)
{
	ev->reqlen = protobuf_c_message_get_packed_size(m);
	if ((ev->req = malloc(ev->reqlen > 0 ? ev->reqlen : 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	protobuf_c_message_pack(m, ev->req);
}

/*
 * engflow.md 1.9: the event in ordered_build_event; notification
 * keywords only with sequence number 1 (the only time BES reads them).
 */
static void
tool_request(struct bes *b, struct fwd_ev *ev, const struct view *v)
{
	ToolReq r =
	    GOOGLE__DEVTOOLS__BUILD__V1__PUBLISH_BUILD_TOOL_EVENT_STREAM_REQUEST__INIT;
	OBE o = GOOGLE__DEVTOOLS__BUILD__V1__ORDERED_BUILD_EVENT__INIT;

	o.stream_id = v->sid;
	o.sequence_number = ev->seq;
	o.event = v->be;
	r.ordered_build_event = &o;
	if (ev->seq == 1) {
		r.n_notification_keywords = v->nkw;
		r.notification_keywords = v->kw;
	}
	if (b->o.project_id != NULL)
		r.project_id = (char *)b->o.project_id;
	pack(ev, &r.base);
}

/* As Bazel's: the event's service level and keywords, project_id. */
static void
life_request(struct bes *b, struct fwd_ev *ev, const struct view *v)
{
	LifeReq r =
	    GOOGLE__DEVTOOLS__BUILD__V1__PUBLISH_LIFECYCLE_EVENT_REQUEST__INIT;
	OBE o = GOOGLE__DEVTOOLS__BUILD__V1__ORDERED_BUILD_EVENT__INIT;

	o.stream_id = v->sid;
	o.sequence_number = ev->seq;
	o.event = v->be;
	r.build_event = &o;
	r.service_level = v->service_level;
	r.n_notification_keywords = v->nkw;
	r.notification_keywords = v->kw;
	if (b->o.project_id != NULL)
		r.project_id = (char *)b->o.project_id;
	pack(ev, &r.base);
}

static void
dry_print(struct bes *b, bool life, const struct fwd_ev *ev)
{
	const char *path = life ? LIFECYCLE_PATH : STREAM_PATH;
	const ProtobufCMessageDescriptor *d = life ?
	    &google__devtools__build__v1__publish_lifecycle_event_request__descriptor :
	    &google__devtools__build__v1__publish_build_tool_event_stream_request__descriptor;
	ProtobufCMessage *m;

	m = protobuf_c_message_unpack(d, NULL, ev->reqlen, ev->req);
	if (m == NULL)
		die(EXIT_INTERNAL, "a request does not parse");
	fwd_dry_print(b->f, path, m);
	protobuf_c_message_free_unpacked(m, NULL);
}

/* Send an event on its way (its build's barrier, if any, is open). */
static void
dispatch(struct bes *b, struct fwd_ev *ev, const struct view *v)
{
	struct build *bd = ev->owner;
	struct bstream *st;
	char name[1400];
	int64_t seq;

	if (bd != NULL)
		bd->inflight++;
	st = stream_get(b, v->sid);
	if (ev->kind == K_LIFE) {
		end_streams_of(b, v);
		ev->seq = bes_number(&st->s);
		if (!st->finished)
			stream_finished(st); /* numbered, never a call */
		life_request(b, ev, v);
		if (b->dry) {
			dry_print(b, true, ev);
			delivered(b, ev);
			return;
		}
		bd->barrier = true;
		bd->lev = ev;
		life_send(bd);
		return;
	}
	if (st->finished) {
		stream_name(st, name, sizeof(name));
		lwarn("%s: event after the end of the stream; continuing at "
		      "%lld",
		    name, (long long)st->s.next_seq);
		st->finished = false;
		st->s.last = false;
		unpark(st);
	}
	ev->seq = bes_add(&st->s, ev, ev->kind == K_LAST);
	tool_request(b, ev, v);
	if (b->dry) {
		bes_next(&st->s, &seq);
		dry_print(b, false, ev);
		bes_ack(&st->s, seq, NULL, 0);
		delivered(b, ev);
		if (st->s.last)
			stream_finished(st);
		return;
	}
	if (st->call != NULL)
		pump(st);
	else
		ensure_call(st);
}

/* ---- the target ------------------------------------------------------- */

static int
take(void *ctx, struct fwd_ev *ev, const CloudEvent *ce, char *err, size_t len)
{
	struct bes *b = ctx;
	struct build *bd;
	struct view v;

	evict(b);
	switch (view_of(ce, &v, err, len)) {
	case VIEW_END:
		errf(err, len, "a stream's end without an event");
		return FWD_SKIP;
	case VIEW_OTHER:
		return FWD_UNSENDABLE;
	case VIEW_BAD:
		return FWD_BAD;
	}
	ev->kind = kind_of(v.be);
	if (ev->kind == K_LIFE && !b->o.lifecycle) {
		end_streams_of(b, &v);
		view_free(&v);
		errf(err, len, "lifecycle event (no --lifecycle)");
		return FWD_SKIP;
	}
	if (b->o.lifecycle) {
		bd = build_get(b, v.sid->build_id);
		ev->owner = bd;
		if (bd->held != NULL || bd->barrier ||
		    (ev->kind == K_LIFE && bd->inflight > 0)) {
			ev->link = NULL;
			if (bd->held_tail != NULL)
				bd->held_tail->link = ev;
			else
				bd->held = ev;
			bd->held_tail = ev;
			view_free(&v);
			return FWD_TAKEN;
		}
	}
	dispatch(b, ev, &v);
	view_free(&v);
	return FWD_TAKEN;
}

/* The input is over: every stream ends after what it has. */
static void
flush(void *ctx)
{
	struct bes *b = ctx;
	struct bstream *st, *next;
	size_t i;

	for (i = 0; i < b->stcap; i++)
		for (st = b->st[i]; st != NULL; st = next) {
			next = st->hnext; /* stream_end may park it */
			stream_end(st);
		}
}

static bool
idle(void *ctx)
{
	struct bes *b = ctx;

	return b->nparked == b->nst && b->nbd == 0;
}

static void
abort_all(void *ctx)
{
	struct bes *b = ctx;
	struct bstream *st;
	struct build *bd;
	size_t i;

	for (i = 0; i < b->stcap; i++)
		for (st = b->st[i]; st != NULL; st = st->hnext) {
			retry_cancel(&st->retry);
			loop_timer_stop(&st->closing);
			if (st->call != NULL) {
				gcall_set_handlers(st->call, NULL, NULL);
				gcall_cancel(st->call);
				st->call = NULL;
			}
			bes_free(&st->s);
		}
	for (i = 0; i < b->bdcap; i++)
		for (bd = b->bd[i]; bd != NULL; bd = bd->hnext) {
			retry_cancel(&bd->lretry);
			if (bd->lcall != NULL) {
				gcall_set_handlers(bd->lcall, NULL, NULL);
				gcall_cancel(bd->lcall);
				bd->lcall = NULL;
			}
			bd->held = bd->held_tail = bd->lev = NULL;
		}
}

static void
free_bes(void *ctx)
{
	struct bes *b = ctx;
	struct bstream *st, *snext;
	struct build *bd, *bnext;
	size_t i;

	abort_all(b);
	for (i = 0; i < b->stcap; i++)
		for (st = b->st[i]; st != NULL; st = snext) {
			snext = st->hnext;
			free(st);
		}
	for (i = 0; i < b->bdcap; i++)
		for (bd = b->bd[i]; bd != NULL; bd = bnext) {
			bnext = bd->hnext;
			free(bd->id);
			free(bd);
		}
	free(b->st);
	free(b->bd);
	free(b);
}

static const struct fwd_target target = {
	.name = "bes",
	.take = take,
	.flush = flush,
	.idle = idle,
	.abort = abort_all,
	.free = free_bes,
};

void
fwd_bes_start(struct fwd *f, const struct bes_opts *o)
{
	struct bes *b = xcalloc(1, sizeof(*b));

	b->f = f;
	b->o = *o;
	b->dry = fwd_opts(f)->dry_run;
	fwd_set_target(f, &target, b);
}
