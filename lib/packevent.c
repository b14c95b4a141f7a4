#include "config.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base64.h"
#include "cejson.h"
#include "duration.h"
#include "errf.h"
#include "exitcode.h"
#include "jsonraw.h"
#include "log.h"
#include "packevent.h"
#include "rfc3339.h"
#include "utf8.h"

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return d;
}

static char *
xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (d == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return d;
}

static char *
print(cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);

	if (s == NULL)
		die(EXIT_INTERNAL, "out of memory");
	cJSON_Delete(v);
	return s;
}

/* Is [s, s+n) one JSON value, with nothing but blanks around it? */
static bool
json_text(const char *s, size_t n)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);

	if (v == NULL)
		return false;
	cJSON_Delete(v);
	while (end < s + n && strchr(" \t\r\n", *end) != NULL)
		end++;
	return end == s + n;
}

static char *
json_string(const char *s)
{
	return print(cJSON_CreateString(s));
}

void
packevent_free(struct packevent *e)
{
	free(e->event);
	free(e->payload);
	free(e->error);
	memset(e, 0, sizeof(*e));
}

/* A FATAL whose payload is {"error": WHY}. */
void
packevent_fatal(struct packevent *e, const char *fmt, ...)
{
	char why[1024];
	cJSON *o = cJSON_CreateObject();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	packevent_free(e);
	e->event = xstrdup(PACK_FATAL);
	e->error = xstrdup(why);
	cJSON_AddStringToObject(o, "error", why);
	e->payload = print(o);
}

/*
 * Add text a handler wrote as a JSON string: bytes that are not UTF-8
 * become U+FFFD, so the body stays valid JSON whatever it printed; a
 * character cut by the length limit is dropped.
 */
static void
add_text(cJSON *o, const char *name, const char *s, size_t n)
{
	char *t = malloc(n * 3 + 1);
	size_t i = 0, k = 0, len;
	unsigned char c;

	if (t == NULL)
		die(EXIT_INTERNAL, "out of memory");
	while (i < n && s[i] != '\0') {
		c = (unsigned char)s[i];
		len = c < 0x80		   ? 1 :
		    c >= 0xc2 && c <= 0xdf ? 2 :
		    c >= 0xe0 && c <= 0xef ? 3 :
		    c >= 0xf0 && c <= 0xf4 ? 4 :
					     0;
		if (len > 0 && i + len > n)
			break;
		if (len > 0 && utf8_valid(s + i, len)) {
			memcpy(t + k, s + i, len);
			k += len;
			i += len;
		} else {
			memcpy(t + k, "\xef\xbf\xbd", 3);
			k += 3;
			i++;
		}
	}
	t[k] = '\0';
	cJSON_AddStringToObject(o, name, t);
	free(t);
}

/* The last PACKEVENT_STDERR_MAX bytes of the tail, from a line start. */
static const char *
tail_of(const char *tail)
{
	size_t n = strlen(tail);
	const char *p;

	if (n <= PACKEVENT_STDERR_MAX)
		return tail;
	p = tail + n - PACKEVENT_STDERR_MAX;
	while (*p != '\0' && *p != '\n')
		p++;
	return *p == '\n' ? p + 1 : p;
}

/*
 * Read {"event": NAME, "payload": ANY} (payload optional); false with
 * why set when the output is not that.  The payload is taken as written.
 */
static bool
parse_output(
    const char *s, size_t n, struct packevent *e, char *why, size_t whylen)
{
	const cJSON *m, *ev;
	const char *raw;
	size_t rawlen;
	cJSON *v;

	if (n == 0) {
		snprintf(why, whylen, "no output");
		return false;
	}
	/* cJSON would cut a string at a NUL without a word. */
	if (memchr(s, '\0', n) != NULL) {
		snprintf(why, whylen, "output holds a NUL byte");
		return false;
	}
	if (!utf8_valid(s, n) || !json_text(s, n)) {
		snprintf(why, whylen, "output is not JSON");
		return false;
	}
	v = cJSON_ParseWithLength(s, n);
	if (!cJSON_IsObject(v)) {
		cJSON_Delete(v);
		snprintf(why, whylen, "output is not a JSON object");
		return false;
	}
	for (m = v->child; m != NULL; m = m->next)
		if (strcmp(m->string, "event") != 0 &&
		    strcmp(m->string, "payload") != 0) {
			snprintf(why, whylen,
			    "output has a member \"%.64s\" besides event and "
			    "payload",
			    m->string);
			cJSON_Delete(v);
			return false;
		}
	ev = cJSON_GetObjectItemCaseSensitive(v, "event");
	if (!cJSON_IsString(ev) || *ev->valuestring == '\0') {
		snprintf(why, whylen,
		    "output has no event name (a non-empty string)");
		cJSON_Delete(v);
		return false;
	}
	e->event = xstrdup(ev->valuestring);
	if (json_member_raw(s, n, "payload", &raw, &rawlen))
		e->payload = xstrndup(raw, rawlen);
	else
		e->payload = xstrdup("null");
	cJSON_Delete(v);
	return true;
}

