#include "config.h"

#include "varint.h"

/* Encode v at p (room for VARINT_MAX bytes); returns the length. */
size_t
varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/*
 * Decode a varint from the n bytes at p.  Returns its length,
 * VARINT_SHORT if the bytes end inside it, or VARINT_BAD if it runs
 * over ten bytes or past 64 bits.
 */
int
varint_get(const uint8_t *p, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < n && i < VARINT_MAX; i++) {
		if (i == VARINT_MAX - 1 && p[i] > 1)
			return VARINT_BAD;
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if ((p[i] & 0x80) == 0) {
			*v = x;
			return (int)i + 1;
		}
	}
	return i == VARINT_MAX ? VARINT_BAD : VARINT_SHORT;
}
