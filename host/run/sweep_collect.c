/* host/run/sweep_collect: run folders -> per-run figures -> tables. */
#include "run/sweep_collect.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "util/fsutil.h"

/* Where a column comes from. */
typedef enum metric_src {
    SRC_LAST,    /* key path in the last round's line (the one with "eval") */
    SRC_MEAN,    /* mean over the rounds of a key (non-finite values skipped; none: NaN) */
    SRC_TAIL,    /* mean training loss of the last rounds/10 rounds (at least 1) */
    SRC_DB,      /* 10 log10 of column arg (NaN unless > 0) */
    SRC_VS_IDEAL /* column arg minus the paired ideal run's (sweep_collect_pair) */
} metric_src;

typedef struct metric_def {
    const char *name;
    metric_src src;
    const char *key[3]; /* SRC_LAST, SRC_MEAN */
    int arg;            /* SRC_DB, SRC_VS_IDEAL */
} metric_def;

static const metric_def metrics[SWEEP_M_COUNT] = {
    [SWEEP_M_FINAL_TRAIN_LOSS] = {"final_train_loss", SRC_LAST, {"train_loss"}, 0},
    [SWEEP_M_TRAIN_LOSS_TAIL] = {"train_loss_tail", SRC_TAIL, {NULL}, 0},
    [SWEEP_M_NEW_LOSS_BEFORE] = {"new_loss_before", SRC_LAST, {"eval", "new", "loss_before"}, 0},
    [SWEEP_M_NEW_LOSS_AFTER] = {"new_loss_after", SRC_LAST, {"eval", "new", "loss_after"}, 0},
    [SWEEP_M_NEW_ACC_AFTER] = {"new_acc_after", SRC_LAST, {"eval", "new", "acc_after"}, 0},
    [SWEEP_M_TRAIN_LOSS_AFTER] = {"train_loss_after", SRC_LAST, {"eval", "train", "loss_after"}, 0},
    [SWEEP_M_TRAIN_ACC_AFTER] = {"train_acc_after", SRC_LAST, {"eval", "train", "acc_after"}, 0},
    [SWEEP_M_GAP_LOSS] = {"gap_loss", SRC_LAST, {"eval", "gap_loss"}, 0},
    [SWEEP_M_GAP_ACC] = {"gap_acc", SRC_LAST, {"eval", "gap_acc"}, 0},
    [SWEEP_M_OWN_LOSS_AFTER] = {"own_loss_after", SRC_LAST, {"eval", "own", "loss_after"}, 0},
    [SWEEP_M_GAP_PAPER] = {"gap_paper", SRC_LAST, {"eval", "gap_paper"}, 0},
    [SWEEP_M_AGG_NMSE] = {"agg_nmse", SRC_MEAN, {"agg_nmse"}, 0},
    [SWEEP_M_AGG_NMSE_DB] = {"agg_nmse_db", SRC_DB, {NULL}, SWEEP_M_AGG_NMSE},
    [SWEEP_M_MEAN_ACTIVE] = {"mean_active", SRC_MEAN, {"mean_active"}, 0},
    [SWEEP_M_D_NEW_LOSS_AFTER] = {"new_loss_after_vs_ideal",
                                  SRC_VS_IDEAL,
                                  {NULL},
                                  SWEEP_M_NEW_LOSS_AFTER},
    [SWEEP_M_D_GAP_LOSS] = {"gap_loss_vs_ideal", SRC_VS_IDEAL, {NULL}, SWEEP_M_GAP_LOSS},
    [SWEEP_M_D_GAP_PAPER] = {"gap_paper_vs_ideal", SRC_VS_IDEAL, {NULL}, SWEEP_M_GAP_PAPER},
};

const char *sweep_metric_name(int k)
{
    return k >= 0 && k < SWEEP_M_COUNT ? metrics[k].name : "?";
}

void sweep_run_clear(sweep_run *r)
{
    if (!r)
        return;
    free(r->loss);
    free(r->eval_round);
    free(r->eval_new);
    free(r->eval_own);
    r->loss = NULL;
    r->eval_round = NULL;
    r->eval_new = r->eval_own = NULL;
    r->n_eval = 0;
}

