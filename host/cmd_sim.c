/* airmeta sim: Air-meta-pFL end to end in one process (PAPER.md §3): K training agents meta-learn
 * through an aggregator (ideal | stat | iq), new agents fine-tune at eval rounds; JSONL metrics. */
#include <cblas.h> /* openblas_set_num_threads only: the agents are the parallelism */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg_iq.h"
#include "cli.h"
#include "commands.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/agg.h"
#include "fl/airfl.h"
#include "fl/meta.h"
#include "fl/model.h"
#include "fl/personalize.h"
#include "fl/sparse.h"
#include "fl/task.h"

typedef struct sim_opts {
    const char *agg, *task, *data_dir, *sparsify, *learner, *optimizer, *eta_rule, *out;
    unsigned agents, new_agents, rounds, inner_steps, tasks_per_agent, local_iters, eval_every,
        eval_tasks, eval_steps, ways, shots, query, threads, filters;
    double snr_db, g_th, rho, sparsity, alpha, beta, local_lr, eval_alpha, heterogeneity;
    uint64_t seed;
    int no_memory, quiet;
    /* --agg iq (host/agg_iq.h) */
    unsigned nfft, cp, taps, timing_offset;
    double delay_spread, cfo;
    const char *precoding, *capture_dir, *radio, *radio_args;
} sim_opts;

/* The aggregator by name. Adding one (e.g. `iq`, the real waveform) is one line here plus its
 * name in the --agg choices. */
static am_status make_agg(const sim_opts *o, size_t D, fl_agg *out)
{
    if (strcmp(o->agg, "ideal") == 0)
        return fl_agg_ideal_create(out);
    if (strcmp(o->agg, "stat") == 0) {
        fl_agg_stat_cfg sc = {.snr_db = o->snr_db, .seed = o->seed};
        return fl_agg_stat_create(&sc, out);
    }
    if (strcmp(o->agg, "iq") == 0) {
        agg_iq_cfg c;
        agg_iq_cfg_default(&c);
        c.agents = o->agents;
        c.max_dim = D;
        c.nfft = o->nfft;
        c.cp_len = o->cp;
        c.n_taps = o->taps;
        c.delay_spread = (float)o->delay_spread;
        c.max_timing_offset =
            o->timing_offset != UINT32_MAX ? o->timing_offset : (o->cp ? o->cp : o->nfft / 8) / 4;
        c.max_cfo = (float)o->cfo;
        c.snr_db = (float)o->snr_db;
        c.threads = o->threads < 64 ? o->threads : 64;
        c.seed = o->seed;
        c.capture_dir = o->capture_dir;
        c.radio = o->radio;
        c.radio_args = o->radio_args;
        am_status s = agg_iq_precoding_parse(o->precoding, &c.precoding);
        return s == AM_OK ? agg_iq_create(&c, out) : s;
    }
    return AM_FAIL(AM_EINVAL, "--agg: unknown aggregator '%s'", o->agg);
}

static am_status make_model(const sim_opts *o, const fl_task_family *fam, fl_model **m)
{
    size_t nb = fl_task_support_size(fam), nq = fl_task_query_size(fam);
    size_t batch = nb > nq ? nb : nq;
    if (fl_task_family_cfg(fam)->kind == FL_TASK_SINUSOID) {
        const unsigned w[] = {1, 40, 40, 1}; /* MAML's sinusoid network */
        fl_mlp_cfg mc = {w, 4, batch};
        return fl_model_create_mlp(&mc, m);
    }
    fl_cnn_cfg cc;
    fl_cnn_cfg_default(&cc);
    unsigned ch, h, w;
    fl_task_in_shape(fam, &ch, &h, &w);
    cc.in_channels = ch;
    cc.height = h;
    cc.width = w;
    cc.filters = o->filters;
    cc.n_classes = (unsigned)fl_task_out_dim(fam);
    cc.max_batch = batch;
    return fl_model_create_cnn(&cc, m);
}

