/* host/run/flags: the shared flag groups (contract: run/flags.h). */
#include "run/flags.h"

#include <math.h>
#include <string.h>

#include "phy/cal.h"


void flags_task_defaults(flags_task *o)
{
    *o = (flags_task){.task = "sinusoid", .ways = 5, .heterogeneity = 0.0};
}

void flags_learner_defaults(flags_learner *o)
{
    *o = (flags_learner){.learner = "maml",
                         .optimizer = "adam",
                         .inner_steps = 1,
                         .local_iters = 1,
                         .filters = 32,
                         .alpha = NAN,
                         .beta = NAN,
                         .local_lr = NAN};
}

void flags_air_defaults(flags_air *o)
{
    *o = (flags_air){
        .sparsify = "topk", .eta_rule = "rms", .sparsity = 1.0, .rho = 1.0, .g_th = 0.1};
}

void flags_channel_defaults(flags_channel *o)
{
    *o = (flags_channel){.snr_db = 20.0, .delay_spread = 1.0, .taps = 4};
}

void flags_eval_defaults(flags_eval *o)
{
    *o = (flags_eval){.new_agents = 10, .eval_alpha = NAN};
}

#define PUT(...) (t[n++] = (cli_opt){__VA_ARGS__})

size_t flags_task_table(flags_task *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--task", CLI_CHOICE, &o->task, "task family", 0, 0, "sinusoid|fmnist|omniglot");
    PUT("--data-dir", CLI_STR, &o->data_dir,
        "fmnist: IDX folder (default " FL_FMNIST_DEFAULT_DIR "); omniglot: folder with "
        "images_background/ and images_evaluation/ (on this host)",
        1, 0, NULL);
    PUT("--ways", CLI_UINT, &o->ways, "N of N-way (images)", 2, 100, NULL);
    PUT("--shots", CLI_UINT, &o->shots, "support samples (per class for images)", 1, 1000, NULL);
    PUT("--query", CLI_UINT, &o->query, "query samples (per class for images)", 1, 1000, NULL);
    PUT("--heterogeneity", CLI_DOUBLE, &o->heterogeneity, "agents' task-distribution spread", 0,
        1, NULL);
    PUT("--pool", CLI_UINT, &o->pool,
        "finite data: each training agent owns N tasks drawn once from the seed and trains on "
        "them only (0 = a fresh task every draw); new agents get fresh tasks",
        0, 1000000, NULL);
    return n;
}

size_t flags_learner_table(flags_learner *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--learner", CLI_CHOICE, &o->learner, "meta-learner", 0, 0,
        "maml|fomaml|reptile|perfedavg-fo|perfedavg-hf");
    PUT("--inner-steps", CLI_UINT, &o->inner_steps, "inner adaptation steps", 1, 100, NULL);
    PUT("--alpha", CLI_DOUBLE, &o->alpha, "inner step size (default 0.01 sinusoid, 0.1 images)",
        1e-8, 100, NULL);
    PUT("--beta", CLI_DOUBLE, &o->beta, "outer step size (default 3e-3 sinusoid, 2e-3 images)",
        1e-10, 100, NULL);
    PUT("--optimizer", CLI_CHOICE, &o->optimizer, "server optimiser", 0, 0, "sgd|adam");
    PUT("--clip", CLI_DOUBLE, &o->clip,
        "server: clip the aggregated update to this L2 norm before the step (0 = off)", 0, 1e6,
        NULL);
    PUT("--tasks-per-agent", CLI_UINT, &o->tasks_per_agent,
        "tasks per agent per local iteration (default 5 sinusoid, 1 images)", 1, 10000, NULL);
    PUT("--local-iters", CLI_UINT, &o->local_iters, "local iterations per round", 1, 1000, NULL);
    PUT("--local-lr", CLI_DOUBLE, &o->local_lr, "step of the local iterations (default beta)",
        1e-10, 100, NULL);
    PUT("--filters", CLI_UINT, &o->filters, "CNN filters per block (images)", 1, 256, NULL);
    return n;
}

size_t flags_air_table(flags_air *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--g-th", CLI_DOUBLE, &o->g_th, "truncation threshold on |h|^2 (docs/air-interface.md §4)",
        0, 20, NULL);
    PUT("--rho", CLI_DOUBLE, &o->rho, "transmit power factor (docs/air-interface.md §4)", 1e-6, 1e6,
        NULL);
    PUT("--eta-rule", CLI_CHOICE, &o->eta_rule,
        "payload scale: rms = mean power per bin <= 1, peak = every |c| <= 1", 0, 0, "rms|peak");
    PUT("--sparsity", CLI_DOUBLE, &o->sparsity, "fraction of entries sent (1 = all)", 1e-6, 1,
        NULL);
    PUT("--sparsify", CLI_CHOICE, &o->sparsify, "which entries are sent", 0, 0, "topk|randk|none");
    PUT("--no-memory", CLI_FLAG, &o->no_memory, "disable the agents' error-feedback memory", 0, 0,
        NULL);
    return n;
}

