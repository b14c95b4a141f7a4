#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cloudevent.h"
#include "errf.h"
#include "utf8.h"
#include "varint.h"

#define EV_FIELD_SOURCE 2
#define EV_FIELD_ATTRS 5
#define EV_FIELD_TEXT 7
#define EV_FIELD_PROTO 8

static const char *const type_names[] = {
	[CE_BOOLEAN] = "Boolean",
	[CE_INTEGER] = "Integer",
	[CE_STRING] = "String",
	[CE_BINARY] = "Binary",
	[CE_URI] = "URI",
	[CE_URI_REF] = "URI-reference",
	[CE_TIMESTAMP] = "Timestamp",
};

const char *
ce_type_name(ce_type t)
{
	if (t < CE_BOOLEAN || t > CE_TIMESTAMP)
		return "none";
	return type_names[t];
}

ce_type
ce_type_parse(const char *s, size_t n)
{
	int t;

	for (t = CE_BOOLEAN; t <= CE_TIMESTAMP; t++)
		if (strlen(type_names[t]) == n &&
		    strncmp(type_names[t], s, n) == 0)
			return (ce_type)t;
	return CE_NONE;
}

/* CloudEvents 1.0, "Attribute Naming Convention": [a-z0-9]+. */
bool
ce_name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* Names that are fields of their own, never map entries. */
bool
ce_name_reserved(const char *s)
{
	static const char *const r[] = { "id", "source", "specversion", "type",
		"data" };
	size_t i;

	for (i = 0; i < sizeof(r) / sizeof(r[0]); i++)
		if (strcmp(s, r[i]) == 0)
			return true;
	return false;
}

/*
 * A minimal walk over the wire form, checking every string the
 * CloudEvent schema holds: protobuf-c keeps strings NUL-terminated, so
 * an embedded NUL would be cut off silently, and it does not check
 * UTF-8.  which: 0 event, 1 map entry, 2 attribute value, 3 Any.
 */
static int
check_strings(const uint8_t *p, size_t n, int which, char *err, size_t len)
{
	static const char *const what[] = { "event", "attribute name",
		"attribute value", "type URL" };
	uint64_t key, size;
	unsigned field;
	bool str, sub;
	int r;

	while (n > 0) {
		if ((r = varint_get(p, n, &key)) <= 0)
			return errf(err, len, "protobuf does not parse");
		p += r;
		n -= (size_t)r;
		field = (unsigned)(key >> 3);
		switch (key & 7) {
		case 0:
			if ((r = varint_get(p, n, &size)) <= 0)
				return errf(
				    err, len, "protobuf does not parse");
			p += r;
			n -= (size_t)r;
			continue;
		case 1:
		case 5:
			size = (key & 7) == 1 ? 8 : 4;
			if (n < size)
				return errf(
				    err, len, "protobuf does not parse");
			p += size;
			n -= size;
			continue;
		case 2:
			break;
		default:
			return errf(err, len, "protobuf does not parse");
		}
		if ((r = varint_get(p, n, &size)) <= 0 || n - (size_t)r < size)
			return errf(err, len, "protobuf does not parse");
		p += r;
		n -= (size_t)r;
		str = sub = false;
		switch (which) {
		case 0:
			str = (field >= 1 && field <= 4) ||
			    field == EV_FIELD_TEXT;
			sub = field == EV_FIELD_ATTRS ||
			    field == EV_FIELD_PROTO;
			break;
		case 1:
			str = field == 1;
			sub = field == 2;
			break;
		case 2:
			str = field == 3 || field == 5 || field == 6;
			break;
		case 3:
			str = field == 1;
			break;
		}
		if (str &&
		    (memchr(p, '\0', (size_t)size) != NULL ||
			!utf8_valid((const char *)p, (size_t)size)))
			return errf(err, len, "%s string is not UTF-8 text",
			    what[which]);
		if (sub &&
		    check_strings(p, (size_t)size,
			which == 0 ? (field == EV_FIELD_ATTRS ? 1 : 3) : 2, err,
			len) < 0)
			return -1;
		p += size;
		n -= (size_t)size;
	}
	return 0;
}

