/* fl/cnn: the few-shot conv net of fl_model -- n_blocks x [conv 3x3 "same", optional
 * transductive batch-norm, ReLU, 2x2 max-pool] then a linear head -- forward, backward and the
 * R-operator passes of the exact Hessian-vector product. Issue 3 item 1.
 * Activations are CNHW ([C][N][H][W], fl/kernels.h) with the CURRENT batch size n as N. */
#include "model_impl.h"

#include <string.h>

#include "fl/kernels.h"

/* One column matrix of im2col holds at most this many floats (a few samples of a wide layer,
 * many of a narrow one): big enough for efficient sgemm, small enough to stay in cache. */
#define FL_COL_CAP ((size_t)1 << 18)

void fl_cnn_setup(fl_model *m, fl_arena *a)
{
    const fl_cnn_cfg *cfg = &m->cnn;
    const size_t N = m->max_batch, F = cfg->filters;
    size_t c = cfg->in_channels, h = cfg->height, w = cfg->width, off = 0;
    size_t col = 0, big = 0, gmax = 0;
    for (unsigned k = 0; k < cfg->n_blocks; k++) {
        fl_cnn_block *B = &m->blk[k];
        B->c = c;
        B->h = h;
        B->w = w;
        B->ho = h / 2;
        B->wo = w / 2;
        size_t per = c * 9 * h * w;
        B->chunk = per >= FL_COL_CAP ? 1 : FL_COL_CAP / per;
        if (B->chunk > N)
            B->chunk = N;
        size_t cf = fl_conv3x3_col_floats(c, h, w, B->chunk);
        col = cf > col ? cf : col;
        B->w_off = off;
        off += F * c * 9;
        if (cfg->batchnorm) {
            B->g_off = off;
            off += F;
            B->be_off = off;
            off += F;
        } else {
            B->b_off = off;
            off += F;
        }
        const size_t act = F * N * h * w, po = F * N * B->ho * B->wo;
        big = act > big ? act : big;
        gmax = po > gmax ? po : gmax;
        B->idx = fl_arena_itake(a, po);
        B->pool = fl_arena_take(a, po);
        B->rpool = fl_arena_take(a, po);
        if (cfg->batchnorm) {
            B->xhat = fl_arena_take(a, act);
            B->rstd = fl_arena_take(a, F);
            B->rconv = fl_arena_take(a, act);
            B->rxhat = fl_arena_take(a, act);
        }
        c = F;
        h = B->ho;
        w = B->wo;
    }
    m->feat_dim = F * h * w;
    m->head_w_off = off;
    off += m->feat_dim * cfg->n_classes;
    m->head_b_off = off;
    off += cfg->n_classes;
    m->nparams = off;

    const size_t K = cfg->n_classes, D = m->feat_dim;
    m->in0 = cfg->in_channels > 1 ? fl_arena_take(a, N * m->in_dim) : NULL;
    m->col = fl_arena_take(a, col);
    /* Full-size scratch, shared by passes that never overlap: act (forward) = ract (R-forward,
     * once the forward's pooling is done) = dact (backward); conv_tmp (forward, BN input) =
     * rdact (backward). Only the four of a block's backward live at the same time. */
    float *s1 = fl_arena_take(a, big), *s2 = fl_arena_take(a, big);
    m->act = m->ract = m->dact = s1;
    m->rdact = s2;
    m->conv_tmp = cfg->batchnorm ? s2 : NULL;
    m->dconv = cfg->batchnorm ? fl_arena_take(a, big) : NULL;
    m->rdconv = cfg->batchnorm ? fl_arena_take(a, big) : NULL;
    m->feat = fl_arena_take(a, N * D);
    m->rfeat = fl_arena_take(a, N * D);
    m->dfeat = fl_arena_take(a, N * D);
    m->rdfeat = fl_arena_take(a, N * D);
    m->gA = fl_arena_take(a, gmax);
    m->gB = fl_arena_take(a, gmax);
    m->rgA = fl_arena_take(a, gmax);
    m->rgB = fl_arena_take(a, gmax);
    m->out = fl_arena_take(a, N * K);
    m->dout = fl_arena_take(a, N * K);
    m->rout = fl_arena_take(a, N * K);
    m->rdout = fl_arena_take(a, N * K);
    m->prob = fl_arena_take(a, N * K);
}

