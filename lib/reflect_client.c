#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "log.h"
#include "reflect_client.h"
#include "strbuf.h"
#include "xalloc.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest Request;
typedef Grpc__Reflection__V1__ServerReflectionResponse Response;

#define REFLECT_MAX_FILES 1000

struct reflect {
	struct gchannel *ch;
	struct gcall *call;
	char *service;
	const struct gmd *md;
	size_t nmd;
	int64_t timeout_ms;
	struct pbpool *pool;
	reflect_done_fn *done;
	void *ctx;
	bool v1alpha;
	struct rfile {
		char *name;
		bool got;
	} * files; /* asked for or received */
	size_t nfiles;
	struct strbuf set; /* the FileDescriptorSet being built */
	size_t asked; /* requests not yet answered */
	int code; /* a failure seen on the stream, 0: none */
	char why[400];
};

/* A file asked for (got false) or received. */
static struct rfile *
find(const struct reflect *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		if (strcmp(r->files[i].name, name) == 0)
			return &r->files[i];
	return NULL;
}

static struct rfile *
remember(struct reflect *r, const char *name, bool got)
{
	r->files = xrealloc(r->files, (r->nfiles + 1) * sizeof(*r->files));
	r->files[r->nfiles] = (struct rfile){ xstrndup(name, strlen(name)),
		got };
	return &r->files[r->nfiles++];
}

static void
forget_all(struct reflect *r)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++)
		free(r->files[i].name);
	free(r->files);
	r->files = NULL;
	r->nfiles = 0;
}

static void
ask(struct reflect *r, bool symbol, const char *what)
{
	Request q = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;

	if (symbol) {
		q.message_request_case =
		    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
		q.file_containing_symbol = (char *)what;
	} else {
		q.message_request_case =
		    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
		q.file_by_filename = (char *)what;
		remember(r, what, false);
	}
	if (gcall_send_msg(r->call, &q.base) == 0)
		r->asked++;
}

/* Stop at the first failure; on_close reports it. */
static void __attribute__((format(printf, 3, 4)))
fail(struct reflect *r, int code, const char *fmt, ...)
{
	va_list ap;

	if (r->code != 0)
		return;
	r->code = code;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	gcall_cancel(r->call);
}

static void
add_to_set(struct reflect *r, const uint8_t *p, size_t n)
{
	uint8_t hdr[11];
	size_t h = 0, len = n;

	/* FileDescriptorSet.file = 1, length-delimited */
	hdr[h++] = 0x0a;
	do {
		hdr[h++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
		len >>= 7;
	} while (len > 0);
	strbuf_add(&r->set, hdr, h);
	strbuf_add(&r->set, p, n);
}

/*
 * The files of one answer: the one asked for, then its imports
 * (transitively, as servers send them).  Each is kept once, however
 * many answers bring it; imports that none brought are asked for.
 */
static void
take_files(struct reflect *r, const ProtobufCBinaryData *files, size_t n)
{
	Google__Protobuf__FileDescriptorProto **f = xcalloc(n + 1, sizeof(*f));
	struct rfile *rf;
	size_t i, k;

	for (i = 0; i < n && r->code == 0; i++) {
		f[i] = google__protobuf__file_descriptor_proto__unpack(
		    NULL, files[i].len, files[i].data);
		if (f[i] == NULL || f[i]->name == NULL) {
			fail(r, GRPC_INTERNAL,
			    "server reflection: a file descriptor for %s "
			    "that does not parse",
			    r->service);
			break;
		}
		if ((rf = find(r, f[i]->name)) == NULL)
			rf = remember(r, f[i]->name, false);
		if (!rf->got) {
			rf->got = true;
			add_to_set(r, files[i].data, files[i].len);
		}
	}
	for (i = 0; i < n && r->code == 0; i++)
		for (k = 0; k < f[i]->n_dependency && r->code == 0; k++) {
			if (find(r, f[i]->dependency[k]) != NULL)
				continue;
			if (r->nfiles >= REFLECT_MAX_FILES)
				fail(r, GRPC_RESOURCE_EXHAUSTED,
				    "server reflection: more than 1000 files "
				    "for %s",
				    r->service);
			else
				ask(r, false, f[i]->dependency[k]);
		}
	for (i = 0; i < n; i++)
		if (f[i] != NULL)
			google__protobuf__file_descriptor_proto__free_unpacked(
			    f[i], NULL);
	free(f);
}

/*
 * Fires for each ServerReflectionResponse: one per request, in order.
 * r->asked counts the requests not yet answered; when it reaches 0 with
 * no failure every file needed is in r->set, and the request side is
 * closed so that the server ends the call (rc_close).
 */
static int
rc_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct reflect *r = ctx;
	Response *a;

	if (r->code != 0)
		return 0;
	a = grpc__reflection__v1__server_reflection_response__unpack(
	    NULL, n, p);
	if (a == NULL) {
		fail(r, GRPC_INTERNAL,
		    "server reflection: a response about %s that does not "
		    "parse",
		    r->service);
		return 0;
	}
	if (r->asked > 0)
		r->asked--;
	switch (a->message_response_case) {
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE:
		take_files(r,
		    a->file_descriptor_response->file_descriptor_proto,
		    a->file_descriptor_response->n_file_descriptor_proto);
		break;
	case GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE: {
		int code = a->error_response->error_code;
		const char *what = a->original_request != NULL &&
			a->original_request->message_request_case ==
			    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME ?
		    a->original_request->file_by_filename :
		    r->service;

		if (code <= 0 || code > 16)
			code = GRPC_UNKNOWN;
		fail(r, code, "server reflection: %s: %s: %s", what,
		    grpc_status_name(code),
		    a->error_response->error_message != NULL ?
			a->error_response->error_message :
			"");
		break;
	}
	default:
		fail(r, GRPC_INTERNAL,
		    "server reflection: an answer about %s to a question "
		    "not asked",
		    r->service);
		break;
	}
	grpc__reflection__v1__server_reflection_response__free_unpacked(
	    a, NULL);
	if (r->code == 0 && r->asked == 0)
		gcall_close_send(call); /* all there: the server ends it */
	return 0;
}

