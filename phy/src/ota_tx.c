/* phy/ota_tx: agent transmitter (docs/air-interface.md §1-§4).
 * Per burst: fold 1/sqrt(M_used), 1/eta and the precoder into one weight per data bin, in payload
 * order; fill the data bins of a chunk of symbols run by run of consecutive data bins (4 values
 * per vector op, each op's weights read once for the chunk's symbols), a chunk small enough to
 * stay in cache at a time; inverse FFT per block (S0a|S0b:
 * one M/2-point transform of its even bins, its period, read cyclically); then each
 * block goes to the output with its cyclic prefix. The un-precoded preamble is precomputed; the
 * weights, the precoded preamble and calibration block are kept while p (compared by value), eta,
 * the slot and the drift stay the same. Null bins are zeroed once at create and never written. */
#include "phy/ota_tx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "phy/cal.h"
#include "phy/fft.h"
#include "util.h"

#define PHY_PAYLOAD_MAX (1ull << 32)

typedef float v4f __attribute__((vector_size(16))); /* GNU C vectors: 2 complex values */
typedef uint32_t v4u __attribute__((vector_size(16)));
typedef float v8f __attribute__((vector_size(32))); /* 4 complex values */
typedef uint32_t v8u __attribute__((vector_size(32)));

struct phy_ota_tx {
    phy_frame *frame;
    size_t L, N, B, burst_len;
    unsigned M, cp, n_used, n_data, n_pilot;
    const unsigned *data, *pilot, *used;
    size_t C;               /* data symbols per inverse FFT call (a chunk that stays in cache) */
    float complex *F, *T;   /* C M each: bin values, time samples of a chunk */
    float complex *Fp, *Tp; /* M each: S1's bins and samples */
    float complex *Fh, *Th; /* M/2 each: S0's even bins, and its one period (M/2 samples) */
    phy_fft *ifft;          /* one block, planned on F -> T, run on each block of a chunk
                               (single plans beat batched ones under FFTW_ESTIMATE here) */
    phy_fft *ifft_half;     /* M/2 points: S0a|S0b's period from its even bins */
    float complex *pp;      /* M: p[i] / sqrt(M_used) */
    float complex *wd;      /* M_data: pp[data bin] / eta */
    float *pad;             /* 2 M_data: a symbol's payload zero-padded past d */
    unsigned *run;          /* 3 per run of consecutive data bins: first bin, first payload
                               index, length (runs end at pilots and nulls) */
    unsigned n_run;
    uint32_t *used_mask;      /* 2 M: all ones on both floats of a used bin, else 0 */
    float *w1, *w2;           /* 2 M_data each, per data bin in payload order: (re, re) and
                                 (-im, im) of wd (the mapping's complex products) */
    uint32_t *op4, *op_short; /* the mapping's ops (map_full_body) */
    unsigned n_op4, n_short;
    int avx;                /* the CPU runs AVX: the vector loops in 8-float steps */
    unsigned S, P, Nc, D0;  /* calibration (§8.1): slots, comb period, blocks; first data block
                               3 + Nc */
    unsigned slot;          /* this burst's slot (phy_ota_tx_set_slot) */
    float pilot_level;      /* a: the pilots carry +a (§2; phy_ota_tx_set_pilot_level, 1) */
    int real;               /* §3.3 real mapping: one real per data bin (map_real) */
    float complex *Fc, *Tc; /* with S: M each, the calibration block of the slot */
    double drift;           /* phy_ota_tx_set_drift: samples per sample, 0 = none */
    float complex *Fd;      /* M: a block's bins turned by the drift (drift != 0) */
    phy_fft *ifft_cal;
    unsigned long long *prof; /* phy_ota_tx_profile's stage nanoseconds, NULL = off */
    /* What the last bursts' precoder made, kept while the next bursts' is the same (an agent
     * sends a round's bursts with one p and eta): pp and the preamble depend on p only, the
     * weight tables on p and eta, the calibration block on p, the slot and the drift. The key is
     * p's content (compared, never trusted to a pointer), so a cache cannot go stale. */
    float complex *pk;        /* M: the kept precoder (key 2) */
    int key;                  /* 0: nothing kept, 1: p = NULL, 2: p = pk's values */
    uint32_t eta_k;           /* the bits of eta that wd, w1, w2 hold (w_ok) */
    int w_ok, pre_ok, cal_ok; /* pp + weight tables, Th and Tp, Tc hold the key's values */
    unsigned cal_slot;        /* the slot Tc holds */
    double cal_drift;         /* the drift Tc holds (phy_ota_tx_set_drift) */
};

void phy_ota_tx_cfg_default(phy_ota_tx_cfg *cfg)
{
    phy_frame_cfg_default(&cfg->frame);
    cfg->payload_len = 1024;
    cfg->cal_slots = 0;
    cfg->mapping = PHY_MAP_COMPLEX;
}

am_status phy_mapping_parse(const char *name, phy_mapping *out)
{
    if (name && !strcmp(name, "complex"))
        *out = PHY_MAP_COMPLEX;
    else if (name && !strcmp(name, "real"))
        *out = PHY_MAP_REAL;
    else
        return AM_FAIL(AM_EINVAL, "mapping '%s' is not complex or real (§3)",
                       name ? name : "(null)");
    return AM_OK;
}

const char *phy_mapping_name(phy_mapping m)
{
    return m == PHY_MAP_COMPLEX ? "complex" : m == PHY_MAP_REAL ? "real" : "?";
}

size_t phy_mapping_span(phy_mapping m, size_t L)
{
    return m == PHY_MAP_REAL ? 2 * L : L;
}

