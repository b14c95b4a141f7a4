#include "config.h"

#include <string.h>

#include <openssl/evp.h>

#include "base64.h"

/* Encode n bytes into BASE64_LEN(n) + 1 bytes at out (NUL-terminated). */
size_t
base64_encode(char *out, const uint8_t *in, size_t n)
{
	size_t done = 0, chunk;

	/* EVP_EncodeBlock() takes an int; feed it in large whole groups. */
	while (n - done > 0) {
		chunk = n - done > 3u << 28 ? 3u << 28 : n - done;
		EVP_EncodeBlock((unsigned char *)out + BASE64_LEN(done),
		    in + done, (int)chunk);
		done += chunk;
	}
	out[BASE64_LEN(n)] = '\0';
	return BASE64_LEN(n);
}

static int
is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/*
 * Decode n characters, padded or not, into out, which has room for
 * BASE64_DECODED_MAX(n) bytes.  Returns the decoded length, or -1 for
 * whitespace or any other character outside the alphabet.
 */
ssize_t
base64_decode(uint8_t *out, const char *in, size_t n)
{
	unsigned char tail[4];
	size_t i, body, rest, outlen;
	int r;

	if (n % 4 == 0 && n > 0 && in[n - 1] == '=')
		n -= in[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n; i++)
		if (!is_b64((unsigned char)in[i]))
			return -1;
	rest = n % 4;
	if (rest == 1)
		return -1;
	body = n - rest;
	outlen = 0;
	for (i = 0; i < body; i += (size_t)1 << 30) {
		size_t chunk = body - i < (size_t)1 << 30 ? body - i :
							    (size_t)1 << 30;

		r = EVP_DecodeBlock(
		    out + outlen, (const unsigned char *)in + i, (int)chunk);
		if (r < 0)
			return -1;
		outlen += (size_t)r;
	}
	if (rest > 0) {
		memcpy(tail, in + body, rest);
		memset(tail + rest, '=', 4 - rest);
		r = EVP_DecodeBlock(out + outlen, tail, 4);
		if (r < 0)
			return -1;
		/* EVP_DecodeBlock counts padding as zero bytes. */
		outlen += rest - 1;
	}
	return (ssize_t)outlen;
}
