/* airmeta sweep: a grid of `airmeta sim` runs (SNR x sparsity x agents x g_th x aggregation x
 * seeds) as parallel child processes; one table per run and one over seeds; PNG plots of the
 * convergence-generalisation trade-off (PAPER.md §4, issue 5 item 1). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cli.h"
#include "cmd/commands.h"
#include "core/escape.h"
#include "core/file.h"
#include "util/fsutil.h"
#include "util/monotime.h"
#include "run/plot.h"

extern char **environ;

#define SW_MAX_LIST 64
#define SW_MAX_RUNS 100000u
#define SW_MAX_ARGS 256
#define SW_PATH 4096
#define SW_ERR_POINTS 10 /* error bars per convergence curve */

/* Flags of sim that the sweep sets itself: not allowed after `--`. */
static const char *const sw_owned[] = {"--agg",  "--snr-db", "--sparsity", "--agents",
                                       "--g-th", "--seed",   "--rounds",   "--task",
                                       "--out",  "--quiet",  "--resume"};

/* Per-run figures, in table order. */
enum {
    M_FINAL_TRAIN_LOSS,
    M_TRAIN_LOSS_TAIL,
    M_NEW_LOSS_BEFORE,
    M_NEW_LOSS_AFTER,
    M_NEW_ACC_AFTER,
    M_TRAIN_LOSS_AFTER,
    M_TRAIN_ACC_AFTER,
    M_GAP_LOSS,
    M_GAP_ACC,
    M_AGG_NMSE,
    M_AGG_NMSE_DB,
    M_MEAN_ACTIVE,
    M_D_NEW_LOSS_AFTER, /* paired with the ideal run of the same seed, sparsity and K */
    M_D_GAP_LOSS,
    M_COUNT
};
static const char *const metric_names[M_COUNT] = {"final_train_loss",
                                                  "train_loss_tail",
                                                  "new_loss_before",
                                                  "new_loss_after",
                                                  "new_acc_after",
                                                  "train_loss_after",
                                                  "train_acc_after",
                                                  "gap_loss",
                                                  "gap_acc",
                                                  "agg_nmse",
                                                  "agg_nmse_db",
                                                  "mean_active",
                                                  "new_loss_after_vs_ideal",
                                                  "gap_loss_vs_ideal"};

typedef struct sw_list {
    double v[SW_MAX_LIST];
    unsigned n;
} sw_list;

typedef struct sw_config {
    const char *agg;     /* "ideal" | "stat" | "iq" */
    double snr_db, g_th; /* NaN for ideal (not used by it) */
    double sparsity;
    unsigned agents;
} sw_config;

enum { RUN_PENDING, RUN_RUNNING, RUN_OK, RUN_FAILED, RUN_SKIPPED };

typedef struct sw_run {
    size_t cfg;
    uint64_t seed;
    char name[192];
    char *argv[SW_MAX_ARGS];
    size_t argc;
    char *cmdline; /* shell-quoted */
    pid_t pid;
    double t0;
    int state, exit_code;
    double *loss; /* per-round training loss (rounds values), when read */
    double m[M_COUNT];
} sw_run;

typedef struct sw_opts {
    const char *snr, *sparsity, *agents, *g_th, *agg, *seeds, *task, *out;
    unsigned rounds, jobs;
    int force, no_plots;
    int pass_argc;
    char **pass_argv;
} sw_opts;

/* ---------------------------------------------------------------- flag lists */

static am_status
parse_list(const char *flag, const char *s, double lo, double hi, int integer, sw_list *out)
{
    out->n = 0;
    const char *p = s;
    if (!*p)
        return AM_FAIL(AM_EINVAL, "%s: empty list", flag);
    for (;;) {
        char *end = NULL;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || !isfinite(v))
            return AM_FAIL(AM_EINVAL, "%s: '%s' is not a comma-separated list of numbers", flag, s);
        if (v < lo || v > hi)
            return AM_FAIL(AM_EINVAL, "%s: %g is outside %g..%g", flag, v, lo, hi);
        if (integer && v != floor(v))
            return AM_FAIL(AM_EINVAL, "%s: %g is not a whole number", flag, v);
        for (unsigned i = 0; i < out->n; i++) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%.6g", out->v[i]);
            snprintf(b, sizeof b, "%.6g", v);
            if (strcmp(a, b) == 0)
                return AM_FAIL(AM_EINVAL, "%s: %s appears twice in '%s'", flag, b, s);
        }
        if (out->n >= SW_MAX_LIST)
            return AM_FAIL(AM_EINVAL, "%s: more than %d values", flag, SW_MAX_LIST);
        out->v[out->n++] = v;
        p = end;
        if (*p == '\0')
            break;
        if (*p != ',' || p[1] == '\0')
            return AM_FAIL(AM_EINVAL, "%s: unexpected '%s' in '%s'", flag, p, s);
        p++;
    }
    return AM_OK;
}

static am_status parse_aggs(const char *s, const char **aggs, unsigned *n)
{
    static const char *const names[] = {"ideal", "stat", "iq"};
    *n = 0;
    const char *p = s;
    while (1) {
        size_t len = strcspn(p, ",");
        const char *hit = NULL;
        for (size_t i = 0; i < 3; i++)
            if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
                hit = names[i];
        if (!hit)
            return AM_FAIL(AM_EINVAL,
                           "--agg: '%.*s' is not one of ideal|stat|iq (a list such as "
                           "'stat,ideal')",
                           (int)len, p);
        for (unsigned i = 0; i < *n; i++)
            if (aggs[i] == hit)
                return AM_FAIL(AM_EINVAL, "--agg: %s appears twice in '%s'", hit, s);
        aggs[(*n)++] = hit;
        if (p[len] == '\0')
            break;
        p += len + 1;
        if (*p == '\0')
            return AM_FAIL(AM_EINVAL, "--agg: trailing comma in '%s'", s);
    }
    return AM_OK;
}

/* --seeds N (seeds 1..N) or a list "3,7,11" (a single value is always the count). */
static am_status parse_seeds(const char *s, uint64_t **seeds, unsigned *n)
{
    *seeds = NULL;
    *n = 0;
    if (!strchr(s, ',')) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (!*s || *s == '-' || errno || *end || v < 1 || v > 1000)
            return AM_FAIL(AM_EINVAL,
                           "--seeds: '%s' is neither a count 1..1000 nor a list of "
                           "seeds such as 1,2,3",
                           s);
        *seeds = malloc((size_t)v * sizeof **seeds);
        if (!*seeds)
            return AM_FAIL(AM_ENOMEM, "--seeds: out of memory");
        for (unsigned i = 0; i < v; i++)
            (*seeds)[i] = i + 1;
        *n = (unsigned)v;
        return AM_OK;
    }
    *seeds = malloc(1000 * sizeof **seeds);
    if (!*seeds)
        return AM_FAIL(AM_ENOMEM, "--seeds: out of memory");
    const char *p = s;
    for (;;) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || *p == '-' || *p == '+' || errno || v < 1)
            return AM_FAIL(AM_EINVAL, "--seeds: '%s' is not a list of seeds >= 1", s);
        for (unsigned i = 0; i < *n; i++)
            if ((*seeds)[i] == v)
                return AM_FAIL(AM_EINVAL, "--seeds: %llu appears twice in '%s'", v, s);
        if (*n >= 1000)
            return AM_FAIL(AM_EINVAL, "--seeds: more than 1000 seeds");
        (*seeds)[(*n)++] = v;
        p = end;
        if (*p == '\0')
            break;
        if (*p != ',' || p[1] == '\0')
            return AM_FAIL(AM_EINVAL, "--seeds: unexpected '%s' in '%s'", p, s);
        p++;
    }
    return AM_OK;
}

/* ---------------------------------------------------------------- child command lines */

