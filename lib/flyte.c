#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "duration.h"
#include "errf.h"
#include "exitcode.h"
#include "flyte.h"
#include "flytedoc.h"
#include "log.h"
#include "loop.h"
#include "retry.h"
#include "rfc3339.h"
#include "spool.h"

#define TOKEN_REFRESH_MS 10000

enum conn_state { C_OFF, C_DISCOVER, C_REGISTER, C_LOCATION, C_READY };

struct flyte_post {
	struct flyte *f;
	struct flyte_post *next, **prevp;
	enum flyte_post_kind kind;
	char *url; /* a result's link; an event's last target */
	char *body, *meta;
	char *spooled; /* its spool entry, or NULL */
	struct retry retry;
	struct http_req *req;
	int64_t deadline;
	uint64_t gen404; /* registration it last got a 404 under; 0: none */
	uint64_t attempts;
	char *why; /* the last failure */
	bool waiting; /* an event waiting for the pack to be registered */
};

struct flyte {
	struct flyte_opts o;
	char *base; /* the discovery URL: FLYTE_API/v1 */
	const struct flyte_handlers *h;
	void *ctx;

	enum conn_state state;
	struct retry conn;
	struct http_req *conn_req;
	char *packs_url, *health_url, *take_url, *events_url, *self_url;
	uint64_t gen; /* registrations so far */
	bool conn_warned;

	struct loop_timer poll_timer;
	struct http_req *take_req;
	bool poll_stopped, poll_blocked;
	int64_t last_poll_ok;
	uint64_t poll_failures;

	struct flyte_post *posts; /* oldest first */
	struct flyte_post *event; /* the event being posted; the rest wait */
	size_t npending[2];
	uint64_t post_failures, lost;
	struct retry_log post_log; /* an outage of posts, told once */
	bool last_call; /* one more attempt for each post, no retries */
	bool spooling;
	struct spool spool;

	int64_t token_at; /* when the token was last renewed after a 401 */
	char last_error[512];
};

static const char *const kind_name[] = { "result", "event" };

static char *
xstrdup(const char *s)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return d;
}

static void
replace(char **p, const char *s)
{
	free(*p);
	*p = xstrdup(s);
}

static bool
ok_status(long status)
{
	return status >= 200 && status <= 299;
}

/*
 * The headers of every request (flyte.md 1.8): JSON both ways, the
 * bearer token when there is one, and no "Expect: 100-continue" (a
 * server that ignores it would cost a second per large post).  The
 * token is in auth, which the caller wipes after http_start().
 */
static void
headers(struct flyte *f, const char **h, char *auth, size_t authlen)
{
	static bool warned;
	char err[256];
	const char *tok = NULL;
	size_t n = 0;

	h[n++] = "Accept: application/json";
	h[n++] = "Content-Type: application/json";
	h[n++] = "Expect:";
	if (f->o.token != NULL && secret_isset(f->o.token)) {
		tok = secret_get(f->o.token, err, sizeof(err));
		if (tok == NULL && !warned) {
			lwarn("%s; sending requests without it", err);
			warned = true;
		}
	}
	if (tok != NULL) {
		snprintf(auth, authlen, "Authorization: Bearer %s", tok);
		h[n++] = auth;
	}
	h[n] = NULL;
}

static struct http_req *
request(struct flyte *f, const char *method, const char *url, const char *body,
    int64_t timeout_ms, http_done_fn done, void *ctx, char *err, size_t errlen)
{
	struct http_opts o = f->o.http;
	const char *h[8];
	char auth[8192];
	struct http_req *r;

	if (timeout_ms > 0)
		o.timeout_ms = timeout_ms;
	headers(f, h, auth, sizeof(auth));
	r = http_start(&o, method, url, h, body,
	    body != NULL ? strlen(body) : 0, done, ctx, err, errlen);
	explicit_bzero(auth, sizeof(auth));
	return r;
}