/* ---------------------------------------------------------------- reading a run folder */

static double jnum(const cJSON *o, const char *a, const char *b, const char *c)
{
    const char *keys[3] = {a, b, c};
    for (int i = 0; i < 3 && keys[i] && o; i++)
        o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

static double jkey(const cJSON *o, const char *const key[3])
{
    return jnum(o, key[0], key[1], key[2]);
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-6 * fmax(1.0, fabs(b)); /* float flags are stored as floats */
}

/* config.json's "seed" is the job's seed exactly: a number (up to 2^53) or, above, the decimal
 * string runcfg writes for a 64-bit integer a double cannot hold. */
static int same_seed(const cJSON *fl, uint64_t seed)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(fl, "seed");
    if (cJSON_IsNumber(o))
        return o->valuedouble >= 0 && o->valuedouble <= 9007199254740992.0 &&
               o->valuedouble == (double)seed && seed <= 9007199254740992u;
    if (!cJSON_IsString(o) || o->valuestring[0] < '0' || o->valuestring[0] > '9')
        return 0;
    char *end = NULL;
    errno = 0;
    const unsigned long long v = strtoull(o->valuestring, &end, 10);
    return errno == 0 && *end == '\0' && v == seed;
}

/* config.json's flags against job j's grid coordinates. */
static am_status check_config(const sweep_plan *p, size_t j, const cJSON *fl, const char *path)
{
    const sweep_point *c = &p->points[p->jobs[j].point];
    const cJSON *agg = cJSON_GetObjectItemCaseSensitive(fl, "agg");
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(fl, "task");
    const char *bad = NULL;
    if (!cJSON_IsString(agg) || strcmp(agg->valuestring, c->agg) != 0)
        bad = "agg";
    else if (!cJSON_IsString(task) || strcmp(task->valuestring, p->task) != 0)
        bad = "task";
    else if (!same_seed(fl, p->jobs[j].seed)) /* near() took seed 1000001 for 1000000 */
        bad = "seed";
    else if (!near(jnum(fl, "agents", NULL, NULL), c->agents))
        bad = "agents";
    else if (!near(jnum(fl, "sparsity", NULL, NULL), c->sparsity))
        bad = "sparsity";
    else if (!isnan(c->snr_db) && !near(jnum(fl, "snr-db", NULL, NULL), c->snr_db))
        bad = "snr-db";
    else if (!isnan(c->snr_db) && !near(jnum(fl, "g-th", NULL, NULL), c->g_th))
        bad = "g-th";
    else if (!isnan(c->beta) && !near(jnum(fl, "beta", NULL, NULL), c->beta))
        bad = "beta";
    if (bad)
        return AM_FAIL(AM_EFORMAT, "%s: a run of another configuration (its %s differs)", path,
                       bad);
    return AM_OK;
}

static am_status read_config(const sweep_plan *p, size_t j, const char *rundir, unsigned flags)
{
    char path[SWEEP_PATH + 300];
    snprintf(path, sizeof path, "%s/config.json", rundir);
    char *txt = NULL;
    (void)fs_read_text(path, 1 << 20, &txt); /* a missing or unreadable one: refused below */
    cJSON *cfg = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    double R = jnum(cfg, "flags", "rounds", NULL);
    am_status s = AM_OK;
    if (R != p->rounds)
        s = AM_FAIL(AM_EFORMAT, "%s: missing, or not a run of %u rounds", path, p->rounds);
    else if (flags & SWEEP_READ_CHECK)
        s = check_config(p, j, cJSON_GetObjectItemCaseSensitive(cfg, "flags"), path);
    cJSON_Delete(cfg);
    return s;
}

/* metrics.jsonl: the training loss per round into loss, the SRC_MEAN sums, the evaluation rounds
 * into r's eval arrays (capacity rounds), the last line. */
