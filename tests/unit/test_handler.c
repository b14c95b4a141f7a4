/* Handlers: input, output, exit statuses, timeouts, leftovers, limits. */
#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handler.h"
#include "loop.h"
#include "sig.h"
#include "tap.h"

struct got {
	int n; /* results so far */
	struct handler_result r;
	char out[4096], tail[4096];
	size_t outlen;
};

static int want_done;
static struct got G;

static void
on_signal(int signo, void *ctx)
{
	if (signo == SIGCHLD)
		handler_reap();
}

static void
done(struct handler *h, const struct handler_result *r, void *ctx)
{
	G.r = *r;
	G.outlen = r->outlen < sizeof(G.out) ? r->outlen : sizeof(G.out) - 1;
	memcpy(G.out, r->out, G.outlen);
	G.out[G.outlen] = '\0';
	snprintf(G.tail, sizeof(G.tail), "%s", r->err_tail);
	if (ctx != NULL)
		(*(int *)ctx)++;
	if (++G.n == want_done)
		loop_quit(0);
}

static void
give_up(struct loop_timer *t)
{
	loop_quit(1);
}

/* Run one command to its end (30 s at most); 0 when done was called. */
static int
run(const char *cmd, const char *input, int64_t timeout_ms,
    const char *const *env, const char *const *unset, size_t max)
{
	struct handler_spec spec = { .name = "test",
		.command = cmd,
		.env = env,
		.unset = unset,
		.input = input,
		.len = input != NULL ? strlen(input) : 0,
		.timeout_ms = timeout_ms,
		.max_output = max };
	struct loop_timer guard;
	char err[256];

	memset(&G, 0, sizeof(G));
	want_done = 1;
	if (handler_start(&spec, done, NULL, err, sizeof(err)) == NULL) {
		printf("# %s\n", err);
		return -1;
	}
	loop_timer_init(&guard, give_up, NULL);
	loop_timer_in(&guard, 30000);
	if (loop_run() != 0)
		return -1;
	loop_timer_stop(&guard);
	return 0;
}

static void
test_basics(void)
{
	ok(run("printf '{\"event\":\"E\"}'", NULL, 0, NULL, NULL, 0) == 0 &&
		WIFEXITED(G.r.wstatus) && WEXITSTATUS(G.r.wstatus) == 0,
	    "exit 0");
	is_str(G.out, "{\"event\":\"E\"}", "its standard output");
	is_str(G.tail, "", "no standard error");

	ok(run("read x; echo \"got $x\"", "\"input\"\n", 0, NULL, NULL, 0) == 0,
	    "reads its input");
	is_str(G.out, "got \"input\"\n", "from standard input");

	ok(run("for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line$i >&2; "
	       "done; printf 'no newline' >&2; exit 3",
	       NULL, 0, NULL, NULL, 0) == 0,
	    "a failing handler");
	ok(WIFEXITED(G.r.wstatus) && WEXITSTATUS(G.r.wstatus) == 3,
	    "its exit status");
	is_str(G.tail,
	    "line4\nline5\nline6\nline7\nline8\nline9\nline10\nline11\nline12\n"
	    "no newline",
	    "the last ten lines of standard error");

	ok(run("exec cat", NULL, 0, NULL, NULL, 0) == 0 && G.outlen == 0,
	    "empty input: EOF at once");
}

/* Plain words run without sh; the result is what sh would give. */
static void
test_plain(void)
{
	ok(run("cat", "in\n", 0, NULL, NULL, 0) == 0, "cat");
	is_str(G.out, "in\n", "its output");
	ok(run("  tr  a-z A-Z ", "abc", 0, NULL, NULL, 0) == 0, "arguments");
	is_str(G.out, "ABC", "split at blanks");
	ok(run("ls /nonexistent/dir", NULL, 0, NULL, NULL, 0) == 0 &&
		WIFEXITED(G.r.wstatus) && WEXITSTATUS(G.r.wstatus) == 2,
	    "its exit status");
	ok(run("no-such-command-here", NULL, 0, NULL, NULL, 0) == 0 &&
		WIFEXITED(G.r.wstatus) && WEXITSTATUS(G.r.wstatus) == 127,
	    "not found: sh's 127");
	ok(strstr(G.tail, "not found") != NULL, "and sh's message: %s", G.tail);
	ok(run("echo -n a.b", NULL, 0, NULL, NULL, 0) == 0, "a builtin");
	is_str(G.out, "a.b", "runs in sh");
	ok(run("X=1 env", NULL, 0, NULL, NULL, 0) == 0 &&
		strstr(G.out, "X=1\n") != NULL,
	    "an assignment runs in sh");
	ok(run("./nonexistent-script", NULL, 0, NULL, NULL, 0) == 0 &&
		WEXITSTATUS(G.r.wstatus) == 127,
	    "a path that is not there");
}

