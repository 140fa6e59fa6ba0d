/* phy/ota_rx: server receiver (docs/air-interface.md §5 with §1-§3 inverted).
 * Stream: phy/sync finds and times each burst (Schmidl-Cox on S0, CFO, S1 impulse response);
 * then, per burst, the composite gain G from the preamble and N0 from S0's odd bins; per data
 * symbol, as soon as its samples are in: derotate, FFT, common phase from the pilots weighted by
 * conj(G), divide by G, times eta, demap (§3 order). Bins with no active agent give 0.
 * Optionally (gain_pool) G is pooled over neighbouring bins where its per-bin estimate is noisy. */
#include "phy/ota_rx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phy/cal.h"
#include "phy/fft.h"
#include "sync.h"
#include "util.h"

#define PHY_PAYLOAD_MAX (1ull << 32)

/* One burst being decoded: the stream's, or decode_at's (so that decode_at leaves a stream
 * burst in progress alone). */
typedef struct rx_ctx {
    float complex *rot; /* derotation table for this burst's CFO (§1 scaling folded in) */
    float complex *G, *invG, *R;
    float *active, *snr, *payload;
    float complex *symbols;
    float complex *ce, *cE; /* with calibration: Nc x M e_s[i], S x Q E_s[q] */
    float *csnr;            /* S */
    unsigned char *cheard;  /* S */
    unsigned char *cmeas;   /* S x Q: sub-band q of slot s had an active bin (E_s[q] measured) */
    float *cW;              /* S x Q x Q: the interpolation's weights in E_s[q] (§8.4) */
    int64_t s0;             /* S0a start (stream index, or 0 for decode_at) */
    double cfo;
    float complex iqw;     /* the receiver's IQ image correction for this burst (§5.7) */
    phy_sync_tone tone;    /* the interferer removed from this burst's windows (§5.7) */
    float complex *tw;     /* M: its samples in the current window */
    float complex *dw;     /* M: the window plus the DC its tracker subtracted (§5.7) */
    float complex *dt;     /* M: tw plus that DC */
    unsigned char *erased; /* M: bins erased around the interferer */
    unsigned n_erased;
    unsigned clipped; /* preamble window samples found clipped (declipped, §5.2) */
    float peak;       /* the preamble's clip level if it clipped, else its largest rail */
    unsigned backoff;
    float eta, rho, n0, metric;
    float plev; /* the burst's pilot level a (§2) */
    size_t sym; /* next data symbol */
} rx_ctx;

enum { RX_SEARCH, RX_DATA };

struct phy_ota_rx {
    phy_frame *frame;
    phy_sync *sync;
    phy_ota_rx_callback cb;
    void *user;
    float eta, rho, thr;
    float plev; /* pilot level a of the bursts not yet started (§2) */
    unsigned M, cp, B, n_used, n_data, n_pilot;
    const unsigned *data, *pilot, *used;
    size_t L, N, burst_len;
    unsigned pool;       /* gain_pool W (0: per-bin G) */
    int real;            /* §3.3 real mapping: a real per data bin, Re(Y/G) */
    float *w;            /* with pool, M: sum over S0a, S0b, S1 of |X[i]|^2 (MRC weight of G[i]) */
    unsigned char *on;   /* with pool, M: scratch, bin has an active agent */
    float complex *Gp;   /* with pool, M: scratch, pooled G */
    unsigned S, P, Nc;   /* calibration (§8.1): slots, comb period, blocks */
    unsigned char *cgrp; /* with S, M: sub-band of each used bin (phy_cal_groups) */
    float *cwt;          /* with S, Q x M: the weight of A[j] in a(i) at bin i (phy_cal_interp) */
    rx_ctx stream, genie;
    /* the stream's IQ image estimate (§5.2): information-weighted running mean of the bursts'
     * estimates, forgetting 1/32 per burst; applied while significant */
    double complex iq_num;
    double iq_den;
    int iq_on;
    float complex iqw;
    int state;
    uint64_t samples, bursts;
};

void phy_ota_rx_cfg_default(phy_ota_rx_cfg *cfg)
{
    phy_frame_cfg_default(&cfg->frame);
    cfg->payload_len = 1024;
    cfg->eta = 1.0f;
    cfg->rho = 1.0f;
    cfg->threshold = 0.0f;
    cfg->callback = NULL;
    cfg->user = NULL;
    cfg->gain_pool = 0;
    cfg->cal_slots = 0;
    cfg->mapping = PHY_MAP_COMPLEX;
    cfg->pilot_level = 1.0f;
    cfg->cfo_max = 0.0;
}

