/*
 * Keeping a token fresh (secret.h): its lifetime, the renewal schedule,
 * the command run in the background, and who waits for it.
 */
#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "loop.h"
#include "secret.h"
#include "xalloc.h"

#define TOKEN_OUT_MAX (64 * 1024) /* as secret.c reads */
#define TOKEN_COMMAND_MS 30000 /* a command that takes longer is killed */
#define TOKEN_REAP_MS 5 /* output ended, the process not yet */
#define TOKEN_RETRY_MAX_MS 5000 /* a renewal that failed, again */
#define TOKEN_RETRY_MIN_MS 100

/* The command running now. */
struct job {
	pid_t pid;
	struct loop_io io; /* its stdout */
	char *buf; /* TOKEN_OUT_MAX + 1 */
	size_t n;
	bool too_big;
	int64_t started; /* loop_now() */
};

struct token {
	struct secret *s;
	int64_t start_ms, exp_ms; /* lifetime, wall clock; exp -1: unknown */
	uint64_t generation; /* new values taken */
	unsigned failures; /* renewals in a row that brought nothing new */
	bool used; /* keep it fresh */
	struct loop_timer renew, reap, notify;
	struct job *job;
	struct secret_wait *waiters;
	void (*on_change)(void *);
	void *change_ctx;
};

static void arm(struct token *);
static void renew_fired(struct loop_timer *);
static void reap_fired(struct loop_timer *);

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fires in the loop round after a new value: tell the listener. */
static void
notify_fired(struct loop_timer *lt)
{
	struct token *t = lt->ctx;

	if (t->on_change != NULL)
		t->on_change(t->change_ctx);
}

static void learn(struct token *);

/*
 * The token state of s, made at its first use.  It points back at s, so
 * s must not be copied after that: options structs are copied into their
 * tools' state before the loop runs, and a copy made later would keep a
 * value that the next renewal frees.
 */
static struct token *
token_of(struct secret *s)
{
	struct token *t;

	if (s->tok != NULL) {
		if (s->tok->s != s)
			die(EXIT_INTERNAL, "%s: used through a copy", s->what);
		return s->tok;
	}
	t = xcalloc(1, sizeof(*t));
	t->s = s;
	t->exp_ms = -1;
	loop_timer_init(&t->renew, renew_fired, t);
	loop_timer_init(&t->reap, reap_fired, t);
	loop_timer_init(&t->notify, notify_fired, t);
	s->tok = t;
	if (s->value != NULL)
		learn(t);
	return t;
}

/* A new value: its lifetime, and when to renew it. */
static void
learn(struct token *t)
{
	struct secret *s = t->s;
	int64_t exp, iat, now = wall_ms();

	t->generation++;
	/* A lifetime from iat to exp; without iat, from now.  An iat after
	 * exp, or in our future, says nothing we can use. */
	jwt_claims(s->value, &exp, &iat);
	t->exp_ms = exp >= 0 ? exp * 1000 : -1;
	t->start_ms = iat >= 0 && iat * 1000 <= now && iat <= exp ? iat * 1000 :
								    now;
	if (t->exp_ms < 0 || t->exp_ms > now) {
		t->failures = 0;
		if (t->exp_ms >= 0)
			ltrace("%s: good for %lld ms", s->what,
			    (long long)(t->exp_ms - now));
	} else if (t->failures == 0) {
		t->failures = 1; /* expired already: try again, not at once */
	}
	arm(t);
}

void
token_took(struct secret *s, bool changed)
{
	struct token *t = s->tok;

	/* Before its first use (loading at start-up), token_of learns it. */
	if (t == NULL || !changed)
		return;
	learn(t);
	if (t->on_change != NULL)
		loop_timer_in(&t->notify, 0);
}

/* Whether a fresh value can be had at all (not a variable or argv). */
static bool
renewable(const struct secret *s)
{
	return s->kind == SECRET_COMMAND || s->kind == SECRET_FILE;
}

/*
 * When to renew: so that the new one is in hand before 4/5 of the
 * lifetime, start earlier by twice what the command took the last time
 * (and a little more), but not before 2/5 of it; after a failure, again
 * soon.
 */
