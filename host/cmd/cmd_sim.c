/* airmeta sim: Air-meta-pFL end to end in one process (PAPER.md §3): K training agents meta-learn
 * through an aggregator (ideal | stat | iq), new agents fine-tune at eval rounds.
 * A run folder (--out DIR, issue 4 item 4):
 *   config.json      the fully resolved configuration (every flag, defaults included; versions)
 *   metrics.jsonl    one JSON line per round; a function of the configuration only, so the same
 *                    configuration gives the same bytes (any thread count, resumed or not)
 *   wall.jsonl       wall times per round, kept apart so that metrics.jsonl stays byte-identical
 *   checkpoint.bin   the state after the last checkpointed round (host/run/checkpoint.h), replaced
 *                    atomically every --checkpoint-every rounds and after the last round
 *   *.png            learning curves, aggregation NMSE per round, the last burst's constellation
 *                    (iq), drawn by gnuplot at the end of the run
 * --resume DIR continues from checkpoint.bin: nothing that a round depends on is outside it (the
 * agents' RNG streams, theta, Adam, the error memories; the stat and iq channels and the
 * evaluation tasks draw from (seed, round) only), so the rounds after it are the same bytes. */
#include <cblas.h> /* openblas_set_num_threads only: the agents are the parallelism */
#include <cjson/cJSON.h>
#include <complex.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "round/agg_iq.h"
#include "run/checkpoint.h"
#include "util/cli.h"
#include "cmd/commands.h"
#include "core/escape.h"
#include "core/file.h"
#include "core/rng.h"
#include "core/status.h"
#include "util/crc32.h"
#include "fl/agg.h"
#include "fl/airfl.h"
#include "fl/meta.h"
#include "fl/model.h"
#include "fl/personalize.h"
#include "fl/sparse.h"
#include "fl/task.h"
#include "util/fsutil.h"
#include "round/learner.h"
#include "util/monotime.h"
#include "phy/version.h"
#include "run/plot.h"

#define SIM_PATH 4096
#define SIM_MAX_OPTS 64
#define SIM_CONFIG_MAX (1u << 20) /* config.json larger than this is not ours */

typedef struct sim_opts {
    const char *agg, *task, *data_dir, *sparsify, *learner, *optimizer, *eta_rule, *out, *resume;
    unsigned agents, new_agents, rounds, inner_steps, tasks_per_agent, local_iters, eval_every,
        eval_tasks, eval_steps, ways, shots, query, threads, filters, checkpoint_every, stop_after,
        pool;
    double snr_db, g_th, rho, sparsity, alpha, beta, local_lr, eval_alpha, heterogeneity, clip;
    uint64_t seed;
    int no_memory, quiet, no_plots, cont;
    /* --agg iq (host/round/agg_iq.h) */
    unsigned nfft, cp, taps, timing_offset;
    double delay_spread, cfo;
    const char *precoding, *capture_dir, *radio, *radio_args;
} sim_opts;

