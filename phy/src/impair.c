/* phy/impair: one radio's TX and RX impairments (see phy/impair.h for the model and the profiles).
 *
 * Interpolation: a Kaiser-windowed sinc designed by liquid_firdes_kaiser at PHY_IMPAIR_P phases per
 * sample, with the chain's complex gain and 3-tap ripple folded into its coefficients (one
 * coefficient set per phase 0..P, so that the phase P of a window needs no sample beyond it),
 * liquid windowcf for the input history and dotprod_cccf for the products. The read position of
 * output k is t_k = k a + b in double precision (a = 1 + delta on TX, 1 / (1 + delta) on RX), so a
 * ppm-level clock offset is exact; liquid's resamp_crcf keeps its rate in a float.
 * Randomness: am_rng streams (seed, 0) hardware, (seed, 1) LO phases, (seed, 2 + dir) noise. */
#include "phy/impair.h"

#include <float.h>
#include <liquid/liquid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "util.h"

#define IMP_N (2u * PHY_IMPAIR_M + 2u) /* window length: kernel support (-M-1, M+1] */
#define IMP_AS 60.0f                   /* prototype stop-band attenuation, dB */

typedef struct imp_dir {
    int interp;          /* interpolating (clock offset, delay or ripple) */
    double a, b;         /* read position of output k: k a + b (input samples) */
    double b0;           /* b at a start without a fractional offset (phy_impair_start_frac) */
    double f;            /* carrier offset, cycles per sample (signed for this direction) */
    float phi;           /* LO phase */
    float complex g;     /* chain gain (applied here when not interpolating) */
    float complex *coef; /* (P + 1) x IMP_N: phase b, window index i (oldest first) */
    dotprod_cccf *dp;    /* P + 1: liquid's (SIMD) dot product of each phase's coefficients */
    windowcf win;
    am_rng noise;
    double theta;       /* the radio's Wiener phase as this direction runs */
    double theta0;      /* its value at this direction's last start, at tick n0 (a replay) */
    int started;        /* theta0 and n0 hold a start of this time line */
    double intf_phase;  /* interferer start phase (RX) */
    uint64_t nin, nout; /* inputs consumed / outputs made since start */
    uint64_t n0;        /* the LO's index of sample 0 (phy_impair_start_at) */
} imp_dir;

struct phy_impair {
    phy_impair_cfg cfg;
    int ideal;
    am_rng hw, lo;
    phy_impair_state st;
    double pn_sd, jit_sd; /* phase-noise increment and jitter std, rad */
    float complex mu, nu; /* IQ imbalance */
    float p_ref;
    /* the radio's one Wiener phase (its reference's noise, common to TX and RX LO): its value
     * w_theta at tick w_tick, the last sample either direction turned (w_have: since the last
     * phy_impair_reseed, the time line's start) */
    double w_theta;
    uint64_t w_tick;
    int w_have;
    float complex dc;      /* at p_ref */
    float intf_amp;        /* at p_ref */
    float adc_a, adc_step; /* clip level per rail and step, at p_ref */
    imp_dir d[2];
};

void phy_impair_cfg_default(phy_impair_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->fs_hz = 1e6;
    cfg->fc_hz = 915e6;
    cfg->dc_dbc = -INFINITY;
    cfg->intf_dbc = -INFINITY;
    cfg->seed = 1;
}

