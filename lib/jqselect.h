/*
 * The jq programs of the form select(attribute comparisons), decided
 * on our own parse of an event's JSON form with jq's meaning, without
 * jq's interpreter (jqselect.c says which).
 */
#ifndef EVPIPE_JQSELECT_H
#define EVPIPE_JQSELECT_H

#include <stdbool.h>

struct jqselect;
struct jv;

/* NULL when the program is not of that form (jq runs it). */
struct jqselect *jqselect_compile(const char *);
/* Whether select keeps the event (a JSON object). */
bool jqselect_keeps(const struct jqselect *, const struct jv *);
void jqselect_free(struct jqselect *);

#endif