static am_status check_round(float eta, float rho)
{
    if (!isfinite(eta) || eta <= 0.0f)
        return AM_FAIL(AM_EINVAL, "ota_rx: scale eta = %g must be finite and > 0 (§3)",
                       (double)eta);
    if (!isfinite(rho) || rho <= 0.0f)
        return AM_FAIL(AM_EINVAL, "ota_rx: rho = %g must be finite and > 0 (§4)", (double)rho);
    return AM_OK;
}

static void ctx_free(rx_ctx *c)
{
    phy_fft_free(c->rot);
    phy_fft_free(c->G);
    phy_fft_free(c->invG);
    phy_fft_free(c->R);
    phy_fft_free(c->active);
    phy_fft_free(c->snr);
    phy_fft_free(c->payload);
    phy_fft_free(c->symbols);
    phy_fft_free(c->ce);
    phy_fft_free(c->cE);
    phy_fft_free(c->csnr);
    free(c->cheard);
    free(c->cmeas);
    free(c->cW);
    phy_fft_free(c->tw);
    phy_fft_free(c->dw);
    phy_fft_free(c->dt);
    free(c->erased);
}

static int ctx_alloc(rx_ctx *c, unsigned M, size_t L, size_t nsymv, unsigned S, unsigned Nc)
{
    if (S) {
        c->ce = phy_fft_alloc((size_t)Nc * M);
        c->cE = phy_fft_alloc((size_t)S * PHY_CAL_Q);
        c->csnr = phy_fft_alloc_real(S);
        c->cheard = malloc(S);
        c->cmeas = malloc((size_t)S * PHY_CAL_Q);
        c->cW = malloc((size_t)S * PHY_CAL_Q * PHY_CAL_Q * sizeof *c->cW);
        if (!c->ce || !c->cE || !c->csnr || !c->cheard || !c->cmeas || !c->cW)
            return 0;
    }
    c->rot = phy_fft_alloc(M);
    c->G = phy_fft_alloc(M);
    c->invG = phy_fft_alloc(M);
    c->R = phy_fft_alloc(M);
    c->active = phy_fft_alloc_real(M);
    c->snr = phy_fft_alloc_real(M);
    c->payload = phy_fft_alloc_real(L);
    c->symbols = phy_fft_alloc(nsymv);
    c->tw = phy_fft_alloc(M);
    c->dw = phy_fft_alloc(M);
    c->dt = phy_fft_alloc(M);
    c->erased = calloc(M, 1);
    return c->rot && c->G && c->invG && c->R && c->active && c->snr && c->payload && c->symbols &&
           c->tw && c->dw && c->dt && c->erased;
}

