/*
 * store put, get, delete, clean and scan: each a small state machine on
 * the poll loop around store requests, with records in (recin) and out
 * (recout) under backpressure.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackfifo.h"
#include "cli.h"
#include "cloudevent.h"
#include "exitcode.h"
#include "inbuf.h"
#include "log.h"
#include "loop.h"
#include "progress.h"
#include "recin.h"
#include "recout.h"
#include "sig.h"
#include "storecli.h"
#include "varint.h"

#define FINISH_POLL_MS 10
#define ACK_WAIT_MS 5000 /* at the end, for the FIFO reader to take acks */
#define ID_MAX (64 * 1024) /* longest id line read from stdin */

static const struct storecli_opts *O;

/* A failed store request's exit status: 69 no connection, 74 else. */
static int
store_status(const struct store_req *r)
{
	return r->status == STORE_EDOWN ? EXIT_CONNECT : EXIT_IO;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

/* The value of field 1 (a CloudEvent's id) in an event's bytes. */
static size_t
event_id(const uint8_t *p, size_t n, const char **id)
{
	uint64_t key, v;
	int r;

	while (n > 0 && (r = varint_get(p, n, &key)) > 0) {
		p += r;
		n -= (size_t)r;
		if ((key & 7) == 0) {
			if ((r = varint_get(p, n, &v)) <= 0)
				break;
			v = 0;
		} else if ((key & 7) == 2) {
			if ((r = varint_get(p, n, &v)) <= 0)
				break;
		} else if ((key & 7) == 1 || (key & 7) == 5) {
			v = (key & 7) == 1 ? 8 : 4;
			r = 0;
		} else {
			break;
		}
		p += r;
		n -= (size_t)r;
		if (v > n)
			break;
		if (key == (1 << 3 | 2)) {
			*id = (const char *)p;
			return (size_t)v;
		}
		p += v;
		n -= (size_t)v;
	}
	*id = "";
	return 0;
}

/* ---- the end: wait for output, then quit ----------------------------- */

static struct {
	struct recout out;
	bool out_open, out_failed;
	struct ackw ack;
	bool ack_open;
	struct loop_timer finish;
	int64_t ack_deadline;
	int status;
	bool done;
	void (*room)(void); /* the output has room again, or failed */
} E;

static void
finish_check(struct loop_timer *t)
{
	if (E.out_open && !recout_idle(&E.out)) {
		loop_timer_in(t, FINISH_POLL_MS);
		return;
	}
	if (E.ack_open && !ackw_idle(&E.ack)) {
		if (E.ack_deadline == 0)
			E.ack_deadline = loop_now() + ACK_WAIT_MS;
		if (loop_now() < E.ack_deadline) {
			loop_timer_in(t, FINISH_POLL_MS);
			return;
		}
		lwarn("%s: the reader did not take the last acks", E.ack.path);
	} else if (E.ack_open) {
		ackw_warn_unwritten(&E.ack);
	}
	loop_quit(E.status);
}

/* Everything is decided: quit once the output is written. */
static void
finish(int status)
{
	if (E.done)
		return;
	E.done = true;
	if (E.status == EXIT_OK)
		E.status = status;
	loop_timer_init(&E.finish, finish_check, NULL);
	loop_timer_in(&E.finish, 0);
}

static void
set_status(int status)
{
	if (E.status == EXIT_OK)
		E.status = status;
}

static void
out_drain(struct recout *o, void *ctx)
{
	E.room();
}

static void
out_error(struct recout *o, int err, void *ctx)
{
	E.out_failed = true;
	if (err == EPIPE) {
		linfo("stdout: reader went away");
	} else {
		lerr("stdout: %s", strerror(err));
		set_status(EXIT_IO);
	}
	E.room();
}

static const struct recout_handlers out_handlers = {
	.on_drain = out_drain,
	.on_error = out_error,
};

static void
open_out(void (*room)(void))
{
	E.room = room;
	recout_open(&E.out, STDOUT_FILENO, "stdout", &out_handlers, NULL);
	E.out_open = true;
}

static bool
out_full(void)
{
	return E.out_open && !E.out_failed && recout_full(&E.out);
}

static void
close_all(void)
{
	if (E.out_open)
		recout_close(&E.out);
	if (E.ack_open)
		ackw_close(&E.ack);
	loop_timer_stop(&E.finish);
}

/* ---- put ------------------------------------------------------------ */

struct pending_event { /* offsets into batch.buf */
	size_t data, len, id, type, source, ack; /* ack: SIZE_MAX none */
};

struct batch {
	uint8_t *buf;
	size_t len, cap;
	struct pending_event *ev;
	size_t n, evcap;
	struct store_event *events;
	struct store_req req;
};

static struct {
	struct recin in;
	struct batch *filling, *flight;
	struct loop_timer linger, round;
	bool lingered; /* the first event of filling has waited enough */
	bool running; /* this is store put */
	bool input_done, paused;
	int end_status;
	char end_why[300]; /* input ended badly: why */
	struct progress progress; /* events stored, at -v */
} P;

static size_t
batch_add(struct batch *b, const void *p, size_t n)
{
	size_t at = b->len;

	if (b->len + n > b->cap) {
		b->cap = b->cap ? b->cap : 64 * 1024;
		while (b->len + n > b->cap)
			b->cap *= 2;
		b->buf = xrealloc(b->buf, b->cap);
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
	return at;
}

static size_t
batch_str(struct batch *b, const char *s)
{
	return batch_add(b, s, strlen(s) + 1);
}

static void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->buf);
	free(b->ev);
	free(b->events);
	free(b);
}

