#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "errf.h"
#include "exitcode.h"
#include "healthd.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

/*
 * Connections at once: half the descriptors we may open, within these
 * bounds.  A burst of idle connections must not fill the slots, or a
 * health check waits behind it in the listen backlog until they time
 * out, and the orchestrator restarts a healthy pack.
 */
#define HEALTHD_CONNECTIONS_MIN 32
#define HEALTHD_CONNECTIONS_MAX 1024
#define HEALTHD_IDLE_S 10

struct healthd_req {
	struct healthd *hd;
	struct MHD_Connection *conn;
	struct healthd_req *next, **prevp; /* waiting for a reply */
	struct MHD_Response *resp;
	unsigned status;
	int state;
	bool suspended;
};

enum { REQ_NEW, REQ_WAITING, REQ_READY, REQ_QUEUED, REQ_ORPHAN };

/* A connection, oldest first in healthd.conns. */
struct healthd_conn {
	struct healthd_conn *next, **prevp;
	int fd;
	bool busy; /* a request is in (its headers were read) */
	bool shed; /* shut down to make room */
};

static void set_busy(struct MHD_Connection *, bool);

struct healthd {
	struct MHD_Daemon *d;
	struct loop_io io;
	struct loop_timer timer;
	struct healthd_req *waiting;
	struct healthd_conn *conns, **conns_tail;
	struct metric m_conns;
	unsigned limit; /* of connections */
	int64_t shed_at; /* when connections were last shed */
	uint16_t port;
	bool kick; /* run MHD in this round: a connection was resumed */
	healthd_fn fn;
	void *ctx;
};

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	linfo("health server: %s", line);
}

static unsigned
connections(const struct healthd *hd)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(
	    hd->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info != NULL ? info->num_connections : 0;
}

static double
read_connections(struct metric *m)
{
	return connections(m->ctx);
}

/*
 * Every slot is taken: make room for a quarter of them by shutting down
 * the oldest connections that have no request in (idle, or sending one
 * too slowly).  MHD then reads their end and closes them itself, at
 * once (a kick): a burst of idle connections costs its own connections,
 * never a health check's wait.
 */
static void
shed(struct healthd *hd)
{
	struct healthd_conn *hc;
	unsigned n = 0;

	for (hc = hd->conns; hc != NULL && n < hd->limit / 4; hc = hc->next)
		if (!hc->busy && !hc->shed) {
			hc->shed = true;
			shutdown(hc->fd, SHUT_RDWR);
			n++;
		}
	if (n == 0)
		return;
	hd->kick = true;
	/* Once for a burst, not for each quarter of it. */
	if (hd->shed_at == 0 || loop_now() - hd->shed_at > 10000)
		lwarn("health server: %u connections, the most it serves: "
		      "closing the oldest idle ones",
		    hd->limit);
	hd->shed_at = loop_now();
}

/*
 * Let MHD accept, read, answer and close.  At its connection limit MHD
 * takes the listening socket out of its epoll set, and puts it back
 * only at the start of its next run: when this run closed connections,
 * the next one comes at once, or new connections (and the sockets of
 * clients that gave up, in CLOSE-WAIT) would stay in the backlog until
 * something else woke it — for ever if nothing did.
 */
static void
run(struct healthd *hd)
{
	unsigned before = connections(hd);

	hd->kick = false;
	MHD_run(hd->d);
	if (connections(hd) >= hd->limit)
		shed(hd);
	if (connections(hd) < before)
		hd->kick = true;
}

/* Its epoll descriptor is readable. */
static void
io_ready(struct loop_io *io, short revents)
{
	run(io->ctx);
}

/* MHD's deadline (an idle connection to close), or a kick. */
static void
timer_fire(struct loop_timer *t)
{
	run(t->ctx);
}

/*
 * Before each poll: MHD's own deadline (idle connections, pending
 * work), or at once when a connection was resumed since MHD last ran.
 */
static void
io_prepare(struct loop_io *io)
{
	struct healthd *hd = io->ctx;
	MHD_UNSIGNED_LONG_LONG ms;

	if (hd->kick)
		loop_timer_in(&hd->timer, 0);
	else if (MHD_get_timeout(hd->d, &ms) == MHD_YES)
		loop_timer_in(&hd->timer, ms > 60000 ? 60000 : (int64_t)ms);
	else
		loop_timer_stop(&hd->timer);
}

