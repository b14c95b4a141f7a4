/*
 * forward's window (lib/fwdwin.c): events are handled in any order,
 * released only as the handled prefix, in input order (the low-water
 * mark of evpipe(7), ACKNOWLEDGEMENT).
 */
#include "config.h"

#include <stdlib.h>

#include "fwdwin.h"
#include "tap.h"

#define N 8

static struct fwd_ev ev[N + 1];

/* Release what may go; the record numbers, as digits, in order. */
static const char *
release_all(struct fwdwin *w)
{
	static char out[N + 1];
	struct fwd_ev *e;
	size_t n = 0;

	while ((e = fwdwin_release(w)) != NULL)
		out[n++] = (char)('0' + e->recno);
	out[n] = '\0';
	return out;
}

int
main(void)
{
	struct fwdwin w = { 0 };
	int i;

	for (i = 1; i <= N; i++) {
		ev[i].recno = (uint64_t)i;
		ev[i].len = 10;
		fwdwin_push(&w, &ev[i]);
	}
	is_int(w.n, N, "%d events in the window", N);
	is_int(w.pending, N, "none handled");
	is_int(w.bytes, 10 * N, "their bytes counted");
	is_str(release_all(&w), "", "nothing handled: nothing released");

	fwdwin_handled(&w, &ev[3]);
	fwdwin_handled(&w, &ev[2]);
	is_str(release_all(&w), "", "2 and 3 handled before 1: held back");
	is_int(w.n, N, "held back, they still count in the window");
	is_int(w.pending, N - 2, "but are not pending");

	fwdwin_handled(&w, &ev[1]);
	is_str(release_all(&w), "123", "1 handled: 1, 2, 3 released in order");
	is_int(w.n, N - 3, "the window shrinks by three");
	is_int(w.bytes, 10 * (N - 3), "and their bytes");

	fwdwin_handled(&w, &ev[5]);
	fwdwin_handled(&w, &ev[5]);
	is_int(w.pending, N - 4, "handling twice counts once");
	is_str(release_all(&w), "", "5 waits for 4");

	fwdwin_saving(&w, &ev[4]);
	is_str(release_all(&w), "", "4 being saved is not handled yet");
	is_int(w.pending, N - 4, "and still pending");
	fwdwin_handled(&w, &ev[4]);
	is_str(release_all(&w), "45", "4 saved: 4, 5 released");

	fwdwin_handled(&w, &ev[7]);
	fwdwin_remove(&w, &ev[6]);
	is_int(w.pending, 1, "a removed event is no longer pending");
	is_str(release_all(&w), "7", "6 removed: 7 is next and goes");
	fwdwin_remove(&w, &ev[8]);
	ok(w.head == NULL && w.tail == NULL, "empty after removing the last");
	is_int(w.n, 0, "no events");
	is_int(w.pending, 0, "none pending");
	is_int(w.bytes, 0, "no bytes");
	is_str(release_all(&w), "", "an empty window releases nothing");
	return done_testing();
}
