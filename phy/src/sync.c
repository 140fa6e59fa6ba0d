/* phy/sync: stream buffer, Schmidl-Cox detection, CFO, fine timing and preamble estimates
 * (docs/air-interface.md §2, §5, §6). See sync.h.
 *
 * Detection (per sample O(1), vectorisable, no allocation): the stream is cut into blocks of
 * Bd samples; per block the sums P_b = sum r[m] conj(r[m - M/2]), E1_b = sum |r[m]|^2 and
 * E2_b = sum |r[m - M/2]|^2 are kept in a ring of nb blocks (window W = nb Bd ~ M); the metric
 * |P|^2 / (E1 E2) (a squared correlation coefficient, <= 1) is evaluated at every block end, the
 * window sums being re-added from the ring in double each time (no drift on long streams).
 * S0a|S0b is one stretch of 2 (M + cp) samples of period M/2, so the metric has a plateau that
 * ends where S1 starts: the trailing half-maximum crossing, W (1 - 1/sqrt 2) after S1's start,
 * locates S1 roughly. Then: CFO = arg(P)/pi over the S0 stretch; fine timing from S1's impulse
 * response (FFT of the rough S1 window times conj(S1), inverse FFT); gate on its peak-to-mean
 * ratio (~ln M for noise). */
#include "sync.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phy/fft.h"
#include "util.h"

enum { DET_SEARCH, DET_TRACK, DET_HYST, DET_CAND, DET_PAUSED };

/* The tone tracker's state after a background block (sync.h, phy_sync_tone_at). */
typedef struct tone_st {
    int64_t end;      /* the last block it took in ends here (exclusive) */
    double f;         /* frequency, cycles per sample */
    double F;         /* information of f (sum of dt^2 / var(phase) of its measurements) */
    double complex z; /* smoothed complex amplitude at stream index ref */
    int64_t ref;
    double complex zr; /* the last block's own mean, at stream index rref */
    int64_t rref;
    unsigned k; /* blocks taken in */
} tone_st;

#define TONE_RING 256u

struct phy_sync {
    const phy_frame *f;
    unsigned M, cp, B, half, n_used, backoff;
    float thr, gate;
    float scale;    /* sqrt(M_used)/M */
    double cfo_max; /* the integer part's search range, spacings (phy_sync_set_cfo_max; 0: none) */

    /* stream buffer: buf[k] is stream sample base + k; the first M/2 positions before the stream
     * start are zeros */
    float complex *buf;
    size_t cap, len;
    int64_t base, pin;

    /* detector */
    unsigned Bd, nb, nfill, ring_pos;
    double *ringP, *ringE1, *ringE2; /* ringP: re, im interleaved */
    int64_t det_pos;                 /* start of the next detection block */
    int mode;
    float m_max, m_prev;
    double p_re_max, p_im_max;
    int64_t track_start, cand_r1;
    uint64_t rejected;

    /* DC tracker on the input (sync.h): raw sums of the current block in 8 lanes indexed by stream
     * position (the same result however the stream is cut into calls) */
    unsigned dc_blk, dc_n;
    float dc_sr[8], dc_si[8], dc_sp[8];
    uint64_t dc_blocks;
    double complex dc_est;
    double dc_pw;
    int dc_on;
    float complex dc_sub;
    /* the DC subtracted from the samples in the buffer (§5.7: the ADC clipped them before): from
     * stream position dcr_pos[k] on, dcr_val[k] (a ring of dcr_cap changes, dcr_n held, the newest
     * at dcr_head - 1); dcr_n = 0: none was ever subtracted */
    int64_t *dcr_pos;
    float complex *dcr_val;
    unsigned dcr_cap, dcr_n, dcr_head;

    /* detector background (sync.h): lag-M/2 correlation and energy of a window, tracked */
    double complex bg_P;
    double bg_E;
    uint64_t bg_n;
    int bg_on;

    /* tone tracker (sync.h): acquisition (lag-1 correlation of the background), state, and the
     * states after the last TONE_RING background blocks (phy_sync_tone_at rolls back to one) */
    double complex tone_R1;
    unsigned tone_acq;
    int tone_on;
    tone_st tone;
    double tone_share, tone_E;
    tone_st *tring;
    unsigned tring_pos, tring_n;
    float complex *tscr; /* tone_clean's output */
    size_t tscr_len;

    /* FFT and scratch */
    phy_fft *fwd, *bwd;
    float complex *rot, *Y;
    double complex *num; /* preamble MRC accumulators, M each */
    double *den;
    /* server preamble (phy_sync_preamble_rx): the three windows (copied, declipped in place), their
     * bin values, and the clipped-rail marks (bit 0 re top, 1 re bottom, 2 im top, 3 im bottom) */
    float complex *pw, *pY;
    unsigned char *clip;
    float complex *ptone; /* the tone's samples in the three preamble windows */
    float clev[4];        /* clip levels: re top, re bottom, im top, im bottom */
    /* a data symbol's declipping on its clipped samples only (sparse_declip): e^{j 2 pi n / M},
     * h[n] = sum over the null and pilot bins i of e^{j 2 pi i n / M}, those bins' indices (pilots
     * first), and scratch for PHY_SYNC_SPARSE_MAX samples */
    double complex *tw, *h;
    float complex *hp; /* preamble (sparse_pre_declip): H_bc[n], 9 x M */
    unsigned *np_bins, n_np, n_p;
    unsigned *sp_t, sparse_max;
    double complex *sp_K, *sp_v;
};

/* The tables of sparse_declip (struct phy_sync). */
static void sparse_tables(phy_sync *q)
{
    const unsigned M = q->M;
    const unsigned char *sct = phy_frame_sctype(q->f);
    for (unsigned n = 0; n < M; n++)
        q->tw[n] = cexp(I * (2.0 * M_PI * (double)n / (double)M));
    q->n_np = 0;
    for (unsigned i = 0; i < M; i++)
        if (sct[i] == PHY_SCTYPE_PILOT)
            q->np_bins[q->n_np++] = i;
    q->n_p = q->n_np;
    for (unsigned i = 0; i < M; i++)
        if (sct[i] == PHY_SCTYPE_NULL)
            q->np_bins[q->n_np++] = i;
    for (unsigned n = 0; n < M; n++) {
        double complex a = 0.0;
        for (unsigned k = 0; k < q->n_np; k++)
            a += q->tw[(size_t)q->np_bins[k] * n % M];
        q->h[n] = a;
    }
}

void phy_sync_set_sparse_max(phy_sync *q, unsigned n)
{
    q->sparse_max = n < PHY_SYNC_SPARSE_MAX ? n : PHY_SYNC_SPARSE_MAX;
}

/* sparse_pre_declip's kernels: H_bc[n] = sum over the bins i with D_i = sum_a |X_a[i]|^2 > 0 of
 * X_b[i] conj(X_c[i]) / D_i e^{j 2 pi i n / M} (X: S0a, S0b, S1), at q->hp + (3 b + c) M. */
static void pre_tables(phy_sync *q)
{
    const unsigned M = q->M;
    const float complex *X[3] = {phy_frame_s0a(q->f), phy_frame_s0b(q->f), phy_frame_s1(q->f)};
    for (unsigned b = 0; b < 3; b++)
        for (unsigned c = 0; c < 3; c++) {
            float complex *z = phy_fft_in(q->bwd);
            for (unsigned i = 0; i < M; i++) {
                float D = 0.0f;
                for (unsigned a = 0; a < 3; a++)
                    D += crealf(X[a][i]) * crealf(X[a][i]) + cimagf(X[a][i]) * cimagf(X[a][i]);
                z[i] = D > 0.0f ? phy_cmulc(X[c][i], X[b][i]) / D : 0.0f;
            }
            phy_fft_execute(q->bwd);
            memcpy(q->hp + (size_t)(3 * b + c) * M, phy_fft_out(q->bwd), M * sizeof(float complex));
        }
}

static unsigned backoff_for(unsigned cp)
{
    return cp >= 8 ? 2 : cp / 4;
}

