/*
 * The one poll(2) loop every tool runs.  Parts of a tool register file
 * descriptors and timers; each part says, before every poll, what it
 * waits for (prepare) and reacts when that happens (ready, fire).
 * Callbacks run in registration order.
 */
#ifndef EVPIPE_LOOP_H
#define EVPIPE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop_io {
	int fd;
	short events; /* POLLIN, POLLOUT or 0 for "not now" */
	void (*prepare)(struct loop_io *); /* may update events */
	void (*ready)(struct loop_io *, short);
	void *ctx;
	int slot_; /* private */
};

struct loop_timer {
	int64_t due; /* loop_now() time; private when armed */
	void (*fire)(struct loop_timer *);
	void *ctx;
	int slot_; /* private: -1 when not armed */
};

void loop_io_add(struct loop_io *);
void loop_io_del(struct loop_io *);
void loop_timer_init(
    struct loop_timer *, void (*)(struct loop_timer *), void *);
void loop_timer_in(struct loop_timer *, int64_t);
void loop_timer_stop(struct loop_timer *);
bool loop_timer_armed(const struct loop_timer *);
int64_t loop_now(void);
uint64_t loop_round(void);
void loop_quit(int);
int loop_run(void);
void loop_at_end(void (*)(void));

#endif
