/*
 * An index over serialized FileDescriptorSets (protoc --include_imports
 * --descriptor_set_out), for server reflection: files by name, the file
 * declaring a symbol or an extension, and each file's original bytes.
 *
 * The sets are not copied: the bytes given to descset_add() must stay
 * valid as long as the index (they are usually embedded C data, see
 * scripts/embed).  When several sets hold a file of the same name, the
 * first one added wins.
 */
#ifndef EVPIPE_DESCSET_H
#define EVPIPE_DESCSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libevpipe's own protos (proto/ and their imports), built by make. */
extern const uint8_t evpipe_descriptor_set[];
extern const size_t evpipe_descriptor_set_len;

struct descset;

struct descfile {
	const char *name; /* "google/rpc/status.proto" */
	const uint8_t *bytes; /* the serialized FileDescriptorProto */
	size_t len;
};

struct descset *descset_new(void);
void descset_free(struct descset *);
/* Add the files of a set; -1 (and err says why) when it does not parse. */
int descset_add(struct descset *, const uint8_t *, size_t, char *, size_t);

const struct descfile *descset_file(const struct descset *, const char *);
/*
 * The file declaring a fully-qualified name (no leading dot): message,
 * nested message, field, oneof, enum, enum value, service, method or
 * extension.
 */
const struct descfile *descset_symbol(const struct descset *, const char *);
bool descset_is_message(const struct descset *, const char *);
/* The file declaring extension number n of a message type. */
const struct descfile *descset_extension(
    const struct descset *, const char *, int32_t);
/* The extension numbers of a message type, at most max of them; -1
 * when the type is unknown. */
long descset_extension_numbers(
    const struct descset *, const char *, int32_t *, size_t);
/*
 * A file and the files it imports, transitively, each once, the file
 * itself first: what a reflection client needs to build it.  Returns
 * the number of files (at most max are stored).
 */
size_t descset_closure(const struct descset *, const struct descfile *,
    const struct descfile **, size_t);

#endif
