/*
 * Server reflection on every gserver: grpc.reflection.v1 and v1alpha
 * ServerReflectionInfo (the two are the same on the wire).  Internal to
 * the transport: tools only call gserver_reflect_add() (grpc.h).
 */
#ifndef EVPIPE_GRPC_REFLECTION_H
#define EVPIPE_GRPC_REFLECTION_H

#include <stddef.h>

#include "descset.h"
#include "grpc.h"

/* Register both services' methods on the server. */
void reflection_register(struct gserver *);

/* Defined by grpc_server.c for the reflection service. */
const struct descset *gserver_descset(const struct gserver *);
/* The path of the i-th registered method, NULL past the last. */
const char *gserver_method_path(const struct gserver *, size_t);

#endif
