/* host/ota_agent: beacon -> smoothed channel -> precoder -> pre-rotated burst (see ota_agent.h). */
#include "round/ota_agent.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phy/beacon.h"
#include "phy/cal.h"
#include "phy/fft.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"

#define OTA_AGENT_FRAC_GRID 16u /* the fractions tried by smooth(): -1/2 + j / 16 */

typedef double v2d __attribute__((vector_size(16))); /* (re, im) */

struct ota_agent {
    ota_agent_cfg cfg;
    phy_frame *frame;
    phy_beacon_rx *brx;
    phy_ota_tx *tx;
    unsigned M, cp, nu, nd;
    const unsigned *ubins, *dbins;
    size_t L, blen;
    unsigned ns;            /* smoothing: lags -2 .. smooth-1 */
    double *w;              /* nu: the beacon's energy per used bin, sum over its blocks of |X|^2
                               (the raw estimate's noise there is N0 / w) */
    double complex *A;      /* nu x ns: the lag vectors e^{-j 2 pi i l / M} on the used bins */
    double complex *G;      /* ns x ns: A^H W A */
    double complex *b, *t;  /* ns: A^H W h, a span's lag amplitudes */
    double complex *ph;     /* OTA_AGENT_FRAC_GRID x nu: e^{+j 2 pi s_i tau_j / M}, the fraction
                               grid's phasors on the used bins (s_i the signed index) */
    v2d *hv;                /* 2 nu: lag_proj_range's W h per used bin, (re, im) and (im, -re) */
    float complex *rm;      /* 2 M: e^{-j 2 pi m / M} for m = -M+1 .. M-1 at rm[M + m]: the
                               referral's phasors when the carrier phase is 0 (no offset used) */
    double complex *Gs, *C, *Ci; /* ns x ns: the kept lags' Gram matrix, its Cholesky factor and
                                    inverse */
    double *var;            /* M: the estimate's error variance per used bin (0 elsewhere) */
    float complex *H;       /* M: the channel referred to the scheduled window */
    float complex *scratch; /* (3 + PHY_BEACON_MAX_REPS) (M + cp): the agent's derotated copy of
                               the beacon */
    unsigned reps;          /* the beacon's training blocks (§6.1) */
    phy_fft *fft;           /* forward, M: the beacon's blocks for the tracker's estimate */
    float complex *Yb;      /* 2 M: S0a's and S1's spectra */
    uint32_t *dmask;        /* 2 M_data: which payload entries of a symbol are delivered */
};

void ota_agent_destroy(ota_agent *q)
{
    if (!q)
        return;
    phy_beacon_rx_destroy(q->brx);
    phy_ota_tx_destroy(q->tx);
    phy_frame_destroy(q->frame);
    free(q->w);
    free(q->A);
    free(q->G);
    free(q->b);
    free(q->ph);
    free(q->hv);
    free(q->rm);
    free(q->t);
    free(q->Gs);
    free(q->C);
    free(q->Ci);
    free(q->var);
    free(q->H);
    phy_fft_free(q->scratch);
    phy_fft_destroy(q->fft);
    phy_fft_free(q->Yb);
    free(q->dmask);
    free(q);
}

/* Cholesky L L^H of the k x k Hermitian G (row-major; L, lower, into C). 0 if G is not positive
 * definite. */
static int cholesky(const double complex *G, unsigned k, double complex *C)
{
    for (unsigned i = 0; i < k; i++)
        for (unsigned j = 0; j <= i; j++) {
            double complex v = G[(size_t)i * k + j];
            for (unsigned m = 0; m < j; m++)
                v -= C[(size_t)i * k + m] * conj(C[(size_t)j * k + m]);
            if (i == j) {
                if (!(creal(v) > 1e-9 * creal(G[(size_t)i * k + i])))
                    return 0;
                C[(size_t)i * k + i] = sqrt(creal(v));
            } else {
                C[(size_t)i * k + j] = v / creal(C[(size_t)j * k + j]);
            }
        }
    return 1;
}

/* Solves L L^H x = y in place (y: k values; C from cholesky). */
static void chol_solve(const double complex *C, unsigned k, double complex *y)
{
    for (unsigned i = 0; i < k; i++) {
        double complex v = y[i];
        for (unsigned m = 0; m < i; m++)
            v -= C[(size_t)i * k + m] * y[m];
        y[i] = v / creal(C[(size_t)i * k + i]);
    }
    for (unsigned i = k; i-- > 0;) {
        double complex v = y[i];
        for (unsigned m = i + 1; m < k; m++)
            v -= conj(C[(size_t)m * k + i]) * y[m];
        y[i] = v / creal(C[(size_t)i * k + i]);
    }
}

/* Ci = (L L^H)^{-1} (k x k), column by column; col: k values of scratch. */
static void chol_inverse(const double complex *C, unsigned k, double complex *Ci, double complex *col)
{
    for (unsigned j = 0; j < k; j++) {
        for (unsigned i = 0; i < k; i++)
            col[i] = i == j;
        chol_solve(C, k, col);
        for (unsigned i = 0; i < k; i++)
            Ci[(size_t)i * k + j] = col[i];
    }
}

/* The smoothing basis (docs/air-interface.md §6.2): w (the beacon's energy per used bin: S0a, S0b
 * and S1, which the q->reps training blocks repeat), the lag vectors A (lags -2 .. ns-3) and
 * G = A^H W A. AM_EINVAL if the lags are not independent on the used bins. */
static am_status make_basis(ota_agent *q)
{
    const unsigned nu = q->nu, ns = q->ns, M = q->M;
    const float complex *X[3] = {phy_frame_s0a(q->frame), phy_frame_s0b(q->frame),
                                 phy_frame_s1(q->frame)};
    for (unsigned u = 0; u < nu; u++) {
        double e = 0.0;
        for (unsigned b = 0; b < 3; b++) {
            const float complex v = X[b][q->ubins[u]];
            e += (b == 2 ? 1.0 + q->reps : 1.0) *
                 (double)(crealf(v) * crealf(v) + cimagf(v) * cimagf(v));
        }
        q->w[u] = e;
    }
    for (unsigned u = 0; u < nu; u++)
        for (unsigned l = 0; l < ns; l++) {
            /* reduce i * lag mod M first so the angle stays exact */
            const long m = ((long)q->ubins[u] * ((long)l - 2 + (long)M)) % (long)M;
            q->A[(size_t)u * ns + l] = cexp(-I * 2.0 * M_PI * (double)m / (double)M);
        }
    for (unsigned l = 0; l < ns; l++)
        for (unsigned m = 0; m < ns; m++) {
            double complex v = 0.0;
            for (unsigned u = 0; u < nu; u++)
                v += q->w[u] * conj(q->A[(size_t)u * ns + l]) * q->A[(size_t)u * ns + m];
            q->G[(size_t)l * ns + m] = v;
        }
    if (!cholesky(q->G, ns, q->C))
        return AM_FAIL(AM_EINVAL, "agent: smooth = %u lags are not independent on the %u used bins",
                       ns, nu);
    return AM_OK;
}

