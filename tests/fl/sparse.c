/* fl/sparse: top-k against a sort-based reference, random-k exactly k and uniform, and the
 * error-feedback memory's bounded residual (docs/paper.md §2-§3). */
#include <float.h>

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "fl/agg.h"
#include "fl/sparse.h"

typedef struct ref_item {
    float mag;
    size_t i;
} ref_item;

/* Reference order: magnitude descending, then index ascending (the documented tie rule). */
static int ref_cmp(const void *a, const void *b)
{
    const ref_item *x = a, *y = b;
    if (x->mag != y->mag)
        return x->mag > y->mag ? -1 : 1;
    return x->i < y->i ? -1 : (x->i > y->i);
}

static void fill(am_rng *r, float *v, size_t d, int mode)
{
    for (size_t i = 0; i < d; i++) {
        double g = am_rng_normal(r);
        if (mode == 1) /* heavy ties: a few quantised levels and many exact zeros */
            g = (am_rng_uniform(r) < 0.4) ? 0.0 : (double)((int)(g * 3.0)) / 3.0;
        else if (mode == 2) /* sorted input (quickselect's classic worst case) */
            g = (double)i * 1e-3;
        v[i] = (float)g;
    }
}

AM_TEST(topk_vs_sort, unit)
{
    const size_t dims[] = {1, 2, 7, 100, 1001, 20000};
    am_rng r;
    am_rng_seed(&r, 11);
    int cases = 0;
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        const size_t d = dims[di];
        float *v = malloc(d * sizeof *v), *x = malloc(d * sizeof *x);
        ref_item *it = malloc(d * sizeof *it);
        unsigned char *want = malloc(d);
        AM_REQUIRE(v && x && it && want, "alloc");
        const size_t ks[] = {1, (d + 9) / 10, d / 2 ? d / 2 : 1, d};
        for (int mode = 0; mode < 3; mode++) {
            for (size_t ki = 0; ki < 4; ki++) {
                fl_sparse_cfg cfg;
                fl_sparse_cfg_default(&cfg);
                cfg.dim = d;
                cfg.kind = FL_SPARSE_TOPK;
                cfg.s = ks[ki];
                fl_sparse *q = NULL;
                AM_REQUIRE_OK(fl_sparse_create(&cfg, &q));
                AM_CHECK(fl_sparse_k(q) == ks[ki], "k = %zu, asked %zu", fl_sparse_k(q), ks[ki]);
                fill(&r, v, d, mode);
                fl_sparse_execute(q, v, x, NULL);
                for (size_t i = 0; i < d; i++) {
                    it[i].mag = fabsf(v[i]);
                    it[i].i = i;
                }
                qsort(it, d, sizeof *it, ref_cmp);
                memset(want, 0, d);
                for (size_t i = 0; i < ks[ki]; i++)
                    want[it[i].i] = 1;
                size_t bad = 0;
                for (size_t i = 0; i < d; i++)
                    bad += x[i] != (want[i] ? v[i] : 0.0f);
                AM_CHECK(bad == 0, "d=%zu k=%zu mode=%d: %zu entries differ from the sort", d,
                         ks[ki], mode, bad);
                cases++;
                fl_sparse_destroy(q);
            }
        }
        free(v);
        free(x);
        free(it);
        free(want);
    }
    printf("top-k equals the sort-based selection in %d cases\n", cases);
}

AM_TEST(keep_fraction, unit)
{
    fl_sparse_cfg cfg;
    fl_sparse_cfg_default(&cfg);
    cfg.dim = 1681; /* the 1-40-40-1 MLP */
    cfg.kind = FL_SPARSE_TOPK;
    cfg.keep = 0.1;
    fl_sparse *q = NULL;
    AM_REQUIRE_OK(fl_sparse_create(&cfg, &q));
    AM_CHECK(fl_sparse_k(q) == 169, "ceil(0.1 * 1681) = 169, got %zu", fl_sparse_k(q));
    fl_sparse_destroy(q);
    cfg.keep = 0.0;
    AM_CHECK(fl_sparse_create(&cfg, &q) == AM_EINVAL, "keep 0 accepted");
    cfg.keep = 1.5;
    AM_CHECK(fl_sparse_create(&cfg, &q) == AM_EINVAL, "keep 1.5 accepted");
    cfg.keep = NAN;
    AM_CHECK(fl_sparse_create(&cfg, &q) == AM_EINVAL, "keep NaN accepted");
    cfg.keep = 0.5;
    cfg.s = 1682;
    AM_CHECK(fl_sparse_create(&cfg, &q) == AM_EINVAL, "s > D accepted");
    cfg.s = 0;
    cfg.dim = 0;
    AM_CHECK(fl_sparse_create(&cfg, &q) == AM_EINVAL, "D = 0 accepted");
    AM_CHECK(q == NULL, "failed create left an object");
    fl_sparse_destroy(NULL);
    fl_sparse_kind kind;
    AM_CHECK(fl_sparse_kind_parse("topk", &kind) == AM_OK && kind == FL_SPARSE_TOPK, "topk");
    AM_CHECK(fl_sparse_kind_parse("bottomk", &kind) == AM_EINVAL, "bottomk accepted");
}

