/*
 * store: a temporary message store, wire-compatible with awakari's
 * messages service.  "store serve" is the gRPC server; put, get,
 * delete, clean and scan work on the same database from a pipeline.
 * SQLite by default, PostgreSQL for many hosts.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "duration.h"
#include "exitcode.h"
#include "frame.h"
#include "grpc.h"
#include "log.h"
#include "healthd.h"
#include "loop.h"
#include "rfc3339.h"
#include "secret.h"
#include "sig.h"
#include "store.h"
#include "storecli.h"
#include "storesvc.h"

static const char synopsis[] = "usage: store command [options] [arg ...]\n";

static const char options[] =
    "Commands:\n"
    "  serve             serve awakari messages over gRPC\n"
    "  put               store the events read on stdin\n"
    "  get [id ...]      write the stored events with these ids\n"
    "                    (no ids: read them from stdin, one a line)\n"
    "  delete [id ...]   delete events; print how many were deleted\n"
    "  clean             delete events older than the retention period;\n"
    "                    print how many were deleted\n"
    "  scan              write the stored events, oldest first\n"
    "\n"
    "Every command (the $DB_* variables are read by serve alone):\n"
    "  -d, --db=URI              the database: a file, sqlite:FILE or\n"
    "                            postgres://... (default\n"
    "                            $XDG_DATA_HOME/evpipe/store.db; serve:\n"
    "                            $DB_URI when set); only put and serve\n"
    "                            create a missing SQLite file\n"
    "      --db-name=NAME        PostgreSQL database if URI names none "
    "($DB_NAME)\n"
    "      --db-password-file=FILE  PostgreSQL password ($DB_PASSWORD)\n"
    "      --db-table=NAME       the table (default $DB_TABLE_NAME, else "
    "messages)\n"
    "      --db-username=NAME    PostgreSQL user if URI names none "
    "($DB_USERNAME)\n"
    "  -h, --help                print this help and exit\n"
    "  -q, --quiet               print errors only\n"
    "  -v, --verbose             print more (repeatable; serve: default "
    "$LOG_LEVEL)\n"
    "      --version             print the version and exit\n"
    "serve:\n"
    "      --cert=FILE           TLS: certificate chain (PEM)\n"
    "      --clean-every=DURATION  run clean this often (default 1h; 0 "
    "never)\n"
    "      --client-ca=FILE      TLS: require client certificates from "
    "these CAs\n"
    "      --grace=DURATION      at SIGTERM, time calls get to finish "
    "(default 10s)\n"
    "      --http=[ADDR:]PORT    HTTP: GET /metrics, any other GET health\n"
    "                            (200 SERVING or 503 NOT_SERVING)\n"
    "      --idle-timeout=DURATION  close connections without calls after "
    "this\n"
    "                            long (default 5m; 0 never)\n"
    "      --key=FILE            TLS: private key (PEM)\n"
    "  -l, --listen=URL          where to listen (default "
    "grpc://*:$API_PORT,\n"
    "                            port 50051)\n"
    "      --max-connections=N   connections served at once (default "
    "1000)\n"
    "      --max-msg-size=SIZE   largest request or answer (default 16M)\n"
    "      --token-file=FILE     require this bearer token\n"
    "serve, clean:\n"
    "      --retention=DURATION  keep events this long (default 168h;"
    "\n"
    "                            serve: $DB_RETENTION_PERIOD when set;\n"
    "                            a bare number is seconds)\n"
    "put:\n"
    "      --acked-to=FIFO       write stored events' evpipeack values "
    "there\n"
    "  -b, --batch=N             commit every N events (default 10000)\n"
    "      --linger=DURATION     commit at most this long after an event\n"
    "                            came (default 0: as soon as input "
    "pauses)\n"
    "  -m, --max-record=SIZE     largest record in bytes (default 4M)\n"
    "  -t, --tee                 write each event to stdout once stored\n"
    "put --tee, get, scan:\n"
    "  -f, --force               write records even to a terminal\n"
    "scan:\n"
    "      --since=TIME          stored at or after TIME (RFC 3339), or\n"
    "                            within the DURATION before now\n"
    "      --source=SOURCE       only events from this source\n"
    "      --type=TYPE           only events of this type\n";

enum {
	OPT_ACKED_TO = 0x200,
	OPT_CERT,
	OPT_CLEAN_EVERY,
	OPT_CLIENT_CA,
	OPT_DB_NAME,
	OPT_DB_PASSWORD_FILE,
	OPT_DB_TABLE,
	OPT_DB_USERNAME,
	OPT_GRACE,
	OPT_HTTP,
	OPT_IDLE_TIMEOUT,
	OPT_KEY,
	OPT_LINGER,
	OPT_MAX_CONNECTIONS,
	OPT_MAX_MSG_SIZE,
	OPT_RETENTION,
	OPT_SINCE,
	OPT_SOURCE,
	OPT_TOKEN_FILE,
	OPT_TYPE,
};

static const struct option longopts[] = {
	{ "acked-to", required_argument, NULL, OPT_ACKED_TO },
	{ "batch", required_argument, NULL, 'b' },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "clean-every", required_argument, NULL, OPT_CLEAN_EVERY },
	{ "client-ca", required_argument, NULL, OPT_CLIENT_CA },
	{ "db", required_argument, NULL, 'd' },
	{ "db-name", required_argument, NULL, OPT_DB_NAME },
	{ "db-password-file", required_argument, NULL, OPT_DB_PASSWORD_FILE },
	{ "db-table", required_argument, NULL, OPT_DB_TABLE },
	{ "db-username", required_argument, NULL, OPT_DB_USERNAME },
	{ "force", no_argument, NULL, 'f' },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "help", no_argument, NULL, 'h' },
	{ "http", required_argument, NULL, OPT_HTTP },
	{ "idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "listen", required_argument, NULL, 'l' },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
	{ "max-msg-size", required_argument, NULL, OPT_MAX_MSG_SIZE },
	{ "max-record", required_argument, NULL, 'm' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "retention", required_argument, NULL, OPT_RETENTION },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "tee", no_argument, NULL, 't' },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

enum cmd { SERVE, PUT, GET, DELETE, CLEAN, SCAN, NCMDS };

static const char *const cmd_names[NCMDS] = { "serve", "put", "get", "delete",
	"clean", "scan" };

#define C(x) (1u << (x))
#define ALL ((1u << NCMDS) - 1)

/* Which commands take an option (the common ones are not listed). */
static const struct {
	int opt;
	unsigned cmds;
} scope[] = {
	{ OPT_ACKED_TO, C(PUT) },
	{ 'b', C(PUT) },
	{ OPT_CERT, C(SERVE) },
	{ OPT_CLEAN_EVERY, C(SERVE) },
	{ OPT_CLIENT_CA, C(SERVE) },
	{ 'f', C(PUT) | C(GET) | C(SCAN) },
	{ OPT_GRACE, C(SERVE) },
	{ OPT_HTTP, C(SERVE) },
	{ OPT_IDLE_TIMEOUT, C(SERVE) },
	{ OPT_KEY, C(SERVE) },
	{ OPT_LINGER, C(PUT) },
	{ 'l', C(SERVE) },
	{ OPT_MAX_CONNECTIONS, C(SERVE) },
	{ OPT_MAX_MSG_SIZE, C(SERVE) },
	{ 'm', C(PUT) },
	{ OPT_RETENTION, C(SERVE) | C(CLEAN) },
	{ OPT_SINCE, C(SCAN) },
	{ OPT_SOURCE, C(SCAN) },
	{ 't', C(PUT) },
	{ OPT_TOKEN_FILE, C(SERVE) },
	{ OPT_TYPE, C(SCAN) },
};

