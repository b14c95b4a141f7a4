#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "inbuf.h"
#include "log.h"

#define INBUF_MIN (64 * 1024)

void
inbuf_init(struct inbuf *b, int fd, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->limit = limit < INBUF_MIN ? INBUF_MIN : limit;
}

/*
 * Make room for `need` unread bytes (at most the limit) and read once.
 * Returns bytes read, 0 at end of file, -1 on error with errno set.
 */
ssize_t
inbuf_fill(struct inbuf *b, size_t need)
{
	size_t len = inbuf_len(b), cap;
	ssize_t n;
	uint8_t *p;

	if (need > b->limit)
		need = b->limit;
	if (need <= len)
		need = len + 1; /* there is always room to read into */
	if (need < INBUF_MIN)
		need = INBUF_MIN;
	if (b->cap < need) {
		for (cap = b->cap ? b->cap : INBUF_MIN; cap < need; cap *= 2)
			;
		if ((p = malloc(cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		if (len > 0)
			memcpy(p, b->p + b->start, len);
		free(b->p);
		b->p = p;
		b->cap = cap;
		b->start = 0;
		b->end = len;
	} else if (b->start > 0 &&
	    (b->cap - b->end < INBUF_MIN / 2 || b->cap - b->start < need)) {
		memmove(b->p, b->p + b->start, len);
		b->start = 0;
		b->end = len;
	}
	do
		n = read(b->fd, b->p + b->end, b->cap - b->end);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		b->end += (size_t)n;
	else if (n == 0)
		b->eof = true;
	return n;
}

void
inbuf_consume(struct inbuf *b, size_t n)
{
	b->start += n;
	b->off += n;
	if (b->start == b->end)
		b->start = b->end = 0;
}

void
inbuf_free(struct inbuf *b)
{
	free(b->p);
	b->p = NULL;
	b->cap = b->start = b->end = 0;
}
