/* host/run/sim: one `airmeta sim` run as an object (contract and run folder: run/sim.h). */
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
#include "run/rundir.h"
#include "run/runcfg.h"
#include "util/cli.h"
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
#include "phy/impair.h"
#include "phy/ota_rx.h"
#include "phy/version.h"
#include "run/plot.h"
#include "run/sim.h"

#define SIM_PATH 4096
#define SIM_CONFIG_MAX (1u << 20) /* config.json larger than this is not ours */

static void sim_defaults(sim_opts *o)
{
    *o = (sim_opts){.agg = "stat",
                    .agents = 10,
                    .threads = 0,
                    .seed = 1,
                    .nfft = 256,
                    .timing_offset = UINT32_MAX,
                    .gain_pool = UINT32_MAX, /* auto: fill_defaults */
                    .precoding = "inversion",
                    .impair = "ideal",
                    .cal = "auto",
                    .mapping = FLAGS_MAPPING_DEFAULT};
    flags_task_defaults(&o->task);
    flags_learner_defaults(&o->learn);
    flags_air_defaults(&o->air);
    flags_channel_defaults(&o->chan);
    flags_eval_defaults(&o->eval);
    flags_probes_defaults(&o->probes);
}

#define PUT(...) (t[n++] = (cli_opt){__VA_ARGS__})

/* The order of sim's flags in --help and config.json: the order they had before the shared groups
 * existed, so a run folder's config.json keeps its bytes. Flags added later come after these, in
 * table order. */
static const char *const sim_order[] = {
    "--agg",           "--task",         "--data-dir",    "--agents",       "--new-agents",
    "--rounds",        "--snr-db",       "--g-th",        "--rho",          "--eta-rule",
    "--sparsity",      "--sparsify",     "--no-memory",   "--seed",         "--learner",
    "--inner-steps",   "--alpha",        "--beta",        "--optimizer",    "--clip",         "--tasks-per-agent",
    "--local-iters",   "--local-lr",     "--eval-every",  "--eval-tasks",   "--eval-steps",
    "--eval-alpha",    "--ways",         "--shots",       "--query",        "--heterogeneity", "--pool",
    "--filters",       "--threads",      "--nfft",        "--cp",           "--taps",
    "--delay-spread",  "--timing-offset", "--cfo",        "--precoding",    "--capture-dir",
    "--radio",         "--radio-args",   "--out",         "--checkpoint-every", "--resume",
    "--continue",      "--force",         "--no-plots",     "--quiet",        "--stop-after"};

static size_t sim_entries(sim_opts *o, cli_opt *t);

/* The option table of o (same order for every sim_opts, so entry k of two tables is one flag):
 * sim's own flags and the shared groups of host/run/flags.h, in sim_order. */
static size_t sim_table(sim_opts *o, cli_opt *t)
{
    cli_opt pool[SIM_MAX_OPTS];
    unsigned char used[SIM_MAX_OPTS] = {0};
    const size_t np = sim_entries(o, pool);
    size_t n = 0;
    for (size_t i = 0; i < sizeof sim_order / sizeof sim_order[0]; i++)
        for (size_t k = 0; k < np; k++)
            if (!used[k] && strcmp(pool[k].name, sim_order[i]) == 0) {
                used[k] = 1;
                t[n++] = pool[k];
            }
    for (size_t k = 0; k < np; k++)
        if (!used[k])
            t[n++] = pool[k];
    return n;
}

