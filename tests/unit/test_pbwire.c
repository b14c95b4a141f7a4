/* Wire-format fields without a schema: every wire type, bad input. */
#include "config.h"

#include "pbwire.h"
#include "tap.h"

int
main(void)
{
	/* 1: varint 150; 2: "hi"; 3: fixed64 1; 4: fixed32 2; 2: "yo" */
	static const uint8_t m[] = { 0x08, 0x96, 0x01, 0x12, 0x02, 'h', 'i',
		0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0, 0x12, 0x02, 'y',
		'o' };
	static const uint8_t group[] = { 0x0b, 0x0c };
	static const uint8_t shortlen[] = { 0x12, 0x05, 'a' };
	static const uint8_t zero[] = { 0x00, 0x01 };
	struct pbiter it;
	struct pbfield f;
	const uint8_t *p;
	size_t n;

	pb_iter(&it, m, sizeof(m));
	ok(pb_next(&it, &f) == 1 && f.num == 1 && f.wire == PB_VARINT &&
		f.v == 150,
	    "varint field");
	ok(pb_next(&it, &f) == 1 && f.num == 2 && f.wire == PB_LEN &&
		f.len == 2 && f.p[0] == 'h',
	    "length-delimited field");
	ok(pb_next(&it, &f) == 1 && f.num == 3 && f.wire == PB_I64 && f.v == 1,
	    "fixed64 field, little-endian");
	ok(pb_next(&it, &f) == 1 && f.num == 4 && f.wire == PB_I32 && f.v == 2,
	    "fixed32 field");
	ok(pb_next(&it, &f) == 1 && f.num == 2, "a field again");
	is_int(pb_next(&it, &f), 0, "then the end");
	ok(pb_find(m, sizeof(m), 2, &p, &n) == 1 && n == 2 && p[0] == 'y',
	    "pb_find: the last one wins");
	is_int(pb_find(m, sizeof(m), 9, &p, &n), 0, "pb_find: absent");
	pb_iter(&it, group, sizeof(group));
	is_int(pb_next(&it, &f), -1, "groups are refused");
	is_int(pb_find(shortlen, sizeof(shortlen), 2, &p, &n), -1,
	    "a length past the end does not parse");
	pb_iter(&it, zero, sizeof(zero));
	is_int(pb_next(&it, &f), -1, "field number 0 does not parse");
	return done_testing();
}
