/* harvester: URLs, the JSON of a page, event types (axway.md 3). */
#include "config.h"

#include <string.h>

#include "harvester.h"
#include "tap.h"

int
main(void)
{
	struct harvester_opts o = { .base = "https://c.example:443/events/",
		.topic = "/management/v1alpha1/watchtopics/t1",
		.page_size = 100 };
	struct harvester_page pg;
	struct arena a;
	char url[1024], err[300];
	const char *body =
	    "[{\"id\":\"e2\",\"time\":\"2021-11-30 11:59:25.01\","
	    "\"type\":\"ResourceUpdated\",\"organization\":{\"id\":\"o\"},"
	    "\"payload\":{\"group\":\"management\",\"kind\":\"APIService\","
	    "\"name\":\"n\",\"metadata\":{\"id\":\"r\",\"selfLink\":\"/x/n\","
	    "\"scope\":{\"id\":\"s\",\"kind\":\"Environment\",\"name\":\"e\","
	    "\"selfLink\":\"/e\"},\"references\":[{\"id\":\"1\","
	    "\"type\":\"SOFT\"},{\"id\":\"2\",\"type\":\"soft\"}]},"
	    "\"attributes\":{\"a\":\"b\",\"n\":5}},"
	    "\"metadata\":{\"watchTopicID\":\"w\",\"watchTopicSelfLink\":"
	    "\"/t\",\"sequenceID\":9007199254740992,\"subresource\":\"\"}},"
	    "{\"id\":\"e1\",\"type\":\"Bogus\",\"metadata\":{\"sequenceID\":7}}"
	    "]";

	is_int(harvester_url(url, sizeof(url), &o, 42, 3), 0, "url");
	is_str(url,
	    "https://c.example:443/events/management/v1alpha1/watchtopics/"
	    "t1?page=3&pageSize=100&query=sequenceID%3E42&sort=sequenceID%"
	    "2CASC",
	    "the SDK's query, keys sorted");

	is_int(harvester_event_type("ResourceCreated"), 0, "ResourceCreated");
	is_int(harvester_event_type("ResourceUpdated"), 1, "ResourceUpdated");
	is_int(harvester_event_type("ResourceDeleted"), 2, "ResourceDeleted");
	is_int(harvester_event_type("SubResourceUpdated"), 3,
	    "SubResourceUpdated");
	is_int(harvester_event_type("ResourceSubResourceUpdated"), 3,
	    "ResourceSubResourceUpdated");
	is_int(harvester_event_type("Whatever"), 0, "unknown: CREATED");

	arena_init(&a);
	is_int(harvester_parse(&a, body, strlen(body), &pg, err, sizeof(err)),
	    0, "a page parses");
	is_int(pg.n, 2, "two events");
	is_str(pg.events[0]->id, "e1", "sorted by sequence id");
	is_int(pg.events[0]->type, 0, "an unknown type is CREATED");
	is_int(pg.events[1]->metadata->sequenceid, 9007199254740992LL,
	    "2^53 exactly");
	is_int(pg.events[1]->type, 1, "UPDATED");
	is_str(pg.events[1]->payload->metadata->selflink, "/x/n", "selfLink");
	is_str(pg.events[1]->payload->metadata->scope->kind, "Environment",
	    "scope");
	is_int(pg.events[1]->payload->metadata->n_references, 2, "references");
	is_int(pg.events[1]->payload->metadata->references[0]->type, 0,
	    "SOFT is soft");
	is_int(pg.events[1]->payload->metadata->references[1]->type, 1,
	    "anything else is HARD");
	is_int(
	    pg.events[1]->payload->n_attributes, 1, "string attributes only");
	{
		Central__Events__V1__Event
		    *back = central__events__v1__event__unpack(
			NULL, pg.raw[1].len, pg.raw[1].data);

		ok(back != NULL && strcmp(back->time, pg.events[1]->time) == 0,
		    "raw is the event encoded");
		central__events__v1__event__free_unpacked(back, NULL);
	}

	is_int(harvester_parse(&a, "[]", 2, &pg, err, sizeof(err)), 0,
	    "an empty page");
	is_int(pg.n, 0, "no events");
	is_int(harvester_parse(&a, "{}", 2, &pg, err, sizeof(err)), -1,
	    "an object is not a page");
	is_str(err, "reply is not a JSON array", "says so");
	is_int(harvester_parse(&a, "[1]", 3, &pg, err, sizeof(err)), -1,
	    "a number is not an event");
	is_int(
	    harvester_parse(&a, "[{\"id\":\"x\"}]", 12, &pg, err, sizeof(err)),
	    -1, "no metadata");
	is_str(err, "event x: no metadata", "says which");
	body = "[{\"id\":\"x\",\"metadata\":{\"sequenceID\":-1}}]";
	is_int(harvester_parse(&a, body, strlen(body), &pg, err, sizeof(err)),
	    -1, "negative sequence id");
	body = "[{\"id\":\"x\",\"metadata\":{\"sequenceID\":1.5}}]";
	is_int(harvester_parse(&a, body, strlen(body), &pg, err, sizeof(err)),
	    -1, "fractional sequence id");
	is_int(harvester_parse(&a, "[", 1, &pg, err, sizeof(err)), -1,
	    "truncated JSON");
	arena_free(&a);
	return done_testing();
}