static void sim_defaults(sim_opts *o)
{
    *o = (sim_opts){.agg = "stat",
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
}

/* The option table of o (same order for every sim_opts, so entry k of two tables is one flag). */
static size_t sim_table(sim_opts *o, cli_opt *t)
{
    const cli_opt opts[] = {
        {"--agg", CLI_CHOICE, &o->agg, "aggregation channel", 0, 0, "ideal|stat|iq"},
        {"--task", CLI_CHOICE, &o->task, "task family", 0, 0, "sinusoid|fmnist|omniglot"},
        {"--data-dir", CLI_STR, &o->data_dir,
         "fmnist: IDX folder (default " FL_FMNIST_DEFAULT_DIR "); omniglot: folder with "
         "images_background/ and images_evaluation/",
         1, 0, NULL},
        {"--agents", CLI_UINT, &o->agents, "training agents K", 1, 10000, NULL},
        {"--new-agents", CLI_UINT, &o->new_agents, "new agents (evaluation only)", 1, 10000, NULL},
        {"--rounds", CLI_UINT, &o->rounds, "rounds (default 5000 sinusoid, 100 images)", 1, 1e7,
         NULL},
        {"--snr-db", CLI_DOUBLE, &o->snr_db, "per-agent SNR rho/N0 in dB (stat, iq)", -50, 100,
         NULL},
        {"--g-th", CLI_DOUBLE, &o->g_th, "truncation threshold on |h|^2", 0, 20, NULL},
        {"--rho", CLI_DOUBLE, &o->rho, "transmit power factor", 1e-6, 1e6, NULL},
        {"--eta-rule", CLI_CHOICE, &o->eta_rule,
         "payload scale: rms = mean power per bin <= 1, peak = every |c| <= 1", 0, 0, "rms|peak"},
        {"--sparsity", CLI_DOUBLE, &o->sparsity, "fraction of entries sent (1 = all)", 1e-6, 1,
         NULL},
        {"--sparsify", CLI_CHOICE, &o->sparsify, "which entries are sent", 0, 0, "topk|randk"},
        {"--no-memory", CLI_FLAG, &o->no_memory, "disable the error-feedback memory", 0, 0, NULL},
        {"--seed", CLI_U64, &o->seed, "seed of every random draw", 1, 0, NULL},
        {"--learner", CLI_CHOICE, &o->learner, "meta-learner", 0, 0,
         "maml|fomaml|reptile|perfedavg-fo|perfedavg-hf"},
        {"--inner-steps", CLI_UINT, &o->inner_steps, "inner adaptation steps", 1, 100, NULL},
        {"--alpha", CLI_DOUBLE, &o->alpha, "inner step size (default 0.01 sinusoid, 0.1 images)",
         1e-8, 100, NULL},
        {"--beta", CLI_DOUBLE, &o->beta, "outer step size (default 3e-3 sinusoid, 2e-3 images)",
         1e-10, 100, NULL},
        {"--optimizer", CLI_CHOICE, &o->optimizer, "server optimiser", 0, 0, "sgd|adam"},
        {"--clip", CLI_DOUBLE, &o->clip,
         "server: clip the aggregated update to this L2 norm before the step (0 = off)", 0, 1e6,
         NULL},
        {"--tasks-per-agent", CLI_UINT, &o->tasks_per_agent,
         "tasks per agent per local iteration (default 5 sinusoid, 1 images)", 1, 10000, NULL},
        {"--local-iters", CLI_UINT, &o->local_iters, "local iterations per round", 1, 1000, NULL},
        {"--local-lr", CLI_DOUBLE, &o->local_lr, "step of the local iterations (default beta)",
         1e-10, 100, NULL},
        {"--eval-every", CLI_UINT, &o->eval_every, "evaluate every N rounds (default rounds/4)", 1,
         1e7, NULL},
        {"--eval-tasks", CLI_UINT, &o->eval_tasks,
         "tasks per agent set at evaluation (default 600 sinusoid, 100 images)", 1, 100000, NULL},
        {"--eval-steps", CLI_UINT, &o->eval_steps, "fine-tuning steps (default --inner-steps)", 1,
         1000, NULL},
        {"--eval-alpha", CLI_DOUBLE, &o->eval_alpha, "fine-tuning step size (default --alpha)",
         1e-8, 100, NULL},
        {"--ways", CLI_UINT, &o->ways, "N of N-way (images)", 2, 100, NULL},
        {"--shots", CLI_UINT, &o->shots, "support samples (per class for images)", 1, 1000, NULL},
        {"--query", CLI_UINT, &o->query, "query samples (per class for images)", 1, 1000, NULL},
        {"--heterogeneity", CLI_DOUBLE, &o->heterogeneity, "agents' task-distribution spread", 0, 1,
         NULL},
        {"--pool", CLI_UINT, &o->pool,
         "finite data: each training agent owns N tasks drawn once from the seed and trains on "
         "them only (0 = a fresh task every draw); new agents get fresh tasks",
         0, 1000000, NULL},
        {"--filters", CLI_UINT, &o->filters, "CNN filters per block (images)", 1, 256, NULL},
        {"--threads", CLI_UINT, &o->threads, "worker threads (default: online CPUs)", 1, 256, NULL},
        {"--nfft", CLI_UINT, &o->nfft, "iq: FFT size M (AIR_INTERFACE §1)", 64, 4096, NULL},
        {"--cp", CLI_UINT, &o->cp, "iq: cyclic prefix (default M/8)", 1, 2048, NULL},
        {"--taps", CLI_UINT, &o->taps, "iq: Rayleigh multipath taps per agent", 1, 2048, NULL},
        {"--delay-spread", CLI_DOUBLE, &o->delay_spread, "iq: rms delay spread, samples", 0.01,
         1000, NULL},
        {"--timing-offset", CLI_UINT, &o->timing_offset,
         "iq: max per-agent timing offset, samples (default cp/4)", 0, 2048, NULL},
        {"--cfo", CLI_DOUBLE, &o->cfo,
         "iq: max per-agent carrier offset, subcarrier spacings (agents pre-compensate it from "
         "the beacon when > 0)",
         0, 0.49, NULL},
        {"--precoding", CLI_CHOICE, &o->precoding, "iq: agents' precoder (AIR_INTERFACE §4)", 0, 0,
         "inversion|phase"},
        {"--capture-dir", CLI_STR, &o->capture_dir,
         "iq: write every round's received stream to DIR/round-NNNNNN.sigmf-meta (airmeta replay)",
         1, 0, NULL},
        {"--radio", CLI_CHOICE, &o->radio,
         "iq: carry each round's received stream through this radio", 0, 0, "loop|file"},
        {"--radio-args", CLI_STR, &o->radio_args, "iq: key=value,... for --radio", 1, 0, NULL},
        {"--out", CLI_STR, &o->out,
         "run folder DIR (created; a run already there is replaced): config.json, "
         "metrics.jsonl (a line per round), wall.jsonl (wall times), checkpoint.bin, PNG plots",
         1, 0, NULL},
        {"--checkpoint-every", CLI_UINT, &o->checkpoint_every,
         "with --out: checkpoint every N rounds and after the last (default rounds/20)", 1, 1e7,
         NULL},
        {"--resume", CLI_STR, &o->resume,
         "continue the run in folder DIR from its last checkpoint, configured by DIR/config.json "
         "(other flags must agree with it, except --threads --checkpoint-every --quiet "
         "--no-plots); the rounds after the checkpoint repeat the uninterrupted run's bytes",
         1, 0, NULL},
        {"--continue", CLI_FLAG, &o->cont,
         "with --out: a run of this configuration already in DIR is continued as by --resume "
         "(a finished one: nothing to do, exit 0) instead of replaced; one of another "
         "configuration is refused (job lists of `airmeta sweep --plan`: idempotent lines)",
         0, 0, NULL},
        {"--no-plots", CLI_FLAG, &o->no_plots, "with --out: no PNG plots", 0, 0, NULL},
        {"--quiet", CLI_FLAG, &o->quiet, "no progress bar or per-round lines", 0, 0, NULL},
        /* test hook: die by SIGKILL after round N (its checkpoint written, nothing else) */
        {"--stop-after", CLI_UINT, &o->stop_after, NULL, 1, 1e7, NULL},
    };
    const size_t n = sizeof opts / sizeof opts[0];
    _Static_assert(sizeof opts / sizeof opts[0] <= SIM_MAX_OPTS, "raise SIM_MAX_OPTS");
    memcpy(t, opts, sizeof opts);
    return n;
}

/* Not in config.json (where the run is, test hooks). */
static int opt_unstored(const cli_opt *op)
{
    return !strcmp(op->name, "--out") || !strcmp(op->name, "--resume") ||
           !strcmp(op->name, "--continue") || !strcmp(op->name, "--stop-after");
}

/* Stored, but how the run executes, not what it computes: may differ on --resume and are not part
 * of the configuration's CRC. */
static int opt_runctl(const cli_opt *op)
{
    return !strcmp(op->name, "--threads") || !strcmp(op->name, "--checkpoint-every") ||
           !strcmp(op->name, "--quiet") || !strcmp(op->name, "--no-plots");
}

static size_t opt_size(cli_kind k)
{
    switch (k) {
    case CLI_FLAG:
    case CLI_INT:
        return sizeof(int);
    case CLI_UINT:
        return sizeof(unsigned);
    case CLI_U64:
        return sizeof(uint64_t);
    case CLI_FLOAT:
        return sizeof(float);
    case CLI_DOUBLE:
        return sizeof(double);
    case CLI_STR:
    case CLI_CHOICE:
        return sizeof(const char *);
    }
    return 0;
}

/* The flag's value as JSON: numbers, strings (null when unset), booleans; a 64-bit integer that a
 * double cannot hold exactly is written as a decimal string. */
static cJSON *opt_json(const cli_opt *op)
{
    switch (op->kind) {
    case CLI_FLAG:
        return cJSON_CreateBool(*(const int *)op->dst);
    case CLI_INT:
        return cJSON_CreateNumber(*(const int *)op->dst);
    case CLI_UINT:
        return cJSON_CreateNumber(*(const unsigned *)op->dst);
    case CLI_U64: {
        uint64_t v = *(const uint64_t *)op->dst;
        if (v <= (1ULL << 53))
            return cJSON_CreateNumber((double)v);
        char b[32];
        snprintf(b, sizeof b, "%" PRIu64, v);
        return cJSON_CreateString(b);
    }
    case CLI_FLOAT:
        return cJSON_CreateNumber((double)*(const float *)op->dst);
    case CLI_DOUBLE:
        return cJSON_CreateNumber(*(const double *)op->dst);
    case CLI_STR:
    case CLI_CHOICE: {
        const char *v = *(const char *const *)op->dst;
        return v ? cJSON_CreateString(v) : cJSON_CreateNull();
    }
    }
    return cJSON_CreateNull();
}

/* {"agg": "stat", "snr-db": 20, ...}: every stored flag (science_only: without run control). */
static cJSON *flags_json(const cli_opt *t, size_t n, int science_only)
{
    cJSON *f = cJSON_CreateObject();
    for (size_t k = 0; f && k < n; k++) {
        if (opt_unstored(&t[k]) || (science_only && opt_runctl(&t[k])))
            continue;
        cJSON *v = opt_json(&t[k]);
        if (!v || !cJSON_AddItemToObject(f, t[k].name + 2, v)) {
            cJSON_Delete(v);
            cJSON_Delete(f);
            return NULL;
        }
    }
    return f;
}

/* CRC-32 of the compact JSON of the flags that decide what the run computes: a checkpoint carries
 * it, so one from another configuration is refused. */
static am_status config_crc(const cli_opt *t, size_t n, uint32_t *crc)
{
    cJSON *f = flags_json(t, n, 1);
    char *s = f ? cJSON_PrintUnformatted(f) : NULL;
    cJSON_Delete(f);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "config: out of memory");
    *crc = crc32_bytes(s, strlen(s));
    cJSON_free(s);
    return AM_OK;
}

