/*
 * What pack-run reads in the Flyte API's answers (flyte.md 1) and in
 * its spool entries: pure functions of the text, so that a fuzzer
 * (tests/fuzz/fuzz_flyte.c, fuzz_spool.c) reaches them without a
 * server.  Strings are malloc'ed; the _free functions release them.
 */
#ifndef EVPIPE_FLYTEDOC_H
#define EVPIPE_FLYTEDOC_H

#include <stdbool.h>
#include <stddef.h>

/* flyte.md 1.1-1.5: the rel suffixes links are found by. */
#define FLYTE_REL_PACKS "pack/listPacks"
#define FLYTE_REL_HEALTH "info/health"
#define FLYTE_REL_TAKE "takeAction"
#define FLYTE_REL_EVENT "event"
#define FLYTE_REL_RESULT "actionResult"

/* The API root: its packs link (needed) and health link (or NULL). */
struct flyte_root {
	char *packs, *health;
};
/* A registered pack: events (needed), take (needed to poll), self. */
struct flyte_links {
	char *take, *events, *self;
};
/* An action taken: command, input (JSON text as the server wrote it,
 * "null" when absent), its result link and the id taken from it. */
struct flyte_action_doc {
	char *command, *input, *result_url, *id;
};
/* A spool entry: {"kind":"result"|"event","url":..,"body":..,"meta":..}. */
struct flyte_spool_entry {
	bool event; /* else a result, which has a url */
	char *url, *body, *meta; /* url, meta: or NULL */
};

int flytedoc_root(const char *, size_t, struct flyte_root *);
int flytedoc_links(const char *, size_t, bool, struct flyte_links *);
/* -1 with err naming what is missing. */
int flytedoc_action(
    const char *, size_t, struct flyte_action_doc *, char *, size_t);
int flytedoc_spool_read(const char *, size_t, struct flyte_spool_entry *);
char *flytedoc_spool_text(const struct flyte_spool_entry *);
/* The action id: the path segment before "result" (flyte.md 1.3). */
char *flytedoc_action_id(const char *);

void flytedoc_root_free(struct flyte_root *);
void flytedoc_links_free(struct flyte_links *);
void flytedoc_action_free(struct flyte_action_doc *);
void flytedoc_spool_free(struct flyte_spool_entry *);

#endif
