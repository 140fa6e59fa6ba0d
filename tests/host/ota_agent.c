/* host/ota_agent: bad configurations are refused naming the field; a burst needs a found beacon;
 * a short payload is sent as the payload zero-padded to L (the padded burst computed independently
 * is the same to the bit); delivered follows the precoder's truncated data bins (§3 mapping). The
 * round trip through channel and receiver is tested through its two callers (tests/host/agg_iq.c,
 * tests/host/net.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "phy/beacon.h"
#include "phy/impair.h"
#include "round/ota_agent.h"

AM_TEST(bad_config, unit)
{
    ota_agent_cfg c = {.nfft = 256, .payload_len = 100, .smooth = 12, .cfo_comp = 1};
    ota_agent *q = NULL;
    c.smooth = 0;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "smooth"), "%s",
             am_last_error());
    c.smooth = 129;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "smooth"), "%s",
             am_last_error());
    c.smooth = 12;
    c.payload_len = 0;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "payload"), "%s",
             am_last_error());
    c.payload_len = 100;
    c.nfft = 65;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL, "nfft 65 made an agent");
    AM_CHECK(q == NULL, "nothing made");
    ota_agent_destroy(NULL);
}

/* The beacon at 40 dB SNR, on time at tick 1000 of a stream starting at 700: found within a sample
 * of it, CFO ~0, nothing truncated; then the burst of 37 reals equals the burst of those reals
 * padded to 100. */
AM_TEST(padding_and_delivered, unit)
{
    const size_t L = 100, d = 37;
    ota_agent_cfg c = {.nfft = 256, .payload_len = L, .smooth = 12, .cfo_comp = 1};
    ota_agent *q = NULL;
    AM_REQUIRE_OK(ota_agent_create(&c, &q));
    const phy_frame *f = ota_agent_frame(q);
    const size_t bl = phy_beacon_len(f), n = bl + 900, blen = ota_agent_burst_len(q);
    float complex *x = calloc(n, sizeof *x), *b1 = malloc(blen * sizeof *b1),
                  *b2 = malloc(blen * sizeof *b2), p[256];
    float pay[100] = {0}, del[100];
    AM_REQUIRE(x && b1 && b2, "alloc");
    AM_REQUIRE_OK(phy_beacon_write(f, x + 300, bl));
    am_rng r;
    am_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++)
        x[i] += 0.01f * am_rng_cnormal(&r);
    ota_agent_link link;
    memset(&link, 0xff, sizeof link);
    AM_CHECK(ota_agent_burst(q, &(ota_agent_link){0}, p, pay, d, 1.0f, 0, b1, blen, NULL) ==
                 AM_EINVAL,
             "burst without a beacon");
    const ota_agent_sched late = {.beacon = 1200, .lo = 1180, .hi = 1260, .rho = 1, .g_th = 0};
    AM_REQUIRE_OK(ota_agent_beacon(q, x, n, 700, &late, p, &link));
    AM_CHECK(!link.found, "a beacon 200 ticks early taken");
    /* g_th 0.5: the beacon's bins have |H| = 1 up to the noise, none is truncated */
    const ota_agent_sched sc = {.beacon = 1000, .lo = 990, .hi = 1010, .rho = 1, .g_th = 0.5f};
    AM_REQUIRE_OK(ota_agent_beacon(q, x, n, 700, &sc, p, &link));
    AM_REQUIRE(link.found, "beacon not found");
    AM_CHECK(llabs(link.start - 1000) <= 1 && link.delta == link.start - 1000,
             "start %lld delta %lld", (long long)link.start, (long long)link.delta);
    AM_CHECK(fabsf(link.cfo) < 1e-3f && link.erased == 0, "cfo %g erased %u", (double)link.cfo,
             link.erased);
    for (size_t j = 0; j < d; j++)
        pay[j] = (float)j - 18.0f;
    float full[100] = {0};
    memcpy(full, pay, d * sizeof *pay);
    AM_REQUIRE_OK(ota_agent_burst(q, &link, p, pay, d, 20.0f, 77, b1, blen, del));
    AM_REQUIRE_OK(ota_agent_burst(q, &link, p, full, L, 20.0f, 77, b2, blen, NULL));
    AM_CHECK(memcmp(b1, b2, blen * sizeof *b1) == 0, "padded burst differs");
    for (size_t j = 0; j < d; j++)
        AM_CHECK(del[j] == pay[j], "delivered[%zu] %g, nothing truncated", j, (double)del[j]);
    /* the data bin of entries 0 and 1 truncated: those two are not delivered, the rest are */
    const unsigned b0 = phy_frame_data_bins(f)[0];
    p[b0] = 0.0f;
    AM_REQUIRE_OK(ota_agent_burst(q, &link, p, pay, d, 20.0f, 77, b1, blen, del));
    for (size_t j = 0; j < d; j++)
        AM_CHECK(del[j] == (j < 2 ? 0.0f : pay[j]), "delivered[%zu] %g", j, (double)del[j]);
    AM_CHECK(ota_agent_burst(q, &link, p, pay, L + 1, 20.0f, 77, b1, blen, del) == AM_EINVAL,
             "payload longer than L");
    free(x);
    free(b1);
    free(b2);
    ota_agent_destroy(q);
}

