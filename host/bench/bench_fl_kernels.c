/* host/bench_fl_kernels: the kernel half of `airmeta bench fl` (issue 3 "Performance"):
 * GFLOP/s of the dense and im2col convolution kernels at the sizes the models use, and us per
 * call of the whole-model passes (MLP 1-40-40-1 at batch 10: loss_grad, hvp; the 4-block CNN on
 * a 5-way 5-shot support set). Medians over repetitions; OpenBLAS on one thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_fl.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/kernels.h"
#include "fl/model.h"

#define BENCH_REPS_MAX 101

/* repetitions per measurement: bench fl --reps (1..BENCH_REPS_MAX) */
static unsigned bk_reps = 7;

static double bk_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double bk_now(void)
{
    return bk_clock(CLOCK_MONOTONIC);
}

static int bk_cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One measured operation: run(ctx) performs one call; returns nonzero on failure. */
typedef int (*bk_fn)(void *ctx);

/* Median seconds per call over bk_reps repetitions of `iters` calls, `iters` calibrated so a
 * repetition lasts about `rep_s` seconds: wall clock (sec) and this thread's CPU time (cpu; on
 * a shared, oversubscribed machine the wall figure includes time spent descheduled). */
static int bk_time(bk_fn fn, void *ctx, double rep_s, double *sec, double *cpu)
{
    size_t iters = 1;
    for (;;) { /* calibrate (also warms caches and OpenBLAS buffers) */
        const double t0 = bk_now();
        for (size_t i = 0; i < iters; i++)
            if (fn(ctx))
                return -1;
        const double dt = bk_now() - t0;
        if (dt >= rep_s / 4 || iters >= ((size_t)1 << 26)) {
            const double per = dt / (double)iters;
            iters = per > 0 ? (size_t)(rep_s / per) + 1 : iters;
            break;
        }
        iters *= 4;
    }
    double t[BENCH_REPS_MAX], c[BENCH_REPS_MAX];
    for (unsigned r = 0; r < bk_reps; r++) {
        const double t0 = bk_now(), c0 = bk_clock(CLOCK_THREAD_CPUTIME_ID);
        for (size_t i = 0; i < iters; i++)
            if (fn(ctx))
                return -1;
        t[r] = (bk_now() - t0) / (double)iters;
        c[r] = (bk_clock(CLOCK_THREAD_CPUTIME_ID) - c0) / (double)iters;
    }
    qsort(t, bk_reps, sizeof *t, bk_cmp);
    qsort(c, bk_reps, sizeof *c, bk_cmp);
    *sec = t[bk_reps / 2];
    *cpu = c[bk_reps / 2];
    return 0;
}

/* GFLOP/s from the wall-clock median (the usual definition) and from the CPU-time median. */
static void
bk_report(int json, const char *kernel, const char *shape, double sec, double cpu, double flops)
{
    const double us = sec * 1e6, gf = flops > 0 ? flops / sec * 1e-9 : 0.0;
    if (json) {
        printf("{\"bench\":\"fl\",\"kernel\":\"%s\",\"shape\":\"%s\",\"us\":%.4g,\"us_cpu\":%.4g",
               kernel, shape, us, cpu * 1e6);
        if (flops > 0)
            printf(",\"gflops\":%.4g,\"gflops_cpu\":%.4g", gf, flops / cpu * 1e-9);
        printf("}\n");
    } else if (flops > 0) {
        printf("  %-16s %-32s %11.3f us %11.3f us cpu %7.2f GFLOP/s (cpu %.2f)\n", kernel, shape,
               us, cpu * 1e6, gf, flops / cpu * 1e-9);
    } else {
        printf("  %-16s %-32s %11.3f us %11.3f us cpu\n", kernel, shape, us, cpu * 1e6);
    }
    fflush(stdout);
}

/* ---- dense ---- */
typedef struct dense_b {
    float *x, *w, *b, *y, *dy, *dx, *dw, *db;
    size_t n, in, out;
} dense_b;

static int run_dense_fwd(void *p)
{
    dense_b *d = p;
    fl_dense_forward(d->y, d->x, d->w, d->b, d->n, d->in, d->out, 0);
    return 0;
}

static int run_dense_bwd(void *p)
{
    dense_b *d = p;
    fl_dense_backward(d->dx, d->dw, d->db, d->dy, d->x, d->w, d->n, d->in, d->out);
    return 0;
}

