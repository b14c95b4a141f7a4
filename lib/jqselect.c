/*
 * jqselect: the jq programs evjq(1) decides without jq's interpreter.
 * A filter by attributes, select(.type == "x" and .source != "/y"),
 * is most of what runs in the middle of a pipeline, and for it libjq
 * costs more than everything else evjq does.  The program is compiled
 * by jq all the same (its errors are jq's); when it has this form it
 * is also read here, and decided on our own parse of the same JSON
 * text jq would see, with jq's meaning:
 *   select(C)  the input if C is true, else nothing
 *   C          C or C | C and C | (C) | X == X | X != X
 *   X          .name | ."name" | "string" | number | true | false | null
 * `and` binds tighter than `or`; .name of an absent member is null;
 * == is jq's equality (strings by their bytes, numbers as doubles, and
 * values of different kinds are different).  Anything else (a member
 * of a member, variables, other operators, interpolation) is left to
 * jq.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jqselect.h"
#include "jsonraw.h"
#include "xalloc.h"

enum node_kind { N_OR, N_AND, N_EQ, N_NE, N_MEMBER, N_VALUE };

struct node {
	enum node_kind kind;
	struct node *l, *r;
	char *name; /* N_MEMBER */
	size_t namelen;
	const struct jv *value; /* N_VALUE, in the arena */
};

struct jqselect {
	struct arena arena;
	struct node *cond;
};

struct reader {
	struct jqselect *js;
	const char *p;
	bool bad;
};

