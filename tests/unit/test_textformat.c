/*
 * Text format against what protobuf's Python printer
 * (text_format.MessageToString, protobuf 4.21) writes for the same
 * messages; tests/forward.bats also compares whole events with it.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.pb-c.h"
#include "engflow/eventstore/v1/build_event.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "pbtypes.h"
#include "tap.h"
#include "textformat.h"

typedef Engflow__Eventstore__V1__BuildProgressEvent BPE;
typedef Google__Devtools__Build__V1__BuildEvent BE;
typedef Google__Devtools__Build__V1__StreamId SID;
typedef Io__Cloudevents__V1__CloudEvent CE;
typedef Io__Cloudevents__V1__CloudEvent__AttributesEntry CEAttr;
typedef Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue CEV;

static void
check(const ProtobufCMessage *m, const char *want, const char *what)
{
	size_t len;
	char *got = textformat(m, &len);

	is_str(got, want, "%s", what);
	is_int(len, strlen(want), "%s: length", what);
	free(got);
}

static void
doubles(void)
{
	static const struct {
		double v;
		const char *s;
	} d[] = {
		{ 0, "0.0" },
		{ 1, "1.0" },
		{ -2.5, "-2.5" },
		{ 0.1, "0.1" },
		{ 1e16, "1e+16" },
		{ 1e15, "1000000000000000.0" },
		{ 123456789012345678.0, "1.2345678901234568e+17" },
		{ 0.0001, "0.0001" },
		{ 0.00001, "1e-05" },
		{ 1.5e-7, "1.5e-07" },
		{ 1e300, "1e+300" },
		{ 5e-324, "5e-324" },
		{ 1.0 / 3, "0.3333333333333333" },
	};
	char buf[64];
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		textformat_double(d[i].v, buf, sizeof(buf));
		is_str(buf, d[i].s, "double %s", d[i].s);
	}
	textformat_double(-0.0, buf, sizeof(buf));
	is_str(buf, "-0.0", "negative zero");
	textformat_double(INFINITY, buf, sizeof(buf));
	is_str(buf, "inf", "infinity");
	textformat_double(-INFINITY, buf, sizeof(buf));
	is_str(buf, "-inf", "minus infinity");
	textformat_double(NAN, buf, sizeof(buf));
	is_str(buf, "nan", "not a number");
	textformat_float(0.1f, buf, sizeof(buf));
	is_str(buf, "0.1", "float 0.1 is written as 0.1, not 0.10000000149");
	textformat_float(16777217.0f, buf, sizeof(buf));
	is_str(buf, "16777216.0", "float rounding");
	textformat_float(3.4028235e38f, buf, sizeof(buf));
	is_str(buf, "3.4028235e+38", "largest float");
}

static void
build_event(void)
{
	static const uint8_t raw[] = { 0x0a, 0x02, 0x10, 0x01, 0xff, 0x00 };
	char *kw[] = { "command_name=test", "quote\"back\\slash'\t\n\r",
		"caf\xc3\xa9 \x01\x7f" };
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	SID sid = GOOGLE__DEVTOOLS__BUILD__V1__STREAM_ID__INIT;
	BE be = GOOGLE__DEVTOOLS__BUILD__V1__BUILD_EVENT__INIT;
	BPE e = ENGFLOW__EVENTSTORE__V1__BUILD_PROGRESS_EVENT__INIT;

	sid.build_id = "b-1";
	sid.invocation_id = "i-2";
	sid.component =
	    GOOGLE__DEVTOOLS__BUILD__V1__STREAM_ID__BUILD_COMPONENT__TOOL;
	ts.seconds = 1700000000;
	ts.nanos = 5;
	any.type_url = "type.googleapis.com/build_event_stream.BuildEvent";
	any.value.data = (uint8_t *)raw;
	any.value.len = sizeof(raw);
	be.event_time = &ts;
	be.event_case =
	    GOOGLE__DEVTOOLS__BUILD__V1__BUILD_EVENT__EVENT_BAZEL_EVENT;
	be.bazel_event = &any;
	e.stream_id = &sid;
	e.service_level =
	    GOOGLE__DEVTOOLS__BUILD__V1__PUBLISH_LIFECYCLE_EVENT_REQUEST__SERVICE_LEVEL__INTERACTIVE;
	e.n_notification_keywords = 3;
	e.notification_keywords = kw;
	e.build_event = &be;
	check(&e.base,
	    "stream_id {\n"
	    "  build_id: \"b-1\"\n"
	    "  component: TOOL\n"
	    "  invocation_id: \"i-2\"\n"
	    "}\n"
	    "service_level: INTERACTIVE\n"
	    "notification_keywords: \"command_name=test\"\n"
	    "notification_keywords: \"quote\\\"back\\\\slash\\'\\t\\n\\r\"\n"
	    "notification_keywords: \"caf\\303\\251 \\001\\177\"\n"
	    "build_event {\n"
	    "  event_time {\n"
	    "    seconds: 1700000000\n"
	    "    nanos: 5\n"
	    "  }\n"
	    "  bazel_event {\n"
	    "    type_url: "
	    "\"type.googleapis.com/build_event_stream.BuildEvent\"\n"
	    "    value: \"\\n\\002\\020\\001\\377\\000\"\n"
	    "  }\n"
	    "}\n",
	    "BuildProgressEvent, an Any of an unknown type");

	/* enum values without a name are numbers; empty messages braces */
	sid.component = 7;
	sid.build_id = "";
	sid.invocation_id = NULL;
	be.event_time = NULL;
	be.event_case =
	    GOOGLE__DEVTOOLS__BUILD__V1__BUILD_EVENT__EVENT_COMPONENT_STREAM_FINISHED;
	{
		Google__Devtools__Build__V1__BuildEvent__BuildComponentStreamFinished
		    fin =
			GOOGLE__DEVTOOLS__BUILD__V1__BUILD_EVENT__BUILD_COMPONENT_STREAM_FINISHED__INIT;

		be.component_stream_finished = &fin;
		e.service_level = 0;
		e.n_notification_keywords = 0;
		check(&e.base,
		    "stream_id {\n"
		    "  component: 7\n"
		    "}\n"
		    "build_event {\n"
		    "  component_stream_finished {\n"
		    "  }\n"
		    "}\n",
		    "unknown enum number, empty oneof message");
	}
}

