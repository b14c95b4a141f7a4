/*
 * subscribe: keeps a gRPC subscription open and writes every event it
 * delivers to stdout as a delimited CloudEvent: the EngFlow
 * notification queue, Axway's watch service, or any streaming method.
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "axway_watch.h"
#include "cli.h"
#include "engflow_queue.h"
#include "exitcode.h"
#include "generic_stream.h"
#include "log.h"
#include "sub.h"

static const char synopsis[] =
    "usage: subscribe [-fqv] [-c count] [option ...] --endpoint=url "
    "--queue=name | --topic=link | --method=path\n";

static const char options[] =
    "      --ack-deadline=TIME  EngFlow: acknowledgement deadline, 30s to "
    "300s\n"
    "      --ack-from=FIFO      acknowledge an event once its id comes "
    "back here\n"
    "      --api=API            engflow, axway or generic (default: from "
    "the\n"
    "                           --queue, --topic or --method given)\n"
    "      --auth-header=KIND   how the token is sent: engflow "
    "(x-engflow-auth-*)\n"
    "                           or bearer (authorization: Bearer)\n"
    "      --cacert=FILE        trust the CA certificates in FILE (PEM)\n"
    "      --cert=FILE, --tls_certificate=FILE\n"
    "                           client certificate for mutual TLS (PEM)\n"
    "      --connect-to=HOST:PORT\n"
    "                           connect there instead, keeping the "
    "endpoint's name\n"
    "  -c, --count=N            stop after writing N events\n"
    "      --endpoint=URL, --notification_queue_endpoint=URL\n"
    "                           the server: grpc://host[:port], "
    "grpcs://host[:port]\n"
    "                           or unix:path\n"
    "  -f, --force              write records even to a terminal\n"
    "      --harvester=URL      Axway: the catch-up API (default "
    "https://HOST:PORT/events)\n"
    "  -h, --help               print this help and exit\n"
    "      --idle-timeout=TIME  stop after TIME without an event\n"
    "      --insecure           do not verify the server's certificate\n"
    "      --keepalive=TIME     HTTP/2 ping after TIME without traffic "
    "(default 50s)\n"
    "      --keepalive-timeout=TIME\n"
    "                           give up on the connection when a ping is "
    "not\n"
    "                           answered in TIME (default 10s)\n"
    "      --key=FILE, --tls_key=FILE\n"
    "                           private key of --cert (PEM)\n"
    "      --max-pending=N      events written but not yet acknowledged "
    "(default 1000)\n"
    "      --method=PATH        generic: the streaming method, "
    "/package.Service/Method\n"
    "      --page-size=N        Axway: events per catch-up page (default "
    "100)\n"
    "      --proxy=URL          HTTP CONNECT proxy, http://[user:pass@]"
    "host:port\n"
    "  -q, --quiet              print errors only\n"
    "      --queue=NAME, --queue_name=NAME\n"
    "                           EngFlow: the notification queue\n"
    "      --request-file=FILE  generic: the request message, protobuf "
    "bytes\n"
    "      --retries=N          give up after N failed attempts in a row "
    "(default:\n"
    "                           never)\n"
    "      --since=ID           Axway: start after this sequence id\n"
    "      --state=FILE         Axway: keep the last sequence id written "
    "in FILE\n"
    "      --tenant=ID          Axway: the organization id\n"
    "      --token=TOKEN        the token itself (visible to other users; "
    "warns)\n"
    "      --token-command=CMD  the token is what CMD prints\n"
    "      --token-env=NAME     the token is in environment variable NAME\n"
    "      --token-file=FILE    the token is in FILE (read again when it "
    "changes)\n"
    "      --topic=LINK         Axway: the watch topic's self link\n"
    "      --type=NAME          generic: the response message's full "
    "name\n"
    "  -v, --verbose            print more (repeatable)\n"
    "      --version            print the version and exit\n";

enum {
	OPT_ACK_DEADLINE = 0x200,
	OPT_ACK_FROM,
	OPT_API,
	OPT_AUTH_HEADER,
	OPT_CACERT,
	OPT_CERT,
	OPT_CONNECT_TO,
	OPT_ENDPOINT,
	OPT_HARVESTER,
	OPT_IDLE_TIMEOUT,
	OPT_INSECURE,
	OPT_KEEPALIVE,
	OPT_KEEPALIVE_TIMEOUT,
	OPT_KEY,
	OPT_MAX_PENDING,
	OPT_METHOD,
	OPT_PAGE_SIZE,
	OPT_PROXY,
	OPT_QUEUE,
	OPT_REQUEST_FILE,
	OPT_RETRIES,
	OPT_SINCE,
	OPT_STATE,
	OPT_TENANT,
	OPT_TOKEN,
	OPT_TOKEN_COMMAND,
	OPT_TOKEN_ENV,
	OPT_TOKEN_FILE,
	OPT_TOPIC,
	OPT_TYPE,
};

/* Sorted; the original EngFlow client's spellings next to ours. */
static const struct option longopts[] = {
	{ "ack-deadline", required_argument, NULL, OPT_ACK_DEADLINE },
	{ "ack-from", required_argument, NULL, OPT_ACK_FROM },
	{ "api", required_argument, NULL, OPT_API },
	{ "auth-header", required_argument, NULL, OPT_AUTH_HEADER },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "connect-to", required_argument, NULL, OPT_CONNECT_TO },
	{ "count", required_argument, NULL, 'c' },
	{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
	{ "force", no_argument, NULL, 'f' },
	{ "harvester", required_argument, NULL, OPT_HARVESTER },
	{ "help", no_argument, NULL, 'h' },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "keepalive", required_argument, NULL, OPT_KEEPALIVE },
	{ "keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "max-pending", required_argument, NULL, OPT_MAX_PENDING },
	{ "method", required_argument, NULL, OPT_METHOD },
	{ "notification_queue_endpoint", required_argument, NULL,
	    OPT_ENDPOINT },
	{ "page-size", required_argument, NULL, OPT_PAGE_SIZE },
	{ "proxy", required_argument, NULL, OPT_PROXY },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "queue_name", required_argument, NULL, OPT_QUEUE },
	{ "quiet", no_argument, NULL, 'q' },
	{ "request-file", required_argument, NULL, OPT_REQUEST_FILE },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "tenant", required_argument, NULL, OPT_TENANT },
	{ "tls_certificate", required_argument, NULL, OPT_CERT },
	{ "tls_key", required_argument, NULL, OPT_KEY },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-command", required_argument, NULL, OPT_TOKEN_COMMAND },
	{ "token-env", required_argument, NULL, OPT_TOKEN_ENV },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/*
 * A duration: a decimal number and a unit (ms, s, m, h; none means
 * seconds), in milliseconds.
 */
