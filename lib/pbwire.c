#include "config.h"

#include "pbwire.h"
#include "varint.h"

int
pbwire_next(const uint8_t **pp, size_t *np, struct pbfield *f)
{
	const uint8_t *p = *pp;
	size_t n = *np, size;
	uint64_t key, v;
	int r;

	if (n == 0)
		return 0;
	if ((r = varint_get(p, n, &key)) <= 0 || (key >> 3) == 0 ||
	    (key >> 3) > 0x1fffffff)
		return -1;
	p += r;
	n -= (size_t)r;
	f->num = (uint32_t)(key >> 3);
	f->wiretype = (int)(key & 7);
	f->p = NULL;
	f->len = 0;
	f->value = 0;
	switch (f->wiretype) {
	case 0:
		if ((r = varint_get(p, n, &v)) <= 0)
			return -1;
		f->value = v;
		size = (size_t)r;
		break;
	case 1:
	case 5:
		size = f->wiretype == 1 ? 8 : 4;
		if (n < size)
			return -1;
		for (r = (int)size; r-- > 0;)
			f->value = f->value << 8 | p[r];
		break;
	case 2:
		if ((r = varint_get(p, n, &v)) <= 0 || v > n - (size_t)r)
			return -1;
		f->p = p + r;
		f->len = (size_t)v;
		size = (size_t)r + (size_t)v;
		break;
	default: /* groups (3, 4) are long gone from proto3 */
		return -1;
	}
	*pp = p + size;
	*np = n - size;
	return 1;
}

int
pbwire_find(const uint8_t *p, size_t n, uint32_t num, const uint8_t **out,
    size_t *outlen, size_t *count)
{
	struct pbfield f;
	size_t seen = 0;
	int r;

	while ((r = pbwire_next(&p, &n, &f)) == 1)
		if (f.num == num && f.wiretype == 2) {
			*out = f.p;
			*outlen = f.len;
			seen++;
		}
	if (count != NULL)
		*count = seen;
	return r < 0 ? -1 : seen > 0;
}
