/*
 * resolve: notifications in, the events they point at out.  Reads
 * delimited CloudEvents; an EngFlow build lifecycle notification
 * becomes the invocation's (or build's) events from the event store,
 * an Axway watch event the resource it names; anything else passes
 * through.  Output is in input order.
 */
#include "config.h"

#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ackfifo.h"
#include "axway_resource.h"
#include "cli.h"
#include "dedupe.h"
#include "esjob.h"
#include "exitcode.h"
#include "grpc.h"
#include "http.h"
#include "invq.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "progress.h"
#include "recin.h"
#include "recout.h"
#include "secret.h"
#include "sig.h"

static const char synopsis[] =
    "usage: resolve [-qv] [-m size] [--api name] [--endpoint url] "
    "[--central url] [--tenant id] [option ...]\n";

static const char options[] =
    "      --api=NAME             engflow (the default) or axway\n"
    "      --auth-header=KIND     how a token is sent to the event store:\n"
    "                             engflow (x-engflow-auth-*, the default)\n"
    "                             or bearer (authorization: Bearer)\n"
    "      --buffer=SIZE          bytes kept for each invocation waiting "
    "its\n"
    "                             turn (default 256K)\n"
    "      --builds               resolve build notifications with "
    "GetBuild\n"
    "                             instead of invocation notifications\n"
    "      --cacert=FILE          trusted CA certificates (PEM)\n"
    "      --central=URL          Axway Central, e.g. "
    "https://apicentral.axway.com\n"
    "      --cert=FILE            client certificate (PEM) for mTLS\n"
    "      --dedupe-window=N      resolve an id seen among the last N "
    "once\n"
    "                             (default 10000; 0: off)\n"
    "      --drop-unknown         drop events that are not notifications "
    "to\n"
    "                             resolve, instead of passing them on\n"
    "      --endpoint=URL         the event store: grpc[s]://host[:port]\n"
    "      --event_store_endpoint=URL  the same as --endpoint\n"
    "  -h, --help                 print this help and exit\n"
    "      --insecure             do not verify the server's certificate\n"
    "      --key=FILE             the private key of --cert (PEM)\n"
    "  -m, --max-record=SIZE      largest record in bytes (default 4M)\n"
    "      --on=PHASES            started, finished (the default) or\n"
    "                             started,finished\n"
    "      --parallel=N           notifications resolved at once (default "
    "4)\n"
    "  -q, --quiet                print errors only\n"
    "      --replay-mode=MODE     until-complete (the default) or\n"
    "                             stop-after-last-known\n"
    "      --retries=N            failed attempts in a row before giving "
    "up\n"
    "                             (default 0: never)\n"
    "      --tenant=ID            Axway organization id\n"
    "      --tls_certificate=FILE the same as --cert\n"
    "      --tls_key=FILE         the same as --key\n"
    "      --token=TOKEN          the token itself (visible to other "
    "users)\n"
    "      --token-command=CMD    run CMD for the token\n"
    "      --token-env=NAME       the token is in variable NAME\n"
    "      --token-file=FILE      the token is in FILE (re-read when it "
    "changes)\n"
    "  -v, --verbose              print more (repeatable)\n"
    "      --version              print the version and exit\n";

enum {
	OPT_API = CLI_OPT_VERSION + 1,
	OPT_AUTH_HEADER,
	OPT_BUFFER,
	OPT_BUILDS,
	OPT_CACERT,
	OPT_CENTRAL,
	OPT_DEDUPE,
	OPT_DROP,
	OPT_ENDPOINT,
	OPT_INSECURE,
	OPT_ON,
	OPT_PARALLEL,
	OPT_REPLAY,
	OPT_RETRIES,
	OPT_TENANT,
	OPT_CERT,
	OPT_KEY,
	OPT_TOKEN,
	OPT_TOKEN_COMMAND,
	OPT_TOKEN_ENV,
	OPT_TOKEN_FILE,
};

