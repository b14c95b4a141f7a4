#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ce_map.h"
#include "engflow/eventstore/v1/notifications.pb-c.h"
#include "rfc3339.h"

#define ENGFLOW_LIFECYCLE \
	"engflow.eventstore.v1.BuildLifecycleEventNotification"

typedef Engflow__Eventstore__V1__BuildLifecycleEventNotification Lifecycle;

static void
put_time_now(struct arena *a, CloudEvent *ev)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	ce_put_time(a, ev, "time", now.tv_sec, (int32_t)now.tv_nsec);
}

static char *
cat3(struct arena *a, const char *x, const char *y, const char *z)
{
	size_t lx = strlen(x), ly = strlen(y), lz = strlen(z);
	char *s = arena_alloc(a, lx + ly + lz + 1);

	memcpy(s, x, lx);
	memcpy(s + lx, y, ly);
	memcpy(s + lx + ly, z, lz + 1);
	return s;
}

/*
 * The payload's kind, for BuildLifecycleEventNotification: type becomes
 * the full name of the kind's message, subject the invocation or build.
 */
static void
map_lifecycle(struct arena *a, CloudEvent *ev, const uint8_t *p, size_t n)
{
	Lifecycle *l;
	const char *kind = NULL, *subject = NULL;

	l = engflow__eventstore__v1__build_lifecycle_event_notification__unpack(
	    &a->pb, n, p);
	if (l == NULL)
		return; /* type stays the payload's; the bytes are in data */
	switch (l->kind_case) {
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_BUILD_STARTED:
		kind = ".BuildStarted";
		subject = l->build_id;
		break;
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_BUILD_FINISHED:
		kind = ".BuildFinished";
		subject = l->build_id;
		break;
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_INVOCATION_STARTED:
		kind = ".InvocationStarted";
		subject = l->invocation_started->invocation_id;
		break;
	case ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_INVOCATION_FINISHED:
		kind = ".InvocationFinished";
		subject = l->invocation_finished->invocation_id;
		break;
	default:
		break;
	}
	if (kind != NULL)
		ev->type = cat3(a, ENGFLOW_LIFECYCLE, kind, "");
	if (subject != NULL && *subject != '\0')
		ce_put_string(a, ev, "subject", subject);
	if (*l->build_id != '\0')
		ce_put_string(a, ev, "engflowbuildid", l->build_id);
	if (*l->instance_name != '\0')
		ce_put_string(a, ev, "engflowinstance", l->instance_name);
}

CloudEvent *
ce_map_engflow(struct arena *a, const EngflowNotification *n,
    const uint8_t *raw, size_t len, const char *source, const char *fallback_id)
{
	const char *id = *n->id != '\0' ? n->id : fallback_id;
	const char *type = "engflow.notification.v1.Notification", *slash;
	CloudEvent *ev;

	if (n->payload != NULL && *n->payload->type_url != '\0') {
		slash = strrchr(n->payload->type_url, '/');
		type = slash != NULL ? slash + 1 : n->payload->type_url;
		if (*type == '\0')
			type = "engflow.notification.v1.Notification";
	}
	ev = ce_new(a, id, source, type);
	if (n->timestamp != NULL)
		ce_put_time(
		    a, ev, "time", n->timestamp->seconds, n->timestamp->nanos);
	else
		put_time_now(a, ev);
	if (n->payload != NULL && strcmp(type, ENGFLOW_LIFECYCLE) == 0)
		map_lifecycle(
		    a, ev, n->payload->value.data, n->payload->value.len);
	ce_set_proto_raw(a, ev,
	    CE_TYPE_URL_PREFIX "engflow.notification.v1.Notification", raw,
	    len);
	return ev;
}

int
ce_map_parse_time(const char *s, int64_t *sec, int32_t *nanos)
{
	char buf[64];
	size_t n = strlen(s), t;

	if (rfc3339_parse(s, sec, nanos) == 0)
		return 0;
	/* The harvester's form: a space for the T, no zone (UTC). */
	if (n < 19 || n + 2 > sizeof(buf) || s[10] != ' ')
		return -1;
	memcpy(buf, s, n + 1);
	buf[10] = 'T';
	t = strcspn(buf + 19, "Zz+-");
	if (buf[19 + t] == '\0')
		memcpy(buf + n, "Z", 2);
	return rfc3339_parse(buf, sec, nanos);
}

static const char *
axway_type_name(int t)
{
	static const char *const names[] = { "CREATED", "UPDATED", "DELETED",
		"SUBRESOURCEUPDATED", "TRIGGERACTION", "PING" };

	return t >= 0 && t < (int)(sizeof(names) / sizeof(names[0])) ?
	    names[t] :
	    NULL;
}

CloudEvent *
ce_map_axway(struct arena *a, const AxwayEvent *e, const uint8_t *raw,
    size_t len, const char *source)
{
	const Central__Events__V1__EventMeta *m = e->metadata;
	const Central__Events__V1__Datamodel__ResourceInstance *r = e->payload;
	const char *tn = axway_type_name((int)e->type);
	char seq[24], type[64], *id;
	CloudEvent *ev;
	int64_t sec;
	int32_t ns;

	snprintf(seq, sizeof(seq), "%" PRId64, m != NULL ? m->sequenceid : 0);
	if (tn != NULL)
		snprintf(type, sizeof(type), "central.events.v1.Event.%s", tn);
	else
		snprintf(type, sizeof(type), "central.events.v1.Event.%d",
		    (int)e->type);
	id = *e->id != '\0' ? e->id : seq;
	ev = ce_new(a, id, source, type);
	if (ce_map_parse_time(e->time, &sec, &ns) == 0)
		ce_put_time(a, ev, "time", sec, ns);
	else
		put_time_now(a, ev);
	if (r != NULL && r->metadata != NULL && *r->metadata->selflink != '\0')
		ce_put_string(a, ev, "subject", r->metadata->selflink);
	if (m != NULL)
		ce_put_string(a, ev, "sequence", seq);
	if (r != NULL && *r->kind != '\0')
		ce_put_string(a, ev, "axwaykind", r->kind);
	if (m != NULL && *m->subresource != '\0')
		ce_put_string(a, ev, "axwaysubresource", m->subresource);
	ce_set_proto_raw(
	    a, ev, CE_TYPE_URL_PREFIX "central.events.v1.Event", raw, len);
	return ev;
}
