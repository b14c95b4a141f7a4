/*
 * Resolving Axway Central watch events: for each event other than a
 * delete, GET the full resource from {central}/apis{selfLink} (the
 * event's payload is only a stub) and write it as a CloudEvent
 * (resolve(1), OUTPUT):
 *
 *	id, source	those of the watch event
 *	type		com.axway.central.resource
 *	subject		the resource's self link
 *	axwayevent	CREATED, UPDATED, SUBRESOURCEUPDATED, ...
 *	datacontenttype	application/json
 *	text_data	the resource, as Central sent it
 *
 * with the watch event's other attributes and evpipeack.  A resource
 * deleted meanwhile (404) passes the watch event through, marked
 * evpipeunresolved NOT_FOUND; 5xx, 429 and transport errors are
 * retried with backoff; 401 re-reads the token once, then stops the
 * tool (16), as 403 does (7).
 */
#ifndef EVPIPE_AXWAY_RESOURCE_H
#define EVPIPE_AXWAY_RESOURCE_H

#include <stdint.h>

#include "arena.h"
#include "cloudevent.h"
#include "http.h"
#include "invq.h"
#include "retry.h"
#include "secret.h"

#define AX_EVENT "central.events.v1.Event"
#define AX_RESOURCE_TYPE "com.axway.central.resource"

struct ax_notice {
	const char *event_id;
	const char *self_link;
	const char *event_type; /* CREATED, UPDATED, ... */
};

struct axjob_cfg {
	struct invq *q;
	char *central; /* without a trailing slash */
	char *tenant_header; /* "X-Axway-Tenant-Id: ..." */
	struct secret *token;
	struct http_opts http;
	uint64_t retries;
	struct retry_log *log; /* of Central's outages, or NULL */
	void (*on_fatal)(int, const char *, void *);
	void *ctx;
	struct arena arena;
	uint64_t resolved, unresolved;
	bool answered; /* Central ever sent an HTTP reply */
};

/*
 * 1: ev is a watch event to resolve (n filled in, strings in the
 * arena); 0: something else, deletes included; -1: it says it is a
 * watch event but does not parse (err says why).
 */
int ax_parse(
    struct arena *, const CloudEvent *, struct ax_notice *, char *, size_t);
int axjob_init(struct axjob_cfg *, const char *, const char *, struct secret *,
    char *, size_t);
void axjob_add(struct axjob_cfg *, const struct ax_notice *, const uint8_t *,
    size_t, const char *);
void axjob_cfg_free(struct axjob_cfg *);

#endif
