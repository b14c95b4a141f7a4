/*
 * The output order of resolve: jobs in input order, each job's records
 * together, at most `parallel` running, waiting jobs paused when their
 * buffer fills, records passing through in their place and never
 * started or counted as running, release in input order, and freeing
 * with jobs in every state.  The output is a pipe this test reads from
 * the loop (or stops reading, to fill it).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudevent.h"
#include "invq.h"
#include "loop.h"
#include "recout.h"
#include "tap.h"
#include "varint.h"

struct tj {
	struct invq_job qj;
	char name[16];
	int started, resumed, released, n;
	int start_order, release_order;
};

static struct arena arena;
static struct recout out;
static struct invq q;
static int pipefd[2];
static struct loop_io reader;
static struct loop_timer check;
static bool stalled; /* the reader does not read */
static int starts, releases, rooms;

/* What came out of the pipe: ids, space-separated. */
static char *got;
static size_t gotlen, gotcap;
static uint8_t inbuf[1 << 20];
static size_t have;

static void
t_start(struct invq_job *j)
{
	struct tj *t = (struct tj *)j;

	t->started++;
	t->start_order = ++starts;
}

static void
t_resume(struct invq_job *j)
{
	((struct tj *)j)->resumed++;
}

static void
t_release(struct invq_job *j)
{
	struct tj *t = (struct tj *)j;

	t->released++;
	t->release_order = ++releases;
}

static const struct invq_job_ops ops = { t_start, t_resume, t_release };

static void
on_room(struct invq *qq, void *ctx)
{
	rooms++;
}

static void
got_add(const char *id)
{
	size_t n = strlen(id) + 2;

	if (gotlen + n > gotcap) {
		gotcap = 2 * (gotlen + n) + 4096;
		if ((got = realloc(got, gotcap)) == NULL)
			abort();
	}
	if (gotlen > 0)
		got[gotlen++] = ' ';
	memcpy(got + gotlen, id, n - 1);
	gotlen += n - 2;
	got[gotlen] = '\0';
}

/* Whole records read so far: their ids into got. */
static void
parse_input(void)
{
	size_t off = 0;
	uint64_t len;
	CloudEvent *ev;
	int r;

	while (off < have &&
	    (r = varint_get(inbuf + off, have - off, &len)) > 0 &&
	    off + (size_t)r + len <= have) {
		ev = ce_unpack(&arena, inbuf + off + r, (size_t)len, NULL, 0);
		got_add(ev != NULL ? ev->id : "?");
		arena_reset(&arena);
		off += (size_t)r + (size_t)len;
	}
	memmove(inbuf, inbuf + off, have - off);
	have -= off;
}

static void
reader_prepare(struct loop_io *io)
{
	io->events = stalled ? 0 : POLLIN;
}

static void
reader_ready(struct loop_io *io, short revents)
{
	ssize_t n;

	while ((n = read(pipefd[0], inbuf + have, sizeof(inbuf) - have)) > 0)
		have += (size_t)n;
	parse_input();
}

static void
checked(struct loop_timer *t)
{
	if (recout_idle(&out))
		loop_quit(0);
	else
		loop_timer_in(t, 1);
}

/* Run the loop until the output is written; what came out since last. */
static const char *
output(void)
{
	gotlen = 0;
	if (got != NULL)
		*got = '\0';
	stalled = false;
	loop_timer_in(&check, 0);
	loop_run();
	reader_ready(&reader, POLLIN);
	return got != NULL ? got : "";
}

static void
init(size_t parallel, size_t bufmax)
{
	invq_init(&q, &out, parallel, bufmax);
	q.on_room = on_room;
	starts = releases = rooms = 0;
}

static struct tj *
job(const char *name)
{
	struct tj *j = calloc(1, sizeof(*j));

	j->qj.ops = &ops;
	snprintf(j->name, sizeof(j->name), "%s", name);
	invq_add(&q, &j->qj);
	return j;
}

