/*
 * Protobuf messages, by their descriptors (pbdesc.h), in the proto3
 * JSON mapping (protobuf.dev/programming-guides/json) and the text
 * format, straight from and to the wire bytes.
 *
 * The printers take only what the mapping can give back exactly:
 * fields of the type (no unknown ones), in field-number order, each
 * field once unless repeated, one member of a oneof, strings in UTF-8,
 * types of Any found.  pbjson_print_exact() also encodes what it
 * printed and compares: it succeeds only when the JSON encodes back to
 * the very same bytes, so showing data decoded never loses any of it.
 */
#ifndef EVPIPE_PBJSON_H
#define EVPIPE_PBJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "jsonraw.h"
#include "pbdesc.h"
#include "strbuf.h"

/* Append the message's JSON (compact) to out; -1 with err when not. */
int pbjson_print(struct pbpool *, const struct pbmsg *, const uint8_t *, size_t,
    struct strbuf *, char *, size_t);
/* Append the message's wire form (canonical: fields by number). */
int pbjson_encode(struct pbpool *, const struct pbmsg *, const struct jv *,
    struct strbuf *, char *, size_t);
/* pbjson_print() when the JSON encodes back to the same bytes. */
int pbjson_print_exact(struct pbpool *, const struct pbmsg *, const uint8_t *,
    size_t, struct strbuf *, struct arena *, char *, size_t);
/*
 * The text format, as protobuf's Python text_format.MessageToString
 * writes it; on one line as with as_one_line=True.
 */
int pbtext_print(struct pbpool *, const struct pbmsg *, const uint8_t *, size_t,
    bool, struct strbuf *, char *, size_t);

#endif
