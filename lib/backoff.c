#include "config.h"

#include "backoff.h"

void
backoff_init(struct backoff *b, uint64_t seed)
{
	b->next_ms = BACKOFF_INITIAL_MS;
	b->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ULL;
}

/* xorshift64*: jitter only needs to spread clients apart. */
static double
uniform(struct backoff *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return (double)((b->rng * 0x2545f4914f6cdd1dULL) >> 11) /
	    (double)(1ULL << 53);
}

/* The delay before the next attempt, in ms; the one after grows. */
int64_t
backoff_next(struct backoff *b)
{
	double d = b->next_ms;
	double j = d * 0.2 * (2 * uniform(b) - 1);

	b->next_ms = d * 1.6 < BACKOFF_MAX_MS ? d * 1.6 : BACKOFF_MAX_MS;
	return (int64_t)(d + j + 0.5);
}

void
backoff_reset(struct backoff *b)
{
	b->next_ms = BACKOFF_INITIAL_MS;
}
