#include "config.h"

#include <stdint.h>

#include "base64.h"
#include "tap.h"

static void
vector(const char *raw, const char *enc)
{
	char out[64];
	uint8_t dec[64];
	size_t n = strlen(raw);
	ssize_t r;

	is_int(base64_encode(out, (const uint8_t *)raw, n), strlen(enc),
	    "encoded length of \"%s\"", raw);
	is_str(out, enc, "encode \"%s\"", raw);
	r = base64_decode(dec, enc, strlen(enc));
	is_mem(dec, (size_t)r, raw, n, "decode \"%s\"", enc);
}

int
main(void)
{
	uint8_t dec[64];
	uint8_t bin[256];
	char enc[BASE64_LEN(256) + 1];
	int i;

	/* RFC 4648, section 10. */
	vector("", "");
	vector("f", "Zg==");
	vector("fo", "Zm8=");
	vector("foo", "Zm9v");
	vector("foob", "Zm9vYg==");
	vector("fooba", "Zm9vYmE=");
	vector("foobar", "Zm9vYmFy");

	is_int(base64_decode(dec, "Zg", 2), 1, "unpadded, 1 byte");
	is_int(base64_decode(dec, "Zm8", 3), 2, "unpadded, 2 bytes");
	ok(memcmp(dec, "fo", 2) == 0, "unpadded decodes right");
	is_int(base64_decode(dec, "Z", 1), -1, "one stray char");
	is_int(base64_decode(dec, "Zm9v YmFy", 9), -1, "space");
	is_int(base64_decode(dec, "Zm9v\nYmFy", 9), -1, "newline");
	is_int(base64_decode(dec, "Zm9v-_", 6), -1, "url alphabet");
	is_int(base64_decode(dec, "Zg=A", 4), -1, "padding inside");
	is_int(base64_decode(dec, "Zg===", 5), -1, "too much padding");

	for (i = 0; i < 256; i++)
		bin[i] = (uint8_t)i;
	base64_encode(enc, bin, sizeof(bin));
	is_int(base64_decode(dec, enc, 4), 3, "prefix decodes");
	{
		uint8_t all[BASE64_DECODED_MAX(sizeof(enc))];
		ssize_t r = base64_decode(all, enc, strlen(enc));

		is_mem(all, (size_t)r, bin, sizeof(bin), "all 256 bytes");
	}
	return done_testing();
}
