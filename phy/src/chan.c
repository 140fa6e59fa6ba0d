/* phy/chan: channel emulator (docs/air-interface.md §5 uplink, §6 downlink). See phy/chan.h for the
 * model.
 *
 * One call (uplink; the downlink is the same with one agent):
 *   1. y = AWGN over the whole output, one sequential stream (the polar method draws a variable
 *      number of uniforms per sample, so the stream cannot be cut into independent pieces);
 *   2. the span the agents reach is cut into blocks of CHAN_CHUNK output samples that the threads
 *      take in any order; in a block, agent after agent in index order:
 *        a. the agent's burst samples that feed the block (an array, or the source callback that
 *           generates them: phy_chan_execute_source),
 *        b. its multipath (FIR over n_taps, after the timing offset),
 *        c. its carrier offset (rotation),
 *        d. y += it.
 *      With impairing radios (cfg.impair, phy/chan_radios.h) every agent's whole burst first goes
 *      through its radio's TX on the calling thread (a radio is a stateful stream: phase noise,
 *      oscillator drift), and the blocks then read those bursts: O(K L) memory and a sequential
 *      pre-pass in that case. A radio model whose state can be had at any sample (seekable noise)
 *      could instead run in step a, per block, and keep the round at O(output).
 *      Every output sample is thus the same float sum in the same order (noise, agent 0, 1, ..)
 *      whatever the number of threads or the order of blocks: outputs are byte-identical for any
 *      cfg.threads (and to the single-threaded emulator that used liquid-dsp's firfilt_cccf, whose
 *      arithmetic the FIR below repeats: products summed from the oldest tap, see fir_pairs);
 *   3. the server's radio RX (cfg.impair) on y, after the sum and the noise (calling thread).
 * Work memory: per thread one block of input and of FIR output (O(CHAN_CHUNK + n_taps)); nothing
 * per agent beyond its taps, so a source that makes bursts on demand keeps a round at O(output).
 *
 * CFO rotation: a double-precision phasor re-anchored every CHAN_ROT samples of an agent's output
 * (anchors at fixed places, so a block that starts between two anchors steps the phasor from the
 * last one: same bits as one pass). liquid 1.5's nco_crcf was measured at ~3e-3 amplitude error
 * (table sine, both NCO and VCO types), i.e. an impairment at -50 dB that the emulator would add
 * on its own; this rotation is exact to ~1e-7.
 * Randomness: am_rng only, one stream per agent (seed, 2 + k) and one for noise (seed, 1). */
#include "phy/chan.h"

#include <float.h>
#include <liquid/liquid.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chan_radios.h"
#include "core/pool.h"
#include "core/rng.h"

#define CHAN_CHUNK 16384u /* output samples per work block (input + output stay in L2) */
/* rotation anchors every CHAN_ROT samples of an agent's output (fixed: the output's bits
 * depend on it) */
#define CHAN_ROT 256u
#define CHAN_PAR_MIN ((size_t)1 << 16) /* agent-samples below which a call stays on one thread */
#define CHAN_MAX_THREADS 64u
#define CHAN_ERR_LEN 512
#define CHAN_MAX_AGENTS 65536u
#define CHAN_MAX_TIMING 1000000u
#define CHAN_MAX_LEN ((size_t)1 << 34) /* 16 Gi samples: larger requests are certainly bugs */

struct phy_chan {
    phy_chan_cfg cfg;
    unsigned char *sctype; /* own copy (M values) */
    unsigned m_used;
    float s2;            /* noise variance per time sample */
    float *pdp;          /* n_taps */
    float complex *taps; /* K x n_taps, carrier phase included */
    unsigned *delay;     /* K */
    float *eps;          /* K, per-agent CFO (without common) */
    am_rng *agent_rng;   /* K */
    am_rng noise_rng;
    /* threads: the calling one (w[0]) and T - 1 workers, started at create */
    unsigned T;
    struct chan_worker *w;
    am_pool *pool; /* core/pool: the T threads */
    const struct chan_job *job; /* the call being run */
    atomic_size_t next;         /* next block to take */
    atomic_int failed;
    chan_radios *radios; /* NULL = ideal radios */
};

