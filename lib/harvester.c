#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "errf.h"
#include "grpcwire.h"
#include "harvester.h"
#include "xalloc.h"

typedef Central__Events__V1__Event Event;
typedef Central__Events__V1__Datamodel__ResourceInstance Resource;
typedef Central__Events__V1__Datamodel__Metadata Meta;
typedef Central__Events__V1__Datamodel__Reference Ref;

struct harvester_req {
	struct http_req *http;
	struct arena *arena;
	harvester_done_fn done;
	void *ctx;
	bool first_page;
	bool in_done; /* done is running: it owns nothing to free */
};

int
harvester_url(char *buf, size_t len, const struct harvester_opts *o,
    int64_t after, uint64_t page)
{
	size_t bl = strlen(o->base);
	int n;

	/* axway.md 3.1: the query keys in sorted order, as Go encodes them. */
	n = snprintf(buf, len,
	    "%.*s%s?page=%" PRIu64 "&pageSize=%" PRIu64
	    "&query=sequenceID%%3E%" PRId64 "&sort=sequenceID%%2CASC",
	    (int)(bl > 0 && o->base[bl - 1] == '/' ? bl - 1 : bl), o->base,
	    o->topic, page, o->page_size, after);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
harvester_event_type(const char *s)
{
	static const char *const names[] = { "CREATED", "UPDATED", "DELETED",
		"SUBRESOURCEUPDATED", "TRIGGERACTION", "PING" };
	size_t i;

	if (strncmp(s, "Resource", 8) == 0)
		s += 8;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	return CENTRAL__EVENTS__V1__EVENT__TYPE__CREATED;
}

static char *
str(struct arena *a, const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (cJSON_IsString(v))
		return arena_strdup(a, v->valuestring);
	return (char *)protobuf_c_empty_string;
}

static Ref *
reference(struct arena *a, const cJSON *j)
{
	Ref *r = arena_alloc(a, sizeof(*r));
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");

	central__events__v1__datamodel__reference__init(r);
	r->id = str(a, j, "id");
	r->kind = str(a, j, "kind");
	r->name = str(a, j, "name");
	r->scopekind = str(a, j, "scopeKind");
	r->scopename = str(a, j, "scopeName");
	r->selflink = str(a, j, "selfLink");
	/* axway.md 3.2: exactly "SOFT" is soft, anything else HARD. */
	r->type = cJSON_IsString(t) && strcmp(t->valuestring, "SOFT") == 0 ?
	    CENTRAL__EVENTS__V1__DATAMODEL__REFERENCE__TYPE__SOFT :
	    CENTRAL__EVENTS__V1__DATAMODEL__REFERENCE__TYPE__HARD;
	return r;
}

static Meta *
metadata(struct arena *a, const cJSON *j)
{
	Meta *m = arena_alloc(a, sizeof(*m));
	const cJSON *sc = cJSON_GetObjectItemCaseSensitive(j, "scope");
	const cJSON *refs = cJSON_GetObjectItemCaseSensitive(j, "references");
	const cJSON *r;
	size_t n;

	central__events__v1__datamodel__metadata__init(m);
	m->id = str(a, j, "id");
	m->selflink = str(a, j, "selfLink");
	if (cJSON_IsObject(sc)) {
		m->scope = arena_alloc(a, sizeof(*m->scope));
		central__events__v1__datamodel__metadata__scope_kind__init(
		    m->scope);
		m->scope->id = str(a, sc, "id");
		m->scope->kind = str(a, sc, "kind");
		m->scope->name = str(a, sc, "name");
		m->scope->selflink = str(a, sc, "selfLink");
	}
	if (cJSON_IsArray(refs) && (n = (size_t)cJSON_GetArraySize(refs)) > 0) {
		m->references = arena_alloc(a, n * sizeof(*m->references));
		cJSON_ArrayForEach(r, refs)
		{
			if (cJSON_IsObject(r))
				m->references[m->n_references++] = reference(
				    a, r);
		}
	}
	return m;
}

static Resource *
resource(struct arena *a, const cJSON *j)
{
	Resource *r = arena_alloc(a, sizeof(*r));
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(j, "attributes");
	const cJSON *kv;
	size_t n;

	central__events__v1__datamodel__resource_instance__init(r);
	r->group = str(a, j, "group");
	r->kind = str(a, j, "kind");
	r->name = str(a, j, "name");
	if (cJSON_IsObject(md))
		r->metadata = metadata(a, md);
	if (cJSON_IsObject(at) && (n = (size_t)cJSON_GetArraySize(at)) > 0) {
		r->attributes = arena_alloc(a, n * sizeof(*r->attributes));
		cJSON_ArrayForEach(kv, at)
		{
			Central__Events__V1__Datamodel__ResourceInstance__AttributesEntry
			    *e;

			if (!cJSON_IsString(kv))
				continue;
			e = arena_alloc(a, sizeof(*e));
			central__events__v1__datamodel__resource_instance__attributes_entry__init(
			    e);
			e->key = arena_strdup(a, kv->string);
			e->value = arena_strdup(a, kv->valuestring);
			r->attributes[r->n_attributes++] = e;
		}
	}
	return r;
}

/* One element of the array, as the Event the stream would carry. */
static Event *
event(struct arena *a, const cJSON *j, char *err, size_t errlen)
{
	Event *e = arena_alloc(a, sizeof(*e));
	const cJSON *org = cJSON_GetObjectItemCaseSensitive(j, "organization");
	const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "payload");
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(j, "metadata");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
	const cJSON *seq;
	double d;

	central__events__v1__event__init(e);
	e->id = str(a, j, "id");
	e->time = str(a, j, "time");
	e->version = str(a, j, "version");
	e->product = str(a, j, "product");
	e->correlationid = str(a, j, "correlationId");
	if (cJSON_IsObject(org)) {
		e->organization = arena_alloc(a, sizeof(*e->organization));
		central__events__v1__organization__init(e->organization);
		e->organization->id = str(a, org, "id");
	}
	if (cJSON_IsString(type))
		e->type = harvester_event_type(type->valuestring);
	if (cJSON_IsObject(pl))
		e->payload = resource(a, pl);
	if (!cJSON_IsObject(md)) {
		errf(err, errlen, "event %s: no metadata", e->id);
		return NULL;
	}
	e->metadata = arena_alloc(a, sizeof(*e->metadata));
	central__events__v1__event_meta__init(e->metadata);
	e->metadata->watchtopicid = str(a, md, "watchTopicID");
	e->metadata->watchtopicselflink = str(a, md, "watchTopicSelfLink");
	e->metadata->subresource = str(a, md, "subresource");
	seq = cJSON_GetObjectItemCaseSensitive(md, "sequenceID");
	/* A JSON number; exact as long as it is below 2^53. */
	if (!cJSON_IsNumber(seq) || (d = seq->valuedouble) < 0 ||
	    d > 9007199254740992.0 || d != floor(d)) {
		errf(err, errlen, "event %s: bad metadata.sequenceID", e->id);
		return NULL;
	}
	e->metadata->sequenceid = (int64_t)d;
	return e;
}

