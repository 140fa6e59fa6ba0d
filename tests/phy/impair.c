/* Tests of phy/impair (one radio's impairments) against closed forms: carrier and sampling offset
 * from ppm, Wiener phase-increment variance 2 pi linewidth / fs, the IQ image rejection ratio, ADC
 * SQNR 6.02 b + 1.76 - backoff and the Gaussian clipping tail, chain ripple H(f), fractional delay
 * against an exact DFT-domain delay; ideal pass-through bit for bit; chunking invariance. */
#include "phy/impair.h"
#include "phy/chan.h"

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "util.h"

/* Runs a whole stream through one direction (with the flush zeros), returns the outputs. */
static float complex *
run(phy_impair *q, phy_impair_dir dir, const float complex *x, size_t n, size_t *ny)
{
    unsigned lat = phy_impair_latency(q, dir);
    size_t cap = phy_impair_max_out(q, dir, n + lat) + 8;
    float complex *in = calloc(n + lat, sizeof *in);
    float complex *y = calloc(cap, sizeof *y);
    memcpy(in, x, n * sizeof *in);
    am_status s = phy_impair_execute(q, dir, in, n + lat, y, cap, ny);
    if (s != AM_OK) {
        fprintf(stderr, "execute: %s\n", am_last_error());
        *ny = 0;
    }
    free(in);
    return y;
}

static phy_impair *make(const phy_impair_cfg *c)
{
    phy_impair *q = NULL;
    if (phy_impair_create(c, &q) != AM_OK)
        fprintf(stderr, "create: %s\n", am_last_error());
    return q;
}

static void cgauss(am_rng *r, float complex *x, size_t n, float p)
{
    for (size_t i = 0; i < n; i++)
        x[i] = sqrtf(p) * am_rng_cnormal(r);
}

/* frequency (cycles/sample) of a tone-like y over [a, b): slope of its unwrapped phase */
static double tone_freq(const float complex *y, size_t a, size_t b)
{
    /* unwrap the phase and fit a slope by least squares */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, ph = carg(y[a]), prev = ph;
    for (size_t n = a; n < b; n++) {
        double p = carg(y[n]), dp = p - prev;
        dp -= 2 * M_PI * floor((dp + M_PI) / (2 * M_PI));
        ph = n == a ? p : ph + dp;
        prev = p;
        double t = (double)(n - a);
        sx += t;
        sy += ph;
        sxx += t * t;
        sxy += t * ph;
    }
    double N = (double)(b - a);
    return (N * sxy - sx * sy) / (N * sxx - sx * sx) / (2 * M_PI);
}

AM_TEST(ideal_bitexact, unit)
{
    phy_impair_cfg c;
    c.seed = 9;
    AM_REQUIRE_OK(phy_impair_profile("ideal", &c));
    AM_CHECK(c.seed == 9, "profile keeps the seed");
    AM_CHECK(phy_impair_cfg_is_ideal(&c), "ideal profile is ideal");
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    am_rng r;
    am_rng_seed(&r, 3);
    enum { N = 4000 };
    float complex *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
    cgauss(&r, x, N, 1.0f);
    x[7] = CMPLXF(-0.0f, 1e-40f); /* signed zero and a denormal come through unchanged */
    for (int d = 0; d < 2; d++) {
        size_t ny = 0;
        AM_CHECK(phy_impair_latency(q, (phy_impair_dir)d) == 0, "no latency");
        AM_CHECK_OK(phy_impair_execute(q, (phy_impair_dir)d, x, N, y, N, &ny));
        AM_CHECK(ny == N && memcmp(x, y, N * sizeof *x) == 0, "dir %d: bit-identical (ny %zu)", d,
                 ny);
        /* in place */
        memcpy(y, x, N * sizeof *x);
        AM_CHECK_OK(phy_impair_execute(q, (phy_impair_dir)d, y, N, y, N, &ny));
        AM_CHECK(memcmp(x, y, N * sizeof *x) == 0, "in place bit-identical");
    }
    free(x);
    free(y);
    phy_impair_destroy(q);
}

/* CFO from ppm: TX of a constant is e^{j 2 pi fc delta n / fs} (the interpolation of a constant is
 * that constant); RX rotates the other way. */
AM_TEST(cfo_from_ppm, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.ppm = 1.5f;
    c.fc_hz = 2.45e9;
    c.fs_hz = 1e6;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    enum { N = 20000 };
    float complex *x = malloc(N * sizeof *x);
    for (size_t i = 0; i < N; i++)
        x[i] = 1.0f;
    const double f = 2.45e9 * 1.5e-6 / 1e6; /* 3.675e-3 cycles per sample */
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_TX, x, N, &ny);
    AM_REQUIRE(ny > N - 10, "outputs %zu", ny);
    double ft = tone_freq(y, 100, N - 100);
    AM_CHECK_NEAR(ft, f, 1e-9); /* measured |diff| ~1e-13 */
    free(y);
    y = run(q, PHY_IMPAIR_RX, x, N, &ny);
    /* RX derotates on the nominal grid, then its ADC clock samples at n / (1 + delta) */
    double fr = tone_freq(y, 100, N - 100);
    AM_CHECK_NEAR(fr, -f / (1 + 1.5e-6), 1e-9); /* measured |diff| ~1e-13 */
    if (verbose())
        printf("cfo: TX %.12g RX %.12g expected %.12g\n", ft, fr, f);
    phy_impair_state st;
    phy_impair_get_state(q, &st);
    AM_CHECK_NEAR(st.cfo_hz, 3675.0, 1e-6);
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* SFO from ppm (fc = 0: no carrier offset): a tone at f0 comes out of TX at f0 (1 + delta) (the
 * DAC runs fast) and out of RX at f0 / (1 + delta); and the output count follows the clock. */
