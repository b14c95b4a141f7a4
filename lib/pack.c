#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "duration.h"
#include "errf.h"
#include "exitcode.h"
#include "pack.h"
#include "utf8.h"

#define PACK_FILE_MAX (1024 * 1024)

/* Where the checker is in the document, as a JSONPath: $.commands[1].name */
struct walk {
	struct pack *p;
	char path[512];
	size_t len;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3)))
fail(struct walk *w, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return errf(w->err, w->errlen, "%s: %s", w->path, why);
}

static bool
ident(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		*s == '_'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Descend into a member; returns the length to go back to. */
static size_t
enter_key(struct walk *w, const char *key)
{
	size_t at = w->len;
	int n;

	if (ident(key))
		n = snprintf(w->path + at, sizeof(w->path) - at, ".%s", key);
	else
		n = snprintf(
		    w->path + at, sizeof(w->path) - at, "[\"%s\"]", key);
	w->len = n < 0 || (size_t)n >= sizeof(w->path) - at ?
	    sizeof(w->path) - 1 :
	    at + (size_t)n;
	return at;
}

static size_t
enter_index(struct walk *w, int i)
{
	size_t at = w->len;
	int n;

	n = snprintf(w->path + at, sizeof(w->path) - at, "[%d]", i);
	w->len = n < 0 || (size_t)n >= sizeof(w->path) - at ?
	    sizeof(w->path) - 1 :
	    at + (size_t)n;
	return at;
}

static void
leave(struct walk *w, size_t at)
{
	w->len = at;
	w->path[at] = '\0';
}

/*
 * An object whose member names appear once each (cJSON keeps
 * duplicates, a pack file must not) and are all in allowed
 * (NULL-terminated), unless allowed is NULL.
 */
static int
check_object(struct walk *w, const cJSON *v, const char *const *allowed)
{
	const cJSON *a, *b;
	const char *const *k;
	size_t at;

	if (!cJSON_IsObject(v))
		return fail(w, "not an object");
	for (a = v->child; a != NULL; a = a->next) {
		at = enter_key(w, a->string);
		for (b = v->child; b != a; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				return fail(w, "member given twice");
		for (k = allowed; k != NULL && *k != NULL; k++)
			if (strcmp(*k, a->string) == 0)
				break;
		if (k != NULL && *k == NULL)
			return fail(w, "unknown member");
		leave(w, at);
	}
	return 0;
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Safe in a URL path unescaped: the server puts ids into hrefs as they are. */
static bool
url_safe(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL))
			return false;
	return true;
}

enum { TEXT, URL_SAFE, HTTP_URL };

/* A string member: NULL in *out when absent and not required. */
static int
get_string(struct walk *w, const cJSON *obj, const char *key, bool required,
    int kind, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	const char *s;
	size_t at;

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return 0;
		at = enter_key(w, key);
		fail(w, "missing");
		leave(w, at);
		return -1;
	}
	at = enter_key(w, key);
	if (!cJSON_IsString(v))
		return fail(w, "not a string");
	s = v->valuestring;
	if (*s == '\0')
		return fail(w, "empty");
	if (!printable(s))
		return fail(w, "control characters are not allowed");
	if (kind == URL_SAFE && !url_safe(s))
		return fail(w,
		    "only letters, digits, '-', '.', '_' and '~' are allowed "
		    "(it becomes part of URLs)");
	if (kind == HTTP_URL &&
	    (strncmp(s, "http://", 7) != 0 || s[7] == '\0') &&
	    (strncmp(s, "https://", 8) != 0 || s[8] == '\0'))
		return fail(w, "not an http or https URL");
	if (kind == HTTP_URL && strpbrk(s, " \t") != NULL)
		return fail(w, "not an http or https URL");
	leave(w, at);
	*out = arena_strdup(&w->p->arena, s);
	return 0;
}

/* Seconds as a JSON number to milliseconds, at most a year. */
static int
from_seconds(double s, int64_t *ms)
{
	if (!isfinite(s) || s < 0 || s > 366.0 * 24 * 3600)
		return -1;
	*ms = (int64_t)(s * 1000);
	return 0;
}

/* A timeout: seconds as a number, or a duration string ("90s", "2m"). */
static int
get_timeout(struct walk *w, const cJSON *obj, int64_t dflt, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "timeout");
	size_t at;
	int r;

	*out = dflt;
	if (v == NULL)
		return 0;
	at = enter_key(w, "timeout");
	if (cJSON_IsNumber(v))
		r = from_seconds(v->valuedouble, out);
	else if (cJSON_IsString(v))
		r = duration_ms(v->valuestring, out);
	else
		return fail(w, "not a number of seconds or a duration");
	if (r < 0 || *out <= 0)
		return fail(w,
		    "not a number of seconds or a duration above zero "
		    "(e.g. 30, \"1.5s\", \"2m\")");
	leave(w, at);
	return 0;
}