void fl_cnn_forward(fl_model *m, const float *theta, const float *x, size_t n)
{
    const fl_cnn_cfg *cfg = &m->cnn;
    const size_t F = cfg->filters;
    if (m->in0)
        fl_nchw_to_cnhw(m->in0, x, n, cfg->in_channels, (size_t)cfg->height * cfg->width);
    m->cur_x0 = m->in0 ? m->in0 : x; /* one channel: NCHW == CNHW */
    for (unsigned k = 0; k < cfg->n_blocks; k++) {
        fl_cnn_block *B = &m->blk[k];
        const float *in = k == 0 ? m->cur_x0 : m->blk[k - 1].pool;
        const size_t m_ = n * B->h * B->w;
        if (cfg->batchnorm) {
            fl_conv3x3_forward(m->conv_tmp, in, theta + B->w_off, NULL, n, B->c, F, B->h, B->w,
                               m->col, B->chunk, 0);
            fl_bn_forward(m->act, B->xhat, B->rstd, m->conv_tmp, theta + B->g_off,
                          theta + B->be_off, F, m_);
        } else {
            fl_conv3x3_forward(m->act, in, theta + B->w_off, theta + B->b_off, n, B->c, F, B->h,
                               B->w, m->col, B->chunk, 0);
        }
        /* pool(relu(z)) == relu(pool(z)) (max and ReLU commute): ReLU on the 4x smaller
         * pooled map, and its mask [pool > 0] is the mask at the argmax that backward needs */
        fl_maxpool2_forward(B->pool, B->idx, m->act, F * n, B->h, B->w);
        fl_relu_forward(B->pool, B->pool, F * n * B->ho * B->wo);
    }
    const fl_cnn_block *Lb = &m->blk[cfg->n_blocks - 1];
    fl_cnhw_to_nchw(m->feat, Lb->pool, n, F, Lb->ho * Lb->wo);
    fl_dense_forward(m->out, m->feat, theta + m->head_w_off, theta + m->head_b_off, n, m->feat_dim,
                     cfg->n_classes, 0);
}

/* R{conv out} = conv(R{in}, W) + conv(in, V) (+ Vb);  BN: fl_bn_rforward;  R{relu} masks;
 * R{pool} gathers through the forward's argmax;  R{logits} = R{feat} W + feat V + Vb. */
void fl_cnn_rforward(fl_model *m, const float *theta, const float *v, size_t n)
{
    const fl_cnn_cfg *cfg = &m->cnn;
    const size_t F = cfg->filters;
    for (unsigned k = 0; k < cfg->n_blocks; k++) {
        fl_cnn_block *B = &m->blk[k];
        const float *in = k == 0 ? m->cur_x0 : m->blk[k - 1].pool;
        const size_t m_ = n * B->h * B->w;
        float *rc = cfg->batchnorm ? B->rconv : m->ract;
        fl_conv3x3_forward(rc, in, v + B->w_off, cfg->batchnorm ? NULL : v + B->b_off, n, B->c, F,
                           B->h, B->w, m->col, B->chunk, 0);
        if (k > 0) /* R{input of block 0} = 0 */
            fl_conv3x3_forward(rc, m->blk[k - 1].rpool, theta + B->w_off, NULL, n, B->c, F, B->h,
                               B->w, m->col, B->chunk, 1);
        if (cfg->batchnorm)
            fl_bn_rforward(m->ract, B->rxhat, rc, B->xhat, B->rstd, theta + B->g_off, v + B->g_off,
                           v + B->be_off, F, m_);
        fl_maxpool2_gather(B->rpool, m->ract, B->idx, F * n, B->h, B->w);
        fl_relu_mask(B->rpool, B->rpool, B->pool, F * n * B->ho * B->wo);
    }
    const fl_cnn_block *Lb = &m->blk[cfg->n_blocks - 1];
    fl_cnhw_to_nchw(m->rfeat, Lb->rpool, n, F, Lb->ho * Lb->wo);
    fl_dense_forward(m->rout, m->feat, v + m->head_w_off, v + m->head_b_off, n, m->feat_dim,
                     cfg->n_classes, 0);
    fl_dense_forward(m->rout, m->rfeat, theta + m->head_w_off, NULL, n, m->feat_dim, cfg->n_classes,
                     1);
}

/* Expects m->dout and, when v != NULL, m->rdout. Backward and R-backward interleaved per block:
 *   pool: scatter through argmax;  ReLU: mask;  BN: fl_bn_backward / fl_bn_rbackward;
 *   conv: g_W = dy (*) in, d_in = conv^T(dy, W);
 *         Hv_W = R{dy} (*) in + dy (*) R{in},  R{d_in} = conv^T(R{dy}, W) + conv^T(dy, V). */
