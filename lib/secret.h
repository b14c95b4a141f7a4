/*
 * Secrets (bearer tokens, JWTs, passwords): where they come from, and
 * keeping them out of logs.  A secret is read from a file (re-read when
 * the file changes), an environment variable, or the output of a
 * command (re-run on secret_refresh); taking one from argv works, for
 * compatibility with the original tools, but warns, since other users
 * can see it in ps(1).  One trailing newline (and CR) is removed;
 * the value must then be non-empty printable ASCII without spaces at
 * either end (it goes into an HTTP header).
 *
 * The value is never logged: diagnostics name only the source
 * ("token file /run/tok: empty").
 */
#ifndef EVPIPE_SECRET_H
#define EVPIPE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum secret_kind {
	SECRET_NONE,
	SECRET_ARGV, /* --token VALUE (warns) */
	SECRET_FILE, /* --token-file PATH */
	SECRET_ENV, /* --token-env NAME */
	SECRET_COMMAND, /* --token-command CMD, run with sh -c */
};

struct secret {
	const char *what; /* "token": names it in diagnostics */
	enum secret_kind kind;
	const char *source; /* the value, path, variable name or command */
	char *value; /* current value, or NULL */
	struct timespec mtime; /* SECRET_FILE: of the file last read */
	int64_t read_at; /* loop_now() when last read */
};

/*
 * Set the source; a second source for the same secret is a usage
 * error (returns -1 with err set).  SECRET_ARGV warns.
 */
int secret_set(struct secret *, const char *, enum secret_kind, const char *,
    char *, size_t);
/* Read it now (at start-up: errors here are usage errors). */
int secret_load(struct secret *, char *, size_t);
/*
 * The current value, re-reading a file whose mtime changed; NULL when
 * there is none (SECRET_NONE) or it cannot be read (err says why; the
 * last good value is kept and returned if there was one).
 */
const char *secret_get(struct secret *, char *, size_t);
/* Re-run the command (or re-read the file) now; -1 with err on failure. */
int secret_refresh(struct secret *, char *, size_t);
bool secret_isset(const struct secret *);
void secret_free(struct secret *);

/*
 * The "exp" claim of a JWT (seconds since the epoch) without checking
 * the signature; -1 when the token is not a JWT or has no exp.
 */
int64_t jwt_exp(const char *);

#endif