double ota_agent_cfo_range(double extra, double ppm, double fc_fs, unsigned M)
{
    const double r = extra + 2.0 * ppm * 1e-6 * fc_fs * M;
    return r < (double)(M / 8) ? r : (double)(M / 8);
}

void ota_agent_clock_rule(ota_agent_cfg *cfg, double fc_fs, double spread_ppm, double extra_ms)
{
    const double a = spread_ppm * 1e-6 * fc_fs * (double)cfg->nfft;
    const double v = 2.0 * a * a / 3.0;
    const int on = isfinite(v) && v > 0.0 && isfinite(extra_ms) && extra_ms >= 0.0;
    cfg->clock_fc_fs = on ? fc_fs : 0.0;
    /* extra_ms 0: exactly 1 (the offset is all the clocks') */
    cfg->clock_share = on ? (extra_ms == 0.0 ? 1.0 : v / (v + extra_ms)) : 0.0;
}

double ota_agent_clock_drift(const ota_agent_cfg *cfg, double c, int *off)
{
    *off = 0;
    if (!cfg->cfo_comp || !(cfg->clock_fc_fs > 0.0))
        return 0.0;
    /* §4.2: the agent's ticks gain -c / (M f_c / f_s) per tick on the server's, c the clocks' part
       of the offset */
    const double r = -(cfg->clock_share * c) / ((double)cfg->nfft * cfg->clock_fc_fs);
    if (fabs(r) <= OTA_AGENT_CLOCK_MAX)
        return r;
    *off = 1;
    return 0.0;
}

am_status ota_agent_create(const ota_agent_cfg *cfg, ota_agent **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "ota_agent_create: NULL argument");
    *out = NULL;
    if (cfg->payload_len == 0 || cfg->payload_len > ((size_t)1 << 28))
        return AM_FAIL(AM_EINVAL, "agent: payload length %zu is outside 1..2^28", cfg->payload_len);
    if (cfg->beacon_reps > PHY_BEACON_MAX_REPS)
        return AM_FAIL(AM_EINVAL, "agent: beacon_reps: %u training blocks is outside 0..%u",
                       cfg->beacon_reps, PHY_BEACON_MAX_REPS);
    if (!isfinite(cfg->fc_fs) || cfg->fc_fs < 0.0 || cfg->fc_fs > 1e6)
        return AM_FAIL(AM_EINVAL, "agent: carrier over sample rate %g is outside 0..1e6",
                       cfg->fc_fs);
    if (!(cfg->clock_fc_fs == 0.0 ? cfg->clock_share == 0.0
                                  : cfg->clock_fc_fs > 0.0 && cfg->clock_fc_fs <= 1e6 &&
                                        cfg->clock_share > 0.0 && cfg->clock_share <= 1.0))
        return AM_FAIL(AM_EINVAL,
                       "agent: sampling clock: carrier over sample rate %g with share %g (0 and "
                       "0, or within (0, 1e6] and (0, 1])",
                       cfg->clock_fc_fs, cfg->clock_share);
    if (cfg->smooth < 1 || cfg->smooth > cfg->nfft / 2)
        return AM_FAIL(AM_EINVAL, "agent: smooth: %u taps is outside 1..M/2 = %u", cfg->smooth,
                       cfg->nfft / 2);
    ota_agent *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "agent: out of memory");
    q->cfg = *cfg;
    phy_frame_cfg fc = {cfg->nfft, cfg->cp_len, NULL};
    am_status s = phy_frame_create(&fc, &q->frame);
    if (s != AM_OK)
        goto fail;
    q->M = phy_frame_nfft(q->frame);
    q->cp = phy_frame_cp_len(q->frame);
    q->nu = phy_frame_n_used(q->frame);
    q->nd = phy_frame_n_data(q->frame);
    q->ubins = phy_frame_used_bins(q->frame);
    q->dbins = phy_frame_data_bins(q->frame);
    q->L = cfg->payload_len;
    q->reps = cfg->beacon_reps;
    q->ns = cfg->smooth + 2;
    const size_t ns = q->ns, nu = q->nu;
    q->w = malloc(nu * sizeof *q->w);
    q->A = malloc(nu * ns * sizeof *q->A);
    q->G = malloc(ns * ns * sizeof *q->G);
    q->b = malloc(ns * sizeof *q->b);
    q->ph = malloc(OTA_AGENT_FRAC_GRID * nu * sizeof *q->ph);
    q->hv = malloc(2 * nu * sizeof *q->hv);
    q->rm = malloc(2 * (size_t)q->M * sizeof *q->rm);
    q->t = malloc(ns * sizeof *q->t);
    q->Gs = malloc(ns * ns * sizeof *q->Gs);
    q->C = malloc(ns * ns * sizeof *q->C);
    q->Ci = malloc(ns * ns * sizeof *q->Ci);
    q->var = calloc(q->M, sizeof *q->var);
    if (!q->w || !q->A || !q->G || !q->b || !q->ph || !q->hv || !q->rm || !q->t || !q->Gs ||
        !q->C || !q->Ci || !q->var) {
        s = AM_FAIL(AM_ENOMEM, "agent: out of memory");
        goto fail;
    }
    for (unsigned j = 0; j < OTA_AGENT_FRAC_GRID; j++) { /* as lag_proj's cexp, bit for bit */
        const double tau = -0.5 + (double)j / OTA_AGENT_FRAC_GRID;
        for (unsigned u = 0; u < nu; u++) {
            const unsigned i = q->ubins[u];
            const double si = i < q->M / 2 ? (double)i : (double)i - (double)q->M;
            q->ph[(size_t)j * nu + u] = cexp(I * 2.0 * M_PI * si * tau / (double)q->M);
        }
    }
    for (long m = -(long)q->M + 1; m < (long)q->M; m++) /* as the referral's cexp, bit for bit */
        q->rm[(long)q->M + m] =
            (float complex)cexp(I * (0.0 - 2.0 * M_PI * (double)m / (double)q->M));
    if ((s = make_basis(q)) != AM_OK)
        goto fail;
    phy_beacon_rx_cfg bc;
    phy_beacon_rx_cfg_default(&bc);
    bc.frame = fc;
    bc.smooth = 0; /* raw: the least-squares fit below smooths (see smooth()) */
    bc.reps = q->reps;
    bc.cfo_max = cfg->cfo_max;
    phy_ota_tx_cfg tc;
    phy_ota_tx_cfg_default(&tc);
    tc.frame = fc;
    tc.payload_len = q->L;
    tc.cal_slots = cfg->cal_slots;
    tc.mapping = cfg->mapping;
    if ((s = phy_beacon_rx_create(&bc, &q->brx)) != AM_OK ||
        (s = phy_ota_tx_create(&tc, &q->tx)) != AM_OK)
        goto fail;
    q->blen = phy_ota_tx_burst_len(q->tx);
    q->H = malloc(q->M * sizeof *q->H);
    q->scratch = phy_fft_alloc((3 + PHY_BEACON_MAX_REPS) * phy_frame_block_len(q->frame));
    q->Yb = phy_fft_alloc(2 * (size_t)q->M);
    const phy_fft_cfg ffc = {q->M, 1, 0, 0, PHY_FFT_FORWARD, 0};
    if ((s = phy_fft_create(&ffc, &q->fft)) != AM_OK)
        goto fail;
    q->dmask = malloc(2 * (size_t)q->nd * sizeof *q->dmask);
    if (!q->H || !q->scratch || !q->dmask || !q->Yb) {
        s = AM_FAIL(AM_ENOMEM, "agent: out of memory");
        goto fail;
    }
    *out = q;
    return AM_OK;
