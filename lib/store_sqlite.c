/*
 * The SQLite backend: one database file in WAL mode.
 *
 * Durability: synchronous=FULL, so in WAL mode every COMMIT fsyncs the
 * WAL before it returns; a put is acknowledged only after that, so it
 * survives a power cut, not just a crash of the process (NORMAL would
 * only survive the latter).  Group commit amortises the fsync.
 *
 * Statements run synchronously on the poll loop.  A put group costs one
 * fsync (about a millisecond on a local disk; bench/store measures it),
 * during which new requests wait in the kernel's socket buffers and
 * then form the next group; clean works in chunks, so no single step
 * holds the loop for long.  A worker thread would buy little more than
 * that and cost locking.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "errf.h"
#include "exitcode.h"
#include "log.h"
#include "store_be.h"

/*
 * Another process holding the write lock: SQLite's busy handler would
 * sleep inside sqlite3_step(), stalling the whole loop (health checks,
 * every other connection).  So the handler is off and a request that
 * meets SQLITE_BUSY is run again from a loop timer, backing off from
 * BUSY_FIRST_MS to BUSY_MAX_MS, for BUSY_TIMEOUT_MS at most.
 */
#define BUSY_TIMEOUT_MS 5000
#define BUSY_FIRST_MS 2
#define BUSY_MAX_MS 100

enum {
	ST_INSERT,
	ST_GET,
	ST_DELETE,
	ST_CLEAN,
	ST_BEGIN,
	ST_BEGIN_WRITE,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_COUNT
};

struct lite {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	struct store *s;
	struct loop_timer retry; /* the running job met SQLITE_BUSY */
	int64_t busy_since; /* loop_now() of its first try; 0: none */
	int64_t backoff_ms;
	int failed_with; /* primary result code of the last failure */
};

