/* The margin of today's receiver and genie agents to each radio impairment ALONE (phy/impair on
 * every radio of the emulator): `airmeta demo`'s scenario (K = 10, M = 256, 4-tap Rayleigh,
 * timing cp/4, receiver CFO 0.05, g_th 0.1, L = 4096, 20 dB), aggregation NMSE excess over the
 * docs/air-interface.md §5 floor as the impairment grows, and the value where the excess crosses 2
 * dB (docs/impairments.md "margin"). Also the three profiles as they are. AM_VERBOSE=1 prints the
 * whole table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/status.h"
#include "phy/impair.h"
#include "phy/ota_rx.h"
#include "round/genie.h"

#define SW_ROUNDS 16u
#define SW_K 10u
#define SW_M 256u
#define SW_L 4096u
#define SW_SNR 20.0f

static int verbose(void)
{
    const char *v = getenv("AM_VERBOSE");
    return v && *v == '1';
}

typedef struct sw_rx {
    float *payload;
    unsigned found;
} sw_rx;

static am_status on_burst(const phy_ota_burst *b, void *user)
{
    sw_rx *d = user;
    if (b->payload_len == SW_L)
        memcpy(d->payload, b->payload, SW_L * sizeof *d->payload);
    d->found++;
    return AM_OK;
}

/* demo's scenario with the given radios: excess of the measured NMSE over the §5 floor, dB;
 * +INFINITY when fewer than half the bursts were found. */
static double excess_db(const phy_impair_cfg *imp, uint64_t seed)
{
    const unsigned cp = SW_M / 8;
    genie_cfg g = {.agents = SW_K,
                   .nfft = SW_M,
                   .payload_len = SW_L,
                   .taps = 4,
                   .delay_spread = 1.0f,
                   .timing = cp / 4,
                   .cfo = 0.05f,
                   .agent_cfo = 0.0f,
                   .g_th = 0.1f,
                   .rho = 1.0f,
                   .eta = 1.41421356f,
                   .snr_db = SW_SNR,
                   .seed = seed,
                   .max_pad = 3 * (size_t)(SW_M + cp),
                   .impair = imp};
    genie *gn = NULL;
    phy_ota_rx *rx = NULL;
    sw_rx d = {.payload = malloc(SW_L * sizeof(float))};
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame.nfft = SW_M;
    rc.frame.cp_len = cp;
    rc.payload_len = SW_L;
    rc.eta = g.eta;
    rc.rho = g.rho;
    rc.callback = on_burst;
    rc.user = &d;
    double res = NAN;
    if (genie_create(&g, &gn) != AM_OK || phy_ota_rx_create(&rc, &rx) != AM_OK) {
        fprintf(stderr, "%s\n", am_last_error());
        goto out;
    }
    const size_t lead = 3 * (size_t)(SW_M + cp);
    const double snr = pow(10.0, SW_SNR / 10.0);
    double err = 0, sig = 0, flo = 0;
    unsigned found = 0;
    for (unsigned r = 0; r < SW_ROUNDS; r++) {
        const float complex *y = NULL;
        size_t ny = 0;
        if (genie_round(gn, lead, lead, &y, &ny) != AM_OK) {
            fprintf(stderr, "%s\n", am_last_error());
            goto out;
        }
        phy_ota_rx_reset(rx);
        d.found = 0;
        if (phy_ota_rx_execute(rx, y, ny) != AM_OK)
            goto out;
        if (d.found != 1)
            continue;
        found++;
        for (size_t j = 0; j < SW_L; j++) {
            double t = 0;
            unsigned n = genie_entry(gn, j, &t);
            if (n == 0)
                continue;
            double e = (double)d.payload[j] - t;
            err += e * e;
            sig += t * t;
            flo += (double)g.eta * g.eta / (2.0 * n * n * snr);
        }
    }
    res = 2 * found < SW_ROUNDS ? INFINITY : 10 * log10(err / flo);
out:
    genie_destroy(gn);
    phy_ota_rx_destroy(rx);
    free(d.payload);
    return res;
}

typedef struct sweep {
    const char *name; /* row of docs/impairments.md */
    void (*set)(phy_impair_cfg *c, double v);
    double v[8]; /* increasing values */
    double doc;  /* the crossing written in docs/impairments.md */
} sweep;