static int
parse_labels(struct walk *w, const cJSON *v)
{
	struct pack *p = w->p;
	const cJSON *m;
	size_t at, at2;

	if (v == NULL)
		return 0;
	at = enter_key(w, "labels");
	if (check_object(w, v, NULL) < 0)
		return -1;
	p->labels = arena_zalloc(
	    &p->arena, (size_t)cJSON_GetArraySize(v) * sizeof(*p->labels) + 1);
	for (m = v->child; m != NULL; m = m->next) {
		at2 = enter_key(w, m->string);
		if (!url_safe(m->string))
			return fail(w,
			    "label names may have only letters, digits, '-', "
			    "'.', '_' and '~'");
		leave(w, at2);
		if (get_string(w, v, m->string, true, URL_SAFE,
			&p->labels[p->nlabels].value) < 0)
			return -1;
		p->labels[p->nlabels++].key = arena_strdup(
		    &p->arena, m->string);
	}
	leave(w, at);
	return 0;
}

static int
parse_events(struct walk *w, const cJSON *v)
{
	static const char *const allowed[] = { "name", "helpURL", NULL };
	struct pack *p = w->p;
	struct pack_event *e;
	const cJSON *item;
	size_t at, at2, i;
	int n = 0;

	if (v == NULL)
		return 0;
	at = enter_key(w, "events");
	if (!cJSON_IsArray(v))
		return fail(w, "not an array");
	p->events = arena_zalloc(
	    &p->arena, (size_t)cJSON_GetArraySize(v) * sizeof(*p->events) + 1);
	cJSON_ArrayForEach(item, v)
	{
		at2 = enter_index(w, n++);
		e = &p->events[p->nevents];
		if (check_object(w, item, allowed) < 0 ||
		    get_string(w, item, "name", true, TEXT, &e->name) < 0 ||
		    get_string(w, item, "helpURL", false, HTTP_URL, &e->help) <
			0)
			return -1;
		for (i = 0; i < p->nevents; i++)
			if (strcmp(p->events[i].name, e->name) == 0) {
				enter_key(w, "name");
				return fail(
				    w, "event \"%s\" declared twice", e->name);
			}
		p->nevents++;
		leave(w, at2);
	}
	leave(w, at);
	return 0;
}

static int
parse_command_events(struct walk *w, const cJSON *obj, struct pack_command *c)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "events");
	const cJSON *item;
	size_t at, at2, i;
	int n = 0;

	at = enter_key(w, "events");
	if (v == NULL)
		return fail(w, "missing (the events the handler may report)");
	if (!cJSON_IsArray(v))
		return fail(w, "not an array");
	if (cJSON_GetArraySize(v) == 0)
		return fail(w, "empty (the events the handler may report)");
	c->events = arena_zalloc(
	    &w->p->arena, (size_t)cJSON_GetArraySize(v) * sizeof(*c->events));
	cJSON_ArrayForEach(item, v)
	{
		at2 = enter_index(w, n++);
		if (!cJSON_IsString(item))
			return fail(w, "not a string");
		if (*item->valuestring == '\0')
			return fail(w, "empty");
		if (!printable(item->valuestring))
			return fail(w, "control characters are not allowed");
		for (i = 0; i < c->nevents; i++)
			if (strcmp(c->events[i], item->valuestring) == 0)
				return fail(w, "event \"%s\" listed twice",
				    item->valuestring);
		c->events[c->nevents++] = arena_strdup(
		    &w->p->arena, item->valuestring);
		leave(w, at2);
	}
	leave(w, at);
	return 0;
}

