/*
 * subscribe --api engflow: the EngFlow notification queue, read through
 * the bidirectional engflow.notification.v1.NotificationQueue/Pull
 * (engflow.md 1.2).  The first request names the queue; each
 * notification is acknowledged with its token, on the stream it came
 * from, once the driver says it is safe (written, or back on
 * --ack-from); one receipt per token comes back.  Any end of the stream
 * that a reconnect can mend is retried with gRPC connection backoff;
 * notifications not acknowledged by then are delivered again by the
 * queue.
 */
#ifndef EVPIPE_ENGFLOW_QUEUE_H
#define EVPIPE_ENGFLOW_QUEUE_H

#include "sub.h"

void engflow_queue_start(struct sub *);

#endif
