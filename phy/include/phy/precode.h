/* phy/precode: per-bin precoders of an agent from its channel estimate.
 * Implements docs/air-interface.md §4 (truncated channel inversion, phase-only precoding). */
#ifndef AM_PHY_PRECODE_H
#define AM_PHY_PRECODE_H

#include <complex.h>

#include "core/status.h"
#include "phy/frame.h"

/* §4 truncated inversion, for every bin i of the frame (h and p hold M values):
 *   p[i] = sqrt(rho) / h[i]  if bin i is used and |h[i]|^2 >= g_th (and h[i] != 0)
 *   p[i] = 0                 otherwise (null bin, or bin erased for this agent).
 * Only used bins of h are read. n_erased (may be NULL) receives the number of erased used bins.
 * AM_EINVAL if rho <= 0 or not finite, g_th < 0 or not finite, or a used h[i] is not finite. */
am_status phy_precode_inversion(const phy_frame *f,
                                const float complex *h,
                                float rho,
                                float g_th,
                                float complex *p,
                                unsigned *n_erased);

/* §4 phase-only ("phase-aware") precoding: p[i] = sqrt(rho) conj(h[i]) / |h[i]| on used bins,
 * 0 on null bins and where h[i] == 0 (counted in n_erased, may be NULL). The server then recovers
 * the |h|-weighted average sum_k |h_k| v_k / sum_k |h_k|. Same validation as above. */
am_status phy_precode_phase(
    const phy_frame *f, const float complex *h, float rho, float complex *p, unsigned *n_erased);

#endif
