/* host/run/flags: the flags that several commands share, each defined once (name, type, range,
 * help, default) and composed into the option tables of sim, server, agent, chan and bench.
 *
 * A group is a struct of values and a function that appends the group's entries to a cli_opt
 * table (host/util/cli.h), pointing into that struct. Defaults come from flags_*_defaults();
 * values that depend on the task family (0 / NaN = "not given") are resolved by
 * flags_learning_resolve(), the one place that knows them. */
#ifndef AM_HOST_RUN_FLAGS_H
#define AM_HOST_RUN_FLAGS_H

#include <stddef.h>

#include "fl/task.h"
#include "util/cli.h"

/* The task family and how its tasks are drawn: --task --data-dir --ways --shots --query
 * --heterogeneity --pool. */
typedef struct flags_task {
    const char *task, *data_dir;
    unsigned ways, shots, query; /* shots, query: 0 = per family */
    double heterogeneity;
    unsigned pool; /* finite data: tasks each training agent owns (0 = fresh tasks) */
} flags_task;

/* The meta-learner and the server optimiser: --learner --inner-steps --alpha --beta --optimizer
 * --clip --tasks-per-agent --local-iters --local-lr --filters. */
typedef struct flags_learner {
    const char *learner, *optimizer;
    unsigned inner_steps, tasks_per_agent, local_iters, filters; /* tasks_per_agent: 0 = family */
    double alpha, beta, local_lr;                                /* NaN = per family */
    double clip; /* server: L2 norm the aggregated update is clipped to (0 = off) */
} flags_learner;

/* What an agent puts on the air (docs/paper.md §3, docs/air-interface.md §3-4): --sparsity
 * --sparsify
 * --no-memory --rho --g-th --eta-rule. */
typedef struct flags_air {
    const char *sparsify, *eta_rule;
    double sparsity, rho, g_th;
    int no_memory;
} flags_air;

/* The emulated channel of every agent: --snr-db --taps --delay-spread. */
typedef struct flags_channel {
    double snr_db, delay_spread;
    unsigned taps;
} flags_channel;

/* Evaluation with fine-tuning: --new-agents --eval-every --eval-tasks --eval-steps --eval-alpha. */
typedef struct flags_eval {
    unsigned new_agents, eval_every, eval_tasks, eval_steps; /* 0 = per family / run */
    double eval_alpha;                                       /* NaN = --alpha */
} flags_eval;

/* A radio backend (host/radio/radio.h): --radio --radio-args. */
typedef struct flags_radio {
    const char *name, *args;
} flags_radio;

/* The payload mapping of every burst (docs/air-interface.md §3.3): --mapping complex|real (default
 * complex). phy_mapping_parse turns the value into a phy_mapping. */
#define FLAGS_MAPPING_DEFAULT "complex"
size_t flags_mapping_table(const char **mapping, cli_opt *t);

/* The calibration probes of one join (docs/air-interface.md §8.5; sim --agg iq, airmeta server):
 * --probes N, at most N probes (default PHY_CAL_PROBES, 2), and --probe-excess X, the count from
 * what the probes measure (0, the default: N probes; > 0: from the second probe on, none after a
 * probe whose excess over its noise is <= X, phy_cal_probe_again). Neither is written to
 * config.json nor into its CRC at its default: a run folder from before the flags keeps its bytes
 * and resumes. */
typedef struct flags_probes {
    unsigned probes;
    float excess;
} flags_probes;
void flags_probes_defaults(flags_probes *o);
size_t flags_probes_table(flags_probes *o, cli_opt *t);
/* AM_EINVAL in one line for --probe-excess > 0 with --probes < 2 (cli_parse checks the ranges:
 * --probes 0..PHY_CAL_PROBES_MAX, --probe-excess a finite 0..1000) */
am_status flags_probes_check(const flags_probes *o);
/* 1 when either flag differs from its default (a run that asks for probes) */
int flags_probes_set(const flags_probes *o);
/* op is --probes or --probe-excess at its default */
int flags_probes_at_default(const cli_opt *op);
/* name is --probes or --probe-excess */
int flags_probes_is(const char *name);

/* Upper bound on the entries one group appends (for sizing tables). */
#define FLAGS_GROUP_MAX 10

void flags_task_defaults(flags_task *o);
void flags_learner_defaults(flags_learner *o);
void flags_air_defaults(flags_air *o);
void flags_channel_defaults(flags_channel *o);
void flags_eval_defaults(flags_eval *o);

/* Each appends its entries at t (capacity FLAGS_GROUP_MAX) and returns how many. */
size_t flags_task_table(flags_task *o, cli_opt *t);
size_t flags_learner_table(flags_learner *o, cli_opt *t);
size_t flags_air_table(flags_air *o, cli_opt *t);
size_t flags_channel_table(flags_channel *o, cli_opt *t);
size_t flags_eval_table(flags_eval *o, cli_opt *t);
/* choices: the backends this command can use ("loop|file", "zmq|uhd"); help: what the radio is
 * for in this command. */
size_t flags_radio_table(flags_radio *o, cli_opt *t, const char *choices, const char *help);

/* The per-family defaults of what the user left unset: shots, query, tasks per agent, alpha,
 * beta, local step (= beta), the Fashion-MNIST folder; with ev (may be NULL) the evaluation
 * tasks, steps (= inner steps) and step size (= alpha). */
void flags_learning_resolve(fl_task_kind kind, flags_task *t, flags_learner *l, flags_eval *ev);

#endif
