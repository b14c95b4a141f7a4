/*
 * subscribe --method: any server-streaming or bidirectional method,
 * for services subscribe has no special knowledge of.  One request (the
 * JSON of -d encoded by the method's input type, the bytes of
 * --request-file, or an empty message) is sent and the request side
 * closed; every response message becomes an event, typed by the
 * method's output type when -P or server reflection (reflect_client.h)
 * described it.  The call is opened again after failures a reconnect
 * can mend; a server that ends the call with OK ends subscribe, and
 * --max-time ends everything, reflection and reconnects included, with
 * DEADLINE_EXCEEDED.
 */
#ifndef EVPIPE_GENERIC_STREAM_H
#define EVPIPE_GENERIC_STREAM_H

#include "sub.h"

void generic_stream_start(struct sub *);

#endif
