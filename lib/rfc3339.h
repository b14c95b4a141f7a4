/* RFC 3339 timestamps <-> google.protobuf.Timestamp (seconds, nanos). */
#ifndef EVPIPE_RFC3339_H
#define EVPIPE_RFC3339_H

#include <stdint.h>

#define RFC3339_MAX 36 /* "9999-12-31T23:59:59.999999999Z" + NUL */

int rfc3339_parse(const char *, int64_t *, int32_t *);
int rfc3339_format(char *, int64_t, int32_t);

#endif
