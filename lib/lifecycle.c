#include "config.h"

#include <string.h>

#include "engflow/eventstore/v1/notifications.pb-c.h"
#include "engflow/notification/v1/notification.pb-c.h"
#include "errf.h"
#include "lifecycle.h"
#include "utf8.h"

typedef Engflow__Eventstore__V1__BuildLifecycleEventNotification Payload;
typedef Engflow__Notification__V1__Notification Notification;

const char *
lc_type_name(const char *url)
{
	const char *slash = strrchr(url, '/');

	return slash != NULL ? slash + 1 : url;
}

/* An id goes into a request, an event id and a subject: UTF-8 text. */
static int
id_ok(const char *s)
{
	return *s != '\0' && utf8_valid(s, strlen(s));
}

int
lc_parse(struct arena *a, const CloudEvent *ev, struct lc_notice *n, char *err,
    size_t errlen)
{
	const Google__Protobuf__Any *any = ev->proto_data;
	Notification *note;
	Payload *p;
	const char *name;

	if (ev->data_case != CE_DATA_PROTO || any == NULL)
		return 0;
	name = lc_type_name(any->type_url);
	if (strcmp(name, LC_NOTIFICATION) == 0) {
		note = engflow__notification__v1__notification__unpack(
		    &a->pb, any->value.len, any->value.data);
		if (note == NULL)
			return errf(err, errlen, "%s does not parse", name);
		any = note->payload;
		if (any == NULL ||
		    strcmp(lc_type_name(any->type_url), LC_PAYLOAD) != 0)
			return 0; /* a notification about something else */
	} else if (strcmp(name, LC_PAYLOAD) != 0) {
		return 0;
	}
	p = engflow__eventstore__v1__build_lifecycle_event_notification__unpack(
	    &a->pb, any->value.len, any->value.data);
	if (p == NULL)
		return errf(err, errlen, "%s does not parse", LC_PAYLOAD);
	n->instance = p->instance_name;
	n->build_id = p->build_id;
	n->invocation_id = "";
	switch (p->kind_case) {
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_INVOCATION_STARTED:
		n->kind = LC_INVOCATION_STARTED;
		n->invocation_id = p->invocation_started->invocation_id;
		break;
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_INVOCATION_FINISHED:
		n->kind = LC_INVOCATION_FINISHED;
		n->invocation_id = p->invocation_finished->invocation_id;
		break;
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_BUILD_STARTED:
		n->kind = LC_BUILD_STARTED;
		break;
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_BUILD_FINISHED:
		n->kind = LC_BUILD_FINISHED;
		break;
	default:
		return 0; /* a kind we do not know yet */
	}
	if ((n->kind == LC_INVOCATION_STARTED ||
		n->kind == LC_INVOCATION_FINISHED) &&
	    !id_ok(n->invocation_id))
		return errf(
		    err, errlen, "%s names no invocation id", LC_PAYLOAD);
	if ((n->kind == LC_BUILD_STARTED || n->kind == LC_BUILD_FINISHED) &&
	    !id_ok(n->build_id))
		return errf(err, errlen, "%s names no build id", LC_PAYLOAD);
	if (!utf8_valid(n->instance, strlen(n->instance)))
		return errf(
		    err, errlen, "%s: instance_name is not UTF-8", LC_PAYLOAD);
	return 1;
}
