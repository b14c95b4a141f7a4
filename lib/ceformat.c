#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "ceformat.h"
#include "errf.h"
#include "jsonraw.h"
#include "rfc3339.h"
#include "xalloc.h"

enum piece_kind {
	P_TEXT,
	P_ID,
	P_SOURCE,
	P_SPECVERSION,
	P_TYPE,
	P_ATTR,
	P_DATA
};

struct piece {
	enum piece_kind kind;
	char *s; /* P_TEXT: the text; P_ATTR: the name */
	size_t len;
};

struct ceformat {
	struct piece *p;
	size_t n;
};

/* Longest first, so that %datacontenttype is not %data. */
static const struct {
	const char *name;
	enum piece_kind kind;
} words[] = {
	{ "datacontenttype", P_ATTR },
	{ "specversion", P_SPECVERSION },
	{ "dataschema", P_ATTR },
	{ "subject", P_ATTR },
	{ "source", P_SOURCE },
	{ "data", P_DATA },
	{ "time", P_ATTR },
	{ "type", P_TYPE },
	{ "id", P_ID },
};

static void
add(struct ceformat *f, enum piece_kind k, const char *s, size_t len)
{
	if (k == P_TEXT && f->n > 0 && f->p[f->n - 1].kind == P_TEXT) {
		struct piece *last = &f->p[f->n - 1];

		last->s = xrealloc(last->s, last->len + len + 1);
		memcpy(last->s + last->len, s, len);
		last->len += len;
		last->s[last->len] = '\0';
		return;
	}
	f->p = xrealloc(f->p, (f->n + 1) * sizeof(*f->p));
	f->p[f->n].kind = k;
	f->p[f->n].s = xstrndup(s, len);
	f->p[f->n].len = len;
	f->n++;
}

struct ceformat *
ceformat_compile(const char *t, char *err, size_t errlen)
{
	struct ceformat *f = xcalloc(1, sizeof(*f));
	const char *s = t, *end;
	size_t i, n;
	char c;

	while (*s != '\0') {
		if (*s == '\\') {
			switch (s[1]) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'r':
				c = '\r';
				break;
			case '\\':
				c = '\\';
				break;
			default:
				errf(err, errlen,
				    "column %zu: unknown escape \\%c "
				    "(\\n \\t \\r \\\\ are known)",
				    (size_t)(s - t) + 1,
				    s[1] != '\0' ? s[1] : ' ');
				goto fail;
			}
			add(f, P_TEXT, &c, 1);
			s += 2;
			continue;
		}
		if (*s != '%') {
			n = strcspn(s, "%\\");
			add(f, P_TEXT, s, n);
			s += n;
			continue;
		}
		if (s[1] == '%') {
			add(f, P_TEXT, "%", 1);
			s += 2;
			continue;
		}
		if (s[1] == '{') {
			end = strchr(s + 2, '}');
			n = end != NULL ? (size_t)(end - s - 2) : 0;
			if (end == NULL || n == 0 ||
			    strspn(s + 2,
				"abcdefghijklmnopqrstuvwxyz0123456789") != n) {
				errf(err, errlen,
				    "column %zu: %%{name} needs an attribute "
				    "name (a-z, 0-9)",
				    (size_t)(s - t) + 1);
				goto fail;
			}
			for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
				if (strlen(words[i].name) == n &&
				    memcmp(words[i].name, s + 2, n) == 0)
					break;
			if (i < sizeof(words) / sizeof(words[0]))
				add(f, words[i].kind, s + 2, n);
			else
				add(f, P_ATTR, s + 2, n);
			s = end + 1;
			continue;
		}
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strncmp(s + 1, words[i].name,
				strlen(words[i].name)) == 0)
				break;
		if (i == sizeof(words) / sizeof(words[0])) {
			errf(err, errlen,
			    "column %zu: unknown %%-escape (%%id %%source "
			    "%%type %%time %%subject %%datacontenttype "
			    "%%dataschema %%specversion %%data %%{name} %%%%)",
			    (size_t)(s - t) + 1);
			goto fail;
		}
		add(f, words[i].kind, words[i].name, strlen(words[i].name));
		s += 1 + strlen(words[i].name);
	}
	return f;
fail:
	ceformat_free(f);
	return NULL;
}

void
ceformat_free(struct ceformat *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		free(f->p[i].s);
	free(f->p);
	free(f);
}