am_status phy_ota_tx_create(const phy_ota_tx_cfg *cfg, phy_ota_tx **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    *out = NULL;
    if (cfg->payload_len < 1 || cfg->payload_len > PHY_PAYLOAD_MAX)
        return AM_FAIL(AM_EINVAL, "ota_tx: payload length %zu outside 1..2^32", cfg->payload_len);
    if (cfg->cal_slots > PHY_CAL_SLOTS_MAX)
        return AM_FAIL(AM_EINVAL, "ota_tx: cal_slots %u outside 0..%u", cfg->cal_slots,
                       PHY_CAL_SLOTS_MAX);
    if (cfg->mapping != PHY_MAP_COMPLEX && cfg->mapping != PHY_MAP_REAL)
        return AM_FAIL(AM_EINVAL, "ota_tx: mapping %d is not complex (0) or real (1)",
                       (int)cfg->mapping);
    phy_ota_tx *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "ota_tx: out of memory");
    am_status s = phy_frame_create(&cfg->frame, &q->frame);
    if (s != AM_OK) {
        free(q);
        return am_error_wrap(s, "ota_tx");
    }
    const phy_frame *f = q->frame;
    q->M = phy_frame_nfft(f);
    q->cp = phy_frame_cp_len(f);
    q->n_used = phy_frame_n_used(f);
    q->n_data = phy_frame_n_data(f);
    q->n_pilot = phy_frame_n_pilot(f);
    q->data = phy_frame_data_bins(f);
    q->pilot = phy_frame_pilot_bins(f);
    q->used = phy_frame_used_bins(f);
    q->L = cfg->payload_len;
    q->real = cfg->mapping == PHY_MAP_REAL;
    const size_t span = phy_mapping_span(cfg->mapping, q->L); /* §3.3: a bin per real */
    q->N = phy_frame_nsym(f, span);
    q->B = phy_frame_block_len(f);
    q->S = cfg->cal_slots;
    q->pilot_level = 1.0f;
    q->Nc = phy_cal_blocks(q->n_used, q->S, &q->P);
    q->D0 = 3 + q->Nc;
    q->burst_len = phy_frame_burst_len(f, span) + (size_t)q->Nc * q->B;
    if (q->N + q->D0 > (size_t)INT32_MAX / q->B) {
        size_t L = q->L, N = q->N;
        phy_ota_tx_destroy(q);
        return AM_FAIL(AM_EINVAL, "ota_tx: payload length %zu needs %zu symbols, too many", L, N);
    }
    /* a chunk of C symbols is mapped in one pass over the mapping's ops (their weights read once
     * per chunk), then transformed symbol by symbol: C = 4 from M = 256 up (32 KB of bin values
     * at M = 1024), else ~8 KB of bin values (timed per burst at M = 256 and 1024: fewer symbols
     * per chunk re-read the weights more often, more did not stay in L1) */
    q->C = q->M < 256 ? 1024 / q->M : 4;
    if (q->C > q->N)
        q->C = q->N;
    size_t nF = q->C * q->M;
    q->F = phy_fft_alloc(nF);
    q->T = phy_fft_alloc(nF);
    q->Fp = phy_fft_alloc(q->M);
    q->Tp = phy_fft_alloc(q->M);
    q->Fh = phy_fft_alloc(q->M / 2);
    q->Th = phy_fft_alloc(q->M / 2);
    q->pp = phy_fft_alloc(q->M);
    q->pk = phy_fft_alloc(q->M);
    q->wd = phy_fft_alloc(q->n_data);
    q->pad = phy_fft_alloc_real(2 * (size_t)q->n_data);
    q->run = malloc(3 * (size_t)q->n_data * sizeof *q->run);
    q->used_mask = malloc(2 * (size_t)q->M * sizeof *q->used_mask);
    q->w1 = phy_fft_alloc_real(2 * (size_t)q->n_data);
    q->w2 = phy_fft_alloc_real(2 * (size_t)q->n_data);
    /* at most one op per data bin in each list */
    q->op4 = malloc(2 * (size_t)q->n_data * sizeof *q->op4);
    q->op_short = malloc(3 * (size_t)q->n_data * sizeof *q->op_short);
    if (!q->run || !q->used_mask || !q->w1 || !q->w2 || !q->op4 || !q->op_short || !q->pad ||
        !q->F || !q->T || !q->Fp || !q->Tp || !q->Fh || !q->Th || !q->pp || !q->wd || !q->pk) {
        phy_ota_tx_destroy(q);
        return AM_FAIL(AM_ENOMEM, "ota_tx: out of memory");
    }
    memset(q->F, 0, nF * sizeof(float complex)); /* null bins stay 0 for ever */
    memset(q->used_mask, 0, 2 * (size_t)q->M * sizeof *q->used_mask);
    for (unsigned u = 0; u < q->n_used; u++)
        q->used_mask[2 * q->used[u]] = q->used_mask[2 * q->used[u] + 1] = 0xffffffffu;
    for (unsigned j = 0; j < q->n_data; j++) {
        if (j == 0 || q->data[j] != q->data[j - 1] + 1) {
            q->run[3 * q->n_run] = q->data[j];
            q->run[3 * q->n_run + 1] = j;
            q->run[3 * q->n_run + 2] = 0;
            q->n_run++;
        }
        q->run[3 * (q->n_run - 1) + 2]++;
    }
    /* the mapping's ops, run by run (map_full_body) */
    for (unsigned k = 0; k < q->n_run; k++) {
        const uint32_t i0 = 2 * q->run[3 * k], j0 = 2 * q->run[3 * k + 1], n = q->run[3 * k + 2];
        uint32_t *o;
        if (n < 4) {
            o = q->op_short + 3 * q->n_short++;
            o[0] = i0;
            o[1] = j0;
            o[2] = n;
        }
        for (uint32_t t = 0; n >= 4; t += 4) {
            const uint32_t e = 2 * (t + 4 <= n ? t : n - 4);
            o = q->op4 + 2 * q->n_op4++;
            o[0] = i0 + e;
            o[1] = j0 + e;
            if (t + 4 >= n)
                break;
        }
    }
    __builtin_cpu_init();
    phy_ota_tx_use_avx(q, 1);
    memset(q->Fp, 0, q->M * sizeof(float complex));
    memset(q->Fh, 0, q->M / 2 * sizeof(float complex)); /* bins of S0's null even bins stay 0 */
    /* the shipped wisdom's plan where it has one (phy/fft.h PHY_FFT_TUNED), else FFTW_ESTIMATE;
     * the same plan for every block of size M */
    phy_fft_cfg fc = {.n = q->M, .howmany = 1, .dir = PHY_FFT_BACKWARD, .flags = PHY_FFT_TUNED};
    s = phy_fft_create_on(&fc, q->F, q->T, &q->ifft);
    fc.n = q->M / 2;
    if (s == AM_OK)
        s = phy_fft_create_on(&fc, q->Fh, q->Th, &q->ifft_half);
    fc.n = q->M;
    if (s == AM_OK && q->S) {
        q->Fc = phy_fft_alloc(q->M);
        q->Tc = phy_fft_alloc(q->M);
        if (!q->Fc || !q->Tc)
            s = AM_FAIL(AM_ENOMEM, "ota_tx: out of memory");
        fc.howmany = 1;
        if (s == AM_OK)
            s = phy_fft_create_on(&fc, q->Fc, q->Tc, &q->ifft_cal);
    }
    if (s != AM_OK) {
        phy_ota_tx_destroy(q);
        return am_error_wrap(s, "ota_tx");
    }
    *out = q;
    return AM_OK;
}

