/* host/run/sweep_plot: convergence.png and generalization.png of a sweep. */
#include "run/sweep_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run/plot.h"

#define ERR_POINTS 10 /* error bars per convergence curve */

/* Label of config c naming only the dimensions that vary in the sweep. */
static void config_label(const sweep_plan *p, size_t c, int with_snr, char *out, size_t cap)
{
    const sweep_point *pt = p->points;
    int v_agg = 0, v_sp = 0, v_k = 0, v_g = 0;
    for (size_t i = 0; i < p->npoints; i++) {
        v_agg |= pt[i].agg != pt[0].agg;
        v_sp |= pt[i].sparsity != pt[0].sparsity;
        v_k |= pt[i].agents != pt[0].agents;
        if (!isnan(pt[i].g_th) && !isnan(pt[0].g_th))
            v_g |= pt[i].g_th != pt[0].g_th;
    }
    const sweep_point *g = &pt[c];
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
    if (!isnan(g->beta))
        ADD(" beta %g", g->beta);
#undef ADD
    if (!out[0])
        snprintf(out, cap, "%s", g->agg);
}

/* ---------------------------------------------------------------- convergence */

/* Centred moving average of L over a window of w rounds, shrinking at the ends. */
static void moving_average(const double *L, unsigned rounds, unsigned w, double *sm)
{
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
}

/* Config c: mu = mean over seeds of the smoothed loss, acc2 = squared spread at the error-bar
 * rounds (two passes over the runs). Returns the number of runs. */
static unsigned convergence_curve(const sweep_plan *p,
                                  const sweep_run *runs,
                                  size_t c,
                                  unsigned w,
                                  double *mu,
                                  double *sm,
                                  double *acc2)
{
    const unsigned rounds = p->rounds;
    unsigned n = 0;
    for (unsigned i = 0; i < rounds; i++)
        mu[i] = 0;
    for (int j = 0; j < ERR_POINTS; j++)
        acc2[j] = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t r = 0; r < p->njobs; r++) {
            if (p->jobs[r].point != c || !runs[r].loss)
                continue;
            moving_average(runs[r].loss, rounds, w, sm);
            if (pass == 0) {
                for (unsigned i = 0; i < rounds; i++)
                    mu[i] += sm[i];
                n++;
            } else {
                for (int j = 0; j < ERR_POINTS; j++) {
                    unsigned i = (unsigned)(((double)j + 0.5) * rounds / ERR_POINTS);
                    double d = sm[i] - mu[i];
                    acc2[j] += d * d;
                }
            }
        }
        if (pass == 0 && n)
            for (unsigned i = 0; i < rounds; i++)
                mu[i] /= n;
    }
    return n;
}

am_status sweep_plot_convergence(const char *path,
                                 const char *title,
                                 const sweep_plan *p,
                                 const sweep_run *runs)
{
    const unsigned rounds = p->rounds;
    const size_t ncfg = p->npoints;
    const unsigned w = rounds / 50 > 1 ? rounds / 50 : 1;
    double *x = malloc(rounds * sizeof *x);
    double *mean = malloc(ncfg * rounds * sizeof *mean);
    double *sm = malloc(rounds * sizeof *sm), *ex = malloc(ncfg * ERR_POINTS * sizeof *ex);
    double *ey = calloc(ncfg * ERR_POINTS, sizeof *ey);
    double *ee = malloc(ncfg * ERR_POINTS * sizeof *ee);
    double *acc2 = malloc(ERR_POINTS * sizeof *acc2);
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
        const unsigned n = convergence_curve(p, runs, c, w, mu, sm, acc2);
        if (!n)
            continue;
        color++;
        double *cx = ex + c * ERR_POINTS, *cy = ey + c * ERR_POINTS, *ce = ee + c * ERR_POINTS;
        for (int j = 0; j < ERR_POINTS; j++) {
            unsigned i = (unsigned)(((double)j + 0.5) * rounds / ERR_POINTS);
            cx[j] = x[i];
            cy[j] = mu[i];
            ce[j] = n > 1 ? sqrt(acc2[j] / (n - 1) / n) : 0;
        }
        config_label(p, c, 1, titles[c], sizeof titles[c]);
        se[ns++] = (plot_series){titles[c], x,          mu,    NULL,
                                 rounds,    PLOT_LINES, color, isnan(p->points[c].snr_db)};
        se[ns++] = (plot_series){NULL, cx, cy, ce, ERR_POINTS, PLOT_POINTS, color, 0};
    }
    char ylab[96];
    snprintf(ylab, sizeof ylab, "training-agent loss (moving average over %u rounds)", w);
    plot_panel pn = {
        "convergence: training agents' meta-training loss", "round", ylab, 0, 1, se, ns};
    plot_cfg pc = {900, 560, 0, title, NULL};
    if (ns)
        s = plot_png(path, &pc, &pn, 1);
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