fail:
    ota_agent_destroy(q);
    return s;
}

am_status ota_agent_set_pilot_level(ota_agent *q, float a)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "ota_agent_set_pilot_level: NULL");
    return phy_ota_tx_set_pilot_level(q->tx, a);
}

size_t ota_agent_burst_len(const ota_agent *q)
{
    return q ? q->blen : 0;
}

am_status ota_agent_set_beacon_reps(ota_agent *q, unsigned reps)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "ota_agent_set_beacon_reps: NULL argument");
    if (reps > PHY_BEACON_MAX_REPS)
        return AM_FAIL(AM_EINVAL, "agent: beacon_reps: %u training blocks is outside 0..%u", reps,
                       PHY_BEACON_MAX_REPS);
    if (reps == q->reps)
        return AM_OK;
    q->reps = reps;
    am_status s = phy_beacon_rx_set_reps(q->brx, reps);
    return s != AM_OK ? s : make_basis(q);
}

const phy_frame *ota_agent_frame(const ota_agent *q)
{
    return q ? q->frame : NULL;
}

/* The energy the least-squares fit on lags lo .. lo+k-1 explains, b_S^H G_S^{-1} b_S (weighted);
 * leaves the Cholesky factor of G_S in q->C and G_S^{-1} b_S in q->t. -1 if G_S is singular. */
static double span_energy(ota_agent *q, unsigned lo, unsigned k)
{
    const unsigned ns = q->ns;
    for (unsigned i = 0; i < k; i++) {
        for (unsigned j = 0; j < k; j++)
            q->Gs[(size_t)i * k + j] = q->G[(size_t)(lo + i) * ns + lo + j];
        q->t[i] = q->b[lo + i];
    }
    if (!cholesky(q->Gs, k, q->C))
        return -1.0;
    chol_solve(q->C, k, q->t);
    double e = 0.0;
    for (unsigned i = 0; i < k; i++)
        e += creal(conj(q->b[lo + i]) * q->t[i]);
    return e;
}

#define OTA_AGENT_LAG_SEL 6.0
#define OTA_AGENT_LAG_MARGIN 1u

/* b = A^H W (h e^{+j 2 pi s_i tau / M}) over the used bins (s_i the signed index): the lag
 * amplitudes of h advanced by the fraction tau of a sample. */
static void lag_proj_range(ota_agent *q,
                           const float complex *h,
                           double tau,
                           const double complex *ph,
                           unsigned l0,
                           unsigned l1)
{
    const unsigned nu = q->nu, ns = q->ns, M = q->M;
    /* the complex products written out on (re, im) pairs: the same operations in the same order
     * as C's complex multiply on finite values (ac - bd, ad + bc), without its NaN recovery:
     * conj(a) hu = re(a) (hr, hi) + im(a) (hi, -hr); each lag's sum over the bins in their order,
     * four lags at a time in registers */
    v2d *hv = q->hv;
    for (unsigned u = 0; u < nu; u++) {
        const unsigned i = q->ubins[u];
        const double si = i < M / 2 ? (double)i : (double)i - (double)M;
        double hr = q->w[u] * (double)crealf(h[i]), hi = q->w[u] * (double)cimagf(h[i]);
        if (tau != 0.0) {
            const double complex e = ph ? ph[u] : cexp(I * 2.0 * M_PI * si * tau / (double)M);
            const double er = creal(e), ei = cimag(e), r = hr * er - hi * ei;
            hi = hr * ei + hi * er;
            hr = r;
        }
        hv[2 * u] = (v2d){hr, hi};
        hv[2 * u + 1] = (v2d){hi, -hr};
    }
    const double *A = (const double *)q->A;
    v2d *b = (v2d *)q->b;
    unsigned l = l0;
    while (l < l1) {
        /* lags lb .. lb+3; the last block ends at l1 (its first lags again: the same sums) */
        const unsigned lb = l + 4 <= l1 ? l : l1 >= 4 ? l1 - 4 : ns;
        if (lb == ns)
            break;
        v2d s0 = {0.0, 0.0}, s1 = s0, s2 = s0, s3 = s0;
        for (unsigned u = 0; u < nu; u++) {
            const double *a = A + 2 * ((size_t)u * ns + lb);
            const v2d p = hv[2 * u], r = hv[2 * u + 1];
            s0 += (v2d){a[0], a[0]} * p + (v2d){a[1], a[1]} * r;
            s1 += (v2d){a[2], a[2]} * p + (v2d){a[3], a[3]} * r;
            s2 += (v2d){a[4], a[4]} * p + (v2d){a[5], a[5]} * r;
            s3 += (v2d){a[6], a[6]} * p + (v2d){a[7], a[7]} * r;
        }
        const v2d sv[4] = {s0, s1, s2, s3};
        for (unsigned j = l - lb; j < 4; j++)
            b[lb + j] = sv[j];
        l = lb + 4;
    }
    for (; l < l1; l++) { /* fewer than 4 lags in all */
        v2d s0 = {0.0, 0.0};
        for (unsigned u = 0; u < nu; u++) {
            const double *a = A + 2 * ((size_t)u * ns + l);
            s0 += (v2d){a[0], a[0]} * hv[2 * u] + (v2d){a[1], a[1]} * hv[2 * u + 1];
        }
        b[l] = s0;
    }
}