/* Every sim flag, grouped. */
static size_t sim_entries(sim_opts *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--agg", CLI_CHOICE, &o->agg, "aggregation channel", 0, 0, "ideal|stat|iq");
    n += flags_task_table(&o->task, t + n);
    PUT("--agents", CLI_UINT, &o->agents, "training agents K", 1, 10000, NULL);
    PUT("--rounds", CLI_UINT, &o->rounds, "rounds (default 5000 sinusoid, 100 images)", 1, 1e7,
        NULL);
    PUT("--seed", CLI_U64, &o->seed, "seed of every random draw", 1, 0, NULL);
    n += flags_learner_table(&o->learn, t + n);
    n += flags_air_table(&o->air, t + n);
    n += flags_eval_table(&o->eval, t + n);
    PUT("--threads", CLI_UINT, &o->threads, "worker threads (default: online CPUs)", 1, 256, NULL);
    n += flags_channel_table(&o->chan, t + n); /* stat: --snr-db; iq: all */
    PUT("--nfft", CLI_UINT, &o->nfft, "iq: FFT size M (docs/air-interface.md §1)", 64, 4096, NULL);
    PUT("--cp", CLI_UINT, &o->cp, "iq: cyclic prefix (default M/8)", 1, 2048, NULL);
    PUT("--timing-offset", CLI_UINT, &o->timing_offset,
        "iq: max per-agent timing offset, samples (default cp/4)", 0, 2048, NULL);
    PUT("--cfo", CLI_DOUBLE, &o->cfo,
        "iq: max per-agent carrier offset, subcarrier spacings (agents pre-compensate it from "
        "the beacon when > 0)",
        0, 0.49, NULL);
    PUT("--precoding", CLI_CHOICE, &o->precoding, "iq: agents' precoder (docs/air-interface.md §4)",
        0, 0, "inversion|phase");
    PUT("--capture-dir", CLI_STR, &o->capture_dir,
        "iq: write every round's received stream to DIR/round-NNNNNN.sigmf-meta (airmeta replay)",
        1, 0, NULL);
    PUT("--impair", CLI_STR, &o->impair,
        "iq: radio impairment profile: ideal (default), b210-shared-ref, b210-free "
        "(docs/impairments.md)",
        1, 0, NULL);
    PUT("--gain-pool", CLI_UINT, &o->gain_pool,
        "iq: receiver's estimate of G pooled over W neighbouring bins where noisy (0 = per bin, "
        "phy/ota_rx.h; default 3, docs/air-interface.md §5.2)",
        0, PHY_OTA_RX_GAIN_POOL_MAX, NULL);
    PUT("--cal", CLI_CHOICE, &o->cal,
        "iq: closed-loop calibration (docs/air-interface.md §8): a calibration block in every "
        "burst, the server hears each agent and feeds its gain back, agents correct their "
        "precoder, probed before round 1 (§8.5, --probes); auto = on with a non-ideal --impair (LO "
        "phases, chain mismatch)",
        0, 0, "auto|on|off");
    n += flags_probes_table(&o->probes, t + n); /* iq with calibration */
    n += flags_mapping_table(&o->mapping, t + n); /* iq */
    n += flags_radio_table(&o->radio, t + n, "loop|file",
                           "iq: carry each round's received stream through this radio");
    PUT("--out", CLI_STR, &o->out,
        "run folder DIR (created; a finished run there is kept unless --force): config.json, "
        "metrics.jsonl (a line per round), wall.jsonl (wall times), checkpoint.bin, PNG plots",
        1, 0, NULL);
    PUT("--checkpoint-every", CLI_UINT, &o->checkpoint_every,
        "with --out: checkpoint every N rounds and after the last (default rounds/20)", 1, 1e7,
        NULL);
    PUT("--resume", CLI_STR, &o->resume,
        "continue the run in folder DIR from its last checkpoint, configured by DIR/config.json "
        "(other flags must agree with it, except --threads --checkpoint-every --quiet "
        "--no-plots); the rounds after the checkpoint repeat the uninterrupted run's bytes",
        1, 0, NULL);
    PUT("--continue", CLI_FLAG, &o->cont,
        "with --out: a run of this configuration already in DIR is continued as by --resume "
        "(a finished one: nothing to do, exit 0) instead of replaced; one of another "
        "configuration is refused (job lists of `airmeta sweep --plan`: idempotent lines)",
        0, 0, NULL);
    PUT("--force", CLI_FLAG, &o->force,
        "with --out: replace a finished run in DIR (refused without it)", 0, 0, NULL);
    PUT("--no-plots", CLI_FLAG, &o->no_plots, "with --out: no PNG plots", 0, 0, NULL);
    PUT("--quiet", CLI_FLAG, &o->quiet, "no progress bar or per-round lines", 0, 0, NULL);
    /* test hook: die by SIGKILL after round N (its checkpoint written, nothing else) */
    PUT("--stop-after", CLI_UINT, &o->stop_after, NULL, 1, 1e7, NULL);
    return n;
}

/* Not in config.json (where the run is, test hooks). */
static int opt_unstored(const cli_opt *op)
{
    return !strcmp(op->name, "--out") || !strcmp(op->name, "--resume") ||
           !strcmp(op->name, "--continue") || !strcmp(op->name, "--stop-after") ||
           !strcmp(op->name, "--force");
}

/* Stored, but how the run executes, not what it computes: may differ on --resume and are not part
 * of the configuration's CRC. */
static int opt_runctl(const cli_opt *op)
{
    return !strcmp(op->name, "--threads") || !strcmp(op->name, "--checkpoint-every") ||
           !strcmp(op->name, "--quiet") || !strcmp(op->name, "--no-plots");
}

/* Flags added after runs existed, left out of the configuration's CRC at their default value, so
 * that a run from before them (its config.json without them, see added_later) resumes. */
static int opt_crc_default(const cli_opt *op)
{
    if (!strcmp(op->name, "--gain-pool"))
        return *(const unsigned *)op->dst == 0;
    if (!strcmp(op->name, "--cal"))
        return !strcmp(*(const char *const *)op->dst, "auto");
    if (!strcmp(op->name, "--mapping"))
        return !strcmp(*(const char *const *)op->dst, FLAGS_MAPPING_DEFAULT);
    if (flags_probes_is(op->name))
        return flags_probes_at_default(op);
    return !strcmp(op->name, "--impair") && !strcmp(*(const char *const *)op->dst, "ideal");
}

static int added_later(const char *name);

/* --cal auto, --mapping complex, --probes 2 and --probe-excess 0 are not written to config.json: a
 * run's config.json keeps the bytes of a run before the flag (tests/refactor/same_metrics.sh) */
