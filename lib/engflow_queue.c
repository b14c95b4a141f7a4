#include "config.h"

#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ce_map.h"
#include "engflow/notification/v1/notification_queue.pb-c.h"
#include "engflow_queue.h"
#include "exitcode.h"
#include "log.h"
#include "pbwire.h"
#include "retry.h"
#include "xalloc.h"

#define PULL_PATH "/engflow.notification.v1.NotificationQueue/Pull"
#define ACKS_PER_REQUEST 1000

typedef Engflow__Notification__V1__PullNotificationRequest PullReq;
typedef Engflow__Notification__V1__PullNotificationResponse PullResp;
typedef Engflow__Notification__V1__PullNotificationResponse__AcknowledgementReceipt
    Receipt;

/* A token acked and the notification it was for, to name receipts. */
struct sent_ack {
	char *token, *id;
};

static struct engflow_queue {
	struct sub *sub;
	const struct sub_opts *o;
	struct gchannel *ch;
	struct gcall *call;
	struct retry retry;
	struct arena arena; /* the response being read */
	char source[600];
	char client[64];
	struct secret_wait tokwait; /* for a fresh token before opening */
	bool got_message;
	int fail_code; /* set when we end the call ourselves, else -1 */
	char fail_msg[256];
	uint64_t acks_out; /* sent on this stream, no receipt yet */
	struct sent_ack *sent; /* a ring of the last acks sent */
	size_t sent_cap, sent_head, sent_n;
	uint64_t received, refused;
} Q;

/* "evpipe/" and a random (version 4) UUID: PullNotificationRequest.client. */
static void
make_client_id(char *buf, size_t len)
{
	uint8_t u[16] = { 0 };

	if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u))
		for (size_t i = 0; i < sizeof(u); i++)
			u[i] = (uint8_t)(rand() ^ getpid());
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
	snprintf(buf, len,
	    "evpipe/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x",
	    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
	    u[11], u[12], u[13], u[14], u[15]);
}

static void
remember_ack(const char *token, const char *id)
{
	struct sent_ack *a;

	if (Q.sent_n == Q.sent_cap) {
		a = &Q.sent[Q.sent_head];
		free(a->token);
		free(a->id);
		Q.sent_head = (Q.sent_head + 1) % Q.sent_cap;
		Q.sent_n--;
	}
	a = &Q.sent[(Q.sent_head + Q.sent_n++) % Q.sent_cap];
	a->token = xstrndup(token, strlen(token));
	a->id = xstrndup(id, strlen(id));
}

static void
forget_acks(void)
{
	struct sent_ack *a;

	for (; Q.sent_n > 0; Q.sent_n--) {
		a = &Q.sent[Q.sent_head];
		free(a->token);
		free(a->id);
		a->token = a->id = NULL;
		Q.sent_head = (Q.sent_head + 1) % Q.sent_cap;
	}
}

static const char *
acked_id(const char *token)
{
	struct sent_ack *a;
	size_t i;

	for (i = 0; i < Q.sent_n; i++) {
		a = &Q.sent[(Q.sent_head + i) % Q.sent_cap];
		if (a->token != NULL && strcmp(a->token, token) == 0)
			return a->id;
	}
	return NULL;
}

/* End the call ourselves; on_close then reports code and msg. */
static void
fail(int code, const char *msg)
{
	if (Q.call == NULL || Q.fail_code >= 0)
		return;
	Q.fail_code = code;
	snprintf(Q.fail_msg, sizeof(Q.fail_msg), "%s", msg);
	gcall_cancel(Q.call);
}

static void
receipts(PullResp *r)
{
	const char *id;
	Receipt *rc;
	size_t i;

	for (i = 0; i < r->n_acknowledgement_receipt; i++) {
		rc = r->acknowledgement_receipt[i];
		if (Q.acks_out > 0)
			Q.acks_out--;
		if (rc->status == NULL || rc->status->code == GRPC_OK)
			continue;
		/* engflow.md 1.2: any code but OK means the ack failed and
		 * the notification will be delivered again (a late ack
		 * gives DEADLINE_EXCEEDED). */
		Q.refused++;
		id = acked_id(rc->token);
		lwarn("%s: ack of notification %s refused: %s%s%s",
		    Q.o->endpoint, id != NULL ? id : "(unknown token)",
		    grpc_status_name(rc->status->code),
		    *rc->status->message != '\0' ? ": " : "",
		    rc->status->message);
	}
	if (r->n_acknowledgement_receipt > 0)
		sub_check(Q.sub);
}

