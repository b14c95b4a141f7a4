/*
 * subscribe: keeps a gRPC subscription open and writes every event it
 * delivers to stdout as a delimited CloudEvent: the EngFlow
 * notification queue, Axway's watch service, or any streaming method.
 */
#include "config.h"

#include <ctype.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdnoreturn.h>
#include <unistd.h>

#include "axway_watch.h"
#include "base64.h"
#include "cli.h"
#include "clitab.h"
#include "duration.h"
#include "engflow_queue.h"
#include "exitcode.h"
#include "generic_stream.h"
#include "log.h"
#include "sub.h"
#include "xalloc.h"

static const char synopsis[] =
    "usage: subscribe [-fqv] [-c count] [option ...] --endpoint=url "
    "--queue=name | --topic=link | --method=path\n";

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
	OPT_MAX_TIME,
	OPT_METHOD,
	OPT_PAGE_SIZE,
	OPT_PLAINTEXT,
	OPT_PROXY,
	OPT_QUEUE,
	OPT_REQUEST_FILE,
	OPT_RETRIES,
	OPT_SINCE,
	OPT_STATE,
	OPT_TENANT,
	OPT_TOPIC,
	OPT_TYPE,
};

/* Sorted; the original EngFlow client's spellings are aliases. */
static const struct clitab options[] = {
	{ "ack-deadline", OPT_ACK_DEADLINE, "TIME",
	    "EngFlow: acknowledgement deadline, 30s to 300s" },
	{ "ack-from", OPT_ACK_FROM, "FIFO",
	    "ack an event once its id comes back here" },
	{ "after", OPT_SINCE, "ID", "Axway: start after this sequence id" },
	{ "api", OPT_API, "API", "engflow, axway or generic" },
	{ "auth-header", OPT_AUTH_HEADER, "KIND",
	    "engflow (x-engflow-auth-*) or bearer" },
	{ "cacert", OPT_CACERT, "FILE", "trust the CA certificates in FILE" },
	{ "cert", OPT_CERT, "FILE", "client certificate for mutual TLS" },
	{ "connect-to", OPT_CONNECT_TO, "HOST:PORT",
	    "connect there, keep the endpoint's name" },
	{ "count", 'c', "N", "stop after writing N events" },
	{ "endpoint", OPT_ENDPOINT, "URL",
	    "the server: grpc[s]://host[:port], host:port or unix:path" },
	{ "force", 'f', NULL, "write records even to a terminal" },
	{ "harvester", OPT_HARVESTER, "URL",
	    "Axway: the catch-up API, https://HOST:PORT/events" },
	{ "header", 'H', "NAME=VALUE",
	    "metadata 'NAME: VALUE' or NAME=VALUE (repeatable)" },
	{ "help", 'h', NULL, "print this help and exit" },
	{ "idle-timeout", OPT_IDLE_TIMEOUT, "TIME",
	    "stop after TIME without an event" },
	{ "insecure", OPT_INSECURE, NULL,
	    "do not verify the server's certificate" },
	{ "keepalive", OPT_KEEPALIVE, "TIME",
	    "HTTP/2 ping after TIME of silence (default 50s)" },
	{ "keepalive-timeout", OPT_KEEPALIVE_TIMEOUT, "TIME",
	    "drop a connection whose ping waits TIME (10s)" },
	{ "key", OPT_KEY, "FILE", "the private key of --cert" },
	{ "max-pending", OPT_MAX_PENDING, "N",
	    "events taken but not yet acked (default 1000)" },
	{ "max-time", OPT_MAX_TIME, "TIME",
	    "generic: end the whole call after TIME, with 4" },
	{ "message-type", OPT_TYPE, "NAME",
	    "generic: the replies' message type" },
	{ "method", OPT_METHOD, "PATH",
	    "generic: the method, /package.Service/Method" },
	{ "notification_queue_endpoint", OPT_ENDPOINT, "URL",
	    "the EngFlow client's name for --endpoint" },
	{ "page-size", OPT_PAGE_SIZE, "N",
	    "Axway: events per catch-up page (default 100)" },
	{ "plaintext", OPT_PLAINTEXT, NULL,
	    "a host:port endpoint without TLS (grpc://)" },
	{ "protoset", 'P', "FILE",
	    "generic: the types, a FileDescriptorSet (else reflection)" },
	{ "proxy", OPT_PROXY, "URL",
	    "HTTP CONNECT proxy, http://[user:pass@]host:port" },
	{ "queue", OPT_QUEUE, "NAME", "EngFlow: the notification queue" },
	{ "queue_name", OPT_QUEUE, "NAME",
	    "the EngFlow client's name for --queue" },
	{ "quiet", 'q', NULL, "print errors only" },
	{ "request", 'd', "JSON",
	    "generic: the request as JSON (@FILE: from FILE, @-: stdin)" },
	{ "request-file", OPT_REQUEST_FILE, "FILE",
	    "generic: the request, protobuf bytes" },
	{ "retries", OPT_RETRIES, "N",
	    "give up after N failed attempts in a row" },
	/* evpipe 0.1's --after; elsewhere --since is a time. */
	{ "since", OPT_SINCE, "ID", NULL },
	{ "state", OPT_STATE, "FILE",
	    "Axway: keep the last sequence id written in FILE" },
	{ "tenant", OPT_TENANT, "ID", "Axway: the organization id" },
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
	{ "topic", OPT_TOPIC, "LINK", "Axway: the watch topic's self link" },
	/* evpipe 0.1's --message-type; elsewhere --type is a CloudEvent's. */
	{ "type", OPT_TYPE, "NAME", NULL },
	{ "verbose", 'v', NULL, "print more (repeatable)" },
	{ "version", CLI_OPT_VERSION, NULL, "print the version and exit" },
	{ NULL, 0, NULL, NULL },
};

