/* fl/model: the fl_model object -- configuration checks, workspace, parameter init, and the
 * validated entry points forward / loss_grad / hvp / accuracy over the MLP and CNN passes
 * (mlp.c, cnn.c). Issue 3 item 1. */
#include "model_impl.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fl/kernels.h"

/* Upper bounds that keep every BLAS size below INT_MAX and every product in size_t exact. */
#define FL_MAX_BATCH ((size_t)1 << 20)
#define FL_MAX_DIM 65536u
/* Workspace bytes one model may take (the default CNN needs ~1.6 MB per sample of max_batch). */
#define FL_MAX_WORKSPACE ((size_t)8 << 30)

float *fl_arena_take(fl_arena *a, size_t n)
{
    float *p = a->base ? a->base + a->used : NULL;
    a->used += (n + 15) & ~(size_t)15;
    return p;
}

int32_t *fl_arena_itake(fl_arena *a, size_t n)
{
    int32_t *p = a->ibase ? a->ibase + a->iused : NULL;
    a->iused += (n + 15) & ~(size_t)15;
    return p;
}

void fl_cnn_cfg_default(fl_cnn_cfg *cfg)
{
    cfg->in_channels = 1;
    cfg->height = 28;
    cfg->width = 28;
    cfg->n_blocks = 4;
    cfg->filters = 64;
    cfg->batchnorm = 1;
    cfg->n_classes = 5;
    cfg->max_batch = 100;
}

void fl_model_destroy(fl_model *m)
{
    if (!m)
        return;
    free(m->mem);
    free(m->imem);
    free(m->widths);
    free(m->layers);
    free(m);
}

/* Carve the workspace: count, allocate (64-byte aligned), carve again. */
static am_status alloc_workspace(fl_model *m)
{
    fl_arena a = {0};
    if (m->arch == FL_ARCH_MLP)
        fl_mlp_setup(m, &a);
    else
        fl_cnn_setup(m, &a);
    const size_t nf = a.used, ni = a.iused ? a.iused : 16;
    /* Refuse, rather than let an overcommitting kernel kill the process on first touch. */
    if (nf > FL_MAX_WORKSPACE / sizeof(float) || ni > FL_MAX_WORKSPACE / sizeof(int32_t))
        return AM_FAIL(AM_EINVAL,
                       "fl_model: workspace of %.1f GB for max_batch %zu exceeds the %.0f GB limit "
                       "(lower max_batch)",
                       (double)nf * sizeof(float) / 1e9, m->max_batch,
                       (double)FL_MAX_WORKSPACE / 1e9);
    m->mem = aligned_alloc(64, nf * sizeof(float));
    m->imem = aligned_alloc(64, ni * sizeof(int32_t));
    if (!m->mem || !m->imem)
        return AM_FAIL(AM_ENOMEM, "fl_model: workspace of %zu floats", nf);
    /* zeroed once so that no pass ever reads an uninitialised entry */
    memset(m->mem, 0, nf * sizeof(float));
    memset(m->imem, 0, ni * sizeof(int32_t));
    fl_arena b = {.base = m->mem, .ibase = m->imem};
    if (m->arch == FL_ARCH_MLP)
        fl_mlp_setup(m, &b);
    else
        fl_cnn_setup(m, &b);
    return AM_OK;
}