am_status phy_sync_create(const phy_frame *f, float threshold, phy_sync **out)
{
    *out = NULL;
    if (threshold == 0.0f)
        threshold = PHY_SYNC_DEFAULT_THRESHOLD;
    if (!(threshold > 0.0f && threshold < 1.0f))
        return AM_FAIL(AM_EINVAL, "sync: detection threshold %g outside (0, 1)", (double)threshold);
    phy_sync *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "sync: out of memory");
    q->f = f;
    q->M = phy_frame_nfft(f);
    q->cp = phy_frame_cp_len(f);
    q->B = q->M + q->cp;
    q->half = q->M / 2;
    q->n_used = phy_frame_n_used(f);
    q->backoff = backoff_for(q->cp);
    q->thr = threshold;
    q->scale = sqrtf((float)q->n_used) / (float)q->M;
    /* noise: |c|^2 / mean over M lags is ~Exp(1) per lag, max ~ ln M; 3 ln M leaves M^-2 */
    q->gate = 3.0f * logf((float)q->M);
    q->dc_blk = ((q->M < 256 ? 256 : q->M) + 7) / 8 * 8;
    unsigned r = (q->M + 64) / 128;
    q->Bd = 8 * (r ? r : 1);
    q->nb = (q->M + q->Bd - 1) / q->Bd;
    /* retention: what a candidate may reach back to, plus lag and one block */
    size_t span = 4 * (size_t)q->B + 4 * (size_t)q->M + 2 * (size_t)q->nb * q->Bd;
    q->cap = 4 * span + 32768;
    q->buf = phy_fft_alloc(q->cap);
    q->ringP = calloc(2 * q->nb, sizeof(double));
    q->ringE1 = calloc(q->nb, sizeof(double));
    q->ringE2 = calloc(q->nb, sizeof(double));
    q->rot = phy_fft_alloc(q->M);
    q->Y = phy_fft_alloc(q->M);
    q->num = malloc(q->M * sizeof(double complex));
    q->den = malloc(q->M * sizeof(double));
    q->pw = phy_fft_alloc(3 * (size_t)q->M);
    q->pY = phy_fft_alloc(3 * (size_t)q->M);
    q->clip = malloc(3 * (size_t)q->M);
    q->dcr_cap = (unsigned)(q->cap / q->dc_blk) + 8; /* a change per block, and truncate's */
    q->dcr_pos = malloc(q->dcr_cap * sizeof *q->dcr_pos);
    q->dcr_val = malloc(q->dcr_cap * sizeof *q->dcr_val);
    q->tring = malloc(TONE_RING * sizeof *q->tring);
    q->tscr_len = 4 * (size_t)q->B + 2 * (size_t)q->M + 2 * (size_t)q->Bd + 512;
    q->tscr = phy_fft_alloc(q->tscr_len);
    q->ptone = phy_fft_alloc(3 * (size_t)q->M);
    q->tw = malloc(q->M * sizeof(double complex));
    q->h = malloc(q->M * sizeof(double complex));
    q->np_bins = malloc(q->M * sizeof(unsigned));
    q->hp = phy_fft_alloc(9 * (size_t)q->M);
    q->sp_t = malloc(PHY_SYNC_SPARSE_MAX * sizeof(unsigned));
    q->sp_K = malloc((size_t)PHY_SYNC_SPARSE_MAX * PHY_SYNC_SPARSE_MAX * sizeof(double complex));
    q->sp_v = malloc(6 * (size_t)PHY_SYNC_SPARSE_MAX * sizeof(double complex));
    if (!q->tw || !q->h || !q->hp || !q->np_bins || !q->sp_t || !q->sp_K || !q->sp_v) {
        phy_sync_destroy(q);
        return AM_FAIL(AM_ENOMEM, "sync: out of memory");
    }
    sparse_tables(q);
    q->sparse_max = PHY_SYNC_SPARSE_MAX;
    if (!q->buf || !q->ringP || !q->ringE1 || !q->ringE2 || !q->rot || !q->Y || !q->num ||
        !q->den || !q->pw || !q->pY || !q->clip || !q->tring || !q->ptone || !q->tscr ||
        !q->dcr_pos || !q->dcr_val) {
        phy_sync_destroy(q);
        return AM_FAIL(AM_ENOMEM, "sync: out of memory");
    }
    phy_fft_cfg fc = {.n = q->M, .howmany = 1, .dir = PHY_FFT_FORWARD};
    am_status s = phy_fft_create(&fc, &q->fwd);
    fc.dir = PHY_FFT_BACKWARD;
    if (s == AM_OK)
        s = phy_fft_create(&fc, &q->bwd);
    if (s != AM_OK) {
        phy_sync_destroy(q);
        return s;
    }
    pre_tables(q);
    phy_sync_reset(q);
    *out = q;
    return AM_OK;
}

void phy_sync_destroy(phy_sync *q)
{
    if (!q)
        return;
    phy_fft_free(q->buf);
    free(q->ringP);
    free(q->ringE1);
    free(q->ringE2);
    phy_fft_free(q->rot);
    phy_fft_free(q->Y);
    free(q->num);
    free(q->den);
    phy_fft_free(q->pw);
    phy_fft_free(q->pY);
    free(q->clip);
    free(q->dcr_pos);
    free(q->dcr_val);
    free(q->tring);
    phy_fft_free(q->tscr);
    phy_fft_free(q->ptone);
    free(q->tw);
    free(q->h);
    phy_fft_free(q->hp);
    free(q->np_bins);
    free(q->sp_t);
    free(q->sp_K);
    free(q->sp_v);
    phy_fft_destroy(q->fwd);
    phy_fft_destroy(q->bwd);
    free(q);
}

static void det_restart(phy_sync *q, int64_t pos)
{
    q->det_pos = pos;
    q->nfill = 0;
    q->ring_pos = 0;
    q->mode = DET_SEARCH;
    q->m_max = q->m_prev = 0.0f;
}

void phy_sync_reset(phy_sync *q)
{
    memset(q->buf, 0, q->half * sizeof(float complex));
    q->len = q->half;
    q->base = -(int64_t)q->half;
    q->pin = PHY_SYNC_NO_PIN;
    q->rejected = 0;
    q->dc_n = 0;
    memset(q->dc_sr, 0, sizeof q->dc_sr);
    memset(q->dc_si, 0, sizeof q->dc_si);
    memset(q->dc_sp, 0, sizeof q->dc_sp);
    q->dc_blocks = 0;
    q->dc_est = 0.0;
    q->dc_pw = 0.0;
    q->dc_on = 0;
    q->dc_sub = 0.0f;
    q->dcr_n = q->dcr_head = 0;
    q->bg_P = 0.0;
    q->bg_E = 0.0;
    q->bg_n = 0;
    q->bg_on = 0;
    q->tone_R1 = 0.0;
    q->tone_E = 0.0;
    q->tone_share = 0.0;
    q->tone_acq = 0;
    q->tone_on = 0;
    q->tring_pos = q->tring_n = 0;
    det_restart(q, 0);
}

am_status phy_sync_set_cfo_max(phy_sync *q, double cfo_max)
{
    if (!(cfo_max >= 0.0 && cfo_max <= (double)(q->M / 8)))
        return AM_FAIL(AM_EINVAL, "sync: carrier-offset range %g spacings is outside 0..M/8 = %u",
                       cfo_max, q->M / 8);
    q->cfo_max = cfo_max;
    return AM_OK;
}

unsigned phy_sync_backoff(const phy_sync *q)
{
    return q->backoff;
}

uint64_t phy_sync_rejected(const phy_sync *q)
{
    return q->rejected;
}

int64_t phy_sync_end(const phy_sync *q)
{
    return q->base + (int64_t)q->len;
}

void phy_sync_pin(phy_sync *q, int64_t pos)
{
    q->pin = pos;
}

const float complex *phy_sync_at(const phy_sync *q, int64_t pos, size_t len)
{
    if (pos < q->base || pos + (int64_t)len > q->base + (int64_t)q->len)
        return NULL;
    return q->buf + (pos - q->base);
}

/* Oldest sample anything may still read. */
static int64_t keep_from(const phy_sync *q)
{
    int64_t k = q->pin;
    int64_t d;
    if (q->mode == DET_CAND)
        d = q->cand_r1 - 2 * (int64_t)q->B - (int64_t)q->M - (int64_t)q->cp;
    else if (q->mode == DET_PAUSED)
        d = PHY_SYNC_NO_PIN;
    else
        d = q->det_pos - (int64_t)(2 * q->nb * q->Bd + 3 * q->B + q->M);
    if (d < k)
        k = d;
    return k;
}

/* The DC subtracted from position pos on is v (dcr ring; the first change is recorded only
 * when v is not 0, so a stream that never had one keeps an empty ring). */
static void dc_record(phy_sync *q, int64_t pos, float complex v)
{
    const float complex last =
        q->dcr_n ? q->dcr_val[(q->dcr_head + q->dcr_cap - 1) % q->dcr_cap] : 0.0f;
    if (v == last)
        return;
    q->dcr_pos[q->dcr_head] = pos;
    q->dcr_val[q->dcr_head] = v;
    q->dcr_head = (q->dcr_head + 1) % q->dcr_cap;
    if (q->dcr_n < q->dcr_cap)
        q->dcr_n++;
}

/* The DC tracker over n samples just appended at x (in place): block means (blocks of dc_blk
 * samples from the stream start) averaged, running mean over the first 16 blocks then one-pole
 * 1/16; subtracted from the following samples while |DC|^2 > max(1%, 40 / (k dc_blk)) of the mean
 * input power after k blocks (off again under 0.1%). Noise alone: |DC est|^2 ~ P / (k dc_blk),
 * 40x under the switch (probability e^-40), so a stream without a DC offset goes through bit for
 * bit. */
static void dc_track(phy_sync *q, float complex *x, size_t n)
{
    const int64_t pos0 = q->base + (int64_t)q->len; /* x[0]'s stream position */
    size_t t = 0;
    while (t < n) {
        size_t seg = q->dc_blk - q->dc_n;
        if (seg > n - t)
            seg = n - t;
        float *v = (float *)(x + t);
        for (size_t k = 0; k < seg; k++) {
            unsigned l = (unsigned)((q->dc_n + k) & 7u);
            float re = v[2 * k], im = v[2 * k + 1];
            q->dc_sr[l] += re;
            q->dc_si[l] += im;
            q->dc_sp[l] += re * re + im * im;
        }
        if (q->dc_on) {
            const float dr = crealf(q->dc_sub), di = cimagf(q->dc_sub);
            for (size_t k = 0; k < seg; k++) {
                v[2 * k] -= dr;
                v[2 * k + 1] -= di;
            }
        }
        q->dc_n += (unsigned)seg;
        t += seg;
        if (q->dc_n < q->dc_blk)
            break;
        double sr = 0, si = 0, sp = 0;
        for (unsigned l = 0; l < 8; l++) {
            sr += q->dc_sr[l];
            si += q->dc_si[l];
            sp += q->dc_sp[l];
            q->dc_sr[l] = q->dc_si[l] = q->dc_sp[l] = 0.0f;
        }
        q->dc_n = 0;
        const double nb = (double)q->dc_blk;
        q->dc_blocks++;
        double a = q->dc_blocks < 16 ? 1.0 / (double)q->dc_blocks : 1.0 / 16.0;
        q->dc_est += a * ((sr + I * si) / nb - q->dc_est);
        q->dc_pw += a * (sp / nb - q->dc_pw);
        double d2 = creal(q->dc_est) * creal(q->dc_est) + cimag(q->dc_est) * cimag(q->dc_est);
        /* on: over 1% and 40x the estimate's noise variance P / (k dc_blk) after k blocks (the
         * one-pole average holds ~31 blocks), so a strong DC is taken out from the first blocks */
        double kb = (double)(q->dc_blocks < 31 ? q->dc_blocks : 31) * nb;
        double on = 40.0 / kb > 1e-2 ? 40.0 / kb : 1e-2;
        q->dc_on = q->dc_on ? d2 > 1e-3 * q->dc_pw : d2 > on * q->dc_pw;
        q->dc_sub = q->dc_on ? (float complex)q->dc_est : 0.0f;
        dc_record(q, pos0 + (int64_t)t, q->dc_sub);
    }
}

