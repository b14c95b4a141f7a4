/*
 * A whole file in memory (-P descriptor sets, -f programs, -d @FILE),
 * with a NUL after it; a limit keeps a wrong path from eating memory.
 */
#ifndef EVPIPE_SLURP_H
#define EVPIPE_SLURP_H

#include <stddef.h>

/* All of fd; NULL with errno set (EFBIG: more than max bytes). */
char *slurp_fd(int, size_t, size_t *);
/* All of the file at path; likewise. */
char *slurp_file(const char *, size_t, size_t *);

#endif
