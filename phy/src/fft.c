/* phy/fft: FFTW plans made once, executed many times (STYLE.md "Numerics"). The only file of phy
 * that includes <fftw3.h>. */
#include "phy/fft.h"

#include <fftw3.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct phy_fft {
    phy_fft_cfg cfg;
    fftwf_plan plan;
    int shared;              /* plan is a tuned one (tuned[]): not ours to destroy; run with
                                fftwf_execute_dft on this object's arrays */
    fftwf_complex *in, *out; /* owned; in == out when in place */
    size_t in_len, out_len;
    int align_in, align_out; /* fftwf_alignment_of of the planned arrays */
    int owned;               /* buffers allocated here */
};

static pthread_once_t phy_fft_once = PTHREAD_ONCE_INIT;

#include "fft_wisdom.h"

/* PHY_FFT_TUNED's plans, one per size of the shipped wisdom (fft_wisdom.h), made once per process
 * on SIMD-aligned arrays of their own and run on the callers' arrays (fftwf_execute_dft, which
 * FFTW allows from several threads at once); NULL where the wisdom does not apply here. */
static const unsigned tuned_n[] = {256, 1024};
#define TUNED_N (sizeof tuned_n / sizeof tuned_n[0])
static fftwf_plan tuned[TUNED_N];
static fftwf_complex *tuned_buf[TUNED_N][2];

/* The wisdom is loaded, used for these plans only (FFTW_WISDOM_ONLY: no other plan is made) and
 * forgotten before any other plan of the process: every planner call in phy (and liquid's, made
 * after phy_fft_init_threads) comes after this once-function, so no other plan ever sees it. */
static void tuned_plans(void)
{
    if (!fftwf_import_wisdom_from_string(phy_fft_wisdom))
        return; /* another FFTW build: ESTIMATE everywhere */
    for (size_t k = 0; k < TUNED_N; k++) {
        const size_t n = tuned_n[k];
        tuned_buf[k][0] = fftwf_malloc(n * sizeof(fftwf_complex));
        tuned_buf[k][1] = fftwf_malloc(n * sizeof(fftwf_complex));
        if (tuned_buf[k][0] && tuned_buf[k][1])
            tuned[k] = fftwf_plan_dft_1d((int)n, tuned_buf[k][0], tuned_buf[k][1], FFTW_BACKWARD,
                                         FFTW_ESTIMATE | FFTW_WISDOM_ONLY);
    }
    fftwf_forget_wisdom();
}

static void phy_fft_threads_once(void)
{
    fftwf_make_planner_thread_safe();
    tuned_plans();
}

/* The tuned plan for this transform and these arrays, or NULL. */
static fftwf_plan tuned_plan(const phy_fft_cfg *c, const void *in, const void *out)
{
    if (!(c->flags & PHY_FFT_TUNED) || c->howmany != 1 || c->dir != PHY_FFT_BACKWARD ||
        (c->flags & PHY_FFT_INPLACE))
        return NULL;
    for (size_t k = 0; k < TUNED_N; k++)
        if (tuned_n[k] == c->n && tuned[k] &&
            fftwf_alignment_of((float *)(uintptr_t)in) ==
                fftwf_alignment_of((float *)tuned_buf[k][0]) &&
            fftwf_alignment_of((float *)(uintptr_t)out) ==
                fftwf_alignment_of((float *)tuned_buf[k][1]))
            return tuned[k];
    return NULL;
}

int phy_fft_tuned(const phy_fft *q)
{
    return q->shared;
}

void phy_fft_init_threads(void)
{
    pthread_once(&phy_fft_once, phy_fft_threads_once);
}

float complex *phy_fft_alloc(size_t n)
{
    if (n == 0 || n > SIZE_MAX / sizeof(fftwf_complex))
        return NULL;
    return (float complex *)fftwf_malloc(n * sizeof(fftwf_complex));
}

float *phy_fft_alloc_real(size_t n)
{
    if (n == 0 || n > SIZE_MAX / sizeof(float))
        return NULL;
    return (float *)fftwf_malloc(n * sizeof(float));
}

void phy_fft_free(void *p)
{
    if (p)
        fftwf_free(p);
}

