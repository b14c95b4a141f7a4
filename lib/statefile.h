/*
 * A position kept across runs (subscribe --state): the last Axway
 * sequence id written out, so a restarted subscribe continues there.
 *
 * The file holds one line, the decimal number.  It is replaced
 * atomically: written to a temporary file in the same directory,
 * fsync'd, renamed over the old one, and the directory fsync'd, so a
 * crash leaves either the old or the new value, never a torn one.
 */
#ifndef EVPIPE_STATEFILE_H
#define EVPIPE_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

/* 1: *pos read; 0: no such file; -1: unreadable or malformed (err). */
int statefile_read(const char *, int64_t *, char *, size_t);
/* 0, or -1 with err (the old value is still in place then). */
int statefile_write(const char *, int64_t, char *, size_t);

#endif
