/* phy/cal: calibration layout, sub-bands and the agent's correction (docs/air-interface.md §8). */
#include "phy/cal.h"

#include <liquid/liquid.h>
#include <math.h>

unsigned phy_cal_blocks(unsigned n_used, unsigned slots, unsigned *period)
{
    unsigned P = n_used / 8u;
    if (P > slots)
        P = slots;
    if (P < 1)
        P = 1;
    if (period)
        *period = P;
    return slots ? (slots + P - 1) / P : 0;
}

/* signed index of bin i */
static long sidx(unsigned i, unsigned M)
{
    return i < M / 2 ? (long)i : (long)i - (long)M;
}

void phy_cal_groups(const phy_frame *f, unsigned char *group, float *centre)
{
    const unsigned M = phy_frame_nfft(f), nu = phy_frame_n_used(f), Q = PHY_CAL_Q;
    const unsigned *used = phy_frame_used_bins(f);
    /* used bins in signed order: those >= M/2 (negative frequencies) first, each run increasing */
    unsigned neg = 0;
    while (neg < nu && used[neg] < M / 2)
        neg++;
    const unsigned base = nu / Q, extra = nu % Q;
    double sum[PHY_CAL_Q] = {0};
    unsigned cnt[PHY_CAL_Q] = {0};
    if (group)
        for (unsigned i = 0; i < M; i++)
            group[i] = 0xFF;
    unsigned q = 0, inq = 0;
    for (unsigned r = 0; r < nu; r++) {
        const unsigned i = used[(r + neg) % nu];
        if (inq == base + (q < extra)) {
            q++;
            inq = 0;
        }
        if (group)
            group[i] = (unsigned char)q;
        sum[q] += (double)sidx(i, M);
        cnt[q]++;
        inq++;
    }
    if (centre)
        for (q = 0; q < Q; q++)
            centre[q] = cnt[q] ? (float)(sum[q] / cnt[q]) : 0.0f;
}

void phy_cal_update(float complex *A, const float complex *E, float mu)
{
    float m[PHY_CAL_Q];
    for (unsigned q = 0; q < PHY_CAL_Q; q++)
        m[q] = mu;
    phy_cal_update_bands(A, E, m);
}

void phy_cal_update_bands(float complex *A, const float complex *E, const float *mu)
{
    for (unsigned q = 0; q < PHY_CAL_Q; q++) {
        const double complex e = (double complex)E[q];
        if (!(isfinite(creal(e)) && isfinite(cimag(e))) || cabs(e) == 0.0)
            continue;
        double complex a = (double complex)A[q] * cexp(-(double)mu[q] * clog(e));
        double m = cabs(a);
        if (m < PHY_CAL_A_MIN)
            a *= PHY_CAL_A_MIN / m;
        else if (m > PHY_CAL_A_MAX)
            a *= PHY_CAL_A_MAX / m;
        A[q] = (float complex)a;
    }
}

void phy_cal_unmix(const float *W,
                   const unsigned char *meas,
                   const uint32_t *n,
                   unsigned n_used,
                   float snr_db,
                   float complex *E)
{
    enum { Q = PHY_CAL_Q };
    unsigned li[Q], nl = 0, nk = 0;
    for (unsigned q = 0; q < Q; q++) {
        if (meas && !meas[q])
            continue;
        if (n[q])
            nk++;
        else
            li[nl++] = q;
    }
    if (!nl || !nk)
        return; /* no pair first measured, or none measured before: E as measured */
    /* W_LL diagonally dominant by 1/4 in every row (|W_LL^-1|_inf <= 4: no noise blown up) */
    for (unsigned r = 0; r < nl; r++) {
        double off = 0.0;
        for (unsigned c = 0; c < nl; c++)
            off += c == r ? 0.0 : fabs((double)W[li[r] * Q + li[c]]);
        if (!((double)W[li[r] * Q + li[r]] - off >= 0.25))
            return;
    }
    /* least squares over the measured rows q: E[q] = g + sum_(j in L) W[q][j] y_j, g the agent's
     * common gain (1 when right; a DAC scale, a common turn), y = g x_L */
    const unsigned nz = nl + 1;
    double N[(Q + 1) * (Q + 1)], N2[(Q + 1) * (Q + 1)], br[Q + 1] = {0}, bi[Q + 1] = {0},
        zr[Q + 1], zi[Q + 1];
    for (unsigned i = 0; i < nz * nz; i++)
        N[i] = 0.0;
    for (unsigned q = 0; q < Q; q++) {
        if (meas && !meas[q])
            continue;
        double row[Q + 1];
        row[0] = 1.0;
        for (unsigned r = 0; r < nl; r++)
            row[r + 1] = (double)W[q * Q + li[r]];
        for (unsigned a = 0; a < nz; a++) {
            for (unsigned b = 0; b < nz; b++)
                N[a * nz + b] += row[a] * row[b];
            br[a] += row[a] * (double)crealf(E[q]);
            bi[a] += row[a] * (double)cimagf(E[q]);
        }
    }
    for (unsigned i = 0; i < nz * nz; i++)
        N2[i] = N[i];
    matrix_linsolve(N, nz, br, zr, NULL);
    matrix_linsolve(N2, nz, bi, zi, NULL);
    const double complex g = zr[0] + I * zi[0];
    if (!(isfinite(creal(g)) && isfinite(cimag(g)) && cabs(g) > 0.0))
        return;
    double complex y[Q];
    /* each x_q = y_q / g shrunk by its measurement's noise: (1 - v / (W[q][q]^2 |x_q|^2)), at
     * least 0 */
    const double v = PHY_CAL_Q / ((double)n_used * pow(10.0, (double)snr_db / 10.0));
    for (unsigned r = 0; r < nl; r++) {
        y[r] = zr[r + 1] + I * zi[r + 1];
        if (!(isfinite(creal(y[r])) && isfinite(cimag(y[r]))))
            return;
        const double w = (double)W[li[r] * Q + li[r]], x = cabs(y[r] / g);
        y[r] *= x > 0.0 ? fmax(0.0, 1.0 - v / (w * w * x * x)) : 0.0;
    }
    for (unsigned q = 0; q < Q; q++) {
        if (meas && !meas[q])
            continue;
        if (!n[q]) {
            unsigned r = 0;
            while (li[r] != q)
                r++;
            E[q] = (float complex)(g + y[r]);
        } else {
            double complex leak = 0.0;
            for (unsigned r = 0; r < nl; r++)
                leak += (double)W[q * Q + li[r]] * y[r];
            E[q] = (float complex)((double complex)E[q] - leak);
        }
    }
}

