#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ackfifo.h"
#include "cloudevent.h"
#include "esjob.h"
#include "exitcode.h"
#include "log.h"
#include "pbwire.h"

struct esjob {
	struct invq_job qj; /* first: the queue hands us this */
	struct esjob_cfg *cfg;
	enum es_method method;
	char *instance, *id, *ack;
	uint8_t *record; /* the notification, for when nothing comes */
	size_t record_len;
	struct esstream st;
	bool opened;
	bool announced; /* the notification itself went out ahead */
	uint64_t seq; /* events written */
	/* The event received last, held back until the next one shows
	 * whether it is the last (which carries evpipeack). */
	uint8_t *pend;
	size_t pend_len, pend_cap;
	char *pend_principal;
	bool have_pend;
};

static char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return p;
}

void
esjob_init(struct esjob_cfg *cfg)
{
	arena_init(&cfg->arena);
}

void
esjob_cfg_free(struct esjob_cfg *cfg)
{
	arena_free(&cfg->arena);
}

/* build_event.event_time of a BuildProgressEvent (fields 4, then 1). */
static bool
event_time(const uint8_t *p, size_t n, int64_t *sec, int32_t *nsec)
{
	const uint8_t *be, *ts;
	size_t belen, tslen;
	struct pbfield f;

	if (pbwire_find(p, n, 4, &be, &belen, NULL) <= 0 ||
	    pbwire_find(be, belen, 1, &ts, &tslen, NULL) <= 0)
		return false;
	*sec = 0;
	*nsec = 0;
	while (pbwire_next(&ts, &tslen, &f) > 0) {
		if (f.num == 1 && f.wiretype == 0)
			*sec = (int64_t)f.value;
		else if (f.num == 2 && f.wiretype == 0)
			*nsec = (int32_t)f.value;
	}
	/* CloudEvents: a valid RFC 3339 time, years 1 to 9999. */
	return *nsec >= 0 && *nsec <= 999999999 && *sec >= -62135596800LL &&
	    *sec <= 253402300799LL;
}

static int
emit(struct esjob *j, bool last)
{
	struct esjob_cfg *cfg = j->cfg;
	struct arena *a = &cfg->arena;
	Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
	char id[64], seq[24];
	struct timespec now;
	CloudEvent *ev;
	int64_t sec;
	int32_t nsec;
	int r;

	j->seq++;
	snprintf(seq, sizeof(seq), "%020" PRIu64, j->seq);
	ev = ce_new(a, "", cfg->source, ES_EVENT_TYPE);
	ev->id = arena_alloc(a, strlen(j->id) + 2 + 20);
	snprintf(id, sizeof(id), "/%" PRIu64, j->seq);
	strcpy(ev->id, j->id);
	strcat(ev->id, id);
	ce_put_string(a, ev, "subject", j->id);
	if (!event_time(j->pend, j->pend_len, &sec, &nsec)) {
		clock_gettime(CLOCK_REALTIME, &now);
		sec = now.tv_sec;
		nsec = (int32_t)now.tv_nsec;
	}
	ce_put_time(a, ev, "time", sec, nsec);
	ce_put_string(a, ev, "sequence", seq);
	if (*j->pend_principal != '\0')
		ce_put_string(a, ev, "principal", j->pend_principal);
	if (last)
		ce_put_string(a, ev, ACK_ATTR, j->ack);
	any.type_url = CE_TYPE_URL_PREFIX ES_EVENT_TYPE;
	any.value.data = j->pend;
	any.value.len = j->pend_len;
	ev->data_case = CE_DATA_PROTO;
	ev->proto_data = &any;
	r = invq_emit(cfg->q, &j->qj, &ev->base);
	arena_reset(a);
	j->have_pend = false;
	cfg->events++;
	return r;
}

void
esjob_unresolved(struct arena *a, struct invq *q, struct invq_job *qj,
    const uint8_t *rec, size_t len, const char *why, const char *ack)
{
	char err[256];
	CloudEvent *ev = ce_unpack(a, rec, len, err, sizeof(err));
	uint8_t *p;
	size_t n;

	if (ev == NULL) /* it was checked when it came in */
		die(EXIT_INTERNAL, "a held record no longer parses: %s", err);
	ce_put_string(a, ev, ATTR_UNRESOLVED, why);
	ce_put_string(a, ev, ACK_ATTR, ack);
	if (qj != NULL) {
		invq_emit(q, qj, &ev->base);
	} else {
		n = protobuf_c_message_get_packed_size(&ev->base);
		p = arena_alloc(a, n);
		protobuf_c_message_pack(&ev->base, p);
		invq_pass(q, p, n);
	}
	arena_reset(a);
}

/* An attributes entry (CloudEvent field 5) whose key is evpipeack. */
static bool
ack_entry(const struct pbfield *f)
{
	const uint8_t *key;
	size_t len;

	return f->num == 5 && f->wiretype == 2 &&
	    pbwire_find(f->p, f->len, 1, &key, &len, NULL) > 0 &&
	    len == strlen(ACK_ATTR) && memcmp(key, ACK_ATTR, len) == 0;
}

/*
 * The notification ahead of its events (pass_notifications): its
 * record as it came, every field in place, without evpipeack, which
 * goes on the last event only.
 */
