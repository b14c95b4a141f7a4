#include "config.h"

#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "tls.h"

static const unsigned char alpn_h2[] = "\x02h2";

/* The first queued OpenSSL error, as text; "" when there is none. */
const char *
tls_error(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();
	const char *reason;

	if (e == 0)
		return "";
	/* A failed open() or read() of a PEM file: OpenSSL 3 keeps errno. */
	if (ERR_SYSTEM_ERROR(e))
		reason = strerror(ERR_GET_REASON(e));
	else
		reason = ERR_reason_error_string(e);
	snprintf(
	    buf, sizeof(buf), "%s", reason != NULL ? reason : "unknown error");
	ERR_clear_error();
	return buf;
}

static SSL_CTX *
fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s%s%s: %s", what, path ? " " : "",
	    path ? path : "", tls_error());
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL_CTX *
common(const SSL_METHOD *method, const struct tls_opts *o, char *err,
    size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(method);

	if (ctx == NULL)
		return fail(ctx, err, errlen, "TLS", NULL);
	/* PROTOCOL-HTTP2 "Security": TLS 1.2 or later. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx,
	    SSL_OP_NO_COMPRESSION |
		SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION |
		SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx,
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
		SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	if (o->cert != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1)
		return fail(ctx, err, errlen, "certificate", o->cert);
	if (o->key != NULL &&
	    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
		return fail(ctx, err, errlen, "private key", o->key);
	if (o->cert != NULL && o->key != NULL &&
	    SSL_CTX_check_private_key(ctx) != 1)
		return fail(ctx, err, errlen, "private key", o->key);
	if (o->cacert != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, o->cacert, NULL) != 1)
			return fail(
			    ctx, err, errlen, "CA certificates", o->cacert);
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		return fail(ctx, err, errlen, "system CA certificates", NULL);
	}
	return ctx;
}

/* The ex_data slot set on a client SSL by no_client_cert. */
static int cert_wanted_idx = -1;

/*
 * Fires on a client without a certificate when the server sends a
 * CertificateRequest: notes it (a server that insists just closes the
 * connection, often without an alert), and sends none.
 */
static int
no_client_cert(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)x509;
	(void)pkey;
	SSL_set_ex_data(ssl, cert_wanted_idx, ssl);
	return 0;
}

/* Whether the server of client connection ssl asked for a certificate
 * that we do not have. */
bool
tls_cert_wanted(SSL *ssl)
{
	return cert_wanted_idx >= 0 &&
	    SSL_get_ex_data(ssl, cert_wanted_idx) != NULL;
}

SSL_CTX *
tls_client_ctx(const struct tls_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx = common(TLS_client_method(), o, err, errlen);

	if (ctx == NULL)
		return NULL;
	if (o->cert == NULL) {
		if (cert_wanted_idx < 0)
			cert_wanted_idx = SSL_get_ex_new_index(
			    0, NULL, NULL, NULL, NULL);
		SSL_CTX_set_client_cert_cb(ctx, no_client_cert);
	}
	SSL_CTX_set_verify(
	    ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof(alpn_h2) - 1);
	return ctx;
}

/*
 * Fires during the server's handshake with the client's ALPN list;
 * selects h2 or declines (the client then fails: no h2, no gRPC).
 */
static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *o;

	if (nghttp2_select_next_protocol(&o, outlen, in, inlen) != 1)
		return SSL_TLSEXT_ERR_NOACK;
	*out = o;
	return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *
tls_server_ctx(const struct tls_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;

	if (o->cert == NULL || o->key == NULL) {
		snprintf(err, errlen, "TLS needs a certificate and a key");
		return NULL;
	}
	if ((ctx = common(TLS_server_method(), o, err, errlen)) == NULL)
		return NULL;
	if (o->require_client_cert)
		SSL_CTX_set_verify(ctx,
		    SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	return ctx;
}

/* A client connection on fd: SNI and hostname (or IP) check for host. */
SSL *
tls_client_new(SSL_CTX *ctx, int fd, const char *host, bool verify, char *err,
    size_t errlen)
{
	unsigned char addr[16];
	bool literal = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	/* RFC 6066: no SNI for IP literals. */
	if (!literal && SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	if (verify && !literal && SSL_set1_host(ssl, host) != 1)
		goto fail;
	if (verify && literal &&
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	return ssl;
fail:
	snprintf(err, errlen, "TLS: %s", tls_error());
	SSL_free(ssl);
	return NULL;
}
