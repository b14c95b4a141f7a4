#include "config.h"

#include <stdbool.h>
#include <string.h>

#include "errf.h"
#include "jsonraw.h"
#include "utf8.h"

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p is at a '"': the position after the closing quote. */
static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end && *p != '"'; p++)
		if (*p == '\\')
			p++;
	return p < end ? p + 1 : end;
}

static const char *
skip_value(const char *p, const char *end)
{
	int depth = 0;

	do {
		if (p >= end)
			return end;
		if (*p == '"') {
			p = skip_string(p, end);
			continue;
		}
		if (*p == '{' || *p == '[')
			depth++;
		else if (*p == '}' || *p == ']')
			depth--;
		else if (depth == 0) {
			/* a number, true, false or null */
			while (p < end && strchr(",}] \t\r\n", *p) == NULL)
				p++;
			return p;
		}
		p++;
	} while (depth > 0);
	return p;
}

/*
 * Find the first member named key (written without escapes) of the
 * object in s; its value's text is [*start, *start + *len).
 */
bool
json_member_raw(
    const char *s, size_t n, const char *key, const char **start, size_t *len)
{
	const char *p = s, *end = s + n, *k, *ke, *v;
	size_t klen = strlen(key);

	p = skip_ws(p, end);
	if (p == end || *p != '{')
		return false;
	for (p++;;) {
		p = skip_ws(p, end);
		if (p == end || *p != '"')
			return false;
		k = p + 1;
		ke = skip_string(p, end) - 1; /* the closing quote */
		p = skip_ws(ke + 1, end);
		if (p == end || *p != ':')
			return false;
		v = skip_ws(p + 1, end);
		p = skip_value(v, end);
		if ((size_t)(ke - k) == klen && memcmp(k, key, klen) == 0) {
			*start = v;
			*len = (size_t)(p - v);
			return true;
		}
		p = skip_ws(p, end);
		if (p == end || *p != ',')
			return false;
		p++;
	}
}

/* --- a strict RFC 8259 parser ------------------------------------------ */

struct jparse {
	struct arena *a;
	const char *s, *p, *end;
	char *err;
	size_t errlen;
	int depth;
};

static int
jfail(struct jparse *j, const char *why)
{
	/* A raw NUL is never JSON, wherever it is: say so, not the symptom. */
	if (j->p < j->end && *j->p == '\0')
		why = "a NUL byte";
	return errf(j->err, j->errlen, "bad JSON at column %zu: %s",
	    (size_t)(j->p - j->s) + 1, why);
}

static int
jfail_at(struct jparse *j, const char *at, const char *why)
{
	j->p = at;
	return jfail(j, why);
}

