#include "config.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcode.h"
#include "grpcwire.h"
#include "log.h"

#define TIMEOUT_DIGITS 8
#define TIMEOUT_VALUE_MAX 99999999

static const char *const status_names[] = {
	"OK",
	"CANCELLED",
	"UNKNOWN",
	"INVALID_ARGUMENT",
	"DEADLINE_EXCEEDED",
	"NOT_FOUND",
	"ALREADY_EXISTS",
	"PERMISSION_DENIED",
	"RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION",
	"ABORTED",
	"OUT_OF_RANGE",
	"UNIMPLEMENTED",
	"INTERNAL",
	"UNAVAILABLE",
	"DATA_LOSS",
	"UNAUTHENTICATED",
};

const char *
grpc_status_name(int code)
{
	if (code < 0 ||
	    (size_t)code >= sizeof(status_names) / sizeof(status_names[0]))
		return "UNKNOWN_STATUS";
	return status_names[code];
}

int
grpc_status_from_http(int http)
{
	/* http-grpc-status-mapping.md; 200 without grpc-status is UNKNOWN
	 * too. */
	switch (http) {
	case 400:
	case 431:
		return GRPC_INTERNAL;
	case 401:
		return GRPC_UNAUTHENTICATED;
	case 403:
		return GRPC_PERMISSION_DENIED;
	case 404:
		return GRPC_UNIMPLEMENTED;
	case 429:
	case 502:
	case 503:
	case 504:
		return GRPC_UNAVAILABLE;
	default:
		return GRPC_UNKNOWN;
	}
}

int
grpc_status_from_h2_error(uint32_t code)
{
	/*
	 * RFC 9113 7 numbering.  STREAM_CLOSED has no mapping in
	 * PROTOCOL-HTTP2 and HTTP_1_1_REQUIRED and unknown codes none at
	 * all; they fall to INTERNAL, as in grpc core.
	 */
	switch (code) {
	case 0x7: /* REFUSED_STREAM: nothing processed, retry */
		return GRPC_UNAVAILABLE;
	case 0x8: /* CANCEL */
		return GRPC_CANCELLED;
	case 0xb: /* ENHANCE_YOUR_CALM */
		return GRPC_RESOURCE_EXHAUSTED;
	case 0xc: /* INADEQUATE_SECURITY */
		return GRPC_PERMISSION_DENIED;
	default:
		return GRPC_INTERNAL;
	}
}

