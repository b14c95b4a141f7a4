#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "duration.h"
#include "exitcode.h"
#include "generic_stream.h"
#include "jsonraw.h"
#include "log.h"
#include "pbjson.h"
#include "reflect_client.h"
#include "retry.h"
#include "slurp.h"
#include "xalloc.h"

#define GS_MAX_MD (2 + SUB_MAX_HEADERS) /* the token's, and -H's */

static struct generic_stream {
	struct sub *sub;
	const struct sub_opts *o;
	struct gchannel *ch;
	struct gcall *call;
	struct retry retry;
	uint8_t *request;
	size_t request_len;
	char source[600], type[300], type_url[400];
	char run[20]; /* event ids are run-N */
	uint64_t n;
	struct secret_wait tokwait; /* for a fresh token before opening */
	bool got_message;
	/* -d, -P: the types, from the protoset or by reflection */
	char *data; /* the JSON */
	size_t data_len;
	struct pbpool *pool;
	struct reflect *reflect; /* asking the server, or NULL */
	bool described; /* the method's types are known */
	bool typed; /* replies carry a type: --type or the method's */
	/* --max-time */
	struct loop_timer max_time;
	int64_t deadline; /* loop_now() time, or 0 */
} G;

/* All of fd (the file or stdin of -d @FILE, -P); 4 MiB at most. */
static uint8_t *
slurp(int fd, const char *what, size_t *len)
{
	char *p = slurp_fd(fd, GRPC_MAX_RECV_DEFAULT, len);

	if (p == NULL)
		die(errno == EFBIG ? EXIT_USAGE : EXIT_IO, "%s: %s", what,
		    errno == EFBIG ? "larger than 4 MiB" : strerror(errno));
	return (uint8_t *)p;
}

static uint8_t *
read_file(const char *path, const char *what, size_t *len)
{
	char name[PATH_MAX + 40];
	uint8_t *p;
	int fd;

	snprintf(name, sizeof(name), "%s %s", what, path);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		die(EXIT_IO, "%s: %s", name, strerror(errno));
	p = slurp(fd, name, len);
	close(fd);
	return p;
}

/* -d JSON, -d @FILE, -d @- (stdin, which subscribe otherwise leaves
 * alone) */
static void
read_data(const char *d)
{
	size_t n;

	if (d[0] != '@') {
		G.data = xstrndup(d, strlen(d));
		G.data_len = strlen(d);
	} else if (strcmp(d, "@-") == 0) {
		G.data = (char *)slurp(
		    STDIN_FILENO, "--request @- (stdin)", &n);
		G.data_len = n;
	} else {
		G.data = (char *)read_file(d + 1, "--request", &n);
		G.data_len = n;
	}
}

/*
 * The method's types are known (in G.pool): encode -d's JSON with its
 * input type, and name its output type in the events.  -1 (err says
 * why, *code the exit status) when the types do not fit.
 */
static int
describe(int *code, char *err, size_t errlen)
{
	struct pbmethod m;
	const struct pbmsg *in;
	struct strbuf b = { 0 };
	struct arena a;
	struct jv *v;
	char why[300];
	int r;

	pbpool_add_builtin(G.pool); /* what the files lack: evpipe's types */
	if ((r = pbpool_method(G.pool, G.o->method, &m)) < 0) {
		*code = G.o->protoset != NULL ? EXIT_USAGE : GRPC_NOT_FOUND;
		snprintf(err, errlen, "%s: %s", G.o->method,
		    r == -1 ? "no such service in the descriptors" :
			      "no such method in the service");
		return -1;
	}
	if ((in = pbpool_message(G.pool, m.input)) == NULL) {
		*code = EXIT_DATA;
		snprintf(err, errlen, "%s: its input type %s is not described",
		    G.o->method, m.input);
		return -1;
	}
	if (G.data != NULL) {
		arena_init(&a);
		if ((v = jv_parse(&a, G.data, G.data_len, why, sizeof(why))) ==
			NULL ||
		    pbjson_encode(G.pool, in, v, &b, why, sizeof(why)) < 0) {
			arena_free(&a);
			strbuf_free(&b);
			*code = EXIT_DATA;
			snprintf(
			    err, errlen, "--request: as %s: %s", m.input, why);
			return -1;
		}
		arena_free(&a);
		free(G.request);
		G.request = (uint8_t *)b.p; /* NULL for an empty message */
		G.request_len = b.len;
	}
	if (G.o->type == NULL) {
		snprintf(G.type, sizeof(G.type), "%s", m.output);
		snprintf(G.type_url, sizeof(G.type_url), "%s%s",
		    CE_TYPE_URL_PREFIX, m.output);
		G.typed = true;
	}
	G.described = true;
	return 0;
}

/* Fires when the whole call has had --max-time. */
static void
max_time_over(struct loop_timer *t)
{
	char d[DURATION_MAX];

	if (!sub_taking(G.sub))
		return;
	duration_format(d, sizeof(d), G.o->max_time_ms);
	lerr("%s: %s: DEADLINE_EXCEEDED: --max-time %s is over", G.o->endpoint,
	    G.o->method, d);
	sub_stop(G.sub, GRPC_DEADLINE_EXCEEDED);
}