static void free_run(sw_run *r)
{
    for (size_t i = 0; i < r->argc; i++)
        free(r->argv[i]);
    r->argc = 0;
    free(r->cmdline);
    r->cmdline = NULL;
    free(r->loss);
    r->loss = NULL;
}

static am_status push(sw_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static am_status push(sw_run *r, const char *fmt, ...)
{
    if (r->argc + 1 >= SW_MAX_ARGS)
        return AM_FAIL(AM_EINVAL, "sweep: more than %d arguments for sim", SW_MAX_ARGS - 1);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!s)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->argv[r->argc++] = s;
    r->argv[r->argc] = NULL;
    return AM_OK;
}

/* Shell-quoted command line (for messages, and NAME.cmd to recognise a finished run). */
static am_status make_cmdline(sw_run *r)
{
    size_t cap = 1;
    for (size_t i = 0; i < r->argc; i++)
        cap += 4 * strlen(r->argv[i]) + 3;
    char *s = malloc(cap), *p = s;
    if (!s)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    for (size_t i = 0; i < r->argc; i++) {
        const char *a = r->argv[i];
        if (i)
            *p++ = ' ';
        int plain = *a != '\0';
        for (const char *c = a; *c; c++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/=+:@",
                        *c))
                plain = 0;
        if (plain) {
            strcpy(p, a);
            p += strlen(a);
            continue;
        }
        *p++ = '\'';
        for (const char *c = a; *c; c++) {
            if (*c == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *c;
            }
        }
        *p++ = '\'';
    }
    *p = '\0';
    r->cmdline = s;
    return AM_OK;
}

/* Shortest of %.15g / %.17g that reads back as the same double (0.1 stays "0.1"). */
static const char *fmt_double(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, cap, "%.17g", v);
    return buf;
}

/* sim's arguments for config c and seed; rundir = NULL for a probe run (validation only). */
static am_status build_argv(sw_run *r,
                            const char *self,
                            const sw_opts *o,
                            const sw_config *c,
                            uint64_t seed,
                            const char *rundir)
{
    am_status s = AM_OK;
#define PUSH(...)                                                                                  \
    do {                                                                                           \
        if (s == AM_OK)                                                                            \
            s = push(r, __VA_ARGS__);                                                              \
    } while (0)
    PUSH("%s", self);
    PUSH("sim");
    PUSH("--quiet");
    PUSH("--threads");
    PUSH("1"); /* the sweep's processes are the parallelism; `-- --threads N` overrides */
    PUSH("--task");
    PUSH("%s", o->task);
    PUSH("--rounds");
    PUSH("%u", rundir ? o->rounds : 1u);
    PUSH("--agg");
    PUSH("%s", c->agg);
    PUSH("--agents");
    PUSH("%u", c->agents);
    char num[40];
    PUSH("--sparsity");
    PUSH("%s", fmt_double(c->sparsity, num, sizeof num));
    if (!isnan(c->snr_db)) {
        PUSH("--snr-db");
        PUSH("%s", fmt_double(c->snr_db, num, sizeof num));
        PUSH("--g-th");
        PUSH("%s", fmt_double(c->g_th, num, sizeof num));
    }
    PUSH("--seed");
    PUSH("%" PRIu64, seed);
    if (rundir) { /* sim's run folder; the sweep draws its own plots; one checkpoint, at the end */
        PUSH("--out");
        PUSH("%s", rundir);
        PUSH("--no-plots");
        PUSH("--checkpoint-every");
        PUSH("%u", o->rounds);
    }
    for (int i = 0; i < o->pass_argc; i++)
        PUSH("%s", o->pass_argv[i]);
    if (!rundir) { /* probe: the cheapest run that still builds everything */
        PUSH("--eval-every");
        PUSH("1");
        PUSH("--eval-tasks");
        PUSH("1");
    }
#undef PUSH
    if (s == AM_OK)
        s = make_cmdline(r);
    return s;
}

static void run_name(const sw_config *c, uint64_t seed, char *out, size_t cap)
{
    if (isnan(c->snr_db))
        snprintf(out, cap, "%s_sp%.6g_K%u_seed%" PRIu64, c->agg, c->sparsity, c->agents, seed);
    else
        snprintf(out, cap, "%s_snr%.6g_sp%.6g_K%u_gth%.6g_seed%" PRIu64, c->agg, c->snr_db,
                 c->sparsity, c->agents, c->g_th, seed);
}

static am_status spawn(char *const *argv, const char *errpath, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return AM_FAIL(AM_ENOMEM, "sweep: posix_spawn_file_actions_init failed");
    int e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    /* /proc/self/exe, not argv[0]: the very program that runs the sweep, even if the file at its
     * path is replaced (rebuilt) while the sweep runs */
    if (!e)
        e = posix_spawn(pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return AM_FAIL(AM_EIO, "sweep: cannot start %s: %s", argv[0], strerror(e));
    return AM_OK;
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Last non-blank line of a child's stderr (its error message). */
static void last_line(const char *path, char *msg, size_t cap)
{
    snprintf(msg, cap, "(no message)");
    FILE *f = NULL;
    if (am_fopen_regular(path, "r", &f) != AM_OK)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n)
            snprintf(msg, cap, "%s", line);
    }
    fclose(f);
}

