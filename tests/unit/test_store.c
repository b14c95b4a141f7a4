/*
 * lib/store.c and the SQLite backend: URIs, group commit, the put /
 * get / delete / clean / scan contract, on a database in a temporary
 * directory.  (PostgreSQL is tested against a real server in
 * tests/store.bats.)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "store.h"
#include "tap.h"

static struct store *st;
static int ndone;
static uint64_t done_round[8];
static char rows[64][64];
static int nrows;
static int64_t last_ts, last_seq;

static void
done(struct store_req *r, void *ctx)
{
	if (ndone < 8)
		done_round[ndone] = loop_round();
	ndone++;
}

static void
row(struct store_req *r, const struct store_row *w, void *ctx)
{
	if (nrows < 64)
		snprintf(rows[nrows++], sizeof(rows[0]), "%.*s", (int)w->len,
		    (const char *)w->data);
	last_ts = w->ts;
	last_seq = w->seq;
}

/* Run the loop until n requests are done (or a timeout). */
static void
quit(struct loop_timer *t)
{
	loop_quit(1);
}

static void
run_until(int n)
{
	struct loop_timer guard;

	loop_timer_init(&guard, quit, NULL);
	loop_timer_in(&guard, 10000);
	while (ndone < n)
		if (loop_run() != 0)
			break;
	loop_timer_stop(&guard);
}

static void
check_done(struct loop_timer *t)
{
	if (ndone >= *(int *)t->ctx)
		loop_quit(0);
	else
		loop_timer_in(t, 1);
}

static void
wait_for(int n)
{
	struct loop_timer t;

	loop_timer_init(&t, check_done, &n);
	loop_timer_in(&t, 0);
	run_until(n);
	loop_timer_stop(&t);
}

/* The "event" bytes here are just text: the store keeps any bytes. */
static struct store_event
ev(const char *id, const char *type, const char *data)
{
	return (struct store_event){ .id = id,
		.type = type,
		.source = "/s",
		.data = (const uint8_t *)data,
		.len = strlen(data) };
}

static void
test_uris(void)
{
	char err[256];

	ok(store_uri_check("x.db", err, sizeof(err)) == 0, "a path");
	ok(store_uri_check("sqlite:x.db", err, sizeof(err)) == 0, "sqlite:");
	ok(store_uri_check("sqlite:///tmp/x.db", err, sizeof(err)) == 0,
	    "sqlite:///");
	ok(store_uri_check("postgres://h/db", err, sizeof(err)) == 0,
	    "postgres://");
	ok(store_uri_check("postgresql://u:p@h/db", err, sizeof(err)) == 0,
	    "postgresql://");
	is_int(store_uri_check("mongodb://u:secret@h/", err, sizeof(err)), -1,
	    "mongodb:// refused");
	is_str(err,
	    "unsupported database URI scheme \"mongodb\": use a file path or "
	    "sqlite:PATH for SQLite, postgres:// or postgresql:// for "
	    "PostgreSQL",
	    "naming the schemes we take");
	ok(strstr(err, "secret") == NULL, "and not the password");
	is_int(store_uri_check("sqlite:", err, sizeof(err)), -1,
	    "sqlite: without a file");
	is_int(store_uri_check("", err, sizeof(err)), -1, "empty");
}

static void
test_unique(void)
{
	const char *ids[] = { "b", "a", "b", "c", "a", "d" }, *out[6];
	size_t n = store_unique_ids(ids, 6, out);

	is_int(n, 4, "4 distinct ids");
	ok(n == 4 && strcmp(out[0], "b") == 0 && strcmp(out[1], "a") == 0 &&
		strcmp(out[2], "c") == 0 && strcmp(out[3], "d") == 0,
	    "each at its first position");
	is_int(store_unique_ids(ids, 0, out), 0, "none of none");
}

