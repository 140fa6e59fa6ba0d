/* fl/agg: the `ideal` average, the `stat` equivalent channel against the docs/air-interface.md §5
 * closed form (noise) and the Rayleigh truncation statistics (§4), eta rules and argument checks.
 */
#include "fl/agg.h"
#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"

AM_TEST(ideal_average, unit)
{
    const size_t K = 4, d = 5;
    float a[4][5];
    const float *x[4];
    float del[4][5];
    float *dl[4];
    for (size_t k = 0; k < K; k++) {
        for (size_t i = 0; i < d; i++)
            a[k][i] = (float)(k * 10 + i);
        x[k] = a[k];
        dl[k] = del[k];
    }
    unsigned char present[4] = {1, 0, 1, 1};
    float out[5], act[5];
    fl_agg g;
    AM_REQUIRE_OK(fl_agg_ideal_create(&g));
    fl_agg_round r = {.eta = 1, .rho = 1, .g_th = 0, .round = 0};
    AM_REQUIRE_OK(fl_agg_execute(&g, &r, x, present, K, d, out, act, dl));
    for (size_t i = 0; i < d; i++) {
        AM_CHECK_NEAR(out[i], (0 + 20 + 30) / 3.0 + (double)i, 1e-5);
        AM_CHECK(act[i] == 3.0f, "active %g", (double)act[i]);
        AM_CHECK(del[1][i] == 0.0f && del[2][i] == a[2][i], "delivered");
    }
    AM_CHECK(strcmp(fl_agg_name(&g), "ideal") == 0, "name");
    fl_agg_destroy(&g);
}

AM_TEST(bad_arguments, unit)
{
    fl_agg g;
    AM_REQUIRE_OK(fl_agg_ideal_create(&g));
    float a[2] = {1, 2}, nan_v[2] = {1, NAN}, out[2];
    const float *x[1] = {a}, *xn[1] = {nan_v};
    fl_agg_round r = {.eta = 1, .rho = 1, .g_th = 0};
    AM_CHECK(fl_agg_execute(&g, &r, xn, NULL, 1, 2, out, NULL, NULL) == AM_EINVAL, "NaN vector");
    AM_CHECK(strstr(am_last_error(), "not finite") != NULL, "message: %s", am_last_error());
    unsigned char none[1] = {0};
    AM_CHECK(fl_agg_execute(&g, &r, x, none, 1, 2, out, NULL, NULL) == AM_EINVAL, "no agent");
    r.eta = NAN;
    AM_CHECK(fl_agg_execute(&g, &r, x, NULL, 1, 2, out, NULL, NULL) == AM_EINVAL, "eta NaN");
    r.eta = 1;
    r.g_th = -1;
    AM_CHECK(fl_agg_execute(&g, &r, x, NULL, 1, 2, out, NULL, NULL) == AM_EINVAL, "g_th < 0");
    r.g_th = 0;
    AM_CHECK(fl_agg_execute(&g, &r, x, NULL, 0, 2, out, NULL, NULL) == AM_EINVAL, "K = 0");
    fl_agg_destroy(&g);
    fl_agg_destroy(&g); /* cleared: second destroy is a no-op */
    fl_agg_stat_cfg sc = {.snr_db = NAN, .seed = 1};
    AM_CHECK(fl_agg_stat_create(&sc, &g) == AM_EINVAL, "SNR NaN");
    AM_CHECK(g.ops == NULL, "failed create left ops");
    fl_eta_rule er;
    AM_CHECK(fl_eta_rule_parse("rms", &er) == AM_OK && er == FL_ETA_RMS, "rms");
    AM_CHECK(fl_eta_rule_parse("max", &er) == AM_EINVAL, "max accepted");
}

AM_TEST(eta_rules, unit)
{
    /* agent 0: bins (3,4) (0,0) (1,_) -> |c| 5, 0, 1; power 25+0+1 over 3 bins.
     * agent 1: bins (0,1) (1,1) (2,_) -> |c| 1, 1.414, 2; power 1+2+4 over 3 bins. */
    float a0[5] = {3, 4, 0, 0, 1}, a1[5] = {0, 1, 1, 1, 2};
    const float *x[2] = {a0, a1};
    AM_CHECK_NEAR(fl_agg_eta(FL_ETA_PEAK, x, NULL, 2, 5), 5.0, 1e-6);
    AM_CHECK_NEAR(fl_agg_eta(FL_ETA_RMS, x, NULL, 2, 5), sqrt(26.0 / 3.0), 1e-6);
    unsigned char present[2] = {0, 1};
    AM_CHECK_NEAR(fl_agg_eta(FL_ETA_PEAK, x, present, 2, 5), 2.0, 1e-6);
    float z[5] = {0};
    const float *xz[1] = {z};
    AM_CHECK_NEAR(fl_agg_eta(FL_ETA_PEAK, xz, NULL, 1, 5), 1.0, 0.0);
}