size_t phy_sync_append(phy_sync *q, const float complex *x, size_t n)
{
    if (n == 0)
        return 0;
    if (q->len == q->cap || q->cap - q->len < n) {
        int64_t k = keep_from(q);
        if (k > q->base + (int64_t)q->len)
            k = q->base + (int64_t)q->len;
        if (k > q->base) {
            size_t drop = (size_t)(k - q->base);
            memmove(q->buf, q->buf + drop, (q->len - drop) * sizeof(float complex));
            q->len -= drop;
            q->base = k;
        }
    }
    size_t take = q->cap - q->len < n ? q->cap - q->len : n;
    memcpy(q->buf + q->len, x, take * sizeof(float complex));
    dc_track(q, q->buf + q->len, take);
    q->len += take;
    return take;
}

void phy_sync_truncate(phy_sync *q, int64_t end)
{
    if (end < q->base + (int64_t)q->len && end >= q->base) {
        q->len = (size_t)(end - q->base);
        /* the samples appended from end on get the current subtraction */
        while (q->dcr_n && q->dcr_pos[(q->dcr_head + q->dcr_cap - 1) % q->dcr_cap] >= end) {
            q->dcr_head = (q->dcr_head + q->dcr_cap - 1) % q->dcr_cap;
            q->dcr_n--;
        }
        dc_record(q, end, q->dc_sub);
    }
}

/* The DC subtracted from stream positions pos..pos+n-1 into d[0..n); 0 (d untouched) when none
 * was subtracted there. */
static int dc_window(const phy_sync *q, int64_t pos, size_t n, float complex *d)
{
    const unsigned cap = q->dcr_cap, first = (q->dcr_head + cap - q->dcr_n) % cap;
    const int64_t stop = pos + (int64_t)n;
    int any = 0;
    for (int pass = 0; pass < 2; pass++) { /* 0: is any of it not 0; 1: fill */
        for (unsigned j = 0; j < q->dcr_n; j++) {
            const unsigned e = (first + j) % cap;
            const int64_t a = q->dcr_pos[e];
            const int64_t b = j + 1 < q->dcr_n ? q->dcr_pos[(e + 1) % cap] : INT64_MAX;
            if (a >= stop)
                break;
            if (b <= pos || q->dcr_val[e] == 0.0f)
                continue;
            if (!pass) {
                any = 1;
                break;
            }
            const size_t lo = a > pos ? (size_t)(a - pos) : 0,
                         hi = b < stop ? (size_t)(b - pos) : n;
            for (size_t t = lo; t < hi; t++)
                d[t] = q->dcr_val[e];
        }
        if (!any)
            return 0;
        if (!pass)
            for (size_t t = 0; t < n; t++)
                d[t] = 0.0f;
    }
    return 1;
}

int phy_sync_adc_window(const phy_sync *q,
                        int64_t pos,
                        const float complex **w,
                        const float complex **tone,
                        float complex *wbuf,
                        float complex *tbuf)
{
    const unsigned M = q->M;
    if (!dc_window(q, pos, M, wbuf))
        return 0;
    const float complex *x = *w, *tn = *tone; /* tn may be tbuf itself */
    for (unsigned t = 0; t < M; t++) {
        const float complex d = wbuf[t];
        tbuf[t] = tn ? tn[t] + d : d;
        wbuf[t] = x[t] + d;
    }
    *w = wbuf;
    *tone = tbuf;
    return 1;
}

void phy_sync_resume(phy_sync *q, int64_t pos)
{
    det_restart(q, pos);
}

/* Sums of one detection block starting at a (lag M/2 samples back). Eight independent lanes so
 * that the compiler vectorises without reassociating (same result on every run). */
static void block_sums(const float complex *a, unsigned n, unsigned half, double out[4])
{
    const float *x = (const float *)a;
    const float *y = (const float *)(a - half);
    float pr[8] = {0}, pi[8] = {0}, e1[8] = {0}, e2[8] = {0};
    unsigned t = 0;
    for (; t + 8 <= n; t += 8)
        for (unsigned l = 0; l < 8; l++) {
            float xr = x[2 * (t + l)], xi = x[2 * (t + l) + 1];
            float yr = y[2 * (t + l)], yi = y[2 * (t + l) + 1];
            pr[l] += xr * yr + xi * yi;
            pi[l] += xi * yr - xr * yi;
            e1[l] += xr * xr + xi * xi;
            e2[l] += yr * yr + yi * yi;
        }
    for (; t < n; t++) {
        float xr = x[2 * t], xi = x[2 * t + 1], yr = y[2 * t], yi = y[2 * t + 1];
        pr[0] += xr * yr + xi * yi;
        pi[0] += xi * yr - xr * yi;
        e1[0] += xr * xr + xi * xi;
        e2[0] += yr * yr + yi * yi;
    }
    double s[4] = {0, 0, 0, 0};
    for (unsigned l = 0; l < 8; l++) {
        s[0] += pr[l];
        s[1] += pi[l];
        s[2] += e1[l];
        s[3] += e2[l];
    }
    memcpy(out, s, sizeof s);
}

/* Lag-M/2 correlation over [a, b) in double (CFO estimate). */
static const float complex *tone_clean(phy_sync *q, int64_t a, size_t n);

static double complex corr_half(phy_sync *q, int64_t a, int64_t b)
{
    double complex acc = 0;
    int64_t n = b - a;
    const float complex *x = tone_clean(q, a - (int64_t)q->half, (size_t)n + q->half) + q->half;
    for (int64_t t0 = 0; t0 < n; t0 += 256) {
        unsigned len = (unsigned)(n - t0 < 256 ? n - t0 : 256);
        double s[4];
        block_sums(x + t0, len, q->half, s);
        acc += s[0] + I * s[1];
    }
    return acc;
}

void phy_sync_make_rot(const phy_sync *q, double cfo, float complex *rot)
{
    double w = -2.0 * M_PI * cfo / (double)q->M;
    for (unsigned t = 0; t < q->M; t++)
        rot[t] = (float complex)((double)q->scale * cexp(I * (w * (double)t)));
}

float complex phy_sync_phase(const phy_sync *q, double cfo, int64_t pos, int64_t anchor)
{
    double ph = fmod(-2.0 * M_PI * cfo * (double)(pos - anchor) / (double)q->M, 2.0 * M_PI);
    return (float complex)cexp(I * ph);
}

void phy_sync_block_fft(phy_sync *q,
                        const float complex *w,
                        const float complex *rot,
                        float complex ph,
                        float complex *R)
{
    phy_sync_block_fft_iq(q, w, rot, ph, 0.0f, NULL, R);
}

void phy_sync_block_fft_iq(phy_sync *q,
                           const float complex *w,
                           const float complex *rot,
                           float complex ph,
                           float complex iqw,
                           const float complex *tone,
                           float complex *R)
{
    float complex *in = phy_fft_in(q->fwd);
    if (tone)
        for (unsigned t = 0; t < q->M; t++) {
            const float complex v = w[t] - tone[t];
            in[t] = phy_cmul(v - phy_cmul(iqw, conjf(v)), rot[t]);
        }
    else if (iqw == 0.0f)
        for (unsigned t = 0; t < q->M; t++)
            in[t] = phy_cmul(w[t], rot[t]);
    else
        for (unsigned t = 0; t < q->M; t++)
            in[t] = phy_cmul(w[t] - phy_cmul(iqw, conjf(w[t])), rot[t]);
    phy_fft_execute(q->fwd);
    const float complex *o = phy_fft_out(q->fwd);
    for (unsigned i = 0; i < q->M; i++)
        R[i] = phy_cmul(ph, o[i]);
}

/* G (MRC of the blocks carrying each bin) and N0 from the bin values of the three preamble blocks
 * Y[b] (§5.2). */