am_status phy_ota_rx_create(const phy_ota_rx_cfg *cfg, phy_ota_rx **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "ota_rx: NULL argument");
    *out = NULL;
    if (cfg->payload_len < 1 || cfg->payload_len > PHY_PAYLOAD_MAX)
        return AM_FAIL(AM_EINVAL, "ota_rx: payload length %zu outside 1..2^32", cfg->payload_len);
    am_status s = check_round(cfg->eta, cfg->rho);
    if (s != AM_OK)
        return s;
    float thr = cfg->threshold == 0.0f ? PHY_SYNC_DEFAULT_THRESHOLD : cfg->threshold;
    if (!(thr > 0.0f && thr < 1.0f))
        return AM_FAIL(AM_EINVAL, "ota_rx: detection threshold %g outside (0, 1)",
                       (double)cfg->threshold);
    if (cfg->cal_slots > PHY_CAL_SLOTS_MAX)
        return AM_FAIL(AM_EINVAL, "ota_rx: cal_slots %u outside 0..%u", cfg->cal_slots,
                       PHY_CAL_SLOTS_MAX);
    if (cfg->mapping != PHY_MAP_COMPLEX && cfg->mapping != PHY_MAP_REAL)
        return AM_FAIL(AM_EINVAL, "ota_rx: mapping %d is not complex (0) or real (1)",
                       (int)cfg->mapping);
    if (cfg->pilot_level != 0.0f && (s = phy_pilot_level_check(cfg->pilot_level)) != AM_OK)
        return am_error_wrap(s, "ota_rx");
    if (cfg->gain_pool > PHY_OTA_RX_GAIN_POOL_MAX)
        return AM_FAIL(AM_EINVAL, "ota_rx: gain_pool %u outside 0..%u bins", cfg->gain_pool,
                       PHY_OTA_RX_GAIN_POOL_MAX);
    phy_ota_rx *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "ota_rx: out of memory");
    s = phy_frame_create(&cfg->frame, &q->frame);
    if (s != AM_OK) {
        free(q);
        return am_error_wrap(s, "ota_rx");
    }
    const phy_frame *f = q->frame;
    q->cb = cfg->callback;
    q->user = cfg->user;
    q->eta = cfg->eta;
    q->rho = cfg->rho;
    q->plev = cfg->pilot_level != 0.0f ? cfg->pilot_level : 1.0f;
    q->thr = thr;
    q->M = phy_frame_nfft(f);
    q->cp = phy_frame_cp_len(f);
    q->B = q->M + q->cp;
    q->n_used = phy_frame_n_used(f);
    q->n_data = phy_frame_n_data(f);
    q->n_pilot = phy_frame_n_pilot(f);
    q->data = phy_frame_data_bins(f);
    q->pilot = phy_frame_pilot_bins(f);
    q->used = phy_frame_used_bins(f);
    q->L = cfg->payload_len;
    q->real = cfg->mapping == PHY_MAP_REAL;
    const size_t span = phy_mapping_span(cfg->mapping, q->L); /* §3.3: a bin per real */
    q->N = phy_frame_nsym(f, span);
    q->S = cfg->cal_slots;
    q->Nc = phy_cal_blocks(q->n_used, q->S, &q->P);
    q->burst_len = phy_frame_burst_len(f, span) + (size_t)q->Nc * q->B;
    q->pool = cfg->gain_pool;
    if (q->S) {
        q->cgrp = malloc(q->M);
        q->cwt = malloc((size_t)PHY_CAL_Q * q->M * sizeof *q->cwt);
        float complex *a = phy_fft_alloc(q->M);
        if (!q->cgrp || !q->cwt || !a) {
            phy_fft_free(a);
            phy_ota_rx_destroy(q);
            return AM_FAIL(AM_ENOMEM, "ota_rx: out of memory");
        }
        phy_cal_groups(f, q->cgrp, NULL);
        for (unsigned j = 0; j < PHY_CAL_Q; j++) {
            float complex A[PHY_CAL_Q] = {0};
            A[j] = 1.0f;
            phy_cal_interp(f, A, a);
            for (unsigned i = 0; i < q->M; i++)
                q->cwt[(size_t)j * q->M + i] = crealf(a[i]);
        }
        phy_fft_free(a);
    }
    if (q->pool) {
        q->w = phy_fft_alloc_real(q->M);
        q->on = malloc(q->M);
        q->Gp = phy_fft_alloc(q->M);
        if (!q->w || !q->on || !q->Gp) {
            phy_ota_rx_destroy(q);
            return AM_FAIL(AM_ENOMEM, "ota_rx: out of memory");
        }
        const float complex *X[3] = {phy_frame_s0a(f), phy_frame_s0b(f), phy_frame_s1(f)};
        for (unsigned i = 0; i < q->M; i++) {
            q->w[i] = 0.0f;
            for (unsigned b = 0; b < 3; b++)
                q->w[i] += crealf(X[b][i]) * crealf(X[b][i]) + cimagf(X[b][i]) * cimagf(X[b][i]);
        }
    }
    s = phy_sync_create(f, thr, &q->sync);
    if (s == AM_OK)
        s = phy_sync_set_cfo_max(q->sync, cfg->cfo_max);
    if (s != AM_OK) {
        phy_ota_rx_destroy(q);
        return am_error_wrap(s, "ota_rx");
    }
    if (!ctx_alloc(&q->stream, q->M, q->L, q->N * q->n_data, q->S, q->Nc) ||
        !ctx_alloc(&q->genie, q->M, q->L, q->N * q->n_data, q->S, q->Nc)) {
        size_t L = q->L;
        phy_ota_rx_destroy(q);
        return AM_FAIL(AM_ENOMEM, "ota_rx: out of memory (payload length %zu)", L);
    }
    phy_sync_make_rot(q->sync, 0.0, q->genie.rot);
    phy_ota_rx_reset(q);
    *out = q;
    return AM_OK;
}

void phy_ota_rx_destroy(phy_ota_rx *q)
{
    if (!q)
        return;
    ctx_free(&q->stream);
    ctx_free(&q->genie);
    phy_fft_free(q->w);
    free(q->on);
    free(q->cgrp);
    free(q->cwt);
    phy_fft_free(q->Gp);
    phy_sync_destroy(q->sync);
    phy_frame_destroy(q->frame);
    free(q);
}