static enum MHD_Result
queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result r = MHD_queue_response(c, status, resp);

	MHD_destroy_response(resp);
	return r;
}

/* The tool's counters, in the Prometheus text format (metrics.h). */
static enum MHD_Result
metrics(struct MHD_Connection *c)
{
	struct MHD_Response *resp;
	size_t len;
	char *text = metrics_render(&len);

	resp = MHD_create_response_from_buffer(
	    len, text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		die(EXIT_INTERNAL, "out of memory");
	MHD_add_response_header(
	    resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	return queue(c, MHD_HTTP_OK, resp);
}

/*
 * MHD calls this when a request's headers are in (*req_cls is NULL),
 * again for each piece of a body, and again once the connection is
 * resumed.  Invariant: a request has a response queued exactly once.
 */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct healthd *hd = cls;
	struct healthd_req *r = *req_cls;
	struct MHD_Response *resp;

	if (r == NULL) {
		set_busy(c, true);
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
			resp = MHD_create_response_from_buffer(
			    0, "", MHD_RESPMEM_PERSISTENT);
			MHD_add_response_header(resp, "Allow", "GET, HEAD");
			return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
		}
		if (strcmp(url, "/metrics") == 0)
			return metrics(c);
		if ((r = calloc(1, sizeof(*r))) == NULL)
			return MHD_NO;
		r->hd = hd;
		r->conn = c;
		*req_cls = r;
		if ((r->next = hd->waiting) != NULL)
			hd->waiting->prevp = &r->next;
		r->prevp = &hd->waiting;
		hd->waiting = r;
		r->state = REQ_WAITING;
		hd->fn(r, hd->ctx);
		if (r->state == REQ_WAITING) {
			r->suspended = true;
			MHD_suspend_connection(c);
		}
	}
	if (*upload_size > 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->state != REQ_READY)
		return MHD_YES;
	r->state = REQ_QUEUED;
	resp = r->resp;
	r->resp = NULL;
	return queue(c, r->status, resp);
}

/* MHD accepted a connection, or closed one. */
static void
on_connection(void *cls, struct MHD_Connection *c, void **sock_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	struct healthd *hd = cls;
	struct healthd_conn *hc = *sock_ctx;
	const union MHD_ConnectionInfo *info;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((hc = calloc(1, sizeof(*hc))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		info = MHD_get_connection_info(
		    c, MHD_CONNECTION_INFO_CONNECTION_FD);
		hc->fd = info != NULL ? info->connect_fd : -1;
		hc->shed = hc->fd < 0;
		hc->prevp = hd->conns_tail;
		*hd->conns_tail = hc;
		hd->conns_tail = &hc->next;
		*sock_ctx = hc;
		return;
	}
	if (hc == NULL)
		return;
	if ((*hc->prevp = hc->next) != NULL)
		hc->next->prevp = hc->prevp;
	else
		hd->conns_tail = hc->prevp;
	*sock_ctx = NULL;
	free(hc);
}

static void
set_busy(struct MHD_Connection *c, bool busy)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
	    c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct healthd_conn *hc = info != NULL ? info->socket_context : NULL;

	if (hc != NULL)
		hc->busy = busy;
}

/* The request is over (answered, or the connection failed). */
static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct healthd_req *r = *req_cls;

	set_busy(c, false);
	if (r == NULL)
		return;
	*req_cls = NULL;
	if (r->state == REQ_WAITING) {
		/* The tool still owes a reply; it frees r then. */
		r->state = REQ_ORPHAN;
		return;
	}
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	free(r);
}

