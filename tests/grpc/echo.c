/*
 * echo: drives libevpipe's gRPC transport in the interop tests.
 *
 *   echo server [-v] [-l URL] [--cert F --key F [--client-ca F]]
 *	[--max-recv N]
 *	serves evpipe.test.Echo (tests/proto/echo.proto) and the health
 *	service; prints "port N" once listening; SIGTERM shuts down
 *	gracefully.
 *   echo client URL METHOD [options]
 *	calls the Echo service like tests/peers/echo_client.py and prints
 *	the same JSON lines: one per reply, then the status.  METHOD may
 *	also be a whole path ("/pkg.Service/Method", called like unary).
 *	--retry N re-opens a failed call (lib/retry: connection backoff,
 *	reset when a connection is established) up to N times in all,
 *	printing {"attempt": K, "status": ..., "next_backoff_ms": B} for
 *	each failure it retries.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "echo.pb-c.h"
#include "exitcode.h"
#include "grpc.h"
#include "health.pb-c.h"
#include "log.h"
#include "loop.h"
#include "retry.h"
#include "sig.h"

/* tests/proto/echo.proto for reflection, made by protoc and scripts/embed */
extern const uint8_t echo_descriptor_set[];
extern const size_t echo_descriptor_set_len;

typedef Evpipe__Test__EchoRequest Req;
typedef Evpipe__Test__EchoReply Rep;

static void
print_json(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	printf("%s\n", s);
	fflush(stdout);
	cJSON_free(s);
	cJSON_Delete(j);
}

static int
hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' :
	    c >= 'a' && c <= 'f'    ? c - 'a' + 10 :
				      -1;
}

/* ---- server ---------------------------------------------------------- */

struct scall {
	char kind; /* u, s, c, b */
	int nreq;
	char text[4096];
	size_t tlen;
	uint8_t *payload; /* Unary: echoed */
	size_t plen;
	int status;
	char status_message[512];
	int sleep_ms;
	int count, size, sent;
	struct loop_timer timer;
	struct gcall *call;
	bool ended;
};

static void
echo_trailers(struct gcall *call)
{
	const struct gmd *md;
	struct gmd out[32];
	size_t n, i, k = 0;

	md = gcall_metadata(call, &n);
	for (i = 0; i < n && k < 32; i++)
		if (strncmp(md[i].name, "x-", 2) == 0)
			out[k++] = md[i];
	if (k > 0)
		gcall_add_trailers(call, out, k);
}

static void
send_reply(struct gcall *call, const char *text, const uint8_t *p, size_t n,
    int index, int count)
{
	Rep r = EVPIPE__TEST__ECHO_REPLY__INIT;

	r.text = (char *)text;
	r.payload.data = (uint8_t *)p;
	r.payload.len = n;
	r.index = index;
	r.count = count;
	gcall_send_msg(call, &r.base);
}

static void
finish(struct scall *sc)
{
	if (sc->ended)
		return;
	sc->ended = true;
	echo_trailers(sc->call);
	gcall_finish(sc->call, sc->status, sc->status_message);
}

/* Server streaming: send while the queue is short, then wait. */
static void
stream_more(struct scall *sc)
{
	static uint8_t payload[1 << 20];

	while (sc->sent < sc->count &&
	    gcall_send_pending(sc->call) < GCALL_SEND_LOW) {
		send_reply(sc->call, sc->text, payload,
		    (size_t)sc->size < sizeof(payload) ? (size_t)sc->size :
							 sizeof(payload),
		    sc->sent, 0);
		sc->sent++;
	}
	if (sc->sent == sc->count)
		finish(sc);
}

static void
answer(struct scall *sc)
{
	if (sc->kind == 'u') {
		send_reply(sc->call, sc->text, sc->payload, sc->plen, 0, 0);
		finish(sc);
	} else if (sc->kind == 's') {
		stream_more(sc);
	} else if (sc->kind == 'c') {
		send_reply(sc->call, sc->text, NULL, 0, 0, sc->nreq);
		finish(sc);
	} else {
		finish(sc);
	}
}

static void
slept(struct loop_timer *t)
{
	answer(t->ctx);
}

