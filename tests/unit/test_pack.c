/* Pack files: what is accepted, the errors (with JSON paths), the body. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "tap.h"

static const char good[] =
    "{\n"
    "  \"name\": \"Shell\",\n"
    "  \"labels\": {\"env\": \"prod\", \"dc\": \"lon\"},\n"
    "  \"helpURL\": \"https://example.com/shell\",\n"
    "  \"events\": [{\"name\": \"Ping\", \"helpURL\": \"http://e/p\"}],\n"
    "  \"commands\": [\n"
    "    {\"name\": \"Run\", \"events\": [\"Ran\", \"Failed\"],\n"
    "     \"handler\": \"sh ./run\", \"timeout\": 1.5},\n"
    "    {\"name\": \"Echo\", \"events\": [\"Ran\"], \"handler\": \"cat\",\n"
    "     \"timeout\": \"2m\", \"helpURL\": \"https://e/echo\"}\n"
    "  ],\n"
    "  \"healthChecks\": [{\"name\": \"disk\", \"command\": \"df /\"}]\n"
    "}\n";

static char err[512];

static const char *
bad(const char *doc)
{
	struct pack *p = pack_parse(doc, strlen(doc), err, sizeof(err));

	if (p != NULL) {
		pack_free(p);
		return "(accepted)";
	}
	return err;
}

static void
test_good(void)
{
	struct pack *p = pack_parse(good, strlen(good), err, sizeof(err));
	const struct pack_command *c;
	char *body;

	ok(p != NULL, "a full pack file is accepted");
	if (p == NULL) {
		printf("# %s\n", err);
		return;
	}
	is_str(p->name, "Shell", "name");
	is_str(p->id, "Shell.dc.lon.env.prod", "id: name, labels by key");
	is_int(p->ncommands, 2, "two commands");
	c = pack_command(p, "Run");
	ok(c != NULL && c->timeout_ms == 1500, "timeout in seconds");
	c = pack_command(p, "Echo");
	ok(c != NULL && c->timeout_ms == 120000, "timeout as a duration");
	ok(pack_declares(c, "Ran") && pack_declares(c, "FATAL") &&
		!pack_declares(c, "Failed"),
	    "declared events, FATAL always");
	ok(pack_command(p, "Nope") == NULL, "unknown command");
	ok(pack_event_known(p, "Ping") && pack_event_known(p, "Failed") &&
		!pack_event_known(p, "Other"),
	    "events known to the pack");
	is_int(p->nchecks, 1, "one check");
	is_int(p->checks[0].timeout_ms, PACK_CHECK_TIMEOUT_DEFAULT_MS,
	    "check timeout default");
	body = pack_registration(p);
	is_str(body,
	    "{\"name\":\"Shell\",\"labels\":{\"dc\":\"lon\",\"env\":\"prod\"},"
	    "\"events\":[{\"name\":\"Ping\",\"links\":[{\"href\":\"http://e/"
	    "p\",\"rel\":\"help\"}]},{\"name\":\"Ran\"},{\"name\":\"Failed\"}"
	    "],\"commands\":[{\"name\":\"Run\",\"events\":[\"Ran\",\"Failed\"]"
	    "},{\"name\":\"Echo\",\"events\":[\"Ran\"],\"links\":[{\"href\":"
	    "\"https://e/echo\",\"rel\":\"help\"}]}],\"links\":[{\"href\":"
	    "\"https://example.com/shell\",\"rel\":\"help\"}]}",
	    "registration body");
	free(body);

	ok(pack_set_labels(p, " env = dev , zone=a,,", err, sizeof(err)) == 0,
	    "FLYTE_LABELS accepted");
	is_str(p->id, "Shell.dc.lon.env.dev.zone.a", "labels replaced, added");
	ok(pack_set_labels(p, "novalue", err, sizeof(err)) < 0,
	    "FLYTE_LABELS item without =");
	is_str(err, "\"novalue\" is not key=value", "its error");
	ok(pack_set_labels(p, "a=b c", err, sizeof(err)) < 0,
	    "FLYTE_LABELS value with a space");
	pack_free(p);
}

static void
test_minimal(void)
{
	const char *doc = "{\"name\":\"Min\"}";
	struct pack *p = pack_parse(doc, strlen(doc), err, sizeof(err));
	char *body;

	ok(p != NULL, "a name is enough");
	if (p == NULL)
		return;
	body = pack_registration(p);
	is_str(body, "{\"name\":\"Min\",\"events\":[]}",
	    "minimal body: no labels, commands or links");
	free(body);
	pack_free(p);
}

static void
test_errors(void)
{
	is_str(bad("{\"name\": \"A\",\n  \"commands\": [}"),
	    "line 2, column 16: bad JSON", "syntax error position");
	is_str(bad("{\"name\": \"A\"} x"),
	    "line 1, column 15: text after the value", "trailing text");
	is_str(bad("[]"), "$: not an object", "not an object");
	is_str(bad("{}"), "$.name: missing", "name missing");
	is_str(bad("{\"name\": 3}"), "$.name: not a string", "name type");
	is_str(bad("{\"name\": \"a b\"}"),
	    "$.name: only letters, digits, '-', '.', '_' and '~' are allowed "
	    "(it becomes part of URLs)",
	    "name must be URL-safe");
	is_str(bad("{\"name\": \"A\", \"nmae\": 1}"), "$.nmae: unknown member",
	    "unknown member");
	is_str(bad("{\"name\": \"A\", \"name\": \"B\"}"),
	    "$.name: member given twice", "duplicate member");
	is_str(bad("{\"name\": \"A\", \"labels\": {\"k\": 1}}"),
	    "$.labels.k: not a string", "label value type");
	is_str(bad("{\"name\": \"A\", \"labels\": {\"a b\": \"x\"}}"),
	    "$.labels[\"a b\"]: label names may have only letters, digits, "
	    "'-', '.', '_' and '~'",
	    "label name quoted in the path");
	is_str(bad("{\"name\": \"A\", \"helpURL\": \"ftp://x\"}"),
	    "$.helpURL: not an http or https URL", "help URL scheme");
	is_str(bad("{\"name\": \"A\", \"commands\": [{\"name\": \"C\", "
		   "\"events\": [\"E\"], \"handler\": \"h\"}, {\"name\": "
		   "\"D\", \"events\": [\"E\"], \"handler\": \"h\", "
		   "\"timeout\": 0}]}"),
	    "$.commands[1].timeout: not a number of seconds or a duration "
	    "above zero (e.g. 30, \"1.5s\", \"2m\")",
	    "zero timeout");
	is_str(bad("{\"name\": \"A\", \"commands\": [{\"name\": \"C\", "
		   "\"events\": [\"E\", 2], \"handler\": \"h\"}]}"),
	    "$.commands[0].events[1]: not a string", "event name type");
	is_str(bad("{\"name\": \"A\", \"commands\": [{\"name\": \"C\", "
		   "\"events\": [], \"handler\": \"h\"}]}"),
	    "$.commands[0].events: empty (the events the handler may report)",
	    "no events");
	is_str(bad("{\"name\": \"A\", \"commands\": [{\"name\": \"C\", "
		   "\"events\": [\"E\"]}]}"),
	    "$.commands[0].handler: missing", "no handler");
	is_str(bad("{\"name\": \"A\", \"commands\": [{\"name\": \"C\", "
		   "\"events\": [\"E\"], \"handler\": \"h\"}, {\"name\": "
		   "\"C\", \"events\": [\"E\"], \"handler\": \"h\"}]}"),
	    "$.commands[1].name: command \"C\" declared twice",
	    "duplicate command");
	is_str(bad("{\"name\": \"A\", \"events\": [{\"name\": \"E\"}, "
		   "{\"name\": \"E\"}]}"),
	    "$.events[1].name: event \"E\" declared twice", "duplicate event");
	is_str(bad("{\"name\": \"A\", \"healthChecks\": [{\"name\": \"x\"}]}"),
	    "$.healthChecks[0].command: missing", "check without command");
	is_str(bad("{\"name\": \"A\", \"healthChecks\": [{\"name\": "
		   "\"LastPoll\", \"command\": \"true\"}]}"),
	    "$.healthChecks[0].name: \"LastPoll\" is a built-in check",
	    "built-in check names are taken");
	is_str(bad("{\"name\": \"A\\u0000B\"}"),
	    "NUL characters are not allowed", "\\u0000");
	is_str(bad("{\"name\": \"\xff\"}"), "not UTF-8 text", "bad UTF-8");
	is_str(bad(""), "line 1, column 1: bad JSON", "empty file");
}

int
main(void)
{
	test_good();
	test_minimal();
	test_errors();
	return done_testing();
}
