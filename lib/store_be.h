/*
 * What lib/store.c needs from a storage backend (store_sqlite.c,
 * store_pg.c); private to those files.
 */
#ifndef EVPIPE_STORE_BE_H
#define EVPIPE_STORE_BE_H

#include "loop.h"
#include "store.h"

#define STORE_GROUP_REQS 4096 /* puts in one transaction, at most */
#define STORE_GROUP_BYTES (32u * 1024 * 1024) /* and event bytes */

struct store_backend {
	const char *name;
	/*
	 * Start running n requests: one request, or n puts to commit as
	 * one transaction.  Each gets its status set (and rows passed to
	 * on_row); then the backend calls store_ran(), before returning
	 * or later from the loop.
	 */
	void (*run)(struct store *, struct store_req **, size_t);
	void (*close)(struct store *);
};

struct store {
	const struct store_backend *be;
	void *impl;
	struct store_config cfg;
	char *table_name; /* [A-Za-z_][A-Za-z0-9_]* */
	char *table; /* the same, quoted */
	struct store_req *head, *tail; /* queued */
	struct store_req **running;
	size_t nrunning;
	bool busy, up, closing;
	struct loop_timer kick;
};

int store_sqlite_open(struct store *, const char *, char *, size_t);
int store_pg_open(struct store *, const char *, char *, size_t);

void store_ran(struct store *);
void store_set_up(struct store *, bool, const char *);
void store_fail(struct store_req *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

#endif
