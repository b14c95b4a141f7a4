/*
 * The pipe envelope: each record is an unsigned varint length followed
 * by that many bytes (a CloudEvent in protobuf form), as Java's
 * writeDelimitedTo() writes them.
 */
#ifndef EVPIPE_FRAME_H
#define EVPIPE_FRAME_H

#include <protobuf-c/protobuf-c.h>

#include "inbuf.h"
#include "outbuf.h"

#define FRAME_MAX_DEFAULT (4u * 1024 * 1024)

enum {
	FRAME_RECORD = 1, /* a complete record is returned */
	FRAME_AGAIN = 0, /* read more input first */
	FRAME_EOF = -1, /* clean end of input, between records */
	FRAME_ERROR = -2, /* malformed input; see err */
};

struct frame_reader {
	struct inbuf in;
	size_t max; /* largest record body accepted */
	size_t need; /* bytes the next record needs in all */
	uint64_t nrec; /* records returned so far */
	uint64_t rec_off; /* stream offset of the last one returned */
	char err[256];
};

void frame_reader_init(struct frame_reader *, int, size_t);
ssize_t frame_fill(struct frame_reader *);
int frame_next(struct frame_reader *, const uint8_t **, size_t *);
void frame_errorf(struct frame_reader *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void frame_reader_free(struct frame_reader *);

size_t frame_put(struct outbuf *, const ProtobufCMessage *);
void frame_put_bytes(struct outbuf *, const void *, size_t);

#endif
