/*
 * evjq: a jq program over each event of a delimited CloudEvents stream,
 * in the middle of a pipeline.  The program sees the event's CloudEvents
 * JSON form (evcat(1), protobuf data decoded); each event it outputs
 * becomes a record.  The input's evpipeack goes on its last output, or,
 * when it has none, on an ack-only marker (evpipe.7), in input order.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ackfifo.h"
#include "cejson.h"
#include "cli.h"
#include "cloudevent.h"
#include "exitcode.h"
#include "frame.h"
#include "jqstage.h"
#include "jsonraw.h"
#include "log.h"
#include "loop.h"
#include "pbdesc.h"
#include "sig.h"
#include "slurp.h"
#include "varint.h"

static const char synopsis[] =
    "usage: evjq [-qv] [--arg name value] [--argjson name json] "
    "[--dead-letter file] [-m size] [-P protoset] {program | -f file}\n";

static const char options[] =
    "      --arg NAME VALUE  $NAME is the string VALUE in the program\n"
    "      --argjson NAME JSON\n"
    "                        $NAME is the JSON value JSON in the program\n"
    "      --dead-letter=FILE\n"
    "                        append an input the program fails on to "
    "FILE\n"
    "                        and go on, instead of exiting 65\n"
    "  -f, --from-file=FILE  read the program from FILE\n"
    "  -h, --help            print this help and exit\n"
    "  -m, --max-record=SIZE largest record in bytes (default 4M)\n"
    "  -P, --protoset=FILE   more protobuf types, from a descriptor set\n"
    "  -q, --quiet           print errors only\n"
    "  -v, --verbose         print more (repeatable)\n"
    "      --version         print the version and exit\n";

enum { O_ARG = CLI_OPT_VERSION + 1, O_ARGJSON, O_DEAD_LETTER };

static const struct option longopts[] = {
	{ "arg", required_argument, NULL, O_ARG },
	{ "argjson", required_argument, NULL, O_ARGJSON },
	{ "dead-letter", required_argument, NULL, O_DEAD_LETTER },
	{ "from-file", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "max-record", required_argument, NULL, 'm' },
	{ "protoset", required_argument, NULL, 'P' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Output above this waits to be written before the program runs on. */
#define OUT_HIGH (64 * 1024)

static struct {
	size_t max;
	struct frame_reader fr;
	struct outbuf out;
	struct loop_io in_io, out_io;
	uint64_t in_round; /* loop round in which input was last read */
	bool eof; /* no more records */
	bool stopping; /* no more input; write what is left */
	int status;
	struct ce_json cj;
	struct jqstage *jq;
	const char *dead_letter;
	int dl_fd;

	/* The input the program runs on. */
	bool running;
	uint64_t recno;
	struct strbuf rec; /* its record */
	struct strbuf json; /* its JSON form */
	struct strbuf ack; /* its evpipeack; len 0: none */
	bool has_ack;
	struct strbuf id, source;

	/* The last output, held until the next shows it is not the last. */
	bool pending, pending_same;
	struct strbuf pjson, tmp;
	struct arena arena;

	uint64_t events_in, events_out, markers, dead;
} E;

static int write_all(int, const void *, size_t);

static void
stop(int status)
{
	if (E.status == EXIT_OK)
		E.status = status;
	E.stopping = true;
}

static void
record_error(const char *why)
{
	lerr("stdin: record %llu: %s", (unsigned long long)E.recno, why);
	stop(EXIT_DATA);
}

static void
put_event(CloudEvent *ev, bool last)
{
	const char *ack = ce_get_string(ev, ACK_ATTR);
	bool kept = last && E.has_ack && ack != NULL &&
	    strcmp(ack, E.ack.p) == 0;

	/* The input's ack where the program left it; else at the end. */
	if (!kept) {
		ce_del(ev, ACK_ATTR);
		if (last && E.has_ack)
			ce_put_string(&E.arena, ev, ACK_ATTR, E.ack.p);
	}
	frame_put(&E.out, &ev->base);
	E.events_out++;
}

/*
 * Write the held output; last: it is the input's last, so it takes the
 * input's ack.  -1 with err if the value is not an event.
 */