static am_status write_text(const char *path, const char *text)
{
    FILE *f = NULL;
    am_status s = am_fopen_regular(path, "w", &f); /* not through a link, FIFO or device */
    if (s != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    return bad ? AM_FAIL(AM_EIO, "sweep: cannot write %s", path) : AM_OK;
}

/* ---------------------------------------------------------------- reading a run's JSONL */

static double jnum(const cJSON *o, const char *a, const char *b, const char *c)
{
    const char *keys[3] = {a, b, c};
    for (int i = 0; i < 3 && keys[i] && o; i++)
        o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

/* Parses sim's run folder: config.json says `rounds`; metrics.jsonl holds rounds 1..R in order, the
 * last with "eval". Fills r->loss and r->m. AM_EFORMAT with a message naming the file and line
 * when it is not a complete run. */
static am_status read_run(sw_run *r, const char *rundir, unsigned rounds)
{
    char path[SW_PATH + 300];
    snprintf(path, sizeof path, "%s/config.json", rundir);
    char *txt = NULL;
    (void)fs_read_text(path, 1 << 20, &txt); /* a missing or unreadable one: refused below */
    cJSON *cfg = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    double R = jnum(cfg, "flags", "rounds", NULL);
    cJSON_Delete(cfg);
    if (R != rounds)
        return AM_FAIL(AM_EFORMAT, "%s: missing, or not a run of %u rounds", path, rounds);
    snprintf(path, sizeof path, "%s/metrics.jsonl", rundir);
    FILE *f = NULL;
    am_status os = am_fopen_regular(path, "r", &f); /* a FIFO there must not block */
    if (os != AM_OK)
        return os;
    free(r->loss);
    r->loss = malloc((size_t)rounds * sizeof *r->loss);
    if (!r->loss) {
        fclose(f);
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0, got = 0;
    double nmse_sum = 0, act_sum = 0;
    unsigned nmse_n = 0, act_n = 0;
    cJSON *last = NULL;
    am_status s = AM_OK;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        if (!o) {
            s = AM_FAIL(AM_EFORMAT, "%s:%u: not JSON", path, lineno);
            break;
        }
        double rd = jnum(o, "round", NULL, NULL), tl = jnum(o, "train_loss", NULL, NULL);
        if (rd != got + 1 || got >= rounds) {
            cJSON_Delete(o);
            s = AM_FAIL(AM_EFORMAT, "%s:%u: round %g where %u was expected", path, lineno, rd,
                        got + 1);
            break;
        }
        r->loss[got++] = tl;
        double nm = jnum(o, "agg_nmse", NULL, NULL), ac = jnum(o, "mean_active", NULL, NULL);
        if (isfinite(nm)) {
            nmse_sum += nm;
            nmse_n++;
        }
        if (isfinite(ac)) {
            act_sum += ac;
            act_n++;
        }
        cJSON_Delete(last);
        last = o;
    }
    free(line);
    fclose(f);
    if (s == AM_OK && got != rounds)
        s = AM_FAIL(AM_EFORMAT, "%s: %u of %u rounds (incomplete run)", path, got, rounds);
    if (s == AM_OK && !cJSON_GetObjectItemCaseSensitive(last, "eval"))
        s = AM_FAIL(AM_EFORMAT, "%s: the last round has no evaluation", path);
    if (s != AM_OK) {
        cJSON_Delete(last);
        return s;
    }
    double *m = r->m;
    m[M_FINAL_TRAIN_LOSS] = jnum(last, "train_loss", NULL, NULL);
    unsigned tail = rounds / 10 ? rounds / 10 : 1;
    double t = 0;
    for (unsigned i = rounds - tail; i < rounds; i++)
        t += r->loss[i];
    m[M_TRAIN_LOSS_TAIL] = t / tail;
    m[M_NEW_LOSS_BEFORE] = jnum(last, "eval", "new", "loss_before");
    m[M_NEW_LOSS_AFTER] = jnum(last, "eval", "new", "loss_after");
    m[M_NEW_ACC_AFTER] = jnum(last, "eval", "new", "acc_after");
    m[M_TRAIN_LOSS_AFTER] = jnum(last, "eval", "train", "loss_after");
    m[M_TRAIN_ACC_AFTER] = jnum(last, "eval", "train", "acc_after");
    m[M_GAP_LOSS] = jnum(last, "eval", "gap_loss", NULL);
    m[M_GAP_ACC] = jnum(last, "eval", "gap_acc", NULL);
    m[M_AGG_NMSE] = nmse_n ? nmse_sum / nmse_n : NAN;
    m[M_AGG_NMSE_DB] = m[M_AGG_NMSE] > 0 ? 10.0 * log10(m[M_AGG_NMSE]) : NAN;
    m[M_MEAN_ACTIVE] = act_n ? act_sum / act_n : NAN;
    m[M_D_NEW_LOSS_AFTER] = m[M_D_GAP_LOSS] = NAN; /* set by pair_with_ideal */
    cJSON_Delete(last);
    return AM_OK;
}

/* Paired differences: a run minus the ideal run with the same seed, sparsity and K (same agents,
 * tasks and initialisation: only the channel differs), so the agent-draw variance cancels. */
static void pair_with_ideal(const sw_config *cfgs, sw_run *runs, size_t nruns)
{
    for (size_t i = 0; i < nruns; i++) {
        sw_run *r = &runs[i];
        const sw_config *c = &cfgs[r->cfg];
        if (!r->loss || isnan(c->snr_db))
            continue;
        for (size_t j = 0; j < nruns; j++) {
            const sw_run *q = &runs[j];
            const sw_config *d = &cfgs[q->cfg];
            if (!q->loss || !isnan(d->snr_db) || q->seed != r->seed || d->sparsity != c->sparsity ||
                d->agents != c->agents)
                continue;
            r->m[M_D_NEW_LOSS_AFTER] = r->m[M_NEW_LOSS_AFTER] - q->m[M_NEW_LOSS_AFTER];
            r->m[M_D_GAP_LOSS] = r->m[M_GAP_LOSS] - q->m[M_GAP_LOSS];
            break;
        }
    }
}

/* ---------------------------------------------------------------- tables */

typedef struct sw_sum {
    unsigned n[M_COUNT];
    double mean[M_COUNT], se[M_COUNT];
    unsigned seeds; /* runs that finished */
} sw_sum;

static void summarise(const sw_run *runs, size_t nruns, size_t cfg, sw_sum *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < M_COUNT; k++) {
        double s = 0, s2 = 0;
        unsigned n = 0;
        for (size_t i = 0; i < nruns; i++) {
            if (runs[i].cfg != cfg || !runs[i].loss)
                continue;
            double v = runs[i].m[k];
            if (!isfinite(v))
                continue;
            s += v;
            n++;
        }
        double mu = n ? s / n : NAN;
        for (size_t i = 0; i < nruns; i++) {
            if (runs[i].cfg != cfg || !runs[i].loss || !isfinite(runs[i].m[k]))
                continue;
            double d = runs[i].m[k] - mu;
            s2 += d * d;
        }
        out->n[k] = n;
        out->mean[k] = mu;
        out->se[k] = n > 1 ? sqrt(s2 / (n - 1) / n) : NAN; /* standard error of the mean */
    }
    for (size_t i = 0; i < nruns; i++)
        out->seeds += runs[i].cfg == cfg && runs[i].loss;
}

static void csv_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, ",%.17g", v);
    else
        fputs(",", f);
}

static am_status finish_file(FILE *f, const char *path)
{
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    return bad ? AM_FAIL(AM_EIO, "sweep: cannot write %s", path) : AM_OK;
}

