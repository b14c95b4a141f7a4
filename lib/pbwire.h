/*
 * Reading the protobuf wire format directly, one level at a time: for
 * the few places that need a sub-message's exact bytes (a notification
 * is passed on unchanged, not decoded and re-encoded).
 */
#ifndef EVPIPE_PBWIRE_H
#define EVPIPE_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

struct pbfield {
	uint32_t num;
	int wiretype; /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
	uint64_t value; /* varint and fixed values */
	const uint8_t *p; /* length-delimited: the bytes */
	size_t len;
};

/* The next field: 1, 0 at the end, -1 when the bytes do not parse. */
int pbwire_next(const uint8_t **, size_t *, struct pbfield *);
/*
 * The bytes of length-delimited field num (the last one, as protobuf
 * merges repeated occurrences of a singular field; *count says how many
 * there were): 1 found, 0 absent, -1 malformed.
 */
int pbwire_find(
    const uint8_t *, size_t, uint32_t, const uint8_t **, size_t *, size_t *);

#endif
