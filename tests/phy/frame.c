/* phy/frame: validation (docs/air-interface.md §1), allocation and counts against liquid-dsp,
 * preamble values and burst sizes (§2). */
#include <liquid/liquid.h>
#include <unistd.h>

#include "am_test.h"
#include "core/status.h"
#include "phy/frame.h"
#include "util.h"

/* Runs create with stderr captured; returns the status, *printed = bytes written to stderr. */
static am_status create_quiet(const phy_frame_cfg *cfg, phy_frame **f, long *printed)
{
    char path[600];
    snprintf(path, sizeof path, "%s/stderr.txt", am_test_tmp_dir());
    fflush(stderr);
    int saved = dup(fileno(stderr));
    FILE *tmp = freopen(path, "w", stderr);
    am_status s = phy_frame_create(cfg, f);
    fflush(stderr);
    long n = tmp ? ftell(stderr) : -1;
    dup2(saved, fileno(stderr));
    close(saved);
    clearerr(stderr);
    *printed = n;
    return s;
}

static void expect_einval(const phy_frame_cfg *cfg, const char *needle, const char *what)
{
    phy_frame *f = (phy_frame *)1;
    long printed = -1;
    am_status s = create_quiet(cfg, &f, &printed);
    AM_CHECK(s == AM_EINVAL, "%s: status %s, want EINVAL", what, am_status_str(s));
    AM_CHECK(f == NULL, "%s: output not cleared", what);
    AM_CHECK(printed == 0, "%s: %ld bytes printed to stderr", what, printed);
    AM_CHECK(strstr(am_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what,
             am_last_error(), needle);
    AM_CHECK(phy_frame_validate(cfg) == AM_EINVAL, "%s: validate disagrees with create", what);
}

AM_TEST(validation, unit)
{
    phy_frame_cfg c;
    phy_frame_cfg_default(&c);
    c.nfft = 255;
    expect_einval(&c, "M = 255 is odd", "odd M");
    c.nfft = 32;
    expect_einval(&c, "M = 32 outside 64..4096", "M = 32");
    c.nfft = 8192;
    expect_einval(&c, "M = 8192 outside", "M = 8192");
    c.nfft = 64;
    c.cp_len = 33;
    expect_einval(&c, "cyclic prefix 33 outside 1..M/2 = 32", "cp > M/2");

    unsigned char sct[64];
    ofdmframe_init_default_sctype(64, sct);
    c.cp_len = 0;
    c.sctype = sct;
    sct[5] = 3;
    expect_einval(&c, "entry 5 has type 3", "type 3");
    memset(sct, 0, sizeof sct);
    expect_einval(&c, "no used bin", "all null");
    sct[2] = 1;
    sct[4] = 2;
    sct[6] = 2;
    expect_einval(&c, "1 pilot bin(s), needs at least 2", "one pilot");
    sct[6] = 1;
    sct[4] = 1;
    expect_einval(&c, "no data bin", "no data");
    memset(sct, 0, sizeof sct);
    sct[1] = 1;
    sct[3] = 1;
    sct[5] = 2;
    expect_einval(&c, "no used even bin", "odd bins only");
    /* and a valid edge: all of those fixed */
    sct[2] = 2;
    phy_frame *f = NULL;
    AM_CHECK_OK(phy_frame_create(&c, &f));
    phy_frame_destroy(f);
    phy_frame_destroy(NULL);
    AM_CHECK(phy_frame_create(NULL, &f) == AM_EINVAL, "NULL cfg accepted");
}

AM_TEST(default_cp, unit)
{
    unsigned Ms[] = {64, 100, 256, 1024, 4096};
    for (unsigned k = 0; k < 5; k++) {
        phy_frame_cfg c = {.nfft = Ms[k], .cp_len = 0, .sctype = NULL};
        phy_frame *f = NULL;
        AM_REQUIRE_OK(phy_frame_create(&c, &f));
        AM_CHECK(phy_frame_cp_len(f) == Ms[k] / 8, "M %u: cp %u", Ms[k], phy_frame_cp_len(f));
        AM_CHECK(phy_frame_block_len(f) == Ms[k] + Ms[k] / 8, "block length");
        phy_frame_destroy(f);
    }
    phy_frame_cfg c = {.nfft = 64, .cp_len = 32, .sctype = NULL};
    phy_frame *f = NULL;
    AM_CHECK_OK(phy_frame_create(&c, &f)); /* cp = M/2 allowed */
    phy_frame_destroy(f);
    c.cp_len = 1;
    AM_CHECK_OK(phy_frame_create(&c, &f));
    phy_frame_destroy(f);
}

/* Allocation and counts equal liquid's; bin lists increasing and consistent. */
AM_TEST(allocation, unit)
{
    unsigned Ms[] = {64, 66, 128, 256, 1000, 1024, 4096};
    for (unsigned k = 0; k < sizeof Ms / sizeof Ms[0]; k++) {
        unsigned M = Ms[k];
        unsigned char want[4096], got[4096];
        ofdmframe_init_default_sctype(M, want);
        AM_REQUIRE_OK(phy_frame_default_sctype(M, got));
        AM_CHECK(memcmp(want, got, M) == 0, "M %u: default allocation differs", M);
        unsigned nn, np, nd;
        ofdmframe_validate_sctype(want, M, &nn, &np, &nd);
        phy_frame_cfg c = {.nfft = M};
        phy_frame *f = NULL;
        AM_REQUIRE_OK(phy_frame_create(&c, &f));
        AM_CHECK(memcmp(phy_frame_sctype(f), want, M) == 0, "M %u: frame allocation", M);
        AM_CHECK(phy_frame_n_pilot(f) == np && phy_frame_n_data(f) == nd &&
                     phy_frame_n_used(f) == np + nd,
                 "M %u: counts %u/%u vs liquid %u/%u", M, phy_frame_n_pilot(f), phy_frame_n_data(f),
                 np, nd);
        const unsigned *u = phy_frame_used_bins(f), *d = phy_frame_data_bins(f),
                       *p = phy_frame_pilot_bins(f);
        for (unsigned j = 0; j < phy_frame_n_used(f); j++) {
            AM_CHECK(want[u[j]] != 0, "used bin %u is null", u[j]);
            if (j)
                AM_CHECK(u[j] > u[j - 1], "used bins not increasing");
        }
        for (unsigned j = 0; j < nd; j++) {
            AM_CHECK(want[d[j]] == 2, "data bin %u", d[j]);
            if (j)
                AM_CHECK(d[j] > d[j - 1], "data bins not increasing");
        }
        for (unsigned j = 0; j < np; j++)
            AM_CHECK(want[p[j]] == 1, "pilot bin %u", p[j]);
        phy_frame_destroy(f);
    }
    AM_CHECK(phy_frame_default_sctype(50, NULL) == AM_EINVAL, "bad M accepted");
}

/* §2 sizes: N = ceil((L/2)/M_data), burst (3 + N)(M + cp). */
AM_TEST(sizes, unit)
{
    phy_frame_cfg c = {.nfft = 64};
    phy_frame *f = NULL;
    AM_REQUIRE_OK(phy_frame_create(&c, &f));
    size_t md = phy_frame_n_data(f), B = phy_frame_block_len(f);
    size_t Ls[] = {1, 2, 2 * md - 1, 2 * md, 2 * md + 1, 10 * md, 12345};
    for (unsigned k = 0; k < sizeof Ls / sizeof Ls[0]; k++) {
        size_t L = Ls[k];
        size_t N = (size_t)ceil((double)L / 2.0 / (double)md);
        AM_CHECK(phy_frame_nsym(f, L) == N, "L %zu: N %zu want %zu", L, phy_frame_nsym(f, L), N);
        AM_CHECK(phy_frame_burst_len(f, L) == (3 + N) * B, "L %zu: burst length", L);
    }
    AM_CHECK(phy_frame_preamble_len(f) == 3 * B, "preamble length");
    phy_frame_destroy(f);
}

/* Golden: the preamble equals liquid's ofdmframegen output sample for sample, and the derived
 * frequency values have the structure of §2 (S0 on even bins, S1 = +-1 on used bins). */
static void golden_preamble(unsigned M, unsigned cp, const unsigned char *sct_in)
{
    phy_frame_cfg c = {.nfft = M, .cp_len = cp, .sctype = sct_in};
    phy_frame *f = NULL;
    AM_REQUIRE_OK(phy_frame_create(&c, &f));
    unsigned B = M + cp;
    unsigned char sct[4096];
    float complex *ref = malloc(3 * B * sizeof(float complex));
    liquid_preamble(M, cp, sct_in, sct, ref);
    const float complex *x = phy_frame_preamble(f);
    double maxd = 0.0;
    for (unsigned t = 0; t < 3 * B; t++)
        maxd = fmax(maxd, cabs((double complex)(x[t] - ref[t])));
    AM_CHECK(maxd < 1e-5, "M %u cp %u: preamble differs from liquid by %.3g", M, cp, maxd);
    const float complex *S0a = phy_frame_s0a(f), *S0b = phy_frame_s0b(f), *S1 = phy_frame_s1(f);
    unsigned n_even = 0;
    for (unsigned i = 0; i < M; i += 2)
        n_even += sct[i] != 0;
    double a0 = sqrt((double)phy_frame_n_used(f) / n_even);
    for (unsigned i = 0; i < M; i++) {
        if (sct[i] == 0 || i % 2) {
            AM_CHECK(S0a[i] == 0.0f && S0b[i] == 0.0f, "S0 on bin %u", i);
        } else {
            AM_CHECK_NEAR(cabsf(S0b[i]), a0, 1e-4);
            AM_CHECK_NEAR(fabsf(crealf(S0b[i])), a0, 1e-4); /* real +-a0 */
            /* S0a's body is S0b's shifted by cp: X_a = X_b e^{-j 2 pi i cp / M} */
            double complex r = (double complex)S0b[i] * cexp(-2.0 * I * M_PI * i * cp / M);
            AM_CHECK(cabs((double complex)S0a[i] - r) < 1e-4, "S0a bin %u", i);
        }
        if (sct[i] == 0)
            AM_CHECK(S1[i] == 0.0f, "S1 on null bin %u", i);
        else
            AM_CHECK(fabsf(fabsf(crealf(S1[i])) - 1.0f) < 1e-4f && fabsf(cimagf(S1[i])) < 1e-4f,
                     "S1 bin %u = %g%+gi, want +-1", i, (double)crealf(S1[i]),
                     (double)cimagf(S1[i]));
    }
    free(ref);
    phy_frame_destroy(f);
}

AM_TEST(golden_preamble, unit)
{
    golden_preamble(64, 0 ? 0 : 8, NULL);
    golden_preamble(256, 32, NULL);
    golden_preamble(1024, 128, NULL);
    golden_preamble(256, 7, NULL);
    unsigned char sct[128];
    custom_sctype128(sct);
    golden_preamble(128, 16, sct);
}
