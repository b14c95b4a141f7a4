/*
 * A tool's options as one sorted table, as curl keeps them: getopt_long's
 * arrays and the --help text are both made from it, so they cannot
 * disagree.
 */
#ifndef EVPIPE_CLITAB_H
#define EVPIPE_CLITAB_H

#include <getopt.h>
#include <stddef.h>

struct clitab {
	const char *name; /* long name */
	int key; /* the short letter, or a value above 0xff */
	const char *arg; /* the argument's name in --help; NULL: none */
	const char *help; /* one line; NULL: an alias, not in --help */
};

struct clitab_getopt {
	struct option *longopts;
	char *shortopts;
};

void clitab_getopt(const struct clitab *, struct clitab_getopt *);
char *clitab_help(const struct clitab *);
void clitab_free(struct clitab_getopt *);

#endif
