/*
 * libFuzzer: the Flyte API's answers as pack-run reads them
 * (lib/flytedoc.c, flyte.md 1): the first byte picks the document (the
 * API root, a registered pack, a taken action), the rest is its body.
 * What parses has what pack-run needs: the links it follows, and an
 * action with a command, an id that is one path segment, and its input
 * as JSON text.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "flytedoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
need(bool ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flyte_root root;
	struct flyte_links links;
	struct flyte_action_doc a;
	const char *text = (const char *)data + 1;
	char err[256] = "", *copy;
	cJSON *in;

	if (size == 0)
		return 0;
	/* libcurl hands over the body with a NUL after it */
	copy = malloc(size);
	memcpy(copy, text, size - 1);
	copy[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		if (flytedoc_root(copy, size - 1, &root) == 0) {
			need(root.packs != NULL && root.packs[0] != '\0');
			flytedoc_root_free(&root);
		}
		break;
	case 1:
	case 2:
		if (flytedoc_links(copy, size - 1, data[0] % 4 == 1, &links) ==
		    0) {
			need(links.events != NULL && links.events[0] != '\0');
			need(data[0] % 4 == 2 || links.take != NULL);
			flytedoc_links_free(&links);
		}
		break;
	default:
		if (flytedoc_action(copy, size - 1, &a, err, sizeof(err)) ==
		    0) {
			need(a.command != NULL && a.result_url != NULL);
			need(a.id != NULL && a.id[0] != '\0');
			/* one segment, unless the URL has none to give */
			need(strchr(a.id, '/') == NULL ||
			    strcmp(a.id, a.result_url) == 0);
			in = cJSON_Parse(a.input);
			need(in != NULL);
			cJSON_Delete(in);
			flytedoc_action_free(&a);
		} else {
			need(err[0] != '\0');
		}
	}
	free(copy);
	return 0;
}
