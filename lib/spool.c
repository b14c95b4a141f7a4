#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "errf.h"
#include "exitcode.h"
#include "log.h"
#include "spool.h"

#define SPOOL_SUFFIX ".json"
#define SPOOL_TMP ".tmp-"
#define SPOOL_LOCK ".lock"
#define SPOOL_ENTRY_MAX (64u * 1024 * 1024)

/* Open (creating it, mode 0700, if need be) and lock the directory. */
int
spool_open(struct spool *s, const char *dir, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->dir = dir;
	s->dirfd = s->lockfd = -1;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return errf(err, errlen, "%s: %s", dir, strerror(errno));
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd == -1)
		return errf(err, errlen, "%s: %s", dir, strerror(errno));
	s->lockfd = openat(s->dirfd, SPOOL_LOCK,
	    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lockfd == -1) {
		errf(
		    err, errlen, "%s/%s: %s", dir, SPOOL_LOCK, strerror(errno));
		goto fail;
	}
	if (flock(s->lockfd, LOCK_EX | LOCK_NB) == -1) {
		errf(err, errlen, "%s: %s", dir,
		    errno == EWOULDBLOCK ? "in use by another process" :
					   strerror(errno));
		goto fail;
	}
	return 0;
fail:
	spool_close(s);
	return -1;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Save an entry; returns its name (malloc'ed), or NULL with err set.
 * Names sort in the order entries were saved, across restarts.
 */
char *
spool_save(
    struct spool *s, const char *text, size_t len, char *err, size_t errlen)
{
	char name[64], tmp[sizeof(name) + sizeof(SPOOL_TMP)], *dup;
	struct timespec now;
	int fd, saved;

	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(name, sizeof(name), "%013lld-%06ld-%06llu" SPOOL_SUFFIX,
	    (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	    (long)getpid() % 1000000, (unsigned long long)s->seq++ % 1000000);
	snprintf(tmp, sizeof(tmp), SPOOL_TMP "%s", name);
	fd = openat(s->dirfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1) {
		errf(err, errlen, "%s/%s: %s", s->dir, tmp, strerror(errno));
		return NULL;
	}
	if (write_all(fd, text, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		unlinkat(s->dirfd, tmp, 0);
		errf(err, errlen, "%s/%s: %s", s->dir, tmp, strerror(saved));
		return NULL;
	}
	close(fd);
	if (renameat(s->dirfd, tmp, s->dirfd, name) == -1 ||
	    fsync(s->dirfd) == -1) {
		saved = errno;
		unlinkat(s->dirfd, tmp, 0);
		errf(err, errlen, "%s/%s: %s", s->dir, name, strerror(saved));
		return NULL;
	}
	if ((dup = strdup(name)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	return dup;
}

int
spool_remove(struct spool *s, const char *name, char *err, size_t errlen)
{
	if (unlinkat(s->dirfd, name, 0) == -1 && errno != ENOENT)
		return errf(
		    err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
	return 0;
}

static int
by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int
is_entry(const struct dirent *d)
{
	size_t n = strlen(d->d_name), k = strlen(SPOOL_SUFFIX);

	return d->d_name[0] != '.' && n > k &&
	    strcmp(d->d_name + n - k, SPOOL_SUFFIX) == 0;
}

static char *
read_entry(
    struct spool *s, const char *name, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t k;
	size_t n = 0;
	int fd;

	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &st) == -1) {
		errf(err, errlen, "%s/%s: %s", s->dir, name, strerror(errno));
		if (fd != -1)
			close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > SPOOL_ENTRY_MAX) {
		errf(err, errlen, "%s/%s: larger than %u bytes", s->dir, name,
		    SPOOL_ENTRY_MAX);
		close(fd);
		return NULL;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		die(EXIT_INTERNAL, "out of memory");
	while (n < (size_t)st.st_size) {
		k = read(fd, buf + n, (size_t)st.st_size - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Hand every entry to fn, oldest first (entries fn does not remove stay
 * for the next run).  Leftover temporary files of a crash are removed.
 * An entry that cannot be read is reported and skipped.
 */
int
spool_load(
    struct spool *s, spool_entry_fn fn, void *ctx, char *err, size_t errlen)
{
	struct dirent **list;
	char why[512], *text;
	int n, i;
	size_t len;
	DIR *d;
	struct dirent *e;

	if ((d = fdopendir(dup(s->dirfd))) == NULL)
		return errf(err, errlen, "%s: %s", s->dir, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, SPOOL_TMP, strlen(SPOOL_TMP)) == 0)
			unlinkat(s->dirfd, e->d_name, 0);
	closedir(d);
	if ((n = scandir(s->dir, &list, is_entry, by_name)) < 0)
		return errf(err, errlen, "%s: %s", s->dir, strerror(errno));
	for (i = 0; i < n; i++) {
		text = read_entry(s, list[i]->d_name, &len, why, sizeof(why));
		if (text == NULL)
			lerr("%s", why);
		else
			fn(list[i]->d_name, text, len, ctx);
		free(text);
		free(list[i]);
	}
	free(list);
	return 0;
}

void
spool_close(struct spool *s)
{
	if (s->lockfd != -1)
		close(s->lockfd);
	if (s->dirfd != -1)
		close(s->dirfd);
	s->lockfd = s->dirfd = -1;
}
