#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "axway_watch.h"
#include "base64.h"
#include "ce_map.h"
#include "harvester.h"
#include "log.h"
#include "retry.h"
#include "xalloc.h"

#define WATCH_PATH "/central.events.v1.watch/subscribe"
#define HOLD_MAX_BYTES (8u * 1024 * 1024)

typedef Central__Events__V1__Request Request;
typedef Central__Events__V1__Event Event;

enum phase {
	PH_IDLE, /* between cycles: backoff, or a token on its way */
	PH_JOINING, /* 2: live events held, the harvester fills the gap */
	PH_LIVE, /* 3 */
};

struct held {
	uint8_t *p;
	size_t n;
};

static struct axway_watch {
	struct sub *sub;
	const struct sub_opts *o;
	struct secret *token;
	enum phase phase;
	uint64_t cycle; /* ends so far: a callee may end this one */
	struct gchannel *ch;
	struct gcall *call;
	struct retry retry;
	struct arena arena; /* the live event being read */
	char source[600];
	char base[600]; /* the harvester's */
	struct harvester_opts hv;
	int64_t last; /* the highest sequence id written, -1: none yet */
	struct secret_wait open_wait; /* a fresh token before the stream */

	/* the harvester */
	struct harvester_req *req;
	struct secret_wait fetch_wait; /* a fresh token before a request */
	struct arena page_arena;
	struct harvester_page page; /* being written out */
	size_t page_next;
	uint64_t page_no;
	int64_t pass_after; /* this pass asks for ids after this one */
	bool page_confirmed; /* the page was asked for once confirmed */
	uint64_t page_epoch; /* ... and after this many hold drops */
	bool pass_wait; /* a pass ended unproven: the next message */

	/* the stream */
	bool got_message, confirmed; /* the server has the subscription */
	int64_t live_first; /* the first held live sequence id, or -1 */
	struct held *held;
	size_t nheld, held0, heldcap, held_bytes;
	uint64_t epoch; /* times the hold was full and let go */

	/* the token on the stream */
	char *sent; /* the last one sent (wiped when freed) */
	struct loop_timer expiry; /* when it expires */

	int fail_code;
	char fail_msg[300];
	uint64_t pings, refreshes, dups, dropped, requests;
} W;

static void cycle_failed(int, const char *);
static void fetch(void);
static void go_live(void);
static void release_held(void);
static void start_pass(void);

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

static int64_t
seq_of(const Event *e)
{
	return e->metadata != NULL ? e->metadata->sequenceid : -1;
}

/* ---- writing events --------------------------------------------------- */

/*
 * Write one event unless its sequence id was written already (*wrote
 * says which, when not NULL).  May end the cycle (a --count reached):
 * callers check W.cycle.
 */
static void
emit(const Event *e, const uint8_t *raw, size_t len, bool *wrote)
{
	int64_t seq = seq_of(e);
	CloudEvent *ev;

	if (wrote != NULL)
		*wrote = false;
	if (seq >= 0 && seq <= W.last) {
		W.dups++;
		ltrace("sequence id %" PRId64 " already written", seq);
		return;
	}
	if (wrote != NULL)
		*wrote = true;
	ev = ce_map_axway(&W.sub->arena, e, raw, len, W.source);
	if (seq > W.last)
		W.last = seq;
	sub_emit(W.sub, ev, NULL, seq);
}

/* ---- the harvester: filling the gap ----------------------------------- */

/* Write what is left of the page, up to the first live sequence id. */
static void
write_page(void)
{
	struct harvester_page *pg = &W.page;
	uint64_t cycle = W.cycle;
	bool wrote, news = false;
	size_t n;

	while (W.page_next < pg->n) {
		if (W.live_first >= 0 &&
		    seq_of(pg->events[W.page_next]) >= W.live_first) {
			go_live(); /* the held events take it from here */
			return;
		}
		if (!sub_taking(W.sub) || !sub_room(W.sub))
			return; /* resumed by the driver */
		emit(pg->events[W.page_next], pg->raw[W.page_next].data,
		    pg->raw[W.page_next].len, &wrote);
		if (W.cycle != cycle)
			return;
		W.page_next++;
		if (wrote && !news) {
			news = true;
			retry_progress(&W.retry); /* it delivered */
		}
		if (W.live_first >= 0 && W.last + 1 == W.live_first) {
			go_live(); /* nothing can lie in between */
			return;
		}
	}
	n = pg->n;
	arena_reset(&W.page_arena);
	pg->n = W.page_next = 0;
	if (W.live_first >= 0 && W.last + 1 >= W.live_first) {
		go_live(); /* nothing can lie in between */
	} else if (n == W.o->page_size) {
		W.page_no++; /* axway.md 3.3: a full page, so more */
		fetch();
	} else if (W.page_confirmed && W.page_epoch == W.epoch) {
		/* The pass has everything committed until its last page was
		 * asked for; the server had the subscription then, so all
		 * later events come live (held, none let go since). */
		go_live();
	} else if (W.confirmed) {
		start_pass(); /* asked too early: again, now proven */
	} else {
		W.pass_wait = true;
	}
}

