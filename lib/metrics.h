/*
 * What a long-running tool counts, for an operator to watch, in the
 * Prometheus text exposition format (version 0.0.4).  A part of a tool
 * keeps a struct metric, registers it once and updates its value as it
 * goes; every series is evpipe_NAME{tool="...",LABELS} VALUE.
 *
 * The values are shown
 *   - in a file rewritten atomically (a temporary file, then rename(2))
 *     every few seconds and at exit, for node_exporter's textfile
 *     collector: EVPIPE_METRICS_FILE, or metrics_set_file();
 *   - on stderr, one line per series, on SIGUSR1 (sig.h);
 *   - by metrics_render(), for an HTTP server's /metrics.
 * EVPIPE_METRICS_NAME adds a name="..." label to every series, so that
 * two pipelines on one host do not collide in the collector.
 *
 * Metrics are read only from the loop (loop.h) and once as it returns,
 * so a registered metric must live until then: a part freed while the
 * loop goes on unregisters its metrics first.
 */
#ifndef EVPIPE_METRICS_H
#define EVPIPE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define METRICS_EVERY_MS 5000

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

struct metric {
	const char *name; /* after "evpipe_": "events_in_total" */
	const char *help;
	enum metric_type type;
	const char *labels; /* more labels, e.g. "what=\"acks\"", or NULL */
	double value;
	/* Or the value is read when it is shown (no cost per event). */
	double (*read)(struct metric *);
	void *ctx;
	struct metric *next, *prev; /* private */
	int registered; /* private */
};

void metric_register(struct metric *);
void metric_unregister(struct metric *);
void metric_add(struct metric *, double);
void metric_set(struct metric *, double);
/* Set to now, in seconds since the epoch (a "time of last ..." gauge). */
void metric_set_now(struct metric *);

char *metrics_render(size_t *);
int metrics_set_file(const char *, char *, size_t);
void metrics_start(void);
void metrics_write_now(void);
void metrics_log(void);

#endif
