/* core/pool: a persistent team of threads that runs one job at a time, fork-join. The round's
 * three parallel stages (fl/airfl's agents, host/round/agg_iq's agent DSP, phy/chan's emulator)
 * share it: each keeps per-thread state indexed by the worker number it is given, so results do
 * not depend on which thread ran first (every stage reduces them in a fixed order afterwards). */
#ifndef AM_CORE_POOL_H
#define AM_CORE_POOL_H

#include "core/status.h"

typedef struct am_pool am_pool; /* opaque */

/* fn(ctx, t) for worker t = 0 .. threads-1; worker 0 is the thread that calls am_pool_run. */
typedef void (*am_pool_fn)(void *ctx, unsigned t);

#define AM_POOL_MAX_THREADS 256u

/* threads in 1..AM_POOL_MAX_THREADS; threads - 1 are started here and wait for jobs (threads = 1
 * starts none: am_pool_run then calls fn(ctx, 0) and returns). AM_EINVAL for a bad count,
 * AM_ENOMEM when a thread or its synchronisation cannot be made (nothing is left running).
 * `who` names the owner in messages ("iq aggregator"). */
am_status am_pool_create(unsigned threads, const char *who, am_pool **out);

/* Runs fn(ctx, t) once for every worker t, worker 0 on the calling thread, and returns when all
 * have returned (their writes are visible to the caller). One job at a time: not reentrant, and
 * one thread at a time may call it. */
void am_pool_run(am_pool *p, am_pool_fn fn, void *ctx);

unsigned am_pool_threads(const am_pool *p);

/* Stops and joins the workers (between jobs). NULL is a no-op. */
void am_pool_destroy(am_pool *p);

#endif
