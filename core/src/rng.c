#include "core/rng.h"

#include <math.h>
#include <pthread.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void am_rng_seed(am_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

void am_rng_seed2(am_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x632be59bd9b4e019ULL);
    uint64_t mix = splitmix64(&x);
    am_rng_seed(r, mix ^ stream);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t am_rng_u64(am_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double am_rng_uniform(am_rng *r)
{
    return (double)(am_rng_u64(r) >> 11) * 0x1.0p-53;
}

double am_rng_uniform_range(am_rng *r, double a, double b)
{
    return a + (b - a) * am_rng_uniform(r);
}

uint32_t am_rng_below(am_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t m = (uint64_t)(uint32_t)(am_rng_u64(r) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (low < t) {
            m = (uint64_t)(uint32_t)(am_rng_u64(r) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* Marsaglia polar method: (u, v) uniform in the unit disc without its centre; returns
 * s = u^2 + v^2. u sqrt(-2 ln(s) / s) and v sqrt(-2 ln(s) / s) are independent N(0, 1). */
static double polar(am_rng *r, double *u, double *v)
{
    double s;
    do {
        *u = 2.0 * am_rng_uniform(r) - 1.0;
        *v = 2.0 * am_rng_uniform(r) - 1.0;
        s = *u * *u + *v * *v;
    } while (s >= 1.0 || s == 0.0);
    return s;
}

double am_rng_normal(am_rng *r)
{
    /* the spare value is dropped to keep the state a plain seed */
    double u, v, s = polar(r, &u, &v);
    return u * sqrt(-2.0 * log(s) / s);
}

float complex am_rng_cnormal(am_rng *r)
{
    double u, v, s = polar(r, &u, &v);
    double f = sqrt(-log(s) / s); /* each part N(0, 1/2) */
    return (float)(u * f) + (float)(v * f) * I;
}

/* The ziggurat of Marsaglia and Tsang ("The ziggurat method for generating random variables",
 * J. Stat. Softw. 5(8), 2000) with 256 layers of area V under f(x) = exp(-x^2 / 2), x >= 0: layer
 * 0 is the rectangle [0, V / f(R)] x [0, f(R)] with the tail beyond R, layer i >= 1 the rectangle
 * [0, zx[i]] x [f(zx[i]), f(zx[i+1])], zx[1] = R, zx[256] = 0. One draw: the low 8 bits of a u64
 * pick the layer, its top 53 bits (disjoint, as Doornik's ZIGNOR does it) a signed uniform u in
 * [-1, 1); u zx[i] is returned at once when it lies under the layer above (|u| < zx[i+1] / zx[i],
 * 99.3 % of draws), else the wedge test or Marsaglia's tail (2 logs) decide and a miss draws again.
 * The tables are made once per process (the same libm calls: the same tables every run). */
#define ZIG_N 256
#define ZIG_R 3.6541528853610088
#define ZIG_V 4.92867323399e-3

static double zx[ZIG_N + 1], zf[ZIG_N + 1], zr[ZIG_N];
static pthread_once_t zig_once = PTHREAD_ONCE_INIT;

static void zig_init(void)
{
    zx[0] = ZIG_V / exp(-0.5 * ZIG_R * ZIG_R);
    zx[1] = ZIG_R;
    for (int i = 1; i < ZIG_N - 1; i++)
        zx[i + 1] = sqrt(-2.0 * log(ZIG_V / zx[i] + exp(-0.5 * zx[i] * zx[i])));
    zx[ZIG_N] = 0.0;
    for (int i = 0; i <= ZIG_N; i++)
        zf[i] = exp(-0.5 * zx[i] * zx[i]);
    zf[0] = exp(-0.5 * ZIG_R * ZIG_R); /* layer 0's top is f(R) */
    for (int i = 0; i < ZIG_N; i++)
        zr[i] = zx[i + 1] / zx[i];
}

/* (0, 1]: never 0, for the tail's logarithms */
static inline double uniform_open0(am_rng *r)
{
    return (double)((am_rng_u64(r) >> 11) + 1) * 0x1.0p-53;
}

/* A draw that is not in the rectangle under layer i's upper neighbour: the wedge test (layers
 * i >= 1) or the tail beyond R (layer 0); a miss is a whole new draw. */
static double zig_miss(am_rng *r, unsigned i, double u);

static inline double zig_normal(am_rng *r)
{
    uint64_t b = am_rng_u64(r);
    unsigned i = (unsigned)(b & (ZIG_N - 1));
    double u = (double)(b >> 11) * 0x1.0p-52 - 1.0;
    if (__builtin_expect(fabs(u) < zr[i], 1))
        return u * zx[i];
    return zig_miss(r, i, u);
}

static __attribute__((noinline)) double zig_miss(am_rng *r, unsigned i, double u)
{
    for (;;) {
        if (i == 0) { /* beyond R: x = R + a, a ~ exp(-R a) accepted with exp(-a^2 / 2) */
            double a, c;
            do {
                a = -log(uniform_open0(r)) / ZIG_R;
                c = -log(uniform_open0(r));
            } while (c + c < a * a);
            return u < 0.0 ? -(ZIG_R + a) : ZIG_R + a;
        }
        double x = u * zx[i];
        if (zf[i] + am_rng_uniform(r) * (zf[i + 1] - zf[i]) < exp(-0.5 * x * x))
            return x;
        uint64_t b = am_rng_u64(r);
        i = (unsigned)(b & (ZIG_N - 1));
        u = (double)(b >> 11) * 0x1.0p-52 - 1.0;
        if (fabs(u) < zr[i])
            return u * zx[i];
    }
}

double am_rng_normal_zig(am_rng *r)
{
    pthread_once(&zig_once, zig_init);
    return zig_normal(r);
}

void am_rng_cnormal_fill(am_rng *r, float sd, float complex *y, size_t n)
{
    pthread_once(&zig_once, zig_init);
    const double g = (double)sd * M_SQRT1_2; /* each part N(0, sd^2 / 2) */
    /* the generator's state in registers; back in *r only around a miss (0.7 % of draws) */
    am_rng st = *r;
    for (size_t t = 0; t < n; t++) {
        double v[2];
        for (int p = 0; p < 2; p++) {
            uint64_t b = am_rng_u64(&st);
            unsigned i = (unsigned)(b & (ZIG_N - 1));
            double u = (double)(b >> 11) * 0x1.0p-52 - 1.0;
            if (__builtin_expect(fabs(u) < zr[i], 1)) {
                v[p] = u * zx[i];
            } else {
                *r = st;
                v[p] = zig_miss(r, i, u);
                st = *r;
            }
        }
        y[t] = CMPLXF((float)(g * v[0]), (float)(g * v[1]));
    }
    *r = st;
}

void am_rng_partial_shuffle(am_rng *r, uint32_t *idx, uint32_t n, uint32_t k)
{
    if (k > n)
        k = n;
    for (uint32_t i = 0; i < k; i++) {
        uint32_t j = i + am_rng_below(r, n - i);
        uint32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}
