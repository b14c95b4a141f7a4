/*
 * forward: deliver delimited CloudEvents from stdin to a gRPC server,
 * at least once: EngFlow's demo forwarder, a Bazel Build Event
 * Service, awakari's messages store, or any unary method.  The engine
 * is lib/fwd.c, the protocols lib/fwd_*.c.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clitab.h"
#include "duration.h"
#include "exitcode.h"
#include "frame.h"
#include "fwd_targets.h"
#include "log.h"

static const char synopsis[] =
    "usage: forward [-nqv] [-p protocol] [-t url] [option ...]\n";

enum {
	O_ACKED_TO = CLI_OPT_VERSION + 1,
	O_AUTH_HEADER,
	O_CACERT,
	O_CERT,
	O_DEAD_LETTER,
	O_DRAIN_TIMEOUT,
	O_FORWARD,
	O_INSECURE,
	O_KEY,
	O_LIFECYCLE,
	O_LINGER,
	O_METHOD,
	O_PROJECT_ID,
	O_RETRIES,
	O_SKIP_UNKNOWN,
	O_TEE,
	O_TIMEOUT,
	O_UNSENDABLE,
	O_WHOLE,
	O_VERSION = CLI_OPT_VERSION,
};

/* Sorted by long name; the manual lists the same. */
static const struct clitab options[] = {
	{ "acked-to", O_ACKED_TO, "FIFO",
	    "write evpipeack of delivered events" },
	{ "auth-header", O_AUTH_HEADER, "KIND",
	    "engflow (default) or bearer: how the token goes" },
	{ "batch", 'b', "N", "store: events per PutBatch (default 100)" },
	{ "cacert", O_CACERT, "FILE", "trust these CAs (PEM) for grpcs://" },
	{ "cert", O_CERT, "FILE", "client certificate (PEM), for mTLS" },
	{ "dead-letter", O_DEAD_LETTER, "FILE",
	    "append undelivered events here on failure" },
	{ "drain-timeout", O_DRAIN_TIMEOUT, "TIME",
	    "after SIGTERM, deliver for this long (default 30s)" },
	{ "dry-run", 'n', NULL, "print the requests instead of sending them" },
	{ "forward", O_FORWARD, "URL", "the same as --to" },
	{ "header", 'H', "NAME=VALUE", "send this metadata on every call" },
	{ "help", 'h', NULL, "print this help and exit" },
	{ "insecure", O_INSECURE, NULL, "do not check the server certificate" },
	{ "key", O_KEY, "FILE", "private key (PEM) of --cert" },
	{ "lifecycle", O_LIFECYCLE, NULL, "bes: publish lifecycle events too" },
	{ "linger", O_LINGER, "TIME",
	    "store: how long a batch waits to fill (default 50ms)" },
	{ "max-record", 'm', "SIZE", "largest input record (default 4M)" },
	{ "method", O_METHOD, "PATH",
	    "unary: the method, /pkg.Service/Method" },
	{ "project-id", O_PROJECT_ID, "ID", "bes: the project_id of requests" },
	{ "protocol", 'p', "NAME", "demo (default), bes, store or unary" },
	{ "quiet", 'q', NULL, "print errors only" },
	{ "retries", O_RETRIES, "N",
	    "give up after N failures in a row (default: never)" },
	{ "skip-unknown", O_SKIP_UNKNOWN, NULL,
	    "the same as --unsendable=skip (the default)" },
	{ "tee", O_TEE, NULL, "write each delivered event to stdout" },
	{ "timeout", O_TIMEOUT, "TIME",
	    "deadline of unary calls (default 30s)" },
	{ "to", 't', "URL", "the server: grpc://, grpcs:// or unix:" },
	{ "token", CLI_OPT_TOKEN, "TOKEN",
	    "a token (visible in ps; prefer the next)" },
	{ "token-command", CLI_OPT_TOKEN_COMMAND, "CMD",
	    "the token is what this prints" },
	{ "token-env", CLI_OPT_TOKEN_ENV, "NAME",
	    "the token is in this variable" },
	{ "token-file", CLI_OPT_TOKEN_FILE, "FILE",
	    "the token is in this file" },
	{ "unsendable", O_UNSENDABLE, "ACTION",
	    "skip, dead-letter or fail: events with nothing to deliver" },
	{ "verbose", 'v', NULL, "print more (repeatable)" },
	{ "version", O_VERSION, NULL, "print the version and exit" },
	{ "whole", O_WHOLE, NULL, "demo, unary: send the whole CloudEvent" },
	{ "window", 'w', "N", "events in flight, at most (default 100)" },
	{ NULL, 0, NULL, NULL },
};

