#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axway_watch.h"
#include "ce_map.h"
#include "exitcode.h"
#include "harvester.h"
#include "log.h"
#include "retry.h"
#include "xalloc.h"

#define WATCH_PATH "/central.events.v1.watch/subscribe"
#define STABLE_MS 10000
/* A token that cannot be refreshed is tried again this often. */
#define REFRESH_RETRY_MS 5000

typedef Central__Events__V1__Request Request;

enum phase {
	PH_IDLE, /* between cycles */
	PH_CATCHUP, /* 1: REST only */
	PH_JOINING, /* 3: subscribed; REST again, live events held */
	PH_LIVE, /* 4 */
};

struct held {
	uint8_t *p;
	size_t n;
};

static struct axway_watch {
	struct sub *sub;
	const struct sub_opts *o;
	enum phase phase;
	struct gchannel *ch;
	struct gcall *call;
	struct retry retry;
	struct arena arena; /* the live event being read */
	char source[600];
	char base[600]; /* the harvester's */
	struct harvester_opts hv;
	int64_t last; /* the highest sequence id written, -1: none yet */

	/* REST catch-up */
	struct harvester_req *req;
	struct arena page_arena;
	struct harvester_page page; /* being written out */
	size_t page_next;
	uint64_t page_no;
	int64_t pass_after; /* this pass asks for ids after this one */
	size_t pass_events;

	/* live events held back while joining */
	struct held *held;
	size_t nheld, held0, heldcap;
	bool call_paused;

	/* the token */
	char *token;
	int64_t token_exp;
	struct loop_timer refresh;

	int64_t opened_at;
	bool got_message;
	bool joining; /* the second catch-up has started */
	int fail_code;
	char fail_msg[300];
	uint64_t pings, refreshes, dups;
} W;

static void cycle_failed(int, const char *);
static void fetch(void);
static void open_stream(void);
static void release_held(void);

static bool
set_token(const char *t)
{
	char *copy = xstrndup(t, strlen(t));

	free(W.token);
	W.token = copy;
	W.token_exp = jwt_exp(copy);
	return true;
}

/* End the call ourselves; on_close then reports code and msg. */
static void
fail(int code, const char *msg)
{
	if (W.call == NULL || W.fail_code >= 0)
		return;
	W.fail_code = code;
	snprintf(W.fail_msg, sizeof(W.fail_msg), "%s", msg);
	gcall_cancel(W.call);
}

/* ---- writing events --------------------------------------------------- */

/*
 * Write one event unless its sequence id was written already (*wrote
 * says which, when not NULL).  Returns false when the driver has no
 * more room.
 */
static bool
emit(const Central__Events__V1__Event *e, const uint8_t *raw, size_t len,
    bool *wrote)
{
	int64_t seq = e->metadata != NULL ? e->metadata->sequenceid : -1;
	CloudEvent *ev;

	if (wrote != NULL)
		*wrote = false;
	if (seq >= 0 && seq <= W.last) {
		W.dups++;
		ltrace("sequence id %" PRId64 " already written", seq);
		return true;
	}
	if (wrote != NULL)
		*wrote = true;
	ev = ce_map_axway(&W.sub->arena, e, raw, len, W.source);
	if (seq > W.last)
		W.last = seq;
	return sub_emit(W.sub, ev, NULL, seq);
}

/* ---- 1 and 3: catching up over REST ---------------------------------- */

static void
catchup_done(void)
{
	if (W.phase == PH_CATCHUP) {
		open_stream();
	} else if (W.phase == PH_JOINING) {
		linfo("%s: caught up at sequence id %" PRId64 "; live",
		    W.o->endpoint, W.last);
		W.phase = PH_LIVE;
		release_held();
	}
}

/* Write what is left of the page; then ask for the next one. */
static void
write_page(void)
{
	struct harvester_page *pg = &W.page;
	bool wrote;

	while (W.page_next < pg->n) {
		if (!sub_taking(W.sub) || !sub_room(W.sub))
			return; /* resumed by the driver */
		emit(pg->events[W.page_next], pg->raw[W.page_next].data,
		    pg->raw[W.page_next].len, &wrote);
		W.page_next++;
		W.pass_events += wrote;
	}
	arena_reset(&W.page_arena);
	if (pg->n == W.o->page_size) {
		W.page_no++; /* axway.md 3.3: a full page, so more */
		pg->n = W.page_next = 0;
		fetch();
	} else if (W.pass_events > 0) {
		/* axway.md 3.3: again from the new position until a pass
		 * brings nothing new. */
		pg->n = W.page_next = 0;
		W.pass_after = W.last;
		W.pass_events = 0;
		W.page_no = 1;
		fetch();
	} else {
		pg->n = W.page_next = 0;
		catchup_done();
	}
}

