/* Tests of fl/kernels.h: every layer's and loss's backward (and R-operator) against central
 * finite differences, forwards against closed forms or a naive independent implementation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "fl/kernels.h"
#include "gradcheck.h"

/* max |a - b| <= rtol max|b| + atol over n entries; prints the worst. */
static int
vec_close(const char *what, const float *a, const float *b, size_t n, double rtol, double atol)
{
    double worst = 0.0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > worst) {
            worst = fabs((double)a[i] - b[i]);
            wi = i;
        }
    const double tol = rtol * gc_maxabs(b, n) + atol;
    if (worst > tol)
        fprintf(stderr, "  %s: worst |diff| %.3g at %zu (%.7g vs %.7g) > %.3g\n", what, worst, wi,
                n ? (double)a[wi] : 0.0, n ? (double)b[wi] : 0.0, tol);
    return worst <= tol;
}

/* ---------------------------------------------------------------- dense */
typedef struct dense_ctx {
    float *x, *w, *b, *y, *r;
    size_t n, in, out;
} dense_ctx;

static double dense_f(void *p)
{
    dense_ctx *c = p;
    fl_dense_forward(c->y, c->x, c->w, c->b, c->n, c->in, c->out, 0);
    return gc_dot(c->r, c->y, c->n * c->out);
}

/* y = x w + b against hand-computed numbers; accumulate adds. */
AM_TEST(dense_closed_form, unit)
{
    const float x[2 * 3] = {1, 2, 3, -1, 0, 2};
    const float w[3 * 2] = {1, 0, 0, 1, 2, -1}; /* [3 x 2] */
    const float b[2] = {0.5f, -0.5f};
    float y[4];
    fl_dense_forward(y, x, w, b, 2, 3, 2, 0);
    /* row 0: [1 + 6, 2 - 3] + b = [7.5, -1.5]; row 1: [-1 + 4, 0 - 2] + b = [3.5, -2.5] */
    AM_CHECK_NEAR(y[0], 7.5, 1e-6);
    AM_CHECK_NEAR(y[1], -1.5, 1e-6);
    AM_CHECK_NEAR(y[2], 3.5, 1e-6);
    AM_CHECK_NEAR(y[3], -2.5, 1e-6);
    fl_dense_forward(y, x, w, NULL, 2, 3, 2, 1); /* += x w */
    AM_CHECK_NEAR(y[0], 14.5, 1e-6);
    AM_CHECK_NEAR(y[3], -4.5, 1e-6);
}

AM_TEST(dense_backward_fd, unit)
{
    enum { N = 5, IN = 7, OUT = 4 };
    am_rng rng;
    am_rng_seed(&rng, 11);
    float x[N * IN], w[IN * OUT], b[OUT], y[N * OUT], r[N * OUT];
    float dx[N * IN] = {0}, dw[IN * OUT] = {0}, db[OUT] = {0};
    gc_fill(x, N * IN, &rng, -1, 1);
    gc_fill(w, IN * OUT, &rng, -1, 1);
    gc_fill(b, OUT, &rng, -1, 1);
    gc_fill(r, N * OUT, &rng, -1, 1);
    dense_ctx c = {x, w, b, y, r, N, IN, OUT};
    fl_dense_backward(dx, dw, db, r, x, w, N, IN, OUT);
    AM_CHECK(gc_entries("dx", dense_f, &c, x, N * IN, dx, 1e-3, 1e-2, 1e-3) == 0, "dense dx");
    AM_CHECK(gc_entries("dw", dense_f, &c, w, IN * OUT, dw, 1e-3, 1e-2, 1e-3) == 0, "dense dw");
    AM_CHECK(gc_entries("db", dense_f, &c, b, OUT, db, 1e-3, 1e-2, 1e-3) == 0, "dense db");
    AM_CHECK(gc_direction("dx", dense_f, &c, x, N * IN, dx, 1e-3, 1e-2, &rng), "dense dx dir");
    AM_CHECK(gc_direction("dw", dense_f, &c, w, IN * OUT, dw, 1e-3, 1e-2, &rng), "dense dw dir");
    /* accumulation: a second backward doubles every gradient; NULL outputs are skipped */
    float dw2[IN * OUT];
    memcpy(dw2, dw, sizeof dw);
    fl_dense_backward(NULL, dw, NULL, r, x, w, N, IN, OUT);
    for (size_t i = 0; i < IN * OUT; i++)
        AM_CHECK_NEAR(dw[i], 2 * dw2[i], 1e-5);
}

/* Products with a unit inner dimension (the sinusoid MLP's first layer, in = 1, and its last
 * layer's dx, out = 1) are outer products, each entry one multiply: on a CPU with FMA (where
 * LIBXSMM's kernels use it, fl/kernels.c small_gemm) the accumulated dx_ij = fma(dy_i, w_j, dx_ij)
 * bit for bit, and the forward y_ij = (x_i w_j) + b_j with the bias added after the product
 * (fl_dense_forward), two roundings; elsewhere each within 1e-6. */
