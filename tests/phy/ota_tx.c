/* phy/ota_tx and phy/precode: golden preamble against liquid-dsp's ofdmframegen, data symbols
 * against a direct evaluation of the §1 sum, precoder closed forms (§4), validation. */
#include <liquid/liquid.h>

#include "am_test.h"
#include "core/rng.h"
#include "core/status.h"
#include "phy/fft.h"
#include "phy/frame.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"
#include "util.h"

static phy_ota_tx *make_tx(unsigned M, unsigned cp, const unsigned char *sct, size_t L)
{
    phy_ota_tx_cfg c;
    phy_ota_tx_cfg_default(&c);
    c.frame.nfft = M;
    c.frame.cp_len = cp;
    c.frame.sctype = sct;
    c.payload_len = L;
    phy_ota_tx *q = NULL;
    if (phy_ota_tx_create(&c, &q) != AM_OK)
        fprintf(stderr, "create: %s\n", am_last_error());
    return q;
}

/* The un-precoded burst's preamble equals liquid's (|diff| < 1e-5), through both TX paths:
 * p = NULL (precomputed) and p = all ones (the precoded inverse FFT). */
static void golden(unsigned M, unsigned cp, const unsigned char *sct_in)
{
    phy_ota_tx *q = make_tx(M, cp, sct_in, 300);
    AM_REQUIRE(q, "create M %u", M);
    unsigned B = M + cp;
    size_t n = phy_ota_tx_burst_len(q);
    float complex *ref = malloc(3 * B * sizeof(float complex));
    float complex *out = malloc(n * sizeof(float complex));
    float complex *ones = malloc(M * sizeof(float complex));
    float *v = malloc(300 * sizeof(float));
    for (unsigned i = 0; i < 300; i++)
        v[i] = (float)sin(i * 0.37);
    for (unsigned i = 0; i < M; i++)
        ones[i] = 1.0f;
    unsigned char sct[4096];
    liquid_preamble(M, cp, sct_in, sct, ref);
    for (int pass = 0; pass < 2; pass++) {
        AM_REQUIRE_OK(phy_ota_tx_execute(q, v, 3.0f, pass ? ones : NULL, out, n));
        double maxd = 0.0;
        for (unsigned t = 0; t < 3 * B; t++)
            maxd = fmax(maxd, cabs((double complex)(out[t] - ref[t])));
        AM_CHECK(maxd < 1e-5, "M %u cp %u p %s: preamble differs from liquid by %.3g", M, cp,
                 pass ? "ones" : "NULL", maxd);
    }
    free(ref);
    free(out);
    free(ones);
    free(v);
    phy_ota_tx_destroy(q);
}

AM_TEST(golden_preamble, unit)
{
    golden(64, 8, NULL);
    golden(256, 32, NULL);
    golden(1024, 128, NULL);
    unsigned char sct[128];
    custom_sctype128(sct);
    golden(128, 11, sct);
}

/* Every sample of every block against the §1-§4 formulas evaluated directly in double:
 * x[t] = 1/sqrt(M_used) sum_i p[i] X[i] e^{+j 2 pi i t / M}, CP = last cp samples. */
static void direct_on(
    unsigned M, unsigned cp, const unsigned char *sct_in, size_t L, int precoded, uint64_t seed)
{
    phy_ota_tx *q = make_tx(M, cp, sct_in, L);
    AM_REQUIRE(q, "create");
    const phy_frame *f = phy_ota_tx_frame(q);
    const unsigned char *sct = phy_frame_sctype(f);
    unsigned B = M + cp, nu = phy_frame_n_used(f);
    size_t n = phy_ota_tx_burst_len(q), N = phy_frame_nsym(f, L);
    am_rng r;
    am_rng_seed(&r, seed);
    float *v = malloc(L * sizeof(float));
    float complex *p = malloc(M * sizeof(float complex));
    float complex *out = malloc((n + 5) * sizeof(float complex));
    double complex *X = malloc(M * sizeof(double complex)), *x = malloc(M * sizeof *x);
    for (size_t i = 0; i < L; i++)
        v[i] = (float)am_rng_normal(&r);
    for (unsigned i = 0; i < M; i++)
        p[i] = precoded ? am_rng_cnormal(&r) : 1.0f;
    const float eta = 2.5f;
    for (size_t t = 0; t < n + 5; t++)
        out[t] = 7.0f; /* sentinel beyond the burst */
    AM_REQUIRE_OK(phy_ota_tx_execute(q, v, eta, precoded ? p : NULL, out, n + 5));
    for (size_t t = n; t < n + 5; t++)
        AM_CHECK(out[t] == 7.0f, "wrote past the burst at %zu", t);
    double maxd = 0.0, maxref = 0.0;
    size_t k = 0; /* complex payload index */
    for (size_t b = 0; b < 3 + N; b++) {
        const float complex *S = b == 0   ? phy_frame_s0a(f)
                                 : b == 1 ? phy_frame_s0b(f)
                                          : phy_frame_s1(f);
        for (unsigned i = 0; i < M; i++) {
            if (b < 3) {
                X[i] = S[i];
            } else if (sct[i] == PHY_SCTYPE_PILOT) {
                X[i] = 1.0;
            } else if (sct[i] == PHY_SCTYPE_DATA) {
                double re = 2 * k < L ? v[2 * k] : 0.0, im = 2 * k + 1 < L ? v[2 * k + 1] : 0.0;
                X[i] = (re + I * im) / eta; /* §3 */
                k++;
            } else {
                X[i] = 0.0;
            }
            X[i] *= (double complex)p[i]; /* §4 */
        }
        idft(X, M, nu, x);
        for (unsigned t = 0; t < M; t++) {
            maxref = fmax(maxref, cabs(x[t]));
            maxd = fmax(maxd, cabs((double complex)out[b * B + cp + t] - x[t]));
            if (t >= M - cp) /* cyclic prefix */
                maxd = fmax(maxd, cabs((double complex)out[b * B + t - (M - cp)] - x[t]));
        }
    }
    AM_CHECK(k >= (L + 1) / 2, "mapped %zu values for L %zu", k, L);
    AM_CHECK(maxd < 2e-6 * fmax(1.0, maxref) * sqrt((double)M),
             "M %u L %zu precoded %d: max |diff| %.3g (max |x| %.3g)", M, L, precoded, maxd,
             maxref);
    free(v);
    free(p);
    free(out);
    free(X);
    free(x);
    phy_ota_tx_destroy(q);
}

