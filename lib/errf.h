/* Errors reported into a caller's buffer, as the lib/ parsers do. */
#ifndef EVPIPE_ERRF_H
#define EVPIPE_ERRF_H

#include <stddef.h>

/* Format into err (when len > 0); always returns -1. */
int errf(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

#endif
