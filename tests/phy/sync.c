/* phy/sync (internal, phy/src/sync.h): the declipping of a data symbol (docs/air-interface.md
 * §5.7) computed on the clipped samples alone against the same iteration through full inverse and
 * forward FFTs (phy_sync_set_sparse_max 0), on windows built here from known bin values. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../phy/src/sync.h"
#include "am_test.h"
#include "core/rng.h"
#include "phy/frame.h"
#include "util.h"

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y); /* descending */
}

/* A data symbol's window with bin values Y = G X (QPSK data, pilots +1, nulls 0) as the receiver
 * sees them through a carrier offset cfo, common phase ph, IQ image iqw and a tone (§1 scaling,
 * direct DFT in double), its rails clipped at the level that n_clip rails exceed. Returns the
 * level. */
static float make_window(const phy_frame *f,
                         am_rng *r,
                         double cfo,
                         float complex ph,
                         float complex iqw,
                         const float complex *tone,
                         unsigned n_clip,
                         float complex *G,
                         float complex *Y,
                         float complex *w)
{
    const unsigned M = phy_frame_nfft(f), mu = phy_frame_n_used(f);
    const unsigned char *sct = phy_frame_sctype(f);
    double complex *Xd = malloc(M * sizeof *Xd), *x = malloc(M * sizeof *x);
    float *mag = malloc(2 * M * sizeof *mag);
    if (!Xd || !x || !mag) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (unsigned i = 0; i < M; i++) {
        G[i] = sct[i] == PHY_SCTYPE_NULL ? 0.0f : (float complex)am_rng_cnormal(r) + 1.0f;
        float complex X = sct[i] == PHY_SCTYPE_PILOT ? 1.0f
                          : sct[i] == PHY_SCTYPE_DATA
                              ? CMPLXF(am_rng_below(r, 2) ? 0.7071f : -0.7071f,
                                       am_rng_below(r, 2) ? 0.7071f : -0.7071f)
                              : 0.0f;
        Y[i] = G[i] * X;
        Xd[i] = (double complex)Y[i] * conj((double complex)ph);
    }
    idft(Xd, M, mu, x);
    const double complex den = 1.0 - (double)(cabsf(iqw) * cabsf(iqw));
    for (unsigned t = 0; t < M; t++) {
        double complex v = x[t] * cexp(I * 2.0 * M_PI * cfo * (double)t / M); /* v' */
        v = (v + (double complex)iqw * conj(v)) / den; /* v' = v - iqw conj(v) */
        w[t] = (float complex)v + tone[t];
        mag[2 * t] = fabsf(crealf(w[t]));
        mag[2 * t + 1] = fabsf(cimagf(w[t]));
    }
    qsort(mag, 2 * M, sizeof *mag, cmp_float);
    const float L = mag[n_clip];
    for (unsigned t = 0; t < M; t++)
        w[t] = CMPLXF(fmaxf(-L, fminf(L, crealf(w[t]))), fmaxf(-L, fminf(L, cimagf(w[t]))));
    free(Xd);
    free(x);
    free(mag);
    return L;
}

/* sqrt(sum |a - b|^2 / sum |b|^2) over the data bins */
static double rel_err(const phy_frame *f, const float complex *a, const float complex *b)
{
    const unsigned M = phy_frame_nfft(f);
    const unsigned char *sct = phy_frame_sctype(f);
    double e = 0.0, p = 0.0;
    for (unsigned i = 0; i < M; i++)
        if (sct[i] == PHY_SCTYPE_DATA) {
            e += (double)(cabsf(a[i] - b[i]) * cabsf(a[i] - b[i]));
            p += (double)(cabsf(b[i]) * cabsf(b[i]));
        }
    return sqrt(e / p);
}

/* The closed form (at most PHY_SYNC_SPARSE_MAX clipped samples) gives the FFT form's bin values
 * up to float rounding, with and without IQ image, tone and carrier offset; and both declip
 * (the error against the unclipped bin values falls). */