void phy_ota_rx_reset(phy_ota_rx *q)
{
    phy_sync_reset(q->sync);
    q->iq_num = 0.0;
    q->iq_den = 0.0;
    q->iq_on = 0;
    q->iqw = 0.0f;
    q->state = RX_SEARCH;
    q->samples = 0;
    q->bursts = 0;
}

am_status phy_ota_rx_set_round(phy_ota_rx *q, float eta, float rho)
{
    am_status s = check_round(eta, rho);
    if (s != AM_OK)
        return s;
    q->eta = eta;
    q->rho = rho;
    return AM_OK;
}

am_status phy_ota_rx_set_pilot_level(phy_ota_rx *q, float a)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "ota_rx: NULL argument");
    am_status s = phy_pilot_level_check(a);
    if (s != AM_OK)
        return am_error_wrap(s, "ota_rx");
    q->plev = a;
    return AM_OK;
}

const phy_frame *phy_ota_rx_frame(const phy_ota_rx *q)
{
    return q->frame;
}

size_t phy_ota_rx_burst_len(const phy_ota_rx *q)
{
    return q->burst_len;
}

void phy_ota_rx_get_stats(const phy_ota_rx *q, phy_ota_rx_stats *stats)
{
    stats->samples = q->samples;
    stats->bursts = q->bursts;
    stats->rejected = phy_sync_rejected(q->sync);
}

/* No active agent on a bin of gain g2 = |G|^2: less than half an agent's gain (isr = 1/sqrt(rho))
 * and under 10 dB (a bin erased by every agent, §4): its output is 0 rather than noise / noise. */
static inline int no_agent(float g2, float isr, float n0e)
{
    return sqrtf(g2) * isr < 0.5f && g2 < 10.0f * n0e;
}

/* gain_pool (phy/ota_rx.h): on the active bins with |G|^2 w / N0 < 30, G <- the MRC of the per-bin
 * estimates of the active bins within W of it, each first turned back by the burst's common phase
 * step between neighbouring bins (the window's timing offset makes G a linear phase in i). */
static void pool_gain(phy_ota_rx *q, float complex *G, float n0e, float isr)
{
    const unsigned M = q->M, W = q->pool;
    const float *w = q->w;
    unsigned char *on = q->on;
    for (unsigned i = 0; i < M; i++) {
        float g2 = crealf(G[i]) * crealf(G[i]) + cimagf(G[i]) * cimagf(G[i]);
        on[i] = w[i] > 0.0f && !no_agent(g2, isr, n0e);
    }
    double complex acc = 0.0;
    for (unsigned i = 0; i < M; i++) {
        unsigned j = i + 1 < M ? i + 1 : 0;
        if (on[i] && on[j])
            acc += (double complex)phy_cmulc(G[i], G[j]);
    }
    const double step = cabs(acc) > 0.0 ? carg(acc) : 0.0;
    float complex back[2 * PHY_OTA_RX_GAIN_POOL_MAX + 1]; /* e^{-j step d}, d = -W..W */
    for (unsigned k = 0; k <= 2 * W; k++)
        back[k] = (float complex)cexp(-I * step * ((double)k - W));
    for (unsigned i = 0; i < M; i++) {
        float complex g = G[i];
        q->Gp[i] = g;
        if (!on[i] || (crealf(g) * crealf(g) + cimagf(g) * cimagf(g)) * w[i] >= 30.0f * n0e)
            continue;
        float complex num = 0.0f;
        float den = 0.0f;
        for (unsigned k = 0; k <= 2 * W; k++) {
            unsigned j = (i + M - W + k) % M;
            if (on[j]) {
                num += w[j] * phy_cmul(G[j], back[k]);
                den += w[j];
            }
        }
        q->Gp[i] = num / den; /* den >= w[i] > 0 */
    }
    memcpy(G, q->Gp, M * sizeof *G);
}

/* The IQ image coefficient (§5.2) applied to a burst whose own estimate is wb with information
 * info (1 / var): the stream's running estimate (stream != 0, updated here: information-weighted
 * mean, forgetting 1/32 per burst) or the burst's own (decode_at). Applied while
 * |w|^2 / var(w) > 40 (on) and > 10 (staying on): a receiver without an image (the statistic
 * ~Exp(1)) is left exactly as it was. */