static void
test_big_input(void)
{
	size_t n = 3 * 1024 * 1024, i;
	char *in = malloc(n + 1);

	for (i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	in[n] = '\0';
	ok(run("cksum", in, 0, NULL, NULL, 0) == 0, "3 MiB through stdin");
	/* The same through an independent cksum, written to a file. */
	{
		FILE *f = popen("cksum > cksum.want", "w");

		fwrite(in, 1, n, f);
		pclose(f);
		f = fopen("cksum.want", "r");
		char want[128] = "";
		if (f != NULL && fgets(want, sizeof(want), f) == NULL)
			want[0] = '\0';
		if (f != NULL)
			fclose(f);
		unlink("cksum.want");
		is_str(G.out, want, "every byte arrived");
	}
	ok(run("cat", in, 0, NULL, NULL, 1000) == 0 && G.r.overflow &&
		G.r.outlen == 1000,
	    "output over the limit is cut, and flagged");
	ok(WIFEXITED(G.r.wstatus) && WEXITSTATUS(G.r.wstatus) == 0,
	    "the handler is not blocked by the limit");
	ok(run("exit 0", in, 0, NULL, NULL, 0) == 0 && WIFEXITED(G.r.wstatus),
	    "a handler that does not read its input");
	free(in);
}

static void
test_env(void)
{
	const char *env[] = { "FLYTE_X=1", "HOME=/nowhere", NULL };
	const char *unset[] = { "SECRET_TOKEN", NULL };

	setenv("SECRET_TOKEN", "s3cr3t", 1);
	setenv("HOME", "/root", 1);
	ok(run("echo \"$FLYTE_X:$HOME:${SECRET_TOKEN-unset}\"", NULL, 0, env,
	       unset, 0) == 0,
	    "environment");
	is_str(G.out, "1:/nowhere:unset\n", "added, replaced, removed");

	ok(run("ls /proc/$$/fd | sort -n | tr '\\n' ' '", NULL, 0, NULL, NULL,
	       0) == 0,
	    "descriptors");
	is_str(G.out, "0 1 2 ", "none of ours leak into the handler");

	ok(run("kill -0 -$$ && echo own group", NULL, 0, NULL, NULL, 0) == 0,
	    "process group");
	is_str(G.out, "own group\n", "it leads a process group of its own");
}

static void
test_kills(void)
{
	int64_t t0;

	t0 = loop_now();
	ok(run("sleep 20 & sleep 20; echo not reached", NULL, 200, NULL, NULL,
	       0) == 0,
	    "a handler past its timeout");
	ok(G.r.timed_out && WIFSIGNALED(G.r.wstatus) &&
		WTERMSIG(G.r.wstatus) == SIGTERM,
	    "is terminated by SIGTERM");
	ok(loop_now() - t0 < 4000, "at once, and its children with it");
	is_str(G.out, "", "no output");

	t0 = loop_now();
	ok(run("trap '' TERM; sleep 20", NULL, 100, NULL, NULL, 0) == 0,
	    "a handler that ignores SIGTERM");
	ok(G.r.timed_out && WIFSIGNALED(G.r.wstatus) &&
		WTERMSIG(G.r.wstatus) == SIGKILL,
	    "is killed");
	ok(loop_now() - t0 >= HANDLER_KILL_GRACE_MS, "after the grace");

	t0 = loop_now();
	ok(run("sleep 3 & echo done", NULL, 0, NULL, NULL, 0) == 0,
	    "a handler that leaves something running");
	is_str(G.out, "done\n", "its output is kept");
	ok(loop_now() - t0 < HANDLER_LINGER_MS + 3000,
	    "it ends soon after it exits");
}

static void
test_many(void)
{
	struct handler_spec spec = { .name = "many",
		.command = "sleep 0.3; echo x" };
	struct handler *h[8];
	char err[256];
	int count = 0, i;
	int64_t t0 = loop_now();

	memset(&G, 0, sizeof(G));
	want_done = 8;
	for (i = 0; i < 8; i++)
		h[i] = handler_start(&spec, done, &count, err, sizeof(err));
	ok(handler_running() == 8, "eight at once");
	handler_stop(h[3]);
	loop_run();
	is_int(count, 8, "all ended");
	ok(loop_now() - t0 < 3000, "in parallel");
	is_int(handler_running(), 0, "none left");
}

int
main(void)
{
	sig_init(on_signal, NULL);
	sig_catch(SIGCHLD);
	test_basics();
	test_plain();
	test_big_input();
	test_env();
	test_kills();
	test_many();
	return done_testing();
}
