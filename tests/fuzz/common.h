/* tests/fuzz/common: what the targets share. */
#ifndef AM_FUZZ_COMMON_H
#define AM_FUZZ_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

/* The line of the check that refused the input ("file.c:LINE: ..."): the outcome, so inputs
 * reaching another check become seeds (a coverage signal without instrumentation). */
static inline unsigned fuzz_error_line(void)
{
    const char *e = am_last_error(), *c = strchr(e, ':');
    return c ? (unsigned)strtoul(c + 1, NULL, 10) : 0;
}

#endif