/* Exactly k entries, each equal to v's, and each index chosen with frequency k/D: over T draws
 * the count of index i is Binomial(T, k/D); all D counts must lie within 5 standard deviations. */
AM_TEST(randk_exact_uniform, unit)
{
    const size_t d = 500, k = 37, T = 4000;
    fl_sparse_cfg cfg;
    fl_sparse_cfg_default(&cfg);
    cfg.dim = d;
    cfg.kind = FL_SPARSE_RANDK;
    cfg.s = k;
    fl_sparse *q = NULL;
    AM_REQUIRE_OK(fl_sparse_create(&cfg, &q));
    float v[500], x[500];
    unsigned counts[500] = {0};
    am_rng r, ra, rb;
    am_rng_seed(&r, 5);
    for (size_t t = 0; t < T; t++) {
        for (size_t i = 0; i < d; i++)
            v[i] = (float)(1.0 + am_rng_uniform(&r)); /* no zero entries */
        fl_sparse_execute(q, v, x, &r);
        size_t nz = 0, wrong = 0;
        for (size_t i = 0; i < d; i++) {
            if (x[i] != 0.0f) {
                nz++;
                counts[i]++;
                wrong += x[i] != v[i];
            }
        }
        AM_REQUIRE(nz == k && wrong == 0, "draw %zu: %zu entries kept (k = %zu), %zu altered", t,
                   nz, k, wrong);
    }
    const double p = (double)k / (double)d, mean = (double)T * p, sd = sqrt(mean * (1.0 - p));
    unsigned lo = counts[0], hi = counts[0];
    for (size_t i = 0; i < d; i++) {
        lo = counts[i] < lo ? counts[i] : lo;
        hi = counts[i] > hi ? counts[i] : hi;
    }
    printf("random-k: index counts %u..%u, expected %.1f +- %.1f\n", lo, hi, mean, sd);
    AM_CHECK(lo > mean - 5 * sd && hi < mean + 5 * sd, "counts %u..%u outside %.1f +- 5*%.1f", lo,
             hi, mean, sd);
    /* Same rng state -> same mask, whatever happened before (the scratch is reset per call). */
    am_rng_seed(&ra, 9);
    am_rng_seed(&rb, 9);
    float xa[500], xb[500];
    fl_sparse_execute(q, v, xa, &ra);
    fl_sparse_execute(q, v, xb, &rb);
    AM_CHECK(memcmp(xa, xb, sizeof xa) == 0, "same rng state gave different masks");
    fl_sparse_destroy(q);
}

static double norm2(const float *a, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += (double)a[i] * a[i];
    return sqrt(s);
}

/* Error feedback (docs/paper.md §3): v = u + m, x = topk(v), m = v - delivered.
 * Then sum_t u_t - sum_t delivered_t = m_T exactly (telescoping), and top-k is a contraction,
 * ||v - topk(v)||^2 <= (1 - delta) ||v||^2 with delta = k/D, so
 * ||m_{t+1}|| <= sqrt(1-delta) (||m_t|| + G), G = max ||u_t||: the residual never exceeds
 * B = sqrt(1-delta) G / (1 - sqrt(1-delta)). Without memory the residual grows with t when the
 * updates share a direction (here a drift plus noise). */
