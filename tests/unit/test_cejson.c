/* CloudEvents JSON: exact round trips and the errors bad lines get. */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/timestamp.pb-c.h"

#include "cejson.h"
#include "tap.h"

static struct arena A;
static struct ce_json CJ;

/* JSON -> CloudEvent -> protobuf -> CloudEvent -> JSON */
static char *
round_trip(const char *in, char *err, size_t errlen)
{
	static char out[4096];
	struct strbuf sb = { 0 };
	uint8_t buf[4096];
	CloudEvent *ev;
	struct jv *v;
	size_t n;

	if ((v = jv_parse(&A, in, strlen(in), err, errlen)) == NULL)
		return NULL;
	if ((ev = ce_json_read(&CJ, &A, v, err, errlen)) == NULL)
		return NULL;
	n = protobuf_c_message_pack(&ev->base, buf);
	if ((ev = ce_unpack(&A, buf, n, err, errlen)) == NULL)
		return NULL;
	if (ce_json_write(&CJ, ev, &sb, err, errlen) < 0)
		return NULL;
	snprintf(out, sizeof(out), "%s", sb.p);
	strbuf_free(&sb);
	arena_reset(&A);
	return out;
}

static void
same(const char *json, const char *what)
{
	char err[256] = "";
	const char *got = round_trip(json, err, sizeof(err));

	if (got == NULL)
		printf("#   error: %s\n", err);
	is_str(got, json, "round trip: %s", what);
}

static void
rewritten(const char *in, const char *want, const char *what)
{
	char err[256] = "";
	const char *got = round_trip(in, err, sizeof(err));

	if (got == NULL)
		printf("#   error: %s\n", err);
	is_str(got, want, "canonical form: %s", what);
}

static void
refused(const char *in, const char *want, const char *what)
{
	char err[256] = "";
	const char *got = round_trip(in, err, sizeof(err));

	ok(got == NULL, "refused: %s", what);
	is_str(err, want, "  message: %s", what);
}

#define HEAD                                                      \
	"\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\"," \
	"\"type\":\"t\""

/* A CloudEvent made from a received protobuf message. */
static void
from_message(void)
{
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	uint8_t want[16];
	const CEValue *t;
	struct strbuf sb = { 0 };
	CloudEvent *ev;
	char err[256] = "";
	size_t n;

	ts.seconds = 1;
	ts.nanos = 2;
	n = protobuf_c_message_pack(&ts.base, want);
	ev = ce_from_message(&A, &ts.base, "7", "/src", "x.ts");
	ce_put_string(&A, ev, "sequence", "42");
	ce_put_string(&A, ev, "subject", "a/b");
	is_int(
	    ce_check(ev, err, sizeof(err)), 0, "from_message: valid (%s)", err);
	is_str(ev->spec_version, "1.0", "from_message: specversion");
	t = ce_get(ev, "time");
	ok(t != NULL && t->attr_case == CE_TIMESTAMP &&
		llabs(t->ce_timestamp->seconds - (long long)time(NULL)) < 60,
	    "from_message: time is now, as a Timestamp");
	ok(ev->data_case == CE_DATA_PROTO, "from_message: proto_data set");
	is_str(ev->proto_data->type_url,
	    "type.googleapis.com/google.protobuf.Timestamp",
	    "from_message: the real type URL");
	is_mem(ev->proto_data->value.data, ev->proto_data->value.len, want, n,
	    "from_message: the message bytes");
	ce_del(ev, "time");
	ce_json_write(&CJ, ev, &sb, err, sizeof(err));
	is_str(sb.p,
	    "{\"specversion\":\"1.0\",\"id\":\"7\",\"source\":"
	    "\"/src\",\"type\":\"x.ts\",\"sequence\":\"42\",\"subject\":"
	    "\"a/b\",\"datacontenttype\":\"application/protobuf\","
	    "\"dataschema\":\"https://type.googleapis.com/"
	    "google.protobuf.Timestamp\",\"data_base64\":\"CAEQAg==\"}",
	    "from_message: as JSON");
	strbuf_free(&sb);
	arena_reset(&A);
}

