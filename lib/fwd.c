#include "config.h"

#include <sys/stat.h>

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
#include "fwdwin.h"
#include "grpcwire.h"
#include "log.h"
#include "metrics.h"
#include "loop.h"
#include "outbuf.h"
#include "progress.h"
#include "recin.h"
#include "recout.h"
#include "sig.h"
#include "textformat.h"

/* --dead-letter: sync at least once per this many bytes written */
#define DEAD_SYNC_BYTES (1024u * 1024)

/* What becomes of the rest of stdin after a final failure. */
enum rest { REST_NONE, REST_SAVE, REST_COUNT };

struct fwd {
	struct fwd_opts o;
	struct gchannel *chan;
	const struct fwd_target *t;
	void *tctx;
	struct recin in;
	struct recout tee;
	bool tee_open;
	struct ackw ackw;
	struct fwdwin win;
	struct {
		int fd; /* -1: no --dead-letter */
		struct outbuf out; /* written, not yet synced */
		bool broken; /* a write failed: nothing more goes there */
		struct loop_timer sync;
		char *acks; /* evpipeacks of the rest of stdin, until synced */
		size_t alen, acap;
	} dead;
	uint64_t delivered, passed, unsendable;
	uint64_t dead_letters; /* records written to --dead-letter */
	uint64_t undelivered; /* at the failure, in the window */
	uint64_t unread_from; /* the first record not taken, at the failure */
	uint64_t rest; /* records of stdin after the failure */
	enum rest rest_mode;
	bool rest_cut; /* SIGTERM stopped it before the end */
	bool input_done; /* stdin is over (or we stopped reading it) */
	bool draining; /* SIGTERM */
	bool failed; /* delivery is over: fwd_fail() or a quiet stop */
	bool quiet; /* ... a quiet stop: nobody reads --dry-run */
	bool aborted; /* the target was stopped after the failure */
	bool answered; /* the server ever answered */
	bool quitting;
	int status; /* the exit status so far */
	struct loop_timer drain, outwait, finish, abort;
	struct progress progress; /* events delivered, at -v */
	struct metric m_delivered, m_passed, m_unsendable, m_dead, m_window;
	struct metric m_last;
};

static void dead_sync(struct fwd *);

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
	return f->win.n < f->o.window &&
	    (f->win.n == 0 || f->win.bytes < FWD_WINDOW_BYTES);
}

static void
resume_input(struct fwd *f)
{
	if (!f->input_done && !f->failed && room(f))
		recin_resume(&f->in);
}

static const char *
plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

/*
 * Let the handled prefix of the window go, in input order: each
 * event's --tee copy (when it was delivered or passed over) and its
 * evpipeack go out now, and not before (evpipe(7), ACKNOWLEDGEMENT).
 * The acks are queued here and written together when the FIFO takes
 * them.
 */
static void
release(struct fwd *f)
{
	struct fwd_ev *ev;

	while ((ev = fwdwin_release(&f->win)) != NULL) {
		if (ev->pass && f->o.tee)
			recout_put_bytes(&f->tee, ev->body, ev->len);
		if (f->o.acked_to != NULL && ev->ack != NULL)
			ackw_put(&f->ackw, ev->ack);
		free(ev->req);
		free(ev);
	}
	resume_input(f);
	fwd_maybe_done(f);
}

/*
 * The server acknowledged ev: it is delivered (it may still wait in
 * the window for events read before it).  After a failure the window
 * is settled and this changes nothing: what was not delivered then is
 * in --dead-letter already, or counted as lost.
 */
void
fwd_delivered(struct fwd *f, struct fwd_ev *ev)
{
	if (f->failed || ev->state != FWD_EV_PENDING)
		return;
	ev->pass = true;
	f->delivered++;
	metric_set_now(&f->m_last);
	progress_add(&f->progress, 1);
	ltrace("record %llu delivered", (unsigned long long)ev->recno);
	fwdwin_handled(&f->win, ev);
	release(f);
}

void
fwd_answered(struct fwd *f)
{
	f->answered = true;
}

/* ---- --dead-letter -------------------------------------------------- */

static bool
dead_usable(const struct fwd *f)
{
	return f->dead.fd >= 0 && !f->dead.broken;
}

/* Sync what was written, soon: once per loop round at most. */
static void
dead_later(struct fwd *f)
{
	if (!loop_timer_armed(&f->dead.sync))
		loop_timer_in(&f->dead.sync, 0);
}

static void
dead_sync_fired(struct loop_timer *t)
{
	dead_sync(t->ctx);
}