static void lag_proj(ota_agent *q, const float complex *h, double tau)
{
    lag_proj_range(q, h, tau, NULL, 0, q->ns);
}

/* The span of §6.2 step 2 from q->b: *lo, *k after the widening by OTA_AGENT_LAG_MARGIN. */
static void select_span(ota_agent *q, double n0, unsigned *lo_out, unsigned *k_out)
{
    const unsigned ns = q->ns;
    const double complex *b = q->b;
    unsigned lo = 0;
    double pk = -1.0;
    for (unsigned l = 0; l < ns; l++) {
        const double p = creal(b[l] * conj(b[l]));
        if (p > pk) {
            pk = p;
            lo = l;
        }
    }
    unsigned k = 1;
    double e = span_energy(q, lo, k);
    const double th = OTA_AGENT_LAG_SEL * n0;
    for (;;) {
        unsigned best_lo = lo, best_k = k;
        double best = e;
        for (unsigned step = 1; step <= 2 && best_k == k; step++) {
            if (lo >= step) { /* left */
                const double v = span_energy(q, lo - step, k + step);
                if (v - e > step * th && v > best) {
                    best = v;
                    best_lo = lo - step;
                    best_k = k + step;
                }
            }
            if (lo + k + step <= ns) { /* right */
                const double v = span_energy(q, lo, k + step);
                if (v - e > step * th && v > best) {
                    best = v;
                    best_lo = lo;
                    best_k = k + step;
                }
            }
        }
        if (best_k == k)
            break;
        lo = best_lo;
        k = best_k;
        e = best;
    }
    const unsigned hi0 = lo + k - 1;
    lo = lo > OTA_AGENT_LAG_MARGIN ? lo - OTA_AGENT_LAG_MARGIN : 0;
    k = (hi0 + OTA_AGENT_LAG_MARGIN < ns ? hi0 + OTA_AGENT_LAG_MARGIN : ns - 1) - lo + 1;
    *lo_out = lo;
    *k_out = k;
}

/* The channel estimate (the agent's DSP, docs/air-interface.md §6.2) from the raw per-bin estimate
 * h (noise N0 / w[u] on used bin u, n0 = the beacon's N0), by weighted least squares on a span of
 * the impulse-response lags -2 .. smooth-1, shifted by a fraction of a sample: the span starts at
 * the lag of the largest |b_l| and grows one lag at a time, left or right, whichever explains more
 * energy, while that lag explains more than OTA_AGENT_LAG_SEL N0 (a lag of noise alone explains
 * N0 on average; a step of two lags is tried when one is not enough, bridging a weak tap, and must
 * explain OTA_AGENT_LAG_SEL N0 per lag); then widened by OTA_AGENT_LAG_MARGIN lags each side. The
 * fraction tau in [-1/2, 1/2) is the one whose lags l + tau explain the most energy on that span
 * (a grid of OTA_AGENT_FRAC_GRID, then the parabola through the best point and its neighbours),
 * and the span is chosen again on the shifted lags: a channel whose paths are not on the sample
 * grid (a fractional delay, the radios' turnaround error) spreads over every integer lag, and the
 * span would cut its tails. out: M values, 0 on null bins; q->var: the estimate's error variance
 * per used bin, N0 [A_S G_S^{-1} A_S^H]_uu (the shift does not change it). The noise of the lags
 * the channel does not use stays out: about (smooth + 2) / span of the noise power of the fit over
 * every lag. (Zeroing the lags of the IFFT of the band-limited estimate instead, as phy_beacon_rx's
 * `smooth` does, leaks: the guard bands spread every tap over all lags, and the truncation leaves
 * a bias of -21 dB even at M/2 lags.) */
