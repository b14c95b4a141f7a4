/*
 * jqstage: the jq language over one value at a time, as evjq(1) runs
 * it.  jq 1.6 keeps numbers as doubles; data that the program leaves
 * as it was is written with the input's own bytes instead.
 */
#include "config.h"

#include <jq.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jqselect.h"
#include "jqstage.h"
#include "jsonraw.h" /* after jq.h: it renames our jv_parse */
#include "xalloc.h"

struct jqstage {
	jq_state *jq;
	jv named; /* --arg, --argjson: name -> value */
	jv in; /* the value the program runs on; jv_null() between */
	jv indata; /* its "data" member, or invalid */
	const char *rawdata;
	size_t rawlen;
	bool running;
	struct jqselect *select; /* the program, when jq is not needed */
	bool decided, kept; /* it decided on the input; what */
	struct arena scratch; /* our parse of the input */
	struct strbuf msgs; /* compile errors, as jq reports them */
};

/* Fires for each compile error jq reports; msg is ours to free. */
static void
on_jq_error(void *ctx, jv msg)
{
	struct jqstage *s = ctx;

	msg = jq_format_error(msg);
	if (s->msgs.len > 0)
		strbuf_adds(&s->msgs, "; ");
	strbuf_adds(&s->msgs, jv_string_value(msg));
	jv_free(msg);
}

struct jqstage *
jqstage_new(void)
{
	struct jqstage *s = xcalloc(1, sizeof(*s));

	if ((s->jq = jq_init()) == NULL) {
		free(s);
		return NULL;
	}
	jq_set_error_cb(s->jq, on_jq_error, s);
	s->named = jv_object();
	s->in = jv_null();
	s->indata = jv_invalid();
	arena_init(&s->scratch);
	return s;
}

int
jqstage_arg(struct jqstage *s, const char *name, const char *value, bool json,
    char *err, size_t errlen)
{
	jv v;

	if (!json) {
		v = jv_string(value);
	} else if (!jv_is_valid(
		       v = jv_parse_sized(value, (int)strlen(value)))) {
		jv msg = jv_invalid_get_msg(v);

		snprintf(err, errlen, "--argjson %s: %s", name,
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
							 "not JSON");
		jv_free(msg);
		return -1;
	}
	s->named = jv_object_set(s->named, jv_string(name), v);
	return 0;
}

int
jqstage_compile(
    struct jqstage *s, const char *program, char *err, size_t errlen)
{
	jv args, ARGS;

	/* As jq(1) has them: each name, and $ARGS.named with them all. */
	ARGS = jv_object_set(jv_object(), jv_string("positional"), jv_array());
	ARGS = jv_object_set(ARGS, jv_string("named"), jv_copy(s->named));
	args = jv_object_set(jv_copy(s->named), jv_string("ARGS"), ARGS);
	strbuf_reset(&s->msgs);
	if (!jq_compile_args(s->jq, program, args)) {
		snprintf(err, errlen, "%s",
		    s->msgs.len > 0 ? s->msgs.p :
				      "the program does not compile");
		return -1;
	}
	if (getenv("EVPIPE_JQ_INTERPRET") == NULL)
		s->select = jqselect_compile(program);
	return 0;
}

bool
jqstage_selects(const struct jqstage *s)
{
	return s->select != NULL;
}

static void
clear_input(struct jqstage *s)
{
	jv_free(s->in);
	jv_free(s->indata);
	s->in = jv_null();
	s->indata = jv_invalid();
	s->rawdata = NULL;
	s->decided = s->running = false;
}

/*
 * Our parse tree as jq's value.  jq 1.6 holds numbers as doubles, read
 * as its parser reads them (correctly rounded, as strtod is).
 */
static jv
to_jq(const struct jv *t)
{
	const struct jv *m;
	jv v;

	switch (t->kind) {
	case JV_NULL:
		return jv_null();
	case JV_FALSE:
		return jv_false();
	case JV_TRUE:
		return jv_true();
	case JV_NUMBER:
		return jv_number(strtod(t->raw, NULL));
	case JV_STRING:
		return jv_string_sized(t->str, (int)t->len);
	case JV_ARRAY:
		v = jv_array_sized((int)t->n);
		for (m = t->child; m != NULL; m = m->next)
			v = jv_array_append(v, to_jq(m));
		return v;
	case JV_OBJECT:
	default:
		v = jv_object();
		for (m = t->child; m != NULL; m = m->next)
			v = jv_object_set(v,
			    jv_string_sized(m->key, (int)m->keylen), to_jq(m));
		return v;
	}
}

