#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackfifo.h"
#include "exitcode.h"
#include "frame.h"
#include "fwd.h"
#include "grpcwire.h"
#include "log.h"
#include "loop.h"
#include "outbuf.h"
#include "progress.h"
#include "recin.h"
#include "recout.h"
#include "sig.h"
#include "textformat.h"

struct fwd {
	struct fwd_opts o;
	struct gchannel *chan;
	const struct fwd_target *t;
	void *tctx;
	struct recin in;
	struct recout tee;
	bool tee_open;
	struct ackw ackw;
	int dead_fd;
	struct fwd_ev *head, *tail; /* the window, oldest first */
	uint64_t inflight; /* events in the window */
	size_t inflight_bytes;
	uint64_t delivered, skipped;
	bool input_done; /* stdin is over (or we stopped reading it) */
	bool draining; /* SIGTERM */
	bool failed;
	bool answered; /* the server ever answered */
	bool quitting;
	int status; /* the exit status so far */
	struct loop_timer drain, outwait, finish;
	struct progress progress; /* events delivered, at -v */
};

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

const struct fwd_opts *
fwd_opts(const struct fwd *f)
{
	return &f->o;
}

bool
fwd_failed(const struct fwd *f)
{
	return f->failed;
}

/* The window has room for another event (and stdout for its copy). */
static bool
room(const struct fwd *f)
{
	if (f->o.tee && recout_full(&f->tee))
		return false;
	return f->inflight < f->o.window &&
	    (f->inflight == 0 || f->inflight_bytes < FWD_WINDOW_BYTES);
}

static void
unlink_ev(struct fwd *f, struct fwd_ev *ev)
{
	if (ev->prev != NULL)
		ev->prev->next = ev->next;
	else
		f->head = ev->next;
	if (ev->next != NULL)
		ev->next->prev = ev->prev;
	else
		f->tail = ev->prev;
	f->inflight--;
	f->inflight_bytes -= ev->len;
}

static void
free_ev(struct fwd_ev *ev)
{
	free(ev->req);
	free(ev);
}

static void
resume_input(struct fwd *f)
{
	if (!f->input_done && !f->failed && room(f))
		recin_resume(&f->in);
}

/*
 * The server acknowledged ev: it is delivered.  Now, and not before,
 * it goes to --tee and its evpipeack to --acked-to (evpipe(7),
 * ACKNOWLEDGEMENT).
 */
void
fwd_delivered(struct fwd *f, struct fwd_ev *ev)
{
	unlink_ev(f, ev);
	f->delivered++;
	progress_add(&f->progress, 1);
	if (f->o.tee)
		recout_put_bytes(&f->tee, ev->body, ev->len);
	if (f->o.acked_to != NULL && ev->ack != NULL)
		ackw_put(&f->ackw, ev->ack);
	ltrace("record %llu delivered", (unsigned long long)ev->recno);
	free_ev(ev);
	resume_input(f);
	fwd_maybe_done(f);
}

void
fwd_answered(struct fwd *f)
{
	f->answered = true;
}

/* Write the events still in the window to --dead-letter, in input order. */
static void
dead_letter(struct fwd *f)
{
	struct outbuf out;
	uint64_t n = 0;
	struct fwd_ev *ev;

	if (f->head == NULL)
		return;
	if (f->dead_fd < 0) {
		lwarn("%llu event%s not delivered",
		    (unsigned long long)f->inflight,
		    f->inflight == 1 ? "" : "s");
		return;
	}
	outbuf_init(&out, f->dead_fd);
	for (ev = f->head; ev != NULL; ev = ev->next, n++)
		frame_put_bytes(&out, ev->body, ev->len);
	if (outbuf_drain(&out) < 0) {
		logsys(LOG_ERROR, "%s", f->o.dead_letter);
		if (f->status == EXIT_OK)
			f->status = EXIT_IO;
	} else {
		lwarn("%llu undelivered event%s written to %s",
		    (unsigned long long)n, n == 1 ? "" : "s", f->o.dead_letter);
	}
	outbuf_free(&out);
}

/*
 * Delivery failed for good: stop reading, cancel the calls, keep what
 * was not delivered in --dead-letter, exit with the status.  An
 * UNAVAILABLE from a server that never answered is a server we could
 * not reach (exit 69).
 */