/* ---------------------------------------------------------------- generalisation */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { G_NEW, G_TRAIN, G_GAP, G_ACC, G_DNEW, G_DGAP, G_GAPP, G_COUNT };
static const int gk[G_COUNT] = {
    SWEEP_M_NEW_LOSS_AFTER,   SWEEP_M_TRAIN_LOSS_AFTER, SWEEP_M_GAP_LOSS, SWEEP_M_NEW_ACC_AFTER,
    SWEEP_M_D_NEW_LOSS_AFTER, SWEEP_M_D_GAP_LOSS,       SWEEP_M_GAP_PAPER};

/* The figure being built: the SNR axis, curve groups (configs equal but for the SNR), the series
 * of its four panels and the memory they point into. */
typedef struct gen_fig {
    const sweep_plan *p;
    sweep_sum *sums;
    double *snrs;
    size_t nsnr;
    size_t *group, ngroups;
    double *buf; /* per curve group: x + G_COUNT means + G_COUNT errors; per ideal line 12;
                    zero line 4 */
    size_t used;
    char (*titles)[160]; /* three per curve group, one per ideal line */
    size_t nt;
    plot_series *se[4];
    size_t n[4];
    int color, acc, paired, paper;
} gen_fig;

/* Summaries, the sorted SNR axis and the curve groups. */
static am_status gen_axes(gen_fig *f, const sweep_run *runs)
{
    const sweep_plan *p = f->p;
    for (size_t c = 0; c < p->npoints; c++) {
        sweep_collect_summarise(p, runs, c, &f->sums[c]);
        if (!f->sums[c].seeds)
            continue;
        f->acc |= isfinite(f->sums[c].mean[SWEEP_M_NEW_ACC_AFTER]);
        f->paired |= isfinite(f->sums[c].mean[SWEEP_M_D_GAP_LOSS]);
        f->paper |= isfinite(f->sums[c].mean[SWEEP_M_GAP_PAPER]);
        if (isnan(p->points[c].snr_db))
            continue;
        int seen = 0;
        for (size_t i = 0; i < f->nsnr; i++)
            seen |= f->snrs[i] == p->points[c].snr_db;
        if (!seen)
            f->snrs[f->nsnr++] = p->points[c].snr_db;
    }
    qsort(f->snrs, f->nsnr, sizeof *f->snrs, cmp_double);
    if (f->nsnr == 0)
        return AM_FAIL(AM_ENOTSUP, "no SNR axis (only ideal aggregation)");
    const sweep_point *pt = p->points;
    for (size_t c = 0; c < p->npoints; c++) {
        f->group[c] = (size_t)-1;
        if (isnan(pt[c].snr_db))
            continue;
        for (size_t d = 0; d < c; d++)
            if (f->group[d] != (size_t)-1 && pt[d].agg == pt[c].agg &&
                pt[d].sparsity == pt[c].sparsity && pt[d].agents == pt[c].agents &&
                pt[d].g_th == pt[c].g_th) {
                f->group[c] = f->group[d];
                break;
            }
        if (f->group[c] == (size_t)-1)
            f->group[c] = f->ngroups++;
    }
    return AM_OK;
}

