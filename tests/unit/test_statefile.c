/* statefile: the --state file of subscribe. */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statefile.h"
#include "tap.h"

static void
put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	fputs(s, f);
	fclose(f);
}

static int
entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int
main(void)
{
	char dir[] = "/tmp/test_statefileXXXXXX", path[256], err[300];
	int64_t pos = -7;
	FILE *f;

	if (mkdtemp(dir) == NULL)
		return 1;
	umask(022);
	snprintf(path, sizeof(path), "%s/state", dir);
	is_int(statefile_read(path, &pos, err, sizeof(err)), 0, "absent: 0");
	is_int(pos, -7, "absent: untouched");

	is_int(statefile_write(path, 12345, err, sizeof(err)), 0, "write");
	is_int(statefile_read(path, &pos, err, sizeof(err)), 1, "read back");
	is_int(pos, 12345, "the value");
	f = fopen(path, "r");
	{
		char line[64] = "";

		fgets(line, sizeof(line), f);
		is_str(line, "12345\n", "one line, the decimal number");
	}
	fclose(f);
	is_int(statefile_write(path, 9007199254740993LL, err, sizeof(err)), 0,
	    "a large value");
	statefile_read(path, &pos, err, sizeof(err));
	is_int(pos, 9007199254740993LL, "large value read back exactly");
	is_int(entries(dir), 1, "no temporary file left behind");
	{
		struct stat st;

		stat(path, &st);
		is_int(st.st_mode & 0777, 0600, "readable by its owner only");
	}

	put(path, "12x\n");
	is_int(statefile_read(path, &pos, err, sizeof(err)), -1, "junk");
	ok(strstr(err, "not a state file") != NULL, "junk: says so (%s)", err);
	put(path, "");
	is_int(statefile_read(path, &pos, err, sizeof(err)), -1, "empty");
	put(path, "-1\n");
	is_int(statefile_read(path, &pos, err, sizeof(err)), -1, "negative");
	put(path, "5\n6\n");
	is_int(statefile_read(path, &pos, err, sizeof(err)), -1, "two lines");
	put(path, "77");
	is_int(statefile_read(path, &pos, err, sizeof(err)), 1,
	    "no newline is fine");
	is_int(pos, 77, "its value");

	/* A directory we cannot write to: the old value stays. */
	if (geteuid() != 0) {
		chmod(dir, 0500);
		is_int(statefile_write(path, 1, err, sizeof(err)), -1,
		    "unwritable directory fails");
		chmod(dir, 0700);
		statefile_read(path, &pos, err, sizeof(err));
		is_int(pos, 77, "and the old value is intact");
	}
	snprintf(path, sizeof(path), "%s/no/such/dir/state", dir);
	is_int(statefile_write(path, 1, err, sizeof(err)), -1,
	    "missing directory fails");
	ok(strstr(err, "No such file") != NULL, "and says why (%s)", err);

	snprintf(path, sizeof(path), "%s/state", dir);
	unlink(path);
	rmdir(dir);
	printf("1..%d\n", tap_count);
	return tap_failed != 0;
}
