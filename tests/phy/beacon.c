/* phy/beacon: the downlink beacon (docs/air-interface.md §6) and the agent's estimates of timing,
 * CFO, noise and channel, against the emulator's truth (phy/chan.h) and hand-built channels. */
#include "phy/beacon.h"
#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "phy/chan.h"
#include "phy/frame.h"
#include "util.h"

static phy_beacon_rx *make_rx(unsigned M, unsigned smooth)
{
    phy_beacon_rx_cfg c;
    phy_beacon_rx_cfg_default(&c);
    c.frame.nfft = M;
    c.smooth = smooth;
    phy_beacon_rx *q = NULL;
    if (phy_beacon_rx_create(&c, &q) != AM_OK)
        fprintf(stderr, "beacon_rx: %s\n", am_last_error());
    return q;
}

AM_TEST(write, unit)
{
    phy_frame_cfg fc = {.nfft = 256};
    phy_frame *f = NULL;
    AM_REQUIRE_OK(phy_frame_create(&fc, &f));
    size_t n = phy_beacon_len(f);
    AM_CHECK(n == 3 * 288, "length %zu", n);
    float complex *x = malloc(n * sizeof(float complex));
    AM_CHECK(phy_beacon_write(f, x, n - 1) == AM_EINVAL, "short capacity accepted");
    AM_REQUIRE_OK(phy_beacon_write(f, x, n));
    AM_CHECK(memcmp(x, phy_frame_preamble(f), n * sizeof(float complex)) == 0,
             "beacon is not the preamble");
    free(x);
    phy_frame_destroy(f);
}

/* Noiseless, genie-timed: h equals the response of a hand-built multipath channel. */
AM_TEST(estimate_at_exact, unit)
{
    const unsigned M = 128, cp = 16;
    phy_beacon_rx *q = make_rx(M, 0);
    AM_REQUIRE(q, "rx");
    const phy_frame *f = phy_beacon_rx_frame(q);
    size_t n = phy_beacon_len(f);
    float complex *x = malloc(n * sizeof(float complex)), *y = calloc(n, sizeof(float complex));
    AM_REQUIRE_OK(phy_beacon_write(f, x, n));
    const float complex taps[5] = {0, 0.9f - 0.2f * I, 0, 0.3f * I, -0.25f}; /* delays 1, 3, 4 */
    conv_add(y, x, n, taps, 5, 0);
    phy_beacon_est e;
    AM_REQUIRE_OK(phy_beacon_rx_estimate_at(q, y, n, &e));
    const unsigned char *sct = phy_frame_sctype(f);
    float complex H[128];
    taps_response(taps, 5, 0, M, H);
    double maxd = 0;
    for (unsigned i = 0; i < M; i++) {
        if (sct[i] == 0)
            AM_CHECK(e.h[i] == 0.0f, "null bin %u has an estimate", i);
        else
            maxd = fmax(maxd, cabs((double complex)e.h[i] - (double complex)H[i]));
    }
    AM_CHECK(maxd < 1e-4, "max |h - H| %.3g", maxd);
    AM_CHECK(e.n0 < 1e-10f, "noiseless n0 %g", (double)e.n0);
    AM_CHECK(e.nfft == M && e.start == 0 && e.cfo == 0.0f, "fields");
    (void)cp;
    AM_CHECK(phy_beacon_rx_estimate_at(q, y, n - 1, &e) == AM_EINVAL, "short input accepted");
    y[7] = NAN;
    AM_CHECK(phy_beacon_rx_estimate_at(q, y, n, &e) == AM_EFORMAT, "NaN accepted");
    free(x);
    free(y);
    phy_beacon_rx_destroy(q);
}

/* The emulator's downlink (4-tap Rayleigh, timing offset, CFO, phase, AWGN): the beacon is found
 * in a noisy stream, start = first path, CFO = -(agent + common offset), h = the emulator's
 * response referred to the estimated start (times the CFO's phase there), N0 = §5's. */
