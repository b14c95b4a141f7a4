/*
 * Flyte events from handler outcomes, CloudEvents and JSON lines; the
 * --tee CloudEvents; raw JSON members; the spool.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flyte.h"
#include "jsonraw.h"
#include "packevent.h"
#include "spool.h"
#include "tap.h"

static struct pack_command cmd = { .name = "Run",
	.events = (const char *[]){ "Ran", "Failed" },
	.nevents = 2,
	.timeout_ms = 1500 };

static struct handler_result
outcome(int wstatus, const char *out, const char *tail)
{
	return (struct handler_result){ .wstatus = wstatus,
		.out = out,
		.outlen = strlen(out),
		.err_tail = tail };
}

/* The result for an outcome: "EVENT PAYLOAD". */
static const char *
result(const struct handler_result *r, bool *ok)
{
	static char buf[2048];
	struct packevent e;

	*ok = packevent_from_handler(&cmd, r, &e);
	snprintf(buf, sizeof(buf), "%s %s", e.event, e.payload);
	packevent_free(&e);
	return buf;
}

static void
test_handler(void)
{
	struct handler_result r;
	bool ok;

	r = outcome(0,
	    " {\"event\":\"Ran\",\"payload\":{\"n\":1e400,\"x\":"
	    "12345678901234567890}}\n",
	    "");
	is_str(result(&r, &ok), "Ran {\"n\":1e400,\"x\":12345678901234567890}",
	    "the payload as the handler wrote it");
	ok(ok, "a reported event");
	r = outcome(0, "{\"event\":\"Ran\"}", "");
	is_str(result(&r, &ok), "Ran null", "no payload: null");
	r = outcome(0, "{\"event\":\"FATAL\",\"payload\":\"own\"}", "");
	is_str(result(&r, &ok), "FATAL \"own\"", "a handler may report FATAL");
	ok(ok, "and that is its event, not ours");

	r = outcome(3 << 8, "", "a\nb");
	is_str(result(&r, &ok),
	    "FATAL {\"error\":\"handler exited with status 3\","
	    "\"exitStatus\":3,\"stderr\":\"a\\nb\"}",
	    "exit status");
	ok(!ok, "is FATAL");
	r = outcome(SIGKILL, "", "");
	is_str(result(&r, &ok),
	    "FATAL {\"error\":\"handler killed by signal SIGKILL\","
	    "\"signal\":\"SIGKILL\",\"stderr\":\"\"}",
	    "signal");
	r = outcome(SIGTERM, "", "");
	r.timed_out = true;
	is_str(result(&r, &ok),
	    "FATAL {\"error\":\"handler timed out after 1.5s\","
	    "\"timeout\":1.5,\"stderr\":\"\"}",
	    "timeout");
	r = outcome(0, "{\"event\":\"Ran\"} {}", "");
	is_str(result(&r, &ok),
	    "FATAL {\"error\":\"handler output is not JSON; it must print "
	    "{\\\"event\\\": NAME, \\\"payload\\\": ...}\",\"exitStatus\":0,"
	    "\"output\":\"{\\\"event\\\":\\\"Ran\\\"} {}\",\"stderr\":\"\"}",
	    "two values");
	r = outcome(0, "{\"event\":\"Ran\",\"paylod\":1}", "");
	ok(strstr(result(&r, &ok),
	       "output has a member \\\"paylod\\\" besides event and "
	       "payload") != NULL,
	    "a misspelt member");
	r = outcome(0, "{\"event\":\"\"}", "");
	ok(strstr(result(&r, &ok), "no event name") != NULL, "empty name");
	r = outcome(0, "[\"Ran\"]", "");
	ok(strstr(result(&r, &ok), "not a JSON object") != NULL,
	    "not an object");
	r = outcome(0, "", "");
	ok(strstr(result(&r, &ok), "handler no output") != NULL ||
		strstr(result(&r, &ok), "no output") != NULL,
	    "no output");
	r = outcome(0, "\xff\xfe not text", "\xff tail");
	is_str(result(&r, &ok),
	    "FATAL {\"error\":\"handler output is not JSON; it must print "
	    "{\\\"event\\\": NAME, \\\"payload\\\": ...}\",\"exitStatus\":0,"
	    "\"output\":\"\xef\xbf\xbd\xef\xbf\xbd not text\","
	    "\"stderr\":\"\xef\xbf\xbd tail\"}",
	    "bytes that are not UTF-8 are replaced: the body stays JSON");
	r = outcome(0, "{\"event\":\"Other\",\"payload\":[1]}", "");
	is_str(result(&r, &ok),
	    "FATAL {\"error\":\"handler reported event \\\"Other\\\", which "
	    "command \\\"Run\\\" does not declare\",\"event\":\"Other\","
	    "\"payload\":[1],\"stderr\":\"\"}",
	    "undeclared event");
	r = outcome(0, "xxxx", "");
	r.overflow = true;
	ok(strstr(result(&r, &ok), "handler output is larger than 4 bytes") !=
		NULL,
	    "too much output");
}