/* docs/air-interface.md §11 and docs/impairments.md: the values and their sources */
static void profile_b210(phy_impair_cfg *c)
{
    c->linewidth_hz = 0.0f;      /* shared reference: its noise turns every radio's LOs alike */
    c->jitter_deg = 0.26f;       /* B2x0 RF spec 1.0 deg rms at 3.5 GHz, scaled to 915 MHz */
    c->lo_phase = 1;             /* AD9361: random LO phase after every tune */
    c->tx_gain_spread_db = 1.0f; /* assumption (no unit-to-unit figure) */
    c->rx_gain_spread_db = 1.0f;
    c->tx_phase_spread_deg = 180.0f;
    c->rx_phase_spread_deg = 180.0f;
    c->ripple_db = 0.5f;        /* assumption (AD9361 analog + FIR filters) */
    c->tx_delay_spread = 0.05f; /* PPS: tens of ns at 1 MS/s */
    c->iq_amp_db = 0.2f;        /* with 1.5 deg: image rejection 35 dB (B2x0 SSB -35 dBc) */
    c->iq_phase_deg = 1.5f;
    c->dc_dbc = -50.0f; /* B2x0 LO suppression 50 dBc */
    c->adc_bits = 12;   /* AD9361 */
    c->adc_backoff_db = 10.0f;
}

am_status phy_impair_profile(const char *name, phy_impair_cfg *cfg)
{
    if (!name || !cfg)
        return AM_FAIL(AM_EINVAL, "phy_impair_profile: NULL argument");
    uint64_t seed = cfg->seed;
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    if (strcmp(name, "ideal") == 0) {
    } else if (strcmp(name, "b210-shared-ref") == 0) {
        profile_b210(&c); /* 10 MHz + PPS shared: no frequency offset, common reference noise */
    } else if (strcmp(name, "b210-free") == 0) {
        profile_b210(&c);
        c.ppm_spread = 2.0f;      /* B210 TCXO +-2 ppm */
        c.linewidth_hz = 0.017f;  /* TCXO -65 dBc/Hz at 1 Hz (10 MHz) + 39 dB to 915 MHz */
        c.tx_delay_spread = 0.2f; /* no PPS: time from the beacon */
    } else
        return AM_FAIL(AM_EINVAL, "impairment profile '%s' is not one of: %s", name,
                       phy_impair_profile_names());
    c.seed = seed;
    *cfg = c;
    return AM_OK;
}

const char *phy_impair_profile_names(void)
{
    return "ideal, b210-shared-ref, b210-free";
}

int phy_impair_cfg_is_ideal(const phy_impair_cfg *c)
{
    return c->ppm == 0 && c->ppm_spread == 0 && c->linewidth_hz == 0 && c->jitter_deg == 0 &&
           !c->lo_phase && c->tx_gain_db == 0 && c->tx_gain_spread_db == 0 &&
           c->tx_phase_deg == 0 && c->tx_phase_spread_deg == 0 && c->rx_gain_db == 0 &&
           c->rx_gain_spread_db == 0 && c->rx_phase_deg == 0 && c->rx_phase_spread_deg == 0 &&
           c->ripple_db == 0 && c->tx_delay == 0 && c->tx_delay_spread == 0 && c->iq_amp_db == 0 &&
           c->iq_phase_deg == 0 && isinf(c->dc_dbc) && c->adc_bits == 0 && isinf(c->intf_dbc);
}

#define CHECK_RANGE(field, lo, hi)                                                                 \
    do {                                                                                           \
        if (!isfinite((double)c->field) || (double)c->field < (lo) || (double)c->field > (hi))     \
            return AM_FAIL(AM_EINVAL, "phy_impair: " #field ": %g is not in [%g, %g]",             \
                           (double)c->field, (double)(lo), (double)(hi));                          \
    } while (0)

