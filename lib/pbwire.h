/*
 * Reading protobuf wire format field by field, without a schema: for
 * messages whose bytes must pass on unchanged, or where only one field
 * is wanted (encoding.md: tag = number << 3 | wire type; VARINT 0,
 * I64 1, LEN 2, I32 5; groups 3 and 4 are refused).
 */
#ifndef EVPIPE_PBWIRE_H
#define EVPIPE_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

struct pbfield {
	uint32_t num;
	int wire;
	uint64_t v; /* VARINT, I64, I32 */
	const uint8_t *p; /* LEN */
	size_t len;
};

struct pbiter {
	const uint8_t *p;
	size_t n;
};

void pb_iter(struct pbiter *, const void *, size_t);
/* 1: the next field is in f; 0: the end; -1: the bytes do not parse. */
int pb_next(struct pbiter *, struct pbfield *);
/* The last LEN field number num (proto3: the last one wins); 0 if none,
 * -1 if the bytes do not parse. */
int pb_find(const void *, size_t, uint32_t, const uint8_t **, size_t *);

#endif