static int
parse_commands(struct walk *w, const cJSON *v)
{
	static const char *const allowed[] = { "name", "events", "helpURL",
		"handler", "timeout", NULL };
	struct pack *p = w->p;
	struct pack_command *c;
	const cJSON *item;
	size_t at, at2, i;
	int n = 0;

	if (v == NULL)
		return 0;
	at = enter_key(w, "commands");
	if (!cJSON_IsArray(v))
		return fail(w, "not an array");
	p->commands = arena_zalloc(&p->arena,
	    (size_t)cJSON_GetArraySize(v) * sizeof(*p->commands) + 1);
	cJSON_ArrayForEach(item, v)
	{
		at2 = enter_index(w, n++);
		c = &p->commands[p->ncommands];
		if (check_object(w, item, allowed) < 0 ||
		    get_string(w, item, "name", true, TEXT, &c->name) < 0 ||
		    parse_command_events(w, item, c) < 0 ||
		    get_string(w, item, "helpURL", false, HTTP_URL, &c->help) <
			0 ||
		    get_string(w, item, "handler", true, TEXT, &c->handler) <
			0 ||
		    get_timeout(
			w, item, PACK_TIMEOUT_DEFAULT_MS, &c->timeout_ms) < 0)
			return -1;
		for (i = 0; i < p->ncommands; i++)
			if (strcmp(p->commands[i].name, c->name) == 0) {
				enter_key(w, "name");
				return fail(w, "command \"%s\" declared twice",
				    c->name);
			}
		p->ncommands++;
		leave(w, at2);
	}
	leave(w, at);
	return 0;
}

static int
parse_checks(struct walk *w, const cJSON *v)
{
	static const char *const allowed[] = { "name", "command", "timeout",
		NULL };
	struct pack *p = w->p;
	struct pack_check *c;
	const cJSON *item;
	size_t at, at2, i;
	int n = 0;

	if (v == NULL)
		return 0;
	at = enter_key(w, "healthChecks");
	if (!cJSON_IsArray(v))
		return fail(w, "not an array");
	p->checks = arena_zalloc(
	    &p->arena, (size_t)cJSON_GetArraySize(v) * sizeof(*p->checks) + 1);
	cJSON_ArrayForEach(item, v)
	{
		at2 = enter_index(w, n++);
		c = &p->checks[p->nchecks];
		if (check_object(w, item, allowed) < 0 ||
		    get_string(w, item, "name", true, TEXT, &c->name) < 0 ||
		    get_string(w, item, "command", true, TEXT, &c->command) <
			0 ||
		    get_timeout(w, item, PACK_CHECK_TIMEOUT_DEFAULT_MS,
			&c->timeout_ms) < 0)
			return -1;
		if (strcmp(c->name, PACK_CHECK_API) == 0 ||
		    strcmp(c->name, PACK_CHECK_POLL) == 0) {
			enter_key(w, "name");
			return fail(w, "\"%s\" is a built-in check", c->name);
		}
		for (i = 0; i < p->nchecks; i++)
			if (strcmp(p->checks[i].name, c->name) == 0) {
				enter_key(w, "name");
				return fail(
				    w, "check \"%s\" declared twice", c->name);
			}
		p->nchecks++;
		leave(w, at2);
	}
	leave(w, at);
	return 0;
}

static int
cmp_label(const void *a, const void *b)
{
	return strcmp(((const struct pack_label *)a)->key,
	    ((const struct pack_label *)b)->key);
}

/* flyte.md 1.2: the id is the name, then .key.value by sorted key. */
static void
make_id(struct pack *p)
{
	size_t n = strlen(p->name) + 1, i;
	char *id;

	if (p->nlabels > 1)
		qsort(p->labels, p->nlabels, sizeof(*p->labels), cmp_label);
	for (i = 0; i < p->nlabels; i++)
		n += strlen(p->labels[i].key) + strlen(p->labels[i].value) + 2;
	id = arena_alloc(&p->arena, n);
	strcpy(id, p->name);
	for (i = 0; i < p->nlabels; i++) {
		strcat(id, ".");
		strcat(id, p->labels[i].key);
		strcat(id, ".");
		strcat(id, p->labels[i].value);
	}
	p->id = id;
}

/* A NUL byte, or a \u0000 escape in a string (cJSON would cut it off). */
static bool
has_nul(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0')
			return true;
		else if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\\')
			i++;
		else if (s[i] == '\\' && n - i >= 6 &&
		    memcmp(s + i + 1, "u0000", 5) == 0)
			return true;
	return false;
}

