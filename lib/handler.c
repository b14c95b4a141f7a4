#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errf.h"
#include "exitcode.h"
#include "handler.h"
#include "log.h"
#include "loop.h"

#define TAIL_LINE 256 /* longer stderr lines are cut in the tail */
#define LINE_MAX_LOG 1024 /* longer stderr lines are split when logged */

extern char **environ;

struct handler {
	struct handler *next, **prevp; /* every handler not yet done */
	char *name;
	pid_t pid;
	int64_t started;
	struct loop_io in_io, out_io, err_io;
	struct loop_timer kill_timer; /* timeout, then the SIGKILL grace */
	struct loop_timer end_timer; /* linger after exit, or finish now */
	char *input;
	size_t inlen, inoff;
	char *out;
	size_t outlen, outcap, max;
	bool overflow;
	char line[LINE_MAX_LOG]; /* a stderr line being assembled */
	size_t linelen;
	char tail[HANDLER_TAIL_LINES][TAIL_LINE];
	size_t ntail; /* lines seen so far; the ring holds the last ones */
	int wstatus;
	bool exited, timed_out, stopped, term_sent, kill_sent;
	handler_done_fn done;
	void *ctx;
};

static struct handler *all;
static size_t nrunning;

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

static void
close_io(struct loop_io *io)
{
	if (io->fd < 0)
		return;
	loop_io_del(io);
	close(io->fd);
	io->fd = -1;
}

static void
signal_group(struct handler *h, int signo)
{
	if (kill(-h->pid, signo) == -1 && errno != ESRCH)
		logsys(LOG_WARN, "%s[%ld]: kill", h->name, (long)h->pid);
}

static void
keep_tail(struct handler *h, const char *s, size_t n)
{
	char *slot = h->tail[h->ntail++ % HANDLER_TAIL_LINES];

	if (n >= TAIL_LINE) {
		memcpy(slot, s, TAIL_LINE - 4);
		memcpy(slot + TAIL_LINE - 4, "...", 4);
	} else {
		memcpy(slot, s, n);
		slot[n] = '\0';
	}
}

/* A whole line of standard error: logged at -v, kept in the tail. */
static void
err_line(struct handler *h, const char *s, size_t n)
{
	if (n > 0 && s[n - 1] == '\r')
		n--;
	linfo("%s[%ld]: %.*s", h->name, (long)h->pid, (int)n, s);
	keep_tail(h, s, n);
}

static void
flush_line(struct handler *h)
{
	if (h->linelen > 0)
		err_line(h, h->line, h->linelen);
	h->linelen = 0;
}

static void finish_soon(struct handler *);

/* Standard input takes more of the action's input. */
static void
in_ready(struct loop_io *io, short revents)
{
	struct handler *h = io->ctx;
	ssize_t n;

	n = write(io->fd, h->input + h->inoff, h->inlen - h->inoff);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		/* EPIPE: it did not want (all of) its input. */
		if (errno != EPIPE)
			logsys(LOG_WARN, "%s[%ld]: writing its input", h->name,
			    (long)h->pid);
		h->inoff = h->inlen;
	} else {
		h->inoff += (size_t)n;
	}
	if (h->inoff == h->inlen) {
		close_io(io);
		free(h->input);
		h->input = NULL;
	}
}