AM_TEST(dense_unit_inner, unit)
{
    enum { N = 10, W = 40 };
    am_rng rng;
    am_rng_seed(&rng, 12);
    float x[N], w[W], b[W], y[N * W], dy[N], w2[W], dx[N * W];
    gc_fill(x, N, &rng, -1, 1);
    gc_fill(w, W, &rng, -1, 1);
    gc_fill(b, W, &rng, -1, 1);
    gc_fill(dy, N, &rng, -1, 1);
    gc_fill(w2, W, &rng, -1, 1);
    gc_fill(dx, N * W, &rng, -1, 1);
    float dx0[N * W];
    memcpy(dx0, dx, sizeof dx);
    fl_dense_forward(y, x, w, b, N, 1, W, 0);                 /* y = x w + b, in = 1 */
    fl_dense_backward(dx, NULL, NULL, dy, NULL, w2, N, W, 1); /* dx += dy w2^T, out = 1 */
    const int fused = __builtin_cpu_supports("fma");
    unsigned off = 0;
    double worst = 0.0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < W; j++) {
            const float xw = x[i] * w[j];
            const float fy = xw + b[j], fx = fmaf(dy[i], w2[j], dx0[i * W + j]);
            off += fused && (memcmp(&fy, &y[i * W + j], sizeof fy) != 0 ||
                             memcmp(&fx, &dx[i * W + j], sizeof fx) != 0);
            worst = fmax(worst, fabs((double)fy - y[i * W + j]));
            worst = fmax(worst, fabs((double)fx - dx[i * W + j]));
        }
    AM_CHECK(off == 0, "%u of %u entries differ from (x w) + b and the fused dx", off, 2u * N * W);
    AM_CHECK(worst <= 1e-6, "max |diff| %.3g against (x w) + b and the fused dx", worst);
}

/* fl_dense_forward / fl_dense_backward against double-precision sums, over shapes that take each
 * path of fl/kernels.c's gemm: LIBXSMM's kernels (every dimension <= 64; dx's transposed weights
 * by 8 x 8 AVX blocks when both sizes are multiples of 8, else 4 x 4 blocks and single copies),
 * OpenBLAS's sgemm (a dimension > 64), sgemv / ger (a unit dimension), both beta 0 and 1. Each
 * entry's error is held to the float rounding bound of its sum, gamma_K sum |a_k b_k| with
 * gamma_K = K u / (1 - K u), u = 2^-24 (Higham, Accuracy and Stability, (3.5)), K the terms
 * summed including the bias or the accumulated value: a wrong transpose or stride misses by O(1),
 * and a NaN (an output read where it should have been overwritten) counts as infinite error. */
static double dense_worst_ratio(const float *got, const double *ref, const double *mag, size_t n,
                                size_t terms)
{
    const double u = 0x1p-24, gamma = (double)terms * u / (1.0 - (double)terms * u);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double bound = gamma * mag[i] + 1e-30;
        const double r = fabs((double)got[i] - ref[i]) / bound;
        if (isnan(r))
            return INFINITY;
        worst = fmax(worst, r);
    }
    return worst;
}