/* A pass-through record with this id (a valid CloudEvent). */
static void
pass(const char *id)
{
	CloudEvent *ev = ce_new(&arena, id, "/s", "t");
	size_t n = protobuf_c_message_get_packed_size(&ev->base);
	uint8_t *p = arena_alloc(&arena, n);

	protobuf_c_message_pack(&ev->base, p);
	invq_pass(&q, p, n);
	arena_reset(&arena);
}

static int
emit(struct tj *j, size_t pad)
{
	char id[32];
	CloudEvent *ev;
	int r;

	snprintf(id, sizeof(id), "%s%d", j->name, ++j->n);
	ev = ce_new(&arena, id, "/s", "t");
	if (pad > 0) {
		char *s = arena_alloc(&arena, pad + 1);

		memset(s, 'x', pad);
		s[pad] = '\0';
		ce_set_text(&arena, ev, s);
	}
	r = invq_emit(&q, &j->qj, &ev->base);
	arena_reset(&arena);
	return r;
}

static void
done(struct tj *j)
{
	invq_done(&q, &j->qj);
}

/* How many of the jobs run: started and not done, by their own count. */
static size_t
running(struct tj **js, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (js[i]->qj.state == INVQ_RUNNING)
			k++;
	return k;
}

static void
basics(void)
{
	struct tj *a, *b, *c, *d;

	/* Two at a time: the third waits for a free slot. */
	init(2, 1024);
	a = job("a");
	b = job("b");
	c = job("c");
	ok(a->started && b->started && !c->started, "two of three start");
	is_int(emit(b, 0), 0, "a waiting job buffers");
	is_int(emit(a, 0), 0, "the head writes");
	emit(b, 0);
	done(b);
	ok(c->started, "a finished job frees its slot");
	emit(c, 0);
	is_str(output(), "a1", "only the head's records are out");
	ok(!b->released, "a finished job waits its turn");
	emit(a, 0);
	done(a);
	done(c);
	is_str(
	    output(), "a2 b1 b2 c1", "each job's records together, in order");
	ok(a->released == 1 && b->released == 1 && c->released == 1,
	    "each released once");
	ok(invq_empty(&q), "the queue is empty");
	free(a), free(b), free(c);

	/* A waiting job pauses at its buffer limit and resumes at the head. */
	init(2, 300);
	a = job("a");
	b = job("b");
	is_int(emit(b, 100), 0, "below the limit");
	is_int(emit(b, 250), INVQ_PAUSE, "over the limit: pause");
	done(a);
	is_int(b->resumed, 1, "resumed when it became the head");
	is_int(emit(b, 0), 0, "and writes through");
	done(b);
	is_str(output(), "b1 b2 b3", "nothing lost across the pause");
	free(a), free(b);

	/* Records passing through keep their place. */
	init(4, 1024);
	pass("p");
	a = job("a");
	pass("q");
	d = job("d");
	emit(d, 0);
	emit(a, 0);
	done(d);
	done(a);
	is_str(output(), "p a1 q d1", "pass-through records in input order");
	free(a), free(d);
}

/*
 * issue 15: a record passing through while a job still waits to start.
 * The start loop must never reach it (its ops have no start), and it
 * must never count as running.
 */
