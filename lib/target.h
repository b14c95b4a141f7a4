/*
 * Where a gRPC peer is: grpc://host[:port] (cleartext HTTP/2 with prior
 * knowledge), grpcs://host[:port] (TLS), unix:/path.  IPv6 literals go in
 * brackets.  Ports default to 80 and 443.
 */
#ifndef EVPIPE_TARGET_H
#define EVPIPE_TARGET_H

#include <stdbool.h>
#include <stddef.h>

struct target {
	bool tls;
	bool unix_socket;
	char host[256]; /* no brackets; the socket path for unix: */
	char port[6];
	char authority[300]; /* :authority, host[:port] as on the wire */
};

int target_parse(struct target *, const char *, char *, size_t);
int target_connect(const struct target *, char *, size_t);
int target_listen(const struct target *, char *, size_t);

#endif
