/*
 * Durations on the command line, in Go's syntax (time.ParseDuration,
 * which awakari's settings use too): "50ms", "30s", "1m30s", "1.5h";
 * units ns, us, ms, s, m, h.  A bare number is seconds.
 */
#ifndef EVPIPE_DURATION_H
#define EVPIPE_DURATION_H

#include <stddef.h>
#include <stdint.h>

int duration_ms(const char *, int64_t *);
void duration_format(char *, size_t, int64_t);

#endif
