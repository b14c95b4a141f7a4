#include "config.h"

#include <stddef.h>

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

void
progress_start(struct progress *p, const char *what)
{
	*p = (struct progress){ .what = what };
	p->start = p->shown_at = loop_now();
	loop_timer_init(&p->timer, tick, p);
	if (logging(LOG_INFO))
		loop_timer_in(&p->timer, PROGRESS_EVERY_MS);
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
	if (dt > 0)
		linfo("%llu %s in %.1fs (%.0f/s)", (unsigned long long)p->n,
		    p->what, (double)dt / 1000,
		    (double)p->n * 1000 / (double)dt);
	else
		linfo("%llu %s", (unsigned long long)p->n, p->what);
	p->what = NULL;
}
