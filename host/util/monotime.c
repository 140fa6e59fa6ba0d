/* host/monotime: CLOCK_MONOTONIC in seconds (see monotime.h). */
#include "util/monotime.h"

#include <time.h>

double monotime_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
