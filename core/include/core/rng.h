/* core/rng: explicit, seeded random state (xoshiro256** seeded by splitmix64).
 * Every random draw in airmeta goes through one of these, never rand() or liquid's randnf(). */
#ifndef AM_CORE_RNG_H
#define AM_CORE_RNG_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

typedef struct am_rng {
    uint64_t s[4];
} am_rng;

void am_rng_seed(am_rng *r, uint64_t seed);
/* Independent stream derived from (seed, stream id), e.g. one per agent. */
void am_rng_seed2(am_rng *r, uint64_t seed, uint64_t stream);
uint64_t am_rng_u64(am_rng *r);
double am_rng_uniform(am_rng *r);                    /* [0, 1) */
double am_rng_uniform_range(am_rng *r, double a, double b); /* [a, b) */
uint32_t am_rng_below(am_rng *r, uint32_t n);        /* 0..n-1, unbiased; n > 0 */
double am_rng_normal(am_rng *r);                     /* N(0, 1) */
float complex am_rng_cnormal(am_rng *r);             /* CN(0, 1): E|z|^2 = 1 (polar method) */
/* N(0, 1) by the ziggurat (Marsaglia-Tsang, 256 layers): one u64 for 99.3 % of draws, a stream of
 * its own (not am_rng_normal's values). */
double am_rng_normal_zig(am_rng *r);
/* y[t] = sd CN(0, 1), t < n: real part then imaginary part, each sd / sqrt(2) am_rng_normal_zig
 * (the channel emulator's AWGN). */
void am_rng_cnormal_fill(am_rng *r, float sd, float complex *y, size_t n);
/* Fisher-Yates: first k entries of idx[0..n) become a uniform random k-subset (in random order). */
void am_rng_partial_shuffle(am_rng *r, uint32_t *idx, uint32_t n, uint32_t k);

#endif
