#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "pbtypes.h"
#include "strbuf.h"
#include "textformat.h"

struct tf {
	char *p;
	size_t len, cap;
};

static void
put(struct tf *t, const void *s, size_t n)
{
	size_t cap;

	if (t->len + n + 1 > t->cap) {
		for (cap = t->cap > 0 ? t->cap : 256; cap < t->len + n + 1;)
			cap *= 2;
		if ((t->p = realloc(t->p, cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void
puts_(struct tf *t, const char *s)
{
	put(t, s, strlen(s));
}

static void
indent(struct tf *t, int n)
{
	static const char spaces[] = "                                ";

	for (; n > 0; n -= (int)sizeof(spaces) - 1)
		put(t, spaces,
		    n < (int)sizeof(spaces) - 1 ? (size_t)n :
						  sizeof(spaces) - 1);
}

/*
 * C escapes as text_encoding.CEscape(b, as_utf8=False): \t \n \r \" \'
 * \\ by name, other bytes outside 0x20..0x7e as three octal digits.
 */
static void
put_escaped(struct tf *t, const uint8_t *s, size_t n)
{
	char o[4];
	size_t i, run;

	put(t, "\"", 1);
	for (i = 0; i < n; i += run) {
		for (run = 0; i + run < n && s[i + run] >= 0x20 &&
		     s[i + run] < 0x7f && s[i + run] != '"' &&
		     s[i + run] != '\'' && s[i + run] != '\\';)
			run++;
		if (run > 0) {
			put(t, s + i, run);
			continue;
		}
		run = 1;
		switch (s[i]) {
		case '\t':
			put(t, "\\t", 2);
			break;
		case '\n':
			put(t, "\\n", 2);
			break;
		case '\r':
			put(t, "\\r", 2);
			break;
		case '"':
		case '\'':
		case '\\':
			o[0] = '\\';
			o[1] = (char)s[i];
			put(t, o, 2);
			break;
		default:
			o[0] = '\\';
			o[1] = (char)('0' + (s[i] >> 6));
			o[2] = (char)('0' + ((s[i] >> 3) & 7));
			o[3] = (char)('0' + (s[i] & 7));
			put(t, o, 4);
		}
	}
	put(t, "\"", 1);
}

/*
 * A double as Python's repr() writes it: the shortest digits that read
 * back to the same value; positional notation when the decimal point
 * falls within -4 < exponent <= 16, else d.ddde+XX; always a '.0' or
 * an exponent; inf, -inf, nan.
 */
size_t
textformat_double(double v, char *buf, size_t len)
{
	char d[40], digits[20], out[48], *e;
	int p, exp10, nd, decpt, i, k = 0;

	if (isnan(v))
		return (size_t)snprintf(buf, len, "nan");
	if (isinf(v))
		return (size_t)snprintf(buf, len, "%sinf", v < 0 ? "-" : "");
	for (p = 0; p < 17; p++) {
		snprintf(d, sizeof(d), "%.*e", p, v);
		if (strtod(d, NULL) == v)
			break;
	}
	/* d is [-]D[.DDD]e[+-]XX */
	e = strchr(d, 'e');
	exp10 = atoi(e + 1);
	nd = 0;
	for (i = d[0] == '-' ? 1 : 0; d + i < e; i++)
		if (d[i] != '.')
			digits[nd++] = d[i];
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	if (signbit(v))
		out[k++] = '-';
	decpt = exp10 + 1; /* v = 0.DIGITS x 10^decpt */
	if (decpt > -4 && decpt <= 16) {
		if (decpt <= 0) {
			out[k++] = '0';
			out[k++] = '.';
			for (i = decpt; i < 0; i++)
				out[k++] = '0';
			memcpy(out + k, digits, (size_t)nd);
			k += nd;
		} else if (decpt >= nd) {
			memcpy(out + k, digits, (size_t)nd);
			k += nd;
			for (i = nd; i < decpt; i++)
				out[k++] = '0';
			out[k++] = '.';
			out[k++] = '0';
		} else {
			memcpy(out + k, digits, (size_t)decpt);
			k += decpt;
			out[k++] = '.';
			memcpy(out + k, digits + decpt, (size_t)(nd - decpt));
			k += nd - decpt;
		}
		out[k] = '\0';
	} else {
		out[k++] = digits[0];
		if (nd > 1) {
			out[k++] = '.';
			memcpy(out + k, digits + 1, (size_t)(nd - 1));
			k += nd - 1;
		}
		snprintf(out + k, sizeof(out) - (size_t)k, "e%c%02d",
		    exp10 < 0 ? '-' : '+', abs(exp10));
	}
	return (size_t)snprintf(buf, len, "%s", out);
}

/*
 * A float as Python's text_format writes it (type_checkers.
 * ToShortestFloat): the shortest %g form, from 6 digits up, that is the
 * same float, then printed as a double.
 */
size_t
textformat_float(float v, char *buf, size_t len)
{
	char d[40];
	double r = v;
	int p;

	if (isnan(v) || isinf(v))
		return textformat_double(v, buf, len);
	for (p = 6; p < 10; p++) {
		snprintf(d, sizeof(d), "%.*g", p, (double)v);
		r = strtod(d, NULL);
		if ((float)r == v)
			break;
	}
	return textformat_double(r, buf, len);
}

static size_t
elem_size(ProtobufCType type)
{
	switch (type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sizeof(uint64_t);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default: /* 32-bit integers, enums, float */
		return sizeof(uint32_t);
	}
}

/*
 * Whether a singular field is set, by protobuf-c's own rules (its
 * packer skips exactly the fields this says are absent): a oneof
 * member when its case is this field; proto2/proto3 optional by its
 * has_ flag or a non-default pointer; proto3 plain fields when not
 * zero.
 */
static bool
present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
	const char *base = (const char *)m;
	const void *v = base + f->offset;

	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
		if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
			return false;
		return !((f->type == PROTOBUF_C_TYPE_MESSAGE ||
			     f->type == PROTOBUF_C_TYPE_STRING) &&
		    *(void *const *)v == NULL);
	}
	if (f->label == PROTOBUF_C_LABEL_REQUIRED)
		return true;
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
		if (f->type == PROTOBUF_C_TYPE_MESSAGE ||
		    f->type == PROTOBUF_C_TYPE_STRING)
			return *(void *const *)v != NULL &&
			    *(void *const *)v != f->default_value;
		return *(const protobuf_c_boolean *)(base +
			   f->quantifier_offset) != 0;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)v != NULL && **(char *const *)v != '\0';
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)v)->len > 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)v != NULL;
	case PROTOBUF_C_TYPE_DOUBLE:
		return *(const double *)v != 0;
	case PROTOBUF_C_TYPE_FLOAT:
		return *(const float *)v != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)v != 0;
	default:
		return elem_size(f->type) == sizeof(uint64_t) ?
		    *(const uint64_t *)v != 0 :
		    *(const uint32_t *)v != 0;
	}
}

