/*
 * The notifications subscribe receives, as CloudEvents (subscribe(1),
 * "THE EVENTS"): the message itself goes into proto_data unchanged,
 * byte for byte as it arrived, under its real type URL; id, source,
 * type, time, subject and a few extension attributes are filled from
 * it so that later stages can route on attributes alone.
 */
#ifndef EVPIPE_CE_MAP_H
#define EVPIPE_CE_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "cloudevent.h"
#include "engflow/notification/v1/notification.pb-c.h"
#include "watch.pb-c.h"

typedef Engflow__Notification__V1__Notification EngflowNotification;
typedef Central__Events__V1__Event AxwayEvent;

/*
 * An EngFlow engflow.notification.v1.Notification: raw/len its bytes as
 * received, n the same decoded, fallback_id the id to use when the
 * notification has none (the ack token).
 */
CloudEvent *ce_map_engflow(struct arena *, const EngflowNotification *,
    const uint8_t *, size_t, const char *, const char *);

/*
 * An Axway central.events.v1.Event: raw/len its bytes as received (or
 * as encoded from the harvester's JSON), ev the same decoded.
 */
CloudEvent *ce_map_axway(
    struct arena *, const AxwayEvent *, const uint8_t *, size_t, const char *);

/* "2021-11-30 11:59:25.01" (Axway, UTC) or RFC 3339: 0, or -1. */
int ce_map_parse_time(const char *, int64_t *, int32_t *);

#endif