static const struct option longopts[] = {
	{ "api", required_argument, NULL, OPT_API },
	{ "auth-header", required_argument, NULL, OPT_AUTH_HEADER },
	{ "buffer", required_argument, NULL, OPT_BUFFER },
	{ "builds", no_argument, NULL, OPT_BUILDS },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ "central", required_argument, NULL, OPT_CENTRAL },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "dedupe-window", required_argument, NULL, OPT_DEDUPE },
	{ "drop-unknown", no_argument, NULL, OPT_DROP },
	{ "endpoint", required_argument, NULL, OPT_ENDPOINT },
	{ "event_store_endpoint", required_argument, NULL, OPT_ENDPOINT },
	{ "help", no_argument, NULL, 'h' },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "max-record", required_argument, NULL, 'm' },
	{ "on", required_argument, NULL, OPT_ON },
	{ "parallel", required_argument, NULL, OPT_PARALLEL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "replay-mode", required_argument, NULL, OPT_REPLAY },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "tenant", required_argument, NULL, OPT_TENANT },
	{ "tls_certificate", required_argument, NULL, OPT_CERT },
	{ "tls_key", required_argument, NULL, OPT_KEY },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-command", required_argument, NULL, OPT_TOKEN_COMMAND },
	{ "token-env", required_argument, NULL, OPT_TOKEN_ENV },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static struct {
	/* options */
	bool axway, bearer, builds, drop_unknown;
	bool on_started, on_finished;
	const char *endpoint, *central, *tenant;
	struct tls_opts tls;
	size_t max, buffer;
	uint64_t parallel, window, retries;
	int replay_mode;
	struct secret token;
	/* state */
	struct recin in;
	struct recout out;
	struct invq q;
	struct dedupe seen;
	struct gchannel *ch;
	struct esjob_cfg es;
	struct axjob_cfg ax;
	struct arena arena;
	struct loop_io watch; /* checks, before each poll, whether done */
	struct loop_timer teardown;
	struct progress progress; /* events written, at -v */
	bool input_over, stopping;
	int status;
	uint64_t passed, dropped, duplicates;
	char bearer_value[64 * 1024];
} R;

static void
set_status(int status)
{
	if (R.status == EXIT_OK)
		R.status = status;
}

/* No more input: finish what was accepted, then exit. */
static void
end_input(int status)
{
	set_status(status);
	if (!R.input_over) {
		R.input_over = true;
		recin_stop(&R.in);
	}
}

/* Before each poll: once all accepted work is written, stop. */
static void
watch_prepare(struct loop_io *io)
{
	progress_set(&R.progress, R.out.records);
	if (R.input_over && invq_empty(&R.q) && recout_idle(&R.out) &&
	    http_pending() == 0)
		loop_quit(R.status);
}

/* A failure no later notification would get past: stop at once. */
static void
stop_now(struct loop_timer *t)
{
	invq_free(&R.q);
	invq_init(&R.q, &R.out, R.parallel, R.buffer);
}

static void
on_fatal(int code, const char *why, void *ctx)
{
	lerr("%s", why);
	end_input(code);
	loop_timer_in(&R.teardown, 0);
}

static void
es_fatal(const struct gstatus *st, const char *why, void *ctx)
{
	on_fatal(st->code, why, ctx);
}

/* The value evpipeack carries on the last event derived from ev. */
static const char *
ack_value(const CloudEvent *ev)
{
	const char *v = ce_get_string(ev, ACK_ATTR);

	return v != NULL ? v : ev->id;
}

/*
 * The same thing notified again (the queue delivers at least once):
 * not resolved twice.  If the notification takes part in end-to-end
 * acknowledgement it still goes on, marked, after the first one's
 * events, so its acknowledgement is not lost.
 */
static bool
duplicate(const char *key, const uint8_t *rec, size_t len, const CloudEvent *ev)
{
	if (dedupe_find(&R.seen, key) == NULL) {
		dedupe_add(&R.seen, key, ev->id);
		return false;
	}
	R.duplicates++;
	linfo("%s: seen already (notification %s)", key, ev->id);
	if (ce_get_string(ev, ACK_ATTR) != NULL)
		esjob_unresolved(
		    &R.arena, &R.q, NULL, rec, len, "DUPLICATE", ack_value(ev));
	return true;
}

static void
pass(const uint8_t *rec, size_t len)
{
	if (R.drop_unknown) {
		R.dropped++;
		return;
	}
	R.passed++;
	invq_pass(&R.q, rec, len);
}

static bool
selected(enum lc_kind k)
{
	if (R.builds)
		return (k == LC_BUILD_STARTED && R.on_started) ||
		    (k == LC_BUILD_FINISHED && R.on_finished);
	return (k == LC_INVOCATION_STARTED && R.on_started) ||
	    (k == LC_INVOCATION_FINISHED && R.on_finished);
}

static int
engflow_record(const uint8_t *rec, size_t len, const CloudEvent *ev, char *err,
    size_t errlen)
{
	struct lc_notice n;
	char key[2048];
	const char *id;
	int r;

	if ((r = lc_parse(&R.arena, ev, &n, err, errlen)) <= 0)
		return r;
	if (!selected(n.kind))
		return 0;
	id = R.builds ? n.build_id : n.invocation_id;
	snprintf(key, sizeof(key), "%s %s/%s",
	    R.builds ? "build" : "invocation", n.instance, id);
	if (!duplicate(key, rec, len, ev))
		esjob_add(&R.es, R.builds ? ES_GET_BUILD : ES_GET_INVOCATION,
		    n.instance, id, rec, len, ack_value(ev));
	return 1;
}