int
main(void)
{
	char dir[] = "/tmp/test_store.XXXXXX", path[300], err[256];
	struct store_config cfg = { 0 };
	struct store_event e1[] = { ev("1", "t", "one"), ev("2", "t", "two") };
	struct store_event e2[] = { ev("3", "u", "three"),
		ev("1", "t", "ONE") };
	struct store_event e3[] = { ev("4", "t", "four"),
		ev("4", "t", "FOUR") };
	const char *get_ids[] = { "3", "nope", "1", "3" };
	const char *del_ids[] = { "2", "nope", "2" };
	struct store_req r[8];

	test_uris();
	test_unique();

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/s.db", dir);
	cfg.uri = path;
	st = store_open(&cfg, err, sizeof(err));
	ok(st != NULL, "open: %s", st != NULL ? "ok" : err);
	if (st == NULL)
		return done_testing();
	is_str(store_backend_name(st), "sqlite", "the SQLite backend");
	ok(store_up(st), "up at once");

	/* Three puts queued in one round: one transaction, done together. */
	memset(r, 0, sizeof(r));
	r[0] = (struct store_req){
		.op = STORE_PUT, .events = e1, .nevents = 2, .done = done
	};
	r[1] = (struct store_req){
		.op = STORE_PUT, .events = e2, .nevents = 2, .done = done
	};
	r[2] = (struct store_req){
		.op = STORE_PUT, .events = e3, .nevents = 2, .done = done
	};
	store_submit(st, &r[0]);
	store_submit(st, &r[1]);
	store_submit(st, &r[2]);
	ok(!store_idle(st), "busy with queued puts");
	wait_for(3);
	ok(r[0].status == 0 && r[1].status == 0 && r[2].status == 0,
	    "all three stored");
	ok(done_round[0] == done_round[1] && done_round[1] == done_round[2],
	    "committed together, in one round");
	ok(store_idle(st), "idle after");

	/* GET: request order, each once, missing left out. */
	ndone = nrows = 0;
	r[3] = (struct store_req){ .op = STORE_GET,
		.ids = get_ids,
		.nids = 4,
		.on_row = row,
		.done = done };
	store_submit(st, &r[3]);
	wait_for(1);
	is_int(r[3].count, 2, "two found");
	ok(nrows == 2 && strcmp(rows[0], "three") == 0 &&
		strcmp(rows[1], "one") == 0,
	    "in request order, the first version of a duplicate id kept");

	/* DELETE counts real deletions. */
	ndone = 0;
	r[4] = (struct store_req){
		.op = STORE_DELETE, .ids = del_ids, .nids = 3, .done = done
	};
	store_submit(st, &r[4]);
	wait_for(1);
	is_int(r[4].count, 1, "one deleted");

	/* SCAN pages in storing order. */
	ndone = nrows = 0;
	r[5] = (struct store_req){ .op = STORE_SCAN,
		.after_ts = 0,
		.after_seq = -1,
		.limit = 2,
		.on_row = row,
		.done = done };
	store_submit(st, &r[5]);
	wait_for(1);
	is_int(r[5].count, 2, "a page of 2");
	ndone = 0;
	r[5].after_ts = last_ts;
	r[5].after_seq = last_seq;
	store_submit(st, &r[5]);
	wait_for(1);
	is_int(r[5].count, 1, "then the last one");
	ok(nrows == 3 && strcmp(rows[0], "one") == 0 &&
		strcmp(rows[1], "three") == 0 && strcmp(rows[2], "four") == 0,
	    "in the order stored");
	ndone = nrows = 0;
	r[5] = (struct store_req){ .op = STORE_SCAN,
		.after_ts = 0,
		.after_seq = -1,
		.limit = 10,
		.type = "u",
		.on_row = row,
		.done = done };
	store_submit(st, &r[5]);
	wait_for(1);
	ok(nrows == 1 && strcmp(rows[0], "three") == 0, "scan by type");

	/* CLEAN: nothing is an hour old; all is older than 0 s. */
	ndone = 0;
	r[6] = (struct store_req){ .op = STORE_CLEAN,
		.age_us = 3600LL * 1000000,
		.limit = 10,
		.done = done };
	store_submit(st, &r[6]);
	wait_for(1);
	is_int(r[6].count, 0, "nothing older than 1h");
	ndone = 0;
	usleep(2000);
	r[6].age_us = 0;
	r[6].limit = 2;
	store_submit(st, &r[6]);
	wait_for(1);
	is_int(r[6].count, 2, "a chunk of 2 older than 0s");
	ndone = 0;
	store_submit(st, &r[6]);
	wait_for(1);
	is_int(r[6].count, 1, "then the rest");

	store_close(st);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	return done_testing();
}
