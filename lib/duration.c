#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "duration.h"

#define NS_US 1000ULL
#define NS_MS (1000 * NS_US)
#define NS_S (1000 * NS_MS)
#define NS_M (60 * NS_S)
#define NS_H (60 * NS_M)
#define NS_D (24 * NS_H)

static const struct {
	const char *name;
	uint64_t ns;
} units[] = {
	{ "ns", 1 },
	{ "us", NS_US },
	{ "\xc2\xb5s", NS_US }, /* U+00B5 micro sign */
	{ "\xce\xbcs", NS_US }, /* U+03BC Greek small letter mu */
	{ "ms", NS_MS },
	{ "s", NS_S },
	{ "m", NS_M },
	{ "h", NS_H },
	/* Last: for options only, as Go has no day. */
	{ "d", NS_D },
};

/*
 * Parse s as Go's time.ParseDuration does, with the same limits: each
 * term and the sum must fit in 63 bits (-2^63 ns is allowed); with days,
 * "d" (24h) is a unit too.  Returns 0, or -1 when s is not a duration.
 */
static int
parse(const char *s, int64_t *out, bool days)
{
	const size_t nunits = sizeof(units) / sizeof(units[0]) - !days;
	const uint64_t limit = (uint64_t)1 << 63;
	uint64_t total = 0, v, f, unit;
	double scale;
	const char *u;
	bool neg = false, digits, overflow;
	size_t i, ulen;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (!(*s == '.' || (*s >= '0' && *s <= '9')))
			return -1;
		v = 0;
		digits = false;
		for (; *s >= '0' && *s <= '9'; s++, digits = true) {
			if (v > (limit - 1) / 10)
				return -1;
			v = v * 10 + (uint64_t)(*s - '0');
			if (v > limit)
				return -1;
		}
		f = 0;
		scale = 1;
		overflow = false;
		if (*s == '.') {
			/* Digits past what 63 bits hold are dropped, as Go
			 * does. */
			for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
				if (!overflow && f <= (limit - 1) / 10 &&
				    f * 10 + (uint64_t)(*s - '0') <= limit) {
					f = f * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				} else {
					overflow = true;
				}
		}
		if (!digits)
			return -1;
		for (u = s; *s != '\0' && *s != '.' && (*s < '0' || *s > '9');
		     s++)
			;
		ulen = (size_t)(s - u);
		for (i = 0; i < nunits; i++)
			if (strlen(units[i].name) == ulen &&
			    memcmp(units[i].name, u, ulen) == 0)
				break;
		if (i == nunits)
			return -1; /* missing or unknown unit */
		unit = units[i].ns;
		if (v > limit / unit)
			return -1;
		v *= unit;
		if (f > 0) {
			/* In double, as Go does: f * unit could overflow. */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > limit)
				return -1;
		}
		total += v;
		if (total > limit)
			return -1;
	}
	if (total == limit && !neg)
		return -1;
	*out = neg ? (int64_t)(0 - total) : (int64_t)total;
	return 0;
}

int
duration_parse(const char *s, int64_t *out)
{
	return parse(s, out, false);
}

/* Write d into buf as Go's Duration.String() does: "1h30m0s", "1.5s",
 * "500ms", "0s".  Returns the length. */
int
duration_string(char *buf, int64_t d)
{
	uint64_t u = d < 0 ? 0 - (uint64_t)d : (uint64_t)d, frac;
	char tmp[DURATION_MAX], *w = tmp + sizeof(tmp);
	const char *unit;
	int prec, i;
	bool print;

	*--w = '\0';
	if (u < NS_S) {
		/* Below a second: the largest unit that keeps it >= 1. */
		if (u == 0)
			return snprintf(buf, DURATION_MAX, "0s");
		if (u < NS_US) {
			unit = "ns";
			prec = 0;
		} else if (u < NS_MS) {
			unit = "\xc2\xb5s";
			prec = 3;
		} else {
			unit = "ms";
			prec = 6;
		}
		w -= strlen(unit);
		memcpy(w, unit, strlen(unit));
	} else {
		*--w = 's';
		prec = 9;
	}
	/* The fraction, without trailing zeros. */
	print = false;
	frac = u;
	for (i = 0; i < prec; i++) {
		int digit = (int)(frac % 10);

		print = print || digit != 0;
		if (print)
			*--w = (char)('0' + digit);
		frac /= 10;
	}
	if (print)
		*--w = '.';
	u = frac;
	if (prec == 9) {
		/* u is whole seconds: s, then m, then h. */
		uint64_t s = u % 60, m = (u / 60) % 60, h = u / 3600;

		do
			*--w = (char)('0' + s % 10);
		while ((s /= 10) > 0);
		if (u >= 60) {
			*--w = 'm';
			do
				*--w = (char)('0' + m % 10);
			while ((m /= 10) > 0);
			if (h > 0) {
				*--w = 'h';
				do
					*--w = (char)('0' + h % 10);
				while ((h /= 10) > 0);
			}
		}
	} else {
		do
			*--w = (char)('0' + u % 10);
		while ((u /= 10) > 0);
	}
	if (d < 0)
		*--w = '-';
	return snprintf(buf, DURATION_MAX, "%s", w);
}

/*
 * Every duration option: "50ms", "1m30s", "1.5h", "1d", or a bare number
 * of seconds ("30", "0.5"); never negative.
 */
int
duration_option(const char *s, int64_t *out)
{
	char buf[64];

	if (!(*s == '.' || (*s >= '0' && *s <= '9')))
		return -1;
	if (s[strspn(s, "0123456789.")] == '\0') {
		if (snprintf(buf, sizeof(buf), "%ss", s) >= (int)sizeof(buf))
			return -1;
		s = buf;
	}
	return parse(s, out, true);
}

int
duration_ms(const char *s, int64_t *out)
{
	const int64_t year = 366 * (int64_t)NS_D;
	int64_t ns;

	if (duration_option(s, &ns) < 0 || ns > year)
		return -1;
	*out = ns / 1000000;
	return 0;
}

/* For diagnostics, in the same syntax: "250ms", "1.5s", "20s", "2m". */
void
duration_format(char *buf, size_t len, int64_t ms)
{
	if (ms >= 60000 && ms % 60000 == 0)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else
		snprintf(buf, len, "%.3gs", (double)ms / 1000);
}