typedef float v4f __attribute__((vector_size(16))); /* GNU C vector: 2 complex values */

typedef struct chan_worker {
    phy_chan *q;
    unsigned id;
    float complex *xb; /* CHAN_CHUNK + n_taps - 1: an agent's input samples for a block */
    float complex *s;  /* CHAN_CHUNK: its FIR output (rotated path) */
    v4f *wv;           /* 2 n_taps: (re, re, re, re) and (-im, im, -im, im) of each tap */
    am_status st;
    char err[CHAN_ERR_LEN];
} chan_worker;

typedef struct chan_job {
    const float complex *const *tx; /* uplink: bursts in memory (NULL: src) */
    const float complex *x1;        /* downlink: the one agent's input */
    phy_chan_source src;
    void *user;
    const unsigned char *active; /* src: NULL = every agent */
    unsigned k_lo, k_hi;         /* agents [k_lo, k_hi) */
    int downlink;
    size_t n, lead;
    float complex *y;
    size_t t_lo, t_hi; /* output span the agents reach */
    size_t nblocks;
} chan_job;

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
    cfg->threads = 1;
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
    if (c->ul_tick0 > ((uint64_t)1 << 40))
        return AM_FAIL(AM_EINVAL, "phy_chan: ul_tick0: %llu is above 2^40 ticks",
                       (unsigned long long)c->ul_tick0);
    if (!isfinite(c->common_cfo) || fabsf(c->common_cfo) + c->max_cfo > half)
        return AM_FAIL(AM_EINVAL,
                       "phy_chan: common_cfo: |%g| + max_cfo %g exceeds %g subcarrier spacings",
                       (double)c->common_cfo, (double)c->max_cfo, (double)half);
    if (isnan(c->snr_db) || c->snr_db < -100.0f || (isfinite(c->snr_db) && c->snr_db > 300.0f))
        return AM_FAIL(AM_EINVAL, "phy_chan: snr_db: %g is not in -100..300 dB or +INFINITY",
                       (double)c->snr_db);
    if (!isfinite(c->rho) || !(c->rho > 0))
        return AM_FAIL(AM_EINVAL, "phy_chan: rho: %g is not a positive number", (double)c->rho);
    if (c->threads > CHAN_MAX_THREADS)
        return AM_FAIL(AM_EINVAL, "phy_chan: threads: %u is outside 0..%u (0 = 1)", c->threads,
                       CHAN_MAX_THREADS);
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
    q->cfg.impair = NULL;
    unsigned K = cfg->n_agents, L = cfg->n_taps, M = cfg->nfft;
    q->T = cfg->threads ? cfg->threads : 1;
    q->sctype = malloc(M);
    q->pdp = malloc(L * sizeof *q->pdp);
    q->taps = calloc((size_t)K * L, sizeof *q->taps);
    q->delay = calloc(K, sizeof *q->delay);
    q->eps = calloc(K, sizeof *q->eps);
    q->agent_rng = calloc(K, sizeof *q->agent_rng);
    q->w = calloc(q->T, sizeof *q->w);
    int ok = q->sctype && q->pdp && q->taps && q->delay && q->eps && q->agent_rng && q->w;
    for (unsigned t = 0; ok && t < q->T; t++) {
        chan_worker *w = &q->w[t];
        w->q = q;
        w->id = t;
        w->xb = malloc((CHAN_CHUNK + L - 1) * sizeof *w->xb);
        w->s = malloc(CHAN_CHUNK * sizeof *w->s);
        w->wv = malloc(2 * (size_t)L * sizeof *w->wv);
        ok = w->xb && w->s && w->wv;
    }
    if (!ok) {
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
    if ((s = am_pool_create(q->T, "phy_chan_create", &q->pool)) != AM_OK) {
        phy_chan_destroy(q);
        return s;
    }
    seed_all(q);
    if (cfg->cfo_fixed) { /* one oscillator per agent for the whole session */
        for (unsigned k = 0; k < K; k++) {
            am_rng r;
            am_rng_seed2(&r, cfg->seed, 0x0cf0000000000000ULL | (uint64_t)k);
            q->eps[k] = (float)((2.0 * am_rng_uniform(&r) - 1.0) * cfg->max_cfo);
        }
    }
    if ((s = chan_radios_create(cfg->impair, K, cfg->seed, &q->radios)) != AM_OK) {
        phy_chan_destroy(q);
        return s;
    }
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
    am_pool_destroy(q->pool);
    if (q->w)
        for (unsigned t = 0; t < q->T; t++) {
            free(q->w[t].xb);
            free(q->w[t].s);
            free(q->w[t].wv);
        }
    free(q->w);
    free(q->sctype);
    free(q->pdp);
    free(q->taps);
    free(q->delay);
    free(q->eps);
    free(q->agent_rng);
    chan_radios_destroy(q->radios);
    free(q);
}