static int
s_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct scall *sc = ctx;
	Req *req = evpipe__test__echo_request__unpack(NULL, n, p);

	if (req == NULL) {
		gcall_finish(call, GRPC_INTERNAL, "request does not parse");
		sc->ended = true;
		return 0;
	}
	if (sc->nreq == 0) {
		sc->status = req->status;
		snprintf(sc->status_message, sizeof(sc->status_message), "%s",
		    req->status_message);
		sc->sleep_ms = req->sleep_ms;
		sc->count = req->count;
		sc->size = req->size;
	}
	if (sc->kind == 'c') {
		size_t l = strlen(req->text);

		if (sc->tlen + l + 2 < sizeof(sc->text)) {
			if (sc->nreq > 0)
				sc->text[sc->tlen++] = ',';
			memcpy(sc->text + sc->tlen, req->text, l + 1);
			sc->tlen += l;
		}
	} else {
		snprintf(sc->text, sizeof(sc->text), "%s", req->text);
	}
	if (sc->kind == 'b')
		send_reply(call, req->text, req->payload.data, req->payload.len,
		    sc->nreq, 0);
	else if (sc->kind == 'u' && sc->nreq == 0 && req->payload.len > 0) {
		if ((sc->payload = malloc(req->payload.len)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		memcpy(sc->payload, req->payload.data, req->payload.len);
		sc->plen = req->payload.len;
	}
	sc->nreq++;
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return 0;
}

static void
s_half_close(struct gcall *call, void *ctx)
{
	struct scall *sc = ctx;

	if (sc->ended)
		return;
	if ((sc->kind == 'u' || sc->kind == 's') && sc->nreq != 1) {
		sc->ended = true;
		gcall_finish(
		    call, GRPC_UNIMPLEMENTED, "expected exactly one request");
		return;
	}
	if (sc->sleep_ms > 0) {
		loop_timer_init(&sc->timer, slept, sc);
		loop_timer_in(&sc->timer, sc->sleep_ms);
		return;
	}
	answer(sc);
}

static void
s_writable(struct gcall *call, void *ctx)
{
	struct scall *sc = ctx;

	if (sc->kind == 's' && !sc->ended)
		stream_more(sc);
}

static void
s_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct scall *sc = ctx;

	loop_timer_stop(&sc->timer);
	free(sc->payload);
	free(sc);
}

static const struct gcall_handlers server_handlers = {
	.on_message = s_message,
	.on_half_close = s_half_close,
	.on_writable = s_writable,
	.on_close = s_close,
};

static void
on_call(struct gcall *call, void *ctx)
{
	struct scall *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		die(EXIT_INTERNAL, "out of memory");
	sc->kind = *(const char *)ctx;
	sc->call = call;
	loop_timer_init(&sc->timer, slept, sc);
	gcall_set_handlers(call, &server_handlers, sc);
}

static struct gserver *server;

static void
server_done(void *ctx)
{
	loop_quit(0);
}

static void
server_signal(int signo, void *ctx)
{
	linfo("signal %d: shutting down", signo);
	gserver_shutdown(server, 5000, server_done, NULL);
}

