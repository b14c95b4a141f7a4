/*
 * resolve: notifications in, the events they point at out.  Reads
 * delimited CloudEvents; an EngFlow build lifecycle notification
 * becomes the invocation's (or build's) events from the event store,
 * an Axway watch event the resource it names; anything else passes
 * through.  Output is in input order.  The driver is lib/resolve.c.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdnoreturn.h>
#include <unistd.h>

#include "cli.h"
#include "clitab.h"
#include "duration.h"
#include "eventstore.h"
#include "exitcode.h"
#include "log.h"
#include "resolve.h"

static const char synopsis[] =
    "usage: resolve [-qv] [-m size] [--api api] [--endpoint url] "
    "[--central url] [--tenant id] [option ...]\n";

enum {
	OPT_API = CLI_OPT_VERSION + 1,
	OPT_AUTH_HEADER,
	OPT_BUFFER,
	OPT_BUILDS,
	OPT_CACERT,
	OPT_CENTRAL,
	OPT_CERT,
	OPT_DEDUPE,
	OPT_DRAIN_TIMEOUT,
	OPT_DROP,
	OPT_ENDPOINT,
	OPT_INSECURE,
	OPT_KEY,
	OPT_ON,
	OPT_PARALLEL,
	OPT_PASS_NOTIFICATIONS,
	OPT_REPLAY,
	OPT_RETRIES,
	OPT_TENANT,
};

/* Sorted by long name; the manual lists the same. */
static const struct clitab options[] = {
	{ "api", OPT_API, "API", "engflow (the default) or axway" },
	{ "auth-header", OPT_AUTH_HEADER, "KIND",
	    "engflow (x-engflow-auth-*, the default) or bearer" },
	{ "buffer", OPT_BUFFER, "SIZE",
	    "bytes kept per notification waiting its turn (256K)" },
	{ "builds", OPT_BUILDS, NULL,
	    "resolve build notifications with GetBuild" },
	{ "cacert", OPT_CACERT, "FILE", "trusted CA certificates (PEM)" },
	{ "central", OPT_CENTRAL, "URL",
	    "Axway Central, e.g. https://apicentral.axway.com" },
	{ "cert", OPT_CERT, "FILE", "client certificate (PEM) for mTLS" },
	{ "dedupe-window", OPT_DEDUPE, "N",
	    "resolve an id seen among the last N once (10000)" },
	{ "drain-timeout", OPT_DRAIN_TIMEOUT, "TIME",
	    "after SIGTERM, finish for this long (default 10s)" },
	{ "drop-unknown", OPT_DROP, NULL,
	    "drop what is not a notification to resolve" },
	{ "endpoint", OPT_ENDPOINT, "URL",
	    "the event store: grpc[s]://host[:port]" },
	{ "event_store_endpoint", OPT_ENDPOINT, "URL",
	    "the EngFlow client's name for --endpoint" },
	{ "help", 'h', NULL, "print this help and exit" },
	{ "insecure", OPT_INSECURE, NULL,
	    "do not verify the server's certificate" },
	{ "key", OPT_KEY, "FILE", "the private key of --cert (PEM)" },
	{ "max-record", 'm', "SIZE", "largest record in bytes (default 4M)" },
	{ "on", OPT_ON, "PHASES",
	    "started, finished (the default) or started,finished" },
	{ "parallel", OPT_PARALLEL, "N",
	    "notifications resolved at once (default 4)" },
	{ "pass-notifications", OPT_PASS_NOTIFICATIONS, NULL,
	    "write each notification ahead of its events" },
	{ "quiet", 'q', NULL, "print errors only" },
	{ "replay-mode", OPT_REPLAY, "MODE",
	    "until-complete (default) or stop-after-last-known" },
	{ "retries", OPT_RETRIES, "N",
	    "failed attempts in a row before giving up (0: never)" },
	{ "tenant", OPT_TENANT, "ID", "Axway organization id" },
	{ "tls_certificate", OPT_CERT, "FILE",
	    "the EngFlow client's name for --cert" },
	{ "tls_key", OPT_KEY, "FILE", "the EngFlow client's name for --key" },
	{ "token", CLI_OPT_TOKEN, "TOKEN",
	    "the token itself (other users can see it)" },
	{ "token-command", CLI_OPT_TOKEN_COMMAND, "CMD",
	    "the token is what CMD prints" },
	{ "token-env", CLI_OPT_TOKEN_ENV, "NAME",
	    "the token is in environment variable NAME" },
	{ "token-file", CLI_OPT_TOKEN_FILE, "FILE",
	    "the token is in FILE (read again on change)" },
	{ "verbose", 'v', NULL, "print more (repeatable)" },
	{ "version", CLI_OPT_VERSION, NULL, "print the version and exit" },
	{ NULL, 0, NULL, NULL },
};