am_status fl_model_create_mlp(const fl_mlp_cfg *cfg, fl_model **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "fl_model_create_mlp: out is NULL");
    *out = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "fl_model_create_mlp: cfg is NULL");
    if (!cfg->widths || cfg->nwidths < 2)
        return AM_FAIL(AM_EINVAL,
                       "fl_model_create_mlp: widths needs >= 2 entries (in, out), got %zu",
                       cfg->widths ? cfg->nwidths : (size_t)0);
    if (cfg->nwidths > 64)
        return AM_FAIL(AM_EINVAL, "fl_model_create_mlp: %zu widths, at most 64 layers supported",
                       cfg->nwidths);
    for (size_t i = 0; i < cfg->nwidths; i++)
        if (cfg->widths[i] == 0 || cfg->widths[i] > FL_MAX_DIM)
            return AM_FAIL(AM_EINVAL, "fl_model_create_mlp: widths[%zu] = %u, must be 1..%u", i,
                           cfg->widths[i], FL_MAX_DIM);
    if (cfg->init != FL_INIT_HE && cfg->init != FL_INIT_MAML)
        return AM_FAIL(AM_EINVAL, "fl_model_create_mlp: unknown init scheme %d", (int)cfg->init);
    if (cfg->max_batch == 0 || cfg->max_batch > FL_MAX_BATCH)
        return AM_FAIL(AM_EINVAL, "fl_model_create_mlp: max_batch = %zu, must be 1..%zu",
                       cfg->max_batch, FL_MAX_BATCH);
    for (size_t i = 1; i < cfg->nwidths; i++)
        if ((size_t)cfg->widths[i] * cfg->max_batch > INT_MAX ||
            (size_t)cfg->widths[i] * cfg->widths[i - 1] > INT_MAX)
            return AM_FAIL(AM_EINVAL,
                           "fl_model_create_mlp: layer %zu too large (%u x %u, batch %zu)", i,
                           cfg->widths[i - 1], cfg->widths[i], cfg->max_batch);

    fl_model *m = calloc(1, sizeof *m);
    if (!m)
        return AM_FAIL(AM_ENOMEM, "fl_model_create_mlp: model");
    m->arch = FL_ARCH_MLP;
    m->nwidths = cfg->nwidths;
    m->nlayers = cfg->nwidths - 1;
    m->max_batch = cfg->max_batch;
    m->in_dim = cfg->widths[0];
    m->out_dim = cfg->widths[cfg->nwidths - 1];
    m->default_loss = FL_LOSS_MSE;
    m->init = cfg->init;
    m->widths = malloc(cfg->nwidths * sizeof *m->widths);
    m->layers = calloc(m->nlayers, sizeof *m->layers);
    if (!m->widths || !m->layers) {
        fl_model_destroy(m);
        return AM_FAIL(AM_ENOMEM, "fl_model_create_mlp: layers");
    }
    memcpy(m->widths, cfg->widths, cfg->nwidths * sizeof *m->widths);
    am_status s = alloc_workspace(m);
    if (s != AM_OK) {
        fl_model_destroy(m);
        return s;
    }
    int len = snprintf(m->desc, sizeof m->desc, "mlp ");
    for (size_t i = 0; i < m->nwidths && len > 0 && (size_t)len < sizeof m->desc; i++)
        len +=
            snprintf(m->desc + len, sizeof m->desc - (size_t)len, i ? "-%u" : "%u", m->widths[i]);
    *out = m;
    return AM_OK;
}

am_status fl_model_create_cnn(const fl_cnn_cfg *cfg, fl_model **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: out is NULL");
    *out = NULL;
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: cfg is NULL");
    if (cfg->in_channels == 0 || cfg->in_channels > 4096)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: in_channels = %u, must be 1..4096",
                       cfg->in_channels);
    if (cfg->filters == 0 || cfg->filters > 4096)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: filters = %u, must be 1..4096",
                       cfg->filters);
    if (cfg->n_blocks == 0 || cfg->n_blocks > FL_CNN_MAX_BLOCKS)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: n_blocks = %u, must be 1..%d",
                       cfg->n_blocks, FL_CNN_MAX_BLOCKS);
    if (cfg->height > 4096 || cfg->width > 4096 || (cfg->height >> cfg->n_blocks) == 0 ||
        (cfg->width >> cfg->n_blocks) == 0)
        return AM_FAIL(AM_EINVAL,
                       "fl_model_create_cnn: image %ux%u too small for %u 2x2 poolings (needs >= "
                       "%u per side) or larger than 4096",
                       cfg->height, cfg->width, cfg->n_blocks, 1u << cfg->n_blocks);
    if (cfg->n_classes < 2 || cfg->n_classes > FL_MAX_DIM)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: n_classes = %u, must be 2..%u",
                       cfg->n_classes, FL_MAX_DIM);
    if (cfg->max_batch == 0 || cfg->max_batch > FL_MAX_BATCH)
        return AM_FAIL(AM_EINVAL, "fl_model_create_cnn: max_batch = %zu, must be 1..%zu",
                       cfg->max_batch, FL_MAX_BATCH);
    const size_t hw = (size_t)cfg->height * cfg->width;
    const size_t cmax = cfg->in_channels > cfg->filters ? cfg->in_channels : cfg->filters;
    if (cmax * hw * cfg->max_batch > INT_MAX || (size_t)cfg->in_channels * 9 * hw > INT_MAX)
        return AM_FAIL(AM_EINVAL,
                       "fl_model_create_cnn: activations of %zu x %u x %ux%u exceed 2^31 floats",
                       cfg->max_batch, (unsigned)cmax, cfg->height, cfg->width);

    fl_model *m = calloc(1, sizeof *m);
    if (!m)
        return AM_FAIL(AM_ENOMEM, "fl_model_create_cnn: model");
    m->arch = FL_ARCH_CNN;
    m->cnn = *cfg;
    m->max_batch = cfg->max_batch;
    m->in_dim = cfg->in_channels * hw;
    m->out_dim = cfg->n_classes;
    m->default_loss = FL_LOSS_XENT;
    am_status s = alloc_workspace(m);
    if (s != AM_OK) {
        fl_model_destroy(m);
        return s;
    }
    snprintf(m->desc, sizeof m->desc, "cnn %ux%ux%u %ux%u%s -> %u", cfg->in_channels, cfg->height,
             cfg->width, cfg->n_blocks, cfg->filters, cfg->batchnorm ? " bn" : "", cfg->n_classes);
    *out = m;
    return AM_OK;
}

