/*
 * A Flyte pack's side of the Flyte API (flyte.md section 1), on the
 * poll loop: discovery, registration, polling for actions, posting
 * action results and events.  Every request goes through http.h and
 * carries the bearer token when there is one.
 *
 * Better than the Go client (flyte.md 1.7, 1.9): discovery and
 * registration are retried with backoff for as long as it takes; a 404
 * on polling (the server forgot the pack) runs them again; posts are
 * retried with backoff until they succeed or their deadline passes,
 * and with a spool they survive a restart.
 */
#ifndef EVPIPE_FLYTE_H
#define EVPIPE_FLYTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "secret.h"

#define FLYTE_POLL_MIN_MS 100
#define FLYTE_PROBE_TIMEOUT_MS 5000

struct flyte;
struct flyte_post;

struct flyte_opts {
	const char *api; /* FLYTE_API: the server's base URL */
	struct http_opts http;
	struct secret *token; /* Authorization: Bearer; may be unset */
	const char *registration; /* the registration body (pack.h) */
	bool poll; /* the pack has commands */
	int64_t poll_interval_ms; /* after a 204 or a failed poll */
	int64_t post_deadline_ms; /* give a post up after this long */
	bool exit_on_404; /* the Go client's way: no re-registration */
	const char *spool; /* directory, or NULL */
};

/* An action taken; valid during on_action. */
struct flyte_action {
	const char *command;
	const char *input; /* compact JSON text */
	const char *result_url;
	const char *id; /* from the result URL, for diagnostics */
};

enum flyte_post_kind { FLYTE_RESULT, FLYTE_EVENT };

struct flyte_handlers {
	/* Registered (again, after a 404). */
	void (*on_registered)(struct flyte *, void *);
	/* Is there room for another action?  Asked before every poll. */
	bool (*want_action)(struct flyte *, void *);
	/* An action was taken; the tool must answer it with a result. */
	void (*on_action)(struct flyte *, const struct flyte_action *, void *);
	/*
	 * A post ended: delivered, or given up.  url is where it went (or
	 * was to go), body and meta as given to flyte_post().
	 */
	void (*on_posted)(struct flyte *, enum flyte_post_kind, const char *,
	    const char *, const char *, bool, void *);
	/* The server forgot the pack and exit_on_404 is set. */
	void (*on_forgotten)(struct flyte *, void *);
	/* Something changed that a drain waits for (polls, posts). */
	void (*on_idle)(struct flyte *, void *);
};

struct flyte *flyte_open(const struct flyte_opts *,
    const struct flyte_handlers *, void *, char *, size_t);
void flyte_start(struct flyte *);
void flyte_kick(struct flyte *);
void flyte_post(struct flyte *, enum flyte_post_kind, const char *,
    const char *, const char *);
void flyte_stop_polling(struct flyte *);
void flyte_last_call(struct flyte *);
void flyte_give_up(struct flyte *);
bool flyte_idle(const struct flyte *);
size_t flyte_pending(const struct flyte *, enum flyte_post_kind);
uint64_t flyte_lost(const struct flyte *);
void flyte_close(struct flyte *);

/* State for the health checks. */
struct flyte_status {
	bool registered;
	bool polling; /* a poll is under way or scheduled */
	int64_t last_poll_ok; /* loop_now() of the last 200 or 204; 0: never */
	const char *last_error; /* of connecting or polling, or NULL */
	const char *pack_url; /* self link, once registered */
};
void flyte_status(const struct flyte *, struct flyte_status *);

/* Ask whether the API answers: GET its health link (or /v1 until known). */
typedef void (*flyte_probe_fn)(bool, const char *, void *);
void flyte_probe(struct flyte *, flyte_probe_fn, void *);

/* {"event":..,"payload":..,"createdAt":..}: payload is JSON text or NULL. */
char *flyte_event_body(const char *, const char *, int64_t, int32_t);

#endif
