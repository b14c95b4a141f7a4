/*
 * evcat: the human view of an evpipe stream.  Turns delimited
 * CloudEvents into CloudEvents JSON lines (or one-line views, -f), or
 * with -e JSON lines into delimited CloudEvents.
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

#include "ceformat.h"
#include "cejson.h"
#include "cli.h"
#include "cloudevent.h"
#include "exitcode.h"
#include "frame.h"
#include "jsonraw.h"
#include "log.h"
#include "loop.h"
#include "pbdesc.h"
#include "sig.h"
#include "slurp.h"

static const char synopsis[] = "usage: evcat [-deFqv] [-D form] [-f format] "
			       "[-m size] [-P protoset] [file ...]\n";

static const char options[] =
    "  -D, --data=FORM       protobuf data as base64 (the default), json,\n"
    "                        text or proto (the evpipe 1 data_proto)\n"
    "  -d, --decode          records to JSON lines (the default)\n"
    "  -e, --encode          JSON lines to records\n"
    "  -F, --force           write records even to a terminal\n"
    "  -f, --format=FORMAT   one line per event from FORMAT (%type, ...)\n"
    "  -h, --help            print this help and exit\n"
    "  -m, --max-record=SIZE largest record in bytes (default 4M)\n"
    "  -P, --protoset=FILE   more protobuf types, from a descriptor set\n"
    "  -q, --quiet           print errors only\n"
    "  -v, --verbose         print more (repeatable)\n"
    "      --version         print the version and exit\n";

static const struct option longopts[] = {
	{ "data", required_argument, NULL, 'D' },
	{ "decode", no_argument, NULL, 'd' },
	{ "encode", no_argument, NULL, 'e' },
	{ "force", no_argument, NULL, 'F' },
	{ "format", required_argument, NULL, 'f' },
	{ "help", no_argument, NULL, 'h' },
	{ "max-record", required_argument, NULL, 'm' },
	{ "protoset", required_argument, NULL, 'P' },
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
	struct ce_json cj; /* the JSON mapping, its types */
	struct ceformat *format; /* -f */
	struct strbuf line; /* decode: one line out */
	uint64_t unknown; /* records with fields CloudEvent has not */
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

/* Fields CloudEvent does not have cannot be shown: say so, once. */
static void
note_unknown(void)
{
	if (E.unknown++ == 0)
		lwarn("%s: record %llu at byte %llu: fields CloudEvent does "
		      "not have are dropped (further ones are counted)",
		    E.name, (unsigned long long)E.fr.nrec,
		    (unsigned long long)E.fr.rec_off);
}

static void
decode_records(void)
{
	char err[256];
	const uint8_t *body;
	CloudEvent *ev;
	size_t len;
	int r;

	while ((r = frame_next(&E.fr, &body, &len)) == FRAME_RECORD) {
		strbuf_reset(&E.line);
		ev = ce_unpack(&E.arena, body, len, err, sizeof(err));
		if (ev != NULL && ce_has_unknown(ev))
			note_unknown();
		if (ev != NULL &&
		    (E.format != NULL ? ceformat_expand(E.format, &E.cj, ev,
					    &E.line, err, sizeof(err)) :
					ce_json_write(&E.cj, ev, &E.line, err,
					    sizeof(err))) < 0)
			ev = NULL;
		arena_reset(&E.arena);
		if (ev == NULL) {
			frame_errorf(&E.fr, "%s", err);
			data_error("", E.fr.err);
			return;
		}
		if (E.format == NULL)
			strbuf_addc(&E.line, '\n');
		outbuf_add(&E.out, E.line.p, E.line.len);
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
	const struct jv *item;
	size_t count, i, size;
	struct jv *v;
	int status = 0;

	snprintf(what, sizeof(what), "line %llu", (unsigned long long)E.lineno);
	if ((v = jv_parse(&E.arena, s, n, err, sizeof(err))) == NULL) {
		data_error(what, err);
		arena_reset(&E.arena);
		return -1;
	}
	count = v->kind == JV_ARRAY ? v->n : 1;
	if (count > sizeof(evs) / sizeof(evs[0]))
		ev = arena_alloc(&E.arena, count * sizeof(*ev));
	item = v->kind == JV_ARRAY ? v->child : v;
	for (i = 0; i < count; i++, item = item->next) {
		if (v->kind == JV_ARRAY)
			snprintf(what, sizeof(what), "line %llu, event %zu",
			    (unsigned long long)E.lineno, i + 1);
		ev[i] = ce_json_read(&E.cj, &E.arena, item, err, sizeof(err));
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

/* A descriptor set (protoc --descriptor_set_out) from a file. */
static void
add_protoset(struct pbpool *pool, const char *path)
{
	char err[256], *p;
	size_t n;

	if ((p = slurp_file(path, (size_t)64 << 20, &n)) == NULL)
		die(errno == EFBIG ? EXIT_USAGE : EXIT_IO, "%s: %s", path,
		    errno == EFBIG ? "larger than 64M" : strerror(errno));
	if (pbpool_add(pool, (const uint8_t *)p, n, err, sizeof(err)) < 0)
		die(EXIT_USAGE, "%s: %s", path, err);
	free(p);
}

static enum ce_data_form
data_form(const char *s)
{
	static const char *const names[] = { "base64", "json", "text",
		"proto" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return (enum ce_data_form)i;
	cli_usage(synopsis, "--data=%s: not base64, json, text or proto", s);
}

int
main(int argc, char *argv[])
{
	enum ce_data_form form = CE_FORM_BASE64;
	struct pbpool *pool = NULL;
	const char *format = NULL;
	bool force = false;
	char err[256];
	int c, status;

	cli_start(argv[0]);
	E.max = FRAME_MAX_DEFAULT;
	opterr = 0;
	while ((c = getopt_long(
		    argc, argv, ":D:deFf:hm:P:qv", longopts, NULL)) != -1)
		switch (c) {
		case 'D':
			form = data_form(optarg);
			break;
		case 'd':
			E.encode = false;
			break;
		case 'e':
			E.encode = true;
			break;
		case 'F':
			force = true;
			break;
		case 'f':
			format = optarg;
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
	E.files = argv + optind;
	E.nfiles = argc - optind;
	if (E.encode && format != NULL)
		cli_usage(synopsis, "-f makes lines from records, not records");
	if (E.encode && !force && isatty(STDOUT_FILENO))
		cli_usage(synopsis,
		    "refusing to write binary records to a terminal (-F "
		    "forces)");
	if (format != NULL &&
	    (E.format = ceformat_compile(format, err, sizeof(err))) == NULL)
		cli_usage(synopsis, "-f: %s", err);
	if (pool != NULL) /* the user's types first: theirs win */
		pbpool_add_builtin(pool);
	ce_json_init(&E.cj, form, pool);

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
	if (E.unknown > 1)
		lwarn("%llu records had fields CloudEvent does not have; "
		      "they were dropped",
		    (unsigned long long)E.unknown);
	linfo("%llu events", (unsigned long long)E.events);
	frame_reader_free(&E.fr);
	inbuf_free(&E.lines);
	outbuf_free(&E.out);
	arena_free(&E.arena);
	ce_json_free(&E.cj);
	ceformat_free(E.format);
	strbuf_free(&E.line);
	pbpool_free(pool);
	return status;
}
