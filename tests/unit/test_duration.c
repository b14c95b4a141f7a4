/* Go-style durations for options: --linger 50ms, --drain-timeout 30s. */
#include "config.h"

#include "duration.h"
#include "tap.h"

int
main(void)
{
	static const struct {
		const char *s;
		int64_t ms;
	} good[] = {
		{ "50ms", 50 },
		{ "30s", 30000 },
		{ "1m30s", 90000 },
		{ "1.5h", 5400000 },
		{ "2", 2000 },
		{ "0", 0 },
		{ "0.25s", 250 },
		{ "1500us", 1 },
		{ "999999ns", 0 },
		{ "1h1m1s1ms", 3661001 },
	};
	static const char *bad[] = { "", "s", "ms", "-1s", "1x", "1s2", "1e3s",
		"0x10s", ".s", "1..2s", "1 s", "9999h" };
	int64_t ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int r;

		ms = -1;
		r = duration_ms(good[i].s, &ms);
		ok(r == 0 && ms == good[i].ms, "%s is %lld ms (got %lld)",
		    good[i].s, (long long)good[i].ms, (long long)ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(duration_ms(bad[i], &ms) == -1, "\"%s\" refused", bad[i]);
	{
		char buf[32];

		duration_format(buf, sizeof(buf), 250);
		is_str(buf, "250ms", "format 250ms");
		duration_format(buf, sizeof(buf), 1500);
		is_str(buf, "1.5s", "format 1.5s");
		duration_format(buf, sizeof(buf), 20000);
		is_str(buf, "20s", "format 20s");
		duration_format(buf, sizeof(buf), 600000);
		is_str(buf, "10m", "format 10m");
	}
	return done_testing();
}
