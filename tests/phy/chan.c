/* Tests of phy/chan (channel emulator) against closed forms and an independent DFT path. */
#include <liquid/liquid.h>

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "phy/chan.h"
#include "util.h"

/* One OFDM block (cp + M samples) of random QPSK on the used bins of the default allocation. */
static void ofdm_block(am_rng *r,
                       unsigned M,
                       unsigned cp,
                       const unsigned char *sc,
                       unsigned mu,
                       double complex *X,
                       float complex *blk)
{
    double complex *x = malloc(M * sizeof *x);
    for (unsigned i = 0; i < M; i++) {
        X[i] = 0;
        if (sc[i] != OFDMFRAME_SCTYPE_NULL)
            X[i] = ((am_rng_below(r, 2) ? 1.0 : -1.0) + I * (am_rng_below(r, 2) ? 1.0 : -1.0)) /
                   sqrt(2.0);
    }
    idft(X, M, mu, x);
    for (unsigned t = 0; t < cp; t++)
        blk[t] = (float complex)x[M - cp + t];
    for (unsigned t = 0; t < M; t++)
        blk[cp + t] = (float complex)x[t];
    free(x);
}

/* Independent path: OFDM blocks through the emulator (no noise, no CFO), DFT at the nominal
 * window, Y[i] = sum_k H_k[i] X_k[i] with H_k from phy_chan_response. */
AM_TEST(response_matches_ofdm, unit)
{
    const unsigned M = 256, cp = 32, K = 3;
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_agents = K;
    c.nfft = M;
    c.cp_len = cp;
    c.n_taps = 6;
    c.delay_spread = 1.5f;
    c.max_timing_offset = 20; /* 20 + 5 <= cp: inside the CP */
    c.seed = 11;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    unsigned char sc[256];
    ofdmframe_init_default_sctype(M, sc);
    unsigned mu = phy_chan_n_used(ch);
    AM_CHECK(mu == 204, "M_used of the default allocation = %u", mu);

    am_rng r;
    am_rng_seed(&r, 5);
    double complex X[3][256], Y[256];
    float complex blk[3][288];
    float complex H[3][256];
    const float complex *tx[3];
    const size_t lead = 17, tail = 9;
    size_t cap = phy_chan_out_len(ch, cp + M, lead, tail);
    AM_CHECK(cap == lead + cp + M + 20 + 5 + tail, "out_len %zu", cap);
    float complex *y = malloc(cap * sizeof *y);
    for (unsigned k = 0; k < K; k++) {
        ofdm_block(&r, M, cp, sc, mu, X[k], blk[k]);
        AM_REQUIRE_OK(phy_chan_response(ch, k, H[k]));
    }
    /* each agent alone, then all together (superposition) */
    for (unsigned pass = 0; pass <= K; pass++) {
        for (unsigned k = 0; k < K; k++)
            tx[k] = (pass == K || pass == k) ? blk[k] : NULL;
        size_t ny = 0;
        AM_REQUIRE_OK(phy_chan_execute(ch, tx, cp + M, lead, tail, y, cap, &ny));
        AM_CHECK(ny == cap, "ny %zu", ny);
        dft(y + lead + cp, M, mu, Y);
        double err = 0, ref = 0;
        for (unsigned i = 0; i < M; i++) {
            double complex want = 0;
            for (unsigned k = 0; k < K; k++)
                if (tx[k])
                    want += (double complex)H[k][i] * X[k][i];
            err = fmax(err, cabs(Y[i] - want));
            ref = fmax(ref, cabs(want));
        }
        AM_CHECK(err < 1e-5 * (1 + ref), "pass %u: max |Y - H X| = %.3g (max |HX| %.3g)", pass, err,
                 ref);
    }
    /* and the response is not trivial: the timing offsets and taps differ between agents */
    unsigned d0, d1;
    AM_CHECK_OK(phy_chan_taps(ch, 0, NULL, &d0));
    AM_CHECK_OK(phy_chan_taps(ch, 1, NULL, &d1));
    AM_CHECK(cabsf(H[0][1] - H[1][1]) > 1e-3f, "agents share a response");
    free(y);
    phy_chan_destroy(ch);
}