static float complex iq_update(phy_ota_rx *q, int stream, double complex wb, double info)
{
    double complex w = wb;
    double stat = info * (creal(wb) * creal(wb) + cimag(wb) * cimag(wb));
    if (stream) {
        q->iq_num = q->iq_num * (31.0 / 32.0) + info * wb;
        q->iq_den = q->iq_den * (31.0 / 32.0) + info;
        if (!(q->iq_den > 0.0))
            return q->iqw;
        w = q->iq_num / q->iq_den;
        stat = q->iq_den * (creal(w) * creal(w) + cimag(w) * cimag(w));
        q->iq_on = stat > (q->iq_on ? 10.0 : 40.0);
        q->iqw = q->iq_on ? (float complex)w : 0.0f;
        return q->iqw;
    }
    return stat > 40.0 ? (float complex)w : 0.0f;
}

/* Preamble of a burst whose S0a starts at x0: G, N0, the IQ image correction, per-bin estimates
 * and equaliser (§5). */
static void burst_setup(phy_ota_rx *q, rx_ctx *c, const float complex *x0, int stream)
{
    c->eta = q->eta;
    c->rho = q->rho;
    c->plev = q->plev;
    c->sym = 0;
    phy_sync_pre_info in;
    /* the burst's image estimate: the preamble corrected by the stream's w (decode_at: 0) gives
     * the residual; while that is significant (40 x its variance), corrected again by the sum
     * (the regressor uses G, which the uncorrected image biases at second order), twice at most */
    float complex w = stream ? q->iqw : 0.0f;
    if (stream)
        phy_sync_tone_at(q->sync, c->s0, &c->tone);
    else
        memset(&c->tone, 0, sizeof c->tone);
    const phy_sync_tone *tn = &c->tone;
    /* the stream's samples: the DC its tracker subtracted is known (§5.7); decode_at's are not */
    const int64_t pos0 = stream ? c->s0 : PHY_SYNC_NOT_STREAM;
    phy_sync_preamble_rx(q->sync, x0, c->rot, c->cfo, c->backoff, w, tn, pos0, c->G, &c->n0, &in);
    double complex wb = w;
    double info = 0.0;
    for (unsigned r = 0; in.iq_den > 0.0; r++) {
        const double complex d = in.iq_num / in.iq_den;
        info = in.iq_den / (double)fmaxf(c->n0, 1e-10f * c->rho);
        wb = (double complex)w + d;
        if (r == 2 || !(info * (creal(d) * creal(d) + cimag(d) * cimag(d)) > 40.0))
            break;
        w = (float complex)wb;
        phy_sync_preamble_rx(q->sync, x0, c->rot, c->cfo, c->backoff, w, tn, pos0, c->G, &c->n0,
                             &in);
    }
    const float complex wn = in.iq_den > 0.0 ? iq_update(q, stream, wb, info) : w;
    /* a stream's burst keeps the correction its preamble was estimated with (the running
     * estimate's update applies from the next burst) unless it had none and the estimate is on
     * now; a one-burst decode applies its own: then the windows again */
    if (stream ? (w == 0.0f && wn != 0.0f) : wn != w) {
        w = wn;
        phy_sync_preamble_rx(q->sync, x0, c->rot, c->cfo, c->backoff, w, tn, pos0, c->G, &c->n0,
                             &in);
    }
    c->iqw = w;
    c->clipped = in.clipped;
    c->peak = in.clipped ? in.level : in.peak;
    /* noise floor so that a noiseless capture (n0 ~ 0) still has a finite SNR */
    const float n0e = fmaxf(c->n0, 1e-10f * c->rho);
    const float isr = 1.0f / sqrtf(c->rho);
    if (q->pool)
        pool_gain(q, c->G, n0e, isr);
    memset(c->active, 0, q->M * sizeof(float));
    memset(c->snr, 0, q->M * sizeof(float));
    memset(c->invG, 0, q->M * sizeof(float complex));
    for (unsigned u = 0; u < q->n_used; u++) {
        unsigned i = q->used[u];
        float complex g = c->G[i];
        float g2 = crealf(g) * crealf(g) + cimagf(g) * cimagf(g);
        c->snr[i] = g2 / n0e;
        if (no_agent(g2, isr, n0e))
            continue;
        c->active[i] = sqrtf(g2) * isr;
        c->invG[i] = conjf(g) / g2;
    }
    /* the interferer's bins (§5.7): the used bins within PHY_OTA_RX_ERASE_BINS of its frequency
     * are erased (no agent: output 0), whatever its removal left there */
    if (c->n_erased)
        memset(c->erased, 0, q->M);
    c->n_erased = 0;
    if (c->tone.on) {
        const double fb = c->tone.f * q->M;
        for (unsigned u = 0; u < q->n_used; u++) {
            const unsigned i = q->used[u];
            double d = fmod((double)i - fb, (double)q->M);
            d = d < -0.5 * q->M ? d + q->M : d >= 0.5 * q->M ? d - q->M : d;
            if (fabs(d) > PHY_OTA_RX_ERASE_BINS)
                continue;
            c->erased[i] = 1;
            c->n_erased++;
            c->active[i] = 0.0f;
            c->invG[i] = 0.0f;
        }
    }
}

