/*
 * The demo target: EngFlow's example Forwarding server
 * (engflow.md 2.6), ForwardStream(EngFlowRequest{id, payload}) once per
 * event, as the example client's --forward does.
 *
 * The client forwards each notification it pulls, then each event it
 * fetches for it (engflow.md 2.3, 2.4).  A notification (an
 * engflow.notification.v1.Notification in proto_data, as subscribe
 * writes it and resolve --pass-notifications passes it on) goes as the
 * client sends it: id the notification's id (the event's id), payload
 * the text format of its payload Any.  Any other event: id is its
 * subject when it has one (resolve sets it to the invocation id, the
 * id the client sends for event-store events), else its id; payload is
 * text format (textformat.h) of the message in proto_data when its
 * type is one we know, else of the Any itself; text data as it is;
 * otherwise, and with --whole, of the whole CloudEvent.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "com/engflow/notificationqueue/demoserver/server.pb-c.h"
#include "engflow/notification/v1/notification.pb-c.h"
#include "exitcode.h"
#include "fwd_targets.h"
#include "log.h"
#include "pbtypes.h"
#include "textformat.h"

typedef Com__Engflow__Notificationqueue__Demoserver__EngFlowRequest DemoReq;
typedef Com__Engflow__Notificationqueue__Demoserver__EngFlowResponse DemoRep;
typedef Engflow__Notification__V1__Notification Notification;

struct demo {
	bool whole;
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

/*
 * engflow.md 2.3: the example client's request for a notification,
 * the text format of its payload Any (Java prints an Any it has no
 * type registry for as type_url and value; ours is expanded when we
 * know the type, as Python's printer does, and parses back to the
 * same Any).  NULL when the event is not a notification that parses.
 */
static char *
notification_payload(const CloudEvent *ce)
{
	Notification *n;
	char *s;

	if (ce->data_case != CE_DATA_PROTO ||
	    pbtype_by_url(ce->proto_data->type_url) !=
		&engflow__notification__v1__notification__descriptor)
		return NULL;
	n = engflow__notification__v1__notification__unpack(
	    NULL, ce->proto_data->value.len, ce->proto_data->value.data);
	if (n == NULL)
		return NULL;
	s = n->payload != NULL ? textformat(&n->payload->base, NULL) :
				 xstrdup("");
	protobuf_c_message_free_unpacked(&n->base, NULL);
	return s;
}

static char *
payload(const struct demo *d, const CloudEvent *ce)
{
	if (!d->whole && ce->data_case == CE_DATA_PROTO)
		return textformat_any(ce->proto_data, NULL);
	if (!d->whole && ce->data_case == CE_DATA_TEXT)
		return xstrdup(ce->text_data);
	return textformat(&ce->base, NULL);
}

static int
build(void *ctx, struct fwd_ev *ev, const CloudEvent *ce, char *err, size_t len)
{
	DemoReq r =
	    COM__ENGFLOW__NOTIFICATIONQUEUE__DEMOSERVER__ENG_FLOW_REQUEST__INIT;
	const struct demo *d = ctx;
	const char *subject = ce_get_string(ce, "subject");

	if (!d->whole && (r.payload = notification_payload(ce)) != NULL) {
		r.id = ce->id;
	} else {
		r.id = subject != NULL ? (char *)subject : ce->id;
		r.payload = payload(d, ce);
	}
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
