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

/* One run: a profile's radios (no_iq: without the server receiver's IQ imbalance, issue 10 §4's
 * and not §8's), calibration on or off, the carrier-offset tracking window (0: version 1, each
 * beacon's own estimate), M and the payload D, R rounds of which from .. R-1 are scored. */
typedef struct scen {
    const char *profile;
    int no_iq, cal;
    unsigned track, M;
    size_t D;
    unsigned R, from;
    float pilot; /* agg_iq_cfg.pilot_level: 0 = the server's rule 1 / sqrt(K) (§2), 1 = unit */
    int no_adc;  /* without the server's ADC (adc_bits 0: no clipping, no quantisation) */
    unsigned K;  /* agents (0: 10) */
    uint64_t seed; /* the aggregator's and the radios' seeds (0: 5; the payloads' is seed + 3) */
    float g_th;    /* every round's truncation threshold */
    int probes;    /* agg_iq_cfg.probes, the calibration probes before the first round (§8.5):
                      0 its default (2, the server's), -1 none, else that many */
    int from0;     /* rounds numbered from 0, as sim's (else from 1) */
    int no_pn;     /* without the radios' Wiener phase (linewidth_hz 0) */
    float excess;  /* agg_iq_cfg.probe_excess (0: probes fixed) */
} scen;

typedef struct outcome {
    double excess_db;  /* error over the floor summed over rounds from..R-1, dB */
    double excess_lin; /* the same ratio, linear */
    double worst_db;   /* the worst of those rounds */
    double first_db;   /* the first of them */
    double erased;     /* mean fraction of (agent, used bin) pairs erased, rounds from..R-1 */
    unsigned heard_ok; /* rounds whose heard agents are exactly the senders */
    unsigned probes_ok; /* rounds without probes before them, or whose last probe heard all */
    unsigned sent_min;  /* the fewest agents that sent in a round */
    unsigned probes;    /* the probes run before the first round */
} outcome;

/* The aggregator of sc (20 dB, timing offsets up to cp / 4), its radios' configuration in imp. */
static void scen_cfg(const scen *sc, agg_iq_cfg *c, phy_impair_cfg *imp)
{
    agg_iq_cfg_default(c);
    c->agents = sc->K ? sc->K : 10;
    c->max_dim = sc->D;
    c->nfft = sc->M;
    c->max_timing_offset = sc->M / 32; /* cp / 4 */
    c->snr_db = 20.0f;
    c->seed = sc->seed ? sc->seed : 5;
    c->track = sc->track;
    c->pilot_level = sc->pilot;
    if (sc->probes)
        c->probes = sc->probes < 0 ? 0 : (unsigned)sc->probes;
    imp->seed = c->seed;
    AM_REQUIRE_OK(phy_impair_profile(sc->profile, imp));
    if (sc->no_iq)
        imp->iq_amp_db = imp->iq_phase_deg = 0.0f;
    if (sc->no_adc)
        imp->adc_bits = 0;
    if (sc->no_pn)
        imp->linewidth_hz = 0.0f;
    c->impair = imp;
    c->cal = sc->cal;
    c->probe_excess = sc->excess;
}

/* The aggregator of c into a, b for its agents and D reals, g the payloads' generator (seed + 3). */
static void scen_start(const agg_iq_cfg *c, size_t D, fl_agg *a, bench *b, am_rng *g)
{
    AM_REQUIRE(bench_new(b, c->agents, D), "out of memory");
    AM_REQUIRE_OK(agg_iq_create(c, a));
    am_rng_seed(g, c->seed + 3);
}

static void run_scen(const scen *sc, outcome *o)
{
    const unsigned R = sc->R, from = sc->from;
    const size_t D = sc->D;
    agg_iq_cfg c;
    phy_impair_cfg imp;
    scen_cfg(sc, &c, &imp);
    const size_t K = c.agents;
    fl_agg a = {0};
    bench b;
    am_rng g;
    scen_start(&c, D, &a, &b, &g);
    double err = 0, flo = 0;
    o->worst_db = -INFINITY;
    o->erased = 0;
    o->heard_ok = o->probes_ok = o->probes = 0;
    o->sent_min = UINT32_MAX;
    for (unsigned r = 0; r < R; r++) {
        fill_gauss(&b, &g);
        fl_agg_round rr = {fl_agg_eta(FL_ETA_RMS, (const float *const *)b.x, NULL, K, D), 1.0f,
                           sc->g_th, r + !sc->from0};
        AM_REQUIRE_OK(
            fl_agg_execute(&a, &rr, (const float *const *)b.x, NULL, K, D, b.out, b.act, b.del));
        agg_iq_round_info in;
        AM_REQUIRE_OK(agg_iq_last_round(&a, &in));
        o->probes_ok += !in.probes || in.probe_heard == in.probe_agents;
        if (r == 0)
            o->probes = in.probes;
        o->heard_ok += in.cal == sc->cal && (!sc->cal || in.agents_heard == in.agents_sent);
        o->sent_min = in.agents_sent < o->sent_min ? in.agents_sent : o->sent_min;
        if (r < from)
            continue;
        o->erased += in.erased_frac / (R - from);
        double e = 0, f = 0;
        if (in.detected)
            score(&b, NULL, rr.eta, 20.0, &e, &f);
        else
            e = INFINITY, f = 1;
        err += e;
        flo += f;
        o->worst_db = fmax(o->worst_db, 10 * log10(e / f));
        if (r == from)
            o->first_db = 10 * log10(e / f);
    }
    fl_agg_destroy(&a);
    bench_free(&b);
    o->excess_lin = err / flo;
    o->excess_db = 10 * log10(o->excess_lin);
    if (verbose())
        printf("  %s%s%s%s%s M %u L %zu cal %d track %u, rounds %u-%u: %+.2f dB over the §5 floor "
               "(worst round %+.2f), erased %.4f, heard = sent in %u of %u rounds, at least %u "
               "sent\n",
               sc->profile, sc->no_iq ? " (no RX IQ imbalance)" : "",
               sc->pilot == 1.0f ? " (unit pilots)" : "", sc->no_adc ? " (no server ADC)" : "",
               sc->no_pn ? " (no Wiener phase)" : "", sc->M, D, sc->cal, sc->track, from + 1, R,
               o->excess_db, o->worst_db, o->erased, o->heard_ok, R, o->sent_min);
}

/* Issue 10's case (K = 10, M = 256, 2048 reals, 20 dB, g_th 0, rms rule, 300 rounds, the last
 * 200 scored; radio seed 5, payload seed 8; the beacon's 16 training blocks, §6.1, agg_iq's
 * default, the pilots at 1 / sqrt(K), §2, one Wiener phase per radio; docs/impairments.md has the
 * table). Measured over the §5 floor: ideal radios +1.00 dB (the agents' channel-estimate error,
 * §4.1/§6.2: +2.79 dB with the three-block beacon, +5.72 dB with the unweighted fit over all lags
 * and the plain inversion); b210-shared-ref calibrated +1.66 dB (issue 10's bound: 2 dB; +1.35
 * without the server's RX IQ imbalance; +3.47 and +3.28 with the three-block beacon), uncalibrated
 * +42.82 dB; b210-free tracked and calibrated +2.71 dB (issue 10's bound: 3 dB; +4.41 with the
 * three-block beacon; before the common Wiener phase, unit pilots, 16 blocks combined without
 * their common phase, §6.2: +3.22), untracked and uncalibrated +43.37 dB. Since the calibrated runs
 * probe their agents before round 1 (§8.5; measured at that commit, the runs without calibration
 * unchanged by it and as measured then): ideal +1.02, b210-shared-ref calibrated +1.71 (+1.41
 * without the RX IQ imbalance), uncalibrated +42.81; b210-free calibrated +2.66, untracked and
 * uncalibrated +43.48. Since the agents search their emulator's carrier-offset range and
 * pre-compensate their sample clock (docs/air-interface.md §5.1, §4.2 "Sampling clock"; the other
 * profiles' bytes unchanged): b210-free calibrated +2.62, untracked and uncalibrated +43.48. */
