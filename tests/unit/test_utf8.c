#include "config.h"

#include "tap.h"
#include "utf8.h"

#define V(s) ok(utf8_valid(s, sizeof(s) - 1), "valid: %s", #s)
#define I(s) ok(!utf8_valid(s, sizeof(s) - 1), "invalid: %s", #s)

int
main(void)
{
	V("");
	V("plain ascii");
	V("\xc3\xa9"); /* U+00E9 */
	V("\xe2\x98\xba"); /* U+263A */
	V("\xf0\x9f\x98\x88"); /* U+1F608 */
	V("\xef\xbf\xbf"); /* U+FFFF, a noncharacter, still UTF-8 */
	V("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	V("\x7f");
	I("\x80"); /* lone continuation */
	I("\xc3"); /* truncated */
	I("\xe2\x98"); /* truncated */
	I("\xc0\xaf"); /* overlong '/' */
	I("\xc1\xbf"); /* overlong */
	I("\xe0\x80\xaf"); /* overlong */
	I("\xf0\x80\x80\xaf"); /* overlong */
	I("\xed\xa0\x80"); /* surrogate U+D800 */
	I("\xed\xbf\xbf"); /* surrogate U+DFFF */
	I("\xf4\x90\x80\x80"); /* U+110000 */
	I("\xf5\x80\x80\x80");
	I("\xff");
	I("a\xc3(");
	return done_testing();
}
