/*
 * support.c - small helpers shared by the unit tests (support.h).
 */
#include <time.h>

#include "support.h"

void
sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0)
		;
}
