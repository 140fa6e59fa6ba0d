/* phy/chan: channel emulator (AIR_INTERFACE §5 uplink, §6 downlink). See phy/chan.h for the model.
 *
 * Multipath: liquid-dsp firfilt_cccf per agent (coefficients recreated at each draw).
 * CFO rotation: a double-precision phasor re-anchored every CHAN_BLOCK samples. liquid 1.5's
 * nco_crcf was measured at ~3e-3 amplitude error (table sine, both NCO and VCO types), i.e. an
 * impairment at -50 dB that the emulator would add on its own; this rotation is exact to ~1e-7.
 * Randomness: am_rng only, one stream per agent (seed, 2 + k) and one for noise (seed, 1). */
#include "phy/chan.h"

#include <float.h>
#include <liquid/liquid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

#define CHAN_BLOCK 256u /* samples per filtering / rotation block (scratch size) */
#define CHAN_MAX_AGENTS 65536u
#define CHAN_MAX_TIMING 1000000u
#define CHAN_MAX_LEN ((size_t)1 << 34) /* 16 Gi samples: larger requests are certainly bugs */

struct phy_chan {
    phy_chan_cfg cfg;
    unsigned char *sctype; /* own copy (M values) */
    unsigned m_used;
    float s2;        /* noise variance per time sample */
    float *pdp;      /* n_taps */
    float complex *taps; /* K x n_taps, carrier phase included */
    unsigned *delay; /* K */
    float *eps;      /* K, per-agent CFO (without common) */
    am_rng *agent_rng; /* K */
    am_rng noise_rng;
    firfilt_cccf *fir; /* K */
    float complex *scratch; /* CHAN_BLOCK */
};

void phy_chan_cfg_default(phy_chan_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_agents = 1;
    cfg->nfft = 256;
    cfg->cp_len = 32;
    cfg->sctype = NULL;
    cfg->n_taps = 1;
    cfg->delay_spread = 1.0f;
    cfg->max_timing_offset = 0;
    cfg->max_cfo = 0.0f;
    cfg->common_cfo = 0.0f;
    cfg->random_phase = 1;
    cfg->snr_db = INFINITY;
    cfg->rho = 1.0f;
    cfg->seed = 1;
}

/* rms delay spread of P_l ~ exp(-beta l), l = 0..n-1 */
static double pdp_rms(double beta, unsigned n)
{
    double s0 = 0, s1 = 0, s2 = 0;
    for (unsigned l = 0; l < n; l++) {
        double p = exp(-beta * l);
        s0 += p;
        s1 += p * l;
        s2 += p * l * l;
    }
    double m = s1 / s0, v = s2 / s0 - m * m;
    return v > 0 ? sqrt(v) : 0.0;
}

/* Exponential profile with the requested rms delay spread (bisection: rms decreases in beta). */
static void pdp_solve(float *P, unsigned n, double rms)
{
    double beta = 0;
    if (n > 1) {
        double lo = 0, hi = 100;
        for (int it = 0; it < 200; it++) {
            double mid = 0.5 * (lo + hi);
            if (pdp_rms(mid, n) > rms)
                lo = mid;
            else
                hi = mid;
        }
        beta = 0.5 * (lo + hi);
    }
    double s = 0;
    for (unsigned l = 0; l < n; l++)
        s += exp(-beta * l);
    for (unsigned l = 0; l < n; l++)
        P[l] = (float)(exp(-beta * l) / s);
}

