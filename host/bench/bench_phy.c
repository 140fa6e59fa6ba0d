/* airmeta bench phy: throughput (Msps, medians) of the agent TX chain and the server RX chain of
 * docs/air-interface.md §1-§5 against liquid-dsp's ofdmframegen / ofdmframesync, one thread, and
 * the ceiling that FFTW alone puts on any TX that transforms every block. */
#include <liquid/liquid.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/cli.h"
#include "bench/bench.h"
#include "core/rng.h"
#include "util/monotime.h"
#include "phy/chan.h"
#include "phy/fft.h"
#include "phy/ota_rx.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"

#define BENCH_NSYM 32u   /* data symbols per burst (both implementations) */
#define BENCH_BURSTS 8u  /* bursts per RX stream */
#define BENCH_SNR_DB 25.0f

/* The clock of the timings: the calling thread's CPU time (default: on a shared machine, other
 * processes on the core do not count, so the figure is that of a dedicated core) or, with --wall,
 * the monotonic clock. */
static int use_wall;

static double now_s(void)
{
    if (use_wall)
        return monotime_s();
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct bench_size {
    unsigned M, cp, n_data;
    size_t L, burst_len, gap;
    unsigned char sctype[4096];
    const phy_impair_cfg *impair; /* the RX stream's radios (NULL = ideal) */
} bench_size;

/* ---- TX ------------------------------------------------------------------------------------ */

/* Burst b's precoder for tx_airmeta's `precoded` (below): NULL, p, or p and -p (pb2) in turn. */
static const float complex *
burst_p(int precoded, size_t b, const float complex *p, const float complex *pb2)
{
    return !precoded ? NULL : precoded == 2 && b % 2 ? pb2 : p;
}

/* prof: NULL, or PHY_TX_NSTAGES + 1 values that receive the stage profile (phy_ota_tx_profile),
 * medians over the timed bursts in microseconds, and last the other time (total less stages).
 * precoded = 1: the same precoder for every burst (a round's bursts: the TX keeps the weights and
 * the precoded preamble); 2: a new one for every burst (p and -p in turn: other values, the same
 * work), each burst a round's first; 0: p = NULL, the burst without a precoder (precomputed
 * preamble, real weights: ofdmframegen's work). drift: phy_ota_tx_set_drift's r (0: none). */
static am_status tx_airmeta(const bench_size *z, unsigned reps, size_t target, double *msps,
                            double *prof, int precoded, double drift)
{
    phy_ota_tx_cfg cfg;
    phy_ota_tx_cfg_default(&cfg);
    cfg.frame.nfft = z->M;
    cfg.frame.cp_len = z->cp;
    cfg.payload_len = z->L;
    phy_ota_tx *tx = NULL;
    phy_chan *ch = NULL;
    float *v = NULL;
    float complex *p = NULL, *h = NULL, *out = NULL;
    float complex *pb2 = NULL; /* precoded = 2: -p */
    am_status s = phy_ota_tx_create(&cfg, &tx);
    if (s == AM_OK)
        s = phy_ota_tx_set_drift(tx, drift);
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.nfft = z->M;
    cc.cp_len = z->cp;
    cc.n_taps = 4;
    cc.delay_spread = 1.0f;
    if (s == AM_OK)
        s = phy_chan_create(&cc, &ch);
    if (s != AM_OK)
        goto out;
    v = malloc(z->L * sizeof *v);
    p = malloc(2 * (size_t)z->M * sizeof *p);
    h = malloc(z->M * sizeof *h);
    out = phy_fft_alloc(z->burst_len); /* SIMD-aligned, as liquid's (a radio's DMA buffer is) */
    if (!v || !p || !h || !out) {
        s = AM_FAIL(AM_ENOMEM, "bench phy: out of memory");
        goto out;
    }
    am_rng r;
    am_rng_seed(&r, 1);
    for (size_t j = 0; j < z->L; j++)
        v[j] = (float)am_rng_normal(&r);
    /* a non-trivial precoder: truncated inversion of a 4-tap Rayleigh channel (§4) */
    if ((s = phy_chan_response(ch, 0, h)) != AM_OK ||
        (s = phy_precode_inversion(phy_ota_tx_frame(tx), h, 1.0f, 0.05f, p, NULL)) != AM_OK)
        goto out;
    pb2 = p + z->M;
    for (unsigned i = 0; i < z->M; i++)
        pb2[i] = -p[i];
    size_t nb = target / z->burst_len + 1;
    double *m = malloc(reps * sizeof *m);
    if (!m) {
        s = AM_FAIL(AM_ENOMEM, "bench phy: out of memory");
        goto out;
    }
    for (size_t b = 0; b < 4 && s == AM_OK; b++) /* warm-up (caches, page faults) */
        s = phy_ota_tx_execute(tx, v, 1.5f, burst_p(precoded, b, p, pb2), out, z->burst_len);
    unsigned long long ns[PHY_TX_NSTAGES];
    /* the profile per burst, PHY_TX_NSTAGES + 1 (other) rows of nb reps: its medians over the
     * bursts leave out the bursts that another process preempted (a monotonic clock) */
    double *pb = prof ? malloc((PHY_TX_NSTAGES + 1) * nb * reps * sizeof *pb) : NULL;
    if (prof && !pb)
        s = AM_FAIL(AM_ENOMEM, "bench phy: out of memory");
    if (prof)
        phy_ota_tx_profile(tx, ns);
    const size_t nt = nb * reps;
    for (unsigned rep = 0; rep < reps && s == AM_OK; rep++) {
        double t0 = now_s();
        for (size_t b = 0; b < nb && s == AM_OK; b++) {
            memset(ns, 0, sizeof ns);
            s = phy_ota_tx_execute(tx, v, 1.5f, burst_p(precoded, b, p, pb2), out, z->burst_len);
            const size_t i = rep * nb + b;
            if (pb)
                pb[PHY_TX_NSTAGES * nt + i] = 0.0;
            for (unsigned k = 0; pb && k < PHY_TX_NSTAGES; k++) {
                pb[k * nt + i] = (double)ns[k] * 1e-3;
                pb[PHY_TX_NSTAGES * nt + i] += k < PHY_TX_ST_TOTAL ? -pb[k * nt + i]
                                                                   : pb[k * nt + i];
            }
        }
        m[rep] = (double)(nb * z->burst_len) / (now_s() - t0) * 1e-6;
    }
    *msps = median(m, reps);
    for (unsigned k = 0; pb && s == AM_OK && k <= PHY_TX_NSTAGES; k++)
        prof[k] = median(pb + k * nt, (unsigned)nt);
    free(pb);
    free(m);
out:
    free(v);
    free(p);
    free(h);
    phy_fft_free(out);
    phy_chan_destroy(ch);
    phy_ota_tx_destroy(tx);
    return s;
}

/* Random QPSK values (+-0.7071 +-0.7071 i) on all M bins. */
static void qpsk(am_rng *r, float complex *X, unsigned M)
{
    for (unsigned i = 0; i < M; i++)
        X[i] = CMPLXF(am_rng_below(r, 2) ? 0.7071f : -0.7071f,
                      am_rng_below(r, 2) ? 0.7071f : -0.7071f);
}

/* Median Msps of `burst` (one burst of burst_len samples per call) over reps timings of about
 * target samples each, after an uncounted warm-up of 4 calls; m: room for reps values. */
static double time_bursts(
    const bench_size *z, unsigned reps, size_t target, double *m, void (*burst)(void *), void *ctx)
{
    size_t nb = target / z->burst_len + 1;
    for (unsigned rep = 0; rep <= reps; rep++) { /* rep 0: warm-up, not counted */
        double t0 = now_s();
        for (size_t b = 0; b < (rep ? nb : 4); b++)
            burst(ctx);
        if (rep)
            m[rep - 1] = (double)(nb * z->burst_len) / (now_s() - t0) * 1e-6;
    }
    return median(m, reps);
}

typedef struct liquid_tx {
    ofdmframegen fg;
    float complex *X, *out;
    size_t B;
} liquid_tx;

static void liquid_burst(void *ctx)
{
    liquid_tx *t = ctx;
    ofdmframegen_write_S0a(t->fg, t->out);
    ofdmframegen_write_S0b(t->fg, t->out + t->B);
    ofdmframegen_write_S1(t->fg, t->out + 2 * t->B);
    for (unsigned s = 0; s < BENCH_NSYM; s++)
        ofdmframegen_writesymbol(t->fg, t->X, t->out + (3 + s) * t->B);
}

static am_status tx_liquid(bench_size *z, unsigned reps, size_t target, double *msps)
{
    ofdmframegen fg = ofdmframegen_create(z->M, z->cp, 0, z->sctype);
    float complex *X = malloc(z->M * sizeof *X);
    /* the whole burst, as a transmitter hands it to the radio (same memory traffic as ours) */
    float complex *out = phy_fft_alloc(z->burst_len); /* aligned as airmeta's */
    double *m = malloc(reps * sizeof *m);
    if (!fg || !X || !out || !m) {
        if (fg)
            ofdmframegen_destroy(fg);
        free(X);
        phy_fft_free(out);
        free(m);
        return AM_FAIL(AM_ENOMEM, "bench phy: liquid ofdmframegen setup failed");
    }
    am_rng r;
    am_rng_seed(&r, 2);
    qpsk(&r, X, z->M);
    liquid_tx t = {fg, X, out, (size_t)z->M + z->cp};
    *msps = time_bursts(z, reps, target, m, liquid_burst, &t);
    ofdmframegen_destroy(fg);
    free(X);
    phy_fft_free(out);
    free(m);
    return AM_OK;
}

static void fftw_burst(void *ctx)
{
    phy_fft **q = ctx;
    phy_fft_execute(q[1]); /* S0a|S0b */
    for (unsigned k = 0; k < 1 + BENCH_NSYM; k++)
        phy_fft_execute(q[0]); /* S1, data; out of place: the input is preserved */
}

/* The FFT-only ceiling of a TX that transforms every block of the burst (§4 precodes the preamble
 * too: airmeta's TX given a new precoder, a round's first burst; with the same precoder it keeps
 * the preamble's transforms), S0a|S0b with one M/2-point transform (their period). Per burst, one
 * backward transform of size M/2 and 1 + BENCH_NSYM of size M (the planner flags of phy_ota_tx, on
 * the plans' own buffers) and nothing else: no mapping, precoding, cyclic prefix or output write.
 * Msps counts the burst's samples (cyclic prefixes included), as the TX measurements do. (liquid's
 * ofdmframegen copies a precomputed preamble and transforms the BENCH_NSYM data symbols only.) */
static am_status tx_fftw_bound(const bench_size *z, unsigned reps, size_t target, double *msps)
{
    phy_fft_cfg fc = {.n = z->M, .howmany = 1, .dir = PHY_FFT_BACKWARD, .flags = PHY_FFT_TUNED};
    phy_fft *q[2] = {NULL, NULL};
    double *m = malloc(reps * sizeof *m);
    am_status s = m ? phy_fft_create(&fc, &q[0]) : AM_FAIL(AM_ENOMEM, "bench phy: out of memory");
    fc.n = z->M / 2;
    if (s == AM_OK)
        s = phy_fft_create(&fc, &q[1]);
    if (s == AM_OK) {
        am_rng r;
        am_rng_seed(&r, 6);
        qpsk(&r, phy_fft_in(q[0]), z->M);
        qpsk(&r, phy_fft_in(q[1]), z->M / 2);
        *msps = time_bursts(z, reps, target, m, fftw_burst, q);
    }
    phy_fft_destroy(q[0]);
    phy_fft_destroy(q[1]);
    free(m);
    return s;
}

/* ---- RX ------------------------------------------------------------------------------------ */

/* Stream of BENCH_BURSTS bursts, each after a gap of noise, through a 4-tap Rayleigh channel with
 * a small CFO and timing offset (same channel for both implementations' streams). */
static am_status make_stream(const bench_size *z, const float complex *burst, float complex *y,
                             size_t cap, size_t *ny, uint64_t seed)
{
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.nfft = z->M;
    cc.cp_len = z->cp;
    cc.n_taps = 4;
    cc.delay_spread = 1.0f;
    cc.max_timing_offset = z->cp / 4;
    cc.common_cfo = 0.05f;
    cc.snr_db = BENCH_SNR_DB;
    cc.seed = seed;
    cc.impair = z->impair;
    phy_chan *ch = NULL;
    am_status s = phy_chan_create(&cc, &ch);
    if (s != AM_OK)
        return s;
    size_t pos = 0;
    const float complex *tx[1] = {burst};
    for (unsigned b = 0; b < BENCH_BURSTS && s == AM_OK; b++) {
        size_t n = 0;
        s = phy_chan_execute(ch, tx, z->burst_len, z->gap, b + 1 == BENCH_BURSTS ? z->gap : 0,
                             y + pos, cap - pos, &n);
        pos += n;
    }
    *ny = pos;
    phy_chan_destroy(ch);
    return s;
}

static size_t stream_cap(const bench_size *z)
{
    return BENCH_BURSTS * (z->burst_len + z->gap + z->cp + 8) + z->gap;
}

typedef struct rx_count {
    unsigned long bursts;
    unsigned symbols;
    unsigned long frames;
} rx_count;

static am_status count_burst(const phy_ota_burst *b, void *user)
{
    (void)b;
    ((rx_count *)user)->bursts++;
    return AM_OK;
}

static am_status rx_airmeta(const bench_size *z, unsigned reps, size_t target, size_t chunk,
                            double *msps)
{
    phy_ota_tx_cfg tc;
    phy_ota_tx_cfg_default(&tc);
    tc.frame.nfft = z->M;
    tc.frame.cp_len = z->cp;
    tc.payload_len = z->L;
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame = tc.frame;
    rc.payload_len = z->L;
    rc.eta = 1.5f;
    rc.rho = 1.0f;
    rx_count cnt = {0, 0, 0};
    rc.callback = count_burst;
    rc.user = &cnt;
    phy_ota_tx *tx = NULL;
    phy_ota_rx *rx = NULL;
    float *v = malloc(z->L * sizeof *v);
    float complex *burst = malloc(z->burst_len * sizeof *burst);
    size_t cap = stream_cap(z), ny = 0;
    float complex *y = malloc(cap * sizeof *y);
    double *m = malloc(reps * sizeof *m);
    am_status s = AM_OK;
    if (!v || !burst || !y || !m) {
        s = AM_FAIL(AM_ENOMEM, "bench phy: out of memory");
        goto out;
    }
    if ((s = phy_ota_tx_create(&tc, &tx)) != AM_OK || (s = phy_ota_rx_create(&rc, &rx)) != AM_OK)
        goto out;
    am_rng r;
    am_rng_seed(&r, 3);
    for (size_t j = 0; j < z->L; j++)
        v[j] = (float)am_rng_normal(&r);
    if ((s = phy_ota_tx_execute(tx, v, 1.5f, NULL, burst, z->burst_len)) != AM_OK ||
        (s = make_stream(z, burst, y, cap, &ny, 4)) != AM_OK)
        goto out;
    size_t passes = target / ny + 1;
    for (size_t pos = 0; pos < ny && s == AM_OK; pos += chunk) /* warm-up pass */
        s = phy_ota_rx_execute(rx, y + pos, ny - pos < chunk ? ny - pos : chunk);
    for (unsigned rep = 0; rep < reps && s == AM_OK; rep++) {
        phy_ota_rx_reset(rx);
        cnt.bursts = 0;
        double t0 = now_s();
        for (size_t p = 0; p < passes && s == AM_OK; p++)
            for (size_t pos = 0; pos < ny && s == AM_OK; pos += chunk)
                s = phy_ota_rx_execute(rx, y + pos, ny - pos < chunk ? ny - pos : chunk);
        m[rep] = (double)(passes * ny) / (now_s() - t0) * 1e-6;
        if (s == AM_OK && cnt.bursts + 1 < passes * BENCH_BURSTS)
            s = AM_FAIL(AM_EFORMAT, "bench phy: airmeta RX decoded %lu of %zu bursts (M = %u)",
                        cnt.bursts, passes * BENCH_BURSTS, z->M);
    }
    if (s == AM_OK)
        *msps = median(m, reps);
out:
    free(v);
    free(burst);
    free(y);
    free(m);
    phy_ota_tx_destroy(tx);
    phy_ota_rx_destroy(rx);
    return s;
}

static int liquid_cb(float complex *X, unsigned char *p, unsigned M, void *user)
{
    (void)X;
    (void)p;
    (void)M;
    rx_count *c = user;
    if (++c->symbols < BENCH_NSYM)
        return 0;
    c->symbols = 0;
    c->frames++;
    return 1; /* frame complete: the synchroniser looks for the next one */
}

static am_status rx_liquid(bench_size *z, unsigned reps, size_t target, size_t chunk,
                           double *msps)
{
    size_t B = (size_t)z->M + z->cp;
    float complex *burst = malloc(z->burst_len * sizeof *burst);
    float complex *X = malloc(z->M * sizeof *X);
    size_t cap = stream_cap(z), ny = 0;
    float complex *y = malloc(cap * sizeof *y);
    double *m = malloc(reps * sizeof *m);
    rx_count cnt = {0, 0, 0};
    ofdmframegen fg = ofdmframegen_create(z->M, z->cp, 0, z->sctype);
    ofdmframesync fs = ofdmframesync_create(z->M, z->cp, 0, z->sctype, liquid_cb, &cnt);
    am_status s = AM_OK;
    if (!burst || !X || !y || !m || !fg || !fs) {
        s = AM_FAIL(AM_ENOMEM, "bench phy: liquid setup failed");
        goto out;
    }
    /* the same burst structure built with liquid's own generator, so liquid actually syncs */
    am_rng r;
    am_rng_seed(&r, 5);
    ofdmframegen_write_S0a(fg, burst);
    ofdmframegen_write_S0b(fg, burst + B);
    ofdmframegen_write_S1(fg, burst + 2 * B);
    for (unsigned s2 = 0; s2 < BENCH_NSYM; s2++) {
        qpsk(&r, X, z->M);
        ofdmframegen_writesymbol(fg, X, burst + (3 + s2) * B);
    }
    if ((s = make_stream(z, burst, y, cap, &ny, 4)) != AM_OK)
        goto out;
    size_t passes = target / ny + 1;
    for (size_t pos = 0; pos < ny; pos += chunk) /* warm-up pass */
        ofdmframesync_execute(fs, y + pos, (unsigned)(ny - pos < chunk ? ny - pos : chunk));
    for (unsigned rep = 0; rep < reps; rep++) {
        ofdmframesync_reset(fs);
        cnt.frames = 0;
        cnt.symbols = 0;
        double t0 = now_s();
        for (size_t p = 0; p < passes; p++)
            for (size_t pos = 0; pos < ny; pos += chunk)
                ofdmframesync_execute(fs, y + pos,
                                      (unsigned)(ny - pos < chunk ? ny - pos : chunk));
        m[rep] = (double)(passes * ny) / (now_s() - t0) * 1e-6;
        if (cnt.frames + 1 < passes * BENCH_BURSTS) {
            s = AM_FAIL(AM_EFORMAT, "bench phy: liquid ofdmframesync found %lu of %zu frames "
                                    "(M = %u)", cnt.frames, passes * BENCH_BURSTS, z->M);
            goto out;
        }
    }
    *msps = median(m, reps);
out:
    free(burst);
    free(X);
    free(y);
    free(m);
    if (fg)
        ofdmframegen_destroy(fg);
    if (fs)
        ofdmframesync_destroy(fs);
    return s;
}

/* ---- command -------------------------------------------------------------------------------- */

static void emit(int json, const char *chain, const char *impl, unsigned M, double msps)
{
    if (json)
        printf("{\"chain\": \"%s\", \"impl\": \"%s\", \"nfft\": %u, \"msps\": %.3f}\n", chain,
               impl, M, msps);
    fflush(stdout);
}

/* An RX line with the radios of its stream (--json: the "impair" key). */
static void emit_rx(int json, const char *impl, unsigned M, const char *impair, double msps)
{
    if (json)
        printf("{\"chain\": \"rx\", \"impl\": \"%s\", \"nfft\": %u, \"impair\": \"%s\", "
               "\"msps\": %.3f}\n",
               impl, M, impair, msps);
    fflush(stdout);
}

#define BENCH_PROFILES 3u

/* --stages: the values kept per repetition beyond the TX's stages */
enum { ST_OTHER = PHY_TX_NSTAGES, ST_UNPRE, ST_NEWP, ST_DRIFT, ST_N };

/* --stages: the clock drift of the drifting TX's run, samples per sample (2 ppm: a free-running
 * B210's TCXO against the server's, docs/impairments.md) */
#define BENCH_DRIFT 2e-6

/* --stages: st = medians (us per burst) of the profiled TX's stages (PHY_TX_NSTAGES), of its
 * other time (ST_OTHER), of the un-precoded TX (ST_UNPRE) and of the TX given a new precoder
 * every burst (ST_NEWP) and of the TX given a clock drift (ST_DRIFT); the TX, fftw-bound and liquid
 * from their Msps. */
static void emit_stages(int json, unsigned M, size_t burst_len, const double *st, double atx,
                        double ftx, double ltx)
{
    static const char *name[ST_N] = {"weights", "map",   "ifft",       "copy",
                                     "total",   "other", "unprecoded", "new-precoder", "drift"};
    const double tot = st[PHY_TX_ST_TOTAL];
    const double us[3] = {(double)burst_len / atx, (double)burst_len / ftx,
                          (double)burst_len / ltx};
    if (json) {
        for (unsigned k = 0; k < ST_N; k++)
            printf("{\"chain\": \"tx-stage\", \"stage\": \"%s\", \"nfft\": %u, "
                   "\"us_per_burst\": %.3f}\n",
                   name[k], M, st[k]);
        fflush(stdout);
        return;
    }
    printf("tx stages, nfft %u: us per burst (median), share of the profiled total\n", M);
    for (unsigned k = 0; k < PHY_TX_ST_TOTAL; k++)
        printf("  %-8s %9.2f %6.1f%%\n", name[k], st[k], 100.0 * st[k] / tot);
    printf("  %-8s %9.2f %6.1f%%\n", "other", st[ST_OTHER], 100.0 * st[ST_OTHER] / tot);
    printf("  %-8s %9.2f   (unprofiled tx %.2f, fftw-bound %.2f, liquid %.2f)\n", "total", tot,
           us[0], us[1], us[2]);
    printf("  un-precoded tx (p = NULL: copied preamble, 32 transforms, as ofdmframegen) %.2f: "
           "liquid/it %.2fx\n",
           st[ST_UNPRE], us[2] / st[ST_UNPRE]);
    printf("  a new precoder every burst (a round's first: weights and preamble made again) %.2f: "
           "liquid/it %.2fx\n",
           st[ST_NEWP], us[2] / st[ST_NEWP]);
    printf("  a clock drift of %g ppm (an agent correcting its sampling clock, §4.2: the data and "
           "calibration blocks' bins turned) %.2f: liquid/it %.2fx\n",
           BENCH_DRIFT * 1e6, st[ST_DRIFT], us[2] / st[ST_DRIFT]);
    fflush(stdout);
}

int bench_phy(int argc, char **argv)
{
    int json = 0, quick = 0, stages = 0;
    unsigned reps = 5, nfft = 0, chunk = 4096;
    const char *impair = NULL;
    const cli_opt opts[] = {
        {"--json", CLI_FLAG, &json, "one JSON line per measurement", 1, 0, NULL},
        {"--wall", CLI_FLAG, &use_wall,
         "time on the monotonic clock (default: the thread's CPU time, so that other processes' "
         "load does not count)",
         1, 0, NULL},
        {"--reps", CLI_UINT, &reps, "repetitions per measurement (the median is printed)", 1, 101,
         NULL},
        {"--quick", CLI_FLAG, &quick, "tiny workload (smoke test; figures are not meaningful)", 1,
         0, NULL},
        {"--nfft", CLI_UINT, &nfft, "one FFT size only (0 = 256 and 1024)", 0, 4096, NULL},
        {"--chunk", CLI_UINT, &chunk, "RX samples per execute call", 64, 1 << 20, NULL},
        {"--stages", CLI_FLAG, &stages,
         "also where the TX's time goes: a profiled TX run per repetition (phy_ota_tx_profile)",
         1, 0, NULL},
        {"--impair", CLI_STR, &impair,
         "radios of the RX stream's emulator, one profile only: ideal, b210-shared-ref, b210-free "
         "(default: an RX row for each)",
         1, 0, NULL},
    };
    const cli_cmd cmd = {
        "airmeta bench phy",
        "[--json] [--wall] [--reps N] [--quick] [--nfft M] [--stages] [--impair PROFILE]",
        "Throughput in Msps (median of --reps runs, one thread, per second of the thread's CPU\n"
        "time unless --wall) of the agent TX chain (map +\n"
        "truncated-inversion precoding + OFDM modulation, phy_ota_tx) and the server RX chain\n"
        "(detect + sync + equalise + demap, phy_ota_rx_execute over a stream of back-to-back\n"
        "bursts with noise gaps, 4-tap Rayleigh, 25 dB SNR), and of liquid-dsp's ofdmframegen /\n"
        "ofdmframesync on the same sizes and the same number of symbols (liquid's stream is built\n"
        "with its own generator), with the ratios airmeta/liquid. Bursts: S0a S0b S1 + 32 data\n"
        "symbols, cp = M/8, default allocation (liquid: ofdmframegen_create(M, M/8, taper 0, the\n"
        "same allocation); per burst write_S0a/S0b/S1 (its precomputed preamble) and 32\n"
        "writesymbol calls, into the same aligned burst). RX rows: one per impairment profile of "
        "the\n"
        "stream's radios (ideal, b210-shared-ref, b210-free: phy/impair, docs/impairments.md; the\n"
        "b210 profiles clip in the server's 12-bit ADC at M = 1024, and the receiver declips);\n"
        "liquid's figure and the ratio are '-' where ofdmframesync does not find its frames on\n"
        "that stream, and an impaired row says 'not decoded' where airmeta's receiver does not\n"
        "(b210-free at M = 4096: its offsets). Repetitions alternate between the implementations;\n"
        "the ratio column is the median of the paired ratios. The TX is given the same precoder\n"
        "for every burst, as an agent sends a round's bursts: it keeps the per-bin weights and "
        "the\n"
        "precoded preamble's transforms from one burst to the next (--stages also times a new\n"
        "precoder every burst). fftw-bound: the FFT-only ceiling of a TX that transforms every\n"
        "block, the bare FFTW inverse transforms of a burst (S0a|S0b: one of M/2 points, their\n"
        "period; S1 and the 32 data symbols: one of M points each; the TX's planner flags; no\n"
        "mapping, precoding or cyclic prefix), in Msps of burst samples, and bound/liquid, the\n"
        "largest ratio such a chain could reach (a burst whose precoder is kept runs only the 32\n"
        "data symbols' transforms).\n"
        "--stages: the TX's time per burst (us) by stage, from one more TX run per repetition\n"
        "with a clock read at each stage boundary, medians over its bursts (a burst that another\n"
        "process preempted drops out) then over the repetitions (weights: per-bin weights; map:\n"
        "the IFFT inputs (mapping, pilots, precoded preamble); ifft: FFTW; copy: cyclic prefixes;\n"
        "other: checks and loops; total: the profiled run; stage clocks are monotonic: --wall\n"
        "puts the rest on the same clock), beside the unprofiled TX, the fftw-bound and liquid\n"
        "per burst, the TX without a precoder (p = NULL: copied preamble and 32 transforms,\n"
        "ofdmframegen's work; stage \"unprecoded\") and the TX given a new precoder every burst\n"
        "(weights and the preamble's 2 transforms made every burst; stage \"new-precoder\") and\n"
        "the TX given a sampling-clock drift of 2 ppm (§4.2, an agent correcting its clock: the\n"
        "data blocks' bins turned; stage \"drift\"); JSON\n"
        "{\"chain\": \"tx-stage\", \"stage\": S,\n"
        "\"nfft\": M, \"us_per_burst\": X}. Both TXs write into SIMD-aligned bursts\n"
        "(phy_fft_alloc), as a radio's DMA buffer is.\n"
        "With --json: one line per measurement {\"chain\": \"tx\"|\"rx\", \"impl\":\n"
        "\"airmeta\"|\"liquid\"|\"fftw-bound\" (tx only), \"nfft\": M, \"impair\": PROFILE (rx "
        "only),\n"
        "\"msps\": X} (no rx line where that implementation does not decode the stream).",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    size_t npos = 0;
    am_status s = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (s == AM_ENOTFOUND)
        return 0;
    if (s != AM_OK)
        return cli_fail("bench phy", s);
    const char *pnames[BENCH_PROFILES] = {"ideal", "b210-shared-ref", "b210-free"};
    unsigned np = BENCH_PROFILES;
    if (impair) {
        pnames[0] = impair;
        np = 1;
    }
    phy_impair_cfg imp[BENCH_PROFILES];
    for (unsigned p = 0; p < np; p++)
        if ((s = phy_impair_profile(pnames[p], &imp[p])) != AM_OK)
            return cli_fail("bench phy", am_error_wrap(s, "--impair"));
    unsigned sizes[2] = {256, 1024}, nsizes = 2;
    if (nfft) {
        sizes[0] = nfft;
        nsizes = 1;
    }
    size_t target = quick ? 50000 : 4000000; /* samples per repetition */
    if (!json)
        printf("airmeta bench phy: Msps, median of %u run(s), one thread, %s time%s\n"
               "%-20s %6s %14s %14s %8s %14s %13s\n",
               reps, use_wall ? "wall" : "CPU", quick ? " (--quick: not meaningful)" : "", "chain",
               "nfft", "airmeta",
               "liquid", "ratio", "fftw-bound", "bound/liquid");
    for (unsigned k = 0; k < nsizes; k++) {
        bench_size z;
        memset(&z, 0, sizeof z);
        z.M = sizes[k];
        z.cp = z.M / 8;
        phy_frame_cfg fc;
        phy_frame_cfg_default(&fc);
        fc.nfft = z.M;
        fc.cp_len = z.cp;
        if ((s = phy_frame_validate(&fc)) != AM_OK ||
            (s = phy_frame_default_sctype(z.M, z.sctype)) != AM_OK)
            return cli_fail("bench phy", s);
        for (unsigned i = 0; i < z.M; i++)
            z.n_data += z.sctype[i] == PHY_SCTYPE_DATA;
        z.L = 2 * (size_t)z.n_data * BENCH_NSYM; /* exactly BENCH_NSYM data symbols (§2) */
        z.burst_len = (3 + BENCH_NSYM) * ((size_t)z.M + z.cp);
        z.gap = 2 * ((size_t)z.M + z.cp);
        /* one repetition of each in turn, so that load from other processes hits both
         * implementations alike; medians of the Msps and of the paired ratios */
        double *v = calloc((5 + 3 * BENCH_PROFILES + ST_N) * (size_t)reps, sizeof *v);
        if (!v)
            return cli_fail("bench phy", AM_FAIL(AM_ENOMEM, "bench phy: out of memory"));
        /* st[k * reps + rep]: value k (stage, ST_OTHER, ST_UNPRE) of repetition rep */
        double *st = v + (5 + 3 * BENCH_PROFILES) * (size_t)reps;
        double *a_tx = v, *l_tx = v + reps, *r_tx = v + 2 * reps, *f_tx = v + 3 * reps,
               *r_f = v + 4 * reps, *a_rx = v + 5 * reps,
               *l_rx = a_rx + BENCH_PROFILES * (size_t)reps,
               *r_rx = l_rx + BENCH_PROFILES * (size_t)reps;
        int liq_ok[BENCH_PROFILES] = {1, 1, 1}, air_ok[BENCH_PROFILES] = {1, 1, 1};
        for (unsigned rep = 0; rep < reps && s == AM_OK; rep++) {
            double prof[PHY_TX_NSTAGES + 1], pm, um = 0.0, nm = 0.0, dm = 0.0;
            if (stages && ((s = tx_airmeta(&z, 1, target, &pm, prof, 1, 0.0)) != AM_OK ||
                           (s = tx_airmeta(&z, 1, target, &um, NULL, 0, 0.0)) != AM_OK ||
                           (s = tx_airmeta(&z, 1, target, &nm, NULL, 2, 0.0)) != AM_OK ||
                           (s = tx_airmeta(&z, 1, target, &dm, NULL, 1, BENCH_DRIFT)) != AM_OK))
                break;
            for (unsigned i = 0; stages && i <= PHY_TX_NSTAGES; i++)
                st[i * reps + rep] = prof[i]; /* i = PHY_TX_NSTAGES: ST_OTHER */
            if (stages) {
                st[ST_UNPRE * reps + rep] = (double)z.burst_len / um;
                st[ST_NEWP * reps + rep] = (double)z.burst_len / nm;
                st[ST_DRIFT * reps + rep] = (double)z.burst_len / dm;
            }
            if ((s = tx_airmeta(&z, 1, target, &a_tx[rep], NULL, 1, 0.0)) != AM_OK ||
                (s = tx_liquid(&z, 1, target, &l_tx[rep])) != AM_OK ||
                (s = tx_fftw_bound(&z, 1, target, &f_tx[rep])) != AM_OK)
                break;
            r_tx[rep] = a_tx[rep] / l_tx[rep];
            r_f[rep] = f_tx[rep] / l_tx[rep];
            for (unsigned p = 0; p < np && s == AM_OK; p++) {
                const size_t j = (size_t)p * reps + rep;
                z.impair = &imp[p];
                if (!air_ok[p])
                    continue;
                s = rx_airmeta(&z, 1, target, chunk, &a_rx[j]);
                if (s == AM_EFORMAT && strcmp(pnames[p], "ideal") != 0) {
                    /* an impaired stream airmeta does not decode (b210-free's offsets at
                     * M = 4096): the row says so; on ideal radios it is a failure */
                    fprintf(stderr, "airmeta bench phy: %s\n", am_last_error());
                    am_error_clear();
                    air_ok[p] = 0;
                    s = AM_OK;
                    continue;
                }
                if (s != AM_OK)
                    break;
                am_status sl = liq_ok[p] ? rx_liquid(&z, 1, target, chunk, &l_rx[j]) : AM_OK;
                if (sl == AM_EFORMAT) { /* liquid did not find its frames on this stream */
                    am_error_clear();
                    liq_ok[p] = 0;
                } else if (sl != AM_OK)
                    s = sl;
                r_rx[j] = liq_ok[p] ? a_rx[j] / l_rx[j] : 0.0;
            }
        }
        if (s != AM_OK) {
            free(v);
            return cli_fail("bench phy", s);
        }
        double atx = median(a_tx, reps), ltx = median(l_tx, reps), rtx = median(r_tx, reps),
               ftx = median(f_tx, reps), rf = median(r_f, reps);
        double stm[ST_N];
        for (unsigned i = 0; stages && i < ST_N; i++)
            stm[i] = median(st + i * reps, reps);
        emit(json, "tx", "airmeta", z.M, atx);
        emit(json, "tx", "liquid", z.M, ltx);
        emit(json, "tx", "fftw-bound", z.M, ftx);
        if (!json)
            printf("%-20s %6u %14.2f %14.2f %7.2fx %14.2f %12.2fx\n", "tx", z.M, atx, ltx, rtx,
                   ftx, rf);
        for (unsigned p = 0; p < np; p++) {
            const size_t o = (size_t)p * reps;
            double arx = median(a_rx + o, reps), lrx = median(l_rx + o, reps),
                   rrx = median(r_rx + o, reps);
            char chain[40];
            snprintf(chain, sizeof chain, "rx %s", pnames[p]);
            if (!air_ok[p]) {
                if (!json)
                    printf("%-20s %6u %14s %14s %8s %14s %13s\n", chain, z.M, "not decoded", "-",
                           "-", "-", "-");
                continue;
            }
            emit_rx(json, "airmeta", z.M, pnames[p], arx);
            if (liq_ok[p])
                emit_rx(json, "liquid", z.M, pnames[p], lrx);
            if (json)
                continue;
            if (liq_ok[p])
                printf("%-20s %6u %14.2f %14.2f %7.2fx %14s %13s\n", chain, z.M, arx, lrx, rrx,
                       "-", "-");
            else
                printf("%-20s %6u %14.2f %14s %8s %14s %13s\n", chain, z.M, arx, "-", "-", "-",
                       "-");
        }
        free(v);
        if (stages)
            emit_stages(json, z.M, z.burst_len, stm, atx, ftx, ltx);
    }
    return 0;
}
