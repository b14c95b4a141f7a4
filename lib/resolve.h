/*
 * resolve's driver: delimited CloudEvents in from stdin; each
 * notification becomes a job on the invq (invq.h) that fetches what it
 * points at (esjob.h: the EngFlow event store; axway_resource.h: an
 * Axway resource); every other record passes through; all of it goes
 * to stdout in input order.  A notification seen among the last
 * dedupe_window is not resolved again (dedupe.h).
 *
 * It ends at the end of input (or a bad record, 65), and at SIGTERM or
 * SIGINT, once everything accepted is written; at a status no later
 * notification would get past (credentials, retries used up) or an
 * output error at once.
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

enum resolve_api { RESOLVE_ENGFLOW, RESOLVE_AXWAY };

struct resolve_opts {
	enum resolve_api api;
	/* EngFlow */
	const char *endpoint; /* as given: the events' source */
	struct target target; /* parsed */
	bool bearer; /* authorization: Bearer, not x-engflow-auth-* */
	bool builds; /* GetBuild for build notifications */
	bool on_started, on_finished;
	int replay_mode;
	/* Axway */
	const char *central, *tenant;
	/* both */
	struct tls_opts tls;
	struct secret token; /* loaded; the driver frees it */
	bool drop_unknown;
	size_t max_record, buffer;
	uint64_t parallel, dedupe_window, retries;
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
