/* gRPC wire codecs: status tables, grpc-timeout, grpc-message, de-framer. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grpcwire.h"
#include "tap.h"

/* What the de-framer handed over, messages back to back. */
struct got {
	uint8_t buf[256];
	size_t used;
	size_t lens[16];
	int count;
	int stop_at; /* return 1 after this many messages; 0: never */
	int null_body;
};

static int
collect(void *arg, const uint8_t *p, size_t n)
{
	struct got *g = arg;

	if (p == NULL)
		g->null_body++;
	if (g->count < 16)
		g->lens[g->count] = n;
	g->count++;
	if (n > 0 && g->used + n <= sizeof(g->buf)) {
		memcpy(g->buf + g->used, p, n);
		g->used += n;
	}
	return g->stop_at != 0 && g->count == g->stop_at;
}

static void
status_names(void)
{
	static const char *names[] = { "OK", "CANCELLED", "UNKNOWN",
		"INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
		"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED" };
	int i;

	for (i = 0; i <= 16; i++)
		is_str(grpc_status_name(i), names[i], "status %d is %s", i,
		    names[i]);
	is_str(grpc_status_name(-1), "UNKNOWN_STATUS", "status -1");
	is_str(grpc_status_name(17), "UNKNOWN_STATUS", "status 17");
	is_str(grpc_status_name(1000), "UNKNOWN_STATUS", "status 1000");
}