AM_TEST(sfo_from_ppm, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.fc_hz = 0;
    c.ppm = 40.0f;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    enum { N = 50000 };
    const double f0 = 0.1234, delta = 40e-6;
    float complex *x = malloc(N * sizeof *x);
    for (size_t i = 0; i < N; i++) {
        double p = f0 * (double)i;
        x[i] = (float complex)cexp(I * 2 * M_PI * (p - floor(p)));
    }
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_TX, x, N, &ny);
    /* outputs cover the input span: about (N + M + 2 - 1) / (1 + delta) - M */
    double expect_n = (N + PHY_IMPAIR_M + 2.0) / (1 + delta) - PHY_IMPAIR_M;
    AM_CHECK(fabs((double)ny - expect_n) <= 2, "TX outputs %zu, expected ~%.1f", ny, expect_n);
    double ft = tone_freq(y, 200, N - 200);
    AM_CHECK_NEAR(ft, f0 * (1 + delta), 2e-9); /* measured |diff| ~3e-11 */
    free(y);
    y = run(q, PHY_IMPAIR_RX, x, N, &ny);
    double fr = tone_freq(y, 200, N - 200);
    AM_CHECK_NEAR(fr, f0 / (1 + delta), 2e-9);
    if (verbose())
        printf("sfo: TX %.12g (%.12g) RX %.12g (%.12g), ny %zu\n", ft, f0 * (1 + delta), fr,
               f0 / (1 + delta), ny);
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* Fractional delay (and the interpolator's accuracy): a periodic band-limited signal (random
 * QPSK on bins within +-0.4 fs of a 256-point DFT, as the default allocation) delayed by tau
 * against the exact delay in the DFT domain. */
AM_TEST(fractional_delay, unit)
{
    const unsigned M = 256;
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.tx_delay = 0.3f;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    am_rng r;
    am_rng_seed(&r, 4);
    double complex X[256];
    for (unsigned i = 0; i < M; i++) {
        int k = i < M / 2 ? (int)i : (int)i - (int)M;
        X[i] = abs(k) <= 102
                   ? ((am_rng_below(&r, 2) ? 1.0 : -1.0) + I * (am_rng_below(&r, 2) ? 1.0 : -1.0)) /
                         sqrt(2.0)
                   : 0;
    }
    enum { REP = 20 };
    float complex *x = malloc(REP * M * sizeof *x);
    double complex want[256];
    for (unsigned t = 0; t < M; t++) {
        double complex s = 0, sd = 0;
        for (unsigned i = 0; i < M; i++) {
            int k = i < M / 2 ? (int)i : (int)i - (int)M;
            s += X[i] * cexp(I * 2 * M_PI * (double)k * t / M);
            sd += X[i] * cexp(I * 2 * M_PI * (double)k * (t - 0.3) / M);
        }
        for (unsigned p = 0; p < REP; p++)
            x[p * M + t] = (float complex)(s / sqrt(204.0));
        want[t] = sd / sqrt(204.0);
    }
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_TX, x, REP * M, &ny);
    AM_REQUIRE(ny >= REP * M, "outputs %zu", ny);
    double e = 0, p = 0;
    for (unsigned t = 5 * M; t < 15 * M; t++) {
        double complex d = (double complex)y[t] - want[t % M];
        e += creal(d * conj(d));
        p += creal(want[t % M] * conj(want[t % M]));
    }
    double err_db = 10 * log10(e / p);
    AM_CHECK(err_db < -55.0, "delay error %.1f dB", err_db); /* measured -64 dB */
    if (verbose())
        printf("fractional delay 0.3: error %.1f dB\n", err_db);
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* Wiener phase noise: increments of the phase of a TX'd constant have variance
 * 2 pi linewidth / fs; white jitter alone gives var(angle) = jitter^2. */
AM_TEST(phase_noise_variance, unit)
{
    enum { N = 200000 };
    float complex *x = malloc(N * sizeof *x);
    for (size_t i = 0; i < N; i++)
        x[i] = 1.0f;
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.linewidth_hz = 100.0f;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_TX, x, N, &ny);
    double s2 = 0;
    for (size_t n = 1; n < ny; n++) {
        double d = carg((double complex)y[n] * conj((double complex)y[n - 1]));
        s2 += d * d;
    }
    s2 /= (double)(ny - 1);
    const double want = 2 * M_PI * 100.0 / 1e6;
    AM_CHECK(fabs(s2 / want - 1) < 0.02, "increment variance %.4g vs %.4g", s2, want);
    if (verbose())
        printf("wiener: %.5g vs %.5g (%.2f%%)\n", s2, want, 100 * (s2 / want - 1));
    free(y);
    phy_impair_destroy(q);
    phy_impair_cfg_default(&c);
    c.jitter_deg = 2.0f;
    q = make(&c);
    AM_REQUIRE(q, "create");
    y = run(q, PHY_IMPAIR_RX, x, N, &ny);
    double v = 0;
    for (size_t n = 0; n < ny; n++)
        v += carg(y[n]) * carg(y[n]);
    v /= (double)ny;
    double wj = pow(2.0 * M_PI / 180.0, 2);
    AM_CHECK(fabs(v / wj - 1) < 0.02, "jitter variance %.4g vs %.4g", v, wj);
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* |DFT of y at bin k| / N (tone amplitude) */
static double tone_amp(const float complex *y, unsigned N, int k)
{
    double complex s = 0;
    for (unsigned t = 0; t < N; t++)
        s += (double complex)y[t] * cexp(-I * 2 * M_PI * (double)k * t / N);
    return cabs(s) / N;
}

