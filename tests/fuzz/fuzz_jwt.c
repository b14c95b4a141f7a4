/*
 * libFuzzer: JWT claims (secret.h: jwt_claims, jwt_exp) as read from a
 * token some command or file gave us, without checking the signature.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t exp, iat, e;
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	e = jwt_exp(s);
	if (jwt_claims(s, &exp, &iat) == 0) {
		if (exp != e && !(exp < 0 && e < 0))
			abort(); /* the two readings disagree */
	}
	free(s);
	return 0;
}