int
jqstage_start(
    struct jqstage *s, const char *text, size_t len, char *err, size_t errlen)
{
	const struct jv *t, *data;
	const char *raw;
	size_t rawlen;
	jv v;

	clear_input(s);
	if (len > INT32_MAX) {
		snprintf(err, errlen, "too long for jq");
		return -1;
	}
	/*
	 * Ours is the faster parser; what it refuses (\u0000, a lone
	 * surrogate) jq's own reads as jq(1) would.
	 */
	arena_reset(&s->scratch);
	t = jv_parse(&s->scratch, text, len, NULL, 0);
	if (t != NULL && t->kind == JV_OBJECT && s->select != NULL) {
		s->kept = jqselect_keeps(s->select, t);
		s->decided = s->running = true;
		return 0;
	}
	v = t != NULL ? to_jq(t) : jv_parse_sized(text, (int)len);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);

		snprintf(err, errlen, "jq cannot read it: %s",
		    jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) :
							 "invalid");
		jv_free(msg);
		return -1;
	}
	s->in = v;
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		if (t != NULL && (data = jv_member(t, "data")) != NULL) {
			s->rawdata = data->raw;
			s->rawlen = data->rawlen;
		} else if (t == NULL &&
		    json_member_raw(text, len, "data", &raw, &rawlen)) {
			s->rawdata = raw;
			s->rawlen = rawlen;
		}
		if (s->rawdata != NULL)
			s->indata = jv_object_get(
			    jv_copy(v), jv_string("data"));
	}
	jq_start(s->jq, jv_copy(v), 0);
	s->running = true;
	return 0;
}

/* A string as jq 1.6 writes it (jv_print.c, jvp_dump_string). */
static void
put_string(struct strbuf *o, jv v)
{
	static const char hexd[] = "0123456789abcdef";
	static const char named[128] = { ['"'] = '"',
		['\\'] = '\\',
		['\b'] = 'b',
		['\f'] = 'f',
		['\n'] = 'n',
		['\r'] = 'r',
		['\t'] = 't' };
	const char *p = jv_string_value(v), *run;
	const char *end = p + jv_string_length_bytes(jv_copy(v));
	unsigned char c;

	strbuf_addc(o, '"');
	for (run = p; p < end; p++) {
		c = (unsigned char)*p;
		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		strbuf_add(o, run, (size_t)(p - run));
		run = p + 1;
		strbuf_addc(o, '\\');
		if (named[c] != '\0') {
			strbuf_addc(o, named[c]);
		} else {
			strbuf_adds(o, "u00");
			strbuf_addc(o, hexd[c >> 4]);
			strbuf_addc(o, hexd[c & 15]);
		}
	}
	strbuf_add(o, run, (size_t)(p - run));
	strbuf_addc(o, '"');
}

/*
 * A value as compact JSON, byte for byte as jq 1.6 writes it (jq -c),
 * without its printer's cost: jv_dump_string was a third of the time
 * of a program that changes events.  Numbers other than plain integers
 * are still jq's own writing.
 */