static am_status validate(const phy_impair_cfg *c)
{
    if (!isfinite(c->fs_hz) || !(c->fs_hz > 0) || c->fs_hz > 1e10)
        return AM_FAIL(AM_EINVAL, "phy_impair: fs_hz: %g is not in (0, 1e10]", c->fs_hz);
    CHECK_RANGE(fc_hz, 0.0, 1e11);
    CHECK_RANGE(ppm, -100.0, 100.0);
    CHECK_RANGE(ppm_spread, 0.0, 100.0);
    if (fabs((double)c->ppm) + c->ppm_spread > 100.0)
        return AM_FAIL(AM_EINVAL, "phy_impair: |ppm| %g + ppm_spread %g exceeds 100",
                       (double)c->ppm, (double)c->ppm_spread);
    CHECK_RANGE(linewidth_hz, 0.0, 0.1 * c->fs_hz);
    CHECK_RANGE(jitter_deg, 0.0, 30.0);
    CHECK_RANGE(tx_gain_db, -40.0, 40.0);
    CHECK_RANGE(tx_gain_spread_db, 0.0, 20.0);
    CHECK_RANGE(tx_phase_deg, -360.0, 360.0);
    CHECK_RANGE(tx_phase_spread_deg, 0.0, 180.0);
    CHECK_RANGE(rx_gain_db, -40.0, 40.0);
    CHECK_RANGE(rx_gain_spread_db, 0.0, 20.0);
    CHECK_RANGE(rx_phase_deg, -360.0, 360.0);
    CHECK_RANGE(rx_phase_spread_deg, 0.0, 180.0);
    CHECK_RANGE(ripple_db, 0.0, 6.0);
    CHECK_RANGE(tx_delay, -0.5, 0.5);
    CHECK_RANGE(tx_delay_spread, 0.0, 0.5);
    if (fabsf(c->tx_delay) + c->tx_delay_spread > 0.5f)
        return AM_FAIL(AM_EINVAL, "phy_impair: |tx_delay| %g + tx_delay_spread %g exceeds 0.5",
                       (double)c->tx_delay, (double)c->tx_delay_spread);
    CHECK_RANGE(iq_amp_db, -3.0, 3.0);
    CHECK_RANGE(iq_phase_deg, -20.0, 20.0);
    if (isnan(c->dc_dbc) || c->dc_dbc > 0 || (isinf(c->dc_dbc) && c->dc_dbc > 0))
        return AM_FAIL(AM_EINVAL, "phy_impair: dc_dbc: %g is not <= 0 dB or -INFINITY",
                       (double)c->dc_dbc);
    if (c->adc_bits != 0 && (c->adc_bits < 4 || c->adc_bits > 16))
        return AM_FAIL(AM_EINVAL, "phy_impair: adc_bits: %u is not 0 (off) or 4..16", c->adc_bits);
    CHECK_RANGE(adc_backoff_db, -10.0, 60.0);
    if (isnan(c->intf_dbc) || c->intf_dbc > 40 || (isinf(c->intf_dbc) && c->intf_dbc > 0))
        return AM_FAIL(AM_EINVAL, "phy_impair: intf_dbc: %g is not <= 40 dB or -INFINITY",
                       (double)c->intf_dbc);
    CHECK_RANGE(intf_freq, -0.5, 0.5);
    return AM_OK;
}

/* Interpolating kernel k(tau) = g (h(tau) + e1 h(tau + 1) + e2 h(tau - 1)) tabulated for the
 * P + 1 phases: coef[b][i] = k(b / P + M - i), i = 0..IMP_N-1 (window oldest first). h is the
 * prototype on the grid tau = u / P, u in [-MP, MP], normalised to h(0) = 1 (an interpolator:
 * h(integer != 0) = 0, so phase 0 without ripple is the identity). */
static void
make_coef(float complex *coef, const float *h, float complex g, float complex e1, float complex e2)
{
    const int M = (int)PHY_IMPAIR_M, P = (int)PHY_IMPAIR_P;
    for (int b = 0; b <= P; b++)
        for (int i = 0; i < (int)IMP_N; i++) {
            int u = b + (M - i) * P; /* tau * P */
            float complex v = 0;
            if (u >= -M * P && u <= M * P)
                v += h[u + M * P];
            if (u + P >= -M * P && u + P <= M * P)
                v += e1 * h[u + P + M * P];
            if (u - P >= -M * P && u - P <= M * P)
                v += e2 * h[u - P + M * P];
            coef[(size_t)b * IMP_N + (size_t)i] = g * v;
        }
}