static void
ws(struct reader *r)
{
	while (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')
		r->p++;
}

static bool
ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* The keyword kw, standing alone, next; taken if so. */
static bool
keyword(struct reader *r, const char *kw)
{
	size_t n = strlen(kw);

	ws(r);
	if (strncmp(r->p, kw, n) != 0 || ident_char(r->p[n]))
		return false;
	r->p += n;
	return true;
}

static bool
punct(struct reader *r, const char *s)
{
	size_t n = strlen(s);

	ws(r);
	if (strncmp(r->p, s, n) != 0)
		return false;
	r->p += n;
	return true;
}

static struct node *
node(struct reader *r, enum node_kind kind, struct node *l, struct node *rt)
{
	struct node *n = arena_zalloc(&r->js->arena, sizeof(*n));

	n->kind = kind;
	n->l = l;
	n->r = rt;
	return n;
}

/*
 * A jq string literal that means what its JSON reading means: one
 * without interpolation \( and that our strict parser takes.
 */
static const struct jv *
string_literal(struct reader *r)
{
	const char *start = r->p, *s = r->p + 1;

	for (; *s != '"'; s++) {
		if (*s == '\0' || (*s == '\\' && s[1] == '('))
			return NULL;
		if (*s == '\\')
			s++;
	}
	r->p = s + 1;
	return jv_parse(&r->js->arena, start, (size_t)(r->p - start), NULL, 0);
}

/* A number as jq's lexer takes it: digits, a fraction, an exponent. */
static const struct jv *
number_literal(struct reader *r)
{
	const char *start = r->p;
	char *text;
	struct jv *v;

	while (isdigit((unsigned char)*r->p))
		r->p++;
	if (*r->p == '.')
		for (r->p++; isdigit((unsigned char)*r->p);)
			r->p++;
	if ((*r->p == 'e' || *r->p == 'E') &&
	    (isdigit((unsigned char)r->p[1]) ||
		((r->p[1] == '+' || r->p[1] == '-') &&
		    isdigit((unsigned char)r->p[2]))))
		for (r->p += 2; isdigit((unsigned char)*r->p);)
			r->p++;
	if (r->p == start || (r->p - start == 1 && *start == '.') ||
	    ident_char(*r->p))
		return NULL;
	text = arena_strndup(&r->js->arena, start, (size_t)(r->p - start));
	v = arena_zalloc(&r->js->arena, sizeof(*v));
	v->kind = JV_NUMBER;
	v->raw = text; /* read with strtod, as jq reads its literals */
	v->rawlen = strlen(text);
	return v;
}

static struct node *
operand(struct reader *r)
{
	static const char *const words[] = { "true", "false", "null" };
	struct node *n;
	const struct jv *s;
	size_t i;

	ws(r);
	if (r->p[0] == '.' && r->p[1] == '"') {
		r->p++;
		if ((s = string_literal(r)) == NULL || s->kind != JV_STRING)
			return NULL;
		n = node(r, N_MEMBER, NULL, NULL);
		n->name = (char *)s->str;
		n->namelen = s->len;
		return n;
	}
	if (r->p[0] == '.' &&
	    (isalpha((unsigned char)r->p[1]) || r->p[1] == '_')) {
		const char *start = ++r->p;

		while (ident_char(*r->p))
			r->p++;
		n = node(r, N_MEMBER, NULL, NULL);
		n->namelen = (size_t)(r->p - start);
		n->name = arena_strndup(&r->js->arena, start, n->namelen);
		/* .a.b, .a[0], .a? are not members of the input */
		return *r->p == '.' || *r->p == '[' || *r->p == '?' ? NULL : n;
	}
	if (*r->p == '"')
		s = string_literal(r);
	else if (isdigit((unsigned char)*r->p) || *r->p == '.')
		s = number_literal(r);
	else
		for (s = NULL, i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (keyword(r, words[i])) {
				s = jv_parse(&r->js->arena, words[i],
				    strlen(words[i]), NULL, 0);
				break;
			}
	if (s == NULL)
		return NULL;
	n = node(r, N_VALUE, NULL, NULL);
	n->value = s;
	return n;
}

static struct node *disjunction(struct reader *);

static struct node *
comparison(struct reader *r)
{
	struct node *l, *rt;
	enum node_kind k;

	if (punct(r, "(")) {
		l = disjunction(r);
		return l != NULL && punct(r, ")") ? l : NULL;
	}
	if ((l = operand(r)) == NULL)
		return NULL;
	if (punct(r, "=="))
		k = N_EQ;
	else if (punct(r, "!="))
		k = N_NE;
	else
		return NULL;
	if ((rt = operand(r)) == NULL)
		return NULL;
	return node(r, k, l, rt);
}

/* next (kw next)*, joined left to right into nodes of kind. */
static struct node *
joined(struct reader *r, struct node *(*next)(struct reader *), const char *kw,
    enum node_kind kind)
{
	struct node *n = next(r), *rt;

	while (n != NULL && keyword(r, kw))
		n = (rt = next(r)) != NULL ? node(r, kind, n, rt) : NULL;
	return n;
}

static struct node *
conjunction(struct reader *r)
{
	return joined(r, comparison, "and", N_AND);
}

static struct node *
disjunction(struct reader *r)
{
	return joined(r, conjunction, "or", N_OR);
}

struct jqselect *
jqselect_compile(const char *program)
{
	struct jqselect *js = xcalloc(1, sizeof(*js));
	struct reader r = { js, program, false };

	arena_init(&js->arena);
	if (keyword(&r, "select") && punct(&r, "(") &&
	    (js->cond = disjunction(&r)) != NULL && punct(&r, ")")) {
		ws(&r);
		if (*r.p == '\0')
			return js;
	}
	jqselect_free(js);
	return NULL;
}

/* Of a name given twice, jq keeps the last. */
static const struct jv *
member(const struct jv *obj, const char *name, size_t len)
{
	const struct jv *m, *found = NULL;

	for (m = obj->child; m != NULL; m = m->next)
		if (m->keylen == len && memcmp(m->key, name, len) == 0)
			found = m;
	return found;
}

/* The operand's value, or NULL for jq's null. */
static const struct jv *
value_of(const struct node *n, const struct jv *event)
{
	const struct jv *v;

	if (n->kind == N_VALUE)
		v = n->value;
	else
		v = member(event, n->name, n->namelen);
	return v != NULL && v->kind == JV_NULL ? NULL : v;
}

static bool equal(const struct jv *, const struct jv *);

/* Objects are equal when their members are, in any order. */
static bool
equal_objects(const struct jv *a, const struct jv *b)
{
	const struct jv *m, *other;
	size_t na = 0, nb = 0;

	for (m = a->child; m != NULL; m = m->next) {
		if (member(a, m->key, m->keylen) != m)
			continue; /* a name given again later */
		na++;
		other = member(b, m->key, m->keylen);
		if (other == NULL || !equal(m, other))
			return false;
	}
	for (m = b->child; m != NULL; m = m->next)
		nb += member(b, m->key, m->keylen) == m;
	return na == nb;
}

static bool
equal(const struct jv *a, const struct jv *b)
{
	const struct jv *x, *y;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case JV_NUMBER:
		return strtod(a->raw, NULL) == strtod(b->raw, NULL);
	case JV_STRING:
		return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
	case JV_ARRAY:
		if (a->n != b->n)
			return false;
		for (x = a->child, y = b->child; x != NULL;
		     x = x->next, y = y->next)
			if (!equal(x, y))
				return false;
		return true;
	case JV_OBJECT:
		return equal_objects(a, b);
	default:
		return true;
	}
}

static bool
truth(const struct node *n, const struct jv *event)
{
	switch (n->kind) {
	case N_OR:
		return truth(n->l, event) || truth(n->r, event);
	case N_AND:
		return truth(n->l, event) && truth(n->r, event);
	case N_EQ:
		return equal(value_of(n->l, event), value_of(n->r, event));
	case N_NE:
		return !equal(value_of(n->l, event), value_of(n->r, event));
	default:
		return false;
	}
}

bool
jqselect_keeps(const struct jqselect *js, const struct jv *event)
{
	return truth(js->cond, event);
}

void
jqselect_free(struct jqselect *js)
{
	if (js == NULL)
		return;
	arena_free(&js->arena);
	free(js);
}
