/* host/run/sweep_local: runs a sweep's jobs (run/sweep_plan.h) as child processes of this
 * program on this machine, N at a time, and reads each finished run (run/sweep_collect.h).
 * A run folder DIR/runs/NAME/ is complete when DIR/runs/NAME.cmd holds exactly its command line
 * (written only after the run succeeded and read whole) and the folder reads whole. */
#ifndef AM_HOST_SWEEP_LOCAL_H
#define AM_HOST_SWEEP_LOCAL_H

#include <stddef.h>

#include "core/status.h"
#include "run/sweep_collect.h"
#include "run/sweep_plan.h"

typedef struct sweep_local sweep_local;

typedef struct sweep_local_cfg {
    const char *dir;  /* the sweep's folder: runs in dir/runs/ */
    const char *self; /* the airmeta program (absolute path), argv[0] of every child */
    unsigned jobs;    /* children at a time, >= 1 */
    int force;        /* run again runs already complete */
} sweep_local_cfg;

/* One probe per aggregation of the grid: sim validates every flag (the pass-through ones too)
 * before the grid starts, so a typo is one clear message, not one per run. On refusal AM_EINVAL
 * quoting sim's last line and command line, with sim's exit code in *code. */
am_status sweep_local_probe(const sweep_plan *p, const sweep_local_cfg *cfg, int *code);

/* Builds every job's command line (run folder dir/runs/NAME) and, unless force, reads the runs
 * already complete into runs[] (counted in *skipped). cfg is copied. */
am_status sweep_local_create(const sweep_plan *p,
                             const sweep_local_cfg *cfg,
                             sweep_run *runs,
                             sweep_local **out,
                             size_t *skipped);
void sweep_local_destroy(sweep_local *q); /* NULL is a no-op */

/* What happened to a job: it could not start (s != AM_OK, started 0), it failed (s != AM_OK,
 * started 1: exit code or an incomplete run folder, in the thread's last error) or it finished
 * (s == AM_OK, runs[job] read). done counts the jobs over, dt is the run's wall time. */
typedef void (*sweep_local_done_fn)(
    void *ctx, size_t job, size_t done, double dt, am_status s, int started, const char *cmdline);

/* Runs the jobs not complete, cfg->jobs at a time; runs[j] gets each one's results. *failed
 * counts the failed ones. AM_EIO only when waiting for the children fails. */
am_status sweep_local_run(
    sweep_local *q, sweep_run *runs, sweep_local_done_fn done, void *ctx, size_t *failed);

#endif