am_status fl_model_clone(const fl_model *m, fl_model **out)
{
    if (!m || !out) {
        if (out)
            *out = NULL;
        return AM_FAIL(AM_EINVAL, "fl_model_clone: NULL argument");
    }
    if (m->arch == FL_ARCH_MLP) {
        fl_mlp_cfg c = {
            .widths = m->widths, .nwidths = m->nwidths, .max_batch = m->max_batch, .init = m->init};
        return fl_model_create_mlp(&c, out);
    }
    return fl_model_create_cnn(&m->cnn, out);
}

size_t fl_model_nparams(const fl_model *m)
{
    return m ? m->nparams : 0;
}
size_t fl_model_in_dim(const fl_model *m)
{
    return m ? m->in_dim : 0;
}
size_t fl_model_out_dim(const fl_model *m)
{
    return m ? m->out_dim : 0;
}
size_t fl_model_max_batch(const fl_model *m)
{
    return m ? m->max_batch : 0;
}
fl_loss fl_model_default_loss(const fl_model *m)
{
    return m ? m->default_loss : FL_LOSS_MSE;
}
const char *fl_model_describe(const fl_model *m)
{
    return m ? m->desc : "(null)";
}

static void fill_normal(float *p, size_t n, double sd, am_rng *rng)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(sd * am_rng_normal(rng));
}

/* Normal(0, sd^2) truncated at 2 sd by redrawing (TensorFlow's truncated_normal). */
static void fill_truncated_normal(float *p, size_t n, double sd, am_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        double z;
        do
            z = am_rng_normal(rng);
        while (fabs(z) > 2.0);
        p[i] = (float)(sd * z);
    }
}

am_status fl_model_init(const fl_model *m, float *theta, am_rng *rng)
{
    if (!m || !theta || !rng)
        return AM_FAIL(AM_EINVAL, "fl_model_init: NULL argument");
    memset(theta, 0, m->nparams * sizeof *theta);
    if (m->arch == FL_ARCH_MLP) {
        /* MAML: MAML's reference code (construct_fc_weights). He's sd sqrt(2/fan_in) gives the
         * 1-40-40-1 sinusoid net (x in [-5, 5]) query MSE ~14 and gradients so large that the
         * first inner step (alpha 0.01) overshoots: round 1's post-adaptation loss was ~295
         * against ~4.2 for the zero predictor (E[A^2]/2, A ~ U[0.1, 5]). */
        for (size_t l = 0; l < m->nlayers; l++) {
            const fl_mlp_layer *L = &m->layers[l];
            if (m->init == FL_INIT_MAML)
                fill_truncated_normal(theta + L->w_off, L->in * L->out, 0.01, rng);
            else
                fill_normal(theta + L->w_off, L->in * L->out, sqrt(2.0 / (double)L->in), rng);
        }
        return AM_OK;
    }
    const size_t F = m->cnn.filters;
    for (unsigned k = 0; k < m->cnn.n_blocks; k++) {
        const fl_cnn_block *B = &m->blk[k];
        fill_normal(theta + B->w_off, F * B->c * 9, sqrt(2.0 / (double)(B->c * 9)), rng);
        if (m->cnn.batchnorm)
            for (size_t f = 0; f < F; f++)
                theta[B->g_off + f] = 1.0f;
    }
    fill_normal(theta + m->head_w_off, m->feat_dim * m->cnn.n_classes,
                sqrt(2.0 / (double)m->feat_dim), rng);
    return AM_OK;
}

