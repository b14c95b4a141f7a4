/*
 * A small HTTP server for health checks, on the poll loop: libmicrohttpd
 * in external epoll mode (its one epoll descriptor is polled like any
 * other, MHD_run() does the work), so there are no threads.
 *
 * GET /metrics is answered with the tool's counters (metrics.h); every
 * other GET or HEAD, whatever the path, is handed to the tool's
 * callback, which answers with healthd_reply() at once or later (the
 * connection waits, suspended).  Other methods get 405.
 */
#ifndef EVPIPE_HEALTHD_H
#define EVPIPE_HEALTHD_H

#include <stdint.h>

struct healthd;
struct healthd_req;

typedef void (*healthd_fn)(struct healthd_req *, void *);

/* addr NULL: every interface (IPv6 and IPv4); port 0: a free one. */
struct healthd *healthd_start(
    const char *, uint16_t, healthd_fn, void *, char *, size_t);
uint16_t healthd_port(const struct healthd *);
/* Answer a request with a JSON body; exactly once per request. */
void healthd_reply(struct healthd_req *, unsigned, const char *);
void healthd_stop(struct healthd *);

#endif