/* Per-kind defaults for what the user did not set (0 / NaN / sentinel = not given): after this
 * every flag holds the value the run uses (config.json's "fully resolved"). */
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
    if (!o->checkpoint_every)
        o->checkpoint_every = o->rounds / 20 ? o->rounds / 20 : 1;
    if (!o->cp)
        o->cp = o->nfft / 8;
    if (o->timing_offset == UINT32_MAX)
        o->timing_offset = o->cp / 4;
    if (kind == FL_TASK_FMNIST && !o->data_dir)
        o->data_dir = FL_FMNIST_DEFAULT_DIR;
    if (o->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = n < 1 ? 1 : (n > 256 ? 256 : (unsigned)n);
    }
}

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
        c.max_timing_offset = o->timing_offset; /* resolved by fill_defaults (cp / 4) */
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

/* ------------------------------------------------------------------------------ run folder */

static am_status write_config(
    const char *path, const cli_opt *t, size_t n, const fl_model *m, size_t k, uint32_t crc)
{
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return AM_FAIL(AM_ENOMEM, "config: out of memory");
    cJSON_AddStringToObject(c, "airmeta_version", AM_VERSION);
    cJSON_AddNumberToObject(c, "air_interface_version", PHY_AIR_INTERFACE_VERSION);
    cJSON_AddStringToObject(c, "command", "sim");
    cJSON *f = flags_json(t, n, 0);
    if (f)
        cJSON_AddItemToObject(c, "flags", f);
    /* derived, for readers (not read back by --resume) */
    cJSON_AddStringToObject(c, "model", fl_model_describe(m));
    cJSON_AddNumberToObject(c, "params", (double)fl_model_nparams(m));
    cJSON_AddNumberToObject(c, "entries_sent", (double)k);
    char hex[16];
    snprintf(hex, sizeof hex, "%08x", (unsigned)crc);
    cJSON_AddStringToObject(c, "config_crc", hex);
    char *s = f ? cJSON_Print(c) : NULL;
    cJSON_Delete(c);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "config: out of memory");
    const fs_part text[2] = {{s, strlen(s)}, {"\n", 1}}; /* atomic: no half-written config */
    am_status st = fs_write_atomic(path, text, 2);
    cJSON_free(s);
    return st;
}

/* The arguments that reproduce config.json's flags ("sim" "--agg" "stat" ...), for cli_parse:
 * config.json comes from outside, so the very parser of the command line validates it. Strings
 * point into cfg or into *store (freed by the caller). */
typedef struct sim_argv {
    char **v;
    int n;
    char *store; /* numbers formatted */
} sim_argv;

static am_status
config_argv(const char *path, const cJSON *flags, const cli_opt *t, size_t nt, sim_argv *a)
{
    memset(a, 0, sizeof *a);
    if (!cJSON_IsObject(flags))
        return AM_FAIL(AM_EFORMAT, "%s: no \"flags\" object", path);
    const int nmax = 2 * (int)nt + 1;
    a->v = calloc((size_t)nmax, sizeof *a->v);
    a->store = calloc(nt, 32);
    if (!a->v || !a->store)
        return AM_FAIL(AM_ENOMEM, "out of memory");
    a->v[a->n++] = "sim";
    unsigned char seen[SIM_MAX_OPTS] = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, flags)
    {
        size_t k = 0;
        while (k < nt && (opt_unstored(&t[k]) || strcmp(t[k].name + 2, it->string) != 0))
            k++;
        if (k == nt)
            return AM_FAIL(AM_EFORMAT, "%s: unknown flag \"%s\"", path, it->string);
        if (seen[k]++)
            return AM_FAIL(AM_EFORMAT, "%s: flag \"%s\" given twice", path, it->string);
        const cli_opt *op = &t[k];
        const int integral = op->kind == CLI_INT || op->kind == CLI_UINT || op->kind == CLI_U64;
        const int textual = op->kind == CLI_STR || op->kind == CLI_CHOICE;
        if (op->kind == CLI_FLAG) {
            if (!cJSON_IsBool(it))
                return AM_FAIL(AM_EFORMAT, "%s: \"%s\" must be true or false", path, it->string);
            if (cJSON_IsTrue(it))
                a->v[a->n++] = (char *)op->name;
        } else if (cJSON_IsNull(it)) {
            if (!textual)
                return AM_FAIL(AM_EFORMAT, "%s: \"%s\" is null", path, it->string);
        } else if (cJSON_IsString(it)) {
            if (!textual && op->kind != CLI_U64)
                return AM_FAIL(AM_EFORMAT, "%s: \"%s\" must be a number", path, it->string);
            a->v[a->n++] = (char *)op->name;
            a->v[a->n++] = it->valuestring;
        } else if (cJSON_IsNumber(it) && !textual) {
            char *b = a->store + 32 * k;
            double x = it->valuedouble;
            if (integral) {
                if (!(x == floor(x) && fabs(x) <= 9007199254740992.0))
                    return AM_FAIL(AM_EFORMAT, "%s: \"%s\" is not a whole number", path,
                                   it->string);
                snprintf(b, 32, "%.0f", x);
            } else {
                snprintf(b, 32, "%.17g", x);
            }
            a->v[a->n++] = (char *)op->name;
            a->v[a->n++] = b;
        } else {
            return AM_FAIL(AM_EFORMAT, "%s: \"%s\" has the wrong type", path, it->string);
        }
    }
    for (size_t k = 0; k < nt; k++)
        if (!opt_unstored(&t[k]) && !seen[k])
            return AM_FAIL(AM_EFORMAT, "%s: no value for %s", path, t[k].name);
    return AM_OK;
}

