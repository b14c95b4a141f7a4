/*
 * Exit statuses of every evpipe tool (evpipe(7), EXIT STATUS).
 * These values never change; scripts depend on them.
 */
#ifndef EVPIPE_EXITCODE_H
#define EVPIPE_EXITCODE_H

enum {
	EXIT_OK = 0,
	/* 1..16: the gRPC status code the call ended with. */
	EXIT_GRPC_MAX = 16,
	EXIT_USAGE = 64, /* bad command line */
	EXIT_DATA = 65, /* malformed input records or lines */
	EXIT_CONNECT = 69, /* could not connect, TLS or ALPN failure */
	EXIT_INTERNAL = 70, /* internal error */
	EXIT_IO = 74, /* local I/O error (stdin, stdout, files) */
};

#endif