static void direct(unsigned M, unsigned cp, size_t L, int precoded, uint64_t seed)
{
    direct_on(M, cp, NULL, L, precoded, seed);
}

/* An allocation whose runs of consecutive data bins have every length 1..9 (the mapping's vector
 * loops treat runs of 1, 2, 3 and >= 4 apart), pilots between them, nulls at both edges. */
static void runs_sctype(unsigned M, unsigned char *sct)
{
    memset(sct, PHY_SCTYPE_NULL, M);
    unsigned i = 3, len = 1;
    while (i + len + 4 < M) {
        memset(sct + i, PHY_SCTYPE_DATA, len);
        sct[i + len] = PHY_SCTYPE_PILOT;
        i += len + 1;
        len = len % 9 + 1;
    }
}

AM_TEST(data_symbols, unit)
{
    unsigned char sct[256];
    runs_sctype(256, sct);
    direct_on(256, 16, sct, 777, 1, 6);
    direct_on(256, 16, sct, 777, 0, 7);
    direct(64, 8, 1, 0, 1);   /* one entry: tail of zeros */
    direct(64, 8, 245, 0, 2); /* odd L, several symbols */
    direct(64, 8, 245, 1, 3); /* precoded */
    direct(256, 32, 1000, 1, 4);
    direct(100, 5, 333, 1, 5); /* M not a power of two, odd cp (unaligned output blocks) */
}

/* §1: unit-power subcarrier values give unit average power. */
AM_TEST(power, unit)
{
    phy_ota_tx *q = make_tx(256, 0, NULL, 20000);
    AM_REQUIRE(q, "create");
    size_t n = phy_ota_tx_burst_len(q);
    float *v = malloc(20000 * sizeof(float));
    float complex *out = malloc(n * sizeof(float complex));
    am_rng r;
    am_rng_seed(&r, 9);
    /* data values of unit power: entries +-1/sqrt(2) * eta */
    const float eta = 3.0f;
    for (size_t i = 0; i < 20000; i++)
        v[i] = (am_rng_u64(&r) & 1 ? 1.0f : -1.0f) * eta * (float)M_SQRT1_2;
    AM_REQUIRE_OK(phy_ota_tx_execute(q, v, eta, NULL, out, n));
    const phy_frame *f = phy_ota_tx_frame(q);
    size_t B = phy_frame_block_len(f), N = phy_frame_nsym(f, 20000);
    double pw = 0.0;
    for (size_t b = 3; b < 3 + N - 1; b++) /* full data symbols, bodies */
        for (size_t t = 0; t < 256; t++)
            pw += creal(out[b * B + 32 + t] * conj(out[b * B + 32 + t]));
    pw /= (double)((N - 1) * 256);
    AM_CHECK_NEAR(pw, 1.0, 1e-3);
    free(v);
    free(out);
    phy_ota_tx_destroy(q);
}

AM_TEST(validation, unit)
{
    phy_ota_tx_cfg c;
    phy_ota_tx_cfg_default(&c);
    phy_ota_tx *q = NULL;
    c.payload_len = 0;
    AM_CHECK(phy_ota_tx_create(&c, &q) == AM_EINVAL && !q, "L = 0 accepted");
    c.payload_len = 100;
    c.frame.nfft = 65;
    AM_CHECK(phy_ota_tx_create(&c, &q) == AM_EINVAL && !q, "odd M accepted");
    AM_CHECK(strstr(am_last_error(), "odd") != NULL, "message: %s", am_last_error());
    c.frame.nfft = 64;
    AM_REQUIRE_OK(phy_ota_tx_create(&c, &q));
    size_t n = phy_ota_tx_burst_len(q);
    float v[100];
    for (int i = 0; i < 100; i++)
        v[i] = 0.1f * (float)i;
    float complex *out = calloc(n, sizeof(float complex));
    float complex p[64];
    for (int i = 0; i < 64; i++)
        p[i] = 1.0f;
    AM_CHECK(phy_ota_tx_execute(q, v, 0.0f, NULL, out, n) == AM_EINVAL, "eta 0 accepted");
    AM_CHECK(phy_ota_tx_execute(q, v, -1.0f, NULL, out, n) == AM_EINVAL, "eta < 0 accepted");
    AM_CHECK(phy_ota_tx_execute(q, v, NAN, NULL, out, n) == AM_EINVAL, "eta NaN accepted");
    AM_CHECK(phy_ota_tx_execute(q, v, 1.0f, NULL, out, n - 1) == AM_EINVAL, "short cap");
    AM_CHECK(phy_ota_tx_set_drift(q, NAN) == AM_EINVAL, "drift NaN accepted");
    AM_CHECK(phy_ota_tx_set_drift(q, 1.01e-3) == AM_EINVAL, "drift 1.01e-3 accepted");
    AM_CHECK(phy_ota_tx_set_drift(NULL, 0.0) == AM_EINVAL, "NULL accepted");
    p[3] = NAN;
    AM_CHECK(phy_ota_tx_execute(q, v, 1.0f, p, out, n) == AM_EINVAL, "NaN precoder accepted");
    int untouched = 1;
    for (size_t t = 0; t < n; t++)
        untouched &= out[t] == 0.0f;
    AM_CHECK(untouched, "output written on error");
    /* a NaN/Inf payload entry anywhere (full symbols, the last symbol, its odd last entry) */
    p[3] = 1.0f;
    size_t bad_at[] = {0, 37, 60, 88, 99};
    for (unsigned k = 0; k < 5; k++) {
        v[bad_at[k]] = k % 2 ? INFINITY : NAN;
        AM_CHECK(phy_ota_tx_execute(q, v, 1.0f, k < 2 ? NULL : p, out, n) == AM_EINVAL,
                 "non-finite payload entry %zu accepted", bad_at[k]);
        char want[64];
        snprintf(want, sizeof want, "payload entry %zu ", bad_at[k]);
        AM_CHECK(strstr(am_last_error(), want) != NULL, "message: %s", am_last_error());
        v[bad_at[k]] = 1.0f;
    }
    AM_CHECK_OK(phy_ota_tx_execute(q, v, 1.0f, p, out, n));
    free(out);
    phy_ota_tx_destroy(q);
    phy_ota_tx_destroy(NULL);
}