static void
out_ready(struct loop_io *io, short revents)
{
	struct handler *h = io->ctx;
	char buf[65536];
	size_t room;
	ssize_t n;

	n = read(io->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_io(io);
		finish_soon(h);
		return;
	}
	room = h->max - h->outlen;
	if ((size_t)n > room) {
		h->overflow = true;
		n = (ssize_t)room;
	}
	if (h->outlen + (size_t)n + 1 > h->outcap) {
		h->outcap = h->outcap * 2 > h->outlen + (size_t)n + 1 ?
		    h->outcap * 2 :
		    h->outlen + (size_t)n + 1;
		if ((h->out = realloc(h->out, h->outcap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
	}
	memcpy(h->out + h->outlen, buf, (size_t)n);
	h->outlen += (size_t)n;
	h->out[h->outlen] = '\0';
}

static void
err_ready(struct loop_io *io, short revents)
{
	struct handler *h = io->ctx;
	char buf[4096];
	const char *p, *nl, *end;
	size_t room, k;
	ssize_t n;

	n = read(io->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		flush_line(h);
		close_io(io);
		finish_soon(h);
		return;
	}
	for (p = buf, end = buf + n; p < end;) {
		nl = memchr(p, '\n', (size_t)(end - p));
		k = (size_t)((nl != NULL ? nl : end) - p);
		room = sizeof(h->line) - h->linelen;
		if (k > room)
			k = room;
		memcpy(h->line + h->linelen, p, k);
		h->linelen += k;
		p += k;
		if (h->linelen == sizeof(h->line) || (nl != NULL && p == nl)) {
			flush_line(h);
			if (nl != NULL && p == nl)
				p++;
		}
	}
}

/* The last lines of standard error, oldest first, joined by newlines. */
static char *
tail_text(struct handler *h)
{
	size_t n = h->ntail < HANDLER_TAIL_LINES ? h->ntail :
						   HANDLER_TAIL_LINES;
	size_t first = h->ntail - n, i, len = 0;
	char *s, *slot;

	for (i = 0; i < n; i++)
		len += strlen(h->tail[(first + i) % HANDLER_TAIL_LINES]) + 1;
	s = xmalloc(len + 1);
	*s = '\0';
	for (i = 0, len = 0; i < n; i++) {
		slot = h->tail[(first + i) % HANDLER_TAIL_LINES];
		if (i > 0)
			s[len++] = '\n';
		memcpy(s + len, slot, strlen(slot) + 1);
		len += strlen(slot);
	}
	return s;
}

static void
end_fire(struct loop_timer *t)
{
	struct handler *h = t->ctx;
	struct handler_result r = { 0 };
	char *tail;

	if (h->out_io.fd >= 0 || h->err_io.fd >= 0)
		linfo("%s[%ld]: exited; no longer reading the output of what "
		      "it left running",
		    h->name, (long)h->pid);
	flush_line(h);
	close_io(&h->in_io);
	close_io(&h->out_io);
	close_io(&h->err_io);
	loop_timer_stop(&h->kill_timer);
	if ((*h->prevp = h->next) != NULL)
		h->next->prevp = h->prevp;
	nrunning--;

	tail = tail_text(h);
	r.pid = h->pid;
	r.wstatus = h->wstatus;
	r.timed_out = h->timed_out;
	r.stopped = h->stopped;
	r.out = h->out != NULL ? h->out : "";
	r.outlen = h->outlen;
	r.overflow = h->overflow;
	r.err_tail = tail;
	r.ms = loop_now() - h->started;
	h->done(h, &r, h->ctx);
	free(tail);
	free(h->input);
	free(h->out);
	free(h->name);
	free(h);
}

/*
 * Once it has exited and its output is at an end, finish (from a timer,
 * never from inside handler_reap's walk); while something it left
 * behind still holds the pipes, wait HANDLER_LINGER_MS for them.
 */
static void
finish_soon(struct handler *h)
{
	if (!h->exited)
		return;
	if (h->out_io.fd < 0 && h->err_io.fd < 0)
		loop_timer_in(&h->end_timer, 0);
	else if (!loop_timer_armed(&h->end_timer))
		loop_timer_in(&h->end_timer, HANDLER_LINGER_MS);
}

static void
kill_fire(struct loop_timer *t)
{
	struct handler *h = t->ctx;

	if (!h->term_sent) {
		h->timed_out = true;
		lwarn("%s[%ld]: timed out; terminating it", h->name,
		    (long)h->pid);
		h->term_sent = true;
		signal_group(h, SIGTERM);
		loop_timer_in(t, HANDLER_KILL_GRACE_MS);
	} else if (!h->exited) {
		lwarn("%s[%ld]: still running %d ms after SIGTERM; killing it",
		    h->name, (long)h->pid, HANDLER_KILL_GRACE_MS);
		h->kill_sent = true;
		signal_group(h, SIGKILL);
	}
}

/* Ask it to end: SIGTERM to its group now, SIGKILL after the grace. */
void
handler_stop(struct handler *h)
{
	if (h->exited || h->term_sent)
		return;
	h->stopped = true;
	h->term_sent = true;
	signal_group(h, SIGTERM);
	loop_timer_in(&h->kill_timer, HANDLER_KILL_GRACE_MS);
}

/* SIGCHLD arrived: collect the handlers that exited. */
void
handler_reap(void)
{
	struct handler *h;
	pid_t r;
	int st;

	for (h = all; h != NULL; h = h->next) {
		if (h->exited)
			continue;
		while (
		    (r = waitpid(h->pid, &st, WNOHANG)) == -1 && errno == EINTR)
			;
		if (r != h->pid)
			continue;
		h->exited = true;
		h->wstatus = st;
		/* A killed handler's leftovers go with it. */
		if (h->term_sent)
			signal_group(h, SIGKILL);
		loop_timer_stop(&h->kill_timer);
		finish_soon(h);
	}
}

static int
nonblocking_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) == -1)
		return -1;
	return fcntl(fds[parent_end], F_SETFL, O_NONBLOCK);
}