int
main(void)
{
	arena_init(&A);
	ce_json_init(&CJ, CE_FORM_BASE64, NULL);

	same("{" HEAD "}", "the four required attributes");
	same("{" HEAD ",\"datacontenttype\":\"application/json\","
	     "\"data\":{\"a\":[1,2.5,\"x\",null,true]}}",
	    "JSON data");
	same("{" HEAD ",\"data\":\"just a string\"}", "JSON string data");
	same("{" HEAD ",\"datacontenttype\":\"text/plain\","
	     "\"data\":\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"}",
	    "text data, unicode");
	rewritten("{" HEAD ",\"datacontenttype\":\"text/plain\","
		  "\"data\":\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"}",
	    "{" HEAD ",\"datacontenttype\":\"text/plain\","
	    "\"data\":\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"}",
	    "unicode escapes become UTF-8");
	same("{" HEAD ",\"data_base64\":\"AAEC/w==\"}", "binary data");
	rewritten("{" HEAD ",\"data_proto\":{\"type_url\":"
		  "\"type.googleapis.com/x.Y\",\"value\":\"CgEx\"}}",
	    "{" HEAD ",\"datacontenttype\":\"application/protobuf\","
	    "\"dataschema\":\"https://type.googleapis.com/x.Y\","
	    "\"data_base64\":\"CgEx\"}",
	    "evpipe 1 proto data becomes CloudEvents JSON");
	same("{" HEAD ",\"datacontenttype\":\"application/protobuf\","
	     "\"dataschema\":\"https://type.googleapis.com/x.Y\","
	     "\"data_base64\":\"CgEx\"}",
	    "proto data");
	same("{" HEAD ",\"b\":true,\"i\":-2147483648,"
	     "\"s\":\"x\",\"time\":\"2020-01-02T03:04:05.5Z\"}",
	    "attributes whose type JSON shows");
	same("{" HEAD ",\"bin\":\"AAE=\",\"ref\":\"../x\","
	     "\"t2\":\"2020-01-02T03:04:05Z\",\"u\":\"http://x/\","
	     "\"evpipetypes\":\"bin=Binary,ref=URI-reference,t2=Timestamp,"
	     "u=URI\"}",
	    "attributes that need a type hint");
	same("{" HEAD ",\"datacontenttype\":\"application/json\","
	     "\"evpipetypes\":\"data=text\",\"data\":\"{not json\"}",
	    "text data that is not JSON under a JSON media type");

	rewritten("{\"type\":\"t\",\"source\":\"/s\",\"id\":\"1\","
		  "\"specversion\":\"1.0\",\"z\":null,\"a\":\"1\"}",
	    "{" HEAD ",\"a\":\"1\"}", "member order, null attributes");
	rewritten("{" HEAD ",\"time\":\"2020-01-02T04:04:05+01:00\"}",
	    "{" HEAD ",\"time\":\"2020-01-02T03:04:05Z\"}",
	    "timestamps are written in UTC");
	same("{" HEAD ",\"data\":{ \"a\" : 1 }}", "JSON data keeps its spaces");
	same("{" HEAD ",\"data\":[12345678901234567890,1e400,-0.0]}",
	    "JSON numbers keep their text");

	refused("{" HEAD ",\"id\":\"2\"}", "member \"id\" appears twice",
	    "duplicate members");
	refused("{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}",
	    "missing required attribute id", "missing id");
	refused("{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"/s\","
		"\"type\":\"t\"}",
	    "specversion must be \"1.0\"", "old specversion");
	refused("{" HEAD ",\"data_base64\":\"A===\"}",
	    "data_base64: bad base64", "bad base64");
	refused("{" HEAD ",\"data\":1,\"data_base64\":\"AA==\"}",
	    "only one of data, data_base64 and data_proto may be set",
	    "two data members");
	refused("{" HEAD ",\"Bad\":\"x\"}", "bad attribute name \"Bad\"",
	    "upper-case attribute name");
	refused("{" HEAD ",\"i\":1.5}",
	    "attribute i: 1.5 is not a 32-bit integer", "fractional integer");
	refused("{" HEAD ",\"time\":\"yesterday\"}",
	    "attribute time: \"yesterday\" is not an RFC 3339 timestamp",
	    "bad time");
	refused("{" HEAD "} x", "bad JSON at column 57: text after the value",
	    "trailing garbage");
	refused("{" HEAD ",\"s\":\"a\\u0000b\"}",
	    "bad JSON at column 62: \\u0000 in a string is not supported",
	    "NUL in a string");
	refused("{" HEAD ",\"s\":\"a\tb\"}",
	    "bad JSON at column 62: control character in a string",
	    "a raw control character in a string");
	refused("{" HEAD ",\"n\":01}",
	    "bad JSON at column 61: bad number (leading zero)",
	    "a number JSON does not allow");
	refused("[1]", "not a JSON object", "array item not an object");
	refused("{" HEAD ",\"evpipetypes\":\"q=Binary\"}",
	    "evpipetypes names q, which is not set", "hint for nothing");

	from_message();
	arena_free(&A);
	return done_testing();
}
