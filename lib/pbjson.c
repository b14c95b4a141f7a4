#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base64.h"
#include "errf.h"
#include "pbjson.h"
#include "rfc3339.h"
#include "textformat.h"
#include "utf8.h"
#include "varint.h"

#define MAX_DEPTH 100

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* --- the wire ----------------------------------------------------------- */

struct wfield {
	uint32_t number;
	int wt;
	uint64_t v; /* WT_VARINT, WT_I64, WT_I32 */
	const uint8_t *p; /* WT_LEN */
	size_t n;
};

struct rd {
	const uint8_t *p, *end;
};

/* 1 and the next field in w, 0 at the end, -1 when the bytes are bad. */
static int
next_field(struct rd *r, struct wfield *w)
{
	uint64_t key, len;
	int k;

	if (r->p == r->end)
		return 0;
	if ((k = varint_get(r->p, (size_t)(r->end - r->p), &key)) <= 0)
		return -1;
	r->p += k;
	if (key >> 3 == 0 || key >> 3 > 536870911)
		return -1;
	w->number = (uint32_t)(key >> 3);
	w->wt = (int)(key & 7);
	switch (w->wt) {
	case WT_VARINT:
		if ((k = varint_get(r->p, (size_t)(r->end - r->p), &w->v)) <= 0)
			return -1;
		r->p += k;
		return 1;
	case WT_I64:
		if (r->end - r->p < 8)
			return -1;
		memcpy(
		    &w->v, r->p, 8); /* protobuf is little-endian, so are we */
		r->p += 8;
		return 1;
	case WT_I32:
		if (r->end - r->p < 4)
			return -1;
		w->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 |
		    (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
		r->p += 4;
		return 1;
	case WT_LEN:
		if ((k = varint_get(r->p, (size_t)(r->end - r->p), &len)) <=
			0 ||
		    len > (uint64_t)(r->end - r->p - k))
			return -1;
		w->p = r->p + k;
		w->n = (size_t)len;
		r->p += k + (size_t)len;
		return 1;
	default:
		return -1; /* groups are not supported */
	}
}

static int
wire_type(enum pbtype t)
{
	switch (t) {
	case PB_DOUBLE:
	case PB_FIXED64:
	case PB_SFIXED64:
		return WT_I64;
	case PB_FLOAT:
	case PB_FIXED32:
	case PB_SFIXED32:
		return WT_I32;
	case PB_STRING:
	case PB_BYTES:
	case PB_MESSAGE:
	case PB_GROUP:
		return WT_LEN;
	default:
		return WT_VARINT;
	}
}

/* One element of a packed run; -1 when the run is bad. */
static int
packed_next(enum pbtype t, struct rd *r, uint64_t *v)
{
	int k;

	switch (wire_type(t)) {
	case WT_I64:
		if (r->end - r->p < 8)
			return -1;
		memcpy(v, r->p, 8);
		r->p += 8;
		return 0;
	case WT_I32:
		if (r->end - r->p < 4)
			return -1;
		*v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 |
		    (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
		r->p += 4;
		return 0;
	default:
		if ((k = varint_get(r->p, (size_t)(r->end - r->p), v)) <= 0)
			return -1;
		r->p += k;
		return 0;
	}
}

/*
 * The elements one occurrence of a field on the wire holds: each
 * scalar of a packed run, or the occurrence itself (PROTOBUF-ENCODING:
 * a repeated scalar comes packed or not, and a parser takes both).
 * elems_next puts the next in *e (a packed element with the scalar's
 * wire type): 1, 0 at the end, -1 (why says it) on a bad packed run or
 * a wire type the field cannot have.
 */
struct elems {
	const struct pbfield *f;
	const struct wfield *w;
	struct rd r;
	bool packed, done;
	const char *why;
};

static void
elems_init(struct elems *it, const struct pbfield *f, const struct wfield *w)
{
	*it = (struct elems){ .f = f, .w = w };
	it->packed = w->wt == WT_LEN && f->repeated &&
	    wire_type(f->type) != WT_LEN;
	if (it->packed)
		it->r = (struct rd){ w->p, w->p + w->n };
}

static int
elems_next(struct elems *it, struct wfield *e)
{
	if (it->packed) {
		if (it->r.p >= it->r.end)
			return 0;
		*e = (struct wfield){ .number = it->w->number,
			.wt = wire_type(it->f->type) };
		if (packed_next(it->f->type, &it->r, &e->v) < 0) {
			it->why = "bad packed run";
			return -1;
		}
		return 1;
	}
	if (it->done)
		return 0;
	if (it->w->wt != wire_type(it->f->type)) {
		it->why = "wrong wire type";
		return -1;
	}
	it->done = true;
	*e = *it->w;
	return 1;
}

static bool
is_map(const struct pbfield *f)
{
	return f->repeated && f->type == PB_MESSAGE && f->msg != NULL &&
	    f->msg->map_entry;
}

static int64_t
unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static float
as_float(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static double
as_double(uint64_t v)
{
	double d;

	memcpy(&d, &v, 8);
	return d;
}

/* The shortest %g that reads back to the same value. */
static void
put_double(struct strbuf *o, double d, bool single)
{
	char buf[40];
	int p;

	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*g", p, d);
		if (single ? (float)strtod(buf, NULL) == (float)d :
			     strtod(buf, NULL) == d)
			break;
	}
	strbuf_adds(o, buf);
}

static const char *
enum_name(const struct pbenum *e, int32_t n)
{
	size_t i;

	for (i = 0; e != NULL && i < e->nvalues; i++)
		if (e->vnum[i] == n)
			return e->vname[i];
	return NULL;
}

/* --- wire to JSON ------------------------------------------------------- */

struct pj {
	struct pbpool *pool;
	struct strbuf *o;
	char *err;
	size_t errlen;
	int depth;
};

static int pj_message(
    struct pj *, const struct pbmsg *, const uint8_t *, size_t);

static int
pj_scalar(struct pj *j, const struct pbfield *f, uint64_t v)
{
	const char *name;
	double d;

	switch (f->type) {
	case PB_INT32:
	case PB_SFIXED32:
		strbuf_addf(j->o, "%" PRId32, (int32_t)v);
		break;
	case PB_SINT32:
		strbuf_addf(j->o, "%" PRId32, (int32_t)unzigzag((uint32_t)v));
		break;
	case PB_UINT32:
	case PB_FIXED32:
		strbuf_addf(j->o, "%" PRIu32, (uint32_t)v);
		break;
	case PB_INT64:
	case PB_SFIXED64:
		strbuf_addf(j->o, "\"%" PRId64 "\"", (int64_t)v);
		break;
	case PB_SINT64:
		strbuf_addf(j->o, "\"%" PRId64 "\"", unzigzag(v));
		break;
	case PB_UINT64:
	case PB_FIXED64:
		strbuf_addf(j->o, "\"%" PRIu64 "\"", v);
		break;
	case PB_BOOL:
		strbuf_adds(j->o, v != 0 ? "true" : "false");
		break;
	case PB_ENUM:
		if (f->en != NULL && f->en->null_value)
			strbuf_adds(j->o, "null");
		else if ((name = enum_name(f->en, (int32_t)v)) != NULL)
			json_put_string(j->o, name, strlen(name));
		else
			strbuf_addf(j->o, "%" PRId32, (int32_t)v);
		break;
	case PB_FLOAT:
	case PB_DOUBLE:
		d = f->type == PB_FLOAT ? as_float(v) : as_double(v);
		if (isnan(d))
			strbuf_adds(j->o, "\"NaN\"");
		else if (isinf(d))
			strbuf_adds(
			    j->o, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		else
			put_double(j->o, d, f->type == PB_FLOAT);
		break;
	default:
		return errf(j->err, j->errlen, "field %s: bad type", f->name);
	}
	return 0;
}

static int
pj_len(struct pj *j, const struct pbfield *f, const uint8_t *p, size_t n)
{
	char *b64;

	switch (f->type) {
	case PB_STRING:
		if (!utf8_valid((const char *)p, n) || memchr(p, 0, n) != NULL)
			return errf(j->err, j->errlen,
			    "field %s: not UTF-8 text", f->name);
		json_put_string(j->o, (const char *)p, n);
		return 0;
	case PB_BYTES:
		strbuf_grow(j->o, BASE64_LEN(n) + 2);
		strbuf_addc(j->o, '"');
		b64 = j->o->p + j->o->len;
		j->o->len += base64_encode(b64, p, n);
		strbuf_addc(j->o, '"');
		return 0;
	case PB_MESSAGE:
		if (f->msg == NULL)
			return errf(j->err, j->errlen,
			    "field %s: type not found", f->name);
		return pj_message(j, f->msg, p, n);
	default:
		return errf(
		    j->err, j->errlen, "field %s: bad wire type", f->name);
	}
}

/* The value a field holds when it is not on the wire. */
static int
pj_default(struct pj *j, const struct pbfield *f)
{
	if (f->type == PB_STRING || f->type == PB_BYTES) {
		strbuf_adds(j->o, "\"\"");
		return 0;
	}
	if (f->type == PB_MESSAGE)
		return pj_len(j, f, NULL, 0);
	return pj_scalar(j, f, 0);
}

/* One occurrence of a field on the wire: its element(s), comma-led. */
static int
pj_elements(
    struct pj *j, const struct pbfield *f, const struct wfield *w, bool *first)
{
	struct elems it;
	struct wfield e;
	int r;

	elems_init(&it, f, w);
	while ((r = elems_next(&it, &e)) > 0) {
		if (!*first)
			strbuf_addc(j->o, ',');
		*first = false;
		if ((e.wt == WT_LEN ? pj_len(j, f, e.p, e.n) :
				      pj_scalar(j, f, e.v)) < 0)
			return -1;
	}
	if (r < 0)
		return errf(j->err, j->errlen, "field %s: %s", f->name, it.why);
	return 0;
}

/* A map entry as "key":value. */
static int
pj_entry(
    struct pj *j, const struct pbfield *f, const struct wfield *w, bool *first)
{
	const struct pbmsg *e = f->msg;
	const struct pbfield *kf = pbmsg_field(e, 1), *vf = pbmsg_field(e, 2);
	struct rd r = { w->p, w->p + w->n };
	struct wfield kw = { 0 }, vw = { 0 }, x;
	bool hk = false, hv = false, one = true;
	size_t at;
	int k;

	if (kf == NULL || vf == NULL || w->wt != WT_LEN)
		return errf(j->err, j->errlen, "field %s: bad map", f->name);
	while ((k = next_field(&r, &x)) > 0) {
		if (x.number == 1 && !hk && !hv)
			kw = x, hk = true;
		else if (x.number == 2 && !hv)
			vw = x, hv = true;
		else
			return errf(j->err, j->errlen,
			    "field %s: odd map entry", f->name);
	}
	if (k < 0)
		return errf(
		    j->err, j->errlen, "field %s: bad map entry", f->name);
	if (!*first)
		strbuf_addc(j->o, ',');
	*first = false;
	if (kf->type == PB_STRING) {
		if (!hk)
			strbuf_adds(j->o, "\"\"");
		else if (pj_elements(j, kf, &kw, &one) < 0)
			return -1;
	} else {
		strbuf_addc(j->o, '"');
		at = j->o->len;
		if (!hk ? pj_default(j, kf) < 0 :
			  pj_elements(j, kf, &kw, &one) < 0)
			return -1;
		/* int64 keys came quoted already */
		if (j->o->p[at] == '"') {
			memmove(
			    j->o->p + at, j->o->p + at + 1, j->o->len - at - 1);
			j->o->len -= 2;
		}
		strbuf_addc(j->o, '"');
	}
	strbuf_addc(j->o, ':');
	one = true;
	return hv ? pj_elements(j, vf, &vw, &one) : pj_default(j, vf);
}

/*
 * The fields of a message, in number order: as an object, or (bare, for
 * the well-known types that are one field) the one field's value.
 */
static int
pj_fields(
    struct pj *j, const struct pbmsg *m, const uint8_t *p, size_t n, bool bare)
{
	struct rd r = { p, p + n };
	const struct pbfield *f = NULL, *prev = NULL;
	struct wfield w;
	bool first = true, firstel = true;
	uint64_t oneofs = 0;
	int k;

	if (!bare)
		strbuf_addc(j->o, '{');
	while ((k = next_field(&r, &w)) > 0) {
		if ((f = pbmsg_field(m, w.number)) == NULL)
			return errf(j->err, j->errlen,
			    "%s: unknown field %" PRIu32, m->name, w.number);
		if (prev != NULL && f->number < prev->number)
			return errf(j->err, j->errlen,
			    "%s: fields out of order", m->name);
		if (f == prev && !f->repeated)
			return errf(j->err, j->errlen, "%s: field %s twice",
			    m->name, f->name);
		if (f != prev) {
			if (prev != NULL && prev->repeated)
				strbuf_addc(j->o, is_map(prev) ? '}' : ']');
			if (bare && prev != NULL)
				return errf(j->err, j->errlen,
				    "%s: more than one field", m->name);
			if (f->oneof >= 0 && f->oneof < 64) {
				if (oneofs & (uint64_t)1 << f->oneof)
					return errf(j->err, j->errlen,
					    "%s: two members of a oneof",
					    m->name);
				oneofs |= (uint64_t)1 << f->oneof;
			}
			if (!bare) {
				if (!first)
					strbuf_addc(j->o, ',');
				json_put_string(
				    j->o, f->json_name, strlen(f->json_name));
				strbuf_addc(j->o, ':');
			}
			first = false;
			if (f->repeated)
				strbuf_addc(j->o, is_map(f) ? '{' : '[');
			firstel = true;
			prev = f;
		}
		if (is_map(f) ? pj_entry(j, f, &w, &firstel) < 0 :
				pj_elements(j, f, &w, &firstel) < 0)
			return -1;
	}
	if (k < 0)
		return errf(j->err, j->errlen, "%s: bad wire format", m->name);
	if (prev != NULL && prev->repeated)
		strbuf_addc(j->o, is_map(prev) ? '}' : ']');
	if (!bare)
		strbuf_addc(j->o, '}');
	else if (prev == NULL)
		return 1; /* nothing: the caller knows the default */
	return 0;
}

/* 0, 3, 6 or 9 fraction digits, as the mapping writes them. */
static void
put_nanos(struct strbuf *o, int32_t nanos)
{
	if (nanos == 0)
		return;
	if (nanos % 1000000 == 0)
		strbuf_addf(o, ".%03" PRId32, nanos / 1000000);
	else if (nanos % 1000 == 0)
		strbuf_addf(o, ".%06" PRId32, nanos / 1000);
	else
		strbuf_addf(o, ".%09" PRId32, nanos);
}

/* seconds (field 1) and nanos (field 2) of a Timestamp or Duration. */
static int
sec_nanos(const uint8_t *p, size_t n, int64_t *sec, int32_t *nanos)
{
	struct rd r = { p, p + n };
	struct wfield w;
	uint32_t last = 0;
	int k;

	*sec = 0;
	*nanos = 0;
	while ((k = next_field(&r, &w)) > 0) {
		if (w.wt != WT_VARINT || w.number <= last || w.number > 2)
			return -1;
		last = w.number;
		if (w.number == 1)
			*sec = (int64_t)w.v;
		else
			*nanos = (int32_t)w.v;
	}
	return k;
}

#define TS_MIN -62135596800LL /* 0001-01-01T00:00:00Z */
#define TS_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define DUR_MAX 315576000000LL

static int
pj_timestamp(struct pj *j, const uint8_t *p, size_t n)
{
	int64_t sec;
	int32_t nanos;
	struct tm tm;
	time_t t;

	if (sec_nanos(p, n, &sec, &nanos) < 0 || sec < TS_MIN || sec > TS_MAX ||
	    nanos < 0 || nanos > 999999999)
		return errf(j->err, j->errlen, "Timestamp out of range");
	t = (time_t)sec;
	gmtime_r(&t, &tm);
	strbuf_addf(j->o, "\"%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	put_nanos(j->o, nanos);
	strbuf_adds(j->o, "Z\"");
	return 0;
}

static int
pj_duration(struct pj *j, const uint8_t *p, size_t n)
{
	int64_t sec;
	int32_t nanos;

	if (sec_nanos(p, n, &sec, &nanos) < 0 || sec < -DUR_MAX ||
	    sec > DUR_MAX || nanos < -999999999 || nanos > 999999999 ||
	    (sec < 0 && nanos > 0) || (sec > 0 && nanos < 0))
		return errf(j->err, j->errlen, "Duration out of range");
	strbuf_addf(j->o, "\"%s%" PRId64, sec < 0 || nanos < 0 ? "-" : "",
	    sec < 0 ? -sec : sec);
	put_nanos(j->o, nanos < 0 ? -nanos : nanos);
	strbuf_adds(j->o, "s\"");
	return 0;
}

/* snake_case paths as lowerCamelCase, when that reads back the same. */
static int
pj_fieldmask(struct pj *j, const uint8_t *p, size_t n)
{
	struct rd r = { p, p + n };
	struct wfield w;
	bool first = true;
	size_t i;
	int k;

	strbuf_addc(j->o, '"');
	while ((k = next_field(&r, &w)) > 0) {
		if (w.number != 1 || w.wt != WT_LEN)
			return errf(j->err, j->errlen, "bad FieldMask");
		if (!first)
			strbuf_addc(j->o, ',');
		first = false;
		for (i = 0; i < w.n; i++) {
			if (w.p[i] == '_' && i + 1 < w.n && w.p[i + 1] >= 'a' &&
			    w.p[i + 1] <= 'z') {
				strbuf_addc(j->o, (char)(w.p[++i] - 'a' + 'A'));
			} else if (w.p[i] == '_' || w.p[i] == ',' ||
			    w.p[i] == '"' || w.p[i] == '\\' || w.p[i] < 0x20 ||
			    w.p[i] >= 0x7f ||
			    (w.p[i] >= 'A' && w.p[i] <= 'Z')) {
				return errf(j->err, j->errlen,
				    "FieldMask path has no JSON form");
			} else {
				strbuf_addc(j->o, (char)w.p[i]);
			}
		}
	}
	if (k < 0)
		return errf(j->err, j->errlen, "bad FieldMask");
	strbuf_addc(j->o, '"');
	return 0;
}

static int
pj_any(struct pj *j, const uint8_t *p, size_t n)
{
	struct rd r = { p, p + n };
	struct wfield w, url = { 0 }, val = { 0 };
	const struct pbmsg *t;
	char *u;
	size_t at;
	int k;

	while ((k = next_field(&r, &w)) > 0) {
		if (w.wt != WT_LEN || (w.number != 1 && w.number != 2) ||
		    w.number <= url.number || w.number <= val.number)
			return errf(j->err, j->errlen, "bad Any");
		if (w.number == 1)
			url = w;
		else
			val = w;
	}
	if (k < 0 || url.number == 0)
		return errf(j->err, j->errlen, "bad Any");
	u = strndup((const char *)url.p, url.n);
	t = u != NULL && strlen(u) == url.n ? pbpool_by_url(j->pool, u) : NULL;
	free(u);
	if (t == NULL)
		return errf(j->err, j->errlen, "Any: unknown type %.*s",
		    (int)(url.n > 200 ? 200 : url.n), (const char *)url.p);
	strbuf_adds(j->o, "{\"@type\":");
	if (pj_len(j,
		&(struct pbfield){ .name = "type_url", .type = PB_STRING },
		url.p, url.n) < 0)
		return -1;
	if (t->wkt != WKT_NONE) {
		strbuf_adds(j->o, ",\"value\":");
		if (pj_message(j, t, val.p, val.n) < 0)
			return -1;
		strbuf_addc(j->o, '}');
		return 0;
	}
	at = j->o->len;
	if (pj_message(j, t, val.p, val.n) < 0)
		return -1;
	if (j->o->len - at == 2) { /* {} */
		j->o->len = at;
		strbuf_addc(j->o, '}');
	} else {
		j->o->p[at] = ',';
	}
	return 0;
}

static int
pj_message(struct pj *j, const struct pbmsg *m, const uint8_t *p, size_t n)
{
	int r;

	if (p == NULL)
		p = (const uint8_t *)""; /* an absent message: no bytes */
	if (++j->depth > MAX_DEPTH)
		return errf(j->err, j->errlen, "nested too deeply");
	switch (m->wkt) {
	case WKT_ANY:
		r = pj_any(j, p, n);
		break;
	case WKT_TIMESTAMP:
		r = pj_timestamp(j, p, n);
		break;
	case WKT_DURATION:
		r = pj_duration(j, p, n);
		break;
	case WKT_FIELDMASK:
		r = pj_fieldmask(j, p, n);
		break;
	case WKT_STRUCT:
	case WKT_LISTVALUE:
		/* the map or the list, empty when absent */
		if ((r = pj_fields(j, m, p, n, true)) == 1) {
			strbuf_adds(j->o, m->wkt == WKT_STRUCT ? "{}" : "[]");
			r = 0;
		}
		break;
	case WKT_VALUE:
		/* JSON numbers are finite: a NaN has no Value form */
		if (n == 9 && p[0] == (2 << 3 | WT_I64) &&
		    !isfinite(as_double((uint64_t)p[1] | (uint64_t)p[2] << 8 |
			(uint64_t)p[3] << 16 | (uint64_t)p[4] << 24 |
			(uint64_t)p[5] << 32 | (uint64_t)p[6] << 40 |
			(uint64_t)p[7] << 48 | (uint64_t)p[8] << 56)))
			r = errf(j->err, j->errlen, "Value: number not finite");
		else if ((r = pj_fields(j, m, p, n, true)) == 1)
			r = errf(j->err, j->errlen, "Value with no kind");
		break;
	case WKT_WRAPPER:
		if ((r = pj_fields(j, m, p, n, true)) == 1)
			r = m->nfields > 0 ? pj_default(j, &m->fields[0]) : 0;
		break;
	default:
		r = pj_fields(j, m, p, n, false);
		break;
	}
	j->depth--;
	return r;
}

int
pbjson_print(struct pbpool *pool, const struct pbmsg *m, const uint8_t *p,
    size_t n, struct strbuf *o, char *err, size_t errlen)
{
	struct pj j = { pool, o, err, errlen, 0 };
	size_t at = o->len;

	if (pj_message(&j, m, p, n) < 0) {
		o->len = at;
		if (o->p != NULL)
			o->p[at] = '\0';
		return -1;
	}
	return 0;
}

/* --- JSON to wire ------------------------------------------------------- */

struct pe {
	struct pbpool *pool;
	char *err;
	size_t errlen;
	int depth;
};

static void
put_varint(struct strbuf *o, uint64_t v)
{
	uint8_t b[VARINT_MAX];

	strbuf_add(o, b, varint_put(b, v));
}

static void
put_key(struct strbuf *o, uint32_t number, int wt)
{
	put_varint(o, (uint64_t)number << 3 | (unsigned)wt);
}

static void
put_fixed(struct strbuf *o, uint64_t v, int n)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	strbuf_add(o, b, (size_t)n);
}

/* Give the bytes written since at their length prefix. */
static void
len_end(struct strbuf *o, size_t at)
{
	uint8_t b[VARINT_MAX];

	strbuf_insert(o, at, b, varint_put(b, o->len - at));
}

static const char *
kind_name(const struct jv *v)
{
	static const char *const k[] = { "null", "false", "true", "a number",
		"a string", "an array", "an object" };

	return k[v->kind];
}

static int
pe_bad(
    struct pe *e, const struct pbfield *f, const struct jv *v, const char *want)
{
	return errf(e->err, e->errlen, "field %s: %s where %s belongs", f->name,
	    kind_name(v), want);
}

/* The text of a JSON number, or of a string holding one. */
static const char *
number_text(const struct jv *v, char *buf, size_t len)
{
	size_t n = v->kind == JV_NUMBER ? v->rawlen : v->len;

	if ((v->kind != JV_NUMBER && v->kind != JV_STRING) || n == 0 ||
	    n >= len)
		return NULL;
	memcpy(buf, v->kind == JV_NUMBER ? v->raw : v->str, n);
	buf[n] = '\0';
	if (v->kind == JV_STRING) { /* as strict as a JSON number */
		struct arena a;
		struct jv *x;

		arena_init(&a);
		x = jv_parse(&a, buf, n, NULL, 0);
		n = x != NULL && x->kind == JV_NUMBER && buf[0] != ' ' &&
		    buf[n - 1] != ' ';
		arena_free(&a);
		if (!n)
			return NULL;
	}
	return buf;
}

/* An integer in [lo, hi] (signed) or [0, hi] (unsigned). */
static int
pe_int(struct pe *e, const struct pbfield *f, const struct jv *v, bool sign,
    int64_t lo, uint64_t hi, uint64_t *out)
{
	char buf[400], *end;
	const char *s = number_text(v, buf, sizeof(buf));
	long long ll;
	unsigned long long ull;
	double d;

	if (s == NULL)
		return pe_bad(e, f, v, "an integer");
	errno = 0;
	if (strpbrk(s, ".eE") == NULL) {
		if (sign) {
			ll = strtoll(s, &end, 10);
			if (errno != 0 || ll < lo ||
			    (ll > 0 && (uint64_t)ll > hi))
				goto range;
			*out = (uint64_t)ll;
		} else {
			if (*s == '-')
				goto range;
			ull = strtoull(s, &end, 10);
			if (errno != 0 || ull > hi)
				goto range;
			*out = ull;
		}
		return 0;
	}
	d = strtod(s, &end);
	if (d != floor(d) || !isfinite(d))
		return errf(e->err, e->errlen, "field %s: %s is not an integer",
		    f->name, s);
	if (sign ? (d < (double)lo || d >= 9223372036854775808.0 ||
		       (d > 0 && (uint64_t)d > hi)) :
		   (d < 0 || d >= 18446744073709551616.0 || (uint64_t)d > hi))
		goto range;
	*out = sign ? (uint64_t)(int64_t)d : (uint64_t)d;
	return 0;
range:
	return errf(
	    e->err, e->errlen, "field %s: %s is out of range", f->name, s);
}

static int
pe_float(struct pe *e, const struct pbfield *f, const struct jv *v, double *out)
{
	char buf[400];
	const char *s;

	if (v->kind == JV_STRING && strcmp(v->str, "NaN") == 0) {
		*out = NAN;
		return 0;
	}
	if (v->kind == JV_STRING && strcmp(v->str, "Infinity") == 0) {
		*out = INFINITY;
		return 0;
	}
	if (v->kind == JV_STRING && strcmp(v->str, "-Infinity") == 0) {
		*out = -INFINITY;
		return 0;
	}
	if ((s = number_text(v, buf, sizeof(buf))) == NULL)
		return pe_bad(e, f, v, "a number");
	*out = strtod(s, NULL);
	if (!isfinite(*out) ||
	    (f->type == PB_FLOAT && fabs(*out) > 3.4028234663852886e38))
		return errf(e->err, e->errlen, "field %s: %s is out of range",
		    f->name, s);
	return 0;
}

/* base64, standard or URL-safe, padded or not (the mapping's rule). */
static int
pe_bytes(struct pe *e, const struct pbfield *f, const struct jv *v,
    struct strbuf *o, bool *def)
{
	uint8_t *b;
	char *s;
	size_t i;
	ssize_t n;

	if (v->kind != JV_STRING)
		return pe_bad(e, f, v, "a base64 string");
	if ((s = strdup(v->str)) == NULL ||
	    (b = malloc(BASE64_DECODED_MAX(v->len) + 1)) == NULL) {
		free(s);
		return errf(e->err, e->errlen, "out of memory");
	}
	for (i = 0; s[i] != '\0'; i++)
		s[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	n = base64_decode(b, s, v->len);
	free(s);
	if (n >= 0) {
		put_varint(o, (uint64_t)n);
		strbuf_add(o, b, (size_t)n);
	}
	free(b);
	if (n < 0)
		return errf(e->err, e->errlen, "field %s: bad base64", f->name);
	*def = n == 0;
	return 0;
}

static int pe_message(
    struct pe *, const struct pbmsg *, const struct jv *, struct strbuf *);

/*
 * One value of field f, without its key (for packed runs) or with it;
 * *def says whether it is the type's default (not written unless the
 * field has presence).
 */
static int
pe_value(struct pe *e, const struct pbfield *f, const struct jv *v,
    struct strbuf *o, bool *def)
{
	uint64_t u = 0;
	uint32_t bits;
	double d;
	float fl;
	size_t at, i;

	*def = false;
	switch (f->type) {
	case PB_INT32:
	case PB_SFIXED32:
	case PB_SINT32:
		if (pe_int(e, f, v, true, INT32_MIN, INT32_MAX, &u) < 0)
			return -1;
		*def = u == 0;
		if (f->type == PB_INT32)
			put_varint(o, u);
		else if (f->type == PB_SINT32)
			put_varint(o,
			    (uint32_t)((uint32_t)(int32_t)u << 1 ^
				(uint32_t)((int32_t)u >> 31)));
		else
			put_fixed(o, u, 4);
		return 0;
	case PB_INT64:
	case PB_SFIXED64:
	case PB_SINT64:
		if (pe_int(e, f, v, true, INT64_MIN, INT64_MAX, &u) < 0)
			return -1;
		*def = u == 0;
		if (f->type == PB_INT64)
			put_varint(o, u);
		else if (f->type == PB_SINT64)
			put_varint(o, u << 1 ^ (uint64_t)((int64_t)u >> 63));
		else
			put_fixed(o, u, 8);
		return 0;
	case PB_UINT32:
	case PB_FIXED32:
		if (pe_int(e, f, v, false, 0, UINT32_MAX, &u) < 0)
			return -1;
		*def = u == 0;
		if (f->type == PB_UINT32)
			put_varint(o, u);
		else
			put_fixed(o, u, 4);
		return 0;
	case PB_UINT64:
	case PB_FIXED64:
		if (pe_int(e, f, v, false, 0, UINT64_MAX, &u) < 0)
			return -1;
		*def = u == 0;
		if (f->type == PB_UINT64)
			put_varint(o, u);
		else
			put_fixed(o, u, 8);
		return 0;
	case PB_BOOL:
		if (v->kind != JV_TRUE && v->kind != JV_FALSE)
			return pe_bad(e, f, v, "true or false");
		*def = v->kind == JV_FALSE;
		put_varint(o, v->kind == JV_TRUE);
		return 0;
	case PB_FLOAT:
		if (pe_float(e, f, v, &d) < 0)
			return -1;
		fl = (float)d;
		memcpy(&bits, &fl, 4);
		*def = bits == 0;
		put_fixed(o, bits, 4);
		return 0;
	case PB_DOUBLE:
		if (pe_float(e, f, v, &d) < 0)
			return -1;
		memcpy(&u, &d, 8);
		*def = u == 0;
		put_fixed(o, u, 8);
		return 0;
	case PB_ENUM:
		if (v->kind == JV_NULL && f->en != NULL && f->en->null_value) {
			*def = true;
			put_varint(o, 0);
			return 0;
		}
		if (v->kind == JV_STRING && f->en != NULL) {
			for (i = 0; i < f->en->nvalues; i++)
				if (strcmp(f->en->vname[i], v->str) == 0)
					break;
			if (i == f->en->nvalues)
				return errf(e->err, e->errlen,
				    "field %s: no value %.60s in %s", f->name,
				    v->str, f->en->name);
			u = (uint64_t)(int64_t)f->en->vnum[i];
		} else if (v->kind == JV_NUMBER) {
			if (pe_int(e, f, v, true, INT32_MIN, INT32_MAX, &u) < 0)
				return -1;
			u = (uint64_t)(int64_t)(int32_t)u;
		} else {
			return pe_bad(e, f, v, "an enum name");
		}
		*def = u == 0;
		put_varint(o, u);
		return 0;
	case PB_STRING:
		if (v->kind != JV_STRING)
			return pe_bad(e, f, v, "a string");
		*def = v->len == 0;
		put_varint(o, v->len);
		strbuf_add(o, v->str, v->len);
		return 0;
	case PB_BYTES:
		return pe_bytes(e, f, v, o, def);
	case PB_MESSAGE:
		if (f->msg == NULL)
			return errf(e->err, e->errlen,
			    "field %s: type not found", f->name);
		at = o->len;
		if (pe_message(e, f->msg, v, o) < 0)
			return -1;
		len_end(o, at);
		return 0;
	default:
		return errf(e->err, e->errlen,
		    "field %s: groups are not "
		    "supported",
		    f->name);
	}
}

/* A map key, from a JSON member name. */
static int
pe_map_key(struct pe *e, const struct pbfield *kf, const struct jv *m,
    struct strbuf *o)
{
	struct jv k = { .kind = JV_STRING, .str = m->key, .len = m->keylen };
	bool def;

	if (kf->type == PB_BOOL) {
		if (strcmp(m->key, "true") == 0)
			k.kind = JV_TRUE;
		else if (strcmp(m->key, "false") == 0)
			k.kind = JV_FALSE;
		else
			return errf(e->err, e->errlen,
			    "field %s: map key \"%.40s\" is not a bool",
			    kf->name, m->key);
	}
	put_key(o, 1, wire_type(kf->type));
	return pe_value(e, kf, &k, o, &def);
}

static bool
is_null_ok(const struct pbfield *f)
{
	return (f->type == PB_MESSAGE && f->msg != NULL &&
		   f->msg->wkt == WKT_VALUE) ||
	    (f->type == PB_ENUM && f->en != NULL && f->en->null_value);
}

static int
pe_field(
    struct pe *e, const struct pbfield *f, const struct jv *v, struct strbuf *o)
{
	const struct pbfield *kf, *vf;
	const struct jv *m;
	size_t at, start;
	bool def;

	if (v->kind == JV_NULL && (f->repeated || !is_null_ok(f)))
		return 0; /* null is the same as absent */
	if (is_map(f)) {
		kf = pbmsg_field(f->msg, 1);
		vf = pbmsg_field(f->msg, 2);
		if (kf == NULL || vf == NULL)
			return errf(
			    e->err, e->errlen, "field %s: bad map", f->name);
		if (v->kind != JV_OBJECT)
			return pe_bad(e, f, v, "an object");
		/* key and value both, as protobuf's runtimes write them */
		for (m = v->child; m != NULL; m = m->next) {
			if (m->kind == JV_NULL && !is_null_ok(vf))
				return errf(e->err, e->errlen,
				    "field %s: null in a map", f->name);
			put_key(o, f->number, WT_LEN);
			at = o->len;
			if (pe_map_key(e, kf, m, o) < 0)
				return -1;
			put_key(o, 2, wire_type(vf->type));
			if (pe_value(e, vf, m, o, &def) < 0)
				return -1;
			len_end(o, at);
		}
		return 0;
	}
	if (f->repeated) {
		if (v->kind != JV_ARRAY)
			return pe_bad(e, f, v, "an array");
		if (f->packed) {
			if (v->n == 0)
				return 0;
			put_key(o, f->number, WT_LEN);
			at = o->len;
			for (m = v->child; m != NULL; m = m->next)
				if (pe_value(e, f, m, o, &def) < 0)
					return -1;
			len_end(o, at);
			return 0;
		}
		for (m = v->child; m != NULL; m = m->next) {
			if (m->kind == JV_NULL && !is_null_ok(f))
				return errf(e->err, e->errlen,
				    "field %s: null in an array", f->name);
			put_key(o, f->number, wire_type(f->type));
			if (pe_value(e, f, m, o, &def) < 0)
				return -1;
		}
		return 0;
	}
	start = o->len;
	put_key(o, f->number, wire_type(f->type));
	if (pe_value(e, f, v, o, &def) < 0)
		return -1;
	if (def && !f->presence) {
		o->len = start;
		o->p[start] = '\0';
	}
	return 0;
}

struct member {
	const struct pbfield *f;
	const struct jv *v;
};

static int
cmp_member_field(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	return x->f->number < y->f->number ? -1 : x->f->number > y->f->number;
}

static int
pe_fields(struct pe *e, const struct pbmsg *m, const struct jv *v,
    struct strbuf *o, bool any)
{
	struct member *ms;
	const struct jv *x;
	size_t n = 0, i;
	int r = 0;

	if (v->kind != JV_OBJECT)
		return errf(e->err, e->errlen, "%s: %s where an object belongs",
		    m->name, kind_name(v));
	ms = calloc(v->n + 1, sizeof(*ms));
	if (ms == NULL)
		return errf(e->err, e->errlen, "out of memory");
	for (x = v->child; x != NULL; x = x->next) {
		if (any && strcmp(x->key, "@type") == 0)
			continue;
		ms[n].f = pbmsg_field_named(m, x->key, x->keylen);
		if (ms[n].f == NULL) {
			r = errf(e->err, e->errlen, "%s: no field \"%.60s\"",
			    m->name, x->key);
			goto out;
		}
		ms[n++].v = x;
	}
	qsort(ms, n, sizeof(*ms), cmp_member_field);
	for (i = 1; i < n; i++)
		if (ms[i].f == ms[i - 1].f) {
			r = errf(e->err, e->errlen, "%s: field %s twice",
			    m->name, ms[i].f->name);
			goto out;
		}
	for (i = 0; i < n; i++) {
		size_t k;

		if (ms[i].f->oneof < 0 ||
		    (ms[i].v->kind == JV_NULL && !is_null_ok(ms[i].f)))
			continue;
		for (k = i + 1; k < n; k++)
			if (ms[k].f->oneof == ms[i].f->oneof &&
			    (ms[k].v->kind != JV_NULL || is_null_ok(ms[k].f))) {
				r = errf(e->err, e->errlen,
				    "%s: %s and %s are one of a oneof", m->name,
				    ms[i].f->name, ms[k].f->name);
				goto out;
			}
	}
	for (i = 0; i < n && r == 0; i++)
		r = pe_field(e, ms[i].f, ms[i].v, o);
out:
	free(ms);
	return r;
}

static int
pe_timestamp(struct pe *e, const struct jv *v, struct strbuf *o)
{
	int64_t sec;
	int32_t nanos;

	if (v->kind != JV_STRING || rfc3339_parse(v->str, &sec, &nanos) < 0 ||
	    sec < TS_MIN || sec > TS_MAX)
		return errf(e->err, e->errlen,
		    "Timestamp: not an RFC 3339 time from year 1 to 9999");
	if (sec != 0) {
		put_key(o, 1, WT_VARINT);
		put_varint(o, (uint64_t)sec);
	}
	if (nanos != 0) {
		put_key(o, 2, WT_VARINT);
		put_varint(o, (uint64_t)(int64_t)nanos);
	}
	return 0;
}

static int
pe_duration(struct pe *e, const struct jv *v, struct strbuf *o)
{
	const char *s = v->kind == JV_STRING ? v->str : "";
	bool neg = *s == '-';
	int64_t sec = 0;
	int32_t nanos = 0;
	int digits = 0, fd = 0;

	s += neg;
	for (; *s >= '0' && *s <= '9' && digits < 13; s++, digits++)
		sec = sec * 10 + (*s - '0');
	if (digits > 0 && *s == '.') {
		for (s++; *s >= '0' && *s <= '9' && fd < 9; s++, fd++)
			nanos = nanos * 10 + (*s - '0');
		if (fd == 0)
			digits = 0;
		for (; fd < 9 && fd > 0; fd++)
			nanos *= 10;
	}
	if (digits == 0 || strcmp(s, "s") != 0 || sec > DUR_MAX)
		return errf(e->err, e->errlen,
		    "Duration: not seconds like \"1.5s\" within 10000 years");
	if (neg) {
		sec = -sec;
		nanos = -nanos;
	}
	if (sec != 0) {
		put_key(o, 1, WT_VARINT);
		put_varint(o, (uint64_t)sec);
	}
	if (nanos != 0) {
		put_key(o, 2, WT_VARINT);
		put_varint(o, (uint64_t)(int64_t)nanos);
	}
	return 0;
}

static int
pe_fieldmask(struct pe *e, const struct jv *v, struct strbuf *o)
{
	const char *s, *end;
	size_t at;

	if (v->kind != JV_STRING)
		return errf(e->err, e->errlen, "FieldMask: not a string");
	for (s = v->str; *s != '\0'; s = end + (*end == ',')) {
		end = s + strcspn(s, ",");
		put_key(o, 1, WT_LEN);
		at = o->len;
		for (; s < end; s++) {
			if (*s == '_')
				return errf(e->err, e->errlen,
				    "FieldMask: '_' in a JSON path");
			if (*s >= 'A' && *s <= 'Z') {
				strbuf_addc(o, '_');
				strbuf_addc(o, (char)(*s - 'A' + 'a'));
			} else {
				strbuf_addc(o, *s);
			}
		}
		len_end(o, at);
	}
	return 0;
}

static int
pe_any(struct pe *e, const struct jv *v, struct strbuf *o)
{
	const struct jv *t, *val;
	const struct pbmsg *m;
	size_t at;

	if (v->kind != JV_OBJECT)
		return errf(e->err, e->errlen, "Any: not an object");
	if ((t = jv_member(v, "@type")) == NULL) {
		if (v->n == 0)
			return 0;
		return errf(e->err, e->errlen, "Any: no \"@type\"");
	}
	if (t->kind != JV_STRING ||
	    (m = pbpool_by_url(e->pool, t->str)) == NULL)
		return errf(e->err, e->errlen, "Any: unknown type %.100s",
		    t->kind == JV_STRING ? t->str : "");
	put_key(o, 1, WT_LEN);
	put_varint(o, t->len);
	strbuf_add(o, t->str, t->len);
	put_key(o, 2, WT_LEN);
	at = o->len;
	if (m->wkt != WKT_NONE) {
		if ((val = jv_member(v, "value")) == NULL || v->n != 2)
			return errf(e->err, e->errlen,
			    "Any of %s: needs \"@type\" and \"value\" only",
			    m->name);
		if (pe_message(e, m, val, o) < 0)
			return -1;
	} else if (pe_fields(e, m, v, o, true) < 0) {
		return -1;
	}
	if (o->len == at) { /* empty value: not written */
		o->len = at - 1;
		o->p[o->len] = '\0';
		return 0;
	}
	len_end(o, at);
	return 0;
}

/* A google.protobuf.Value: the member of its oneof the JSON kind picks. */
static int
pe_wkt_value(
    struct pe *e, const struct pbmsg *m, const struct jv *v, struct strbuf *o)
{
	static const uint32_t num[] = { [JV_NULL] = 1,
		[JV_FALSE] = 4,
		[JV_TRUE] = 4,
		[JV_NUMBER] = 2,
		[JV_STRING] = 3,
		[JV_ARRAY] = 6,
		[JV_OBJECT] = 5 };
	const struct pbfield *f = pbmsg_field(m, num[v->kind]);

	if (f == NULL)
		return errf(e->err, e->errlen, "bad %s", m->name);
	return pe_field(e, f, v, o);
}

static int
pe_message(
    struct pe *e, const struct pbmsg *m, const struct jv *v, struct strbuf *o)
{
	const struct pbfield *f;
	int r;

	if (++e->depth > MAX_DEPTH)
		return errf(e->err, e->errlen, "nested too deeply");
	switch (m->wkt) {
	case WKT_ANY:
		r = pe_any(e, v, o);
		break;
	case WKT_TIMESTAMP:
		r = pe_timestamp(e, v, o);
		break;
	case WKT_DURATION:
		r = pe_duration(e, v, o);
		break;
	case WKT_FIELDMASK:
		r = pe_fieldmask(e, v, o);
		break;
	case WKT_VALUE:
		r = pe_wkt_value(e, m, v, o);
		break;
	case WKT_STRUCT:
	case WKT_LISTVALUE:
	case WKT_WRAPPER:
		if ((f = pbmsg_field(m, 1)) == NULL)
			r = errf(e->err, e->errlen, "bad %s", m->name);
		else if (m->wkt == WKT_STRUCT && v->kind != JV_OBJECT)
			r = errf(e->err, e->errlen, "Struct: not an object");
		else if (m->wkt == WKT_LISTVALUE && v->kind != JV_ARRAY)
			r = errf(e->err, e->errlen, "ListValue: not an array");
		else
			r = pe_field(e, f, v, o);
		break;
	default:
		r = pe_fields(e, m, v, o, false);
		break;
	}
	e->depth--;
	return r;
}

int
pbjson_encode(struct pbpool *pool, const struct pbmsg *m, const struct jv *v,
    struct strbuf *o, char *err, size_t errlen)
{
	struct pe e = { pool, err, errlen, 0 };
	size_t at = o->len;

	strbuf_grow(o, 0);
	if (pe_message(&e, m, v, o) < 0) {
		o->len = at;
		o->p[at] = '\0';
		return -1;
	}
	return 0;
}

int
pbjson_print_exact(struct pbpool *pool, const struct pbmsg *m, const uint8_t *p,
    size_t n, struct strbuf *o, struct arena *a, char *err, size_t errlen)
{
	struct strbuf back = { 0 };
	size_t at = o->len;
	struct jv *v;
	int r = -1;

	if (pbjson_print(pool, m, p, n, o, err, errlen) < 0)
		return -1;
	v = jv_parse(a, o->p + at, o->len - at, err, errlen);
	if (v != NULL && pbjson_encode(pool, m, v, &back, err, errlen) == 0) {
		if (back.len == n && (n == 0 || memcmp(back.p, p, n) == 0))
			r = 0;
		else
			errf(err, errlen, "%s: not in canonical form", m->name);
	}
	strbuf_free(&back);
	if (r < 0) {
		o->len = at;
		o->p[at] = '\0';
	}
	return r;
}

/* --- wire to text format ------------------------------------------------ */

struct pt {
	struct pbpool *pool;
	struct strbuf *o;
	bool one_line;
	int indent;
	char *err;
	size_t errlen;
	int depth;
};

static int pt_message(
    struct pt *, const struct pbmsg *, const uint8_t *, size_t);

static void
pt_indent(struct pt *t)
{
	int i;

	for (i = 0; !t->one_line && i < t->indent; i++)
		strbuf_addc(t->o, ' ');
}

static void
pt_end(struct pt *t)
{
	strbuf_addc(t->o, t->one_line ? ' ' : '\n');
}

static int
pt_scalar(struct pt *t, const struct pbfield *f, uint64_t v)
{
	char buf[48];
	const char *name;

	switch (f->type) {
	case PB_ENUM:
		if ((name = enum_name(f->en, (int32_t)v)) != NULL)
			strbuf_adds(t->o, name);
		else
			strbuf_addf(t->o, "%" PRId32, (int32_t)v);
		return 0;
	case PB_FLOAT:
		textformat_float(as_float(v), buf, sizeof(buf));
		strbuf_adds(t->o, buf);
		return 0;
	case PB_DOUBLE:
		textformat_double(as_double(v), buf, sizeof(buf));
		strbuf_adds(t->o, buf);
		return 0;
	case PB_INT64:
	case PB_SFIXED64:
		strbuf_addf(t->o, "%" PRId64, (int64_t)v);
		return 0;
	case PB_SINT64:
		strbuf_addf(t->o, "%" PRId64, unzigzag(v));
		return 0;
	case PB_UINT64:
	case PB_FIXED64:
		strbuf_addf(t->o, "%" PRIu64, v);
		return 0;
	default: /* the JSON form of 32-bit numbers and bools is the text */
		return pj_scalar(
		    &(struct pj){ t->pool, t->o, t->err, t->errlen, 0 }, f, v);
	}
}

/* The value of one element; for a message "{ ... }". */
static int
pt_value(struct pt *t, const struct pbfield *f, const struct wfield *w)
{
	if (w->wt != WT_LEN)
		return pt_scalar(t, f, w->v);
	if (f->type == PB_STRING || f->type == PB_BYTES) {
		textformat_quote(t->o, w->p, w->n);
		return 0;
	}
	strbuf_adds(t->o, t->one_line ? "{ " : "{\n");
	t->indent += 2;
	if (pt_message(t, f->msg, w->p, w->n) < 0)
		return -1;
	t->indent -= 2;
	if (!t->one_line)
		pt_indent(t);
	strbuf_addc(t->o, '}');
	return 0;
}

static void
pt_name(struct pt *t, const struct pbfield *f)
{
	pt_indent(t);
	strbuf_adds(t->o, f->name);
	strbuf_adds(t->o, f->type == PB_MESSAGE ? " " : ": ");
}

static int
pt_elements(struct pt *t, const struct pbfield *f, const struct wfield *w)
{
	struct elems it;
	struct wfield e;
	int r;

	elems_init(&it, f, w);
	while ((r = elems_next(&it, &e)) > 0) {
		pt_name(t, f);
		if (pt_value(t, f, &e) < 0)
			return -1;
		pt_end(t);
	}
	if (r < 0)
		return errf(t->err, t->errlen, "%s", it.why);
	return 0;
}

struct entry {
	const struct pbfield *kf;
	struct wfield w, k, v;
	bool hk, hv;
};

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int64_t sx, sy;
	size_t n;
	int c;

	switch (x->kf->type) {
	case PB_STRING:
		n = x->k.n < y->k.n ? x->k.n : y->k.n;
		c = n > 0 ? memcmp(x->k.p, y->k.p, n) : 0;
		return c != 0 ? c : x->k.n < y->k.n ? -1 : x->k.n > y->k.n;
	case PB_UINT32:
	case PB_FIXED32:
	case PB_UINT64:
	case PB_FIXED64:
	case PB_BOOL:
		return x->k.v < y->k.v ? -1 : x->k.v > y->k.v;
	default:
		sx = x->kf->type == PB_SINT32 || x->kf->type == PB_SINT64 ?
		    unzigzag(x->k.v) :
		    x->kf->type == PB_INT32 || x->kf->type == PB_SFIXED32 ?
		    (int32_t)x->k.v :
		    (int64_t)x->k.v;
		sy = y->kf->type == PB_SINT32 || y->kf->type == PB_SINT64 ?
		    unzigzag(y->k.v) :
		    y->kf->type == PB_INT32 || y->kf->type == PB_SFIXED32 ?
		    (int32_t)y->k.v :
		    (int64_t)y->k.v;
		return sx < sy ? -1 : sx > sy;
	}
}

/* A map's entries sorted by key, each as name { key: .. value: .. }. */
static int
pt_map(struct pt *t, const struct pbfield *f, struct entry *es, size_t n)
{
	const struct pbfield *kf = pbmsg_field(f->msg, 1);
	const struct pbfield *vf = pbmsg_field(f->msg, 2);
	struct wfield x;
	struct rd r;
	size_t i;
	int k;

	for (i = 0; i < n; i++) {
		es[i].kf = kf;
		r = (struct rd){ es[i].w.p, es[i].w.p + es[i].w.n };
		while ((k = next_field(&r, &x)) > 0)
			if (x.number == 1)
				es[i].k = x, es[i].hk = true;
			else if (x.number == 2)
				es[i].v = x, es[i].hv = true;
		if (k < 0)
			return errf(t->err, t->errlen, "bad map entry");
	}
	qsort(es, n, sizeof(*es), cmp_entry);
	for (i = 0; i < n; i++) {
		/* an entry prints as a message: fields set, not defaults */
		pt_name(t, f);
		strbuf_adds(t->o, t->one_line ? "{ " : "{\n");
		t->indent += 2;
		if (es[i].hk &&
		    !(es[i].k.wt == WT_LEN ? es[i].k.n == 0 : es[i].k.v == 0) &&
		    pt_elements(t, kf, &es[i].k) < 0)
			return -1;
		if (es[i].hv &&
		    (vf->type == PB_MESSAGE ||
			!(es[i].v.wt == WT_LEN ? es[i].v.n == 0 :
						 es[i].v.v == 0)) &&
		    pt_elements(t, vf, &es[i].v) < 0)
			return -1;
		t->indent -= 2;
		if (!t->one_line)
			pt_indent(t);
		strbuf_addc(t->o, '}');
		pt_end(t);
	}
	return 0;
}

static int
pt_any(
    struct pt *t, const struct pbmsg *m, const uint8_t *p, size_t n, bool *done)
{
	struct rd r = { p, p + n };
	struct wfield w, url = { 0 }, val = { 0 };
	const struct pbmsg *inner;
	char *u;
	int k;

	*done = false;
	while ((k = next_field(&r, &w)) > 0)
		if (w.number == 1 && w.wt == WT_LEN)
			url = w;
		else if (w.number == 2 && w.wt == WT_LEN)
			val = w;
	if (k < 0 || url.number == 0 ||
	    (u = strndup((const char *)url.p, url.n)) == NULL)
		return 0;
	inner = pbpool_by_url(t->pool, u);
	if (inner != NULL) {
		pt_indent(t);
		strbuf_addf(t->o, "[%s] ", u);
		if (pt_value(t,
			&(struct pbfield){ .type = PB_MESSAGE, .msg = inner },
			&(struct wfield){
			    .wt = WT_LEN, .p = val.p, .n = val.n }) < 0) {
			free(u);
			return -1;
		}
		pt_end(t);
		*done = true;
	}
	free(u);
	return 0;
}

static int
pt_message(struct pt *t, const struct pbmsg *m, const uint8_t *p, size_t n)
{
	const struct pbfield *f;
	struct entry *es = NULL;
	size_t nes = 0, cap = 0;
	struct wfield w;
	struct rd r;
	bool done;
	int k;

	if (p == NULL)
		p = (const uint8_t *)""; /* an absent message: no bytes */
	r = (struct rd){ p, p + n };
	if (++t->depth > MAX_DEPTH)
		return errf(t->err, t->errlen, "nested too deeply");
	if (m->wkt == WKT_ANY) {
		if (pt_any(t, m, p, n, &done) < 0)
			return -1;
		if (done) {
			t->depth--;
			return 0;
		}
	}
	while ((k = next_field(&r, &w)) > 0) {
		if ((f = pbmsg_field(m, w.number)) == NULL)
			continue; /* as Python: unknown fields are not shown */
		if (!is_map(f)) {
			if (pt_elements(t, f, &w) < 0)
				goto fail;
			continue;
		}
		/* gather the entries: a map's occurrences are together */
		do {
			if (nes == cap) {
				cap = cap > 0 ? cap * 2 : 16;
				es = realloc(es, cap * sizeof(*es));
				if (es == NULL)
					return errf(
					    t->err, t->errlen, "out of memory");
			}
			es[nes++] = (struct entry){ .w = w };
			if (r.p == r.end)
				break;
			{
				struct rd peek = r;
				struct wfield nw;

				if (next_field(&peek, &nw) <= 0 ||
				    nw.number != w.number)
					break;
				r = peek;
				w = nw;
			}
		} while (1);
		if (pt_map(t, f, es, nes) < 0)
			goto fail;
		nes = 0;
	}
	free(es);
	if (k < 0)
		return errf(t->err, t->errlen, "%s: bad wire format", m->name);
	t->depth--;
	return 0;
fail:
	free(es);
	return -1;
}

int
pbtext_print(struct pbpool *pool, const struct pbmsg *m, const uint8_t *p,
    size_t n, bool one_line, struct strbuf *o, char *err, size_t errlen)
{
	struct pt t = { pool, o, one_line, 0, err, errlen, 0 };
	size_t at = o->len;

	strbuf_grow(o, 0);
	if (pt_message(&t, m, p, n) < 0) {
		o->len = at;
		o->p[at] = '\0';
		return -1;
	}
	/* as_one_line output ends without the separator */
	while (one_line && o->len > at && o->p[o->len - 1] == ' ')
		o->p[--o->len] = '\0';
	return 0;
}
