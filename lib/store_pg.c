/*
 * The PostgreSQL backend, on libpq's asynchronous API: the connection
 * is made with PQconnectPoll and every query is sent with
 * PQsendQueryParams on a non-blocking connection, its results read as
 * the socket becomes readable, so the poll loop never waits on the
 * network.  One connection; one query in flight; requests queue behind
 * it (and puts that queue meanwhile form the next group).
 *
 * A put group is one statement in its own transaction.  First a COPY
 * (PostgreSQL's bulk path, several times faster per row than INSERT);
 * if an id is already stored, the COPY fails as a whole with a unique
 * violation and the group goes again as INSERT ... SELECT FROM
 * unnest(arrays) ON CONFLICT (id) DO NOTHING, which leaves the stored
 * event alone, whether this process or another sharing the database
 * stored it.  After such a conflict the next groups go straight to
 * INSERT for a while, so that a stream of retries costs no double
 * work.  With the default synchronous_commit=on (we raise it if the
 * server has it off) the commit is durable before PostgreSQL sends
 * ReadyForQuery, and we acknowledge only after that: when PQgetResult
 * returns NULL with no error before it.  Deadlocks between processes
 * inserting the same ids in different orders are retried.
 *
 * A lost connection fails what is in flight, reports the store down,
 * and is re-made with gRPC's connection backoff.
 */
#include "config.h"

#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "backoff.h"
#include "errf.h"
#include "exitcode.h"
#include "log.h"
#include "store_be.h"

#define CONNECT_TIMEOUT_MS 20000
#define DEADLOCK_RETRIES 5
#define COPY_PAUSE 16 /* groups that skip COPY after a conflict */

/* Binary formats (PostgreSQL's array_send, int8send, timestamptz). */
#define OID_BYTEA 17
#define OID_TEXT 25
#define OID_BYTEA_ARRAY 1001
#define OID_TEXT_ARRAY 1009
#define PG_EPOCH_US 946684800000000LL /* 2000-01-01 in unix us */

enum pgstate {
	PG_DOWN, /* waiting to reconnect */
	PG_CONNECTING,
	PG_SETUP, /* setting up the session (and table) */
	PG_READY,
};

struct pg {
	struct store *s;
	char *uri;
	PGconn *conn;
	enum pgstate state;
	struct loop_io io;
	struct loop_timer retry, timeout;
	struct backoff backoff;
	bool flushing; /* PQflush wants to write more */
	bool in_query; /* a query is in flight */
	bool ever_up;
	/* the job: requests being run, or waiting for the connection */
	struct store_req **rs;
	size_t n;
	int tries;
	char err[256]; /* first error of the query in flight */
	char sqlstate[6];
	uint64_t count;
	bool copying; /* the put in flight is a COPY */
	int copy_pause; /* put groups left to INSERT before COPY again */
	char *sql_copy, *sql_put, *sql_get, *sql_delete, *sql_clean;
};

static void pg_down(struct pg *, const char *);
static void send_job(struct pg *);

/* libpq's messages end in a newline and may span lines: make one. */
static void
trim(char *s)
{
	char *r, *w;
	size_t n;

	for (r = w = s; *r != '\0'; r++) {
		if (*r == '\n' || *r == '\t') {
			if (w > s && w[-1] != ' ')
				*w++ = ' ';
			continue;
		}
		*w++ = *r;
	}
	*w = '\0';
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

static char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

/* libpq's NOTICEs ("relation already exists, skipping") at -v. */
static void
on_notice(void *arg, const char *msg)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", msg);
	trim(buf);
	linfo("postgresql: %s", buf);
}

/* ---- the job: requests in, statuses out ---------------------------- */

/* End the job: set the outcome on every request and hand them back. */
static void
job_end(struct pg *p, int status, const char *why)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (status != STORE_OK)
			store_fail(p->rs[i], status, "%s", why);
	p->rs = NULL;
	p->n = 0;
	store_ran(p->s);
}

