/*
 * latmark: the latency marker of bench/latency.  The events of the
 * latency benchmark name their invocation "latq" and 7 digits (the
 * sequence number); the string survives every stage verbatim (protobuf
 * strings are stored as they are), so an observer anywhere finds it
 * with a byte search, whatever the message around it.
 */
#ifndef BENCH_LATMARK_H
#define BENCH_LATMARK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LATMARK "latq"
#define LATMARK_DIGITS 7

/* The sequence number of the first marker in p[0..n), or -1. */
static inline long
latmark_find(const uint8_t *p, size_t n)
{
	const uint8_t *q, *end = p + n;
	long seq;
	int i;

	while ((q = memmem(p, (size_t)(end - p), LATMARK, 4)) != NULL) {
		q += 4;
		if (end - q >= LATMARK_DIGITS) {
			for (seq = 0, i = 0; i < LATMARK_DIGITS; i++) {
				if (q[i] < '0' || q[i] > '9')
					break;
				seq = seq * 10 + (q[i] - '0');
			}
			if (i == LATMARK_DIGITS)
				return seq;
		}
		p = q;
	}
	return -1;
}

static inline int64_t
latmark_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Observations are kept in memory and written out at the end, so that
 * logging costs no system call on the measured path.
 */
struct latlog {
	long *seq;
	int64_t *ns;
	size_t n, cap;
};

static inline void
latlog_add(struct latlog *l, long seq, int64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->seq = realloc(l->seq, l->cap * sizeof(*l->seq));
		l->ns = realloc(l->ns, l->cap * sizeof(*l->ns));
		if (l->seq == NULL || l->ns == NULL)
			abort();
	}
	l->seq[l->n] = seq;
	l->ns[l->n++] = ns;
}

/* Writes "SEQ NS" lines; returns 0, or -1 on an error. */
static inline int
latlog_write(const struct latlog *l, const char *path)
{
	FILE *f = fopen(path, "w");
	size_t i;

	if (f == NULL)
		return -1;
	for (i = 0; i < l->n; i++)
		fprintf(f, "%ld %lld\n", l->seq[i], (long long)l->ns[i]);
	return fclose(f) == 0 ? 0 : -1;
}

#endif
