#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "exitcode.h"
#include "h2conn.h"
#include "log.h"
#include "xalloc.h"

struct gchannel {
	struct gchannel_opts o;
	SSL_CTX *tls;
	/* The connection new calls go on: NULL between connections, and
	 * after a GOAWAY (that one drains its calls in conns). */
	struct h2conn *conn;
	struct h2conn *conns; /* all of them, linked by next */
	struct h2conn_owner owner;
	char proxy[512];
	struct target dial; /* where to connect, with --connect-to */
	bool have_dial;
	char err[300];
};

/* Fires when the server's SETTINGS arrived: connected, for backoff. */
static void
ch_open(struct h2conn *c, void *ctx)
{
	struct gchannel *ch = ctx;

	linfo("connected to %s", ch->o.target.authority);
	if (ch->o.on_connect != NULL)
		ch->o.on_connect(ch->o.on_connect_ctx);
}

/*
 * Fires when the connection is gone; its calls have already ended
 * UNAVAILABLE.  A8: a GOAWAY too_many_pings doubles the keepalive time.
 */
static void
ch_dead(struct h2conn *c, const char *why, void *ctx)
{
	struct gchannel *ch = ctx;
	struct h2conn **pc;

	if (c->goaway_code == NGHTTP2_ENHANCE_YOUR_CALM &&
	    strcmp(c->goaway_debug, "too_many_pings") == 0 &&
	    ch->o.keepalive_ms > 0) {
		ch->o.keepalive_ms *= 2;
		lwarn("%s: server says too many pings; keepalive now %llds",
		    ch->o.target.authority,
		    (long long)(ch->o.keepalive_ms / 1000));
	}
	if (ch->conn == c)
		ch->conn = NULL;
	for (pc = &ch->conns; *pc != NULL; pc = &(*pc)->next)
		if (*pc == c) {
			*pc = c->next;
			break;
		}
}

/* Proxy from the options or, as curl does, the environment. */
static const char *
proxy_for(struct gchannel *ch)
{
	const char *p = ch->o.proxy, *np, *s;
	size_t hl = strlen(ch->o.target.host), n;

	if (p != NULL)
		return *p != '\0' ? p : NULL;
	if (ch->o.target.unix_socket)
		return NULL;
	p = getenv("https_proxy");
	if (p == NULL)
		p = getenv("HTTPS_PROXY");
	if (!ch->o.target.tls && getenv("http_proxy") != NULL)
		p = getenv("http_proxy");
	if (p == NULL || *p == '\0')
		return NULL;
	np = getenv("no_proxy");
	if (np == NULL)
		np = getenv("NO_PROXY");
	for (s = np; s != NULL && *s != '\0'; s += n + (s[n] == ',')) {
		n = strcspn(s, ",");
		while (n > 0 && *s == ' ')
			s++, n--;
		if ((n == 1 && *s == '*') ||
		    (n <= hl &&
			strncmp(ch->o.target.host + hl - n, s, n) == 0 &&
			(n == hl || s[0] == '.' ||
			    ch->o.target.host[hl - n - 1] == '.')))
			return NULL;
	}
	snprintf(ch->proxy, sizeof(ch->proxy), "%s", p);
	return ch->proxy;
}

struct gchannel *
gchannel_new(const struct gchannel_opts *o, char *err, size_t errlen)
{
	struct gchannel *ch = xcalloc(1, sizeof(*ch));

	ch->o = *o;
	if (o->connect_to != NULL) {
		char url[300];

		/* host:port, parsed as a grpc:// URL (IPv6 in brackets) */
		snprintf(url, sizeof(url), "grpc://%s", o->connect_to);
		if (target_parse(&ch->dial, url, err, errlen) < 0 ||
		    strchr(o->connect_to, '/') != NULL) {
			snprintf(err, errlen, "connect-to %s: not host:port",
			    o->connect_to);
			free(ch);
			return NULL;
		}
		ch->have_dial = true;
	}
	if (ch->o.max_recv == 0)
		ch->o.max_recv = GRPC_MAX_RECV_DEFAULT;
	/* A8: never below 10 s. */
	if (ch->o.keepalive_ms > 0 && ch->o.keepalive_ms < 10000)
		ch->o.keepalive_ms = 10000;
	if (ch->o.keepalive_timeout_ms <= 0)
		ch->o.keepalive_timeout_ms = 20000;
	/* connection-backoff: MIN_CONNECT_TIMEOUT is 20 s. */
	if (ch->o.connect_timeout_ms < BACKOFF_MIN_CONNECT_MS)
		ch->o.connect_timeout_ms = BACKOFF_MIN_CONNECT_MS;
	if (o->target.tls) {
		if (o->tls.insecure)
			lwarn("%s: --insecure: the server's certificate is "
			      "not checked",
			    o->target.authority);
		if ((ch->tls = tls_client_ctx(&o->tls, err, errlen)) == NULL) {
			free(ch);
			return NULL;
		}
	}
	ch->owner = (struct h2conn_owner){
		.on_open = ch_open, .on_dead = ch_dead, .ctx = ch
	};
	return ch;
}

void
gchannel_free(struct gchannel *ch)
{
	if (ch == NULL)
		return;
	while (ch->conns != NULL)
		h2conn_kill(ch->conns, "channel closed"); /* unlinks it */
	SSL_CTX_free(ch->tls);
	free(ch);
}

const char *
gchannel_error(const struct gchannel *ch)
{
	return ch->err;
}

bool
gchannel_ready(const struct gchannel *ch)
{
	return ch->conn != NULL && ch->conn->state == H2_OPEN &&
	    ch->conn->peer_settings && !ch->conn->goaway;
}

/*
 * Start a call: path "/package.Service/Method", metadata, a timeout
 * (0: none).  NULL when no connection could even be started (the name
 * does not resolve, say): the caller treats that as UNAVAILABLE, with
 * gchannel_error() saying why.  Every other failure ends the call
 * through its on_close.
 */
struct gcall *
gcall_start(struct gchannel *ch, const char *path, const struct gmd *md,
    size_t nmd, int64_t timeout_ms, const struct gcall_handlers *h, void *ctx)
{
	char err[300];

	/* A connection that got GOAWAY takes no new calls. */
	if (ch->conn == NULL || ch->conn->state == H2_DEAD ||
	    ch->conn->goaway) {
		ch->conn = h2conn_connect(&ch->o.target,
		    ch->have_dial ? &ch->dial : NULL, ch->tls, proxy_for(ch),
		    ch->o.connect_timeout_ms, &ch->owner, err, sizeof(err));
		if (ch->conn == NULL) {
			linfo("%s: %s", ch->o.target.authority, err);
			snprintf(ch->err, sizeof(ch->err), "%s", err);
			return NULL;
		}
		ch->conn->next = ch->conns;
		ch->conns = ch->conn;
		ch->conn->max_recv = ch->o.max_recv;
		h2conn_set_keepalive(
		    ch->conn, ch->o.keepalive_ms, ch->o.keepalive_timeout_ms);
	}
	return h2call_start(ch->conn, ch->o.target.tls ? "https" : "http",
	    ch->o.target.authority, path, md, nmd, timeout_ms, h, ctx);
}
