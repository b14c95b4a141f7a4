/*
 * Reconnect delays per gRPC's connection-backoff.md: 1 s, then x1.6 up
 * to 120 s, each with +-20 % jitter; reset once the server's SETTINGS
 * arrived (the connection was accepted).
 */
#ifndef EVPIPE_BACKOFF_H
#define EVPIPE_BACKOFF_H

#include <stdint.h>

#define BACKOFF_INITIAL_MS 1000
#define BACKOFF_MAX_MS 120000
#define BACKOFF_MIN_CONNECT_MS 20000

struct backoff {
	double next_ms; /* the delay before jitter */
	uint64_t rng;
};

void backoff_init(struct backoff *, uint64_t);
int64_t backoff_next(struct backoff *);
void backoff_reset(struct backoff *);

#endif