/* "GET URL: why" for a failed request; NULL when it succeeded. */
static const char *
failure(char *buf, size_t len, const char *what, const char *url,
    const struct http_resp *resp)
{
	char snippet[128];
	size_t n;

	if (resp->curl_code != 0) {
		snprintf(buf, len, "%s %s: %s", what, url, resp->error);
		return buf;
	}
	if (ok_status(resp->status))
		return NULL;
	/* A short plain answer says more than the status alone. */
	for (n = 0; n < resp->len && n < sizeof(snippet) - 1; n++)
		snippet[n] = resp->body[n] >= 0x20 && resp->body[n] < 0x7f ?
		    resp->body[n] :
		    ' ';
	while (n > 0 && snippet[n - 1] == ' ')
		n--;
	snippet[n] = '\0';
	snprintf(buf, len, "%s %s: HTTP %ld%s%s", what, url, resp->status,
	    n > 0 ? ": " : "", snippet);
	return buf;
}

/*
 * failure(), and on a 401 the token is renewed in the background (it
 * may have expired): a command runs again, a file is read again if it
 * changed; the request's next attempt takes the new one.  At most every
 * TOKEN_REFRESH_MS, so that a server refusing every token does not run
 * the command at each poll.  Never a wait here: the loop goes on.
 */
static const char *
failed(struct flyte *f, char *buf, size_t len, const char *what,
    const char *url, const struct http_resp *resp)
{
	const char *why = failure(buf, len, what, url, resp);

	if (why == NULL || resp->curl_code != 0 || resp->status != 401 ||
	    f->o.token == NULL || !secret_isset(f->o.token) ||
	    (f->token_at != 0 && loop_now() - f->token_at < TOKEN_REFRESH_MS))
		return why;
	f->token_at = loop_now();
	linfo("%s (renewing the token)", why);
	secret_renew(f->o.token, NULL);
	return why;
}

static void poll_next(struct flyte *, int64_t);
static void post_open(struct retry *, void *);
static void post_go(struct flyte_post *);

/* --- discovery and registration ---------------------------------------- */

/*
 * Connecting failed: note why, and try again from discovery after the
 * backoff.  The first failure in a row is a warning; every attempt is
 * logged at -v (by retry_later).
 */
static void
conn_fail(struct flyte *f, const char *why)
{
	f->conn_req = NULL;
	f->state = C_DISCOVER;
	snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	f->conn_warned = true;
	retry_later(&f->conn, why);
}

static void
ready(struct flyte *f)
{
	struct flyte_post *p;

	f->conn_req = NULL;
	f->state = C_READY;
	f->gen++;
	retry_progress(&f->conn);
	if (f->conn_warned)
		linfo("registered pack after %llu failed attempts",
		    (unsigned long long)f->conn.opens - 1);
	f->conn.opens = 0;
	f->conn_warned = false;
	linfo("registered: take %s, events %s",
	    f->take_url != NULL ? f->take_url : "(none)", f->events_url);
	if (f->h->on_registered != NULL)
		f->h->on_registered(f, f->ctx);
	poll_next(f, 0);
	for (p = f->posts; p != NULL; p = p->next)
		if (p->waiting) {
			p->waiting = false;
			retry_now(&p->retry);
		}
}

/* The links a pack document holds; false when the needed ones are missing. */
static bool
pack_links(struct flyte *f, const struct http_resp *resp)
{
	struct flyte_links l;

	if (flytedoc_links(resp->body, resp->len, f->o.poll, &l) < 0)
		return false;
	replace(&f->take_url, l.take);
	replace(&f->events_url, l.events);
	replace(&f->self_url, l.self);
	flytedoc_links_free(&l);
	return true;
}

/* GET Location answered (servers that give no body, flyte.md 1.2). */
static void
location_done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct flyte *f = ctx;
	char why[512];

	if (failed(f, why, sizeof(why), "GET", f->self_url, resp) != NULL)
		conn_fail(f, why);
	else if (!pack_links(f, resp)) {
		snprintf(why, sizeof(why),
		    "GET %s: the pack has no links whose rels end with %s "
		    "and %s",
		    f->self_url, FLYTE_REL_TAKE, FLYTE_REL_EVENT);
		conn_fail(f, why);
	} else
		ready(f);
}