static void
test_lines(void)
{
	struct packevent e;
	char err[256];
	const char *l;

	l = "{\"event\":\"Ping\",\"payload\":{\"a\":1}}";
	ok(packevent_from_line(l, strlen(l), &e, err, sizeof(err)) == 0 &&
		strcmp(e.event, "Ping") == 0 &&
		strcmp(e.payload, "{\"a\":1}") == 0,
	    "a JSON line");
	packevent_free(&e);
	l = "{\"event\":\"Ping\"";
	ok(packevent_from_line(l, strlen(l), &e, err, sizeof(err)) < 0,
	    "a bad line");
	is_str(err, "bad JSON at column 15", "its error");
	l = "{\"payload\":1}";
	ok(packevent_from_line(l, strlen(l), &e, err, sizeof(err)) < 0,
	    "no event");
	is_str(err, "line has no event name (a non-empty string)", "its error");
}

static void
test_cloudevents(void)
{
	static const char *rules[] = { "a.b=Mapped", "Other" };
	struct packevent_map map = { rules, 2 };
	struct arena a;
	struct packevent e;
	CloudEvent *ev;
	int64_t sec = 0;
	int32_t nsec = 0;

	arena_init(&a);
	ev = ce_new(&a, "1", "/s", "a.b");
	ce_set_text(&a, ev, "{\"x\": [1, 2]}");
	ce_put_time(&a, ev, "time", 1700000000, 5000000);
	packevent_from_cloudevent(ev, &map, &e, &sec, &nsec);
	is_str(e.event, "Mapped", "a mapped type");
	is_str(e.payload, "{\"x\": [1, 2]}", "JSON text as it is");
	ok(sec == 1700000000 && nsec == 5000000, "the time attribute");
	packevent_free(&e);

	ev = ce_new(&a, "2", "/s", "c.d");
	ce_set_text(&a, ev, "plain");
	ce_put_string(&a, ev, "datacontenttype", "text/plain");
	packevent_from_cloudevent(ev, &map, &e, &sec, &nsec);
	is_str(e.event, "Other", "the default name");
	is_str(e.payload, "\"plain\"", "other text as a string");
	packevent_free(&e);

	ev = ce_new(&a, "3", "/s", "e");
	ce_set_text(&a, ev, "not json");
	packevent_from_cloudevent(ev, NULL, &e, &sec, &nsec);
	is_str(e.event, "e", "no map: the type");
	is_str(e.payload, "\"not json\"", "text that is not JSON");
	packevent_free(&e);

	ev = ce_new(&a, "4", "/s", "e");
	ce_set_binary(&a, ev, "\0\1\2", 3);
	packevent_from_cloudevent(ev, NULL, &e, &sec, &nsec);
	is_str(e.payload, "\"AAEC\"", "bytes in base64");
	packevent_free(&e);

	ev = ce_new(&a, "5", "/s", "e");
	ce_set_proto_raw(&a, ev, "type.googleapis.com/x.Y", "\x08\x01", 2);
	packevent_from_cloudevent(ev, NULL, &e, &sec, &nsec);
	is_str(e.payload,
	    "{\"type_url\":\"type.googleapis.com/x.Y\",\"value\":\"CAE=\"}",
	    "protobuf data");
	packevent_free(&e);

	ev = ce_new(&a, "6", "/s", "e");
	packevent_from_cloudevent(ev, NULL, &e, &sec, &nsec);
	is_str(e.payload, "null", "no data");
	packevent_free(&e);
	arena_free(&a);
}

