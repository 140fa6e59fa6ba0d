/* fl/kernels: the layer kernels of fl_model -- forward / backward pairs (llm.c style) plus the
 * R-operator (forward-mode) pieces used for exact Hessian-vector products. Issue 3 item 1.
 *
 * These are building blocks for fl_model, its tests and `airmeta bench fl`: they do NOT validate
 * (the model validated shapes, sizes and inputs at create / at the call) and never allocate.
 * Dense and convolution layers run on OpenBLAS cblas_sgemm (convolution by im2col). Only the
 * kernel source files include <cblas.h>.
 *
 * Conventions
 *  - Dense tensors are row-major [n x d].
 *  - Image activations inside the conv net are "CNHW": [C][N][H][W], i.e. channel-major, so a
 *    channel's N*H*W values are contiguous (batch-norm statistics, one sgemm per sample chunk).
 *  - Parameter gradients (dw, db, dgamma, dbeta) are ACCUMULATED (+=): the caller zeroes them.
 *    Input gradients dx of dense / conv / batch-norm are ACCUMULATED too (dx may be NULL where
 *    documented); max-pool backward and the mask / loss kernels OVERWRITE their output.
 *  - R-operator notation (Pearlmutter 1994): for a direction v in parameter space, R{f} =
 *    d/dr f(theta + r v) at r = 0. R-forward propagates R{activations}; R-backward propagates
 *    R{gradients}; R{d loss / d theta} = H v.
 */
#ifndef AM_FL_KERNELS_H
#define AM_FL_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* Threads of the BLAS (OpenBLAS) for this process; tests and benchmarks use 1 (STYLE.md:
 * the program parallelises across agents instead). */
void fl_blas_set_threads(int n);

/* ---- dense: y [n x out] (=|+=) x [n x in] * w [in x out] + b [out] (b may be NULL) ---- */
void fl_dense_forward(float *y,
                      const float *x,
                      const float *w,
                      const float *b,
                      size_t n,
                      size_t in,
                      size_t out,
                      int accumulate);
/* y [n x out] += b [out] on every row */
void fl_bias_add(float *y, const float *b, size_t n, size_t out);
/* dw [in x out] += x^T dy;  db [out] += column sums of dy (NULL: skipped);
 * dx [n x in] += dy w^T (NULL: skipped). dy [n x out]. */
void fl_dense_backward(float *dx,
                       float *dw,
                       float *db,
                       const float *dy,
                       const float *x,
                       const float *w,
                       size_t n,
                       size_t in,
                       size_t out);
/* xt [c x r] = x^T for x [r x c]. */
void fl_transpose(float *xt, const float *x, size_t r, size_t c);
/* dx [n x in] = dy [n x out] wt, wt = w^T [out x in] given: fl_dense_backward_set's dx without
 * its transpose of w (the same bytes). */
void fl_dense_dx_t(float *dx, const float *dy, const float *wt, size_t n, size_t in, size_t out);
/* fl_dense_backward with = for +=: the outputs' old values are not read (no zeroing needed). */
void fl_dense_backward_set(float *dx,
                           float *dw,
                           float *db,
                           const float *dy,
                           const float *x,
                           const float *w,
                           size_t n,
                           size_t in,
                           size_t out);

/* ---- 3x3 convolution, stride 1, zero padding 1 ("same"), CNHW layout ----
 * x [c][n][h][w], w [f x c*9] (index c*9 + ky*3 + kx, cross-correlation), b [f] or NULL,
 * y [f][n][h][w]. Samples are processed in chunks of `chunk` samples (1..n) through the column
 * buffer `col` of at least fl_conv3x3_col_floats(c, h, w, chunk) floats (sized for backward,
 * which needs two column matrices). */
size_t fl_conv3x3_col_floats(size_t c, size_t h, size_t w, size_t chunk);
/* col [c*9 x ns*h*w] <- im2col of samples n0..n0+ns-1 of x [c][n][h][w] (zero padding). */
void fl_im2col3x3(
    float *col, const float *x, size_t c, size_t n, size_t n0, size_t ns, size_t h, size_t w);
/* x [c][n][h][w] += col2im(col) for samples n0..n0+ns-1 (the adjoint of fl_im2col3x3). */
void fl_col2im3x3(
    float *x, const float *col, size_t c, size_t n, size_t n0, size_t ns, size_t h, size_t w);
/* y (=|+=) conv(x, w) + b */
void fl_conv3x3_forward(float *y,
                        const float *x,
                        const float *w,
                        const float *b,
                        size_t n,
                        size_t c,
                        size_t f,
                        size_t h,
                        size_t wd,
                        float *col,
                        size_t chunk,
                        int accumulate);
/* dw += dy (*) x;  db += sums of dy per filter (NULL: skipped);  dx += conv^T(dy, w) (NULL:
 * skipped). dy [f][n][h][w]. */
void fl_conv3x3_backward(float *dx,
                         float *dw,
                         float *db,
                         const float *dy,
                         const float *x,
                         const float *w,
                         size_t n,
                         size_t c,
                         size_t f,
                         size_t h,
                         size_t wd,
                         float *col,
                         size_t chunk);

