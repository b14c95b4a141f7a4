/*
 * forward's targets (--protocol), each set up on an engine (fwd.h):
 *
 *   demo   EngFlow's demo Forwarding/ForwardStream, one unary call per
 *          event with the payload in text format (fwd_demo.c)
 *   unary  any unary method, the event's proto_data value (or the whole
 *          CloudEvent) as the request (fwd_unary.c)
 *   bes    Build Event Service: tool event streams and lifecycle
 *          events (fwd_bes.c, with bes.c)
 *   store  awakari messages PutBatch, in batches (fwd_store.c)
 */
#ifndef EVPIPE_FWD_TARGETS_H
#define EVPIPE_FWD_TARGETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fwd.h"

#define DEMO_PATH \
	"/com.engflow.notificationqueue.demoserver.Forwarding/ForwardStream"

/* One unary call per event; the builder makes ev->req. */
struct unary_spec {
	const char *path;
	int (*build)(
	    void *, struct fwd_ev *, const CloudEvent *, char *, size_t);
	/* --dry-run: print the request of ev (fwd_dry_print). */
	void (*dry)(void *, struct fwd *, const char *, const struct fwd_ev *);
	/* A response arrived (for the log); may be NULL. */
	void (*response)(
	    void *, const struct fwd_ev *, const uint8_t *, size_t);
	void *ctx;
	void (*free)(void *);
};

void fwd_unary_start(struct fwd *, const struct unary_spec *);
void fwd_demo_start(struct fwd *, bool);
int fwd_method_start(struct fwd *, const char *, bool, char *, size_t);

struct bes_opts {
	const char *project_id; /* --project-id: Bazel's --bes_instance_name */
	bool lifecycle; /* publish lifecycle events */
};

void fwd_bes_start(struct fwd *, const struct bes_opts *);

struct store_opts {
	uint64_t batch; /* events per PutBatch, at most */
	int64_t linger_ms; /* wait this long for a batch to fill */
};

void fwd_store_start(struct fwd *, const struct store_opts *);

#endif
