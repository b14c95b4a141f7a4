#ifndef EVPIPE_UTF8_H
#define EVPIPE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const char *, size_t);

#endif
