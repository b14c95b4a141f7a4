#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventstore.h"
#include "engflow/eventstore/v1/eventstore.pb-c.h"
#include "exitcode.h"
#include "log.h"
#include "pbwire.h"
#include "utf8.h"

#define MAX_MD 8

static void call_open(struct retry *, void *);

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

static const char *
what(const struct esstream *st)
{
	return st->o.method == ES_GET_BUILD ? "build" : "invocation";
}

/* A call's handlers once nobody listens: take everything, say nothing. */
static int
ignore_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	return 0;
}

static const struct gcall_handlers detached = {
	.on_message = ignore_message,
};

static void
detach(struct esstream *st, bool cancel)
{
	if (st->call == NULL)
		return;
	gcall_set_handlers(st->call, &detached, NULL);
	if (cancel)
		gcall_cancel(st->call);
	st->call = NULL;
}

static void
end(struct esstream *st, int code, const char *message)
{
	struct gstatus status = { code, message };

	if (st->ended)
		return;
	st->ended = true;
	retry_cancel(&st->retry);
	detach(st, code != GRPC_OK);
	st->h->on_end(st, &status, st->ctx);
}

static void
scratch_put(struct esstream *st, size_t off, const uint8_t *p, size_t n)
{
	if (st->scratch_cap < off + n) {
		st->scratch_cap = 2 * (off + n);
		if ((st->scratch = realloc(st->scratch, st->scratch_cap)) ==
		    NULL)
			die(EXIT_INTERNAL, "out of memory");
	}
	memcpy(st->scratch + off, p, n);
}

/* A proto3 string we pass on: UTF-8, no NUL, shorter than cap. */
static int
copy_string(char *dst, size_t cap, const struct pbfield *f)
{
	if (f->len >= cap || memchr(f->p, '\0', f->len) != NULL ||
	    !utf8_valid((const char *)f->p, f->len))
		return -1;
	memcpy(dst, f->p, f->len);
	dst[f->len] = '\0';
	return 0;
}

/*
 * StreamedBuildEvent from the wire, fields kept as they are: is_last 1,
 * continuation_token 2, event 3, principal 4; unknown fields skipped.
 * A message field that comes in pieces is merged (encoding.md: the
 * pieces concatenated).  Returns -1 when it does not parse.
 */
static int
parse(struct esstream *st, const uint8_t *p, size_t n, struct es_event *ev,
    char *token, size_t tokcap, char *principal, size_t princap)
{
	struct pbfield f;
	int r;

	memset(ev, 0, sizeof(*ev));
	*token = *principal = '\0';
	while ((r = pbwire_next(&p, &n, &f)) > 0) {
		if (f.num == 1 && f.wiretype == 0) {
			ev->is_last = f.value != 0;
		} else if (f.num == 2 && f.wiretype == 2) {
			if (copy_string(token, tokcap, &f) < 0)
				return -1;
		} else if (f.num == 4 && f.wiretype == 2) {
			if (copy_string(principal, princap, &f) < 0)
				return -1;
		} else if (f.num == 3 && f.wiretype == 2) {
			if (ev->event == NULL) {
				ev->event = f.p;
				ev->event_len = f.len;
				continue;
			}
			/* Another piece: merge it. */
			if (ev->event != st->scratch)
				scratch_put(st, 0, ev->event, ev->event_len);
			scratch_put(st, ev->event_len, f.p, f.len);
			ev->event = st->scratch;
			ev->event_len += f.len;
		} else if (f.num <= 4) {
			return -1; /* a known field with the wrong wire type */
		}
	}
	ev->token = token;
	ev->principal = principal;
	return r;
}

/*
 * Fires for each response message.  Invariant: st->token is the token
 * of the last event handed on (or of an earlier one, with since_token
 * events handed on after it), so a new call resumes right after it.
 */
static int
on_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct esstream *st = ctx;
	static char token[64 * 1024], principal[4096];
	struct es_event ev;
	int r;

	if (st->ended)
		return 0;
	if (parse(st, p, n, &ev, token, sizeof(token), principal,
		sizeof(principal)) < 0) {
		/* statuscodes.md: a response that does not parse is
		 * INTERNAL; asking again would only get it again. */
		lwarn("%s %s: a StreamedBuildEvent does not parse", what(st),
		    st->id);
		end(st, GRPC_INTERNAL, "response does not parse");
		return 0;
	}
	if (st->skip > 0) { /* handed on already, before the last token */
		st->skip--;
		return 0;
	}
	/* Progress is a new event: a call that only repeats what we have
	 * is retried with backoff, not at once, however often it breaks. */
	if (!st->progress) {
		st->progress = true;
		retry_progress(&st->retry);
	}
	if (*ev.token != '\0') {
		free(st->token);
		st->token = xstrdup(ev.token);
		st->since_token = 0;
	} else {
		st->since_token++;
	}
	st->events++;
	st->last = ev.is_last;
	r = st->h->on_event(st, &ev, st->ctx);
	if (st->ended)
		return 0;
	if (st->last) {
		end(st, GRPC_OK, "");
		return 0;
	}
	if (r == ESSTREAM_PAUSE) {
		st->paused = true;
		return GCALL_PAUSE;
	}
	return 0;
}

