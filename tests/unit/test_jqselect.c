/*
 * jqselect: which programs it takes (the rest are jq's), and what it
 * decides on an event; tests/evjq.bats checks it against jq itself.
 */
#include "config.h"

#include <string.h>

#include "arena.h"
#include "jqselect.h"
#include "jsonraw.h"
#include "tap.h"

static const char event[] =
    "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
    "\"type\":\"t\",\"n\":3,\"b\":true,\"dup\":\"first\",\"dup\":\"last\","
    "\"nul\":null,\"data\":{\"x\":[1,2],\"y\":\"z\"},"
    "\"same\":{\"y\":\"z\",\"x\":[1,2.0]}}";

static void
taken(const char *program, bool want)
{
	struct jqselect *js = jqselect_compile(program);

	ok((js != NULL) == want, "%s: %s", want ? "taken" : "left to jq",
	    program);
	jqselect_free(js);
}

static void
keeps(const struct jv *ev, const char *program, bool want)
{
	struct jqselect *js = jqselect_compile(program);

	ok(js != NULL && jqselect_keeps(js, ev) == want, "%s %s", program,
	    want ? "keeps" : "drops");
	jqselect_free(js);
}

int
main(void)
{
	struct arena a;
	const struct jv *ev;

	taken("select(.type == \"x\")", true);
	taken("  select( ( .a==1 or .b != \"c\" ) and null == .d )\n", true);
	taken("select(.\"a b\" == \"x\")", true);
	taken("select(1 == 1.5e3)", true);
	taken("select(.a.b == 1)", false);
	taken("select(.a[0] == 1)", false);
	taken("select(.a? == 1)", false);
	taken("select(.a == -1)", false);
	taken("select(.a == $x)", false);
	taken("select(.a == \"\\(1)\")", false);
	taken("select(.a == \"x\") | .b", false);
	taken("select(.a == \"x\"), .", false);
	taken("select(.a)", false);
	taken("select(.a == 1e)", false);
	taken("select(.a == 1x)", false);
	taken("select(.a == \"x\") # c", false);
	taken("select(.a == \"\\u0000\")", false);
	taken("select(.a == \"x\"", false);
	taken("selection(.a == 1)", false);
	taken("select(.a == 1 andnot .b == 2)", false);
	taken(".", false);

	arena_init(&a);
	ev = jv_parse(&a, event, strlen(event), NULL, 0);
	ok(ev != NULL, "the event parses");
	keeps(ev, "select(.type == \"t\")", true);
	keeps(ev, "select(.type != \"t\")", false);
	keeps(ev, "select(.n == 3 and .n == 3.0 and .n == 0.03e2)", true);
	keeps(ev, "select(.n == \"3\")", false);
	keeps(ev, "select(.b == true and .b != false)", true);
	keeps(ev, "select(.missing == null and .nul == null)", true);
	keeps(ev, "select(.dup == \"last\")", true);
	keeps(ev, "select(.dup == \"first\")", false);
	keeps(ev, "select(.data == .same)", true);
	keeps(ev, "select(.data == .n)", false);
	keeps(ev, "select(.type == \"x\" or .n == 3 and .b == true)", true);
	keeps(ev, "select((.type == \"x\" or .n == 3) and .b == false)", false);
	keeps(ev, "select(.\"specversion\" == \"1.0\")", true);
	keeps(ev, "select(.id == \"\\u0031\")", true);
	arena_free(&a);
	return done_testing();
}