static am_status
fft_create(const phy_fft_cfg *cfg, float complex *bin, float complex *bout, phy_fft **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "phy_fft_create: NULL argument");
    *out = NULL;
    phy_fft_cfg c = *cfg;
    if (c.howmany == 0)
        c.howmany = 1;
    if (c.idist == 0)
        c.idist = c.n;
    if (c.odist == 0)
        c.odist = c.n;
    if (c.n < 1 || c.n > (1u << 24))
        return AM_FAIL(AM_EINVAL, "phy_fft_create: size %u outside 1..2^24", c.n);
    if (c.dir != PHY_FFT_FORWARD && c.dir != PHY_FFT_BACKWARD)
        return AM_FAIL(AM_EINVAL, "phy_fft_create: direction %d is neither forward nor backward",
                       (int)c.dir);
    if (c.idist < c.n || c.odist < c.n)
        return AM_FAIL(AM_EINVAL, "phy_fft_create: distance %u/%u below size %u", c.idist, c.odist,
                       c.n);
    if ((c.flags & PHY_FFT_INPLACE) && c.idist != c.odist)
        return AM_FAIL(AM_EINVAL, "phy_fft_create: in-place needs idist == odist (%u != %u)",
                       c.idist, c.odist);
    if (c.flags & ~(PHY_FFT_MEASURE | PHY_FFT_INPLACE | PHY_FFT_TUNED))
        return AM_FAIL(AM_EINVAL, "phy_fft_create: unknown flags 0x%x", c.flags);
    if (c.howmany > INT32_MAX / c.idist || c.howmany > INT32_MAX / c.odist)
        return AM_FAIL(AM_EINVAL, "phy_fft_create: batch of %u x %u too large", c.howmany, c.n);

    phy_fft_init_threads();
    phy_fft *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "phy_fft_create: out of memory");
    q->cfg = c;
    q->in_len = (size_t)(c.howmany - 1) * c.idist + c.n;
    q->out_len = (size_t)(c.howmany - 1) * c.odist + c.n;
    if (bin) {
        if ((c.flags & PHY_FFT_INPLACE) ? bout != bin : (bout == bin || !bout)) {
            free(q);
            return AM_FAIL(AM_EINVAL, "phy_fft_create_on: buffers do not match the in-place flag");
        }
        q->in = (fftwf_complex *)bin;
        q->out = (fftwf_complex *)bout;
    } else {
        q->owned = 1;
        q->in = fftwf_malloc(q->in_len * sizeof(fftwf_complex));
        q->out =
            (c.flags & PHY_FFT_INPLACE) ? q->in : fftwf_malloc(q->out_len * sizeof(fftwf_complex));
    }
    if (!q->in || !q->out) {
        size_t want = q->in_len;
        phy_fft_destroy(q);
        return AM_FAIL(AM_ENOMEM, "phy_fft_create: out of memory for %zu samples", want);
    }
    unsigned flags = (c.flags & PHY_FFT_MEASURE) ? FFTW_MEASURE : FFTW_ESTIMATE;
    int n = (int)c.n;
    q->plan = tuned_plan(&c, q->in, q->out);
    q->shared = q->plan != NULL;
    if (!q->plan)
        q->plan = fftwf_plan_many_dft(1, &n, (int)c.howmany, q->in, NULL, 1, (int)c.idist, q->out, NULL,
                                  1, (int)c.odist,
                                  c.dir == PHY_FFT_FORWARD ? FFTW_FORWARD : FFTW_BACKWARD, flags);
    if (!q->plan) {
        phy_fft_destroy(q);
        return AM_FAIL(AM_ENOTSUP, "phy_fft_create: FFTW could not plan size %u x %u", c.n,
                       c.howmany);
    }
    /* MEASURE overwrites the arrays while planning */
    if (q->owned) {
        memset(q->in, 0, q->in_len * sizeof(fftwf_complex));
        if (q->out != q->in)
            memset(q->out, 0, q->out_len * sizeof(fftwf_complex));
    }
    q->align_in = fftwf_alignment_of((float *)q->in);
    q->align_out = fftwf_alignment_of((float *)q->out);
    *out = q;
    return AM_OK;
}

am_status phy_fft_create(const phy_fft_cfg *cfg, phy_fft **out)
{
    return fft_create(cfg, NULL, NULL, out);
}

am_status
phy_fft_create_on(const phy_fft_cfg *cfg, float complex *in, float complex *out, phy_fft **q)
{
    if (!in)
        return AM_FAIL(AM_EINVAL, "phy_fft_create_on: NULL buffer");
    return fft_create(cfg, in, out, q);
}

void phy_fft_destroy(phy_fft *q)
{
    if (!q)
        return;
    if (q->plan && !q->shared)
        fftwf_destroy_plan(q->plan);
    if (q->owned && q->out && q->out != q->in)
        fftwf_free(q->out);
    if (q->owned && q->in)
        fftwf_free(q->in);
    free(q);
}

float complex *phy_fft_in(phy_fft *q)
{
    return (float complex *)q->in;
}

float complex *phy_fft_out(phy_fft *q)
{
    return (float complex *)q->out;
}

unsigned phy_fft_size(const phy_fft *q)
{
    return q->cfg.n;
}

void phy_fft_execute(phy_fft *q)
{
    if (q->shared)
        fftwf_execute_dft(q->plan, q->in, q->out);
    else
        fftwf_execute(q->plan);
}

int phy_fft_fits(const phy_fft *q, const float complex *in, const float complex *out)
{
    /* new-array execute is only valid for arrays aligned like the planned ones (FFTW manual,
     * "New-array Execute Functions") and of the same in-placeness */
    int inplace = (const void *)in == (const void *)out;
    int want_inplace = (q->cfg.flags & PHY_FFT_INPLACE) != 0;
    return inplace == want_inplace && fftwf_alignment_of((float *)(uintptr_t)in) == q->align_in &&
           fftwf_alignment_of((float *)(uintptr_t)out) == q->align_out;
}

void phy_fft_execute_on(phy_fft *q, const float complex *in, float complex *out)
{
    if (in == (const float complex *)q->in && out == (float complex *)q->out) {
        phy_fft_execute(q);
        return;
    }
    if (phy_fft_fits(q, in, out)) {
        fftwf_execute_dft(q->plan, (fftwf_complex *)(uintptr_t)in, (fftwf_complex *)out);
        return;
    }
    /* element by element of the batch: the gaps between transforms (idist, odist > n) belong to
     * the caller and are left untouched */
    const phy_fft_cfg *c = &q->cfg;
    for (size_t b = 0; b < c->howmany; b++)
        memmove(q->in + b * c->idist, in + b * c->idist, c->n * sizeof(fftwf_complex));
    phy_fft_execute(q);
    for (size_t b = 0; b < c->howmany; b++)
        memmove(out + b * c->odist, q->out + b * c->odist, c->n * sizeof(fftwf_complex));
}
