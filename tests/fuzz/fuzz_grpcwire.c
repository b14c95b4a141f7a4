/*
 * libFuzzer: the gRPC wire codecs on arbitrary bytes.  The de-framer is
 * fed in chunks whose sizes come from the first input bytes, pausing
 * now and then, and must hand over exactly what one feed of the whole
 * stream does.  grpc-message must round-trip exactly, and the parsers
 * must agree with the formatters.
 *
 * Input: byte 0 = chunk-size count - 1 (bits 0-2), max choice (3-5),
 * pause period (6-7); then that many chunk sizes; then the stream.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpcwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct run {
	uint64_t hash; /* FNV-1a over every length and body */
	uint64_t count;
	int period; /* pause after every period-th message; 0: never */
};

static void
mix(uint64_t *h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*h ^= p[i];
		*h *= 0x100000001b3ULL;
	}
}

static int
take(void *arg, const uint8_t *p, size_t n)
{
	struct run *r = arg;
	uint8_t len[sizeof(n)];

	if (p == NULL)
		abort();
	memcpy(len, &n, sizeof(n));
	mix(&r->hash, len, sizeof(len));
	mix(&r->hash, p, n);
	r->count++;
	return r->period != 0 && r->count % (uint64_t)r->period == 0;
}

static void
deframe(const uint8_t *data, size_t size)
{
	static const uint32_t maxes[] = { 0, 1, 5, 16, 300, 4096, 65536,
		GRPC_MAX_RECV_DEFAULT };
	struct grpc_deframer whole, split;
	struct run a = { 0xcbf29ce484222325ULL, 0, 0 };
	struct run b = { 0xcbf29ce484222325ULL, 0, 0 };
	const uint8_t *sizes, *s;
	size_t nsizes, n, off, chunk, c;
	uint32_t max;
	long ra, rb = 0;

	if (size < 1)
		return;
	nsizes = (data[0] & 7) + 1;
	max = maxes[(data[0] >> 3) & 7];
	b.period = data[0] >> 6;
	if (size < 1 + nsizes)
		return;
	sizes = data + 1;
	s = data + 1 + nsizes;
	n = size - 1 - nsizes;

	grpc_deframer_init(&whole, max);
	ra = grpc_deframer_feed(&whole, s, n, take, &a);
	if (ra >= 0 && (size_t)ra != n)
		abort();

	grpc_deframer_init(&split, max);
	if (grpc_deframer_feed(&split, s, 0, take, &b) != 0)
		abort();
	for (off = 0, c = 0; off < n; c++) {
		chunk = (size_t)sizes[c % nsizes] + 1;
		if (chunk > n - off)
			chunk = n - off;
		/* A paused consumer feeds the rest of the chunk again. */
		while (chunk > 0) {
			rb = grpc_deframer_feed(
			    &split, s + off, chunk, take, &b);
			if (rb < 0)
				goto out;
			if (rb == 0 || (size_t)rb > chunk ||
			    (b.period == 0 && (size_t)rb != chunk))
				abort();
			off += (size_t)rb;
			chunk -= (size_t)rb;
		}
	}
	rb = (long)n;
out:
	if (ra != rb || a.count != b.count || a.hash != b.hash ||
	    whole.messages != split.messages)
		abort();
	if (ra >= 0 &&
	    grpc_deframer_mid_message(&whole) !=
		grpc_deframer_mid_message(&split))
		abort();
	grpc_deframer_free(&whole);
	grpc_deframer_free(&split);
}

static void
message(const uint8_t *data, size_t size)
{
	char *enc, *dec;
	size_t elen, dlen, i;

	/* Exact sizes, so that ASan sees any write past the bound. */
	if ((enc = malloc(3 * size + 1)) == NULL ||
	    (dec = malloc(3 * size + 1)) == NULL)
		abort();
	elen = grpc_message_encode(enc, (const char *)data, size);
	if (elen > 3 * size || enc[elen] != '\0')
		abort();
	for (i = 0; i < elen; i++)
		if (enc[i] < 0x20 || enc[i] > 0x7e)
			abort();
	dlen = grpc_message_decode(dec, enc, elen);
	if (dlen != size || memcmp(dec, data, size) != 0)
		abort();
	free(enc);
	free(dec);

	if ((dec = malloc(size + 1)) == NULL)
		abort();
	dlen = grpc_message_decode(dec, (const char *)data, size);
	if (dlen > size || dec[dlen] != '\0')
		abort();
	free(dec);
}

static void
numbers(const uint8_t *data, size_t size)
{
	char buf[GRPC_TIMEOUT_MAX], num[16];
	int64_t ms, back, x;
	int st;

	if ((ms = grpc_timeout_parse((const char *)data, size)) < -1)
		abort();
	if (ms >= 0) {
		grpc_timeout_format(buf, ms);
		back = grpc_timeout_parse(buf, strlen(buf));
		if (back < ms)
			abort();
	}
	if (size >= sizeof(x)) {
		memcpy(&x, data, sizeof(x));
		grpc_timeout_format(buf, x);
		if (strlen(buf) >= GRPC_TIMEOUT_MAX)
			abort();
		back = grpc_timeout_parse(buf, strlen(buf));
		if (back < 0 ||
		    (x >= 0 && x <= 99999999LL * 3600000 && back < x))
			abort();
	}

	st = grpc_status_parse((const char *)data, size);
	if (st < -1)
		abort();
	if (st >= 0) {
		snprintf(num, sizeof(num), "%d", st);
		if (strlen(num) != size || memcmp(num, data, size) != 0)
			abort();
	}
	(void)grpc_status_name(st);
	(void)grpc_md_name_ok((const char *)data, size);
	(void)grpc_md_binary((const char *)data, size);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	deframe(data, size);
	message(data, size);
	numbers(data, size);
	return 0;
}