static bool
batch_full(const struct batch *b)
{
	return b != NULL &&
	    (b->n >= O->batch || b->len >= STORECLI_BATCH_BYTES);
}

static void put_done(struct store_req *, void *);

/* Is more input there already (or its end)? */
static bool
input_waiting(void)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };

	return poll(&pfd, 1, 0) > 0;
}

/*
 * Time to commit the filling batch: it is full, input is over, it has
 * lingered enough; or, with no linger, input has paused.  While more
 * input is waiting it is read first, so that a fast writer fills
 * batches instead of paying an fsync for each pipe-full.
 */
static bool
commit_due(const struct batch *b)
{
	if (batch_full(b) || P.input_done || P.lingered)
		return true;
	if (O->linger_ms > 0)
		return false;
	if (P.paused || !input_waiting())
		return true;
	loop_timer_in(&P.round, 0); /* look again after the next read */
	return false;
}

/* Commit the filling batch if nothing is committing and it is time. */
static void
maybe_commit(void)
{
	struct batch *b = P.filling;
	size_t i, n;

	if (P.flight != NULL || b == NULL || b->n == 0 || !commit_due(b))
		return;
	P.filling = NULL;
	P.flight = b;
	P.lingered = false;
	loop_timer_stop(&P.linger);
	b->events = xrealloc(NULL, b->n * sizeof(*b->events));
	for (i = n = 0; i < b->n; i++) {
		/* evpipe.7, ACK-ONLY MARKER: not stored; its ack goes on. */
		if (strcmp((const char *)b->buf + b->ev[i].type,
			ACK_ONLY_TYPE) == 0)
			continue;
		b->events[n++] = (struct store_event){
			.id = (const char *)b->buf + b->ev[i].id,
			.type = (const char *)b->buf + b->ev[i].type,
			.source = (const char *)b->buf + b->ev[i].source,
			.data = b->buf + b->ev[i].data,
			.len = b->ev[i].len,
		};
	}
	b->req = (struct store_req){ .op = STORE_PUT,
		.events = b->events,
		.nevents = n,
		.done = put_done };
	ltrace("committing %zu events", b->n);
	store_submit(O->store, &b->req);
}