/* One request acknowledging tokens (ids: what they were for). */
static void
send_acks(char **tokens, char **ids, size_t n)
{
	PullReq req =
	    ENGFLOW__NOTIFICATION__V1__PULL_NOTIFICATION_REQUEST__INIT;
	size_t i;

	/* engflow.md 1.2: requests after the first carry only tokens,
	 * which must come from this same stream. */
	req.n_acknowledgement_tokens = n;
	req.acknowledgement_tokens = tokens;
	if (Q.call == NULL || gcall_send_msg(Q.call, &req.base) < 0)
		return;
	Q.acks_out += n;
	for (i = 0; i < n; i++)
		remember_ack(tokens[i], ids[i]);
}

/* The exact bytes of response.notification.notification (field 1, 3). */
static int
notification_bytes(
    const uint8_t *p, size_t n, const uint8_t **out, size_t *outlen)
{
	const uint8_t *an;
	size_t anlen, count;

	if (pbwire_find(p, n, 1, &an, &anlen, &count) != 1 || count != 1)
		return -1;
	if (pbwire_find(an, anlen, 3, out, outlen, &count) != 1 || count != 1)
		return -1;
	return 0;
}

/*
 * Fires for each PullNotificationResponse.  Receipts are always read;
 * a notification is written out (and acked later) unless stopping, in
 * which case it is left unacked for the queue to deliver again.
 */
static int
pull_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	const uint8_t *raw;
	size_t rawlen;
	PullResp *r;
	CloudEvent *ev;
	const char *token;
	int pause = 0;

	if (!Q.got_message) {
		Q.got_message = true;
		retry_progress(&Q.retry);
	}
	r = engflow__notification__v1__pull_notification_response__unpack(
	    &Q.arena.pb, n, p);
	if (r == NULL) {
		fail(GRPC_INTERNAL, "response does not parse");
		arena_reset(&Q.arena);
		return 0;
	}
	receipts(r);
	if (r->notification != NULL && sub_taking(Q.sub)) {
		token = r->notification->token;
		if (r->notification->notification == NULL ||
		    notification_bytes(p, n, &raw, &rawlen) < 0) {
			/* Nothing to write out; left unacked it would come
			 * back for ever. */
			lwarn("%s: notification without content: "
			      "acknowledged",
			    Q.o->endpoint);
			send_acks((char **)&token, (char **)&token, 1);
		} else {
			Q.received++;
			ev = ce_map_engflow(&Q.sub->arena,
			    r->notification->notification, raw, rawlen,
			    Q.source, token);
			if (!sub_emit(Q.sub, ev, token, -1))
				pause = GCALL_PAUSE;
		}
	}
	arena_reset(&Q.arena);
	return pause;
}

static void
pull_headers(struct gcall *call, void *ctx)
{
	linfo("%s: pulling from queue %s", Q.o->endpoint, Q.o->queue);
}

static void
pull_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	int code = Q.fail_code >= 0 ? Q.fail_code : st->code;
	const char *msg = Q.fail_code >= 0 ? Q.fail_msg : st->message;
	char why[600];

	Q.call = NULL;
	Q.acks_out = 0;
	forget_acks();
	sub_stream(Q.sub);
	if (!sub_taking(Q.sub)) {
		sub_check(Q.sub);
		return;
	}
	snprintf(why, sizeof(why), "queue %s: %s%s%s", Q.o->queue,
	    code == GRPC_OK ? "the server ended the stream" :
			      grpc_status_name(code),
	    *msg != '\0' ? ": " : "", msg);
	/* Issue 19: only an attempt that delivered something, or that the
	 * server ended with OK, is progress; one that merely lasted is not
	 * (a silent peer would keep --retries from ever running out). */
	if (code == GRPC_OK)
		retry_progress(&Q.retry);
	sub_failed(Q.sub, &Q.retry, code, why);
}

static const struct gcall_handlers pull_handlers = {
	.on_headers = pull_headers,
	.on_message = pull_message,
	.on_close = pull_close,
};

