#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "slurp.h"
#include "strbuf.h"

char *
slurp_fd(int fd, size_t max, size_t *len)
{
	struct strbuf b = { 0 };
	ssize_t r;
	int saved;

	for (;;) {
		strbuf_grow(&b, 65536);
		r = read(fd, b.p + b.len, b.cap - b.len - 1);
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		b.len += (size_t)r;
		if (b.len > max) {
			errno = EFBIG;
			goto fail;
		}
	}
	b.p[b.len] = '\0';
	*len = b.len;
	return b.p;
fail:
	saved = errno;
	strbuf_free(&b);
	errno = saved;
	return NULL;
}

char *
slurp_file(const char *path, size_t max, size_t *len)
{
	char *p;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	p = slurp_fd(fd, max, len);
	saved = errno;
	close(fd);
	errno = saved;
	return p;
}