static int
run_server(int argc, char **argv)
{
	struct gserver_opts o = { 0 };
	static const char kinds[] = "uscb";
	static const char *names[] = { "Unary", "ServerStream", "ClientStream",
		"Bidi" };
	static char paths[4][64];
	const char *url = "grpc://127.0.0.1:0";
	char err[300];
	int c, i;
	static const struct option lo[] = { { "listen", 1, NULL, 'l' },
		{ "cert", 1, NULL, 'c' }, { "key", 1, NULL, 'k' },
		{ "client-ca", 1, NULL, 'a' }, { "max-recv", 1, NULL, 'm' },
		{ NULL, 0, NULL, 0 } };

	while ((c = getopt_long(argc, argv, "l:v", lo, NULL)) != -1)
		switch (c) {
		case 'l':
			url = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'c':
			o.tls.cert = optarg;
			break;
		case 'k':
			o.tls.key = optarg;
			break;
		case 'a':
			o.tls.cacert = optarg;
			o.tls.require_client_cert = true;
			break;
		case 'm':
			o.max_recv = (uint32_t)atol(optarg);
			break;
		default:
			return EXIT_USAGE;
		}
	if (target_parse(&o.listen, url, err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s", err);
	if ((server = gserver_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_CONNECT, "%s", err);
	for (i = 0; i < 4; i++) {
		struct gserver_method m;

		snprintf(paths[i], sizeof(paths[i]), "/evpipe.test.Echo/%s",
		    names[i]);
		m.path = paths[i];
		m.on_call = on_call;
		m.ctx = (void *)&kinds[i];
		gserver_add(server, &m);
	}
	if (gserver_reflect_add(server, echo_descriptor_set,
		echo_descriptor_set_len, err, sizeof(err)) < 0)
		die(EXIT_INTERNAL, "%s", err);
	sig_init(server_signal, NULL);
	printf("port %d\n", gserver_port(server));
	fflush(stdout);
	c = loop_run();
	gserver_free(server);
	return c;
}

/* ---- client ---------------------------------------------------------- */

static struct {
	const char *method;
	Req req;
	int requests;
	int concurrent, ok, done;
	bool quiet;
	int slow_ms;
	bool slow;
	uint64_t replies, bytes;
	struct loop_timer slow_timer;
	struct gcall *slow_call;
	int64_t start;
	struct gchannel *ch;
	char path[256];
	struct gmd md[16];
	size_t nmd;
	int64_t timeout_ms;
	int retries;
	struct retry retry;
} C;

static void
print_status(struct gcall *call, const struct gstatus *st)
{
	cJSON *j = cJSON_CreateObject(), *tr = cJSON_CreateObject();
	const struct gmd *md;
	char hex[1024];
	size_t n, i, k;

	cJSON_AddStringToObject(j, "status", grpc_status_name(st->code));
	cJSON_AddNumberToObject(j, "code", st->code);
	cJSON_AddStringToObject(j, "details", st->message);
	md = gcall_metadata(call, &n);
	for (i = 0; i < n; i++) {
		if (strncmp(md[i].name, "x-", 2) != 0)
			continue;
		if (grpc_md_binary(md[i].name, strlen(md[i].name))) {
			for (k = 0; k < md[i].len && k < 500; k++)
				sprintf(hex + 2 * k, "%02x",
				    (uint8_t)md[i].value[k]);
			hex[2 * k] = '\0';
			cJSON_AddStringToObject(tr, md[i].name, hex);
		} else {
			cJSON_AddStringToObject(tr, md[i].name, md[i].value);
		}
	}
	cJSON_AddItemToObject(j, "trailers", tr);
	print_json(j);
}

static void
slow_resume(struct loop_timer *t)
{
	gcall_resume(C.slow_call);
}

static int
c_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	Rep *r;
	cJSON *j, *o;

	C.replies++;
	C.bytes += n;
	if (C.slow) {
		C.slow_call = call;
		loop_timer_in(&C.slow_timer, C.slow_ms);
		return GCALL_PAUSE;
	}
	if (C.quiet || C.concurrent > 0)
		return 0;
	if ((r = evpipe__test__echo_reply__unpack(NULL, n, p)) == NULL) {
		gcall_cancel(call);
		return 0;
	}
	j = cJSON_CreateObject();
	o = cJSON_AddObjectToObject(j, "reply");
	cJSON_AddStringToObject(o, "text", r->text);
	cJSON_AddNumberToObject(o, "payload_len", (double)r->payload.len);
	cJSON_AddNumberToObject(o, "index", r->index);
	cJSON_AddNumberToObject(o, "count", r->count);
	print_json(j);
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return 0;
}

static long
peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	if (f != NULL)
		fclose(f);
	return kb;
}

static void
c_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	cJSON *j;

	if (C.retries > 0 && C.retry.opens <= (uint64_t)C.retries &&
	    retry_transient(st->code) && retry_later(&C.retry, st->message)) {
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "attempt", (double)C.retry.opens);
		cJSON_AddStringToObject(
		    j, "status", grpc_status_name(st->code));
		cJSON_AddStringToObject(j, "details", st->message);
		cJSON_AddNumberToObject(
		    j, "next_backoff_ms", C.retry.bo.next_ms);
		print_json(j);
		return;
	}

	if (C.concurrent > 0) {
		C.ok += st->code == GRPC_OK;
		if (++C.done < C.concurrent)
			return;
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "concurrent", C.concurrent);
		cJSON_AddNumberToObject(j, "ok", C.ok);
		print_json(j);
		loop_quit(0);
		return;
	}
	if (C.quiet || C.slow) {
		j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "replies", (double)C.replies);
		cJSON_AddNumberToObject(j, "bytes", (double)C.bytes);
		cJSON_AddNumberToObject(j, "rss_kb", (double)peak_rss_kb());
		cJSON_AddNumberToObject(
		    j, "ms", (double)(loop_now() - C.start));
		print_json(j);
	}
	print_status(call, st);
	loop_quit(0);
}

