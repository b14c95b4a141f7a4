#include "config.h"

#include <errno.h>
#include <inttypes.h>
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
#include "pbjson.h"
#include "rfc3339.h"
#include "utf8.h"

#define MAX_HINTS 64

/* How the data of an event is held, as evpipetypes "data=..." says. */
enum data_hint {
	DH_NONE,
	DH_TEXT, /* data is text though datacontenttype says JSON */
	DH_BINARY, /* data_base64 is binary_data though it looks protobuf */
	DH_PROTO, /* data (decoded) or data_base64 is proto_data */
	DH_PROTOTEXT, /* data is the text format of proto_data: a view */
	DH_ANY, /* data_base64 is the whole google.protobuf.Any */
};

static const char *const data_hint_names[] = { "", "text", "binary", "proto",
	"prototext", "any" };

struct hint {
	const char *name;
	size_t len;
	ce_type type; /* CE_NONE for data=... */
	enum data_hint data;
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
 * CloudEvents JSON format 3.1.1: data is JSON when the media type,
 * without parameters, has the subtype json or a +json suffix; an absent
 * datacontenttype means application/json.
 */
bool
ce_json_media_type(const char *ct)
{
	const char *slash;
	size_t n;

	if (ct == NULL)
		return true;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	slash = memchr(ct, '/', n);
	if (slash == NULL || slash == ct)
		return false;
	return (ct + n - slash == 5 &&
		   strncasecmp(slash + 1, "json", 4) == 0) ||
	    (n >= 5 && ct + n - slash > 5 &&
		strncasecmp(ct + n - 5, "+json", 5) == 0);
}

/* Whether a media type, without parameters, is application/protobuf. */
static bool
protobuf_media_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	return n == strlen(CE_PROTOBUF) && strncasecmp(ct, CE_PROTOBUF, n) == 0;
}

/*
 * google.protobuf.Any: "If no scheme is provided, https is assumed",
 * and dataschema must be an absolute URI.  So a type URL without a
 * scheme, or with https, gets "https://" in front; one with another
 * scheme is the dataschema as it is.  Taking "https://" off again
 * inverts it.
 */