/* What is left of --max-time for a call, in ms (0: no limit). */
static int64_t
time_left(void)
{
	int64_t left;

	if (G.deadline == 0)
		return 0;
	left = G.deadline - loop_now();
	return left > 0 ? left : 1;
}

static void
read_request(const char *path)
{
	struct stat st;
	ssize_t r;
	size_t got = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1)
		die(EXIT_IO, "request file %s: %s", path, strerror(errno));
	if (st.st_size > (off_t)GRPC_MAX_RECV_DEFAULT)
		die(EXIT_USAGE, "request file %s: larger than 4 MiB", path);
	G.request = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size &&
	    (r = read(fd, G.request + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)r;
	if (got != (size_t)st.st_size)
		die(EXIT_IO, "request file %s: short read", path);
	G.request_len = got;
	close(fd);
}

/* Fires for each response message: one event each. */
static int
gs_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	char id[48];
	CloudEvent *ev;

	if (!G.got_message) {
		G.got_message = true;
		retry_progress(&G.retry);
	}
	if (!sub_taking(G.sub))
		return GCALL_PAUSE;
	snprintf(id, sizeof(id), "%s-%llu", G.run, (unsigned long long)++G.n);
	ev = ce_new(&G.sub->arena, id, G.source, G.type);
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		ce_put_time(&G.sub->arena, ev, "time", now.tv_sec,
		    (int32_t)now.tv_nsec);
	}
	if (G.typed)
		ce_set_proto_raw(&G.sub->arena, ev, G.type_url, p, n);
	else
		ce_set_binary(&G.sub->arena, ev, p, n);
	return sub_emit(G.sub, ev, NULL, -1) ? 0 : GCALL_PAUSE;
}

static void
gs_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	char why[600];

	G.call = NULL;
	if (!sub_taking(G.sub)) {
		sub_check(G.sub);
		return;
	}
	if (st->code == GRPC_DEADLINE_EXCEEDED && G.deadline != 0 &&
	    G.deadline - loop_now() < 1000) {
		/* our grpc-timeout: --max-time is over, whoever saw it */
		max_time_over(NULL);
		return;
	}
	if (st->code == GRPC_OK) {
		linfo("%s: the call ended", G.o->endpoint);
		sub_stop(G.sub, EXIT_OK);
		return;
	}
	snprintf(why, sizeof(why), "%s: %s%s%s", G.o->method,
	    grpc_status_name(st->code), *st->message != '\0' ? ": " : "",
	    st->message);
	/* Progress only when a message came (gs_message): an attempt that
	 * merely lasted is none (issue 19). */
	sub_failed(G.sub, &G.retry, st->code, why);
}

static const struct gcall_handlers gs_handlers = {
	.on_message = gs_message,
	.on_close = gs_close,
};

/* The call's metadata: the token's, then -H's. */
static size_t
metadata(struct gmd *md, char *bearer, size_t bearerlen, const char *token)
{
	size_t nmd = 0, i;

	if (token != NULL && G.o->auth == SUB_AUTH_ENGFLOW) {
		md[nmd++] = (struct gmd){ "x-engflow-auth-method", "jwt-v0",
			6 };
		md[nmd++] = (struct gmd){ "x-engflow-auth-token", token,
			strlen(token) };
	} else if (token != NULL) {
		snprintf(bearer, bearerlen, "Bearer %s", token);
		md[nmd++] = (struct gmd){ "authorization", bearer,
			strlen(bearer) };
	}
	for (i = 0; i < G.o->nheaders && nmd < GS_MAX_MD; i++)
		md[nmd++] = G.o->headers[i];
	return nmd;
}

static void gs_open_now(void *);

/* Fires once reflection has the method's files, or failed. */
static void
reflected(void *ctx, int code, const char *why)
{
	char err[600];
	int exit_code;

	G.reflect = NULL;
	if (!sub_taking(G.sub)) {
		sub_check(G.sub);
		return;
	}
	if (code != GRPC_OK) {
		if (code == GRPC_UNIMPLEMENTED)
			snprintf(err, sizeof(err),
			    "%s: the server has no reflection service "
			    "(UNIMPLEMENTED); give the types with -P FILE",
			    G.o->method);
		else
			snprintf(err, sizeof(err), "%s", why);
		if (code == GRPC_DEADLINE_EXCEEDED && G.deadline != 0 &&
		    G.deadline - loop_now() < 1000) {
			max_time_over(NULL);
			return;
		}
		sub_failed(G.sub, &G.retry, code, err);
		return;
	}
	if (describe(&exit_code, err, sizeof(err)) < 0) {
		lerr("%s", err);
		sub_stop(G.sub, exit_code);
		return;
	}
	gs_open_now(NULL);
}