/* §4 closed forms: h p = sqrt(rho) where kept, 0 where |h|^2 < g_th; phase-only |p| = sqrt(rho)
 * and h p = sqrt(rho)|h| (real, positive). */
AM_TEST(precode, unit)
{
    phy_frame_cfg fc = {.nfft = 256};
    phy_frame *f = NULL;
    AM_REQUIRE_OK(phy_frame_create(&fc, &f));
    const unsigned char *sct = phy_frame_sctype(f);
    am_rng r;
    am_rng_seed(&r, 11);
    float complex h[256], p[256];
    for (int i = 0; i < 256; i++)
        h[i] = am_rng_cnormal(&r);
    const float rho = 2.0f, g_th = 0.3f;
    unsigned ne = 0, want_ne = 0;
    AM_REQUIRE_OK(phy_precode_inversion(f, h, rho, g_th, p, &ne));
    for (int i = 0; i < 256; i++) {
        float g = crealf(h[i] * conjf(h[i]));
        if (sct[i] == 0) {
            AM_CHECK(p[i] == 0.0f, "null bin %d precoded", i);
        } else if (g < g_th) {
            AM_CHECK(p[i] == 0.0f, "bin %d not erased (|h|^2 = %g)", i, (double)g);
            want_ne++;
        } else {
            AM_CHECK(cabsf(h[i] * p[i] - sqrtf(rho)) < 1e-5f, "bin %d: h p = %g%+gi", i,
                     (double)crealf(h[i] * p[i]), (double)cimagf(h[i] * p[i]));
        }
    }
    AM_CHECK(ne == want_ne && want_ne > 10, "erased %u, want %u", ne, want_ne);
    AM_REQUIRE_OK(phy_precode_phase(f, h, rho, p, &ne));
    AM_CHECK(ne == 0, "phase-only erased %u", ne);
    for (int i = 0; i < 256; i++) {
        if (sct[i] == 0)
            continue;
        AM_CHECK_NEAR(cabsf(p[i]), sqrtf(rho), 1e-5);
        float complex hp = h[i] * p[i];
        AM_CHECK(fabsf(cimagf(hp)) < 1e-5f && fabsf(crealf(hp) - sqrtf(rho) * cabsf(h[i])) < 1e-5f,
                 "bin %d: h p = %g%+gi", i, (double)crealf(hp), (double)cimagf(hp));
    }
    AM_CHECK(phy_precode_inversion(f, h, 0.0f, g_th, p, NULL) == AM_EINVAL, "rho 0");
    AM_CHECK(phy_precode_inversion(f, h, rho, -1.0f, p, NULL) == AM_EINVAL, "g_th < 0");
    AM_CHECK(phy_precode_inversion(f, h, rho, NAN, p, NULL) == AM_EINVAL, "g_th NaN");
    AM_CHECK(phy_precode_phase(f, h, INFINITY, p, NULL) == AM_EINVAL, "rho Inf");
    h[phy_frame_used_bins(f)[3]] = NAN;
    AM_CHECK(phy_precode_phase(f, h, rho, p, NULL) == AM_EINVAL, "NaN channel accepted");
    AM_CHECK(strstr(am_last_error(), "not finite") != NULL, "message: %s", am_last_error());
    h[0] = NAN; /* null bins are not read */
    h[phy_frame_used_bins(f)[3]] = 1.0f;
    AM_CHECK_OK(phy_precode_inversion(f, h, rho, g_th, p, NULL));
    phy_frame_destroy(f);
}

/* phy_rotate against exp() in double, long enough to expose phase drift. */
AM_TEST(rotate, unit)
{
    const size_t n = 200000;
    float complex *x = malloc(n * sizeof(float complex));
    for (size_t t = 0; t < n; t++)
        x[t] = 1.0f;
    const double eps = 0.0731, ph0 = 0.4;
    phy_rotate(x, n, eps, 256, ph0);
    double maxd = 0.0;
    for (size_t t = 0; t < n; t++)
        maxd = fmax(
            maxd, cabs((double complex)x[t] - cexp(I * (ph0 + 2 * M_PI * eps * (double)t / 256))));
    AM_CHECK(maxd < 2e-6, "max |diff| %.3g", maxd);
    free(x);
}

