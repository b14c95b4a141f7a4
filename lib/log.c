#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"

const char *progname = "evpipe";
int verbosity = LOG_WARN;
static enum log_format format = LOG_PLAIN;

static const char *const level_names[] = { "error", "warning", "info", "debug",
	"notice" };
/* sd-daemon(3): the syslog priorities err, warning, info, debug, notice. */
static const char journald_prio[] = { '3', '4', '6', '7', '5' };

/* 0, or -1 when name is not a format (log.h). */
int
log_set_format(const char *name)
{
	static const char *const names[] = { "plain", "level", "time",
		"journald" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			format = (enum log_format)i;
			return 0;
		}
	}
	return -1;
}

/*
 * How long a stage waits (on its reader, on acknowledgements) before it
 * says so: EVPIPE_WAIT_WARN seconds (evpipe(7)), 60 by default.
 */
int64_t
wait_warn_ms(void)
{
	static int64_t ms = -1;
	const char *s;
	char *end;
	double v;

	if (ms < 0) {
		ms = 60000;
		s = getenv("EVPIPE_WAIT_WARN");
		if (s != NULL && *s != '\0') {
			v = strtod(s, &end);
			if (*end == '\0' && v > 0 && v < 1e6)
				ms = (int64_t)(v * 1000);
		}
	}
	return ms;
}

/* The tool's name from argv[0], and the format from EVPIPE_LOG_FORMAT. */
void
log_init(const char *argv0)
{
	const char *slash, *f = getenv("EVPIPE_LOG_FORMAT");

	if (argv0 != NULL && *argv0 != '\0') {
		slash = strrchr(argv0, '/');
		progname = slash != NULL ? slash + 1 : argv0;
	}
	if (f != NULL && *f != '\0' && log_set_format(f) < 0)
		die(EXIT_USAGE,
		    "EVPIPE_LOG_FORMAT: unknown format %s "
		    "(plain, level, time or journald)",
		    f);
}

/* What goes before the message: the format's prefix, then "tool: ". */
static size_t
prefix(char *line, size_t max, int level)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	int r = 0;

	switch (format) {
	case LOG_PLAIN:
		r = snprintf(line, max, "%s: ", progname);
		break;
	case LOG_LEVEL:
		r = snprintf(
		    line, max, "%s: %s: ", progname, level_names[level]);
		break;
	case LOG_TIME:
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(line, max, "%s.%03ldZ %s[%ld]: %s: ", stamp,
		    ts.tv_nsec / 1000000, progname, (long)getpid(),
		    level_names[level]);
		break;
	case LOG_JOURNALD:
		r = snprintf(
		    line, max, "<%c>%s: ", journald_prio[level], progname);
		break;
	}
	return r < 0 ? 0 : (size_t)r;
}

/*
 * One write(2) per line, so that lines from the stages of a pipeline
 * sharing one stderr do not interleave.
 */
static void __attribute__((format(printf, 2, 0)))
emit(int level, const char *fmt, va_list ap, const char *reason)
{
	char line[2048];
	size_t n, max = sizeof(line) - 5;
	int r;

	n = prefix(line, max, level);
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
	emit(level, fmt, ap, NULL);
	va_end(ap);
}

/* A line at level, whatever the verbosity (asked for: SIGUSR1). */
void
lforce(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(level, fmt, ap, NULL);
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
	emit(level, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_ERROR, fmt, ap, NULL);
	va_end(ap);
	exit(status);
}
