/* phy/ota_rx: decoding against closed forms (§5: average of the active agents, phase-only
 * weighted average, active counts), NMSE against the §5 floor, detection and streaming. */
#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "phy/frame.h"
#include "phy/ota_rx.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"

/* ---- helpers ---- */

typedef struct link {
    phy_ota_tx *tx;
    phy_ota_rx *rx;
    const phy_frame *f;
    unsigned M, cp, B, nu;
    size_t L, n;
} link;

static int link_make(link *k, unsigned M, size_t L, float eta, float rho)
{
    memset(k, 0, sizeof *k);
    phy_ota_tx_cfg tc;
    phy_ota_tx_cfg_default(&tc);
    tc.frame.nfft = M;
    tc.payload_len = L;
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame = tc.frame;
    rc.payload_len = L;
    rc.eta = eta;
    rc.rho = rho;
    if (phy_ota_tx_create(&tc, &k->tx) != AM_OK || phy_ota_rx_create(&rc, &k->rx) != AM_OK) {
        fprintf(stderr, "link: %s\n", am_last_error());
        return 0;
    }
    k->f = phy_ota_tx_frame(k->tx);
    k->M = M;
    k->cp = phy_frame_cp_len(k->f);
    k->B = k->M + k->cp;
    k->nu = phy_frame_n_used(k->f);
    k->L = L;
    k->n = phy_ota_tx_burst_len(k->tx);
    return 1;
}

static void link_free(link *k)
{
    phy_ota_tx_destroy(k->tx);
    phy_ota_rx_destroy(k->rx);
}