static void
pass_between_waiting(size_t parallel)
{
	struct tj *js[9];
	char name[8], want[256] = "";
	size_t i, k = 0, n = 0;

	init(parallel, 1024);
	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "n%zu_", i);
		js[n++] = job(name);
	}
	pass("plain");
	for (i = 6; i < 8; i++) {
		snprintf(name, sizeof(name), "n%zu_", i);
		js[n++] = job(name);
	}
	is_int(q.running, parallel < 8 ? parallel : 8,
	    "parallel %zu: as many run as may", parallel);
	is_int(running(js, n), q.running, "parallel %zu: and they started",
	    parallel);
	/* Finish them in input order; each frees a slot for the next, past
	 * the record that passes through. */
	for (i = 0; i < n; i++) {
		ok(js[i]->started == 1, "parallel %zu: %s started once",
		    parallel, js[i]->name);
		emit(js[i], 0);
		done(js[i]);
		ok(q.running <= parallel && q.running == running(js, n),
		    "parallel %zu: running %zu, no more than the jobs started",
		    parallel, q.running);
		snprintf(want + k, sizeof(want) - k, "%s%s1", k ? " " : "",
		    js[i]->name);
		k = strlen(want);
		if (i == 5) {
			snprintf(want + k, sizeof(want) - k, " plain");
			k = strlen(want);
		}
	}
	is_str(output(), want, "parallel %zu: the plain event in its place",
	    parallel);
	for (i = 0; i < n; i++) {
		ok(js[i]->released == 1 && js[i]->start_order == (int)i + 1 &&
			js[i]->release_order == (int)i + 1,
		    "parallel %zu: %s started and released in order", parallel,
		    js[i]->name);
		free(js[i]);
	}
	ok(invq_empty(&q) && q.running == 0 && q.unfinished == 0,
	    "parallel %zu: all done", parallel);
}

/* Pass-through runs: behind a job that is done they join its records. */
static void
pass_runs(void)
{
	struct tj *a, *b;
	size_t njobs;

	init(1, 1024);
	pass("p1"); /* nothing queued: straight out */
	ok(invq_empty(&q), "a record with nothing before it is not queued");
	a = job("a");
	b = job("b");
	pass("p2");
	pass("p3");
	njobs = q.njobs;
	is_int(njobs, 3, "records behind a waiting job: one run");
	ok(!b->started && q.running == 1, "the run does not start or run");
	done(b); /* finished before it ever started */
	ok(!b->started, "a waiting job made done never starts");
	is_int(q.running, 1, "and never ran");
	pass("p4");
	is_int(q.njobs, njobs, "a record behind a done run joins it");
	emit(a, 0);
	is_int(q.running, 1, "the head runs");
	done(a);
	is_int(q.running, 0, "nothing runs");
	is_str(output(), "p1 a1 p2 p3 p4", "in input order");
	ok(a->released && b->released, "both released");
	ok(invq_empty(&q) && q.unfinished == 0, "empty");
	free(a), free(b);
}

/*
 * A full output: the head buffers and pauses too; everything resumes
 * in order once the reader reads again, and input may go on (on_room).
 */
static void
full_output(void)
{
	struct tj *a, *b;
	int r = 0, i;

	init(2, 4096);
	stalled = true;
	a = job("a");
	b = job("b");
	for (i = 0; i < 400 && !recout_full(&out); i++)
		emit(a, 1000);
	ok(recout_full(&out), "the output fills (%d records)", i);
	ok(invq_full(&q), "so the queue is full");
	for (i = 0; i < 100 && r != INVQ_PAUSE; i++)
		r = emit(a, 1000);
	is_int(r, INVQ_PAUSE, "the head pauses at its buffer limit too");
	r = 0;
	for (i = 0; i < 100 && r != INVQ_PAUSE; i++)
		r = emit(b, 1000);
	is_int(r, INVQ_PAUSE, "and so does the job behind it");
	rooms = 0;
	stalled = false;
	/* The loop drains the pipe; on_drain is the owner's to wire:
	 * here, pump whenever the output may take more. */
	while (a->resumed == 0) {
		loop_timer_in(&check, 0);
		loop_run();
		invq_pump(&q);
	}
	is_int(a->resumed, 1, "the head resumes once its buffer is out");
	is_int(b->resumed, 0, "the other waits for its turn");
	ok(rooms > 0, "input may go on");
	done(a);
	while (b->resumed == 0) {
		loop_timer_in(&check, 0);
		loop_run();
		invq_pump(&q);
	}
	is_int(b->resumed, 1, "it resumes when it is the head");
	done(b);
	output();
	while (!invq_empty(&q)) {
		invq_pump(&q);
		output();
	}
	ok(a->released && b->released, "both written and released");
	is_int(q.bytes, 0, "nothing buffered");
	free(a), free(b);
	gotlen = 0;
}

