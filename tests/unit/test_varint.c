#include "config.h"

#include <stdint.h>

#include "tap.h"
#include "varint.h"

static void
roundtrip(uint64_t v, size_t len)
{
	uint8_t buf[VARINT_MAX];
	uint64_t got = 0;
	size_t n = varint_put(buf, v);

	is_int(n, len, "%llu encodes in %zu bytes", (unsigned long long)v, len);
	is_int(varint_get(buf, n, &got), (int)n, "%llu decodes",
	    (unsigned long long)v);
	ok(got == v, "%llu round trips", (unsigned long long)v);
	is_int(varint_get(buf, n - 1, &got), VARINT_SHORT,
	    "%llu cut short is incomplete", (unsigned long long)v);
}

int
main(void)
{
	static const uint8_t ten[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0x01 };
	static const uint8_t over64[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0x02 };
	static const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		0x80, 0x80, 0x80, 0x80, 0x00 };
	static const uint8_t padded[] = { 0x81, 0x80, 0x00 };
	uint8_t buf[VARINT_MAX];
	uint64_t v;

	roundtrip(0, 1);
	roundtrip(1, 1);
	roundtrip(127, 1);
	roundtrip(128, 2);
	roundtrip(300, 2);
	roundtrip(16383, 2);
	roundtrip(16384, 3);
	roundtrip(4u * 1024 * 1024, 4);
	roundtrip(UINT32_MAX, 5);
	roundtrip(UINT64_MAX, 10);

	varint_put(buf, 300);
	ok(buf[0] == 0xac && buf[1] == 0x02, "300 is ac 02 (protobuf docs)");
	is_int(varint_get(ten, sizeof(ten), &v), 10, "ten-byte maximum");
	ok(v == UINT64_MAX, "ten-byte maximum is 2^64-1");
	is_int(varint_get(over64, sizeof(over64), &v), VARINT_BAD,
	    "more than 64 bits is bad");
	is_int(varint_get(eleven, sizeof(eleven), &v), VARINT_BAD,
	    "eleven bytes is bad");
	is_int(varint_get(padded, sizeof(padded), &v), 3,
	    "non-minimal encoding is accepted, as protobuf does");
	is_int(v, 1, "non-minimal encoding of 1");
	is_int(varint_get(buf, 0, &v), VARINT_SHORT, "no bytes: incomplete");
	return done_testing();
}