static double uni(am_rng *r, double c, double spread)
{
    return c + (2.0 * am_rng_uniform(r) - 1.0) * spread;
}

static void levels(phy_impair *q)
{
    const phy_impair_cfg *c = &q->cfg;
    double p = q->p_ref;
    q->dc = isinf(c->dc_dbc) ? 0.0f
                             : (float)sqrt(p * pow(10.0, c->dc_dbc / 10.0)) *
                                   q->st.dc; /* st.dc: unit-power phase */
    q->intf_amp = isinf(c->intf_dbc) ? 0.0f : (float)sqrt(p * pow(10.0, c->intf_dbc / 10.0));
    if (c->adc_bits) {
        /* the ADC sees g_rx times the wanted power plus interferer and DC (an AGC on it all) */
        double gr = (double)(crealf(q->st.g_rx) * crealf(q->st.g_rx) +
                             cimagf(q->st.g_rx) * cimagf(q->st.g_rx));
        double tot = gr * (p + (double)q->intf_amp * q->intf_amp +
                           (double)(crealf(q->dc) * crealf(q->dc) + cimagf(q->dc) * cimagf(q->dc)));
        q->adc_a = (float)sqrt(tot * pow(10.0, c->adc_backoff_db / 10.0));
        q->adc_step = 2.0f * q->adc_a / (float)(1u << c->adc_bits);
    }
}

/* Hardware draws, always the same draws in the same order (enabling one impairment does not change
 * the others). */
static void draw_hw(phy_impair *q)
{
    const phy_impair_cfg *c = &q->cfg;
    am_rng *r = &q->hw;
    am_rng_seed2(r, c->seed, 0);
    phy_impair_state *st = &q->st;
    st->ppm = uni(r, c->ppm, c->ppm_spread);
    double gt = uni(r, c->tx_gain_db, c->tx_gain_spread_db);
    double pt = uni(r, c->tx_phase_deg, c->tx_phase_spread_deg) * M_PI / 180.0;
    double gr = uni(r, c->rx_gain_db, c->rx_gain_spread_db);
    double pr = uni(r, c->rx_phase_deg, c->rx_phase_spread_deg) * M_PI / 180.0;
    st->g_tx = (float complex)(pow(10.0, gt / 20.0) * cexp(I * pt));
    st->g_rx = (float complex)(pow(10.0, gr / 20.0) * cexp(I * pr));
    /* ripple: echoes of magnitude e/2 each, |H| within 1 +- e, 20 log10((1+e)/(1-e)) = ripple */
    double rl = pow(10.0, c->ripple_db / 20.0), e = (rl - 1.0) / (rl + 1.0);
    float complex ech[4];
    for (int i = 0; i < 4; i++)
        ech[i] = (float complex)(0.5 * e * cexp(I * 2.0 * M_PI * am_rng_uniform(r)));
    st->e_tx[0] = ech[0];
    st->e_tx[1] = ech[1];
    st->e_rx[0] = ech[2];
    st->e_rx[1] = ech[3];
    st->tau = (float)uni(r, c->tx_delay, c->tx_delay_spread);
    st->dc = (float complex)cexp(I * 2.0 * M_PI * am_rng_uniform(r));
    st->cfo_hz = c->fc_hz * st->ppm * 1e-6;
}

void phy_impair_retune(phy_impair *q)
{
    if (!q)
        return;
    double a = am_rng_uniform(&q->lo), b = am_rng_uniform(&q->lo);
    q->st.phi_tx = q->cfg.lo_phase ? (float)(2.0 * M_PI * a) : 0.0f;
    q->st.phi_rx = q->cfg.lo_phase ? (float)(2.0 * M_PI * b) : 0.0f;
    q->d[PHY_IMPAIR_TX].phi = q->st.phi_tx;
    q->d[PHY_IMPAIR_RX].phi = q->st.phi_rx;
}

