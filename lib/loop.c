#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcode.h"
#include "log.h"
#include "loop.h"

/*
 * Registered parts live in arrays of pointers.  Removal during dispatch
 * only clears the slot; the arrays are compacted between rounds, so a
 * pollfd index always maps to the part it was built for, or to NULL.
 */
static struct loop_io **ios;
static size_t nios, capios;
static struct loop_timer **timers;
static size_t ntimers, captimers;
static struct pollfd *pfds;
static size_t *pfd_slot; /* pfds[i] was built for ios[pfd_slot[i]] */
static size_t cappfds;
static uint64_t round_no;
static bool quitting;
static int quit_status;
static void (*at_end)(void);

static void *
grow(void *p, size_t *cap, size_t size)
{
	size_t n = *cap ? *cap * 2 : 16;

	if ((p = reallocarray(p, n, size)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	*cap = n;
	return p;
}

void
loop_io_add(struct loop_io *io)
{
	if (nios == capios)
		ios = grow(ios, &capios, sizeof(*ios));
	io->slot_ = (int)nios;
	ios[nios++] = io;
}

void
loop_io_del(struct loop_io *io)
{
	if (io->slot_ >= 0 && (size_t)io->slot_ < nios && ios[io->slot_] == io)
		ios[io->slot_] = NULL;
	io->slot_ = -1;
}

void
loop_timer_init(
    struct loop_timer *t, void (*fire)(struct loop_timer *), void *ctx)
{
	t->due = 0;
	t->fire = fire;
	t->ctx = ctx;
	t->slot_ = -1;
}

/* Arm (or re-arm) t to fire ms milliseconds from now. */
void
loop_timer_in(struct loop_timer *t, int64_t ms)
{
	t->due = loop_now() + (ms > 0 ? ms : 0);
	if (t->slot_ >= 0)
		return;
	if (ntimers == captimers)
		timers = grow(timers, &captimers, sizeof(*timers));
	t->slot_ = (int)ntimers;
	timers[ntimers++] = t;
}

void
loop_timer_stop(struct loop_timer *t)
{
	if (t->slot_ >= 0 && (size_t)t->slot_ < ntimers &&
	    timers[t->slot_] == t)
		timers[t->slot_] = NULL;
	t->slot_ = -1;
}

bool
loop_timer_armed(const struct loop_timer *t)
{
	return t->slot_ >= 0;
}

int64_t
loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Which round of the loop is running: lets parts see who was ready. */
uint64_t
loop_round(void)
{
	return round_no;
}

void
loop_quit(int status)
{
	if (!quitting)
		quit_status = status;
	quitting = true;
}

static void
compact(void)
{
	size_t i, n;

	for (i = n = 0; i < nios; i++)
		if (ios[i] != NULL) {
			ios[i]->slot_ = (int)n;
			ios[n++] = ios[i];
		}
	nios = n;
	for (i = n = 0; i < ntimers; i++)
		if (timers[i] != NULL) {
			timers[i]->slot_ = (int)n;
			timers[n++] = timers[i];
		}
	ntimers = n;
}

static int
poll_timeout(void)
{
	int64_t next = -1, now, d;
	size_t i;

	for (i = 0; i < ntimers; i++)
		if (next == -1 || timers[i]->due < next)
			next = timers[i]->due;
	if (next == -1)
		return -1;
	now = loop_now();
	d = next - now;
	return d <= 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

/*
 * Fire the timers that are due, earliest first.  At most as many fire
 * as were armed when the round began, so a timer re-armed for "now"
 * from its own callback waits for the next round.
 */
static void
fire_timers(void)
{
	int64_t now = loop_now();
	size_t i, n = ntimers, k, best;
	struct loop_timer *t;

	for (k = 0; k < n && !quitting; k++) {
		best = n;
		for (i = 0; i < n; i++)
			if (timers[i] != NULL && timers[i]->due <= now &&
			    (best == n || timers[i]->due < timers[best]->due))
				best = i;
		if (best == n)
			break;
		t = timers[best];
		timers[best] = NULL;
		t->slot_ = -1;
		t->fire(t);
	}
}

/*
 * Run until loop_quit(); returns its status.  With nothing left to wait
 * for (no events wanted, no timers), the loop ends with status 0.
 */
int
loop_run(void)
{
	size_t i, n;
	struct loop_io *io;
	int r;

	if (!quitting)
		quit_status = 0;
	while (!quitting) {
		round_no++;
		compact();
		for (i = 0; i < nios && !quitting; i++)
			if (ios[i] != NULL && ios[i]->prepare != NULL)
				ios[i]->prepare(ios[i]);
		if (quitting)
			break;
		compact();
		while (cappfds < nios) {
			size_t c = cappfds;

			pfds = grow(pfds, &c, sizeof(*pfds));
			pfd_slot = grow(pfd_slot, &cappfds, sizeof(*pfd_slot));
		}
		for (i = n = 0; i < nios; i++) {
			io = ios[i];
			if (io->fd < 0 || io->events == 0)
				continue;
			pfds[n].fd = io->fd;
			pfds[n].events = io->events;
			pfds[n].revents = 0;
			pfd_slot[n++] = i;
		}
		if (n == 0 && ntimers == 0)
			break;
		r = poll(pfds, n, poll_timeout());
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die(EXIT_INTERNAL, "poll: %s", strerror(errno));
		}
		for (i = 0; i < n && !quitting; i++) {
			io = ios[pfd_slot[i]];
			if (pfds[i].revents == 0 || io == NULL)
				continue;
			io->ready(io, pfds[i].revents);
		}
		if (!quitting)
			fire_timers();
	}
	quitting = false;
	if (at_end != NULL)
		at_end();
	return quit_status;
}

/* fn runs each time loop_run() returns, before its caller frees its parts. */
void
loop_at_end(void (*fn)(void))
{
	at_end = fn;
}
