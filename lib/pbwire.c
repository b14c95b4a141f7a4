#include "config.h"

#include <string.h>

#include "pbwire.h"
#include "varint.h"

void
pb_iter(struct pbiter *it, const void *p, size_t n)
{
	it->p = p;
	it->n = n;
}

int
pb_next(struct pbiter *it, struct pbfield *f)
{
	uint64_t key, v;
	int r;

	if (it->n == 0)
		return 0;
	if ((r = varint_get(it->p, it->n, &key)) <= 0 || key >> 3 == 0 ||
	    key >> 3 > 0x1fffffff)
		return -1;
	it->p += r;
	it->n -= (size_t)r;
	memset(f, 0, sizeof(*f));
	f->num = (uint32_t)(key >> 3);
	f->wire = (int)(key & 7);
	switch (f->wire) {
	case PB_VARINT:
		if ((r = varint_get(it->p, it->n, &f->v)) <= 0)
			return -1;
		it->p += r;
		it->n -= (size_t)r;
		return 1;
	case PB_I64:
	case PB_I32:
		v = f->wire == PB_I64 ? 8 : 4;
		if (it->n < v)
			return -1;
		for (r = (int)v - 1; r >= 0; r--) /* little-endian */
			f->v = f->v << 8 | it->p[r];
		it->p += v;
		it->n -= (size_t)v;
		return 1;
	case PB_LEN:
		if ((r = varint_get(it->p, it->n, &v)) <= 0 ||
		    v > it->n - (size_t)r)
			return -1;
		f->p = it->p + r;
		f->len = (size_t)v;
		it->p += (size_t)r + (size_t)v;
		it->n -= (size_t)r + (size_t)v;
		return 1;
	default:
		return -1;
	}
}

int
pb_find(const void *p, size_t n, uint32_t num, const uint8_t **out, size_t *len)
{
	struct pbiter it;
	struct pbfield f;
	int r, found = 0;

	pb_iter(&it, p, n);
	while ((r = pb_next(&it, &f)) > 0)
		if (f.num == num && f.wire == PB_LEN) {
			*out = f.p;
			*len = f.len;
			found = 1;
		}
	return r < 0 ? -1 : found;
}
