/*
 * evcat: the human view of an evpipe stream.  Turns delimited
 * CloudEvents into CloudEvents JSON lines, or with -e JSON lines into
 * delimited CloudEvents.
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

#include "cejson.h"
#include "cli.h"
#include "cloudevent.h"
#include "exitcode.h"
#include "frame.h"
#include "log.h"
#include "loop.h"
#include "sig.h"

static const char synopsis[] = "usage: evcat [-defqv] [-m size] [file ...]\n";

static const char options[] =
    "  -d, --decode          records to JSON lines (the default)\n"
    "  -e, --encode          JSON lines to records\n"
    "  -f, --force           write records even to a terminal\n"
    "  -h, --help            print this help and exit\n"
    "  -m, --max-record=SIZE largest record in bytes (default 4M)\n"
    "  -q, --quiet           print errors only\n"
    "  -v, --verbose         print more (repeatable)\n"
    "      --version         print the version and exit\n";

static const struct option longopts[] = {
	{ "decode", no_argument, NULL, 'd' },
	{ "encode", no_argument, NULL, 'e' },
	{ "force", no_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "max-record", required_argument, NULL, 'm' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "version", no_argument, NULL, CLI_OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Output above this waits to be written before more input is read. */
#define OUT_HIGH (64 * 1024)

static struct {
	bool encode;
	size_t max;
	char **files;
	int nfiles, next;
	const char *name; /* the input being read, for diagnostics */
	struct frame_reader fr; /* decode: records in */
	struct inbuf lines; /* encode: JSON lines in */
	size_t scanned; /* bytes of lines known to hold no newline */
	uint64_t lineno;
	struct outbuf out;
	struct arena arena;
	struct loop_io in_io, out_io;
	uint64_t in_round; /* loop round in which input was last read */
	bool stopping; /* no more input; write what is left */
	int status;
	uint64_t events;
} E;

static void
stop(int status)
{
	if (E.status == EXIT_OK)
		E.status = status;
	E.stopping = true;
	E.in_io.events = 0;
}

static void
data_error(const char *what, const char *why)
{
	lerr("%s: %s%s%s", E.name, what, *what != '\0' ? ": " : "", why);
	stop(EXIT_DATA);
}

/* Start on the next file operand, or stop after the last. */
static void
next_input(void)
{
	const char *f;
	int fd;

	if (E.in_io.fd > STDIN_FILENO)
		close(E.in_io.fd);
	E.in_io.fd = -1;
	if (E.next >= (E.nfiles > 0 ? E.nfiles : 1)) {
		stop(EXIT_OK);
		return;
	}
	f = E.nfiles > 0 ? E.files[E.next] : "-";
	E.next++;
	if (strcmp(f, "-") == 0) {
		fd = STDIN_FILENO;
		E.name = "stdin";
	} else if ((fd = open(f, O_RDONLY | O_CLOEXEC)) == -1) {
		logsys(LOG_ERROR, "%s", f);
		stop(EXIT_IO);
		return;
	} else {
		E.name = f;
	}
	E.in_io.fd = fd;
	if (E.encode) {
		inbuf_free(&E.lines);
		inbuf_init(&E.lines, fd, 2 * E.max + 1024 * 1024);
		E.scanned = 0;
		E.lineno = 0;
	} else {
		frame_reader_free(&E.fr);
		frame_reader_init(&E.fr, fd, E.max);
	}
}

static void
decode_records(void)
{
	char err[256], *json;
	const uint8_t *body;
	CloudEvent *ev;
	size_t len;
	int r;

	while ((r = frame_next(&E.fr, &body, &len)) == FRAME_RECORD) {
		ev = ce_unpack(&E.arena, body, len, err, sizeof(err));
		json = ev != NULL ? ce_to_json(ev, err, sizeof(err)) : NULL;
		arena_reset(&E.arena);
		if (json == NULL) {
			frame_errorf(&E.fr, "%s", err);
			data_error("", E.fr.err);
			return;
		}
		len = strlen(json);
		json[len] = '\n';
		outbuf_add(&E.out, json, len + 1);
		cJSON_free(json);
		E.events++;
	}
	if (r == FRAME_ERROR)
		data_error("", E.fr.err);
	else if (r == FRAME_EOF)
		next_input();
}