/* ota_agent_track: the mean of the last len estimates, summed oldest first, so two trackers fed
 * different histories agree bit for bit once their last len estimates are the same (a resumed run
 * rebuilds its trackers by replaying len beacons); the mean of n < len at first; a ramp followed
 * with the lag (len - 1) / 2 of docs/air-interface.md §4.2; len clamped. */
AM_TEST(track_window, unit)
{
    ota_agent_track a, b;
    ota_agent_track_init(&a, 4);
    AM_CHECK(ota_agent_track_value(&a) == 0.0, "empty: 0");
    ota_agent_track_push(&a, 1.0);
    ota_agent_track_push(&a, 2.0);
    AM_CHECK(ota_agent_track_value(&a) == 1.5, "mean of 2: %g", ota_agent_track_value(&a));
    for (int i = 0; i < 10; i++)
        ota_agent_track_push(&a, 0.1 * i - 0.37);
    ota_agent_track_init(&b, 4);
    ota_agent_track_push(&b, 123.0); /* a different, longer-ago history */
    for (int i = 6; i < 10; i++)
        ota_agent_track_push(&b, 0.1 * i - 0.37);
    double want = 0.0;
    for (int i = 6; i < 10; i++)
        want += 0.1 * i - 0.37;
    want /= 4.0;
    AM_CHECK(ota_agent_track_value(&a) == ota_agent_track_value(&b) &&
                 ota_agent_track_value(&a) == want,
             "window: %.17g %.17g want %.17g", ota_agent_track_value(&a), ota_agent_track_value(&b),
             want);
    /* a frequency ramp c0 + d r is followed with a lag of (len - 1) / 2 rounds: after round r
     * the value is c0 + d (r - (len - 1) / 2), here len 4: 1.5 rounds */
    ota_agent_track_init(&a, 4);
    for (int r = 0; r <= 20; r++)
        ota_agent_track_push(&a, 0.125 + 0.0078125 * r);
    AM_CHECK(fabs(ota_agent_track_value(&a) - (0.125 + 0.0078125 * (20 - 1.5))) < 1e-15,
             "ramp: %.17g", ota_agent_track_value(&a));
    ota_agent_track_init(&a, 0);
    AM_CHECK(a.len == 1, "len 0 -> 1");
    ota_agent_track_push(&a, 0.25);
    ota_agent_track_push(&a, -0.5);
    AM_CHECK(ota_agent_track_value(&a) == -0.5, "len 1: the last estimate");
    ota_agent_track_init(&a, 100000);
    AM_CHECK(a.len == OTA_AGENT_TRACK_MAX, "len clamped to %u", OTA_AGENT_TRACK_MAX);
}

/* docs/air-interface.md §4.2 "Sampling clock", ota_agent_clock_rule: the share of the tracked
 * offset taken for the clocks' is the linear least-squares one, V / (V + extra_ms) with V = 2
 * (spread 1e-6 f_c/f_s M)^2 / 3, exactly 1 with no other offset (the b210-free bytes of fbebb0e),
 * off when the radios share one clock (spread 0: the offset is none of the clocks'); any f_c / f_s
 * in (0, 1e6] is a radio (70 MHz at 1 MS/s was refused below 125); bad pairs refused. */
