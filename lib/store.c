#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errf.h"
#include "exitcode.h"
#include "log.h"
#include "store_be.h"

#define SCHEMES_HELP                                                 \
	"use a file path or sqlite:PATH for SQLite, postgres:// or " \
	"postgresql:// for PostgreSQL"

enum kind { KIND_BAD = -1, KIND_SQLITE, KIND_PG };

/*
 * Which backend a URI names, and for SQLite the path.  Anything that
 * looks like scheme:// must be one of ours; the rest is a file path.
 * The URI itself is never repeated in errors: it may hold a password.
 */
static enum kind
uri_kind(const char *uri, const char **path, char *err, size_t len)
{
	size_t n;

	if (strncmp(uri, "postgres://", 11) == 0 ||
	    strncmp(uri, "postgresql://", 13) == 0)
		return KIND_PG;
	if (strncmp(uri, "sqlite:", 7) == 0) {
		*path = uri + 7;
		if (strncmp(*path, "//", 2) == 0)
			*path += 2;
		if (**path == '\0') {
			errf(err, len, "database URI sqlite: names no file");
			return KIND_BAD;
		}
		return KIND_SQLITE;
	}
	n = strspn(uri,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+.-");
	if (n > 0 && strncmp(uri + n, "://", 3) == 0) {
		errf(err, len, "unsupported database URI scheme \"%.*s\": %s",
		    (int)(n < 32 ? n : 32), uri, SCHEMES_HELP);
		return KIND_BAD;
	}
	if (*uri == '\0') {
		errf(err, len, "empty database URI: %s", SCHEMES_HELP);
		return KIND_BAD;
	}
	*path = uri;
	return KIND_SQLITE;
}

/* A usage check of --db / DB_URI before anything is opened. */
int
store_uri_check(const char *uri, char *err, size_t len)
{
	const char *path;

	return uri_kind(uri, &path, err, len) == KIND_BAD ? -1 : 0;
}

static int
mkdirs(char *path)
{
	char *p;

	for (p = path + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/*
 * The SQLite file used when neither --db nor DB_URI is given:
 * $XDG_DATA_HOME/evpipe/store.db, by default ~/.local/share/evpipe/
 * (XDG Base Directory Specification).  Its directories are created.
 */
char *
store_default_uri(char *buf, size_t len)
{
	const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && *xdg == '/')
		n = snprintf(buf, len, "%s/evpipe/store.db", xdg);
	else if (home != NULL && *home != '\0')
		n = snprintf(buf, len, "%s/.local/share/evpipe/store.db", home);
	else
		n = snprintf(buf, len, "store.db");
	if (n < 0 || (size_t)n >= len)
		return NULL;
	if (strchr(buf, '/') != NULL && mkdirs(buf) == -1)
		return NULL;
	return buf;
}

static bool
table_ok(const char *t)
{
	size_t i;

	if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
		*t == '_'))
		return false;
	for (i = 0; t[i] != '\0'; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') ||
			(t[i] >= 'A' && t[i] <= 'Z') ||
			(t[i] >= '0' && t[i] <= '9') || t[i] == '_'))
			return false;
	return i <= 63; /* PostgreSQL's NAMEDATALEN - 1 */
}

static void kick_fired(struct loop_timer *);