static int
flush_pending(bool last, char *err, size_t errlen)
{
	CloudEvent *ev;
	struct jv *v;
	size_t size;
	int status = 0;

	if (!E.pending)
		return 0;
	E.pending = false;
	if (E.pending_same && last) {
		/* The input itself, ack and all: its own bytes. */
		frame_put_bytes(&E.out, E.rec.p, E.rec.len);
		E.events_out++;
		return 0;
	}
	if (E.pending_same)
		ev = ce_unpack(
		    &E.arena, (const uint8_t *)E.rec.p, E.rec.len, err, errlen);
	else if ((v = jv_parse(
		      &E.arena, E.pjson.p, E.pjson.len, err, errlen)) == NULL)
		ev = NULL;
	else if (v->kind != JV_OBJECT) {
		snprintf(err, errlen, "an output is not an event: %.60s%s",
		    E.pjson.p, E.pjson.len > 60 ? "..." : "");
		ev = NULL;
	} else {
		char why[200];

		ev = ce_json_read(&E.cj, &E.arena, v, why, sizeof(why));
		if (ev == NULL)
			snprintf(
			    err, errlen, "an output is not an event: %s", why);
	}
	if (ev == NULL) {
		status = -1;
	} else if ((size = protobuf_c_message_get_packed_size(&ev->base)) >
	    E.max) {
		snprintf(err, errlen,
		    "an output of %zu bytes exceeds the limit of %zu", size,
		    E.max);
		status = -1;
	} else {
		put_event(ev, last);
	}
	arena_reset(&E.arena);
	return status;
}

/* The input is handled with nothing to deliver: its ack goes on alone. */
static void
put_marker(void)
{
	CloudEvent *ev;

	if (!E.has_ack)
		return;
	ev = ce_new(&E.arena, E.id.p, E.source.p, ACK_ONLY_TYPE);
	put_event(ev, true);
	E.events_out--;
	E.markers++;
	arena_reset(&E.arena);
}

/* The program failed on the input: dead-letter it, or stop with 65. */
static void
program_failed(const char *why)
{
	uint8_t hdr[10];
	size_t n;

	E.running = false;
	E.pending = false;
	if (E.dl_fd < 0) {
		record_error(why);
		return;
	}
	lwarn("stdin: record %llu: %s; to %s", (unsigned long long)E.recno, why,
	    E.dead_letter);
	/* Durable before its ack goes on: the ack says it was handled. */
	n = varint_put(hdr, E.rec.len);
	if (write_all(E.dl_fd, hdr, n) < 0 ||
	    write_all(E.dl_fd, E.rec.p, E.rec.len) < 0 ||
	    fdatasync(E.dl_fd) < 0) {
		logsys(LOG_ERROR, "%s", E.dead_letter);
		stop(EXIT_IO);
		return;
	}
	E.dead++;
	put_marker();
}

/* Start the program on one record. */
static void
start(const uint8_t *body, size_t len)
{
	char err[256];
	const char *s;
	CloudEvent *ev;

	E.recno++;
	E.events_in++;
	strbuf_reset(&E.rec);
	strbuf_add(&E.rec, body, len);
	strbuf_reset(&E.json);
	if ((ev = ce_unpack(&E.arena, body, len, err, sizeof(err))) == NULL ||
	    ce_json_write(&E.cj, ev, &E.json, err, sizeof(err)) < 0) {
		arena_reset(&E.arena);
		record_error(err);
		return;
	}
	if (strcmp(ev->type, ACK_ONLY_TYPE) == 0) {
		/* A marker stands for an event dropped before: not one. */
		frame_put_bytes(&E.out, body, len);
		E.markers++;
		arena_reset(&E.arena);
		return;
	}
	E.has_ack = (s = ce_get_string(ev, ACK_ATTR)) != NULL;
	strbuf_reset(&E.ack);
	strbuf_adds(&E.ack, E.has_ack ? s : "");
	strbuf_reset(&E.id);
	strbuf_adds(&E.id, ev->id);
	strbuf_reset(&E.source);
	strbuf_adds(&E.source, ev->source);
	arena_reset(&E.arena);
	if (jqstage_start(E.jq, E.json.p, E.json.len, err, sizeof(err)) < 0) {
		record_error(err);
		return;
	}
	E.running = true;
}