static int
exec(struct lite *l, int which)
{
	int rc;

	rc = sqlite3_step(l->st[which]);
	sqlite3_reset(l->st[which]);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void
fail(struct store_req *r, struct lite *l)
{
	l->failed_with = sqlite3_errcode(l->db) & 0xff;
	if (r->status == STORE_OK)
		store_fail(r, STORE_EFAIL, "sqlite: %s", sqlite3_errmsg(l->db));
}

/* A failed transaction: roll it back, fail every request in it. */
static void
abort_txn(struct lite *l, struct store_req **rs, size_t n)
{
	char why[256];
	size_t i;

	l->failed_with = sqlite3_errcode(l->db) & 0xff;
	snprintf(why, sizeof(why), "sqlite: %s", sqlite3_errmsg(l->db));
	if (!sqlite3_get_autocommit(l->db))
		exec(l, ST_ROLLBACK);
	for (i = 0; i < n; i++)
		if (rs[i]->status == STORE_OK)
			store_fail(rs[i], STORE_EFAIL, "%s", why);
}

/* Puts, one transaction for the whole group. */
static void
run_put(struct store *s, struct lite *l, struct store_req **rs, size_t n)
{
	sqlite3_stmt *st = l->st[ST_INSERT];
	int64_t now = store_now_us();
	const struct store_event *e;
	size_t i, k;

	if (exec(l, ST_BEGIN_WRITE) != SQLITE_OK) {
		abort_txn(l, rs, n);
		return;
	}
	for (i = 0; i < n; i++) {
		for (k = 0; k < rs[i]->nevents; k++) {
			e = &rs[i]->events[k];
			sqlite3_bind_text(st, 1, e->id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_bind_text(st, 3, e->type, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 4, e->source, -1, SQLITE_STATIC);
			sqlite3_bind_blob64(
			    st, 5, e->data, e->len, SQLITE_STATIC);
			if (sqlite3_step(st) != SQLITE_DONE) {
				sqlite3_reset(st);
				abort_txn(l, rs, n);
				return;
			}
			sqlite3_reset(st);
		}
	}
	sqlite3_clear_bindings(st);
	if (exec(l, ST_COMMIT) != SQLITE_OK)
		abort_txn(l, rs, n);
}

static void
run_get(struct store *s, struct lite *l, struct store_req *r)
{
	sqlite3_stmt *st = l->st[ST_GET];
	struct store_row row;
	const char **ids;
	size_t i, n;
	int rc;

	if ((ids = calloc(r->nids + 1, sizeof(*ids))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	n = store_unique_ids(r->ids, r->nids, ids);
	/* One read transaction: one snapshot for the whole batch. */
	if (exec(l, ST_BEGIN) != SQLITE_OK) {
		fail(r, l);
		free(ids);
		return;
	}
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			row.data = sqlite3_column_blob(st, 0);
			row.len = (size_t)sqlite3_column_bytes(st, 0);
			row.ts = sqlite3_column_int64(st, 1);
			row.seq = sqlite3_column_int64(st, 2);
			r->count++;
			r->on_row(r, &row, r->ctx);
		} else if (rc != SQLITE_DONE) {
			fail(r, l);
			sqlite3_reset(st);
			break;
		}
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	exec(l, ST_COMMIT);
	free(ids);
}

static void
run_delete(struct store *s, struct lite *l, struct store_req *r)
{
	sqlite3_stmt *st = l->st[ST_DELETE];
	size_t i;

	if (exec(l, ST_BEGIN_WRITE) != SQLITE_OK) {
		abort_txn(l, &r, 1);
		return;
	}
	for (i = 0; i < r->nids; i++) {
		sqlite3_bind_text(st, 1, r->ids[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_reset(st);
			abort_txn(l, &r, 1);
			return;
		}
		r->count += (uint64_t)sqlite3_changes(l->db);
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	if (exec(l, ST_COMMIT) != SQLITE_OK) {
		abort_txn(l, &r, 1);
		r->count = 0;
	}
}

static void
run_clean(struct store *s, struct lite *l, struct store_req *r)
{
	sqlite3_stmt *st = l->st[ST_CLEAN];

	sqlite3_bind_int64(st, 1, store_now_us() - r->age_us);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)r->limit);
	if (sqlite3_step(st) != SQLITE_DONE)
		fail(r, l);
	else
		r->count = (uint64_t)sqlite3_changes(l->db);
	sqlite3_reset(st);
}

/* A page of a scan; the statement depends on the filters. */
static void
run_scan(struct store *s, struct lite *l, struct store_req *r)
{
	char sql[512];
	sqlite3_stmt *st;
	struct store_row row;
	int rc, i = 3;

	snprintf(sql, sizeof(sql),
	    "SELECT event, ts, rowid FROM %s WHERE (ts, rowid) > (?, ?)%s%s "
	    "ORDER BY ts, rowid LIMIT ?",
	    s->table, r->type != NULL ? " AND type = ?" : "",
	    r->source != NULL ? " AND source = ?" : "");
	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {
		fail(r, l);
		return;
	}
	sqlite3_bind_int64(st, 1, r->after_ts);
	sqlite3_bind_int64(st, 2, r->after_seq);
	if (r->type != NULL)
		sqlite3_bind_text(st, i++, r->type, -1, SQLITE_STATIC);
	if (r->source != NULL)
		sqlite3_bind_text(st, i++, r->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, i, (sqlite3_int64)r->limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row.data = sqlite3_column_blob(st, 0);
		row.len = (size_t)sqlite3_column_bytes(st, 0);
		row.ts = sqlite3_column_int64(st, 1);
		row.seq = sqlite3_column_int64(st, 2);
		r->count++;
		r->on_row(r, &row, r->ctx);
	}
	if (rc != SQLITE_DONE)
		fail(r, l);
	sqlite3_finalize(st);
}

/* Whether the job failed only because another process held a lock. */
static bool
lost_to_lock(struct lite *l, struct store_req **rs, size_t n)
{
	size_t i;

	if (l->failed_with != SQLITE_BUSY && l->failed_with != SQLITE_LOCKED)
		return false;
	for (i = 0; i < n; i++)
		if (rs[i]->status != STORE_OK && rs[i]->count > 0 &&
		    (rs[i]->op == STORE_GET || rs[i]->op == STORE_SCAN))
			return false; /* rows went out: cannot run it again */
	for (i = 0; i < n; i++)
		if (rs[i]->status != STORE_OK)
			return true;
	return false;
}

static void
lite_try(struct store *s, struct store_req **rs, size_t n)
{
	struct lite *l = s->impl;
	int64_t now;
	size_t i;

	l->failed_with = SQLITE_OK;
	switch (rs[0]->op) {
	case STORE_PUT:
		run_put(s, l, rs, n);
		break;
	case STORE_GET:
		run_get(s, l, rs[0]);
		break;
	case STORE_DELETE:
		run_delete(s, l, rs[0]);
		break;
	case STORE_CLEAN:
		run_clean(s, l, rs[0]);
		break;
	case STORE_SCAN:
		run_scan(s, l, rs[0]);
		break;
	}
	now = loop_now();
	if (lost_to_lock(l, rs, n)) {
		if (l->busy_since == 0) {
			linfo("the database is locked by another process; "
			      "trying again for up to %d s",
			    BUSY_TIMEOUT_MS / 1000);
			l->busy_since = now;
			l->backoff_ms = BUSY_FIRST_MS;
		}
		if (now - l->busy_since < BUSY_TIMEOUT_MS) {
			for (i = 0; i < n; i++) {
				rs[i]->status = STORE_OK;
				rs[i]->err[0] = '\0';
				rs[i]->count = 0;
			}
			loop_timer_in(&l->retry, l->backoff_ms);
			if ((l->backoff_ms *= 2) > BUSY_MAX_MS)
				l->backoff_ms = BUSY_MAX_MS;
			return;
		}
		for (i = 0; i < n; i++)
			if (rs[i]->status != STORE_OK)
				store_fail(rs[i], STORE_EFAIL,
				    "sqlite: the database stayed locked by "
				    "another process for %d s",
				    BUSY_TIMEOUT_MS / 1000);
	}
	l->busy_since = 0;
	store_ran(s);
}

/* The lock may be free now: run the waiting job again. */
static void
retry_fired(struct loop_timer *t)
{
	struct lite *l = t->ctx;

	lite_try(l->s, l->s->running, l->s->nrunning);
}

static void
lite_run(struct store *s, struct store_req **rs, size_t n)
{
	lite_try(s, rs, n);
}

static void
lite_close(struct store *s)
{
	struct lite *l = s->impl;
	int i;

	if (l == NULL)
		return;
	loop_timer_stop(&l->retry);
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(l->st[i]);
	sqlite3_close(l->db);
	free(l);
	s->impl = NULL;
}

static const struct store_backend lite_backend = {
	.name = "sqlite",
	.run = lite_run,
	.close = lite_close,
};

static int
pragma(struct lite *l, const char *sql, const char *want, char *err, size_t len)
{
	sqlite3_stmt *st;
	const char *got;
	int rc;

	if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
		return errf(err, len, "%s", sqlite3_errmsg(l->db));
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		errf(err, len, "%s", sqlite3_errmsg(l->db));
		sqlite3_finalize(st);
		return -1;
	}
	got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) :
				 NULL;
	if (want != NULL && (got == NULL || strcmp(got, want) != 0)) {
		errf(err, len, "%s: got %s, want %s", sql,
		    got != NULL ? got : "nothing", want);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

/*
 * Create the file readable by its owner only (the events may be
 * private); SQLite gives its -wal and -shm files the same mode.
 */
static int
create_private(const char *path, char *err, size_t len)
{
	char dir[4096], *slash;
	int fd;

	if (strncmp(path, "file:", 5) == 0 || strcmp(path, ":memory:") == 0)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST)
		return 0;
	if (fd == -1)
		return errf(err, len, "%s: %s", path, strerror(errno));
	close(fd);
	/* The new name must outlive a power cut too. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[slash == dir] = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

int
store_sqlite_open(struct store *s, const char *path, char *err, size_t len)
{
	struct lite *l;
	char sql[1024], why[256];
	static const char *const fixed[] = {
		[ST_BEGIN] = "BEGIN",
		[ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
		[ST_COMMIT] = "COMMIT",
		[ST_ROLLBACK] = "ROLLBACK",
	};
	enum store_access access = s->cfg.access;
	struct stat sb;
	int i, rc, flags;

	if (access == STORE_CREATE) {
		if (create_private(path, err, len) < 0)
			return -1;
	} else if (strncmp(path, "file:", 5) != 0 &&
	    strcmp(path, ":memory:") != 0 && stat(path, &sb) == -1) {
		/* Only put and serve make a database; a typo is an error. */
		return errf(err, len, "%s: %s", path, strerror(errno));
	}
	flags = access == STORE_READONLY ? SQLITE_OPEN_READONLY :
					   SQLITE_OPEN_READWRITE;
	if (access == STORE_CREATE)
		flags |= SQLITE_OPEN_CREATE;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	s->impl = l;
	s->be = &lite_backend;
	l->s = s;
	loop_timer_init(&l->retry, retry_fired, l);
	rc = sqlite3_open_v2(
	    path, &l->db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, NULL);
	if (rc != SQLITE_OK) {
		errf(err, len, "%s: %s", path,
		    l->db != NULL ? sqlite3_errmsg(l->db) : sqlite3_errstr(rc));
		goto fail;
	}
	/* Opening (WAL setup, the table) may wait; requests never do. */
	sqlite3_busy_timeout(l->db, BUSY_TIMEOUT_MS);
	snprintf(sql, sizeof(sql),
	    "CREATE TABLE IF NOT EXISTS %s ("
	    "id TEXT PRIMARY KEY NOT NULL, "
	    "ts INTEGER NOT NULL, " /* stored at, us since the epoch */
	    "type TEXT NOT NULL, "
	    "source TEXT NOT NULL, "
	    "event BLOB NOT NULL);"
	    "CREATE INDEX IF NOT EXISTS \"%s_ts\" ON %s (ts);",
	    s->table, s->table_name, s->table);
	if (access == STORE_READONLY) {
		/* nothing to set up: a reader finds the file as it is */
	} else if (pragma(l, "PRAGMA journal_mode=WAL", "wal", why,
		       sizeof(why)) < 0 ||
	    pragma(l, "PRAGMA synchronous=FULL", NULL, why, sizeof(why)) < 0) {
		errf(err, len, "%s: %s", path, why);
		goto fail;
	}
	if (access != STORE_READONLY &&
	    sqlite3_exec(l->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		errf(err, len, "%s: %s", path, sqlite3_errmsg(l->db));
		goto fail;
	}
	for (i = 0; i < ST_COUNT; i++) {
		switch (i) {
		case ST_INSERT:
			snprintf(sql, sizeof(sql),
			    "INSERT INTO %s (id, ts, type, source, event) "
			    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO "
			    "NOTHING",
			    s->table);
			break;
		case ST_GET:
			snprintf(sql, sizeof(sql),
			    "SELECT event, ts, rowid FROM %s WHERE id = ?",
			    s->table);
			break;
		case ST_DELETE:
			snprintf(sql, sizeof(sql),
			    "DELETE FROM %s WHERE id = ?", s->table);
			break;
		case ST_CLEAN:
			snprintf(sql, sizeof(sql),
			    "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM "
			    "%s WHERE ts < ? ORDER BY ts LIMIT ?)",
			    s->table, s->table);
			break;
		default:
			snprintf(sql, sizeof(sql), "%s", fixed[i]);
		}
		if (sqlite3_prepare_v3(l->db, sql, -1,
			SQLITE_PREPARE_PERSISTENT, &l->st[i],
			NULL) != SQLITE_OK) {
			errf(err, len, "%s: %s", path, sqlite3_errmsg(l->db));
			goto fail;
		}
	}
	sqlite3_busy_timeout(l->db, 0);
	s->up = true;
	return 0;
fail:
	lite_close(s);
	return -1;
}
