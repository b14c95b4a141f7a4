#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

static const struct {
	const char *name;
	double ms;
} units[] = {
	/* longest names first: "ms" before "m", "ns" before "s" */
	{ "ns", 1e-6 },
	{ "us", 1e-3 },
	{ "ms", 1 },
	{ "h", 3600e3 },
	{ "m", 60e3 },
	{ "s", 1e3 },
};

/* Milliseconds (rounded down, at most a year); 0 or -1. */
int
duration_ms(const char *s, int64_t *out)
{
	double total = 0, v;
	char *end;
	size_t i, n;
	int parts = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		n = strspn(s, "0123456789");
		n += s[n] == '.' ? 1 + strspn(s + n + 1, "0123456789") : 0;
		if (n == 0 || (n == 1 && *s == '.'))
			return -1;
		v = strtod(s, &end);
		s += n;
		parts++;
		if (*s == '\0' && parts == 1) {
			total = v * 1e3; /* a bare number: seconds */
			break;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			n = strlen(units[i].name);
			if (strncmp(s, units[i].name, n) == 0)
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += v * units[i].ms;
		s += n;
	}
	if (total > 366.0 * 24 * 3600e3)
		return -1;
	*out = (int64_t)total;
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
