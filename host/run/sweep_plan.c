/* host/run/sweep_plan: grid -> jobs (sim command lines, run folder names), job lists. */
#include "run/sweep_plan.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "run/sim.h"
#include "util/fsutil.h"
#include "util/cli.h"

/* Flags of sim that the sweep sets itself: not allowed after `--`. */
static const char *const sweep_owned[] = {"--agg",  "--snr-db", "--sparsity", "--agents",
                                          "--g-th", "--seed",   "--rounds",   "--task",
                                          "--out",  "--quiet",  "--resume",   "--continue"};

/* ---------------------------------------------------------------- flag lists */

static am_status parse_list(const char *flag,
                            const char *s,
                            double lo,
                            double hi,
                            int integer,
                            double *v_out,
                            unsigned *n_out)
{
    unsigned n = 0;
    const char *p = s;
    *n_out = 0;
    if (!*p)
        return AM_FAIL(AM_EINVAL, "%s: empty list", flag);
    for (;;) {
        char *end = NULL;
        errno = 0;
        double v = strtod(p, &end);
        /* decimal only, as every number flag (issue 12: 0x10 was 16, ' 5' was 5) */
        if (end == p || errno || !isfinite(v) || strspn(p, "0123456789+-.eE") < (size_t)(end - p))
            return AM_FAIL(AM_EINVAL, "%s: '%s' is not a comma-separated list of numbers", flag, s);
        if (v < lo || v > hi)
            return AM_FAIL(AM_EINVAL, "%s: %s is outside %s..%s", flag, CLI_NUM(v), CLI_NUM(lo),
                           CLI_NUM(hi));
        if (integer && v != floor(v))
            return AM_FAIL(AM_EINVAL, "%s: %s is not a whole number", flag, CLI_NUM(v));
        for (unsigned i = 0; i < n; i++) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%.6g", v_out[i]);
            snprintf(b, sizeof b, "%.6g", v);
            if (strcmp(a, b) == 0)
                return AM_FAIL(AM_EINVAL, "%s: %s appears twice in '%s'", flag, b, s);
        }
        if (n >= SWEEP_MAX_LIST)
            return AM_FAIL(AM_EINVAL, "%s: more than %d values", flag, SWEEP_MAX_LIST);
        v_out[n++] = v;
        *n_out = n;
        p = end;
        if (*p == '\0')
            break;
        if (*p != ',' || p[1] == '\0')
            return AM_FAIL(AM_EINVAL, "%s: unexpected '%s' in '%s'", flag, p, s);
        p++;
    }
    return AM_OK;
}

static const char *const agg_names[] = {"ideal", "stat", "iq"}; /* compared as pointers */