static void smooth(ota_agent *q, const float complex *h, double n0, float complex *out)
{
    const unsigned nu = q->nu, ns = q->ns, M = q->M;
    unsigned lo, k;
    lag_proj(q, h, 0.0);
    select_span(q, n0, &lo, &k);
    double Eg[OTA_AGENT_FRAC_GRID];
    unsigned jb = 0;
    for (unsigned j = 0; j < OTA_AGENT_FRAC_GRID; j++) {
        const double tau = -0.5 + (double)j / OTA_AGENT_FRAC_GRID;
        /* span_energy reads b on the span only; ph[j]: lag_proj's phasors, computed once */
        lag_proj_range(q, h, tau, q->ph + (size_t)j * q->nu, lo, lo + k);
        Eg[j] = span_energy(q, lo, k);
        if (Eg[j] > Eg[jb])
            jb = j;
    }
    const double em = Eg[(jb + OTA_AGENT_FRAC_GRID - 1) % OTA_AGENT_FRAC_GRID], e0 = Eg[jb],
                 ep = Eg[(jb + 1) % OTA_AGENT_FRAC_GRID], den = em - 2.0 * e0 + ep;
    double d = den < 0.0 ? 0.5 * (em - ep) / den : 0.0; /* the parabola's vertex, in grid steps */
    d = d > 0.5 ? 0.5 : d < -0.5 ? -0.5 : d;
    double tau = -0.5 + ((double)jb + d) / OTA_AGENT_FRAC_GRID;
    tau = tau >= 0.5 ? tau - 1.0 : tau < -0.5 ? tau + 1.0 : tau;
    lag_proj(q, h, tau);
    select_span(q, n0, &lo, &k);
    memset(out, 0, q->M * sizeof *out);
    if (span_energy(q, lo, k) < 0.0)
        return; /* cannot happen: any set of the independent lags (make_basis) is independent */
    const double complex *ts = q->t, *C = q->C;
    double complex *Ci = q->Ci;
    chol_inverse(C, k, Ci, q->b); /* b is not needed any more */
    for (unsigned u = 0; u < nu; u++) {
        const unsigned i = q->ubins[u];
        const double si = i < M / 2 ? (double)i : (double)i - (double)M;
        /* v = sum_a A_ua t_a, ev = sum_a re(A_ua sum_j Ci_aj conj(A_uj)): the complex products
         * written out (as in lag_proj_range) */
        const double *au = (const double *)(q->A + (size_t)u * ns + lo), *ci = (const double *)Ci;
        const double *tv = (const double *)ts;
        double vr = 0.0, vi = 0.0, ev = 0.0;
        unsigned a = 0;
        for (; a + 2 <= k; a += 2) { /* rows a and a + 1 side by side (each sum in its order) */
            double rr = 0.0, ri = 0.0, rr1 = 0.0, ri1 = 0.0;
            const double *c = ci + 2 * (size_t)a * k, *c1 = c + 2 * (size_t)k;
            for (unsigned j = 0; j < k; j++) { /* Ci_aj conj(A_uj) */
                rr += c[2 * j] * au[2 * j] + c[2 * j + 1] * au[2 * j + 1];
                ri += c[2 * j + 1] * au[2 * j] - c[2 * j] * au[2 * j + 1];
                rr1 += c1[2 * j] * au[2 * j] + c1[2 * j + 1] * au[2 * j + 1];
                ri1 += c1[2 * j + 1] * au[2 * j] - c1[2 * j] * au[2 * j + 1];
            }
            const double ar = au[2 * a], ai = au[2 * a + 1];
            const double ar1 = au[2 * a + 2], ai1 = au[2 * a + 3];
            vr += ar * tv[2 * a] - ai * tv[2 * a + 1];
            vi += ar * tv[2 * a + 1] + ai * tv[2 * a];
            ev += ar * rr - ai * ri;
            vr += ar1 * tv[2 * a + 2] - ai1 * tv[2 * a + 3];
            vi += ar1 * tv[2 * a + 3] + ai1 * tv[2 * a + 2];
            ev += ar1 * rr1 - ai1 * ri1;
        }
        for (; a < k; a++) {
            const double ar = au[2 * a], ai = au[2 * a + 1];
            vr += ar * tv[2 * a] - ai * tv[2 * a + 1];
            vi += ar * tv[2 * a + 1] + ai * tv[2 * a];
            double rr = 0.0, ri = 0.0;
            const double *c = ci + 2 * (size_t)a * k;
            for (unsigned j = 0; j < k; j++) { /* Ci_aj conj(A_uj) */
                rr += c[2 * j] * au[2 * j] + c[2 * j + 1] * au[2 * j + 1];
                ri += c[2 * j + 1] * au[2 * j] - c[2 * j] * au[2 * j + 1];
            }
            ev += ar * rr - ai * ri;
        }
        double complex v = CMPLX(vr, vi);
        if (tau != 0.0)
            v *= cexp(-I * 2.0 * M_PI * si * tau / (double)M);
        out[i] = (float complex)v;
        q->var[i] = n0 * ev;
    }
}

/* The beacon's offset for the tracker: the detector's estimate c0 (lag M/2 inside S0) refined on
 * the agent's copy x[0..3 (M + cp)) of the beacon (window reference a, S0a's window at cp): after
 * derotation by c0, the spectra Y0 of S0a and Y2 of S1, two blocks (2 (M + cp) samples) apart,
 * give the residual r from the phase of sum_i conj(Y0[i] conj(X0[i])) Y2[i] conj(X2[i]) over the
 * bins both carry (S0's even bins): 2 pi r 2 (M + cp) / M. A lag 4.5 times the detector's;
 * unambiguous for |r| < M / (4 (M + cp)) = 0.22 spacings (c0's error is ~1e-3); a timing error
 * turns both spectra alike and cancels. Uses q->scratch. */
static double beacon_cfo(ota_agent *q, const float complex *x, double c0)
{
    const unsigned M = q->M, cp = q->cp;
    const size_t B = (size_t)M + cp, span = 3 * B;
    memcpy(q->scratch, x, span * sizeof *x);
    phy_rotate(q->scratch, span, -c0, M, 0.0);
    float complex *Y0 = q->Yb, *Y2 = q->Yb + M;
    phy_fft_execute_on(q->fft, q->scratch + cp, Y0);
    phy_fft_execute_on(q->fft, q->scratch + 2 * B + cp, Y2);
    const float complex *X0 = phy_frame_s0a(q->frame), *X2 = phy_frame_s1(q->frame);
    double complex z = 0.0;
    for (unsigned u = 0; u < q->nu; u++) {
        const unsigned i = q->ubins[u];
        if (X0[i] == 0.0f || X2[i] == 0.0f)
            continue;
        z += conj((double complex)(Y0[i] * conjf(X0[i]))) * (double complex)(Y2[i] * conjf(X2[i]));
    }
    if (z == 0.0)
        return c0;
    return c0 + carg(z) * (double)M / (2.0 * M_PI * 2.0 * (double)B);
}

void ota_agent_track_init(ota_agent_track *t, unsigned len)
{
    if (!t)
        return;
    memset(t, 0, sizeof *t);
    t->len = len < 1 ? 1 : len > OTA_AGENT_TRACK_MAX ? OTA_AGENT_TRACK_MAX : len;
}

void ota_agent_track_push(ota_agent_track *t, double c)
{
    if (!t)
        return;
    if (t->len < 1 || t->len > OTA_AGENT_TRACK_MAX || t->head >= t->len || t->n > t->len)
        ota_agent_track_init(t, t->len);
    t->c[t->head] = c;
    t->head = (t->head + 1) % t->len;
    if (t->n < t->len)
        t->n++;
}

double ota_agent_track_value(const ota_agent_track *t)
{
    if (!t || t->n == 0 || t->len < 1 || t->len > OTA_AGENT_TRACK_MAX || t->n > t->len)
        return 0.0;
    /* oldest first: n slots back from the next one */
    const unsigned len = t->len;
    unsigned i = (t->head + len - t->n) % len;
    double sum = 0.0;
    for (unsigned j = 0; j < t->n; j++, i = (i + 1) % len)
        sum += t->c[i];
    return sum / (double)t->n;
}

/* docs/air-interface.md §4.1, the estimate's error v (q->var) in the inversion: p = sqrt(rho)
 * conj(H) / (|H|^2 + v), the inversion times |H|^2 / (|H|^2 + v) (the gain minimising the error of
 * the agent's own contribution given its estimate). No bin is erased for it: an erased entry waits
 * in the error memory, which the learning loop pays for (§4.1). */
