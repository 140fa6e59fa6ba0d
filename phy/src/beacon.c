/* phy/beacon: downlink beacon and the agent's beacon receiver (docs/air-interface.md §6). Detection
 * and synchronisation are phy/sync's, shared with the server receiver. */
#include "phy/beacon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phy/fft.h"
#include "sync.h"
#include "util.h"

struct phy_beacon_rx {
    phy_frame *frame;
    phy_sync *sync;
    unsigned M, cp, B, smooth, reps;
    float complex *rot, *rot0, *h, *Yr;
    double complex *num; /* M: the training blocks' combination */
    float *ax;           /* 3 M: |X| of S0a, S0b and S1 per bin */
    double *hx;          /* 2 M: h X2 of the preamble's estimate, (re, im) */
    float complex *rb;   /* M: estimate's e^{j 2 pi i backoff / M} for backoff rb_for (0: none) */
    unsigned rb_for;
    phy_fft *ifft, *fft; /* smoothing */
};

size_t phy_beacon_len(const phy_frame *f)
{
    return phy_frame_preamble_len(f);
}

am_status phy_beacon_write(const phy_frame *f, float complex *out, size_t cap)
{
    return phy_beacon_write_reps(f, 0, out, cap);
}

size_t phy_beacon_len_reps(const phy_frame *f, unsigned reps)
{
    return phy_frame_preamble_len(f) + (size_t)reps * phy_frame_block_len(f);
}

am_status phy_beacon_write_reps(const phy_frame *f, unsigned reps, float complex *out, size_t cap)
{
    if (!f || !out)
        return AM_FAIL(AM_EINVAL, "beacon: NULL argument");
    if (reps > PHY_BEACON_MAX_REPS)
        return AM_FAIL(AM_EINVAL, "beacon: %u training blocks is outside 0..%u", reps,
                       PHY_BEACON_MAX_REPS);
    size_t n = phy_beacon_len_reps(f, reps), p = phy_frame_preamble_len(f),
           B = phy_frame_block_len(f);
    if (cap < n)
        return AM_FAIL(AM_EINVAL, "beacon: output capacity %zu < beacon length %zu", cap, n);
    const float complex *pre = phy_frame_preamble(f);
    memcpy(out, pre, p * sizeof(float complex));
    for (unsigned r = 0; r < reps; r++) /* S1 with its cyclic prefix, the preamble's last block */
        memcpy(out + p + (size_t)r * B, pre + p - B, B * sizeof(float complex));
    return AM_OK;
}

void phy_beacon_rx_cfg_default(phy_beacon_rx_cfg *cfg)
{
    phy_frame_cfg_default(&cfg->frame);
    cfg->threshold = 0.0f;
    cfg->smooth = 0;
    cfg->reps = 0;
    cfg->cfo_max = 0.0;
}