/* ev goes to --dead-letter; it is handled once the file is synced. */
static void
dead_put(struct fwd *f, struct fwd_ev *ev)
{
	frame_put_bytes(&f->dead.out, ev->body, ev->len);
	f->dead_letters++;
	fwdwin_saving(&f->win, ev);
	dead_later(f);
}

/* Keep an ack of the rest of stdin until its record is synced. */
static void
dead_ack(struct fwd *f, const char *ack)
{
	size_t n = strlen(ack) + 1;

	if (f->dead.alen + n > f->dead.acap) {
		f->dead.acap = f->dead.acap > 0 ? 2 * f->dead.acap : 4096;
		while (f->dead.alen + n > f->dead.acap)
			f->dead.acap *= 2;
		if ((f->dead.acks = realloc(f->dead.acks, f->dead.acap)) ==
		    NULL)
			die(EXIT_INTERNAL, "out of memory");
	}
	memcpy(f->dead.acks + f->dead.alen, ack, n);
	f->dead.alen += n;
}

/*
 * Write what waits for --dead-letter and fsync it: only then are those
 * events saved, and so handled; their acks follow, the window's
 * first (they were read first).  A file that cannot be written ends
 * delivery (exit 74); its events count as not delivered.
 */
static void
dead_sync(struct fwd *f)
{
	struct fwd_ev *ev;
	size_t off;
	int err;

	loop_timer_stop(&f->dead.sync);
	if (!dead_usable(f))
		return;
	if (outbuf_drain(&f->dead.out) < 0 ||
	    (fsync(f->dead.fd) < 0 && errno != EINVAL)) {
		err = errno;
		f->dead.broken = true;
		outbuf_discard(&f->dead.out);
		f->dead.alen = 0;
		if (f->failed)
			lerr("%s: %s", f->o.dead_letter, strerror(err));
		else
			fwd_fail(f, EXIT_IO, "%s: %s", f->o.dead_letter,
			    strerror(err));
		if (f->rest_mode == REST_SAVE && !f->input_done) {
			recin_stop(&f->in);
			f->input_done = true;
			f->rest_cut = true;
		}
		fwd_maybe_done(f);
		return;
	}
	for (ev = f->win.head; ev != NULL; ev = ev->next)
		if (ev->state == FWD_EV_SAVING)
			fwdwin_handled(&f->win, ev);
	release(f);
	if (f->o.acked_to != NULL)
		for (off = 0; off < f->dead.alen;
		     off += strlen(f->dead.acks + off) + 1)
			ackw_put(&f->ackw, f->dead.acks + off);
	f->dead.alen = 0;
}

static bool
dead_unsynced(const struct fwd *f)
{
	return dead_usable(f) &&
	    (outbuf_pending(&f->dead.out) > 0 ||
		loop_timer_armed(&f->dead.sync));
}

/* ---- the end of delivery ------------------------------------------- */

/* Deferred from fwd_fail: never inside the target's own code. */
static void
abort_fired(struct loop_timer *t)
{
	struct fwd *f = t->ctx;

	f->t->abort(f->tctx);
	f->aborted = true;
	fwd_maybe_done(f);
}

static bool
stdin_is_file(void)
{
	struct stat st;

	return fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Delivery failed for good: cancel the calls, and keep what was not
 * delivered in --dead-letter, in input order: the window's events,
 * then the rest of stdin, read to its end.  Saved there, they are
 * handled, and acknowledged (forward(1) says why).  Without
 * --dead-letter nothing more is acknowledged and stdin is left (a
 * regular file is read on, to say how much was left).  The exit
 * status is code; an UNAVAILABLE from a server that never answered is
 * a server we could not reach (exit 69).
 *
 * Only marks and schedules: the caller may be a target's callback that
 * goes on using its state until it returns.
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
	loop_timer_stop(&f->drain);
	for (ev = f->win.head; ev != NULL; ev = ev->next)
		if (ev->state == FWD_EV_PENDING) {
			f->undelivered++;
			if (dead_usable(f))
				dead_put(f, ev);
		} else if (ev->state == FWD_EV_SAVING && !dead_usable(f)) {
			f->undelivered++; /* its save failed */
		}
	if (!f->input_done) {
		f->unread_from = recin_count(&f->in) + 1;
		if (dead_usable(f))
			f->rest_mode = REST_SAVE;
		else if (!f->o.dry_run && stdin_is_file())
			f->rest_mode = REST_COUNT;
		if (f->rest_mode != REST_NONE) {
			if (f->rest_mode == REST_SAVE)
				linfo("%s: the rest of stdin goes there too",
				    f->o.dead_letter);
			recin_resume(&f->in);
		} else {
			recin_stop(&f->in);
			f->input_done = true;
		}
	}
	loop_timer_in(&f->abort, 0);
}