void
fwd_fail(struct fwd *f, int code, const char *fmt, ...)
{
	struct fwd_ev *ev;
	char msg[1024];
	va_list ap;

	if (f->failed)
		return;
	f->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lerr("%s", msg);
	if (code == GRPC_UNAVAILABLE && !f->answered)
		code = EXIT_CONNECT;
	f->status = code;
	if (!f->input_done)
		recin_stop(&f->in);
	f->input_done = true;
	loop_timer_stop(&f->drain);
	f->t->abort(f->tctx);
	dead_letter(f);
	while ((ev = f->head) != NULL) {
		unlink_ev(f, ev);
		free_ev(ev);
	}
	fwd_maybe_done(f);
}

void
fwd_retry_init(struct fwd *f, struct retry *r,
    void (*open)(struct retry *, void *), void *ctx)
{
	retry_init(r, open, ctx);
	r->max = f->o.retries;
}

/*
 * A call of the target failed with st: schedule another attempt when
 * the status is worth one (retry.h) and attempts are left; else fail
 * everything.  Returns whether a retry is scheduled.
 */
bool
fwd_retry(
    struct fwd *f, struct retry *r, const struct gstatus *st, const char *what)
{
	char why[1200];

	snprintf(why, sizeof(why), "%s: %s: %s%s%s", f->o.url, what,
	    grpc_status_name(st->code), *st->message != '\0' ? ": " : "",
	    st->message);
	if (f->failed)
		return false;
	if (retry_transient(st->code) && retry_later(r, why)) {
		/* retry_later tells each one with -v; say the first anyway */
		if (r->failures == 1 && !logging(LOG_INFO))
			lwarn("%s; retrying", why);
		return true;
	}
	fwd_fail(f, st->code, "%s", why);
	return false;
}

/*
 * Start a call with the metadata every call carries (--header, the
 * token).  NULL when it could not even start: st says why (UNAVAILABLE).
 */
struct gcall *
fwd_call(struct fwd *f, const char *path, int64_t timeout_ms,
    const struct gcall_handlers *h, void *ctx, struct gstatus *st)
{
	static char msg[400];
	struct gmd md[FWD_MAX_HEADERS + 2];
	char err[300], bearer[4200];
	const char *tok = NULL;
	struct gcall *call;
	size_t n = 0, i;

	for (i = 0; i < f->o.nheaders; i++)
		md[n++] = f->o.headers[i];
	if (secret_isset(&f->o.token) &&
	    (tok = secret_get(&f->o.token, err, sizeof(err))) == NULL)
		lwarn("%s", err);
	if (tok != NULL && f->o.auth == AUTH_BEARER) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", tok);
		md[n++] = (struct gmd){ "authorization", bearer,
			strlen(bearer) };
	} else if (tok != NULL) {
		/* engflow.md 2.2: the pair the EngFlow client sends. */
		md[n++] = (struct gmd){ "x-engflow-auth-method", "jwt-v0", 6 };
		md[n++] = (struct gmd){ "x-engflow-auth-token", tok,
			strlen(tok) };
	}
	call = gcall_start(f->chan, path, md, n, timeout_ms, h, ctx);
	if (call == NULL) {
		snprintf(msg, sizeof(msg), "%s", gchannel_error(f->chan));
		st->code = GRPC_UNAVAILABLE;
		st->message = msg;
	}
	return call;
}

/*
 * --dry-run: what would be sent, in text format, on stdout: a comment
 * line with the method, then the request.
 */
void
fwd_dry_print(struct fwd *f, const char *path, const ProtobufCMessage *m)
{
	size_t len;
	char *s = textformat(m, &len);

	printf("# %s\n", path);
	fwrite(s, 1, len, stdout);
	free(s);
	if (fflush(stdout) == EOF && !f->failed) {
		if (errno == EPIPE) {
			f->failed = true; /* quiet: nobody reads */
			f->t->abort(f->tctx);
			loop_quit(f->status);
		} else {
			fwd_fail(f, EXIT_IO, "stdout: %s", strerror(errno));
		}
	}
}

/* ---- input ----------------------------------------------------------- */