/* POST packs answered: 201 with the pack, or with a Location only. */
static void
register_done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct flyte *f = ctx;
	const char *loc = http_header(r, "Location");
	char why[512];

	if (failed(f, why, sizeof(why), "POST", f->packs_url, resp) != NULL) {
		conn_fail(f, why);
		return;
	}
	if (pack_links(f, resp)) {
		ready(f);
		return;
	}
	if (loc == NULL || *loc == '\0') {
		snprintf(why, sizeof(why),
		    "POST %s: the answer has neither links whose rels end "
		    "with %s and %s nor a Location",
		    f->packs_url, FLYTE_REL_TAKE, FLYTE_REL_EVENT);
		conn_fail(f, why);
		return;
	}
	replace(&f->self_url, loc);
	f->state = C_LOCATION;
	f->conn_req = request(
	    f, "GET", f->self_url, NULL, 0, location_done, f, why, sizeof(why));
	if (f->conn_req == NULL)
		conn_fail(f, why);
}

static void
discover_done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct flyte *f = ctx;
	struct flyte_root root;
	char why[512];

	if (failed(f, why, sizeof(why), "GET", f->base, resp) != NULL) {
		conn_fail(f, why);
		return;
	}
	if (flytedoc_root(resp->body, resp->len, &root) < 0) {
		snprintf(why, sizeof(why),
		    "GET %s: no link whose rel ends with %s", f->base,
		    FLYTE_REL_PACKS);
		conn_fail(f, why);
		return;
	}
	replace(&f->packs_url, root.packs);
	replace(&f->health_url, root.health);
	flytedoc_root_free(&root);
	f->state = C_REGISTER;
	f->conn_req = request(f, "POST", f->packs_url, f->o.registration, 0,
	    register_done, f, why, sizeof(why));
	if (f->conn_req == NULL)
		conn_fail(f, why);
}

static void
conn_open(struct retry *rt, void *ctx)
{
	struct flyte *f = ctx;
	char why[512];

	f->state = C_DISCOVER;
	f->conn_req = request(
	    f, "GET", f->base, NULL, 0, discover_done, f, why, sizeof(why));
	if (f->conn_req == NULL)
		conn_fail(f, why);
}

/* Discover and register again (after the server forgot the pack). */
static void
reconnect(struct flyte *f)
{
	if (f->state != C_READY)
		return;
	f->state = C_DISCOVER;
	loop_timer_stop(&f->poll_timer);
	retry_now(&f->conn);
}

/* --- polling for actions (flyte.md 1.3) -------------------------------- */

static void
poll_next(struct flyte *f, int64_t ms)
{
	if (!f->o.poll || f->poll_stopped || f->state != C_READY ||
	    f->take_req != NULL)
		return;
	loop_timer_in(&f->poll_timer, ms);
}

static void
poll_fail(struct flyte *f, const char *why)
{
	char every[32];

	snprintf(f->last_error, sizeof(f->last_error), "%s", why);
	if (f->poll_failures++ == 0) {
		duration_format(every, sizeof(every), f->o.poll_interval_ms);
		lwarn("%s; polling again every %s", why, every);
	} else {
		linfo("%s", why);
	}
	poll_next(f, f->o.poll_interval_ms);
}

static void
poll_ok(struct flyte *f)
{
	f->last_poll_ok = loop_now();
	if (f->poll_failures > 0)
		lwarn("polling works again, after %llu failed polls",
		    (unsigned long long)f->poll_failures);
	f->poll_failures = 0;
}

