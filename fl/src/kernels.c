/* fl/kernels (BLAS part): dense and 3x3 convolution layers on cblas_sgemm, im2col / col2im.
 * Issue 3 item 1. The only airmeta file that includes <cblas.h>. */
#include "fl/kernels.h"

#include "clones.h"

#include <cblas.h>
#include <immintrin.h>
#include <libxsmm.h>
#include <stdint.h>
#include <string.h>

/* Rows of the batch are samples; OpenBLAS takes int sizes (checked against INT_MAX at model
 * create: every size here is a product of validated configuration values). */
#define BI(x) ((blasint)(x))

/* C [M x N] += a b^T (a with stride ia, b with ib): row i is C_i += a_i b, the axpy that
 * cblas_sger runs per row, written out because at the sizes of the sinusoid MLP (10 x 40) the
 * call costs ~5x the 400 multiply-adds. Fused multiply-adds, as OpenBLAS's axpy kernels on CPUs
 * with FMA (Haswell and later): the same bytes as cblas_sger there (fl.kernels.dense_unit_inner
 * checks the fused arithmetic). Only called on CPUs with FMA. */
__attribute__((target("fma"))) static void ger_fma(
    size_t M, size_t N, const float *a, size_t ia, const float *b, size_t ib, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        const float s = a[i * ia];
        float *c = C + i * ldc;
        if (ib == 1)
            for (size_t j = 0; j < N; j++)
                c[j] = __builtin_fmaf(s, b[j], c[j]);
        else
            for (size_t j = 0; j < N; j++)
                c[j] = __builtin_fmaf(s, b[j * ib], c[j]);
    }
}

typedef float v4f __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32)));

/* xt [c x r] = x^T for x [r x c], in 4 x 4 blocks (a loop of scalar copies costs 2-4x more at
 * 10 x 40; the blocks are exact copies, as the loop's). */
static inline void transpose(float *xt, const float *x, size_t r, size_t c)
{
    size_t i = 0;
    for (; i + 4 <= r; i += 4) {
        size_t j = 0;
        for (; j + 4 <= c; j += 4) {
            v4f a, b, d, e;
            memcpy(&a, x + i * c + j, sizeof a);
            memcpy(&b, x + (i + 1) * c + j, sizeof b);
            memcpy(&d, x + (i + 2) * c + j, sizeof d);
            memcpy(&e, x + (i + 3) * c + j, sizeof e);
            const v4f t0 = __builtin_shufflevector(a, b, 0, 4, 1, 5);
            const v4f t1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
            const v4f t2 = __builtin_shufflevector(d, e, 0, 4, 1, 5);
            const v4f t3 = __builtin_shufflevector(d, e, 2, 6, 3, 7);
            const v4f o0 = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
            const v4f o1 = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
            const v4f o2 = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
            const v4f o3 = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
            memcpy(xt + j * r + i, &o0, sizeof o0);
            memcpy(xt + (j + 1) * r + i, &o1, sizeof o1);
            memcpy(xt + (j + 2) * r + i, &o2, sizeof o2);
            memcpy(xt + (j + 3) * r + i, &o3, sizeof o3);
        }
        for (; j < c; j++)
            for (size_t k = i; k < i + 4; k++)
                xt[j * r + k] = x[k * c + j];
    }
    for (; i < r; i++)
        for (size_t j = 0; j < c; j++)
            xt[j * r + i] = x[i * c + j];
}

#define FL_SMALL_BT 4096u /* floats: small_gemm's B^T, dense_backward's x^T (16 KB a thread) */
static _Thread_local float small_bt[FL_SMALL_BT];

/* transpose() with 8 x 8 AVX blocks where both sizes are multiples of 8 (the MLP's 40 x 40): the
 * same copies, half the shuffles per float. Only called on CPUs with AVX. */