/* IQ imbalance: image rejection |mu|^2 / |nu|^2 = (1 + 2 A cos ph + A^2) / (1 - 2 A cos ph + A^2).
 * 1 dB / 5 deg: 22.83 dB. */
AM_TEST(iq_image_rejection, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.iq_amp_db = 1.0f;
    c.iq_phase_deg = 5.0f;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    enum { N = 4096 };
    const int k = 300;
    float complex *x = malloc(N * sizeof *x);
    for (unsigned t = 0; t < N; t++)
        x[t] = (float complex)cexp(I * 2 * M_PI * (double)((k * t) % N) / N);
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_RX, x, N, &ny);
    AM_REQUIRE(ny == N, "ny %zu", ny);
    double a = tone_amp(y, N, k), b = tone_amp(y, N, -k);
    double irr = 20 * log10(a / b);
    double A = pow(10, 0.05), ph = 5 * M_PI / 180;
    double want = 10 * log10((1 + 2 * A * cos(ph) + A * A) / (1 - 2 * A * cos(ph) + A * A));
    AM_CHECK_NEAR(irr, want, 0.01); /* measured |diff| < 1e-4 dB */
    if (verbose())
        printf("IRR %.4f dB, closed form %.4f dB\n", irr, want);
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* DC offset and the interferer land at their levels relative to P_ref. */
AM_TEST(dc_and_interferer, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.dc_dbc = -30.0f;
    c.intf_dbc = -10.0f;
    c.intf_freq = 0.125f;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    AM_CHECK_OK(phy_impair_set_rx_level(q, 4.0f));
    enum { N = 4096 };
    float complex *x = calloc(N, sizeof *x);
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_RX, x, N, &ny);
    double dc = tone_amp(y, N, 0), it = tone_amp(y, N, N / 8);
    AM_CHECK_NEAR(20 * log10(dc / 2.0), -30.0, 1e-3);
    AM_CHECK_NEAR(20 * log10(it / 2.0), -10.0, 1e-3);
    AM_CHECK(phy_impair_set_rx_level(q, 0.0f) == AM_EINVAL, "level 0 refused");
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* ADC: SQNR = 6.02 b + 1.76 - backoff for a complex Gaussian input at P_ref (backoff = clip level
 * per rail squared over the complex power); clipped fraction per rail = erfc(sqrt(10^(bo/10))). */
AM_TEST(adc_sqnr_and_clipping, unit)
{
    enum { N = 400000 };
    am_rng r;
    am_rng_seed(&r, 8);
    float complex *x = malloc(N * sizeof *x);
    cgauss(&r, x, N, 2.0f);
    const float bos[] = {12.0f, 20.0f};
    for (unsigned i = 0; i < 2; i++) {
        phy_impair_cfg c;
        phy_impair_cfg_default(&c);
        c.adc_bits = 12;
        c.adc_backoff_db = bos[i];
        phy_impair *q = make(&c);
        AM_REQUIRE(q, "create");
        AM_CHECK_OK(phy_impair_set_rx_level(q, 2.0f));
        size_t ny = 0;
        float complex *y = run(q, PHY_IMPAIR_RX, x, N, &ny);
        double e = 0, p = 0;
        for (size_t n = 0; n < N; n++) {
            float complex d = y[n] - x[n];
            e += crealf(d) * crealf(d) + cimagf(d) * cimagf(d);
            p += crealf(x[n]) * crealf(x[n]) + cimagf(x[n]) * cimagf(x[n]);
        }
        double sqnr = 10 * log10(p / e), want = 6.02 * 12 + 1.76 - bos[i];
        AM_CHECK_NEAR(sqnr, want, 0.15); /* measured 61.99 / 54.00 vs 62.00 / 54.00 */
        if (verbose())
            printf("ADC 12 bits, backoff %g dB: SQNR %.2f dB (closed form %.2f)\n", (double)bos[i],
                   sqnr, want);
        free(y);
        phy_impair_destroy(q);
    }
    /* clipping: 3 and 6 dB back-off */
    const float cl[] = {3.0f, 6.0f};
    for (unsigned i = 0; i < 2; i++) {
        phy_impair_cfg c;
        phy_impair_cfg_default(&c);
        c.adc_bits = 12;
        c.adc_backoff_db = cl[i];
        phy_impair *q = make(&c);
        AM_REQUIRE(q, "create");
        AM_CHECK_OK(phy_impair_set_rx_level(q, 2.0f));
        size_t ny = 0;
        float complex *y = run(q, PHY_IMPAIR_RX, x, N, &ny);
        double A = sqrt(2.0 * pow(10, cl[i] / 10.0)), step = 2 * A / 4096;
        size_t clipped = 0;
        for (size_t n = 0; n < N; n++) {
            clipped += fabs(crealf(y[n])) >= A - step;
            clipped += fabs(cimagf(y[n])) >= A - step;
        }
        double frac = (double)clipped / (2.0 * N);
        double want = erfc(sqrt(pow(10, cl[i] / 10.0)));
        AM_CHECK(fabs(frac / want - 1) < 0.05, "clipped %.5f vs erfc %.5f", frac, want);
        if (verbose())
            printf("ADC backoff %g dB: clipped %.5f, Gaussian tail %.5f\n", (double)cl[i], frac,
                   want);
        free(y);
        phy_impair_destroy(q);
    }
    free(x);
}