void fl_cnn_backward(
    fl_model *m, const float *theta, const float *v, size_t n, float *grad, float *hv)
{
    const fl_cnn_cfg *cfg = &m->cnn;
    const size_t F = cfg->filters, K = cfg->n_classes, D = m->feat_dim;
    const int bn = cfg->batchnorm;
    if (grad)
        memset(grad, 0, m->nparams * sizeof *grad);
    if (hv)
        memset(hv, 0, m->nparams * sizeof *hv);

    /* head */
    const float *Wh = theta + m->head_w_off;
    memset(m->dfeat, 0, n * D * sizeof *m->dfeat);
    fl_dense_backward(m->dfeat, grad ? grad + m->head_w_off : NULL,
                      grad ? grad + m->head_b_off : NULL, m->dout, m->feat, Wh, n, D, K);
    if (hv) {
        memset(m->rdfeat, 0, n * D * sizeof *m->rdfeat);
        fl_dense_backward(m->rdfeat, hv + m->head_w_off, hv + m->head_b_off, m->rdout, m->feat, Wh,
                          n, D, K);
        fl_dense_backward(m->rdfeat, hv + m->head_w_off, NULL, m->dout, m->rfeat, v + m->head_w_off,
                          n, D, K);
    }
    const fl_cnn_block *Lb = &m->blk[cfg->n_blocks - 1];
    float *g = m->gA, *gn = m->gB, *rg = m->rgA, *rgn = m->rgB;
    fl_nchw_to_cnhw(g, m->dfeat, n, F, Lb->ho * Lb->wo);
    if (hv)
        fl_nchw_to_cnhw(rg, m->rdfeat, n, F, Lb->ho * Lb->wo);

    for (unsigned k = cfg->n_blocks; k-- > 0;) {
        fl_cnn_block *B = &m->blk[k];
        const size_t m_ = n * B->h * B->w;
        const float *in = k == 0 ? m->cur_x0 : m->blk[k - 1].pool;
        const float *W = theta + B->w_off;
        const size_t po = F * n * B->ho * B->wo;
        fl_relu_mask(g, g, B->pool, po); /* ReLU after the pool (see forward) */
        fl_maxpool2_backward(m->dact, g, B->idx, F * n, B->h, B->w);
        if (hv) {
            fl_relu_mask(rg, rg, B->pool, po);
            fl_maxpool2_backward(m->rdact, rg, B->idx, F * n, B->h, B->w);
        }
        float *dy = m->dact, *rdy = m->rdact;
        if (bn) {
            memset(m->dconv, 0, F * m_ * sizeof *m->dconv);
            fl_bn_backward(m->dconv, grad ? grad + B->g_off : NULL, grad ? grad + B->be_off : NULL,
                           m->dact, B->xhat, B->rstd, theta + B->g_off, F, m_);
            dy = m->dconv;
            if (hv) {
                memset(m->rdconv, 0, F * m_ * sizeof *m->rdconv);
                fl_bn_rbackward(m->rdconv, hv + B->g_off, hv + B->be_off, m->dact, m->rdact,
                                B->xhat, B->rxhat, B->rconv, B->rstd, theta + B->g_off,
                                v + B->g_off, F, m_);
                rdy = m->rdconv;
            }
        }
        const size_t nin = B->c * n * B->h * B->w;
        if (k > 0) {
            memset(gn, 0, nin * sizeof *gn);
            if (hv)
                memset(rgn, 0, nin * sizeof *rgn);
        }
        fl_conv3x3_backward(k > 0 ? gn : NULL, grad ? grad + B->w_off : NULL,
                            grad && !bn ? grad + B->b_off : NULL, dy, in, W, n, B->c, F, B->h, B->w,
                            m->col, B->chunk);
        if (hv) {
            fl_conv3x3_backward(k > 0 ? rgn : NULL, hv + B->w_off, bn ? NULL : hv + B->b_off, rdy,
                                in, W, n, B->c, F, B->h, B->w, m->col, B->chunk);
            if (k > 0) {
                fl_conv3x3_backward(NULL, hv + B->w_off, NULL, dy, m->blk[k - 1].rpool, NULL, n,
                                    B->c, F, B->h, B->w, m->col, B->chunk);
                fl_conv3x3_backward(rgn, NULL, NULL, dy, NULL, v + B->w_off, n, B->c, F, B->h, B->w,
                                    m->col, B->chunk);
            }
        }
        float *t = g;
        g = gn;
        gn = t;
        t = rg;
        rg = rgn;
        rgn = t;
    }
}
