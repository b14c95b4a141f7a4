/* TLS for gRPC with OpenSSL 3: contexts for clients and servers, ALPN h2. */
#ifndef EVPIPE_TLS_H
#define EVPIPE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct tls_opts {
	const char *cacert; /* PEM trust anchors; NULL: system store */
	const char *cert; /* PEM certificate (chain) to present */
	const char *key; /* PEM private key for cert */
	bool insecure; /* client: do not verify the server */
	bool require_client_cert; /* server: mTLS */
};

SSL_CTX *tls_client_ctx(const struct tls_opts *, char *, size_t);
SSL_CTX *tls_server_ctx(const struct tls_opts *, char *, size_t);
SSL *tls_client_new(SSL_CTX *, int, const char *, bool, char *, size_t);
bool tls_cert_wanted(SSL *);
const char *tls_error(void);

#endif