void phy_chan_reset(phy_chan *q)
{
    if (!q)
        return;
    seed_all(q);
    chan_radios_reset(q->radios);
    (void)phy_chan_draw(q); /* cannot fail on an object that was created */
}

void phy_chan_reseed(phy_chan *q, uint64_t seed)
{
    if (!q)
        return;
    q->cfg.seed = seed;
    seed_all(q);
    chan_radios_reseed(q->radios, seed);
}

void phy_chan_retune(phy_chan *q)
{
    if (q)
        chan_radios_retune(q->radios);
}

const phy_impair *phy_chan_radio(const phy_chan *q, unsigned r)
{
    return q ? chan_radios_get(q->radios, r) : NULL;
}

am_status phy_chan_draw(phy_chan *q)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "phy_chan_draw: q is NULL");
    /* a new round: the radios' Wiener phases start a new time line, as the carrier phasors do */
    chan_radios_new_timeline(q->radios);
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
        if (!c->cfo_fixed)
            q->eps[k] = (float)((2.0 * u_cfo - 1.0) * c->max_cfo);
        if (c->random_phase) {
            float complex rot = (float complex)cexp(I * 2.0 * M_PI * u_phase);
            for (unsigned l = 0; l < L; l++)
                a[l] *= rot;
        }
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

/* zig: the downlink's (the beacon's window for one agent, K per round) by the ziggurat, the
 * uplink's by the polar method (the reference captures' stream) */
static void fill_noise(phy_chan *q, float complex *y, size_t n, int zig)
{
    if (q->s2 == 0.0f) {
        memset(y, 0, n * sizeof *y);
        return;
    }
    float sd = sqrtf(q->s2);
    if (zig) {
        am_rng_cnormal_fill(&q->noise_rng, sd, y, n);
        return;
    }
    for (size_t t = 0; t < n; t++)
        y[t] = sd * am_rng_cnormal(&q->noise_rng);
}

/* Agent k's multipath output for the FIR indices n0 .. n0+m-1 (x: its inputs n0 - (L-1) ..
 * n0+m-1, zeros outside the burst) added to y[0..m): y[j] += sum_l a_l x[j + L-1 - l], the products
 * summed from the oldest tap l = L-1 down to l = 0, each product rounded, as liquid-dsp 1.5's
 * firfilt_cccf (portable dotprod_cccf) did: the emulator's outputs did not change when it left
 * liquid. Two outputs per vector op: a x = (re a, re a)(xr, xi) + (-im a, im a)(xi, xr), which is
 * the same rounding as ar xr - ai xi and ar xi + ai xr. */
static inline __attribute__((always_inline)) void
fir_pairs(const v4f *wv, unsigned L, const float complex *x, size_t m, float complex *y, int add)
{
    const v4f *wr = wv, *wi = wv + L;
    size_t j = 0;
    for (; j + 2 <= m; j += 2) {
        const float *xp = (const float *)(x + j);
        v4f acc = {0.0f, 0.0f, 0.0f, 0.0f};
        for (unsigned l = L; l-- > 0;) {
            v4f xv;
            memcpy(&xv, xp + 2 * (L - 1 - l), sizeof xv);
            acc += wr[l] * xv + wi[l] * __builtin_shufflevector(xv, xv, 1, 0, 3, 2);
        }
        if (add) {
            v4f yv;
            memcpy(&yv, y + j, sizeof yv);
            yv += acc;
            memcpy(y + j, &yv, sizeof yv);
        } else {
            memcpy(y + j, &acc, sizeof acc);
        }
    }
    for (; j < m; j++) {
        float ar = 0.0f, ai = 0.0f;
        for (unsigned l = L; l-- > 0;) {
            const float xr = crealf(x[j + L - 1 - l]), xi = cimagf(x[j + L - 1 - l]);
            const float hr = wr[l][0], hi = wi[l][1];
            ar += xr * hr - xi * hi;
            ai += xr * hi + xi * hr;
        }
        if (add)
            y[j] += CMPLXF(ar, ai);
        else
            y[j] = CMPLXF(ar, ai);
    }
}