static void s_ppm(phy_impair_cfg *c, double v)
{
    c->ppm_spread = (float)v;
}
static void s_lw(phy_impair_cfg *c, double v)
{
    c->linewidth_hz = (float)v;
}
static void s_jit(phy_impair_cfg *c, double v)
{
    c->jitter_deg = (float)v;
}
static void s_ph(phy_impair_cfg *c, double v)
{
    c->tx_phase_spread_deg = (float)v;
}
static void s_gain(phy_impair_cfg *c, double v)
{
    c->tx_gain_spread_db = (float)v;
}
static void s_rip(phy_impair_cfg *c, double v)
{
    c->ripple_db = (float)v;
}
static void s_del(phy_impair_cfg *c, double v)
{
    c->tx_delay_spread = (float)v;
}
static void s_iqa(phy_impair_cfg *c, double v)
{
    c->iq_amp_db = (float)v;
}
static void s_iqp(phy_impair_cfg *c, double v)
{
    c->iq_phase_deg = (float)v;
}
static void s_dc(phy_impair_cfg *c, double v)
{
    c->dc_dbc = (float)v;
}
static void s_intf(phy_impair_cfg *c, double v)
{
    c->intf_dbc = (float)v;
    c->intf_freq = 0.1f; /* inside the used band */
}
static void s_adc_hi(phy_impair_cfg *c, double v)
{
    c->adc_bits = 12;
    c->adc_backoff_db = (float)v;
}
#define s_adc_lo s_adc_hi /* the same knob, swept downwards */

/* The crossing of 2 dB: linear in the excess between the two grid points around it, in log10(v)
 * when both are > 0 (else linear in v). NAN if the excess never crosses 2 dB on the grid. */
static double crossing(const double *v, const double *e, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        if (e[i] < 2.0 || e[i - 1] >= 2.0)
            continue;
        double a = e[i - 1], b = isinf(e[i]) ? 40.0 : e[i], t = (2.0 - a) / (b - a);
        if (v[i - 1] > 0)
            return pow(10.0, log10(v[i - 1]) + t * (log10(v[i]) - log10(v[i - 1])));
        return v[i - 1] + t * (v[i] - v[i - 1]);
    }
    return NAN;
}

/* Today's margins; docs/impairments.md quotes the `doc` column (measured with SW_ROUNDS rounds,
 * seed 1). */
static const sweep SWEEPS[] = {
    {"oscillator offset, ppm (+-, every radio)",
     s_ppm,
     {0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05},
     0.0020},
    {"Wiener linewidth, Hz (every radio)", s_lw, {0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30}, 0.033},
    {"white phase jitter, deg rms (every LO)", s_jit, {0.5, 1, 2, 3, 5, 8, 12, 20}, 0.67},
    {"TX chain phase, deg (+-)", s_ph, {0.5, 1, 2, 3, 5, 8, 12, 20}, 2.4},
    {"TX chain gain, dB (+-)", s_gain, {0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8}, 0.28},
    {"chain ripple, dB p-p", s_rip, {0.05, 0.1, 0.2, 0.5, 1, 2, 4, 6}, 0.58},
    {"turnaround timing, samples (+-)",
     s_del,
     {0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5},
     0.034},
    /* NAN: the receiver's image correction (docs/air-interface.md §5.2) leaves every point within
     * 0.3 dB of ideal radios (measured +0.4..+0.5 up to 3 dB, the model's limit; before it the
     * crossing was 0.24 dB); phase: 1.7 deg before it, measured 15.2 now */
    {"RX IQ amplitude, dB", s_iqa, {0.05, 0.1, 0.2, 0.5, 1, 1.5, 2, 3}, NAN},
    {"RX IQ phase, deg", s_iqp, {0.25, 0.5, 1, 2, 4, 8, 12, 20}, 15.2},
    /* NAN: no crossing, every point within 0.3 dB of ideal radios (the receiver's DC tracker,
     * phy/sync; measured +0.4 at every point, ideal +0.35; before it the crossing was -18.6) */
    {"RX DC, dBc", s_dc, {-60, -50, -40, -30, -20, -10, -5, 0}, NAN},
    {"interferer at 0.1 fs, dBc", s_intf, {-60, -50, -40, -30, -20, -10, 0, 10}, -39.5},
    {"ADC 12 bit: back-off (SQNR side), dB", s_adc_hi, {20, 30, 35, 40, 45, 50, 55, 60}, 36.3},
    /* the receiver declips the preamble and the data symbols (§5.2): 10.6 before, 5.29 now */
    {"ADC 12 bit: back-off (clipping side), dB", s_adc_lo, {12, 11, 10, 9, 8, 6, 4, 2}, 5.3},
};

