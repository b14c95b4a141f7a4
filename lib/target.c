#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errf.h"
#include "target.h"

static bool
port_ok(const char *s, size_t n)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	return v <= 65535; /* 0 only makes sense for listening */
}

/* Parse url into t; on error a message naming what is wrong. */
int
target_parse(struct target *t, const char *url, char *err, size_t errlen)
{
	const char *p, *host, *end, *colon;
	size_t hlen;

	memset(t, 0, sizeof(*t));
	if (strncmp(url, "unix:", 5) == 0) {
		p = url + 5;
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (*p == '\0')
			return errf(err, errlen, "%s: no socket path", url);
		if (strlen(p) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return errf(
			    err, errlen, "%s: socket path too long", url);
		t->unix_socket = true;
		snprintf(t->host, sizeof(t->host), "%s", p);
		snprintf(t->authority, sizeof(t->authority), "localhost");
		return 0;
	}
	if (strncmp(url, "grpc://", 7) == 0) {
		p = url + 7;
	} else if (strncmp(url, "grpcs://", 8) == 0) {
		p = url + 8;
		t->tls = true;
	} else {
		return errf(err, errlen,
		    "%s: not a grpc://, grpcs:// or unix: address", url);
	}
	end = p + strcspn(p, "/?#");
	if (*end == '/' && end[1] == '\0')
		; /* a trailing slash is harmless */
	else if (*end != '\0')
		return errf(err, errlen, "%s: unexpected path or query", url);
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return errf(
		    err, errlen, "%s: user information not allowed", url);
	if (*p == '[') {
		host = p + 1;
		if ((colon = memchr(host, ']', (size_t)(end - host))) == NULL)
			return errf(err, errlen, "%s: unclosed [", url);
		hlen = (size_t)(colon - host);
		colon++;
		if (colon != end && *colon != ':')
			return errf(err, errlen, "%s: junk after ]", url);
		if (colon == end)
			colon = NULL;
	} else {
		host = p;
		colon = memchr(p, ':', (size_t)(end - p));
		hlen = (size_t)((colon != NULL ? colon : end) - host);
	}
	if (hlen == 0)
		return errf(err, errlen, "%s: no host", url);
	if (hlen >= sizeof(t->host))
		return errf(err, errlen, "%s: host name too long", url);
	memcpy(t->host, host, hlen);
	if (colon != NULL) {
		if (!port_ok(colon + 1, (size_t)(end - colon - 1)))
			return errf(err, errlen,
			    "%s: port must be a number from 1 to 65535", url);
		memcpy(t->port, colon + 1, (size_t)(end - colon - 1));
	} else {
		strcpy(t->port, t->tls ? "443" : "80");
	}
	if (*p == '[' && colon == NULL)
		snprintf(t->authority, sizeof(t->authority), "[%s]", t->host);
	else if (*p == '[')
		snprintf(t->authority, sizeof(t->authority), "[%s]:%s", t->host,
		    t->port);
	else if (colon == NULL)
		snprintf(t->authority, sizeof(t->authority), "%s", t->host);
	else
		snprintf(t->authority, sizeof(t->authority), "%s:%s", t->host,
		    t->port);
	return 0;
}

static int
set_flags(int fd, bool tcp)
{
	int one = 1;

	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
		return -1;
	if (tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Non-blocking connect; true once under way (or done). */
static bool
try_connect(int fd, const struct addrinfo *ai)
{
	return set_flags(fd, true) == 0 &&
	    (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		errno == EINPROGRESS);
}

static bool
try_listen(int fd, const struct addrinfo *ai)
{
	int one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
	    listen(fd, 128) == 0 && set_flags(fd, false) == 0;
}

/* A socket for the first address of host:port that use() accepts. */
static int
each_address(const struct target *t, const char *host, int flags,
    bool (*use)(int, const struct addrinfo *), char *err, size_t errlen)
{
	struct addrinfo hints = { 0 }, *res, *ai;
	int fd = -1, r, saved = 0;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, t->port, &hints, &res)) != 0)
		return errf(err, errlen, "%s: %s", t->host, gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd != -1 && use(fd, ai))
			break;
		saved = errno;
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		errf(err, errlen, "%s port %s: %s", t->host, t->port,
		    strerror(saved));
	return fd;
}

/*
 * Start a non-blocking connect to the first address that takes it.
 * Returns the socket (our own, so O_NONBLOCK is fine); the caller polls
 * for POLLOUT and reads SO_ERROR.
 */
int
target_connect(const struct target *t, char *err, size_t errlen)
{
	struct sockaddr_un sun = { 0 };
	int fd;

	if (t->unix_socket) {
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, t->host,
		    strnlen(t->host, sizeof(sun.sun_path) - 1));
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1 || set_flags(fd, false) == -1 ||
		    (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 &&
			errno != EINPROGRESS && errno != EAGAIN)) {
			errf(err, errlen, "%s: %s", t->host, strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		return fd;
	}
	if (strcmp(t->port, "0") == 0)
		return errf(err, errlen, "%s: port 0", t->authority);
	return each_address(
	    t, t->host, AI_ADDRCONFIG, try_connect, err, errlen);
}

/*
 * Make room for a listening socket at path: only a stale socket (no
 * one accepts on it) is removed.  Anything else there, a file given by
 * mistake or the live socket of a running server, is refused.
 */
static int
unix_stale(
    const char *path, const struct sockaddr_un *sun, char *err, size_t errlen)
{
	struct stat sb;
	int fd, r;

	if (lstat(path, &sb) == -1)
		return errno == ENOENT ?
		    0 :
		    errf(err, errlen, "%s: %s", path, strerror(errno));
	if (!S_ISSOCK(sb.st_mode))
		return errf(err, errlen,
		    "%s: exists and is not a socket; refusing to replace it",
		    path);
	/* Non-blocking: a full accept queue (EAGAIN) is a live server. */
	if ((fd = socket(
		 AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	close(fd);
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS)
		return errf(
		    err, errlen, "%s: a server is answering there", path);
	if (errno != ECONNREFUSED)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	if (unlink(path) == -1 && errno != ENOENT)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	return 0;
}

/* A listening socket for t (host "*" or empty: all addresses). */
int
target_listen(const struct target *t, char *err, size_t errlen)
{
	struct sockaddr_un sun = { 0 };
	int fd;

	if (t->unix_socket) {
		sun.sun_family = AF_UNIX;
		memcpy(sun.sun_path, t->host,
		    strnlen(t->host, sizeof(sun.sun_path) - 1));
		if (unix_stale(t->host, &sun, err, errlen) < 0)
			return -1;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    listen(fd, 128) == -1 || set_flags(fd, false) == -1) {
			errf(err, errlen, "%s: %s", t->host, strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		return fd;
	}
	return each_address(t, strcmp(t->host, "*") == 0 ? NULL : t->host,
	    AI_PASSIVE, try_listen, err, errlen);
}
