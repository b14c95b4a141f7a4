#include "config.h"
#include "fwd_targets.h"
#include "log.h"
void
fwd_bes_start(struct fwd *f, const struct bes_opts *o)
{
	die(70, "not yet");
}
