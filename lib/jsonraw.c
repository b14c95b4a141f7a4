#include "config.h"

#include <string.h>

#include "jsonraw.h"

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
