/*
 * forward's window: the events read and not yet released, in input
 * order.  A target handles them in any order (calls complete out of
 * order, streams are acknowledged independently); only the handled
 * prefix is released, so whatever follows a release (the --tee copy,
 * the evpipeack) never runs ahead of an earlier event.  This is the
 * low-water mark of evpipe(7), ACKNOWLEDGEMENT, as a Kafka consumer
 * commits the offset below which every record is processed.
 *
 * Handled events stay in the window, and count in it, until released:
 * the window bounds memory whatever the order of completions.
 */
#ifndef EVPIPE_FWDWIN_H
#define EVPIPE_FWDWIN_H

#include <stddef.h>
#include <stdint.h>

#include "fwd.h"

struct fwdwin {
	struct fwd_ev *head, *tail; /* oldest first */
	uint64_t n; /* events in the window */
	uint64_t pending; /* of them not handled */
	size_t bytes; /* their records' bytes */
};

void fwdwin_push(struct fwdwin *, struct fwd_ev *);
void fwdwin_saving(struct fwdwin *, struct fwd_ev *);
void fwdwin_handled(struct fwdwin *, struct fwd_ev *);
struct fwd_ev *fwdwin_release(struct fwdwin *);
void fwdwin_remove(struct fwdwin *, struct fwd_ev *);

#endif
