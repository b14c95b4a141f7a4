#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "invq.h"
#include "log.h"
#include "varint.h"

static void
release_pass(struct invq_job *j)
{
	free(j);
}

/*
 * Records that pass through, kept in their place: a job that is DONE
 * from the start.  It has no start() or resume(): the queue never
 * calls them for a job that is not WAITING or paused.
 */
static const struct invq_job_ops pass_ops = { .release = release_pass };

void
invq_init(struct invq *q, struct recout *out, size_t parallel, size_t bufmax)
{
	memset(q, 0, sizeof(*q));
	q->out = out;
	q->parallel = parallel > 0 ? parallel : 1;
	q->bufmax = bufmax > 0 ? bufmax : 1;
	/* Waiting jobs are small (a notification each); what is buffered
	 * may be as much as every running job's buffer, and as much again
	 * for records waiting their turn. */
	q->maxjobs = 4 * q->parallel + 64;
	q->maxbytes = 2 * q->parallel * q->bufmax;
}

static uint8_t *
reserve(struct invq_job *j, size_t n)
{
	size_t live = j->len - j->off, cap;

	if (j->cap - j->len >= n)
		return j->buf + j->len;
	if (j->off > 0 && j->cap - live >= n) {
		memmove(j->buf, j->buf + j->off, live);
	} else {
		for (cap = j->cap ? j->cap : 4096; cap < live + n; cap *= 2)
			;
		if ((j->buf = realloc(j->buf, cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		if (j->off > 0)
			memmove(j->buf, j->buf + j->off, live);
		j->cap = cap;
	}
	j->off = 0;
	j->len = live;
	return j->buf + j->len;
}

static void
append(struct invq *q, struct invq_job *j, const ProtobufCMessage *msg,
    const uint8_t *body, size_t size)
{
	uint8_t *p;
	size_t n;

	if (msg != NULL)
		size = protobuf_c_message_get_packed_size(msg);
	p = reserve(j, VARINT_MAX + size);
	n = varint_put(p, size);
	if (msg != NULL)
		protobuf_c_message_pack(msg, p + n);
	else
		memcpy(p + n, body, size);
	j->len += n + size;
	q->bytes += n + size;
}

/* Move a job's buffered records to the output while it takes them. */
static void
flush(struct invq *q, struct invq_job *j)
{
	uint64_t size;
	int r;

	while (j->off < j->len && !recout_full(q->out)) {
		r = varint_get(j->buf + j->off, j->len - j->off, &size);
		recout_put_bytes(q->out, j->buf + j->off + r, (size_t)size);
		j->off += (size_t)r + (size_t)size;
		q->bytes -= (size_t)r + (size_t)size;
		q->records++;
	}
	if (j->off == j->len) {
		j->off = j->len = 0;
		if (j->cap > 4 * q->bufmax) { /* one huge record came by */
			free(j->buf);
			j->buf = NULL;
			j->cap = 0;
		}
	}
}

bool
invq_full(const struct invq *q)
{
	return q->njobs >= q->maxjobs || q->bytes >= q->maxbytes ||
	    recout_full(q->out);
}

bool
invq_empty(const struct invq *q)
{
	return q->head == NULL;
}

/* The first WAITING job from j on; the ones before next_start are not. */
static struct invq_job *
first_waiting(struct invq_job *j)
{
	while (j != NULL && j->state != INVQ_WAITING)
		j = j->next;
	return j;
}

/*
 * Write what the head has, retire finished heads, start WAITING jobs
 * while fewer than `parallel` run.  Start, resume and release may call
 * back into the queue; such calls only ask for another round.
 */
void
invq_pump(struct invq *q)
{
	struct invq_job *j;

	if (q->pumping) {
		q->again = true;
		return;
	}
	q->pumping = true;
	do {
		q->again = false;
		while ((j = q->head) != NULL) {
			flush(q, j);
			if (j->off < j->len)
				break; /* the output is full */
			if (j->state != INVQ_DONE) {
				/* It writes straight through from now on. */
				if (j->paused) {
					j->paused = false;
					j->ops->resume(j);
				}
				break;
			}
			q->head = j->next;
			if (q->head == NULL)
				q->tail = NULL;
			q->njobs--;
			q->bytes -= j->weight;
			free(j->buf);
			j->ops->release(j);
		}
		while (q->running < q->parallel && q->next_start != NULL) {
			j = q->next_start;
			q->next_start = first_waiting(j->next);
			j->state = INVQ_RUNNING;
			q->running++;
			j->ops->start(j);
		}
	} while (q->again);
	q->pumping = false;
	if (q->on_room != NULL && !invq_full(q))
		q->on_room(q, q->ctx);
}

static void
link_job(struct invq *q, struct invq_job *j)
{
	j->q = q;
	j->next = NULL;
	if (q->tail != NULL)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->njobs++;
	q->bytes += j->weight;
}

void
invq_add(struct invq *q, struct invq_job *j)
{
	j->buf = NULL;
	j->off = j->len = j->cap = 0;
	j->state = INVQ_WAITING;
	j->paused = false;
	link_job(q, j);
	q->unfinished++;
	/* Every job before it is started or done: it is the oldest. */
	if (q->next_start == NULL)
		q->next_start = j;
	invq_pump(q);
}

void
invq_pass(struct invq *q, const uint8_t *body, size_t size)
{
	struct invq_job *j;

	if (q->head == NULL) {
		recout_put_bytes(q->out, body, size);
		q->records++;
		return;
	}
	/* Behind a job that is done, it only waits for that job's records:
	 * it joins them. */
	if ((j = q->tail)->state != INVQ_DONE) {
		if ((j = calloc(1, sizeof(*j))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		j->ops = &pass_ops;
		j->state = INVQ_DONE;
		link_job(q, j);
	}
	append(q, j, NULL, body, size);
}

static int
emit(struct invq *q, struct invq_job *j, const ProtobufCMessage *msg,
    const uint8_t *body, size_t size)
{
	if (j == q->head && j->off == j->len && !recout_full(q->out)) {
		if (msg != NULL)
			recout_put(q->out, msg);
		else
			recout_put_bytes(q->out, body, size);
		q->records++;
		return 0;
	}
	append(q, j, msg, body, size);
	if (j->len - j->off < q->bufmax || j->state == INVQ_DONE)
		return 0;
	j->paused = true;
	return INVQ_PAUSE;
}

int
invq_emit(struct invq *q, struct invq_job *j, const ProtobufCMessage *msg)
{
	return emit(q, j, msg, NULL, 0);
}

int
invq_emit_bytes(
    struct invq *q, struct invq_job *j, const uint8_t *body, size_t size)
{
	return emit(q, j, NULL, body, size);
}

void
invq_done(struct invq *q, struct invq_job *j)
{
	if (j->state == INVQ_DONE)
		return;
	if (j->state == INVQ_RUNNING)
		q->running--;
	else if (q->next_start == j)
		q->next_start = first_waiting(j->next);
	j->state = INVQ_DONE;
	j->paused = false;
	q->unfinished--;
	invq_pump(q);
}

void
invq_free(struct invq *q)
{
	struct invq_job *j;

	if (q->pumping)
		die(EXIT_INTERNAL, "invq_free from a job's callback");
	while ((j = q->head) != NULL) {
		q->head = j->next;
		free(j->buf);
		j->ops->release(j);
	}
	q->head = q->tail = q->next_start = NULL;
	q->njobs = q->running = q->unfinished = q->bytes = 0;
}