static float *bk_rand(size_t n, am_rng *r)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    if (p)
        for (size_t i = 0; i < n; i++)
            p[i] = (float)(am_rng_uniform(r) - 0.5);
    return p;
}

static int bench_dense(int json, size_t n, size_t in, size_t out, am_rng *r)
{
    dense_b d = {bk_rand(n * in, r),
                 bk_rand(in * out, r),
                 bk_rand(out, r),
                 bk_rand(n * out, r),
                 bk_rand(n * out, r),
                 bk_rand(n * in, r),
                 bk_rand(in * out, r),
                 bk_rand(out, r),
                 n,
                 in,
                 out};
    int rc = -1;
    double s, cs;
    char shape[64];
    snprintf(shape, sizeof shape, "n=%zu in=%zu out=%zu", n, in, out);
    if (d.x && d.w && d.b && d.y && d.dy && d.dx && d.dw && d.db) {
        const double fl = 2.0 * (double)(n * in * out);
        if (bk_time(run_dense_fwd, &d, 0.05, &s, &cs) == 0) {
            bk_report(json, "dense_fwd", shape, s, cs, fl);
            if (bk_time(run_dense_bwd, &d, 0.05, &s, &cs) == 0) {
                bk_report(json, "dense_bwd", shape, s, cs, 2 * fl);
                rc = 0;
            }
        }
    }
    free(d.x), free(d.w), free(d.b), free(d.y), free(d.dy), free(d.dx), free(d.dw), free(d.db);
    return rc;
}

/* ---- convolution (im2col + sgemm) ---- */
typedef struct conv_b {
    float *x, *w, *b, *y, *dy, *dx, *dw, *db, *col;
    size_t n, c, f, h, wd, chunk;
} conv_b;

static int run_conv_fwd(void *p)
{
    conv_b *d = p;
    fl_conv3x3_forward(d->y, d->x, d->w, d->b, d->n, d->c, d->f, d->h, d->wd, d->col, d->chunk, 0);
    return 0;
}

static int run_conv_bwd(void *p)
{
    conv_b *d = p;
    memset(d->dx, 0, d->c * d->n * d->h * d->wd * sizeof *d->dx);
    fl_conv3x3_backward(d->dx, d->dw, d->db, d->dy, d->x, d->w, d->n, d->c, d->f, d->h, d->wd,
                        d->col, d->chunk);
    return 0;
}

/* chunk as fl_model picks it (a column matrix of at most 2^18 floats) */
static int bench_conv(int json, size_t n, size_t c, size_t f, size_t h, size_t w, am_rng *r)
{
    const size_t per = c * 9 * h * w;
    size_t chunk = per >= ((size_t)1 << 18) ? 1 : ((size_t)1 << 18) / per;
    chunk = chunk > n ? n : chunk;
    const size_t nx = c * n * h * w, ny = f * n * h * w;
    conv_b d = {bk_rand(nx, r),
                bk_rand(f * c * 9, r),
                bk_rand(f, r),
                bk_rand(ny, r),
                bk_rand(ny, r),
                bk_rand(nx, r),
                bk_rand(f * c * 9, r),
                bk_rand(f, r),
                bk_rand(fl_conv3x3_col_floats(c, h, w, chunk), r),
                n,
                c,
                f,
                h,
                w,
                chunk};
    int rc = -1;
    double s, cs;
    char shape[64];
    snprintf(shape, sizeof shape, "n=%zu %zux%zux%zu -> %zu", n, c, h, w, f);
    if (d.x && d.w && d.b && d.y && d.dy && d.dx && d.dw && d.db && d.col) {
        const double fl = 2.0 * (double)(f * c * 9 * h * w * n);
        if (bk_time(run_conv_fwd, &d, 0.1, &s, &cs) == 0) {
            bk_report(json, "conv3x3_fwd", shape, s, cs, fl);
            if (bk_time(run_conv_bwd, &d, 0.1, &s, &cs) == 0) {
                bk_report(json, "conv3x3_bwd", shape, s, cs, 2 * fl);
                rc = 0;
            }
        }
    }
    free(d.x), free(d.w), free(d.b), free(d.y), free(d.dy), free(d.dx), free(d.dw), free(d.db),
        free(d.col);
    return rc;
}

/* ---- whole model ---- */
typedef struct model_b {
    fl_model *m;
    float *theta, *g, *v, *hv, loss;
    fl_batch b;
    fl_loss kind;
} model_b;

static int run_loss_grad(void *p)
{
    model_b *d = p;
    return fl_model_loss_grad(d->m, d->theta, &d->b, d->kind, &d->loss, d->g) != AM_OK;
}

