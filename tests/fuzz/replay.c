/*
 * A plain main for a fuzzer's harness, for builds without libFuzzer:
 * replay_NAME FILE... runs fuzz_NAME's LLVMFuzzerTestOneInput once on
 * each file (tests/fuzz/regress), so what a fuzzer once found is
 * checked by make check in every build, under ASan in the sanitize one.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
main(int argc, char **argv)
{
	uint8_t *buf;
	size_t len, cap;
	FILE *f;
	int i;

	for (i = 1; i < argc; i++) {
		if ((f = fopen(argv[i], "rb")) == NULL) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			return 74;
		}
		cap = 4096;
		len = 0;
		if ((buf = malloc(cap)) == NULL)
			abort();
		while (!feof(f) && !ferror(f)) {
			if (len == cap &&
			    (buf = realloc(buf, cap *= 2)) == NULL)
				abort();
			len += fread(buf + len, 1, cap - len, f);
		}
		if (ferror(f)) {
			fprintf(stderr, "replay: %s: read error\n", argv[i]);
			return 74;
		}
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		printf("ok %s\n", argv[i]);
	}
	return 0;
}