static am_status write_json_file(const char *path, cJSON *o)
{
    char *s = o ? cJSON_Print(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory printing %s", path);
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    if (!t) {
        cJSON_free(s);
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    }
    memcpy(t, s, n);
    t[n] = '\n';
    t[n + 1] = '\0';
    cJSON_free(s);
    am_status st = write_text(path, t);
    free(t);
    return st;
}

static void config_json(cJSON *o, const sw_config *c)
{
    cJSON_AddStringToObject(o, "agg", c->agg);
    cJSON_AddNumberToObject(o, "snr_db", c->snr_db); /* NaN (ideal) -> null */
    cJSON_AddNumberToObject(o, "sparsity", c->sparsity);
    cJSON_AddNumberToObject(o, "agents", c->agents);
    cJSON_AddNumberToObject(o, "g_th", c->g_th);
}

static void config_csv(FILE *f, const sw_config *c)
{
    fputs(c->agg, f); /* the grid values as the user wrote them (shortest form) */
    if (isfinite(c->snr_db))
        fprintf(f, ",%.10g", c->snr_db);
    else
        fputs(",", f);
    fprintf(f, ",%.10g,%u", c->sparsity, c->agents);
    if (isfinite(c->g_th))
        fprintf(f, ",%.10g", c->g_th);
    else
        fputs(",", f);
}

static am_status write_tables(const char *dir,
                              const sw_config *cfgs,
                              size_t ncfg,
                              const sw_run *runs,
                              size_t nruns,
                              unsigned rounds)
{
    char path[SW_PATH + 32];
    am_status s;
    /* one row per (config, seed) */
    snprintf(path, sizeof path, "%s/results.csv", dir);
    FILE *f = NULL;
    if ((s = am_fopen_regular(path, "w", &f)) != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    fputs("name,agg,snr_db,sparsity,agents,g_th,seed,rounds", f);
    for (int k = 0; k < M_COUNT; k++)
        fprintf(f, ",%s", metric_names[k]);
    fputc('\n', f);
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < nruns; i++) {
        const sw_run *r = &runs[i];
        if (!r->loss)
            continue;
        fprintf(f, "%s,", r->name);
        config_csv(f, &cfgs[r->cfg]);
        fprintf(f, ",%" PRIu64 ",%u", r->seed, rounds);
        for (int k = 0; k < M_COUNT; k++)
            csv_num(f, r->m[k]);
        fputc('\n', f);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        config_json(o, &cfgs[r->cfg]);
        cJSON_AddNumberToObject(o, "seed", (double)r->seed);
        cJSON_AddNumberToObject(o, "rounds", rounds);
        for (int k = 0; k < M_COUNT; k++)
            cJSON_AddNumberToObject(o, metric_names[k], r->m[k]);
        cJSON_AddItemToArray(rows, o);
    }
    if ((s = finish_file(f, path)) != AM_OK) {
        cJSON_Delete(rows);
        return s;
    }
    snprintf(path, sizeof path, "%s/results.json", dir);
    if ((s = write_json_file(path, rows)) != AM_OK)
        return s;

    /* one row per config: mean and standard error over seeds */
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    if ((s = am_fopen_regular(path, "w", &f)) != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    fputs("agg,snr_db,sparsity,agents,g_th,seeds,rounds", f);
    for (int k = 0; k < M_COUNT; k++)
        fprintf(f, ",%s_mean,%s_se", metric_names[k], metric_names[k]);
    fputc('\n', f);
    rows = cJSON_CreateArray();
    for (size_t c = 0; c < ncfg; c++) {
        sw_sum sm;
        summarise(runs, nruns, c, &sm);
        if (!sm.seeds)
            continue;
        config_csv(f, &cfgs[c]);
        fprintf(f, ",%u,%u", sm.seeds, rounds);
        cJSON *o = cJSON_CreateObject();
        config_json(o, &cfgs[c]);
        cJSON_AddNumberToObject(o, "seeds", sm.seeds);
        cJSON_AddNumberToObject(o, "rounds", rounds);
        for (int k = 0; k < M_COUNT; k++) {
            csv_num(f, sm.mean[k]);
            csv_num(f, sm.se[k]);
            char key[64];
            snprintf(key, sizeof key, "%s_mean", metric_names[k]);
            cJSON_AddNumberToObject(o, key, sm.mean[k]);
            snprintf(key, sizeof key, "%s_se", metric_names[k]);
            cJSON_AddNumberToObject(o, key, sm.se[k]);
        }
        fputc('\n', f);
        cJSON_AddItemToArray(rows, o);
    }
    if ((s = finish_file(f, path)) != AM_OK) {
        cJSON_Delete(rows);
        return s;
    }
    snprintf(path, sizeof path, "%s/summary.json", dir);
    return write_json_file(path, rows);
}

static void
print_summary(FILE *out, const sw_config *cfgs, size_t ncfg, const sw_run *runs, size_t nruns)
{
    int acc = 0, paired = 0;
    for (size_t i = 0; i < nruns; i++) {
        acc |= runs[i].loss && isfinite(runs[i].m[M_NEW_ACC_AFTER]);
        paired |= runs[i].loss && isfinite(runs[i].m[M_D_GAP_LOSS]);
    }
    fprintf(out, "\n%-5s %6s %6s %4s %5s %5s  %-17s %-17s %-17s %-17s %7s%s%s\n", "agg", "snr_dB",
            "spars", "K", "g_th", "seeds", "train_loss_tail", "new_loss_after", "train_loss_after",
            "gap_loss", "nmse_dB", paired ? "  new_loss-ideal    gap-ideal        " : "",
            acc ? "  new_acc_after" : "");
    for (size_t c = 0; c < ncfg; c++) {
        sw_sum sm;
        summarise(runs, nruns, c, &sm);
        if (!sm.seeds)
            continue;
        const sw_config *g = &cfgs[c];
        char snr[16], gth[16];
        snprintf(snr, sizeof snr, isnan(g->snr_db) ? "-" : "%.4g", g->snr_db);
        snprintf(gth, sizeof gth, isnan(g->g_th) ? "-" : "%.4g", g->g_th);
        fprintf(out, "%-5s %6s %6.3g %4u %5s %5u ", g->agg, snr, g->sparsity, g->agents, gth,
                sm.seeds);
        const int ks[4] = {M_TRAIN_LOSS_TAIL, M_NEW_LOSS_AFTER, M_TRAIN_LOSS_AFTER, M_GAP_LOSS};
        for (int j = 0; j < 4; j++) {
            char cell[40];
            snprintf(cell, sizeof cell, "%.4f+-%.4f", sm.mean[ks[j]],
                     isfinite(sm.se[ks[j]]) ? sm.se[ks[j]] : 0.0);
            fprintf(out, " %-17s", cell);
        }
        if (isfinite(sm.mean[M_AGG_NMSE_DB]))
            fprintf(out, " %7.2f", sm.mean[M_AGG_NMSE_DB]);
        else
            fprintf(out, " %7s", "-");
        const int kp[2] = {M_D_NEW_LOSS_AFTER, M_D_GAP_LOSS};
        for (int j = 0; paired && j < 2; j++) {
            char cell[40] = "-";
            if (isfinite(sm.mean[kp[j]]))
                snprintf(cell, sizeof cell, "%+.4f+-%.4f", sm.mean[kp[j]],
                         isfinite(sm.se[kp[j]]) ? sm.se[kp[j]] : 0.0);
            fprintf(out, "  %-17s", cell);
        }
        if (acc)
            fprintf(out, "  %.4f+-%.4f", sm.mean[M_NEW_ACC_AFTER],
                    isfinite(sm.se[M_NEW_ACC_AFTER]) ? sm.se[M_NEW_ACC_AFTER] : 0.0);
        fputc('\n', out);
    }
}

/* ---------------------------------------------------------------- plots */

/* Label of config c naming only the dimensions that vary in the sweep. */
static void
config_label(const sw_config *cfgs, size_t ncfg, size_t c, int with_snr, char *out, size_t cap)
{
    int v_agg = 0, v_sp = 0, v_k = 0, v_g = 0;
    for (size_t i = 0; i < ncfg; i++) {
        v_agg |= cfgs[i].agg != cfgs[0].agg;
        v_sp |= cfgs[i].sparsity != cfgs[0].sparsity;
        v_k |= cfgs[i].agents != cfgs[0].agents;
        if (!isnan(cfgs[i].g_th) && !isnan(cfgs[0].g_th))
            v_g |= cfgs[i].g_th != cfgs[0].g_th;
    }
    const sw_config *g = &cfgs[c];
    size_t n = 0;
    out[0] = '\0';
#define ADD(...) n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, __VA_ARGS__)
    if (isnan(g->snr_db))
        ADD("ideal");
    else {
        if (v_agg || !with_snr)
            ADD("%s", g->agg);
        if (with_snr)
            ADD("%sSNR %g dB", n ? " " : "", g->snr_db);
    }
    if (v_sp)
        ADD(" sparsity %g", g->sparsity);
    if (v_k)
        ADD(" K %u", g->agents);
    if (v_g && !isnan(g->g_th))
        ADD(" g_th %g", g->g_th);
#undef ADD
    if (!out[0])
        snprintf(out, cap, "%s", g->agg);
}

static am_status plot_convergence(const char *path,
                                  const char *title,
                                  const sw_config *cfgs,
                                  size_t ncfg,
                                  const sw_run *runs,
                                  size_t nruns,
                                  unsigned rounds)
{
    /* per config: mean over seeds of the moving average (window rounds/50) of the training
     * loss; error bars (standard error over seeds) at SW_ERR_POINTS rounds */
    const unsigned w = rounds / 50 > 1 ? rounds / 50 : 1;
    double *x = malloc(rounds * sizeof *x);
    double *mean = malloc(ncfg * rounds * sizeof *mean);
    double *sm = malloc(rounds * sizeof *sm), *ex = malloc(ncfg * SW_ERR_POINTS * sizeof *ex);
    double *ey = malloc(ncfg * SW_ERR_POINTS * sizeof *ey);
    double *ee = malloc(ncfg * SW_ERR_POINTS * sizeof *ee);
    double *acc2 = malloc(SW_ERR_POINTS * sizeof *acc2);
    plot_series *se = calloc(2 * ncfg, sizeof *se);
    char(*titles)[160] = calloc(ncfg, sizeof *titles);
    am_status s = AM_OK;
    if (!x || !mean || !sm || !ex || !ey || !ee || !acc2 || !se || !titles) {
        s = AM_FAIL(AM_ENOMEM, "sweep: out of memory (plot)");
        goto out;
    }
    for (unsigned i = 0; i < rounds; i++)
        x[i] = i + 1;
    size_t ns = 0;
    int color = 0;
    for (size_t c = 0; c < ncfg; c++) {
        double *mu = mean + c * rounds;
        unsigned n = 0;
        for (unsigned i = 0; i < rounds; i++)
            mu[i] = 0;
        for (int j = 0; j < SW_ERR_POINTS; j++) {
            ey[c * SW_ERR_POINTS + (size_t)j] = 0;
            acc2[j] = 0;
        }
        /* two passes over the runs: mean, then spread at the error-bar rounds */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t r = 0; r < nruns; r++) {
                if (runs[r].cfg != c || !runs[r].loss)
                    continue;
                const double *L = runs[r].loss;
                /* centred moving average, window shrinking at the ends */
                double acc = 0;
                unsigned lo = 0, hi = 0; /* current window [lo, hi) */
                for (unsigned i = 0; i < rounds; i++) {
                    unsigned a = i >= w / 2 ? i - w / 2 : 0, b = i + w - w / 2;
                    if (b > rounds)
                        b = rounds;
                    while (hi < b)
                        acc += L[hi++];
                    while (lo < a)
                        acc -= L[lo++];
                    sm[i] = acc / (hi - lo);
                }
                if (pass == 0) {
                    for (unsigned i = 0; i < rounds; i++)
                        mu[i] += sm[i];
                    n++;
                } else {
                    for (int j = 0; j < SW_ERR_POINTS; j++) {
                        unsigned i = (unsigned)(((double)j + 0.5) * rounds / SW_ERR_POINTS);
                        double d = sm[i] - mu[i];
                        acc2[j] += d * d;
                    }
                }
            }
            if (pass == 0 && n)
                for (unsigned i = 0; i < rounds; i++)
                    mu[i] /= n;
        }
        if (!n)
            continue;
        color++;
        for (int j = 0; j < SW_ERR_POINTS; j++) {
            unsigned i = (unsigned)(((double)j + 0.5) * rounds / SW_ERR_POINTS);
            ex[c * SW_ERR_POINTS + (size_t)j] = x[i];
            ey[c * SW_ERR_POINTS + (size_t)j] = mu[i];
            ee[c * SW_ERR_POINTS + (size_t)j] = n > 1 ? sqrt(acc2[j] / (n - 1) / n) : 0;
        }
        config_label(cfgs, ncfg, c, 1, titles[c], sizeof titles[c]);
        se[ns++] =
            (plot_series){titles[c], x, mu, NULL, rounds, PLOT_LINES, color, isnan(cfgs[c].snr_db)};
        se[ns++] = (plot_series){NULL,
                                 ex + c * SW_ERR_POINTS,
                                 ey + c * SW_ERR_POINTS,
                                 ee + c * SW_ERR_POINTS,
                                 SW_ERR_POINTS,
                                 PLOT_POINTS,
                                 color,
                                 0};
    }
    char ylab[96];
    snprintf(ylab, sizeof ylab, "training-agent loss (moving average over %u rounds)", w);
    plot_panel p = {
        "convergence: training agents' meta-training loss", "round", ylab, 0, 1, se, ns};
    plot_cfg pc = {900, 560, 0, title, NULL};
    if (ns)
        s = plot_png(path, &pc, &p, 1);
out:
    free(x);
    free(mean);
    free(sm);
    free(ex);
    free(ey);
    free(ee);
    free(acc2);
    free(se);
    free(titles);
    return s;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* New-agent loss (and training-agent loss) after fine-tuning, the generalisation gap, the paired
 * differences with the ideal runs of the same seeds (when the sweep has them) and, for
 * classification, new-agent accuracy, against SNR; one curve per setting of the other dimensions;
 * ideal aggregation as dashed horizontal lines. */
enum { G_NEW, G_TRAIN, G_GAP, G_ACC, G_DNEW, G_DGAP, G_COUNT };

static am_status plot_generalization(const char *path,
                                     const char *title,
                                     const sw_config *cfgs,
                                     size_t ncfg,
                                     const sw_run *runs,
                                     size_t nruns)
{
    static const int gk[G_COUNT] = {M_NEW_LOSS_AFTER, M_TRAIN_LOSS_AFTER, M_GAP_LOSS,
                                    M_NEW_ACC_AFTER,  M_D_NEW_LOSS_AFTER, M_D_GAP_LOSS};
    sw_sum *sums = calloc(ncfg, sizeof *sums);
    double *snrs = malloc(ncfg * sizeof *snrs);
    /* per curve group: x + G_COUNT means + G_COUNT errors; per ideal line 10; zero line 4 */
    double *buf = calloc(ncfg * (2 * G_COUNT + 1) * ncfg + 10 * ncfg + 8, sizeof *buf);
    plot_series *se[4];
    char(*titles)[160] = calloc(2 * ncfg + 4, sizeof *titles); /* two per curve group, one per
                                                                 ideal line, the zero line */
    size_t *group = malloc(ncfg * sizeof *group);
    for (int i = 0; i < 4; i++)
        se[i] = calloc(4 * ncfg + 4, sizeof **se);
    am_status s = AM_OK;
    if (!sums || !snrs || !buf || !titles || !group || !se[0] || !se[1] || !se[2] || !se[3]) {
        s = AM_FAIL(AM_ENOMEM, "sweep: out of memory (plot)");
        goto out;
    }
    size_t nsnr = 0;
    int acc = 0, paired = 0;
    for (size_t c = 0; c < ncfg; c++) {
        summarise(runs, nruns, c, &sums[c]);
        if (!sums[c].seeds)
            continue;
        acc |= isfinite(sums[c].mean[M_NEW_ACC_AFTER]);
        paired |= isfinite(sums[c].mean[M_D_GAP_LOSS]);
        if (isnan(cfgs[c].snr_db))
            continue;
        int seen = 0;
        for (size_t i = 0; i < nsnr; i++)
            seen |= snrs[i] == cfgs[c].snr_db;
        if (!seen)
            snrs[nsnr++] = cfgs[c].snr_db;
    }
    qsort(snrs, nsnr, sizeof *snrs, cmp_double);
    if (nsnr == 0) {
        s = AM_FAIL(AM_ENOTSUP, "no SNR axis (only ideal aggregation)");
        goto out;
    }
    /* groups: configs equal but for the SNR */
    size_t ngroups = 0;
    for (size_t c = 0; c < ncfg; c++) {
        group[c] = (size_t)-1;
        if (isnan(cfgs[c].snr_db))
            continue;
        for (size_t d = 0; d < c; d++)
            if (group[d] != (size_t)-1 && cfgs[d].agg == cfgs[c].agg &&
                cfgs[d].sparsity == cfgs[c].sparsity && cfgs[d].agents == cfgs[c].agents &&
                cfgs[d].g_th == cfgs[c].g_th) {
                group[c] = group[d];
                break;
            }
        if (group[c] == (size_t)-1)
            group[c] = ngroups++;
    }
    size_t n[4] = {0, 0, 0, 0}, used = 0, nt = 0;
    int color = 0;
    for (size_t g = 0; g < ngroups; g++) {
        double *X = buf + used, *Y = X + nsnr, *E = Y + G_COUNT * nsnr;
        used += (2 * G_COUNT + 1) * nsnr;
        size_t rep = 0;
        for (size_t i = 0; i < nsnr; i++) {
            X[i] = snrs[i];
            for (int k = 0; k < G_COUNT; k++)
                Y[(size_t)k * nsnr + i] = E[(size_t)k * nsnr + i] = NAN;
        }
        for (size_t c = 0; c < ncfg; c++) {
            if (group[c] != g)
                continue;
            rep = c;
            size_t i = 0;
            while (snrs[i] != cfgs[c].snr_db)
                i++;
            for (int k = 0; k < G_COUNT; k++) {
                Y[(size_t)k * nsnr + i] = sums[c].mean[gk[k]];
                E[(size_t)k * nsnr + i] = sums[c].se[gk[k]];
            }
        }
        color++;
        char *t0 = titles[nt++], *t1 = titles[nt++], lab[120];
        config_label(cfgs, ncfg, rep, 0, lab, sizeof lab);
        snprintf(t0, 160, "%s (new agents)", lab);
        snprintf(t1, 160, "%s (training agents)", lab);
#define CURVE(k) Y + (size_t)(k)*nsnr, E + (size_t)(k)*nsnr, nsnr, PLOT_LINESPOINTS, color
        se[0][n[0]++] = (plot_series){t0, X, CURVE(G_NEW), 0};
        se[0][n[0]++] = (plot_series){t1, X, CURVE(G_TRAIN), 1};
        se[1][n[1]++] = (plot_series){NULL, X, CURVE(G_GAP), 0};
        se[2][n[2]++] = (plot_series){ngroups > 1 ? lab : "new-agent loss", X, CURVE(G_DNEW), 0};
        se[2][n[2]++] = (plot_series){ngroups > 1 ? NULL : "gap", X, CURVE(G_DGAP), 1};
        se[3][n[3]++] = (plot_series){NULL, X, CURVE(G_ACC), 0};
#undef CURVE
    }
    const double x0 = snrs[0], x1 = snrs[nsnr - 1] > snrs[0] ? snrs[nsnr - 1] : snrs[0] + 1;
    /* ideal aggregation: dashed horizontal lines across the SNR range */
    for (size_t c = 0; c < ncfg; c++) {
        if (!isnan(cfgs[c].snr_db) || !sums[c].seeds)
            continue;
        double *X = buf + used, *Y = X + 2;
        used += 10;
        X[0] = x0;
        X[1] = x1;
        const int ks[4] = {M_NEW_LOSS_AFTER, M_GAP_LOSS, M_NEW_ACC_AFTER, M_TRAIN_LOSS_AFTER};
        for (int k = 0; k < 4; k++)
            Y[2 * k] = Y[2 * k + 1] = sums[c].mean[ks[k]];
        color++;
        char *t = titles[nt++];
        config_label(cfgs, ncfg, c, 0, t, 120);
        snprintf(t + strlen(t), 40, " (new agents)");
        se[0][n[0]++] = (plot_series){t, X, Y, NULL, 2, PLOT_LINES, color, 1};
        se[1][n[1]++] = (plot_series){NULL, X, Y + 2, NULL, 2, PLOT_LINES, color, 1};
        se[3][n[3]++] = (plot_series){NULL, X, Y + 4, NULL, 2, PLOT_LINES, color, 1};
    }
    if (paired) { /* the reference: no difference from ideal */
        double *X = buf + used, *Y = X + 2;
        used += 4;
        X[0] = x0;
        X[1] = x1;
        Y[0] = Y[1] = 0.0;
        se[2][n[2]++] = (plot_series){NULL, X, Y, NULL, 2, PLOT_LINES, ++color, 1};
    }
    plot_panel p[4];
    size_t np = 0;
    p[np++] = (plot_panel){
        "after fine-tuning: query loss", "per-agent SNR (dB)", "loss", 0, 0, se[0], n[0]};
    p[np++] = (plot_panel){"generalisation gap (new - training agents)",
                           "per-agent SNR (dB)",
                           "loss gap",
                           0,
                           0,
                           se[1],
                           n[1]};
    if (paired)
        p[np++] = (plot_panel){"paired: minus the ideal run of the same seed",
                               "per-agent SNR (dB)",
                               "difference",
                               0,
                               0,
                               se[2],
                               n[2]};
    if (acc)
        p[np++] = (plot_panel){"new agents: accuracy after fine-tuning",
                               "per-agent SNR (dB)",
                               "accuracy",
                               0,
                               0,
                               se[3],
                               n[3]};
    plot_cfg pc = {0, 0, np > 2 ? 2u : 0u, title, NULL};
    s = plot_png(path, &pc, p, np);
out:
    free(sums);
    free(snrs);
    free(buf);
    free(titles);
    free(group);
    for (int i = 0; i < 4; i++)
        free(se[i]);
    return s;
}

/* ---------------------------------------------------------------- the command */

/* A run is complete when NAME.cmd holds exactly its command line and its folder NAME/ reads whole
 * (sim writes its run folder in place; NAME.cmd is written only after sim succeeded). */
static int run_complete(sw_run *r, const char *dir, unsigned rounds)
{
    char p[SW_PATH + 256];
    snprintf(p, sizeof p, "%s/runs/%s.cmd", dir, r->name);
    char *cmd = NULL;
    (void)fs_read_text(p, 1 << 20, &cmd); /* none: not complete */
    int same = cmd && strncmp(cmd, r->cmdline, strlen(r->cmdline)) == 0 &&
               strcmp(cmd + strlen(r->cmdline), "\n") == 0;
    free(cmd);
    if (!same)
        return 0;
    snprintf(p, sizeof p, "%s/runs/%s", dir, r->name);
    if (read_run(r, p, rounds) != AM_OK) {
        free(r->loss);
        r->loss = NULL;
        return 0;
    }
    return 1;
}

static am_status start_run(sw_run *r, const char *dir)
{
    char p[SW_PATH + 256];
    snprintf(p, sizeof p, "%s/runs/%s.cmd", dir, r->name);
    unlink(p); /* written again only when the run has finished */
    snprintf(p, sizeof p, "%s/runs/%s.err", dir, r->name);
    r->t0 = monotime_s();
    return spawn(r->argv, p, &r->pid);
}

/* A child exited: read its results, then record its command line (the mark of a complete run). */
static am_status finish_run(sw_run *r, const char *dir, unsigned rounds, int status)
{
    char final[SW_PATH + 256], cmd[SW_PATH + 256], err[SW_PATH + 256];
    snprintf(final, sizeof final, "%s/runs/%s", dir, r->name);
    snprintf(cmd, sizeof cmd, "%s/runs/%s.cmd", dir, r->name);
    snprintf(err, sizeof err, "%s/runs/%s.err", dir, r->name);
    r->exit_code = exit_code_of(status);
    if (r->exit_code != 0) {
        char msg[1024];
        last_line(err, msg, sizeof msg);
        return AM_FAIL(AM_EIO, "exit %d: %s", r->exit_code, msg);
    }
    am_status s = read_run(r, final, rounds);
    if (s != AM_OK)
        return s;
    size_t n = strlen(r->cmdline);
    char *t = malloc(n + 2);
    if (!t)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    memcpy(t, r->cmdline, n);
    t[n] = '\n';
    t[n + 1] = '\0';
    s = write_text(cmd, t);
    free(t);
    if (s == AM_OK)
        unlink(err); /* nothing to keep from a clean run */
    return s;
}

/* One probe per aggregator: sim validates every flag (incl. the pass-through ones) before the
 * grid starts, so a typo is one clear message, not one per run. */
static am_status
probe(const char *self, const sw_opts *o, const sw_config *c, uint64_t seed, int *code)
{
    sw_run r;
    memset(&r, 0, sizeof r);
    char err[SW_PATH + 32];
    snprintf(err, sizeof err, "%s/probe.err", o->out);
    am_status s = build_argv(&r, self, o, c, seed, NULL);
    pid_t pid = 0;
    if (s == AM_OK)
        s = spawn(r.argv, err, &pid);
    if (s == AM_OK) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        *code = exit_code_of(status);
        if (*code != 0) {
            char msg[1024];
            last_line(err, msg, sizeof msg);
            s = AM_FAIL(AM_EINVAL, "sim refuses the configuration (exit %d): %s; command: %s",
                        *code, msg, r.cmdline);
        }
    }
    unlink(err);
    free_run(&r);
    return s;
}