void phy_ota_tx_destroy(phy_ota_tx *q)
{
    if (!q)
        return;
    phy_fft_destroy(q->ifft);
    phy_fft_destroy(q->ifft_half);
    phy_fft_destroy(q->ifft_cal);
    phy_fft_free(q->Fc);
    phy_fft_free(q->Tc);
    phy_fft_free(q->Fd);
    phy_fft_free(q->F);
    phy_fft_free(q->T);
    phy_fft_free(q->Fp);
    phy_fft_free(q->Tp);
    phy_fft_free(q->Fh);
    phy_fft_free(q->Th);
    phy_fft_free(q->pp);
    phy_fft_free(q->pk);
    phy_fft_free(q->wd);
    phy_fft_free(q->pad);
    free(q->run);
    free(q->used_mask);
    phy_fft_free(q->w1);
    phy_fft_free(q->w2);
    free(q->op4);
    free(q->op_short);
    phy_frame_destroy(q->frame);
    free(q);
}

const phy_frame *phy_ota_tx_frame(const phy_ota_tx *q)
{
    return q->frame;
}

size_t phy_ota_tx_payload_len(const phy_ota_tx *q)
{
    return q->L;
}

size_t phy_ota_tx_burst_len(const phy_ota_tx *q)
{
    return q->burst_len;
}

am_status phy_ota_tx_set_drift(phy_ota_tx *q, double r)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    if (!(fabs(r) <= PHY_TX_DRIFT_MAX)) /* NaN fails too */
        return AM_FAIL(AM_EINVAL, "ota_tx: clock drift %g samples per sample outside +-%g", r,
                       PHY_TX_DRIFT_MAX);
    if (r != 0.0 && !q->Fd && !(q->Fd = phy_fft_alloc(q->M)))
        return AM_FAIL(AM_ENOMEM, "ota_tx: out of memory");
    q->drift = r;
    return AM_OK;
}

/* §4.2 "Sampling clock": block b's bins F (M values) into q->Fd delayed by the drift accrued since
 * the preamble's middle block, r (b - 1) B samples: Fd[i] = F[i] e^{-j 2 pi s_i r (b - 1) B / M}
 * (s_i the signed index). With u = s_i + M/2 = 32 h + l, the turn is A[h] C[l]: A[h] =
 * e^{j w (32 h - M/2)} and C[l] = e^{j w l}, w = -2 pi r (b - 1) B / M, each table from cos/sin at
 * its first entry and a step in double from one entry to the next (at most 127 steps: a relative
 * error ~1e-14, far below a float's rounding), so that a bin costs one product, not a cexp (which
 * made a TX with drift 13-18x slower than without). Returns Fd. */
/* e^{j (a0 + k step)} for k < n into (re, im): cos/sin at k = 0, then a product in double per
 * entry (written out: no C99 Annex G NaN/Inf path) */
static void turn_table(double *re, double *im, unsigned n, double a0, double step)
{
    const double sr = cos(step), si = sin(step);
    re[0] = cos(a0);
    im[0] = sin(a0);
    for (unsigned k = 1; k < n; k++) {
        re[k] = re[k - 1] * sr - im[k - 1] * si;
        im[k] = re[k - 1] * si + im[k - 1] * sr;
    }
}

static const float complex *drift_block(const phy_ota_tx *q, const float complex *F, size_t b)
{
    enum { LO = 32 };
    const unsigned M = q->M, nh = (M + LO - 1) / LO;
    const double w = -2.0 * M_PI * (q->drift * (double)(b - 1) * (double)q->B) / (double)M;
    double Cr[LO], Ci[LO], Ar[PHY_NFFT_MAX / LO], Ai[PHY_NFFT_MAX / LO];
    turn_table(Cr, Ci, LO, 0.0, w);
    turn_table(Ar, Ai, nh, w * -(double)(M / 2), w * LO);
    /* u in runs that stay in one A[h] and on one side of M/2: bins i = u + M/2 (u < M/2), then
     * u - M/2, contiguous in a run (M is even, any size) */
    const float *f = (const float *)F;
    float *o = (float *)q->Fd;
    for (unsigned u = 0; u < M;) {
        const unsigned h = u / LO, l0 = u % LO, side = u < M / 2 ? M / 2 : M;
        const unsigned n = LO - l0 < side - u ? LO - l0 : side - u;
        const size_t i0 = u < M / 2 ? u + M / 2 : u - M / 2;
        float t1[2 * LO], t2[2 * LO]; /* per bin (tr, tr) and (-ti, ti) */
        for (unsigned k = 0; k < n; k++) {
            const float tr = (float)(Ar[h] * Cr[l0 + k] - Ai[h] * Ci[l0 + k]);
            const float ti = (float)(Ar[h] * Ci[l0 + k] + Ai[h] * Cr[l0 + k]);
            t1[2 * k] = t1[2 * k + 1] = tr;
            t2[2 * k] = -ti;
            t2[2 * k + 1] = ti;
        }
        /* phy_cmul's products, 2 bins at a time: (ar tr - ai ti, ai tr + ar ti) as x t1 +
         * swap(x) t2 (a sign flip is exact); a null bin (both floats 0) stays +0 */
        const float *fi = f + 2 * i0;
        float *oi = o + 2 * i0;
        unsigned k = 0;
        for (; k + 4 <= 2 * n; k += 4) {
            v4f x, c1, c2;
            memcpy(&x, fi + k, sizeof x);
            memcpy(&c1, t1 + k, sizeof c1);
            memcpy(&c2, t2 + k, sizeof c2);
            const v4f r = x * c1 + __builtin_shufflevector(x, x, 1, 0, 3, 2) * c2;
            const v4u zero = (v4u)(x == 0.0f);
            const v4u null = zero & __builtin_shufflevector(zero, zero, 1, 0, 3, 2);
            const v4f y = (v4f)((v4u)r & ~null);
            memcpy(oi + k, &y, sizeof y);
        }
        if (k < 2 * n) { /* an odd run's last bin (M/2 odd) */
            const float ar = fi[k], ai = fi[k + 1];
            const int z = ar == 0.0f && ai == 0.0f;
            oi[k] = z ? 0.0f : ar * t1[k] + ai * t2[k];
            oi[k + 1] = z ? 0.0f : ai * t1[k + 1] + ar * t2[k + 1];
        }
        u += n;
    }
    return q->Fd;
}

am_status phy_ota_tx_set_slot(phy_ota_tx *q, unsigned slot)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    if (q->S ? slot >= q->S : slot != 0)
        return AM_FAIL(AM_EINVAL, "ota_tx: calibration slot %u outside 0..%u", slot,
                       q->S ? q->S - 1 : 0);
    q->slot = slot;
    return AM_OK;
}

float phy_pilot_level(unsigned agents)
{
    return agents > 1 ? (float)(1.0 / sqrt((double)agents)) : 1.0f;
}

am_status phy_pilot_level_check(float a)
{
    if (!(a > 0.0f && a <= 1.0f)) /* NaN fails too */
        return AM_FAIL(AM_EINVAL, "pilot level %g outside (0, 1] (docs/air-interface.md §2)",
                       (double)a);
    return AM_OK;
}

