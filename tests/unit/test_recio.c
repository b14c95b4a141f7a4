#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudevent.h"
#include "exitcode.h"
#include "frame.h"
#include "log.h"
#include "recin.h"
#include "recout.h"
#include "tap.h"

static struct arena arena;

/* Write n records (ids "e1".."en") to fd, blocking. */
static void
put_records(int fd, int first, int n)
{
	struct outbuf ob;
	char id[16];
	int i;

	outbuf_init(&ob, fd);
	for (i = first; i < first + n; i++) {
		snprintf(id, sizeof(id), "e%d", i);
		frame_put(&ob, &ce_new(&arena, id, "/s", "t")->base);
	}
	if (outbuf_drain(&ob) != 0)
		abort();
	outbuf_free(&ob);
	arena_reset(&arena);
}

/* ---- recin ---------------------------------------------------------- */

static char got[256];
static int nrec, pause_at, end_status = -1;
static char end_why[300];
static struct recin in;
static struct loop_timer resume_t;

static int
on_record(struct recin *r, const uint8_t *p, size_t n, const CloudEvent *ev,
    void *ctx)
{
	nrec++;
	strcat(got, ev->id);
	strcat(got, " ");
	if (nrec == pause_at) {
		loop_timer_in(&resume_t, 30);
		return RECIN_PAUSE;
	}
	return 0;
}

static void
on_end(struct recin *r, int status, const char *why, void *ctx)
{
	end_status = status;
	snprintf(end_why, sizeof(end_why), "%s", why);
	loop_quit(0);
}

static void
resume_fire(struct loop_timer *t)
{
	strcat(got, "| ");
	recin_resume(&in);
}

static const struct recin_handlers rh = { on_record, on_end };

static void
test_recin(void)
{
	int p[2];

	/* 4 good records, then a truncated one. */
	if (pipe(p) != 0)
		abort();
	put_records(p[1], 1, 4);
	if (write(p[1], "\x05\x0a", 2) != 2)
		abort();
	close(p[1]);
	loop_timer_init(&resume_t, resume_fire, NULL);
	pause_at = 2;
	recin_open(&in, p[0], "pipe", 1024, &rh, NULL);
	loop_run();
	is_str(got, "e1 e2 | e3 e4 ", "records in order, none while paused");
	is_int(end_status, EXIT_DATA, "a truncated record ends it: 65");
	ok(strstr(end_why, "record 5 at byte") != NULL &&
		strstr(end_why, "truncated") != NULL,
	    "... naming record and offset: %s", end_why);
	recin_close(&in);
	close(p[0]);

	/* A clean end; a body that is not a CloudEvent. */
	got[0] = '\0';
	nrec = pause_at = 0;
	if (pipe(p) != 0)
		abort();
	put_records(p[1], 1, 1);
	close(p[1]);
	recin_open(&in, p[0], "pipe", 1024, &rh, NULL);
	loop_run();
	is_int(end_status, EXIT_OK, "clean end of input");
	is_str(got, "e1 ", "... after the record");
	recin_close(&in);
	close(p[0]);

	got[0] = '\0';
	if (pipe(p) != 0)
		abort();
	put_records(p[1], 1, 1);
	if (write(p[1], "\x02\x0a\x00", 3) != 3) /* id "", no source */
		abort();
	close(p[1]);
	recin_open(&in, p[0], "pipe", 1024, &rh, NULL);
	loop_run();
	is_int(end_status, EXIT_DATA, "an invalid CloudEvent: 65");
	ok(strncmp(end_why, "record 2 at byte", 16) == 0, "... record 2: %s",
	    end_why);
	is_str(got, "e1 ", "... the one before it was delivered");
	recin_close(&in);
	close(p[0]);
}

/* ---- recout --------------------------------------------------------- */

static struct recout out;
static int rd; /* read end of out's pipe */
static uint64_t written[8];
static int nwritten, drained, out_err;
static struct loop_timer reader_t;

static void
on_written(struct recout *o, uint64_t cookie, void *ctx)
{
	written[nwritten++] = cookie;
}

static void
on_drain(struct recout *o, void *ctx)
{
	drained++;
	recout_mark(o, 99);
}

static void
on_error(struct recout *o, int e, void *ctx)
{
	out_err = e;
	loop_quit(0);
}

/* The slow reader: drains the pipe a while after the test filled it. */
static void
reader_fire(struct loop_timer *t)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(rd, buf, sizeof(buf))) > 0)
		;
	if (nwritten > 0 && written[nwritten - 1] == 99)
		loop_quit(0);
	else
		loop_timer_in(t, 5);
}

static const struct recout_handlers oh = { on_written, on_drain, on_error };

static void
test_recout(void)
{
	static uint8_t big[100000];
	int p[2];

	if (pipe(p) != 0)
		abort();
	rd = p[0];
	fcntl(rd, F_SETFL, O_NONBLOCK); /* the test's own end */
	recout_open(&out, p[1], "pipe", &oh, NULL);
	recout_mark(&out, 1);
	is_int(nwritten, 1, "a mark with nothing pending fires at once");
	while (!recout_full(&out))
		recout_put_bytes(&out, big, sizeof(big));
	recout_mark(&out, 2);
	recout_put_bytes(&out, big, 10);
	recout_mark(&out, 3);
	is_int(nwritten, 1, "marks wait for their bytes");
	loop_timer_init(&reader_t, reader_fire, NULL);
	loop_timer_in(&reader_t, 50);
	loop_run();
	is_int(drained, 1, "on_drain once the pipe took the bulk");
	is_int(nwritten, 4, "every mark fired");
	ok(written[1] == 2 && written[2] == 3 && written[3] == 99,
	    "... in order");
	ok(recout_idle(&out), "idle at the end");

	close(rd);
	recout_put_bytes(&out, big, 10);
	loop_run();
	is_int(out_err, EPIPE, "a reader gone is EPIPE");
	recout_put_bytes(&out, big, 10);
	ok(recout_idle(&out), "nothing is kept after an error");
	recout_close(&out);
	close(p[1]);
}

int
main(void)
{
	log_init("test_recio");
	signal(SIGPIPE, SIG_IGN); /* as cli_start() does */
	arena_init(&arena);
	test_recin();
	test_recout();
	arena_free(&arena);
	return done_testing();
}
