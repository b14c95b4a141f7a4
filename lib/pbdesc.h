/*
 * Protobuf message types from serialized FileDescriptorSets (protoc
 * --include_imports --descriptor_set_out, as grpcurl reads them): the
 * fields of each message resolved to their message and enum types, for
 * the proto3 JSON mapping and the text format of data whose type
 * libevpipe was not compiled with (pbjson.h).  The embedded set
 * (descset.h) gives every type evpipe knows.
 */
#ifndef EVPIPE_PBDESC_H
#define EVPIPE_PBDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FieldDescriptorProto.Type */
enum pbtype {
	PB_DOUBLE = 1,
	PB_FLOAT,
	PB_INT64,
	PB_UINT64,
	PB_INT32,
	PB_FIXED64,
	PB_FIXED32,
	PB_BOOL,
	PB_STRING,
	PB_GROUP,
	PB_MESSAGE,
	PB_BYTES,
	PB_UINT32,
	PB_ENUM,
	PB_SFIXED32,
	PB_SFIXED64,
	PB_SINT32,
	PB_SINT64
};

/* Well-known types with a JSON form of their own. */
enum pbwkt {
	WKT_NONE,
	WKT_ANY,
	WKT_TIMESTAMP,
	WKT_DURATION,
	WKT_FIELDMASK,
	WKT_STRUCT,
	WKT_VALUE,
	WKT_LISTVALUE,
	WKT_WRAPPER
};

struct pbenum {
	const char *name; /* fully qualified */
	size_t nvalues;
	const char **vname;
	int32_t *vnum;
	bool null_value; /* google.protobuf.NullValue: JSON null */
};

struct pbmsg;

struct pbfield {
	const char *name, *json_name;
	uint32_t number;
	enum pbtype type;
	bool repeated;
	bool packed; /* repeated scalars are written packed */
	bool presence; /* written even when it holds the default */
	int oneof; /* index of its real oneof, or -1 */
	const struct pbmsg *msg; /* PB_MESSAGE: NULL when not found */
	const struct pbenum *en; /* PB_ENUM: NULL when not found */
};

struct pbmsg {
	const char *name; /* fully qualified */
	struct pbfield *fields; /* by number */
	size_t nfields;
	bool map_entry;
	enum pbwkt wkt;
};

struct pbpool;

struct pbpool *pbpool_new(void);
void pbpool_free(struct pbpool *);
/*
 * Add the files of a serialized FileDescriptorSet; -1 (err says why)
 * when it does not parse.  The bytes are not kept.  Of two types of the
 * same name the first added wins.
 */
int pbpool_add(struct pbpool *, const uint8_t *, size_t, char *, size_t);
/* Add evpipe's own types (the embedded set). */
void pbpool_add_builtin(struct pbpool *);
const struct pbmsg *pbpool_message(struct pbpool *, const char *);
/* The type a google.protobuf.Any type URL names (after its last '/'). */
const struct pbmsg *pbpool_by_url(struct pbpool *, const char *);
/* A method of a service in the files added. */
struct pbmethod {
	const char *input, *output; /* fully qualified, no leading dot */
	bool client_streaming, server_streaming;
};
/*
 * The method at a gRPC path, "/package.Service/Method": 0 and *m set
 * when found; -1 when no file added declares the service, -2 when it
 * does but not the method.
 */
int pbpool_method(struct pbpool *, const char *, struct pbmethod *);
const struct pbfield *pbmsg_field(const struct pbmsg *, uint32_t);
const struct pbfield *pbmsg_field_named(
    const struct pbmsg *, const char *, size_t);

#endif
