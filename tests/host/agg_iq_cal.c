/* Closed-loop calibration in the `iq` aggregator (docs/air-interface.md §8, §5.6): with the
 * radios of b210-shared-ref (random LO phases and TX/RX chain mismatch: no reciprocity) the
 * calibrated sum is as coherent as with ideal radios, and far from it without calibration (K = 10,
 * M = 256, 20 dB, g_th 0, 300 rounds, the last 200 scored against the §5 floor); the agents the
 * server heard are the ones that sent (an absent agent is not heard); the calibration state taken
 * from one aggregator and loaded into another continues the same rounds bit for bit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "fl/agg.h"
#include "phy/cal.h"
#include "phy/impair.h"
#include "phy/sigmf.h"
#include "round/agg_iq.h"
#include "round/replay.h"

static int verbose(void)
{
    const char *v = getenv("AM_VERBOSE");
    return v && *v == '1';
}

#include "agg_bench.h"

/* Error of the estimate against the average of the agents whose entries arrived, and the §5 floor
 * eta^2 N0 / (2 n^2 rho) of the same entries (N0 = rho / snr). */
static void score(const bench *b,
                  const unsigned char *present,
                  float eta,
                  double snr_db,
                  double *err,
                  double *flo)
{
    const double snr = pow(10.0, snr_db / 10.0);
    for (size_t j = 0; j < b->D; j++) {
        unsigned n = (unsigned)b->act[j];
        if (n == 0)
            continue;
        double s = 0;
        for (size_t k = 0; k < b->K; k++)
            if (!present || present[k])
                s += b->del[k][j];
        double e = (double)b->out[j] - s / n;
        *err += e * e;
        *flo += (double)eta * eta / (2.0 * n * n * snr);
    }
}

/* What a case changes in the b210-shared-ref radios. */
enum { RADIOS_B210, RADIOS_B210_NO_IQ, RADIOS_IDEAL };

typedef struct outcome {
    double excess_db;  /* error over the floor summed over rounds from..R-1, dB */
    double worst_db;   /* the worst of those rounds */
    unsigned heard_ok; /* rounds whose heard agents are exactly the senders */
} outcome;

static void run_case_m(int radios,
                       const char *profile,
                       int cal,
                       unsigned M,
                       size_t D,
                       unsigned R,
                       unsigned from,
                       outcome *o)
{
    enum { K = 10 };
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.nfft = M;
    c.max_timing_offset = M / 32; /* cp / 4 */
    c.snr_db = 20.0f;
    c.seed = 5;
    phy_impair_cfg imp;
    imp.seed = 5;
    AM_REQUIRE_OK(phy_impair_profile(radios == RADIOS_IDEAL ? "ideal" : profile, &imp));
    if (radios == RADIOS_B210_NO_IQ) /* the server receiver's image: issue 10 §4, not §8's */
        imp.iq_amp_db = imp.iq_phase_deg = 0.0f;
    c.impair = &imp;
    c.cal = cal;
    fl_agg a = {0};
    bench b;
    AM_REQUIRE(bench_new(&b, K, D), "out of memory");
    AM_REQUIRE_OK(agg_iq_create(&c, &a));
    am_rng g;
    am_rng_seed(&g, 8);
    double err = 0, flo = 0;
    o->worst_db = -INFINITY;
    o->heard_ok = 0;
    for (unsigned r = 0; r < R; r++) {
        fill_gauss(&b, &g);
        fl_agg_round rr = {fl_agg_eta(FL_ETA_RMS, (const float *const *)b.x, NULL, K, D), 1.0f,
                           0.0f, r + 1};
        AM_REQUIRE_OK(
            fl_agg_execute(&a, &rr, (const float *const *)b.x, NULL, K, D, b.out, b.act, b.del));
        agg_iq_round_info in;
        AM_REQUIRE_OK(agg_iq_last_round(&a, &in));
        o->heard_ok += in.cal == cal && (!cal || in.agents_heard == in.agents_sent);
        if (r < from)
            continue;
        double e = 0, f = 0;
        if (in.detected)
            score(&b, NULL, rr.eta, 20.0, &e, &f);
        else
            e = INFINITY, f = 1;
        err += e;
        flo += f;
        o->worst_db = fmax(o->worst_db, 10 * log10(e / f));
    }
    fl_agg_destroy(&a);
    bench_free(&b);
    o->excess_db = 10 * log10(err / flo);
}

