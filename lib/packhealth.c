#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>

#include "duration.h"
#include "exitcode.h"
#include "handler.h"
#include "healthd.h"
#include "log.h"
#include "loop.h"
#include "packhealth.h"

#define STATUS_MAX 1024 /* of a check's output used as its status */

struct waiter {
	struct healthd_req *req;
	struct waiter *next;
};

struct check {
	struct packhealth *ph;
	const char *name;
	bool healthy;
	char *status; /* JSON text */
	struct handler *h;
};

struct packhealth {
	struct healthd *hd;
	const struct pack *pack;
	struct flyte *f;
	const char *const *env, *const *unset; /* for check commands */
	packhealth_poll_fn poll;
	void *ctx;
	struct check *checks; /* FlyteApi, LastPoll, then the pack's */
	size_t nchecks;
	size_t running; /* checks of this round not yet done */
	struct waiter *waiters;
	char *answer; /* the last round's body */
	bool all_healthy;
	int64_t answered_at;
};

static char *
json_string(const char *s)
{
	cJSON *v = cJSON_CreateString(s);
	char *t = cJSON_PrintUnformatted(v);

	cJSON_Delete(v);
	if (t == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return t;
}

static void
set(struct check *c, bool healthy, char *status_json)
{
	free(c->status);
	c->healthy = healthy;
	c->status = status_json;
}

/* Every check of the round is in: answer everyone who asked. */
static void
round_done(struct packhealth *ph)
{
	struct waiter *w;
	cJSON *o = cJSON_CreateObject(), *c;
	char line[512];
	size_t i;

	ph->checks[1].healthy = ph->poll(line, sizeof(line), ph->ctx);
	set(&ph->checks[1], ph->checks[1].healthy, json_string(line));
	ph->all_healthy = true;
	for (i = 0; i < ph->nchecks; i++) {
		c = cJSON_AddObjectToObject(o, ph->checks[i].name);
		cJSON_AddBoolToObject(c, "healthy", ph->checks[i].healthy);
		cJSON_AddRawToObject(c, "status", ph->checks[i].status);
		ph->all_healthy &= ph->checks[i].healthy;
		if (!ph->checks[i].healthy)
			linfo("health: %s: %s", ph->checks[i].name,
			    ph->checks[i].status);
	}
	free(ph->answer);
	ph->answer = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (ph->answer == NULL)
		die(EXIT_INTERNAL, "out of memory");
	ph->answered_at = loop_now();
	while ((w = ph->waiters) != NULL) {
		ph->waiters = w->next;
		healthd_reply(w->req, ph->all_healthy ? 200 : 500, ph->answer);
		free(w);
	}
}

static void
check_done(struct packhealth *ph)
{
	if (--ph->running == 0)
		round_done(ph);
}

static void
probed(bool ok, const char *why, void *ctx)
{
	struct check *c = ctx;

	set(c, ok, json_string(why));
	check_done(c->ph);
}

/* The text a check printed, trimmed: its JSON value, or a string. */
static char *
output_status(const char *s, size_t n)
{
	char buf[STATUS_MAX + 1];
	const char *end = NULL;
	cJSON *v;

	while (n > 0 && strchr(" \t\r\n", *s) != NULL)
		s++, n--;
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		n--;
	if (n == 0)
		return json_string("ok");
	v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	if (v != NULL && end == s + n) {
		char *t = cJSON_PrintUnformatted(v);

		cJSON_Delete(v);
		if (t == NULL)
			die(EXIT_INTERNAL, "out of memory");
		return t;
	}
	cJSON_Delete(v);
	if (n > STATUS_MAX)
		n = STATUS_MAX;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return json_string(buf);
}

static void
ran(struct handler *h, const struct handler_result *r, void *ctx)
{
	struct check *c = ctx;
	char line[512], dur[32];
	const char *last;
	size_t i;

	c->h = NULL;
	for (i = 0; i < c->ph->pack->nchecks; i++)
		if (strcmp(c->ph->pack->checks[i].name, c->name) == 0)
			duration_format(dur, sizeof(dur),
			    c->ph->pack->checks[i].timeout_ms);
	last = strrchr(r->err_tail, '\n');
	last = last != NULL ? last + 1 : r->err_tail;
	if (r->timed_out)
		snprintf(line, sizeof(line), "timed out after %s", dur);
	else if (r->stopped)
		snprintf(line, sizeof(line), "stopped");
	else if (WIFSIGNALED(r->wstatus))
		snprintf(line, sizeof(line), "killed by signal %d",
		    WTERMSIG(r->wstatus));
	else if (WEXITSTATUS(r->wstatus) != 0)
		snprintf(line, sizeof(line), "exit status %d%s%.400s",
		    WEXITSTATUS(r->wstatus), *last != '\0' ? ": " : "", last);
	else {
		set(c, true, output_status(r->out, r->outlen));
		check_done(c->ph);
		return;
	}
	set(c, false, json_string(line));
	check_done(c->ph);
}

static void
start_round(struct packhealth *ph)
{
	struct handler_spec spec = { .env = ph->env, .unset = ph->unset };
	struct check *c;
	char err[256];
	size_t i;

	ph->running = ph->nchecks - 1; /* LastPoll is judged at the end */
	flyte_probe(ph->f, probed, &ph->checks[0]);
	for (i = 0; i < ph->pack->nchecks; i++) {
		c = &ph->checks[i + 2];
		spec.name = c->name;
		spec.command = ph->pack->checks[i].command;
		spec.timeout_ms = ph->pack->checks[i].timeout_ms;
		spec.max_output = 64 * 1024;
		c->h = handler_start(&spec, ran, c, err, sizeof(err));
		if (c->h == NULL) {
			set(c, false, json_string(err));
			check_done(ph);
		}
	}
}

/* A request arrived (any path): join the round under way, or start one. */
static void
on_request(struct healthd_req *req, void *ctx)
{
	struct packhealth *ph = ctx;
	struct waiter *w;

	if (ph->running == 0 && ph->answer != NULL &&
	    loop_now() - ph->answered_at < PACKHEALTH_FRESH_MS) {
		healthd_reply(req, ph->all_healthy ? 200 : 500, ph->answer);
		return;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	w->req = req;
	w->next = ph->waiters;
	ph->waiters = w;
	if (ph->running == 0)
		start_round(ph);
}

/*
 * Serve health checks on addr (NULL: every interface) and port (0: a
 * free one).  env: what check commands get in their environment
 * ("NAME=value", NULL-terminated).  poll judges LastPoll.
 */
struct packhealth *
packhealth_start(const char *addr, uint16_t port, const struct pack *pack,
    struct flyte *f, const char *const *env, const char *const *unset,
    packhealth_poll_fn poll, void *ctx, char *err, size_t errlen)
{
	struct packhealth *ph = calloc(1, sizeof(*ph));
	size_t i;

	if (ph == NULL)
		die(EXIT_INTERNAL, "out of memory");
	ph->pack = pack;
	ph->f = f;
	ph->env = env;
	ph->unset = unset;
	ph->poll = poll;
	ph->ctx = ctx;
	ph->nchecks = pack->nchecks + 2;
	ph->checks = calloc(ph->nchecks, sizeof(*ph->checks));
	if (ph->checks == NULL)
		die(EXIT_INTERNAL, "out of memory");
	ph->checks[0].name = PACK_CHECK_API;
	ph->checks[1].name = PACK_CHECK_POLL;
	for (i = 0; i < pack->nchecks; i++)
		ph->checks[i + 2].name = pack->checks[i].name;
	for (i = 0; i < ph->nchecks; i++)
		ph->checks[i].ph = ph;
	ph->hd = healthd_start(addr, port, on_request, ph, err, errlen);
	if (ph->hd == NULL) {
		free(ph->checks);
		free(ph);
		return NULL;
	}
	return ph;
}

uint16_t
packhealth_port(const struct packhealth *ph)
{
	return healthd_port(ph->hd);
}

/* Stop serving; checks still running are stopped, waiters get 503. */
void
packhealth_stop(struct packhealth *ph)
{
	size_t i;
	struct waiter *w;

	if (ph == NULL)
		return;
	for (i = 0; i < ph->nchecks; i++)
		if (ph->checks[i].h != NULL)
			handler_stop(ph->checks[i].h);
	while ((w = ph->waiters) != NULL) {
		ph->waiters = w->next;
		free(w);
	}
	healthd_stop(ph->hd);
	for (i = 0; i < ph->nchecks; i++)
		free(ph->checks[i].status);
	free(ph->checks);
	free(ph->answer);
	free(ph);
}
