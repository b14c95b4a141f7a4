/* The descriptor-set index behind server reflection, on the library's
 * own set (protoc --include_imports over proto/) and a hand-made one. */
#include "config.h"

#include <string.h>

#include "descset.h"
#include "tap.h"

static const char *
file_of(const struct descset *d, const char *symbol)
{
	const struct descfile *f = descset_symbol(d, symbol);

	return f != NULL ? f->name : "(none)";
}

int
main(void)
{
	struct descset *d = descset_new();
	const struct descfile *f, *files[64];
	int32_t nums[8];
	char err[200];
	size_t n, i;
	int any = 0, first_health = 0;
	/* file "a.proto" package "p": message M { extensions; } and
	 * extend M { int32 x = 100; }, then a duplicate "a.proto". */
	static const char set[] = "\x0a\x22" /* file, 34 bytes */
				  "\x0a\x07"
				  "a.proto" /* name */
				  "\x12\x01p" /* package */
				  "\x22\x03\x0a\x01M" /* message_type M */
				  "\x3a\x0f" /* extension, 15 bytes */
				  "\x0a\x01x" /* name */
				  "\x12\x04.p.M" /* extendee */
				  "\x18\x64" /* number 100 */
				  "\x20\x01" /* label optional */
				  "\x28\x05" /* type int32 */
				  "\x0a\x09" /* file, 9 bytes */
				  "\x0a\x07"
				  "a.proto";
	static const uint8_t bad[] = { 0x0a, 0x05, 0x0a, 0x07, 'a' };

	is_int(descset_add(d, evpipe_descriptor_set, evpipe_descriptor_set_len,
		   err, sizeof(err)),
	    0, "the library's set parses");
	f = descset_file(d, "health.proto");
	ok(f != NULL && f->len > 0, "health.proto by name");
	ok(descset_file(d, "google/protobuf/any.proto") != NULL,
	    "imports are in (--include_imports)");
	ok(descset_file(d, "nosuch.proto") == NULL, "unknown file");
	is_str(file_of(d, "grpc.health.v1.Health"), "health.proto", "service");
	is_str(file_of(d, "grpc.health.v1.Health.Watch"), "health.proto",
	    "method");
	is_str(file_of(d, "grpc.health.v1.HealthCheckResponse.ServingStatus"),
	    "health.proto", "nested enum");
	is_str(file_of(d, "grpc.health.v1.HealthCheckResponse.SERVING"),
	    "health.proto", "enum value, in the enum's enclosing scope");
	is_str(file_of(d, "grpc.health.v1.HealthCheckResponse.status"),
	    "health.proto", "field");
	is_str(
	    file_of(d,
		"grpc.reflection.v1.ServerReflectionRequest.message_request"),
	    "grpc/reflection/v1/reflection.proto", "oneof");
	is_str(file_of(d, "grpc.reflection.v1alpha.ServerReflection"),
	    "grpc/reflection/v1alpha/reflection.proto", "v1alpha service");
	is_str(file_of(d, "google.protobuf.Any"), "google/protobuf/any.proto",
	    "message of an imported file");
	is_str(
	    file_of(d, "grpc.health.v1"), "(none)", "a package is no symbol");
	is_str(file_of(d, "grpc.health.v1.Nope"), "(none)", "unknown symbol");
	ok(descset_is_message(d, "google.rpc.Status"), "a message type");
	ok(!descset_is_message(d, "grpc.health.v1.Health"), "a service is not");
	is_int(descset_extension_numbers(d, "google.rpc.Status", nums, 8), 0,
	    "no extensions of google.rpc.Status");
	is_int(descset_extension_numbers(d, "no.Such", nums, 8), -1,
	    "extension numbers of an unknown type");

	f = descset_symbol(d, "google.rpc.Status");
	n = descset_closure(d, f, files, 64);
	ok(n == 2 && files[0] == f &&
		strcmp(files[1]->name, "google/protobuf/any.proto") == 0,
	    "closure: the file, then its import");
	f = descset_file(d, "engflow/eventstore/v1/eventstore.proto");
	n = f != NULL ? descset_closure(d, f, files, 64) : 0;
	for (i = 1; i < n && i < 64; i++)
		any |= files[i] == f;
	ok(n > 2 && files[0] == f && !any, "a deep closure, each file once");
	for (i = 0; i < n && i < 64; i++)
		first_health |= strcmp(files[i]->name, "health.proto") == 0;
	ok(!first_health, "only what it imports");

	is_int(descset_add(
		   d, (const uint8_t *)set, sizeof(set) - 1, err, sizeof(err)),
	    0, "a second set %s", err);
	f = descset_extension(d, "p.M", 100);
	ok(f != NULL && strcmp(f->name, "a.proto") == 0 && f->len == 34,
	    "the file of extension p.M 100, its own bytes");
	ok(descset_extension(d, "p.M", 101) == NULL, "unknown extension");
	is_int(descset_extension_numbers(d, "p.M", nums, 8), 1, "one number");
	is_int(nums[0], 100, "the number");
	is_str(file_of(d, "p.x"), "a.proto", "extension name as a symbol");
	ok(descset_file(d, "a.proto")->len == 34,
	    "a repeated file: first wins");
	is_str(file_of(d, "grpc.health.v1.Health"), "health.proto",
	    "earlier symbols still found");

	ok(descset_add(d, bad, sizeof(bad), err, sizeof(err)) < 0 &&
		strstr(err, "bad length") != NULL,
	    "a truncated set is refused: %s", err);
	ok(descset_add(d, (const uint8_t *)"\x12\x00", 2, err, sizeof(err)) < 0,
	    "not a FileDescriptorSet: %s", err);
	descset_free(d);
	return done_testing();
}
