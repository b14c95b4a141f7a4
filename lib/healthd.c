#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "errf.h"
#include "exitcode.h"
#include "healthd.h"
#include "log.h"
#include "loop.h"

#define HEALTHD_CONNECTIONS 32
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

struct healthd {
	struct MHD_Daemon *d;
	struct loop_io io;
	struct loop_timer timer;
	struct healthd_req *waiting;
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

/* Its epoll descriptor is readable: accept, read, answer. */
static void
io_ready(struct loop_io *io, short revents)
{
	struct healthd *hd = io->ctx;

	hd->kick = false;
	MHD_run(hd->d);
}

static void
timer_fire(struct loop_timer *t)
{
	struct healthd *hd = t->ctx;

	hd->kick = false;
	MHD_run(hd->d);
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
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
		    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
			resp = MHD_create_response_from_buffer(
			    0, "", MHD_RESPMEM_PERSISTENT);
			MHD_add_response_header(resp, "Allow", "GET, HEAD");
			return queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
		}
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

/* The request is over (answered, or the connection failed). */
static void
on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct healthd_req *r = *req_cls;

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
	    (unsigned)HEALTHD_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)HEALTHD_IDLE_S, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    hd, MHD_OPTION_END);
}

struct healthd *
healthd_start(const char *addr, uint16_t port, healthd_fn fn, void *ctx,
    char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM },
			*ai = NULL;
	const union MHD_DaemonInfo *info;
	struct healthd *hd;
	char service[8];
	int r, saved;

	if ((hd = calloc(1, sizeof(*hd))) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	hd->fn = fn;
	hd->ctx = ctx;
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
	for (i = 0; i < 3 && hd->kick; i++) {
		hd->kick = false;
		MHD_run(hd->d);
	}
	loop_io_del(&hd->io);
	loop_timer_stop(&hd->timer);
	MHD_stop_daemon(hd->d);
	free(hd);
}