static void
any_expanded(void)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	uint8_t buf[64], odd[] = { 0x10, 0x02, 0x08, 0x01 };
	uint8_t unknown[] = { 0x08, 0x01, 0x10, 0x02, 0x18, 0x05 };
	char *s;

	ts.seconds = -62135596800LL;
	ts.nanos = 999999999;
	any.type_url = "type.googleapis.com/google.protobuf.Timestamp";
	any.value.len = protobuf_c_message_pack(&ts.base, buf);
	any.value.data = buf;
	check(&any.base,
	    "[type.googleapis.com/google.protobuf.Timestamp] {\n"
	    "  seconds: -62135596800\n"
	    "  nanos: 999999999\n"
	    "}\n",
	    "an Any of a known type is expanded");
	s = textformat_any(&any, NULL);
	is_str(s, "seconds: -62135596800\nnanos: 999999999\n",
	    "textformat_any gives the message inside");
	free(s);

	/* fields out of number order: decoding would reorder them */
	any.value.data = odd;
	any.value.len = sizeof(odd);
	check(&any.base,
	    "type_url: \"type.googleapis.com/google.protobuf.Timestamp\"\n"
	    "value: \"\\020\\002\\010\\001\"\n",
	    "an Any that does not decode exactly stays as it is");
	s = textformat_any(&any, NULL);
	ok(strncmp(s, "type_url: ", 10) == 0,
	    "textformat_any falls back to the Any");
	free(s);

	/* a field Timestamp does not have: text would lose it */
	any.value.data = unknown;
	any.value.len = sizeof(unknown);
	check(&any.base,
	    "type_url: \"type.googleapis.com/google.protobuf.Timestamp\"\n"
	    "value: \"\\010\\001\\020\\002\\030\\005\"\n",
	    "an Any with unknown fields stays as it is");

	any.type_url = "example.com/no.such.Type";
	any.value.len = 0;
	check(&any.base, "type_url: \"example.com/no.such.Type\"\n",
	    "unknown type, empty value");
	ok(pbtype_by_url("type.googleapis.com/"
			 "engflow.eventstore.v1.BuildProgressEvent") ==
		&engflow__eventstore__v1__build_progress_event__descriptor,
	    "BuildProgressEvent is a known type");
	ok(pbtype_by_url("no-slash") == NULL, "a type URL needs a '/'");
}