static void
arm(struct token *t)
{
	int64_t now = wall_ms(), life, lead, left, due;

	loop_timer_stop(&t->renew);
	if (!t->used || t->job != NULL || !renewable(t->s) || t->exp_ms < 0)
		return;
	left = t->exp_ms - now;
	if (t->failures > 0) {
		due = left <= 0 ? TOKEN_RETRY_MAX_MS : left / 4;
		if (due > TOKEN_RETRY_MAX_MS)
			due = TOKEN_RETRY_MAX_MS;
		if (due < TOKEN_RETRY_MIN_MS)
			due = TOKEN_RETRY_MIN_MS;
		loop_timer_in(&t->renew, due);
		return;
	}
	life = t->exp_ms - t->start_ms;
	lead = (t->s->kind == SECRET_COMMAND ? 2 * t->s->run_ms : 0) +
	    life / 50;
	if (lead > life * 2 / 5)
		lead = life * 2 / 5;
	due = t->start_ms + life * 4 / 5 - lead;
	loop_timer_in(&t->renew, due > now ? due - now : 0);
}

/* A renewal ended (well or not): everyone waiting goes on. */
static void
wake(struct token *t)
{
	struct secret_wait *w;

	while ((w = t->waiters) != NULL) {
		t->waiters = w->next_;
		w->next_ = NULL;
		w->queued_ = false;
		w->fn(w->ctx);
	}
}

static void
job_free(struct token *t)
{
	struct job *j = t->job;

	if (j == NULL)
		return;
	loop_timer_stop(&t->reap);
	if (j->io.fd >= 0) {
		loop_io_del(&j->io);
		close(j->io.fd);
	}
	explicit_bzero(j->buf, TOKEN_OUT_MAX + 1);
	free(j->buf);
	free(j);
	t->job = NULL;
}

/* The command is over (status st, or failed to run: why). */
static void
job_done(struct token *t, int st, const char *why)
{
	struct job *j = t->job;
	uint64_t gen = t->generation;
	unsigned before = t->failures;
	char err[400];
	bool expired;
	int r = -1;

	t->s->run_ms = loop_now() - j->started;
	if (why != NULL)
		snprintf(err, sizeof(err), "%s", why);
	else
		r = secret_command_done(
		    t->s, st, j->buf, j->n, err, sizeof(err));
	job_free(t);
	expired = r == 0 && t->exp_ms >= 0 && t->exp_ms <= wall_ms();
	if (r == 0 && t->generation != gen && !expired) {
		linfo("%s: renewed (the command took %lld ms)", t->s->what,
		    (long long)t->s->run_ms);
	} else {
		if (r == 0)
			snprintf(err, sizeof(err), "%s command %s: %s",
			    t->s->what, t->s->source,
			    expired ? "the token has expired" :
				      "the same token again");
		t->failures = before + 1;
		/* The first of a row is worth a warning, the others -v; a
		 * command that caches its token may give the same one. */
		if (before == 0 && (r < 0 || expired))
			lwarn("%s (keeping the last token)", err);
		else
			linfo("%s (keeping the last token)", err);
	}
	arm(t);
	wake(t);
}

