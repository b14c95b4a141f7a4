#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "varint.h"

void
frame_reader_init(struct frame_reader *fr, int fd, size_t max)
{
	fr->max = max;
	fr->need = 1;
	fr->nrec = 0;
	fr->rec_off = 0;
	fr->err[0] = '\0';
	inbuf_init(&fr->in, fd, max + VARINT_MAX);
}

/* Read once into the buffer, making room for the record under way. */
ssize_t
frame_fill(struct frame_reader *fr)
{
	return inbuf_fill(&fr->in, fr->need);
}

/* Describe malformed input at the record under way; see frame_errorf(). */
static int fail(struct frame_reader *fr, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct frame_reader *fr, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(fr->err, sizeof(fr->err),
	    "record %llu at byte %llu: ", (unsigned long long)fr->nrec + 1,
	    (unsigned long long)fr->in.off);
	if (n > 0 && (size_t)n < sizeof(fr->err)) {
		va_start(ap, fmt);
		vsnprintf(fr->err + n, sizeof(fr->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return FRAME_ERROR;
}

/*
 * Return the next complete record from what has been read.  The body
 * stays valid until the next frame_fill().
 */
int
frame_next(struct frame_reader *fr, const uint8_t **body, size_t *len)
{
	const uint8_t *p = inbuf_data(&fr->in);
	size_t have = inbuf_len(&fr->in);
	uint64_t size;
	int r;

	if (have == 0) {
		fr->need = 1;
		return fr->in.eof ? FRAME_EOF : FRAME_AGAIN;
	}
	r = varint_get(p, have, &size);
	if (r == VARINT_BAD)
		return fail(
		    fr, "bad length prefix (longer than %d bytes)", VARINT_MAX);
	if (r == VARINT_SHORT) {
		fr->need = have + 1;
		if (fr->in.eof)
			return fail(
			    fr, "truncated length prefix (%zu bytes)", have);
		return FRAME_AGAIN;
	}
	if (size > fr->max)
		return fail(fr, "length %llu exceeds the limit of %zu bytes",
		    (unsigned long long)size, fr->max);
	if (have - (size_t)r < size) {
		fr->need = (size_t)r + (size_t)size;
		if (fr->in.eof)
			return fail(fr, "truncated record (%zu of %llu bytes)",
			    have - (size_t)r, (unsigned long long)size);
		return FRAME_AGAIN;
	}
	fr->nrec++;
	fr->rec_off = fr->in.off;
	fr->need = 1;
	*body = p + r;
	*len = (size_t)size;
	inbuf_consume(&fr->in, (size_t)r + (size_t)size);
	return FRAME_RECORD;
}

/* Describe a problem with the record frame_next() returned last. */
void
frame_errorf(struct frame_reader *fr, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(fr->err, sizeof(fr->err),
	    "record %llu at byte %llu: ", (unsigned long long)fr->nrec,
	    (unsigned long long)fr->rec_off);
	if (n > 0 && (size_t)n < sizeof(fr->err)) {
		va_start(ap, fmt);
		vsnprintf(fr->err + n, sizeof(fr->err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

void
frame_reader_free(struct frame_reader *fr)
{
	inbuf_free(&fr->in);
}

/* Append msg as one record; returns the body size. */
size_t
frame_put(struct outbuf *out, const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg), n;
	uint8_t *p;

	p = outbuf_reserve(out, VARINT_MAX + size);
	n = varint_put(p, size);
	n += protobuf_c_message_pack(msg, p + n);
	outbuf_commit(out, n);
	return size;
}

void
frame_put_bytes(struct outbuf *out, const void *body, size_t size)
{
	uint8_t *p;
	size_t n;

	p = outbuf_reserve(out, VARINT_MAX + size);
	n = varint_put(p, size);
	memcpy(p + n, body, size);
	outbuf_commit(out, n + size);
}