/* Data symbol s of the burst, FFT window at w (§5: common phase, divide by G, times eta). */
static void burst_symbol(phy_ota_rx *q, rx_ctx *c, const float complex *w, size_t s)
{
    const unsigned nd = q->n_data;
    int64_t off = (int64_t)((3 + q->Nc + s) * q->B + q->cp - c->backoff);
    float complex ph = phy_sync_phase(q->sync, c->cfo, off, 0);
    const float complex *tw = NULL;
    if (c->tone.on) {
        phy_sync_tone_window(&c->tone, c->s0 + off, q->M, c->tw);
        tw = c->tw;
    }
    if (c == &q->stream) /* the ADC's values where the DC tracker subtracted a DC (§5.7) */
        phy_sync_adc_window(q->sync, c->s0 + off, &w, &tw, c->dw, c->dt);
    phy_sync_symbol_rx(q->sync, w, c->rot, ph, c->iqw, tw, c->G, c->plev, c->peak, c->clipped > 0,
                       c->R);
    const float complex *R = c->R, *G = c->G, *invG = c->invG;
    /* ML common phase: arg sum conj(G) Y over the pilots (which carry +a, a > 0: the same phase) */
    float complex S = 0.0f;
    for (unsigned j = 0; j < q->n_pilot; j++) {
        unsigned i = q->pilot[j];
        if (!c->erased[i])
            S += phy_cmulc(G[i], R[i]);
    }
    float a = cabsf(S);
    float complex u = a > 0.0f ? conjf(S) / a : 1.0f;
    float complex *sym = c->symbols + s * nd;
    for (unsigned j = 0; j < nd; j++) {
        unsigned i = q->data[j];
        sym[j] = phy_cmul(phy_cmul(R[i], invG[i]), u);
    }
    /* §3 demapping: entry 2k = Re, 2k + 1 = Im of value k */
    size_t k0 = s * nd, L = q->L;
    float *v = c->payload;
    const float eta = c->eta;
    if (q->real) { /* §3.3: entry k = Re of value k, the quadrature (noise only) discarded */
        const size_t have = L - k0 < nd ? L - k0 : nd; /* k0 < L: symbol s carries entries */
        for (size_t j = 0; j < have; j++)
            v[k0 + j] = eta * crealf(sym[j]);
    } else if (2 * (k0 + nd) <= L) {
        float *vo = v + 2 * k0;
        for (unsigned j = 0; j < nd; j++) {
            vo[2 * j] = eta * crealf(sym[j]);
            vo[2 * j + 1] = eta * cimagf(sym[j]);
        }
    } else {
        for (unsigned j = 0; j < nd; j++) {
            size_t k = k0 + j;
            if (2 * k < L)
                v[2 * k] = eta * crealf(sym[j]);
            if (2 * k + 1 < L)
                v[2 * k + 1] = eta * cimagf(sym[j]);
        }
    }
}

/* Calibration block C_b at window w (§8.2): e_s[i] = Y_C[i] conj(G[i]) / (|G[i]| sqrt(P rho)
 * X_S1[i]) on the bins each slot owns (derotated as a data symbol; no pilots). */
static void burst_cal(phy_ota_rx *q, rx_ctx *c, const float complex *w, size_t b)
{
    int64_t off = (int64_t)((3 + b) * q->B + q->cp - c->backoff);
    float complex ph = phy_sync_phase(q->sync, c->cfo, off, 0);
    const float complex *tw = NULL;
    if (c->tone.on) {
        phy_sync_tone_window(&c->tone, c->s0 + off, q->M, c->tw);
        tw = c->tw;
    }
    phy_sync_block_fft_iq(q->sync, w, c->rot, ph, c->iqw, tw, c->R);
    const float complex *S1 = phy_frame_s1(q->frame);
    const float k = 1.0f / sqrtf((float)q->P * c->rho);
    float complex *e = c->ce + b * q->M;
    memset(e, 0, q->M * sizeof *e);
    for (unsigned u = 0; u < q->n_used; u++) {
        if ((size_t)b * q->P + u % q->P >= q->S)
            continue; /* a tooth of the last block with no slot */
        const unsigned i = q->used[u];
        const float complex g = c->G[i];
        const float ag = cabsf(g);
        const float complex ref = ag > 0.0f ? conjf(g) / ag : 1.0f;
        e[i] = k * phy_cmul(phy_cmulc(S1[i], c->R[i]), ref); /* |S1| = 1 */
    }
}