static void run_case(int radios, int cal, unsigned R, unsigned from, outcome *o)
{
    run_case_m(radios, "b210-shared-ref", cal, 256, 2048, R, from, o);
}

/* Issue 10's case. Measured (radio seed 5, payload seed 8), excess over the §5 floor, rounds
 * 101-300: ideal radios without calibration +5.72 dB (with g_th 0 the agents' channel-estimate
 * error on faded bins, amplified by the inversion, sits above the floor whatever the radios);
 * b210-shared-ref calibrated +9.75 dB (worst round +29.4), uncalibrated +42.86 dB; without the
 * server's RX IQ imbalance (image -35 dBc, a receiver matter: issue 10 §4) calibrated +6.33 dB,
 * 0.61 dB from the ideal radios. Bounds: the calibrated b210 radios less IQ within 1.5 dB of ideal
 * radios; with IQ imbalance under +11 dB; uncalibrated over +30 dB (far worse: the test can fail);
 * every round the agents heard are exactly the ones that sent. */
AM_TEST(b210_shared_ref_converges, slow)
{
    outcome id, c1, c0, cq;
    run_case(RADIOS_IDEAL, 0, 300, 100, &id);
    run_case(RADIOS_B210, 1, 300, 100, &c1);
    run_case(RADIOS_B210, 0, 300, 100, &c0);
    run_case(RADIOS_B210_NO_IQ, 1, 300, 100, &cq);
    if (verbose())
        printf("K 10 M 256 20 dB g_th 0, rounds 101-300 over the §5 floor: ideal radios %+.2f dB; "
               "b210-shared-ref calibrated %+.2f (worst round %+.2f), uncalibrated %+.2f (worst "
               "%+.2f); without RX IQ imbalance calibrated %+.2f (worst %+.2f)\n",
               id.excess_db, c1.excess_db, c1.worst_db, c0.excess_db, c0.worst_db, cq.excess_db,
               cq.worst_db);
    AM_CHECK(cq.excess_db - id.excess_db < 1.5,
             "calibrated b210 (no IQ) %+.2f dB vs ideal radios %+.2f dB", cq.excess_db,
             id.excess_db);
    AM_CHECK(c1.excess_db < 11.0, "calibrated b210-shared-ref %+.2f dB over the floor",
             c1.excess_db);
    AM_CHECK(c0.excess_db > 30.0, "uncalibrated b210-shared-ref only %+.2f dB over the floor",
             c0.excess_db);
    AM_CHECK(c1.heard_ok == 300 && cq.heard_ok == 300 && c0.heard_ok == 300 && id.heard_ok == 300,
             "heard = sent in %u, %u rounds; no calibration reported in %u, %u", c1.heard_ok,
             cq.heard_ok, c0.heard_ok, id.heard_ok);
}

/* Participation (§5.6): agents 1 and 4 absent (silent): not heard, every other one heard, in
 * every round; the round's figures say so. */
AM_TEST(absent_not_heard, unit)
{
    enum { K = 6, D = 1500, R = 6 };
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.seed = 21;
    c.cal = 1;
    fl_agg a = {0};
    bench b;
    AM_REQUIRE(bench_new(&b, K, D), "out of memory");
    AM_REQUIRE_OK(agg_iq_create(&c, &a));
    am_rng g;
    am_rng_seed(&g, 4);
    const unsigned char present[K] = {1, 0, 1, 1, 0, 1};
    for (unsigned r = 0; r < R; r++) {
        fill_gauss(&b, &g);
        fl_agg_round rr = {fl_agg_eta(FL_ETA_PEAK, (const float *const *)b.x, present, K, D), 1.0f,
                           0.1f, r};
        AM_REQUIRE_OK(
            fl_agg_execute(&a, &rr, (const float *const *)b.x, present, K, D, b.out, b.act, b.del));
        agg_iq_round_info in;
        AM_REQUIRE_OK(agg_iq_last_round(&a, &in));
        AM_REQUIRE(in.cal && in.heard && in.detected, "round %u: calibration figures", r);
        for (unsigned k = 0; k < K; k++)
            AM_CHECK(in.heard[k] == present[k], "round %u: agent %u heard %u, present %u", r, k,
                     in.heard[k], present[k]);
        AM_CHECK(in.agents_heard == 4 && in.agents_sent == 4, "round %u: heard %u sent %u", r,
                 in.agents_heard, in.agents_sent);
        double e = 0, f = 0;
        score(&b, present, rr.eta, 20.0, &e, &f);
        AM_CHECK(10 * log10(e / f) < 2.0, "round %u: %+.2f dB over the floor", r,
                 10 * log10(e / f));
    }
    fl_agg_destroy(&a);
    bench_free(&b);
}

