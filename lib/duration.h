/*
 * Durations on command lines and in files: a decimal number with an
 * optional unit, "250ms", "1.5s", "10m", "2h"; a bare number is
 * seconds.  Resolution is one millisecond.
 */
#ifndef EVPIPE_DURATION_H
#define EVPIPE_DURATION_H

#include <stdint.h>

#define DURATION_MAX_MS ((int64_t)1 << 50)

int duration_parse(const char *, int64_t *);
int duration_from_seconds(double, int64_t *);
void duration_format(char *, size_t, int64_t);

#endif
