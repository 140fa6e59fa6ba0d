/* host/run/sweep_collect: the run folders of a sweep (sim's config.json + metrics.jsonl) ->
 * per-run figures, paired differences with the ideal runs, results.{csv,json} (one row per run),
 * summary.{csv,json} (mean and standard error over seeds) and the printed table (docs/paper.md §4).
 *
 * A new column: one entry in enum sweep_metric and the same line in sweep_collect.c's metric
 * table (its name and where it comes from: a key of the last round's line, the mean of a key over
 * the rounds, a dB of another column, or a difference with the paired ideal run). The CSV/JSON
 * tables, the summary over seeds and the plots' access by index follow. */
#ifndef AM_HOST_SWEEP_COLLECT_H
#define AM_HOST_SWEEP_COLLECT_H

#include <stdio.h>

#include "core/status.h"
#include "run/sweep_plan.h"

/* Per-run figures, in table order. */
enum sweep_metric {
    SWEEP_M_FINAL_TRAIN_LOSS,
    SWEEP_M_TRAIN_LOSS_TAIL,
    SWEEP_M_NEW_LOSS_BEFORE,
    SWEEP_M_NEW_LOSS_AFTER,
    SWEEP_M_NEW_ACC_AFTER,
    SWEEP_M_TRAIN_LOSS_AFTER,
    SWEEP_M_TRAIN_ACC_AFTER,
    SWEEP_M_GAP_LOSS, /* "gap_fresh": new agents - fresh tasks of the training agents */
    SWEEP_M_GAP_ACC,
    SWEEP_M_OWN_LOSS_AFTER, /* training agents on their own pool (sim --pool; NaN without) */
    SWEEP_M_GAP_PAPER,      /* the paper's gap: new agents - own data (NaN without a pool) */
    SWEEP_M_AGG_NMSE,
    SWEEP_M_AGG_NMSE_DB,
    SWEEP_M_MEAN_ACTIVE,
    SWEEP_M_D_NEW_LOSS_AFTER, /* paired with the ideal run of the same seed, sparsity and K */
    SWEEP_M_D_GAP_LOSS,
    SWEEP_M_D_GAP_PAPER,
    SWEEP_M_COUNT
};

/* Column name of metric k ("new_loss_after"). */
const char *sweep_metric_name(int k);

/* One job's results; loss == NULL: none (not run, failed, missing). */
typedef struct sweep_run {
    double *loss; /* training loss per round (plan->rounds values) */
    double m[SWEEP_M_COUNT];
    /* every evaluation round: its round, new agents' and (with a pool) the training agents'
     * own-data loss after fine-tuning (NaN without a pool); n_eval entries each */
    unsigned n_eval;
    unsigned *eval_round;
    double *eval_new, *eval_own;
} sweep_run;

void sweep_run_clear(sweep_run *r); /* frees loss; NULL-safe */

enum {
    SWEEP_READ_CHECK = 1 /* also check config.json's agg/task/seed/K/sparsity/SNR/g_th */
};

/* Reads job j's run folder rundir into r: config.json must say plan->rounds rounds; metrics.jsonl
 * must hold rounds 1..R in order, the last with "eval". AM_EFORMAT / AM_ENOTFOUND with a message
 * naming the file (and line) when it is not a complete run; r->loss is NULL then. The paired
 * columns are NaN until sweep_collect_pair. */
am_status
sweep_collect_read(const sweep_plan *p, size_t j, const char *rundir, unsigned flags, sweep_run *r);

/* Reads every job's folder DIR/runs/NAME (checked); runs[j].loss NULL for those missing. Lists
 * each missing one on out (with its line of DIR/jobs.txt and why) and returns how many. */
size_t sweep_collect_read_all(const sweep_plan *p, const char *dir, sweep_run *runs, FILE *out);

/* Paired differences: a run minus the ideal run of the same seed, sparsity and K (same agents,
 * tasks and initialisation: only the channel differs). The reference is the ideal run at the
 * runs' own beta; the --baseline-beta controls are paired with it too (their difference is what
 * the smaller step alone does, beside what each SNR does). */
void sweep_collect_pair(const sweep_plan *p, sweep_run *runs);

/* Mean and standard error over the seeds of configuration c (runs with results only). */
typedef struct sweep_sum {
    unsigned n[SWEEP_M_COUNT];
    double mean[SWEEP_M_COUNT], se[SWEEP_M_COUNT];
    unsigned seeds; /* runs that finished */
} sweep_sum;
void sweep_collect_summarise(const sweep_plan *p, const sweep_run *runs, size_t c, sweep_sum *out);

/* DIR/results.{csv,json}, DIR/summary.{csv,json} and DIR/evals.csv (new agents' and own-data
 * loss after fine-tuning at every evaluation round, mean and standard error over seeds per
 * configuration). AM_EIO naming the file. */
am_status sweep_collect_tables(const sweep_plan *p, const sweep_run *runs, const char *dir);

/* The summary table, one line per configuration with results; then new agents' loss against
 * the evaluation rounds (means over seeds). */
void sweep_collect_print(FILE *out, const sweep_plan *p, const sweep_run *runs);

/* Mean and standard error over the seeds of configuration c of new agents' (own = 0) or own-data
 * (own = 1) loss at evaluation e (the evaluation rounds of the first run of c with results).
 * Returns the seeds counted; *round = that evaluation's round (0 if none). */
unsigned sweep_collect_eval_sum(const sweep_plan *p,
                                const sweep_run *runs,
                                size_t c,
                                unsigned e,
                                int own,
                                unsigned *round,
                                double *mean,
                                double *se);
/* Evaluation rounds of configuration c (those of its first run with results; 0 if none). */
unsigned sweep_collect_n_eval(const sweep_plan *p, const sweep_run *runs, size_t c);

#endif
