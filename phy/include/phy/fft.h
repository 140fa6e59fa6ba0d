/* phy/fft: the FFT plans of phy (a thin wrapper over FFTW single precision; the only FFTW user).
 * Implements the transforms of docs/air-interface.md §1 (unnormalised; callers apply
 * 1/sqrt(M_used)). */
#ifndef AM_PHY_FFT_H
#define AM_PHY_FFT_H

#include <complex.h>
#include <stddef.h>

#include "core/status.h"

/* Sign of the exponent: forward = e^{-j 2 pi i t / n}, backward = e^{+j 2 pi i t / n}. */
typedef enum phy_fft_dir { PHY_FFT_FORWARD = -1, PHY_FFT_BACKWARD = 1 } phy_fft_dir;

#define PHY_FFT_MEASURE 1u /* plan with FFTW_MEASURE (slower create, maybe faster execute) */
#define PHY_FFT_INPLACE 2u /* one buffer: phy_fft_in(q) == phy_fft_out(q) */
/* The plan of the wisdom shipped with phy (src/fft_wisdom.h: FFTW's fastest measured plan, read
 * from text, so the same plan and output bytes in every process) where it has one for this
 * transform: backward, one transform, out of place, SIMD-aligned arrays, M = 256 or 1024, on a
 * CPU and FFTW build it applies to; otherwise (and for anything else) FFTW_ESTIMATE, as without
 * the flag. The same transform either way; only the rounding differs. (The agent TX's plans.) */
#define PHY_FFT_TUNED 4u

typedef struct phy_fft_cfg {
    unsigned n;       /* transform size, >= 1 */
    unsigned howmany; /* transforms per execute (batch), >= 1; 0 is taken as 1 */
    unsigned idist;   /* elements between consecutive inputs of the batch; 0 = n (>= n otherwise) */
    unsigned odist;   /* same for outputs; with PHY_FFT_INPLACE must equal idist */
    phy_fft_dir dir;
    unsigned flags; /* PHY_FFT_MEASURE | PHY_FFT_INPLACE | PHY_FFT_TUNED */
} phy_fft_cfg;

typedef struct phy_fft phy_fft; /* opaque */

/* Plans the transform on buffers it owns (SIMD aligned, zeroed): all cost and failure here.
 * Thread safety: FFTW's planner is made thread safe once per process
 * (fftwf_make_planner_thread_safe), so objects may be created and destroyed on any thread; one
 * object must not be executed from two threads at once. */
am_status phy_fft_create(const phy_fft_cfg *cfg, phy_fft **out);
/* The same, planned on caller buffers (laid out as above, SIMD aligned as from phy_fft_alloc,
 * in == out iff PHY_FFT_INPLACE) that must outlive the object; phy_fft_in/out return them. MEASURE
 * planning overwrites them. Lets several plans share one buffer (e.g. all blocks of a burst and
 * only its data blocks). */
am_status
phy_fft_create_on(const phy_fft_cfg *cfg, float complex *in, float complex *out, phy_fft **q);
void phy_fft_destroy(phy_fft *q); /* NULL is a no-op */

/* Owned buffers: in holds (howmany-1)*idist + n elements, out (howmany-1)*odist + n. */
float complex *phy_fft_in(phy_fft *q);
float complex *phy_fft_out(phy_fft *q);
unsigned phy_fft_size(const phy_fft *q);
/* 1 if q runs a PHY_FFT_TUNED plan from the shipped wisdom, 0 if an FFTW_ESTIMATE/MEASURE one. */
int phy_fft_tuned(const phy_fft *q);

/* out[b*odist + k] = sum_t in[b*idist + t] e^{dir j 2 pi k t / n}, b < howmany. Unnormalised.
 * Cheap and infallible. */
void phy_fft_execute(phy_fft *q);

/* The same transform on other arrays of the same layout (in == out iff PHY_FFT_INPLACE). Uses
 * the plan directly when their SIMD alignment matches the planned buffers', otherwise goes
 * through the planned buffers (still correct, extra copies; with phy_fft_create_on those buffers
 * are the caller's and serve as scratch). Infallible. */
void phy_fft_execute_on(phy_fft *q, const float complex *in, float complex *out);
/* 1 if phy_fft_execute_on(q, in, out) runs the plan directly (no copy through the buffers). */
int phy_fft_fits(const phy_fft *q, const float complex *in, const float complex *out);

/* SIMD-aligned allocation for sample buffers (fftwf_malloc); free with phy_fft_free. NULL on
 * failure or n == 0. Never hands out memory to be freed with free(). */
float complex *phy_fft_alloc(size_t n);
float *phy_fft_alloc_real(size_t n);
void phy_fft_free(void *p); /* NULL is a no-op */

/* Make FFTW's planner thread safe (idempotent, called by every create in phy that plans, including
 * those that make liquid-dsp plan FFTs). Exposed for programs that plan FFTW elsewhere. */
void phy_fft_init_threads(void);

#endif