/* Fires once per harvester request, however it ended. */
static void
got_page(const struct harvester_page *pg, void *ctx)
{
	char why[400];

	W.req = NULL;
	if (!sub_taking(W.sub))
		return;
	switch (pg->result) {
	case HARVESTER_OK:
		ltrace("harvester: page %" PRIu64 ": %zu events", W.page_no,
		    pg->n);
		W.page = *pg;
		W.page_next = 0;
		write_page();
		return;
	case HARVESTER_GONE:
		if (pg->max_sequence < 0) {
			cycle_failed(GRPC_UNAVAILABLE,
			    "harvester: 410 without X-Axway-Max-Sequence-Id");
			return;
		}
		/* axway.md 3.2: what was after our id is purged; go on from
		 * the newest one.  The events in between are lost. */
		lwarn("harvester: events after sequence id %" PRId64
		      " were purged; going on after %" PRId64,
		    W.pass_after, pg->max_sequence);
		if (pg->max_sequence > W.last)
			W.last = pg->max_sequence;
		sub_skip_to(W.sub, W.last);
		arena_reset(&W.page_arena);
		catchup_done();
		return;
	case HARVESTER_ERROR:
		snprintf(why, sizeof(why), "harvester: %s", pg->error);
		cycle_failed(pg->status, why);
		return;
	}
}

static void
fetch(void)
{
	char err[300], why[400];

	W.req = harvester_get(&W.hv, W.token, W.pass_after, W.page_no,
	    &W.page_arena, got_page, NULL, err, sizeof(err));
	if (W.req == NULL) {
		snprintf(why, sizeof(why), "harvester: %s", err);
		cycle_failed(GRPC_UNAVAILABLE, why);
	}
}

static void
start_catchup(void)
{
	W.pass_after = W.last;
	W.pass_events = 0;
	W.page_no = 1;
	W.page.n = W.page_next = 0;
	linfo("%s: catching up after sequence id %" PRId64, W.o->endpoint,
	    W.last);
	fetch();
}

/* ---- 2 and 4: the stream ---------------------------------------------- */

static void
send_request(Request *r)
{
	if (W.call != NULL)
		gcall_send_msg(W.call, &r->base);
}