static am_status validate(const phy_chan_cfg *c)
{
    if (c->n_agents < 1 || c->n_agents > CHAN_MAX_AGENTS)
        return AM_FAIL(AM_EINVAL, "phy_chan: n_agents: %u is outside 1..%u", c->n_agents,
                       CHAN_MAX_AGENTS);
    if (c->nfft < 64 || c->nfft > 4096 || (c->nfft & 1u))
        return AM_FAIL(AM_EINVAL, "phy_chan: nfft: %u is not an even number in 64..4096 (§1)",
                       c->nfft);
    if (c->cp_len < 1 || c->cp_len > c->nfft / 2)
        return AM_FAIL(AM_EINVAL, "phy_chan: cp_len: %u is outside 1..%u (§1)", c->cp_len,
                       c->nfft / 2);
    if (c->sctype) {
        unsigned used = 0;
        for (unsigned i = 0; i < c->nfft; i++) {
            if (c->sctype[i] > OFDMFRAME_SCTYPE_DATA)
                return AM_FAIL(AM_EINVAL, "phy_chan: sctype[%u]: %u is not 0, 1 or 2", i,
                               (unsigned)c->sctype[i]);
            used += c->sctype[i] != OFDMFRAME_SCTYPE_NULL;
        }
        if (used == 0)
            return AM_FAIL(AM_EINVAL, "phy_chan: sctype: no pilot or data bin");
    }
    if (c->n_taps < 1 || c->n_taps > c->nfft)
        return AM_FAIL(AM_EINVAL, "phy_chan: n_taps: %u is outside 1..nfft (%u)", c->n_taps,
                       c->nfft);
    if (!isfinite(c->delay_spread))
        return AM_FAIL(AM_EINVAL, "phy_chan: delay_spread is not finite");
    if (c->n_taps > 1) {
        double umax = sqrt(((double)c->n_taps * c->n_taps - 1.0) / 12.0);
        if (!(c->delay_spread > 0) || (double)c->delay_spread >= umax)
            return AM_FAIL(AM_EINVAL,
                           "phy_chan: delay_spread: %g samples is not in (0, %.4g), the range "
                           "of an exponential profile over %u taps",
                           (double)c->delay_spread, umax, c->n_taps);
    }
    if (c->max_timing_offset > CHAN_MAX_TIMING)
        return AM_FAIL(AM_EINVAL, "phy_chan: max_timing_offset: %u is above %u",
                       c->max_timing_offset, CHAN_MAX_TIMING);
    float half = 0.5f * (float)c->nfft;
    if (!isfinite(c->max_cfo) || c->max_cfo < 0 || c->max_cfo > half)
        return AM_FAIL(AM_EINVAL, "phy_chan: max_cfo: %g is not in 0..%g subcarrier spacings",
                       (double)c->max_cfo, (double)half);
    if (!isfinite(c->common_cfo) || fabsf(c->common_cfo) + c->max_cfo > half)
        return AM_FAIL(AM_EINVAL,
                       "phy_chan: common_cfo: |%g| + max_cfo %g exceeds %g subcarrier spacings",
                       (double)c->common_cfo, (double)c->max_cfo, (double)half);
    if (isnan(c->snr_db) || c->snr_db < -100.0f || (isfinite(c->snr_db) && c->snr_db > 300.0f))
        return AM_FAIL(AM_EINVAL, "phy_chan: snr_db: %g is not in -100..300 dB or +INFINITY",
                       (double)c->snr_db);
    if (!isfinite(c->rho) || !(c->rho > 0))
        return AM_FAIL(AM_EINVAL, "phy_chan: rho: %g is not a positive number", (double)c->rho);
    return AM_OK;
}

static float noise_var(const phy_chan_cfg *c, unsigned m_used)
{
    if (isinf(c->snr_db))
        return 0.0f;
    /* §5: N0 = s2 M_used / M and SNR = rho / N0 */
    return (float)((double)c->rho * c->nfft / ((double)m_used * pow(10.0, c->snr_db / 10.0)));
}

static void seed_all(phy_chan *q)
{
    am_rng_seed2(&q->noise_rng, q->cfg.seed, 1);
    for (unsigned k = 0; k < q->cfg.n_agents; k++)
        am_rng_seed2(&q->agent_rng[k], q->cfg.seed, 2 + (uint64_t)k);
}