/* Runs `stat` once on K random vectors of length d and checks, independently of the
 * implementation's internals:
 *  - delivered[k] is x[k] or 0 per complex bin (both reals share the fading,
 * docs/air-interface.md §3-§4);
 *  - the active count equals the number of agents whose bin was delivered;
 *  - the erasure probability is 1 - exp(-g_th) (|h|^2 ~ Exp(1), §4), within 5 sigma;
 *  - est - (average of the delivered entries) is the noise: its energy matches the §5 closed
 *    form sum_j eta^2 N0 / (2 n_j^2 rho) for the realised counts n_j within 0.2 dB, and it has
 *    zero mean. Returns the measured and closed-form noise NMSE in dB (NAN, and the case failed,
 *    if the aggregator cannot be made: no check may then compare two defaults). */
static void stat_check(double snr_db,
                       double g_th,
                       size_t K,
                       size_t d,
                       unsigned round,
                       double *nmse_db,
                       double *closed_db)
{
    *nmse_db = *closed_db = NAN;
    fl_agg g;
    fl_agg_stat_cfg sc = {.snr_db = snr_db, .seed = 77};
    AM_REQUIRE_OK(fl_agg_stat_create(&sc, &g));
    am_rng r;
    am_rng_seed2(&r, 1234, round);
    float **xs = calloc(K, sizeof *xs), **dl = calloc(K, sizeof *dl);
    for (size_t k = 0; k < K; k++) {
        xs[k] = malloc(d * sizeof **xs);
        dl[k] = malloc(d * sizeof **dl);
        for (size_t i = 0; i < d; i++) /* never exactly 0, so delivered tells on from off */
            xs[k][i] = (float)(0.5 + am_rng_uniform(&r)) * (am_rng_uniform(&r) < 0.5 ? -1.f : 1.f);
    }
    float *out = malloc(d * sizeof *out), *act = malloc(d * sizeof *act);
    const float eta = fl_agg_eta(FL_ETA_PEAK, (const float *const *)xs, NULL, K, d);
    fl_agg_round rd = {.eta = eta, .rho = 2.5f, .g_th = (float)g_th, .round = round};
    am_status st = fl_agg_execute(&g, &rd, (const float *const *)xs, NULL, K, d, out, act, dl);
    AM_CHECK(st == AM_OK, "stat: %s", am_last_error());
    const double snr = pow(10.0, snr_db / 10.0);
    double e_noise = 0, e_sig = 0, e_closed = 0, mean_noise = 0;
    size_t bad_pair = 0, bad_count = 0, off = 0, cnt = 0;
    const size_t nbins = d / 2;
    for (size_t j = 0; j < nbins; j++) {
        unsigned n = 0;
        double s0 = 0, s1 = 0;
        for (size_t k = 0; k < K; k++) {
            int on0 = dl[k][2 * j] == xs[k][2 * j], on1 = dl[k][2 * j + 1] == xs[k][2 * j + 1];
            int off0 = dl[k][2 * j] == 0.0f, off1 = dl[k][2 * j + 1] == 0.0f;
            if (!((on0 && on1) || (off0 && off1)))
                bad_pair++;
            if (on0) {
                n++;
                s0 += xs[k][2 * j];
                s1 += xs[k][2 * j + 1];
            } else {
                off++;
            }
            cnt++;
        }
        if (act[2 * j] != (float)n || act[2 * j + 1] != (float)n)
            bad_count++;
        if (n == 0) {
            if (out[2 * j] != 0.0f || out[2 * j + 1] != 0.0f)
                bad_count++;
            continue;
        }
        double a0 = s0 / n, a1 = s1 / n;
        double n0 = out[2 * j] - a0, n1 = out[2 * j + 1] - a1;
        e_noise += n0 * n0 + n1 * n1;
        mean_noise += n0 + n1;
        e_sig += a0 * a0 + a1 * a1;
        e_closed += 2.0 * (double)eta * eta * (2.5 / snr) / (2.0 * n * n * 2.5);
    }
    AM_CHECK(bad_pair == 0, "%zu (agent, bin) pairs with mixed delivery", bad_pair);
    AM_CHECK(bad_count == 0, "%zu bins with a wrong active count or a non-zero empty estimate",
             bad_count);
    const double p_off = 1.0 - exp(-g_th), sd = sqrt((double)cnt * p_off * (1.0 - p_off));
    AM_CHECK(fabs((double)off - (double)cnt * p_off) <= 5.0 * sd + 1e-9,
             "erasures %zu of %zu, expected %.1f +- %.1f", off, cnt, (double)cnt * p_off, sd);
    *nmse_db = 10.0 * log10(e_noise / e_sig);
    *closed_db = 10.0 * log10(e_closed / e_sig);
    /* mean of 2*nbins noise samples of rms sqrt(e_noise / (2 nbins)): within 5 standard errors */
    const double nb = (double)nbins;
    const double m = mean_noise / (2.0 * nb), se = sqrt(e_noise) / (2.0 * nb);
    AM_CHECK(fabs(m) <= 5.0 * se, "noise mean %.3g, standard error %.3g", m, se);
    for (size_t k = 0; k < K; k++) {
        free(xs[k]);
        free(dl[k]);
    }
    free(xs), free(dl), free(out), free(act);
    fl_agg_destroy(&g);
}