/* phy_fft against a direct DFT, batched with gaps, and the unaligned execute path. */
AM_TEST(fft, unit)
{
    phy_fft_cfg c = {.n = 48, .howmany = 3, .idist = 50, .odist = 53, .dir = PHY_FFT_FORWARD};
    phy_fft *q = NULL;
    AM_REQUIRE_OK(phy_fft_create(&c, &q));
    float complex *in = phy_fft_in(q);
    am_rng r;
    am_rng_seed(&r, 5);
    for (int i = 0; i < 2 * 50 + 48; i++)
        in[i] = am_rng_cnormal(&r);
    phy_fft_execute(q);
    const float complex *o = phy_fft_out(q);
    double maxd = 0;
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < 48; k++) {
            double complex s = 0;
            for (int t = 0; t < 48; t++)
                s += (double complex)in[b * 50 + t] * cexp(-2.0 * I * M_PI * (k * t % 48) / 48);
            maxd = fmax(maxd, cabs(s - (double complex)o[b * 53 + k]));
        }
    AM_CHECK(maxd < 1e-4, "max |diff| %.3g", maxd);
    /* other arrays, deliberately misaligned by one element; gaps of the output untouched */
    float complex *a = phy_fft_alloc(200), *z = phy_fft_alloc(200);
    for (int i = 0; i < 199; i++) {
        a[i + 1] = in[i < 148 ? i : 0];
        z[i] = -5.0f;
    }
    phy_fft_execute_on(q, a + 1, z + 1);
    maxd = 0;
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < 48; k++)
            maxd = fmax(maxd, cabsf(z[1 + b * 53 + k] - o[b * 53 + k]));
    AM_CHECK(maxd < 1e-5, "execute_on differs by %.3g", maxd);
    AM_CHECK(z[1 + 48] == -5.0f && z[1 + 53 + 50] == -5.0f, "gap overwritten");
    phy_fft_free(a);
    phy_fft_free(z);
    phy_fft_destroy(q);
    c.idist = 10;
    AM_CHECK(phy_fft_create(&c, &q) == AM_EINVAL && !q, "idist < n accepted");
}

/* PHY_FFT_TUNED (the shipped wisdom's plans): the §1 backward transform against a direct DFT in
 * double; the same bytes from two objects, from execute_on other aligned arrays and from a second
 * run; where no wisdom applies (size 512, a batch, forward) the flag changes nothing, byte for
 * byte; and the wisdom is seen by no other plan: an ESTIMATE plan of 1024 made after the tuned
 * one is ESTIMATE's radix-32 plan, whose bytes differ from the tuned radix-64 plan's. Skipped
 * where the wisdom does not apply (another FFTW build or a CPU without AVX): no tuned plan. */
AM_TEST(fft_tuned, unit)
{
    static const unsigned sizes[] = {256, 1024, 512};
    int tuned_any = 0;
    am_rng r;
    am_rng_seed(&r, 21);
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        const unsigned n = sizes[z];
        phy_fft_cfg c = {.n = n, .howmany = 1, .dir = PHY_FFT_BACKWARD, .flags = PHY_FFT_TUNED};
        phy_fft *q[2] = {NULL, NULL}, *e = NULL;
        AM_REQUIRE_OK(phy_fft_create(&c, &q[0]));
        AM_REQUIRE_OK(phy_fft_create(&c, &q[1]));
        c.flags = 0;
        AM_REQUIRE_OK(phy_fft_create(&c, &e));
        const int tuned = phy_fft_tuned(q[0]);
        tuned_any |= tuned;
        AM_CHECK(n != 512 || !tuned, "size 512 has no shipped wisdom but is tuned");
        AM_CHECK(!phy_fft_tuned(e), "a plan without the flag is tuned");
        float complex *x = phy_fft_alloc(n), *y = phy_fft_alloc(n);
        AM_REQUIRE(x && y, "out of memory");
        for (unsigned i = 0; i < n; i++)
            x[i] = phy_fft_in(q[0])[i] = phy_fft_in(q[1])[i] = phy_fft_in(e)[i] = am_rng_cnormal(&r);
        phy_fft_execute(q[0]);
        phy_fft_execute(q[1]);
        phy_fft_execute(e);
        phy_fft_execute_on(q[0], x, y);
        const float complex *o = phy_fft_out(q[0]);
        double maxd = 0, top = 0;
        for (unsigned k = 0; k < n; k++) {
            double complex s = 0;
            for (unsigned t = 0; t < n; t++)
                s += (double complex)x[t] * cexp(2.0 * I * M_PI * (double)((size_t)k * t % n) / n);
            maxd = fmax(maxd, cabs(s - (double complex)o[k]));
            top = fmax(top, cabs(s));
        }
        /* measured: 1.05e-7 (256 tuned), 1.29e-7 (1024 tuned), 1.45e-7 (512 ESTIMATE) of the
         * largest bin */
        AM_CHECK(maxd <= 3e-7 * top, "n %u: max |diff| %.3g of %.3g", n, maxd, top);
        const size_t bytes = n * sizeof *o;
        AM_CHECK(memcmp(o, phy_fft_out(q[1]), bytes) == 0, "n %u: two tuned objects differ", n);
        AM_CHECK(memcmp(o, y, bytes) == 0, "n %u: execute_on differs", n);
        phy_fft_execute(q[0]);
        AM_CHECK(memcmp(o, y, bytes) == 0, "n %u: a second run differs", n);
        const int same = memcmp(o, phy_fft_out(e), bytes) == 0;
        AM_CHECK(tuned ? !same : same, "n %u (tuned %d): tuned and ESTIMATE bytes %s", n, tuned,
                 same ? "equal" : "differ");
        phy_fft_free(x);
        phy_fft_free(y);
        phy_fft_destroy(q[0]);
        phy_fft_destroy(q[1]);
        phy_fft_destroy(e);
    }
    /* the flag on a transform the wisdom does not cover: a batch, a forward one */
    phy_fft_cfg b = {.n = 256, .howmany = 2, .dir = PHY_FFT_BACKWARD, .flags = PHY_FFT_TUNED};
    phy_fft *q = NULL;
    AM_REQUIRE_OK(phy_fft_create(&b, &q));
    AM_CHECK(!phy_fft_tuned(q), "a batch is tuned");
    phy_fft_destroy(q);
    b.howmany = 1;
    b.dir = PHY_FFT_FORWARD;
    AM_REQUIRE_OK(phy_fft_create(&b, &q));
    AM_CHECK(!phy_fft_tuned(q), "a forward transform is tuned");
    phy_fft_destroy(q);
    if (!tuned_any)
        AM_SKIP("the shipped FFTW wisdom does not apply here (FFTW build or CPU): nothing tuned");
}

