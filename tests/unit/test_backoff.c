/* connection-backoff.md: 1 s, x1.6, +-20 % jitter, 120 s cap. */
#include "config.h"

#include "backoff.h"
#include "tap.h"

int
main(void)
{
	struct backoff b;
	double base = 1000;
	int64_t d;
	int i, in_range = 1, capped = 1;

	backoff_init(&b, 42);
	for (i = 0; i < 30; i++) {
		d = backoff_next(&b);
		if (d < base * 0.8 - 1 || d > base * 1.2 + 1)
			in_range = 0;
		if (i > 15 && (d < 96000 || d > 144000))
			capped = 0;
		base = base * 1.6 < 120000 ? base * 1.6 : 120000;
	}
	ok(in_range, "each delay within 20 %% of 1 s x 1.6^n");
	ok(capped, "capped at 120 s (+-20 %%)");
	backoff_reset(&b);
	d = backoff_next(&b);
	ok(d >= 800 && d <= 1200, "reset starts again at 1 s");
	return done_testing();
}
