#include "config.h"
#include "fwd_targets.h"
#include "log.h"
void
fwd_store_start(struct fwd *f, const struct store_opts *o)
{
	die(70, "not yet");
}
