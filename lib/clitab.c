#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clitab.h"
#include "exitcode.h"
#include "log.h"

#define HELP_COLUMN 28

static size_t
count(const struct clitab *t)
{
	size_t n = 0;

	while (t[n].name != NULL)
		n++;
	return n;
}

/* getopt_long's arrays; shortopts starts with ':' (cli_bad_option). */
void
clitab_getopt(const struct clitab *t, struct clitab_getopt *g)
{
	size_t n = count(t), i, k = 0;

	g->longopts = calloc(n + 1, sizeof(*g->longopts));
	g->shortopts = calloc(2 * n + 2, 1);
	if (g->longopts == NULL || g->shortopts == NULL)
		die(EXIT_INTERNAL, "out of memory");
	g->shortopts[k++] = ':';
	for (i = 0; i < n; i++) {
		g->longopts[i] = (struct option){ t[i].name,
			t[i].arg != NULL ? required_argument : no_argument,
			NULL, t[i].key };
		if (t[i].key > 0 && t[i].key <= 0xff) {
			g->shortopts[k++] = (char)t[i].key;
			if (t[i].arg != NULL)
				g->shortopts[k++] = ':';
		}
	}
}

/*
 * "  -b, --batch=N            help", one line per option, the help
 * text from the column HELP_COLUMN (or after two spaces).
 */
char *
clitab_help(const struct clitab *t)
{
	size_t n = count(t), i, len = 0, cap = 256;
	char *s = malloc(cap), line[512];
	int k;

	if (s == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (i = 0; i < n; i++) {
		if (t[i].help == NULL)
			continue; /* an alias, documented with its option */
		if (t[i].key > 0 && t[i].key <= 0xff)
			k = snprintf(line, sizeof(line), "  -%c, --%s",
			    t[i].key, t[i].name);
		else
			k = snprintf(
			    line, sizeof(line), "      --%s", t[i].name);
		if (t[i].arg != NULL)
			k += snprintf(line + k, sizeof(line) - (size_t)k, "=%s",
			    t[i].arg);
		k += snprintf(line + k, sizeof(line) - (size_t)k, "%*s%s\n",
		    k < HELP_COLUMN - 2 ? HELP_COLUMN - k : 2, "", t[i].help);
		while (len + (size_t)k + 1 > cap)
			if ((s = realloc(s, cap *= 2)) == NULL)
				die(EXIT_INTERNAL, "out of memory");
		memcpy(s + len, line, (size_t)k + 1);
		len += (size_t)k;
	}
	return s;
}

void
clitab_free(struct clitab_getopt *g)
{
	free(g->longopts);
	free(g->shortopts);
}
