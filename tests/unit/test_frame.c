#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "frame.h"
#include "tap.h"
#include "varint.h"

/* A reader over the given bytes, delivered through a pipe. */
static int
feed(const void *p, size_t n)
{
	int fd[2];

	if (pipe(fd) == -1)
		abort();
	fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);
	if (n > 0 && write(fd[1], p, n) != (ssize_t)n)
		abort();
	close(fd[1]);
	return fd[0];
}

/* Read all records; returns the final frame_next() status. */
static int
drain(struct frame_reader *fr, int *records)
{
	const uint8_t *body;
	size_t len;
	int r;

	*records = 0;
	for (;;) {
		r = frame_next(fr, &body, &len);
		if (r == FRAME_RECORD) {
			(*records)++;
			continue;
		}
		if (r != FRAME_AGAIN)
			return r;
		if (frame_fill(fr) < 0)
			return -100;
	}
}

static void
expect_error(const char *what, const void *p, size_t n, size_t max, int records,
    const char *msg)
{
	struct frame_reader fr;
	int got;

	frame_reader_init(&fr, feed(p, n), max);
	is_int(drain(&fr, &got), FRAME_ERROR, "%s: error", what);
	is_int(got, records, "%s: %d records before it", what, records);
	is_str(fr.err, msg, "%s: message", what);
	close(fr.in.fd);
	frame_reader_free(&fr);
}

int
main(void)
{
	uint8_t buf[64], *big;
	struct frame_reader fr;
	const uint8_t *body;
	size_t len, n;
	int fd[2], got;

	frame_reader_init(&fr, feed("", 0), 100);
	is_int(drain(&fr, &got), FRAME_EOF, "empty input is a clean end");
	is_int(got, 0, "empty input has no records");
	frame_reader_free(&fr);

	/* Two records, "ab" and the empty record. */
	memcpy(buf,
	    "\x02"
	    "ab"
	    "\x00",
	    4);
	frame_reader_init(&fr, feed(buf, 4), 100);
	is_int(frame_next(&fr, &body, &len), FRAME_AGAIN, "nothing read yet");
	ok(frame_fill(&fr) == 4, "one read takes all four bytes");
	is_int(frame_next(&fr, &body, &len), FRAME_RECORD, "first record");
	is_mem(body, len, "ab", 2, "first record body");
	is_int(fr.nrec, 1, "record count");
	is_int(frame_next(&fr, &body, &len), FRAME_RECORD, "empty record");
	is_int(len, 0, "empty record body");
	is_int(fr.rec_off, 3, "offset of the second record");
	is_int(frame_next(&fr, &body, &len), FRAME_AGAIN, "more to read");
	is_int(frame_fill(&fr), 0, "then end of file");
	is_int(frame_next(&fr, &body, &len), FRAME_EOF, "clean end");
	frame_reader_free(&fr);

	expect_error("truncated varint",
	    "\x02"
	    "ab"
	    "\x80",
	    4, 100, 1, "record 2 at byte 3: truncated length prefix (1 bytes)");
	expect_error("truncated body",
	    "\x05"
	    "abc",
	    4, 100, 0, "record 1 at byte 0: truncated record (3 of 5 bytes)");
	expect_error("over the limit",
	    "\x01"
	    "a"
	    "\x65",
	    3, 100, 1,
	    "record 2 at byte 2: length 101 exceeds the limit of 100 bytes");
	expect_error("eleven-byte varint",
	    "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00", 11, 100, 0,
	    "record 1 at byte 0: bad length prefix (longer than 10 bytes)");
	expect_error("huge length", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	    10, 100, 0,
	    "record 1 at byte 0: length 18446744073709551615 exceeds the "
	    "limit of 100 bytes");

	/* A record arriving a byte at a time. */
	if (pipe(fd) == -1)
		abort();
	frame_reader_init(&fr, fd[0], 100);
	memcpy(buf, "\x03xyz", 4);
	for (n = 0; n < 4; n++) {
		is_int(frame_next(&fr, &body, &len), FRAME_AGAIN,
		    "partial record after %zu bytes", n);
		if (write(fd[1], buf + n, 1) != 1)
			abort();
		ok(frame_fill(&fr) == 1, "byte %zu arrives", n);
	}
	is_int(frame_next(&fr, &body, &len), FRAME_RECORD, "record complete");
	is_mem(body, len, "xyz", 3, "record body");
	close(fd[1]);
	close(fd[0]);
	frame_reader_free(&fr);

	/* A record larger than the initial buffer, at the limit. */
	n = 300000;
	big = malloc(n + VARINT_MAX);
	len = varint_put(big, n);
	memset(big + len, 'x', n);
	{
		struct outbuf out;
		int p[2];

		if (pipe(p) == -1)
			abort();
		frame_reader_init(&fr, p[0], n);
		fcntl(p[1], F_SETFL, O_NONBLOCK);
		outbuf_init(&out, p[1]);
		frame_put_bytes(&out, big + len, n);
		got = 0;
		for (;;) {
			int r;

			if (outbuf_pending(&out) > 0)
				outbuf_write(&out);
			else if (p[1] >= 0) {
				close(p[1]);
				p[1] = -1;
			}
			r = frame_next(&fr, &body, &len);
			if (r == FRAME_RECORD) {
				got = len == n && body[0] == 'x' &&
				    body[n - 1] == 'x';
				continue;
			}
			if (r != FRAME_AGAIN)
				break;
			frame_fill(&fr);
		}
		ok(got, "a %zu-byte record at the limit arrives whole", n);
		outbuf_free(&out);
		close(p[0]);
		frame_reader_free(&fr);
	}
	free(big);
	return done_testing();
}