static void argv_free(sim_argv *a)
{
    free(a->v);
    free(a->store);
    memset(a, 0, sizeof *a);
}

/* Which options argv names (after a successful cli_parse of it). */
static void given_flags(const cli_opt *t, size_t n, int argc, char **argv, unsigned char *given)
{
    memset(given, 0, n);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (a[0] != '-' || a[1] != '-')
            continue;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        for (size_t k = 0; k < n; k++)
            if (strlen(t[k].name) == len && strncmp(t[k].name, a, len) == 0) {
                given[k] = 1;
                if (t[k].kind != CLI_FLAG && !eq)
                    i++;
                break;
            }
    }
}

/* Keeps the leading complete lines of a JSONL file whose "round" is 1, 2, ... up to `keep`
 * (strict: exactly `keep` such lines must be there, else AM_EFORMAT) and cuts the rest (a line
 * cut in half by a crash, rounds after the checkpoint). Not strict: keeps lines while their round
 * is <= keep, a missing file is created. */
static am_status truncate_rounds(const char *path, unsigned keep, int strict)
{
    FILE *f = NULL; /* regular files only: a FIFO there must not block */
    am_status os = am_fopen_regular(path, strict ? "r" : "a+", &f);
    if (os == AM_ENOTFOUND && strict && keep == 0)
        os = am_fopen_regular(path, "w+", &f);
    if (os != AM_OK)
        return os;
    rewind(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned have = 0;
    off_t off = 0;
    am_status s = AM_OK;
    while (have < keep && (len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* cut by the crash */
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "round");
        double rd = cJSON_IsNumber(r) ? r->valuedouble : -1;
        cJSON_Delete(o);
        if (rd != (double)(have + 1)) {
            if (strict)
                s = AM_FAIL(AM_EFORMAT, "%s:%u: not round %u's line", path, have + 1, have + 1);
            break;
        }
        have++;
        off += (off_t)len;
    }
    free(line);
    fclose(f);
    if (s == AM_OK && strict && have < keep)
        s = AM_FAIL(AM_EFORMAT,
                    "%s: holds %u complete rounds, the checkpoint is at round %u (rounds are "
                    "missing; start a new run)",
                    path, have, keep);
    if (s == AM_OK && truncate(path, off) != 0)
        s = AM_FAIL(AM_EIO, "%s: cannot truncate: %s", path, strerror(errno));
    return s;
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

static am_status sync_file(FILE *f, const char *path)
{
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        return AM_FAIL(AM_EIO, "%s: %s", path, strerror(errno));
    return AM_OK;
}

/* ------------------------------------------------------------------------------ plots */

typedef struct curves {
    size_t n, ne, cap;
    double *round, *loss, *nmse_db;                                /* every round */
    double *eround, *nb, *na, *na_se, *ta, *ta_se, *acc_n, *acc_t; /* eval rounds */
    double *oa, *oa_se; /* eval rounds, training agents on their own pool (NaN without one) */
} curves;

static void curves_free(curves *c)
{
    double **p[] = {&c->round, &c->loss,  &c->nmse_db, &c->eround, &c->nb, &c->na,   &c->na_se,
                    &c->ta,    &c->ta_se, &c->acc_n,   &c->acc_t,  &c->oa, &c->oa_se};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) {
        free(*p[i]);
        *p[i] = NULL;
    }
}

static double jnum(const cJSON *o, const char *a, const char *b, const char *c)
{
    const char *keys[3] = {a, b, c};
    for (int i = 0; i < 3 && keys[i] && o; i++)
        o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

/* metrics.jsonl back into arrays (the whole run, also the rounds of earlier sessions) */
static am_status read_curves(const char *path, unsigned rounds, curves *c)
{
    memset(c, 0, sizeof *c);
    c->cap = rounds ? rounds : 1;
    double **p[] = {&c->round, &c->loss,  &c->nmse_db, &c->eround, &c->nb, &c->na,   &c->na_se,
                    &c->ta,    &c->ta_se, &c->acc_n,   &c->acc_t,  &c->oa, &c->oa_se};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        if (!(*p[i] = malloc(c->cap * sizeof(double)))) {
            curves_free(c);
            return AM_FAIL(AM_ENOMEM, "plots: out of memory");
        }
    FILE *f = NULL;
    am_status os = am_fopen_regular(path, "r", &f);
    if (os != AM_OK) {
        curves_free(c);
        return os;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (c->n < c->cap && (len = getline(&line, &cap, f)) > 0) {
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        if (!o)
            break;
        c->round[c->n] = jnum(o, "round", NULL, NULL);
        c->loss[c->n] = jnum(o, "train_loss", NULL, NULL);
        c->nmse_db[c->n] = jnum(o, "agg_nmse_db", NULL, NULL);
        c->n++;
        if (cJSON_GetObjectItemCaseSensitive(o, "eval")) {
            size_t e = c->ne++;
            c->eround[e] = c->round[c->n - 1];
            c->nb[e] = jnum(o, "eval", "new", "loss_before");
            c->na[e] = jnum(o, "eval", "new", "loss_after");
            c->na_se[e] = jnum(o, "eval", "new", "loss_after_se");
            c->ta[e] = jnum(o, "eval", "train", "loss_after");
            c->ta_se[e] = jnum(o, "eval", "train", "loss_after_se");
            c->acc_n[e] = jnum(o, "eval", "new", "acc_after");
            c->acc_t[e] = jnum(o, "eval", "train", "acc_after");
            c->oa[e] = jnum(o, "eval", "own", "loss_after");
            c->oa_se[e] = jnum(o, "eval", "own", "loss_after_se");
        }
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return AM_OK;
}

static int any_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]))
            return 1;
    return 0;
}

/* One figure; a failure is a warning (the run's numbers are in metrics.jsonl). */
static void plot_one(const char *dir,
                     const char *name,
                     const plot_cfg *pc,
                     const plot_panel *p,
                     size_t np,
                     int quiet)
{
    char path[SIM_PATH];
    if (fs_path_join(path, sizeof path, dir, name) != AM_OK || plot_png(path, pc, p, np) != AM_OK) {
        fprintf(stderr, "airmeta sim: warning: %s not drawn: %s\n", name, am_last_error());
        return;
    }
    if (!quiet)
        printf("plot: %s\n", AM_ESC(path));
}

#define SERIES(t, xs, ys, e, num, st, col, dash)                                                   \
    {                                                                                              \
        .title = (t), .x = (xs), .y = (ys), .err = (e), .n = (num), .style = (st), .color = (col), \
        .dashed = (dash)                                                                           \
    }
