#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "exitcode.h"
#include "log.h"

#define ARENA_CHUNK (64 * 1024)
#define ARENA_ALIGN 16

struct arena_chunk {
	struct arena_chunk *next;
	size_t size, used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

static void *
pb_alloc(void *ctx, size_t n)
{
	return arena_alloc(ctx, n);
}

static void
pb_free(void *ctx, void *p)
{
}

void
arena_init(struct arena *a)
{
	a->head = NULL;
	a->grown = a->grown_owner = NULL;
	a->grown_cap = 0;
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c = a->head;
	size_t size;

	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (c == NULL || c->size - c->used < n) {
		if (n > SIZE_MAX - sizeof(*c) - ARENA_CHUNK)
			die(EXIT_INTERNAL, "out of memory");
		size = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
		c->size = size;
		c->used = 0;
		/* A big block gets a chunk of its own behind the current one.
		 */
		if (size != ARENA_CHUNK && a->head != NULL) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	c->used += n;
	return c->data + c->used - n;
}

void *
arena_zalloc(struct arena *a, size_t n)
{
	return memset(arena_alloc(a, n), 0, n);
}

void *
arena_memdup(struct arena *a, const void *p, size_t n)
{
	void *q = arena_alloc(a, n);

	if (n > 0)
		memcpy(q, p, n);
	return q;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *q = arena_alloc(a, n + 1);

	memcpy(q, s, n);
	q[n] = '\0';
	return q;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

/* Keep one ordinary chunk for reuse; return the rest to malloc. */
void
arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next, *keep = NULL;

	for (c = a->head; c != NULL; c = next) {
		next = c->next;
		if (keep == NULL && c->size == ARENA_CHUNK) {
			keep = c;
			keep->used = 0;
			keep->next = NULL;
		} else {
			free(c);
		}
	}
	a->head = keep;
	a->grown = a->grown_owner = NULL;
	a->grown_cap = 0;
}

void
arena_free(struct arena *a)
{
	arena_reset(a);
	free(a->head);
	a->head = NULL;
}
