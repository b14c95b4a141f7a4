/*
 * CloudEvents in the CloudEvents JSON format, exactly invertible:
 *  - proto_data is the member "data_proto": {"type_url", "value"}
 *    (value in base64);
 *  - attribute types that JSON cannot tell apart are named in the
 *    String attribute "evpipetypes" ("name=Type,..."), written only when
 *    the default reading would get a type wrong.
 * evcat(1) documents the mapping.
 */
#ifndef EVPIPE_CEJSON_H
#define EVPIPE_CEJSON_H

#include <cjson/cJSON.h>

#include "arena.h"
#include "cloudevent.h"

#define CE_HINTS "evpipetypes"

char *ce_to_json(const CloudEvent *, char *, size_t);
CloudEvent *ce_from_json(struct arena *, const cJSON *, char *, size_t);
cJSON *json_parse_line(const char *, size_t, char *, size_t);
bool ce_json_media_type(const char *);

#endif