/* Open (or re-open) the Pull stream and name the queue. */
static void
pull_open_now(void *ctx)
{
	PullReq req =
	    ENGFLOW__NOTIFICATION__V1__PULL_NOTIFICATION_REQUEST__INIT;
	Engflow__Notification__V1__QueueId q =
	    ENGFLOW__NOTIFICATION__V1__QUEUE_ID__INIT;
	Engflow__Notification__V1__NotificationDeliveryOptions d =
	    ENGFLOW__NOTIFICATION__V1__NOTIFICATION_DELIVERY_OPTIONS__INIT;
	Google__Protobuf__Duration dl = GOOGLE__PROTOBUF__DURATION__INIT;
	struct gmd md[2 + SUB_MAX_HEADERS];
	size_t nmd = 0, i;
	char bearer[8192];
	const char *token;
	bool fatal;

	if (!sub_taking(Q.sub))
		return;
	token = sub_token(Q.sub, &fatal);
	if (fatal)
		return;
	/* engflow.md 2.2: the two headers only when there is a token (empty
	 * ones break mTLS-only use); "bearer" is the older form. */
	if (token != NULL && Q.o->auth == SUB_AUTH_BEARER) {
		snprintf(bearer, sizeof(bearer), "Bearer %s", token);
		md[nmd++] = (struct gmd){ "authorization", bearer,
			strlen(bearer) };
	} else if (token != NULL) {
		md[nmd++] = (struct gmd){ "x-engflow-auth-method", "jwt-v0",
			6 };
		md[nmd++] = (struct gmd){ "x-engflow-auth-token", token,
			strlen(token) };
	}
	for (i = 0; i < Q.o->nheaders; i++)
		md[nmd++] = Q.o->headers[i];
	Q.fail_code = -1;
	Q.got_message = false;
	Q.call = gcall_start(Q.ch, PULL_PATH, md, nmd, 0, &pull_handlers, NULL);
	if (Q.call == NULL) {
		char why[600];

		snprintf(why, sizeof(why), "queue %s: UNAVAILABLE: %s",
		    Q.o->queue, gchannel_error(Q.ch));
		sub_failed(Q.sub, &Q.retry, GRPC_UNAVAILABLE, why);
		return;
	}
	sub_stream(Q.sub);
	/* engflow.md 1.2: the first request names the queue (MUST) and the
	 * client (SHOULD); the delivery options MAY come with it. */
	q.name = (char *)Q.o->queue;
	req.queue = &q;
	req.client = Q.client;
	if (Q.o->ack_deadline_ms > 0) {
		dl.seconds = Q.o->ack_deadline_ms / 1000;
		dl.nanos = (int32_t)(Q.o->ack_deadline_ms % 1000) * 1000000;
		d.acknowledgement_deadline = &dl;
		req.notification_delivery_options = &d;
	}
	gcall_send_msg(Q.call, &req.base);
}

/* The retry's open: a token with life left first (secret.h). */
static void
pull_open(struct retry *r, void *ctx)
{
	if (sub_taking(Q.sub) && sub_token_ready(Q.sub, &Q.tokwait))
		pull_open_now(NULL);
}

/* The driver: these items are safe; ack them on this stream. */
static void
pull_ack(void *ctx, struct sub_item *const *items, size_t n)
{
	char *tokens[ACKS_PER_REQUEST], *ids[ACKS_PER_REQUEST];
	size_t i, k;

	for (i = 0; i < n; i += k) {
		for (k = 0; k < ACKS_PER_REQUEST && i + k < n; k++) {
			tokens[k] = items[i + k]->token;
			ids[k] = items[i + k]->id;
		}
		send_acks(tokens, ids, k);
	}
}

static void
pull_resume(void *ctx)
{
	if (Q.call != NULL)
		gcall_resume(Q.call);
}

static bool
pull_settled(void *ctx)
{
	return Q.call == NULL || Q.acks_out == 0;
}

static bool
pull_connected(void *ctx)
{
	return Q.call != NULL && gchannel_ready(Q.ch);
}

static void
pull_stop(void *ctx)
{
	retry_cancel(&Q.retry);
	secret_wait_cancel((struct secret *)&Q.o->token, &Q.tokwait);
	if (Q.call != NULL) {
		linfo("%s: %llu notifications received, %llu acks refused",
		    Q.o->endpoint, (unsigned long long)Q.received,
		    (unsigned long long)Q.refused);
		Q.fail_code = GRPC_CANCELLED;
		gcall_set_handlers(Q.call, NULL, NULL);
		gcall_cancel(Q.call);
		Q.call = NULL;
	}
	forget_acks();
}

void
engflow_queue_start(struct sub *s)
{
	const struct sub_source src = {
		.ack = pull_ack,
		.resume = pull_resume,
		.settled = pull_settled,
		.stop = pull_stop,
		.connected = pull_connected,
	};
	size_t el = strlen(s->o->endpoint);

	Q.sub = s;
	Q.o = s->o;
	Q.fail_code = -1;
	arena_init(&Q.arena);
	/* The source attribute: the endpoint, then the queue name. */
	snprintf(Q.source, sizeof(Q.source), "%.*s/%s",
	    (int)(el > 0 && s->o->endpoint[el - 1] == '/' ? el - 1 : el),
	    s->o->endpoint, s->o->queue);
	make_client_id(Q.client, sizeof(Q.client));
	Q.sent_cap = s->cap;
	Q.sent = xcalloc(Q.sent_cap, sizeof(*Q.sent));
	Q.ch = sub_channel(s);
	Q.tokwait = (struct secret_wait){ .fn = pull_open_now };
	sub_set_source(s, &src);
	retry_init(&Q.retry, pull_open, NULL);
	Q.retry.max = s->o->retries;
	retry_now(&Q.retry);
}