static struct {
	struct fwd_opts o;
	const char *protocol, *method;
	struct bes_opts bes;
	struct store_opts store;
	bool whole, set_batch, set_linger, set_unsendable;
} A;

#define usage(...) cli_usage(synopsis, __VA_ARGS__)

static int64_t
duration(const char *opt, const char *s)
{
	int64_t ms;

	if (duration_ms(s, &ms) < 0)
		cli_usage(synopsis,
		    "--%s %s: not a duration such as 30, 30s, 1m or 1d", opt,
		    s);
	return ms;
}

/*
 * --header name=value: gRPC metadata, so the name is lower-cased and
 * must be a valid key (PROTOCOL-HTTP2 "Custom-Metadata"), not one the
 * transport sets, and the value printable ASCII.
 */
static void
header(char *arg)
{
	char *eq = strchr(arg, '='), *p;

	if (eq == NULL || eq == arg)
		usage("--header %s: not NAME=VALUE", arg);
	if (A.o.nheaders == FWD_MAX_HEADERS)
		usage("--header %s: too many headers", arg);
	*eq = '\0';
	for (p = arg; *p != '\0'; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isdigit((unsigned char)*p) &&
		    !islower((unsigned char)*p) && strchr("-_.", *p) == NULL)
			usage("--header %s: not a metadata name", arg);
	}
	if (strncmp(arg, "grpc-", 5) == 0 || strcmp(arg, "te") == 0 ||
	    strcmp(arg, "content-type") == 0 || strcmp(arg, "user-agent") == 0)
		usage("--header %s: set by the transport", arg);
	for (p = eq + 1; *p != '\0'; p++)
		if (*p < 0x20 || *p > 0x7e)
			usage("--header %s: the value is not printable ASCII",
			    arg);
	A.o.headers[A.o.nheaders++] = (struct gmd){ arg, eq + 1,
		strlen(eq + 1) };
}

static void
target(const char *url)
{
	char err[400];

	if (target_parse(&A.o.chan.target, url, err, sizeof(err)) < 0)
		usage("%s", err);
	A.o.url = url;
}