/* Group g's curves against SNR in the four panels. */
static void gen_group(gen_fig *f, size_t g)
{
    const size_t nsnr = f->nsnr;
    double *X = f->buf + f->used, *Y = X + nsnr, *E = Y + G_COUNT * nsnr;
    f->used += (2 * G_COUNT + 1) * nsnr;
    size_t rep = 0;
    for (size_t i = 0; i < nsnr; i++) {
        X[i] = f->snrs[i];
        for (int k = 0; k < G_COUNT; k++)
            Y[(size_t)k * nsnr + i] = E[(size_t)k * nsnr + i] = NAN;
    }
    for (size_t c = 0; c < f->p->npoints; c++) {
        if (f->group[c] != g)
            continue;
        rep = c;
        size_t i = 0;
        while (f->snrs[i] != f->p->points[c].snr_db)
            i++;
        for (int k = 0; k < G_COUNT; k++) {
            Y[(size_t)k * nsnr + i] = f->sums[c].mean[gk[k]];
            E[(size_t)k * nsnr + i] = f->sums[c].se[gk[k]];
        }
    }
    const int color = ++f->color;
    char lab[120];
    config_label(f->p, rep, 0, lab, sizeof lab);
    char *t0 = f->titles[f->nt++], *t1 = f->titles[f->nt++], *tl = f->titles[f->nt++];
    snprintf(t0, 160, "%s (new agents)", lab);
    snprintf(t1, 160, "%s (training agents)", lab);
    memcpy(tl, lab, sizeof lab); /* the paired panel's legend: a slot that lives until drawing */
    const char *tg = f->ngroups > 1 ? tl : "new-agent loss";
    plot_series **se = f->se;
    size_t *n = f->n;
#define CURVE(k) Y + (size_t)(k)*nsnr, E + (size_t)(k)*nsnr, nsnr, PLOT_LINESPOINTS, color
    se[0][n[0]++] = (plot_series){t0, X, CURVE(G_NEW), 0};
    se[0][n[0]++] = (plot_series){t1, X, CURVE(G_TRAIN), 1};
    se[1][n[1]++] =
        (plot_series){f->paper ? "gap_fresh (new - fresh tasks)" : NULL, X, CURVE(G_GAP), 0};
    if (f->paper) /* sim --pool: the paper's gap, new agents - the training agents' own data */
        se[1][n[1]++] = (plot_series){"gap_paper (new - own data)", X, CURVE(G_GAPP), 1};
    se[2][n[2]++] = (plot_series){tg, X, CURVE(G_DNEW), 0};
    se[2][n[2]++] = (plot_series){f->ngroups > 1 ? NULL : "gap", X, CURVE(G_DGAP), 1};
    se[3][n[3]++] = (plot_series){NULL, X, CURVE(G_ACC), 0};
#undef CURVE
}

/* Ideal aggregation: dashed horizontal lines across the SNR range; the zero line of the paired
 * panel. */
static void gen_ideal(gen_fig *f)
{
    const double x0 = f->snrs[0],
                 x1 = f->snrs[f->nsnr - 1] > f->snrs[0] ? f->snrs[f->nsnr - 1] : f->snrs[0] + 1;
    for (size_t c = 0; c < f->p->npoints; c++) {
        if (!isnan(f->p->points[c].snr_db) || !f->sums[c].seeds)
            continue;
        double *X = f->buf + f->used, *Y = X + 2;
        f->used += 12;
        X[0] = x0;
        X[1] = x1;
        const int ks[4] = {SWEEP_M_NEW_LOSS_AFTER, SWEEP_M_GAP_LOSS, SWEEP_M_NEW_ACC_AFTER,
                           SWEEP_M_TRAIN_LOSS_AFTER}; /* Y[0..7]; Y[8..9] the paired line */
        for (int k = 0; k < 4; k++)
            Y[2 * k] = Y[2 * k + 1] = f->sums[c].mean[ks[k]];
        const int color = ++f->color;
        char *t = f->titles[f->nt++];
        config_label(f->p, c, 0, t, 120);
        snprintf(t + strlen(t), 40, " (new agents)");
        f->se[0][f->n[0]++] = (plot_series){t, X, Y, NULL, 2, PLOT_LINES, color, 1};
        f->se[1][f->n[1]++] = (plot_series){NULL, X, Y + 2, NULL, 2, PLOT_LINES, color, 1};
        f->se[3][f->n[3]++] = (plot_series){NULL, X, Y + 4, NULL, 2, PLOT_LINES, color, 1};
        if (f->paired && !isnan(f->p->points[c].beta)) { /* a control: what the smaller step does */
            Y[8] = Y[9] = f->sums[c].mean[SWEEP_M_D_NEW_LOSS_AFTER];
            f->se[2][f->n[2]++] = (plot_series){t, X, Y + 8, NULL, 2, PLOT_LINES, color, 1};
        }
    }
    if (f->paired) { /* the reference: no difference from ideal */
        double *X = f->buf + f->used, *Y = X + 2;
        f->used += 4;
        X[0] = x0;
        X[1] = x1;
        Y[0] = Y[1] = 0.0;
        f->se[2][f->n[2]++] = (plot_series){NULL, X, Y, NULL, 2, PLOT_LINES, ++f->color, 1};
    }
}

