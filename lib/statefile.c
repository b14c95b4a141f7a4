#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errf.h"
#include "statefile.h"

int
statefile_read(const char *path, int64_t *pos, char *err, size_t errlen)
{
	char buf[64], *end;
	long long v;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return errf(err, errlen, "%s: %s", path, strerror(errno));
	buf[n] = '\0';
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') ||
	    (*end == '\n' && end[1] != '\0') || errno != 0 || v < 0 ||
	    buf[0] == '-' || buf[0] == '+' || buf[0] == ' ')
		return errf(err, errlen,
		    "%s: not a state file (want one line, a sequence id)",
		    path);
	*pos = v;
	return 1;
}

static int
fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, r;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int
statefile_write(const char *path, int64_t pos, char *err, size_t errlen)
{
	char tmp[PATH_MAX], line[32];
	int fd, n, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) >=
	    (int)sizeof(tmp))
		return errf(err, errlen, "%s: name too long", path);
	n = snprintf(line, sizeof(line), "%lld\n", (long long)pos);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return errf(err, errlen, "%s: %s", tmp, strerror(errno));
	errno = 0; /* a short write sets none */
	if (write(fd, line, (size_t)n) != n || fsync(fd) == -1) {
		saved = errno != 0 ? errno : ENOSPC;
		close(fd);
		unlink(tmp);
		return errf(err, errlen, "%s: %s", tmp, strerror(saved));
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		unlink(tmp);
		return errf(err, errlen, "%s: %s", path, strerror(saved));
	}
	/* The rename is durable only once the directory is. */
	if (fsync_dir(path) == -1)
		return errf(
		    err, errlen, "%s: directory: %s", path, strerror(errno));
	return 0;
}