/* The impulse response the emulator applies: y[lead + d_k + l] = taps_l for a unit impulse. */
AM_TEST(impulse_response, unit)
{
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_agents = 2;
    c.n_taps = 4;
    c.delay_spread = 1.0f;
    c.max_timing_offset = 7;
    c.seed = 3;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    float complex one = 1.0f, y[64], taps[4];
    const float complex *tx[2] = {NULL, &one};
    size_t ny;
    AM_REQUIRE_OK(phy_chan_execute(ch, tx, 1, 5, 3, y, 64, &ny));
    AM_CHECK(ny == 5 + 1 + 7 + 3 + 3, "ny %zu", ny);
    unsigned d;
    AM_REQUIRE_OK(phy_chan_taps(ch, 1, taps, &d));
    AM_CHECK(d <= 7, "delay %u", d);
    for (size_t t = 0; t < ny; t++) {
        float complex want = (t >= 5 + d && t < 5 + d + 4) ? taps[t - 5 - d] : 0.0f;
        AM_CHECK(cabsf(y[t] - want) < 1e-6f, "t = %zu: |y - tap| = %g", t, cabsf(y[t] - want));
    }
    phy_chan_destroy(ch);
}

/* E|H[i]|^2 = 1 on every bin, E H = 0, |H|^2 exponential (P(|H|^2 > 1) = 1/e), tap powers follow
 * the exponential profile whose rms delay spread is the configured one. */
AM_TEST(rayleigh_power, unit)
{
    const unsigned M = 64, L = 5, draws = 4000;
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.nfft = M;
    c.cp_len = 16;
    c.n_taps = L;
    c.delay_spread = 1.2f;
    c.max_timing_offset = 3;
    c.seed = 99;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    float P[5];
    phy_chan_pdp(ch, P);
    double ps = 0, m1 = 0, m2 = 0;
    for (unsigned l = 0; l < L; l++) {
        ps += P[l];
        m1 += P[l] * (double)l;
        m2 += P[l] * (double)l * l;
    }
    AM_CHECK_NEAR(ps, 1.0, 1e-6);
    AM_CHECK_NEAR(sqrt(m2 - m1 * m1), 1.2, 1e-4);
    for (unsigned l = 1; l + 1 < L; l++) /* exponential: constant ratio */
        AM_CHECK_NEAR(P[l + 1] / P[l], P[1] / P[0], 1e-5);

    double pw[64] = {0}, tp[5] = {0}, above = 0;
    double complex mean = 0;
    float complex H[64], taps[5];
    for (unsigned n = 0; n < draws; n++) {
        AM_REQUIRE_OK(phy_chan_draw(ch));
        AM_REQUIRE_OK(phy_chan_response(ch, 0, H));
        AM_REQUIRE_OK(phy_chan_taps(ch, 0, taps, NULL));
        for (unsigned i = 0; i < M; i++) {
            double g = (double)(crealf(H[i]) * crealf(H[i]) + cimagf(H[i]) * cimagf(H[i]));
            pw[i] += g;
            above += g > 1.0;
            mean += H[i];
        }
        for (unsigned l = 0; l < L; l++)
            tp[l] += (double)(cabsf(taps[l]) * cabsf(taps[l]));
    }
    /* |H|^2 ~ Exp(1): standard error of a per-bin mean = 1/sqrt(draws) = 0.016 */
    double worst = 0, all = 0;
    for (unsigned i = 0; i < M; i++) {
        worst = fmax(worst, fabs(pw[i] / draws - 1.0));
        all += pw[i] / draws / M;
    }
    AM_CHECK(worst < 0.07, "max_i |E|H_i|^2 - 1| = %.3g", worst);
    AM_CHECK_NEAR(all, 1.0, 0.03);
    AM_CHECK_NEAR(above / (draws * M), exp(-1.0), 0.01);
    AM_CHECK(cabs(mean) / (draws * M) < 0.02, "|E H| = %.3g", cabs(mean) / (draws * M));
    for (unsigned l = 0; l < L; l++)
        AM_CHECK_NEAR(tp[l] / draws, P[l], 5.0 * P[l] / sqrt(draws));
    phy_chan_destroy(ch);
}