/* A duration (duration.h) in [min, max] milliseconds. */
static int64_t
parse_time(const char *opt, const char *s, int64_t min, int64_t max)
{
	int64_t v;

	if (duration_option(s, &v) < 0)
		cli_usage(synopsis,
		    "--%s %s: not a duration such as 30, 30s, 1m or 1d", opt,
		    s);
	if (duration_ms(s, &v) < 0 || v < min || v > max) /* past a year */
		cli_usage(synopsis, "--%s %s: not a time from %s to %s", opt, s,
		    min < 1000	     ? "1ms" :
			min == 30000 ? "30s" :
				       "0s",
		    max == 300000 ? "300s" : "a year");
	return v;
}

static noreturn void
help(void)
{
	cli_help(synopsis, clitab_help(options));
}

/*
 * -H 'name: value' (grpcurl's form) or name=value (forward's): request
 * metadata.  The name ends at the first ':' or '=', neither of which a
 * metadata name may hold; it is lower-cased and must be a valid key
 * (PROTOCOL-HTTP2 "Custom-Metadata"), not one the transport sets.  A
 * -bin value is base64 as grpcurl takes it, sent as the bytes it
 * decodes to; others must be printable ASCII.
 */
static void
add_header(struct sub_opts *o, char *arg)
{
	static struct gmd md[SUB_MAX_HEADERS];
	char *sep = arg + strcspn(arg, ":="), *v, *p;
	size_t nlen = (size_t)(sep - arg), vlen;

	while (nlen > 0 && arg[nlen - 1] == ' ')
		nlen--;
	if (*sep == '\0' || nlen == 0)
		cli_usage(synopsis, "--header %s: not 'NAME: VALUE'", arg);
	if (o->nheaders == SUB_MAX_HEADERS)
		cli_usage(synopsis, "--header %s: more than %d headers", arg,
		    SUB_MAX_HEADERS);
	for (v = sep + 1; *v == ' ' || *v == '\t'; v++)
		;
	arg[nlen] = '\0';
	for (p = arg; *p != '\0'; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isdigit((unsigned char)*p) &&
		    !islower((unsigned char)*p) && strchr("-_.", *p) == NULL)
			cli_usage(synopsis,
			    "--header %s: not a metadata name (0-9 a-z - _ .)",
			    arg);
	}
	/* PROTOCOL-HTTP2: reserved headers, and HTTP/2's connection-specific
	 * ones (RFC 9113 8.2.2) */
	if (strncmp(arg, "grpc-", 5) == 0 || strcmp(arg, "te") == 0 ||
	    strcmp(arg, "content-type") == 0 ||
	    strcmp(arg, "user-agent") == 0 || strcmp(arg, "host") == 0 ||
	    strcmp(arg, "connection") == 0 || strcmp(arg, "keep-alive") == 0 ||
	    strcmp(arg, "proxy-connection") == 0 ||
	    strcmp(arg, "transfer-encoding") == 0 ||
	    strcmp(arg, "upgrade") == 0)
		cli_usage(synopsis,
		    "--header %s: reserved, set by the transport", arg);
	vlen = strlen(v);
	if (nlen > 4 && strcmp(arg + nlen - 4, "-bin") == 0) {
		uint8_t *bin = xmalloc(vlen + 1);
		ssize_t n;

		if ((n = base64_decode(bin, v, vlen)) < 0)
			cli_usage(synopsis,
			    "--header %s: a -bin value is base64", arg);
		memcpy(v, bin, (size_t)n); /* never longer than its base64 */
		vlen = (size_t)n;
		free(bin);
	} else {
		for (p = v; *p != '\0'; p++)
			if (*p < 0x20 || *p > 0x7e)
				cli_usage(synopsis,
				    "--header %s: the value is not printable "
				    "ASCII",
				    arg);
	}
	md[o->nheaders++] = (struct gmd){ arg, v, vlen };
	o->headers = md;
}