AM_TEST(b210_shared_ref_converges, slow)
{
    const scen s_id = {"ideal", 0, 0, 64, 256, 2048, 300, 100, 0.0f, 0, 0, 0, 0.0f, 0, 0, 0, 0.0f};
    scen s_c1 = s_id, s_c0 = s_id, s_cq = s_id, s_f1 = s_id, s_f0 = s_id;
    s_c1.profile = s_c0.profile = s_cq.profile = "b210-shared-ref";
    s_f1.profile = s_f0.profile = "b210-free";
    s_c1.cal = s_cq.cal = s_f1.cal = 1;
    s_cq.no_iq = 1;
    s_f0.track = 0; /* without tracking and without calibration */
    outcome id, c1, c0, cq, f1, f0;
    if (verbose())
        printf("K 10 M 256 L 2048 20 dB g_th 0:\n");
    run_scen(&s_id, &id);
    run_scen(&s_c1, &c1);
    run_scen(&s_c0, &c0);
    run_scen(&s_cq, &cq);
    run_scen(&s_f1, &f1);
    run_scen(&s_f0, &f0);
    AM_CHECK(id.excess_db < 1.1, /* measured 1.02 */
             "ideal radios %+.2f dB over the floor", id.excess_db);
    AM_CHECK(cq.excess_db - id.excess_db < 0.6, /* measured 0.39 */
             "calibrated b210 (no IQ) %+.2f dB vs ideal radios %+.2f dB", cq.excess_db,
             id.excess_db);
    AM_CHECK(c1.excess_db < 1.9, /* measured 1.71; issue 10's bound: 2 */
             "calibrated b210-shared-ref %+.2f dB over the floor",
             c1.excess_db);
    AM_CHECK(f1.excess_db < 2.9, /* measured 2.66; issue 10's bound: 3 */
             "tracked and calibrated b210-free %+.2f dB over the floor",
             f1.excess_db);
    AM_CHECK(c0.excess_db > 30.0, "uncalibrated b210-shared-ref only %+.2f dB over the floor",
             c0.excess_db);
    AM_CHECK(f0.excess_db > 30.0, "b210-free untracked, uncalibrated only %+.2f dB over the floor",
             f0.excess_db);
    AM_CHECK(c1.heard_ok == 300 && cq.heard_ok == 300 && f1.heard_ok == 300 &&
                 c0.heard_ok == 300 && id.heard_ok == 300 && f0.heard_ok == 300,
             "heard = sent in %u, %u, %u rounds; no calibration reported in %u, %u, %u",
             c1.heard_ok, cq.heard_ok, f1.heard_ok, c0.heard_ok, id.heard_ok, f0.heard_ok);
}

/* Fresh runs of R rounds, numbered from 0 as sim's, seeds 1..n (the aggregator's, the radios'
 * and, + 3, the payloads'): m[0] the mean over the seeds of round 1's error / floor (dB), m[1] the
 * worst seed's, m[2] the mean over the seeds of round 1's excess less the run's over its R rounds
 * (dB), m[3] the largest. With sc's probes (p = 0) and without (p = 1). Returned: the runs where
 * an agent was not heard in the last probe or in a round. */
static unsigned first_rounds(scen sc, unsigned R, unsigned n, double m[2][4])
{
    unsigned bad = 0;
    const int probes = sc.probes; /* with the probes: these */
    sc.R = R;
    sc.from = 0;
    sc.from0 = 1;
    for (int p = 0; p < 2; p++) {
        double sum = 0, d = 0;
        m[p][1] = m[p][3] = -INFINITY;
        sc.probes = p ? -1 : probes;
        for (unsigned i = 1; i <= n; i++) {
            outcome o;
            sc.seed = i;
            run_scen(&sc, &o);
            sum += pow(10.0, o.first_db / 10);
            m[p][1] = fmax(m[p][1], o.first_db);
            d += o.first_db - o.excess_db;
            m[p][3] = fmax(m[p][3], o.first_db - o.excess_db);
            bad += o.probes_ok != R || o.heard_ok != R;
        }
        m[p][0] = 10 * log10(sum / n);
        m[p][2] = d / n;
    }
    if (verbose())
        printf("  %s, K %u, g_th %g, %u seeds: round 1 over the floor, mean (worst): probed %+.2f "
               "dB (%+.2f), not %+.2f dB (%+.2f); less the run's %u rounds, mean (largest): "
               "probed %+.2f dB (%+.2f), not %+.2f dB (%+.2f)\n",
               sc.profile, sc.K ? sc.K : 10, (double)sc.g_th, n, m[0][0], m[0][1], m[1][0],
               m[1][1], R, m[0][2], m[0][3], m[1][2], m[1][3]);
    return bad;
}

/* docs/air-interface.md §8.5 in sim --agg iq: the two calibration probes before the run's first
 * round, as `airmeta server` sends them to the agents that join. sim's default size (K = 10,
 * M = 256, 1761 reals: the sinusoid task's model, 20 dB, g_th 0.1, the rms rule), round 1 of 8
 * seeds, each profile with calibration on, with the probes and without (the code before: round 1
 * precoded with A = 1). Measured, round 1's error over the §5 floor, mean over the seeds (worst),
 * the probes with g_th 0 (§8.5 2.): b210-shared-ref probed +1.93 dB (+2.80), not +40.75 (+44.83);
 * b210-free probed +4.08 (+4.84), not +41.32 (+45.93); ideal radios with --cal on (off by default:
 * not probed) probed +1.70 (+2.06), not +0.53 (+0.64): one measurement's error, which the loop's
 * 1/n average then lowers. With the round's g_th 0.1 in the probes (the code before): +8.49
 * (+13.23), +9.06 (+13.01), +1.58 (+1.87): the bins an agent erased in a probe left sub-bands
 * unmeasured (probes_contract). At K = 3, g_th 0 round 1 is at the run's mean
 * (round_1_as_the_chan). */
AM_TEST(probes_calibrate_round_1, slow)
{
    static const char *const prof[3] = {"ideal", "b210-shared-ref", "b210-free"};
    static const double bound[3] = {1.8, 2.2, 4.4}; /* probed, mean over the seeds */
    static const double measured[3] = {1.70, 1.93, 4.08};
    for (unsigned i = 0; i < 3; i++) {
        scen sc = {prof[i], 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, 0, 0, 0.1f, 0, 0, 0, 0.0f};
        double m[2][4];
        AM_CHECK(first_rounds(sc, 1, 8, m) == 0, "%s: an agent not heard", prof[i]);
        AM_CHECK(m[0][0] < bound[i], "%s: round 1 probed %+.2f dB over the floor (bound %+.1f, "
                 "measured %+.2f)", prof[i], m[0][0], bound[i], measured[i]);
        if (i == 0)
            AM_CHECK(m[0][0] - m[1][0] < 1.4, /* measured 1.17 (1.05 with the round's g_th) */
                     "ideal radios: probed %+.2f dB, not probed %+.2f dB",
                     m[0][0], m[1][0]);
        else
            AM_CHECK(m[1][0] - m[0][0] > 35.0, /* measured 38.82, 37.24 */
                     "%s: round 1 not probed %+.2f dB, probed %+.2f dB",
                     prof[i], m[1][0], m[0][0]);
    }
}

/* Round 1 at its run's level with sim's default size (K = 10, 1761 reals, g_th 0.1): the probes go
 * out with g_th 0 (§8.5 2.). With the round's g_th an agent erased the bins of its deep fades in a
 * probe as in a round, and a fade is about as wide as a sub-band (4 taps, delay spread 1): 5.1 %
 * of the (agent, sub-band) pairs of a probe had no active bin (3 agents: 4.1 %; counted with a
 * print in round_cal, not kept), their E = 1 left A
 * where it was (§8.2, §8.4), and each full step corrected only the rest (probe_residual_truth):
 * round 1 +21.6, +8.49, +3.33, +2.07 dB over the floor after 1-4 probes (the figures:
 * docs/impairments.md "Calibration probes"). Measured now, b210-shared-ref and b210-free, seeds
 * 1-8, 20 rounds, round 1 less the run's mean over its 20 rounds, mean over the seeds (largest):
 * b210-shared-ref +0.87 dB (+1.16), b210-free +1.58 dB (+2.11) (not probed: +13.01, +13.01; with
 * one loop-gain count per agent, before §8.4's count per sub-band: +0.87 (+1.15), +1.57 (+2.10),
 * +12.96, +12.96);
 * ideal radios with --cal on +0.91 dB (+1.18; not probed -0.23): b210-shared-ref's round 1 is as
 * far from its run's level as ideal radios', what one measurement's noise costs before the loop's
 * 1/n average (§8.4). 2, 3, 4 probes on
 * b210-shared-ref: round 1 +1.93, +1.87, +1.71 dB over the floor (1 probe +2.78): a third probe
 * buys 0.06 dB. */
