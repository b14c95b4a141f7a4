/*
 * lat: the source and the taps of bench/latency.
 *
 *   lat pace -r RATE -o LOG < RECORDS > OUT
 *	reads the varint-delimited records of stdin into memory, then
 *	writes them to stdout one at a time at RATE records a second, on
 *	an absolute schedule (a late write does not shift the ones after
 *	it), and logs the time of each write.
 *   lat tap -o LOG [-n] < IN > OUT
 *	copies stdin to stdout as it comes (one write per read, like cat)
 *	and logs the time of the read that completed each record; -n: no
 *	output (the last stage of a pipeline).
 *
 * LOG has "SEQ NS" lines: the record's latency marker (bench/latmark.h)
 * and CLOCK_MONOTONIC in nanoseconds, which every process of the
 * machine shares, so that the logs of several stages can be joined.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "latmark.h"
#include "varint.h"

static void
fail(const char *what)
{
	fprintf(stderr, "lat: %s: %s\n", what, strerror(errno));
	exit(74);
}

static int
write_all(const uint8_t *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		if ((k = write(1, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The length of the record at p[0..n) with its prefix, or 0: not all there. */
static size_t
record_len(const uint8_t *p, size_t n)
{
	uint64_t len;
	int k = varint_get(p, n, &len);

	if (k == VARINT_BAD) {
		fprintf(stderr, "lat: bad record length\n");
		exit(65);
	}
	if (k == VARINT_SHORT || n - (size_t)k < len)
		return 0;
	return (size_t)k + (size_t)len;
}

static uint8_t *
grow(uint8_t *buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return buf;
	while (*cap < need)
		*cap = *cap ? *cap * 2 : 1 << 16;
	if ((buf = realloc(buf, *cap)) == NULL)
		fail("realloc");
	return buf;
}

static int
pace(double rate, const char *log)
{
	struct latlog l = { 0 };
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0, pos, k;
	int64_t period = (int64_t)(1e9 / rate), start, t;
	struct timespec ts;
	ssize_t r;
	long i;

	for (;;) {
		buf = grow(buf, &cap, len + 65536);
		if ((r = read(0, buf + len, cap - len)) < 0) {
			if (errno == EINTR)
				continue;
			fail("stdin");
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	start = latmark_now() + period;
	for (pos = 0, i = 0; pos < len; pos += k, i++) {
		if ((k = record_len(buf + pos, len - pos)) == 0) {
			fprintf(stderr, "lat: truncated record\n");
			return 65;
		}
		t = start + i * period;
		ts.tv_sec = t / 1000000000;
		ts.tv_nsec = t % 1000000000;
		while (clock_nanosleep(
			   CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		t = latmark_now();
		if (write_all(buf + pos, k) < 0)
			break; /* the pipeline ended early: log what was sent */
		latlog_add(&l, latmark_find(buf + pos, k), t);
	}
	if (latlog_write(&l, log) < 0)
		fail(log);
	return 0;
}

static int
tap(const char *log, bool out)
{
	struct latlog l = { 0 };
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0, pos, k;
	int64_t t;
	ssize_t r;

	for (;;) {
		buf = grow(buf, &cap, len + 65536);
		if ((r = read(0, buf + len, cap - len)) < 0) {
			if (errno == EINTR)
				continue;
			fail("stdin");
		}
		if (r == 0)
			break;
		t = latmark_now();
		if (out && write_all(buf + len, (size_t)r) < 0)
			break;
		len += (size_t)r;
		for (pos = 0; (k = record_len(buf + pos, len - pos)) > 0;
		     pos += k)
			latlog_add(&l, latmark_find(buf + pos, k), t);
		memmove(buf, buf + pos, len - pos);
		len -= pos;
	}
	if (latlog_write(&l, log) < 0)
		fail(log);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: lat pace -r RATE -o LOG\n"
	    "       lat tap -o LOG [-n]\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *log = NULL;
	double rate = 1000;
	bool out = true;
	int c;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "no:r:")) != -1)
		switch (c) {
		case 'n':
			out = false;
			break;
		case 'o':
			log = optarg;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		default:
			usage();
		}
	if (log == NULL || rate <= 0)
		usage();
	if (strcmp(argv[1], "pace") == 0)
		return pace(rate, log);
	if (strcmp(argv[1], "tap") == 0)
		return tap(log, out);
	usage();
}
