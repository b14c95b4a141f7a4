#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dedupe.h"
#include "exitcode.h"
#include "log.h"

struct dedupe_entry {
	char *key, *value;
	uint64_t hash;
};

/* FNV-1a, 64 bits. */
static uint64_t
hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
	return h;
}

void
dedupe_init(struct dedupe *d, size_t cap)
{
	size_t size = 16;

	memset(d, 0, sizeof(*d));
	if (cap == 0)
		return;
	if (cap > UINT32_MAX / 4)
		cap = UINT32_MAX / 4;
	while (size < cap * 2) /* at most half full: short probes */
		size *= 2;
	d->cap = cap;
	d->mask = size - 1;
	d->ring = calloc(cap, sizeof(*d->ring));
	d->table = calloc(size, sizeof(*d->table));
	if (d->ring == NULL || d->table == NULL)
		die(EXIT_INTERNAL, "out of memory");
}

/* The table slot holding key, or the free slot where it would go. */
static size_t
slot(const struct dedupe *d, const char *key, uint64_t h)
{
	size_t i = (size_t)h & d->mask;
	const struct dedupe_entry *e;

	for (; d->table[i] != 0; i = (i + 1) & d->mask) {
		e = &d->ring[d->table[i] - 1];
		if (e->hash == h && strcmp(e->key, key) == 0)
			break;
	}
	return i;
}

const char *
dedupe_find(const struct dedupe *d, const char *key)
{
	size_t i;

	if (d->cap == 0)
		return NULL;
	i = slot(d, key, hash(key));
	return d->table[i] != 0 ? d->ring[d->table[i] - 1].value : NULL;
}

/*
 * Empty slot i of the linear-probing table, moving later entries of
 * the same probe run back so that every entry stays reachable from its
 * home slot (Knuth, TAOCP 6.4, Algorithm R).
 */
static void
unslot(struct dedupe *d, size_t i)
{
	size_t j = i, home;

	for (;;) {
		j = (j + 1) & d->mask;
		if (d->table[j] == 0)
			break;
		home = (size_t)d->ring[d->table[j] - 1].hash & d->mask;
		/* Stays if home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		d->table[i] = d->table[j];
		i = j;
	}
	d->table[i] = 0;
}

void
dedupe_add(struct dedupe *d, const char *key, const char *value)
{
	struct dedupe_entry *e;
	uint64_t h;
	size_t i, k;

	if (d->cap == 0)
		return;
	h = hash(key);
	if (d->table[slot(d, key, h)] != 0)
		return;
	if (d->n == d->cap) { /* forget the oldest */
		e = &d->ring[d->head];
		unslot(d, slot(d, e->key, e->hash));
		free(e->key);
		free(e->value);
		d->head = (d->head + 1) % d->cap;
		d->n--;
	}
	k = (d->head + d->n) % d->cap;
	e = &d->ring[k];
	if ((e->key = strdup(key)) == NULL ||
	    (e->value = strdup(value != NULL ? value : "")) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	e->hash = h;
	i = slot(d, key, h);
	d->table[i] = (uint32_t)k + 1;
	d->n++;
}

void
dedupe_free(struct dedupe *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->ring[(d->head + i) % d->cap].key);
		free(d->ring[(d->head + i) % d->cap].value);
	}
	free(d->ring);
	free(d->table);
	memset(d, 0, sizeof(*d));
}
