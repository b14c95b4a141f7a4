#include "config.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "generic_stream.h"
#include "log.h"
#include "retry.h"
#include "xalloc.h"

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
} G;

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
	if (G.o->type != NULL)
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

static void
gs_open_now(void *ctx)
{
	char bearer[8192];
	struct gmd md[2];
	size_t nmd = 0;
	const char *token;
	bool fatal;

	if (!sub_taking(G.sub))
		return;
	token = sub_token(G.sub, &fatal);
	if (fatal)
		return;
	if (token != NULL && G.o->auth == SUB_AUTH_ENGFLOW) {
		md[nmd++] = (struct gmd){ "x-engflow-auth-method", "jwt-v0",
			6 };
		md[nmd++] = (struct gmd){ "x-engflow-auth-token", token,
			strlen(token) };
	} else if (token != NULL) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", token);
		md[nmd++] = (struct gmd){ "authorization", bearer,
			strlen(bearer) };
	}
	G.got_message = false;
	G.call = gcall_start(G.ch, G.o->method, md, nmd, 0, &gs_handlers, NULL);
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
	return G.call != NULL && gchannel_ready(G.ch);
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
	secret_wait_cancel((struct secret *)&G.o->token, &G.tokwait);
	if (G.call != NULL) {
		gcall_set_handlers(G.call, NULL, NULL);
		gcall_cancel(G.call);
		G.call = NULL;
	}
	free(G.request);
	G.request = NULL;
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
	} else {
		/* "/pkg.Service/Method" -> "pkg.Service.Method" */
		snprintf(G.type, sizeof(G.type), "%s", s->o->method + 1);
		for (i = 0; G.type[i] != '\0'; i++)
			if (G.type[i] == '/')
				G.type[i] = '.';
	}
	G.ch = sub_channel(s);
	G.tokwait = (struct secret_wait){ .fn = gs_open_now };
	sub_set_source(s, &src);
	retry_init(&G.retry, gs_open, NULL);
	G.retry.max = s->o->retries;
	retry_now(&G.retry);
}