static void add_stats(cJSON *o, const char *name, const fl_eval_stats *s)
{
    cJSON *e = cJSON_AddObjectToObject(o, name);
    cJSON_AddNumberToObject(e, "tasks", s->n_tasks);
    cJSON_AddNumberToObject(e, "loss_before", s->loss_before);
    cJSON_AddNumberToObject(e, "loss_after", s->loss_after);
    cJSON_AddNumberToObject(e, "loss_after_se", s->loss_after_se);
    cJSON_AddNumberToObject(e, "acc_before", s->acc_before); /* NaN (regression) -> null */
    cJSON_AddNumberToObject(e, "acc_after", s->acc_after);
    cJSON_AddNumberToObject(e, "acc_after_se", s->acc_after_se);
}

static am_status write_json(FILE *f, cJSON *o, const char *path)
{
    char *s = cJSON_PrintUnformatted(o);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "JSON: out of memory");
    int bad = fprintf(f, "%s\n", s) < 0;
    cJSON_free(s);
    if (bad)
        return AM_FAIL(AM_EIO, "%s: write failed: %s", path, strerror(errno));
    return AM_OK;
}

static cJSON *config_json(const sim_opts *o, const fl_model *m, size_t k)
{
    cJSON *c = cJSON_CreateObject(), *cfg = cJSON_AddObjectToObject(c, "config");
    cJSON_AddStringToObject(cfg, "agg", o->agg);
    cJSON_AddStringToObject(cfg, "task", o->task);
    cJSON_AddStringToObject(cfg, "model", fl_model_describe(m));
    cJSON_AddNumberToObject(cfg, "params", (double)fl_model_nparams(m));
    cJSON_AddNumberToObject(cfg, "agents", o->agents);
    cJSON_AddNumberToObject(cfg, "new_agents", o->new_agents);
    cJSON_AddNumberToObject(cfg, "rounds", o->rounds);
    cJSON_AddNumberToObject(cfg, "snr_db", o->snr_db);
    cJSON_AddNumberToObject(cfg, "g_th", o->g_th);
    cJSON_AddNumberToObject(cfg, "rho", o->rho);
    cJSON_AddStringToObject(cfg, "eta_rule", o->eta_rule);
    cJSON_AddNumberToObject(cfg, "sparsity", o->sparsity);
    cJSON_AddStringToObject(cfg, "sparsify", o->sparsify);
    cJSON_AddNumberToObject(cfg, "entries_sent", (double)k);
    cJSON_AddBoolToObject(cfg, "memory", !o->no_memory);
    cJSON_AddNumberToObject(cfg, "seed", (double)o->seed);
    cJSON_AddStringToObject(cfg, "learner", o->learner);
    cJSON_AddNumberToObject(cfg, "inner_steps", o->inner_steps);
    cJSON_AddNumberToObject(cfg, "alpha", o->alpha);
    cJSON_AddNumberToObject(cfg, "beta", o->beta);
    cJSON_AddStringToObject(cfg, "optimizer", o->optimizer);
    cJSON_AddNumberToObject(cfg, "tasks_per_agent", o->tasks_per_agent);
    cJSON_AddNumberToObject(cfg, "local_iters", o->local_iters);
    cJSON_AddNumberToObject(cfg, "local_lr", o->local_lr);
    cJSON_AddNumberToObject(cfg, "ways", o->ways);
    cJSON_AddNumberToObject(cfg, "shots", o->shots);
    cJSON_AddNumberToObject(cfg, "query", o->query);
    cJSON_AddNumberToObject(cfg, "heterogeneity", o->heterogeneity);
    cJSON_AddNumberToObject(cfg, "eval_every", o->eval_every);
    cJSON_AddNumberToObject(cfg, "eval_tasks", o->eval_tasks);
    cJSON_AddNumberToObject(cfg, "eval_steps", o->eval_steps);
    cJSON_AddNumberToObject(cfg, "eval_alpha", o->eval_alpha);
    if (strcmp(o->agg, "iq") == 0) {
        cJSON *iq = cJSON_AddObjectToObject(cfg, "iq");
        cJSON_AddNumberToObject(iq, "nfft", o->nfft);
        cJSON_AddNumberToObject(iq, "cp", o->cp ? o->cp : o->nfft / 8);
        cJSON_AddNumberToObject(iq, "taps", o->taps);
        cJSON_AddNumberToObject(iq, "delay_spread", o->delay_spread);
        cJSON_AddNumberToObject(iq, "cfo", o->cfo);
        cJSON_AddStringToObject(iq, "precoding", o->precoding);
        if (o->radio)
            cJSON_AddStringToObject(iq, "radio", o->radio);
        if (o->capture_dir)
            cJSON_AddStringToObject(iq, "capture_dir", o->capture_dir);
    }
    return c;
}

