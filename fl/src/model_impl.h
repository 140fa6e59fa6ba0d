/* fl/model internals shared by model.c (object, validation), mlp.c and cnn.c. Private. */
#ifndef AM_FL_MODEL_IMPL_H
#define AM_FL_MODEL_IMPL_H

#include "fl/model.h"

#include <stdint.h>

#define FL_CNN_MAX_BLOCKS 8

typedef enum fl_arch { FL_ARCH_MLP, FL_ARCH_CNN } fl_arch;

typedef struct fl_mlp_layer {
    size_t in, out;      /* widths */
    size_t w_off, b_off; /* offsets in theta */
    float *A;            /* [2 max_batch x out]: [R{a}; a] for the current n (a post-ReLU) */
    float *S;            /* [2 max_batch x out]: [d; R{d}], d = dL/d pre-activation */
    float *WT;           /* [out x in]: W^T of the held theta (fl_model_hold) */
} fl_mlp_layer;

typedef struct fl_cnn_block {
    size_t c, h, w, ho, wo;             /* input channels and size, pooled size */
    size_t chunk;                       /* samples per im2col chunk */
    size_t w_off, b_off, g_off, be_off; /* theta offsets (b: no BN; g, be: BN) */
    float *xhat, *rstd;                 /* BN: [F][N h w], [F] */
    int32_t *idx;                       /* [F][N][ho][wo] pool argmax */
    float *pool;                        /* [F][N][ho][wo] block output = next block input */
    float *rconv, *rxhat;               /* BN: R{conv output}, R{xhat} */
    float *rpool;                       /* R{pool} */
} fl_cnn_block;

struct fl_model {
    fl_arch arch;
    size_t nparams, in_dim, out_dim, max_batch;
    char desc[128];
    fl_loss default_loss;

    float *mem;    /* every float workspace, one allocation */
    int32_t *imem; /* every int workspace */

    /* common: [max_batch x out_dim] (MLP: pointers into the last layer, set by each forward) */
    float *out, *dout, *rout, *rdout, *prob;

    /* MLP */
    unsigned *widths;
    size_t nwidths, nlayers;
    fl_mlp_layer *layers;
    fl_init init;

    /* CNN */
    fl_cnn_cfg cnn;
    fl_cnn_block blk[FL_CNN_MAX_BLOCKS];
    size_t feat_dim, head_w_off, head_b_off;
    float *in0;          /* CNHW copy of the input (in_channels > 1) */
    const float *cur_x0; /* block 0 input of the last forward: in0 or the caller's x */
    float *col;          /* im2col workspace */
    float *conv_tmp;     /* BN input (conv output) */
    float *feat, *rfeat, *dfeat, *rdfeat;              /* [N x feat_dim] */
    float *gA, *gB, *rgA, *rgB;                        /* gradients of block outputs (ping-pong) */
    float *act, *dact, *dconv, *rdact, *rdconv, *ract; /* scratch [F][N][h][w], aliased: cnn.c */

    /* the last pass was an MLP loss_grad at (theta, x, n, loss): its values and deltas are still
     * in the stacked buffers (fl_model_hvp_again); cleared by every other pass */
    const float *held; /* fl_model_hold's theta (MLP: each layer's WT is its W^T), or NULL */

    int again;
    const float *again_theta, *again_x;
    size_t again_n;
    fl_loss again_loss;
};

/* Workspace carving: run a setup once with base == NULL to count, then with the allocation.
 * Every piece is rounded up to 16 entries (64-byte alignment of a 64-byte aligned base). */
typedef struct fl_arena {
    float *base;
    size_t used;
    int32_t *ibase;
    size_t iused;
} fl_arena;
float *fl_arena_take(fl_arena *a, size_t n);
int32_t *fl_arena_itake(fl_arena *a, size_t n);

/* Run by fl_model_loss_grad / hvp after validation. x: n x in_dim. v == NULL: no R pass.
 * Forward leaves the output in m->out; grad / hv may be NULL; both are overwritten. */
/* MLP: forward and (v != NULL) R-forward in one sweep; sets m->out, rout, dout, rdout. */
void fl_mlp_forward(fl_model *m, const float *theta, const float *v, const float *x, size_t n);
/* The R-forward, then (after the loss R-backward) the R-backward into hv (overwritten) only, on
 * the values and deltas a plain forward + loss + backward (grad) pass at the same (theta, x, n)
 * left in the stacked buffers. */
void fl_mlp_rforward_again(
    fl_model *m, const float *theta, const float *v, const float *x, size_t n);
void fl_mlp_rbackward_again(
    fl_model *m, const float *theta, const float *v, const float *x, size_t n, float *hv);
void fl_mlp_backward(fl_model *m,
                     const float *theta,
                     const float *v,
                     const float *x,
                     size_t n,
                     float *grad,
                     float *hv);
void fl_mlp_setup(fl_model *m, fl_arena *a);
void fl_mlp_hold(fl_model *m, const float *theta);

void fl_cnn_forward(fl_model *m, const float *theta, const float *x, size_t n);
void fl_cnn_rforward(fl_model *m, const float *theta, const float *v, size_t n);
void fl_cnn_backward(
    fl_model *m, const float *theta, const float *v, size_t n, float *grad, float *hv);
void fl_cnn_setup(fl_model *m, fl_arena *a);

#endif
