/* What every tool's main does the same way. */
#ifndef EVPIPE_CLI_H
#define EVPIPE_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "secret.h"

/* The long options every tool has and their getopt_long values. */
#define CLI_OPT_VERSION 0x100
/* Where a bearer token is: --token, --token-command, --token-env,
 * --token-file (above the tools' own codes). */
enum {
	CLI_OPT_TOKEN = 0x1000,
	CLI_OPT_TOKEN_COMMAND,
	CLI_OPT_TOKEN_ENV,
	CLI_OPT_TOKEN_FILE,
};

void cli_start(const char *);
noreturn void cli_usage(const char *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
noreturn void cli_bad_option(const char *, char *const[], int);
noreturn void cli_help(const char *, const char *);
noreturn void cli_version(void);
int cli_size(const char *, size_t *);
int cli_uint(const char *, uint64_t, uint64_t, uint64_t *);
/* The value of option --opt, a decimal integer in [min, max], or a
 * usage error (exit 64) that names the range. */
uint64_t cli_number(
    const char *synopsis, const char *opt, const char *, uint64_t, uint64_t);
int cli_finish_stdout(void);
/*
 * Set secret s (named what) from an option; a second source for it is
 * a usage error.
 */
void cli_secret(const char *, struct secret *, const char *, enum secret_kind,
    const char *);
/* Set the token from option c, one of the CLI_OPT_TOKEN codes. */
void cli_token_option(const char *, int, struct secret *, const char *);

#endif