static int
on_record(struct recin *r, const uint8_t *body, size_t len,
    const CloudEvent *ce, void *ctx)
{
	struct fwd *f = ctx;
	struct fwd_ev *ev;
	const char *ack = ce_get_string(ce, ACK_ATTR);
	size_t alen = ack != NULL ? strlen(ack) + 1 : 0;
	char err[512];
	int k;

	ev = xcalloc(1, sizeof(*ev) + len + alen);
	ev->recno = recin_count(r);
	ev->body = (uint8_t *)(ev + 1);
	memcpy(ev->body, body, len);
	ev->len = len;
	if (ack != NULL) {
		ev->ack = (char *)ev->body + len;
		memcpy(ev->ack, ack, alen);
	}
	ev->prev = f->tail;
	if (f->tail != NULL)
		f->tail->next = ev;
	else
		f->head = ev;
	f->tail = ev;
	f->inflight++;
	f->inflight_bytes += len;
	err[0] = '\0';
	k = f->t->take(f->tctx, ev, ce, err, sizeof(err));
	if (k == FWD_SKIP) {
		f->skipped++;
		ltrace("record %llu: %s", (unsigned long long)ev->recno,
		    *err != '\0' ? err : "nothing to send");
		fwd_delivered(f, ev);
	} else if (k == FWD_BAD) {
		unlink_ev(f, ev);
		free_ev(ev);
		/* evpipe(7): bad input stops it, after what came before. */
		lerr("%s: record %llu at byte %llu: %s", r->name,
		    (unsigned long long)recin_count(r),
		    (unsigned long long)r->fr.rec_off, err);
		if (f->status == EXIT_OK)
			f->status = EXIT_DATA;
		recin_stop(r);
		f->input_done = true;
		f->t->flush(f->tctx);
		fwd_maybe_done(f);
		return RECIN_PAUSE;
	}
	if (f->failed)
		return RECIN_PAUSE;
	return room(f) ? 0 : RECIN_PAUSE;
}

static void
on_input_end(struct recin *r, int status, const char *why, void *ctx)
{
	struct fwd *f = ctx;

	if (status != EXIT_OK) {
		lerr("%s: %s", r->name, why);
		if (f->status == EXIT_OK)
			f->status = status;
	} else {
		linfo("%s: end of input after %llu events", r->name,
		    (unsigned long long)recin_count(r));
	}
	f->input_done = true;
	if (!f->failed)
		f->t->flush(f->tctx);
	fwd_maybe_done(f);
}

static const struct recin_handlers in_handlers = {
	.on_record = on_record,
	.on_end = on_input_end,
};

/* ---- output: --tee -------------------------------------------------- */

static void
tee_drain(struct recout *o, void *ctx)
{
	resume_input(ctx);
}

static void
tee_error(struct recout *o, int err, void *ctx)
{
	struct fwd *f = ctx;

	if (err == EPIPE) {
		/* evpipe(7): a reader that went away is a quiet stop. */
		linfo("stdout: reader went away");
		f->o.tee = false;
		if (!f->input_done) {
			recin_stop(&f->in);
			f->input_done = true;
			f->t->flush(f->tctx);
		}
		fwd_maybe_done(f);
		return;
	}
	fwd_fail(f, EXIT_IO, "stdout: %s", strerror(err));
}

static const struct recout_handlers tee_handlers = {
	.on_drain = tee_drain,
	.on_error = tee_error,
};

/* ---- the end ---------------------------------------------------------- */

static bool
outputs_idle(struct fwd *f)
{
	return (!f->o.tee || recout_idle(&f->tee)) &&
	    (f->o.acked_to == NULL || ackw_idle(&f->ackw));
}

static void
quit(struct fwd *f)
{
	if (f->quitting)
		return;
	f->quitting = true;
	loop_timer_stop(&f->drain);
	loop_timer_stop(&f->outwait);
	progress_end(&f->progress);
	if (f->skipped > 0)
		linfo("%llu of them delivered without sending",
		    (unsigned long long)f->skipped);
	if (f->o.acked_to != NULL && outbuf_pending(&f->ackw.out) > 0)
		lwarn("%s: nobody reads it: acks not written (the source "
		      "will deliver those events again)",
		    f->o.acked_to);
	loop_quit(f->status);
}

/* Waiting for --tee and --acked-to to be written out. */
static void
outputs_check(struct loop_timer *t)
{
	struct fwd *f = t->ctx;

	if (outputs_idle(f))
		quit(f);
	else
		loop_timer_in(&f->outwait, 20);
}

/* Deferred from fwd_maybe_done: never inside a target's callback. */
static void
finish_fired(struct loop_timer *t)
{
	struct fwd *f = t->ctx;

	if (!f->failed && (f->head != NULL || !f->t->idle(f->tctx)))
		return;
	outputs_check(&f->outwait);
}

