#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pbtypes.h"

#include "api/grpc/messages/cleaner.pb-c.h"
#include "api/grpc/messages/service.pb-c.h"
#include "cloudevent.pb-c.h"
#include "com/engflow/notificationqueue/demoserver/server.pb-c.h"
#include "engflow/auth/auth_context.pb-c.h"
#include "engflow/eventstore/v1/build_event.pb-c.h"
#include "engflow/eventstore/v1/eventstore.pb-c.h"
#include "engflow/eventstore/v1/notifications.pb-c.h"
#include "engflow/iam/v1/user.pb-c.h"
#include "engflow/notification/v1/notification.pb-c.h"
#include "engflow/notification/v1/notification_queue.pb-c.h"
#include "google/devtools/build/v1/build_events.pb-c.h"
#include "google/devtools/build/v1/build_status.pb-c.h"
#include "google/devtools/build/v1/publish_build_event.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "health.pb-c.h"

/* Every message type of proto/ (nested ones too), by descriptor. */
static const ProtobufCMessageDescriptor *const types[] = {
	&awakari__messages__cleaner__clean_request__descriptor,
	&awakari__messages__cleaner__clean_response__descriptor,
	&awakari__messages__get_batch_request__descriptor,
	&awakari__messages__get_batch_response__descriptor,
	&awakari__messages__put_batch_request__descriptor,
	&awakari__messages__put_batch_response__descriptor,
	&awakari__messages__delete_batch_request__descriptor,
	&awakari__messages__delete_batch_response__descriptor,
	&io__cloudevents__v1__cloud_event__descriptor,
	&io__cloudevents__v1__cloud_event__attributes_entry__descriptor,
	&io__cloudevents__v1__cloud_event__cloud_event_attribute_value__descriptor,
	&io__cloudevents__v1__cloud_event_batch__descriptor,
	&com__engflow__notificationqueue__demoserver__eng_flow_request__descriptor,
	&com__engflow__notificationqueue__demoserver__eng_flow_response__descriptor,
	&engflow__auth__auth_context__descriptor,
	&engflow__eventstore__v1__build_progress_event__descriptor,
	&engflow__eventstore__v1__replay_mode_options__descriptor,
	&engflow__eventstore__v1__get_build_request__descriptor,
	&engflow__eventstore__v1__get_invocation_request__descriptor,
	&engflow__eventstore__v1__streamed_build_event__descriptor,
	&engflow__eventstore__v1__build_lifecycle_event_notification__descriptor,
	&engflow__eventstore__v1__build_lifecycle_event_notification__build_started__descriptor,
	&engflow__eventstore__v1__build_lifecycle_event_notification__build_finished__descriptor,
	&engflow__eventstore__v1__build_lifecycle_event_notification__invocation_started__descriptor,
	&engflow__eventstore__v1__build_lifecycle_event_notification__invocation_finished__descriptor,
	&engflow__iam__v1__user__descriptor,
	&engflow__notification__v1__notification__descriptor,
	&engflow__notification__v1__queue_id__descriptor,
	&engflow__notification__v1__notification_delivery_options__descriptor,
	&engflow__notification__v1__pull_notification_request__descriptor,
	&engflow__notification__v1__pull_notification_response__descriptor,
	&engflow__notification__v1__pull_notification_response__acknowledgeable_notification__descriptor,
	&engflow__notification__v1__pull_notification_response__acknowledgement_receipt__descriptor,
	&google__devtools__build__v1__build_event__descriptor,
	&google__devtools__build__v1__build_event__invocation_attempt_started__descriptor,
	&google__devtools__build__v1__build_event__invocation_attempt_finished__descriptor,
	&google__devtools__build__v1__build_event__build_enqueued__descriptor,
	&google__devtools__build__v1__build_event__build_finished__descriptor,
	&google__devtools__build__v1__build_event__console_output__descriptor,
	&google__devtools__build__v1__build_event__build_component_stream_finished__descriptor,
	&google__devtools__build__v1__stream_id__descriptor,
	&google__devtools__build__v1__build_status__descriptor,
	&google__devtools__build__v1__publish_lifecycle_event_request__descriptor,
	&google__devtools__build__v1__publish_build_tool_event_stream_response__descriptor,
	&google__devtools__build__v1__ordered_build_event__descriptor,
	&google__devtools__build__v1__publish_build_tool_event_stream_request__descriptor,
	&google__protobuf__any__descriptor,
	&google__protobuf__duration__descriptor,
	&google__protobuf__empty__descriptor,
	&google__protobuf__timestamp__descriptor,
	&google__protobuf__double_value__descriptor,
	&google__protobuf__float_value__descriptor,
	&google__protobuf__int64_value__descriptor,
	&google__protobuf__uint64_value__descriptor,
	&google__protobuf__int32_value__descriptor,
	&google__protobuf__uint32_value__descriptor,
	&google__protobuf__bool_value__descriptor,
	&google__protobuf__string_value__descriptor,
	&google__protobuf__bytes_value__descriptor,
	&google__rpc__status__descriptor,
	&grpc__health__v1__health_check_request__descriptor,
	&grpc__health__v1__health_check_response__descriptor,
};

const ProtobufCMessageDescriptor *
pbtype_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(types[i]->name, name) == 0)
			return types[i];
	return NULL;
}

/*
 * A type URL names its type after the last '/' (any.proto: "the last
 * path segment of the URL's path ... the fully qualified name").
 */
const ProtobufCMessageDescriptor *
pbtype_by_url(const char *url)
{
	const char *slash = strrchr(url, '/');

	return slash != NULL ? pbtype_by_name(slash + 1) : NULL;
}

/* Whether m or a message inside it holds fields its type does not know. */
static bool
has_unknown(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	const char *base = (const char *)m;
	ProtobufCMessage *const *sub;
	size_t i, k, n;

	if (m->n_unknown_fields > 0)
		return true;
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue; /* the union holds another member */
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			sub = *(ProtobufCMessage * *const *)(base + f->offset);
		} else {
			n = 1;
			sub = (ProtobufCMessage *const *)(base + f->offset);
		}
		for (k = 0; k < n; k++)
			if (sub[k] != NULL && has_unknown(sub[k]))
				return true;
	}
	return false;
}

/*
 * The message packed in an Any, when its type is one of ours; NULL when
 * not, or when it does not parse.  With exact, also NULL unless it
 * holds no field its type does not know and packing it again gives
 * back the very same bytes: then nothing of it (unknown fields, odd
 * field order) is lost by looking at the decoded form.  Free with
 * protobuf_c_message_free_unpacked(m, alloc).
 */
ProtobufCMessage *
pbtype_unpack_any(
    const Google__Protobuf__Any *any, ProtobufCAllocator *alloc, bool exact)
{
	const ProtobufCMessageDescriptor *d;
	ProtobufCMessage *m;
	uint8_t *p;
	size_t n;
	bool same;

	if (any->type_url == NULL || (d = pbtype_by_url(any->type_url)) == NULL)
		return NULL;
	m = protobuf_c_message_unpack(
	    d, alloc, any->value.len, any->value.data);
	if (m == NULL || !exact)
		return m;
	n = protobuf_c_message_get_packed_size(m);
	same = n == any->value.len && !has_unknown(m);
	if (same && n > 0) {
		if ((p = malloc(n)) == NULL) {
			same = false;
		} else {
			protobuf_c_message_pack(m, p);
			same = memcmp(p, any->value.data, n) == 0;
			free(p);
		}
	}
	if (!same) {
		protobuf_c_message_free_unpacked(m, alloc);
		return NULL;
	}
	return m;
}