static void
jws(struct jparse *j)
{
	while (j->p < j->end &&
	    (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int
hex4(const char *p, unsigned *v)
{
	unsigned x = 0;
	int i;

	for (i = 0; i < 4; i++) {
		x <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			x |= (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			x |= (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			x |= (unsigned)(p[i] - 'A' + 10);
		else
			return -1;
	}
	*v = x;
	return 0;
}

static size_t
put_utf8(char *o, unsigned c)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | c >> 12);
		o[1] = (char)(0x80 | (c >> 6 & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | c >> 18);
	o[1] = (char)(0x80 | (c >> 12 & 0x3f));
	o[2] = (char)(0x80 | (c >> 6 & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* j->p is at the opening quote; the decoded string goes to *out. */
static int
jstring(struct jparse *j, const char **out, size_t *outlen)
{
	const char *start = ++j->p, *q, *bs;
	bool plain = true;
	unsigned c, lo;
	char *o, *d;

	/* Most strings have no escapes: find the end first. */
	for (q = start; q < j->end && *q != '"'; q++) {
		if ((unsigned char)*q < 0x20) {
			j->p = q;
			return jfail(j,
			    *q == '\0' ? "a NUL byte" :
					 "control character in a string");
		}
		if (*q == '\\') {
			plain = false;
			if (++q == j->end)
				break;
		}
	}
	if (q >= j->end) {
		j->p = j->end;
		return jfail(j, "unterminated string");
	}
	if (plain) {
		*out = arena_strndup(j->a, start, (size_t)(q - start));
		*outlen = (size_t)(q - start);
		j->p = q + 1;
		return 0;
	}
	/* An escape never decodes to more bytes than it is written in. */
	d = o = arena_alloc(j->a, (size_t)(q - start) + 1);
	for (j->p = start; *j->p != '"'; j->p++) {
		if (*j->p != '\\') {
			*d++ = *j->p;
			continue;
		}
		bs = j->p; /* errors point at the backslash */
		switch (*++j->p) {
		case '"':
		case '\\':
		case '/':
			*d++ = *j->p;
			break;
		case 'b':
			*d++ = '\b';
			break;
		case 'f':
			*d++ = '\f';
			break;
		case 'n':
			*d++ = '\n';
			break;
		case 'r':
			*d++ = '\r';
			break;
		case 't':
			*d++ = '\t';
			break;
		case 'u':
			if (j->end - j->p < 5 || hex4(j->p + 1, &c) < 0)
				return jfail_at(j, bs, "bad \\u escape");
			j->p += 4;
			if (c == 0)
				return jfail_at(j, bs,
				    "\\u0000 in a string is not supported");
			if (c >= 0xdc00 && c <= 0xdfff)
				return jfail_at(
				    j, bs, "lone surrogate in \\u escape");
			if (c >= 0xd800 && c <= 0xdbff) {
				if (j->end - j->p < 7 || j->p[1] != '\\' ||
				    j->p[2] != 'u' || hex4(j->p + 3, &lo) < 0 ||
				    lo < 0xdc00 || lo > 0xdfff)
					return jfail_at(j, bs,
					    "lone surrogate in \\u escape");
				j->p += 6;
				c = 0x10000 + ((c - 0xd800) << 10) +
				    (lo - 0xdc00);
			}
			d += put_utf8(d, c);
			break;
		default:
			return jfail_at(j, bs, "bad escape in a string");
		}
	}
	*d = '\0';
	*out = o;
	*outlen = (size_t)(d - o);
	j->p++;
	return 0;
}

static bool
digit(const struct jparse *j)
{
	return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

/* RFC 8259 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int
jnumber(struct jparse *j)
{
	if (*j->p == '-')
		j->p++;
	if (!digit(j))
		return jfail(j, "bad number");
	if (*j->p++ == '0' && digit(j))
		return jfail(j, "bad number (leading zero)");
	while (digit(j))
		j->p++;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (!digit(j))
			return jfail(j, "bad number");
		while (digit(j))
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (!digit(j))
			return jfail(j, "bad number");
		while (digit(j))
			j->p++;
	}
	return 0;
}

static int
jword(struct jparse *j, const char *w, size_t n)
{
	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
		return jfail(j, "unexpected character");
	j->p += n;
	return 0;
}

static int jvalue(struct jparse *, struct jv *);

/* j->p is at '[' or '{'. */
static int
jcontainer(struct jparse *j, struct jv *v, bool object)
{
	struct jv **tail = &v->child, *m;
	char close = object ? '}' : ']';

	if (++j->depth > JSON_MAX_DEPTH)
		return jfail(j, "nested too deeply");
	j->p++;
	jws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		j->depth--;
		return 0;
	}
	for (;;) {
		m = arena_zalloc(j->a, sizeof(*m));
		if (object) {
			if (j->p == j->end || *j->p != '"')
				return jfail(j, "expected a member name");
			if (jstring(j, &m->key, &m->keylen) < 0)
				return -1;
			jws(j);
			if (j->p == j->end || *j->p != ':')
				return jfail(j, "expected ':'");
			j->p++;
			jws(j);
		}
		if (jvalue(j, m) < 0)
			return -1;
		*tail = m;
		tail = &m->next;
		v->n++;
		jws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			jws(j);
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			j->depth--;
			return 0;
		}
		return jfail(
		    j, object ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

/* j->p is at the value (whitespace skipped). */
static int
jvalue(struct jparse *j, struct jv *v)
{
	int r;

	if (j->p == j->end)
		return jfail(j, "expected a value");
	v->raw = j->p;
	switch (*j->p) {
	case '{':
		v->kind = JV_OBJECT;
		r = jcontainer(j, v, true);
		break;
	case '[':
		v->kind = JV_ARRAY;
		r = jcontainer(j, v, false);
		break;
	case '"':
		v->kind = JV_STRING;
		r = jstring(j, &v->str, &v->len);
		break;
	case 't':
		v->kind = JV_TRUE;
		r = jword(j, "true", 4);
		break;
	case 'f':
		v->kind = JV_FALSE;
		r = jword(j, "false", 5);
		break;
	case 'n':
		v->kind = JV_NULL;
		r = jword(j, "null", 4);
		break;
	default:
		v->kind = JV_NUMBER;
		if (*j->p != '-' && !digit(j))
			return jfail(j, "unexpected character");
		r = jnumber(j);
		break;
	}
	v->rawlen = (size_t)(j->p - v->raw);
	return r;
}

struct jv *
jv_parse(struct arena *a, const char *s, size_t n, char *err, size_t errlen)
{
	struct jparse j = { a, s, s, s + n, err, errlen, 0 };
	struct jv *v;

	if (!utf8_valid(s, n)) {
		errf(err, errlen, "not UTF-8 text");
		return NULL;
	}
	v = arena_zalloc(a, sizeof(*v));
	jws(&j);
	if (jvalue(&j, v) < 0)
		return NULL;
	jws(&j);
	if (j.p != j.end) {
		jfail(&j, "text after the value");
		return NULL;
	}
	return v;
}

const struct jv *
jv_member(const struct jv *obj, const char *key)
{
	const struct jv *m;
	size_t n = strlen(key);

	if (obj == NULL || obj->kind != JV_OBJECT)
		return NULL;
	for (m = obj->child; m != NULL; m = m->next)
		if (m->keylen == n && memcmp(m->key, key, n) == 0)
			return m;
	return NULL;
}

/* Strings cannot hold raw line breaks: any in the text is whitespace. */
bool
jv_has_newline(const struct jv *v)
{
	return memchr(v->raw, '\n', v->rawlen) != NULL ||
	    memchr(v->raw, '\r', v->rawlen) != NULL;
}

void
json_put_string(struct strbuf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const char *run = s, *end = s + n;
	unsigned char c;
	char esc[6];

	strbuf_grow(b, n + 2);
	strbuf_addc(b, '"');
	for (; s < end; s++) {
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		strbuf_add(b, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':
			strbuf_add(b, "\\\"", 2);
			break;
		case '\\':
			strbuf_add(b, "\\\\", 2);
			break;
		case '\b':
			strbuf_add(b, "\\b", 2);
			break;
		case '\f':
			strbuf_add(b, "\\f", 2);
			break;
		case '\n':
			strbuf_add(b, "\\n", 2);
			break;
		case '\r':
			strbuf_add(b, "\\r", 2);
			break;
		case '\t':
			strbuf_add(b, "\\t", 2);
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hexd[c >> 4];
			esc[5] = hexd[c & 15];
			strbuf_add(b, esc, 6);
		}
	}
	strbuf_add(b, run, (size_t)(end - run));
	strbuf_addc(b, '"');
}
