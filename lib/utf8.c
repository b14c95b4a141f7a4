#include "config.h"

#include <stdint.h>

#include "utf8.h"

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * past U+10FFFF.
 */
bool
utf8_valid(const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s, *end = p + n;
	uint32_t c, min;
	int more;

	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			c = *p & 0x1f;
			more = 1;
			min = 0x80;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			c = *p & 0x0f;
			more = 2;
			min = 0x800;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			c = *p & 0x07;
			more = 3;
			min = 0x10000;
		} else {
			return false;
		}
		if (end - p <= more)
			return false;
		for (p++; more > 0; more--, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (*p & 0x3f);
		}
		if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			return false;
	}
	return true;
}
