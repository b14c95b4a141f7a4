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

/* A record that passes through is a job that is done from the start. */
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

/*
 * Write what the head has, retire finished heads, start jobs while
 * fewer than `parallel` run.  Start, resume and release may call back
 * into the queue; such calls only ask for another round.
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
			if (!j->done) {
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
			q->next_start = j->next;
			j->started = true;
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
	j->started = j->done = j->paused = false;
	link_job(q, j);
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
	if ((j = calloc(1, sizeof(*j))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	j->ops = &pass_ops;
	j->started = j->done = true;
	link_job(q, j);
	append(q, j, NULL, body, size);
}

int
invq_emit(struct invq *q, struct invq_job *j, const ProtobufCMessage *msg)
{
	if (j == q->head && j->off == j->len && !recout_full(q->out)) {
		recout_put(q->out, msg);
		q->records++;
		return 0;
	}
	append(q, j, msg, NULL, 0);
	if (j->len - j->off < q->bufmax || j->done)
		return 0;
	j->paused = true;
	return INVQ_PAUSE;
}

void
invq_done(struct invq *q, struct invq_job *j)
{
	if (j->done)
		return;
	j->done = true;
	j->paused = false;
	if (j->started)
		q->running--;
	invq_pump(q);
}

void
invq_free(struct invq *q)
{
	struct invq_job *j;

	while ((j = q->head) != NULL) {
		q->head = j->next;
		free(j->buf);
		j->ops->release(j);
	}
	memset(q, 0, sizeof(*q));
}
