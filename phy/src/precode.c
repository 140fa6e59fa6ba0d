/* phy/precode: truncated channel inversion and phase-only precoding (docs/air-interface.md §4). */
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

/* §4 on the used bins, p = 0 elsewhere: p = sqrt(rho) conj(h) / |h|^2 = sqrt(rho) / h (inversion)
 * or sqrt(rho) conj(h) / |h| (phase only); a bin with |h|^2 < g_th or h = 0 is erased. */
static void precode(const phy_frame *f,
                    const float complex *h,
                    float rho,
                    float g_th,
                    int phase_only,
                    float complex *p,
                    unsigned *n_erased)
{
    unsigned M = phy_frame_nfft(f), ne = 0;
    const unsigned *used = phy_frame_used_bins(f);
    memset(p, 0, M * sizeof *p);
    double sr = sqrt((double)rho);
    for (unsigned u = 0; u < phy_frame_n_used(f); u++) {
        unsigned i = used[u];
        double complex hi = h[i];
        double g = creal(hi) * creal(hi) + cimag(hi) * cimag(hi);
        if (g >= (double)g_th && g > 0.0)
            p[i] = (float complex)(sr * conj(hi) / (phase_only ? cabs(hi) : g));
        else
            ne++;
    }
    if (n_erased)
        *n_erased = ne;
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
    precode(f, h, rho, g_th, 0, p, n_erased);
    return AM_OK;
}

am_status phy_precode_phase(
    const phy_frame *f, const float complex *h, float rho, float complex *p, unsigned *n_erased)
{
    am_status s = check(f, h, rho, p);
    if (s != AM_OK)
        return s;
    precode(f, h, rho, 0.0f, 1, p, n_erased);
    return AM_OK;
}