AM_TEST(declip_closed_form, unit)
{
    const unsigned Ms[] = {256, 1024};
    const unsigned clips[] = {3, 12, 40};
    for (unsigned mi = 0; mi < 2; mi++) {
        const unsigned M = Ms[mi];
        phy_frame_cfg fc;
        phy_frame_cfg_default(&fc);
        fc.nfft = M;
        fc.cp_len = M / 8;
        phy_frame *f = NULL;
        phy_sync *qs = NULL, *qf = NULL;
        AM_REQUIRE_OK(phy_frame_create(&fc, &f));
        AM_REQUIRE_OK(phy_sync_create(f, 0.0f, &qs));
        AM_REQUIRE_OK(phy_sync_create(f, 0.0f, &qf));
        phy_sync_set_sparse_max(qf, 0);
        float complex *G = malloc(M * sizeof *G), *Y = malloc(M * sizeof *Y),
                      *w = malloc(M * sizeof *w), *rot = malloc(M * sizeof *rot),
                      *tone = malloc(M * sizeof *tone), *Rs = malloc(M * sizeof *Rs),
                      *Rf = malloc(M * sizeof *Rf), *Rc = malloc(M * sizeof *Rc);
        AM_REQUIRE(G && Y && w && rot && tone && Rs && Rf && Rc, "out of memory");
        am_rng r;
        am_rng_seed(&r, 900 + M);
        for (unsigned v = 0; v < 2; v++) { /* v 1: offset, image and a tone */
            const double cfo = v ? 0.137 : 0.0;
            const float complex ph = v ? cexpf(0.4f * I) : 1.0f, iqw = v ? CMPLXF(0.03f, -0.02f) : 0.0f;
            phy_sync_make_rot(qs, cfo, rot);
            for (unsigned t = 0; t < M; t++)
                tone[t] = v ? 0.05f * cexpf(I * 2.0f * (float)M_PI * 0.3141f * (float)t) : 0.0f;
            for (unsigned c = 0; c < 3; c++) {
                const float L = make_window(f, &r, cfo, ph, iqw, tone, clips[c], G, Y, w);
                const float complex *tn = v ? tone : NULL;
                unsigned ms = phy_sync_symbol_rx(qs, w, rot, ph, iqw, tn, G, L, 1, Rs);
                unsigned mf = phy_sync_symbol_rx(qf, w, rot, ph, iqw, tn, G, L, 1, Rf);
                phy_sync_block_fft_iq(qs, w, rot, ph, iqw, tn, Rc);
                double d = rel_err(f, Rs, Rf), es = rel_err(f, Rs, Y), ef = rel_err(f, Rf, Y),
                       ec = rel_err(f, Rc, Y);
                if (verbose())
                    fprintf(stderr,
                            "M %u %s, %u rails clipped (%u samples marked): closed form vs FFT "
                            "%.2g; error vs unclipped: clipped %.3g, declipped %.3g / %.3g\n",
                            M, v ? "cfo+iq+tone" : "plain", clips[c], ms, d, ec, es, ef);
                /* the rails at the level (the clipped ones, the one that sets it) and within
                 * 1e-3 of it */
                AM_CHECK(ms == mf && ms >= (clips[c] + 1) / 2 && ms <= clips[c] + 3,
                         "M %u: %u and %u samples marked for %u clipped rails", M, ms, mf,
                         clips[c]);
                /* measured 3e-8 .. 3e-7: float rounding */
                AM_CHECK(d < 1e-5, "M %u, %u clipped: closed form vs FFT form %.3g", M, clips[c], d);
                /* measured: the error falls by 9x (M 1024, 40 rails) .. 75x */
                AM_CHECK(es < 0.2 * ec, "M %u, %u clipped: declipped %.3g, clipped %.3g", M,
                         clips[c], es, ec);
            }
        }
        free(G);
        free(Y);
        free(w);
        free(rot);
        free(tone);
        free(Rs);
        free(Rf);
        free(Rc);
        phy_sync_destroy(qs);
        phy_sync_destroy(qf);
        phy_frame_destroy(f);
    }
}