static bool
has_scheme(const char *s)
{
	const char *p = s;

	if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
		return false;
	while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
	    (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

char *
ce_schema_of_url(struct arena *a, const char *url)
{
	size_t n = strlen(url);
	char *s;

	if (has_scheme(url) && strncmp(url, "https:", 6) != 0)
		return arena_strdup(a, url);
	s = arena_alloc(a, n + 9);
	memcpy(s, "https://", 8);
	memcpy(s + 8, url, n + 1);
	return s;
}

const char *
ce_url_of_schema(const char *schema)
{
	return strncmp(schema, "https://", 8) == 0 ? schema + 8 : schema;
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

static const char *
json_kind(ce_type t)
{
	if (t == CE_BOOLEAN)
		return "boolean";
	if (t == CE_INTEGER)
		return "number";
	return "string";
}

void
ce_json_init(struct ce_json *cj, enum ce_data_form form, struct pbpool *types)
{
	memset(cj, 0, sizeof(*cj));
	cj->form = form;
	cj->types = types;
	arena_init(&cj->scratch);
}

void
ce_json_free(struct ce_json *cj)
{
	if (cj->own_types)
		pbpool_free(cj->types);
	arena_free(&cj->scratch);
	strbuf_free(&cj->tmp);
}

static struct pbpool *
types(struct ce_json *cj)
{
	if (cj->types == NULL) {
		cj->types = pbpool_new();
		pbpool_add_builtin(cj->types);
		cj->own_types = true;
	}
	return cj->types;
}

static bool
any_unknown(const ProtobufCMessage *m)
{
	return m != NULL && m->n_unknown_fields > 0;
}

bool
ce_has_unknown(const CloudEvent *ev)
{
	size_t i;

	if (any_unknown(&ev->base) ||
	    (ev->data_case == CE_DATA_PROTO &&
		any_unknown(&ev->proto_data->base)))
		return true;
	for (i = 0; i < ev->n_attributes; i++)
		if (any_unknown(&ev->attributes[i]->base) ||
		    any_unknown(&ev->attributes[i]->value->base) ||
		    (ev->attributes[i]->value->attr_case == CE_TIMESTAMP &&
			any_unknown(
			    &ev->attributes[i]->value->ce_timestamp->base)))
			return true;
	return false;
}

/* --- writing ------------------------------------------------------------ */

struct wattr {
	const char *name;
	const CEValue *v; /* NULL: derived, the string value below */
	const char *derived;
	size_t seq;
};

static int
cmp_wattr(const void *a, const void *b)
{
	const struct wattr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c != 0 ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
cmp_seq(const void *a, const void *b)
{
	const struct wattr *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void
put_base64(struct strbuf *o, const uint8_t *p, size_t n)
{
	strbuf_grow(o, BASE64_LEN(n) + 2);
	strbuf_addc(o, '"');
	o->len += base64_encode(o->p + o->len, p, n);
	strbuf_addc(o, '"');
}

static void
hint_add(struct strbuf *h, const char *name, const char *what)
{
	if (h->len > 0)
		strbuf_addc(h, ',');
	strbuf_adds(h, name);
	strbuf_addc(h, '=');
	strbuf_adds(h, what);
}

static int
put_attr(struct strbuf *o, const char *name, const CEValue *v, char *err,
    size_t errlen)
{
	char ts[RFC3339_MAX];

	json_put_string(o, name, strlen(name));
	strbuf_addc(o, ':');
	switch ((int)v->attr_case) {
	case CE_BOOLEAN:
		strbuf_adds(o, v->ce_boolean ? "true" : "false");
		break;
	case CE_INTEGER:
		strbuf_addf(o, "%" PRId32, v->ce_integer);
		break;
	case CE_STRING:
		json_put_string(o, v->ce_string, strlen(v->ce_string));
		break;
	case CE_URI:
		json_put_string(o, v->ce_uri, strlen(v->ce_uri));
		break;
	case CE_URI_REF:
		json_put_string(o, v->ce_uri_ref, strlen(v->ce_uri_ref));
		break;
	case CE_BINARY:
		put_base64(o, v->ce_bytes.data, v->ce_bytes.len);
		break;
	case CE_TIMESTAMP:
		if (rfc3339_format(ts, v->ce_timestamp->seconds,
			v->ce_timestamp->nanos) < 0)
			return errf(err, errlen,
			    "attribute %s: timestamp out of range", name);
		json_put_string(o, ts, strlen(ts));
		break;
	default:
		return errf(err, errlen, "attribute %s has no value", name);
	}
	return 0;
}

/*
 * The record's attributes in their order, each name once (of repeated
 * map keys the last one counts, where it stands).
 */
static struct wattr *
attr_list(const CloudEvent *ev, size_t *np)
{
	struct wattr *w = oom(calloc(ev->n_attributes + 3, sizeof(*w)));
	size_t i, k = 0, n = ev->n_attributes;

	for (i = 0; i < n; i++)
		w[i] = (struct wattr){ ev->attributes[i]->key,
			ev->attributes[i]->value, NULL, i };
	if (n > 1) {
		qsort(w, n, sizeof(*w), cmp_wattr);
		for (i = 0; i + 1 < n; i++)
			if (strcmp(w[i].name, w[i + 1].name) == 0)
				w[i].name = NULL; /* a later one counts */
		for (i = 0; i < n; i++)
			if (w[i].name != NULL)
				w[k++] = w[i];
		n = k;
		qsort(w, n, sizeof(*w), cmp_seq); /* back in record order */
	}
	*np = n;
	return w;
}

static const struct wattr *
attr_find(const struct wattr *w, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(w[i].name, name) == 0)
			return &w[i];
	return NULL;
}

static const char *
attr_string(const struct wattr *a)
{
	if (a == NULL)
		return NULL;
	switch ((int)a->v->attr_case) {
	case CE_STRING:
		return a->v->ce_string;
	case CE_URI:
		return a->v->ce_uri;
	case CE_URI_REF:
		return a->v->ce_uri_ref;
	default:
		return NULL;
	}
}

/*
 * Whether JSON text can be written as the JSON value it is, keeping
 * every byte: one value, nothing around it, no line break in it.
 */
static bool
clean_json(struct ce_json *cj, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || strchr(" \t\r\n", s[0]) != NULL ||
	    strchr(" \t\r\n", s[n - 1]) != NULL || strpbrk(s, "\r\n") != NULL)
		return false;
	return jv_parse(&cj->scratch, s, n, NULL, 0) != NULL;
}

/* The whole Any, serialized, for data=any. */
static void
put_any(struct strbuf *o, const Google__Protobuf__Any *any)
{
	size_t n = protobuf_c_message_get_packed_size(&any->base);
	uint8_t *p = oom(malloc(n + 1));

	protobuf_c_message_pack(&any->base, p);
	put_base64(o, p, n);
	free(p);
}

/*
 * Decode protobuf data into cj->tmp, as the form asks, when its type is
 * known and the JSON form gives back the very bytes.
 */
static bool
decode_proto(struct ce_json *cj, const Google__Protobuf__Any *any)
{
	const struct pbmsg *m;
	char err[128];
	size_t at;

	strbuf_reset(&cj->tmp);
	if ((m = pbpool_by_url(types(cj), any->type_url)) == NULL)
		return false;
	if (pbjson_print_exact(cj->types, m, any->value.data, any->value.len,
		&cj->tmp, &cj->scratch, err, sizeof(err)) < 0)
		return false;
	if (cj->form != CE_FORM_TEXT)
		return true;
	at = cj->tmp.len;
	if (pbtext_print(cj->types, m, any->value.data, any->value.len, true,
		&cj->tmp, err, sizeof(err)) < 0)
		return false;
	memmove(cj->tmp.p, cj->tmp.p + at, cj->tmp.len - at + 1);
	cj->tmp.len -= at;
	return true;
}

int
ce_json_write(struct ce_json *cj, const CloudEvent *ev, struct strbuf *o,
    char *err, size_t errlen)
{
	struct strbuf hints = { 0 };
	struct wattr *w, derived[2];
	const struct wattr *dct, *ds;
	const Google__Protobuf__Any *any = NULL;
	size_t i, n, nd = 0, start = o->len;
	enum data_hint dh = DH_NONE;
	const char *schema = NULL;
	bool decoded = false, derive = false, json_data;
	int r = -1;

	w = attr_list(ev, &n);
	dct = attr_find(w, n, "datacontenttype");
	ds = attr_find(w, n, "dataschema");
	json_data = dct == NULL ||
	    (attr_string(dct) != NULL && ce_json_media_type(attr_string(dct)));
	if (ev->data_case == CE_DATA_PROTO)
		any = ev->proto_data;
	if (any != NULL && cj->form != CE_FORM_PROTO) {
		schema = ce_schema_of_url(&cj->scratch, any->type_url);
		if (ds != NULL &&
		    (attr_string(ds) == NULL ||
			strcmp(attr_string(ds), schema) != 0)) {
			dh = DH_ANY; /* dataschema is not the type */
		} else {
			derive = true;
			decoded = cj->form != CE_FORM_BASE64 && dct == NULL &&
			    decode_proto(cj, any);
			if (decoded)
				dh = cj->form == CE_FORM_TEXT ? DH_PROTOTEXT :
								DH_PROTO;
			else if (dct != NULL &&
			    !protobuf_media_type(attr_string(dct)))
				dh = DH_PROTO;
			if (dct == NULL)
				derived[nd++] = (struct wattr){
					"datacontenttype", NULL,
					!decoded ? CE_PROTOBUF :
					    cj->form == CE_FORM_TEXT ?
						   "text/plain" :
						   "application/json",
					0
				};
			if (ds == NULL)
				derived[nd++] = (struct wattr){ "dataschema",
					NULL, schema, 0 };
		}
	} else if (ev->data_case == CE_DATA_BINARY && dct != NULL &&
	    ds != NULL && protobuf_media_type(attr_string(dct))) {
		dh = DH_BINARY;
	} else if (ev->data_case == CE_DATA_TEXT && json_data &&
	    !clean_json(cj, ev->text_data)) {
		dh = DH_TEXT;
	}

	strbuf_adds(o, "{\"specversion\":");
	json_put_string(o, ev->spec_version, strlen(ev->spec_version));
	strbuf_adds(o, ",\"id\":");
	json_put_string(o, ev->id, strlen(ev->id));
	strbuf_adds(o, ",\"source\":");
	json_put_string(o, ev->source, strlen(ev->source));
	strbuf_adds(o, ",\"type\":");
	json_put_string(o, ev->type, strlen(ev->type));
	for (i = 0; i < n; i++) {
		if (strcmp(w[i].name, CE_HINTS) == 0) {
			errf(err, errlen, "attribute %s is reserved for evcat",
			    CE_HINTS);
			goto out;
		}
		strbuf_addc(o, ',');
		if (put_attr(o, w[i].name, w[i].v, err, errlen) < 0)
			goto out;
		if (w[i].v->attr_case != CE_BOOLEAN &&
		    w[i].v->attr_case != CE_INTEGER &&
		    ((ce_type)w[i].v->attr_case != string_type(w[i].name) ||
			(derive && (&w[i] == dct || &w[i] == ds))))
			hint_add(&hints, w[i].name,
			    ce_type_name((ce_type)w[i].v->attr_case));
	}
	for (i = 0; i < nd; i++) {
		strbuf_addc(o, ',');
		json_put_string(o, derived[i].name, strlen(derived[i].name));
		strbuf_addc(o, ':');
		json_put_string(
		    o, derived[i].derived, strlen(derived[i].derived));
	}
	if (dh != DH_NONE)
		hint_add(&hints, "data", data_hint_names[dh]);
	if (hints.len > 0) {
		strbuf_adds(o, ",\"" CE_HINTS "\":");
		json_put_string(o, hints.p, hints.len);
	}
	switch ((int)ev->data_case) {
	case CE_DATA_BINARY:
		strbuf_adds(o, ",\"data_base64\":");
		put_base64(o, ev->binary_data.data, ev->binary_data.len);
		break;
	case CE_DATA_TEXT:
		strbuf_adds(o, ",\"data\":");
		if (dh == DH_NONE && json_data)
			strbuf_adds(o, ev->text_data);
		else
			json_put_string(
			    o, ev->text_data, strlen(ev->text_data));
		break;
	case CE_DATA_PROTO:
		if (cj->form == CE_FORM_PROTO) {
			strbuf_adds(o, ",\"data_proto\":{\"type_url\":");
			json_put_string(
			    o, any->type_url, strlen(any->type_url));
			strbuf_adds(o, ",\"value\":");
			put_base64(o, any->value.data, any->value.len);
			strbuf_addc(o, '}');
		} else if (dh == DH_ANY) {
			strbuf_adds(o, ",\"data_base64\":");
			put_any(o, any);
		} else if (decoded && dh == DH_PROTO) {
			strbuf_adds(o, ",\"data\":");
			strbuf_add(o, cj->tmp.p, cj->tmp.len);
		} else if (decoded) {
			strbuf_adds(o, ",\"data\":");
			json_put_string(o, cj->tmp.p, cj->tmp.len);
		} else {
			strbuf_adds(o, ",\"data_base64\":");
			put_base64(o, any->value.data, any->value.len);
		}
		break;
	default:
		break;
	}
	strbuf_addc(o, '}');
	r = 0;
out:
	if (r < 0) {
		o->len = start;
		if (o->p != NULL)
			o->p[start] = '\0';
	}
	arena_reset(&cj->scratch);
	strbuf_free(&hints);
	free(w);
	return r;
}

/* --- reading ------------------------------------------------------------ */

static int
parse_hints(
    const struct jv *obj, struct hint *h, size_t *nh, char *err, size_t errlen)
{
	const struct jv *item = jv_member(obj, CE_HINTS);
	const char *s, *eq, *comma;
	size_t n = 0, k;

	*nh = 0;
	if (item == NULL || item->kind == JV_NULL)
		return 0;
	if (item->kind != JV_STRING)
		return errf(err, errlen, "%s must be a string", CE_HINTS);
	for (s = item->str; *s != '\0'; s = comma + (*comma != '\0')) {
		comma = s + strcspn(s, ",");
		eq = memchr(s, '=', (size_t)(comma - s));
		if (eq == NULL || eq == s || n == MAX_HINTS)
			return errf(err, errlen, "bad %s \"%.100s\"", CE_HINTS,
			    item->str);
		h[n] = (struct hint){ s, (size_t)(eq - s), CE_NONE, DH_NONE,
			false };
		if (h[n].len == 4 && memcmp(s, "data", 4) == 0) {
			for (k = 1; k < sizeof(data_hint_names) /
				 sizeof(data_hint_names[0]);
			     k++)
				if (strlen(data_hint_names[k]) ==
					(size_t)(comma - eq - 1) &&
				    memcmp(eq + 1, data_hint_names[k],
					(size_t)(comma - eq - 1)) == 0)
					h[n].data = (enum data_hint)k;
			if (h[n].data == DH_NONE)
				return errf(err, errlen,
				    "%s: unknown data=\"%.*s\"", CE_HINTS,
				    (int)(comma - eq - 1), eq + 1);
		} else if ((h[n].type = ce_type_parse(
				eq + 1, (size_t)(comma - eq - 1))) == CE_NONE) {
			return errf(err, errlen, "%s: unknown type \"%.*s\"",
			    CE_HINTS, (int)(comma - eq - 1), eq + 1);
		}
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
required(struct arena *a, const struct jv *obj, const char *name, char **out,
    char *err, size_t errlen)
{
	const struct jv *item = jv_member(obj, name);

	if (item == NULL || item->kind == JV_NULL ||
	    (item->kind == JV_STRING && item->len == 0))
		return errf(err, errlen, "missing required attribute %s", name);
	if (item->kind != JV_STRING)
		return errf(err, errlen, "attribute %s must be a string", name);
	*out = arena_strdup(a, item->str);
	return 0;
}

static int
decode_b64(struct arena *a, const struct jv *v, ProtobufCBinaryData *out)
{
	ssize_t r;

	out->data = arena_alloc(a, BASE64_DECODED_MAX(v->len) + 1);
	if ((r = base64_decode(out->data, v->str, v->len)) < 0)
		return -1;
	out->len = (size_t)r;
	return 0;
}

/* A 32-bit integer from the number's text, never through rounding. */
static int
int32_of(const struct jv *v, int32_t *out)
{
	char buf[64], *end;
	long long ll;
	double d;

	if (v->rawlen >= sizeof(buf))
		return -1;
	memcpy(buf, v->raw, v->rawlen);
	buf[v->rawlen] = '\0';
	errno = 0;
	if (strpbrk(buf, ".eE") == NULL) {
		ll = strtoll(buf, &end, 10);
		if (errno != 0 || ll < INT32_MIN || ll > INT32_MAX)
			return -1;
		*out = (int32_t)ll;
		return 0;
	}
	d = strtod(buf, &end);
	if (d != floor(d) || d < INT32_MIN || d > INT32_MAX)
		return -1;
	*out = (int32_t)d;
	return 0;
}

static int
attribute(struct arena *a, CloudEvent *ev, const struct jv *item,
    struct hint *h, size_t nh, char *err, size_t errlen)
{
	const char *name = item->key;
	struct hint *hint = hint_for(h, nh, name);
	ce_type t;
	CEValue *v;
	int32_t i32;

	if (hint != NULL && hint->type == CE_NONE)
		return errf(
		    err, errlen, "%s: data=... names an attribute", CE_HINTS);
	if (item->kind == JV_TRUE || item->kind == JV_FALSE)
		t = CE_BOOLEAN;
	else if (item->kind == JV_NUMBER)
		t = CE_INTEGER;
	else if (item->kind == JV_STRING)
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
	if (item->kind == JV_STRING && memchr(item->str, 0, item->len) != NULL)
		return errf(err, errlen, "attribute %s: NUL in a string", name);
	if (t == CE_INTEGER && int32_of(item, &i32) < 0)
		return errf(err, errlen,
		    "attribute %s: %.*s is not a 32-bit integer", name,
		    (int)(item->rawlen > 40 ? 40 : item->rawlen), item->raw);
	/* Names are unique (duplicate_member): no lookup per attribute. */
	v = ce_append(a, ev, name, t);
	switch (t) {
	case CE_BOOLEAN:
		v->ce_boolean = item->kind == JV_TRUE;
		break;
	case CE_INTEGER:
		v->ce_integer = i32;
		break;
	case CE_STRING:
		v->ce_string = arena_strdup(a, item->str);
		break;
	case CE_URI:
		v->ce_uri = arena_strdup(a, item->str);
		break;
	case CE_URI_REF:
		v->ce_uri_ref = arena_strdup(a, item->str);
		break;
	case CE_BINARY:
		if (decode_b64(a, item, &v->ce_bytes) < 0)
			return errf(
			    err, errlen, "attribute %s: bad base64", name);
		break;
	case CE_TIMESTAMP:
		v->ce_timestamp = arena_alloc(a, sizeof(*v->ce_timestamp));
		google__protobuf__timestamp__init(v->ce_timestamp);
		if (rfc3339_parse(item->str, &v->ce_timestamp->seconds,
			&v->ce_timestamp->nanos) < 0)
			return errf(err, errlen,
			    "attribute %s: \"%.40s\" is not an RFC 3339 "
			    "timestamp",
			    name, item->str);
		break;
	default:
		break;
	}
	return 0;
}

/* The string value of an attribute already read, or NULL. */
static const char *
read_string(const CloudEvent *ev, const char *name)
{
	const CEValue *v = ce_get(ev, name);

	if (v == NULL)
		return NULL;
	switch ((int)v->attr_case) {
	case CE_STRING:
		return v->ce_string;
	case CE_URI:
		return v->ce_uri;
	case CE_URI_REF:
		return v->ce_uri_ref;
	default:
		return "";
	}
}

static int
proto_data(struct ce_json *cj, struct arena *a, CloudEvent *ev,
    const struct jv *data, const struct jv *b64, struct hint *h, size_t nh,
    char *err, size_t errlen)
{
	const char *schema = read_string(ev, "dataschema"), *url;
	const struct pbmsg *m;
	ProtobufCBinaryData bin;

	if (schema == NULL || *schema == '\0')
		return errf(err, errlen, "protobuf data needs dataschema");
	url = ce_url_of_schema(schema);
	if (b64 != NULL) {
		if (b64->kind != JV_STRING || decode_b64(a, b64, &bin) < 0)
			return errf(err, errlen, "data_base64: bad base64");
		ce_set_proto_raw(a, ev, url, NULL, 0);
		ev->proto_data->value = bin;
	} else {
		if ((m = pbpool_by_url(types(cj), url)) == NULL)
			return errf(err, errlen,
			    "data: no type %.100s (add a --protoset?)", url);
		strbuf_reset(&cj->tmp);
		if (pbjson_encode(cj->types, m, data, &cj->tmp, err, errlen) <
		    0) {
			char why[200];

			snprintf(why, sizeof(why), "%s", err);
			return errf(err, errlen, "data: %s", why);
		}
		ce_set_proto_raw(a, ev, url, cj->tmp.p, cj->tmp.len);
	}
	/* derived from the data, unless evpipetypes names them */
	if (hint_for(h, nh, "datacontenttype") == NULL)
		ce_del(ev, "datacontenttype");
	if (hint_for(h, nh, "dataschema") == NULL)
		ce_del(ev, "dataschema");
	return 0;
}

static int
any_data(struct arena *a, CloudEvent *ev, const struct jv *b64, char *err,
    size_t errlen)
{
	ProtobufCBinaryData bin;
	Google__Protobuf__Any *any;

	if (b64 == NULL || b64->kind != JV_STRING ||
	    decode_b64(a, b64, &bin) < 0)
		return errf(err, errlen, "data=any needs data_base64");
	any = google__protobuf__any__unpack(&a->pb, bin.len, bin.data);
	if (any == NULL || any->base.n_unknown_fields > 0 ||
	    !utf8_valid(any->type_url, strlen(any->type_url)))
		return errf(
		    err, errlen, "data_base64: not a google.protobuf.Any");
	ev->data_case = CE_DATA_PROTO;
	ev->proto_data = any;
	return 0;
}

static int
data(struct ce_json *cj, struct arena *a, CloudEvent *ev, const struct jv *obj,
    struct hint *h, size_t nh, char *err, size_t errlen)
{
	const struct jv *text = jv_member(obj, "data");
	const struct jv *b64 = jv_member(obj, "data_base64");
	const struct jv *pd = jv_member(obj, "data_proto");
	const struct jv *url, *val, *m;
	const CEValue *ctv = ce_get(ev, "datacontenttype");
	const char *ct = read_string(ev, "datacontenttype");
	struct hint *hint = hint_for(h, nh, "data");
	enum data_hint dh = hint != NULL ? hint->data : DH_NONE;
	bool json_ct;

	json_ct = ctv == NULL ||
	    ((ctv->attr_case == CE_STRING || ctv->attr_case == CE_URI ||
		 ctv->attr_case == CE_URI_REF) &&
		ce_json_media_type(ct));
	if (b64 != NULL && b64->kind == JV_NULL)
		b64 = NULL;
	if (pd != NULL && pd->kind == JV_NULL)
		pd = NULL;
	if ((text != NULL) + (b64 != NULL) + (pd != NULL) > 1)
		return errf(err, errlen,
		    "only one of data, data_base64 and data_proto may be set");
	if (dh != DH_NONE && pd != NULL)
		return errf(
		    err, errlen, "%s: data=... with data_proto", CE_HINTS);
	switch (dh) {
	case DH_TEXT:
		if (text == NULL || text->kind != JV_STRING)
			return errf(err, errlen,
			    "%s: data=text needs data as a string", CE_HINTS);
		ce_set_text(a, ev, text->str);
		return 0;
	case DH_BINARY:
	case DH_ANY:
		if (b64 == NULL)
			return errf(err, errlen,
			    "%s: data=%s needs data_base64", CE_HINTS,
			    data_hint_names[dh]);
		if (dh == DH_ANY)
			return any_data(a, ev, b64, err, errlen);
		break;
	case DH_PROTO:
		if (text == NULL && b64 == NULL)
			return errf(err, errlen, "%s: data=proto without data",
			    CE_HINTS);
		return proto_data(cj, a, ev, text, b64, h, nh, err, errlen);
	case DH_PROTOTEXT:
		return errf(err, errlen,
		    "data is in the text format, which is only a view: "
		    "write it with --data=json or base64");
	default:
		if (b64 != NULL && protobuf_media_type(ct) &&
		    ce_get(ev, "dataschema") != NULL)
			return proto_data(
			    cj, a, ev, NULL, b64, h, nh, err, errlen);
		break;
	}
	if (text != NULL) {
		if (json_ct) {
			/* JSON data is kept as it was written */
			ce_set_text(a, ev, "");
			ev->text_data = arena_strndup(
			    a, text->raw, text->rawlen);
		} else if (text->kind != JV_STRING) {
			return errf(err, errlen,
			    "data must be a string when it is text "
			    "(datacontenttype)");
		} else {
			ce_set_text(a, ev, text->str);
		}
	} else if (b64 != NULL) {
		if (b64->kind != JV_STRING)
			return errf(
			    err, errlen, "data_base64 must be a string");
		ev->data_case = CE_DATA_BINARY;
		if (decode_b64(a, b64, &ev->binary_data) < 0)
			return errf(err, errlen, "data_base64: bad base64");
	} else if (pd != NULL) {
		url = jv_member(pd, "type_url");
		val = jv_member(pd, "value");
		if (pd->kind != JV_OBJECT || url == NULL ||
		    url->kind != JV_STRING ||
		    (val != NULL && val->kind != JV_STRING))
			return errf(err, errlen,
			    "data_proto must be "
			    "{\"type_url\": string, \"value\": base64 string}");
		for (m = pd->child; m != NULL; m = m->next)
			if (strcmp(m->key, "type_url") != 0 &&
			    strcmp(m->key, "value") != 0)
				return errf(err, errlen,
				    "data_proto: unknown member \"%.40s\"",
				    m->key);
		ce_set_proto_raw(a, ev, url->str, NULL, 0);
		if (val != NULL &&
		    decode_b64(a, val, &ev->proto_data->value) < 0)
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
	return strcmp((*(const struct jv *const *)a)->key,
	    (*(const struct jv *const *)b)->key);
}

/* RFC 8259 leaves repeated names undefined; we refuse them. */
static bool
duplicate_member(const struct jv *obj, char *err, size_t errlen)
{
	const struct jv **v, *item;
	size_t n = 0, i;
	bool dup = false;

	if (obj->n < 2)
		return false;
	v = oom(calloc(obj->n, sizeof(*v)));
	for (item = obj->child; item != NULL; item = item->next)
		v[n++] = item;
	qsort(v, n, sizeof(*v), cmp_member);
	for (i = 1; i < n && !dup; i++)
		if (strcmp(v[i - 1]->key, v[i]->key) == 0) {
			errf(err, errlen, "member \"%.40s\" appears twice",
			    v[i]->key);
			dup = true;
		}
	free(v);
	return dup;
}

CloudEvent *
ce_json_read(struct ce_json *cj, struct arena *a, const struct jv *obj,
    char *err, size_t errlen)
{
	struct hint h[MAX_HINTS];
	const struct jv *item;
	CloudEvent *ev;
	size_t nh, i;

	if (obj->kind != JV_OBJECT) {
		errf(err, errlen, "not a JSON object");
		return NULL;
	}
	if (duplicate_member(obj, err, errlen))
		return NULL;
	if (parse_hints(obj, h, &nh, err, errlen) < 0)
		return NULL;
	ev = ce_new(a, "", "", "");
	item = jv_member(obj, "specversion");
	if (item == NULL || item->kind == JV_NULL) {
		errf(err, errlen, "missing required attribute specversion");
		return NULL;
	}
	if (item->kind != JV_STRING || strcmp(item->str, CE_SPECVERSION) != 0) {
		errf(err, errlen, "specversion must be \"%s\"", CE_SPECVERSION);
		return NULL;
	}
	if (required(a, obj, "id", &ev->id, err, errlen) < 0 ||
	    required(a, obj, "source", &ev->source, err, errlen) < 0 ||
	    required(a, obj, "type", &ev->type, err, errlen) < 0)
		return NULL;
	for (item = obj->child; item != NULL; item = item->next) {
		if (toplevel(item->key) || item->kind == JV_NULL)
			continue;
		if (!ce_name_ok(item->key)) {
			errf(err, errlen, "bad attribute name \"%.40s\"",
			    item->key);
			return NULL;
		}
		if (attribute(a, ev, item, h, nh, err, errlen) < 0)
			return NULL;
	}
	if (data(cj, a, ev, obj, h, nh, err, errlen) < 0)
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