static void
cloudevent(void)
{
	CEV v1 =
	    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__INIT;
	CEV v2 =
	    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__INIT;
	CEV v3 =
	    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__INIT;
	CEAttr a1 = IO__CLOUDEVENTS__V1__CLOUD_EVENT__ATTRIBUTES_ENTRY__INIT;
	CEAttr a2 = IO__CLOUDEVENTS__V1__CLOUD_EVENT__ATTRIBUTES_ENTRY__INIT;
	CEAttr a3 = IO__CLOUDEVENTS__V1__CLOUD_EVENT__ATTRIBUTES_ENTRY__INIT;
	CEAttr *attrs[] = { &a1, &a2, &a3 };
	CE ev = IO__CLOUDEVENTS__V1__CLOUD_EVENT__INIT;

	a1.key = "zeta";
	a1.value = &v1;
	v1.attr_case =
	    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BOOLEAN;
	v1.ce_boolean = 0;
	a2.key = "alpha";
	a2.value = &v2;
	v2.attr_case =
	    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_INTEGER;
	v2.ce_integer = -1;
	a3.key = "mid";
	a3.value = &v3;
	ev.id = "1";
	ev.source = "/s";
	ev.spec_version = "1.0";
	ev.type = "t";
	ev.n_attributes = 3;
	ev.attributes = attrs;
	ev.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_TEXT_DATA;
	ev.text_data = "";
	check(&ev.base,
	    "id: \"1\"\n"
	    "source: \"/s\"\n"
	    "spec_version: \"1.0\"\n"
	    "type: \"t\"\n"
	    "attributes {\n"
	    "  key: \"alpha\"\n"
	    "  value {\n"
	    "    ce_integer: -1\n"
	    "  }\n"
	    "}\n"
	    "attributes {\n"
	    "  key: \"mid\"\n"
	    "  value {\n"
	    "  }\n"
	    "}\n"
	    "attributes {\n"
	    "  key: \"zeta\"\n"
	    "  value {\n"
	    "    ce_boolean: false\n"
	    "  }\n"
	    "}\n"
	    "text_data: \"\"\n",
	    "map sorted by key; a oneof member shows even when empty or "
	    "false");
}

static void
wrappers(void)
{
	Google__Protobuf__DoubleValue d = GOOGLE__PROTOBUF__DOUBLE_VALUE__INIT;
	Google__Protobuf__FloatValue f = GOOGLE__PROTOBUF__FLOAT_VALUE__INIT;
	Google__Protobuf__UInt64Value u = GOOGLE__PROTOBUF__UINT64_VALUE__INIT;
	Google__Protobuf__BytesValue b = GOOGLE__PROTOBUF__BYTES_VALUE__INIT;

	check(&d.base, "", "all defaults: nothing");
	d.value = 2.5e-10;
	check(&d.base, "value: 2.5e-10\n", "double");
	f.value = 1.1f;
	check(&f.base, "value: 1.1\n", "float");
	u.value = UINT64_MAX;
	check(&u.base, "value: 18446744073709551615\n", "uint64");
	b.value.data = (uint8_t *)"\0";
	b.value.len = 1;
	check(&b.base, "value: \"\\000\"\n", "bytes with a NUL");
}

int
main(void)
{
	doubles();
	build_event();
	any_expanded();
	cloudevent();
	wrappers();
	return done_testing();
}
