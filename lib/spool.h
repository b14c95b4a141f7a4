/*
 * A spool directory: what must survive a restart (undelivered Flyte
 * results and events), one file per entry, written durably (temporary
 * file, fsync, rename, fsync of the directory) before it is needed and
 * removed once it is not.  A lock file keeps two processes from sharing
 * one spool.
 */
#ifndef EVPIPE_SPOOL_H
#define EVPIPE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool {
	const char *dir;
	int dirfd, lockfd;
	uint64_t seq;
};

typedef void (*spool_entry_fn)(const char *, const char *, size_t, void *);

int spool_open(struct spool *, const char *, char *, size_t);
char *spool_save(struct spool *, const char *, size_t, char *, size_t);
int spool_remove(struct spool *, const char *, char *, size_t);
int spool_load(struct spool *, spool_entry_fn, void *, char *, size_t);
void spool_close(struct spool *);

#endif