/* Chain response: TX of a periodic multi-tone equals g (1 + e1 e^{j 2 pi f} + e2 e^{-j 2 pi f}) per
 * tone, and its ripple across the band stays within the configured peak-to-peak. */
AM_TEST(chain_ripple, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.ripple_db = 1.0f;
    c.tx_gain_db = -2.0f;
    c.tx_phase_deg = 30.0f;
    c.seed = 5;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    phy_impair_state st;
    phy_impair_get_state(q, &st);
    const unsigned M = 256;
    enum { REP = 8 };
    float complex *x = malloc(REP * M * sizeof *x);
    for (unsigned t = 0; t < REP * M; t++) {
        double complex s = 0;
        for (int k = -100; k <= 100; k += 10)
            s += cexp(I * 2 * M_PI * (double)((k * (int)t) % (int)M + (int)M) / M);
        x[t] = (float complex)s;
    }
    size_t ny = 0;
    float complex *y = run(q, PHY_IMPAIR_TX, x, REP * M, &ny);
    double worst = 0, hmax = 0, hmin = 1e9;
    for (int k = -100; k <= 100; k += 10) {
        double complex sy = 0;
        for (unsigned t = 2 * M; t < 6 * M; t++)
            sy += (double complex)y[t] * cexp(-I * 2 * M_PI * (double)k * t / M);
        sy /= 4.0 * M;
        double f = (double)k / M;
        double complex H =
            (double complex)st.g_tx * (1 + (double complex)st.e_tx[0] * cexp(I * 2 * M_PI * f) +
                                       (double complex)st.e_tx[1] * cexp(-I * 2 * M_PI * f));
        double d = cabs(sy - H) / cabs(H);
        worst = d > worst ? d : worst;
        hmax = fmax(hmax, cabs(sy));
        hmin = fmin(hmin, cabs(sy));
    }
    AM_CHECK(worst < 2e-3, "worst relative error %.3g", worst); /* measured ~1e-4 */
    double pp = 20 * log10(hmax / hmin);
    AM_CHECK(pp <= 1.0 + 1e-3, "ripple %.3f dB p-p", pp);
    AM_CHECK_NEAR(20 * log10(cabs(st.g_tx)), -2.0, 1e-4);
    AM_CHECK_NEAR(carg(st.g_tx) * 180 / M_PI, 30.0, 1e-3);
    if (verbose())
        printf("ripple: worst rel. error %.3g, p-p %.3f dB\n", worst, pp);
    free(y);
    free(x);
    phy_impair_destroy(q);
}

/* Everything on: the same stream cut into random chunks gives the same output bit for bit. */
AM_TEST(chunking_invariance, unit)
{
    phy_impair_cfg c;
    c.seed = 21;
    AM_REQUIRE_OK(phy_impair_profile("b210-free", &c));
    c.ppm = 30.0f; /* a large offset so that outputs and inputs drift apart quickly */
    c.linewidth_hz = 50.0f;
    c.intf_dbc = -20.0f;
    c.intf_freq = 0.1f;
    c.tx_delay = 0.2f;
    c.tx_delay_spread = 0.1f;
    am_rng r;
    am_rng_seed(&r, 2);
    enum { N = 30000 };
    float complex *x = malloc(N * sizeof *x);
    cgauss(&r, x, N, 1.0f);
    for (int d = 0; d < 2; d++) {
        phy_impair *a = make(&c), *b = make(&c);
        AM_REQUIRE(a && b, "create");
        size_t n1 = 0;
        float complex *y1 = run(a, (phy_impair_dir)d, x, N, &n1);
        size_t cap = phy_impair_max_out(b, (phy_impair_dir)d, N) + 64;
        float complex *y2 = malloc(cap * sizeof *y2), *zero = calloc(64, sizeof *zero);
        size_t pos = 0, n2 = 0;
        while (pos < N) {
            size_t m = 1 + am_rng_below(&r, 300);
            if (m > N - pos)
                m = N - pos;
            size_t got = 0;
            AM_REQUIRE_OK(
                phy_impair_execute(b, (phy_impair_dir)d, x + pos, m, y2 + n2, cap - n2, &got));
            pos += m;
            n2 += got;
        }
        size_t got = 0;
        unsigned lat = phy_impair_latency(b, (phy_impair_dir)d);
        AM_REQUIRE_OK(phy_impair_execute(b, (phy_impair_dir)d, zero, lat, y2 + n2, cap - n2, &got));
        n2 += got;
        AM_CHECK(n1 == n2 && memcmp(y1, y2, n1 * sizeof *y1) == 0,
                 "dir %d: %zu vs %zu outputs, identical %d", d, n1, n2,
                 n1 == n2 && memcmp(y1, y2, n1 * sizeof *y1) == 0);
        /* and a restart gives the same stream again after reseed */
        phy_impair_reset(b);
        size_t n3 = 0;
        float complex *y3 = run(b, (phy_impair_dir)d, x, N, &n3);
        AM_CHECK(n3 == n1 && memcmp(y1, y3, n1 * sizeof *y1) == 0, "reset repeats");
        free(y1);
        free(y2);
        free(y3);
        free(zero);
        phy_impair_destroy(a);
        phy_impair_destroy(b);
    }
    free(x);
}