/* The start of a server's text for a log line: one line, ASCII. */
static const char *
excerpt(const char *text, size_t len, char *buf, size_t size)
{
	size_t i, n = len < size - 4 ? len : size - 4;

	for (i = 0; i < n; i++)
		buf[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
	strcpy(buf + n, n < len ? "..." : "");
	return buf;
}

static void
take_action(struct flyte *f, const char *text, size_t len)
{
	struct flyte_action a;
	struct flyte_action_doc d;
	char why[200], ex[204];

	if (flytedoc_action(text, len, &d, why, sizeof(why)) < 0) {
		lerr("POST %s: %s: %s", f->take_url, why,
		    excerpt(text, len, ex, sizeof(ex)));
		return;
	}
	a.command = d.command;
	a.input = d.input;
	a.result_url = d.result_url;
	a.id = d.id;
	ltrace("action %s: %s", a.id, a.command);
	f->h->on_action(f, &a, f->ctx);
	flytedoc_action_free(&d);
}

static void
take_done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct flyte *f = ctx;
	char why[512];

	f->take_req = NULL;
	if (resp->curl_code == 0 && resp->status == 200) {
		poll_ok(f);
		take_action(f, resp->body, resp->len);
		poll_next(f, 0); /* flyte.md 1.3: at once after an action */
	} else if (resp->curl_code == 0 && resp->status == 204) {
		poll_ok(f);
		poll_next(f, f->o.poll_interval_ms);
	} else if (resp->curl_code == 0 && resp->status == 404) {
		/* flyte.md 1.7: the server forgot the pack. */
		snprintf(f->last_error, sizeof(f->last_error),
		    "POST %s: 404: the server does not know the pack",
		    f->take_url);
		if (f->o.exit_on_404) {
			lerr("%s", f->last_error);
			f->poll_stopped = true;
			if (f->h->on_forgotten != NULL)
				f->h->on_forgotten(f, f->ctx);
		} else {
			lwarn("%s; registering it again", f->last_error);
			reconnect(f);
		}
	} else {
		if (failed(f, why, sizeof(why), "POST", f->take_url, resp) ==
		    NULL)
			snprintf(why, sizeof(why), "POST %s: HTTP %ld",
			    f->take_url, resp->status);
		poll_fail(f, why);
	}
	if (f->h->on_idle != NULL)
		f->h->on_idle(f, f->ctx);
}

static void
poll_fire(struct loop_timer *t)
{
	struct flyte *f = t->ctx;
	char why[512];

	if (!f->o.poll || f->poll_stopped || f->state != C_READY ||
	    f->take_req != NULL)
		return;
	if (f->h->want_action != NULL && !f->h->want_action(f, f->ctx)) {
		f->poll_blocked = true;
		return;
	}
	f->poll_blocked = false;
	/* The Go client sends JSON null; the server ignores the body. */
	f->take_req = request(
	    f, "POST", f->take_url, "null", 0, take_done, f, why, sizeof(why));
	if (f->take_req == NULL)
		poll_fail(f, why);
}

/* There may be room for an action again: poll now if we were waiting. */
void
flyte_kick(struct flyte *f)
{
	if (f->poll_blocked) {
		f->poll_blocked = false;
		poll_next(f, 0);
	}
}

void
flyte_stop_polling(struct flyte *f)
{
	f->poll_stopped = true;
	f->poll_blocked = false;
	loop_timer_stop(&f->poll_timer);
}

/* --- results and events (flyte.md 1.4, 1.5) ---------------------------- */

static void
post_free(struct flyte_post *p)
{
	free(p->url);
	free(p->body);
	free(p->meta);
	free(p->spooled);
	free(p->why);
	free(p);
}

/*
 * Start a post.  Results go out at once, each on its own; events one at
 * a time, in the order they came (flows may depend on it), so an event
 * waits until the one before it is delivered or given up.
 */
static void
post_go(struct flyte_post *p)
{
	struct flyte *f = p->f;

	if (p->kind == FLYTE_EVENT) {
		if (f->event != NULL)
			return;
		f->event = p;
	}
	retry_now(&p->retry);
}

static void
next_event(struct flyte *f)
{
	struct flyte_post *p;

	f->event = NULL;
	for (p = f->posts; p != NULL; p = p->next)
		if (p->kind == FLYTE_EVENT) {
			post_go(p);
			return;
		}
}

/*
 * The post is over.  Delivered or refused for good, its spool entry
 * goes; given up for lack of time, the entry stays for the next run.
 */
static void
post_end(struct flyte_post *p, bool delivered, bool keep)
{
	struct flyte *f = p->f;
	char err[512];

	if (p->req != NULL)
		http_cancel(p->req);
	p->req = NULL;
	retry_cancel(&p->retry);
	if (p->spooled != NULL && !keep &&
	    spool_remove(&f->spool, p->spooled, err, sizeof(err)) < 0)
		lerr("%s", err);
	if (!delivered && !(keep && p->spooled != NULL))
		f->lost++;
	if ((*p->prevp = p->next) != NULL)
		p->next->prevp = p->prevp;
	f->npending[p->kind]--;
	if (p == f->event)
		next_event(f);
	if (f->h->on_posted != NULL)
		f->h->on_posted(f, p->kind, p->url != NULL ? p->url : "",
		    p->body, p->meta, delivered, f->ctx);
	post_free(p);
	if (f->h->on_idle != NULL)
		f->h->on_idle(f, f->ctx);
}

