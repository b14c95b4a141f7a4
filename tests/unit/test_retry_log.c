/*
 * An outage told at the default level (retry.h, struct retry_log): the
 * first failed attempt, then at most one line per every_ms with the
 * count, and "reconnected after N attempts" once the peer answers; the
 * rest at -v only.  Shared by several retries of one peer.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "retry.h"
#include "tap.h"

static int errpipe[2];

/* What was logged since the last call. */
static const char *
logged(void)
{
	static char buf[8192];
	ssize_t n = read(errpipe[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/* s without its last newline, for a test's description. */
static const char *
line(const char *s)
{
	static char buf[8192];
	size_t n = strlen(s);

	memcpy(buf, s, n + 1);
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	return buf;
}

static void
never(struct retry *r, void *ctx)
{
}

static void
wait_ms(int64_t ms)
{
	int64_t until = loop_now() + ms;

	while (loop_now() < until)
		usleep(1000);
}

static size_t
lines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

int
main(void)
{
	struct retry a, b;
	struct retry_log l;
	const char *s;
	int saved = dup(STDERR_FILENO);

	log_init("test");
	if (pipe(errpipe) < 0)
		return 1;
	fcntl(errpipe[0], F_SETFL, O_NONBLOCK);
	dup2(errpipe[1], STDERR_FILENO);
	setenv("EVPIPE_RETRY_INITIAL_MS", "20", 1);

	retry_log_init(&l, "grpc://peer");
	l.every_ms = 200;
	retry_init(&a, never, NULL);
	retry_init(&b, never, NULL);
	a.log = b.log = &l;

	retry_later(&a, "call a: UNAVAILABLE");
	s = logged();
	ok(strncmp(s, "test: call a: UNAVAILABLE; retrying in ", 39) == 0 &&
		lines(s) == 1,
	    "the first failure is told at once: %s", line(s));
	retry_later(&b, "call b: UNAVAILABLE");
	retry_later(&a, "call a: UNAVAILABLE");
	is_str(logged(), "", "the next ones, within every_ms, are not");
	verbosity = LOG_INFO;
	retry_later(&b, "call b: UNAVAILABLE");
	s = logged();
	ok(strstr(s, "call b: UNAVAILABLE; retrying in") != NULL,
	    "at -v each one is: %s", line(s));
	verbosity = LOG_WARN;
	wait_ms(220);
	retry_later(&a, "call a: UNAVAILABLE");
	s = logged();
	ok(strstr(s, "test: call a: UNAVAILABLE; 5 failed attempts in ") == s &&
		lines(s) == 1,
	    "after every_ms: one line with the count: %s", line(s));
	retry_later(&a, "call a: UNAVAILABLE");
	is_str(logged(), "", "and then quiet again");
	retry_progress(&b);
	s = logged();
	ok(strncmp(s, "test: grpc://peer: reconnected after 6 attempts, ",
	       49) == 0 &&
		lines(s) == 1,
	    "the first success says so: %s", line(s));
	retry_progress(&a);
	is_str(logged(), "", "once");
	retry_later(&a, "call a: UNAVAILABLE");
	s = logged();
	ok(strstr(s, "call a: UNAVAILABLE; retrying in") != NULL,
	    "a new outage is told at once: %s", line(s));
	retry_log_ok(&l);
	s = logged();
	ok(strstr(s, "reconnected after 1 attempt, ") != NULL, "%s", line(s));

	/* Without a shared log: its own, no peer named. */
	retry_init(&a, never, NULL);
	retry_later(&a, "plain");
	s = logged();
	ok(strstr(s, "test: plain; retrying in ") == s && lines(s) == 1,
	    "a retry of its own tells its first failure: %s", line(s));
	retry_progress(&a);
	s = logged();
	ok(strncmp(s, "test: reconnected after 1 attempt, ", 35) == 0,
	    "and its end: %s", line(s));
	a.max = 1;
	retry_progress(&a);
	ok(!retry_later(&a, "plain"), "--retries used up");
	retry_cancel(&a);
	retry_cancel(&b);

	dup2(saved, STDERR_FILENO);
	return done_testing();
}