AM_TEST(probes_contract, slow)
{
    static const char *const prof[3] = {"b210-shared-ref", "b210-free", "ideal"};
    static const double bound[3] = {1.1, 1.8, 1.15}; /* round 1 less the run's mean */
    static const double measured[3] = {0.87, 1.58, 0.91};
    double over[3];
    for (unsigned i = 0; i < 3; i++) {
        scen sc = {prof[i], 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, 0, 0, 0.1f, 0, 0, 0, 0.0f};
        double m[2][4];
        first_rounds(sc, 20, 8, m); /* not probed, an agent of b210-shared-ref missed a round */
        over[i] = m[0][2];
        AM_CHECK(m[0][2] < bound[i], "%s: round 1 %+.2f dB over its run's mean (bound %+.2f, "
                 "measured %+.2f)", prof[i], m[0][2], bound[i], measured[i]);
        if (i < 2)
            AM_CHECK(m[1][2] > 10.0, "%s: not probed, round 1 only %+.2f dB over its run's mean",
                     prof[i], m[1][2]);
    }
    AM_CHECK(fabs(over[0] - over[2]) < 0.3, /* measured 0.04 */
             "b210-shared-ref's round 1 %+.2f dB over its run's mean, ideal radios' %+.2f", over[0],
             over[2]);
    double m3[2][4], m2[2][4];
    scen sc = {"b210-shared-ref", 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, 0, 0, 0.1f, 3, 0, 0, 0.0f};
    first_rounds(sc, 1, 8, m3);
    sc.probes = 0;
    first_rounds(sc, 1, 8, m2);
    AM_CHECK(m2[0][0] - m3[0][0] < 0.3, /* measured 0.06 */
             "a third probe lowers round 1 from %+.2f to %+.2f dB", m2[0][0], m3[0][0]);
}

/* How many probes (docs/impairments.md "How many probes"): agg_iq_cfg.probe_excess 3, at most 4
 * (phy_cal_probe_excess: from the second probe on, what a probe measured over its noise, about 2
 * at one measurement's noise; measured at probe 2 on ideal radios 1.7-3.4, b210-shared-ref
 * 2.1-11.8, b210-free 3.4-14.1, at probe 3 1.7-3.0, 1.7-2.6, 2.9-5.9), against the fixed 2
 * (probes_contract) and 4, sim's default size, 20 rounds, seeds 1-8. Measured, round 1 over the
 * floor (worst); less its run's mean (largest); probes, mean:
 *   b210-shared-ref: 2 +1.93 (+2.80), +0.87 (+1.16); rule +1.83 (+2.80), +0.78 (+1.03), 2.25;
 *     4 +1.71 (+2.86), +0.68 (+1.04);
 *   b210-free: 2 +4.08 (+4.84), +1.58 (+2.11); rule +3.13 (+4.25), +0.84 (+1.28), 3.875;
 *     4 +3.01 (+4.25), +0.73 (+1.28);
 *   ideal (--cal on): 2 +1.70 (+2.06), +0.91 (+1.18); rule +1.63 (+1.96), +0.85 (+1.08), 2.125;
 *     4 +1.43 (+1.78), +0.67 (+0.96).
 * The rule probes b210-free 4 times in 7 of 8 seeds and the others about twice; what the third
 * and fourth probes buy everywhere (the fixed 4's figures) is mostly the trackers' beacons (§8.5
 * 5.), the calibration residual of the others being at the noise after 2. */
AM_TEST(probes_rule, slow)
{
    static const char *const prof[3] = {"b210-shared-ref", "b210-free", "ideal"};
    static const double r1_bound[3] = {2.1, 3.5, 1.8}, r1_meas[3] = {1.83, 3.13, 1.63};
    static const double less_bound[3] = {1.0, 1.1, 1.1}, less_meas[3] = {0.78, 0.84, 0.85};
    static const double pr_lo[3] = {2.0, 3.5, 2.0}, pr_hi[3] = {2.5, 4.0, 2.3};
    for (unsigned i = 0; i < 3; i++)
        for (int fixed = 0; fixed < 1 + verbose(); fixed++) { /* AM_VERBOSE=1: the fixed 4 too */
            double r1 = 0, less = 0, pr = 0, w1 = -INFINITY, wl = -INFINITY;
            for (unsigned seed = 1; seed <= 8; seed++) {
                scen sc = {prof[i], 0, 1, 64, 256, 1761, 20, 0,    0.0f, 0,
                           0,       seed, 0.1f, 4, 1, 0, fixed ? 0.0f : 3.0f};
                outcome o = {0};
                run_scen(&sc, &o);
                r1 += pow(10.0, o.first_db / 10) / 8;
                less += (o.first_db - o.excess_db) / 8;
                w1 = fmax(w1, o.first_db);
                wl = fmax(wl, o.first_db - o.excess_db);
                pr += o.probes / 8.0;
            }
            r1 = 10 * log10(r1);
            if (verbose())
                printf("  %s, probes %s, 8 seeds: round 1 %+.2f dB over the floor (worst %+.2f), "
                       "%+.2f over its run's mean (largest %+.2f); %.3f probes\n",
                       prof[i], fixed ? "fixed 4" : "by the rule (excess 3, at most 4)", r1, w1,
                       less, wl, pr);
            if (fixed)
                continue;
            AM_CHECK(r1 < r1_bound[i] && less < less_bound[i],
                     "%s: round 1 %+.2f dB over the floor (measured %+.2f), %+.2f over its run's "
                     "mean (measured %+.2f)", prof[i], r1, r1_meas[i], less, less_meas[i]);
            AM_CHECK(pr >= pr_lo[i] && pr <= pr_hi[i], "%s: %.2f probes", prof[i], pr);
        }
}

/* Mean over the agents and the seeds 1..n of the calibration residual against the emulator's truth
 * (agg_iq_cal_residual), dB: res[p] before probe p + 1 and after the last (p = probes), res[probes
 * + 1] after R rounds (R = 0: not run). sc.probes probes; round_g_th: the probes with the round's
 * g_th (the code before §8.5 2.). Per agent, the largest after the probes into *worst (dB). */
static void probe_residuals(scen sc, int round_g_th, unsigned R, unsigned n, double *res,
                            double *worst)
{
    const unsigned P = (unsigned)sc.probes;
    double acc[AGG_IQ_PROBES_MAX + 2] = {0};
    *worst = -INFINITY;
    for (unsigned seed = 1; seed <= n; seed++) {
        sc.seed = seed;
        agg_iq_cfg c;
        phy_impair_cfg imp;
        scen_cfg(&sc, &c, &imp);
        c.probe_round_g_th = round_g_th;
        const size_t K = c.agents;
        fl_agg a = {0};
        bench b;
        am_rng g;
        scen_start(&c, sc.D, &a, &b, &g);
        double rk[64];
        AM_REQUIRE(K <= 64, "K %zu", K);
        for (unsigned r = 0; r < (R ? R : 1); r++) {
            fill_gauss(&b, &g);
            fl_agg_round rr = {fl_agg_eta(FL_ETA_RMS, (const float *const *)b.x, NULL, K, sc.D),
                               1.0f, sc.g_th, r};
            AM_REQUIRE_OK(fl_agg_execute(&a, &rr, (const float *const *)b.x, NULL, K, sc.D, b.out,
                                         b.act, b.del));
        }
        for (unsigned p = 0; p <= P; p++) {
            AM_REQUIRE_OK(agg_iq_cal_residual(&a, (int)p, rk));
            for (size_t k = 0; k < K; k++) {
                acc[p] += rk[k] / (double)(K * n);
                if (p == P)
                    *worst = fmax(*worst, 10 * log10(rk[k]));
            }
        }
        AM_CHECK(agg_iq_cal_residual(&a, (int)P + 1, rk) == AM_EINVAL, "probe %u of %u", P + 1, P);
        if (R) {
            AM_REQUIRE_OK(agg_iq_cal_residual(&a, -1, rk));
            for (size_t k = 0; k < K; k++)
                acc[P + 1] += rk[k] / (double)(K * n);
        }
        fl_agg_destroy(&a);
        bench_free(&b);
    }
    for (unsigned p = 0; p <= P + (R > 0); p++)
        res[p] = 10 * log10(acc[p]);
    if (verbose()) {
        printf("  %s, K %u, g_th %g, probes with g_th %s, %u seeds: residual against the truth, "
               "mean over agents and seeds (dB), before and after each probe:",
               sc.profile, sc.K ? sc.K : 10, (double)sc.g_th, round_g_th ? "the round's" : "0", n);
        for (unsigned p = 0; p <= P; p++)
            printf(" %+.2f", res[p]);
        printf("; the worst agent after them %+.2f", *worst);
        if (R)
            printf("; after %u rounds %+.2f", R, res[P + 1]);
        printf("\n");
    }
}