static noreturn void
help(void)
{
	cli_help(synopsis, clitab_help(options));
}

static size_t
size(const char *opt, const char *arg)
{
	size_t v;

	if (cli_size(arg, &v) < 0 || v == 0 || v > (size_t)1 << 30)
		cli_usage(synopsis, "%s %s: not a size from 1 to 1G", opt, arg);
	return v;
}

static void
parse_on(struct resolve_opts *o, const char *arg)
{
	char *s, *p, *save = NULL;

	o->on_started = o->on_finished = false;
	if ((s = strdup(arg)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (p = strtok_r(s, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (strcmp(p, "started") == 0)
			o->on_started = true;
		else if (strcmp(p, "finished") == 0)
			o->on_finished = true;
		else
			cli_usage(synopsis,
			    "--on %s: not started, finished or both", arg);
	}
	free(s);
	if (!o->on_started && !o->on_finished)
		cli_usage(
		    synopsis, "--on %s: not started, finished or both", arg);
}

static void
parse_args(struct resolve_opts *o, int argc, char *argv[])
{
	struct clitab_getopt g;
	int64_t ms;
	int c;

	clitab_getopt(options, &g);
	opterr = 0;
	while (
	    (c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		switch (c) {
		case OPT_API:
			if (strcmp(optarg, "engflow") == 0)
				o->api = RESOLVE_ENGFLOW;
			else if (strcmp(optarg, "axway") == 0)
				o->api = RESOLVE_AXWAY;
			else
				cli_usage(synopsis,
				    "--api %s: not engflow or axway", optarg);
			break;
		case OPT_AUTH_HEADER:
			if (strcmp(optarg, "bearer") == 0)
				o->bearer = true;
			else if (strcmp(optarg, "engflow") == 0)
				o->bearer = false;
			else
				cli_usage(synopsis,
				    "--auth-header %s: not engflow or bearer",
				    optarg);
			break;
		case OPT_BUFFER:
			o->buffer = size("--buffer", optarg);
			break;
		case OPT_BUILDS:
			o->builds = true;
			break;
		case OPT_CACERT:
			o->tls.cacert = optarg;
			break;
		case OPT_CENTRAL:
			o->central = optarg;
			break;
		case OPT_CERT:
			o->tls.cert = optarg;
			break;
		case OPT_DEDUPE:
			o->dedupe_window = cli_number(
			    synopsis, "dedupe-window", optarg, 0, 100000000);
			break;
		case OPT_DRAIN_TIMEOUT:
			if (duration_option(optarg, &ms) < 0)
				cli_usage(synopsis,
				    "--drain-timeout %s: not a duration such "
				    "as 30, 30s, 1m or 1d",
				    optarg);
			if (duration_ms(optarg, &ms) < 0 || ms > 86400000)
				cli_usage(synopsis,
				    "--drain-timeout %s: not a time from 0s "
				    "to a day",
				    optarg);
			o->drain_ms = ms;
			break;
		case OPT_DROP:
			o->drop_unknown = true;
			break;
		case OPT_ENDPOINT:
			o->endpoint = optarg;
			break;
		case 'h':
			help();
		case OPT_INSECURE:
			o->tls.insecure = true;
			break;
		case OPT_KEY:
			o->tls.key = optarg;
			break;
		case 'm':
			o->max_record = size("-m", optarg);
			break;
		case OPT_ON:
			parse_on(o, optarg);
			break;
		case OPT_PARALLEL:
			o->parallel = cli_number(
			    synopsis, "parallel", optarg, 1, 1000);
			break;
		case OPT_PASS_NOTIFICATIONS:
			o->pass_notifications = true;
			break;
		case 'q':
			verbosity = LOG_ERROR;
			break;
		case OPT_REPLAY:
			if (strcmp(optarg, "until-complete") == 0 ||
			    strcmp(optarg, "UNTIL_COMPLETE") == 0)
				o->replay_mode = ES_UNTIL_COMPLETE;
			else if (strcmp(optarg, "stop-after-last-known") == 0 ||
			    strcmp(optarg, "STOP_AFTER_LAST_KNOWN") == 0)
				o->replay_mode = ES_STOP_AFTER_LAST_KNOWN;
			else
				cli_usage(synopsis,
				    "--replay-mode %s: not until-complete or "
				    "stop-after-last-known",
				    optarg);
			break;
		case OPT_RETRIES:
			o->retries = cli_number(
			    synopsis, "retries", optarg, 0, UINT32_MAX);
			break;
		case OPT_TENANT:
			o->tenant = optarg;
			break;
		case CLI_OPT_TOKEN:
		case CLI_OPT_TOKEN_COMMAND:
		case CLI_OPT_TOKEN_ENV:
		case CLI_OPT_TOKEN_FILE:
			cli_token_option(synopsis, c, &o->token, optarg);
			break;
		case 'v':
			verbosity++;
			break;
		case CLI_OPT_VERSION:
			cli_version();
		default:
			cli_bad_option(synopsis, argv, c);
		}
	if (optind < argc)
		cli_usage(synopsis, "unexpected argument %s", argv[optind]);
	clitab_free(&g);
}

static void
check(struct resolve_opts *o)
{
	char err[300];

	if (o->api == RESOLVE_AXWAY) {
		if (o->central == NULL || o->tenant == NULL)
			cli_usage(synopsis,
			    "--api axway needs --central and --tenant");
		if (o->endpoint != NULL || o->builds || o->tls.cert != NULL ||
		    o->pass_notifications)
			cli_usage(synopsis,
			    "--endpoint, --builds, --cert and "
			    "--pass-notifications are for --api engflow");
		if (!secret_isset(&o->token))
			cli_usage(synopsis,
			    "--api axway needs a token (--token-file, "
			    "--token-env or --token-command)");
	} else {
		if (o->endpoint == NULL)
			cli_usage(synopsis, "--endpoint is missing");
		if (o->central != NULL || o->tenant != NULL)
			cli_usage(synopsis,
			    "--central and --tenant are for --api axway");
		if (target_parse(&o->target, o->endpoint, err, sizeof(err)) < 0)
			cli_usage(synopsis, "%s", err);
		if (!o->target.tls &&
		    (o->tls.cert != NULL || o->tls.cacert != NULL ||
			o->tls.insecure))
			cli_usage(synopsis, "%s: TLS options need grpcs://",
			    o->endpoint);
	}
	if ((o->tls.cert == NULL) != (o->tls.key == NULL))
		cli_usage(synopsis, "--cert and --key go together");
	if (secret_isset(&o->token) &&
	    secret_load(&o->token, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	if (isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "refusing to write binary records to a terminal (pipe "
		    "into evcat)");
}

int
main(int argc, char *argv[])
{
	struct resolve_opts o;
	struct resolve *r;
	char err[300];
	int status;

	cli_start(argv[0]);
	resolve_opts_init(&o);
	parse_args(&o, argc, argv);
	check(&o);
	if ((r = resolve_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_USAGE, "%s", err);
	status = resolve_run(r);
	resolve_free(r);
	return status;
}