static int opt_omitted(const cli_opt *op)
{
    if (flags_probes_is(op->name))
        return flags_probes_at_default(op);
    if (!strcmp(op->name, "--mapping"))
        return !strcmp(*(const char *const *)op->dst, FLAGS_MAPPING_DEFAULT);
    return !strcmp(op->name, "--cal") && !strcmp(*(const char *const *)op->dst, "auto");
}

/* sim's flags in config.json (host/run/runcfg.h) */
static const runcfg_class sim_class = {"sim", opt_unstored, opt_runctl, opt_crc_default,
                                       added_later, opt_omitted};

/* Per-kind defaults for what the user did not set (0 / NaN / sentinel = not given): after this
 * every flag holds the value the run uses (config.json's "fully resolved"). */
/* Values that change only the waveform are refused without one (--agg ideal / stat send no
 * samples): a run that looks impaired, calibrated, real-mapped, captured or carried by a radio
 * in its flags must be one. */
static am_status iq_only(const sim_opts *o)
{
    if (o->radio.args && !o->radio.name) /* the keys of no backend: they would be dropped */
        return AM_FAIL(AM_EINVAL, "--radio-args needs --radio (loop|file)");
    /* the probes are calibration's (§8.5): a run that says it probed must calibrate (--cal auto:
     * on with a non-ideal --impair, agg_iq_cfg.cal) */
    const int probes_set = flags_probes_set(&o->probes);
    am_status st = flags_probes_check(&o->probes);
    if (st != AM_OK)
        return st;
    if (strcmp(o->agg, "iq") == 0) {
        const int cal = !strcmp(o->cal, "on") ||
                        (!strcmp(o->cal, "auto") && o->impair && strcmp(o->impair, "ideal") != 0);
        if (probes_set && !cal)
            return AM_FAIL(AM_EINVAL, "--probes %u / --probe-excess %g need calibration (--cal "
                                      "on, or a non-ideal --impair): without it nothing is probed",
                           o->probes.probes, (double)o->probes.excess);
        return AM_OK;
    }
    if (o->capture_dir) /* no stream to record: a run that says it captured wrote nothing */
        return AM_FAIL(AM_EINVAL, "--capture-dir needs --agg iq (--agg %s sends no waveform)",
                       o->agg);
    if (o->radio.name)
        return AM_FAIL(AM_EINVAL, "--radio %s needs --agg iq (--agg %s sends no waveform)",
                       o->radio.name, o->agg);
    if (strcmp(o->mapping, "complex") != 0)
        return AM_FAIL(AM_EINVAL, "--mapping %s needs --agg iq (--agg %s sends no waveform)",
                       o->mapping, o->agg);
    if (strcmp(o->cal, "on") == 0)
        return AM_FAIL(AM_EINVAL, "--cal on needs --agg iq (--agg %s sends no waveform)", o->agg);
    if (probes_set)
        return AM_FAIL(AM_EINVAL, "--probes / --probe-excess need --agg iq with calibration "
                                  "(--agg %s sends no waveform)",
                       o->agg);
    if (o->impair && strcmp(o->impair, "ideal") != 0)
        return AM_FAIL(AM_EINVAL, "--impair %s needs --agg iq (--agg %s has no radios)", o->impair,
                       o->agg);
    return AM_OK;
}

