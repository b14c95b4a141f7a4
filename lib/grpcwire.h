/*
 * The pure parts of gRPC over HTTP/2: the 5-byte message prefix, status
 * codes and their mappings, grpc-timeout, grpc-message percent-encoding
 * and metadata names.  No I/O; every function is total on any input.
 */
#ifndef EVPIPE_GRPCWIRE_H
#define EVPIPE_GRPCWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum grpc_status {
	GRPC_OK = 0,
	GRPC_CANCELLED = 1,
	GRPC_UNKNOWN = 2,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_ALREADY_EXISTS = 6,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_ABORTED = 10,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
	GRPC_DATA_LOSS = 15,
	GRPC_UNAUTHENTICATED = 16,
};

#define GRPC_PREFIX 5 /* flag + 4-byte big-endian length */
#define GRPC_MAX_RECV_DEFAULT (4u * 1024 * 1024)

/* "OK", "CANCELLED", ...; "UNKNOWN_STATUS" outside 0..16. */
const char *grpc_status_name(int);
/* PROTOCOL-HTTP2 / http-grpc-status-mapping: status for an HTTP status
 * when grpc-status is absent. */
int grpc_status_from_http(int);
/* PROTOCOL-HTTP2 "Errors": status for an RST_STREAM error code. */
int grpc_status_from_h2_error(uint32_t);
/* grpc-status value: decimal, no sign, no leading zeros (but "0");
 * returns the code or -1 when it does not parse (caller: UNKNOWN). */
int grpc_status_parse(const char *, size_t);

/*
 * grpc-timeout: at most 8 digits and a unit (H M S m u n).  Parse gives
 * milliseconds, rounding u and n up; -1 when malformed.  Format picks
 * the finest unit that fits 8 digits (ms, then S, M, H), clamped at
 * 99999999H; buf must hold GRPC_TIMEOUT_MAX bytes.
 */
#define GRPC_TIMEOUT_MAX 10
int64_t grpc_timeout_parse(const char *, size_t);
void grpc_timeout_format(char *, int64_t);

/*
 * grpc-message: bytes 0x20-0x7E except '%' stay, others become %XX
 * (upper case).  Encode writes at most 3*n+1 bytes (NUL-terminated) and
 * returns the length.  Decode never fails: a broken escape is kept as
 * it is; it writes at most n+1 bytes and returns the length.
 */
size_t grpc_message_encode(char *, const char *, size_t);
size_t grpc_message_decode(char *, const char *, size_t);

/* Metadata names: 0-9 a-z _ - . only; reserved when they start "grpc-"
 * or are pseudo/transport headers we set ourselves. */
bool grpc_md_name_ok(const char *, size_t);
bool grpc_md_binary(const char *, size_t); /* ends in "-bin" */

/*
 * Traces (-v -v) never show secrets: the values of authorization,
 * proxy-authorization, cookie, set-cookie, x-engflow-auth-token and of
 * any header whose name contains "token", "secret", "password" or "key"
 * (in any case).  grpc_md_trace() writes "name: value" into buf (cap >
 * 0, always NUL-terminated, cut to fit), a secret's value as "<redacted
 * N bytes>", other bytes outside 0x20-0x7E as \xNN; it returns the
 * length written.
 */
bool grpc_md_secret(const char *, size_t);
size_t grpc_md_trace(
    char *, size_t, const char *, size_t, const char *, size_t);

/* The 5-byte prefix. */
void grpc_prefix_put(uint8_t *, uint32_t);

/*
 * Incremental de-framer: feed DATA payload bytes as they come, in any
 * split; each complete message is handed to the caller.  Lengths over
 * max are refused before any allocation.
 */
enum {
	GRPC_DEFRAME_OK = 0,
	GRPC_DEFRAME_TOO_BIG = -1, /* RESOURCE_EXHAUSTED */
	GRPC_DEFRAME_COMPRESSED =
	    -2, /* flag 1 without grpc-encoding: INTERNAL */
	GRPC_DEFRAME_BAD_FLAG = -3, /* flag other than 0 or 1: INTERNAL */
};
struct grpc_deframer {
	uint32_t max;
	uint8_t hdr[GRPC_PREFIX];
	size_t hlen; /* prefix bytes collected */
	uint8_t *msg; /* body being collected */
	uint32_t len, have;
	uint64_t messages; /* complete messages so far */
};
void grpc_deframer_init(struct grpc_deframer *, uint32_t);
/*
 * Feed n bytes.  For each complete message, on_msg(ctx, body, len) is
 * called; the body is valid only during the call.  Returns the number of
 * bytes used (all of them unless on_msg returned non-zero, which stops
 * feeding after that message: a paused consumer) or a GRPC_DEFRAME_*
 * error.  mid_message() says whether a message is partly collected (an
 * end of stream there is an error).
 */
long grpc_deframer_feed(struct grpc_deframer *, const uint8_t *, size_t,
    int (*)(void *, const uint8_t *, size_t), void *);
bool grpc_deframer_mid_message(const struct grpc_deframer *);
void grpc_deframer_free(struct grpc_deframer *);

#endif