static am_status read_lines(const char *path,
                            unsigned rounds,
                            double *loss,
                            double *sum,
                            unsigned *cnt,
                            sweep_run *r,
                            cJSON **last_out)
{
    FILE *f = NULL;
    am_status os = am_fopen_regular(path, "r", &f); /* a FIFO there must not block */
    if (os != AM_OK)
        return os;
    char *line = NULL;
    size_t cap = 0, len = 0;
    unsigned lineno = 0, got = 0;
    cJSON *last = NULL;
    am_status s = AM_OK;
    while ((s = fs_read_line(f, FS_JSONL_LINE_MAX, path, lineno + 1, &line, &cap, &len)) == AM_OK &&
           len > 0) {
        lineno++;
        cJSON *o = cJSON_ParseWithLength(line, len);
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
        loss[got++] = tl;
        if (cJSON_GetObjectItemCaseSensitive(o, "eval")) {
            r->eval_round[r->n_eval] = got;
            r->eval_new[r->n_eval] = jnum(o, "eval", "new", "loss_after");
            r->eval_own[r->n_eval++] = jnum(o, "eval", "own", "loss_after");
        }
        for (int k = 0; k < SWEEP_M_COUNT; k++) {
            double v = metrics[k].src == SRC_MEAN ? jkey(o, metrics[k].key) : NAN;
            if (isfinite(v)) {
                sum[k] += v;
                cnt[k]++;
            }
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
        last = NULL;
    }
    *last_out = last;
    return s;
}

am_status
sweep_collect_read(const sweep_plan *p, size_t j, const char *rundir, unsigned flags, sweep_run *r)
{
    const unsigned rounds = p->rounds;
    sweep_run_clear(r);
    am_status s = read_config(p, j, rundir, flags);
    if (s != AM_OK)
        return s;
    char path[SWEEP_PATH + 300];
    snprintf(path, sizeof path, "%s/metrics.jsonl", rundir);
    double *loss = malloc((size_t)rounds * sizeof *loss);
    r->eval_round = malloc((size_t)rounds * sizeof *r->eval_round);
    r->eval_new = malloc((size_t)rounds * sizeof *r->eval_new);
    r->eval_own = malloc((size_t)rounds * sizeof *r->eval_own);
    r->n_eval = 0;
    if (!loss || !r->eval_round || !r->eval_new || !r->eval_own) {
        free(loss);
        sweep_run_clear(r);
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    }
    double sum[SWEEP_M_COUNT] = {0};
    unsigned cnt[SWEEP_M_COUNT] = {0};
    cJSON *last = NULL;
    if ((s = read_lines(path, rounds, loss, sum, cnt, r, &last)) != AM_OK) {
        free(loss);
        sweep_run_clear(r);
        return s;
    }
    const unsigned tail = rounds / 10 ? rounds / 10 : 1;
    for (int k = 0; k < SWEEP_M_COUNT; k++) {
        const metric_def *d = &metrics[k];
        double v = NAN, t = 0;
        switch (d->src) {
        case SRC_LAST:
            v = jkey(last, d->key);
            break;
        case SRC_MEAN:
            v = cnt[k] ? sum[k] / cnt[k] : NAN;
            break;
        case SRC_TAIL:
            for (unsigned i = rounds - tail; i < rounds; i++)
                t += loss[i];
            v = t / tail;
            break;
        case SRC_DB: /* its source comes earlier in the table */
            v = r->m[d->arg] > 0 ? 10.0 * log10(r->m[d->arg]) : NAN;
            break;
        case SRC_VS_IDEAL: /* set by sweep_collect_pair */
            break;
        }
        r->m[k] = v;
    }
    cJSON_Delete(last);
    r->loss = loss;
    return AM_OK;
}

size_t sweep_collect_read_all(const sweep_plan *p, const char *dir, sweep_run *runs, FILE *out)
{
    size_t missing = 0;
    char rundir[SWEEP_PATH + 256];
    for (size_t j = 0; j < p->njobs; j++) {
        snprintf(rundir, sizeof rundir, "%s/runs/%s", dir, p->jobs[j].name);
        if (sweep_collect_read(p, j, rundir, SWEEP_READ_CHECK, &runs[j]) == AM_OK)
            continue;
        struct stat sb;
        if (out)
            fprintf(out, "missing: %s (line %zu of jobs.txt): %s\n", p->jobs[j].name, j + 1,
                    stat(rundir, &sb) != 0 ? "no run folder" : am_last_error());
        missing++;
    }
    return missing;
}

void sweep_collect_pair(const sweep_plan *p, sweep_run *runs)
{
    for (size_t i = 0; i < p->njobs; i++) {
        sweep_run *r = &runs[i];
        const sweep_point *c = &p->points[p->jobs[i].point];
        if (!r->loss || (isnan(c->snr_db) && isnan(c->beta))) /* the reference itself */
            continue;
        for (size_t j = 0; j < p->njobs; j++) {
            const sweep_run *q = &runs[j];
            const sweep_point *d = &p->points[p->jobs[j].point];
            if (!q->loss || !isnan(d->snr_db) || !isnan(d->beta) ||
                p->jobs[j].seed != p->jobs[i].seed || d->sparsity != c->sparsity ||
                d->agents != c->agents)
                continue;
            for (int k = 0; k < SWEEP_M_COUNT; k++)
                if (metrics[k].src == SRC_VS_IDEAL)
                    r->m[k] = r->m[metrics[k].arg] - q->m[metrics[k].arg];
            break;
        }
    }
}

/* ---------------------------------------------------------------- tables */

void sweep_collect_summarise(const sweep_plan *p, const sweep_run *runs, size_t cfg, sweep_sum *out)
{
    memset(out, 0, sizeof *out);
    for (int k = 0; k < SWEEP_M_COUNT; k++) {
        double s = 0, s2 = 0;
        unsigned n = 0;
        for (size_t i = 0; i < p->njobs; i++) {
            if (p->jobs[i].point != cfg || !runs[i].loss)
                continue;
            double v = runs[i].m[k];
            if (!isfinite(v))
                continue;
            s += v;
            n++;
        }
        double mu = n ? s / n : NAN;
        for (size_t i = 0; i < p->njobs; i++) {
            if (p->jobs[i].point != cfg || !runs[i].loss || !isfinite(runs[i].m[k]))
                continue;
            double d = runs[i].m[k] - mu;
            s2 += d * d;
        }
        out->n[k] = n;
        out->mean[k] = mu;
        out->se[k] = n > 1 ? sqrt(s2 / (n - 1) / n) : NAN; /* standard error of the mean */
    }
    for (size_t i = 0; i < p->njobs; i++)
        out->seeds += p->jobs[i].point == cfg && runs[i].loss;
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

static void config_json(cJSON *o, const sweep_point *c)
{
    cJSON_AddStringToObject(o, "agg", c->agg);
    cJSON_AddNumberToObject(o, "snr_db", c->snr_db); /* NaN (ideal) -> null */
    cJSON_AddNumberToObject(o, "sparsity", c->sparsity);
    cJSON_AddNumberToObject(o, "agents", c->agents);
    cJSON_AddNumberToObject(o, "g_th", c->g_th);
    cJSON_AddNumberToObject(o, "beta", c->beta); /* NaN (the runs' own) -> null */
}

static void config_csv(FILE *f, const sweep_point *c)
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
    if (isfinite(c->beta))
        fprintf(f, ",%.10g", c->beta);
    else
        fputs(",", f);
}

/* One row per (config, seed). */
static am_status write_results(const sweep_plan *p, const sweep_run *runs, const char *dir)
{
    char path[SWEEP_PATH + 32];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    FILE *f = NULL;
    am_status s = am_fopen_regular(path, "w", &f); /* not through a link, FIFO or device */
    if (s != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    fputs("name,agg,snr_db,sparsity,agents,g_th,beta,seed,rounds", f);
    for (int k = 0; k < SWEEP_M_COUNT; k++)
        fprintf(f, ",%s", metrics[k].name);
    fputc('\n', f);
    cJSON *rows = cJSON_CreateArray();
    for (size_t i = 0; i < p->njobs; i++) {
        const sweep_run *r = &runs[i];
        const sweep_job *jb = &p->jobs[i];
        if (!r->loss)
            continue;
        fprintf(f, "%s,", jb->name);
        config_csv(f, &p->points[jb->point]);
        fprintf(f, ",%" PRIu64 ",%u", jb->seed, p->rounds);
        for (int k = 0; k < SWEEP_M_COUNT; k++)
            csv_num(f, r->m[k]);
        fputc('\n', f);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", jb->name);
        config_json(o, &p->points[jb->point]);
        cJSON_AddNumberToObject(o, "seed", (double)jb->seed);
        cJSON_AddNumberToObject(o, "rounds", p->rounds);
        for (int k = 0; k < SWEEP_M_COUNT; k++)
            cJSON_AddNumberToObject(o, metrics[k].name, r->m[k]);
        cJSON_AddItemToArray(rows, o);
    }
    s = finish_file(f, path);
    if (s != AM_OK) {
        cJSON_Delete(rows);
        return s;
    }
    snprintf(path, sizeof path, "%s/results.json", dir);
    return sweep_write_json(path, rows);
}

/* One row per config: mean and standard error over seeds. */
static am_status write_summary(const sweep_plan *p, const sweep_run *runs, const char *dir)
{
    char path[SWEEP_PATH + 32];
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    FILE *f = NULL;
    am_status s = am_fopen_regular(path, "w", &f);
    if (s != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    fputs("agg,snr_db,sparsity,agents,g_th,beta,seeds,rounds", f);
    for (int k = 0; k < SWEEP_M_COUNT; k++)
        fprintf(f, ",%s_mean,%s_se", metrics[k].name, metrics[k].name);
    fputc('\n', f);
    cJSON *rows = cJSON_CreateArray();
    for (size_t c = 0; c < p->npoints; c++) {
        sweep_sum sm;
        sweep_collect_summarise(p, runs, c, &sm);
        if (!sm.seeds)
            continue;
        config_csv(f, &p->points[c]);
        fprintf(f, ",%u,%u", sm.seeds, p->rounds);
        cJSON *o = cJSON_CreateObject();
        config_json(o, &p->points[c]);
        cJSON_AddNumberToObject(o, "seeds", sm.seeds);
        cJSON_AddNumberToObject(o, "rounds", p->rounds);
        for (int k = 0; k < SWEEP_M_COUNT; k++) {
            csv_num(f, sm.mean[k]);
            csv_num(f, sm.se[k]);
            char key[64];
            snprintf(key, sizeof key, "%s_mean", metrics[k].name);
            cJSON_AddNumberToObject(o, key, sm.mean[k]);
            snprintf(key, sizeof key, "%s_se", metrics[k].name);
            cJSON_AddNumberToObject(o, key, sm.se[k]);
        }
        fputc('\n', f);
        cJSON_AddItemToArray(rows, o);
    }
    s = finish_file(f, path);
    if (s != AM_OK) {
        cJSON_Delete(rows);
        return s;
    }
    snprintf(path, sizeof path, "%s/summary.json", dir);
    return sweep_write_json(path, rows);
}

unsigned sweep_collect_n_eval(const sweep_plan *p, const sweep_run *runs, size_t c)
{
    for (size_t i = 0; i < p->njobs; i++)
        if (p->jobs[i].point == c && runs[i].loss)
            return runs[i].n_eval;
    return 0;
}

unsigned sweep_collect_eval_sum(const sweep_plan *p,
                                const sweep_run *runs,
                                size_t c,
                                unsigned e,
                                int own,
                                unsigned *round,
                                double *mean,
                                double *se)
{
    double s = 0, s2 = 0;
    unsigned n = 0;
    *round = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < p->njobs; i++) {
            const sweep_run *r = &runs[i];
            if (p->jobs[i].point != c || !r->loss || e >= r->n_eval)
                continue;
            if (!*round)
                *round = r->eval_round[e];
            const double v = own ? r->eval_own[e] : r->eval_new[e];
            if (r->eval_round[e] != *round || !isfinite(v))
                continue;
            if (pass == 0) {
                s += v;
                n++;
            } else {
                s2 += (v - s / n) * (v - s / n);
            }
        }
    *mean = n ? s / n : NAN;
    *se = n > 1 ? sqrt(s2 / (n - 1) / n) : NAN;
    return n;
}

/* evals.csv: per configuration and evaluation round, new agents' and own-data loss after
 * fine-tuning (mean, standard error over seeds). */
static am_status write_evals(const sweep_plan *p, const sweep_run *runs, const char *dir)
{
    char path[SWEEP_PATH + 32];
    snprintf(path, sizeof path, "%s/evals.csv", dir);
    FILE *f = NULL;
    am_status s = am_fopen_regular(path, "w", &f);
    if (s != AM_OK)
        return am_error_wrap(s, "sweep: cannot write");
    fputs("agg,snr_db,sparsity,agents,g_th,beta,round,seeds,new_loss_after_mean,"
          "new_loss_after_se,own_loss_after_mean,own_loss_after_se\n",
          f);
    for (size_t c = 0; c < p->npoints; c++) {
        const unsigned ne = sweep_collect_n_eval(p, runs, c);
        for (unsigned e = 0; e < ne; e++) {
            unsigned rd, ro;
            double m, se, mo, seo;
            const unsigned n = sweep_collect_eval_sum(p, runs, c, e, 0, &rd, &m, &se);
            sweep_collect_eval_sum(p, runs, c, e, 1, &ro, &mo, &seo);
            config_csv(f, &p->points[c]);
            fprintf(f, ",%u,%u", rd, n);
            csv_num(f, m);
            csv_num(f, se);
            csv_num(f, mo);
            csv_num(f, seo);
            fputc('\n', f);
        }
    }
    return finish_file(f, path);
}

am_status sweep_collect_tables(const sweep_plan *p, const sweep_run *runs, const char *dir)
{
    am_status s = write_results(p, runs, dir);
    if (s == AM_OK)
        s = write_summary(p, runs, dir);
    return s == AM_OK ? write_evals(p, runs, dir) : s;
}

static void print_paired(FILE *out, const sweep_sum *sm, int k)
{
    char cell[40] = "-";
    if (isfinite(sm->mean[k]))
        snprintf(cell, sizeof cell, "%+.4f+-%.4f", sm->mean[k],
                 isfinite(sm->se[k]) ? sm->se[k] : 0.0);
    fprintf(out, "  %-17s", cell);
}

typedef struct print_cols {
    int paired, acc, beta, paper;
} print_cols;

static void print_row(FILE *out, const sweep_point *g, const sweep_sum *sm, const print_cols *pc)
{
    char snr[16], gth[16], beta[16];
    snprintf(snr, sizeof snr, isnan(g->snr_db) ? "-" : "%.4g", g->snr_db);
    snprintf(gth, sizeof gth, isnan(g->g_th) ? "-" : "%.4g", g->g_th);
    snprintf(beta, sizeof beta, isnan(g->beta) ? "-" : "%.4g", g->beta);
    fprintf(out, "%-5s %6s %6.3g %4u %5s ", g->agg, snr, g->sparsity, g->agents, gth);
    if (pc->beta)
        fprintf(out, "%8s ", beta);
    fprintf(out, "%5u ", sm->seeds);
    const int ks[4] = {SWEEP_M_TRAIN_LOSS_TAIL, SWEEP_M_NEW_LOSS_AFTER, SWEEP_M_TRAIN_LOSS_AFTER,
                       SWEEP_M_GAP_LOSS};
    for (int j = 0; j < 4; j++) {
        char cell[40];
        snprintf(cell, sizeof cell, "%.4f+-%.4f", sm->mean[ks[j]],
                 isfinite(sm->se[ks[j]]) ? sm->se[ks[j]] : 0.0);
        fprintf(out, " %-17s", cell);
    }
    if (isfinite(sm->mean[SWEEP_M_AGG_NMSE_DB]))
        fprintf(out, " %7.2f", sm->mean[SWEEP_M_AGG_NMSE_DB]);
    else
        fprintf(out, " %7s", "-");
    if (pc->paper) {
        const int kp[2] = {SWEEP_M_OWN_LOSS_AFTER, SWEEP_M_GAP_PAPER};
        for (int j = 0; j < 2; j++) {
            char cell[40];
            snprintf(cell, sizeof cell, "%.4f+-%.4f", sm->mean[kp[j]],
                     isfinite(sm->se[kp[j]]) ? sm->se[kp[j]] : 0.0);
            fprintf(out, " %-17s", cell);
        }
    }
    if (pc->paired) {
        print_paired(out, sm, SWEEP_M_D_NEW_LOSS_AFTER);
        print_paired(out, sm, SWEEP_M_D_GAP_LOSS);
        if (pc->paper)
            print_paired(out, sm, SWEEP_M_D_GAP_PAPER);
    }
    if (pc->acc)
        fprintf(out, "  %.4f+-%.4f", sm->mean[SWEEP_M_NEW_ACC_AFTER],
                isfinite(sm->se[SWEEP_M_NEW_ACC_AFTER]) ? sm->se[SWEEP_M_NEW_ACC_AFTER] : 0.0);
    fputc('\n', out);
}

void sweep_collect_print(FILE *out, const sweep_plan *p, const sweep_run *runs)
{
    print_cols pc = {0};
    for (size_t i = 0; i < p->njobs; i++) {
        pc.acc |= runs[i].loss && isfinite(runs[i].m[SWEEP_M_NEW_ACC_AFTER]);
        pc.paired |= runs[i].loss && isfinite(runs[i].m[SWEEP_M_D_GAP_LOSS]);
        pc.paper |= runs[i].loss && isfinite(runs[i].m[SWEEP_M_GAP_PAPER]);
    }
    for (size_t c = 0; c < p->npoints; c++)
        pc.beta |= !isnan(p->points[c].beta);
    fprintf(out, "\n%-5s %6s %6s %4s %5s ", "agg", "snr_dB", "spars", "K", "g_th");
    if (pc.beta)
        fprintf(out, "%8s ", "beta");
    fprintf(out, "%5s  %-17s %-17s %-17s %-17s %7s", "seeds", "train_loss_tail", "new_loss_after",
            "train_loss_after", "gap_fresh", "nmse_dB");
    if (pc.paper)
        fprintf(out, " %-17s %-17s", "own_loss_after", "gap_paper");
    if (pc.paired)
        fprintf(out, "  %-17s  %-17s", "new_loss-ideal", "gap_fresh-ideal");
    if (pc.paired && pc.paper)
        fprintf(out, "  %-17s", "gap_paper-ideal");
    fprintf(out, "%s\n", pc.acc ? "  new_acc_after" : "");
    for (size_t c = 0; c < p->npoints; c++) {
        sweep_sum sm;
        sweep_collect_summarise(p, runs, c, &sm);
        if (sm.seeds)
            print_row(out, &p->points[c], &sm, &pc);
    }
    /* new agents' loss after fine-tuning against rounds (mean over seeds) */
    unsigned ne = 0;
    size_t c0 = 0;
    for (size_t c = 0; c < p->npoints; c++) {
        unsigned n = sweep_collect_n_eval(p, runs, c);
        if (n > ne) {
            ne = n;
            c0 = c;
        }
    }
    if (ne < 2)
        return;
    fprintf(out,
            "\nnew agents' loss after fine-tuning at each evaluation round (mean over seeds)\n");
    fprintf(out, "%-5s %6s %6s %4s %5s %8s ", "agg", "snr_dB", "spars", "K", "g_th", "beta");
    for (unsigned e = 0; e < ne; e++) {
        unsigned rd;
        double m, se;
        sweep_collect_eval_sum(p, runs, c0, e, 0, &rd, &m, &se);
        fprintf(out, " %7u", rd);
    }
    fputc('\n', out);
    for (size_t c = 0; c < p->npoints; c++) {
        const sweep_point *g = &p->points[c];
        const unsigned n = sweep_collect_n_eval(p, runs, c);
        if (!n)
            continue;
        char snr[16], gth[16], beta[16];
        snprintf(snr, sizeof snr, isnan(g->snr_db) ? "-" : "%.4g", g->snr_db);
        snprintf(gth, sizeof gth, isnan(g->g_th) ? "-" : "%.4g", g->g_th);
        snprintf(beta, sizeof beta, isnan(g->beta) ? "-" : "%.4g", g->beta);
        fprintf(out, "%-5s %6s %6.3g %4u %5s %8s ", g->agg, snr, g->sparsity, g->agents, gth, beta);
        for (unsigned e = 0; e < n; e++) {
            unsigned rd;
            double m, se;
            sweep_collect_eval_sum(p, runs, c, e, 0, &rd, &m, &se);
            fprintf(out, " %7.4f", m);
        }
        fputc('\n', out);
    }
}
