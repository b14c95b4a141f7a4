/*
 * The output order of resolve: jobs in input order, each job's records
 * together, waiting jobs paused when their buffer fills, and a record
 * passing through in its place.
 */
#include "config.h"

#include <fcntl.h>
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
	char name;
	int started, resumed, released, n;
};

static struct arena arena;
static struct recout out;
static struct invq q;
static int pipefd[2];
static struct loop_timer check;

static void
t_start(struct invq_job *j)
{
	((struct tj *)j)->started++;
}

static void
t_resume(struct invq_job *j)
{
	((struct tj *)j)->resumed++;
}

static void
t_release(struct invq_job *j)
{
	((struct tj *)j)->released++;
}

static const struct invq_job_ops ops = { t_start, t_resume, t_release };

static int
emit(struct tj *j, size_t pad)
{
	char id[32];
	CloudEvent *ev;
	int r;

	snprintf(id, sizeof(id), "%c%d", j->name, ++j->n);
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
checked(struct loop_timer *t)
{
	if (recout_idle(&out))
		loop_quit(0);
	else
		loop_timer_in(t, 1);
}

/* Run the loop until the output is written; the ids read back. */
static const char *
output(void)
{
	static char ids[4096];
	static uint8_t buf[1 << 20];
	static size_t have;
	size_t off = 0;
	ssize_t n;
	uint64_t len;
	CloudEvent *ev;
	int r;

	loop_timer_in(&check, 0);
	loop_run();
	while ((n = read(pipefd[0], buf + have, sizeof(buf) - have)) > 0)
		have += (size_t)n;
	ids[0] = '\0';
	while (off < have &&
	    (r = varint_get(buf + off, have - off, &len)) > 0 &&
	    off + (size_t)r + len <= have) {
		ev = ce_unpack(&arena, buf + off + r, (size_t)len, NULL, 0);
		if (ev != NULL) {
			strcat(ids, ids[0] ? " " : "");
			strcat(ids, ev->id);
		}
		off += (size_t)r + (size_t)len;
	}
	memmove(buf, buf + off, have - off);
	have -= off;
	arena_reset(&arena);
	return ids;
}

static void
init(size_t parallel, size_t bufmax)
{
	invq_init(&q, &out, parallel, bufmax);
}

static struct tj *
job(char name)
{
	struct tj *j = calloc(1, sizeof(*j));

	j->qj.ops = &ops;
	j->name = name;
	invq_add(&q, &j->qj);
	return j;
}

int
main(void)
{
	struct tj *a, *b, *c, *d;

	arena_init(&arena);
	if (pipe(pipefd) < 0)
		return 1;
	/* The test reads its end without blocking; the writer's end stays
	 * as it is (recout never sets O_NONBLOCK). */
	fcntl(pipefd[0], F_SETFL, fcntl(pipefd[0], F_GETFL) | O_NONBLOCK);
	recout_open(
	    &out, pipefd[1], "pipe", &(struct recout_handlers){ 0 }, NULL);
	loop_timer_init(&check, checked, NULL);

	/* Two at a time: the third waits for a free slot. */
	init(2, 1024);
	a = job('a');
	b = job('b');
	c = job('c');
	ok(a->started && b->started && !c->started, "two of three start");
	is_int(emit(b, 0), 0, "a waiting job buffers");
	is_int(emit(a, 0), 0, "the head writes");
	emit(b, 0);
	invq_done(&q, &b->qj);
	ok(c->started, "a finished job frees its slot");
	emit(c, 0);
	is_str(output(), "a1", "only the head's records are out");
	ok(!b->released, "a finished job waits its turn");
	emit(a, 0);
	invq_done(&q, &a->qj);
	invq_done(&q, &c->qj);
	is_str(
	    output(), "a2 b1 b2 c1", "each job's records together, in order");
	ok(a->released == 1 && b->released == 1 && c->released == 1,
	    "each released once");
	ok(invq_empty(&q), "the queue is empty");
	free(a), free(b), free(c);

	/* A waiting job pauses at its buffer limit and resumes at the head. */
	init(2, 300);
	a = job('a');
	b = job('b');
	is_int(emit(b, 100), 0, "below the limit");
	is_int(emit(b, 250), INVQ_PAUSE, "over the limit: pause");
	invq_done(&q, &a->qj);
	is_int(b->resumed, 1, "resumed when it became the head");
	is_int(emit(b, 0), 0, "and writes through");
	invq_done(&q, &b->qj);
	is_str(output(), "b1 b2 b3", "nothing lost across the pause");
	free(a), free(b);

	/* Records passing through keep their place. */
	init(4, 1024);
	invq_pass(&q,
	    (const uint8_t *)"\x0a\x01p\x12\x01/\x1a\x03"
			     "1.0\x22\x01t",
	    14);
	a = job('a');
	invq_pass(&q,
	    (const uint8_t *)"\x0a\x01q\x12\x01/\x1a\x03"
			     "1.0\x22\x01t",
	    14);
	d = job('d');
	emit(d, 0);
	emit(a, 0);
	invq_done(&q, &d->qj);
	invq_done(&q, &a->qj);
	is_str(output(), "p a1 q d1", "pass-through records in input order");
	free(a), free(d);

	/* Full: too many jobs waiting. */
	init(1, 1024);
	{
		struct tj *js[200];
		int i, n = 0;

		for (i = 0; i < 200 && !invq_full(&q); i++, n++)
			js[i] = job('z');
		is_int(n, q.maxjobs, "full at maxjobs");
		invq_free(&q);
		for (i = 0; i < n; i++) {
			if (js[i]->released != 1)
				break;
			free(js[i]);
		}
		is_int(i, n, "invq_free releases every job once");
	}
	recout_close(&out);
	arena_free(&arena);
	return done_testing();
}