/* Line and column (from 1) of offset off in s. */
static void
position(const char *s, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (s[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/*
 * Parse and check a pack document.  NULL with err set when it is bad:
 * a syntax error names the line and column, any other problem the JSON
 * path of the value at fault.
 */
struct pack *
pack_parse(const char *text, size_t len, char *err, size_t errlen)
{
	static const char *const allowed[] = { "name", "labels", "helpURL",
		"events", "commands", "healthChecks", NULL };
	const char *end = NULL;
	struct walk w = { .path = "$", .len = 1, .err = err, .errlen = errlen };
	size_t line, col;
	struct pack *p;
	cJSON *doc;

	if (!utf8_valid(text, len)) {
		errf(err, errlen, "not UTF-8 text");
		return NULL;
	}
	if (has_nul(text, len)) {
		errf(err, errlen, "NUL characters are not allowed");
		return NULL;
	}
	doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (doc == NULL) {
		end = cJSON_GetErrorPtr();
		if (end == NULL || end < text || end > text + len)
			end = text + len;
		/* cJSON points before the blanks ahead of what is wrong. */
		while (end < text + len && strchr(" \t\r\n", *end) != NULL)
			end++;
		position(text, (size_t)(end - text), &line, &col);
		errf(err, errlen, "line %zu, column %zu: bad JSON", line, col);
		return NULL;
	}
	while (end < text + len && strchr(" \t\r\n", *end) != NULL)
		end++;
	if (end != text + len) {
		position(text, (size_t)(end - text), &line, &col);
		errf(err, errlen, "line %zu, column %zu: text after the value",
		    line, col);
		cJSON_Delete(doc);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		errf(err, errlen, "out of memory");
		cJSON_Delete(doc);
		return NULL;
	}
	arena_init(&p->arena);
	w.p = p;
	if (check_object(&w, doc, allowed) < 0 ||
	    get_string(&w, doc, "name", true, URL_SAFE, &p->name) < 0 ||
	    parse_labels(&w, cJSON_GetObjectItemCaseSensitive(doc, "labels")) <
		0 ||
	    get_string(&w, doc, "helpURL", false, HTTP_URL, &p->help) < 0 ||
	    parse_events(&w, cJSON_GetObjectItemCaseSensitive(doc, "events")) <
		0 ||
	    parse_commands(
		&w, cJSON_GetObjectItemCaseSensitive(doc, "commands")) < 0 ||
	    parse_checks(&w,
		cJSON_GetObjectItemCaseSensitive(doc, "healthChecks")) < 0) {
		cJSON_Delete(doc);
		pack_free(p);
		return NULL;
	}
	cJSON_Delete(doc);
	make_id(p);
	return p;
}

/*
 * Read and parse a pack file; errors start with the file name, and
 * *status says what kind they are: EXIT_IO (the file cannot be read)
 * or EXIT_DATA (what it holds is wrong).
 */
struct pack *
pack_load(const char *path, int *status, char *err, size_t errlen)
{
	char why[512], *buf = NULL;
	size_t len = 0, cap = 0;
	struct pack *p;
	ssize_t n;
	int fd;

	*status = EXIT_IO;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > PACK_FILE_MAX + 1)
				cap = PACK_FILE_MAX + 1;
			if (len == cap) {
				*status = EXIT_DATA;
				errf(err, errlen, "%s: larger than %d bytes",
				    path, PACK_FILE_MAX);
				goto fail;
			}
			if ((buf = realloc(buf, cap)) == NULL) {
				errf(err, errlen, "%s: out of memory", path);
				goto fail;
			}
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			errf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*status = EXIT_DATA;
	p = pack_parse(buf != NULL ? buf : "", len, why, sizeof(why));
	if (p == NULL)
		errf(err, errlen, "%s: %s", path, why);
	free(buf);
	return p;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/*
 * Labels from the environment (FLYTE_LABELS, as the Go packs read it):
 * "key=value,key2=value2", spaces around items trimmed; they replace
 * the file's labels of the same name.
 */
int
pack_set_labels(struct pack *p, const char *spec, char *err, size_t errlen)
{
	const char *s = spec, *comma, *eq, *a, *b;
	char *key, *value;
	size_t i, n = 0;
	struct pack_label *l;

	for (a = spec; *a != '\0'; a++)
		n += *a == ',';
	l = arena_zalloc(&p->arena, (p->nlabels + n + 1) * sizeof(*l));
	if (p->nlabels > 0)
		memcpy(l, p->labels, p->nlabels * sizeof(*l));
	p->labels = l;
	for (; *s != '\0'; s = comma + (*comma != '\0')) {
		comma = s + strcspn(s, ",");
		for (a = s; a < comma && *a == ' '; a++)
			;
		for (b = comma; b > a && b[-1] == ' '; b--)
			;
		if (a == b)
			continue;
		eq = memchr(a, '=', (size_t)(b - a));
		if (eq == NULL)
			return errf(err, errlen, "\"%.*s\" is not key=value",
			    (int)(b - a), a);
		key = arena_strndup(&p->arena, a, (size_t)(eq - a));
		value = arena_strndup(&p->arena, eq + 1, (size_t)(b - eq - 1));
		while (*key != '\0' && key[strlen(key) - 1] == ' ')
			key[strlen(key) - 1] = '\0';
		while (*value == ' ')
			value++;
		if (!url_safe(key) || !url_safe(value))
			return errf(err, errlen,
			    "\"%.*s\": keys and values need letters, digits, "
			    "'-', '.', '_' or '~' only",
			    (int)(b - a), a);
		for (i = 0; i < p->nlabels; i++)
			if (strcmp(p->labels[i].key, key) == 0)
				break;
		p->labels[i].key = key;
		p->labels[i].value = value;
		if (i == p->nlabels)
			p->nlabels++;
	}
	make_id(p);
	return 0;
}

const struct pack_command *
pack_command(const struct pack *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->ncommands; i++)
		if (strcmp(p->commands[i].name, name) == 0)
			return &p->commands[i];
	return NULL;
}

/* May this command's handler report the event?  FATAL always. */
bool
pack_declares(const struct pack_command *c, const char *event)
{
	size_t i;

	if (strcmp(event, PACK_FATAL) == 0)
		return true;
	for (i = 0; i < c->nevents; i++)
		if (strcmp(c->events[i], event) == 0)
			return true;
	return false;
}

/* Is the event declared by the pack or by one of its commands? */
bool
pack_event_known(const struct pack *p, const char *event)
{
	size_t i;

	for (i = 0; i < p->nevents; i++)
		if (strcmp(p->events[i].name, event) == 0)
			return true;
	for (i = 0; i < p->ncommands; i++)
		if (pack_declares(&p->commands[i], event))
			return true;
	return false;
}

static cJSON *
help_links(const char *href)
{
	cJSON *links = cJSON_CreateArray(), *l = cJSON_CreateObject();

	cJSON_AddStringToObject(l, "href", href);
	cJSON_AddStringToObject(l, "rel", "help");
	cJSON_AddItemToArray(links, l);
	return links;
}

static bool
listed(const cJSON *events, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, events)
	{
		if (strcmp(cJSON_GetObjectItemCaseSensitive(e, "name")
			       ->valuestring,
			name) == 0)
			return true;
	}
	return false;
}

/*
 * The registration body (flyte.md 1.2): name, labels when there are
 * any, events (the pack's, then every command's not yet listed, in
 * file order), commands, and the help link only when there is a help
 * URL (the Go client would send a broken one).  A malloc'ed string.
 */
char *
pack_registration(const struct pack *p)
{
	cJSON *doc = cJSON_CreateObject(), *labels, *events, *cmds, *o, *names;
	size_t i, j;
	char *s;

	cJSON_AddStringToObject(doc, "name", p->name);
	if (p->nlabels > 0) {
		labels = cJSON_AddObjectToObject(doc, "labels");
		for (i = 0; i < p->nlabels; i++)
			cJSON_AddStringToObject(
			    labels, p->labels[i].key, p->labels[i].value);
	}
	events = cJSON_AddArrayToObject(doc, "events");
	for (i = 0; i < p->nevents; i++) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", p->events[i].name);
		if (p->events[i].help != NULL)
			cJSON_AddItemToObject(
			    o, "links", help_links(p->events[i].help));
		cJSON_AddItemToArray(events, o);
	}
	for (i = 0; i < p->ncommands; i++)
		for (j = 0; j < p->commands[i].nevents; j++) {
			if (listed(events, p->commands[i].events[j]))
				continue;
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(
			    o, "name", p->commands[i].events[j]);
			cJSON_AddItemToArray(events, o);
		}
	if (p->ncommands > 0) {
		cmds = cJSON_AddArrayToObject(doc, "commands");
		for (i = 0; i < p->ncommands; i++) {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "name", p->commands[i].name);
			names = cJSON_AddArrayToObject(o, "events");
			for (j = 0; j < p->commands[i].nevents; j++)
				cJSON_AddItemToArray(names,
				    cJSON_CreateString(
					p->commands[i].events[j]));
			if (p->commands[i].help != NULL)
				cJSON_AddItemToObject(o, "links",
				    help_links(p->commands[i].help));
			cJSON_AddItemToArray(cmds, o);
		}
	}
	if (p->help != NULL)
		cJSON_AddItemToObject(doc, "links", help_links(p->help));
	s = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return s;
}

void
pack_free(struct pack *p)
{
	if (p == NULL)
		return;
	arena_free(&p->arena);
	free(p);
}
