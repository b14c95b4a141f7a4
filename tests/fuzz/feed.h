/*
 * For the HTTP/2 fuzzers: play a peer that sends fixed bytes on a local
 * socket, then half-closes, and reads (and drops) whatever our side
 * answers until it closes.
 */
#ifndef EVPIPE_FUZZ_FEED_H
#define EVPIPE_FUZZ_FEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

struct feed {
	struct loop_io io;
	struct loop_timer limit;
	bool eof; /* our side closed the connection */
	bool quit_on_eof;
};

/* A fresh directory for a unix socket, removed at exit: "DIR/sock". */
const char *feed_socket_path(void);
/* Send data on fd (the peer's end), half-close, start reading. */
void feed_start(struct feed *, int, const uint8_t *, size_t, bool);
void feed_stop(struct feed *);

#endif