float phy_cal_mu_step(uint32_t *n, int heard, int probe, float mu0)
{
    if (probe)
        *n = heard != 0;
    else if (heard)
        *n += *n < UINT32_MAX;
    if (probe)
        return 1.0f;
    const float inv = *n ? 1.0f / (float)*n : 1.0f;
    return inv > mu0 ? inv : mu0;
}

float phy_cal_mu_steps(uint32_t *n, int heard, const unsigned char *meas, int probe, float mu0,
                       float *mu)
{
    float top = 0.0f;
    for (unsigned q = 0; q < PHY_CAL_Q; q++) {
        mu[q] = phy_cal_mu_step(&n[q], heard && (!meas || meas[q]), probe, mu0);
        top = mu[q] > top ? mu[q] : top;
    }
    return top;
}

double phy_cal_probe_excess(unsigned S,
                            unsigned n_used,
                            const unsigned char *heard,
                            const float complex *E,
                            const unsigned char *meas,
                            const float *snr_db)
{
    double d = 0.0, v = 0.0;
    for (unsigned s = 0; s < S; s++) {
        if (!heard[s])
            continue;
        double ds = 0.0;
        unsigned n = 0;
        for (unsigned q = 0; q < PHY_CAL_Q; q++) {
            if (meas && !meas[(size_t)s * PHY_CAL_Q + q])
                continue;
            const double complex e = (double complex)E[(size_t)s * PHY_CAL_Q + q] - 1.0;
            ds += creal(e * conj(e));
            n++;
        }
        d += n ? ds / n : 0.0;
        v += PHY_CAL_Q / ((double)n_used * pow(10.0, (double)snr_db[s] / 10.0));
    }
    return v > 0.0 ? d / v : 0.0;
}

int phy_cal_probe_again(unsigned p, unsigned probes, float excess_max, double excess)
{
    if (p + 1 >= probes)
        return 0;
    return !(excess_max > 0.0f && p >= 1 && excess <= (double)excess_max);
}

void phy_cal_interp(const phy_frame *f, const float complex *A, float complex *a)
{
    const unsigned M = phy_frame_nfft(f), nu = phy_frame_n_used(f), Q = PHY_CAL_Q;
    const unsigned *used = phy_frame_used_bins(f);
    float c[PHY_CAL_Q];
    phy_cal_groups(f, NULL, c);
    for (unsigned i = 0; i < M; i++)
        a[i] = 0.0f;
    for (unsigned u = 0; u < nu; u++) {
        const unsigned i = used[u];
        const float x = (float)sidx(i, M);
        if (x <= c[0]) {
            a[i] = A[0];
        } else if (x >= c[Q - 1]) {
            a[i] = A[Q - 1];
        } else {
            unsigned q = 0;
            while (q + 2 < Q && x > c[q + 1])
                q++;
            const float t = (x - c[q]) / (c[q + 1] - c[q]);
            a[i] = (1.0f - t) * A[q] + t * A[q + 1];
        }
    }
}