#define PANEL(t, xl, yl, ly, s, ns)                                                                \
    {                                                                                              \
        .title = (t), .xlabel = (xl), .ylabel = (yl), .logy = (ly), .series = (s),                 \
        .n_series = (ns)                                                                           \
    }

/* learning.png (training loss per round; fine-tuned losses and accuracies at the eval rounds),
 * nmse.png (aggregation NMSE per round), constellation.png (iq: the last burst's equalised
 * symbols). No gnuplot: one warning, no plots. */
static void make_plots(
    const char *dir, const sim_opts *o, const float complex *sym, size_t nsym, unsigned sym_round)
{
    char gp[SIM_PATH], path[SIM_PATH];
    if (plot_find_gnuplot(gp, sizeof gp) != AM_OK) {
        fprintf(stderr, "airmeta sim: warning: no plots: %s\n", am_last_error());
        return;
    }
    curves c;
    if (fs_path_join(path, sizeof path, dir, "metrics.jsonl") != AM_OK ||
        read_curves(path, o->rounds, &c) != AM_OK) {
        fprintf(stderr, "airmeta sim: warning: no plots: %s\n", am_last_error());
        return;
    }
    char title[256];
    snprintf(title, sizeof title,
             "airmeta sim: %s, %s aggregation, K %u, SNR %g dB, sparsity %g, "
             "seed %" PRIu64,
             o->task, o->agg, o->agents, o->snr_db, o->sparsity, o->seed);
    plot_cfg pc = {0};
    pc.title = title;
    if (c.n) {
        plot_series s_loss = SERIES("training agents (query loss after adaptation)", c.round,
                                    c.loss, NULL, c.n, PLOT_LINES, 1, 0);
        plot_series s_eval[4] = {SERIES("new agents, after fine-tuning", c.eround, c.na, c.na_se,
                                        c.ne, PLOT_LINESPOINTS, 2, 0),
                                 SERIES("training agents, fresh tasks, after fine-tuning", c.eround,
                                        c.ta, c.ta_se, c.ne, PLOT_LINESPOINTS, 1, 0),
                                 SERIES("new agents, before fine-tuning", c.eround, c.nb, NULL,
                                        c.ne, PLOT_LINESPOINTS, 2, 1),
                                 SERIES("training agents, own data, after fine-tuning", c.eround,
                                        c.oa, c.oa_se, c.ne, PLOT_LINESPOINTS, 5, 0)};
        const size_t n_eval = any_finite(c.oa, c.ne) ? 4 : 3;
        plot_series s_acc[2] = {
            SERIES("new agents", c.eround, c.acc_n, NULL, c.ne, PLOT_LINESPOINTS, 2, 0),
            SERIES("training agents", c.eround, c.acc_t, NULL, c.ne, PLOT_LINESPOINTS, 1, 0)};
        plot_panel p[3] = {PANEL("training loss per round", "round", "loss", 1, &s_loss, 1),
                           PANEL("loss after fine-tuning (eval rounds, +-1 s.e.)", "round", "loss",
                                 1, s_eval, n_eval),
                           PANEL("accuracy after fine-tuning", "round", "accuracy", 0, s_acc, 2)};
        size_t np = c.ne ? (any_finite(c.acc_n, c.ne) ? 3 : 2) : 1;
        plot_one(dir, "learning.png", &pc, p, np, o->quiet);
        if (any_finite(c.nmse_db, c.n)) {
            plot_series s = SERIES(NULL, c.round, c.nmse_db, NULL, c.n, PLOT_LINES, 3, 0);
            plot_panel pn =
                PANEL("aggregation NMSE against the ideal average", "round", "NMSE (dB)", 0, &s, 1);
            plot_cfg pcn = pc;
            pcn.width = 760;
            plot_one(dir, "nmse.png", &pcn, &pn, 1, o->quiet);
        } else if (!o->quiet) {
            printf("plot: nmse.png not drawn (%s aggregation: no error to show)\n", o->agg);
        }
    }
    curves_free(&c);
    if (nsym) {
        double *re = malloc(nsym * sizeof *re), *im = malloc(nsym * sizeof *im);
        if (re && im) {
            for (size_t i = 0; i < nsym; i++) {
                re[i] = crealf(sym[i]);
                im[i] = cimagf(sym[i]);
            }
            char pt[128];
            snprintf(pt, sizeof pt, "round %u: equalised data symbols Y/G (%zu)", sym_round, nsym);
            plot_series s = SERIES(NULL, re, im, NULL, nsym, PLOT_POINTS, 4, 0);
            plot_panel pn = PANEL(pt, "in-phase", "quadrature", 0, &s, 1);
            plot_cfg pcc = pc;
            pcc.width = 760;
            pcc.height = 640;
            plot_one(dir, "constellation.png", &pcc, &pn, 1, o->quiet);
        }
        free(re);
        free(im);
    }
}

/* ------------------------------------------------------------------------------ progress */

typedef struct progress {
    int bar;         /* a terminal: one line redrawn */
    double t0, last; /* this session's start, last redraw */
    unsigned r0, total;
} progress;

static void hms(char *b, size_t cap, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(b, cap, "--:--");
    else if (s < 3600)
        snprintf(b, cap, "%u:%02u", (unsigned)(s / 60), (unsigned)fmod(s, 60));
    else
        snprintf(b, cap, "%u:%02u:%02u", (unsigned)(s / 3600), (unsigned)fmod(s / 60, 60),
                 (unsigned)fmod(s, 60));
}