static void regularise(const ota_agent *q, const float complex *H, double vscale, float complex *p)
{
    for (unsigned u = 0; u < q->nu; u++) {
        const unsigned i = q->ubins[u];
        if (p[i] == 0.0f)
            continue;
        const double g = (double)(crealf(H[i]) * crealf(H[i]) + cimagf(H[i]) * cimagf(H[i]));
        p[i] *= (float)(g / (g + vscale * q->var[i]));
    }
}

/* docs/air-interface.md §4.2 "Free-running radios": the clock offset eps predicted at the beacon
 * tick B from the tracked carrier offset c (one reference clock: the agent's ticks gain
 * -c / (M fc_fs) per tick on the server's), H' = the estimate referred to the scheduled window
 * moved by eps (x = a - B - eps) and to the carrier phase at B; the downlink LO phase phi_lo
 * follows H' from beacon to beacon (the arg of the correlation of the J sub-band sums with the
 * last beacon's, taken only when it is at least half their norms' product: a channel that
 * changed tells nothing); then H = H' e^{-j 2 pi i (adv - eps) / M} for the burst sent adv =
 * round(eps) ticks late. trk is updated (lo_n, lo_tick, lo_eps, lo_phase, lo_s). */
#define OTA_AGENT_LO_COH 0.5
#define OTA_AGENT_LO_AVG 16u
/* bin i's signed frequency index (a fractional delay turns bin i by its frequency, not by i) */
static long sgn_bin(unsigned i, unsigned M)
{
    return i < M / 2 ? (long)i : (long)i - (long)M;
}
/* §4.2 step 1 at the first beacon: the delay tau of the estimate referred to the scheduled window,
 * -M / (2 pi) arg sum H0[j] conj(H0[i]) (arg in [-pi, pi)) over the pairs of used bins next to each
 * other in signed index (k_j = k_i + 1), H0[i] = H[i] e^{-j 2 pi k (a - B) / M}, x = a - B (no
 * carrier term: it is common to the bins and cancels in every product). It is the agent's clock
 * offset plus the air's delay, which the agent cannot tell apart: taken whole as its clock offset,
 * every agent's burst reaches the server at twice the air's delay whatever its clock. */
static double first_delay(const ota_agent *q, const float complex *H, double x)
{
    const unsigned M = q->M;
    double complex z = 0.0;
    for (unsigned u = 0; u + 1 < q->nu; u++) {
        const unsigned i = q->ubins[u], j = q->ubins[u + 1];
        if (j != i + 1 || j == M / 2)
            continue;
        /* H0[j] conj(H0[i]) = H[j] conj(H[i]) e^{-j 2 pi x / M} (k_j - k_i = 1) */
        z += (double complex)H[j] * conj((double complex)H[i]);
    }
    if (z == 0.0)
        return 0.0;
    double ph = carg(z) - 2.0 * M_PI * fmod(x, (double)M) / (double)M;
    ph -= 2.0 * M_PI * floor((ph + M_PI) / (2.0 * M_PI)); /* [-pi, pi) */
    return -(double)M / (2.0 * M_PI) * ph;
}

/* §4.2 step 1: the offset the clock's rate is predicted from, c_lo moved by the whole number of
 * a = M / (B - B_p) nearest to c - c_lo. A step measures c_lo up to a multiple of a (unambiguous
 * only while the offset it starts from is within a / 2 of the truth, which two beacons' mean often
 * is not); such a c_lo predicts the LO phase from beacon to beacon and over a constant gap as well
 * as the true one, but not the clock: the tracked mean c, less precise, is not ambiguous. */
static double clock_offset(double c_lo, double c, double M, int64_t step)
{
    if (step <= 0)
        return c_lo;
    const double a = M / (double)step;
    return c_lo + a * (double)llround((c - c_lo) / a);
}

static void lo_track(ota_agent *q,
                     ota_agent_track *trk,
                     int64_t B,
                     double c,
                     int64_t delta,
                     double ph_c,
                     float complex *H,
                     int64_t *adv,
                     double *lo_rot,
                     double *lo_c)
{
    const unsigned M = q->M;
    double eps = 0.0;
    const double cr = trk->lo_cn > 0 ? trk->lo_c : c; /* the best offset known before this beacon */
    if (trk->lo_n > 0) {
        const double ck =
            trk->lo_cn > 0 ? clock_offset(cr, c, (double)M, B - trk->lo_tick) : cr;
        eps = trk->lo_eps - ck / ((double)M * q->cfg.fc_fs) * (double)(B - trk->lo_tick);
    } else
        eps = first_delay(q, H, (double)delta);
    const int64_t n = llround(eps);
    /* H': window at B + eps */
    const double x = (double)delta - eps;
    for (unsigned i = 0; i < M; i++) {
        const double m = fmod((double)sgn_bin(i, M) * x, (double)M);
        H[i] *= (float complex)cexp(I * (-ph_c - 2.0 * M_PI * m / (double)M));
    }
    float complex S[OTA_AGENT_LO_J];
    memset(S, 0, sizeof S);
    for (unsigned u = 0; u < q->nu; u++)
        S[(size_t)u * OTA_AGENT_LO_J / q->nu] += H[q->ubins[u]];
    if (trk->lo_n > 0) {
        double complex z = 0.0;
        double e0 = 0.0, e1 = 0.0;
        for (unsigned j = 0; j < OTA_AGENT_LO_J; j++) {
            z += conj((double complex)trk->lo_s[j]) * (double complex)S[j];
            e0 += creal(trk->lo_s[j] * conjf(trk->lo_s[j]));
            e1 += creal(S[j] * conjf(S[j]));
        }
        if (cabs(z) >= OTA_AGENT_LO_COH * sqrt(e0 * e1) && cabs(z) > 0.0 && B > trk->lo_tick) {
            double p = trk->lo_phase + carg(z);
            p -= 2.0 * M_PI * floor((p + M_PI) / (2.0 * M_PI));
            trk->lo_phase = p;
            /* the step's offset: arg z is 2 pi c (B - B_p) / M up to turns, resolved by cr */
            const double w = 2.0 * M_PI * (double)(B - trk->lo_tick) / (double)M;
            double r = carg(z) - fmod(cr * w, 2.0 * M_PI);
            r -= 2.0 * M_PI * floor((r + M_PI) / (2.0 * M_PI));
            const double cm = cr + r / w;
            const unsigned k = trk->lo_cn < OTA_AGENT_LO_AVG ? trk->lo_cn + 1 : OTA_AGENT_LO_AVG;
            trk->lo_c = trk->lo_cn > 0 ? trk->lo_c + (cm - trk->lo_c) / (double)k : cm;
            if (trk->lo_cn < UINT32_MAX)
                trk->lo_cn++;
        }
    }
    memcpy(trk->lo_s, S, sizeof S);
    trk->lo_tick = B;
    trk->lo_eps = eps;
    if (trk->lo_n < UINT32_MAX)
        trk->lo_n++;
    /* the burst's window: adv ticks late, eps expected */
    const double y = (double)n - eps;
    for (unsigned i = 0; i < M; i++) {
        const double m = fmod((double)sgn_bin(i, M) * y, (double)M);
        H[i] *= (float complex)cexp(I * (-2.0 * M_PI * m / (double)M));
    }
    *adv = n;
    *lo_rot = 2.0 * trk->lo_phase;
    *lo_c = trk->lo_cn > 0 ? trk->lo_c : c;
}