/* ---- batch-norm, transductive (batch statistics), per channel over m = n*h*w values ----
 * x, y, xhat [c][m]; gamma, beta, rstd [c].  mean = avg x, var = avg (x - mean)^2 (biased),
 * rstd = 1/sqrt(var + FL_BN_EPS), xhat = (x - mean) rstd, y = gamma xhat + beta. */
#define FL_BN_EPS 1e-5f
void fl_bn_forward(float *y,
                   float *xhat,
                   float *rstd,
                   const float *x,
                   const float *gamma,
                   const float *beta,
                   size_t c,
                   size_t m);
/* dx += rstd (g dy - avg(g dy) - xhat avg(g dy xhat));  dgamma += sum dy xhat;  dbeta += sum dy */
void fl_bn_backward(float *dx,
                    float *dgamma,
                    float *dbeta,
                    const float *dy,
                    const float *xhat,
                    const float *rstd,
                    const float *gamma,
                    size_t c,
                    size_t m);
/* R-forward: rxhat = rstd (rx - avg rx - xhat avg(xhat rx));
 * ry = vgamma xhat + gamma rxhat + vbeta (both overwritten). vgamma, vbeta: the direction's
 * entries for gamma and beta. */
void fl_bn_rforward(float *ry,
                    float *rxhat,
                    const float *rx,
                    const float *xhat,
                    const float *rstd,
                    const float *gamma,
                    const float *vgamma,
                    const float *vbeta,
                    size_t c,
                    size_t m);
/* R-backward: rdx += R{dx}, rdgamma += R{dgamma}, rdbeta += R{dbeta} given dy, rdy = R{dy},
 * the forward's xhat, rstd and the R-forward's rx, rxhat. */
void fl_bn_rbackward(float *rdx,
                     float *rdgamma,
                     float *rdbeta,
                     const float *dy,
                     const float *rdy,
                     const float *xhat,
                     const float *rxhat,
                     const float *rx,
                     const float *rstd,
                     const float *gamma,
                     const float *vgamma,
                     size_t c,
                     size_t m);

/* ---- ReLU ---- y = max(x, 0) (in place allowed) */
void fl_relu_forward(float *y, const float *x, size_t n);
/* out = in * [y > 0], OVERWRITTEN (in place allowed). This is ReLU's backward (in = dy), its
 * R-forward (in = R{x}) and its R-backward (in = R{dy}); y is the forward output. */
void fl_relu_mask(float *out, const float *in, const float *y, size_t n);
/* y [n x out] = relu(y + b) on every row: fl_bias_add then fl_relu_forward in one pass (the
 * same bytes) */
void fl_bias_relu(float *y, const float *b, size_t n, size_t out);
/* r [n x out] = (r + b) [y > 0] on every row: fl_bias_add then fl_relu_mask in one pass (the
 * same bytes); y [n x out] is the forward output */
void fl_bias_mask(float *r, const float *b, const float *y, size_t n, size_t out);

/* ---- 2x2 max-pool, stride 2, floor (odd last row/column dropped) ----
 * x [p][h][w] -> y [p][h/2][w/2] over p planes (p = channels * samples); idx [p][h/2][w/2] keeps
 * the argmax's offset inside its plane (first maximum on ties). */
void fl_maxpool2_forward(float *y, int32_t *idx, const float *x, size_t p, size_t h, size_t w);
/* dx [p][h][w] = scatter of dy through idx (OVERWRITTEN, zeros elsewhere). */
void fl_maxpool2_backward(
    float *dx, const float *dy, const int32_t *idx, size_t p, size_t h, size_t w);
/* R-forward: ry [p][h/2][w/2] = rx gathered through idx (OVERWRITTEN). */
void fl_maxpool2_gather(
    float *ry, const float *rx, const int32_t *idx, size_t p, size_t h, size_t w);

/* ---- layout changes between the model's NCHW input/features and the CNHW activations ---- */
void fl_nchw_to_cnhw(float *dst, const float *src, size_t n, size_t c, size_t hw);
void fl_cnhw_to_nchw(float *dst, const float *src, size_t n, size_t c, size_t hw);

/* ---- losses (see fl_loss in fl/batch.h); accumulation in double ---- */
/* MSE over out, y [n x k]: returns L; dout = dL/dout OVERWRITTEN (NULL: skipped). */
float fl_mse_forward_backward(float *dout, const float *out, const float *y, size_t n, size_t k);
/* R{dL/dout} = 2/(n k) rout, OVERWRITTEN. */
void fl_mse_rbackward(float *rdout, const float *rout, size_t n, size_t k);
/* Softmax cross-entropy of logits [n x k] with labels in 0..k-1: returns L; prob [n x k] =
 * softmax (OVERWRITTEN, needed by rbackward); dlogits = (prob - onehot)/n OVERWRITTEN (NULL:
 * skipped). Stable (max-shifted log-sum-exp). */
float fl_xent_forward_backward(
    float *dlogits, float *prob, const float *logits, const int32_t *label, size_t n, size_t k);
/* R{dL/dlogits} = prob * (rlogits - <prob, rlogits>) / n per row, OVERWRITTEN. */
void fl_xent_rbackward(
    float *rdlogits, const float *prob, const float *rlogits, size_t n, size_t k);

#endif
