#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "exitcode.h"
#include "log.h"

/*
 * Set the name used in diagnostics, make sure descriptors 0-2 are open
 * (so no socket or file we open lands on them, as curl does) and ignore
 * SIGPIPE: a closed stdout must surface as EPIPE.
 */
void
cli_start(const char *argv0)
{
	struct sigaction sa;
	int fd;

	log_init(argv0);
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
	else if (fd < 0)
		exit(EXIT_IO);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* A bad command line: the reason, the synopsis, exit 64. */
void
cli_usage(const char *synopsis, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	lerr("%s", line);
	fprintf(stderr, "%s", synopsis);
	fprintf(stderr, "Try '%s --help' for more.\n", progname);
	exit(EXIT_USAGE);
}

/*
 * getopt_long() returned '?' or ':' (the option string starts with ':'
 * and opterr is 0, so getopt itself printed nothing).
 */
void
cli_bad_option(const char *synopsis, char *const argv[], int c)
{
	const char *arg = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };

	if (optopt != 0 && strncmp(arg, "--", 2) != 0)
		arg = shortopt;
	if (c == ':')
		cli_usage(synopsis, "option %s needs an argument", arg);
	cli_usage(synopsis, "unknown option %s", arg);
}

void
cli_help(const char *synopsis, const char *options)
{
	printf("%s\n%s", synopsis, options);
	exit(cli_finish_stdout() == 0 ? EXIT_OK : EXIT_IO);
}

void
cli_version(void)
{
	printf("%s (%s) %s\n", progname, PACKAGE_NAME, PACKAGE_VERSION);
	exit(cli_finish_stdout() == 0 ? EXIT_OK : EXIT_IO);
}

/*
 * A byte count: digits with an optional K, M or G suffix (powers of
 * 1024, "KiB" style accepted too).  Returns 0 or -1.
 */
int
cli_size(const char *s, size_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	if (shift != 0 && strcmp(end, "iB") == 0)
		end += 2;
	else if (shift != 0 && (*end == 'B' || *end == 'b'))
		end++;
	if (*end != '\0' || v > (SIZE_MAX >> shift))
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

/* A decimal integer in [min, max]; returns 0 or -1. */
int
cli_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

uint64_t
cli_number(const char *synopsis, const char *opt, const char *s, uint64_t min,
    uint64_t max)
{
	uint64_t v;

	if (cli_uint(s, min, max, &v) < 0)
		cli_usage(synopsis, "--%s %s: not a number from %llu to %llu",
		    opt, s, (unsigned long long)min, (unsigned long long)max);
	return v;
}

void
cli_token_option(
    const char *synopsis, int c, struct secret *token, const char *arg)
{
	static const enum secret_kind kinds[] = {
		[CLI_OPT_TOKEN - CLI_OPT_TOKEN] = SECRET_ARGV,
		[CLI_OPT_TOKEN_COMMAND - CLI_OPT_TOKEN] = SECRET_COMMAND,
		[CLI_OPT_TOKEN_ENV - CLI_OPT_TOKEN] = SECRET_ENV,
		[CLI_OPT_TOKEN_FILE - CLI_OPT_TOKEN] = SECRET_FILE,
	};

	cli_secret(synopsis, token, "token", kinds[c - CLI_OPT_TOKEN], arg);
}

/* Flush stdio's stdout (help and version text only) and check it. */
int
cli_finish_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE)
			logsys(LOG_ERROR, "stdout");
		return errno == EPIPE ? 0 : -1;
	}
	return 0;
}

void
cli_secret(const char *synopsis, struct secret *s, const char *what,
    enum secret_kind kind, const char *source)
{
	char err[300];

	if (secret_set(s, what, kind, source, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
}