/* Why the probes go out with g_th 0 (§8.5 2.), against the emulator's truth (each radio's chain
 * gains, LO phases, ripple and TX timing error, agg_iq_cal_residual): the part of the agents' corrected
 * gains c_k a_k that disagrees, mean over agents and seeds 1-8 (dB), before the probes and after
 * each of 4, K = 10, 1761 reals, rounds at g_th 0.1. Measured:
 *   b210-shared-ref, probes at the round's g_th: -0.52, -10.54, -23.73, -30.47, -33.21 (each full
 *     step left ~9 %: the (agent, sub-band) pairs the agent erased in that probe, E = 1, §8.2;
 *     -21.65, -28.97, -32.67 after 2-4 before §8.4's whole step for a pair first measured, which
 *     the second probe's pairs erased in the first are);
 *     with g_th 0: -0.52, -30.57, -33.73, -33.89, -34.29, after 30 rounds -45.07 (-45.06 with one
 *     loop-gain count per agent, before §8.4's per sub-band; the same below: -34.41, -45.77);
 *   b210-free: round's g_th -10.59, -22.40, -27.33, -28.73 (-20.77, -26.31, -28.44 before the
 *     whole step); g_th 0 -24.38, -26.94, -27.60, -28.84,
 *     after 30 rounds -34.42 (its trackers' young offsets, §8.5 5., are in each probe's E);
 *   ideal radios, g_th 0: -34.67, -33.99, -34.36, -35.05, after 30 rounds -45.79: one measurement's
 *     noise (of the order of e_s's N0 / (P rho) = 1e-3 per bin over the ~2.6 bins of a slot in a
 *     sub-band: -34 dB), which the loop's 1/n average lowers;
 *   K = 3, b210-shared-ref: round's g_th -2.10, -9.13, -17.04, -20.32, -25.40 (-16.73, -20.86,
 *     -26.92 before the whole step); g_th 0 -32.90,
 *     -34.35, -35.00, -35.38.
 * After two probes at g_th 0 the agents are at the noise of one measurement (ideal radios' level,
 * within 0.3 dB on b210-shared-ref); the 30-round figures also check the truth's model (the
 * loop converges on it to -45 dB). */
AM_TEST(probe_residual_truth, slow)
{
    scen sc = {"b210-shared-ref", 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, 0, 0, 0.1f, 4, 0, 0, 0.0f};
    double r0[AGG_IQ_PROBES_MAX + 2], r1[AGG_IQ_PROBES_MAX + 2], ri[AGG_IQ_PROBES_MAX + 2], w;
    probe_residuals(sc, 0, 30, 8, r0, &w);
    probe_residuals(sc, 1, 0, 8, r1, &w);
    AM_CHECK(r1[1] > -12.0 && r1[2] > -24.3, /* measured -10.54, -23.73 */
             "b210-shared-ref, the round's g_th: after 1, 2 probes %+.2f, %+.2f dB", r1[1], r1[2]);
    AM_CHECK(r0[1] < -29.5 && r0[2] < -33.0, /* measured -30.57, -33.73 */
             "b210-shared-ref, g_th 0: after 1, 2 probes %+.2f, %+.2f dB", r0[1], r0[2]);
    AM_CHECK(r0[5] < -44.3, "b210-shared-ref: after 30 rounds %+.2f dB (measured -45.07)", r0[5]);
    probe_residuals((scen){"ideal", 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, 0, 0, 0.1f, 4, 0, 0, 0.0f}, 0, 30,
                    8, ri, &w);
    AM_CHECK(ri[2] < -33.3 && ri[5] < -45.0, /* measured -33.99, -45.79 */
             "ideal radios: after 2 probes %+.2f dB, after 30 rounds %+.2f", ri[2], ri[5]);
    AM_CHECK(r0[2] - ri[2] < 0.6, /* measured 0.26 */
             "b210-shared-ref after 2 probes %+.2f dB, ideal radios %+.2f", r0[2], ri[2]);
    sc.profile = "b210-free";
    probe_residuals(sc, 0, 30, 8, r0, &w);
    AM_CHECK(r0[2] < -26.2 && r0[5] < -33.7, /* measured -26.94, -34.42 */
             "b210-free, g_th 0: after 2 probes %+.2f dB, after 30 rounds %+.2f", r0[2], r0[5]);
    probe_residuals(sc, 1, 0, 8, r1, &w);
    AM_CHECK(r1[1] > -12.0, "b210-free, the round's g_th: after 1 probe %+.2f dB (measured -10.59)",
             r1[1]);
    sc.profile = "b210-shared-ref";
    sc.K = 3;
    probe_residuals(sc, 0, 0, 8, r0, &w);
    probe_residuals(sc, 1, 0, 8, r1, &w);
    AM_CHECK(r0[2] < -33.6 && r1[2] > -18.0, /* measured -34.35, -17.04 */
             "K = 3: after 2 probes at g_th 0 %+.2f dB, at the round's %+.2f", r0[2], r1[2]);
}

/* The weight W_k[q][j] of A[j] in the mean of agent k's interpolated correction a(i)
 * (phy_cal_interp) over the bins its slot k owns in sub-band q (§8.1, §8.2: E_k[q] is measured
 * there; S = K slots, M = 256), into W[(k * Q + q) * Q + j]: E_k[q] ~ c_k sum_j W_k[q][j] A[j] (each
 * row sums to 1), so a step taken while A[q] alone is off moves it W_k[q][q] mu of the way. */
static void pair_weights(unsigned K, double *W)
{
    phy_frame_cfg fc = {256, 0, NULL};
    phy_frame *f = NULL;
    AM_REQUIRE_OK(phy_frame_create(&fc, &f));
    const unsigned M = phy_frame_nfft(f), nu = phy_frame_n_used(f), Q = PHY_CAL_Q;
    const unsigned *used = phy_frame_used_bins(f);
    unsigned P;
    phy_cal_blocks(nu, K, &P);
    unsigned char g[4096];
    float complex A[PHY_CAL_Q], a[4096];
    AM_REQUIRE(M <= 4096, "M %u", M);
    phy_cal_groups(f, g, NULL);
    for (unsigned j = 0; j < Q; j++) {
        for (unsigned t = 0; t < Q; t++)
            A[t] = t == j ? 1.0f : 0.0f;
        phy_cal_interp(f, A, a);
        for (unsigned k = 0; k < K; k++)
            for (unsigned q = 0; q < Q; q++) {
                double sw = 0;
                unsigned n = 0;
                for (unsigned u = k % P; u < nu; u += P)
                    if (g[used[u]] == q) {
                        sw += (double)crealf(a[used[u]]);
                        n++;
                    }
                W[((size_t)k * Q + q) * Q + j] = n ? sw / n : (q == j);
            }
    }
    phy_frame_destroy(f);
}

