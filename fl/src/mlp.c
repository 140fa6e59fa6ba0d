/* fl/mlp: the ReLU multilayer perceptron of fl_model -- forward, backward and the R-operator
 * passes of the exact Hessian-vector product (Pearlmutter 1994). Issue 3 item 1.
 * Layer l: z_l = a_{l-1} W_l + b_l, a_l = relu(z_l) (a_{-1} = x, last layer linear).
 *
 * For speed on tiny batches (MAML sinusoid: 10 samples, 40 units, where the cost is the number
 * of sgemm calls, not flops) each layer keeps its values and R-values STACKED row-wise, so one
 * sgemm serves both:  A_l = [R{a_l}; a_l]  and  S_l = [d_l; R{d_l}]  (2n x width, where
 * d_l = dL/dz_l).  Then  A_l = A_{l-1} W_l (+ terms),  S_{l-1} = S_l W_l^T (+ d_l V_l^T)  and
 * Hv_W = A_{l-1}^T S_l = R{a}^T d + a^T R{d}  are single sgemm calls. Without a direction v
 * only the second half of A and the first half of S are used. */
#include "model_impl.h"

#include <string.h>

#include "fl/kernels.h"

void fl_mlp_setup(fl_model *m, fl_arena *a)
{
    const size_t N = m->max_batch;
    size_t off = 0;
    for (size_t l = 0; l < m->nlayers; l++) {
        fl_mlp_layer *L = &m->layers[l];
        L->in = m->widths[l];
        L->out = m->widths[l + 1];
        L->w_off = off;
        off += L->in * L->out;
        L->b_off = off;
        off += L->out;
        L->A = fl_arena_take(a, 2 * N * L->out);
        L->S = fl_arena_take(a, 2 * N * L->out);
        L->WT = fl_arena_take(a, L->in * L->out);
    }
    m->nparams = off;
    m->prob = fl_arena_take(a, N * m->out_dim);
}

void fl_mlp_hold(fl_model *m, const float *theta)
{
    for (size_t l = 0; l < m->nlayers; l++) {
        fl_mlp_layer *L = &m->layers[l];
        fl_transpose(L->WT, theta + L->w_off, L->in, L->out);
    }
    m->held = theta;
}

/* dx = dy W^T for layer L at theta: from the held W^T when theta is held. */
static void dense_dx(const fl_model *m,
                     const fl_mlp_layer *L,
                     const float *theta,
                     float *dx,
                     const float *dy,
                     size_t rows)
{
    if (theta == m->held)
        fl_dense_dx_t(dx, dy, L->WT, rows, L->in, L->out);
    else
        fl_dense_backward_set(dx, NULL, NULL, dy, NULL, theta + L->w_off, rows, L->in, L->out);
}

/* Halves of the stacked buffers for the current batch size n. */
static float *ra_of(const fl_mlp_layer *L, size_t n)
{
    (void)n;
    return L->A;
}
static float *a_of(const fl_mlp_layer *L, size_t n)
{
    return L->A + n * L->out;
}
static float *d_of(const fl_mlp_layer *L, size_t n)
{
    (void)n;
    return L->S;
}
static float *rd_of(const fl_mlp_layer *L, size_t n)
{
    return L->S + n * L->out;
}

/* Forward, and with v != NULL the R-forward in the same sweep:
 *   a_l = relu(a_{l-1} W + b),  R{a_l} = (R{a_{l-1}} W + a_{l-1} V + Vb) [a_l > 0]. */
void fl_mlp_forward(fl_model *m, const float *theta, const float *v, const float *x, size_t n)
{
    for (size_t l = 0; l < m->nlayers; l++) {
        fl_mlp_layer *L = &m->layers[l];
        const fl_mlp_layer *P = l > 0 ? &m->layers[l - 1] : NULL;
        const float *W = theta + L->w_off, *b = theta + L->b_off;
        const float *in = P ? a_of(P, n) : x;
        float *a = a_of(L, n), *ra = ra_of(L, n);
        const int hidden = l + 1 < m->nlayers;
        /* the bias added and, on a hidden layer, the ReLU taken in one pass */
        if (v && P) /* [R{a} W; a W] */
            fl_dense_forward(L->A, P->A, W, NULL, 2 * n, L->in, L->out, 0);
        else
            fl_dense_forward(a, in, W, NULL, n, L->in, L->out, 0);
        if (hidden)
            fl_bias_relu(a, b, n, L->out);
        else
            fl_bias_add(a, b, n, L->out);
        if (v) { /* R{a} (+)= R{a_{l-1}} W + a_{l-1} V (R{x} = 0), then + Vb and the ReLU's mask */
            fl_dense_forward(ra, in, v + L->w_off, NULL, n, L->in, L->out, P != NULL);
            if (hidden)
                fl_bias_mask(ra, v + L->b_off, a, n, L->out);
            else
                fl_bias_add(ra, v + L->b_off, n, L->out);
        }
    }
    const fl_mlp_layer *last = &m->layers[m->nlayers - 1];
    m->out = a_of(last, n);
    m->rout = ra_of(last, n);
    m->dout = d_of(last, n);
    m->rdout = rd_of(last, n);
}

