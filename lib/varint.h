/* Protobuf base-128 varints: low group first, high bit = more follows. */
#ifndef EVPIPE_VARINT_H
#define EVPIPE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10

enum { VARINT_SHORT = 0, VARINT_BAD = -1 };

size_t varint_put(uint8_t *, uint64_t);
int varint_get(const uint8_t *, size_t, uint64_t *);

#endif
