#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

/* Seconds (finite, not negative) to whole milliseconds, rounded up. */
int
duration_from_seconds(double s, int64_t *ms)
{
	double v = ceil(s * 1000.0 - 1e-6);

	if (!isfinite(s) || s < 0 || v > (double)DURATION_MAX_MS)
		return -1;
	*ms = v < 0 ? 0 : (int64_t)v;
	return 0;
}

/* Returns 0 and sets *ms, or -1 for text that is not a duration. */
int
duration_parse(const char *s, int64_t *ms)
{
	static const struct {
		const char *name;
		double scale; /* seconds per unit */
	} units[] = { { "ms", 0.001 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
		{ "", 1 } };
	double v;
	char *end;
	size_t i;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].name) == 0)
			return duration_from_seconds(v * units[i].scale, ms);
	return -1;
}

/* "1.5s", "250ms", "2m": for diagnostics. */
void
duration_format(char *buf, size_t len, int64_t ms)
{
	if (ms % 60000 == 0 && ms >= 60000)
		snprintf(buf, len, "%lldm", (long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", (long long)(ms / 1000));
	else if (ms < 1000)
		snprintf(buf, len, "%lldms", (long long)ms);
	else
		snprintf(buf, len, "%.3gs", (double)ms / 1000);
}