AM_TEST(dense_paths_reference, unit)
{
    static const size_t shapes[][3] = {
        {10, 40, 40}, {20, 40, 40}, {10, 1, 40}, {10, 40, 1}, {7, 13, 11}, {3, 24, 16},
        {64, 64, 64}, {65, 40, 40}, {10, 72, 40}, {10, 40, 80}, {1, 40, 40}, {40, 8, 1},
    };
    am_rng rng;
    am_rng_seed(&rng, 21);
    double worst = 0.0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t n = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
        float *x = malloc(n * in * sizeof *x), *w = malloc(in * out * sizeof *w),
              *b = malloc(out * sizeof *b), *y = malloc(n * out * sizeof *y),
              *dy = malloc(n * out * sizeof *dy), *dx = malloc(n * in * sizeof *dx),
              *dw = malloc(in * out * sizeof *dw), *db = malloc(out * sizeof *db);
        double *ref = malloc((n * in + in * out + n * out) * sizeof *ref),
               *mag = malloc((n * in + in * out + n * out) * sizeof *mag);
        AM_CHECK(x && w && b && y && dy && dx && dw && db && ref && mag, "out of memory");
        if (!(x && w && b && y && dy && dx && dw && db && ref && mag))
            return;
        gc_fill(x, n * in, &rng, -1, 1);
        gc_fill(w, in * out, &rng, -1, 1);
        gc_fill(b, out, &rng, -1, 1);
        gc_fill(dy, n * out, &rng, -1, 1);
        gc_fill(dx, n * in, &rng, -1, 1);
        gc_fill(dw, in * out, &rng, -1, 1);
        gc_fill(db, out, &rng, -1, 1);
        for (int acc = 0; acc < 2; acc++) {
            /* y (= or +=) x w + b */
            if (acc)
                gc_fill(y, n * out, &rng, -1, 1);
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < out; j++) {
                    double r = (double)b[j] + (acc ? (double)y[i * out + j] : 0.0);
                    double m = fabs((double)b[j]) + (acc ? fabs((double)y[i * out + j]) : 0.0);
                    for (size_t k = 0; k < in; k++) {
                        r += (double)x[i * in + k] * w[k * out + j];
                        m += fabs((double)x[i * in + k] * w[k * out + j]);
                    }
                    ref[i * out + j] = r;
                    mag[i * out + j] = m;
                }
            fl_dense_forward(y, x, w, b, n, in, out, acc);
            const double rf = dense_worst_ratio(y, ref, mag, n * out, in + 2);
            AM_CHECK(rf <= 1.0, "forward n %zu in %zu out %zu acc %d: error %.3g of the bound", n,
                     in, out, acc, rf);
            worst = fmax(worst, rf);
        }
        /* dx (+)= dy w^T, dw (+)= x^T dy, db (+)= colsum dy: fl_dense_backward adds to the
         * outputs' values, fl_dense_backward_set overwrites them (given NaN, which must not be
         * read) */
        for (int set = 0; set < 2; set++) {
            if (set) {
                for (size_t i = 0; i < n * in; i++)
                    dx[i] = NAN;
                for (size_t i = 0; i < in * out; i++)
                    dw[i] = NAN;
                for (size_t i = 0; i < out; i++)
                    db[i] = NAN;
            }
            double *rdx = ref, *rdw = ref + n * in, *mdx = mag, *mdw = mag + n * in;
            double *rdb = ref + n * in + in * out, *mdb = mag + n * in + in * out;
            for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < in; k++) {
                    double r = set ? 0.0 : dx[i * in + k], m = fabs(r);
                    for (size_t j = 0; j < out; j++) {
                        r += (double)dy[i * out + j] * w[k * out + j];
                        m += fabs((double)dy[i * out + j] * w[k * out + j]);
                    }
                    rdx[i * in + k] = r;
                    mdx[i * in + k] = m;
                }
            for (size_t k = 0; k < in; k++)
                for (size_t j = 0; j < out; j++) {
                    double r = set ? 0.0 : dw[k * out + j], m = fabs(r);
                    for (size_t i = 0; i < n; i++) {
                        r += (double)x[i * in + k] * dy[i * out + j];
                        m += fabs((double)x[i * in + k] * dy[i * out + j]);
                    }
                    rdw[k * out + j] = r;
                    mdw[k * out + j] = m;
                }
            for (size_t j = 0; j < out; j++) {
                double r = set ? 0.0 : db[j], m = fabs(r);
                for (size_t i = 0; i < n; i++) {
                    r += dy[i * out + j];
                    m += fabs((double)dy[i * out + j]);
                }
                rdb[j] = r;
                mdb[j] = m;
            }
            if (set)
                fl_dense_backward_set(dx, dw, db, dy, x, w, n, in, out);
            else
                fl_dense_backward(dx, dw, db, dy, x, w, n, in, out);
            const double rx = dense_worst_ratio(dx, rdx, mdx, n * in, out + 1);
            const double rw = dense_worst_ratio(dw, rdw, mdw, in * out, n + 1);
            const double rb = dense_worst_ratio(db, rdb, mdb, out, n + 1);
            AM_CHECK(rx <= 1.0 && rw <= 1.0 && rb <= 1.0,
                     "backward%s n %zu in %zu out %zu: dx %.3g, dw %.3g, db %.3g of the bound",
                     set ? " (set)" : "", n, in, out, rx, rw, rb);
            worst = fmax(worst, fmax(rx, fmax(rw, rb)));
        }
        free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db);
        free(ref), free(mag);
    }
    if (getenv("AM_VERBOSE"))
        fprintf(stderr, "  dense paths: worst error %.3g of the rounding bound\n", worst);
}

/* ---------------------------------------------------------------- convolution */
typedef struct conv_ctx {
    float *x, *w, *b, *y, *r, *col;
    size_t n, c, f, h, wd, chunk;
} conv_ctx;

static double conv_f(void *p)
{
    conv_ctx *c = p;
    fl_conv3x3_forward(c->y, c->x, c->w, c->b, c->n, c->c, c->f, c->h, c->wd, c->col, c->chunk, 0);
    return gc_dot(c->r, c->y, c->f * c->n * c->h * c->wd);
}

/* Naive direct convolution (CNHW, zero padding) as the independent path. */
static void conv_naive(float *y,
                       const float *x,
                       const float *w,
                       const float *b,
                       size_t n,
                       size_t c,
                       size_t f,
                       size_t h,
                       size_t wd)
{
    for (size_t fi = 0; fi < f; fi++)
        for (size_t ni = 0; ni < n; ni++)
            for (size_t i = 0; i < h; i++)
                for (size_t j = 0; j < wd; j++) {
                    double s = b ? b[fi] : 0.0;
                    for (size_t ci = 0; ci < c; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                long iy = (long)i + ky - 1, ix = (long)j + kx - 1;
                                if (iy < 0 || ix < 0 || iy >= (long)h || ix >= (long)wd)
                                    continue;
                                s += (double)w[fi * c * 9 + ci * 9 + (size_t)(ky * 3 + kx)] *
                                     x[((ci * n + ni) * h + (size_t)iy) * wd + (size_t)ix];
                            }
                    y[((fi * n + ni) * h + i) * wd + j] = (float)s;
                }
}

AM_TEST(conv_forward_naive, unit)
{
    enum { N = 3, C = 2, F = 3, H = 5, W = 4 };
    am_rng rng;
    am_rng_seed(&rng, 12);
    float x[C * N * H * W], w[F * C * 9], b[F], y[F * N * H * W], yr[F * N * H * W];
    gc_fill(x, sizeof x / sizeof *x, &rng, -1, 1);
    gc_fill(w, sizeof w / sizeof *w, &rng, -1, 1);
    gc_fill(b, F, &rng, -1, 1);
    conv_naive(yr, x, w, b, N, C, F, H, W);
    for (size_t chunk = 1; chunk <= N; chunk++) { /* 1, 2 (partial last chunk), all */
        float *col = malloc(fl_conv3x3_col_floats(C, H, W, chunk) * sizeof *col);
        AM_REQUIRE(col, "alloc");
        fl_conv3x3_forward(y, x, w, b, N, C, F, H, W, col, chunk, 0);
        AM_CHECK(vec_close("conv vs naive", y, yr, sizeof y / sizeof *y, 1e-5, 1e-5), "chunk %zu",
                 chunk);
        fl_conv3x3_forward(y, x, w, NULL, N, C, F, H, W, col, chunk, 1); /* += conv without b */
        conv_naive(yr, x, w, NULL, N, C, F, H, W);
        float want[F * N * H * W];
        conv_naive(want, x, w, b, N, C, F, H, W);
        for (size_t i = 0; i < sizeof want / sizeof *want; i++)
            want[i] += yr[i];
        AM_CHECK(vec_close("conv accumulate", y, want, sizeof y / sizeof *y, 1e-5, 1e-5),
                 "chunk %zu", chunk);
        conv_naive(yr, x, w, b, N, C, F, H, W);
        free(col);
    }
}