static void
send_token(void)
{
	Request r = CENTRAL__EVENTS__V1__REQUEST__INIT;
	char bearer[8192];

	/* axway.md 2.4: a refresh is selfLink and "Bearer <jwt>", no
	 * requestType (absent means TOKEN_REFRESH), no capabilities. */
	snprintf(bearer, sizeof(bearer), "Bearer %s", W.token);
	r.selflink = (char *)W.o->topic;
	r.token = bearer;
	send_request(&r);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
arm_refresh(void)
{
	int64_t left;

	loop_timer_stop(&W.refresh);
	if (W.token_exp < 0)
		return; /* not a JWT with exp: nothing to go by */
	left = W.token_exp * 1000 - now_ms();
	/* axway.md 2.4: refresh at 4/5 of the remaining lifetime. */
	loop_timer_in(&W.refresh, left > 0 ? left * 4 / 5 : 0);
}

/* Fires at 4/5 of the token's lifetime: fetch a new one, send it. */
static void
refresh_fired(struct loop_timer *t)
{
	struct secret *sec = (struct secret *)&W.o->token;
	char err[300];
	const char *v;
	int64_t now = now_ms(), exp, left;

	if (W.call == NULL)
		return;
	if (secret_refresh(sec, err, sizeof(err)) < 0 ||
	    (v = secret_get(sec, err, sizeof(err))) == NULL) {
		v = NULL;
		lwarn("token refresh: %s", err);
	}
	exp = v != NULL ? jwt_exp(v) : -1;
	if (v != NULL && strcmp(v, W.token) != 0 &&
	    (exp < 0 || exp * 1000 > now)) {
		set_token(v);
		W.refreshes++;
		linfo("%s: token refreshed in the stream", W.o->endpoint);
		send_token();
		arm_refresh();
		return;
	}
	left = W.token_exp * 1000 - now;
	if (W.token_exp >= 0 && left <= 0) {
		lerr("token: expired, and %s gave no new one",
		    sec->kind == SECRET_COMMAND ? "the token command" :
						  "the token source");
		sub_stop(W.sub, GRPC_UNAUTHENTICATED);
		return;
	}
	/* No new token yet: try again, before the old one runs out. */
	loop_timer_in(&W.refresh,
	    left / 2 > REFRESH_RETRY_MS ? REFRESH_RETRY_MS :
		left / 2 < 100		? 100 :
					  left / 2);
}

static void
answer_ping(const char *id)
{
	Request r = CENTRAL__EVENTS__V1__REQUEST__INIT;
	Central__Events__V1__PingResponse pr =
	    CENTRAL__EVENTS__V1__PING_RESPONSE__INIT;

	/* axway.md 2.5: requestType PING_RESPONSE and the id; no selfLink,
	 * no token. */
	pr.id = (char *)id;
	r.requesttype = CENTRAL__EVENTS__V1__REQUEST_TYPE__PING_RESPONSE;
	r.pingresponse = &pr;
	send_request(&r);
	W.pings++;
}

/* Keep a live event for later (joining, or the driver is full). */
static bool
hold(const uint8_t *p, size_t n)
{
	struct held *h;

	if (W.nheld == W.heldcap)
		return false;
	h = &W.held[(W.held0 + W.nheld++) % W.heldcap];
	h->p = xmalloc(n);
	memcpy(h->p, p, n);
	h->n = n;
	return true;
}

static void
drop_held(void)
{
	for (; W.nheld > 0; W.nheld--) {
		free(W.held[W.held0].p);
		W.held0 = (W.held0 + 1) % W.heldcap;
	}
}

/* Write held events while there is room; then let the stream go on. */
static void
release_held(void)
{
	Central__Events__V1__Event *e;
	struct held *h;

	while (W.nheld > 0 && W.phase == PH_LIVE && sub_taking(W.sub) &&
	    sub_room(W.sub)) {
		h = &W.held[W.held0];
		e = central__events__v1__event__unpack(&W.arena.pb, h->n, h->p);
		if (e != NULL)
			emit(e, h->p, h->n, NULL);
		arena_reset(&W.arena);
		free(h->p);
		W.held0 = (W.held0 + 1) % W.heldcap;
		W.nheld--;
	}
	if (W.nheld == 0 && W.call_paused && W.call != NULL &&
	    sub_room(W.sub)) {
		W.call_paused = false;
		gcall_resume(W.call);
	}
}

/*
 * Fires for every Event on the stream.  PINGs are answered at once;
 * other events are held while joining, else written (and the stream
 * paused when the driver is full).
 */
static int
watch_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	Central__Events__V1__Event *e;
	int pause = 0;

	if (!W.got_message) {
		W.got_message = true;
		retry_progress(&W.retry);
	}
	if (W.phase == PH_JOINING && !W.joining && W.req == NULL) {
		W.joining = true;
		start_catchup();
	}
	e = central__events__v1__event__unpack(&W.arena.pb, n, p);
	if (e == NULL) {
		fail(GRPC_INTERNAL, "event does not parse");
	} else if (e->type == CENTRAL__EVENTS__V1__EVENT__TYPE__PING) {
		answer_ping(e->id);
	} else if (!sub_taking(W.sub)) {
		/* dropped: a restart catches up from the state */
	} else if (W.phase != PH_LIVE || W.nheld > 0) {
		if (!hold(p, n))
			fail(GRPC_RESOURCE_EXHAUSTED,
			    "too many live events while catching up");
		else if (W.nheld == W.heldcap)
			pause = GCALL_PAUSE;
	} else if (!emit(e, p, n, NULL)) {
		pause = GCALL_PAUSE;
	}
	arena_reset(&W.arena);
	if (pause)
		W.call_paused = true;
	return pause;
}

static void
watch_headers(struct gcall *call, void *ctx)
{
	linfo("%s: watching %s", W.o->endpoint, W.o->topic);
}

static void
end_cycle(void)
{
	W.call = NULL;
	W.call_paused = false;
	W.phase = PH_IDLE;
	loop_timer_stop(&W.refresh);
	if (W.req != NULL) {
		harvester_cancel(W.req);
		W.req = NULL;
	}
	arena_reset(&W.page_arena);
	W.page.n = W.page_next = 0;
	drop_held();
}

/* The cycle failed: give up for good, or try again after the backoff. */
static void
cycle_failed(int code, const char *why)
{
	char msg[600];

	if (W.call != NULL) {
		fail(code, why); /* watch_close() comes back here */
		return;
	}
	end_cycle();
	snprintf(msg, sizeof(msg), "topic %s: %s", W.o->topic, why);
	sub_failed(W.sub, &W.retry, code, msg);
}

static void
watch_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	int code = W.fail_code >= 0 ? W.fail_code : st->code;
	const char *msg = W.fail_code >= 0 ? W.fail_msg : st->message;
	char why[600];

	W.call = NULL;
	if (W.got_message || loop_now() - W.opened_at >= STABLE_MS)
		retry_progress(&W.retry);
	snprintf(why, sizeof(why), "%s%s%s",
	    code == GRPC_OK ? "the server ended the stream" :
			      grpc_status_name(code),
	    *msg != '\0' ? ": " : "", msg);
	cycle_failed(code, why);
}

static const struct gcall_handlers watch_handlers = {
	.on_headers = watch_headers,
	.on_message = watch_message,
	.on_close = watch_close,
};