static bool
listed(const char *var, const char *const *names)
{
	size_t n;

	for (; names != NULL && *names != NULL; names++) {
		n = strcspn(*names, "=");
		if (strncmp(var, *names, n) == 0 && var[n] == '=')
			return true;
	}
	return false;
}

/* environ without the unset names and the ones spec sets, then spec's. */
static char **
child_env(const struct handler_spec *spec)
{
	size_t n = 0, k = 0, i;
	char **env;

	for (i = 0; environ[i] != NULL; i++)
		n++;
	for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
		n++;
	env = xmalloc((n + 1) * sizeof(*env));
	for (i = 0; environ[i] != NULL; i++)
		if (!listed(environ[i], spec->unset) &&
		    !listed(environ[i], spec->env))
			env[k++] = environ[i];
	for (i = 0; spec->env != NULL && spec->env[i] != NULL; i++)
		env[k++] = (char *)spec->env[i];
	env[k] = NULL;
	return env;
}

#define PLAIN_MAX 4096 /* the longest command line run without sh */
#define PLAIN_WORDS 64

/*
 * Is the command line plain words, which sh(1) would run as they are:
 * only characters that are never special to it, no assignment, no
 * builtin or keyword first?  Then it is run without the shell, one exec
 * less (GNU make does the same).  argv points into buf.
 */
static bool
plain_words(const char *cmd, char *buf, char **argv)
{
	/* dash's builtins and the POSIX keywords made of such characters */
	static const char *const shell[] = { ".", ":", "alias", "bg", "break",
		"case", "cd", "command", "continue", "do", "done", "echo",
		"elif", "else", "esac", "eval", "exec", "exit", "export",
		"false", "fc", "fg", "fi", "for", "getopts", "hash", "if", "in",
		"jobs", "kill", "local", "printf", "pwd", "read", "readonly",
		"return", "set", "shift", "test", "then", "times", "trap",
		"true", "type", "ulimit", "umask", "unalias", "unset", "until",
		"wait", "while" };
	const char *c;
	char *p, *save;
	size_t n = 0, i;

	if (strlen(cmd) >= PLAIN_MAX)
		return false;
	for (c = cmd; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') ||
			strchr("-_./:@%+, \t", *c) != NULL))
			return false;
	strcpy(buf, cmd);
	for (p = strtok_r(buf, " \t", &save); p != NULL;
	     p = strtok_r(NULL, " \t", &save)) {
		if (n == PLAIN_WORDS)
			return false;
		argv[n++] = p;
	}
	if (n == 0)
		return false;
	argv[n] = NULL;
	for (i = 0; i < sizeof(shell) / sizeof(shell[0]); i++)
		if (strcmp(argv[0], shell[i]) == 0)
			return false;
	return true;
}

