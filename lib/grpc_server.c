#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "descset.h"
#include "exitcode.h"
#include "grpc_reflection.h"
#include "h2conn.h"
#include "health.pb-c.h"
#include "log.h"
#include "xalloc.h"

#define MAX_METHODS 64
#define MAX_CONNS_DEFAULT 1000
#define IDLE_MS_DEFAULT (5 * 60 * 1000)
/* Connections being closed with a GOAWAY, on top of max_conns: each
 * takes a second at most (h2conn_retire). */
#define RETIRING_MAX 64
#define FDS_SPARE 64 /* descriptors for the rest: database, files */
#define MAX_HEALTH 32

struct health_entry {
	char name[128];
	int status;
};

struct watcher {
	struct gcall *call;
	char name[128];
	int sent; /* last status sent, -1: none */
	struct watcher *next;
};

struct gserver {
	struct gserver_opts o;
	SSL_CTX *tls;
	int fd;
	struct loop_io io;
	struct h2conn_owner owner;
	struct h2conn **conns; /* serving and retiring */
	size_t nconns, max_conns;
	struct loop_timer sweep; /* idle connections */
	struct loop_timer accept_again; /* after EMFILE */
	bool accept_paused;
	struct gserver_method methods[MAX_METHODS];
	size_t nmethods;
	struct health_entry health[MAX_HEALTH];
	size_t nhealth;
	struct watcher *watchers;
	struct descset *desc; /* what reflection describes */
	const char *(*auth)(struct gcall *, void *);
	void *auth_ctx;
	/* graceful shutdown */
	bool shutting;
	int64_t grace_until;
	struct loop_timer shutdown_timer;
	void (*done)(void *);
	void *done_ctx;
};

static void conn_gone(struct h2conn *, const char *, void *);
static void dispatch(struct h2conn *, struct gcall *, void *);

/* ---- grpc.health.v1 ------------------------------------------------- */

static int
health_status(struct gserver *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nhealth; i++)
		if (strcmp(s->health[i].name, name) == 0)
			return s->health[i].status;
	return -1;
}

static void
health_send(struct gcall *call, int status)
{
	Grpc__Health__V1__HealthCheckResponse r =
	    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;

	r.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
	gcall_send_msg(call, &r.base);
}

struct health_call {
	struct gserver *s;
	bool watch;
	bool got;
	char name[128];
};

static int
health_message(struct gcall *call, const uint8_t *p, size_t n, void *ctx)
{
	struct health_call *hc = ctx;
	Grpc__Health__V1__HealthCheckRequest *req;

	if (hc->got) {
		gcall_finish(call, GRPC_UNIMPLEMENTED, "more than one request");
		return 0;
	}
	req = grpc__health__v1__health_check_request__unpack(NULL, n, p);
	if (req == NULL) {
		gcall_finish(call, GRPC_INTERNAL, "request does not parse");
		return 0;
	}
	hc->got = true;
	snprintf(hc->name, sizeof(hc->name), "%s", req->service);
	protobuf_c_message_free_unpacked(&req->base, NULL);
	return 0;
}

/* grpc health-checking.md: Check answers at once; Watch sends the
 * status now and on every change, SERVICE_UNKNOWN for unknown names. */
