#include "config.h"

#include <stddef.h>

#include "fwdwin.h"

/* A new event, the newest, not handled yet. */
void
fwdwin_push(struct fwdwin *w, struct fwd_ev *ev)
{
	ev->state = FWD_EV_PENDING;
	ev->next = NULL;
	ev->prev = w->tail;
	if (w->tail != NULL)
		w->tail->next = ev;
	else
		w->head = ev;
	w->tail = ev;
	w->n++;
	w->pending++;
	w->bytes += ev->len;
}

/* Written to --dead-letter; handled once that is synced. */
void
fwdwin_saving(struct fwdwin *w, struct fwd_ev *ev)
{
	if (ev->state == FWD_EV_PENDING)
		ev->state = FWD_EV_SAVING;
}

/* Done with, in any order; handling it twice changes nothing. */
void
fwdwin_handled(struct fwdwin *w, struct fwd_ev *ev)
{
	if (ev->state == FWD_EV_HANDLED)
		return;
	ev->state = FWD_EV_HANDLED;
	w->pending--;
}

/*
 * Take the oldest event out when it is handled (and so, the window
 * being in input order, every event read before it was); NULL while
 * the oldest is not.  Call it until NULL.
 */
struct fwd_ev *
fwdwin_release(struct fwdwin *w)
{
	struct fwd_ev *ev = w->head;

	if (ev == NULL || ev->state != FWD_EV_HANDLED)
		return NULL;
	fwdwin_remove(w, ev);
	return ev;
}

/* Take any event out, handled or not (bad input, the end). */
void
fwdwin_remove(struct fwdwin *w, struct fwd_ev *ev)
{
	if (ev->prev != NULL)
		ev->prev->next = ev->next;
	else
		w->head = ev->next;
	if (ev->next != NULL)
		ev->next->prev = ev->prev;
	else
		w->tail = ev->prev;
	ev->prev = ev->next = NULL;
	w->n--;
	w->bytes -= ev->len;
	if (ev->state != FWD_EV_HANDLED)
		w->pending--;
}