void phy_impair_reseed(phy_impair *q, uint64_t seed)
{
    if (!q)
        return;
    for (int d = 0; d < 2; d++)
        am_rng_seed2(&q->d[d].noise, seed, 2 + (uint64_t)d);
    phy_impair_new_timeline(q);
}

void phy_impair_new_timeline(phy_impair *q)
{
    if (!q)
        return;
    for (int d = 0; d < 2; d++)
        q->d[d].started = 0;
    q->w_theta = 0.0;
    q->w_tick = 0;
    q->w_have = 0;
}

void phy_impair_start(phy_impair *q, phy_impair_dir dir)
{
    phy_impair_start_at(q, dir, 0);
}

void phy_impair_start_at(phy_impair *q, phy_impair_dir dir, uint64_t n0)
{
    phy_impair_start_frac(q, dir, n0, 0.0);
}

void phy_impair_start_frac(phy_impair *q, phy_impair_dir dir, uint64_t n0, double frac)
{
    if (!q || (dir != PHY_IMPAIR_TX && dir != PHY_IMPAIR_RX))
        return;
    imp_dir *d = &q->d[dir];
    const uint64_t prev_n0 = d->n0;
    d->n0 = n0;
    d->b = d->b0 + (d->interp && isfinite(frac) && fabs(frac) <= 1.5 ? frac : 0.0);
    if (d->win)
        windowcf_reset(d->win);
    d->nin = d->nout = 0;
    /* The Wiener phase goes on from where either direction left it (tick w_tick), plus its
     * increment over the gap to tick n0 - 1 (sample 0 takes the step to n0). A start at or before
     * w_tick overlaps what was turned (the emulator's schedule puts the uplink on the downlink's
     * ticks without a gap, and sends one beacon through the server's TX once per agent): it goes
     * on from the latest start of either direction at or before n0 (the same phase for the same
     * tick, an increment over the ticks between), else from w_theta. 0 on a new time line. */
    d->theta = 0;
    if (q->pn_sd > 0 && q->w_have) {
        if (n0 > q->w_tick) {
            d->theta = q->w_theta;
            if (n0 > q->w_tick + 1)
                d->theta +=
                    q->pn_sd * sqrt((double)(n0 - 1 - q->w_tick)) * am_rng_normal(&d->noise);
        } else {
            const imp_dir *o = &q->d[1 - (int)dir];
            int have = 0;
            uint64_t at = 0;
            double th = q->w_theta;
            if (d->started && prev_n0 <= n0) {
                have = 1;
                at = prev_n0;
                th = d->theta0;
            }
            if (o->started && o->n0 <= n0 && (!have || o->n0 > at)) {
                have = 1;
                at = o->n0;
                th = o->theta0;
            }
            d->theta = th;
            if (have && n0 > at)
                d->theta += q->pn_sd * sqrt((double)(n0 - at)) * am_rng_normal(&d->noise);
        }
    }
    d->theta0 = d->theta;
    d->started = 1;
    d->intf_phase = 0;
    if (dir == PHY_IMPAIR_RX && !isinf(q->cfg.intf_dbc))
        d->intf_phase = 2.0 * M_PI * am_rng_uniform(&d->noise);
}

static void setup_dirs(phy_impair *q, const float *h)
{
    const phy_impair_cfg *c = &q->cfg;
    const double delta = q->st.ppm * 1e-6;
    const double f = c->fc_hz * delta / c->fs_hz;
    imp_dir *t = &q->d[PHY_IMPAIR_TX], *r = &q->d[PHY_IMPAIR_RX];
    t->a = 1.0 + delta;
    t->b = t->b0 = -(double)q->st.tau;
    t->f = f;
    t->g = q->st.g_tx;
    r->a = 1.0 / (1.0 + delta);
    r->b = r->b0 = 0.0;
    r->f = f;
    r->g = q->st.g_rx;
    t->interp = delta != 0 || q->st.tau != 0 || c->ripple_db != 0;
    r->interp = delta != 0 || c->ripple_db != 0;
    if (t->coef)
        make_coef(t->coef, h, q->st.g_tx, q->st.e_tx[0], q->st.e_tx[1]);
    if (r->coef)
        make_coef(r->coef, h, q->st.g_rx, q->st.e_rx[0], q->st.e_rx[1]);
}