/* im2col and col2im are adjoint: <col, im2col(x)> = <col2im(col), x>. */
AM_TEST(im2col_adjoint, unit)
{
    enum { N = 4, C = 3, H = 6, W = 5, N0 = 1, NS = 2 };
    am_rng rng;
    am_rng_seed(&rng, 13);
    float x[C * N * H * W], col[C * 9 * NS * H * W], a[C * 9 * NS * H * W], xt[C * N * H * W];
    gc_fill(x, sizeof x / sizeof *x, &rng, -1, 1);
    gc_fill(col, sizeof col / sizeof *col, &rng, -1, 1);
    fl_im2col3x3(a, x, C, N, N0, NS, H, W);
    memset(xt, 0, sizeof xt);
    fl_col2im3x3(xt, col, C, N, N0, NS, H, W);
    const double lhs = gc_dot(col, a, sizeof col / sizeof *col);
    const double rhs = gc_dot(xt, x, sizeof x / sizeof *x);
    AM_CHECK_NEAR(lhs, rhs, 1e-4 * fabs(lhs) + 1e-5);
    /* samples outside n0..n0+ns-1 are untouched by col2im */
    for (size_t ci = 0; ci < C; ci++)
        for (size_t p = 0; p < H * W; p++) {
            AM_CHECK(xt[(ci * N + 0) * H * W + p] == 0.0f, "sample 0 touched");
            AM_CHECK(xt[(ci * N + 3) * H * W + p] == 0.0f, "sample 3 touched");
        }
    /* a centre tap row of im2col is the image itself; a corner of the (ky=0,kx=0) row is padding */
    AM_CHECK(a[(0 * 9 + 4) * NS * H * W + 7] == x[(0 * N + N0) * H * W + 7], "centre tap");
    AM_CHECK(a[(1 * 9 + 0) * NS * H * W + 0] == 0.0f, "padding");
}

AM_TEST(conv_backward_fd, unit)
{
    enum { N = 3, C = 2, F = 3, H = 5, W = 4, CHUNK = 2 };
    am_rng rng;
    am_rng_seed(&rng, 14);
    float x[C * N * H * W], w[F * C * 9], b[F], y[F * N * H * W], r[F * N * H * W];
    float dx[C * N * H * W] = {0}, dw[F * C * 9] = {0}, db[F] = {0};
    gc_fill(x, sizeof x / sizeof *x, &rng, -1, 1);
    gc_fill(w, sizeof w / sizeof *w, &rng, -1, 1);
    gc_fill(b, F, &rng, -1, 1);
    gc_fill(r, sizeof r / sizeof *r, &rng, -1, 1);
    float *col = malloc(fl_conv3x3_col_floats(C, H, W, CHUNK) * sizeof *col);
    AM_REQUIRE(col, "alloc");
    conv_ctx c = {x, w, b, y, r, col, N, C, F, H, W, CHUNK};
    fl_conv3x3_backward(dx, dw, db, r, x, w, N, C, F, H, W, col, CHUNK);
    AM_CHECK(gc_entries("dx", conv_f, &c, x, sizeof x / sizeof *x, dx, 1e-3, 1e-2, 1e-3) == 0,
             "conv dx");
    AM_CHECK(gc_entries("dw", conv_f, &c, w, sizeof w / sizeof *w, dw, 1e-3, 1e-2, 1e-3) == 0,
             "conv dw");
    AM_CHECK(gc_entries("db", conv_f, &c, b, F, db, 1e-3, 1e-2, 1e-3) == 0, "conv db");
    AM_CHECK(gc_direction("dx", conv_f, &c, x, sizeof x / sizeof *x, dx, 1e-3, 1e-2, &rng), "dir");
    AM_CHECK(gc_direction("dw", conv_f, &c, w, sizeof w / sizeof *w, dw, 1e-3, 1e-2, &rng), "dir");
    free(col);
}

/* ---------------------------------------------------------------- batch-norm */
enum { BN_C = 3, BN_M = 12 };
typedef struct bn_ctx {
    float *x, *g, *be, *y, *xhat, *rstd, *r;
} bn_ctx;

static double bn_f(void *p)
{
    bn_ctx *c = p;
    fl_bn_forward(c->y, c->xhat, c->rstd, c->x, c->g, c->be, BN_C, BN_M);
    return gc_dot(c->r, c->y, BN_C * BN_M);
}

