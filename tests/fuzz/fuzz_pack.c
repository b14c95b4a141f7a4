/*
 * libFuzzer: the pack file (pack-run --pack), as pack_parse reads it.  A
 * pack that parses must also make its registration body and answer
 * lookups; one that does not must say why.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "";
	struct pack *p;
	char *reg;

	if ((p = pack_parse((const char *)data, size, err, sizeof(err))) ==
	    NULL) {
		if (err[0] == '\0')
			abort(); /* refused without a reason */
		return 0;
	}
	if ((reg = pack_registration(p)) != NULL)
		free(reg);
	(void)pack_command(p, "x");
	(void)pack_event_known(p, "x");
	pack_free(p);
	return 0;
}
