/* fl/sparse: top-k / random-k sparsification of an update vector and the error-feedback memory.
 * Implements docs/paper.md §2 ("sparsified to s entries", "error-feedback memory") and §3 (x =
 * sparsify(v)). */
#ifndef AM_FL_SPARSE_H
#define AM_FL_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

typedef enum fl_sparse_kind {
    FL_SPARSE_NONE = 0, /* x = v (no sparsification) */
    FL_SPARSE_TOPK,     /* the k entries of largest magnitude */
    FL_SPARSE_RANDK     /* k entries drawn uniformly without replacement (no D/k rescaling) */
} fl_sparse_kind;

typedef struct fl_sparse_cfg {
    size_t dim; /* D, length of the vectors */
    fl_sparse_kind kind;
    double keep; /* fraction of entries kept, (0, 1]; k = ceil(keep * D) */
    size_t s;    /* when > 0: keep exactly s entries (overrides keep), s <= D */
} fl_sparse_cfg;

/* Defaults: no sparsification (keep = 1, s = 0); dim must be set. */
void fl_sparse_cfg_default(fl_sparse_cfg *cfg);

/* Parses "none" / "topk" / "randk"; AM_EINVAL with a message otherwise. */
am_status fl_sparse_kind_parse(const char *name, fl_sparse_kind *out);
const char *fl_sparse_kind_name(fl_sparse_kind kind);

/* Workspace of 2*D words (magnitudes, indices): one object per thread. */
typedef struct fl_sparse fl_sparse;

am_status fl_sparse_create(const fl_sparse_cfg *cfg, fl_sparse **out);
void fl_sparse_destroy(fl_sparse *q); /* NULL is a no-op */

/* Number of entries each call keeps (k). */
size_t fl_sparse_k(const fl_sparse *q);
size_t fl_sparse_dim(const fl_sparse *q);

/* x = sparsify(v) (both length D, may not alias): x keeps k entries of v, zero elsewhere.
 * top-k: average O(D) (three-way quickselect on |v|); among entries tied at the k-th largest
 * magnitude the lowest indices win, so the set equals a stable sort by (|v| desc, index asc).
 * random-k: draws from rng (needed only then; may be NULL otherwise).
 * v must be finite (the caller checks updates, see fl_vec_finite). Does not allocate. */
void fl_sparse_execute(fl_sparse *q, const float *v, float *x, am_rng *rng);

/* Error-feedback memory (docs/paper.md §3): m = v - delivered, entry by entry (length d);
 * entries that were not sent or were truncated by the channel stay in the memory. */
void fl_sparse_memory_update(float *m, const float *v, const float *delivered, size_t d);

/* 1 when every entry of v[0..d) is finite. */
int fl_vec_finite(const float *v, size_t d);

#endif
