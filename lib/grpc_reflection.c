#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc_reflection.h"
#include "xalloc.h"

/* v1alpha is v1 under another package name: the same bytes. */
typedef Grpc__Reflection__V1__ServerReflectionRequest Request;
typedef Grpc__Reflection__V1__ServerReflectionResponse Response;

#define CASE(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__##x
#define RCASE(x) GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__##x

#define MAX_FILES 256
#define MAX_SERVICES 64
#define MAX_EXTENSIONS 1024

struct rcall {
	struct gserver *s;
	bool paused; /* stopped taking requests until the replies drain */
};

static void
error_response(Response *r, Grpc__Reflection__V1__ErrorResponse *e, int code,
    const char *msg)
{
	e->error_code = code;
	e->error_message = (char *)msg;
	r->message_response_case = RCASE(MESSAGE_RESPONSE_ERROR_RESPONSE);
	r->error_response = e;
}

/* Service names, each once, from the registered "/Service/Method" paths. */
static size_t
services(const struct gserver *s, char names[][256], size_t max)
{
	const char *p, *slash;
	size_t i, j, n = 0, len;

	for (i = 0; (p = gserver_method_path(s, i)) != NULL; i++) {
		if (*p++ != '/' || (slash = strchr(p, '/')) == NULL)
			continue;
		len = (size_t)(slash - p);
		if (len >= sizeof(names[0]))
			continue;
		for (j = 0; j < n; j++)
			if (strncmp(names[j], p, len) == 0 &&
			    names[j][len] == '\0')
				break;
		if (j == n && n < max) {
			memcpy(names[n], p, len);
			names[n++][len] = '\0';
		}
	}
	return n;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Answer one request: each request gets exactly one response. */
static void
answer(struct gcall *call, struct gserver *s, Request *req)
{
	const struct descset *d = gserver_descset(s);
	const struct descfile *f = NULL, *files[MAX_FILES];
	Response r = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
	Grpc__Reflection__V1__ErrorResponse e =
	    GRPC__REFLECTION__V1__ERROR_RESPONSE__INIT;
	Grpc__Reflection__V1__FileDescriptorResponse fr =
	    GRPC__REFLECTION__V1__FILE_DESCRIPTOR_RESPONSE__INIT;
	Grpc__Reflection__V1__ExtensionNumberResponse xr =
	    GRPC__REFLECTION__V1__EXTENSION_NUMBER_RESPONSE__INIT;
	Grpc__Reflection__V1__ListServiceResponse lr =
	    GRPC__REFLECTION__V1__LIST_SERVICE_RESPONSE__INIT;
	Grpc__Reflection__V1__ServiceResponse sr[MAX_SERVICES],
	    *srp[MAX_SERVICES];
	ProtobufCBinaryData bytes[MAX_FILES];
	char names[MAX_SERVICES][256];
	int32_t numbers[MAX_EXTENSIONS];
	const char *name, *what = NULL;
	size_t i, n;
	long k;

	r.valid_host = req->host;
	r.original_request = req;
	switch (req->message_request_case) {
	case CASE(MESSAGE_REQUEST_FILE_BY_FILENAME):
		f = descset_file(d, req->file_by_filename);
		what = "file not found";
		break;
	case CASE(MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL):
		name = req->file_containing_symbol;
		f = descset_symbol(d, name + (*name == '.'));
		what = "symbol not found";
		break;
	case CASE(MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION):
		name = req->file_containing_extension->containing_type;
		f = descset_extension(d, name + (*name == '.'),
		    req->file_containing_extension->extension_number);
		what = "extension not found";
		break;
	case CASE(MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE):
		name = req->all_extension_numbers_of_type;
		name += *name == '.';
		k = descset_extension_numbers(d, name, numbers, MAX_EXTENSIONS);
		if (k < 0) {
			error_response(
			    &r, &e, GRPC_NOT_FOUND, "type not found");
			break;
		}
		xr.base_type_name = (char *)name;
		xr.n_extension_number = (size_t)k;
		xr.extension_number = numbers;
		r.message_response_case = RCASE(
		    MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
		r.all_extension_numbers_response = &xr;
		break;
	case CASE(MESSAGE_REQUEST_LIST_SERVICES):
		n = services(s, names, MAX_SERVICES);
		qsort(names, n, sizeof(names[0]), by_name);
		for (i = 0; i < n; i++) {
			grpc__reflection__v1__service_response__init(&sr[i]);
			sr[i].name = names[i];
			srp[i] = &sr[i];
		}
		lr.n_service = n;
		lr.service = srp;
		r.message_response_case = RCASE(
		    MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
		r.list_services_response = &lr;
		break;
	default:
		error_response(
		    &r, &e, GRPC_UNIMPLEMENTED, "unknown reflection request");
		break;
	}
	if (what != NULL && f == NULL) {
		error_response(&r, &e, GRPC_NOT_FOUND, what);
	} else if (f != NULL) {
		/* The file, then its imports: the client builds from these. */
		n = descset_closure(d, f, files, MAX_FILES);
		n = n < MAX_FILES ? n : MAX_FILES;
		for (i = 0; i < n; i++) {
			bytes[i].data = (uint8_t *)files[i]->bytes;
			bytes[i].len = files[i]->len;
		}
		fr.n_file_descriptor_proto = n;
		fr.file_descriptor_proto = bytes;
		r.message_response_case = RCASE(
		    MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
		r.file_descriptor_response = &fr;
	}
	gcall_send_msg(call, &r.base);
}

/* Fires for each request on the stream. */
static int
on_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct rcall *rc = ctx;
	Request *req;

	req = grpc__reflection__v1__server_reflection_request__unpack(
	    NULL, n, p);
	if (req == NULL) {
		gcall_finish(call, GRPC_INTERNAL, "request does not parse");
		return 0;
	}
	answer(call, rc->s, req);
	protobuf_c_message_free_unpacked(&req->base, NULL);
	/* A client that sends without reading must not grow our queue. */
	if (gcall_send_pending(call) >= GCALL_SEND_LOW) {
		rc->paused = true;
		return GCALL_PAUSE;
	}
	return 0;
}

/* Fires when the send queue drained: take requests again. */
static void
on_writable(struct gcall *call, void *ctx)
{
	struct rcall *rc = ctx;

	if (rc->paused) {
		rc->paused = false;
		gcall_resume(call);
	}
}

/* Fires when the client half-closed and every request was answered. */
static void
on_half_close(struct gcall *call, void *ctx)
{
	gcall_finish(call, GRPC_OK, NULL);
}

static void
on_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	free(ctx);
}

static const struct gcall_handlers handlers = {
	.on_message = on_message,
	.on_half_close = on_half_close,
	.on_writable = on_writable,
	.on_close = on_close,
};

static void
on_call(struct gcall *call, void *ctx)
{
	struct rcall *rc = xcalloc(1, sizeof(*rc));

	rc->s = ctx;
	gcall_set_handlers(call, &handlers, rc);
}

void
reflection_register(struct gserver *s)
{
	static const char *paths[] = {
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/"
		"ServerReflectionInfo",
	};
	struct gserver_method m;
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		m.path = paths[i];
		m.on_call = on_call;
		m.ctx = s;
		gserver_add(s, &m);
	}
}
