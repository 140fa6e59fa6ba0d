/* phy/ota_rx: decoding against closed forms (§5: average of the active agents, phase-only
 * weighted average, active counts), NMSE against the §5 floor, detection and streaming. */
#include "phy/ota_rx.h"
#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "phy/chan.h"
#include "phy/frame.h"
#include "phy/impair.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"
#include "util.h"

/* ---- helpers ---- */

typedef struct link {
    phy_ota_tx *tx;
    phy_ota_rx *rx;
    const phy_frame *f;
    unsigned M, cp, B, nu;
    size_t L, n;
} link;

/* the receiver with gain_pool W (phy/ota_rx.h) */
static int link_make_pool(link *k, unsigned M, size_t L, float eta, float rho, unsigned W)
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
    rc.gain_pool = W;
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

static int link_make(link *k, unsigned M, size_t L, float eta, float rho)
{
    return link_make_pool(k, M, L, eta, rho, 0);
}

static void link_free(link *k)
{
    phy_ota_tx_destroy(k->tx);
    phy_ota_rx_destroy(k->rx);
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
    int mode;         /* 0 inversion, 1 phase-only */
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
            scene s = {.K = Ks[ki],
                       .nt = 3,
                       .rho = 1.0f,
                       .g_th = 0.4f,
                       .eta = 5.0f,
                       .mode = 0,
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

/* ---- streaming ---- */

#define MAXB 16
typedef struct got {
    unsigned n;
    uint64_t start[MAXB];
    float cfo[MAXB], n0[MAXB], snr_db[MAXB], act[MAXB];
    float *payload[MAXB];
    unsigned char *erased[MAXB]; /* M: the burst's erased bins (§5.7) */
    unsigned n_erased[MAXB];
    size_t L;
} got;

static am_status collect(const phy_ota_burst *b, void *user)
{
    got *g = user;
    if (g->n < MAXB) {
        unsigned i = g->n;
        g->start[i] = b->start;
        g->cfo[i] = b->cfo;
        g->n0[i] = b->n0;
        g->snr_db[i] = b->snr_db;
        g->act[i] = b->active_mean;
        g->payload[i] = malloc(b->payload_len * sizeof(float));
        memcpy(g->payload[i], b->payload, b->payload_len * sizeof(float));
        g->erased[i] = malloc(b->nfft);
        memcpy(g->erased[i], b->erased, b->nfft);
        g->n_erased[i] = b->n_erased;
        g->L = b->payload_len;
    }
    g->n++;
    return AM_OK;
}

static void got_free(got *g)
{
    for (unsigned i = 0; i < g->n && i < MAXB; i++) {
        free(g->payload[i]);
        free(g->erased[i]);
    }
    memset(g, 0, sizeof *g);
}

static phy_ota_rx *stream_rx_thr(unsigned M, size_t L, float eta, got *g, float thr)
{
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.threshold = thr;
    rc.frame.nfft = M;
    rc.payload_len = L;
    rc.eta = eta;
    rc.callback = collect;
    rc.user = g;
    phy_ota_rx *q = NULL;
    if (phy_ota_rx_create(&rc, &q) != AM_OK)
        fprintf(stderr, "rx: %s\n", am_last_error());
    return q;
}

static phy_ota_rx *stream_rx(unsigned M, size_t L, float eta, got *g)
{
    return stream_rx_thr(M, L, eta, g, 0.0f);
}

/* A stream: noise, then nb bursts of one un-precoded agent through 3-tap multipath with a common
 * CFO, separated by random gaps of noise. starts[] = true S0a starts (first path). */
typedef struct stream {
    float complex *y;
    size_t n;
    size_t starts[MAXB];
    float *v[MAXB];
    unsigned nb;
} stream;

/* nb bursts of k's (payload scale eta) through a 3-tap channel at unknown starts (the first at
 * least lead samples in), offset cfo, AWGN at snr_db (per bin, unit gain) */
static void stream_make_lead(
    link *k, stream *st, unsigned nb, double cfo, float snr_db, float eta, size_t lead, am_rng *r)
{
    memset(st, 0, sizeof *st);
    st->nb = nb;
    size_t gapmax = 3 * k->n + 5000;
    st->n = nb * (k->n + gapmax) + gapmax + lead;
    st->y = calloc(st->n, sizeof(float complex));
    float complex *x = malloc(k->n * sizeof(float complex));
    float complex taps[3] = {0.8f, 0.4f * I, -0.3f};
    size_t pos = lead + am_rng_below(r, (uint32_t)gapmax);
    for (unsigned b = 0; b < nb; b++) {
        st->v[b] = malloc(k->L * sizeof(float));
        for (size_t i = 0; i < k->L; i++)
            st->v[b][i] = (float)am_rng_normal(r);
        phy_ota_tx_execute(k->tx, st->v[b], eta, NULL, x, k->n);
        conv_add(st->y + pos, x, k->n, taps, 3, 0);
        st->starts[b] = pos;
        pos += k->n + 200 + am_rng_below(r, (uint32_t)gapmax);
    }
    phy_rotate(st->y, st->n, cfo, k->M, 0.3);
    double s2 = (double)k->M / (k->nu * pow(10.0, snr_db / 10.0));
    float sd = (float)sqrt(s2);
    for (size_t t = 0; t < st->n; t++)
        st->y[t] += sd * am_rng_cnormal(r);
    free(x);
}

static void
stream_make_eta(link *k, stream *st, unsigned nb, double cfo, float snr_db, float eta, am_rng *r)
{
    stream_make_lead(k, st, nb, cfo, snr_db, eta, 1000, r);
}

static void stream_make(link *k, stream *st, unsigned nb, double cfo, float snr_db, am_rng *r)
{
    stream_make_eta(k, st, nb, cfo, snr_db, 5.0f, r);
}

static void stream_free(stream *st)
{
    for (unsigned b = 0; b < st->nb; b++)
        free(st->v[b]);
    free(st->y);
}

/* Several bursts in one stream, unknown starts, CFO, multipath: all found, start within the CP,
 * CFO estimate close, payload close. */
AM_TEST(detect_several, unit)
{
    unsigned Ms[] = {64, 256, 1024};
    double cfos[] = {0.09, -0.07, 0.031};
    for (unsigned mi = 0; mi < 3; mi++) {
        link k;
        AM_REQUIRE(link_make(&k, Ms[mi], 900, 5.0f, 1.0f), "link");
        am_rng r;
        am_rng_seed(&r, 300 + mi);
        stream st;
        stream_make(&k, &st, 5, cfos[mi], 20.0f, &r);
        float complex taps[3] = {0.8f, 0.4f * I, -0.3f}, H[1024];
        taps_response(taps, 3, 0, k.M, H);
        got g = {0};
        phy_ota_rx *rx = stream_rx(Ms[mi], 900, 5.0f, &g);
        AM_REQUIRE(rx, "rx");
        AM_REQUIRE_OK(phy_ota_rx_execute(rx, st.y, st.n));
        AM_CHECK(g.n == st.nb, "M %u: %u bursts found, %u sent", Ms[mi], g.n, st.nb);
        for (unsigned b = 0; b < g.n && b < st.nb; b++) {
            long d = (long)g.start[b] - (long)st.starts[b];
            AM_CHECK(labs(d) <= (long)k.cp, "M %u burst %u: start off by %ld", Ms[mi], b, d);
            AM_CHECK_NEAR(g.cfo[b], cfos[mi], 0.01);
            /* against the §5 floor for this channel: eta^2 N0 / (2 |H_i|^2) per entry */
            double se = 0, ss = 0, fl = 0;
            double N0 = 1.0 / pow(10.0, 2.0);
            for (size_t i = 0; i < k.L; i++) {
                float complex h = H[entry_bin(&k, i)];
                se += (g.payload[b][i] - st.v[b][i]) * (g.payload[b][i] - st.v[b][i]);
                ss += st.v[b][i] * st.v[b][i];
                fl += 25.0 * N0 / (2.0 * crealf(h * conjf(h)));
            }
            double ex = 10 * log10(se / fl);
            if (verbose())
                fprintf(stderr, "M %u burst %u: start %+ld cfo %.4f excess %.2f dB\n", Ms[mi], b, d,
                        (double)g.cfo[b], ex);
            /* measured -0.07..+1.24 dB over the 15 bursts (G estimated from one agent) */
            AM_CHECK(ex < 1.5 && ex > -0.5, "M %u burst %u: NMSE %.3g, %.2f dB above the floor",
                     Ms[mi], b, se / ss, ex);
        }
        phy_ota_rx_stats stats;
        phy_ota_rx_get_stats(rx, &stats);
        AM_CHECK(stats.samples == st.n && stats.bursts == st.nb, "stats %llu %llu",
                 (unsigned long long)stats.samples, (unsigned long long)stats.bursts);
        got_free(&g);
        phy_ota_rx_destroy(rx);
        stream_free(&st);
        link_free(&k);
    }
}

/* Bursts back to back (no gap at all) are all found. */
AM_TEST(back_to_back, unit)
{
    unsigned Ms[] = {64, 256};
    for (unsigned mi = 0; mi < 2; mi++) {
        link k;
        AM_REQUIRE(link_make(&k, Ms[mi], 300, 5.0f, 1.0f), "link");
        const unsigned nb = 4;
        size_t lead = mi == 0 ? 0 : 777, n = lead + nb * k.n + 500; /* 0: at the stream start */
        float complex *y = calloc(n, sizeof(float complex));
        float *v = malloc(k.L * sizeof(float));
        am_rng r;
        am_rng_seed(&r, 350 + mi);
        for (unsigned b = 0; b < nb; b++) {
            for (size_t i = 0; i < k.L; i++)
                v[i] = (float)am_rng_normal(&r);
            AM_REQUIRE_OK(phy_ota_tx_execute(k.tx, v, 5.0f, NULL, y + lead + b * k.n, k.n));
        }
        for (size_t t = 0; t < n; t++)
            y[t] += 0.03f * am_rng_cnormal(&r);
        got g = {0};
        phy_ota_rx *rx = stream_rx(Ms[mi], 300, 5.0f, &g);
        AM_REQUIRE(rx, "rx");
        AM_REQUIRE_OK(phy_ota_rx_execute(rx, y, n));
        AM_CHECK(g.n == nb, "M %u: %u of %u back-to-back bursts found", Ms[mi], g.n, nb);
        for (unsigned b = 0; b < g.n && b < nb; b++)
            AM_CHECK(g.start[b] == lead + b * k.n, "M %u burst %u at %llu, want %zu", Ms[mi], b,
                     (unsigned long long)g.start[b], lead + b * k.n);
        got_free(&g);
        phy_ota_rx_destroy(rx);
        free(y);
        free(v);
        link_free(&k);
    }
}

/* No false detection in 10^7 samples of pure noise (M = 64: the shortest window, the most
 * detector evaluations; M = 1024 too). The noise power changes midway (AGC steps). */
AM_TEST(noise_no_detection, unit)
{
    unsigned Ms[] = {64, 1024};
    for (unsigned mi = 0; mi < 2; mi++) {
        got g = {0};
        phy_ota_rx *rx = stream_rx(Ms[mi], 500, 5.0f, &g);
        AM_REQUIRE(rx, "rx");
        am_rng r;
        am_rng_seed(&r, 400 + mi);
        const size_t chunk = 1 << 16, total = 10000000;
        float complex *x = malloc(chunk * sizeof(float complex));
        for (size_t done = 0; done < total; done += chunk) {
            float sd = done < total / 2 ? 1.0f : 1e-3f;
            size_t n = total - done < chunk ? total - done : chunk;
            for (size_t t = 0; t < n; t++)
                x[t] = sd * am_rng_cnormal(&r);
            AM_REQUIRE_OK(phy_ota_rx_execute(rx, x, n));
        }
        phy_ota_rx_stats s;
        phy_ota_rx_get_stats(rx, &s);
        AM_CHECK(g.n == 0, "M %u: %u false detections in 10^7 noise samples", Ms[mi], g.n);
        AM_CHECK(s.samples == total, "samples %llu", (unsigned long long)s.samples);
        if (verbose())
            fprintf(stderr, "M %u: %llu triggers rejected by the gate\n", Ms[mi],
                    (unsigned long long)s.rejected);
        free(x);
        got_free(&g);
        phy_ota_rx_destroy(rx);
    }
}

/* The impulse-response gate alone: with a Schmidl-Cox threshold low enough to trigger on noise,
 * every trigger is rejected. */
AM_TEST(noise_gate, unit)
{
    got g = {0};
    phy_ota_rx *rx = stream_rx_thr(64, 500, 5.0f, &g, 0.12f);
    AM_REQUIRE(rx, "rx");
    am_rng r;
    am_rng_seed(&r, 450);
    const size_t n = 2000000;
    float complex *x = malloc(n * sizeof(float complex));
    for (size_t t = 0; t < n; t++)
        x[t] = am_rng_cnormal(&r);
    AM_REQUIRE_OK(phy_ota_rx_execute(rx, x, n));
    phy_ota_rx_stats s;
    phy_ota_rx_get_stats(rx, &s);
    AM_CHECK(g.n == 0, "%u false detections", g.n);
    AM_CHECK(s.rejected >= 5, "only %llu triggers: the gate was not exercised",
             (unsigned long long)s.rejected);
    if (verbose())
        fprintf(stderr, "%llu triggers rejected\n", (unsigned long long)s.rejected);
    free(x);
    got_free(&g);
    phy_ota_rx_destroy(rx);
}

/* One stream of nb bursts (stream_make) and two streaming receivers for it: a has decoded the
 * stream in one call, b is the case's to feed. */
typedef struct twin {
    link k;
    stream st;
    got g1, g2;
    phy_ota_rx *a, *b;
} twin;

static int
twin_make(twin *w, unsigned M, size_t L, unsigned nb, double cfo, float snr_db, am_rng *r)
{
    memset(w, 0, sizeof *w);
    if (!link_make(&w->k, M, L, 5.0f, 1.0f))
        return 0;
    stream_make(&w->k, &w->st, nb, cfo, snr_db, r);
    w->a = stream_rx(M, L, 5.0f, &w->g1);
    w->b = stream_rx(M, L, 5.0f, &w->g2);
    if (!w->a || !w->b)
        return 0;
    if (phy_ota_rx_execute(w->a, w->st.y, w->st.n) != AM_OK) {
        fprintf(stderr, "twin: %s\n", am_last_error());
        return 0;
    }
    return 1;
}

static void twin_free(twin *w)
{
    got_free(&w->g1);
    got_free(&w->g2);
    phy_ota_rx_destroy(w->a);
    phy_ota_rx_destroy(w->b);
    stream_free(&w->st);
    link_free(&w->k);
}

/* Cutting the stream into random-size calls (including single samples) gives bit-identical
 * results to one big call. */
AM_TEST(chunking_identical, unit)
{
    am_rng r;
    am_rng_seed(&r, 500);
    twin w;
    AM_REQUIRE(twin_make(&w, 256, 3000, 4, 0.05, 15.0f, &r), "twin");
    const got *g1 = &w.g1, *g2 = &w.g2;
    size_t pos = 0;
    while (pos < w.st.n) {
        uint32_t kind = am_rng_below(&r, 4);
        size_t n = kind == 0 ? 1 : kind == 1 ? am_rng_below(&r, 64) : am_rng_below(&r, 70000);
        if (n > w.st.n - pos)
            n = w.st.n - pos;
        AM_REQUIRE_OK(phy_ota_rx_execute(w.b, w.st.y + pos, n));
        pos += n;
    }
    AM_CHECK(g1->n == w.st.nb && g2->n == g1->n, "bursts %u vs %u (sent %u)", g1->n, g2->n,
             w.st.nb);
    for (unsigned i = 0; i < g1->n && i < g2->n && i < MAXB; i++) {
        AM_CHECK(g1->start[i] == g2->start[i], "burst %u: start %llu vs %llu", i,
                 (unsigned long long)g1->start[i], (unsigned long long)g2->start[i]);
        AM_CHECK(g1->cfo[i] == g2->cfo[i] && g1->n0[i] == g2->n0[i], "burst %u: cfo/n0 differ", i);
        AM_CHECK(memcmp(g1->payload[i], g2->payload[i], w.k.L * sizeof(float)) == 0,
                 "burst %u: payload differs", i);
    }
    twin_free(&w);
}

/* A block with a NaN or Inf is refused as a whole (AM_EFORMAT naming it), nothing consumed: the
 * same stream with the bad block dropped/repaired decodes as if nothing happened. */
AM_TEST(bad_samples, unit)
{
    am_rng r;
    am_rng_seed(&r, 600);
    twin w;
    AM_REQUIRE(twin_make(&w, 128, 500, 2, 0.02, 25.0f, &r), "twin");
    const got *g1 = &w.g1, *g2 = &w.g2;
    const link *k = &w.k;
    size_t half = w.st.starts[0] + 300;
    AM_REQUIRE_OK(phy_ota_rx_execute(w.b, w.st.y, half));
    float complex *bad = malloc(1000 * sizeof(float complex));
    memcpy(bad, w.st.y + half, 1000 * sizeof(float complex));
    bad[417] = NAN;
    AM_CHECK(phy_ota_rx_execute(w.b, bad, 1000) == AM_EFORMAT, "NaN accepted");
    AM_CHECK(strstr(am_last_error(), "sample 417") != NULL, "message: %s", am_last_error());
    bad[417] = CMPLXF(1.0f, INFINITY);
    AM_CHECK(phy_ota_rx_execute(w.b, bad, 1000) == AM_EFORMAT, "Inf accepted");
    phy_ota_rx_stats s;
    phy_ota_rx_get_stats(w.b, &s);
    AM_CHECK(s.samples == half, "refused samples were counted");
    AM_REQUIRE_OK(phy_ota_rx_execute(w.b, w.st.y + half, w.st.n - half));
    AM_CHECK(g1->n == 2 && g2->n == 2, "bursts %u %u", g1->n, g2->n);
    for (unsigned i = 0; i < 2 && i < g1->n && i < g2->n; i++)
        AM_CHECK(memcmp(g1->payload[i], g2->payload[i], k->L * sizeof(float)) == 0 &&
                     g1->start[i] == g2->start[i],
                 "burst %u differs after a refused block", i);
    /* decode_at validates too; no callback: execute refuses */
    phy_ota_burst bb;
    bad[5] = NAN;
    AM_CHECK(phy_ota_rx_decode_at(k->rx, bad, 100, &bb) == AM_EINVAL, "short input accepted");
    float complex *x = calloc(k->n, sizeof(float complex));
    x[k->n - 1] = NAN;
    AM_CHECK(phy_ota_rx_decode_at(k->rx, x, k->n, &bb) == AM_EFORMAT, "NaN in decode_at");
    AM_CHECK(phy_ota_rx_execute(k->rx, x, 10) == AM_EINVAL, "execute without callback");
    /* an all-zero capture decodes to zeros, never NaN */
    x[k->n - 1] = 0.0f;
    AM_REQUIRE_OK(phy_ota_rx_decode_at(k->rx, x, k->n, &bb));
    int finite = 1;
    for (size_t i = 0; i < k->L; i++)
        finite &= bb.payload[i] == 0.0f;
    AM_CHECK(finite && isfinite(bb.snr_db), "zero input gives non-zero or non-finite output");
    free(x);
    free(bad);
    twin_free(&w);
}

AM_TEST(config_errors, unit)
{
    phy_ota_rx_cfg c;
    phy_ota_rx_cfg_default(&c);
    phy_ota_rx *q = NULL;
    c.eta = 0.0f;
    AM_CHECK(phy_ota_rx_create(&c, &q) == AM_EINVAL && !q, "eta 0");
    c.eta = 1.0f;
    c.rho = NAN;
    AM_CHECK(phy_ota_rx_create(&c, &q) == AM_EINVAL && !q, "rho NaN");
    c.rho = 1.0f;
    c.threshold = 1.5f;
    AM_CHECK(phy_ota_rx_create(&c, &q) == AM_EINVAL && !q, "threshold 1.5");
    c.threshold = 0.0f;
    c.payload_len = 0;
    AM_CHECK(phy_ota_rx_create(&c, &q) == AM_EINVAL && !q, "L 0");
    c.payload_len = 10;
    c.frame.cp_len = 999;
    AM_CHECK(phy_ota_rx_create(&c, &q) == AM_EINVAL && !q, "cp 999");
    AM_CHECK(strstr(am_last_error(), "cyclic prefix 999") != NULL, "msg %s", am_last_error());
    c.frame.cp_len = 0;
    c.gain_pool = PHY_OTA_RX_GAIN_POOL_MAX + 1;
    AM_CHECK(phy_ota_rx_create(&c, &q) == AM_EINVAL && !q, "gain_pool 17");
    AM_CHECK(strstr(am_last_error(), "gain_pool 17") != NULL, "msg %s", am_last_error());
    c.gain_pool = 0;
    AM_REQUIRE_OK(phy_ota_rx_create(&c, &q));
    AM_CHECK(phy_ota_rx_set_round(q, -1.0f, 1.0f) == AM_EINVAL, "set_round eta < 0");
    AM_CHECK_OK(phy_ota_rx_set_round(q, 2.0f, 3.0f));
    phy_ota_rx_destroy(q);
    phy_ota_rx_destroy(NULL);
}

/* ---- aggregation NMSE against the §5 floor ---- */

typedef struct nmse_res {
    double meas, floor, pred; /* sums of squared errors (measured, floor, predicted) */
    double sig;               /* sum of squared true averages */
    double lambda_min;        /* smallest per-bin SNR of the G estimate, |g|^2 w_i / N0 */
} nmse_res;

/* The predicted squared error of entry e (docs/air-interface.md §5, "about 0.3 dB above" the floor)
 * when the composite gain is g2 = |G|^2 on every bin: the floor eta^2 N0 / (2 g2) plus the
 * estimation noise of G (MRC over the preamble blocks that carry bin i: variance N0 / w_i, w_i =
 * sum of |X_b[i]|^2 over S0a, S0b, S1) and of the pilots' common phase (variance N0 / (2 g2
 * n_pilot)), both scaled by the value's power c2, to second order in x = N0 / (w_i g2). avg holds
 * the true averages of the burst (L entries). *lambda = 1 / x, the per-bin SNR of G. */
static double pred_entry(
    const link *k, size_t e, const float *avg, double eta, double N0, double g2, double *lambda)
{
    const float complex *X[3] = {phy_frame_s0a(k->f), phy_frame_s0b(k->f), phy_frame_s1(k->f)};
    const double var_phi = N0 / (2.0 * g2 * phy_frame_n_pilot(k->f));
    unsigned i = entry_bin(k, e);
    double w = 0;
    for (int bl = 0; bl < 3; bl++)
        w += crealf(X[bl][i] * conjf(X[bl][i]));
    double sg2 = N0 / w, x = sg2 / g2;
    size_t e0 = e & ~(size_t)1;
    double re = avg[e0] / eta, im = e0 + 1 < k->L ? avg[e0 + 1] / eta : 0.0;
    double c2 = re * re + im * im;
    *lambda = 1.0 / x;
    return eta * eta / (2.0 * g2) * (N0 + c2 * sg2 + c2 * g2 * var_phi) * (1.0 + x + 2.0 * x * x);
}

/* Genie timing (decode_at): K agents, 3-tap multipath, exact truncated-inversion precoding with
 * g_th = 0 (n_i = K on every bin), AWGN with N0 from the per-agent SNR (§5).
 * floor: eta^2 N0 / (2 K^2 rho) per entry. pred: the same with the estimation noise of G (MRC of
 * the preamble blocks: variance N0 / w_i, w_i = sum of |X_b[i]|^2 over S0a, S0b, S1) and of the
 * pilot phase, to second order in N0 / |G|^2 (docs/air-interface.md §5: "about 0.3 dB above").
 * The receiver pools G over `pool` bins either side (gain_pool; 0: per-bin G, as pred assumes). */
static void genie_nmse(unsigned M,
                       unsigned K,
                       float snr_db,
                       unsigned nbursts,
                       uint64_t seed,
                       unsigned pool,
                       nmse_res *res)
{
    memset(res, 0, sizeof *res);
    phy_frame_cfg fc = {.nfft = M};
    phy_frame *f0 = NULL;
    phy_frame_create(&fc, &f0);
    size_t L = 2 * phy_frame_n_data(f0) * 6 - 1;
    phy_frame_destroy(f0);
    const float eta = 5.0f, rho = 1.0f;
    link k;
    AM_REQUIRE(link_make_pool(&k, M, L, eta, rho, pool), "link");
    scene s = {.K = K, .nt = 3, .rho = rho, .g_th = 0.0f, .eta = eta, .mode = 0, .snr_db = snr_db};
    scene_alloc(&k, &s);
    am_rng r;
    am_rng_seed(&r, seed);
    const double N0 = rho / pow(10.0, snr_db / 10.0);
    const double g2 = (double)K * K * rho;
    res->lambda_min = INFINITY;
    float *avg = malloc(L * sizeof(float));
    for (unsigned b = 0; b < nbursts; b++) {
        scene_run(&k, &s, &r);
        phy_ota_burst out;
        if (phy_ota_rx_decode_at(k.rx, s.y, k.n, &out) != AM_OK) {
            AM_CHECK(0, "burst %u: %s", b, am_last_error());
            break;
        }
        for (size_t e = 0; e < L; e++) {
            double a = 0;
            for (unsigned q = 0; q < K; q++)
                a += s.V[(size_t)q * L + e];
            avg[e] = (float)(a / K);
        }
        for (size_t e = 0; e < L; e++) {
            double lambda;
            res->floor += eta * eta * N0 / (2.0 * g2);
            res->pred += pred_entry(&k, e, avg, eta, N0, g2, &lambda);
            double d = out.payload[e] - avg[e];
            res->meas += d * d;
            res->sig += (double)avg[e] * avg[e];
            res->lambda_min = fmin(res->lambda_min, lambda);
        }
    }
    free(avg);
    scene_free(&s);
    link_free(&k);
}

static void genie_case(unsigned M, unsigned K, float snr_db)
{
    /* enough G draws (bursts x bins) and entries for ~0.1 dB */
    unsigned nb = M == 64 ? 96 : M == 256 ? 28 : 10;
    nmse_res r;
    genie_nmse(M, K, snr_db, nb, 1000u + M + 7u * K + (unsigned)snr_db, 0, &r);
    AM_REQUIRE(r.sig > 0, "M %u K %u: no result", M, K);
    double meas = 10 * log10(r.meas / r.sig), fl = 10 * log10(r.floor / r.sig),
           pred = 10 * log10(r.pred / r.sig);
    if (verbose())
        fprintf(stderr,
                "M %4u K %2u SNR %2.0f: NMSE %7.2f dB, floor %7.2f (+%.2f), predicted %+.2f, "
                "lambda_min %.0f\n",
                M, K, (double)snr_db, meas, fl, meas - fl, pred - fl, r.lambda_min);
    /* The estimator matches its closed form wherever the per-bin SNR of G is >= 4 (all but K = 1
     * at 0 dB): measured meas - pred -0.12..+0.04 dB where lambda_min >= 9.5 and -0.16..+0.03 dB
     * for K = 2 at 0 dB (lambda_min 4); over six seed sets -0.16..+0.08 and -0.25..+0.06 dB.
     * Bounds 0.2 and 0.35 dB: a G estimated from fewer preamble blocks, or a common phase left
     * uncorrected, is caught. */
    AM_CHECK(isfinite(meas), "M %u K %u SNR %.0f: NMSE %g", M, K, (double)snr_db, meas);
    if (r.lambda_min >= 9.5)
        AM_CHECK(fabs(meas - pred) < 0.2, "M %u K %u SNR %.0f: NMSE %.2f dB, predicted %.2f", M, K,
                 (double)snr_db, meas, pred);
    else if (r.lambda_min >= 3.5)
        AM_CHECK(fabs(meas - pred) < 0.35, "M %u K %u SNR %.0f: NMSE %.2f dB, predicted %.2f", M, K,
                 (double)snr_db, meas, pred);
    /* below that (K = 1 at 0 dB, lambda_min 1) G's estimate is too noisy for the expansion (1/G
     * has no finite variance) and the no-agent gate drops the worst bins: measured 0.32..0.41 dB
     * BELOW the floor (0.16..0.41 over six seed sets); bound -0.6..+0.1 dB */
    else
        AM_CHECK(meas - fl > -0.6 && meas - fl < 0.1,
                 "M %u K %u SNR %.0f: NMSE %.2f dB, floor %.2f", M, K, (double)snr_db, meas, fl);
}

AM_TEST(nmse_genie, unit)
{
    unsigned Ms[] = {64, 256, 1024}, Ks[] = {1, 2, 10, 50};
    float snrs[] = {0.0f, 10.0f, 20.0f, 30.0f};
    for (unsigned mi = 0; mi < 3; mi++)
        for (unsigned ki = 0; ki < 4; ki++)
            for (unsigned si = 0; si < 4; si++)
                genie_case(Ms[mi], Ks[ki], snrs[si]);
}

/* gain_pool (phy/ota_rx.h), genie-timed as nmse_genie, M = 256: where the per-bin G is noisy
 * (K = 2 at 0 dB, K = 1 at 10 dB: about +0.9 and +0.45 dB over the §5 floor per bin), pooling 3
 * bins either side lands within 0.2 dB of the floor, at least 0.25 dB below the per-bin
 * estimator on the same bursts; where G is clean on every bin (noiseless, truncated inversion:
 * erased bins and steps of the active count) it changes nothing, bit for bit. */
AM_TEST(gain_pool, unit)
{
    const unsigned Ks[2] = {2, 1};
    const float snrs[2] = {0.0f, 10.0f};
    for (unsigned ci = 0; ci < 2; ci++) {
        nmse_res per_bin, pooled;
        uint64_t seed = 1000u + 256u + 7u * Ks[ci] + (unsigned)snrs[ci];
        genie_nmse(256, Ks[ci], snrs[ci], 28, seed, 0, &per_bin);
        genie_nmse(256, Ks[ci], snrs[ci], 28, seed, 3, &pooled);
        AM_REQUIRE(per_bin.sig > 0 && pooled.sig > 0, "K %u: no result", Ks[ci]);
        double e0 = 10 * log10(per_bin.meas / per_bin.floor);
        double e1 = 10 * log10(pooled.meas / pooled.floor);
        if (verbose())
            fprintf(stderr, "K %u SNR %.0f: per-bin G %+.2f dB, pooled %+.2f dB over the floor\n",
                    Ks[ci], (double)snrs[ci], e0, e1);
        AM_CHECK(fabs(e1) < 0.2, "K %u SNR %.0f: pooled G %+.2f dB over the floor", Ks[ci],
                 (double)snrs[ci], e1);
        AM_CHECK(e0 - e1 > 0.25, "K %u SNR %.0f: pooled %+.2f dB vs per-bin %+.2f dB", Ks[ci],
                 (double)snrs[ci], e1, e0);
    }
    link a, b;
    AM_REQUIRE(link_make(&a, 256, 2000, 5.0f, 1.0f) && link_make_pool(&b, 256, 2000, 5.0f, 1.0f, 3),
               "link");
    scene s = {.K = 3, .nt = 3, .rho = 1.0f, .g_th = 0.4f, .eta = 5.0f, .snr_db = INFINITY};
    scene_alloc(&a, &s);
    am_rng r;
    am_rng_seed(&r, 260);
    scene_run(&a, &s, &r);
    phy_ota_burst ba, bb;
    AM_REQUIRE_OK(phy_ota_rx_decode_at(a.rx, s.y, a.n, &ba));
    AM_REQUIRE_OK(phy_ota_rx_decode_at(b.rx, s.y, b.n, &bb));
    unsigned erased = 0;
    for (unsigned i = 0; i < a.M; i++)
        erased += phy_frame_sctype(a.f)[i] != PHY_SCTYPE_NULL && ba.active[i] < 2.5f;
    AM_CHECK(erased > 20, "only %u bins with an agent erased", erased);
    AM_CHECK(memcmp(ba.payload, bb.payload, a.L * sizeof(float)) == 0 &&
                 memcmp(ba.gain, bb.gain, a.M * sizeof(float complex)) == 0,
             "pooling changed a noiseless decode");
    scene_free(&s);
    link_free(&a);
    link_free(&b);
}

/* Full chain: the streaming receiver on the emulator's output (phy/chan.h): noise before and
 * after, per-agent Rayleigh 4-tap multipath, timing offsets inside the CP, a common carrier
 * offset up to 0.1 subcarrier spacing, random carrier phases; agents invert phy_chan_response.
 * All bursts found, start within the CP, NMSE within 0.35 dB of the closed form of nmse_genie
 * (pred_entry: the agents invert the true response, so |G|^2 = K^2 rho on every bin). */
static void chain_case(unsigned M, unsigned K, float snr_db, unsigned nb, uint64_t seed)
{
    const float eta = 5.0f, rho = 1.0f;
    phy_frame_cfg fc = {.nfft = M};
    phy_frame *f0 = NULL;
    AM_REQUIRE_OK(phy_frame_create(&fc, &f0));
    size_t L = 2 * phy_frame_n_data(f0) * 5;
    phy_frame_destroy(f0);
    link k;
    AM_REQUIRE(link_make(&k, M, L, eta, rho), "link");
    am_rng r;
    am_rng_seed(&r, seed);
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = K;
    cc.nfft = M;
    cc.cp_len = k.cp;
    cc.n_taps = 4;
    cc.delay_spread = 1.0f;
    /* the receiver's window sits 2 samples into the CP (phy/sync backoff) */
    cc.max_timing_offset = k.cp - 3 - 2;
    cc.max_cfo = 0.0f; /* agents pre-compensate their own offset; see the report */
    cc.common_cfo = (float)am_rng_uniform_range(&r, -0.1, 0.1);
    cc.random_phase = 1;
    cc.snr_db = snr_db;
    cc.rho = rho;
    cc.seed = seed;
    phy_chan *ch = NULL;
    AM_REQUIRE_OK(phy_chan_create(&cc, &ch));
    size_t lead_max = 3000, tail = 700;
    size_t per = phy_chan_out_len(ch, k.n, lead_max, tail);
    float complex *y = malloc(nb * per * sizeof(float complex));
    float complex *p = malloc((size_t)K * M * sizeof(float complex));
    float complex *xs = malloc((size_t)K * k.n * sizeof(float complex));
    const float complex **tx = malloc(K * sizeof *tx);
    float complex H[4096];
    float *V = malloc((size_t)K * L * sizeof(float));
    float *avg = malloc(nb * L * sizeof(float));
    size_t *starts = malloc(nb * sizeof(size_t)), pos = 0;
    for (unsigned b = 0; b < nb; b++) {
        AM_REQUIRE_OK(phy_chan_draw(ch));
        for (unsigned a = 0; a < K; a++) {
            AM_REQUIRE_OK(phy_chan_response(ch, a, H));
            AM_REQUIRE_OK(phy_precode_inversion(k.f, H, rho, 0.0f, p + (size_t)a * M, NULL));
            for (size_t i = 0; i < L; i++)
                V[(size_t)a * L + i] = (float)am_rng_normal(&r);
            AM_REQUIRE_OK(phy_ota_tx_execute(k.tx, V + (size_t)a * L, eta, p + (size_t)a * M,
                                             xs + (size_t)a * k.n, k.n));
            tx[a] = xs + (size_t)a * k.n;
        }
        for (size_t i = 0; i < L; i++) {
            double s = 0;
            for (unsigned a = 0; a < K; a++)
                s += V[(size_t)a * L + i];
            avg[b * L + i] = (float)(s / K);
        }
        size_t lead = 500 + am_rng_below(&r, (uint32_t)(lead_max - 500)), ny = 0;
        AM_REQUIRE_OK(phy_chan_execute(ch, tx, k.n, lead, tail, y + pos, nb * per - pos, &ny));
        starts[b] = pos + lead;
        pos += ny;
    }
    got g = {0};
    phy_ota_rx *rx = stream_rx(M, L, eta, &g);
    AM_REQUIRE(rx, "rx");
    AM_REQUIRE_OK(phy_ota_rx_execute(rx, y, pos));
    AM_CHECK(g.n == nb, "M %u K %u SNR %.0f: %u bursts found of %u", M, K, (double)snr_db, g.n, nb);
    double se = 0, ss = 0, sp = 0, N0 = rho / pow(10.0, snr_db / 10.0);
    double fl = eta * eta * N0 / (2.0 * K * K * rho), lambda = 0;
    long worst = 0;
    double cfo_err = 0;
    for (unsigned b = 0; b < g.n && b < nb && b < MAXB; b++) {
        long d = (long)g.start[b] - (long)starts[b];
        worst = labs(d) > labs(worst) ? d : worst;
        cfo_err = fmax(cfo_err, fabs(g.cfo[b] - cc.common_cfo));
        for (size_t i = 0; i < L; i++) {
            double e = g.payload[b][i] - avg[b * L + i];
            se += e * e;
            ss += (double)avg[b * L + i] * avg[b * L + i];
            sp += pred_entry(&k, i, avg + b * L, eta, N0, (double)K * K * rho, &lambda);
        }
    }
    double meas = 10 * log10(se / ss), flo = 10 * log10(fl * (double)L * g.n / ss);
    double pred = 10 * log10(sp / ss);
    if (verbose())
        fprintf(stderr,
                "chain M %4u K %2u SNR %2.0f: NMSE %7.2f dB, floor %7.2f (+%.2f), predicted %+.2f "
                "(meas-pred %+.2f); start %+ld, cfo %.4f (err %.4f)\n",
                M, K, (double)snr_db, meas, flo, meas - flo, pred - flo, meas - pred, worst,
                (double)cc.common_cfo, cfo_err);
    AM_CHECK(labs(worst) <= (long)k.cp, "M %u K %u: start off by %ld", M, K, worst);
    /* measured meas - pred -0.16..+0.17 dB over the 36 cases (-0.29..+0.19 over seven seed sets,
     * leaving out two sets where M = 64, K = 1 missed one burst of 16) */
    AM_CHECK(fabs(meas - pred) < 0.35,
             "M %u K %u SNR %.0f: NMSE %.2f dB, predicted %.2f (floor %.2f)", M, K, (double)snr_db,
             meas, pred, flo);
    /* lag-M/2 correlation over ~1.5 M samples at composite SNR g = K^2 snr: std of the phase
     * sqrt((2/g + 1/g^2) / (1.5 M)), CFO = phase / pi; allow 5 sigma */
    double gs = (double)K * K * pow(10.0, snr_db / 10.0);
    double cfo_tol = 5.0 * sqrt((2.0 / gs + 1.0 / (gs * gs)) / (1.5 * M)) / M_PI;
    AM_CHECK(cfo_err < cfo_tol, "M %u K %u: CFO error %.4f > %.4f", M, K, cfo_err, cfo_tol);
    got_free(&g);
    phy_ota_rx_destroy(rx);
    phy_chan_destroy(ch);
    free(y);
    free(p);
    free(xs);
    free(tx);
    free(V);
    free(avg);
    free(starts);
    link_free(&k);
}

AM_TEST(nmse_chain, unit)
{
    unsigned Ms[] = {64, 256, 1024}, Ks[] = {1, 2, 10, 50};
    float snrs[] = {10.0f, 20.0f, 30.0f};
    for (unsigned mi = 0; mi < 3; mi++)
        for (unsigned ki = 0; ki < 4; ki++)
            for (unsigned si = 0; si < 3; si++)
                chain_case(Ms[mi], Ks[ki], snrs[si],
                           Ms[mi] == 64    ? 16
                           : Ms[mi] == 256 ? 8
                                           : 4,
                           7000u + 100u * mi + 10u * ki + si);
}

/* ---- tests where one receiver stage decides the result (each against the truth) ---- */

/* The preamble estimates against their closed forms (§5), genie timing (decode_at), K = 1 agent
 * inverting a 3-tap channel at 10 dB: the same bursts decoded without noise give the true G, so
 * G_noisy - G_clean is the estimation error. Its variance per bin is N0 / w_i with w_i the sum of
 * |X_b[i]|^2 over the blocks S0a, S0b, S1 that carry bin i (maximum-ratio combining): checked
 * separately on the bins S0a/S0b carry and on those only S1 carries, so a G taken from S1 alone
 * (or any other weighting) fails. The receiver's N0 (from the used bins S0a and S0b leave empty)
 * against the true rho / SNR. */
AM_TEST(preamble_estimates, unit)
{
    const unsigned M = 256, nb = 24;
    const float snr_db = 10.0f, rho = 1.0f;
    link k;
    AM_REQUIRE(link_make(&k, M, 600, 5.0f, rho), "link");
    scene s = {.K = 1, .nt = 3, .rho = rho, .eta = 5.0f, .mode = 0, .snr_db = snr_db};
    scene_alloc(&k, &s);
    const float complex *X[3] = {phy_frame_s0a(k.f), phy_frame_s0b(k.f), phy_frame_s1(k.f)};
    const unsigned char *sct = phy_frame_sctype(k.f);
    const double N0 = rho / pow(10.0, snr_db / 10.0);
    double z[2] = {0, 0}, n0sum = 0; /* sum of |e|^2 w / N0: [0] bins S0a/S0b carry, [1] S1 only */
    unsigned cnt[2] = {0, 0};
    float complex *Gc = malloc(M * sizeof *Gc);
    for (unsigned b = 0; b < nb; b++) {
        am_rng r;
        phy_ota_burst out;
        am_rng_seed2(&r, 2600, b); /* same channel and payload twice: without, then with noise */
        s.snr_db = INFINITY;
        scene_run(&k, &s, &r);
        AM_REQUIRE_OK(phy_ota_rx_decode_at(k.rx, s.y, k.n, &out));
        memcpy(Gc, out.gain, M * sizeof *Gc);
        am_rng_seed2(&r, 2600, b);
        s.snr_db = snr_db;
        scene_run(&k, &s, &r);
        AM_REQUIRE_OK(phy_ota_rx_decode_at(k.rx, s.y, k.n, &out));
        n0sum += out.n0;
        for (unsigned i = 0; i < M; i++) {
            if (sct[i] == PHY_SCTYPE_NULL)
                continue;
            double w = 0;
            for (int bl = 0; bl < 3; bl++)
                w += crealf(X[bl][i] * conjf(X[bl][i]));
            int only_s1 = X[0][i] == 0.0f && X[1][i] == 0.0f;
            float complex e = out.gain[i] - Gc[i];
            z[only_s1] += crealf(e * conjf(e)) * w / N0;
            cnt[only_s1]++;
        }
    }
    /* each ratio averages cnt = 2448 exponential variables: standard error 2%; measured 0.996
     * and 0.978 (0.985..1.026 and 0.962..1.025 over eight seeds); bounds +-6% (G from S1 alone
     * multiplies the first by w / |S1|^2) */
    double r0 = z[0] / cnt[0], r1 = z[1] / cnt[1], rn = n0sum / nb / N0;
    if (verbose())
        fprintf(stderr,
                "G error variance / (N0/w): %.3f on %u bins with S0a/S0b, %.3f on %u S1-only; "
                "N0 estimate / N0 %.3f\n",
                r0, cnt[0], r1, cnt[1], rn);
    AM_CHECK(cnt[0] > 0 && fabs(r0 - 1.0) < 0.06, "bins with S0a/S0b: variance ratio %.3f", r0);
    AM_CHECK(cnt[1] > 0 && fabs(r1 - 1.0) < 0.06, "S1-only bins: variance ratio %.3f", r1);
    /* N0 from the empty bins of 24 bursts: measured 0.993 (0.979..1.016 over eight seeds) */
    AM_CHECK(fabs(rn - 1.0) < 0.06, "N0 estimate %.3f x the true N0", rn);
    free(Gc);
    scene_free(&s);
    link_free(&k);
}

/* Pilot common-phase correction (§5) over long bursts: genie timing (decode_at, which assumes no
 * carrier offset) on bursts of 120 data symbols carrying a residual offset of 0.001 subcarrier
 * spacings, 0.85 rad of phase over the burst: only the pilots' common phase keeps the decode at
 * the closed form of nmse_genie. The offset is kept small because the preamble's blocks, combined
 * at phases 0.007 rad apart, and the leakage between carriers cost ~eps^2 (0.004: +0.5 dB).
 * M = 64, K = 10 agents at 20 dB. Checked on the whole burst and on its last quarter, where the
 * phase has run furthest. */
AM_TEST(pilot_phase_residual_cfo, unit)
{
    const unsigned M = 64, K = 10, nb = 6, nsym = 120;
    const float eta = 5.0f, rho = 1.0f, snr_db = 20.0f;
    const double eps = 0.001;
    phy_frame_cfg fc = {.nfft = M};
    phy_frame *f0 = NULL;
    AM_REQUIRE_OK(phy_frame_create(&fc, &f0));
    const size_t L = 2 * phy_frame_n_data(f0) * nsym;
    phy_frame_destroy(f0);
    link k;
    AM_REQUIRE(link_make(&k, M, L, eta, rho), "link");
    scene s = {.K = K, .nt = 3, .rho = rho, .eta = eta, .mode = 0, .snr_db = snr_db};
    scene_alloc(&k, &s);
    am_rng r;
    am_rng_seed(&r, 2700);
    const double N0 = rho / pow(10.0, snr_db / 10.0), g2 = (double)K * K * rho;
    double se = 0, sp = 0, se4 = 0, sp4 = 0, lambda;
    float *avg = malloc(L * sizeof(float));
    for (unsigned b = 0; b < nb; b++) {
        scene_run(&k, &s, &r);
        for (size_t t = 0; t < k.n; t++) /* the residual offset, from the burst's first sample */
            s.y[t] *= (float complex)cexp(I * 2.0 * M_PI * eps * (double)t / M);
        phy_ota_burst out;
        AM_REQUIRE_OK(phy_ota_rx_decode_at(k.rx, s.y, k.n, &out));
        for (size_t e = 0; e < L; e++) {
            double a = 0;
            for (unsigned q = 0; q < K; q++)
                a += s.V[(size_t)q * L + e];
            avg[e] = (float)(a / K);
        }
        for (size_t e = 0; e < L; e++) {
            double d = out.payload[e] - avg[e], p = pred_entry(&k, e, avg, eta, N0, g2, &lambda);
            se += d * d;
            sp += p;
            if (e >= 3 * L / 4) {
                se4 += d * d;
                sp4 += p;
            }
        }
    }
    double all = 10 * log10(se / sp), last = 10 * log10(se4 / sp4);
    if (verbose())
        fprintf(stderr,
                "residual CFO %.3f over %u symbols: NMSE - predicted %+.2f dB (last quarter "
                "%+.2f dB)\n",
                eps, nsym, all, last);
    /* measured +0.03 and +0.02 dB (-0.01..+0.07 and -0.04..+0.10 over eight seeds); without
     * the pilots' phase, an error of mean square ~0.85^2/3 of the signal (~ +8 dB here) */
    AM_CHECK(fabs(all) < 0.2, "NMSE %+.2f dB from the closed form", all);
    AM_CHECK(fabs(last) < 0.25, "last quarter: NMSE %+.2f dB from the closed form", last);
    free(avg);
    scene_free(&s);
    link_free(&k);
}

/* Timing at the edge of the CP, streaming receiver (detection, start, FFT window): K = 4 agents
 * with one flat path each, delayed by 0 .. D samples, D = cp - 2 (the window sits 2 samples into
 * the CP: phy/sync), each inverting its own channel (delay included, as agents do: §4). The
 * composite channel is then flat, but the last agent's symbols start D samples late, so a window
 * even one sample earlier takes one sample of its previous symbol (inter-symbol interference
 * ~ 2 / (M K^2) ~ -27 dB, far above the noise at 30 dB). Every burst: found, start exact (the
 * first agent's), NMSE at the closed form of nmse_genie. M = 64 (cp 8). */
AM_TEST(cp_edge_timing, unit)
{
    const unsigned M = 64, K = 4, nb = 6;
    const float eta = 5.0f, rho = 1.0f, snr_db = 30.0f;
    phy_frame_cfg fc = {.nfft = M};
    phy_frame *f0 = NULL;
    AM_REQUIRE_OK(phy_frame_create(&fc, &f0));
    const size_t L = 2 * phy_frame_n_data(f0) * 8;
    phy_frame_destroy(f0);
    link k;
    AM_REQUIRE(link_make(&k, M, L, eta, rho), "link");
    const unsigned D = k.cp - 2;
    am_rng r;
    am_rng_seed(&r, 2800);
    const size_t lead = 700, per = lead + k.n + D, n = nb * per + lead;
    float complex *y = calloc(n, sizeof *y), *x = malloc(k.n * sizeof *x),
                  *p = malloc(M * sizeof *p), H[1024];
    float *V = malloc((size_t)K * L * sizeof *V), *avg = malloc((size_t)nb * L * sizeof *avg);
    for (unsigned b = 0; b < nb; b++) {
        for (unsigned a = 0; a < K; a++) {
            unsigned d = a * D / (K - 1); /* 0 .. D */
            float complex tap = am_rng_cnormal(&r);
            taps_response(&tap, 1, d, M, H);
            AM_REQUIRE_OK(phy_precode_inversion(k.f, H, rho, 0.0f, p, NULL));
            for (size_t i = 0; i < L; i++)
                V[(size_t)a * L + i] = (float)am_rng_normal(&r);
            AM_REQUIRE_OK(phy_ota_tx_execute(k.tx, V + (size_t)a * L, eta, p, x, k.n));
            conv_add(y + b * per + lead, x, k.n, &tap, 1, d);
        }
        for (size_t i = 0; i < L; i++) {
            double a = 0;
            for (unsigned q = 0; q < K; q++)
                a += V[(size_t)q * L + i];
            avg[b * L + i] = (float)(a / K);
        }
    }
    const double N0 = rho / pow(10.0, snr_db / 10.0), g2 = (double)K * K * rho;
    const float sd = (float)sqrt((double)rho * M / (k.nu * pow(10.0, snr_db / 10.0))); /* §5 */
    for (size_t t = 0; t < n; t++)
        y[t] += sd * am_rng_cnormal(&r);
    got g = {0};
    phy_ota_rx *rx = stream_rx(M, L, eta, &g);
    AM_REQUIRE(rx, "rx");
    AM_REQUIRE_OK(phy_ota_rx_execute(rx, y, n));
    AM_CHECK(g.n == nb, "%u bursts found of %u", g.n, nb);
    double se = 0, sp = 0, lambda;
    for (unsigned b = 0; b < g.n && b < nb; b++) {
        AM_CHECK(g.start[b] == b * per + lead, "burst %u at %llu, want %zu", b,
                 (unsigned long long)g.start[b], b * per + lead);
        for (size_t i = 0; i < L; i++) {
            double d = g.payload[b][i] - avg[b * L + i];
            se += d * d;
            sp += pred_entry(&k, i, avg + b * L, eta, N0, g2, &lambda);
        }
    }
    double dev = 10 * log10(se / sp);
    if (verbose())
        fprintf(stderr, "CP edge (delays 0..%u, cp %u): NMSE - predicted %+.2f dB\n", D, k.cp, dev);
    /* measured -0.13 dB (-0.14..+0.08 over eight seeds); a window one sample early adds the
     * interference above, ~ +10 dB */
    AM_CHECK(fabs(dev) < 0.3, "NMSE %+.2f dB from the closed form", dev);
    got_free(&g);
    phy_ota_rx_destroy(rx);
    free(y), free(x), free(p), free(V), free(avg);
    link_free(&k);
}

/* ---- a receiver that is not fooled (issue 10 §4): periodic backgrounds from phy/impair ---- */

/* st's stream through the RX side of a phy/impair radio ic, its level (P_ref: DC, interferer, ADC
 * clip level) the bursts' mean power per sample; out must hold st->n. */
static void
impaired_cfg(const link *k, const stream *st, const phy_impair_cfg *ic, float complex *out)
{
    double e = 0;
    for (unsigned b = 0; b < st->nb; b++)
        for (size_t t = 0; t < k->n; t++)
            e += crealf(st->y[st->starts[b] + t] * conjf(st->y[st->starts[b] + t]));
    phy_impair *im = NULL;
    size_t ny = 0;
    if (phy_impair_create(ic, &im) != AM_OK ||
        phy_impair_set_rx_level(im, (float)(e / ((double)st->nb * (double)k->n))) != AM_OK ||
        phy_impair_execute(im, PHY_IMPAIR_RX, st->y, st->n, out, st->n, &ny) != AM_OK ||
        ny != st->n)
        fprintf(stderr, "impair: %s\n", am_last_error());
    phy_impair_destroy(im);
}

/* an RX radio that has only a DC offset (dc_dbc) or only a tone (intf_dbc at intf_freq), both
 * relative to the bursts' mean power per sample */
static void
impaired(const link *k, const stream *st, float dc_dbc, float intf_dbc, float f, float complex *out)
{
    phy_impair_cfg ic;
    phy_impair_cfg_default(&ic);
    ic.dc_dbc = dc_dbc;
    ic.intf_dbc = intf_dbc;
    ic.intf_freq = f;
    impaired_cfg(k, st, &ic, out);
}

static int burst_of(const stream *st, const got *g, unsigned b)
{
    int hit = -1;
    for (unsigned i = 0; i < g->n && i < MAXB; i++)
        if (labs((long)g->start[i] - (long)st->starts[b]) <= 16)
            hit = (int)i;
    return hit;
}

/* mean over bursts of 10 log10(squared error) of what g decoded from st, over the entries whose
 * bin the receiver of ex (NULL: none) did not erase; bursts not found count as 0 dB error over
 * the payload power plus 100 */
static double
decoded_err_db_ex(const link *k, const stream *st, const got *g, const got *ex, unsigned *found)
{
    double acc = 0;
    *found = 0;
    for (unsigned b = 0; b < st->nb; b++) {
        int hit = burst_of(st, g, b), hx = ex ? burst_of(st, ex, b) : -1;
        if (hit < 0) {
            acc += 100.0;
            continue;
        }
        (*found)++;
        double se = 0;
        for (size_t i = 0; i < k->L; i++)
            if (hx < 0 || !ex->erased[hx][entry_bin(k, i)])
                se += (g->payload[hit][i] - st->v[b][i]) * (g->payload[hit][i] - st->v[b][i]);
        acc += 10.0 * log10(se);
    }
    return acc / st->nb;
}

/* mean over bursts of 10 log10(squared error) of what g decoded from st; bursts not found count
 * as 0 dB error over the payload power plus 100 */
static double decoded_err_db(const stream *st, const got *g, size_t L, unsigned *found)
{
    double acc = 0;
    *found = 0;
    for (unsigned b = 0; b < st->nb; b++) {
        int hit = -1;
        for (unsigned i = 0; i < g->n && i < MAXB; i++)
            if (labs((long)g->start[i] - (long)st->starts[b]) <= 16)
                hit = (int)i;
        if (hit < 0) {
            acc += 100.0;
            continue;
        }
        (*found)++;
        double se = 0;
        for (size_t i = 0; i < L; i++)
            se += (g->payload[hit][i] - st->v[b][i]) * (g->payload[hit][i] - st->v[b][i]);
        acc += 10.0 * log10(se);
    }
    return acc / st->nb;
}

/* DC offset, or a tone (0.1234 fs, not on a bin centre), at the bursts' power (phy/impair RX),
 * the first burst 8000 samples or more into the stream (the receiver learns the tone from the
 * background between bursts): every burst found (before the detector's background removal none
 * was: the Schmidl-Cox metric of a periodic input is 1); decoded within 1 dB of the clean decode
 * (issue 10 §4), over the entries of the bins the receiver erased around the tone (2 per burst;
 * none for the DC, which the DC tracker removes). */
AM_TEST(periodic_background, unit)
{
    unsigned Ms[] = {64, 256, 1024};
    for (unsigned mi = 0; mi < 3; mi++)
        for (unsigned kind = 0; kind < 2; kind++) {
            const unsigned M = Ms[mi];
            link k;
            AM_REQUIRE(link_make(&k, M, 900, 5.0f, 1.0f), "link");
            am_rng r;
            am_rng_seed(&r, 500 + mi);
            stream st;
            stream_make_lead(&k, &st, 5, 0.031, 20.0f, 5.0f, 8000, &r);
            float complex *y = malloc(st.n * sizeof *y);
            const float f = 0.1234f;
            impaired(&k, &st, kind == 0 ? 0.0f : -INFINITY, kind == 1 ? 0.0f : -INFINITY, f, y);
            got g0 = {0}, g1 = {0};
            phy_ota_rx *a = stream_rx(M, 900, 5.0f, &g0), *b = stream_rx(M, 900, 5.0f, &g1);
            AM_REQUIRE(a && b, "rx");
            AM_REQUIRE_OK(phy_ota_rx_execute(a, st.y, st.n));
            AM_REQUIRE_OK(phy_ota_rx_execute(b, y, st.n));
            unsigned f0, f1, ne = 0;
            double e0 = decoded_err_db_ex(&k, &st, &g0, &g1, &f0),
                   e1 = decoded_err_db_ex(&k, &st, &g1, &g1, &f1);
            for (unsigned j = 0; j < g1.n && j < MAXB; j++)
                ne += g1.n_erased[j];
            if (verbose())
                fprintf(stderr,
                        "M %u %s: %u/%u found (clean %u), error %+.2f dB over clean, %u bins "
                        "erased\n",
                        M, kind ? "tone" : "DC", f1, st.nb, f0, e1 - e0, ne);
            AM_CHECK(f0 == st.nb && f1 == st.nb && g1.n == st.nb, "M %u %s: %u/%u bursts found", M,
                     kind ? "tone" : "DC", f1, st.nb);
            /* measured (over the entries of bins not erased): DC +0.00 / -0.00 / +0.00 dB (M 64 /
             * 256 / 1024), no bin erased; the tone +0.00 / +0.02 / +0.01 dB, 2 bins erased per
             * burst (the tracked tone is removed from every window, §5.7; found but not removed it
             * cost +9.2..+10.0 dB) */
            AM_CHECK(e1 - e0 < 0.3, "M %u %s: %+.2f dB over the clean decode", M,
                     kind ? "tone" : "DC", e1 - e0);
            for (unsigned j = 0; j < g1.n && j < MAXB; j++)
                AM_CHECK(g1.n_erased[j] == (kind ? 2u : 0u), "M %u %s: burst %u erased %u bins", M,
                         kind ? "tone" : "DC", j, g1.n_erased[j]);
            got_free(&g0);
            got_free(&g1);
            phy_ota_rx_destroy(a);
            phy_ota_rx_destroy(b);
            free(y);
            stream_free(&st);
            link_free(&k);
        }
}

/* The same backgrounds alone (noise 20 dB under the unit-power DC or tone, 4 10^6 samples): no
 * detection (the background is taken out of the metric once tracked). */
AM_TEST(periodic_background_no_detection, unit)
{
    unsigned Ms[] = {64, 1024};
    for (unsigned mi = 0; mi < 2; mi++)
        for (unsigned kind = 0; kind < 2; kind++) {
            got g = {0};
            phy_ota_rx *rx = stream_rx(Ms[mi], 500, 5.0f, &g);
            AM_REQUIRE(rx, "rx");
            am_rng r;
            am_rng_seed(&r, 600 + 2 * mi + kind);
            const size_t chunk = 1 << 16, total = 4000000;
            float complex *x = malloc(chunk * sizeof(float complex));
            const double w = 2.0 * M_PI * 0.1234;
            for (size_t done = 0; done < total; done += chunk) {
                size_t n = total - done < chunk ? total - done : chunk;
                for (size_t t = 0; t < n; t++) {
                    float complex bgv = kind == 0 ? (0.6f + 0.8f * I)
                                                  : (float complex)cexp(I * w * (double)(done + t));
                    x[t] = bgv + 0.1f * am_rng_cnormal(&r);
                }
                AM_REQUIRE_OK(phy_ota_rx_execute(rx, x, n));
            }
            phy_ota_rx_stats s;
            phy_ota_rx_get_stats(rx, &s);
            if (verbose())
                fprintf(stderr, "M %u %s: %u detections, %llu triggers rejected\n", Ms[mi],
                        kind ? "tone" : "DC", g.n, (unsigned long long)s.rejected);
            AM_CHECK(g.n == 0, "M %u %s: %u false detections", Ms[mi], kind ? "tone" : "DC", g.n);
            free(x);
            got_free(&g);
            phy_ota_rx_destroy(rx);
        }
}

/* Clean vs impaired decode of the same stream (nb bursts, offset cfo, snr_db, payload scale eta)
 * through the RX radio ic: *dev = mean dB error over the clean decode; every burst must be found.
 * With genie: *genie = the same for the impaired stream whose preamble blocks (S0a, S0b, S1) are
 * the clean stream's (what a receiver that knew G pays: the rest of each burst). */
static void clean_vs_genie(unsigned M,
                           size_t L,
                           float eta,
                           float snr_db,
                           const phy_impair_cfg *ic,
                           uint64_t seed,
                           const char *what,
                           double *dev,
                           double *genie)
{
    link k;
    AM_REQUIRE(link_make(&k, M, L, eta, 1.0f), "link");
    am_rng r;
    am_rng_seed(&r, seed);
    stream st;
    stream_make_eta(&k, &st, 4, 0.031, snr_db, eta, &r);
    float complex *y = malloc(st.n * sizeof *y);
    impaired_cfg(&k, &st, ic, y);
    got g0 = {0}, g1 = {0};
    phy_ota_rx *a = stream_rx(M, L, eta, &g0), *b = stream_rx(M, L, eta, &g1);
    AM_REQUIRE(a && b, "rx");
    AM_REQUIRE_OK(phy_ota_rx_execute(a, st.y, st.n));
    AM_REQUIRE_OK(phy_ota_rx_execute(b, y, st.n));
    unsigned f0, f1;
    double e0 = decoded_err_db(&st, &g0, k.L, &f0), e1 = decoded_err_db(&st, &g1, k.L, &f1);
    *dev = e1 - e0;
    if (verbose())
        fprintf(stderr, "M %u %s: %u/%u found (clean %u), error %+.2f dB over clean\n", M, what, f1,
                st.nb, f0, *dev);
    if (genie) {
        for (unsigned j = 0; j < st.nb; j++)
            memcpy(y + st.starts[j], st.y + st.starts[j], 3 * (size_t)k.B * sizeof *y);
        got g2 = {0};
        phy_ota_rx *c = stream_rx(M, L, eta, &g2);
        AM_REQUIRE(c, "rx");
        AM_REQUIRE_OK(phy_ota_rx_execute(c, y, st.n));
        unsigned f2;
        *genie = decoded_err_db(&st, &g2, k.L, &f2) - e0;
        if (verbose())
            fprintf(stderr, "M %u %s, clean preamble: %u/%u found, error %+.2f dB over clean\n", M,
                    what, f2, st.nb, *genie);
        got_free(&g2);
        phy_ota_rx_destroy(c);
    }
    AM_CHECK(f0 == st.nb && f1 == st.nb && g1.n == st.nb, "M %u %s: %u/%u bursts found", M, what,
             f1, st.nb);
    got_free(&g0);
    got_free(&g1);
    phy_ota_rx_destroy(a);
    phy_ota_rx_destroy(b);
    free(y);
    stream_free(&st);
    link_free(&k);
}

static void clean_vs(unsigned M,
                     size_t L,
                     float eta,
                     float snr_db,
                     const phy_impair_cfg *ic,
                     uint64_t seed,
                     const char *what,
                     double *dev)
{
    clean_vs_genie(M, L, eta, snr_db, ic, seed, what, dev, NULL);
}

/* Receiver IQ imbalance of 1 dB / 5 deg (image -22.8 dBc; 30 dB SNR, eta 2) from phy/impair: the
 * receiver estimates the image from the preamble and corrects it (docs/air-interface.md §5.7);
 * decoded within 1 dB of the clean decode (issue 10 §4). */
AM_TEST(iq_imbalance, unit)
{
    unsigned Ms[] = {64, 256, 1024};
    for (unsigned mi = 0; mi < 3; mi++) {
        phy_impair_cfg ic;
        phy_impair_cfg_default(&ic);
        ic.iq_amp_db = 1.0f;
        ic.iq_phase_deg = 5.0f;
        double dev;
        clean_vs(Ms[mi], 900, 2.0f, 30.0f, &ic, 700 + mi, "IQ 1 dB / 5 deg", &dev);
        /* measured +0.05 / +0.02 / +0.01 dB (M 64 / 256 / 1024); without the correction +7.68 /
         * +7.46 / +6.95 dB */
        AM_CHECK(dev < 0.3, "M %u IQ imbalance: %+.2f dB over the clean decode", Ms[mi], dev);
    }
}

/* The ADC cases below: a 12-bit ADC clipping at 10 dB over the bursts' mean power, with a DC of
 * dc_dbc before it (-INFINITY: none), at M 64 / 256 / 1024, eta 5 and 30 dB; each decoded within 0.3 dB of
 * the clean decode and no worse than a receiver given the clean preamble (+0.05 dB). */
static void adc_cases(float dc_dbc, const char *what, const char *label)
{
    unsigned Ms[] = {64, 256, 1024};
    size_t Ls[] = {3000, 8000, 20000};
    for (unsigned mi = 0; mi < 3; mi++) {
        phy_impair_cfg ic;
        phy_impair_cfg_default(&ic);
        ic.adc_bits = 12;
        ic.adc_backoff_db = 10.0f;
        ic.dc_dbc = dc_dbc;
        double dev, gen;
        clean_vs_genie(Ms[mi], Ls[mi], 5.0f, 30.0f, &ic, 710 + mi, what, &dev, &gen);
        AM_CHECK(dev < 0.3, "M %u %s: %+.2f dB over the clean decode", Ms[mi], label, dev);
        AM_CHECK(dev < gen + 0.05, "M %u %s: %+.2f dB, with the clean preamble %+.2f dB", Ms[mi],
                 label, dev, gen);
    }
}

/* A 12-bit ADC clipping at 10 dB over the bursts' mean power (phy/impair; AGC on the mean): with
 * a payload 11 dB under the preamble per bin (eta 5) and long bursts, the preamble and the pilots'
 * pulse train of the data symbols clip (as the coherent sum of many agents does,
 * docs/impairments.md). The receiver declips both (docs/air-interface.md §5.7): decoded within
 * 1 dB of the clean decode (issue 10 §4), and no worse than a receiver given the clean preamble
 * (G as a genie knows it; its data symbols as they are). Measured +0.02 / +0.03 / +0.10 dB
 * (M 64 / 256 / 1024), without declipping +0.26 / +1.05 / +3.42 dB; the clean preamble +0.00 /
 * +0.22 / +1.82 dB. */
AM_TEST(adc_clipping, unit)
{
    adc_cases(-INFINITY, "ADC 12 bits 10 dB", "ADC");
}

/* The same ADC with a DC offset before it, -15 dBc of the bursts' mean power: the receiver's DC
 * tracker (§5.1) subtracts its estimate from the ADC's samples, so their clipped rails no longer
 * sit at +-level; the receiver adds back what it subtracted before it looks for the clipped rails
 * and declips (docs/air-interface.md §5.7). Decoded as the ADC alone: within 1 dB of the clean
 * decode and no worse than with the clean preamble. Measured +0.01 / +0.04 / +0.10 dB (M 64 /
 * 256 / 1024; the clean preamble +0.01 / +0.26 / +1.89); with the rails taken as they are after
 * the DC's removal +0.14 / +0.62 / +6.55. */
AM_TEST(adc_clipping_dc, unit)
{
    adc_cases(-15.0f, "ADC 12 bits 10 dB, DC -15 dBc", "ADC and DC");
}