AM_TEST(bn_forward_moments, unit)
{
    am_rng rng;
    am_rng_seed(&rng, 15);
    float x[BN_C * BN_M], g[BN_C] = {2.0f, 0.5f, -1.0f}, be[BN_C] = {1.0f, 0.0f, -3.0f};
    float y[BN_C * BN_M], xhat[BN_C * BN_M], rstd[BN_C];
    gc_fill(x, BN_C * BN_M, &rng, -3, 5);
    fl_bn_forward(y, xhat, rstd, x, g, be, BN_C, BN_M);
    for (size_t c = 0; c < BN_C; c++) {
        double s = 0, s2 = 0, mx = 0, vx = 0;
        for (size_t j = 0; j < BN_M; j++) {
            s += y[c * BN_M + j];
            s2 += (double)y[c * BN_M + j] * y[c * BN_M + j];
            mx += x[c * BN_M + j];
        }
        mx /= BN_M;
        for (size_t j = 0; j < BN_M; j++)
            vx += (x[c * BN_M + j] - mx) * (x[c * BN_M + j] - mx);
        vx /= BN_M;
        const double mean = s / BN_M, var = s2 / BN_M - mean * mean;
        AM_CHECK_NEAR(mean, be[c], 1e-5);
        /* var(y) = gamma^2 var / (var + eps) */
        AM_CHECK_NEAR(var, g[c] * g[c] * vx / (vx + FL_BN_EPS), 1e-4);
        AM_CHECK_NEAR(rstd[c], 1.0 / sqrt(vx + FL_BN_EPS), 1e-5);
    }
}

AM_TEST(bn_backward_fd, unit)
{
    am_rng rng;
    am_rng_seed(&rng, 16);
    float x[BN_C * BN_M], g[BN_C], be[BN_C], y[BN_C * BN_M], xhat[BN_C * BN_M], rstd[BN_C];
    float r[BN_C * BN_M], dx[BN_C * BN_M] = {0}, dg[BN_C] = {0}, dbe[BN_C] = {0};
    gc_fill(x, BN_C * BN_M, &rng, -2, 2);
    gc_fill(g, BN_C, &rng, 0.5, 2);
    gc_fill(be, BN_C, &rng, -1, 1);
    gc_fill(r, BN_C * BN_M, &rng, -1, 1);
    bn_ctx c = {x, g, be, y, xhat, rstd, r};
    bn_f(&c);
    fl_bn_backward(dx, dg, dbe, r, xhat, rstd, g, BN_C, BN_M);
    AM_CHECK(gc_entries("dx", bn_f, &c, x, BN_C * BN_M, dx, 1e-3, 1e-2, 1e-3) == 0, "bn dx");
    AM_CHECK(gc_entries("dgamma", bn_f, &c, g, BN_C, dg, 1e-3, 1e-2, 1e-3) == 0, "bn dgamma");
    AM_CHECK(gc_entries("dbeta", bn_f, &c, be, BN_C, dbe, 1e-3, 1e-2, 1e-3) == 0, "bn dbeta");
    AM_CHECK(gc_direction("dx", bn_f, &c, x, BN_C * BN_M, dx, 1e-3, 1e-2, &rng), "bn dx dir");
    /* the input gradient of a normalised channel sums to zero (shift invariance) */
    for (size_t ci = 0; ci < BN_C; ci++) {
        double s = 0;
        for (size_t j = 0; j < BN_M; j++)
            s += dx[ci * BN_M + j];
        AM_CHECK_NEAR(s, 0.0, 1e-5);
    }
}

/* R-forward = directional derivative of the forward; R-backward = directional derivative of the
 * backward (along x -> x + e rx, gamma -> gamma + e vg, beta -> beta + e vb, dy -> dy + e rdy). */