static int64_t
parse_time(const char *opt, const char *s, int64_t min, int64_t max)
{
	char *end;
	double v, unit = 1000;

	v = strtod(s, &end);
	if (end != s && *s >= '0' && *s <= '9') {
		if (strcmp(end, "ms") == 0)
			unit = 1;
		else if (strcmp(end, "s") == 0 || *end == '\0')
			unit = 1000;
		else if (strcmp(end, "m") == 0)
			unit = 60000;
		else if (strcmp(end, "h") == 0)
			unit = 3600000;
		else
			unit = -1;
		v *= unit;
		if (unit > 0 && isfinite(v) && v >= (double)min &&
		    v <= (double)max)
			return (int64_t)llround(v);
	}
	cli_usage(synopsis, "--%s %s: not a time from %lldms to %llds", opt, s,
	    (long long)min, (long long)max / 1000);
}

static uint64_t
parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (cli_uint(s, min, max, &v) < 0)
		cli_usage(synopsis, "--%s %s: not a number from %llu to %llu",
		    opt, s, (unsigned long long)min, (unsigned long long)max);
	return v;
}

static void
set_token(struct sub_opts *o, enum secret_kind kind, const char *src)
{
	char err[300];

	if (secret_set(&o->token, "token", kind, src, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
}

/* Options that belong to one API only. */
static void
only_for(
    const struct sub_opts *o, bool given, const char *opt, enum sub_api api)
{
	static const char *const names[] = { [SUB_API_ENGFLOW] = "engflow",
		[SUB_API_AXWAY] = "axway",
		[SUB_API_GENERIC] = "generic" };

	if (given && o->api != api)
		cli_usage(
		    synopsis, "--%s is for --api %s only", opt, names[api]);
}

static void
check(struct sub_opts *o, const char *api, bool page_size_given)
{
	char err[300];

	if (api != NULL) {
		if (strcmp(api, "engflow") == 0)
			o->api = SUB_API_ENGFLOW;
		else if (strcmp(api, "axway") == 0)
			o->api = SUB_API_AXWAY;
		else if (strcmp(api, "generic") == 0)
			o->api = SUB_API_GENERIC;
		else
			cli_usage(synopsis,
			    "--api %s: not engflow, axway or generic", api);
	} else if ((o->queue != NULL) + (o->topic != NULL) +
		(o->method != NULL) >
	    1) {
		cli_usage(synopsis,
		    "--queue, --topic and --method exclude each other");
	} else if (o->queue != NULL) {
		o->api = SUB_API_ENGFLOW;
	} else if (o->topic != NULL) {
		o->api = SUB_API_AXWAY;
	} else if (o->method != NULL) {
		o->api = SUB_API_GENERIC;
	} else {
		cli_usage(synopsis, "no --queue, --topic or --method");
	}
	if (o->endpoint == NULL)
		cli_usage(synopsis, "no --endpoint");
	if (target_parse(&o->target, o->endpoint, err, sizeof(err)) < 0)
		cli_usage(synopsis, "--endpoint %s", err);

	only_for(o, o->queue != NULL, "queue", SUB_API_ENGFLOW);
	only_for(o, o->ack_deadline_ms > 0, "ack-deadline", SUB_API_ENGFLOW);
	only_for(o, o->topic != NULL, "topic", SUB_API_AXWAY);
	only_for(o, o->tenant != NULL, "tenant", SUB_API_AXWAY);
	only_for(o, o->harvester != NULL, "harvester", SUB_API_AXWAY);
	only_for(o, o->state != NULL, "state", SUB_API_AXWAY);
	only_for(o, o->since >= 0, "since", SUB_API_AXWAY);
	only_for(o, page_size_given, "page-size", SUB_API_AXWAY);
	only_for(o, o->method != NULL, "method", SUB_API_GENERIC);
	only_for(o, o->request_file != NULL, "request-file", SUB_API_GENERIC);
	only_for(o, o->type != NULL, "type", SUB_API_GENERIC);

	switch (o->api) {
	case SUB_API_ENGFLOW:
		if (o->queue == NULL || *o->queue == '\0')
			cli_usage(synopsis, "--api engflow needs --queue");
		break;
	case SUB_API_AXWAY:
		if (o->topic == NULL || o->topic[0] != '/')
			cli_usage(synopsis,
			    "--api axway needs --topic, a self link such as "
			    "/management/v1alpha1/watchtopics/NAME");
		if (o->tenant == NULL || *o->tenant == '\0')
			cli_usage(synopsis, "--api axway needs --tenant");
		if (!secret_isset(&o->token))
			cli_usage(synopsis,
			    "--api axway needs a token (--token-command, "
			    "--token-file, --token-env or --token)");
		if (o->auth == SUB_AUTH_ENGFLOW && o->auth_given)
			cli_usage(synopsis,
			    "--api axway sends the token as a bearer token");
		o->auth = SUB_AUTH_BEARER;
		break;
	case SUB_API_GENERIC:
		if (o->method == NULL || o->method[0] != '/' ||
		    strchr(o->method + 1, '/') == NULL ||
		    strchr(o->method + 1, '/')[1] == '\0')
			cli_usage(synopsis,
			    "--method %s: not /package.Service/Method",
			    o->method != NULL ? o->method : "");
		if (!o->auth_given)
			o->auth = SUB_AUTH_BEARER;
		break;
	}
	if ((o->tls.cert != NULL) != (o->tls.key != NULL))
		cli_usage(synopsis, "--cert and --key go together");
	if (!o->target.tls &&
	    (o->tls.cert != NULL || o->tls.cacert != NULL || o->tls.insecure))
		cli_usage(synopsis,
		    "--cert, --key, --cacert and --insecure need a grpcs:// "
		    "endpoint");
	if (o->connect_to != NULL && o->target.unix_socket)
		cli_usage(synopsis,
		    "--connect-to needs a grpc:// or grpcs:// "
		    "endpoint");
	if (o->keepalive_ms > 0 && o->keepalive_ms < 10000)
		cli_usage(synopsis, "--keepalive: at least 10s (or 0: off)");
	if (secret_isset(&o->token) &&
	    secret_load(&o->token, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
}

int
main(int argc, char *argv[])
{
	static struct sub_opts o;
	static struct sub s;
	const char *api = NULL;
	bool force = false, page_size_given = false;
	int c;

	cli_start(argv[0]);
	o.since = -1;
	o.page_size = 100;
	o.max_pending = SUB_MAX_PENDING;
	o.keepalive_ms = 50000; /* axway.md 2.7 */
	o.keepalive_timeout_ms = 10000;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:fhqv", longopts, NULL)) != -1)
		switch (c) {
		case OPT_ACK_DEADLINE:
			/* engflow.md 1.2: 30 s to 300 s */
			o.ack_deadline_ms = parse_time(
			    "ack-deadline", optarg, 30000, 300000);
			break;
		case OPT_ACK_FROM:
			o.ack_from = optarg;
			break;
		case OPT_API:
			api = optarg;
			break;
		case OPT_AUTH_HEADER:
			if (strcmp(optarg, "engflow") == 0)
				o.auth = SUB_AUTH_ENGFLOW;
			else if (strcmp(optarg, "bearer") == 0)
				o.auth = SUB_AUTH_BEARER;
			else
				cli_usage(synopsis,
				    "--auth-header %s: not engflow or bearer",
				    optarg);
			o.auth_given = true;
			break;
		case OPT_CACERT:
			o.tls.cacert = optarg;
			break;
		case OPT_CERT:
			o.tls.cert = optarg;
			break;
		case OPT_CONNECT_TO:
			o.connect_to = optarg;
			break;
		case 'c':
			o.count = parse_uint("count", optarg, 1, UINT64_MAX);
			break;
		case OPT_ENDPOINT:
			o.endpoint = optarg;
			break;
		case 'f':
			force = true;
			break;
		case OPT_HARVESTER:
			if (strncmp(optarg, "http://", 7) != 0 &&
			    strncmp(optarg, "https://", 8) != 0)
				cli_usage(synopsis,
				    "--harvester %s: not an http:// or "
				    "https:// URL",
				    optarg);
			o.harvester = optarg;
			break;
		case 'h':
			cli_help(synopsis, options);
		case OPT_IDLE_TIMEOUT:
			o.idle_timeout_ms = parse_time(
			    "idle-timeout", optarg, 1, INT64_C(1) << 40);
			break;
		case OPT_INSECURE:
			o.tls.insecure = true;
			break;
		case OPT_KEEPALIVE:
			o.keepalive_ms = parse_time(
			    "keepalive", optarg, 0, INT64_C(1) << 40);
			break;
		case OPT_KEEPALIVE_TIMEOUT:
			o.keepalive_timeout_ms = parse_time(
			    "keepalive-timeout", optarg, 1, INT64_C(1) << 40);
			break;
		case OPT_KEY:
			o.tls.key = optarg;
			break;
		case OPT_MAX_PENDING:
			o.max_pending = parse_uint(
			    "max-pending", optarg, 1, 1000000);
			break;
		case OPT_METHOD:
			o.method = optarg;
			break;
		case OPT_PAGE_SIZE:
			o.page_size = parse_uint("page-size", optarg, 1, 10000);
			page_size_given = true;
			break;
		case OPT_PROXY:
			o.proxy = optarg;
			break;
		case 'q':
			verbosity = LOG_ERROR;
			break;
		case OPT_QUEUE:
			o.queue = optarg;
			break;
		case OPT_REQUEST_FILE:
			o.request_file = optarg;
			break;
		case OPT_RETRIES:
			o.retries = parse_uint(
			    "retries", optarg, 1, UINT32_MAX);
			break;
		case OPT_SINCE:
			o.since = (int64_t)parse_uint(
			    "since", optarg, 0, INT64_MAX);
			break;
		case OPT_STATE:
			o.state = optarg;
			break;
		case OPT_TENANT:
			o.tenant = optarg;
			break;
		case OPT_TOKEN:
			set_token(&o, SECRET_ARGV, optarg);
			break;
		case OPT_TOKEN_COMMAND:
			set_token(&o, SECRET_COMMAND, optarg);
			break;
		case OPT_TOKEN_ENV:
			set_token(&o, SECRET_ENV, optarg);
			break;
		case OPT_TOKEN_FILE:
			set_token(&o, SECRET_FILE, optarg);
			break;
		case OPT_TOPIC:
			o.topic = optarg;
			break;
		case OPT_TYPE:
			o.type = optarg;
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
	check(&o, api, page_size_given);
	if (!force && isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "refusing to write binary records to a terminal (-f "
		    "forces)");

	sub_init(&s, &o);
	switch (o.api) {
	case SUB_API_ENGFLOW:
		engflow_queue_start(&s);
		break;
	case SUB_API_AXWAY:
		axway_watch_start(&s);
		break;
	case SUB_API_GENERIC:
		generic_stream_start(&s);
		break;
	}
	return sub_run(&s);
}