static void
put_value(struct strbuf *o, jv v)
{
	double d;
	jv text;
	int i, n, it;
	bool first = true;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		strbuf_adds(o, "null");
		break;
	case JV_KIND_TRUE:
		strbuf_adds(o, "true");
		break;
	case JV_KIND_FALSE:
		strbuf_adds(o, "false");
		break;
	case JV_KIND_STRING:
		put_string(o, v);
		break;
	case JV_KIND_NUMBER:
		/* jq writes an integer below 1e16 as its digits (in range
		 * before the cast: out of it, the cast is undefined). */
		d = jv_number_value(v);
		if (d > -1e15 && d < 1e15 && d == (double)(long long)d &&
		    !(d == 0 && signbit(d))) {
			strbuf_addf(o, "%lld", (long long)d);
			break;
		}
		text = jv_dump_string(jv_copy(v), 0);
		strbuf_adds(o, jv_string_value(text));
		jv_free(text);
		break;
	case JV_KIND_ARRAY:
		strbuf_addc(o, '[');
		n = jv_array_length(jv_copy(v));
		for (i = 0; i < n; i++) {
			jv e = jv_array_get(jv_copy(v), i);

			if (i > 0)
				strbuf_addc(o, ',');
			put_value(o, e);
			jv_free(e);
		}
		strbuf_addc(o, ']');
		break;
	case JV_KIND_OBJECT:
		/* In jq's own order: jv_dump_term walks jv_object_iter too. */
		strbuf_addc(o, '{');
		for (it = jv_object_iter(v); jv_object_iter_valid(v, it);
		     it = jv_object_iter_next(v, it)) {
			jv key = jv_object_iter_key(v, it);
			jv val = jv_object_iter_value(v, it);

			if (!first)
				strbuf_addc(o, ',');
			first = false;
			put_string(o, key);
			strbuf_addc(o, ':');
			put_value(o, val);
			jv_free(key);
			jv_free(val);
		}
		strbuf_addc(o, '}');
		break;
	default:
		strbuf_adds(o, "null"); /* invalid: not an output */
	}
}

/*
 * The value as compact JSON; its "data", when equal to the input's,
 * from the input's own text (put last: members are named, not placed).
 */
static void
dump(struct jqstage *s, jv v, struct strbuf *out)
{
	jv data;
	bool same = false;

	if (s->rawdata != NULL && jv_get_kind(v) == JV_KIND_OBJECT) {
		data = jv_object_get(jv_copy(v), jv_string("data"));
		same = jv_is_valid(data) && jv_equal(data, jv_copy(s->indata));
	}
	if (same)
		v = jv_object_delete(v, jv_string("data"));
	put_value(out, v);
	jv_free(v);
	if (same) {
		out->len--; /* the closing brace */
		strbuf_adds(out, out->len > 1 ? ",\"data\":" : "\"data\":");
		strbuf_add(out, s->rawdata, s->rawlen);
		strbuf_addc(out, '}');
	}
}

int
jqstage_next(struct jqstage *s, struct strbuf *out, char *err, size_t errlen)
{
	jv v, msg;

	if (!s->running)
		return JQ_OUT_END;
	if (s->decided) {
		s->decided = s->running = false;
		return s->kept ? JQ_OUT_SAME : JQ_OUT_END;
	}
	v = jq_next(s->jq);
	if (jv_is_valid(v)) {
		strbuf_reset(out);
		if (jv_identical(jv_copy(v), jv_copy(s->in))) {
			jv_free(v);
			return JQ_OUT_SAME;
		}
		dump(s, v, out);
		return JQ_OUT_VALUE;
	}
	if (jq_halted(s->jq)) {
		/* halt, halt_error: jq(1) would exit; here the input ends. */
		jv code = jq_get_exit_code(s->jq);
		bool failed = jv_is_valid(code) &&
		    !(jv_get_kind(code) == JV_KIND_NUMBER &&
			jv_number_value(code) == 0);

		jv_free(code);
		msg = jq_get_error_message(s->jq);
		jv_free(v);
		clear_input(s);
		if (failed) {
			snprintf(err, errlen, "halt_error: %s",
			    jv_get_kind(msg) == JV_KIND_STRING ?
				jv_string_value(msg) :
				"the program halted with an error");
			jv_free(msg);
			return JQ_OUT_ERROR;
		}
		jv_free(msg);
		return JQ_OUT_END;
	}
	if (!jv_invalid_has_msg(jv_copy(v))) {
		jv_free(v);
		clear_input(s);
		return JQ_OUT_END;
	}
	msg = jv_invalid_get_msg(v);
	if (jv_get_kind(msg) == JV_KIND_STRING) {
		snprintf(err, errlen, "jq: error: %s", jv_string_value(msg));
	} else {
		jv text = jv_dump_string(msg, 0);

		snprintf(err, errlen, "jq: error (not a string): %s",
		    jv_string_value(text));
		msg = text;
	}
	jv_free(msg);
	clear_input(s);
	return JQ_OUT_ERROR;
}

void
jqstage_free(struct jqstage *s)
{
	if (s == NULL)
		return;
	clear_input(s);
	jv_free(s->named);
	jq_teardown(&s->jq);
	jqselect_free(s->select);
	arena_free(&s->scratch);
	strbuf_free(&s->msgs);
	free(s);
}