static void fill_defaults(sim_opts *o, fl_task_kind kind)
{
    const int sin = kind == FL_TASK_SINUSOID;
    if (!o->rounds)
        o->rounds = sin ? 5000 : 100;
    flags_learning_resolve(kind, &o->task, &o->learn, &o->eval);
    if (!o->eval.eval_every)
        o->eval.eval_every = o->rounds / 4 ? o->rounds / 4 : 1;
    if (!o->checkpoint_every)
        o->checkpoint_every = o->rounds / 20 ? o->rounds / 20 : 1;
    if (!o->cp)
        o->cp = o->nfft / 8;
    if (o->timing_offset == UINT32_MAX)
        o->timing_offset = o->cp / 4;
    /* docs/air-interface.md §5.2: G pooled over 3 bins either side where it is noisy (--agg iq;
     * 0 where nothing is received, so that a stat run's configuration keeps its bytes) */
    if (o->gain_pool == UINT32_MAX)
        o->gain_pool = !strcmp(o->agg, "iq") ? 3 : 0;
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
        fl_agg_stat_cfg sc = {.snr_db = o->chan.snr_db, .seed = o->seed};
        return fl_agg_stat_create(&sc, out);
    }
    if (strcmp(o->agg, "iq") == 0) {
        agg_iq_cfg c;
        agg_iq_cfg_default(&c);
        c.agents = o->agents;
        c.max_dim = D;
        c.nfft = o->nfft;
        c.cp_len = o->cp;
        c.n_taps = o->chan.taps;
        c.delay_spread = (float)o->chan.delay_spread;
        c.max_timing_offset = o->timing_offset; /* resolved by fill_defaults (cp / 4) */
        c.max_cfo = (float)o->cfo;
        c.snr_db = (float)o->chan.snr_db;
        c.threads = o->threads < 64 ? o->threads : 64;
        c.seed = o->seed;
        c.capture_dir = o->capture_dir;
        c.radio = o->radio.name;
        c.radio_args = o->radio.args;
        phy_impair_cfg imp;
        am_status s = phy_impair_profile(o->impair, &imp);
        if (s != AM_OK)
            return am_error_wrap(s, "--impair");
        c.impair = &imp;
        c.gain_pool = o->gain_pool;
        c.cal = !strcmp(o->cal, "on") ? 1 : !strcmp(o->cal, "off") ? 0 : -1;
        c.probes = o->probes.probes;
        c.probe_excess = o->probes.excess;
        if ((s = phy_mapping_parse(o->mapping, &c.mapping)) != AM_OK)
            return am_error_wrap(s, "--mapping");
        s = agg_iq_precoding_parse(o->precoding, &c.precoding);
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
    cJSON *f = runcfg_flags_json(&sim_class, t, n, 0);
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

/* Flags added after run folders were first written: a config.json without them is of a run made
 * before, whose behaviour is the flag's default (and its CRC, taken over the stored flags only,
 * stays). Every other flag must be there. */
static int added_later(const char *name)
{
    static const char *const later[] = {"--pool",      "--clip", "--impair",
                                        "--gain-pool", "--cal",  "--mapping"};
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
        if (strcmp(name, later[i]) == 0)
            return 1;
    return flags_probes_is(name);
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
    size_t cap = 0, len = 0;
    am_status s = AM_OK;
    while (c->n < c->cap &&
           (s = fs_read_line(f, FS_JSONL_LINE_MAX, path, (unsigned)c->n + 1, &line, &cap, &len)) ==
               AM_OK &&
           len > 0) {
        cJSON *o = cJSON_ParseWithLength(line, len);
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
    if (s != AM_OK)
        curves_free(c);
    return s;
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
             o->task.task, o->agg, o->agents, o->chan.snr_db, o->air.sparsity, o->seed);
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

/* ------------------------------------------------------------------------------ configuration */

/* Resuming: o from DIR/config.json; flags given on the command line (u, given) must agree with
 * it except the run-control ones, which they override. */
static am_status resume_opts(const char *dir,
                             const sim_opts *u,
                             const cli_opt *tu,
                             const unsigned char *given,
                             const cli_cmd *cmd_o,
                             sim_opts *o,
                             cJSON **cfg_out,
                             runcfg_argv *av)
{
    char path[SIM_PATH];
    am_status s = fs_path_join(path, sizeof path, dir, "config.json");
    if (s != AM_OK)
        return am_error_wrap(s, "--resume");
    char *text = NULL;
    if ((s = fs_read_text(path, SIM_CONFIG_MAX, &text)) != AM_OK)
        return s == AM_ENOTFOUND
                   ? am_error_wrap(s, "--resume %s: not a run folder (no config.json)", dir)
                   : s;
    cJSON *cfg = NULL;
    s = runcfg_parse(path, text, &cfg);
    free(text);
    if (s != AM_OK)
        return s;
    *cfg_out = cfg;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(cfg, "command");
    if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, "sim") != 0)
        return AM_FAIL(AM_EFORMAT, "%s: not the configuration of an `airmeta sim` run", path);
    const cJSON *air = cJSON_GetObjectItemCaseSensitive(cfg, "air_interface_version");
    /* a run of an older version resumes: its waveform is this version's without calibration */
    /* ranged as a double before the cast (1e300 cast to long long is undefined behaviour) */
    if (!cJSON_IsNumber(air) || !(fabs(air->valuedouble) <= 1e9) ||
        air->valuedouble != floor(air->valuedouble) ||
        !phy_air_interface_supported((long long)air->valuedouble))
        return AM_FAIL(AM_EFORMAT, "%s: air interface version %g, this build reads %u..%u", path,
                       cJSON_IsNumber(air) ? air->valuedouble : NAN, PHY_AIR_INTERFACE_MIN_VERSION,
                       PHY_AIR_INTERFACE_VERSION);
    const cli_opt *t = cmd_o->opts;
    const size_t n = cmd_o->nopts;
    if ((s = runcfg_argv_make(&sim_class, path, cJSON_GetObjectItemCaseSensitive(cfg, "flags"), t,
                              n, av)) != AM_OK)
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
        if (!given[k] || !strcmp(t[k].name, "--resume") || !strcmp(t[k].name, "--continue") ||
            !strcmp(t[k].name, "--force"))
            continue;
        if (!strcmp(t[k].name, "--stop-after")) {
            o->stop_after = u->stop_after;
            continue;
        }
        if ((s = runcfg_take_given(&sim_class, dir, path, &tu[k], &t[k])) != AM_OK)
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

am_status sim_config_parse(sim_config *c, int argc, char **argv, const char *summary)
{
    memset(c, 0, sizeof *c);
    sim_opts u;
    cli_opt tu[SIM_MAX_OPTS];
    sim_defaults(&u);
    const size_t nopt = sim_table(&u, tu);
    sim_table(&c->o, c->table);
    c->nopts = nopt;
    const cli_cmd cmd_u = {"airmeta sim", "[options]", summary, tu, nopt, 0, 0};
    const cli_cmd cmd_o = {"airmeta sim", "[options]", summary, c->table, nopt, 0, 0};
    const char *pos[1];
    size_t npos = 0;
    am_status st = cli_parse(&cmd_u, argc, argv, pos, &npos);
    if (st == AM_ENOTFOUND) {
        c->help = 1;
        return AM_OK;
    }
    if (st != AM_OK)
        return st;
    if ((st = continue_opts(&u)) != AM_OK)
        return st;
    if (u.resume) {
        unsigned char given[SIM_MAX_OPTS];
        runcfg_argv av = {0};
        runcfg_given(tu, nopt, argc, argv, given);
        st = resume_opts(u.resume, &u, tu, given, &cmd_o, &c->o, &c->stored, &av);
        c->av = av.v;
        c->av_store = av.store;
        if (st != AM_OK)
            return st;
        if (c->o.gain_pool == UINT32_MAX)
            c->o.gain_pool = 0; /* a run from before --gain-pool: per bin */
    } else {
        c->o = u; /* c->table points into c->o */
    }
    if ((st = learner_task_kind(c->o.task.task, &c->kind)) != AM_OK)
        return st;
    fill_defaults(&c->o, c->kind);
    if ((st = iq_only(&c->o)) != AM_OK)
        return st;
    if (c->o.task.data_dir && !c->o.task.data_dir[0]) /* "" + "/file": the root folder's */
        return AM_FAIL(AM_EINVAL, "--data-dir: empty folder name");
    if (c->kind == FL_TASK_OMNIGLOT && !c->o.task.data_dir)
        return AM_FAIL(AM_EINVAL, "--task omniglot needs --data-dir (the folder holding "
                                  "images_background/ and images_evaluation/)");
    return AM_OK;
}

void sim_config_free(sim_config *c)
{
    free(c->av);
    free(c->av_store);
    cJSON_Delete(c->stored);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------------------ the run */

struct sim_run {
    const sim_config *c;
    const sim_opts *o;
    fl_task_family *fam;
    fl_model *m;
    fl_airfl *q;
    fl_personalizer *pers;
    fl_agg agg;
    fl_personalize_cfg pc;
    size_t D, k_sent, state_n;
    uint32_t crc;
    unsigned r0, done;
    double elapsed0, t0;
    FILE *out, *wall;
    void *state;
    char p_metrics[SIM_PATH], p_wall[SIM_PATH], p_ckpt[SIM_PATH], p_cfg[SIM_PATH];
    run_dir *rd; /* the folder's lock (run/rundir.h) */
};

/* The learner and the aggregator of o. */
static am_status run_learner(sim_run *r)
{
    const sim_opts *o = r->o;
    fl_task_cfg tc;
    fl_task_cfg_default(&tc, r->c->kind);
    tc.n_train_agents = o->agents;
    tc.n_new_agents = o->eval.new_agents;
    tc.heterogeneity = (float)o->task.heterogeneity;
    tc.shots = o->task.shots;
    tc.query = o->task.query;
    tc.ways = o->task.ways;
    tc.data_dir = o->task.data_dir;
    tc.seed = o->seed;
    tc.pool = o->task.pool;

    fl_airfl_cfg ac;
    fl_airfl_cfg_default(&ac);
    ac.agents = o->agents;
    ac.meta.inner_steps = o->learn.inner_steps;
    ac.meta.alpha = (float)o->learn.alpha;
    ac.meta.tasks = o->learn.tasks_per_agent;
    ac.meta.local_iters = o->learn.local_iters;
    ac.meta.local_lr = (float)o->learn.local_lr;
    ac.opt.lr = (float)o->learn.beta;
    ac.opt.clip = (float)o->learn.clip;
    ac.keep = o->air.sparsity;
    ac.memory = !o->air.no_memory;
    ac.rho = (float)o->air.rho;
    ac.g_th = (float)o->air.g_th;
    ac.threads = o->threads;
    ac.seed = o->seed;
    am_status st = fl_learner_parse(o->learn.learner, &ac.meta.learner);
    if (st == AM_OK)
        st = fl_opt_kind_parse(o->learn.optimizer, &ac.opt.kind);
    if (st == AM_OK)
        st = fl_sparse_kind_parse(o->air.sparsify, &ac.sparsify);
    if (st == AM_OK)
        st = fl_eta_rule_parse(o->air.eta_rule, &ac.eta_rule);
    if (st == AM_OK)
        st = fl_task_family_create(&tc, &r->fam);
    if (st == AM_OK)
        st = learner_model_create(r->fam, o->learn.filters, &r->m);
    if (st == AM_OK)
        st = fl_airfl_create(&ac, r->m, r->fam, &r->q);
    if (st == AM_OK)
        st = fl_personalizer_create(r->m, r->fam, &r->pers);
    if (st == AM_OK)
        st = make_agg(o, fl_model_nparams(r->m), &r->agg);
    return st;
}

/* A new run in o->out: whatever an earlier run left there goes (its checkpoint first: it must
 * never be taken for this run's). */
static am_status run_folder_new(sim_run *r)
{
    const sim_opts *o = r->o;
    am_status st = AM_OK;
    if (unlink(r->p_ckpt) != 0 && errno != ENOENT)
        st = AM_FAIL(AM_EIO, "%s: %s", r->p_ckpt, strerror(errno));
    const char *const pngs[] = {"learning.png", "nmse.png", "constellation.png"};
    for (size_t i = 0; st == AM_OK && i < sizeof pngs / sizeof pngs[0]; i++) {
        char pp[SIM_PATH];
        if ((st = fs_path_join(pp, sizeof pp, o->out, pngs[i])) == AM_OK && unlink(pp) != 0 &&
            errno != ENOENT)
            st = AM_FAIL(AM_EIO, "%s: %s", pp, strerror(errno));
    }
    if (st == AM_OK)
        st = write_config(r->p_cfg, r->c->table, r->c->nopts, r->m, r->k_sent, r->crc);
    if (st == AM_OK)
        st = am_fopen_regular(r->p_metrics, "w", &r->out);
    if (st == AM_OK)
        st = am_fopen_regular(r->p_wall, "w", &r->wall);
    return st;
}

/* The run in o->resume from its checkpoint (none yet: from the start); the metrics lines after
 * the checkpoint are cut. */
static am_status run_folder_resume(sim_run *r)
{
    const sim_opts *o = r->o;
    checkpoint_info ex = {.agents = o->agents, .dim = r->D, .config_crc = r->crc}, ci;
    void *blob = NULL;
    size_t bn = 0;
    am_status st = checkpoint_read(r->p_ckpt, &ex, r->state_n, &ci, &blob, &bn);
    if (st == AM_ENOTFOUND) {
        st = AM_OK; /* killed before its first checkpoint: from the start */
    } else if (st == AM_OK) {
        /* the learner's state, then the iq aggregator's calibration corrections (if any) */
        const size_t an = fl_airfl_state_size(r->q);
        if (bn != r->state_n) { /* as the server's: the size first, then what it holds */
            st = AM_FAIL(AM_EFORMAT, "checkpoint %s: a state of %zu bytes, this run's is %zu",
                         r->p_ckpt, bn, r->state_n);
        } else {
            st = fl_airfl_state_load(r->q, blob, an);
            if (st == AM_OK)
                st = agg_iq_state_load(&r->agg, (const unsigned char *)blob + an, bn - an);
            if (st != AM_OK)
                st = am_error_wrap(st, "checkpoint %s", r->p_ckpt);
            else if (ci.round != fl_airfl_round_index(r->q) || ci.round > o->rounds)
                st = AM_FAIL(AM_EFORMAT,
                             "checkpoint %s: round %u in the header, %u in the state "
                             "(run of %u rounds)",
                             r->p_ckpt, (unsigned)ci.round, fl_airfl_round_index(r->q), o->rounds);
        }
        r->r0 = ci.round;
        r->elapsed0 = ci.elapsed_s;
    }
    free(blob);
    if (st == AM_OK)
        st = runcfg_cut_rounds(r->p_metrics, r->r0, 1);
    if (st == AM_OK)
        st = runcfg_cut_rounds(r->p_wall, r->r0, 0);
    if (st == AM_OK)
        st = am_fopen_regular(r->p_metrics, "a", &r->out);
    if (st == AM_OK)
        st = am_fopen_regular(r->p_wall, "a", &r->wall);
    return st;
}

static am_status run_folder(sim_run *r)
{
    const sim_opts *o = r->o;
    const cJSON *order =
        r->c->stored ? cJSON_GetObjectItemCaseSensitive(r->c->stored, "flags") : NULL;
    am_status st = runcfg_crc(&sim_class, r->c->table, r->c->nopts, order, &r->crc);
    /* one run per folder (lock), a finished one kept without --force (issue 12) */
    const unsigned rf = (o->resume ? RUN_DIR_RESUME : 0u) | (o->force ? RUN_DIR_FORCE : 0u);
    if (st == AM_OK && (st = run_dir_open(o->out, rf, "airmeta sim", &r->rd)) != AM_OK)
        am_error_wrap(st, o->resume ? "--resume" : "--out");
    if (st == AM_OK)
        st = fs_path_join(r->p_metrics, sizeof r->p_metrics, o->out, "metrics.jsonl");
    if (st == AM_OK)
        st = fs_path_join(r->p_wall, sizeof r->p_wall, o->out, "wall.jsonl");
    if (st == AM_OK)
        st = fs_path_join(r->p_ckpt, sizeof r->p_ckpt, o->out, "checkpoint.bin");
    if (st == AM_OK)
        st = fs_path_join(r->p_cfg, sizeof r->p_cfg, o->out, "config.json");
    if (st == AM_OK && !(r->state = malloc(r->state_n)))
        st = AM_FAIL(AM_ENOMEM, "out of memory for a %zu-byte checkpoint", r->state_n);
    if (st != AM_OK)
        return st;
    return o->resume ? run_folder_resume(r) : run_folder_new(r);
}

am_status sim_run_create(const sim_config *c, sim_run **out)
{
    *out = NULL;
    sim_run *r = calloc(1, sizeof *r);
    if (!r)
        return AM_FAIL(AM_ENOMEM, "out of memory");
    r->c = c;
    r->o = &c->o;
    openblas_set_num_threads(1);
    am_status st = run_learner(r);
    if (st == AM_OK) {
        r->D = fl_model_nparams(r->m);
        const double kk = ceil(r->o->air.sparsity * (double)r->D);
        r->k_sent = kk < (double)r->D ? (size_t)kk : r->D;
        r->state_n = fl_airfl_state_size(r->q) + agg_iq_state_size(&r->agg);
        if (r->o->out)
            st = run_folder(r);
    }
    if (st != AM_OK) {
        sim_run_destroy(r);
        return st;
    }
    r->done = r->r0;
    r->pc = (fl_personalize_cfg){.steps = r->o->eval.eval_steps,
                                 .alpha = (float)r->o->eval.eval_alpha,
                                 .n_tasks = r->o->eval.eval_tasks};
    r->t0 = monotime_s();
    *out = r;
    return AM_OK;
}

unsigned sim_run_done(const sim_run *r)
{
    return r->done;
}

const char *sim_run_describe(const sim_run *r, size_t *params, const char **agg_name)
{
    *params = r->D;
    *agg_name = fl_agg_name(&r->agg);
    return fl_model_describe(r->m);
}

/* The round's line of metrics.jsonl. */
static cJSON *metrics_line(const sim_run *r, const sim_round *rr)
{
    const fl_airfl_stats *s = &rr->s;
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "round", rr->round);
    cJSON_AddNumberToObject(line, "train_loss", s->train_loss);
    cJSON_AddNumberToObject(line, "agg_nmse", s->agg_nmse);
    cJSON_AddNumberToObject(line, "agg_nmse_db", rr->nmse_db); /* -inf (ideal) -> null */
    cJSON_AddNumberToObject(line, "mean_active", s->mean_active);
    cJSON_AddNumberToObject(line, "eta", s->eta);
    cJSON_AddNumberToObject(line, "memory_norm", s->memory_norm);
    if (rr->is_iq) {
        const agg_iq_round_info *iq = &rr->iq;
        cJSON *e = cJSON_AddObjectToObject(line, "iq");
        cJSON_AddBoolToObject(e, "detected", iq->detected);
        cJSON_AddNumberToObject(e, "agents_sent", iq->agents_sent);
        cJSON_AddNumberToObject(e, "snr_db", iq->snr_db);
        cJSON_AddNumberToObject(e, "cfo", iq->cfo);
        cJSON_AddNumberToObject(e, "active_rx", iq->active_mean);
        cJSON_AddNumberToObject(e, "active", iq->active_true_mean);
        if (iq->cal) { /* §5.6: the agents the server heard (only with calibration: runs without
                          it keep their bytes) */
            cJSON *h = cJSON_AddArrayToObject(e, "heard");
            for (unsigned k = 0; h && k < r->o->agents; k++)
                if (iq->heard[k])
                    cJSON_AddItemToArray(h, cJSON_CreateNumber(k));
        }
        if (iq->probes) { /* §8.5: the calibration probes before this round (server's keys) */
            cJSON *p = cJSON_AddObjectToObject(e, "probe");
            cJSON *pa = cJSON_AddArrayToObject(p, "agents"), *ph;
            for (unsigned k = 0; pa && k < iq->probe_agents; k++)
                cJSON_AddItemToArray(pa, cJSON_CreateNumber(k));
            cJSON_AddNumberToObject(p, "probes", iq->probes);
            ph = cJSON_AddArrayToObject(p, "heard");
            for (unsigned k = 0; ph && k < iq->probe_agents; k++)
                if (iq->probe_hearing[k])
                    cJSON_AddItemToArray(ph, cJSON_CreateNumber(k));
        }
        if (iq->capture[0])
            cJSON_AddStringToObject(e, "capture", iq->capture);
    }
    if (rr->eval) {
        cJSON *e = cJSON_AddObjectToObject(line, "eval");
        cJSON_AddNumberToObject(e, "steps", r->o->eval.eval_steps);
        add_stats(e, "new", &rr->rep.fresh);
        add_stats(e, "train", &rr->rep.train);
        cJSON_AddNumberToObject(e, "gap_loss", rr->rep.gap_loss);
        cJSON_AddNumberToObject(e, "gap_acc", rr->rep.gap_acc);
        if (r->o->task.pool) { /* new keys only with a pool: runs without one keep their bytes */
            add_stats(e, "own", &rr->rep.own);
            cJSON_AddNumberToObject(e, "gap_fresh", rr->rep.gap_loss);
            cJSON_AddNumberToObject(e, "gap_paper", rr->rep.gap_paper);
            cJSON_AddNumberToObject(e, "gap_paper_acc", rr->rep.gap_paper_acc);
        }
    }
    return line;
}

/* The round's line of wall.jsonl: apart, so that metrics.jsonl stays a function of the
 * configuration. */
static cJSON *wall_line(const sim_run *r, const sim_round *rr)
{
    cJSON *line = cJSON_CreateObject();
    cJSON_AddNumberToObject(line, "round", rr->round);
    cJSON_AddNumberToObject(line, "round_s", rr->dt);
    cJSON_AddNumberToObject(line, "elapsed_s", r->elapsed0 + (monotime_s() - r->t0));
    if (rr->is_iq) {
        cJSON *e = cJSON_AddObjectToObject(line, "iq");
        cJSON_AddNumberToObject(e, "beacon_s", rr->iq.t_beacon);
        cJSON_AddNumberToObject(e, "tx_s", rr->iq.t_tx);
        cJSON_AddNumberToObject(e, "chan_s", rr->iq.t_chan);
        cJSON_AddNumberToObject(e, "rx_s", rr->iq.t_rx);
    }
    return line;
}

/* metrics, wall times and, every --checkpoint-every rounds, the checkpoint: the metrics it
 * stands for reach the disk first. */
static am_status record_round(sim_run *r, const sim_round *rr)
{
    const sim_opts *o = r->o;
    cJSON *line = metrics_line(r, rr);
    am_status st = write_json(r->out, line, r->p_metrics);
    cJSON_Delete(line);
    line = wall_line(r, rr);
    if (st == AM_OK)
        st = write_json(r->wall, line, r->p_wall);
    cJSON_Delete(line);
    if (st == AM_OK && (rr->round % o->checkpoint_every == 0 || rr->round == o->rounds)) {
        checkpoint_info ci = {.round = rr->round,
                              .agents = o->agents,
                              .dim = r->D,
                              .config_crc = r->crc,
                              .elapsed_s = r->elapsed0 + (monotime_s() - r->t0)};
        st = sync_file(r->out, r->p_metrics);
        if (st == AM_OK)
            st = sync_file(r->wall, r->p_wall);
        if (st == AM_OK)
            st = fl_airfl_state_save(r->q, r->state, r->state_n - agg_iq_state_size(&r->agg));
        if (st == AM_OK)
            agg_iq_state_save(&r->agg, (unsigned char *)r->state + r->state_n -
                                           agg_iq_state_size(&r->agg));
        if (st == AM_OK)
            st = checkpoint_write(r->p_ckpt, &ci, r->state, r->state_n);
    }
    return st;
}

am_status sim_run_step(sim_run *r, sim_round *rr)
{
    const sim_opts *o = r->o;
    memset(rr, 0, sizeof *rr);
    if (r->done >= o->rounds)
        return AM_FAIL(AM_EINVAL, "sim: the run's %u rounds are done", o->rounds);
    const double t_round = monotime_s();
    rr->round = r->done + 1;
    am_status st = fl_airfl_round(r->q, r->fam, &r->agg, &rr->s);
    if (st != AM_OK)
        return st;
    rr->is_iq = agg_iq_is(&r->agg) && agg_iq_last_round(&r->agg, &rr->iq) == AM_OK;
    rr->eval = rr->round % o->eval.eval_every == 0 || rr->round == o->rounds;
    rr->nmse_db = rr->s.agg_nmse > 0 ? 10.0 * log10(rr->s.agg_nmse) : -INFINITY;
    if (rr->eval) {
        /* The same evaluation tasks every time, so curves compare like with like. */
        am_rng er;
        am_rng_seed2(&er, o->seed, 0xe7a1e7a1ULL);
        st = fl_personalize_report_get(r->pers, r->m, r->fam, fl_airfl_theta(r->q), &r->pc, &er,
                                       &rr->rep);
        if (st != AM_OK)
            return st;
    }
    rr->dt = monotime_s() - t_round;
    if (r->out && (st = record_round(r, rr)) != AM_OK)
        return st;
    r->done = rr->round;
    if (o->stop_after && rr->round == o->stop_after)
        raise(SIGKILL); /* test hook: a crash, nothing flushed */
    return AM_OK;
}

am_status sim_run_finish(sim_run *r)
{
    if (!r->out)
        return AM_OK;
    FILE *f = r->out, *w = r->wall;
    r->out = r->wall = NULL;
    int bad = fclose(f) != 0;
    bad |= fclose(w) != 0;
    if (bad)
        return AM_FAIL(AM_EIO, "%s: %s", r->p_metrics, strerror(errno));
    am_status st = run_dir_finish(r->rd);
    if (st != AM_OK)
        return st;
    if (!r->o->no_plots) {
        const float complex *sym = NULL;
        size_t nsym = 0;
        if (agg_iq_is(&r->agg) && r->r0 < r->o->rounds)
            agg_iq_last_symbols(&r->agg, &sym, &nsym);
        make_plots(r->o->out, r->o, sym, nsym, r->o->rounds);
    }
    return AM_OK;
}

void sim_run_destroy(sim_run *r)
{
    if (!r)
        return;
    if (r->out)
        fclose(r->out);
    if (r->wall)
        fclose(r->wall);
    run_dir_close(r->rd);
    free(r->state);
    fl_agg_destroy(&r->agg);
    fl_personalizer_destroy(r->pers);
    fl_airfl_destroy(r->q);
    fl_model_destroy(r->m);
    fl_task_family_destroy(r->fam);
    free(r);
}
