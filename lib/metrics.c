#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

static struct metric *first, *last;
static struct metric start_time = {
	.name = "start_time_seconds",
	.help = "When the process started, in seconds since the epoch.",
	.type = METRIC_GAUGE,
};
static char *file; /* the textfile collector's file, or NULL */
static struct loop_timer every;
static int write_failures;

void
metric_register(struct metric *m)
{
	if (m->registered)
		return;
	m->registered = 1;
	m->next = NULL;
	m->prev = last;
	if (last != NULL)
		last->next = m;
	else
		first = m;
	last = m;
}

/* Before m goes away (a part that closes). */
void
metric_unregister(struct metric *m)
{
	if (!m->registered)
		return;
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		first = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	else
		last = m->prev;
	m->next = m->prev = NULL;
	m->registered = 0;
}

void
metric_add(struct metric *m, double d)
{
	m->value += d;
}

void
metric_set(struct metric *m, double v)
{
	m->value = v;
}

void
metric_set_now(struct metric *m)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	m->value = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct text {
	char *p;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die(EXIT_INTERNAL, "metrics: %s", strerror(errno));
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = 2 * t->cap + (size_t)n;
		if ((t->p = realloc(t->p, t->cap)) == NULL)
			die(EXIT_INTERNAL, "out of memory");
	}
	t->len += (size_t)n;
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void
put_label_value(struct text *t, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			put(t, "\\%c", *v);
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
}

static void
put_value(struct text *t, double v)
{
	if (v == (double)(int64_t)v && v < 9.0e15 && v > -9.0e15)
		put(t, "%lld", (long long)v);
	else
		put(t, "%.17g", v);
}

/* Whether a metric of this name came before m (its HELP is out). */
static int
seen(const struct metric *m)
{
	const struct metric *o;

	for (o = first; o != m; o = o->next)
		if (strcmp(o->name, m->name) == 0)
			return 1;
	return 0;
}

/*
 * The text exposition format: for each name, "# HELP" and "# TYPE",
 * then its series.  Series of one name are grouped even when they were
 * registered apart, as the format requires.
 */
char *
metrics_render(size_t *len)
{
	static const char *const types[] = { "counter", "gauge" };
	const char *name = getenv("EVPIPE_METRICS_NAME");
	struct text t = { NULL, 0, 0 };
	struct metric *m, *o;

	if (start_time.value == 0)
		metric_set_now(&start_time);
	metric_register(&start_time);
	t.cap = 4096;
	if ((t.p = malloc(t.cap)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	t.p[0] = '\0';
	for (m = first; m != NULL; m = m->next)
		if (m->read != NULL)
			m->value = m->read(m);
	for (m = first; m != NULL; m = m->next) {
		if (seen(m))
			continue;
		put(&t, "# HELP evpipe_%s %s\n# TYPE evpipe_%s %s\n", m->name,
		    m->help, m->name, types[m->type]);
		for (o = m; o != NULL; o = o->next) {
			if (strcmp(o->name, m->name) != 0)
				continue;
			put(&t, "evpipe_%s{tool=\"", o->name);
			put_label_value(&t, progname);
			put(&t, "\"");
			if (name != NULL && *name != '\0') {
				put(&t, ",name=\"");
				put_label_value(&t, name);
				put(&t, "\"");
			}
			if (o->labels != NULL)
				put(&t, ",%s", o->labels);
			put(&t, "} ");
			put_value(&t, o->value);
			put(&t, "\n");
		}
	}
	if (len != NULL)
		*len = t.len;
	return t.p;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Rewrite the file as a whole: node_exporter must never read half of
 * it, so write a temporary file next to it and rename(2) it over.
 * A failure is told once, then once more when it works again.
 */
void
metrics_write_now(void)
{
	char tmp[4200];
	size_t len;
	char *text;
	int fd, err = 0;

	if (file == NULL)
		return;
	text = metrics_render(&len);
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", file, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, len) < 0)
		err = errno;
	if (fd >= 0 && close(fd) < 0 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, file) < 0)
		err = errno;
	free(text);
	if (err != 0) {
		unlink(tmp);
		if (write_failures++ == 0)
			lwarn("%s: %s (metrics not written)", file,
			    strerror(err));
		return;
	}
	if (write_failures > 0)
		linfo("%s: written again", file);
	write_failures = 0;
}

/* 0, or -1 with err set when the file's directory cannot take it. */
int
metrics_set_file(const char *path, char *err, size_t errlen)
{
	if (strlen(path) > 4000) {
		snprintf(err, errlen, "metrics file: name too long");
		return -1;
	}
	free(file);
	if ((file = strdup(path)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return 0;
}

static void
every_fired(struct loop_timer *t)
{
	metrics_write_now();
	loop_timer_in(t, METRICS_EVERY_MS);
}

/*
 * From sig_init(), as a tool's loop begins: the file from
 * EVPIPE_METRICS_FILE unless the tool set one, rewritten every
 * METRICS_EVERY_MS and once more when the loop returns.
 */
void
metrics_start(void)
{
	static int started;
	const char *env = getenv("EVPIPE_METRICS_FILE");
	char err[100];

	if (started)
		return;
	started = 1;
	metric_set_now(&start_time);
	metric_register(&start_time);
	if (file == NULL && env != NULL && *env != '\0' &&
	    metrics_set_file(env, err, sizeof(err)) < 0)
		lwarn("EVPIPE_METRICS_FILE: %s", err);
	if (file == NULL)
		return;
	loop_at_end(metrics_write_now);
	metrics_write_now();
	loop_timer_init(&every, every_fired, NULL);
	loop_timer_in(&every, METRICS_EVERY_MS);
}

/* SIGUSR1: every series on stderr, whatever the verbosity. */
void
metrics_log(void)
{
	char *text = metrics_render(NULL), *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		if (*line != '#')
			lforce(LOG_INFO, "metrics: %s", line);
	free(text);
}
