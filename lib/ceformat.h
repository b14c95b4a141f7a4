/*
 * One-line views of events (evcat -f), as kcat -f writes them: a
 * template of text, %-escapes for attributes and data, and \n \t \r \\
 * escapes.  A template is compiled once and then expanded per event.
 */
#ifndef EVPIPE_CEFORMAT_H
#define EVPIPE_CEFORMAT_H

#include <stddef.h>

#include "cejson.h"
#include "cloudevent.h"
#include "strbuf.h"

struct ceformat;

/* NULL with err (naming the column) when the template is bad. */
struct ceformat *ceformat_compile(const char *, char *, size_t);
void ceformat_free(struct ceformat *);
/* Append the expansion for one event. */
int ceformat_expand(const struct ceformat *, struct ce_json *,
    const CloudEvent *, struct strbuf *, char *, size_t);

#endif
