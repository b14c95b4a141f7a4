/*
 * HTTP/1.1 client requests on the poll loop, through libcurl's multi
 * interface (its sockets and timers become loop_io and loop_timer).
 * Used for REST peers: the Axway harvester and resources, the Flyte
 * API.  One request at a time or many; each ends exactly once through
 * its done callback, the last thing that touches it: done may free
 * whatever owns the request, cancel or start others, even end the
 * client with http_cleanup(); the request is freed when done returns.
 *
 * Response bodies are kept in memory up to max_body (default 16 MiB);
 * a longer one fails the request (CURLE_FILESIZE_EXCEEDED).  TLS
 * verification is on unless insecure is set (which warns).  Header
 * values given here (a bearer token) are never logged.
 */
#ifndef EVPIPE_HTTP_H
#define EVPIPE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_req;

struct http_opts {
	const char *cacert; /* PEM trust anchors; NULL: system store */
	bool insecure;
	/* http://[user:pass@]host:port: every request goes through a
	 * CONNECT tunnel; NULL: https_proxy (or http_proxy for an http://
	 * URL) and no_proxy, as the gRPC channel reads them; "": none */
	const char *proxy;
	/* host:port to connect to instead of the URL's (the name stays
	 * the URL's for TLS and Host), or NULL */
	const char *connect_to;
	int64_t timeout_ms; /* whole request; 0: 10 s */
	int64_t connect_timeout_ms; /* 0: 10 s */
	size_t max_body; /* 0: 16 MiB */
};

struct http_resp {
	int curl_code; /* CURLE_OK, or what failed */
	const char *error; /* libcurl's message when curl_code != 0 */
	long status; /* HTTP status, 0 when none arrived */
	const char *body; /* NUL-terminated; len bytes */
	size_t len;
};

typedef void (*http_done_fn)(
    struct http_req *, const struct http_resp *, void *);

/*
 * Start a request: method "GET", "POST", ...; headers "Name: value"
 * (NULL-terminated array, may be NULL); body may be NULL.  NULL only
 * when out of memory or the options are unusable (err says why).
 */
struct http_req *http_start(const struct http_opts *, const char *,
    const char *, const char *const *, const void *, size_t, http_done_fn,
    void *, char *, size_t);
/* A response header (case-insensitive name), valid during done. */
const char *http_header(const struct http_req *, const char *);
/* Abandon a request: done is not called (from its own done: no-op). */
void http_cancel(struct http_req *);
/* Requests not yet done. */
size_t http_pending(void);
/* Abandon every request; the next http_start() begins afresh. */
void http_cleanup(void);

#endif
