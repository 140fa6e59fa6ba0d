/* fl/batch: a borrowed view of n samples (inputs + regression targets or class labels) and the
 * loss kinds of the models. Implements issue 3 item 1 (losses: MSE, softmax cross-entropy). */
#ifndef AM_FL_BATCH_H
#define AM_FL_BATCH_H

#include <stddef.h>
#include <stdint.h>

/* A batch never owns its memory; the model only reads it during the call. */
typedef struct fl_batch {
    const float *x;       /* n x in_dim, row-major (images: per sample C x H x W, row-major) */
    const float *y;       /* regression targets n x out_dim (FL_LOSS_MSE), or NULL */
    const int32_t *label; /* class labels 0..out_dim-1 (FL_LOSS_XENT), or NULL */
    size_t n;             /* number of samples, 1..max_batch of the model */
} fl_batch;

typedef enum fl_loss {
    /* L = 1/(n*out_dim) * sum_i sum_j (out_ij - y_ij)^2   (mean over all entries, no 1/2;
     * equal to PyTorch's mse_loss; for out_dim = 1 the mean over the batch) */
    FL_LOSS_MSE,
    /* L = 1/n * sum_i [ log sum_j exp(z_ij) - z_i,label_i ]   (softmax cross-entropy of the
     * logits z = model output, mean over the batch) */
    FL_LOSS_XENT
} fl_loss;

#endif