AM_TEST(bn_rop_fd, unit)
{
    enum { T = BN_C * BN_M };
    am_rng rng;
    am_rng_seed(&rng, 17);
    float x[T], g[BN_C], be[BN_C], dy[T], rx[T], vg[BN_C], vb[BN_C], rdy[T];
    gc_fill(x, T, &rng, -2, 2);
    gc_fill(g, BN_C, &rng, 0.5, 2);
    gc_fill(be, BN_C, &rng, -1, 1);
    gc_fill(dy, T, &rng, -1, 1);
    gc_fill(rx, T, &rng, -1, 1);
    gc_fill(vg, BN_C, &rng, -1, 1);
    gc_fill(vb, BN_C, &rng, -1, 1);
    gc_fill(rdy, T, &rng, -1, 1);
    float y[T], xhat[T], rstd[BN_C], ry[T], rxhat[T];
    float rdx[T] = {0}, rdg[BN_C] = {0}, rdb[BN_C] = {0};
    fl_bn_forward(y, xhat, rstd, x, g, be, BN_C, BN_M);
    fl_bn_rforward(ry, rxhat, rx, xhat, rstd, g, vg, vb, BN_C, BN_M);
    fl_bn_rbackward(rdx, rdg, rdb, dy, rdy, xhat, rxhat, rx, rstd, g, vg, BN_C, BN_M);

    const double e = 1e-3;
    float yp[T], ym[T], hp[T], hm[T], sp[BN_C], sm[BN_C];
    float dxp[T] = {0}, dxm[T] = {0}, dgp[BN_C] = {0}, dgm[BN_C] = {0}, dbp[BN_C] = {0},
          dbm[BN_C] = {0};
    float xs[T], gs[BN_C], bs[BN_C], dys[T];
    for (int sgn = -1; sgn <= 1; sgn += 2) {
        for (size_t i = 0; i < T; i++) {
            xs[i] = (float)(x[i] + sgn * e * rx[i]);
            dys[i] = (float)(dy[i] + sgn * e * rdy[i]);
        }
        for (size_t i = 0; i < BN_C; i++) {
            gs[i] = (float)(g[i] + sgn * e * vg[i]);
            bs[i] = (float)(be[i] + sgn * e * vb[i]);
        }
        float *yy = sgn > 0 ? yp : ym, *hh = sgn > 0 ? hp : hm, *ss = sgn > 0 ? sp : sm;
        fl_bn_forward(yy, hh, ss, xs, gs, bs, BN_C, BN_M);
        fl_bn_backward(sgn > 0 ? dxp : dxm, sgn > 0 ? dgp : dgm, sgn > 0 ? dbp : dbm, dys, hh, ss,
                       gs, BN_C, BN_M);
    }
    float fy[T], fh[T], fdx[T], fdg[BN_C], fdb[BN_C];
    for (size_t i = 0; i < T; i++) {
        fy[i] = (float)((yp[i] - ym[i]) / (2 * e));
        fh[i] = (float)((hp[i] - hm[i]) / (2 * e));
        fdx[i] = (float)((dxp[i] - dxm[i]) / (2 * e));
    }
    for (size_t i = 0; i < BN_C; i++) {
        fdg[i] = (float)((dgp[i] - dgm[i]) / (2 * e));
        fdb[i] = (float)((dbp[i] - dbm[i]) / (2 * e));
    }
    AM_CHECK(vec_close("R{y}", ry, fy, T, 1e-2, 1e-3), "bn rforward y");
    AM_CHECK(vec_close("R{xhat}", rxhat, fh, T, 1e-2, 1e-3), "bn rforward xhat");
    AM_CHECK(vec_close("R{dx}", rdx, fdx, T, 1e-2, 1e-3), "bn rbackward dx");
    AM_CHECK(vec_close("R{dgamma}", rdg, fdg, BN_C, 1e-2, 1e-3), "bn rbackward dgamma");
    AM_CHECK(vec_close("R{dbeta}", rdb, fdb, BN_C, 1e-2, 1e-3), "bn rbackward dbeta");
}

/* ---------------------------------------------------------------- ReLU, max-pool */
typedef struct pw_ctx {
    float *x, *y, *r;
    int32_t *idx;
    size_t n, p, h, w;
} pw_ctx;

static double relu_f(void *p)
{
    pw_ctx *c = p;
    fl_relu_forward(c->y, c->x, c->n);
    return gc_dot(c->r, c->y, c->n);
}

AM_TEST(relu_fd, unit)
{
    enum { N = 40 };
    am_rng rng;
    am_rng_seed(&rng, 18);
    float x[N], y[N], r[N], dx[N];
    gc_fill(r, N, &rng, -1, 1);
    for (size_t i = 0; i < N; i++) { /* keep clear of the kink: |x| >= 0.05 > eps */
        const double u = am_rng_uniform_range(&rng, 0.05, 1.0);
        x[i] = (float)(i % 2 ? u : -u);
    }
    pw_ctx c = {x, y, r, NULL, N, 0, 0, 0};
    relu_f(&c);
    for (size_t i = 0; i < N; i++)
        AM_CHECK(y[i] == (x[i] > 0 ? x[i] : 0.0f), "relu(%g) = %g", (double)x[i], (double)y[i]);
    fl_relu_mask(dx, r, y, N);
    AM_CHECK(gc_entries("dx", relu_f, &c, x, N, dx, 1e-3, 1e-3, 1e-4) == 0, "relu dx");
    AM_CHECK(gc_direction("dx", relu_f, &c, x, N, dx, 1e-3, 1e-3, &rng), "relu dx dir");
}

/* fl_bias_relu and fl_bias_mask against their definitions, entry by entry, bit for bit: relu(y + b)
 * and (r + b) [y > 0] in float, with the edges the fused loops must keep: a sum that is exactly
 * 0 or -0, NaN (kept by the forward, cleared by a closed mask), and row lengths that are not a
 * multiple of 8 (the vector loops' tails). Also against the two-pass kernels they replace. */
AM_TEST(bias_relu_fused, unit)
{
    enum { NR = 10, MAXW = 43 };
    am_rng rng;
    am_rng_seed(&rng, 31);
    static const size_t widths[] = {40, 43, 1, 8};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const size_t out = widths[wi], n = NR * out;
        float y[NR * MAXW], y2[NR * MAXW], r[NR * MAXW], r2[NR * MAXW], b[MAXW], ref[NR * MAXW];
        gc_fill(y, n, &rng, -1, 1);
        gc_fill(r, n, &rng, -1, 1);
        gc_fill(b, out, &rng, -1, 1);
        y[0] = -b[0];                 /* y + b = +0 */
        y[out > 1 ? 1 : 0] = -0.0f;   /* -0 + b */
        y[n - 1] = (float)NAN;        /* NaN through the forward */
        r[n / 2] = (float)NAN;        /* NaN under the mask */
        memcpy(y2, y, n * sizeof *y);
        memcpy(r2, r, n * sizeof *r);
        for (size_t i = 0; i < n; i++) {
            const float v = y[i] + b[i % out];
            ref[i] = v < 0.0f ? 0.0f : v;
        }
        fl_bias_relu(y, b, NR, out);
        AM_CHECK(memcmp(y, ref, n * sizeof *y) == 0, "bias_relu, width %zu: bits differ", out);
        fl_bias_add(y2, b, NR, out);
        fl_relu_forward(y2, y2, n);
        AM_CHECK(memcmp(y, y2, n * sizeof *y) == 0, "bias_relu, width %zu: not bias_add + relu",
                 out);
        for (size_t i = 0; i < n; i++)
            ref[i] = y[i] > 0.0f ? r[i] + b[i % out] : 0.0f;
        fl_bias_mask(r, b, y, NR, out);
        AM_CHECK(memcmp(r, ref, n * sizeof *r) == 0, "bias_mask, width %zu: bits differ", out);
        fl_bias_add(r2, b, NR, out);
        fl_relu_mask(r2, r2, y, n);
        AM_CHECK(memcmp(r, r2, n * sizeof *r) == 0, "bias_mask, width %zu: not bias_add + mask",
                 out);
    }
}