static void
health_half_close(struct gcall *call, void *ctx)
{
	struct health_call *hc = ctx;
	struct watcher *w;
	int st;

	if (!hc->got) {
		gcall_finish(call, GRPC_UNIMPLEMENTED, "no request");
		return;
	}
	st = health_status(hc->s, hc->name);
	if (!hc->watch) {
		if (st < 0) {
			gcall_finish(call, GRPC_NOT_FOUND, "unknown service");
			return;
		}
		health_send(call, st);
		gcall_finish(call, GRPC_OK, NULL);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->call = call;
	snprintf(w->name, sizeof(w->name), "%s", hc->name);
	w->sent = st < 0 ? 3 : st;
	w->next = hc->s->watchers;
	hc->s->watchers = w;
	health_send(call, w->sent);
}

static void
health_close(struct gcall *call, const struct gstatus *st, void *ctx)
{
	struct health_call *hc = ctx;
	struct watcher **pw, *w;

	for (pw = &hc->s->watchers; (w = *pw) != NULL; pw = &w->next)
		if (w->call == call) {
			*pw = w->next;
			free(w);
			break;
		}
	free(hc);
}

static const struct gcall_handlers health_handlers = {
	.on_message = health_message,
	.on_half_close = health_half_close,
	.on_close = health_close,
};

static void
health_call(struct gcall *call, void *ctx, bool watch)
{
	struct health_call *hc = xcalloc(1, sizeof(*hc));

	hc->s = ctx;
	hc->watch = watch;
	gcall_set_handlers(call, &health_handlers, hc);
}

static void
health_check(struct gcall *call, void *ctx)
{
	health_call(call, ctx, false);
}

static void
health_watch(struct gcall *call, void *ctx)
{
	health_call(call, ctx, true);
}

/* Set a service's serving status ("" is the whole server). */
void
gserver_set_health(struct gserver *s, const char *name, int status)
{
	struct watcher *w;
	size_t i;

	for (i = 0; i < s->nhealth; i++)
		if (strcmp(s->health[i].name, name) == 0)
			break;
	if (i == s->nhealth) {
		if (s->nhealth == MAX_HEALTH)
			return;
		snprintf(
		    s->health[i].name, sizeof(s->health[i].name), "%s", name);
		s->nhealth++;
	}
	s->health[i].status = status;
	for (w = s->watchers; w != NULL; w = w->next)
		if (strcmp(w->name, name) == 0 && w->sent != status) {
			w->sent = status;
			health_send(w->call, status);
		}
}

/* ---- connections ---------------------------------------------------- */

/* How many connections serve (not retiring), and the one without calls
 * the longest (NULL: every one has calls). */
static size_t
serving(const struct gserver *s, struct h2conn **idlest)
{
	size_t i, n = 0;
	struct h2conn *c;

	*idlest = NULL;
	for (i = 0; i < s->nconns; i++) {
		c = s->conns[i];
		if (c->retiring)
			continue;
		n++;
		if (h2conn_idle(c) &&
		    (*idlest == NULL || c->idle_since < (*idlest)->idle_since))
			*idlest = c;
	}
	return n;
}

/* Idle connections are found within a quarter of idle_ms, or a second. */
static int64_t
sweep_tick(const struct gserver *s)
{
	int64_t t = s->o.idle_ms / 4;

	return t < 10 ? 10 : t > 1000 ? 1000 : t;
}

/*
 * Every tick: connections without calls for idle_ms are closed with a
 * GOAWAY (A9 MAX_CONNECTION_IDLE), so that clients that connect and
 * say nothing cannot hold the server's connections for ever.
 */
static void
sweep_fired(struct loop_timer *t)
{
	struct gserver *s = t->ctx;
	int64_t now = loop_now();
	size_t i;

	for (i = 0; i < s->nconns; i++)
		if (h2conn_idle(s->conns[i]) &&
		    now - s->conns[i]->idle_since >= s->o.idle_ms)
			h2conn_retire(s->conns[i], "max_idle");
	if (s->nconns > 0)
		loop_timer_in(t, sweep_tick(s));
}

static void
accept_again(struct loop_timer *t)
{
	struct gserver *s = t->ctx;

	s->accept_paused = false;
}

/*
 * The listening socket is readable: accept what is waiting.  Invariant:
 * an accepted connection is answered, at least with SETTINGS and a
 * GOAWAY.  At the cap the connection idle the longest makes room, and
 * when all have calls the new one is refused that way; what cannot be
 * accepted yet waits in the listen queue, never closed unanswered.
 */
static void
accept_ready(struct loop_io *io, short revents)
{
	struct gserver *s = io->ctx;
	struct h2conn *c, *idlest;
	size_t n;
	int fd;

	while (!s->shutting && !s->accept_paused &&
	    s->nconns < s->max_conns + RETIRING_MAX) {
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				/* Out of descriptors: make room, and try
				 * again in a moment rather than spin. */
				logsys(LOG_WARN, "accept");
				if (serving(s, &idlest) > 0 && idlest != NULL)
					h2conn_retire(
					    idlest, "max_connections");
				s->accept_paused = true;
				loop_timer_in(&s->accept_again, 100);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED) {
				logsys(LOG_WARN, "accept");
			}
			return;
		}
		if (!s->o.listen.unix_socket) {
			int one = 1;

			setsockopt(
			    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		if ((c = h2conn_accept(fd, s->tls, &s->owner)) == NULL) {
			close(fd);
			continue;
		}
		/*
		 * A peer that connected and closed at once (a probe, a port
		 * scan) fails the first write inside h2conn_accept: the
		 * connection is dead already, frees itself at the next round
		 * and must not enter conns, or serving() reads it freed.
		 */
		if (c->state == H2_DEAD)
			continue;
		c->max_recv = s->o.max_recv;
		c->permit_ping_ms = s->o.permit_keepalive_ms;
		n = serving(s, &idlest);
		s->conns[s->nconns++] = c;
		if (n < s->max_conns) {
			linfo("connection from %s accepted (%zu open)", c->host,
			    n + 1);
		} else if (idlest != NULL) {
			linfo("connection from %s accepted; %s closed to make "
			      "room (%zu open, the most)",
			    c->host, idlest->host, n);
			h2conn_retire(idlest, "max_connections");
		} else {
			linfo(
			    "connection from %s refused: %zu open with calls, "
			    "the most",
			    c->host, n);
			h2conn_retire(c, "max_connections");
		}
		if (s->o.idle_ms > 0 && !loop_timer_armed(&s->sweep))
			loop_timer_in(&s->sweep, sweep_tick(s));
	}
}

static void
accept_prepare(struct loop_io *io)
{
	struct gserver *s = io->ctx;

	io->events = s->shutting || s->accept_paused ||
		s->nconns >= s->max_conns + RETIRING_MAX ?
	    0 :
	    POLLIN;
}

/*
 * Room for max_conns connections in the open-file limit: raised up to
 * the hard limit, else max_conns lowered to fit (and said).
 */
static void
fit_fd_limit(struct gserver *s)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)(s->max_conns + RETIRING_MAX + FDS_SPARE);

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ?
	    need :
	    rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= need)
		return;
	s->max_conns = rl.rlim_cur > RETIRING_MAX + FDS_SPARE + 1 ?
	    (size_t)rl.rlim_cur - RETIRING_MAX - FDS_SPARE :
	    1;
	lwarn("the open-file limit (%llu) allows %zu connections",
	    (unsigned long long)rl.rlim_cur, s->max_conns);
}