/* s2 = rho M / (M_used 10^(snr/10)) per time sample; per bin N0 = s2 M_used / M = rho / snr. */
AM_TEST(noise_variance, unit)
{
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.snr_db = 10.0f;
    c.rho = 2.0f;
    c.seed = 4;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    double s2 = 2.0 * 256 / (204 * 10.0);
    AM_CHECK_NEAR(phy_chan_noise_var(ch), s2, 1e-6 * s2);
    const size_t n = 256 * 800;
    float complex *y = malloc(n * sizeof *y);
    const float complex *tx[1] = {NULL};
    size_t ny;
    AM_REQUIRE_OK(phy_chan_execute(ch, tx, 0, n - 100, 100, y, n, &ny));
    AM_REQUIRE(ny == n, "ny %zu", ny);
    double v = 0, re2 = 0;
    for (size_t t = 0; t < n; t++) {
        v += (double)(crealf(y[t]) * crealf(y[t]) + cimagf(y[t]) * cimagf(y[t]));
        re2 += (double)(crealf(y[t]) * crealf(y[t]));
    }
    AM_CHECK_NEAR(v / (double)n, s2, 0.01 * s2);       /* se 1/sqrt(n) = 0.22 % */
    AM_CHECK_NEAR(re2 / (double)n, s2 / 2, 0.01 * s2); /* circular */
    /* per-bin noise power after the §1 transform */
    double n0 = 0;
    double complex Y[256];
    for (unsigned b = 0; b < 200; b++) {
        dft(y + 256 * b, 256, 204, Y);
        for (unsigned i = 0; i < 256; i++)
            n0 += creal(Y[i] * conj(Y[i]));
    }
    n0 /= 200.0 * 256;
    AM_CHECK_NEAR(n0, 2.0 / 10.0, 0.01 * 0.2);
    /* set_snr changes s2 by the closed form; infinity gives no noise */
    AM_REQUIRE_OK(phy_chan_set_snr(ch, 20.0f));
    AM_CHECK_NEAR(phy_chan_noise_var(ch), s2 / 10, 1e-6 * s2);
    AM_REQUIRE_OK(phy_chan_set_snr(ch, INFINITY));
    AM_CHECK(phy_chan_noise_var(ch) == 0.0f, "noise at infinite SNR");
    AM_CHECK(phy_chan_set_snr(ch, NAN) == AM_EINVAL, "NaN SNR accepted");
    free(y);
    phy_chan_destroy(ch);
}

/* CFO: for a constant input, uplink y[t] = a e^{j 2 pi (eps_k (t - d) + common t) / M} (the
 * agent's oscillator turns a sample at its transmit tick t - d, before the delay d, the server's
 * at the receive tick t); downlink y[t] = a e^{-j 2 pi (common (t - d) + eps_k t) / M}. */
AM_TEST(cfo_rotation, unit)
{
    const unsigned M = 128;
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.nfft = M;
    c.cp_len = 16;
    c.n_agents = 3;
    c.max_cfo = 0.4f;
    c.common_cfo = -0.15f;
    c.max_timing_offset = 5;
    c.seed = 8;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    const size_t n = 100000, lead = 33;
    float complex *x = malloc(n * sizeof *x);
    size_t cap = lead + n + 5 + 10;
    float complex *y = malloc(cap * sizeof *y);
    for (size_t t = 0; t < n; t++)
        x[t] = 1.0f;
    for (unsigned k = 0; k < 3; k++) {
        float eps = phy_chan_agent_cfo(ch, k);
        AM_CHECK(fabsf(eps - c.common_cfo) <= 0.4f, "eps %g", (double)eps);
        float complex a;
        unsigned d;
        AM_REQUIRE_OK(phy_chan_taps(ch, k, &a, &d));
        const float complex *tx[3] = {NULL, NULL, NULL};
        tx[k] = x;
        size_t ny;
        for (int down = 0; down < 2; down++) {
            if (down)
                AM_REQUIRE_OK(phy_chan_downlink(ch, k, x, n, lead, 10, y, cap, &ny));
            else
                AM_REQUIRE_OK(phy_chan_execute(ch, tx, n, lead, 10, y, cap, &ny));
            AM_REQUIRE(ny == cap, "ny %zu", ny);
            double sign = down ? -1.0 : 1.0, err = 0;
            for (size_t t = 0; t < ny; t++) {
                double complex want = 0;
                if (t >= lead + d && t < lead + d + n)
                    want = (double complex)a *
                           cexp(I * 2.0 * M_PI * sign *
                                ((double)eps * (double)t -
                                 (down ? (double)c.common_cfo : (double)eps - (double)c.common_cfo) *
                                     (double)d) /
                                M);
                err = fmax(err, cabs((double complex)y[t] - want));
            }
            AM_CHECK(err < 2e-6 * (1.0 + cabsf(a)), "agent %u %s: max err %.3g", k,
                     down ? "downlink" : "uplink", err);
        }
    }
    free(x);
    free(y);
    phy_chan_destroy(ch);
}

static void
run(phy_chan *ch, const float complex *const *tx, size_t n, float complex *y, size_t cap)
{
    size_t ny;
    if (phy_chan_execute(ch, tx, n, 40, 40, y, cap, &ny) != AM_OK)
        fprintf(stderr, "execute failed: %s\n", am_last_error());
}