static double pool_f(void *p)
{
    pw_ctx *c = p;
    fl_maxpool2_forward(c->y, c->idx, c->x, c->p, c->h, c->w);
    return gc_dot(c->r, c->y, c->p * (c->h / 2) * (c->w / 2));
}

AM_TEST(maxpool_fd, unit)
{
    enum { P = 3, H = 5, W = 7, NI = P * H * W, NO = P * (H / 2) * (W / 2) };
    am_rng rng;
    am_rng_seed(&rng, 19);
    /* distinct values 0.01 apart (a shuffled ramp): no ties, and eps = 1e-3 never reorders */
    uint32_t perm[NI];
    for (uint32_t i = 0; i < NI; i++)
        perm[i] = i;
    am_rng_partial_shuffle(&rng, perm, NI, NI);
    float x[NI], y[NO], r[NO], dx[NI], rx[NI], ry[NO];
    int32_t idx[NO];
    for (size_t i = 0; i < NI; i++)
        x[i] = 0.01f * (float)perm[i] - 0.5f;
    gc_fill(r, NO, &rng, -1, 1);
    pw_ctx c = {x, y, r, idx, 0, P, H, W};
    pool_f(&c);
    /* forward against the definition (floor: last row 4 and column 6 are dropped) */
    for (size_t p = 0; p < P; p++)
        for (size_t i = 0; i < H / 2; i++)
            for (size_t j = 0; j < W / 2; j++) {
                const float *xp = x + p * H * W;
                float m = xp[2 * i * W + 2 * j];
                m = fmaxf(m, xp[2 * i * W + 2 * j + 1]);
                m = fmaxf(m, xp[(2 * i + 1) * W + 2 * j]);
                m = fmaxf(m, xp[(2 * i + 1) * W + 2 * j + 1]);
                AM_CHECK(y[(p * (H / 2) + i) * (W / 2) + j] == m, "pool max");
            }
    fl_maxpool2_backward(dx, r, idx, P, H, W);
    AM_CHECK(gc_entries("dx", pool_f, &c, x, NI, dx, 1e-3, 1e-3, 1e-4) == 0, "pool dx");
    /* R-forward (gather) = directional derivative of the forward */
    gc_fill(rx, NI, &rng, -1, 1);
    fl_maxpool2_gather(ry, rx, idx, P, H, W);
    float xp[NI], xm[NI], yp[NO], ym[NO], fd[NO];
    int32_t ix2[NO];
    for (size_t i = 0; i < NI; i++) {
        xp[i] = x[i] + 1e-3f * rx[i];
        xm[i] = x[i] - 1e-3f * rx[i];
    }
    fl_maxpool2_forward(yp, ix2, xp, P, H, W);
    fl_maxpool2_forward(ym, ix2, xm, P, H, W);
    for (size_t i = 0; i < NO; i++)
        fd[i] = (yp[i] - ym[i]) / 2e-3f;
    AM_CHECK(vec_close("pool R-forward", ry, fd, NO, 1e-2, 1e-4), "pool gather");
}

/* ---------------------------------------------------------------- losses */
typedef struct loss_ctx {
    float *out, *y, *prob;
    int32_t *label;
    size_t n, k;
} loss_ctx;

static double mse_f(void *p)
{
    loss_ctx *c = p;
    return fl_mse_forward_backward(NULL, c->out, c->y, c->n, c->k);
}

static double xent_f(void *p)
{
    loss_ctx *c = p;
    return fl_xent_forward_backward(NULL, c->prob, c->out, c->label, c->n, c->k);
}