void
healthd_reply(struct healthd_req *r, unsigned status, const char *body)
{
	struct healthd *hd = r->hd;

	if (r->state == REQ_ORPHAN) {
		if ((*r->prevp = r->next) != NULL)
			r->next->prevp = r->prevp;
		free(r);
		return;
	}
	if (r->state != REQ_WAITING)
		return;
	if ((*r->prevp = r->next) != NULL)
		r->next->prevp = r->prevp;
	r->resp = MHD_create_response_from_buffer(
	    strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r->resp == NULL)
		die(EXIT_INTERNAL, "out of memory");
	MHD_add_response_header(
	    r->resp, "Content-Type", "application/json; charset=utf-8");
	MHD_add_response_header(r->resp, "Cache-Control", "no-store");
	r->status = status;
	r->state = REQ_READY;
	/* Called from on_request itself, the response is queued there. */
	if (r->suspended) {
		r->suspended = false;
		MHD_resume_connection(r->conn);
		hd->kick = true;
	}
}

static struct MHD_Daemon *
start(struct healthd *hd, const struct sockaddr *sa, uint16_t port,
    unsigned flags)
{
	return MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
		MHD_USE_ERROR_LOG | flags,
	    port, NULL, NULL, on_request, hd, MHD_OPTION_EXTERNAL_LOGGER,
	    mhd_log, hd, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_LIMIT,
	    hd->limit, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HEALTHD_IDLE_S,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, hd,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, hd, MHD_OPTION_END);
}

struct healthd *
healthd_start(const char *addr, uint16_t port, healthd_fn fn, void *ctx,
    char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM },
			*ai = NULL;
	const union MHD_DaemonInfo *info;
	struct rlimit rl;
	struct healthd *hd;
	char service[8];
	int r, saved;

	if ((hd = calloc(1, sizeof(*hd))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	hd->fn = fn;
	hd->ctx = ctx;
	hd->conns_tail = &hd->conns;
	hd->limit = HEALTHD_CONNECTIONS_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 2 < hd->limit)
		hd->limit = rl.rlim_cur / 2 < HEALTHD_CONNECTIONS_MIN ?
		    HEALTHD_CONNECTIONS_MIN :
		    (unsigned)(rl.rlim_cur / 2);
	if (addr != NULL) {
		snprintf(service, sizeof(service), "%u", (unsigned)port);
		if ((r = getaddrinfo(addr, service, &hints, &ai)) != 0) {
			errf(err, errlen, "%s: %s", addr, gai_strerror(r));
			free(hd);
			return NULL;
		}
		errno = 0;
		hd->d = start(hd, ai->ai_addr, port,
		    ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
		freeaddrinfo(ai);
	} else {
		errno = 0;
		hd->d = start(hd, NULL, port, MHD_USE_DUAL_STACK);
		if (hd->d == NULL && errno != EADDRINUSE)
			hd->d = start(hd, NULL, port, 0);
	}
	if (hd->d == NULL) {
		saved = errno;
		errf(err, errlen, "%s port %u: %s", addr != NULL ? addr : "*",
		    (unsigned)port,
		    saved != 0 ? strerror(saved) : "cannot listen");
		free(hd);
		return NULL;
	}
	info = MHD_get_daemon_info(hd->d, MHD_DAEMON_INFO_BIND_PORT);
	hd->port = info != NULL ? info->port : port;
	info = MHD_get_daemon_info(hd->d, MHD_DAEMON_INFO_EPOLL_FD);
	loop_timer_init(&hd->timer, timer_fire, hd);
	hd->io = (struct loop_io){ .fd = info->epoll_fd,
		.events = POLLIN,
		.prepare = io_prepare,
		.ready = io_ready,
		.ctx = hd };
	loop_io_add(&hd->io);
	hd->m_conns = (struct metric){ .name = "health_connections",
		.help = "Connections open to the health server.",
		.type = METRIC_GAUGE,
		.read = read_connections,
		.ctx = hd };
	metric_register(&hd->m_conns);
	return hd;
}

uint16_t
healthd_port(const struct healthd *hd)
{
	return hd->port;
}

/*
 * Stop listening and close every connection.  Requests still waiting
 * are answered 503 first, as far as their sockets take it at once.
 */
void
healthd_stop(struct healthd *hd)
{
	int i;

	if (hd == NULL)
		return;
	while (hd->waiting != NULL)
		healthd_reply(hd->waiting, 503, "{}");
	for (i = 0; i < 3 && hd->kick; i++)
		run(hd);
	metric_unregister(&hd->m_conns);
	loop_io_del(&hd->io);
	loop_timer_stop(&hd->timer);
	MHD_stop_daemon(hd->d);
	free(hd);
}
