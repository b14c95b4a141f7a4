#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "errf.h"

int
errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, len, fmt, ap);
		va_end(ap);
	}
	return -1;
}
