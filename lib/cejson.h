/*
 * CloudEvents in the CloudEvents JSON format (version 1.0), exactly
 * invertible, as evcat(1) documents it:
 *  - protobuf data is data_base64 with datacontenttype
 *    application/protobuf and dataschema naming its type (both derived
 *    from the data, not attributes of the record), or decoded: its
 *    proto3 JSON mapping in data, or its text format;
 *  - what JSON cannot tell (attribute types, which attributes are the
 *    record's own, how the data is held) is said in the String
 *    extension "evpipetypes" ("name=Type,...,data=how"), written only
 *    when the default reading would get it wrong;
 *  - attributes keep their order; JSON data keeps its text.
 * The evpipe 1 form (data_proto, an extension CloudEvents JSON does not
 * have) is written on request and always read.
 */
#ifndef EVPIPE_CEJSON_H
#define EVPIPE_CEJSON_H

#include <cjson/cJSON.h>

#include "arena.h"
#include "cloudevent.h"
#include "jsonraw.h"
#include "pbdesc.h"
#include "strbuf.h"

#define CE_HINTS "evpipetypes"
#define CE_PROTOBUF "application/protobuf"

/* How protobuf data is written. */
enum ce_data_form {
	CE_FORM_BASE64, /* data_base64, application/protobuf (the default) */
	CE_FORM_JSON, /* data: its proto3 JSON mapping, when exact */
	CE_FORM_TEXT, /* data: its text format on one line (a view) */
	CE_FORM_PROTO, /* data_proto: the evpipe 1 form */
};

struct ce_json {
	enum ce_data_form form;
	struct pbpool *types; /* NULL: evpipe's own, loaded when needed */
	bool own_types;
	struct arena scratch;
	struct strbuf tmp;
};

void ce_json_init(struct ce_json *, enum ce_data_form, struct pbpool *);
void ce_json_free(struct ce_json *);
/* Append one event as a compact JSON object; -1 with err if it cannot. */
int ce_json_write(
    struct ce_json *, const CloudEvent *, struct strbuf *, char *, size_t);
/* One JSON object as a checked CloudEvent; NULL with err if it is not. */
CloudEvent *ce_json_read(
    struct ce_json *, struct arena *, const struct jv *, char *, size_t);
/* Whether the record held fields CloudEvent does not have (dropped). */
bool ce_has_unknown(const CloudEvent *);

/* type URL <-> dataschema, a bijection (evcat(1)). */
char *ce_schema_of_url(struct arena *, const char *);
const char *ce_url_of_schema(const char *);

cJSON *json_parse_line(const char *, size_t, char *, size_t);
bool ce_json_media_type(const char *);

#endif
