#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "base64.h"
#include "errf.h"
#include "exitcode.h"
#include "log.h"
#include "loop.h"
#include "secret.h"

#define SECRET_MAX (64 * 1024)

extern char **environ;

static const char *const kind_name[] = {
	[SECRET_NONE] = "",
	[SECRET_ARGV] = "",
	[SECRET_FILE] = " file",
	[SECRET_ENV] = " variable",
	[SECRET_COMMAND] = " command",
};

/* "token file /run/tok": the source named, never the value. */
static const char *
origin(const struct secret *s, char *buf, size_t len)
{
	if (s->kind == SECRET_ARGV)
		snprintf(buf, len, "%s on the command line", s->what);
	else
		snprintf(buf, len, "%s%s %s", s->what, kind_name[s->kind],
		    s->source);
	return buf;
}

int
secret_set(struct secret *s, const char *what, enum secret_kind kind,
    const char *source, char *err, size_t errlen)
{
	if (s->kind != SECRET_NONE && s->kind != kind)
		return errf(err, errlen, "give the %s only one way", what);
	s->what = what;
	s->kind = kind;
	s->source = source;
	if (kind == SECRET_ARGV)
		lwarn("a %s on the command line is visible to other users; "
		      "prefer a file, a variable or a command",
		    what);
	return 0;
}

bool
secret_isset(const struct secret *s)
{
	return s->kind != SECRET_NONE;
}

/*
 * Take a value: drop one trailing newline (LF or CRLF), then it must be
 * non-empty printable ASCII without blanks at either end, since it goes
 * into a header.  The old value is wiped.
 */