static struct {
	enum cmd cmd;
	const char *db, *db_name, *db_username, *db_table;
	struct secret password, token;
	const char *listen, *cert, *key, *client_ca, *http;
	int64_t retention_ns, clean_every_ns, grace_ns, linger_ns, idle_ns;
	size_t max_msg, max_record;
	uint64_t batch, max_conns;
	bool force, tee;
	const char *acked_to, *since, *type, *source;
	char **ids;
	size_t nids;
} A = {
	.retention_ns = 168LL * 3600 * 1000000000,
	.clean_every_ns = 3600LL * 1000000000,
	.grace_ns = 10LL * 1000000000,
	.idle_ns = 300LL * 1000000000,
	.max_conns = 1000,
	.max_msg = 16u * 1024 * 1024,
	.max_record = FRAME_MAX_DEFAULT,
	.batch = 10000,
};

/*
 * The duration vocabulary of every evpipe tool (evpipe.7, OPTIONS
 * CONVENTIONS): Go's syntax, which the original's DB_RETENTION_PERIOD
 * uses, plus d, and a bare number is seconds.
 */
static void
duration_opt(const char *name, const char *v, int64_t *out)
{
	if (duration_option(v, out) < 0)
		cli_usage(synopsis,
		    "%s %s: not a duration such as 30, 30s, 1m or 1d", name, v);
}

