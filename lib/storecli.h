/*
 * The pipeline side of store(1): put, get, delete, clean and scan, each
 * run on the poll loop until done.  Each returns the exit status.
 */
#ifndef EVPIPE_STORECLI_H
#define EVPIPE_STORECLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORECLI_BATCH_BYTES (16u * 1024 * 1024) /* put: commit at */
#define STORECLI_IDS 1000 /* get, delete: ids per request */
#define STORECLI_PAGE 1000 /* scan: events per request */

struct storecli_opts {
	struct store *store;
	/* put */
	size_t batch; /* commit after this many events */
	int64_t linger_ms; /* or when the first has waited this long */
	bool tee;
	const char *acked_to;
	size_t max_record;
	/* get, delete: ids, or none to read them from stdin */
	char **ids;
	size_t nids;
	/* clean */
	int64_t retention_us;
	/* scan */
	int64_t since_us;
	const char *type, *source;
};

int storecli_put(const struct storecli_opts *);
int storecli_get(const struct storecli_opts *);
int storecli_delete(const struct storecli_opts *);
int storecli_clean(const struct storecli_opts *);
int storecli_scan(const struct storecli_opts *);
void storecli_store_state(bool, const char *);

#endif
