#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "descset.h"
#include "errf.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "varint.h"
#include "xalloc.h"

typedef Google__Protobuf__FileDescriptorProto FileProto;
typedef Google__Protobuf__DescriptorProto MessageProto;
typedef Google__Protobuf__EnumDescriptorProto EnumProto;
typedef Google__Protobuf__FieldDescriptorProto FieldProto;

enum symkind { SYM_OTHER, SYM_MESSAGE };

struct dfile {
	struct descfile pub;
	FileProto *proto; /* unpacked: imports and declarations */
};

struct dsym {
	char *name; /* fully qualified, no leading dot */
	size_t file;
	size_t seq; /* order added: the first of equal names wins */
	enum symkind kind;
};

struct dext {
	char *extendee; /* fully qualified, no leading dot */
	int32_t number;
	size_t file;
};

struct descset {
	struct dfile *files;
	size_t nfiles, capfiles;
	struct dsym *syms;
	size_t nsyms, capsyms;
	struct dext *exts;
	size_t nexts, capexts;
};

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap != 0 ? *cap * 2 : 64;
	return xrealloc(p, *cap * size);
}

/* scope "." name, or name alone at the top of an unnamed package. */
static char *
join(const char *scope, const char *name)
{
	size_t s = scope != NULL ? strlen(scope) : 0, n = strlen(name);
	char *p = xmalloc(s + n + 2);

	if (s > 0) {
		memcpy(p, scope, s);
		p[s++] = '.';
	}
	memcpy(p + s, name, n + 1);
	return p;
}

/* Takes ownership of name. */
static void
add_sym(struct descset *d, char *name, size_t file, enum symkind kind)
{
	d->syms = grow(d->syms, &d->capsyms, d->nsyms, sizeof(*d->syms));
	d->syms[d->nsyms] = (struct dsym){ name, file, d->nsyms, kind };
	d->nsyms++;
}

static void
index_extension(
    struct descset *d, size_t file, const char *scope, const FieldProto *f)
{
	const char *ext = f->extendee != NULL ? f->extendee : "";

	add_sym(d, join(scope, f->name), file, SYM_OTHER);
	d->exts = grow(d->exts, &d->capexts, d->nexts, sizeof(*d->exts));
	d->exts[d->nexts].extendee = join(NULL, ext + (*ext == '.'));
	d->exts[d->nexts].number = f->number;
	d->exts[d->nexts].file = file;
	d->nexts++;
}

/* An enum's values live in the scope around the enum, as in C++. */
static void
index_enum(
    struct descset *d, size_t file, const char *scope, const EnumProto *e)
{
	size_t i;

	add_sym(d, join(scope, e->name), file, SYM_OTHER);
	for (i = 0; i < e->n_value; i++)
		add_sym(d, join(scope, e->value[i]->name), file, SYM_OTHER);
}

static void
index_message(
    struct descset *d, size_t file, const char *scope, const MessageProto *m)
{
	char *full = join(scope, m->name);
	size_t i;

	for (i = 0; i < m->n_field; i++)
		add_sym(d, join(full, m->field[i]->name), file, SYM_OTHER);
	for (i = 0; i < m->n_oneof_decl; i++)
		add_sym(d, join(full, m->oneof_decl[i]->name), file, SYM_OTHER);
	for (i = 0; i < m->n_nested_type; i++)
		index_message(d, file, full, m->nested_type[i]);
	for (i = 0; i < m->n_enum_type; i++)
		index_enum(d, file, full, m->enum_type[i]);
	for (i = 0; i < m->n_extension; i++)
		index_extension(d, file, full, m->extension[i]);
	add_sym(d, full, file, SYM_MESSAGE);
}

static void
index_file(struct descset *d, size_t file)
{
	const FileProto *f = d->files[file].proto;
	const char *pkg = f->package;
	char *svc;
	size_t i, j;

	for (i = 0; i < f->n_message_type; i++)
		index_message(d, file, pkg, f->message_type[i]);
	for (i = 0; i < f->n_enum_type; i++)
		index_enum(d, file, pkg, f->enum_type[i]);
	for (i = 0; i < f->n_extension; i++)
		index_extension(d, file, pkg, f->extension[i]);
	for (i = 0; i < f->n_service; i++) {
		svc = join(pkg, f->service[i]->name);
		for (j = 0; j < f->service[i]->n_method; j++)
			add_sym(d, join(svc, f->service[i]->method[j]->name),
			    file, SYM_OTHER);
		add_sym(d, svc, file, SYM_OTHER);
	}
}