static const char *
post_what(struct flyte_post *p, char *buf, size_t len)
{
	char *id;

	if (p->kind == FLYTE_EVENT) {
		snprintf(buf, len, "event");
	} else {
		id = flytedoc_action_id(p->url);
		snprintf(buf, len, "result of action %s", id ? id : "?");
		free(id);
	}
	return buf;
}

static void
post_give_up(struct flyte_post *p, const char *why)
{
	char what[128];

	post_what(p, what, sizeof(what));
	lerr("%s not delivered: %s; giving up after %llu attempts%s", what, why,
	    (unsigned long long)p->attempts,
	    p->spooled != NULL ? " (kept in the spool for the next run)" : "");
	post_end(p, false, true);
}

/* 4xx answers that will not change however often the post is repeated. */
static bool
refused(long status)
{
	return status >= 400 && status <= 499 && status != 401 &&
	    status != 403 && status != 404 && status != 408 && status != 425 &&
	    status != 429;
}

static void
post_done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct flyte_post *p = ctx;
	struct flyte *f = p->f;
	char why[512], what[128];
	int64_t now = loop_now();

	p->req = NULL;
	p->attempts++;
	if (failed(f, why, sizeof(why), "POST", p->url, resp) == NULL) {
		f->post_failures = 0;
		post_end(p, true, false);
		return;
	}
	if (resp->curl_code == 0 && resp->status == 404) {
		/*
		 * flyte.md 1.7: the server may have forgotten the pack;
		 * register again (idempotent) and retry.  A 404 under a
		 * newer registration is about the action itself.
		 */
		if (f->o.exit_on_404 ||
		    (p->gen404 != 0 && f->gen > p->gen404)) {
			post_what(p, what, sizeof(what));
			lerr("%s refused: %s", what, why);
			post_end(p, false, false);
			return;
		}
		p->gen404 = f->gen;
		reconnect(f);
	} else if (resp->curl_code == 0 && refused(resp->status)) {
		post_what(p, what, sizeof(what));
		lerr("%s refused: %s", what, why);
		post_end(p, false, false);
		return;
	}
	replace(&p->why, why);
	if (now >= p->deadline || f->last_call) {
		post_give_up(p, why);
		return;
	}
	f->post_failures++;
	retry_later(&p->retry, why);
	/* The last attempt is made at the deadline, not after it. */
	if (p->retry.timer.due > p->deadline)
		loop_timer_in(&p->retry.timer, p->deadline - now);
}

static void
post_open(struct retry *rt, void *ctx)
{
	struct flyte_post *p = ctx;
	struct flyte *f = p->f;
	int64_t now = loop_now();
	char why[512];

	if (p->kind == FLYTE_EVENT) {
		if (f->state != C_READY || f->events_url == NULL) {
			/* Wait for registration, but not past the deadline. */
			if (now >= p->deadline) {
				post_give_up(p,
				    f->last_error[0] != '\0' ?
					f->last_error :
					"the pack is not registered");
				return;
			}
			p->waiting = true;
			loop_timer_in(&p->retry.timer, p->deadline - now);
			return;
		}
		replace(&p->url, f->events_url);
	}
	p->req = request(
	    f, "POST", p->url, p->body, 0, post_done, p, why, sizeof(why));
	if (p->req == NULL) {
		lerr("%s", why);
		post_end(p, false, false);
	}
}

static struct flyte_post *
post_new(struct flyte *f, enum flyte_post_kind kind, const char *url,
    const char *body, const char *meta)
{
	struct flyte_post *p = calloc(1, sizeof(*p));

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	p->f = f;
	p->kind = kind;
	p->url = xstrdup(url);
	p->body = xstrdup(body);
	p->meta = xstrdup(meta);
	p->deadline = loop_now() + f->o.post_deadline_ms;
	retry_init(&p->retry, post_open, p);
	p->retry.log = &f->post_log;
	/* Oldest first: a spooled backlog goes out before new posts. */
	{
		struct flyte_post **pp = &f->posts;

		while (*pp != NULL)
			pp = &(*pp)->next;
		p->prevp = pp;
		*pp = p;
	}
	f->npending[kind]++;
	return p;
}