/* Per (agent, sub-band) pair, against the emulator's truth (agg_iq_cal_pairs: the pair's residual
 * at its sub-band's centre), K = 10, M = 256, seeds 1..n, R rounds without probes at g_th (the
 * agents erase their deep fades, so some pairs go unmeasured for rounds, §8.2), count_agent:
 * agg_iq_cfg.cal_count_agent, mixed: agg_iq_cfg.cal_mixed. Means over the pairs (dB): first[j]
 * after the (j+1)-th measurement of the pairs measured in every round from round 1 on; late[j]
 * after the (j+1)-th measurement of the pairs first measured in a later round (*nlate of them),
 * pred[j] its closed form from the residual r_i before the first of them: r_i prod_{t=1..j+1}
 * |1 - w_i mu_t|^2 (mu_t the t-th step's gain: 1/t with a count per pair, 1/(the agent's heard
 * rounds) with one per agent; w_i = 1, or with mixed pair_weights' w_i: the step moves the pair
 * that fraction of the way). */
#define PAIR_J 4u
static void pair_residuals(const char *profile,
                           float g_th,
                           int count_agent,
                           int mixed,
                           unsigned R,
                           unsigned n,
                           double *first,
                           double *late,
                           double *pred,
                           unsigned *nlate)
{
    enum { PK = 10, KQ = PK * PHY_CAL_Q };
    double acc[PAIR_J] = {0}, accl[PAIR_J] = {0}, accp[PAIR_J] = {0}, accb = 0, w[KQ];
    unsigned cnt[PAIR_J] = {0}, cl[PAIR_J] = {0};
    static double W[KQ * PHY_CAL_Q];
    pair_weights(PK, W);
    for (unsigned i = 0; i < KQ; i++)
        w[i] = mixed ? W[(size_t)i * PHY_CAL_Q + i % PHY_CAL_Q] : 1.0;
    for (unsigned seed = 1; seed <= n; seed++) {
        scen sc = {profile, 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, PK, seed, g_th, -1, 1, 0, 0.0f};
        agg_iq_cfg c;
        phy_impair_cfg imp;
        scen_cfg(&sc, &c, &imp);
        c.cal_count_agent = count_agent;
        c.cal_mixed = mixed;
        fl_agg a = {0};
        bench b;
        am_rng g;
        scen_start(&c, sc.D, &a, &b, &g);
        double rk[KQ], rprev[KQ], p[KQ];
        unsigned char m[KQ], lt[KQ] = {0};
        unsigned nm[KQ] = {0}, hk[PK] = {0}; /* measurements of each pair, heard rounds of each agent */
        AM_REQUIRE_OK(agg_iq_cal_pairs(&a, rprev, NULL));
        for (unsigned r = 0; r < R; r++) {
            fill_gauss(&b, &g);
            fl_agg_round rr = {fl_agg_eta(FL_ETA_RMS, (const float *const *)b.x, NULL, PK, sc.D),
                               1.0f, g_th, r};
            AM_REQUIRE_OK(fl_agg_execute(&a, &rr, (const float *const *)b.x, NULL, PK, sc.D, b.out,
                                         b.act, b.del));
            AM_REQUIRE_OK(agg_iq_cal_pairs(&a, rk, m));
            for (unsigned k = 0; k < PK; k++) {
                int h = 0;
                for (unsigned q = 0; q < PHY_CAL_Q; q++)
                    h |= m[k * PHY_CAL_Q + q];
                hk[k] += h != 0; /* heard: a sub-band measured (§8.3 needs loud bins, active ones) */
            }
            for (unsigned i = 0; i < KQ; i++) {
                if (!m[i])
                    continue;
                nm[i]++;
                if (nm[i] == r + 1 && r < PAIR_J) {
                    acc[r] += rk[i];
                    cnt[r]++;
                } else if (nm[i] == 1) {
                    lt[i] = 1;
                    p[i] = rprev[i];
                    accb += rprev[i];
                }
                if (lt[i] && nm[i] <= PAIR_J) {
                    const double mu = count_agent ? 1.0 / hk[i / PHY_CAL_Q] : 1.0 / nm[i];
                    p[i] *= (1 - w[i] * mu) * (1 - w[i] * mu);
                    accl[nm[i] - 1] += rk[i];
                    accp[nm[i] - 1] += p[i];
                    cl[nm[i] - 1]++;
                }
            }
            memcpy(rprev, rk, sizeof rk);
        }
        fl_agg_destroy(&a);
        bench_free(&b);
    }
    for (unsigned j = 0; j < PAIR_J; j++) {
        first[j] = 10 * log10(acc[j] / cnt[j]);
        late[j] = 10 * log10(accl[j] / cl[j]);
        pred[j] = 10 * log10(accp[j] / cl[j]);
    }
    *nlate = cl[0];
    if (verbose()) {
        printf("  %s, g_th %g, %s, E %s, %u rounds, %u seeds: pair residual against the truth "
               "(dB), measured from round 1, after 1..%u measurements:",
               profile, (double)g_th, count_agent ? "one count per agent" : "a count per pair",
               mixed ? "as measured" : "each sub-band's own", R, n, PAIR_J);
        for (unsigned j = 0; j < PAIR_J; j++)
            printf(" %+.2f (%u pairs)", first[j], cnt[j]);
        printf("; first measured in a later round (%u pairs; before it %+.2f), after 1..%u "
               "measurements:", cl[0], 10 * log10(accb / cl[0]), PAIR_J);
        for (unsigned j = 0; j < PAIR_J; j++)
            printf(" %+.2f (closed form %+.2f)", late[j], pred[j]);
        printf("\n");
    }
}

/* docs/air-interface.md §8.4: each (agent, sub-band) pair counts its own measurements (the code
 * before: one count per agent, so a sub-band first measured in round r, erased before under the
 * round's g_th, §4.1, with no active bin, E = 1, §8.2, took a step of 1/r), and a pair first
 * measured takes a whole step (phy_cal_unmix; the code before, agg_iq_cfg.cal_mixed: E as
 * measured, over the interpolated a(i), which weighs A[q] by w ~ 0.8 on the slot's bins and the
 * neighbours' A, already corrected, by the rest, pair_weights, so a full step moved a sub-band
 * alone off w of the way). Against the emulator's truth (agg_iq_cal_pairs), K = 10, M = 256, 1761
 * reals, no probes, 8 rounds at g_th 0.1, seeds 1-16, mean over the pairs (dB):
 * - b210-shared-ref, the 46 pairs first measured in a later round (mostly round 2; before it
 *   +1.86): after that measurement -18.93, then -22.94, -25.44, -27.12: as far as the pairs
 *   measured from round 1 after as many (-16.89, -22.62, -25.19, -26.83; the linear model's
 *   closed form of a whole step is 0: what is left is the noise and the interpolation's model).
 *   E as measured: -12.26, -16.52, -19.07, -20.94, its closed form prod_t |1 - w mu_t|^2 -11.61,
 *   -15.74, -18.25, -20.05; from round 1 -16.89, -22.37, -24.94, -26.59 (the first measurement
 *   is the same: no pair was measured before it). One count per agent (E as measured): -1.50,
 *   -4.00, -5.87, -7.32, closed form -2.44, -5.00, -6.85, -8.25.
 * - b210-free: the 45 pairs first measured late -17.45, -20.50, -22.28, -23.69 (E as measured
 *   -11.80, -15.69, -17.83, -19.47), from round 1 -15.97, -20.87, -23.12, -24.58 (-15.97, -20.72,
 *   -22.97, -24.44).
 * - ideal radios (--cal on; every measurement's error its noise): the pairs measured from round 1
 *   as with E as measured, -33.14, -35.36, -36.47, -37.47 after 1..4, the closed form with the
 *   weights C_n = (I - W_k / n) C_(n-1) (I - W_k / n)^T + I / n^2, C_1 = I: -35.19, -36.50,
 *   -37.48 (1/n: -36.15, -37.91, -39.16; dividing the weights out of every E would make it 1/n of
 *   a first measurement's noise W^-1 amplifies: measured -30.35, -33.55, -34.98, -36.31); the 47
 *   pairs first measured late -33.47, -35.56, -36.45, -36.93, with E as measured -32.74, -35.10,
 *   -36.07, -36.54: their step, mostly noise, is shrunk by it. */