static void pre_combine(phy_sync *q, const float complex *const Y[3], float complex *G, float *n0)
{
    const unsigned M = q->M;
    const unsigned char *sct = phy_frame_sctype(q->f);
    const float complex *X[3] = {phy_frame_s0a(q->f), phy_frame_s0b(q->f), phy_frame_s1(q->f)};
    double complex *num = q->num;
    double *den = q->den;
    double nsum = 0.0;
    unsigned ncount = 0, n_odd_used = 0;
    for (unsigned i = 1; i < M; i += 2)
        n_odd_used += sct[i] != PHY_SCTYPE_NULL;
    for (unsigned i = 0; i < M; i++) {
        num[i] = 0;
        den[i] = 0;
    }
    for (unsigned b = 0; b < 3; b++) {
        for (unsigned i = 0; i < M; i++) {
            const float complex y = Y[b][i], s = X[b][i];
            if (s != 0.0f) { /* MRC of the blocks that carry bin i */
                num[i] += (double complex)phy_cmulc(s, y);
                den[i] += (double)(crealf(s) * crealf(s) + cimagf(s) * cimagf(s));
            }
            int noise_bin = n_odd_used ? (b < 2 && i % 2 == 1 && sct[i] != PHY_SCTYPE_NULL)
                                       : sct[i] == PHY_SCTYPE_NULL;
            if (noise_bin) {
                nsum += (double)(crealf(y) * crealf(y) + cimagf(y) * cimagf(y));
                ncount++;
            }
        }
    }
    for (unsigned i = 0; i < M; i++)
        G[i] = den[i] > 0.0 ? (float complex)(num[i] / den[i]) : 0.0f;
    *n0 = ncount ? (float)(nsum / ncount) : 0.0f;
}

void phy_sync_preamble(phy_sync *q,
                       const float complex *x0,
                       const float complex *rot,
                       double cfo,
                       unsigned backoff,
                       float complex *G,
                       float *n0)
{
    const unsigned M = q->M, cp = q->cp, B = q->B;
    const float complex *Y[3];
    for (unsigned b = 0; b < 3; b++) {
        int64_t off = (int64_t)b * B + cp - backoff;
        float complex ph = phy_sync_phase(q, cfo, off, 0);
        float complex *Yb = q->pY + (size_t)b * M;
        phy_sync_block_fft(q, x0 + off, rot, ph, Yb);
        Y[b] = Yb;
    }
    pre_combine(q, Y, G, n0);
}

/* Marks the clipped rail samples of x[0..n) in q->clip (sync.h): the clip level *level is the
 * largest extreme (per rail and side) taken by at least 3 samples (a continuous or finely quantised
 * signal reaches its maximum once); *peak the largest rail magnitude. Returns the number of samples
 * marked (0: not clipped, q->clip and *level untouched).
 * Two vectorisable passes (8 lanes: even lanes I, odd lanes Q) while nothing is clipped. */
static unsigned clip_mark_at(phy_sync *q, const float complex *x, size_t n, float L);

static unsigned clip_mark(phy_sync *q, const float complex *x, size_t n, float *peak, float *level)
{
    const float *v = (const float *)x;
    const size_t n2 = 2 * n; /* n2 % 8 == 0 for the window sizes used (M >= 64) */
    float hi8[8], lo8[8];
    for (unsigned l = 0; l < 8; l++)
        hi8[l] = lo8[l] = v[l % 2];
    size_t k = 0;
    for (; k + 8 <= n2; k += 8)
        for (unsigned l = 0; l < 8; l++) {
            hi8[l] = v[k + l] > hi8[l] ? v[k + l] : hi8[l];
            lo8[l] = v[k + l] < lo8[l] ? v[k + l] : lo8[l];
        }
    for (; k < n2; k++) {
        hi8[k % 2] = v[k] > hi8[k % 2] ? v[k] : hi8[k % 2];
        lo8[k % 2] = v[k] < lo8[k % 2] ? v[k] : lo8[k % 2];
    }
    float hi[2] = {hi8[0], hi8[1]}, lo[2] = {lo8[0], lo8[1]};
    for (unsigned l = 2; l < 8; l++) {
        hi[l % 2] = fmaxf(hi[l % 2], hi8[l]);
        lo[l % 2] = fminf(lo[l % 2], lo8[l]);
    }
    *peak = fmaxf(fmaxf(hi[0], hi[1]), fmaxf(-lo[0], -lo[1]));
    float h8[8], l8[8];
    int nh8[8] = {0}, nl8[8] = {0};
    for (unsigned l = 0; l < 8; l++) {
        h8[l] = hi[l % 2];
        l8[l] = lo[l % 2];
    }
    for (k = 0; k + 8 <= n2; k += 8)
        for (unsigned l = 0; l < 8; l++) {
            nh8[l] += v[k + l] == h8[l];
            nl8[l] += v[k + l] == l8[l];
        }
    for (; k < n2; k++) {
        nh8[k % 2] += v[k] == h8[k % 2];
        nl8[k % 2] += v[k] == l8[k % 2];
    }
    unsigned nhi[2] = {0, 0}, nlo[2] = {0, 0};
    for (unsigned l = 0; l < 8; l++) {
        nhi[l % 2] += (unsigned)nh8[l];
        nlo[l % 2] += (unsigned)nl8[l];
    }
    /* the clip level L: the largest extreme reached by at least 3 samples on its side; every rail
     * within 1e-3 of it (either sign: an ADC clips both rails and sides at about the same level)
     * is marked */
    float L = 0.0f;
    for (unsigned r = 0; r < 2; r++) {
        if (nhi[r] >= 3)
            L = fmaxf(L, hi[r]);
        if (nlo[r] >= 3)
            L = fmaxf(L, -lo[r]);
    }
    if (!(L > 0.0f))
        return 0;
    *level = L;
    return clip_mark_at(q, x, n, L);
}

/* Marks the rails of x[0..n) within 1e-3 of the clip level +-L (q->clip, q->clev). */
static unsigned clip_mark_at(phy_sync *q, const float complex *x, size_t n, float L)
{
    const float *v = (const float *)x;
    q->clev[0] = q->clev[2] = L;
    q->clev[1] = q->clev[3] = -L;
    const float Lm = L * (1.0f - 1e-3f);
    unsigned marks = 0;
    memset(q->clip, 0, n);
    for (size_t t0 = 0; t0 < n; t0 += 32) { /* blocks of 32 samples: most have no rail there */
        const size_t e = t0 + 32 < n ? t0 + 32 : n;
        float mx8[8] = {0};
        size_t k = 2 * t0;
        for (; k + 8 <= 2 * e; k += 8)
            for (unsigned l = 0; l < 8; l++) {
                const float a = fabsf(v[k + l]);
                mx8[l] = a > mx8[l] ? a : mx8[l];
            }
        for (; k < 2 * e; k++)
            mx8[0] = fmaxf(mx8[0], fabsf(v[k]));
        float mx = 0.0f;
        for (unsigned l = 0; l < 8; l++)
            mx = fmaxf(mx, mx8[l]);
        if (mx < Lm)
            continue;
        for (size_t t = t0; t < e; t++) {
            const float re = v[2 * t], im = v[2 * t + 1];
            const unsigned m = (unsigned)(re >= Lm) | (unsigned)(re <= -Lm) << 1 |
                               (unsigned)(im >= Lm) << 2 | (unsigned)(im <= -Lm) << 3;
            q->clip[t] = (unsigned char)m;
            marks += m != 0;
        }
    }
    return marks;
}

/* Replaces the marked rails (cm) of the window copy w (M samples) by the prediction: the inverse
 * FFT of what the caller put in q->bwd's input (bin values times conj(ph)) taken back through the
 * derotation, the IQ correction and the tone's removal (tone: NULL or its M samples), where beyond
 * the rail's clip level, else the level. Returns the largest change of a rail. */
static float clip_fill(phy_sync *q,
                       float complex *w,
                       const unsigned char *cm,
                       const float complex *rot,
                       float complex iqw,
                       const float complex *tone)
{
    float moved = 0.0f;
    const unsigned M = q->M;
    const float k = 1.0f / ((float)M * q->scale * q->scale);
    const float den = 1.0f - (crealf(iqw) * crealf(iqw) + cimagf(iqw) * cimagf(iqw));
    phy_fft_execute(q->bwd);
    const float complex *o = phy_fft_out(q->bwd);
    for (unsigned t = 0; t < M; t++) {
        if (!cm[t])
            continue;
        float complex c = k * phy_cmulc(rot[t], o[t]);
        float complex p = (c + phy_cmul(iqw, conjf(c))) / den + (tone ? tone[t] : 0.0f);
        float re = crealf(w[t]), im = cimagf(w[t]);
        if (cm[t] & 1u)
            re = fmaxf(q->clev[0], crealf(p));
        else if (cm[t] & 2u)
            re = fminf(q->clev[1], crealf(p));
        if (cm[t] & 4u)
            im = fmaxf(q->clev[2], cimagf(p));
        else if (cm[t] & 8u)
            im = fminf(q->clev[3], cimagf(p));
        moved = fmaxf(moved, fmaxf(fabsf(re - crealf(w[t])), fabsf(im - cimagf(w[t]))));
        w[t] = CMPLXF(re, im);
    }
    return moved; /* the largest change of a rail */
}

static inline double complex dmul(double complex a, double complex b)
{
    const double ar = creal(a), ai = cimag(a), br = creal(b), bi = cimag(b);
    return CMPLX(ar * br - ai * bi, ar * bi + ai * br);
}

/* The indices of the marked samples among q->clip[0..n) into q->sp_t (at most sparse_max of
 * them: the caller counted them); returns how many. */
static unsigned collect_marks(phy_sync *q, size_t n)
{
    unsigned m = 0;
    size_t t = 0;
    for (; t + 8 <= n; t += 8) { /* eight marks at a time: few are set */
        uint64_t c8;
        memcpy(&c8, q->clip + t, sizeof c8);
        if (c8)
            for (unsigned l = 0; l < 8; l++)
                if (q->clip[t + l])
                    q->sp_t[m++] = (unsigned)(t + l);
    }
    for (; t < n; t++)
        if (q->clip[t])
            q->sp_t[m++] = (unsigned)t;
    return m;
}

