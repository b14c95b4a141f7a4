/* Just enough TAP for unit tests: ok(), is_int(), is_str(), is_mem(). */
#ifndef EVPIPE_TAP_H
#define EVPIPE_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

static void __attribute__((format(printf, 4, 5)))
tap_result(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", pass ? "" : "not ", ++tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass) {
		printf("#   failed at %s:%d\n", file, line);
		tap_failed++;
	}
	fflush(stdout);
}

#define ok(cond, ...) tap_result(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                           \
	do {                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want); \
		if (g_ != w_)                                            \
			printf("#   got %lld, want %lld\n", g_, w_);     \
		ok(g_ == w_, __VA_ARGS__);                               \
	} while (0)

#define is_str(got, want, ...)                                               \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		int same_ = g_ != NULL && w_ != NULL ? strcmp(g_, w_) == 0 : \
						       g_ == w_;             \
		if (!same_)                                                  \
			printf("#   got  \"%s\"\n#   want \"%s\"\n",         \
			    g_ ? g_ : "(null)", w_ ? w_ : "(null)");         \
		ok(same_, __VA_ARGS__);                                      \
	} while (0)

#define is_mem(got, gotlen, want, wantlen, ...)                            \
	ok((gotlen) == (wantlen) && memcmp((got), (want), (wantlen)) == 0, \
	    __VA_ARGS__)

static int
done_testing(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed != 0;
}

#endif
