#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "arena.h"
#include "errf.h"
#include "exitcode.h"
#include "flytedoc.h"
#include "jsonraw.h"
#include "log.h"
#include "xalloc.h"

/*
 * A JSON document, or NULL.  Checked by our strict parser first: cJSON
 * takes control characters for whitespace and text after the value,
 * and cuts a string at a NUL without a word (an action's command
 * "a\0b" run as "a"); tree, if not NULL, is our parse (in a).
 */
static cJSON *
parse_doc(const char *text, size_t len, struct arena *a, const struct jv **tree)
{
	const struct jv *t;

	if (memchr(text, '\0', len) != NULL ||
	    (t = jv_parse(a, text, len, NULL, 0)) == NULL)
		return NULL;
	if (tree != NULL)
		*tree = t;
	return cJSON_ParseWithLength(text, len);
}

/* The same, when only cJSON's tree is wanted. */
static cJSON *
parse_json(const char *text, size_t len)
{
	struct arena a;
	cJSON *doc;

	arena_init(&a);
	doc = parse_doc(text, len, &a, NULL);
	arena_free(&a);
	return doc;
}

static char *
sdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? sdup(s) : NULL;
}

/* The href of the first link whose rel ends with suffix (flyte.md 1.1). */
static const char *
link_by_rel(const cJSON *doc, const char *suffix)
{
	const cJSON *links = cJSON_GetObjectItemCaseSensitive(doc, "links");
	const cJSON *l, *rel, *href;
	size_t n = strlen(suffix), k;

	cJSON_ArrayForEach(l, links)
	{
		rel = cJSON_GetObjectItemCaseSensitive(l, "rel");
		href = cJSON_GetObjectItemCaseSensitive(l, "href");
		if (!cJSON_IsString(rel) || !cJSON_IsString(href) ||
		    *href->valuestring == '\0')
			continue;
		k = strlen(rel->valuestring);
		if (k >= n && strcmp(rel->valuestring + k - n, suffix) == 0)
			return href->valuestring;
	}
	return NULL;
}

int
flytedoc_root(const char *text, size_t len, struct flyte_root *r)
{
	cJSON *doc = parse_json(text, len);

	r->packs = dup_or_null(link_by_rel(doc, FLYTE_REL_PACKS));
	r->health = dup_or_null(link_by_rel(doc, FLYTE_REL_HEALTH));
	cJSON_Delete(doc);
	if (r->packs == NULL) {
		flytedoc_root_free(r);
		return -1;
	}
	return 0;
}

int
flytedoc_links(
    const char *text, size_t len, bool need_take, struct flyte_links *l)
{
	cJSON *doc = parse_json(text, len);

	l->take = dup_or_null(link_by_rel(doc, FLYTE_REL_TAKE));
	l->events = dup_or_null(link_by_rel(doc, FLYTE_REL_EVENT));
	l->self = dup_or_null(link_by_rel(doc, "self"));
	cJSON_Delete(doc);
	if (l->events == NULL || (l->take == NULL && need_take)) {
		flytedoc_links_free(l);
		return -1;
	}
	return 0;
}

char *
flytedoc_action_id(const char *url)
{
	const char *end = url + strlen(url), *start;

	while (end > url && end[-1] == '/')
		end--;
	if (end - url > 7 && strncmp(end - 7, "/result", 7) == 0)
		end -= 7;
	for (start = end; start > url && start[-1] != '/'; start--)
		;
	return start < end ? xstrndup(start, (size_t)(end - start)) : sdup(url);
}

int
flytedoc_action(const char *text, size_t len, struct flyte_action_doc *a,
    char *err, size_t errlen)
{
	struct arena ar;
	const struct jv *tree = NULL, *in;
	const cJSON *cmd;
	const char *result;
	cJSON *doc;

	memset(a, 0, sizeof(*a));
	arena_init(&ar);
	doc = parse_doc(text, len, &ar, &tree);
	cmd = cJSON_GetObjectItemCaseSensitive(doc, "command");
	result = link_by_rel(doc, FLYTE_REL_RESULT);
	if (doc == NULL) {
		errf(err, errlen, "an action that is not JSON");
	} else if (!cJSON_IsString(cmd) || result == NULL) {
		/* Without a result link it cannot be answered at all. */
		errf(err, errlen, "an action without %s",
		    cJSON_IsString(cmd) ?
			"a link whose rel ends with " FLYTE_REL_RESULT :
			"a command name");
	} else {
		a->command = sdup(cmd->valuestring);
		a->result_url = sdup(result);
		a->id = flytedoc_action_id(result);
		/* The input as the server wrote it: cJSON would round
		 * numbers. */
		in = jv_member(tree, "input");
		a->input = in != NULL ? xstrndup(in->raw, in->rawlen) :
					sdup("null");
	}
	cJSON_Delete(doc);
	arena_free(&ar);
	return a->command != NULL ? 0 : -1;
}

int
flytedoc_spool_read(const char *text, size_t len, struct flyte_spool_entry *e)
{
	cJSON *doc = parse_json(text, len);
	const cJSON *kind, *url, *body, *meta;

	memset(e, 0, sizeof(*e));
	kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
	url = cJSON_GetObjectItemCaseSensitive(doc, "url");
	body = cJSON_GetObjectItemCaseSensitive(doc, "body");
	meta = cJSON_GetObjectItemCaseSensitive(doc, "meta");
	if (!cJSON_IsString(kind) || !cJSON_IsString(body) ||
	    (meta != NULL && !cJSON_IsString(meta)) ||
	    (strcmp(kind->valuestring, "event") != 0 &&
		(strcmp(kind->valuestring, "result") != 0 ||
		    !cJSON_IsString(url)))) {
		cJSON_Delete(doc);
		return -1;
	}
	e->event = strcmp(kind->valuestring, "event") == 0;
	e->url = dup_or_null(cJSON_IsString(url) ? url->valuestring : NULL);
	e->body = sdup(body->valuestring);
	e->meta = dup_or_null(meta != NULL ? meta->valuestring : NULL);
	cJSON_Delete(doc);
	return 0;
}

char *
flytedoc_spool_text(const struct flyte_spool_entry *e)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	if (o == NULL ||
	    cJSON_AddStringToObject(o, "kind", e->event ? "event" : "result") ==
		NULL ||
	    (e->url != NULL &&
		cJSON_AddStringToObject(o, "url", e->url) == NULL) ||
	    cJSON_AddStringToObject(o, "body", e->body) == NULL ||
	    (e->meta != NULL &&
		cJSON_AddStringToObject(o, "meta", e->meta) == NULL) ||
	    (s = cJSON_PrintUnformatted(o)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	cJSON_Delete(o);
	return s;
}

void
flytedoc_root_free(struct flyte_root *r)
{
	free(r->packs);
	free(r->health);
	r->packs = r->health = NULL;
}

void
flytedoc_links_free(struct flyte_links *l)
{
	free(l->take);
	free(l->events);
	free(l->self);
	l->take = l->events = l->self = NULL;
}

void
flytedoc_action_free(struct flyte_action_doc *a)
{
	free(a->command);
	free(a->input);
	free(a->result_url);
	free(a->id);
	memset(a, 0, sizeof(*a));
}

void
flytedoc_spool_free(struct flyte_spool_entry *e)
{
	free(e->url);
	free(e->body);
	free(e->meta);
	memset(e, 0, sizeof(*e));
}
