/*
 * Buffered output to a file descriptor, written only as far as the
 * descriptor takes it without blocking (for pipes and sockets), so one
 * slow reader cannot stall the poll loop.  The descriptor's O_NONBLOCK
 * flag is never touched: it is shared with the rest of the pipeline.
 */
#ifndef EVPIPE_OUTBUF_H
#define EVPIPE_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf {
	int fd;
	uint8_t *p;
	size_t cap;
	size_t start, end; /* pending bytes are p[start..end) */
	int kind; /* how writes to fd avoid blocking */
	size_t pipesize;
	uint64_t written; /* bytes written so far */
};

void outbuf_init(struct outbuf *, int);
uint8_t *outbuf_reserve(struct outbuf *, size_t);
void outbuf_commit(struct outbuf *, size_t);
void outbuf_add(struct outbuf *, const void *, size_t);
int outbuf_write(struct outbuf *);
int outbuf_drain(struct outbuf *);
void outbuf_discard(struct outbuf *);
void outbuf_free(struct outbuf *);

static inline size_t
outbuf_pending(const struct outbuf *b)
{
	return b->end - b->start;
}

#endif