static const char *
signal_name(int sig)
{
	static char buf[16];
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev == NULL) {
		snprintf(buf, sizeof(buf), "%d", sig);
		return buf;
	}
	snprintf(buf, sizeof(buf), "SIG%s", abbrev);
	return buf;
}

/*
 * The result of an action from its handler's outcome.  True when the
 * handler reported an event; false when this is a FATAL made here, its
 * payload saying what happened: {"error": WHY, "exitStatus": N or
 * "signal": NAME or "timeout": SECONDS, "stderr": LAST LINES, "output":
 * THE START OF BAD OUTPUT}.
 */
bool
packevent_from_handler(const struct pack_command *c,
    const struct handler_result *r, struct packevent *e)
{
	char why[512], what[256], dur[32];
	const char *tail;
	cJSON *o;
	int st = r->wstatus;

	memset(e, 0, sizeof(*e));
	o = cJSON_CreateObject();
	if (r->timed_out) {
		duration_format(dur, sizeof(dur), c->timeout_ms);
		snprintf(why, sizeof(why), "handler timed out after %s", dur);
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddNumberToObject(
		    o, "timeout", (double)c->timeout_ms / 1000);
	} else if (r->stopped) {
		snprintf(why, sizeof(why),
		    "handler stopped: pack-run is shutting down");
		cJSON_AddStringToObject(o, "error", why);
	} else if (WIFSIGNALED(st)) {
		snprintf(why, sizeof(why), "handler killed by signal %s",
		    signal_name(WTERMSIG(st)));
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddStringToObject(o, "signal", signal_name(WTERMSIG(st)));
	} else if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
		snprintf(why, sizeof(why), "handler exited with status %d",
		    WEXITSTATUS(st));
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddNumberToObject(o, "exitStatus", WEXITSTATUS(st));
	} else if (r->overflow) {
		snprintf(why, sizeof(why),
		    "handler output is larger than %zu bytes", r->outlen);
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddNumberToObject(o, "exitStatus", 0);
	} else if (!parse_output(r->out, r->outlen, e, what, sizeof(what))) {
		snprintf(why, sizeof(why),
		    "handler %s; it must print {\"event\": NAME, "
		    "\"payload\": ...}",
		    what);
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddNumberToObject(o, "exitStatus", 0);
		add_text(o, "output", r->out,
		    r->outlen < PACKEVENT_OUTPUT_MAX ? r->outlen :
						       PACKEVENT_OUTPUT_MAX);
	} else if (!pack_declares(c, e->event)) {
		snprintf(why, sizeof(why),
		    "handler reported event \"%.64s\", which command \"%.64s\" "
		    "does not declare",
		    e->event, c->name);
		cJSON_AddStringToObject(o, "error", why);
		cJSON_AddStringToObject(o, "event", e->event);
		cJSON_AddRawToObject(o, "payload", e->payload);
		packevent_free(e);
	} else {
		cJSON_Delete(o);
		return true;
	}
	tail = tail_of(r->err_tail);
	add_text(o, "stderr", tail, strlen(tail));
	packevent_free(e);
	e->event = xstrdup(PACK_FATAL);
	e->error = xstrdup(why);
	e->payload = print(o);
	return false;
}

/* --json-lines input: {"event": NAME, "payload": ANY}. */
int
packevent_from_line(
    const char *s, size_t n, struct packevent *e, char *err, size_t errlen)
{
	char why[256];
	cJSON *v;

	memset(e, 0, sizeof(*e));
	if ((v = json_parse_line(s, n, err, errlen)) == NULL)
		return -1;
	cJSON_Delete(v);
	if (!parse_output(s, n, e, why, sizeof(why))) {
		/* The handler's wording, said of a line. */
		if (strncmp(why, "output ", 7) == 0)
			return errf(err, errlen, "line %s", why + 7);
		return errf(err, errlen, "%s", why);
	}
	return 0;
}

/* The event name for a CloudEvent type (--event-name). */
static const char *
map_type(const struct packevent_map *m, const char *type)
{
	const char *dflt = NULL, *eq;
	size_t i, n;

	for (i = 0; m != NULL && i < m->n; i++) {
		eq = strchr(m->rules[i], '=');
		if (eq == NULL) {
			dflt = m->rules[i];
			continue;
		}
		n = (size_t)(eq - m->rules[i]);
		if (strlen(type) == n && strncmp(m->rules[i], type, n) == 0)
			return eq + 1;
	}
	return dflt != NULL ? dflt : type;
}

