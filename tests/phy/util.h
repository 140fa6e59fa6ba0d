/* Helpers shared by the tests/phy programs: the transforms of docs/air-interface.md §1 evaluated
 * directly in double, multipath by convolution and its frequency response, and liquid-dsp's
 * preamble (§2) as the golden reference. Independent of phy/ (neither phy_fft nor phy_frame). */
#ifndef AM_TESTS_PHY_UTIL_H
#define AM_TESTS_PHY_UTIL_H

#include <complex.h>
#include <liquid/liquid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* AM_VERBOSE=1 prints the measured figures */
static inline int verbose(void)
{
    const char *v = getenv("AM_VERBOSE");
    return v && *v == '1';
}

/* Direct DFTs in double with the scaling of docs/air-interface.md §1:
 *   x[t] = (1/sqrt(Mu)) sum_i X[i] e^{+j 2 pi i t/M},
 *   X[i] = (sqrt(Mu)/M) sum_t x[t] e^{-j 2 pi i t/M} */
static inline void idft(const double complex *X, unsigned M, unsigned mu, double complex *x)
{
    for (unsigned t = 0; t < M; t++) {
        double complex s = 0;
        for (unsigned i = 0; i < M; i++)
            s += X[i] * cexp(I * 2.0 * M_PI * (double)((i * t) % M) / M);
        x[t] = s / sqrt((double)mu);
    }
}

static inline void dft(const float complex *x, unsigned M, unsigned mu, double complex *X)
{
    for (unsigned i = 0; i < M; i++) {
        double complex s = 0;
        for (unsigned t = 0; t < M; t++)
            s += (double complex)x[t] * cexp(-I * 2.0 * M_PI * (double)((i * t) % M) / M);
        X[i] = s * sqrt((double)mu) / M;
    }
}

/* y += taps * x (linear convolution, taps at delays d0 .. d0 + nt - 1) */
static inline void conv_add(float complex *y,
                            const float complex *x,
                            size_t n,
                            const float complex *taps,
                            unsigned nt,
                            unsigned d0)
{
    for (unsigned l = 0; l < nt; l++)
        for (size_t t = 0; t + d0 + l < n; t++)
            y[t + d0 + l] += taps[l] * x[t];
}

/* frequency response on bin i of taps at delays d0.. (nominal window, docs/air-interface.md §1) */
static inline void
taps_response(const float complex *taps, unsigned nt, unsigned d0, unsigned M, float complex *H)
{
    for (unsigned i = 0; i < M; i++) {
        double complex s = 0;
        for (unsigned l = 0; l < nt; l++)
            s += (double complex)taps[l] *
                 cexp(-2.0 * I * M_PI * (double)((size_t)i * (d0 + l) % M) / M);
        H[i] = (float complex)s;
    }
}

/* A non-default allocation of M = 128 bins: data on 3..39 and 90..124, a pilot on every 5th
 * (resp. 7th) of them, the rest null. */
static inline void custom_sctype128(unsigned char sct[128])
{
    memset(sct, 0, 128);
    for (unsigned i = 3; i < 40; i++)
        sct[i] = (i % 5 == 0) ? 1 : 2;
    for (unsigned i = 90; i < 125; i++)
        sct[i] = (i % 7 == 0) ? 1 : 2;
}

/* Golden preamble (§2): liquid-dsp's ofdmframegen S0a | S0b | S1 for (M, cp, allocation) into
 * ref (3 (M + cp) samples). sct_in NULL: liquid's default allocation. The allocation used goes to
 * sct (M entries). */
static inline void liquid_preamble(
    unsigned M, unsigned cp, const unsigned char *sct_in, unsigned char *sct, float complex *ref)
{
    if (sct_in)
        memcpy(sct, sct_in, M);
    else
        ofdmframe_init_default_sctype(M, sct);
    const unsigned B = M + cp;
    ofdmframegen g = ofdmframegen_create(M, cp, 0, sct);
    ofdmframegen_write_S0a(g, ref);
    ofdmframegen_write_S0b(g, ref + B);
    ofdmframegen_write_S1(g, ref + 2 * B);
    ofdmframegen_destroy(g);
}

#endif