AM_TEST(stat_noise_closed_form, unit)
{
    const double snrs[] = {0.0, 10.0, 20.0, 30.0};
    const double gths[] = {0.0, 0.3, 1.0};
    for (size_t gi = 0; gi < 3; gi++) {
        for (size_t si = 0; si < 4; si++) {
            double meas = NAN, closed = NAN;
            stat_check(snrs[si], gths[gi], 6, 100000, (unsigned)(gi * 4 + si), &meas, &closed);
            printf("stat SNR %4.1f dB g_th %.1f: noise NMSE %7.3f dB, closed form %7.3f dB "
                   "(diff %.3f dB)\n",
                   snrs[si], gths[gi], meas, closed, meas - closed);
            AM_CHECK(fabs(meas - closed) <= 0.2, "SNR %g g_th %g: %.3f dB vs %.3f dB", snrs[si],
                     gths[gi], meas, closed);
        }
    }
}

AM_TEST(stat_counts_binomial, unit)
{
    /* Independence across agents: the number of active agents on a bin is Binomial(K, e^-g). */
    const size_t K = 8, d = 40000;
    const double g_th = 0.7, p = exp(-g_th);
    fl_agg g;
    fl_agg_stat_cfg sc = {.snr_db = 20.0, .seed = 5};
    AM_REQUIRE_OK(fl_agg_stat_create(&sc, &g));
    float **xs = calloc(K, sizeof *xs);
    for (size_t k = 0; k < K; k++) {
        xs[k] = malloc(d * sizeof **xs);
        for (size_t i = 0; i < d; i++)
            xs[k][i] = 1.0f;
    }
    float *out = malloc(d * sizeof *out), *act = malloc(d * sizeof *act);
    fl_agg_round rd = {.eta = 1.0f, .rho = 1.0f, .g_th = (float)g_th, .round = 3};
    AM_REQUIRE_OK(fl_agg_execute(&g, &rd, (const float *const *)xs, NULL, K, d, out, act, NULL));
    double hist[9] = {0};
    for (size_t j = 0; j < d / 2; j++)
        hist[(size_t)act[2 * j]] += 1.0;
    double chi2 = 0;
    for (unsigned n = 0; n <= K; n++) {
        double binom = 1;
        for (unsigned i = 0; i < n; i++)
            binom = binom * (double)(K - i) / (double)(i + 1);
        double e = (double)(d / 2) * binom * pow(p, n) * pow(1 - p, (double)(K - n));
        chi2 += (hist[n] - e) * (hist[n] - e) / e;
    }
    printf("active-count histogram vs Binomial(8, %.3f): chi2 = %.2f (8 dof)\n", p, chi2);
    AM_CHECK(chi2 < 30.0, "chi2 %.2f with 8 degrees of freedom (p < 2e-4)", chi2);
    /* Determinism: same (seed, round) -> same output; another round -> another channel. */
    float *out2 = malloc(d * sizeof *out2);
    AM_REQUIRE_OK(fl_agg_execute(&g, &rd, (const float *const *)xs, NULL, K, d, out2, NULL, NULL));
    AM_CHECK(memcmp(out, out2, d * sizeof *out) == 0, "same round, different output");
    rd.round = 4;
    AM_REQUIRE_OK(fl_agg_execute(&g, &rd, (const float *const *)xs, NULL, K, d, out2, NULL, NULL));
    AM_CHECK(memcmp(out, out2, d * sizeof *out) != 0, "rounds 3 and 4 gave the same channel");
    for (size_t k = 0; k < K; k++)
        free(xs[k]);
    free(xs), free(out), free(out2), free(act);
    fl_agg_destroy(&g);
}

AM_TEST(stat_odd_length_and_absent, unit)
{
    /* d odd: the last bin carries one real (the imaginary part is the zero pad, §3).
     * An absent agent contributes nothing and is reported as not delivered. */
    fl_agg g;
    fl_agg_stat_cfg sc = {.snr_db = 200.0, .seed = 9}; /* noise ~ 1e-20: exact averages */
    AM_REQUIRE_OK(fl_agg_stat_create(&sc, &g));
    float a[3] = {1, 2, 3}, b[3] = {5, 6, 7}, c[3] = {100, 100, 100}, out[3], act[3];
    float da[3], db[3], dc[3] = {9, 9, 9};
    const float *x[3] = {a, b, c};
    float *dl[3] = {da, db, dc};
    unsigned char present[3] = {1, 1, 0};
    fl_agg_round rd = {.eta = 1, .rho = 1, .g_th = 0, .round = 1};
    AM_REQUIRE_OK(fl_agg_execute(&g, &rd, x, present, 3, 3, out, act, dl));
    AM_CHECK_NEAR(out[0], 3.0, 1e-5);
    AM_CHECK_NEAR(out[1], 4.0, 1e-5);
    AM_CHECK_NEAR(out[2], 5.0, 1e-5);
    AM_CHECK(act[2] == 2.0f && dc[0] == 0.0f && db[2] == 7.0f, "counts / delivered");
    fl_agg_destroy(&g);
}
