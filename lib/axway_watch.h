/*
 * subscribe --api axway: Amplify Central's watch service, the
 * bidirectional /central.events.v1.watch/subscribe (axway.md 2), with
 * catch-up through the harvester (axway.md 3).
 *
 * One connection cycle, as the Axway SDK pairs the harvester and the
 * watch, but with the stream opened first so that a busy topic cannot
 * keep it from ever going live:
 *  1. open the stream and subscribe (topic self link, "Bearer <jwt>",
 *     capabilities ["ping"]) at once;
 *  2. with a position to continue from (the --state file, --since, or
 *     what this process wrote), hold the live events while the
 *     harvester fills the gap, page by page, up to the first live
 *     sequence id; then write the held events and go live.  Without a
 *     first live event, a pass that ends below a full page and was
 *     asked for once the server had shown it has the subscription (any
 *     message on the stream) ends the gap: every later event comes live;
 *  3. live: write each event, skipping every sequence id already
 *     written, so the output is strictly increasing.
 * Held events are bounded (--max-pending events, HOLD_MAX_BYTES): past
 * that they are let go and the harvester fetches them again (they were
 * committed before they were sent); the stream is never paused, so
 * PINGs are always answered, and a stdout that cannot keep up makes
 * the harvester, not memory, take the slack.
 *
 * Server PINGs are answered with PING_RESPONSE.  Every new token
 * (secret.h keeps it fresh, before 4/5 of its lifetime) is sent on the
 * stream as a refresh request (axway.md 2.4); the harvester requests
 * always carry the newest.  Any failure ends the cycle and a new one
 * starts after the backoff.
 */
#ifndef EVPIPE_AXWAY_WATCH_H
#define EVPIPE_AXWAY_WATCH_H

#include "sub.h"

void axway_watch_start(struct sub *);

#endif