AM_TEST(clock_rule, unit)
{
    ota_agent_cfg c = {.nfft = 1024, .payload_len = 100, .smooth = 12, .cfo_comp = 1};
    ota_agent_clock_rule(&c, 915.0, 2.0, 0.0);
    AM_CHECK(c.clock_fc_fs == 915.0 && c.clock_share == 1.0, "b210-free: %g, share %.17g",
             c.clock_fc_fs, c.clock_share);
    ota_agent_clock_rule(&c, 915.0, 0.0, 0.0);
    AM_CHECK(c.clock_fc_fs == 0.0 && c.clock_share == 0.0, "shared clock: %g %g", c.clock_fc_fs,
             c.clock_share);
    ota_agent_clock_rule(&c, 0.0, 2.0, 0.0);
    AM_CHECK(c.clock_fc_fs == 0.0 && c.clock_share == 0.0, "f_c/f_s 0: %g %g", c.clock_fc_fs,
             c.clock_share);
    /* --cfo 0.5 (uniform, mean square 1/12) at M = 1024 and 256 */
    for (unsigned M = 256; M <= 1024; M *= 4) {
        c.nfft = M;
        ota_agent_clock_rule(&c, 915.0, 2.0, 0.25 / 3.0);
        const double a = 2e-6 * 915.0 * M, v = 2.0 * a * a / 3.0, want = v / (v + 0.25 / 3.0);
        AM_CHECK(c.clock_fc_fs == 915.0 && fabs(c.clock_share - want) < 1e-15,
                 "M %u --cfo 0.5: share %.17g, want %.17g", M, c.clock_share, want);
        if (getenv("AM_VERBOSE"))
            printf("M %u, b210-free with --cfo 0.5: share %.4f\n", M, c.clock_share);
    }
    c.nfft = 256;
    ota_agent *q = NULL;
    ota_agent_clock_rule(&c, 70.0, 2.0, 0.0); /* 70 MHz at 1 MS/s */
    AM_CHECK_OK(ota_agent_create(&c, &q));
    ota_agent_destroy(q);
    /* an offset that implies more than OTA_AGENT_CLOCK_MAX (200 ppm) goes without the correction,
     * said in *off: at 70, 3 spacings are 167 ppm, 5 are 279; at 125 (the old floor) an offset just
     * past M/8 (32.5) is 1016 ppm, beyond the TX's own limit, where a burst failed before */
    int off = -1;
    double r = ota_agent_clock_drift(&c, 3.0, &off);
    AM_CHECK(r == -3.0 / (256 * 70.0) && off == 0, "70, c 3: r %g off %d", r, off);
    r = ota_agent_clock_drift(&c, -5.0, &off);
    AM_CHECK(r == 0.0 && off == 1, "70, c -5: r %g off %d", r, off);
    ota_agent_clock_rule(&c, 125.0, 2.0, 0.0);
    r = ota_agent_clock_drift(&c, 32.5, &off);
    AM_CHECK(r == 0.0 && off == 1, "125, c 32.5: r %g off %d", r, off);
    c.cfo_comp = 0;
    r = ota_agent_clock_drift(&c, 3.0, &off);
    AM_CHECK(r == 0.0 && off == 0, "no pre-compensation: r %g off %d", r, off);
    c.cfo_comp = 1;
    q = NULL;
    const double bad[][2] = {{915.0, 0.0}, {915.0, 1.5}, {2e6, 1.0},
                             {NAN, 1.0},   {0.0, 0.5},   {-915.0, 1.0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.clock_fc_fs = bad[i][0];
        c.clock_share = bad[i][1];
        AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "clock"),
                 "f_c/f_s %g share %g: %s", bad[i][0], bad[i][1], am_last_error());
    }
}

/* The delay of the burst's block b against the reference block xr (the same block without any
 * timing change), samples (> 0 late): the slope of the phase of Y conj(X) over adjacent bins, Y and
 * X the DFTs of the M samples after the block's cp in y and xr, each first turned back by the
 * offset it carries (cy, cx spacings: sample u of the burst times e^{-j 2 pi c u / M}, the agent's
 * pre-rotation undone). Double precision DFT. */