static int run_hvp(void *p)
{
    model_b *d = p;
    return fl_model_hvp(d->m, d->theta, &d->b, d->kind, d->v, d->hv) != AM_OK;
}

static int run_forward(void *p)
{
    model_b *d = p;
    return fl_model_forward(d->m, d->theta, d->b.x, d->b.n, d->hv) != AM_OK;
}

static int bench_model(int json, fl_model *m, size_t n, const char *name, am_rng *r)
{
    const size_t P = fl_model_nparams(m), in = fl_model_in_dim(m), out = fl_model_out_dim(m);
    model_b d = {.m = m, .kind = fl_model_default_loss(m)};
    d.theta = malloc(P * sizeof(float));
    d.g = malloc(P * sizeof(float));
    d.v = bk_rand(P, r);
    d.hv = malloc((P > n * out ? P : n * out) * sizeof(float));
    float *x = bk_rand(n * in, r), *y = bk_rand(n * out, r);
    int32_t *lab = malloc(n * sizeof *lab);
    int rc = -1;
    if (d.theta && d.g && d.v && d.hv && x && y && lab && fl_model_init(m, d.theta, r) == AM_OK) {
        for (size_t i = 0; i < n; i++)
            lab[i] = (int32_t)(i % out);
        d.b = (fl_batch){.x = x, .y = y, .label = lab, .n = n};
        char shape[96];
        snprintf(shape, sizeof shape, "%s batch %zu", name, n);
        const double rep = 0.05;
        double s, cs;
        if (bk_time(run_forward, &d, rep, &s, &cs) == 0) {
            bk_report(json, "model_forward", shape, s, cs, 0);
            if (bk_time(run_loss_grad, &d, rep, &s, &cs) == 0) {
                bk_report(json, "model_loss_grad", shape, s, cs, 0);
                if (bk_time(run_hvp, &d, rep, &s, &cs) == 0) {
                    bk_report(json, "model_hvp", shape, s, cs, 0);
                    rc = 0;
                }
            }
        }
    }
    if (rc)
        fprintf(stderr, "bench fl: %s: %s\n", name, am_last_error());
    free(d.theta), free(d.g), free(d.v), free(d.hv), free(x), free(y), free(lab);
    return rc;
}

int bench_fl_kernels(int json, unsigned reps)
{
    bk_reps = reps >= 1 && reps <= BENCH_REPS_MAX ? reps : 7;
    fl_blas_set_threads(1);
    am_rng r;
    am_rng_seed(&r, 1);
    if (!json)
        printf("fl kernels (OpenBLAS; LIBXSMM where every dimension is <= 64; 1 thread; medians "
               "of %u repetitions: wall, thread CPU)\n",
               bk_reps);
    /* dense: the sinusoid MLP's hidden layer, the CNN head (5-way), a large layer */
    if (bench_dense(json, 10, 40, 40, &r) || bench_dense(json, 100, 64, 5, &r) ||
        bench_dense(json, 256, 512, 512, &r))
        return 1;
    /* conv: the 4 blocks of the 1x28x28 / 64-filter net on 25 images (5-way 5-shot) */
    if (bench_conv(json, 25, 1, 64, 28, 28, &r) || bench_conv(json, 25, 64, 64, 14, 14, &r) ||
        bench_conv(json, 25, 64, 64, 7, 7, &r) || bench_conv(json, 25, 64, 64, 3, 3, &r))
        return 1;

    const unsigned widths[] = {1, 40, 40, 1};
    fl_mlp_cfg mc = {.widths = widths, .nwidths = 4, .max_batch = 10};
    fl_model *m = NULL;
    if (fl_model_create_mlp(&mc, &m) != AM_OK) {
        fprintf(stderr, "bench fl: %s\n", am_last_error());
        return 1;
    }
    int rc = bench_model(json, m, 10, "mlp 1-40-40-1", &r);
    fl_model_destroy(m);
    if (rc)
        return 1;
    fl_cnn_cfg cc;
    fl_cnn_cfg_default(&cc);
    cc.max_batch = 25;
    if (fl_model_create_cnn(&cc, &m) != AM_OK) {
        fprintf(stderr, "bench fl: %s\n", am_last_error());
        return 1;
    }
    rc = bench_model(json, m, 25, "cnn 1x28x28 4x64 bn 5-way", &r);
    fl_model_destroy(m);
    return rc ? 1 : 0;
}