/* Same seed and call sequence: bit-identical output; reset replays; another seed differs. */

/* cfo_fixed: one oscillator per agent, the same offset after any number of draws and reseeds
 * (the other draws unchanged: the taps and delays equal those of cfo_fixed 0); ul_tick0: the
 * uplink phasor continues from tick ul_tick0, e^{j 2 pi eps (ul_tick0 + t) / M} exactly (here
 * ul_tick0 = 100 000, the on-air beacon-to-burst gap at 1 MS/s), the downlink is unchanged. */
AM_TEST(cfo_fixed_and_gap, unit)
{
    const unsigned M = 128, K = 3;
    const uint64_t G = 100000;
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.nfft = M;
    c.cp_len = 16;
    c.n_agents = K;
    c.max_cfo = 0.3f;
    c.n_taps = 2;
    c.delay_spread = 0.4f;
    c.max_timing_offset = 3;
    c.seed = 5;
    phy_chan *a = NULL, *b = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &a));
    c.cfo_fixed = 1;
    c.ul_tick0 = G;
    AM_REQUIRE_OK(phy_chan_create(&c, &b));
    float eps0[3];
    for (unsigned k = 0; k < K; k++)
        eps0[k] = phy_chan_agent_cfo(b, k);
    AM_CHECK(eps0[0] != eps0[1] && fabsf(eps0[0]) <= 0.3f && fabsf(eps0[2]) <= 0.3f,
             "offsets %g %g %g", (double)eps0[0], (double)eps0[1], (double)eps0[2]);
    const size_t n = 5000, lead = 20, cap = lead + n + 3 + 1 + 8;
    float complex *x = malloc(n * sizeof *x), *ya = malloc(cap * sizeof *ya),
                  *yb = malloc(cap * sizeof *yb);
    AM_REQUIRE(x && ya && yb, "out of memory");
    for (size_t t = 0; t < n; t++)
        x[t] = (float complex)cexp(I * 0.37 * (double)t);
    for (unsigned r = 0; r < 4; r++) {
        phy_chan_reseed(a, 100 + r);
        phy_chan_reseed(b, 100 + r);
        AM_REQUIRE_OK(phy_chan_draw(a));
        AM_REQUIRE_OK(phy_chan_draw(b));
        for (unsigned k = 0; k < K; k++) {
            float complex ta[2], tb[2];
            unsigned da, db;
            AM_REQUIRE_OK(phy_chan_taps(a, k, ta, &da));
            AM_REQUIRE_OK(phy_chan_taps(b, k, tb, &db));
            AM_CHECK(phy_chan_agent_cfo(b, k) == eps0[k], "round %u agent %u: offset moved", r, k);
            AM_CHECK(ta[0] == tb[0] && ta[1] == tb[1] && da == db, "round %u agent %u: taps", r, k);
        }
    }
    /* the uplink of agent 1 with b's oscillators on a (cfo_fixed 1, the same seed: the same
     * offsets; ul_tick0 0) vs b: b = a turned by 2 pi eps G / M */
    phy_chan_destroy(a);
    c.cfo_fixed = 1;
    c.ul_tick0 = 0;
    AM_REQUIRE_OK(phy_chan_create(&c, &a));
    AM_CHECK(phy_chan_agent_cfo(a, 1) == eps0[1], "a's offset %g, b's %g",
             (double)phy_chan_agent_cfo(a, 1), (double)eps0[1]);
    phy_chan_reseed(a, 7);
    phy_chan_reseed(b, 7);
    AM_REQUIRE_OK(phy_chan_draw(a));
    AM_REQUIRE_OK(phy_chan_draw(b));
    const float complex *tx[3] = {NULL, x, NULL};
    size_t na, nb;
    AM_REQUIRE_OK(phy_chan_execute(a, tx, n, lead, 8, ya, cap, &na));
    AM_REQUIRE_OK(phy_chan_execute(b, tx, n, lead, 8, yb, cap, &nb));
    AM_REQUIRE(na == nb && na == cap, "lengths %zu %zu", na, nb);
    const double complex turn = cexp(I * 2.0 * M_PI * (double)eps0[1] * (double)G / M);
    double err = 0, pk = 0;
    for (size_t t = 0; t < na; t++) {
        err = fmax(err, cabs((double complex)yb[t] - turn * (double complex)ya[t]));
        pk = fmax(pk, cabs((double complex)ya[t]));
    }
    AM_CHECK(err < 2e-5 * pk, "uplink: max error %.3g of %.3g", err, pk);
    /* the downlink does not see ul_tick0 */
    AM_REQUIRE_OK(phy_chan_downlink(a, 1, x, n, lead, 8, ya, cap, &na));
    AM_REQUIRE_OK(phy_chan_downlink(b, 1, x, n, lead, 8, yb, cap, &nb));
    err = 0;
    for (size_t t = 0; t < na; t++)
        err = fmax(err, cabs((double complex)yb[t] - (double complex)ya[t]));
    AM_CHECK(err < 2e-5 * pk, "downlink: max error %.3g", err);
    c.ul_tick0 = ((uint64_t)1 << 40) + 1;
    phy_chan *bad = NULL;
    AM_CHECK(phy_chan_create(&c, &bad) == AM_EINVAL && strstr(am_last_error(), "ul_tick0"), "%s",
             am_last_error());
    free(x);
    free(ya);
    free(yb);
    phy_chan_destroy(a);
    phy_chan_destroy(b);
}

