#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "feed.h"

static char dir[64], path[80];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

const char *
feed_socket_path(void)
{
	if (path[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/evpipe-fuzz.XXXXXX");
		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/sock", dir);
		atexit(cleanup);
	}
	return path;
}

/* Fires when our side sent something or closed: drop it, note EOF. */
static void
feed_ready(struct loop_io *io, short revents)
{
	struct feed *f = io->ctx;
	char buf[16384];
	ssize_t n;

	(void)revents;
	n = read(io->fd, buf, sizeof(buf));
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	f->eof = true;
	io->events = 0;
	if (f->quit_on_eof)
		loop_quit(0);
}

/* Our side neither closed nor finished in time: a hang is a bug. */
static void
feed_limit(struct loop_timer *t)
{
	(void)t;
	fprintf(stderr, "fuzz: our side did not finish within 10 s\n");
	abort();
}

void
feed_start(
    struct feed *f, int fd, const uint8_t *data, size_t size, bool quit_on_eof)
{
	ssize_t n;

	memset(f, 0, sizeof(*f));
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		abort();
	/* What does not fit in the socket buffer is left out. */
	while (size > 0 && (n = write(fd, data, size)) > 0) {
		data += n;
		size -= (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	f->quit_on_eof = quit_on_eof;
	f->io.fd = fd;
	f->io.events = POLLIN;
	f->io.ready = feed_ready;
	f->io.ctx = f;
	loop_io_add(&f->io);
	loop_timer_init(&f->limit, feed_limit, f);
	loop_timer_in(&f->limit, 10000);
}

void
feed_stop(struct feed *f)
{
	loop_timer_stop(&f->limit);
	if (f->io.fd >= 0) {
		loop_io_del(&f->io);
		close(f->io.fd);
		f->io.fd = -1;
	}
}