size_t flags_channel_table(flags_channel *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--snr-db", CLI_DOUBLE, &o->snr_db, "per-agent SNR rho/N0 in dB (docs/air-interface.md §5)",
        -50, 100, NULL);
    PUT("--taps", CLI_UINT, &o->taps, "Rayleigh multipath taps per agent (1 = flat)", 1, 2048,
        NULL);
    PUT("--delay-spread", CLI_DOUBLE, &o->delay_spread, "rms delay spread, samples", 0.01, 1000,
        NULL);
    return n;
}

size_t flags_eval_table(flags_eval *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--new-agents", CLI_UINT, &o->new_agents, "new agents (evaluation only)", 1, 10000, NULL);
    PUT("--eval-every", CLI_UINT, &o->eval_every, "evaluate every N rounds (default rounds/4)", 1,
        1e7, NULL);
    PUT("--eval-tasks", CLI_UINT, &o->eval_tasks,
        "tasks per agent set at evaluation (default 600 sinusoid, 100 images)", 1, 100000, NULL);
    PUT("--eval-steps", CLI_UINT, &o->eval_steps, "fine-tuning steps (default --inner-steps)", 1,
        1000, NULL);
    PUT("--eval-alpha", CLI_DOUBLE, &o->eval_alpha, "fine-tuning step size (default --alpha)",
        1e-8, 100, NULL);
    return n;
}

size_t flags_mapping_table(const char **mapping, cli_opt *t)
{
    size_t n = 0;
    PUT("--mapping", CLI_CHOICE, mapping,
        "payload mapping (docs/air-interface.md §3.3): complex = two reals per bin; real = one "
        "real per bin, the receiver keeps Re: tolerant of phase error, twice the air time",
        0, 0, "complex|real");
    return n;
}

void flags_probes_defaults(flags_probes *o)
{
    *o = (flags_probes){.probes = PHY_CAL_PROBES, .excess = 0.0f};
}

size_t flags_probes_table(flags_probes *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--probes", CLI_UINT, &o->probes,
        "with calibration: calibration probes per join, at most (docs/air-interface.md §8.5; "
        "default 2; 0: none, the first round precoded uncorrected)",
        0, PHY_CAL_PROBES_MAX, NULL);
    PUT("--probe-excess", CLI_FLOAT, &o->excess,
        "with calibration: the probe count from what the probes measure (docs/air-interface.md "
        "§8.5 step 5): from the second probe on, no more after a probe whose excess over its "
        "noise (about 2 once calibrated) is at most X, at most --probes; 0 (default): --probes "
        "probes. Measured with 3 and --probes 4: b210-free radios' first round 1 dB nearer the floor "
        "for 1.9 more probes, others near 2 (docs/impairments.md \"How many probes\")",
        0, 1000, NULL);
    return n;
}

am_status flags_probes_check(const flags_probes *o)
{
    if (o->excess > 0.0f && o->probes < 2)
        return AM_FAIL(AM_EINVAL, "--probe-excess %g needs --probes 2 or more (the rule decides "
                                  "from the second probe on; --probes %u)",
                       (double)o->excess, o->probes);
    return AM_OK;
}

int flags_probes_set(const flags_probes *o)
{
    return o->probes != PHY_CAL_PROBES || o->excess != 0.0f;
}

int flags_probes_is(const char *name)
{
    return !strcmp(name, "--probes") || !strcmp(name, "--probe-excess");
}

int flags_probes_at_default(const cli_opt *op)
{
    if (!strcmp(op->name, "--probes"))
        return *(const unsigned *)op->dst == PHY_CAL_PROBES;
    return !strcmp(op->name, "--probe-excess") && *(const float *)op->dst == 0.0f;
}

size_t flags_radio_table(flags_radio *o, cli_opt *t, const char *choices, const char *help)
{
    size_t n = 0;
    PUT("--radio", CLI_CHOICE, &o->name, help, 0, 0, choices);
    PUT("--radio-args", CLI_STR, &o->args,
        "key=value,... for --radio (`airmeta radio probe --radio NAME --help`), e.g. uhd: "
        "type=b200,freq=2.45e9,clock=external,time=external,sync=pps",
        1, 0, NULL);
    return n;
}

void flags_learning_resolve(fl_task_kind kind, flags_task *t, flags_learner *l, flags_eval *ev)
{
    const int sin = kind == FL_TASK_SINUSOID;
    if (!l->tasks_per_agent)
        l->tasks_per_agent = sin ? 5 : 1;
    if (!t->shots)
        t->shots = sin ? 10 : (kind == FL_TASK_FMNIST ? 5 : 1);
    if (!t->query)
        t->query = sin ? 10 : 5;
    if (isnan(l->alpha))
        l->alpha = sin ? 0.01 : 0.1;
    if (isnan(l->beta))
        l->beta = sin ? 3e-3 : 2e-3;
    if (isnan(l->local_lr))
        l->local_lr = l->beta;
    if (kind == FL_TASK_FMNIST && !t->data_dir)
        t->data_dir = FL_FMNIST_DEFAULT_DIR;
    if (!ev)
        return;
    if (isnan(ev->eval_alpha))
        ev->eval_alpha = l->alpha;
    if (!ev->eval_steps)
        ev->eval_steps = l->inner_steps;
    if (!ev->eval_tasks)
        ev->eval_tasks = sin ? 600 : 100;
}