/* One rail update of clip_fill's at window sample pw[t] (marks cm) from the prediction p;
 * returns the change of the sample. */
static inline float complex rail_step(const phy_sync *q, float complex *pw, unsigned char cm,
                                      float complex p)
{
    float re = crealf(*pw), im = cimagf(*pw);
    if (cm & 1u)
        re = fmaxf(q->clev[0], crealf(p));
    else if (cm & 2u)
        re = fminf(q->clev[1], crealf(p));
    if (cm & 4u)
        im = fmaxf(q->clev[2], cimagf(p));
    else if (cm & 8u)
        im = fminf(q->clev[3], cimagf(p));
    const float complex d = CMPLXF(re - crealf(*pw), im - cimagf(*pw));
    *pw = CMPLXF(re, im);
    return d;
}

/* phy_sync_preamble_rx's declipping iterations on the m clipped samples sp_t[] of the three
 * windows q->pw alone (the FFT form's iteration exactly, in exact arithmetic; sync.h). Sample t of
 * window b is predicted c = a_bt sum_i G_i X_b[i] e^{j 2 pi i t / M}, a_bt = conj(ph_b rot_t) /
 * (M scale^2), and taken back through the IQ correction and the tone as clip_fill does; the first
 * prediction is clip_fill's (an inverse FFT per window); a change d_s of window c's sample s moves
 * R_c[i] by ph_c rot_s d'_s e^{-j 2 pi i s / M}, d'_s = d_s - iqw conj(d_s), so G_i by conj(X_c[i])
 * / D_i times that and the prediction at (b, t) by a_bt ph_c rot_s H_bc[t - s] d'_s (pre_tables).
 * The caller transforms the declipped windows and combines them. */
static void sparse_pre_declip(phy_sync *q,
                              unsigned m,
                              const float complex *rot,
                              const float complex ph[3],
                              float complex iqw,
                              const float complex *tone, /* NULL or 3 x M */
                              const float complex *G,
                              const float complex *const X[3])
{
    const unsigned M = q->M;
    const unsigned *tt = q->sp_t;
    double complex *K = q->sp_K, *pred = q->sp_v, *dp = pred + m;
    const float k = 1.0f / ((float)M * q->scale * q->scale);
    const double complex iqd = (double complex)iqw;
    const float den = 1.0f - (crealf(iqw) * crealf(iqw) + cimagf(iqw) * cimagf(iqw));
    unsigned a = 0;
    for (unsigned b = 0; b < 3 && a < m; b++) {
        if (tt[a] >= (b + 1) * M)
            continue; /* no mark in window b */
        float complex *z = phy_fft_in(q->bwd);
        for (unsigned i = 0; i < M; i++)
            z[i] = phy_cmulc(ph[b], phy_cmul(G[i], X[b][i]));
        phy_fft_execute(q->bwd);
        const float complex *o = phy_fft_out(q->bwd);
        for (; a < m && tt[a] < (b + 1) * M; a++) {
            const unsigned t = tt[a] - b * M;
            pred[a] = (double complex)(k * phy_cmulc(rot[t], o[t]));
        }
    }
    for (a = 0; a < m; a++) {
        const unsigned b = tt[a] / M, t = tt[a] % M;
        const double complex at =
            (double)k * conj(dmul((double complex)ph[b], (double complex)rot[t]));
        for (unsigned e = 0; e < m; e++) {
            const unsigned c = tt[e] / M, s2 = tt[e] % M;
            const double complex bc =
                dmul((double complex)ph[c], (double complex)rot[s2]);
            K[(size_t)a * m + e] =
                dmul(dmul(at, bc), (double complex)q->hp[(size_t)(3 * b + c) * M + (t + M - s2) % M]);
        }
    }
    for (unsigned it = 0; it < PHY_SYNC_DECLIP_ITER; it++) {
        float moved = 0.0f;
        for (a = 0; a < m; a++) {
            const unsigned j = tt[a];
            const double complex c = pred[a];
            const double complex pc = c + dmul(iqd, conj(c));
            const float complex p = CMPLXF((float)creal(pc) / den, (float)cimag(pc) / den) +
                                    (tone ? tone[j] : 0.0f);
            const float complex d = rail_step(q, q->pw + j, q->clip[j], p);
            moved = fmaxf(moved, fmaxf(fabsf(crealf(d)), fabsf(cimagf(d))));
            const double complex dd = (double complex)d;
            dp[a] = dd - dmul(iqd, conj(dd));
        }
        for (a = 0; a < m; a++) {
            double ar = 0.0, ai = 0.0;
            for (unsigned e = 0; e < m; e++) {
                const double complex c = dmul(K[(size_t)a * m + e], dp[e]);
                ar += creal(c);
                ai += cimag(c);
            }
            pred[a] += CMPLX(ar, ai);
        }
        if (moved < PHY_SYNC_DECLIP_TOL * q->clev[0])
            break;
    }
}

void phy_sync_preamble_rx(phy_sync *q,
                          const float complex *x0,
                          const float complex *rot,
                          double cfo,
                          unsigned backoff,
                          float complex iqw,
                          const phy_sync_tone *tone,
                          int64_t pos0,
                          float complex *G,
                          float *n0,
                          phy_sync_pre_info *info)
{
    const unsigned M = q->M, cp = q->cp, B = q->B;
    const int has_tone = tone && tone->on;
    const float complex *X[3] = {phy_frame_s0a(q->f), phy_frame_s0b(q->f), phy_frame_s1(q->f)};
    const float complex *Y[3];
    float complex ph[3];
    int has_dc = 0; /* the DC tracker subtracted a DC from the windows: back to the ADC's values */
    for (unsigned b = 0; b < 3; b++) {
        int64_t off = (int64_t)b * B + cp - backoff;
        ph[b] = phy_sync_phase(q, cfo, off, 0);
        Y[b] = q->pY + (size_t)b * M;
        const float complex *w = x0 + off, *t = NULL;
        if (has_tone) {
            phy_sync_tone_window(tone, pos0 + off, M, q->ptone + (size_t)b * M);
            t = q->ptone + (size_t)b * M;
        }
        if (pos0 != PHY_SYNC_NOT_STREAM &&
            phy_sync_adc_window(q, pos0 + off, &w, &t, q->pw + (size_t)b * M,
                                q->ptone + (size_t)b * M)) {
            if (!has_tone && !has_dc)
                for (unsigned c = 0; c < b; c++)
                    memset(q->ptone + (size_t)c * M, 0, M * sizeof(float complex));
            has_dc = 1;
        } else {
            memcpy(q->pw + (size_t)b * M, w, M * sizeof(float complex));
            if (!has_tone && has_dc)
                memset(q->ptone + (size_t)b * M, 0, M * sizeof(float complex));
        }
    }
#define PTONE(b) (has_tone || has_dc ? q->ptone + (size_t)(b)*M : NULL)
    for (unsigned b = 0; b < 3; b++)
        phy_sync_block_fft_iq(q, q->pw + (size_t)b * M, rot, ph[b], iqw, PTONE(b),
                              q->pY + (size_t)b * M);
    pre_combine(q, Y, G, n0);
    info->level = 0.0f;
    info->clipped = clip_mark(q, q->pw, 3 * (size_t)M, &info->peak, &info->level);
    /* declipping (§5.2): the clipped rails take the value the current G predicts where it is
     * beyond the rail's clip level, else the level; G and N0 again; PHY_SYNC_DECLIP_ITER times */
    if (info->clipped && info->clipped <= q->sparse_max) {
        sparse_pre_declip(q, collect_marks(q, 3 * (size_t)M), rot, ph, iqw,
                          has_tone || has_dc ? q->ptone : NULL, G, X);
        for (unsigned b = 0; b < 3; b++)
            phy_sync_block_fft_iq(q, q->pw + (size_t)b * M, rot, ph[b], iqw, PTONE(b),
                                  q->pY + (size_t)b * M);
        pre_combine(q, Y, G, n0);
    }
    for (unsigned it = 0; info->clipped > q->sparse_max && it < PHY_SYNC_DECLIP_ITER; it++) {
        float moved = 0.0f;
        for (unsigned b = 0; b < 3; b++) {
            float complex *z = phy_fft_in(q->bwd);
            for (unsigned i = 0; i < M; i++)
                z[i] = phy_cmulc(ph[b], phy_cmul(G[i], X[b][i]));
            moved = fmaxf(moved, clip_fill(q, q->pw + (size_t)b * M, q->clip + (size_t)b * M, rot,
                                           iqw, PTONE(b)));
        }
        for (unsigned b = 0; b < 3; b++)
            phy_sync_block_fft_iq(q, q->pw + (size_t)b * M, rot, ph[b], iqw, PTONE(b),
                                  q->pY + (size_t)b * M);
        pre_combine(q, Y, G, n0);
        if (moved < PHY_SYNC_DECLIP_TOL * q->clev[0])
            break;
    }
    /* residual image (§5.2): on each even used bin i whose mirror m = -i is used,
     * Y_b[i] = G[i] X_b[i] + w conj(G[m] X_b[m]) + noise over the three blocks; the image
     * regressor p_b = conj(G[m] X_b[m]) projected orthogonally to X_b[i] (G[i] is free) */
    double num_r = 0.0, num_i = 0.0, dsum = 0.0;
    float complex e2[3];
    const unsigned char *sct = phy_frame_sctype(q->f);
    /* the image of a signal derotated by the offset keeps twice the offset: on block b, at the
     * middle of its window, a phase ph_b^2 e^{-j 2 pi cfo (M - 1) / M} */
    const float complex mid = (float complex)cexp(-I * 2.0 * M_PI * cfo * (double)(M - 1) / M);
    for (unsigned b = 0; b < 3; b++)
        e2[b] = phy_cmul(phy_cmul(ph[b], ph[b]), mid);
    for (unsigned i = 2; i < M; i += 2) {
        const unsigned m = M - i;
        if (sct[i] == PHY_SCTYPE_NULL || sct[m] == PHY_SCTYPE_NULL)
            continue;
        float complex p[3], xp = 0.0f;
        float xx = 0.0f;
        for (unsigned b = 0; b < 3; b++) {
            p[b] = phy_cmul(e2[b], conjf(phy_cmul(G[m], X[b][m])));
            xp += phy_cmulc(X[b][i], p[b]);
            xx += crealf(X[b][i]) * crealf(X[b][i]) + cimagf(X[b][i]) * cimagf(X[b][i]);
        }
        xp /= xx;
        for (unsigned b = 0; b < 3; b++) {
            const float complex pp = p[b] - phy_cmul(X[b][i], xp);
            const float complex c = phy_cmulc(pp, Y[b][i]);
            num_r += (double)crealf(c);
            num_i += (double)cimagf(c);
            dsum += (double)(crealf(pp) * crealf(pp) + cimagf(pp) * cimagf(pp));
        }
    }
#undef PTONE
    const double complex num = CMPLX(num_r, num_i);
    info->iq_num = num;
    info->iq_den = dsum;
}