static void
put_u32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static int64_t
get_i64(const char *b)
{
	const uint8_t *u = (const uint8_t *)b;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | u[i];
	return (int64_t)v;
}

/*
 * A one-dimensional array in PostgreSQL's binary format: ndim, has-
 * null flag, element type, then (size, lower bound), then each element
 * as a 4-byte length and its bytes.
 */
struct pgarray {
	uint8_t *b;
	size_t len, cap;
	size_t n;
};

static void
arr_begin(struct pgarray *a, size_t n, size_t bytes, uint32_t oid)
{
	a->cap = 20 + 4 * n + bytes;
	if ((a->b = malloc(a->cap)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	put_u32(a->b, 1);
	put_u32(a->b + 4, 0);
	put_u32(a->b + 8, oid);
	put_u32(a->b + 12, (uint32_t)n);
	put_u32(a->b + 16, 1);
	a->len = 20;
}

static void
arr_add(struct pgarray *a, const void *p, size_t n)
{
	put_u32(a->b + a->len, (uint32_t)n);
	memcpy(a->b + a->len + 4, p, n);
	a->len += 4 + n;
}

static void
put_u16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

/* COPY's binary format: a header, then per row a field count and each
 * field as a 4-byte length and its bytes, then a -1 trailer. */
static void
put_copy_data(struct pg *p)
{
	static const uint8_t header[19] = { 'P', 'G', 'C', 'O', 'P', 'Y', '\n',
		0xff, '\r', '\n', 0 };
	const struct store_event *e;
	const void *f[4];
	size_t i, k, j, len[4], n = sizeof(header) + 2, at;
	uint8_t *b;
	int r;

	for (i = 0; i < p->n; i++)
		for (k = 0; k < p->rs[i]->nevents; k++) {
			e = &p->rs[i]->events[k];
			n += 2 + 16 + strlen(e->id) + strlen(e->type) +
			    strlen(e->source) + e->len;
		}
	if ((b = malloc(n)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	memcpy(b, header, sizeof(header));
	at = sizeof(header);
	for (i = 0; i < p->n; i++)
		for (k = 0; k < p->rs[i]->nevents; k++) {
			e = &p->rs[i]->events[k];
			f[0] = e->id;
			f[1] = e->type;
			f[2] = e->source;
			f[3] = e->data;
			len[0] = strlen(e->id);
			len[1] = strlen(e->type);
			len[2] = strlen(e->source);
			len[3] = e->len;
			put_u16(b + at, 4);
			at += 2;
			for (j = 0; j < 4; j++) {
				put_u32(b + at, (uint32_t)len[j]);
				memcpy(b + at + 4, f[j], len[j]);
				at += 4 + len[j];
			}
		}
	put_u16(b + at, 0xffff);
	/* Non-blocking: libpq grows its buffer rather than refuse. */
	r = PQputCopyData(p->conn, (const char *)b, (int)n);
	free(b);
	if (r != 1 || PQputCopyEnd(p->conn, NULL) != 1)
		snprintf(p->err, sizeof(p->err), "postgresql: COPY: %s",
		    PQerrorMessage(p->conn));
	p->flushing = PQflush(p->conn) == 1;
}

static int
send_put(struct pg *p)
{
	struct pgarray a[4];
	const char *values[4];
	int lengths[4], formats[4] = { 1, 1, 1, 1 };
	const Oid types[4] = { OID_TEXT_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY,
		OID_BYTEA_ARRAY };
	const struct store_event *e;
	size_t i, k, n = 0, ids = 0, tys = 0, srcs = 0, data = 0;
	int r;

	for (i = 0; i < p->n; i++)
		for (k = 0; k < p->rs[i]->nevents; k++) {
			e = &p->rs[i]->events[k];
			ids += strlen(e->id);
			tys += strlen(e->type);
			srcs += strlen(e->source);
			data += e->len;
			n++;
		}
	arr_begin(&a[0], n, ids, OID_TEXT);
	arr_begin(&a[1], n, tys, OID_TEXT);
	arr_begin(&a[2], n, srcs, OID_TEXT);
	arr_begin(&a[3], n, data, OID_BYTEA);
	for (i = 0; i < p->n; i++)
		for (k = 0; k < p->rs[i]->nevents; k++) {
			e = &p->rs[i]->events[k];
			arr_add(&a[0], e->id, strlen(e->id));
			arr_add(&a[1], e->type, strlen(e->type));
			arr_add(&a[2], e->source, strlen(e->source));
			arr_add(&a[3], e->data, e->len);
		}
	for (i = 0; i < 4; i++) {
		values[i] = (const char *)a[i].b;
		lengths[i] = (int)a[i].len;
	}
	r = PQsendQueryParams(
	    p->conn, p->sql_put, 4, types, values, lengths, formats, 0);
	for (i = 0; i < 4; i++)
		free(a[i].b);
	return r;
}

/* A text[] parameter from ids (for GET, each id once). */
static int
send_ids(struct pg *p, const char *sql, const char *const *ids, size_t n)
{
	struct pgarray a;
	const char *value;
	const Oid type = OID_TEXT_ARRAY;
	int length, format = 1, r;
	size_t i, bytes = 0;

	for (i = 0; i < n; i++)
		bytes += strlen(ids[i]);
	arr_begin(&a, n, bytes, OID_TEXT);
	for (i = 0; i < n; i++)
		arr_add(&a, ids[i], strlen(ids[i]));
	value = (const char *)a.b;
	length = (int)a.len;
	r = PQsendQueryParams(
	    p->conn, sql, 1, &type, &value, &length, &format, 1);
	free(a.b);
	return r;
}

static int
send_get(struct pg *p, struct store_req *r)
{
	const char **ids;
	size_t n;
	int rc;

	if ((ids = calloc(r->nids + 1, sizeof(*ids))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	n = store_unique_ids(r->ids, r->nids, ids);
	rc = send_ids(p, p->sql_get, ids, n);
	free(ids);
	return rc;
}

static int
send_clean(struct pg *p, struct store_req *r)
{
	char age[24], limit[24];
	const char *values[2] = { age, limit };

	snprintf(age, sizeof(age), "%lld", (long long)r->age_us);
	snprintf(limit, sizeof(limit), "%zu", r->limit);
	return PQsendQueryParams(
	    p->conn, p->sql_clean, 2, NULL, values, NULL, NULL, 0);
}

static int
send_scan(struct pg *p, struct store_req *r)
{
	char *sql, ts[24], seq[24], limit[24];
	const char *values[5] = { ts, seq };
	int n = 2, rc;

	snprintf(ts, sizeof(ts), "%lld", (long long)r->after_ts);
	snprintf(seq, sizeof(seq), "%lld", (long long)r->after_seq);
	snprintf(limit, sizeof(limit), "%zu", r->limit);
	if (r->type != NULL)
		values[n++] = r->type;
	if (r->source != NULL)
		values[n++] = r->source;
	values[n++] = limit;
	sql = xasprintf("SELECT event, ts, seq FROM %s WHERE (ts, seq) > "
			"(timestamptz 'epoch' + $1::int8 * interval "
			"'1 microsecond', $2::int8)%s%s ORDER BY ts, seq "
			"LIMIT $%d",
	    p->s->table, r->type != NULL ? " AND type = $3" : "",
	    r->source != NULL ?
		(r->type != NULL ? " AND source = $4" : " AND source = $3") :
		"",
	    n);
	rc = PQsendQueryParams(p->conn, sql, n, NULL, values, NULL, NULL, 1);
	free(sql);
	return rc;
}

/* Send the job's query; on success wait for its results. */
static void
send_job(struct pg *p)
{
	struct store_req *r = p->rs[0];
	int ok = 0;

	p->err[0] = p->sqlstate[0] = '\0';
	p->count = 0;
	switch (r->op) {
	case STORE_PUT:
		p->copying = p->copy_pause == 0;
		if (p->copying)
			ok = PQsendQuery(p->conn, p->sql_copy);
		else
			ok = send_put(p);
		if (p->copy_pause > 0)
			p->copy_pause--;
		break;
	case STORE_GET:
		ok = send_get(p, r);
		break;
	case STORE_DELETE:
		ok = send_ids(p, p->sql_delete, r->ids, r->nids);
		break;
	case STORE_CLEAN:
		ok = send_clean(p, r);
		break;
	case STORE_SCAN:
		ok = send_scan(p, r);
		break;
	}
	if (!ok) {
		char why[256];

		snprintf(why, sizeof(why), "postgresql: %s",
		    PQerrorMessage(p->conn));
		trim(why);
		if (PQstatus(p->conn) == CONNECTION_BAD) {
			pg_down(p, why);
			return;
		}
		job_end(p, STORE_EFAIL, why);
		return;
	}
	p->in_query = true;
	p->flushing = PQflush(p->conn) == 1;
}

/* One result of the query in flight. */
static void
take_result(struct pg *p, PGresult *res)
{
	struct store_req *r = p->rs != NULL ? p->rs[0] : NULL;
	struct store_row row;
	const char *state;
	int i, n;

	switch (PQresultStatus(res)) {
	case PGRES_COPY_IN:
		put_copy_data(p);
		return;
	case PGRES_COMMAND_OK:
		p->count += strtoull(PQcmdTuples(res), NULL, 10);
		return;
	case PGRES_TUPLES_OK:
		if (p->state != PG_READY || r == NULL || r->on_row == NULL)
			return;
		n = PQntuples(res);
		for (i = 0; i < n && p->err[0] == '\0'; i++) {
			if (PQgetlength(res, i, 1) != 8 ||
			    PQgetlength(res, i, 2) != 8) {
				snprintf(p->err, sizeof(p->err),
				    "postgresql: unexpected column format");
				return;
			}
			row.data = (const uint8_t *)PQgetvalue(res, i, 0);
			row.len = (size_t)PQgetlength(res, i, 0);
			row.ts = get_i64(PQgetvalue(res, i, 1)) + PG_EPOCH_US;
			row.seq = get_i64(PQgetvalue(res, i, 2));
			p->count++;
			r->on_row(r, &row, r->ctx);
		}
		return;
	default:
		if (p->err[0] != '\0')
			return;
		/* The primary message is one line; the whole one adds
		 * the statement and a caret under it. */
		if ((state = PQresultErrorField(
			 res, PG_DIAG_MESSAGE_PRIMARY)) == NULL)
			state = PQresultErrorMessage(res);
		snprintf(p->err, sizeof(p->err), "postgresql: %s", state);
		trim(p->err);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		snprintf(p->sqlstate, sizeof(p->sqlstate), "%s",
		    state != NULL ? state : "");
	}
}

static void setup_done(struct pg *);

/* The query in flight is over (PQgetResult returned NULL). */
static void
query_done(struct pg *p)
{
	size_t i;

	p->in_query = false;
	if (p->state == PG_SETUP) {
		setup_done(p);
		return;
	}
	if (p->rs == NULL)
		return;
	if (p->err[0] == '\0') {
		if (p->rs[0]->op != STORE_PUT)
			p->rs[0]->count = p->count;
		job_end(p, STORE_OK, NULL);
		return;
	}
	/* 23505 unique_violation: an id of the COPY is stored already;
	 * nothing was written; the group goes again as INSERT. */
	if (p->copying && strcmp(p->sqlstate, "23505") == 0) {
		ltrace("%s; inserting instead", p->err);
		p->copy_pause = COPY_PAUSE;
		send_job(p);
		return;
	}
	/* 40P01 deadlock_detected, 40001 serialization_failure: nothing
	 * was written; run it again. */
	if ((strcmp(p->sqlstate, "40P01") == 0 ||
		strcmp(p->sqlstate, "40001") == 0) &&
	    ++p->tries <= DEADLOCK_RETRIES) {
		linfo("%s; retrying", p->err);
		for (i = 0; i < p->n; i++)
			p->rs[i]->count = 0;
		send_job(p);
		return;
	}
	job_end(p, STORE_EFAIL, p->err);
}

/* Read what has arrived and take every complete result. */
static void
read_results(struct pg *p)
{
	PGresult *res;
	PGnotify *n;
	char why[256];

	if (!PQconsumeInput(p->conn)) {
		snprintf(why, sizeof(why), "postgresql: %s",
		    PQerrorMessage(p->conn));
		trim(why);
		pg_down(p, why);
		return;
	}
	while (p->conn != NULL && p->in_query && !PQisBusy(p->conn)) {
		if ((res = PQgetResult(p->conn)) == NULL) {
			query_done(p);
			continue;
		}
		take_result(p, res);
		PQclear(res);
	}
	if (p->conn == NULL)
		return;
	while ((n = PQnotifies(p->conn)) != NULL)
		PQfreemem(n);
	if (PQstatus(p->conn) == CONNECTION_BAD)
		pg_down(p, "postgresql: connection lost");
}

/* ---- connection ----------------------------------------------------- */

static void
io_prepare(struct loop_io *io)
{
	struct pg *p = io->ctx;

	if (p->conn == NULL || p->state == PG_DOWN) {
		io->fd = -1;
		return;
	}
	io->fd = PQsocket(p->conn);
	if (p->state == PG_CONNECTING)
		return; /* events set from PQconnectPoll's answer */
	io->events = POLLIN | (p->flushing ? POLLOUT : 0);
}

static void start_setup(struct pg *);

static void
connect_step(struct pg *p)
{
	char why[512];

	switch (PQconnectPoll(p->conn)) {
	case PGRES_POLLING_READING:
		p->io.events = POLLIN;
		break;
	case PGRES_POLLING_WRITING:
		p->io.events = POLLOUT;
		break;
	case PGRES_POLLING_OK:
		loop_timer_stop(&p->timeout);
		if (PQsetnonblocking(p->conn, 1) != 0) {
			pg_down(p,
			    "postgresql: cannot make the connection "
			    "non-blocking");
			return;
		}
		start_setup(p);
		break;
	default:
		snprintf(why, sizeof(why), "postgresql: %s",
		    PQerrorMessage(p->conn));
		trim(why);
		pg_down(p, why);
	}
}

static void
io_ready(struct loop_io *io, short revents)
{
	struct pg *p = io->ctx;

	if (p->state == PG_CONNECTING) {
		connect_step(p);
		return;
	}
	if ((revents & POLLOUT) && p->flushing) {
		int r = PQflush(p->conn);

		if (r < 0) {
			pg_down(p, "postgresql: connection lost");
			return;
		}
		p->flushing = r == 1;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		read_results(p);
}

static void
connect_timeout(struct loop_timer *t)
{
	pg_down(t->ctx, "postgresql: connection timed out");
}

/* Fires when it is time to (re)connect. */
static void
pg_connect(struct loop_timer *t)
{
	struct pg *p = t->ctx;
	PQconninfoOption *opts, *o;
	const char **kw, **val;
	char *msg = NULL;
	bool have_db = false, have_user = false, have_pw = false;
	size_t n = 0, i;

	if ((opts = PQconninfoParse(p->uri, &msg)) == NULL) {
		char why[256];

		/* libpq's message names the problem, not the password. */
		snprintf(why, sizeof(why), "postgresql URI: %s",
		    msg != NULL ? msg : "out of memory");
		trim(why);
		PQfreemem(msg);
		pg_down(p, why);
		return;
	}
	for (o = opts; o->keyword != NULL; o++)
		n++;
	kw = calloc(n + 5, sizeof(*kw));
	val = calloc(n + 5, sizeof(*val));
	if (kw == NULL || val == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (o = opts, i = 0; o->keyword != NULL; o++) {
		if (o->val == NULL || *o->val == '\0')
			continue;
		have_db |= strcmp(o->keyword, "dbname") == 0;
		have_user |= strcmp(o->keyword, "user") == 0;
		have_pw |= strcmp(o->keyword, "password") == 0;
		kw[i] = o->keyword;
		val[i++] = o->val;
	}
	if (!have_db && p->s->cfg.dbname != NULL) {
		kw[i] = "dbname";
		val[i++] = p->s->cfg.dbname;
	}
	if (!have_user && p->s->cfg.username != NULL) {
		kw[i] = "user";
		val[i++] = p->s->cfg.username;
	}
	if (!have_pw && p->s->cfg.password != NULL) {
		kw[i] = "password";
		val[i++] = p->s->cfg.password;
	}
	kw[i] = "fallback_application_name";
	val[i++] = "evpipe-store";
	p->conn = PQconnectStartParams(kw, val, 0);
	free(kw);
	free(val);
	PQconninfoFree(opts);
	if (p->conn == NULL)
		die(EXIT_INTERNAL, "out of memory");
	if (PQstatus(p->conn) == CONNECTION_BAD) {
		char why[512];

		snprintf(why, sizeof(why), "postgresql: %s",
		    PQerrorMessage(p->conn));
		trim(why);
		pg_down(p, why);
		return;
	}
	PQsetNoticeProcessor(p->conn, on_notice, p);
	p->state = PG_CONNECTING;
	p->io.events = POLLOUT; /* as if PQconnectPoll said WRITING */
	loop_timer_in(&p->timeout, CONNECT_TIMEOUT_MS);
}

/*
 * Create the table and index once, under an advisory lock so that
 * servers starting together do not race; raise synchronous_commit if
 * the server default turned it off (a put must be durable).  Only put
 * and serve make the table: for the other commands a mistyped name is
 * an error ("relation ... does not exist", exit 74), as a mistyped
 * SQLite path is.
 */
#define SYNC_ON                                                 \
	"SELECT set_config('synchronous_commit', 'on', false) " \
	"WHERE current_setting('synchronous_commit') = 'off'"

static void
start_setup(struct pg *p)
{
	char *sql;
	int ok;

	p->state = PG_SETUP;
	p->err[0] = '\0';
	if (p->s->cfg.access != STORE_CREATE)
		sql = xasprintf("%s", SYNC_ON);
	else
		sql = xasprintf("%s;"
				"BEGIN;"
				"SELECT pg_advisory_xact_lock("
				"hashtext('evpipe store %s'));"
				"CREATE TABLE IF NOT EXISTS %s ("
				"id text PRIMARY KEY, "
				"ts timestamptz NOT NULL DEFAULT now(), "
				"seq bigint GENERATED ALWAYS AS IDENTITY, "
				"type text NOT NULL, "
				"source text NOT NULL, "
				"event bytea NOT NULL);"
				"CREATE INDEX IF NOT EXISTS \"%s_ts\" ON %s "
				"(ts, seq);"
				"COMMIT",
		    SYNC_ON, p->s->table_name, p->s->table, p->s->table_name,
		    p->s->table);
	ok = PQsendQuery(p->conn, sql);
	free(sql);
	if (!ok) {
		pg_down(p, "postgresql: cannot send the schema set-up");
		return;
	}
	p->in_query = true;
	p->flushing = PQflush(p->conn) == 1;
}

static void
setup_done(struct pg *p)
{
	char why[300];

	if (p->err[0] != '\0') {
		snprintf(why, sizeof(why), "%s", p->err);
		pg_down(p, why);
		return;
	}
	p->state = PG_READY;
	backoff_reset(&p->backoff);
	p->ever_up = true;
	linfo("postgresql: connected to %s", PQdb(p->conn));
	store_set_up(p->s, true, NULL);
	if (p->rs != NULL)
		send_job(p);
}

/* The connection failed or was lost: fail the job, try again later. */
static void
pg_down(struct pg *p, const char *why)
{
	int64_t delay;

	loop_timer_stop(&p->timeout);
	if (p->conn != NULL)
		PQfinish(p->conn);
	p->conn = NULL;
	p->io.fd = -1;
	p->in_query = p->flushing = false;
	p->state = PG_DOWN;
	delay = backoff_next(&p->backoff);
	loop_timer_in(&p->retry, delay);
	linfo("postgresql: reconnecting in %lld ms", (long long)delay);
	store_set_up(p->s, false, why);
	if (p->rs != NULL)
		job_end(p, STORE_EDOWN, why);
}

static void
pg_run(struct store *s, struct store_req **rs, size_t n)
{
	struct pg *p = s->impl;

	p->rs = rs;
	p->n = n;
	p->tries = 0;
	if (p->state == PG_READY)
		send_job(p);
	else if (p->state == PG_DOWN)
		job_end(p, STORE_EDOWN, "postgresql: not connected");
	/* else connecting: the job goes out once the connection is ready */
}

static void
pg_close(struct store *s)
{
	struct pg *p = s->impl;

	if (p == NULL)
		return;
	loop_io_del(&p->io);
	loop_timer_stop(&p->retry);
	loop_timer_stop(&p->timeout);
	if (p->conn != NULL)
		PQfinish(p->conn);
	free(p->uri);
	free(p->sql_copy);
	free(p->sql_put);
	free(p->sql_get);
	free(p->sql_delete);
	free(p->sql_clean);
	free(p);
	s->impl = NULL;
}

static const struct store_backend pg_backend = {
	.name = "postgresql",
	.run = pg_run,
	.close = pg_close,
};

/* Start connecting; the result comes through the config's on_state. */
int
store_pg_open(struct store *s, const char *uri, char *err, size_t len)
{
	const char *t = s->table;
	struct pg *p;
	char *msg = NULL;
	PQconninfoOption *opts;

	if ((opts = PQconninfoParse(uri, &msg)) == NULL) {
		errf(err, len, "postgresql URI: %s",
		    msg != NULL ? msg : "out of memory");
		trim(err);
		PQfreemem(msg);
		return -1;
	}
	PQconninfoFree(opts);
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->uri = strdup(uri)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	p->s = s;
	s->impl = p;
	s->be = &pg_backend;
	p->sql_copy = xasprintf(
	    "COPY %s (id, type, source, event) FROM STDIN (FORMAT binary)", t);
	p->sql_put = xasprintf(
	    "INSERT INTO %s (id, type, source, event) SELECT * FROM "
	    "unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) "
	    "ON CONFLICT (id) DO NOTHING",
	    t);
	p->sql_get = xasprintf("SELECT m.event, m.ts, m.seq FROM "
			       "unnest($1::text[]) WITH ORDINALITY AS u(id, n) "
			       "JOIN %s m ON m.id = u.id ORDER BY u.n",
	    t);
	p->sql_delete = xasprintf("DELETE FROM %s WHERE id = ANY($1)", t);
	p->sql_clean = xasprintf(
	    "DELETE FROM %s WHERE id IN (SELECT id FROM %s WHERE ts < now() - "
	    "$1::int8 * interval '1 microsecond' ORDER BY ts LIMIT $2::int8 "
	    "FOR UPDATE SKIP LOCKED)",
	    t, t);
	p->io = (struct loop_io){
		.fd = -1, .prepare = io_prepare, .ready = io_ready, .ctx = p
	};
	loop_io_add(&p->io);
	loop_timer_init(&p->retry, pg_connect, p);
	loop_timer_init(&p->timeout, connect_timeout, p);
	backoff_init(&p->backoff, (uint64_t)store_now_us());
	p->state = PG_CONNECTING;
	loop_timer_in(&p->retry, 0);
	return 0;
}
