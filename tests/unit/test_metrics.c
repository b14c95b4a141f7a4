/* The text exposition format metrics.c writes, and the atomic file. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "tap.h"

static struct metric in = {
	.name = "events_in_total",
	.help = "Events read.",
	.type = METRIC_COUNTER,
};
static struct metric acks = {
	.name = "acks_total",
	.help = "Acknowledgements, by direction.",
	.type = METRIC_COUNTER,
	.labels = "way=\"in\"",
};
static struct metric behind = {
	.name = "behind_seconds",
	.help = "How far behind.",
	.type = METRIC_GAUGE,
};
static struct metric acks_out = {
	.name = "acks_total",
	.help = "Acknowledgements, by direction.",
	.type = METRIC_COUNTER,
	.labels = "way=\"out\"",
};

static char *
slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int
main(void)
{
	char dir[] = "/tmp/test_metrics.XXXXXX", path[100], err[100];
	char *text, *p;
	size_t len;

	progname = "forward";
	metric_register(&in);
	metric_register(&acks);
	metric_register(&behind);
	metric_register(&acks_out);
	metric_register(&in); /* twice is once */
	metric_add(&in, 3);
	metric_add(&in, 2);
	metric_add(&acks, 1);
	metric_set(&behind, 1.5);
	text = metrics_render(&len);
	is_int(len, strlen(text), "length returned");
	ok(strstr(text,
	       "# HELP evpipe_events_in_total Events read.\n"
	       "# TYPE evpipe_events_in_total counter\n"
	       "evpipe_events_in_total{tool=\"forward\"} 5\n") != NULL,
	    "a counter: HELP, TYPE, the series with the tool label");
	ok(strstr(text,
	       "# TYPE evpipe_acks_total counter\n"
	       "evpipe_acks_total{tool=\"forward\",way=\"in\"} 1\n"
	       "evpipe_acks_total{tool=\"forward\",way=\"out\"} 0\n") != NULL,
	    "series of one name grouped under one HELP, in order");
	p = strstr(text, "# HELP evpipe_acks_total");
	ok(p != NULL && strstr(p + 1, "# HELP evpipe_acks_total") == NULL,
	    "one HELP per name");
	ok(strstr(text, "evpipe_behind_seconds{tool=\"forward\"} 1.5\n") !=
		NULL,
	    "a gauge with a fraction");
	ok(strstr(text, "# TYPE evpipe_start_time_seconds gauge\n") != NULL,
	    "the start time is always there");
	free(text);

	setenv("EVPIPE_METRICS_NAME", "a \"b\"\\c", 1);
	text = metrics_render(NULL);
	ok(strstr(text,
	       "evpipe_events_in_total{tool=\"forward\","
	       "name=\"a \\\"b\\\"\\\\c\"} 5\n") != NULL,
	    "EVPIPE_METRICS_NAME: a name label, escaped");
	free(text);
	unsetenv("EVPIPE_METRICS_NAME");

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/evpipe.prom", dir);
	is_int(metrics_set_file(path, err, sizeof(err)), 0, "set the file");
	metrics_write_now();
	p = slurp(path);
	ok(p != NULL &&
		strstr(p, "evpipe_events_in_total{tool=\"forward\"} 5\n") !=
		    NULL,
	    "written to the file");
	metric_add(&in, 1);
	metrics_write_now();
	p = slurp(path);
	ok(p != NULL &&
		strstr(p, "evpipe_events_in_total{tool=\"forward\"} 6\n") !=
		    NULL,
	    "rewritten with the new value");
	snprintf(
	    path, sizeof(path), "%s/evpipe.prom.%ld.tmp", dir, (long)getpid());
	ok(access(path, F_OK) != 0, "no temporary file left");
	snprintf(path, sizeof(path), "%s/evpipe.prom", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
