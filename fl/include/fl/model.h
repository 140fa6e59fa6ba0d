/* fl/model: the learners' models -- a ReLU multilayer perceptron of any widths and the 4-block
 * conv net of few-shot learning -- with loss, gradient and exact Hessian-vector products.
 * Implements issue 3 item 1 (models on OpenBLAS, MSE / softmax cross-entropy) for docs/paper.md §1.
 *
 * Parameters live OUTSIDE the model, in one contiguous float buffer `theta` of fl_model_nparams()
 * floats (llm.c style), so a meta-model, a gradient or an over-the-air payload is a pointer and a
 * length. The model object holds the architecture and the workspace for up to max_batch samples
 * (all allocated at create: forward / loss_grad / hvp never allocate). A model object is used by
 * one thread at a time; threads share `theta` read-only and each use their own fl_model_clone().
 *
 * Parameter layout of theta (order of the layers, each layer's weights then its biases):
 *   MLP, widths {w0, w1, ..., wL}: for l = 1..L: W_l [w_{l-1} x w_l] row-major (out = in * W_l),
 *       then b_l [w_l].  ReLU after every layer except the last (linear output).
 *   CNN, per block k = 0..n_blocks-1 (C_in = in_channels for k = 0, else filters):
 *       W_k [filters x C_in*9] row-major, index (f, c*9 + ky*3 + kx) (cross-correlation),
 *       then  without batch-norm: bias b_k [filters];
 *             with batch-norm:    gamma_k [filters], beta_k [filters]  (no conv bias: batch-norm
 *                                 would cancel it, and it would add a flat Hessian direction);
 *       then the linear head W [F*Hf*Wf x n_classes] row-major, b [n_classes], where the
 *       features of a sample are its last block's output flattened as (channel, row, col).
 *   Block: conv 3x3 stride 1 padding 1 ("same") -> [batch-norm] -> ReLU -> 2x2 max-pool stride 2
 *       (floor: an odd row/column is dropped, 28 -> 14 -> 7 -> 3 -> 1).
 *
 * Batch-norm is TRANSDUCTIVE, as in few-shot MAML: every call normalises each channel with the
 * mean and (biased) variance of the batch it is given (over samples and pixels, eps = 1e-5); there
 * are no running averages and no train/eval switch. Consequently the output of one sample depends
 * on the other samples of the call, and forward/accuracy on a query set use the query set's own
 * statistics (MAML's reference implementation does the same).
 *
 * Cost (one core, OpenBLAS 0.3.21; `airmeta bench fl`): MLP 1-40-40-1 at batch 10: loss_grad
 * ~3 us, hvp ~7 us. CNN 1x28x28 4x64 bn at batch 25: loss_grad ~35 ms, hvp ~85 ms. Workspace:
 * CNN about (8 with batch-norm, 3 without) x max_batch x filters x height x width floats, i.e.
 * ~160 MB at max_batch 100 for the default net; MLP 4 x 2 x max_batch x sum(widths) floats.
 */
#ifndef AM_FL_MODEL_H
#define AM_FL_MODEL_H

#include <stddef.h>

#include "core/rng.h"
#include "core/status.h"
#include "fl/batch.h"

typedef struct fl_model fl_model; /* opaque */

/* How fl_model_init draws an MLP's weights (biases are 0 either way). */
typedef enum fl_init {
    FL_INIT_HE = 0, /* W ~ N(0, 2/fan_in) (He/Kaiming) */
    FL_INIT_MAML    /* MAML's reference code (construct_fc_weights, sinusoid): W ~ N(0, 0.01^2)
                     * truncated at 2 sd (redrawn) */
} fl_init;

typedef struct fl_mlp_cfg {
    const unsigned *widths; /* {in, hidden..., out}, >= 2 entries, all > 0, e.g. {1, 40, 40, 1};
                               copied at create */
    size_t nwidths;
    size_t max_batch; /* workspace capacity in samples, > 0 */
    fl_init init;     /* fl_model_init's scheme; 0 = FL_INIT_HE */
} fl_mlp_cfg;

typedef struct fl_cnn_cfg {
    unsigned in_channels, height, width; /* e.g. 1 x 28 x 28 (Fashion-MNIST, Omniglot 28x28) */
    unsigned n_blocks;                   /* 4 in the few-shot literature; 1..8, every pooling
                                            must leave >= 1 x 1 */
    unsigned filters;                    /* 64 (Omniglot/MiniImagenet MAML uses 64 or 32) */
    int batchnorm;                       /* nonzero: transductive batch-norm after each conv */
    unsigned n_classes;                  /* N of N-way, >= 2 */
    size_t max_batch;                    /* workspace capacity in samples, > 0 */
} fl_cnn_cfg;

/* 1x28x28, 4 blocks, 64 filters, batch-norm on, 5 classes, max_batch 100. */
void fl_cnn_cfg_default(fl_cnn_cfg *cfg);