am_status phy_ota_tx_set_pilot_level(phy_ota_tx *q, float a)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    am_status s = phy_pilot_level_check(a);
    if (s != AM_OK)
        return s;
    q->pilot_level = a;
    return AM_OK;
}

int phy_ota_tx_use_avx(phy_ota_tx *q, int on)
{
    q->avx = on && __builtin_cpu_supports("avx");
    return q->avx;
}

void phy_ota_tx_profile(phy_ota_tx *q, unsigned long long *t)
{
    q->prof = t;
}

static unsigned long long prof_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

/* With profiling on: the time since *t0 to the stage, and *t0 = now. */
static inline void prof_lap(const phy_ota_tx *q, unsigned stage, unsigned long long *t0)
{
    if (q->prof) {
        unsigned long long t = prof_ns();
        q->prof[stage] += t - *t0;
        *t0 = t;
    }
}

unsigned phy_ota_tx_cal_blocks(const phy_ota_tx *q)
{
    return q->Nc;
}

/* Non-zero if any of n floats is NaN/Inf (exponent bits all ones); branch-free, vectorisable. */
static inline uint32_t any_nonfinite(const float *x, size_t n)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
    }
    return bad;
}

/* The vector loops of the TX are written once and compiled twice: for AVX (wide = 1: 8-float
 * ops; chosen at create when the CPU has AVX) and for the baseline (wide = 0: 4-float SSE ops).
 * Only elementwise products, sums and sign flips, no FMA: both give the bytes of the scalar
 * arithmetic they replace. Neither target has FMA; a -march=native build (AM_NATIVE) would, and
 * C with GNU extensions lets GCC fuse a product and a sum (-ffp-contract=fast), rounding once
 * where these loops round twice: phy/CMakeLists.txt compiles this file with -ffp-contract=off,
 * so its bytes do not depend on the build's target. */
#define TX_AVX __attribute__((target("avx")))
#define TX_INLINE static inline __attribute__((always_inline))

/* NaN/Inf of the payload, checked while mapping: the bits of c - c are those of +0 for a finite
 * entry and of a NaN otherwise, ORed into an accumulator (float ops and an OR: AVX has no 256-bit
 * integer compare, and an OR does not chain the iterations on an add's latency); one test per
 * symbol. */
typedef struct nan_acc {
    v8u w;
    v4u n;
} nan_acc;

/* o = a c + b swap(c) for 2 values: the complex products w c with a = (re w, re w) and
 * b = (-im w, im w) from the weight tables of the burst (cplx = 0: w real, o = a c). */
TX_INLINE void mul2(float *o, const float *c, v4f a, v4f b, int cplx, nan_acc *nan)
{
    v4f x, r;
    memcpy(&x, c, sizeof x);
    nan->n |= (v4u)(x - x);
    r = a * x;
    if (cplx) {
        v4f t = b * __builtin_shufflevector(x, x, 1, 0, 3, 2);
        r = r + t;
    }
    memcpy(o, &r, sizeof r);
}

/* The same for 4 values. */
TX_INLINE void mul4(float *o, const float *c, v8f a, v8f b, int cplx, nan_acc *nan)
{
    v8f x, r;
    memcpy(&x, c, sizeof x);
    nan->w |= (v8u)(x - x);
    r = a * x;
    if (cplx) {
        v8f t = b * __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6);
        r = r + t;
    }
    memcpy(o, &r, sizeof r);
}

/* ns data symbols whose nd values each are all complete pairs of v (§3), symbol s's values at
 * v + s 2 M_data, its bins at X + s M: X[data bin j] = w_j c_j. Runs of consecutive data bins are
 * contiguous in v, in the weight tables and in X; create lists their 4-value ops (op4: float
 * offsets in X and in v; a run's last op shifted back to end on its last bin, recomputing a few
 * values, the same bytes, so that nothing is read or written outside the run) and the runs
 * shorter than 4 (op_short: offsets and length). An op's weights are read once for the ns
 * symbols. ops4 = 0 leaves the 4-value ops out (map_ops4_x4 ran them). Returns non-zero if an
 * entry of v is NaN/Inf. */
TX_INLINE uint32_t map_full_body(
    int wide, int ops4, const phy_ota_tx *q, float complex *X, const float *v, size_t ns, int cplx)
{
    nan_acc nan = {{0}, {0}};
    const float *w1 = q->w1, *w2 = q->w2;
    float *x = (float *)X;
    const size_t xs = 2 * (size_t)q->M, vs = 2 * (size_t)q->n_data;
    const uint32_t *o = q->op4;
    for (const uint32_t *e = o + (ops4 ? 2 * (size_t)q->n_op4 : 0); o < e; o += 2) {
        float *xo = x + o[0];
        const float *vo = v + o[1];
        if (wide) {
            v8f a, b;
            memcpy(&a, w1 + o[1], sizeof a);
            memcpy(&b, (cplx ? w2 : w1) + o[1], sizeof b);
            for (size_t s = 0; s < ns; s++)
                mul4(xo + s * xs, vo + s * vs, a, b, cplx, &nan);
        } else {
            v4f a0, b0, a1, b1;
            memcpy(&a0, w1 + o[1], sizeof a0);
            memcpy(&b0, (cplx ? w2 : w1) + o[1], sizeof b0);
            memcpy(&a1, w1 + o[1] + 4, sizeof a1);
            memcpy(&b1, (cplx ? w2 : w1) + o[1] + 4, sizeof b1);
            for (size_t s = 0; s < ns; s++) {
                mul2(xo + s * xs, vo + s * vs, a0, b0, cplx, &nan);
                mul2(xo + s * xs + 4, vo + s * vs + 4, a1, b1, cplx, &nan);
            }
        }
    }
    o = q->op_short;
    for (const uint32_t *e = o + 3 * (size_t)q->n_short; o < e; o += 3) {
        const uint32_t i0 = o[0], j0 = o[1], n = o[2];
        for (size_t s = 0; s < ns; s++) {
            float *xo = x + s * xs + i0;
            const float *vo = v + s * vs + j0;
            if (n >= 2) {
                v4f a, b;
                memcpy(&a, w1 + j0, sizeof a);
                memcpy(&b, (cplx ? w2 : w1) + j0, sizeof b);
                mul2(xo, vo, a, b, cplx, &nan);
                if (n == 3) { /* shifted back by one value */
                    memcpy(&a, w1 + j0 + 2, sizeof a);
                    memcpy(&b, (cplx ? w2 : w1) + j0 + 2, sizeof b);
                    mul2(xo + 2, vo + 2, a, b, cplx, &nan);
                }
            } else {
                nan.n[0] |= any_nonfinite(vo, 2);
                float re = w1[j0] * vo[0], im = w1[j0 + 1] * vo[1];
                if (cplx) {
                    float tr = w2[j0] * vo[1], ti = w2[j0 + 1] * vo[0];
                    re = re + tr;
                    im = im + ti;
                }
                xo[0] = re;
                xo[1] = im;
            }
        }
    }
    uint32_t bad = 0;
    for (unsigned i = 0; i < 8; i++)
        bad |= nan.w[i] | nan.n[i % 4];
    return bad;
}