static int all_finite(const float *p, size_t n)
{
    /* (x - x) is 0 for finite x and NaN for NaN / Inf; the sum then propagates NaN. */
    float acc = 0.0f;
    for (size_t i = 0; i < n; i++)
        acc += p[i] - p[i];
    return acc == 0.0f;
}

static am_status
check_input(const fl_model *m, const char *fn, const float *theta, const float *x, size_t n)
{
    if (!m || !theta || !x)
        return AM_FAIL(AM_EINVAL, "%s: NULL model, theta or x", fn);
    if (n == 0 || n > m->max_batch)
        return AM_FAIL(AM_EINVAL, "%s: batch of %zu samples, the model takes 1..%zu (max_batch)",
                       fn, n, m->max_batch);
    if (!all_finite(x, n * m->in_dim))
        return AM_FAIL(AM_EFORMAT, "%s: input x holds NaN or Inf", fn);
    return AM_OK;
}

static am_status check_labels(const fl_model *m, const char *fn, const fl_batch *b)
{
    if (!b->label)
        return AM_FAIL(AM_EINVAL, "%s: cross-entropy / accuracy needs labels (b->label is NULL)",
                       fn);
    if (m->out_dim < 2)
        return AM_FAIL(AM_EINVAL, "%s: cross-entropy needs >= 2 outputs, model has %zu", fn,
                       m->out_dim);
    for (size_t i = 0; i < b->n; i++)
        if (b->label[i] < 0 || (size_t)b->label[i] >= m->out_dim)
            return AM_FAIL(AM_EINVAL, "%s: label[%zu] = %d out of range 0..%zu", fn, i,
                           (int)b->label[i], m->out_dim - 1);
    return AM_OK;
}

static am_status
check_batch(const fl_model *m, const char *fn, const float *theta, const fl_batch *b, fl_loss loss)
{
    if (!b)
        return AM_FAIL(AM_EINVAL, "%s: batch is NULL", fn);
    am_status s = check_input(m, fn, theta, b->x, b->n);
    if (s != AM_OK)
        return s;
    if (loss == FL_LOSS_MSE) {
        if (!b->y)
            return AM_FAIL(AM_EINVAL, "%s: MSE needs regression targets (b->y is NULL)", fn);
        if (!all_finite(b->y, b->n * m->out_dim))
            return AM_FAIL(AM_EFORMAT, "%s: targets y hold NaN or Inf", fn);
        return AM_OK;
    }
    if (loss == FL_LOSS_XENT)
        return check_labels(m, fn, b);
    return AM_FAIL(AM_EINVAL, "%s: unknown loss %d", fn, (int)loss);
}

static void forward(fl_model *m, const float *theta, const float *x, size_t n)
{
    m->again = 0;
    if (m->arch == FL_ARCH_MLP)
        fl_mlp_forward(m, theta, NULL, x, n);
    else
        fl_cnn_forward(m, theta, x, n);
}

/* forward, loss; then (v != NULL) R-forward and R{dL/dout}; then backward / R-backward. */
static am_status run(fl_model *m,
                     const char *fn,
                     const float *theta,
                     const fl_batch *b,
                     fl_loss loss,
                     const float *v,
                     float *loss_out,
                     float *grad,
                     float *hv)
{
    m->again = 0;
    am_status s = check_batch(m, fn, theta, b, loss);
    if (s != AM_OK)
        return s;
    const size_t n = b->n, k = m->out_dim;
    if (m->arch == FL_ARCH_MLP)
        fl_mlp_forward(m, theta, v, b->x, n); /* with the R-forward when v != NULL */
    else
        fl_cnn_forward(m, theta, b->x, n);
    const float L = loss == FL_LOSS_MSE
                        ? fl_mse_forward_backward(m->dout, m->out, b->y, n, k)
                        : fl_xent_forward_backward(m->dout, m->prob, m->out, b->label, n, k);
    if (v) {
        if (m->arch == FL_ARCH_CNN)
            fl_cnn_rforward(m, theta, v, n);
        if (loss == FL_LOSS_MSE)
            fl_mse_rbackward(m->rdout, m->rout, n, k);
        else
            fl_xent_rbackward(m->rdout, m->prob, m->rout, n, k);
    }
    if (grad || hv) {
        if (m->arch == FL_ARCH_MLP)
            fl_mlp_backward(m, theta, v, b->x, n, grad, hv);
        else
            fl_cnn_backward(m, theta, v, n, grad, hv);
    }
    if (loss_out)
        *loss_out = L;
    if (!isfinite(L))
        return AM_FAIL(AM_EFORMAT, "%s: loss is %g (non-finite theta or overflow: diverged?)", fn,
                       (double)L);
    if (m->arch == FL_ARCH_MLP && grad && !v) { /* values and deltas kept: fl_model_hvp_again */
        m->again = 1;
        m->again_theta = theta;
        m->again_x = b->x;
        m->again_n = n;
        m->again_loss = loss;
    }
    return AM_OK;
}