static const char *
getenv_set(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* slog levels (-4 debug, 0 info, 4 warn, 8 error) to our verbosity. */
static void
log_level_env(void)
{
	const char *v = getenv_set("LOG_LEVEL");
	char *end;
	long l;

	if (v == NULL)
		return;
	l = strtol(v, &end, 10);
	if (*end != '\0') {
		lwarn("LOG_LEVEL=%.32s: not an integer; ignored", v);
		return;
	}
	verbosity = l >= 8 ? LOG_ERROR :
	    l >= 4	   ? LOG_WARN :
	    l >= 0	   ? LOG_INFO :
			     LOG_TRACE;
}

/*
 * The environment of the original (awakari.md, 1.4), read by serve
 * alone, where awakari reads it: a DB_URI exported for that service
 * must not send a pipeline's put, get or scan to its database.  Flags
 * override it.
 */
static void
read_env(bool retention_given)
{
	const char *v;

	if (A.db == NULL)
		A.db = getenv_set("DB_URI");
	if (A.db_name == NULL)
		A.db_name = getenv_set("DB_NAME");
	if (A.db_username == NULL)
		A.db_username = getenv_set("DB_USERNAME");
	if (A.db_table == NULL)
		A.db_table = getenv_set("DB_TABLE_NAME");
	if (!retention_given && (v = getenv_set("DB_RETENTION_PERIOD")) != NULL)
		duration_opt("DB_RETENTION_PERIOD", v, &A.retention_ns);
	if (!secret_isset(&A.password) && getenv_set("DB_PASSWORD") != NULL)
		cli_secret(synopsis, &A.password, "database password",
		    SECRET_ENV, "DB_PASSWORD");
}

static void
parse(int argc, char **argv)
{
	static char listen[64];
	bool seen[0x300] = { false }, loud = false;
	const char *port;
	uint64_t u;
	size_t i;
	int c;

	opterr = 0;
	while ((c = getopt_long(
		    argc, argv, ":b:d:fhl:m:qtv", longopts, NULL)) != -1) {
		if (c >= 0 && c < 0x300)
			seen[c] = true;
		switch (c) {
		case 'b':
			if (cli_uint(optarg, 1, 1000000, &A.batch) < 0)
				cli_usage(synopsis,
				    "-b %s: not a number from 1 to 1000000",
				    optarg);
			break;
		case 'd':
			A.db = optarg;
			break;
		case 'f':
			A.force = true;
			break;
		case 'h':
			cli_help(synopsis, options);
		case 'l':
			A.listen = optarg;
			break;
		case 'm':
			if (cli_size(optarg, &A.max_record) < 0 ||
			    A.max_record == 0 || A.max_record > (size_t)1 << 30)
				cli_usage(synopsis,
				    "-m %s: not a size from 1 to 1G", optarg);
			break;
		case 'q':
			verbosity = LOG_ERROR;
			loud = true;
			break;
		case 't':
			A.tee = true;
			break;
		case 'v':
			verbosity++;
			loud = true;
			break;
		case OPT_ACKED_TO:
			A.acked_to = optarg;
			break;
		case OPT_CERT:
			A.cert = optarg;
			break;
		case OPT_CLEAN_EVERY:
			duration_opt(
			    "--clean-every", optarg, &A.clean_every_ns);
			break;
		case OPT_CLIENT_CA:
			A.client_ca = optarg;
			break;
		case OPT_DB_NAME:
			A.db_name = optarg;
			break;
		case OPT_DB_PASSWORD_FILE:
			cli_secret(synopsis, &A.password, "database password",
			    SECRET_FILE, optarg);
			break;
		case OPT_DB_TABLE:
			A.db_table = optarg;
			break;
		case OPT_DB_USERNAME:
			A.db_username = optarg;
			break;
		case OPT_HTTP:
			A.http = optarg;
			break;
		case OPT_GRACE:
			duration_opt("--grace", optarg, &A.grace_ns);
			break;
		case OPT_IDLE_TIMEOUT:
			duration_opt("--idle-timeout", optarg, &A.idle_ns);
			break;
		case OPT_KEY:
			A.key = optarg;
			break;
		case OPT_LINGER:
			duration_opt("--linger", optarg, &A.linger_ns);
			break;
		case OPT_MAX_CONNECTIONS:
			if (cli_uint(optarg, 1, 100000, &A.max_conns) < 0)
				cli_usage(synopsis,
				    "--max-connections %s: not a number from 1 "
				    "to 100000",
				    optarg);
			break;
		case OPT_MAX_MSG_SIZE:
			if (cli_size(optarg, &A.max_msg) < 0 ||
			    A.max_msg < 1024 || A.max_msg > (size_t)1 << 30)
				cli_usage(synopsis,
				    "--max-msg-size %s: not a size from 1K to "
				    "1G",
				    optarg);
			break;
		case OPT_RETENTION:
			duration_opt("--retention", optarg, &A.retention_ns);
			break;
		case OPT_SINCE:
			A.since = optarg;
			break;
		case OPT_SOURCE:
			A.source = optarg;
			break;
		case OPT_TOKEN_FILE:
			cli_secret(
			    synopsis, &A.token, "token", SECRET_FILE, optarg);
			break;
		case OPT_TYPE:
			A.type = optarg;
			break;
		case CLI_OPT_VERSION:
			cli_version();
		default:
			cli_bad_option(synopsis, argv, c);
		}
	}
	if (optind == argc)
		cli_usage(synopsis,
		    "no command: serve, put, get, delete, "
		    "clean or scan");
	for (i = 0; i < NCMDS; i++)
		if (strcmp(argv[optind], cmd_names[i]) == 0)
			break;
	if (i == NCMDS)
		cli_usage(synopsis,
		    "%s: unknown command (serve, put, get, delete, clean, "
		    "scan)",
		    argv[optind]);
	A.cmd = (enum cmd)i;
	if (A.cmd == SERVE) {
		read_env(seen[OPT_RETENTION]);
		if (!loud)
			log_level_env();
	}
	A.ids = argv + optind + 1;
	A.nids = (size_t)(argc - optind - 1);
	for (i = 0; i < sizeof(scope) / sizeof(scope[0]); i++)
		if (seen[scope[i].opt] && !(scope[i].cmds & C(A.cmd))) {
			const struct option *o = longopts;

			while (o->val != scope[i].opt)
				o++;
			cli_usage(synopsis, "--%s: not an option of %s",
			    o->name, cmd_names[A.cmd]);
		}
	if (A.nids > 0 && A.cmd != GET && A.cmd != DELETE)
		cli_usage(synopsis, "%s takes no arguments", cmd_names[A.cmd]);
	if ((A.key != NULL || A.client_ca != NULL) && A.cert == NULL)
		cli_usage(synopsis, "--key and --client-ca need --cert");
	if (A.cert != NULL && A.key == NULL)
		cli_usage(synopsis, "--cert needs --key");
	if (A.cmd == SERVE && A.listen == NULL) {
		port = getenv_set("API_PORT");
		if (port != NULL && cli_uint(port, 0, 65535, &u) < 0)
			cli_usage(synopsis, "API_PORT=%.16s: not a port number",
			    port);
		snprintf(listen, sizeof(listen), "%s://*:%s",
		    A.cert != NULL ? "grpcs" : "grpc",
		    port != NULL ? port : "50051");
		A.listen = listen;
	}
	if (!A.force && isatty(STDOUT_FILENO) &&
	    (A.cmd == GET || A.cmd == SCAN || (A.cmd == PUT && A.tee)))
		cli_usage(synopsis,
		    "refusing to write binary records to a terminal (-f "
		    "forces)");
}

/* PostgreSQL fails to open only for a bad URI; SQLite for its file. */
static int
open_failed(const struct store_config *cfg)
{
	return strncmp(cfg->uri, "postgres", 8) == 0 ? EXIT_USAGE : EXIT_IO;
}

/* ---- serve ---------------------------------------------------------- */

static struct {
	struct store *store;
	struct gserver *server;
	struct storesvc *svc;
	struct healthd *http;
	struct loop_timer idle;
	bool started;
} S;

static void
serve_state(bool up, const char *why, void *ctx)
{
	if (!S.started) {
		if (!up)
			die(EXIT_CONNECT, "%s", why);
		loop_quit(EXIT_OK);
		return;
	}
	if (up)
		lwarn("the database is back");
	else
		lwarn("the database is unavailable: %s", why);
	storesvc_set_up(S.svc, up);
}

/* Calls are over; once the store has finished too, stop. */
static void
idle_check(struct loop_timer *t)
{
	if (storesvc_idle(S.svc) && store_idle(S.store)) {
		loop_quit(EXIT_OK);
		return;
	}
	loop_timer_in(t, 10);
}

static void
server_done(void *ctx)
{
	loop_timer_in(&S.idle, 0);
}

static void
serve_signal(int signo, void *ctx)
{
	linfo("signal %d: finishing the calls in flight, then stopping", signo);
	storesvc_stop(S.svc);
	gserver_shutdown(S.server, A.grace_ns / 1000000, server_done, NULL);
}

/* GET on --http, other than /metrics (healthd answers that itself). */
static void
on_http(struct healthd_req *req, void *ctx)
{
	if (storesvc_serving(S.svc))
		healthd_reply(req, 200, "{\"status\":\"SERVING\"}");
	else
		healthd_reply(req, 503, "{\"status\":\"NOT_SERVING\"}");
}

/* --http [ADDR:]PORT, started once the gRPC server is. */
static void
http_start(void)
{
	char addr[256], err[512];
	const char *colon = strrchr(A.http, ':');
	const char *port = colon != NULL ? colon + 1 : A.http;
	char *end;
	unsigned long n;

	addr[0] = '\0';
	if (colon != NULL) {
		if ((size_t)(colon - A.http) >= sizeof(addr))
			cli_usage(
			    synopsis, "--http %s: address too long", A.http);
		memcpy(addr, A.http, (size_t)(colon - A.http));
		addr[colon - A.http] = '\0';
	}
	errno = 0;
	n = strtoul(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || n > 65535)
		cli_usage(synopsis, "--http %s: not [ADDR:]PORT", A.http);
	S.http = healthd_start(addr[0] != '\0' ? addr : NULL, (uint16_t)n,
	    on_http, NULL, err, sizeof(err));
	if (S.http == NULL)
		die(EXIT_CONNECT, "--http %s: %s", A.http, err);
	linfo("HTTP health and metrics on port %d", healthd_port(S.http));
	printf("http port %d\n", healthd_port(S.http));
}

static int
serve(struct store_config *cfg)
{
	struct gserver_opts so = { 0 };
	struct storesvc_opts vo = { 0 };
	char err[512];
	int status;

	cfg->on_state = serve_state;
	if (target_parse(&so.listen, A.listen, err, sizeof(err)) < 0)
		cli_usage(synopsis, "--listen: %s", err);
	if (A.cert != NULL)
		so.listen.tls = true;
	else if (so.listen.tls)
		cli_usage(synopsis, "%s: TLS needs --cert and --key", A.listen);
	so.tls.cert = A.cert;
	so.tls.key = A.key;
	so.tls.cacert = A.client_ca;
	so.tls.require_client_cert = A.client_ca != NULL;
	so.max_recv = (uint32_t)A.max_msg;
	so.max_conns = (size_t)A.max_conns;
	/* 0 is "never" here, and below a millisecond rounds up to one */
	so.idle_ms = A.idle_ns == 0 ? -1 :
	    A.idle_ns < 1000000	    ? 1 :
				      A.idle_ns / 1000000;
	if (secret_isset(&A.token) &&
	    secret_load(&A.token, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	if ((S.store = store_open(cfg, err, sizeof(err))) == NULL)
		die(open_failed(cfg), "%s", err);
	if (!store_up(S.store) && (status = loop_run()) != EXIT_OK)
		return status;
	S.started = true;
	if ((S.server = gserver_new(&so, err, sizeof(err))) == NULL)
		die(EXIT_CONNECT, "%s", err);
	vo.store = S.store;
	vo.token = secret_isset(&A.token) ? &A.token : NULL;
	vo.retention_us = A.retention_ns / 1000;
	vo.clean_every_ms = A.clean_every_ns / 1000000;
	vo.max_answer = A.max_msg;
	S.svc = storesvc_new(S.server, &vo);
	loop_timer_init(&S.idle, idle_check, NULL);
	sig_init(serve_signal, NULL);
	linfo("serving %s on %s (port %d)", store_backend_name(S.store),
	    A.listen, gserver_port(S.server));
	printf("port %d\n", gserver_port(S.server));
	if (A.http != NULL)
		http_start();
	if (fflush(stdout) == EOF)
		linfo("stdout: cannot print the port");
	status = loop_run();
	loop_timer_stop(&S.idle);
	if (S.http != NULL)
		healthd_stop(S.http);
	storesvc_free(S.svc);
	gserver_free(S.server);
	store_close(S.store);
	return status;
}

/* ---- the pipeline commands ------------------------------------------ */

static void
cli_state(bool up, const char *why, void *ctx)
{
	storecli_store_state(up, why);
}

static int64_t
since_us(const char *s)
{
	int64_t sec, d;
	int32_t ns;

	if (rfc3339_parse(s, &sec, &ns) == 0)
		return sec * 1000000 + ns / 1000;
	if (duration_option(s, &d) == 0)
		return store_now_us() - d / 1000;
	cli_usage(synopsis,
	    "--since %s: not an RFC 3339 time or a duration such as 1h", s);
}

static int
command(struct store_config *cfg)
{
	struct storecli_opts o = { 0 };
	char err[512];
	int status = EXIT_INTERNAL;

	cfg->on_state = cli_state;
	cfg->access = A.cmd == PUT	  ? STORE_CREATE :
	    A.cmd == GET || A.cmd == SCAN ? STORE_READONLY :
					    STORE_EXISTING;
	if ((o.store = store_open(cfg, err, sizeof(err))) == NULL)
		die(open_failed(cfg), "%s", err);
	o.batch = A.batch;
	o.linger_ms = A.linger_ns / 1000000;
	o.tee = A.tee;
	o.acked_to = A.acked_to;
	o.max_record = A.max_record;
	o.ids = A.ids;
	o.nids = A.nids;
	o.retention_us = A.retention_ns / 1000;
	o.since_us = A.since != NULL ? since_us(A.since) : 0;
	o.type = A.type;
	o.source = A.source;
	switch (A.cmd) {
	case PUT:
		status = storecli_put(&o);
		break;
	case GET:
		status = storecli_get(&o);
		break;
	case DELETE:
		status = storecli_delete(&o);
		break;
	case CLEAN:
		status = storecli_clean(&o);
		break;
	case SCAN:
		status = storecli_scan(&o);
		break;
	default:
		break;
	}
	store_close(o.store);
	return status;
}

int
main(int argc, char *argv[])
{
	struct store_config cfg = { 0 };
	char err[300], def[4096];
	int status;

	cli_start(argv[0]);
	parse(argc, argv);
	if (A.db == NULL &&
	    (A.db = store_default_uri(def, sizeof(def))) == NULL)
		die(EXIT_IO,
		    "cannot make the directory for the default "
		    "database; give one with --db");
	if (store_uri_check(A.db, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	if (secret_isset(&A.password) &&
	    secret_load(&A.password, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	cfg.uri = A.db;
	cfg.dbname = A.db_name;
	cfg.username = A.db_username;
	cfg.password = A.password.value;
	cfg.table = A.db_table;
	status = A.cmd == SERVE ? serve(&cfg) : command(&cfg);
	secret_free(&A.password);
	secret_free(&A.token);
	return status;
}
