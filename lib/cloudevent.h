/*
 * CloudEvents (protobuf format): checking, unpacking and building.
 * Events built here live in an arena and die with arena_reset().
 */
#ifndef EVPIPE_CLOUDEVENT_H
#define EVPIPE_CLOUDEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cloudevent.pb-c.h"

typedef Io__Cloudevents__V1__CloudEvent CloudEvent;
typedef Io__Cloudevents__V1__CloudEvent__AttributesEntry CEAttr;
typedef Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue CEValue;

/* Attribute types (CEValue.attr_case) and data kinds (CloudEvent.data_case). */
/* clang-format off */
typedef Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue__AttrCase
    ce_type;
#define CE_NONE IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR__NOT_SET
#define CE_BOOLEAN IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BOOLEAN
#define CE_INTEGER IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_INTEGER
#define CE_STRING IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING
#define CE_BINARY IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BYTES
#define CE_URI IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI
#define CE_URI_REF IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI_REF
#define CE_TIMESTAMP IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP

typedef Io__Cloudevents__V1__CloudEvent__DataCase ce_data;
#define CE_DATA_NONE IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA__NOT_SET
#define CE_DATA_BINARY IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_BINARY_DATA
#define CE_DATA_TEXT IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_TEXT_DATA
#define CE_DATA_PROTO IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA
/* clang-format on */

#define CE_SPECVERSION "1.0"
#define CE_TYPE_URL_PREFIX "type.googleapis.com/"

CloudEvent *ce_unpack(struct arena *, const uint8_t *, size_t, char *, size_t);
int ce_check(const CloudEvent *, char *, size_t);
bool ce_name_ok(const char *);
bool ce_name_reserved(const char *);
const char *ce_type_name(ce_type);
ce_type ce_type_parse(const char *, size_t);

CloudEvent *ce_new(struct arena *, const char *, const char *, const char *);
CloudEvent *ce_from_message(struct arena *, const ProtobufCMessage *,
    const char *, const char *, const char *);
const CEValue *ce_get(const CloudEvent *, const char *);
const char *ce_get_string(const CloudEvent *, const char *);
CEValue *ce_put(struct arena *, CloudEvent *, const char *, ce_type);
CEValue *ce_append(struct arena *, CloudEvent *, const char *, ce_type);
void ce_put_string(struct arena *, CloudEvent *, const char *, const char *);
void ce_put_uri(struct arena *, CloudEvent *, const char *, const char *);
void ce_put_uri_ref(struct arena *, CloudEvent *, const char *, const char *);
void ce_put_bool(struct arena *, CloudEvent *, const char *, bool);
void ce_put_int(struct arena *, CloudEvent *, const char *, int32_t);
void ce_put_bytes(
    struct arena *, CloudEvent *, const char *, const void *, size_t);
void ce_put_time(struct arena *, CloudEvent *, const char *, int64_t, int32_t);
bool ce_del(CloudEvent *, const char *);
void ce_set_text(struct arena *, CloudEvent *, const char *);
void ce_set_binary(struct arena *, CloudEvent *, const void *, size_t);
void ce_set_proto_raw(
    struct arena *, CloudEvent *, const char *, const void *, size_t);
void ce_set_proto(struct arena *, CloudEvent *, const ProtobufCMessage *);

#endif
