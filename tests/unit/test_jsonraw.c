/* jsonraw: RFC 8259, strictly, with every value's text kept. */
#include "config.h"

#include <string.h>

#include "jsonraw.h"
#include "tap.h"

static struct arena A;

static void
good(const char *s, const char *what)
{
	char err[128] = "";
	struct jv *v = jv_parse(&A, s, strlen(s), err, sizeof(err));

	ok(v != NULL, "accepted: %s %s", what, err);
	arena_reset(&A);
}

static void
bad(const char *s, const char *want, const char *what)
{
	char err[128] = "";

	ok(jv_parse(&A, s, strlen(s), err, sizeof(err)) == NULL, "refused: %s",
	    what);
	is_str(err, want, "  message: %s", what);
	arena_reset(&A);
}

int
main(void)
{
	struct strbuf b = { 0 };
	const struct jv *v, *m;
	char err[128];

	arena_init(&A);
	good("0", "zero");
	good(" -0.5e+10 ", "a number with everything, spaces around");
	good("12345678901234567890", "a number no double holds");
	good("1e400", "a number out of double range");
	good("[]", "an empty array");
	good("{\"a\":{\"b\":[true,false,null]}}", "nesting");
	good("\"\\ud83d\\ude00 \\u00e9 \\/\"", "escapes and a surrogate pair");
	bad("01", "bad JSON at column 2: bad number (leading zero)",
	    "a leading zero");
	bad("+1", "bad JSON at column 1: unexpected character", "a plus sign");
	bad("1.", "bad JSON at column 3: bad number", "a bare point");
	bad(".5", "bad JSON at column 1: unexpected character",
	    "no integer part");
	bad("[1,]", "bad JSON at column 4: unexpected character",
	    "a trailing comma");
	bad("{\"a\" 1}", "bad JSON at column 6: expected ':'", "no colon");
	bad("\"\\ud800\"", "bad JSON at column 2: lone surrogate in \\u escape",
	    "a lone high surrogate");
	bad("\"\\udc00\"", "bad JSON at column 2: lone surrogate in \\u escape",
	    "a lone low surrogate");
	bad("\"a\\x\"", "bad JSON at column 3: bad escape in a string",
	    "an unknown escape");
	bad("\"a\nb\"", "bad JSON at column 3: control character in a string",
	    "a raw newline in a string");
	bad("\"a\\u0000\"",
	    "bad JSON at column 3: \\u0000 in a string is not supported",
	    "an escaped NUL");
	bad("NaN", "bad JSON at column 1: unexpected character", "NaN");
	bad("1 2", "bad JSON at column 3: text after the value", "two values");
	bad("\"abc", "bad JSON at column 5: unterminated string",
	    "an unterminated string");
	{
		char deep[2 * JSON_MAX_DEPTH + 8];

		memset(deep, '[', JSON_MAX_DEPTH + 1);
		memset(deep + JSON_MAX_DEPTH + 1, ']', JSON_MAX_DEPTH + 1);
		deep[2 * JSON_MAX_DEPTH + 2] = '\0';
		ok(jv_parse(&A, deep, strlen(deep), err, sizeof(err)) == NULL &&
			strstr(err, "nested too deeply") != NULL,
		    "nesting deeper than %d is refused", JSON_MAX_DEPTH);
		arena_reset(&A);
	}
	{
		char s[] = "{\"a\" : [1.50, \"x\"] , \"n\": -0 }";
		const char *raw = "[1.50, \"x\"]";

		v = jv_parse(&A, s, strlen(s), err, sizeof(err));
		m = jv_member(v, "a");
		ok(m != NULL && m->rawlen == strlen(raw) &&
			memcmp(m->raw, raw, m->rawlen) == 0,
		    "a member's text, exactly");
		m = jv_member(v, "n");
		ok(m != NULL && m->kind == JV_NUMBER && m->rawlen == 2,
		    "a number's text");
		ok(jv_member(v, "zz") == NULL, "no such member");
		arena_reset(&A);
	}
	json_put_string(&b, "a\"\\\n\x01\xc3\xa9", 7);
	is_str(b.p, "\"a\\\"\\\\\\n\\u0001\xc3\xa9\"", "strings escaped");
	strbuf_free(&b);
	arena_free(&A);
	return done_testing();
}