/* phy_ota_tx_execute_range: any range of the burst is the same bytes as the whole burst's slice
 * (precoded and not; ranges inside the preamble, across block edges, single samples, the tail), a
 * payload of d < L reals the same bytes as the burst of the payload zero-padded to L; and
 * phy_rotate_from on a slice the same bytes as phy_rotate on the whole stream. */
AM_TEST(range, unit)
{
    const unsigned M = 256, cp = 32;
    const size_t L = 5001; /* odd: the last symbol holds a lone real */
    phy_ota_tx *q = make_tx(M, cp, NULL, L);
    AM_REQUIRE(q, "create");
    const size_t n = phy_ota_tx_burst_len(q), B = M + cp;
    float *v = malloc(L * sizeof *v), *vp = calloc(L, sizeof *vp);
    float complex *p = malloc(M * sizeof *p), *full = malloc(n * sizeof *full);
    float complex *part = malloc(n * sizeof *part), *rot = malloc(n * sizeof *rot);
    AM_REQUIRE(v && vp && p && full && part && rot, "out of memory");
    am_rng g;
    am_rng_seed(&g, 41);
    for (size_t j = 0; j < L; j++)
        v[j] = (float)am_rng_normal(&g);
    for (unsigned i = 0; i < M; i++)
        p[i] = am_rng_cnormal(&g);
    size_t bad = 0, cases = 0;
    for (int pre = 0; pre < 2; pre++) {
        const float complex *pc = pre ? p : NULL;
        AM_REQUIRE_OK(phy_ota_tx_execute(q, v, 0.7f, pc, full, n));
        const size_t r[][2] = {{0, 1},         {5, 3 * B - 7},     {B - 1, 2},
                               {3 * B - 1, 3}, {3 * B, B},         {3 * B + 17, B},
                               {n - 1, 1},     {n - 3 * B, 3 * B}, {1000, n - 2000},
                               {0, n},         {7 * B + 31, 1},    {4 * B + cp, M}};
        for (size_t c = 0; c < sizeof r / sizeof r[0]; c++) {
            memset(part, 0xff, n * sizeof *part);
            AM_REQUIRE_OK(phy_ota_tx_execute_range(q, v, L, 0.7f, pc, r[c][0], r[c][1], part));
            bad += memcmp(part, full + r[c][0], r[c][1] * sizeof *part) != 0;
            cases++;
        }
        /* d < L: zero-padded payload, also cut at a symbol edge and past a pilot */
        const size_t ds[] = {1, 383, 384, 2000, 5000};
        for (size_t c = 0; c < sizeof ds / sizeof ds[0]; c++) {
            memcpy(vp, v, ds[c] * sizeof *vp);
            memset(vp + ds[c], 0, (L - ds[c]) * sizeof *vp);
            AM_REQUIRE_OK(phy_ota_tx_execute(q, vp, 0.7f, pc, full, n));
            AM_REQUIRE_OK(phy_ota_tx_execute_range(q, v, ds[c], 0.7f, pc, 2 * B + 5, 9 * B, part));
            bad += memcmp(part, full + 2 * B + 5, 9 * B * sizeof *part) != 0;
            cases++;
        }
    }
    AM_CHECK(bad == 0, "%zu of %zu ranges differ from the whole burst", bad, cases);
    /* rotation of slices */
    memcpy(rot, full, n * sizeof *rot);
    phy_rotate(rot, n, 0.137, M, 1.3);
    size_t badr = 0;
    const size_t rr[][2] = {{0, 64}, {1, 63}, {63, 2}, {100, 1000}, {n - 5, 5}};
    for (size_t c = 0; c < sizeof rr / sizeof rr[0]; c++) {
        memcpy(part, full + rr[c][0], rr[c][1] * sizeof *part);
        phy_rotate_from(part, rr[c][1], 0.137, M, 1.3, rr[c][0]);
        badr += memcmp(part, rot + rr[c][0], rr[c][1] * sizeof *part) != 0;
    }
    AM_CHECK(badr == 0, "%zu of 5 rotated slices differ", badr);
    AM_CHECK(phy_ota_tx_execute_range(q, v, L + 1, 0.7f, p, 0, 1, part) == AM_EINVAL, "d > L");
    AM_CHECK(phy_ota_tx_execute_range(q, v, L, 0.7f, p, n - 1, 2, part) == AM_EINVAL,
             "range past the burst");
    v[4000] = NAN;
    AM_CHECK(phy_ota_tx_execute_range(q, v, L, 0.7f, p, 0, n, part) == AM_EINVAL, "NaN");
    AM_CHECK(strstr(am_last_error(), "entry 4000") != NULL, "%s", am_last_error());
    free(v);
    free(vp);
    free(p);
    free(full);
    free(part);
    free(rot);
    phy_ota_tx_destroy(q);
}

/* The AVX and the baseline loops of the TX give the same bytes: whole bursts and ranges, with and
 * without a precoder, full and partial payloads, the default allocations and one with runs of
 * every length 1..9, a calibration block; chunks of several symbols mapped at once (M = 1024 and
 * 256: 4) and one at a time (the partial payloads' last symbols). A NaN or Inf is refused by both,
 * at every entry of the first symbol and in later symbols of a chunk; finite values near FLT_MAX
 * are not. Skipped on a CPU without AVX (nothing to compare). */
