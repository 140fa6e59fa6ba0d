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

/* Clips the rails of x[0..n) into out (x itself may be out) at the level that n_clip rails
 * exceed (mag: 2 n scratch); returns the level. */
static float
clip_rails(const float complex *x, size_t n, unsigned n_clip, float *mag, float complex *out)
{
    for (size_t t = 0; t < n; t++) {
        mag[2 * t] = fabsf(crealf(x[t]));
        mag[2 * t + 1] = fabsf(cimagf(x[t]));
    }
    qsort(mag, 2 * n, sizeof *mag, cmp_float);
    const float L = mag[n_clip];
    for (size_t t = 0; t < n; t++)
        out[t] = CMPLXF(fmaxf(-L, fminf(L, crealf(x[t]))), fmaxf(-L, fminf(L, cimagf(x[t]))));
    return L;
}

/* The frame (M bins, cp M/8) and the two receivers the declipping tests compare: qs declips in
 * closed form, qf through full inverse and forward FFTs (phy_sync_set_sparse_max 0). */
static am_status declip_pair(unsigned M, phy_frame **f, phy_sync **qs, phy_sync **qf)
{
    phy_frame_cfg fc;
    phy_frame_cfg_default(&fc);
    fc.nfft = M;
    fc.cp_len = M / 8;
    am_status s = phy_frame_create(&fc, f);
    if (s == AM_OK && (s = phy_sync_create(*f, 0.0f, qs)) == AM_OK &&
        (s = phy_sync_create(*f, 0.0f, qf)) == AM_OK)
        phy_sync_set_sparse_max(*qf, 0);
    return s;
}

/* Sample v of the transmitter at tick t as the receiver gets it: turned by the carrier offset cfo
 * (subcarrier spacings of M bins) and with the IQ image iqw (v' = v - iqw conj(v) undone). */
static double complex
rx_sample(double complex v, double cfo, double t, unsigned M, float complex iqw)
{
    v *= cexp(I * 2.0 * M_PI * cfo * t / M);
    return (v + (double complex)iqw * conj(v)) / (1.0 - (double)(cabsf(iqw) * cabsf(iqw)));
}

/* A data symbol's window with bin values Y = G X (QPSK data, pilots +pilot, nulls 0) as the receiver
 * sees them through a carrier offset cfo, common phase ph, IQ image iqw and a tone (§1 scaling,
 * direct DFT in double), its rails clipped at the level that n_clip rails exceed. Returns the
 * level. */
static float make_window(const phy_frame *f,
                         am_rng *r,
                         double cfo,
                         float complex ph,
                         float complex iqw,
                         const float complex *tone,
                         float pilot,
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
        float complex X = sct[i] == PHY_SCTYPE_PILOT ? pilot
                          : sct[i] == PHY_SCTYPE_DATA
                              ? CMPLXF(am_rng_below(r, 2) ? 0.7071f : -0.7071f,
                                       am_rng_below(r, 2) ? 0.7071f : -0.7071f)
                              : 0.0f;
        Y[i] = G[i] * X;
        Xd[i] = (double complex)Y[i] * conj((double complex)ph);
    }
    idft(Xd, M, mu, x);
    for (unsigned t = 0; t < M; t++)
        w[t] = (float complex)rx_sample(x[t], cfo, (double)t, M, iqw) + tone[t];
    const float L = clip_rails(w, M, n_clip, mag, w);
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
 * up to float rounding, with and without IQ image, tone and carrier offset, with the pilots at 1
 * and at a level of 0.3 (docs/air-interface.md §2); and both declip
 * (the error against the unclipped bin values falls). */