/* add = 1: y += FIR; add = 0: y = FIR. Short filters get their own unrolled copy. */
static void
fir(const v4f *wv, unsigned L, const float complex *x, size_t m, float complex *y, int add)
{
    switch (L) {
    case 1:
        fir_pairs(wv, 1, x, m, y, add);
        break;
    case 2:
        fir_pairs(wv, 2, x, m, y, add);
        break;
    case 3:
        fir_pairs(wv, 3, x, m, y, add);
        break;
    case 4:
        fir_pairs(wv, 4, x, m, y, add);
        break;
    case 6:
        fir_pairs(wv, 6, x, m, y, add);
        break;
    case 8:
        fir_pairs(wv, 8, x, m, y, add);
        break;
    default:
        fir_pairs(wv, L, x, m, y, add);
    }
}

/* y[j] += e^{j 2 pi f (t0 + n0 + j)} s[j], j = 0..m-1: the phasor anchored exactly at every
 * multiple of CHAN_ROT of the agent's output index (phase = 2 pi frac(f t)) and stepped by
 * multiplication in between; a block starting between anchors steps from the last anchor. */
static void
rotate_add(const float complex *s, size_t m, float complex *y, size_t t0, size_t n0, double f)
{
    const double complex w = cexp(I * 2.0 * M_PI * f);
    size_t j = 0;
    while (j < m) {
        const size_t n = n0 + j, pos = n - n % CHAN_ROT;
        double ft = f * (double)(t0 + pos);
        double complex z = cexp(I * 2.0 * M_PI * (ft - floor(ft)));
        for (size_t i = pos; i < n; i++)
            z *= w;
        size_t e = pos + CHAN_ROT - n;
        if (e > m - j)
            e = m - j;
        for (size_t i = 0; i < e; i++) {
            y[j + i] += (float complex)(z * (double complex)s[j + i]);
            z *= w;
        }
        j += e;
    }
}