static void downlink_case(unsigned M, float snr_db, unsigned K, uint64_t seed, double *err_db)
{
    phy_beacon_rx *q = make_rx(M, 0);
    AM_REQUIRE(q, "rx");
    const phy_frame *f = phy_beacon_rx_frame(q);
    const unsigned cp = phy_frame_cp_len(f), nu = phy_frame_n_used(f);
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = K;
    cc.nfft = M;
    cc.cp_len = cp;
    cc.n_taps = 4;
    cc.delay_spread = 1.0f;
    cc.max_timing_offset = cp - 5;
    cc.max_cfo = 0.05f;
    cc.common_cfo = 0.04f;
    cc.snr_db = snr_db;
    cc.seed = seed;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&cc, &ch));
    size_t n = phy_beacon_len(f), lead = 2345, tail = 3000;
    size_t cap = phy_chan_out_len(ch, n, lead, tail), ny = 0;
    float complex *x = malloc(n * sizeof(float complex)), *y = malloc(cap * sizeof(float complex));
    float complex H[4096];
    AM_REQUIRE_OK(phy_beacon_write(f, x, n));
    const unsigned char *sct = phy_frame_sctype(f);
    double se = 0, sh = 0;
    for (unsigned k = 0; k < K; k++) {
        AM_REQUIRE_OK(phy_chan_downlink(ch, k, x, n, lead, tail, y, cap, &ny));
        AM_REQUIRE_OK(phy_chan_response(ch, k, H));
        float complex taps[4];
        unsigned d = 0;
        AM_REQUIRE_OK(phy_chan_taps(ch, k, taps, &d));
        phy_beacon_rx_reset(q);
        size_t consumed = 0;
        int found = 0;
        phy_beacon_est e;
        AM_REQUIRE_OK(phy_beacon_rx_execute(q, y, ny, &consumed, &found, &e));
        AM_REQUIRE(found, "M %u agent %u: beacon not found", M, k);
        double cfo = -(double)phy_chan_agent_cfo(ch, k); /* downlink sees the opposite */
        long off = (long)e.start - (long)lead;
        /* start is the first path, lead + d (the first tap of the emulator's profile is the
         * strongest on average; a weak first tap may be skipped by a sample or so) */
        AM_CHECK(off >= (long)d - 1 && off <= (long)d + 3, "M %u agent %u: start %+ld, d = %u", M,
                 k, off, d);
        /* lag-M/2 correlation over ~1.5 M samples: phase std sqrt((2/g + 1/g^2) / (1.5 M)) */
        double g = pow(10.0, snr_db / 10.0);
        AM_CHECK_NEAR(e.cfo, cfo, 5.0 * sqrt((2.0 / g + 1.0 / (g * g)) / (1.5 * M)) / M_PI);
        /* truth referred to e.start: H e^{+j 2 pi i off / M}, times the CFO phase at e.start */
        double complex ph = cexp(2.0 * I * M_PI * cfo * (double)e.start / M);
        for (unsigned i = 0; i < M; i++) {
            if (sct[i] == 0) {
                AM_CHECK(e.h[i] == 0.0f, "null bin");
                continue;
            }
            double complex want =
                (double complex)H[i] * cexp(2.0 * I * M_PI * (double)((long)i * off) / M) * ph;
            double complex dd = (double complex)e.h[i] - want;
            se += creal(dd * conj(dd));
            sh += creal(want * conj(want));
        }
        double N0 = 1.0 / pow(10.0, snr_db / 10.0);
        AM_CHECK(e.n0 > 0.6 * N0 && e.n0 < 1.6 * N0, "M %u: n0 %.3g, want %.3g", M, (double)e.n0,
                 N0);
        (void)nu;
    }
    *err_db = 10 * log10(se / sh);
    free(x);
    free(y);
    phy_chan_destroy(ch);
    phy_beacon_rx_destroy(q);
}