am_status phy_beacon_rx_create(const phy_beacon_rx_cfg *cfg, phy_beacon_rx **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "beacon_rx: NULL argument");
    *out = NULL;
    phy_beacon_rx *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "beacon_rx: out of memory");
    am_status s = phy_frame_create(&cfg->frame, &q->frame);
    if (s != AM_OK) {
        free(q);
        return am_error_wrap(s, "beacon_rx");
    }
    q->M = phy_frame_nfft(q->frame);
    q->cp = phy_frame_cp_len(q->frame);
    q->B = q->M + q->cp;
    if (cfg->smooth > q->M / 2) {
        unsigned half = q->M / 2;
        phy_beacon_rx_destroy(q);
        return AM_FAIL(AM_EINVAL, "beacon_rx: smoothing length %u > M/2 = %u", cfg->smooth, half);
    }
    q->smooth = cfg->smooth;
    if (cfg->reps > PHY_BEACON_MAX_REPS) {
        unsigned r = cfg->reps;
        phy_beacon_rx_destroy(q);
        return AM_FAIL(AM_EINVAL, "beacon_rx: %u training blocks is outside 0..%u", r,
                       PHY_BEACON_MAX_REPS);
    }
    q->reps = cfg->reps;
    s = phy_sync_create(q->frame, cfg->threshold, &q->sync);
    if (s == AM_OK)
        s = phy_sync_set_cfo_max(q->sync, cfg->cfo_max);
    if (s != AM_OK) {
        phy_beacon_rx_destroy(q);
        return am_error_wrap(s, "beacon_rx");
    }
    phy_fft_cfg fc = {.n = q->M, .howmany = 1, .dir = PHY_FFT_BACKWARD};
    s = phy_fft_create(&fc, &q->ifft);
    fc.dir = PHY_FFT_FORWARD;
    if (s == AM_OK)
        s = phy_fft_create(&fc, &q->fft);
    if (s != AM_OK) {
        phy_beacon_rx_destroy(q);
        return am_error_wrap(s, "beacon_rx");
    }
    q->rot = phy_fft_alloc(q->M);
    q->rot0 = phy_fft_alloc(q->M);
    q->h = phy_fft_alloc(q->M);
    q->Yr = phy_fft_alloc(q->M);
    q->num = malloc(q->M * sizeof *q->num);
    q->ax = malloc(3 * (size_t)q->M * sizeof *q->ax);
    q->rb = malloc(q->M * sizeof *q->rb);
    q->hx = malloc(2 * (size_t)q->M * sizeof *q->hx);
    if (!q->rot || !q->rot0 || !q->h || !q->Yr || !q->num || !q->ax || !q->rb || !q->hx) {
        phy_beacon_rx_destroy(q);
        return AM_FAIL(AM_ENOMEM, "beacon_rx: out of memory");
    }
    phy_sync_make_rot(q->sync, 0.0, q->rot0);
    const float complex *X[3] = {phy_frame_s0a(q->frame), phy_frame_s0b(q->frame),
                                 phy_frame_s1(q->frame)};
    for (unsigned j = 0; j < 3; j++)
        for (unsigned i = 0; i < q->M; i++)
            q->ax[(size_t)j * q->M + i] = cabsf(X[j][i]);
    *out = q;
    return AM_OK;
}

void phy_beacon_rx_destroy(phy_beacon_rx *q)
{
    if (!q)
        return;
    phy_sync_destroy(q->sync);
    phy_fft_destroy(q->ifft);
    phy_fft_destroy(q->fft);
    phy_fft_free(q->rot);
    phy_fft_free(q->rot0);
    phy_fft_free(q->h);
    phy_fft_free(q->Yr);
    free(q->num);
    free(q->ax);
    free(q->rb);
    free(q->hx);
    phy_frame_destroy(q->frame);
    free(q);
}

void phy_beacon_rx_reset(phy_beacon_rx *q)
{
    phy_sync_reset(q->sync);
}

am_status phy_beacon_rx_set_reps(phy_beacon_rx *q, unsigned reps)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "beacon_rx: NULL argument");
    if (reps > PHY_BEACON_MAX_REPS)
        return AM_FAIL(AM_EINVAL, "beacon_rx: %u training blocks is outside 0..%u", reps,
                       PHY_BEACON_MAX_REPS);
    q->reps = reps;
    return AM_OK;
}

const phy_frame *phy_beacon_rx_frame(const phy_beacon_rx *q)
{
    return q->frame;
}

/* h from the preamble at x0 (windows `backoff` early), and from `reps` training blocks after it
 * (maximum ratio: weights |X|^2 per block), referred to the nominal window. */
