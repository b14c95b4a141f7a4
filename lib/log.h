/*
 * Diagnostics on stderr, one line each: "tool: context: reason".
 * Verbosity 0 (-q) prints errors only, 1 (default) adds warnings,
 * 2 (-v) connection lifecycle and progress, 3 (-vv) protocol traces.
 *
 * EVPIPE_LOG_FORMAT picks how a line starts, for log collectors:
 *   plain     "tool: ..."                                (the default)
 *   level     "tool: warning: ..."
 *   time      "2026-12-04T15:30:06.123Z tool[pid]: warning: ..."
 *   journald  "<4>tool: ..."   (sd-daemon(3) priority prefixes)
 */
#ifndef EVPIPE_LOG_H
#define EVPIPE_LOG_H

#include <stdint.h>
#include <stdnoreturn.h>

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_TRACE };
/* Good news an operator wants at the default level ("reconnected"). */
#define LOG_NOTICE 4
enum log_format { LOG_PLAIN, LOG_LEVEL, LOG_TIME, LOG_JOURNALD };

extern const char *progname;
extern int verbosity;

void log_init(const char *);
int64_t wait_warn_ms(void);
int log_set_format(const char *);
void logmsg(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void logsys(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void lforce(int, const char *, ...) __attribute__((format(printf, 2, 3)));
noreturn void die(int, const char *, ...) __attribute__((format(printf, 2, 3)));

#define lerr(...) logmsg(LOG_ERROR, __VA_ARGS__)
#define lnotice(...) logmsg(LOG_NOTICE, __VA_ARGS__)
#define lwarn(...) logmsg(LOG_WARN, __VA_ARGS__)
#define linfo(...) logmsg(LOG_INFO, __VA_ARGS__)
#define ltrace(...) logmsg(LOG_TRACE, __VA_ARGS__)
#define logging(level) \
	(verbosity >= ((level) == LOG_NOTICE ? LOG_WARN : (level)))

#endif