AM_TEST(downlink_emulator, unit)
{
    unsigned Ms[] = {64, 256, 1024};
    float snrs[] = {10.0f, 30.0f};
    for (unsigned mi = 0; mi < 3; mi++)
        for (unsigned si = 0; si < 2; si++) {
            double err = 0;
            downlink_case(Ms[mi], snrs[si], 6, 900 + mi * 2 + si, &err);
            /* S1 alone would give N0 / E|H|^2 = -snr; MRC with S0 on even bins does better */
            if (verbose())
                fprintf(stderr, "M %u SNR %.0f: channel estimate error %.2f dB\n", Ms[mi],
                        (double)snrs[si], err);
            AM_CHECK(err < -(double)snrs[si] + 1.0, "M %u SNR %.0f: h error %.2f dB", Ms[mi],
                     (double)snrs[si], err);
        }
}

/* Smoothing (impulse response truncated to the CP) lowers the error at low SNR. */
AM_TEST(smoothing, unit)
{
    const unsigned M = 256;
    phy_beacon_rx *raw = make_rx(M, 0), *sm = make_rx(M, 40);
    AM_REQUIRE(raw && sm, "rx");
    const phy_frame *f = phy_beacon_rx_frame(raw);
    size_t n = phy_beacon_len(f);
    float complex *x = malloc(n * sizeof(float complex)), *y = malloc(n * sizeof(float complex));
    float complex *clean = calloc(n, sizeof(float complex)), H[256];
    AM_REQUIRE_OK(phy_beacon_write(f, x, n));
    const float complex taps[3] = {0.8f, 0.5f * I, -0.3f};
    conv_add(clean, x, n, taps, 3, 0);
    taps_response(taps, 3, 0, M, H);
    am_rng r;
    am_rng_seed(&r, 77);
    const unsigned char *sct = phy_frame_sctype(f);
    double e_raw = 0, e_sm = 0;
    float sd = (float)sqrt(M / (phy_frame_n_used(f) * pow(10.0, 0.5)));
    for (int trial = 0; trial < 20; trial++) {
        for (size_t t = 0; t < n; t++)
            y[t] = clean[t] + sd * am_rng_cnormal(&r);
        phy_beacon_est a, b;
        AM_REQUIRE_OK(phy_beacon_rx_estimate_at(raw, y, n, &a));
        AM_REQUIRE_OK(phy_beacon_rx_estimate_at(sm, y, n, &b));
        for (unsigned i = 0; i < M; i++) {
            if (!sct[i])
                continue;
            e_raw += pow(cabs((double complex)a.h[i] - (double complex)H[i]), 2);
            e_sm += pow(cabs((double complex)b.h[i] - (double complex)H[i]), 2);
        }
    }
    if (verbose())
        fprintf(stderr, "5 dB: raw %.2f dB, smoothed %.2f dB\n", 10 * log10(e_raw),
                10 * log10(e_sm));
    AM_CHECK(e_sm < 0.5 * e_raw, "smoothing did not help: %.3g vs %.3g", e_sm, e_raw);
    free(x);
    free(y);
    free(clean);
    phy_beacon_rx_destroy(raw);
    phy_beacon_rx_destroy(sm);
    phy_beacon_rx_cfg c;
    phy_beacon_rx_cfg_default(&c);
    c.smooth = 200;
    phy_beacon_rx *bad = NULL;
    AM_CHECK(phy_beacon_rx_create(&c, &bad) == AM_EINVAL && !bad, "smooth > M/2 accepted");
}

/* Feeding the stream in random pieces (continuing at x + consumed) finds the same beacons with
 * bit-identical estimates; noise alone finds nothing; NaN refused. */
