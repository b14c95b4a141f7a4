/*
 * The demo target: EngFlow's example Forwarding server
 * (engflow.md 2.6), ForwardStream(EngFlowRequest{id, payload}) once per
 * event, as the example client's --forward does.
 *
 * id is the event's subject when it has one (resolve sets it to the
 * invocation id, the id the example client sends for event-store
 * events), else its id.  payload is text format (textformat.h): of the
 * message in proto_data when its type is one we know, else of the Any
 * itself; text data as it is; otherwise, and with --whole, of the whole
 * CloudEvent.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "com/engflow/notificationqueue/demoserver/server.pb-c.h"
#include "exitcode.h"
#include "fwd_targets.h"
#include "log.h"
#include "textformat.h"

typedef Com__Engflow__Notificationqueue__Demoserver__EngFlowRequest DemoReq;
typedef Com__Engflow__Notificationqueue__Demoserver__EngFlowResponse DemoRep;

struct demo {
	bool whole;
};

static char *
payload(const struct demo *d, const CloudEvent *ce)
{
	if (!d->whole && ce->data_case == CE_DATA_PROTO)
		return textformat_any(ce->proto_data, NULL);
	if (!d->whole && ce->data_case == CE_DATA_TEXT) {
		char *s = strdup(ce->text_data);

		if (s == NULL)
			die(EXIT_INTERNAL, "out of memory");
		return s;
	}
	return textformat(&ce->base, NULL);
}

static int
build(void *ctx, struct fwd_ev *ev, const CloudEvent *ce, char *err, size_t len)
{
	DemoReq r =
	    COM__ENGFLOW__NOTIFICATIONQUEUE__DEMOSERVER__ENG_FLOW_REQUEST__INIT;
	const char *subject = ce_get_string(ce, "subject");

	r.id = subject != NULL ? (char *)subject : ce->id;
	r.payload = payload(ctx, ce);
	ev->reqlen = protobuf_c_message_get_packed_size(&r.base);
	if ((ev->req = malloc(ev->reqlen > 0 ? ev->reqlen : 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	protobuf_c_message_pack(&r.base, ev->req);
	free(r.payload);
	return FWD_TAKEN;
}

static void
dry(void *ctx, struct fwd *f, const char *path, const struct fwd_ev *ev)
{
	DemoReq *r =
	    com__engflow__notificationqueue__demoserver__eng_flow_request__unpack(
		NULL, ev->reqlen, ev->req);

	if (r == NULL)
		die(EXIT_INTERNAL, "demo request does not parse");
	fwd_dry_print(f, path, &r->base);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* The server's reply, "Processed request with id ...", for -vv. */
static void
response(void *ctx, const struct fwd_ev *ev, const uint8_t *p, size_t n)
{
	DemoRep *r;

	if (!logging(LOG_TRACE))
		return;
	r = com__engflow__notificationqueue__demoserver__eng_flow_response__unpack(
	    NULL, n, p);
	if (r == NULL) {
		ltrace("record %llu: reply does not parse",
		    (unsigned long long)ev->recno);
		return;
	}
	ltrace("record %llu: %s", (unsigned long long)ev->recno, r->message);
	protobuf_c_message_free_unpacked(&r->base, NULL);
}

void
fwd_demo_start(struct fwd *f, bool whole)
{
	struct demo *d = calloc(1, sizeof(*d));
	struct unary_spec spec = {
		.path = DEMO_PATH,
		.build = build,
		.dry = dry,
		.response = response,
		.free = free,
	};

	if (d == NULL)
		die(EXIT_INTERNAL, "out of memory");
	d->whole = whole;
	spec.ctx = d;
	fwd_unary_start(f, &spec);
}
