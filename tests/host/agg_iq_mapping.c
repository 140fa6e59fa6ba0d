/* host/agg_iq with the real mapping (docs/air-interface.md §3.3) on the emulated radios of
 * docs/impairments.md: the same payloads (Gaussian, 2048 reals per agent, rms rule), the same
 * channels and radios (seeds), mapping complex then real: K = 10, M = 256, 20 dB, g_th 0, rounds
 * 41-120 scored against the §5.4 floor (the same for both mappings at the same eta). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "fl/agg.h"
#include "phy/impair.h"
#include "round/agg_iq.h"

#include "agg_bench.h"

static int verbose_env(void) /* AM_VERBOSE=1 prints the measured figures */
{
    const char *v = getenv("AM_VERBOSE");
    return v && *v == '1';
}

/* Excess of the rounds from..R-1 over the §5.4 floor, dB: the estimate against the average of the
 * delivered entries, the floor eta^2 N0 / (2 n^2 rho) of the same entries. */
static void excess_db(const char *profile, int cal, phy_mapping map, double *out)
{
    *out = NAN;
    enum { K = 10, R = 120, FROM = 40 };
    const size_t D = 2048;
    const double snr = 100.0; /* 20 dB */
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.nfft = 256;
    c.max_timing_offset = 8; /* cp / 4 */
    c.snr_db = 20.0f;
    c.seed = 5;
    c.cal = cal;
    c.mapping = map;
    phy_impair_cfg imp;
    imp.seed = 5;
    AM_REQUIRE_OK(phy_impair_profile(profile, &imp));
    c.impair = &imp;
    fl_agg a = {0};
    bench b;
    AM_REQUIRE(bench_new(&b, K, D), "out of memory");
    AM_REQUIRE_OK(agg_iq_create(&c, &a));
    am_rng g;
    am_rng_seed(&g, 8);
    double err = 0, flo = 0;
    for (unsigned r = 0; r < R; r++) {
        fill_gauss(&b, &g);
        fl_agg_round rr = {fl_agg_eta(FL_ETA_RMS, (const float *const *)b.x, NULL, K, D), 1.0f,
                           0.0f, r + 1};
        AM_REQUIRE_OK(
            fl_agg_execute(&a, &rr, (const float *const *)b.x, NULL, K, D, b.out, b.act, b.del));
        if (r < FROM)
            continue;
        for (size_t j = 0; j < D; j++) {
            const unsigned n = (unsigned)b.act[j];
            if (n == 0)
                continue;
            double s = 0;
            for (size_t k = 0; k < K; k++)
                s += b.del[k][j];
            const double e = (double)b.out[j] - s / n;
            err += e * e;
            flo += (double)rr.eta * rr.eta / (2.0 * n * n * snr);
        }
    }
    fl_agg_destroy(&a);
    bench_free(&b);
    *out = 10 * log10(err / flo);
}

/* Measured (excess over the floor, complex / real; AM_VERBOSE=1 prints them):
 *   ideal radios                      +1.51 / +0.80 dB: the agents' channel-estimate error on
 *                                     faded bins (g_th 0, inversion) is partly a phase error,
 *                                     whose quadrature the real mapping drops;
 *   b210-shared-ref, --cal off       +43.01 / +40.19 dB: uniformly random LO phases, A ~ 0 in
 *                                     §3.3's closed form and Re z_k as spread as z_k: no sum
 *                                     either way, the real mapping keeps the in-phase half of a
 *                                     uniformly phased error (-3 dB);
 *   b210-shared-ref, calibrated       +2.32 / +1.13 dB.
 * (With the agents' and receiver's estimators of an hour earlier: +5.57 / +3.59, +42.88 /
 * +40.07 and +7.89 / +5.87 dB: the bounds are on what the mapping changes, not on them.) Checked:
 * the real mapping is better in each case (measured by 0.71, 2.82, 1.19 dB), by about 3 dB with
 * uniform phases, and uncalibrated radios stay without a sum (> +35 dB) with either. Since the
 * calibrated runs probe their agents before round 1 (docs/air-interface.md §8.5), at that commit:
 * ideal +1.02 / +0.49, --cal off +42.82 / +40.01, calibrated +1.64 / +0.77 dB. */
AM_TEST(b210_shared_ref, slow)
{
    const struct {
        const char *profile;
        int cal;
        double lo, hi; /* bounds on real - complex, dB */
        double real_min;
    } cs[] = {{"ideal", 0, -2.5, -0.3, -INFINITY},
              {"b210-shared-ref", 0, -3.5, -2.0, 35.0},
              {"b210-shared-ref", 1, -2.5, -0.3, -INFINITY}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        double ec, er;
        excess_db(cs[i].profile, cs[i].cal, PHY_MAP_COMPLEX, &ec);
        excess_db(cs[i].profile, cs[i].cal, PHY_MAP_REAL, &er);
        if (verbose_env())
            fprintf(stderr, "%s cal %d: complex %+.2f dB, real %+.2f dB over the floor\n",
                    cs[i].profile, cs[i].cal, ec, er);
        AM_CHECK(er - ec > cs[i].lo && er - ec < cs[i].hi,
                 "%s cal %d: real %+.2f dB, complex %+.2f dB over the floor", cs[i].profile,
                 cs[i].cal, er, ec);
        AM_CHECK(er > cs[i].real_min, "%s cal %d: real %+.2f dB over the floor: a sum?",
                 cs[i].profile, cs[i].cal, er);
    }
}
