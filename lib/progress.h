/*
 * Progress on stderr at -v: every PROGRESS_EVERY_MS while the count
 * moves, "tool: 12000 events (2400/s)", and at the end a total with
 * the mean rate.  Quiet below LOG_INFO, so it costs a counter add.
 */
#ifndef EVPIPE_PROGRESS_H
#define EVPIPE_PROGRESS_H

#include <stdint.h>

#include "loop.h"
#include "metrics.h"

#define PROGRESS_EVERY_MS 2000

struct progress {
	const char *what; /* "events", "actions": what is counted */
	uint64_t n, shown; /* counted; at the last line */
	int64_t start, shown_at; /* loop_now() times */
	struct loop_timer timer;
	/* evpipe_progress_total{what=...} and the time it last moved */
	struct metric m_count, m_moved;
	uint64_t moved_n;
	char labels[80];
};

void progress_start(struct progress *, const char *);
void progress_add(struct progress *, uint64_t);
void progress_set(struct progress *, uint64_t);
void progress_end(struct progress *);

#endif
