#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descset.h"
#include "errf.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "pbdesc.h"
#include "xalloc.h"

typedef Google__Protobuf__FileDescriptorSet SetProto;
typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;

struct pmsg {
	struct pbmsg pub;
	char **type_names; /* per field: the referenced type, no dot */
	size_t seq;
};

struct penum {
	struct pbenum pub;
	size_t seq;
};

struct pbpool {
	SetProto **sets;
	size_t nsets;
	struct pmsg **msgs;
	size_t nmsgs, capmsgs;
	struct penum **enums;
	size_t nenums, capenums;
	char **names; /* every name allocated here */
	size_t nnames, capnames;
	bool dirty; /* added since the last sort */
};

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap != 0 ? *cap * 2 : 64;
	return xrealloc(p, *cap * size);
}

static char *
keep(struct pbpool *pp, char *s)
{
	pp->names = grow(pp->names, &pp->capnames, pp->nnames, sizeof(char *));
	pp->names[pp->nnames++] = s;
	return s;
}

static char *
join(struct pbpool *pp, const char *scope, const char *name)
{
	size_t s = scope != NULL ? strlen(scope) : 0, n = strlen(name);
	char *p = xmalloc(s + n + 2);

	if (s > 0) {
		memcpy(p, scope, s);
		p[s++] = '.';
	}
	memcpy(p + s, name, n + 1);
	return keep(pp, p);
}

/* protoc's ToJsonName: drop each '_' and capitalise what follows. */
static char *
json_name(struct pbpool *pp, const char *name)
{
	char *p = xmalloc(strlen(name) + 1), *o = p;
	bool up = false;

	for (; *name != '\0'; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		*o++ = up && *name >= 'a' && *name <= 'z' ?
		    (char)(*name - 'a' + 'A') :
		    *name;
		up = false;
	}
	*o = '\0';
	return keep(pp, p);
}

static enum pbwkt
wkt_of(const char *name)
{
	static const struct {
		const char *name;
		enum pbwkt wkt;
	} w[] = {
		{ "google.protobuf.Any", WKT_ANY },
		{ "google.protobuf.Timestamp", WKT_TIMESTAMP },
		{ "google.protobuf.Duration", WKT_DURATION },
		{ "google.protobuf.FieldMask", WKT_FIELDMASK },
		{ "google.protobuf.Struct", WKT_STRUCT },
		{ "google.protobuf.Value", WKT_VALUE },
		{ "google.protobuf.ListValue", WKT_LISTVALUE },
		{ "google.protobuf.DoubleValue", WKT_WRAPPER },
		{ "google.protobuf.FloatValue", WKT_WRAPPER },
		{ "google.protobuf.Int64Value", WKT_WRAPPER },
		{ "google.protobuf.UInt64Value", WKT_WRAPPER },
		{ "google.protobuf.Int32Value", WKT_WRAPPER },
		{ "google.protobuf.UInt32Value", WKT_WRAPPER },
		{ "google.protobuf.BoolValue", WKT_WRAPPER },
		{ "google.protobuf.StringValue", WKT_WRAPPER },
		{ "google.protobuf.BytesValue", WKT_WRAPPER },
	};
	size_t i;

	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		if (strcmp(name, w[i].name) == 0)
			return w[i].wkt;
	return WKT_NONE;
}

static void
add_enum(struct pbpool *pp, const char *scope, const EnumProto *e)
{
	struct penum *pe = xcalloc(1, sizeof(*pe));
	size_t i;

	pe->pub.name = join(pp, scope, e->name);
	pe->pub.nvalues = e->n_value;
	pe->pub.vname = xcalloc(e->n_value + 1, sizeof(char *));
	pe->pub.vnum = xcalloc(e->n_value + 1, sizeof(int32_t));
	for (i = 0; i < e->n_value; i++) {
		pe->pub.vname[i] = e->value[i]->name;
		pe->pub.vnum[i] = e->value[i]->number;
	}
	pe->pub.null_value = strcmp(pe->pub.name,
				 "google.protobuf.NullValue") == 0;
	pe->seq = pp->nenums;
	pp->enums = grow(pp->enums, &pp->capenums, pp->nenums, sizeof(pe));
	pp->enums[pp->nenums++] = pe;
}

static bool
packable(enum pbtype t)
{
	return t != PB_STRING && t != PB_BYTES && t != PB_MESSAGE &&
	    t != PB_GROUP;
}

static int
cmp_field(const void *a, const void *b)
{
	const struct pbfield *x = a, *y = b;

	return x->number < y->number ? -1 : x->number > y->number;
}

static void
add_message(
    struct pbpool *pp, const char *scope, const MessageProto *m, bool proto3)
{
	struct pmsg *pm = xcalloc(1, sizeof(*pm));
	struct pbfield *f;
	const FieldProto *fp;
	const char *tn;
	size_t i, k;

