#include "config.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "errf.h"
#include "exitcode.h"
#include "http.h"
#include "log.h"
#include "loop.h"

#define HTTP_MAX_BODY (16u * 1024 * 1024)
#define HTTP_MAX_HEADERS 64

struct http_req {
	CURL *easy;
	struct curl_slist *hdrs;
	struct curl_slist *connect_to;
	char *buf; /* the response body so far, NUL-terminated */
	size_t len, cap, max;
	char *rhdr[HTTP_MAX_HEADERS]; /* "name: value" of the response */
	size_t nrhdr;
	char errbuf[CURL_ERROR_SIZE];
	bool too_big, in_done;
	http_done_fn done;
	void *ctx;
	struct http_req *next, *prev; /* requests under way */
};

/* A socket libcurl wants watched, as a part of the loop. */
struct http_sock {
	struct loop_io io;
	curl_socket_t fd;
	struct http_sock *next, *prev; /* all of them, for http_cleanup() */
};

static CURLM *multi;
static struct loop_timer timer;
static struct http_req *reqs; /* started, not yet handed to done */
static size_t nreqs;
static struct http_sock *socks;

/* Take r off the list of requests under way and out of libcurl's hands. */
static void
unlink_req(struct http_req *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	curl_multi_remove_handle(multi, r->easy);
}

static void
free_req(struct http_req *r)
{
	size_t i;

	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	curl_slist_free_all(r->connect_to);
	for (i = 0; i < r->nrhdr; i++)
		free(r->rhdr[i]);
	free(r->buf);
	free(r);
}

/*
 * Hand every finished transfer to its owner.  The request leaves the
 * list and libcurl before done runs, and nothing but freeing it comes
 * after: done may free its owner, cancel or start other requests, or
 * end the whole client with http_cleanup() (then the loop stops here).
 */