static int
axway_record(const uint8_t *rec, size_t len, const CloudEvent *ev, char *err,
    size_t errlen)
{
	struct ax_notice n;
	char key[1024];
	int r;

	if ((r = ax_parse(&R.arena, ev, &n, err, errlen)) <= 0)
		return r;
	snprintf(key, sizeof(key), "event %s", n.event_id);
	if (!duplicate(key, rec, len, ev))
		axjob_add(&R.ax, &n, rec, len, ack_value(ev));
	return 1;
}

/* Fires for each valid input record, in order. */
static int
on_record(struct recin *in, const uint8_t *rec, size_t len,
    const CloudEvent *ev, void *ctx)
{
	char err[300];
	int r;

	r = R.axway ? axway_record(rec, len, ev, err, sizeof(err)) :
		      engflow_record(rec, len, ev, err, sizeof(err));
	arena_reset(&R.arena);
	if (r < 0) {
		frame_errorf(&in->fr, "%s", err);
		lerr("%s: %s", in->name, in->fr.err);
		end_input(EXIT_DATA);
		return RECIN_PAUSE;
	}
	if (r == 0)
		pass(rec, len);
	return invq_full(&R.q) ? RECIN_PAUSE : 0;
}

static void
on_input_end(struct recin *in, int status, const char *why, void *ctx)
{
	if (status != EXIT_OK)
		lerr("%s: %s", in->name, why);
	end_input(status);
}

static const struct recin_handlers in_handlers = {
	.on_record = on_record,
	.on_end = on_input_end,
};

/* The queue has room again: take input again. */
static void
on_room(struct invq *q, void *ctx)
{
	if (!R.input_over)
		recin_resume(&R.in);
}

static void
on_drain(struct recout *o, void *ctx)
{
	invq_pump(&R.q);
}

static void
on_output_error(struct recout *o, int err, void *ctx)
{
	if (err == EPIPE)
		linfo("%s: reader went away", o->name);
	else
		lerr("%s: %s", o->name, strerror(err));
	end_input(err == EPIPE ? EXIT_OK : EXIT_IO);
	loop_timer_in(&R.teardown, 0);
}

static const struct recout_handlers out_handlers = {
	.on_drain = on_drain,
	.on_error = on_output_error,
};

static void
on_signal(int signo, void *ctx)
{
	linfo("signal %d: finishing what was accepted", signo);
	end_input(EXIT_OK);
}

/* Request metadata for the event store: the token, if there is one. */
static size_t
engflow_metadata(struct gmd *md, size_t max, void *ctx)
{
	char err[300];
	const char *tok;
	int64_t exp;

	if (!secret_isset(&R.token) || max < 2)
		return 0;
	if ((tok = secret_get(&R.token, err, sizeof(err))) == NULL) {
		lwarn("%s", err);
		return 0;
	}
	if (R.token.kind == SECRET_COMMAND && (exp = jwt_exp(tok)) > 0 &&
	    exp - (int64_t)time(NULL) < 60) {
		/* About to expire: a new one before the server refuses it. */
		if (secret_refresh(&R.token, err, sizeof(err)) < 0)
			lwarn("%s", err);
		else
			tok = R.token.value;
	}
	if (R.bearer) {
		snprintf(
		    R.bearer_value, sizeof(R.bearer_value), "Bearer %s", tok);
		md[0] = (struct gmd){ "authorization", R.bearer_value,
			strlen(R.bearer_value) };
		return 1;
	}
	md[0] = (struct gmd){ "x-engflow-auth-method", "jwt-v0", 6 };
	md[1] = (struct gmd){ "x-engflow-auth-token", tok, strlen(tok) };
	return 2;
}

static uint64_t
number(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	uint64_t v;

	if (cli_uint(arg, min, max, &v) < 0)
		cli_usage(synopsis,
		    "%s %s: not a number from %" PRIu64 " to %" PRIu64, opt,
		    arg, min, max);
	return v;
}

