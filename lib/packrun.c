#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ackfifo.h"
#include "duration.h"
#include "exitcode.h"
#include "handler.h"
#include "http.h"
#include "inbuf.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "packhealth.h"
#include "packrun.h"
#include "progress.h"
#include "recin.h"
#include "recout.h"
#include "sig.h"
#include "strbuf.h"

/* An action being handled. */
struct job {
	struct job *next, **prevp;
	const struct pack_command *cmd;
	char *url, *id;
	char *env[4];
	struct handler *h;
};

static struct {
	const struct packrun_opts *o;
	struct flyte *f;
	struct job *jobs;
	size_t njobs;
	const char *unset[3];
	char *check_env[2];

	/* events in */
	struct recin in;
	struct inbuf lines;
	struct loop_io lines_io;
	struct loop_timer lines_kick;
	size_t scanned;
	uint64_t lineno;
	bool reading, lines_paused;
	/* an ack-only marker for --tee, held while events before it post */
	struct strbuf marker;
	bool marker_held;
	uint64_t markers;

	/* --tee */
	struct recout tee;
	struct arena arena;
	bool tee_on, tee_marked;

	struct packhealth *ph;

	bool draining;
	int status;
	struct loop_timer drain_timer, final_timer;
	int64_t started_ms; /* wall clock, for event ids */
	uint64_t seq;
	uint64_t actions, fatals, events;
	struct progress progress_actions, progress_events; /* at -v */
	struct metric m_fatals, m_running;
} R;

static void check_end(void);
static void input_kick(void);
static void release_marker(void);

static double
read_u64(struct metric *m)
{
	return (double)*(const uint64_t *)m->ctx;
}

static double
read_size(struct metric *m)
{
	return (double)*(const size_t *)m->ctx;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return d;
}

static char *
envvar(const char *name, const char *value)
{
	char *s;

	if (asprintf(&s, "%s=%s", name, value) < 0)
		die(EXIT_INTERNAL, "out of memory");
	return s;
}

static void
now(int64_t *sec, int32_t *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = ts.tv_sec;
	*nsec = (int32_t)ts.tv_nsec;
}

/* --- the end ------------------------------------------------------------- */

static void
end(void)
{
	int status = R.status;

	loop_timer_stop(&R.drain_timer);
	loop_timer_stop(&R.final_timer);
	progress_end(&R.progress_actions);
	progress_end(&R.progress_events);
	if (status == EXIT_OK && flyte_lost(R.f) > 0)
		status = EXIT_CONNECT;
	linfo("%llu actions handled (%llu FATAL), %llu events posted, %llu "
	      "ack-only markers",
	    (unsigned long long)R.actions, (unsigned long long)R.fatals,
	    (unsigned long long)R.events, (unsigned long long)R.markers);
	loop_quit(status);
}

/*
 * Draining, is everything done: handlers, posts, --tee output?  When
 * only output is left, a mark says when it is written.
 */
static void
check_end(void)
{
	if (!R.draining || R.njobs > 0 || !flyte_idle(R.f))
		return;
	if (!R.tee_on || recout_idle(&R.tee))
		end();
	else if (!R.tee_marked) {
		R.tee_marked = true;
		recout_mark(&R.tee, 0);
	}
}

static void
input_stop(void)
{
	if (!R.reading)
		return;
	R.reading = false;
	if (R.o->input == PACKRUN_INPUT_CLOUDEVENTS)
		recin_stop(&R.in);
	else {
		R.lines_io.events = 0;
		loop_timer_stop(&R.lines_kick);
	}
}

/*
 * Stop taking work and finish what was taken: handlers run on (until
 * --drain-timeout), results and events already accepted are posted.
 * The first non-zero status is the one the tool exits with.
 */