AM_TEST(pair_counts_truth, slow)
{
    double f[PAIR_J], l[PAIR_J], p[PAIR_J], fm[PAIR_J], lm[PAIR_J], pm[PAIR_J];
    unsigned nl, nlm;
    /* the pairs measured from round 1 (the rule leaves them), the closed form with the sub-bands'
     * coupling: error e_n = (I - W_k / n) e_(n-1) - v_n / n, e_1 = -v_1, v_n independent, the
     * same variance on every sub-band: its covariance C_n = (I - W_k / n) C_(n-1) (I - W_k / n)^T
     * + I / n^2, C_1 = I; the residual after n over after 1: the mean of diag C_n over the agents
     * and sub-bands (1/n without the coupling, W_k = I) */
    enum { Q = PHY_CAL_Q };
    static double W[10 * Q * Q];
    pair_weights(10, W);
    /* phy_cal_unmix solves W_LL x = E_L - 1 where each row is diagonally dominant by 1/4: on the
     * slots' full combs every row is (measured: W[q][q] 0.667 .. 0.940, less the rest of its row
     * at least 0.334: |W^-1|_inf <= 3; a lone pair's step 1 / W[q][q] at most 1.5) */
    double wmin = 1, dmin = 1, wmax = 0;
    for (unsigned i = 0; i < 10 * Q; i++) {
        const double d = W[(size_t)i * Q + i % Q];
        wmin = fmin(wmin, d);
        wmax = fmax(wmax, d);
        dmin = fmin(dmin, 2 * d - 1); /* each row sums to 1 */
    }
    if (verbose())
        printf("  W_k: diagonal %.3f .. %.3f, less the rest of its row at least %.3f\n", wmin,
               wmax, dmin);
    AM_CHECK(dmin > 0.25, "W_k's diagonal less the rest of its row down to %.3f", dmin);
    double cf[PAIR_J] = {0};
    for (unsigned k = 0; k < 10; k++) {
        double C[Q][Q] = {{0}}, T[Q][Q], B[Q][Q];
        for (unsigned q = 0; q < Q; q++)
            C[q][q] = 1;
        for (unsigned n = 1; n <= PAIR_J; n++) {
            if (n > 1) {
                for (unsigned q = 0; q < Q; q++)
                    for (unsigned j = 0; j < Q; j++)
                        B[q][j] = (q == j) - W[((size_t)k * Q + q) * Q + j] / n;
                for (unsigned q = 0; q < Q; q++)
                    for (unsigned j = 0; j < Q; j++) {
                        T[q][j] = 0;
                        for (unsigned t = 0; t < Q; t++)
                            T[q][j] += B[q][t] * C[t][j];
                    }
                for (unsigned q = 0; q < Q; q++)
                    for (unsigned j = 0; j < Q; j++) {
                        C[q][j] = (q == j) / ((double)n * n);
                        for (unsigned t = 0; t < Q; t++)
                            C[q][j] += T[q][t] * B[j][t];
                    }
            }
            for (unsigned q = 0; q < Q; q++)
                cf[n - 1] += C[q][q] / (10.0 * Q);
        }
    }
    pair_residuals("ideal", 0.1f, 0, 0, 8, 16, f, l, p, &nl);
    pair_residuals("ideal", 0.1f, 0, 1, 8, 16, fm, lm, pm, &nlm);
    if (verbose())
        printf("  ideal: closed form after 1..%u measurements %+.2f %+.2f %+.2f %+.2f dB (1/n "
               "%+.2f %+.2f %+.2f)\n", PAIR_J, f[0], f[0] + 10 * log10(cf[1]),
               f[0] + 10 * log10(cf[2]), f[0] + 10 * log10(cf[3]), f[0] - 10 * log10(2.0),
               f[0] - 10 * log10(3.0), f[0] - 10 * log10(4.0));
    for (unsigned j = 0; j < PAIR_J; j++) {
        AM_CHECK(fabs(f[j] - (f[0] + 10 * log10(cf[j]))) < 0.5,
                 "ideal: after %u measurements %+.2f dB, after 1 %+.2f: closed form %+.2f (without "
                 "the coupling %+.2f)", j + 1, f[j], f[0], f[0] + 10 * log10(cf[j]),
                 f[0] - 10 * log10(j + 1.0));
        AM_CHECK(fabs(f[j] - fm[j]) < 0.1, /* measured at most 0.03 */
                 "ideal, measured from round 1: after %u measurements %+.2f dB, E as measured "
                 "%+.2f", j + 1, f[j], fm[j]);
        AM_CHECK(lm[j] - l[j] > 0.2, /* measured 0.73, 0.46, 0.38, 0.39 */
                 "ideal, first measured late: after %u measurements %+.2f dB, E as measured %+.2f",
                 j + 1, l[j], lm[j]);
    }
    pair_residuals("b210-shared-ref", 0.1f, 0, 0, 8, 16, f, l, p, &nl);
    pair_residuals("b210-shared-ref", 0.1f, 0, 1, 8, 16, fm, lm, pm, &nlm);
    AM_CHECK(nl > 40 && nl == nlm, "%u, %u pairs first measured after round 1", nl, nlm);
    AM_CHECK(l[0] < f[0] - 1.5 && l[0] < -18.4 && lm[0] > -12.8, /* measured -18.93, -16.89, -12.26 */
             "first measured late, after it: %+.2f dB (from round 1 %+.2f), E as measured %+.2f",
             l[0], f[0], lm[0]);
    for (unsigned j = 0; j < PAIR_J; j++) {
        if (j)
            AM_CHECK(fabs(l[j] - f[j]) < 0.8, /* measured -0.32, -0.25, -0.29 */
                     "after %u measurements: first measured late %+.2f dB, from round 1 %+.2f",
                     j + 1, l[j], f[j]);
        AM_CHECK(lm[j] - l[j] > 5.7, /* measured 6.67, 6.42, 6.37, 6.18 */
                 "first measured late, after %u measurements: %+.2f dB, E as measured %+.2f",
                 j + 1, l[j], lm[j]);
        AM_CHECK(fm[j] - f[j] > -0.01 && fm[j] - f[j] < 0.6, /* measured 0, 0.25, 0.25, 0.24 */
                 "from round 1, after %u measurements: %+.2f dB, E as measured %+.2f", j + 1, f[j],
                 fm[j]);
        /* measured 0.65 .. 0.89 dB under the closed form with E as measured (it takes the step
         * as linear in the error) */
        AM_CHECK(pm[j] - lm[j] > 0.0 && pm[j] - lm[j] < 1.1, "E as measured: after %u "
                 "measurements %+.2f dB, closed form %+.2f", j + 1, lm[j], pm[j]);
    }
    double f0[PAIR_J], l0[PAIR_J], p0[PAIR_J];
    unsigned nl0;
    pair_residuals("b210-shared-ref", 0.1f, 1, 1, 8, 16, f0, l0, p0, &nl0);
    for (unsigned j = 0; j < PAIR_J; j++) {
        AM_CHECK(l0[j] - p0[j] > 0.0 && l0[j] - p0[j] < 1.2, /* measured 0.94 .. 1.00 */
                 "one count per agent: after %u measurements %+.2f dB, closed form %+.2f", j + 1,
                 l0[j], p0[j]);
        AM_CHECK(l0[j] - l[j] > 15.0, /* measured 17.43, 18.94, 19.57, 19.80 */
                 "after %u measurements %+.2f dB, with one count per agent %+.2f", j + 1, l[j],
                 l0[j]);
    }
    pair_residuals("b210-free", 0.1f, 0, 0, 8, 16, f, l, p, &nl);
    pair_residuals("b210-free", 0.1f, 0, 1, 8, 16, fm, lm, pm, &nlm);
    for (unsigned j = 0; j < PAIR_J; j++) {
        AM_CHECK(lm[j] - l[j] > 3.7, /* measured 5.65, 4.81, 4.45, 4.22 */
                 "b210-free, first measured late, after %u measurements: %+.2f dB, E as measured "
                 "%+.2f", j + 1, l[j], lm[j]);
        AM_CHECK(fm[j] - f[j] > -0.01 && fm[j] - f[j] < 0.5, /* measured 0, 0.15, 0.15, 0.14 */
                 "b210-free, from round 1, after %u measurements: %+.2f dB, E as measured %+.2f",
                 j + 1, f[j], fm[j]);
    }
}

