/* host/run/sweep_plan: the grid of `airmeta sweep` (aggregation x SNR x sparsity x K x g_th x
 * seeds, docs/paper.md §4) as a list of `airmeta sim` jobs, each writing its own run folder
 * runs/NAME/; the job list for batch systems (GNU parallel, a Slurm array: issue 14) and
 * sweep.json. */
#ifndef AM_HOST_SWEEP_PLAN_H
#define AM_HOST_SWEEP_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/status.h"

#define SWEEP_MAX_LIST 64      /* values per grid flag */
#define SWEEP_MAX_RUNS 100000u /* jobs per grid */
#define SWEEP_MAX_ARGS 256     /* arguments of one sim command line */
#define SWEEP_PATH 4096

/* The grid as the user wrote it (the flags of `airmeta sweep`). */
typedef struct sweep_spec {
    const char *snr, *sparsity, *agents, *g_th, *agg, *seeds, *task; /* comma-separated lists */
    const char *baseline_beta; /* NULL or a list: ideal runs at these outer steps (controls) */
    unsigned rounds;
    int pass_argc; /* sim flags given after `--`, passed to every run */
    char *const *pass_argv;
} sweep_spec;

/* One configuration (a row of summary.csv). ideal does not use SNR or g_th: NaN there. beta NaN:
 * the runs' own --beta (as passed after `--`); a number: a --baseline-beta control (ideal only),
 * which sim is given as its last --beta. */
typedef struct sweep_point {
    const char *agg; /* "ideal" | "stat" | "iq" (static strings: compare pointers) */
    double snr_db, g_th;
    double sparsity;
    unsigned agents;
    double beta;
} sweep_point;

/* One run: a configuration and a seed; its run folder is runs/NAME. */
typedef struct sweep_job {
    size_t point;
    uint64_t seed;
    char name[192];
} sweep_job;

/* The whole grid; read-only after create. jobs are configuration-major (job j is point
 * j / nseeds with seed j % nseeds); points are agg-major in the order of --agg, then SNR,
 * sparsity, K, g_th as listed; ideal runs once per (sparsity, K); then the --baseline-beta
 * controls (ideal, per beta as listed, per (sparsity, K)). */
typedef struct sweep_plan {
    char *task;
    unsigned rounds;
    int pass_argc;
    char **pass_argv; /* copies */
    const char *aggs[3];
    unsigned naggs;
    sweep_point *points;
    size_t npoints;
    uint64_t *seeds;
    unsigned nseeds;
    sweep_job *jobs;
    size_t njobs;
} sweep_plan;

/* Parses and checks the lists (AM_EINVAL naming the flag and the value at fault: not a number,
 * out of range, repeated, more than SWEEP_MAX_LIST, a grid over SWEEP_MAX_RUNS runs) and builds
 * the grid. Also refuses, after `--`, the flags the sweep sets itself. */
am_status sweep_plan_create(const sweep_spec *spec, sweep_plan **out);
void sweep_plan_destroy(sweep_plan *p); /* NULL is a no-op */

/* word as one shell word: as is when it is plain (letters, digits, -_.,/=+:@), else in single
 * quotes (a ' as '\''), as jobs.txt's lines quote theirs; malloc'ed, NULL when out of memory */
char *sweep_shell_quote(const char *word);

/* A sim command line: argv (NULL-terminated) and its shell-quoted text. */
typedef struct sweep_argv {
    char *v[SWEEP_MAX_ARGS];
    size_t n;
    char *cmdline;
} sweep_argv;

enum {
    SWEEP_ARGV_PROBE = 1,   /* a one-round run that only validates the flags (rundir unused) */
    SWEEP_ARGV_CONTINUE = 2 /* sim --continue: a finished run in rundir is a no-op (job lists) */
};

/* sim's arguments for job j: program self, run folder rundir. */
am_status sweep_plan_argv(const sweep_plan *p,
                          size_t j,
                          const char *self,
                          const char *rundir,
                          unsigned flags,
                          sweep_argv *out);
void sweep_argv_free(sweep_argv *a);

/* The first job of aggregation a (p->aggs[a], a < p->naggs): the first seed of its first
 * configuration (jobs are point-major, p->nseeds per point). */
size_t sweep_plan_first_job(const sweep_plan *p, unsigned a);

/* sim's own check of the flags after `--` (sim_config_parse, in this process: nothing runs), on
 * the first job of each aggregation as the probe run does: AM_EINVAL naming the flag ("sim's
 * flags after `--`: --alpha: -1 is outside ..."). sweep --collect checks a sweep.json's flags so. */
am_status sweep_plan_check_sim(const sweep_plan *p);

/* Writes the job list DIR/jobs.txt: line j+1 runs job j, as
 *   "${AIRMETA:-/abs/airmeta}" sim ... --out DIR/runs/NAME ... --continue
 * each self-contained (absolute paths; $AIRMETA, when set, names the program instead) and
 * idempotent (a finished run folder of the same configuration: nothing to do, exit 0). dir must be
 * absolute. With slurm, also DIR/sweep.sbatch: a Slurm array of njobs tasks, task i runs line i
 * (plus $AIRMETA_LINE_OFFSET) of jobs.txt, its output in DIR/slurm/. */
am_status sweep_plan_write_jobs(const sweep_plan *p, const char *self, const char *dir, int slurm);

/* The grid written to DIR/sweep.json: the sweep's own argv (argv[0] = "sweep"; `--collect`
 * reads the grid back from it), the lists as given, rounds, run count and version. */
am_status sweep_plan_write_json(const sweep_spec *spec,
                                int argc,
                                char *const *argv,
                                size_t nruns,
                                const char *version,
                                const char *dir);

/* Reads DIR/sweep.json's argv back (malloc'ed strings; free with sweep_json_argv_free).
 * AM_ENOTFOUND when DIR holds no sweep.json, AM_EFORMAT naming the file when it is not one: not
 * JSON, no "argv" list of strings, or not the command line of a --plan or --out sweep (argv[0]
 * "sweep", --plan DIR or --out DIR, no --help or --collect before `--`). */
am_status sweep_plan_read_argv(const char *dir, int *argc, char ***argv);
void sweep_json_argv_free(int argc, char **argv);

/* Refuses, after `--`, the flags the sweep sets itself and --help / -h (sim would print its help
 * and run nothing): AM_EINVAL naming the flag. */
am_status sweep_plan_check_pass(int argc, char *const *argv);

/* Writes text to path (plain fopen/fputs); o printed by cJSON with a final newline (o is
 * deleted). AM_EIO naming path. */
am_status sweep_write_text(const char *path, const char *text);
am_status sweep_write_json(const char *path, cJSON *o);

#endif