/*
 * Nobody reads stdout any more (--dry-run): stop as quietly as a
 * pipeline expects (evpipe(7)); what was not written is not handled.
 */
static void
stop_quietly(struct fwd *f)
{
	if (f->failed)
		return;
	f->failed = f->quiet = true;
	loop_timer_stop(&f->drain);
	if (!f->input_done) {
		recin_stop(&f->in);
		f->input_done = true;
	}
	loop_timer_in(&f->abort, 0);
}

/* A record of stdin after the failure: to --dead-letter, or counted. */
static int
rest_record(
    struct fwd *f, const uint8_t *body, size_t len, const CloudEvent *ce)
{
	const char *ack;

	f->rest++;
	if (f->rest_mode != REST_SAVE)
		return 0;
	frame_put_bytes(&f->dead.out, body, len);
	f->dead_letters++;
	if (f->o.acked_to != NULL &&
	    (ack = ce_get_string(ce, ACK_ATTR)) != NULL)
		dead_ack(f, ack);
	if (outbuf_pending(&f->dead.out) >= DEAD_SYNC_BYTES ||
	    f->dead.alen >= DEAD_SYNC_BYTES)
		dead_sync(f);
	else
		dead_later(f);
	return f->input_done ? RECIN_PAUSE : 0;
}

void
fwd_retry_init(struct fwd *f, struct retry *r,
    void (*open)(struct retry *, void *), void *ctx)
{
	retry_init(r, open, ctx);
	r->max = f->o.retries;
	r->own.peer = f->o.url;
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

	if (f->failed)
		return false;
	snprintf(why, sizeof(why), "%s: %s: %s%s%s", f->o.url, what,
	    grpc_status_name(st->code), *st->message != '\0' ? ": " : "",
	    st->message);
	if (retry_transient(st->code) && retry_later(r, why))
		return true;
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

	if (f->failed) {
		st->code = GRPC_CANCELLED;
		st->message = "delivery has stopped";
		return NULL;
	}
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
	char *s;

	if (f->failed)
		return;
	s = textformat(m, &len);
	printf("# %s\n", path);
	fwrite(s, 1, len, stdout);
	free(s);
	if (fflush(stdout) == EOF) {
		if (errno == EPIPE)
			stop_quietly(f);
		else
			fwd_fail(f, EXIT_IO, "stdout: %s", strerror(errno));
	}
}

/* ---- input ----------------------------------------------------------- */

/* The input stops at a record it cannot take, after those before it. */
static void
bad_record(struct fwd *f, struct recin *r, const char *err)
{
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
}

/*
 * An event the protocol has nothing to deliver for (forward(1),
 * --unsendable): not bad input; passed over or saved, it is handled
 * like any other, in input order.
 */
static bool
unsendable(struct fwd *f, struct recin *r, struct fwd_ev *ev, const char *why)
{
	f->unsendable++;
	switch (f->o.unsendable) {
	case FWD_UNSENDABLE_FAIL:
		fwdwin_remove(&f->win, ev);
		free(ev);
		bad_record(f, r, why);
		return false;
	case FWD_UNSENDABLE_DEAD_LETTER:
		linfo("record %llu: %s: nothing to deliver; to %s",
		    (unsigned long long)ev->recno, why, f->o.dead_letter);
		dead_put(f, ev);
		return true;
	default:
		linfo("record %llu: %s: nothing to deliver; passed over",
		    (unsigned long long)ev->recno, why);
		ev->pass = true;
		fwdwin_handled(&f->win, ev);
		release(f);
		return true;
	}
}