AM_TEST(margins, slow)
{
    const unsigned ns = sizeof SWEEPS / sizeof SWEEPS[0];
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    double base = excess_db(&c, 1);
    AM_CHECK(base < 0.8, "ideal radios: excess %.2f dB", base); /* measured +0.35 dB */
    if (verbose())
        printf("ideal radios: excess %+.2f dB over the §5 floor\n", base);
    for (unsigned s = 0; s < ns; s++) {
        const sweep *w = &SWEEPS[s];
        double e[8];
        const unsigned n = 8;
        if (verbose())
            printf("%-42s", w->name);
        for (unsigned i = 0; i < n; i++) {
            phy_impair_cfg_default(&c);
            w->set(&c, w->v[i]);
            e[i] = excess_db(&c, 1);
            if (verbose())
                printf(" %g:%+.1f", w->v[i], e[i]);
            fflush(stdout);
        }
        double x = crossing(w->v, e, n);
        if (verbose())
            printf("  -> 2 dB at %.3g\n", x);
        if (isnan(w->doc)) { /* the receiver removes it: no margin to quote */
            for (unsigned i = 0; i < n; i++)
                AM_CHECK(e[i] - base < 0.3, "%s: %g costs %+.2f dB over ideal radios", w->name,
                         w->v[i], e[i] - base);
            continue;
        }
        AM_CHECK(isfinite(x), "%s: no 2 dB crossing on the grid", w->name);
        /* within a factor 1.5 of the docs' value; rows in dB (DC, interferer, ADC) within 1 dB */
        if (!strstr(w->name, "dBc") && !strstr(w->name, "ADC"))
            AM_CHECK(x / w->doc < 1.5 && w->doc / x < 1.5, "%s: crossing %.3g, docs say %.3g",
                     w->name, x, w->doc);
        else
            AM_CHECK(fabs(x - w->doc) < 1.0, "%s: crossing %.3g, docs say %.3g", w->name, x,
                     w->doc);
    }
}

/* The profiles as they are today (genie agents know the propagation channel, not the radios; no
 * tracking, no calibration): far above the floor. Issue 10 section 3 brings them within 2 / 3 dB;
 * these bounds then move. */
AM_TEST(profiles_as_is, slow)
{
    const char *names[] = {"ideal", "b210-shared-ref", "b210-free"};
    double lo[] = {-1, 20, 20}, hi[] = {0.8, INFINITY, INFINITY};
    for (unsigned i = 0; i < 3; i++) {
        phy_impair_cfg c;
        c.seed = 1;
        AM_REQUIRE(phy_impair_profile(names[i], &c) == AM_OK, "profile");
        double x = excess_db(&c, 1);
        if (verbose())
            printf("profile %-16s excess %+.2f dB\n", names[i], x);
        AM_CHECK(x >= lo[i] && x <= hi[i], "%s: excess %.2f dB", names[i], x);
        if (i == 0)
            continue;
        /* what is left once every radio's phase is known (LO and chain phases off), and once its
         * complex gain is too (chain gains off as well): what calibration (section 3) can reach */
        c.lo_phase = 0;
        c.tx_phase_spread_deg = c.rx_phase_spread_deg = 0;
        double xp = excess_db(&c, 1);
        c.tx_gain_spread_db = c.rx_gain_spread_db = 0;
        double xg = excess_db(&c, 1);
        if (verbose())
            printf("  without LO and chain phases %+.2f dB, and without chain gains %+.2f dB\n",
                   xp, xg);
        AM_CHECK(xg <= xp + 0.5, "%s: removing gains cannot cost (%.2f, %.2f dB)", names[i], xg,
                 xp);
    }
}