AM_TEST(deterministic, unit)
{
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_agents = 4;
    c.n_taps = 3;
    c.delay_spread = 0.7f;
    c.max_timing_offset = 6;
    c.max_cfo = 0.1f;
    c.snr_db = 15.0f;
    c.seed = 1234;
    phy_chan *a = NULL, *b = NULL, *o = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &a));
    AM_REQUIRE_OK(phy_chan_create(&c, &b));
    c.seed = 1235;
    AM_REQUIRE_OK(phy_chan_create(&c, &o));
    const size_t n = 1000;
    float complex x[1000];
    am_rng r;
    am_rng_seed(&r, 1);
    for (size_t t = 0; t < n; t++)
        x[t] = am_rng_cnormal(&r);
    const float complex *tx[4] = {x, x, NULL, x};
    size_t cap = phy_chan_out_len(a, n, 40, 40);
    float complex *ya = malloc(cap * sizeof *ya), *yb = malloc(cap * sizeof *yb),
                  *y0 = malloc(cap * sizeof *y0);
    for (int round = 0; round < 3; round++) {
        run(a, tx, n, ya, cap);
        run(b, tx, n, yb, cap);
        if (round == 0)
            memcpy(y0, ya, cap * sizeof *y0);
        AM_CHECK(memcmp(ya, yb, cap * sizeof *ya) == 0, "round %d: same seed differs", round);
        run(o, tx, n, yb, cap);
        AM_CHECK(memcmp(ya, yb, cap * sizeof *ya) != 0, "round %d: other seed equal", round);
        AM_REQUIRE_OK(phy_chan_draw(a));
        AM_REQUIRE_OK(phy_chan_draw(b));
        AM_REQUIRE_OK(phy_chan_draw(o));
    }
    phy_chan_reset(a);
    run(a, tx, n, ya, cap);
    AM_CHECK(memcmp(ya, y0, cap * sizeof *ya) == 0, "reset does not replay");
    free(ya);
    free(yb);
    free(y0);
    phy_chan_destroy(a);
    phy_chan_destroy(b);
    phy_chan_destroy(o);
}

/* phy_chan_reseed(s) then draw = the first realisation and noise of a channel created with seed s,
 * whatever was drawn before (what agg_iq relies on for rounds that depend on (seed, round) only).
 */
AM_TEST(reseed, unit)
{
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_agents = 3;
    c.n_taps = 3;
    c.delay_spread = 0.7f;
    c.max_timing_offset = 4;
    c.max_cfo = 0.05f;
    c.snr_db = 10.0f;
    c.seed = 77;
    phy_chan *a = NULL, *f = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &a));
    c.seed = 991;
    AM_REQUIRE_OK(phy_chan_create(&c, &f)); /* create drew seed 991's first realisation */
    const size_t n = 500;
    float complex x[500];
    am_rng r;
    am_rng_seed(&r, 5);
    for (size_t t = 0; t < n; t++)
        x[t] = am_rng_cnormal(&r);
    const float complex *tx[3] = {x, NULL, x};
    size_t cap = phy_chan_out_len(a, n, 40, 40);
    float complex *ya = malloc(cap * sizeof *ya), *yf = malloc(cap * sizeof *yf);
    AM_REQUIRE(ya && yf, "out of memory");
    run(a, tx, n, ya, cap); /* advance a's streams */
    AM_REQUIRE_OK(phy_chan_draw(a));
    phy_chan_reseed(a, 991);
    AM_REQUIRE_OK(phy_chan_draw(a));
    run(a, tx, n, ya, cap);
    run(f, tx, n, yf, cap);
    AM_CHECK(memcmp(ya, yf, cap * sizeof *ya) == 0, "reseed(991) + draw differs from create(991)");
    phy_chan_reseed(a, 992);
    AM_REQUIRE_OK(phy_chan_draw(a));
    run(a, tx, n, ya, cap);
    AM_CHECK(memcmp(ya, yf, cap * sizeof *ya) != 0, "another seed gave the same output");
    free(ya);
    free(yf);
    phy_chan_destroy(a);
    phy_chan_destroy(f);
}

