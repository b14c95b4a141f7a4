/*
 * pack-run's health checks, served by healthd: a JSON object mapping
 * each check's name to {"healthy": BOOL, "status": ANY}, with 200 when
 * every check is healthy and 500 otherwise (flyte.md 2).
 *
 * Checks: FlyteApi (the API answers 2xx, asked anew), LastPoll (the
 * tool's own judgement of its polling), and the pack's own, shell
 * commands that are healthy when they exit 0.  One round of checks
 * answers every request that arrives while it runs; a round's answer
 * is reused for PACKHEALTH_FRESH_MS.
 */
#ifndef EVPIPE_PACKHEALTH_H
#define EVPIPE_PACKHEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flyte.h"
#include "pack.h"

#define PACKHEALTH_FRESH_MS 1000

struct packhealth;

/* LastPoll: healthy or not, and a status line. */
typedef bool (*packhealth_poll_fn)(char *, size_t, void *);

struct packhealth *packhealth_start(const char *, uint16_t, const struct pack *,
    struct flyte *, const char *const *, const char *const *,
    packhealth_poll_fn, void *, char *, size_t);
uint16_t packhealth_port(const struct packhealth *);
void packhealth_stop(struct packhealth *);

#endif
