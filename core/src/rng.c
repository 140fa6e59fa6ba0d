#include "core/rng.h"

#include <math.h>

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