/* Agents are independent: E[H_0 conj H_1] = 0 and corr(|H_0|^2, |H_1|^2) = 0 over draws; agent k's
 * channel does not depend on K; timing offsets uniform over 0..max, CFO uniform (var max^2/3). */
AM_TEST(agents_independent, unit)
{
    const unsigned draws = 4000, M = 64;
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.nfft = M;
    c.cp_len = 16;
    c.n_agents = 2;
    c.n_taps = 2;
    c.delay_spread = 0.4f;
    c.max_timing_offset = 4;
    c.max_cfo = 0.3f;
    c.seed = 77;
    phy_chan *ch = NULL, *big = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    c.n_agents = 5;
    AM_REQUIRE_OK(phy_chan_create(&c, &big));
    double complex cross = 0;
    double g0 = 0, g1 = 0, g01 = 0, cfo2 = 0;
    unsigned hits[5] = {0};
    float complex H0[64], H1[64], B0[64];
    int same = 1;
    for (unsigned n = 0; n < draws; n++) {
        AM_REQUIRE_OK(phy_chan_response(ch, 0, H0));
        AM_REQUIRE_OK(phy_chan_response(ch, 1, H1));
        AM_REQUIRE_OK(phy_chan_response(big, 0, B0));
        same &= memcmp(H0, B0, sizeof H0) == 0;
        double a = (double)cabsf(H0[5]) * cabsf(H0[5]), b = (double)cabsf(H1[5]) * cabsf(H1[5]);
        cross += H0[5] * conjf(H1[5]);
        g0 += a;
        g1 += b;
        g01 += a * b;
        unsigned d;
        AM_REQUIRE_OK(phy_chan_taps(ch, 1, NULL, &d));
        AM_REQUIRE(d <= 4, "delay %u", d);
        hits[d]++;
        double e = phy_chan_agent_cfo(ch, 1);
        AM_REQUIRE(fabs(e) <= 0.3, "cfo %g", e);
        cfo2 += e * e;
        AM_REQUIRE_OK(phy_chan_draw(ch));
        AM_REQUIRE_OK(phy_chan_draw(big));
    }
    AM_CHECK(same, "agent 0's channel depends on K");
    AM_CHECK(cabs(cross) / draws < 0.05, "|E H0 H1*| = %.3g", cabs(cross) / draws);
    double cov = g01 / draws - (g0 / draws) * (g1 / draws); /* var of Exp(1) = 1, se 1/sqrt(n) */
    AM_CHECK(fabs(cov) < 0.08, "cov(|H0|^2, |H1|^2) = %.3g", cov);
    for (unsigned d = 0; d < 5; d++)
        AM_CHECK_NEAR(hits[d], draws / 5.0, 5 * sqrt(draws / 5.0));
    AM_CHECK_NEAR(cfo2 / draws, 0.09 / 3, 0.003);
    phy_chan_destroy(ch);
    phy_chan_destroy(big);
}

/* Downlink (§6): the beacon block seen at the nominal window has gain phy_chan_response(k). */
AM_TEST(downlink_reciprocity, unit)
{
    const unsigned M = 128, cp = 16;
    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.nfft = M;
    c.cp_len = cp;
    c.n_agents = 2;
    c.n_taps = 4;
    c.delay_spread = 1.0f;
    c.max_timing_offset = 8;
    c.seed = 21;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    unsigned char sc[128];
    ofdmframe_init_default_sctype(M, sc);
    unsigned mu = phy_chan_n_used(ch);
    am_rng r;
    am_rng_seed(&r, 2);
    double complex X[128], Y[128];
    float complex blk[144], H[128], y[256];
    ofdm_block(&r, M, cp, sc, mu, X, blk);
    size_t ny;
    AM_REQUIRE_OK(phy_chan_downlink(ch, 1, blk, cp + M, 10, 10, y, 256, &ny));
    AM_REQUIRE_OK(phy_chan_response(ch, 1, H));
    dft(y + 10 + cp, M, mu, Y);
    double err = 0;
    for (unsigned i = 0; i < M; i++)
        err = fmax(err, cabs(Y[i] - (double complex)H[i] * X[i]));
    AM_CHECK(err < 1e-5, "downlink max |Y - H X| = %.3g", err);
    AM_CHECK(phy_chan_downlink(ch, 2, blk, cp + M, 10, 10, y, 256, &ny) == AM_EINVAL, "agent 2");
    phy_chan_destroy(ch);
}

