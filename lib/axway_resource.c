#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ackfifo.h"
#include "axway_resource.h"
#include "errf.h"
#include "esjob.h"
#include "exitcode.h"
#include "grpcwire.h"
#include "lifecycle.h"
#include "log.h"
#include "retry.h"
#include "utf8.h"
#include "watch.pb-c.h"

typedef Central__Events__V1__Event Event;

struct axjob {
	struct invq_job qj; /* first: the queue hands us this */
	struct axjob_cfg *cfg;
	char *url, *self_link, *event_type, *ack;
	uint8_t *record; /* the watch event */
	size_t record_len;
	struct http_req *req;
	struct retry retry;
	struct secret_wait tokwait; /* for a fresh token, then fetch again */
	bool reauth; /* a 401 made us renew the token */
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

static const char *
type_name(int t)
{
	static const char *const names[] = { "CREATED", "UPDATED", "DELETED",
		"SUBRESOURCEUPDATED", "TRIGGERACTION", "PING" };

	return t >= 0 && (size_t)t < sizeof(names) / sizeof(names[0]) ?
	    names[t] :
	    "UNKNOWN";
}

int
ax_parse(struct arena *a, const CloudEvent *ev, struct ax_notice *n, char *err,
    size_t errlen)
{
	const Google__Protobuf__Any *any = ev->proto_data;
	const char *link;
	Event *e;

	if (ev->data_case != CE_DATA_PROTO || any == NULL ||
	    strcmp(lc_type_name(any->type_url), AX_EVENT) != 0)
		return 0;
	e = central__events__v1__event__unpack(
	    &a->pb, any->value.len, any->value.data);
	if (e == NULL)
		return errf(err, errlen, "%s does not parse", AX_EVENT);
	if (e->type == CENTRAL__EVENTS__V1__EVENT__TYPE__DELETED ||
	    e->type == CENTRAL__EVENTS__V1__EVENT__TYPE__PING ||
	    e->payload == NULL || e->payload->metadata == NULL)
		return 0; /* nothing to fetch: it passes through */
	link = e->payload->metadata->selflink;
	if (*link != '/' || !utf8_valid(link, strlen(link)))
		return errf(err, errlen,
		    "%s: self link \"%.100s\" is not a path", AX_EVENT, link);
	n->event_id = ev->id;
	n->self_link = link;
	n->event_type = type_name(e->type);
	return 1;
}

int
axjob_init(struct axjob_cfg *cfg, const char *central, const char *tenant,
    struct secret *token, char *err, size_t errlen)
{
	size_t n = strlen(central);

	memset(cfg, 0, sizeof(*cfg));
	if (strncmp(central, "https://", 8) != 0 &&
	    strncmp(central, "http://", 7) != 0)
		return errf(
		    err, errlen, "--central %s: not an http(s) URL", central);
	if (*tenant == '\0' || strpbrk(tenant, "\r\n") != NULL)
		return errf(err, errlen, "--tenant: not an organization id");
	while (n > 0 && central[n - 1] == '/')
		n--;
	if ((cfg->central = strndup(central, n)) == NULL ||
	    asprintf(&cfg->tenant_header, "X-Axway-Tenant-Id: %s", tenant) < 0)
		die(EXIT_INTERNAL, "out of memory");
	cfg->token = token;
	arena_init(&cfg->arena);
	return 0;
}

void
axjob_cfg_free(struct axjob_cfg *cfg)
{
	free(cfg->central);
	free(cfg->tenant_header);
	arena_free(&cfg->arena);
}

/* The self link in a URL: unreserved characters and '/' as they are. */
static char *
make_url(const char *central, const char *link)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(central), i;
	char *u = malloc(n + 5 + 3 * strlen(link) + 1), *p;

