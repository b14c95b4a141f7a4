/*
 * Protobuf text format of a protobuf-c message, byte for byte as
 * protobuf's Python (text_format.MessageToString) and C++ printers
 * write it by default: fields in number order, two-space indentation,
 * map entries sorted by key, strings and bytes C-escaped to ASCII,
 * enums by name, an Any of a type we know (pbtypes.h) expanded as
 * [type_url] { ... }.  Java's TextFormat writes the same, except that
 * it spells \a \b \f \v and infinities differently; both read it back.
 */
#ifndef EVPIPE_TEXTFORMAT_H
#define EVPIPE_TEXTFORMAT_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "google/protobuf/any.pb-c.h"
#include "strbuf.h"

char *textformat(const ProtobufCMessage *, size_t *);
char *textformat_any(const Google__Protobuf__Any *, size_t *);
size_t textformat_double(double, char *, size_t);
size_t textformat_float(float, char *, size_t);
void textformat_quote(struct strbuf *, const uint8_t *, size_t);

#endif
