/*
 * subscribe --api axway: Amplify Central's watch service, the
 * bidirectional /central.events.v1.watch/subscribe (axway.md 2), with
 * catch-up through the harvester (axway.md 3).
 *
 * One connection cycle:
 *  1. catch up over REST from the last sequence id written (the --state
 *     file, or what this process wrote), page by page, until a pass
 *     returns nothing (a 410 skips to the newest id);
 *  2. open the stream and subscribe (topic self link, "Bearer <jwt>",
 *     capabilities ["ping"]);
 *  3. catch up once more while live events are held back: events
 *     committed between step 1 and the subscription reach us only that
 *     way (the SDK leaves that window open, axway.md 3.3);
 *  4. write the held live events, then the live stream, skipping every
 *     sequence id already written: output is strictly increasing.
 * Server PINGs are answered with PING_RESPONSE; the token is sent again
 * in the stream at 4/5 of its lifetime.  Any failure ends the cycle and
 * a new one starts after the backoff.
 */
#ifndef EVPIPE_AXWAY_WATCH_H
#define EVPIPE_AXWAY_WATCH_H

#include "sub.h"

void axway_watch_start(struct sub *);

#endif