static void print_message(struct tf *, const ProtobufCMessage *, int);

static void
print_scalar(struct tf *t, const ProtobufCFieldDescriptor *f, const void *v)
{
	const ProtobufCEnumValue *ev;
	const ProtobufCBinaryData *b;
	char buf[64];

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(buf, sizeof(buf), "%" PRId32, *(const int32_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		snprintf(buf, sizeof(buf), "%" PRIu32, *(const uint32_t *)v);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)v);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)v);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		textformat_float(*(const float *)v, buf, sizeof(buf));
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		textformat_double(*(const double *)v, buf, sizeof(buf));
		break;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(buf, sizeof(buf), "%s",
		    *(const protobuf_c_boolean *)v ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(
		    f->descriptor, *(const int32_t *)v);
		if (ev != NULL)
			snprintf(buf, sizeof(buf), "%s", ev->name);
		else
			snprintf(
			    buf, sizeof(buf), "%" PRId32, *(const int32_t *)v);
		break;
	case PROTOBUF_C_TYPE_STRING:
		put_escaped(t, *(const uint8_t *const *)v,
		    strlen(*(const char *const *)v));
		return;
	case PROTOBUF_C_TYPE_BYTES:
		b = v;
		put_escaped(t, b->data, b->len);
		return;
	default:
		buf[0] = '\0';
	}
	puts_(t, buf);
}

/* One field and its value: "name: value\n" or "name {\n...}\n". */
static void
print_field(
    struct tf *t, const ProtobufCFieldDescriptor *f, const void *v, int ind)
{
	indent(t, ind);
	puts_(t, f->name);
	if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
		put(t, ": ", 2);
		print_scalar(t, f, v);
		put(t, "\n", 1);
		return;
	}
	put(t, " {\n", 3);
	if (*(ProtobufCMessage *const *)v != NULL)
		print_message(t, *(ProtobufCMessage *const *)v, ind + 2);
	indent(t, ind);
	put(t, "}\n", 2);
}

/*
 * A map field: protoc makes it a repeated message field whose type is
 * the nested <FieldName>Entry with key = 1 and value = 2.
 */
static bool
is_map(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	char want[256];
	size_t k = 0;
	const char *s;
	bool up = true;

	if (f->type != PROTOBUF_C_TYPE_MESSAGE ||
	    f->label != PROTOBUF_C_LABEL_REPEATED || d->n_fields != 2 ||
	    d->fields[0].id != 1 || d->fields[1].id != 2 ||
	    strcmp(d->fields[0].name, "key") != 0 ||
	    strcmp(d->fields[1].name, "value") != 0)
		return false;
	for (s = f->name; *s != '\0' && k < sizeof(want) - 6; s++) {
		if (*s == '_') {
			up = true;
			continue;
		}
		want[k++] = up && *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s;
		up = *s >= '0' && *s <= '9';
	}
	memcpy(want + k, "Entry", 6);
	return strcmp(d->short_name, want) == 0;
}

struct entry {
	const ProtobufCMessage *m;
	int kind; /* 0 string, 1 signed, 2 unsigned */
	const char *s;
	int64_t i;
	uint64_t u;
};

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->kind == 0)
		return strcmp(x->s, y->s);
	if (x->kind == 1)
		return (x->i > y->i) - (x->i < y->i);
	return (x->u > y->u) - (x->u < y->u);
}

