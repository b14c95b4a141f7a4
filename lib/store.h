/*
 * The message store behind store(1): CloudEvents kept by id, with the
 * time each was stored, in SQLite (a file, the default) or PostgreSQL
 * (shared by many hosts).  One interface, two backends.
 *
 * Requests run in order on the poll loop and each ends exactly once
 * through its done callback.  Puts queued in the same loop round (or
 * while the previous transaction is committing) run as one transaction:
 * group commit, so many concurrent callers share one fsync.  A put's
 * done callback fires only after its transaction is durably committed.
 *
 * Every event is stored as the exact bytes it arrived in; an id that is
 * already stored is left as it is (the put still succeeds).
 */
#ifndef EVPIPE_STORE_H
#define EVPIPE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_TABLE_DEFAULT "messages"
#define STORE_CLEAN_CHUNK 10000 /* rows removed per clean transaction */

struct store;

struct store_config {
	const char *uri; /* sqlite:PATH, PATH, postgres://... */
	const char *dbname; /* PostgreSQL: when the URI names none */
	const char *username; /* PostgreSQL: when the URI names none */
	const char *password; /* PostgreSQL; never logged */
	const char *table; /* NULL: STORE_TABLE_DEFAULT */
	/*
	 * How a command uses the database: STORE_CREATE makes a missing
	 * SQLite file and table (put, serve); STORE_EXISTING writes to one
	 * that must exist (delete, clean); STORE_READONLY only reads one
	 * (get, scan): a mistyped path is an error, never a new file.
	 */
	enum store_access {
		STORE_CREATE,
		STORE_EXISTING,
		STORE_READONLY
	} access;
	/*
	 * The database became usable (up) or not; why says what failed.
	 * The first call says whether opening worked at all.  PostgreSQL
	 * reconnects by itself after a lost connection.
	 */
	void (*on_state)(bool up, const char *why, void *ctx);
	void *ctx;
};

enum store_op {
	STORE_PUT,
	STORE_GET,
	STORE_DELETE,
	STORE_CLEAN,
	STORE_SCAN,
};

enum store_status {
	STORE_OK = 0,
	STORE_EFAIL = -1, /* the database refused or failed the request */
	STORE_EDOWN = -2, /* no connection to the database */
};

struct store_event { /* one event to put */
	const char *id, *type, *source;
	const uint8_t *data; /* its protobuf bytes */
	size_t len;
};

struct store_row { /* one event found */
	const uint8_t *data;
	size_t len;
	int64_t ts; /* when it was stored, microseconds since the epoch */
	int64_t seq; /* order of storing among equal ts */
};

struct store_req {
	enum store_op op;
	/* PUT */
	const struct store_event *events;
	size_t nevents;
	/* GET (each id once, in the order given), DELETE */
	const char *const *ids;
	size_t nids;
	/* CLEAN: remove up to limit events stored more than age ago */
	int64_t age_us;
	/* SCAN: up to limit events stored after (after_ts, after_seq), in
	 * that order; from time T on: (T, -1); ts is in microseconds since
	 * the epoch */
	int64_t after_ts, after_seq;
	const char *type, *source; /* NULL: any */
	size_t limit;

	/* Results. */
	void (*on_row)(struct store_req *, const struct store_row *, void *);
	void (*done)(struct store_req *, void *);
	void *ctx;
	int status; /* enum store_status */
	char err[256];
	uint64_t count; /* DELETE, CLEAN: removed; GET, SCAN: rows */

	struct store_req *next; /* private */
};

int store_uri_check(const char *, char *, size_t);
char *store_default_uri(char *, size_t);
struct store *store_open(const struct store_config *, char *, size_t);
void store_submit(struct store *, struct store_req *);
bool store_idle(const struct store *);
bool store_up(const struct store *);
const char *store_backend_name(const struct store *);
void store_close(struct store *);

int64_t store_now_us(void);
size_t store_unique_ids(const char *const *, size_t, const char **);

#endif