am_status phy_chan_create(const phy_chan_cfg *cfg, phy_chan **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "phy_chan_create: out is NULL");
    *out = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "phy_chan_create: cfg is NULL");
    am_status s = validate(cfg);
    if (s != AM_OK)
        return s;
    phy_chan *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "phy_chan_create: out of memory");
    q->cfg = *cfg;
    q->cfg.sctype = NULL; /* no caller pointer kept */
    unsigned K = cfg->n_agents, L = cfg->n_taps, M = cfg->nfft;
    q->sctype = malloc(M);
    q->pdp = malloc(L * sizeof *q->pdp);
    q->taps = calloc((size_t)K * L, sizeof *q->taps);
    q->delay = calloc(K, sizeof *q->delay);
    q->eps = calloc(K, sizeof *q->eps);
    q->agent_rng = calloc(K, sizeof *q->agent_rng);
    q->fir = calloc(K, sizeof *q->fir);
    q->scratch = malloc(CHAN_BLOCK * sizeof *q->scratch);
    if (!q->sctype || !q->pdp || !q->taps || !q->delay || !q->eps || !q->agent_rng || !q->fir ||
        !q->scratch) {
        phy_chan_destroy(q);
        return AM_FAIL(AM_ENOMEM, "phy_chan_create: out of memory (K = %u)", K);
    }
    if (cfg->sctype)
        memcpy(q->sctype, cfg->sctype, M);
    else
        ofdmframe_init_default_sctype(M, q->sctype);
    q->m_used = 0;
    for (unsigned i = 0; i < M; i++)
        q->m_used += q->sctype[i] != OFDMFRAME_SCTYPE_NULL;
    q->s2 = noise_var(&q->cfg, q->m_used);
    pdp_solve(q->pdp, L, cfg->delay_spread);
    for (unsigned k = 0; k < K; k++) {
        float complex one[1] = {1.0f};
        q->fir[k] = firfilt_cccf_create(one, 1);
        if (!q->fir[k]) {
            phy_chan_destroy(q);
            return AM_FAIL(AM_ENOMEM, "phy_chan_create: firfilt_cccf_create failed");
        }
    }
    seed_all(q);
    s = phy_chan_draw(q);
    if (s != AM_OK) {
        phy_chan_destroy(q);
        return s;
    }
    *out = q;
    return AM_OK;
}

void phy_chan_destroy(phy_chan *q)
{
    if (!q)
        return;
    if (q->fir)
        for (unsigned k = 0; k < q->cfg.n_agents; k++)
            if (q->fir[k])
                firfilt_cccf_destroy(q->fir[k]);
    free(q->fir);
    free(q->sctype);
    free(q->pdp);
    free(q->taps);
    free(q->delay);
    free(q->eps);
    free(q->agent_rng);
    free(q->scratch);
    free(q);
}

void phy_chan_reset(phy_chan *q)
{
    if (!q)
        return;
    seed_all(q);
    (void)phy_chan_draw(q); /* cannot fail on an object that was created */
}

void phy_chan_reseed(phy_chan *q, uint64_t seed)
{
    if (!q)
        return;
    q->cfg.seed = seed;
    seed_all(q);
}

am_status phy_chan_draw(phy_chan *q)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "phy_chan_draw: q is NULL");
    const phy_chan_cfg *c = &q->cfg;
    unsigned L = c->n_taps;
    for (unsigned k = 0; k < c->n_agents; k++) {
        am_rng *r = &q->agent_rng[k];
        float complex *a = q->taps + (size_t)k * L;
        /* Always the same draws in the same order, so enabling an impairment (CFO, delay, phase)
         * does not change the other quantities of a realisation. */
        for (unsigned l = 0; l < L; l++)
            a[l] = sqrtf(q->pdp[l]) * am_rng_cnormal(r);
        unsigned d = am_rng_below(r, c->max_timing_offset + 1u);
        double u_cfo = am_rng_uniform(r);
        double u_phase = am_rng_uniform(r);
        q->delay[k] = d;
        q->eps[k] = (float)((2.0 * u_cfo - 1.0) * c->max_cfo);
        if (c->random_phase) {
            float complex rot = (float complex)cexp(I * 2.0 * M_PI * u_phase);
            for (unsigned l = 0; l < L; l++)
                a[l] *= rot;
        }
        firfilt_cccf f = firfilt_cccf_recreate(q->fir[k], a, L);
        if (!f)
            return AM_FAIL(AM_ENOMEM, "phy_chan_draw: firfilt_cccf_recreate failed");
        q->fir[k] = f;
    }
    return AM_OK;
}