/* The calibration state (agg_iq_state_*) of an aggregator after 12 rounds, loaded into a fresh one
 * that then runs rounds 13-15: the same outputs as the first one's rounds 13-15, bit for bit; a
 * fresh one without it differs (the state matters). Wrong sizes and bad values are refused. */
AM_TEST(state_resumes, unit)
{
    enum { K = 4, D = 700 };
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.seed = 3;
    phy_impair_cfg imp;
    imp.seed = 3;
    AM_REQUIRE_OK(phy_impair_profile("b210-shared-ref", &imp));
    c.impair = &imp; /* cal auto: on */
    fl_agg a = {0}, b2 = {0}, b3 = {0};
    AM_REQUIRE_OK(agg_iq_create(&c, &a));
    AM_REQUIRE_OK(agg_iq_create(&c, &b2));
    AM_REQUIRE_OK(agg_iq_create(&c, &b3));
    const size_t n = agg_iq_state_size(&a);
    AM_CHECK(n == K * (8 * PHY_CAL_Q + 4), "state of %zu bytes", n);
    bench x, y, z;
    AM_REQUIRE(bench_new(&x, K, D) && bench_new(&y, K, D) && bench_new(&z, K, D), "memory");
    am_rng g;
    am_rng_seed(&g, 9);
    unsigned same = 0, differ = 0;
    for (unsigned r = 1; r <= 15; r++) {
        for (size_t k = 0; k < K; k++)
            for (size_t j = 0; j < D; j++)
                x.x[k][j] = y.x[k][j] = z.x[k][j] = (float)am_rng_normal(&g);
        fl_agg_round rr = {fl_agg_eta(FL_ETA_PEAK, (const float *const *)x.x, NULL, K, D), 1.0f,
                           0.1f, r};
        AM_REQUIRE_OK(
            fl_agg_execute(&a, &rr, (const float *const *)x.x, NULL, K, D, x.out, x.act, x.del));
        if (r == 12) {
            unsigned char *st = malloc(n);
            AM_REQUIRE(st != NULL, "memory");
            agg_iq_state_save(&a, st);
            AM_CHECK(agg_iq_state_load(&b2, st, n - 1) == AM_EINVAL, "short state accepted");
            AM_REQUIRE_OK(agg_iq_state_load(&b2, st, n));
            float bad = NAN;
            memcpy(st, &bad, sizeof bad);
            AM_CHECK(agg_iq_state_load(&b3, st, n) == AM_EINVAL, "NaN accepted");
            free(st);
        }
        if (r <= 12)
            continue;
        AM_REQUIRE_OK(
            fl_agg_execute(&b2, &rr, (const float *const *)y.x, NULL, K, D, y.out, y.act, y.del));
        AM_REQUIRE_OK(
            fl_agg_execute(&b3, &rr, (const float *const *)z.x, NULL, K, D, z.out, z.act, z.del));
        same += memcmp(x.out, y.out, D * sizeof(float)) == 0;
        differ += memcmp(x.out, z.out, D * sizeof(float)) != 0;
    }
    AM_CHECK(same == 3, "resumed state: %u of 3 rounds identical", same);
    AM_CHECK(differ == 3, "fresh state: %u of 3 rounds differ", differ);
    fl_agg_destroy(&a);
    fl_agg_destroy(&b2);
    fl_agg_destroy(&b3);
    bench_free(&x);
    bench_free(&y);
    bench_free(&z);
}

/* Issue 10's long burst: M = 1024, 20 000 reals (14 data symbols), K = 10, 20 dB, g_th 0, rounds
 * 101-300 against the §5 floor. Measured (radio seed 5, payload seed 8): ideal radios +5.67 dB;
 * b210-free (independent oscillators: the agents also track their offset, §4.2) calibrated
 * +5.80 dB (0.13 dB from ideal radios; worst round +9.10), uncalibrated +14.01 dB;
 * b210-shared-ref calibrated +16.12 dB, of which the server's 12-bit ADC at 10 dB back-off is
 * about +7.5 dB (the calibrated preamble and pilots add up coherently and clip: issue 10 §4's
 * receiver) and its RX IQ image most of the rest (60-round runs: +17.0 dB, +9.6 without the
 * ADC). Bounds: b210-free calibrated within 1 dB of ideal radios, uncalibrated more than 6 dB
 * worse than calibrated; b210-shared-ref calibrated under +18 dB, heard = sent in every round. */