/* Read on only while there is room: a batch to fill and output space. */
static void
put_flow(void)
{
	bool stop = batch_full(P.filling) || out_full();

	if (stop && !P.paused) {
		recin_pause(&P.in);
		P.paused = true;
	} else if (!stop && P.paused) {
		P.paused = false;
		recin_resume(&P.in);
	}
}

static void
put_maybe_finish(void)
{
	if (!P.input_done || P.flight != NULL ||
	    (P.filling != NULL && P.filling->n > 0))
		return;
	if (P.end_why[0] != '\0')
		lerr("%s: %s", P.in.name, P.end_why);
	progress_end(&P.progress);
	finish(P.end_status);
}

/* Stop reading input; what has been read is still committed. */
static void
put_stop(int status)
{
	if (P.input_done)
		return;
	P.input_done = true;
	P.end_status = status;
	recin_stop(&P.in);
	maybe_commit();
	put_maybe_finish();
}

/* A batch is committed (or failed): pass the events on, ack them. */
static void
put_done(struct store_req *r, void *ctx)
{
	struct batch *b = P.flight;
	size_t i;

	P.flight = NULL;
	if (r->status != STORE_OK) {
		lerr("put: %s", r->err);
		batch_free(P.filling);
		P.filling = NULL;
		set_status(store_status(r));
		put_stop(store_status(r));
		batch_free(b);
		put_maybe_finish();
		return;
	}
	progress_add(&P.progress, b->n);
	for (i = 0; i < b->n; i++) {
		if (O->tee && !E.out_failed)
			recout_put_bytes(
			    &E.out, b->buf + b->ev[i].data, b->ev[i].len);
		if (E.ack_open && b->ev[i].ack != SIZE_MAX)
			ackw_put(&E.ack, (const char *)b->buf + b->ev[i].ack);
	}
	batch_free(b);
	if (O->tee && E.out_failed)
		put_stop(EXIT_OK);
	maybe_commit();
	put_flow();
	put_maybe_finish();
}

/* Output has room again, or is gone (then stop: EPIPE is quiet). */
static void
put_room(void)
{
	if (E.out_failed)
		put_stop(EXIT_OK);
	else
		put_flow();
}

static void
linger_fired(struct loop_timer *t)
{
	P.lingered = true;
	maybe_commit();
	put_flow();
}

/* End of a loop round that read input: with no linger, commit now
 * if input has paused. */
static void
round_fired(struct loop_timer *t)
{
	maybe_commit();
	put_flow();
}