/* Required attributes, attribute names and values (CloudEvents 1.0). */
int
ce_check(const CloudEvent *ev, char *err, size_t len)
{
	const CEValue *v;
	size_t i;

	if (*ev->spec_version == '\0')
		return errf(err, len, "missing required attribute specversion");
	if (strcmp(ev->spec_version, CE_SPECVERSION) != 0)
		return errf(err, len,
		    "specversion %s is not supported (1.0 is)",
		    ev->spec_version);
	if (*ev->id == '\0')
		return errf(err, len, "missing required attribute id");
	if (*ev->source == '\0')
		return errf(err, len, "missing required attribute source");
	if (*ev->type == '\0')
		return errf(err, len, "missing required attribute type");
	for (i = 0; i < ev->n_attributes; i++) {
		const char *name = ev->attributes[i]->key;

		if (!ce_name_ok(name))
			return errf(
			    err, len, "bad attribute name \"%.64s\"", name);
		if (ce_name_reserved(name))
			return errf(err, len,
			    "attribute %s is not an extension attribute", name);
		v = ev->attributes[i]->value;
		if (v == NULL || v->attr_case == CE_NONE)
			return errf(
			    err, len, "attribute %s has no value", name);
		if (v->attr_case == CE_TIMESTAMP) {
			if (v->ce_timestamp == NULL)
				return errf(err, len,
				    "attribute %s has no value", name);
			if (v->ce_timestamp->nanos < 0 ||
			    v->ce_timestamp->nanos > 999999999 ||
			    v->ce_timestamp->seconds < -62135596800LL ||
			    v->ce_timestamp->seconds > 253402300799LL)
				return errf(err, len,
				    "attribute %s: timestamp out of range",
				    name);
		}
	}
	if (ev->data_case == CE_DATA_PROTO && ev->proto_data == NULL)
		return errf(err, len, "proto_data has no value");
	return 0;
}

/*
 * Unpack and check one record's body.  Returns NULL with a reason in
 * err when it is not a valid CloudEvent.
 */
CloudEvent *
ce_unpack(struct arena *a, const uint8_t *p, size_t n, char *err, size_t len)
{
	CloudEvent *ev;

	if (check_strings(p, n, 0, err, len) < 0)
		return NULL;
	ev = io__cloudevents__v1__cloud_event__unpack(&a->pb, n, p);
	if (ev == NULL) {
		errf(err, len, "not a CloudEvent (protobuf does not parse)");
		return NULL;
	}
	if (ce_check(ev, err, len) < 0)
		return NULL;
	return ev;
}

CloudEvent *
ce_new(struct arena *a, const char *id, const char *source, const char *type)
{
	CloudEvent *ev = arena_alloc(a, sizeof(*ev));

	io__cloudevents__v1__cloud_event__init(ev);
	ev->id = arena_strdup(a, id);
	ev->source = arena_strdup(a, source);
	ev->type = arena_strdup(a, type);
	ev->spec_version = (char *)CE_SPECVERSION;
	return ev;
}

/*
 * The envelope for a message received from a service: the message in
 * proto_data under its real type URL, and the time it was received.
 */
CloudEvent *
ce_from_message(struct arena *a, const ProtobufCMessage *msg, const char *id,
    const char *source, const char *type)
{
	CloudEvent *ev = ce_new(a, id, source, type);
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ce_put_time(a, ev, "time", now.tv_sec, (int32_t)now.tv_nsec);
	ce_set_proto(a, ev, msg);
	return ev;
}

/* The last entry wins, as for any protobuf map. */
static CEAttr *
find(const CloudEvent *ev, const char *name)
{
	size_t i = ev->n_attributes;

	while (i-- > 0)
		if (strcmp(ev->attributes[i]->key, name) == 0)
			return ev->attributes[i];
	return NULL;
}

const CEValue *
ce_get(const CloudEvent *ev, const char *name)
{
	CEAttr *e = find(ev, name);

	return e != NULL ? e->value : NULL;
}

/* The value of a String, URI or URI-reference attribute, or NULL. */
const char *
ce_get_string(const CloudEvent *ev, const char *name)
{
	const CEValue *v = ce_get(ev, name);

	if (v == NULL)
		return NULL;
	switch (v->attr_case) {
	case CE_STRING:
		return v->ce_string;
	case CE_URI:
		return v->ce_uri;
	case CE_URI_REF:
		return v->ce_uri_ref;
	default:
		return NULL;
	}
}

static CEValue *new_value(struct arena *, CEAttr *, ce_type);

/* Add or replace attribute name; the caller fills in the value. */
CEValue *
ce_put(struct arena *a, CloudEvent *ev, const char *name, ce_type t)
{
	CEAttr *e = find(ev, name);

	if (e == NULL)
		return ce_append(a, ev, name, t);
	return new_value(a, e, t);
}

/*
 * A new attribute whose name the event does not have yet (the caller
 * knows: no lookup).  The array grows geometrically in the arena, so
 * that n appends cost O(n) time and memory (issue 19: one copy per
 * attribute made 40000 of them take 6 GB).
 */
