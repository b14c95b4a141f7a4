/*
 * The text of a member of a JSON object, exactly as it was written:
 * cJSON turns numbers into doubles, which would change large integers
 * passed through (an action's input, a handler's payload).  Only for
 * text that is known to be valid JSON (cJSON parsed it).
 */
#ifndef EVPIPE_JSONRAW_H
#define EVPIPE_JSONRAW_H

#include <stdbool.h>
#include <stddef.h>

bool json_member_raw(
    const char *, size_t, const char *, const char **, size_t *);

#endif