/* Expects m->dout (= d of the last layer) and, when v != NULL, m->rdout. Per layer, top down:
 *   g_W = a_{l-1}^T d_l, g_b = sum d_l,  Hv_W = A_{l-1}^T S_l, Hv_b = sum R{d_l},
 *   S_{l-1} = (S_l W^T + [0; d_l V^T]) [a_{l-1} > 0]   (ReLU'' = 0 a.e.). */
void fl_mlp_backward(fl_model *m,
                     const float *theta,
                     const float *v,
                     const float *x,
                     size_t n,
                     float *grad,
                     float *hv)
{
    /* Every parameter belongs to one layer, whose gradient blocks are written (=), not added to:
     * no zeroing of grad and hv first. */
    const size_t rows = hv ? 2 * n : n;
    for (size_t l = m->nlayers; l-- > 0;) {
        const fl_mlp_layer *L = &m->layers[l];
        const fl_mlp_layer *P = l > 0 ? &m->layers[l - 1] : NULL;
        const float *d = d_of(L, n), *rd = rd_of(L, n);
        const float *in = P ? a_of(P, n) : x;
        if (grad)
            fl_dense_backward_set(NULL, grad + L->w_off, grad + L->b_off, d, in, NULL, n, L->in,
                                  L->out);
        if (hv) {
            if (P)
                fl_dense_backward_set(NULL, hv + L->w_off, NULL, L->S, P->A, NULL, 2 * n, L->in,
                                      L->out);
            else
                fl_dense_backward_set(NULL, hv + L->w_off, NULL, rd, x, NULL, n, L->in, L->out);
            fl_dense_backward_set(NULL, NULL, hv + L->b_off, rd, NULL, NULL, n, L->in, L->out);
        }
        if (!P)
            break;
        dense_dx(m, L, theta, P->S, L->S, rows);
        if (hv)
            fl_dense_backward(rd_of(P, n), NULL, NULL, d, NULL, v + L->w_off, n, L->in, L->out);
        fl_relu_mask(P->S, P->S, a_of(P, n), n * P->out);
        if (hv)
            fl_relu_mask(rd_of(P, n), rd_of(P, n), a_of(P, n), n * P->out);
    }
}

/* fl_mlp_forward's R-half (rforward) and fl_mlp_backward's hv and R-halves (rbackward, after the
 * loss R-backward), with the value halves (a_l, d_l) taken from the last plain pass instead of
 * recomputed: the same operations in the same order on the same operands, with n rows where the
 * stacked calls had 2n. */
void fl_mlp_rforward_again(
    fl_model *m, const float *theta, const float *v, const float *x, size_t n)
{
    for (size_t l = 0; l < m->nlayers; l++) {
        fl_mlp_layer *L = &m->layers[l];
        const fl_mlp_layer *P = l > 0 ? &m->layers[l - 1] : NULL;
        float *ra = ra_of(L, n);
        if (P) /* R{x} = 0 */
            fl_dense_forward(ra, ra_of(P, n), theta + L->w_off, NULL, n, L->in, L->out, 0);
        fl_dense_forward(ra, P ? a_of(P, n) : x, v + L->w_off, NULL, n, L->in, L->out, P != NULL);
        if (l + 1 < m->nlayers)
            fl_bias_mask(ra, v + L->b_off, a_of(L, n), n, L->out);
        else
            fl_bias_add(ra, v + L->b_off, n, L->out);
    }
    const fl_mlp_layer *last = &m->layers[m->nlayers - 1];
    m->out = a_of(last, n);
    m->rout = ra_of(last, n);
    m->dout = d_of(last, n);
    m->rdout = rd_of(last, n);
}

void fl_mlp_rbackward_again(
    fl_model *m, const float *theta, const float *v, const float *x, size_t n, float *hv)
{
    for (size_t l = m->nlayers; l-- > 0;) { /* each layer's hv blocks written (=), as above */
        const fl_mlp_layer *L = &m->layers[l];
        const fl_mlp_layer *P = l > 0 ? &m->layers[l - 1] : NULL;
        const float *d = d_of(L, n), *rd = rd_of(L, n);
        if (P)
            fl_dense_backward_set(NULL, hv + L->w_off, NULL, L->S, P->A, NULL, 2 * n, L->in,
                                  L->out);
        else
            fl_dense_backward_set(NULL, hv + L->w_off, NULL, rd, x, NULL, n, L->in, L->out);
        fl_dense_backward_set(NULL, NULL, hv + L->b_off, rd, NULL, NULL, n, L->in, L->out);
        if (!P)
            break;
        float *rdp = rd_of(P, n);
        dense_dx(m, L, theta, rdp, rd, n);
        fl_dense_backward(rdp, NULL, NULL, d, NULL, v + L->w_off, n, L->in, L->out);
        fl_relu_mask(rdp, rdp, a_of(P, n), n * P->out);
    }
}