am_status phy_chan_set_snr(phy_chan *q, float snr_db)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "phy_chan_set_snr: q is NULL");
    phy_chan_cfg c = q->cfg;
    c.snr_db = snr_db;
    am_status s = validate(&c);
    if (s != AM_OK)
        return s;
    q->cfg.snr_db = snr_db;
    q->s2 = noise_var(&q->cfg, q->m_used);
    return AM_OK;
}

am_status phy_chan_response(const phy_chan *q, unsigned k, float complex *H)
{
    if (!q || !H)
        return AM_FAIL(AM_EINVAL, "phy_chan_response: NULL argument");
    if (k >= q->cfg.n_agents)
        return AM_FAIL(AM_EINVAL, "phy_chan_response: agent %u of %u", k, q->cfg.n_agents);
    unsigned M = q->cfg.nfft, L = q->cfg.n_taps;
    const float complex *a = q->taps + (size_t)k * L;
    for (unsigned i = 0; i < M; i++) {
        double complex h = 0;
        for (unsigned l = 0; l < L; l++) {
            /* reduce the index first so the angle stays small and exact */
            unsigned long long m = ((unsigned long long)i * (q->delay[k] + l)) % M;
            h += (double complex)a[l] * cexp(-I * 2.0 * M_PI * (double)m / M);
        }
        H[i] = (float complex)h;
    }
    return AM_OK;
}

am_status phy_chan_taps(const phy_chan *q, unsigned k, float complex *taps, unsigned *delay)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "phy_chan_taps: q is NULL");
    if (k >= q->cfg.n_agents)
        return AM_FAIL(AM_EINVAL, "phy_chan_taps: agent %u of %u", k, q->cfg.n_agents);
    if (taps)
        memcpy(taps, q->taps + (size_t)k * q->cfg.n_taps, q->cfg.n_taps * sizeof *taps);
    if (delay)
        *delay = q->delay[k];
    return AM_OK;
}

void phy_chan_pdp(const phy_chan *q, float *P)
{
    if (q && P)
        memcpy(P, q->pdp, q->cfg.n_taps * sizeof *P);
}

float phy_chan_noise_var(const phy_chan *q)
{
    return q ? q->s2 : 0.0f;
}

float phy_chan_agent_cfo(const phy_chan *q, unsigned k)
{
    if (!q || k >= q->cfg.n_agents)
        return 0.0f;
    return q->eps[k] + q->cfg.common_cfo;
}

unsigned phy_chan_n_used(const phy_chan *q)
{
    return q ? q->m_used : 0;
}

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

size_t phy_chan_out_len(const phy_chan *q, size_t burst_len, size_t lead, size_t tail)
{
    if (!q)
        return 0;
    size_t n = sat_add(lead, burst_len);
    n = sat_add(n, (size_t)q->cfg.max_timing_offset + q->cfg.n_taps - 1);
    return sat_add(n, tail);
}

static void fill_noise(phy_chan *q, float complex *y, size_t n)
{
    if (q->s2 == 0.0f) {
        memset(y, 0, n * sizeof *y);
        return;
    }
    float sd = sqrtf(q->s2);
    for (size_t t = 0; t < n; t++)
        y[t] = sd * am_rng_cnormal(&q->noise_rng);
}

/* y[t0 + n] += e^{j 2 pi f (t0 + n)} (fir_k * x)[n], n = 0 .. nx + n_taps - 2, where y points at
 * output sample t0 and f is the offset in cycles per sample. */