AM_TEST(vector_paths, unit)
{
    unsigned char sct[256];
    runs_sctype(256, sct);
    const struct {
        unsigned M;
        const unsigned char *sct;
        size_t L;
        unsigned cal;
    } cases[] = {{64, NULL, 245, 0},
                 {256, NULL, 5000, 0},
                 {256, sct, 3001, 0},
                 {1024, NULL, 40000, 3},
                 {100, NULL, 333, 0}};
    int avx = 0;
    am_rng r;
    am_rng_seed(&r, 11);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        phy_ota_tx_cfg cfg;
        phy_ota_tx_cfg_default(&cfg);
        cfg.frame.nfft = cases[c].M;
        cfg.frame.sctype = cases[c].sct;
        cfg.payload_len = cases[c].L;
        cfg.cal_slots = cases[c].cal;
        phy_ota_tx *q = NULL;
        AM_REQUIRE_OK(phy_ota_tx_create(&cfg, &q));
        if (cases[c].cal)
            AM_REQUIRE_OK(phy_ota_tx_set_slot(q, 2));
        const size_t n = phy_ota_tx_burst_len(q), L = cases[c].L, M = cases[c].M;
        float *v = malloc(L * sizeof *v);
        float complex *p = malloc(M * sizeof *p), *o[2];
        o[0] = malloc(n * sizeof **o);
        o[1] = malloc(n * sizeof **o);
        AM_REQUIRE(v && p && o[0] && o[1], "out of memory");
        for (size_t i = 0; i < L; i++)
            v[i] = (float)am_rng_normal(&r);
        for (size_t i = 0; i < M; i++)
            p[i] = am_rng_cnormal(&r);
        for (int pre = 0; pre < 2; pre++)
            for (int part = 0; part < 2; part++) {
                /* part: the payload's first d < L entries, samples u0 .. n - 7 */
                const size_t d = part ? L / 2 + 1 : L, u0 = part ? n / 3 + 1 : 0;
                const size_t len = part ? n - 7 - u0 : n;
                for (int k = 0; k < 2; k++) {
                    avx |= phy_ota_tx_use_avx(q, k);
                    memset(o[k], 0, n * sizeof **o);
                    AM_REQUIRE_OK(
                        phy_ota_tx_execute_range(q, v, d, 1.7f, pre ? p : NULL, u0, len, o[k]));
                }
                AM_CHECK(memcmp(o[0], o[1], len * sizeof **o) == 0,
                         "M %zu case %zu precoded %d part %d: AVX and baseline differ", M, c, pre,
                         part);
            }
        /* a NaN or Inf at each entry of the first symbol (every run length, both paths) */
        const size_t nd2 = 2 * (size_t)phy_frame_n_data(phy_ota_tx_frame(q));
        unsigned missed = 0;
        for (size_t i = 0; cases[c].sct && i < nd2; i++) {
            const float keep = v[i];
            v[i] = i % 2 ? INFINITY : NAN;
            for (int k = 0; k < 2; k++) {
                phy_ota_tx_use_avx(q, k);
                missed += phy_ota_tx_execute(q, v, 1.0f, i % 3 ? p : NULL, o[0], n) != AM_EINVAL;
            }
            v[i] = keep;
        }
        /* and one in each later symbol of the first chunks (mapped several symbols at once) */
        for (size_t k = 1; k < 6 && (k + 1) * nd2 <= L; k++) {
            const size_t i = k * nd2 + (37 * k) % nd2;
            const float keep = v[i];
            v[i] = k % 2 ? INFINITY : -NAN;
            for (int m = 0; m < 2; m++) {
                phy_ota_tx_use_avx(q, m);
                missed += phy_ota_tx_execute(q, v, 1.0f, k % 3 ? p : NULL, o[0], n) != AM_EINVAL;
                char want[32];
                snprintf(want, sizeof want, "entry %zu ", i);
                missed += strstr(am_last_error(), want) == NULL;
            }
            v[i] = keep;
        }
        AM_CHECK(missed == 0, "case %zu: %u non-finite payload entries accepted", c, missed);
        /* finite values whose sum over a chunk's 4 symbols overflows (the AVX loop checks that
         * sum, then the values one by one): accepted by both paths, the same bytes */
        if (4 * nd2 <= L) {
            for (size_t k = 0; k < 4; k++)
                for (size_t i = 16; i < 32; i++) /* bins in runs of 4 and more */
                    v[k * nd2 + i] = 3e38f;
            for (int k = 0; k < 2; k++) {
                phy_ota_tx_use_avx(q, k);
                AM_CHECK_OK(phy_ota_tx_execute(q, v, 1.0f, p, o[k], n));
            }
            AM_CHECK(memcmp(o[0], o[1], n * sizeof **o) == 0,
                     "case %zu: AVX and baseline differ on finite values near FLT_MAX", c);
        }
        free(v);
        free(p);
        free(o[0]);
        free(o[1]);
        phy_ota_tx_destroy(q);
    }
    if (!avx)
        AM_SKIP("the CPU has no AVX: one vector path only");
}

/* A calibrated TX (default frame, M = 256, L = 3001 reals, 3 slots) with a payload v of L normal
 * reals, a precoder p of M complex normals (from seed), and room a, b for two bursts; NULL with a
 * message if any step fails (nothing left allocated). */
static phy_ota_tx *cal_tx(phy_ota_tx_cfg *cfg,
                          uint64_t seed,
                          float **v,
                          float complex **p,
                          float complex **a,
                          float complex **b)
{
    phy_ota_tx_cfg_default(cfg);
    cfg->payload_len = 3001;
    cfg->cal_slots = 3;
    phy_ota_tx *q = NULL;
    if (phy_ota_tx_create(cfg, &q) != AM_OK) {
        fprintf(stderr, "create: %s\n", am_last_error());
        return NULL;
    }
    const size_t n = phy_ota_tx_burst_len(q), L = cfg->payload_len, M = 256;
    *v = malloc(L * sizeof **v);
    *p = malloc(M * sizeof **p);
    *a = malloc(n * sizeof **a);
    *b = malloc(n * sizeof **b);
    if (!*v || !*p || !*a || !*b) {
        fprintf(stderr, "out of memory\n");
        free(*v);
        free(*p);
        free(*a);
        free(*b);
        phy_ota_tx_destroy(q);
        return NULL;
    }
    am_rng r;
    am_rng_seed(&r, seed);
    for (size_t i = 0; i < L; i++)
        (*v)[i] = (float)am_rng_normal(&r);
    for (size_t i = 0; i < M; i++)
        (*p)[i] = am_rng_cnormal(&r);
    return q;
}

