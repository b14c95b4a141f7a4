/*
 * A client of gRPC server reflection, as grpcurl uses it: on one
 * grpc.reflection.v1.ServerReflection/ServerReflectionInfo stream,
 * file_containing_symbol for a service, then file_by_filename for each
 * import the answers did not already bring, until every file needed is
 * there; the files then go into a pbpool as one FileDescriptorSet.  A
 * server answering UNIMPLEMENTED is asked again on v1alpha (the same
 * messages under grpc.reflection.v1alpha).
 */
#ifndef EVPIPE_REFLECT_CLIENT_H
#define EVPIPE_REFLECT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "grpc.h"
#include "pbdesc.h"

struct reflect;

/*
 * Fires once, from the loop, when the files are in the pool (GRPC_OK),
 * or with the status that ended the search and why (UNIMPLEMENTED:
 * neither v1 nor v1alpha is served; NOT_FOUND: the server does not
 * know the service or a file).  The struct reflect is freed after it.
 */
typedef void reflect_done_fn(void *, int, const char *);

/*
 * Metadata (kept by reference) and a timeout (ms, 0: none) go with the
 * call.  NULL when the call could not even start (gcall_start()):
 * UNAVAILABLE, gchannel_error() says why.
 */
struct reflect *reflect_start(struct gchannel *, const char *,
    const struct gmd *, size_t, int64_t, struct pbpool *, reflect_done_fn *,
    void *);
/* Abandon it; done does not fire. */
void reflect_cancel(struct reflect *);

#endif