static void
parse_on(const char *arg)
{
	char *s, *p, *save = NULL;

	R.on_started = R.on_finished = false;
	if ((s = strdup(arg)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	for (p = strtok_r(s, ",", &save); p != NULL;
	     p = strtok_r(NULL, ",", &save)) {
		if (strcmp(p, "started") == 0)
			R.on_started = true;
		else if (strcmp(p, "finished") == 0)
			R.on_finished = true;
		else
			cli_usage(synopsis,
			    "--on %s: not started, finished or both", arg);
	}
	free(s);
	if (!R.on_started && !R.on_finished)
		cli_usage(
		    synopsis, "--on %s: not started, finished or both", arg);
}

static void
parse_args(int argc, char *argv[])
{
	const char *api = "engflow";
	int c;

	R.max = FRAME_MAX_DEFAULT;
	R.buffer = 256 * 1024;
	R.parallel = 4;
	R.window = 10000;
	R.on_finished = true;
	R.replay_mode = ES_UNTIL_COMPLETE;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hm:qv", longopts, NULL)) != -1)
		switch (c) {
		case OPT_API:
			api = optarg;
			if (strcmp(api, "engflow") != 0 &&
			    strcmp(api, "axway") != 0)
				cli_usage(synopsis,
				    "--api %s: not engflow or axway", api);
			R.axway = strcmp(api, "axway") == 0;
			break;
		case OPT_AUTH_HEADER:
			if (strcmp(optarg, "bearer") == 0)
				R.bearer = true;
			else if (strcmp(optarg, "engflow") == 0)
				R.bearer = false;
			else
				cli_usage(synopsis,
				    "--auth-header %s: not engflow or bearer",
				    optarg);
			break;
		case OPT_BUFFER:
			if (cli_size(optarg, &R.buffer) < 0 || R.buffer == 0 ||
			    R.buffer > (size_t)1 << 30)
				cli_usage(synopsis,
				    "--buffer %s: not a size from 1 to 1G",
				    optarg);
			break;
		case OPT_BUILDS:
			R.builds = true;
			break;
		case OPT_CACERT:
			R.tls.cacert = optarg;
			break;
		case OPT_CENTRAL:
			R.central = optarg;
			break;
		case OPT_DEDUPE:
			R.window = number(
			    "--dedupe-window", optarg, 0, 100000000);
			break;
		case OPT_DROP:
			R.drop_unknown = true;
			break;
		case OPT_ENDPOINT:
			R.endpoint = optarg;
			break;
		case 'h':
			cli_help(synopsis, options);
		case OPT_INSECURE:
			R.tls.insecure = true;
			break;
		case 'm':
			if (cli_size(optarg, &R.max) < 0 || R.max == 0 ||
			    R.max > (size_t)1 << 30)
				cli_usage(synopsis,
				    "-m %s: not a size from 1 to 1G", optarg);
			break;
		case OPT_ON:
			parse_on(optarg);
			break;
		case OPT_PARALLEL:
			R.parallel = number("--parallel", optarg, 1, 1000);
			break;
		case 'q':
			verbosity = LOG_ERROR;
			break;
		case OPT_REPLAY:
			if (strcmp(optarg, "until-complete") == 0 ||
			    strcmp(optarg, "UNTIL_COMPLETE") == 0)
				R.replay_mode = ES_UNTIL_COMPLETE;
			else if (strcmp(optarg, "stop-after-last-known") == 0 ||
			    strcmp(optarg, "STOP_AFTER_LAST_KNOWN") == 0)
				R.replay_mode = ES_STOP_AFTER_LAST_KNOWN;
			else
				cli_usage(synopsis,
				    "--replay-mode %s: not until-complete or "
				    "stop-after-last-known",
				    optarg);
			break;
		case OPT_RETRIES:
			R.retries = number("--retries", optarg, 0, UINT32_MAX);
			break;
		case OPT_TENANT:
			R.tenant = optarg;
			break;
		case OPT_CERT:
			R.tls.cert = optarg;
			break;
		case OPT_KEY:
			R.tls.key = optarg;
			break;
		case OPT_TOKEN:
			cli_secret(
			    synopsis, &R.token, "token", SECRET_ARGV, optarg);
			break;
		case OPT_TOKEN_COMMAND:
			cli_secret(synopsis, &R.token, "token", SECRET_COMMAND,
			    optarg);
			break;
		case OPT_TOKEN_ENV:
			cli_secret(
			    synopsis, &R.token, "token", SECRET_ENV, optarg);
			break;
		case OPT_TOKEN_FILE:
			cli_secret(
			    synopsis, &R.token, "token", SECRET_FILE, optarg);
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
	if (R.axway) {
		if (R.central == NULL || R.tenant == NULL)
			cli_usage(synopsis,
			    "--api axway needs --central and --tenant");
		if (R.endpoint != NULL || R.builds || R.tls.cert != NULL)
			cli_usage(synopsis,
			    "--endpoint, --builds and --cert are "
			    "for --api engflow");
		if (!secret_isset(&R.token))
			cli_usage(synopsis,
			    "--api axway needs a token (--token-file, "
			    "--token-env or --token-command)");
	} else {
		if (R.endpoint == NULL)
			cli_usage(synopsis, "--endpoint is missing");
		if (R.central != NULL || R.tenant != NULL)
			cli_usage(synopsis,
			    "--central and --tenant are for --api axway");
	}
	if ((R.tls.cert == NULL) != (R.tls.key == NULL))
		cli_usage(synopsis, "--cert and --key go together");
}

static void
setup_engflow(void)
{
	struct gchannel_opts o = { 0 };
	char err[300];

	if (target_parse(&o.target, R.endpoint, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	if (!o.target.tls &&
	    (R.tls.cert != NULL || R.tls.cacert != NULL || R.tls.insecure))
		cli_usage(
		    synopsis, "%s: TLS options need grpcs://", R.endpoint);
	o.tls = R.tls;
	o.max_recv = (uint32_t)R.max;
	/* A live stream can be quiet for long: find a connection that died
	 * silently.  Servers take a PING every 5 minutes (grpc.md, A8). */
	o.keepalive_ms = 300000;
	if ((R.ch = gchannel_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_USAGE, "%s", err);
	esjob_init(&R.es);
	R.es.q = &R.q;
	R.es.ch = R.ch;
	R.es.source = R.endpoint;
	R.es.replay_mode = R.replay_mode;
	R.es.retries = R.retries;
	R.es.metadata = engflow_metadata;
	R.es.on_fatal = es_fatal;
}

static void
setup_axway(void)
{
	char err[300];

	if (axjob_init(&R.ax, R.central, R.tenant, &R.token, err, sizeof(err)) <
	    0)
		cli_usage(synopsis, "%s", err);
	R.ax.q = &R.q;
	R.ax.http.cacert = R.tls.cacert;
	R.ax.http.insecure = R.tls.insecure;
	R.ax.http.max_body = R.max > 65536 ? R.max - 65536 : R.max;
	R.ax.retries = R.retries;
	R.ax.on_fatal = on_fatal;
}

int
main(int argc, char *argv[])
{
	struct rusage ru;
	char err[300];

	cli_start(argv[0]);
	parse_args(argc, argv);
	if (secret_isset(&R.token) &&
	    secret_load(&R.token, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	if (isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "refusing to write binary records to a terminal (pipe "
		    "into evcat)");

	arena_init(&R.arena);
	dedupe_init(&R.seen, R.window);
	recout_open(&R.out, STDOUT_FILENO, "stdout", &out_handlers, NULL);
	invq_init(&R.q, &R.out, R.parallel, R.buffer);
	R.q.on_room = on_room;
	if (R.axway)
		setup_axway();
	else
		setup_engflow();
	loop_timer_init(&R.teardown, stop_now, NULL);
	R.watch = (struct loop_io){ .fd = -1, .prepare = watch_prepare };
	loop_io_add(&R.watch);
	recin_open(&R.in, STDIN_FILENO, "stdin", R.max, &in_handlers, NULL);
	sig_init(on_signal, NULL);
	progress_start(&R.progress, "events");

	R.status = loop_run();
	progress_set(&R.progress, R.out.records);
	progress_end(&R.progress);
	getrusage(RUSAGE_SELF, &ru);
	if (R.axway)
		linfo("%" PRIu64 " resources, %" PRIu64 " unresolved, %" PRIu64
		      " passed through, %" PRIu64 " dropped, %" PRIu64
		      " duplicates; peak RSS %ld KiB",
		    R.ax.resolved, R.ax.unresolved, R.passed, R.dropped,
		    R.duplicates, ru.ru_maxrss);
	else
		linfo("%" PRIu64 " resolved (%" PRIu64 " events), %" PRIu64
		      " unresolved, %" PRIu64 " passed through, %" PRIu64
		      " dropped, %" PRIu64 " duplicates; peak RSS %ld KiB",
		    R.es.resolved, R.es.events, R.es.unresolved, R.passed,
		    R.dropped, R.duplicates, ru.ru_maxrss);
	invq_free(&R.q);
	recin_close(&R.in);
	recout_close(&R.out);
	gchannel_free(R.ch);
	if (R.axway)
		axjob_cfg_free(&R.ax);
	else
		esjob_cfg_free(&R.es);
	http_cleanup();
	dedupe_free(&R.seen);
	arena_free(&R.arena);
	secret_free(&R.token);
	return R.status;
}