static int
take(struct secret *s, char *v, size_t n, char *err, size_t errlen)
{
	char where[300];
	bool changed;
	size_t i;

	origin(s, where, sizeof(where));
	if (n > 0 && v[n - 1] == '\n')
		n--;
	if (n > 0 && v[n - 1] == '\r')
		n--;
	v[n] = '\0';
	if (n == 0)
		return errf(err, errlen, "%s: empty", where);
	for (i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] > 0x7e)
			return errf(err, errlen,
			    "%s: not printable ASCII (byte %zu)", where, i + 1);
	if (v[0] == ' ' || v[n - 1] == ' ')
		return errf(err, errlen, "%s: blank at an end", where);
	changed = s->value == NULL || strcmp(s->value, v) != 0;
	if (s->value != NULL) {
		explicit_bzero(s->value, strlen(s->value));
		free(s->value);
	}
	if ((s->value = strdup(v)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	s->read_at = loop_now();
	token_took(s, changed);
	return 0;
}

/* Read all of fd, at most SECRET_MAX bytes, into buf (NUL-terminated). */
static ssize_t
read_all(int fd, char *buf)
{
	size_t n = 0;
	ssize_t r;

	while (n < SECRET_MAX) {
		r = read(fd, buf + n, SECRET_MAX - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n == SECRET_MAX) {
		errno = EFBIG;
		return -1;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

static int
load_file(struct secret *s, char *buf, char *err, size_t errlen)
{
	char where[300];
	struct stat st;
	ssize_t n;
	int fd;

	origin(s, where, sizeof(where));
	if ((fd = open(s->source, O_RDONLY | O_CLOEXEC)) == -1)
		return errf(err, errlen, "%s: %s", where, strerror(errno));
	if (fstat(fd, &st) == -1 || (n = read_all(fd, buf)) < 0) {
		errf(err, errlen, "%s: %s", where, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (take(s, buf, (size_t)n, err, errlen) < 0)
		return -1;
	s->mtime = st.st_mtim;
	return 0;
}

/*
 * Start the command with sh -c: stdout to a pipe whose read end is
 * *fd, stdin from /dev/null, stderr shared (its messages are its own),
 * the signals we catch or ignore back to their defaults.
 */
static int
spawn(struct secret *s, pid_t *pid, int *fd, bool nonblock, char *err,
    size_t errlen)
{
	char where[300], *argv[] = { "sh", "-c", (char *)s->source, NULL };
	static const int sigs[] = { SIGPIPE, SIGTERM, SIGINT, SIGCHLD, SIGHUP,
		SIGUSR1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	int p[2], e;
	size_t i;

	origin(s, where, sizeof(where));
	if (pipe2(p, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)) == -1)
		return errf(
		    err, errlen, "%s: pipe: %s", where, strerror(errno));
	/* only our end is non-blocking: the child's is its stdout */
	if (nonblock && fcntl(p[1], F_SETFL, 0) == -1) {
		e = errno;
		close(p[0]);
		close(p[1]);
		return errf(err, errlen, "%s: %s", where, strerror(e));
	}
	sigemptyset(&def);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&def, sigs[i]);
	sigemptyset(&none);
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(
	    &at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addopen(
	    &fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	e = posix_spawn(pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[1]);
	if (e != 0) {
		close(p[0]);
		return errf(err, errlen, "%s: %s", where, strerror(e));
	}
	*fd = p[0];
	return 0;
}

int
secret_spawn(struct secret *s, pid_t *pid, int *fd, char *err, size_t errlen)
{
	return spawn(s, pid, fd, true, err, errlen);
}

int
secret_command_done(
    struct secret *s, int status, char *buf, size_t n, char *err, size_t errlen)
{
	char where[300];

	origin(s, where, sizeof(where));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return errf(err, errlen, "%s: failed (%s %d)", where,
		    WIFEXITED(status) ? "exit status" : "signal",
		    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return take(s, buf, n, err, errlen);
}

/* Run the command and wait for it (start-up, secret_refresh). */
static int
load_command(struct secret *s, char *buf, char *err, size_t errlen)
{
	int64_t began = loop_now();
	char where[300];
	int fd, status, e;
	ssize_t n;
	pid_t pid;

	if (spawn(s, &pid, &fd, false, err, errlen) < 0)
		return -1;
	n = read_all(fd, buf);
	e = errno;
	close(fd);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	s->run_ms = loop_now() - began;
	if (n < 0)
		return errf(err, errlen, "%s: %s",
		    origin(s, where, sizeof(where)), strerror(e));
	return secret_command_done(s, status, buf, (size_t)n, err, errlen);
}

int
secret_refresh(struct secret *s, char *err, size_t errlen)
{
	char where[300], *buf;
	const char *v;
	int r = -1;

	switch (s->kind) {
	case SECRET_NONE:
		return 0;
	case SECRET_ARGV:
	case SECRET_ENV:
		v = s->kind == SECRET_ARGV ? s->source : getenv(s->source);
		if (v == NULL)
			return errf(err, errlen, "%s: not set",
			    origin(s, where, sizeof(where)));
		if ((buf = strdup(v)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		r = take(s, buf, strlen(buf), err, errlen);
		explicit_bzero(buf, strlen(buf));
		free(buf);
		return r;
	case SECRET_FILE:
	case SECRET_COMMAND:
		if ((buf = malloc(SECRET_MAX + 1)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		r = s->kind == SECRET_FILE ? load_file(s, buf, err, errlen) :
					     load_command(s, buf, err, errlen);
		explicit_bzero(buf, SECRET_MAX + 1);
		free(buf);
		return r;
	}
	return r;
}

int
secret_load(struct secret *s, char *err, size_t errlen)
{
	return secret_refresh(s, err, errlen);
}

/* The value now; a file that changed since it was read is read again. */
const char *
secret_get(struct secret *s, char *err, size_t errlen)
{
	struct stat st;

	if (s->kind == SECRET_NONE)
		return NULL;
	token_use(s);
	if (s->value == NULL ||
	    (s->kind == SECRET_FILE && stat(s->source, &st) == 0 &&
		(st.st_mtim.tv_sec != s->mtime.tv_sec ||
		    st.st_mtim.tv_nsec != s->mtime.tv_nsec)))
		secret_refresh(s, err, errlen);
	return s->value;
}

void
secret_free(struct secret *s)
{
	token_free(s);
	if (s->value != NULL) {
		explicit_bzero(s->value, strlen(s->value));
		free(s->value);
	}
	s->value = NULL;
}

/* base64url (RFC 4648 section 5), unpadded as JWTs have it. */
static ssize_t
b64url_decode(uint8_t *out, const char *in, size_t n)
{
	ssize_t r;
	size_t i;
	char *t;

	if ((t = malloc(n + 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		t[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
	r = base64_decode(out, t, n);
	free(t);
	return r;
}

/* A NumericDate claim (RFC 7519 2): a positive number of seconds. */
static int64_t
numeric_date(const cJSON *j, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);

	if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e15)
		return (int64_t)v->valuedouble;
	return -1;
}

/* RFC 7519: the payload is the second dot-separated part, JSON. */
int
jwt_claims(const char *jwt, int64_t *exp, int64_t *iat)
{
	const char *p, *q;
	uint8_t *buf;
	ssize_t n;
	cJSON *j;

	*exp = *iat = -1;
	if (jwt == NULL || (p = strchr(jwt, '.')) == NULL ||
	    (q = strchr(++p, '.')) == NULL || q == p)
		return -1;
	if ((buf = malloc(BASE64_DECODED_MAX((size_t)(q - p)) + 1)) == NULL)
		return -1;
	if ((n = b64url_decode(buf, p, (size_t)(q - p))) < 0) {
		free(buf);
		return -1;
	}
	j = cJSON_ParseWithLength((const char *)buf, (size_t)n);
	free(buf);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return -1;
	}
	*exp = numeric_date(j, "exp");
	*iat = numeric_date(j, "iat");
	cJSON_Delete(j);
	return 0;
}

int64_t
jwt_exp(const char *jwt)
{
	int64_t exp, iat;

	jwt_claims(jwt, &exp, &iat);
	return exp;
}
