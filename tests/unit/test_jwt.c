/* jwt_exp() on the tokens subscribe meets (secret.h). */
#include "config.h"

#include "secret.h"
#include "tap.h"

int
main(void)
{
	const char *hdr = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ";
	char t[512];

	snprintf(t, sizeof(t), "%s.%s.sig", hdr,
	    "eyJzdWIiOiI_Pz4-IiwiZXhwIjoxODAwMDAwMDAwfQ");
	is_int(jwt_exp(t), 1800000000, "base64url - and _ in the payload");
	snprintf(t, sizeof(t), "%s.%s.sig", hdr,
	    "eyJleHAiOjE3MDAwMDAwMDAuOSwic3ViIjoiYSJ9");
	is_int(jwt_exp(t), 1700000000, "a fractional exp is truncated");
	snprintf(t, sizeof(t), "%s.%s.", hdr,
	    "eyJzdWIiOiI_Pz4-IiwiZXhwIjoxODAwMDAwMDAwfQ");
	is_int(jwt_exp(t), 1800000000, "an empty signature (alg none)");
	snprintf(t, sizeof(t), "%s.%s.sig", hdr, "eyJleHAiOiIxNzAwMDAwMDAwIn0");
	is_int(jwt_exp(t), -1, "exp as a string is not an exp");
	snprintf(t, sizeof(t), "%s.%s.sig", hdr, "eyJleHAiOi01fQ");
	is_int(jwt_exp(t), -1, "a negative exp");
	is_int(jwt_exp("ghs_0123456789abcdef"), -1, "a GitHub token is no JWT");
	is_int(jwt_exp(""), -1, "empty");
	is_int(jwt_exp(".."), -1, "empty parts");
	snprintf(t, sizeof(t), "%s.%s", hdr,
	    "eyJzdWIiOiI_Pz4-IiwiZXhwIjoxODAwMDAwMDAwfQ");
	is_int(jwt_exp(t), -1, "two parts only");
	snprintf(t, sizeof(t), "%s.%s.sig", hdr, "!!!!");
	is_int(jwt_exp(t), -1, "payload not base64url");
	printf("1..%d\n", tap_count);
	return tap_failed != 0;
}
