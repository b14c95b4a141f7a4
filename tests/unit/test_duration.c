/* Go's time.ParseDuration and Duration.String(), case by case. */
#include "config.h"

#include <stdint.h>

#include "duration.h"
#include "tap.h"

static void
good(const char *s, int64_t want)
{
	int64_t got = -42;

	is_int(duration_parse(s, &got), 0, "parse \"%s\"", s);
	is_int(got, want, "value of \"%s\"", s);
}

static void
bad(const char *s)
{
	int64_t got;

	is_int(duration_parse(s, &got), -1, "reject \"%s\"", s);
}

static void
fmt(int64_t d, const char *want)
{
	char buf[DURATION_MAX];

	duration_string(buf, d);
	is_str(buf, want, "format %lld", (long long)d);
}

/* duration_ms, for options: --linger 50ms, --drain-timeout 30s. */
static void
test_ms(void)
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
		{ "0.25", 250 },
		{ "1500us", 1 },
		{ "999999ns", 0 },
		{ "1h1m1s1ms", 3661001 },
		{ "8784h", 8784LL * 3600000 },
		{ "1d", 86400000 },
		{ "1d12h", 129600000 },
		{ "1.5d", 129600000 },
		{ "366d", 366LL * 86400000 },
		{ "30", 30000 },
		{ "1m", 60000 },
	};
	static const char *bad[] = { "", "s", "ms", "-1s", "+1s", "1x", "1s2",
		"1e3s", "0x10s", ".s", "1..2s", "1 s", "9999h", "8784h1ns",
		"367d", "1dd", "d", "1D", "-1d" };
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
	/* Beyond duration_ms's year: --retention 400d. */
	ok(duration_option("400d", &ms) == 0 &&
		ms == 400LL * 86400 * 1000000000,
	    "duration_option: 400d");
	ok(duration_option("24", &ms) == 0 && ms == 24LL * 1000000000,
	    "duration_option: 24 is 24s");
	ok(duration_option("1d", &ms) == 0 && ms == 86400LL * 1000000000,
	    "duration_option: 1d");
	ok(duration_option("-1", &ms) == -1, "duration_option: -1 refused");
	ok(duration_option("107000d", &ms) == -1,
	    "duration_option: past 63 bits refused");
	/* Go has no day: the configuration's syntax stays Go's. */
	ok(duration_parse("1d", &ms) == -1, "duration_parse: 1d refused");
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
}

int
main(void)
{
	const int64_t s = 1000000000;

	/* The cases of Go's time_test.go parseDurationTests. */
	good("0", 0);
	good("5s", 5 * s);
	good("30s", 30 * s);
	good("1478s", 1478 * s);
	good("-5s", -5 * s);
	good("+5s", 5 * s);
	good("-0", 0);
	good("+0", 0);
	good("5.0s", 5 * s);
	good("5.6s", 5 * s + 600000000);
	good("5.s", 5 * s);
	good(".5s", s / 2);
	good("1.0s", s);
	good("1.00s", s);
	good("1.004s", s + 4000000);
	good("1.0040s", s + 4000000);
	good("100.00100s", 100 * s + 1000000);
	good("10ns", 10);
	good("11us", 11000);
	good("12\xc2\xb5s", 12000);
	good("12\xce\xbcs", 12000);
	good("13ms", 13000000);
	good("14s", 14 * s);
	good("15m", 15 * 60 * s);
	good("16h", 16 * 3600 * s);
	good("3h30m", (3 * 3600 + 30 * 60) * s);
	good("10.5s4m", 4 * 60 * s + 10 * s + s / 2);
	good("-2m3.4s", -(2 * 60 * s + 3 * s + 400000000));
	good("1h2m3s4ms5us6ns",
	    3600 * s + 2 * 60 * s + 3 * s + 4000000 + 5000 + 6);
	good("39h9m14.425s", (39 * 3600 + 9 * 60 + 14) * s + 425000000);
	good("52763797000ns", 52763797000);
	good("0.3333333333333333333h", 20 * 60 * s);
	good("9007199254740993ns", 9007199254740993LL);
	good("9223372036854775807ns", INT64_MAX);
	good("9223372036854775.807us", INT64_MAX);
	good("9223372036s854ms775us807ns", INT64_MAX);
	good("-9223372036854775808ns", INT64_MIN);
	good("-9223372036854775.808us", INT64_MIN);
	good("-9223372036s854ms775us808ns", INT64_MIN);
	good("0.100000000000000000000h", 6 * 60 * s);
	good("0.830103483285477580700h", 49 * 60 * s + 48 * s + 372539827);
	/* What the original's configuration uses. */
	good("168h", 168 * 3600 * s);
	good("1h30m", 90 * 60 * s);
	good("1s", s);
	good("500ms", s / 2);

	bad("");
	bad("3");
	bad("-");
	bad("s");
	bad(".");
	bad("-.");
	bad(".s");
	bad("+.s");
	bad("1d");
	bad("1h 30m");
	bad(" 1h");
	bad("1hh");
	bad("1.2.3s");
	bad("9223372036854775808ns");
	bad("9223372036854775807000ns");
	bad("-9223372036854775809ns");
	bad("3000000h");
	bad("9223372036854775.808us");
	bad("9223372036854ms775us808ns");

	fmt(0, "0s");
	fmt(1, "1ns");
	fmt(1100, "1.1\xc2\xb5s");
	fmt(2200000, "2.2ms");
	fmt(3300000000LL, "3.3s");
	fmt(4 * 60 * s + 5 * s, "4m5s");
	fmt(4 * 60 * s + 5 * s + 1000000, "4m5.001s");
	fmt(5 * 3600 * s + 6 * 60 * s + 7 * s + 1000000, "5h6m7.001s");
	fmt(8 * 60 * s + 1, "8m0.000000001s");
	fmt(168 * 3600 * s, "168h0m0s");
	fmt(-s / 2, "-500ms");
	fmt(INT64_MAX, "2562047h47m16.854775807s");
	fmt(INT64_MIN, "-2562047h47m16.854775808s");
	test_ms();
	return done_testing();
}