#define BAD(field_stmt, word)                                                                      \
    do {                                                                                           \
        phy_chan_cfg c;                                                                            \
        phy_chan_cfg_default(&c);                                                                  \
        field_stmt;                                                                                \
        phy_chan *ch = (phy_chan *)&c;                                                             \
        am_status s = phy_chan_create(&c, &ch);                                                    \
        AM_CHECK(s == AM_EINVAL && ch == NULL, "%s accepted", #field_stmt);                        \
        AM_CHECK(strstr(am_last_error(), word) != NULL, "%s: message '%s' lacks '%s'",             \
                 #field_stmt, am_last_error(), word);                                              \
    } while (0)

AM_TEST(invalid_config, unit)
{
    unsigned char sc[256] = {0};
    BAD(c.n_agents = 0, "n_agents");
    BAD(c.nfft = 100 + 1, "nfft");
    BAD(c.nfft = 32, "nfft");
    BAD(c.nfft = 8192, "nfft");
    BAD(c.cp_len = 0, "cp_len");
    BAD(c.cp_len = 129, "cp_len");
    BAD(c.sctype = sc, "sctype");
    sc[3] = 7;
    BAD(c.sctype = sc, "sctype[3]");
    BAD(c.n_taps = 0, "n_taps");
    BAD((c.n_taps = 4, c.delay_spread = 0.0f), "delay_spread");
    BAD((c.n_taps = 4, c.delay_spread = 1.2f), "delay_spread"); /* uniform rms is 1.118 */
    BAD(c.delay_spread = NAN, "delay_spread");
    BAD(c.max_cfo = -0.1f, "max_cfo");
    BAD(c.max_cfo = INFINITY, "max_cfo");
    BAD(c.common_cfo = NAN, "common_cfo");
    BAD(c.snr_db = NAN, "snr_db");
    BAD(c.snr_db = -INFINITY, "snr_db");
    BAD(c.rho = 0.0f, "rho");
    BAD(c.rho = INFINITY, "rho");
    BAD(c.max_timing_offset = 2000000000u, "max_timing_offset");
    BAD(c.threads = 65, "threads");
    AM_CHECK(phy_chan_create(NULL, NULL) == AM_EINVAL, "NULL");

    phy_chan_cfg c;
    phy_chan_cfg_default(&c);
    c.n_taps = 3;
    c.delay_spread = 0.5f;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&c, &ch));
    float complex x[10] = {0}, y[20];
    const float complex *tx[1] = {x};
    size_t ny;
    AM_CHECK(phy_chan_execute(ch, tx, 10, 4, 4, y, 19, &ny) == AM_EINVAL, "cap 19 < 20 accepted");
    AM_CHECK(strstr(am_last_error(), "capacity") != NULL, "%s", am_last_error());
    AM_CHECK_OK(phy_chan_execute(ch, tx, 10, 4, 4, y, 20, &ny));
    AM_CHECK(phy_chan_execute(ch, NULL, 10, 4, 4, y, 20, &ny) == AM_EINVAL, "tx NULL accepted");
    AM_CHECK(phy_chan_execute(ch, tx, SIZE_MAX - 3, 4, 4, y, 20, &ny) == AM_EINVAL, "overflow");
    AM_CHECK(phy_chan_response(ch, 1, y) == AM_EINVAL, "agent 1 of 1");
    phy_chan_destroy(ch);
    phy_chan_destroy(NULL);
}

/* Source for phy_chan_execute_source from bursts in memory; counts the samples asked for. */
typedef struct mem_src {
    const float complex *const *x;
    size_t n;
    size_t asked; /* written by several threads: only read when the call is over */
    int bad;
} mem_src;

static am_status
from_memory(void *user, unsigned thread, unsigned k, size_t u0, size_t n, float complex *out)
{
    mem_src *m = user;
    if (thread >= 3 || !m->x[k] || u0 + n > m->n)
        m->bad = 1;
    else
        memcpy(out, m->x[k] + u0, n * sizeof *out);
    __atomic_add_fetch(&m->asked, n, __ATOMIC_RELAXED);
    return AM_OK;
}