/* The 4-value ops of map_full_body for a whole chunk of 4 symbols (M >= 256) with AVX, in fewer
 * instructions: the symbol loop unrolled; the weights (re, re) and (im, im) by two shuffles of
 * wd (no table reads); each product by one addsub, (a x - b' swap(x), a x + b' swap(x)) on the
 * even and odd floats with b' = (im, im): the bytes of mul4's a x + (-im, im) swap(x) (a sign
 * flip is exact); the NaN/Inf check on the running sum of the values read, not per value (a
 * NaN/Inf value makes the sum non-finite; a sum that overflowed from finite values makes the
 * caller check the values one by one). Returns non-zero if the sum is not finite. */
/* o = a c, and with cplx (a c - b swap(c), a c + b swap(c)) on the even and odd floats */
TX_AVX TX_INLINE void cmul_addsub(float *o, v8f c, v8f a, v8f b, int cplx)
{
    v8f r = a * c;
    if (cplx)
        r = __builtin_ia32_addsubps256(r,
                                       b * __builtin_shufflevector(c, c, 1, 0, 3, 2, 5, 4, 7, 6));
    memcpy(o, &r, sizeof r);
}

TX_AVX TX_INLINE uint32_t map_ops4_x4(const phy_ota_tx *q, float *x, const float *v, int cplx)
{
    const float *wd = (const float *)q->wd;
    const size_t xs = 2 * (size_t)q->M, vs = 2 * (size_t)q->n_data;
    v8f sum = {0};
    const uint32_t *o = q->op4;
    for (const uint32_t *e = o + 2 * (size_t)q->n_op4; o < e; o += 2) {
        float *xo = x + o[0];
        const float *vo = v + o[1];
        v8f w, c0, c1, c2, c3;
        memcpy(&w, wd + o[1], sizeof w);
        const v8f a = __builtin_shufflevector(w, w, 0, 0, 2, 2, 4, 4, 6, 6);
        const v8f b = __builtin_shufflevector(w, w, 1, 1, 3, 3, 5, 5, 7, 7);
        memcpy(&c0, vo, sizeof c0); /* separate loads: an array of them went through the stack */
        memcpy(&c1, vo + vs, sizeof c1);
        memcpy(&c2, vo + 2 * vs, sizeof c2);
        memcpy(&c3, vo + 3 * vs, sizeof c3);
        cmul_addsub(xo, c0, a, b, cplx);
        cmul_addsub(xo + xs, c1, a, b, cplx);
        cmul_addsub(xo + 2 * xs, c2, a, b, cplx);
        cmul_addsub(xo + 3 * xs, c3, a, b, cplx);
        sum += (c0 + c1) + (c2 + c3);
    }
    const v8u z = (v8u)(sum - sum); /* +0 bits where finite */
    uint32_t bad = 0;
    for (unsigned i = 0; i < 8; i++)
        bad |= z[i];
    return bad;
}

TX_AVX static uint32_t
map_full_avx(const phy_ota_tx *q, float complex *X, const float *v, size_t ns, int cplx)
{
    if (ns == 4) {
        uint32_t bad = cplx ? map_ops4_x4(q, (float *)X, v, 1) : map_ops4_x4(q, (float *)X, v, 0);
        if (bad) /* a NaN/Inf, or finite values whose sum overflowed */
            bad = any_nonfinite(v, 8 * (size_t)q->n_data);
        return bad |
               (cplx ? map_full_body(1, 0, q, X, v, 4, 1) : map_full_body(1, 0, q, X, v, 4, 0));
    }
    return cplx ? map_full_body(1, 1, q, X, v, ns, 1) : map_full_body(1, 1, q, X, v, ns, 0);
}

/* ns = 4 is compiled apart (the symbol loop unrolled) */
static uint32_t
map_full_base(const phy_ota_tx *q, float complex *X, const float *v, size_t ns, int cplx)
{
    if (ns == 4)
        return cplx ? map_full_body(0, 1, q, X, v, 4, 1) : map_full_body(0, 1, q, X, v, 4, 0);
    return cplx ? map_full_body(0, 1, q, X, v, ns, 1) : map_full_body(0, 1, q, X, v, ns, 0);
}

static uint32_t map_full(const phy_ota_tx *q, float complex *X, const float *v, size_t ns, int cplx)
{
    return q->avx ? map_full_avx(q, X, v, ns, cplx) : map_full_base(q, X, v, ns, cplx);
}

/* pp = g p (g without a precoder); per data bin j in payload order wd = pp / eta, run by run, and
 * the mapping's tables w1, w2 from wd. */
TX_INLINE void weights_body(int wide, phy_ota_tx *q, const float complex *p, float g, float ie)
{
    const size_t n2 = 2 * (size_t)q->M;
    float *pp = (float *)q->pp, *wd = (float *)q->wd;
    if (p) {
        const float *pf = (const float *)p;
        for (size_t i = 0; i < n2; i++)
            pp[i] = g * pf[i];
    } else {
        for (size_t i = 0; i < n2; i += 2) {
            pp[i] = g;
            pp[i + 1] = 0.0f;
        }
    }
    const unsigned *r = q->run;
    for (unsigned k = 0; k < q->n_run; k++, r += 3) {
        const size_t i0 = 2 * (size_t)r[0], j0 = 2 * (size_t)r[1];
        const unsigned n = r[2];
        unsigned t = 0;
        if (n >= 4)
            for (;; t += 4) {
                const size_t e = 2 * (size_t)(t + 4 <= n ? t : n - 4), i = i0 + e, j = j0 + e;
                if (wide) {
                    v8f w;
                    memcpy(&w, pp + i, sizeof w);
                    w *= ie;
                    memcpy(wd + j, &w, sizeof w);
                } else {
                    v4f w;
                    memcpy(&w, pp + i, sizeof w);
                    w *= ie;
                    memcpy(wd + j, &w, sizeof w);
                    memcpy(&w, pp + i + 4, sizeof w);
                    w *= ie;
                    memcpy(wd + j + 4, &w, sizeof w);
                }
                if (t + 4 >= n) {
                    t = n;
                    break;
                }
            }
        for (; t < n; t++) {
            const size_t i = i0 + 2 * t, j = j0 + 2 * t;
            wd[j] = pp[i] * ie;
            wd[j + 1] = pp[i + 1] * ie;
        }
    }
    /* the mapping's tables: w1 = (re, re) and, with a precoder, w2 = (-im, im) of each wd (an
     * exact sign flip) */
    float *w1 = q->w1, *w2 = q->w2;
    const size_t nd2 = 2 * (size_t)q->n_data;
    size_t j = 0;
    if (wide) {
        const v8f sg = {-1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f};
        for (; j + 8 <= nd2; j += 8) {
            v8f w, a, b;
            memcpy(&w, wd + j, sizeof w);
            a = __builtin_shufflevector(w, w, 0, 0, 2, 2, 4, 4, 6, 6);
            memcpy(w1 + j, &a, sizeof a);
            if (p) {
                b = __builtin_shufflevector(w, w, 1, 1, 3, 3, 5, 5, 7, 7) * sg;
                memcpy(w2 + j, &b, sizeof b);
            }
        }
    }
    const v4f sg = {-1.0f, 1.0f, -1.0f, 1.0f};
    for (; j + 4 <= nd2; j += 4) {
        v4f w, a, b;
        memcpy(&w, wd + j, sizeof w);
        a = __builtin_shufflevector(w, w, 0, 0, 2, 2);
        memcpy(w1 + j, &a, sizeof a);
        if (p) {
            b = __builtin_shufflevector(w, w, 1, 1, 3, 3) * sg;
            memcpy(w2 + j, &b, sizeof b);
        }
    }
    for (; j < nd2; j += 2) {
        w1[j] = w1[j + 1] = wd[j];
        w2[j] = -wd[j + 1];
        w2[j + 1] = wd[j + 1];
    }
}

