/*
 * A jq program run over one JSON value at a time, through libjq.  The
 * jq types stay in jqstage.c: libjq's jv and our jsonraw's jv share a
 * name.
 */
#ifndef EVPIPE_JQSTAGE_H
#define EVPIPE_JQSTAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "strbuf.h"

struct jqstage;

enum {
	JQ_OUT_VALUE = 1, /* a value, as compact JSON, in the buffer */
	JQ_OUT_SAME = 2, /* the input itself, unchanged */
	JQ_OUT_END = 0, /* no more values for this input */
	JQ_OUT_ERROR = -1, /* the program failed; see err */
};

struct jqstage *jqstage_new(void);
/* --arg (json false) and --argjson (json true); -1 with err if bad. */
int jqstage_arg(
    struct jqstage *, const char *, const char *, bool, char *, size_t);
int jqstage_compile(struct jqstage *, const char *, char *, size_t);
/* Whether the program is decided without jq's interpreter (jqselect). */
bool jqstage_selects(const struct jqstage *);
/*
 * Start the program on one JSON text, which must stay as it is until
 * the last output: an output whose "data" is equal to the input's gets
 * the input's text of it again, so its numbers are not rounded to
 * doubles.
 */
int jqstage_start(struct jqstage *, const char *, size_t, char *, size_t);
/* The next output; JQ_OUT_VALUE: compact JSON of the value in out. */
int jqstage_next(struct jqstage *, struct strbuf *, char *, size_t);
void jqstage_free(struct jqstage *);

#endif