/* Agent k's contribution to the output block [b0, b1). */
static am_status
agent_block(phy_chan *q, const chan_job *jb, chan_worker *w, unsigned k, size_t b0, size_t b1)
{
    const unsigned L = q->cfg.n_taps;
    const size_t n = jb->n, t0 = jb->lead + q->delay[k], ntot = n + L - 1;
    if (b1 <= t0 || b0 >= t0 + ntot)
        return AM_OK;
    const size_t c0 = b0 > t0 ? b0 : t0, c1 = b1 < t0 + ntot ? b1 : t0 + ntot;
    const size_t n0 = c0 - t0, m = c1 - c0; /* FIR outputs n0 .. n0+m-1 */
    /* their inputs u = n0 - (L-1) .. n0+m-1: xb[lo ..) holds u = ua .. ub-1, zeros around */
    const size_t lo = n0 < L - 1 ? L - 1 - n0 : 0, ua = n0 + lo - (L - 1);
    const size_t ub = n0 + m < n ? n0 + m : n, need = m + L - 1;
    const float complex *mem = jb->x1 ? jb->x1 : jb->tx ? jb->tx[k] : NULL, *x;
    if (mem && lo == 0 && ub == n0 + m) {
        x = mem + ua; /* inside the burst: read it in place */
    } else {
        memset(w->xb, 0, lo * sizeof *w->xb);
        if (mem) {
            memcpy(w->xb + lo, mem + ua, (ub - ua) * sizeof *w->xb);
        } else {
            am_status s = jb->src(jb->user, w->id, k, ua, ub - ua, w->xb + lo);
            if (s != AM_OK)
                return am_error_wrap(s, "phy_chan: agent %u, burst samples %zu..%zu", k, ua, ub);
        }
        memset(w->xb + lo + (ub - ua), 0, (need - lo - (ub - ua)) * sizeof *w->xb);
        x = w->xb;
    }
    /* docs/air-interface.md §5 (uplink); §6: the agent sees the server's oscillator, the opposite
     * offset */
    const double f = jb->downlink ? -((double)q->eps[k] + q->cfg.common_cfo) / q->cfg.nfft
                                  : ((double)q->eps[k] + q->cfg.common_cfo) / q->cfg.nfft;
    /* Each oscillator turns a sample when its radio handles it: the transmitter's at the transmit
     * tick, before the delay d_k and tap l, the receiver's at the output index. The agent's
     * oscillator is eps_k, the server's common_cfo (with the sign of the offset it adds to the
     * uplink): uplink the agent transmits (f_tx = eps_k), downlink the server (f_tx = -common).
     * At the output index t the turn is e^{j 2 pi f t} times e^{-j 2 pi f_tx (d_k + l)} on tap l:
     * the same both ways for a given oscillator, so the channel stays reciprocal. */
    const double f_tx = jb->downlink ? -(double)q->cfg.common_cfo / q->cfg.nfft
                                     : (double)q->eps[k] / q->cfg.nfft;
    const float complex *a = q->taps + (size_t)k * L;
    for (unsigned l = 0; l < L; l++) {
        float complex al = a[l];
        if (f_tx != 0.0)
            al = (float complex)((double complex)al *
                                 cexp(-I * 2.0 * M_PI * f_tx * (double)(q->delay[k] + l)));
        const float re = crealf(al), im = cimagf(al);
        w->wv[l] = (v4f){re, re, re, re};
        w->wv[L + l] = (v4f){-im, im, -im, im};
    }
    if (f == 0.0) {
        fir(w->wv, L, x, m, jb->y + c0, 1);
    } else {
        fir(w->wv, L, x, m, w->s, 0);
        rotate_add(w->s, m, jb->y + c0, t0 + (jb->downlink ? 0 : (size_t)q->cfg.ul_tick0), n0, f);
    }
    return AM_OK;
}

/* Takes blocks until none is left (or a thread failed); every agent of the job in index order. */
static void work(phy_chan *q, chan_worker *w)
{
    const chan_job *jb = q->job;
    w->st = AM_OK;
    for (;;) {
        if (atomic_load_explicit(&q->failed, memory_order_relaxed))
            return;
        size_t b = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
        if (b >= jb->nblocks)
            return;
        const size_t b0 = jb->t_lo + b * CHAN_CHUNK;
        const size_t b1 = jb->t_hi - b0 < CHAN_CHUNK ? jb->t_hi : b0 + CHAN_CHUNK;
        for (unsigned k = jb->k_lo; k < jb->k_hi; k++) {
            if (!jb->x1 && (jb->tx ? !jb->tx[k] : (jb->active && !jb->active[k])))
                continue;
            am_status s = agent_block(q, jb, w, k, b0, b1);
            if (s != AM_OK) {
                w->st = s;
                snprintf(w->err, sizeof w->err, "%s", am_last_error());
                atomic_store(&q->failed, 1);
                return;
            }
        }
    }
}

static void work_job(void *ctx, unsigned t)
{
    phy_chan *q = ctx;
    work(q, &q->w[t]);
}

/* The agents' part of a call (step 2 at the top), on every thread when it is large enough. */
static am_status run(phy_chan *q, chan_job *jb)
{
    if (jb->n == 0 || jb->t_hi <= jb->t_lo)
        return AM_OK;
    jb->nblocks = (jb->t_hi - jb->t_lo + CHAN_CHUNK - 1) / CHAN_CHUNK;
    q->job = jb;
    atomic_store(&q->next, 0);
    atomic_store(&q->failed, 0);
    const int pool = q->T > 1 && jb->nblocks > 1 &&
                     (jb->t_hi - jb->t_lo) * (jb->k_hi - jb->k_lo) >= CHAN_PAR_MIN;
    if (pool)
        am_pool_run(q->pool, work_job, q);
    else
        work(q, &q->w[0]);
    q->job = NULL;
    for (unsigned t = 0; t < (pool ? q->T : 1); t++)
        if (q->w[t].st != AM_OK)
            return AM_FAIL(q->w[t].st, "%s", q->w[t].err);
    return AM_OK;
}