static const struct gcall_handlers client_handlers = {
	.on_message = c_message,
	.on_close = c_close,
};

static void
client_signal(int signo, void *ctx)
{
	loop_quit(EXIT_INTERNAL);
}

static void
connected(void *ctx)
{
	if (C.retries > 0)
		retry_progress(&C.retry);
}

/* Start the call(s) and send the requests; with --retry, from retry. */
static void
start_calls(void)
{
	struct gcall *call;
	char text[64];
	int i, n;

	for (i = 0; i < (C.concurrent > 0 ? C.concurrent : 1); i++) {
		call = gcall_start(C.ch, C.path, C.md, C.nmd, C.timeout_ms,
		    &client_handlers, NULL);
		if (call == NULL && C.retries > 0 &&
		    C.retry.opens <= (uint64_t)C.retries &&
		    retry_later(&C.retry, gchannel_error(C.ch)))
			return;
		if (call == NULL)
			die(EXIT_CONNECT, "%s", gchannel_error(C.ch));
		if (strcmp(C.method, "ClientStream") != 0 &&
		    strcmp(C.method, "Bidi") != 0) {
			gcall_send_msg(call, &C.req.base);
		} else {
			for (n = 0; n < C.requests; n++) {
				Req r = C.req;

				snprintf(text, sizeof(text), "m%d", n);
				r.text = text;
				gcall_send_msg(call, &r.base);
			}
		}
		gcall_close_send(call);
	}
}

static void
reopen(struct retry *r, void *ctx)
{
	start_calls();
}

