/*
 * A Flyte pack as pack-run(1) runs it: read from a JSON file (schema in
 * pack-run(1), PACK FILE), checked, and turned into the registration
 * body the Flyte API takes (flyte.md 1.2).  Everything lives in the
 * pack's arena.
 */
#ifndef EVPIPE_PACK_H
#define EVPIPE_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define PACK_FATAL "FATAL" /* flyte.md 1.6 */
#define PACK_CHECK_API "FlyteApi" /* the built-in checks */
#define PACK_CHECK_POLL "LastPoll"
#define PACK_TIMEOUT_DEFAULT_MS 60000
#define PACK_CHECK_TIMEOUT_DEFAULT_MS 5000

struct pack_label {
	const char *key, *value;
};

struct pack_event {
	const char *name;
	const char *help; /* NULL: no help link */
};

struct pack_command {
	const char *name;
	const char **events; /* the events its handler may report */
	size_t nevents;
	const char *help;
	const char *handler; /* a shell command line */
	int64_t timeout_ms;
};

struct pack_check {
	const char *name;
	const char *command;
	int64_t timeout_ms;
};

struct pack {
	struct arena arena;
	const char *name;
	const char *help;
	struct pack_label *labels; /* sorted by key */
	size_t nlabels;
	struct pack_event *events;
	size_t nevents;
	struct pack_command *commands;
	size_t ncommands;
	struct pack_check *checks;
	size_t nchecks;
	const char *id; /* the server's pack id: name, then .key.value */
};

struct pack *pack_parse(const char *, size_t, char *, size_t);
struct pack *pack_load(const char *, int *, char *, size_t);
int pack_set_labels(struct pack *, const char *, char *, size_t);
const struct pack_command *pack_command(const struct pack *, const char *);
bool pack_declares(const struct pack_command *, const char *);
bool pack_event_known(const struct pack *, const char *);
char *pack_registration(const struct pack *);
void pack_free(struct pack *);

#endif