am_status fl_model_forward(fl_model *m, const float *theta, const float *x, size_t n, float *out)
{
    am_status s = check_input(m, "fl_model_forward", theta, x, n);
    if (s != AM_OK)
        return s;
    if (!out)
        return AM_FAIL(AM_EINVAL, "fl_model_forward: out is NULL");
    forward(m, theta, x, n);
    memcpy(out, m->out, n * m->out_dim * sizeof *out);
    return AM_OK;
}

am_status fl_model_loss_grad(
    fl_model *m, const float *theta, const fl_batch *b, fl_loss loss, float *loss_out, float *grad)
{
    if (!loss_out)
        return AM_FAIL(AM_EINVAL, "fl_model_loss_grad: loss_out is NULL");
    return run(m, "fl_model_loss_grad", theta, b, loss, NULL, loss_out, grad, NULL);
}

am_status fl_model_hvp(
    fl_model *m, const float *theta, const fl_batch *b, fl_loss loss, const float *v, float *hv)
{
    if (!v || !hv)
        return AM_FAIL(AM_EINVAL, "fl_model_hvp: v or hv is NULL");
    return run(m, "fl_model_hvp", theta, b, loss, v, NULL, NULL, hv);
}

void fl_model_hold(fl_model *m, const float *theta)
{
    if (m && theta && m->arch == FL_ARCH_MLP)
        fl_mlp_hold(m, theta);
}

void fl_model_release(fl_model *m)
{
    if (m)
        m->held = NULL;
}

am_status fl_model_hvp_again(
    fl_model *m, const float *theta, const fl_batch *b, fl_loss loss, const float *v, float *hv)
{
    if (!m || !b || !v || !hv)
        return AM_FAIL(AM_EINVAL, "fl_model_hvp_again: NULL argument");
    if (!m->again || m->again_theta != theta || m->again_x != b->x || m->again_n != b->n ||
        m->again_loss != loss)
        return fl_model_hvp(m, theta, b, loss, v, hv);
    m->again = 0;
    const size_t n = b->n, k = m->out_dim;
    fl_mlp_rforward_again(m, theta, v, b->x, n);
    if (loss == FL_LOSS_MSE)
        fl_mse_rbackward(m->rdout, m->rout, n, k);
    else
        fl_xent_rbackward(m->rdout, m->prob, m->rout, n, k);
    fl_mlp_rbackward_again(m, theta, v, b->x, n, hv);
    return AM_OK;
}

am_status fl_model_loss_grad_hvp(fl_model *m,
                                 const float *theta,
                                 const fl_batch *b,
                                 fl_loss loss,
                                 const float *v,
                                 float *loss_out,
                                 float *grad,
                                 float *hv)
{
    if (!v || !hv || !loss_out)
        return AM_FAIL(AM_EINVAL, "fl_model_loss_grad_hvp: v, loss_out or hv is NULL");
    return run(m, "fl_model_loss_grad_hvp", theta, b, loss, v, loss_out, grad, hv);
}

am_status fl_model_accuracy(fl_model *m, const float *theta, const fl_batch *b, float *acc)
{
    if (!b || !acc)
        return AM_FAIL(AM_EINVAL, "fl_model_accuracy: batch or acc is NULL");
    am_status s = check_input(m, "fl_model_accuracy", theta, b->x, b->n);
    if (s != AM_OK)
        return s;
    s = check_labels(m, "fl_model_accuracy", b);
    if (s != AM_OK)
        return s;
    forward(m, theta, b->x, b->n);
    const size_t k = m->out_dim;
    size_t hits = 0;
    for (size_t i = 0; i < b->n; i++) {
        const float *o = m->out + i * k;
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            if (o[j] > o[best])
                best = j;
        hits += best == (size_t)b->label[i];
    }
    *acc = (float)hits / (float)b->n;
    return AM_OK;
}