CEValue *
ce_append(struct arena *a, CloudEvent *ev, const char *name, ce_type t)
{
	size_t n = ev->n_attributes, cap;
	CEAttr *e, **attrs;

	if (ev->attributes == NULL || ev->attributes != a->grown ||
	    ev != a->grown_owner || n == a->grown_cap) {
		cap = n < 4 ? 8 : 2 * n;
		attrs = arena_alloc(a, cap * sizeof(*attrs));
		if (n > 0)
			memcpy(attrs, ev->attributes, n * sizeof(*attrs));
		ev->attributes = attrs;
		a->grown = attrs;
		a->grown_owner = ev;
		a->grown_cap = cap;
	}
	e = arena_alloc(a, sizeof(*e));
	io__cloudevents__v1__cloud_event__attributes_entry__init(e);
	e->key = arena_strdup(a, name);
	ev->attributes[ev->n_attributes++] = e;
	return new_value(a, e, t);
}

static CEValue *
new_value(struct arena *a, CEAttr *e, ce_type t)
{
	CEValue *v;

	v = arena_alloc(a, sizeof(*v));
	io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init(v);
	v->attr_case = t;
	e->value = v;
	return v;
}

void
ce_put_string(struct arena *a, CloudEvent *ev, const char *name, const char *s)
{
	ce_put(a, ev, name, CE_STRING)->ce_string = arena_strdup(a, s);
}

void
ce_put_uri(struct arena *a, CloudEvent *ev, const char *name, const char *s)
{
	ce_put(a, ev, name, CE_URI)->ce_uri = arena_strdup(a, s);
}

void
ce_put_uri_ref(struct arena *a, CloudEvent *ev, const char *name, const char *s)
{
	ce_put(a, ev, name, CE_URI_REF)->ce_uri_ref = arena_strdup(a, s);
}

void
ce_put_bool(struct arena *a, CloudEvent *ev, const char *name, bool b)
{
	ce_put(a, ev, name, CE_BOOLEAN)->ce_boolean = b;
}

void
ce_put_int(struct arena *a, CloudEvent *ev, const char *name, int32_t i)
{
	ce_put(a, ev, name, CE_INTEGER)->ce_integer = i;
}

void
ce_put_bytes(
    struct arena *a, CloudEvent *ev, const char *name, const void *p, size_t n)
{
	CEValue *v = ce_put(a, ev, name, CE_BINARY);

	v->ce_bytes.data = arena_memdup(a, p, n);
	v->ce_bytes.len = n;
}

void
ce_put_time(struct arena *a, CloudEvent *ev, const char *name, int64_t seconds,
    int32_t nanos)
{
	Google__Protobuf__Timestamp *ts = arena_alloc(a, sizeof(*ts));

	google__protobuf__timestamp__init(ts);
	ts->seconds = seconds;
	ts->nanos = nanos;
	ce_put(a, ev, name, CE_TIMESTAMP)->ce_timestamp = ts;
}

/* Remove every entry named name; returns whether there was one. */
bool
ce_del(CloudEvent *ev, const char *name)
{
	size_t i, n;
	bool found = false;

	for (i = n = 0; i < ev->n_attributes; i++) {
		if (strcmp(ev->attributes[i]->key, name) == 0)
			found = true;
		else
			ev->attributes[n++] = ev->attributes[i];
	}
	ev->n_attributes = n;
	return found;
}

void
ce_set_text(struct arena *a, CloudEvent *ev, const char *s)
{
	ev->data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_TEXT_DATA;
	ev->text_data = arena_strdup(a, s);
}

void
ce_set_binary(struct arena *a, CloudEvent *ev, const void *p, size_t n)
{
	ev->data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_BINARY_DATA;
	ev->binary_data.data = arena_memdup(a, p, n);
	ev->binary_data.len = n;
}

static void
set_any(struct arena *a, CloudEvent *ev, char *type_url, uint8_t *p, size_t n)
{
	Google__Protobuf__Any *any = arena_alloc(a, sizeof(*any));

	google__protobuf__any__init(any);
	any->type_url = type_url;
	any->value.data = p;
	any->value.len = n;
	ev->data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA;
	ev->proto_data = any;
}

void
ce_set_proto_raw(struct arena *a, CloudEvent *ev, const char *type_url,
    const void *p, size_t n)
{
	set_any(a, ev, arena_strdup(a, type_url), arena_memdup(a, p, n), n);
}

/* msg into proto_data as a google.protobuf.Any with its real type URL. */
void
ce_set_proto(struct arena *a, CloudEvent *ev, const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	const char *name = msg->descriptor->name;
	size_t plen = strlen(CE_TYPE_URL_PREFIX), nlen = strlen(name);
	char *url = arena_alloc(a, plen + nlen + 1);
	uint8_t *p = arena_alloc(a, n);

	memcpy(url, CE_TYPE_URL_PREFIX, plen);
	memcpy(url + plen, name, nlen + 1);
	protobuf_c_message_pack(msg, p);
	set_any(a, ev, url, p, n);
}