static double block_delay(const float complex *y,
                          double cy,
                          const float complex *xr,
                          double cx,
                          unsigned M,
                          unsigned cp,
                          size_t b)
{
    const size_t o = b * (M + cp) + cp;
    double complex *Y = malloc(M * sizeof *Y), *X = malloc(M * sizeof *X), acc = 0.0;
    for (unsigned i = 0; i < M; i++) {
        double complex sy = 0.0, sx = 0.0;
        for (unsigned t = 0; t < M; t++) {
            const double complex e = cexp(-I * 2.0 * M_PI * (double)(((size_t)i * t) % M) / M);
            const double u = (double)(o + t);
            sy += (double complex)y[o + t] * e * cexp(-I * 2.0 * M_PI * cy * u / M);
            sx += (double complex)xr[o + t] * e * cexp(-I * 2.0 * M_PI * cx * u / M);
        }
        Y[i] = sy;
        X[i] = sx;
    }
    double xmax = 0.0;
    for (unsigned i = 0; i < M; i++)
        xmax = cabs(X[i]) > xmax ? cabs(X[i]) : xmax;
    /* S0b (b = 1) fills the even bins only: the pairs are 2 bins apart there */
    const int step = b == 1 ? 2 : 1;
    for (int s = -(int)M / 2; s + step < (int)M / 2; s++) {
        const unsigned i = (unsigned)(s + (int)M) % M, j = (unsigned)(s + step + (int)M) % M;
        if (cabs(X[i]) > 1e-3 * xmax && cabs(X[j]) > 1e-3 * xmax)
            acc += Y[j] * conj(X[j]) * conj(Y[i] * conj(X[i]));
    }
    /* the pairs' slope is coarse (the difference of two bins' errors); refined by the weighted
       least-squares line through the phases of Y conj(X) turned back by it */
    const double d0 = -carg(acc) * M / (2.0 * M_PI * step);
    double sw = 0.0, ss = 0.0, sp = 0.0, sss = 0.0, ssp = 0.0;
    for (int s = -(int)M / 2; s < (int)M / 2; s++) {
        const unsigned i = (unsigned)(s + (int)M) % M;
        if (!(cabs(X[i]) > 1e-3 * xmax))
            continue;
        const double w = creal(X[i] * conj(X[i]));
        const double ph = carg(Y[i] * conj(X[i]) * cexp(I * 2.0 * M_PI * s * d0 / M));
        sw += w;
        ss += w * s;
        sp += w * ph;
        sss += w * s * s;
        ssp += w * s * ph;
    }
    const double beta = (sw * ssp - ss * sp) / (sw * sss - ss * ss);
    free(Y);
    free(X);
    return d0 - beta * M / (2.0 * M_PI);
}

/* One agent radio on its own reference, x ppm fast (phy/impair: its LO and its DAC/ADC clock), a
 * server with an ideal one; the beacon through the radio's RX, the agent's burst through its TX,
 * read by an ideal receiver at the burst's nominal place. r's sign and formula from c are pinned
 * two ways (docs/air-interface.md §4.2 "Sampling clock"):
 *   - closed form: the agent's drift is -c / (M f_c/f_s) for the offset c it pre-rotates by
 *     (within the estimate of c: x ppm), and its burst is the clock-off agent's with block b >= 3
 *     delayed by r (b - 1) (M + cp) as a linear phase (the preamble the same bytes);
 *   - the emulator's clock model, an independent path: the clock-off agent's blocks reach the
 *     receiver -x (b - 1) (M + cp) from where the preamble's middle block puts them (early), the
 *     corrected agent's ~0.
 * At f_c/f_s 915 (the profiles') and 70 (70 MHz at 1 MS/s, refused before). */