/* y += taps * x (linear convolution, taps at delays d0 .. d0 + nt - 1) */
static void conv_add(float complex *y,
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

/* frequency response on bin i of taps at delays d0.. (nominal window, AIR_INTERFACE §1) */
static void taps_response(const float complex *taps, unsigned nt, unsigned d0, unsigned M,
                          float complex *H)
{
    for (unsigned i = 0; i < M; i++) {
        double complex s = 0;
        for (unsigned l = 0; l < nt; l++)
            s += (double complex)taps[l] * cexp(-2.0 * I * M_PI * (double)((size_t)i * (d0 + l) % M) / M);
        H[i] = (float complex)s;
    }
}

/* ---- noiseless decoding ---- */

AM_TEST(roundtrip_noiseless, unit)
{
    link k;
    AM_REQUIRE(link_make(&k, 256, 1001, 4.0f, 1.0f), "link");
    float *v = malloc(k.L * sizeof(float));
    float complex *x = calloc(k.n, sizeof(float complex));
    am_rng r;
    am_rng_seed(&r, 1);
    for (size_t i = 0; i < k.L; i++)
        v[i] = (float)am_rng_normal(&r);
    AM_REQUIRE_OK(phy_ota_tx_execute(k.tx, v, 4.0f, NULL, x, k.n));
    phy_ota_burst b;
    AM_REQUIRE_OK(phy_ota_rx_decode_at(k.rx, x, k.n, &b));
    double e = 0;
    for (size_t i = 0; i < k.L; i++)
        e = fmax(e, fabs(b.payload[i] - v[i]));
    AM_CHECK(e < 1e-4, "max error %.3g", e);
    AM_CHECK(b.payload_len == k.L && b.nfft == 256, "sizes");
    AM_CHECK_NEAR(b.active_mean, 1.0, 1e-4);
    free(v);
    free(x);
    link_free(&k);
}

/* K agents through their own multipath (taps within the CP), superposed, plus AWGN of variance
 * s2 per sample. mode 0: truncated inversion with g_th, 1: phase-only. Returns the K x M channel
 * responses in H and the K x L payloads in V; y must hold n samples. */
typedef struct scene {
    unsigned K, nt;
    float rho, g_th, eta, snr_db;
    int mode; /* 0 inversion, 1 phase-only */
    float complex *H; /* K x M */
    float *V;         /* K x L */
    float complex *y;
} scene;

static void scene_run(link *k, scene *s, am_rng *r)
{
    const unsigned M = k->M;
    float complex *taps = malloc(s->nt * sizeof(float complex));
    float complex *p = malloc(M * sizeof(float complex));
    float complex *x = malloc(k->n * sizeof(float complex));
    memset(s->y, 0, k->n * sizeof(float complex));
    for (unsigned a = 0; a < s->K; a++) {
        for (unsigned l = 0; l < s->nt; l++)
            taps[l] = am_rng_cnormal(r) * sqrtf(1.0f / (float)s->nt);
        taps_response(taps, s->nt, 0, M, s->H + (size_t)a * M);
        for (size_t i = 0; i < k->L; i++)
            s->V[(size_t)a * k->L + i] = (float)am_rng_normal(r);
        if (s->mode == 0)
            phy_precode_inversion(k->f, s->H + (size_t)a * M, s->rho, s->g_th, p, NULL);
        else
            phy_precode_phase(k->f, s->H + (size_t)a * M, s->rho, p, NULL);
        phy_ota_tx_execute(k->tx, s->V + (size_t)a * k->L, s->eta, p, x, k->n);
        conv_add(s->y, x, k->n, taps, s->nt, 0);
    }
    if (isfinite(s->snr_db)) {
        double s2 = (double)s->rho * M / (k->nu * pow(10.0, s->snr_db / 10.0)); /* §5 */
        float sd = (float)sqrt(s2);
        for (size_t t = 0; t < k->n; t++)
            s->y[t] += sd * am_rng_cnormal(r);
    }
    free(taps);
    free(p);
    free(x);
}

static void scene_alloc(link *k, scene *s)
{
    s->H = malloc((size_t)s->K * k->M * sizeof(float complex));
    s->V = malloc((size_t)s->K * k->L * sizeof(float));
    s->y = malloc(k->n * sizeof(float complex));
}

static void scene_free(scene *s)
{
    free(s->H);
    free(s->V);
    free(s->y);
}

/* bin of payload entry e (§3) */
static unsigned entry_bin(const link *k, size_t e)
{
    size_t c = e / 2;
    return phy_frame_data_bins(k->f)[c % phy_frame_n_data(k->f)];
}

/* §4/§5 phase-only precoding: recovered = sum_k |h_k| v_k / sum_k |h_k| (noiseless). */
AM_TEST(phase_only_weighted, unit)
{
    unsigned Ks[] = {1, 3, 8};
    for (unsigned ki = 0; ki < 3; ki++) {
        link k;
        AM_REQUIRE(link_make(&k, 128, 700, 4.0f, 2.0f), "link");
        scene s = {.K = Ks[ki], .nt = 4, .rho = 2.0f, .eta = 4.0f, .mode = 1, .snr_db = INFINITY};
        scene_alloc(&k, &s);
        am_rng r;
        am_rng_seed(&r, 100 + ki);
        scene_run(&k, &s, &r);
        phy_ota_burst b;
        AM_REQUIRE_OK(phy_ota_rx_decode_at(k.rx, s.y, k.n, &b));
        double maxe = 0, maxa = 0;
        for (size_t e = 0; e < k.L; e++) {
            unsigned i = entry_bin(&k, e);
            double num = 0, den = 0;
            for (unsigned a = 0; a < s.K; a++) {
                double h = cabsf(s.H[(size_t)a * k.M + i]);
                num += h * s.V[(size_t)a * k.L + e];
                den += h;
            }
            maxe = fmax(maxe, fabs(b.payload[e] - num / den) / fmax(1.0, 1.0 / den));
        }
        for (unsigned u = 0; u < k.nu; u++) { /* active = sum |h_k| for phase-only */
            unsigned i = phy_frame_used_bins(k.f)[u];
            double den = 0;
            for (unsigned a = 0; a < s.K; a++)
                den += cabsf(s.H[(size_t)a * k.M + i]);
            maxa = fmax(maxa, fabs(b.active[i] - den));
        }
        AM_CHECK(maxe < 2e-3, "K %u: max error vs |h|-weighted average %.3g", s.K, maxe);
        AM_CHECK(maxa < 1e-3, "K %u: active count error %.3g", s.K, maxa);
        scene_free(&s);
        link_free(&k);
    }
}

/* §5 truncation: entries on a bin average over the agents active there (noiseless), bins erased
 * by everyone give 0; at 20 dB the active-count estimate is within +-0.5 of the truth. */
AM_TEST(truncation, unit)
{
    unsigned Ks[] = {1, 2, 5, 10};
    for (unsigned ki = 0; ki < 4; ki++) {
        for (int noisy = 0; noisy < 2; noisy++) {
            link k;
            AM_REQUIRE(link_make(&k, 256, 2000, 5.0f, 1.0f), "link");
            scene s = {.K = Ks[ki], .nt = 3, .rho = 1.0f, .g_th = 0.4f, .eta = 5.0f, .mode = 0,
                       .snr_db = noisy ? 20.0f : INFINITY};
            scene_alloc(&k, &s);
            am_rng r;
            am_rng_seed(&r, 200 + ki * 2 + (unsigned)noisy);
            scene_run(&k, &s, &r);
            phy_ota_burst b;
            AM_REQUIRE_OK(phy_ota_rx_decode_at(k.rx, s.y, k.n, &b));
            double maxe = 0, maxa = 0;
            unsigned partial = 0, dead = 0;
            for (unsigned u = 0; u < k.nu; u++) {
                unsigned i = phy_frame_used_bins(k.f)[u];
                unsigned n = 0;
                for (unsigned a = 0; a < s.K; a++) {
                    float complex h = s.H[(size_t)a * k.M + i];
                    n += crealf(h * conjf(h)) >= s.g_th;
                }
                partial += n > 0 && n < s.K;
                dead += n == 0;
                maxa = fmax(maxa, fabs((double)b.active[i] - n));
            }
            double se = 0, ss = 0;
            for (size_t e = 0; e < k.L; e++) {
                unsigned i = entry_bin(&k, e), n = 0;
                double sum = 0;
                for (unsigned a = 0; a < s.K; a++) {
                    float complex h = s.H[(size_t)a * k.M + i];
                    if (crealf(h * conjf(h)) >= s.g_th) {
                        n++;
                        sum += s.V[(size_t)a * k.L + e];
                    }
                }
                double want = n ? sum / n : 0.0;
                maxe = fmax(maxe, fabs(b.payload[e] - want));
                se += (b.payload[e] - want) * (b.payload[e] - want);
                ss += want * want;
            }
            if (!noisy) {
                AM_CHECK(maxe < 2e-3, "K %u: max error vs active average %.3g", s.K, maxe);
                AM_CHECK(maxa < 1e-3, "K %u: active count error %.3g", s.K, maxa);
            } else {
                AM_CHECK(maxa < 0.5, "K %u: active count error %.3g at 20 dB", s.K, maxa);
                AM_CHECK(se / ss < 0.5, "K %u: NMSE %.3g vs active average", s.K, se / ss);
            }
            AM_CHECK(s.K > 5 || partial + dead > 20, "K %u: only %u truncated bins", s.K,
                     partial + dead);
            scene_free(&s);
            link_free(&k);
        }
    }
}