/* Per-kind defaults for what the user did not set (0 / NaN = not given). */
static void fill_defaults(sim_opts *o, fl_task_kind kind)
{
    const int sin = kind == FL_TASK_SINUSOID;
    if (!o->rounds)
        o->rounds = sin ? 5000 : 100;
    if (!o->tasks_per_agent)
        o->tasks_per_agent = sin ? 5 : 1;
    if (!o->shots)
        o->shots = sin ? 10 : (kind == FL_TASK_FMNIST ? 5 : 1);
    if (!o->query)
        o->query = sin ? 10 : 5;
    if (isnan(o->alpha))
        o->alpha = sin ? 0.01 : 0.1;
    if (isnan(o->beta))
        o->beta = sin ? 3e-3 : 2e-3;
    if (isnan(o->local_lr))
        o->local_lr = o->beta;
    if (isnan(o->eval_alpha))
        o->eval_alpha = o->alpha;
    if (!o->eval_steps)
        o->eval_steps = o->inner_steps;
    if (!o->eval_tasks)
        o->eval_tasks = sin ? 600 : 100;
    if (!o->eval_every)
        o->eval_every = o->rounds / 4 ? o->rounds / 4 : 1;
}

int cmd_sim(int argc, char **argv)
{
    sim_opts o = {.agg = "stat",
                  .task = "sinusoid",
                  .sparsify = "topk",
                  .learner = "maml",
                  .optimizer = "adam",
                  .eta_rule = "rms",
                  .agents = 10,
                  .new_agents = 10,
                  .inner_steps = 1,
                  .local_iters = 1,
                  .ways = 5,
                  .threads = 0,
                  .filters = 32,
                  .snr_db = 20.0,
                  .g_th = 0.1,
                  .rho = 1.0,
                  .sparsity = 1.0,
                  .alpha = NAN,
                  .beta = NAN,
                  .local_lr = NAN,
                  .eval_alpha = NAN,
                  .heterogeneity = 0.0,
                  .seed = 1,
                  .nfft = 256,
                  .taps = 4,
                  .timing_offset = UINT32_MAX,
                  .delay_spread = 1.0,
                  .precoding = "inversion"};
    const cli_opt opts[] = {
        {"--agg", CLI_CHOICE, &o.agg, "aggregation channel", 0, 0, "ideal|stat|iq"},
        {"--task", CLI_CHOICE, &o.task, "task family", 0, 0, "sinusoid|fmnist|omniglot"},
        {"--data-dir", CLI_STR, &o.data_dir,
         "fmnist: IDX folder (default " FL_FMNIST_DEFAULT_DIR "); omniglot: folder with "
         "images_background/ and images_evaluation/",
         1, 0, NULL},
        {"--agents", CLI_UINT, &o.agents, "training agents K", 1, 10000, NULL},
        {"--new-agents", CLI_UINT, &o.new_agents, "new agents (evaluation only)", 1, 10000, NULL},
        {"--rounds", CLI_UINT, &o.rounds, "rounds (default 5000 sinusoid, 100 images)", 1, 1e7,
         NULL},
        {"--snr-db", CLI_DOUBLE, &o.snr_db, "per-agent SNR rho/N0 in dB (stat, iq)", -50, 100,
         NULL},
        {"--g-th", CLI_DOUBLE, &o.g_th, "truncation threshold on |h|^2", 0, 20, NULL},
        {"--rho", CLI_DOUBLE, &o.rho, "transmit power factor", 1e-6, 1e6, NULL},
        {"--eta-rule", CLI_CHOICE, &o.eta_rule,
         "payload scale: rms = mean power per bin <= 1, peak = every |c| <= 1", 0, 0, "rms|peak"},
        {"--sparsity", CLI_DOUBLE, &o.sparsity, "fraction of entries sent (1 = all)", 1e-6, 1,
         NULL},
        {"--sparsify", CLI_CHOICE, &o.sparsify, "which entries are sent", 0, 0, "topk|randk"},
        {"--no-memory", CLI_FLAG, &o.no_memory, "disable the error-feedback memory", 0, 0, NULL},
        {"--seed", CLI_U64, &o.seed, "seed of every random draw", 1, 0, NULL},
        {"--learner", CLI_CHOICE, &o.learner, "meta-learner", 0, 0,
         "maml|fomaml|reptile|perfedavg-fo|perfedavg-hf"},
        {"--inner-steps", CLI_UINT, &o.inner_steps, "inner adaptation steps", 1, 100, NULL},
        {"--alpha", CLI_DOUBLE, &o.alpha, "inner step size (default 0.01 sinusoid, 0.1 images)",
         1e-8, 100, NULL},
        {"--beta", CLI_DOUBLE, &o.beta, "outer step size (default 3e-3 sinusoid, 2e-3 images)",
         1e-10, 100, NULL},
        {"--optimizer", CLI_CHOICE, &o.optimizer, "server optimiser", 0, 0, "sgd|adam"},
        {"--tasks-per-agent", CLI_UINT, &o.tasks_per_agent,
         "tasks per agent per local iteration (default 5 sinusoid, 1 images)", 1, 10000, NULL},
        {"--local-iters", CLI_UINT, &o.local_iters, "local iterations per round", 1, 1000, NULL},
        {"--local-lr", CLI_DOUBLE, &o.local_lr, "step of the local iterations (default beta)",
         1e-10, 100, NULL},
        {"--eval-every", CLI_UINT, &o.eval_every, "evaluate every N rounds (default rounds/4)", 1,
         1e7, NULL},
        {"--eval-tasks", CLI_UINT, &o.eval_tasks,
         "tasks per agent set at evaluation (default 600 sinusoid, 100 images)", 1, 100000, NULL},
        {"--eval-steps", CLI_UINT, &o.eval_steps, "fine-tuning steps (default --inner-steps)", 1,
         1000, NULL},
        {"--eval-alpha", CLI_DOUBLE, &o.eval_alpha, "fine-tuning step size (default --alpha)", 1e-8,
         100, NULL},
        {"--ways", CLI_UINT, &o.ways, "N of N-way (images)", 2, 100, NULL},
        {"--shots", CLI_UINT, &o.shots, "support samples (per class for images)", 1, 1000, NULL},
        {"--query", CLI_UINT, &o.query, "query samples (per class for images)", 1, 1000, NULL},
        {"--heterogeneity", CLI_DOUBLE, &o.heterogeneity, "agents' task-distribution spread", 0, 1,
         NULL},
        {"--filters", CLI_UINT, &o.filters, "CNN filters per block (images)", 1, 256, NULL},
        {"--threads", CLI_UINT, &o.threads, "worker threads (default: online CPUs)", 1, 256, NULL},
        {"--nfft", CLI_UINT, &o.nfft, "iq: FFT size M (AIR_INTERFACE §1)", 64, 4096, NULL},
        {"--cp", CLI_UINT, &o.cp, "iq: cyclic prefix (default M/8)", 1, 2048, NULL},
        {"--taps", CLI_UINT, &o.taps, "iq: Rayleigh multipath taps per agent", 1, 2048, NULL},
        {"--delay-spread", CLI_DOUBLE, &o.delay_spread, "iq: rms delay spread, samples", 0.01, 1000,
         NULL},
        {"--timing-offset", CLI_UINT, &o.timing_offset,
         "iq: max per-agent timing offset, samples (default cp/4)", 0, 2048, NULL},
        {"--cfo", CLI_DOUBLE, &o.cfo,
         "iq: max per-agent carrier offset, subcarrier spacings (agents pre-compensate it from "
         "the beacon when > 0)",
         0, 0.49, NULL},
        {"--precoding", CLI_CHOICE, &o.precoding, "iq: agents' precoder (AIR_INTERFACE §4)", 0, 0,
         "inversion|phase"},
        {"--capture-dir", CLI_STR, &o.capture_dir,
         "iq: write every round's received stream to DIR/round-NNNNNN.sigmf-meta (airmeta replay)",
         1, 0, NULL},
        {"--radio", CLI_CHOICE, &o.radio,
         "iq: carry each round's received stream through this radio", 0, 0, "loop|file"},
        {"--radio-args", CLI_STR, &o.radio_args, "iq: key=value,... for --radio", 1, 0, NULL},
        {"--out", CLI_STR, &o.out, "write JSONL metrics (a config line, then one per round)", 1, 0,
         NULL},
        {"--quiet", CLI_FLAG, &o.quiet, "no per-round lines on stdout", 0, 0, NULL},
    };
    const cli_cmd cmd = {
        "airmeta sim",
        "[options]",
        "Air-meta-pFL in one process (PAPER.md §3): K training agents compute local "
        "meta-updates, add their error memory, sparsify, and reach the server through the "
        "aggregation channel (ideal: exact average; stat: Rayleigh fading per bin, truncation "
        "at --g-th, noise of AIR_INTERFACE §5 at --snr-db; iq: the real waveform, every round: "
        "beacon, agents' channel estimation, precoding, OFDM bursts, the channel emulator and "
        "the server's receiver, host/agg_iq.h); the server updates the meta-model. "
        "At eval rounds training and new agents fine-tune from it; loss/accuracy before and after "
        "and the generalisation gap are printed and logged. Same seed, same output.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    const char *pos[1];
    size_t npos = 0;
    am_status st = cli_parse(&cmd, argc, argv, pos, &npos);
    if (st == AM_ENOTFOUND)
        return 0;
    if (st != AM_OK)
        return cli_fail("sim", st);

    fl_task_kind kind = strcmp(o.task, "sinusoid") == 0 ? FL_TASK_SINUSOID
                        : strcmp(o.task, "fmnist") == 0 ? FL_TASK_FMNIST
                                                        : FL_TASK_OMNIGLOT;
    fill_defaults(&o, kind);
    if (o.threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.threads = n < 1 ? 1 : (n > 256 ? 256 : (unsigned)n);
    }
    if (kind == FL_TASK_OMNIGLOT && !o.data_dir) {
        am_status e = AM_FAIL(AM_EINVAL, "--task omniglot needs --data-dir (the folder holding "
                                         "images_background/ and images_evaluation/)");
        return cli_fail("sim", e);
    }
    openblas_set_num_threads(1);

    fl_task_cfg tc;
    fl_task_cfg_default(&tc, kind);
    tc.n_train_agents = o.agents;
    tc.n_new_agents = o.new_agents;
    tc.heterogeneity = (float)o.heterogeneity;
    tc.shots = o.shots;
    tc.query = o.query;
    tc.ways = o.ways;
    tc.data_dir = o.data_dir;
    tc.seed = o.seed;

    fl_task_family *fam = NULL;
    fl_model *m = NULL;
    fl_airfl *q = NULL;
    fl_personalizer *pers = NULL;
    fl_agg agg = {0};
    FILE *out = NULL;
    cJSON *line = NULL;
    int rc = 0;

    fl_airfl_cfg ac;
    fl_airfl_cfg_default(&ac);
    ac.agents = o.agents;
    ac.meta.inner_steps = o.inner_steps;
    ac.meta.alpha = (float)o.alpha;
    ac.meta.tasks = o.tasks_per_agent;
    ac.meta.local_iters = o.local_iters;
    ac.meta.local_lr = (float)o.local_lr;
    ac.opt.lr = (float)o.beta;
    ac.keep = o.sparsity;
    ac.memory = !o.no_memory;
    ac.rho = (float)o.rho;
    ac.g_th = (float)o.g_th;
    ac.threads = o.threads;
    ac.seed = o.seed;
    st = fl_learner_parse(o.learner, &ac.meta.learner);
    if (st == AM_OK)
        st = fl_opt_kind_parse(o.optimizer, &ac.opt.kind);
    if (st == AM_OK)
        st = fl_sparse_kind_parse(o.sparsify, &ac.sparsify);
    if (st == AM_OK)
        st = fl_eta_rule_parse(o.eta_rule, &ac.eta_rule);
    if (st == AM_OK)
        st = fl_task_family_create(&tc, &fam);
    if (st == AM_OK)
        st = make_model(&o, fam, &m);
    if (st == AM_OK)
        st = fl_airfl_create(&ac, m, fam, &q);
    if (st == AM_OK)
        st = fl_personalizer_create(m, fam, &pers);
    if (st == AM_OK)
        st = make_agg(&o, fl_model_nparams(m), &agg);
    if (st == AM_OK && o.out && !(out = fopen(o.out, "w")))
        st = AM_FAIL(AM_EIO, "--out %s: %s", o.out, strerror(errno));
    if (st != AM_OK) {
        rc = cli_fail("sim", st);
        goto done;
    }
    const size_t D = fl_model_nparams(m);
    if (!o.quiet)
        printf("airmeta sim: %s, %s (%zu parameters), %u agents + %u new, %s aggregation%s, "
               "%s, %u threads\n",
               o.task, fl_model_describe(m), D, o.agents, o.new_agents, fl_agg_name(&agg),
               strcmp(o.agg, "ideal") != 0 ? "" : " (SNR/g_th unused)", o.learner, o.threads);
    if (out) {
        const double kk = ceil(o.sparsity * (double)D);
        line = config_json(&o, m, kk < (double)D ? (size_t)kk : D);
        st = write_json(out, line, o.out);
        cJSON_Delete(line);
        line = NULL;
        if (st != AM_OK) {
            rc = cli_fail("sim", st);
            goto done;
        }
    }
    fl_personalize_cfg pc = {
        .steps = o.eval_steps, .alpha = (float)o.eval_alpha, .n_tasks = o.eval_tasks};
    for (unsigned r = 0; r < o.rounds; r++) {
        fl_airfl_stats s;
        st = fl_airfl_round(q, fam, &agg, &s);
        if (st != AM_OK) {
            rc = cli_fail("sim", st);
            goto done;
        }
        agg_iq_round_info iq;
        const int is_iq = agg_iq_is(&agg) && agg_iq_last_round(&agg, &iq) == AM_OK;
        if (is_iq && !iq.detected && !o.quiet)
            printf("round %6u  burst NOT detected: estimate 0 applied, updates kept in memory\n",
                   r + 1);
        const int eval = (r + 1) % o.eval_every == 0 || r + 1 == o.rounds;
        const double nmse_db = s.agg_nmse > 0 ? 10.0 * log10(s.agg_nmse) : -INFINITY;
        fl_personalize_report rep;
        if (eval) {
            /* The same evaluation tasks every time, so curves compare like with like. */
            am_rng er;
            am_rng_seed2(&er, o.seed, 0xe7a1e7a1ULL);
            st = fl_personalize_report_get(pers, m, fam, fl_airfl_theta(q), &pc, &er, &rep);
            if (st != AM_OK) {
                rc = cli_fail("sim", st);
                goto done;
            }
        }
        if (!o.quiet && (eval || r < 3 || (r + 1) % (o.rounds / 20 ? o.rounds / 20 : 1) == 0))
            printf("round %6u  loss %9.4f  nmse %7.2f dB  active %6.2f  eta %.3g  |m| %.3g\n",
                   r + 1, s.train_loss, nmse_db, s.mean_active, s.eta, s.memory_norm);
        if (!o.quiet && eval) {
            printf("  eval  new agents: loss %.4f -> %.4f", rep.fresh.loss_before,
                   rep.fresh.loss_after);
            if (!isnan(rep.fresh.acc_after))
                printf(", acc %.1f%% -> %.1f%%", 100 * rep.fresh.acc_before,
                       100 * rep.fresh.acc_after);
            printf("  | training agents: loss %.4f", rep.train.loss_after);
            if (!isnan(rep.train.acc_after))
                printf(", acc %.1f%%", 100 * rep.train.acc_after);
            printf("  | gap %.4f\n", rep.gap_loss);
        }
        if (out) {
            line = cJSON_CreateObject();
            cJSON_AddNumberToObject(line, "round", r + 1);
            cJSON_AddNumberToObject(line, "train_loss", s.train_loss);
            cJSON_AddNumberToObject(line, "agg_nmse", s.agg_nmse);
            cJSON_AddNumberToObject(line, "agg_nmse_db", nmse_db); /* -inf (ideal) -> null */
            cJSON_AddNumberToObject(line, "mean_active", s.mean_active);
            cJSON_AddNumberToObject(line, "eta", s.eta);
            cJSON_AddNumberToObject(line, "memory_norm", s.memory_norm);
            if (is_iq) {
                cJSON *e = cJSON_AddObjectToObject(line, "iq");
                cJSON_AddBoolToObject(e, "detected", iq.detected);
                cJSON_AddNumberToObject(e, "agents_sent", iq.agents_sent);
                cJSON_AddNumberToObject(e, "snr_db", iq.snr_db);
                cJSON_AddNumberToObject(e, "cfo", iq.cfo);
                cJSON_AddNumberToObject(e, "active_rx", iq.active_mean);
                cJSON_AddNumberToObject(e, "active", iq.active_true_mean);
                if (iq.capture[0])
                    cJSON_AddStringToObject(e, "capture", iq.capture);
            }
            if (eval) {
                cJSON *e = cJSON_AddObjectToObject(line, "eval");
                cJSON_AddNumberToObject(e, "steps", o.eval_steps);
                add_stats(e, "new", &rep.fresh);
                add_stats(e, "train", &rep.train);
                cJSON_AddNumberToObject(e, "gap_loss", rep.gap_loss);
                cJSON_AddNumberToObject(e, "gap_acc", rep.gap_acc);
            }
            st = write_json(out, line, o.out);
            cJSON_Delete(line);
            line = NULL;
            if (st != AM_OK) {
                rc = cli_fail("sim", st);
                goto done;
            }
        }
        if (!o.quiet)
            fflush(stdout);
    }
    if (out) {
        FILE *f = out;
        out = NULL;
        if (fclose(f) != 0) {
            st = AM_FAIL(AM_EIO, "--out %s: %s", o.out, strerror(errno));
            rc = cli_fail("sim", st);
        }
    }
done:
    if (out)
        fclose(out);
    fl_agg_destroy(&agg);
    fl_personalizer_destroy(pers);
    fl_airfl_destroy(q);
    fl_model_destroy(m);
    fl_task_family_destroy(fam);
    return rc;
}
