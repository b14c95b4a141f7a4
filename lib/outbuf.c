#include "config.h"

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "outbuf.h"

enum {
	OUT_BLOCKING, /* files and devices: write everything */
	OUT_SOCKET, /* send(MSG_DONTWAIT) */
	OUT_PIPE, /* pwritev2(RWF_NOWAIT) */
	OUT_PIPE_OLD, /* kernel without RWF_NOWAIT on pipes */
	OUT_CHUNKED, /* terminals and the rest: PIPE_BUF at a time */
};

void
outbuf_init(struct outbuf *b, int fd)
{
	struct stat st;
	int sz;

	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->kind = OUT_CHUNKED;
	if (fstat(fd, &st) == -1)
		return;
	if (S_ISFIFO(st.st_mode)) {
		b->kind = OUT_PIPE;
		sz = fcntl(fd, F_GETPIPE_SZ);
		b->pipesize = sz > 0 ? (size_t)sz : PIPE_BUF;
	} else if (S_ISSOCK(st.st_mode)) {
		b->kind = OUT_SOCKET;
	} else if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) ||
	    (S_ISCHR(st.st_mode) && !isatty(fd))) {
		b->kind = OUT_BLOCKING;
	}
}

/* Return room for n more bytes at the end; outbuf_commit() adds them. */
uint8_t *
outbuf_reserve(struct outbuf *b, size_t n)
{
	size_t len = outbuf_pending(b), cap;
	uint8_t *p;

	if (b->cap - b->end >= n)
		return b->p + b->end;
	if (b->start > 0 && b->cap - len >= n && len < b->cap / 2) {
		memmove(b->p, b->p + b->start, len);
	} else {
		if (n > SIZE_MAX / 2 - len)
			die(EXIT_INTERNAL, "out of memory");
		for (cap = b->cap ? b->cap : 16384; cap < len + n; cap *= 2)
			;
		if ((p = malloc(cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		if (len > 0)
			memcpy(p, b->p + b->start, len);
		free(b->p);
		b->p = p;
		b->cap = cap;
	}
	b->start = 0;
	b->end = len;
	return b->p + b->end;
}

void
outbuf_commit(struct outbuf *b, size_t n)
{
	b->end += n;
}

void
outbuf_add(struct outbuf *b, const void *p, size_t n)
{
	memcpy(outbuf_reserve(b, n), p, n);
	outbuf_commit(b, n);
}

static ssize_t
write_pipe_old(struct outbuf *b, const uint8_t *p, size_t n)
{
	int queued;

	/*
	 * poll(2) said the pipe has a free slot: PIPE_BUF bytes fit.  An
	 * empty pipe takes its whole capacity.
	 */
	if (n > PIPE_BUF) {
		if (ioctl(b->fd, FIONREAD, &queued) == 0 && queued == 0)
			n = n < b->pipesize ? n : b->pipesize;
		else
			n = PIPE_BUF;
	}
	return write(b->fd, p, n);
}

/*
 * Write what the descriptor takes now; call when poll(2) reports it
 * writable.  Returns 0, or -1 with errno set (EPIPE: the reader left).
 */
int
outbuf_write(struct outbuf *b)
{
	const uint8_t *p = b->p + b->start;
	size_t n = outbuf_pending(b);
	struct iovec iov;
	ssize_t w;

	if (n == 0)
		return 0;
	if (b->kind == OUT_BLOCKING)
		return outbuf_drain(b);
	for (;;) {
		switch (b->kind) {
		case OUT_SOCKET:
			w = send(b->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			break;
		case OUT_PIPE:
			iov.iov_base = (void *)p;
			iov.iov_len = n;
			w = pwritev2(b->fd, &iov, 1, -1, RWF_NOWAIT);
			if (w < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
				b->kind = OUT_PIPE_OLD;
				continue;
			}
			break;
		case OUT_PIPE_OLD:
			w = write_pipe_old(b, p, n);
			break;
		default:
			w = write(b->fd, p, n < PIPE_BUF ? n : PIPE_BUF);
			break;
		}
		if (w >= 0 || errno != EINTR)
			break;
	}
	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	b->start += (size_t)w;
	b->written += (uint64_t)w;
	if (b->start == b->end)
		b->start = b->end = 0;
	return 0;
}

/* Write everything, blocking as long as it takes. */
int
outbuf_drain(struct outbuf *b)
{
	ssize_t w;

	while (outbuf_pending(b) > 0) {
		w = write(b->fd, b->p + b->start, outbuf_pending(b));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Someone else made the descriptor
				 * non-blocking. */
				struct timespec ts = { 0, 1000000 };
				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		b->start += (size_t)w;
		b->written += (uint64_t)w;
	}
	b->start = b->end = 0;
	return 0;
}

void
outbuf_discard(struct outbuf *b)
{
	b->start = b->end = 0;
}

void
outbuf_free(struct outbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
	b->fd = -1;
}
