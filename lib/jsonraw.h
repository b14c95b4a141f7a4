/*
 * JSON text kept as it was written.  cJSON turns numbers into doubles,
 * which would change large integers passed through (an event's JSON
 * data, an action's input, a handler's payload, an int64 of protobuf
 * data), so evcat and the tools that pass JSON on parse it here:
 * strictly by RFC 8259 (nothing cJSON lets through that JSON does not
 * allow), into a tree whose every value remembers its text.
 */
#ifndef EVPIPE_JSONRAW_H
#define EVPIPE_JSONRAW_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "strbuf.h"

enum jv_kind {
	JV_NULL,
	JV_FALSE,
	JV_TRUE,
	JV_NUMBER,
	JV_STRING,
	JV_ARRAY,
	JV_OBJECT
};

struct jv {
	enum jv_kind kind;
	const char *raw; /* the value's text as written */
	size_t rawlen;
	const char *key; /* in an object: the member's name, decoded */
	size_t keylen;
	const char *str; /* JV_STRING: the value, decoded, NUL-terminated */
	size_t len;
	struct jv *child; /* JV_ARRAY, JV_OBJECT: the first member */
	struct jv *next; /* the next member of the same array or object */
	size_t n; /* JV_ARRAY, JV_OBJECT: how many members */
};

#define JSON_MAX_DEPTH 256

/*
 * Parse one JSON text (a value, with whitespace around it) into nodes
 * in the arena; NULL with err ("bad JSON at column N: why", or "not
 * UTF-8 text") when it is not one.  Strings must decode to UTF-8
 * without NUL: raw control characters, lone surrogates and \u0000 are
 * refused.
 */
/*
 * libjq exports jv_parse and calls it through its PLT: a program that
 * links both (evjq) must not interpose ours on it, so ours has its own
 * link name.
 */
#define jv_parse evp_json_parse
struct jv *jv_parse(struct arena *, const char *, size_t, char *, size_t);
/* The first member of an object with that name, or NULL. */
const struct jv *jv_member(const struct jv *, const char *);
/* Whether the text of a value holds a line break (it has whitespace). */
bool jv_has_newline(const struct jv *);

/* s[0..n) as a JSON string, quoted and escaped, to b. */
void json_put_string(struct strbuf *, const char *, size_t);

bool json_member_raw(
    const char *, size_t, const char *, const char **, size_t *);

#endif