/* LO phases: a TX'd constant comes out at e^{j phi_tx}; retune draws new independent phases whose
 * mean resultant over many tunes is ~0 (uniform). */
AM_TEST(retune_lo_phases, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.lo_phase = 1;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    float complex one[4] = {1, 1, 1, 1}, y[4];
    double complex mean = 0;
    enum { T = 2000 };
    float prev = -10;
    for (int t = 0; t < T; t++) {
        phy_impair_state st;
        phy_impair_get_state(q, &st);
        size_t ny = 0;
        phy_impair_start(q, PHY_IMPAIR_TX);
        AM_CHECK_OK(phy_impair_execute(q, PHY_IMPAIR_TX, one, 4, y, 4, &ny));
        AM_CHECK(cabsf(y[3] - cexpf(I * st.phi_tx)) < 1e-6, "TX phase = phi_tx");
        AM_CHECK(st.phi_tx != prev, "retune changed the phase");
        prev = st.phi_tx;
        mean += cexp(I * (double)st.phi_tx) + cexp(I * (double)st.phi_rx);
        phy_impair_retune(q);
    }
    double R = cabs(mean) / (2 * T); /* ~1/sqrt(2T) = 0.016 for uniform phases */
    AM_CHECK(R < 0.06, "mean resultant %.3f", R);
    phy_impair_destroy(q);
}

AM_TEST(profiles_and_errors, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    am_status s = phy_impair_profile("b210", &c);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "b210-shared-ref"), "unknown profile: %s",
             am_last_error());
    AM_REQUIRE_OK(phy_impair_profile("b210-shared-ref", &c));
    AM_CHECK(c.ppm == 0 && c.ppm_spread == 0 && c.lo_phase && c.adc_bits == 12, "shared-ref");
    for (uint64_t seed = 1; seed < 40; seed++) {
        AM_REQUIRE_OK(phy_impair_profile("b210-free", &c));
        c.seed = seed;
        phy_impair *q = make(&c);
        AM_REQUIRE(q, "create");
        phy_impair_state st;
        phy_impair_get_state(q, &st);
        AM_CHECK(fabs(st.ppm) <= 2.0 && fabsf(st.tau) <= 0.2f, "b210-free draws %g ppm %g", st.ppm,
                 (double)st.tau);
        phy_impair_destroy(q);
    }
    phy_impair_cfg_default(&c);
    c.adc_bits = 3;
    phy_impair *q = NULL;
    AM_CHECK(phy_impair_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "adc_bits"), "%s",
             am_last_error());
    phy_impair_cfg_default(&c);
    c.tx_delay = 0.4f;
    c.tx_delay_spread = 0.2f;
    AM_CHECK(phy_impair_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "tx_delay"), "%s",
             am_last_error());
    phy_impair_cfg_default(&c);
    c.ppm = NAN;
    AM_CHECK(phy_impair_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "ppm"), "%s",
             am_last_error());
    AM_CHECK(q == NULL, "no object on error");
    /* a non-finite sample is refused */
    phy_impair_cfg_default(&c);
    c.jitter_deg = 1.0f;
    q = make(&c);
    AM_REQUIRE(q, "create");
    float complex x[3] = {1, NAN, 1}, y[8];
    size_t ny = 0;
    AM_CHECK(phy_impair_execute(q, PHY_IMPAIR_RX, x, 3, y, 8, &ny) == AM_EFORMAT, "NaN refused");
    phy_impair_destroy(q);
}

/* phy_chan with radios: an ideal impairment cfg is bit for bit the emulator without one; with LO
 * phases only, the uplink from agent k is the ideal one times e^{j (phi_tx,k - phi_rx,server)} and
 * the downlink times e^{j (phi_tx,server - phi_rx,k)}: not reciprocal. */
