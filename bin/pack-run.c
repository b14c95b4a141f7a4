/*
 * pack-run: runs a Flyte pack whose handlers are shell commands.
 * Registers the pack with the Flyte API, polls for actions, runs each
 * action's handler and posts its result, turns events from standard
 * input into Flyte events, and serves health checks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clitab.h"
#include "duration.h"
#include "exitcode.h"
#include "frame.h"
#include "log.h"
#include "pack.h"
#include "packrun.h"
#include "secret.h"

static const char synopsis[] =
    "usage: pack-run [-qv] [-a url] [--option ...] -p pack-file\n";

enum {
	OPT_CACERT = CLI_OPT_VERSION + 1,
	OPT_CHECK,
	OPT_DRAIN_TIMEOUT,
	OPT_EVENT_NAME,
	OPT_EXIT_AT_EOF,
	OPT_EXIT_ON_404,
	OPT_HEALTH_ADDR,
	OPT_HEALTH_PORT,
	OPT_INSECURE,
	OPT_JSON_LINES,
	OPT_MAX_HANDLERS,
	OPT_MAX_RECORD,
	OPT_NO_INPUT,
	OPT_POLL_INTERVAL,
	OPT_POST_DEADLINE,
	OPT_SPOOL,
	OPT_TEE,
	OPT_TOKEN,
	OPT_TOKEN_COMMAND,
	OPT_TOKEN_ENV,
	OPT_TOKEN_FILE,
};

static const struct clitab options[] = {
	{ "api", 'a', "URL", "the Flyte API (default: $FLYTE_API)" },
	{ "cacert", OPT_CACERT, "FILE", "trust the CA certificates in FILE" },
	{ "check", OPT_CHECK, NULL,
	    "check the pack file, print its registration" },
	{ "drain-timeout", OPT_DRAIN_TIMEOUT, "TIME",
	    "on SIGTERM, wait this long for handlers (20s)" },
	{ "event-name", OPT_EVENT_NAME, "[TYPE=]NAME",
	    "event name for CloudEvents of TYPE" },
	{ "exit-at-eof", OPT_EXIT_AT_EOF, NULL,
	    "drain and exit when stdin ends" },
	{ "exit-on-404", OPT_EXIT_ON_404, NULL,
	    "exit when the server forgets the pack" },
	{ "health-addr", OPT_HEALTH_ADDR, "ADDR",
	    "health server address (default: all)" },
	{ "health-port", OPT_HEALTH_PORT, "PORT",
	    "health server port (8090; 0: off; auto)" },
	{ "help", 'h', NULL, "print this help and exit" },
	{ "insecure", OPT_INSECURE, NULL,
	    "do not check the server's certificate" },
	{ "json-lines", OPT_JSON_LINES, NULL,
	    "events on stdin are JSON lines" },
	{ "max-handlers", OPT_MAX_HANDLERS, "N",
	    "handlers at once (default: CPUs)" },
	{ "max-record", OPT_MAX_RECORD, "SIZE",
	    "largest event read from stdin (4M)" },
	{ "no-input", OPT_NO_INPUT, NULL, "read no events from stdin" },
	{ "pack", 'p', "FILE", "the pack file" },
	{ "poll-interval", OPT_POLL_INTERVAL, "TIME",
	    "wait after an empty poll (1s; >= 100ms)" },
	{ "post-deadline", OPT_POST_DEADLINE, "TIME",
	    "retry posts this long (10m)" },
	{ "quiet", 'q', NULL, "print errors only" },
	{ "spool", OPT_SPOOL, "DIR", "keep undelivered posts in DIR" },
	{ "tee", OPT_TEE, NULL, "write a CloudEvent per post to stdout" },
	{ "token", OPT_TOKEN, "JWT", "the bearer token (visible in ps)" },
	{ "token-command", OPT_TOKEN_COMMAND, "CMD",
	    "run CMD for the bearer token" },
	{ "token-env", OPT_TOKEN_ENV, "VAR",
	    "the bearer token from VAR (FLYTE_JWT)" },
	{ "token-file", OPT_TOKEN_FILE, "FILE", "the bearer token from FILE" },
	{ "verbose", 'v', NULL, "print more (repeatable)" },
	{ "version", CLI_OPT_VERSION, NULL, "print the version and exit" },
	{ NULL, 0, NULL, NULL },
};

static int64_t
duration_arg(const char *opt, const char *arg, int64_t min)
{
	char smallest[32];
	int64_t ms;

	if (duration_ms(arg, &ms) < 0)
		cli_usage(synopsis,
		    "--%s %s: not a duration (e.g. 500ms, 30s, 10m)", opt, arg);
	if (ms < min) {
		duration_format(smallest, sizeof(smallest), min);
		cli_usage(
		    synopsis, "--%s %s: less than %s", opt, arg, smallest);
	}
	return ms;
}

/* FLYTE_API_TIMEOUT (flyte.md 1.8): whole seconds; 0: no limit. */
static int64_t
api_timeout(void)
{
	const char *s = getenv("FLYTE_API_TIMEOUT");
	uint64_t v;

	if (s == NULL || *s == '\0')
		return 10000;
	if (cli_uint(s, 0, 86400 * 365, &v) < 0)
		cli_usage(synopsis,
		    "FLYTE_API_TIMEOUT=%s: not a whole number of seconds", s);
	return v == 0 ? (int64_t)INT32_MAX : (int64_t)v * 1000;
}

