/*
 * Resolving one EngFlow notification through the event store: a job
 * on the invq that reads the invocation's (or build's) stream and
 * writes each event as a CloudEvent (resolve(1), OUTPUT):
 *
 *	id		<subject>/<sequence>
 *	source		the event store's URL
 *	type		engflow.eventstore.v1.BuildProgressEvent
 *	subject		the invocation id (the build id for GetBuild)
 *	time		build_event.event_time (when absent: now)
 *	sequence	1, 2, ... within the subject, 20 digits
 *	principal	StreamedBuildEvent.principal, when set
 *	proto_data	the BuildProgressEvent, bytes as received
 *
 * The last event carries evpipeack.  A notification that gives no
 * event (NOT_FOUND, no events, another per-notification error) is
 * written itself, with evpipeunresolved saying why, and evpipeack.
 * With pass_notifications, the notification goes out ahead of its first
 * event, byte for byte as it came but without its evpipeack.
 */
#ifndef EVPIPE_ESJOB_H
#define EVPIPE_ESJOB_H

#include <stdint.h>

#include "arena.h"
#include "eventstore.h"
#include "grpc.h"
#include "invq.h"

#define ATTR_UNRESOLVED "evpipeunresolved"

struct esjob_cfg {
	struct invq *q;
	struct gchannel *ch;
	const char *source;
	int replay_mode;
	uint64_t retries;
	bool pass_notifications;
	struct retry_log *log; /* of the event store's outages, or NULL */
	size_t (*metadata)(struct gmd *, size_t, void *);
	void *md_ctx;
	/* A status that ends the tool (credentials, method, retries). */
	void (*on_fatal)(const struct gstatus *, const char *, void *);
	void *ctx;
	struct arena arena; /* one event at a time */
	uint64_t resolved, unresolved, events;
};

void esjob_init(struct esjob_cfg *);
/* Queue the resolution of a notification record (copied). */
void esjob_add(struct esjob_cfg *, enum es_method, const char *, const char *,
    const uint8_t *, size_t, const char *);
/* Pass a notification record through, marked why and with evpipeack. */
void esjob_unresolved(struct arena *, struct invq *, struct invq_job *,
    const uint8_t *, size_t, const char *, const char *);
void esjob_cfg_free(struct esjob_cfg *);

#endif