TX_AVX static void weights_avx(phy_ota_tx *q, const float complex *p, float g, float ie)
{
    weights_body(1, q, p, g, ie);
}

static void weights_base(phy_ota_tx *q, const float complex *p, float g, float ie)
{
    weights_body(0, q, p, g, ie);
}

static void weights(phy_ota_tx *q, const float complex *p, float g, float ie)
{
    if (q->avx)
        weights_avx(q, p, g, ie);
    else
        weights_base(q, p, g, ie);
}

/* pp[i] S[i] for 4 bins (8 floats at a, b), 0 where the mask mk is 0: phy_cmul's
 * (ar br - ai bi, ar bi + ai br), the same bytes. */
TX_INLINE void cmul_used4(v8f *out, const float *a, const float *b, const uint32_t *mk)
{
    const v8f sg = {-1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f, -1.0f, 1.0f};
    v8f x, y, r;
    v8u m;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    memcpy(&m, mk, sizeof m);
    r = __builtin_shufflevector(x, x, 0, 0, 2, 2, 4, 4, 6, 6) * y +
        __builtin_shufflevector(x, x, 1, 1, 3, 3, 5, 5, 7, 7) *
            __builtin_shufflevector(y, y, 1, 0, 3, 2, 5, 4, 7, 6) * sg;
    *out = (v8f)((v8u)r & m);
}

/* The same for 2 bins (4 floats). */
TX_INLINE void cmul_used2(v4f *out, const float *a, const float *b, const uint32_t *mk)
{
    const v4f sg = {-1.0f, 1.0f, -1.0f, 1.0f};
    v4f x, y, r;
    v4u m;
    memcpy(&x, a, sizeof x);
    memcpy(&y, b, sizeof y);
    memcpy(&m, mk, sizeof m);
    r = __builtin_shufflevector(x, x, 0, 0, 2, 2) * y +
        __builtin_shufflevector(x, x, 1, 1, 3, 3) * __builtin_shufflevector(y, y, 1, 0, 3, 2) * sg;
    *out = (v4f)((v4u)r & m);
}

/* even = 0: F[i] = pp[i] S[i] on the used bins, 0 elsewhere (M bins; M is even). even = 1:
 * F[k] = pp[2k] S[2k] on the used even bins, 0 elsewhere (k < M/2): S0's bins, which are even (§2),
 * for S0a|S0b's M/2-point transform. */
TX_INLINE void
precode_body(int wide, int even, const phy_ota_tx *q, float complex *F, const float complex *S)
{
    const size_t n2 = 2 * (size_t)q->M;
    const float *a = (const float *)q->pp, *b = (const float *)S;
    const uint32_t *mk = q->used_mask;
    float *f = (float *)F;
    size_t i = 0;
    if (wide)
        for (; i + 8 <= n2; i += 8) { /* bins i/2 .. i/2 + 3 (even: i/2 and i/2 + 2) */
            v8f r;
            cmul_used4(&r, a + i, b + i, mk + i);
            if (even) {
                v4f e = __builtin_shufflevector(r, r, 0, 1, 4, 5);
                memcpy(f + i / 2, &e, sizeof e);
            } else {
                memcpy(f + i, &r, sizeof r);
            }
        }
    for (; i < n2; i += 4) { /* bins i/2, i/2 + 1 (even: i/2) */
        v4f r;
        cmul_used2(&r, a + i, b + i, mk + i);
        memcpy(f + (even ? i / 2 : i), &r, (even ? 2 : 4) * sizeof(float));
    }
}

TX_AVX static void
precode_avx(const phy_ota_tx *q, float complex *F, const float complex *S, int even)
{
    if (even)
        precode_body(1, 1, q, F, S);
    else
        precode_body(1, 0, q, F, S);
}

static void precode_base(const phy_ota_tx *q, float complex *F, const float complex *S, int even)
{
    if (even)
        precode_body(0, 1, q, F, S);
    else
        precode_body(0, 0, q, F, S);
}

static void precode(const phy_ota_tx *q, float complex *F, const float complex *S, int even)
{
    if (q->avx)
        precode_avx(q, F, S, even);
    else
        precode_base(q, F, S, even);
}

/* The real mapping's data symbol s (§3.3): X[data bin j] = wd_j v[s M_data + j], v of d <= L
 * entries and zeros after them. Returns non-zero if an entry of v is NaN/Inf. */
static uint32_t map_real(const phy_ota_tx *q, float complex *X, const float *v, size_t d, size_t s)
{
    const unsigned nd = q->n_data, *bin = q->data;
    const size_t k = s * nd, have = d > k ? (d - k < nd ? d - k : nd) : 0;
    const float complex *w = q->wd;
    uint32_t bad = have ? any_nonfinite(v + k, have) : 0; /* v may be NULL when d = 0 */
    unsigned j = 0;
    for (; j < have; j++)
        X[bin[j]] = w[j] * v[k + j]; /* complex times real */
    for (; j < nd; j++)
        X[bin[j]] = 0.0f;
    return bad;
}

/* Data symbol s (§2/§3) into X (M bins; null bins already 0): pairs c_k = (v[2k] + i v[2k+1]) / eta
 * from k = s M_data on, v of d <= L entries and zeros after them (as if v were zero-padded to L).
 * Returns non-zero if an entry of v is NaN/Inf. */