static struct pack *
load(const char *file, int *status)
{
	struct pack *p;
	char err[1024];
	const char *env;

	if ((p = pack_load(file, status, err, sizeof(err))) == NULL) {
		lerr("%s", err);
		return NULL;
	}
	if ((env = getenv("FLYTE_LABELS")) != NULL &&
	    pack_set_labels(p, env, err, sizeof(err)) < 0)
		cli_usage(synopsis, "FLYTE_LABELS: %s", err);
	return p;
}

/* --check: the pack file is good; its registration body on stdout. */
static int
check_pack(const char *file)
{
	struct pack *p;
	char *body;
	int st;

	if ((p = load(file, &st)) == NULL)
		return st;
	if ((body = pack_registration(p)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	printf("%s\n", body);
	free(body);
	pack_free(p);
	return cli_finish_stdout() == 0 ? EXIT_OK : EXIT_IO;
}

int
main(int argc, char *argv[])
{
	static struct secret token;
	struct packrun_opts o = { 0 };
	const char **names = NULL, *packfile = NULL, *env;
	char err[1024];
	struct clitab_getopt g;
	bool check = false;
	uint64_t v;
	long cpus;
	int c, st;

	cli_start(argv[0]);
	o.flyte.poll_interval_ms = 1000;
	o.flyte.post_deadline_ms = 600000;
	o.drain_timeout_ms = 20000;
	o.max_record = FRAME_MAX_DEFAULT;
	o.health_port = 8090;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o.max_handlers = cpus > 0 ? (size_t)cpus : 1;
	opterr = 0;
	clitab_getopt(options, &g);
	while (
	    (c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		switch (c) {
		case 'a':
			o.flyte.api = optarg;
			break;
		case OPT_CACERT:
			o.flyte.http.cacert = optarg;
			break;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_DRAIN_TIMEOUT:
			o.drain_timeout_ms = duration_arg(
			    "drain-timeout", optarg, 0);
			break;
		case OPT_EVENT_NAME:
			if (*optarg == '\0' ||
			    optarg[strlen(optarg) - 1] == '=' || *optarg == '=')
				cli_usage(synopsis,
				    "--event-name %s: not NAME or TYPE=NAME",
				    optarg);
			names = reallocarray(
			    names, o.map.n + 1, sizeof(*names));
			if (names == NULL)
				die(EXIT_INTERNAL, "out of memory");
			names[o.map.n++] = optarg;
			o.map.rules = names;
			break;
		case OPT_EXIT_AT_EOF:
			o.exit_at_eof = true;
			break;
		case OPT_EXIT_ON_404:
			o.flyte.exit_on_404 = true;
			break;
		case OPT_HEALTH_ADDR:
			o.health_addr = optarg;
			break;
		case OPT_HEALTH_PORT:
			if (strcmp(optarg, "auto") == 0)
				o.health_port = -1;
			else if (cli_uint(optarg, 0, 65535, &v) == 0)
				o.health_port = (long)v;
			else
				cli_usage(synopsis,
				    "--health-port %s: not a port number, 0 or "
				    "auto",
				    optarg);
			o.health_required = true;
			break;
		case 'h':
			cli_help(synopsis, clitab_help(options));
		case OPT_INSECURE:
			o.flyte.http.insecure = true;
			break;
		case OPT_JSON_LINES:
			o.input = PACKRUN_INPUT_JSON_LINES;
			break;
		case OPT_MAX_HANDLERS:
			if (cli_uint(optarg, 1, 4096, &v) < 0)
				cli_usage(synopsis,
				    "--max-handlers %s: not a number from 1 "
				    "to 4096",
				    optarg);
			o.max_handlers = (size_t)v;
			break;
		case OPT_MAX_RECORD:
			if (cli_size(optarg, &o.max_record) < 0 ||
			    o.max_record == 0 || o.max_record > (size_t)1 << 30)
				cli_usage(synopsis,
				    "--max-record %s: not a size from 1 to 1G",
				    optarg);
			break;
		case OPT_NO_INPUT:
			o.input = PACKRUN_INPUT_NONE;
			break;
		case 'p':
			packfile = optarg;
			break;
		case OPT_POLL_INTERVAL:
			o.flyte.poll_interval_ms = duration_arg(
			    "poll-interval", optarg, FLYTE_POLL_MIN_MS);
			break;
		case OPT_POST_DEADLINE:
			o.flyte.post_deadline_ms = duration_arg(
			    "post-deadline", optarg, 0);
			break;
		case 'q':
			verbosity = LOG_ERROR;
			break;
		case OPT_SPOOL:
			o.flyte.spool = optarg;
			break;
		case OPT_TEE:
			o.tee = true;
			break;
		case OPT_TOKEN:
			cli_secret(
			    synopsis, &token, "token", SECRET_ARGV, optarg);
			break;
		case OPT_TOKEN_COMMAND:
			cli_secret(
			    synopsis, &token, "token", SECRET_COMMAND, optarg);
			break;
		case OPT_TOKEN_ENV:
			cli_secret(
			    synopsis, &token, "token", SECRET_ENV, optarg);
			o.token_var = optarg;
			break;
		case OPT_TOKEN_FILE:
			cli_secret(
			    synopsis, &token, "token", SECRET_FILE, optarg);
			break;
		case 'v':
			verbosity++;
			break;
		case CLI_OPT_VERSION:
			cli_version();
		default:
			cli_bad_option(synopsis, argv, c);
		}
	clitab_free(&g);
	if (optind < argc)
		cli_usage(synopsis, "unexpected argument %s", argv[optind]);
	if (packfile == NULL)
		cli_usage(synopsis, "no pack file: give -p FILE");
	if (check)
		return check_pack(packfile);
	if (o.flyte.api == NULL && (env = getenv("FLYTE_API")) != NULL &&
	    *env != '\0')
		o.flyte.api = env;
	if (o.flyte.api == NULL)
		cli_usage(
		    synopsis, "no Flyte API: give -a URL or set FLYTE_API");
	if (strncmp(o.flyte.api, "http://", 7) != 0 &&
	    strncmp(o.flyte.api, "https://", 8) != 0)
		cli_usage(
		    synopsis, "%s: not an http or https URL", o.flyte.api);
	if (o.map.n > 0 && o.input != PACKRUN_INPUT_CLOUDEVENTS)
		cli_usage(synopsis,
		    "--event-name is for CloudEvents on stdin, not with "
		    "--json-lines or --no-input");
	if (o.exit_at_eof && o.input == PACKRUN_INPUT_NONE)
		cli_usage(synopsis, "--exit-at-eof: not with --no-input");
	if (o.tee && isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "--tee: refusing to write binary records to a terminal");
	o.flyte.http.timeout_ms = api_timeout();
	/* flyte.md 1.8: FLYTE_JWT, when set and not empty. */
	if (!secret_isset(&token) && (env = getenv("FLYTE_JWT")) != NULL &&
	    *env != '\0')
		cli_secret(synopsis, &token, "token", SECRET_ENV, "FLYTE_JWT");
	if (secret_isset(&token) && secret_load(&token, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	o.flyte.token = &token;

	if ((o.pack = load(packfile, &st)) == NULL)
		return st;

	st = packrun(&o);
	pack_free(o.pack);
	secret_free(&token);
	free(names);
	return st;
}
