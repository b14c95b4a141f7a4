/*
 * A growable byte string for building output (JSON lines, protobuf
 * messages): append freely, take s.p[0..s.len), reuse with
 * strbuf_reset().  Growth cannot fail (xalloc.h); p is always
 * NUL-terminated when non-NULL.
 */
#ifndef EVPIPE_STRBUF_H
#define EVPIPE_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct strbuf {
	char *p;
	size_t len, cap;
};

void strbuf_grow(struct strbuf *, size_t);
void strbuf_add(struct strbuf *, const void *, size_t);
void strbuf_adds(struct strbuf *, const char *);
void strbuf_addc(struct strbuf *, char);
void strbuf_addf(struct strbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void strbuf_insert(struct strbuf *, size_t, const void *, size_t);
void strbuf_reset(struct strbuf *);
void strbuf_free(struct strbuf *);

#endif
