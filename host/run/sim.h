/* host/run/sim: one `airmeta sim` run as an object (docs/paper.md §3): K training agents meta-learn
 * through an aggregator (ideal | stat | iq), new agents fine-tune at eval rounds, and with a run
 * folder everything a round produces is written and checkpointed.
 *
 *   sim_config_parse()   flags -> a fully resolved configuration (or the one of --resume DIR)
 *   sim_run_create()     the learner, the aggregator, the run folder (new, or resumed from its
 *                        checkpoint)
 *   sim_run_step()       one round: aggregation, the outer step, evaluation at eval rounds, the
 *                        metrics line, the checkpoint
 *   sim_run_finish()     closes the files and draws the plots
 *   sim_run_destroy()
 *
 * A run folder (--out DIR):
 *   config.json      the fully resolved configuration (every flag, defaults included; versions)
 *   metrics.jsonl    one JSON line per round; a function of the configuration only, so the same
 *                    configuration gives the same bytes (any thread count, resumed or not)
 *   wall.jsonl       wall times per round, kept apart so that metrics.jsonl stays byte-identical
 *   checkpoint.bin   the state after the last checkpointed round (host/run/checkpoint.h), replaced
 *                    atomically every --checkpoint-every rounds and after the last round
 *   *.png            learning curves, aggregation NMSE per round, the last burst's constellation
 *                    (iq), drawn by gnuplot at the end of the run
 * Resuming continues from checkpoint.bin: nothing that a round depends on is outside it (the
 * agents' RNG streams, theta, Adam, the error memories; the stat and iq channels and the
 * evaluation tasks draw from (seed, round) only), so the rounds after it are the same bytes. */
#ifndef AM_HOST_RUN_SIM_H
#define AM_HOST_RUN_SIM_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include "core/status.h"
#include "fl/airfl.h"
#include "fl/personalize.h"
#include "round/agg_iq.h"
#include "run/flags.h"
#include "util/cli.h"

#define SIM_MAX_OPTS 80

typedef struct sim_opts {
    const char *agg, *out, *resume;
    unsigned agents, rounds, threads, checkpoint_every, stop_after;
    uint64_t seed;
    int quiet, no_plots, cont, force; /* cont: --continue */
    flags_task task;
    flags_learner learn;
    flags_air air;
    flags_channel chan;
    flags_eval eval;
    /* --agg iq (host/round/agg_iq.h) */
    unsigned nfft, cp, timing_offset;
    double cfo;
    const char *precoding, *capture_dir, *impair;
    unsigned gain_pool; /* iq: phy_ota_rx_cfg.gain_pool (0 = per bin) */
    const char *cal;    /* iq: closed-loop calibration auto|on|off (agg_iq_cfg.cal) */
    const char *mapping; /* iq: payload mapping complex|real (agg_iq_cfg.mapping) */
    flags_probes probes; /* iq with calibration: agg_iq_cfg.probes, probe_excess (§8.5) */
    flags_radio radio;
} sim_opts;

/* The parsed command line and, when resuming, the run's stored configuration. */
typedef struct sim_config {
    sim_opts o; /* what the run uses: fully resolved */
    cli_opt table[SIM_MAX_OPTS];
    size_t nopts;
    fl_task_kind kind;
    int help; /* --help was printed: nothing to run */
    /* owned: config.json of --resume and the argument vector rebuilt from it */
    cJSON *stored;
    char **av;
    char *av_store;
} sim_config;

/* Parses argv (argv[0] = "sim") with the help text `summary`: AM_OK (c->help set when --help was
 * printed) or an error naming the flag / the run folder. Free with sim_config_free. */
am_status sim_config_parse(sim_config *c, int argc, char **argv, const char *summary);
void sim_config_free(sim_config *c);

typedef struct sim_run sim_run;

/* What one round did, for the caller to show. */
typedef struct sim_round {
    unsigned round; /* 1-based */
    fl_airfl_stats s;
    double nmse_db;  /* -inf for the ideal aggregator */
    double dt;       /* wall time of the round, s */
    int is_iq;       /* iq below is valid */
    agg_iq_round_info iq;
    int eval;        /* rep below is valid */
    fl_personalize_report rep;
} sim_round;

/* The run of c (c must outlive it). With c->o.out: writes config.json and opens the metrics (new
 * run: what an earlier run left in the folder is removed) or loads the checkpoint (resume). */
am_status sim_run_create(const sim_config *c, sim_run **out);
/* Rounds done (the resumed round count right after create) and the run's length. */
unsigned sim_run_done(const sim_run *r);
const char *sim_run_describe(const sim_run *r, size_t *params, const char **agg_name);
/* One round. AM_OK with *rr filled; the run is over when sim_run_done() == o.rounds. */
am_status sim_run_step(sim_run *r, sim_round *rr);
/* Closes the run folder's files and draws the plots (unless --no-plots); a missing gnuplot is a
 * warning on stderr. */
am_status sim_run_finish(sim_run *r);
void sim_run_destroy(sim_run *r);

#endif
