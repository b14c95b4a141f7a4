/* ce_map (notifications as CloudEvents) and pbwire. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "ce_map.h"
#include "engflow/eventstore/v1/notifications.pb-c.h"
#include "pbwire.h"
#include "tap.h"

typedef Engflow__Eventstore__V1__BuildLifecycleEventNotification Lifecycle;

static const char *
str(const CloudEvent *ev, const char *name)
{
	const char *s = ce_get_string(ev, name);

	return s != NULL ? s : "(none)";
}

static void
test_pbwire(void)
{
	/* field 1 "ab", field 2 varint 300, field 1 "xyz", field 3 fixed32 */
	static const uint8_t m[] = { 0x0a, 2, 'a', 'b', 0x10, 0xac, 0x02, 0x0a,
		3, 'x', 'y', 'z', 0x1d, 1, 2, 3, 4 };
	const uint8_t *p = m, *out;
	size_t n = sizeof(m), len, count;
	struct pbfield f;

	is_int(pbwire_next(&p, &n, &f), 1, "first field");
	is_int(f.num, 1, "number 1");
	is_mem(f.p, f.len, "ab", 2, "its bytes");
	is_int(pbwire_next(&p, &n, &f), 1, "second field");
	is_int(f.value, 300, "a varint");
	is_int(pbwire_find(m, sizeof(m), 1, &out, &len, &count), 1, "find");
	is_mem(out, len, "xyz", 3, "the last occurrence wins");
	is_int(count, 2, "and both are counted");
	is_int(pbwire_find(m, sizeof(m), 9, &out, &len, &count), 0, "absent");
	is_int(pbwire_find(m, sizeof(m) - 1, 1, &out, &len, &count), -1,
	    "truncated fixed32");
	{
		static const uint8_t bad[] = { 0x0a, 5, 'a' };

		is_int(pbwire_find(bad, sizeof(bad), 1, &out, &len, NULL), -1,
		    "length past the end");
	}
	{
		static const uint8_t group[] = { 0x0b, 0x0c };

		is_int(pbwire_find(group, sizeof(group), 1, &out, &len, NULL),
		    -1, "groups are refused");
	}
}

static void
test_engflow(void)
{
	EngflowNotification n = ENGFLOW__NOTIFICATION__V1__NOTIFICATION__INIT;
	Lifecycle l =
	    ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__INIT;
	Engflow__Eventstore__V1__BuildLifecycleEventNotification__InvocationFinished
	    fin =
		ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__INVOCATION_FINISHED__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	struct arena a;
	uint8_t pl[512], raw[1024];
	size_t plen, rlen;
	CloudEvent *ev;
	const CEValue *t;

	arena_init(&a);
	l.instance_name = "default";
	l.build_id = "b/6f1c";
	fin.invocation_id = "11111111-2222-4333-8444-555555555555";
	l.kind_case =
	    ENGFLOW__EVENTSTORE__V1__BUILD_LIFECYCLE_EVENT_NOTIFICATION__KIND_INVOCATION_FINISHED;
	l.invocation_finished = &fin;
	plen = protobuf_c_message_pack(&l.base, pl);
	any.type_url = "type.googleapis.com/"
		       "engflow.eventstore.v1.BuildLifecycleEventNotification";
	any.value.data = pl;
	any.value.len = plen;
	ts.seconds = 1700000000;
	ts.nanos = 42;
	n.id = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
	n.timestamp = &ts;
	n.payload = &any;
	rlen = protobuf_c_message_pack(&n.base, raw);

	ev = ce_map_engflow(&a, &n, raw, rlen, "grpcs://q.example/x", "tok");
	is_str(ev->id, n.id, "id: the notification's");
	is_str(ev->source, "grpcs://q.example/x", "source");
	is_str(ev->type,
	    "engflow.eventstore.v1.BuildLifecycleEventNotification."
	    "InvocationFinished",
	    "type: the kind's message");
	is_str(str(ev, "subject"), fin.invocation_id, "subject: invocation");
	is_str(str(ev, "engflowbuildid"), "b/6f1c", "engflowbuildid");
	is_str(str(ev, "engflowinstance"), "default", "engflowinstance");
	t = ce_get(ev, "time");
	ok(t != NULL && t->ce_timestamp->seconds == 1700000000 &&
		t->ce_timestamp->nanos == 42,
	    "time: the notification's timestamp");
	is_int(ev->data_case, CE_DATA_PROTO, "proto_data");
	is_str(ev->proto_data->type_url,
	    "type.googleapis.com/engflow.notification.v1.Notification",
	    "the real type URL");
	is_mem(ev->proto_data->value.data, ev->proto_data->value.len, raw, rlen,
	    "the bytes unchanged");
	{
		char err[200];

		ok(ce_check(ev, err, sizeof(err)) == 0, "a valid event");
	}

	/* An unknown payload, no id, no time. */
	n.id = "";
	n.timestamp = NULL;
	any.type_url = "type.googleapis.com/other.v1.Thing";
	rlen = protobuf_c_message_pack(&n.base, raw);
	ev = ce_map_engflow(&a, &n, raw, rlen, "s", "tok-9");
	is_str(ev->id, "tok-9", "no id: the fallback");
	is_str(ev->type, "other.v1.Thing", "type: the payload's name");
	ok(ce_get(ev, "subject") == NULL, "no subject");
	ok(ce_get(ev, "time") != NULL, "time: when it arrived");

	/* No payload at all. */
	n.payload = NULL;
	n.id = "x";
	rlen = protobuf_c_message_pack(&n.base, raw);
	ev = ce_map_engflow(&a, &n, raw, rlen, "s", "t");
	is_str(ev->type, "engflow.notification.v1.Notification",
	    "no payload: the notification's type");

	/* A payload that claims to be a lifecycle notification but is not
	 * one: still written, as the payload's type. */
	n.payload = &any;
	any.type_url = "type.googleapis.com/"
		       "engflow.eventstore.v1.BuildLifecycleEventNotification";
	any.value.data = (uint8_t *)"\xff\xff";
	any.value.len = 2;
	rlen = protobuf_c_message_pack(&n.base, raw);
	ev = ce_map_engflow(&a, &n, raw, rlen, "s", "t");
	is_str(ev->type,
	    "engflow.eventstore.v1.BuildLifecycleEventNotification",
	    "bad payload: the payload's type");
	arena_free(&a);
}