static int
sym_order(const void *a, const void *b)
{
	const struct dsym *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the symbols by name; of equal names keep the first added. */
static void
sort_symbols(struct descset *d)
{
	size_t i, k = 0;

	qsort(d->syms, d->nsyms, sizeof(*d->syms), sym_order);
	for (i = 0; i < d->nsyms; i++) {
		if (k > 0 &&
		    strcmp(d->syms[k - 1].name, d->syms[i].name) == 0) {
			free(d->syms[i].name);
			continue;
		}
		d->syms[k++] = d->syms[i];
	}
	d->nsyms = k;
	for (i = 0; i < k; i++)
		d->syms[i].seq = i;
}

struct descset *
descset_new(void)
{
	return xcalloc(1, sizeof(struct descset));
}

void
descset_free(struct descset *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nfiles; i++)
		protobuf_c_message_free_unpacked(
		    &d->files[i].proto->base, NULL);
	for (i = 0; i < d->nsyms; i++)
		free(d->syms[i].name);
	for (i = 0; i < d->nexts; i++)
		free(d->exts[i].extendee);
	free(d->files);
	free(d->syms);
	free(d->exts);
	free(d);
}

/*
 * A FileDescriptorSet is "repeated FileDescriptorProto file = 1": walk
 * its wire format to keep each file's own bytes (reflection sends them
 * as they are), and unpack each file to index what it declares.
 */
int
descset_add(
    struct descset *d, const uint8_t *set, size_t len, char *err, size_t errlen)
{
	size_t off = 0, n;
	uint64_t key, flen;
	FileProto *f;
	int r;

	while (off < len) {
		if ((r = varint_get(set + off, len - off, &key)) <= 0)
			return errf(
			    err, errlen, "descriptor set: bad key at %zu", off);
		off += (size_t)r;
		if (key != (1 << 3 | 2))
			return errf(err, errlen,
			    "descriptor set: unexpected field %llu at %zu",
			    (unsigned long long)(key >> 3), off);
		if ((r = varint_get(set + off, len - off, &flen)) <= 0 ||
		    flen > len - off - (size_t)r)
			return errf(err, errlen,
			    "descriptor set: bad length at %zu", off);
		off += (size_t)r;
		n = (size_t)flen;
		f = google__protobuf__file_descriptor_proto__unpack(
		    NULL, n, set + off);
		if (f == NULL || f->name == NULL)
			return errf(err, errlen,
			    "descriptor set: file at %zu does not parse", off);
		if (descset_file(d, f->name) != NULL) {
			protobuf_c_message_free_unpacked(&f->base, NULL);
		} else {
			d->files = grow(d->files, &d->capfiles, d->nfiles,
			    sizeof(*d->files));
			d->files[d->nfiles] = (struct dfile){
				{ f->name, set + off, n }, f
			};
			index_file(d, d->nfiles++);
		}
		off += n;
	}
	sort_symbols(d);
	return 0;
}

const struct descfile *
descset_file(const struct descset *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->nfiles; i++)
		if (strcmp(d->files[i].pub.name, name) == 0)
			return &d->files[i].pub;
	return NULL;
}

static const struct dsym *
find_sym(const struct descset *d, const char *name)
{
	size_t lo = 0, hi = d->nsyms, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, d->syms[mid].name);
		if (c == 0)
			return &d->syms[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct descfile *
descset_symbol(const struct descset *d, const char *name)
{
	const struct dsym *s = find_sym(d, name);

	return s != NULL ? &d->files[s->file].pub : NULL;
}

bool
descset_is_message(const struct descset *d, const char *name)
{
	const struct dsym *s = find_sym(d, name);

	return s != NULL && s->kind == SYM_MESSAGE;
}

const struct descfile *
descset_extension(const struct descset *d, const char *type, int32_t number)
{
	size_t i;

	for (i = 0; i < d->nexts; i++)
		if (d->exts[i].number == number &&
		    strcmp(d->exts[i].extendee, type) == 0)
			return &d->files[d->exts[i].file].pub;
	return NULL;
}

long
descset_extension_numbers(
    const struct descset *d, const char *type, int32_t *out, size_t max)
{
	size_t i, k = 0;

	if (!descset_is_message(d, type))
		return -1;
	for (i = 0; i < d->nexts && k < max; i++)
		if (strcmp(d->exts[i].extendee, type) == 0)
			out[k++] = d->exts[i].number;
	return (long)k;
}

static size_t
file_index(const struct descset *d, const struct descfile *f)
{
	return (size_t)((const struct dfile *)(const void *)f - d->files);
}

static void
visit(const struct descset *d, size_t i, bool *seen,
    const struct descfile **out, size_t max, size_t *n)
{
	const FileProto *p = d->files[i].proto;
	const struct descfile *dep;
	size_t j;

	seen[i] = true;
	if (*n < max)
		out[*n] = &d->files[i].pub;
	(*n)++;
	for (j = 0; j < p->n_dependency; j++)
		if ((dep = descset_file(d, p->dependency[j])) != NULL &&
		    !seen[file_index(d, dep)])
			visit(d, file_index(d, dep), seen, out, max, n);
}

size_t
descset_closure(const struct descset *d, const struct descfile *f,
    const struct descfile **out, size_t max)
{
	bool *seen = xcalloc(d->nfiles, sizeof(*seen));
	size_t n = 0;

	visit(d, file_index(d, f), seen, out, max, &n);
	free(seen);
	return n;
}