	pm->pub.name = join(pp, scope, m->name);
	pm->pub.map_entry = m->options != NULL && m->options->has_map_entry &&
	    m->options->map_entry;
	pm->pub.wkt = wkt_of(pm->pub.name);
	pm->pub.nfields = m->n_field;
	pm->pub.fields = xcalloc(m->n_field + 1, sizeof(*f));
	pm->type_names = xcalloc(m->n_field + 1, sizeof(char *));
	for (i = 0; i < m->n_field; i++) {
		fp = m->field[i];
		f = &pm->pub.fields[i];
		f->name = fp->name;
		f->json_name = fp->json_name != NULL ? fp->json_name :
						       json_name(pp, fp->name);
		f->number = (uint32_t)fp->number;
		f->type = (enum pbtype)fp->type;
		f->repeated = fp->label ==
		    GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED;
		if (f->repeated && packable(f->type))
			f->packed = fp->options != NULL &&
				fp->options->has_packed ?
			    fp->options->packed :
			    proto3;
		f->oneof = -1;
		if (fp->has_oneof_index && !fp->proto3_optional)
			f->oneof = fp->oneof_index;
		f->presence = !f->repeated &&
		    (!proto3 || fp->proto3_optional || f->oneof >= 0 ||
			f->type == PB_MESSAGE || f->type == PB_GROUP);
		tn = fp->type_name != NULL ? fp->type_name : "";
		pm->type_names[i] = (char *)(tn + (*tn == '.'));
	}
	/* Sort fields and their type names together. */
	for (i = 1; i < pm->pub.nfields; i++)
		for (k = i; k > 0 &&
		     cmp_field(&pm->pub.fields[k - 1], &pm->pub.fields[k]) > 0;
		     k--) {
			struct pbfield t = pm->pub.fields[k];
			char *tn2 = pm->type_names[k];

			pm->pub.fields[k] = pm->pub.fields[k - 1];
			pm->type_names[k] = pm->type_names[k - 1];
			pm->pub.fields[k - 1] = t;
			pm->type_names[k - 1] = tn2;
		}
	pm->seq = pp->nmsgs;
	pp->msgs = grow(pp->msgs, &pp->capmsgs, pp->nmsgs, sizeof(pm));
	pp->msgs[pp->nmsgs++] = pm;
	for (i = 0; i < m->n_nested_type; i++)
		add_message(pp, pm->pub.name, m->nested_type[i], proto3);
	for (i = 0; i < m->n_enum_type; i++)
		add_enum(pp, pm->pub.name, m->enum_type[i]);
}

struct pbpool *
pbpool_new(void)
{
	return xcalloc(1, sizeof(struct pbpool));
}

void
pbpool_free(struct pbpool *pp)
{
	size_t i;

	if (pp == NULL)
		return;
	for (i = 0; i < pp->nmsgs; i++) {
		free(pp->msgs[i]->pub.fields);
		free(pp->msgs[i]->type_names);
		free(pp->msgs[i]);
	}
	for (i = 0; i < pp->nenums; i++) {
		free(pp->enums[i]->pub.vname);
		free(pp->enums[i]->pub.vnum);
		free(pp->enums[i]);
	}
	for (i = 0; i < pp->nnames; i++)
		free(pp->names[i]);
	for (i = 0; i < pp->nsets; i++)
		protobuf_c_message_free_unpacked(&pp->sets[i]->base, NULL);
	free(pp->sets);
	free(pp->msgs);
	free(pp->enums);
	free(pp->names);
	free(pp);
}

int
pbpool_add(
    struct pbpool *pp, const uint8_t *p, size_t n, char *err, size_t errlen)
{
	SetProto *set;
	FileProto *f;
	size_t i, k;
	bool proto3;

	set = google__protobuf__file_descriptor_set__unpack(NULL, n, p);
	if (set == NULL)
		return errf(err, errlen, "not a FileDescriptorSet");
	pp->sets = xrealloc(pp->sets, (pp->nsets + 1) * sizeof(*pp->sets));
	pp->sets[pp->nsets++] = set;
	for (i = 0; i < set->n_file; i++) {
		f = set->file[i];
		proto3 = f->syntax != NULL && strcmp(f->syntax, "proto3") == 0;
		for (k = 0; k < f->n_message_type; k++)
			add_message(pp, f->package, f->message_type[k], proto3);
		for (k = 0; k < f->n_enum_type; k++)
			add_enum(pp, f->package, f->enum_type[k]);
	}
	pp->dirty = true;
	return 0;
}

void
pbpool_add_builtin(struct pbpool *pp)
{
	char err[128];

	if (pbpool_add(pp, evpipe_descriptor_set, evpipe_descriptor_set_len,
		err, sizeof(err)) < 0)
		abort(); /* protoc wrote it at build time */
}