/* AM_EINVAL with a message naming the field on a bad config; AM_ENOMEM. *out = NULL on error. */
am_status fl_model_create_mlp(const fl_mlp_cfg *cfg, fl_model **out);
am_status fl_model_create_cnn(const fl_cnn_cfg *cfg, fl_model **out);
/* Same architecture and max_batch, own workspace (one per thread). */
am_status fl_model_clone(const fl_model *m, fl_model **out);
void fl_model_destroy(fl_model *m); /* NULL is a no-op */

size_t fl_model_nparams(const fl_model *m);
size_t fl_model_in_dim(const fl_model *m);  /* MLP widths[0]; CNN in_channels*height*width */
size_t fl_model_out_dim(const fl_model *m); /* MLP last width; CNN n_classes */
size_t fl_model_max_batch(const fl_model *m);
fl_loss fl_model_default_loss(const fl_model *m); /* MLP: FL_LOSS_MSE, CNN: FL_LOSS_XENT */
/* Human-readable architecture, e.g. "mlp 1-40-40-1" or "cnn 1x28x28 4x64 bn -> 5"; static storage
 * of the model, valid until destroy. */
const char *fl_model_describe(const fl_model *m);

/* MLP: the cfg's scheme (fl_init: He, or MAML's truncated normal sd 0.01); biases 0.
 * CNN: He/Kaiming-normal weights W ~ N(0, 2/fan_in) (fan_in = C_in*9 of a conv filter, the
 * features of the head); biases 0, BN gamma 1, beta 0. Draws only from rng (same seed -> same
 * theta). */
am_status fl_model_init(const fl_model *m, float *theta, am_rng *rng);

/* out [n x out_dim] = model(x) (regression outputs or logits). x: n x in_dim row-major.
 * AM_EINVAL if n == 0 or n > max_batch or a pointer is NULL; AM_EFORMAT if x holds NaN/Inf. */
am_status fl_model_forward(fl_model *m, const float *theta, const float *x, size_t n, float *out);

/* *loss_out = mean loss over the batch (see fl_loss); grad (nparams floats, may be NULL) =
 * d loss / d theta, OVERWRITTEN. MSE needs b->y, XENT needs b->label (out_dim >= 2).
 * AM_EINVAL: n == 0 or n > max_batch, missing y/label, label out of range; AM_EFORMAT: NaN/Inf
 * in x or y, or a non-finite loss (theta diverged) -- outputs are then still written. */
am_status fl_model_loss_grad(
    fl_model *m, const float *theta, const fl_batch *b, fl_loss loss, float *loss_out, float *grad);

/* hv (nparams, OVERWRITTEN) = H(theta) v, the Hessian of the mean batch loss times v.
 * EXACT for both the MLP and the CNN (with or without batch-norm): Pearlmutter's R-operator,
 * forward-over-reverse (one forward, one R-forward, one backward, one R-backward pass; no
 * finite-difference step). ReLU and max-pool are treated as piecewise linear (their second
 * derivative is 0 almost everywhere, as in autodiff frameworks). Cost about 2-3 loss_grads.
 * v is not checked for NaN/Inf. Errors as fl_model_loss_grad. */
am_status fl_model_hvp(
    fl_model *m, const float *theta, const fl_batch *b, fl_loss loss, const float *v, float *hv);

/* fl_model_hvp (the same values) right after fl_model_loss_grad(m, theta, b, loss, ..., grad)
 * on this model with the same theta and batch pointers and no other call on m in between (theta
 * and b unchanged by the caller): an MLP then reuses that pass's values and deltas and runs only
 * the R-passes (MAML's Hessian product at the support point, fl/meta.c). Otherwise it is
 * fl_model_hvp. */
am_status fl_model_hvp_again(
    fl_model *m, const float *theta, const fl_batch *b, fl_loss loss, const float *v, float *hv);

/* Declares theta's values fixed until fl_model_release(m) (or the next fl_model_hold): an MLP
 * keeps each layer's W^T, made here, for its backward passes at theta, which then skip their
 * transposes (fl/meta.c holds a local update's meta-point for its tasks' support passes and
 * Hessian products). Results are the same bytes as without. The caller must not change theta's
 * values while it is held. A CNN ignores it. */
void fl_model_hold(fl_model *m, const float *theta);
void fl_model_release(fl_model *m);

/* One pass giving all three: loss, gradient (may be NULL) and H v, at about the cost of
 * fl_model_hvp (the gradient is a by-product of the R-operator pass). Equal to the separate
 * calls up to float rounding (the MLP then stacks values and R-values in one sgemm). */
am_status fl_model_loss_grad_hvp(fl_model *m,
                                 const float *theta,
                                 const fl_batch *b,
                                 fl_loss loss,
                                 const float *v,
                                 float *loss_out,
                                 float *grad,
                                 float *hv);

/* *acc = fraction of the n samples whose argmax output (first index on ties) == label.
 * Needs b->label; AM_EINVAL on a label out of range. */
am_status fl_model_accuracy(fl_model *m, const float *theta, const fl_batch *b, float *acc);

#endif