/* Try to collect the exited command; else look again shortly. */
static void
reap(struct token *t)
{
	struct job *j = t->job;
	pid_t r;
	int st;

	while ((r = waitpid(j->pid, &st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == j->pid) {
		job_done(t, st, NULL);
		return;
	}
	if (r == -1) {
		job_done(t, 0, "token command: lost track of it");
		return;
	}
	if (loop_now() - j->started >= TOKEN_COMMAND_MS) {
		char why[300];

		kill(j->pid, SIGKILL);
		while (waitpid(j->pid, &st, 0) == -1 && errno == EINTR)
			;
		snprintf(why, sizeof(why), "%s command %s: no answer in %d s",
		    t->s->what, t->s->source, TOKEN_COMMAND_MS / 1000);
		job_done(t, st, why);
		return;
	}
	loop_timer_in(&t->reap, TOKEN_REAP_MS);
}

/* Fires while the command waits to be collected, or runs too long. */
static void
reap_fired(struct loop_timer *lt)
{
	reap(lt->ctx);
}

/* Fires when the command's stdout has bytes or is closed. */
static void
job_readable(struct loop_io *io, short revents)
{
	struct token *t = io->ctx;
	struct job *j = t->job;
	ssize_t n;

	for (;;) {
		if (j->n == TOKEN_OUT_MAX) {
			j->too_big = true;
			break;
		}
		n = read(io->fd, j->buf + j->n, TOKEN_OUT_MAX - j->n);
		if (n > 0) {
			j->n += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break; /* EOF or an error: the output is over */
	}
	loop_io_del(&j->io);
	close(j->io.fd);
	j->io.fd = -1;
	if (j->too_big) {
		char why[300];
		int st;

		kill(j->pid, SIGKILL);
		while (waitpid(j->pid, &st, 0) == -1 && errno == EINTR)
			;
		snprintf(why, sizeof(why), "%s command %s: more than %d bytes",
		    t->s->what, t->s->source, TOKEN_OUT_MAX);
		job_done(t, st, why);
		return;
	}
	reap(t);
}

/* Start renewing now, in the background (nothing when under way). */
static void
start(struct token *t)
{
	struct secret *s = t->s;
	uint64_t gen = t->generation;
	char err[300];
	struct job *j;
	int fd;

	if (t->job != NULL)
		return;
	loop_timer_stop(&t->renew);
	if (s->kind == SECRET_FILE) {
		/* Quick enough to do now: read it if it changed. */
		secret_get(s, err, sizeof(err));
		if (t->generation == gen)
			t->failures++;
		arm(t);
		return;
	}
	if (s->kind != SECRET_COMMAND)
		return;
	j = xcalloc(1, sizeof(*j));
	j->buf = xmalloc(TOKEN_OUT_MAX + 1);
	j->started = loop_now();
	j->io.fd = -1;
	t->job = j;
	if (secret_spawn(s, &j->pid, &fd, err, sizeof(err)) < 0) {
		job_done(t, 0, err);
		return;
	}
	ltrace("%s: running the command for a new one", s->what);
	j->io = (struct loop_io){
		.fd = fd, .events = POLLIN, .ready = job_readable, .ctx = t
	};
	loop_io_add(&j->io);
	loop_timer_in(&t->reap, TOKEN_COMMAND_MS);
}

/* Fires at the renewal time (arm). */
static void
renew_fired(struct loop_timer *lt)
{
	start(lt->ctx);
}

void
token_use(struct secret *s)
{
	struct token *t;

	if (s->kind == SECRET_NONE)
		return;
	t = token_of(s);
	if (t->used)
		return;
	t->used = true;
	arm(t);
}

static void
enqueue(struct token *t, struct secret_wait *w)
{
	if (w->queued_)
		return;
	w->queued_ = true;
	w->next_ = t->waiters;
	t->waiters = w;
}

/* At least 1/5 of the lifetime left (or an unknown lifetime). */
static bool
fresh(const struct token *t)
{
	int64_t left;

	if (t->s->value == NULL)
		return false;
	if (t->exp_ms < 0)
		return true;
	left = t->exp_ms - wall_ms();
	return left * 5 >= t->exp_ms - t->start_ms && left > 0;
}

bool
secret_ready(struct secret *s, struct secret_wait *w)
{
	struct token *t;
	char err[300];

	if (s->kind == SECRET_NONE)
		return true;
	token_use(s);
	t = s->tok;
	if (s->kind == SECRET_FILE && !fresh(t))
		secret_get(s, err, sizeof(err)); /* changed meanwhile? */
	if (fresh(t) || s->kind != SECRET_COMMAND)
		return true;
	start(t);
	if (t->job == NULL)
		return true; /* it could not even start: said so */
	enqueue(t, w);
	return false;
}

void
secret_wait_cancel(struct secret *s, struct secret_wait *w)
{
	struct secret_wait **p;

	if (!w->queued_ || s->tok == NULL)
		return;
	for (p = &s->tok->waiters; *p != NULL; p = &(*p)->next_)
		if (*p == w) {
			*p = w->next_;
			break;
		}
	w->next_ = NULL;
	w->queued_ = false;
}

bool
secret_renew(struct secret *s, struct secret_wait *w)
{
	struct token *t;

	if (s->kind == SECRET_NONE || !renewable(s))
		return true;
	token_use(s);
	t = s->tok;
	start(t);
	if (t->job == NULL)
		return true; /* a file, read now */
	if (w != NULL)
		enqueue(t, w);
	return false;
}

void
secret_on_change(struct secret *s, void (*fn)(void *), void *ctx)
{
	struct token *t;

	if (s->kind == SECRET_NONE)
		return;
	t = token_of(s);
	t->on_change = fn;
	t->change_ctx = ctx;
	if (fn == NULL)
		loop_timer_stop(&t->notify);
}

int64_t
secret_expires_ms(const struct secret *s)
{
	return s->tok != NULL && s->value != NULL ? s->tok->exp_ms : -1;
}

void
token_free(struct secret *s)
{
	struct token *t = s->tok;
	int st;

	if (t == NULL)
		return;
	if (t->job != NULL) {
		kill(t->job->pid, SIGKILL);
		while (waitpid(t->job->pid, &st, 0) == -1 && errno == EINTR)
			;
		job_free(t);
	}
	loop_timer_stop(&t->renew);
	loop_timer_stop(&t->notify);
	t->waiters = NULL;
	free(t);
	s->tok = NULL;
}