static int
by_sequence(const void *x, const void *y)
{
	const Event *a = *(Event *const *)x, *b = *(Event *const *)y;

	return (a->metadata->sequenceid > b->metadata->sequenceid) -
	    (a->metadata->sequenceid < b->metadata->sequenceid);
}

int
harvester_parse(struct arena *a, const char *body, size_t len,
    struct harvester_page *pg, char *err, size_t errlen)
{
	cJSON *root, *j;
	size_t n, i = 0, k;
	int r = 0;

	pg->n = 0;
	root = cJSON_ParseWithLength(body, len);
	if (root == NULL || !cJSON_IsArray(root)) {
		cJSON_Delete(root);
		return errf(err, errlen, "reply is not a JSON array");
	}
	n = (size_t)cJSON_GetArraySize(root);
	pg->events = arena_alloc(a, (n > 0 ? n : 1) * sizeof(*pg->events));
	pg->raw = arena_alloc(a, (n > 0 ? n : 1) * sizeof(*pg->raw));
	cJSON_ArrayForEach(j, root)
	{
		if (!cJSON_IsObject(j) ||
		    (pg->events[i] = event(a, j, err, errlen)) == NULL) {
			if (!cJSON_IsObject(j))
				errf(err, errlen,
				    "element %zu is not an object", i + 1);
			r = -1;
			break;
		}
		i++;
	}
	cJSON_Delete(root);
	if (r < 0)
		return -1;
	/* The server sorts (sort=sequenceID,ASC); so do we, stably enough
	 * for equal ids not to matter (they are duplicates). */
	qsort(pg->events, i, sizeof(*pg->events), by_sequence);
	for (k = 0; k < i; k++) {
		pg->raw[k].len = central__events__v1__event__get_packed_size(
		    pg->events[k]);
		pg->raw[k].data = arena_alloc(a, pg->raw[k].len + 1);
		central__events__v1__event__pack(
		    pg->events[k], pg->raw[k].data);
	}
	pg->n = i;
	return 0;
}

