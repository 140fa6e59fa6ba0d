/* fl/sparse: top-k / random-k sparsification and error-feedback memory (docs/paper.md §2-§3). */
#include "fl/sparse.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fl_sparse {
    fl_sparse_cfg cfg;
    size_t k;
    float *mag;    /* D: |v| scratch for the selection */
    uint32_t *idx; /* D: index scratch for random-k */
};

void fl_sparse_cfg_default(fl_sparse_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = FL_SPARSE_NONE;
    cfg->keep = 1.0;
}

am_status fl_sparse_kind_parse(const char *name, fl_sparse_kind *out)
{
    if (name && strcmp(name, "none") == 0)
        *out = FL_SPARSE_NONE;
    else if (name && strcmp(name, "topk") == 0)
        *out = FL_SPARSE_TOPK;
    else if (name && strcmp(name, "randk") == 0)
        *out = FL_SPARSE_RANDK;
    else
        return AM_FAIL(AM_EINVAL, "sparsify: '%s' is not one of none|topk|randk",
                       name ? name : "(null)");
    return AM_OK;
}

const char *fl_sparse_kind_name(fl_sparse_kind kind)
{
    switch (kind) {
    case FL_SPARSE_NONE:
        return "none";
    case FL_SPARSE_TOPK:
        return "topk";
    case FL_SPARSE_RANDK:
        return "randk";
    }
    return "?";
}

am_status fl_sparse_create(const fl_sparse_cfg *cfg, fl_sparse **out)
{
    *out = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "sparse: no config");
    if (cfg->dim == 0 || cfg->dim > UINT32_MAX)
        return AM_FAIL(AM_EINVAL, "sparse: dimension %zu outside 1..%u", cfg->dim, UINT32_MAX);
    if (cfg->kind != FL_SPARSE_NONE && cfg->kind != FL_SPARSE_TOPK && cfg->kind != FL_SPARSE_RANDK)
        return AM_FAIL(AM_EINVAL, "sparse: unknown kind %d", (int)cfg->kind);
    size_t k = cfg->dim;
    if (cfg->s > 0) {
        if (cfg->s > cfg->dim)
            return AM_FAIL(AM_EINVAL, "sparse: s = %zu entries exceeds the dimension %zu", cfg->s,
                           cfg->dim);
        k = cfg->s;
    } else {
        if (!(cfg->keep > 0.0 && cfg->keep <= 1.0))
            return AM_FAIL(AM_EINVAL, "sparse: keep fraction %g outside (0, 1]", cfg->keep);
        double kk = ceil(cfg->keep * (double)cfg->dim);
        k = kk < 1.0 ? 1 : (kk > (double)cfg->dim ? cfg->dim : (size_t)kk);
    }
    if (cfg->kind == FL_SPARSE_NONE)
        k = cfg->dim;
    fl_sparse *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "sparse: out of memory");
    q->cfg = *cfg;
    q->k = k;
    q->mag = malloc(cfg->dim * sizeof *q->mag);
    q->idx = malloc(cfg->dim * sizeof *q->idx);
    if (!q->mag || !q->idx) {
        fl_sparse_destroy(q);
        return AM_FAIL(AM_ENOMEM, "sparse: out of memory for %zu entries", cfg->dim);
    }
    *out = q;
    return AM_OK;
}

void fl_sparse_destroy(fl_sparse *q)
{
    if (!q)
        return;
    free(q->mag);
    free(q->idx);
    free(q);
}

size_t fl_sparse_k(const fl_sparse *q)
{
    return q->k;
}

size_t fl_sparse_dim(const fl_sparse *q)
{
    return q->cfg.dim;
}

static void swapf(float *a, size_t i, size_t j)
{
    float t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* The r-th smallest value of a[0..n) (r < n); a is permuted. Iterative quickselect with a
 * median-of-three pivot and three-way partitioning (runs of equal values, e.g. the exact zeros
 * of dead ReLU units, cost O(n) instead of O(n^2)). Average O(n). */
static float select_rank(float *a, size_t n, size_t r)
{
    size_t lo = 0, hi = n; /* half-open window that contains rank r */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi - 1];
        float p = (x < y) ? ((y < z) ? y : (x < z ? z : x)) : ((x < z) ? x : (y < z ? z : y));
        /* a[lo..lt) < p, a[lt..i) == p, a[gt..hi) > p */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            if (a[i] < p)
                swapf(a, lt++, i++);
            else if (a[i] > p)
                swapf(a, i, --gt);
            else
                i++;
        }
        if (r < lt)
            hi = lt;
        else if (r >= gt)
            lo = gt;
        else
            return p;
    }
    return a[lo];
}

void fl_sparse_execute(fl_sparse *q, const float *v, float *x, am_rng *rng)
{
    const size_t d = q->cfg.dim, k = q->k;
    if (q->cfg.kind == FL_SPARSE_NONE || k >= d) {
        memcpy(x, v, d * sizeof *x);
        return;
    }
    if (q->cfg.kind == FL_SPARSE_RANDK) {
        for (size_t i = 0; i < d; i++)
            q->idx[i] = (uint32_t)i;
        /* Reset every call: the draw then depends on rng only, not on earlier calls. */
        am_rng_partial_shuffle(rng, q->idx, (uint32_t)d, (uint32_t)k);
        memset(x, 0, d * sizeof *x);
        for (size_t i = 0; i < k; i++)
            x[q->idx[i]] = v[q->idx[i]];
        return;
    }
    /* top-k: threshold t = k-th largest magnitude = rank (d - k) in ascending order. */
    for (size_t i = 0; i < d; i++)
        q->mag[i] = fabsf(v[i]);
    const float t = select_rank(q->mag, d, d - k);
    size_t above = 0;
    for (size_t i = 0; i < d; i++)
        above += fabsf(v[i]) > t;
    size_t ties = k - above; /* entries equal to t that still fit, lowest indices first */
    for (size_t i = 0; i < d; i++) {
        float a = fabsf(v[i]);
        if (a > t) {
            x[i] = v[i];
        } else if (a == t && ties > 0) {
            x[i] = v[i];
            ties--;
        } else {
            x[i] = 0.0f;
        }
    }
}

void fl_sparse_memory_update(float *m, const float *v, const float *delivered, size_t d)
{
    for (size_t i = 0; i < d; i++)
        m[i] = v[i] - delivered[i];
}

int fl_vec_finite(const float *v, size_t d)
{
    /* exponent bits all ones = NaN/Inf; a branch-free bit test per block (vectorised; the
     * branchy isfinite loop was not, and K x D updates of a round go through here) */
    const size_t blk = 1024;
    for (size_t b = 0; b < d; b += blk) {
        const size_t e = d - b < blk ? d : b + blk;
        uint32_t bad = 0;
        for (size_t i = b; i < e; i++) {
            uint32_t u;
            memcpy(&u, v + i, sizeof u);
            bad |= (uint32_t)((u & 0x7f800000u) == 0x7f800000u);
        }
        if (bad)
            return 0;
    }
    return 1;
}