static void estimate(phy_beacon_rx *q,
                     const float complex *x0,
                     const float complex *rot,
                     double cfo,
                     unsigned backoff,
                     unsigned reps,
                     phy_beacon_est *est)
{
    const unsigned M = q->M;
    phy_sync_preamble(q->sync, x0, rot, cfo, backoff, q->h, &est->n0);
    const unsigned char *sct = phy_frame_sctype(q->frame);
    if (reps) {
        /* h (MRC of the preamble, weight w3 = sum of its |X|^2) with the training blocks (S1,
         * weight |X_S1|^2 = 1 each): (w3 h + sum_r conj(X_S1) Y_r) / (w3 + reps |X_S1|^2) */
        const float complex *X2 = phy_frame_s1(q->frame);
        const float *a0 = q->ax, *a1 = q->ax + M, *a2 = q->ax + 2 * (size_t)M; /* |X| per bin */
        double complex *num = q->num;
        for (unsigned i = 0; i < M; i++) {
            const double w3 = (double)(a0[i] * a0[i] + a1[i] * a1[i] + a2[i] * a2[i]);
            num[i] = w3 * (double complex)q->h[i];
        }
        /* the complex products below written out on (re, im): the same operations in the same
         * order as C's complex multiply on finite values (ac - bd, ad + bc), without its NaN
         * recovery */
        double *nm = (double *)num, *hx = q->hx;
        for (unsigned i = 0; i < M; i++) { /* h X, the same for every block */
            const double hr = crealf(q->h[i]), hi = cimagf(q->h[i]);
            const double xr = crealf(X2[i]), xi = cimagf(X2[i]);
            hx[2 * i] = hr * xr - hi * xi;
            hx[2 * i + 1] = hr * xi + hi * xr;
        }
        for (unsigned r = 0; r < reps; r++) {
            const int64_t off = (int64_t)(3 + r) * q->B + q->cp - backoff;
            phy_sync_block_fft(q->sync, x0 + off, rot, phy_sync_phase(q->sync, cfo, off, 0), q->Yr);
            /* the block's common phase against the preamble's estimate (the LOs' phase noise
             * and any residual offset turn the blocks over the beacon): z = sum_i conj(h X) Y */
            double zr = 0.0, zi = 0.0;
            for (unsigned i = 0; i < M; i++) {
                const double yr = crealf(q->Yr[i]), yi = cimagf(q->Yr[i]);
                const double pr = hx[2 * i], pi = hx[2 * i + 1]; /* h X */
                zr += pr * yr + pi * yi;
                zi += pr * yi - pi * yr;
            }
            const double complex z = CMPLX(zr, zi);
            const double complex u = cabs(z) > 0.0 ? conj(z) / cabs(z) : 1.0;
            const double ur = creal(u), ui = cimag(u);
            for (unsigned i = 0; i < M; i++) { /* num += u conj(X) Y, conj(X) Y in float */
                const float xr = crealf(X2[i]), xi = cimagf(X2[i]);
                const float yr = crealf(q->Yr[i]), yi = cimagf(q->Yr[i]);
                const double er = xr * yr + xi * yi, ei = xr * yi - xi * yr;
                nm[2 * i] += ur * er - ui * ei;
                nm[2 * i + 1] += ur * ei + ui * er;
            }
        }
        for (unsigned i = 0; i < M; i++) {
            const double w = (double)(a0[i] * a0[i] + a1[i] * a1[i] +
                                      (1.0 + reps) * a2[i] * a2[i]);
            q->h[i] = sct[i] != PHY_SCTYPE_NULL && w > 0.0 ? (float complex)(num[i] / w) : 0.0f;
        }
    }
    if (backoff) { /* a window `backoff` early sees e^{-j 2 pi i backoff / M}: undo */
        if (q->rb_for != backoff) { /* the phasors once per backoff (phy_sync's is constant) */
            for (unsigned i = 0; i < M; i++)
                q->rb[i] = (float complex)cexp(I * (2.0 * M_PI * i * backoff / M));
            q->rb_for = backoff;
        }
        for (unsigned i = 0; i < M; i++)
            q->h[i] *= q->rb[i];
    }
    if (q->smooth) { /* keep lags -2 .. smooth-1 of the impulse response (used bins only) */
        float complex *c = phy_fft_in(q->ifft);
        memcpy(c, q->h, M * sizeof(float complex));
        phy_fft_execute(q->ifft);
        const float complex *t = phy_fft_out(q->ifft);
        float complex *z = phy_fft_in(q->fft);
        for (unsigned k = 0; k < M; k++)
            z[k] = (k < q->smooth || k + 2 >= M) ? t[k] / (float)M : 0.0f;
        phy_fft_execute(q->fft);
        const float complex *hs = phy_fft_out(q->fft);
        for (unsigned i = 0; i < M; i++)
            q->h[i] = sct[i] != PHY_SCTYPE_NULL ? hs[i] : 0.0f;
    }
    double h2 = 0.0;
    unsigned nu = phy_frame_n_used(q->frame);
    for (unsigned i = 0; i < M; i++)
        h2 += (double)(crealf(q->h[i]) * crealf(q->h[i]) + cimagf(q->h[i]) * cimagf(q->h[i]));
    est->snr_db = (float)(10.0 * log10(h2 / nu / fmax((double)est->n0, 1e-30) + 1e-30));
    est->nfft = M;
    est->h = q->h;
}

