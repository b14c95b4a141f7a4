/*
 * resolve's driver: delimited CloudEvents in from stdin; each
 * notification becomes a job on the invq (invq.h) that fetches what it
 * points at (esjob.h: the EngFlow event store; axway_resource.h: an
 * Axway resource); every other record passes through; all of it goes
 * to stdout in input order.  A notification seen among the last
 * dedupe_window is not resolved again (dedupe.h).
 *
 * It ends:
 *  - at the end of input (or a bad record, 65): once everything
 *    accepted is written;
 *  - at SIGTERM or SIGINT: stdin is read no more, the notifications
 *    accepted go on for drain_ms at most; then the ones not finished
 *    are cut short (their calls cancelled), nothing from the first of
 *    them on is written, and the exit status is DEADLINE_EXCEEDED (0
 *    when everything finished in time).  Since a notification's
 *    evpipeack rides on its last event, one cut short is never
 *    acknowledged, whatever of its events went out;
 *  - at a status no later notification would get past (credentials,
 *    retries used up) or an output error: at once, the same way.
 * After a cut, stdout gets RESOLVE_OUTPUT_GRACE_MS more to take the
 * whole records it holds.
 */
#ifndef EVPIPE_RESOLVE_H
#define EVPIPE_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secret.h"
#include "target.h"
#include "tls.h"

#define RESOLVE_PARALLEL 4
#define RESOLVE_BUFFER (256 * 1024)
#define RESOLVE_DEDUPE_WINDOW 10000
#define RESOLVE_DRAIN_MS 10000
#define RESOLVE_OUTPUT_GRACE_MS 1000

enum resolve_api { RESOLVE_ENGFLOW, RESOLVE_AXWAY };

struct resolve_opts {
	enum resolve_api api;
	/* EngFlow */
	const char *endpoint; /* as given: the events' source */
	struct target target; /* parsed */
	bool bearer; /* authorization: Bearer, not x-engflow-auth-* */
	bool builds; /* GetBuild for build notifications */
	bool on_started, on_finished;
	bool pass_notifications;
	int replay_mode;
	/* Axway */
	const char *central, *tenant;
	/* both */
	struct tls_opts tls;
	struct secret token; /* loaded; the driver frees it */
	bool drop_unknown;
	size_t max_record, buffer;
	uint64_t parallel, dedupe_window, retries;
	int64_t drain_ms; /* 0: as long as it takes */
};

struct resolve;

/* The defaults of every option. */
void resolve_opts_init(struct resolve_opts *);
/* NULL when the options cannot be used (err says why: TLS files, URLs). */
struct resolve *resolve_new(const struct resolve_opts *, char *, size_t);
/* Run until the end; the exit status. */
int resolve_run(struct resolve *);
void resolve_free(struct resolve *);

#endif