static void rc_open(struct reflect *);

static void
finish(struct reflect *r, int code, const char *why)
{
	reflect_done_fn *done = r->done;
	void *ctx = r->ctx;

	forget_all(r);
	strbuf_free(&r->set);
	free(r->service);
	free(r);
	done(ctx, code, why);
}

/*
 * Fires once when the stream ends, whoever ended it: a failure seen
 * here first (r->code), UNIMPLEMENTED on v1 (v1alpha next), or the
 * server's status; done() runs exactly once, from here or never.
 */
static void
rc_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct reflect *r = ctx;
	char why[600], err[200];

	r->call = NULL;
	if (r->code != 0) {
		snprintf(why, sizeof(why), "%s", r->why);
		finish(r, r->code, why);
		return;
	}
	if (st->code == GRPC_UNIMPLEMENTED && !r->v1alpha) {
		/* an older server: v1alpha, the same messages */
		linfo("server reflection v1: UNIMPLEMENTED; trying v1alpha");
		r->v1alpha = true;
		rc_open(r);
		if (r->call == NULL) {
			snprintf(why, sizeof(why), "server reflection: %s",
			    gchannel_error(r->ch));
			finish(r, GRPC_UNAVAILABLE, why);
		}
		return;
	}
	if (st->code != GRPC_OK) {
		snprintf(why, sizeof(why), "server reflection: %s%s%s",
		    grpc_status_name(st->code),
		    *st->message != '\0' ? ": " : "", st->message);
		finish(r, st->code, why);
		return;
	}
	if (r->asked > 0 || r->set.len == 0) {
		snprintf(why, sizeof(why),
		    "server reflection: the server ended the stream before "
		    "answering");
		finish(r, GRPC_UNAVAILABLE, why);
		return;
	}
	if (pbpool_add(r->pool, (const uint8_t *)r->set.p, r->set.len, err,
		sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "server reflection: %s", err);
		finish(r, GRPC_INTERNAL, why);
		return;
	}
	finish(r, GRPC_OK, "");
}

static const struct gcall_handlers rc_handlers = {
	.on_message = rc_message,
	.on_close = rc_close,
};

static void
rc_open(struct reflect *r)
{
	forget_all(r);
	strbuf_reset(&r->set);
	r->asked = 0;
	r->call = gcall_start(r->ch,
	    r->v1alpha ?
		"/grpc.reflection.v1alpha.ServerReflection/"
		"ServerReflectionInfo" :
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
	    r->md, r->nmd, r->timeout_ms, &rc_handlers, r);
	if (r->call != NULL)
		ask(r, true, r->service);
}

struct reflect *
reflect_start(struct gchannel *ch, const char *service, const struct gmd *md,
    size_t nmd, int64_t timeout_ms, struct pbpool *pool, reflect_done_fn *done,
    void *ctx)
{
	struct reflect *r = xcalloc(1, sizeof(*r));

	r->ch = ch;
	r->service = xstrndup(service, strlen(service));
	r->md = md;
	r->nmd = nmd;
	r->timeout_ms = timeout_ms;
	r->pool = pool;
	r->done = done;
	r->ctx = ctx;
	rc_open(r);
	if (r->call == NULL) {
		forget_all(r);
		strbuf_free(&r->set);
		free(r->service);
		free(r);
		return NULL;
	}
	return r;
}

void
reflect_cancel(struct reflect *r)
{
	if (r == NULL)
		return;
	r->done = NULL;
	if (r->call != NULL) {
		gcall_set_handlers(r->call, NULL, NULL);
		gcall_cancel(r->call);
	}
	forget_all(r);
	strbuf_free(&r->set);
	free(r->service);
	free(r);
}