am_status phy_beacon_rx_execute(phy_beacon_rx *q,
                                const float complex *x,
                                size_t n,
                                size_t *consumed,
                                int *found,
                                phy_beacon_est *est)
{
    if (!q || (!x && n) || !consumed || !found || !est)
        return AM_FAIL(AM_EINVAL, "beacon_rx: NULL argument");
    *consumed = 0;
    *found = 0;
    size_t bad = phy_first_nonfinite((const float *)x, 2 * n);
    if (bad < 2 * n)
        return AM_FAIL(AM_EFORMAT, "beacon_rx: sample %zu is %g%+gi, not finite; block refused",
                       bad / 2, (double)crealf(x[bad / 2]), (double)cimagf(x[bad / 2]));
    const int64_t e0 = phy_sync_end(q->sync);
    size_t done = 0;
    while (done < n) {
        done += phy_sync_append(q->sync, x + done, n - done);
        phy_sync_result r;
        while (phy_sync_search(q->sync, &r)) {
            const float complex *x0 = phy_sync_at(q->sync, r.start, 3 * (size_t)q->B);
            if (!x0) { /* reaches back before the stream start */
                phy_sync_resume(q->sync, r.need_end);
                continue;
            }
            phy_sync_make_rot(q->sync, r.cfo, q->rot);
            estimate(q, x0, q->rot, r.cfo, phy_sync_backoff(q->sync), 0, est);
            est->start = (uint64_t)r.start;
            est->cfo = (float)r.cfo;
            est->metric = r.metric;
            *found = 1;
            /* stop right after what the decision used; the rest is the caller's to give again */
            int64_t stop = r.need_end > e0 ? r.need_end : e0;
            if (stop > e0 + (int64_t)n)
                stop = e0 + (int64_t)n;
            phy_sync_truncate(q->sync, stop);
            phy_sync_resume(q->sync, r.start + 3 * (int64_t)q->B);
            *consumed = (size_t)(stop - e0);
            return AM_OK;
        }
    }
    *consumed = n;
    return AM_OK;
}

am_status
phy_beacon_rx_estimate_at(phy_beacon_rx *q, const float complex *x, size_t n, phy_beacon_est *est)
{
    if (!q || !x || !est)
        return AM_FAIL(AM_EINVAL, "beacon_rx: NULL argument");
    size_t len = (3 + (size_t)q->reps) * q->B;
    if (n < len)
        return AM_FAIL(AM_EINVAL, "beacon_rx: %zu samples given, a beacon needs %zu", n, len);
    size_t bad = phy_first_nonfinite((const float *)x, 2 * len);
    if (bad < 2 * len)
        return AM_FAIL(AM_EFORMAT, "beacon_rx: sample %zu is not finite", bad / 2);
    estimate(q, x, q->rot0, 0.0, 0, q->reps, est);
    est->start = 0;
    est->cfo = 0.0f;
    est->metric = 1.0f;
    return AM_OK;
}