static void
drain(int status)
{
	char dur[32];

	if (status != EXIT_OK && R.status == EXIT_OK)
		R.status = status;
	if (!R.draining) {
		R.draining = true;
		flyte_stop_polling(R.f);
		input_stop();
		loop_timer_in(&R.drain_timer, R.o->drain_timeout_ms);
		duration_format(dur, sizeof(dur), R.o->drain_timeout_ms);
		linfo("draining for up to %s: %zu handlers running, %zu "
		      "results and %zu events to post",
		    dur, R.njobs, flyte_pending(R.f, FLYTE_RESULT),
		    flyte_pending(R.f, FLYTE_EVENT));
	}
	check_end();
}

/*
 * --drain-timeout passed: stop the handlers (their results are FATAL);
 * every post gets one more attempt, bounded by the final timer.
 */
static void
drain_fire(struct loop_timer *t)
{
	struct job *j;
	int64_t grace = R.o->flyte.http.timeout_ms > 0 ?
	    R.o->flyte.http.timeout_ms :
	    10000;

	if (R.njobs > 0) {
		lwarn("drain timeout: stopping %zu handlers", R.njobs);
		grace += HANDLER_KILL_GRACE_MS;
	}
	for (j = R.jobs; j != NULL; j = j->next)
		handler_stop(j->h);
	flyte_last_call(R.f);
	loop_timer_in(&R.final_timer, grace + 1000);
	check_end();
}

/* The last chance passed: what is not posted now stays undelivered. */
static void
final_fire(struct loop_timer *t)
{
	flyte_give_up(R.f);
	end();
}

/* --- --tee ---------------------------------------------------------------- */

static void
tee_error(struct recout *o, int err, void *ctx)
{
	if (err == EPIPE) {
		linfo("stdout: reader went away");
		R.tee_on = false;
		drain(EXIT_OK);
		return;
	}
	lerr("stdout: %s", strerror(err));
	R.tee_on = false;
	drain(EXIT_IO);
}

static void
tee_drained(struct recout *o, void *ctx)
{
	flyte_kick(R.f);
	input_kick();
	check_end();
}

static void
tee_written(struct recout *o, uint64_t cookie, void *ctx)
{
	R.tee_marked = false;
	check_end();
}

static const struct recout_handlers tee_handlers = {
	.on_written = tee_written,
	.on_drain = tee_drained,
	.on_error = tee_error,
};

static bool
tee_full(void)
{
	return R.tee_on && recout_full(&R.tee);
}

/* --- actions ---------------------------------------------------------------
 */

