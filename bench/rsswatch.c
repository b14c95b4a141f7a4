/*
 * rsswatch: the resident set of a command over time, for bench/memory.
 *
 *   rsswatch [-i MS] -o FILE COMMAND [ARG ...]
 *
 * runs COMMAND with this process's stdin, stdout and stderr, and every
 * MS milliseconds (default 100) appends "SECONDS KIB" to FILE: the time
 * since the start and VmRSS from /proc/PID/status.  When COMMAND ends,
 * FILE gets "# maxrss KIB" (the kernel's peak, from wait4, which no
 * sample can miss), and rsswatch exits as COMMAND did.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

/* SIGINT, SIGTERM: passed on to the command, whose end ends us. */
static void
pass_on(int signo)
{
	if (child > 0)
		kill(child, signo);
}

/* SIGCHLD: only wakes the sleep between two samples. */
static void
wake(int signo)
{
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* VmRSS of pid in KiB, or -1 (it has just exited). */
static long
vmrss(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct rusage ru;
	struct timespec ts;
	double start, next;
	long ms = 100, kib;
	pid_t pid, w;
	FILE *out;
	int c, st;

	while ((c = getopt(argc, argv, "+i:o:")) != -1)
		switch (c) {
		case 'i':
			ms = atol(optarg);
			break;
		case 'o':
			path = optarg;
			break;
		default:
			goto usage;
		}
	if (path == NULL || optind == argc || ms <= 0)
		goto usage;
	if ((out = fopen(path, "w")) == NULL) {
		fprintf(stderr, "rsswatch: %s: %s\n", path, strerror(errno));
		return 74;
	}
	signal(SIGCHLD, wake);
	start = now();
	if ((pid = fork()) < 0) {
		fprintf(stderr, "rsswatch: fork: %s\n", strerror(errno));
		return 71;
	}
	if (pid == 0) {
		signal(SIGCHLD, SIG_DFL);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "rsswatch: %s: %s\n", argv[optind],
		    strerror(errno));
		_exit(127);
	}
	child = pid;
	signal(SIGINT, pass_on);
	signal(SIGTERM, pass_on);
	for (next = start;;) {
		if ((w = wait4(pid, &st, WNOHANG, &ru)) == pid)
			break;
		if (w < 0 && errno != EINTR) {
			fprintf(
			    stderr, "rsswatch: wait: %s\n", strerror(errno));
			return 71;
		}
		if ((kib = vmrss(pid)) >= 0)
			fprintf(out, "%.3f %ld\n", now() - start, kib);
		next += ms / 1000.0;
		ts.tv_sec = (time_t)next;
		ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	fprintf(out, "# maxrss %ld\n", ru.ru_maxrss);
	if (fclose(out) != 0) {
		fprintf(stderr, "rsswatch: %s: %s\n", path, strerror(errno));
		return 74;
	}
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
usage:
	fprintf(stderr, "usage: rsswatch [-i MS] -o FILE COMMAND [ARG ...]\n");
	return 64;
}