static void
open_stream(void)
{
	Request r = CENTRAL__EVENTS__V1__REQUEST__INIT;
	char bearer[8192], *caps[] = { "ping" };
	struct gmd md[2];

	snprintf(bearer, sizeof(bearer), "Bearer %s", W.token);
	/* axway.md 2.2: per-call credentials, sent in cleartext too. */
	md[0] = (struct gmd){ "authorization", bearer, strlen(bearer) };
	md[1] = (struct gmd){ "x-axway-tenant-id", W.o->tenant,
		strlen(W.o->tenant) };
	W.fail_code = -1;
	W.got_message = false;
	W.opened_at = loop_now();
	W.call = gcall_start(W.ch, WATCH_PATH, md, 2, 0, &watch_handlers, NULL);
	if (W.call == NULL) {
		char why[600];

		snprintf(
		    why, sizeof(why), "UNAVAILABLE: %s", gchannel_error(W.ch));
		cycle_failed(GRPC_UNAVAILABLE, why);
		return;
	}
	/* axway.md 2.3: the first message subscribes: the topic, the
	 * token (with "Bearer " inside the string too), ["ping"]. */
	r.selflink = (char *)W.o->topic;
	r.token = bearer;
	r.n_capabilities = 1;
	r.capabilities = caps;
	send_request(&r);
	arm_refresh();
	/* With a position to continue from, the second catch-up waits for
	 * the first message: only then has the server surely taken the
	 * subscription, so every event it will not send live is committed
	 * already and the harvester has it. */
	W.phase = W.last >= 0 ? PH_JOINING : PH_LIVE;
	W.joining = false;
}

/* A new cycle (the retry's open). */
static void
cycle_open(struct retry *r, void *ctx)
{
	const char *t;
	int64_t exp;
	bool fatal;

	if (!sub_taking(W.sub))
		return;
	if ((t = sub_token(W.sub, &exp, &fatal)) == NULL) {
		if (!fatal) {
			lerr("--api axway needs a token");
			sub_stop(W.sub, GRPC_UNAUTHENTICATED);
		}
		return;
	}
	set_token(t);
	if (W.sub->watermark > W.last)
		W.last = W.sub->watermark;
	if (W.last >= 0) {
		W.phase = PH_CATCHUP;
		start_catchup();
	} else {
		open_stream();
	}
}

/* The driver has room again. */
static void
watch_resume(void *ctx)
{
	if (W.page_next < W.page.n)
		write_page();
	else if (W.nheld > 0 || W.call_paused)
		release_held();
}

static void
watch_stop(void *ctx)
{
	retry_cancel(&W.retry);
	linfo("%s: %" PRIu64 " pings answered, %" PRIu64
	      " token refreshes, %" PRIu64 " duplicates skipped",
	    W.o->endpoint, W.pings, W.refreshes, W.dups);
	if (W.call != NULL) {
		gcall_set_handlers(W.call, NULL, NULL);
		gcall_cancel(W.call);
	}
	end_cycle();
	http_cleanup();
	free(W.held);
	free(W.token);
	W.held = NULL;
	W.token = NULL;
}

void
axway_watch_start(struct sub *s)
{
	const struct sub_source src = {
		.resume = watch_resume,
		.stop = watch_stop,
	};
	const struct target *t = &s->o->target;

	W.sub = s;
	W.o = s->o;
	W.last = -1;
	W.fail_code = -1;
	arena_init(&W.arena);
	arena_init(&W.page_arena);
	loop_timer_init(&W.refresh, refresh_fired, NULL);
	snprintf(
	    W.source, sizeof(W.source), "%s%s", s->o->endpoint, s->o->topic);
	/* axway.md 3.1: {scheme}://{host}:{port}/events by default. */
	if (s->o->harvester != NULL)
		snprintf(W.base, sizeof(W.base), "%s", s->o->harvester);
	else
		snprintf(W.base, sizeof(W.base), "%s://%s%s%s:%s/events",
		    t->tls ? "https" : "http",
		    strchr(t->host, ':') != NULL ? "[" : "", t->host,
		    strchr(t->host, ':') != NULL ? "]" : "", t->port);
	W.hv.base = W.base;
	W.hv.topic = s->o->topic;
	W.hv.tenant = s->o->tenant;
	W.hv.page_size = s->o->page_size;
	W.hv.http.cacert = s->o->tls.cacert;
	W.hv.http.insecure = s->o->tls.insecure;
	W.hv.http.proxy = s->o->proxy;
	W.hv.http.connect_to = s->o->connect_to;
	W.heldcap = s->cap;
	W.held = xcalloc(W.heldcap, sizeof(*W.held));
	W.ch = sub_channel(s->o);
	sub_set_source(s, &src);
	retry_init(&W.retry, cycle_open, NULL);
	W.retry.max = s->o->retries;
	retry_now(&W.retry);
}