static int
spawn(const struct handler_spec *spec, int in, int out, int err, pid_t *pid)
{
	static const int defaults[] = { SIGTERM, SIGINT, SIGPIPE, SIGCHLD,
		SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM };
	char *argv[] = { "sh", "-c", (char *)spec->command, NULL };
	char *words[PLAIN_WORDS + 1], *buf;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	char **env;
	size_t i;
	int r = -1;

	sigemptyset(&none);
	sigemptyset(&def);
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		sigaddset(&def, defaults[i]);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	/* No socket or pipe of ours outlives us in a handler. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at,
	    POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
		POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	env = child_env(spec);
	if ((buf = malloc(PLAIN_MAX)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	/* What cannot be started so goes to sh, for its usual diagnostics. */
	if (plain_words(spec->command, buf, words))
		r = posix_spawnp(pid, words[0], &fa, &at, words, env);
	if (r != 0)
		r = posix_spawn(pid, "/bin/sh", &fa, &at, argv, env);
	free(buf);
	free(env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return r;
}

/*
 * Start a handler; NULL with err set when it cannot be (no pipes, no
 * process).  done is called once, from the loop, never from here.
 */
struct handler *
handler_start(const struct handler_spec *spec, handler_done_fn done, void *ctx,
    char *err, size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 }, r;
	struct handler *h;

	if (nonblocking_pipe(in, 1) == -1 || nonblocking_pipe(out, 0) == -1 ||
	    nonblocking_pipe(er, 0) == -1) {
		errf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		die(EXIT_INTERNAL, "out of memory");
	if ((r = spawn(spec, in[0], out[1], er[1], &h->pid)) != 0) {
		errf(err, errlen, "/bin/sh: %s", strerror(r));
		free(h);
		goto fail;
	}
	close(in[0]);
	close(out[1]);
	close(er[1]);
	h->name = strdup(spec->name != NULL ? spec->name : "handler");
	if (h->name == NULL)
		die(EXIT_INTERNAL, "out of memory");
	h->started = loop_now();
	h->max = spec->max_output > 0 ? spec->max_output : HANDLER_MAX_OUTPUT;
	h->done = done;
	h->ctx = ctx;
	h->in_io = (struct loop_io){ .fd = in[1], .ready = in_ready, .ctx = h };
	h->out_io = (struct loop_io){
		.fd = out[0], .events = POLLIN, .ready = out_ready, .ctx = h
	};
	h->err_io = (struct loop_io){
		.fd = er[0], .events = POLLIN, .ready = err_ready, .ctx = h
	};
	if (spec->len > 0) {
		h->input = xmalloc(spec->len);
		memcpy(h->input, spec->input, spec->len);
		h->inlen = spec->len;
		h->in_io.events = POLLOUT;
		loop_io_add(&h->in_io);
	} else {
		close(in[1]);
		h->in_io.fd = -1;
	}
	loop_io_add(&h->out_io);
	loop_io_add(&h->err_io);
	loop_timer_init(&h->kill_timer, kill_fire, h);
	loop_timer_init(&h->end_timer, end_fire, h);
	if (spec->timeout_ms > 0)
		loop_timer_in(&h->kill_timer, spec->timeout_ms);
	if ((h->next = all) != NULL)
		all->prevp = &h->next;
	h->prevp = &all;
	all = h;
	nrunning++;
	ltrace("%s[%ld]: started: %s", h->name, (long)h->pid, spec->command);
	return h;
fail:
	for (r = 0; r < 2; r++) {
		if (in[r] >= 0)
			close(in[r]);
		if (out[r] >= 0)
			close(out[r]);
		if (er[r] >= 0)
			close(er[r]);
	}
	return NULL;
}

/* Handlers started and not yet done. */
size_t
handler_running(void)
{
	return nrunning;
}

pid_t
handler_pid(const struct handler *h)
{
	return h->pid;
}
