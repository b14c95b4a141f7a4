/*
 * libFuzzer: the --state file (statefile.h) that subscribe reads back
 * after a restart, whatever another program or a crash left in it.
 */
#include "config.h"

#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[256] = "";
	int64_t pos = -1;
	int fd, r;

	if ((fd = memfd_create("state", 0)) == -1)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r = statefile_read(path, &pos, err, sizeof(err));
	if ((r == 1 && pos < 0) || (r < 0 && err[0] == '\0'))
		abort();
	close(fd);
	return 0;
}