static char *
spool_text(const struct flyte_post *p)
{
	struct flyte_spool_entry e = { p->kind == FLYTE_EVENT, p->url, p->body,
		p->meta };

	return flytedoc_spool_text(&e);
}

/*
 * Post a result (to url, the action's result link) or an event (to
 * the events link of the current registration).  body is the JSON
 * text; meta is the caller's, handed back in on_posted (and kept in
 * the spool).  The post is retried until it is delivered or
 * post_deadline_ms passes.
 */
void
flyte_post(struct flyte *f, enum flyte_post_kind kind, const char *url,
    const char *body, const char *meta)
{
	struct flyte_post *p = post_new(f, kind, url, body, meta);
	char err[512], *text;

	if (f->spooling) {
		text = spool_text(p);
		p->spooled = spool_save(
		    &f->spool, text, strlen(text), err, sizeof(err));
		if (p->spooled == NULL)
			lerr("%s; the %s is not spooled", err, kind_name[kind]);
		free(text);
	}
	post_go(p);
}

static void
unspool(const char *name, const char *text, size_t len, void *ctx)
{
	struct flyte *f = ctx;
	struct flyte_spool_entry e;
	struct flyte_post *p;
	char bad[128];

	if (flytedoc_spool_read(text, len, &e) < 0) {
		snprintf(bad, sizeof(bad), "%s.bad", name);
		lerr("%s/%s: not a spool entry; renamed to %s", f->o.spool,
		    name, bad);
		renameat(f->spool.dirfd, name, f->spool.dirfd, bad);
		return;
	}
	p = post_new(
	    f, e.event ? FLYTE_EVENT : FLYTE_RESULT, e.url, e.body, e.meta);
	p->spooled = xstrdup(name);
	flytedoc_spool_free(&e);
	post_go(p);
}

/* --- the whole ----------------------------------------------------------- */

struct flyte *
flyte_open(const struct flyte_opts *o, const struct flyte_handlers *h,
    void *ctx, char *err, size_t errlen)
{
	struct flyte *f = calloc(1, sizeof(*f));
	size_t n;

	if (f == NULL)
		die(EXIT_INTERNAL, "out of memory");
	f->o = *o;
	f->h = h;
	f->ctx = ctx;
	if (f->o.poll_interval_ms < FLYTE_POLL_MIN_MS)
		f->o.poll_interval_ms = FLYTE_POLL_MIN_MS;
	/* flyte.md 1.1: FLYTE_API joined with "v1" as a path. */
	n = strlen(o->api);
	if (asprintf(&f->base, "%s%sv1", o->api,
		n > 0 && o->api[n - 1] == '/' ? "" : "/") < 0)
		die(EXIT_INTERNAL, "out of memory");
	if (o->spool != NULL) {
		if (spool_open(&f->spool, o->spool, err, errlen) < 0) {
			free(f->base);
			free(f);
			return NULL;
		}
		f->spooling = true;
	}
	retry_init(&f->conn, conn_open, f);
	retry_log_init(&f->post_log, "posts");
	loop_timer_init(&f->poll_timer, poll_fire, f);
	return f;
}

/* Post what the spool holds, then discover and register. */
void
flyte_start(struct flyte *f)
{
	char err[512];
	size_t before = f->npending[0] + f->npending[1];

	if (f->spooling) {
		if (spool_load(&f->spool, unspool, f, err, sizeof(err)) < 0)
			lerr("%s", err);
		if (f->npending[0] + f->npending[1] > before)
			linfo("%s: %zu results and %zu events from the last "
			      "run",
			    f->o.spool, f->npending[FLYTE_RESULT],
			    f->npending[FLYTE_EVENT]);
	}
	retry_now(&f->conn);
}

/*
 * The end of a drain is near: posts waiting for their next attempt are
 * given up now, those under way (and new ones) get this attempt only.
 */
void
flyte_last_call(struct flyte *f)
{
	struct flyte_post *p, *next;

	f->last_call = true;
	for (p = f->posts; p != NULL; p = next) {
		next = p->next;
		if (p->req == NULL && (p->attempts > 0 || p->waiting))
			post_give_up(p,
			    p->why != NULL ? p->why :
				f->last_error[0] != '\0' ?
					     f->last_error :
					     "the pack is not registered");
	}
}