/* Fires when a connection is gone; its calls have ended. */
static void
conn_gone(struct h2conn *c, const char *why, void *ctx)
{
	struct gserver *s = ctx;
	size_t i;

	for (i = 0; i < s->nconns; i++)
		if (s->conns[i] == c) {
			s->conns[i] = s->conns[--s->nconns];
			break;
		}
}

/* Fires when a request's headers are complete: find its method. */
static void
dispatch(struct h2conn *c, struct gcall *call, void *ctx)
{
	struct gserver *s = ctx;
	const char *path = gcall_path(call);
	char msg[300];
	const char *why;
	size_t i;

	/* Health stays open to probes; everything else, reflection and
	 * unknown methods too, needs what auth wants. */
	if (s->auth != NULL &&
	    strncmp(path, "/grpc.health.v1.Health/", 23) != 0 &&
	    (why = s->auth(call, s->auth_ctx)) != NULL) {
		h2call_reject(call, GRPC_UNAUTHENTICATED, why);
		return;
	}
	for (i = 0; i < s->nmethods; i++)
		if (strcmp(s->methods[i].path, path) == 0) {
			s->methods[i].on_call(call, s->methods[i].ctx);
			return;
		}
	snprintf(msg, sizeof(msg), "unknown method %.200s", path);
	h2call_reject(call, GRPC_UNIMPLEMENTED, msg);
}