static void progress_draw(progress *p, unsigned done, double loss, double nmse_db, int force)
{
    const double t = monotime_s();
    if (!force && t - p->last < 0.1)
        return;
    p->last = t;
    const double per = done > p->r0 ? (t - p->t0) / (double)(done - p->r0) : NAN;
    char eta[32], bar[33];
    hms(eta, sizeof eta, per * (double)(p->total - done));
    const unsigned w = 24, fill = (unsigned)((double)w * done / p->total);
    for (unsigned i = 0; i < w; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[w] = '\0';
    const int ms = !(per >= 1.0);
    printf("\r round %u/%u [%s] %3.0f%%  loss %.4f  nmse %.1f dB  %.3g %s/round  ETA %s\033[K",
           done, p->total, bar, 100.0 * done / p->total, loss, nmse_db, ms ? 1e3 * per : per,
           ms ? "ms" : "s", eta);
    fflush(stdout);
}

/* a line above the bar */
static void progress_clear(const progress *p)
{
    if (p->bar)
        printf("\r\033[K");
}

/* ------------------------------------------------------------------------------ the command */

/* Resuming: o from DIR/config.json; flags given on the command line (u, given) must agree with
 * it except the run-control ones, which they override. */
static am_status resume_opts(const char *dir,
                             const sim_opts *u,
                             const cli_opt *tu,
                             const unsigned char *given,
                             const cli_cmd *cmd_o,
                             sim_opts *o,
                             cJSON **cfg_out,
                             sim_argv *av)
{
    char path[SIM_PATH];
    am_status s = fs_path_join(path, sizeof path, dir, "config.json");
    if (s != AM_OK)
        return s;
    char *text = NULL;
    if ((s = fs_read_text(path, SIM_CONFIG_MAX, &text)) != AM_OK)
        return s == AM_ENOTFOUND
                   ? am_error_wrap(s, "--resume %s: not a run folder (no config.json)", dir)
                   : s;
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    if (!cfg)
        return AM_FAIL(AM_EFORMAT, "%s: not valid JSON", path);
    *cfg_out = cfg;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(cfg, "command");
    if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, "sim") != 0)
        return AM_FAIL(AM_EFORMAT, "%s: not the configuration of an `airmeta sim` run", path);
    const cJSON *air = cJSON_GetObjectItemCaseSensitive(cfg, "air_interface_version");
    /* a run of an older version resumes: its waveform is this version's without calibration */
    if (!cJSON_IsNumber(air) || air->valuedouble != floor(air->valuedouble) ||
        !phy_air_interface_supported((long long)air->valuedouble))
        return AM_FAIL(AM_EFORMAT, "%s: air interface version %g, this build reads %u..%u", path,
                       cJSON_IsNumber(air) ? air->valuedouble : NAN, PHY_AIR_INTERFACE_MIN_VERSION,
                       PHY_AIR_INTERFACE_VERSION);
    const cli_opt *t = cmd_o->opts;
    const size_t n = cmd_o->nopts;
    if ((s = config_argv(path, cJSON_GetObjectItemCaseSensitive(cfg, "flags"), t, n, av)) != AM_OK)
        return s;
    sim_defaults(o);
    const char *pos[1];
    size_t npos = 0;
    if ((s = cli_parse(cmd_o, av->n, av->v, pos, &npos)) != AM_OK)
        return am_error_wrap(AM_EFORMAT, "%s", path); /* a bad value in the file */
    o->resume = u->resume;
    o->out = u->resume;
    o->quiet = u->quiet; /* how this session shows itself */
    o->no_plots = u->no_plots;
    for (size_t k = 0; k < n; k++) {
        if (!given[k] || !strcmp(t[k].name, "--resume") || !strcmp(t[k].name, "--continue"))
            continue;
        if (!strcmp(t[k].name, "--stop-after")) {
            o->stop_after = u->stop_after;
            continue;
        }
        if (!strcmp(t[k].name, "--out")) {
            if (strcmp(u->out, u->resume) != 0)
                return AM_FAIL(AM_EINVAL,
                               "--resume %s continues in that folder: --out %s conflicts with it",
                               u->resume, u->out);
            continue;
        }
        if (opt_runctl(&t[k])) { /* this session's choice */
            memcpy(t[k].dst, tu[k].dst, opt_size(t[k].kind));
            continue;
        }
        cJSON *a = opt_json(&tu[k]), *b = opt_json(&t[k]);
        int same = a && b && cJSON_Compare(a, b, 1);
        char *sa = a ? cJSON_PrintUnformatted(a) : NULL, *sb = b ? cJSON_PrintUnformatted(b) : NULL;
        if (!same)
            s = AM_FAIL(AM_EINVAL,
                        "--resume %s: %s %s conflicts with the run's %s (%s); leave it out to "
                        "continue the run as configured, or start a new run with --out",
                        dir, t[k].name, sa ? sa : "?", sb ? sb : "?", path);
        cJSON_free(sa);
        cJSON_free(sb);
        cJSON_Delete(a);
        cJSON_Delete(b);
        if (s != AM_OK)
            return s;
    }
    return AM_OK;
}

/* --continue: a run folder that holds a run (its config.json) is resumed, with every given flag
 * checked against it; otherwise a new run starts there. */
static am_status continue_opts(sim_opts *u)
{
    if (!u->cont)
        return AM_OK;
    if (!u->out || u->resume)
        return AM_FAIL(AM_EINVAL, "--continue goes with --out DIR (and without --resume)");
    char path[SIM_PATH];
    am_status s = fs_path_join(path, sizeof path, u->out, "config.json");
    if (s != AM_OK)
        return s;
    struct stat sb;
    if (stat(path, &sb) == 0)
        u->resume = u->out;
    else if (errno != ENOENT)
        return AM_FAIL(AM_EIO, "--continue: %s: %s", path, strerror(errno));
    return AM_OK;
}