/* phy_sync_symbol_rx's declipping iterations on the m clipped samples sp_t[] of the window copy
 * q->pw alone, in closed form (the FFT form's iteration exactly, in exact arithmetic; sync.h):
 *   prediction p_t = pw_t + (D_t + iqw conj D_t) / (1 - |iqw|^2),
 *   D_t = a_t (u pilot T_t - Q_t), a_t = conj(ph rot_t) / (M scale^2), u = S / |S|,
 *   T_t = sum_{pilot i} G_i e^{j 2 pi i t / M}, Q_t = sum_{null or pilot i} R_i e^{j 2 pi i t / M},
 *   S = sum_{pilot i} conj(G_i) R_i
 * (the inverse transform of R is the window itself, so only the replaced bins enter); a change d_s
 * of pw_s moves R_i by ph rot_s d'_s e^{-j 2 pi i s / M}, d'_s = d_s - iqw conj(d_s): a_t Q_t by
 * sum_s conj(rot_t) rot_s h[t - s] d'_s / (M scale^2) and S by sum_s ph rot_s conj(T_s) d'_s.
 * The caller transforms the declipped window. */

static void sparse_declip(phy_sync *q,
                          unsigned m,
                          const float complex *rot,
                          float complex ph,
                          float complex iqw,
                          const float complex *G,
                          float pilot,
                          const float complex *R)
{
    const unsigned M = q->M;
    const size_t mask = (M & (M - 1)) == 0 ? M - 1 : 0; /* M a power of 2: i t mod M by a mask */
    const unsigned *tt = q->sp_t, *bins = q->np_bins;
    const double complex *tw = q->tw;
    double complex *K = q->sp_K, *PT = q->sp_v, *qv = PT + m, *sig = qv + m, *dp = sig + m;
    const double k = 1.0 / ((double)M * (double)q->scale * (double)q->scale);
    const double complex phd = (double complex)ph, iqd = (double complex)iqw;
    const float den = 1.0f - (crealf(iqw) * crealf(iqw) + cimagf(iqw) * cimagf(iqw));
    double S_r = 0.0, S_i = 0.0;
    for (unsigned j = 0; j < q->n_p; j++) {
        const float complex c = phy_cmulc(G[bins[j]], R[bins[j]]);
        S_r += (double)crealf(c);
        S_i += (double)cimagf(c);
    }
    double complex S = CMPLX(S_r, S_i);
    for (unsigned a = 0; a < m; a++) {
        const size_t t = tt[a];
        double Tr = 0.0, Ti = 0.0, Qr = 0.0, Qi = 0.0;
        for (unsigned j = 0; j < q->n_np; j++) {
            const size_t i = bins[j];
            const size_t n = mask ? (i * t) & mask : i * t % M;
            const double wr = creal(tw[n]), wi = cimag(tw[n]);
            const double rr = (double)crealf(R[i]), ri = (double)cimagf(R[i]);
            Qr += rr * wr - ri * wi;
            Qi += rr * wi + ri * wr;
            if (j < q->n_p) { /* pilots first */
                const double gr = (double)crealf(G[i]), gi = (double)cimagf(G[i]);
                Tr += gr * wr - gi * wi;
                Ti += gr * wi + gi * wr;
            }
        }
        const double complex T = CMPLX(Tr, Ti), Q = CMPLX(Qr, Qi);
        const double complex rt = (double complex)rot[t];
        const double complex at = k * conj(dmul(phd, rt));
        PT[a] = dmul(at, T) * (double)pilot; /* the pilots carry +pilot (§2) */
        qv[a] = dmul(at, Q);
        sig[a] = dmul(dmul(phd, rt), conj(T));
        for (unsigned b = 0; b < m; b++) {
            const size_t s2 = tt[b];
            K[(size_t)a * m + b] =
                k * dmul(dmul(conj(rt), (double complex)rot[s2]), q->h[(t + M - s2) % M]);
        }
    }
    for (unsigned it = 0; it < PHY_SYNC_DECLIP_ITER; it++) {
        const double aS = hypot(creal(S), cimag(S));
        const double complex u = aS > 0.0 ? S / aS : 1.0;
        float moved = 0.0f;
        for (unsigned a = 0; a < m; a++) {
            const size_t t = tt[a];
            const double complex D = dmul(u, PT[a]) - qv[a];
            const double complex Dc = D + dmul(iqd, conj(D));
            const float complex p = q->pw[t] + CMPLXF((float)creal(Dc) / den, (float)cimag(Dc) / den);
            const float complex dd = rail_step(q, q->pw + t, q->clip[t], p);
            const float dr = crealf(dd), di = cimagf(dd);
            moved = fmaxf(moved, fmaxf(fabsf(dr), fabsf(di)));
            const double complex d = CMPLX((double)dr, (double)di);
            dp[a] = d - dmul(iqd, conj(d));
        }
        for (unsigned a = 0; a < m; a++) {
            double ar = 0.0, ai = 0.0;
            for (unsigned b = 0; b < m; b++) {
                const double complex c = dmul(K[(size_t)a * m + b], dp[b]);
                ar += creal(c);
                ai += cimag(c);
            }
            qv[a] += CMPLX(ar, ai);
            S += dmul(sig[a], dp[a]);
        }
        if (moved < PHY_SYNC_DECLIP_TOL * q->clev[0])
            break;
    }
}

unsigned phy_sync_symbol_rx(phy_sync *q,
                            const float complex *w,
                            const float complex *rot,
                            float complex ph,
                            float complex iqw,
                            const float complex *tone,
                            const float complex *G,
                            float pilot,
                            float level,
                            int clipped,
                            float complex *R)
{
    phy_sync_block_fft_iq(q, w, rot, ph, iqw, tone, R);
    const unsigned M = q->M;
    /* one vectorisable pass: the window's largest rail magnitude, and only when it reaches the
     * level a second one: how many rails sit at it (a clip level is reached by several) */
    const float *wv = (const float *)w;
    const size_t n2 = 2 * (size_t)M;
    float pk8[8] = {0};
    for (size_t k = 0; k + 8 <= n2; k += 8)
        for (unsigned l = 0; l < 8; l++) {
            float a = fabsf(wv[k + l]);
            pk8[l] = a > pk8[l] ? a : pk8[l];
        }
    float pk = 0.0f;
    for (unsigned l = 0; l < 8; l++)
        pk = fmaxf(pk, pk8[l]);
    if (pk < level * (1.0f - 1e-3f))
        return 0;
    unsigned marks;
    if (clipped) {
        marks = clip_mark_at(q, w, M, level);
    } else {
        int at8[8] = {0};
        for (size_t k = 0; k + 8 <= n2; k += 8)
            for (unsigned l = 0; l < 8; l++)
                at8[l] += fabsf(wv[k + l]) == pk;
        int at = 0;
        for (unsigned l = 0; l < 8; l++)
            at += at8[l];
        if (at < 3)
            return 0;
        float pk2, lev2;
        marks = clip_mark(q, w, M, &pk2, &lev2);
    }
    if (!marks)
        return 0;
    memcpy(q->pw, w, M * sizeof *w);
    if (marks <= q->sparse_max) {
        const unsigned m = collect_marks(q, M);
        sparse_declip(q, m, rot, ph, iqw, G, pilot, R);
        phy_sync_block_fft_iq(q, q->pw, rot, ph, iqw, tone, R);
        return marks;
    }
    const unsigned char *sct = phy_frame_sctype(q->f);
    for (unsigned it = 0; it < PHY_SYNC_DECLIP_ITER; it++) {
        double complex S = 0.0; /* the symbol's common phase from the pilots (§5.3) */
        for (unsigned i = 0; i < M; i++)
            if (sct[i] == PHY_SCTYPE_PILOT)
                S += (double complex)phy_cmulc(G[i], R[i]);
        const float complex u = cabs(S) > 0.0 ? (float complex)(S / cabs(S)) : 1.0f;
        float complex *z = phy_fft_in(q->bwd);
        for (unsigned i = 0; i < M; i++) {
            float complex v = sct[i] == PHY_SCTYPE_NULL    ? 0.0f
                              : sct[i] == PHY_SCTYPE_PILOT ? pilot * phy_cmul(G[i], u)
                                                           : R[i];
            z[i] = phy_cmulc(ph, v);
        }
        const float moved = clip_fill(q, q->pw, q->clip, rot, iqw, tone);
        phy_sync_block_fft_iq(q, q->pw, rot, ph, iqw, tone, R);
        if (moved < PHY_SYNC_DECLIP_TOL * q->clev[0])
            break;
    }
    return marks;
}