/* phy_ota_tx_profile: the same bytes with the profile on; the stages' nanoseconds are contiguous
 * laps of the call (their sum never exceeds the total), the transforms and the mapping are
 * counted, and NULL turns it off. A calibrated, precoded burst, whole and a range cut inside
 * blocks, so that every lap is passed. */
AM_TEST(profile, unit)
{
    phy_ota_tx_cfg cfg;
    float *v;
    float complex *p, *a, *b;
    phy_ota_tx *q = cal_tx(&cfg, 12, &v, &p, &a, &b);
    AM_REQUIRE(q, "setup");
    const size_t n = phy_ota_tx_burst_len(q), L = cfg.payload_len;
    unsigned long long t[PHY_TX_NSTAGES] = {0};
    for (int part = 0; part < 2; part++) {
        const size_t u0 = part ? 300 : 0, len = part ? n - 301 : n;
        memset(a, 0, n * sizeof *a);
        memset(b, 0, n * sizeof *b);
        phy_ota_tx_profile(q, NULL);
        AM_REQUIRE_OK(phy_ota_tx_execute_range(q, v, L, 1.3f, p, u0, len, a));
        phy_ota_tx_profile(q, t);
        AM_REQUIRE_OK(phy_ota_tx_execute_range(q, v, L, 1.3f, p, u0, len, b));
        AM_CHECK(memcmp(a, b, n * sizeof *a) == 0, "part %d: profiled burst differs", part);
    }
    unsigned long long sum = 0;
    for (unsigned k = 0; k < PHY_TX_ST_TOTAL; k++)
        sum += t[k];
    AM_CHECK(t[PHY_TX_ST_IFFT] > 0 && t[PHY_TX_ST_MAP] > 0, "ifft %llu ns, map %llu ns",
             t[PHY_TX_ST_IFFT], t[PHY_TX_ST_MAP]);
    AM_CHECK(sum <= t[PHY_TX_ST_TOTAL], "stages %llu ns > total %llu ns", sum,
             t[PHY_TX_ST_TOTAL]);
    unsigned long long keep[PHY_TX_NSTAGES];
    memcpy(keep, t, sizeof t);
    phy_ota_tx_profile(q, NULL);
    AM_REQUIRE_OK(phy_ota_tx_execute(q, v, 1.3f, p, a, n));
    AM_CHECK(memcmp(keep, t, sizeof t) == 0, "profile off still counts");
    free(v);
    free(p);
    free(a);
    free(b);
    phy_ota_tx_destroy(q);
}

/* The values a TX keeps between bursts (weights, the precoded preamble and calibration block,
 * made once per precoder, eta and slot) cannot go stale: one object, called in turn with the
 * precoder changed in place (same pointer, other content: one entry, one sign of a zero), eta
 * changed, the slot, the pilot level and the sampling-clock drift changed, p = NULL and back,
 * ranges that skip the preamble while p changes, gives every time the bytes a fresh object in the
 * same settings writes. */
AM_TEST(cache, unit)
{
    phy_ota_tx_cfg cfg;
    float *v;
    float complex *p, *a, *b;
    phy_ota_tx *q = cal_tx(&cfg, 13, &v, &p, &a, &b);
    AM_REQUIRE(q, "setup");
    const size_t n = phy_ota_tx_burst_len(q), L = cfg.payload_len, M = 256, B = M + M / 8;
    p[40] = 0.0f;
    /* each step: what changes before the call, then the range written */
    enum { SAME, P_ENTRY, P_ZERO_SIGN, ETA, SLOT, LEVEL, P_NULL, DRIFT };
    const struct {
        int change;
        size_t u0, len;
    } step[] = {{SAME, 0, n},        {SAME, 0, n},        {P_ENTRY, 0, n},     {P_ZERO_SIGN, 0, n},
                {ETA, 0, n},         {SLOT, 0, n},        {LEVEL, 0, n},       {P_NULL, 0, n},
                {P_NULL, 0, n},      {P_ENTRY, 3 * B, B}, {SAME, 0, 3 * B},    {SLOT, 2 * B, 2 * B},
                {P_ENTRY, 5 * B, B}, {SLOT, 0, n},        {ETA, B + 3, 2 * B}, {SAME, 0, n},
                {DRIFT, 0, n},       {SAME, 0, n},        {DRIFT, 2 * B, 3 * B}};
    unsigned slot = 0;
    float eta = 1.3f, level = 1.0f;
    double drift = 0.0;
    int null = 0;
    size_t bad = 0;
    for (size_t k = 0; k < sizeof step / sizeof step[0]; k++) {
        switch (step[k].change) {
        case P_ENTRY:
            p[(37 * k) % M] *= -0.5f;
            break;
        case P_ZERO_SIGN: /* -0 and +0: the same value, other bytes of p */
            p[40] = -p[40];
            break;
        case ETA:
            eta *= 1.25f;
            break;
        case SLOT:
            slot = (slot + 1) % cfg.cal_slots;
            AM_REQUIRE_OK(phy_ota_tx_set_slot(q, slot));
            break;
        case LEVEL:
            level = 0.5f;
            AM_REQUIRE_OK(phy_ota_tx_set_pilot_level(q, level));
            break;
        case P_NULL:
            null = !null;
            break;
        case DRIFT: /* the calibration block is turned by it */
            drift = drift == 0.0 ? 2e-5 : -3e-5;
            AM_REQUIRE_OK(phy_ota_tx_set_drift(q, drift));
            break;
        default:
            break;
        }
        const float complex *pc = null ? NULL : p;
        const size_t u0 = step[k].u0, len = step[k].len;
        AM_REQUIRE_OK(phy_ota_tx_execute_range(q, v, L, eta, pc, u0, len, a));
        phy_ota_tx *f = NULL;
        AM_REQUIRE_OK(phy_ota_tx_create(&cfg, &f));
        AM_REQUIRE_OK(phy_ota_tx_set_slot(f, slot));
        AM_REQUIRE_OK(phy_ota_tx_set_pilot_level(f, level));
        AM_REQUIRE_OK(phy_ota_tx_set_drift(f, drift));
        AM_REQUIRE_OK(phy_ota_tx_execute_range(f, v, L, eta, pc, u0, len, b));
        phy_ota_tx_destroy(f);
        if (memcmp(a, b, len * sizeof *a) != 0) {
            fprintf(stderr, "step %zu (change %d): the kept object's burst differs\n", k,
                    step[k].change);
            bad++;
        }
    }
    AM_CHECK(bad == 0, "%zu of %zu bursts differ from a fresh object's", bad,
             sizeof step / sizeof step[0]);
    /* a NaN written into the kept precoder is refused, not served from the kept values */
    p[7] = NAN;
    AM_CHECK(phy_ota_tx_execute(q, v, eta, p, a, n) == AM_EINVAL, "NaN in p accepted");
    AM_CHECK(strstr(am_last_error(), "p[7]") != NULL, "%s", am_last_error());
    free(v);
    free(p);
    free(a);
    free(b);
    phy_ota_tx_destroy(q);
}