static am_status
failing(void *user, unsigned thread, unsigned k, size_t u0, size_t n, float complex *out)
{
    (void)user, (void)thread, (void)u0, (void)n, (void)out;
    return k == 5 ? AM_FAIL(AM_EIO, "source of agent 5 broke") : AM_OK;
}

/* Issue 14: the emulator on 1, 2 or 3 threads gives byte-identical uplink and downlink outputs
 * (multipath, timing offsets, CFO, noise; a stream of several work blocks), and bursts made on
 * demand by a source give the same bytes as bursts in memory; a source's error is returned. */
AM_TEST(threads_identical, unit)
{
    enum { K = 9, N = 70000, LEAD = 33, TAIL = 50 };
    float complex *x[K], *y[3], *yd[3];
    am_rng g;
    am_rng_seed(&g, 77);
    for (unsigned k = 0; k < K; k++) {
        x[k] = malloc(N * sizeof **x);
        AM_REQUIRE(x[k], "out of memory");
        for (size_t t = 0; t < N; t++)
            x[k][t] = am_rng_cnormal(&g);
    }
    const float complex *tx[K];
    for (unsigned k = 0; k < K; k++)
        tx[k] = k == 4 ? NULL : x[k]; /* agent 4 silent */
    unsigned char active[K];
    for (unsigned k = 0; k < K; k++)
        active[k] = k != 4;
    size_t cap = 0, ny = 0, nyd = 0, same = 0, same_d = 0, same_src = 0;
    for (unsigned v = 0; v < 3; v++) {
        phy_chan_cfg c;
        phy_chan_cfg_default(&c);
        c.n_agents = K;
        c.n_taps = 5;
        c.delay_spread = 1.1f;
        c.max_timing_offset = 12;
        c.max_cfo = 0.3f;
        c.common_cfo = 0.05f;
        c.snr_db = 10.0f;
        c.seed = 99;
        c.threads = v + 1;
        phy_chan *ch = NULL;
        AM_REQUIRE_OK(phy_chan_create(&c, &ch));
        cap = phy_chan_out_len(ch, N, LEAD, TAIL);
        y[v] = malloc(cap * sizeof **y);
        yd[v] = malloc(cap * sizeof **yd);
        float complex *ys = malloc(cap * sizeof *ys);
        AM_REQUIRE(y[v] && yd[v] && ys, "out of memory");
        AM_REQUIRE_OK(phy_chan_execute(ch, tx, N, LEAD, TAIL, y[v], cap, &ny));
        AM_REQUIRE_OK(phy_chan_downlink(ch, 7, x[7], N, LEAD, TAIL, yd[v], cap, &nyd));
        if (v > 0) {
            same += memcmp(y[0], y[v], ny * sizeof **y) == 0;
            same_d += memcmp(yd[0], yd[v], nyd * sizeof **yd) == 0;
        }
        /* the same realisation and noise again, the bursts from a source */
        phy_chan_reset(ch);
        mem_src m = {(const float complex *const *)tx, N, 0, 0};
        size_t nys = 0;
        AM_REQUIRE_OK(
            phy_chan_execute_source(ch, from_memory, &m, active, N, LEAD, TAIL, ys, cap, &nys));
        same_src += nys == ny && memcmp(ys, y[0], ny * sizeof *ys) == 0 && !m.bad;
        /* every burst sample once, plus n_taps - 1 at each boundary between the 5 blocks */
        AM_CHECK(m.asked >= (K - 1) * (size_t)N && m.asked <= (K - 1) * ((size_t)N + 4 * 4),
                 "threads %u: the source was asked for %zu samples", v + 1, m.asked);
        phy_chan_reset(ch);
        AM_CHECK(phy_chan_execute_source(ch, failing, NULL, NULL, N, LEAD, TAIL, ys, cap, &nys) ==
                     AM_EIO,
                 "threads %u: a failing source was not reported", v + 1);
        AM_CHECK(strstr(am_last_error(), "agent 5 broke") != NULL, "%s", am_last_error());
        free(ys);
        phy_chan_destroy(ch);
    }
    AM_CHECK(ny == cap && nyd == cap, "output lengths %zu %zu of %zu", ny, nyd, cap);
    AM_CHECK(same == 2 && same_d == 2, "threads 2, 3 vs 1: uplink identical %zu, downlink %zu of 2",
             same, same_d);
    AM_CHECK(same_src == 3, "source vs memory: identical %zu of 3", same_src);
    for (unsigned v = 0; v < 3; v++) {
        free(y[v]);
        free(yd[v]);
    }
    for (unsigned k = 0; k < K; k++)
        free(x[k]);
}