/* sim's round 1 as the networked path's. tests/cli/net_cal.sh (server, `airmeta chan`, 3 agents,
 * M = 256, 20 dB, g_th 0, the server's 1761 reals, 16 training blocks, the probes of §8.5): round 1
 * +0.1 dB over the floor and the run's mean -0.05 on b210-free (round 1 +0.15 over the mean; over
 * seeds round 1 -0.60..+0.08, means -0.20..-0.03), -0.2 and +0.01 on b210-shared-ref (-0.21); +3.2
 * before the probes. The emulators differ in their levels (sim's radios put its calibrated runs
 * +1..+3 dB over the floor, the chan's near 0; uncalibrated, sim's first round +31, the chan's
 * b210-shared-ref +0.39), so round 1 is compared with its own run: sim's aggregator with 3
 * agents, g_th 0, 30 rounds, seeds 1-8, round 1 less the run's mean over its 30 rounds, mean over
 * the seeds (largest): b210-free probed +0.52 dB (+1.51), not +14.18 (+14.69); b210-shared-ref
 * probed +0.27 (+1.09), not +14.21 (+14.68). Bounds: within 0.75 dB of the chan's (measured 0.37,
 * 0.48), at most +1.75 on any seed, and > +10 not probed. */
AM_TEST(round_1_as_the_chan, slow)
{
    static const char *const prof[2] = {"b210-free", "b210-shared-ref"};
    static const double chan[2] = {0.15, -0.21}; /* net_cal: round 1 less the run's mean */
    for (unsigned i = 0; i < 2; i++) {
        scen sc = {prof[i], 0, 1, 64, 256, 1761, 1, 0, 0.0f, 0, 3, 0, 0.0f, 0, 0, 0, 0.0f};
        double m[2][4];
        AM_CHECK(first_rounds(sc, 30, 8, m) == 0, "%s: an agent not heard", prof[i]);
        AM_CHECK(fabs(m[0][2] - chan[i]) < 0.75, "%s: sim's round 1 %+.2f dB over its run's "
                 "mean, the chan's %+.2f", prof[i], m[0][2], chan[i]);
        AM_CHECK(m[0][3] < 1.75, "%s: sim's round 1 at most %+.2f dB over its run's mean", prof[i],
                 m[0][3]);
        AM_CHECK(m[1][2] > 10.0, "%s: not probed, round 1 only %+.2f dB over its run's mean",
                 prof[i], m[1][2]);
    }
}

/* The pilot level's cost (docs/air-interface.md §2, §5.3): the pilots' common phase is estimated
 * from 1 / K of their power. On ideal radios the same rounds (payloads, channels, noise) with
 * unit pilots and at 1 / sqrt(K) differ on the pilot bins only, so the error's increase over the
 * §5 floor is the phase estimate's: per recovered real |c|^2 / (2 M_pilot a^2) of the floor, c the
 * bin's averaged value, i.e. (1/a^2 - 1) E|c_avg|^2 / (2 M_pilot) more than with unit pilots.
 * K = 10, M = 64 (6 pilots: the largest cost) and 256 (26), 2048 reals, 20 dB, g_th 0, rounds
 * 101-300. Measured: 0.0700 of the floor at M = 64 (closed form 0.0750; +6.15 -> +6.23 dB),
 * 0.0174 at M = 256 (0.0173; +2.75 -> +2.79 dB). */
