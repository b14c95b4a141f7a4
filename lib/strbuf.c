#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

/* Room for n more bytes and the NUL. */
void
strbuf_grow(struct strbuf *b, size_t n)
{
	size_t cap;

	if (n < b->cap - b->len && b->p != NULL)
		return;
	if (n > SIZE_MAX / 2 - b->len)
		die(EXIT_INTERNAL, "out of memory");
	cap = b->cap > 0 ? b->cap : 256;
	while (cap - b->len <= n)
		cap *= 2;
	b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

void
strbuf_add(struct strbuf *b, const void *p, size_t n)
{
	strbuf_grow(b, n);
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
strbuf_adds(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void
strbuf_addc(struct strbuf *b, char c)
{
	strbuf_grow(b, 1);
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

void
strbuf_addf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	strbuf_grow(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		die(EXIT_INTERNAL, "vsnprintf failed");
	if ((size_t)n >= b->cap - b->len) {
		strbuf_grow(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

/* Insert n bytes at offset off (off <= len). */
void
strbuf_insert(struct strbuf *b, size_t off, const void *p, size_t n)
{
	strbuf_grow(b, n);
	memmove(b->p + off + n, b->p + off, b->len - off + 1);
	memcpy(b->p + off, p, n);
	b->len += n;
}

void
strbuf_reset(struct strbuf *b)
{
	b->len = 0;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
strbuf_free(struct strbuf *b)
{
	free(b->p);
	*b = (struct strbuf){ NULL, 0, 0 };
}