static void
ef_run(int memory, int with_channel, double *max_res, double *final_res, double *bound_out)
{
    const size_t d = 400, T = 3000;
    fl_sparse_cfg cfg;
    fl_sparse_cfg_default(&cfg);
    cfg.dim = d;
    cfg.kind = FL_SPARSE_TOPK;
    cfg.keep = 0.05;
    *max_res = *final_res = *bound_out = NAN; /* a failed set-up fails the case, never passes */
    fl_sparse *q = NULL;
    AM_REQUIRE_OK(fl_sparse_create(&cfg, &q));
    fl_agg agg;
    fl_agg_stat_cfg sc = {.snr_db = 20.0, .seed = 3};
    AM_REQUIRE_OK(fl_agg_stat_create(&sc, &agg));
    float *u = calloc(d, sizeof *u), *m = calloc(d, sizeof *m), *v = calloc(d, sizeof *v),
          *x = calloc(d, sizeof *x), *del = calloc(d, sizeof *del), *out = calloc(d, sizeof *out);
    double *su = calloc(d, sizeof *su), *sd = calloc(d, sizeof *sd);
    float *res = calloc(d, sizeof *res);
    am_rng r;
    am_rng_seed(&r, 21);
    double G = 0, mx = 0;
    for (size_t t = 0; t < T; t++) {
        for (size_t i = 0; i < d; i++)
            u[i] = (float)(0.05 * sin(0.1 * (double)i) + 0.1 * am_rng_normal(&r));
        double gu = norm2(u, d);
        G = gu > G ? gu : G;
        for (size_t i = 0; i < d; i++)
            v[i] = u[i] + (memory ? m[i] : 0.0f);
        fl_sparse_execute(q, v, x, NULL);
        if (with_channel) {
            const float *xs[1] = {x};
            float *dl[1] = {del};
            fl_agg_round rd = {.eta = 1.0f, .rho = 1.0f, .g_th = 0.5f, .round = (unsigned)t};
            fl_agg_execute(&agg, &rd, xs, NULL, 1, d, out, NULL, dl);
        } else {
            memcpy(del, x, d * sizeof *x);
        }
        fl_sparse_memory_update(m, v, del, d);
        for (size_t i = 0; i < d; i++) {
            su[i] += u[i];
            sd[i] += del[i];
            res[i] = (float)(su[i] - sd[i]);
        }
        double rn = norm2(res, d);
        mx = rn > mx ? rn : mx;
        if (memory && t == T - 1) {
            double diff = 0;
            for (size_t i = 0; i < d; i++)
                diff += ((double)res[i] - m[i]) * ((double)res[i] - m[i]);
            AM_CHECK(sqrt(diff) <= 1e-3 * (1.0 + norm2(m, d)), "residual != memory: |diff| = %.3g",
                     sqrt(diff));
        }
    }
    const double delta = (double)fl_sparse_k(q) / (double)d, c = sqrt(1.0 - delta);
    *bound_out = c * G / (1.0 - c);
    *max_res = mx;
    *final_res = norm2(res, d);
    free(u), free(m), free(v), free(x), free(del), free(out), free(su), free(sd), free(res);
    fl_agg_destroy(&agg);
    fl_sparse_destroy(q);
}

AM_TEST(error_feedback_bounded, unit)
{
    double mx_mem, fin_mem, mx_no, fin_no, bound;
    ef_run(1, 0, &mx_mem, &fin_mem, &bound);
    ef_run(0, 0, &mx_no, &fin_no, &bound);
    printf("top-k 5%%, 3000 rounds: residual with memory max %.2f (bound %.2f), final %.2f; "
           "without memory final %.2f\n",
           mx_mem, bound, fin_mem, fin_no);
    AM_CHECK(mx_mem <= bound, "residual %.3f exceeds the contraction bound %.3f", mx_mem, bound);
    AM_CHECK(fin_no > 5.0 * bound, "without memory the residual %.3f did not grow past 5x%.3f",
             fin_no, bound);
    /* With channel truncation too (g_th = 0.5: a bin is erased with probability 0.39), the
     * memory still keeps the residual from growing: compare the first and last windows. */
    double mx_ch, fin_ch, b2, mx_ch_no, fin_ch_no;
    ef_run(1, 1, &mx_ch, &fin_ch, &b2);
    ef_run(0, 1, &mx_ch_no, &fin_ch_no, &b2);
    printf("with truncation g_th=0.5: residual with memory max %.2f final %.2f; without %.2f\n",
           mx_ch, fin_ch, fin_ch_no);
    AM_CHECK(mx_ch < 2.0 * bound, "residual %.3f with truncation exceeds 2x%.3f", mx_ch, bound);
    AM_CHECK(fin_ch_no > 10.0 * fin_ch, "no-memory residual %.3f not >> memory's %.3f", fin_ch_no,
             fin_ch);
}

/* fl_vec_finite: 1 for finite vectors (zeros of both signs, subnormals, FLT_MAX), 0 with one NaN,
 * +Inf or -Inf anywhere (first, last, both sides of the 1024-entry blocks it tests at once). */
AM_TEST(vec_finite, unit)
{
    enum { D = 3000 };
    float *v = malloc(D * sizeof *v);
    AM_REQUIRE(v, "out of memory");
    for (size_t i = 0; i < D; i++)
        v[i] = (float)i * 1e-3f - 1.0f;
    v[5] = -0.0f;
    v[6] = 1e-40f; /* subnormal */
    v[7] = FLT_MAX;
    v[8] = -FLT_MAX;
    AM_CHECK(fl_vec_finite(v, D) == 1, "finite vector refused");
    AM_CHECK(fl_vec_finite(v, 0) == 1, "empty vector refused");
    const size_t at[] = {0, 1023, 1024, 2047, 2048, D - 1};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    size_t missed = 0;
    for (size_t a = 0; a < sizeof at / sizeof at[0]; a++)
        for (size_t b = 0; b < 3; b++) {
            const float keep = v[at[a]];
            v[at[a]] = bad[b];
            missed += fl_vec_finite(v, D) != 0;
            missed += at[a] + 1 < D && fl_vec_finite(v, at[a]) != 1; /* before it: finite */
            v[at[a]] = keep;
        }
    AM_CHECK(missed == 0, "%zu of up to 36 checks wrong", missed);
    free(v);
}
