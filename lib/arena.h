/*
 * A bump allocator for short-lived object graphs (one CloudEvent, one
 * request): allocate freely, release everything with arena_reset().
 */
#ifndef EVPIPE_ARENA_H
#define EVPIPE_ARENA_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	ProtobufCAllocator pb; /* protobuf-c allocator drawing from us */
	/* The last array grown in place (cloudevent.c's attributes): its
	 * room, so that appending is amortised, not a copy each time. */
	void *grown, *grown_owner; /* the array, and the event it is for */
	size_t grown_cap;
};

void arena_init(struct arena *);
void *arena_alloc(struct arena *, size_t);
void *arena_zalloc(struct arena *, size_t);
void *arena_memdup(struct arena *, const void *, size_t);
char *arena_strdup(struct arena *, const char *);
char *arena_strndup(struct arena *, const char *, size_t);
void arena_reset(struct arena *);
void arena_free(struct arena *);

#endif