static void
put_b64(struct strbuf *o, const uint8_t *p, size_t n)
{
	strbuf_grow(o, BASE64_LEN(n));
	o->len += base64_encode(o->p + o->len, p, n);
}

static int
put_attr(struct strbuf *o, const CEValue *v)
{
	char ts[RFC3339_MAX];

	switch ((int)v->attr_case) {
	case CE_BOOLEAN:
		strbuf_adds(o, v->ce_boolean ? "true" : "false");
		break;
	case CE_INTEGER:
		strbuf_addf(o, "%" PRId32, v->ce_integer);
		break;
	case CE_STRING:
		strbuf_adds(o, v->ce_string);
		break;
	case CE_URI:
		strbuf_adds(o, v->ce_uri);
		break;
	case CE_URI_REF:
		strbuf_adds(o, v->ce_uri_ref);
		break;
	case CE_BINARY:
		put_b64(o, v->ce_bytes.data, v->ce_bytes.len);
		break;
	case CE_TIMESTAMP:
		if (rfc3339_format(ts, v->ce_timestamp->seconds,
			v->ce_timestamp->nanos) >= 0)
			strbuf_adds(o, ts);
		break;
	default:
		break;
	}
	return 0;
}

/*
 * The data as text: text as it is, binary in base64, protobuf as the
 * form asks (the data member of the JSON form: decoded or base64).
 */
static int
put_data(struct strbuf *o, struct ce_json *cj, const CloudEvent *ev, char *err,
    size_t errlen)
{
	struct strbuf line = { 0 };
	struct arena a;
	const struct jv *v, *d;
	int r = 0;

	switch ((int)ev->data_case) {
	case CE_DATA_TEXT:
		strbuf_adds(o, ev->text_data);
		return 0;
	case CE_DATA_BINARY:
		put_b64(o, ev->binary_data.data, ev->binary_data.len);
		return 0;
	case CE_DATA_PROTO:
		if (cj->form == CE_FORM_BASE64 || cj->form == CE_FORM_PROTO) {
			put_b64(o, ev->proto_data->value.data,
			    ev->proto_data->value.len);
			return 0;
		}
		break;
	default:
		return 0;
	}
	/* decoded: take the data member of the event's JSON form */
	arena_init(&a);
	if ((r = ce_json_write(cj, ev, &line, err, errlen)) == 0 &&
	    (v = jv_parse(&a, line.p, line.len, err, errlen)) != NULL) {
		if ((d = jv_member(v, "data")) != NULL &&
		    cj->form == CE_FORM_TEXT && d->kind == JV_STRING)
			strbuf_add(o, d->str, d->len); /* the text format */
		else if (d != NULL)
			strbuf_add(o, d->raw, d->rawlen); /* JSON */
		else if ((d = jv_member(v, "data_base64")) != NULL)
			strbuf_add(o, d->str, d->len);
	}
	arena_free(&a);
	strbuf_free(&line);
	return r;
}

int
ceformat_expand(const struct ceformat *f, struct ce_json *cj,
    const CloudEvent *ev, struct strbuf *o, char *err, size_t errlen)
{
	const CEValue *v;
	size_t i;

	for (i = 0; i < f->n; i++) {
		switch (f->p[i].kind) {
		case P_TEXT:
			strbuf_add(o, f->p[i].s, f->p[i].len);
			break;
		case P_ID:
			strbuf_adds(o, ev->id);
			break;
		case P_SOURCE:
			strbuf_adds(o, ev->source);
			break;
		case P_SPECVERSION:
			strbuf_adds(o, ev->spec_version);
			break;
		case P_TYPE:
			strbuf_adds(o, ev->type);
			break;
		case P_ATTR:
			if ((v = ce_get(ev, f->p[i].s)) != NULL)
				put_attr(o, v);
			else if (ev->data_case == CE_DATA_PROTO &&
			    strcmp(f->p[i].s, "datacontenttype") == 0)
				strbuf_adds(
				    o, CE_PROTOBUF); /* as in the JSON */
			else if (ev->data_case == CE_DATA_PROTO &&
			    strcmp(f->p[i].s, "dataschema") == 0)
				strbuf_adds(o,
				    ce_schema_of_url(&cj->scratch,
					ev->proto_data->type_url));
			break;
		case P_DATA:
			if (put_data(o, cj, ev, err, errlen) < 0)
				return -1;
			break;
		}
	}
	arena_reset(&cj->scratch);
	return 0;
}
