/*
 * The message types compiled into libevpipe, found by full name or by
 * google.protobuf.Any type URL.  protobuf-c has no descriptor pool;
 * this table is ours (text format expands an Any of these types, the
 * tools unpack proto_data by it).
 */
#ifndef EVPIPE_PBTYPES_H
#define EVPIPE_PBTYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "google/protobuf/any.pb-c.h"

const ProtobufCMessageDescriptor *pbtype_by_name(const char *);
const ProtobufCMessageDescriptor *pbtype_by_url(const char *);
ProtobufCMessage *pbtype_unpack_any(
    const Google__Protobuf__Any *, ProtobufCAllocator *, bool);

#endif
