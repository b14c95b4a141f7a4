/*
 * A window of the N keys seen last, each with a value: "was this
 * resolved recently?" for a source that delivers at least once.  Adding
 * the N+1st key forgets the oldest.  Lookups and additions are O(1).
 */
#ifndef EVPIPE_DEDUPE_H
#define EVPIPE_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

struct dedupe_entry;

struct dedupe {
	size_t cap; /* keys kept; 0: the window is off */
	struct dedupe_entry *ring; /* cap entries, oldest at head */
	size_t head, n;
	uint32_t *table; /* open addressing: ring index + 1, 0 = free */
	size_t mask;
};

void dedupe_init(struct dedupe *, size_t);
/* The value stored with key, or NULL when key is not in the window. */
const char *dedupe_find(const struct dedupe *, const char *);
/* Remember key (with a copy of value); a key already there is kept. */
void dedupe_add(struct dedupe *, const char *, const char *);
void dedupe_free(struct dedupe *);

#endif
