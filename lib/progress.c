#include "config.h"

#include <stddef.h>
#include <stdio.h>

#include "log.h"
#include "progress.h"

static void
tick(struct loop_timer *t)
{
	struct progress *p = t->ctx;
	int64_t now = loop_now(), dt = now - p->shown_at;

	if (p->n != p->shown && dt > 0)
		linfo("%llu %s (%.0f/s)", (unsigned long long)p->n, p->what,
		    (double)(p->n - p->shown) * 1000 / (double)dt);
	p->shown = p->n;
	p->shown_at = now;
	loop_timer_in(t, PROGRESS_EVERY_MS);
}

static double
read_count(struct metric *m)
{
	const struct progress *p = m->ctx;

	return (double)p->n;
}

/*
 * When the count last moved, to the resolution of the metrics' reads:
 * a counter add stays an add, with no clock read per event.
 */
static double
read_moved(struct metric *m)
{
	struct progress *p = m->ctx;

	if (p->n != p->moved_n) {
		p->moved_n = p->n;
		metric_set_now(m);
	}
	return m->value;
}

void
progress_start(struct progress *p, const char *what)
{
	*p = (struct progress){ .what = what };
	p->start = p->shown_at = loop_now();
	loop_timer_init(&p->timer, tick, p);
	if (logging(LOG_INFO))
		loop_timer_in(&p->timer, PROGRESS_EVERY_MS);
	snprintf(p->labels, sizeof(p->labels), "what=\"%s\"", what);
	p->m_count = (struct metric){ .name = "progress_total",
		.help = "What the tool has done: its main count.",
		.type = METRIC_COUNTER,
		.labels = p->labels,
		.read = read_count,
		.ctx = p };
	p->m_moved = (struct metric){ .name = "last_progress_timestamp_seconds",
		.help = "When the main count last moved (0: never).",
		.type = METRIC_GAUGE,
		.labels = p->labels,
		.read = read_moved,
		.ctx = p };
	metric_register(&p->m_count);
	metric_register(&p->m_moved);
}

void
progress_add(struct progress *p, uint64_t n)
{
	p->n += n;
}

/* The count so far is n, for a tool that keeps its own counter. */
void
progress_set(struct progress *p, uint64_t n)
{
	p->n = n;
}

/* The last line: the total and the mean rate; stops the timer. */
void
progress_end(struct progress *p)
{
	int64_t dt = loop_now() - p->start;

	loop_timer_stop(&p->timer);
	if (p->what == NULL)
		return;
	read_moved(&p->m_moved);
	if (dt > 0)
		linfo("%llu %s in %.1fs (%.0f/s)", (unsigned long long)p->n,
		    p->what, (double)dt / 1000,
		    (double)p->n * 1000 / (double)dt);
	else
		linfo("%llu %s", (unsigned long long)p->n, p->what);
	p->what = NULL;
}