__attribute__((target("avx"))) static void transpose8(float *xt, const float *x, size_t r, size_t c)
{
    for (size_t i = 0; i < r; i += 8)
        for (size_t j = 0; j < c; j += 8) {
            __m256 a[8], t[8];
            for (int k = 0; k < 8; k++)
                a[k] = _mm256_loadu_ps(x + (i + (size_t)k) * c + j);
            for (int k = 0; k < 8; k += 2) {
                t[k] = _mm256_unpacklo_ps(a[k], a[k + 1]);
                t[k + 1] = _mm256_unpackhi_ps(a[k], a[k + 1]);
            }
            for (int k = 0; k < 8; k += 4) {
                a[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
                a[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
                a[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
                a[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
            }
            for (int k = 0; k < 4; k++) {
                _mm256_storeu_ps(xt + (j + (size_t)k) * r + i,
                                 _mm256_permute2f128_ps(a[k], a[k + 4], 0x20));
                _mm256_storeu_ps(xt + (j + (size_t)k + 4) * r + i,
                                 _mm256_permute2f128_ps(a[k], a[k + 4], 0x31));
            }
        }
}

void fl_transpose(float *xt, const float *x, size_t r, size_t c)
{
    if (r % 8 == 0 && c % 8 == 0 && __builtin_cpu_supports("avx"))
        transpose8(xt, x, r, c);
    else
        transpose(xt, x, r, c);
}

/* The kernels this thread dispatched, in a direct-mapped table by shape: LIBXSMM's own dispatch
 * (a descriptor built and hashed per call) costs about a fifth of a 10 x 40 x 40 product. */
#define FL_SMALL_CACHE 256u
typedef struct small_kernel {
    libxsmm_blasint m, n, k, lda, ldb, ldc;
    int flags;
    libxsmm_smmfunction fn;
} small_kernel;
static _Thread_local small_kernel small_cache[FL_SMALL_CACHE];

static libxsmm_smmfunction small_dispatch(libxsmm_blasint m,
                                          libxsmm_blasint n,
                                          libxsmm_blasint k,
                                          libxsmm_blasint lda,
                                          libxsmm_blasint ldb,
                                          libxsmm_blasint ldc,
                                          float beta,
                                          int flags)
{
    if (beta == 0.0f)
        flags |= LIBXSMM_GEMM_FLAG_BETA_0; /* the cache's key only: LIBXSMM sets it from beta */
    /* every field <= 64 (ld* <= 4096 in practice): mixed by a 64-bit multiplicative hash */
    const uint64_t key = (uint64_t)m ^ (uint64_t)n << 7 ^ (uint64_t)k << 14 ^ (uint64_t)lda << 21 ^
                         (uint64_t)ldb << 34 ^ (uint64_t)ldc << 47 ^ (uint64_t)flags << 58;
    small_kernel *e = &small_cache[(key * 0x9E3779B97F4A7C15ull) >> 56];
    if (e->fn && e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb &&
        e->ldc == ldc && e->flags == flags)
        return e->fn;
    const float alpha = 1.0f;
    const int xflags = flags & ~LIBXSMM_GEMM_FLAG_BETA_0;
    const libxsmm_smmfunction fn =
        libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &xflags, NULL);
    if (fn)
        *e = (small_kernel){m, n, k, lda, ldb, ldc, flags, fn};
    return fn;
}

/* Small products (the sinusoid MLP's 10 x 40 x 40, K = 10 or 20 for weight gradients): LIBXSMM's
 * JIT kernel for the exact shape, called directly, where OpenBLAS's sgemm spends more time in its
 * interface, buffer set-up and packing than in its kernel. LIBXSMM is column-major: the row-major
 * C = op(A) op(B) is C^T = op(B)^T op(A)^T there, so B goes first. LIBXSMM 1.17 has no kernel for
 * a transposed first operand (row-major op(B) = B^T): B^T is copied into small_bt (none for a
 * vector) and the plain kernel used. Shapes beyond LIBXSMM's small-matrix limit (64 in each
 * dimension), alpha != 1, and a CPU without a JIT target return 0: the BLAS paths below take
 * them. */
static int small_gemm(enum CBLAS_TRANSPOSE ta,
                      enum CBLAS_TRANSPOSE tb,
                      size_t M,
                      size_t N,
                      size_t K,
                      float alpha,
                      const float *A,
                      size_t lda,
                      const float *B,
                      size_t ldb,
                      float beta,
                      float *C,
                      size_t ldc)
{
    /* N = 1 with K > 1 (a matrix-vector product, the MLP's layer to one output) is a one-row
     * kernel in LIBXSMM's column-major terms, which it runs one float at a time: 142 ns for
     * 10 x 40, against 71 for OpenBLAS's sgemv (51 for the transposed product, 99 in LIBXSMM) */
    if (alpha != 1.0f || (beta != 0.0f && beta != 1.0f) || M > LIBXSMM_CONFIG_MAX_DIM ||
        N > LIBXSMM_CONFIG_MAX_DIM || K > LIBXSMM_CONFIG_MAX_DIM || (N == 1 && K > 1))
        return 0;
    if (tb != CblasNoTrans) {
        if (ldb != K || K * N > FL_SMALL_BT)
            return 0;
        if (K > 1 && N > 1) { /* a vector's transpose is the same floats */
            fl_transpose(small_bt, B, N, K); /* B [N x K] -> B^T [K x N] */
            B = small_bt;
        }
        ldb = N;
    }
    const int flags = ta == CblasNoTrans ? LIBXSMM_GEMM_FLAG_NONE : LIBXSMM_GEMM_FLAG_TRANS_B;
    const libxsmm_smmfunction k =
        small_dispatch((libxsmm_blasint)N, (libxsmm_blasint)M, (libxsmm_blasint)K,
                       (libxsmm_blasint)ldb, (libxsmm_blasint)lda, (libxsmm_blasint)ldc, beta, flags);
    if (!k)
        return 0;
    k(B, A, C);
    return 1;
}

/* C [M x N] = alpha op(A) op(B) + beta C, row-major, beta 0 or 1. cblas_sgemm in general; a
 * product with a unit dimension is matrix-vector (sgemv) or an outer product (sger): the same
 * arithmetic without sgemm's packing and buffer set-up, which dominates at the sizes of the
 * sinusoid MLP (1-40-40-1: the first layer has K = 1, the last N = 1). */
static void gemm(enum CBLAS_TRANSPOSE ta,
                 enum CBLAS_TRANSPOSE tb,
                 size_t M,
                 size_t N,
                 size_t K,
                 float alpha,
                 const float *A,
                 size_t lda,
                 const float *B,
                 size_t ldb,
                 float beta,
                 float *C,
                 size_t ldc)
{
    if (small_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
        return;
    const int na = ta == CblasNoTrans, nb = tb == CblasNoTrans;
    if (N == 1) { /* C column = op(A) * (column op(B)) */
        cblas_sgemv(CblasRowMajor, ta, BI(na ? M : K), BI(na ? K : M), alpha, A, BI(lda), B,
                    BI(nb ? ldb : 1), beta, C, BI(ldc));
    } else if (M == 1) { /* C row^T = op(B)^T * (row op(A))^T */
        cblas_sgemv(CblasRowMajor, nb ? CblasTrans : CblasNoTrans, BI(nb ? K : N), BI(nb ? N : K),
                    alpha, B, BI(ldb), A, BI(na ? 1 : lda), beta, C, 1);
    } else if (K == 1) { /* C = alpha a b^T + beta C */
        if (beta == 0.0f)
            for (size_t i = 0; i < M; i++)
                memset(C + i * ldc, 0, N * sizeof *C);
        if (alpha == 1.0f && __builtin_cpu_supports("fma"))
            ger_fma(M, N, A, na ? lda : 1, B, nb ? 1 : ldb, C, ldc);
        else
            cblas_sger(CblasRowMajor, BI(M), BI(N), alpha, A, BI(na ? lda : 1), B, BI(nb ? 1 : ldb),
                       C, BI(ldc));
    } else {
        cblas_sgemm(CblasRowMajor, ta, tb, BI(M), BI(N), BI(K), alpha, A, BI(lda), B, BI(ldb), beta,
                    C, BI(ldc));
    }
}

void fl_blas_set_threads(int n)
{
    openblas_set_num_threads(n > 0 ? n : 1);
}

/* y [n x out] (=|+=) x [n x in] w [in x out] + b */
FL_CLONES void fl_dense_forward(float *y,
                                const float *x,
                                const float *w,
                                const float *b,
                                size_t n,
                                size_t in,
                                size_t out,
                                int accumulate)
{
    /* the product first, then the bias added to y while it is in L1 (writing b into y first
     * and accumulating onto it cost a pass over a y not yet in cache) */
    gemm(CblasNoTrans, CblasNoTrans, n, out, in, 1.0f, x, in, w, out, accumulate ? 1.0f : 0.0f, y,
         out);
    if (b)
        fl_bias_add(y, b, n, out);
}

FL_CLONES void fl_bias_add(float *y, const float *b, size_t n, size_t out)
{
    for (size_t i = 0; i < n; i++) {
        float *yi = y + i * out;
        for (size_t j = 0; j < out; j++)
            yi[j] += b[j];
    }
}

/* dw [in x out] (=|+=) x^T dy;  db (=|+=) colsum(dy);  dx [n x in] (=|+=) dy w^T: beta 0 or 1 */
#define FL_XT_MAX 1024u /* floats of x^T (in small_bt) */
_Static_assert(FL_XT_MAX <= FL_SMALL_BT, "x^T fits small_bt");
FL_CLONES static void dense_backward(float *dx,
                                     float *dw,
                                     float *db,
                                     const float *dy,
                                     const float *x,
                                     const float *w,
                                     size_t n,
                                     size_t in,
                                     size_t out,
                                     float beta)
{
    if (dw && small_gemm(CblasTrans, CblasNoTrans, in, out, n, 1.0f, x, in, dy, out, beta, dw, out)) {
        /* LIBXSMM's kernel reads x^T in place */
    } else if (dw && n > 1 && in > 1 && out > 1 && n * in <= FL_XT_MAX) {
        /* x^T copied, then a plain product: OpenBLAS's small-matrix kernel for op(A) = A^T is
         * ~25% slower than the one for A at the MLP's sizes (40 x 40, K = 10 or 20); each entry
         * is the same sum in the same order (the same bytes here) */
        float *xt = small_bt; /* FL_XT_MAX <= FL_SMALL_BT, and small_gemm is not using it */
        fl_transpose(xt, x, n, in);
        gemm(CblasNoTrans, CblasNoTrans, in, out, n, 1.0f, xt, n, dy, out, beta, dw, out);
    } else if (dw) {
        gemm(CblasTrans, CblasNoTrans, in, out, n, 1.0f, x, in, dy, out, beta, dw, out);
    }
    if (db) { /* db[j] (=|+=) dy[0][j] + ... in row order, 8 columns at a time kept in registers */
        size_t j = 0;
        for (; j + 8 <= out; j += 8) {
            v8f acc = (v8f){0}, r;
            if (beta != 0.0f)
                memcpy(&acc, db + j, sizeof acc);
            for (size_t i = 0; i < n; i++) {
                memcpy(&r, dy + i * out + j, sizeof r);
                acc += r;
            }
            memcpy(db + j, &acc, sizeof acc);
        }
        for (; j < out; j++) {
            float acc = beta != 0.0f ? db[j] : 0.0f;
            for (size_t i = 0; i < n; i++)
                acc += dy[i * out + j];
            db[j] = acc;
        }
    }
    if (dx)
        gemm(CblasNoTrans, CblasTrans, n, in, out, 1.0f, dy, out, w, out, beta, dx, in);
}

void fl_dense_dx_t(float *dx, const float *dy, const float *wt, size_t n, size_t in, size_t out)
{
    gemm(CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, wt, in, 0.0f, dx, in);
}

void fl_dense_backward(float *dx,
                       float *dw,
                       float *db,
                       const float *dy,
                       const float *x,
                       const float *w,
                       size_t n,
                       size_t in,
                       size_t out)
{
    dense_backward(dx, dw, db, dy, x, w, n, in, out, 1.0f);
}

void fl_dense_backward_set(float *dx,
                           float *dw,
                           float *db,
                           const float *dy,
                           const float *x,
                           const float *w,
                           size_t n,
                           size_t in,
                           size_t out)
{
    dense_backward(dx, dw, db, dy, x, w, n, in, out, 0.0f);
}

size_t fl_conv3x3_col_floats(size_t c, size_t h, size_t w, size_t chunk)
{
    return 2 * c * 9 * chunk * h * w; /* im2col of x and the column gradient (backward) */
}

/* col [c*9 x ns*h*w]: row (ci*9 + ky*3 + kx), column (s*h*w + y*w + x) holds
 * x[ci][n0+s][y+ky-1][x+kx-1], 0 outside the image. */
void fl_im2col3x3(
    float *col, const float *x, size_t c, size_t n, size_t n0, size_t ns, size_t h, size_t w)
{
    const size_t hw = h * w, ncols = ns * hw;
    for (size_t ci = 0; ci < c; ci++)
        for (size_t ky = 0; ky < 3; ky++)
            for (size_t kx = 0; kx < 3; kx++) {
                float *row = col + (ci * 9 + ky * 3 + kx) * ncols;
                for (size_t s = 0; s < ns; s++) {
                    const float *img = x + (ci * n + n0 + s) * hw;
                    float *dst = row + s * hw;
                    for (size_t yy = 0; yy < h; yy++, dst += w) {
                        /* iy = yy + ky - 1 */
                        if ((yy == 0 && ky == 0) || (yy + ky > h)) {
                            memset(dst, 0, w * sizeof *dst);
                            continue;
                        }
                        const float *src = img + (yy + ky - 1) * w;
                        if (kx == 1) {
                            memcpy(dst, src, w * sizeof *dst);
                        } else if (kx == 0) { /* ix = xx - 1 */
                            dst[0] = 0.0f;
                            memcpy(dst + 1, src, (w - 1) * sizeof *dst);
                        } else { /* ix = xx + 1 */
                            memcpy(dst, src + 1, (w - 1) * sizeof *dst);
                            dst[w - 1] = 0.0f;
                        }
                    }
                }
            }
}

/* Adjoint of fl_im2col3x3: x += col2im(col). */
void fl_col2im3x3(
    float *x, const float *col, size_t c, size_t n, size_t n0, size_t ns, size_t h, size_t w)
{
    const size_t hw = h * w, ncols = ns * hw;
    for (size_t ci = 0; ci < c; ci++)
        for (size_t ky = 0; ky < 3; ky++)
            for (size_t kx = 0; kx < 3; kx++) {
                const float *row = col + (ci * 9 + ky * 3 + kx) * ncols;
                for (size_t s = 0; s < ns; s++) {
                    float *img = x + (ci * n + n0 + s) * hw;
                    const float *src = row + s * hw;
                    for (size_t yy = 0; yy < h; yy++, src += w) {
                        if ((yy == 0 && ky == 0) || (yy + ky > h))
                            continue;
                        float *dst = img + (yy + ky - 1) * w;
                        if (kx == 1) {
                            for (size_t xx = 0; xx < w; xx++)
                                dst[xx] += src[xx];
                        } else if (kx == 0) {
                            for (size_t xx = 1; xx < w; xx++)
                                dst[xx - 1] += src[xx];
                        } else {
                            for (size_t xx = 0; xx + 1 < w; xx++)
                                dst[xx + 1] += src[xx];
                        }
                    }
                }
            }
}

/* y [f][n][h][w] (=|+=) w [f x c*9] * im2col(x), chunk by chunk of samples: the output block
 * of samples n0..n0+ns-1 is f rows of ns*h*w contiguous floats with row stride n*h*w. */
void fl_conv3x3_forward(float *y,
                        const float *x,
                        const float *w,
                        const float *b,
                        size_t n,
                        size_t c,
                        size_t f,
                        size_t h,
                        size_t wd,
                        float *col,
                        size_t chunk,
                        int accumulate)
{
    const size_t hw = h * wd, k = c * 9;
    for (size_t n0 = 0; n0 < n; n0 += chunk) {
        const size_t ns = n - n0 < chunk ? n - n0 : chunk;
        float beta = accumulate ? 1.0f : 0.0f;
        if (b) {
            for (size_t fi = 0; fi < f; fi++) {
                float *yf = y + fi * n * hw + n0 * hw;
                for (size_t j = 0; j < ns * hw; j++)
                    yf[j] = accumulate ? yf[j] + b[fi] : b[fi];
            }
            beta = 1.0f;
        }
        fl_im2col3x3(col, x, c, n, n0, ns, h, wd);
        gemm(CblasNoTrans, CblasNoTrans, f, ns * hw, k, 1.0f, w, k, col, ns * hw, beta, y + n0 * hw,
             n * hw);
    }
}

/* dw [f x c*9] += dy im2col(x)^T;  db += per-filter sums of dy;  dx += col2im(w^T dy) */
void fl_conv3x3_backward(float *dx,
                         float *dw,
                         float *db,
                         const float *dy,
                         const float *x,
                         const float *w,
                         size_t n,
                         size_t c,
                         size_t f,
                         size_t h,
                         size_t wd,
                         float *col,
                         size_t chunk)
{
    const size_t hw = h * wd, k = c * 9;
    float *dcol = col + k * chunk * hw;
    if (db)
        for (size_t fi = 0; fi < f; fi++) {
            const float *dyf = dy + fi * n * hw;
            double s = 0.0;
            for (size_t j = 0; j < n * hw; j++)
                s += dyf[j];
            db[fi] += (float)s;
        }
    for (size_t n0 = 0; n0 < n; n0 += chunk) {
        const size_t ns = n - n0 < chunk ? n - n0 : chunk;
        const float *dyc = dy + n0 * hw;
        if (dw) {
            fl_im2col3x3(col, x, c, n, n0, ns, h, wd);
            gemm(CblasNoTrans, CblasTrans, f, k, ns * hw, 1.0f, dyc, n * hw, col, ns * hw, 1.0f, dw,
                 k);
        }
        if (dx) {
            gemm(CblasTrans, CblasNoTrans, k, ns * hw, f, 1.0f, w, k, dyc, n * hw, 0.0f, dcol,
                 ns * hw);
            fl_col2im3x3(dx, dcol, c, n, n0, ns, h, wd);
        }
    }
}
