#include "config.h"

#include <stdint.h>

#include "rfc3339.h"
#include "tap.h"

static void
good(const char *s, int64_t sec, int32_t ns, const char *canon)
{
	int64_t gs = -1;
	int32_t gn = -1;
	char buf[RFC3339_MAX];

	is_int(rfc3339_parse(s, &gs, &gn), 0, "parse %s", s);
	is_int(gs, sec, "seconds of %s", s);
	is_int(gn, ns, "nanos of %s", s);
	ok(rfc3339_format(buf, sec, ns) > 0, "format %lld.%09d", (long long)sec,
	    (int)ns);
	is_str(buf, canon, "canonical form of %s", s);
}

static void
bad(const char *s)
{
	int64_t sec;
	int32_t ns;

	is_int(rfc3339_parse(s, &sec, &ns), -1, "reject \"%s\"", s);
}

int
main(void)
{
	char buf[RFC3339_MAX];

	good("1970-01-01T00:00:00Z", 0, 0, "1970-01-01T00:00:00Z");
	good("2023-07-03T23:20:50.52Z", 1688426450, 520000000,
	    "2023-07-03T23:20:50.52Z");
	good("2023-07-03t23:20:50.520000000z", 1688426450, 520000000,
	    "2023-07-03T23:20:50.52Z");
	good("1985-04-12T23:20:50.52Z", 482196050, 520000000,
	    "1985-04-12T23:20:50.52Z");
	good("1996-12-19T16:39:57-08:00", 851042397, 0, "1996-12-20T00:39:57Z");
	good("1990-12-31T15:59:59-08:00", 662687999, 0, "1990-12-31T23:59:59Z");
	good("2000-02-29T12:00:00+01:30", 951820200, 0, "2000-02-29T10:30:00Z");
	good("1969-12-31T23:59:59.999999999Z", -1, 999999999,
	    "1969-12-31T23:59:59.999999999Z");
	good("0001-01-01T00:00:00Z", -62135596800LL, 0, "0001-01-01T00:00:00Z");
	good("9999-12-31T23:59:59.000000001Z", 253402300799LL, 1,
	    "9999-12-31T23:59:59.000000001Z");
	good("2024-02-29T00:00:00.1Z", 1709164800, 100000000,
	    "2024-02-29T00:00:00.1Z");

	bad("");
	bad("2023-07-03");
	bad("2023-07-03T23:20:50");
	bad("2023-07-03 23:20:50Z");
	bad("2023-13-01T00:00:00Z");
	bad("2023-02-29T00:00:00Z");
	bad("1900-02-29T00:00:00Z");
	bad("2023-07-32T00:00:00Z");
	bad("2023-07-03T24:00:00Z");
	bad("2016-12-31T23:59:60Z");
	bad("2023-07-03T23:20:50.Z");
	bad("2023-07-03T23:20:50.1234567890Z");
	bad("2023-07-03T23:20:50+0100");
	bad("2023-07-03T23:20:50Zjunk");
	bad("0000-01-01T00:00:00Z");
	bad("0001-01-01T00:00:00+00:01");
	bad("+2023-07-03T23:20:50Z");

	is_int(rfc3339_format(buf, 253402300800LL, 0), -1, "past year 9999");
	is_int(rfc3339_format(buf, 0, 1000000000), -1, "nanos too large");
	is_int(rfc3339_format(buf, 0, -1), -1, "negative nanos");
	return done_testing();
}