am_status ota_agent_beacon(ota_agent *q,
                           const float complex *x,
                           size_t n,
                           int64_t t0,
                           const ota_agent_sched *sc,
                           float complex *p,
                           ota_agent_link *link)
{
    return ota_agent_beacon_track(q, x, n, t0, sc, NULL, p, link);
}

am_status ota_agent_beacon_track(ota_agent *q,
                                 const float complex *x,
                                 size_t n,
                                 int64_t t0,
                                 const ota_agent_sched *sc,
                                 ota_agent_track *trk,
                                 float complex *p,
                                 ota_agent_link *link)
{
    if (!q || (!x && n) || !sc || !p || !link)
        return AM_FAIL(AM_EINVAL, "ota_agent_beacon: NULL argument");
    memset(link, 0, sizeof *link);
    const unsigned M = q->M;
    /* §4.2 free-running radios: the beacon is looked for where the predicted clock offset puts it */
    const int lo_on = q->cfg.fc_fs > 0.0 && q->cfg.cfo_comp && trk;
    int64_t n_pred = 0;
    if (lo_on && trk->lo_n > 0) {
        const double ct = ota_agent_track_value(trk);
        const double cr = trk->lo_cn > 0 ? clock_offset(trk->lo_c, ct, (double)M,
                                                        sc->beacon - trk->lo_tick)
                                         : ct;
        const double rate = -cr / ((double)M * q->cfg.fc_fs);
        n_pred = llround(trk->lo_eps + rate * (double)(sc->beacon - trk->lo_tick));
    }
    phy_beacon_rx_reset(q->brx);
    size_t pos = 0;
    int found = 0;
    phy_beacon_est est;
    memset(&est, 0, sizeof est);
    while (pos < n && !found) {
        size_t used = 0;
        am_status s = phy_beacon_rx_execute(q->brx, x + pos, n - pos, &used, &found, &est);
        if (s != AM_OK)
            return am_error_wrap(s, "beacon");
        pos += used;
        const int64_t first = t0 + (int64_t)est.start;
        if (found && (first < sc->lo + n_pred || first > sc->hi + n_pred))
            found = 0; /* not the scheduled beacon: keep listening */
        if (!found && used == 0)
            break;
    }
    if (!found)
        return AM_OK;
    const size_t span = (3 + (size_t)q->reps) * phy_frame_block_len(q->frame);
    /* The CFO (the beacon's estimate: its lag-M/2 correlation over the whole S0 stretch is within
     * a few % of the best a 2-block periodic preamble allows) or none (shared reference), then the
     * channel estimate on the agent's own derotated copy of the beacon, anchored `backoff` samples
     * before the first path so that a late first-path decision still leaves the FFT windows inside
     * the cp. */
    const int64_t s0 = t0 + (int64_t)est.start; /* est is the genie estimate's from here on */
    const double c_est = est.cfo;
    const float snr_db = est.snr_db;
    const unsigned backoff = q->cp >= 8 ? 2u : q->cp / 4u;
    const size_t ia = est.start >= backoff ? (size_t)est.start - backoff : 0;
    if (ia + span > n) /* the stream ends inside the beacon: nothing to estimate from */
        return AM_OK;
    /* §4.2: the offset used from here on (the beacon's derotation, the channel's phase reference
     * and the burst's pre-rotation) is the tracked one: the mean of this and the last beacons' */
    double c = 0.0, c_meas = c_est;
    if (q->cfg.cfo_comp && trk) {
        c_meas = beacon_cfo(q, x + ia, c_est);
        ota_agent_track_push(trk, c_meas);
        c = ota_agent_track_value(trk);
    } else if (q->cfg.cfo_comp) {
        c = c_est;
    }
    memcpy(q->scratch, x + ia, span * sizeof *x);
    if (c != 0.0)
        phy_rotate(q->scratch, span, -c, M, 0.0);
    am_status s = phy_beacon_rx_estimate_at(q->brx, q->scratch, span, &est);
    if (s != AM_OK)
        return am_error_wrap(s, "channel estimate");
    float complex *H = q->H;
    smooth(q, est.h, (double)est.n0, H);
    /* docs/air-interface.md §6: refer the estimate (window reference a) to the scheduled window */
    const int64_t a = t0 + (int64_t)ia, delta = a - sc->beacon;
    const double ph_c = fmod(2.0 * M_PI * c * (double)(a - sc->phase_ref) / (double)M, 2.0 * M_PI);
    int64_t adv = 0;
    double lo_rot = 0.0, lo_c = 0.0;
    if (!lo_on) {
        for (unsigned i = 0; i < M; i++) {
            /* reduce i * delta mod M first so the angle stays exact */
            int64_t m = ((int64_t)i * delta) % (int64_t)M;
            double ang = -ph_c - 2.0 * M_PI * (double)m / (double)M;
            /* ph_c = +-0 and m != 0: ang is exactly rm's angle */
            H[i] *= ph_c == 0.0 && m != 0 ? q->rm[(int64_t)M + m] : (float complex)cexp(I * ang);
        }
    } else {
        lo_track(q, trk, sc->beacon, c, delta, ph_c, H, &adv, &lo_rot, &lo_c);
    }
    /* §4.1 "Link budget": the uplink's gain, in the server's received power, from the downlink's */
    double vscale = 1.0;
    if (sc->link_db != 0.0f) {
        if (!isfinite(sc->link_db) || fabsf(sc->link_db) > 300.0f)
            return AM_FAIL(AM_EINVAL, "agent: link gain %g dB (finite, within +-300)",
                           (double)sc->link_db);
        const double amp = pow(10.0, (double)sc->link_db / 20.0);
        vscale = amp * amp;
        for (unsigned i = 0; i < M; i++)
            H[i] *= (float)amp;
    }
    unsigned erased = 0;
    s = q->cfg.phase_only ? phy_precode_phase(q->frame, H, sc->rho, p, &erased)
                          : phy_precode_inversion(q->frame, H, sc->rho, sc->g_th, p, &erased);
    if (s != AM_OK)
        return am_error_wrap(s, "precoder");
    if (!q->cfg.phase_only)
        regularise(q, H, vscale, p);
    link->found = 1;
    link->start = s0;
    link->delta = s0 - sc->beacon;
    link->cfo = (float)c_meas;
    /* without a tracker the burst keeps version 1's float-rounded estimate (the same bytes) */
    link->cfo_used = !q->cfg.cfo_comp ? 0.0 : trk ? c : (double)link->cfo;
    link->snr_db = snr_db;
    link->erased = erased;
    link->adv = adv;
    link->lo_rot = lo_rot;
    link->lo_c = lo_c;
    link->drift =
        ota_agent_clock_drift(&q->cfg, lo_c != 0.0 ? lo_c : link->cfo_used, &link->drift_off);
    return AM_OK;
}