/* A line's events go out together or, if one is bad, not at all. */
static int
encode_line(const char *s, size_t n)
{
	char err[256], what[64];
	CloudEvent *evs[64], **ev = evs;
	size_t count, i, size;
	cJSON *v, *item;
	int status = 0;

	snprintf(what, sizeof(what), "line %llu", (unsigned long long)E.lineno);
	if ((v = json_parse_line(s, n, err, sizeof(err))) == NULL) {
		data_error(what, err);
		return -1;
	}
	count = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 1;
	if (count > sizeof(evs) / sizeof(evs[0]))
		ev = arena_alloc(&E.arena, count * sizeof(*ev));
	i = 0;
	item = cJSON_IsArray(v) ? v->child : v;
	for (; i < count; i++, item = item->next) {
		if (count > 1 || cJSON_IsArray(v))
			snprintf(what, sizeof(what), "line %llu, event %zu",
			    (unsigned long long)E.lineno, i + 1);
		ev[i] = ce_from_json(&E.arena, item, err, sizeof(err));
		if (ev[i] == NULL) {
			data_error(what, err);
			status = -1;
			break;
		}
		size = protobuf_c_message_get_packed_size(&ev[i]->base);
		if (size > E.max) {
			snprintf(err, sizeof(err),
			    "event of %zu bytes exceeds the limit of %zu", size,
			    E.max);
			data_error(what, err);
			status = -1;
			break;
		}
	}
	for (i = 0; status == 0 && i < count; i++) {
		frame_put(&E.out, &ev[i]->base);
		E.events++;
	}
	cJSON_Delete(v);
	arena_reset(&E.arena);
	return status;
}

static void
encode_lines(void)
{
	const char *p, *nl;
	size_t len, n;

	for (;;) {
		p = (const char *)inbuf_data(&E.lines);
		len = inbuf_len(&E.lines);
		nl = memchr(p + E.scanned, '\n', len - E.scanned);
		n = nl != NULL ? (size_t)(nl - p) : len;
		/* One read may bring more than the limit: a line is refused
		 * by its length, whether or not its end was read. */
		if (n > E.lines.limit) {
			char what[32];

			snprintf(what, sizeof(what), "line %llu",
			    (unsigned long long)E.lineno + 1);
			data_error(what, "line too long");
			return;
		}
		if (nl == NULL && !(E.lines.eof && len > 0)) {
			E.scanned = len;
			if (E.lines.eof)
				next_input();
			return;
		}
		E.lineno++;
		E.scanned = 0;
		len = n;
		while (len > 0 && memchr(" \t\r", p[len - 1], 3) != NULL)
			len--;
		if (len > 0 && encode_line(p, len) < 0)
			return;
		inbuf_consume(&E.lines, nl != NULL ? n + 1 : n);
	}
}

static void
input_prepare(struct loop_io *io)
{
	bool room = outbuf_pending(&E.out) < OUT_HIGH;

	io->events = !E.stopping && io->fd >= 0 && room ? POLLIN : 0;
}

/* Input is readable (or at EOF): read once, convert what is complete. */
static void
input_ready(struct loop_io *io, short revents)
{
	ssize_t n;

	E.in_round = loop_round();
	if (E.encode)
		n = inbuf_fill(&E.lines, inbuf_len(&E.lines) + 1);
	else
		n = frame_fill(&E.fr);
	if (n < 0) {
		logsys(LOG_ERROR, "%s", E.name);
		stop(EXIT_IO);
		return;
	}
	if (E.encode)
		encode_lines();
	else
		decode_records();
}

static void
output_prepare(struct loop_io *io)
{
	io->events = outbuf_pending(&E.out) > 0 ? POLLOUT : 0;
	if (io->events == 0 && E.stopping)
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
	if (E.in_round == loop_round() && !E.stopping &&
	    outbuf_pending(&E.out) < OUT_HIGH)
		return;
	if (outbuf_write(&E.out) == 0)
		return;
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

static void
on_signal(int signo, void *ctx)
{
	linfo("signal %d: finishing", signo);
	stop(EXIT_OK);
}

int
main(int argc, char *argv[])
{
	bool force = false;
	int c, status;

	cli_start(argv[0]);
	E.max = FRAME_MAX_DEFAULT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":defhm:qv", longopts, NULL)) != -1)
		switch (c) {
		case 'd':
			E.encode = false;
			break;
		case 'e':
			E.encode = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			cli_help(synopsis, options);
		case 'm':
			if (cli_size(optarg, &E.max) < 0 || E.max == 0 ||
			    E.max > (size_t)1 << 30)
				cli_usage(synopsis,
				    "-m %s: not a size from 1 to 1G", optarg);
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
	E.files = argv + optind;
	E.nfiles = argc - optind;
	if (E.encode && !force && isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "refusing to write binary records to a terminal (-f "
		    "forces)");

	arena_init(&E.arena);
	outbuf_init(&E.out, STDOUT_FILENO);
	E.in_io = (struct loop_io){
		.fd = -1, .prepare = input_prepare, .ready = input_ready
	};
	E.out_io = (struct loop_io){ .fd = STDOUT_FILENO,
		.prepare = output_prepare,
		.ready = output_ready };
	loop_io_add(&E.in_io);
	loop_io_add(&E.out_io);
	sig_init(on_signal, NULL);
	next_input();

	status = loop_run();
	linfo("%llu events", (unsigned long long)E.events);
	frame_reader_free(&E.fr);
	inbuf_free(&E.lines);
	outbuf_free(&E.out);
	arena_free(&E.arena);
	return status;
}
