#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "cejson.h"
#include "errf.h"
#include "exitcode.h"
#include "log.h"
#include "rfc3339.h"
#include "utf8.h"

#define MAX_HINTS 64

struct hint {
	const char *name;
	size_t len;
	ce_type type; /* CE_NONE for "data=text" */
	bool used;
};

static void *
oom(void *p)
{
	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

/*
 * CloudEvents JSON format 3.1: data is JSON for these media types; an
 * absent datacontenttype means application/json.
 */
bool
ce_json_media_type(const char *ct)
{
	size_t n;
	const char *slash;

	if (ct == NULL)
		return true;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if ((n == 16 && strncasecmp(ct, "application/json", n) == 0) ||
	    (n == 9 && strncasecmp(ct, "text/json", n) == 0))
		return true;
	slash = memchr(ct, '/', n);
	return slash != NULL && n >= 5 &&
	    strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* The JSON value an attribute type is written as. */
static const char *
json_kind(ce_type t)
{
	if (t == CE_BOOLEAN)
		return "boolean";
	if (t == CE_INTEGER)
		return "number";
	return "string";
}

/* What an attribute's JSON string means when no hint says otherwise. */
static ce_type
string_type(const char *name)
{
	if (strcmp(name, "time") == 0)
		return CE_TIMESTAMP;
	if (strcmp(name, "dataschema") == 0)
		return CE_URI;
	return CE_STRING;
}

/* An attribute and where it was in the event, to sort by name stably. */
struct ordered {
	const CEAttr *attr;
	size_t at;
};

static int
cmp_attr(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	int c = strcmp(x->attr->key, y->attr->key);

	if (c != 0)
		return c;
	return x->at < y->at ? -1 : x->at > y->at;
}

static void
hint_add(
    char **buf, size_t *len, size_t *cap, const char *name, const char *type)
{
	size_t need = strlen(name) + strlen(type) + 3;

	if (*len + need > *cap) {
		*cap = (*len + need) * 2;
		*buf = oom(realloc(*buf, *cap));
	}
	*len += (size_t)snprintf(*buf + *len, *cap - *len, "%s%s=%s",
	    *len > 0 ? "," : "", name, type);
}

static cJSON *
base64_item(const uint8_t *p, size_t n)
{
	char *s = oom(malloc(BASE64_LEN(n) + 1));
	cJSON *item;

	base64_encode(s, p, n);
	item = oom(cJSON_CreateString(s));
	free(s);
	return item;
}

/* The JSON member for the event's data, or NULL when it has none. */
static cJSON *
data_item(const CloudEvent *ev, const char **member, bool *as_text)
{
	const char *text;
	cJSON *item, *v;
	char *again;
	size_t n;

	*as_text = false;
	switch ((int)ev->data_case) {
	case CE_DATA_BINARY:
		*member = "data_base64";
		return base64_item(ev->binary_data.data, ev->binary_data.len);
	case CE_DATA_PROTO:
		*member = "data_proto";
		item = oom(cJSON_CreateObject());
		oom(cJSON_AddStringToObject(
		    item, "type_url", ev->proto_data->type_url));
		cJSON_AddItemToObject(item, "value",
		    base64_item(
			ev->proto_data->value.data, ev->proto_data->value.len));
		return item;
	case CE_DATA_TEXT:
		*member = "data";
		text = ev->text_data;
		if (ce_json_media_type(ce_get_string(ev, "datacontenttype"))) {
			n = strlen(text);
			v = cJSON_ParseWithLengthOpts(text, n, NULL, 0);
			/* Use the JSON value only if it prints back exactly. */
			if (v != NULL) {
				again = oom(cJSON_PrintUnformatted(v));
				if (strcmp(again, text) == 0) {
					cJSON_free(again);
					return v;
				}
				cJSON_free(again);
				cJSON_Delete(v);
			}
			*as_text = true;
		}
		return oom(cJSON_CreateString(text));
	default:
		return NULL;
	}
}

/*
 * One event as a compact JSON object; NULL (with err) only for an
 * attribute JSON cannot carry.  Free the result with cJSON_free().
 */
char *
ce_to_json(const CloudEvent *ev, char *err, size_t errlen)
{
	cJSON *obj = oom(cJSON_CreateObject()), *data;
	struct ordered *attrs = NULL;
	const CEValue *v;
	char ts[RFC3339_MAX], *hints = NULL, *out = NULL;
	size_t i, n = 0, hlen = 0, hcap = 0;
	const char *member = NULL, *name;
	bool as_text;

	oom(cJSON_AddStringToObject(obj, "specversion", ev->spec_version));
	oom(cJSON_AddStringToObject(obj, "id", ev->id));
	oom(cJSON_AddStringToObject(obj, "source", ev->source));
	oom(cJSON_AddStringToObject(obj, "type", ev->type));

	/* Sorted by name; of repeated map keys the last one counts (a sort,
	 * not a lookup per entry: a record may hold very many). */
	if (ev->n_attributes > 0)
		attrs = oom(calloc(ev->n_attributes, sizeof(*attrs)));
	for (i = 0; i < ev->n_attributes; i++)
		attrs[i] = (struct ordered){ ev->attributes[i], i };
	if (ev->n_attributes > 1)
		qsort(attrs, ev->n_attributes, sizeof(*attrs), cmp_attr);
	for (i = 0; i < ev->n_attributes; i++)
		if (i + 1 == ev->n_attributes ||
		    strcmp(attrs[i].attr->key, attrs[i + 1].attr->key) != 0)
			attrs[n++] = attrs[i];
	for (i = 0; i < n; i++) {
		name = attrs[i].attr->key;
		v = attrs[i].attr->value;
		if (strcmp(name, CE_HINTS) == 0) {
			errf(err, errlen, "attribute %s is reserved for evcat",
			    CE_HINTS);
			goto out;
		}
		switch ((int)v->attr_case) {
		case CE_BOOLEAN:
			oom(cJSON_AddBoolToObject(obj, name, v->ce_boolean));
			break;
		case CE_INTEGER:
			oom(cJSON_AddNumberToObject(obj, name, v->ce_integer));
			break;
		case CE_STRING:
			oom(cJSON_AddStringToObject(obj, name, v->ce_string));
			break;
		case CE_URI:
			oom(cJSON_AddStringToObject(obj, name, v->ce_uri));
			break;
		case CE_URI_REF:
			oom(cJSON_AddStringToObject(obj, name, v->ce_uri_ref));
			break;
		case CE_BINARY:
			cJSON_AddItemToObject(obj, name,
			    base64_item(v->ce_bytes.data, v->ce_bytes.len));
			break;
		case CE_TIMESTAMP:
			if (rfc3339_format(ts, v->ce_timestamp->seconds,
				v->ce_timestamp->nanos) < 0) {
				errf(err, errlen,
				    "attribute %s: timestamp out of range",
				    name);
				goto out;
			}
			oom(cJSON_AddStringToObject(obj, name, ts));
			break;
		default:
			errf(err, errlen, "attribute %s has no value", name);
			goto out;
		}
		if (v->attr_case != CE_BOOLEAN && v->attr_case != CE_INTEGER &&
		    (ce_type)v->attr_case != string_type(name))
			hint_add(&hints, &hlen, &hcap, name,
			    ce_type_name((ce_type)v->attr_case));
	}
	data = data_item(ev, &member, &as_text);
	if (as_text)
		hint_add(&hints, &hlen, &hcap, "data", "text");
	if (hints != NULL)
		oom(cJSON_AddStringToObject(obj, CE_HINTS, hints));
	if (data != NULL)
		cJSON_AddItemToObject(obj, member, data);
	out = oom(cJSON_PrintUnformatted(obj));
out:
	free(hints);
	free(attrs);
	cJSON_Delete(obj);
	return out;
}

/*
 * Parse one line as a JSON value.  JSON text is UTF-8 (RFC 8259).  A NUL
 * is refused, raw (never valid JSON) or as \u0000 in a string, because
 * cJSON strings end at NUL: "a\0b" would become "a" without a word.
 */
cJSON *
json_parse_line(const char *s, size_t n, char *err, size_t errlen)
{
	const char *end = NULL;
	bool in_string = false;
	cJSON *v;
	size_t i;

	if (!utf8_valid(s, n)) {
		errf(err, errlen, "not UTF-8 text");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (s[i] == '"') {
			in_string = !in_string;
		} else if (s[i] == '\0') {
			/* RFC 8259 7: control characters are escaped. */
			errf(err, errlen, "bad JSON at column %zu: a NUL byte",
			    i + 1);
			return NULL;
		} else if (in_string && s[i] == '\\' && i + 1 < n) {
			if (s[i + 1] == 'u' && n - i >= 6 &&
			    memcmp(s + i + 2, "0000", 4) == 0) {
				errf(err, errlen,
				    "\\u0000 in a string is not supported");
				return NULL;
			}
			i++;
		}
	}
	v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	if (v == NULL) {
		end = cJSON_GetErrorPtr();
		if (end != NULL && end >= s && end <= s + n)
			errf(err, errlen, "bad JSON at column %zu",
			    (size_t)(end - s) + 1);
		else
			errf(err, errlen, "bad JSON");
		return NULL;
	}
	while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\r'))
		end++;
	if (end != s + n) {
		errf(err, errlen,
		    "bad JSON at column %zu: text after the value",
		    (size_t)(end - s) + 1);
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

static int
parse_hints(
    const cJSON *obj, struct hint *h, size_t *nh, char *err, size_t errlen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, CE_HINTS);
	const char *s, *eq, *comma;
	size_t n = 0;

	*nh = 0;
	if (item == NULL || cJSON_IsNull(item))
		return 0;
	if (!cJSON_IsString(item))
		return errf(err, errlen, "%s must be a string", CE_HINTS);
	for (s = item->valuestring; *s != '\0'; s = comma + (*comma != '\0')) {
		comma = s + strcspn(s, ",");
		eq = memchr(s, '=', (size_t)(comma - s));
		if (eq == NULL || eq == s || n == MAX_HINTS)
			return errf(err, errlen, "bad %s \"%.100s\"", CE_HINTS,
			    item->valuestring);
		h[n].name = s;
		h[n].len = (size_t)(eq - s);
		h[n].used = false;
		if (h[n].len == 4 && memcmp(s, "data", 4) == 0 &&
		    comma - eq - 1 == 4 && memcmp(eq + 1, "text", 4) == 0)
			h[n].type = CE_NONE;
		else if ((h[n].type = ce_type_parse(
			      eq + 1, (size_t)(comma - eq - 1))) == CE_NONE)
			return errf(err, errlen, "%s: unknown type \"%.*s\"",
			    CE_HINTS, (int)(comma - eq - 1), eq + 1);
		n++;
	}
	*nh = n;
	return 0;
}

static struct hint *
hint_for(struct hint *h, size_t nh, const char *name)
{
	size_t i, n = strlen(name);

	for (i = 0; i < nh; i++)
		if (h[i].len == n && memcmp(h[i].name, name, n) == 0) {
			h[i].used = true;
			return &h[i];
		}
	return NULL;
}

static int
required(struct arena *a, const cJSON *obj, const char *name, char **out,
    char *err, size_t errlen)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (item == NULL || cJSON_IsNull(item) ||
	    (cJSON_IsString(item) && *item->valuestring == '\0'))
		return errf(err, errlen, "missing required attribute %s", name);
	if (!cJSON_IsString(item))
		return errf(err, errlen, "attribute %s must be a string", name);
	*out = arena_strdup(a, item->valuestring);
	return 0;
}

static int
decode_b64(struct arena *a, const char *s, ProtobufCBinaryData *out)
{
	size_t n = strlen(s);
	ssize_t r;

	out->data = arena_alloc(a, BASE64_DECODED_MAX(n) + 1);
	if ((r = base64_decode(out->data, s, n)) < 0)
		return -1;
	out->len = (size_t)r;
	return 0;
}

/* The map entry for one JSON member, whose name is an attribute's. */
static int
attribute(struct arena *a, const cJSON *item, struct hint *h, size_t nh,
    CEAttr **out, char *err, size_t errlen)
{
	const char *name = item->string;
	struct hint *hint = hint_for(h, nh, name);
	ce_type t;
	CEAttr *e;
	CEValue *v;
	double d;

	if (hint != NULL && hint->type == CE_NONE)
		return errf(
		    err, errlen, "%s: data=text names an attribute", CE_HINTS);
	if (cJSON_IsBool(item))
		t = CE_BOOLEAN;
	else if (cJSON_IsNumber(item))
		t = CE_INTEGER;
	else if (cJSON_IsString(item))
		t = string_type(name);
	else
		return errf(err, errlen,
		    "attribute %s: value must be a string, number or boolean",
		    name);
	if (hint != NULL) {
		if ((hint->type == CE_BOOLEAN) != (t == CE_BOOLEAN) ||
		    (hint->type == CE_INTEGER) != (t == CE_INTEGER))
			return errf(err, errlen,
			    "attribute %s: a %s needs a %s", name,
			    ce_type_name(hint->type), json_kind(hint->type));
		t = hint->type;
	}
	e = arena_alloc(a, sizeof(*e));
	io__cloudevents__v1__cloud_event__attributes_entry__init(e);
	e->key = arena_strdup(a, name);
	e->value = v = arena_alloc(a, sizeof(*v));
	io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init(v);
	v->attr_case = t;
	switch (t) {
	case CE_BOOLEAN:
		v->ce_boolean = cJSON_IsTrue(item);
		break;
	case CE_INTEGER:
		d = item->valuedouble;
		if (d != floor(d) || d < INT32_MIN || d > INT32_MAX)
			return errf(err, errlen,
			    "attribute %s: %g is not a 32-bit integer", name,
			    d);
		v->ce_integer = (int32_t)d;
		break;
	case CE_STRING:
		v->ce_string = arena_strdup(a, item->valuestring);
		break;
	case CE_URI:
		v->ce_uri = arena_strdup(a, item->valuestring);
		break;
	case CE_URI_REF:
		v->ce_uri_ref = arena_strdup(a, item->valuestring);
		break;
	case CE_BINARY:
		if (decode_b64(a, item->valuestring, &v->ce_bytes) < 0)
			return errf(
			    err, errlen, "attribute %s: bad base64", name);
		break;
	case CE_TIMESTAMP:
		v->ce_timestamp = arena_alloc(a, sizeof(*v->ce_timestamp));
		google__protobuf__timestamp__init(v->ce_timestamp);
		if (rfc3339_parse(item->valuestring, &v->ce_timestamp->seconds,
			&v->ce_timestamp->nanos) < 0)
			return errf(err, errlen,
			    "attribute %s: \"%.40s\" is not an RFC 3339 "
			    "timestamp",
			    name, item->valuestring);
		break;
	default:
		break;
	}
	*out = e;
	return 0;
}

static int
data(struct arena *a, CloudEvent *ev, const cJSON *obj, struct hint *h,
    size_t nh, char *err, size_t errlen)
{
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(obj, "data");
	const cJSON *b64 = cJSON_GetObjectItemCaseSensitive(obj, "data_base64");
	const cJSON *pd = cJSON_GetObjectItemCaseSensitive(obj, "data_proto");
	const cJSON *url, *val, *m;
	struct hint *hint = hint_for(h, nh, "data");
	char *s;

	if (text != NULL && cJSON_IsNull(text))
		text = NULL;
	if (b64 != NULL && cJSON_IsNull(b64))
		b64 = NULL;
	if (pd != NULL && cJSON_IsNull(pd))
		pd = NULL;
	if ((text != NULL) + (b64 != NULL) + (pd != NULL) > 1)
		return errf(err, errlen,
		    "only one of data, data_base64 and data_proto may be set");
	if (hint != NULL && (hint->type != CE_NONE || text == NULL))
		return errf(
		    err, errlen, "%s: data=text without data", CE_HINTS);
	if (text != NULL) {
		if (hint != NULL ||
		    !ce_json_media_type(ce_get_string(ev, "datacontenttype"))) {
			if (!cJSON_IsString(text))
				return errf(err, errlen,
				    "data must be a string "
				    "when it is text (%s)",
				    hint != NULL ? "evpipetypes says so" :
						   "datacontenttype");
			ce_set_text(a, ev, text->valuestring);
		} else {
			s = oom(cJSON_PrintUnformatted(text));
			ce_set_text(a, ev, s);
			cJSON_free(s);
		}
	} else if (b64 != NULL) {
		if (!cJSON_IsString(b64))
			return errf(
			    err, errlen, "data_base64 must be a string");
		ev->data_case =
		    IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_BINARY_DATA;
		if (decode_b64(a, b64->valuestring, &ev->binary_data) < 0)
			return errf(err, errlen, "data_base64: bad base64");
	} else if (pd != NULL) {
		url = cJSON_GetObjectItemCaseSensitive(pd, "type_url");
		val = cJSON_GetObjectItemCaseSensitive(pd, "value");
		if (!cJSON_IsObject(pd) || !cJSON_IsString(url) ||
		    (val != NULL && !cJSON_IsString(val)))
			return errf(err, errlen,
			    "data_proto must be "
			    "{\"type_url\": string, \"value\": base64 string}");
		cJSON_ArrayForEach(
		    m, pd) if (strcmp(m->string, "type_url") != 0 &&
		    strcmp(m->string, "value") != 0) return errf(err, errlen,
		    "data_proto: unknown member \"%.40s\"", m->string);
		ce_set_proto_raw(a, ev, url->valuestring, NULL, 0);
		if (val != NULL &&
		    decode_b64(a, val->valuestring, &ev->proto_data->value) < 0)
			return errf(err, errlen, "data_proto: bad base64");
	}
	return 0;
}

static bool
toplevel(const char *name)
{
	static const char *const names[] = { "specversion", "id", "source",
		"type", "data", "data_base64", "data_proto", CE_HINTS };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

static int
cmp_member(const void *a, const void *b)
{
	return strcmp((*(const cJSON *const *)a)->string,
	    (*(const cJSON *const *)b)->string);
}

/* RFC 8259 leaves repeated names undefined; we refuse them. */
static bool
duplicate_member(const cJSON *obj, char *err, size_t errlen)
{
	const cJSON **v, *item;
	size_t n = 0, i;
	bool dup = false;

	cJSON_ArrayForEach(item, obj) n++;
	if (n < 2)
		return false;
	v = oom(calloc(n, sizeof(*v)));
	n = 0;
	cJSON_ArrayForEach(item, obj) v[n++] = item;
	qsort(v, n, sizeof(*v), cmp_member);
	for (i = 1; i < n && !dup; i++)
		if (strcmp(v[i - 1]->string, v[i]->string) == 0) {
			errf(err, errlen, "member \"%.40s\" appears twice",
			    v[i]->string);
			dup = true;
		}
	free(v);
	return dup;
}

/* One JSON object as a checked CloudEvent; NULL with err if it is not. */
CloudEvent *
ce_from_json(struct arena *a, const cJSON *obj, char *err, size_t errlen)
{
	struct hint h[MAX_HINTS];
	const cJSON *item;
	CloudEvent *ev;
	size_t nh, i;

	if (!cJSON_IsObject(obj)) {
		errf(err, errlen, "not a JSON object");
		return NULL;
	}
	if (duplicate_member(obj, err, errlen))
		return NULL;
	if (parse_hints(obj, h, &nh, err, errlen) < 0)
		return NULL;
	ev = ce_new(a, "", "", "");
	item = cJSON_GetObjectItemCaseSensitive(obj, "specversion");
	if (item == NULL || cJSON_IsNull(item)) {
		errf(err, errlen, "missing required attribute specversion");
		return NULL;
	}
	if (!cJSON_IsString(item) ||
	    strcmp(item->valuestring, CE_SPECVERSION) != 0) {
		errf(err, errlen, "specversion must be \"%s\"", CE_SPECVERSION);
		return NULL;
	}
	if (required(a, obj, "id", &ev->id, err, errlen) < 0 ||
	    required(a, obj, "source", &ev->source, err, errlen) < 0 ||
	    required(a, obj, "type", &ev->type, err, errlen) < 0)
		return NULL;
	/* Names are unique (duplicate_member): each member is one more
	 * entry, in an array sized once. */
	ev->attributes = arena_alloc(
	    a, (size_t)cJSON_GetArraySize(obj) * sizeof(*ev->attributes));
	cJSON_ArrayForEach(item, obj)
	{
		if (toplevel(item->string) || cJSON_IsNull(item))
			continue;
		if (!ce_name_ok(item->string)) {
			errf(err, errlen, "bad attribute name \"%.40s\"",
			    item->string);
			return NULL;
		}
		if (attribute(a, item, h, nh, &ev->attributes[ev->n_attributes],
			err, errlen) < 0)
			return NULL;
		ev->n_attributes++;
	}
	if (data(a, ev, obj, h, nh, err, errlen) < 0)
		return NULL;
	for (i = 0; i < nh; i++)
		if (!h[i].used) {
			errf(err, errlen, "%s names %.*s, which is not set",
			    CE_HINTS, (int)h[i].len, h[i].name);
			return NULL;
		}
	if (ce_check(ev, err, errlen) < 0)
		return NULL;
	return ev;
}