AM_TEST(mse_closed_form_fd, unit)
{
    float out[4] = {1, 2, 3, 4}, y[4] = {0, 2, 5, 3}, d[4];
    /* diffs 1, 0, -2, 1: L = 6/4; dL/dout = 2/4 diff */
    AM_CHECK_NEAR(fl_mse_forward_backward(d, out, y, 2, 2), 1.5, 1e-6);
    AM_CHECK_NEAR(d[0], 0.5, 1e-6);
    AM_CHECK_NEAR(d[1], 0.0, 1e-6);
    AM_CHECK_NEAR(d[2], -1.0, 1e-6);
    AM_CHECK_NEAR(d[3], 0.5, 1e-6);
    enum { N = 6, K = 3 };
    am_rng rng;
    am_rng_seed(&rng, 20);
    float o[N * K], t[N * K], g[N * K], ro[N * K], rg[N * K];
    gc_fill(o, N * K, &rng, -2, 2);
    gc_fill(t, N * K, &rng, -2, 2);
    loss_ctx c = {o, t, NULL, NULL, N, K};
    fl_mse_forward_backward(g, o, t, N, K);
    AM_CHECK(gc_entries("dout", mse_f, &c, o, N * K, g, 1e-3, 1e-2, 1e-3) == 0, "mse grad");
    /* R{dout} = derivative of the gradient along ro (the gradient is affine in out) */
    gc_fill(ro, N * K, &rng, -1, 1);
    fl_mse_rbackward(rg, ro, N, K);
    float op[N * K], om[N * K], gp[N * K], gm[N * K], fd[N * K];
    for (size_t i = 0; i < N * K; i++) {
        op[i] = o[i] + 1e-2f * ro[i];
        om[i] = o[i] - 1e-2f * ro[i];
    }
    fl_mse_forward_backward(gp, op, t, N, K);
    fl_mse_forward_backward(gm, om, t, N, K);
    for (size_t i = 0; i < N * K; i++)
        fd[i] = (gp[i] - gm[i]) / 2e-2f;
    AM_CHECK(vec_close("mse R", rg, fd, N * K, 1e-3, 1e-5), "mse rbackward");
}

AM_TEST(xent_closed_form_fd, unit)
{
    /* row 0: logits (0, ln 2, ln 3), label 2: L0 = ln 6 - ln 3 = ln 2, p = (1, 2, 3)/6;
     * row 1: (1, 1, 1), label 0: L1 = ln 3, p = 1/3 each.  L = (ln 2 + ln 3)/2 = ln 6 / 2. */
    float z[6] = {0.0f, logf(2.0f), logf(3.0f), 1.0f, 1.0f, 1.0f}, p[6], d[6];
    int32_t lab[2] = {2, 0};
    AM_CHECK_NEAR(fl_xent_forward_backward(d, p, z, lab, 2, 3), 0.5 * log(6.0), 1e-6);
    AM_CHECK_NEAR(p[0], 1.0 / 6, 1e-6);
    AM_CHECK_NEAR(p[1], 2.0 / 6, 1e-6);
    AM_CHECK_NEAR(p[2], 3.0 / 6, 1e-6);
    AM_CHECK_NEAR(d[2], (0.5 - 1.0) / 2, 1e-6);
    AM_CHECK_NEAR(d[3], (1.0 / 3 - 1.0) / 2, 1e-6);
    AM_CHECK_NEAR(d[4], (1.0 / 3) / 2, 1e-6);
    /* stable for huge logits: L = 0 for the dominant class, 2000 for the smallest */
    float big[3] = {1000.0f, 0.0f, -1000.0f};
    int32_t l0 = 0, l2 = 2;
    AM_CHECK_NEAR(fl_xent_forward_backward(NULL, p, big, &l0, 1, 3), 0.0, 1e-6);
    AM_CHECK_NEAR(fl_xent_forward_backward(NULL, p, big, &l2, 1, 3), 2000.0, 1e-3);

    enum { N = 5, K = 4 };
    am_rng rng;
    am_rng_seed(&rng, 21);
    float o[N * K], pr[N * K], g[N * K], ro[N * K], rg[N * K];
    int32_t labels[N];
    gc_fill(o, N * K, &rng, -3, 3);
    for (size_t i = 0; i < N; i++)
        labels[i] = (int32_t)am_rng_below(&rng, K);
    loss_ctx c = {o, NULL, pr, labels, N, K};
    fl_xent_forward_backward(g, pr, o, labels, N, K);
    AM_CHECK(gc_entries("dlogits", xent_f, &c, o, N * K, g, 1e-3, 1e-2, 1e-3) == 0, "xent grad");
    AM_CHECK(gc_direction("dlogits", xent_f, &c, o, N * K, g, 1e-3, 1e-2, &rng), "xent dir");
    /* R{dlogits} against the central difference of the gradient */
    fl_xent_forward_backward(g, pr, o, labels, N, K);
    gc_fill(ro, N * K, &rng, -1, 1);
    fl_xent_rbackward(rg, pr, ro, N, K);
    float op[N * K], om[N * K], gp[N * K], gm[N * K], fd[N * K], tmp[N * K];
    for (size_t i = 0; i < N * K; i++) {
        op[i] = o[i] + 1e-3f * ro[i];
        om[i] = o[i] - 1e-3f * ro[i];
    }
    fl_xent_forward_backward(gp, tmp, op, labels, N, K);
    fl_xent_forward_backward(gm, tmp, om, labels, N, K);
    for (size_t i = 0; i < N * K; i++)
        fd[i] = (gp[i] - gm[i]) / 2e-3f;
    AM_CHECK(vec_close("xent R", rg, fd, N * K, 1e-2, 1e-4), "xent rbackward");
}

/* ---------------------------------------------------------------- layouts */
AM_TEST(layout_roundtrip, unit)
{
    enum { N = 3, C = 4, HW = 5 };
    float a[N * C * HW], b[N * C * HW], back[N * C * HW];
    for (size_t i = 0; i < N * C * HW; i++)
        a[i] = (float)i;
    fl_nchw_to_cnhw(b, a, N, C, HW);
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t p = 0; p < HW; p++)
                AM_CHECK(b[(c * N + n) * HW + p] == a[(n * C + c) * HW + p], "cnhw index");
    fl_cnhw_to_nchw(back, b, N, C, HW);
    AM_CHECK(memcmp(a, back, sizeof a) == 0, "roundtrip");
}
