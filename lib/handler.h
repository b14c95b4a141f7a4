/*
 * Shell-command handlers as child processes on the poll loop: each runs
 * "sh -c COMMAND" in a process group of its own, reads its input from a
 * pipe and has its standard output and error read through pipes, all
 * without blocking the loop.  A command of plain words ("cat",
 * "./bin/greet --loud") is run as sh would run it, without sh.  A handler that
 * outlives its timeout (or is stopped) gets SIGTERM, and SIGKILL
 * HANDLER_KILL_GRACE_MS later; either goes to its whole process group, so what
 * the shell started ends too.
 *
 * The tool routes SIGCHLD here (sig_catch(SIGCHLD), then handler_reap()
 * from its signal callback).  Each handler ends exactly once, through
 * its done callback, after it has exited and its output is read: to the
 * end, or for at most HANDLER_LINGER_MS after the exit when something
 * it started in the background keeps the pipes open.
 */
#ifndef EVPIPE_HANDLER_H
#define EVPIPE_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HANDLER_KILL_GRACE_MS 5000
#define HANDLER_LINGER_MS 1000
#define HANDLER_MAX_OUTPUT (4u * 1024 * 1024)
#define HANDLER_TAIL_LINES 10 /* of standard error, kept for the result */

struct handler;

struct handler_spec {
	const char *name; /* in diagnostics: "name[pid]: ..." */
	const char *command; /* run with sh -c */
	const char *const *env; /* "NAME=value" to add (NULL-terminated) */
	const char *const *unset; /* names to remove from the environment */
	const void *input; /* written to its standard input, then closed */
	size_t len;
	int64_t timeout_ms; /* 0: none */
	size_t max_output; /* standard output kept; 0: HANDLER_MAX_OUTPUT */
};

struct handler_result {
	pid_t pid;
	int wstatus; /* as waitpid(2) gave it */
	bool timed_out; /* it was killed because the timeout passed */
	bool stopped; /* it was killed by handler_stop() */
	const char *out; /* standard output, NUL-terminated */
	size_t outlen;
	bool overflow; /* it wrote more than max_output; out is the start */
	const char *err_tail; /* last lines of standard error, or "" */
	int64_t ms; /* how long it ran */
};

typedef void (*handler_done_fn)(
    struct handler *, const struct handler_result *, void *);

struct handler *handler_start(
    const struct handler_spec *, handler_done_fn, void *, char *, size_t);
void handler_stop(struct handler *);
void handler_reap(void);
size_t handler_running(void);
pid_t handler_pid(const struct handler *);

#endif
