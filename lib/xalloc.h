/*
 * Allocation that cannot fail: out of memory is "tool: out of memory"
 * and exit 70 (EXIT_INTERNAL), as no caller could do better.  Zero
 * sizes are fine (never NULL).
 */
#ifndef EVPIPE_XALLOC_H
#define EVPIPE_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xrealloc(void *, size_t);
char *xstrndup(const char *, size_t); /* n bytes and a NUL */

#endif
