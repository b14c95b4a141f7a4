/* RFC 4648 base64, standard alphabet. */
#ifndef EVPIPE_BASE64_H
#define EVPIPE_BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BASE64_LEN(n) (((n) + 2) / 3 * 4)
#define BASE64_DECODED_MAX(n) (((n) + 3) / 4 * 3)

size_t base64_encode(char *, const uint8_t *, size_t);
ssize_t base64_decode(uint8_t *, const char *, size_t);

#endif
