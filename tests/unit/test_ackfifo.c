#include "config.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackfifo.h"
#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/evpipe-ack-XXXXXX";
static char path[64], got[4096];
static int nacks, want;
static struct ackr r;
static struct ackw w;
static struct loop_timer late_t, guard_t;

static void
on_ack(struct ackr *a, const char *v, void *ctx)
{
	strcat(got, v);
	strcat(got, " ");
	if (++nacks == want)
		loop_quit(0);
}

static const struct ackr_handlers h = { on_ack };

static void
late_reader(struct loop_timer *t)
{
	char err[300];

	if (ackr_open(&r, path, &h, NULL, err, sizeof(err)) != 0)
		abort();
}

static void
guard(struct loop_timer *t)
{
	loop_quit(1);
}

int
main(void)
{
	char err[300], line[2100], file[80], buf[64];
	int fd;

	log_init("test_ackfifo");
	signal(SIGPIPE, SIG_IGN); /* as cli_start() does */
	verbosity = LOG_ERROR;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/acks", dir);
	loop_timer_init(&late_t, late_reader, NULL);
	loop_timer_init(&guard_t, guard, NULL);
	loop_timer_in(&guard_t, 20000);

	/* The writer first: no reader yet, acks wait. */
	is_int(
	    ackw_open(&w, path, err, sizeof(err)), 0, "writer makes the FIFO");
	is_int(w.fd, -1, "... and has no reader yet");
	ackw_put(&w, "n-1");
	ackw_put(&w, "n-2");
	is_int(ackw_put(&w, "bad\nvalue"), -1, "a newline is refused");
	is_int(ackw_put(&w, ""), -1, "so is an empty value");
	ok(!ackw_idle(&w) || w.fd < 0, "pending");
	want = 2;
	loop_timer_in(&late_t, 150);
	is_int(loop_run(), 0, "the reader gets them once it comes");
	is_str(got, "n-1 n-2 ", "... in order");

	/* Over-long lines are skipped whole; the reader keeps going. */
	memset(line, 'x', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, line, strlen(line)) < 0 ||
	    write(fd, "ok\n", 3) != 3)
		abort();
	close(fd); /* a writer leaving is not the end for the reader */
	got[0] = '\0';
	nacks = 0;
	want = 2;
	ackw_put(&w, "n-3");
	is_int(loop_run(), 0, "reader survives a writer leaving");
	ok(strstr(got, "ok ") != NULL && strstr(got, "n-3 ") != NULL &&
		strchr(got, 'x') == NULL,
	    "long line dropped, the rest read: %s", got);
	is_int(r.bad, 1, "... and counted");

	/* The reader goes; the writer waits for the next one. */
	ackr_close(&r);
	ackw_put(&w, "n-4");
	got[0] = '\0';
	nacks = 0;
	want = 1;
	loop_timer_in(&late_t, 150);
	is_int(loop_run(), 0, "a new reader gets what came after");
	ok(strstr(got, "n-4 ") != NULL, "... n-4: %s", got);
	ackw_close(&w);
	ackr_close(&r);

	/* A regular file is an audit log. */
	snprintf(file, sizeof(file), "%s/log", dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	close(fd);
	is_int(ackw_open(&w, file, err, sizeof(err)), 0, "a plain file works");
	ackw_put(&w, "f-1");
	ackw_put(&w, "f-2");
	ackw_close(&w);
	fd = open(file, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) < 0)
		abort();
	close(fd);
	is_str(buf, "f-1\nf-2\n", "... one ack per line");

	is_int(ackr_open(&r, file, &h, NULL, err, sizeof(err)), -1,
	    "the reader wants a FIFO");
	ok(strstr(err, "not a FIFO") != NULL, "... says so: %s", err);

	snprintf(line, sizeof(line), "rm -rf %s", dir);
	if (system(line) != 0)
		abort();
	return done_testing();
}
