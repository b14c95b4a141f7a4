/*
 * The Axway harvester: the REST API that replays a watch topic's
 * events after a sequence id (axway.md 3), used by subscribe to catch
 * up before and while it joins the live watch stream.
 *
 *   GET {base}{topic self link}?page=P&pageSize=S
 *       &query=sequenceID%3EN&sort=sequenceID%2CASC
 *
 * answers a bare JSON array of events in sequence order; 410 Gone says
 * the sequence was purged, with the newest id in
 * X-Axway-Max-Sequence-Id.  Each event is turned into the
 * central.events.v1.Event the watch stream would have carried, so the
 * two look the same downstream.
 */
#ifndef EVPIPE_HARVESTER_H
#define EVPIPE_HARVESTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "http.h"
#include "watch.pb-c.h"

#define HARVESTER_MAX_HEADERS 64

struct harvester_opts {
	const char *base; /* https://host[:port]/events */
	const char *topic; /* /management/v1alpha1/watchtopics/NAME */
	const char *tenant; /* X-Axway-Tenant-Id */
	const char *const *headers; /* more "Name: value", NULL-terminated */
	uint64_t page_size;
	struct http_opts http;
};

enum harvester_result {
	HARVESTER_OK,
	HARVESTER_GONE, /* 410: purged; max_sequence says up to where */
	HARVESTER_ERROR, /* status: a gRPC code for the exit status */
};

struct harvester_page {
	enum harvester_result result;
	int status; /* UNAVAILABLE, UNAUTHENTICATED, PERMISSION_DENIED... */
	long http_status; /* 0: no reply (cannot connect, timeout) */
	char error[300];
	int64_t max_sequence; /* GONE: from the header, -1 if absent */
	Central__Events__V1__Event **events; /* sorted by sequence id */
	ProtobufCBinaryData *raw; /* each one encoded */
	size_t n;
};

typedef void (*harvester_done_fn)(const struct harvester_page *, void *);

struct harvester_req;

/*
 * Ask for page (from 1) of the events after sequence id after; done is
 * called once, and the page's events live in arena until it is reset.
 * NULL with err when the request could not even start.
 */
struct harvester_req *harvester_get(const struct harvester_opts *, const char *,
    int64_t, uint64_t, struct arena *, harvester_done_fn, void *, char *,
    size_t);
/* Abandon a request: done is not called (from done itself: no-op). */
void harvester_cancel(struct harvester_req *);

/* The request URL (for harvester_get and the tests). */
int harvester_url(
    char *, size_t, const struct harvester_opts *, int64_t, uint64_t);
/* A 200 reply's body: 0, or -1 with err. */
int harvester_parse(struct arena *, const char *, size_t,
    struct harvester_page *, char *, size_t);
/* "ResourceCreated" -> CREATED (axway.md 3.2); unknown ones CREATED. */
int harvester_event_type(const char *);

#endif
