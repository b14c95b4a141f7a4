/*
 * libFuzzer: pack-run's spool (lib/spool.c, lib/flytedoc.c).  Each
 * input is saved as an entry in a spool directory and loaded back (the
 * same bytes must come back, once), then read as an entry: one that
 * reads is written again and reads back the same (kind, url, body,
 * meta), so a restart posts what was spooled.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flytedoc.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
need(bool ok)
{
	if (!ok)
		abort();
}

static bool
same(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

struct loaded {
	const uint8_t *want;
	size_t len, n;
	struct spool *s;
};

/* Fires for each entry spool_load finds: the one just saved. */
static void
on_entry(const char *name, const char *text, size_t len, void *ctx)
{
	struct loaded *l = ctx;
	char err[256];

	need(len == l->len && memcmp(text, l->want, len) == 0);
	need(text[len] == '\0');
	l->n++;
	need(spool_remove(l->s, name, err, sizeof(err)) == 0);
}

static struct spool s;
static char dir[4096];

/* The spool directory goes with the process. */
static void
cleanup(void)
{
	char lock[sizeof(dir) + 8];

	spool_close(&s);
	snprintf(lock, sizeof(lock), "%s/.lock", dir);
	unlink(lock);
	rmdir(dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct flyte_spool_entry e, again;
	struct loaded l = { data, size, 0, &s };
	char err[256], *name, *text;

	if (!ready) {
		const char *tmp = getenv("TMPDIR");

		snprintf(dir, sizeof(dir), "%s/fuzz_spool.XXXXXX",
		    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
		need(mkdtemp(dir) != NULL);
		need(spool_open(&s, dir, err, sizeof(err)) == 0);
		atexit(cleanup);
		ready = true;
	}
	name = spool_save(&s, (const char *)data, size, err, sizeof(err));
	need(name != NULL);
	free(name);
	need(spool_load(&s, on_entry, &l, err, sizeof(err)) == 0);
	need(l.n == 1);

	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (flytedoc_spool_read(text, size, &e) == 0) {
		char *out = flytedoc_spool_text(&e);

		need(e.body != NULL && (e.event || e.url != NULL));
		need(flytedoc_spool_read(out, strlen(out), &again) == 0);
		need(again.event == e.event && same(again.url, e.url) &&
		    same(again.body, e.body) && same(again.meta, e.meta));
		flytedoc_spool_free(&again);
		flytedoc_spool_free(&e);
		free(out);
	}
	free(text);
	return 0;
}