/* text_format sorts map entries by key, and always shows the value. */
static void
print_map(struct tf *t, const ProtobufCFieldDescriptor *f,
    ProtobufCMessage *const *ms, size_t n, int ind)
{
	const ProtobufCMessageDescriptor *d = f->descriptor;
	const ProtobufCFieldDescriptor *kf = &d->fields[0];
	const ProtobufCFieldDescriptor *vf = &d->fields[1];
	struct entry *e;
	const char *base;
	size_t i;

	if ((e = calloc(n, sizeof(*e))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (i = 0; i < n; i++) {
		base = (const char *)ms[i];
		e[i].m = ms[i];
		switch (kf->type) {
		case PROTOBUF_C_TYPE_STRING:
			e[i].s = *(char *const *)(base + kf->offset);
			if (e[i].s == NULL)
				e[i].s = "";
			break;
		case PROTOBUF_C_TYPE_INT32:
		case PROTOBUF_C_TYPE_SINT32:
		case PROTOBUF_C_TYPE_SFIXED32:
			e[i].kind = 1;
			e[i].i = *(const int32_t *)(base + kf->offset);
			break;
		case PROTOBUF_C_TYPE_INT64:
		case PROTOBUF_C_TYPE_SINT64:
		case PROTOBUF_C_TYPE_SFIXED64:
			e[i].kind = 1;
			e[i].i = *(const int64_t *)(base + kf->offset);
			break;
		case PROTOBUF_C_TYPE_BOOL:
			e[i].kind = 2;
			e[i].u = *(const protobuf_c_boolean *)(base +
				     kf->offset) != 0;
			break;
		default:
			e[i].kind = 2;
			e[i].u = elem_size(kf->type) == sizeof(uint64_t) ?
			    *(const uint64_t *)(base + kf->offset) :
			    *(const uint32_t *)(base + kf->offset);
		}
	}
	qsort(e, n, sizeof(*e), entry_cmp);
	for (i = 0; i < n; i++) {
		base = (const char *)e[i].m;
		indent(t, ind);
		puts_(t, f->name);
		put(t, " {\n", 3);
		if (present(kf, e[i].m))
			print_field(t, kf, base + kf->offset, ind + 2);
		if (vf->type == PROTOBUF_C_TYPE_MESSAGE || present(vf, e[i].m))
			print_field(t, vf, base + vf->offset, ind + 2);
		indent(t, ind);
		put(t, "}\n", 2);
	}
	free(e);
}

/* An Any of a known type that decodes exactly: "[url] {\n...}\n". */
static bool
print_any_expanded(struct tf *t, const Google__Protobuf__Any *any, int ind)
{
	ProtobufCMessage *m = pbtype_unpack_any(any, NULL, true);

	if (m == NULL)
		return false;
	indent(t, ind);
	put(t, "[", 1);
	puts_(t, any->type_url);
	put(t, "] {\n", 4);
	print_message(t, m, ind + 2);
	indent(t, ind);
	put(t, "}\n", 2);
	protobuf_c_message_free_unpacked(m, NULL);
	return true;
}

static void
print_message(struct tf *t, const ProtobufCMessage *m, int ind)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	const char *base = (const char *)m, *arr;
	size_t i, k, n;

	if (d == &google__protobuf__any__descriptor &&
	    print_any_expanded(t, (const Google__Protobuf__Any *)m, ind))
		return;
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			if (present(f, m))
				print_field(t, f, base + f->offset, ind);
			continue;
		}
		n = *(const size_t *)(base + f->quantifier_offset);
		arr = *(const char *const *)(base + f->offset);
		if (n == 0 || arr == NULL)
			continue;
		if (is_map(f)) {
			print_map(t, f, (ProtobufCMessage *const *)arr, n, ind);
			continue;
		}
		for (k = 0; k < n; k++)
			print_field(t, f, arr + k * elem_size(f->type), ind);
	}
}

/* The text format of m, NUL-terminated, in malloc'd memory. */
char *
textformat(const ProtobufCMessage *m, size_t *lenp)
{
	struct tf t = { 0 };

	put(&t, "", 0);
	print_message(&t, m, 0);
	if (lenp != NULL)
		*lenp = t.len;
	return t.p;
}

/*
 * What an Any holds, as text: the message itself when we know its
 * type and it decodes exactly, else the Any (type_url and value).
 */
char *
textformat_any(const Google__Protobuf__Any *any, size_t *lenp)
{
	ProtobufCMessage *m = pbtype_unpack_any(any, NULL, true);
	char *s;

	if (m == NULL)
		return textformat(&any->base, lenp);
	s = textformat(m, lenp);
	protobuf_c_message_free_unpacked(m, NULL);
	return s;
}

/* s[0..n) quoted and escaped as the text format writes strings. */
void
textformat_quote(struct strbuf *b, const uint8_t *s, size_t n)
{
	struct tf t = { NULL, 0, 0 };

	put_escaped(&t, s, n);
	strbuf_add(b, t.p, t.len);
	free(t.p);
}