static void
parse(int argc, char **argv)
{
	struct clitab_getopt g;
	char *help;
	int c;

	clitab_getopt(options, &g);
	opterr = 0;
	while (
	    (c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
		switch (c) {
		case O_ACKED_TO:
			A.o.acked_to = optarg;
			break;
		case O_AUTH_HEADER:
			if (strcmp(optarg, "engflow") == 0)
				A.o.auth = AUTH_ENGFLOW;
			else if (strcmp(optarg, "bearer") == 0)
				A.o.auth = AUTH_BEARER;
			else
				usage("--auth-header %s: engflow or bearer",
				    optarg);
			break;
		case 'b':
			A.store.batch = cli_number(
			    synopsis, "batch", optarg, 1, 100000);
			A.set_batch = true;
			break;
		case O_CACERT:
			A.o.chan.tls.cacert = optarg;
			break;
		case O_CERT:
			A.o.chan.tls.cert = optarg;
			break;
		case O_DEAD_LETTER:
			A.o.dead_letter = optarg;
			break;
		case O_DRAIN_TIMEOUT:
			A.o.drain_ms = duration("drain-timeout", optarg);
			break;
		case 'n':
			A.o.dry_run = true;
			break;
		case O_FORWARD:
		case 't':
			target(optarg);
			break;
		case 'H':
			header(optarg);
			break;
		case 'h':
			help = clitab_help(options);
			cli_help(synopsis, help);
		case O_INSECURE:
			A.o.chan.tls.insecure = true;
			break;
		case O_KEY:
			A.o.chan.tls.key = optarg;
			break;
		case O_LIFECYCLE:
			A.bes.lifecycle = true;
			break;
		case O_LINGER:
			A.store.linger_ms = duration("linger", optarg);
			A.set_linger = true;
			break;
		case 'm':
			if (cli_size(optarg, &A.o.max_record) < 0 ||
			    A.o.max_record == 0 ||
			    A.o.max_record > (size_t)1 << 30)
				usage(
				    "--max-record %s: not a size from 1 to 1G",
				    optarg);
			break;
		case O_METHOD:
			A.method = optarg;
			break;
		case O_PROJECT_ID:
			A.bes.project_id = optarg;
			break;
		case 'p':
			A.protocol = optarg;
			break;
		case 'q':
			verbosity = LOG_ERROR;
			break;
		case O_RETRIES:
			A.o.retries = cli_number(
			    synopsis, "retries", optarg, 1, UINT32_MAX);
			break;
		case O_SKIP_UNKNOWN:
			A.o.unsendable = FWD_UNSENDABLE_SKIP;
			A.set_unsendable = true;
			break;
		case O_TEE:
			A.o.tee = true;
			break;
		case O_TIMEOUT:
			A.o.timeout_ms = duration("timeout", optarg);
			if (A.o.timeout_ms == 0)
				usage("--timeout %s: must be above 0", optarg);
			break;
		case CLI_OPT_TOKEN:
		case CLI_OPT_TOKEN_COMMAND:
		case CLI_OPT_TOKEN_ENV:
		case CLI_OPT_TOKEN_FILE:
			cli_token_option(synopsis, c, &A.o.token, optarg);
			break;
		case O_UNSENDABLE:
			if (strcmp(optarg, "skip") == 0)
				A.o.unsendable = FWD_UNSENDABLE_SKIP;
			else if (strcmp(optarg, "dead-letter") == 0)
				A.o.unsendable = FWD_UNSENDABLE_DEAD_LETTER;
			else if (strcmp(optarg, "fail") == 0)
				A.o.unsendable = FWD_UNSENDABLE_FAIL;
			else
				usage("--unsendable %s: skip, dead-letter or "
				      "fail",
				    optarg);
			A.set_unsendable = true;
			break;
		case 'v':
			verbosity++;
			break;
		case O_VERSION:
			cli_version();
		case O_WHOLE:
			A.whole = true;
			break;
		case 'w':
			A.o.window = cli_number(
			    synopsis, "window", optarg, 1, 1000000);
			break;
		default:
			cli_bad_option(synopsis, argv, c);
		}
	clitab_free(&g);
	if (optind < argc)
		usage("unexpected argument %s", argv[optind]);
}

/* Options that only one protocol reads are mistakes with the others. */
static void
check(void)
{
	const char *p = A.protocol;
	bool bes = strcmp(p, "bes") == 0, store = strcmp(p, "store") == 0;
	bool unary = strcmp(p, "unary") == 0, demo = strcmp(p, "demo") == 0;
	char err[300];

	if (!bes && !store && !unary && !demo)
		usage("--protocol %s: demo, bes, store or unary", p);
	if (A.o.url == NULL && !A.o.dry_run)
		usage("%s", "no server: give --to URL (or --dry-run)");
	if (unary != (A.method != NULL))
		usage("%s",
		    unary ? "--protocol unary needs --method" :
			    "--method is for --protocol unary");
	if (A.whole && !demo && !unary)
		usage("--whole is for --protocol demo or unary");
	if ((A.bes.lifecycle || A.bes.project_id != NULL) && !bes)
		usage("--lifecycle and --project-id are for --protocol bes");
	if ((A.set_batch || A.set_linger) && !store)
		usage("--batch and --linger are for --protocol store");
	if (A.set_unsendable && (demo || store))
		usage("--unsendable and --skip-unknown are for --protocol bes "
		      "or unary: %s takes every event",
		    p);
	if (A.o.unsendable == FWD_UNSENDABLE_DEAD_LETTER &&
	    A.o.dead_letter == NULL)
		usage("%s", "--unsendable dead-letter needs --dead-letter");
	if (A.o.tee && A.o.dry_run)
		usage("%s", "--tee and --dry-run both write to stdout");
	if (A.o.tee && isatty(STDOUT_FILENO))
		usage("%s", "--tee: refusing to write records to a terminal");
	if ((A.o.chan.tls.cert != NULL) != (A.o.chan.tls.key != NULL))
		usage("%s", "--cert and --key go together");
	if (secret_isset(&A.o.token) &&
	    secret_load(&A.o.token, err, sizeof(err)) < 0)
		usage("%s", err);
}

int
main(int argc, char *argv[])
{
	struct fwd *f;
	char err[512];
	int status;

	cli_start(argv[0]);
	A.protocol = "demo";
	A.o.window = 100;
	A.o.timeout_ms = 30000;
	A.o.drain_ms = 30000;
	A.o.max_record = FRAME_MAX_DEFAULT;
	A.store.batch = 100;
	A.store.linger_ms = 50;
	parse(argc, argv);
	check();
	if (A.o.url == NULL)
		A.o.url = "(dry run)";
	if ((f = fwd_new(&A.o, &status, err, sizeof(err))) == NULL)
		die(status, "%s", err);
	if (strcmp(A.protocol, "demo") == 0)
		fwd_demo_start(f, A.whole);
	else if (strcmp(A.protocol, "unary") == 0 &&
	    fwd_method_start(f, A.method, A.whole, err, sizeof(err)) < 0)
		usage("--method %s", err);
	else if (strcmp(A.protocol, "bes") == 0)
		fwd_bes_start(f, &A.bes);
	else if (strcmp(A.protocol, "store") == 0)
		fwd_store_start(f, &A.store);
	status = fwd_run(f);
	fwd_free(f);
	return status;
}