/* Checks shared by the burst calls. */
static am_status burst_args(const ota_agent *q,
                            const ota_agent_link *link,
                            const float complex *p,
                            const float *x,
                            size_t d)
{
    if (!q || !link || !p || !x)
        return AM_FAIL(AM_EINVAL, "ota_agent_burst: NULL argument");
    if (!link->found)
        return AM_FAIL(AM_EINVAL, "agent: no beacon found this round");
    if (d == 0 || d > q->L)
        return AM_FAIL(AM_EINVAL, "agent: payload of %zu reals (1..%zu)", d, q->L);
    return AM_OK;
}

am_status ota_agent_burst_range(ota_agent *q,
                                const ota_agent_link *link,
                                const float complex *p,
                                const float *x,
                                size_t d,
                                float eta,
                                int64_t t,
                                size_t u0,
                                size_t n,
                                float complex *out)
{
    am_status s = burst_args(q, link, p, x, d);
    if (s != AM_OK)
        return s;
    if (!out && n)
        return AM_FAIL(AM_EINVAL, "ota_agent_burst: NULL argument");
    /* a shorter payload is zero-padded to L on the air: the transmitter reads zeros past d */
    if (q->cfg.cal_slots && (s = phy_ota_tx_set_slot(q->tx, link->cal_slot)) != AM_OK)
        return am_error_wrap(s, "transmitter");
    if (q->cfg.cfo_comp && q->cfg.clock_fc_fs > 0.0 &&
        (s = phy_ota_tx_set_drift(q->tx, link->drift)) != AM_OK) /* §4.2, from the beacon */
        return am_error_wrap(s, "transmitter");
    s = phy_ota_tx_execute_range(q->tx, x, d, eta, p, u0, n, out);
    if (s != AM_OK)
        return am_error_wrap(s, "transmitter");
    if (q->cfg.cfo_comp) {
        /* the uplink offset is minus the downlink one; the agent's oscillator turns each sample at
         * its transmit tick, counted from the channel's phase reference (§4.2) */
        /* free-running radios: the offset of the LO phase's steps (§4.2) */
        const double c = link->lo_c != 0.0 ? link->lo_c : link->cfo_used;
        /* the agent's transmit tick (§4.2): no delay in it; with fc_fs the burst goes adv ticks
         * later and carries 2 phi_lo more (both 0 otherwise: the same bytes) */
        const double ph = (double)t + (double)link->adv;
        double ph0 = fmod(2.0 * M_PI * c * ph / (double)q->M, 2.0 * M_PI);
        if (link->lo_rot != 0.0)
            ph0 = fmod(ph0 + link->lo_rot, 2.0 * M_PI);
        phy_rotate_from(out, n, c, q->M, ph0, u0);
    }
    return AM_OK;
}

void ota_agent_correct(ota_agent *q, const float complex *A, float complex *p)
{
    float complex *a = q->H; /* scratch: H is not needed once p is made */
    phy_cal_interp(q->frame, A, a);
    for (unsigned i = 0; i < q->M; i++)
        p[i] *= a[i];
}

void ota_agent_delivered(
    ota_agent *q, const float complex *p, const float *x, size_t d, float *delivered)
{
    /* §3: entry j on data bin dbins[(j/2) % M_data] (§3.3 real mapping: dbins[j % M_data]): a
     * mask over one symbol's 2 M_data (M_data) entries, then x where it is all ones, +0 where the
     * bin was truncated (bits: exact copies) */
    const int real = q->cfg.mapping == PHY_MAP_REAL;
    const size_t per = (real ? 1 : 2) * (size_t)q->nd;
    uint32_t *mask = q->dmask;
    for (unsigned j = 0; j < q->nd; j++) {
        const uint32_t m = p[q->dbins[j]] == 0.0f ? 0u : 0xffffffffu;
        if (real)
            mask[j] = m;
        else
            mask[2 * j] = mask[2 * j + 1] = m;
    }
    for (size_t j0 = 0; j0 < d; j0 += per) {
        const size_t e = d - j0 < per ? d - j0 : per;
        for (size_t j = 0; j < e; j++) {
            uint32_t u;
            memcpy(&u, x + j0 + j, sizeof u);
            u &= mask[j];
            memcpy(delivered + j0 + j, &u, sizeof u);
        }
    }
}

am_status ota_agent_burst(ota_agent *q,
                          const ota_agent_link *link,
                          const float complex *p,
                          const float *x,
                          size_t d,
                          float eta,
                          int64_t t,
                          float complex *out,
                          size_t cap,
                          float *delivered)
{
    am_status s = burst_args(q, link, p, x, d);
    if (s != AM_OK)
        return s;
    if (!out)
        return AM_FAIL(AM_EINVAL, "ota_agent_burst: NULL argument");
    if (cap < q->blen)
        return AM_FAIL(AM_EINVAL, "transmitter: output capacity %zu < burst length %zu", cap,
                       q->blen);
    if ((s = ota_agent_burst_range(q, link, p, x, d, eta, t, 0, q->blen, out)) != AM_OK)
        return s;
    if (delivered)
        ota_agent_delivered(q, p, x, d, delivered);
    return AM_OK;
}