static uint32_t
map_symbol(phy_ota_tx *q, float complex *X, const float *v, size_t d, size_t s, int precoded)
{
    const unsigned nd = q->n_data;
    const size_t L = q->L, k = s * nd;
    uint32_t bad = 0;
    if (q->real)
        return map_real(q, X, v, d, s);
    if (2 * (k + nd) <= d) {
        bad = map_full(q, X, v + 2 * k, 1, precoded);
    } else if (2 * (k + nd) <= L) {
        /* a full symbol of the zero-padded payload: its available entries, then zeros */
        float *z = q->pad;
        const size_t have = d > 2 * k ? d - 2 * k : 0;
        memcpy(z, v + 2 * k, have * sizeof *z);
        memset(z + have, 0, (2 * (size_t)nd - have) * sizeof *z);
        bad = map_full(q, X, z, 1, precoded);
    } else {
        /* last symbol: the remaining pairs, an odd last entry, then zeros (§3) */
        for (unsigned j = 0; j < nd; j++) {
            const size_t kk = k + j;
            float re = 2 * kk < d ? v[2 * kk] : 0.0f, im = 2 * kk + 1 < d ? v[2 * kk + 1] : 0.0f;
            bad |= any_nonfinite(&re, 1) | any_nonfinite(&im, 1);
            X[q->data[j]] = phy_cmul(q->wd[j], CMPLXF(re, im));
        }
    }
    return bad;
}

/* Samples [lo, hi) of a block (cp samples of cyclic prefix, then M: §2) whose M time samples are t,
 * to out. */
static void block_part(
    const float complex *t, unsigned M, unsigned cp, size_t lo, size_t hi, float complex *out)
{
    if (lo < cp) { /* the cyclic prefix part */
        const size_t e = hi < cp ? hi : cp;
        memcpy(out, t + M - cp + lo, (e - lo) * sizeof *out);
        out += e - lo;
        lo = e;
    }
    if (hi > lo)
        memcpy(out, t + (lo - cp), (hi - lo) * sizeof *out);
}

am_status phy_ota_tx_execute_range(phy_ota_tx *q,
                                   const float *v,
                                   size_t d,
                                   float eta,
                                   const float complex *p,
                                   size_t u0,
                                   size_t n,
                                   float complex *out)
{
    if (!q || (!v && d) || (!out && n))
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    if (d > q->L)
        return AM_FAIL(AM_EINVAL, "ota_tx: payload of %zu reals exceeds payload_len %zu", d, q->L);
    if (u0 > q->burst_len || n > q->burst_len - u0)
        return AM_FAIL(AM_EINVAL, "ota_tx: samples %zu..%zu are outside the burst (%zu)", u0,
                       u0 + n, q->burst_len);
    if (!isfinite(eta) || eta <= 0.0f)
        return AM_FAIL(AM_EINVAL, "ota_tx: scale eta = %g must be finite and > 0 (§3)",
                       (double)eta);
    const unsigned M = q->M, cp = q->cp;
    const size_t B = q->B;
    const unsigned long long tp0 = q->prof ? prof_ns() : 0;
    unsigned long long tp = tp0;
    /* the kept values are the key's: p's content equal to pk's (so already checked finite) */
    if (p ? q->key != 2 || memcmp(p, q->pk, M * sizeof *p) != 0 : q->key != 1) {
        if (p && any_nonfinite((const float *)p, 2 * (size_t)M)) {
            size_t pb = phy_first_nonfinite((const float *)p, 2 * (size_t)M);
            return AM_FAIL(AM_EINVAL, "ota_tx: precoder entry p[%zu] is not finite", pb / 2);
        }
        if (p)
            memcpy(q->pk, p, M * sizeof *p);
        q->key = p ? 2 : 1;
        q->w_ok = q->pre_ok = q->cal_ok = 0;
    }
    if (n == 0)
        return AM_OK;

    /* §1 scaling and §4 precoding folded into one weight per used bin */
    uint32_t eb;
    memcpy(&eb, &eta, sizeof eb);
    if (!q->w_ok || eb != q->eta_k) {
        weights(q, p, 1.0f / sqrtf((float)q->n_used), 1.0f / eta);
        q->w_ok = 1;
        q->eta_k = eb;
    }
    prof_lap(q, PHY_TX_ST_WEIGHTS, &tp);
    const float complex *pp = q->pp;
    const size_t u1 = u0 + n, bfirst = u0 / B, blast = (u1 - 1) / B;

    /* preamble: precomputed when un-precoded, otherwise its values times the precoder (§4).
     * S0a|S0b (§2) lives on the even bins and is one periodic stretch of period M/2 (X_S0b[i] =
     * X_S0a[i] e^{+j 2 pi i (M + cp) / M}, for the precoded values too): its samples are
     * h[(u - cp) mod M/2] for burst samples u < 2 B, h[t] = sum_k pp[2k] X_S0a[2k]
     * e^{+j 2 pi k t / (M/2)}, one M/2-point transform for both blocks. S1 is transformed. */
    if (bfirst < 3) {
        const float complex *pre = phy_frame_preamble(q->frame);
        const unsigned P = M / 2;
        if (p && !q->pre_ok) {
            const float complex *s0 = phy_frame_s0a(q->frame);
            precode(q, q->Fh, s0, 1);
            precode(q, q->Fp, phy_frame_s1(q->frame), 0);
            prof_lap(q, PHY_TX_ST_MAP, &tp);
            phy_fft_execute(q->ifft_half);
            phy_fft_execute_on(q->ifft, q->Fp, q->Tp);
            prof_lap(q, PHY_TX_ST_IFFT, &tp);
            q->pre_ok = 1;
        }
        for (size_t b = bfirst; b < 3 && b <= blast; b++) {
            const size_t lo = b == bfirst ? u0 - b * B : 0, hi = b == blast ? u1 - b * B : B;
            float complex *o = out + (b * B + lo - u0);
            if (!p) {
                memcpy(o, pre + b * B + lo, (hi - lo) * sizeof *out);
            } else if (b == 2) {
                block_part(q->Tp, M, cp, lo, hi, o);
            } else { /* h read cyclically from index (b B + lo - cp) mod P */
                size_t t = (b * B + lo + P - cp % P) % P, left = hi - lo;
                while (left) {
                    const size_t c = P - t < left ? P - t : left;
                    memcpy(o, q->Th + t, c * sizeof *o);
                    o += c;
                    left -= c;
                    t = 0;
                }
            }
        }
        prof_lap(q, PHY_TX_ST_COPY, &tp);
    }

    /* §8.1: calibration blocks 3 .. D0-1; the slot's own block carries sqrt(P) S1 on its comb */
    const size_t D0 = q->D0;
    if (q->Nc && bfirst < D0 && blast >= 3) {
        const unsigned own = 3 + q->slot / q->P, tooth = q->slot % q->P;
        if (!q->cal_ok || q->cal_slot != q->slot || q->cal_drift != q->drift) {
            const float complex *S1 = phy_frame_s1(q->frame);
            const float sp = sqrtf((float)q->P);
            memset(q->Fc, 0, M * sizeof *q->Fc);
            for (unsigned u = tooth; u < q->n_used; u += q->P) {
                unsigned i = q->used[u];
                q->Fc[i] = phy_cmul(pp[i], sp * S1[i]);
            }
            if (q->drift != 0.0)
                memcpy(q->Fc, drift_block(q, q->Fc, own), M * sizeof *q->Fc);
            prof_lap(q, PHY_TX_ST_MAP, &tp);
            phy_fft_execute(q->ifft_cal);
            prof_lap(q, PHY_TX_ST_IFFT, &tp);
            q->cal_ok = 1;
            q->cal_slot = q->slot;
            q->cal_drift = q->drift;
        }
        for (size_t b = bfirst > 3 ? bfirst : 3; b < D0 && b <= blast; b++) {
            const size_t lo = b == bfirst ? u0 - b * B : 0, hi = b == blast ? u1 - b * B : B;
            if (b == own)
                block_part(q->Tc, M, cp, lo, hi, out + (b * B + lo - u0));
            else
                memset(out + (b * B + lo - u0), 0, (hi - lo) * sizeof *out);
        }
        prof_lap(q, PHY_TX_ST_COPY, &tp);
    }

    /* §2/§3: data symbols s0..s1-1 (those the range touches), a chunk of C symbols at a time */
    uint32_t bad = 0; /* payload NaN/Inf, checked while mapping (one pass over v) */
    if (blast >= D0) {
        const size_t s_first = bfirst > D0 ? bfirst - D0 : 0, s_end = blast - D0 + 1;
        /* pilots (+a precoded, §2) into the chunk's symbols once per call: the data mapping never
         * writes a pilot or null bin */
        const size_t cmax = s_end - s_first < q->C ? s_end - s_first : q->C;
        const float a = q->pilot_level;
        for (size_t s = 0; s < cmax; s++)
            for (unsigned j = 0; j < q->n_pilot; j++)
                q->F[s * M + q->pilot[j]] = a * pp[q->pilot[j]];
        for (size_t c0 = s_first; c0 < s_end; c0 += q->C) {
            size_t c = s_end - c0 < q->C ? s_end - c0 : q->C;
            /* the chunk's leading symbols whose values are all in v, in one pass over the ops */
            const size_t nv = q->real ? 0 : d / (2 * (size_t)q->n_data); /* symbols all in v */
            const size_t nf = nv <= c0 ? 0 : nv - c0 < c ? nv - c0 : c;
            if (nf)
                bad |= map_full(q, q->F, v + 2 * c0 * q->n_data, nf, p != NULL);
            for (size_t s = nf; s < c; s++)
                bad |= map_symbol(q, q->F + s * M, v, d, c0 + s, p != NULL);
            prof_lap(q, PHY_TX_ST_MAP, &tp);
            for (size_t s = 0; s < c; s++) { /* §2: cp samples of cyclic prefix, then M samples */
                const size_t b = D0 + c0 + s, start = b * B;
                const float complex *fs =
                    q->drift != 0.0 ? drift_block(q, q->F + s * M, b) : q->F + s * M;
                if (start >= u0 && start + B <= u1) { /* the whole block */
                    float complex *o = out + (start - u0);
                    if (phy_fft_fits(q->ifft, fs, o + cp)) { /* straight into the output */
                        phy_fft_execute_on(q->ifft, fs, o + cp);
                        prof_lap(q, PHY_TX_ST_IFFT, &tp);
                        memcpy(o, o + M, cp * sizeof(float complex));
                        prof_lap(q, PHY_TX_ST_COPY, &tp);
                        continue;
                    }
                    float complex *t = q->T + s * M;
                    phy_fft_execute_on(q->ifft, fs, t);
                    prof_lap(q, PHY_TX_ST_IFFT, &tp);
                    memcpy(o, t + M - cp, cp * sizeof(float complex));
                    memcpy(o + cp, t, M * sizeof(float complex));
                } else { /* the range starts or ends inside it */
                    const size_t lo = start < u0 ? u0 - start : 0;
                    const size_t hi = start + B > u1 ? u1 - start : B;
                    float complex *t = q->T + s * M;
                    phy_fft_execute_on(q->ifft, fs, t);
                    prof_lap(q, PHY_TX_ST_IFFT, &tp);
                    block_part(t, M, cp, lo, hi, out + (start + lo - u0));
                }
                prof_lap(q, PHY_TX_ST_COPY, &tp);
            }
        }
    }
    if (q->prof)
        q->prof[PHY_TX_ST_TOTAL] += prof_ns() - tp0;
    if (bad) {
        size_t e = phy_first_nonfinite(v, d);
        return AM_FAIL(AM_EINVAL, "ota_tx: payload entry %zu is %g (not finite)", e, (double)v[e]);
    }
    return AM_OK;
}