/* Fires once per harvester request, however it ended. */
static void
got_page(const struct harvester_page *pg, void *ctx)
{
	uint64_t cycle = W.cycle;
	char why[400];

	W.req = NULL;
	if (pg->http_status != 0)
		sub_answered(W.sub);
	if (!sub_taking(W.sub) || W.phase != PH_JOINING || W.fail_code >= 0)
		return;
	switch (pg->result) {
	case HARVESTER_OK:
		ltrace("harvester: page %" PRIu64 " after %" PRId64
		       ": %zu events",
		    W.page_no, W.pass_after, pg->n);
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
		if (pg->max_sequence <= W.pass_after) {
			snprintf(why, sizeof(why),
			    "harvester: 410 after sequence id %" PRId64
			    ", but X-Axway-Max-Sequence-Id is %" PRId64,
			    W.pass_after, pg->max_sequence);
			cycle_failed(GRPC_UNAVAILABLE, why);
			return;
		}
		/* axway.md 3.2: what was after our id is purged; go on from
		 * the newest one.  The events in between are lost. */
		lwarn("harvester: events after sequence id %" PRId64
		      " were purged; going on after %" PRId64,
		    W.pass_after, pg->max_sequence);
		arena_reset(&W.page_arena);
		if (pg->max_sequence > W.last)
			W.last = pg->max_sequence;
		sub_skip_to(W.sub, W.last);
		if (W.cycle != cycle || W.phase != PH_JOINING)
			return;
		if (W.live_first >= 0 && W.last + 1 >= W.live_first)
			go_live();
		else
			start_pass();
		return;
	case HARVESTER_ERROR:
		snprintf(why, sizeof(why), "harvester: %s", pg->error);
		cycle_failed(pg->status, why);
		return;
	}
}

/* Ask for the page (fetch() once the token is fresh enough). */
static void
fetch_now(void *ctx)
{
	char err[300], why[400];
	const char *token;
	bool fatal;

	if (W.phase != PH_JOINING || W.req != NULL)
		return;
	if ((token = sub_token(W.sub, &fatal)) == NULL)
		return; /* said why, and stopping */
	W.page_confirmed = W.confirmed;
	W.page_epoch = W.epoch;
	W.requests++;
	W.req = harvester_get(&W.hv, token, W.pass_after, W.page_no,
	    &W.page_arena, got_page, NULL, err, sizeof(err));
	if (W.req == NULL) {
		snprintf(why, sizeof(why), "harvester: %s", err);
		cycle_failed(GRPC_UNAVAILABLE, why);
	}
}

static void
fetch(void)
{
	if (sub_token_ready(W.sub, &W.fetch_wait))
		fetch_now(NULL);
}

/* A pass: the pages after the last sequence id written. */
static void
start_pass(void)
{
	W.pass_after = W.last;
	W.page_no = 1;
	W.pass_wait = false;
	fetch();
}

/* ---- the stream ------------------------------------------------------- */

static void
send_request(Request *r)
{
	if (W.call != NULL && W.fail_code < 0)
		gcall_send_msg(W.call, &r->base);
}

/* Remember the token now on the stream; watch for its expiry. */
static void
sent_token(const char *v)
{
	int64_t exp = jwt_exp(v);
	struct timespec ts;
	int64_t left;

	if (W.sent != NULL) {
		explicit_bzero(W.sent, strlen(W.sent));
		free(W.sent);
	}
	W.sent = xstrndup(v, strlen(v));
	loop_timer_stop(&W.expiry);
	if (exp < 0)
		return; /* no JWT with exp: nothing to go by */
	clock_gettime(CLOCK_REALTIME, &ts);
	left = exp * 1000 - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	loop_timer_in(&W.expiry, left > 0 ? left : 0);
}

/* axway.md 2.4: a refresh is selfLink and "Bearer <jwt>", no
 * requestType (absent means TOKEN_REFRESH), no capabilities. */