static int
cmp_msg(const void *a, const void *b)
{
	const struct pmsg *x = *(struct pmsg *const *)a;
	const struct pmsg *y = *(struct pmsg *const *)b;
	int c = strcmp(x->pub.name, y->pub.name);

	return c != 0 ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int
cmp_enum(const void *a, const void *b)
{
	const struct penum *x = *(struct penum *const *)a;
	const struct penum *y = *(struct penum *const *)b;
	int c = strcmp(x->pub.name, y->pub.name);

	return c != 0 ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The first of equal names (the first added, after a stable sort). */
#define FIND(arr, n, key, out)                                             \
	do {                                                               \
		size_t lo_ = 0, hi_ = (n), mid_;                           \
		(out) = NULL;                                              \
		while (lo_ < hi_) {                                        \
			mid_ = lo_ + (hi_ - lo_) / 2;                      \
			if (strcmp((arr)[mid_]->pub.name, (key)) < 0)      \
				lo_ = mid_ + 1;                            \
			else                                               \
				hi_ = mid_;                                \
		}                                                          \
		if (lo_ < (n) && strcmp((arr)[lo_]->pub.name, (key)) == 0) \
			(out) = (arr)[lo_];                                \
	} while (0)

static void
resolve(struct pbpool *pp)
{
	struct pmsg *pm, *target;
	struct penum *pe;
	struct pbfield *f;
	size_t i, k;

	qsort(pp->msgs, pp->nmsgs, sizeof(*pp->msgs), cmp_msg);
	qsort(pp->enums, pp->nenums, sizeof(*pp->enums), cmp_enum);
	for (i = 0; i < pp->nmsgs; i++) {
		pm = pp->msgs[i];
		for (k = 0; k < pm->pub.nfields; k++) {
			f = &pm->pub.fields[k];
			if (f->type == PB_MESSAGE) {
				FIND(pp->msgs, pp->nmsgs, pm->type_names[k],
				    target);
				f->msg = target != NULL ? &target->pub : NULL;
			} else if (f->type == PB_ENUM) {
				FIND(pp->enums, pp->nenums, pm->type_names[k],
				    pe);
				f->en = pe != NULL ? &pe->pub : NULL;
			}
		}
	}
	pp->dirty = false;
}

const struct pbmsg *
pbpool_message(struct pbpool *pp, const char *name)
{
	struct pmsg *pm;

	if (pp->dirty)
		resolve(pp);
	FIND(pp->msgs, pp->nmsgs, name, pm);
	return pm != NULL ? &pm->pub : NULL;
}

const struct pbmsg *
pbpool_by_url(struct pbpool *pp, const char *url)
{
	const char *slash = strrchr(url, '/');

	return slash != NULL ? pbpool_message(pp, slash + 1) : NULL;
}

/* "pkg.Svc" against a file's package and a service's name. */
static bool
same_service(
    const FileProto *f, const char *svc, const char *want, size_t wantlen)
{
	size_t pl = f->package != NULL ? strlen(f->package) : 0;

	if (pl > 0) {
		if (wantlen <= pl || memcmp(want, f->package, pl) != 0 ||
		    want[pl] != '.')
			return false;
		want += pl + 1;
		wantlen -= pl + 1;
	}
	return strlen(svc) == wantlen && memcmp(svc, want, wantlen) == 0;
}

int
pbpool_method(struct pbpool *pp, const char *path, struct pbmethod *m)
{
	const char *slash = path[0] == '/' ? strchr(path + 1, '/') : NULL;
	const Google__Protobuf__ServiceDescriptorProto *sp;
	const Google__Protobuf__MethodDescriptorProto *mp;
	const FileProto *f;
	size_t i, k, j, x;
	int found = -1;

	if (slash == NULL)
		return -1;
	for (i = 0; i < pp->nsets; i++)
		for (k = 0; k < pp->sets[i]->n_file; k++) {
			f = pp->sets[i]->file[k];
			for (j = 0; j < f->n_service; j++) {
				sp = f->service[j];
				if (!same_service(f, sp->name, path + 1,
					(size_t)(slash - path - 1)))
					continue;
				found = -2;
				for (x = 0; x < sp->n_method; x++) {
					mp = sp->method[x];
					if (strcmp(mp->name, slash + 1) != 0 ||
					    mp->input_type == NULL ||
					    mp->output_type == NULL)
						continue;
					m->input = mp->input_type +
					    (mp->input_type[0] == '.');
					m->output = mp->output_type +
					    (mp->output_type[0] == '.');
					m->client_streaming =
					    mp->client_streaming;
					m->server_streaming =
					    mp->server_streaming;
					return 0;
				}
			}
		}
	return found;
}

const struct pbfield *
pbmsg_field(const struct pbmsg *m, uint32_t number)
{
	size_t lo = 0, hi = m->nfields, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (m->fields[mid].number == number)
			return &m->fields[mid];
		if (m->fields[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* By JSON name or by proto name, as proto3 JSON parsers accept both. */
const struct pbfield *
pbmsg_field_named(const struct pbmsg *m, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < m->nfields; i++)
		if ((strlen(m->fields[i].json_name) == n &&
			memcmp(m->fields[i].json_name, name, n) == 0) ||
		    (strlen(m->fields[i].name) == n &&
			memcmp(m->fields[i].name, name, n) == 0))
			return &m->fields[i];
	return NULL;
}