/* Fires once when the request is over, however it ended. */
static void
got_reply(struct http_req *req, const struct http_resp *resp, void *ctx)
{
	struct harvester_req *h = ctx;
	struct harvester_page pg = { .max_sequence = -1 };
	const char *max;
	char *end;

	pg.http_status = resp->status;
	if (resp->curl_code != 0) {
		pg.result = HARVESTER_ERROR;
		pg.status = GRPC_UNAVAILABLE;
		snprintf(pg.error, sizeof(pg.error), "%s", resp->error);
	} else if (resp->status == 200) {
		if (harvester_parse(h->arena, resp->body, resp->len, &pg,
			pg.error, sizeof(pg.error)) < 0) {
			pg.result = HARVESTER_ERROR;
			pg.status = GRPC_INTERNAL;
		}
	} else if (resp->status == 410 && h->first_page) {
		/* axway.md 3.2: purged; the header names the newest id. */
		pg.result = HARVESTER_GONE;
		max = http_header(req, "X-Axway-Max-Sequence-Id");
		if (max != NULL) {
			long long v = strtoll(max, &end, 10);

			if (end != max && *end == '\0' && v >= 0)
				pg.max_sequence = v;
		}
	} else {
		pg.result = HARVESTER_ERROR;
		pg.status = resp->status == 401 ? GRPC_UNAUTHENTICATED :
		    resp->status == 403		? GRPC_PERMISSION_DENIED :
		    resp->status == 404		? GRPC_NOT_FOUND :
						  GRPC_UNAVAILABLE;
		snprintf(pg.error, sizeof(pg.error), "HTTP status %ld",
		    resp->status);
	}
	/* done may cancel h, free its owner or end the HTTP client:
	 * nothing but freeing h comes after it. */
	h->in_done = true;
	h->done(&pg, h->ctx);
	free(h);
}

struct harvester_req *
harvester_get(const struct harvester_opts *o, const char *token, int64_t after,
    uint64_t page, struct arena *a, harvester_done_fn done, void *ctx,
    char *err, size_t errlen)
{
	char url[4096], auth[8192], tenant[512];
	const char *headers[4 + HARVESTER_MAX_HEADERS + 1] = { auth, tenant,
		"Content-Type: application/json", "Accept: application/json" };
	struct harvester_req *h;
	size_t i;

	if (harvester_url(url, sizeof(url), o, after, page) < 0) {
		errf(err, errlen, "harvester URL too long");
		return NULL;
	}
	/* axway.md 3.1: the same headers as the stream. */
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    token != NULL ? token : "");
	snprintf(tenant, sizeof(tenant), "X-Axway-Tenant-Id: %s", o->tenant);
	for (i = 0; o->headers != NULL && o->headers[i] != NULL &&
	     i < HARVESTER_MAX_HEADERS;
	     i++)
		headers[4 + i] = o->headers[i];
	h = xcalloc(1, sizeof(*h));
	h->arena = a;
	h->done = done;
	h->ctx = ctx;
	h->first_page = page == 1;
	h->http = http_start(&o->http, "GET", url,
	    token != NULL ? headers : headers + 1, NULL, 0, got_reply, h, err,
	    errlen);
	if (h->http == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

void
harvester_cancel(struct harvester_req *h)
{
	if (h == NULL || h->in_done)
		return;
	http_cancel(h->http);
	free(h);
}