static am_status write_sweep_json(const sw_opts *o, int argc, char **argv, size_t nruns)
{
    cJSON *j = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(j, "argv");
    for (int i = 0; i < argc; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
    cJSON_AddStringToObject(j, "snr_db", o->snr);
    cJSON_AddStringToObject(j, "sparsity", o->sparsity);
    cJSON_AddStringToObject(j, "agents", o->agents);
    cJSON_AddStringToObject(j, "g_th", o->g_th);
    cJSON_AddStringToObject(j, "agg", o->agg);
    cJSON_AddStringToObject(j, "seeds", o->seeds);
    cJSON_AddStringToObject(j, "task", o->task);
    cJSON_AddNumberToObject(j, "rounds", o->rounds);
    cJSON_AddNumberToObject(j, "runs", (double)nruns);
    cJSON_AddStringToObject(j, "version", AM_VERSION);
    char p[SW_PATH + 32];
    snprintf(p, sizeof p, "%s/sweep.json", o->out);
    return write_json_file(p, j);
}

int cmd_sweep(int argc, char **argv)
{
    /* defaults: the README's default sweep (with `-- --heterogeneity 0.9 --new-agents 50`) */
    sw_opts o = {.snr = "-20,-10,0,10,20,30",
                 .sparsity = "1",
                 .agents = "5",
                 .g_th = "0.1",
                 .agg = "stat,ideal",
                 .seeds = "30",
                 .task = "sinusoid",
                 .rounds = 3000};
    const cli_opt opts[] = {
        {"--snr-db", CLI_STR, &o.snr, "per-agent SNRs in dB (default -20,-10,0,10,20,30)", 1, 0,
         NULL},
        {"--sparsity", CLI_STR, &o.sparsity, "fractions of entries sent, list (default 1)", 1, 0,
         NULL},
        {"--agents", CLI_STR, &o.agents, "training agents K, list (default 5)", 1, 0, NULL},
        {"--g-th", CLI_STR, &o.g_th, "truncation thresholds on |h|^2, list (default 0.1)", 1, 0,
         NULL},
        {"--agg", CLI_STR, &o.agg,
         "aggregations, list of ideal|stat|iq (default stat,ideal; ideal runs once per "
         "sparsity/K: SNR and g_th do not apply to it)",
         1, 0, NULL},
        {"--seeds", CLI_STR, &o.seeds, "N (seeds 1..N) or a list of seeds (default 30)", 1, 0,
         NULL},
        {"--rounds", CLI_UINT, &o.rounds, "rounds of every run (default 3000)", 1, 1e7, NULL},
        {"--task", CLI_CHOICE, &o.task, "task family", 0, 0, "sinusoid|fmnist|omniglot"},
        {"--jobs", CLI_UINT, &o.jobs, "runs at once (default: online CPUs)", 1, 256, NULL},
        {"--out", CLI_STR, &o.out, "output folder (required): runs/, tables, plots", 1, 0, NULL},
        {"--force", CLI_FLAG, &o.force, "rerun runs already complete in --out", 0, 0, NULL},
        {"--no-plots", CLI_FLAG, &o.no_plots, "tables only", 0, 0, NULL},
    };
    const cli_cmd cmd = {
        "airmeta sweep",
        "--out DIR [--snr-db LIST] [--sparsity LIST] [--agents LIST] [--g-th LIST] [--agg LIST] "
        "[--seeds N|LIST] [--rounds R] [--task T] [--jobs N] [-- SIM FLAGS...]",
        "Runs `airmeta sim` over the grid agg x SNR x sparsity x agents x g_th x seeds, --jobs\n"
        "processes at a time (each sim single-threaded), every run's JSONL metrics in\n"
        "sim's run folder DIR/runs/NAME/ (metrics.jsonl, config.json). Flags after `--` go to\n"
        "every sim (e.g. `-- --alpha 0.01 --heterogeneity 0.5`); sim checks them once before\n"
        "the grid starts. Runs whose folder is complete for the same command line are not run\n"
        "again (--force reruns them).\n"
        "Writes DIR/results.{csv,json} (one row per run: final and tail-mean training loss,\n"
        "new-agent loss before/after fine-tuning and accuracy, training-agent loss/accuracy\n"
        "after, generalisation gap, mean aggregation NMSE, mean active agents, and the paired\n"
        "differences *_vs_ideal with the ideal run of the same seed, sparsity and K: same agents\n"
        "and tasks, only the channel differs), DIR/summary.{csv,json} (mean and standard error\n"
        "over seeds per configuration), DIR/convergence.png (training loss against rounds per\n"
        "SNR) and DIR/generalization.png (loss after fine-tuning, gap, paired differences and\n"
        "accuracy against SNR, error bars over seeds). Without gnuplot the plots are skipped\n"
        "with a note. The defaults are the README's default sweep (add `-- --heterogeneity 0.9\n"
        "--new-agents 50`).\n\n"
        "exit status: 0 all runs done; 1 some runs failed (reported with their command line;\n"
        "the tables hold the others); 2 bad usage (or sim refused the flags); 4 I/O error.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};

    /* sweep flags before `--`, sim's after */
    int nsw = argc;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            nsw = i;
            break;
        }
    o.pass_argc = nsw < argc ? argc - nsw - 1 : 0;
    o.pass_argv = argv + nsw + (nsw < argc);
    size_t npos = 0;
    am_status s = cli_parse(&cmd, nsw, argv, NULL, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("sweep", s);
    for (int i = 0; i < o.pass_argc; i++)
        for (size_t k = 0; k < sizeof sw_owned / sizeof *sw_owned; k++) {
            size_t n = strlen(sw_owned[k]);
            if (strncmp(o.pass_argv[i], sw_owned[k], n) == 0 &&
                (o.pass_argv[i][n] == '\0' || o.pass_argv[i][n] == '=')) {
                s = AM_FAIL(AM_EINVAL,
                            "%s after `--`: the sweep sets it (give it to the sweep "
                            "before `--`%s)",
                            sw_owned[k], strcmp(sw_owned[k], "--seed") == 0 ? " as --seeds" : "");
                return cli_fail("sweep", s);
            }
        }
    if (!o.out)
        return cli_fail("sweep", AM_FAIL(AM_EINVAL, "--out DIR is required"));
    if (!o.jobs) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        o.jobs = n < 1 ? 1 : (n > 256 ? 256 : (unsigned)n);
    }
    sw_list snr, sp, ag, gth;
    const char *aggs[3];
    unsigned nagg = 0, nseeds = 0;
    uint64_t *seeds = NULL;
    if ((s = parse_list("--snr-db", o.snr, -50, 100, 0, &snr)) != AM_OK ||
        (s = parse_list("--sparsity", o.sparsity, 1e-6, 1, 0, &sp)) != AM_OK ||
        (s = parse_list("--agents", o.agents, 1, 10000, 1, &ag)) != AM_OK ||
        (s = parse_list("--g-th", o.g_th, 0, 20, 0, &gth)) != AM_OK ||
        (s = parse_aggs(o.agg, aggs, &nagg)) != AM_OK ||
        (s = parse_seeds(o.seeds, &seeds, &nseeds)) != AM_OK) {
        free(seeds);
        return cli_fail("sweep", s);
    }

    /* the grid: ideal does not use SNR or g_th, so it runs once per (sparsity, K) */
    size_t ncfg = 0, cap_cfg = 0;
    for (unsigned a = 0; a < nagg; a++)
        cap_cfg += strcmp(aggs[a], "ideal") == 0 ? (size_t)sp.n * ag.n
                                                 : (size_t)snr.n * sp.n * ag.n * gth.n;
    if (cap_cfg * nseeds > SW_MAX_RUNS) {
        free(seeds);
        return cli_fail("sweep", AM_FAIL(AM_EINVAL, "the grid has %zu runs (more than %u)",
                                         cap_cfg * nseeds, SW_MAX_RUNS));
    }
    sw_config *cfgs = calloc(cap_cfg, sizeof *cfgs);
    sw_run *runs = calloc(cap_cfg * nseeds, sizeof *runs);
    if (!cfgs || !runs) {
        free(seeds);
        free(cfgs);
        free(runs);
        return cli_fail("sweep", AM_FAIL(AM_ENOMEM, "sweep: out of memory"));
    }
    for (unsigned a = 0; a < nagg; a++) {
        const int ideal = strcmp(aggs[a], "ideal") == 0;
        for (unsigned i = 0; i < (ideal ? 1 : snr.n); i++)
            for (unsigned j = 0; j < sp.n; j++)
                for (unsigned k = 0; k < ag.n; k++)
                    for (unsigned g = 0; g < (ideal ? 1 : gth.n); g++)
                        cfgs[ncfg++] =
                            (sw_config){aggs[a], ideal ? NAN : snr.v[i], ideal ? NAN : gth.v[g],
                                        sp.v[j], (unsigned)ag.v[k]};
    }
    const size_t nruns = ncfg * nseeds;
    int rc = 0;
    char self[SW_PATH];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        s = AM_FAIL(AM_EIO, "sweep: cannot find the airmeta program (/proc/self/exe): %s",
                    strerror(errno));
        rc = cli_fail("sweep", s);
        goto done;
    }
    self[sl] = '\0';
    char runs_dir[SW_PATH + 16];
    snprintf(runs_dir, sizeof runs_dir, "%s/runs", o.out);
    if ((s = fs_mkdir_p(runs_dir)) != AM_OK) { /* OUT/runs and OUT with its parents */
        rc = cli_fail("sweep", am_error_wrap(s, "--out"));
        goto done;
    }
    for (unsigned a = 0; a < nagg; a++) {
        size_t c = 0;
        while (cfgs[c].agg != aggs[a])
            c++;
        int code = 0;
        if ((s = probe(self, &o, &cfgs[c], seeds[0], &code)) != AM_OK) {
            fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
            rc = code == 2 ? 2 : (code ? code : 2);
            goto done;
        }
    }
    for (size_t c = 0, i = 0; c < ncfg; c++)
        for (unsigned k = 0; k < nseeds; k++, i++) {
            sw_run *r = &runs[i];
            r->cfg = c;
            r->seed = seeds[k];
            run_name(&cfgs[c], seeds[k], r->name, sizeof r->name);
            char rundir[SW_PATH + 256];
            snprintf(rundir, sizeof rundir, "%s/%s", runs_dir, r->name);
            if ((s = build_argv(r, self, &o, &cfgs[c], seeds[k], rundir)) != AM_OK) {
                rc = cli_fail("sweep", s);
                goto done;
            }
        }
    if ((s = write_sweep_json(&o, argc, argv, nruns)) != AM_OK) {
        rc = cli_fail("sweep", s);
        goto done;
    }
    size_t skipped = 0;
    for (size_t i = 0; i < nruns; i++)
        if (!o.force && run_complete(&runs[i], o.out, o.rounds)) {
            runs[i].state = RUN_SKIPPED;
            skipped++;
        }
    printf("airmeta sweep: %zu runs (%zu configurations x %u seeds) of %u rounds, %u at a time, "
           "into %s%s\n",
           nruns, ncfg, nseeds, o.rounds, o.jobs, o.out, skipped ? "" : "");
    if (skipped)
        printf("  %zu runs already complete (same command line): not run again\n", skipped);
    fflush(stdout);

    /* the scheduler */
    size_t next = 0, running = 0, done_n = skipped, failed = 0;
    const double t_start = monotime_s();
    for (;;) {
        while (running < o.jobs && next < nruns) {
            sw_run *r = &runs[next++];
            if (r->state != RUN_PENDING)
                continue;
            if ((s = start_run(r, o.out)) != AM_OK) {
                fprintf(stderr, "airmeta sweep: %s: %s\n", r->name, am_last_error());
                r->state = RUN_FAILED;
                failed++;
                done_n++;
                continue;
            }
            r->state = RUN_RUNNING;
            running++;
        }
        if (!running)
            break;
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            s = AM_FAIL(AM_EIO, "sweep: waitpid: %s", strerror(errno));
            rc = cli_fail("sweep", s);
            goto done;
        }
        sw_run *r = NULL;
        for (size_t i = 0; i < nruns && !r; i++)
            if (runs[i].state == RUN_RUNNING && runs[i].pid == pid)
                r = &runs[i];
        if (!r)
            continue;
        running--;
        done_n++;
        const double dt = monotime_s() - r->t0;
        if ((s = finish_run(r, o.out, o.rounds, status)) != AM_OK) {
            r->state = RUN_FAILED;
            failed++;
            free(r->loss);
            r->loss = NULL;
            fprintf(stderr, "airmeta sweep: run %s failed (%s); command: %s\n", r->name,
                    am_last_error(), AM_ESC(r->cmdline));
            continue;
        }
        r->state = RUN_OK;
        printf("[%zu/%zu] %-40s %6.1f s  loss %.4f  new-agent loss %.4f  gap %+.4f\n", done_n,
               nruns, r->name, dt, r->m[M_TRAIN_LOSS_TAIL], r->m[M_NEW_LOSS_AFTER],
               r->m[M_GAP_LOSS]);
        fflush(stdout);
    }
    const double wall = monotime_s() - t_start;
    pair_with_ideal(cfgs, runs, nruns);

    if ((s = write_tables(o.out, cfgs, ncfg, runs, nruns, o.rounds)) != AM_OK) {
        rc = cli_fail("sweep", s);
        goto done;
    }
    print_summary(stdout, cfgs, ncfg, runs, nruns);
    const char *out_esc = AM_ESC(o.out);
    printf("\ntables: %s/results.{csv,json} (per run), %s/summary.{csv,json} (over seeds); "
           "%.1f s wall\n",
           out_esc, out_esc, wall);
    if (failed < nruns && !o.no_plots) {
        char title[256], p1[SW_PATH + 32], p2[SW_PATH + 32], gp[SW_PATH];
        snprintf(title, sizeof title, "airmeta sweep: %s, %u rounds, %u seeds (mean +- s.e.)",
                 o.task, o.rounds, nseeds);
        snprintf(p1, sizeof p1, "%s/convergence.png", o.out);
        snprintf(p2, sizeof p2, "%s/generalization.png", o.out);
        if (plot_find_gnuplot(gp, sizeof gp) != AM_OK) {
            printf("plots skipped: %s\n", am_last_error());
        } else {
            s = plot_convergence(p1, title, cfgs, ncfg, runs, nruns, o.rounds);
            if (s == AM_OK)
                printf("plot: %s\n", AM_ESC(p1));
            else {
                fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
                rc = am_status_exit_code(s);
            }
            s = plot_generalization(p2, title, cfgs, ncfg, runs, nruns);
            if (s == AM_OK)
                printf("plot: %s\n", AM_ESC(p2));
            else if (s == AM_ENOTSUP)
                printf("plot %s skipped: %s\n", AM_ESC(p2), am_last_error());
            else {
                fprintf(stderr, "airmeta sweep: %s\n", am_last_error());
                rc = am_status_exit_code(s);
            }
        }
    }
    if (failed) {
        fprintf(stderr,
                "airmeta sweep: %zu of %zu runs failed (see above); the tables hold the "
                "other %zu\n",
                failed, nruns, nruns - failed);
        rc = rc ? rc : 1;
    }
done:
    for (size_t i = 0; i < nruns; i++)
        free_run(&runs[i]);
    free(runs);
    free(cfgs);
    free(seeds);
    return rc;
}
