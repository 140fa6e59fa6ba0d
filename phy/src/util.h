/* phy/util (internal): small helpers shared by the phy objects (not a public API). */
#ifndef AM_PHY_UTIL_H
#define AM_PHY_UTIL_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Index of the first NaN/Inf among n floats, n if all finite. Bit test (exponent all ones) so the
 * common all-finite case is one vectorisable pass. */
static inline size_t phy_first_nonfinite(const float *x, size_t n)
{
    const size_t blk = 256;
    for (size_t b = 0; b < n; b += blk) {
        size_t e = b + blk < n ? b + blk : n;
        uint32_t bad = 0;
        for (size_t i = b; i < e; i++) {
            uint32_t u;
            memcpy(&u, &x[i], sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            for (size_t i = b; i < e; i++) {
                uint32_t u;
                memcpy(&u, &x[i], sizeof u);
                if ((u & 0x7f800000u) == 0x7f800000u)
                    return i;
            }
    }
    return n;
}

/* Complex products without C99 Annex G's NaN/Inf recovery (a branch and a library call per
 * product that also blocks vectorisation); inputs here are validated finite. */
static inline float complex phy_cmul(float complex a, float complex b)
{
    float ar = crealf(a), ai = cimagf(a), br = crealf(b), bi = cimagf(b);
    return CMPLXF(ar * br - ai * bi, ar * bi + ai * br);
}

/* conj(a) * b */
static inline float complex phy_cmulc(float complex a, float complex b)
{
    float ar = crealf(a), ai = cimagf(a), br = crealf(b), bi = cimagf(b);
    return CMPLXF(ar * br + ai * bi, ar * bi - ai * br);
}

#endif