int
grpc_status_parse(const char *s, size_t n)
{
	size_t i;
	int v = 0;

	/* Nine digits always fit an int; no real status comes close. */
	if (n == 0 || n > 9 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int64_t
grpc_timeout_parse(const char *s, size_t n)
{
	int64_t v = 0;
	size_t i;

	/* PROTOCOL-HTTP2: TimeoutValue is at most 8 digits, then a unit. */
	if (n < 2 || n > TIMEOUT_DIGITS + 1)
		return -1;
	for (i = 0; i < n - 1; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	switch (s[n - 1]) {
	case 'H':
		return v * 60 * 60 * 1000;
	case 'M':
		return v * 60 * 1000;
	case 'S':
		return v * 1000;
	case 'm':
		return v;
	case 'u':
		return (v + 999) / 1000;
	case 'n':
		return (v + 999999) / 1000000;
	default:
		return -1;
	}
}

/* x / d rounded up, for x >= 0, without overflow. */
static int64_t
div_up(int64_t x, int64_t d)
{
	return x / d + (x % d != 0);
}

void
grpc_timeout_format(char *buf, int64_t ms)
{
	static const int64_t step[] = { 1000, 60, 60 };
	static const char unit[] = "mSMH";
	size_t u = 0;
	int len;

	/*
	 * Round up while moving to a coarser unit: the peer then never
	 * sees a deadline earlier than ours.
	 */
	if (ms < 0)
		ms = 0;
	while (ms > TIMEOUT_VALUE_MAX && u < 3) {
		ms = div_up(ms, step[u]);
		u++;
	}
	if (ms > TIMEOUT_VALUE_MAX)
		ms = TIMEOUT_VALUE_MAX;
	len = snprintf(buf, GRPC_TIMEOUT_MAX, "%lld", (long long)ms);
	buf[len] = unit[u];
	buf[len + 1] = '\0';
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

size_t
grpc_message_encode(char *out, const char *in, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t i, o = 0;

	/* PROTOCOL-HTTP2: Percent-Byte-Unencoded is 0x20-0x24 / 0x26-0x7E. */
	for (i = 0; i < n; i++) {
		c = (unsigned char)in[i];
		if (c >= 0x20 && c <= 0x7e && c != '%') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 0xf];
		}
	}
	out[o] = '\0';
	return o;
}

size_t
grpc_message_decode(char *out, const char *in, size_t n)
{
	size_t i, o = 0;
	int hi, lo;

	/* PROTOCOL-HTTP2: never fail; a broken escape stays as it is. */
	for (i = 0; i < n; i++) {
		if (in[i] == '%' && n - i >= 3 &&
		    (hi = hexval((unsigned char)in[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
	return o;
}

/* Headers the transport sets itself or that HTTP/2 forbids (RFC 9113
 * 8.2.2); custom metadata must not repeat them. */
static const char *const transport_headers[] = {
	"te",
	"content-type",
	"user-agent",
	"host",
	"connection",
	"keep-alive",
	"proxy-connection",
	"transfer-encoding",
	"upgrade",
};

bool
grpc_md_name_ok(const char *s, size_t n)
{
	size_t i;
	unsigned char c;

	if (n == 0)
		return false;
	/* PROTOCOL-HTTP2: names are 0-9 a-z _ - . ("grpc-" is reserved);
	 * this also keeps out ":" pseudo-headers. */
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			c == '_' || c == '-' || c == '.'))
			return false;
	}
	if (n >= 5 && memcmp(s, "grpc-", 5) == 0)
		return false;
	for (i = 0;
	     i < sizeof(transport_headers) / sizeof(transport_headers[0]); i++)
		if (strlen(transport_headers[i]) == n &&
		    memcmp(s, transport_headers[i], n) == 0)
			return false;
	return true;
}

/* Does the n bytes at s contain word (lower case), in any case? */
static bool
contains_word(const char *s, size_t n, const char *word)
{
	size_t w = strlen(word), i, j;

	for (i = 0; i + w <= n; i++) {
		for (j = 0; j < w; j++)
			if (tolower((unsigned char)s[i + j]) != word[j])
				break;
		if (j == w)
			return true;
	}
	return false;
}

bool
grpc_md_secret(const char *s, size_t n)
{
	static const char *const names[] = { "authorization",
		"proxy-authorization", "cookie", "set-cookie",
		"x-engflow-auth-token" };
	static const char *const words[] = { "token", "secret", "password",
		"key" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == n && contains_word(s, n, names[i]))
			return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (contains_word(s, n, words[i]))
			return true;
	return false;
}

/* Append the n bytes at s to buf (room for cap, NUL included) at *len,
 * bytes outside 0x20-0x7E as \xNN; stops when full. */
static void
trace_put(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c <= 0x7e && c != '\\') {
			if (*len + 1 >= cap)
				break;
			buf[(*len)++] = (char)c;
		} else {
			if (*len + 4 >= cap)
				break;
			buf[(*len)++] = '\\';
			buf[(*len)++] = 'x';
			buf[(*len)++] = hex[c >> 4];
			buf[(*len)++] = hex[c & 15];
		}
	}
	buf[*len] = '\0';
}

size_t
grpc_md_trace(char *buf, size_t cap, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	char redacted[48];
	size_t len = 0;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	trace_put(buf, cap, &len, name, nlen);
	trace_put(buf, cap, &len, ": ", 2);
	if (grpc_md_secret(name, nlen)) {
		snprintf(
		    redacted, sizeof(redacted), "<redacted %zu bytes>", vlen);
		trace_put(buf, cap, &len, redacted, strlen(redacted));
	} else {
		trace_put(buf, cap, &len, value, vlen);
	}
	return len;
}

bool
grpc_md_binary(const char *s, size_t n)
{
	return n >= 4 && memcmp(s + n - 4, "-bin", 4) == 0;
}

void
grpc_prefix_put(uint8_t *p, uint32_t len)
{
	p[0] = 0; /* never compressed */
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
}

void
grpc_deframer_init(struct grpc_deframer *d, uint32_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}

/* The prefix is complete: check it and take the length. */
static int
prefix_done(struct grpc_deframer *d)
{
	/* PROTOCOL-HTTP2: Compressed-Flag 1 needs a grpc-encoding, which
	 * we never negotiate; other values are undefined. */
	if (d->hdr[0] == 1)
		return GRPC_DEFRAME_COMPRESSED;
	if (d->hdr[0] != 0)
		return GRPC_DEFRAME_BAD_FLAG;
	d->len = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
	    (uint32_t)d->hdr[3] << 8 | (uint32_t)d->hdr[4];
	if (d->len > d->max)
		return GRPC_DEFRAME_TOO_BIG;
	d->have = 0;
	return GRPC_DEFRAME_OK;
}

long
grpc_deframer_feed(struct grpc_deframer *d, const uint8_t *p, size_t n,
    int (*on_msg)(void *, const uint8_t *, size_t), void *ctx)
{
	size_t used = 0, take;
	int r, stop;

	/* The count must fit the return value; the caller feeds the rest
	 * again, as after a pause. */
	if (n > LONG_MAX)
		n = LONG_MAX;
	while (used < n) {
		if (d->hlen < GRPC_PREFIX) {
			take = GRPC_PREFIX - d->hlen;
			if (take > n - used)
				take = n - used;
			memcpy(d->hdr + d->hlen, p + used, take);
			d->hlen += take;
			used += take;
			if (d->hlen < GRPC_PREFIX)
				break;
			if ((r = prefix_done(d)) != GRPC_DEFRAME_OK)
				return r;
		}
		if (d->msg == NULL && n - used >= d->len) {
			/* Whole body here: hand it over in place.  An empty
			 * body still needs a non-NULL pointer. */
			d->hlen = 0;
			d->messages++;
			stop = on_msg(
			    ctx, d->len > 0 ? p + used : d->hdr, d->len);
			used += d->len;
			if (stop)
				break;
			continue;
		}
		if (used == n)
			break;
		if (d->msg == NULL) {
			/* len <= max was checked by prefix_done(). */
			if ((d->msg = malloc(d->len)) == NULL)
				die(EXIT_INTERNAL, "out of memory");
		}
		take = d->len - d->have;
		if (take > n - used)
			take = n - used;
		memcpy(d->msg + d->have, p + used, take);
		d->have += (uint32_t)take;
		used += take;
		if (d->have < d->len)
			break;
		d->hlen = 0;
		d->messages++;
		stop = on_msg(ctx, d->msg, d->len);
		/*
		 * Not kept for the next message: most arrive whole, and an
		 * idle call should not hold up to max bytes.
		 */
		free(d->msg);
		d->msg = NULL;
		if (stop)
			break;
	}
	return (long)used;
}

bool
grpc_deframer_mid_message(const struct grpc_deframer *d)
{
	return d->hlen > 0;
}

void
grpc_deframer_free(struct grpc_deframer *d)
{
	free(d->msg);
	d->msg = NULL;
	d->hlen = 0;
	d->have = 0;
}