/* Release in input order, whatever order the jobs finish in. */
static void
release_order(void)
{
	struct tj *a, *b, *c;

	init(3, 1024);
	a = job("a");
	b = job("b");
	c = job("c");
	emit(c, 0);
	done(c);
	emit(b, 0);
	done(b);
	ok(!b->released && !c->released, "later jobs wait for the head");
	emit(a, 0);
	done(a);
	is_str(output(), "a1 b1 c1", "written in input order");
	ok(a->release_order == 1 && b->release_order == 2 &&
		c->release_order == 3,
	    "released in input order");
	free(a), free(b), free(c);
}

/*
 * invq_free with a job in every state: running and paused, running,
 * done with records unwritten, a pass-through run, waiting.  Each is
 * released once, none starts, and the queue works afterwards.
 */
static void
free_every_state(void)
{
	struct tj *paused, *run, *fin, *next, *wait1, *wait2, *after;
	int r = 0, i;

	init(3, 512);
	stalled = true;
	run = job("run");
	paused = job("paused");
	fin = job("fin");
	pass("p");
	next = job("next");
	wait1 = job("wait1");
	wait2 = job("wait2");
	for (i = 0; i < 10 && r != INVQ_PAUSE; i++)
		r = emit(paused, 200);
	ok(r == INVQ_PAUSE && paused->qj.paused, "one is paused");
	emit(fin, 10);
	done(fin);
	ok(fin->qj.state == INVQ_DONE && fin->qj.len > 0,
	    "one is done, unwritten");
	ok(run->qj.state == INVQ_RUNNING && next->qj.state == INVQ_RUNNING,
	    "two run, one of them in fin's slot");
	ok(wait1->qj.state == INVQ_WAITING && wait2->qj.state == INVQ_WAITING,
	    "two wait");
	starts = 0;
	invq_free(&q);
	ok(run->released == 1 && paused->released == 1 && fin->released == 1 &&
		next->released == 1 && wait1->released == 1 &&
		wait2->released == 1,
	    "each released once");
	ok(starts == 0 && !wait1->started && !wait2->started,
	    "no job started while freeing");
	ok(invq_empty(&q) && q.running == 0 && q.unfinished == 0 &&
		q.bytes == 0 && q.njobs == 0,
	    "the queue is empty");
	after = job("after");
	ok(after->started, "and takes jobs again");
	emit(after, 0);
	done(after);
	is_str(output(), "after1", "whose records come out");
	free(run), free(paused), free(fin), free(next), free(wait1);
	free(wait2);
	free(after);
}

/* Full: too many jobs waiting. */
static void
full_jobs(void)
{
	struct tj *js[200];
	int i, n = 0;

	init(1, 1024);
	for (i = 0; i < 200 && !invq_full(&q); i++, n++)
		js[i] = job("z");
	is_int(n, q.maxjobs, "full at maxjobs");
	invq_free(&q);
	for (i = 0; i < n; i++) {
		if (js[i]->released != 1)
			break;
		free(js[i]);
	}
	is_int(i, n, "invq_free releases every job once");
}

/*
 * Random runs against a model: jobs and passes in random order, jobs
 * emit and finish in random order; at every step at most `parallel`
 * run, exactly the started and unfinished ones count as running, and
 * in the end the output is every record in input order.
 */
static uint64_t rng;

static unsigned
rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

