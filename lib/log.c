#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

const char *progname = "evpipe";
int verbosity = LOG_WARN;

void
log_init(const char *argv0)
{
	const char *slash;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	slash = strrchr(argv0, '/');
	progname = slash != NULL ? slash + 1 : argv0;
}

/*
 * One write(2) per line, so that lines from the stages of a pipeline
 * sharing one stderr do not interleave.
 */
static void __attribute__((format(printf, 1, 0)))
emit(const char *fmt, va_list ap, const char *reason)
{
	char line[2048];
	size_t n, max = sizeof(line) - 5;
	int r;

	r = snprintf(line, max, "%s: ", progname);
	n = r < 0 ? 0 : (size_t)r;
	if (n < max) {
		r = vsnprintf(line + n, max - n, fmt, ap);
		n += r < 0 ? 0 : (size_t)r;
	}
	if (reason != NULL && n < max) {
		r = snprintf(line + n, max - n, ": %s", reason);
		n += r < 0 ? 0 : (size_t)r;
	}
	if (n >= max) {
		n = max - 1;
		memcpy(line + n, "...", 3);
		n += 3;
	}
	line[n++] = '\n';
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
		;
}

void
logmsg(int level, const char *fmt, ...)
{
	va_list ap;

	if (!logging(level))
		return;
	va_start(ap, fmt);
	emit(fmt, ap, NULL);
	va_end(ap);
}

/* Like logmsg, with ": strerror(errno)" appended. */
void
logsys(int level, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	if (!logging(level))
		return;
	va_start(ap, fmt);
	emit(fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(fmt, ap, NULL);
	va_end(ap);
	exit(status);
}