static int
put_record(struct recin *in, const uint8_t *p, size_t n, const CloudEvent *ev,
    void *ctx)
{
	struct batch *b = P.filling;
	struct pending_event *pe;
	const char *ack;

	if (b == NULL) {
		if ((b = P.filling = calloc(1, sizeof(*b))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
	}
	if (b->n == b->evcap) {
		b->evcap = b->evcap ? 2 * b->evcap : 256;
		b->ev = xrealloc(b->ev, b->evcap * sizeof(*b->ev));
	}
	pe = &b->ev[b->n++];
	pe->data = batch_add(b, p, n);
	pe->len = n;
	pe->id = batch_str(b, ev->id);
	pe->type = batch_str(b, ev->type);
	pe->source = batch_str(b, ev->source);
	pe->ack = SIZE_MAX;
	if (E.ack_open && (ack = ce_get_string(ev, ACK_ATTR)) != NULL)
		pe->ack = batch_str(b, ack);
	if (b->n == 1 && O->linger_ms > 0)
		loop_timer_in(&P.linger, O->linger_ms);
	if (O->linger_ms == 0 && !loop_timer_armed(&P.round))
		loop_timer_in(&P.round, 0);
	if (batch_full(b)) {
		maybe_commit();
		if (batch_full(P.filling)) {
			P.paused = true;
			return RECIN_PAUSE;
		}
	}
	if (out_full()) {
		P.paused = true;
		return RECIN_PAUSE;
	}
	return 0;
}

static void
put_end(struct recin *in, int status, const char *why, void *ctx)
{
	P.input_done = true;
	P.end_status = status;
	if (status != EXIT_OK)
		snprintf(P.end_why, sizeof(P.end_why), "%s", why);
	maybe_commit();
	put_maybe_finish();
}

static const struct recin_handlers put_handlers = {
	.on_record = put_record,
	.on_end = put_end,
};

static void
put_signal(int signo, void *ctx)
{
	linfo("signal %d: committing what was read, then stopping", signo);
	put_stop(EXIT_OK);
}

int
storecli_put(const struct storecli_opts *o)
{
	char err[300];
	int status;

	O = o;
	P.running = true;
	if (o->tee)
		open_out(put_room);
	if (o->acked_to != NULL) {
		if (ackw_open(&E.ack, o->acked_to, err, sizeof(err)) < 0)
			die(EXIT_USAGE, "--acked-to: %s", err);
		E.ack_open = true;
	}
	loop_timer_init(&P.linger, linger_fired, NULL);
	loop_timer_init(&P.round, round_fired, NULL);
	recin_open(
	    &P.in, STDIN_FILENO, "stdin", o->max_record, &put_handlers, NULL);
	sig_init(put_signal, NULL);
	progress_start(&P.progress, "events stored");
	status = loop_run();
	progress_end(&P.progress);
	loop_timer_stop(&P.linger);
	loop_timer_stop(&P.round);
	recin_close(&P.in);
	batch_free(P.filling);
	close_all();
	return status;
}

/* ---- ids from the command line or stdin ----------------------------- */

static struct {
	struct inbuf in;
	struct loop_io io;
	bool from_stdin, eof, reading;
	size_t next_arg;
	char **ids; /* the batch being collected */
	size_t n;
	uint64_t lineno;
	void (*ready)(void); /* a batch is complete, or input ended */
} I;

static void
ids_clear(void)
{
	size_t i;

	if (I.from_stdin)
		for (i = 0; i < I.n; i++)
			free(I.ids[i]);
	I.n = 0;
}

/* Take complete lines as ids; true when a batch is complete. */
static bool
ids_take_lines(void)
{
	const char *p, *nl;
	size_t len, n;

	while (I.n < STORECLI_IDS) {
		p = (const char *)inbuf_data(&I.in);
		len = inbuf_len(&I.in);
		nl = len > 0 ? memchr(p, '\n', len) : NULL;
		if (nl == NULL && !(I.in.eof && len > 0)) {
			if (len >= ID_MAX) {
				lerr("stdin: line %llu: too long",
				    (unsigned long long)I.lineno + 1);
				finish(EXIT_DATA);
				I.eof = true;
				return true;
			}
			return I.in.eof;
		}
		I.lineno++;
		n = nl != NULL ? (size_t)(nl - p) : len;
		inbuf_consume(&I.in, nl != NULL ? n + 1 : n);
		while (n > 0 &&
		    (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		if ((I.ids[I.n] = strndup(p, n)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		I.n++;
	}
	return true;
}

static void
ids_prepare(struct loop_io *io)
{
	io->events = I.reading && !I.eof ? POLLIN : 0;
}

static void
ids_readable(struct loop_io *io, short revents)
{
	if (inbuf_fill(&I.in, inbuf_len(&I.in) + 1) < 0) {
		logsys(LOG_ERROR, "stdin");
		finish(EXIT_IO);
		I.eof = true;
		I.reading = false;
		return;
	}
	if (ids_take_lines()) {
		if (I.in.eof && inbuf_len(&I.in) == 0)
			I.eof = true;
		I.reading = false;
		I.ready();
	}
}

/* Collect the next batch of ids; I.ready() fires when it is there. */
static void
ids_next(void)
{
	ids_clear();
	if (!I.from_stdin) {
		while (I.n < STORECLI_IDS && I.next_arg < O->nids)
			I.ids[I.n++] = O->ids[I.next_arg++];
		I.eof = I.next_arg == O->nids;
		I.ready();
		return;
	}
	if (ids_take_lines()) {
		if (I.in.eof && inbuf_len(&I.in) == 0)
			I.eof = true;
		I.ready();
		return;
	}
	I.reading = true;
}

static void
ids_open(void (*ready)(void))
{
	I.ready = ready;
	I.ids = xrealloc(NULL, STORECLI_IDS * sizeof(*I.ids));
	I.from_stdin = O->nids == 0;
	if (I.from_stdin) {
		inbuf_init(&I.in, STDIN_FILENO, ID_MAX + 1);
		I.io = (struct loop_io){ .fd = STDIN_FILENO,
			.prepare = ids_prepare,
			.ready = ids_readable };
		loop_io_add(&I.io);
	}
}

static void
ids_close(void)
{
	ids_clear();
	free(I.ids);
	if (I.from_stdin) {
		loop_io_del(&I.io);
		inbuf_free(&I.in);
	}
}

static void
cli_signal(int signo, void *ctx)
{
	linfo("signal %d: stopping", signo);
	finish(EXIT_OK);
}

/* ---- get ------------------------------------------------------------ */

static void get_next(void);

static struct {
	struct store_req req;
	const char **want; /* the distinct ids asked for, in order */
	size_t nwant, next; /* next: the first not yet found */
	bool busy;
} G;

/* Ids skipped over before this one were not found. */
static void
missing_until(const char *id, size_t idlen)
{
	while (G.next < G.nwant) {
		const char *w = G.want[G.next++];

		if (strlen(w) == idlen && memcmp(w, id, idlen) == 0)
			return;
		lwarn("%s: not found", w);
	}
}

static void
got_row(struct store_req *r, const struct store_row *row, void *ctx)
{
	const char *id;
	size_t n = event_id(row->data, row->len, &id);

	missing_until(id, n);
	if (!E.out_failed)
		recout_put_bytes(&E.out, row->data, row->len);
}

static void
got(struct store_req *r, void *ctx)
{
	G.busy = false;
	if (r->status != STORE_OK) {
		lerr("get: %s", r->err);
		finish(store_status(r));
		return;
	}
	missing_until("", SIZE_MAX);
	get_next();
}

static void
get_ready(void)
{
	if (E.done)
		return;
	if (I.n == 0) {
		if (I.eof)
			finish(EXIT_OK);
		else
			ids_next();
		return;
	}
	G.want = xrealloc(G.want, I.n * sizeof(*G.want));
	G.nwant = store_unique_ids((const char *const *)I.ids, I.n, G.want);
	G.next = 0;
	G.req = (struct store_req){ .op = STORE_GET,
		.ids = (const char *const *)I.ids,
		.nids = I.n,
		.on_row = got_row,
		.done = got };
	G.busy = true;
	store_submit(O->store, &G.req);
}

/* After a batch: the next one, once the output has room. */
static void
get_next(void)
{
	if (E.done || G.busy || out_full())
		return;
	if (E.out_failed) {
		finish(EXIT_OK);
		return;
	}
	if (I.eof) {
		finish(EXIT_OK);
		return;
	}
	ids_next();
}

int
storecli_get(const struct storecli_opts *o)
{
	int status;

	O = o;
	open_out(get_next);
	ids_open(get_ready);
	sig_init(cli_signal, NULL);
	ids_next();
	status = loop_run();
	ids_close();
	free(G.want);
	close_all();
	return status;
}

/* ---- delete --------------------------------------------------------- */

static struct {
	struct store_req req;
	uint64_t total;
} D;

static void deleted(struct store_req *, void *);

static void
delete_ready(void)
{
	if (E.done)
		return;
	if (I.n == 0) {
		if (I.eof)
			finish(EXIT_OK);
		else
			ids_next();
		return;
	}
	D.req = (struct store_req){ .op = STORE_DELETE,
		.ids = (const char *const *)I.ids,
		.nids = I.n,
		.done = deleted };
	store_submit(O->store, &D.req);
}

static void
deleted(struct store_req *r, void *ctx)
{
	if (r->status != STORE_OK) {
		lerr("delete: %s", r->err);
		finish(store_status(r));
		return;
	}
	D.total += r->count;
	if (I.eof)
		finish(EXIT_OK);
	else
		ids_next();
}

static int
print_count(int status, uint64_t n)
{
	if (status == EXIT_OK) {
		printf("%llu\n", (unsigned long long)n);
		if (cli_finish_stdout() < 0)
			status = EXIT_IO;
	}
	return status;
}

int
storecli_delete(const struct storecli_opts *o)
{
	int status;

	O = o;
	ids_open(delete_ready);
	sig_init(cli_signal, NULL);
	ids_next();
	status = loop_run();
	ids_close();
	close_all();
	return print_count(status, D.total);
}

/* ---- clean ---------------------------------------------------------- */

static struct {
	struct store_req req;
	uint64_t total;
} C;

static void
cleaned(struct store_req *r, void *ctx)
{
	if (r->status != STORE_OK) {
		lerr("clean: %s", r->err);
		finish(store_status(r));
		return;
	}
	C.total += r->count;
	if (r->count < r->limit || E.done) {
		finish(EXIT_OK);
		return;
	}
	store_submit(O->store, &C.req);
}

int
storecli_clean(const struct storecli_opts *o)
{
	int status;

	O = o;
	C.req = (struct store_req){ .op = STORE_CLEAN,
		.age_us = o->retention_us,
		.limit = STORE_CLEAN_CHUNK,
		.done = cleaned };
	sig_init(cli_signal, NULL);
	store_submit(o->store, &C.req);
	status = loop_run();
	close_all();
	return print_count(status, C.total);
}

/* ---- scan ----------------------------------------------------------- */

static struct {
	struct store_req req;
	int64_t ts, seq; /* the last event written */
	bool busy, last;
} S;

static void
scanned_row(struct store_req *r, const struct store_row *row, void *ctx)
{
	S.ts = row->ts;
	S.seq = row->seq;
	if (!E.out_failed)
		recout_put_bytes(&E.out, row->data, row->len);
}

static void scan_next(void);

static void
scanned(struct store_req *r, void *ctx)
{
	S.busy = false;
	if (r->status != STORE_OK) {
		lerr("scan: %s", r->err);
		finish(store_status(r));
		return;
	}
	S.last = r->count < r->limit;
	scan_next();
}

static void
scan_next(void)
{
	if (E.done || S.busy || out_full())
		return;
	if (S.last || E.out_failed) {
		finish(EXIT_OK);
		return;
	}
	S.req = (struct store_req){ .op = STORE_SCAN,
		.after_ts = S.ts,
		.after_seq = S.seq,
		.type = O->type,
		.source = O->source,
		.limit = STORECLI_PAGE,
		.on_row = scanned_row,
		.done = scanned };
	S.busy = true;
	store_submit(O->store, &S.req);
}

int
storecli_scan(const struct storecli_opts *o)
{
	int status;

	O = o;
	open_out(scan_next);
	S.ts = o->since_us;
	S.seq = -1;
	sig_init(cli_signal, NULL);
	scan_next();
	status = loop_run();
	close_all();
	return status;
}

/*
 * The store's state changed: for a command, losing the database is
 * the end (the request in flight fails with it and says so).
 */
void
storecli_store_state(bool up, const char *why)
{
	if (up || E.done)
		return;
	if (P.running) {
		if (P.flight == NULL) {
			lerr("%s", why);
			set_status(EXIT_CONNECT);
			put_stop(EXIT_CONNECT);
		}
		return;
	}
	if (!G.busy && !S.busy) {
		lerr("%s", why);
		finish(EXIT_CONNECT);
	}
}