static void
send_token(const char *v)
{
	Request r = CENTRAL__EVENTS__V1__REQUEST__INIT;
	char bearer[8192];

	snprintf(bearer, sizeof(bearer), "Bearer %s", v);
	r.selflink = (char *)W.o->topic;
	r.token = bearer;
	send_request(&r);
	explicit_bzero(bearer, sizeof(bearer));
	sent_token(v);
	W.refreshes++;
	linfo("%s: token refreshed in the stream", W.o->endpoint);
}

/* Fires after each new token (secret.h): it goes on the stream. */
static void
token_changed(void *ctx)
{
	char err[300];
	const char *v;

	if (W.call == NULL || W.fail_code >= 0 ||
	    (v = secret_get(W.token, err, sizeof(err))) == NULL ||
	    (W.sent != NULL && strcmp(v, W.sent) == 0))
		return;
	if (jwt_exp(v) >= 0 && jwt_exp(v) <= (int64_t)time(NULL))
		return; /* no use: the expiry timer decides */
	send_token(v);
}

/* Fires when the token on the stream expires with none newer sent. */
static void
expiry_fired(struct loop_timer *t)
{
	uint64_t sent = W.refreshes;
	char msg[300];

	token_changed(NULL); /* one may have come just now */
	if (W.refreshes != sent || W.call == NULL)
		return;
	snprintf(msg, sizeof(msg),
	    "the token on the stream expired, and %s gave no new one",
	    W.token->kind == SECRET_COMMAND ? "the token command" :
					      "the token source");
	cycle_failed(GRPC_UNAUTHENTICATED, msg);
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

static void
drop_held(void)
{
	for (; W.nheld > 0; W.nheld--) {
		free(W.held[W.held0].p);
		W.held0 = (W.held0 + 1) % W.heldcap;
	}
	W.held_bytes = 0;
}

/*
 * Keep a live event for later.  A full hold is let go: the harvester
 * has those events (each was committed before it was sent), so the
 * gap is filled again from there up to the next live one.
 */
static void
hold(int64_t seq, const uint8_t *p, size_t n)
{
	uint64_t cycle = W.cycle;
	struct held *h;

	if (W.nheld == W.heldcap || W.held_bytes + n > HOLD_MAX_BYTES) {
		linfo("%s: %zu live events held, no more room: fetching "
		      "them again from the harvester",
		    W.o->endpoint, W.nheld);
		W.dropped += W.nheld;
		drop_held();
		W.epoch++;
		W.live_first = -1;
		if (W.phase == PH_LIVE) {
			W.phase = PH_JOINING;
			if (W.req == NULL && W.page_next >= W.page.n)
				start_pass(); /* may end the cycle */
			if (W.cycle != cycle)
				return;
		}
	}
	h = &W.held[(W.held0 + W.nheld++) % W.heldcap];
	h->p = xmalloc(n);
	memcpy(h->p, p, n);
	h->n = n;
	W.held_bytes += n;
	if (W.live_first < 0 && seq >= 0)
		W.live_first = seq;
}

/* Write held events while there is room. */
static void
release_held(void)
{
	uint64_t cycle = W.cycle;
	struct held h;
	Event *e;

	while (W.nheld > 0 && W.phase == PH_LIVE && sub_taking(W.sub) &&
	    sub_room(W.sub)) {
		/* off the ring first: emit() may end the cycle */
		h = W.held[W.held0];
		W.held0 = (W.held0 + 1) % W.heldcap;
		W.nheld--;
		W.held_bytes -= h.n;
		e = central__events__v1__event__unpack(&W.arena.pb, h.n, h.p);
		if (e != NULL)
			emit(e, h.p, h.n, NULL);
		arena_reset(&W.arena);
		free(h.p);
		if (W.cycle != cycle)
			return;
	}
	if (W.nheld == 0)
		W.live_first = -1;
}

/* The gap is filled: write what was held, then the stream. */
static void
go_live(void)
{
	if (W.req != NULL) {
		harvester_cancel(W.req);
		W.req = NULL;
	}
	secret_wait_cancel(W.token, &W.fetch_wait);
	arena_reset(&W.page_arena);
	W.page.n = W.page_next = 0;
	W.pass_wait = false;
	W.phase = PH_LIVE;
	linfo("%s: caught up at sequence id %" PRId64 "; live", W.o->endpoint,
	    W.last);
	release_held();
}

/* A live event: written, held, or skipped as written already. */
static void
live_event(const Event *e, const uint8_t *p, size_t n)
{
	int64_t seq = seq_of(e);

	if (seq >= 0 && seq <= W.last) {
		W.dups++; /* the stream starts a little early */
		return;
	}
	if (W.nheld == 0 && sub_room(W.sub)) {
		if (W.phase == PH_LIVE) {
			emit(e, p, n, NULL);
			return;
		}
		if (seq >= 0 && seq == W.last + 1 && W.page_next >= W.page.n) {
			go_live(); /* it follows on: no gap at all */
			emit(e, p, n, NULL);
			return;
		}
	}
	hold(seq, p, n);
}

/*
 * Fires for every Event on the stream.  PINGs are answered at once;
 * other events are written, held or skipped (live_event).  The stream
 * is never paused (the hold is bounded on its own), so that PINGs are
 * always read and answered.
 */
static int
watch_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	uint64_t cycle = W.cycle;
	Event *e;

	if (W.fail_code >= 0)
		return 0; /* ending: we said why */
	if (!W.got_message) {
		W.got_message = true;
		retry_progress(&W.retry); /* it delivered */
	}
	W.confirmed = true;
	e = central__events__v1__event__unpack(&W.arena.pb, n, p);
	if (e == NULL)
		fail(GRPC_INTERNAL, "event does not parse");
	else if (e->type == CENTRAL__EVENTS__V1__EVENT__TYPE__PING)
		answer_ping(e->id);
	else if (sub_taking(W.sub))
		live_event(e, p, n);
	/* else dropped: a restart catches up from the state */
	arena_reset(&W.arena);
	if (W.cycle == cycle && W.phase == PH_JOINING && W.pass_wait)
		start_pass(); /* now the pass can prove the gap filled */
	return 0;
}