static am_status check_io(const phy_chan *q,
                          const char *what,
                          size_t n,
                          size_t lead,
                          size_t tail,
                          const float complex *y,
                          size_t cap,
                          const size_t *ny,
                          size_t *need)
{
    if (!q || !y || !ny)
        return AM_FAIL(AM_EINVAL, "%s: NULL argument", what);
    *need = phy_chan_out_len(q, n, lead, tail);
    if (*need > CHAN_MAX_LEN)
        return AM_FAIL(AM_EINVAL,
                       "%s: output of %zu samples is absurd (burst %zu, lead %zu, "
                       "tail %zu)",
                       what, *need, n, lead, tail);
    if (cap < *need)
        return AM_FAIL(AM_EINVAL, "%s: output capacity %zu < %zu samples needed", what, cap, *need);
    return AM_OK;
}

static am_status uplink(phy_chan *q,
                        const char *what,
                        chan_job *jb,
                        size_t lead,
                        size_t tail,
                        float complex *y,
                        size_t cap,
                        size_t *ny)
{
    size_t need = 0;
    am_status s = check_io(q, what, jb->n, lead, tail, y, cap, ny, &need);
    if (s != AM_OK)
        return s;
    fill_noise(q, y, need, 0);
    /* step 2a with radios: every agent's burst through its radio's TX first (calling thread) */
    if (q->radios && jb->n > 0) {
        if ((s = chan_radios_tx_all(q->radios, jb->tx, jb->src, jb->user, jb->active, jb->n,
                                    q->cfg.ul_tick0 + lead, &jb->tx)) != AM_OK)
            return s;
    }
    jb->k_lo = 0;
    jb->k_hi = q->cfg.n_agents;
    jb->lead = lead;
    jb->y = y;
    jb->t_lo = lead;
    jb->t_hi = need - tail;
    if ((s = run(q, jb)) != AM_OK)
        return s;
    /* step 3: the server radio's RX on the sum, noise included */
    if (q->radios && (s = chan_radios_rx(q->radios, chan_radios_server(q->radios), y, need, lead,
                                         lead + jb->n, q->cfg.ul_tick0)) != AM_OK)
        return s;
    *ny = need;
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
    if (q && y && ny && !tx)
        return AM_FAIL(AM_EINVAL, "phy_chan_execute: tx is NULL (pass an array of K pointers)");
    chan_job jb = {.tx = tx, .n = burst_len};
    return uplink(q, "phy_chan_execute", &jb, lead, tail, y, cap, ny);
}

am_status phy_chan_execute_source(phy_chan *q,
                                  phy_chan_source src,
                                  void *user,
                                  const unsigned char *active,
                                  size_t burst_len,
                                  size_t lead,
                                  size_t tail,
                                  float complex *y,
                                  size_t cap,
                                  size_t *ny)
{
    if (q && y && ny && !src)
        return AM_FAIL(AM_EINVAL, "phy_chan_execute_source: src is NULL");
    chan_job jb = {.src = src, .user = user, .active = active, .n = burst_len};
    return uplink(q, "phy_chan_execute_source", &jb, lead, tail, y, cap, ny);
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
    fill_noise(q, y, need, 1);
    /* the server radio's TX */
    if (q->radios && n > 0 &&
        (s = chan_radios_tx(q->radios, chan_radios_server(q->radios), x, n, lead, &x)) != AM_OK)
        return s;
    chan_job jb = {.x1 = x, .k_lo = k, .k_hi = k + 1, .downlink = 1, .n = n, .lead = lead, .y = y};
    jb.t_lo = lead + q->delay[k];
    jb.t_hi = jb.t_lo + n + q->cfg.n_taps - 1;
    if ((s = run(q, &jb)) != AM_OK)
        return s;
    /* agent k's radio RX */
    if (q->radios && (s = chan_radios_rx(q->radios, k, y, need, lead, lead + n, 0)) != AM_OK)
        return s;
    *ny = need;
    return AM_OK;
}