AM_TEST(stream_chunks, unit)
{
    const unsigned M = 64;
    phy_beacon_rx *a = make_rx(M, 0), *b = make_rx(M, 0);
    AM_REQUIRE(a && b, "rx");
    const phy_frame *f = phy_beacon_rx_frame(a);
    size_t nb = phy_beacon_len(f), n = 60000;
    float complex *x = malloc(nb * sizeof(float complex)), *y = malloc(n * sizeof(float complex));
    AM_REQUIRE_OK(phy_beacon_write(f, x, nb));
    am_rng r;
    am_rng_seed(&r, 31);
    for (size_t t = 0; t < n; t++)
        y[t] = 0.1f * am_rng_cnormal(&r);
    size_t where[3] = {5000, 21000, 40007};
    for (int k = 0; k < 3; k++)
        for (size_t t = 0; t < nb; t++)
            y[where[k] + t] += x[t];
    uint64_t sa[4] = {0}, sb[4] = {0};
    float complex ha[3][64], hb[3][64];
    unsigned na = 0, nbf = 0;
    size_t pos = 0;
    while (pos < n && na < 4) {
        size_t used = 0;
        int found = 0;
        phy_beacon_est e;
        AM_REQUIRE_OK(phy_beacon_rx_execute(a, y + pos, n - pos, &used, &found, &e));
        pos += used;
        if (found) {
            sa[na] = e.start;
            if (na < 3)
                memcpy(ha[na], e.h, sizeof ha[0]);
            na++;
        }
    }
    pos = 0;
    while (pos < n && nbf < 4) {
        size_t len = 1 + am_rng_below(&r, 3000), used = 0;
        if (len > n - pos)
            len = n - pos;
        int found = 0;
        phy_beacon_est e;
        AM_REQUIRE_OK(phy_beacon_rx_execute(b, y + pos, len, &used, &found, &e));
        AM_REQUIRE(used <= len, "consumed %zu of %zu", used, len);
        pos += used;
        if (found) {
            sb[nbf] = e.start;
            if (nbf < 3)
                memcpy(hb[nbf], e.h, sizeof hb[0]);
            nbf++;
        }
    }
    AM_CHECK(na == 3 && nbf == 3, "found %u and %u beacons, want 3", na, nbf);
    for (unsigned k = 0; k < 3 && k < na && k < nbf; k++) {
        AM_CHECK(sa[k] == where[k] && sb[k] == where[k], "beacon %u at %llu / %llu, want %zu", k,
                 (unsigned long long)sa[k], (unsigned long long)sb[k], where[k]);
        AM_CHECK(memcmp(ha[k], hb[k], sizeof ha[k]) == 0, "beacon %u: estimates differ", k);
    }
    y[100] = NAN;
    size_t used = 1;
    int found = 1;
    phy_beacon_est e;
    AM_CHECK(phy_beacon_rx_execute(a, y, 1000, &used, &found, &e) == AM_EFORMAT && used == 0 &&
                 !found,
             "NaN accepted");
    free(x);
    free(y);
    phy_beacon_rx_destroy(a);
    phy_beacon_rx_destroy(b);
}

/* Training blocks (docs/air-interface.md §6.1): R copies of S1's block after the preamble; the
 * genie estimate combines them (§6.2): exact without noise, and with AWGN of N0 per bin its error
 * variance is N0 / w, w = 5 + R on S0's (even) bins and 1 + R on the odd ones at M = 256
 * (|X_S0|^2 = 2, |X_S1|^2 = 1): measured against that closed form over 300 beacons. Bad counts
 * are refused. */