/* Per slot: active bins (§5.5 rule on e), heard (§8.3), sub-band values and SNR (§8.2). E's phase
 * is the group mean's; its magnitude the larger of the mean's and the bins' rms less their noise
 * N0 / (P rho): the mean alone is low by the turn of e across the group (an agent a few samples off
 * the others, before §4.2 knows its clock: 0.37 of the rms on the twin's round 1), which
 * §8.4 took for a weak agent and amplified. */
static void cal_finish(phy_ota_rx *q, rx_ctx *c)
{
    const unsigned Q = PHY_CAL_Q;
    const float n0e = fmaxf(c->n0, 1e-10f * c->rho), Prho = (float)q->P * c->rho;
    for (unsigned s = 0; s < q->S; s++) {
        const float complex *e = c->ce + (size_t)(s / q->P) * q->M;
        double complex sum[PHY_CAL_Q] = {0};
        double pw[PHY_CAL_Q] = {0}, W[PHY_CAL_Q][PHY_CAL_Q] = {{0}};
        unsigned cnt[PHY_CAL_Q] = {0}, own = 0, act = 0, loud = 0;
        double snr = 0.0;
        for (unsigned u = s % q->P; u < q->n_used; u += q->P) {
            const unsigned i = q->used[u];
            const float e2 = crealf(e[i]) * crealf(e[i]) + cimagf(e[i]) * cimagf(e[i]);
            own++;
            loud += Prho * e2 >= 10.0f * n0e;
            if (!(sqrtf(e2) >= 0.5f || Prho * e2 >= 10.0f * n0e))
                continue;
            act++;
            sum[q->cgrp[i]] += (double complex)e[i];
            pw[q->cgrp[i]] += (double)e2;
            cnt[q->cgrp[i]]++;
            for (unsigned j = 0; j < Q; j++)
                W[q->cgrp[i]][j] += (double)q->cwt[(size_t)j * q->M + i];
            snr += (double)(c->rho * e2 / n0e);
        }
        c->cheard[s] = (unsigned char)(4 * loud >= own && loud > 0);
        c->csnr[s] = act ? (float)(10.0 * log10(snr / act)) : 0.0f;
        for (unsigned g = 0; g < Q; g++) {
            c->cmeas[(size_t)s * Q + g] = cnt[g] > 0;
            for (unsigned j = 0; j < Q; j++)
                c->cW[((size_t)s * Q + g) * Q + j] = cnt[g] ? (float)(W[g][j] / cnt[g]) : g == j;
            if (!cnt[g]) {
                c->cE[(size_t)s * Q + g] = 1.0f;
                continue;
            }
            const double complex m = sum[g] / cnt[g];
            const double am = cabs(m), p = pw[g] / cnt[g] - (double)c->n0 / (double)Prho;
            c->cE[(size_t)s * Q + g] =
                (float complex)(am > 0.0 && p > am * am ? m * (sqrt(p) / am) : m);
        }
    }
}

static void burst_fill(const phy_ota_rx *q, const rx_ctx *c, phy_ota_burst *b)
{
    memset(b, 0, sizeof *b);
    b->start = (uint64_t)(c->s0 < 0 ? 0 : c->s0);
    b->cfo = (float)c->cfo;
    b->n0 = c->n0;
    b->metric = c->metric;
    b->nfft = q->M;
    b->payload_len = q->L;
    b->payload = c->payload;
    b->active = c->active;
    b->snr = c->snr;
    b->gain = c->G;
    b->n_symbols = q->N * q->n_data;
    b->symbols = c->symbols;
    b->n_erased = c->n_erased;
    b->erased = c->erased;
    if (q->S) {
        b->cal_slots = q->S;
        b->cal_blocks = q->Nc;
        b->cal_heard = c->cheard;
        b->cal_E = c->cE;
        b->cal_meas = c->cmeas;
        b->cal_W = c->cW;
        b->cal_snr_db = c->csnr;
        b->cal_e = c->ce;
    }
    double g2 = 0.0, act = 0.0;
    for (unsigned u = 0; u < q->n_used; u++) {
        unsigned i = q->used[u];
        g2 += (double)(crealf(c->G[i]) * crealf(c->G[i]) + cimagf(c->G[i]) * cimagf(c->G[i]));
        act += c->active[i];
    }
    double n0e = fmax((double)c->n0, 1e-10 * (double)c->rho);
    b->snr_db = (float)(10.0 * log10(g2 / q->n_used / n0e + 1e-30));
    b->active_mean = (float)(act / q->n_used);
}