/*
 * Whether a new call may get further.  CANCELLED comes from the
 * server's side only (a call we cancel is detached first): a server
 * stopping, which says nothing about the invocation; taking it for the
 * stream's end would pass on the events so far as if they were all.
 */
static bool
worth_retrying(int code)
{
	return retry_transient(code) || code == GRPC_CANCELLED;
}

/* Fires once per call, when it is over; the gcall is freed after. */
static void
on_close(struct gcall *call, const struct gstatus *status, void *ctx)
{
	struct esstream *st = ctx;
	char why[512];

	st->call = NULL;
	if (st->ended)
		return;
	if (status->code == GRPC_OK) {
		end(st, GRPC_OK, "");
		return;
	}
	snprintf(why, sizeof(why), "%s %s: %s%s%s", what(st), st->id,
	    grpc_status_name(status->code), *status->message ? ": " : "",
	    status->message);
	if (!worth_retrying(status->code)) {
		end(st, status->code, status->message);
		return;
	}
	st->skip = st->since_token;
	if (st->paused) {
		/* Reopened when the consumer has room again. */
		linfo("%s (resumes when output drains)", why);
		st->open_on_resume = true;
	} else if (st->progress) {
		linfo("%s (resuming)", why);
		retry_now(&st->retry);
	} else if (!retry_later(&st->retry, why)) {
		st->gave_up = true;
		end(st, status->code, status->message);
	}
}

static const struct gcall_handlers handlers = {
	.on_message = on_message,
	.on_close = on_close,
};

static void
call_open(struct retry *r, void *ctx)
{
	struct esstream *st = ctx;
	Engflow__Eventstore__V1__GetInvocationRequest inv =
	    ENGFLOW__EVENTSTORE__V1__GET_INVOCATION_REQUEST__INIT;
	Engflow__Eventstore__V1__GetBuildRequest build =
	    ENGFLOW__EVENTSTORE__V1__GET_BUILD_REQUEST__INIT;
	const ProtobufCMessage *req;
	struct gmd md[MAX_MD];
	size_t nmd = 0;
	const char *path;

	if (st->ended || st->call != NULL)
		return;
	if (st->o.metadata != NULL)
		nmd = st->o.metadata(md, MAX_MD, st->o.md_ctx);
	if (st->o.method == ES_GET_BUILD) {
		build.instance_name = st->instance;
		build.build_id = st->id;
		build.continuation_token = st->token != NULL ? st->token : "";
		req = &build.base;
		path = ES_PATH_BUILD;
	} else {
		inv.instance_name = st->instance;
		inv.invocation_id = st->id;
		inv.continuation_token = st->token != NULL ? st->token : "";
		inv.replay_mode = st->o.replay_mode;
		req = &inv.base;
		path = ES_PATH_INVOCATION;
	}
	st->progress = false;
	st->calls++;
	ltrace("%s %s: call %llu%s", what(st), st->id,
	    (unsigned long long)st->calls,
	    st->token != NULL ? " with a continuation token" : "");
	st->call = gcall_start(st->o.ch, path, md, nmd, 0, &handlers, st);
	if (st->call == NULL) {
		char why[512];

		snprintf(why, sizeof(why), "%s %s: %s", what(st), st->id,
		    gchannel_error(st->o.ch));
		if (!retry_later(&st->retry, why)) {
			st->gave_up = true;
			end(st, GRPC_UNAVAILABLE, gchannel_error(st->o.ch));
		}
		return;
	}
	gcall_send_msg(st->call, req);
	gcall_close_send(st->call);
}

void
esstream_open(struct esstream *st, const struct esstream_opts *o,
    const struct esstream_handlers *h, void *ctx)
{
	memset(st, 0, sizeof(*st));
	st->o = *o;
	st->instance = xstrdup(o->instance != NULL ? o->instance : "");
	st->id = xstrdup(o->id);
	st->o.instance = st->instance;
	st->o.id = st->id;
	st->h = h;
	st->ctx = ctx;
	retry_init(&st->retry, call_open, st);
	st->retry.max = o->retries;
	st->retry.log = o->log;
	call_open(&st->retry, st);
}

void
esstream_resume(struct esstream *st)
{
	if (!st->paused || st->ended)
		return;
	st->paused = false;
	if (st->open_on_resume) {
		st->open_on_resume = false;
		retry_now(&st->retry);
	} else if (st->call != NULL) {
		gcall_resume(st->call);
	}
}

void
esstream_close(struct esstream *st)
{
	st->ended = true;
	retry_cancel(&st->retry);
	detach(st, true);
	free(st->token);
	free(st->instance);
	free(st->id);
	free(st->scratch);
	st->token = st->instance = st->id = NULL;
	st->scratch = NULL;
}
