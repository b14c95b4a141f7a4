/*
 * What an EngFlow build lifecycle notification asks for.  subscribe
 * writes each queue notification as a CloudEvent whose proto_data is
 * the engflow.notification.v1.Notification, its payload Any an
 * engflow.eventstore.v1.BuildLifecycleEventNotification; a record whose
 * proto_data is that payload itself is read the same way.
 */
#ifndef EVPIPE_LIFECYCLE_H
#define EVPIPE_LIFECYCLE_H

#include <stddef.h>

#include "arena.h"
#include "cloudevent.h"

#define LC_NOTIFICATION "engflow.notification.v1.Notification"
#define LC_PAYLOAD "engflow.eventstore.v1.BuildLifecycleEventNotification"

enum lc_kind {
	LC_BUILD_STARTED = 100, /* the oneof's field numbers */
	LC_BUILD_FINISHED,
	LC_INVOCATION_STARTED,
	LC_INVOCATION_FINISHED,
};

struct lc_notice {
	enum lc_kind kind;
	const char *instance; /* instance_name */
	const char *build_id;
	const char *invocation_id; /* "" for build kinds */
};

/*
 * 1: ev is a lifecycle notification (n filled in, strings in the
 * arena); 0: it is something else; -1: it says it is one but its bytes
 * do not parse or it names no id (err says why).
 */
int lc_parse(
    struct arena *, const CloudEvent *, struct lc_notice *, char *, size_t);
/* The type name of an Any's type URL: what follows the last '/'. */
const char *lc_type_name(const char *);

#endif
