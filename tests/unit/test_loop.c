#include "config.h"

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "loop.h"
#include "tap.h"

static char order[16];
static int norder;
static struct loop_timer t1, t2, t3;
static struct loop_io a, b;
static int pipe_a[2], pipe_b[2];
static int a_calls, b_calls;

static void
fire(struct loop_timer *t)
{
	order[norder++] = *(const char *)t->ctx;
	if (t == &t2)
		loop_timer_stop(&t3); /* stopping another from a callback */
	if (norder == 2)
		loop_quit(7);
}

static void
ready_a(struct loop_io *io, short revents)
{
	char c;

	a_calls++;
	if (read(io->fd, &c, 1) != 1)
		abort();
	loop_io_del(&b); /* b was ready too, but is gone now */
	loop_io_del(io);
}

static void
ready_b(struct loop_io *io, short revents)
{
	b_calls++;
}

static void
never(struct loop_io *io, short revents)
{
	abort();
}

int
main(void)
{
	int64_t start = loop_now();
	struct loop_io quiet = { .fd = 0, .events = 0, .ready = never };

	loop_timer_init(&t1, fire, "1");
	loop_timer_init(&t2, fire, "2");
	loop_timer_init(&t3, fire, "3");
	loop_timer_in(&t2, 20);
	loop_timer_in(&t1, 5);
	loop_timer_in(&t3, 30);
	ok(loop_timer_armed(&t3), "armed timer says so");
	is_int(loop_run(), 7, "loop_quit status is returned");
	is_int(norder, 2, "two timers fired");
	ok(order[0] == '1' && order[1] == '2', "in order of due time");
	ok(!loop_timer_armed(&t3), "stopped timer is not armed");
	ok(loop_now() - start >= 20, "waited for the second timer");

	if (pipe(pipe_a) == -1 || pipe(pipe_b) == -1)
		abort();
	if (write(pipe_a[1], "x", 1) != 1 || write(pipe_b[1], "y", 1) != 1)
		abort();
	a = (struct loop_io){
		.fd = pipe_a[0], .events = POLLIN, .ready = ready_a
	};
	b = (struct loop_io){
		.fd = pipe_b[0], .events = POLLIN, .ready = ready_b
	};
	loop_io_add(&quiet);
	loop_io_add(&a);
	loop_io_add(&b);
	is_int(loop_run(), 0, "loop ends when nothing is awaited");
	is_int(a_calls, 1, "first part ran once");
	is_int(b_calls, 0, "part removed during dispatch does not run");
	return done_testing();
}