static void
collect(void)
{
	struct http_resp resp;
	struct http_req *r;
	CURLcode result;
	CURLMsg *m;
	int left;

	while (
	    multi != NULL && (m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		result = m->data.result; /* m goes with the handle */
		curl_easy_getinfo(
		    m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		memset(&resp, 0, sizeof(resp));
		resp.curl_code = r->too_big ? CURLE_FILESIZE_EXCEEDED :
					      (int)result;
		curl_easy_getinfo(
		    r->easy, CURLINFO_RESPONSE_CODE, &resp.status);
		if (r->too_big)
			resp.error = "response body too large";
		else if (resp.curl_code != CURLE_OK)
			resp.error = r->errbuf[0] != '\0' ?
			    r->errbuf :
			    curl_easy_strerror(result);
		resp.body = r->buf != NULL ? r->buf : "";
		resp.len = r->len;
		if (logging(LOG_TRACE)) {
			char *url = NULL, *method = NULL;

			curl_easy_getinfo(
			    r->easy, CURLINFO_EFFECTIVE_URL, &url);
			curl_easy_getinfo(
			    r->easy, CURLINFO_EFFECTIVE_METHOD, &method);
			ltrace("http: %s %s: %ld, %zu bytes%s%s",
			    method ? method : "?", url ? url : "?", resp.status,
			    resp.len, resp.error ? ": " : "",
			    resp.error ? resp.error : "");
		}
		unlink_req(r);
		r->in_done = true;
		r->done(r, &resp, r->ctx); /* still pending while it runs */
		nreqs--;
		free_req(r);
	}
}

/* Fires when a socket libcurl watches is ready: let libcurl act on it. */
static void
sock_ready(struct loop_io *io, short revents)
{
	struct http_sock *s = io->ctx;
	int running, ev = 0;

	if (revents & (POLLIN | POLLHUP))
		ev |= CURL_CSELECT_IN;
	if (revents & POLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (revents & (POLLERR | POLLNVAL))
		ev |= CURL_CSELECT_ERR;
	curl_multi_socket_action(multi, s->fd, ev, &running);
	collect();
}

static void
free_sock(struct http_sock *s)
{
	loop_io_del(&s->io);
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		socks = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	free(s);
}

/*
 * CURLMOPT_SOCKETFUNCTION: fires from inside libcurl when what it waits
 * for on a socket changes.  Keeps one http_sock per socket, known to
 * libcurl through curl_multi_assign() and freed on CURL_POLL_REMOVE.
 */
static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct http_sock *s = sockp;

	if (what == CURL_POLL_REMOVE) {
		if (s != NULL)
			free_sock(s);
		curl_multi_assign(multi, fd, NULL);
		return 0;
	}
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		s->fd = fd;
		s->io = (struct loop_io){
			.fd = fd, .ready = sock_ready, .ctx = s
		};
		loop_io_add(&s->io);
		if ((s->next = socks) != NULL)
			socks->prev = s;
		socks = s;
		curl_multi_assign(multi, fd, s);
	}
	s->io.events = (what & CURL_POLL_IN ? POLLIN : 0) |
	    (what & CURL_POLL_OUT ? POLLOUT : 0);
	return 0;
}

static void
timer_fired(struct loop_timer *t)
{
	int running;

	curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	collect();
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants to be called in ms (-1: never). */
static int
on_timer(CURLM *m, long ms, void *userp)
{
	if (ms < 0)
		loop_timer_stop(&timer);
	else
		loop_timer_in(&timer, ms);
	return 0;
}

static size_t
on_body(char *p, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;
	size_t cap;
	char *b;

	n *= size;
	if (n > r->max - r->len) {
		r->too_big = true;
		return 0; /* CURLE_WRITE_ERROR, reported as too big */
	}
	if (r->len + n + 1 > r->cap) {
		for (cap = r->cap ? r->cap : 4096; cap < r->len + n + 1;)
			cap *= 2;
		if ((b = realloc(r->buf, cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		r->buf = b;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
	return n;
}

/* One header line; a status line starts a new response (redirect, 100). */
static size_t
on_header(char *p, size_t size, size_t n, void *userp)
{
	struct http_req *r = userp;
	size_t len = n * size, i;

	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		for (i = 0; i < r->nrhdr; i++)
			free(r->rhdr[i]);
		r->nrhdr = 0;
		return len;
	}
	while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r'))
		len--;
	if (len > 0 && r->nrhdr < HTTP_MAX_HEADERS &&
	    memchr(p, ':', len) != NULL) {
		if ((r->rhdr[r->nrhdr] = strndup(p, len)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		r->nrhdr++;
	}
	return n * size;
}

static void
setup(void)
{
	if (multi != NULL)
		return;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (multi = curl_multi_init()) == NULL)
		die(EXIT_INTERNAL, "libcurl cannot start");
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	loop_timer_init(&timer, timer_fired, NULL);
}

/*
 * The proxy for url: the option, else the one the gRPC channel would
 * take from the environment (https_proxy, or http_proxy for a
 * cleartext URL when set); NULL for none.  libcurl still applies
 * no_proxy to one from the environment.
 */
static const char *
proxy_for(const struct http_opts *o, const char *url)
{
	const char *p;

	if (o->proxy != NULL)
		return *o->proxy != '\0' ? o->proxy : NULL;
	if ((p = getenv("https_proxy")) == NULL)
		p = getenv("HTTPS_PROXY");
	if (strncasecmp(url, "http://", 7) == 0 && getenv("http_proxy") != NULL)
		p = getenv("http_proxy");
	return p != NULL && *p != '\0' ? p : NULL;
}

struct http_req *
http_start(const struct http_opts *o, const char *method, const char *url,
    const char *const *headers, const void *body, size_t len, http_done_fn done,
    void *ctx, char *err, size_t errlen)
{
	static bool warned;
	struct curl_slist *l;
	struct http_req *r;
	const char *proxy;
	CURL *e;

	setup();
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (e = curl_easy_init()) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	r->easy = e;
	r->done = done;
	r->ctx = ctx;
	r->max = o->max_body > 0 ? o->max_body : HTTP_MAX_BODY;
	for (; headers != NULL && *headers != NULL; headers++) {
		if ((l = curl_slist_append(r->hdrs, *headers)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		r->hdrs = l;
	}
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(
	    e, CURLOPT_USERAGENT, PACKAGE_NAME "/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
	    (long)(o->timeout_ms > 0 ? o->timeout_ms : 10000));
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)(o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000));
	if (o->cacert != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert);
	if (o->insecure) {
		if (!warned)
			lwarn("%s: --insecure: the server's certificate is "
			      "not checked",
			    url);
		warned = true;
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	/* subscribe(1): through a proxy, a CONNECT tunnel for every
	 * request, http:// too (a CONNECT-only proxy refuses the
	 * absolute-URI form); also for one libcurl finds in ALL_PROXY. */
	curl_easy_setopt(e, CURLOPT_HTTPPROXYTUNNEL, 1L);
	if ((proxy = proxy_for(o, url)) != NULL)
		curl_easy_setopt(e, CURLOPT_PROXY, proxy);
	if (o->proxy != NULL) {
		if (*o->proxy == '\0') /* none, whatever the environment */
			curl_easy_setopt(e, CURLOPT_PROXY, "");
		else /* given: no_proxy is not for it */
			curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	}
	if (o->connect_to != NULL) {
		char ct[600];

		/* "::HOST:PORT": any host and port of the URL goes there */
		snprintf(ct, sizeof(ct), "::%s", o->connect_to);
		if ((r->connect_to = curl_slist_append(NULL, ct)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, r->connect_to);
	}
	if (body != NULL) {
		curl_easy_setopt(
		    e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
	}
	if (strcmp(method, "GET") != 0 &&
	    !(strcmp(method, "POST") == 0 && body != NULL))
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK) {
		errf(err, errlen, "%s: not a URL libcurl takes", url);
		curl_easy_cleanup(e);
		curl_slist_free_all(r->hdrs);
		curl_slist_free_all(r->connect_to);
		free(r);
		return NULL;
	}
	if ((r->next = reqs) != NULL)
		reqs->prev = r;
	reqs = r;
	nreqs++;
	curl_multi_add_handle(multi, e);
	return r;
}

const char *
http_header(const struct http_req *r, const char *name)
{
	size_t n = strlen(name), i;
	const char *v;

	for (i = 0; i < r->nrhdr; i++)
		if (strncasecmp(r->rhdr[i], name, n) == 0 &&
		    r->rhdr[i][n] == ':') {
			for (v = r->rhdr[i] + n + 1; *v == ' ' || *v == '\t';)
				v++;
			return v;
		}
	return NULL;
}

/* Abandon a request (from its own done: nothing to do, it ends then). */
void
http_cancel(struct http_req *r)
{
	if (r != NULL && !r->in_done) {
		unlink_req(r);
		nreqs--;
		free_req(r);
	}
}

size_t
http_pending(void)
{
	return nreqs;
}

/* Every request is abandoned (a done running now finishes). */
void
http_cleanup(void)
{
	struct http_req *r;

	while ((r = reqs) != NULL) {
		unlink_req(r);
		nreqs--;
		free_req(r);
	}
	if (multi != NULL) {
		curl_multi_cleanup(multi);
		loop_timer_stop(&timer);
		curl_global_cleanup();
		multi = NULL;
	}
	while (socks != NULL) /* those libcurl did not say it closed */
		free_sock(socks);
}