static void
test_tee(void)
{
	struct arena a;
	CloudEvent *ev;
	char *body;

	arena_init(&a);
	body = flyte_event_body("Ran", "{\"n\":1}", 1700000000, 123456789);
	is_str(body,
	    "{\"event\":\"Ran\",\"payload\":{\"n\":1},"
	    "\"createdAt\":\"2023-11-14T22:13:20.123Z\"}",
	    "a result body: createdAt in UTC, milliseconds");
	ev = packevent_tee(&a, "P.k.v", "http://h/v1/packs/P/actions/ab/result",
	    body,
	    "{\"command\":\"Run\",\"action\":\"ab\",\"evpipeack\":\"q\"}");
	ok(ev != NULL && ce_check(ev, NULL, 0) == 0, "a valid CloudEvent");
	is_str(ev->id, "ab", "id: the action");
	is_str(ev->type, "Ran", "type: the event");
	is_str(ev->source, "http://h/v1/packs/P/actions/ab/result",
	    "source: where it went");
	is_str(ce_get_string(ev, "flytecommand"), "Run", "flytecommand");
	is_str(ce_get_string(ev, "flytepack"), "P.k.v", "flytepack");
	is_str(ce_get_string(ev, "evpipeack"), "q", "evpipeack carried");
	is_str(ev->text_data, "{\"n\":1}", "data: the payload");
	ok(ce_get(ev, "time") != NULL &&
		ce_get(ev, "time")->ce_timestamp->nanos == 123000000,
	    "time: createdAt");
	free(body);
	ok(packevent_tee(&a, "P", "u", "{}", NULL) == NULL, "not ours: none");
	arena_free(&a);
}

static void
test_raw(void)
{
	const char *s = "{ \"a\" : [1, {\"b\": \"}\\\"\"}], \"input\":"
			" 123456789012345678901234 , \"c\": null}";
	const char *v;
	size_t n;

	ok(json_member_raw(s, strlen(s), "input", &v, &n) && n == 24 &&
		strncmp(v, "123456789012345678901234", n) == 0,
	    "a member after nested values and escapes");
	ok(json_member_raw(s, strlen(s), "a", &v, &n) &&
		strncmp(v, "[1, {\"b\": \"}\\\"\"}]", n) == 0,
	    "an array member");
	ok(json_member_raw(s, strlen(s), "c", &v, &n) && n == 4,
	    "the last member");
	ok(!json_member_raw(s, strlen(s), "b", &v, &n), "only the top level");
	ok(!json_member_raw("[1]", 3, "a", &v, &n), "not an object");
}

static int nloaded, pass;

/* The first pass removes the first entry. */
static void
loaded(const char *name, const char *text, size_t len, void *ctx)
{
	struct spool *s = ctx;
	char err[256];

	if (++nloaded == 1 && pass == 1) {
		is_str(text, "first", "oldest first");
		spool_remove(s, name, err, sizeof(err));
	}
}

static void
test_spool(void)
{
	char dir[] = "/tmp/test_spool.XXXXXX", err[512], *a, *b;
	struct spool s, s2;

	ok(mkdtemp(dir) != NULL, "a directory");
	ok(spool_open(&s, dir, err, sizeof(err)) == 0, "open");
	ok(spool_open(&s2, dir, err, sizeof(err)) < 0, "only once at a time");
	ok(strstr(err, "in use by another process") != NULL, "says so");
	a = spool_save(&s, "first", 5, err, sizeof(err));
	b = spool_save(&s, "second", 6, err, sizeof(err));
	ok(a != NULL && b != NULL && strcmp(a, b) < 0, "names sort in order");
	pass = 1;
	ok(spool_load(&s, loaded, &s, err, sizeof(err)) == 0 && nloaded == 2,
	    "load both");
	pass = 2;
	nloaded = 0;
	ok(spool_load(&s, loaded, &s, err, sizeof(err)) == 0 && nloaded == 1,
	    "a removed one is gone");
	ok(spool_remove(&s, b, err, sizeof(err)) == 0, "remove");
	spool_close(&s);
	free(a);
	free(b);
	snprintf(err, sizeof(err), "%s/.lock", dir);
	unlink(err);
	ok(rmdir(dir) == 0, "nothing else is left behind");
}

int
main(void)
{
	test_handler();
	test_lines();
	test_cloudevents();
	test_tee();
	test_raw();
	test_spool();
	return done_testing();
}