static int
run_client(int argc, char **argv)
{
	struct gchannel_opts o = { 0 };
	struct gmd *md = C.md;
	double timeout = 0;
	char err[300], *payload = NULL;
	const char *m;
	int c, n;
	static const struct option lo[] = { { "text", 1, NULL, 't' },
		{ "count", 1, NULL, 'n' }, { "size", 1, NULL, 's' },
		{ "status", 1, NULL, 'S' }, { "status-message", 1, NULL, 'M' },
		{ "sleep-ms", 1, NULL, 'z' }, { "requests", 1, NULL, 'r' },
		{ "timeout", 1, NULL, 'T' }, { "md", 1, NULL, 'd' },
		{ "cacert", 1, NULL, 'a' }, { "cert", 1, NULL, 'c' },
		{ "key", 1, NULL, 'k' }, { "insecure", 0, NULL, 'i' },
		{ "max-recv", 1, NULL, 'm' }, { "concurrent", 1, NULL, 'C' },
		{ "quiet-replies", 0, NULL, 'q' }, { "proxy", 1, NULL, 'p' },
		{ "keepalive-ms", 1, NULL, 'K' }, { "slow-ms", 1, NULL, 'w' },
		{ "payload", 1, NULL, 'P' },
		{ "keepalive-timeout-ms", 1, NULL, 'L' },
		{ "retry", 1, NULL, 'R' }, { NULL, 0, NULL, 0 } };

	evpipe__test__echo_request__init(&C.req);
	C.requests = 1;
	while ((c = getopt_long(argc, argv, "v", lo, NULL)) != -1)
		switch (c) {
		case 't':
			C.req.text = optarg;
			break;
		case 'n':
			C.req.count = atoi(optarg);
			break;
		case 's':
			C.req.size = atoi(optarg);
			break;
		case 'S':
			C.req.status = atoi(optarg);
			break;
		case 'M':
			C.req.status_message = optarg;
			break;
		case 'z':
			C.req.sleep_ms = atoi(optarg);
			break;
		case 'r':
			C.requests = atoi(optarg);
			break;
		case 'T':
			timeout = atof(optarg);
			break;
		case 'd': {
			char *eq = strchr(optarg, '=');
			size_t vl, k;

			if (eq == NULL || C.nmd == 16)
				return EXIT_USAGE;
			*eq = '\0';
			md[C.nmd].name = optarg;
			md[C.nmd].value = eq + 1;
			md[C.nmd].len = strlen(eq + 1);
			if (grpc_md_binary(optarg, strlen(optarg))) {
				char *v = eq + 1;

				vl = strlen(v) / 2;
				for (k = 0; k < vl; k++)
					v[k] = (char)(hexval(v[2 * k]) << 4 |
					    hexval(v[2 * k + 1]));
				md[C.nmd].len = vl;
			}
			C.nmd++;
			break;
		}
		case 'a':
			o.tls.cacert = optarg;
			break;
		case 'c':
			o.tls.cert = optarg;
			break;
		case 'k':
			o.tls.key = optarg;
			break;
		case 'i':
			o.tls.insecure = true;
			break;
		case 'm':
			o.max_recv = (uint32_t)atol(optarg);
			break;
		case 'C':
			C.concurrent = atoi(optarg);
			break;
		case 'q':
			C.quiet = true;
			break;
		case 'p':
			o.proxy = optarg;
			break;
		case 'K':
			o.keepalive_ms = atol(optarg);
			break;
		case 'L':
			o.keepalive_timeout_ms = atol(optarg);
			break;
		case 'R':
			C.retries = atoi(optarg);
			break;
		case 'w':
			C.slow_ms = atoi(optarg);
			C.slow = true;
			break;
		case 'P':
			n = atoi(optarg);
			payload = calloc(1, (size_t)n + 1);
			C.req.payload.data = (uint8_t *)payload;
			C.req.payload.len = (size_t)n;
			break;
		case 'v':
			verbosity++;
			break;
		default:
			return EXIT_USAGE;
		}
	if (argc - optind != 2)
		die(EXIT_USAGE, "usage: echo client URL METHOD [options]");
	C.timeout_ms = (int64_t)(timeout * 1000);
	if (target_parse(&o.target, argv[optind], err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s", err);
	m = argv[optind + 1];
	C.method = strcmp(m, "unary") == 0  ? "Unary" :
	    strcmp(m, "server-stream") == 0 ? "ServerStream" :
	    strcmp(m, "client-stream") == 0 ? "ClientStream" :
	    strcmp(m, "bidi") == 0	    ? "Bidi" :
	    *m == '/'			    ? m :
					      NULL;
	if (C.method == NULL)
		die(EXIT_USAGE, "%s: unknown method", m);
	if (*m == '/')
		snprintf(C.path, sizeof(C.path), "%s", m);
	else
		snprintf(
		    C.path, sizeof(C.path), "/evpipe.test.Echo/%s", C.method);
	o.on_connect = connected;
	if ((C.ch = gchannel_new(&o, err, sizeof(err))) == NULL)
		die(EXIT_USAGE, "%s", err);
	loop_timer_init(&C.slow_timer, slow_resume, NULL);
	sig_init(client_signal, NULL);
	C.start = loop_now();
	if (C.retries > 0) {
		retry_init(&C.retry, reopen, NULL);
		retry_now(&C.retry);
	} else {
		start_calls();
	}
	c = loop_run();
	gchannel_free(C.ch);
	free(payload);
	return c;
}

int
main(int argc, char **argv)
{
	log_init("echo");
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		die(EXIT_USAGE, "usage: echo server|client ...");
	if (strcmp(argv[1], "server") == 0)
		return run_server(argc - 1, argv + 1);
	if (strcmp(argv[1], "client") == 0)
		return run_client(argc - 1, argv + 1);
	die(EXIT_USAGE, "usage: echo server|client ...");
}