am_status
phy_ota_rx_decode_at(phy_ota_rx *q, const float complex *x, size_t n, phy_ota_burst *burst)
{
    if (!q || !x || !burst)
        return AM_FAIL(AM_EINVAL, "ota_rx: NULL argument");
    if (n < q->burst_len)
        return AM_FAIL(AM_EINVAL, "ota_rx: %zu samples given, a burst needs %zu", n, q->burst_len);
    size_t bad = phy_first_nonfinite((const float *)x, 2 * q->burst_len);
    if (bad < 2 * q->burst_len)
        return AM_FAIL(AM_EFORMAT, "ota_rx: sample %zu is not finite", bad / 2);
    rx_ctx *c = &q->genie;
    c->s0 = 0;
    c->cfo = 0.0;
    c->backoff = 0; /* genie: the nominal window */
    c->metric = 1.0f;
    burst_setup(q, c, x, 0);
    for (size_t b = 0; b < q->Nc; b++)
        burst_cal(q, c, x + (3 + b) * q->B + q->cp, b);
    for (size_t s = 0; s < q->N; s++)
        burst_symbol(q, c, x + (3 + q->Nc + s) * q->B + q->cp, s);
    if (q->S)
        cal_finish(q, c);
    burst_fill(q, c, burst);
    burst->index = q->bursts;
    return AM_OK;
}

/* Drive the synchroniser and the burst decoder over what is buffered. */
static am_status process(phy_ota_rx *q)
{
    am_status st = AM_OK;
    rx_ctx *c = &q->stream;
    for (;;) {
        if (q->state == RX_DATA) {
            while (c->sym < q->Nc + q->N) {
                int64_t w = c->s0 + (int64_t)((3 + c->sym) * q->B + q->cp - c->backoff);
                const float complex *p = phy_sync_at(q->sync, w, q->M);
                if (!p) {
                    phy_sync_pin(q->sync, w);
                    return st;
                }
                if (c->sym < q->Nc)
                    burst_cal(q, c, p, c->sym);
                else
                    burst_symbol(q, c, p, c->sym - q->Nc);
                c->sym++;
            }
            if (q->S)
                cal_finish(q, c);
            phy_ota_burst b;
            burst_fill(q, c, &b);
            b.index = q->bursts++;
            am_status cs = q->cb(&b, q->user);
            if (cs != AM_OK && st == AM_OK)
                st = cs;
            q->state = RX_SEARCH;
            phy_sync_pin(q->sync, PHY_SYNC_NO_PIN);
            phy_sync_resume(q->sync, c->s0 + (int64_t)q->burst_len);
        }
        phy_sync_result r;
        if (!phy_sync_search(q->sync, &r))
            return st;
        const float complex *x0 = phy_sync_at(q->sync, r.start, 3 * (size_t)q->B);
        if (!x0) { /* a preamble reaching back before the stream start: not decodable */
            phy_sync_resume(q->sync, r.need_end);
            continue;
        }
        c->s0 = r.start;
        c->cfo = r.cfo;
        c->backoff = phy_sync_backoff(q->sync);
        c->metric = r.metric;
        phy_sync_make_rot(q->sync, c->cfo, c->rot);
        burst_setup(q, c, x0, 1);
        q->state = RX_DATA;
    }
}

am_status phy_ota_rx_execute(phy_ota_rx *q, const float complex *x, size_t n)
{
    if (!q || (!x && n))
        return AM_FAIL(AM_EINVAL, "ota_rx: NULL argument");
    if (!q->cb)
        return AM_FAIL(AM_EINVAL, "ota_rx: no callback configured for streaming");
    size_t bad = phy_first_nonfinite((const float *)x, 2 * n);
    if (bad < 2 * n)
        return AM_FAIL(AM_EFORMAT,
                       "ota_rx: sample %zu of this block (stream index %llu) is %g%+gi,"
                       " not finite; block refused",
                       bad / 2, (unsigned long long)(q->samples + bad / 2),
                       (double)crealf(x[bad / 2]), (double)cimagf(x[bad / 2]));
    am_status st = AM_OK;
    while (n > 0) {
        size_t k = phy_sync_append(q->sync, x, n);
        x += k;
        n -= k;
        q->samples += k;
        am_status s = process(q);
        if (s != AM_OK && st == AM_OK)
            st = s;
    }
    return st;
}