static void
watch_headers(struct gcall *call, void *ctx)
{
	linfo("%s: watching %s", W.o->endpoint, W.o->topic);
}

static void
end_cycle(void)
{
	W.cycle++;
	W.call = NULL;
	W.phase = PH_IDLE;
	loop_timer_stop(&W.expiry);
	secret_wait_cancel(W.token, &W.open_wait);
	secret_wait_cancel(W.token, &W.fetch_wait);
	if (W.req != NULL) {
		harvester_cancel(W.req);
		W.req = NULL;
	}
	arena_reset(&W.page_arena);
	W.page.n = W.page_next = 0;
	W.pass_wait = false;
	drop_held();
	W.live_first = -1;
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
	/* Progress is a message delivered (watch_message), or a server
	 * that ended the stream with OK: an attempt that merely lasted,
	 * on a peer that says nothing, is none (issue 19). */
	if (W.fail_code < 0 && st->code == GRPC_OK)
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

/* Open the stream and subscribe; false when the cycle failed. */
static bool
open_stream(const char *token)
{
	Request r = CENTRAL__EVENTS__V1__REQUEST__INIT;
	char bearer[8192], *caps[] = { "ping" };
	struct gmd md[2 + SUB_MAX_HEADERS];
	size_t i;

	snprintf(bearer, sizeof(bearer), "Bearer %s", token);
	/* axway.md 2.2: per-call credentials, sent in cleartext too. */
	md[0] = (struct gmd){ "authorization", bearer, strlen(bearer) };
	md[1] = (struct gmd){ "x-axway-tenant-id", W.o->tenant,
		strlen(W.o->tenant) };
	for (i = 0; i < W.o->nheaders; i++)
		md[2 + i] = W.o->headers[i];
	W.fail_code = -1;
	W.got_message = W.confirmed = false;
	W.live_first = -1;
	W.call = gcall_start(
	    W.ch, WATCH_PATH, md, 2 + W.o->nheaders, 0, &watch_handlers, NULL);
	if (W.call == NULL) {
		char why[600];

		explicit_bzero(bearer, sizeof(bearer));
		snprintf(
		    why, sizeof(why), "UNAVAILABLE: %s", gchannel_error(W.ch));
		cycle_failed(GRPC_UNAVAILABLE, why);
		return false;
	}
	/* axway.md 2.3: the first message subscribes: the topic, the
	 * token (with "Bearer " inside the string too), ["ping"]. */
	r.selflink = (char *)W.o->topic;
	r.token = bearer;
	r.n_capabilities = 1;
	r.capabilities = caps;
	send_request(&r);
	explicit_bzero(bearer, sizeof(bearer));
	sent_token(token);
	return true;
}

/* A new cycle, once the token is fresh enough (cycle_open). */
static void
cycle_open_now(void *ctx)
{
	const char *t;
	bool fatal;

	if (!sub_taking(W.sub) || W.phase != PH_IDLE || W.call != NULL)
		return;
	if ((t = sub_token(W.sub, &fatal)) == NULL) {
		if (!fatal) {
			lerr("--api axway needs a token");
			sub_stop(W.sub, GRPC_UNAUTHENTICATED);
		}
		return;
	}
	if (W.sub->watermark > W.last)
		W.last = W.sub->watermark;
	if (!open_stream(t))
		return;
	if (W.last >= 0) {
		W.phase = PH_JOINING;
		linfo("%s: catching up after sequence id %" PRId64,
		    W.o->endpoint, W.last);
		start_pass();
	} else {
		W.phase = PH_LIVE;
	}
}

/* The retry's open: a token with life left first (secret.h). */
static void
cycle_open(struct retry *r, void *ctx)
{
	if (sub_taking(W.sub) && sub_token_ready(W.sub, &W.open_wait))
		cycle_open_now(NULL);
}

/* The driver has room again. */
static void
watch_resume(void *ctx)
{
	if (W.page_next < W.page.n)
		write_page();
	else if (W.nheld > 0)
		release_held();
}

static bool
watch_connected(void *ctx)
{
	return W.call != NULL && gchannel_ready(W.ch);
}

static void
watch_stop(void *ctx)
{
	retry_cancel(&W.retry);
	linfo("%s: %" PRIu64 " pings answered, %" PRIu64
	      " token refreshes, %" PRIu64 " harvester requests, %" PRIu64
	      " duplicates skipped, %" PRIu64 " held events fetched again",
	    W.o->endpoint, W.pings, W.refreshes, W.requests, W.dups, W.dropped);
	secret_on_change(W.token, NULL, NULL);
	if (W.call != NULL) {
		gcall_set_handlers(W.call, NULL, NULL);
		gcall_cancel(W.call);
	}
	end_cycle();
	http_cleanup();
	if (W.sent != NULL) {
		explicit_bzero(W.sent, strlen(W.sent));
		free(W.sent);
		W.sent = NULL;
	}
	/* W.held stays: a caller up the stack may be on the ring. */
}

/*
 * -H for the harvester too (axway.md 3.1: the same headers as the
 * stream): "name: value", a -bin value in base64 as on the gRPC wire.
 */
static const char *const *
http_headers(const struct sub_opts *o)
{
	char **h = xcalloc(o->nheaders + 1, sizeof(*h));
	size_t i, n, len;

	for (i = 0; i < o->nheaders && i < HARVESTER_MAX_HEADERS; i++) {
		n = strlen(o->headers[i].name);
		len = n + 3 + BASE64_LEN(o->headers[i].len);
		h[i] = xmalloc(len);
		memcpy(h[i], o->headers[i].name, n);
		memcpy(h[i] + n, ": ", 2);
		if (n > 4 && strcmp(o->headers[i].name + n - 4, "-bin") == 0)
			h[i][n + 2 +
			    base64_encode(h[i] + n + 2,
				(const uint8_t *)o->headers[i].value,
				o->headers[i].len)] = '\0';
		else
			snprintf(h[i] + n + 2, len - n - 2, "%.*s",
			    (int)o->headers[i].len, o->headers[i].value);
	}
	return (const char *const *)h;
}

void
axway_watch_start(struct sub *s)
{
	const struct sub_source src = {
		.resume = watch_resume,
		.stop = watch_stop,
		.connected = watch_connected,
	};
	const struct target *t = &s->o->target;

	W.sub = s;
	W.o = s->o;
	W.token = (struct secret *)&s->o->token;
	W.last = -1;
	W.live_first = -1;
	W.fail_code = -1;
	arena_init(&W.arena);
	arena_init(&W.page_arena);
	loop_timer_init(&W.expiry, expiry_fired, NULL);
	W.open_wait = (struct secret_wait){ .fn = cycle_open_now };
	W.fetch_wait = (struct secret_wait){ .fn = fetch_now };
	secret_on_change(W.token, token_changed, NULL);
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
	W.hv.headers = http_headers(s->o);
	W.hv.page_size = s->o->page_size;
	W.hv.http.cacert = s->o->tls.cacert;
	W.hv.http.insecure = s->o->tls.insecure;
	W.hv.http.proxy = s->o->proxy;
	W.hv.http.connect_to = s->o->connect_to;
	W.heldcap = s->cap;
	W.held = xcalloc(W.heldcap, sizeof(*W.held));
	W.ch = sub_channel(s);
	sub_set_source(s, &src);
	retry_init(&W.retry, cycle_open, NULL);
	W.retry.max = s->o->retries;
	retry_now(&W.retry);
}
