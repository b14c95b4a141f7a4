/*
 * Secrets (bearer tokens, JWTs, passwords): where they come from, and
 * keeping them out of logs.  A secret is read from a file (re-read when
 * the file changes), an environment variable, or the output of a
 * command; taking one from argv works, for compatibility with the
 * original tools, but warns, since other users can see it in ps(1).
 * One trailing newline (and CR) is removed; the value must then be
 * non-empty printable ASCII without spaces at either end (it goes into
 * an HTTP header).
 *
 * The value is never logged: diagnostics name only the source
 * ("token file /run/tok: empty").
 *
 * Tokens are kept fresh (token.c) once in use (secret_get, secret_ready).
 * A JWT lives from its iat (else from when it was read) to its exp; a
 * new one is in hand before 4/5 of that has passed: the command runs
 * again in the background, its output read by the loop (it never blocks
 * it), started early enough for the time it took the last time; a file
 * is read again if it changed.  Before each (re)connect, secret_ready()
 * replaces a token with less than 1/5 of its lifetime left first.  A
 * token that is no JWT, or has no exp, has an unknown lifetime: a file
 * is read again when it changes, a command runs again when asked
 * (secret_renew() after a refusal).  A renewal that fails or brings
 * the same token keeps the last good one and is tried again, more often
 * as the expiry nears.
 */
#ifndef EVPIPE_SECRET_H
#define EVPIPE_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum secret_kind {
	SECRET_NONE,
	SECRET_ARGV, /* --token VALUE (warns) */
	SECRET_FILE, /* --token-file PATH */
	SECRET_ENV, /* --token-env NAME */
	SECRET_COMMAND, /* --token-command CMD, run with sh -c */
};

struct token; /* token.c: lifetime and renewal */

struct secret {
	const char *what; /* "token": names it in diagnostics */
	enum secret_kind kind;
	const char *source; /* the value, path, variable name or command */
	char *value; /* current value, or NULL */
	struct timespec mtime; /* SECRET_FILE: of the file last read */
	int64_t read_at; /* loop_now() when last read */
	int64_t run_ms; /* how long the command took the last time */
	struct token *tok; /* NULL until a value is taken */
};

/* Someone waiting for a renewal (secret_ready). */
struct secret_wait {
	void (*fn)(void *); /* the renewal ended, whatever came of it */
	void *ctx;
	struct secret_wait *next_; /* private */
	bool queued_; /* private */
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
/*
 * Re-run the command (or re-read the file) now and wait for it: for
 * start-up and tests; in the loop use secret_renew() or secret_ready().
 * -1 with err on failure.
 */
int secret_refresh(struct secret *, char *, size_t);
bool secret_isset(const struct secret *);
/* Forget the value; a command still running is killed. */
void secret_free(struct secret *);

/*
 * Before a (re)connect: true when the value in hand has at least 1/5
 * of its lifetime left, or an unknown one, or nothing better can come
 * (a variable; a file is read again first if it changed).  Else a
 * renewal starts (or is already under way), w->fn(w->ctx) runs from
 * the loop once it ends, and false.
 */
bool secret_ready(struct secret *, struct secret_wait *);
/* Stop waiting (w->fn will not run). */
void secret_wait_cancel(struct secret *, struct secret_wait *);
/*
 * Renew in the background now (the value was refused, say a 401), or
 * join the renewal under way: false, and w->fn (w may be NULL) runs
 * once it ends.  True when there is nothing to wait for: a variable or
 * argv, or a file (read again now if it changed).
 */
bool secret_renew(struct secret *, struct secret_wait *);
/* fn(ctx) runs from the loop after each new value (a renewal, a file
 * that changed); one listener, NULL to remove it. */
void secret_on_change(struct secret *, void (*)(void *), void *);
/* When the value expires, in milliseconds since the epoch; -1 when
 * unknown (not a JWT, or no exp). */
int64_t secret_expires_ms(const struct secret *);

/*
 * The "exp" claim of a JWT (seconds since the epoch) without checking
 * the signature; -1 when the token is not a JWT or has no exp.
 */
int64_t jwt_exp(const char *);
/* exp and iat (each -1 when absent or not a positive number); -1 when
 * it is no JWT with a JSON object as its payload. */
int jwt_claims(const char *, int64_t *, int64_t *);

/* ---- between secret.c and token.c ---------------------------------- */

/* Start the command: its stdout is *fd (O_NONBLOCK, close-on-exec). */
int secret_spawn(struct secret *, pid_t *, int *, char *, size_t);
/* The command ended with wait status st, having printed buf (n bytes,
 * room for a NUL after them): take its output, or -1 with err. */
int secret_command_done(struct secret *, int, char *, size_t, char *, size_t);
/* A value was just taken; changed: it differs from the last one. */
void token_took(struct secret *, bool);
/* The value is being used: keep it fresh from now on. */
void token_use(struct secret *);
void token_free(struct secret *);

#endif
