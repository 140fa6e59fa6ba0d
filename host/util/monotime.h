/* host/monotime: seconds on the monotonic clock, for deadlines, timeouts and wall-time figures of
 * the airmeta program (never the wall clock: it jumps). No spec section: program infrastructure. */
#ifndef AM_HOST_MONOTIME_H
#define AM_HOST_MONOTIME_H

/* CLOCK_MONOTONIC in seconds (arbitrary origin; differences only). */
double monotime_s(void);

#endif
