/*
 * Signals as events in the loop (a self-pipe, as s6 does).  SIGTERM and
 * SIGINT ask the tool to drain and stop; a second one ends the process
 * at once with the default action.  SIGUSR1 prints the tool's metrics
 * (metrics.h) on stderr.  SIGPIPE is ignored: a closed
 * stdout shows up as EPIPE from write(2).
 */
#ifndef EVPIPE_SIG_H
#define EVPIPE_SIG_H

void sig_init(void (*)(int, void *), void *);
void sig_catch(int);
void sig_child_reset(void);

#endif
