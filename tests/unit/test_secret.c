#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secret.h"
#include "tap.h"

static char dir[] = "/tmp/evpipe-secret-XXXXXX";

static void
write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(s, f) < 0 || fclose(f) != 0)
		abort();
}

int
main(void)
{
	struct secret s = { 0 }, t = { 0 };
	char path[64], cmd[128], err[300];
	/* {"alg":"none"}.{"sub":"x","exp":1700000000}. */
	const char *jwt = "eyJhbGciOiJub25lIn0."
			  "eyJzdWIiOiJ4IiwiZXhwIjoxNzAwMDAwMDAwfQ.";

	log_init("test_secret");
	verbosity = LOG_ERROR;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/tok", dir);

	write_file(path, "abc.def\n");
	is_int(secret_set(&s, "token", SECRET_FILE, path, err, sizeof(err)), 0,
	    "file source set");
	is_int(secret_set(&s, "token", SECRET_ENV, "X", err, sizeof(err)), -1,
	    "a second kind of source is refused");
	is_str(err, "give the token only one way", "... and says so");
	is_int(secret_load(&s, err, sizeof(err)), 0, "file loads");
	is_str(secret_get(&s, err, sizeof(err)), "abc.def",
	    "one trailing newline is dropped");

	sleep(1); /* a new mtime, even on coarse file systems */
	write_file(path, "second\r\n");
	is_str(secret_get(&s, err, sizeof(err)), "second",
	    "a changed file is read again (CRLF dropped)");

	sleep(1);
	write_file(path, "");
	is_str(secret_get(&s, err, sizeof(err)), "second",
	    "an emptied file keeps the last good value");
	ok(strstr(err, "empty") != NULL && strstr(err, path) != NULL,
	    "... and the error names the file: %s", err);
	ok(strstr(err, "second") == NULL, "... never the value");
	secret_free(&s);

	setenv("EVPIPE_TEST_TOKEN", "from-env", 1);
	secret_set(
	    &t, "token", SECRET_ENV, "EVPIPE_TEST_TOKEN", err, sizeof(err));
	is_int(secret_load(&t, err, sizeof(err)), 0, "env loads");
	is_str(t.value, "from-env", "env value");
	secret_free(&t);

	memset(&t, 0, sizeof(t));
	secret_set(
	    &t, "token", SECRET_ENV, "EVPIPE_TEST_UNSET", err, sizeof(err));
	is_int(secret_load(&t, err, sizeof(err)), -1, "unset env fails");
	is_str(err, "token variable EVPIPE_TEST_UNSET: not set", "... clearly");

	memset(&t, 0, sizeof(t));
	snprintf(cmd, sizeof(cmd),
	    "n=$(cat %s/n 2>/dev/null || echo 0); "
	    "echo $((n+1)) > %s/n; echo tok$n",
	    dir, dir);
	secret_set(&t, "token", SECRET_COMMAND, cmd, err, sizeof(err));
	is_int(secret_load(&t, err, sizeof(err)), 0, "command runs");
	is_str(t.value, "tok0", "command output");
	is_int(secret_refresh(&t, err, sizeof(err)), 0, "refresh runs again");
	is_str(t.value, "tok1", "... and takes the new output");
	secret_free(&t);

	memset(&t, 0, sizeof(t));
	secret_set(
	    &t, "token", SECRET_COMMAND, "echo nope; exit 3", err, sizeof(err));
	is_int(secret_load(&t, err, sizeof(err)), -1, "failing command");
	ok(strstr(err, "exit status 3") != NULL, "... says how: %s", err);
	secret_free(&t);

	memset(&t, 0, sizeof(t));
	secret_set(&t, "token", SECRET_ARGV, "bad\tvalue", err, sizeof(err));
	is_int(secret_load(&t, err, sizeof(err)), -1, "control bytes refused");
	is_str(err, "token on the command line: not printable ASCII (byte 4)",
	    "... naming the byte, not the value");

	is_int(jwt_exp(jwt), 1700000000, "jwt exp");
	is_int(jwt_exp("abc"), -1, "not a jwt");
	is_int(jwt_exp("a.b.c"), -1, "payload not JSON");
	is_int(jwt_exp("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."), -1,
	    "no exp claim");
	is_int(jwt_exp(NULL), -1, "NULL");

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		abort();
	return done_testing();
}