static void add_agent(phy_chan *q, unsigned k, const float complex *x, size_t nx, float complex *y,
                      size_t t0, double f)
{
    firfilt_cccf fir = q->fir[k];
    firfilt_cccf_reset(fir);
    size_t ntot = nx + q->cfg.n_taps - 1;
    double complex w = cexp(I * 2.0 * M_PI * f);
    for (size_t pos = 0; pos < ntot; pos += CHAN_BLOCK) {
        size_t m = ntot - pos < CHAN_BLOCK ? ntot - pos : CHAN_BLOCK;
        size_t from_x = pos < nx ? (nx - pos < m ? nx - pos : m) : 0;
        if (from_x)
            memcpy(q->scratch, x + pos, from_x * sizeof *x);
        memset(q->scratch + from_x, 0, (m - from_x) * sizeof *x);
        firfilt_cccf_execute_block(fir, q->scratch, (unsigned)m, q->scratch);
        if (f == 0.0) {
            for (size_t j = 0; j < m; j++)
                y[pos + j] += q->scratch[j];
            continue;
        }
        /* anchor the phasor exactly at the block start: phase = 2 pi frac(f t) */
        double ft = f * (double)(t0 + pos);
        double complex z = cexp(I * 2.0 * M_PI * (ft - floor(ft)));
        for (size_t j = 0; j < m; j++) {
            y[pos + j] += (float complex)(z * (double complex)q->scratch[j]);
            z *= w;
        }
    }
}

static am_status check_io(const phy_chan *q, const char *what, size_t n, size_t lead, size_t tail,
                          const float complex *y, size_t cap, const size_t *ny, size_t *need)
{
    if (!q || !y || !ny)
        return AM_FAIL(AM_EINVAL, "%s: NULL argument", what);
    *need = phy_chan_out_len(q, n, lead, tail);
    if (*need > CHAN_MAX_LEN)
        return AM_FAIL(AM_EINVAL, "%s: output of %zu samples is absurd (burst %zu, lead %zu, "
                                  "tail %zu)", what, *need, n, lead, tail);
    if (cap < *need)
        return AM_FAIL(AM_EINVAL, "%s: output capacity %zu < %zu samples needed", what, cap,
                       *need);
    return AM_OK;
}

am_status phy_chan_execute(phy_chan *q,
                           const float complex *const *tx,
                           size_t burst_len,
                           size_t lead,
                           size_t tail,
                           float complex *y,
                           size_t cap,
                           size_t *ny)
{
    size_t need = 0;
    am_status s = check_io(q, "phy_chan_execute", burst_len, lead, tail, y, cap, ny, &need);
    if (s != AM_OK)
        return s;
    if (!tx)
        return AM_FAIL(AM_EINVAL, "phy_chan_execute: tx is NULL (pass an array of K pointers)");
    fill_noise(q, y, need);
    for (unsigned k = 0; k < q->cfg.n_agents; k++) {
        if (!tx[k] || burst_len == 0)
            continue;
        size_t t0 = lead + q->delay[k];
        double f = ((double)q->eps[k] + q->cfg.common_cfo) / q->cfg.nfft; /* AIR_INTERFACE §5 */
        add_agent(q, k, tx[k], burst_len, y + t0, t0, f);
    }
    *ny = need;
    return AM_OK;
}

am_status phy_chan_downlink(phy_chan *q,
                            unsigned k,
                            const float complex *x,
                            size_t n,
                            size_t lead,
                            size_t tail,
                            float complex *y,
                            size_t cap,
                            size_t *ny)
{
    size_t need = 0;
    am_status s = check_io(q, "phy_chan_downlink", n, lead, tail, y, cap, ny, &need);
    if (s != AM_OK)
        return s;
    if (k >= q->cfg.n_agents)
        return AM_FAIL(AM_EINVAL, "phy_chan_downlink: agent %u of %u", k, q->cfg.n_agents);
    if (!x && n > 0)
        return AM_FAIL(AM_EINVAL, "phy_chan_downlink: x is NULL");
    fill_noise(q, y, need);
    if (n > 0) {
        size_t t0 = lead + q->delay[k];
        /* §6: the agent sees the server's oscillator, the opposite offset of the uplink */
        double f = -((double)q->eps[k] + q->cfg.common_cfo) / q->cfg.nfft;
        add_agent(q, k, x, n, y + t0, t0, f);
    }
    *ny = need;
    return AM_OK;
}
