#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"

AM_TEST(repeatable, unit)
{
    am_rng a, b;
    am_rng_seed(&a, 42);
    am_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++)
        AM_REQUIRE(am_rng_u64(&a) == am_rng_u64(&b), "same seed diverged at draw %d", i);
    am_rng_seed2(&a, 42, 1);
    am_rng_seed2(&b, 42, 2);
    AM_CHECK(am_rng_u64(&a) != am_rng_u64(&b), "streams 1 and 2 collide");
}

/* Moments against closed forms: mean 0, variance 1 (normal), E|z|^2 = 1 (complex),
 * uniform mean 1/2 and variance 1/12; n = 10^6 gives standard errors of about 1e-3. */
AM_TEST(moments, unit)
{
    am_rng r;
    am_rng_seed(&r, 7);
    const int n = 1000000;
    double s = 0, s2 = 0, c2 = 0, u = 0, u2 = 0, s4 = 0;
    for (int i = 0; i < n; i++) {
        double x = am_rng_normal(&r);
        s += x;
        s2 += x * x;
        s4 += x * x * x * x;
        float complex z = am_rng_cnormal(&r);
        c2 += (double)(crealf(z) * crealf(z) + cimagf(z) * cimagf(z));
        double v = am_rng_uniform(&r);
        u += v;
        u2 += v * v;
    }
    AM_CHECK_NEAR(s / n, 0.0, 5e-3);
    AM_CHECK_NEAR(s2 / n, 1.0, 5e-3);
    AM_CHECK_NEAR(s4 / n, 3.0, 3e-2);
    AM_CHECK_NEAR(c2 / n, 1.0, 5e-3);
    AM_CHECK_NEAR(u / n, 0.5, 2e-3);
    AM_CHECK_NEAR(u2 / n - (u / n) * (u / n), 1.0 / 12.0, 1e-3);
}

/* am_rng_normal_zig against the normal law's closed forms: P(X <= x) = erfc(-x / sqrt 2) / 2 at
 * points in every part of the ziggurat (the layers' rectangles, their wedges, layer 0's tail beyond
 * R = 3.654), each within 5 binomial standard errors of n = 4e6 draws; the moments of N(0, 1);
 * am_rng_cnormal_fill: E|z|^2 = sd^2, each part sd^2 / 2, parts uncorrelated. */
AM_TEST(ziggurat_distribution, unit)
{
    static const double at[] = {-4.5, -3.8, -3.6541528853610088, -3.0, -2.0, -1.0, -0.3, 0.0,
                                0.25, 0.7,  1.5,  2.5, 3.3,  3.7, 4.0, 5.0};
    enum { NX = sizeof at / sizeof at[0] };
    unsigned long long below[NX] = {0};
    am_rng r;
    am_rng_seed(&r, 11);
    const double n = 4e6;
    double s = 0, s2 = 0, s4 = 0;
    for (long j = 0; j < 4000000; j++) {
        double x = am_rng_normal_zig(&r);
        AM_REQUIRE(isfinite(x), "draw %ld is %g", j, x);
        s += x;
        s2 += x * x;
        s4 += x * x * x * x;
        for (int i = 0; i < NX; i++)
            below[i] += x <= at[i];
    }
    for (int i = 0; i < NX; i++) {
        double p = 0.5 * erfc(-at[i] / sqrt(2.0));
        double se = sqrt(p * (1.0 - p) / n);
        AM_CHECK_NEAR((double)below[i] / n, p, 5.0 * se + 1e-9);
    }
    AM_CHECK_NEAR(s / n, 0.0, 2.5e-3);
    AM_CHECK_NEAR(s2 / n, 1.0, 3.5e-3);
    AM_CHECK_NEAR(s4 / n, 3.0, 2e-2);

    enum { M = 1000 };
    float complex y[M];
    double re2 = 0, im2 = 0, reim = 0;
    const float sd = 0.5f;
    for (int b = 0; b < 1000; b++) {
        am_rng_cnormal_fill(&r, sd, y, M);
        for (int t = 0; t < M; t++) {
            re2 += (double)crealf(y[t]) * crealf(y[t]);
            im2 += (double)cimagf(y[t]) * cimagf(y[t]);
            reim += (double)crealf(y[t]) * cimagf(y[t]);
        }
    }
    const double m = 1e6, half = sd * sd / 2.0; /* each part's variance; se of its mean half*1.4e-3 */
    AM_CHECK_NEAR(re2 / m, half, 5.0 * half * sqrt(2.0 / m));
    AM_CHECK_NEAR(im2 / m, half, 5.0 * half * sqrt(2.0 / m));
    AM_CHECK_NEAR(reim / m, 0.0, 5.0 * half / sqrt(m));
    /* the same seed, the same stream; the fill is the scalar draws in order */
    am_rng a, c;
    am_rng_seed(&a, 5);
    am_rng_seed(&c, 5);
    am_rng_cnormal_fill(&a, 2.0f, y, 4);
    for (int t = 0; t < 4; t++) {
        double re = am_rng_normal_zig(&c), im = am_rng_normal_zig(&c);
        AM_CHECK(crealf(y[t]) == (float)(2.0 * M_SQRT1_2 * re) &&
                     cimagf(y[t]) == (float)(2.0 * M_SQRT1_2 * im),
                 "fill sample %d differs from the scalar draws", t);
    }
}