static void
model(unsigned seed)
{
	enum { MAXJ = 64, MAXI = 512 };
	struct tj *js[MAXJ];
	int items[MAXI]; /* input order: job index, or -1 - pass number */
	char name[16], *all, *want;
	size_t n = 0, ni = 0, i, parallel = 1 + seed % 5, k;
	unsigned pas = 0;
	bool good = true;
	int step, e, guard;

	rng = 0x9e3779b97f4a7c15ULL ^ seed;
	init(parallel, 64 + rnd(512));
	if ((all = calloc(1, 1 << 16)) == NULL ||
	    (want = calloc(1, 1 << 16)) == NULL)
		abort();
	for (step = 0; step < 400 && good; step++) {
		unsigned what = rnd(10);

		if (what < 2 && n < MAXJ && ni < MAXI) {
			snprintf(name, sizeof(name), "j%zu_", n);
			items[ni++] = (int)n;
			js[n++] = job(name);
		} else if (what < 3 && ni < MAXI) {
			snprintf(name, sizeof(name), "p%u", pas);
			items[ni++] = -1 - (int)pas++;
			pass(name);
		} else if (n > 0) {
			struct tj *j = js[rnd((unsigned)n)];

			if (j->qj.state != INVQ_RUNNING)
				continue;
			if (what < 8)
				emit(j, rnd(100));
			else
				done(j);
		}
		if (q.running > parallel || q.running != running(js, n))
			good = false;
		if (rnd(20) == 0)
			strcat(strcat(all, *all ? " " : ""), output());
	}
	ok(good, "seed %u: parallel %zu: running <= parallel, as counted", seed,
	    parallel);
	/* Finish everything, oldest first: each one's turn comes. */
	for (i = 0; i < n; i++) {
		for (guard = 0; js[i]->qj.state == INVQ_WAITING && guard < 10;
		     guard++)
			invq_pump(&q);
		if (js[i]->qj.state == INVQ_RUNNING)
			done(js[i]);
		else if (js[i]->qj.state != INVQ_DONE)
			good = false;
	}
	ok(good, "seed %u: every job got its turn", seed);
	for (guard = 0; !invq_empty(&q) && guard < 100; guard++) {
		strcat(strcat(all, *all ? " " : ""), output());
		invq_pump(&q);
	}
	strcat(strcat(all, *all ? " " : ""), output());
	for (i = 0, k = 0; i < ni; i++) {
		if (items[i] < 0) {
			k += (size_t)sprintf(
			    want + k, "%sp%d", k ? " " : "", -1 - items[i]);
			continue;
		}
		for (e = 1; e <= js[items[i]]->n; e++)
			k += (size_t)sprintf(want + k, "%s%s%d", k ? " " : "",
			    js[items[i]]->name, e);
	}
	/* output() of nothing adds an empty piece: squeeze the spaces */
	for (i = 0, k = 0; all[i] != '\0'; i++)
		if (all[i] != ' ' || (k > 0 && all[k - 1] != ' '))
			all[k++] = all[i];
	while (k > 0 && all[k - 1] == ' ')
		k--;
	all[k] = '\0';
	is_str(all, want, "seed %u: every record, in input order", seed);
	ok(invq_empty(&q) && q.running == 0 && q.unfinished == 0 &&
		q.bytes == 0,
	    "seed %u: empty", seed);
	for (i = 0; i < n; i++) {
		if (js[i]->started != 1 || js[i]->released != 1)
			good = false;
		free(js[i]);
	}
	ok(good, "seed %u: each job started and released once", seed);
	free(all);
	free(want);
}

int
main(void)
{
	unsigned seed;

	arena_init(&arena);
	if (pipe(pipefd) < 0)
		return 1;
	/* The test reads its end without blocking; the writer's end stays
	 * as it is (recout never sets O_NONBLOCK). */
	fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
	recout_open(
	    &out, pipefd[1], "pipe", &(struct recout_handlers){ 0 }, NULL);
	reader = (struct loop_io){ .fd = pipefd[0],
		.prepare = reader_prepare,
		.ready = reader_ready };
	loop_io_add(&reader);
	loop_timer_init(&check, checked, NULL);

	basics();
	pass_between_waiting(1);
	pass_between_waiting(2);
	pass_between_waiting(4);
	pass_between_waiting(16);
	pass_runs();
	full_output();
	release_order();
	free_every_state();
	full_jobs();
	for (seed = 1; seed <= 50; seed++)
		model(seed);

	recout_close(&out);
	arena_free(&arena);
	free(got);
	return done_testing();
}
