/* phy/precode: truncated channel inversion and phase-only precoding (AIR_INTERFACE §4). */
#include "phy/precode.h"

#include <math.h>
#include <string.h>

static am_status check(const phy_frame *f, const float complex *h, float rho, const void *p)
{
    if (!f || !h || !p)
        return AM_FAIL(AM_EINVAL, "precode: NULL argument");
    if (!isfinite(rho) || rho <= 0.0f)
        return AM_FAIL(AM_EINVAL, "precode: rho = %g must be finite and > 0 (§4)", (double)rho);
    const unsigned *used = phy_frame_used_bins(f);
    for (unsigned u = 0; u < phy_frame_n_used(f); u++) {
        float complex v = h[used[u]];
        if (!isfinite(crealf(v)) || !isfinite(cimagf(v)))
            return AM_FAIL(AM_EINVAL, "precode: channel h[%u] = %g%+gi is not finite", used[u],
                           (double)crealf(v), (double)cimagf(v));
    }
    return AM_OK;
}

am_status phy_precode_inversion(const phy_frame *f,
                                const float complex *h,
                                float rho,
                                float g_th,
                                float complex *p,
                                unsigned *n_erased)
{
    am_status s = check(f, h, rho, p);
    if (s != AM_OK)
        return s;
    if (!isfinite(g_th) || g_th < 0.0f)
        return AM_FAIL(AM_EINVAL, "precode: g_th = %g must be finite and >= 0 (§4)", (double)g_th);
    unsigned M = phy_frame_nfft(f), ne = 0;
    const unsigned *used = phy_frame_used_bins(f);
    memset(p, 0, M * sizeof *p);
    double sr = sqrt((double)rho);
    for (unsigned u = 0; u < phy_frame_n_used(f); u++) {
        unsigned i = used[u];
        double complex hi = h[i];
        double g = creal(hi) * creal(hi) + cimag(hi) * cimag(hi);
        if (g >= (double)g_th && g > 0.0)
            p[i] = (float complex)(sr * conj(hi) / g); /* sqrt(rho) / h */
        else
            ne++;
    }
    if (n_erased)
        *n_erased = ne;
    return AM_OK;
}

am_status phy_precode_phase(
    const phy_frame *f, const float complex *h, float rho, float complex *p, unsigned *n_erased)
{
    am_status s = check(f, h, rho, p);
    if (s != AM_OK)
        return s;
    unsigned M = phy_frame_nfft(f), ne = 0;
    const unsigned *used = phy_frame_used_bins(f);
    memset(p, 0, M * sizeof *p);
    double sr = sqrt((double)rho);
    for (unsigned u = 0; u < phy_frame_n_used(f); u++) {
        unsigned i = used[u];
        double complex hi = h[i];
        double a = cabs(hi);
        if (a > 0.0)
            p[i] = (float complex)(sr * conj(hi) / a);
        else
            ne++;
    }
    if (n_erased)
        *n_erased = ne;
    return AM_OK;
}