AM_TEST(clock_drift_pinned, unit)
{
    const unsigned M = 256, cp = 32, B = M + cp;
    const size_t L = 8000;
    const double ppm = 20.0, x = ppm * 1e-6;
    const double ratios[2] = {915.0, 70.0};
    for (int k = 0; k < 2; k++) {
        const double fc_fs = ratios[k];
        ota_agent_cfg c = {.nfft = M,
                           .payload_len = L,
                           .smooth = 12,
                           .cfo_comp = 1,
                           .cfo_max = ota_agent_cfo_range(0.0, ppm, fc_fs, M)};
        ota_agent *off = NULL, *on = NULL;
        AM_REQUIRE_OK(ota_agent_create(&c, &off));
        ota_agent_clock_rule(&c, fc_fs, ppm, 0.0);
        AM_REQUIRE_OK(ota_agent_create(&c, &on));
        phy_impair_cfg ic;
        phy_impair_cfg_default(&ic);
        ic.fc_hz = fc_fs * ic.fs_hz;
        ic.ppm = (float)ppm;
        phy_impair *radio = NULL;
        AM_REQUIRE_OK(phy_impair_create(&ic, &radio));
        const phy_frame *f = ota_agent_frame(on);
        const size_t bl = phy_beacon_len(f), n = 1000 + bl + 1000, blen = ota_agent_burst_len(on),
                     lat = phy_impair_latency(radio, PHY_IMPAIR_TX);
        const size_t cap = phy_impair_max_out(radio, PHY_IMPAIR_TX, blen + lat) + n + 64;
        float complex *dl = calloc(n + lat, sizeof *dl), *rx = calloc(cap, sizeof *rx),
                      *b_on = calloc(blen + lat, sizeof *b_on),
                      *b_off = calloc(blen + lat, sizeof *b_off), *y_on = calloc(cap, sizeof *y_on),
                      *y_off = calloc(cap, sizeof *y_off), p_on[256], p_off[256];
        float *pay = malloc(L * sizeof *pay);
        AM_REQUIRE(dl && rx && b_on && b_off && y_on && y_off && pay, "alloc");
        AM_REQUIRE_OK(phy_beacon_write(f, dl + 1000, bl));
        size_t ny = 0, m = 0;
        phy_impair_start(radio, PHY_IMPAIR_RX);
        AM_REQUIRE_OK(phy_impair_execute(radio, PHY_IMPAIR_RX, dl, n + lat, rx, cap, &ny));
        am_rng r;
        am_rng_seed(&r, 11);
        for (size_t i = 0; i < ny; i++)
            rx[i] += 0.003f * am_rng_cnormal(&r); /* ~50 dB */
        for (size_t i = 0; i < L; i++)
            pay[i] = (float)am_rng_normal(&r);
        const ota_agent_sched sc = {
            .beacon = 1000, .lo = 1000 - cp, .hi = 1000 + 2 * cp, .rho = 1, .g_th = 0};
        ota_agent_link l_on, l_off;
        AM_REQUIRE_OK(ota_agent_beacon(on, rx, ny, 0, &sc, p_on, &l_on));
        AM_REQUIRE_OK(ota_agent_beacon(off, rx, ny, 0, &sc, p_off, &l_off));
        AM_REQUIRE(l_on.found && l_off.found, "beacon not found");
        /* the downlink offset of a radio x fast: -x f_c/f_s M spacings (phy/impair's RX) */
        const double cu = l_on.cfo_used, want_r = -cu / ((double)M * fc_fs);
        AM_CHECK(l_on.drift == want_r && !l_on.drift_off && l_off.drift == 0.0,
                 "drift %.17g, closed form %.17g", l_on.drift, want_r);
        AM_CHECK(fabs(cu + x * fc_fs * M) < 2e-3 && fabs(l_on.drift - x) < 0.01 * x,
                 "c %.6f (truth %.6f), r %.6g (truth %.6g)", cu, -x * fc_fs * M, l_on.drift, x);
        AM_REQUIRE(memcmp(p_on, p_off, sizeof p_on) == 0 && l_on.cfo_used == l_off.cfo_used,
                   "the two agents saw different beacons");
        AM_REQUIRE_OK(ota_agent_burst(on, &l_on, p_on, pay, L, 1.0f, 0, b_on, blen, NULL));
        AM_REQUIRE_OK(ota_agent_burst(off, &l_off, p_off, pay, L, 1.0f, 0, b_off, blen, NULL));
        AM_CHECK(memcmp(b_on, b_off, 3 * B * sizeof *b_on) == 0, "the preamble differs");
        const size_t nb = blen / B;
        double worst_tx = 0.0, last_on = 0.0, last_off = 0.0, worst_on = 0.0, worst_off = 0.0;
        /* the emulated uplink: the radio's TX (x fast), its latency pushed out */
        phy_impair_start(radio, PHY_IMPAIR_TX);
        AM_REQUIRE_OK(phy_impair_execute(radio, PHY_IMPAIR_TX, b_on, blen + lat, y_on, cap, &ny));
        AM_REQUIRE(ny >= blen - 8, "TX outputs %zu of %zu", ny, blen);
        phy_impair_start(radio, PHY_IMPAIR_TX);
        AM_REQUIRE_OK(phy_impair_execute(radio, PHY_IMPAIR_TX, b_off, blen + lat, y_off, cap, &m));
        const double d1_on = block_delay(y_on, 0.0, b_off, cu, M, cp, 1),
                     d1_off = block_delay(y_off, 0.0, b_off, cu, M, cp, 1);
        for (size_t b = 3; b + 1 < nb; b++) {
            /* closed form at the TX: the corrected burst against the clock-off one (the same
             * pre-rotation sample by sample, so the block's spectra differ by the delay alone) */
            const double d_tx = block_delay(b_on, cu, b_off, cu, M, cp, b);
            const double want = l_on.drift * (double)(b - 1) * B;
            if (fabs(d_tx - want) > worst_tx)
                worst_tx = fabs(d_tx - want);
            /* at the ideal receiver, from the preamble's middle block */
            last_on = block_delay(y_on, 0.0, b_off, cu, M, cp, b) - d1_on;
            last_off = block_delay(y_off, 0.0, b_off, cu, M, cp, b) - d1_off;
            const double clock = -x * (double)(b - 1) * B;
            if (fabs(last_on) > worst_on)
                worst_on = fabs(last_on);
            if (fabs(last_off - clock) > worst_off)
                worst_off = fabs(last_off - clock);
        }
        const double clock_last = -x * (double)(nb - 3) * B;
        if (getenv("AM_VERBOSE"))
            printf("f_c/f_s %g, %g ppm, %zu blocks: c %+.6f, r %.6g; TX delay vs r (b-1) B: worst "
                   "%.2e; at the receiver, block %zu: corrected %+.5f (worst %.5f), uncorrected "
                   "%+.5f (closed form %+.5f, worst off %.5f) samples\n",
                   fc_fs, ppm, nb, cu, l_on.drift, worst_tx, nb - 2, last_on, worst_on, last_off,
                   clock_last, worst_off);
        /* measured: 1.1e-8 / 1.2e-8 (f_c/f_s 915 / 70) */
        AM_CHECK(worst_tx < 1e-6, "TX delay off r (b - 1) B by %.3g samples", worst_tx);
        /* measured 0.0021 at both (the ideal receiver's estimate of one block's delay, through the
         * interpolator's edges; the uncorrected burst's last block is 0.133 early, a flipped sign
         * would leave 0.265) */
        AM_CHECK(worst_on < 3e-3, "corrected: block drifts %.4f samples (uncorrected %.4f)",
                 worst_on, clock_last);
        /* measured 0.0025 at both */
        AM_CHECK(worst_off < 3e-3, "uncorrected: %.4f samples off the closed form %.4f", worst_off,
                 clock_last);
        free(dl);
        free(rx);
        free(b_on);
        free(b_off);
        free(y_on);
        free(y_off);
        free(pay);
        phy_impair_destroy(radio);
        ota_agent_destroy(on);
        ota_agent_destroy(off);
    }
}