struct gserver *
gserver_new(const struct gserver_opts *o, char *err, size_t errlen)
{
	struct gserver *s = xcalloc(1, sizeof(*s));
	struct gserver_method check = { "/grpc.health.v1.Health/Check",
		health_check, s },
			      watch = { "/grpc.health.v1.Health/Watch",
				      health_watch, s };

	s->o = *o;
	if (s->o.max_recv == 0)
		s->o.max_recv = GRPC_MAX_RECV_DEFAULT;
	if (s->o.idle_ms == 0)
		s->o.idle_ms = IDLE_MS_DEFAULT;
	s->max_conns = o->max_conns > 0 ? o->max_conns : MAX_CONNS_DEFAULT;
	fit_fd_limit(s);
	if (s->o.permit_keepalive_ms <= 0)
		s->o.permit_keepalive_ms = 5 * 60 * 1000;
	if (o->listen.tls &&
	    (s->tls = tls_server_ctx(&o->tls, err, errlen)) == NULL) {
		free(s);
		return NULL;
	}
	if ((s->fd = target_listen(&o->listen, err, errlen)) < 0) {
		SSL_CTX_free(s->tls);
		free(s);
		return NULL;
	}
	s->conns = xcalloc(s->max_conns + RETIRING_MAX, sizeof(*s->conns));
	loop_timer_init(&s->sweep, sweep_fired, s);
	loop_timer_init(&s->accept_again, accept_again, s);
	s->owner = (struct h2conn_owner){
		.on_dead = conn_gone, .on_request = dispatch, .ctx = s
	};
	s->io = (struct loop_io){ .fd = s->fd,
		.prepare = accept_prepare,
		.ready = accept_ready,
		.ctx = s };
	loop_io_add(&s->io);
	gserver_add(s, &check);
	gserver_add(s, &watch);
	gserver_set_health(s, "", 1);
	s->desc = descset_new();
	if (descset_add(s->desc, evpipe_descriptor_set,
		evpipe_descriptor_set_len, err, errlen) < 0)
		die(EXIT_INTERNAL, "%s", err);
	reflection_register(s);
	return s;
}

/* Describe more .proto files by reflection (a protoc descriptor set). */
int
gserver_reflect_add(
    struct gserver *s, const uint8_t *set, size_t len, char *err, size_t errlen)
{
	return descset_add(s->desc, set, len, err, errlen);
}

const struct descset *
gserver_descset(const struct gserver *s)
{
	return s->desc;
}

const char *
gserver_method_path(const struct gserver *s, size_t i)
{
	return i < s->nmethods ? s->methods[i].path : NULL;
}

void
gserver_set_auth(
    struct gserver *s, const char *(*auth)(struct gcall *, void *), void *ctx)
{
	s->auth = auth;
	s->auth_ctx = ctx;
}

void
gserver_add(struct gserver *s, const struct gserver_method *m)
{
	if (s->nmethods == MAX_METHODS)
		die(EXIT_INTERNAL, "too many methods");
	s->methods[s->nmethods++] = *m;
}

/* The port actually bound (useful with port 0). */
int
gserver_port(const struct gserver *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static size_t
calls_open(const struct gserver *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nconns; i++)
		n += h2conn_ncalls(s->conns[i]);
	return n;
}

/*
 * Shutdown steps: stop accepting and send the GOAWAY notice; a second
 * later the final GOAWAY; then wait for the calls until the grace time
 * is over, and cut what is left.
 */
static void
shutdown_step(struct loop_timer *t)
{
	struct gserver *s = t->ctx;
	size_t i;

	for (i = 0; i < s->nconns; i++)
		h2conn_goaway(s->conns[i], true);
	if (calls_open(s) > 0 && loop_now() < s->grace_until) {
		loop_timer_in(&s->shutdown_timer, 50);
		return;
	}
	while (s->nconns > 0)
		h2conn_kill(s->conns[0], "server shut down");
	if (s->done != NULL)
		s->done(s->done_ctx);
}

void
gserver_shutdown(
    struct gserver *s, int64_t grace_ms, void (*done)(void *), void *ctx)
{
	size_t i;

	if (s->shutting)
		return;
	s->shutting = true;
	s->done = done;
	s->done_ctx = ctx;
	s->grace_until = loop_now() + grace_ms;
	gserver_set_health(s, "", 2);
	for (i = 0; i < s->nconns; i++)
		h2conn_goaway(s->conns[i], false);
	loop_io_del(&s->io);
	close(s->fd);
	s->fd = -1;
	loop_timer_init(&s->shutdown_timer, shutdown_step, s);
	loop_timer_in(&s->shutdown_timer, grace_ms < 1000 ? grace_ms : 1000);
}

void
gserver_free(struct gserver *s)
{
	struct watcher *w;

	if (s == NULL)
		return;
	while (s->nconns > 0)
		h2conn_kill(s->conns[0], "server freed");
	while ((w = s->watchers) != NULL) {
		s->watchers = w->next;
		free(w);
	}
	loop_timer_stop(&s->shutdown_timer);
	loop_timer_stop(&s->sweep);
	loop_timer_stop(&s->accept_again);
	if (s->fd >= 0) {
		loop_io_del(&s->io);
		close(s->fd);
	}
	descset_free(s->desc);
	SSL_CTX_free(s->tls);
	free(s->conns);
	free(s);
}
