/* tests/host/agg_bench: K update vectors of D floats and the outputs of one aggregation, shared by
 * the aggregator tests (tests/host/agg_iq.c, agg_iq_cal.c). */
#ifndef AM_TESTS_HOST_AGG_BENCH_H
#define AM_TESTS_HOST_AGG_BENCH_H

#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

typedef struct bench {
    size_t K, D;
    float **x, **del;
    float *out, *act;
} bench;

/* Allocates every vector; 0 when out of memory (free with bench_free either way). */
static inline int bench_new(bench *b, size_t K, size_t D)
{
    memset(b, 0, sizeof *b);
    b->K = K;
    b->D = D;
    b->x = calloc(K, sizeof *b->x);
    b->del = calloc(K, sizeof *b->del);
    b->out = malloc(D * sizeof *b->out);
    b->act = malloc(D * sizeof *b->act);
    if (!b->x || !b->del || !b->out || !b->act)
        return 0;
    for (size_t k = 0; k < K; k++)
        if (!(b->x[k] = malloc(D * sizeof(float))) || !(b->del[k] = malloc(D * sizeof(float))))
            return 0;
    return 1;
}

static inline void bench_free(bench *b)
{
    for (size_t k = 0; b->x && k < b->K; k++) {
        free(b->x[k]);
        free(b->del[k]);
    }
    free(b->x);
    free(b->del);
    free(b->out);
    free(b->act);
}

/* Every agent's vector: independent standard normals from g, agent by agent. */
static inline void fill_gauss(bench *b, am_rng *g)
{
    for (size_t k = 0; k < b->K; k++)
        for (size_t j = 0; j < b->D; j++)
            b->x[k][j] = (float)am_rng_normal(g);
}

#endif