/* docs/air-interface.md §4.2 "Sampling clock": a carrier offset that is not the clocks' (the
 * emulator's --cfo / --agent-cfo: a phasor on the links, no sample clock behind it) is not turned
 * into a drift correction. Radios on one clock (spread 0) under an offset eps = 0.5 spacings: the
 * rule's agent sends the clock-off agent's bytes, so the ideal receiver sees no drift; fbebb0e's
 * rule (the whole offset taken for the clocks', share 1) delayed block b by -eps (b - 1) (M + cp) /
 * (M f_c/f_s), seen at the receiver; b210-free radios (spread 2 ppm) under the same offset take
 * the share V / (V + eps_max^2 / 3) of it. */
AM_TEST(clock_offset_not_the_clocks, unit)
{
    const unsigned M = 256, cp = 32, B = M + cp;
    const size_t L = 8000;
    const double eps = 0.5, fc_fs = 915.0;
    ota_agent_cfg c = {.nfft = M, .payload_len = L, .smooth = 12, .cfo_comp = 1, .cfo_max = 1.0};
    ota_agent *ag[4] = {NULL};
    AM_REQUIRE_OK(ota_agent_create(&c, &ag[0])); /* clock off */
    ota_agent_clock_rule(&c, fc_fs, 0.0, eps * eps / 3.0);
    AM_CHECK(c.clock_fc_fs == 0.0, "one clock: the rule turned the correction on");
    AM_REQUIRE_OK(ota_agent_create(&c, &ag[1]));
    c.clock_fc_fs = fc_fs; /* fbebb0e: all of the offset the clocks' */
    c.clock_share = 1.0;
    AM_REQUIRE_OK(ota_agent_create(&c, &ag[2]));
    ota_agent_clock_rule(&c, fc_fs, 2.0, eps * eps / 3.0); /* b210-free's radios with --cfo 0.5 */
    AM_REQUIRE_OK(ota_agent_create(&c, &ag[3]));
    const phy_frame *f = ota_agent_frame(ag[0]);
    const size_t bl = phy_beacon_len(f), n = 1000 + bl + 1000, blen = ota_agent_burst_len(ag[0]);
    float complex *dl = calloc(n, sizeof *dl), *b[4], p[4][256];
    float *pay = malloc(L * sizeof *pay);
    AM_REQUIRE(dl && pay, "alloc");
    AM_REQUIRE_OK(phy_beacon_write(f, dl + 1000, bl));
    phy_rotate(dl, n, eps, M, 0.3);
    am_rng r;
    am_rng_seed(&r, 12);
    for (size_t i = 0; i < n; i++)
        dl[i] += 0.003f * am_rng_cnormal(&r);
    for (size_t i = 0; i < L; i++)
        pay[i] = (float)am_rng_normal(&r);
    const ota_agent_sched sc = {
        .beacon = 1000, .lo = 1000 - cp, .hi = 1000 + 2 * cp, .rho = 1, .g_th = 0};
    ota_agent_link l[4];
    for (int k = 0; k < 4; k++) {
        b[k] = calloc(blen, sizeof *b[k]);
        AM_REQUIRE(b[k], "alloc");
        AM_REQUIRE_OK(ota_agent_beacon(ag[k], dl, n, 0, &sc, p[k], &l[k]));
        AM_REQUIRE(l[k].found, "agent %d: beacon not found", k);
        AM_REQUIRE_OK(ota_agent_burst(ag[k], &l[k], p[k], pay, L, 1.0f, 0, b[k], blen, NULL));
        phy_rotate(b[k], blen, -eps, M, 0.0); /* the uplink: -eps, no clock */
    }
    const double cu = l[0].cfo_used;
    AM_CHECK(fabs(cu - eps) < 1e-3, "offset %.5f", cu);
    AM_CHECK(l[1].drift == 0.0 && memcmp(b[1], b[0], blen * sizeof *b[0]) == 0,
             "one clock: drift %g, the burst is not the clock-off agent's", l[1].drift);
    const double a = 2e-6 * fc_fs * M, v = 2.0 * a * a / 3.0, share = v / (v + eps * eps / 3.0);
    AM_CHECK(l[2].drift == -cu / (M * fc_fs) && l[3].drift == -(share * cu) / (M * fc_fs),
             "drifts %.6g %.6g", l[2].drift, l[3].drift);
    const size_t nb = blen / B, last = nb - 2;
    /* the ideal receiver, against the clock-off agent's burst: fbebb0e's drift shows */
    const double d_old = block_delay(b[2], 0.0, b[0], 0.0, M, cp, last) -
                         block_delay(b[2], 0.0, b[0], 0.0, M, cp, 1);
    const double want = l[2].drift * (double)(last - 1) * B;
    if (getenv("AM_VERBOSE"))
        printf("offset %.5f (not the clocks'): block %zu at the receiver: rule 0 (the same bytes), "
               "share 1 %+.5f samples (closed form %+.5f); b210-free radios: share %.4f\n",
               cu, last, d_old, want, share);
    /* measured: equal to 1e-5 samples (no resampling on this path) */
    AM_CHECK(fabs(d_old - want) < 1e-4 && fabs(want) > 0.01, "share 1: %.5f, closed form %.5f",
             d_old, want);
    for (int k = 0; k < 4; k++) {
        free(b[k]);
        ota_agent_destroy(ag[k]);
    }
    free(dl);
    free(pay);
}