AM_TEST(m1024_long_bursts, slow)
{
    outcome id, f1, f0, s1;
    run_case_m(RADIOS_IDEAL, "ideal", 0, 1024, 20000, 300, 100, &id);
    run_case_m(RADIOS_B210, "b210-free", 1, 1024, 20000, 300, 100, &f1);
    run_case_m(RADIOS_B210, "b210-free", 0, 1024, 20000, 300, 100, &f0);
    run_case_m(RADIOS_B210, "b210-shared-ref", 1, 1024, 20000, 300, 100, &s1);
    if (verbose())
        printf("K 10 M 1024 L 20000 20 dB g_th 0, rounds 101-300 over the §5 floor: ideal radios "
               "%+.2f dB; b210-free calibrated %+.2f (worst round %+.2f), uncalibrated %+.2f; "
               "b210-shared-ref calibrated %+.2f\n",
               id.excess_db, f1.excess_db, f1.worst_db, f0.excess_db, s1.excess_db);
    AM_CHECK(f1.excess_db - id.excess_db < 1.0, "b210-free calibrated %+.2f dB, ideal %+.2f dB",
             f1.excess_db, id.excess_db);
    AM_CHECK(f0.excess_db - f1.excess_db > 6.0, "b210-free uncalibrated %+.2f dB, calibrated %+.2f",
             f0.excess_db, f1.excess_db);
    AM_CHECK(s1.excess_db < 18.0, "b210-shared-ref calibrated %+.2f dB", s1.excess_db);
    AM_CHECK(f1.heard_ok == 300 && s1.heard_ok == 300 && f0.heard_ok == 300,
             "heard = sent in %u, %u rounds", f1.heard_ok, s1.heard_ok);
}

/* A calibrated round's capture (§7: airmeta:cal_slots = K) replays through `airmeta replay`'s code
 * to the server's estimate bit for bit (the receiver decodes the calibration blocks). */
AM_TEST(capture_with_cal_replays, unit)
{
    enum { K = 4, D = 1200, R = 2 };
    char dir[600], outp[700];
    snprintf(dir, sizeof dir, "%s/iq-cal-captures", am_test_tmp_dir());
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.seed = 12;
    c.cal = 1;
    c.capture_dir = dir;
    fl_agg a = {0};
    bench b;
    float *got = malloc(D * sizeof *got);
    AM_REQUIRE(got && bench_new(&b, K, D), "out of memory");
    AM_REQUIRE_OK(agg_iq_create(&c, &a));
    am_rng g;
    am_rng_seed(&g, 2);
    for (unsigned r = 0; r < R; r++) {
        fill_gauss(&b, &g);
        fl_agg_round rr = {fl_agg_eta(FL_ETA_RMS, (const float *const *)b.x, NULL, K, D), 1.0f,
                           0.1f, r};
        AM_REQUIRE_OK(
            fl_agg_execute(&a, &rr, (const float *const *)b.x, NULL, K, D, b.out, b.act, b.del));
        agg_iq_round_info in;
        AM_REQUIRE_OK(agg_iq_last_round(&a, &in));
        AM_REQUIRE(in.detected && in.agents_heard == K, "round %u: heard %u", r, in.agents_heard);
        phy_sigmf_reader *rd = NULL;
        AM_REQUIRE_OK(phy_sigmf_reader_open(in.capture, &rd));
        AM_CHECK(phy_sigmf_reader_info(rd)->cal_slots == K, "airmeta:cal_slots %u",
                 phy_sigmf_reader_info(rd)->cal_slots);
        phy_sigmf_reader_close(rd);
        snprintf(outp, sizeof outp, "%s/replay-%u.f32", dir, r);
        replay_opts ro = {.out = outp, .chunk = 999};
        replay_result res;
        AM_REQUIRE_OK(replay_capture(in.capture, &ro, &res));
        AM_CHECK(res.bursts == 1, "round %u: %llu bursts", r, (unsigned long long)res.bursts);
        FILE *f = fopen(outp, "rb");
        AM_REQUIRE(f && fread(got, sizeof *got, D, f) == D, "replay output %s", outp);
        fclose(f);
        AM_CHECK(memcmp(got, b.out, D * sizeof *got) == 0, "round %u: replay differs", r);
    }
    fl_agg_destroy(&a);
    free(got);
    bench_free(&b);
}