static void chan_run(
    const phy_impair_cfg *imp, float complex *up, float complex *down, size_t cap, phy_chan **keep)
{
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_agents = 3;
    c.n_taps = 3;
    c.delay_spread = 0.5f;
    c.max_timing_offset = 4;
    c.max_cfo = 0.02f;
    c.snr_db = 30.0f;
    c.seed = 17;
    c.impair = imp;
    phy_chan *ch = NULL;
    if (phy_chan_create(&c, &ch) != AM_OK) {
        fprintf(stderr, "%s\n", am_last_error());
        return;
    }
    am_rng r;
    am_rng_seed(&r, 6);
    enum { B = 1500 };
    float complex *x[3];
    for (int k = 0; k < 3; k++) {
        x[k] = malloc(B * sizeof *x[k]);
        cgauss(&r, x[k], B, 1.0f);
    }
    size_t ny = 0;
    if (phy_chan_execute(ch, (const float complex *const *)x, B, 50, 50, up, cap, &ny) != AM_OK ||
        phy_chan_downlink(ch, 1, x[0], B, 50, 50, down, cap, &ny) != AM_OK)
        fprintf(stderr, "%s\n", am_last_error());
    for (int k = 0; k < 3; k++)
        free(x[k]);
    if (keep)
        *keep = ch;
    else
        phy_chan_destroy(ch);
}

AM_TEST(chan_radios, unit)
{
    const size_t cap = 1700;
    float complex *u0 = calloc(cap, sizeof *u0), *d0 = calloc(cap, sizeof *d0);
    float complex *u1 = calloc(cap, sizeof *u1), *d1 = calloc(cap, sizeof *d1);
    chan_run(NULL, u0, d0, cap, NULL);
    phy_impair_cfg ideal;
    phy_impair_cfg_default(&ideal);
    chan_run(&ideal, u1, d1, cap, NULL);
    AM_CHECK(memcmp(u0, u1, cap * sizeof *u0) == 0 && memcmp(d0, d1, cap * sizeof *d0) == 0,
             "ideal radios: bit-identical");
    /* LO phases only, noiseless comparison: the noise is the same stream in both runs, so
     * y_imp - e^{j phi} y_ideal is the noise rotated minus the noise; use a single agent */
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_taps = 2;
    c.delay_spread = 0.3f;
    c.seed = 4;
    phy_impair_cfg lo;
    phy_impair_cfg_default(&lo);
    lo.lo_phase = 1;
    phy_chan *a = NULL, *b = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &a));
    c.impair = &lo;
    AM_REQUIRE_OK(phy_chan_create(&c, &b));
    AM_REQUIRE(phy_chan_radio(b, 0) && phy_chan_radio(b, 1) && !phy_chan_radio(b, 2) &&
                   !phy_chan_radio(a, 0),
               "radios");
    phy_impair_state sk, ss;
    phy_impair_get_state(phy_chan_radio(b, 0), &sk);
    phy_impair_get_state(phy_chan_radio(b, 1), &ss);
    am_rng r;
    am_rng_seed(&r, 1);
    float complex x[500];
    cgauss(&r, x, 500, 1.0f);
    const float complex *tx[1] = {x};
    size_t ny = 0;
    AM_REQUIRE_OK(phy_chan_execute(a, tx, 500, 10, 10, u0, cap, &ny));
    AM_REQUIRE_OK(phy_chan_execute(b, tx, 500, 10, 10, u1, cap, &ny));
    AM_REQUIRE_OK(phy_chan_downlink(a, 0, x, 500, 10, 10, d0, cap, &ny));
    AM_REQUIRE_OK(phy_chan_downlink(b, 0, x, 500, 10, 10, d1, cap, &ny));
    float complex up = cexpf(I * (sk.phi_tx - ss.phi_rx)), dn = cexpf(I * (ss.phi_tx - sk.phi_rx));
    double eu = 0, ed = 0;
    for (size_t t = 0; t < ny; t++) {
        eu = fmax(eu, cabsf(u1[t] - up * u0[t]));
        ed = fmax(ed, cabsf(d1[t] - dn * d0[t]));
    }
    AM_CHECK(eu < 1e-5 && ed < 1e-5, "uplink %.3g, downlink %.3g", eu, ed);
    /* the two directions differ (uniform independent phases: equal with probability 0) */
    AM_CHECK(cabsf(up - dn) > 1e-3, "not reciprocal");
    /* retune: new phases; draw keeps them */
    AM_REQUIRE_OK(phy_chan_draw(b));
    phy_impair_state s2;
    phy_impair_get_state(phy_chan_radio(b, 0), &s2);
    AM_CHECK(s2.phi_tx == sk.phi_tx, "draw keeps the LO phases");
    phy_chan_retune(b);
    phy_impair_get_state(phy_chan_radio(b, 0), &s2);
    AM_CHECK(s2.phi_tx != sk.phi_tx, "retune redraws them");
    phy_chan_destroy(a);
    phy_chan_destroy(b);
    free(u0);
    free(u1);
    free(d0);
    free(d1);
}

static am_status
src_copy(void *user, unsigned thread, unsigned k, size_t u0, size_t n, float complex *out)
{
    (void)thread;
    const float complex *const *x = user;
    memcpy(out, x[k] + u0, n * sizeof *out);
    return AM_OK;
}

