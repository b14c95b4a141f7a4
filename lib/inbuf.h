/*
 * Buffered input from a file descriptor that poll(2) said is readable:
 * one read(2) per fill, never O_NONBLOCK on the descriptor.
 */
#ifndef EVPIPE_INBUF_H
#define EVPIPE_INBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct inbuf {
	int fd;
	uint8_t *p;
	size_t cap;
	size_t start, end; /* unread bytes are p[start..end) */
	size_t limit; /* most bytes one unit may need */
	uint64_t off; /* stream offset of p[start] */
	bool eof;
};

void inbuf_init(struct inbuf *, int, size_t);
ssize_t inbuf_fill(struct inbuf *, size_t);
void inbuf_consume(struct inbuf *, size_t);
void inbuf_free(struct inbuf *);

static inline size_t
inbuf_len(const struct inbuf *b)
{
	return b->end - b->start;
}

static inline const uint8_t *
inbuf_data(const struct inbuf *b)
{
	return b->p + b->start;
}

#endif
