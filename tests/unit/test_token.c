/* token.c: renewal before 4/5 of a token's life, in the background. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "secret.h"
#include "tap.h"

static char dir[] = "/tmp/evpipe-token-XXXXXX";
static struct loop_timer tick, limit;
static int ticks, changes, wakes;
static int64_t changed_at; /* wall ms of the last change */

static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fires every 10 ms: the loop is not blocked while a command runs. */
static void
tick_fired(struct loop_timer *t)
{
	ticks++;
	loop_timer_in(t, 10);
}

static void
limit_fired(struct loop_timer *t)
{
	loop_quit(1);
}

static void
on_change(void *ctx)
{
	changes++;
	changed_at = wall_ms();
	loop_quit(0);
}

static void
woken(void *ctx)
{
	wakes++;
	loop_quit(0);
}

/* Run the loop until something quits it, at most ms. */
static int
run(int64_t ms)
{
	loop_timer_in(&limit, ms);
	loop_timer_in(&tick, 10);
	return loop_run();
}

/* A command printing a JWT with iat now and exp LIFE s later, after
 * sleeping SLEEP; a count of runs in dir/n, and "fail" in dir/mode
 * makes it fail. */
static void
command(char *buf, size_t len, const char *sleep_s, int life)
{
	snprintf(buf, len,
	    "sleep %s; n=$(cat %s/n 2>/dev/null || echo 0); "
	    "echo $((n+1)) > %s/n; "
	    "[ \"$(cat %s/mode 2>/dev/null)\" = fail ] && exit 3; "
	    "now=$(date +%%s); "
	    "p=$(printf '{\"iat\":%%d,\"exp\":%%d,\"n\":%%d}' $now "
	    "$((now+%d)) $n | base64 -w0 | tr -d = | tr +/ -_); "
	    "echo \"eyJhbGciOiJub25lIn0.$p.\"",
	    sleep_s, dir, dir, dir, life);
}

static int
runs(void)
{
	char path[64];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/n", dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

static void
set_mode(const char *m)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/mode", dir);
	if ((f = fopen(path, "w")) == NULL || fputs(m, f) < 0 || fclose(f) != 0)
		abort();
}

int
main(void)
{
	struct secret s = { 0 };
	struct secret_wait w = { .fn = woken };
	char cmd[600], err[300], first[600];
	int64_t exp, iat, t0, life_ms;
	int n;
	const char *v;

	log_init("test_token");
	verbosity = LOG_ERROR;
	if (mkdtemp(dir) == NULL)
		abort();
	loop_timer_init(&tick, tick_fired, NULL);
	loop_timer_init(&limit, limit_fired, NULL);

	/* claims */
	is_int(jwt_claims("eyJhbGciOiJub25lIn0."
			  "eyJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMDMwMH0.",
		   &exp, &iat),
	    0, "claims of a JWT");
	is_int(exp, 1700000300, "... exp");
	is_int(iat, 1700000000, "... iat");
	is_int(jwt_claims("eyJhbGciOiJub25lIn0.eyJleHAiOjF9.", &exp, &iat), 0,
	    "no iat");
	is_int(iat, -1, "... is -1");
	is_int(jwt_claims("opaque", &exp, &iat), -1, "no JWT");
	is_int(
	    jwt_claims("a.WzFd.c", &exp, &iat), -1, "a payload not an object");

	/* 1. renewed in the background before 4/5 of a 3 s life */
	command(cmd, sizeof(cmd), "0.3", 3);
	secret_set(&s, "token", SECRET_COMMAND, cmd, err, sizeof(err));
	is_int(secret_load(&s, err, sizeof(err)), 0, "the command runs");
	snprintf(first, sizeof(first), "%s", s.value);
	jwt_claims(s.value, &exp, &iat);
	life_ms = (exp - iat) * 1000;
	secret_on_change(&s, on_change, NULL);
	t0 = wall_ms();
	ok((v = secret_get(&s, err, sizeof(err))) != NULL &&
		strcmp(v, first) == 0,
	    "in use: the value");
	ticks = 0;
	is_int(run(6000), 0, "a new value came");
	is_int(changes, 1, "... once");
	ok(strcmp(s.value, first) != 0, "... a different token");
	/* due before 4/5 of the life (2.4 s) by twice the run time; on a
	 * slow machine the run may take longer: check it never lapsed */
	ok(changed_at < exp * 1000,
	    "... before the old one expired (%lld ms after iat, 4/5 is "
	    "%lld)",
	    (long long)(changed_at - iat * 1000), (long long)(life_ms * 4 / 5));
	ok(changed_at > t0, "... not at once");
	ok(ticks >= 20, "the loop ran on while it did (%d ticks)", ticks);
	is_int(runs(), 2, "two runs in all");

	/* 2. secret_ready: fresh now, then not once most of it is gone */
	ok(secret_ready(&s, &w), "fresh: ready at once");
	secret_on_change(&s, NULL, NULL);
	secret_free(&s);

	memset(&s, 0, sizeof(s));
	command(cmd, sizeof(cmd), "0.2", 1); /* under 1/5 left soon */
	secret_set(&s, "token", SECRET_COMMAND, cmd, err, sizeof(err));
	secret_load(&s, err, sizeof(err));
	snprintf(first, sizeof(first), "%s", s.value);
	jwt_claims(s.value, &exp, &iat);
	while (wall_ms() < exp * 1000 - 150)
		usleep(10000); /* under 1/5 of 1 s left (or expired) */
	ok(!secret_ready(&s, &w), "nearly expired: not ready, renewing");
	ticks = 0;
	is_int(run(5000), 0, "the waiter is woken");
	is_int(wakes, 1, "... once");
	ok(strcmp(s.value, first) != 0, "... with a new value in hand");
	ok(ticks >= 10, "... the loop running meanwhile (%d ticks)", ticks);

	secret_free(&s);

	/* 3. a renewal that fails keeps the last good value */
	memset(&s, 0, sizeof(s));
	command(cmd, sizeof(cmd), "0", 60);
	secret_set(&s, "token", SECRET_COMMAND, cmd, err, sizeof(err));
	secret_load(&s, err, sizeof(err));
	snprintf(first, sizeof(first), "%s", s.value);
	set_mode("fail");
	n = runs();
	wakes = 0;
	ok(!secret_renew(&s, NULL), "a renewal starts");
	ok(!secret_renew(&s, &w), "... joined, with a waiter");
	ok(secret_ready(&s, &w), "fresh, so ready while it runs");
	is_int(run(5000), 0, "the renewal ends");
	is_int(wakes, 1, "... the waiter woken");
	is_int(runs(), n + 1, "the command ran once");
	is_str(s.value, first, "... failed, and the last good value is kept");
	secret_free(&s);
	ok(s.value == NULL && s.tok == NULL, "freed");

	/* 4. a command still running when freed is killed, not waited for */
	memset(&s, 0, sizeof(s));
	set_mode("ok");
	command(cmd, sizeof(cmd), "30", 60);
	secret_set(&s, "token", SECRET_COMMAND, "echo x.y.z", err, sizeof(err));
	secret_load(&s, err, sizeof(err));
	s.source = cmd;
	t0 = wall_ms();
	secret_renew(&s, NULL);
	secret_free(&s);
	ok(wall_ms() - t0 < 5000, "a slow command is killed on free");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
	return done_testing();
}