int cmd_sim(int argc, char **argv)
{
    sim_opts u, o;
    cli_opt tu[SIM_MAX_OPTS], to[SIM_MAX_OPTS];
    sim_defaults(&u);
    const size_t nopt = sim_table(&u, tu);
    sim_table(&o, to);
    const char *summary =
        "Air-meta-pFL in one process (PAPER.md §3): K training agents compute local "
        "meta-updates, add their error memory, sparsify, and reach the server through the "
        "aggregation channel (ideal: exact average; stat: Rayleigh fading per bin, truncation "
        "at --g-th, noise of AIR_INTERFACE §5 at --snr-db; iq: the real waveform, every round: "
        "beacon, agents' channel estimation, precoding, OFDM bursts, the channel emulator and "
        "the server's receiver, host/round/agg_iq.h); the server updates the meta-model. "
        "At eval rounds training and new agents fine-tune from it; loss/accuracy before and after "
        "and the generalisation gap are printed and logged. Same seed, same output: "
        "metrics.jsonl is byte-identical for any --threads and across --resume (wall times go "
        "to wall.jsonl). On a terminal a progress bar, otherwise plain lines.";
    const cli_cmd cmd_u = {"airmeta sim", "[options]", summary, tu, nopt, 0, 0};
    const cli_cmd cmd_o = {"airmeta sim", "[options]", summary, to, nopt, 0, 0};
    const char *pos[1];
    size_t npos = 0;
    am_status st = cli_parse(&cmd_u, argc, argv, pos, &npos);
    if (st == AM_ENOTFOUND)
        return 0;
    if (st != AM_OK)
        return cli_fail("sim", st);

    fl_task_family *fam = NULL;
    fl_model *m = NULL;
    fl_airfl *q = NULL;
    fl_personalizer *pers = NULL;
    fl_agg agg = {0};
    FILE *out = NULL, *wall = NULL;
    cJSON *line = NULL, *cfg_json = NULL;
    sim_argv av = {0};
    void *state = NULL;
    int rc = 0;
    char p_metrics[SIM_PATH] = "", p_wall[SIM_PATH] = "", p_ckpt[SIM_PATH] = "",
         p_cfg[SIM_PATH] = "";

    if ((st = continue_opts(&u)) != AM_OK) {
        rc = cli_fail("sim", st);
        goto done;
    }
    if (u.resume) {
        unsigned char given[SIM_MAX_OPTS];
        given_flags(tu, nopt, argc, argv, given);
        st = resume_opts(u.resume, &u, tu, given, &cmd_o, &o, &cfg_json, &av);
        if (st != AM_OK) {
            rc = cli_fail("sim", st);
            goto done;
        }
    } else {
        o = u;
    }
    fl_task_kind kind = FL_TASK_SINUSOID;
    if ((st = learner_task_kind(o.task, &kind)) != AM_OK) {
        rc = cli_fail("sim", st);
        goto done;
    }
    fill_defaults(&o, kind);
    if (kind == FL_TASK_OMNIGLOT && !o.data_dir) {
        st = AM_FAIL(AM_EINVAL, "--task omniglot needs --data-dir (the folder holding "
                                "images_background/ and images_evaluation/)");
        rc = cli_fail("sim", st);
        goto done;
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
    tc.pool = o.pool;

    fl_airfl_cfg ac;
    fl_airfl_cfg_default(&ac);
    ac.agents = o.agents;
    ac.meta.inner_steps = o.inner_steps;
    ac.meta.alpha = (float)o.alpha;
    ac.meta.tasks = o.tasks_per_agent;
    ac.meta.local_iters = o.local_iters;
    ac.meta.local_lr = (float)o.local_lr;
    ac.opt.lr = (float)o.beta;
    ac.opt.clip = (float)o.clip;
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
        st = learner_model_create(fam, o.filters, &m);
    if (st == AM_OK)
        st = fl_airfl_create(&ac, m, fam, &q);
    if (st == AM_OK)
        st = fl_personalizer_create(m, fam, &pers);
    if (st == AM_OK)
        st = make_agg(&o, fl_model_nparams(m), &agg);
    if (st != AM_OK) {
        rc = cli_fail("sim", st);
        goto done;
    }
    const size_t D = fl_model_nparams(m);
    const double kk = ceil(o.sparsity * (double)D);
    const size_t k_sent = kk < (double)D ? (size_t)kk : D;
    uint32_t crc = 0;
    const size_t state_n = fl_airfl_state_size(q);
    unsigned r0 = 0;
    double elapsed0 = 0.0;
    if (o.out) {
        if ((st = config_crc(to, nopt, &crc)) == AM_OK && !o.resume &&
            (st = fs_mkdir_p(o.out)) != AM_OK)
            am_error_wrap(st, "--out");
        if (st == AM_OK)
            st = fs_path_join(p_metrics, sizeof p_metrics, o.out, "metrics.jsonl");
        if (st == AM_OK)
            st = fs_path_join(p_wall, sizeof p_wall, o.out, "wall.jsonl");
        if (st == AM_OK)
            st = fs_path_join(p_ckpt, sizeof p_ckpt, o.out, "checkpoint.bin");
        if (st == AM_OK)
            st = fs_path_join(p_cfg, sizeof p_cfg, o.out, "config.json");
        if (st == AM_OK && !(state = malloc(state_n)))
            st = AM_FAIL(AM_ENOMEM, "out of memory for a %zu-byte checkpoint", state_n);
        if (st != AM_OK) {
            rc = cli_fail("sim", st);
            goto done;
        }
    }
    if (o.out && !o.resume) {
        /* a new run: whatever an earlier run left here goes (its checkpoint first: it must never
         * be taken for this run's) */
        if (unlink(p_ckpt) != 0 && errno != ENOENT)
            st = AM_FAIL(AM_EIO, "%s: %s", p_ckpt, strerror(errno));
        const char *const pngs[] = {"learning.png", "nmse.png", "constellation.png"};
        for (size_t i = 0; st == AM_OK && i < sizeof pngs / sizeof pngs[0]; i++) {
            char pp[SIM_PATH];
            if ((st = fs_path_join(pp, sizeof pp, o.out, pngs[i])) == AM_OK && unlink(pp) != 0 &&
                errno != ENOENT)
                st = AM_FAIL(AM_EIO, "%s: %s", pp, strerror(errno));
        }
        if (st == AM_OK)
            st = write_config(p_cfg, to, nopt, m, k_sent, crc);
        if (st == AM_OK)
            st = am_fopen_regular(p_metrics, "w", &out);
        if (st == AM_OK)
            st = am_fopen_regular(p_wall, "w", &wall);
    } else if (o.resume) {
        checkpoint_info ex = {.agents = o.agents, .dim = D, .config_crc = crc}, ci;
        void *blob = NULL;
        size_t bn = 0;
        st = checkpoint_read(p_ckpt, &ex, state_n, &ci, &blob, &bn);
        if (st == AM_ENOTFOUND) {
            st = AM_OK; /* killed before its first checkpoint: from the start */
        } else if (st == AM_OK) {
            if ((st = fl_airfl_state_load(q, blob, bn)) != AM_OK)
                st = am_error_wrap(st, "checkpoint %s", p_ckpt);
            else if (ci.round != fl_airfl_round_index(q) || ci.round > o.rounds)
                st = AM_FAIL(AM_EFORMAT,
                             "checkpoint %s: round %u in the header, %u in the state "
                             "(run of %u rounds)",
                             p_ckpt, (unsigned)ci.round, fl_airfl_round_index(q), o.rounds);
            r0 = ci.round;
            elapsed0 = ci.elapsed_s;
        }
        free(blob);
        if (st == AM_OK)
            st = truncate_rounds(p_metrics, r0, 1);
        if (st == AM_OK)
            st = truncate_rounds(p_wall, r0, 0);
        if (st == AM_OK)
            st = am_fopen_regular(p_metrics, "a", &out);
        if (st == AM_OK)
            st = am_fopen_regular(p_wall, "a", &wall);
    }
    if (st != AM_OK) {
        rc = cli_fail("sim", st);
        goto done;
    }
    progress pg = {.bar = !o.quiet && cli_isatty_stdout(), .r0 = r0, .total = o.rounds};
    if (!o.quiet) {
        printf("airmeta sim: %s, %s (%zu parameters), %u agents + %u new, %s aggregation%s, "
               "%s, %u threads\n",
               o.task, fl_model_describe(m), D, o.agents, o.new_agents, fl_agg_name(&agg),
               strcmp(o.agg, "ideal") != 0 ? "" : " (SNR/g_th unused)", o.learner, o.threads);
        if (o.resume)
            printf("resuming %s at round %u of %u%s\n", AM_ESC(o.resume), r0, o.rounds,
                   r0 ? "" : " (no checkpoint yet)");
        fflush(stdout);
    }
    fl_personalize_cfg pc = {
        .steps = o.eval_steps, .alpha = (float)o.eval_alpha, .n_tasks = o.eval_tasks};
    pg.t0 = monotime_s();
    for (unsigned r = r0; r < o.rounds; r++) {
        const double t_round = monotime_s();
        fl_airfl_stats s;
        st = fl_airfl_round(q, fam, &agg, &s);
        if (st != AM_OK) {
            progress_clear(&pg);
            rc = cli_fail("sim", st);
            goto done;
        }
        agg_iq_round_info iq;
        const int is_iq = agg_iq_is(&agg) && agg_iq_last_round(&agg, &iq) == AM_OK;
        if (is_iq && !iq.detected && !o.quiet) {
            progress_clear(&pg);
            printf("round %6u  burst NOT detected: estimate 0 applied, updates kept in memory\n",
                   r + 1);
        }
        const int eval = (r + 1) % o.eval_every == 0 || r + 1 == o.rounds;
        const double nmse_db = s.agg_nmse > 0 ? 10.0 * log10(s.agg_nmse) : -INFINITY;
        fl_personalize_report rep;
        if (eval) {
            /* The same evaluation tasks every time, so curves compare like with like. */
            am_rng er;
            am_rng_seed2(&er, o.seed, 0xe7a1e7a1ULL);
            st = fl_personalize_report_get(pers, m, fam, fl_airfl_theta(q), &pc, &er, &rep);
            if (st != AM_OK) {
                progress_clear(&pg);
                rc = cli_fail("sim", st);
                goto done;
            }
        }
        const double dt = monotime_s() - t_round;
        if (!o.quiet && !pg.bar &&
            (eval || r < r0 + 3 || (r + 1) % (o.rounds / 20 ? o.rounds / 20 : 1) == 0))
            printf("round %6u  loss %9.4f  nmse %7.2f dB  active %6.2f  eta %.3g  |m| %.3g\n",
                   r + 1, s.train_loss, nmse_db, s.mean_active, s.eta, s.memory_norm);
        if (!o.quiet && eval) {
            progress_clear(&pg);
            printf("  eval  round %u  new agents: loss %.4f -> %.4f", r + 1, rep.fresh.loss_before,
                   rep.fresh.loss_after);
            if (!isnan(rep.fresh.acc_after))
                printf(", acc %.1f%% -> %.1f%%", 100 * rep.fresh.acc_before,
                       100 * rep.fresh.acc_after);
            printf("  | training agents: loss %.4f", rep.train.loss_after);
            if (!isnan(rep.train.acc_after))
                printf(", acc %.1f%%", 100 * rep.train.acc_after);
            printf("  | gap %.4f", rep.gap_loss);
            if (o.pool)
                printf("  | own data: loss %.4f, paper's gap %.4f", rep.own.loss_after,
                       rep.gap_paper);
            printf("\n");
        }
        if (pg.bar)
            progress_draw(&pg, r + 1, s.train_loss, nmse_db, eval || r + 1 == o.rounds);
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
                if (o.pool) { /* new keys only with a pool: runs without one keep their bytes */
                    add_stats(e, "own", &rep.own);
                    cJSON_AddNumberToObject(e, "gap_fresh", rep.gap_loss);
                    cJSON_AddNumberToObject(e, "gap_paper", rep.gap_paper);
                    cJSON_AddNumberToObject(e, "gap_paper_acc", rep.gap_paper_acc);
                }
            }
            st = write_json(out, line, p_metrics);
            cJSON_Delete(line);
            /* wall times: apart, so that metrics.jsonl stays a function of the configuration */
            line = cJSON_CreateObject();
            cJSON_AddNumberToObject(line, "round", r + 1);
            cJSON_AddNumberToObject(line, "round_s", dt);
            cJSON_AddNumberToObject(line, "elapsed_s", elapsed0 + (monotime_s() - pg.t0));
            if (is_iq) {
                cJSON *e = cJSON_AddObjectToObject(line, "iq");
                cJSON_AddNumberToObject(e, "beacon_s", iq.t_beacon);
                cJSON_AddNumberToObject(e, "tx_s", iq.t_tx);
                cJSON_AddNumberToObject(e, "chan_s", iq.t_chan);
                cJSON_AddNumberToObject(e, "rx_s", iq.t_rx);
            }
            if (st == AM_OK)
                st = write_json(wall, line, p_wall);
            cJSON_Delete(line);
            line = NULL;
            /* checkpoint: the metrics it stands for reach the disk first */
            if (st == AM_OK && ((r + 1) % o.checkpoint_every == 0 || r + 1 == o.rounds)) {
                checkpoint_info ci = {.round = r + 1,
                                      .agents = o.agents,
                                      .dim = D,
                                      .config_crc = crc,
                                      .elapsed_s = elapsed0 + (monotime_s() - pg.t0)};
                st = sync_file(out, p_metrics);
                if (st == AM_OK)
                    st = sync_file(wall, p_wall);
                if (st == AM_OK)
                    st = fl_airfl_state_save(q, state, state_n);
                if (st == AM_OK)
                    st = checkpoint_write(p_ckpt, &ci, state, state_n);
            }
            if (st != AM_OK) {
                progress_clear(&pg);
                rc = cli_fail("sim", st);
                goto done;
            }
        }
        if (o.stop_after && r + 1 == o.stop_after)
            raise(SIGKILL); /* test hook: a crash, nothing flushed */
        if (!o.quiet && !pg.bar)
            fflush(stdout);
    }
    if (pg.bar && r0 < o.rounds)
        printf("\n");
    if (out) {
        FILE *f = out, *w = wall;
        out = wall = NULL;
        int bad = fclose(f) != 0;
        bad |= fclose(w) != 0;
        if (bad) {
            st = AM_FAIL(AM_EIO, "%s: %s", p_metrics, strerror(errno));
            rc = cli_fail("sim", st);
            goto done;
        }
        if (!o.no_plots) {
            const float complex *sym = NULL;
            size_t nsym = 0;
            if (agg_iq_is(&agg) && r0 < o.rounds)
                agg_iq_last_symbols(&agg, &sym, &nsym);
            make_plots(o.out, &o, sym, nsym, o.rounds);
        }
        if (!o.quiet)
            printf("run folder: %s (config.json, metrics.jsonl, wall.jsonl, checkpoint.bin%s)\n",
                   AM_ESC(o.out), o.no_plots ? "" : ", *.png");
    }
done:
    if (out)
        fclose(out);
    if (wall)
        fclose(wall);
    free(state);
    argv_free(&av);
    cJSON_Delete(cfg_json);
    fl_agg_destroy(&agg);
    fl_personalizer_destroy(pers);
    fl_airfl_destroy(q);
    fl_model_destroy(m);
    fl_task_family_destroy(fam);
    return rc;
}