/* e^{j a} */
static double complex cis(double a)
{
    return CMPLX(cos(a), sin(a));
}

static double complex cmul_d(double complex a, double complex b)
{
    return CMPLX(creal(a) * creal(b) - cimag(a) * cimag(b),
                 creal(a) * cimag(b) + cimag(a) * creal(b));
}

/* The tone tracker on the background block [p, p + Bd) (sync.h). While the detector sees a
 * periodic background: the lag-1 correlation of 512 background samples gives a coarse frequency
 * f1 = arg / 2 pi, and the detector's lag-M/2 background correlation (phase pi f M) the fine one
 * (the candidate nearest f1). Then per block: its mean demodulated at f (zb, at the block start);
 * the phase step from the previous block's mean, over dt samples, corrects f with weight
 * dt^2 / var (a step across a burst weighs most); the amplitude is a one-pole (1/8) of the block
 * means rotated to the block. The state after each block goes into a ring. */
static void tone_block(phy_sync *q, int64_t p)
{
    if (!q->bg_on && !q->tone_on) {
        q->tone_acq = 0;
        q->tone_R1 = 0.0;
        q->tone_E = 0.0;
        q->tring_n = 0;
        return;
    }
    const unsigned Bd = q->Bd;
    const float complex *x = q->buf + (p - q->base);
    tone_st *s = &q->tone;
    if (!q->tone_on) {
        double sr = 0.0, si = 0.0, e = 0.0;
        for (unsigned t = 0; t < Bd; t++) {
            const float complex c = phy_cmulc(x[(ptrdiff_t)t - 1], x[t]); /* x[t] conj(x[t-1]) */
            sr += (double)crealf(c);
            si += (double)cimagf(c);
            e += (double)(crealf(x[t]) * crealf(x[t]) + cimagf(x[t]) * cimagf(x[t]));
        }
        q->tone_R1 += CMPLX(sr, si);
        q->tone_E += e;
        if (++q->tone_acq * Bd < 512u) /* 512 samples of background */
            return;
        if (cabs(q->tone_R1) < 0.3 * q->tone_E) { /* not one tone (as the detector's 0.3) */
            q->tone_acq = 0;
            q->tone_R1 = 0.0;
            q->tone_E = 0.0;
            return;
        }
        const double M = (double)q->M, f1 = carg(q->tone_R1) / (2.0 * M_PI);
        const double phi = carg(q->bg_P);
        const double k = round((M_PI * M * f1 - phi) / (2.0 * M_PI));
        const double f = (phi + 2.0 * M_PI * k) / (M_PI * M);
        q->tone_acq = 0;
        q->tone_R1 = 0.0;
        q->tone_E = 0.0;
        if (fabs(f * M) < 0.5)
            return; /* a DC offset: the DC tracker's */
        memset(s, 0, sizeof *s);
        s->f = f;
        q->tone_on = 1;
        q->tone_share = 0.0;
        q->tring_n = 0;
    }
    /* the block's mean at f, referred to its start, and its power */
    const double complex step = cis(-2.0 * M_PI * s->f);
    double complex ph = 1.0, acc = 0.0;
    double pw = 0.0;
    for (unsigned t = 0; t < Bd; t++) {
        const double xr = crealf(x[t]), xi = cimagf(x[t]);
        acc += CMPLX(xr * creal(ph) - xi * cimag(ph), xr * cimag(ph) + xi * creal(ph));
        pw += xr * xr + xi * xi;
        ph = cmul_d(ph, step);
    }
    const double complex zb = acc / Bd;
    const double zb2 = creal(zb) * creal(zb) + cimag(zb) * cimag(zb);
    /* the tone's share of the background (|z|^2 over the power, one-pole 1/32): under 2% (and
     * 8 / (15 Bd), 8 times what noise alone gives z, a mean of about 15 blocks) it is gone */
    const double z2 = creal(s->z) * creal(s->z) + cimag(s->z) * cimag(s->z);
    q->tone_share += (s->k < 32 ? 1.0 / (double)(s->k + 1) : 1.0 / 32.0) *
                     (z2 / (pw / Bd + 1e-300) - q->tone_share);
    if (s->k >= 32 && q->tone_share < fmax(0.02, 8.0 / (15.0 * Bd))) {
        q->tone_on = 0;
        q->tone_acq = 0;
        q->tone_R1 = 0.0;
        q->tone_E = 0.0;
        q->tring_n = 0;
        return;
    }
    /* variance of the block mean's phase: residual power / (Bd |zb|^2), floored */
    const double var = fmax((pw / Bd - zb2) / (Bd * zb2 + 1e-300), 1e-12);
    if (s->k == 0) {
        /* the acquisition's lag-M/2 estimate weighs as a step of M/2 over a few blocks */
        s->F = 16.0 * 0.25 * (double)q->M * q->M / (2.0 * var);
        s->z = s->zr = zb;
        s->ref = s->rref = p;
    } else {
        const double dt = (double)(p - s->rref);
        const double d = carg(cmul_d(zb, conj(cmul_d(s->zr, cis(2.0 * M_PI * s->f * dt)))));
        const double info = dt * dt / (2.0 * var);
        s->F = s->F * (1.0 - 1.0 / 1024.0) + info;
        s->f += info / s->F * d / (2.0 * M_PI * dt);
        const double complex zp = cmul_d(s->z, cis(2.0 * M_PI * s->f * (double)(p - s->ref)));
        const double a = s->k < 8 ? 1.0 / (double)(s->k + 1) : 1.0 / 8.0;
        s->z = zp + a * (zb - zp);
        s->ref = p;
        s->zr = zb;
        s->rref = p;
    }
    s->k++;
    s->end = p + (int64_t)Bd;
    if (s->k == 8) { /* the detector now sees the background less the tone: track it afresh */
        q->bg_P = 0.0;
        q->bg_E = 0.0;
        q->bg_n = 0;
        q->bg_on = 0;
    }
    q->tring[q->tring_pos] = *s;
    q->tring_pos = (q->tring_pos + 1) % TONE_RING;
    if (q->tring_n < TONE_RING)
        q->tring_n++;
}

/* Samples [a, a + n) of the buffer, less the tracked tone while one is on (in q->tscr). */
static const float complex *tone_clean(phy_sync *q, int64_t a, size_t n)
{
    const float complex *x = q->buf + (a - q->base);
    if (!q->tone_on || q->tone.k < 8 || n > q->tscr_len)
        return x;
    phy_sync_tone t = {1, q->tone.f, q->tone.z, q->tone.ref};
    phy_sync_tone_window(&t, a, (unsigned)n, q->tscr);
    for (size_t k = 0; k < n; k++)
        q->tscr[k] = x[k] - q->tscr[k];
    return q->tscr;
}

/* The ring's latest state that ended at or before s0 (*t; its ring distance in *back), or 0. */
static int tone_lookup(const phy_sync *q, int64_t s0, phy_sync_tone *t, unsigned *back)
{
    memset(t, 0, sizeof *t);
    for (unsigned j = 0; j < q->tring_n; j++) {
        const unsigned i = (q->tring_pos + TONE_RING - 1 - j) % TONE_RING;
        const tone_st *e = &q->tring[i];
        if (e->end > s0)
            continue;
        if (e->k < 8)
            return 0; /* not settled yet */
        t->on = 1;
        t->f = e->f;
        t->z = e->z;
        t->ref = e->ref;
        *back = j;
        return 1;
    }
    return 0;
}

void phy_sync_tone_at(phy_sync *q, int64_t s0, phy_sync_tone *t)
{
    unsigned j;
    if (!tone_lookup(q, s0, t, &j))
        return;
    /* forget what the burst's own blocks taught the tracker */
    const unsigned i = (q->tring_pos + TONE_RING - 1 - j) % TONE_RING;
    q->tone = q->tring[i];
    q->tring_pos = (i + 1) % TONE_RING;
    q->tring_n -= j;
}

void phy_sync_tone_window(const phy_sync_tone *t, int64_t pos, unsigned M, float complex *out)
{
    double complex c = cmul_d(t->z, cis(2.0 * M_PI * t->f * (double)(pos - t->ref)));
    const double complex step = cis(2.0 * M_PI * t->f);
    for (unsigned k = 0; k < M; k++) {
        out[k] = (float complex)c;
        c = cmul_d(c, step);
    }
}

/* The periodic background's share of a lag-M/2 correlation over n samples (0 while off). */
static double complex bg_corr(const phy_sync *q, int64_t n)
{
    return q->bg_on ? q->bg_P * ((double)n / ((double)q->nb * q->Bd)) : 0.0;
}

/* S1's impulse response at the candidate's window (q->Y, derotated) for an offset `shift` bins
 * above the derotation's: the inverse FFT of conj(S1[i]) Y[(i + shift) mod M], its energy *tot,
 * its largest power *pk at lag *kmax. Returns the response (the backward FFT's output). */
