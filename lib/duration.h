/*
 * Durations in Go's time.ParseDuration syntax, as the original's
 * configuration uses them (DB_RETENTION_PERIOD=168h): an optional sign,
 * then one or more decimal numbers, each with an optional fraction and
 * a unit: ns, us (or µs, μs), ms, s, m, h.  "0" alone is zero.  Values
 * are nanoseconds, as in Go, so the range is about +-292 years.
 */
#ifndef EVPIPE_DURATION_H
#define EVPIPE_DURATION_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MAX 32 /* longest duration_string() output + NUL */

int duration_parse(const char *, int64_t *);
int duration_string(char *, int64_t);

/*
 * The one syntax of every duration option (evpipe.7, OPTIONS
 * CONVENTIONS): the above plus "d" (24h), and a bare number is seconds
 * ("30" is 30s).  Never negative; nanoseconds.
 */
int duration_option(const char *, int64_t *);
/*
 * For options: milliseconds (rounded down) of a duration that is not
 * negative and at most a year; a bare number is seconds ("2" is 2s).
 */
int duration_ms(const char *, int64_t *);
/* Milliseconds for diagnostics, short: "250ms", "1.5s", "20s", "2m". */
void duration_format(char *, size_t, int64_t);

#endif
