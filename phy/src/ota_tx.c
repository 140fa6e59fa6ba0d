/* phy/ota_tx: agent transmitter (AIR_INTERFACE §1-§4).
 * Per burst: fold 1/sqrt(M_used), 1/eta and the precoder into one weight per bin, fill the used
 * bins of all data symbols, one batched inverse FFT straight into the caller's output (stride
 * M + cp), then the cyclic prefixes. Null bins are zeroed once at create and never written. */
#include "phy/ota_tx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phy/fft.h"
#include "util.h"

#define PHY_PAYLOAD_MAX (1ull << 32)

struct phy_ota_tx {
    phy_frame *frame;
    size_t L, N, B, burst_len;
    unsigned M, cp, n_used, n_data, n_pilot;
    const unsigned *data, *pilot, *used;
    phy_fft *ifft_data; /* N transforms: in = data symbols' bins (dist M), out dist M + cp */
    phy_fft *ifft_pre;  /* 3 transforms: S0a, S0b, S1 precoded */
    float complex *pp;  /* M: p[i] / sqrt(M_used) */
    float complex *wd;  /* M_data: pp[data bin] / eta */
};

void phy_ota_tx_cfg_default(phy_ota_tx_cfg *cfg)
{
    phy_frame_cfg_default(&cfg->frame);
    cfg->payload_len = 1024;
}

am_status phy_ota_tx_create(const phy_ota_tx_cfg *cfg, phy_ota_tx **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    *out = NULL;
    if (cfg->payload_len < 1 || cfg->payload_len > PHY_PAYLOAD_MAX)
        return AM_FAIL(AM_EINVAL, "ota_tx: payload length %zu outside 1..2^32",
                       cfg->payload_len);
    phy_ota_tx *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "ota_tx: out of memory");
    am_status s = phy_frame_create(&cfg->frame, &q->frame);
    if (s != AM_OK) {
        free(q);
        return am_error_wrap(s, "ota_tx");
    }
    const phy_frame *f = q->frame;
    q->M = phy_frame_nfft(f);
    q->cp = phy_frame_cp_len(f);
    q->n_used = phy_frame_n_used(f);
    q->n_data = phy_frame_n_data(f);
    q->n_pilot = phy_frame_n_pilot(f);
    q->data = phy_frame_data_bins(f);
    q->pilot = phy_frame_pilot_bins(f);
    q->used = phy_frame_used_bins(f);
    q->L = cfg->payload_len;
    q->N = phy_frame_nsym(f, q->L);
    q->B = phy_frame_block_len(f);
    q->burst_len = phy_frame_burst_len(f, q->L);
    if (q->N > (size_t)INT32_MAX / q->B) {
        size_t L = q->L, N = q->N;
        phy_ota_tx_destroy(q);
        return AM_FAIL(AM_EINVAL, "ota_tx: payload length %zu needs %zu symbols, too many", L,
                       N);
    }
    phy_fft_cfg fc = {.n = q->M,
                      .howmany = (unsigned)q->N,
                      .idist = q->M,
                      .odist = (unsigned)q->B,
                      .dir = PHY_FFT_BACKWARD};
    s = phy_fft_create(&fc, &q->ifft_data);
    fc.howmany = 3;
    if (s == AM_OK)
        s = phy_fft_create(&fc, &q->ifft_pre);
    if (s != AM_OK) {
        phy_ota_tx_destroy(q);
        return am_error_wrap(s, "ota_tx");
    }
    q->pp = phy_fft_alloc(q->M);
    q->wd = phy_fft_alloc(q->n_data);
    if (!q->pp || !q->wd) {
        phy_ota_tx_destroy(q);
        return AM_FAIL(AM_ENOMEM, "ota_tx: out of memory");
    }
    *out = q;
    return AM_OK;
}

void phy_ota_tx_destroy(phy_ota_tx *q)
{
    if (!q)
        return;
    phy_fft_destroy(q->ifft_data);
    phy_fft_destroy(q->ifft_pre);
    phy_fft_free(q->pp);
    phy_fft_free(q->wd);
    phy_frame_destroy(q->frame);
    free(q);
}

const phy_frame *phy_ota_tx_frame(const phy_ota_tx *q)
{
    return q->frame;
}

size_t phy_ota_tx_payload_len(const phy_ota_tx *q)
{
    return q->L;
}

size_t phy_ota_tx_burst_len(const phy_ota_tx *q)
{
    return q->burst_len;
}

/* Writes the cyclic prefix of nb consecutive blocks (each cp + M samples, body already there). */
static void add_cps(float complex *x, size_t nb, unsigned M, unsigned cp)
{
    size_t B = (size_t)M + cp;
    for (size_t b = 0; b < nb; b++)
        memcpy(x + b * B, x + b * B + M, cp * sizeof(float complex));
}