static const float complex *
s1_response(phy_sync *q, int shift, double *tot, float *pk, unsigned *kmax)
{
    const float complex *S1 = phy_frame_s1(q->f);
    float complex *z = phy_fft_in(q->bwd);
    const unsigned M = q->M, s = (unsigned)((shift % (int)M + (int)M) % (int)M);
    for (unsigned i = 0; i < M; i++) {
        const unsigned j = i + s < M ? i + s : i + s - M;
        z[i] = phy_cmulc(S1[i], q->Y[j]);
    }
    phy_fft_execute(q->bwd);
    const float complex *c = phy_fft_out(q->bwd);
    double t = 0.0;
    float m = 0.0f;
    unsigned km = 0;
    for (unsigned k = 0; k < M; k++) {
        float p = crealf(c[k]) * crealf(c[k]) + cimagf(c[k]) * cimagf(c[k]);
        t += p;
        if (p > m) {
            m = p;
            km = k;
        }
    }
    *tot = t;
    *pk = m;
    *kmax = km;
    return c;
}

/* The candidate: CFO, S1 impulse response, gate, timing. 1 = accepted. */
static int sync_candidate(phy_sync *q, phy_sync_result *r)
{
    const int64_t M = q->M, B = q->B, cp = q->cp, r1 = q->cand_r1;
    const int64_t U = M / 4;
    double complex P = corr_half(q, r1 - 2 * B + M / 2 + U, r1 - U) -
                       bg_corr(q, (r1 - U) - (r1 - 2 * B + M / 2 + U));
    double cfo = (cabs(P) > 0.0) ? carg(P) / M_PI : 0.0;
    phy_sync_make_rot(q, cfo, q->rot);

    /* S1 impulse response at the rough window (less the tracked tone, if any: its leakage would
     * raise the response's mean) */
    int64_t w0 = r1 + cp;
    phy_sync_tone tn;
    unsigned back;
    const float complex *tw = NULL;
    if (q->tone_on && tone_lookup(q, r1 - 2 * B, &tn, &back)) {
        phy_sync_tone_window(&tn, w0, q->M, q->ptone);
        tw = q->ptone;
    }
    phy_sync_block_fft_iq(q, q->buf + (w0 - q->base), q->rot, 1.0f, 0.0f, tw, q->Y);
    /* the integer part (docs/air-interface.md §5.1): with a range, the offsets cfo + 2 k within
     * it; the window derotated by cfo holds the burst 2 k bins up, so S1's impulse response for
     * cfo + 2 k is that of conj(S1[i]) Y[i + 2 k]: the k whose peak holds the largest share of its
     * response's energy (k = 0 first, kept on ties) */
    int klo = 0, khi = 0, kb = 0;
    if (q->cfo_max > 0.0) {
        const double lim = q->cfo_max + PHY_SYNC_CFO_MARGIN;
        klo = (int)ceil((-lim - cfo) / 2.0);
        khi = (int)floor((lim - cfo) / 2.0);
    }
    double tot;
    float pk;
    unsigned kmax;
    const float complex *c = s1_response(q, 0, &tot, &pk, &kmax);
    if (klo < 0 || khi > 0) {
        double best = tot > 0.0 ? (double)pk / tot : 0.0;
        for (int k = klo; k <= khi; k++) {
            if (k == 0)
                continue;
            s1_response(q, 2 * k, &tot, &pk, &kmax);
            const double share = tot > 0.0 ? (double)pk / tot : 0.0;
            if (share > best) {
                best = share;
                kb = k;
            }
        }
        c = s1_response(q, 2 * kb, &tot, &pk, &kmax); /* the FFT's output holds the last */
        cfo += 2.0 * kb;
    }
    float mean = (float)(tot / (double)q->M);
    float pmr = mean > 0.0f ? pk / mean : 0.0f;
    if (!(pmr >= q->gate))
        return 0;
    /* earliest strong path within cp/2 before the peak */
    float lvl = 0.2f * pk;
    if (lvl < 4.0f * mean)
        lvl = 4.0f * mean;
    unsigned look = q->cp / 2, kfirst = kmax;
    for (unsigned d = look; d > 0; d--) {
        unsigned k = (kmax + q->M - d) % q->M;
        float p = crealf(c[k]) * crealf(c[k]) + cimagf(c[k]) * cimagf(c[k]);
        if (p >= lvl) {
            kfirst = k;
            break;
        }
    }
    int64_t tau = kfirst < q->M / 2 ? (int64_t)kfirst : (int64_t)kfirst - M;
    r->start = w0 + tau - cp - 2 * B;
    /* CFO again over the whole S0 stretch now that it is located: after the CP of S0a (which
     * multipath may leave incomplete) to the end of S0b, 1.5 M + cp products */
    if (r->start + cp < q->base)
        return 0; /* reaches back before what the stream kept: not a decodable preamble */
    P = corr_half(q, r->start + cp + M / 2, r->start + 2 * B) - bg_corr(q, 2 * B - cp - M / 2);
    if (cabs(P) > 0.0) { /* the fraction again, with the integer part found above */
        const double c2 = carg(P) / M_PI, k2 = round((cfo - c2) / 2.0);
        cfo = k2 != 0.0 ? c2 + 2.0 * k2 : c2;
    }
    r->cfo = cfo;
    r->metric = q->m_max;
    r->pmr = pmr;
    return 1;
}

int phy_sync_search(phy_sync *q, phy_sync_result *r)
{
    const unsigned Bd = q->Bd, nb = q->nb;
    const int64_t end = phy_sync_end(q);
    for (;;) {
        if (q->mode == DET_PAUSED)
            return 0;
        if (q->mode == DET_CAND) {
            /* oldest sample the first CFO correlation reads (lag included) */
            int64_t lo = q->cand_r1 - 2 * (int64_t)q->B + (int64_t)q->M / 4;
            int64_t need = q->cand_r1 + (int64_t)q->B + 3 * (int64_t)q->M / 2 + 1;
            if (end < need)
                return 0;
            if (lo < q->base) { /* cannot happen with the retention rule; treat as noise */
                q->rejected++;
                q->mode = DET_HYST;
                continue;
            }
            if (sync_candidate(q, r)) {
                r->need_end = need;
                q->mode = DET_PAUSED;
                return 1;
            }
            q->rejected++;
            q->mode = DET_HYST;
            continue;
        }
        if (q->det_pos + (int64_t)Bd > end)
            return 0;
        double s[4];
        block_sums(tone_clean(q, q->det_pos - (int64_t)q->half, Bd + q->half) + q->half, Bd,
                   q->half, s);
        unsigned rp = q->ring_pos;
        q->ringP[2 * rp] = s[0];
        q->ringP[2 * rp + 1] = s[1];
        q->ringE1[rp] = s[2];
        q->ringE2[rp] = s[3];
        q->ring_pos = rp + 1 == nb ? 0 : rp + 1;
        int64_t e = q->det_pos + Bd - 1; /* last sample of the window */
        q->det_pos += Bd;
        if (q->nfill < nb) {
            q->nfill++;
            if (q->nfill < nb)
                continue;
        }
        double pr = 0, pi = 0, e1 = 0, e2 = 0;
        for (unsigned k = 0; k < nb; k++) {
            pr += q->ringP[2 * k];
            pi += q->ringP[2 * k + 1];
            e1 += q->ringE1[k];
            e2 += q->ringE2[k];
        }
        if (q->mode == DET_SEARCH || q->mode == DET_HYST) { /* the background, between bursts */
            q->bg_n++;
            double a = q->bg_n < 32 ? 1.0 / (double)q->bg_n : 1.0 / 32.0;
            q->bg_P += a * ((pr + I * pi) - q->bg_P);
            q->bg_E += a * (e1 - q->bg_E);
            double bp = cabs(q->bg_P);
            if (q->bg_n >= 32)
                q->bg_on = q->bg_on ? bp > 0.15 * q->bg_E : bp > 0.3 * q->bg_E;
            tone_block(q, e + 1 - (int64_t)Bd);
        }
        double den = e1 * e2;
        if (q->bg_on) { /* a periodic background (DC, a tone) taken out of P and the energies */
            double bp = cabs(q->bg_P);
            pr -= creal(q->bg_P);
            pi -= cimag(q->bg_P);
            den = fmax(e1 - bp, 0.05 * e1) * fmax(e2 - bp, 0.05 * e2);
        }
        float m = den > 1e-300 ? (float)((pr * pr + pi * pi) / den) : 0.0f;
        switch (q->mode) {
        case DET_SEARCH:
            if (m > q->thr) {
                q->mode = DET_TRACK;
                q->m_max = m;
                q->track_start = e;
            }
            break;
        case DET_TRACK:
            if (m > q->m_max)
                q->m_max = m;
            if (m < 0.5f * q->m_max) {
                /* trailing half-maximum crossing, interpolated between the two block ends */
                float L = 0.5f * q->m_max;
                double x = (double)(e - (int64_t)Bd);
                if (q->m_prev > m)
                    x += (double)((q->m_prev - L) / (q->m_prev - m)) * (double)Bd;
                double W = (double)nb * Bd;
                q->cand_r1 = (int64_t)llround(x - (1.0 - M_SQRT1_2) * W + 1.0);
                q->mode = DET_CAND;
            } else if (e - q->track_start > (int64_t)(2 * nb * Bd + q->M + 2 * q->cp + 2 * Bd)) {
                q->rejected++; /* periodic for too long: a tone, not a preamble */
                q->mode = DET_HYST;
            }
            break;
        case DET_HYST:
            if (m < q->thr)
                q->mode = DET_SEARCH;
            break;
        default:
            break;
        }
        q->m_prev = m;
    }
}