/* §4.2 "Sampling clock" against an independent path: a TX given the drift r writes each data block
 * b (cyclic prefix included) as the drift-free TX's block with its bins turned by
 * e^{-j 2 pi s_i r (b - 1) B / M}, s_i the signed index: the drift-free block's samples through a
 * direct DFT in double, turned, and back through a direct inverse DFT in double. NMSE over the
 * data blocks, dB; sizes with M/2 even and odd (the TX's turn tables run in pieces that stop at
 * M/2), r at its limit and small, both signs. *nmse: the NMSE (NAN if not run). */
static void drift_nmse(unsigned M, size_t L, double r, unsigned seed, double *nmse)
{
    *nmse = NAN;
    phy_ota_tx *q0 = make_tx(M, M / 8, NULL, L), *q1 = make_tx(M, M / 8, NULL, L);
    AM_REQUIRE(q0 && q1, "create M %u", M);
    AM_REQUIRE_OK(phy_ota_tx_set_drift(q1, r));
    const phy_frame *f = phy_ota_tx_frame(q0);
    const size_t n = phy_ota_tx_burst_len(q0), B = phy_frame_block_len(f), cp = M / 8;
    const size_t N = phy_frame_nsym(f, L);
    float *v = malloc(L * sizeof *v);
    float complex *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    double complex *X = malloc(M * sizeof *X), *y = malloc(M * sizeof *y);
    AM_REQUIRE(v && a && b && X && y, "alloc");
    am_rng g;
    am_rng_seed(&g, seed);
    for (size_t i = 0; i < L; i++)
        v[i] = (float)am_rng_normal(&g);
    AM_REQUIRE_OK(phy_ota_tx_execute(q0, v, 1.0f, NULL, a, n));
    AM_REQUIRE_OK(phy_ota_tx_execute(q1, v, 1.0f, NULL, b, n));
    double err = 0.0, pw = 0.0;
    for (size_t blk = 3; blk < 3 + N; blk++) {
        const float complex *x0 = a + blk * B + cp; /* the block's M samples after its prefix */
        for (unsigned k = 0; k < M; k++) {
            double complex s = 0.0;
            for (unsigned t = 0; t < M; t++)
                s += x0[t] * cexp(-2.0 * M_PI * I * (double)((size_t)k * t % M) / (double)M);
            const double sk = k < M / 2 ? (double)k : (double)k - (double)M;
            X[k] = s * cexp(-2.0 * M_PI * I * sk * r * (double)(blk - 1) * (double)B / (double)M) /
                   (double)M;
        }
        for (unsigned t = 0; t < M; t++) {
            double complex s = 0.0;
            for (unsigned k = 0; k < M; k++)
                s += X[k] * cexp(2.0 * M_PI * I * (double)((size_t)k * t % M) / (double)M);
            y[t] = s;
        }
        for (size_t u = 0; u < B; u++) { /* prefix: the body's last cp samples */
            const double complex want = y[(u + M - cp) % M];
            const double complex d = b[blk * B + u] - want;
            err += creal(d * conj(d));
            pw += creal(want * conj(want));
        }
    }
    free(v);
    free(a);
    free(b);
    free(X);
    free(y);
    phy_ota_tx_destroy(q0);
    phy_ota_tx_destroy(q1);
    *nmse = 10.0 * log10(err / pw);
}

AM_TEST(drift_truth, unit)
{
    static const struct {
        unsigned M;
        size_t L;
        double r, bound; /* dB; measured (the turns from the tables, and from cexp per bin before
                            them, the same to the hundredth): -137.53, -137.60, -136.29, -136.28 */
    } c[] = {{256, 3000, 1e-3, -137.0},
             {256, 3000, -2.5e-6, -137.1},
             {1024, 6000, -1e-3, -135.8},
             {130, 700, 7e-4, -135.8}};
    for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
        double e;
        drift_nmse(c[k].M, c[k].L, c[k].r, 40 + (unsigned)k, &e);
        if (getenv("AM_VERBOSE"))
            fprintf(stderr, "M %u r %g: NMSE %.2f dB\n", c[k].M, c[k].r, e);
        AM_CHECK(e < c[k].bound, "M %u r %g: NMSE %.2f dB (bound %.1f)", c[k].M, c[k].r, e,
                 c[k].bound);
    }
}