/* With a full profile: execute, execute_source and 3 threads give the same bytes. */
AM_TEST(chan_radios_paths_identical, unit)
{
    phy_impair_cfg imp;
    imp.seed = 1;
    AM_REQUIRE_OK(phy_impair_profile("b210-free", &imp));
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_agents = 4;
    c.n_taps = 3;
    c.delay_spread = 0.5f;
    c.snr_db = 20.0f;
    c.seed = 8;
    c.impair = &imp;
    am_rng r;
    am_rng_seed(&r, 2);
    enum { B = 3000 };
    float complex *x[4];
    for (int k = 0; k < 4; k++) {
        x[k] = malloc(B * sizeof *x[k]);
        cgauss(&r, x[k], B, 1.0f);
    }
    const size_t cap = B + 200;
    float complex *y[3];
    for (int v = 0; v < 3; v++) {
        y[v] = calloc(cap, sizeof *y[v]);
        c.threads = v == 2 ? 3 : 1;
        phy_chan *ch = NULL;
        AM_REQUIRE_OK(phy_chan_create(&c, &ch));
        size_t ny = 0;
        if (v == 1)
            AM_CHECK_OK(phy_chan_execute_source(ch, src_copy, x, NULL, B, 50, 50, y[v], cap, &ny));
        else
            AM_CHECK_OK(
                phy_chan_execute(ch, (const float complex *const *)x, B, 50, 50, y[v], cap, &ny));
        phy_chan_destroy(ch);
    }
    AM_CHECK(memcmp(y[0], y[1], cap * sizeof *y[0]) == 0, "source path identical");
    AM_CHECK(memcmp(y[0], y[2], cap * sizeof *y[0]) == 0, "3 threads identical");
    for (int k = 0; k < 4; k++)
        free(x[k]);
    for (int v = 0; v < 3; v++)
        free(y[v]);
}

/* phy_impair_start_at: the carrier runs on n0 + n (a burst n0 ticks after the LO's origin): with
 * the oscillator alone, the output is the one from phy_impair_start turned by e^{+-j 2 pi f n0}
 * (TX +, RX -), f = fc delta / fs; the resampler and everything else start as before. Measured
 * max error 2.7e-5 of the peak (float arithmetic; a wrong n0 is an error of order 1); bound 1e-4.
 */
AM_TEST(start_at_moves_the_carrier, unit)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.ppm = -1.7f;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    enum { N = 3000 };
    const uint64_t n0 = 100000;
    const double f = c.fc_hz * -1.7e-6 / c.fs_hz;
    am_rng r;
    am_rng_seed(&r, 4);
    float complex *x = malloc(N * sizeof *x), *a = malloc(2 * N * sizeof *a),
                  *b = malloc(2 * N * sizeof *b);
    AM_REQUIRE(x && a && b, "out of memory");
    cgauss(&r, x, N, 1.0f);
    for (int d = 0; d < 2; d++) {
        const phy_impair_dir dir = (phy_impair_dir)d;
        size_t na = 0, nb = 0;
        phy_impair_start(q, dir);
        AM_REQUIRE_OK(phy_impair_execute(q, dir, x, N, a, 2 * N, &na));
        phy_impair_start_at(q, dir, n0);
        AM_REQUIRE_OK(phy_impair_execute(q, dir, x, N, b, 2 * N, &nb));
        AM_REQUIRE(na == nb && na > N / 2, "outputs %zu %zu", na, nb);
        const double sign = dir == PHY_IMPAIR_TX ? 1.0 : -1.0;
        const double complex turn =
            cexp(I * sign * 2.0 * M_PI * (f * (double)n0 - floor(f * (double)n0)));
        double err = 0, pk = 0;
        for (size_t i = 0; i < na; i++) {
            err = fmax(err, cabs((double complex)b[i] - turn * (double complex)a[i]));
            pk = fmax(pk, cabs((double complex)a[i]));
        }
        AM_CHECK(err < 1e-4 * pk, "dir %d: max error %.3g of %.3g", d, err, pk);
    }
    free(x);
    free(a);
    free(b);
    phy_impair_destroy(q);
}

/* phy_impair_start_frac: the interpolator reads frac input samples later, so on a tone
 * x[n] = e^{j 2 pi f0 n} (f0 = 0.13, within the kernel's band) the output is the frac-0 output
 * times e^{j 2 pi f0 frac} (TX: the burst's DAC time; RX: the air's, where the LO has turned the
 * tone to f0 - f_lo before the interpolator), up to the interpolator's
 * error (-69 dB on a band-limited signal); without interpolation (ppm 0, the ideal radio: no
 * resampler) frac changes nothing. */
