/* lib/http.c against a fake HTTP/1.1 server on the same loop. */
#include "config.h"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "log.h"
#include "loop.h"
#include "tap.h"

static struct loop_io lio, cio;
static char req[8192];
static size_t reqlen;
static int port;

static const char *
answer_for(const char *r)
{
	if (strncmp(r, "GET /ok ", 8) == 0)
		return "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
		       "X-Axway-Max-Sequence-Id: 42\r\n"
		       "Connection: close\r\n\r\nhello";
	if (strncmp(r, "POST /packs ", 12) == 0)
		return "HTTP/1.1 201 Created\r\nLocation: /v1/packs/p1\r\n"
		       "Content-Length: 0\r\nConnection: close\r\n\r\n";
	if (strncmp(r, "GET /big ", 9) == 0)
		return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
		       "Connection: close\r\n\r\n"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	return "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
	       "Connection: close\r\n\r\n";
}

/* Read the request; once headers and body are in, answer and close. */
static void
conn_ready(struct loop_io *io, short revents)
{
	const char *end, *cl;
	size_t body = 0;
	ssize_t n;

	n = read(io->fd, req + reqlen, sizeof(req) - 1 - reqlen);
	if (n <= 0)
		goto close;
	reqlen += (size_t)n;
	req[reqlen] = '\0';
	if ((end = strstr(req, "\r\n\r\n")) == NULL)
		return;
	if ((cl = strcasestr(req, "\r\nContent-Length: ")) != NULL)
		body = strtoul(cl + 18, NULL, 10);
	if (reqlen < (size_t)(end + 4 - req) + body)
		return;
	if (write(io->fd, answer_for(req), strlen(answer_for(req))) < 0)
		abort();
close:
	loop_io_del(io);
	close(io->fd);
}

static void
accept_ready(struct loop_io *io, short revents)
{
	int fd = accept(io->fd, NULL, NULL);

	if (fd < 0)
		return;
	reqlen = 0;
	cio = (struct loop_io){
		.fd = fd, .events = POLLIN, .ready = conn_ready
	};
	loop_io_add(&cio);
}

static int
listen_any(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		abort();
	port = ntohs(a.sin_port);
	return fd;
}

struct result {
	int code;
	long status;
	char body[256], location[64], seq[16];
};

static void
done(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	struct result *res = ctx;
	const char *h;

	res->code = resp->curl_code;
	res->status = resp->status;
	snprintf(res->body, sizeof(res->body), "%s", resp->body);
	if ((h = http_header(r, "location")) != NULL)
		snprintf(res->location, sizeof(res->location), "%s", h);
	if ((h = http_header(r, "X-AXWAY-MAX-SEQUENCE-ID")) != NULL)
		snprintf(res->seq, sizeof(res->seq), "%s", h);
	if (http_pending() == 1)
		loop_quit(0);
}

static void
run(struct http_opts *o, const char *method, const char *path,
    const char *const *hdrs, const char *body, struct result *res)
{
	char url[128], err[300];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	memset(res, 0, sizeof(*res));
	ok(http_start(o, method, url, hdrs, body, body ? strlen(body) : 0, done,
	       res, err, sizeof(err)) != NULL,
	    "%s %s started", method, path);
	loop_run();
}

/* A done that ends the whole client, as a failed catch-up stopping
 * subscribe does: the request is not touched after it. */
static struct http_req *other;
static int ended;

static void
done_and_cleanup(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	http_cancel(r); /* its own: nothing */
	ended++;
	http_cleanup(); /* other goes too, without its done */
	loop_quit(0);
}

static void
done_never(struct http_req *r, const struct http_resp *resp, void *ctx)
{
	ended += 100;
}

int
main(void)
{
	const char *hdrs[] = { "Authorization: Bearer t0k",
		"Content-Type: application/json", NULL };
	struct http_opts o = { .timeout_ms = 10000 };
	struct result res;
	int fd;

	log_init("test_http");
	verbosity = LOG_ERROR;
	lio = (struct loop_io){
		.fd = listen_any(), .events = POLLIN, .ready = accept_ready
	};
	loop_io_add(&lio);

	run(&o, "GET", "/ok", hdrs, NULL, &res);
	is_int(res.code, CURLE_OK, "GET ok");
	is_int(res.status, 200, "... 200");
	is_str(res.body, "hello", "... body");
	is_str(res.seq, "42", "response header, any case");
	ok(strncmp(req, "GET /ok HTTP/1.1\r\n", 18) == 0, "request line");
	ok(strstr(req, "\r\nAuthorization: Bearer t0k\r\n") != NULL,
	    "our header sent");
	ok(strstr(req, "\r\nUser-Agent: " PACKAGE_NAME "/") != NULL,
	    "user agent");

	run(&o, "POST", "/packs", hdrs, "{\"name\":\"p\"}", &res);
	is_int(res.status, 201, "POST 201");
	is_str(res.location, "/v1/packs/p1", "Location read, not followed");
	ok(strstr(req, "\r\n\r\n{\"name\":\"p\"}") != NULL, "body sent");

	run(&o, "DELETE", "/nothing", NULL, NULL, &res);
	is_int(res.status, 404, "another method, 404");
	ok(strncmp(req, "DELETE /nothing ", 16) == 0, "... method sent");

	o.max_body = 10;
	run(&o, "GET", "/big", NULL, NULL, &res);
	is_int(res.code, CURLE_FILESIZE_EXCEEDED, "over max_body fails");
	o.max_body = 0;

	loop_io_del(&lio);
	close(lio.fd);
	fd = listen_any(); /* a port nobody listens on */
	close(fd);
	run(&o, "GET", "/ok", NULL, NULL, &res);
	is_int(res.code, CURLE_COULDNT_CONNECT, "refused: COULDNT_CONNECT");
	is_int(res.status, 0, "... no status");

	/* the refusal above ends at once; the second request waits on a
	 * listener that never answers */
	{
		char url[128], err[300];
		int quiet = listen_any();

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
		other = http_start(
		    &o, "GET", url, NULL, NULL, 0, done_never, NULL, err, 300);
		fd = listen_any();
		close(fd);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
		ok(http_start(&o, "GET", url, NULL, NULL, 0, done_and_cleanup,
		       NULL, err, sizeof(err)) != NULL &&
			other != NULL,
		    "two requests started");
		is_int((int)http_pending(), 2, "... both pending");
		loop_run();
		is_int(ended, 1, "a done that ends the client: once, no other");
		is_int((int)http_pending(), 0, "... nothing pending after");
		close(quiet);
	}

	http_cleanup();
	return done_testing();
}
