/*
 * awakari's messages service on a gRPC server, backed by the store:
 * awakari.messages.Service (PutBatch, GetBatch, DeleteBatch) and
 * awakari.messages.cleaner.Service (Clean), as the shared reference
 * awakari.md describes them, plus the periodic clean and the health
 * status of both services.
 */
#ifndef EVPIPE_STORESVC_H
#define EVPIPE_STORESVC_H

#include <stdint.h>

#include "grpc.h"
#include "secret.h"
#include "store.h"

struct storesvc_opts {
	struct store *store;
	struct secret *token; /* bearer token callers must send, or NULL */
	int64_t retention_us; /* Clean removes what is older */
	int64_t clean_every_ms; /* 0: no periodic clean */
	size_t max_answer; /* GetBatch answers no larger than this */
};

struct storesvc;

struct storesvc *storesvc_new(struct gserver *, const struct storesvc_opts *);
void storesvc_set_up(struct storesvc *, bool);
void storesvc_stop(struct storesvc *);
bool storesvc_idle(const struct storesvc *);
/* What health says: the database is up, writes succeed, not stopping. */
bool storesvc_serving(const struct storesvc *);
void storesvc_free(struct storesvc *);

#endif
