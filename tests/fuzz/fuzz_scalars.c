/*
 * libFuzzer: the small parsers of flags and wire values: durations
 * (duration_parse, duration_ms), targets (target_parse) and RFC 3339
 * timestamps (rfc3339_parse).  The first byte picks the parser, the rest
 * is the string.  What parses must format and parse back to the same
 * value.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "rfc3339.h"
#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[128], err[256];
	struct target t;
	int64_t v, w;
	int32_t ns, ns2;
	char *s;

	if (size == 0)
		return 0;
	if ((s = malloc(size)) == NULL)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		if (duration_parse(s, &v) == 0) {
			duration_string(buf, v);
			if (duration_parse(buf, &w) != 0 || w != v)
				abort(); /* what we write does not read back */
		}
		break;
	case 1:
		(void)duration_ms(s, &v);
		break;
	case 2:
		if (target_parse(&t, s, err, sizeof(err)) == 0 &&
		    (memchr(t.host, '\0', sizeof(t.host)) == NULL ||
			memchr(t.port, '\0', sizeof(t.port)) == NULL ||
			memchr(t.authority, '\0', sizeof(t.authority)) == NULL))
			abort();
		break;
	case 3:
		if (rfc3339_parse(s, &v, &ns) == 0) {
			if (ns < 0 || ns > 999999999)
				abort();
			if (rfc3339_format(buf, v, ns) > 0 &&
			    (rfc3339_parse(buf, &w, &ns2) != 0 || w != v ||
				ns2 != ns))
				abort(); /* what we write does not read back */
		}
		break;
	}
	free(s);
	return 0;
}