/* Give every post up now (the end of a drain); spooled ones stay. */
void
flyte_give_up(struct flyte *f)
{
	while (f->posts != NULL)
		post_give_up(f->posts,
		    f->posts->why != NULL ?
			f->posts->why :
			"shutting down before it could be posted");
	if (f->take_req != NULL)
		http_cancel(f->take_req);
	f->take_req = NULL;
	if (f->conn_req != NULL)
		http_cancel(f->conn_req);
	f->conn_req = NULL;
	retry_cancel(&f->conn);
	flyte_stop_polling(f);
}

/* Nothing under way that a drain must wait for. */
bool
flyte_idle(const struct flyte *f)
{
	return f->take_req == NULL && f->posts == NULL;
}

size_t
flyte_pending(const struct flyte *f, enum flyte_post_kind kind)
{
	return f->npending[kind];
}

/* Posts given up and not kept in a spool. */
uint64_t
flyte_lost(const struct flyte *f)
{
	return f->lost;
}

void
flyte_status(const struct flyte *f, struct flyte_status *s)
{
	s->registered = f->state == C_READY;
	s->polling = f->take_req != NULL || loop_timer_armed(&f->poll_timer);
	s->last_poll_ok = f->last_poll_ok;
	s->last_error = f->last_error[0] != '\0' ? f->last_error : NULL;
	s->pack_url = f->self_url;
}

void
flyte_close(struct flyte *f)
{
	if (f == NULL)
		return;
	flyte_give_up(f);
	if (f->spooling)
		spool_close(&f->spool);
	free(f->base);
	free(f->packs_url);
	free(f->health_url);
	free(f->take_url);
	free(f->events_url);
	free(f->self_url);
	free(f);
}

/* --- probing the API (the health check) -------------------------------- */

struct probe {
	char *url;
	int64_t started;
	flyte_probe_fn fn;
	void *ctx;
};

static void
probe_done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct probe *pr = ctx;
	char why[512];

	if (failure(why, sizeof(why), "GET", pr->url, resp) == NULL)
		snprintf(why, sizeof(why), "GET %s: %ld in %lld ms", pr->url,
		    resp->status, (long long)(loop_now() - pr->started));
	pr->fn(ok_status(resp->status) && resp->curl_code == 0, why, pr->ctx);
	free(pr->url);
	free(pr);
}

/*
 * Unlike the Go client's check (flyte.md 2), this one fails when the
 * API does not answer 2xx.  fn is called once, from the loop.
 */
void
flyte_probe(struct flyte *f, flyte_probe_fn fn, void *ctx)
{
	struct probe *pr = calloc(1, sizeof(*pr));
	char why[512];

	if (pr == NULL)
		die(EXIT_INTERNAL, "out of memory");
	pr->url = xstrdup(f->health_url != NULL ? f->health_url : f->base);
	pr->started = loop_now();
	pr->fn = fn;
	pr->ctx = ctx;
	if (request(f, "GET", pr->url, NULL, FLYTE_PROBE_TIMEOUT_MS, probe_done,
		pr, why, sizeof(why)) == NULL) {
		fn(false, why, ctx);
		free(pr->url);
		free(pr);
	}
}

/* --- bodies -------------------------------------------------------------- */

/*
 * A result or event body (flyte.md 1.4, 1.5): the event name, the
 * payload (JSON text, or NULL for null) and createdAt in UTC with
 * milliseconds, which Go's RFC 3339 parser takes.
 */
char *
flyte_event_body(
    const char *event, const char *payload, int64_t sec, int32_t nsec)
{
	char ts[RFC3339_MAX + 8];
	cJSON *o = cJSON_CreateObject();
	struct tm tm;
	time_t t = (time_t)sec;
	char *s;

	gmtime_r(&t, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, (int)(nsec / 1000000));
	cJSON_AddStringToObject(o, "event", event);
	cJSON_AddRawToObject(o, "payload", payload != NULL ? payload : "null");
	cJSON_AddStringToObject(o, "createdAt", ts);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return s;
}