static int
announce(struct esjob *j)
{
	struct arena *a = &j->cfg->arena;
	const uint8_t *p = j->record, *field;
	size_t n = j->record_len, len = 0;
	uint8_t *rec = arena_alloc(a, n > 0 ? n : 1);
	struct pbfield f;
	int r;

	j->announced = true;
	for (field = p; (r = pbwire_next(&p, &n, &f)) > 0; field = p) {
		if (ack_entry(&f))
			continue;
		memcpy(rec + len, field, (size_t)(p - field));
		len += (size_t)(p - field);
	}
	if (r < 0) /* it was checked when it came in */
		die(EXIT_INTERNAL, "a held record no longer parses");
	r = invq_emit_bytes(j->cfg->q, &j->qj, rec, len);
	arena_reset(a);
	return r;
}

static const char *
what(const struct esjob *j)
{
	return j->method == ES_GET_BUILD ? "build" : "invocation";
}

/*
 * Fires for each StreamedBuildEvent, in order, once each.  Invariant:
 * every event received before the latest is written or buffered in
 * the queue; the latest waits in pend.
 */
static int
on_event(struct esstream *st, const struct es_event *ev, void *ctx)
{
	struct esjob *j = ctx;
	int r = 0;

	if (ev->event == NULL)
		return 0; /* is_last after a token past the end: nothing */
	if (j->cfg->pass_notifications && !j->announced)
		r = announce(j);
	if (j->have_pend && emit(j, false) == INVQ_PAUSE)
		r = INVQ_PAUSE;
	if (j->pend_cap < ev->event_len) {
		j->pend_cap = ev->event_len + 1024;
		free(j->pend);
		if ((j->pend = malloc(j->pend_cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
	}
	memcpy(j->pend, ev->event, ev->event_len);
	j->pend_len = ev->event_len;
	free(j->pend_principal);
	j->pend_principal = xstrdup(ev->principal);
	j->have_pend = true;
	return r == INVQ_PAUSE ? ESSTREAM_PAUSE : 0;
}

/* Ends that no other notification would get past either. */
static bool
fatal(const struct esstream *st, int code)
{
	return code == GRPC_UNAUTHENTICATED || code == GRPC_PERMISSION_DENIED ||
	    code == GRPC_UNIMPLEMENTED || st->gave_up;
}

/*
 * Fires once, when the stream is over: OK (complete), a status that
 * concerns this notification only (what came is written, or else the
 * notification itself, marked), or one that stops the tool.
 */
static void
on_end(struct esstream *st, const struct gstatus *status, void *ctx)
{
	struct esjob *j = ctx;
	struct esjob_cfg *cfg = j->cfg;
	char why[600];

	if (status->code != GRPC_OK) {
		snprintf(why, sizeof(why), "%s %s: %s%s%s", what(j), j->id,
		    grpc_status_name(status->code),
		    *status->message != '\0' ? ": " : "", status->message);
		if (fatal(st, status->code)) {
			cfg->on_fatal(status, why, cfg->ctx);
			return;
		}
		lwarn("%s (%s)", why,
		    j->have_pend ? "written as far as it came" :
				   "passed through unresolved");
	}
	if (j->have_pend) {
		emit(j, true);
		cfg->resolved++;
	} else {
		if (status->code == GRPC_OK)
			lwarn("%s %s: no events (passed through unresolved)",
			    what(j), j->id);
		esjob_unresolved(&cfg->arena, cfg->q, &j->qj, j->record,
		    j->record_len,
		    status->code == GRPC_OK ? "NO_EVENTS" :
					      grpc_status_name(status->code),
		    j->ack);
		cfg->unresolved++;
	}
	linfo("%s %s: %" PRIu64 " events in %" PRIu64 " calls", what(j), j->id,
	    j->seq, j->st.calls);
	invq_done(cfg->q, &j->qj);
}

static const struct esstream_handlers handlers = {
	.on_event = on_event,
	.on_end = on_end,
};

static void
job_start(struct invq_job *qj)
{
	struct esjob *j = (struct esjob *)qj;
	struct esjob_cfg *cfg = j->cfg;
	struct esstream_opts o = {
		.ch = cfg->ch,
		.method = j->method,
		.instance = j->instance,
		.id = j->id,
		.replay_mode = cfg->replay_mode,
		.retries = cfg->retries,
		.metadata = cfg->metadata,
		.md_ctx = cfg->md_ctx,
		.log = cfg->log,
	};

	j->opened = true;
	esstream_open(&j->st, &o, &handlers, j);
}

static void
job_resume(struct invq_job *qj)
{
	esstream_resume(&((struct esjob *)qj)->st);
}

static void
job_release(struct invq_job *qj)
{
	struct esjob *j = (struct esjob *)qj;

	if (j->opened)
		esstream_close(&j->st);
	free(j->instance);
	free(j->id);
	free(j->ack);
	free(j->record);
	free(j->pend);
	free(j->pend_principal);
	free(j);
}

static const struct invq_job_ops ops = {
	.start = job_start,
	.resume = job_resume,
	.release = job_release,
};

void
esjob_add(struct esjob_cfg *cfg, enum es_method method, const char *instance,
    const char *id, const uint8_t *rec, size_t len, const char *ack)
{
	struct esjob *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->record = malloc(len > 0 ? len : 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	j->qj.ops = &ops;
	j->qj.weight = len + sizeof(*j);
	j->cfg = cfg;
	j->method = method;
	j->instance = xstrdup(instance);
	j->id = xstrdup(id);
	j->ack = xstrdup(ack);
	memcpy(j->record, rec, len);
	j->record_len = len;
	invq_add(cfg->q, &j->qj);
}