static void
post_result(const char *url, const char *id, const char *command,
    const char *event, const char *payload)
{
	char *body, *meta;
	cJSON *m = cJSON_CreateObject();
	int64_t sec;
	int32_t nsec;

	now(&sec, &nsec);
	body = flyte_event_body(event, payload, sec, nsec);
	cJSON_AddStringToObject(m, "command", command);
	cJSON_AddStringToObject(m, "action", id);
	if ((meta = cJSON_PrintUnformatted(m)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	cJSON_Delete(m);
	flyte_post(R.f, FLYTE_RESULT, url, body, meta);
	free(body);
	free(meta);
}

static void
job_free(struct job *j)
{
	size_t i;

	if ((*j->prevp = j->next) != NULL)
		j->next->prevp = j->prevp;
	R.njobs--;
	for (i = 0; j->env[i] != NULL; i++)
		free(j->env[i]);
	free(j->url);
	free(j->id);
	free(j);
}

/* A handler ended: its outcome is the action's result. */
static void
handled(struct handler *h, const struct handler_result *r, void *ctx)
{
	struct job *j = ctx;
	struct packevent e;
	const char *last;

	if (packevent_from_handler(j->cmd, r, &e)) {
		linfo("action %s: %s: %s in %lld ms", j->id, j->cmd->name,
		    e.event, (long long)r->ms);
	} else {
		R.fatals++;
		last = strrchr(r->err_tail, '\n');
		last = last != NULL ? last + 1 : r->err_tail;
		lwarn("action %s: %s: %s%s%.200s%s", j->id, j->cmd->name,
		    e.error, *last != '\0' ? " (stderr: " : "", last,
		    *last != '\0' ? ")" : "");
	}
	post_result(j->url, j->id, j->cmd->name, e.event, e.payload);
	packevent_free(&e);
	job_free(j);
	flyte_kick(R.f);
	check_end();
}

static bool
want_action(struct flyte *f, void *ctx)
{
	return !R.draining && R.njobs < R.o->max_handlers &&
	    flyte_pending(f, FLYTE_RESULT) < R.o->max_handlers && !tee_full();
}

/* flyte.md 1.4: run the command's handler; unknown commands are FATAL. */
static void
on_action(struct flyte *f, const struct flyte_action *a, void *ctx)
{
	const struct pack_command *cmd = pack_command(R.o->pack, a->command);
	struct handler_spec spec;
	struct packevent e = { 0 };
	char err[256], *input;
	struct job *j;
	size_t n;

	R.actions++;
	progress_add(&R.progress_actions, 1);
	if (cmd == NULL) {
		R.fatals++;
		packevent_fatal(
		    &e, "no handler for command \"%s\"", a->command);
		lwarn("action %s: %s", a->id, e.error);
		post_result(
		    a->result_url, a->id, a->command, e.event, e.payload);
		packevent_free(&e);
		return;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	j->cmd = cmd;
	j->url = xstrdup(a->result_url);
	j->id = xstrdup(a->id);
	j->env[0] = envvar("FLYTE_PACK", R.o->pack->name);
	j->env[1] = envvar("FLYTE_COMMAND", cmd->name);
	j->env[2] = envvar("FLYTE_ACTION_URL", a->result_url);
	/* The input JSON, and a newline for read(1) and friends. */
	n = strlen(a->input);
	if ((input = malloc(n + 2)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	memcpy(input, a->input, n);
	input[n++] = '\n';
	spec = (struct handler_spec){ .name = cmd->name,
		.command = cmd->handler,
		.env = (const char *const *)j->env,
		.unset = R.unset,
		.input = input,
		.len = n,
		.timeout_ms = cmd->timeout_ms };
	if ((j->next = R.jobs) != NULL)
		R.jobs->prevp = &j->next;
	j->prevp = &R.jobs;
	R.jobs = j;
	R.njobs++;
	j->h = handler_start(&spec, handled, j, err, sizeof(err));
	free(input);
	if (j->h == NULL) {
		R.fatals++;
		packevent_fatal(&e, "cannot start the handler: %s", err);
		lerr("action %s: %s: %s", a->id, cmd->name, e.error);
		post_result(j->url, j->id, cmd->name, e.event, e.payload);
		packevent_free(&e);
		job_free(j);
	}
}

/* --- results and events posted ------------------------------------------- */

static void
on_posted(struct flyte *f, enum flyte_post_kind kind, const char *url,
    const char *body, const char *meta, bool delivered, void *ctx)
{
	CloudEvent *ev;

	if (delivered && kind == FLYTE_EVENT) {
		R.events++;
		progress_add(&R.progress_events, 1);
	}
	if (delivered && R.tee_on) {
		ev = packevent_tee(&R.arena, R.o->pack->id, url, body, meta);
		if (ev != NULL)
			recout_put(&R.tee, &ev->base);
		arena_reset(&R.arena);
	}
	if (kind == FLYTE_RESULT) {
		flyte_kick(f);
	} else {
		release_marker();
		input_kick();
	}
}

static void
on_forgotten(struct flyte *f, void *ctx)
{
	drain(EXIT_CONNECT);
}

static void
on_idle(struct flyte *f, void *ctx)
{
	check_end();
}

static const struct flyte_handlers flyte_handlers = {
	.want_action = want_action,
	.on_action = on_action,
	.on_posted = on_posted,
	.on_forgotten = on_forgotten,
	.on_idle = on_idle,
};

/* --- spontaneous events from standard input ------------------------------ */

static bool
input_blocked(void)
{
	return flyte_pending(R.f, FLYTE_EVENT) >= PACKRUN_EVENTS_PENDING ||
	    tee_full() || R.marker_held;
}

/*
 * The held marker goes to --tee once every event read before it is
 * posted (or given up, whose acks never reach --tee): its ack must not
 * run ahead of theirs (evpipe.7, ACK-ONLY MARKER).
 */
static void
release_marker(void)
{
	if (!R.marker_held || flyte_pending(R.f, FLYTE_EVENT) > 0)
		return;
	recout_put_bytes(&R.tee, R.marker.p, R.marker.len);
	R.marker_held = false;
}

static void
post_event(
    const struct packevent *e, int64_t sec, int32_t nsec, const char *ack)
{
	char id[64], *body, *meta;
	cJSON *m = cJSON_CreateObject();

	if (!pack_event_known(R.o->pack, e->event))
		ltrace("event %s is not declared by the pack", e->event);
	snprintf(id, sizeof(id), "%lld-%llu", (long long)R.started_ms,
	    (unsigned long long)++R.seq);
	body = flyte_event_body(e->event, e->payload, sec, nsec);
	cJSON_AddStringToObject(m, "id", id);
	if (ack != NULL)
		cJSON_AddStringToObject(m, "evpipeack", ack);
	if ((meta = cJSON_PrintUnformatted(m)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	cJSON_Delete(m);
	flyte_post(R.f, FLYTE_EVENT, NULL, body, meta);
	free(body);
	free(meta);
}

static int
on_record(struct recin *in, const uint8_t *bytes, size_t len,
    const CloudEvent *ev, void *ctx)
{
	struct packevent e;
	int64_t sec;
	int32_t nsec;

	if (strcmp(ev->type, ACK_ONLY_TYPE) == 0) {
		/* A dropped event's ack: nothing to post. */
		R.markers++;
		if (R.tee_on) {
			strbuf_reset(&R.marker);
			strbuf_add(&R.marker, bytes, len);
			R.marker_held = true;
			release_marker();
		}
		return input_blocked() ? RECIN_PAUSE : 0;
	}
	packevent_from_cloudevent(ev, &R.o->map, &e, &sec, &nsec);
	post_event(&e, sec, nsec, ce_get_string(ev, "evpipeack"));
	packevent_free(&e);
	return input_blocked() ? RECIN_PAUSE : 0;
}

static void
on_input_end(struct recin *in, int status, const char *why, void *ctx)
{
	R.reading = false;
	if (status == EXIT_OK) {
		linfo("stdin: end of input, after %llu events",
		    (unsigned long long)recin_count(in));
		if (R.o->exit_at_eof)
			drain(EXIT_OK);
		return;
	}
	lerr("%s: %s", in->name, why);
	drain(status);
}

static const struct recin_handlers in_handlers = {
	.on_record = on_record,
	.on_end = on_input_end,
};

/* Post the complete lines read so far, unless input is blocked. */
static void
post_lines(void)
{
	const char *p, *nl;
	char err[256];
	struct packevent e;
	size_t len, n;
	int64_t sec;
	int32_t nsec;

	while (R.reading) {
		if (input_blocked()) {
			R.lines_paused = true;
			return;
		}
		p = (const char *)inbuf_data(&R.lines);
		len = inbuf_len(&R.lines);
		nl = len > R.scanned ?
		    memchr(p + R.scanned, '\n', len - R.scanned) :
		    NULL;
		if (nl == NULL && !(R.lines.eof && len > 0)) {
			R.scanned = len;
			if (len >= R.lines.limit) {
				lerr("stdin: line %llu: longer than %zu bytes",
				    (unsigned long long)R.lineno + 1,
				    R.lines.limit);
				input_stop();
				drain(EXIT_DATA);
			} else if (R.lines.eof) {
				linfo("stdin: end of input, after %llu lines",
				    (unsigned long long)R.lineno);
				input_stop();
				if (R.o->exit_at_eof)
					drain(EXIT_OK);
			}
			return;
		}
		n = nl != NULL ? (size_t)(nl - p) : len;
		R.lineno++;
		R.scanned = 0;
		len = n;
		while (len > 0 && strchr(" \t\r", p[len - 1]) != NULL)
			len--;
		if (len > 0) {
			if (packevent_from_line(p, len, &e, err, sizeof(err)) <
			    0) {
				lerr("stdin: line %llu: %s",
				    (unsigned long long)R.lineno, err);
				input_stop();
				drain(EXIT_DATA);
				return;
			}
			now(&sec, &nsec);
			post_event(&e, sec, nsec, NULL);
			packevent_free(&e);
		}
		inbuf_consume(&R.lines, nl != NULL ? n + 1 : n);
	}
}

static void
lines_prepare(struct loop_io *io)
{
	io->events = R.reading && !R.lines_paused && !R.lines.eof ? POLLIN : 0;
}

static void
lines_ready(struct loop_io *io, short revents)
{
	if (inbuf_fill(&R.lines, inbuf_len(&R.lines) + 1) < 0) {
		logsys(LOG_ERROR, "stdin");
		input_stop();
		drain(EXIT_IO);
		return;
	}
	post_lines();
}

static void
lines_kicked(struct loop_timer *t)
{
	R.lines_paused = false;
	post_lines();
}

/* Posts went out or --tee drained: take more input if it waits. */
static void
input_kick(void)
{
	if (!R.reading || input_blocked())
		return;
	if (R.o->input == PACKRUN_INPUT_CLOUDEVENTS)
		recin_resume(&R.in);
	else if (R.lines_paused)
		loop_timer_in(&R.lines_kick, 0);
}

static void
input_open(void)
{
	if (R.o->input == PACKRUN_INPUT_NONE)
		return;
	if (isatty(STDIN_FILENO)) {
		linfo("stdin is a terminal: no events are read from it");
		return;
	}
	R.reading = true;
	if (R.o->input == PACKRUN_INPUT_CLOUDEVENTS) {
		recin_open(&R.in, STDIN_FILENO, "stdin", R.o->max_record,
		    &in_handlers, NULL);
		return;
	}
	inbuf_init(&R.lines, STDIN_FILENO, R.o->max_record);
	loop_timer_init(&R.lines_kick, lines_kicked, NULL);
	R.lines_io = (struct loop_io){ .fd = STDIN_FILENO,
		.prepare = lines_prepare,
		.ready = lines_ready };
	loop_io_add(&R.lines_io);
}

/* --- health ------------------------------------------------------------- */

/* LastPoll: healthy while polls succeed, or while there is no room. */
static bool
poll_health(char *buf, size_t len, void *ctx)
{
	const struct packrun_opts *o = R.o;
	struct flyte_status s;
	int64_t age, limit;
	char dur[32];

	flyte_status(R.f, &s);
	limit = o->flyte.poll_interval_ms * 10;
	if (limit < 30000)
		limit = 30000;
	limit += o->flyte.http.timeout_ms > 0 ? o->flyte.http.timeout_ms :
						10000;
	age = s.last_poll_ok > 0 ? loop_now() - s.last_poll_ok : -1;
	if (age >= 0)
		duration_format(dur, sizeof(dur), age);
	if (R.draining) {
		snprintf(buf, len, "shutting down");
		return false;
	}
	if (o->pack->ncommands == 0) {
		snprintf(buf, len, "the pack has no commands: no polling");
		return true;
	}
	if (!s.registered) {
		snprintf(buf, len, "not registered%s%s",
		    s.last_error ? ": " : " yet",
		    s.last_error ? s.last_error : "");
		return false;
	}
	if (age >= 0 && age <= limit) {
		snprintf(buf, len, "last poll %s ago", dur);
		return true;
	}
	if (!want_action(R.f, NULL)) {
		snprintf(buf, len, "busy: %zu handlers running", R.njobs);
		return true;
	}
	snprintf(buf, len, "no successful poll %s%s%s%s",
	    age >= 0 ? "for " : "yet", age >= 0 ? dur : "",
	    s.last_error ? ": " : "", s.last_error ? s.last_error : "");
	return false;
}

/* --- signals ---------------------------------------------------------------
 */

static void
on_signal(int signo, void *ctx)
{
	if (signo == SIGCHLD) {
		handler_reap();
		return;
	}
	linfo("%s: draining",
	    sigabbrev_np(signo) ? sigabbrev_np(signo) : "signal");
	drain(EXIT_OK);
}

/* --- the whole ------------------------------------------------------------ */

static int
start_health(void)
{
	const struct packrun_opts *o = R.o;
	char err[512];

	if (o->health_port == 0)
		return 0;
	R.ph = packhealth_start(o->health_addr,
	    o->health_port < 0 ? 0 : (uint16_t)o->health_port, o->pack, R.f,
	    (const char *const *)R.check_env, R.unset, poll_health, NULL, err,
	    sizeof(err));
	if (R.ph == NULL && o->health_required) {
		lerr("health server: %s", err);
		return -1;
	}
	if (R.ph == NULL)
		lwarn("health server: %s; running without it", err);
	else
		linfo("health: listening on %s port %u",
		    o->health_addr != NULL ? o->health_addr : "*",
		    (unsigned)packhealth_port(R.ph));
	return 0;
}

int
packrun(const struct packrun_opts *o)
{
	struct flyte_opts fo = o->flyte;
	struct timespec ts;
	char err[512], *body;
	int status;

	memset(&R, 0, sizeof(R));
	R.o = o;
	clock_gettime(CLOCK_REALTIME, &ts);
	R.started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	/* Handlers do not get the token (flyte.md 1.8: FLYTE_JWT). */
	R.unset[0] = "FLYTE_JWT";
	R.unset[1] = o->token_var;
	R.check_env[0] = envvar("FLYTE_PACK", o->pack->name);
	arena_init(&R.arena);
	loop_timer_init(&R.drain_timer, drain_fire, NULL);
	loop_timer_init(&R.final_timer, final_fire, NULL);

	if ((body = pack_registration(o->pack)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	fo.registration = body;
	fo.poll = o->pack->ncommands > 0;
	if ((R.f = flyte_open(&fo, &flyte_handlers, NULL, err, sizeof(err))) ==
	    NULL) {
		lerr("%s", err);
		free(body);
		return EXIT_IO;
	}
	sig_init(on_signal, NULL);
	sig_catch(SIGCHLD);
	if (start_health() < 0) {
		flyte_close(R.f);
		free(body);
		return EXIT_CONNECT;
	}
	if (o->tee) {
		recout_open(
		    &R.tee, STDOUT_FILENO, "stdout", &tee_handlers, NULL);
		R.tee_on = true;
	}
	input_open();
	linfo("pack %s (id %s): %zu command%s, up to %zu handler%s at once",
	    o->pack->name, o->pack->id, o->pack->ncommands,
	    o->pack->ncommands == 1 ? "" : "s", o->max_handlers,
	    o->max_handlers == 1 ? "" : "s");
	flyte_start(R.f);
	progress_start(&R.progress_actions, "actions handled");
	progress_start(&R.progress_events, "events posted");
	R.m_fatals = (struct metric){ .name = "actions_fatal_total",
		.help =
		    "Actions answered FATAL: no handler, or one that failed "
		    "or printed no valid event.",
		.type = METRIC_COUNTER,
		.read = read_u64,
		.ctx = &R.fatals };
	R.m_running = (struct metric){ .name = "handlers_running",
		.help = "Handlers running now.",
		.type = METRIC_GAUGE,
		.read = read_size,
		.ctx = &R.njobs };
	metric_register(&R.m_fatals);
	metric_register(&R.m_running);

	status = loop_run();
	progress_end(&R.progress_actions);
	progress_end(&R.progress_events);

	packhealth_stop(R.ph);
	while (R.jobs != NULL) {
		handler_stop(R.jobs->h);
		job_free(R.jobs);
	}
	flyte_close(R.f);
	http_cleanup();
	if (o->tee)
		recout_close(&R.tee);
	if (o->input == PACKRUN_INPUT_CLOUDEVENTS && R.in.h != NULL)
		recin_close(&R.in);
	else if (o->input == PACKRUN_INPUT_JSON_LINES && R.lines.p != NULL) {
		loop_io_del(&R.lines_io);
		inbuf_free(&R.lines);
	}
	arena_free(&R.arena);
	strbuf_free(&R.marker);
	free(R.check_env[0]);
	free(body);
	return status;
}