AM_TEST(below_uniform, unit)
{
    am_rng r;
    am_rng_seed(&r, 3);
    unsigned counts[7] = {0};
    const int n = 700000;
    for (int i = 0; i < n; i++) {
        uint32_t v = am_rng_below(&r, 7);
        AM_REQUIRE(v < 7, "out of range %u", v);
        counts[v]++;
    }
    for (int k = 0; k < 7; k++)
        AM_CHECK_NEAR(counts[k], n / 7.0, 5.0 * sqrt(n / 7.0));
    uint32_t idx[10];
    for (uint32_t i = 0; i < 10; i++)
        idx[i] = i;
    am_rng_partial_shuffle(&r, idx, 10, 10);
    unsigned seen = 0;
    for (int i = 0; i < 10; i++)
        seen |= 1u << idx[i];
    AM_CHECK(seen == 0x3ffu, "shuffle is not a permutation: %x", seen);
}

AM_TEST(error_message, unit)
{
    am_status s = AM_FAIL(AM_EINVAL, "nfft: %u is odd", 65u);
    AM_CHECK(s == AM_EINVAL, "status passed through");
    AM_CHECK(strstr(am_last_error(), "rng.c:") != NULL, "message has file: %s", am_last_error());
    AM_CHECK(strstr(am_last_error(), "nfft: 65 is odd") != NULL, "message: %s", am_last_error());
    am_error_wrap(s, "reading %s", "x.sigmf-meta");
    AM_CHECK(strncmp(am_last_error(), "reading x.sigmf-meta: ", 22) == 0, "wrapped: %s",
             am_last_error());
    AM_CHECK(am_status_exit_code(AM_OK) == 0 && am_status_exit_code(AM_EFORMAT) != 0, "codes");
}

/* docs/air-interface.md §3.2: the shared random-k mask of round r, drawn from (seed, r) alone, is
 * the documented test vector (computed by an independent Python transcription of the page's
 * pseudo-code: splitmix64, xoshiro256**, Lemire's below, partial Fisher-Yates, sorted). */
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

AM_TEST(shared_mask_vector, unit)
{
    enum { D = 1000, K = 37 };
    static const uint32_t want[K] = {25,  32,  61,  104, 136, 163, 200, 208, 218, 247,
                                     255, 312, 321, 364, 375, 389, 417, 435, 511, 525,
                                     578, 649, 650, 680, 707, 717, 746, 785, 805, 855,
                                     863, 931, 939, 940, 945, 955, 974};
    uint32_t idx[D];
    for (uint32_t i = 0; i < D; i++)
        idx[i] = i;
    am_rng r;
    am_rng_seed2(&r, 12345, 0x4D41534B00000000ull + 7);
    am_rng_partial_shuffle(&r, idx, D, K);
    qsort(idx, K, sizeof idx[0], cmp_u32);
    for (unsigned i = 0; i < K; i++)
        AM_CHECK(idx[i] == want[i], "mask[%u] = %u, the page says %u", i, idx[i], want[i]);
}