static void
status_maps(void)
{
	static const struct {
		int http, grpc;
	} h[] = {
		{ 400, GRPC_INTERNAL },
		{ 401, GRPC_UNAUTHENTICATED },
		{ 403, GRPC_PERMISSION_DENIED },
		{ 404, GRPC_UNIMPLEMENTED },
		{ 429, GRPC_UNAVAILABLE },
		{ 502, GRPC_UNAVAILABLE },
		{ 503, GRPC_UNAVAILABLE },
		{ 504, GRPC_UNAVAILABLE },
		{ 431, GRPC_INTERNAL },
		{ 200, GRPC_UNKNOWN },
		{ 500, GRPC_UNKNOWN },
		{ 302, GRPC_UNKNOWN },
		{ 405, GRPC_UNKNOWN },
		{ 415, GRPC_UNKNOWN },
		{ 0, GRPC_UNKNOWN },
		{ -1, GRPC_UNKNOWN },
	};
	static const struct {
		uint32_t h2;
		int grpc;
		const char *name;
	} r[] = {
		{ 0x0, GRPC_INTERNAL, "NO_ERROR" },
		{ 0x1, GRPC_INTERNAL, "PROTOCOL_ERROR" },
		{ 0x2, GRPC_INTERNAL, "INTERNAL_ERROR" },
		{ 0x3, GRPC_INTERNAL, "FLOW_CONTROL_ERROR" },
		{ 0x4, GRPC_INTERNAL, "SETTINGS_TIMEOUT" },
		{ 0x5, GRPC_INTERNAL, "STREAM_CLOSED" },
		{ 0x6, GRPC_INTERNAL, "FRAME_SIZE_ERROR" },
		{ 0x7, GRPC_UNAVAILABLE, "REFUSED_STREAM" },
		{ 0x8, GRPC_CANCELLED, "CANCEL" },
		{ 0x9, GRPC_INTERNAL, "COMPRESSION_ERROR" },
		{ 0xa, GRPC_INTERNAL, "CONNECT_ERROR" },
		{ 0xb, GRPC_RESOURCE_EXHAUSTED, "ENHANCE_YOUR_CALM" },
		{ 0xc, GRPC_PERMISSION_DENIED, "INADEQUATE_SECURITY" },
		{ 0xd, GRPC_INTERNAL, "HTTP_1_1_REQUIRED" },
		{ 0xff, GRPC_INTERNAL, "unknown code 0xff" },
		{ UINT32_MAX, GRPC_INTERNAL, "unknown code 0xffffffff" },
	};
	size_t i;

	for (i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		is_int(grpc_status_from_http(h[i].http), h[i].grpc,
		    "HTTP %d -> %s", h[i].http, grpc_status_name(h[i].grpc));
	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		is_int(grpc_status_from_h2_error(r[i].h2), r[i].grpc,
		    "RST_STREAM %s -> %s", r[i].name,
		    grpc_status_name(r[i].grpc));
}

static void
status_parse(void)
{
	static const struct {
		const char *s;
		int want;
	} t[] = {
		{ "0", 0 },
		{ "1", 1 },
		{ "16", 16 },
		{ "17", 17 },
		{ "999999999", 999999999 },
		{ "1000000000", -1 },
		{ "00", -1 },
		{ "01", -1 },
		{ "-1", -1 },
		{ "+1", -1 },
		{ "", -1 },
		{ "1a", -1 },
		{ " 1", -1 },
		{ "1 ", -1 },
		{ "0x1", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(grpc_status_parse(t[i].s, strlen(t[i].s)), t[i].want,
		    "grpc-status \"%s\" -> %d", t[i].s, t[i].want);
	is_int(grpc_status_parse("12", 1), 1, "grpc-status: only n bytes");
}

static void
timeout_parse(void)
{
	static const struct {
		const char *s;
		int64_t want;
	} t[] = {
		{ "1S", 1000 },
		{ "100m", 100 },
		{ "1u", 1 },
		{ "1000u", 1 },
		{ "1001u", 2 },
		{ "1n", 1 },
		{ "1000000n", 1 },
		{ "1000001n", 2 },
		{ "99999999n", 100 },
		{ "0m", 0 },
		{ "0u", 0 },
		{ "0n", 0 },
		{ "5M", 300000 },
		{ "2H", 7200000 },
		{ "00000001S", 1000 },
		{ "99999999m", 99999999 },
		{ "99999999H", 99999999LL * 3600 * 1000 },
		{ "123456789S", -1 },
		{ "", -1 },
		{ "S", -1 },
		{ "1", -1 },
		{ "1x", -1 },
		{ "1s", -1 },
		{ "1h", -1 },
		{ "1.5S", -1 },
		{ "-1S", -1 },
		{ "+1S", -1 },
		{ " 1S", -1 },
		{ "1S ", -1 },
		{ "1 S", -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(grpc_timeout_parse(t[i].s, strlen(t[i].s)), t[i].want,
		    "grpc-timeout \"%s\" -> %lld", t[i].s,
		    (long long)t[i].want);
	is_int(grpc_timeout_parse("10S", 2), -1, "grpc-timeout: only n bytes");
}

static void
timeout_format(void)
{
	static const struct {
		int64_t ms;
		const char *want;
	} t[] = {
		{ 0, "0m" },
		{ -5, "0m" },
		{ 1, "1m" },
		{ 1000, "1000m" },
		{ 99999999, "99999999m" },
		{ 100000000, "100000S" },
		{ 100000001, "100001S" },
		{ 99999999000LL, "99999999S" },
		{ 99999999001LL, "1666667M" },
		{ 99999999LL * 60000, "99999999M" },
		{ 99999999LL * 60000 + 1, "1666667H" },
		{ 99999999LL * 3600000, "99999999H" },
		{ 99999999LL * 3600000 + 1, "99999999H" },
		{ INT64_MAX, "99999999H" },
	};
	static const int64_t rt[] = { 0, 1, 999, 1000, 1001, 86400000, 99999999,
		100000000, 123456789, 98765432109LL, 99999999001LL,
		123456789012LL, 4000000000000LL, 99999999LL * 3600000 };
	char buf[GRPC_TIMEOUT_MAX];
	int64_t back;
	size_t i;
	int good;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(buf, 'x', sizeof(buf));
		grpc_timeout_format(buf, t[i].ms);
		is_str(buf, t[i].want, "format %lld ms -> %s",
		    (long long)t[i].ms, t[i].want);
	}
	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		grpc_timeout_format(buf, rt[i]);
		back = grpc_timeout_parse(buf, strlen(buf));
		/* Within one step of the unit used (1 ms, 1 s, 1 min, 1 h),
		 * and never earlier. */
		good = back >= rt[i] && back - rt[i] < 3600000 &&
		    (rt[i] < 1000 || (back - rt[i]) * 1000 / rt[i] < 1);
		ok(good, "round trip %lld ms -> %s -> %lld", (long long)rt[i],
		    buf, (long long)back);
	}
}

static void
message_codec(void)
{
	static const char vec[] = "\t\ntest with whitespace\r\nand Unicode "
				  "BMP \xe2\x98\xba and non-BMP "
				  "\xf0\x9f\x98\x88\t\n";
	static const struct {
		const char *in, *want;
	} dec[] = {
		{ "%", "%" },
		{ "%4", "%4" },
		{ "%zz", "%zz" },
		{ "%4z", "%4z" },
		{ "100%", "100%" },
		{ "a%2", "a%2" },
		{ "%%41", "%A" },
		{ "%e2%98%ba", "\xe2\x98\xba" },
		{ "%E2%98%BA", "\xe2\x98\xba" },
		{ "%25", "%" },
		{ "%2525", "%25" },
		{ "plain text", "plain text" },
		{ "", "" },
		{ "%0a%0D", "\n\r" },
	};
	char enc[3 * sizeof(vec) + 1], out[sizeof(enc)];
	char all[256], allenc[3 * 256 + 1], allout[256 + 1];
	size_t n, m, i;

	n = grpc_message_encode(enc, vec, sizeof(vec) - 1);
	is_str(enc,
	    "%09%0Atest with whitespace%0D%0Aand Unicode BMP %E2%98%BA and "
	    "non-BMP %F0%9F%98%88%09%0A",
	    "interop vector encodes");
	is_int(n, strlen(enc), "encode returns the length");
	m = grpc_message_decode(out, enc, n);
	is_mem(out, m, vec, sizeof(vec) - 1,
	    "interop vector round-trips byte for byte");
	is_int(out[m], 0, "decode NUL-terminates");

	n = grpc_message_encode(enc, "%", 1);
	is_str(enc, "%25", "\"%%\" -> \"%%25\"");
	n = grpc_message_encode(enc, " ~$&", 4);
	is_str(enc, " ~$&", "space and visible ASCII stay");
	n = grpc_message_encode(enc, "\x1f\x7f\x80\xff", 4);
	is_str(enc, "%1F%7F%80%FF", "control and high bytes, upper case");
	n = grpc_message_encode(enc, "a\0b", 3);
	is_str(enc, "a%00b", "NUL byte is escaped");
	n = grpc_message_encode(enc, "", 0);
	ok(n == 0 && enc[0] == '\0', "empty message");

	for (i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
		m = grpc_message_decode(out, dec[i].in, strlen(dec[i].in));
		is_mem(out, m, dec[i].want, strlen(dec[i].want),
		    "decode \"%s\"", dec[i].in);
	}
	/* "%41" cut after "%4": the escape is broken, not read past n. */
	m = grpc_message_decode(out, "%41", 2);
	is_mem(out, m, "%4", 2, "decode stops at n");

	for (i = 0; i < 256; i++)
		all[i] = (char)i;
	n = grpc_message_encode(allenc, all, 256);
	m = grpc_message_decode(allout, allenc, n);
	is_mem(allout, m, all, 256, "all 256 byte values round-trip");
	ok(n == 256 + 2 * (256 - 94), "only 94 bytes are kept as they are");
}

static void
md_names(void)
{
	static const struct {
		const char *s;
		bool ok;
	} t[] = {
		{ "x-request-id", true },
		{ "a", true },
		{ "trace_id.v2", true },
		{ "0123456789", true },
		{ "auth-bin", true },
		{ "grpcx", true },
		{ "grpc", true },
		{ "x-grpc-foo", true },
		{ "authorization", true },
		{ "", false },
		{ "X-Request-Id", false },
		{ "a b", false },
		{ "a:b", false },
		{ "a/b", false },
		{ "caf\xc3\xa9", false },
		{ ":path", false },
		{ ":authority", false },
		{ "grpc-timeout", false },
		{ "grpc-foo", false },
		{ "grpc-", false },
		{ "te", false },
		{ "content-type", false },
		{ "user-agent", false },
		{ "host", false },
		{ "connection", false },
		{ "transfer-encoding", false },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(grpc_md_name_ok(t[i].s, strlen(t[i].s)), t[i].ok,
		    "metadata name \"%s\" %s", t[i].s,
		    t[i].ok ? "allowed" : "refused");
	ok(!grpc_md_name_ok("a\0b", 3), "NUL in a name is refused");
	ok(grpc_md_name_ok("tex", 3) && grpc_md_name_ok("t", 1),
	    "reserved names match whole");

	ok(grpc_md_binary("trace-bin", 9), "trace-bin is binary");
	ok(grpc_md_binary("-bin", 4), "-bin is binary");
	ok(!grpc_md_binary("bin", 3), "bin is not");
	ok(!grpc_md_binary("trace_bin", 9), "trace_bin is not");
	ok(!grpc_md_binary("trace-bin-x", 11), "trace-bin-x is not");
	ok(!grpc_md_binary("", 0), "empty name is not");
	ok(grpc_md_binary("x-bin-bin", 6) == false, "only n bytes are read");
}

/* -v -v traces: secrets never shown, the rest shown exactly. */
static void
md_trace(void)
{
	static const struct {
		const char *name;
		bool secret;
	} t[] = {
		{ "authorization", true },
		{ "Authorization", true },
		{ "proxy-authorization", true },
		{ "cookie", true },
		{ "set-cookie", true },
		{ "x-engflow-auth-token", true },
		{ "x-api-key", true },
		{ "x-Secret-thing", true },
		{ "db-password", true },
		{ "token", true },
		{ "keys-bin", true },
		{ "monkey", true },
		{ "content-type", false },
		{ "user-agent", false },
		{ "x-request-id", false },
		{ "authorizationx", false },
		{ "cookies", false },
		{ "tok-en", false },
		{ "ke", false },
		{ "", false },
	};
	char buf[64];
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		is_int(grpc_md_secret(t[i].name, strlen(t[i].name)),
		    t[i].secret, "\"%s\" is %s", t[i].name,
		    t[i].secret ? "secret" : "shown");
	ok(!grpc_md_secret("authorization", 4), "only n bytes are read");

	n = grpc_md_trace(
	    buf, sizeof(buf), "authorization", 13, "Bearer abc.def", 14);
	is_str(buf, "authorization: <redacted 14 bytes>", "bearer redacted");
	is_int(n, strlen(buf), "length returned");
	grpc_md_trace(
	    buf, sizeof(buf), "x-engflow-auth-token", 20, "s3cr3t", 6);
	is_str(buf, "x-engflow-auth-token: <redacted 6 bytes>",
	    "EngFlow token redacted");
	grpc_md_trace(buf, sizeof(buf), "x-api-key", 9, "", 0);
	is_str(buf, "x-api-key: <redacted 0 bytes>", "empty secret redacted");
	grpc_md_trace(buf, sizeof(buf), ":path", 5, "/a.B/C", 6);
	is_str(buf, ":path: /a.B/C", "a plain header as it is");
	grpc_md_trace(buf, sizeof(buf), "x-a", 3, "t\x01\\\xff\n", 5);
	is_str(buf, "x-a: t\\x01\\x5c\\xff\\x0a",
	    "control bytes, backslash and high bytes escaped");
	n = grpc_md_trace(buf, 12, "x-long", 6, "0123456789", 10);
	is_str(buf, "x-long: 012", "cut to fit, NUL-terminated");
	is_int(n, 11, "cut length");
	n = grpc_md_trace(buf, 10, "x-b", 3, "\x01\x02", 2);
	is_str(buf, "x-b: \\x01", "an escape is never cut in half");
	is_int(grpc_md_trace(buf, 0, "x", 1, "y", 1), 0, "cap 0: nothing");
}

/* Two messages, "hello" and "", then "xyz": 5+5 + 5+0 + 5+3 bytes. */
static const uint8_t stream3[] = "\0\0\0\0\5hello"
				 "\0\0\0\0\0"
				 "\0\0\0\0\3xyz";
#define STREAM3_LEN (sizeof(stream3) - 1)

static void
check3(const struct got *g, const char *what)
{
	ok(g->count == 3 && g->lens[0] == 5 && g->lens[1] == 0 &&
		g->lens[2] == 3 && g->used == 8 &&
		memcmp(g->buf, "helloxyz", 8) == 0 && g->null_body == 0,
	    "%s: three messages, intact", what);
}

static void
deframe_basic(void)
{
	struct grpc_deframer d;
	struct got g;
	uint8_t p[GRPC_PREFIX];

	grpc_prefix_put(p, 0x01020304);
	ok(memcmp(p, "\0\1\2\3\4", 5) == 0, "prefix: flag 0, big-endian");

	grpc_deframer_init(&d, GRPC_MAX_RECV_DEFAULT);
	ok(!grpc_deframer_mid_message(&d), "fresh: not mid-message");
	memset(&g, 0, sizeof(g));
	is_int(grpc_deframer_feed(&d, stream3, 10, collect, &g), 10,
	    "single message: all bytes used");
	ok(g.count == 1 && g.lens[0] == 5 && memcmp(g.buf, "hello", 5) == 0,
	    "single message delivered");
	ok(!grpc_deframer_mid_message(&d), "after it: not mid-message");
	ok(d.msg == NULL, "whole message: nothing copied");
	is_int(d.messages, 1, "message count");
	grpc_deframer_free(&d);

	grpc_deframer_init(&d, GRPC_MAX_RECV_DEFAULT);
	memset(&g, 0, sizeof(g));
	is_int(grpc_deframer_feed(&d, stream3, STREAM3_LEN, collect, &g),
	    STREAM3_LEN, "several in one feed: all bytes used");
	check3(&g, "one feed");
	is_int(d.messages, 3, "three counted");
	grpc_deframer_free(&d);

	/* Zero-length message alone, and its prefix split over calls. */
	grpc_deframer_init(&d, 0);
	memset(&g, 0, sizeof(g));
	is_int(grpc_deframer_feed(
		   &d, (const uint8_t *)"\0\0\0\0\0", 5, collect, &g),
	    5, "empty message: 5 bytes used");
	ok(g.count == 1 && g.lens[0] == 0 && g.null_body == 0,
	    "empty message delivered with a non-NULL body");
	is_int(
	    grpc_deframer_feed(&d, (const uint8_t *)"\0\0\0", 3, collect, &g),
	    3, "half a prefix");
	ok(grpc_deframer_mid_message(&d), "inside a prefix: mid-message");
	is_int(grpc_deframer_feed(&d, (const uint8_t *)"\0\0", 2, collect, &g),
	    2, "rest of the prefix");
	ok(g.count == 2 && g.lens[1] == 0, "empty message after a split");
	ok(!grpc_deframer_mid_message(&d), "then not mid-message");
	is_int(grpc_deframer_feed(&d, (const uint8_t *)"", 0, collect, &g), 0,
	    "feeding nothing");
	grpc_deframer_free(&d);

	/* Mid-message: prefix done, body partial. */
	grpc_deframer_init(&d, 100);
	memset(&g, 0, sizeof(g));
	is_int(
	    grpc_deframer_feed(&d, stream3, 5, collect, &g), 5, "prefix alone");
	ok(grpc_deframer_mid_message(&d), "after a prefix: mid-message");
	ok(d.msg == NULL, "no body bytes yet: nothing allocated");
	is_int(grpc_deframer_feed(&d, stream3 + 5, 2, collect, &g), 2,
	    "part of the body");
	ok(grpc_deframer_mid_message(&d) && g.count == 0,
	    "inside a body: mid-message");
	is_int(grpc_deframer_feed(&d, stream3 + 7, 3, collect, &g), 3,
	    "rest of the body");
	ok(g.count == 1 && memcmp(g.buf, "hello", 5) == 0,
	    "split body delivered");
	ok(!grpc_deframer_mid_message(&d) && d.msg == NULL,
	    "copy released after delivery");
	grpc_deframer_free(&d);
}

static void
deframe_splits(void)
{
	struct grpc_deframer d;
	struct got g;
	size_t i, j, total;
	long r;
	int bad = 0;

	/* Byte by byte. */
	grpc_deframer_init(&d, 16);
	memset(&g, 0, sizeof(g));
	for (i = 0; i < STREAM3_LEN; i++)
		if (grpc_deframer_feed(&d, stream3 + i, 1, collect, &g) != 1)
			bad++;
	ok(bad == 0, "byte by byte: every byte used");
	check3(&g, "byte by byte");
	ok(!grpc_deframer_mid_message(&d), "byte by byte: ends clean");
	grpc_deframer_free(&d);

	/* Every split into two and into three pieces. */
	bad = 0;
	for (i = 0; i <= STREAM3_LEN; i++) {
		for (j = i; j <= STREAM3_LEN; j++) {
			grpc_deframer_init(&d, 16);
			memset(&g, 0, sizeof(g));
			total = 0;
			r = grpc_deframer_feed(&d, stream3, i, collect, &g);
			total += r > 0 ? (size_t)r : 0;
			r = grpc_deframer_feed(
			    &d, stream3 + i, j - i, collect, &g);
			total += r > 0 ? (size_t)r : 0;
			r = grpc_deframer_feed(
			    &d, stream3 + j, STREAM3_LEN - j, collect, &g);
			total += r > 0 ? (size_t)r : 0;
			if (total != STREAM3_LEN || g.count != 3 ||
			    g.lens[0] != 5 || g.lens[1] != 0 ||
			    g.lens[2] != 3 || g.used != 8 ||
			    memcmp(g.buf, "helloxyz", 8) != 0 ||
			    g.null_body != 0 || grpc_deframer_mid_message(&d) ||
			    d.messages != 3)
				bad++;
			grpc_deframer_free(&d);
		}
	}
	is_int(bad, 0, "all %zu splits into three pieces deliver the same",
	    (STREAM3_LEN + 1) * (STREAM3_LEN + 2) / 2);
}

static void
deframe_errors(void)
{
	struct grpc_deframer d;
	struct got g;

	grpc_deframer_init(&d, GRPC_MAX_RECV_DEFAULT);
	memset(&g, 0, sizeof(g));
	is_int(grpc_deframer_feed(&d,
		   (const uint8_t *)"\0\xff\xff\xff\xff"
				    "abc",
		   8, collect, &g),
	    GRPC_DEFRAME_TOO_BIG, "length 0xFFFFFFFF with max 4 MiB: too big");
	ok(d.msg == NULL && g.count == 0, "too big: nothing allocated");
	grpc_deframer_free(&d);

	grpc_deframer_init(&d, GRPC_MAX_RECV_DEFAULT);
	is_int(grpc_deframer_feed(
		   &d, (const uint8_t *)"\0\0\x40\0\0", 5, collect, &g),
	    5, "length exactly max is accepted");
	ok(d.msg == NULL, "still nothing allocated before the body");
	is_int(grpc_deframer_feed(&d, (const uint8_t *)"ab", 2, collect, &g), 2,
	    "start of a 4 MiB body");
	ok(d.msg != NULL && d.have == 2, "body being collected");
	grpc_deframer_free(&d);
	ok(d.msg == NULL, "free releases the body");

	grpc_deframer_init(&d, 4);
	is_int(grpc_deframer_feed(
		   &d, (const uint8_t *)"\0\0\0\0\5hello", 10, collect, &g),
	    GRPC_DEFRAME_TOO_BIG, "one over max: too big");
	grpc_deframer_free(&d);

	/* Errors come before anything of the message is delivered, and
	 * after the messages ahead of it. */
	grpc_deframer_init(&d, 100);
	memset(&g, 0, sizeof(g));
	is_int(grpc_deframer_feed(&d,
		   (const uint8_t *)"\0\0\0\0\1a"
				    "\1\0\0\0\1b",
		   12, collect, &g),
	    GRPC_DEFRAME_COMPRESSED, "flag 1: compressed");
	ok(g.count == 1 && g.buf[0] == 'a', "the message before it delivered");
	grpc_deframer_free(&d);

	grpc_deframer_init(&d, 100);
	memset(&g, 0, sizeof(g));
	is_int(grpc_deframer_feed(
		   &d, (const uint8_t *)"\2\0\0\0\1b", 6, collect, &g),
	    GRPC_DEFRAME_BAD_FLAG, "flag 2: bad flag");
	ok(g.count == 0, "nothing delivered");
	grpc_deframer_free(&d);

	grpc_deframer_init(&d, 100);
	is_int(grpc_deframer_feed(
		   &d, (const uint8_t *)"\x80\0\0\0\0", 5, collect, &g),
	    GRPC_DEFRAME_BAD_FLAG, "flag 0x80: bad flag");
	grpc_deframer_free(&d);
}

static void
deframe_pause(void)
{
	struct grpc_deframer d;
	struct got g;
	long r;

	/* Stop after the first message, then after the empty one. */
	grpc_deframer_init(&d, 16);
	memset(&g, 0, sizeof(g));
	g.stop_at = 1;
	r = grpc_deframer_feed(&d, stream3, STREAM3_LEN, collect, &g);
	is_int(r, 10, "paused after the first message: 10 bytes used");
	ok(g.count == 1 && !grpc_deframer_mid_message(&d),
	    "one message, at a boundary");
	g.stop_at = 2;
	r = grpc_deframer_feed(&d, stream3 + 10, STREAM3_LEN - 10, collect, &g);
	is_int(r, 5, "paused after the empty message: 5 bytes used");
	g.stop_at = 0;
	r = grpc_deframer_feed(&d, stream3 + 15, STREAM3_LEN - 15, collect, &g);
	is_int(r, STREAM3_LEN - 15, "resumed: the rest used");
	check3(&g, "pause and resume");
	grpc_deframer_free(&d);

	/* A pause on a message that spanned calls (delivered from the
	 * copy). */
	grpc_deframer_init(&d, 16);
	memset(&g, 0, sizeof(g));
	g.stop_at = 1;
	is_int(grpc_deframer_feed(&d, stream3, 7, collect, &g), 7,
	    "first part of a message");
	r = grpc_deframer_feed(&d, stream3 + 7, STREAM3_LEN - 7, collect, &g);
	is_int(r, 3, "paused after the copied message: 3 bytes used");
	ok(d.msg == NULL && !grpc_deframer_mid_message(&d),
	    "copy released, at a boundary");
	g.stop_at = 0;
	r = grpc_deframer_feed(&d, stream3 + 10, STREAM3_LEN - 10, collect, &g);
	is_int(r, STREAM3_LEN - 10, "resumed: the rest used");
	check3(&g, "pause on a copied message");
	grpc_deframer_free(&d);
}

int
main(void)
{
	status_names();
	status_maps();
	status_parse();
	timeout_parse();
	timeout_format();
	message_codec();
	md_names();
	md_trace();
	deframe_basic();
	deframe_splits();
	deframe_errors();
	deframe_pause();
	return done_testing();
}
