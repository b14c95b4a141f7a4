/*
 * rsswatch: the resident set of a command over time, for bench/memory.
 *
 *   rsswatch [-i MS] -o FILE COMMAND [ARG ...]
 *
 * runs COMMAND with this process's stdin, stdout and stderr, and every
 * MS milliseconds (default 100) appends "SECONDS RSS ANON" to FILE: the
 * time since the start, VmRSS and RssAnon from /proc/PID/status in KiB
 * (RssAnon: the process's own memory, without the pages of files it
 * maps, such as shared libraries, which other processes share).  When COMMAND
 * ends, FILE gets "# maxrss KIB user SECONDS sys SECONDS" (the kernel's figures
 * from wait4: a peak no sample can miss, and CPU time), and rsswatch exits as
 * COMMAND did.
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

/* VmRSS and RssAnon of pid in KiB; -1: it has just exited. */
static int
vmrss(pid_t pid, long *rss, long *anon)
{
	char path[64], line[256];
	FILE *f;

	*rss = *anon = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", rss) == 1 ||
		    sscanf(line, "RssAnon: %ld", anon) == 1)
			if (*anon >= 0)
				break;
	fclose(f);
	return *rss >= 0 && *anon >= 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct rusage ru;
	struct timespec ts;
	double start, next;
	long ms = 100, kib, anon;
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
		if (vmrss(pid, &kib, &anon) == 0)
			fprintf(
			    out, "%.3f %ld %ld\n", now() - start, kib, anon);
		next += ms / 1000.0;
		ts.tv_sec = (time_t)next;
		ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}
	fprintf(out, "# maxrss %ld user %.3f sys %.3f\n", ru.ru_maxrss,
	    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
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