AM_TEST(training_blocks, unit)
{
    const unsigned M = 256, R = 6;
    phy_beacon_rx_cfg c;
    phy_beacon_rx_cfg_default(&c);
    c.frame.nfft = M;
    c.reps = R;
    phy_beacon_rx *q = NULL;
    AM_REQUIRE_OK(phy_beacon_rx_create(&c, &q));
    const phy_frame *f = phy_beacon_rx_frame(q);
    const size_t B = phy_frame_block_len(f), n = phy_beacon_len_reps(f, R);
    AM_CHECK(n == (3 + R) * B && phy_beacon_len_reps(f, 0) == phy_beacon_len(f), "length %zu", n);
    float complex *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    AM_REQUIRE(x && y, "memory");
    AM_CHECK(phy_beacon_write_reps(f, R, x, n - 1) == AM_EINVAL, "short capacity accepted");
    AM_CHECK(phy_beacon_write_reps(f, PHY_BEACON_MAX_REPS + 1, x, 100 * n) == AM_EINVAL,
             "17 training blocks accepted");
    AM_REQUIRE_OK(phy_beacon_write_reps(f, R, x, n));
    AM_CHECK(memcmp(x, phy_frame_preamble(f), 3 * B * sizeof *x) == 0, "preamble");
    for (unsigned r = 0; r < R; r++)
        AM_CHECK(memcmp(x + (3 + r) * B, x + 2 * B, B * sizeof *x) == 0, "block T_%u is not S1's",
                 r + 1);
    /* noiseless through a hand-built channel */
    const float complex taps[4] = {0.8f, 0, -0.4f + 0.3f * I, 0.2f * I};
    memset(y, 0, n * sizeof *y);
    conv_add(y, x, n, taps, 4, 0);
    phy_beacon_est e;
    AM_REQUIRE_OK(phy_beacon_rx_estimate_at(q, y, n, &e));
    AM_CHECK(phy_beacon_rx_estimate_at(q, y, n - 1, &e) == AM_EINVAL, "short input accepted");
    float complex H[256];
    taps_response(taps, 4, 0, M, H);
    const unsigned char *sct = phy_frame_sctype(f);
    double maxd = 0;
    AM_REQUIRE_OK(phy_beacon_rx_estimate_at(q, y, n, &e));
    for (unsigned i = 0; i < M; i++)
        if (sct[i] != 0)
            maxd = fmax(maxd, cabs((double complex)e.h[i] - (double complex)H[i]));
    AM_CHECK(maxd < 1e-4, "noiseless: max |h - H| %.3g", maxd);
    /* AWGN, flat channel 1: per-sample variance s2 gives N0 = s2 M_used / M per bin (§5.4) */
    const double s2 = 0.01, N0 = s2 * phy_frame_n_used(f) / M;
    am_rng g;
    am_rng_seed(&g, 17);
    double se[2] = {0, 0};
    unsigned ne[2] = {0, 0};
    for (unsigned t = 0; t < 300; t++) {
        for (size_t k = 0; k < n; k++)
            y[k] = x[k] + (float)sqrt(s2) * am_rng_cnormal(&g);
        AM_REQUIRE_OK(phy_beacon_rx_estimate_at(q, y, n, &e));
        for (unsigned i = 0; i < M; i++)
            if (sct[i] != 0) {
                const double d = cabs((double complex)e.h[i] - 1.0);
                se[i % 2] += d * d;
                ne[i % 2]++;
            }
    }
    const double even = se[0] / ne[0] / (N0 / (5.0 + R)), odd = se[1] / ne[1] / (N0 / (1.0 + R));
    if (getenv("AM_VERBOSE"))
        printf("error variance / closed form: even bins %.3f, odd bins %.3f\n", even, odd);
    AM_CHECK(fabs(even - 1.0) < 0.05 && fabs(odd - 1.0) < 0.05, /* measured 1.000, 0.990 */
             "error variance / N0 / w: even %.3f, odd %.3f", even, odd);
    AM_CHECK(phy_beacon_rx_set_reps(q, PHY_BEACON_MAX_REPS + 1) == AM_EINVAL, "set_reps 17");
    c.reps = PHY_BEACON_MAX_REPS + 1;
    phy_beacon_rx *bad = NULL;
    AM_CHECK(phy_beacon_rx_create(&c, &bad) == AM_EINVAL && !bad, "reps 17 accepted");
    free(x);
    free(y);
    phy_beacon_rx_destroy(q);
}