static int
on_record(struct recin *r, const uint8_t *body, size_t len,
    const CloudEvent *ce, void *ctx)
{
	struct fwd *f = ctx;
	struct fwd_ev *ev;
	const char *ack;
	size_t alen;
	uint64_t recno = recin_count(r);
	char err[512];
	int k;

	if (f->failed)
		return rest_record(f, body, len, ce);
	ack = ce_get_string(ce, ACK_ATTR);
	alen = ack != NULL ? strlen(ack) + 1 : 0;
	ev = xcalloc(1, sizeof(*ev) + len + alen);
	ev->recno = recno;
	ev->body = (uint8_t *)(ev + 1);
	memcpy(ev->body, body, len);
	ev->len = len;
	if (ack != NULL) {
		ev->ack = (char *)ev->body + len;
		memcpy(ev->ack, ack, alen);
	}
	/* In the window first: the target may deliver it before it returns. */
	fwdwin_push(&f->win, ev);
	if (strcmp(ce->type, ACK_ONLY_TYPE) == 0) {
		/* evpipe.7, ACK-ONLY MARKER: handled, nothing to deliver. */
		ltrace(
		    "record %llu: ack-only marker", (unsigned long long)recno);
		ev->pass = true;
		fwdwin_handled(&f->win, ev);
		release(f);
		return room(f) ? 0 : RECIN_PAUSE;
	}
	err[0] = '\0';
	k = f->t->take(f->tctx, ev, ce, err, sizeof(err));
	if (k == FWD_SKIP) {
		f->passed++;
		ltrace("record %llu: %s; passed over",
		    (unsigned long long)recno,
		    *err != '\0' ? err : "nothing to send");
		ev->pass = true;
		fwdwin_handled(&f->win, ev);
		release(f);
	} else if (k == FWD_UNSENDABLE) {
		if (!unsendable(f, r, ev, err))
			return RECIN_PAUSE;
	} else if (k == FWD_BAD) {
		fwdwin_remove(&f->win, ev);
		free(ev);
		bad_record(f, r, err);
		return RECIN_PAUSE;
	}
	if (f->failed)
		return f->rest_mode != REST_NONE ? 0 : RECIN_PAUSE;
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
	if (f->failed)
		dead_sync(f);
	else
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
			if (!f->failed)
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

/* What became of the events that were not delivered, on stderr. */
static void
report(struct fwd *f)
{
	uint64_t n = f->undelivered, from = f->unread_from;

	if (f->passed > 0)
		linfo("%llu event%s passed over: nothing to send",
		    (unsigned long long)f->passed, plural(f->passed));
	if (f->unsendable > 0)
		linfo("%llu event%s with nothing to deliver for --protocol %s "
		      "%s",
		    (unsigned long long)f->unsendable, plural(f->unsendable),
		    f->t->name,
		    f->o.unsendable == FWD_UNSENDABLE_DEAD_LETTER ?
			"written to --dead-letter" :
			"passed over");
	if (!f->failed || f->quiet || (f->o.dry_run && f->dead.fd < 0))
		return;
	if (f->rest_mode == REST_SAVE) {
		n += f->rest; /* the rest of stdin read so far */
		from += f->rest;
	}
	if (dead_usable(f)) {
		if (f->rest_cut)
			lwarn("%llu event%s not delivered, written to %s; "
			      "stdin left unread from record %llu",
			    (unsigned long long)n, plural(n), f->o.dead_letter,
			    (unsigned long long)from);
		else
			lwarn("%llu event%s not delivered, written to %s",
			    (unsigned long long)n, plural(n), f->o.dead_letter);
	} else if (f->rest_mode == REST_COUNT && !f->rest_cut) {
		lwarn("%llu event%s not delivered, and %llu left unread on "
		      "stdin from record %llu",
		    (unsigned long long)n, plural(n),
		    (unsigned long long)f->rest,
		    (unsigned long long)f->unread_from);
	} else if (from > 0) {
		lwarn("%llu event%s not delivered; stdin left unread from "
		      "record %llu",
		    (unsigned long long)n, plural(n), (unsigned long long)from);
	} else {
		lwarn("%llu event%s not delivered", (unsigned long long)n,
		    plural(n));
	}
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
	report(f);
	if (f->o.acked_to != NULL)
		ackw_warn_unwritten(&f->ackw);
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

/*
 * Deferred from fwd_maybe_done: never inside a target's callback.
 * Done when every event read is handled and the target idle; after a
 * failure, when the target is stopped, the input read as far as it
 * will be and --dead-letter synced.
 */
static void
finish_fired(struct loop_timer *t)
{
	struct fwd *f = t->ctx;

	if (f->failed) {
		if (!f->aborted || !f->input_done || dead_unsynced(f))
			return;
	} else if (f->win.n > 0 || !f->t->idle(f->tctx)) {
		return;
	}
	outputs_check(&f->outwait);
}

/*
 * Whether it is all over (see finish_fired).  Targets call it when
 * they become idle without a delivery (a stream ended).
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
	    (unsigned long long)f->win.pending, plural(f->win.pending));
}

/*
 * SIGTERM, SIGINT: read no more, deliver what is in flight, exit.
 * After a failure: stop saving the rest of stdin in --dead-letter.
 */
static void
on_signal(int signo, void *ctx)
{
	struct fwd *f = ctx;

	if (f->failed && !f->input_done) {
		linfo("signal %d: reading no more", signo);
		recin_stop(&f->in);
		f->input_done = true;
		f->rest_cut = true;
		dead_sync(f);
		fwd_maybe_done(f);
		return;
	}
	if (f->draining || f->failed)
		return;
	f->draining = true;
	linfo("signal %d: delivering %llu event%s in flight", signo,
	    (unsigned long long)f->win.pending, plural(f->win.pending));
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

static double
read_u64(struct metric *m)
{
	return (double)*(const uint64_t *)m->ctx;
}

/* evpipe(7), METRICS: read when shown, nothing to do per event. */
static void
metrics_open(struct fwd *f)
{
	f->m_delivered = (struct metric){ .name = "events_delivered_total",
		.help = "Events the server acknowledged.",
		.read = read_u64,
		.ctx = &f->delivered };
	f->m_passed = (struct metric){ .name = "events_passed_over_total",
		.help = "Events the protocol sends nothing for (lifecycle "
			"events without --lifecycle, ...), handled at once.",
		.read = read_u64,
		.ctx = &f->passed };
	f->m_unsendable = (struct metric){ .name = "events_unsendable_total",
		.help = "Well-formed events the protocol cannot deliver "
			"(--unsendable).",
		.read = read_u64,
		.ctx = &f->unsendable };
	f->m_dead = (struct metric){ .name = "dead_letters_total",
		.help = "Records written to --dead-letter.",
		.read = read_u64,
		.ctx = &f->dead_letters };
	f->m_window = (struct metric){ .name = "events_in_flight",
		.help = "Events read and not yet handled.",
		.type = METRIC_GAUGE,
		.read = read_u64,
		.ctx = &f->win.pending };
	f->m_last = (struct metric){ .name = "last_delivery_timestamp_seconds",
		.help = "When the server last acknowledged an event.",
		.type = METRIC_GAUGE };
	metric_register(&f->m_delivered);
	metric_register(&f->m_passed);
	metric_register(&f->m_unsendable);
	metric_register(&f->m_dead);
	metric_register(&f->m_window);
	metric_register(&f->m_last);
}

static void
metrics_close(struct fwd *f)
{
	metric_unregister(&f->m_delivered);
	metric_unregister(&f->m_passed);
	metric_unregister(&f->m_unsendable);
	metric_unregister(&f->m_dead);
	metric_unregister(&f->m_window);
	metric_unregister(&f->m_last);
}

/*
 * The engine, its channel and its output files; NULL with *status (a
 * usage error for TLS settings, EXIT_IO for files) and err set.
 */
struct fwd *
fwd_new(const struct fwd_opts *o, int *status, char *err, size_t errlen)
{
	struct fwd *f = xcalloc(1, sizeof(*f));

	f->o = *o;
	f->dead.fd = -1;
	*status = EXIT_USAGE;
	if (!o->dry_run &&
	    (f->chan = gchannel_new(&o->chan, err, errlen)) == NULL) {
		free(f);
		return NULL;
	}
	*status = EXIT_IO;
	if (o->dead_letter != NULL &&
	    (f->dead.fd = open(o->dead_letter,
		 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1) {
		snprintf(
		    err, errlen, "%s: %s", o->dead_letter, strerror(errno));
		gchannel_free(f->chan);
		free(f);
		return NULL;
	}
	if (o->acked_to != NULL &&
	    ackw_open(&f->ackw, o->acked_to, err, errlen) < 0) {
		if (f->dead.fd >= 0)
			close(f->dead.fd);
		gchannel_free(f->chan);
		free(f);
		return NULL;
	}
	outbuf_init(&f->dead.out, f->dead.fd);
	loop_timer_init(&f->dead.sync, dead_sync_fired, f);
	loop_timer_init(&f->drain, drain_expired, f);
	loop_timer_init(&f->outwait, outputs_check, f);
	loop_timer_init(&f->finish, finish_fired, f);
	loop_timer_init(&f->abort, abort_fired, f);
	metrics_open(f);
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
	metrics_close(f);
	/* Calls first: the channel's end must find no handler to call. */
	if (f->t != NULL)
		f->t->abort(f->tctx);
	gchannel_free(f->chan);
	if (f->t != NULL)
		f->t->free(f->tctx);
	while ((ev = f->win.head) != NULL) {
		fwdwin_remove(&f->win, ev);
		free(ev->req);
		free(ev);
	}
	recin_close(&f->in);
	if (f->tee_open)
		recout_close(&f->tee);
	if (f->o.acked_to != NULL)
		ackw_close(&f->ackw);
	loop_timer_stop(&f->dead.sync);
	loop_timer_stop(&f->abort);
	loop_timer_stop(&f->finish);
	outbuf_free(&f->dead.out);
	free(f->dead.acks);
	if (f->dead.fd >= 0)
		close(f->dead.fd);
	secret_free(&f->o.token);
	free(f);
}