static void
gs_open_now(void *ctx)
{
	static char bearer[8192];
	static struct gmd md[GS_MAX_MD];
	size_t nmd;
	const char *token;
	bool fatal;

	if (!sub_taking(G.sub))
		return;
	token = sub_token(G.sub, &fatal);
	if (fatal)
		return;
	nmd = metadata(md, bearer, sizeof(bearer), token);
	if (!G.described && G.data != NULL) {
		/* the service, not the method: what grpcurl asks for */
		char svc[300];
		const char *slash = strchr(G.o->method + 1, '/');

		snprintf(svc, sizeof(svc), "%.*s",
		    (int)(slash - G.o->method - 1), G.o->method + 1);
		G.reflect = reflect_start(
		    G.ch, svc, md, nmd, time_left(), G.pool, reflected, NULL);
		if (G.reflect == NULL) {
			char why[600];

			snprintf(why, sizeof(why),
			    "server reflection: UNAVAILABLE: %s",
			    gchannel_error(G.ch));
			sub_failed(G.sub, &G.retry, GRPC_UNAVAILABLE, why);
		}
		return;
	}
	G.got_message = false;
	G.call = gcall_start(
	    G.ch, G.o->method, md, nmd, time_left(), &gs_handlers, NULL);
	if (G.call == NULL) {
		char why[600];

		snprintf(why, sizeof(why), "%s: UNAVAILABLE: %s", G.o->method,
		    gchannel_error(G.ch));
		sub_failed(G.sub, &G.retry, GRPC_UNAVAILABLE, why);
		return;
	}
	gcall_send(G.call, G.request, G.request_len);
	gcall_close_send(G.call);
}

/* The retry's open: a token with life left first (secret.h). */
static void
gs_open(struct retry *r, void *ctx)
{
	if (sub_taking(G.sub) && sub_token_ready(G.sub, &G.tokwait))
		gs_open_now(NULL);
}

static bool
gs_connected(void *ctx)
{
	return (G.call != NULL || G.reflect != NULL) && gchannel_ready(G.ch);
}

static void
gs_resume(void *ctx)
{
	if (G.call != NULL)
		gcall_resume(G.call);
}

static void
gs_stop(void *ctx)
{
	retry_cancel(&G.retry);
	loop_timer_stop(&G.max_time);
	secret_wait_cancel((struct secret *)&G.o->token, &G.tokwait);
	reflect_cancel(G.reflect);
	G.reflect = NULL;
	if (G.call != NULL) {
		gcall_set_handlers(G.call, NULL, NULL);
		gcall_cancel(G.call);
		G.call = NULL;
	}
	free(G.request);
	G.request = NULL;
	free(G.data);
	G.data = NULL;
	pbpool_free(G.pool);
	G.pool = NULL;
}

void
generic_stream_start(struct sub *s)
{
	const struct sub_source src = {
		.resume = gs_resume,
		.stop = gs_stop,
		.connected = gs_connected,
	};
	uint32_t r = 0;
	size_t el = strlen(s->o->endpoint), i;

	G.sub = s;
	G.o = s->o;
	if (s->o->request_file != NULL)
		read_request(s->o->request_file);
	if (s->o->data != NULL)
		read_data(s->o->data);
	if (s->o->data != NULL || s->o->protoset != NULL)
		G.pool = pbpool_new();
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)getpid();
	snprintf(G.run, sizeof(G.run), "%08x", r);
	snprintf(G.source, sizeof(G.source), "%.*s%s",
	    (int)(el > 0 && s->o->endpoint[el - 1] == '/' ? el - 1 : el),
	    s->o->endpoint, s->o->method);
	if (s->o->type != NULL) {
		snprintf(G.type, sizeof(G.type), "%s", s->o->type);
		snprintf(G.type_url, sizeof(G.type_url), "%s%s",
		    CE_TYPE_URL_PREFIX, s->o->type);
		G.typed = true;
	} else {
		/* "/pkg.Service/Method" -> "pkg.Service.Method" */
		snprintf(G.type, sizeof(G.type), "%s", s->o->method + 1);
		for (i = 0; G.type[i] != '\0'; i++)
			if (G.type[i] == '/')
				G.type[i] = '.';
	}
	if (s->o->protoset != NULL) {
		char err[600];
		size_t n;
		uint8_t *set = read_file(s->o->protoset, "-P", &n);
		int code;

		if (pbpool_add(G.pool, set, n, err, sizeof(err)) < 0)
			die(EXIT_USAGE, "-P %s: %s", s->o->protoset, err);
		free(set);
		if (describe(&code, err, sizeof(err)) < 0)
			die(code, "%s", err);
	}
	loop_timer_init(&G.max_time, max_time_over, NULL);
	if (s->o->max_time_ms > 0) {
		G.deadline = loop_now() + s->o->max_time_ms;
		loop_timer_in(&G.max_time, s->o->max_time_ms);
	}
	G.ch = sub_channel(s);
	G.tokwait = (struct secret_wait){ .fn = gs_open_now };
	sub_set_source(s, &src);
	retry_init(&G.retry, gs_open, NULL);
	G.retry.max = s->o->retries;
	retry_now(&G.retry);
}