void phy_impair_reset(phy_impair *q)
{
    if (!q)
        return;
    draw_hw(q);
    am_rng_seed2(&q->lo, q->cfg.seed, 1);
    phy_impair_retune(q);
    phy_impair_reseed(q, q->cfg.seed);
    q->p_ref = 1.0f;
    levels(q);
    phy_impair_start(q, PHY_IMPAIR_TX);
    phy_impair_start(q, PHY_IMPAIR_RX);
}

am_status phy_impair_create(const phy_impair_cfg *cfg, phy_impair **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "phy_impair_create: out is NULL");
    *out = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "phy_impair_create: cfg is NULL");
    am_status s = validate(cfg);
    if (s != AM_OK)
        return s;
    phy_impair *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "phy_impair_create: out of memory");
    q->cfg = *cfg;
    q->ideal = phy_impair_cfg_is_ideal(cfg);
    q->pn_sd = sqrt(2.0 * M_PI * cfg->linewidth_hz / cfg->fs_hz);
    q->jit_sd = cfg->jitter_deg * M_PI / 180.0;
    double A = pow(10.0, cfg->iq_amp_db / 20.0), ph = cfg->iq_phase_deg * M_PI / 180.0;
    q->mu = (float complex)((1.0 + A * cexp(-I * ph)) / 2.0);
    q->nu = (float complex)((1.0 - A * cexp(I * ph)) / 2.0);
    draw_hw(q);
    /* the prototype and the coefficient tables, only if some direction interpolates */
    const unsigned hl = 2u * PHY_IMPAIR_M * PHY_IMPAIR_P + 1u;
    float *h = NULL;
    int need = !q->ideal && (q->st.ppm != 0 || q->st.tau != 0 || cfg->ripple_db != 0);
    if (need) {
        h = malloc(hl * sizeof *h);
        for (int d = 0; d < 2; d++) {
            q->d[d].coef = malloc((PHY_IMPAIR_P + 1u) * IMP_N * sizeof *q->d[d].coef);
            q->d[d].win = windowcf_create(IMP_N);
        }
        if (!h || !q->d[0].coef || !q->d[1].coef || !q->d[0].win || !q->d[1].win) {
            free(h);
            phy_impair_destroy(q);
            return AM_FAIL(AM_ENOMEM, "phy_impair_create: out of memory");
        }
        liquid_firdes_kaiser(hl, 0.5f / (float)PHY_IMPAIR_P, IMP_AS, 0.0f, h);
        float c0 = h[PHY_IMPAIR_M * PHY_IMPAIR_P];
        for (unsigned i = 0; i < hl; i++)
            h[i] /= c0;
    }
    setup_dirs(q, h);
    free(h);
    for (int d = 0; need && d < 2; d++) {
        q->d[d].dp = calloc(PHY_IMPAIR_P + 1u, sizeof *q->d[d].dp);
        for (unsigned b = 0; q->d[d].dp && b <= PHY_IMPAIR_P; b++)
            if (!(q->d[d].dp[b] = dotprod_cccf_create(q->d[d].coef + (size_t)b * IMP_N, IMP_N)))
                break;
        if (!q->d[d].dp || !q->d[d].dp[PHY_IMPAIR_P]) {
            phy_impair_destroy(q);
            return AM_FAIL(AM_ENOMEM, "phy_impair_create: out of memory");
        }
    }
    phy_impair_reset(q);
    *out = q;
    return AM_OK;
}