/*
 * A CloudEvent from standard input as a Flyte event: the name from its
 * type (or --event-name), the payload from its data (JSON as it is,
 * other text as a string, bytes in base64, protobuf data as
 * {"type_url", "value"}), the time from its time attribute or now.
 */
void
packevent_from_cloudevent(const CloudEvent *ev, const struct packevent_map *m,
    struct packevent *e, int64_t *sec, int32_t *nsec)
{
	const char *ct = ce_get_string(ev, "datacontenttype");
	const CEValue *t = ce_get(ev, "time");
	struct timespec now;
	char *b64;
	cJSON *o;

	memset(e, 0, sizeof(*e));
	e->event = xstrdup(map_type(m, ev->type));
	switch (ev->data_case) {
	case CE_DATA_TEXT:
		if (ce_json_media_type(ct) &&
		    json_text(ev->text_data, strlen(ev->text_data)))
			e->payload = xstrdup(ev->text_data);
		else
			e->payload = json_string(ev->text_data);
		break;
	case CE_DATA_BINARY:
		if (ct != NULL && ce_json_media_type(ct) &&
		    ev->binary_data.len > 0 &&
		    utf8_valid((const char *)ev->binary_data.data,
			ev->binary_data.len) &&
		    memchr(ev->binary_data.data, 0, ev->binary_data.len) ==
			NULL &&
		    json_text((const char *)ev->binary_data.data,
			ev->binary_data.len)) {
			e->payload = xstrndup(
			    (const char *)ev->binary_data.data,
			    ev->binary_data.len);
			break;
		}
		if ((b64 = malloc(BASE64_LEN(ev->binary_data.len) + 1)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		b64[base64_encode(
		    b64, ev->binary_data.data, ev->binary_data.len)] = '\0';
		e->payload = json_string(b64);
		free(b64);
		break;
	case CE_DATA_PROTO:
		if ((b64 = malloc(BASE64_LEN(ev->proto_data->value.len) + 1)) ==
		    NULL)
			die(EXIT_INTERNAL, "out of memory");
		b64[base64_encode(b64, ev->proto_data->value.data,
		    ev->proto_data->value.len)] = '\0';
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type_url",
		    ev->proto_data->type_url != NULL ?
			ev->proto_data->type_url :
			"");
		cJSON_AddStringToObject(o, "value", b64);
		free(b64);
		e->payload = print(o);
		break;
	default:
		e->payload = xstrdup("null");
	}
	if (t != NULL && t->attr_case == CE_TIMESTAMP &&
	    t->ce_timestamp != NULL) {
		*sec = t->ce_timestamp->seconds;
		*nsec = t->ce_timestamp->nanos;
	} else {
		clock_gettime(CLOCK_REALTIME, &now);
		*sec = now.tv_sec;
		*nsec = (int32_t)now.tv_nsec;
	}
}

static const char *
member(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/*
 * The CloudEvent --tee writes for a delivered result or event: type
 * the event name, source where it was posted, id the action id (from
 * meta) or the event's own, attributes flytepack, flytecommand (results)
 * and evpipeack (carried over from the input event), time createdAt,
 * data the payload as JSON.  NULL when body is not one of ours.
 */
CloudEvent *
packevent_tee(struct arena *a, const char *pack_id, const char *url,
    const char *body, const char *meta)
{
	cJSON *b = cJSON_Parse(body), *m = meta ? cJSON_Parse(meta) : NULL;
	const char *event = member(b, "event"),
		   *created = member(b, "createdAt");
	const char *id = member(m, "action") ? member(m, "action") :
					       member(m, "id");
	const char *raw;
	size_t rawlen;
	CloudEvent *ev = NULL;
	int64_t sec;
	int32_t nsec;

	if (event == NULL || id == NULL || *url == '\0')
		goto out;
	ev = ce_new(a, id, url, event);
	ce_put_string(a, ev, "flytepack", pack_id);
	if (member(m, "command") != NULL)
		ce_put_string(a, ev, "flytecommand", member(m, "command"));
	if (member(m, "evpipeack") != NULL)
		ce_put_string(a, ev, "evpipeack", member(m, "evpipeack"));
	if (created != NULL && rfc3339_parse(created, &sec, &nsec) == 0)
		ce_put_time(a, ev, "time", sec, nsec);
	ce_put_string(a, ev, "datacontenttype", "application/json");
	if (json_member_raw(body, strlen(body), "payload", &raw, &rawlen))
		ev->text_data = arena_strndup(a, raw, rawlen);
	else
		ev->text_data = arena_strdup(a, "null");
	ev->data_case = CE_DATA_TEXT;
out:
	cJSON_Delete(b);
	cJSON_Delete(m);
	return ev;
}