struct store *
store_open(const struct store_config *cfg, char *err, size_t len)
{
	const char *path = NULL, *table;
	struct store *s;
	enum kind k;
	int r;

	if ((k = uri_kind(cfg->uri, &path, err, len)) == KIND_BAD)
		return NULL;
	table = cfg->table != NULL ? cfg->table : STORE_TABLE_DEFAULT;
	if (!table_ok(table)) {
		errf(err, len,
		    "table name \"%.64s\": use 1 to 63 letters, digits and _, "
		    "not starting with a digit",
		    table);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	s->cfg = *cfg;
	if ((s->table = malloc(strlen(table) + 3)) == NULL ||
	    (s->table_name = strdup(table)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	sprintf(s->table, "\"%s\"", table);
	loop_timer_init(&s->kick, kick_fired, s);
	r = k == KIND_PG ? store_pg_open(s, cfg->uri, err, len) :
			   store_sqlite_open(s, path, err, len);
	if (r < 0) {
		free(s->table);
		free(s->table_name);
		free(s);
		return NULL;
	}
	return s;
}

const char *
store_backend_name(const struct store *s)
{
	return s->be->name;
}

bool
store_up(const struct store *s)
{
	return s->up;
}

/* Backends report availability here; it is passed on to the user. */
void
store_set_up(struct store *s, bool up, const char *why)
{
	s->up = up;
	if (s->cfg.on_state != NULL)
		s->cfg.on_state(up, why, s->cfg.ctx);
}

void
store_fail(struct store_req *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

void
store_submit(struct store *s, struct store_req *r)
{
	r->next = NULL;
	r->status = STORE_OK;
	r->err[0] = '\0';
	r->count = 0;
	if (s->tail != NULL)
		s->tail->next = r;
	else
		s->head = r;
	s->tail = r;
	/* Not now: let the rest of this loop round queue its puts too. */
	if (!s->busy && !loop_timer_armed(&s->kick))
		loop_timer_in(&s->kick, 0);
}

static size_t
put_bytes(const struct store_req *r)
{
	size_t i, n = 0;

	for (i = 0; i < r->nevents; i++)
		n += r->events[i].len;
	return n;
}

/*
 * Take the next job off the queue: the request at the head or, when it
 * is a put, every queued put (up to the group limits), in order.
 */
static size_t
take_group(struct store *s)
{
	struct store_req **pp, *r;
	size_t n = 0, bytes = 0;

	if (s->head->op != STORE_PUT) {
		s->running[n++] = s->head;
		s->head = s->head->next;
	} else {
		for (pp = &s->head;
		     (r = *pp) != NULL && n < STORE_GROUP_REQS;) {
			if (r->op != STORE_PUT) {
				pp = &r->next;
				continue;
			}
			if (n > 0 && bytes + put_bytes(r) > STORE_GROUP_BYTES)
				break;
			bytes += put_bytes(r);
			s->running[n++] = r;
			*pp = r->next;
		}
	}
	for (s->tail = s->head; s->tail != NULL && s->tail->next != NULL;)
		s->tail = s->tail->next;
	return n;
}

static void
kick_fired(struct loop_timer *t)
{
	struct store *s = t->ctx;

	if (s->busy || s->head == NULL)
		return;
	if (s->running == NULL &&
	    (s->running = calloc(STORE_GROUP_REQS, sizeof(*s->running))) ==
		NULL)
		die(EXIT_INTERNAL, "out of memory");
	s->nrunning = take_group(s);
	s->busy = true;
	s->be->run(s, s->running, s->nrunning);
}

/* The backend has finished the running job: tell its requesters. */
void
store_ran(struct store *s)
{
	struct store_req *r;
	size_t i, n = s->nrunning;

	s->nrunning = 0;
	for (i = 0; i < n; i++) {
		r = s->running[i];
		s->running[i] = NULL;
		r->next = NULL;
		r->done(r, r->ctx);
	}
	s->busy = false;
	if (s->head != NULL && !loop_timer_armed(&s->kick))
		loop_timer_in(&s->kick, 0);
}

bool
store_idle(const struct store *s)
{
	return !s->busy && s->head == NULL;
}

/* Close at once: queued requests are not run (callers drain first). */
void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	loop_timer_stop(&s->kick);
	s->be->close(s);
	free(s->running);
	free(s->table);
	free(s->table_name);
	free(s);
}

static int
cmp_idx(const void *a, const void *b, void *ctx)
{
	const char *const *ids = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(ids[i], ids[j]);

	return c != 0 ? c : i < j ? -1 : i > j;
}

/*
 * The distinct ids, each at its first position: out gets up to n ids.
 * Returns how many.
 */
size_t
store_unique_ids(const char *const *ids, size_t n, const char **out)
{
	size_t *idx, i, k;
	bool *dup;

	if (n == 0)
		return 0;
	idx = calloc(n, sizeof(*idx));
	dup = calloc(n, sizeof(*dup));
	if (idx == NULL || dup == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (i = 0; i < n; i++)
		idx[i] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_idx, (void *)ids);
	for (i = 1; i < n; i++)
		if (strcmp(ids[idx[i]], ids[idx[i - 1]]) == 0)
			dup[idx[i]] = true;
	for (i = k = 0; i < n; i++)
		if (!dup[i])
			out[k++] = ids[i];
	free(idx);
	free(dup);
	return k;
}

int64_t
store_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