void phy_impair_destroy(phy_impair *q)
{
    if (!q)
        return;
    for (int d = 0; d < 2; d++) {
        if (q->d[d].win)
            windowcf_destroy(q->d[d].win);
        for (unsigned b = 0; q->d[d].dp && b <= PHY_IMPAIR_P; b++)
            if (q->d[d].dp[b])
                dotprod_cccf_destroy(q->d[d].dp[b]);
        free(q->d[d].dp);
        free(q->d[d].coef);
    }
    free(q);
}

am_status phy_impair_set_rx_level(phy_impair *q, float p_ref)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "phy_impair_set_rx_level: q is NULL");
    if (!isfinite(p_ref) || !(p_ref > 0))
        return AM_FAIL(AM_EINVAL, "phy_impair_set_rx_level: %g is not a positive level",
                       (double)p_ref);
    q->p_ref = p_ref;
    levels(q);
    return AM_OK;
}

void phy_impair_get_state(const phy_impair *q, phy_impair_state *st)
{
    if (q && st)
        *st = q->st;
}

unsigned phy_impair_latency(const phy_impair *q, phy_impair_dir dir)
{
    if (!q || q->ideal || (dir != PHY_IMPAIR_TX && dir != PHY_IMPAIR_RX))
        return 0;
    return q->d[dir].interp ? PHY_IMPAIR_M + 2u : 0u;
}

size_t phy_impair_max_out(const phy_impair *q, phy_impair_dir dir, size_t n)
{
    if (!q || q->ideal || (dir != PHY_IMPAIR_TX && dir != PHY_IMPAIR_RX) || !q->d[dir].interp)
        return n;
    return (size_t)ceil((double)n / q->d[dir].a) + 2u;
}

/* LO rotation of sample n: e^{+-j (2 pi frac(f n) + phi + theta[n])} (+ TX, - RX), theta the
 * Wiener walk plus white jitter. One normal draw per enabled component per sample (chunk
 * invariant). */
static float complex lo_rot(phy_impair *q, imp_dir *d, uint64_t n)
{
    double ph = d->phi;
    if (d->f != 0) {
        double fn = d->f * (double)(n + d->n0);
        ph += 2.0 * M_PI * (fn - floor(fn));
    }
    if (q->pn_sd > 0) {
        d->theta += q->pn_sd * am_rng_normal(&d->noise);
        ph += d->theta;
        q->w_theta = d->theta;
        q->w_tick = n + d->n0;
        q->w_have = 1;
    }
    if (q->jit_sd > 0)
        ph += q->jit_sd * am_rng_normal(&d->noise);
    if (ph == 0)
        return 1.0f;
    /* ph is small (frac < 1 turn plus phases and noise): float sin/cos are accurate to ~1e-7 */
    float si, co;
    sincosf((float)ph, &si, &co);
    return CMPLXF(co, d == &q->d[PHY_IMPAIR_RX] ? -si : si);
}

static float quant1(float v, float a, float step)
{
    if (v >= a)
        v = a - 0.5f * step;
    else if (v < -a)
        v = -a;
    float k = floorf(v / step);
    float lim = a / step - 1.0f; /* top level index */
    if (k > lim)
        k = lim;
    return step * (k + 0.5f);
}

static float complex adc(const phy_impair *q, float complex v)
{
    if (!q->cfg.adc_bits)
        return v;
    return CMPLXF(quant1(crealf(v), q->adc_a, q->adc_step),
                  quant1(cimagf(v), q->adc_a, q->adc_step));
}

