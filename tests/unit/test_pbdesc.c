/* Methods of services by gRPC path (pbpool_method), on the library's own
 * descriptor set: what subscribe -P and reflection look the types up by. */
#include "config.h"

#include <string.h>

#include "pbdesc.h"
#include "tap.h"

int
main(void)
{
	struct pbpool *pp = pbpool_new();
	struct pbmethod m;

	is_int(pbpool_method(pp, "/grpc.health.v1.Health/Watch", &m), -1,
	    "an empty pool knows no service");
	pbpool_add_builtin(pp);

	memset(&m, 0, sizeof(m));
	is_int(pbpool_method(pp, "/grpc.health.v1.Health/Watch", &m), 0,
	    "a server-streaming method");
	is_str(m.input, "grpc.health.v1.HealthCheckRequest", "its input");
	is_str(m.output, "grpc.health.v1.HealthCheckResponse", "its output");
	ok(!m.client_streaming && m.server_streaming, "its streaming");
	ok(pbpool_message(pp, m.input) != NULL, "its input type resolves");

	is_int(pbpool_method(pp,
		   "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		   &m),
	    0, "a bidirectional method");
	ok(m.client_streaming && m.server_streaming, "both streaming");
	is_str(m.input, "grpc.reflection.v1.ServerReflectionRequest",
	    "the right package's input (v1, not v1alpha)");

	is_int(pbpool_method(pp, "/grpc.health.v1.Health/Nothing", &m), -2,
	    "a method the service lacks");
	is_int(pbpool_method(pp, "/grpc.health.v1.Healt/Watch", &m), -1,
	    "a prefix of a service's name is none");
	is_int(pbpool_method(pp, "/grpc.health.v1.HealthX/Watch", &m), -1,
	    "nor is a longer name");
	is_int(pbpool_method(pp, "/grpc.health.Health/Watch", &m), -1,
	    "nor one in a package's prefix");
	is_int(pbpool_method(pp, "/Health/Watch", &m), -1,
	    "nor the bare service name");
	is_int(pbpool_method(pp, "grpc.health.v1.Health/Watch", &m), -1,
	    "a path starts with a slash");
	is_int(pbpool_method(pp, "/grpc.health.v1.Health", &m), -1,
	    "and names a method");
	pbpool_free(pp);
	return done_testing();
}