static am_status parse_aggs(const char *s, const char **aggs, unsigned *n)
{
    const char *const *names = agg_names;
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

am_status sweep_plan_check_pass(int argc, char *const *argv)
{
    for (int i = 0; i < argc; i++) /* sim would print its help and run nothing */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return AM_FAIL(AM_EINVAL, "%s after `--`: not a flag of the runs (airmeta sim --help "
                                      "lists them)", argv[i]);
    for (int i = 0; i < argc; i++)
        for (size_t k = 0; k < sizeof sweep_owned / sizeof *sweep_owned; k++) {
            size_t n = strlen(sweep_owned[k]);
            if (strncmp(argv[i], sweep_owned[k], n) == 0 &&
                (argv[i][n] == '\0' || argv[i][n] == '='))
                return AM_FAIL(AM_EINVAL,
                               "%s after `--`: the sweep sets it (give it to the sweep "
                               "before `--`%s)",
                               sweep_owned[k],
                               strcmp(sweep_owned[k], "--seed") == 0 ? " as --seeds" : "");
        }
    return AM_OK;
}

/* ---------------------------------------------------------------- the grid */

static void run_name(const sweep_point *c, uint64_t seed, char *out, size_t cap)
{
    if (!isnan(c->beta))
        snprintf(out, cap, "%s_sp%.6g_K%u_beta%.6g_seed%" PRIu64, c->agg, c->sparsity, c->agents,
                 c->beta, seed);
    else if (isnan(c->snr_db))
        snprintf(out, cap, "%s_sp%.6g_K%u_seed%" PRIu64, c->agg, c->sparsity, c->agents, seed);
    else
        snprintf(out, cap, "%s_snr%.6g_sp%.6g_K%u_gth%.6g_seed%" PRIu64, c->agg, c->snr_db,
                 c->sparsity, c->agents, c->g_th, seed);
}

typedef struct grid_lists {
    double snr[SWEEP_MAX_LIST], sp[SWEEP_MAX_LIST], ag[SWEEP_MAX_LIST], gth[SWEEP_MAX_LIST],
        beta[SWEEP_MAX_LIST];
    unsigned nsnr, nsp, nag, ngth, nbeta;
} grid_lists;

static am_status parse_spec(const sweep_spec *spec, sweep_plan *p, grid_lists *l)
{
    am_status s;
    if ((s = sweep_plan_check_pass(spec->pass_argc, spec->pass_argv)) != AM_OK ||
        (s = parse_list("--snr-db", spec->snr, -50, 100, 0, l->snr, &l->nsnr)) != AM_OK ||
        (s = parse_list("--sparsity", spec->sparsity, 1e-6, 1, 0, l->sp, &l->nsp)) != AM_OK ||
        (s = parse_list("--agents", spec->agents, 1, 10000, 1, l->ag, &l->nag)) != AM_OK ||
        (s = parse_list("--g-th", spec->g_th, 0, 20, 0, l->gth, &l->ngth)) != AM_OK ||
        (s = parse_aggs(spec->agg, p->aggs, &p->naggs)) != AM_OK ||
        (s = parse_seeds(spec->seeds, &p->seeds, &p->nseeds)) != AM_OK)
        return s;
    l->nbeta = 0;
    if (spec->baseline_beta && (s = parse_list("--baseline-beta", spec->baseline_beta, 1e-10, 100,
                                               0, l->beta, &l->nbeta)) != AM_OK)
        return s;
    return AM_OK;
}

static am_status build_grid(sweep_plan *p, const grid_lists *l)
{
    size_t cap = 0;
    for (unsigned a = 0; a < p->naggs; a++)
        cap += strcmp(p->aggs[a], "ideal") == 0 ? (size_t)l->nsp * l->nag
                                                : (size_t)l->nsnr * l->nsp * l->nag * l->ngth;
    cap += (size_t)l->nbeta * l->nsp * l->nag;
    if (cap * p->nseeds > SWEEP_MAX_RUNS)
        return AM_FAIL(AM_EINVAL, "the grid has %zu runs (more than %u)", cap * p->nseeds,
                       SWEEP_MAX_RUNS);
    p->points = calloc(cap, sizeof *p->points);
    p->jobs = calloc(cap * p->nseeds, sizeof *p->jobs);
    if (!p->points || !p->jobs)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    for (unsigned a = 0; a < p->naggs; a++) {
        const int ideal = strcmp(p->aggs[a], "ideal") == 0;
        for (unsigned i = 0; i < (ideal ? 1 : l->nsnr); i++)
            for (unsigned j = 0; j < l->nsp; j++)
                for (unsigned k = 0; k < l->nag; k++)
                    for (unsigned g = 0; g < (ideal ? 1 : l->ngth); g++)
                        p->points[p->npoints++] = (sweep_point){
                            p->aggs[a], ideal ? NAN : l->snr[i], ideal ? NAN : l->gth[g],
                            l->sp[j],   (unsigned)l->ag[k],      NAN};
    }
    for (unsigned b = 0; b < l->nbeta; b++) /* the controls: the ideal channel at smaller steps */
        for (unsigned j = 0; j < l->nsp; j++)
            for (unsigned k = 0; k < l->nag; k++)
                p->points[p->npoints++] =
                    (sweep_point){agg_names[0], NAN, NAN, l->sp[j], (unsigned)l->ag[k], l->beta[b]};
    for (size_t c = 0; c < p->npoints; c++)
        for (unsigned k = 0; k < p->nseeds; k++) {
            sweep_job *r = &p->jobs[p->njobs++];
            r->point = c;
            r->seed = p->seeds[k];
            run_name(&p->points[c], r->seed, r->name, sizeof r->name);
        }
    return AM_OK;
}

am_status sweep_plan_create(const sweep_spec *spec, sweep_plan **out)
{
    *out = NULL;
    sweep_plan *p = calloc(1, sizeof *p);
    if (!p)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    grid_lists l;
    am_status s = parse_spec(spec, p, &l);
    if (s == AM_OK)
        s = build_grid(p, &l);
    p->rounds = spec->rounds;
    p->task = strdup(spec->task);
    p->pass_argv = calloc((size_t)spec->pass_argc + 1, sizeof *p->pass_argv);
    if (s == AM_OK && (!p->task || !p->pass_argv))
        s = AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    for (int i = 0; s == AM_OK && i < spec->pass_argc; i++) {
        if (!(p->pass_argv[i] = strdup(spec->pass_argv[i])))
            s = AM_FAIL(AM_ENOMEM, "sweep: out of memory");
        p->pass_argc = i + 1;
    }
    if (s != AM_OK) {
        sweep_plan_destroy(p);
        return s;
    }
    *out = p;
    return AM_OK;
}

void sweep_plan_destroy(sweep_plan *p)
{
    if (!p)
        return;
    for (int i = 0; p->pass_argv && i < p->pass_argc; i++)
        free(p->pass_argv[i]);
    free(p->pass_argv);
    free(p->task);
    free(p->points);
    free(p->seeds);
    free(p->jobs);
    free(p);
}

/* ---------------------------------------------------------------- sim command lines */

void sweep_argv_free(sweep_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
    a->v[0] = NULL;
    free(a->cmdline);
    a->cmdline = NULL;
}

static am_status push(sweep_argv *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static am_status push(sweep_argv *r, const char *fmt, ...)
{
    if (r->n + 1 >= SWEEP_MAX_ARGS)
        return AM_FAIL(AM_EINVAL, "sweep: more than %d arguments for sim", SWEEP_MAX_ARGS - 1);
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
    r->v[r->n++] = s;
    r->v[r->n] = NULL;
    return AM_OK;
}

/* Shell-quoted words v[from..n) separated by spaces (malloc'ed). */
static char *quote_words(char *const *v, size_t from, size_t n)
{
    size_t cap = 1;
    for (size_t i = from; i < n; i++)
        cap += 4 * strlen(v[i]) + 3;
    char *s = malloc(cap), *p = s;
    if (!s)
        return NULL;
    for (size_t i = from; i < n; i++) {
        const char *a = v[i];
        if (i > from)
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
    return s;
}

char *sweep_shell_quote(const char *word)
{
    char *v[1] = {(char *)word};
    return quote_words(v, 0, 1);
}

/* Shortest of %.15g / %.17g that reads back as the same double (0.1 stays "0.1"). */
static const char *fmt_double(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, cap, "%.17g", v);
    return buf;
}

am_status sweep_plan_argv(const sweep_plan *p,
                          size_t j,
                          const char *self,
                          const char *rundir,
                          unsigned flags,
                          sweep_argv *r)
{
    memset(r, 0, sizeof *r);
    const sweep_point *c = &p->points[p->jobs[j].point];
    const int probe = (flags & SWEEP_ARGV_PROBE) != 0;
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
    PUSH("%s", p->task);
    PUSH("--rounds");
    PUSH("%u", probe ? 1u : p->rounds);
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
    PUSH("%" PRIu64, p->jobs[j].seed);
    if (!probe) { /* sim's run folder; the sweep draws its own plots; one checkpoint, at the end */
        PUSH("--out");
        PUSH("%s", rundir);
        PUSH("--no-plots");
        PUSH("--checkpoint-every");
        PUSH("%u", p->rounds);
    }
    for (int i = 0; i < p->pass_argc; i++)
        PUSH("%s", p->pass_argv[i]);
    if (!isnan(c->beta)) { /* a --baseline-beta control: sim takes the last --beta given */
        PUSH("--beta");
        PUSH("%s", fmt_double(c->beta, num, sizeof num));
    }
    if (probe) { /* the cheapest run that still builds everything */
        PUSH("--eval-every");
        PUSH("1");
        PUSH("--eval-tasks");
        PUSH("1");
    }
    if (!probe && (flags & SWEEP_ARGV_CONTINUE))
        PUSH("--continue");
#undef PUSH
    if (s == AM_OK && !(r->cmdline = quote_words(r->v, 0, r->n)))
        s = AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    if (s != AM_OK)
        sweep_argv_free(r);
    return s;
}

size_t sweep_plan_first_job(const sweep_plan *p, unsigned a)
{
    size_t j = 0;
    while (p->points[p->jobs[j].point].agg != p->aggs[a])
        j++;
    return j;
}

am_status sweep_plan_check_sim(const sweep_plan *p)
{
    for (unsigned a = 0; a < p->naggs; a++) { /* the flags sim takes depend on --agg */
        sweep_argv v;
        am_status s =
            sweep_plan_argv(p, sweep_plan_first_job(p, a), "airmeta", NULL, SWEEP_ARGV_PROBE, &v);
        if (s != AM_OK)
            return s;
        sim_config c;
        s = sim_config_parse(&c, (int)v.n - 1, v.v + 1, "");
        sim_config_free(&c);
        sweep_argv_free(&v);
        if (s != AM_OK)
            return am_error_wrap(s, "sim's flags after `--`");
    }
    return AM_OK;
}

/* ---------------------------------------------------------------- files */

am_status sweep_write_text(const char *path, const char *text)
{
    FILE *f = NULL;
    am_status s = am_fopen_regular(path, "w", &f); /* not through a link, FIFO or device */
    if (s != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    return bad ? AM_FAIL(AM_EIO, "sweep: cannot write %s", path) : AM_OK;
}

/* "${AIRMETA:-self}" with self escaped for double quotes. */
static am_status program_word(const char *self, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "\"${AIRMETA:-");
    for (const char *c = self; *c; c++) {
        if (n + 3 >= cap)
            return AM_FAIL(AM_EINVAL, "sweep: program path too long: %s", self);
        if (strchr("\"\\$`", *c))
            out[n++] = '\\';
        out[n++] = *c;
    }
    if (n + 3 >= cap)
        return AM_FAIL(AM_EINVAL, "sweep: program path too long: %s", self);
    memcpy(out + n, "}\"", 3);
    return AM_OK;
}

static am_status write_job_lines(const sweep_plan *p, const char *self, const char *dir, FILE *f)
{
    char prog[SWEEP_PATH + 32], rundir[SWEEP_PATH + 256];
    am_status s = program_word(self, prog, sizeof prog);
    for (size_t j = 0; s == AM_OK && j < p->njobs; j++) {
        snprintf(rundir, sizeof rundir, "%s/runs/%s", dir, p->jobs[j].name);
        sweep_argv a;
        if ((s = sweep_plan_argv(p, j, self, rundir, SWEEP_ARGV_CONTINUE, &a)) != AM_OK)
            break;
        char *rest = quote_words(a.v, 1, a.n);
        if (!rest)
            s = AM_FAIL(AM_ENOMEM, "sweep: out of memory");
        else
            fprintf(f, "%s %s\n", prog, rest);
        free(rest);
        sweep_argv_free(&a);
    }
    return s;
}

static am_status finish_file(FILE *f, const char *path)
{
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    return bad ? AM_FAIL(AM_EIO, "sweep: cannot write %s", path) : AM_OK;
}

/* Slurm's array index picks the line; `sbatch --array=...` on the command line overrides the
 * range (and $AIRMETA_LINE_OFFSET shifts it, for grids larger than the cluster's MaxArraySize).
 * #SBATCH lines are not shell: dir is written as it is (checked to need no quoting). */
static am_status write_sbatch(const sweep_plan *p, const char *dir)
{
    for (const char *c = dir; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,/+:@", *c))
            return AM_FAIL(AM_EINVAL,
                           "--slurm: the plan folder %s has a character ('%c') that the sbatch "
                           "script cannot hold unquoted; use a plainer path",
                           dir, *c);
    char path[SWEEP_PATH + 32];
    snprintf(path, sizeof path, "%s/slurm", dir);
    am_status s = fs_mkdir_p(path);
    if (s != AM_OK)
        return s;
    snprintf(path, sizeof path, "%s/sweep.sbatch", dir);
    FILE *f = NULL;
    if ((s = am_fopen_regular(path, "w", &f)) != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    fprintf(
        f,
        "#!/bin/bash\n"
        "# airmeta sweep: %zu sim runs as a Slurm array; task i runs line i of jobs.txt.\n"
        "# Submit: sbatch [--partition=P --time=T ...] %s/sweep.sbatch\n"
        "# then: airmeta sweep --collect %s\n"
        "#SBATCH --job-name=airmeta-sweep\n"
        "#SBATCH --array=1-%zu\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --cpus-per-task=1\n"
        "#SBATCH --output=%s/slurm/%%A_%%a.out\n"
        "set -eu\n"
        "i=$((SLURM_ARRAY_TASK_ID + ${AIRMETA_LINE_OFFSET:-0}))\n"
        "line=$(sed -n \"${i}p\" %s/jobs.txt)\n"
        "[ -n \"$line\" ] || { echo \"airmeta sweep: no line $i in %s/jobs.txt\" >&2; exit 2; }\n"
        "exec bash -c \"$line\"\n",
        p->njobs, dir, dir, p->njobs, dir, dir, dir);
    return finish_file(f, path);
}

am_status sweep_plan_write_jobs(const sweep_plan *p, const char *self, const char *dir, int slurm)
{
    if (dir[0] != '/')
        return AM_FAIL(AM_EINVAL, "sweep: the plan folder must be an absolute path: %s", dir);
    char path[SWEEP_PATH + 32];
    snprintf(path, sizeof path, "%s/jobs.txt", dir);
    FILE *f = NULL;
    am_status s = am_fopen_regular(path, "w", &f);
    if (s != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    s = write_job_lines(p, self, dir, f);
    am_status s2 = finish_file(f, path);
    if (s == AM_OK)
        s = s2;
    if (s == AM_OK && slurm)
        s = write_sbatch(p, dir);
    return s;
}

am_status sweep_write_json(const char *path, cJSON *o)
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
    am_status st = sweep_write_text(path, t);
    free(t);
    return st;
}

am_status sweep_plan_write_json(const sweep_spec *o,
                                int argc,
                                char *const *argv,
                                size_t nruns,
                                const char *version,
                                const char *dir)
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
    if (o->baseline_beta)
        cJSON_AddStringToObject(j, "baseline_beta", o->baseline_beta);
    cJSON_AddNumberToObject(j, "rounds", o->rounds);
    cJSON_AddNumberToObject(j, "runs", (double)nruns);
    cJSON_AddStringToObject(j, "version", version);
    char p[SWEEP_PATH + 32];
    snprintf(p, sizeof p, "%s/sweep.json", dir);
    return sweep_write_json(p, j);
}

void sweep_json_argv_free(int argc, char **argv)
{
    for (int i = 0; argv && i < argc; i++)
        free(argv[i]);
    free(argv);
}

am_status sweep_plan_read_argv(const char *dir, int *argc, char ***argv)
{
    *argc = 0;
    *argv = NULL;
    char path[SWEEP_PATH + 32];
    if (!dir || !dir[0]) /* "" + "/sweep.json": the root folder's */
        return AM_FAIL(AM_EINVAL, "empty folder name");
    snprintf(path, sizeof path, "%s/sweep.json", dir);
    char *txt = NULL;
    am_status s = fs_read_text(path, 1 << 20, &txt);
    if (s != AM_OK)
        return s;
    cJSON *j = cJSON_Parse(txt);
    free(txt);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "argv");
    int n = cJSON_GetArraySize(a);
    if (!cJSON_IsArray(a) || n < 1 || n > 4 * SWEEP_MAX_ARGS) {
        cJSON_Delete(j);
        return AM_FAIL(AM_EFORMAT, "%s: not a sweep's description (no \"argv\" list)", path);
    }
    char **v = calloc((size_t)n + 1, sizeof *v);
    s = v ? AM_OK : AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    for (int i = 0; s == AM_OK && i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsString(e))
            s = AM_FAIL(AM_EFORMAT, "%s: argv[%d] is not a string", path, i);
        else if (!(v[i] = strdup(e->valuestring)))
            s = AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    }
    cJSON_Delete(j);
    /* the command line of a --plan or --out sweep, as sweep_plan_write_json wrote it: one that
     * asks for --help (printed, then nothing to say) or --collect, or names no folder, is not */
    int has_dir = 0;
    if (s == AM_OK && strcmp(v[0], "sweep") != 0)
        s = AM_FAIL(AM_EFORMAT, "%s: argv[0] is '%s', not 'sweep'", path, v[0]);
    for (int i = 1; s == AM_OK && i < n && strcmp(v[i], "--") != 0; i++) {
        if (strcmp(v[i], "--help") == 0 || strcmp(v[i], "--collect") == 0 ||
            strncmp(v[i], "--collect=", 10) == 0)
            s = AM_FAIL(AM_EFORMAT, "%s: argv[%d] is '%s': not a sweep's description", path, i,
                        v[i]);
        has_dir |= strcmp(v[i], "--plan") == 0 || strcmp(v[i], "--out") == 0 ||
               strncmp(v[i], "--plan=", 7) == 0 || strncmp(v[i], "--out=", 6) == 0;
    }
    if (s == AM_OK && !has_dir)
        s = AM_FAIL(AM_EFORMAT, "%s: argv has no --plan DIR or --out DIR: not a sweep's description",
                    path);
    if (s != AM_OK) {
        sweep_json_argv_free(n, v);
        return s;
    }
    *argc = n;
    *argv = v;
    return AM_OK;
}