AM_TEST(start_frac_moves_the_read_position, unit)
{
    enum { N = 2000 };
    const double f0 = 0.13, fr[3] = {0.37, -0.62, 0.999};
    float complex *x = malloc(N * sizeof *x), *a = malloc(2 * N * sizeof *a),
                  *b = malloc(2 * N * sizeof *b);
    AM_REQUIRE(x && a && b, "out of memory");
    for (int n = 0; n < N; n++)
        x[n] = (float complex)cexp(I * 2.0 * M_PI * f0 * n);
    for (int ideal_clock = 0; ideal_clock < 2; ideal_clock++) {
        phy_impair_cfg c;
        phy_impair_cfg_default(&c);
        c.ppm = ideal_clock ? 0.0f : 1.3f;
        phy_impair *q = make(&c);
        AM_REQUIRE(q, "create");
        for (int d = 0; d < 2; d++)
            for (int k = 0; k < 3; k++) {
                const phy_impair_dir dir = (phy_impair_dir)d;
                const int interp = !ideal_clock;
                size_t na = 0, nb = 0;
                phy_impair_start_at(q, dir, 500);
                AM_REQUIRE_OK(phy_impair_execute(q, dir, x, N, a, 2 * N, &na));
                phy_impair_start_frac(q, dir, 500, fr[k]);
                AM_REQUIRE_OK(phy_impair_execute(q, dir, x, N, b, 2 * N, &nb));
                AM_REQUIRE(na > N / 2 && nb > N / 2, "outputs %zu %zu", na, nb);
                /* RX: the LO turns the input before the interpolator (its tone at f0 - f_lo) */
                const double flo = dir == PHY_IMPAIR_RX ? c.fc_hz * c.ppm * 1e-6 / c.fs_hz : 0.0;
                const double complex turn =
                    interp ? cexp(I * 2.0 * M_PI * (f0 - flo) * fr[k]) : 1.0;
                double err = 0;
                /* away from the start and the end (the kernel's zero history and tail) */
                for (size_t i = 40; i + 40 < (na < nb ? na : nb); i++)
                    err = fmax(err, cabs((double complex)b[i] - turn * (double complex)a[i]));
                /* measured: at most 3.3e-4 (the interpolator's error, -70 dB); 0 at ppm 0 */
                AM_CHECK(err < 1e-3, "ppm %g dir %d frac %g: max error %.3g", (double)c.ppm, d,
                         fr[k], err);
            }
        phy_impair_destroy(q);
    }
    free(x);
    free(a);
    free(b);
}

/* The Wiener phase is the radio's (its reference's noise through both synthesisers): one walk
 * for TX and RX, continuous over a gap. An RX stream of N samples on ticks [0, N), then a TX
 * burst at tick N + G: the TX LO's phase at its first sample minus the RX LO's at its last is
 * N(0, (G + 1) 2 pi linewidth / fs) (the gap's increment and one step), checked over 2000 runs
 * (each after phy_impair_reseed, which starts a new time line) against the closed form; at
 * G = 0 the one step alone (a per-LO walk would give two independent walks, N times larger);
 * a burst that starts before the last tick turned (an overlap, the emulator's schedule without a
 * gap) goes on from the latest start at or before its tick (here the stream's, at 0) with the
 * increment over the ticks between. */
AM_TEST(wiener_common_and_continuous, unit)
{
    enum { N = 400, T = 2000 };
    const double lw = 5.0, step = 2.0 * M_PI * lw / 1e6;
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    c.linewidth_hz = (float)lw;
    phy_impair *q = make(&c);
    AM_REQUIRE(q, "create");
    float complex *one = malloc(N * sizeof *one), *a = malloc(N * sizeof *a),
                  *b = malloc(N * sizeof *b);
    AM_REQUIRE(one && a && b, "out of memory");
    for (int i = 0; i < N; i++)
        one[i] = 1.0f;
    const uint64_t gaps[3] = {3000, 0, 0};
    for (int g = 0; g < 3; g++) {
        double s2 = 0.0, first = 0.0;
        for (int t = 0; t < T; t++) {
            phy_impair_reseed(q, 1000 + (uint64_t)t);
            size_t na = 0, nb = 0;
            phy_impair_start_at(q, PHY_IMPAIR_RX, 0);
            AM_REQUIRE_OK(phy_impair_execute(q, PHY_IMPAIR_RX, one, N, a, N, &na));
            /* g = 2: the burst starts 100 ticks before the stream's end (an overlap) */
            const uint64_t n0 = g == 2 ? N - 100 : N + gaps[g];
            phy_impair_start_at(q, PHY_IMPAIR_TX, n0);
            AM_REQUIRE_OK(phy_impair_execute(q, PHY_IMPAIR_TX, one, N, b, N, &nb));
            AM_REQUIRE(na == N && nb == N, "outputs %zu %zu", na, nb);
            /* RX turns by -theta, TX by +theta */
            const double d = carg((double complex)b[0] * (double complex)a[N - 1]);
            s2 += d * d;
            first += carg((double complex)a[0]) * carg((double complex)a[0]);
        }
        s2 /= T;
        first /= T;
        /* the overlap (g = 2): the burst goes on from the stream's start (tick 0) with a fresh
         * increment over 300 ticks, against the stream's own walk to tick 399 */
        const double want = g == 2 ? (double)(N - 100 + 1 + N - 1) * step
                                   : (double)(gaps[g] + 1) * step;
        /* measured: +4.3, +4.3, -2.8 % (2000 runs: 3.2 % rms), first sample +1.0 % */
        AM_CHECK(fabs(s2 / want - 1.0) < 0.1, "case %d: variance %.4g vs %.4g", g, s2, want);
        /* each run's time line starts at 0: the first RX sample one step from 0 */
        AM_CHECK(fabs(first / step - 1.0) < 0.1, "case %d: first sample %.4g vs %.4g", g, first,
                 step);
        if (verbose())
            printf("wiener case %d: %.5g vs %.5g (%+.1f%%), first %+.1f%%\n", g, s2, want,
                   100 * (s2 / want - 1), 100 * (first / step - 1));
    }
    free(one);
    free(a);
    free(b);
    phy_impair_destroy(q);
}