am_status phy_ota_tx_execute(phy_ota_tx *q,
                             const float *v,
                             float eta,
                             const float complex *p,
                             float complex *out,
                             size_t cap)
{
    if (!q || !v || !out)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    if (cap < q->burst_len)
        return AM_FAIL(AM_EINVAL, "ota_tx: output capacity %zu < burst length %zu", cap,
                       q->burst_len);
    if (!isfinite(eta) || eta <= 0.0f)
        return AM_FAIL(AM_EINVAL, "ota_tx: scale eta = %g must be finite and > 0 (§3)",
                       (double)eta);
    size_t bad = phy_first_nonfinite(v, q->L);
    if (bad < q->L)
        return AM_FAIL(AM_EINVAL, "ota_tx: payload entry %zu is %g (not finite)", bad,
                       (double)v[bad]);
    const unsigned M = q->M, cp = q->cp, nd = q->n_data;
    if (p) {
        size_t pb = phy_first_nonfinite((const float *)p, 2 * (size_t)M);
        if (pb < 2 * (size_t)M)
            return AM_FAIL(AM_EINVAL, "ota_tx: precoder entry p[%zu] is not finite", pb / 2);
    }

    /* §1 scaling and §4 precoding folded into one weight per used bin */
    const float g = 1.0f / sqrtf((float)q->n_used);
    float complex *pp = q->pp;
    if (p)
        for (unsigned i = 0; i < M; i++)
            pp[i] = g * p[i];
    else
        for (unsigned i = 0; i < M; i++)
            pp[i] = g;
    const float ie = 1.0f / eta;
    for (unsigned j = 0; j < nd; j++)
        q->wd[j] = pp[q->data[j]] * ie;

    /* §2/§3: data symbols, values c_k = (v[2k] + i v[2k+1]) / eta, bins increasing */
    float complex *F = phy_fft_in(q->ifft_data);
    const size_t L = q->L, nfull = L / 2; /* complete (re, im) pairs */
    size_t k = 0;
    for (size_t s = 0; s < q->N; s++) {
        float complex *X = F + s * M;
        for (unsigned j = 0; j < q->n_pilot; j++)
            X[q->pilot[j]] = pp[q->pilot[j]];
        unsigned jn = nd;
        if (k + nd > nfull)
            jn = (unsigned)(nfull - k);
        const float *vk = v + 2 * k;
        const unsigned *db = q->data;
        const float complex *wd = q->wd;
        for (unsigned j = 0; j < jn; j++)
            X[db[j]] = wd[j] * CMPLXF(vk[2 * j], vk[2 * j + 1]);
        k += jn;
        if (jn < nd) { /* last symbol: odd last entry, then zero tail (§3) */
            unsigned j = jn;
            if (L % 2 && k == nfull) {
                X[db[j]] = wd[j] * v[L - 1];
                j++;
                k++;
            }
            for (; j < nd; j++)
                X[db[j]] = 0.0f;
        }
    }
    phy_fft_execute_on(q->ifft_data, F, out + 3 * q->B + cp);

    /* preamble: precomputed when un-precoded, otherwise its values times the precoder (§4) */
    if (p) {
        float complex *P = phy_fft_in(q->ifft_pre);
        const float complex *S[3] = {phy_frame_s0a(q->frame), phy_frame_s0b(q->frame),
                                     phy_frame_s1(q->frame)};
        for (unsigned b = 0; b < 3; b++)
            for (unsigned u = 0; u < q->n_used; u++) {
                unsigned i = q->used[u];
                P[b * M + i] = pp[i] * S[b][i];
            }
        phy_fft_execute_on(q->ifft_pre, P, out + cp);
        add_cps(out, 3 + q->N, M, cp);
    } else {
        memcpy(out, phy_frame_preamble(q->frame), 3 * q->B * sizeof(float complex));
        add_cps(out + 3 * q->B, q->N, M, cp);
    }
    return AM_OK;
}

void phy_rotate(float complex *x, size_t n, double eps, unsigned nfft, double phase0)
{
    if (!x || n == 0 || nfft == 0 || eps == 0.0) {
        if (x && phase0 != 0.0) {
            float complex r = (float complex)cexp(I * phase0);
            for (size_t t = 0; t < n; t++)
                x[t] *= r;
        }
        return;
    }
    /* anchor the phase in double every 64 samples, a float step table in between */
    enum { K = 64 };
    const double w = 2.0 * M_PI * eps / (double)nfft;
    float complex step[K];
    for (unsigned k = 0; k < K; k++)
        step[k] = (float complex)cexp(I * (w * (double)k));
    for (size_t t0 = 0; t0 < n; t0 += K) {
        double ph = fmod(phase0 + w * (double)t0, 2.0 * M_PI);
        float complex a = (float complex)cexp(I * ph);
        size_t e = t0 + K < n ? K : n - t0;
        for (size_t k = 0; k < e; k++)
            x[t0 + k] *= a * step[k];
    }
}