static am_status gen_draw(const gen_fig *f, const char *path, const char *title)
{
    static const char *const x = "per-agent SNR (dB)";
    plot_panel pn[4];
    size_t np = 0;
    pn[np++] = (plot_panel){"after fine-tuning: query loss", x, "loss", 0, 0, f->se[0], f->n[0]};
    pn[np++] = (plot_panel){
        "generalisation gap (new - training agents)", x, "loss gap", 0, 0, f->se[1], f->n[1]};
    if (f->paired)
        pn[np++] = (plot_panel){"paired: minus the ideal run of the same seed",
                                x,
                                "difference",
                                0,
                                0,
                                f->se[2],
                                f->n[2]};
    if (f->acc)
        pn[np++] = (plot_panel){
            "new agents: accuracy after fine-tuning", x, "accuracy", 0, 0, f->se[3], f->n[3]};
    plot_cfg pc = {0, 0, np > 2 ? 2u : 0u, title, NULL};
    return plot_png(path, &pc, pn, np);
}

am_status sweep_plot_generalization(const char *path,
                                    const char *title,
                                    const sweep_plan *p,
                                    const sweep_run *runs)
{
    const size_t ncfg = p->npoints;
    gen_fig f = {.p = p};
    f.sums = calloc(ncfg, sizeof *f.sums);
    f.snrs = malloc(ncfg * sizeof *f.snrs);
    f.buf = calloc(ncfg * (2 * G_COUNT + 1) * ncfg + 12 * ncfg + 8, sizeof *f.buf);
    f.titles = calloc(3 * ncfg + 4, sizeof *f.titles);
    f.group = malloc(ncfg * sizeof *f.group);
    for (int i = 0; i < 4; i++)
        f.se[i] = calloc(4 * ncfg + 4, sizeof **f.se);
    am_status s = AM_OK;
    if (!f.sums || !f.snrs || !f.buf || !f.titles || !f.group || !f.se[0] || !f.se[1] || !f.se[2] ||
        !f.se[3])
        s = AM_FAIL(AM_ENOMEM, "sweep: out of memory (plot)");
    if (s == AM_OK)
        s = gen_axes(&f, runs);
    if (s == AM_OK) {
        for (size_t g = 0; g < f.ngroups; g++)
            gen_group(&f, g);
        gen_ideal(&f);
        s = gen_draw(&f, path, title);
    }
    free(f.sums);
    free(f.snrs);
    free(f.buf);
    free(f.titles);
    free(f.group);
    for (int i = 0; i < 4; i++)
        free(f.se[i]);
    return s;
}

/* ---------------------------------------------------------------- new agents against rounds */

am_status
sweep_plot_evals(const char *path, const char *title, const sweep_plan *p, const sweep_run *runs)
{
    const size_t ncfg = p->npoints;
    size_t cap = 0;
    for (size_t c = 0; c < ncfg; c++)
        cap += sweep_collect_n_eval(p, runs, c);
    double *buf = malloc((3 * cap + 1) * sizeof *buf);
    plot_series *se = calloc(ncfg + 1, sizeof *se);
    char(*titles)[160] = calloc(ncfg + 1, sizeof *titles);
    am_status s = AM_OK;
    if (!buf || !se || !titles) {
        s = AM_FAIL(AM_ENOMEM, "sweep: out of memory (plot)");
        goto out;
    }
    size_t ns = 0, used = 0;
    int color = 0;
    for (size_t c = 0; c < ncfg; c++) {
        const unsigned ne = sweep_collect_n_eval(p, runs, c);
        if (ne < 1)
            continue;
        double *X = buf + used, *Y = X + ne, *E = Y + ne;
        used += 3 * (size_t)ne;
        for (unsigned e = 0; e < ne; e++) {
            unsigned rd;
            sweep_collect_eval_sum(p, runs, c, e, 0, &rd, &Y[e], &E[e]);
            X[e] = rd;
        }
        config_label(p, c, 1, titles[ns], sizeof titles[ns]);
        se[ns] = (plot_series){
            titles[ns], X, Y, E, ne, PLOT_LINESPOINTS, ++color, isnan(p->points[c].snr_db)};
        ns++;
    }
    if (!ns) {
        s = AM_FAIL(AM_ENOTSUP, "no evaluation rounds");
        goto out;
    }
    plot_panel pn = {"new agents: query loss after fine-tuning at each evaluation (+- s.e. over "
                     "seeds); ideal and its --baseline-beta controls dashed",
                     "round",
                     "loss",
                     0,
                     0,
                     se,
                     ns};
    plot_cfg pc = {900, 560, 0, title, NULL};
    s = plot_png(path, &pc, &pn, 1);
out:
    free(buf);
    free(se);
    free(titles);
    return s;
}