/* Take the program's next output; false when the input is done. */
static bool
step(void)
{
	char err[256];
	int r;

	r = jqstage_next(E.jq, &E.tmp, err, sizeof(err));
	if (r == JQ_OUT_ERROR) {
		program_failed(err);
		return false;
	}
	if (r == JQ_OUT_END) {
		E.running = false;
		if (!E.pending)
			put_marker();
		else if (flush_pending(true, err, sizeof(err)) < 0)
			program_failed(err);
		return false;
	}
	if (flush_pending(false, err, sizeof(err)) < 0) {
		program_failed(err);
		return false;
	}
	E.pending = true;
	E.pending_same = r == JQ_OUT_SAME;
	if (!E.pending_same) {
		struct strbuf t = E.pjson;

		E.pjson = E.tmp;
		E.tmp = t;
	}
	return true;
}

/* Run the program on while output has room. */
static void
pump(void)
{
	const uint8_t *body;
	size_t len;
	int r;

	while (outbuf_pending(&E.out) < OUT_HIGH) {
		if (E.running) {
			step();
			continue;
		}
		if (E.stopping)
			return;
		r = frame_next(&E.fr, &body, &len);
		if (r == FRAME_AGAIN)
			return;
		if (r == FRAME_ERROR) {
			lerr("stdin: %s", E.fr.err);
			stop(EXIT_DATA);
			return;
		}
		if (r == FRAME_EOF) {
			E.eof = true;
			stop(EXIT_OK);
			return;
		}
		start(body, len);
	}
}

static void
input_prepare(struct loop_io *io)
{
	bool room = outbuf_pending(&E.out) < OUT_HIGH;

	io->events = !E.stopping && !E.running && room ? POLLIN : 0;
}

static void
input_ready(struct loop_io *io, short revents)
{
	E.in_round = loop_round();
	if (frame_fill(&E.fr) < 0) {
		logsys(LOG_ERROR, "stdin");
		stop(EXIT_IO);
		return;
	}
	pump();
}

static void
output_prepare(struct loop_io *io)
{
	if (E.running && outbuf_pending(&E.out) < OUT_HIGH)
		pump();
	io->events = outbuf_pending(&E.out) > 0 ? POLLOUT : 0;
	if (io->events == 0 && E.stopping && !E.running)
		loop_quit(E.status);
}

/*
 * stdout is writable.  While input keeps coming, output is held back
 * until it fills OUT_HIGH (large writes under load); once input has
 * nothing ready, what there is goes out at once (low latency).
 */
static void
output_ready(struct loop_io *io, short revents)
{
	if (E.in_round == loop_round() && !E.stopping && !E.running &&
	    outbuf_pending(&E.out) < OUT_HIGH)
		return;
	if (outbuf_write(&E.out) == 0) {
		pump();
		return;
	}
	if (errno == EPIPE) {
		linfo("stdout: reader went away");
		outbuf_discard(&E.out);
		loop_quit(E.status);
		return;
	}
	logsys(LOG_ERROR, "stdout");
	outbuf_discard(&E.out);
	loop_quit(EXIT_IO);
}

/* The input being run finishes; no more are read. */
static void
on_signal(int signo, void *ctx)
{
	linfo("signal %d: finishing", signo);
	stop(EXIT_OK);
}

/* All of a file, with a NUL after it; die if it cannot be read. */
static char *
read_file(const char *path, size_t *len)
{
	char *p = slurp_file(path, (size_t)16 << 20, len);

	if (p == NULL)
		die(errno == EFBIG ? EXIT_USAGE : EXIT_IO, "%s: %s", path,
		    errno == EFBIG ? "larger than 16M" : strerror(errno));
	return p;
}