/*
 * Whether it is all over: the input is, and the window is empty and the
 * target idle (or delivery failed).  Targets call it when they become
 * idle without a delivery (a stream ended).
 */
void
fwd_maybe_done(struct fwd *f)
{
	if (f->input_done && !f->quitting && !loop_timer_armed(&f->finish))
		loop_timer_in(&f->finish, 0);
}

/*
 * --drain-timeout after SIGTERM: what is still not delivered will not
 * be.  Exit DEADLINE_EXCEEDED (evpipe(7)), the events in --dead-letter.
 */
static void
drain_expired(struct loop_timer *t)
{
	struct fwd *f = t->ctx;

	fwd_fail(f, GRPC_DEADLINE_EXCEEDED,
	    "drain timeout: %llu event%s not delivered",
	    (unsigned long long)f->inflight, f->inflight == 1 ? "" : "s");
}

/* SIGTERM, SIGINT: read no more, deliver what is in flight, exit. */
static void
on_signal(int signo, void *ctx)
{
	struct fwd *f = ctx;

	if (f->draining || f->failed)
		return;
	f->draining = true;
	linfo("signal %d: delivering %llu event%s in flight", signo,
	    (unsigned long long)f->inflight, f->inflight == 1 ? "" : "s");
	if (!f->input_done) {
		recin_stop(&f->in);
		f->input_done = true;
		f->t->flush(f->tctx);
	}
	if (f->o.drain_ms > 0)
		loop_timer_in(&f->drain, f->o.drain_ms);
	fwd_maybe_done(f);
}

/* ---- set-up ---------------------------------------------------------- */

/*
 * The engine, its channel and its output files; NULL with *status (a
 * usage error for TLS settings, EXIT_IO for files) and err set.
 */
struct fwd *
fwd_new(const struct fwd_opts *o, int *status, char *err, size_t errlen)
{
	struct fwd *f = xcalloc(1, sizeof(*f));

	f->o = *o;
	f->dead_fd = -1;
	*status = EXIT_USAGE;
	if (!o->dry_run &&
	    (f->chan = gchannel_new(&o->chan, err, errlen)) == NULL) {
		free(f);
		return NULL;
	}
	*status = EXIT_IO;
	if (o->dead_letter != NULL &&
	    (f->dead_fd = open(o->dead_letter,
		 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1) {
		snprintf(
		    err, errlen, "%s: %s", o->dead_letter, strerror(errno));
		gchannel_free(f->chan);
		free(f);
		return NULL;
	}
	if (o->acked_to != NULL &&
	    ackw_open(&f->ackw, o->acked_to, err, errlen) < 0) {
		if (f->dead_fd >= 0)
			close(f->dead_fd);
		gchannel_free(f->chan);
		free(f);
		return NULL;
	}
	loop_timer_init(&f->drain, drain_expired, f);
	loop_timer_init(&f->outwait, outputs_check, f);
	loop_timer_init(&f->finish, finish_fired, f);
	return f;
}

void
fwd_set_target(struct fwd *f, const struct fwd_target *t, void *ctx)
{
	f->t = t;
	f->tctx = ctx;
}

int
fwd_run(struct fwd *f)
{
	if (f->o.tee) {
		recout_open(&f->tee, STDOUT_FILENO, "stdout", &tee_handlers, f);
		f->tee_open = true;
	}
	recin_open(
	    &f->in, STDIN_FILENO, "stdin", f->o.max_record, &in_handlers, f);
	sig_init(on_signal, f);
	progress_start(&f->progress, "events delivered");
	return loop_run();
}

void
fwd_free(struct fwd *f)
{
	struct fwd_ev *ev;

	if (f == NULL)
		return;
	/* Calls first: the channel's end must find no handler to call. */
	if (f->t != NULL)
		f->t->abort(f->tctx);
	gchannel_free(f->chan);
	if (f->t != NULL)
		f->t->free(f->tctx);
	while ((ev = f->head) != NULL) {
		unlink_ev(f, ev);
		free_ev(ev);
	}
	recin_close(&f->in);
	if (f->tee_open)
		recout_close(&f->tee);
	if (f->o.acked_to != NULL)
		ackw_close(&f->ackw);
	if (f->dead_fd >= 0)
		close(f->dead_fd);
	secret_free(&f->o.token);
	free(f);
}