/* RX front end before the ADC clock: interferer, LO, IQ imbalance, DC. */
static float complex rx_front(phy_impair *q, imp_dir *d, float complex r, uint64_t n)
{
    if (q->intf_amp > 0) {
        double fn = (double)q->cfg.intf_freq * (double)n;
        double ph = 2.0 * M_PI * (fn - floor(fn)) + d->intf_phase;
        r += q->intf_amp * CMPLXF((float)cos(ph), (float)sin(ph));
    }
    float complex a = phy_cmul(r, lo_rot(q, d, n));
    float complex b = phy_cmul(q->mu, a) + phy_cmul(q->nu, conjf(a));
    return b + q->dc;
}

/* Interpolated value at the current read position from the window ending at the newest input. */
static float complex interp(const imp_dir *d, double t)
{
    double ft = floor(t);
    double fr = (t - ft) * PHY_IMPAIR_P;
    unsigned b0 = (unsigned)fr;
    if (b0 >= PHY_IMPAIR_P)
        b0 = PHY_IMPAIR_P - 1u;
    float w1 = (float)(fr - b0), w0 = 1.0f - w1;
    float complex *x = NULL;
    windowcf_read(d->win, &x);
    float complex y0, y1;
    dotprod_cccf_execute(d->dp[b0], x, &y0);
    dotprod_cccf_execute(d->dp[b0 + 1u], x, &y1);
    return w0 * y0 + w1 * y1;
}

am_status phy_impair_execute(phy_impair *q,
                             phy_impair_dir dir,
                             const float complex *x,
                             size_t n,
                             float complex *y,
                             size_t cap,
                             size_t *ny)
{
    if (!q || !ny || (n > 0 && (!x || !y)))
        return AM_FAIL(AM_EINVAL, "phy_impair_execute: NULL argument");
    if (dir != PHY_IMPAIR_TX && dir != PHY_IMPAIR_RX)
        return AM_FAIL(AM_EINVAL, "phy_impair_execute: direction %d is not TX or RX", (int)dir);
    *ny = 0;
    if (q->ideal) {
        if (cap < n)
            return AM_FAIL(AM_EINVAL, "phy_impair_execute: capacity %zu < %zu outputs", cap, n);
        if (y != x && n > 0)
            memcpy(y, x, n * sizeof *y);
        *ny = n;
        return AM_OK;
    }
    size_t bad = phy_first_nonfinite((const float *)x, 2 * n);
    if (bad < 2 * n)
        return AM_FAIL(AM_EFORMAT, "phy_impair_execute: sample %zu is not finite", bad / 2);
    imp_dir *d = &q->d[dir];
    size_t need = phy_impair_max_out(q, dir, n);
    if (cap < need)
        return AM_FAIL(AM_EINVAL, "phy_impair_execute: capacity %zu < %zu possible outputs", cap,
                       need);
    size_t k = 0;
    if (!d->interp) {
        for (size_t i = 0; i < n; i++, d->nin++) {
            if (dir == PHY_IMPAIR_TX)
                y[i] = phy_cmul(phy_cmul(d->g, x[i]), lo_rot(q, d, d->nin));
            else
                y[i] = adc(q, phy_cmul(d->g, rx_front(q, d, x[i], d->nin)));
        }
        d->nout += n;
        *ny = n;
        return AM_OK;
    }
    for (size_t i = 0; i < n; i++) {
        float complex v = dir == PHY_IMPAIR_TX ? x[i] : rx_front(q, d, x[i], d->nin);
        windowcf_push(d->win, v);
        int64_t j0 = (int64_t)d->nin; /* newest sample in the window */
        d->nin++;
        /* every output whose window ends here: floor(t) + M + 1 == j0 */
        for (;;) {
            double t = (double)d->nout * d->a + d->b;
            if ((int64_t)floor(t) + (int64_t)PHY_IMPAIR_M + 1 > j0)
                break;
            float complex u = interp(d, t);
            if (dir == PHY_IMPAIR_TX)
                y[k++] = phy_cmul(u, lo_rot(q, d, d->nout));
            else
                y[k++] = adc(q, u);
            d->nout++;
        }
    }
    *ny = k;
    return AM_OK;
}