/*
 * A bare host:port is TLS, as grpcurl has it, cleartext with
 * --plaintext; URLs say which themselves.
 */
static void
endpoint(struct sub_opts *o, bool plaintext)
{
	static char url[600];

	if (strstr(o->endpoint, "://") != NULL ||
	    strncmp(o->endpoint, "unix:", 5) == 0) {
		if (plaintext && strncmp(o->endpoint, "grpc://", 7) != 0)
			cli_usage(synopsis,
			    "--plaintext is for a host:port endpoint (or "
			    "grpc://)");
		return;
	}
	if ((size_t)snprintf(url, sizeof(url), "%s://%s",
		plaintext ? "grpc" : "grpcs", o->endpoint) >= sizeof(url))
		cli_usage(synopsis, "--endpoint %s: too long", o->endpoint);
	o->endpoint = url;
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

/* -H cannot set what the API's own protocol sets from other options. */
static void
own_headers(const struct sub_opts *o)
{
	static const char *const engflow[] = { "authorization",
		"x-engflow-auth-method", "x-engflow-auth-token", NULL };
	static const char *const axway[] = { "authorization",
		"x-axway-tenant-id", NULL };
	const char *const *own = o->api == SUB_API_ENGFLOW ? engflow :
	    o->api == SUB_API_AXWAY			   ? axway :
							     NULL;
	size_t i, k;

	for (i = 0; own != NULL && i < o->nheaders; i++)
		for (k = 0; own[k] != NULL; k++)
			if (strcmp(o->headers[i].name, own[k]) == 0)
				cli_usage(synopsis,
				    "--header %s: set by --api %s itself",
				    own[k],
				    o->api == SUB_API_ENGFLOW ? "engflow" :
								"axway");
}

static void
check(struct sub_opts *o, const char *api, bool page_size_given, bool plaintext)
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
	endpoint(o, plaintext);
	if (target_parse(&o->target, o->endpoint, err, sizeof(err)) < 0)
		cli_usage(synopsis, "--endpoint %s", err);

	only_for(o, o->queue != NULL, "queue", SUB_API_ENGFLOW);
	only_for(o, o->ack_deadline_ms > 0, "ack-deadline", SUB_API_ENGFLOW);
	only_for(o, o->topic != NULL, "topic", SUB_API_AXWAY);
	only_for(o, o->tenant != NULL, "tenant", SUB_API_AXWAY);
	only_for(o, o->harvester != NULL, "harvester", SUB_API_AXWAY);
	only_for(o, o->state != NULL, "state", SUB_API_AXWAY);
	only_for(o, o->since >= 0, "after", SUB_API_AXWAY);
	only_for(o, page_size_given, "page-size", SUB_API_AXWAY);
	only_for(o, o->method != NULL, "method", SUB_API_GENERIC);
	only_for(o, o->request_file != NULL, "request-file", SUB_API_GENERIC);
	only_for(o, o->type != NULL, "message-type", SUB_API_GENERIC);
	only_for(o, o->data != NULL, "request", SUB_API_GENERIC);
	only_for(o, o->protoset != NULL, "protoset", SUB_API_GENERIC);
	own_headers(o);
	only_for(o, o->max_time_ms > 0, "max-time", SUB_API_GENERIC);
	if (o->data != NULL && o->request_file != NULL)
		cli_usage(synopsis,
		    "--request and --request-file exclude each other");

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
	bool force = false, page_size_given = false, plaintext = false;
	struct clitab_getopt g;
	int c;

	cli_start(argv[0]);
	clitab_getopt(options, &g);
	o.since = -1;
	o.page_size = 100;
	o.max_pending = SUB_MAX_PENDING;
	o.keepalive_ms = 50000; /* axway.md 2.7 */
	o.keepalive_timeout_ms = 10000;
	opterr = 0;
	while (
	    (c = getopt_long(argc, argv, g.shortopts, g.longopts, NULL)) != -1)
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
			o.count = cli_number(
			    synopsis, "count", optarg, 1, UINT64_MAX);
			break;
		case 'd':
			o.data = optarg;
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
		case 'H':
			add_header(&o, optarg);
			break;
		case 'h':
			help(); /* exits */
		case OPT_IDLE_TIMEOUT:
			o.idle_timeout_ms = parse_time(
			    "idle-timeout", optarg, 1, INT64_MAX);
			break;
		case OPT_INSECURE:
			o.tls.insecure = true;
			break;
		case OPT_KEEPALIVE:
			o.keepalive_ms = parse_time(
			    "keepalive", optarg, 0, INT64_MAX);
			break;
		case OPT_KEEPALIVE_TIMEOUT:
			o.keepalive_timeout_ms = parse_time(
			    "keepalive-timeout", optarg, 1, INT64_MAX);
			break;
		case OPT_KEY:
			o.tls.key = optarg;
			break;
		case OPT_MAX_PENDING:
			o.max_pending = cli_number(
			    synopsis, "max-pending", optarg, 1, 1000000);
			break;
		case OPT_MAX_TIME:
			o.max_time_ms = parse_time(
			    "max-time", optarg, 1, INT64_MAX);
			break;
		case OPT_METHOD:
			o.method = optarg;
			break;
		case OPT_PAGE_SIZE:
			o.page_size = cli_number(
			    synopsis, "page-size", optarg, 1, 10000);
			page_size_given = true;
			break;
		case OPT_PLAINTEXT:
			plaintext = true;
			break;
		case 'P':
			o.protoset = optarg;
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
			o.retries = cli_number(
			    synopsis, "retries", optarg, 1, UINT32_MAX);
			break;
		case OPT_SINCE:
			o.since = (int64_t)cli_number(
			    synopsis, "after", optarg, 0, INT64_MAX);
			break;
		case OPT_STATE:
			o.state = optarg;
			break;
		case OPT_TENANT:
			o.tenant = optarg;
			break;
		case CLI_OPT_TOKEN:
		case CLI_OPT_TOKEN_COMMAND:
		case CLI_OPT_TOKEN_ENV:
		case CLI_OPT_TOKEN_FILE:
			cli_token_option(synopsis, c, &o.token, optarg);
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
	clitab_free(&g);
	if (optind < argc)
		cli_usage(synopsis, "unexpected argument %s", argv[optind]);
	check(&o, api, page_size_given, plaintext);
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
