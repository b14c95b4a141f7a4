/* The health server, asked by curl(1) run as a handler on the same loop. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "healthd.h"
#include "loop.h"
#include "sig.h"
#include "tap.h"

static struct healthd *hd;
static int mode; /* 0: answer at once; 1: answer later */
static int asked;
static struct healthd_req *later[16];
static int nlater;
static struct loop_timer later_timer, stop_timer;
static char out[16][1024];
static int ndone, want;

static void
on_signal(int signo, void *ctx)
{
	if (signo == SIGCHLD)
		handler_reap();
}

static void
answer_later(struct loop_timer *t)
{
	int i;

	for (i = 0; i < nlater; i++)
		healthd_reply(later[i], 500, "{\"late\":true}");
	nlater = 0;
}

/* Stop the server while a request is still waiting for its answer. */
static void
stop_now(struct loop_timer *t)
{
	loop_timer_stop(&later_timer);
	nlater = 0;
	healthd_stop(hd);
}

static void
on_health(struct healthd_req *r, void *ctx)
{
	asked++;
	if (mode == 0) {
		healthd_reply(r, 200, "{\"ok\":true}");
		return;
	}
	later[nlater++] = r;
	loop_timer_in(&later_timer, 300);
	if (mode == 2)
		loop_timer_in(&stop_timer, 0);
}

static void
done(struct handler *h, const struct handler_result *r, void *ctx)
{
	snprintf(out[(long)ctx], sizeof(out[0]), "%s", r->out);
	if (++ndone == want)
		loop_quit(0);
}

/* Run n curls with these arguments at once; their outputs in out[]. */
static void
curl(int n, const char *args)
{
	char cmd[512], err[256];
	struct handler_spec spec = { .name = "curl", .command = cmd };
	long i;

	snprintf(cmd, sizeof(cmd),
	    "curl -sS -m 20 -o /dev/stdout -w ' %%{http_code} "
	    "%%{content_type}' %s http://127.0.0.1:%u/any/path",
	    args, (unsigned)healthd_port(hd));
	ndone = 0;
	want = n;
	for (i = 0; i < n; i++)
		if (handler_start(&spec, done, (void *)i, err, sizeof(err)) ==
		    NULL)
			printf("# %s\n", err);
	loop_run();
}

int
main(void)
{
	char err[256];
	int i, same;

	sig_init(on_signal, NULL);
	sig_catch(SIGCHLD);
	loop_timer_init(&later_timer, answer_later, NULL);
	loop_timer_init(&stop_timer, stop_now, NULL);
	hd = healthd_start("127.0.0.1", 0, on_health, NULL, err, sizeof(err));
	ok(hd != NULL && healthd_port(hd) != 0, "listening on a free port");
	if (hd == NULL) {
		printf("# %s\n", err);
		return done_testing();
	}

	curl(1, "");
	is_str(out[0], "{\"ok\":true} 200 application/json; charset=utf-8",
	    "an answer at once");
	curl(1, "-I");
	ok(strstr(out[0], "HTTP/1.1 200") != NULL, "HEAD");
	curl(1, "-X POST -d x");
	is_str(out[0], " 405 ", "POST is not allowed");

	mode = 1;
	asked = 0;
	curl(5, "");
	is_int(asked, 5, "five requests at once");
	for (i = 0, same = 1; i < 5; i++)
		same &= strcmp(out[i],
			    "{\"late\":true} 500 application/json; "
			    "charset=utf-8") == 0;
	ok(same, "each answered later, while the loop ran on");

	mode = 2;
	curl(1, "");
	is_str(out[0], "{} 503 application/json; charset=utf-8",
	    "a request still waiting when the server stops gets 503");
	healthd_stop(NULL);
	ok(1, "stopping nothing is fine");
	hd = healthd_start("127.0.0.1", 0, on_health, NULL, err, sizeof(err));
	ok(healthd_start("127.0.0.1", healthd_port(hd), on_health, NULL, err,
	       sizeof(err)) == NULL,
	    "a port in use");
	ok(strstr(err, "Address already in use") != NULL, "says so: %s", err);
	healthd_stop(hd);
	return done_testing();
}