	if (u == NULL)
		die(EXIT_INTERNAL, "out of memory");
	p = u + sprintf(u, "%s/apis", central);
	for (i = 0; link[i] != '\0'; i++) {
		unsigned char c = (unsigned char)link[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~/", c) != NULL) {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return u;
}

static void fetch(struct retry *, void *);

/* The resource arrived: it replaces the watch event's data. */
static void
write_resource(struct axjob *j, const char *body, size_t len)
{
	struct axjob_cfg *cfg = j->cfg;
	struct arena *a = &cfg->arena;
	char err[256];
	CloudEvent *ev;

	ev = ce_unpack(a, j->record, j->record_len, err, sizeof(err));
	if (ev == NULL)
		die(EXIT_INTERNAL, "a held record no longer parses: %s", err);
	ev->type = AX_RESOURCE_TYPE;
	ce_put_string(a, ev, "subject", j->self_link);
	ce_put_string(a, ev, "axwayevent", j->event_type);
	ce_put_string(a, ev, "datacontenttype", "application/json");
	ce_put_string(a, ev, ACK_ATTR, j->ack);
	if (utf8_valid(body, len) && memchr(body, '\0', len) == NULL)
		ce_set_text(a, ev, body);
	else
		ce_set_binary(a, ev, body, len);
	invq_emit(cfg->q, &j->qj, &ev->base);
	arena_reset(a);
	cfg->resolved++;
}

static void
finish(struct axjob *j)
{
	invq_done(j->cfg->q, &j->qj);
}

/* Fires once per GET, with its outcome; the request is freed after. */
static void
done(struct http_req *req, const struct http_resp *resp, void *ctx)
{
	struct axjob *j = ctx;
	struct axjob_cfg *cfg = j->cfg;
	char why[700];

	j->req = NULL;
	if (resp->curl_code != 0)
		snprintf(why, sizeof(why), "GET %s: %s", j->url, resp->error);
	else
		snprintf(
		    why, sizeof(why), "GET %s: HTTP %ld", j->url, resp->status);
	if (resp->curl_code == 0)
		cfg->answered = true;
	if (resp->curl_code == 0 && resp->status >= 200 && resp->status < 300) {
		retry_progress(&j->retry);
		write_resource(j, resp->body, resp->len);
		finish(j);
		return;
	}
	if (resp->curl_code == 0 && resp->status == 401 && !j->reauth) {
		/* The token may have expired: a new one, then once more. */
		j->reauth = true;
		linfo("%s (renewing the token)", why);
		if (secret_renew(cfg->token, &j->tokwait))
			retry_now(&j->retry);
		return;
	}
	if (resp->curl_code == 0 &&
	    (resp->status == 401 || resp->status == 403)) {
		cfg->on_fatal(resp->status == 401 ? GRPC_UNAUTHENTICATED :
						    GRPC_PERMISSION_DENIED,
		    why, cfg->ctx);
		return;
	}
	if (resp->curl_code != 0 || resp->status >= 500 ||
	    resp->status == 429 || resp->status == 408) {
		if (!retry_later(&j->retry, why))
			cfg->on_fatal(GRPC_UNAVAILABLE, why, cfg->ctx);
		return;
	}
	/* 404: deleted since the event; other 4xx: nothing to fetch. */
	lwarn("%s (passed through unresolved)", why);
	if (resp->status == 404) {
		esjob_unresolved(&cfg->arena, cfg->q, &j->qj, j->record,
		    j->record_len, "NOT_FOUND", j->ack);
	} else {
		snprintf(why, sizeof(why), "HTTP_%ld", resp->status);
		esjob_unresolved(&cfg->arena, cfg->q, &j->qj, j->record,
		    j->record_len, why, j->ack);
	}
	cfg->unresolved++;
	finish(j);
}

static void
fetch(struct retry *r, void *ctx)
{
	struct axjob *j = ctx;
	struct axjob_cfg *cfg = j->cfg;
	const char *hdrs[4], *tok;
	char err[300], *auth;

	/* issue 15: never a token with under 1/5 of its life left */
	if (!secret_ready(cfg->token, &j->tokwait))
		return; /* fetch_again() once it is renewed */
	if ((tok = secret_get(cfg->token, err, sizeof(err))) == NULL) {
		cfg->on_fatal(GRPC_UNAUTHENTICATED, err, cfg->ctx);
		return;
	}
	if (asprintf(&auth, "Authorization: Bearer %s", tok) < 0)
		die(EXIT_INTERNAL, "out of memory");
	hdrs[0] = auth;
	hdrs[1] = cfg->tenant_header;
	hdrs[2] = "Accept: application/json";
	hdrs[3] = NULL;
	ltrace("GET %s", j->url);
	j->req = http_start(&cfg->http, "GET", j->url, hdrs, NULL, 0, done, j,
	    err, sizeof(err));
	explicit_bzero(auth, strlen(auth));
	free(auth);
	if (j->req == NULL)
		cfg->on_fatal(EXIT_USAGE, err, cfg->ctx);
}

static void
fetch_again(void *ctx)
{
	struct axjob *j = ctx;

	fetch(&j->retry, j);
}

static void
job_start(struct invq_job *qj)
{
	struct axjob *j = (struct axjob *)qj;

	fetch(&j->retry, j);
}

static void
job_resume(struct invq_job *qj)
{
	/* One record per job: it never pauses for more. */
}

static void
job_release(struct invq_job *qj)
{
	struct axjob *j = (struct axjob *)qj;

	retry_cancel(&j->retry);
	secret_wait_cancel(j->cfg->token, &j->tokwait);
	if (j->req != NULL)
		http_cancel(j->req);
	free(j->url);
	free(j->self_link);
	free(j->event_type);
	free(j->ack);
	free(j->record);
	free(j);
}

static const struct invq_job_ops ops = {
	.start = job_start,
	.resume = job_resume,
	.release = job_release,
};

void
axjob_add(struct axjob_cfg *cfg, const struct ax_notice *n, const uint8_t *rec,
    size_t len, const char *ack)
{
	struct axjob *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->record = malloc(len > 0 ? len : 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	j->qj.ops = &ops;
	j->qj.weight = len + sizeof(*j);
	j->cfg = cfg;
	j->url = make_url(cfg->central, n->self_link);
	j->self_link = xstrdup(n->self_link);
	j->event_type = xstrdup(n->event_type);
	j->ack = xstrdup(ack);
	memcpy(j->record, rec, len);
	j->record_len = len;
	retry_init(&j->retry, fetch, j);
	j->tokwait = (struct secret_wait){ .fn = fetch_again, .ctx = j };
	j->retry.max = cfg->retries;
	j->retry.log = cfg->log;
	invq_add(cfg->q, &j->qj);
}