AM_TEST(declip_closed_form, unit)
{
    const unsigned Ms[] = {256, 1024};
    const unsigned clips[] = {3, 12, 40};
    for (unsigned mi = 0; mi < 2; mi++) {
        const unsigned M = Ms[mi];
        phy_frame *f = NULL;
        phy_sync *qs = NULL, *qf = NULL;
        AM_REQUIRE_OK(declip_pair(M, &f, &qs, &qf));
        float complex *G = malloc(M * sizeof *G), *Y = malloc(M * sizeof *Y),
                      *w = malloc(M * sizeof *w), *rot = malloc(M * sizeof *rot),
                      *tone = malloc(M * sizeof *tone), *Rs = malloc(M * sizeof *Rs),
                      *Rf = malloc(M * sizeof *Rf), *Rc = malloc(M * sizeof *Rc);
        AM_REQUIRE(G && Y && w && rot && tone && Rs && Rf && Rc, "out of memory");
        am_rng r;
        am_rng_seed(&r, 900 + M);
        for (unsigned v = 0; v < 3; v++) { /* v 1: offset, image and a tone; 2: pilots at 0.3 */
            const int imp = v == 1;
            const float a = v == 2 ? 0.3f : 1.0f; /* the pilot level (docs/air-interface.md §2) */
            const double cfo = imp ? 0.137 : 0.0;
            const float complex ph = imp ? cexpf(0.4f * I) : 1.0f,
                                iqw = imp ? CMPLXF(0.03f, -0.02f) : 0.0f;
            phy_sync_make_rot(qs, cfo, rot);
            for (unsigned t = 0; t < M; t++)
                tone[t] = imp ? 0.05f * cexpf(I * 2.0f * (float)M_PI * 0.3141f * (float)t) : 0.0f;
            for (unsigned c = 0; c < 3; c++) {
                const float L = make_window(f, &r, cfo, ph, iqw, tone, a, clips[c], G, Y, w);
                const float complex *tn = imp ? tone : NULL;
                unsigned ms = phy_sync_symbol_rx(qs, w, rot, ph, iqw, tn, G, a, L, 1, Rs);
                unsigned mf = phy_sync_symbol_rx(qf, w, rot, ph, iqw, tn, G, a, L, 1, Rf);
                phy_sync_block_fft_iq(qs, w, rot, ph, iqw, tn, Rc);
                double d = rel_err(f, Rs, Rf), es = rel_err(f, Rs, Y), ef = rel_err(f, Rf, Y),
                       ec = rel_err(f, Rc, Y);
                if (verbose())
                    fprintf(stderr,
                            "M %u %s, %u rails clipped (%u samples marked): closed form vs FFT "
                            "%.2g; error vs unclipped: clipped %.3g, declipped %.3g / %.3g\n",
                            M, imp ? "cfo+iq+tone" : v ? "pilots 0.3" : "plain", clips[c], ms, d,
                            ec, es, ef);
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

/* sqrt(sum |a - b|^2 / sum |b|^2) over the used bins */
static double rel_err_used(const phy_frame *f, const float complex *a, const float complex *b)
{
    const unsigned M = phy_frame_nfft(f);
    const unsigned char *sct = phy_frame_sctype(f);
    double e = 0.0, p = 0.0;
    for (unsigned i = 0; i < M; i++)
        if (sct[i] != PHY_SCTYPE_NULL) {
            e += (double)(cabsf(a[i] - b[i]) * cabsf(a[i] - b[i]));
            p += (double)(cabsf(b[i]) * cabsf(b[i]));
        }
    return sqrt(e / p);
}

/* The same for the preamble (phy_sync_preamble_rx): S0a S0b S1 through a channel G, carrier offset,
 * IQ image and a tone, with cyclic prefixes, clipped; G from the closed form equals the FFT form's
 * up to float rounding, and both are nearer G of the unclipped preamble than without declipping. */
AM_TEST(declip_preamble_closed_form, unit)
{
    const unsigned Ms[] = {256, 1024};
    const unsigned clips[] = {3, 12, 40};
    for (unsigned mi = 0; mi < 2; mi++) {
        const unsigned M = Ms[mi], cp = M / 8, B = M + cp;
        phy_frame *f = NULL;
        phy_sync *qs = NULL, *qf = NULL;
        AM_REQUIRE_OK(declip_pair(M, &f, &qs, &qf));
        const unsigned mu = phy_frame_n_used(f);
        const float complex *X[3] = {phy_frame_s0a(f), phy_frame_s0b(f), phy_frame_s1(f)};
        float complex *H = malloc(M * sizeof *H), *x0 = malloc(3 * B * sizeof *x0),
                      *xc = malloc(3 * B * sizeof *xc), *rot = malloc(M * sizeof *rot),
                      *Gs = malloc(M * sizeof *Gs), *Gf = malloc(M * sizeof *Gf),
                      *Gu = malloc(M * sizeof *Gu), *Gc = malloc(M * sizeof *Gc);
        double complex *Xd = malloc(M * sizeof *Xd), *x = malloc(M * sizeof *x);
        float *mag = malloc(6 * B * sizeof *mag);
        AM_REQUIRE(H && x0 && xc && rot && Gs && Gf && Gu && Gc && Xd && x && mag, "out of memory");
        am_rng r;
        am_rng_seed(&r, 950 + M);
        for (unsigned v = 0; v < 2; v++) { /* v 1: offset, image and a tone */
            const double cfo = v ? 0.137 : 0.0;
            const float complex iqw = v ? CMPLXF(0.03f, -0.02f) : 0.0f;
            const phy_sync_tone tn = {v, 0.3141, v ? 0.05 : 0.0, 0};
            const int64_t pos0 = 1000;
            phy_sync_make_rot(qs, cfo, rot);
            for (unsigned c = 0; c < 3; c++) {
                for (unsigned i = 0; i < M; i++)
                    H[i] = am_rng_cnormal(&r) + 1.0f;
                for (unsigned b = 0; b < 3; b++) {
                    for (unsigned i = 0; i < M; i++)
                        Xd[i] = (double complex)(H[i] * X[b][i]);
                    idft(Xd, M, mu, x);
                    for (unsigned n = 0; n < B; n++) {
                        const unsigned p = b * B + n;
                        x0[p] =
                            (float complex)rx_sample(x[(n + M - cp) % M], cfo, (double)p, M, iqw);
                    }
                }
                float complex tw[4096];
                for (unsigned b = 0; b < 3; b++) {
                    phy_sync_tone_window(&tn, pos0 + (int64_t)b * B, B, tw);
                    for (unsigned n = 0; n < B; n++)
                        x0[b * B + n] += tw[n];
                }
                for (unsigned p = 0; p < 3 * B; p++) /* S0's repeats are not a clip level */
                    x0[p] += 1e-3f * am_rng_cnormal(&r);
                clip_rails(x0, 3 * B, clips[c], mag, xc);
                const unsigned bo = phy_sync_backoff(qs);
                float n0;
                phy_sync_pre_info is, inf, iu;
                phy_sync_preamble_rx(qs, xc, rot, cfo, bo, iqw, &tn, pos0, Gs, &n0, &is);
                phy_sync_preamble_rx(qf, xc, rot, cfo, bo, iqw, &tn, pos0, Gf, &n0, &inf);
                phy_sync_preamble_rx(qs, x0, rot, cfo, bo, iqw, &tn, pos0, Gu, &n0, &iu);
                /* v 0: G of the clipped windows without declipping */
                phy_sync_preamble(qs, xc, rot, cfo, bo, Gc, &n0);
                double d = rel_err_used(f, Gs, Gf), es = rel_err_used(f, Gs, Gu),
                       ef = rel_err_used(f, Gf, Gu), ec = rel_err_used(f, Gc, Gu);
                if (verbose())
                    fprintf(stderr,
                            "M %u %s, %u rails clipped (%u marked in windows): closed form vs "
                            "FFT %.2g; error vs unclipped G: clipped %.3g, declipped %.3g / %.3g\n",
                            M, v ? "cfo+iq+tone" : "plain", clips[c], is.clipped, d, v ? NAN : ec,
                            es, ef);
                AM_CHECK(is.clipped == inf.clipped && iu.clipped == 0,
                         "M %u: %u / %u marked (unclipped %u)", M, is.clipped, inf.clipped,
                         iu.clipped);
                /* measured 3e-8 .. 1e-7 */
                AM_CHECK(d < 1e-5, "M %u, %u clipped: closed form vs FFT form %.3g", M, clips[c], d);
                /* where clipping costs (ec > 1e-3; a few rails may clip in the prefixes only):
                 * measured, the error falls by 37x .. 256x */
                AM_CHECK(v || ec < 1e-3 || es < 0.1 * ec,
                         "M %u, %u clipped: declipped %.3g, clipped %.3g", M, clips[c], es, ec);
            }
        }
        free(H);
        free(x0);
        free(xc);
        free(rot);
        free(Gs);
        free(Gf);
        free(Gu);
        free(Gc);
        free(Xd);
        free(x);
        free(mag);
        phy_sync_destroy(qs);
        phy_sync_destroy(qf);
        phy_frame_destroy(f);
    }
}
