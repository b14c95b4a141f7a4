#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sig.h"

static int selfpipe[2] = { -1, -1 };
static volatile sig_atomic_t stops;
static struct loop_io sigio;
static void (*handler)(int, void *);
static void *handler_ctx;

/* Runs in signal context: only async-signal-safe calls. */
static void
trap(int signo)
{
	int saved = errno;
	unsigned char c = (unsigned char)signo;
	struct sigaction sa;

	if (signo == SIGTERM || signo == SIGINT) {
		if (++stops > 1) {
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = SIG_DFL;
			sigaction(signo, &sa, NULL);
			raise(signo);
		}
	}
	/* The pipe is non-blocking: when it is full, a wakeup is pending. */
	if (write(selfpipe[1], &c, 1) == -1) {
		/* nothing to do */
	}
	errno = saved;
}

static void
on_selfpipe(struct loop_io *io, short revents)
{
	unsigned char buf[64];
	ssize_t n, i;

	while ((n = read(selfpipe[0], buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == SIGUSR1)
				metrics_log();
			else
				handler(buf[i], handler_ctx);
		}
	}
}

/*
 * Route caught signals to fn(signo, ctx) from the loop.  SIGUSR1 prints
 * the tool's metrics on stderr (metrics.h), whose file, when one is
 * asked for, is written from now on.
 */
void
sig_init(void (*fn)(int, void *), void *ctx)
{
	struct sigaction sa;

	handler = fn;
	handler_ctx = ctx;
	if (selfpipe[0] == -1) {
		if (pipe2(selfpipe, O_CLOEXEC | O_NONBLOCK) == -1)
			die(EXIT_INTERNAL, "pipe: %s", strerror(errno));
		sigio.fd = selfpipe[0];
		sigio.events = POLLIN;
		sigio.prepare = NULL;
		sigio.ready = on_selfpipe;
		loop_io_add(&sigio);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sig_catch(SIGTERM);
	sig_catch(SIGINT);
	sig_catch(SIGUSR1);
	metrics_start();
}

void
sig_catch(int signo)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = trap;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

/* In a child about to exec: default dispositions, no inherited ignore. */
void
sig_child_reset(void)
{
	struct sigaction sa;
	int s[] = { SIGTERM, SIGINT, SIGPIPE, SIGCHLD, SIGHUP, SIGUSR1 };
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		sigaction(s[i], &sa, NULL);
}