/* A descriptor set (protoc --descriptor_set_out) from a file. */
static void
add_protoset(struct pbpool *pool, const char *path)
{
	char err[256], *p;
	size_t n;

	p = read_file(path, &n);
	if (pbpool_add(pool, (const uint8_t *)p, n, err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s: %s", path, err);
	free(p);
}

static int
write_all(int fd, const void *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p = (const char *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct pbpool *pool = NULL;
	const char *from_file = NULL;
	char *program = NULL, err[512];
	size_t len;
	int c, status;

	cli_start(argv[0]);
	E.max = FRAME_MAX_DEFAULT;
	E.dl_fd = -1;
	if ((E.jq = jqstage_new()) == NULL)
		die(EXIT_INTERNAL, "jq: cannot start");
	opterr = 0;
	while (
	    (c = getopt_long(argc, argv, ":f:hm:P:qv", longopts, NULL)) != -1)
		switch (c) {
		case O_ARG:
		case O_ARGJSON:
			if (optind >= argc)
				cli_usage(synopsis, "--%s %s: needs a value",
				    c == O_ARG ? "arg" : "argjson", optarg);
			if (jqstage_arg(E.jq, optarg, argv[optind],
				c == O_ARGJSON, err, sizeof(err)) < 0)
				cli_usage(synopsis, "%s", err);
			optind++;
			break;
		case O_DEAD_LETTER:
			E.dead_letter = optarg;
			break;
		case 'f':
			from_file = optarg;
			break;
		case 'h':
			cli_help(synopsis, options);
		case 'm':
			if (cli_size(optarg, &E.max) < 0 || E.max == 0 ||
			    E.max > (size_t)1 << 30)
				cli_usage(synopsis,
				    "-m %s: not a size from 1 to 1G", optarg);
			break;
		case 'P':
			if (pool == NULL)
				pool = pbpool_new();
			add_protoset(pool, optarg);
			break;
		case 'q':
			verbosity = LOG_ERROR;
			break;
		case 'v':
			verbosity++;
			break;
		case CLI_OPT_VERSION:
			cli_version();
		default:
			cli_bad_option(synopsis, argv, c);
		}
	if (from_file != NULL) {
		if (optind != argc)
			cli_usage(synopsis, "-f %s: and a program operand",
			    from_file);
		program = read_file(from_file, &len);
	} else if (optind + 1 == argc) {
		program = strdup(argv[optind]);
	} else {
		cli_usage(synopsis,
		    optind == argc ? "no program" : "more than one program");
	}
	if (isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "refusing to write binary records to a "
		    "terminal");
	if (jqstage_compile(E.jq, program, err, sizeof(err)) < 0)
		cli_usage(synopsis, "%s", err);
	if (jqstage_selects(E.jq))
		linfo("the program selects by attributes: decided without "
		      "jq's interpreter");
	free(program);
	if (E.dead_letter != NULL &&
	    (E.dl_fd = open(E.dead_letter,
		 O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666)) == -1)
		die(EXIT_IO, "%s: %s", E.dead_letter, strerror(errno));
	if (pool != NULL)
		pbpool_add_builtin(pool);
	ce_json_init(&E.cj, CE_FORM_JSON, pool);

	arena_init(&E.arena);
	frame_reader_init(&E.fr, STDIN_FILENO, E.max);
	outbuf_init(&E.out, STDOUT_FILENO);
	E.in_io = (struct loop_io){ .fd = STDIN_FILENO,
		.prepare = input_prepare,
		.ready = input_ready };
	E.out_io = (struct loop_io){ .fd = STDOUT_FILENO,
		.prepare = output_prepare,
		.ready = output_ready };
	loop_io_add(&E.in_io);
	loop_io_add(&E.out_io);
	sig_init(on_signal, NULL);

	status = loop_run();
	linfo("%llu events in, %llu out, %llu ack-only markers, %llu dead "
	      "letters",
	    (unsigned long long)E.events_in, (unsigned long long)E.events_out,
	    (unsigned long long)E.markers, (unsigned long long)E.dead);
	if (E.dl_fd >= 0)
		close(E.dl_fd);
	frame_reader_free(&E.fr);
	outbuf_free(&E.out);
	arena_free(&E.arena);
	ce_json_free(&E.cj);
	jqstage_free(E.jq);
	strbuf_free(&E.rec);
	strbuf_free(&E.json);
	strbuf_free(&E.ack);
	strbuf_free(&E.id);
	strbuf_free(&E.source);
	strbuf_free(&E.pjson);
	strbuf_free(&E.tmp);
	pbpool_free(pool);
	return status;
}