AM_TEST(pilot_level_cost, slow)
{
    const unsigned Ms[2] = {64, 256}, n_pilot[2] = {6, 26};
    for (unsigned mi = 0; mi < 2; mi++) {
        scen s_a = {"ideal", 0, 0, 64, Ms[mi], 2048, 300, 100, 0.0f, 0, 0, 0, 0.0f, 0, 0, 0, 0.0f}, s_u = s_a;
        s_u.pilot = 1.0f;
        outcome a, u;
        run_scen(&s_a, &a);
        run_scen(&s_u, &u);
        /* E|c_avg|^2 ~ 1 / K (rms rule: the agents' mean power per value is at most 1) */
        const double want = (10.0 - 1.0) * 0.1 / (2.0 * n_pilot[mi]);
        const double got = a.excess_lin - u.excess_lin;
        if (verbose())
            printf("  M %u: pilots at 1/sqrt(10) %+.3f dB, unit %+.3f dB over the floor: "
                   "difference %.4f of the floor (closed form %.4f)\n",
                   Ms[mi], a.excess_db, u.excess_db, got, want);
        AM_CHECK(got > 0.85 * want && got < 1.15 * want, /* measured 0.93, 1.01 of it */
                 "M %u: the pilot level costs %.4f of the floor, closed form %.4f", Ms[mi], got,
                 want);
    }
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
 * fresh one without it differs (the state matters). Wrong sizes and bad values are refused.
 * excess: agg_iq_cfg.probe_excess (probes at most cfg.probes); into *probes the probes made. */
static void resume_case(const char *profile, unsigned probes, float excess, unsigned *made)
{
    enum { K = 4, D = 700 };
    agg_iq_cfg c;
    agg_iq_cfg_default(&c);
    c.agents = K;
    c.max_dim = D;
    c.seed = 3;
    c.probes = probes;
    c.probe_excess = excess;
    phy_impair_cfg imp;
    imp.seed = 3;
    AM_REQUIRE_OK(phy_impair_profile(profile, &imp));
    c.impair = &imp; /* cal auto: on */
    fl_agg a = {0}, b2 = {0}, b3 = {0};
    AM_REQUIRE_OK(agg_iq_create(&c, &a));
    AM_REQUIRE_OK(agg_iq_create(&c, &b2));
    AM_REQUIRE_OK(agg_iq_create(&c, &b3));
    const size_t n = agg_iq_state_size(&a);
    AM_CHECK(n == K * (8 * PHY_CAL_Q + 4 * PHY_CAL_Q) + (excess > 0 ? 4 : 0), "state of %zu bytes",
             n); /* A, counts, the probes made */
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
        if (r == 1) {
            agg_iq_round_info info;
            AM_REQUIRE_OK(agg_iq_last_round(&a, &info));
            *made = info.probes;
        }
        if (r == 12) {
            unsigned char *st = malloc(n);
            AM_REQUIRE(st != NULL, "memory");
            agg_iq_state_save(&a, st);
            AM_CHECK(agg_iq_state_load(&b2, st, n - 1) == AM_EINVAL, "short state accepted");
            if (excess > 0) {
                uint32_t p = probes + 1, keep;
                memcpy(&keep, st + n - 4, 4);
                memcpy(st + n - 4, &p, 4);
                AM_CHECK(agg_iq_state_load(&b2, st, n) == AM_EINVAL, "%u probes of %u accepted",
                         p, probes);
                memcpy(st + n - 4, &keep, 4);
            }
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
    AM_CHECK(same == 3, "%s: resumed state: %u of 3 rounds identical", profile, same);
    AM_CHECK(differ == 3, "%s: fresh state: %u of 3 rounds differ", profile, differ);
    fl_agg_destroy(&a);
    fl_agg_destroy(&b2);
    fl_agg_destroy(&b3);
    bench_free(&x);
    bench_free(&y);
    bench_free(&z);
}

AM_TEST(state_resumes, unit)
{
    unsigned made;
    resume_case("b210-shared-ref", PHY_CAL_PROBES, 0.0f, &made);
    AM_CHECK(made == PHY_CAL_PROBES, "%u probes", made);
}

/* With the probe count from what the probes measure (agg_iq_cfg.probe_excess 20, at most 4; the
 * rule of docs/air-interface.md §8.5 step 5) the run made fewer than 4 (measured: 2); its state
 * keeps the count, and the resumed run replays that many probes' beacons into its trackers. The
 * case bites: replaying 4 probes' beacons (the code before) left 0 of the 3 resumed rounds
 * identical. */
AM_TEST(state_resumes_probe_rule, unit)
{
    unsigned made;
    resume_case("b210-free", 4, 20.0f, &made);
    AM_CHECK(made == 2, "%u probes of 4 by the rule (measured 2)", made);
}

/* Issue 10's long burst: M = 1024, 20 000 reals (14 data symbols), otherwise as above (the
 * beacon's 16 training blocks). The runs without calibration score rounds 65-140 (76 rounds, the
 * tracker's window full): they are 12-37 dB off, far beyond what 76 rounds leave uncertain.
 * Measured over the §5 floor, the pilots at 1 / sqrt(K) (docs/air-interface.md §2): ideal radios
 * +0.53 dB (+1.25 with the three-block beacon, +5.67 before §4.1/§6.2's estimate and precoder);
 * b210-free tracked and calibrated +1.85 dB (issue 10's bound: 3 dB; +1.91 with the three-block
 * beacon), untracked and uncalibrated +14.34 dB; b210-shared-ref calibrated +1.03 dB (issue 10's
 * bound: 2 dB; worst round +4.99), +0.94 without the server's ADC, +1.24 with unit pilots (their
 * pulse train clips in every data symbol and is declipped), uncalibrated +42.94 dB. Before the
 * receiver declipped the ADC's values where its DC tracker had subtracted a DC (§5.7): +2.00 dB
 * (round 223 +15.42: the tracker turned on in the noise before the burst, the rails moved off the
 * clip level and 18 of ~230 clipped preamble samples were found), +6.39 with unit pilots. Since the
 * calibrated runs probe their agents before round 1 (§8.5): ideal +0.49 (not calibrated, unchanged
 * by it), b210-free calibrated +1.86, b210-shared-ref calibrated +0.99, +0.91 without the ADC,
 * +1.20 with unit pilots; uncalibrated +14.34 and +42.94. Those b210-free runs had 2 of their 10
 * agents send: the others, more than 1 spacing off the server's radio, missed every beacon. Since
 * the agents search their emulator's range (docs/air-interface.md §5.1) all 10 send, and since
 * they pre-compensate their sample clock along the burst (§4.2 "Sampling clock"; docs/
 * impairments.md): b210-free calibrated +5.21 dB (+6.58 without the pre-compensation), of which
 * the agents' Wiener phase is the most: without it +1.58 dB; at K = 3 (the same seeds) +2.84 and
 * +1.73 dB; untracked and uncalibrated +43.83 dB. */
AM_TEST(m1024_long_bursts, slow)
{
    const scen s_id = {"ideal", 0, 0, 64, 1024, 20000, 300, 100, 0.0f, 0, 0, 0, 0.0f, 0, 0, 0, 0.0f};
    scen s_f1 = s_id, s_f0 = s_id, s_s1 = s_id, s_s0 = s_id, s_u1 = s_id, s_sn = s_id;
    s_f1.profile = s_f0.profile = "b210-free";
    s_s1.profile = s_s0.profile = s_u1.profile = s_sn.profile = "b210-shared-ref";
    s_f1.cal = s_s1.cal = s_u1.cal = s_sn.cal = 1;
    s_u1.pilot = 1.0f; /* the version-1 pilots */
    s_sn.no_adc = 1;
    s_f0.track = 0;
    s_f0.R = s_s0.R = 140;
    s_f0.from = s_s0.from = 64;
    /* b210-free without the Wiener phase; both with K = 3 (the same seeds) */
    scen s_fn = s_f1, s_f3 = s_f1, s_f3n = s_f1;
    s_fn.no_pn = s_f3n.no_pn = 1;
    s_f3.K = s_f3n.K = 3;
    outcome id, f1, f0, s1, s0, u1, sn, fn, f3, f3n;
    if (verbose())
        printf("K 10 M 1024 L 20000 20 dB g_th 0:\n");
    run_scen(&s_id, &id);
    run_scen(&s_f1, &f1);
    run_scen(&s_f0, &f0);
    run_scen(&s_s1, &s1);
    run_scen(&s_s0, &s0);
    run_scen(&s_u1, &u1);
    run_scen(&s_sn, &sn);
    run_scen(&s_fn, &fn);
    run_scen(&s_f3, &f3);
    run_scen(&s_f3n, &f3n);
    /* docs/impairments.md: each agent's Wiener phase between its beacon's preamble and a data
     * symbol, phi (rad^2 on average), is its own, which the server's pilots (one common phase)
     * do not follow: (n - 1) phi / n^2 per real entry against the floor's 1 / (2 n^2 snr) (eta 1,
     * unit payloads), a ratio 2 snr (n - 1) phi over the floor that grows with n */
    const double law = (f1.excess_lin - fn.excess_lin) / (f3.excess_lin - f3n.excess_lin);
    if (verbose())
        printf("  Wiener phase over the floor: K 10 %+.3f, K 3 %+.3f (linear), ratio %.2f (closed "
               "form (10 - 1) / (3 - 1) = 4.5); phi = %.2e, %.2e rad^2\n",
               f1.excess_lin - fn.excess_lin, f3.excess_lin - f3n.excess_lin, law,
               (f1.excess_lin - fn.excess_lin) / (2 * 100 * 9),
               (f3.excess_lin - f3n.excess_lin) / (2 * 100 * 2));
    AM_CHECK(id.excess_db < 0.7, /* measured 0.49 */
             "ideal radios %+.2f dB over the floor", id.excess_db);
    AM_CHECK(fn.excess_db < 1.8, /* measured 1.58 */
             "b210-free calibrated, no Wiener phase, %+.2f dB over the floor", fn.excess_db);
    AM_CHECK(f1.excess_db < 5.5, /* measured 5.21 (2 of 10 agents sent before: 1.86) */
             "b210-free calibrated %+.2f dB over the floor", f1.excess_db);
    AM_CHECK(fabs(law / 4.5 - 1.0) < 0.1, /* measured 4.33 */
             "the Wiener phase's excess at K 10 over K 3: %.2f, closed form 4.5", law);
    AM_CHECK(f0.excess_db - f1.excess_db > 10.0, "b210-free uncalibrated %+.2f dB, calibrated %+.2f",
             f0.excess_db, f1.excess_db);
    AM_CHECK(s1.excess_db < 1.2, /* measured 0.99; issue 10's bound: 2 */
             "b210-shared-ref calibrated %+.2f dB", s1.excess_db);
    AM_CHECK(s1.excess_db - sn.excess_db < 0.3, /* measured 0.99 - 0.91 (2.00 - 0.94 before) */
             "b210-shared-ref calibrated %+.2f dB, without the server's ADC %+.2f dB",
             s1.excess_db, sn.excess_db);
    AM_CHECK(u1.excess_db - s1.excess_db > 0.1, /* measured 1.20 - 0.99 */
             "b210-shared-ref calibrated with unit pilots %+.2f dB, at 1 / sqrt(K) %+.2f dB",
             u1.excess_db, s1.excess_db);
    AM_CHECK(s0.excess_db - s1.excess_db > 30.0,
             "b210-shared-ref uncalibrated %+.2f dB, calibrated %+.2f", s0.excess_db, s1.excess_db);
    AM_CHECK(f1.heard_ok == 300 && s1.heard_ok == 300 && f0.heard_ok == 140 && s0.heard_ok == 140 &&
                 u1.heard_ok == 300 && sn.heard_ok == 300 && fn.heard_ok == 300 &&
                 f3.heard_ok == 300 && f3n.heard_ok == 300,
             "heard = sent in %u, %u, %u, %u, %u, %u, %u, %u, %u rounds", f1.heard_ok, s1.heard_ok,
             f0.heard_ok, s0.heard_ok, u1.heard_ok, sn.heard_ok, fn.heard_ok, f3.heard_ok,
             f3n.heard_ok);
    /* §5.1 "The search range": every b210-free agent finds every beacon (before: 2 of 10 sent) */
    AM_CHECK(f1.sent_min == 10 && f0.sent_min == 10 && fn.sent_min == 10 && f3.sent_min == 3 &&
                 f3n.sent_min == 3,
             "b210-free: at least %u, %u, %u of 10 and %u, %u of 3 sent in every round",
             f1.sent_min, f0.sent_min, fn.sent_min, f3.sent_min, f3n.sent_min);
}

/* A calibrated round's capture (§7: airmeta:cal_slots = K, airmeta:pilot_level = 1 / sqrt(K))
 * replays through `airmeta replay`'s code to the server's estimate bit for bit (the receiver
 * decodes the calibration blocks). */
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
        AM_CHECK(phy_sigmf_reader_info(rd)->pilot_level == 0.5f, /* §2: 1 / sqrt(4) */
                 "airmeta:pilot_level %g", (double)phy_sigmf_reader_info(rd)->pilot_level);
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