static void
test_axway(void)
{
	AxwayEvent e = CENTRAL__EVENTS__V1__EVENT__INIT;
	Central__Events__V1__EventMeta m =
	    CENTRAL__EVENTS__V1__EVENT_META__INIT;
	Central__Events__V1__Datamodel__ResourceInstance r =
	    CENTRAL__EVENTS__V1__DATAMODEL__RESOURCE_INSTANCE__INIT;
	Central__Events__V1__Datamodel__Metadata md =
	    CENTRAL__EVENTS__V1__DATAMODEL__METADATA__INIT;
	struct arena a;
	uint8_t raw[1024];
	size_t rlen;
	CloudEvent *ev;
	const CEValue *t;
	int64_t s;
	int32_t ns;

	arena_init(&a);
	e.id = "ev-1";
	e.time = "2021-11-30 11:59:25.01";
	e.type = CENTRAL__EVENTS__V1__EVENT__TYPE__SUBRESOURCEUPDATED;
	m.sequenceid = 1234567890123LL;
	m.watchtopicselflink = "/management/v1alpha1/watchtopics/t";
	m.subresource = "status";
	md.selflink = "/management/v1alpha1/apiservices/a";
	r.kind = "APIService";
	r.metadata = &md;
	e.metadata = &m;
	e.payload = &r;
	rlen = protobuf_c_message_pack(&e.base, raw);
	ev = ce_map_axway(&a, &e, raw, rlen, "grpcs://c/t");
	is_str(ev->id, "ev-1", "id");
	is_str(ev->type, "central.events.v1.Event.SUBRESOURCEUPDATED", "type");
	is_str(str(ev, "sequence"), "1234567890123", "sequence, in full");
	is_str(str(ev, "subject"), "/management/v1alpha1/apiservices/a",
	    "subject: the resource's self link");
	is_str(str(ev, "axwaykind"), "APIService", "axwaykind");
	is_str(str(ev, "axwaysubresource"), "status", "axwaysubresource");
	t = ce_get(ev, "time");
	ok(t != NULL && t->ce_timestamp->seconds == 1638273565 &&
		t->ce_timestamp->nanos == 10000000,
	    "time: the harvester's form, as UTC");
	is_mem(ev->proto_data->value.data, ev->proto_data->value.len, raw, rlen,
	    "the bytes unchanged");

	e.id = "";
	e.time = "junk";
	e.type = 77;
	rlen = protobuf_c_message_pack(&e.base, raw);
	ev = ce_map_axway(&a, &e, raw, rlen, "s");
	is_str(ev->id, "1234567890123", "no id: the sequence id");
	is_str(ev->type, "central.events.v1.Event.77", "an unknown type");

	is_int(
	    ce_map_parse_time("2021-11-30T11:59:25Z", &s, &ns), 0, "RFC 3339");
	is_int(s, 1638273565, "its value");
	is_int(ce_map_parse_time("2021-11-30 11:59:25+01:00", &s, &ns), 0,
	    "a space and a zone");
	is_int(s, 1638273565 - 3600, "its value");
	is_int(ce_map_parse_time("2021-11-30 11:59", &s, &ns), -1, "short");
	is_int(ce_map_parse_time("", &s, &ns), -1, "empty");
	arena_free(&a);
}

int
main(void)
{
	test_pbwire();
	test_engflow();
	test_axway();
	printf("1..%d\n", tap_count);
	return tap_failed != 0;
}