am_status phy_ota_tx_execute(phy_ota_tx *q,
                             const float *v,
                             float eta,
                             const float complex *p,
                             float complex *out,
                             size_t cap)
{
    if (!q || !v || !out)
        return AM_FAIL(AM_EINVAL, "ota_tx: NULL argument");
    if (cap < q->burst_len)
        return AM_FAIL(AM_EINVAL, "ota_tx: output capacity %zu < burst length %zu", cap,
                       q->burst_len);
    return phy_ota_tx_execute_range(q, v, q->L, eta, p, 0, q->burst_len, out);
}

void phy_rotate_from(
    float complex *x, size_t n, double eps, unsigned nfft, double phase0, size_t first)
{
    if (!x || n == 0 || nfft == 0 || eps == 0.0) {
        if (x && phase0 != 0.0) {
            float complex r = (float complex)cexp(I * phase0);
            for (size_t t = 0; t < n; t++)
                x[t] = phy_cmul(x[t], r);
        }
        return;
    }
    /* anchor the phase in double every 64 samples (of the whole stream, whatever `first`), a
     * float step table in between */
    enum { K = 64 };
    const double w = 2.0 * M_PI * eps / (double)nfft;
    float complex step[K];
    for (unsigned k = 0; k < K; k++)
        step[k] = (float complex)cexp(I * (w * (double)k));
    const size_t end = first + n;
    for (size_t t0 = first - first % K; t0 < end; t0 += K) {
        double ph = fmod(phase0 + w * (double)t0, 2.0 * M_PI);
        float complex a = (float complex)cexp(I * ph);
        const size_t b = t0 < first ? first - t0 : 0, e = t0 + K < end ? K : end - t0;
        for (size_t k = b; k < e; k++)
            x[t0 + k - first] = phy_cmul(x[t0 + k - first], phy_cmul(a, step[k]));
    }
}

void phy_rotate(float complex *x, size_t n, double eps, unsigned nfft, double phase0)
{
    phy_rotate_from(x, n, eps, nfft, phase0, 0);
}
